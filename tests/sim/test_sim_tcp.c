/*
 * The simulated TCP endpoint (sim_tcp.h) against itself over the virtual
 * network (sim_net.h), before it is trusted as the balancer's peer.
 *
 * Targeted cases, each losing or forging exactly the segment it is about:
 * handshake and option negotiation; one loss -> three duplicate ACKs -> fast
 * retransmit before the RTO (with and without SACK); two holes -> SACK
 * recovery retransmits both and nothing else; a lost last segment -> RTOs
 * whose intervals double; RSTs exact / in window / outside (RFC 5961); a SYN
 * on an established connection; zero window -> persist probes backing off,
 * then the transfer completes; delayed-ACK timing; FIN both ways, a lost FIN,
 * simultaneous close; a lost SYN and a lost SYN-ACK resent with the same
 * ISS; a transfer across the 2^32 sequence wrap; corrupted checksums, bad
 * SACK blocks and ACKs of unsent data counted; RSTs after the close (TIME_WAIT,
 * a closed endpoint answering); the network's determinism, tie order and
 * counters.
 *
 * Then a property test over random seeds: loss 0-10 %, duplicates 0-5 %,
 * delay 1-150 ms with jitter, streams up to 300 KB each way, random buffer
 * sizes, options, ISS and read pacing. Both streams must arrive intact, the
 * connection must close within a virtual-time bound, no validation counter
 * may fire and the endpoints' own consistency checks must hold after every
 * step. SIM_SEEDS=n runs n seeds (default 2000); SIM_SEED=s runs seed s
 * alone and prints its segments; a failing seed prints itself.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sim_pair.h"

static const struct sim_link_cfg clean_link = {.delay_ns = SIM_MS(10)};

static uint8_t *pattern(size_t n, uint64_t seed)
{
        uint8_t *b = malloc(n ? n : 1);
        struct sim_rng r;

        sim_rng__seed(&r, seed);
        for (size_t i = 0; i < n; i += 8) {
                uint64_t v = sim_rng__next(&r);

                memcpy(b + i, &v, n - i < 8 ? n - i : 8);
        }
        return b;
}

/* Side from sends n bytes to the other, which reads everything at once. */
static void pair__stream(struct pair *p, unsigned from, size_t n, uint64_t seed)
{
        struct pair_app *a = &p->app[from], *b = &p->app[1 - from];

        a->src = pattern(n, seed);
        a->src_len = n;
        b->dst = malloc(n ? n : 1);
        b->dst_cap = n;
}

static void pair__free_streams(struct pair *p)
{
        for (unsigned i = 0; i < 2; i++) {
                free((void *)p->app[i].src);
                free(p->app[i].dst);
        }
        pair__free(p);
}

static void assert_streams_intact(struct pair *p)
{
        for (unsigned i = 0; i < 2; i++) {
                assert_int_equal(p->app[1 - i].dst_len, p->app[i].src_len);
                if (p->app[i].src_len)
                        assert_memory_equal(p->app[1 - i].dst, p->app[i].src, p->app[i].src_len);
        }
}

static void assert_no_violations(struct pair *p)
{
        if (p->broken)
                fail_msg("%s", p->broken);
        for (unsigned i = 0; i < 2; i++)
                assert_int_equal(sim_tcp__violations(p->ep[i]), 0);
}

static struct pair *pair_default(void)
{
        struct sim_tcp_cfg c0 = pair__cfg(0), c1 = pair__cfg(1);

        return pair__new(&c0, &c1, &clean_link, &clean_link, 1);
}

/* Records of segments from side `from` with payload whose seq is `seq`. */
static unsigned count_sent(struct pair *p, unsigned from, uint32_t seq, uint64_t *times,
                           unsigned max)
{
        unsigned n = 0;

        for (size_t i = 0; i < p->nlog; i++) {
                const struct pair_rec *r = &p->log[i];

                if (r->from == from && r->seg.seq == seq &&
                    (r->seg.len || (r->seg.flags & (SIM_TCP_SYN | SIM_TCP_FIN)))) {
                        if (n < max && times)
                                times[n] = r->at;
                        n++;
                }
        }
        return n;
}

/* --- Handshake. --- */

static void handshake(void **state)
{
        struct pair *p = pair_default();
        struct sim_tcp_info i0, i1;

        assert_true(pair__run(p, SIM_S(5), pair__established));
        /* SYN, SYN-ACK, ACK: one round trip plus the ACK. */
        assert_int_equal(p->nlog, 3);
        assert_int_equal(p->log[0].seg.flags, SIM_TCP_SYN);
        assert_int_equal(p->log[0].seg.seq, 0x10000000);
        assert_int_equal(p->log[0].seg.mss, 1460);
        assert_int_equal(p->log[0].seg.wscale, 7);
        assert_true(p->log[0].seg.sack_ok);
        assert_int_equal(p->log[1].seg.flags, SIM_TCP_SYN | SIM_TCP_ACK);
        assert_int_equal(p->log[1].seg.ack, 0x10000001);
        assert_int_equal(p->log[2].seg.flags, SIM_TCP_ACK);
        assert_int_equal(p->log[2].at, SIM_MS(20));
        sim_tcp__info(p->ep[0], &i0);
        sim_tcp__info(p->ep[1], &i1);
        assert_true(i0.sack && i0.wscale && i1.sack && i1.wscale);
        assert_int_equal(i0.srtt_ns, SIM_MS(20));
        assert_no_violations(p);
        pair__free(p);
}

/* A peer without options: no scaling, no SACK, MSS 536 (RFC 9293 §3.7.1);
 * the SYN-ACK answers only what the SYN offered. */
static void handshake_without_options(void **state)
{
        struct sim_tcp_cfg c0 = pair__cfg(0), c1 = pair__cfg(1);
        struct pair *p;
        struct sim_tcp_info i0, i1;

        c0.wscale = -1;
        c0.sack = false;
        c0.mss = 1000;
        p = pair__new(&c0, &c1, &clean_link, &clean_link, 1);
        assert_true(pair__run(p, SIM_S(5), pair__established));
        assert_int_equal(p->log[1].seg.wscale, -1);
        assert_false(p->log[1].seg.sack_ok);
        sim_tcp__info(p->ep[0], &i0);
        sim_tcp__info(p->ep[1], &i1);
        assert_false(i0.sack || i0.wscale || i1.sack || i1.wscale);
        assert_int_equal(i1.mss, 1000);
        assert_int_equal(i0.mss, 1000);
        pair__free(p);
}

/* --- Loss recovery. --- */

struct drop_ctx {
        uint32_t seq[4]; /* first transmissions of these sequence numbers are lost */
        unsigned n, times[4], seen[4];
};

static bool drop_filter(struct pair *p, unsigned from, const struct sim_seg *s)
{
        struct drop_ctx *d = p->ctx;

        if (from != 0 || !(s->len || (s->flags & (SIM_TCP_SYN | SIM_TCP_FIN))))
                return true;
        for (unsigned i = 0; i < d->n; i++)
                if (s->seq == d->seq[i] && d->seen[i]++ < (d->times[i] ? d->times[i] : 1))
                        return false;
        return true;
}

static void run_transfer_with_drops(bool sack, const uint32_t *segs, unsigned n, unsigned total,
                                    struct pair **out)
{
        struct sim_tcp_cfg c0 = pair__cfg(0), c1 = pair__cfg(1);
        static struct drop_ctx d;
        struct pair *p;

        c0.sack = c1.sack = sack;
        p = pair__new(&c0, &c1, &clean_link, &clean_link, 1);
        memset(&d, 0, sizeof(d));
        for (unsigned i = 0; i < n; i++)
                d.seq[i] = 0x10000001 + segs[i] * 1460;
        d.n = n;
        p->filter = drop_filter;
        p->ctx = &d;
        assert_true(pair__run(p, SIM_S(5), pair__established));
        pair__stream(p, 0, total * 1460, 7);
        p->app[0].close_when_sent = p->app[1].close_when_sent = true;
        p->app[1].close_after_eof = true;
        assert_true(pair__run(p, SIM_S(60), pair__closed));
        assert_streams_intact(p);
        assert_no_violations(p);
        *out = p;
}

/* One segment lost, no SACK: three duplicate ACKs, then fast retransmit
 * (RFC 5681 §3.2) long before the RTO, and NewReno finishes recovery. */
static void fast_retransmit_dupacks(void **state)
{
        const uint32_t lost[] = {2};
        const struct sim_tcp_stats *s;
        uint64_t t[4];
        struct pair *p;

        run_transfer_with_drops(false, lost, 1, 20, &p);
        s = sim_tcp__stats(p->ep[0]);
        assert_int_equal(s->rto_fires, 0);
        assert_int_equal(s->fast_recoveries, 1);
        assert_true(s->dupacks_in >= 3);
        assert_int_equal(count_sent(p, 0, 0x10000001 + 2 * 1460, t, 4), 2);
        /* Resent within about one round trip (20 ms), not after 200 ms. */
        assert_true(t[1] - t[0] < SIM_MS(40));
        assert_int_equal(s->rtx_segs, 1);
        pair__free_streams(p);
}

static void fast_retransmit_sack(void **state)
{
        const uint32_t lost[] = {2};
        const struct sim_tcp_stats *s;
        struct pair *p;

        run_transfer_with_drops(true, lost, 1, 20, &p);
        s = sim_tcp__stats(p->ep[0]);
        assert_int_equal(s->rto_fires, 0);
        assert_int_equal(s->fast_recoveries, 1);
        assert_int_equal(s->rtx_segs, 1);
        assert_true(sim_tcp__stats(p->ep[1])->sack_blocks_out > 0);
        pair__free_streams(p);
}

/* Two holes in one window: SACK recovery (RFC 6675) resends both, and only
 * them, without an RTO. */
static void sack_two_holes(void **state)
{
        const uint32_t lost[] = {3, 7};
        const struct sim_tcp_stats *s;
        uint64_t t[2][4];
        struct pair *p;

        run_transfer_with_drops(true, lost, 2, 30, &p);
        s = sim_tcp__stats(p->ep[0]);
        assert_int_equal(s->rto_fires, 0);
        assert_int_equal(s->fast_recoveries, 1);
        assert_int_equal(s->rtx_segs, 2);
        assert_int_equal(count_sent(p, 0, 0x10000001 + 3 * 1460, t[0], 4), 2);
        assert_int_equal(count_sent(p, 0, 0x10000001 + 7 * 1460, t[1], 4), 2);
        assert_true(t[1][1] - t[0][0] < SIM_MS(100));
        /* The receiver's SACK blocks: most recent first, never more than 4. */
        for (size_t i = 0; i < p->nlog; i++)
                assert_true(p->log[i].seg.nsack <= 4);
        pair__free_streams(p);
}

/* The last segment lost three times: only the RTO can find it, and each
 * timeout waits twice as long as the one before (RFC 6298 §5.5). */
static void rto_backoff(void **state)
{
        struct sim_tcp_cfg c0 = pair__cfg(0), c1 = pair__cfg(1);
        static struct drop_ctx d;
        const struct sim_tcp_stats *s;
        uint64_t t[8];
        struct pair *p;

        p = pair__new(&c0, &c1, &clean_link, &clean_link, 1);
        assert_true(pair__run(p, SIM_S(5), pair__established));
        memset(&d, 0, sizeof(d));
        d.seq[0] = 0x10000001 + 2 * 1460;
        d.times[0] = 3;
        d.n = 1;
        p->filter = drop_filter;
        p->ctx = &d;
        pair__stream(p, 0, 3 * 1460, 3);
        p->app[0].close_when_sent = p->app[1].close_when_sent = true;
        p->app[1].close_after_eof = true;
        assert_true(pair__run(p, SIM_S(60), pair__closed));
        assert_streams_intact(p);
        s = sim_tcp__stats(p->ep[0]);
        assert_int_equal(s->rto_fires, 3);
        assert_int_equal(s->fast_recoveries, 0);
        assert_int_equal(count_sent(p, 0, d.seq[0], t, 8), 4);
        assert_true(t[1] - t[0] >= SIM_MS(200)); /* RTO min */
        /* The first timer was restarted by the ACK of the first two
         * segments (RFC 6298 §5.3): 20 ms + RTO, then 2 RTO, 4 RTO. */
        assert_int_equal(t[1] - t[0], SIM_MS(20) + SIM_MS(200));
        assert_int_equal(t[2] - t[1], SIM_MS(400));
        assert_int_equal(t[3] - t[2], 2 * (t[2] - t[1]));
        assert_no_violations(p);
        pair__free_streams(p);
}

/* --- RST and SYN checks (RFC 5961). --- */

static size_t forge(const struct pair *p, unsigned to, uint8_t flags, uint32_t seq, uint32_t ack,
                    uint8_t *buf)
{
        struct sim_seg s;
        struct sim_tcp_cfg c = pair__cfg(1 - to);

        sim_seg__init(&s);
        memcpy(s.smac, c.mac, 6);
        memcpy(s.dmac, c.peer_mac, 6);
        s.saddr = c.addr;
        s.daddr = c.peer_addr;
        s.sport = c.port ? c.port : 40000;
        s.dport = to ? 1883 : 40000;
        s.seq = seq;
        s.ack = ack;
        s.flags = flags;
        s.wnd = 1000;
        return sim_seg__build(&s, buf, 2048);
}

static size_t drain(struct pair *p, unsigned side, struct sim_seg *last)
{
        uint8_t buf[2048];
        size_t len, n = 0;

        while ((len = sim_tcp__output(p->ep[side], p->now, buf, sizeof(buf)))) {
                sim_seg__parse(last, buf, len);
                n++;
        }
        return n;
}

static void rst_checks(void **state)
{
        struct pair *p = pair_default();
        struct sim_tcp_info in;
        struct sim_seg out;
        uint8_t f[2048];
        size_t len;

        assert_true(pair__run(p, SIM_S(5), pair__established));
        sim_tcp__info(p->ep[1], &in);

        /* In the window, not exact: a challenge ACK at RCV.NXT, no reset. */
        len = forge(p, 1, SIM_TCP_RST, in.rcv_nxt + 100, 0, f);
        sim_tcp__input(p->ep[1], p->now, f, len);
        assert_int_equal(sim_tcp__stats(p->ep[1])->rst_in_window, 1);
        assert_int_equal(sim_tcp__stats(p->ep[1])->challenge_acks, 1);
        assert_int_equal(drain(p, 1, &out), 1);
        assert_int_equal(out.flags, SIM_TCP_ACK);
        assert_int_equal(out.ack, in.rcv_nxt);
        assert_int_equal(sim_tcp__state(p->ep[1]), SIM_TCP_ESTABLISHED);

        /* Outside the window: dropped silently. */
        len = forge(p, 1, SIM_TCP_RST, in.rcv_nxt + 0x40000000, 0, f);
        sim_tcp__input(p->ep[1], p->now, f, len);
        len = forge(p, 1, SIM_TCP_RST | SIM_TCP_ACK, in.rcv_nxt - 1, in.snd_nxt, f);
        sim_tcp__input(p->ep[1], p->now, f, len);
        assert_int_equal(sim_tcp__stats(p->ep[1])->rst_outside, 2);
        assert_int_equal(drain(p, 1, &out), 0);

        /* A SYN on the established connection: challenge ACK. */
        len = forge(p, 1, SIM_TCP_SYN, 12345, 0, f);
        sim_tcp__input(p->ep[1], p->now, f, len);
        assert_int_equal(sim_tcp__stats(p->ep[1])->syn_challenged, 1);
        assert_int_equal(drain(p, 1, &out), 1);
        assert_int_equal(out.ack, in.rcv_nxt);
        assert_int_equal(sim_tcp__state(p->ep[1]), SIM_TCP_ESTABLISHED);

        /* The connection still carries data both ways. */
        pair__stream(p, 0, 50000, 1);
        pair__stream(p, 1, 50000, 2);
        assert_true(pair__run(p, SIM_S(10), pair__delivered));
        assert_streams_intact(p);

        /* Exactly RCV.NXT: reset. */
        sim_tcp__info(p->ep[1], &in);
        len = forge(p, 1, SIM_TCP_RST, in.rcv_nxt, 0, f);
        sim_tcp__input(p->ep[1], p->now, f, len);
        assert_int_equal(sim_tcp__state(p->ep[1]), SIM_TCP_RESET);
        assert_int_equal(sim_tcp__stats(p->ep[1])->rst_accepted, 1);
        assert_int_equal(sim_tcp__stats(p->ep[0])->rst_accepted, 0);
        pair__free_streams(p);
}

/* Checksums, SACK blocks and ACKs that no correct peer sends are counted
 * and dropped. */
static void validation_counters(void **state)
{
        struct pair *p = pair_default();
        struct sim_tcp_info in;
        struct sim_seg s, out;
        uint8_t f[2048];
        size_t len;

        assert_true(pair__run(p, SIM_S(5), pair__established));
        pair__stream(p, 0, 20 * 1460, 1);
        p->app[1].paused = true;
        pair__step(p, p->now + SIM_MS(1)); /* data in flight */
        sim_tcp__info(p->ep[0], &in);
        assert_true(in.inflight > 3000);

        len = forge(p, 0, SIM_TCP_ACK, 0x20000001, in.snd_una, f);
        f[len - 1] ^= 1; /* the TCP checksum */
        sim_tcp__input(p->ep[0], p->now, f, len);
        f[14 + 8] ^= 0xff; /* and the IP header's (the TTL) */
        sim_tcp__input(p->ep[0], p->now, f, len);
        assert_int_equal(sim_tcp__stats(p->ep[0])->bad_csum, 2);

        /* An ACK beyond SND.NXT: dropped, answered with an ACK. */
        len = forge(p, 0, SIM_TCP_ACK, 0x20000001, in.snd_nxt + 1, f);
        drain(p, 0, &out);
        sim_tcp__input(p->ep[0], p->now, f, len);
        assert_int_equal(sim_tcp__stats(p->ep[0])->ack_unsent, 1);
        assert_int_equal(drain(p, 0, &out), 1);

        /* SACK blocks: inverted, beyond SND.NXT, below the ACK. */
        sim_seg__parse(&s, f, forge(p, 0, SIM_TCP_ACK, 0x20000001, in.snd_una, f));
        s.nsack = 3;
        s.sack[0][0] = in.snd_una + 2000, s.sack[0][1] = in.snd_una + 1000;
        s.sack[1][0] = in.snd_una + 1000, s.sack[1][1] = in.snd_nxt + 1;
        s.sack[2][0] = in.snd_una - 1000, s.sack[2][1] = in.snd_una - 10;
        s.payload = NULL;
        len = sim_seg__build(&s, f, sizeof(f));
        sim_tcp__input(p->ep[0], p->now, f, len);
        assert_int_equal(sim_tcp__stats(p->ep[0])->bad_sack, 3);
        sim_tcp__info(p->ep[0], &in);
        assert_int_equal(in.sacked_ranges, 0);
        pair__free_streams(p);
}

/* --- Windows. --- */

static void zero_window_persist(void **state)
{
        struct sim_tcp_cfg c0 = pair__cfg(0), c1 = pair__cfg(1);
        const struct sim_tcp_stats *s;
        struct sim_tcp_info in;
        uint64_t t[16];
        unsigned n = 0;
        struct pair *p;

        c1.rcvbuf = 16384;
        p = pair__new(&c0, &c1, &clean_link, &clean_link, 1);
        assert_true(pair__run(p, SIM_S(5), pair__established));
        pair__stream(p, 0, 200000, 5);
        p->app[1].paused = true;
        pair__run(p, p->now + SIM_S(20), pair__delivered);
        /* Full up to less than one scaling unit (2^7): a zero window. */
        sim_tcp__info(p->ep[1], &in);
        assert_true(in.rcv_wnd < 128);
        assert_int_equal(in.unread, 16384 - in.rcv_wnd);
        assert_int_equal(p->log[p->nlog - 1].from, 1);
        assert_int_equal(p->log[p->nlog - 1].seg.wnd, 0);
        sim_tcp__info(p->ep[0], &in);
        s = sim_tcp__stats(p->ep[0]);
        assert_true(s->probes_out >= 4);
        assert_int_equal(s->rto_fires, 0);
        /* The probes (no data, SND.UNA - 1) back off exponentially. */
        for (size_t i = 0; i < p->nlog && n < 16; i++)
                if (p->log[i].from == 0 && !p->log[i].seg.len &&
                    p->log[i].seg.seq == in.snd_una - 1)
                        t[n++] = p->log[i].at;
        assert_true(n >= 4);
        assert_int_equal(t[2] - t[1], 2 * (t[1] - t[0]));
        assert_int_equal(t[3] - t[2], 2 * (t[2] - t[1]));
        /* Every probe was answered, with a zero window. */
        assert_int_equal(sim_tcp__stats(p->ep[1])->old_in, s->probes_out);

        /* The reader comes back: the window reopens and all arrives. */
        p->app[1].paused = false;
        p->app[0].close_when_sent = p->app[1].close_when_sent = true;
        p->app[1].close_after_eof = true;
        assert_true(pair__run(p, p->now + SIM_S(120), pair__closed));
        assert_streams_intact(p);
        assert_no_violations(p);
        assert_true(sim_tcp__stats(p->ep[1])->wnd_updates >= 1);
        pair__free_streams(p);
}

/* One small segment is ACKed after the delayed-ACK timeout (40 ms); two
 * full segments at once (RFC 5681 §4.2). */
static void delayed_ack(void **state)
{
        struct pair *p = pair_default();
        uint64_t sent = 0, acked = 0;
        size_t mark;

        assert_true(pair__run(p, SIM_S(5), pair__established));
        pair__stream(p, 0, 100, 1);
        mark = p->nlog;
        assert_true(pair__run(p, p->now + SIM_S(1), pair__delivered));
        for (int k = 0; k < 100; k++)
                pair__step(p, p->now + SIM_MS(200));
        for (size_t i = mark; i < p->nlog; i++) {
                if (p->log[i].from == 0 && p->log[i].seg.len == 100)
                        sent = p->log[i].at;
                if (p->log[i].from == 1 && p->log[i].seg.ack == 0x10000001 + 100 && !acked)
                        acked = p->log[i].at;
        }
        assert_int_equal(acked - sent, SIM_MS(10) + SIM_MS(40));
        assert_int_equal(sim_tcp__stats(p->ep[1])->delacks, 1);
        pair__free_streams(p);

        p = pair_default();
        assert_true(pair__run(p, SIM_S(5), pair__established));
        pair__stream(p, 0, 2 * 1460, 1);
        mark = p->nlog;
        assert_true(pair__run(p, p->now + SIM_S(1), pair__delivered));
        for (int k = 0; k < 100; k++)
                pair__step(p, p->now + SIM_MS(200));
        sent = acked = 0;
        for (size_t i = mark; i < p->nlog; i++) {
                if (p->log[i].from == 0 && p->log[i].seg.len && !sent)
                        sent = p->log[i].at;
                if (p->log[i].from == 1 && p->log[i].seg.ack == 0x10000001 + 2 * 1460 && !acked)
                        acked = p->log[i].at;
        }
        assert_int_equal(acked - sent, SIM_MS(10));
        assert_int_equal(sim_tcp__stats(p->ep[1])->delacks, 0);
        pair__free_streams(p);
}

/* --- Closing. --- */

static bool fin_drop_filter(struct pair *p, unsigned from, const struct sim_seg *s)
{
        unsigned *n = p->ctx;

        return !((s->flags & SIM_TCP_FIN) && from == *n && n[1]++ == 0);
}

static void fin_exchange(void **state)
{
        for (unsigned lose = 0; lose < 3; lose++) {
                unsigned ctx[2] = {lose == 2 ? 1 : 0, lose ? 0 : 1};
                struct pair *p = pair_default();
                uint64_t t_closed;

                p->filter = fin_drop_filter;
                p->ctx = ctx;
                assert_true(pair__run(p, SIM_S(5), pair__established));
                pair__stream(p, 0, 5000, 1);
                pair__stream(p, 1, 7000, 2);
                p->app[0].close_when_sent = true; /* the client closes first */
                p->app[1].close_when_sent = p->app[1].close_after_eof = true;
                assert_true(pair__run(p, SIM_S(30), pair__closed));
                assert_streams_intact(p);
                assert_true(sim_tcp__eof(p->ep[0]) && sim_tcp__eof(p->ep[1]));
                /* The first to close waits in TIME_WAIT, the other is done. */
                assert_int_equal(sim_tcp__state(p->ep[0]), SIM_TCP_TIME_WAIT);
                assert_int_equal(sim_tcp__state(p->ep[1]), SIM_TCP_CLOSED);
                if (lose)
                        assert_int_equal(sim_tcp__stats(p->ep[lose == 2])->rto_fires, 1);
                t_closed = p->now;
                while (pair__step(p, t_closed + SIM_S(5)))
                        ;
                assert_int_equal(sim_tcp__state(p->ep[0]), SIM_TCP_CLOSED);
                assert_true(sim_tcp__done(p->ep[0]));
                assert_no_violations(p);
                pair__free_streams(p);
        }
}

static void simultaneous_close(void **state)
{
        struct pair *p = pair_default();

        assert_true(pair__run(p, SIM_S(5), pair__established));
        sim_tcp__close(p->ep[0]);
        sim_tcp__close(p->ep[1]);
        assert_true(pair__run(p, SIM_S(10), pair__closed));
        assert_int_equal(sim_tcp__state(p->ep[0]), SIM_TCP_TIME_WAIT);
        assert_int_equal(sim_tcp__state(p->ep[1]), SIM_TCP_TIME_WAIT);
        assert_no_violations(p);
        pair__free(p);
}

/* --- Lost handshake segments. --- */

static bool syn_drop_filter(struct pair *p, unsigned from, const struct sim_seg *s)
{
        unsigned *n = p->ctx;

        return !((s->flags & SIM_TCP_SYN) && from == n[0] && n[1]++ < n[2]);
}

static void lost_syn(void **state)
{
        for (unsigned side = 0; side < 2; side++) {
                unsigned ctx[3] = {side, 0, 2};
                struct pair *p = pair_default();
                uint64_t t[4];

                p->filter = syn_drop_filter;
                p->ctx = ctx;
                assert_true(pair__run(p, SIM_S(10), pair__established));
                /* Three SYNs (or SYN-ACKs), all with the same ISS, 1 s then
                 * 2 s apart (RFC 6298 §2.1, §5.5). */
                assert_int_equal(count_sent(p, side, side ? 0x20000000 : 0x10000000, t, 4), 3);
                if (side == 0) {
                        assert_int_equal(t[1] - t[0], SIM_S(1));
                        assert_int_equal(t[2] - t[1], SIM_S(2));
                }
                assert_int_equal(sim_tcp__stats(p->ep[side])->syn_rtx, side ? 2 : 2);
                pair__stream(p, 0, 10000, 1);
                assert_true(pair__run(p, p->now + SIM_S(10), pair__delivered));
                assert_streams_intact(p);
                assert_no_violations(p);
                pair__free_streams(p);
        }
}

static void syn_gives_up(void **state)
{
        unsigned ctx[3] = {0, 0, 100};
        struct pair *p = pair_default();

        p->filter = syn_drop_filter;
        p->ctx = ctx;
        while (pair__step(p, SIM_S(1000)))
                ;
        assert_int_equal(sim_tcp__state(p->ep[0]), SIM_TCP_TIMED_OUT);
        assert_int_equal(ctx[1], 7); /* the SYN and syn_retries (6) more */
        pair__free(p);
}

/* --- Sequence wrap. --- */

static void sequence_wrap(void **state)
{
        struct sim_tcp_cfg c0 = pair__cfg(0), c1 = pair__cfg(1);
        static struct drop_ctx d;
        struct pair *p;

        c0.iss = 0xffffff00;
        c1.iss = 0xfffff000;
        p = pair__new(&c0, &c1, &clean_link, &clean_link, 1);
        memset(&d, 0, sizeof(d));
        d.seq[0] = c0.iss + 1 + 1460; /* straddles 2^32 */
        d.seq[1] = c0.iss + 1 + 5 * 1460;
        d.n = 2;
        p->filter = drop_filter;
        p->ctx = &d;
        pair__stream(p, 0, 100000, 1);
        pair__stream(p, 1, 100000, 2);
        p->app[0].close_when_sent = p->app[1].close_when_sent = true;
        assert_true(pair__run(p, SIM_S(60), pair__closed));
        assert_streams_intact(p);
        assert_no_violations(p);
        assert_int_equal(sim_tcp__stats(p->ep[0])->rtx_segs, 2);
        assert_int_equal(sim_tcp__stats(p->ep[0])->rto_fires, 0);
        pair__free_streams(p);
}

/* --- After the end. --- */

/* A RST that reaches TIME_WAIT ends it (Linux without RFC 1337), and an
 * endpoint whose connection is gone answers a segment with a RST at its
 * ACK (RFC 9293 §3.10.7.1). */
static void after_close(void **state)
{
        struct pair *p = pair_default();
        struct sim_tcp_info in;
        struct sim_seg out;
        uint8_t f[2048];
        size_t len;

        assert_true(pair__run(p, SIM_S(5), pair__established));
        sim_tcp__close(p->ep[0]);
        p->app[1].close_when_sent = p->app[1].close_after_eof = true;
        assert_true(pair__run(p, SIM_S(10), pair__closed));
        assert_int_equal(sim_tcp__state(p->ep[0]), SIM_TCP_TIME_WAIT);
        assert_int_equal(sim_tcp__state(p->ep[1]), SIM_TCP_CLOSED);

        /* The closed side answers a late segment with a RST at its ACK. */
        sim_tcp__info(p->ep[0], &in);
        len = forge(p, 1, SIM_TCP_ACK, in.snd_nxt, in.rcv_nxt, f);
        sim_tcp__input(p->ep[1], p->now, f, len);
        assert_int_equal(drain(p, 1, &out), 1);
        assert_int_equal(out.flags, SIM_TCP_RST);
        assert_int_equal(out.seq, in.rcv_nxt);

        /* A RST not at RCV.NXT leaves TIME_WAIT alone; an exact one ends it. */
        len = forge(p, 0, SIM_TCP_RST, in.rcv_nxt - 5, 0, f);
        sim_tcp__input(p->ep[0], p->now, f, len);
        assert_int_equal(sim_tcp__state(p->ep[0]), SIM_TCP_TIME_WAIT);
        len = forge(p, 0, SIM_TCP_RST, in.rcv_nxt, 0, f);
        sim_tcp__input(p->ep[0], p->now, f, len);
        assert_int_equal(sim_tcp__state(p->ep[0]), SIM_TCP_CLOSED);
        assert_int_equal(sim_tcp__stats(p->ep[0])->rst_time_wait, 2);
        assert_int_equal(sim_tcp__violations(p->ep[0]), 0);
        pair__free(p);
}

/* --- The network. --- */

struct net_log {
        uint64_t at[64];
        uint8_t id[64];
        unsigned n;
};

static void net_record(void *ctx, uint64_t now, unsigned link, const uint8_t *f, size_t len)
{
        struct net_log *l = ctx;

        if (l->n < 64) {
                l->at[l->n] = now;
                l->id[l->n++] = f[0];
        }
}

/* Same seed, same run; equal delivery times keep the sending order; loss
 * and duplicates are counted; jitter reorders and is counted. */
static void net_determinism(void **state)
{
        struct sim_link_cfg fixed = {.delay_ns = 1000};
        struct sim_link_cfg lossy = {
            .loss = 0.3, .dup = 0.2, .jitter_p = 1, .delay_ns = 1000, .jitter_ns = 5000};
        struct net_log a = {0}, b = {0};
        struct sim_net *n;
        uint8_t f[1];

        n = sim_net__new(1);
        sim_net__add_link(n, &fixed);
        for (uint8_t i = 0; i < 10; i++) {
                f[0] = i;
                assert_int_equal(sim_net__send(n, 0, 0, f, 1), 0);
        }
        assert_int_equal(sim_net__next(n), 1000);
        assert_int_equal(sim_net__deliver(n, 999, net_record, &a), 0);
        assert_int_equal(sim_net__deliver(n, 1000, net_record, &a), 10);
        for (unsigned i = 0; i < 10; i++)
                assert_int_equal(a.id[i], i);
        assert_int_equal(sim_net__next(n), UINT64_MAX);
        sim_net__free(n);

        for (int run = 0; run < 2; run++) {
                struct net_log *l = run ? &b : &a;
                const struct sim_link_stats *st;

                memset(l, 0, sizeof(*l));
                n = sim_net__new(42);
                sim_net__add_link(n, &lossy);
                for (uint8_t i = 0; i < 40; i++) {
                        f[0] = i;
                        sim_net__send(n, i * 100, 0, f, 1);
                }
                while (sim_net__next(n) != UINT64_MAX)
                        sim_net__deliver(n, sim_net__next(n), net_record, l);
                st = sim_net__link_stats(n, 0);
                assert_int_equal(st->sent, 40);
                assert_int_equal(st->delivered, 40 - st->dropped + st->duplicated);
                assert_true(st->dropped > 0 && st->duplicated > 0 && st->reordered > 0);
                assert_int_equal(l->n, st->delivered);
                for (unsigned i = 1; i < l->n; i++)
                        assert_true(l->at[i] >= l->at[i - 1]);
                sim_net__free(n);
        }
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.at, b.at, sizeof(a.at));
        assert_memory_equal(a.id, b.id, sizeof(a.id));
}

/* --- Random seeds. --- */

#define SIM_STREAM_MAX 300000

struct run_params {
        struct sim_tcp_cfg c[2];
        struct sim_link_cfg l[2];
        size_t size[2];
};

static void random_params(uint64_t seed, struct pair **out, struct run_params *rp)
{
        static const uint32_t bufs[] = {2048, 4096, 16384, 65536, 262144, 1048576};
        struct sim_rng r;
        struct pair *p;

        sim_rng__seed(&r, seed ^ 0x5eed5eed);
        for (unsigned i = 0; i < 2; i++) {
                struct sim_tcp_cfg *c = &rp->c[i];
                struct sim_link_cfg *l = &rp->l[i];

                *c = pair__cfg(i);
                c->iss = sim_rng__chance(&r, 0.2) ? (uint32_t)(0 - sim_rng__range(&r, 1, 200000))
                                                  : (uint32_t)sim_rng__next(&r);
                c->mss = (uint16_t)sim_rng__range(&r, 536, 1460);
                c->wscale = (int8_t)(sim_rng__chance(&r, 0.2) ? -1 : sim_rng__range(&r, 0, 10));
                c->sack = !sim_rng__chance(&r, 0.2);
                c->rcvbuf = bufs[sim_rng__below(&r, 6)];
                c->sndbuf = bufs[1 + sim_rng__below(&r, 5)];
                c->delack_ns = sim_rng__chance(&r, 0.5) ? 0 : SIM_MS(sim_rng__range(&r, 1, 200));
                c->timewait_ns = SIM_S(60);
                *l = (struct sim_link_cfg){0};
                l->loss = sim_rng__chance(&r, 0.2) ? 0 : sim_rng__unit(&r) * 0.10;
                l->dup = sim_rng__chance(&r, 0.3) ? 0 : sim_rng__unit(&r) * 0.05;
                l->delay_ns = SIM_MS(sim_rng__range(&r, 1, 150));
                l->jitter_ns = sim_rng__below(&r, l->delay_ns);
                l->jitter = sim_rng__chance(&r, 0.5) ? SIM_JITTER_UNIFORM : SIM_JITTER_EXPONENTIAL;
                l->jitter_p = sim_rng__unit(&r);
                rp->size[i] = sim_rng__chance(&r, 0.1) ? 0 : sim_rng__below(&r, SIM_STREAM_MAX + 1);
        }
        p = pair__new(&rp->c[0], &rp->c[1], &rp->l[0], &rp->l[1], seed);
        p->keep_log = false;
        for (unsigned i = 0; i < 2; i++) {
                struct pair_app *a = &p->app[i];

                /* Buffers kept across seeds: fresh pages cost more than
                 * the simulation itself. */
                static uint8_t src[2][SIM_STREAM_MAX], dst[2][SIM_STREAM_MAX];
                struct sim_rng g;

                sim_rng__seed(&g, seed * 4 + i);
                for (size_t k = 0; k < rp->size[i]; k += 8) {
                        uint64_t v = sim_rng__next(&g);

                        memcpy(src[i] + k, &v, rp->size[i] - k < 8 ? rp->size[i] - k : 8);
                }
                p->app[i].src = src[i];
                p->app[i].src_len = rp->size[i];
                a->dst = dst[i];
                a->dst_cap = rp->size[1 - i];
                a->close_when_sent = true;
                a->close_after_eof = i == 1 && sim_rng__chance(&r, 0.5); /* one side may wait */
                if (sim_rng__chance(&r, 0.6)) {
                        a->read_ival_ns = SIM_MS(sim_rng__range(&r, 1, 100));
                        a->read_chunk = sim_rng__range(&r, 1024, 65536);
                }
                if (sim_rng__chance(&r, 0.15)) {
                        a->pause_at = SIM_MS(sim_rng__range(&r, 1, 5000));
                        a->pause_ns = SIM_MS(sim_rng__range(&r, 100, 5000));
                }
        }
        *out = p;
}

#define SIM_TIME_BOUND SIM_S(600) /* the longest of 30,000 seeds took 156 s */

/* Totals over the seeds run, printed at the end. */
static struct {
        uint64_t max_ns, max_seed, segs, rtx, rtos, recoveries, probes, dupacks, sacks;
        struct sim_link_stats net;
} totals;

static void add_totals(uint64_t seed, struct pair *p)
{
        struct sim_link_stats n;

        if (p->now > totals.max_ns) {
                totals.max_ns = p->now;
                totals.max_seed = seed;
        }
        for (unsigned i = 0; i < 2; i++) {
                const struct sim_tcp_stats *s = sim_tcp__stats(p->ep[i]);

                totals.segs += s->segs_out;
                totals.rtx += s->rtx_segs;
                totals.rtos += s->rto_fires;
                totals.recoveries += s->fast_recoveries;
                totals.probes += s->probes_out;
                totals.dupacks += s->dupacks_in;
                totals.sacks += s->sack_blocks_out;
        }
        sim_net__totals(p->net, &n);
        totals.net.dropped += n.dropped;
        totals.net.duplicated += n.duplicated;
        totals.net.reordered += n.reordered;
}

/* NULL when seed passes, else what failed. */
static const char *run_seed(uint64_t seed, bool verbose)
{
        struct run_params rp;
        const char *why = NULL;
        struct pair *p;

        random_params(seed, &p, &rp);
        if (verbose)
                p->keep_log = true;
        if (!pair__run(p, SIM_TIME_BOUND, pair__finished))
                why = "not closed within the time bound";
        else if (!pair__delivered(p))
                why = "streams incomplete";
        else if ((rp.size[0] && memcmp(p->app[1].dst, p->app[0].src, rp.size[0])) ||
                 (rp.size[1] && memcmp(p->app[0].dst, p->app[1].src, rp.size[1])))
                why = "streams differ";
        else if (!sim_tcp__eof(p->ep[0]) || !sim_tcp__eof(p->ep[1]))
                why = "no EOF";
        else if (sim_tcp__violations(p->ep[0]) || sim_tcp__violations(p->ep[1]))
                why = "validation counter fired";
        else if (sim_tcp__stats(p->ep[0])->rst_accepted || sim_tcp__stats(p->ep[1])->rst_accepted)
                why = "reset";
        else if (p->broken)
                why = p->broken;
        add_totals(seed, p);
        if (why || verbose) {
                fprintf(stderr,
                        "seed %" PRIu64 ": %s at %.3f s (rerun: SIM_SEED=%" PRIu64
                        ")\n  sizes %zu/%zu loss %.3f/%.3f dup %.3f/%.3f delay %llu/%llu ms "
                        "rcvbuf %u/%u mss %u/%u ws %d/%d sack %d/%d\n",
                        seed, why ? why : "ok", (double)p->now / 1e9, seed, rp.size[0], rp.size[1],
                        rp.l[0].loss, rp.l[1].loss, rp.l[0].dup, rp.l[1].dup,
                        (unsigned long long)(rp.l[0].delay_ns / 1000000),
                        (unsigned long long)(rp.l[1].delay_ns / 1000000), rp.c[0].rcvbuf,
                        rp.c[1].rcvbuf, rp.c[0].mss, rp.c[1].mss, rp.c[0].wscale, rp.c[1].wscale,
                        rp.c[0].sack, rp.c[1].sack);
                pair__dump(p, stderr);
        }
        if (verbose) {
                for (size_t i = 0; i < p->nlog; i++) {
                        const struct pair_rec *r = &p->log[i];

                        fprintf(stderr,
                                "%10.6f %u%s %c%c%c%c seq %u ack %u len %u wnd %u sack %u\n",
                                (double)r->at / 1e9, r->from, r->dropped ? " (dropped)" : "",
                                r->seg.flags & SIM_TCP_SYN ? 'S' : '.',
                                r->seg.flags & SIM_TCP_FIN ? 'F' : '.',
                                r->seg.flags & SIM_TCP_RST ? 'R' : '.',
                                r->seg.flags & SIM_TCP_ACK ? 'A' : '.', r->seg.seq, r->seg.ack,
                                r->seg.len, r->seg.wnd, r->seg.nsack);
                }
        }
        pair__free(p);
        return why;
}

static void random_seeds(void **state)
{
        const char *one = getenv("SIM_SEED"), *many = getenv("SIM_SEEDS");
        uint64_t n = many ? strtoull(many, NULL, 0) : 2000, failed = 0;
        struct timespec t0, t1;

        if (one) {
                assert_null(run_seed(strtoull(one, NULL, 0), true));
                return;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (uint64_t seed = 1; seed <= n; seed++)
                if (run_seed(seed, false) && ++failed >= 5)
                        break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr,
                "sim.tcp: %" PRIu64 " seeds in %.2f s; longest %.1f virtual s (seed %" PRIu64
                "); segments %" PRIu64 ", retransmitted %" PRIu64 ", RTOs %" PRIu64
                ", recoveries %" PRIu64 ", dupACKs %" PRIu64 ", SACK blocks %" PRIu64
                ", probes %" PRIu64 "; network dropped %" PRIu64 ", duplicated %" PRIu64
                ", reordered %" PRIu64 "\n",
                n, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                (double)totals.max_ns / 1e9, totals.max_seed, totals.segs, totals.rtx, totals.rtos,
                totals.recoveries, totals.dupacks, totals.sacks, totals.probes, totals.net.dropped,
                totals.net.duplicated, totals.net.reordered);
        assert_int_equal(failed, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(handshake),
            cmocka_unit_test(handshake_without_options),
            cmocka_unit_test(fast_retransmit_dupacks),
            cmocka_unit_test(fast_retransmit_sack),
            cmocka_unit_test(sack_two_holes),
            cmocka_unit_test(rto_backoff),
            cmocka_unit_test(rst_checks),
            cmocka_unit_test(validation_counters),
            cmocka_unit_test(zero_window_persist),
            cmocka_unit_test(delayed_ack),
            cmocka_unit_test(fin_exchange),
            cmocka_unit_test(simultaneous_close),
            cmocka_unit_test(lost_syn),
            cmocka_unit_test(syn_gives_up),
            cmocka_unit_test(sequence_wrap),
            cmocka_unit_test(after_close),
            cmocka_unit_test(net_determinism),
            cmocka_unit_test(random_seeds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
