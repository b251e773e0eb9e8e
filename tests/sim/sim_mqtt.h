/*
 * A tiny MQTT 3.1.1 encoder and framer for the balancer simulation: the
 * clients' sessions (CONNECT, PUBLISH QoS 0/1/2 and PUBREL, SUBSCRIBE,
 * PINGREQ, DISCONNECT) and the brokers' answers (CONNACK, PUBACK, PUBREC,
 * PUBCOMP, SUBACK, PINGRESP, PUBLISH). Independent of mqtt/ on purpose: the
 * simulation checks the balancer's parser against what a client writes.
 *
 * Test-only; header-only. Packets are appended to a growable buffer.
 */
#ifndef MQTTLB_TESTS_SIM_MQTT_H
#define MQTTLB_TESTS_SIM_MQTT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Control packet types (MQTT 3.1.1 §2.2.1). */
enum sim_mqtt_type {
        SIM_MQTT_CONNECT = 1,
        SIM_MQTT_CONNACK = 2,
        SIM_MQTT_PUBLISH = 3,
        SIM_MQTT_PUBACK = 4,
        SIM_MQTT_PUBREC = 5,
        SIM_MQTT_PUBREL = 6,
        SIM_MQTT_PUBCOMP = 7,
        SIM_MQTT_SUBSCRIBE = 8,
        SIM_MQTT_SUBACK = 9,
        SIM_MQTT_PINGREQ = 12,
        SIM_MQTT_PINGRESP = 13,
        SIM_MQTT_DISCONNECT = 14,
};

struct sim_buf {
        uint8_t *p;
        size_t len, cap;
};

static inline void sim_buf__put(struct sim_buf *b, const void *data, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2 + 256;
                b->p = realloc(b->p, b->cap);
        }
        memcpy(b->p + b->len, data, n);
        b->len += n;
}

static inline void sim_buf__u8(struct sim_buf *b, uint8_t v)
{
        sim_buf__put(b, &v, 1);
}

static inline void sim_buf__u16(struct sim_buf *b, uint16_t v)
{
        uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};

        sim_buf__put(b, x, 2);
}

static inline void sim_buf__free(struct sim_buf *b)
{
        free(b->p);
        memset(b, 0, sizeof(*b));
}

/* Fixed header: type and flags, Remaining Length (§2.2.3). */
static inline void sim_mqtt__fixed(struct sim_buf *b, enum sim_mqtt_type type, uint8_t flags,
                                   size_t rem)
{
        sim_buf__u8(b, (uint8_t)(type << 4 | flags));
        do {
                uint8_t d = rem % 128;

                rem /= 128;
                sim_buf__u8(b, (uint8_t)(d | (rem ? 0x80 : 0)));
        } while (rem);
}

static inline void sim_mqtt__connect(struct sim_buf *b, const char *client_id, uint16_t keepalive)
{
        size_t idl = strlen(client_id);

        sim_mqtt__fixed(b, SIM_MQTT_CONNECT, 0, 10 + 2 + idl);
        sim_buf__u16(b, 4);
        sim_buf__put(b, "MQTT", 4);
        sim_buf__u8(b, 4);    /* protocol level 3.1.1 */
        sim_buf__u8(b, 0x02); /* clean session */
        sim_buf__u16(b, keepalive);
        sim_buf__u16(b, (uint16_t)idl);
        sim_buf__put(b, client_id, idl);
}

static inline void sim_mqtt__connack(struct sim_buf *b)
{
        sim_mqtt__fixed(b, SIM_MQTT_CONNACK, 0, 2);
        sim_buf__u8(b, 0); /* no session present */
        sim_buf__u8(b, 0); /* accepted */
}

static inline void sim_mqtt__publish(struct sim_buf *b, const char *topic, uint8_t qos, uint16_t id,
                                     const uint8_t *payload, size_t n)
{
        size_t tl = strlen(topic);

        sim_mqtt__fixed(b, SIM_MQTT_PUBLISH, (uint8_t)(qos << 1), 2 + tl + (qos ? 2 : 0) + n);
        sim_buf__u16(b, (uint16_t)tl);
        sim_buf__put(b, topic, tl);
        if (qos)
                sim_buf__u16(b, id);
        sim_buf__put(b, payload, n);
}

/* PUBACK, PUBREC, PUBREL (flags 2, §3.6.1), PUBCOMP. */
static inline void sim_mqtt__ack(struct sim_buf *b, enum sim_mqtt_type type, uint16_t id)
{
        sim_mqtt__fixed(b, type, type == SIM_MQTT_PUBREL ? 2 : 0, 2);
        sim_buf__u16(b, id);
}

static inline void sim_mqtt__subscribe(struct sim_buf *b, uint16_t id, const char *filter,
                                       uint8_t qos)
{
        size_t fl = strlen(filter);

        sim_mqtt__fixed(b, SIM_MQTT_SUBSCRIBE, 2, 2 + 2 + fl + 1);
        sim_buf__u16(b, id);
        sim_buf__u16(b, (uint16_t)fl);
        sim_buf__put(b, filter, fl);
        sim_buf__u8(b, qos);
}

static inline void sim_mqtt__suback(struct sim_buf *b, uint16_t id, uint8_t granted)
{
        sim_mqtt__fixed(b, SIM_MQTT_SUBACK, 0, 3);
        sim_buf__u16(b, id);
        sim_buf__u8(b, granted);
}

static inline void sim_mqtt__empty(struct sim_buf *b, enum sim_mqtt_type type)
{
        sim_mqtt__fixed(b, type, 0, 0);
}

/* One packet at p[0..n): its type, flags and where its variable header
 * starts and the packet ends. 0: need more bytes; -1: malformed; 1: done. */
struct sim_mqtt_pkt {
        enum sim_mqtt_type type;
        uint8_t flags;
        size_t body, end;
};

static inline int sim_mqtt__frame(const uint8_t *p, size_t n, struct sim_mqtt_pkt *out)
{
        size_t rem = 0, i = 1;
        unsigned shift = 0;

        if (n < 2)
                return 0;
        for (;; i++, shift += 7) {
                if (i >= n)
                        return 0;
                if (i > 4)
                        return -1;
                rem |= (size_t)(p[i] & 0x7f) << shift;
                if (!(p[i] & 0x80))
                        break;
        }
        if (n < i + 1 + rem)
                return 0;
        out->type = (enum sim_mqtt_type)(p[0] >> 4);
        out->flags = p[0] & 0x0f;
        out->body = i + 1;
        out->end = i + 1 + rem;
        return 1;
}

#endif
