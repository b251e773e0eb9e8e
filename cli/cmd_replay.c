/*
 * mqttlb replay: the TCP connections of a capture run offline through the
 * balancer's worker code (core/replay/replay.h), one line per connection, plain or
 * JSON (CONTRACT.md). Exit 0 when the replay ran (whatever the verdicts), 1
 * on a user error, 2 on a runtime failure: the replay could not run, hit its
 * step limit, or the balancer leaked a connection or a UMEM frame.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config/config.h"
#include "core/lb/lb.h"
#include "core/config/plan.h"
#include "core/replay/replay.h"
#include "mqtt/topic.h"
#include "tls/clienthello.h"

#define TOPIC_LONG  256 /* longer topics are printed shortened */
#define TOPIC_SHOWN 64  /* bytes shown of a shortened topic */

/* The usage, on f. */
static void help(FILE *f)
{
        fprintf(f,
                "usage: mqttlb replay -c FILE -r IN.pcap [-w OUT.pcap] [--json] [OPTIONS]\n"
                "       mqttlb replay --list -r IN.pcap\n"
                "\n"
                "Runs the TCP connections captured in IN.pcap offline through the balancer's\n"
                "worker code, as clients of the listeners in FILE (the destination rewritten\n"
                "to the first listener of the same address family), on a virtual clock, with\n"
                "every broker of FILE emulated: a broker connection serves the captured server\n"
                "stream of the client connection whose bytes it receives. Prints one line per\n"
                "client connection, in the order of their SYNs.\n"
                "\n"
                "  -c, --config FILE        the configuration (as for mqttlb run)\n"
                "  -r, --read IN.pcap       the capture (Ethernet, Linux cooked or raw IP)\n"
                "  -w, --write OUT.pcap     every frame the balancer sent (nanosecond pcap)\n"
                "      --write-all          with -w: the peers' frames to the balancer too\n"
                "      --json               one JSON object per line: client, client_id, pool,\n"
                "                           broker, bound_at, topics, verdict, bytes_to_broker,\n"
                "                           stream_intact, publishes, bytes_from_client, error;\n"
                "                           a topic over %d bytes is printed as its first %d\n"
                "                           bytes followed by \"…(N bytes)\"\n"
                "      --list               print the connections found in IN.pcap and exit\n"
                "                           (no configuration needed)\n"
                "      --broker-down ADDR:PORT    this broker never answers a SYN (repeatable)\n"
                "      --broker-refuse ADDR:PORT  this broker refuses every CONNECT: CONNACK\n"
                "                           0x05 (3.1.1) or 0x87 (5), then closes (repeatable)\n"
                "      --tail SECONDS       how long a connection may last after its last\n"
                "                           captured segment (default 120)\n"
                "      --seed N             the balancer's seed (default fixed: deterministic)\n"
                "      --workers N          balancer workers, each on its own queue (default 1;\n"
                "                           clients spread by a hash of their address and port,\n"
                "                           broker legs steered by their local port)\n"
                "      --trace              one line per frame on stderr\n"
                "  -h, --help               this text\n"
                "\n"
                "Verdicts: spliced, closed_by_client, refused, malformed, no_broker, timeout,\n"
                "open (still open when the replay ended), unreported (the balancer never\n"
                "reported the connection), no_listener (no listener of its address family).\n"
                "stream_intact: the emulated broker received the captured client stream byte\n"
                "for byte (after a correct PROXY v2 header when proxy_protocol is on).\n"
                "A summary goes to stderr. Exit 0, 1 on a user error, 2 when the replay failed\n"
                "or the balancer leaked a connection or a frame.\n",
                TOPIC_LONG, TOPIC_SHOWN);
}

/* Length of the UTF-8 sequence at p[0..n) (RFC 3629), 0 when ill-formed. */
static uint32_t utf8_len(const uint8_t *p, uint32_t n)
{
        uint32_t len, cp;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2, cp = p[0] & 0x1f;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                len = 3, cp = p[0] & 0x0f;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                len = 4, cp = p[0] & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (uint32_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

/* A JSON string of arbitrary bytes (RFC 8259 section 7): escapes as needed,
 * ill-formed UTF-8 as U+FFFD. */
static void json_bytes(FILE *f, const uint8_t *p, uint32_t n, const char *suffix)
{
        fputc('"', f);
        for (uint32_t i = 0; i < n;) {
                uint32_t k = utf8_len(p + i, n - i);

                if (!k) {
                        fputs("\\ufffd", f);
                        i++;
                        continue;
                }
                if (k > 1) {
                        fwrite(p + i, 1, k, f);
                } else if (p[i] == '"' || p[i] == '\\') {
                        fputc('\\', f);
                        fputc(p[i], f);
                } else if (p[i] == '\n') {
                        fputs("\\n", f);
                } else if (p[i] == '\t') {
                        fputs("\\t", f);
                } else if (p[i] == '\r') {
                        fputs("\\r", f);
                } else if (p[i] < 0x20 || p[i] == 0x7f) {
                        fprintf(f, "\\u%04x", p[i]);
                } else {
                        fputc(p[i], f);
                }
                i += k;
        }
        if (suffix)
                fputs(suffix, f);
        fputc('"', f);
}

/* A C string as a JSON string; null when NULL or empty. */
static void json_str(FILE *f, const char *s)
{
        if (!s || !*s)
                fputs("null", f);
        else
                json_bytes(f, (const uint8_t *)s, (uint32_t)strlen(s), NULL);
}

/* How many bytes of a long topic to show: TOPIC_SHOWN, less a cut sequence. */
static uint32_t topic_cut(const uint8_t *p, uint32_t n)
{
        uint32_t i = 0;

        while (i < n && i < TOPIC_SHOWN) {
                uint32_t k = utf8_len(p + i, n - i);

                if (!k)
                        k = 1;
                if (i + k > TOPIC_SHOWN)
                        break;
                i += k;
        }
        return i;
}

/* A topic as a JSON string, shortened past TOPIC_LONG bytes. */
static void json_topic(FILE *f, const struct mqtt_str *t)
{
        char suffix[48];

        if (t->len <= TOPIC_LONG) {
                json_bytes(f, t->ptr, t->len, NULL);
                return;
        }
        snprintf(suffix, sizeof(suffix), "…(%u bytes)", t->len);
        json_bytes(f, t->ptr, topic_cut(t->ptr, t->len), suffix);
}

/* The verdict column: the balancer's, or why it never gave one. */
static const char *verdict_of(const struct replay_result *r)
{
        if (!r->listener)
                return "no_listener";
        if (!r->reported)
                return "unreported";
        return lb_verdict__str(r->verdict);
}

/* The client's ADDR:PORT into buf. */
static void client_name(const struct replay_conn *k, char *buf, size_t len)
{
        struct net_addr a = {.ip.family = k->family, .port = k->cport};

        memcpy(a.ip.addr, k->caddr, 16);
        net_addr__str(&a, buf, len);
}

/* Why a malformed connection was: the MQTT parser's or the TLS reader's reason. */
static const char *malformed_str(const struct replay_result *r)
{
        return r->tls_err != TLS_HELLO_OK ? tls_hello_err__str(r->tls_err) : mqtt_err__str(r->err);
}

/* One connection as one JSON object on a line (--json). */
static void print_json(FILE *f, const struct replay_conn *k, const struct replay_result *r)
{
        char client[64];

        client_name(k, client, sizeof(client));
        fputs("{\"client\": ", f);
        json_str(f, client);
        fputs(", \"client_id\": ", f);
        if (r->reported)
                json_bytes(f, r->client_id, r->client_id_len, NULL);
        else
                fputs("null", f);
        fputs(", \"pool\": ", f);
        json_str(f, r->pool);
        fputs(", \"broker\": ", f);
        json_str(f, r->pool[0] ? r->broker : NULL);
        fprintf(f, ", \"bound_at\": \"%s\", \"topics\": [",
                r->reported ? lb_bound_at__str(r->bound_at) : "none");
        for (uint32_t i = 0; i < r->ntopics; i++) {
                if (i)
                        fputs(", ", f);
                json_topic(f, &r->topics[i]);
        }
        fprintf(f,
                "], \"verdict\": \"%s\", \"bytes_to_broker\": %llu, \"stream_intact\": %s, "
                "\"publishes\": %llu, \"bytes_from_client\": %llu, \"error\": ",
                verdict_of(r), (unsigned long long)r->bytes_to_broker,
                r->stream_intact ? "true" : "false", (unsigned long long)r->publishes,
                (unsigned long long)r->bytes_from_client);
        if (r->reported && r->verdict == LB_VERDICT_MALFORMED)
                fprintf(f, "\"%s\"", malformed_str(r));
        else
                fputs("null", f);
        if (r->sni[0]) {
                fputs(", \"sni\": ", f);
                json_str(f, r->sni);
        }
        fputs("}\n", f);
}

/* Printable ASCII as is, anything else as \xNN; at most max bytes shown. */
static void text_bytes(char *out, size_t cap, const uint8_t *p, uint32_t n, uint32_t max)
{
        size_t o = 0;

        for (uint32_t i = 0; i < n && i < max && o + 5 < cap; i++) {
                if (p[i] >= 0x20 && p[i] < 0x7f)
                        out[o++] = (char)p[i];
                else
                        o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
        }
        if (n > max && o + 4 < cap)
                o += (size_t)snprintf(out + o, cap - o, "...");
        out[o] = 0;
}

/* The column names of the text output. */
static void print_header(FILE *f)
{
        fprintf(f, "%-24s %-16s %-9s %-10s %-22s %10s %-6s %-20s %s\n", "CLIENT", "VERDICT",
                "BOUND", "POOL", "BROKER", "TO_BROKER", "INTACT", "CLIENT_ID", "TOPICS");
}

/* One connection as one line of the text table. */
static void print_text(FILE *f, const struct replay_conn *k, const struct replay_result *r)
{
        char client[64], id[128] = "-", topic[128] = "-", topics[160];

        client_name(k, client, sizeof(client));
        if (r->reported)
                text_bytes(id, sizeof(id), r->client_id, r->client_id_len, 20);
        if (r->ntopics)
                text_bytes(topic, sizeof(topic), r->topics[0].ptr, r->topics[0].len, 40);
        if (r->ntopics > 1)
                snprintf(topics, sizeof(topics), "%s (+%u)", topic, r->ntopics - 1);
        else
                snprintf(topics, sizeof(topics), "%s", topic);
        fprintf(f, "%-24s %-16s %-9s %-10s %-22s %10llu %-6s %-20s %s", client, verdict_of(r),
                r->reported ? lb_bound_at__str(r->bound_at) : "none", r->pool[0] ? r->pool : "-",
                r->pool[0] && r->broker[0] ? r->broker : "-",
                (unsigned long long)r->bytes_to_broker, r->stream_intact ? "yes" : "no", id,
                topics);
        if (r->reported && r->verdict == LB_VERDICT_MALFORMED)
                fprintf(f, " [%s]", malformed_str(r));
        if (r->sni[0])
                fprintf(f, " [sni %s]", r->sni);
        if (r->reported && r->verdict == LB_VERDICT_REFUSED)
                fprintf(f, " [code 0x%02x]", r->refusal);
        fputc('\n', f);
}

/* Appends ADDR:PORT s to list[*n] (--broker-down, --broker-refuse). */
static int add_addr(struct net_addr *list, uint32_t *n, const char *s, const char *opt)
{
        const char *why = NULL;

        if (*n == REPLAY_ADDRS_MAX) {
                cli__error("replay: %s: at most %d addresses", opt, REPLAY_ADDRS_MAX);
                return -1;
        }
        if (net_addr__parse(s, true, &list[*n], &why)) {
                cli__error("replay: %s %s: %s", opt, s, why ? why : "not ADDR:PORT");
                return -1;
        }
        (*n)++;
        return 0;
}

/* --tail SECONDS: more than 0, at most a day. */
static int parse_tail(const char *s, struct replay_opts *o)
{
        char *end;
        double secs = strtod(s, &end);

        if (*end || !(secs > 0) || secs > 86400) {
                cli__error("replay: --tail %s: seconds, more than 0", s);
                return -1;
        }
        o->tail_ns = (uint64_t)(secs * 1e9);
        return 0;
}

/* --seed N: any base strtoull takes (0x...). */
static int parse_seed(const char *s, struct replay_opts *o)
{
        char *end;

        errno = 0;
        o->seed = strtoull(s, &end, 0);
        if (errno || *end || end == s) {
                cli__error("replay: --seed %s: not a number", s);
                return -1;
        }
        return 0;
}

/* --workers N: 1 to WORKER_MAX. */
static int parse_workers(const char *s, struct replay_opts *o)
{
        char *end;
        unsigned long n = strtoul(s, &end, 10);

        if (*end || end == s || n < 1 || n > WORKER_MAX) {
                cli__error("replay: --workers %s: 1 to %d", s, WORKER_MAX);
                return -1;
        }
        o->workers = (uint32_t)n;
        return 0;
}

enum {
        OPT_JSON = 256,
        OPT_LIST,
        OPT_DOWN,
        OPT_REFUSE,
        OPT_TAIL,
        OPT_SEED,
        OPT_TRACE,
        OPT_WRITE_ALL,
        OPT_WORKERS,
};

static const struct option LONGOPTS[] = {
    {"config", required_argument, NULL, 'c'},
    {"read", required_argument, NULL, 'r'},
    {"write", required_argument, NULL, 'w'},
    {"write-all", no_argument, NULL, OPT_WRITE_ALL},
    {"json", no_argument, NULL, OPT_JSON},
    {"list", no_argument, NULL, OPT_LIST},
    {"broker-down", required_argument, NULL, OPT_DOWN},
    {"broker-refuse", required_argument, NULL, OPT_REFUSE},
    {"tail", required_argument, NULL, OPT_TAIL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"trace", no_argument, NULL, OPT_TRACE},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the command line asked for. */
struct replay_args {
        const char *cfg_path, *in_path;
        bool json, list;
        struct replay_opts o; /* what replay__run takes */
};

/* One option (getopt's c) into a; -1 after saying what is wrong. */
static int parse_option(int c, const char *arg, struct replay_args *a)
{
        struct replay_opts *o = &a->o;

        switch (c) {
        case 'c': a->cfg_path = arg; return 0;
        case 'r': a->in_path = arg; return 0;
        case 'w': o->out_path = arg; return 0;
        case OPT_WRITE_ALL: o->out_all = true; return 0;
        case OPT_JSON: a->json = true; return 0;
        case OPT_LIST: a->list = true; return 0;
        case OPT_DOWN: return add_addr(o->down, &o->ndown, arg, "--broker-down");
        case OPT_REFUSE: return add_addr(o->refuse, &o->nrefuse, arg, "--broker-refuse");
        case OPT_TAIL: return parse_tail(arg, o);
        case OPT_SEED: return parse_seed(arg, o);
        case OPT_TRACE: o->trace = stderr; return 0;
        case OPT_WORKERS: return parse_workers(arg, o);
        default: help(stderr); return -1; /* getopt named the option */
        }
}

/* The operands and the options that need each other; -1 after saying what is wrong. */
static int check_args(int argc, char **argv, const struct replay_args *a)
{
        if (optind < argc) {
                cli__error("replay: unexpected argument '%s'", argv[optind]);
                return -1;
        }
        if (!a->in_path || (!a->list && !a->cfg_path)) {
                cli__error("replay: %s is required (mqttlb replay --help)",
                           !a->in_path ? "-r IN.pcap" : "-c FILE");
                return -1;
        }
        if (a->o.out_all && !a->o.out_path) {
                cli__error("replay: --write-all needs -w OUT.pcap");
                return -1;
        }
        return 0;
}

/* Returns 0, or EXIT_USER after saying what is wrong; -1 for --help. */
static int parse_args(int argc, char **argv, struct replay_args *a)
{
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:r:w:h", LONGOPTS, NULL)) != -1) {
                if (c == 'h') {
                        help(stdout);
                        return -1;
                }
                if (parse_option(c, optarg, a))
                        return EXIT_USER;
        }
        return check_args(argc, argv, a) ? EXIT_USER : 0;
}

/* The exit status of a failed load: out of memory is a runtime failure. */
static int load_status(int r)
{
        return r == -ENOMEM ? EXIT_RUNTIME : EXIT_USER;
}

/* Reads the configuration (none for --list) and the capture; 0 or the exit status. */
static int load_inputs(const struct replay_args *a, struct config **cfg,
                       struct replay_capture **cap, char *err, size_t errlen)
{
        int r;

        if (!a->list) {
                r = config__load(a->cfg_path, cfg, err, errlen);
                if (r) {
                        cli__error("%s", err[0] ? err : strerror(-r));
                        return load_status(r);
                }
        }
        r = replay_capture__read(a->in_path, cap, err, errlen);
        if (r) {
                cli__error("%s", err[0] ? err : strerror(-r));
                if (*cfg)
                        config__free(*cfg);
                *cfg = NULL;
                return load_status(r);
        }
        return 0;
}

/* Builds the plan of cfg and replays cap through it; 0 or the exit status. */
static int run_replay(const struct replay_args *a, const struct config *cfg,
                      const struct replay_capture *cap, struct replay_result **res,
                      struct replay_summary *sum, char *err, size_t errlen)
{
        struct plan *plan = NULL;
        int r;

        r = plan__build(cfg, &plan, err, errlen);
        if (r) {
                cli__error("%s: %s", a->cfg_path, err[0] ? err : strerror(-r));
                return load_status(r);
        }
        r = replay__run(plan, cap, &a->o, res, sum, err, errlen);
        if (r) {
                cli__error("replay: %s", err[0] ? err : strerror(-r));
                return r == -EIO ? EXIT_USER : EXIT_RUNTIME;
        }
        return 0;
}

/* One line per captured connection on stdout, text (with a header) or JSON. */
static void print_results(const struct replay_capture *cap, const struct replay_result *res,
                          bool json)
{
        if (!json)
                print_header(stdout);
        for (uint32_t i = 0; i < cap->nconns; i++) {
                if (json)
                        print_json(stdout, &cap->conns[i], &res[i]);
                else
                        print_text(stdout, &cap->conns[i], &res[i]);
        }
        fflush(stdout);
}

/* The summary on stderr: frames, virtual time, counters, workers, strays. */
static void print_summary(const struct replay_summary *sum, uint32_t workers)
{
        char line[2048];

        fprintf(stderr,
                "replay: %u connections, %u spliced; frames in %llu out %llu, "
                "unknown-destination %llu, bad checksum %llu, bad source %llu; "
                "virtual time %.3f s, %llu steps\n",
                sum->connections, sum->spliced, (unsigned long long)sum->frames_in,
                (unsigned long long)sum->frames_out, (unsigned long long)sum->unknown_dst,
                (unsigned long long)sum->bad_checksum, (unsigned long long)sum->bad_source,
                (double)sum->virtual_ns / 1e9, (unsigned long long)sum->steps);
        lb_stats__nonzero(&sum->lb, line, sizeof(line));
        fprintf(stderr, "replay: counters:%s\n", line);
        if (workers > 1)
                fprintf(stderr, "replay: %u workers, %llu frames handed over\n", workers,
                        (unsigned long long)sum->handed_over);
        if (sum->unmatched_legs || sum->stray_reports || sum->open_at_end)
                fprintf(stderr,
                        "replay: %llu broker connections matched no captured one, %llu "
                        "reports for no client, %u connections still open at the end\n",
                        (unsigned long long)sum->unmatched_legs,
                        (unsigned long long)sum->stray_reports, sum->open_at_end);
}

/* The replay's own failures (step limit, leaks), each said; 0 or EXIT_RUNTIME. */
static int summary_status(const struct replay_summary *sum)
{
        int rc = 0;

        if (sum->step_limit) {
                cli__error("replay: stopped at the step limit (%llu steps)",
                           (unsigned long long)sum->steps - 1);
                rc = EXIT_RUNTIME;
        }
        if (sum->leaked_conns) {
                cli__error("replay: the balancer leaked %u connections (after close_all)",
                           sum->leaked_conns);
                rc = EXIT_RUNTIME;
        }
        if (sum->leaked_frames) {
                cli__error("replay: %u UMEM frames were not given back", sum->leaked_frames);
                rc = EXIT_RUNTIME;
        }
        return rc;
}

/* mqttlb replay: parse, load, list or replay and report, free. */
int cmd_replay(int argc, char **argv)
{
        static struct replay_args a; /* the address lists are large */
        char err[CONFIG_ERR_MAX + 256] = "";
        struct replay_capture *cap = NULL;
        struct replay_result *res = NULL;
        struct replay_summary sum;
        struct config *cfg = NULL;
        int rc;

        memset(&a, 0, sizeof(a));
        rc = parse_args(argc, argv, &a);
        if (rc)
                return rc < 0 ? 0 : rc;
        rc = load_inputs(&a, &cfg, &cap, err, sizeof(err));
        if (rc)
                return rc;
        if (a.list) {
                replay_capture__list(cap, stdout);
        } else {
                rc = run_replay(&a, cfg, cap, &res, &sum, err, sizeof(err));
                if (!rc) {
                        print_results(cap, res, a.json);
                        print_summary(&sum, a.o.workers);
                        rc = summary_status(&sum);
                }
        }
        replay_results__free(res, cap->nconns);
        replay_capture__free(cap);
        if (cfg)
                config__free(cfg);
        return rc;
}
