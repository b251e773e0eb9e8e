/*
 * The encoders of encode.h: the few packets the balancer and the health
 * checker write, byte for byte as the spec lays them out.
 *
 * Owns nothing but the layout. Must not allocate, do I/O or keep state, and
 * must not write past cap: every encoder computes its whole length first and
 * writes only when it fits.
 */
#include "mqtt/encode.h"

#include <string.h>

/* Bytes of a variable byte integer (3.1.1 §2.2.3, 5.0 §1.5.5), 0 when over
 * the largest one, 268,435,455. */
static size_t varint_len(size_t v)
{
        return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : v <= MQTT_MAX_REMAINING ? 4 : 0;
}

/* The minimum number of bytes, 7 bits each, low first (5.0 §1.5.5). */
static uint8_t *put_varint(uint8_t *p, size_t v)
{
        do {
                uint8_t b = (uint8_t)(v & 0x7f);

                v >>= 7;
                *p++ = v ? (uint8_t)(b | 0x80) : b;
        } while (v);
        return p;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
        *p++ = (uint8_t)(v >> 8); /* big-endian, 3.1.1 §1.5.2 */
        *p++ = (uint8_t)v;
        return p;
}

/* Length of the whole packet with a remaining length of rem, 0 when rem is
 * over the maximum or the packet over cap. */
static size_t packet_len(size_t rem, size_t cap)
{
        size_t vl = varint_len(rem);

        if (!vl || 1 + vl + rem > cap)
                return 0;
        return 1 + vl + rem;
}

/* The first byte: type in the high nibble, flags (0 for every packet
 * here, 3.1.1 §2.2.2) in the low one, then the remaining length. */
static uint8_t *put_fixed(uint8_t *p, enum mqtt_packet_type type, size_t rem)
{
        *p++ = (uint8_t)(type << 4);
        return put_varint(p, rem);
}

static bool is_v3(enum mqtt_version v)
{
        return v == MQTT_V31 || v == MQTT_V311;
}

size_t mqtt_encode__connack(uint8_t *out, size_t cap, enum mqtt_version v, bool session_present,
                            uint8_t code, const uint8_t *props, size_t props_len)
{
        size_t rem, len, pl;
        uint8_t *p;

        if (is_v3(v)) {
                if (props_len) /* 3.1.1 §3.2.2: no properties before 5.0 */
                        return 0;
                rem = 2;
        } else if (v == MQTT_V5) {
                /* 5.0 §3.2.2: flags, reason code, property length, properties */
                if (!(pl = varint_len(props_len)))
                        return 0;
                rem = 2 + pl + props_len;
        } else {
                return 0;
        }
        if (!(len = packet_len(rem, cap)))
                return 0;
        p = put_fixed(out, MQTT_CONNACK, rem);
        *p++ = session_present ? 1 : 0; /* 3.1.1 §3.2.2.2: bits 7-1 reserved, 0 */
        *p++ = code;                    /* 3.1.1 §3.2.2.3 / 5.0 §3.2.2.2 */
        if (v == MQTT_V5) {
                p = put_varint(p, props_len); /* 5.0 §3.2.2.3.1 */
                if (props_len)
                        memcpy(p, props, props_len);
        }
        return len;
}

size_t mqtt_encode__disconnect(uint8_t *out, size_t cap, enum mqtt_version v, uint8_t reason)
{
        size_t rem, len;
        uint8_t *p;

        if (is_v3(v))
                rem = 0; /* 3.1.1 §3.14.2: no variable header */
        else if (v == MQTT_V5)
                /* 5.0 §3.14.2.1: a remaining length of 0 means 0x00, Normal
                 * disconnection; without properties the length can then
                 * stop after the reason code (5.0 §3.14.2.2.1) */
                rem = reason != MQTT_RC_NORMAL_DISCONNECTION;
        else
                return 0;
        if (!(len = packet_len(rem, cap)))
                return 0;
        p = put_fixed(out, MQTT_DISCONNECT, rem);
        if (rem)
                *p = reason;
        return len;
}

static size_t ping(uint8_t *out, size_t cap, enum mqtt_packet_type type)
{
        if (!packet_len(0, cap))
                return 0;
        put_fixed(out, type, 0);
        return MQTT_PING_LEN;
}

size_t mqtt_encode__pingreq(uint8_t *out, size_t cap)
{
        return ping(out, cap, MQTT_PINGREQ); /* 3.1.1 §3.12, 5.0 §3.12 */
}

size_t mqtt_encode__pingresp(uint8_t *out, size_t cap)
{
        return ping(out, cap, MQTT_PINGRESP); /* 3.1.1 §3.13, 5.0 §3.13 */
}

size_t mqtt_encode__connect(uint8_t *out, size_t cap, enum mqtt_version v, bool clean,
                            uint16_t keepalive, const uint8_t *client_id, size_t id_len)
{
        /* 3.1.1 §3.1.2.1: "MQTT"; 3.1 named itself "MQIsdp" */
        const char *name = v == MQTT_V31 ? "MQIsdp" : "MQTT";
        size_t name_len = strlen(name), rem, len;
        uint8_t *p;

        if (!is_v3(v) && v != MQTT_V5)
                return 0;
        if (id_len > MQTT_MAX_STRING) /* 3.1.1 §1.5.3: a two-byte length */
                return 0;
        /* variable header (3.1.1 §3.1.2): name, level, flags, keep alive;
         * 5.0 §3.1.2.11: then the properties; payload (§3.1.3): client id */
        rem = 2 + name_len + 1 + 1 + 2 + (v == MQTT_V5) + 2 + id_len;
        if (!(len = packet_len(rem, cap)))
                return 0;
        p = put_fixed(out, MQTT_CONNECT, rem);
        p = put_u16(p, (uint16_t)name_len);
        memcpy(p, name, name_len);
        p += name_len;
        *p++ = (uint8_t)v;                     /* 3.1.1 §3.1.2.2: protocol level */
        *p++ = clean ? MQTT_CONNECT_CLEAN : 0; /* 3.1.1 §3.1.2.3: no will, user, password */
        p = put_u16(p, keepalive);             /* 3.1.1 §3.1.2.10 */
        if (v == MQTT_V5)
                *p++ = 0;                 /* 5.0 §3.1.2.11.1: property length 0 */
        p = put_u16(p, (uint16_t)id_len); /* 3.1.1 §3.1.3.1 */
        if (id_len)
                memcpy(p, client_id, id_len);
        return len;
}

const char *mqtt_reason__str(uint8_t code, enum mqtt_version v)
{
        if (v != MQTT_V5) { /* 3.1.1 §3.2.2.3, Table 3.1 */
                switch (code) {
                case MQTT_V3_RC_ACCEPTED: return "Connection Accepted";
                case MQTT_V3_RC_UNACCEPTABLE_PROTOCOL_VERSION:
                        return "Unacceptable protocol version";
                case MQTT_V3_RC_IDENTIFIER_REJECTED: return "Identifier rejected";
                case MQTT_V3_RC_SERVER_UNAVAILABLE: return "Server unavailable";
                case MQTT_V3_RC_BAD_USER_NAME_OR_PASSWORD: return "Bad user name or password";
                case MQTT_V3_RC_NOT_AUTHORIZED: return "Not authorized";
                default: return "?";
                }
        }
        switch (code) { /* 5.0 §3.2.2.2 */
        case MQTT_RC_SUCCESS: return "Success";
        case MQTT_RC_UNSPECIFIED_ERROR: return "Unspecified error";
        case MQTT_RC_MALFORMED_PACKET: return "Malformed Packet";
        case MQTT_RC_PROTOCOL_ERROR: return "Protocol Error";
        case MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR: return "Implementation specific error";
        case MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION: return "Unsupported Protocol Version";
        case MQTT_RC_CLIENT_ID_NOT_VALID: return "Client Identifier not valid";
        case MQTT_RC_BAD_USER_NAME_OR_PASSWORD: return "Bad User Name or Password";
        case MQTT_RC_NOT_AUTHORIZED: return "Not authorized";
        case MQTT_RC_SERVER_UNAVAILABLE: return "Server unavailable";
        case MQTT_RC_SERVER_BUSY: return "Server busy";
        case MQTT_RC_BANNED: return "Banned";
        case MQTT_RC_BAD_AUTHENTICATION_METHOD: return "Bad authentication method";
        case MQTT_RC_TOPIC_NAME_INVALID: return "Topic Name invalid";
        case MQTT_RC_PACKET_TOO_LARGE: return "Packet too large";
        case MQTT_RC_QUOTA_EXCEEDED: return "Quota exceeded";
        case MQTT_RC_PAYLOAD_FORMAT_INVALID: return "Payload format invalid";
        case MQTT_RC_RETAIN_NOT_SUPPORTED: return "Retain not supported";
        case MQTT_RC_QOS_NOT_SUPPORTED: return "QoS not supported";
        case MQTT_RC_USE_ANOTHER_SERVER: return "Use another server";
        case MQTT_RC_SERVER_MOVED: return "Server moved";
        case MQTT_RC_CONNECTION_RATE_EXCEEDED: return "Connection rate exceeded";
        default: return "?";
        }
}
