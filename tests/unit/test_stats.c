/*
 * The counters users see (core/ops/stats.h, admin.h, metrics.h) over a real
 * balancer run offline on the shared harness (tests/lib: a plan from a
 * config string, one lb worker behind a memory port), and real traffic played by this test (one
 * connection taken from SYN to spliced by its first PUBLISH, one closed for a bad protocol name),
 * so the counters are not zero. Checked: the JSON parses (jq) with the exact shape, every pool,
 * broker and LB_STATS counter with its value; strings escaped; the Prometheus text passes a line
 * validator (HELP and TYPE once per family before its samples, names, escaped label values, values)
 * with one family per LB_STATS counter; the admin socket answers, refuses a
 * second instance, replaces a stale file, leaves a non-socket alone, bounds
 * long lines and stuck clients, and removes its file; /metrics answers GET
 * with 200 and the same text, 404 elsewhere, 405 for POST.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/ops/admin.h"
#include "core/config/config.h"
#include "core/lb/lb.h"
#include "core/ops/metrics.h"
#include "core/tcp/packet.h"
#include "core/config/plan.h"
#include "core/ops/stats.h"
#include "core/tcp/tcp_out.h"
#include "core/datapath/worker.h"
#include "mqtt/topic.h"
#include "lb_harness.h"

static const char CONFIG[] = "interfaces: [{name: lb0}]\n"
                             "listeners: [{address: 10.10.0.100, port: 1883}]\n"
                             "source_addresses: [10.20.0.1]\n"
                             "workers: 1\n"
                             "pools:\n"
                             "  - name: apples\n"
                             "    brokers: [\"10.20.0.11:1883\", \"10.20.0.12:1883\"]\n"
                             "  - name: other\n"
                             "    balance: least-connections\n"
                             "    brokers: [\"10.20.0.20:1883\"]\n"
                             "routes: [{topic: \"apples/#\", pool: apples}]\n"
                             "default_pool: other\n";

struct env {
        struct lbh *h; /* the balancer on the shared offline harness (tests/lib) */
        struct worker *wp;
        struct lb_worker *lw; /* h->lw, for the stats source */
        struct stats_src src;
        char dir[64];
        uint32_t bound_gid; /* the broker the spliced connection went to */
        char bound_name[64];
};

static struct env E;

/* ---- driving the balancer --------------------------------------------------- */

struct peer {
        uint8_t addr[16], to[16];
        uint16_t port, to_port;
        const uint8_t *mac, *to_mac;
        uint32_t seq, ack;
};

static void send_seg(const struct peer *p, uint8_t flags, const void *data, size_t len)
{
        struct lbh_peer lp = {.family = 4, .port = p->port, .to_port = p->to_port};

        memcpy(lp.addr, p->addr, 16);
        memcpy(lp.to, p->to, 16);
        lp.mac = p->mac;
        lp.to_mac = p->to_mac;
        assert_int_equal(
            lbh__send(E.h, &lp,
                      &(struct lbh_seg){.flags = flags & TCP_OUT_SYN ? flags : flags | TCP_OUT_ACK,
                                        .seq = p->seq,
                                        .ack = p->ack,
                                        .win = 65535,
                                        .data = data,
                                        .len = (uint32_t)len}),
            0);
}

/* What the balancer sent in a round, one entry per frame. */
struct sent {
        uint32_t n;
        struct {
                uint8_t flags;
                uint32_t seq, ack;
                uint16_t sport, dport;
                uint8_t daddr[4];
        } f[32];
};

static void round_(struct sent *s)
{
        memset(s, 0, sizeof(*s));
        lbh__clear(E.h);
        lbh__run(E.h, E.h->now_ns + 10000);
        for (uint32_t i = 0; i < E.h->nout && s->n < 32; i++) {
                const struct lbh_frame *f = &E.h->out[i];

                s->f[s->n].flags = f->flags;
                s->f[s->n].seq = f->seq;
                s->f[s->n].ack = f->ack;
                s->f[s->n].sport = f->sport;
                s->f[s->n].dport = f->dport;
                memcpy(s->f[s->n].daddr, f->daddr, 4);
                s->n++;
        }
}

/* The first frame with exactly these SYN/ACK flags, or -1. */
static int find(const struct sent *s, uint8_t flags)
{
        for (uint32_t i = 0; i < s->n; i++)
                if ((s->f[i].flags & (TCP_OUT_SYN | TCP_OUT_ACK)) == flags)
                        return (int)i;
        return -1;
}

static uint8_t CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                            0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};
static const uint8_t PUBLISH[] = {0x30, 0x0f, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e',
                                  's',  '/',  'x',  'h',  'e', 'l', 'l', 'o'};
static const uint8_t BAD_CONNECT[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'X', 0x04,
                                      0x02, 0x00, 0x3c, 0x00, 0x04, 'b', 'a', 'd', '!'};

/* The client's handshake: SYN, the cookie SYN-ACK, the final ACK with data. */
static void client_open(struct peer *c, uint16_t port, const void *data, size_t len)
{
        struct sent s;
        int i;

        *c = (struct peer){.addr = {10, 10, 0, 1},
                           .to = {10, 10, 0, 100},
                           .port = port,
                           .to_port = 1883,
                           .mac = LBH_CLIENT_MAC,
                           .to_mac = LBH_LB_MAC,
                           .seq = 1000u * port};
        send_seg(c, TCP_OUT_SYN, NULL, 0);
        round_(&s);
        i = find(&s, TCP_OUT_SYN | TCP_OUT_ACK);
        assert_true(i >= 0);
        c->seq++;
        c->ack = s.f[i].seq + 1;
        send_seg(c, TCP_OUT_ACK, data, len);
        c->seq += (uint32_t)len;
}

static void test_traffic(void **state)
{
        struct peer c, br, bad;
        struct sent s;
        int i;

        /* 1: spliced, bound at its first PUBLISH to an apples broker */
        client_open(&c, 40000, CONNECT, sizeof(CONNECT));
        round_(&s); /* ACK + CONNACK */
        c.ack += 4;
        send_seg(&c, TCP_OUT_ACK, PUBLISH, sizeof(PUBLISH));
        c.seq += sizeof(PUBLISH);
        round_(&s); /* ACK to the client, SYN to the broker */
        i = find(&s, TCP_OUT_SYN);
        assert_true(i >= 0);
        br = (struct peer){.to = {10, 20, 0, 1},
                           .port = 1883,
                           .to_port = s.f[i].sport,
                           .mac = LBH_BROKER_MAC,
                           .to_mac = LBH_LB_MAC,
                           .seq = 777777,
                           .ack = s.f[i].seq + 1};
        memcpy(br.addr, s.f[i].daddr, 4);
        snprintf(E.bound_name, sizeof(E.bound_name), "%u.%u.%u.%u:1883", br.addr[0], br.addr[1],
                 br.addr[2], br.addr[3]);
        E.bound_gid = br.addr[3] == 11 ? 0 : 1;
        assert_true(br.addr[3] == 11 || br.addr[3] == 12);
        send_seg(&br, TCP_OUT_SYN | TCP_OUT_ACK, NULL, 0);
        br.seq++;
        round_(&s); /* the replay */
        br.ack += (uint32_t)(sizeof(CONNECT) + sizeof(PUBLISH));
        send_seg(&br, TCP_OUT_ACK, (const uint8_t[]){0x20, 0x02, 0x00, 0x00}, 4);
        br.seq += 4;
        round_(&s);
        /* a PUBLISH through the splice: the broker's counters */
        send_seg(&c, TCP_OUT_ACK, PUBLISH, sizeof(PUBLISH));
        c.seq += sizeof(PUBLISH);
        round_(&s);

        /* 2: a bad protocol name: malformed */
        client_open(&bad, 40001, BAD_CONNECT, sizeof(BAD_CONNECT));
        round_(&s);                           /* the refusal and FIN */
        send_seg(&bad, TCP_OUT_RST, NULL, 0); /* gone at once: not active any more */
        round_(&s);
        (void)state;
}

static enum stats_health health(void *ctx, uint32_t gid)
{
        (void)ctx;
        return gid == 0 ? STATS_HEALTH_UP : gid == 1 ? STATS_HEALTH_DOWN : STATS_HEALTH_UNKNOWN;
}

static int group_setup(void **state)
{
        char err[256];

        (void)state;
        if (lbh__open(&E.h, &(struct lbh_cfg){.yaml = CONFIG, .seed = 7, .frames = 1024}, err,
                      sizeof(err))) {
                fprintf(stderr, "%s\n", err);
                return -1;
        }
        E.wp = &E.h->w;
        E.lw = E.h->lw;
        E.src.lb = E.h->lb;
        E.src.lw = &E.lw;
        E.src.nworkers = 1;
        E.src.workers = &E.wp;
        E.src.health = health;
        E.src.config_path = "test.yaml";
        E.src.start_ns = 0; /* uptime 0: renderings comparable over time */
        atomic_store(&E.src.reloads, 3);

        strcpy(E.dir, "/tmp/mqttlb-stats-XXXXXX");
        if (!mkdtemp(E.dir))
                return -1;
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        rmdir(E.dir);
        return lbh__close(E.h) ? -1 : 0; /* every frame back in the pool */
}

/* ---- helpers ------------------------------------------------------------------- */

static char *render(enum stats_format f)
{
        struct stats_buf b = {0};

        assert_int_equal(stats__render_src(&E.src, f, &b), 0);
        assert_non_null(b.data);
        return b.data;
}

static void write_file(const char *path, const char *s)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fputs(s, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* jq FILTER over the JSON in file: its output (compact), or NULL when jq fails. */
static char *jq(const char *file, const char *filter)
{
        char cmd[4096], line[8192];
        struct stats_buf out = {0};
        FILE *p;
        size_t n;

        snprintf(cmd, sizeof(cmd), "jq -c '%s' '%s'", filter, file);
        p = popen(cmd, "r");
        assert_non_null(p);
        while ((n = fread(line, 1, sizeof(line), p)) > 0)
                stats_buf__put(&out, line, n);
        if (pclose(p) != 0) {
                stats_buf__free(&out);
                return NULL;
        }
        return out.data ? out.data : strdup("");
}

static void jq_true(const char *file, const char *filter)
{
        char *r = jq(file, filter);

        if (!r || strcmp(r, "true\n"))
                fail_msg("jq %s: %s", filter, r ? r : "(jq failed)");
        free(r);
}

static void sum_stats(struct lb_stats *s)
{
        lb_worker__stats(E.lw, s);
}

/* ---- the buffer ------------------------------------------------------------------ */

static void test_buf_grows(void **state)
{
        struct stats_buf b = {0};

        (void)state;
        for (int i = 0; i < 5000; i++)
                assert_int_equal(stats_buf__printf(&b, "%04d,", i), 0);
        assert_int_equal(b.len, 25000);
        assert_int_equal(strlen(b.data), 25000);
        assert_memory_equal(b.data + 4995 * 5, "4995,", 5);
        stats_buf__reset(&b);
        assert_int_equal(b.len, 0);
        assert_string_equal(b.data, "");
        assert_int_equal(stats_buf__put(&b, "abc", 3), 0);
        assert_string_equal(b.data, "abc");
        stats_buf__free(&b);

        enum stats_format f;

        assert_int_equal(stats_format__parse("json", &f), 0);
        assert_int_equal(f, STATS_JSON);
        assert_int_equal(stats_format__parse("prometheus", &f), 0);
        assert_int_equal(f, STATS_PROMETHEUS);
        assert_int_equal(stats_format__parse("text", &f), 0);
        assert_int_equal(f, STATS_TEXT);
        assert_int_equal(stats_format__parse("xml", &f), -EINVAL);
}

/* ---- JSON ---------------------------------------------------------------------- */

static void test_json(void **state)
{
        char file[128], filter[4096], *json = render(STATS_JSON), *r;
        struct stats_buf want = {0};
        struct lb_stats st;
        const uint64_t *v = (const uint64_t *)&st;
        struct worker_stats ws;
        struct lb_broker_stats bs[3];

        (void)state;
        sum_stats(&st);
        worker__stats(&E.h->w, &ws);
        /* the traffic did what the test says */
        assert_int_equal(st.conn_total, 2);
        assert_int_equal(st.conn_active, 1);
        assert_int_equal(st.bound_publish, 1);
        assert_int_equal(st.spliced, 1);
        assert_int_equal(st.malformed_by[MQTT_ERR_PROTOCOL_NAME], 1);

        snprintf(file, sizeof(file), "%s/stats.json", E.dir);
        write_file(file, json);
        r = jq(file, ".");
        assert_non_null(r); /* it parses */
        free(r);
        jq_true(
            file,
            "keys == [\"config\",\"connections\",\"counters\",\"malformed\",\"mqttsn\",\"pools\","
            "\"reloads\",\"syncookies\",\"tls\",\"udp\",\"uptime_s\",\"workers\",\"xdp\"]");
        jq_true(file, ".uptime_s == 0 and .reloads == 3 and .config == \"test.yaml\"");
        jq_true(file, ".connections == {\"active\":1,\"total\":2,\"bound\":{\"connect\":0,"
                      "\"publish\":1,\"subscribe\":0,\"timeout\":0}}");
        snprintf(filter, sizeof(filter),
                 ".syncookies == {\"sent\":%llu,\"validated\":%llu,\"rejected\":%llu}",
                 (unsigned long long)st.syncookies_sent,
                 (unsigned long long)st.syncookies_validated,
                 (unsigned long long)st.syncookies_rejected);
        jq_true(file, filter);
        assert_true(st.syncookies_sent >= 2 && st.syncookies_validated == 2);

        /* every LB_STATS counter, with its value, in order */
        stats_buf__put(&want, "{", 1);
        for (size_t k = 0; k < LB_NSTATS; k++)
                stats_buf__printf(&want, "%s\"%s\":%llu", k ? "," : "", lb_stat_names[k],
                                  (unsigned long long)v[k]);
        stats_buf__put(&want, "}\n", 2);
        r = jq(file, ".counters");
        assert_non_null(r);
        assert_string_equal(r, want.data);
        free(r);

        /* every malformed reason, ours at 1 */
        jq_true(file, ".malformed.bad_protocol_name == 1 and "
                      "([.malformed[]] | add) == 1");
        r = jq(file, ".malformed | length");
        assert_non_null(r);
        assert_int_equal(atoi(r), MQTT_ERR__COUNT - 1);
        free(r);
        for (int e = 1; e < MQTT_ERR__COUNT; e++) {
                snprintf(filter, sizeof(filter), ".malformed | has(\"%s\")",
                         mqtt_err__str((enum mqtt_err)e));
                jq_true(file, filter);
        }

        /* the worker */
        snprintf(filter, sizeof(filter),
                 ".workers | length == 1 and .[0].id == 0 and .[0].rx_packets == %llu and "
                 ".[0].tx_packets == %llu and .[0].dropped == %llu and .[0].handed_over == 0 "
                 "and .[0].connections_active == 1 and .[0].kernel_rx_ring_full == 0",
                 (unsigned long long)ws.rx, (unsigned long long)ws.tx,
                 (unsigned long long)(ws.drop_not_ip + ws.drop_not_tcp + ws.drop_fragment +
                                      ws.drop_truncated + ws.drop_handler + ws.drop_tx_full +
                                      ws.drop_handover_full));
        jq_true(file, filter);
        assert_true(ws.rx >= 8 && ws.tx >= 6);
        for (size_t k = 0; k < WORKER_NCOUNTERS; k++) {
                const char *n = worker_counter_names[k];

                snprintf(filter, sizeof(filter), ".workers[0] | has(\"%s\")",
                         !strcmp(n, "rx")   ? "rx_packets"
                         : !strcmp(n, "tx") ? "tx_packets"
                                            : n);
                jq_true(file, filter);
        }

        /* pools and brokers: names, policy, health, the bound broker's counters */
        jq_true(file, "[.pools[] | .name] == [\"apples\",\"other\"] and "
                      "[.pools[] | .balance] == [\"client-id\",\"least-connections\"]");
        jq_true(file, "[.pools[].brokers[] | .name] == "
                      "[\"10.20.0.11:1883\",\"10.20.0.12:1883\",\"10.20.0.20:1883\"]");
        jq_true(file, "[.pools[].brokers[] | .state] == [\"up\",\"down\",\"unknown\"]");
        lb_worker__broker_stats(E.lw, bs, 3);
        assert_int_equal(bs[E.bound_gid].active, 1);
        assert_int_equal(bs[E.bound_gid].total, 1);
        assert_true(bs[E.bound_gid].publishes >= 1);
        assert_int_equal(bs[E.bound_gid].publish_bytes,
                         bs[E.bound_gid].publishes * sizeof(PUBLISH));
        snprintf(filter, sizeof(filter),
                 ".pools[0].brokers[%u] == {\"name\":\"%s\",\"state\":\"%s\",\"active\":1,"
                 "\"total\":1,\"publishes\":%llu,\"publish_bytes\":%llu,\"failures\":0,\"datagrams_"
                 "to\":0,\"bytes_to\":0,\"datagrams_from\":0,\"bytes_from\":0}",
                 E.bound_gid, E.bound_name, E.bound_gid ? "down" : "up",
                 (unsigned long long)bs[E.bound_gid].publishes,
                 (unsigned long long)bs[E.bound_gid].publish_bytes);
        jq_true(file, filter);
        snprintf(filter, sizeof(filter),
                 ".pools[0].brokers[%u] | .active == 0 and .total == 0 and .publishes == 0",
                 1 - E.bound_gid);
        jq_true(file, filter);
        jq_true(file, ".xdp == []");

        stats_buf__free(&want);
        unlink(file);
        free(json);
}

static void test_json_escaping(void **state)
{
        static const char WEIRD[] = "a\"b\\c\nd\te\x01"
                                    "f\x7f\xc3\xa9";
        struct stats_snapshot *s;
        struct stats_buf b = {0};
        char file[128], *r;

        (void)state;
        assert_int_equal(stats__snapshot(&E.src, &s), 0);
        strcpy(s->pools[0].name, WEIRD);
        strcpy(s->pools[1].brokers[0].name, "x\x1fy");
        strcpy(s->config_path, "/etc/\"q\".yaml");
        assert_int_equal(stats__json(s, &b), 0);
        snprintf(file, sizeof(file), "%s/weird.json", E.dir);
        write_file(file, b.data);
        r = jq(file, ".pools[0].name == \"a\\\"b\\\\c\\nd\\te\\u0001f\\u007f\\u00e9\" and "
                     ".pools[1].brokers[0].name == \"x\\u001fy\" and "
                     ".config == \"/etc/\\\"q\\\".yaml\"");
        assert_non_null(r);
        assert_string_equal(r, "true\n");
        free(r);
        /* the raw bytes: escapes as JSON wants them */
        assert_non_null(strstr(b.data, "\"a\\\"b\\\\c\\nd\\te\\u0001f\\u007f\xc3\xa9\""));
        unlink(file);
        stats_buf__free(&b);
        stats__snapshot_free(s);
}

/* ---- Prometheus ---------------------------------------------------------------- */

static bool name_char(char c, bool first)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
               (!first && c >= '0' && c <= '9');
}

/* A metric or label name at *p; returns its length (0: none). */
static size_t scan_name(const char *p)
{
        size_t n = 0;

        while (name_char(p[n], n == 0))
                n++;
        return n;
}

struct prom_check {
        uint32_t families, samples;
        char names[512][96]; /* the families seen, in order */
};

/*
 * The text exposition format 0.0.4 as this program writes it: every family
 * "# HELP NAME TEXT" then "# TYPE NAME counter|gauge", each once, then its
 * samples NAME{LABEL="VALUE",…} VALUE, contiguous; label values escape only
 * \\, \" and \n; the text ends with a newline. Fails the test on the first
 * bad line.
 */
static void prom_validate(const char *text, struct prom_check *pc)
{
        char family[96] = "";
        bool typed = false;
        const char *line = text;
        uint32_t lineno = 0;

        memset(pc, 0, sizeof(*pc));
        assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
        while (*line) {
                const char *end = strchr(line, '\n'), *p = line;
                size_t n;

                lineno++;
                assert_non_null(end);
                if (!strncmp(p, "# HELP ", 7)) {
                        p += 7;
                        n = scan_name(p);
                        if (!n || p[n] != ' ' || n >= sizeof(family))
                                fail_msg("line %u: bad HELP: %.*s", lineno, (int)(end - line),
                                         line);
                        memcpy(family, p, n);
                        family[n] = '\0';
                        for (uint32_t i = 0; i < pc->families; i++)
                                if (!strcmp(pc->names[i], family))
                                        fail_msg("line %u: family %s twice", lineno, family);
                        assert_true(pc->families < 512);
                        strcpy(pc->names[pc->families++], family);
                        /* HELP text: a backslash only before \ or n */
                        for (const char *q = p + n + 1; q < end; q++)
                                if (*q == '\\') {
                                        if (q[1] != '\\' && q[1] != 'n')
                                                fail_msg("line %u: bad escape in HELP", lineno);
                                        q++;
                                }
                        typed = false;
                } else if (!strncmp(p, "# TYPE ", 7)) {
                        char want[128];

                        if (typed || !family[0])
                                fail_msg("line %u: TYPE without its HELP", lineno);
                        snprintf(want, sizeof(want), "# TYPE %s counter", family);
                        if (strncmp(line, want, (size_t)(end - line)) ||
                            strlen(want) != (size_t)(end - line)) {
                                snprintf(want, sizeof(want), "# TYPE %s gauge", family);
                                if (strncmp(line, want, (size_t)(end - line)) ||
                                    strlen(want) != (size_t)(end - line))
                                        fail_msg("line %u: bad TYPE: %.*s", lineno,
                                                 (int)(end - line), line);
                        }
                        typed = true;
                } else {
                        char *vend;
                        char value[64];

                        if (*p == '#' || p == end)
                                fail_msg("line %u: unexpected: %.*s", lineno, (int)(end - line),
                                         line);
                        n = scan_name(p);
                        if (!typed || n != strlen(family) || strncmp(p, family, n))
                                fail_msg("line %u: sample outside its family %s: %.*s", lineno,
                                         family, (int)(end - line), line);
                        p += n;
                        if (*p == '{') {
                                p++;
                                for (;;) {
                                        n = scan_name(p);
                                        if (!n || p[n] != '=' || p[n + 1] != '"')
                                                fail_msg("line %u: bad label at %.20s", lineno, p);
                                        p += n + 2;
                                        while (*p != '"') {
                                                if (p >= end)
                                                        fail_msg("line %u: unterminated label",
                                                                 lineno);
                                                if (*p == '\\') {
                                                        if (p[1] != '\\' && p[1] != '"' &&
                                                            p[1] != 'n')
                                                                fail_msg("line %u: bad escape",
                                                                         lineno);
                                                        p++;
                                                }
                                                p++;
                                        }
                                        p++;
                                        if (*p == ',') {
                                                p++;
                                                continue;
                                        }
                                        if (*p != '}')
                                                fail_msg("line %u: bad label list", lineno);
                                        p++;
                                        break;
                                }
                        }
                        if (*p != ' ' || end - p - 1 <= 0 || end - p - 1 >= (long)sizeof(value))
                                fail_msg("line %u: no value: %.*s", lineno, (int)(end - line),
                                         line);
                        memcpy(value, p + 1, (size_t)(end - p - 1));
                        value[end - p - 1] = '\0';
                        strtod(value, &vend);
                        if (*vend || vend == value)
                                fail_msg("line %u: bad value '%s'", lineno, value);
                        pc->samples++;
                }
                line = end + 1;
        }
}

static void has_line(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void has_line(const char *text, const char *fmt, ...)
{
        char want[1024];
        const char *p = text;
        va_list ap;
        size_t n;

        va_start(ap, fmt);
        vsnprintf(want, sizeof(want), fmt, ap);
        va_end(ap);
        n = strlen(want);
        while ((p = strstr(p, want))) {
                if ((p == text || p[-1] == '\n') && p[n] == '\n')
                        return;
                p++;
        }
        fail_msg("no line '%s'", want);
}

static void test_prometheus(void **state)
{
        char *text = render(STATS_PROMETHEUS);
        static struct prom_check pc;
        struct lb_stats st;
        struct worker_stats ws;
        struct lb_broker_stats bs[3];
        const uint64_t *v = (const uint64_t *)&st;

        (void)state;
        sum_stats(&st);
        worker__stats(&E.h->w, &ws);
        prom_validate(text, &pc);
        assert_true(pc.families > LB_NSTATS);
        assert_true(pc.samples > LB_NSTATS + MQTT_ERR__COUNT);

        /* one family per LB_STATS counter, its doc as HELP */
        for (size_t k = 0; k < LB_NSTATS; k++) {
                const char *n = lb_stat_names[k];
                char name[96];

                if (!strcmp(n, "conn_active"))
                        snprintf(name, sizeof(name), "mqttlb_connections_active");
                else if (!strcmp(n, "conn_total"))
                        snprintf(name, sizeof(name), "mqttlb_connections_total");
                else if (!strcmp(n, "malformed") || !strcmp(n, "tls_malformed"))
                        snprintf(name, sizeof(name), "mqttlb_%s_connections_total", n);
                else if (!strcmp(n, "buffer_held") || !strcmp(n, "buffer_cached"))
                        snprintf(name, sizeof(name), "mqttlb_%s_bytes", n);
                else if (!strcmp(n, "mqttsn_malformed"))
                        snprintf(name, sizeof(name), "mqttlb_mqttsn_malformed_datagrams_total");
                else if (!strcmp(n, "udp_flows_active") || !strcmp(n, "connect_waiting"))
                        snprintf(name, sizeof(name), "mqttlb_%s", n);
                else
                        snprintf(name, sizeof(name), "mqttlb_%s_total", n);
                has_line(text, "# HELP %s %s", name, lb_stat_docs[k]);
                has_line(text, "# TYPE %s %s", name,
                         !strcmp(n, "conn_active") || !strcmp(n, "buffer_held") ||
                                 !strcmp(n, "buffer_cached") || !strcmp(n, "udp_flows_active") ||
                                 !strcmp(n, "connect_waiting")
                             ? "gauge"
                             : "counter");
                has_line(text, "%s %llu", name, (unsigned long long)v[k]);
        }
        has_line(text, "mqttlb_connections_active 1");
        has_line(text, "mqttlb_connections_total 2");
        has_line(text, "mqttlb_uptime_seconds 0.000");
        has_line(text, "mqttlb_reloads_total 3");
        has_line(text, "mqttlb_packets_total{worker=\"0\",direction=\"rx\"} %llu",
                 (unsigned long long)ws.rx);
        has_line(text, "mqttlb_packets_total{worker=\"0\",direction=\"tx\"} %llu",
                 (unsigned long long)ws.tx);
        has_line(text, "mqttlb_dropped_total{worker=\"0\",reason=\"not_ip\"} 0");
        has_line(text, "mqttlb_dropped_total{worker=\"0\",reason=\"handler\"} %llu",
                 (unsigned long long)ws.drop_handler);
        has_line(text, "mqttlb_handed_over_total{worker=\"0\"} 0");
        has_line(text, "mqttlb_worker_connections_active{worker=\"0\"} 1");
        for (int e = 1; e < MQTT_ERR__COUNT; e++)
                has_line(text, "mqttlb_malformed_total{reason=\"%s\"} %d",
                         mqtt_err__str((enum mqtt_err)e), e == MQTT_ERR_PROTOCOL_NAME);
        has_line(text, "mqttlb_pool_info{pool=\"apples\",balance=\"client-id\"} 1");
        has_line(text, "mqttlb_pool_info{pool=\"other\",balance=\"least-connections\"} 1");
        has_line(text, "mqttlb_broker_up{pool=\"apples\",broker=\"10.20.0.11:1883\"} 1");
        has_line(text, "mqttlb_broker_up{pool=\"apples\",broker=\"10.20.0.12:1883\"} 0");
        assert_null(strstr(text, "mqttlb_broker_up{pool=\"other\""));
        lb_worker__broker_stats(E.lw, bs, 3);
        has_line(text, "mqttlb_broker_publishes_total{pool=\"apples\",broker=\"%s\"} %llu",
                 E.bound_name, (unsigned long long)bs[E.bound_gid].publishes);
        has_line(text, "mqttlb_broker_publish_bytes_total{pool=\"apples\",broker=\"%s\"} %llu",
                 E.bound_name, (unsigned long long)bs[E.bound_gid].publish_bytes);
        has_line(text, "mqttlb_publishes_total 2");
        has_line(text, "mqttlb_broker_connections_active{pool=\"apples\",broker=\"%s\"} 1",
                 E.bound_name);
        has_line(text,
                 "mqttlb_broker_connections_total{pool=\"other\",broker=\"10.20.0.20:1883\"} 0");
        has_line(text, "mqttlb_broker_failures_total{pool=\"other\",broker=\"10.20.0.20:1883\"} 0");
        has_line(text, "# TYPE mqttlb_xdp_frames_total counter");
        /* no datapath: no kernel samples, but the family is announced */
        has_line(text, "# TYPE mqttlb_kernel_rx_ring_full_total counter");
        assert_null(strstr(text, "mqttlb_kernel_rx_ring_full_total{"));
        free(text);
}

static void test_prometheus_escaping(void **state)
{
        struct stats_snapshot *s;
        struct stats_buf b = {0};
        static struct prom_check pc;

        (void)state;
        assert_int_equal(stats__snapshot(&E.src, &s), 0);
        strcpy(s->pools[0].name, "a\"b\\c\nd");
        s->nxdp = 1;
        s->xdp = calloc(1, sizeof(*s->xdp));
        assert_non_null(s->xdp);
        strcpy(s->xdp[0].ifname, "eth\"0");
        s->xdp[0].ok = true;
        s->xdp[0].c[LB_CNT_REDIRECT_LISTENER] = 42;
        assert_int_equal(stats__prometheus(s, &b), 0);
        prom_validate(b.data, &pc);
        has_line(b.data, "mqttlb_broker_up{pool=\"a\\\"b\\\\c\\nd\",broker=\"10.20.0.11:1883\"} 1");
        has_line(
            b.data,
            "mqttlb_xdp_frames_total{interface=\"eth\\\"0\",outcome=\"redirect_listener\"} 42");
        has_line(b.data,
                 "mqttlb_xdp_frames_total{interface=\"eth\\\"0\",outcome=\"pass_no_match\"} 0");
        stats_buf__free(&b);

        /* the JSON of the same: the interface and every redirector counter */
        {
                char file[128], *r;

                assert_int_equal(stats__json(s, &b), 0);
                snprintf(file, sizeof(file), "%s/xdp.json", E.dir);
                write_file(file, b.data);
                r = jq(file,
                       ".xdp[0] | .interface == \"eth\\\"0\" and .available and "
                       ".redirect_listener == 42 and length == 16 and .drop_syn_rate == 0 and "
                       ".drop_source_rate == 0");
                assert_non_null(r);
                assert_string_equal(r, "true\n");
                free(r);
                unlink(file);
        }
        stats_buf__free(&b);
        stats__snapshot_free(s);
}

static void test_text(void **state)
{
        char *text = render(STATS_TEXT);

        (void)state;
        assert_non_null(strstr(text, "config test.yaml, 3 reloads"));
        assert_non_null(strstr(text, "connections  1 active, 2 total; bound at connect 0, "
                                     "publish 1, subscribe 0, timeout 0"));
        assert_non_null(strstr(text, "POOL"));
        assert_non_null(strstr(text, "apples"));
        assert_non_null(strstr(text, "least-connections"));
        assert_non_null(strstr(text, "10.20.0.11:1883"));
        assert_non_null(strstr(text, "10.20.0.12:1883"));
        assert_non_null(strstr(text, "10.20.0.20:1883"));
        assert_non_null(strstr(text, "unknown"));
        assert_non_null(strstr(text, "malformed by reason:\n  bad_protocol_name  1\n"));
        assert_non_null(strstr(text, "spliced"));
        assert_null(strstr(text, "(null)"));
        free(text);
}

/* ---- the admin socket ---------------------------------------------------------- */

static int unix_connect(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        strcpy(sa.sun_path, path);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static char *read_all(int fd)
{
        struct stats_buf b = {0};
        char chunk[4096];
        ssize_t n;

        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
                stats_buf__put(&b, chunk, (size_t)n);
        return b.data ? b.data : strdup("");
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_admin(void **state)
{
        char path[128], err[512];
        struct admin *a, *b;
        struct stats_buf out = {0};
        struct stat st;
        char *want, *r, big[400];
        int fd, stuck;
        double t0;

        (void)state;
        snprintf(path, sizeof(path), "%s/admin.sock", E.dir);
        assert_int_equal(admin__start(&a, path, stats__render_src, &E.src, err, sizeof(err)), 0);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0660);

        /* each rendering, as the library renders it */
        for (int f = STATS_TEXT; f <= STATS_PROMETHEUS; f++) {
                char req[64];

                snprintf(req, sizeof(req), "stats %s", stats_format__str((enum stats_format)f));
                want = render((enum stats_format)f);
                stats_buf__reset(&out);
                assert_int_equal(admin__query(path, req, 2000, &out, err, sizeof(err)), 0);
                assert_string_equal(out.data, want);
                free(want);
        }

        /* a second instance on the same path */
        assert_int_equal(admin__start(&b, path, stats__render_src, &E.src, err, sizeof(err)),
                         -EADDRINUSE);
        assert_null(b);
        {
                char msg[256];

                snprintf(msg, sizeof(msg), "%s: another mqttlb is listening", path);
                assert_string_equal(err, msg);
        }

        /* a request it does not know */
        stats_buf__reset(&out);
        assert_int_equal(admin__query(path, "stats xml", 2000, &out, err, sizeof(err)), -EPROTO);
        assert_non_null(strstr(err, "unknown request 'stats xml'"));
        assert_int_equal(out.len, 0);

        /* a line too long */
        fd = unix_connect(path);
        memset(big, 'x', sizeof(big));
        assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
        r = read_all(fd);
        close(fd);
        assert_string_equal(r, "error: request longer than 256 bytes\n");
        free(r);

        /* a client that says nothing delays the next one at most the timeout */
        stuck = unix_connect(path);
        usleep(50000); /* the server has taken it */
        t0 = now_s();
        stats_buf__reset(&out);
        assert_int_equal(admin__query(path, "stats json", 5000, &out, err, sizeof(err)), 0);
        assert_true(now_s() - t0 < ADMIN_TIMEOUT_MS / 1000.0 + 1.0);
        assert_int_equal(out.data[0], '{');
        r = read_all(stuck); /* closed by the server: EOF */
        assert_string_equal(r, "");
        free(r);
        close(stuck);

        admin__stop(a);
        assert_int_equal(lstat(path, &st), -1);
        assert_int_equal(errno, ENOENT);
        stats_buf__reset(&out);
        assert_int_equal(admin__query(path, "stats json", 2000, &out, err, sizeof(err)), -ENOENT);
        {
                char msg[256];

                snprintf(msg, sizeof(msg), "%s: cannot connect: %s", path, strerror(ENOENT));
                assert_string_equal(err, msg);
        }

        /* a stale socket file (its instance died) is replaced */
        {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};

                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                strcpy(sa.sun_path, path);
                assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                close(fd);
        }
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(admin__start(&a, path, stats__render_src, &E.src, err, sizeof(err)), 0);
        stats_buf__reset(&out);
        assert_int_equal(admin__query(path, "stats json", 2000, &out, err, sizeof(err)), 0);
        admin__stop(a);

        /* a file that is not a socket is left alone */
        write_file(path, "precious\n");
        assert_int_equal(admin__start(&a, path, stats__render_src, &E.src, err, sizeof(err)),
                         -EEXIST);
        assert_non_null(strstr(err, "exists and is not a socket"));
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode) && st.st_size == 9);
        unlink(path);

        /* a path too long for a socket */
        memset(big, 'a', 200);
        big[0] = '/';
        big[200] = '\0';
        assert_int_equal(admin__start(&a, big, stats__render_src, &E.src, err, sizeof(err)),
                         -ENAMETOOLONG);
        stats_buf__free(&out);
}

/* ---- /metrics ------------------------------------------------------------------ */

/* One HTTP exchange on 127.0.0.1:port; the whole answer. */
static char *http(uint16_t port, const char *request)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        char *r;

        assert_true(fd >= 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
        r = read_all(fd);
        close(fd);
        return r;
}

static int status_of(const char *resp)
{
        int code = 0;

        if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1)
                fail_msg("not an HTTP answer: %.80s", resp);
        return code;
}

static void test_metrics(void **state)
{
        struct metrics *m, *m2;
        char err[512], addr[64], *r, *body, *want;
        uint16_t port;
        int e;

        (void)state;
        assert_int_equal(
            metrics__start(&m, "127.0.0.1:0", stats__render_src, &E.src, err, sizeof(err)), 0);
        port = metrics__port(m);
        assert_true(port > 0);

        r = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_int_equal(status_of(r), 200);
        assert_non_null(
            strstr(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        body = strstr(r, "\r\n\r\n");
        assert_non_null(body);
        want = render(STATS_PROMETHEUS);
        assert_string_equal(body + 4, want);
        free(want);
        free(r);

        r = http(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_int_equal(status_of(r), 200);
        assert_string_equal(strstr(r, "\r\n\r\n"), "\r\n\r\n"); /* no body */
        free(r);

        r = http(port, "GET /metricsx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_int_equal(status_of(r), 404);
        free(r);
        r = http(port, "GET / HTTP/1.0\r\n\r\n");
        assert_int_equal(status_of(r), 404);
        free(r);

        r = http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 3\r\n\r\nx=1");
        assert_int_equal(status_of(r), 405);
        assert_non_null(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
        free(r);
        r = http(port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_int_equal(status_of(r), 405);
        free(r);

        /* the same port again: the address and the reason */
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
        assert_int_equal(metrics__start(&m2, addr, stats__render_src, &E.src, err, sizeof(err)),
                         -EADDRINUSE);
        assert_null(m2);
        {
                char msg[256];

                snprintf(msg, sizeof(msg), "metrics %s: cannot listen: %s", addr,
                         strerror(EADDRINUSE));
                assert_string_equal(err, msg);
        }
        assert_int_equal(
            metrics__start(&m2, "nonsense", stats__render_src, &E.src, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "metrics nonsense: "));
        assert_int_equal(
            metrics__start(&m2, "127.0.0.1", stats__render_src, &E.src, err, sizeof(err)), -EINVAL);

        metrics__stop(m);
        /* stopped: the port is free again (the daemon closed the socket) */
        assert_int_equal(metrics__start(&m, addr, stats__render_src, &E.src, err, sizeof(err)), 0);
        metrics__stop(m);

        /* IPv6 where the host has a loopback for it */
        e = metrics__start(&m, "[::1]:0", stats__render_src, &E.src, err, sizeof(err));
        if (e == -EADDRNOTAVAIL || e == -EAFNOSUPPORT)
                return;
        assert_int_equal(e, 0);
        {
                struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                                          .sin6_port = htons(metrics__port(m)),
                                          .sin6_addr = IN6ADDR_LOOPBACK_INIT};
                const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
                int fd = socket(AF_INET6, SOCK_STREAM, 0);

                assert_true(fd >= 0);
                assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
                r = read_all(fd);
                close(fd);
                assert_int_equal(status_of(r), 200);
                free(r);
        }
        metrics__stop(m);
}

int main(void)
{
        /* In order: the traffic first, then everything that reads its counters. */
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_buf_grows),  cmocka_unit_test(test_traffic),
            cmocka_unit_test(test_json),       cmocka_unit_test(test_json_escaping),
            cmocka_unit_test(test_prometheus), cmocka_unit_test(test_prometheus_escaping),
            cmocka_unit_test(test_text),       cmocka_unit_test(test_admin),
            cmocka_unit_test(test_metrics),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
