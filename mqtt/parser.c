/*
 * The incremental MQTT stream parser (see parser.h). One resumable state
 * machine: each state reads one field; a field split across calls keeps its
 * partial bytes in the parser (small[], the varint accumulator, the string
 * reassembly buffer) and the call returns MQTT_NEED_MORE. Every field is
 * checked against the bytes left in its packet (or in its property list)
 * before it is read, so a lying length never makes the parser read past a
 * packet or wait for bytes that belong to the next one.
 *
 * Must not: copy payloads, allocate by a length the peer declared, or read
 * outside [buf, buf + len).
 *
 * Why one file of 1,250 lines: the state machine's states, the fast path and
 * the property table share static helpers the compiler inlines into the
 * per-PUBLISH path (142 instructions; bench/parser-cost.sh).
 */
#include "mqtt/parser.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/alias.h"
#include "mqtt/topic.h"

enum state {
        ST_HDR = 0,
        ST_RLEN,
        ST_ERROR,
        ST_SKIP, /* to the end of the packet: PUBLISH payload, username, ... */
        ST_CONNECT_NAME,
        ST_CONNECT_LEVEL,
        ST_CONNECT_FLAGS,
        ST_CONNECT_KEEPALIVE,
        ST_CONNECT_PROPS,
        ST_CONNECT_ID,
        ST_WILL_PROPS,
        ST_WILL_TOPIC,
        ST_WILL_PAYLOAD,
        ST_USERNAME,
        ST_PASSWORD,
        ST_CONNACK_FLAGS,
        ST_CONNACK_CODE,
        ST_CONNACK_PROPS,
        ST_PUB_TOPIC,
        ST_PUB_ID,
        ST_PUB_PROPS,
        ST_ACK_ID,
        ST_ACK_CODE,
        ST_ACK_PROPS,
        ST_SUB_ID,
        ST_SUB_PROPS,
        ST_SUB_FILTER,
        ST_SUB_OPTIONS,
        ST_SUBACK_ID,
        ST_SUBACK_PROPS,
        ST_SUBACK_CODES,
        ST_DISC_CODE,
        ST_DISC_PROPS,
};

/* Field readers return 1 when the field is complete, 0 when they need more
 * bytes, -1 after fail(). */
#define DONE 1
#define MORE 0
#define FAIL (-1)

static int fail(struct mqtt_parser *p, enum mqtt_err err)
{
        p->err = (uint8_t)err;
        p->state = ST_ERROR;
        return FAIL;
}

/* An n-byte (n <= 4) big-endian integer, or n raw bytes into small[]. */
static int take_uint(struct mqtt_parser *p, const uint8_t **cur, const uint8_t *end, unsigned n,
                     uint32_t *out)
{
        const uint8_t *c = *cur;
        uint32_t v = 0;

        if (p->nsmall == 0 && (size_t)(end - c) >= n) {
                if (n > p->left)
                        return fail(p, MQTT_ERR_LENGTH);
                for (unsigned i = 0; i < n; i++)
                        v = v << 8 | c[i];
                *cur = c + n;
                p->left -= n;
                *out = v;
                return DONE;
        }
        if (n - p->nsmall > p->left)
                return fail(p, MQTT_ERR_LENGTH);
        while (p->nsmall < n && c < end) {
                p->small[p->nsmall++] = *c++;
                p->left--;
        }
        *cur = c;
        if (p->nsmall < n)
                return MORE;
        for (unsigned i = 0; i < n; i++)
                v = v << 8 | p->small[i];
        p->nsmall = 0;
        *out = v;
        return DONE;
}

/* A variable byte integer inside a packet (5.0 §1.5.5); only 5.0 has them
 * there, so the minimal encoding is always required. */
static int take_varint(struct mqtt_parser *p, const uint8_t **cur, const uint8_t *end,
                       uint32_t *out)
{
        const uint8_t *c = *cur;
        int r;

        for (;;) {
                /* checked before waiting for bytes: a packet that ends where
                 * a varint (or its next byte) should be is wrong now, not
                 * when the next packet's bytes arrive */
                if (p->left == 0) {
                        r = fail(p, MQTT_ERR_LENGTH);
                        break;
                }
                if (c == end) {
                        r = MORE;
                        break;
                }
                uint8_t b = *c++;

                p->left--;
                if (p->nsmall == 0)
                        p->vacc = 0;
                p->vacc |= (uint32_t)(b & 0x7f) << (7 * p->nsmall);
                p->nsmall++;
                if (!(b & 0x80)) {
                        if (p->nsmall > 1 && b == 0) {
                                r = fail(p, MQTT_ERR_VARINT_NONMINIMAL);
                                break;
                        }
                        p->nsmall = 0;
                        *out = p->vacc;
                        r = DONE;
                        break;
                }
                if (p->nsmall == 4) {
                        r = fail(p, MQTT_ERR_VARINT);
                        break;
                }
        }
        *cur = c;
        return r;
}

/* Room for at least need bytes in the reassembly buffer; need <= max_string. */
static int reserve(struct mqtt_parser *p, uint32_t need)
{
        if (need <= p->buf_cap)
                return 0;
        uint32_t cap = p->buf_cap ? p->buf_cap : 256;

        while (cap < need)
                cap *= 2;
        if (cap > p->lim.max_string)
                cap = p->lim.max_string;
        uint8_t *b = realloc(p->buf, cap);

        if (!b)
                return -ENOMEM;
        p->buf = b;
        p->buf_cap = cap;
        return 0;
}

/*
 * A two-byte length and that many bytes (3.1.1 §1.5.3). With keep, p->str is
 * the string when DONE: a view into the input when it came in one piece,
 * else the reassembly buffer. Without keep the bytes are skipped.
 */
static int take_str(struct mqtt_parser *p, const uint8_t **cur, const uint8_t *end, bool keep)
{
        if (p->str_phase == 0) {
                uint32_t len;
                int r = take_uint(p, cur, end, 2, &len);

                if (r != DONE)
                        return r;
                if (len > p->left)
                        return fail(p, MQTT_ERR_LENGTH);
                if (keep && len > p->lim.max_string)
                        return fail(p, MQTT_ERR_STRING_TOO_LONG);
                p->str_len = len;
                p->str_have = 0;
                p->str_phase = 1;
        }
        size_t avail = (size_t)(end - *cur);
        uint32_t need = p->str_len - p->str_have;

        if (keep && p->str_have == 0 && avail >= need) {
                p->str.ptr = *cur; /* zero copy: the common case */
        } else {
                uint32_t n = avail < need ? (uint32_t)avail : need;

                if (n < need && !avail)
                        return MORE;
                if (keep) {
                        if (reserve(p, p->str_have + n))
                                return fail(p, MQTT_ERR_NOMEM);
                        memcpy(p->buf + p->str_have, *cur, n);
                }
                p->str_have += n;
                *cur += n;
                p->left -= n;
                if (p->str_have < p->str_len)
                        return MORE;
                p->str.ptr = p->buf;
                need = 0;
        }
        *cur += need;
        p->left -= need;
        p->str.len = p->str_len;
        p->str_phase = 0;
        return DONE;
}

/* ---- v5 properties (5.0 §2.2.2.2) ---- */

enum prop_type { PT_NONE = 0, PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

#define IN(t)      (1u << (t))
#define IN_WILL    (1u << 16) /* the Will Properties of a CONNECT */
#define IN_ALL     0x1fffeu
#define IN_ACKS    (IN(MQTT_PUBACK) | IN(MQTT_PUBREC) | IN(MQTT_PUBREL) | IN(MQTT_PUBCOMP))
#define IN_MESSAGE (IN(MQTT_PUBLISH) | IN_WILL)

static const struct prop_def {
        uint8_t type;
        uint32_t in;
} PROPS[0x2B] = {
    [0x01] = {PT_BYTE, IN_MESSAGE},                              /* Payload Format Indicator */
    [0x02] = {PT_U32, IN_MESSAGE},                               /* Message Expiry Interval */
    [0x03] = {PT_STR, IN_MESSAGE},                               /* Content Type */
    [0x08] = {PT_STR, IN_MESSAGE},                               /* Response Topic */
    [0x09] = {PT_BIN, IN_MESSAGE},                               /* Correlation Data */
    [0x0B] = {PT_VARINT, IN(MQTT_PUBLISH) | IN(MQTT_SUBSCRIBE)}, /* Subscription Identifier */
    [0x11] = {PT_U32, IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_DISCONNECT)},
    [0x12] = {PT_STR, IN(MQTT_CONNACK)}, /* Assigned Client Identifier */
    [0x13] = {PT_U16, IN(MQTT_CONNACK)}, /* Server Keep Alive */
    [0x15] = {PT_STR, IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_AUTH)}, /* Auth Method */
    [0x16] = {PT_BIN, IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_AUTH)}, /* Auth Data */
    [0x17] = {PT_BYTE, IN(MQTT_CONNECT)},                      /* Request Problem Information */
    [0x18] = {PT_U32, IN_WILL},                                /* Will Delay Interval */
    [0x19] = {PT_BYTE, IN(MQTT_CONNECT)},                      /* Request Response Information */
    [0x1A] = {PT_STR, IN(MQTT_CONNACK)},                       /* Response Information */
    [0x1C] = {PT_STR, IN(MQTT_CONNACK) | IN(MQTT_DISCONNECT)}, /* Server Reference */
    [0x1F] = {PT_STR, IN(MQTT_CONNACK) | IN_ACKS | IN(MQTT_SUBACK) | IN(MQTT_UNSUBACK) |
                          IN(MQTT_DISCONNECT) | IN(MQTT_AUTH)}, /* Reason String */
    [0x21] = {PT_U16, IN(MQTT_CONNECT) | IN(MQTT_CONNACK)},     /* Receive Maximum */
    [0x22] = {PT_U16, IN(MQTT_CONNECT) | IN(MQTT_CONNACK)},     /* Topic Alias Maximum */
    [0x23] = {PT_U16, IN(MQTT_PUBLISH)},                        /* Topic Alias */
    [0x24] = {PT_BYTE, IN(MQTT_CONNACK)},                       /* Maximum QoS */
    [0x25] = {PT_BYTE, IN(MQTT_CONNACK)},                       /* Retain Available */
    [0x26] = {PT_PAIR, IN_ALL},                                 /* User Property */
    [0x27] = {PT_U32, IN(MQTT_CONNECT) | IN(MQTT_CONNACK)},     /* Maximum Packet Size */
    [0x28] = {PT_BYTE, IN(MQTT_CONNACK)}, /* Wildcard Subscription Available */
    [0x29] = {PT_BYTE, IN(MQTT_CONNACK)}, /* Subscription Identifiers Available */
    [0x2A] = {PT_BYTE, IN(MQTT_CONNACK)}, /* Shared Subscription Available */
};

/* Checks and keeps one property value; the id was validated already. */
static int prop_value(struct mqtt_parser *p, uint8_t id, uint32_t v)
{
        struct mqtt_caps *c = &p->caps;
        bool boolean = false, nonzero = false;

        switch (id) {
        case 0x01:
        case 0x17:
        case 0x19: boolean = true; break;
        case 0x0B:
                nonzero = true;
                if (!(c->present & MQTT_HAS_SUBSCRIPTION_ID)) {
                        c->present |= MQTT_HAS_SUBSCRIPTION_ID;
                        p->sub_id = v;
                }
                break;
        case 0x11:
                c->present |= MQTT_HAS_SESSION_EXPIRY;
                c->session_expiry = v;
                break;
        case 0x12: c->present |= MQTT_HAS_ASSIGNED_CLIENT_ID; break;
        case 0x13:
                c->present |= MQTT_HAS_SERVER_KEEPALIVE;
                c->server_keepalive = (uint16_t)v;
                break;
        case 0x15: c->present |= MQTT_HAS_AUTH_METHOD; break;
        case 0x18: p->will_delay = v; break;
        case 0x21:
                nonzero = true;
                c->present |= MQTT_HAS_RECEIVE_MAX;
                c->receive_max = (uint16_t)v;
                break;
        case 0x22:
                c->present |= MQTT_HAS_TOPIC_ALIAS_MAX;
                c->topic_alias_max = (uint16_t)v;
                break;
        case 0x23: /* Topic Alias 0 is not permitted [MQTT-3.3.2-8] */
                if (!v)
                        return fail(p, MQTT_ERR_ALIAS_INVALID);
                p->alias = (uint16_t)v;
                break;
        case 0x24:
                boolean = true;
                c->present |= MQTT_HAS_MAX_QOS;
                c->max_qos = (uint8_t)v;
                break;
        case 0x25:
                boolean = true;
                c->present |= MQTT_HAS_RETAIN_AVAIL;
                c->retain_avail = (uint8_t)v;
                break;
        case 0x27:
                nonzero = true;
                c->present |= MQTT_HAS_MAX_PACKET;
                c->max_packet = v;
                break;
        case 0x28:
                boolean = true;
                c->present |= MQTT_HAS_WILDCARD_AVAIL;
                c->wildcard_avail = (uint8_t)v;
                break;
        case 0x29:
                boolean = true;
                c->present |= MQTT_HAS_SUBID_AVAIL;
                c->subid_avail = (uint8_t)v;
                break;
        case 0x2A:
                boolean = true;
                c->present |= MQTT_HAS_SHARED_AVAIL;
                c->shared_avail = (uint8_t)v;
                break;
        default: break;
        }
        if ((boolean && v > 1) || (nonzero && v == 0))
                return fail(p, MQTT_ERR_PROPERTY_VALUE);
        return DONE;
}

/*
 * A property list of the packet (or will, with in == IN_WILL): its length,
 * then properties until that length is used up. While it is read, p->left is
 * the bytes left in the list; the packet's count is restored at the end.
 */
static int take_props(struct mqtt_parser *p, const uint8_t **cur, const uint8_t *end, uint32_t in)
{
        uint32_t v;
        int r;

        for (;;) {
                switch (p->prop_phase) {
                case 0: /* Property Length */
                        r = take_varint(p, cur, end, &v);
                        if (r != DONE)
                                return r;
                        if (v > p->left)
                                return fail(p, MQTT_ERR_LENGTH);
                        p->after_props = p->left - v;
                        p->left = v;
                        p->props_seen = 0;
                        memset(&p->caps, 0, sizeof(p->caps));
                        p->alias = 0;
                        p->sub_id = 0;
                        p->will_delay = 0;
                        p->prop_phase = 1;
                        /* fall through */
                case 1: /* Identifier */
                        if (p->left == 0) {
                                p->left = p->after_props;
                                p->prop_phase = 0;
                                return DONE;
                        }
                        /* Identifiers are variable byte integers, but all defined
                         * ones are below 128: a longer one is unknown anyway. */
                        r = take_uint(p, cur, end, 1, &v);
                        if (r != DONE)
                                return r;
                        if (v >= sizeof(PROPS) / sizeof(PROPS[0]) || !(PROPS[v].in & in))
                                return fail(p, MQTT_ERR_PROPERTY);
                        /* Subscription Identifier: only from the server in a PUBLISH
                         * (5.0 §3.3.4) and then possibly several; Session Expiry
                         * Interval never in the server's DISCONNECT (§3.14.2.2.2). */
                        if ((v == 0x0B && in == IN(MQTT_PUBLISH) && p->dir == MQTT_DIR_C2S) ||
                            (v == 0x11 && in == IN(MQTT_DISCONNECT) && p->dir == MQTT_DIR_S2C))
                                return fail(p, MQTT_ERR_PROPERTY);
                        if (p->props_seen & (1ull << v) && v != 0x26 &&
                            !(v == 0x0B && in == IN(MQTT_PUBLISH)))
                                return fail(p, MQTT_ERR_PROPERTY_DUP);
                        p->props_seen |= 1ull << v;
                        p->prop_id = (uint8_t)v;
                        p->prop_phase = 2;
                        /* fall through */
                case 2: /* value */
                        switch (PROPS[p->prop_id].type) {
                        case PT_BYTE: r = take_uint(p, cur, end, 1, &v); break;
                        case PT_U16: r = take_uint(p, cur, end, 2, &v); break;
                        case PT_U32: r = take_uint(p, cur, end, 4, &v); break;
                        case PT_VARINT: r = take_varint(p, cur, end, &v); break;
                        default: v = 0, r = take_str(p, cur, end, false); break;
                        }
                        if (r != DONE)
                                return r;
                        if (prop_value(p, p->prop_id, v) != DONE)
                                return FAIL;
                        if (PROPS[p->prop_id].type != PT_PAIR) {
                                p->prop_phase = 1;
                                break;
                        }
                        p->prop_phase = 3;
                        /* fall through */
                case 3: /* the value of a User Property pair */
                        r = take_str(p, cur, end, false);
                        if (r != DONE)
                                return r;
                        p->prop_phase = 1;
                        break;
                }
        }
}

/* ---- packets ---- */

/* Which types may come from which side, 3.1.1 §2.2.1 / 5.0 §2.1.2. */
#define FROM_CLIENT                                                           \
        (IN(MQTT_CONNECT) | IN(MQTT_PUBLISH) | IN_ACKS | IN(MQTT_SUBSCRIBE) | \
         IN(MQTT_UNSUBSCRIBE) | IN(MQTT_PINGREQ) | IN(MQTT_DISCONNECT) | IN(MQTT_AUTH))
#define FROM_SERVER                                                                            \
        (IN(MQTT_CONNACK) | IN(MQTT_PUBLISH) | IN_ACKS | IN(MQTT_SUBACK) | IN(MQTT_UNSUBACK) | \
         IN(MQTT_PINGRESP) | IN(MQTT_DISCONNECT) | IN(MQTT_AUTH))

/* Fixed-header flags, 3.1.1 §2.2.2: PUBREL, SUBSCRIBE and UNSUBSCRIBE carry
 * 0010; every other type but PUBLISH 0000. MQTT 3.1 sent those three as QoS 1
 * messages that may carry DUP (1010). */
static bool flags_ok(const struct mqtt_parser *p, uint8_t type, uint8_t flags)
{
        switch (type) {
        case MQTT_PUBLISH: return true; /* checked with the QoS */
        case MQTT_PUBREL:
        case MQTT_SUBSCRIBE:
        case MQTT_UNSUBSCRIBE: return flags == 2 || (p->version == MQTT_V31 && flags == 0xA);
        default: return flags == 0;
        }
}

/* The first byte of a packet: type and flags, checked before anything else. */
static int packet_header(struct mqtt_parser *p, uint8_t b)
{
        uint8_t type = b >> 4, flags = b & 0x0f;
        uint32_t from = p->dir == MQTT_DIR_C2S ? FROM_CLIENT : FROM_SERVER;

        if (!(from & IN(type)))
                return fail(p, MQTT_ERR_TYPE);
        if (!p->started) {
                bool first = type == (p->dir == MQTT_DIR_C2S ? MQTT_CONNECT : MQTT_CONNACK) ||
                             (p->dir == MQTT_DIR_S2C && type == MQTT_AUTH);

                if (!first)
                        return fail(p, MQTT_ERR_ORDER);
        } else if (type == MQTT_CONNECT || type == MQTT_CONNACK) {
                return fail(p, MQTT_ERR_ORDER);
        }
        /* Only 5.0 has AUTH, and a server's DISCONNECT: on a stream whose
         * version nobody set, they say which version it is. */
        if (p->version == MQTT_V_UNKNOWN && p->dir == MQTT_DIR_S2C &&
            (type == MQTT_AUTH || type == MQTT_DISCONNECT))
                p->version = MQTT_V5;
        /* 3.x servers send no DISCONNECT; no AUTH before 5.0 */
        if ((type == MQTT_AUTH || (type == MQTT_DISCONNECT && p->dir == MQTT_DIR_S2C)) &&
            p->version != MQTT_V5 && p->version != MQTT_V_UNKNOWN)
                return fail(p, MQTT_ERR_TYPE);
        if (!flags_ok(p, type, flags))
                return fail(p, MQTT_ERR_FLAGS);
        if (type == MQTT_PUBLISH) {
                uint8_t qos = (flags >> 1) & 3;

                if (qos == 3)
                        return fail(p, MQTT_ERR_QOS);
                if (qos == 0 && (flags & 8)) /* 3.1.1 [MQTT-3.3.1-2] */
                        return fail(p, MQTT_ERR_DUP_QOS0);
        }
        p->type = type;
        p->flags = flags;
        return DONE;
}

/* Where the body of the packet whose remaining length was just read starts. */
static enum state body_start(struct mqtt_parser *p)
{
        switch (p->type) {
        case MQTT_CONNECT: return ST_CONNECT_NAME;
        case MQTT_CONNACK: return ST_CONNACK_FLAGS;
        case MQTT_PUBLISH: return ST_PUB_TOPIC;
        case MQTT_PUBACK:
        case MQTT_PUBREC:
        case MQTT_PUBREL:
        case MQTT_PUBCOMP: return ST_ACK_ID;
        case MQTT_SUBSCRIBE:
        case MQTT_UNSUBSCRIBE: return ST_SUB_ID;
        case MQTT_SUBACK:
        case MQTT_UNSUBACK: return ST_SUBACK_ID;
        default: return ST_DISC_CODE; /* PINGREQ/PINGRESP (empty), DISCONNECT, AUTH */
        }
}

static void event_begin(struct mqtt_parser *p, enum mqtt_event_type type)
{
        memset(&p->ev, 0, sizeof(p->ev));
        p->ev.type = (uint8_t)type;
        p->ev.pkt_type = p->type;
        p->ev.pkt_flags = p->flags;
        p->ev.pkt_offset = p->pkt_start;
        p->ev.pkt_len = p->pkt_len;
}

/* The end of a packet: no byte may be left in it. */
static int packet_end(struct mqtt_parser *p)
{
        if (p->left)
                return fail(p, MQTT_ERR_TRAILING);
        p->state = ST_HDR;
        return DONE;
}

static bool v5(const struct mqtt_parser *p)
{
        return p->version == MQTT_V5;
}

/* Resolves the topic of PUBLISH e through its topic alias (p->alias), if any. */
static int publish_topic(struct mqtt_parser *p, struct mqtt_event *e)
{
        struct mqtt_str *topic = &e->publish.topic;
        uint16_t alias = p->alias;

        e->publish.topic_known = true;
        if (topic->len) {
                enum mqtt_err err = mqtt_topic__check_name(topic->ptr, topic->len);

                if (err != MQTT_OK)
                        return fail(p, err);
        }
        if (!alias) {
                if (!topic->len)
                        return fail(p, MQTT_ERR_TOPIC_EMPTY);
                return DONE;
        }
        if (alias > p->alias_max || !p->aliases)
                return fail(p, MQTT_ERR_ALIAS_INVALID);
        e->publish.alias = alias;
        if (topic->len) {
                e->publish.alias_set = true;
                mqtt_alias__set(p->aliases, alias, topic->ptr, topic->len);
                return DONE;
        }
        switch (mqtt_alias__get(p->aliases, alias, topic)) {
        case MQTT_ALIAS_UNSET: return fail(p, MQTT_ERR_ALIAS_UNKNOWN);
        case MQTT_ALIAS_NOT_KEPT: e->publish.topic_known = false; break;
        default: break;
        }
        return DONE;
}

/* Subscription options byte, 3.1.1 §3.8.3.1 / 5.0 §3.8.3.1. */
static bool sub_options_ok(const struct mqtt_parser *p, uint8_t o, struct mqtt_str filter)
{
        if ((o & 3) == 3)
                return false;
        if (!v5(p))
                return (o & 0xfc) == 0;
        if ((o & 0xc0) || ((o >> 4) & 3) == 3)
                return false;
        /* No Local on a shared subscription is a protocol error [MQTT-3.8.3-4] */
        if ((o & 4) && mqtt_topic__unshare(filter.ptr, filter.len).ptr != filter.ptr)
                return false;
        return true;
}

static enum mqtt_status emit(struct mqtt_parser *p, struct mqtt_event *ev)
{
        p->pending = NULL;
        *ev = p->ev;
        return MQTT_EVENT;
}

void mqtt_parser__init(struct mqtt_parser *p, enum mqtt_dir dir, const struct mqtt_limits *lim)
{
        memset(p, 0, sizeof(*p));
        if (lim)
                p->lim = *lim;
        if (!p->lim.max_packet || p->lim.max_packet > MQTT_MAX_REMAINING)
                p->lim.max_packet = MQTT_MAX_REMAINING;
        if (!p->lim.max_string || p->lim.max_string > MQTT_MAX_STRING)
                p->lim.max_string = MQTT_MAX_STRING;
        if (p->lim.max_string < 16) /* room for the protocol name */
                p->lim.max_string = 16;
        if (!p->lim.alias_bytes)
                p->lim.alias_bytes = 65536;
        p->dir = (uint8_t)dir;
}

void mqtt_parser__fini(struct mqtt_parser *p)
{
        free(p->buf);
        mqtt_alias__free(p->aliases);
        p->buf = NULL;
        p->buf_cap = 0;
        p->aliases = NULL;
        p->alias_max = 0;
}

size_t mqtt_parser__mem(const struct mqtt_parser *p)
{
        /* an alias table: its topic arena and, generously, 16 bytes an entry */
        return p->buf_cap + (p->aliases ? p->lim.alias_bytes + 16u * p->alias_max : 0);
}

void mqtt_parser__set_max_packet(struct mqtt_parser *p, uint32_t max)
{
        p->lim.max_packet = max && max < MQTT_MAX_REMAINING ? max : MQTT_MAX_REMAINING;
}

void mqtt_parser__reset(struct mqtt_parser *p)
{
        struct mqtt_parser keep = *p;

        memset(p, 0, sizeof(*p));
        p->lim = keep.lim;
        p->dir = keep.dir;
        p->buf = keep.buf;
        p->buf_cap = keep.buf_cap;
        p->aliases = keep.aliases;
        p->alias_max = keep.alias_max;
        if (p->aliases)
                mqtt_alias__clear(p->aliases);
}

void mqtt_parser__set_version(struct mqtt_parser *p, enum mqtt_version v)
{
        p->version = (uint8_t)v;
}

enum mqtt_version mqtt_parser__version(const struct mqtt_parser *p)
{
        return (enum mqtt_version)p->version;
}

int mqtt_parser__set_alias_max(struct mqtt_parser *p, uint16_t max)
{
        if (p->aliases && mqtt_alias__max(p->aliases) >= max) {
                p->alias_max = max;
                return 0;
        }
        struct mqtt_alias_table *t = max ? mqtt_alias__new(max, p->lim.alias_bytes) : NULL;

        if (max && !t)
                return -ENOMEM;
        mqtt_alias__free(p->aliases);
        p->aliases = t;
        p->alias_max = max;
        return 0;
}

enum mqtt_err mqtt_parser__error(const struct mqtt_parser *p)
{
        return (enum mqtt_err)p->err;
}

uint64_t mqtt_parser__offset(const struct mqtt_parser *p)
{
        return p->offset;
}

bool mqtt_parser__at_boundary(const struct mqtt_parser *p)
{
        return p->state == ST_HDR;
}

/*
 * The fast path for the packet that dominates a balancer's traffic: a PUBLISH
 * whose fixed header, topic and packet id are all in buf[0..len). It reads
 * them straight, fills *ev without the intermediate copy, and skips the
 * payload at once when it is there too. It decides no error of its own:
 * anything unusual (a split header, a bad flag, a topic that is not plain
 * ASCII) returns FAST_NO before consuming a byte and the general machine
 * reads the packet; a topic alias is resolved by publish_alias(), through the
 * general path's publish_topic(). So both paths report the same things; the
 * split-at-every-offset tests run every fixture through both. A 5.0 PUBLISH
 * takes it when its properties are empty or a lone Topic Alias.
 *
 * It calls nothing, so that the compiler keeps it in scratch registers: no
 * register is saved or restored on the way in and out.
 */
enum { FAST_NO = 0, FAST_EVENT, FAST_ALIAS };

static inline uint16_t be16(const uint8_t *b)
{
        uint16_t v;

        memcpy(&v, b, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        v = __builtin_bswap16(v);
#endif
        return v;
}

__attribute__((always_inline)) static inline int publish_fast(struct mqtt_parser *p,
                                                              const uint8_t *buf, size_t len,
                                                              size_t *used, struct mqtt_event *e)
{
        /* Few values live at once, so that they fit the scratch registers:
         * what is known goes into *e at once (a FAST_NO leaves *e written,
         * which the API allows). */
        uint32_t flags = buf[0] & 0x0fu, rl = buf[1], hdr = 2;

        /* QoS 3 (flags 6, 7, 14, 15) and DUP on QoS 0 (8, 9) */
        if ((0xC3C0u >> flags) & 1)
                return FAST_NO;
        if (rl >= 0x80) { /* the caller checked len >= 2 */
                rl &= 0x7f;
                for (;;) {
                        if (hdr >= len || hdr > 4)
                                return FAST_NO;
                        uint32_t b = buf[hdr];

                        rl |= (b & 0x7f) << (7 * (hdr - 1));
                        hdr++;
                        if (!(b & 0x80)) {
                                if (b == 0) /* not minimal */
                                        return FAST_NO;
                                break;
                        }
                }
        }
        if (rl > p->lim.max_packet)
                return FAST_NO;
        e->type = MQTT_EV_PUBLISH;
        e->pkt_type = MQTT_PUBLISH;
        e->pkt_flags = (uint8_t)flags;
        e->pkt_offset = p->offset;
        e->pkt_len = hdr + rl;

        const uint8_t *c = buf + hdr; /* the variable header */
        size_t have = len - hdr;      /* bytes of it (and beyond) in buf */

        if (have < 2)
                return FAST_NO;
        uint32_t tlen = be16(c);
        uint32_t head = 2 + tlen + (((flags >> 1) + 1) & 2); /* topic, packet id */

        if (tlen > p->lim.max_string || head > rl || have < head)
                return FAST_NO;
        e->publish.topic.ptr = c + 2;
        e->publish.topic.len = tlen;
        e->publish.packet_id = 0;
        if (flags & 6) {
                uint16_t id = be16(c + head - 2);

                if (!id)
                        return FAST_NO;
                e->publish.packet_id = id;
        }
        if (p->version == MQTT_V5) {
                /* Property Length 0, or 3 with a lone Topic Alias (the only
                 * property most PUBLISH carry); else the general path. */
                const uint8_t *pr = c + head;

                p->alias = 0;
                if (head == rl || have <= head || pr[0] > 3 || head + 1 + pr[0] > rl ||
                    have < head + 1 + pr[0])
                        return FAST_NO;
                if (pr[0]) {
                        if (pr[0] != 3 || pr[1] != 0x23)
                                return FAST_NO;
                        p->alias = be16(pr + 2);
                        if (!p->alias) /* an error: the general path reports it */
                                return FAST_NO;
                }
                head += 1u + pr[0];
        }
        /* an empty topic is valid only with an alias, which publish_alias()
         * checks; anything but plain ASCII gets the general path's check */
        if (tlen ? !mqtt_topic__plain_name(c + 2, tlen, have - 2)
                 : p->version != MQTT_V5 || !p->alias)
                return FAST_NO;
        e->publish.payload_len = rl - head;
        e->publish.subscription_id = 0;
        e->publish.alias = 0;
        e->publish.topic_known = true;
        e->publish.alias_set = false;
        e->publish.qos = (uint8_t)((flags >> 1) & 3);
        e->publish.retain = flags & 1;
        e->publish.dup = flags >> 3;
        if (have < rl) { /* the payload goes on in the next calls */
                p->type = MQTT_PUBLISH;
                p->flags = (uint8_t)flags;
                p->left = rl - head;
                p->state = ST_SKIP;
                rl = head;
        }
        *used = (size_t)(c - buf) + rl;
        p->offset += (size_t)(c - buf) + rl;
        return p->version == MQTT_V5 && p->alias ? FAST_ALIAS : FAST_EVENT;
}

/*
 * The topic alias of a PUBLISH publish_fast() consumed, resolved as the
 * general path does. On an error the packet was not consumed (the error is
 * the stream's, sticky).
 */
__attribute__((noinline)) static enum mqtt_status publish_alias(struct mqtt_parser *p, size_t *used,
                                                                struct mqtt_event *ev)
{
        if (publish_topic(p, ev) != DONE) {
                p->offset -= *used;
                *used = 0;
                return MQTT_ERROR;
        }
        return MQTT_EVENT;
}

/* Runs the machine over [*cur, end); returns on an event, need-more or error.
 * Kept out of line so that the fast path in mqtt_parser__feed() does not pay
 * for this function's register saves. */
__attribute__((noinline)) static enum mqtt_status run(struct mqtt_parser *p, const uint8_t **cur,
                                                      const uint8_t *end, struct mqtt_event *ev)
{
        const uint8_t *start = *cur;
        uint32_t v;
        int r;

#define TAKE(call)                                                      \
        do {                                                            \
                r = (call);                                             \
                if (r != DONE)                                          \
                        return r == MORE ? MQTT_NEED_MORE : MQTT_ERROR; \
        } while (0)
#define CHECK(cond, err)                   \
        do {                               \
                if (!(cond)) {             \
                        fail(p, err);      \
                        return MQTT_ERROR; \
                }                          \
        } while (0)
#define END_PACKET()                       \
        do {                               \
                if (packet_end(p) != DONE) \
                        return MQTT_ERROR; \
        } while (0)

        for (;;) {
                switch ((enum state)p->state) {
                case ST_ERROR: return MQTT_ERROR;

                case ST_HDR:
                        if (*cur == end)
                                return MQTT_NEED_MORE;
                        p->pkt_start = p->offset + (uint64_t)(*cur - start);
                        if (packet_header(p, **cur) != DONE)
                                return MQTT_ERROR;
                        ++*cur;
                        p->rl_bytes = 0;
                        p->vacc = 0;
                        p->rl_nonminimal = false;
                        p->state = ST_RLEN;
                        /* fall through */
                case ST_RLEN: /* Remaining Length, 3.1.1 §2.2.3 */
                        for (;;) {
                                if (*cur == end)
                                        return MQTT_NEED_MORE;
                                uint8_t b = *(*cur)++;

                                p->vacc |= (uint32_t)(b & 0x7f) << (7 * p->rl_bytes);
                                p->rl_bytes++;
                                if (!(b & 0x80)) {
                                        p->rl_nonminimal = p->rl_bytes > 1 && b == 0;
                                        break;
                                }
                                CHECK(p->rl_bytes < 4, MQTT_ERR_VARINT);
                        }
                        CHECK(!(p->rl_nonminimal && v5(p)), MQTT_ERR_VARINT_NONMINIMAL);
                        CHECK(p->vacc <= p->lim.max_packet, MQTT_ERR_TOO_LARGE);
                        p->left = p->vacc;
                        p->pkt_len = 1u + p->rl_bytes + p->vacc;
                        p->count = 0;
                        p->failures = 0;
                        p->nsmall = p->str_phase = p->prop_phase = 0;
                        p->alias = 0;
                        p->sub_id = 0;
                        p->will_delay = 0;
                        memset(&p->caps, 0, sizeof(p->caps));
                        p->state = body_start(p);
                        break;

                case ST_SKIP: {
                        size_t n = (size_t)(end - *cur);

                        if (n > p->left)
                                n = p->left;
                        *cur += n;
                        p->left -= (uint32_t)n;
                        if (p->left)
                                return MQTT_NEED_MORE;
                        p->state = ST_HDR;
                        break;
                }

                /* ---- CONNECT, 3.1.1 §3.1 / 5.0 §3.1 ---- */
                case ST_CONNECT_NAME:
                        TAKE(take_str(p, cur, end, true));
                        if (p->str.len == 4 && !memcmp(p->str.ptr, "MQTT", 4))
                                p->version = MQTT_V311; /* 4 or 5: the level says */
                        else if (p->str.len == 6 && !memcmp(p->str.ptr, "MQIsdp", 6))
                                p->version = MQTT_V31;
                        else
                                CHECK(0, MQTT_ERR_PROTOCOL_NAME);
                        p->state = ST_CONNECT_LEVEL;
                        /* fall through */
                case ST_CONNECT_LEVEL:
                        TAKE(take_uint(p, cur, end, 1, &v));
                        /* Mosquitto bridges set the top bit ("try_private"). */
                        v &= 0x7f;
                        if (p->version == MQTT_V31)
                                CHECK(v == MQTT_V31, MQTT_ERR_PROTOCOL_LEVEL);
                        else
                                CHECK(v == MQTT_V311 || v == MQTT_V5, MQTT_ERR_PROTOCOL_LEVEL);
                        p->version = (uint8_t)v;
                        CHECK(!(p->rl_nonminimal && v5(p)), MQTT_ERR_VARINT_NONMINIMAL);
                        p->state = ST_CONNECT_FLAGS;
                        /* fall through */
                case ST_CONNECT_FLAGS: /* 3.1.1 §3.1.2.3 */
                        TAKE(take_uint(p, cur, end, 1, &v));
                        CHECK(!(v & 1), MQTT_ERR_CONNECT_FLAGS);
                        if (v & MQTT_CONNECT_WILL)
                                CHECK(MQTT_CONNECT_WILL_QOS(v) != 3, MQTT_ERR_CONNECT_FLAGS);
                        else
                                CHECK(!(v & (0x18 | MQTT_CONNECT_WILL_RETAIN)),
                                      MQTT_ERR_CONNECT_FLAGS);
                        /* a password needs a user name before 5.0 [MQTT-3.1.2-22] */
                        if (!v5(p) && (v & MQTT_CONNECT_PASSWORD))
                                CHECK(v & MQTT_CONNECT_USERNAME, MQTT_ERR_CONNECT_FLAGS);
                        memset(&p->conn, 0, sizeof(p->conn));
                        p->conn.connect.version = p->version;
                        p->conn.connect.flags = (uint8_t)v;
                        p->state = ST_CONNECT_KEEPALIVE;
                        /* fall through */
                case ST_CONNECT_KEEPALIVE:
                        TAKE(take_uint(p, cur, end, 2, &v));
                        p->conn.connect.keepalive = (uint16_t)v;
                        p->state = ST_CONNECT_PROPS;
                        /* fall through */
                case ST_CONNECT_PROPS:
                        if (v5(p)) {
                                TAKE(take_props(p, cur, end, IN(MQTT_CONNECT)));
                                p->conn.connect.props = p->caps;
                        }
                        p->started = true;
                        p->state = ST_CONNECT_ID;
                        event_begin(p, MQTT_EV_CONNECT);
                        p->ev.connect = p->conn.connect;
                        p->conn = p->ev;
                        return emit(p, ev);

                case ST_CONNECT_ID: {
                        TAKE(take_str(p, cur, end, true));
                        /* An empty id is the server's call (3.1.1 [MQTT-3.1.3-8],
                         * 5.0 assigns one): reported, not rejected. */
                        enum mqtt_err err = mqtt_utf8__check(p->str.ptr, p->str.len);

                        CHECK(err == MQTT_OK, err);
                        p->state =
                            p->conn.connect.flags & MQTT_CONNECT_WILL ? ST_WILL_PROPS : ST_USERNAME;
                        event_begin(p, MQTT_EV_CLIENT_ID);
                        p->ev.str = p->str;
                        return emit(p, ev);
                }
                case ST_WILL_PROPS:
                        if (v5(p))
                                TAKE(take_props(p, cur, end, IN_WILL));
                        p->state = ST_WILL_TOPIC;
                        /* fall through */
                case ST_WILL_TOPIC: {
                        TAKE(take_str(p, cur, end, true));
                        enum mqtt_err err = mqtt_topic__check_name(p->str.ptr, p->str.len);

                        CHECK(err == MQTT_OK, err);
                        p->state = ST_WILL_PAYLOAD;
                        event_begin(p, MQTT_EV_WILL);
                        p->ev.will.topic = p->str;
                        p->ev.will.qos = MQTT_CONNECT_WILL_QOS(p->conn.connect.flags);
                        p->ev.will.retain = p->conn.connect.flags & MQTT_CONNECT_WILL_RETAIN;
                        p->ev.will.delay = p->will_delay;
                        return emit(p, ev);
                }
                case ST_WILL_PAYLOAD: /* binary data: the same length + bytes shape */
                        TAKE(take_str(p, cur, end, false));
                        p->state = ST_USERNAME;
                        /* fall through */
                case ST_USERNAME:
                        if (p->conn.connect.flags & MQTT_CONNECT_USERNAME)
                                TAKE(take_str(p, cur, end, false));
                        p->state = ST_PASSWORD;
                        /* fall through */
                case ST_PASSWORD:
                        if (p->conn.connect.flags & MQTT_CONNECT_PASSWORD)
                                TAKE(take_str(p, cur, end, false));
                        END_PACKET();
                        p->ev = p->conn;
                        p->ev.type = MQTT_EV_CONNECT_END;
                        return emit(p, ev);

                /* ---- CONNACK, 3.1.1 §3.2 / 5.0 §3.2 ---- */
                case ST_CONNACK_FLAGS:
                        if (p->version == MQTT_V_UNKNOWN) {
                                p->version = p->left > 2 ? MQTT_V5 : MQTT_V311;
                                CHECK(!(p->rl_nonminimal && v5(p)), MQTT_ERR_VARINT_NONMINIMAL);
                        }
                        TAKE(take_uint(p, cur, end, 1, &v));
                        CHECK(!(v & 0xfe), MQTT_ERR_CONNECT_FLAGS);
                        event_begin(p, MQTT_EV_CONNACK);
                        p->ev.connack.session_present = v & 1;
                        p->state = ST_CONNACK_CODE;
                        /* fall through */
                case ST_CONNACK_CODE:
                        TAKE(take_uint(p, cur, end, 1, &v));
                        p->ev.connack.code = (uint8_t)v;
                        p->state = ST_CONNACK_PROPS;
                        /* fall through */
                case ST_CONNACK_PROPS:
                        if (v5(p)) {
                                TAKE(take_props(p, cur, end, IN(MQTT_CONNACK)));
                                p->ev.connack.caps = p->caps;
                        }
                        END_PACKET();
                        p->started = true;
                        return emit(p, ev);

                /* ---- PUBLISH, 3.1.1 §3.3 / 5.0 §3.3 ---- */
                case ST_PUB_TOPIC:
                        TAKE(take_str(p, cur, end, true));
                        event_begin(p, MQTT_EV_PUBLISH);
                        p->ev.publish.topic = p->str;
                        p->pending = &p->ev.publish.topic;
                        p->ev.publish.qos = (p->flags >> 1) & 3;
                        p->ev.publish.retain = p->flags & 1;
                        p->ev.publish.dup = p->flags & 8;
                        p->state = ST_PUB_ID;
                        /* fall through */
                case ST_PUB_ID:
                        if (p->ev.publish.qos) {
                                TAKE(take_uint(p, cur, end, 2, &v));
                                CHECK(v != 0, MQTT_ERR_PACKET_ID);
                                p->ev.publish.packet_id = (uint16_t)v;
                        }
                        p->state = ST_PUB_PROPS;
                        /* fall through */
                case ST_PUB_PROPS:
                        if (v5(p)) {
                                /* The topic may be in the reassembly buffer or the
                                 * input, neither of which properties touch. */
                                TAKE(take_props(p, cur, end, IN(MQTT_PUBLISH)));
                                p->ev.publish.subscription_id = p->sub_id;
                        }
                        if (publish_topic(p, &p->ev) != DONE)
                                return MQTT_ERROR;
                        p->ev.publish.payload_len = p->left;
                        p->state = ST_SKIP;
                        return emit(p, ev);

                /* ---- PUBACK, PUBREC, PUBREL, PUBCOMP, 3.1.1 §3.4-3.7 ---- */
                case ST_ACK_ID:
                        TAKE(take_uint(p, cur, end, 2, &v));
                        CHECK(v != 0, MQTT_ERR_PACKET_ID);
                        event_begin(p, MQTT_EV_ACK);
                        p->ev.ack.packet_id = (uint16_t)v;
                        p->state = ST_ACK_CODE;
                        /* fall through */
                case ST_ACK_CODE: /* 5.0: absent when the remaining length is 2 */
                        if (v5(p) && p->left) {
                                TAKE(take_uint(p, cur, end, 1, &v));
                                p->ev.ack.code = (uint8_t)v;
                        }
                        p->state = ST_ACK_PROPS;
                        /* fall through */
                case ST_ACK_PROPS: /* 5.0: absent when the remaining length < 4 */
                        if (v5(p) && (p->left || p->prop_phase))
                                TAKE(take_props(p, cur, end, IN(p->type)));
                        END_PACKET();
                        return emit(p, ev);

                /* ---- SUBSCRIBE §3.8, UNSUBSCRIBE §3.10 ---- */
                case ST_SUB_ID:
                        TAKE(take_uint(p, cur, end, 2, &v));
                        CHECK(v != 0, MQTT_ERR_PACKET_ID);
                        event_begin(p, p->type == MQTT_SUBSCRIBE ? MQTT_EV_SUBSCRIBE
                                                                 : MQTT_EV_UNSUBSCRIBE);
                        p->ev.sub.packet_id = (uint16_t)v;
                        p->state = ST_SUB_PROPS;
                        /* fall through */
                case ST_SUB_PROPS:
                        if (v5(p)) {
                                TAKE(take_props(p, cur, end, IN(p->type)));
                                p->ev.sub.subscription_id = p->sub_id;
                        }
                        CHECK(p->left, MQTT_ERR_NO_FILTERS); /* [MQTT-3.8.3-3] */
                        p->state = ST_SUB_FILTER;
                        return emit(p, ev);

                case ST_SUB_FILTER: {
                        if (!p->left) { /* every filter read */
                                p->state = ST_HDR;
                                break;
                        }
                        TAKE(take_str(p, cur, end, true));
                        enum mqtt_err err = mqtt_topic__check_filter(p->str.ptr, p->str.len, v5(p));

                        CHECK(err == MQTT_OK, err);
                        event_begin(p, p->type == MQTT_SUBSCRIBE ? MQTT_EV_SUB_FILTER
                                                                 : MQTT_EV_UNSUB_FILTER);
                        p->ev.filter.filter = p->str;
                        p->pending = &p->ev.filter.filter;
                        p->ev.filter.index = p->count++;
                        if (p->type == MQTT_UNSUBSCRIBE)
                                return emit(p, ev);
                        p->state = ST_SUB_OPTIONS;
                }
                        /* fall through */
                case ST_SUB_OPTIONS:
                        CHECK(p->left, MQTT_ERR_SUB_OPTIONS); /* a filter without options */
                        TAKE(take_uint(p, cur, end, 1, &v));
                        CHECK(sub_options_ok(p, (uint8_t)v, p->ev.filter.filter),
                              MQTT_ERR_SUB_OPTIONS);
                        p->ev.filter.options = (uint8_t)v;
                        p->state = ST_SUB_FILTER;
                        return emit(p, ev);

                /* ---- SUBACK §3.9, UNSUBACK §3.11 ---- */
                case ST_SUBACK_ID:
                        TAKE(take_uint(p, cur, end, 2, &v));
                        CHECK(v != 0, MQTT_ERR_PACKET_ID);
                        event_begin(p, MQTT_EV_SUBACK);
                        p->ev.suback.packet_id = (uint16_t)v;
                        p->state = ST_SUBACK_PROPS;
                        /* fall through */
                case ST_SUBACK_PROPS:
                        if (v5(p))
                                TAKE(take_props(p, cur, end, IN(p->type)));
                        /* a 3.x UNSUBACK is the packet id alone */
                        if (p->type == MQTT_UNSUBACK && !v5(p)) {
                                END_PACKET();
                                return emit(p, ev);
                        }
                        CHECK(p->left, MQTT_ERR_LENGTH);
                        p->state = ST_SUBACK_CODES;
                        /* fall through */
                case ST_SUBACK_CODES:
                        while (p->left) {
                                if (*cur == end)
                                        return MQTT_NEED_MORE;
                                uint8_t c = *(*cur)++;

                                p->left--;
                                /* 3.x: granted QoS 0-2 or 0x80; 5.0 adds failure codes */
                                if (p->type == MQTT_SUBACK)
                                        CHECK(c <= 2 || c == 0x80 || (v5(p) && c > 0x80),
                                              MQTT_ERR_REASON_CODE);
                                p->count++;
                                p->failures += c >= 0x80;
                        }
                        p->ev.suback.count = p->count;
                        p->ev.suback.failures = p->failures;
                        p->state = ST_HDR;
                        return emit(p, ev);

                /* ---- PINGREQ/PINGRESP §3.12-13, DISCONNECT §3.14, AUTH 5.0 §3.15 ---- */
                case ST_DISC_CODE:
                        event_begin(p, p->type == MQTT_PINGREQ      ? MQTT_EV_PINGREQ
                                       : p->type == MQTT_PINGRESP   ? MQTT_EV_PINGRESP
                                       : p->type == MQTT_DISCONNECT ? MQTT_EV_DISCONNECT
                                                                    : MQTT_EV_AUTH);
                        if ((p->type == MQTT_DISCONNECT || p->type == MQTT_AUTH) && v5(p) &&
                            p->left) {
                                TAKE(take_uint(p, cur, end, 1, &v));
                                p->ev.disconnect.code = (uint8_t)v;
                                p->ev.disconnect.present = MQTT_HAS_REASON_CODE;
                        }
                        p->state = ST_DISC_PROPS;
                        /* fall through */
                case ST_DISC_PROPS:
                        if ((p->left || p->prop_phase) && v5(p) && p->type != MQTT_PINGREQ &&
                            p->type != MQTT_PINGRESP) {
                                TAKE(take_props(p, cur, end, IN(p->type)));
                                p->ev.disconnect.present |= p->caps.present;
                                p->ev.disconnect.session_expiry = p->caps.session_expiry;
                        }
                        END_PACKET();
                        return emit(p, ev);
                }
        }
#undef TAKE
#undef CHECK
#undef END_PACKET
}

/* Everything but the fast path; out of line so that the fast path's caller
 * needs no stack frame. */
__attribute__((noinline)) static enum mqtt_status feed_general(struct mqtt_parser *p,
                                                               const uint8_t *buf, size_t len,
                                                               size_t *used, struct mqtt_event *ev)
{
        const uint8_t *cur = buf;
        enum mqtt_status st = run(p, &cur, buf + len, ev);

        *used = (size_t)(cur - buf);
        p->offset += *used;
        /* A topic or filter read in place whose packet goes on in the next
         * call: keep its bytes, the caller's buffer may be gone by then. */
        if (st == MQTT_NEED_MORE && p->pending && p->pending->ptr != p->buf && p->pending->len) {
                if (reserve(p, p->pending->len)) {
                        fail(p, MQTT_ERR_NOMEM);
                        return MQTT_ERROR;
                }
                memcpy(p->buf, p->pending->ptr, p->pending->len);
                p->pending->ptr = p->buf;
        }
        return st;
}

enum mqtt_status mqtt_parser__feed(struct mqtt_parser *p, const uint8_t *buf, size_t len,
                                   size_t *used, struct mqtt_event *ev)
{
        if (p->state == ST_HDR) {
                /* Most calls carry one small PUBLISH of an established stream. */
                if (p->started && len >= 2 && (buf[0] >> 4) == MQTT_PUBLISH) {
                        int r = publish_fast(p, buf, len, used, ev);

                        if (r == FAST_EVENT)
                                return MQTT_EVENT;
                        if (r == FAST_ALIAS)
                                return publish_alias(p, used, ev);
                } else if (!len) {
                        /* between packets, no event comes without a byte */
                        *used = 0;
                        return MQTT_NEED_MORE;
                }
        }
        return feed_general(p, buf, len, used, ev);
}
