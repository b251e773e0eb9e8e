/*
 * mqttload's command line (opts.h): getopt_long, every value checked with the
 * option's name in the message, --help, and the -t / -i pattern expander.
 */
#include "bench/mqttload/opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
        O_HOST = 'H',
        O_PORT = 'p',
        O_CLIENTS = 'c',
        O_QOS = 'q',
        O_VERSION = 'V',
        O_TOPIC = 't',
        O_CLIENT_ID = 'i',
        O_RATE = 'r',
        O_SIZE = 's',
        O_COUNT = 'n',
        O_DURATION = 'd',
        O_CONN_RATE = 'R',
        O_BIND = 'b',
        O_THREADS = 'w',
        O_USERNAME = 'u',
        O_PASSWORD = 'P',
        O_HELP = 'h',
        O_EXPECT = 256,
        O_PUBLISHERS,
        O_INFLIGHT,
        O_JSON,
        O_PROGRESS,
        O_QUIET,
        O_RECONNECT,
        O_KEEPALIVE,
        O_CONNECT_TIMEOUT,
        O_IDLE,
        O_DRAIN,
        O_RETRY_DELAY,
        O_PUBID_BASE,
        O_RXBUF,
        O_TICK_US,
        O_TLS,
        O_SNI,
        O_CAFILE,
        O_TLS_VERSION,
        O_TLS_RESUME,
};

static const struct option OPTIONS[] = {
    {"host", required_argument, NULL, O_HOST},
    {"port", required_argument, NULL, O_PORT},
    {"clients", required_argument, NULL, O_CLIENTS},
    {"qos", required_argument, NULL, O_QOS},
    {"mqtt-version", required_argument, NULL, O_VERSION},
    {"topic", required_argument, NULL, O_TOPIC},
    {"client-id", required_argument, NULL, O_CLIENT_ID},
    {"rate", required_argument, NULL, O_RATE},
    {"size", required_argument, NULL, O_SIZE},
    {"count", required_argument, NULL, O_COUNT},
    {"duration", required_argument, NULL, O_DURATION},
    {"conn-rate", required_argument, NULL, O_CONN_RATE},
    {"bind", required_argument, NULL, O_BIND},
    {"threads", required_argument, NULL, O_THREADS},
    {"username", required_argument, NULL, O_USERNAME},
    {"password", required_argument, NULL, O_PASSWORD},
    {"expect", required_argument, NULL, O_EXPECT},
    {"publishers", required_argument, NULL, O_PUBLISHERS},
    {"inflight", required_argument, NULL, O_INFLIGHT},
    {"json", no_argument, NULL, O_JSON},
    {"progress", no_argument, NULL, O_PROGRESS},
    {"quiet", no_argument, NULL, O_QUIET},
    {"reconnect", no_argument, NULL, O_RECONNECT},
    {"keepalive", required_argument, NULL, O_KEEPALIVE},
    {"connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT},
    {"idle", required_argument, NULL, O_IDLE},
    {"drain", required_argument, NULL, O_DRAIN},
    {"retry-delay", required_argument, NULL, O_RETRY_DELAY},
    {"pubid-base", required_argument, NULL, O_PUBID_BASE},
    {"rxbuf", required_argument, NULL, O_RXBUF},
    {"tick-us", required_argument, NULL, O_TICK_US},
    {"tls", no_argument, NULL, O_TLS},
    {"sni", required_argument, NULL, O_SNI},
    {"cafile", required_argument, NULL, O_CAFILE},
    {"tls-version", required_argument, NULL, O_TLS_VERSION},
    {"tls-resume", no_argument, NULL, O_TLS_RESUME},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static const char SHORT_OPTIONS[] = ":H:p:c:q:V:t:i:r:s:n:d:R:b:w:u:P:h";

const char *load_mode__name(enum load_mode m)
{
        switch (m) {
        case LOAD_PUB: return "pub";
        case LOAD_SUB: return "sub";
        case LOAD_CONN: return "conn";
        }
        return "?";
}

void load_cfg__usage(FILE *f)
{
        fprintf(f,
                "usage: mqttload pub|sub|conn -H HOST[,HOST...] [options]\n"
                "An MQTT load tool on io_uring: many clients per thread, one ring per thread.\n"
                "\n"
                "Modes:\n"
                "  pub   each client connects and publishes (-r, -n, -d), QoS 1 waits for\n"
                "        PUBACK, QoS 2 does PUBREC/PUBREL/PUBCOMP; counts sent and acked\n"
                "  sub   each client subscribes to -t and counts what arrives: duplicates,\n"
                "        losses (--expect), latency from the payload's send timestamp\n"
                "  conn  clients connect and hold the connection (PINGREQ at keepalive)\n"
                "        until -d; connect rate and latency (SYN to CONNACK), failures\n"
                "\n"
                "Connections:\n"
                "  -H, --host H[,H...]     brokers, client i uses host i %% N (required)\n"
                "  -p, --port PORT         (default 1883; 8883 with --tls)\n"
                "  -c, --clients N         clients (default 1, max %u)\n"
                "  -V, --mqtt-version V    3 (3.1), 4 (3.1.1) or 5 (default 4)\n"
                "  -i, --client-id PAT     client id pattern (default \"mqttload-%%m-%%i\")\n"
                "  -u, --username U, -P, --password P\n"
                "  -R, --conn-rate N       new connections per second (default: all at once)\n"
                "  -b, --bind A[,A...]     local source addresses, client i binds A[i %% N]\n"
                "                          (the port is picked at connect time)\n"
                "  --keepalive S           MQTT keepalive, PINGREQ after S/2 idle (default 60)\n"
                "  --connect-timeout S     SYN to CONNACK (and SUBACK) (default 10)\n"
                "  --reconnect             a dropped connection reconnects at once; a failed\n"
                "                          attempt is retried after --retry-delay\n"
                "  --retry-delay S         (default 0.1)\n"
                "  -w, --threads N         threads, each with its own ring; client i runs on\n"
                "                          thread i %% N (default 1, max %u)\n"
                "\n"
                "TLS (OpenSSL; the handshake runs in the ring like the rest):\n"
                "  --tls                   MQTT over TLS; connect time is then SYN to CONNACK\n"
                "                          with the handshake in it (also reported alone)\n"
                "  --sni NAME              server name to send (default: none)\n"
                "  --cafile FILE           verify the broker's chain against FILE (and with\n"
                "                          --sni its name); default: no verification\n"
                "  --tls-version V         1.2 or 1.3 only (default: 1.2 or later)\n"
                "  --tls-resume            a client offers its previous connection's session\n"
                "                          (default: every connection a full handshake)\n"
                "\n"
                "Messages:\n"
                "  -t, --topic PAT         topic (sub: filter, wildcards allowed), default\n"
                "                          \"bench/%%i\"\n"
                "  -q, --qos Q             0, 1 or 2 (default 0)\n"
                "  -r, --rate N            pub: messages per second per client (default 0:\n"
                "                          flat out, bounded by --inflight for QoS 1/2)\n"
                "  -s, --size BYTES        pub: payload (default 32). From 24 bytes on the\n"
                "                          payload starts with magic \"MQL1\", publisher id,\n"
                "                          sequence number and CLOCK_MONOTONIC send time;\n"
                "                          16..23 bytes carry id, 32-bit sequence and time;\n"
                "                          below 16 nothing is decoded (no latency, no\n"
                "                          duplicates, no losses)\n"
                "  -n, --count N           pub: messages per client, then DISCONNECT;\n"
                "                          sub: stop once every client received N\n"
                "  -d, --duration S        run time (whichever of -n/-d ends first; neither:\n"
                "                          until SIGINT/SIGTERM, or --expect/--idle for sub)\n"
                "  --inflight N            QoS 1/2 window per client (default 16; a v5\n"
                "                          broker's Receive Maximum lowers it)\n"
                "  --pubid-base N          pub: publisher id = N + client number (default 0),\n"
                "                          for several pub processes feeding one sub\n"
                "  --drain S               pub: when stopping, wait up to S for acks of\n"
                "                          messages in flight (default 2)\n"
                "  --expect N              sub: messages expected per publisher id; lost =\n"
                "                          N - distinct sequence numbers received\n"
                "  --publishers N          sub: publishers every subscriber expects; one it\n"
                "                          never heard from counts N (--expect) lost, and the\n"
                "                          run ends when every subscriber has them all\n"
                "  --idle S                sub: stop S seconds after the last message\n"
                "  --rxbuf BYTES           initial receive buffer per connection (default:\n"
                "                          sub 16384, else 1024; grows for a larger packet)\n"
                "  --tick-us N             timer tick for rates (default 1000)\n"
                "\n"
                "Output:\n"
                "  --json                  one JSON object on stdout at the end (the summary\n"
                "                          goes to stderr then), keys: mode clients connected\n"
                "                          connect_failed disconnected sent acked received\n"
                "                          duplicated lost msgs_per_s conn_per_s lat_p50_us\n"
                "                          lat_p99_us lat_p999_us lat_max_us connect_p50_us\n"
                "                          connect_p99_us reconnects duration_s, and more\n"
                "                          (--tls: tls_handshakes tls_p50_us tls_p99_us...)\n"
                "  --progress              one progress line per second on stderr\n"
                "  --quiet                 no \"ready\" line and no summary\n"
                "\n"
                "Exit status: 0 when it ran (whatever was lost), 1 on bad arguments, 2 when\n"
                "no client could connect, 3 on an internal failure (io_uring, memory).\n",
                LOAD_MAX_CLIENTS, LOAD_MAX_THREADS);
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* A decimal number with an optional k/M/G suffix (x1000), in lo..hi. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
        char *end;
        uint64_t v, mul = 1;

        if (!*s || *s == '-' || *s == '+')
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return false;
        if (*end == 'k' || *end == 'K')
                mul = 1000;
        else if (*end == 'M')
                mul = 1000000;
        else if (*end == 'G')
                mul = 1000000000;
        if (mul > 1)
                end++;
        if (*end || (v && mul > UINT64_MAX / v))
                return false;
        v *= mul;
        if (v < lo || v > hi)
                return false;
        *out = v;
        return true;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
        uint64_t v;

        if (!parse_u64(s, lo, hi, &v))
                return false;
        *out = (uint32_t)v;
        return true;
}

/* A non-negative finite number with an optional k/M suffix, at most hi. */
static bool parse_double(const char *s, double hi, double *out)
{
        char *end;
        double v;

        if (!*s || *s == '-' || *s == '+')
                return false;
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || !isfinite(v))
                return false;
        if (*end == 'k' || *end == 'K') {
                v *= 1e3;
                end++;
        } else if (*end == 'M') {
                v *= 1e6;
                end++;
        }
        if (*end || v < 0 || v > hi)
                return false;
        *out = v;
        return true;
}

/* Only %i %c %m %p %%; %c only where allow_c. */
static bool pattern_ok(const char *pat, bool allow_c, char *which)
{
        for (const char *p = pat; *p; p++) {
                if (*p != '%')
                        continue;
                p++;
                if (*p == 'i' || *p == 'm' || *p == 'p' || *p == '%' || (allow_c && *p == 'c'))
                        continue;
                *which = *p;
                return false;
        }
        return true;
}

int load_pattern__expand(char *out, size_t cap, const char *pat, uint32_t idx, const char *cid,
                         enum load_mode mode)
{
        size_t n = 0;

        for (const char *p = pat; *p; p++) {
                char num[24];
                const char *add = num;
                size_t len;

                if (*p != '%') {
                        num[0] = *p;
                        num[1] = 0;
                } else {
                        p++;
                        switch (*p) {
                        case 'i': snprintf(num, sizeof(num), "%u", idx); break;
                        case 'p': snprintf(num, sizeof(num), "%d", (int)getpid()); break;
                        case 'm': add = load_mode__name(mode); break;
                        case 'c': add = cid ? cid : ""; break;
                        default: strcpy(num, "%"); break;
                        }
                }
                len = strlen(add);
                if (n + len + 1 > cap)
                        return -1;
                memcpy(out + n, add, len);
                n += len;
        }
        out[n] = 0;
        return (int)n;
}

static int parse_hosts(struct load_cfg *c, const char *arg, char *err, size_t errlen)
{
        char *copy = strdup(arg), *save = NULL;
        int ret = 0;

        if (!copy)
                return bad(err, errlen, "-H: out of memory");
        c->nhosts = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
                int rc;

                if (c->nhosts == LOAD_MAX_ADDRS) {
                        ret = bad(err, errlen, "-H: more than %u hosts", LOAD_MAX_ADDRS);
                        break;
                }
                rc = getaddrinfo(tok, NULL, &hints, &res);
                if (rc || !res) {
                        ret = bad(err, errlen, "-H: cannot resolve \"%s\": %s", tok,
                                  gai_strerror(rc));
                        break;
                }
                memcpy(&c->hosts[c->nhosts].ss, res->ai_addr, res->ai_addrlen);
                c->hosts[c->nhosts].len = res->ai_addrlen;
                c->nhosts++;
                freeaddrinfo(res);
        }
        if (!ret && !c->nhosts)
                ret = bad(err, errlen, "-H: no host in \"%s\"", arg);
        free(copy);
        return ret;
}

static int parse_binds(struct load_cfg *c, const char *arg, char *err, size_t errlen)
{
        char *copy = strdup(arg), *save = NULL;
        int ret = 0;

        if (!copy)
                return bad(err, errlen, "-b: out of memory");
        c->nbinds = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                struct load_addr *a = &c->binds[c->nbinds];
                struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
                struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;

                if (c->nbinds == LOAD_MAX_ADDRS) {
                        ret = bad(err, errlen, "-b: more than %u addresses", LOAD_MAX_ADDRS);
                        break;
                }
                memset(a, 0, sizeof(*a));
                if (inet_pton(AF_INET, tok, &v4->sin_addr) == 1) {
                        v4->sin_family = AF_INET;
                        a->len = sizeof(*v4);
                } else if (inet_pton(AF_INET6, tok, &v6->sin6_addr) == 1) {
                        v6->sin6_family = AF_INET6;
                        a->len = sizeof(*v6);
                } else {
                        ret = bad(err, errlen, "-b: \"%s\" is not an IPv4 or IPv6 address", tok);
                        break;
                }
                c->nbinds++;
        }
        if (!ret && !c->nbinds)
                ret = bad(err, errlen, "-b: no address in \"%s\"", arg);
        free(copy);
        return ret;
}

static void set_port(struct load_addr *a, uint16_t port)
{
        if (a->ss.ss_family == AF_INET)
                ((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
        else
                ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

static void defaults(struct load_cfg *c)
{
        memset(c, 0, sizeof(*c));
        c->port = 1883;
        c->clients = 1;
        c->version = 4;
        c->topic = "bench/%i";
        c->client_id = "mqttload-%m-%i";
        c->size = 32;
        c->inflight = 16;
        c->threads = 1;
        c->keepalive = 60;
        c->connect_timeout = 10;
        c->drain = 2;
        c->retry_delay = 0.1;
        c->tick_us = 1000;
}

/* Combinations, once every option is known. */
static int check(struct load_cfg *c, const char *host_arg, const char *bind_arg, bool rxbuf_set,
                 bool port_set, char *err, size_t errlen)
{
        char which;
        int ret;

        if (!host_arg)
                return bad(err, errlen, "-H: required (the broker to load)");
        if (!c->tls && (c->sni || c->cafile || c->tls_version || c->tls_resume))
                return bad(err, errlen, "%s: needs --tls",
                           c->sni           ? "--sni"
                           : c->cafile      ? "--cafile"
                           : c->tls_version ? "--tls-version"
                                            : "--tls-resume");
        if (c->tls && !port_set)
                c->port = 8883;
        ret = parse_hosts(c, host_arg, err, errlen);
        if (ret)
                return ret;
        for (uint32_t h = 0; h < c->nhosts; h++)
                set_port(&c->hosts[h], c->port);
        if (bind_arg) {
                ret = parse_binds(c, bind_arg, err, errlen);
                if (ret)
                        return ret;
                for (uint32_t b = 0; b < c->nbinds; b++)
                        for (uint32_t h = 0; h < c->nhosts; h++)
                                if (c->binds[b].ss.ss_family != c->hosts[h].ss.ss_family)
                                        return bad(err, errlen,
                                                   "-b: address %u is not of the family of "
                                                   "host %u (-H)",
                                                   b + 1, h + 1);
        }
        if (!pattern_ok(c->client_id, false, &which))
                return bad(err, errlen, "-i: unknown escape %%%c (%%i %%m %%p %%%% only)", which);
        if (!pattern_ok(c->topic, true, &which))
                return bad(err, errlen, "-t: unknown escape %%%c (%%i %%c %%m %%p %%%% only)",
                           which);
        if (!*c->topic)
                return bad(err, errlen, "-t: empty topic");
        if (c->mode == LOAD_PUB && strpbrk(c->topic, "+#"))
                return bad(err, errlen, "-t: a pub topic cannot contain the wildcards + or #");
        if (c->mode == LOAD_CONN && c->count)
                return bad(err, errlen, "-n: not with conn (use -d)");
        if (c->publishers && !c->expect)
                return bad(err, errlen, "--publishers: needs --expect");
        if ((c->expect || c->publishers || c->idle > 0) && c->mode != LOAD_SUB)
                return bad(err, errlen, "%s: only with sub",
                           c->expect       ? "--expect"
                           : c->publishers ? "--publishers"
                                           : "--idle");
        if (c->threads > c->clients)
                c->threads = c->clients;
        if (!rxbuf_set)
                c->rxbuf = c->mode == LOAD_SUB ? 16384 : 1024;
        return 0;
}

int load_cfg__parse(struct load_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
        const char *host_arg = NULL, *bind_arg = NULL;
        bool rxbuf_set = false, port_set = false;
        int opt;
        uint32_t v;

        defaults(c);
        opterr = 0;
        optind = 1;
        while ((opt = getopt_long(argc, argv, SHORT_OPTIONS, OPTIONS, NULL)) != -1) {
                const char *a = optarg;

                switch (opt) {
                case O_HOST: host_arg = a; break;
                case O_BIND: bind_arg = a; break;
                case O_PORT:
                        if (!parse_u32(a, 1, 65535, &v))
                                return bad(err, errlen, "-p: \"%s\" is not a port (1..65535)", a);
                        c->port = (uint16_t)v;
                        port_set = true;
                        break;
                case O_CLIENTS:
                        if (!parse_u32(a, 1, LOAD_MAX_CLIENTS, &c->clients))
                                return bad(err, errlen, "-c: \"%s\" is not a client count (1..%u)",
                                           a, LOAD_MAX_CLIENTS);
                        break;
                case O_QOS:
                        if (!parse_u32(a, 0, 2, &v))
                                return bad(err, errlen, "-q: \"%s\" is not a QoS (0, 1 or 2)", a);
                        c->qos = (uint8_t)v;
                        break;
                case O_VERSION:
                        if (!parse_u32(a, 3, 5, &v))
                                return bad(err, errlen,
                                           "-V: \"%s\" is not an MQTT version (3 = 3.1, 4 = "
                                           "3.1.1, 5 = 5.0)",
                                           a);
                        c->version = (uint8_t)v;
                        break;
                case O_TOPIC: c->topic = a; break;
                case O_CLIENT_ID: c->client_id = a; break;
                case O_USERNAME: c->username = a; break;
                case O_PASSWORD: c->password = a; break;
                case O_RATE:
                        if (!parse_double(a, 1e9, &c->rate))
                                return bad(err, errlen,
                                           "-r: \"%s\" is not a rate (messages per second per "
                                           "client, >= 0)",
                                           a);
                        break;
                case O_SIZE:
                        if (!parse_u32(a, 0, 16u << 20, &c->size))
                                return bad(err, errlen, "-s: \"%s\" is not a payload size (0..%u)",
                                           a, 16u << 20);
                        break;
                case O_COUNT:
                        if (!parse_u64(a, 1, UINT64_MAX, &c->count))
                                return bad(err, errlen, "-n: \"%s\" is not a count (>= 1)", a);
                        break;
                case O_DURATION:
                        if (!parse_double(a, 1e7, &c->duration) || c->duration <= 0)
                                return bad(err, errlen,
                                           "-d: \"%s\" is not a duration (seconds > 0)", a);
                        break;
                case O_CONN_RATE:
                        if (!parse_double(a, 1e9, &c->conn_rate) || c->conn_rate <= 0)
                                return bad(err, errlen,
                                           "-R: \"%s\" is not a connection rate (per second > 0)",
                                           a);
                        break;
                case O_THREADS:
                        if (!parse_u32(a, 1, LOAD_MAX_THREADS, &c->threads))
                                return bad(err, errlen, "-w: \"%s\" is not a thread count (1..%u)",
                                           a, LOAD_MAX_THREADS);
                        break;
                case O_EXPECT:
                        if (!parse_u64(a, 1, 1ull << 32, &c->expect))
                                return bad(err, errlen, "--expect: \"%s\" is not a count (1..2^32)",
                                           a);
                        break;
                case O_PUBLISHERS:
                        if (!parse_u32(a, 1, LOAD_MAX_CLIENTS, &c->publishers))
                                return bad(err, errlen,
                                           "--publishers: \"%s\" is not a count (1..%u)", a,
                                           LOAD_MAX_CLIENTS);
                        break;
                case O_INFLIGHT:
                        if (!parse_u32(a, 1, 65535, &c->inflight))
                                return bad(err, errlen,
                                           "--inflight: \"%s\" is not a window (1..65535)", a);
                        break;
                case O_KEEPALIVE:
                        if (!parse_u32(a, 0, 65535, &v))
                                return bad(err, errlen,
                                           "--keepalive: \"%s\" is not a keepalive (0..65535 s)",
                                           a);
                        c->keepalive = (uint16_t)v;
                        break;
                case O_CONNECT_TIMEOUT:
                        if (!parse_double(a, 86400, &c->connect_timeout) ||
                            c->connect_timeout < 0.001)
                                return bad(err, errlen,
                                           "--connect-timeout: \"%s\" is not a timeout (seconds "
                                           ">= 0.001)",
                                           a);
                        break;
                case O_IDLE:
                        if (!parse_double(a, 86400, &c->idle) || c->idle <= 0)
                                return bad(err, errlen,
                                           "--idle: \"%s\" is not a time (seconds > 0)", a);
                        break;
                case O_DRAIN:
                        if (!parse_double(a, 86400, &c->drain))
                                return bad(err, errlen, "--drain: \"%s\" is not a time (seconds)",
                                           a);
                        break;
                case O_RETRY_DELAY:
                        if (!parse_double(a, 86400, &c->retry_delay))
                                return bad(err, errlen,
                                           "--retry-delay: \"%s\" is not a time (seconds)", a);
                        break;
                case O_PUBID_BASE:
                        if (!parse_u32(a, 0, UINT32_MAX - LOAD_MAX_CLIENTS, &c->pubid_base))
                                return bad(err, errlen,
                                           "--pubid-base: \"%s\" is not a number (0..%u)", a,
                                           UINT32_MAX - LOAD_MAX_CLIENTS);
                        break;
                case O_RXBUF:
                        if (!parse_u32(a, 64, 64u << 20, &c->rxbuf))
                                return bad(err, errlen,
                                           "--rxbuf: \"%s\" is not a buffer size (64..%u)", a,
                                           64u << 20);
                        rxbuf_set = true;
                        break;
                case O_TICK_US:
                        if (!parse_u32(a, 50, 1000000, &c->tick_us))
                                return bad(err, errlen,
                                           "--tick-us: \"%s\" is not a tick (50..1000000 us)", a);
                        break;
                case O_JSON: c->json = true; break;
                case O_PROGRESS: c->progress = true; break;
                case O_QUIET: c->quiet = true; break;
                case O_RECONNECT: c->reconnect = true; break;
                case O_TLS: c->tls = true; break;
                case O_TLS_RESUME: c->tls_resume = true; break;
                case O_SNI:
                        if (!*a || strlen(a) > 255)
                                return bad(err, errlen, "--sni: \"%s\" is not a server name", a);
                        c->sni = a;
                        break;
                case O_CAFILE:
                        if (!*a)
                                return bad(err, errlen, "--cafile: empty file name");
                        c->cafile = a;
                        break;
                case O_TLS_VERSION:
                        if (!strcmp(a, "1.2"))
                                c->tls_version = 12;
                        else if (!strcmp(a, "1.3"))
                                c->tls_version = 13;
                        else
                                return bad(err, errlen, "--tls-version: \"%s\" is not 1.2 or 1.3",
                                           a);
                        break;
                case O_HELP: load_cfg__usage(stdout); return 1;
                case ':':
                        if (optopt && optopt < 256)
                                return bad(err, errlen, "-%c: needs a value", optopt);
                        return bad(err, errlen, "%s: needs a value", argv[optind - 1]);
                default:
                        if (optopt && optopt < 256)
                                return bad(err, errlen, "-%c: unknown option", optopt);
                        return bad(err, errlen, "%s: unknown option", argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return bad(err, errlen, "mode: missing (pub, sub or conn)");
        if (optind + 1 < argc)
                return bad(err, errlen, "%s: unexpected argument (one mode only)",
                           argv[optind + 1]);
        if (!strcmp(argv[optind], "pub"))
                c->mode = LOAD_PUB;
        else if (!strcmp(argv[optind], "sub"))
                c->mode = LOAD_SUB;
        else if (!strcmp(argv[optind], "conn"))
                c->mode = LOAD_CONN;
        else
                return bad(err, errlen, "mode: \"%s\" is not pub, sub or conn", argv[optind]);
        return check(c, host_arg, bind_arg, rxbuf_set, port_set, err, errlen);
}
