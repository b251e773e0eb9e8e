/* mqtt/caps.h: meeting capabilities, and writing them as CONNACK properties. */
#include "mqtt/caps.h"

static uint32_t get(const struct mqtt_caps *c, uint32_t bit, uint32_t v, uint32_t dflt)
{
        return (c->present & bit) ? v : dflt;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
        return a < b ? a : b;
}

/* Sets field's presence by whether its value differs from the default. */
static void mark(struct mqtt_caps *c, uint32_t bit, uint32_t v, uint32_t dflt)
{
        if (v != dflt)
                c->present |= bit;
        else
                c->present &= ~bit;
}

void mqtt_caps__meet(struct mqtt_caps *acc, const struct mqtt_caps *b)
{
        uint32_t tam = min32(get(acc, MQTT_HAS_TOPIC_ALIAS_MAX, acc->topic_alias_max, 0),
                             get(b, MQTT_HAS_TOPIC_ALIAS_MAX, b->topic_alias_max, 0));
        uint32_t rm = min32(get(acc, MQTT_HAS_RECEIVE_MAX, acc->receive_max, 65535),
                            get(b, MQTT_HAS_RECEIVE_MAX, b->receive_max, 65535));
        uint32_t mp = min32(get(acc, MQTT_HAS_MAX_PACKET, acc->max_packet, UINT32_MAX),
                            get(b, MQTT_HAS_MAX_PACKET, b->max_packet, UINT32_MAX));
        uint32_t qos = min32(get(acc, MQTT_HAS_MAX_QOS, acc->max_qos, 2),
                             get(b, MQTT_HAS_MAX_QOS, b->max_qos, 2));
        uint32_t ret = min32(get(acc, MQTT_HAS_RETAIN_AVAIL, acc->retain_avail, 1),
                             get(b, MQTT_HAS_RETAIN_AVAIL, b->retain_avail, 1));
        uint32_t wild = min32(get(acc, MQTT_HAS_WILDCARD_AVAIL, acc->wildcard_avail, 1),
                              get(b, MQTT_HAS_WILDCARD_AVAIL, b->wildcard_avail, 1));
        uint32_t shr = min32(get(acc, MQTT_HAS_SHARED_AVAIL, acc->shared_avail, 1),
                             get(b, MQTT_HAS_SHARED_AVAIL, b->shared_avail, 1));

        acc->topic_alias_max = (uint16_t)tam;
        mark(acc, MQTT_HAS_TOPIC_ALIAS_MAX, tam, 0);
        acc->receive_max = (uint16_t)rm;
        mark(acc, MQTT_HAS_RECEIVE_MAX, rm, 65535);
        acc->max_packet = mp;
        mark(acc, MQTT_HAS_MAX_PACKET, mp, UINT32_MAX);
        acc->max_qos = (uint8_t)qos;
        mark(acc, MQTT_HAS_MAX_QOS, qos, 2);
        acc->retain_avail = (uint8_t)ret;
        mark(acc, MQTT_HAS_RETAIN_AVAIL, ret, 1);
        acc->wildcard_avail = (uint8_t)wild;
        mark(acc, MQTT_HAS_WILDCARD_AVAIL, wild, 1);
        acc->shared_avail = (uint8_t)shr;
        mark(acc, MQTT_HAS_SHARED_AVAIL, shr, 1);
}

size_t mqtt_caps__props(const struct mqtt_caps *caps, uint8_t *out)
{
        size_t n = 0;

        if ((caps->present & MQTT_HAS_TOPIC_ALIAS_MAX) && caps->topic_alias_max) {
                out[n++] = 0x22;
                out[n++] = (uint8_t)(caps->topic_alias_max >> 8);
                out[n++] = (uint8_t)caps->topic_alias_max;
        }
        if (caps->present & MQTT_HAS_RECEIVE_MAX) {
                out[n++] = 0x21;
                out[n++] = (uint8_t)(caps->receive_max >> 8);
                out[n++] = (uint8_t)caps->receive_max;
        }
        if (caps->present & MQTT_HAS_MAX_PACKET) {
                out[n++] = 0x27;
                for (int i = 3; i >= 0; i--)
                        out[n++] = (uint8_t)(caps->max_packet >> (8 * i));
        }
        if (caps->present & MQTT_HAS_MAX_QOS) {
                out[n++] = 0x24;
                out[n++] = caps->max_qos;
        }
        if (caps->present & MQTT_HAS_RETAIN_AVAIL) {
                out[n++] = 0x25;
                out[n++] = caps->retain_avail;
        }
        if (caps->present & MQTT_HAS_WILDCARD_AVAIL) {
                out[n++] = 0x28;
                out[n++] = caps->wildcard_avail;
        }
        if (caps->present & MQTT_HAS_SHARED_AVAIL) {
                out[n++] = 0x2a;
                out[n++] = caps->shared_avail;
        }
        return n;
}
