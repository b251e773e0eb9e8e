/*
 * The worker loop (core/datapath/worker.c) run offline: pcap ports over captures this
 * test writes, one UMEM and frame pool, one cache per worker, handover rings
 * per ordered pair, and worker__round called by hand until everything is
 * quiet. Checked: the null forwarder's swap and cross output byte for byte
 * and in order; every kind of bad frame dropped under its own counter;
 * ownership by destination port for the source addresses, the handed frames
 * leaving by the other worker and a full ring dropping exactly the surplus;
 * a handler's KEEP/DROP/TX verdicts, sends from tick and late frees; and the
 * frame ledger: where every frame is at the end, then every frame back in the
 * pool exactly once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <cmocka.h>
#include <pcap/pcap.h>

#include "core/datapath/nullfwd.h"
#include "core/datapath/worker.h"
#include "xsk/pcap_port.h"
#include "fixture_tmpdir.h"
#include "frames.h"

#define FRAMES  1024u
#define CAP_MAX 160u

struct env {
        struct umem_area umem;
        struct frame_pool *pool;
        struct frame_cache cache[2];
        char dir[64];
        atomic_bool stop;
};

/* Frames as captured: what a test writes or reads back. */
struct capture {
        uint32_t n;
        uint32_t len[CAP_MAX];
        uint8_t f[CAP_MAX][FRAME_MAX];
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));

        if (!e || umem_area__map(&e->umem, FRAMES, UMEM_FRAME_SIZE, false) ||
            frame_pool__new(&e->pool, FRAMES, UMEM_FRAME_SIZE))
                return -1;
        frame_cache__init(&e->cache[0], e->pool);
        frame_cache__init(&e->cache[1], e->pool);
        if (fixture_tmpdir__make(e->dir, sizeof(e->dir), "mqttlb-worker"))
                return -1;
        atomic_init(&e->stop, false);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;

        if (fixture_tmpdir__remove(e->dir))
                return -1;
        frame_cache__drain(&e->cache[0]);
        frame_cache__drain(&e->cache[1]);
        frame_pool__free(e->pool);
        umem_area__unmap(&e->umem);
        free(e);
        return 0;
}

static struct capture *cap_new(void)
{
        struct capture *c = calloc(1, sizeof(*c));

        assert_non_null(c);
        return c;
}

static void cap_add_raw(struct capture *c, const uint8_t *f, uint32_t len)
{
        assert_true(c->n < CAP_MAX);
        memcpy(c->f[c->n], f, len);
        c->len[c->n++] = len;
}

static void cap_add(struct capture *c, const struct fspec *s)
{
        uint8_t f[FRAME_MAX];

        cap_add_raw(c, f, frame_build(f, s));
}

static void path(const struct env *e, char *out, const char *name)
{
        fixture_tmpdir__path(e->dir, out, name);
}

/* Frame i stamped 1000 + i seconds and i microseconds. */
static uint64_t stamp_ns(uint32_t i)
{
        return (1000ull + i) * 1000000000ull + i * 1000ull;
}

static void cap_write(const struct env *e, const char *name, const struct capture *c)
{
        char file[128];
        pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
        pcap_dumper_t *d;

        path(e, file, name);
        assert_non_null(dead);
        d = pcap_dump_open(dead, file);
        assert_non_null(d);
        for (uint32_t i = 0; i < c->n; i++) {
                struct pcap_pkthdr h = {
                    .ts = {.tv_sec = 1000 + i, .tv_usec = i},
                    .caplen = c->len[i],
                    .len = c->len[i],
                };

                pcap_dump((u_char *)d, &h, c->f[i]);
        }
        pcap_dump_close(d);
        pcap_close(dead);
}

static struct capture *cap_read(const struct env *e, const char *name)
{
        char file[128], err[PCAP_ERRBUF_SIZE];
        struct capture *c = cap_new();
        struct pcap_pkthdr *h;
        const uint8_t *b;
        pcap_t *p;

        path(e, file, name);
        p = pcap_open_offline(file, err);
        if (!p)
                fail_msg("%s", err);
        assert_int_equal(pcap_datalink(p), DLT_EN10MB);
        while (pcap_next_ex(p, &h, &b) == 1) {
                assert_int_equal(h->caplen, h->len);
                cap_add_raw(c, b, h->caplen);
        }
        pcap_close(p);
        return c;
}

static void assert_caps_equal(const struct capture *got, const struct capture *want,
                              const char *what)
{
        if (got->n != want->n)
                fail_msg("%s: %u frames, want %u", what, got->n, want->n);
        for (uint32_t i = 0; i < want->n; i++) {
                if (got->len[i] != want->len[i])
                        fail_msg("%s: frame %u is %u bytes, want %u", what, i, got->len[i],
                                 want->len[i]);
                if (memcmp(got->f[i], want->f[i], want->len[i])) {
                        for (uint32_t k = 0; k < want->len[i]; k++)
                                if (got->f[i][k] != want->f[i][k])
                                        fail_msg("%s: frame %u differs at byte %u: %02x, want "
                                                 "%02x",
                                                 what, i, k, got->f[i][k], want->f[i][k]);
                }
        }
}

/* The capture a port wrote to name is want, frame for frame. */
static void assert_output(const struct env *e, const char *name, const struct capture *want)
{
        struct capture *got = cap_read(e, name);

        assert_caps_equal(got, want, name);
        free(got);
}

static struct port *port_open(struct env *e, const char *in, const char *out, uint32_t worker)
{
        char fin[128], fout[128], err[256] = "";
        struct port *p = NULL;

        path(e, fin, in ? in : "");
        path(e, fout, out);
        if (pcap_port__open(&p, in ? fin : NULL, fout, &e->umem, &e->cache[worker], err,
                            sizeof(err)))
                fail_msg("pcap_port__open: %s", err);
        return p;
}

static struct worker *worker_new(struct env *e, uint32_t id, uint32_t nworkers,
                                 struct port *const *ports, uint32_t nports,
                                 const struct worker_ops *ops, void *ctx)
{
        struct worker *w = calloc(1, sizeof(*w));
        struct worker_cfg c = {
            .id = id,
            .nworkers = nworkers,
            .core = -1,
            .nports = nports,
            .cache = &e->cache[id],
            .idle_rounds = 0,
            .ops = ops,
            .ctx = ctx,
            .stop = &e->stop,
        };

        assert_non_null(w);
        for (uint32_t i = 0; i < WORKER_PORTS_MAX; i++)
                c.fds[i] = -1;
        for (uint32_t i = 0; i < nports; i++)
                c.ports[i] = ports[i];
        worker__init(w, &c);
        return w;
}

/* Rings for each ordered pair of two workers (cfg copied at init: set in w). */
static void link_workers(struct worker *w0, struct worker *w1, struct handover_ring *r[2][2],
                         uint32_t size)
{
        assert_int_equal(handover_ring__new(&r[0][1], size), 0);
        assert_int_equal(handover_ring__new(&r[1][0], size), 0);
        w0->cfg.outbox[1] = r[0][1];
        w0->cfg.inbox[1] = r[1][0];
        w1->cfg.outbox[0] = r[1][0];
        w1->cfg.inbox[0] = r[0][1];
}

/* Rounds each worker in turn until a full pass takes nothing in and every
 * ring is empty; returns the number of passes. */
static uint32_t run(struct worker **w, uint32_t nw, struct handover_ring *r[2][2])
{
        for (uint32_t pass = 1; pass <= 1000; pass++) {
                uint32_t took = 0, queued = 0;

                for (uint32_t i = 0; i < nw; i++)
                        took += worker__round(w[i]);
                if (r)
                        queued = handover_ring__count(r[0][1]) + handover_ring__count(r[1][0]);
                if (!took && !queued)
                        return pass;
        }
        fail_msg("the workers never went quiet");
        return 0;
}

/* One worker (id 0 of 1) on one port reading in (written to in.pcap) and
 * writing out.pcap. */
static struct worker *solo_new(struct env *e, const struct capture *in, struct port **p,
                               const struct worker_ops *ops, void *ctx)
{
        cap_write(e, "in.pcap", in);
        *p = port_open(e, "in.pcap", "out.pcap", 0);
        return worker_new(e, 0, 1, p, 1, ops, ctx);
}

/* Two workers swapping frames (the null forwarder), nports ports each: port
 * k of worker i reads in[i][k] (written to in<i><k>.pcap; NULL: nothing)
 * and writes out<i><k>.pcap. Both own the sources by port, with rings of
 * ring_size between them. */
struct pair {
        uint32_t nports;
        struct nullfwd nf;
        struct port *p[2][2];
        struct worker *w[2];
        struct handover_ring *r[2][2];
};

static void pair_file(char *out, const char *what, uint32_t i, uint32_t k)
{
        snprintf(out, 16, "%s%u%u.pcap", what, i, k);
}

static void pair_open(struct env *e, struct pair *pr, uint32_t nports, struct capture *in[2][2],
                      struct worker_source *src, uint32_t nsources, uint32_t ring_size)
{
        char fin[16], fout[16];

        memset(pr, 0, sizeof(*pr));
        pr->nports = nports;
        pr->nf.mode = NULLFWD_SWAP;
        for (uint32_t i = 0; i < 2; i++) {
                for (uint32_t k = 0; k < nports; k++) {
                        pair_file(fin, "in", i, k);
                        pair_file(fout, "out", i, k);
                        if (in[i][k])
                                cap_write(e, fin, in[i][k]);
                        pr->p[i][k] = port_open(e, in[i][k] ? fin : NULL, fout, i);
                }
                pr->w[i] = worker_new(e, i, 2, pr->p[i], nports, &nullfwd_ops, &pr->nf);
                pr->w[i]->cfg.sources = src;
                pr->w[i]->cfg.nsources = nsources;
        }
        link_workers(pr->w[0], pr->w[1], pr->r, ring_size);
}

/* What port k of worker i wrote is want. */
static void pair_output(const struct env *e, uint32_t i, uint32_t k, const struct capture *want)
{
        char name[16];

        pair_file(name, "out", i, k);
        assert_output(e, name, want);
}

static void pair_close_ports(struct pair *pr)
{
        for (uint32_t i = 0; i < 2; i++)
                for (uint32_t k = 0; k < pr->nports; k++)
                        port__close(pr->p[i][k]);
}

static void pair_free(struct pair *pr)
{
        handover_ring__free(pr->r[0][1]);
        handover_ring__free(pr->r[1][0]);
        free(pr->w[0]);
        free(pr->w[1]);
}

static void assert_stats(const struct worker *w, const struct worker_stats *want)
{
        struct worker_stats got;
        const uint64_t *g = (const uint64_t *)&got, *x = (const uint64_t *)want;

        worker__stats(w, &got);
        for (size_t i = 0; i < WORKER_NCOUNTERS; i++)
                if (g[i] != x[i])
                        fail_msg("worker %u: %s is %llu, want %llu", w->cfg.id,
                                 worker_counter_names[i], (unsigned long long)g[i],
                                 (unsigned long long)x[i]);
}

/* Every frame back in the pool, each exactly once and frame-aligned. */
static void assert_all_frames_back(struct env *e)
{
        static uint64_t addrs[FRAMES];
        static uint8_t seen[FRAMES];
        struct frame_cache c;

        frame_cache__drain(&e->cache[0]);
        frame_cache__drain(&e->cache[1]);
        assert_int_equal(frame_pool__count(e->pool), FRAMES);
        frame_cache__init(&c, e->pool);
        assert_int_equal(frame_cache__alloc(&c, addrs, FRAMES), FRAMES);
        memset(seen, 0, sizeof(seen));
        for (uint32_t i = 0; i < FRAMES; i++) {
                assert_int_equal(addrs[i] % UMEM_FRAME_SIZE, 0);
                assert_true(addrs[i] / UMEM_FRAME_SIZE < FRAMES);
                assert_int_equal(seen[addrs[i] / UMEM_FRAME_SIZE]++, 0);
        }
        for (uint32_t i = 0; i < FRAMES; i++)
                frame_cache__put(&c, addrs[i]);
        frame_cache__drain(&c);
        assert_int_equal(frame_pool__count(e->pool), FRAMES);
}

static uint8_t payload[400];

static void fill_payload(void)
{
        for (size_t i = 0; i < sizeof(payload); i++)
                payload[i] = (uint8_t)(i * 7 + 3);
}

/* (a) One worker, the null forwarder swapping: valid TCP comes back swapped,
 * byte for byte and in order; everything else is dropped and counted. */
static void swap_one_worker(void **state)
{
        struct env *e = *state;
        struct capture *in = cap_new(), *want = cap_new();
        struct nullfwd nf = {.mode = NULLFWD_SWAP};
        struct worker_stats x = {0};
        uint8_t f[FRAME_MAX];
        struct port *p;
        struct worker *w;
        const uint32_t n = 150;

        fill_payload();
        for (uint32_t i = 0; i < n; i++) {
                uint16_t sport = (uint16_t)(40000 + i), plen = (uint16_t)(i * 37 % 300);
                uint32_t n_f;
                struct fspec s = fspec_tcp(4, "10.0.1.2", sport, "10.0.0.1", 1883);
                struct fspec s6 = fspec_tcp(6, "fd00::1:2", sport, "fd00::1", 8883);

                s.payload = s6.payload = payload;
                s.plen = s6.plen = plen;
                switch (i % 10) {
                case 0: break;
                case 1:
                        s.vlan_tpid[0] = 0x8100;
                        s.vlan_tci[0] = 42;
                        s.tcp_opt = 12;
                        break;
                case 2:
                        s.plen = 0;
                        s.pad = 6; /* 54 bytes padded to 60 */
                        break;
                case 3:
                        s.vlan_tpid[0] = 0x88a8;
                        s.vlan_tpid[1] = 0x8100;
                        s.ip_opt = 4;
                        break;
                case 4: s = s6; break;
                case 5:
                        s = s6;
                        s.vlan_tpid[0] = 0x8100;
                        break;
                case 6:
                        cap_add_raw(in, f, frame_arp(f));
                        x.drop_not_ip++;
                        continue;
                case 7:
                        if (i % 20 == 7) {
                                s.proto = 47; /* GRE: neither TCP, UDP nor ICMP */
                        } else {
                                s = s6;
                                s.v6_hbh = true;
                        }
                        cap_add(in, &s);
                        x.drop_not_tcp++;
                        continue;
                case 8:
                        s.frag = i % 20 == 8 ? 0x2000 : 0x00b9;
                        cap_add(in, &s);
                        x.drop_fragment++;
                        continue;
                case 9:
                        /* one byte short, or a runt with half an Ethernet header */
                        n_f = frame_build(f, &s);
                        cap_add_raw(in, f, i % 20 == 9 ? n_f - 1 : 10);
                        x.drop_truncated++;
                        continue;
                }
                cap_add(in, &s);
                struct fspec r = fspec_swapped(&s);

                cap_add(want, &r);
                x.tx++;
        }
        x.rx = n;
        assert_int_equal(want->n, 90);
        assert_int_equal(x.drop_not_ip + x.drop_not_tcp + x.drop_fragment + x.drop_truncated, 60);

        w = solo_new(e, in, &p, &nullfwd_ops, &nf);
        assert_int_equal(run(&w, 1, NULL), 4); /* 64 + 64 + 22 frames, then quiet */
        assert_stats(w, &x);
        assert_int_equal(x.rx, x.tx + x.drop_not_ip + x.drop_not_tcp + x.drop_fragment +
                                   x.drop_truncated);
        assert_int_equal(p->rx_frames, n);
        assert_int_equal(p->tx_frames, 90);
        assert_int_equal(p->rx_dropped, 0);
        assert_int_equal(pcap_port__skipped(p), 0);
        assert_int_equal(p->clock_ns, stamp_ns(n - 1));

        /* the ledger: each round took a batch of 64 from the pool into the
         * cache, used some and had all back by its end */
        assert_int_equal(e->cache[0].n, 64);
        assert_int_equal(frame_pool__count(e->pool), FRAMES - 64);
        port__close(p);
        assert_int_equal(frame_pool__count(e->pool) + e->cache[0].n, FRAMES);

        assert_output(e, "out.pcap", want);
        assert_all_frames_back(e);
        free(w);
        free(in);
        free(want);
}

static const char *const S4 = "10.0.0.100", *const S6 = "fd00::100";
static const char *const L4 = "10.0.0.1", *const L6 = "fd00::1";

/* (b) Two workers with source addresses: a segment to a source address
 * belongs to worker dport % 2 and is handed over, then swapped and sent by
 * its owner; everything else stays where it landed. */
static void two_workers_hand_over(void **state)
{
        struct env *e = *state;
        struct capture *in0 = cap_new(), *in1 = cap_new(), *want0 = cap_new(), *want1 = cap_new(),
                       *stay0 = cap_new(), *stay1 = cap_new(), *move01 = cap_new(),
                       *move10 = cap_new();
        struct worker_source src[2] = {{.addr.family = 4, .port_lo = 1, .port_hi = 65535},
                                       {.addr.family = 6, .port_lo = 1, .port_hi = 65535}};
        struct worker_stats x0 = {0}, x1 = {0};
        struct pair pr;

        frames_addr(4, S4, src[0].addr.addr);
        frames_addr(6, S6, src[1].addr.addr);
        for (uint32_t i = 0; i < 40; i++) {
                uint16_t odd = (uint16_t)(40001 + 2 * i), even = (uint16_t)(40000 + 2 * i);
                struct fspec s;
                struct capture *to = stay0;

                switch (i % 8) {
                case 0: s = fspec_tcp(4, "10.9.0.1", 5000, L4, odd); break; /* listener */
                case 1:
                        s = fspec_tcp(4, "10.9.0.2", 1883, S4, odd);
                        to = move01;
                        break;
                case 2: s = fspec_tcp(4, "10.9.0.3", 1883, S4, even); break;
                case 3:
                        s = fspec_tcp(6, "fd09::3", 1883, S6, odd);
                        to = move01;
                        break;
                case 4: s = fspec_tcp(6, "fd09::4", 1883, S6, even); break;
                case 5: /* IPv6 whose first four bytes are the IPv4 source address */
                        s = fspec_tcp(6, "fd09::5", 1883, "a00:64::", odd);
                        break;
                case 6:
                        s = fspec_tcp(4, "10.9.0.6", 1883, S4, odd);
                        s.proto = 47; /* dropped where it lands, never handed over */
                        to = NULL;
                        break;
                default:
                        s = fspec_tcp(4, "10.9.0.7", 1883, S4, odd);
                        s.vlan_tpid[0] = 0x88a8;
                        s.vlan_tpid[1] = 0x8100;
                        to = move01;
                        break;
                }
                cap_add(in0, &s);
                if (to) {
                        struct fspec rs = fspec_swapped(&s);

                        cap_add(to, &rs);
                }
        }
        for (uint32_t i = 0; i < 24; i++) {
                uint16_t odd = (uint16_t)(50001 + 2 * i), even = (uint16_t)(50000 + 2 * i);
                struct fspec s;
                struct capture *to = stay1;

                switch (i % 6) {
                case 0: s = fspec_tcp(6, "fd08::1", 6000, L6, even); break;
                case 1:
                        s = fspec_tcp(4, "10.8.0.1", 1883, S4, even);
                        to = move10;
                        break;
                case 2: s = fspec_tcp(4, "10.8.0.2", 1883, S4, odd); break;
                case 3:
                        s = fspec_tcp(6, "fd08::3", 1883, S6, even);
                        s.vlan_tpid[0] = 0x8100;
                        to = move10;
                        break;
                case 4: s = fspec_tcp(4, "10.8.0.4", 6000, L4, even); break;
                default:
                        s = fspec_tcp(4, "10.8.0.5", 1883, S4, even);
                        s.frag = 0x2000;
                        to = NULL;
                        break;
                }
                cap_add(in1, &s);
                if (to) {
                        struct fspec rs = fspec_swapped(&s);

                        cap_add(to, &rs);
                }
        }
        /* what was constructed */
        assert_int_equal(stay0->n, 20);
        assert_int_equal(move01->n, 15);
        assert_int_equal(stay1->n, 12);
        assert_int_equal(move10->n, 8);
        /* each output: the frames that stayed, then those handed in (the
         * owner pops its ring after its own ports, in the same round) */
        for (uint32_t i = 0; i < stay0->n; i++)
                cap_add_raw(want0, stay0->f[i], stay0->len[i]);
        for (uint32_t i = 0; i < move10->n; i++)
                cap_add_raw(want0, move10->f[i], move10->len[i]);
        for (uint32_t i = 0; i < stay1->n; i++)
                cap_add_raw(want1, stay1->f[i], stay1->len[i]);
        for (uint32_t i = 0; i < move01->n; i++)
                cap_add_raw(want1, move01->f[i], move01->len[i]);

        pair_open(e, &pr, 1, (struct capture *[2][2]){{in0}, {in1}}, src, 2, 256);

        /* the rule itself, on frames parsed here */
        {
                uint8_t f[FRAME_MAX];
                struct packet m;
                struct fspec s = fspec_tcp(4, "10.9.0.1", 1, S4, 40001);

                assert_int_equal(packet__parse(f, frame_build(f, &s), &m), PACKET_OK);
                assert_int_equal(worker__owner(pr.w[0], f, &m), 1);
                assert_int_equal(worker__owner(pr.w[1], f, &m), 1);
                s = fspec_tcp(6, "fd09::1", 1, S6, 40000);
                assert_int_equal(packet__parse(f, frame_build(f, &s), &m), PACKET_OK);
                assert_int_equal(worker__owner(pr.w[0], f, &m), 0);
                assert_int_equal(worker__owner(pr.w[1], f, &m), 0);
                s = fspec_tcp(4, "10.9.0.1", 1, L4, 40001); /* not a source: stays */
                assert_int_equal(packet__parse(f, frame_build(f, &s), &m), PACKET_OK);
                assert_int_equal(worker__owner(pr.w[0], f, &m), 0);
                assert_int_equal(worker__owner(pr.w[1], f, &m), 1);
                /* a source address is owned by port only within its range: a
                 * listener on the same address (port 1883 here) stays */
                src[0].port_lo = 40000;
                src[0].port_hi = 49999;
                s = fspec_tcp(4, "10.9.0.1", 1, S4, 1883);
                assert_int_equal(packet__parse(f, frame_build(f, &s), &m), PACKET_OK);
                assert_int_equal(worker__owner(pr.w[0], f, &m), 0);
                assert_int_equal(worker__owner(pr.w[1], f, &m), 1);
                s = fspec_tcp(4, "10.9.0.1", 1, S4, 49999);
                assert_int_equal(packet__parse(f, frame_build(f, &s), &m), PACKET_OK);
                assert_int_equal(worker__owner(pr.w[0], f, &m), 1);
                s = fspec_tcp(4, "10.9.0.1", 1, S4, 50001);
                assert_int_equal(packet__parse(f, frame_build(f, &s), &m), PACKET_OK);
                assert_int_equal(worker__owner(pr.w[0], f, &m), 0);
                src[0].port_lo = 1;
                src[0].port_hi = 65535;
        }

        assert_int_equal(run(pr.w, 2, pr.r), 3);
        x0.rx = 40;
        x0.handed_over = 15;
        x0.handed_in = 8;
        x0.tx = 20 + 8;
        x0.drop_not_tcp = 5;
        x1.rx = 24;
        x1.handed_over = 8;
        x1.handed_in = 15;
        x1.tx = 12 + 15;
        x1.drop_fragment = 4;
        assert_stats(pr.w[0], &x0);
        assert_stats(pr.w[1], &x1);
        assert_int_equal(handover_ring__count(pr.r[0][1]), 0);
        assert_int_equal(handover_ring__count(pr.r[1][0]), 0);

        /* the ledger: each cache took one batch of 64; frames handed over were
         * taken from one cache and given back to the other */
        assert_int_equal(e->cache[0].n, 64 - 40 + 5 + 20 + 8);
        assert_int_equal(e->cache[1].n, 64 - 24 + 4 + 12 + 15);
        assert_int_equal(frame_pool__count(e->pool), FRAMES - 128);
        pair_close_ports(&pr);

        pair_output(e, 0, 0, want0);
        pair_output(e, 1, 0, want1);
        assert_all_frames_back(e);
        pair_free(&pr);
        free(in0);
        free(in1);
        free(want0);
        free(want1);
        free(stay0);
        free(stay1);
        free(move01);
        free(move10);
}

/* (b) A ring that fills: the owner gets what fit, the rest is freed and
 * counted; a burst that overflows the handover queue mid-round too. */
static void full_handover_ring_drops(void **state)
{
        struct env *e = *state;
        struct capture *in_a = cap_new(), *in_b = cap_new(), *want = cap_new();
        struct worker_source src = {.addr.family = 4, .port_lo = 1, .port_hi = 65535};
        struct worker_stats x0 = {0}, x1 = {0};
        struct pair pr;

        frames_addr(4, S4, src.addr.addr);
        /* 64 frames on port 0 and 6 on port 1 of worker 0, all owned by worker 1 */
        for (uint32_t i = 0; i < 70; i++) {
                struct fspec s =
                    fspec_tcp(4, "10.7.0.1", (uint16_t)(2000 + i), S4, (uint16_t)(30001 + 2 * i));

                cap_add(i < 64 ? in_a : in_b, &s);
                if (i < 4) { /* the ring holds four */
                        struct fspec rs = fspec_swapped(&s);

                        cap_add(want, &rs);
                }
        }
        pair_open(e, &pr, 2, (struct capture *[2][2]){{in_a, in_b}, {NULL, NULL}}, &src, 1, 4);
        assert_int_equal(run(pr.w, 2, pr.r), 2);
        /* 64 queued from port 0; the 65th pushes them: 4 fit, 60 dropped; the
         * last 6 meet a ring still full at the end of the round */
        x0.rx = 70;
        x0.handed_over = 4;
        x0.drop_handover_full = 66;
        x1.handed_in = 4;
        x1.tx = 4;
        assert_stats(pr.w[0], &x0);
        assert_stats(pr.w[1], &x1);
        assert_int_equal(e->cache[0].n, 128 - 70 + 66);
        assert_int_equal(e->cache[1].n, 4);
        assert_int_equal(frame_pool__count(e->pool), FRAMES - 128);
        pair_close_ports(&pr);
        pair_output(e, 1, 0, want);
        want->n = 0;
        pair_output(e, 0, 0, want);
        pair_output(e, 0, 1, want);
        pair_output(e, 1, 1, want);
        assert_all_frames_back(e);
        pair_free(&pr);
        free(in_a);
        free(in_b);
        free(want);
}

/* (b) A handed frame remembers the port it came in on: the owner swaps it
 * back out of its own port with that index. */
static void handed_frame_keeps_its_port(void **state)
{
        struct env *e = *state;
        struct capture *in_a = cap_new(), *in_b = cap_new(), *want_a = cap_new(),
                       *want_b = cap_new(), *none = cap_new();
        struct worker_source src = {.addr.family = 6, .port_lo = 1, .port_hi = 65535};
        struct worker_stats x0 = {0}, x1 = {0};
        struct pair pr;

        frames_addr(6, S6, src.addr.addr);
        for (uint32_t i = 0; i < 5; i++) {
                struct fspec s =
                    fspec_tcp(6, "fd07::1", (uint16_t)(2000 + i), S6, (uint16_t)(30001 + 2 * i));
                struct fspec rs = fspec_swapped(&s);

                cap_add(i < 2 ? in_a : in_b, &s);
                cap_add(i < 2 ? want_a : want_b, &rs);
        }
        pair_open(e, &pr, 2, (struct capture *[2][2]){{in_a, in_b}, {NULL, NULL}}, &src, 1, 64);
        assert_int_equal(run(pr.w, 2, pr.r), 2);
        x0.rx = 5;
        x0.handed_over = 5;
        x1.handed_in = 5;
        x1.tx = 5;
        assert_stats(pr.w[0], &x0);
        assert_stats(pr.w[1], &x1);
        assert_int_equal(pr.p[1][0]->tx_frames, 2);
        assert_int_equal(pr.p[1][1]->tx_frames, 3);
        /* one batch taken by worker 0 (both ports share its cache), five
         * frames moved to worker 1's cache */
        assert_int_equal(e->cache[0].n, 64 - 5);
        assert_int_equal(e->cache[1].n, 5);
        assert_int_equal(frame_pool__count(e->pool), FRAMES - 64);
        pair_close_ports(&pr);
        pair_output(e, 1, 0, want_a);
        pair_output(e, 1, 1, want_b);
        pair_output(e, 0, 0, none);
        pair_output(e, 0, 1, none);
        assert_all_frames_back(e);
        pair_free(&pr);
        free(in_a);
        free(in_b);
        free(want_a);
        free(want_b);
        free(none);
}

/* (c) A handler of our own: dport % 3 says keep, drop or swap-and-send. Half
 * the kept frames are sent from tick, the others freed after the run through
 * an address inside the frame. */
struct keeper {
        struct frame_desc kept[64];
        uint32_t nkept, nsent, ticks;
        uint64_t now_ns;
        uint32_t handled;
};

static enum worker_verdict keeper_handle(void *ctx, struct worker *w, struct worker_pkt *p)
{
        struct keeper *k = ctx;

        k->handled++;
        switch (p->m.dport % 3) {
        case 0: k->kept[k->nkept++] = p->d; return WORKER_KEEP;
        case 1: return WORKER_DROP;
        default:
                packet__swap(p->data, &p->m);
                p->out_port = p->in_port;
                return WORKER_TX;
        }
}

static void keeper_tick(void *ctx, struct worker *w, uint64_t now_ns)
{
        struct keeper *k = ctx;

        k->ticks++;
        k->now_ns = now_ns;
        /* send the even-numbered kept frames, once */
        for (; k->nsent * 2 < k->nkept; k->nsent++)
                worker__send(w, 0, &k->kept[k->nsent * 2]);
}

static const struct worker_ops keeper_ops = {.handle = keeper_handle, .tick = keeper_tick};

static void handler_keep_drop_tx(void **state)
{
        struct env *e = *state;
        struct capture *in = cap_new(), *want = cap_new(), *sent = cap_new();
        struct keeper k = {0};
        struct worker_stats x = {0};
        struct port *p;
        struct worker *w;

        fill_payload();
        for (uint32_t i = 0; i < 48; i++) {
                struct fspec s =
                    fspec_tcp(i % 2 ? 6 : 4, i % 2 ? "fd00::7" : "10.0.0.7", (uint16_t)(7000 + i),
                              i % 2 ? L6 : L4, (uint16_t)(3000 + i));

                s.payload = payload;
                s.plen = (uint16_t)(i * 5);
                cap_add(in, &s);
                if (i % 3 == 2) {
                        struct fspec rs = fspec_swapped(&s);

                        cap_add(want, &rs);
                } else if (i % 6 == 0) {
                        cap_add(sent, &s); /* kept, sent from tick as it came */
                }
        }
        for (uint32_t i = 0; i < sent->n; i++)
                cap_add_raw(want, sent->f[i], sent->len[i]);
        w = solo_new(e, in, &p, &keeper_ops, &k);
        assert_int_equal(run(&w, 1, NULL), 2);

        assert_int_equal(k.handled, 48);
        assert_int_equal(k.nkept, 16);
        assert_int_equal(k.nsent, 8);
        assert_int_equal(k.ticks, 2); /* once per round */
        assert_int_equal(k.now_ns, stamp_ns(47));
        x.rx = 48;
        x.tx = 16 + 8;
        x.drop_handler = 16;
        assert_stats(w, &x);

        /* the frames still kept are untouched, and missing from the ledger */
        for (uint32_t i = 1; i < k.nkept; i += 2) {
                const uint32_t idx = 6 * (i / 2) + 3;
                const struct frame_desc *d = &k.kept[i];

                assert_int_equal(d->len, in->len[idx]);
                assert_memory_equal(umem_area__data(&e->umem, d->addr), in->f[idx], d->len);
        }
        assert_int_equal(e->cache[0].n, 64 - 48 + 16 + 16 + 8);
        assert_int_equal(frame_pool__count(e->pool), FRAMES - 64);
        assert_int_equal(frame_pool__count(e->pool) + e->cache[0].n, FRAMES - 8);
        port__close(p);
        assert_output(e, "out.pcap", want);

        /* freed late, by an address inside the frame (as a handler holding a
         * pointer to the payload would): the worker masks it */
        for (uint32_t i = 1; i < k.nkept; i += 2)
                worker__free(w, k.kept[i].addr + 54 + i);
        assert_int_equal(e->cache[0].n, 64);
        assert_int_equal(frame_pool__count(e->pool) + e->cache[0].n, FRAMES);
        assert_all_frames_back(e);
        free(w);
        free(in);
        free(want);
        free(sent);
}

/* (d) Cross mode, two ports: in on one, out of the other with the MACs of the
 * outgoing side (the destination left alone when its peer is unknown). */
static void cross_two_ports(void **state)
{
        struct env *e = *state;
        struct capture *in_a = cap_new(), *in_b = cap_new(), *want_a = cap_new(),
                       *want_b = cap_new();
        struct nullfwd nf = {
            .mode = NULLFWD_CROSS,
            .own_mac = {{0x02, 0xaa, 0, 0, 0, 0x10}, {0x02, 0xaa, 0, 0, 0, 0x11}},
            .peer_mac = {{0x02, 0xbb, 0, 0, 0, 0x20}, {0x02, 0xbb, 0, 0, 0, 0x21}},
            .peer_known = {true, false},
        };
        struct worker_stats x = {0};
        uint8_t f[FRAME_MAX];
        struct port *p[2];
        struct worker *w;

        fill_payload();
        for (uint32_t i = 0; i < 20; i++) { /* port 0 → port 1 */
                struct fspec s = fspec_tcp(i % 3 ? 4 : 6, i % 3 ? "10.1.0.1" : "fd01::1",
                                           (uint16_t)(100 + i), i % 3 ? L4 : L6, 1883);

                s.payload = payload;
                s.plen = (uint16_t)(i * 11);
                cap_add(in_a, &s);
                memcpy(s.smac, nf.own_mac[1], 6); /* peer of port 1 unknown: dmac kept */
                cap_add(want_b, &s);
        }
        for (uint32_t i = 0; i < 12; i++) { /* port 1 → port 0 */
                struct fspec s = fspec_tcp(i % 2 ? 4 : 6, i % 2 ? "10.2.0.1" : "fd02::1", 1883,
                                           i % 2 ? "10.3.0.1" : "fd03::1", (uint16_t)(200 + i));

                s.vlan_tpid[0] = i % 4 == 1 ? 0x8100 : 0;
                cap_add(in_b, &s);
                memcpy(s.dmac, nf.peer_mac[0], 6);
                memcpy(s.smac, nf.own_mac[0], 6);
                cap_add(want_a, &s);
                if (i == 5)
                        cap_add_raw(in_b, f, frame_arp(f)); /* dropped, not forwarded */
        }
        cap_write(e, "a.pcap", in_a);
        cap_write(e, "b.pcap", in_b);
        p[0] = port_open(e, "a.pcap", "a-out.pcap", 0);
        p[1] = port_open(e, "b.pcap", "b-out.pcap", 0);
        w = worker_new(e, 0, 1, p, 2, &nullfwd_ops, &nf);
        assert_int_equal(run(&w, 1, NULL), 2);
        x.rx = 33;
        x.tx = 32;
        x.drop_not_ip = 1;
        assert_stats(w, &x);
        assert_int_equal(p[0]->tx_frames, 12);
        assert_int_equal(p[1]->tx_frames, 20);
        assert_int_equal(e->cache[0].n, 64);
        assert_int_equal(frame_pool__count(e->pool), FRAMES - 64);
        port__close(p[0]);
        port__close(p[1]);
        assert_output(e, "a-out.pcap", want_a);
        assert_output(e, "b-out.pcap", want_b);
        assert_all_frames_back(e);
        free(w);
        free(in_a);
        free(in_b);
        free(want_a);
        free(want_b);
}

/* Cross mode with a single port has nowhere to send: the handler drops. */
static void cross_needs_two_ports(void **state)
{
        struct env *e = *state;
        struct capture *in = cap_new(), *got;
        struct nullfwd nf = {.mode = NULLFWD_CROSS};
        struct worker_stats x = {0};
        struct port *p;
        struct worker *w;

        for (uint32_t i = 0; i < 5; i++) {
                struct fspec s = fspec_tcp(4, "10.1.0.1", (uint16_t)(100 + i), L4, 1883);

                cap_add(in, &s);
        }
        w = solo_new(e, in, &p, &nullfwd_ops, &nf);
        assert_int_equal(run(&w, 1, NULL), 2);
        x.rx = 5;
        x.drop_handler = 5;
        assert_stats(w, &x);
        assert_int_equal(e->cache[0].n, 64);
        port__close(p);
        got = cap_read(e, "out.pcap");
        assert_int_equal(got->n, 0);
        free(got);
        assert_all_frames_back(e);
        free(w);
        free(in);
}

/* A port whose TX ring takes at most `room` frames per call (a pcap port
 * inside does the rest): what the worker does when the ring is full. */
struct stingy_port {
        struct port port;
        struct port *inner;
        uint32_t room, calls;
};

static uint32_t stingy_rx(struct port *p, struct frame_desc *d, uint32_t n)
{
        struct stingy_port *s = (struct stingy_port *)p;
        uint32_t got = port__rx(s->inner, d, n);

        p->clock_ns = s->inner->clock_ns;
        return got;
}

static uint32_t stingy_tx(struct port *p, const struct frame_desc *d, uint32_t n)
{
        struct stingy_port *s = (struct stingy_port *)p;

        s->calls++;
        return port__tx(s->inner, d, n < s->room ? n : s->room);
}

static void stingy_flush(struct port *p)
{
        port__flush(((struct stingy_port *)p)->inner);
}

static void stingy_close(struct port *p)
{
        port__close(((struct stingy_port *)p)->inner);
}

static const struct port_ops stingy_ops = {
    .rx = stingy_rx, .tx = stingy_tx, .flush = stingy_flush, .close = stingy_close};

static void tx_ring_full_drops(void **state)
{
        struct env *e = *state;
        struct capture *in = cap_new(), *want = cap_new();
        struct nullfwd nf = {.mode = NULLFWD_SWAP};
        struct worker_stats x = {0};
        struct stingy_port sp = {.room = 3};
        struct port *p;
        struct worker *w;

        for (uint32_t i = 0; i < 10; i++) {
                struct fspec s = fspec_tcp(4, "10.5.0.1", (uint16_t)(100 + i), L4, 1883);
                struct fspec rs = fspec_swapped(&s);

                cap_add(in, &s);
                if (i < 6)
                        cap_add(want, &rs);
        }
        cap_write(e, "in.pcap", in);
        sp.inner = port_open(e, "in.pcap", "out.pcap", 0);
        sp.port = *sp.inner;
        sp.port.ops = &stingy_ops;
        p = &sp.port;
        w = worker_new(e, 0, 1, &p, 1, &nullfwd_ops, &nf);
        assert_int_equal(run(&w, 1, NULL), 2);
        x.rx = 10;
        x.tx = 6;
        x.drop_tx_full = 4;
        assert_stats(w, &x);
        /* one push, a flush to let the ring drain, one retry; the rest dropped */
        assert_int_equal(sp.calls, 2);
        assert_int_equal(e->cache[0].n, 64);
        port__close(p);
        assert_output(e, "out.pcap", want);
        assert_all_frames_back(e);
        free(w);
        free(in);
        free(want);
}

/* With idle_rounds set, a worker with something to sleep on sleeps every
 * round once that many rounds came up empty; offline (no fd) it never does. */
static void idle_sleeps_after_idle_rounds(void **state)
{
        struct env *e = *state;
        struct nullfwd nf = {.mode = NULLFWD_SWAP};
        struct port *p = port_open(e, NULL, "out.pcap", 0);
        struct worker *w = worker_new(e, 0, 1, &p, 1, &nullfwd_ops, &nf);
        struct worker_stats s;
        int fds[2];

        w->cfg.idle_rounds = 3;
        for (int i = 0; i < 7; i++)
                assert_int_equal(worker__round(w), 0);
        worker__stats(w, &s);
        assert_int_equal(s.idle_waits, 0);

        assert_int_equal(pipe(fds), 0);
        w->cfg.fds[0] = fds[0]; /* never readable: poll() times out */
        w->idle = 0;
        for (int i = 0; i < 7; i++)
                assert_int_equal(worker__round(w), 0);
        worker__stats(w, &s);
        assert_int_equal(s.idle_waits, 7 - 3 + 1);
        close(fds[0]);
        close(fds[1]);
        port__close(p);
        assert_all_frames_back(e);
        free(w);
}

/* A handler whose next timer the test sets (on the ports' virtual clock). */
struct timed {
        uint64_t next;
};

static enum worker_verdict timed_handle(void *ctx, struct worker *w, struct worker_pkt *p)
{
        (void)ctx, (void)w, (void)p;
        return WORKER_DROP;
}

static uint64_t timed_next(void *ctx, struct worker *w)
{
        (void)w;
        return ((struct timed *)ctx)->next;
}

static const struct worker_ops timed_ops = {.handle = timed_handle, .next_ns = timed_next};

/* An idle worker sleeps until its handler's next timer (rounded up to a
 * ms), 1 ms at least, 100 ms at most; not at all when one is due; 1 ms
 * while sent frames are not completed, with a handler that tells no timer,
 * or with other workers and no eventfd to wake it for their frames. */
static void idle_sleep_until_next_timer(void **state)
{
        struct env *e = *state;
        struct timed t = {0};
        struct port *p = port_open(e, NULL, "out.pcap", 0);
        struct worker *w = worker_new(e, 0, 1, &p, 1, &timed_ops, &t);
        struct worker_wake k = {.fd = 7};
        uint64_t now = 5000000000ull;

        p->clock_ns = now;
        assert_true(p->virtual_clock);
        t.next = now + 30 * 1000000ull;
        assert_int_equal(worker__sleep_ms(w), 30);
        t.next = now + 30 * 1000000ull + 1; /* never wakes before the timer's ms is over */
        assert_int_equal(worker__sleep_ms(w), 31);
        t.next = now + 1000; /* due within the ms: the least sleep */
        assert_int_equal(worker__sleep_ms(w), WORKER_SLEEP_MIN_MS);
        t.next = now;
        assert_int_equal(worker__sleep_ms(w), 0);
        t.next = now - 1;
        assert_int_equal(worker__sleep_ms(w), 0);
        t.next = UINT64_MAX; /* no timer */
        assert_int_equal(worker__sleep_ms(w), WORKER_SLEEP_MAX_MS);
        t.next = now + 3600 * 1000000000ull;
        assert_int_equal(worker__sleep_ms(w), WORKER_SLEEP_MAX_MS);
        p->tx_busy = true;
        assert_int_equal(worker__sleep_ms(w), WORKER_SLEEP_MIN_MS);
        p->tx_busy = false;
        w->cfg.nworkers = 2; /* another worker, nothing to wake us for its frames */
        assert_int_equal(worker__sleep_ms(w), WORKER_SLEEP_MIN_MS);
        w->cfg.wake[0] = &k;
        assert_int_equal(worker__sleep_ms(w), WORKER_SLEEP_MAX_MS);
        w->cfg.ops = &nullfwd_ops; /* no next_ns */
        assert_int_equal(worker__sleep_ms(w), WORKER_SLEEP_MIN_MS);
        port__close(p);
        assert_all_frames_back(e);
        free(w);
}

/* Worker 0 hands four frames over to worker 1, which is asleep or not;
 * returns worker 0's wakeups_sent and sets *woke to whether worker 1's
 * eventfd was written. */
static uint64_t hand_over_to(struct env *e, bool sleeping, bool *woke)
{
        struct capture *in0 = cap_new(), *in[2][2] = {{NULL}};
        struct worker_source src = {.addr.family = 4, .port_lo = 1, .port_hi = 65535};
        struct worker_wake k[2];
        struct worker_stats s;
        struct pair pr;
        eventfd_t v = 0;

        frames_addr(4, S4, src.addr.addr);
        for (uint32_t i = 0; i < 4; i++) { /* odd ports: worker 1's */
                struct fspec f = fspec_tcp(4, "10.9.0.2", 1883, S4, (uint16_t)(40001 + 2 * i));

                cap_add(in0, &f);
        }
        in[0][0] = in0;
        pair_open(e, &pr, 1, in, &src, 1, 64);
        for (int i = 0; i < 2; i++) {
                k[i].fd = eventfd(0, EFD_NONBLOCK);
                assert_true(k[i].fd >= 0);
                atomic_init(&k[i].sleeping, false);
                pr.w[0]->cfg.wake[i] = &k[i];
                pr.w[1]->cfg.wake[i] = &k[i];
        }
        atomic_store(&k[1].sleeping, sleeping);
        assert_int_equal(worker__round(pr.w[0]), 4);
        worker__stats(pr.w[0], &s);
        assert_int_equal(s.handed_over, 4);
        *woke = eventfd_read(k[1].fd, &v) == 0 && v == 1;
        assert_int_equal(eventfd_read(k[0].fd, &v), -1); /* never its own */
        /* worker 1 takes them in (and, awake, sleeps on nothing) */
        atomic_store(&k[1].sleeping, false);
        assert_int_equal(worker__round(pr.w[1]), 4);
        run(pr.w, 2, pr.r);
        pair_close_ports(&pr);
        close(k[0].fd);
        close(k[1].fd);
        pair_free(&pr);
        free(in0);
        return s.wakeups_sent;
}

/* A worker that hands frames over to a sleeping one writes its eventfd,
 * once per round; to one awake, it does not. */
static void handover_wakes_a_sleeper(void **state)
{
        struct env *e = *state;
        bool woke;

        assert_int_equal(hand_over_to(e, true, &woke), 1);
        assert_true(woke);
        assert_int_equal(hand_over_to(e, false, &woke), 0);
        assert_false(woke);
        assert_all_frames_back(e);
}

/* The counter table matches struct worker_stats field for field. */
static void counter_names_follow_struct(void **state)
{
        (void)state;
        struct worker_stats s;

        assert_int_equal(WORKER_NCOUNTERS, 13);
        assert_string_equal(worker_counter_names[0], "rx");
        assert_string_equal(worker_counter_names[WORKER_NCOUNTERS - 1], "wakeups_sent");
        assert_ptr_equal((uint64_t *)&s + 10, &s.drop_handover_full);
        assert_string_equal(worker_counter_names[10], "drop_handover_full");
        for (size_t i = 0; i < WORKER_NCOUNTERS; i++)
                assert_true(strlen(worker_counter_docs[i]) > 10);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(swap_one_worker, setup, teardown),
            cmocka_unit_test_setup_teardown(two_workers_hand_over, setup, teardown),
            cmocka_unit_test_setup_teardown(full_handover_ring_drops, setup, teardown),
            cmocka_unit_test_setup_teardown(handed_frame_keeps_its_port, setup, teardown),
            cmocka_unit_test_setup_teardown(handler_keep_drop_tx, setup, teardown),
            cmocka_unit_test_setup_teardown(cross_two_ports, setup, teardown),
            cmocka_unit_test_setup_teardown(cross_needs_two_ports, setup, teardown),
            cmocka_unit_test_setup_teardown(tx_ring_full_drops, setup, teardown),
            cmocka_unit_test_setup_teardown(idle_sleeps_after_idle_rounds, setup, teardown),
            cmocka_unit_test_setup_teardown(idle_sleep_until_next_timer, setup, teardown),
            cmocka_unit_test_setup_teardown(handover_wakes_a_sleeper, setup, teardown),
            cmocka_unit_test(counter_names_follow_struct),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
