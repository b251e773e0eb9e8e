/*
 * The parser's state. Public only so that a flow can embed a parser without
 * a separate allocation; every field is private to mqtt/parser.c.
 */
#ifndef MQTTLB_MQTT_PARSER_T_H
#define MQTTLB_MQTT_PARSER_T_H

#include "mqtt/mqtt-t.h"

struct mqtt_alias_table;

struct mqtt_parser {
        struct mqtt_limits lim;
        uint8_t dir;     /* enum mqtt_dir */
        uint8_t version; /* enum mqtt_version, learnt from CONNECT or set */
        uint8_t state;   /* what the next byte is */
        uint8_t err;     /* enum mqtt_err, sticky */

        /* the packet being read */
        uint8_t type, flags;
        uint8_t rl_bytes;     /* bytes of the remaining length varint */
        bool rl_nonminimal;   /* checked once the version is known */
        bool started;         /* CONNECT (C2S) or CONNACK (S2C) seen */
        uint32_t left;        /* bytes left in the packet, or in its properties */
        uint32_t after_props; /* packet bytes left once the properties end */
        uint64_t offset;      /* stream bytes consumed before this call */
        uint64_t pkt_start;   /* stream offset of the packet's first byte */
        uint32_t pkt_len;     /* fixed header + remaining length */
        uint16_t count;       /* filters / reason codes so far */
        uint16_t failures;    /* reason codes >= 0x80 so far */

        /* a field split across calls */
        uint8_t nsmall;     /* bytes of small[] or varint bytes read */
        uint8_t str_phase;  /* 0: reading the 2-byte length, 1: the bytes */
        uint8_t prop_phase; /* where take_props() is */
        uint8_t prop_id;
        uint8_t small[8];
        uint32_t vacc; /* varint accumulator */
        uint32_t str_len, str_have;
        struct mqtt_str str; /* the last string read */
        /* a string of p->ev still a view into the caller's input: copied into
         * buf when the call returns before the event is emitted */
        struct mqtt_str *pending;
        uint64_t props_seen; /* property ids seen in this property list */

        /* values captured from properties */
        struct mqtt_caps caps;
        uint32_t will_delay;
        uint32_t sub_id;
        uint16_t alias;

        /* reassembly of strings split across calls */
        uint8_t *buf;
        uint32_t buf_cap;

        uint16_t alias_max; /* topic aliases the peer may use */
        struct mqtt_alias_table *aliases;

        struct mqtt_event conn; /* CONNECT summary, re-sent as CONNECT_END */
        struct mqtt_event ev;   /* the event being assembled */
};

#endif
