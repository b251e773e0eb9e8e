/*
 * xdpgen's command line (gen_opts.h): getopt_long over long options only,
 * every value checked with the option's name in the message, and --help.
 */
#include "bench/gen_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/gen_frame.h"
#include "xsk/umem.h"

enum {
        O_DEV = 256,
        O_QUEUES,
        O_CORES,
        O_COPY,
        O_ZEROCOPY,
        O_RING,
        O_SRC_MAC,
        O_DST_MAC,
        O_SRC,
        O_DST,
        O_SPORT,
        O_DPORT,
        O_FLOWS,
        O_SIZE,
        O_MODE,
        O_SRC_RANGE,
        O_MSS,
        O_SRC_COUNT,
        O_FLOW_SEQ,
        O_COUNT,
        O_DURATION,
        O_RATE,
        O_RX,
        O_RX_ONLY,
        O_RX_WAIT,
        O_RX_LINGER,
        O_RUN_ID,
        O_JSON,
        O_QUIET,
        O_HELP = 'h',
};

static const struct option OPTIONS[] = {
    {"dev", required_argument, NULL, O_DEV},
    {"queues", required_argument, NULL, O_QUEUES},
    {"cores", required_argument, NULL, O_CORES},
    {"copy", no_argument, NULL, O_COPY},
    {"zerocopy", no_argument, NULL, O_ZEROCOPY},
    {"ring", required_argument, NULL, O_RING},
    {"src-mac", required_argument, NULL, O_SRC_MAC},
    {"dst-mac", required_argument, NULL, O_DST_MAC},
    {"src", required_argument, NULL, O_SRC},
    {"dst", required_argument, NULL, O_DST},
    {"sport", required_argument, NULL, O_SPORT},
    {"dport", required_argument, NULL, O_DPORT},
    {"flows", required_argument, NULL, O_FLOWS},
    {"size", required_argument, NULL, O_SIZE},
    {"mode", required_argument, NULL, O_MODE},
    {"src-range", required_argument, NULL, O_SRC_RANGE},
    {"mss", required_argument, NULL, O_MSS},
    {"src-count", required_argument, NULL, O_SRC_COUNT},
    {"flow-seq", required_argument, NULL, O_FLOW_SEQ},
    {"count", required_argument, NULL, O_COUNT},
    {"duration", required_argument, NULL, O_DURATION},
    {"rate", required_argument, NULL, O_RATE},
    {"rx", no_argument, NULL, O_RX},
    {"rx-only", no_argument, NULL, O_RX_ONLY},
    {"rx-wait", required_argument, NULL, O_RX_WAIT},
    {"rx-linger", required_argument, NULL, O_RX_LINGER},
    {"run-id", required_argument, NULL, O_RUN_ID},
    {"json", no_argument, NULL, O_JSON},
    {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

void gen_cfg__usage(FILE *f)
{
        fprintf(
            f,
            "usage: xdpgen --dev IF [options]\n"
            "Sends Ethernet/IPv4/TCP frames through AF_XDP sockets, one thread per queue;\n"
            "optionally receives on the same sockets and counts what came back.\n"
            "\n"
            "Sockets:\n"
            "  --dev IF            interface (required)\n"
            "  --queues N          use queues 0..N-1, one thread each (default 1, max %u)\n"
            "  --cores LIST        pin thread t to the t-th core of LIST (a,b,c or a-b)\n"
            "  --copy | --zerocopy force the AF_XDP mode (default: zero copy where the\n"
            "                      driver has it, copy otherwise)\n"
            "  --ring N            entries of each RX/TX/fill/completion ring, a power of\n"
            "                      two (default 2048)\n"
            "\n"
            "Frames (--mode tcp, the default): TCP ACK|PSH, sequence numbers per flow\n"
            "advancing by the payload (fixed with --flow-seq), valid IPv4 and TCP\n"
            "checksums; the payload starts with a 16-byte stamp (magic \"XDG1\", run id,\n"
            "sequence number) and is padded with zeros to --size.\n"
            "  --src-mac MAC       (default: the interface's own)\n"
            "  --dst-mac MAC       (default: ff:ff:ff:ff:ff:ff)\n"
            "  --src IP            IPv4 source (default: the interface's address, else\n"
            "                      198.18.0.1)\n"
            "  --dst IP            IPv4 destination (default 198.18.0.2)\n"
            "  --sport P[-Q]       source ports (default 1024-65535)\n"
            "  --dport P[-Q]       destination ports (default 1883)\n"
            "  --src-count N       source addresses --src, --src + 1, ... --src + N - 1\n"
            "                      (default 1; --mode tcp and udp)\n"
            "  --flows N           distinct (sport, dport) pairs (default: --queues).\n"
            "                      Flow f has sport = P + f %% S and dport = P' + (f / S) %% D\n"
            "                      (S, D: sizes of the two ranges), so all N pairs differ;\n"
            "                      N may be at most S x D and at least --queues. Thread t\n"
            "                      sends flows t, t+N', t+2N'... (N' = --queues) round robin\n"
            "                      on queue t: a flow never changes queue. With --src-count\n"
            "                      A > 1 flow f comes from address --src + f %% A, and the\n"
            "                      ports are those of flow f / A: N may be at most A x S x D.\n"
            "  --size BYTES        Ethernet frame without FCS, %u..%u (default %u, the\n"
            "                      smallest that holds the headers and the stamp)\n"
            "  --mode tcp|syn|udp  syn: a SYN flood: 60-byte SYNs with an MSS option, from\n"
            "                      random addresses of --src-range and random ports of\n"
            "                      --sport to random ports of --dport; no stamp.\n"
            "                      udp: UDP datagrams over the flows, the stamp at the\n"
            "                      start of the UDP payload, padded with zeros to --size\n"
            "                      (UDP payload = --size - 42), valid UDP checksums\n"
            "  --src-range A/LEN   source addresses of --mode syn (default 198.18.0.0/15)\n"
            "  --mss N             MSS option of --mode syn (default 1460)\n"
            "  --flow-seq FILE     (--mode tcp) the flows are real connections: FILE has a\n"
            "                      line 'SPORT SND_NXT RCV_NXT' per flow (its source port,\n"
            "                      the next sequence number it sends and the next one it\n"
            "                      expects, decimal; '#' starts a comment). Every frame of\n"
            "                      the flow then carries seq SND_NXT - payload and ack\n"
            "                      RCV_NXT, and seq does not advance: each frame is a\n"
            "                      retransmission of the last payload bytes the\n"
            "                      connection sent (with the stamp as their content). The\n"
            "                      payload (--size - 54) must not exceed what each\n"
            "                      connection has sent. Needs --src-count 1; every flow's\n"
            "                      source port must be in FILE. Without it: a random\n"
            "                      first seq per flow, ack 1\n"
            "\n"
            "How much (numbers take a k, M or G suffix: x1000):\n"
            "  --count N           frames in total, split over the threads (thread t\n"
            "                      stamps t, t+N', t+2N'...)\n"
            "  --duration SECONDS  stop sending after this long\n"
            "                      (neither: until SIGINT/SIGTERM; both: the first)\n"
            "  --rate PPS          frames per second over all threads, a token bucket per\n"
            "                      thread (default 0: as fast as the TX rings take them)\n"
            "\n"
            "Receiving:\n"
            "  --rx                also receive on the same sockets (libxdp's default XDP\n"
            "                      program redirects every frame of a queue to its socket)\n"
            "  --rx-only           only receive: until --count frames arrived (stamped\n"
            "                      frames of the run, TCP or UDP whatever --mode, or SYNs\n"
            "                      with --mode syn), --duration\n"
            "                      passed, or SIGINT/SIGTERM\n"
            "  --rx-wait MS        after sending, wait up to MS for frames not yet back\n"
            "                      (default 1000)\n"
            "  --rx-linger MS      once every frame is back, keep counting MS longer so\n"
            "                      that late duplicates are seen (default 100)\n"
            "  --run-id X          the run id to stamp (sender) or accept (receiver); by\n"
            "                      default a sender picks one at random and --rx-only\n"
            "                      adopts the run id of the first stamped frame it sees\n"
            "\n"
            "Output: a summary on stderr, a progress line every second for runs longer\n"
            "than 2 s (not with --quiet), and with --json one object on stdout:\n"
            "  sent          frames the TX rings took\n"
            "  received      frames back with the stamp of this run\n"
            "  unique        distinct sequence numbers among them; null without --rx or\n"
            "                --rx-only, with --mode syn, or when a number fell outside\n"
            "                the tracked space (--count, else 2^28)\n"
            "  duplicates    frames whose sequence number had arrived before\n"
            "  lost          sent (or --count with --rx-only) - unique; with --mode syn,\n"
            "                - rx_syn; null without --rx/--rx-only, with --rx-only but\n"
            "                no --count, or when unique is null\n"
            "  rx_other      frames without this run's stamp (other traffic, other runs)\n"
            "  rx_syn        SYNs (without ACK) received, also counted in rx_other\n"
            "  rx_bad_csum   stamped frames or SYNs whose IPv4 or TCP checksum is wrong\n"
            "  rx_per_queue  per queue, frames with this run's stamp (SYNs with syn)\n"
            "  rx_kernel_dropped  frames the kernel dropped before the RX rings (ring\n"
            "                full or no free frame: XDP_STATISTICS)\n"
            "  seconds       sending: from start until the TX rings were drained;\n"
            "                --rx-only: from the first to the last counted frame\n"
            "  tx_pps        sent / seconds\n"
            "  rx_pps        received (rx_syn with syn) over first..last arrival\n"
            "  tx_dropped    frames built and stamped but never taken by a TX ring: the\n"
            "                ring was full when the run ended (frames a full ring\n"
            "                refuses are kept and offered again; those count in\n"
            "                tx_retries, each frame once)\n"
            "  dev_tx_dropped  increase of the interface's TX drop counter during the run\n"
            "                (the kernel dropped frames after the TX ring, e.g. a full\n"
            "                veth peer)\n"
            "  run_id, queues, zerocopy  what the run used\n"
            "  --json              print the JSON object on stdout\n"
            "  --quiet             no progress lines\n"
            "  --help              this text\n"
            "\n"
            "Exit status: 0 when it ran (whatever was lost), 1 on bad arguments, 2 on a\n"
            "runtime failure (socket setup...).\n",
            GEN_MAX_QUEUES, GEN_MIN_SIZE, UMEM_FRAME_SIZE, GEN_MIN_SIZE);
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* A decimal (or 0x hex) number with an optional k/M/G suffix, in lo..hi. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
        char *end;
        uint64_t v, mul = 1;

        if (!*s || *s == '-' || *s == '+')
                return false;
        errno = 0;
        v = strtoull(s, &end, 0);
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

static bool parse_ports(const char *s, uint16_t *lo, uint16_t *hi)
{
        char buf[32], *dash;
        uint32_t a, b;

        if (strlen(s) >= sizeof(buf))
                return false;
        strcpy(buf, s);
        dash = strchr(buf, '-');
        if (dash)
                *dash = 0;
        if (!parse_u32(buf, 1, 65535, &a))
                return false;
        b = a;
        if (dash && !parse_u32(dash + 1, a, 65535, &b))
                return false;
        *lo = (uint16_t)a;
        *hi = (uint16_t)b;
        return true;
}

static bool parse_mac(const char *s, uint8_t *mac)
{
        unsigned v[6];
        char tail;

        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &tail) != 6)
                return false;
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t)v[i];
        return true;
}

static bool parse_cidr(const char *s, uint32_t *ip, uint32_t *len)
{
        char buf[32], *slash;

        if (strlen(s) >= sizeof(buf))
                return false;
        strcpy(buf, s);
        slash = strchr(buf, '/');
        if (!slash)
                return false;
        *slash = 0;
        return inet_pton(AF_INET, buf, ip) == 1 && parse_u32(slash + 1, 0, 32, len);
}

/* a,b,c and a-b, in order */
static bool parse_cores(const char *s, struct gen_cfg *c)
{
        char buf[512], *save = NULL;

        if (strlen(s) >= sizeof(buf))
                return false;
        strcpy(buf, s);
        c->ncores = 0;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *dash = strchr(tok, '-');
                uint32_t a, b;

                if (dash)
                        *dash = 0;
                if (!parse_u32(tok, 0, 4095, &a))
                        return false;
                b = a;
                if (dash && !parse_u32(dash + 1, a, 4095, &b))
                        return false;
                for (uint32_t k = a; k <= b; k++) {
                        if (c->ncores == GEN_MAX_QUEUES)
                                return false;
                        c->cores[c->ncores++] = (int)k;
                }
        }
        return c->ncores > 0;
}

static void defaults(struct gen_cfg *c)
{
        memset(c, 0, sizeof(*c));
        c->queues = 1;
        c->ring = 2048;
        memset(c->dst_mac, 0xff, 6);
        inet_pton(AF_INET, "198.18.0.1", &c->src_ip);
        inet_pton(AF_INET, "198.18.0.2", &c->dst_ip);
        inet_pton(AF_INET, "198.18.0.0", &c->range_ip);
        c->range_len = 15;
        c->sport_lo = 1024;
        c->sport_hi = 65535;
        c->dport_lo = c->dport_hi = 1883;
        c->size = GEN_MIN_SIZE;
        c->mss = 1460;
        c->src_count = 1;
        c->rx_wait_ms = 1000;
        c->rx_linger_ms = 100;
}

/* Combinations, once every option is known. */
static int check(struct gen_cfg *c, bool flows_set, char *err, size_t errlen)
{
        uint64_t pairs =
            (uint64_t)(c->sport_hi - c->sport_lo + 1) * (c->dport_hi - c->dport_lo + 1);

        if (!c->dev)
                return bad(err, errlen, "--dev: required (the interface to use)");
        if (c->rx && c->rx_only)
                return bad(err, errlen, "--rx-only: conflicts with --rx");
        if (c->rx_only && c->rate)
                return bad(err, errlen, "--rate: nothing is sent with --rx-only");
        for (uint32_t i = 0; i < c->ncores; i++)
                if (c->cores[i] >= sysconf(_SC_NPROCESSORS_CONF))
                        return bad(err, errlen, "--cores: CPU %d does not exist (%ld CPUs)",
                                   c->cores[i], sysconf(_SC_NPROCESSORS_CONF));
        if (c->ncores && c->ncores < c->queues)
                return bad(err, errlen, "--cores: %u core(s) listed for %u queues", c->ncores,
                           c->queues);
        if (c->rate && c->rate < c->queues)
                return bad(err, errlen, "--rate: %llu is below one frame per second per queue",
                           (unsigned long long)c->rate);
        if (c->flow_seq && c->mode != GEN_MODE_TCP)
                return bad(err, errlen, "--flow-seq: only with --mode tcp");
        if (c->flow_seq && c->rx_only)
                return bad(err, errlen, "--flow-seq: nothing is sent with --rx-only");
        if (c->flow_seq && c->src_count > 1)
                return bad(err, errlen,
                           "--flow-seq: flows are found by source port: needs --src-count 1");
        if (c->mode == GEN_MODE_SYN) {
                if (c->size_set)
                        return bad(err, errlen,
                                   "--size: not used by --mode syn (SYNs are %u bytes)",
                                   GEN_SYN_SIZE);
                if (flows_set)
                        return bad(err, errlen, "--flows: not used by --mode syn (random ports)");
                if (c->src_count > 1)
                        return bad(err, errlen,
                                   "--src-count: not used by --mode syn (--src-range)");
                c->size = GEN_SYN_SIZE;
                return 0;
        }
        pairs *= c->src_count;
        if (!c->flows)
                c->flows = c->queues;
        if (c->flows < c->queues)
                return bad(err, errlen,
                           "--flows: %u is fewer than --queues %u (each queue sends its own flows)",
                           c->flows, c->queues);
        if (c->flows > pairs)
                return bad(err, errlen,
                           "--flows: %u exceeds the %llu distinct (source, sport, dport) of "
                           "--src-count, --sport and --dport",
                           c->flows, (unsigned long long)pairs);
        if (c->flow_seq && c->flows > c->sport_hi - c->sport_lo + 1u)
                return bad(err, errlen,
                           "--flow-seq: flows are found by source port: --flows %u exceeds "
                           "the %u ports of --sport",
                           c->flows, c->sport_hi - c->sport_lo + 1u);
        return 0;
}

int gen_cfg__parse(struct gen_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
        bool flows_set = false;
        uint64_t v;
        int o;

        defaults(c);
        opterr = 0;
        optind = 1;
        while ((o = getopt_long(argc, argv, ":h", OPTIONS, NULL)) != -1) {
                const char *a = optarg;

                switch (o) {
                case O_DEV:
                        if (!*a)
                                return bad(err, errlen, "--dev: empty interface name");
                        c->dev = a;
                        break;
                case O_QUEUES:
                        if (!parse_u32(a, 1, GEN_MAX_QUEUES, &c->queues))
                                return bad(err, errlen, "--queues: '%s' is not a number in 1..%u",
                                           a, GEN_MAX_QUEUES);
                        break;
                case O_CORES:
                        if (!parse_cores(a, c))
                                return bad(
                                    err, errlen,
                                    "--cores: '%s' is not a list of CPU numbers (a,b or a-b)", a);
                        break;
                case O_COPY:
                case O_ZEROCOPY:
                        if (c->xmode != XSK_MODE_AUTO)
                                return bad(err, errlen, "--%s: give only one of --copy, --zerocopy",
                                           o == O_COPY ? "copy" : "zerocopy");
                        c->xmode = o == O_COPY ? XSK_MODE_COPY : XSK_MODE_ZEROCOPY;
                        break;
                case O_RING:
                        if (!parse_u32(a, 64, 1u << 16, &c->ring) || (c->ring & (c->ring - 1)))
                                return bad(err, errlen,
                                           "--ring: '%s' is not a power of two in 64..65536", a);
                        break;
                case O_SRC_MAC:
                case O_DST_MAC:
                        if (!parse_mac(a, o == O_SRC_MAC ? c->src_mac : c->dst_mac))
                                return bad(err, errlen, "--%s: '%s' is not a MAC address",
                                           o == O_SRC_MAC ? "src-mac" : "dst-mac", a);
                        c->src_mac_set |= o == O_SRC_MAC;
                        break;
                case O_SRC:
                case O_DST:
                        if (inet_pton(AF_INET, a, o == O_SRC ? &c->src_ip : &c->dst_ip) != 1)
                                return bad(err, errlen, "--%s: '%s' is not an IPv4 address",
                                           o == O_SRC ? "src" : "dst", a);
                        c->src_ip_set |= o == O_SRC;
                        break;
                case O_SPORT:
                        if (!parse_ports(a, &c->sport_lo, &c->sport_hi))
                                return bad(err, errlen, "--sport: '%s' is not a port or P-Q", a);
                        break;
                case O_DPORT:
                        if (!parse_ports(a, &c->dport_lo, &c->dport_hi))
                                return bad(err, errlen, "--dport: '%s' is not a port or P-Q", a);
                        break;
                case O_FLOWS:
                        if (!parse_u32(a, 1, 1u << 20, &c->flows))
                                return bad(err, errlen, "--flows: '%s' is not a number in 1..%u", a,
                                           1u << 20);
                        flows_set = true;
                        break;
                case O_SIZE:
                        if (!parse_u32(a, GEN_MIN_SIZE, UMEM_FRAME_SIZE, &c->size))
                                return bad(err, errlen,
                                           "--size: '%s' is not in %u..%u (%u: headers and the "
                                           "16-byte stamp)",
                                           a, GEN_MIN_SIZE, UMEM_FRAME_SIZE, GEN_MIN_SIZE);
                        c->size_set = true;
                        break;
                case O_MODE:
                        if (!strcmp(a, "tcp"))
                                c->mode = GEN_MODE_TCP;
                        else if (!strcmp(a, "syn"))
                                c->mode = GEN_MODE_SYN;
                        else if (!strcmp(a, "udp"))
                                c->mode = GEN_MODE_UDP;
                        else
                                return bad(err, errlen, "--mode: '%s' is not tcp, syn or udp", a);
                        break;
                case O_SRC_RANGE:
                        if (!parse_cidr(a, &c->range_ip, &c->range_len))
                                return bad(err, errlen, "--src-range: '%s' is not A.B.C.D/LEN", a);
                        break;
                case O_SRC_COUNT:
                        if (!parse_u32(a, 1, 1u << 16, &c->src_count))
                                return bad(err, errlen,
                                           "--src-count: '%s' is not a number in 1..65536", a);
                        break;
                case O_FLOW_SEQ:
                        if (!*a)
                                return bad(err, errlen, "--flow-seq: empty file name");
                        c->flow_seq = a;
                        break;
                case O_MSS:
                        if (!parse_u64(a, 1, 65535, &v))
                                return bad(err, errlen, "--mss: '%s' is not a number in 1..65535",
                                           a);
                        c->mss = (uint16_t)v;
                        break;
                case O_COUNT:
                        if (!parse_u64(a, 1, UINT64_MAX / 2, &c->count))
                                return bad(err, errlen, "--count: '%s' is not a positive number",
                                           a);
                        break;
                case O_DURATION: {
                        char *end;

                        c->duration = strtod(a, &end);
                        if (end == a || *end || !isfinite(c->duration) || c->duration <= 0 ||
                            c->duration > 1e6)
                                return bad(err, errlen,
                                           "--duration: '%s' is not a number of seconds > 0", a);
                        break;
                }
                case O_RATE:
                        if (!parse_u64(a, 0, 1000000000000ull, &c->rate))
                                return bad(err, errlen, "--rate: '%s' is not a number", a);
                        break;
                case O_RX: c->rx = true; break;
                case O_RX_ONLY: c->rx_only = true; break;
                case O_RX_WAIT:
                case O_RX_LINGER:
                        if (!parse_u32(a, 0, 3600000,
                                       o == O_RX_WAIT ? &c->rx_wait_ms : &c->rx_linger_ms))
                                return bad(err, errlen,
                                           "--%s: '%s' is not milliseconds (0..3600000)",
                                           o == O_RX_WAIT ? "rx-wait" : "rx-linger", a);
                        break;
                case O_RUN_ID:
                        if (!parse_u32(a, 1, UINT32_MAX, &c->run_id))
                                return bad(err, errlen,
                                           "--run-id: '%s' is not a number in 1..2^32-1", a);
                        c->run_id_set = true;
                        break;
                case O_JSON: c->json = true; break;
                case O_QUIET: c->quiet = true; break;
                case O_HELP: gen_cfg__usage(stdout); return 1;
                case ':': return bad(err, errlen, "%s: needs a value", argv[optind - 1]);
                default:
                        return bad(err, errlen, "%s: unknown option (see --help)",
                                   argv[optind - 1]);
                }
        }
        if (optind < argc)
                return bad(err, errlen, "%s: unexpected argument (see --help)", argv[optind]);
        return check(c, flows_set, err, errlen);
}
