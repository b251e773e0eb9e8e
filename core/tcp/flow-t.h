/*
 * Flow types: the key a segment is looked up by and the header every
 * connection starts with. Apart from flow.h so that the TCP and splice types
 * can embed struct flow without the table's API (and its includes).
 *
 * Must not hold anything but types and constants.
 */
#ifndef MQTTLB_CORE_FLOW_T_H
#define MQTTLB_CORE_FLOW_T_H

#include <stddef.h>
#include <stdint.h>

#include "core/tcp/timer_wheel.h"

/* The two legs of a connection; a key's leg says which one a segment is on. */
enum flow_leg {
        FLOW_LEG_CLIENT = 0, /* client addr:port <-> listener VIP:port */
        FLOW_LEG_BROKER = 1, /* broker addr:port <-> balancer source addr:port */
        FLOW_LEGS = 2,
};

/* Timers every flow carries (more may live in the owner's part of it). */
#define FLOW_TIMERS 2

#define FLOW_UDP 17 /* flow_key.proto of a UDP flow */

/*
 * A segment's 4-tuple as it arrives: saddr:sport is the remote end (client or
 * broker), daddr:dport ours. Ports in host byte order, as struct packet has
 * them; addresses in network byte order, IPv4 in the first 4 bytes. Hashed
 * and compared as 40 raw bytes, so every unused byte (pad, the tail of an
 * IPv4 address) must be zero: build keys with flow_key__init.
 */
struct flow_key {
        uint8_t family; /* 4 or 6 */
        uint8_t proto;  /* 0: TCP; FLOW_UDP: UDP (a TCP and a UDP flow of one 4-tuple differ) */
        uint8_t pad[2];
        uint16_t sport, dport;
        uint8_t saddr[16], daddr[16];
};

/*
 * The head of every connection in a flow table. The owner (the TCP endpoint
 * and splice) defines its connection as a struct whose first member is a
 * struct flow and gives the table its size; the table only reads and writes
 * the fields below. The two keys sit on cache lines of their own (offsets 0
 * and 64) so a lookup by either leg touches one line of the entry.
 */
struct flow {
        struct flow_key client; /* FLOW_LEG_CLIENT's key, valid when legs & 1 */
        uint32_t idx;           /* slot number, stable for the table's life */
        uint32_t next_free;     /* private */
        uint8_t legs;           /* bit l: leg l's key is in the table */
        uint8_t state;          /* the owner's; 0 after flow__alloc */
        uint8_t live;           /* private: allocated */
        uint8_t pad[13];        /* to the next cache line: the broker key at 64 */
        struct flow_key broker; /* FLOW_LEG_BROKER's key, valid when legs & 2 */
        struct timer timer[FLOW_TIMERS];
};

_Static_assert(sizeof(struct flow_key) == 40, "flow_key is hashed as 40 bytes");
_Static_assert(offsetof(struct flow, broker) == 64, "broker key on its own line");
_Static_assert(sizeof(struct flow) == 168, "the owner's part starts at 168 bytes");

#endif
