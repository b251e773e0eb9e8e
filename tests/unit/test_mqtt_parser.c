/*
 * The MQTT stream parser against the fixture table (mqtt_fixtures.h): every
 * fixture fed whole, against a guard page, byte by byte, split in two at
 * every offset and in three at a sample of offset pairs, each piece in its
 * own exactly-sized heap buffer freed as soon as the parser returns; the log
 * must be the same every time. Then what a table cannot say: error
 * stickiness and reset, huge property lists, 64 KiB topics in MSS-sized
 * segments, the reassembly buffer's growth, and topic aliases.
 *
 * Fixtures named regress_* are the parser bugs these tests found (fixed
 * since); they stay as regression tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mqtt_fixtures.h"

/*
 * Every test runs in a child process (run_isolated): a sanitizer report
 * aborts the child, and the parent reports that test as failed and goes on
 * with the next, so one parser bug does not hide the rest. Checks therefore
 * do not use cmocka's asserts (their longjmp would land in the child's copy
 * of the runner): a failed check prints and exits the child.
 */
static unsigned long *checks; /* shared with the children */

static void check_failed(const char *file, int line, const char *what)
{
        print_error("%s:%d: %s\n", file, line, what);
        fflush(NULL);
        _exit(1);
}

#define CHECK(cond)                                                         \
        do {                                                                \
                (*checks)++;                                                \
                if (!(cond))                                                \
                        check_failed(__FILE__, __LINE__, "failed: " #cond); \
        } while (0)
#define CHECK_INT(a, b)                                                                     \
        do {                                                                                \
                long long a_ = (long long)(a), b_ = (long long)(b);                         \
                char m_[160];                                                               \
                (*checks)++;                                                                \
                if (a_ != b_) {                                                             \
                        snprintf(m_, sizeof(m_), "%s == %s: %lld != %lld", #a, #b, a_, b_); \
                        check_failed(__FILE__, __LINE__, m_);                               \
                }                                                                           \
        } while (0)

/* ---- running a fixture ---- */

static void expect_log(const struct fx *f, const char *mode, const char *want, const char *got)
{
        (*checks)++;
        if (strcmp(want, got) == 0)
                return;
        print_error("fixture %s, fed %s\n--- expected\n%s--- got\n%s---\n", f->name, mode, want,
                    got);
        fflush(NULL);
        _exit(1);
}

/* Fed in pieces that end at cuts[0] < cuts[1] < ... < len. */
static void run_cuts(const struct fx *f, const uint8_t *data, size_t len, const size_t *cuts,
                     size_t ncuts, const char *want, const char *mode)
{
        struct fx_run r;
        size_t at = 0;

        fx_run_init(&r, f);
        for (size_t i = 0; i <= ncuts && at < len; i++) {
                size_t end = i < ncuts ? cuts[i] : len;

                if (!fx_run_piece(&r, data + at, end - at))
                        break;
                at = end;
        }
        expect_log(f, mode, want, fx_run_end(&r));
        fx_sb_free(&r.log);
}

/* Whole, with the last byte right before a PROT_NONE page (picohttpparser). */
static void run_guarded(const struct fx *f, const uint8_t *data, size_t len, const char *want)
{
        size_t pg = (size_t)sysconf(_SC_PAGESIZE), pages = (len + pg - 1) / pg + 1;
        uint8_t *m = mmap(NULL, (pages + 1) * pg, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        CHECK(m != MAP_FAILED);
        CHECK_INT(mprotect(m + pages * pg, pg, PROT_NONE), 0);
        uint8_t *at = m + pages * pg - len;
        struct fx_run r;

        memcpy(at, data, len);
        fx_run_init(&r, f);
        fx_run_view(&r, at, len);
        expect_log(f, "against a guard page", want, fx_run_end(&r));
        fx_sb_free(&r.log);
        munmap(m, (pages + 1) * pg);
}

/* After the fixture's error: sticky until reset, then a valid stream parses. */
static void check_reset(const struct fx *f, const uint8_t *data, size_t len)
{
        static const uint8_t c2s[] = {0x10, 0x0e, 0x00, 0x04, 'M',  'Q',  'T', 'T',  0x05,
                                      0x02, 0x00, 0x3c, 0x00, 0x00, 0x01, 'c', 0xc0, 0x00};
        static const uint8_t s2c[] = {0x20, 0x03, 0x00, 0x00, 0x00, 0xd0, 0x00};
        struct fx_run r;
        struct mqtt_event ev;
        size_t used;

        fx_run_init(&r, f);
        r.offsets = false;
        fx_run_piece(&r, data, len);
        CHECK_INT(r.err, f->err);
        for (int i = 0; i < 3; i++) {
                used = 99;
                CHECK_INT(mqtt_parser__feed(&r.p, s2c, sizeof(s2c), &used, &ev), MQTT_ERROR);
                CHECK_INT(used, 0);
                CHECK_INT(mqtt_parser__error(&r.p), f->err);
        }
        mqtt_parser__reset(&r.p);
        CHECK_INT(mqtt_parser__error(&r.p), MQTT_OK);
        CHECK_INT(mqtt_parser__offset(&r.p), 0);
        CHECK(mqtt_parser__at_boundary(&r.p));
        fx_sb_free(&r.log);
        r.err = MQTT_OK;
        r.fed = r.consumed = 0;
        if (f->dir == MQTT_DIR_C2S) {
                fx_run_piece(&r, c2s, sizeof(c2s));
                expect_log(f, "after reset", LOG5 "PINGREQ\n", fx_run_end(&r));
        } else {
                fx_run_piece(&r, s2c, sizeof(s2c));
                expect_log(f, "after reset", LOGACK "PINGRESP\n", fx_run_end(&r));
        }
        fx_sb_free(&r.log);
}

static uint32_t lcg(uint32_t *s)
{
        *s = *s * 1103515245u + 12345u;
        return *s >> 8;
}

static void test_fixture(void **state)
{
        const struct fx *f = *state;

        uint8_t *data;
        size_t len = fx_unhex(f->hex, &data);
        struct fx_sb want = {0};
        char mode[64];

        if (len == (size_t)-1)
                check_failed(__FILE__, __LINE__, f->name);
        fx_expected(f, &want);
        const char *w = fx_sb_str(&want);

        run_cuts(f, data, len, NULL, 0, w, "whole");
        run_guarded(f, data, len, w);

        size_t *cuts = malloc((len + 1) * sizeof(*cuts));

        CHECK(cuts);
        for (size_t i = 1; i < len; i++)
                cuts[i - 1] = i;
        run_cuts(f, data, len, cuts, len ? len - 1 : 0, w, "byte by byte");
        for (size_t i = 1; i < len; i++) {
                snprintf(mode, sizeof(mode), "split at %zu", i);
                run_cuts(f, data, len, &i, 1, w, mode);
        }
        /* three pieces: every pair for short fixtures, a sample for long ones */
        if (len >= 3) {
                uint32_t seed = (uint32_t)len;
                size_t npairs = (len - 1) * (len - 2) / 2;
                bool all = npairs <= 600;

                for (size_t k = 0, i = 1, j = 2; k < (all ? npairs : 300); k++) {
                        size_t c[2];

                        if (all) {
                                c[0] = i;
                                c[1] = j;
                                if (++j == len) {
                                        i++;
                                        j = i + 1;
                                }
                        } else {
                                c[0] = 1 + lcg(&seed) % (len - 2);
                                c[1] = c[0] + 1 + lcg(&seed) % (len - 1 - c[0]);
                        }
                        snprintf(mode, sizeof(mode), "split at %zu and %zu", c[0], c[1]);
                        run_cuts(f, data, len, c, 2, w, mode);
                }
        }
        if (f->err != MQTT_OK)
                check_reset(f, data, len);
        free(cuts);
        free(data);
        fx_sb_free(&want);
}

/* ---- helpers for the generated streams ---- */

struct bytes {
        uint8_t *b;
        size_t len, cap;
};

static void put(struct bytes *s, const void *p, size_t n)
{
        if (!n)
                return;
        if (s->len + n > s->cap) {
                size_t cap = s->cap ? s->cap : 1024;

                while (cap < s->len + n)
                        cap *= 2;
                s->b = realloc(s->b, cap);
                CHECK(s->b);
                s->cap = cap;
        }
        memcpy(s->b + s->len, p, n);
        s->len += n;
}

static void put_u8(struct bytes *s, uint8_t v)
{
        put(s, &v, 1);
}

static void put_u16(struct bytes *s, uint16_t v)
{
        put_u8(s, (uint8_t)(v >> 8));
        put_u8(s, (uint8_t)v);
}

static void put_varint(struct bytes *s, uint32_t v)
{
        do {
                uint8_t b = v & 0x7f;

                v >>= 7;
                put_u8(s, (uint8_t)(b | (v ? 0x80 : 0)));
        } while (v);
}

static void put_hex(struct bytes *s, const char *hex)
{
        uint8_t *b;
        size_t n = fx_unhex(hex, &b);

        CHECK(n != (size_t)-1);
        put(s, b, n);
        free(b);
}

/* A packet: type byte, remaining length, body. */
static void put_packet(struct bytes *s, uint8_t type, const struct bytes *body)
{
        put_u8(s, type);
        put_varint(s, (uint32_t)body->len);
        put(s, body->b, body->len);
}

static size_t pow2ceil(size_t n)
{
        size_t p = 1;

        while (p < n)
                p *= 2;
        return p;
}

/* A topic of n bytes: ASCII levels of 15 characters, one 'é' near the middle. */
static uint8_t *make_topic(size_t n)
{
        uint8_t *t = malloc(n);

        CHECK(t);
        for (size_t i = 0; i < n; i++)
                t[i] = i % 16 == 15 ? '/' : (uint8_t)('a' + i % 26);
        if (n > 1002) {
                t[1000] = 0xc3;
                t[1001] = 0xa9;
        }
        return t;
}

static const struct fx C2S_FX = {.name = "generated"};
static const struct fx S2C5_FX = {.name = "generated", .dir = S2C, .version = 5};

/* ---- huge property lists ---- */

/* 20,000 User Properties in one CONNECT, fed in 1,400-byte segments: parsed,
 * and nothing kept, so the reassembly buffer stays at its first size. */
static void test_huge_user_properties(void **state)
{
        struct bytes props = {0}, body = {0}, s = {0};
        struct fx_run r;

        (void)state;
        for (unsigned i = 0; i < 20000; i++) {
                char k[64], v[64];
                int kl = snprintf(k, sizeof(k), "key-%u", i);
                int vl = snprintf(v, sizeof(v), "%.*s", (int)(i % 50),
                                  "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");

                put_u8(&props, 0x26);
                put_u16(&props, (uint16_t)kl);
                put(&props, k, (size_t)kl);
                put_u16(&props, (uint16_t)vl);
                put(&props, v, (size_t)vl);
        }
        put_hex(&body, "00 04 'MQTT' 05 02 00 3c");
        put_varint(&body, (uint32_t)props.len);
        put(&body, props.b, props.len);
        put_hex(&body, "00 01 'c'");
        put_packet(&s, 0x10, &body);
        put_hex(&s, "c0 00");
        CHECK(props.len > 20000 * 7);

        fx_run_init(&r, &C2S_FX);
        for (size_t at = 0; at < s.len; at += 1400) {
                size_t n = s.len - at < 1400 ? s.len - at : 1400;

                CHECK(fx_run_piece(&r, s.b + at, n));
                CHECK(r.p.buf_cap <= 256);
        }
        expect_log(&C2S_FX, "in 1400-byte segments", LOG5 "PINGREQ\n", fx_run_end(&r));
        fx_sb_free(&r.log);

        /* the same from a server: a PUBLISH with 20,000 Subscription Identifiers
         * (allowed more than once there) and as many User Properties */
        struct bytes p2 = {0}, b2 = {0}, s2 = {0};

        for (unsigned i = 0; i < 20000; i++) {
                put_u8(&p2, 0x0b);
                put_varint(&p2, 1 + (i * 13441u) % MQTT_MAX_REMAINING);
                put_hex(&p2, "26 00 01 'k' 00 02 'vv'");
        }
        put_hex(&s2, ACK5);
        put_hex(&b2, "00 03 'a/b' 00 07");
        put_varint(&b2, (uint32_t)p2.len);
        put(&b2, p2.b, p2.len);
        put_hex(&b2, "'payload'");
        put_packet(&s2, 0x32, &b2);
        fx_run_init(&r, &S2C5_FX);
        for (size_t at = 0; at < s2.len; at += 1400) {
                size_t n = s2.len - at < 1400 ? s2.len - at : 1400;

                CHECK(fx_run_piece(&r, s2.b + at, n));
                CHECK(r.p.buf_cap <= 256);
        }
        expect_log(&S2C5_FX, "in 1400-byte segments",
                   LOGACK "PUBLISH topic=\"a/b\" qos=1 id=7 retain=0 dup=0 alias=0 payload=7 "
                          "subid=1\n",
                   fx_run_end(&r));
        fx_sb_free(&r.log);
        free(props.b);
        free(body.b);
        free(s.b);
        free(p2.b);
        free(b2.b);
        free(s2.b);
}

/* ---- big topics ---- */

/*
 * CONNECT, then a PUBLISH with a topic of tlen bytes and a 3-byte payload,
 * then PINGREQ, fed in seg-byte pieces. The one PUBLISH event has exactly the
 * topic; the reassembly buffer never holds more than the topic bytes received
 * so far rounded up to a power of two (256 at least): it never grows by the
 * declared length.
 */
static void big_topic(size_t tlen, size_t seg, bool v5)
{
        uint8_t *topic = make_topic(tlen);
        struct bytes body = {0}, s = {0};
        struct fx_sb want = {0};
        struct fx_run r;

        put_hex(&s, v5 ? CON5 : CON311);
        put_u16(&body, (uint16_t)tlen);
        put(&body, topic, tlen);
        if (v5)
                put_u8(&body, 0);
        put_hex(&body, "'xyz'");
        put_packet(&s, 0x30, &body);
        put_hex(&s, "c0 00");
        size_t topic_at = s.len - 2 - body.len + 2; /* first topic byte */

        fx_sb_putf(&want, "%s", v5 ? LOG5 : LOG311);
        fx_sb_putf(&want, "PUBLISH topic=");
        fx_put_str(&want, (struct mqtt_str){topic, (uint32_t)tlen});
        fx_sb_putf(&want, " qos=0 id=0 retain=0 dup=0 alias=0 payload=3\nPINGREQ\n");

        fx_run_init(&r, &C2S_FX);
        for (size_t at = 0; at < s.len; at += seg) {
                size_t n = s.len - at < seg ? s.len - at : seg;

                CHECK(fx_run_piece(&r, s.b + at, n));
                size_t got = at + n > topic_at ? at + n - topic_at : 0;

                if (got > tlen)
                        got = tlen;
                size_t bound = pow2ceil(got) > 256 ? pow2ceil(got) : 256;

                if (r.p.buf_cap > bound || r.p.buf_cap > MQTT_MAX_STRING) {
                        char m[128];

                        snprintf(m, sizeof(m),
                                 "after %zu bytes (%zu of the topic) buf_cap %u > %zu", at + n, got,
                                 r.p.buf_cap, bound);
                        check_failed(__FILE__, __LINE__, m);
                }
                (*checks)++;
        }
        char mode[64];

        snprintf(mode, sizeof(mode), "%zu-byte topic in %zu-byte pieces", tlen, seg);
        expect_log(&C2S_FX, mode, fx_sb_str(&want), fx_run_end(&r));
        fx_sb_free(&r.log);
        fx_sb_free(&want);
        free(body.b);
        free(s.b);
        free(topic);
}

static void test_topic_65535_in_mss_segments(void **state)
{
        (void)state;
        big_topic(65535, 1448, false);
        big_topic(65535, 1448, true);
        big_topic(65535, 65536 + 512, false); /* one piece for the topic */
        big_topic(65535, 1000, true);
}

static void test_topic_4000_byte_by_byte(void **state)
{
        (void)state;
        big_topic(4000, 1, false);
        big_topic(4000, 1, true);
        big_topic(257, 1, false); /* just past the first buffer size */
        big_topic(256, 3, false);
}

/* A declared 65,535-byte topic of which 10 bytes arrived: the parser holds
 * those 10, in no more than its first few hundred bytes. */
static void test_declared_length_not_allocated(void **state)
{
        static const uint8_t head[] = {0x30, 0x8b, 0x80, 0x04, 0xff, 0xff};
        static const uint8_t ten[] = "0123456789";
        struct fx_run r;
        uint8_t *con;
        size_t clen = fx_unhex(CON311, &con);

        (void)state;
        fx_run_init(&r, &C2S_FX);
        CHECK(fx_run_piece(&r, con, clen));
        CHECK(fx_run_piece(&r, head, sizeof(head)));
        CHECK(r.p.buf_cap <= 256);
        CHECK(fx_run_piece(&r, ten, 10));
        CHECK(r.p.buf_cap > 0 && r.p.buf_cap <= 256);
        for (int i = 0; i < 10; i++) {
                CHECK(fx_run_piece(&r, ten + i, 1));
                CHECK(r.p.buf_cap <= 256);
        }
        CHECK(!mqtt_parser__at_boundary(&r.p));
        mqtt_parser__fini(&r.p);
        fx_sb_free(&r.log);

        /* the same in one piece with the header */
        uint8_t one[sizeof(head) + 10];

        memcpy(one, head, sizeof(head));
        memcpy(one + sizeof(head), ten, 10);
        fx_run_init(&r, &C2S_FX);
        CHECK(fx_run_piece(&r, con, clen));
        CHECK(fx_run_piece(&r, one, sizeof(one)));
        CHECK(r.p.buf_cap <= 256);
        mqtt_parser__fini(&r.p);
        fx_sb_free(&r.log);
        free(con);
}

/* A topic that arrives in one piece is a view into the input: no copy at all. */
static void test_whole_topic_zero_copy(void **state)
{
        uint8_t *topic = make_topic(65535);
        struct bytes body = {0}, s = {0};
        struct mqtt_parser p;
        struct mqtt_event ev;
        size_t used, at = 0;
        bool seen = false;

        (void)state;
        put_hex(&s, CON311);
        put_u16(&body, 65535);
        put(&body, topic, 65535);
        put_hex(&body, "'xyz'");
        put_packet(&s, 0x30, &body);
        mqtt_parser__init(&p, MQTT_DIR_C2S, NULL);
        for (;;) {
                enum mqtt_status st = mqtt_parser__feed(&p, s.b + at, s.len - at, &used, &ev);

                at += used;
                if (st != MQTT_EVENT)
                        break;
                if (ev.type == MQTT_EV_PUBLISH) {
                        CHECK(ev.publish.topic.ptr > s.b && ev.publish.topic.ptr < s.b + s.len);
                        CHECK_INT(ev.publish.topic.len, 65535);
                        CHECK(memcmp(ev.publish.topic.ptr, topic, 65535) == 0);
                        seen = true;
                }
        }
        CHECK(seen);
        CHECK_INT(at, s.len);
        CHECK_INT(p.buf_cap, 0);
        mqtt_parser__fini(&p);
        free(body.b);
        free(s.b);
        free(topic);
}

/* ---- topic aliases ---- */

static void alias_publish(struct bytes *s, const uint8_t *topic, size_t tlen, uint16_t alias)
{
        struct bytes body = {0};

        put_u16(&body, (uint16_t)tlen);
        put(&body, topic, tlen);
        put_u8(&body, 3);
        put_u8(&body, 0x23);
        put_u16(&body, alias);
        put_packet(s, 0x30, &body);
        free(body.b);
}

/* Feeds s whole and returns the log. */
static const char *feed_all(struct fx_run *r, const struct bytes *s)
{
        fx_run_piece(r, s->b, s->len);
        return fx_run_end(r);
}

/* The largest topic set as an alias, then used alone; a second one does not
 * fit in the default 65,536-byte arena: its topic is unknown, no error. */
static void test_alias_65535_topic(void **state)
{
        uint8_t *topic = make_topic(65535);
        struct bytes s = {0};
        struct fx_sb want = {0};
        struct fx_run r;
        static const struct fx f = {.name = "alias 65535", .alias_max = 2};

        (void)state;
        put_hex(&s, CON5);
        alias_publish(&s, topic, 65535, 1);
        alias_publish(&s, NULL, 0, 1);
        topic[0] = 'Z';
        alias_publish(&s, topic, 65535, 2);
        alias_publish(&s, NULL, 0, 2);
        alias_publish(&s, NULL, 0, 1);
        fx_sb_putf(&want, LOG5);
        for (int i = 0; i < 5; i++) {
                bool known = i != 3;

                topic[0] = i >= 2 && i <= 3 ? 'Z' : 'a';
                fx_sb_putf(&want, "PUBLISH topic=");
                fx_put_str(&want, (struct mqtt_str){topic, known ? 65535u : 0u});
                fx_sb_putf(&want, " qos=0 id=0 retain=0 dup=0 alias=%d payload=0%s%s\n",
                           i >= 2 && i <= 3 ? 2 : 1, i == 0 || i == 2 ? " set" : "",
                           known ? "" : " unknown");
        }
        fx_run_init(&r, &f);
        expect_log(&f, "whole", fx_sb_str(&want), feed_all(&r, &s));
        fx_sb_free(&r.log);
        fx_sb_free(&want);
        free(s.b);
        free(topic);
}

/* Many aliases in a small arena: the first ones are kept, the rest are
 * "set but unknown"; redefinitions free room that compaction reclaims. */
static void test_alias_arena_exhaustion(void **state)
{
        static const struct fx f = {
            .name = "alias arena", .alias_max = 100, .lim = {.alias_bytes = 64}};
        struct bytes s = {0};
        struct fx_sb want = {0};
        struct fx_run r;
        char t[32];

        (void)state;
        put_hex(&s, CON5);
        fx_sb_putf(&want, LOG5);
        for (int a = 1; a <= 100; a++) { /* "t/NNN" is 5 bytes */
                int n = snprintf(t, sizeof(t), "t/%03d", a);

                alias_publish(&s, (uint8_t *)t, (size_t)n, (uint16_t)a);
                fx_sb_putf(
                    &want,
                    "PUBLISH topic=\"%s\" qos=0 id=0 retain=0 dup=0 alias=%d payload=0 set\n", t,
                    a);
        }
        for (int a = 1; a <= 100; a++) { /* 64 / 5: aliases 1..12 kept */
                alias_publish(&s, NULL, 0, (uint16_t)a);
                snprintf(t, sizeof(t), "t/%03d", a);
                if (a <= 12)
                        fx_sb_putf(
                            &want,
                            "PUBLISH topic=\"%s\" qos=0 id=0 retain=0 dup=0 alias=%d payload=0\n",
                            t, a);
                else
                        fx_sb_putf(&want,
                                   "PUBLISH topic=\"\" qos=0 id=0 retain=0 dup=0 alias=%d "
                                   "payload=0 unknown\n",
                                   a);
        }
        /* alias 1 redefined longer: no room, so it is dropped (its 5 bytes
         * freed); alias 50 then fits after compaction */
        alias_publish(&s, (const uint8_t *)"t/001/longer", 12, 1);
        alias_publish(&s, (const uint8_t *)"t/050", 5, 50);
        alias_publish(&s, NULL, 0, 1);
        alias_publish(&s, NULL, 0, 50);
        alias_publish(&s, NULL, 0, 12);
        fx_sb_putf(
            &want,
            "PUBLISH topic=\"t/001/longer\" qos=0 id=0 retain=0 dup=0 alias=1 payload=0 set\n"
            "PUBLISH topic=\"t/050\" qos=0 id=0 retain=0 dup=0 alias=50 payload=0 set\n"
            "PUBLISH topic=\"\" qos=0 id=0 retain=0 dup=0 alias=1 payload=0 unknown\n"
            "PUBLISH topic=\"t/050\" qos=0 id=0 retain=0 dup=0 alias=50 payload=0\n"
            "PUBLISH topic=\"t/012\" qos=0 id=0 retain=0 dup=0 alias=12 payload=0\n");
        fx_run_init(&r, &f);
        expect_log(&f, "whole", fx_sb_str(&want), feed_all(&r, &s));
        fx_sb_free(&r.log);

        /* and split at every offset of the tail, where compaction happens */
        uint8_t *data = s.b;
        size_t len = s.len;

        for (size_t cut = len - 60; cut < len; cut++) {
                char mode[32];

                snprintf(mode, sizeof(mode), "split at %zu", cut);
                run_cuts(&f, data, len, &cut, 1, fx_sb_str(&want), mode);
        }
        fx_sb_free(&want);
        free(s.b);
}

/* mqtt_parser__reset() forgets every alias (but keeps the table and max). */
static void test_alias_reset(void **state)
{
        struct mqtt_parser p;
        struct mqtt_event ev;
        size_t used, at;
        uint8_t *a, *b;
        size_t alen = fx_unhex(CON5 "30 0a 00 03 'a/b' 03 23 00 01 'x'", &a);
        size_t blen = fx_unhex(CON5 "30 06 00 00 03 23 00 01", &b);

        (void)state;
        mqtt_parser__init(&p, MQTT_DIR_C2S, NULL);
        CHECK_INT(mqtt_parser__set_alias_max(&p, 4), 0);
        at = 0;
        while (mqtt_parser__feed(&p, a + at, alen - at, &used, &ev) == MQTT_EVENT)
                at += used;
        CHECK_INT(mqtt_parser__error(&p), MQTT_OK);
        mqtt_parser__reset(&p);
        at = 0;
        enum mqtt_status st;

        while ((st = mqtt_parser__feed(&p, b + at, blen - at, &used, &ev)) == MQTT_EVENT)
                at += used;
        CHECK_INT(st, MQTT_ERROR);
        CHECK_INT(mqtt_parser__error(&p), MQTT_ERR_ALIAS_UNKNOWN);
        /* the table survives the reset: alias 1 may be set again */
        mqtt_parser__reset(&p);
        at = 0;
        while ((st = mqtt_parser__feed(&p, a + at, alen - at, &used, &ev)) == MQTT_EVENT) {
                at += used;
                if (ev.type == MQTT_EV_PUBLISH)
                        CHECK(ev.publish.alias_set && ev.publish.alias == 1);
        }
        CHECK_INT(st, MQTT_NEED_MORE);
        mqtt_parser__fini(&p);
        free(a);
        free(b);
}

/* ---- the rest of the API ---- */

static enum mqtt_version version_after(enum mqtt_dir dir, const char *hex)
{
        struct mqtt_parser p;
        struct mqtt_event ev;
        uint8_t *b;
        size_t n = fx_unhex(hex, &b), used, at = 0;

        mqtt_parser__init(&p, dir, NULL);
        while (mqtt_parser__feed(&p, b + at, n - at, &used, &ev) == MQTT_EVENT)
                at += used;
        CHECK_INT(mqtt_parser__error(&p), MQTT_OK);
        enum mqtt_version v = mqtt_parser__version(&p);

        mqtt_parser__fini(&p);
        free(b);
        return v;
}

static void test_version(void **state)
{
        (void)state;
        CHECK_INT(version_after(MQTT_DIR_C2S, CON31), MQTT_V31);
        CHECK_INT(version_after(MQTT_DIR_C2S, CON311), MQTT_V311);
        CHECK_INT(version_after(MQTT_DIR_C2S, CON5), MQTT_V5);
        CHECK_INT(version_after(MQTT_DIR_C2S, "10 0d 00 04 'MQTT' 84 02 00 3c 00 01 'c'"),
                  MQTT_V311);
        CHECK_INT(version_after(MQTT_DIR_S2C, ACK3), MQTT_V311);
        CHECK_INT(version_after(MQTT_DIR_S2C, ACK5), MQTT_V5);
        CHECK_INT(version_after(MQTT_DIR_S2C, ""), MQTT_V_UNKNOWN);
}

/* Empty feeds, boundaries and offsets between and inside packets. */
static void test_feed_api(void **state)
{
        static const uint8_t ping[] = {0xc0, 0x00};
        struct mqtt_parser p;
        struct mqtt_event ev;
        size_t used = 99;
        uint8_t *con;
        size_t clen = fx_unhex(CON311, &con), at = 0;

        (void)state;
        mqtt_parser__init(&p, MQTT_DIR_C2S, NULL);
        CHECK_INT(mqtt_parser__feed(&p, con, 0, &used, &ev), MQTT_NEED_MORE);
        CHECK_INT(used, 0);
        CHECK(mqtt_parser__at_boundary(&p));
        CHECK_INT(mqtt_parser__feed(&p, con, 5, &used, &ev), MQTT_NEED_MORE);
        CHECK_INT(used, 5);
        CHECK(!mqtt_parser__at_boundary(&p));
        CHECK_INT(mqtt_parser__offset(&p), 5);
        at = 5;
        CHECK_INT(mqtt_parser__feed(&p, con + at, 0, &used, &ev), MQTT_NEED_MORE);
        while (mqtt_parser__feed(&p, con + at, clen - at, &used, &ev) == MQTT_EVENT) {
                at += used;
                CHECK_INT(ev.pkt_offset, 0);
                CHECK_INT(ev.pkt_len, clen);
        }
        CHECK_INT(at + used, clen);
        CHECK(mqtt_parser__at_boundary(&p));
        CHECK_INT(mqtt_parser__offset(&p), clen);
        CHECK_INT(mqtt_parser__feed(&p, ping, 2, &used, &ev), MQTT_EVENT);
        CHECK_INT(ev.type, MQTT_EV_PINGREQ);
        CHECK_INT(ev.pkt_offset, clen);
        CHECK_INT(ev.pkt_len, 2);
        mqtt_parser__fini(&p);
        /* init again after fini */
        mqtt_parser__init(&p, MQTT_DIR_C2S, NULL);
        CHECK_INT(mqtt_parser__feed(&p, ping, 2, &used, &ev), MQTT_ERROR);
        CHECK_INT(mqtt_parser__error(&p), MQTT_ERR_ORDER);
        mqtt_parser__fini(&p);
        free(con);
}

/* The limits given to init survive reset. */
static void test_limits_kept_by_reset(void **state)
{
        static const struct mqtt_limits lim = {.max_packet = 16};
        struct mqtt_parser p;
        struct mqtt_event ev;
        size_t used, at = 0;
        uint8_t *b;
        size_t n = fx_unhex(CON311 "30 11 00 03 'a/b' 'abcdefghijkl'", &b);

        (void)state;
        mqtt_parser__init(&p, MQTT_DIR_C2S, &lim);
        for (int round = 0; round < 2; round++) {
                enum mqtt_status st;

                at = 0;
                while ((st = mqtt_parser__feed(&p, b + at, n - at, &used, &ev)) == MQTT_EVENT)
                        at += used;
                CHECK_INT(st, MQTT_ERROR);
                CHECK_INT(mqtt_parser__error(&p), MQTT_ERR_TOO_LARGE);
                mqtt_parser__reset(&p);
        }
        mqtt_parser__fini(&p);
        free(b);
}

/* Runs the test of *state in a child; fails when the child did not exit 0. */
struct job {
        const char *name;
        void (*fn)(void **state);
        void *arg;
};

static void run_isolated(void **state)
{
        const struct job *j = *state;
        int status;

        fflush(NULL);
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                void *arg = j->arg;

                j->fn(&arg);
                fflush(NULL);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
                fail_msg("%s: killed by signal %d", j->name, WTERMSIG(status));
        if (WEXITSTATUS(status) != 0)
                fail_msg("%s: failed (exit %d)", j->name, WEXITSTATUS(status));
}

#define JOB(f)              \
        {                   \
#f, f, NULL \
        }

int main(void)
{
        static struct job others[] = {
            JOB(test_huge_user_properties),
            JOB(test_topic_65535_in_mss_segments),
            JOB(test_topic_4000_byte_by_byte),
            JOB(test_declared_length_not_allocated),
            JOB(test_whole_topic_zero_copy),
            JOB(test_alias_65535_topic),
            JOB(test_alias_arena_exhaustion),
            JOB(test_alias_reset),
            JOB(test_version),
            JOB(test_feed_api),
            JOB(test_limits_kept_by_reset),
        };
        size_t nothers = sizeof(others) / sizeof(others[0]), n = FX_COUNT + nothers, nbug = 0;
        struct job *jobs = calloc(FX_COUNT, sizeof(*jobs));
        struct CMUnitTest *tests = calloc(n, sizeof(*tests));

        checks =
            mmap(NULL, sizeof(*checks), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (!jobs || !tests || checks == MAP_FAILED)
                return 1;
        *checks = 0;
        for (size_t i = 0; i < n; i++) {
                struct job *j = i < FX_COUNT ? &jobs[i] : &others[i - FX_COUNT];

                if (i < FX_COUNT) {
                        *j = (struct job){FX[i].name, test_fixture, (void *)&FX[i]};
                        nbug += FX[i].regression;
                }
                tests[i] = (struct CMUnitTest){
                    .name = j->name,
                    .test_func = run_isolated,
                    .initial_state = j,
                };
        }
        int failed = _cmocka_run_group_tests("mqtt_parser", tests, n, NULL, NULL);

        printf("mqtt_parser: %zu fixtures (%zu regressions), %zu other tests, %lu checks\n",
               (size_t)FX_COUNT, nbug, nothers, *checks);
        free(tests);
        free(jobs);
        return failed;
}
