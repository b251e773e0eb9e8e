/*
 * libFuzzer target for the whole packet path (DESIGN.md "Tests": one target
 * for the parser, one for the packet path). Owns nothing of the product: it
 * drives the real worker loop and balancer (core/datapath/worker.c, core/lb/ files)
 * through the offline harness (tests/lib/lb_harness.h: a memory port on a
 * virtual clock) and checks invariants with abort(), which libFuzzer reports.
 *
 * Each input is a script (lb_script.h): one configuration byte, then up to
 * LBS_MAX_OPS operations on one harness, opened per input and closed at its
 * end. Operations send segments from up to four hostile clients (three IPv4
 * ports, one IPv6) and from the brokers of the legs the balancer opens
 * (learned from its SYNs), any flags, sequence and ACK numbers relative to
 * what each peer sent and heard (exact, +-1, +-small, far, random), SACK
 * blocks, windows, SYN options, payloads from a table of MQTT packets or raw
 * input bytes; advance the virtual clock (small steps or past the connect,
 * bind and idle timeouts); repeat the last frame; and step a second,
 * well-behaved connection (client 10.10.0.2:50000, topic good/x, pool good)
 * whose endpoints answer everything at once, like an ideal network.
 *
 * Invariants (abort on breach):
 * - every frame the balancer sends has right checksums, comes from MAC
 *   LBH_LB_MAC and an address of the balancer (listener or source), and goes
 *   to a peer of the script (a client address and port, or a broker of the
 *   configuration at its port);
 * - it never holds more connections than client 4-tuples were used;
 * - a SYN sent again to the good broker keeps its ISN;
 * - the good connection's bytes arrive intact both ways: its broker gets the
 *   PROXY header (when configured), then exactly the client's stream; its
 *   client gets the balancer's CONNACK, then exactly the broker's stream
 *   (the broker's CONNACK consumed);
 * - while the good connection is younger than GOOD_AGE (no timeout of its
 *   own can have fired), each of its steps completes (SYN-ACK, CONNACK,
 *   spliced, every byte delivered) and it sees no RST or FIN: a hostile
 *   connection must not disturb another. Once it is that old and not yet
 *   spliced, the bind timeout may have sent it to a broker the script took
 *   for a hostile leg's: it is left alone (unchecked) from then on;
 * - lbh__close returns 0: every UMEM frame is back in the pool;
 * - and whatever ASan and UBSan report.
 *
 * Build: CC=clang cmake -S . -B build/fuzz -DMQTTLB_SANITIZE=ON -DMQTTLB_FUZZ=ON
 *   && cmake --build build/fuzz --target fuzz_lb
 * CI runs a short smoke run over tests/fuzz/corpus/lb (ctest -R fuzz.lb_smoke).
 * A longer run (10 minutes, new inputs into a scratch corpus, the seeds read
 * too; -fork=N for N cores):
 *   mkdir -p /tmp/lb-corpus && build/fuzz/tests/fuzz/fuzz_lb -max_total_time=600
 *     -max_len=2048 -timeout=10 -artifact_prefix=/tmp/lb- /tmp/lb-corpus tests/fuzz/corpus/lb
 * Reproduce a crash: build/fuzz/tests/fuzz/fuzz_lb /tmp/lb-crash-<sha1>; with
 * FUZZ_LB_TRACE=1 in the environment every operation and every frame the
 * balancer sends is printed; shrink it with -minimize_crash=1 -runs=10000.
 * The seeds come from make_lb_seeds.c (cmake --build B --target fuzz_lb_seeds).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_harness.h"
#include "lb_script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MS            1000000ull
#define T0            (1000 * MS)
#define TIME_CAP      (600000 * MS) /* virtual time an input may spend */
#define GOOD_AGE      (900 * MS)    /* below every timeout of the configuration */
#define GOOD_STEPS    40
#define NCLIENTS      4
#define NLEGS         8
#define SETTLE_ROUNDS 16
#define STREAM_MAX    4096
#define UMEM_FRAMES   256

#define LISTEN_PORT 1883
#define BROKER_PORT 1883
#define GOOD_PORT   50000

/* ---- addresses --------------------------------------------------------------- */

struct addr {
        uint8_t family;
        uint8_t a[16];
};

static const struct addr LISTEN4 = {4, {10, 10, 0, 100}};
static const struct addr LISTEN6 = {6, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}};
static const struct addr SOURCE4 = {4, {10, 20, 0, 1}};
static const struct addr SOURCE6 = {6, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
static const struct addr CLIENT4 = {4, {10, 10, 0, 1}};
static const struct addr CLIENT6 = {6, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc1}};
static const struct addr GOOD_CLIENT = {4, {10, 10, 0, 2}};
static const struct addr GOOD_BROKER = {4, {10, 20, 0, 21}};
static const struct addr BROKERS[] = {
    {4, {10, 20, 0, 11}}, {4, {10, 20, 0, 12}}, {4, {10, 20, 0, 13}},
    {4, {10, 20, 0, 15}}, {4, {10, 20, 0, 21}}, {6, {0xfd, [15] = 0x13}},
};
static const struct addr *const LB_ADDRS[] = {&LISTEN4, &LISTEN6, &SOURCE4, &SOURCE6};

static const char CONFIG_FMT[] =
    "interfaces: [{name: lb0}]\n"
    "listeners: [{address: 10.10.0.100, port: 1883}, {address: \"fd00::100\", port: 1883}]\n"
    "source_addresses: [10.20.0.1, \"[fd00::1]:1024-2047\"]\n"
    "workers: 1\n"
    "pools:\n"
    "  - name: apples\n"
    "    brokers: [\"10.20.0.11:1883\", \"10.20.0.12:1883\"]\n"
    "%s"
    "  - name: pears\n"
    "    brokers: [\"10.20.0.13:1883\", \"[fd00::13]:1883\"]\n"
    "    balance: least-connections\n"
    "  - name: cams\n"
    "    brokers: [\"10.20.0.15:1883\"]\n"
    "    balance: least-connections\n"
    "  - name: good\n"
    "    brokers: [\"10.20.0.21:1883\"]\n"
    "    balance: least-connections\n"
    "routes: [{topic: \"apples/#\", pool: apples}, {topic: \"pears/#\", pool: pears},\n"
    "         {client_id: \"cam-*\", pool: cams}, {topic: \"good/#\", pool: good}]\n"
    "default_pool: apples\n"
    "misroute: %s\n"
    "proxy_protocol: %s\n"
    "connections: {idle_timeout: 5s, connect_timeout: 250ms, bind_timeout: 1s,\n"
    "              syn_retries: 2, max_connections: 64, buffer: %s}\n";

/* ---- the payload table ------------------------------------------------------- */

#define B(...)                                                                                   \
        {                                                                                        \
                .b = (const uint8_t[]){__VA_ARGS__}, .n = sizeof((const uint8_t[]){__VA_ARGS__}) \
        }
#define MQTT_    0x00, 0x04, 'M', 'Q', 'T', 'T'
#define APPLES_X 'a', 'p', 'p', 'l', 'e', 's', '/', 'x'

struct bytes {
        const uint8_t *b;
        uint32_t n;
};

static uint8_t publish_big[3 + 10 + 999];

static const struct bytes PAYLOADS[LBS_P__COUNT] = {
    [LBS_P_NONE] = {NULL, 0},
    [LBS_P_CONNECT] = B(0x10, 0x0f, MQTT_, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 'f', 'z', '1'),
    [LBS_P_CONNECT_V5] =
        B(0x10, 0x10, MQTT_, 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x03, 'f', 'z', '5'),
    [LBS_P_CONNECT_WILL] =
        B(0x10, 0x1e, MQTT_, 0x04, 0x06, 0x00, 0x3c, 0x00, 0x03, 'f', 'z', 'w', 0x00, 0x08, 'a',
          'p', 'p', 'l', 'e', 's', '/', 'w', 0x00, 0x03, 'b', 'y', 'e'),
    [LBS_P_CONNECT_CAM] =
        B(0x10, 0x11, MQTT_, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x05, 'c', 'a', 'm', '-', '1'),
    [LBS_P_CONNECT_PERSIST] =
        B(0x10, 0x0f, MQTT_, 0x04, 0x00, 0x00, 0x3c, 0x00, 0x03, 'p', 'e', 'r'),
    [LBS_P_CONNECT_EMPTY] = B(0x10, 0x0c, MQTT_, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00),
    [LBS_P_PUBLISH] = B(0x30, 0x0f, 0x00, 0x08, APPLES_X, 'h', 'e', 'l', 'l', 'o'),
    [LBS_P_PUBLISH_PEARS] =
        B(0x30, 0x0e, 0x00, 0x07, 'p', 'e', 'a', 'r', 's', '/', 'x', 'h', 'e', 'l', 'l', 'o'),
    [LBS_P_PUBLISH_QOS1] = B(0x32, 0x0e, 0x00, 0x08, APPLES_X, 0x00, 0x01, 'h', 'i'),
    [LBS_P_PUBLISH_ALIAS] = B(0x30, 0x0f, 0x00, 0x08, APPLES_X, 0x03, 0x23, 0x00, 0x01, 'a'),
    [LBS_P_PUBLISH_BY_ALIAS] = B(0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 'b'),
    [LBS_P_PUBLISH_BIG] = {publish_big, sizeof(publish_big)},
    [LBS_P_SUBSCRIBE] =
        B(0x82, 0x0d, 0x00, 0x02, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e', 's', '/', '#', 0x00),
    [LBS_P_SUBSCRIBE_V5] =
        B(0x82, 0x0d, 0x00, 0x03, 0x00, 0x00, 0x07, 'p', 'e', 'a', 'r', 's', '/', '+', 0x00),
    [LBS_P_UNSUBSCRIBE] =
        B(0xa2, 0x0c, 0x00, 0x04, 0x00, 0x08, 'a', 'p', 'p', 'l', 'e', 's', '/', '#'),
    [LBS_P_PINGREQ] = B(0xc0, 0x00),
    [LBS_P_DISCONNECT] = B(0xe0, 0x00),
    [LBS_P_CONNACK] = B(0x20, 0x02, 0x00, 0x00),
    [LBS_P_CONNACK_REFUSED] = B(0x20, 0x02, 0x00, 0x05),
    [LBS_P_CONNACK_V5] = B(0x20, 0x03, 0x00, 0x00, 0x00),
    [LBS_P_PUBLISH_DOWN] = B(0x30, 0x0c, 0x00, 0x08, APPLES_X, 'h', 'i'),
    [LBS_P_PUBACK] = B(0x40, 0x02, 0x00, 0x01),
    [LBS_P_SUBACK] = B(0x90, 0x03, 0x00, 0x02, 0x00),
    [LBS_P_PINGRESP] = B(0xd0, 0x00),
    [LBS_P_BAD_EMPTY_TOPIC] = B(0x30, 0x03, 0x00, 0x00, 'A'),
    [LBS_P_BAD_VARINT] = B(0x30, 0xff, 0xff, 0xff, 0xff, 0x7f),
    [LBS_P_BAD_TYPE0] = B(0x00, 0x00),
    [LBS_P_AUTH] = B(0xf0, 0x00),
};

/* The good connection's fixed packets. */
static const uint8_t GOOD_CONNECT[] = {0x10, 0x10, MQTT_, 0x04, 0x02, 0x00, 0x3c,
                                       0x00, 0x04, 'g',   'o',  'o',  'd'};
static const uint8_t GOOD_CONNACK[] = {0x20, 0x02, 0x00, 0x00};
static const uint8_t PROXY_SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* ---- state -------------------------------------------------------------------- */

/* A hostile client: what it sent and what it heard. */
struct client {
        struct lbh_peer peer;
        bool used;  /* sent a segment: its 4-tuple counts as opened */
        bool heard; /* a SYN-ACK since its last RST */
        uint32_t snd_nxt, rcv_nxt;
};

/* A broker leg the balancer opened for a hostile connection. */
struct leg {
        struct lbh_peer peer; /* from the broker to the balancer's port */
        bool answered;        /* the broker's SYN-ACK went out */
        uint32_t lb_isn, snd_nxt, rcv_nxt;
};

/* One direction of the good connection's stream. */
struct stream {
        uint8_t sent[STREAM_MAX];
        uint32_t nsent;
        uint32_t nrcvd; /* bytes received in order (all checked) */
};

/* The well-behaved connection and its broker: ideal endpoints. */
struct good {
        unsigned step;
        bool dead; /* no more steps (closed, or a step could not be taken) */
        uint64_t t_syn;
        struct lbh_peer cli, brk;
        uint32_t c_snd_nxt, c_rcv_nxt, b_snd_nxt, b_rcv_nxt;
        uint32_t b_isn, lb_isn;
        bool c_est, leg_known, b_syn, connack_sent;
        bool expect_leg; /* a SYN to GOOD_BROKER now is the good leg's */
        bool rst_seen, fin_seen;
        /* old enough to have been bound by the bind timeout before it was
         * spliced: its broker leg may be one the script took for hostile */
        bool unchecked;
        uint32_t proxy_len;       /* UINT32_MAX until the header was read */
        struct stream up;         /* client to broker: the broker received nrcvd bytes after
                                     the PROXY header */
        struct stream down;       /* broker to client: after its CONNACK; the client received
                                     nrcvd bytes after the balancer's CONNACK */
        uint32_t c_connack;       /* bytes of the balancer's CONNACK the client got */
        uint8_t b_rx[STREAM_MAX]; /* the broker's first bytes (the PROXY header) */
        uint32_t replay_len;      /* CONNECT + first PUBLISH */
};

struct fz {
        struct lbh *h;
        const uint8_t *in;
        size_t left;
        uint8_t cfg;
        uint64_t now;
        struct client cli[NCLIENTS];
        struct leg legs[NLEGS];
        unsigned nlegs, next_leg;
        struct good g;
        uint8_t last[2048];
        uint32_t last_len;
        bool trace;
};

static __attribute__((format(printf, 2, 3), noreturn)) void fail(const struct fz *z,
                                                                 const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "fuzz_lb: invariant broken at t=%llu ms: ",
                (unsigned long long)((z->now - T0) / MS));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        abort();
}

static __attribute__((format(printf, 2, 3))) void trace(const struct fz *z, const char *fmt, ...)
{
        va_list ap;

        if (!z->trace)
                return;
        fprintf(stderr, "[%6llu ms] ", (unsigned long long)((z->now - T0) / MS));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static bool seq_before(uint32_t a, uint32_t b)
{
        return (int32_t)(a - b) < 0;
}

/* ---- input -------------------------------------------------------------------- */

static uint8_t rd8(struct fz *z)
{
        if (!z->left)
                return 0;
        z->left--;
        return *z->in++;
}

static uint16_t rd16(struct fz *z)
{
        uint16_t v = rd8(z);

        return (uint16_t)(v << 8 | rd8(z));
}

static uint32_t rd32(struct fz *z)
{
        uint32_t v = rd16(z);

        return v << 16 | rd16(z);
}

static uint32_t rel(struct fz *z, uint32_t base, unsigned mode)
{
        switch (mode) {
        case LBS_REL_MINUS1: return base - 1;
        case LBS_REL_PLUS1: return base + 1;
        case LBS_REL_MINUS8: return base - rd8(z);
        case LBS_REL_PLUS8: return base + rd8(z);
        case LBS_REL_PLUS16: return base + rd16(z);
        case LBS_REL_MINUS16: return base - rd16(z);
        case LBS_REL_FAR: return base + ((uint32_t)rd8(z) << 16);
        case LBS_REL_RAW32: return rd32(z);
        case LBS_REL_HALF: return base + 0x80000000u;
        default: return base;
        }
}

static const uint8_t FLAGS[] = {
    [LBS_FLAGS_ACK] = TCP_OUT_ACK,
    [LBS_FLAGS_PSH_ACK] = TCP_OUT_PSH | TCP_OUT_ACK,
    [LBS_FLAGS_SYN] = TCP_OUT_SYN,
    [LBS_FLAGS_SYN_ACK] = TCP_OUT_SYN | TCP_OUT_ACK,
    [LBS_FLAGS_FIN_ACK] = TCP_OUT_FIN | TCP_OUT_ACK,
    [LBS_FLAGS_RST] = TCP_OUT_RST,
    [LBS_FLAGS_RST_ACK] = TCP_OUT_RST | TCP_OUT_ACK,
    [LBS_FLAGS_NONE] = 0,
};

/* The payload a payload byte selects, into buf when it is assembled. */
static struct bytes payload(struct fz *z, uint8_t sel, uint8_t *buf, size_t cap)
{
        struct bytes e = PAYLOADS[(sel & 0x3f) % LBS_P__COUNT], f;
        uint32_t n, cut;

        switch (sel >> 6) {
        case LBS_PAY_TABLE: return e;
        case LBS_PAY_RAW:
                n = rd8(z);
                if (n > z->left)
                        n = (uint32_t)z->left;
                e = (struct bytes){z->in, n};
                z->in += n, z->left -= n;
                return e;
        case LBS_PAY_HEAD:
                e = PAYLOADS[(sel & 0x1f) % LBS_P__COUNT];
                if (!e.n)
                        return e;
                cut = rd8(z) % (e.n + 1);
                if (sel & 0x20)
                        return (struct bytes){e.b + cut, e.n - cut};
                return (struct bytes){e.b, cut};
        default:
                f = PAYLOADS[rd8(z) % LBS_P__COUNT];
                if ((size_t)e.n + f.n > cap)
                        return e;
                if (e.n)
                        memcpy(buf, e.b, e.n);
                if (f.n)
                        memcpy(buf + e.n, f.b, f.n);
                return (struct bytes){buf, e.n + f.n};
        }
}

/* ---- sending ------------------------------------------------------------------ */

/* A hostile segment: built, kept for LBS_REPEAT, injected. False when it
 * cannot be built (too many options). */
static bool send_hostile(struct fz *z, const struct lbh_peer *p, const struct lbh_seg *s)
{
        int n = lbh__build(z->last, sizeof(z->last), p, s);

        if (n < 0) {
                trace(z, "  (not built: %d)", n);
                return false;
        }
        z->last_len = (uint32_t)n;
        lbh__inject(z->h, z->last, z->last_len);
        return true;
}

static void send_good(struct fz *z, const struct lbh_peer *p, uint8_t flags, uint32_t seq,
                      uint32_t ack, const void *data, uint32_t len)
{
        static const struct tcp_out_syn_opts syn = {1460, 7, true};

        if (lbh__send(z->h, p,
                      &(struct lbh_seg){.flags = flags,
                                        .seq = seq,
                                        .ack = ack,
                                        .win = 65535,
                                        .syn = &syn,
                                        .data = data,
                                        .len = len}))
                fail(z, "cannot inject a good segment");
}

/* ---- what the balancer sent --------------------------------------------------- */

static bool addr_is(const struct lbh_frame *f, const uint8_t *a, const struct addr *x)
{
        return f->family == x->family && !memcmp(a, x->a, x->family == 4 ? 4 : 16);
}

static void check_frame(const struct fz *z, const struct lbh_frame *f)
{
        bool from_lb = false, to_peer = false;

        if (!f->ok)
                fail(z, "a frame with a wrong checksum or not TCP (%u bytes)", f->len);
        if (memcmp(f->bytes + 6, LBH_LB_MAC, 6))
                fail(z, "a frame from another MAC");
        for (size_t i = 0; i < sizeof(LB_ADDRS) / sizeof(LB_ADDRS[0]); i++)
                from_lb |= addr_is(f, f->saddr, LB_ADDRS[i]);
        if (!from_lb)
                fail(z, "a frame from an address not the balancer's");
        for (size_t i = 0; i < sizeof(BROKERS) / sizeof(BROKERS[0]); i++)
                if (addr_is(f, f->daddr, &BROKERS[i])) {
                        if (f->dport != BROKER_PORT)
                                fail(z, "a frame to a broker's port %u", f->dport);
                        if (memcmp(f->bytes, LBH_BROKER_MAC, 6))
                                fail(z, "a frame to a broker with another MAC");
                        to_peer = true;
                }
        if (addr_is(f, f->daddr, &CLIENT4) || addr_is(f, f->daddr, &CLIENT6)) {
                if (f->dport < 40000 || f->dport >= 40000 + NCLIENTS)
                        fail(z, "a frame to client port %u", f->dport);
                to_peer = true;
        }
        if (addr_is(f, f->daddr, &GOOD_CLIENT)) {
                if (f->dport != GOOD_PORT)
                        fail(z, "a frame to the good client's port %u", f->dport);
                to_peer = true;
        }
        if (!to_peer)
                fail(z, "a frame to an address of no peer");
        if (!memcmp(f->bytes, LBH_BROKER_MAC, 6) == !memcmp(f->bytes, LBH_CLIENT_MAC, 6))
                fail(z, "a frame to an unknown MAC");
}

static uint32_t seg_end(const struct lbh_frame *f)
{
        return f->seq + f->plen + !!(f->flags & TCP_OUT_SYN) + !!(f->flags & TCP_OUT_FIN);
}

/* The good client's bytes, in order: the balancer's CONNACK, then the
 * broker's stream. */
static void good_client_data(struct fz *z, const struct lbh_frame *f)
{
        struct good *g = &z->g;

        if (f->seq != g->c_rcv_nxt)
                return; /* a retransmission (or a hole: nothing fills it here) */
        for (uint32_t i = 0; i < f->plen; i++) {
                uint8_t b = f->payload[i];

                if (g->c_connack < sizeof(GOOD_CONNACK)) {
                        if (b != GOOD_CONNACK[g->c_connack])
                                fail(z, "good client: CONNACK byte %u is 0x%02x", g->c_connack, b);
                        g->c_connack++;
                        continue;
                }
                if (g->down.nrcvd >= g->down.nsent)
                        fail(z, "good client: byte %u the broker never sent", g->down.nrcvd);
                if (b != g->down.sent[g->down.nrcvd])
                        fail(z, "good client: byte %u is 0x%02x, the broker sent 0x%02x",
                             g->down.nrcvd, b, g->down.sent[g->down.nrcvd]);
                g->down.nrcvd++;
        }
        g->c_rcv_nxt += f->plen;
}

/* The good broker's bytes, in order: the PROXY header, then the client's
 * stream (the replay of CONNECT and PUBLISH first). */
static void good_broker_data(struct fz *z, const struct lbh_frame *f)
{
        struct good *g = &z->g;
        uint32_t at = g->b_rcv_nxt - (g->lb_isn + 1); /* bytes received before */

        if (f->seq != g->b_rcv_nxt)
                return;
        for (uint32_t i = 0; i < f->plen; i++, at++) {
                uint8_t b = f->payload[i];

                if (g->proxy_len == UINT32_MAX) { /* reading the PROXY v2 header */
                        if (at >= sizeof(g->b_rx))
                                fail(z, "good broker: a PROXY header too long");
                        g->b_rx[at] = b;
                        if (at < sizeof(PROXY_SIG) && b != PROXY_SIG[at])
                                fail(z, "good broker: PROXY signature byte %u is 0x%02x", at, b);
                        if (at == 15)
                                g->proxy_len = 16u + (uint32_t)(g->b_rx[14] << 8 | g->b_rx[15]);
                        continue;
                }
                if (at < g->proxy_len)
                        continue;
                if (g->up.nrcvd >= g->up.nsent)
                        fail(z, "good broker: byte %u the client never sent", g->up.nrcvd);
                if (b != g->up.sent[g->up.nrcvd])
                        fail(z, "good broker: byte %u is 0x%02x, the client sent 0x%02x",
                             g->up.nrcvd, b, g->up.sent[g->up.nrcvd]);
                g->up.nrcvd++;
        }
        g->b_rcv_nxt += f->plen;
}

struct replies {
        bool c_ack, b_ack, b_synack;
};

static bool good_frame(struct fz *z, const struct lbh_frame *f, struct replies *r)
{
        struct good *g = &z->g;

        if (addr_is(f, f->daddr, &GOOD_CLIENT)) {
                if (!g->connack_sent && z->now - g->t_syn >= GOOD_AGE)
                        g->unchecked = g->dead = true;
                if (g->unchecked)
                        return true;
                if (f->flags & TCP_OUT_RST) {
                        g->rst_seen = g->dead = true;
                        return true;
                }
                if ((f->flags & (TCP_OUT_SYN | TCP_OUT_ACK)) == (TCP_OUT_SYN | TCP_OUT_ACK)) {
                        if (!g->c_est)
                                g->c_rcv_nxt = f->seq + 1;
                        g->c_est = true;
                        r->c_ack = true;
                        return true;
                }
                if (f->plen) {
                        good_client_data(z, f);
                        r->c_ack = true;
                }
                if (f->flags & TCP_OUT_FIN)
                        g->fin_seen = g->dead = true;
                return true;
        }
        if (!addr_is(f, f->daddr, &GOOD_BROKER))
                return false;
        if (!g->leg_known) {
                if (!g->expect_leg || (f->flags & (TCP_OUT_SYN | TCP_OUT_ACK)) != TCP_OUT_SYN)
                        return false;
                g->leg_known = true;
                g->brk = (struct lbh_peer){
                    .family = 4, .port = BROKER_PORT, .to_port = f->sport, .mac = LBH_BROKER_MAC};
                memcpy(g->brk.addr, GOOD_BROKER.a, 4);
                memcpy(g->brk.to, f->saddr, 4);
                g->lb_isn = f->seq;
                g->b_rcv_nxt = f->seq + 1;
        }
        if (f->sport != g->brk.to_port || memcmp(f->saddr, g->brk.to, 4))
                return false;
        if (f->flags & TCP_OUT_RST) {
                g->rst_seen = g->dead = true;
                return true;
        }
        if (f->flags & TCP_OUT_SYN) {
                if (f->seq != g->lb_isn)
                        fail(z, "a SYN sent again to the good broker with another ISN");
                r->b_synack = true;
                return true;
        }
        if (f->plen) {
                good_broker_data(z, f);
                r->b_ack = true;
        }
        if (f->flags & TCP_OUT_FIN)
                g->fin_seen = g->dead = true;
        return true;
}

static void good_reply(struct fz *z, const struct replies *r)
{
        struct good *g = &z->g;

        if (r->c_ack && !g->rst_seen)
                send_good(z, &g->cli, TCP_OUT_ACK, g->c_snd_nxt, g->c_rcv_nxt, NULL, 0);
        if (g->rst_seen)
                return;
        if (r->b_synack) {
                g->b_syn = true;
                send_good(z, &g->brk, TCP_OUT_SYN | TCP_OUT_ACK, g->b_isn, g->b_rcv_nxt, NULL, 0);
                return;
        }
        if (!r->b_ack)
                return;
        if (!g->connack_sent && g->up.nrcvd >= g->replay_len) {
                /* the replay is all in: the broker's CONNACK (the balancer eats it) */
                g->connack_sent = true;
                send_good(z, &g->brk, TCP_OUT_ACK | TCP_OUT_PSH, g->b_snd_nxt, g->b_rcv_nxt,
                          GOOD_CONNACK, sizeof(GOOD_CONNACK));
                g->b_snd_nxt += sizeof(GOOD_CONNACK);
                return;
        }
        send_good(z, &g->brk, TCP_OUT_ACK, g->b_snd_nxt, g->b_rcv_nxt, NULL, 0);
}

static struct client *client_of(struct fz *z, const struct lbh_frame *f)
{
        for (unsigned i = 0; i < NCLIENTS; i++) {
                struct client *c = &z->cli[i];

                if (c->peer.family == f->family &&
                    !memcmp(c->peer.addr, f->daddr, f->family == 4 ? 4 : 16) &&
                    c->peer.port == f->dport)
                        return c;
        }
        return NULL;
}

static struct leg *leg_of(struct fz *z, const struct lbh_frame *f)
{
        for (unsigned i = 0; i < z->nlegs; i++) {
                struct leg *l = &z->legs[i];

                if (l->peer.family == f->family &&
                    !memcmp(l->peer.addr, f->daddr, f->family == 4 ? 4 : 16) &&
                    l->peer.to_port == f->sport)
                        return l;
        }
        return NULL;
}

static uint32_t isn_base(const struct fz *z)
{
        return z->cfg & LBS_CFG_WRAP ? 0xffffff00u : 0x01000000u;
}

/* A broker leg the balancer opens for a hostile connection (its first SYN). */
static void leg_open(struct fz *z, const struct lbh_frame *f)
{
        struct leg *l = &z->legs[z->next_leg];
        unsigned idx = z->next_leg;

        z->next_leg = (z->next_leg + 1) % NLEGS;
        if (z->nlegs < NLEGS)
                z->nlegs++;
        memset(l, 0, sizeof(*l));
        l->peer = (struct lbh_peer){
            .family = f->family, .port = f->dport, .to_port = f->sport, .mac = LBH_BROKER_MAC};
        memcpy(l->peer.addr, f->daddr, 16);
        memcpy(l->peer.to, f->saddr, 16);
        l->lb_isn = f->seq;
        l->rcv_nxt = f->seq + 1;
        l->snd_nxt = isn_base(z) + 0x10000000u * idx + 77;
        trace(z, "  leg %u: port %u", idx, f->sport);
}

static void hostile_frame(struct fz *z, const struct lbh_frame *f)
{
        struct client *c = client_of(z, f);
        struct leg *l;

        if (c) {
                if (f->flags & TCP_OUT_RST) {
                        c->heard = false;
                        return;
                }
                if ((f->flags & (TCP_OUT_SYN | TCP_OUT_ACK)) == (TCP_OUT_SYN | TCP_OUT_ACK)) {
                        c->heard = true;
                        c->rcv_nxt = f->seq + 1;
                        return;
                }
                if (seq_before(c->rcv_nxt, seg_end(f)))
                        c->rcv_nxt = seg_end(f);
                return;
        }
        if (f->dport != BROKER_PORT)
                return;
        l = leg_of(z, f);
        if ((f->flags & TCP_OUT_SYN) && (!l || f->seq != l->lb_isn)) {
                leg_open(z, f);
                return;
        }
        if (l && seq_before(l->rcv_nxt, seg_end(f)))
                l->rcv_nxt = seg_end(f);
}

/* Checks and absorbs what the balancer sent; the good endpoints answer.
 * True when they injected something. */
static bool absorb(struct fz *z)
{
        struct replies r = {0};
        struct lbh *h = z->h;

        if (h->out_lost)
                fail(z, "more than LBH_OUT_MAX frames in one run");
        for (uint32_t i = 0; i < h->nout; i++) {
                const struct lbh_frame *f = &h->out[i];

                check_frame(z, f);
                if (z->trace)
                        trace(z, "  out %s:%u > :%u %s%s%s%s%s seq %u ack %u win %u sack %u len %u",
                              f->family == 4 ? "v4" : "v6", f->sport, f->dport,
                              f->flags & TCP_OUT_SYN ? "S" : "", f->flags & TCP_OUT_FIN ? "F" : "",
                              f->flags & TCP_OUT_RST ? "R" : "", f->flags & TCP_OUT_PSH ? "P" : "",
                              f->flags & TCP_OUT_ACK ? "." : "", f->seq, f->ack, f->win, f->nsack,
                              f->plen);
                if (!good_frame(z, f, &r))
                        hostile_frame(z, f);
        }
        lbh__clear(h);
        good_reply(z, &r);
        return r.c_ack || r.b_ack || r.b_synack;
}

static uint32_t tuples_used(const struct fz *z)
{
        uint32_t n = z->g.step > 0;

        for (unsigned i = 0; i < NCLIENTS; i++)
                n += z->cli[i].used;
        return n;
}

/* Runs the worker at the current time until the good endpoints have
 * nothing more to say. */
static void settle(struct fz *z)
{
        lbh__run(z->h, z->now);
        for (int i = 0; absorb(z) && i < SETTLE_ROUNDS; i++)
                lbh__run(z->h, z->now);
        if (lbh__connections(z->h) > tuples_used(z))
                fail(z, "%u connections held, %u client 4-tuples used", lbh__connections(z->h),
                     tuples_used(z));
}

/* ---- the good connection ------------------------------------------------------ */

static bool good_young(const struct fz *z)
{
        return z->g.step > 0 && z->now - z->g.t_syn < GOOD_AGE;
}

/* What every step done so far promised, while nothing of the good
 * connection's own can have timed out. */
static void good_check(const struct fz *z)
{
        const struct good *g = &z->g;

        if (!good_young(z))
                return;
        if (g->rst_seen || g->fin_seen)
                fail(z, "the good connection was closed (%s) at step %u",
                     g->rst_seen ? "RST" : "FIN", g->step);
        if (g->step >= 1 && !g->c_est)
                fail(z, "the good client got no SYN-ACK");
        if (g->step >= 2 && g->c_connack < sizeof(GOOD_CONNACK))
                fail(z, "the good client got no CONNACK");
        if (g->step >= 3 && !g->leg_known)
                fail(z, "no SYN to the good broker after the first PUBLISH");
        if (g->step >= 3 && !g->connack_sent)
                fail(z, "the good broker did not get the replay (%u of %u bytes)", g->up.nrcvd,
                     g->replay_len);
        if (g->step >= 3 && g->up.nrcvd != g->up.nsent)
                fail(z, "the good broker got %u of the client's %u bytes", g->up.nrcvd,
                     g->up.nsent);
        if (g->step >= 3 && g->down.nrcvd != g->down.nsent)
                fail(z, "the good client got %u of the broker's %u bytes", g->down.nrcvd,
                     g->down.nsent);
}

static void stream_put(const struct fz *z, struct stream *s, const void *b, uint32_t n)
{
        if (s->nsent + n > sizeof(s->sent))
                fail(z, "good stream too long");
        memcpy(s->sent + s->nsent, b, n);
        s->nsent += n;
}

/* PUBLISH good/<dir> "<dir><n>". */
static uint32_t good_publish(uint8_t *buf, char dir, unsigned n)
{
        int len = snprintf((char *)buf + 10, 16, "%c%03u", dir, n);

        buf[0] = 0x30;
        buf[1] = (uint8_t)(8 + len);
        buf[2] = 0x00;
        buf[3] = 0x06;
        memcpy(buf + 4, "good/", 5);
        buf[9] = (uint8_t)dir;
        return 10 + (uint32_t)len;
}

static void good_step(struct fz *z)
{
        struct good *g = &z->g;
        uint8_t pub[32];
        uint32_t n;

        if (g->dead || g->step >= GOOD_STEPS)
                return;
        trace(z, "good step %u", g->step);
        switch (g->step) {
        case 0:
                g->t_syn = z->now;
                send_good(z, &g->cli, TCP_OUT_SYN, g->c_snd_nxt - 1, 0, NULL, 0);
                break;
        case 1:
                if (!g->c_est) {
                        g->dead = true;
                        return;
                }
                stream_put(z, &g->up, GOOD_CONNECT, sizeof(GOOD_CONNECT));
                send_good(z, &g->cli, TCP_OUT_ACK | TCP_OUT_PSH, g->c_snd_nxt, g->c_rcv_nxt,
                          GOOD_CONNECT, sizeof(GOOD_CONNECT));
                g->c_snd_nxt += sizeof(GOOD_CONNECT);
                break;
        case 2:
                if (g->c_connack < sizeof(GOOD_CONNACK)) {
                        g->dead = true;
                        return;
                }
                n = good_publish(pub, 'x', 0);
                stream_put(z, &g->up, pub, n);
                g->replay_len = g->up.nsent;
                send_good(z, &g->cli, TCP_OUT_ACK | TCP_OUT_PSH, g->c_snd_nxt, g->c_rcv_nxt, pub,
                          n);
                g->c_snd_nxt += n;
                g->expect_leg = true;
                break;
        default:
                if (!g->connack_sent) {
                        g->dead = true;
                        return;
                }
                n = good_publish(pub, 'x', g->step);
                stream_put(z, &g->up, pub, n);
                send_good(z, &g->cli, TCP_OUT_ACK | TCP_OUT_PSH, g->c_snd_nxt, g->c_rcv_nxt, pub,
                          n);
                g->c_snd_nxt += n;
                n = good_publish(pub, 'y', g->step);
                stream_put(z, &g->down, pub, n);
                send_good(z, &g->brk, TCP_OUT_ACK | TCP_OUT_PSH, g->b_snd_nxt, g->b_rcv_nxt, pub,
                          n);
                g->b_snd_nxt += n;
                break;
        }
        g->step++;
        settle(z);
        g->expect_leg = false;
        good_check(z);
}

/* ---- hostile operations ------------------------------------------------------- */

static void sack_blocks(struct fz *z, unsigned n, uint32_t ack, struct tcp_sack_block *b)
{
        for (unsigned i = 0; i < n; i++) {
                int8_t from = (int8_t)rd8(z);

                b[i].start = from == INT8_MIN ? rd32(z) : ack + (uint32_t)(int32_t)from;
                b[i].end = b[i].start + rd8(z);
        }
}

static uint16_t window(struct fz *z, unsigned mode)
{
        switch (mode) {
        case LBS_WIN_1000: return 1000;
        case LBS_WIN_ZERO: return 0;
        case LBS_WIN_RAW16: return rd16(z);
        default: return 65535;
        }
}

/* flags seqack payload [...]: a segment from a peer that sent up to snd_nxt
 * and heard up to rcv_nxt, which move as a TCP endpoint's would. Returns
 * the flags sent, or -1 when nothing was. */
static int any_segment(struct fz *z, const struct lbh_peer *p, uint32_t *snd_nxt, uint32_t *rcv_nxt,
                       bool syn_opts)
{
        uint8_t fb = rd8(z), sa = rd8(z), pb = rd8(z);
        uint8_t flags = fb & LBS_FLAGS_RAW ? rd8(z) : FLAGS[fb & 7];
        uint32_t seq = rel(z, *snd_nxt, sa & 15), ack = rel(z, *rcv_nxt, sa >> 4);
        uint16_t win = window(z, (fb >> 3) & 3);
        struct tcp_sack_block sack[3];
        unsigned nsack = (fb >> 5) & 3;
        uint8_t buf[2048];
        struct bytes pay = payload(z, pb, buf, sizeof(buf));
        struct tcp_out_syn_opts so = {1460, 7, true};

        if ((flags & TCP_OUT_SYN) && syn_opts) {
                static const uint16_t mss[] = {1460, 536, 64};
                static const uint8_t ws[] = {7, TCP_WSCALE_NONE, 0, 14, 15, 2, 9};
                uint8_t o = rd8(z);

                so.mss = (o & 3) < 3 ? mss[o & 3] : rd16(z);
                so.wscale = ((o >> 2) & 7) < 7 ? ws[(o >> 2) & 7] : rd8(z);
                so.sack_ok = o & 0x20;
        }
        sack_blocks(z, nsack, ack, sack);
        trace(z, "  seg flags 0x%02x seq %+d ack %+d win %u sack %u len %u", flags,
              (int)(seq - *snd_nxt), (int)(ack - *rcv_nxt), win, nsack, pay.n);
        if (!send_hostile(z, p,
                          &(struct lbh_seg){.flags = flags,
                                            .seq = seq,
                                            .ack = ack,
                                            .win = win,
                                            .syn = &so,
                                            .sack = sack,
                                            .nsack = nsack,
                                            .data = pay.b,
                                            .len = pay.n}))
                return -1;
        if (flags & TCP_OUT_RST)
                return flags;
        if (flags & TCP_OUT_SYN)
                *snd_nxt = seq + 1 + pay.n + !!(flags & TCP_OUT_FIN);
        else if (seq == *snd_nxt)
                *snd_nxt += pay.n + !!(flags & TCP_OUT_FIN);
        return flags;
}

static void client_seg(struct fz *z, uint8_t arg)
{
        struct client *c = &z->cli[arg & 3];
        struct lbh_peer p = c->peer;

        trace(z, "client %u segment", arg & 3);
        if (arg & 4) { /* elsewhere: another listener port, or a broker leg's port */
                uint8_t d = rd8(z);

                if (d & 1 || !z->nlegs) {
                        p.to_port = LISTEN_PORT + 1;
                } else {
                        const struct leg *l = &z->legs[(d >> 1) % z->nlegs];

                        if (l->peer.family == p.family) {
                                memcpy(p.to, l->peer.to, 16);
                                p.to_port = l->peer.to_port;
                        }
                }
        }
        c->used = true;
        any_segment(z, &p, &c->snd_nxt, &c->rcv_nxt, arg & 8);
        settle(z);
}

static void client_step(struct fz *z, uint8_t arg)
{
        struct client *c = &z->cli[arg & 3];
        struct bytes pay = PAYLOADS[rd8(z) % LBS_P__COUNT];

        c->used = true;
        if (!c->heard) {
                trace(z, "client %u step: SYN", arg & 3);
                c->snd_nxt += 100000; /* a new ISN, past the old connection's */
                send_hostile(z, &c->peer,
                             &(struct lbh_seg){.flags = TCP_OUT_SYN, .seq = c->snd_nxt - 1});
        } else {
                trace(z, "client %u step: %u bytes", arg & 3, pay.n);
                send_hostile(z, &c->peer,
                             &(struct lbh_seg){.flags = TCP_OUT_ACK | (pay.n ? TCP_OUT_PSH : 0),
                                               .seq = c->snd_nxt,
                                               .ack = c->rcv_nxt,
                                               .win = 65535,
                                               .data = pay.b,
                                               .len = pay.n});
                c->snd_nxt += pay.n;
        }
        settle(z);
}

static void broker_seg(struct fz *z, uint8_t arg)
{
        struct leg *l;
        struct lbh_peer p;
        int flags;

        if (!z->nlegs || arg & 8) { /* to a port the balancer may not hold */
                struct leg stray = {0};

                stray.peer = (struct lbh_peer){
                    .family = 4, .port = BROKER_PORT, .to_port = rd16(z), .mac = LBH_BROKER_MAC};
                memcpy(stray.peer.addr, BROKERS[arg % 4].a, 4);
                memcpy(stray.peer.to, SOURCE4.a, 4);
                stray.snd_nxt = isn_base(z);
                stray.rcv_nxt = rd32(z);
                trace(z, "stray broker segment to port %u", stray.peer.to_port);
                any_segment(z, &stray.peer, &stray.snd_nxt, &stray.rcv_nxt, false);
                settle(z);
                return;
        }
        l = &z->legs[(arg & 7) % z->nlegs];
        p = l->peer;
        trace(z, "broker leg %u segment", (unsigned)(l - z->legs));
        flags = any_segment(z, &p, &l->snd_nxt, &l->rcv_nxt, true);
        if (flags >= 0 && (flags & (TCP_OUT_SYN | TCP_OUT_ACK)) == (TCP_OUT_SYN | TCP_OUT_ACK))
                l->answered = true; /* the step op sends data from now on */
        settle(z);
}

static void broker_step(struct fz *z, uint8_t arg)
{
        struct bytes pay = PAYLOADS[rd8(z) % LBS_P__COUNT];
        struct leg *l;

        if (!z->nlegs) {
                settle(z);
                return;
        }
        l = &z->legs[(arg & 7) % z->nlegs];
        if (!l->answered) {
                trace(z, "broker leg %u step: SYN-ACK", (unsigned)(l - z->legs));
                send_hostile(z, &l->peer,
                             &(struct lbh_seg){.flags = TCP_OUT_SYN | TCP_OUT_ACK,
                                               .seq = l->snd_nxt,
                                               .ack = l->rcv_nxt,
                                               .win = 65535});
                l->snd_nxt++;
                l->answered = true;
        } else {
                trace(z, "broker leg %u step: %u bytes", (unsigned)(l - z->legs), pay.n);
                send_hostile(z, &l->peer,
                             &(struct lbh_seg){.flags = TCP_OUT_ACK | (pay.n ? TCP_OUT_PSH : 0),
                                               .seq = l->snd_nxt,
                                               .ack = l->rcv_nxt,
                                               .win = 65535,
                                               .data = pay.b,
                                               .len = pay.n});
                l->snd_nxt += pay.n;
        }
        settle(z);
}

static void time_op(struct fz *z, uint8_t arg)
{
        static const uint64_t timeouts[] = {
            [LBS_TIMEOUT_CONNECT] = 260 * MS, [LBS_TIMEOUT_BIND] = 1010 * MS,
            [LBS_TIMEOUT_2S] = 2000 * MS,     [LBS_TIMEOUT_IDLE] = 5100 * MS,
            [LBS_TIMEOUT_16S] = 16000 * MS,   [LBS_TIMEOUT_60S] = 60000 * MS,
            [LBS_TIMEOUT_1MS] = MS,           [LBS_TIMEOUT_120MS] = 120 * MS,
        };
        uint8_t v = rd8(z);
        uint64_t dt;

        switch (arg & 3) {
        case LBS_TIME_MS: dt = v * MS; break;
        case LBS_TIME_10US: dt = v * 10000ull; break;
        case LBS_TIME_TIMEOUT: dt = timeouts[v & 7]; break;
        default: dt = v * 50 * MS; break;
        }
        if (z->now + dt > T0 + TIME_CAP)
                dt = T0 + TIME_CAP - z->now;
        trace(z, "time +%llu us", (unsigned long long)(dt / 1000));
        z->now += dt;
        settle(z);
}

static void ack_all(struct fz *z)
{
        trace(z, "ack all");
        for (unsigned i = 0; i < NCLIENTS; i++)
                if (z->cli[i].heard)
                        send_hostile(z, &z->cli[i].peer,
                                     &(struct lbh_seg){.flags = TCP_OUT_ACK,
                                                       .seq = z->cli[i].snd_nxt,
                                                       .ack = z->cli[i].rcv_nxt,
                                                       .win = 65535});
        for (unsigned i = 0; i < z->nlegs; i++)
                if (z->legs[i].answered)
                        send_hostile(z, &z->legs[i].peer,
                                     &(struct lbh_seg){.flags = TCP_OUT_ACK,
                                                       .seq = z->legs[i].snd_nxt,
                                                       .ack = z->legs[i].rcv_nxt,
                                                       .win = 65535});
        settle(z);
}

/* ---- the target --------------------------------------------------------------- */

static void init_once(void)
{
        static bool done;
        uint8_t *p = publish_big;

        if (done)
                return;
        done = true;
        /* PUBLISH apples/x, 999 bytes of payload: remaining length 1009 */
        *p++ = 0x30, *p++ = 0xf1, *p++ = 0x07;
        *p++ = 0x00, *p++ = 0x08;
        memcpy(p, "apples/x", 8);
        memset(p + 8, 'z', 999);
}

static void setup(struct fz *z)
{
        uint32_t isn = isn_base(z);

        for (unsigned i = 0; i < NCLIENTS; i++) {
                struct client *c = &z->cli[i];
                const struct addr *a = i == 3 ? &CLIENT6 : &CLIENT4;
                const struct addr *to = i == 3 ? &LISTEN6 : &LISTEN4;

                c->peer = (struct lbh_peer){
                    .family = a->family, .port = (uint16_t)(40000 + i), .to_port = LISTEN_PORT};
                memcpy(c->peer.addr, a->a, 16);
                memcpy(c->peer.to, to->a, 16);
                c->snd_nxt = isn + 0x20000000u * i + 1;
        }
        z->g.cli = (struct lbh_peer){.family = 4, .port = GOOD_PORT, .to_port = LISTEN_PORT};
        memcpy(z->g.cli.addr, GOOD_CLIENT.a, 4);
        memcpy(z->g.cli.to, LISTEN4.a, 4);
        z->g.c_snd_nxt = isn + 0x70000000u + 1;
        z->g.b_isn = isn + 0x78000000u;
        z->g.b_snd_nxt = z->g.b_isn + 1;
        z->g.proxy_len = z->cfg & LBS_CFG_PROXY ? UINT32_MAX : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct fz z; /* 20 KB: not on the stack */
        static int trace_env = -1;
        char yaml[2048], err[256];
        uint32_t missing;

        if (size < 1)
                return 0;
        init_once();
        if (trace_env < 0)
                trace_env = getenv("FUZZ_LB_TRACE") != NULL;
        memset(&z, 0, sizeof(z));
        z.trace = trace_env;
        z.cfg = data[0];
        z.in = data + 1;
        z.left = size - 1;
        z.now = T0;
        snprintf(yaml, sizeof(yaml), CONFIG_FMT,
                 z.cfg & LBS_CFG_MAGLEV ? "" : "    balance: least-connections\n",
                 z.cfg & LBS_CFG_FORWARD ? "forward" : "disconnect",
                 z.cfg & LBS_CFG_PROXY ? "true" : "false", z.cfg & LBS_CFG_BIGBUF ? "16k" : "4k");
        if (lbh__open(&z.h, &(struct lbh_cfg){.yaml = yaml, .frames = UMEM_FRAMES, .out_max = 512},
                      err, sizeof(err))) {
                fprintf(stderr, "fuzz_lb: harness: %s\n", err);
                abort();
        }
        setup(&z);
        for (unsigned ops = 0; z.left && ops < LBS_MAX_OPS; ops++) {
                uint8_t op = rd8(&z), arg = op >> 3;

                switch ((enum lbs_kind)(op & 7)) {
                case LBS_CLIENT_SEG: client_seg(&z, arg); break;
                case LBS_CLIENT_STEP: client_step(&z, arg); break;
                case LBS_BROKER_SEG: broker_seg(&z, arg); break;
                case LBS_BROKER_STEP: broker_step(&z, arg); break;
                case LBS_TIME: time_op(&z, arg); break;
                case LBS_GOOD: good_step(&z); break;
                case LBS_REPEAT:
                        trace(&z, "repeat");
                        if (z.last_len)
                                lbh__inject(z.h, z.last, z.last_len);
                        settle(&z);
                        break;
                case LBS_ACK_ALL: ack_all(&z); break;
                }
                good_check(&z);
        }
        if (z.trace) {
                struct lb_stats st;
                char buf[2048];

                lbh__stats(z.h, &st);
                lb_stats__nonzero(&st, buf, sizeof(buf));
                trace(&z, "end: %u connections; good step %u%s; stats:%s", lbh__connections(z.h),
                      z.g.step, z.g.connack_sent ? " (spliced)" : "", buf);
        }
        missing = lbh__close(z.h);
        if (missing)
                fail(&z, "%u UMEM frames not back in the pool", missing);
        return 0;
}
