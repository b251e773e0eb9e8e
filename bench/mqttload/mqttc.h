/*
 * The client side of MQTT 3.1 / 3.1.1 / 5.0, as much as a load tool needs:
 * encoders for what a client sends (CONNECT, PUBLISH, the acknowledgements,
 * SUBSCRIBE, PINGREQ, DISCONNECT) and a decoder for one whole packet of what
 * a broker sends (CONNACK, PUBLISH with its payload, the acknowledgements,
 * SUBACK, PINGRESP, DISCONNECT). The repository's parser (mqtt/parser.h)
 * skips payloads by design; a subscriber here must read them, hence this.
 *
 * No I/O, no allocation. Encoders write into a buffer the caller sized with
 * the matching *_max(); the decoder reads a contiguous buffer and says how
 * long the packet is when it is not all there yet.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_MQTTC_H
#define MQTTLB_BENCH_MQTTLOAD_MQTTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mqttc_type {
        MQTTC_CONNECT = 1,
        MQTTC_CONNACK = 2,
        MQTTC_PUBLISH = 3,
        MQTTC_PUBACK = 4,
        MQTTC_PUBREC = 5,
        MQTTC_PUBREL = 6,
        MQTTC_PUBCOMP = 7,
        MQTTC_SUBSCRIBE = 8,
        MQTTC_SUBACK = 9,
        MQTTC_UNSUBSCRIBE = 10,
        MQTTC_UNSUBACK = 11,
        MQTTC_PINGREQ = 12,
        MQTTC_PINGRESP = 13,
        MQTTC_DISCONNECT = 14,
        MQTTC_AUTH = 15,
};

/* Remaining Length is at most 268,435,455 (3.1.1 §2.2.3, 5.0 §2.1.4). */
#define MQTTC_MAX_REMAINING 268435455u

struct mqttc_connect {
        uint8_t version; /* 3, 4 or 5 */
        uint16_t keepalive;
        bool clean;
        const char *client_id;
        const char *username, *password; /* NULL: absent */
};

size_t mqttc__connect_max(const struct mqttc_connect *c);
size_t mqttc__connect(uint8_t *out, const struct mqttc_connect *c);

/* Bytes a PUBLISH takes before its payload, at most. */
#define MQTTC_PUBLISH_HEAD_MAX(topic_len) (1u + 4u + 2u + (topic_len) + 2u + 1u)
/*
 * Writes the fixed header, topic, packet id (QoS > 0) and, for 5.0, an empty
 * property list; the payload of payload_len bytes goes right after the
 * returned length.
 */
size_t mqttc__publish_head(uint8_t *out, uint8_t version, const char *topic, uint16_t topic_len,
                           uint8_t qos, bool dup, uint16_t pid, uint32_t payload_len);

/* PUBACK, PUBREC, PUBREL, PUBCOMP with reason 0: 4 bytes (5.0 §3.4.2.1 lets
 * the reason code go when it is 0 and there are no properties). */
#define MQTTC_ACK_LEN 4u
size_t mqttc__ack(uint8_t *out, enum mqttc_type type, uint16_t pid);

size_t mqttc__subscribe_max(uint16_t filter_len);
size_t mqttc__subscribe(uint8_t *out, uint8_t version, uint16_t pid, const char *filter,
                        uint16_t filter_len, uint8_t qos);

#define MQTTC_PINGREQ_LEN    2u
#define MQTTC_DISCONNECT_LEN 2u
size_t mqttc__pingreq(uint8_t *out);
size_t mqttc__disconnect(uint8_t *out);

enum mqttc_status {
        MQTTC_OK = 0,
        MQTTC_MORE, /* not all there: ->len is the packet's length if known, else 0 */
        MQTTC_BAD,  /* malformed: ->why says what */
};

struct mqttc_pkt {
        uint8_t type, flags;
        uint32_t len; /* the whole packet, fixed header included */
        /* CONNACK: return code (3.x) or reason code (5); PUBACK..PUBCOMP,
         * DISCONNECT: reason code (0 when absent) */
        uint8_t rc;
        bool session_present;
        uint16_t receive_max; /* CONNACK 5.0 property 0x21; 0 when absent */
        uint16_t pid;
        uint8_t qos;
        bool dup, retain;
        const uint8_t *topic;
        uint16_t topic_len;
        const uint8_t *payload;
        uint32_t payload_len;
        const uint8_t *codes; /* SUBACK return / reason codes */
        uint32_t ncodes;
        const char *why;
};

/*
 * Reads one packet from buf[0..len) of a stream from the broker, for protocol
 * version (3, 4 or 5). Views point into buf. max_len caps the packet's
 * length (MQTTC_BAD beyond it).
 */
enum mqttc_status mqttc__decode(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_len,
                                struct mqttc_pkt *p);

#endif
