/*
 * The encoders of mqtt/encode.h: the exact bytes of known packets (the
 * layouts of 3.1.1 §3 / 5.0 §3, and what core/ wrote by hand before the
 * encoder existed), and every encoder's output, for each version it applies
 * to and at its edges, fed back through the MQTT parser whole and byte by
 * byte: the events must carry the values encoded. A buffer one byte short
 * must give 0 and leave the buffer untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/caps.h"
#include "mqtt/encode.h"
#include "mqtt/parser.h"

/* ---- reading back ---- */

#define MAX_EVENTS 8

/* What the parser made of a stream: the events, with the client id copied
 * out (event views die at the next call). */
struct readback {
        struct mqtt_event ev[MAX_EVENTS];
        size_t n;
        uint8_t *cid;
        size_t cid_len;
};

static void readback__fini(struct readback *r)
{
        free(r->cid);
        memset(r, 0, sizeof(*r));
}

/* Feeds buf[0..len) in pieces of step bytes (0: whole) to p, collecting its
 * events into r; every byte must be consumed without an error. */
static void feed(struct mqtt_parser *p, const uint8_t *buf, size_t len, size_t step,
                 struct readback *r)
{
        size_t at = 0;

        while (at < len) {
                size_t piece = step && len - at > step ? step : len - at, used;
                const uint8_t *b = buf + at;
                struct mqtt_event ev;
                enum mqtt_status st;

                for (;;) {
                        st = mqtt_parser__feed(p, b, piece, &used, &ev);
                        if (st == MQTT_ERROR)
                                fail_msg("parser error %d at offset %zu", mqtt_parser__error(p),
                                         at);
                        b += used;
                        piece -= used;
                        at += used;
                        if (st != MQTT_EVENT)
                                break;
                        assert_true(r->n < MAX_EVENTS);
                        if (ev.type == MQTT_EV_CLIENT_ID) {
                                r->cid_len = ev.str.len;
                                r->cid = malloc(ev.str.len + 1);
                                assert_non_null(r->cid);
                                if (ev.str.len)
                                        memcpy(r->cid, ev.str.ptr, ev.str.len);
                        }
                        r->ev[r->n++] = ev;
                }
        }
}

/*
 * Reads pkt[0..len) on a fresh stream of direction dir, after first[0..
 * first_len) (the CONNECT or CONNACK a stream must start with, or nothing
 * when pkt is that packet). v presets the version of an S2C stream (0: not).
 * Fed whole, then byte by byte: both must give the same events; r keeps the
 * whole run's events of pkt only.
 */
static void read_back(enum mqtt_dir dir, enum mqtt_version v, const uint8_t *first,
                      size_t first_len, const uint8_t *pkt, size_t len, struct readback *r)
{
        static const size_t steps[] = {0, 1};
        struct readback skip = {0}, again = {0};

        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
                struct readback *out = s ? &again : r;
                struct mqtt_parser p;

                mqtt_parser__init(&p, dir, NULL);
                if (dir == MQTT_DIR_S2C && v)
                        mqtt_parser__set_version(&p, v);
                if (first_len) {
                        feed(&p, first, first_len, 0, &skip);
                        readback__fini(&skip);
                }
                memset(out, 0, sizeof(*out));
                feed(&p, pkt, len, steps[s], out);
                assert_true(mqtt_parser__at_boundary(&p));
                assert_int_equal(mqtt_parser__offset(&p), first_len + len);
                mqtt_parser__fini(&p);
        }
        assert_int_equal(again.n, r->n);
        for (size_t i = 0; i < r->n; i++) {
                assert_int_equal(again.ev[i].type, r->ev[i].type);
                assert_int_equal(again.ev[i].pkt_len, r->ev[i].pkt_len);
        }
        assert_int_equal(again.cid_len, r->cid_len);
        if (r->cid_len)
                assert_memory_equal(again.cid, r->cid, r->cid_len);
        readback__fini(&again);
}

/* The first packets of a stream, for reading what may only follow them. */
static const uint8_t connect_v311[] = {0x10, 0x0d, 0x00, 0x04, 'M',  'Q',  'T', 'T',
                                       0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 'c'};
static const uint8_t connect_v5[] = {0x10, 0x0e, 0x00, 0x04, 'M',  'Q',  'T',  'T',
                                     0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x01, 'c'};
static const uint8_t connack_v311[] = {0x20, 0x02, 0x00, 0x00};
static const uint8_t connack_v5[] = {0x20, 0x03, 0x00, 0x00, 0x00};

/*
 * Every cap below the packet's length gives 0 and writes nothing; its own
 * length gives the same bytes again. enc re-runs the encoder with a cap.
 */
typedef size_t (*encode_fn)(uint8_t *out, size_t cap, const void *arg);

static void check_caps(encode_fn enc, const void *arg, const uint8_t *want, size_t len)
{
        uint8_t *buf = malloc(len + 1);

        assert_non_null(buf);
        for (size_t cap = 0; cap < len; cap++) {
                memset(buf, 0xa5, len + 1);
                assert_int_equal(enc(buf, cap, arg), 0);
                for (size_t i = 0; i <= len; i++)
                        assert_int_equal(buf[i], 0xa5);
        }
        memset(buf, 0xa5, len + 1);
        assert_int_equal(enc(buf, len, arg), len);
        assert_memory_equal(buf, want, len);
        assert_int_equal(buf[len], 0xa5);
        free(buf);
}

/* ---- CONNACK ---- */

struct connack_args {
        enum mqtt_version v;
        bool sp;
        uint8_t code;
        const uint8_t *props;
        size_t props_len;
};

static size_t enc_connack(uint8_t *out, size_t cap, const void *arg)
{
        const struct connack_args *a = arg;

        return mqtt_encode__connack(out, cap, a->v, a->sp, a->code, a->props, a->props_len);
}

/* Encodes a, checks the bytes against want (when given) and every smaller
 * cap, reads it back and checks the CONNACK event; returns the event. */
static struct mqtt_event connack_round(const struct connack_args *a, const uint8_t *want,
                                       size_t want_len)
{
        size_t cap = MQTT_CONNACK_LEN_MAX(a->props_len);
        uint8_t *buf = malloc(cap);
        struct readback r = {0};
        struct mqtt_event ev;
        size_t len;

        assert_non_null(buf);
        len = mqtt_encode__connack(buf, cap, a->v, a->sp, a->code, a->props, a->props_len);
        assert_true(len > 0);
        if (want) {
                assert_int_equal(len, want_len);
                assert_memory_equal(buf, want, len);
        }
        if (len < 4096)
                check_caps(enc_connack, a, buf, len);
        read_back(MQTT_DIR_S2C, a->v, NULL, 0, buf, len, &r);
        assert_int_equal(r.n, 1);
        ev = r.ev[0];
        assert_int_equal(ev.type, MQTT_EV_CONNACK);
        assert_int_equal(ev.pkt_type, MQTT_CONNACK);
        assert_int_equal(ev.pkt_len, len);
        assert_int_equal(ev.connack.session_present, a->sp);
        assert_int_equal(ev.connack.code, a->code);
        /* a 3.x CONNACK is also what an unset S2C stream reads as 3.1.1 */
        if (a->v != MQTT_V5) {
                readback__fini(&r);
                read_back(MQTT_DIR_S2C, MQTT_V_UNKNOWN, NULL, 0, buf, len, &r);
                assert_int_equal(r.ev[0].connack.code, a->code);
        }
        readback__fini(&r);
        free(buf);
        return ev;
}

static void test_connack_bytes(void **state)
{
        (void)state;
        /* 3.1.1 §3.2: 20 02, Connect Acknowledge Flags, Return Code */
        connack_round(&(struct connack_args){MQTT_V311, false, MQTT_V3_RC_ACCEPTED, NULL, 0},
                      (const uint8_t[]){0x20, 0x02, 0x00, 0x00}, 4);
        connack_round(&(struct connack_args){MQTT_V311, false, MQTT_V3_RC_NOT_AUTHORIZED, NULL, 0},
                      (const uint8_t[]){0x20, 0x02, 0x00, 0x05}, 4);
        connack_round(&(struct connack_args){MQTT_V311, true, MQTT_V3_RC_ACCEPTED, NULL, 0},
                      (const uint8_t[]){0x20, 0x02, 0x01, 0x00}, 4);
        connack_round(
            &(struct connack_args){MQTT_V31, false, MQTT_V3_RC_SERVER_UNAVAILABLE, NULL, 0},
            (const uint8_t[]){0x20, 0x02, 0x00, 0x03}, 4);
        /* 5.0 §3.2: then a Property Length, 0 here */
        connack_round(&(struct connack_args){MQTT_V5, false, MQTT_RC_SUCCESS, NULL, 0},
                      (const uint8_t[]){0x20, 0x03, 0x00, 0x00, 0x00}, 5);
        connack_round(&(struct connack_args){MQTT_V5, false, MQTT_RC_NOT_AUTHORIZED, NULL, 0},
                      (const uint8_t[]){0x20, 0x03, 0x00, 0x87, 0x00}, 5);
        connack_round(&(struct connack_args){MQTT_V5, true, MQTT_RC_SERVER_BUSY, NULL, 0},
                      (const uint8_t[]){0x20, 0x03, 0x01, 0x89, 0x00}, 5);
        /* Topic Alias Maximum (0x22) 10 */
        connack_round(&(struct connack_args){MQTT_V5, false, MQTT_RC_SUCCESS,
                                             (const uint8_t[]){0x22, 0x00, 0x0a}, 3},
                      (const uint8_t[]){0x20, 0x06, 0x00, 0x00, 0x03, 0x22, 0x00, 0x0a}, 8);
}

static void test_connack_codes(void **state)
{
        static const uint8_t v5_codes[] = {
            MQTT_RC_SUCCESS,
            MQTT_RC_UNSPECIFIED_ERROR,
            MQTT_RC_MALFORMED_PACKET,
            MQTT_RC_PROTOCOL_ERROR,
            MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR,
            MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION,
            MQTT_RC_CLIENT_ID_NOT_VALID,
            MQTT_RC_BAD_USER_NAME_OR_PASSWORD,
            MQTT_RC_NOT_AUTHORIZED,
            MQTT_RC_SERVER_UNAVAILABLE,
            MQTT_RC_SERVER_BUSY,
            MQTT_RC_BANNED,
            MQTT_RC_BAD_AUTHENTICATION_METHOD,
            MQTT_RC_TOPIC_NAME_INVALID,
            MQTT_RC_PACKET_TOO_LARGE,
            MQTT_RC_QUOTA_EXCEEDED,
            MQTT_RC_PAYLOAD_FORMAT_INVALID,
            MQTT_RC_RETAIN_NOT_SUPPORTED,
            MQTT_RC_QOS_NOT_SUPPORTED,
            MQTT_RC_USE_ANOTHER_SERVER,
            MQTT_RC_SERVER_MOVED,
            MQTT_RC_CONNECTION_RATE_EXCEEDED,
        };

        (void)state;
        for (int sp = 0; sp < 2; sp++) {
                for (size_t i = 0; i < sizeof(v5_codes); i++) {
                        connack_round(&(struct connack_args){MQTT_V5, sp, v5_codes[i], NULL, 0},
                                      NULL, 0);
                        assert_string_not_equal(mqtt_reason__str(v5_codes[i], MQTT_V5), "?");
                }
                for (uint8_t code = MQTT_V3_RC_ACCEPTED; code <= MQTT_V3_RC_NOT_AUTHORIZED;
                     code++) {
                        connack_round(&(struct connack_args){MQTT_V311, sp, code, NULL, 0}, NULL,
                                      0);
                        connack_round(&(struct connack_args){MQTT_V31, sp, code, NULL, 0}, NULL, 0);
                        assert_string_not_equal(mqtt_reason__str(code, MQTT_V311), "?");
                }
        }
}

/* What core/lb/lb_bind.c wrote for its own CONNACK before the encoder: the
 * brokers' capabilities as properties, read back as those capabilities. */
static void test_connack_caps(void **state)
{
        const struct mqtt_caps caps = {
            .present = MQTT_HAS_TOPIC_ALIAS_MAX | MQTT_HAS_RECEIVE_MAX | MQTT_HAS_MAX_PACKET |
                       MQTT_HAS_MAX_QOS | MQTT_HAS_RETAIN_AVAIL | MQTT_HAS_WILDCARD_AVAIL |
                       MQTT_HAS_SHARED_AVAIL,
            .topic_alias_max = 0x0102,
            .receive_max = 0x0304,
            .max_packet = 0x05060708,
            .max_qos = 1,
            .retain_avail = 0,
            .wildcard_avail = 0,
            .shared_avail = 0,
        };
        uint8_t props[MQTT_CAPS_PROPS_MAX], old[5 + MQTT_CAPS_PROPS_MAX];
        size_t n = mqtt_caps__props(&caps, props);
        struct mqtt_event ev;

        (void)state;
        assert_int_equal(n, 19); /* every property mqtt_caps__props writes */
        old[0] = 0x20, old[1] = (uint8_t)(3 + n), old[2] = 0, old[3] = 0, old[4] = (uint8_t)n;
        memcpy(old + 5, props, n);
        ev = connack_round(&(struct connack_args){MQTT_V5, false, MQTT_RC_SUCCESS, props, n}, old,
                           5 + n);
        assert_int_equal(ev.connack.caps.present, caps.present);
        assert_int_equal(ev.connack.caps.topic_alias_max, caps.topic_alias_max);
        assert_int_equal(ev.connack.caps.receive_max, caps.receive_max);
        assert_int_equal(ev.connack.caps.max_packet, caps.max_packet);
        assert_int_equal(ev.connack.caps.max_qos, caps.max_qos);
        assert_int_equal(ev.connack.caps.retain_avail, caps.retain_avail);
        assert_int_equal(ev.connack.caps.wildcard_avail, caps.wildcard_avail);
        assert_int_equal(ev.connack.caps.shared_avail, caps.shared_avail);
}

/* A Reason String property (0x1F) of len bytes in all: valid in a CONNACK. */
static uint8_t *reason_string(size_t len)
{
        uint8_t *p = malloc(len);

        assert_non_null(p);
        assert_true(len >= 3 && len - 3 <= MQTT_MAX_STRING);
        p[0] = 0x1f;
        p[1] = (uint8_t)((len - 3) >> 8);
        p[2] = (uint8_t)(len - 3);
        memset(p + 3, 'r', len - 3);
        return p;
}

static void test_connack_edges(void **state)
{
        uint8_t buf[64], *props;
        size_t len;

        (void)state;
        /* no properties before 5.0; no version, no packet */
        assert_int_equal(mqtt_encode__connack(buf, sizeof(buf), MQTT_V311, false, 0,
                                              (const uint8_t[]){0x22, 0, 1}, 3),
                         0);
        assert_int_equal(mqtt_encode__connack(buf, sizeof(buf), MQTT_V_UNKNOWN, false, 0, NULL, 0),
                         0);

        /* the longest properties that fit 64 bytes: 64 - 20 03+ 00 00 3b */
        props = reason_string(59);
        len = mqtt_encode__connack(buf, sizeof(buf), MQTT_V5, false, 0, props, 59);
        assert_int_equal(len, 64);
        assert_memory_equal(buf, ((const uint8_t[]){0x20, 62, 0x00, 0x00, 59}), 5);
        connack_round(&(struct connack_args){MQTT_V5, false, MQTT_RC_SUCCESS, props, 59}, buf, len);
        free(props);
        props = reason_string(60);
        assert_int_equal(mqtt_encode__connack(buf, sizeof(buf), MQTT_V5, false, 0, props, 60), 0);
        free(props);

        /* 127 bytes of properties (the first 127 of a 128-byte Reason String,
         * not read back): the remaining length takes two bytes; 128: the
         * property length too (5.0 §1.5.5) */
        props = reason_string(128);
        {
                uint8_t big[MQTT_CONNACK_LEN_MAX(128)];

                len = mqtt_encode__connack(big, sizeof(big), MQTT_V5, true, 0x80, props, 127);
                assert_int_equal(len, 1 + 2 + 2 + 1 + 127);
                assert_memory_equal(big, ((const uint8_t[]){0x20, 0x82, 0x01, 0x01, 0x80, 127}), 6);
                len = mqtt_encode__connack(big, sizeof(big), MQTT_V5, true, 0x80, props, 128);
                assert_int_equal(len, 1 + 2 + 2 + 2 + 128);
                assert_memory_equal(
                    big, ((const uint8_t[]){0x20, 0x84, 0x01, 0x01, 0x80, 0x80, 0x01}), 7);
                connack_round(&(struct connack_args){MQTT_V5, true, 0x80, props, 128}, big, len);
        }
        free(props);

        /* the largest remaining length there is, and one more */
        assert_int_equal(
            mqtt_encode__connack(buf, sizeof(buf), MQTT_V5, false, 0, buf, MQTT_MAX_REMAINING - 6),
            0); /* fits the protocol, not 64 bytes */
        assert_int_equal(
            mqtt_encode__connack(buf, SIZE_MAX, MQTT_V5, false, 0, buf, MQTT_MAX_REMAINING - 5), 0);
        assert_int_equal(
            mqtt_encode__connack(buf, SIZE_MAX, MQTT_V5, false, 0, buf, (size_t)UINT32_MAX + 1), 0);
}

/* ---- DISCONNECT ---- */

struct disconnect_args {
        enum mqtt_version v;
        uint8_t reason;
};

static size_t enc_disconnect(uint8_t *out, size_t cap, const void *arg)
{
        const struct disconnect_args *a = arg;

        return mqtt_encode__disconnect(out, cap, a->v, a->reason);
}

static void disconnect_round(enum mqtt_version v, uint8_t reason, const uint8_t *want,
                             size_t want_len)
{
        uint8_t buf[MQTT_DISCONNECT_LEN_MAX];
        size_t len = mqtt_encode__disconnect(buf, sizeof(buf), v, reason);
        struct disconnect_args a = {v, reason};
        struct readback r = {0};

        assert_int_equal(len, want_len);
        assert_memory_equal(buf, want, len);
        check_caps(enc_disconnect, &a, buf, len);

        /* from the server: 5.0 only (3.1.1 §3.14: a client's packet) */
        if (v == MQTT_V5) {
                read_back(MQTT_DIR_S2C, v, connack_v5, sizeof(connack_v5), buf, len, &r);
                assert_int_equal(r.n, 1);
                assert_int_equal(r.ev[0].type, MQTT_EV_DISCONNECT);
                assert_int_equal(r.ev[0].pkt_type, MQTT_DISCONNECT);
                assert_int_equal(r.ev[0].disconnect.code, reason);
                assert_int_equal(r.ev[0].disconnect.present, reason ? MQTT_HAS_REASON_CODE : 0);
                readback__fini(&r);
        }
        /* from a client, as the health checker sends it */
        if (v == MQTT_V5)
                read_back(MQTT_DIR_C2S, 0, connect_v5, sizeof(connect_v5), buf, len, &r);
        else
                read_back(MQTT_DIR_C2S, 0, connect_v311, sizeof(connect_v311), buf, len, &r);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].type, MQTT_EV_DISCONNECT);
        assert_int_equal(r.ev[0].disconnect.code, v == MQTT_V5 ? reason : 0);
        readback__fini(&r);
}

static void test_disconnect(void **state)
{
        uint8_t buf[8];

        (void)state;
        /* 5.0 §3.14: E0, remaining length 1, the reason code */
        disconnect_round(MQTT_V5, MQTT_RC_SERVER_BUSY, (const uint8_t[]){0xe0, 0x01, 0x89}, 3);
        disconnect_round(MQTT_V5, MQTT_RC_MALFORMED_PACKET, (const uint8_t[]){0xe0, 0x01, 0x81}, 3);
        disconnect_round(MQTT_V5, MQTT_RC_NOT_AUTHORIZED, (const uint8_t[]){0xe0, 0x01, 0x87}, 3);
        /* 5.0 §3.14.2.1: Normal disconnection may be left out */
        disconnect_round(MQTT_V5, MQTT_RC_NORMAL_DISCONNECTION, (const uint8_t[]){0xe0, 0x00}, 2);
        /* 3.1.1 §3.14: E0 00, whatever the reason */
        disconnect_round(MQTT_V311, MQTT_RC_NORMAL_DISCONNECTION, (const uint8_t[]){0xe0, 0x00}, 2);
        disconnect_round(MQTT_V311, MQTT_RC_SERVER_BUSY, (const uint8_t[]){0xe0, 0x00}, 2);
        disconnect_round(MQTT_V31, MQTT_RC_SERVER_BUSY, (const uint8_t[]){0xe0, 0x00}, 2);
        assert_int_equal(mqtt_encode__disconnect(buf, sizeof(buf), MQTT_V_UNKNOWN, 0), 0);
}

/* ---- PINGREQ, PINGRESP ---- */

static size_t enc_pingreq(uint8_t *out, size_t cap, const void *arg)
{
        (void)arg;
        return mqtt_encode__pingreq(out, cap);
}

static size_t enc_pingresp(uint8_t *out, size_t cap, const void *arg)
{
        (void)arg;
        return mqtt_encode__pingresp(out, cap);
}

static void test_ping(void **state)
{
        static const uint8_t req[] = {0xc0, 0x00}, resp[] = {0xd0, 0x00}; /* §3.12, §3.13 */
        uint8_t buf[MQTT_PING_LEN];
        struct readback r = {0};

        (void)state;
        check_caps(enc_pingreq, NULL, req, sizeof(req));
        check_caps(enc_pingresp, NULL, resp, sizeof(resp));

        assert_int_equal(mqtt_encode__pingresp(buf, sizeof(buf)), MQTT_PING_LEN);
        read_back(MQTT_DIR_S2C, MQTT_V311, connack_v311, sizeof(connack_v311), buf, MQTT_PING_LEN,
                  &r);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].type, MQTT_EV_PINGRESP);
        readback__fini(&r);
        read_back(MQTT_DIR_S2C, MQTT_V5, connack_v5, sizeof(connack_v5), buf, MQTT_PING_LEN, &r);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].type, MQTT_EV_PINGRESP);
        readback__fini(&r);

        assert_int_equal(mqtt_encode__pingreq(buf, sizeof(buf)), MQTT_PING_LEN);
        read_back(MQTT_DIR_C2S, 0, connect_v311, sizeof(connect_v311), buf, MQTT_PING_LEN, &r);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].type, MQTT_EV_PINGREQ);
        readback__fini(&r);
        read_back(MQTT_DIR_C2S, 0, connect_v5, sizeof(connect_v5), buf, MQTT_PING_LEN, &r);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].type, MQTT_EV_PINGREQ);
        readback__fini(&r);
}

/* ---- CONNECT ---- */

struct connect_args {
        enum mqtt_version v;
        bool clean;
        uint16_t keepalive;
        const uint8_t *id;
        size_t id_len;
};

static size_t enc_connect(uint8_t *out, size_t cap, const void *arg)
{
        const struct connect_args *a = arg;

        return mqtt_encode__connect(out, cap, a->v, a->clean, a->keepalive, a->id, a->id_len);
}

static void connect_round(const struct connect_args *a, const uint8_t *want, size_t want_len)
{
        size_t cap = MQTT_CONNECT_LEN_MAX(a->id_len), len;
        uint8_t *buf = malloc(cap);
        struct readback r = {0};

        assert_non_null(buf);
        len = mqtt_encode__connect(buf, cap, a->v, a->clean, a->keepalive, a->id, a->id_len);
        assert_true(len > 0);
        if (want) {
                assert_int_equal(len, want_len);
                assert_memory_equal(buf, want, len);
        }
        if (len < 4096)
                check_caps(enc_connect, a, buf, len);
        else /* one byte short only: every cap would take a while */
                assert_int_equal(enc_connect(buf, len - 1, a), 0);

        read_back(MQTT_DIR_C2S, 0, NULL, 0, buf, len, &r);
        assert_int_equal(r.n, 3);
        assert_int_equal(r.ev[0].type, MQTT_EV_CONNECT);
        assert_int_equal(r.ev[0].pkt_type, MQTT_CONNECT);
        assert_int_equal(r.ev[0].pkt_len, len);
        assert_int_equal(r.ev[0].connect.version, a->v);
        assert_int_equal(r.ev[0].connect.flags, a->clean ? MQTT_CONNECT_CLEAN : 0);
        assert_int_equal(r.ev[0].connect.keepalive, a->keepalive);
        assert_int_equal(r.ev[0].connect.props.present, 0);
        assert_int_equal(r.ev[1].type, MQTT_EV_CLIENT_ID);
        assert_int_equal(r.cid_len, a->id_len);
        if (a->id_len)
                assert_memory_equal(r.cid, a->id, a->id_len);
        assert_int_equal(r.ev[2].type, MQTT_EV_CONNECT_END);
        readback__fini(&r);
        free(buf);
}

/* What core/control/health.c's build_connect wrote by hand before the encoder. */
static size_t health_connect_by_hand(uint8_t *out, uint8_t version, const char *id)
{
        size_t idlen = strlen(id);
        uint8_t *p = out;

        *p++ = MQTT_CONNECT << 4;
        *p++ = (uint8_t)(10 + (version == MQTT_V5) + 2 + idlen);
        *p++ = 0, *p++ = 4;
        memcpy(p, "MQTT", 4), p += 4;
        *p++ = version;
        *p++ = MQTT_CONNECT_CLEAN;
        *p++ = 0, *p++ = 60;
        if (version == MQTT_V5)
                *p++ = 0;
        *p++ = 0, *p++ = (uint8_t)idlen;
        memcpy(p, id, idlen), p += idlen;
        return (size_t)(p - out);
}

static void test_connect_bytes(void **state)
{
        static const char *const ids[] = {"mqttlb-health-1-0",
                                          "mqttlb-health--2147483648-4294967295"};
        uint8_t old[64];

        (void)state;
        /* 3.1.1 §3.1.2: 00 04 'MQTT' 04, flags, keep alive; §3.1.3: the id */
        connect_round(&(struct connect_args){MQTT_V311, true, 60, (const uint8_t *)"c", 1},
                      connect_v311, sizeof(connect_v311));
        /* 5.0 §3.1.2.11: a property length after the keep alive */
        connect_round(&(struct connect_args){MQTT_V5, true, 60, (const uint8_t *)"c", 1},
                      connect_v5, sizeof(connect_v5));
        /* 3.1: "MQIsdp", level 3 */
        connect_round(&(struct connect_args){MQTT_V31, true, 10, (const uint8_t *)"c", 1},
                      (const uint8_t[]){0x10, 0x0f, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03,
                                        0x02, 0x00, 0x0a, 0x00, 0x01, 'c'},
                      17);
        /* 3.1.1 §3.1.2.10's example: keep alive 10 (flags 0 here, no will/user) */
        connect_round(&(struct connect_args){MQTT_V311, false, 10, (const uint8_t *)"c", 1},
                      (const uint8_t[]){0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00,
                                        0x00, 0x0a, 0x00, 0x01, 'c'},
                      15);
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
                for (uint8_t v = MQTT_V311; v <= MQTT_V5; v++) {
                        size_t n = health_connect_by_hand(old, v, ids[i]);

                        connect_round(&(struct connect_args){v, true, 60, (const uint8_t *)ids[i],
                                                             strlen(ids[i])},
                                      old, n);
                }
}

static void test_connect_edges(void **state)
{
        static const enum mqtt_version versions[] = {MQTT_V31, MQTT_V311, MQTT_V5};
        uint8_t *id = malloc(MQTT_MAX_STRING + 1), buf[64];

        (void)state;
        assert_non_null(id);
        for (size_t i = 0; i <= MQTT_MAX_STRING; i++)
                id[i] = (uint8_t)('a' + i % 26);
        for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
                for (uint16_t ka = 0; ka < 2; ka++) {
                        uint16_t keepalive = ka ? UINT16_MAX : 0;

                        /* an empty id: the server's call (3.1.1 §3.1.3.1) */
                        connect_round(&(struct connect_args){versions[i], true, keepalive, id, 0},
                                      NULL, 0);
                        connect_round(&(struct connect_args){versions[i], false, keepalive, id,
                                                             MQTT_MAX_STRING},
                                      NULL, 0);
                }
                /* 127 and 128 bytes of remaining length around the id */
                for (size_t n = 100; n < 140; n++)
                        connect_round(&(struct connect_args){versions[i], true, 60, id, n}, NULL,
                                      0);
        }
        /* the longest id has a three-byte remaining length: 12 + 65,535 */
        {
                size_t cap = MQTT_CONNECT_LEN_MAX(MQTT_MAX_STRING);
                uint8_t *big = malloc(cap);

                assert_non_null(big);
                assert_int_equal(
                    mqtt_encode__connect(big, cap, MQTT_V311, true, 60, id, MQTT_MAX_STRING),
                    1 + 3 + 12 + MQTT_MAX_STRING);
                assert_memory_equal(big, ((const uint8_t[]){0x10, 0x8b, 0x80, 0x04}), 4);
                assert_int_equal(
                    mqtt_encode__connect(big, cap, MQTT_V311, true, 60, id, MQTT_MAX_STRING + 1),
                    0);
                free(big);
        }
        assert_int_equal(mqtt_encode__connect(buf, sizeof(buf), MQTT_V_UNKNOWN, true, 60, id, 1),
                         0);
        free(id);
}

/* ---- names ---- */

static void test_reason_str(void **state)
{
        (void)state;
        assert_string_equal(mqtt_reason__str(MQTT_RC_SUCCESS, MQTT_V5), "Success");
        assert_string_equal(mqtt_reason__str(MQTT_RC_NOT_AUTHORIZED, MQTT_V5), "Not authorized");
        assert_string_equal(mqtt_reason__str(MQTT_RC_SERVER_BUSY, MQTT_V5), "Server busy");
        assert_string_equal(mqtt_reason__str(0x8B, MQTT_V5), "?"); /* DISCONNECT only */
        assert_string_equal(mqtt_reason__str(0x01, MQTT_V5), "?");
        assert_string_equal(mqtt_reason__str(MQTT_V3_RC_ACCEPTED, MQTT_V311),
                            "Connection Accepted");
        assert_string_equal(mqtt_reason__str(MQTT_V3_RC_NOT_AUTHORIZED, MQTT_V311),
                            "Not authorized");
        assert_string_equal(mqtt_reason__str(MQTT_V3_RC_UNACCEPTABLE_PROTOCOL_VERSION, MQTT_V31),
                            "Unacceptable protocol version");
        assert_string_equal(mqtt_reason__str(6, MQTT_V311), "?");
        assert_string_equal(mqtt_reason__str(MQTT_RC_NOT_AUTHORIZED, MQTT_V311), "?");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_connack_bytes), cmocka_unit_test(test_connack_codes),
            cmocka_unit_test(test_connack_caps),  cmocka_unit_test(test_connack_edges),
            cmocka_unit_test(test_disconnect),    cmocka_unit_test(test_ping),
            cmocka_unit_test(test_connect_bytes), cmocka_unit_test(test_connect_edges),
            cmocka_unit_test(test_reason_str),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
