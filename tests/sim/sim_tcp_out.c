/*
 * The simulated endpoint's send half (sim_tcp.h): what an arriving ACK does
 * to the send state (RFC 9293 §3.10.7.4, RFC 5681, RFC 6675, RFC 6298), the
 * timers, and which segment goes out next. Segment selection follows RFC
 * 6675's NextSeg() and pipe for every send, in or out of recovery (so SACKed
 * bytes make room for new data the way limited transmit does); a peer
 * without SACK gets NewReno (RFC 6582), its duplicate ACKs standing in for
 * SACKed segments. The receive half is sim_tcp.c.
 */
#include "sim_tcp_int.h"

#include <assert.h>
#include <string.h>

#define DUPTHRESH 3 /* RFC 5681 §3.2, RFC 6675 §2 */

/* --- Scoreboard (RFC 6675 §3), ranges sorted by start. --- */

static uint64_t sacked_total(const struct sim_tcp_snd *snd)
{
        uint64_t n = 0;

        for (unsigned i = 0; i < snd->nsacked; i++)
                n += snd->sacked[i].end - snd->sacked[i].start;
        return n;
}

/* Marks [start, end) SACKed; the bytes newly SACKed. */
static uint64_t sacked_add(struct sim_tcp_snd *snd, uint64_t start, uint64_t end)
{
        uint64_t before = sacked_total(snd);
        struct sim_range n;
        unsigned i = 0, at;

        start = max64(start, snd->una);
        end = min64(end, snd->nxt);
        if (start >= end)
                return 0;
        n = (struct sim_range){start, end, 0};
        while (i < snd->nsacked) {
                struct sim_range *r = &snd->sacked[i];

                if (r->start <= n.end && r->end >= n.start) {
                        n.start = min64(n.start, r->start);
                        n.end = max64(n.end, r->end);
                        memmove(r, r + 1, (snd->nsacked - i - 1) * sizeof(*r));
                        snd->nsacked--;
                        continue;
                }
                i++;
        }
        if (snd->nsacked == SIM_TCP_RANGES)
                return 0; /* the information is lost, as in a bounded scoreboard */
        for (at = 0; at < snd->nsacked && snd->sacked[at].start < n.start; at++)
                ;
        memmove(&snd->sacked[at + 1], &snd->sacked[at], (snd->nsacked - at) * sizeof(n));
        snd->sacked[at] = n;
        snd->nsacked++;
        return sacked_total(snd) - before;
}

/* SND.UNA moved: forget what it covers. */
static void sacked_trim(struct sim_tcp_snd *snd)
{
        unsigned i = 0;

        while (i < snd->nsacked) {
                struct sim_range *r = &snd->sacked[i];

                if (r->end <= snd->una) {
                        memmove(r, r + 1, (snd->nsacked - i - 1) * sizeof(*r));
                        snd->nsacked--;
                        continue;
                }
                r->start = max64(r->start, snd->una);
                i++;
        }
}

/* RFC 6675 §4 IsLost(): an unSACKed byte is lost when DupThresh SACKed
 * ranges or more than (DupThresh - 1) * SMSS SACKed bytes lie above it.
 * Lost-ness is monotonic, so it is one boundary: every unSACKed byte below
 * the returned offset is lost. */
static uint64_t sack_lost_end(const struct sim_tcp *t)
{
        const struct sim_tcp_snd *snd = &t->snd;
        uint64_t bytes = 0;

        for (unsigned n = 1; n <= snd->nsacked; n++) {
                const struct sim_range *r = &snd->sacked[snd->nsacked - n];

                bytes += r->end - r->start;
                if (bytes > (DUPTHRESH - 1) * (uint64_t)snd->mss || n >= DUPTHRESH)
                        return r->start;
        }
        return 0;
}

/* Every unSACKed byte below this is taken as lost: IsLost, everything
 * outstanding after an RTO, and in recovery the segment at SND.UNA until it
 * was retransmitted (RFC 6675 (4.3); RFC 6582 after a partial ACK). */
static uint64_t lost_end(const struct sim_tcp *t)
{
        const struct sim_tcp_snd *snd = &t->snd;
        uint64_t e = max64(sack_lost_end(t), snd->rto_lost);

        if (snd->in_recovery && snd->high_rxt <= snd->una)
                e = max64(e, snd->una + snd->mss);
        return min64(e, snd->nxt);
}

/* Calls fn for each unSACKed interval of [from, SND.NXT), in order, until it
 * returns true. */
static bool unsacked_each(const struct sim_tcp *t, uint64_t from,
                          bool (*fn)(void *ctx, uint64_t a, uint64_t b), void *ctx)
{
        const struct sim_tcp_snd *snd = &t->snd;
        uint64_t a = max64(from, snd->una);

        for (unsigned i = 0; i <= snd->nsacked; i++) {
                uint64_t b = i < snd->nsacked ? min64(snd->sacked[i].start, snd->nxt) : snd->nxt;

                if (b > a && fn(ctx, a, b))
                        return true;
                if (i < snd->nsacked)
                        a = max64(a, snd->sacked[i].end);
        }
        return false;
}

struct pipe_ctx {
        uint64_t lost, high_rxt, pipe;
};

static bool pipe_add(void *ctx, uint64_t a, uint64_t b)
{
        struct pipe_ctx *c = ctx;

        c->pipe += b - max64(a, min64(b, c->lost)); /* not lost: still in flight */
        if (c->high_rxt > a)
                c->pipe += min64(b, c->high_rxt) - a; /* retransmitted: in flight again */
        return false;
}

/* RFC 6675 §4 SetPipe(): bytes the sender believes are in the network. */
uint32_t snd__pipe(const struct sim_tcp *t)
{
        const struct sim_tcp_snd *snd = &t->snd;
        struct pipe_ctx c = {lost_end(t), snd->high_rxt, 0};
        uint64_t reno;

        unsacked_each(t, snd->una, pipe_add, &c);
        /* Without SACK each duplicate ACK is a segment that left (RFC 5681
         * §3.2 step 4's inflation, seen from the pipe's side). */
        if (!t->sack_ok) {
                reno = (uint64_t)snd->dupacks * snd->mss;
                c.pipe -= min64(reno, c.pipe > snd->mss ? c.pipe - snd->mss : 0);
        }
        return (uint32_t)min64(c.pipe, UINT32_MAX);
}

/* --- RTO (RFC 6298). --- */

void snd__rtt_sample(struct sim_tcp *t, uint64_t r)
{
        struct sim_tcp_snd *snd = &t->snd;
        const uint64_t g = SIM_MS(1); /* clock granularity G */

        if (!snd->have_rtt) { /* §2.2 */
                snd->srtt = r;
                snd->rttvar = r / 2;
                snd->have_rtt = true;
        } else { /* §2.3, beta 1/4, alpha 1/8 */
                uint64_t d = snd->srtt > r ? snd->srtt - r : r - snd->srtt;

                snd->rttvar = (3 * snd->rttvar + d) / 4;
                snd->srtt = (7 * snd->srtt + r) / 8;
        }
        snd->rto = snd->srtt + max64(g, 4 * snd->rttvar);
        snd->rto = max64(snd->rto, t->cfg.rto_min_ns); /* §2.4 */
        snd->rto = min64(snd->rto, t->cfg.rto_max_ns); /* §2.5 */
}

static void on_rto(struct sim_tcp *t, uint64_t now)
{
        struct sim_tcp_snd *snd = &t->snd;
        uint64_t flight = snd->nxt - snd->una;

        snd->rto_at = SIM_NEVER;
        snd->timing = false; /* Karn */
        if (t->state == SIM_TCP_SYN_SENT || t->state == SIM_TCP_SYN_RCVD) {
                if (++snd->retries > t->cfg.syn_retries) {
                        tcp__set_state(t, SIM_TCP_TIMED_OUT, now);
                        return;
                }
                snd->rto = min64(2 * snd->rto, t->cfg.rto_max_ns); /* §5.5 */
                snd->syn_due = true; /* the same ISS: offset 0 is the SYN */
                return;
        }
        if (!flight)
                return;
        if (++snd->retries > t->cfg.max_retrans) {
                tcp__set_state(t, SIM_TCP_TIMED_OUT, now);
                return;
        }
        t->stats.rto_fires++;
        /* RFC 5681 §3.1 eq. 4 (held when the same data times out again),
         * and the loss window of one segment. */
        if (snd->retries == 1)
                snd->ssthresh = (uint32_t)max64(flight / 2, 2 * snd->mss);
        snd->cwnd = snd->mss;
        snd->cwnd_acc = 0;
        /* RFC 2018 §8: the receiver may have reneged; forget SACKs. */
        snd->nsacked = 0;
        /* RFC 6675 §5.1: retransmit all that is outstanding, and no new
         * recovery before SND.UNA passes what was sent. */
        snd->rto_lost = snd->nxt;
        snd->high_rxt = snd->una;
        snd->in_recovery = false;
        snd->recovery_point = snd->nxt;
        snd->dupacks = 0;
        snd->rto = min64(2 * snd->rto, t->cfg.rto_max_ns); /* RFC 6298 §5.5 */
}

void snd__fire_timers(struct sim_tcp *t, uint64_t now)
{
        struct sim_tcp_snd *snd = &t->snd;

        if (t->timewait_at <= now) {
                tcp__set_state(t, SIM_TCP_CLOSED, now);
                return;
        }
        if (t->rcv.delack_at <= now) {
                t->rcv.delack_at = SIM_NEVER;
                if (!t->rcv.acks_owed) {
                        t->rcv.acks_owed = 1;
                        t->stats.delacks++;
                }
        }
        if (snd->persist_at <= now) {
                /* RFC 9293 §3.8.6.1: probe, backing off exponentially. */
                snd->probe_due = true;
                snd->persist_ival = min64(2 * snd->persist_ival, t->cfg.rto_max_ns);
                snd->persist_at = now + snd->persist_ival;
        }
        if (snd->rto_at <= now)
                on_rto(t, now);
}

uint64_t sim_tcp__next_timer(const struct sim_tcp *t)
{
        return min64(min64(t->snd.rto_at, t->snd.persist_at),
                     min64(t->rcv.delack_at, t->timewait_at));
}

/* --- ACK arrival (RFC 9293 §3.10.7.4 "fifth, check the ACK field"). --- */

static bool sack_block_valid(const struct sim_tcp *t, const struct sim_seg *s, unsigned i)
{
        uint32_t l = s->sack[i][0], r = s->sack[i][1];

        /* RFC 2018 §3-4: a block lies above the segment's cumulative ACK and
         * covers data that was sent. (A D-SACK, RFC 2883, would lie below;
         * no endpoint here sends one.) */
        return t->sack_ok && sim_seq__lt(s->ack, l) && sim_seq__lt(l, r) &&
               snd_off(t, r) <= t->snd.nxt;
}

static void fin_acked(struct sim_tcp *t, uint64_t now)
{
        switch (t->state) {
        case SIM_TCP_FIN_WAIT_1: tcp__set_state(t, SIM_TCP_FIN_WAIT_2, now); break;
        case SIM_TCP_CLOSING: tcp__set_state(t, SIM_TCP_TIME_WAIT, now); break;
        case SIM_TCP_LAST_ACK: tcp__set_state(t, SIM_TCP_CLOSED, now); break;
        default: break;
        }
}

static void cwnd_grow(struct sim_tcp_snd *snd, uint64_t acked)
{
        if (snd->cwnd < snd->ssthresh) { /* RFC 5681 §3.1 eq. 2 */
                snd->cwnd += (uint32_t)min64(acked, snd->mss);
                return;
        }
        snd->cwnd_acc += (uint32_t)acked; /* eq. 3, counted in bytes (RFC 3465) */
        if (snd->cwnd_acc >= snd->cwnd) {
                snd->cwnd_acc -= snd->cwnd;
                snd->cwnd += snd->mss;
        }
}

bool snd__on_ack(struct sim_tcp *t, uint64_t now, const struct sim_seg *s, uint64_t seg_off)
{
        struct sim_tcp_snd *snd = &t->snd;
        uint64_t ack = snd_off(t, s->ack), prior_una = snd->una, new_sacked = 0;

        if (ack > snd->nxt) {
                /* "If the ACK acks something not yet sent (SEG.ACK > SND.NXT),
                 * then send an ACK, drop the segment, and return." */
                t->stats.ack_unsent++;
                t->rcv.acks_owed++;
                return false;
        }
        for (unsigned i = 0; i < s->nsack; i++) {
                if (!sack_block_valid(t, s, i)) {
                        /* Counted apart when only the left edge is wrong,
                         * equal to the ACK: Linux drops such a block too
                         * (tcp_is_sackblock_valid) but it says less. */
                        if (t->sack_ok && s->sack[i][0] == s->ack &&
                            sim_seq__lt(s->sack[i][0], s->sack[i][1]) &&
                            snd_off(t, s->sack[i][1]) <= snd->nxt)
                                t->stats.sack_at_ack++;
                        else
                                t->stats.bad_sack++;
                        continue;
                }
                new_sacked += sacked_add(snd, snd_off(t, s->sack[i][0]), snd_off(t, s->sack[i][1]));
        }
        if (ack > snd->una) {
                uint64_t acked = ack - snd->una;

                if (snd->timing && ack >= snd->rtt_end) {
                        snd__rtt_sample(t, now - snd->rtt_start);
                        snd->timing = false;
                }
                snd->una = ack;
                sacked_trim(snd);
                snd->retries = 0;
                if (snd->in_recovery && snd->una >= snd->recovery_point) {
                        snd->in_recovery = false; /* RFC 6675 §5: cwnd stays ssthresh */
                        snd->dupacks = 0;
                } else if (snd->in_recovery) {
                        /* Partial ACK: RFC 6582 §3.2 step 3 retransmits at
                         * SND.UNA (lost_end() marks it). */
                        snd->dupacks -= (unsigned)min64(snd->dupacks, acked / snd->mss);
                        if (!t->sack_ok)
                                snd->rtx_now = true;
                } else {
                        snd->dupacks = 0;
                        cwnd_grow(snd, acked);
                }
                /* RFC 6298 §5.2, §5.3. */
                snd->rto_at = snd->una == snd->nxt ? SIM_NEVER : now + snd->rto;
                if (snd->fin != SIM_NEVER && snd->una > snd->fin)
                        fin_acked(t, now);
        } else if (ack == snd->una && snd->nxt > snd->una && !s->len &&
                   !(s->flags & (SIM_TCP_SYN | SIM_TCP_FIN))) {
                /* RFC 5681 §2 duplicate ACK: same ACK and window; RFC 6675
                 * §2: with SACK, one that SACKs new data. */
                bool same_wnd = (uint32_t)s->wnd << snd->shift == snd->wnd;

                if (t->sack_ok && s->nsack ? new_sacked > 0 : same_wnd) {
                        snd->dupacks++;
                        t->stats.dupacks_in++;
                }
        }
        /* RFC 9293 §3.10.7.4: the window from the newest segment. */
        if (ack >= prior_una && (snd->wl1 < seg_off || (snd->wl1 == seg_off && snd->wl2 <= ack))) {
                snd->wnd = (uint32_t)s->wnd << snd->shift;
                snd->wl1 = seg_off;
                snd->wl2 = ack;
                if (snd->wnd) {
                        snd->persist_at = SIM_NEVER;
                        snd->probe_due = false;
                }
        }
        /* RFC 6675 §5: loss recovery on the DupThresh-th duplicate ACK or
         * when IsLost(HighACK + 1); not again before RecoveryPoint. */
        if (!snd->in_recovery && snd->una >= snd->recovery_point && snd->nxt > snd->una &&
            (snd->dupacks >= DUPTHRESH || (t->sack_ok && sack_lost_end(t) > snd->una))) {
                snd->in_recovery = true;
                snd->recovery_point = snd->nxt;
                snd->ssthresh = (uint32_t)max64((snd->nxt - snd->una) / 2, 2 * snd->mss);
                snd->cwnd = snd->ssthresh;
                snd->cwnd_acc = 0;
                snd->high_rxt = snd->una;
                snd->rtx_now = true;
                t->stats.fast_recoveries++;
        }
        return true;
}

/* --- Segment selection (RFC 6675 §4 NextSeg()). --- */

static bool can_send(enum sim_tcp_state s)
{
        return s == SIM_TCP_ESTABLISHED || s == SIM_TCP_CLOSE_WAIT || s == SIM_TCP_FIN_WAIT_1 ||
               s == SIM_TCP_CLOSING || s == SIM_TCP_LAST_ACK;
}

struct seg_pick {
        const struct sim_tcp *t;
        uint64_t limit; /* rule 1: below lost_end(); rule 3: below the highest SACK */
        uint64_t start, end;
};

/* [a, b) is unSACKed: a segment from a, at most one MSS of data, the FIN
 * with it when the data reaches it. */
static bool pick_first(void *ctx, uint64_t a, uint64_t b)
{
        struct seg_pick *p = ctx;
        uint64_t fin = p->t->snd.fin, stop;

        if (a >= p->limit)
                return true; /* nothing below the limit: stop with no pick */
        stop = min64(b, fin);
        p->start = a;
        p->end = min64(stop, a + p->t->snd.mss);
        if (p->end == fin && b > fin)
                p->end = fin + 1;
        return true;
}

/* The next segment to send: [start, end) and whether it is a
 * retransmission. False when there is none (or cwnd says wait). */
static bool next_seg(struct sim_tcp *t, uint64_t *start, uint64_t *end, bool *rtx)
{
        struct sim_tcp_snd *snd = &t->snd;
        struct seg_pick p = {t, lost_end(t), 0, 0};
        uint64_t from = max64(snd->high_rxt, snd->una), wnd_end, data_end;

        if (!snd->rtx_now && snd__pipe(t) >= snd->cwnd)
                return false; /* RFC 6675 §5 (C): cwnd - pipe >= 1 */
        /* (1) the first lost unSACKed segment not yet retransmitted */
        p.start = p.end = 0;
        if (unsacked_each(t, from, pick_first, &p) && p.end > p.start) {
                *start = p.start, *end = p.end, *rtx = true;
                return true;
        }
        /* (2) new data the peer's window takes */
        *rtx = false;
        wnd_end = snd->una + snd->wnd;
        data_end = min64(snd->app_end, snd->nxt + snd->mss);
        if (snd->nxt < data_end) {
                if (data_end > wnd_end) {
                        /* RFC 9293 §3.8.6.2.1 sender SWS avoidance: a
                         * partial segment only with nothing in flight. */
                        if (wnd_end <= snd->nxt || snd->nxt > snd->una)
                                goto rule3;
                        data_end = wnd_end;
                }
                *start = snd->nxt;
                *end = data_end == snd->fin ? data_end + 1 : data_end;
                return true;
        }
        if (snd->fin != SIM_NEVER && snd->nxt == snd->fin) {
                *start = snd->fin; /* a bare FIN needs no window (Linux) */
                *end = snd->fin + 1;
                return true;
        }
rule3:
        /* (3) in recovery, an unSACKed segment below SACKed data */
        if (snd->in_recovery && snd->nsacked) {
                p.limit = snd->sacked[snd->nsacked - 1].start;
                p.start = p.end = 0;
                if (unsacked_each(t, from, pick_first, &p) && p.end > p.start) {
                        *start = p.start, *end = p.end, *rtx = true;
                        return true;
                }
        }
        return false;
}

static size_t emit_seg(struct sim_tcp *t, uint64_t now, uint64_t start, uint64_t end, bool rtx,
                       uint8_t *buf, size_t cap)
{
        struct sim_tcp_snd *snd = &t->snd;
        uint64_t data_end = min64(end, snd->fin);
        struct sim_seg s;
        size_t hlen, len;

        /* only what the application wrote, never below SND.UNA, and a new
         * segment from SND.NXT on (RFC 9293 3.8.6: the sender's side) */
        assert(start >= snd->una && start < end && data_end <= max64(snd->app_end, 1));
        assert(rtx || start >= snd->nxt);
        sim_seg__init(&s);
        s.seq = snd_seq(t, start);
        s.len = (uint16_t)(data_end > start ? data_end - start : 0);
        s.flags = (end > snd->fin ? SIM_TCP_FIN : 0) | (s.len ? SIM_TCP_PSH : 0);
        rcv__fill_ack(t, &s);
        hlen = sim_seg__hdr_len(&s);
        if (hlen + s.len > cap)
                return 0;
        for (uint64_t o = start; o < start + s.len;) {
                size_t at = (o - 1) % snd->cap, k = min64(start + s.len - o, snd->cap - at);

                memcpy(buf + hlen + (o - start), snd->buf + at, k);
                o += k;
        }
        len = tcp__frame(t, &s, buf, cap);
        if (rtx) {
                t->stats.rtx_segs++;
                t->stats.rtx_bytes += s.len;
                snd->high_rxt = max64(snd->high_rxt, end);
                snd->timing = false; /* Karn */
        } else {
                t->stats.bytes_out += s.len;
                snd->nxt = end;
                if (!snd->timing) {
                        snd->timing = true;
                        snd->rtt_start = now;
                        snd->rtt_end = end;
                }
        }
        snd->rtx_now = false;
        if (snd->rto_at == SIM_NEVER) /* RFC 6298 §5.1 */
                snd->rto_at = now + snd->rto;
        return len;
}

static size_t emit_syn(struct sim_tcp *t, uint64_t now, uint8_t *buf, size_t cap)
{
        struct sim_tcp_snd *snd = &t->snd;
        bool answer = t->state == SIM_TCP_SYN_RCVD;
        struct sim_seg s;

        sim_seg__init(&s);
        s.seq = t->cfg.iss; /* a SYN sent again keeps its ISS */
        s.flags = SIM_TCP_SYN;
        s.mss = t->cfg.mss;
        /* RFC 7323 §1.3 / RFC 2018 §2: a SYN-ACK carries an option only
         * when the SYN did. */
        if (t->cfg.wscale >= 0 && (!answer || t->ws_ok))
                s.wscale = t->cfg.wscale;
        s.sack_ok = t->cfg.sack && (!answer || t->sack_ok);
        if (answer) {
                rcv__fill_ack(t, &s);
        } else {
                s.wnd = (uint16_t)min64(t->rcv.cap, 65535);
        }
        snd->syn_due = false;
        if (snd->nxt) {
                t->stats.syn_rtx++;
                snd->timing = false;
        } else {
                snd->nxt = 1;
                snd->timing = true;
                snd->rtt_start = now;
                snd->rtt_end = 1;
        }
        snd->rto_at = now + snd->rto;
        return tcp__frame(t, &s, buf, cap);
}

size_t sim_tcp__output(struct sim_tcp *t, uint64_t now, uint8_t *buf, size_t cap)
{
        struct sim_tcp_snd *snd = &t->snd;
        uint64_t start, end;
        struct sim_seg s;
        bool rtx;

        snd__fire_timers(t, now);
        sim_seg__init(&s);
        if (t->rst_due) {
                t->rst_due = false;
                s.seq = t->rst_seq;
                s.ack = t->rst_ack;
                s.flags = SIM_TCP_RST | (t->rst_has_ack ? SIM_TCP_ACK : 0);
                t->stats.rsts_out++;
                return tcp__frame(t, &s, buf, cap);
        }
        if (t->state == SIM_TCP_SYN_SENT || t->state == SIM_TCP_SYN_RCVD)
                return snd->syn_due ? emit_syn(t, now, buf, cap) : 0;
        if (t->state < SIM_TCP_ESTABLISHED || t->state > SIM_TCP_LAST_ACK)
                return 0;
        if (t->ack_first && t->rcv.acks_owed) {
                t->ack_first = false;
                s.seq = snd_seq(t, snd->nxt);
                rcv__fill_ack(t, &s);
                t->stats.acks_out++;
                return tcp__frame(t, &s, buf, cap);
        }
        t->ack_first = false;
        if (can_send(t->state) && next_seg(t, &start, &end, &rtx))
                return emit_seg(t, now, start, end, rtx, buf, cap);
        /* Zero window with data waiting and nothing in flight: persist
         * (RFC 9293 §3.8.6.1), the first probe after one RTO. */
        if (can_send(t->state) && snd->una == snd->nxt && snd->nxt < snd->app_end &&
            snd->una + snd->wnd <= snd->nxt && snd->persist_at == SIM_NEVER) {
                snd->persist_ival = max64(snd->rto, t->cfg.rto_min_ns);
                snd->persist_at = now + snd->persist_ival;
        }
        if (snd->probe_due) {
                /* Linux's probe: an old sequence number, no data; the peer
                 * answers any unacceptable segment with an ACK. */
                snd->probe_due = false;
                s.seq = snd_seq(t, snd->una - 1);
                rcv__fill_ack(t, &s);
                t->stats.probes_out++;
                return tcp__frame(t, &s, buf, cap);
        }
        if (t->rcv.acks_owed) {
                s.seq = snd_seq(t, snd->nxt);
                rcv__fill_ack(t, &s);
                t->stats.acks_out++;
                return tcp__frame(t, &s, buf, cap);
        }
        return 0;
}
