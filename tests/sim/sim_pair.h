/*
 * Two simulated endpoints joined by a sim_net (one link each way), with an
 * application on each side that writes a byte stream, reads at a chosen
 * pace and closes: the driver of test_sim_tcp.c. Every segment sent is
 * logged (parsed) and may be dropped by a test's filter before it reaches
 * the network, so a test can lose exactly the segment it means to.
 *
 * Test-only; header-only so each test binary gets its own copy.
 */
#ifndef MQTTLB_TESTS_SIM_PAIR_H
#define MQTTLB_TESTS_SIM_PAIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_net.h"
#include "sim_rng.h"
#include "sim_tcp.h"

struct pair_rec {
        uint64_t at;
        unsigned from;
        bool dropped;
        struct sim_seg seg; /* payload pointer not kept */
};

struct pair_app {
        const uint8_t *src; /* stream to send */
        size_t src_len, src_off;
        bool close_when_sent; /* close after the last byte was written */
        bool close_after_eof; /* ... and only once the peer's FIN was read */
        bool closed;
        uint8_t *dst; /* what arrived */
        size_t dst_cap, dst_len;
        bool paused;                 /* not reading at all */
        uint64_t read_ival_ns;       /* 0: read at every step; else wake at random up to this */
        size_t read_chunk;           /* max bytes per read (0: all) */
        uint64_t pause_at, pause_ns; /* one long pause in reading */
        uint64_t read_at;
        bool accepted; /* the connection opened (the application saw it) */
        struct sim_rng rng;
};

struct pair;
typedef bool pair_filter_fn(struct pair *p, unsigned from, const struct sim_seg *s);

struct pair {
        struct sim_tcp *ep[2]; /* 0: the active opener, 1: the passive one */
        struct sim_net *net;
        int link[2]; /* link[i] carries ep[i]'s frames */
        uint64_t now;
        pair_filter_fn *filter;
        void *ctx;
        struct pair_app app[2];
        struct pair_rec *log;
        size_t nlog, caplog;
        bool keep_log;
        const char *broken; /* first internal inconsistency seen */
};

static inline struct sim_tcp_cfg pair__cfg(unsigned side)
{
        struct sim_tcp_cfg c = {
            .mac = {2, 0, 0, 0, 0, (uint8_t)(1 + side)},
            .peer_mac = {2, 0, 0, 0, 0, (uint8_t)(2 - side)},
            .addr = side ? 0x0a000002 : 0x0a000001,
            .peer_addr = side ? 0x0a000001 : 0x0a000002,
            .port = side ? 1883 : 40000,
            .peer_port = side ? 0 : 1883,
            .iss = side ? 0x20000000 : 0x10000000,
            .mss = 1460,
            .wscale = 7,
            .sack = true,
        };

        return c;
}

static inline struct pair *pair__new(const struct sim_tcp_cfg *c0, const struct sim_tcp_cfg *c1,
                                     const struct sim_link_cfg *l0, const struct sim_link_cfg *l1,
                                     uint64_t seed)
{
        struct pair *p = calloc(1, sizeof(*p));

        p->ep[0] = sim_tcp__new(c0);
        p->ep[1] = sim_tcp__new(c1);
        p->net = sim_net__new(seed);
        p->link[0] = sim_net__add_link(p->net, l0);
        p->link[1] = sim_net__add_link(p->net, l1);
        p->keep_log = true;
        for (unsigned i = 0; i < 2; i++)
                sim_rng__seed(&p->app[i].rng, seed * 2 + i + 1);
        sim_tcp__listen(p->ep[1]);
        sim_tcp__connect(p->ep[0], 0);
        return p;
}

static inline void pair__free(struct pair *p)
{
        sim_tcp__free(p->ep[0]);
        sim_tcp__free(p->ep[1]);
        sim_net__free(p->net);
        free(p->log);
        free(p);
}

static inline void pair__record(struct pair *p, unsigned from, const struct sim_seg *s, bool drop)
{
        if (!p->keep_log)
                return;
        if (p->nlog == p->caplog) {
                p->caplog = p->caplog ? 2 * p->caplog : 1024;
                p->log = realloc(p->log, p->caplog * sizeof(*p->log));
        }
        p->log[p->nlog] = (struct pair_rec){p->now, from, drop, *s};
        p->log[p->nlog++].seg.payload = NULL;
}

/* Everything both endpoints have to send now, through the filter. */
static inline void pair__flush(struct pair *p)
{
        uint8_t buf[2048];
        size_t len;

        for (unsigned i = 0; i < 2; i++) {
                while ((len = sim_tcp__output(p->ep[i], p->now, buf, sizeof(buf)))) {
                        struct sim_seg s;
                        bool drop;

                        if (p->filter || p->keep_log)
                                sim_seg__parse(&s, buf, len);
                        drop = p->filter && !p->filter(p, i, &s);
                        pair__record(p, i, &s, drop);
                        if (!drop)
                                sim_net__send(p->net, p->now, (unsigned)p->link[i], buf, len);
                }
        }
}

static inline void pair__deliver_one(void *ctx, uint64_t at, unsigned link, const uint8_t *f,
                                     size_t len)
{
        struct pair *p = ctx;

        sim_tcp__input(p->ep[link == (unsigned)p->link[0] ? 1 : 0], at, f, len);
}

static inline void pair__app_step(struct pair *p, unsigned i)
{
        struct pair_app *a = &p->app[i];
        struct sim_tcp *t = p->ep[i];
        size_t n;

        if (sim_tcp__state(t) >= SIM_TCP_ESTABLISHED)
                a->accepted = true;
        if (!a->accepted)
                return; /* the connection is not open yet */
        if (a->src && a->src_off < a->src_len)
                a->src_off += sim_tcp__write(t, a->src + a->src_off, a->src_len - a->src_off);
        if (a->dst && !a->paused && p->now >= a->read_at &&
            !(a->pause_ns && p->now >= a->pause_at && p->now < a->pause_at + a->pause_ns)) {
                size_t want = a->dst_cap - a->dst_len;

                if (a->read_chunk && want > a->read_chunk)
                        want = sim_rng__range(&a->rng, 1, a->read_chunk);
                n = sim_tcp__read(t, a->dst + a->dst_len, want);
                a->dst_len += n;
                if (a->read_ival_ns)
                        a->read_at = p->now + sim_rng__range(&a->rng, 1, a->read_ival_ns);
        }
        if (a->close_when_sent && !a->closed && a->src_off == a->src_len &&
            (!a->close_after_eof || sim_tcp__eof(t))) {
                sim_tcp__close(t);
                a->closed = true;
        }
}

/* One step: applications, output, then the clock to the next event (no
 * later than until) and the deliveries due. False when nothing is left to
 * happen. */
static inline bool pair__step(struct pair *p, uint64_t until)
{
        uint64_t next;

        for (unsigned i = 0; i < 2; i++)
                pair__app_step(p, i);
        pair__flush(p);
        next = sim_net__next(p->net);
        for (unsigned i = 0; i < 2; i++) {
                const char *bad = sim_tcp__check(p->ep[i]);
                struct pair_app *a = &p->app[i];
                uint64_t wake = a->read_at;

                if (bad && !p->broken)
                        p->broken = bad;
                if (a->pause_ns && p->now >= a->pause_at && p->now < a->pause_at + a->pause_ns)
                        wake = a->pause_at + a->pause_ns;
                next = next < sim_tcp__next_timer(p->ep[i]) ? next : sim_tcp__next_timer(p->ep[i]);
                if (a->dst && !a->paused && (a->read_ival_ns || a->pause_ns) &&
                    !sim_tcp__eof(p->ep[i]) && wake > p->now && wake < next)
                        next = wake;
        }
        if (next == UINT64_MAX)
                return false;
        if (next > until) {
                p->now = until;
                return false;
        }
        p->now = next > p->now ? next : p->now;
        sim_net__deliver(p->net, p->now, pair__deliver_one, p);
        return true;
}

/* Runs until done(p) or the clock passes until; done(p)'s last value. */
static inline bool pair__run(struct pair *p, uint64_t until, bool (*done)(struct pair *))
{
        while (!done(p))
                if (!pair__step(p, until))
                        return done(p);
        pair__flush(p);
        return true;
}

static inline bool pair__established(struct pair *p)
{
        return sim_tcp__state(p->ep[0]) == SIM_TCP_ESTABLISHED &&
               sim_tcp__state(p->ep[1]) == SIM_TCP_ESTABLISHED;
}

static inline bool pair__closed(struct pair *p)
{
        for (unsigned i = 0; i < 2; i++) {
                enum sim_tcp_state s = sim_tcp__state(p->ep[i]);

                if (!sim_tcp__done(p->ep[i]) && s != SIM_TCP_TIME_WAIT)
                        return false;
        }
        return true;
}

/* Both applications got every byte of the other's stream. */
static inline bool pair__delivered(struct pair *p)
{
        return p->app[0].dst_len == p->app[1].src_len && p->app[1].dst_len == p->app[0].src_len;
}

/* Both closed (or in TIME_WAIT) and both applications read everything. */
static inline bool pair__finished(struct pair *p)
{
        return pair__closed(p) && pair__delivered(p);
}

static inline void pair__dump(struct pair *p, FILE *f)
{
        for (unsigned i = 0; i < 2; i++) {
                const struct sim_tcp_stats *s = sim_tcp__stats(p->ep[i]);
                struct sim_tcp_info in;

                sim_tcp__info(p->ep[i], &in);
                fprintf(f,
                        "  ep%u %s: sent %zu/%zu got %zu/%zu una %u nxt %u rcv_nxt %u wnd %u "
                        "cwnd %u ssthresh %u pipe %u rto %llums | segs %llu/%llu rtx %llu "
                        "rto %llu frec %llu dupacks %llu probes %llu | rst ok %llu win %llu out "
                        "%llu csum %llu sack %llu ackunsent %llu\n",
                        i, sim_tcp__state_name(sim_tcp__state(p->ep[i])), p->app[i].src_off,
                        p->app[i].src_len, p->app[i].dst_len, p->app[1 - i].src_len, in.snd_una,
                        in.snd_nxt, in.rcv_nxt, in.snd_wnd, in.cwnd, in.ssthresh, in.pipe,
                        (unsigned long long)(in.rto_ns / 1000000), (unsigned long long)s->segs_out,
                        (unsigned long long)s->segs_in, (unsigned long long)s->rtx_segs,
                        (unsigned long long)s->rto_fires, (unsigned long long)s->fast_recoveries,
                        (unsigned long long)s->dupacks_in, (unsigned long long)s->probes_out,
                        (unsigned long long)s->rst_accepted, (unsigned long long)s->rst_in_window,
                        (unsigned long long)s->rst_outside, (unsigned long long)s->bad_csum,
                        (unsigned long long)s->bad_sack, (unsigned long long)s->ack_unsent);
        }
}

#endif
