/*
 * The simulated endpoint's state machine and receive half (sim_tcp.h):
 * opening, the application calls, segment arrival (RFC 9293 §3.10.7 in its
 * order: sequence check, RST, SYN, ACK, data, FIN), the receive buffer with
 * out-of-order ranges, and what every outgoing segment says about the
 * receive half (ACK, window, SACK blocks). The send half is sim_tcp_out.c.
 */
#include "sim_tcp_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    [SIM_TCP_CLOSED] = "CLOSED",           [SIM_TCP_LISTEN] = "LISTEN",
    [SIM_TCP_SYN_SENT] = "SYN_SENT",       [SIM_TCP_SYN_RCVD] = "SYN_RCVD",
    [SIM_TCP_ESTABLISHED] = "ESTABLISHED", [SIM_TCP_FIN_WAIT_1] = "FIN_WAIT_1",
    [SIM_TCP_FIN_WAIT_2] = "FIN_WAIT_2",   [SIM_TCP_CLOSING] = "CLOSING",
    [SIM_TCP_TIME_WAIT] = "TIME_WAIT",     [SIM_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
    [SIM_TCP_LAST_ACK] = "LAST_ACK",       [SIM_TCP_RESET] = "RESET",
    [SIM_TCP_TIMED_OUT] = "TIMED_OUT",
};

const char *sim_tcp__state_name(enum sim_tcp_state s)
{
        return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

struct sim_tcp *sim_tcp__new(const struct sim_tcp_cfg *cfg)
{
        struct sim_tcp *t = calloc(1, sizeof(*t));
        struct sim_tcp_cfg *c;

        if (!t)
                return NULL;
        t->cfg = *cfg;
        c = &t->cfg;
        c->mss = c->mss ? c->mss : 1460;
        c->rcvbuf = c->rcvbuf ? c->rcvbuf : 65536;
        c->sndbuf = c->sndbuf ? c->sndbuf : 65536;
        c->init_cwnd_segs = c->init_cwnd_segs ? c->init_cwnd_segs : 10;
        c->delack_ns = c->delack_ns ? c->delack_ns : SIM_MS(40);
        c->rto_min_ns = c->rto_min_ns ? c->rto_min_ns : SIM_MS(200);
        c->rto_init_ns = c->rto_init_ns ? c->rto_init_ns : SIM_S(1);
        c->rto_max_ns = c->rto_max_ns ? c->rto_max_ns : SIM_S(60);
        c->timewait_ns = c->timewait_ns ? c->timewait_ns : SIM_S(1);
        c->max_retrans = c->max_retrans ? c->max_retrans : 15;
        c->syn_retries = c->syn_retries ? c->syn_retries : 6;
        if (c->wscale > 14)
                c->wscale = 14;
        t->snd.buf = malloc(c->sndbuf);
        t->rcv.buf = malloc(c->rcvbuf);
        if (!t->snd.buf || !t->rcv.buf) {
                sim_tcp__free(t);
                return NULL;
        }
        t->snd.cap = c->sndbuf;
        t->rcv.cap = c->rcvbuf;
        t->snd.fin = SIM_NEVER;
        t->snd.app_end = 1;
        t->snd.rto = c->rto_init_ns;
        t->snd.rto_at = t->snd.persist_at = SIM_NEVER;
        t->snd.ssthresh = UINT32_MAX; /* RFC 5681 §3.1: arbitrarily high */
        t->rcv.fin = SIM_NEVER;
        t->rcv.nxt = t->rcv.read = 1;
        t->rcv.delack_at = t->timewait_at = SIM_NEVER;
        t->ip_id = (uint16_t)(c->iss * 2654435761u >> 16);
        return t;
}

void sim_tcp__free(struct sim_tcp *t)
{
        if (!t)
                return;
        free(t->snd.buf);
        free(t->rcv.buf);
        free(t);
}

void tcp__set_state(struct sim_tcp *t, enum sim_tcp_state s, uint64_t now)
{
        t->state = s;
        if (s == SIM_TCP_TIME_WAIT)
                t->timewait_at = now + t->cfg.timewait_ns;
        if (s == SIM_TCP_TIME_WAIT || sim_tcp__done(t)) {
                t->snd.rto_at = t->snd.persist_at = SIM_NEVER;
                t->rcv.delack_at = SIM_NEVER;
        }
        if (sim_tcp__done(t))
                t->timewait_at = SIM_NEVER;
}

/* The connection became synchronized: a close() that came early takes
 * effect now (RFC 9293 §3.10.4: the FIN is queued after the data). */
static void tcp__established(struct sim_tcp *t, uint64_t now)
{
        tcp__set_state(t, t->snd.fin != SIM_NEVER ? SIM_TCP_FIN_WAIT_1 : SIM_TCP_ESTABLISHED, now);
}

void sim_tcp__connect(struct sim_tcp *t, uint64_t now_ns)
{
        t->state = SIM_TCP_SYN_SENT;
        t->snd.una = t->snd.nxt = 0;
        t->snd.syn_due = true;
}

void sim_tcp__listen(struct sim_tcp *t)
{
        t->state = SIM_TCP_LISTEN;
}

size_t sim_tcp__write(struct sim_tcp *t, const void *data, size_t n)
{
        struct sim_tcp_snd *snd = &t->snd;
        uint64_t used = snd->app_end - max64(snd->una, 1);
        size_t i;

        if (snd->fin != SIM_NEVER || t->state == SIM_TCP_CLOSED || t->state == SIM_TCP_LISTEN ||
            t->state > SIM_TCP_CLOSE_WAIT)
                return 0;
        n = min64(n, snd->cap - used);
        for (i = 0; i < n;) {
                size_t at = (snd->app_end + i - 1) % snd->cap, k = min64(n - i, snd->cap - at);

                memcpy(snd->buf + at, (const uint8_t *)data + i, k);
                i += k;
        }
        snd->app_end += n;
        return n;
}

/* End of the in-order data (the FIN's offset is not data). */
static uint64_t rcv_data_end(const struct sim_tcp *t)
{
        return min64(t->rcv.nxt, t->rcv.fin);
}

static uint32_t rcv_sws_threshold(const struct sim_tcp *t)
{
        return (uint32_t)min64(t->rcv.cap / 2, t->cfg.mss);
}

size_t sim_tcp__read(struct sim_tcp *t, void *buf, size_t n)
{
        struct sim_tcp_rcv *rcv = &t->rcv;
        uint64_t avail = rcv_data_end(t) > rcv->read ? rcv_data_end(t) - rcv->read : 0;
        size_t i;

        n = min64(n, avail);
        for (i = 0; i < n;) {
                size_t at = (rcv->read + i - 1) % rcv->cap, k = min64(n - i, rcv->cap - at);

                memcpy((uint8_t *)buf + i, rcv->buf + at, k);
                i += k;
        }
        rcv->read += n;
        /* Window update (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3): when the
         * right edge can move by min(BUF/2, MSS) and what the peer was last
         * told is under half the buffer (Linux: tcp_cleanup_rbuf). */
        if (n && (t->state == SIM_TCP_ESTABLISHED || t->state == SIM_TCP_FIN_WAIT_1 ||
                  t->state == SIM_TCP_FIN_WAIT_2)) {
                uint64_t edge = rcv->read + rcv->cap;
                uint64_t adv = rcv->adv_edge > rcv->nxt ? rcv->adv_edge - rcv->nxt : 0;

                if (edge >= rcv->adv_edge + rcv_sws_threshold(t) && adv < rcv->cap / 2 &&
                    !rcv->acks_owed) {
                        rcv->acks_owed = 1;
                        t->stats.wnd_updates++;
                }
        }
        return n;
}

bool sim_tcp__eof(const struct sim_tcp *t)
{
        return t->rcv.fin != SIM_NEVER && t->rcv.nxt > t->rcv.fin && t->rcv.read == t->rcv.fin;
}

void sim_tcp__close(struct sim_tcp *t)
{
        if (t->snd.fin != SIM_NEVER)
                return;
        t->snd.fin = t->snd.app_end;
        if (t->state == SIM_TCP_ESTABLISHED)
                t->state = SIM_TCP_FIN_WAIT_1;
        else if (t->state == SIM_TCP_CLOSE_WAIT)
                t->state = SIM_TCP_LAST_ACK;
        else if (t->state == SIM_TCP_LISTEN || t->state == SIM_TCP_CLOSED)
                t->state = SIM_TCP_CLOSED;
}

enum sim_tcp_state sim_tcp__state(const struct sim_tcp *t)
{
        return t->state;
}

bool sim_tcp__done(const struct sim_tcp *t)
{
        return (t->state == SIM_TCP_CLOSED && t->snd.fin != SIM_NEVER) ||
               t->state == SIM_TCP_RESET || t->state == SIM_TCP_TIMED_OUT;
}

const struct sim_tcp_stats *sim_tcp__stats(const struct sim_tcp *t)
{
        return &t->stats;
}

uint64_t sim_tcp__violations(const struct sim_tcp *t)
{
        const struct sim_tcp_stats *s = &t->stats;

        return s->rst_in_window + s->rst_outside + s->bad_csum + s->bad_frame + s->bad_sack +
               s->sack_at_ack + s->ack_unsent + s->not_mine;
}

/* Fills the frame's addresses and builds it. */
size_t tcp__frame(struct sim_tcp *t, struct sim_seg *s, uint8_t *buf, size_t cap)
{
        size_t len;

        memcpy(s->smac, t->cfg.mac, 6);
        memcpy(s->dmac, t->cfg.peer_mac, 6);
        s->saddr = t->cfg.addr;
        s->daddr = t->cfg.peer_addr;
        s->sport = t->cfg.port;
        s->dport = t->cfg.peer_port;
        s->ip_id = t->ip_id++;
        len = sim_seg__build(s, buf, cap);
        if (len)
                t->stats.segs_out++;
        return len;
}

/* The window field of an ACK (RFC 9293 §3.8.6.2.2 receiver SWS avoidance:
 * the right edge moves only by min(BUF/2, MSS) at a time). Scaling
 * truncates, so the edge may retract by less than 2^shift (RFC 7323 §2.4);
 * it never goes past the buffer, so whatever was offered fits. */
static uint16_t rcv_wnd_field(struct sim_tcp *t)
{
        struct sim_tcp_rcv *rcv = &t->rcv;
        uint64_t edge = rcv->read + rcv->cap, field;

        if (edge <= rcv->adv_edge || edge - rcv->adv_edge < rcv_sws_threshold(t))
                edge = rcv->adv_edge;
        edge = max64(edge, rcv->nxt);
        field = min64((edge - rcv->nxt) >> rcv->shift, 65535);
        rcv->adv_edge = max64(rcv->adv_edge, rcv->nxt + (field << rcv->shift));
        return (uint16_t)field;
}

/* RFC 2018 §4: the first block holds the most recently received segment,
 * the others follow most recently reported first. */
static void rcv_sack_blocks(struct sim_tcp *t, struct sim_seg *s)
{
        struct sim_tcp_rcv *rcv = &t->rcv;
        bool used[SIM_TCP_RANGES] = {0};
        unsigned max = SIM_SEG_SACK_MAX;

        if (s->flags & SIM_TCP_SYN)
                return;
        for (s->nsack = 0; s->nsack < max && s->nsack < rcv->nooo; s->nsack++) {
                unsigned best = 0;
                bool found = false;

                for (unsigned i = 0; i < rcv->nooo; i++)
                        if (!used[i] && (!found || rcv->ooo[i].stamp > rcv->ooo[best].stamp)) {
                                best = i;
                                found = true;
                        }
                used[best] = true;
                s->sack[s->nsack][0] = rcv_seq(t, rcv->ooo[best].start);
                s->sack[s->nsack][1] = rcv_seq(t, rcv->ooo[best].end);
        }
        t->stats.sack_blocks_out += s->nsack;
}

void rcv__fill_ack(struct sim_tcp *t, struct sim_seg *s)
{
        struct sim_tcp_rcv *rcv = &t->rcv;

        s->flags |= SIM_TCP_ACK;
        s->ack = rcv_seq(t, rcv->nxt);
        if (s->flags & SIM_TCP_SYN) {
                s->wnd = (uint16_t)min64(rcv->cap, 65535); /* never scaled (RFC 7323 §2.2) */
                rcv->adv_edge = rcv->nxt + s->wnd;
        } else {
                s->wnd = rcv_wnd_field(t);
        }
        if (t->sack_ok)
                rcv_sack_blocks(t, s);
        if (rcv->acks_owed)
                rcv->acks_owed--;
        rcv->delack_at = SIM_NEVER;
        rcv->unacked = 0;
}

/* The options of the peer's SYN or SYN-ACK (RFC 9293 §3.7.1 default MSS
 * 536; RFC 7323 §1.3 scaling only when both sides sent the option; RFC 2018
 * §2 SACK only when both sent SACK-permitted). */
static void negotiate(struct sim_tcp *t, const struct sim_seg *s)
{
        t->snd.mss = (uint16_t)min64(t->cfg.mss, s->mss ? s->mss : 536);
        t->ws_ok = t->cfg.wscale >= 0 && s->wscale >= 0;
        t->snd.shift = t->ws_ok ? (uint8_t)s->wscale : 0;
        t->rcv.shift = t->ws_ok ? (uint8_t)t->cfg.wscale : 0;
        t->sack_ok = t->cfg.sack && s->sack_ok;
        t->snd.cwnd = t->cfg.init_cwnd_segs * t->snd.mss;
        t->rcv.irs = s->seq;
        t->rcv.nxt = t->rcv.read = 1;
        t->rcv.adv_edge = 1;
        t->snd.wnd = s->wnd; /* a SYN's window is never scaled */
        t->snd.wl1 = 0;
        t->snd.wl2 = 0;
}

static void send_rst(struct sim_tcp *t, const struct sim_seg *s)
{
        /* RFC 9293 §3.10.7: <SEQ=SEG.ACK><CTL=RST>, or without an ACK
         * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
        t->rst_due = true;
        t->rst_has_ack = !(s->flags & SIM_TCP_ACK);
        t->rst_seq = s->flags & SIM_TCP_ACK ? s->ack : 0;
        t->rst_ack = s->seq + sim_seg__seq_len(s);
}

static void listen_input(struct sim_tcp *t, const struct sim_seg *s)
{
        if (s->flags & SIM_TCP_RST)
                return;
        if (s->flags & SIM_TCP_ACK) {
                send_rst(t, s);
                return;
        }
        if (!(s->flags & SIM_TCP_SYN))
                return;
        if (!t->cfg.peer_port)
                t->cfg.peer_port = s->sport;
        negotiate(t, s);
        t->snd.una = t->snd.nxt = 0;
        t->snd.syn_due = true;
        t->state = SIM_TCP_SYN_RCVD;
}

static void syn_sent_input(struct sim_tcp *t, uint64_t now, const struct sim_seg *s)
{
        bool ack_ok = (s->flags & SIM_TCP_ACK) && s->ack == snd_seq(t, 1);

        if ((s->flags & SIM_TCP_ACK) && !ack_ok) {
                if (!(s->flags & SIM_TCP_RST))
                        send_rst(t, s);
                else
                        t->stats.rst_outside++;
                return;
        }
        if (s->flags & SIM_TCP_RST) {
                /* RFC 9293 §3.10.7.3 and RFC 5961 §3.2: acceptable only
                 * when it acknowledges the SYN. */
                if (ack_ok) {
                        t->stats.rst_accepted++;
                        tcp__set_state(t, SIM_TCP_RESET, now);
                } else {
                        t->stats.rst_outside++;
                }
                return;
        }
        if (!(s->flags & SIM_TCP_SYN) || !ack_ok)
                return; /* simultaneous open is not modelled */
        negotiate(t, s);
        t->snd.una = 1;
        t->snd.wl2 = 1;
        if (t->snd.timing) /* Karn: only a SYN sent once gives a sample */
                snd__rtt_sample(t, now - t->snd.rtt_start);
        t->snd.timing = false;
        t->snd.retries = 0;
        t->snd.rto_at = SIM_NEVER;
        /* Linux (tcp_rcv_synsent_state_process) ACKs the SYN-ACK at once,
         * before any data the application queued. */
        t->rcv.acks_owed++;
        t->ack_first = true;
        tcp__established(t, now);
}

/* Adds [start, end) to the out-of-order ranges, merging what it touches;
 * the result is the most recent range. False when the table is full (the
 * data is then dropped, as under memory pressure). */
static bool ooo_add(struct sim_tcp_rcv *rcv, uint64_t start, uint64_t end)
{
        struct sim_range n = {start, end, ++rcv->stamp};
        unsigned i = 0;

        while (i < rcv->nooo) {
                struct sim_range *r = &rcv->ooo[i];

                if (r->start <= n.end && r->end >= n.start) {
                        n.start = min64(n.start, r->start);
                        n.end = max64(n.end, r->end);
                        *r = rcv->ooo[--rcv->nooo];
                        continue;
                }
                i++;
        }
        if (rcv->nooo == SIM_TCP_RANGES)
                return false;
        rcv->ooo[rcv->nooo++] = n;
        return true;
}

/* rcv.nxt moved: absorb the ranges it reached. True when any did (the
 * segment filled a hole). */
static bool ooo_absorb(struct sim_tcp_rcv *rcv)
{
        bool any = false;
        unsigned i = 0;

        while (i < rcv->nooo) {
                if (rcv->ooo[i].start > rcv->nxt) {
                        i++;
                        continue;
                }
                rcv->nxt = max64(rcv->nxt, rcv->ooo[i].end);
                rcv->ooo[i] = rcv->ooo[--rcv->nooo];
                any = true;
                i = 0; /* nxt moved: an earlier range may now be reached */
        }
        return any;
}

static void rcv_data(struct sim_tcp *t, uint64_t now, uint64_t off, const uint8_t *p, uint32_t len)
{
        struct sim_tcp_rcv *rcv = &t->rcv;
        uint64_t limit = rcv->read + rcv->cap, end;
        bool hole_filled = false, in_order;

        if (off < rcv->nxt) { /* the part we already have */
                uint64_t skip = min64(rcv->nxt - off, len);

                p += skip;
                len -= (uint32_t)skip;
                off += skip;
                rcv->acks_owed++;
        }
        end = min64(off + len, limit);
        if (end < off + len)
                rcv->acks_owed++; /* beyond the buffer: trimmed */
        if (end <= off)
                return;
        for (uint64_t o = off; o < end;) {
                size_t at = (o - 1) % rcv->cap, k = min64(end - o, rcv->cap - at);

                memcpy(rcv->buf + at, p + (o - off), k);
                o += k;
        }
        rcv->seg_max = (uint32_t)max64(rcv->seg_max, end - off);
        in_order = off == rcv->nxt;
        if (!in_order) {
                /* RFC 5681 §4.2: an out-of-order segment is ACKed at once
                 * (a duplicate ACK, with its SACK block: RFC 2018 §4). */
                if (ooo_add(rcv, off, end))
                        t->stats.ooo_in++;
                rcv->acks_owed++;
                return;
        }
        rcv->nxt = end;
        hole_filled = ooo_absorb(rcv);
        t->stats.bytes_in += rcv->nxt - off;
        rcv->unacked += (uint32_t)(end - off);
        /* RFC 5681 §4.2 / RFC 1122 §4.2.3.2: ACK at once when the segment
         * filled a hole, at least every second full-sized segment, else
         * within the delayed-ACK timeout. */
        if (hole_filled || rcv->unacked >= 2 * min64(max64(rcv->seg_max, 536), t->cfg.mss))
                rcv->acks_owed = rcv->acks_owed ? rcv->acks_owed : 1;
        else if (rcv->delack_at == SIM_NEVER)
                rcv->delack_at = now + t->cfg.delack_ns;
}

/* The peer's FIN, once every byte before it arrived. */
static void rcv_try_fin(struct sim_tcp *t, uint64_t now)
{
        struct sim_tcp_rcv *rcv = &t->rcv;

        if (rcv->fin != rcv->nxt)
                return;
        rcv->nxt++;
        rcv->acks_owed = rcv->acks_owed ? rcv->acks_owed : 1;
        if (t->state == SIM_TCP_ESTABLISHED)
                tcp__set_state(t, SIM_TCP_CLOSE_WAIT, now);
        else if (t->state == SIM_TCP_FIN_WAIT_1)
                tcp__set_state(t, SIM_TCP_CLOSING, now);
        else if (t->state == SIM_TCP_FIN_WAIT_2)
                tcp__set_state(t, SIM_TCP_TIME_WAIT, now);
}

static bool can_receive(enum sim_tcp_state s)
{
        return s == SIM_TCP_ESTABLISHED || s == SIM_TCP_FIN_WAIT_1 || s == SIM_TCP_FIN_WAIT_2;
}

static void synced_input(struct sim_tcp *t, uint64_t now, const struct sim_seg *s)
{
        struct sim_tcp_rcv *rcv = &t->rcv;
        uint64_t off = rcv_off(t, s->seq);
        uint64_t wnd = max64(rcv_space(t), rcv->adv_edge > rcv->nxt ? rcv->adv_edge - rcv->nxt : 0);
        uint32_t slen = s->len + !!(s->flags & SIM_TCP_FIN);
        bool in_win;

        if (s->flags & SIM_TCP_RST) {
                /* In TIME_WAIT the connection is over: a peer that forgot
                 * it first answers a late duplicate with a RST for that
                 * duplicate; Linux (RFC 1337 not applied) just ends
                 * TIME_WAIT. Counted apart: not a broken rule. */
                if (t->state == SIM_TCP_TIME_WAIT) {
                        t->stats.rst_time_wait++;
                        if (off == rcv->nxt)
                                tcp__set_state(t, SIM_TCP_CLOSED, now);
                        return;
                }
                /* RFC 5961 §3.2: exactly RCV.NXT resets; elsewhere in the
                 * window earns a challenge ACK; outside it is dropped. In
                 * SYN_RCVD Linux (a request sock, tcp_check_req) resets on
                 * any RST in the window, and so does this. */
                if (off == rcv->nxt ||
                    (t->state == SIM_TCP_SYN_RCVD && off > rcv->nxt && off < rcv->nxt + wnd)) {
                        t->stats.rst_accepted++;
                        tcp__set_state(t, SIM_TCP_RESET, now);
                } else if (off > rcv->nxt && off < rcv->nxt + wnd) {
                        t->stats.rst_in_window++;
                        t->stats.challenge_acks++;
                        rcv->acks_owed++;
                } else {
                        t->stats.rst_outside++;
                }
                return;
        }
        if (s->flags & SIM_TCP_SYN) {
                if (t->state == SIM_TCP_SYN_RCVD && s->seq == rcv->irs &&
                    !(s->flags & SIM_TCP_ACK)) {
                        t->snd.syn_due = true; /* our SYN-ACK was lost: answer again */
                        return;
                }
                /* RFC 5961 §4.2: any SYN in a synchronized state. */
                t->stats.syn_challenged++;
                t->stats.challenge_acks++;
                rcv->acks_owed++;
                return;
        }
        /* RFC 9293 §3.10.7.4 acceptability; at a zero window a segment at
         * RCV.NXT still has its ACK processed (ibid.: "valid ACKs"). */
        if (slen == 0)
                in_win = wnd == 0 ? off == rcv->nxt : off >= rcv->nxt && off < rcv->nxt + wnd;
        else
                in_win = wnd > 0 && ((off >= rcv->nxt && off < rcv->nxt + wnd) ||
                                     (off + slen > rcv->nxt && off + slen <= rcv->nxt + wnd) ||
                                     (off < rcv->nxt && off + slen > rcv->nxt + wnd));
        if (!in_win && off != rcv->nxt) {
                if (off + slen <= rcv->nxt)
                        t->stats.old_in++;
                if (t->state == SIM_TCP_TIME_WAIT && (s->flags & SIM_TCP_FIN))
                        t->timewait_at = now + t->cfg.timewait_ns; /* RFC 9293: restart */
                rcv->acks_owed++;
                return;
        }
        if (!(s->flags & SIM_TCP_ACK))
                return;
        if (t->state == SIM_TCP_SYN_RCVD) {
                if (s->ack != snd_seq(t, 1)) {
                        send_rst(t, s);
                        return;
                }
                t->snd.una = 1;
                t->snd.wl2 = 1;
                if (t->snd.timing)
                        snd__rtt_sample(t, now - t->snd.rtt_start);
                t->snd.timing = false;
                t->snd.retries = 0;
                t->snd.rto_at = SIM_NEVER;
                tcp__established(t, now);
        }
        if (!snd__on_ack(t, now, s, off) || sim_tcp__done(t))
                return;
        if (s->len) {
                if (can_receive(t->state) && in_win)
                        rcv_data(t, now, off, s->payload, s->len);
                else
                        rcv->acks_owed++;
        }
        /* A bare FIN at RCV.NXT is taken even at a zero window (it needs
         * no buffer; Linux does the same). */
        if ((s->flags & SIM_TCP_FIN) && (in_win || (off == rcv->nxt && !s->len)) &&
            can_receive(t->state)) {
                uint64_t fin = off + s->len;

                if (fin >= rcv->nxt && fin <= rcv->read + rcv->cap && rcv->fin == SIM_NEVER)
                        rcv->fin = fin;
                if (fin < rcv->nxt)
                        rcv->acks_owed++;
        }
        if (can_receive(t->state))
                rcv_try_fin(t, now);
}

void sim_tcp__input(struct sim_tcp *t, uint64_t now, const uint8_t *frame, size_t len)
{
        struct sim_seg s;

        switch (sim_seg__parse(&s, frame, len)) {
        case SIM_SEG_OK: break;
        case SIM_SEG_BAD_CSUM: t->stats.bad_csum++; return;
        default: t->stats.bad_frame++; return;
        }
        if (s.daddr != t->cfg.addr || s.dport != t->cfg.port || s.saddr != t->cfg.peer_addr ||
            (t->cfg.peer_port && s.sport != t->cfg.peer_port)) {
                t->stats.not_mine++;
                return;
        }
        t->stats.segs_in++;
        t->stats.sack_blocks_in += s.nsack;
        switch (t->state) {
        case SIM_TCP_LISTEN: listen_input(t, &s); break;
        case SIM_TCP_SYN_SENT: syn_sent_input(t, now, &s); break;
        case SIM_TCP_CLOSED:
        case SIM_TCP_RESET:
        case SIM_TCP_TIMED_OUT:
                /* No connection any more: RFC 9293 §3.10.7.1, a RST for
                 * anything but a RST (what a kernel does once the socket
                 * is gone). */
                if (!(s.flags & SIM_TCP_RST) &&
                    (t->state != SIM_TCP_CLOSED || t->snd.fin != SIM_NEVER))
                        send_rst(t, &s);
                break;
        default: synced_input(t, now, &s); break;
        }
        assert(!sim_tcp__check(t)); /* the endpoint's invariants, after every segment */
}

void sim_tcp__info(const struct sim_tcp *t, struct sim_tcp_info *i)
{
        memset(i, 0, sizeof(*i));
        i->snd_una = snd_seq(t, t->snd.una);
        i->snd_nxt = snd_seq(t, t->snd.nxt);
        i->rcv_nxt = rcv_seq(t, t->rcv.nxt);
        i->iss = t->cfg.iss;
        i->irs = t->rcv.irs;
        i->snd_wnd = t->snd.wnd;
        i->rcv_wnd = rcv_space(t);
        i->cwnd = t->snd.cwnd;
        i->ssthresh = t->snd.ssthresh;
        i->pipe = snd__pipe(t);
        i->srtt_ns = t->snd.srtt;
        i->rto_ns = t->snd.rto;
        i->mss = t->snd.mss;
        i->sack = t->sack_ok;
        i->wscale = t->ws_ok;
        i->in_recovery = t->snd.in_recovery;
        i->sacked_ranges = t->snd.nsacked;
        i->unread = (uint32_t)(rcv_data_end(t) - min64(t->rcv.read, rcv_data_end(t)));
        i->unsent = (uint32_t)(t->snd.app_end - min64(t->snd.app_end, max64(t->snd.nxt, 1)));
        i->inflight = (uint32_t)(t->snd.nxt - t->snd.una);
}

const char *sim_tcp__check(const struct sim_tcp *t)
{
        const struct sim_tcp_snd *snd = &t->snd;
        const struct sim_tcp_rcv *rcv = &t->rcv;

        if (snd->una > snd->nxt)
                return "SND.UNA beyond SND.NXT";
        if (snd->nxt > max64(snd->app_end, 1) + (snd->fin != SIM_NEVER))
                return "sent beyond what the application wrote";
        if (snd->app_end > snd->una && snd->app_end - max64(snd->una, 1) > snd->cap)
                return "send buffer overfull";
        if (rcv->read > rcv->nxt + 1 || rcv->nxt - min64(rcv->read, rcv->nxt) > rcv->cap + 1)
                return "receive buffer overfull";
        for (unsigned i = 0; i < snd->nsacked; i++)
                if (snd->sacked[i].start < snd->una || snd->sacked[i].end > snd->nxt ||
                    snd->sacked[i].start >= snd->sacked[i].end)
                        return "scoreboard range outside (SND.UNA, SND.NXT]";
        for (unsigned i = 0; i < rcv->nooo; i++)
                if (rcv->ooo[i].start <= rcv->nxt || rcv->ooo[i].end > rcv->read + rcv->cap)
                        return "out-of-order range not above RCV.NXT";
        if (t->state >= SIM_TCP_ESTABLISHED && t->state <= SIM_TCP_LAST_ACK && snd->cwnd < snd->mss)
                return "cwnd below one segment";
        return NULL;
}
