/*
 * Parser cost per PUBLISH: a benchmark, not a test.
 *
 *   bench_parser               nanoseconds per PUBLISH, every case
 *   bench_parser CASE N        parses N PUBLISH of CASE inside parse_publishes()
 *                              only (for callgrind --toggle-collect; see
 *                              bench/parser-cost.sh, which divides by N)
 *
 * Each PUBLISH arrives the way the worker will hand it over: a small one as
 * one segment; a 65,535-byte topic as 1,448-byte segments (an Ethernet MSS),
 * so that case includes the topic's reassembly across 46 segments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqtt/parser.h"
#include "mqtt/topic.h"

#define MSS 1448

struct bench_case {
        const char *name;
        uint8_t version;
        uint8_t qos;
        uint32_t topic_len;
        uint32_t payload_len;
        bool alias; /* v5: PUBLISH with a Topic Alias property */
};

static const struct bench_case CASES[] = {
    {"v311-qos0-topic16", MQTT_V311, 0, 16, 16, false},
    {"v311-qos1-topic16", MQTT_V311, 1, 16, 16, false},
    {"v5-qos1-alias-topic16", MQTT_V5, 1, 16, 16, true},
    {"v311-qos0-topic200", MQTT_V311, 0, 200, 16, false},
    {"v311-qos0-topic65535", MQTT_V311, 0, 65535, 16, false},
};
#define NCASES (sizeof(CASES) / sizeof(CASES[0]))

static size_t put_varint(uint8_t *b, uint32_t v)
{
        size_t n = 0;

        do {
                b[n] = v & 0x7f;
                v >>= 7;
                if (v)
                        b[n] |= 0x80;
                n++;
        } while (v);
        return n;
}

/* One PUBLISH packet of the case into b; returns its length. */
static size_t make_publish(const struct bench_case *c, uint8_t *b)
{
        uint8_t props[8];
        size_t np = 0;
        uint32_t rl = 2 + c->topic_len + c->payload_len + (c->qos ? 2 : 0);

        if (c->version == MQTT_V5) {
                if (c->alias) {
                        props[np++] = 0x23; /* Topic Alias 1 */
                        props[np++] = 0;
                        props[np++] = 1;
                }
                rl += 1 + (uint32_t)np;
        }
        size_t n = 0;

        b[n++] = 0x30 | (uint8_t)(c->qos << 1);
        n += put_varint(b + n, rl);
        b[n++] = (uint8_t)(c->topic_len >> 8);
        b[n++] = (uint8_t)c->topic_len;
        for (uint32_t i = 0; i < c->topic_len; i++)
                b[n++] = (uint8_t)((i % 8 == 7) ? '/' : 'a' + i % 26);
        if (c->qos) {
                b[n++] = 0;
                b[n++] = 7;
        }
        if (c->version == MQTT_V5) {
                b[n++] = (uint8_t)np;
                memcpy(b + n, props, np);
                n += np;
        }
        memset(b + n, 'x', c->payload_len);
        return n + c->payload_len;
}

/* A parser past CONNECT (and CONNACK's alias maximum), ready for PUBLISH. */
static void ready(struct mqtt_parser *p, const struct bench_case *c)
{
        uint8_t v311[] = {0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0};
        uint8_t v5[] = {0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 0};
        const uint8_t *b = c->version == MQTT_V5 ? v5 : v311;
        size_t len = c->version == MQTT_V5 ? sizeof(v5) : sizeof(v311), used;
        struct mqtt_event ev;

        mqtt_parser__init(p, MQTT_DIR_C2S, NULL);
        while (len && mqtt_parser__feed(p, b, len, &used, &ev) == MQTT_EVENT) {
                b += used;
                len -= used;
        }
        if (c->alias)
                mqtt_parser__set_alias_max(p, 10);
}

static volatile uint32_t sink;

/* Parses n copies of pkt, each handed over in MSS-sized segments. */
__attribute__((noinline)) uint32_t parse_publishes(struct mqtt_parser *p, const uint8_t *pkt,
                                                   size_t len, long n);
__attribute__((noinline)) uint32_t parse_publishes(struct mqtt_parser *p, const uint8_t *pkt,
                                                   size_t len, long n)
{
        struct mqtt_event ev;
        uint32_t seen = 0;

        for (long i = 0; i < n; i++) {
                for (size_t off = 0; off < len; off += MSS) {
                        const uint8_t *b = pkt + off;
                        size_t left = len - off < MSS ? len - off : MSS, used;

                        while (left) {
                                enum mqtt_status st = mqtt_parser__feed(p, b, left, &used, &ev);

                                if (st != MQTT_EVENT)
                                        break;
                                seen += ev.publish.topic.len;
                                b += used;
                                left -= used;
                        }
                }
        }
        return seen;
}

static double now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
        static uint8_t pkt[70000];
        struct mqtt_parser p;

        if (argc == 3) {
                for (size_t i = 0; i < NCASES; i++) {
                        if (strcmp(argv[1], CASES[i].name))
                                continue;
                        size_t len = make_publish(&CASES[i], pkt);

                        ready(&p, &CASES[i]);
                        sink = parse_publishes(&p, pkt, len, atol(argv[2]));
                        if (mqtt_parser__error(&p)) {
                                fprintf(stderr, "bench_parser: %s: parser error %s\n", argv[1],
                                        mqtt_err__str(mqtt_parser__error(&p)));
                                return 2;
                        }
                        mqtt_parser__fini(&p);
                        return 0;
                }
                fprintf(stderr, "bench_parser: unknown case %s\n", argv[1]);
                return 1;
        }
        printf("%-24s %10s %12s %10s\n", "case", "bytes", "ns/PUBLISH", "MB/s");
        for (size_t i = 0; i < NCASES; i++) {
                const struct bench_case *c = &CASES[i];
                size_t len = make_publish(c, pkt);
                long n = c->topic_len > 1000 ? 20000 : 5000000;

                ready(&p, c);
                parse_publishes(&p, pkt, len, n / 10); /* warm up */
                double t0 = now_ns();

                sink = parse_publishes(&p, pkt, len, n);
                double ns = (now_ns() - t0) / (double)n;

                if (mqtt_parser__error(&p)) {
                        fprintf(stderr, "bench_parser: %s: parser error %s\n", c->name,
                                mqtt_err__str(mqtt_parser__error(&p)));
                        return 2;
                }
                printf("%-24s %10zu %12.1f %10.0f\n", c->name, len, ns, len / ns * 1e3);
                mqtt_parser__fini(&p);
        }
        return 0;
}
