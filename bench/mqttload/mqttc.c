/*
 * The client-side MQTT codec (mqttc.h). Section numbers are of MQTT 3.1.1
 * (OASIS, 2014) unless marked 5.0 (OASIS, 2019).
 */
#include "bench/mqttload/mqttc.h"

#include <string.h>

/* Remaining Length, §2.2.3 */
static size_t put_varint(uint8_t *out, uint32_t v)
{
        size_t n = 0;

        do {
                uint8_t b = v % 128;

                v /= 128;
                out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
        } while (v);
        return n;
}

static size_t put_u16(uint8_t *out, uint16_t v)
{
        out[0] = (uint8_t)(v >> 8);
        out[1] = (uint8_t)v;
        return 2;
}

/* UTF-8 string / binary data: two length bytes, then the bytes (§1.5.3) */
static size_t put_str(uint8_t *out, const char *s, size_t len)
{
        put_u16(out, (uint16_t)len);
        memcpy(out + 2, s, len);
        return 2 + len;
}

static uint16_t get_u16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

size_t mqttc__connect_max(const struct mqttc_connect *c)
{
        return 1 + 4 + 2 + 6 + 1 + 1 + 2 + 1 + 2 + strlen(c->client_id) +
               (c->username ? 2 + strlen(c->username) : 0) +
               (c->password ? 2 + strlen(c->password) : 0);
}

/* §3.1; 3.1 has protocol name "MQIsdp" and level 3; 5.0 §3.1.2.11 adds the
 * property length (0 here). */
size_t mqttc__connect(uint8_t *out, const struct mqttc_connect *c)
{
        size_t id_len = strlen(c->client_id), rem, n = 0;
        const char *name = c->version == 3 ? "MQIsdp" : "MQTT";
        bool user = c->username != NULL;
        /* 3.1.1 §3.1.2.9: no password without a user name (5.0 allows it) */
        bool pass = c->password && (user || c->version == 5);
        uint8_t flags = (uint8_t)((c->clean ? 0x02 : 0) | (user ? 0x80 : 0) | (pass ? 0x40 : 0));

        rem = 2 + strlen(name) + 1 + 1 + 2 + (c->version == 5 ? 1 : 0) + 2 + id_len;
        if (user)
                rem += 2 + strlen(c->username);
        if (pass)
                rem += 2 + strlen(c->password);
        out[n++] = MQTTC_CONNECT << 4;
        n += put_varint(out + n, (uint32_t)rem);
        n += put_str(out + n, name, strlen(name));
        out[n++] = c->version;
        out[n++] = flags;
        n += put_u16(out + n, c->keepalive);
        if (c->version == 5)
                out[n++] = 0; /* no properties */
        n += put_str(out + n, c->client_id, id_len);
        if (user)
                n += put_str(out + n, c->username, strlen(c->username));
        if (pass)
                n += put_str(out + n, c->password, strlen(c->password));
        return n;
}

/* §3.3 */
size_t mqttc__publish_head(uint8_t *out, uint8_t version, const char *topic, uint16_t topic_len,
                           uint8_t qos, bool dup, uint16_t pid, uint32_t payload_len)
{
        uint32_t rem = 2u + topic_len + (qos ? 2u : 0u) + (version == 5 ? 1u : 0u) + payload_len;
        size_t n = 0;

        out[n++] = (uint8_t)(MQTTC_PUBLISH << 4 | (dup ? 0x08 : 0) | qos << 1);
        n += put_varint(out + n, rem);
        n += put_str(out + n, topic, topic_len);
        if (qos)
                n += put_u16(out + n, pid);
        if (version == 5)
                out[n++] = 0; /* no properties */
        return n;
}

/* §3.4-§3.7; PUBREL has the reserved flags 0010 (§3.6.1) */
size_t mqttc__ack(uint8_t *out, enum mqttc_type type, uint16_t pid)
{
        out[0] = (uint8_t)(type << 4 | (type == MQTTC_PUBREL ? 0x02 : 0));
        out[1] = 2;
        put_u16(out + 2, pid);
        return MQTTC_ACK_LEN;
}

size_t mqttc__subscribe_max(uint16_t filter_len)
{
        return 1 + 4 + 2 + 1 + 2 + filter_len + 1;
}

/* §3.8: reserved flags 0010; 5.0 §3.8.3.1: the options byte carries the QoS
 * in its low two bits as in 3.1.1. */
size_t mqttc__subscribe(uint8_t *out, uint8_t version, uint16_t pid, const char *filter,
                        uint16_t filter_len, uint8_t qos)
{
        uint32_t rem = 2u + (version == 5 ? 1u : 0u) + 2u + filter_len + 1u;
        size_t n = 0;

        out[n++] = MQTTC_SUBSCRIBE << 4 | 0x02;
        n += put_varint(out + n, rem);
        n += put_u16(out + n, pid);
        if (version == 5)
                out[n++] = 0;
        n += put_str(out + n, filter, filter_len);
        out[n++] = qos;
        return n;
}

size_t mqttc__pingreq(uint8_t *out)
{
        out[0] = MQTTC_PINGREQ << 4;
        out[1] = 0;
        return MQTTC_PINGREQ_LEN;
}

/* 5.0 §3.14.2.1: no reason code means 0x00, normal disconnection */
size_t mqttc__disconnect(uint8_t *out)
{
        out[0] = MQTTC_DISCONNECT << 4;
        out[1] = 0;
        return MQTTC_DISCONNECT_LEN;
}

/* Variable Byte Integer at p[0..len): bytes used, 0 if incomplete, -1 if
 * longer than four bytes (5.0 §1.5.5). */
static int get_varint(const uint8_t *p, size_t len, uint32_t *v)
{
        uint32_t mul = 1;

        *v = 0;
        for (int i = 0; i < 4; i++) {
                if ((size_t)i >= len)
                        return 0;
                *v += (uint32_t)(p[i] & 0x7f) * mul;
                if (!(p[i] & 0x80))
                        return i + 1;
                mul *= 128;
        }
        return -1;
}

/*
 * 5.0 §2.2.2: a property list at p (its length first). Sets *used to the
 * bytes it takes and picks Receive Maximum (0x21). False when malformed.
 */
static bool skip_props(const uint8_t *p, size_t len, size_t *used, uint16_t *receive_max)
{
        uint32_t plen, v;
        int n = get_varint(p, len, &plen);
        size_t i;

        if (n <= 0 || plen > len - (size_t)n)
                return false;
        *used = (size_t)n + plen;
        p += n;
        for (i = 0; i < plen;) {
                uint8_t id = p[i++];
                size_t left = plen - i, need;

                switch (id) {
                /* byte */
                case 0x01:
                case 0x17:
                case 0x19:
                case 0x24:
                case 0x25:
                case 0x28:
                case 0x29:
                case 0x2A: need = 1; break;
                /* two-byte integer */
                case 0x13:
                case 0x21:
                case 0x22:
                case 0x23:
                        need = 2;
                        if (left >= 2 && id == 0x21 && receive_max)
                                *receive_max = get_u16(p + i);
                        break;
                /* four-byte integer */
                case 0x02:
                case 0x11:
                case 0x18:
                case 0x27: need = 4; break;
                /* variable byte integer */
                case 0x0B:
                        n = get_varint(p + i, left, &v);
                        if (n <= 0)
                                return false;
                        need = (size_t)n;
                        break;
                /* UTF-8 string, binary data */
                case 0x03:
                case 0x08:
                case 0x09:
                case 0x12:
                case 0x15:
                case 0x16:
                case 0x1A:
                case 0x1C:
                case 0x1F:
                        if (left < 2)
                                return false;
                        need = 2u + get_u16(p + i);
                        break;
                /* string pair */
                case 0x26:
                        if (left < 2 || left < 4u + get_u16(p + i))
                                return false;
                        need = 4u + get_u16(p + i) + get_u16(p + i + 2 + get_u16(p + i));
                        break;
                default: return false;
                }
                if (need > left)
                        return false;
                i += need;
        }
        return true;
}

static enum mqttc_status bad(struct mqttc_pkt *p, const char *why)
{
        p->why = why;
        return MQTTC_BAD;
}

static enum mqttc_status decode_body(const uint8_t *b, uint32_t blen, uint8_t version,
                                     struct mqttc_pkt *p)
{
        size_t used, off;

        switch (p->type) {
        case MQTTC_CONNACK:
                /* §3.2.2; 5.0 §3.2.2: flags, reason code, properties */
                if (blen < 2 || (version != 5 && blen != 2))
                        return bad(p, "CONNACK of a wrong length");
                p->session_present = b[0] & 1;
                p->rc = b[1];
                if (version == 5 && blen > 2 &&
                    (!skip_props(b + 2, blen - 2, &used, &p->receive_max) || 2 + used != blen))
                        return bad(p, "CONNACK properties malformed");
                return MQTTC_OK;
        case MQTTC_PUBLISH:
                /* §3.3.1.2: QoS 3 is malformed */
                p->qos = (p->flags >> 1) & 3;
                p->dup = p->flags & 0x08;
                p->retain = p->flags & 0x01;
                if (p->qos == 3)
                        return bad(p, "PUBLISH with QoS 3");
                if (blen < 2 || blen < 2u + get_u16(b))
                        return bad(p, "PUBLISH topic longer than the packet");
                p->topic_len = get_u16(b);
                p->topic = b + 2;
                off = 2u + p->topic_len;
                if (p->qos) {
                        if (blen < off + 2)
                                return bad(p, "PUBLISH without its packet id");
                        p->pid = get_u16(b + off);
                        if (!p->pid)
                                return bad(p, "PUBLISH with packet id 0");
                        off += 2;
                }
                if (version == 5) {
                        if (!skip_props(b + off, blen - off, &used, NULL))
                                return bad(p, "PUBLISH properties malformed");
                        off += used;
                }
                p->payload = b + off;
                p->payload_len = (uint32_t)(blen - off);
                return MQTTC_OK;
        case MQTTC_PUBACK:
        case MQTTC_PUBREC:
        case MQTTC_PUBREL:
        case MQTTC_PUBCOMP:
        case MQTTC_UNSUBACK:
                /* §3.4-§3.7, §3.11; 5.0 adds a reason code and properties */
                if (blen < 2 || (version != 5 && blen != 2))
                        return bad(p, "acknowledgement of a wrong length");
                p->pid = get_u16(b);
                if (blen > 2 && p->type != MQTTC_UNSUBACK)
                        p->rc = b[2];
                return MQTTC_OK;
        case MQTTC_SUBACK:
                /* §3.9 */
                if (blen < 3)
                        return bad(p, "SUBACK too short");
                p->pid = get_u16(b);
                off = 2;
                if (version == 5) {
                        if (!skip_props(b + off, blen - off, &used, NULL))
                                return bad(p, "SUBACK properties malformed");
                        off += used;
                }
                p->codes = b + off;
                p->ncodes = (uint32_t)(blen - off);
                return MQTTC_OK;
        case MQTTC_PINGRESP: return blen ? bad(p, "PINGRESP with a body") : MQTTC_OK;
        case MQTTC_DISCONNECT:
                /* only 5.0 brokers send it (5.0 §3.14) */
                if (version != 5)
                        return bad(p, "DISCONNECT from a 3.x broker");
                p->rc = blen ? b[0] : 0;
                return MQTTC_OK;
        case MQTTC_AUTH: return version == 5 ? MQTTC_OK : bad(p, "AUTH from a 3.x broker");
        default: return bad(p, "a packet type brokers do not send");
        }
}

enum mqttc_status mqttc__decode(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_len,
                                struct mqttc_pkt *p)
{
        uint32_t rem;
        int n;

        memset(p, 0, sizeof(*p));
        if (len < 2)
                return MQTTC_MORE;
        n = get_varint(buf + 1, len - 1, &rem);
        if (n < 0)
                return bad(p, "Remaining Length longer than four bytes");
        if (n == 0)
                return MQTTC_MORE;
        p->type = buf[0] >> 4;
        p->flags = buf[0] & 0x0f;
        if ((uint64_t)1 + (uint64_t)n + rem > max_len)
                return bad(p, "packet larger than the receive limit");
        p->len = 1u + (uint32_t)n + rem;
        if (len < p->len)
                return MQTTC_MORE;
        return decode_body(buf + 1 + n, rem, version, p);
}
