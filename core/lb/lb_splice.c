/*
 * The splice: a segment of one leg rewritten in its own frame for the other
 * leg. Sequence and acknowledgement numbers move by the per-direction
 * offsets, SACK blocks with them, the window is rescaled between the legs'
 * shift counts, addresses, ports and MACs are replaced, and the TCP checksum
 * is patched (RFC 1624) rather than recomputed. The L2/L3 headers are written
 * fresh (so a client over IPv6 may reach a broker over IPv4).
 * The start of the broker's stream (its CONNACK, PINGRESPs) is
 * lb_prefix.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "core/tcp/csum.h"
#include "core/lb/lb_conn.h"

#define TCPOPT_NOP  1
#define TCPOPT_SACK 5

/*
 * The SACK option of a segment crossing to the other leg (RFC 2018 3): both
 * edges of every block moved by -delta into the receiver's sequence space.
 * A block the receiver cannot use is taken out: one whose left edge is not
 * after lo (the ACK the segment carries in the receiver's space: a D-SACK
 * (RFC 2883), a block over bytes the balancer acknowledged itself, which the
 * receiver never had outstanding, or one starting at the ACK, which Linux's
 * tcp_is_sackblock_valid discards) or whose edges are inverted. The kept
 * blocks move to the front of the option, its length shrinks, NOPs fill the
 * rest; with no block left, or when the receiver did not negotiate SACK,
 * the whole option becomes NOPs. Options are few and rare: a plain walk.
 */
static void fix_sack(uint8_t *opt, uint32_t len, uint32_t delta, bool keep, uint32_t lo)
{
        uint32_t i = 0;

        while (i < len) {
                uint8_t kind = opt[i], olen;

                if (kind == 0)
                        return;
                if (kind == TCPOPT_NOP) {
                        i++;
                        continue;
                }
                if (len - i < 2 || (olen = opt[i + 1]) < 2 || olen > len - i)
                        return;
                if (kind == TCPOPT_SACK) {
                        uint32_t out = i + 2;

                        for (uint32_t b = i + 2; keep && b + 8 <= i + olen; b += 8) {
                                uint32_t l = packet__be32(opt + b) - delta;
                                uint32_t r = packet__be32(opt + b + 4) - delta;

                                if (!seq_lt(lo, l) || !seq_lt(l, r))
                                        continue;
                                packet__put32(opt + out, l);
                                packet__put32(opt + out + 4, r);
                                out += 8;
                        }
                        if (out == i + 2)
                                memset(opt + i, TCPOPT_NOP, olen);
                        else {
                                memset(opt + out, TCPOPT_NOP, i + olen - out);
                                opt[i + 1] = (uint8_t)(out - i);
                        }
                }
                i += olen;
        }
}

/* The rewritten frame starts at start and has len bytes: padded to the
 * Ethernet minimum, it becomes p's descriptor. */
static void frame_done(struct lb_worker *lw, struct worker_pkt *p, uint8_t *start, uint32_t len)
{
        if (len < TCP_OUT_MIN_FRAME) {
                /* an IPv4 ACK (54 bytes) is the usual case: one 8-byte store
                 * (a UMEM frame has room past the minimum frame) */
                if (len >= TCP_OUT_MIN_FRAME - 8)
                        memset(start + len, 0, 8);
                else
                        memset(start + len, 0, TCP_OUT_MIN_FRAME - len);
                len = TCP_OUT_MIN_FRAME;
        }
        p->data = start;
        p->d.addr = (uint64_t)(start - lw->w->umem_base);
        p->d.len = len;
}

/*
 * The fast path of rewrite for a leg whose header was built (lh->len): the
 * L2/L3 header copied from the leg's template, only the lengths, sequence,
 * acknowledgement and window patched, and the TCP checksum updated by the
 * template's constant address and port delta (RFC 1624). For segments
 * without TCP options (SACK blocks take the general path) whose payload is
 * unchanged.
 */
__attribute__((always_inline)) static inline void
rewrite_fast(struct lb_worker *lw, struct worker_pkt *p, const struct leg_hdr *lh, uint32_t seq,
             uint32_t ack, uint16_t window)
{
        uint8_t *chunk = lw->w->umem_base + (p->d.addr & lw->w->frame_mask);
        uint8_t *tcp = p->data + p->m.l4, *start;
        uint32_t tcp_len = (uint32_t)(p->m.end - p->m.l4), old[2], now[2];
        uint16_t check, old_w, now_w;
        uint64_t sum;

        memcpy(&check, tcp + 16, 2);
        memcpy(old, tcp + 4, 8);
        memcpy(&old_w, tcp + 14, 2);
        memcpy(tcp, lh->ports, 4);
        packet__put32(tcp + 4, seq);
        packet__put32(tcp + 8, ack);
        packet__put16(tcp + 14, window);
        memcpy(now, tcp + 4, 8);
        memcpy(&now_w, tcp + 14, 2);
        /* 2^16 = 1 modulo 0xffff: a 32-bit word sums as its two halves */
        sum = (uint16_t)~check + lh->tcp_delta + (uint32_t)~old[0] + (uint32_t)~old[1] +
              (uint16_t)~old_w + now[0] + now[1] + now_w;
        check = csum__fold(sum);
        memcpy(tcp + 16, &check, 2);

        start = tcp - lh->len;
        if (start < chunk) {
                memmove(chunk + lh->len, tcp, tcp_len);
                tcp = chunk + lh->len;
                start = chunk;
        }
        if (lh->len == 34) /* Ethernet + IPv4, the common case: a fixed-size copy */
                memcpy(start, lh->bytes, 34);
        else
                memcpy(start, lh->bytes, lh->len);
        if (lh->family == 4) {
                uint8_t *ip = tcp - 20;

                packet__put16(ip + 2, (uint16_t)(20 + tcp_len));
                check = csum__fold(lh->ip_sum + csum__partial(ip + 2, 2, 0));
                memcpy(ip + 10, &check, 2);
        } else {
                packet__put16(tcp - 40 + 4, (uint16_t)tcp_len);
        }
        frame_done(lw, p, start, lh->len + tcp_len);
}

/*
 * After the general path rewrote a segment of a leg whose template is not
 * built: keeps its L2/L3 header (lengths and IPv4 checksum zeroed) and the
 * checksum delta from the old addresses and ports (old: the segment as it
 * came, 2 * olen address bytes then 4 port bytes) to the new ones.
 */
static void leg_hdr__build(struct leg_hdr *lh, const struct tcp_out_hdr *h, const uint8_t *start,
                           uint32_t hl, const uint8_t *old_addrs, uint32_t olen,
                           const uint8_t *old_ports)
{
        uint32_t nlen = h->family == 4 ? 4 : 16;
        uint8_t *ip = lh->bytes + hl - (h->family == 4 ? 20 : 40), ports[4];
        uint64_t from, to;

        if (hl > sizeof(lh->bytes))
                return;
        memcpy(lh->bytes, start, hl);
        if (h->family == 4) {
                memset(ip + 2, 0, 2);
                memset(ip + 10, 0, 2);
                lh->ip_sum = csum__partial(ip, 20, 0);
        } else {
                memset(ip + 4, 0, 2);
        }
        packet__put16(ports, h->sport);
        packet__put16(ports + 2, h->dport);
        memcpy(lh->ports, ports, 4);
        from = csum__partial(old_addrs, 2 * olen, csum__partial(old_ports, 4, 0));
        to = csum__partial(h->saddr, nlen, csum__partial(h->daddr, nlen, 0));
        to = csum__partial(ports, 4, to);
        lh->tcp_delta = (uint16_t)~csum__fold16(from) + to;
        lh->family = h->family;
        lh->len = (uint8_t)hl;
}

/*
 * Rewrites p for the leg h describes (identity, seq, ack, window as they go
 * on the wire). sack_delta: subtracted from SACK blocks; full: recompute the
 * TCP checksum instead of patching it (the payload was changed).
 */
static void rewrite(struct lb_worker *lw, struct worker_pkt *p, const struct tcp_out_hdr *h,
                    uint32_t sack_delta, bool sack_keep, bool full, struct leg_hdr *lh)
{
        uint8_t *chunk = lw->w->umem_base + (p->d.addr & lw->w->frame_mask);
        const uint8_t *ip = p->data + p->m.l3;
        uint8_t *tcp = p->data + p->m.l4, *start;
        uint32_t tcp_len = (uint32_t)(p->m.end - p->m.l4), doff = (uint32_t)(tcp[12] >> 4) * 4;
        uint32_t olen = p->m.family == 4 ? 4 : 16, nlen = h->family == 4 ? 4 : 16;
        uint32_t hl = 14u + 4u * h->n_vlans + (h->family == 4 ? 20u : 40u);
        uint64_t sum = 0;
        uint16_t check;
        uint8_t old_addrs[32], old_ports[4];

        if (!lh->len) { /* the leg's template is made from this segment */
                memcpy(old_addrs, ip + (p->m.family == 4 ? 12 : 8), 2 * olen);
                memcpy(old_ports, tcp, 4);
        }
        if (!full) {
                const uint8_t *os = ip + (p->m.family == 4 ? 12 : 8);

                memcpy(&check, tcp + 16, 2);
                sum = (uint16_t)~check;
                sum += (uint16_t)~csum__fold16(csum__partial(os, 2 * olen, 0)); /* saddr, daddr */
                sum += (uint16_t)~csum__fold16(csum__partial(tcp, 16, 0));
                if (doff > 20)
                        sum += (uint16_t)~csum__fold16(csum__partial(tcp + 20, doff - 20, 0));
        }
        packet__put16(tcp, h->sport);
        packet__put16(tcp + 2, h->dport);
        packet__put32(tcp + 4, h->seq);
        packet__put32(tcp + 8, h->ack);
        packet__put16(tcp + 14, h->window);
        if (doff > 20)
                fix_sack(tcp + 20, doff - 20, sack_delta, sack_keep, h->ack);

        /* the new headers end where the TCP header starts (or the segment
         * moves up when the frame has no room in front: no headroom) */
        start = tcp - hl;
        if (start < chunk) {
                memmove(chunk + hl, tcp, tcp_len);
                tcp = chunk + hl;
                start = chunk;
        }
        memcpy(start, h->dst_mac, 6);
        memcpy(start + 6, h->src_mac, 6);
        uint8_t *q = start + 12;

        for (unsigned i = 0; i < h->n_vlans; i++, q += 4) {
                packet__put16(q, h->vlan_tpid[i]);
                packet__put16(q + 2, h->vlan_tci[i]);
        }
        packet__put16(q, h->family == 4 ? ETH_P_IPV4_ : ETH_P_IPV6_);
        q += 2;
        if (h->family == 4) {
                memset(q, 0, 20);
                q[0] = 0x45;
                packet__put16(q + 2, (uint16_t)(20 + tcp_len));
                q[6] = 0x40; /* DF */
                q[8] = TCP_OUT_TTL_DEFAULT;
                q[9] = IPPROTO_TCP_;
                memcpy(q + 12, h->saddr, 4);
                memcpy(q + 16, h->daddr, 4);
                check = csum__fold(csum__partial(q, 20, 0));
                memcpy(q + 10, &check, 2);
        } else {
                memset(q, 0, 8);
                q[0] = 0x60;
                packet__put16(q + 4, (uint16_t)tcp_len);
                q[6] = IPPROTO_TCP_;
                q[7] = TCP_OUT_TTL_DEFAULT;
                memcpy(q + 8, h->saddr, 16);
                memcpy(q + 24, h->daddr, 16);
        }
        if (full) {
                memset(tcp + 16, 0, 2);
                sum = h->family == 4
                          ? csum__pseudo4(h->saddr, h->daddr, IPPROTO_TCP_, (uint16_t)tcp_len)
                          : csum__pseudo6(h->saddr, h->daddr, IPPROTO_TCP_, tcp_len);
                check = csum__fold(csum__partial(tcp, tcp_len, sum));
        } else {
                sum += csum__partial(h->saddr, nlen, csum__partial(h->daddr, nlen, 0));
                sum += csum__partial(tcp, 16, 0);
                if (doff > 20)
                        sum += csum__partial(tcp + 20, doff - 20, 0);
                check = csum__fold(sum);
        }
        memcpy(tcp + 16, &check, 2);
        if (!lh->len)
                leg_hdr__build(lh, h, start, hl, old_addrs, olen, old_ports);
        frame_done(lw, p, start, hl + tcp_len);
}

/* Whether a segment can take rewrite_fast on leg lh: the template is built,
 * the payload is unchanged and the TCP header has no option. */
static bool fast_ok(const struct worker_pkt *p, const struct leg_hdr *lh, bool full)
{
        return lh->len && !full && p->data[p->m.l4 + 12] >> 4 == 5;
}

static void arm_linger(struct lb_worker *lw, struct conn *c)
{
        if (conn__fins_acked(c))
                timer__arm(&lw->wheel, &c->f.timer[CONN_T_LIFE], lw->now_ns + CONN_LINGER_NS,
                           CONN_T_LIFE);
}

/* After a segment that may have ACKed the last FIN: the linger once both
 * are ACKed. Inline the test every segment pays; the rest is rare. */
static inline void maybe_linger(struct lb_worker *lw, struct conn *c)
{
        if (c->fin_c2s && c->fin_s2c)
                arm_linger(lw, c);
}

/*
 * RFC 5961 3.2 for an RST crossing the splice: the balancer checks it as the
 * receiver would, for it frees state the endpoints keep. rcv_nxt is what
 * the receiving leg has acknowledged (its RCV.NXT as last seen), snd_nxt
 * the sender's next byte as the balancer saw it (valid or not), wnd the
 * receiver's window: exactly one of the two tears down, in the window gets
 * a challenge ACK (the sender, if it really reset, answers it with an exact
 * RST), anything else is dropped. A blind RST frees nothing.
 */
enum rst_check { RST_EXACT, RST_CHALLENGE, RST_IGNORE };

static enum rst_check rst_check(uint32_t seq, uint32_t rcv_nxt, uint32_t snd_nxt, bool snd_ok,
                                uint32_t wnd)
{
        if (seq == rcv_nxt || (snd_ok && seq == snd_nxt))
                return RST_EXACT;
        if (seq_lt(rcv_nxt, seq) && seq_lt(seq - rcv_nxt, wnd > 0 ? wnd : 1))
                return RST_CHALLENGE;
        return RST_IGNORE;
}

/* Counts a challenge ACK or an ignored RST; true when it is exact. */
static bool rst_accept(struct lb_worker *lw, enum rst_check r)
{
        if (r == RST_CHALLENGE)
                STAT(lw, rst_challenged);
        else if (r == RST_IGNORE)
                STAT(lw, rst_ignored);
        return r == RST_EXACT;
}

/*
 * A segment no endpoint could have sent on this connection: its sequence
 * number more than 2^30 (the largest window, RFC 7323) from what the
 * receiver ACKed, or an ACK of bytes never sent (past snd_nxt) or more than
 * 2^30 behind. The receiver would drop it; the balancer must not let it
 * move its own state (a sequence number half the space away once made the
 * replay read 2 GB past its buffer: found by fuzz.lb). Dropped, counted.
 */
#define SEG_SANE_SPAN (1u << 30)

static bool seg_sane(const struct seg *s, uint32_t rcv_acked, uint32_t snd_nxt)
{
        if (s->seq - rcv_acked + SEG_SANE_SPAN > 2 * SEG_SANE_SPAN)
                return false;
        return !(s->flags & TCP_OUT_ACK) || snd_nxt - s->ack <= SEG_SANE_SPAN;
}

enum worker_verdict lb__splice_c2s(struct lb_worker *lw, struct conn *c, struct worker_pkt *p)
{
        uint32_t own_end = conn__own_end(c), seq_b, ack_b, edge_b;
        struct tcp_out_hdr h;
        uint16_t win;
        bool fin, rst;
        struct seg s;

        seg__read(p, &s);
        rst = s.flags & TCP_OUT_RST;
        fin = s.flags & TCP_OUT_FIN;
        if ((s.flags & TCP_OUT_SYN) || (!rst && !(s.flags & TCP_OUT_ACK)))
                return WORKER_DROP;
        if (!rst && !seg_sane(&s, c->cli.t.rcv_acked, c->cli.t.snd_nxt)) {
                STAT(lw, insane_segments);
                return WORKER_DROP;
        }
        if (rst) {
                /* the broker's RCV.NXT in client space is the highest ACK
                 * forwarded to the client; the client's SND.NXT is cli.t.rcv_nxt
                 * while its stream had no hole */
                enum rst_check r =
                    rst_check(s.seq, c->cli.t.rcv_acked, c->cli.t.rcv_nxt, !c->c2s_gap,
                              seq_lt(c->cli.t.rcv_acked, c->cli.rcv_edge)
                                  ? c->cli.rcv_edge - c->cli.t.rcv_acked
                                  : 0);

                if (!rst_accept(lw, r)) {
                        if (r == RST_CHALLENGE)
                                conn__send_client(lw, c, c->cli.t.snd_nxt, false);
                        return WORKER_DROP;
                }
        }
        c->last_ns = lw->now_ns;
        if (s.len && !rst) {
                if (seq_le(s.seq, c->cli.t.rcv_nxt) && seq_lt(c->cli.t.rcv_nxt, s.seq + s.len)) {
                        uint32_t off = c->cli.t.rcv_nxt - s.seq, n = s.len - off;

                        c->cli.t.rcv_nxt += n;
                        c->bytes_from_client += n;
                        if (!conn__feed(lw, c, s.payload + off, n))
                                return WORKER_DROP; /* the misroute policy closed it */
                } else if (seq_lt(c->cli.t.rcv_nxt, s.seq)) {
                        if (!c->c2s_gap) {
                                c->c2s_gap = c->parse_dead = true;
                                STAT(lw, parse_gaps);
                        }
                        c->cli.t.rcv_nxt = s.seq + s.len;
                }
        }
        if (fin) {
                c->fin_c2s = true;
                if (seq_le(s.seq + s.len, c->cli.t.rcv_nxt))
                        c->cli.t.rcv_nxt = seq_max(c->cli.t.rcv_nxt, s.seq + s.len + 1);
        }
        if (s.flags & TCP_OUT_ACK) {
                c->cli.t.snd_wnd = (uint32_t)s.win << c->cli.t.snd_wscale;
                /* our own bytes ACKed: some, or all of them by an ACK of
                 * the broker's bytes after them */
                if (seq_in(s.ack, c->cli.t.snd_una, own_end))
                        c->cli.t.snd_una = s.ack;
                else if (seq_in(s.ack, own_end, c->cli.t.snd_nxt))
                        c->cli.t.snd_una = own_end;
        }
        seq_b = s.seq + c->off_c2s;
        /* an RST goes at what we sent the broker: its RCV.NXT once that
         * arrives (client bytes forwarded after the one the client's RST
         * was exact for would leave the translated one behind it) */
        if (rst)
                seq_b = seq_max(seq_b, c->brk.t.snd_nxt);
        if (fin)
                c->fin_c2s_end = seq_b + s.len + 1;
        ack_b = c->brk.t.rcv_acked;
        if (conn__s2c_mapped(c)) {
                uint32_t a = s.ack - c->off_s2c;

                if (seq_lt(ack_b, a))
                        ack_b = a;
        }
        c->brk.t.rcv_acked = ack_b;
        edge_b = s.ack + c->cli.t.snd_wnd - c->off_s2c;
        c->brk.t.snd_nxt = seq_max(c->brk.t.snd_nxt, seq_b + s.len + (fin ? 1 : 0));
        if (!conn__s2c_mapped(c)) /* no mapping yet: the client's window as is */
                win = window_field(c->cli.t.snd_wnd, c->brk.t.rcv_wscale);
        else
                win = window_field(seq_lt(ack_b, edge_b) ? edge_b - ack_b : 0, c->brk.t.rcv_wscale);
        if (fast_ok(p, &c->brk.t.hdr, false)) {
                rewrite_fast(lw, p, &c->brk.t.hdr, seq_b, ack_b, win);
        } else {
                conn__broker_hdr(c, &h, seq_b);
                h.ack = ack_b;
                h.window = win;
                rewrite(lw, p, &h, c->off_s2c, c->brk.t.sack_ok && conn__s2c_mapped(c), false,
                        &c->brk.t.hdr);
        }
        p->out_port = c->brk.t.port;
        if (rst)
                conn__end(lw, c, LB_VERDICT_SPLICED);
        else
                maybe_linger(lw, c);
        return WORKER_TX;
}

/* Removes the first off bytes of the payload (consumed by us). */
static void trim_front(struct worker_pkt *p, struct seg *s, uint32_t off)
{
        uint8_t *ip = p->data + p->m.l3;

        memmove(s->payload, s->payload + off, s->len - off);
        s->seq += off;
        s->len -= off;
        p->m.end = (uint16_t)(p->m.end - off);
        if (p->m.family == 4)
                packet__put16(ip + 2, (uint16_t)(p->m.end - p->m.l3));
        else
                packet__put16(ip + 4, (uint16_t)(p->m.end - p->m.l3 - 40));
}

/* The broker's ACK of our stream: the replay freed once all of it is
 * ACKed, pushed on as the window opens, sent again after three duplicate
 * ACKs (RFC 5681 3.2; the broker's RTO would be slower). */
static void broker_acked(struct lb_worker *lw, struct conn *c, const struct seg *s)
{
        if (seq_in(s->ack, c->brk.t.snd_una, c->brk.t.snd_nxt)) {
                c->brk.t.snd_una = s->ack;
                c->rto_tries = 0;
                c->brk.dupacks = 0;
        } else if (c->buf && s->ack == c->brk.t.snd_una && !s->len && !(s->flags & TCP_OUT_FIN) &&
                   seq_lt(c->brk.t.snd_una, c->brk.replay_nxt) && ++c->brk.dupacks == 3) {
                conn__replay_again(lw, c);
        }
        c->brk.t.snd_wnd = (uint32_t)s->win << c->brk.t.snd_wscale;
        if (c->buf && seq_le(c->brk.replay_end + (c->brk.replay_fin ? 1 : 0), c->brk.t.snd_una)) {
                conn__buf_free(lw, c); /* replayed and ACKed: the broker has it all */
                budget__release_reserve(lw, c);
                budget__charge(lw, c);
        } else if (c->buf) {
                conn__replay_push(lw, c);
        }
}

enum worker_verdict lb__splice_s2c(struct lb_worker *lw, struct conn *c, struct worker_pkt *p)
{
        uint32_t off = 0, seq_c, ack_c, edge_c, old_ack = c->cli.t.rcv_acked,
                 old_edge = c->cli.rcv_edge;
        struct tcp_out_hdr h;
        bool fin, rst;
        struct seg s;

        seg__read(p, &s);
        rst = s.flags & TCP_OUT_RST;
        fin = s.flags & TCP_OUT_FIN;
        if (s.flags & TCP_OUT_SYN) { /* its SYN-ACK again: our ACK was lost */
                conn__send_broker_ack(lw, c);
                return WORKER_DROP;
        }
        if (!rst && !(s.flags & TCP_OUT_ACK))
                return WORKER_DROP;
        if (!rst && !seg_sane(&s, c->brk.t.rcv_acked, c->brk.t.snd_nxt)) {
                STAT(lw, insane_segments);
                return WORKER_DROP;
        }
        if (rst) {
                /* the client's RCV.NXT in broker space is brk.t.rcv_acked; the
                 * broker's SND.NXT, what we forwarded of its stream */
                enum rst_check r =
                    rst_check(s.seq, c->brk.t.rcv_acked, c->cli.t.snd_nxt - c->off_s2c,
                              conn__s2c_mapped(c), c->cli.t.snd_wnd);

                if (!rst_accept(lw, r)) {
                        if (r == RST_CHALLENGE)
                                conn__send_broker_ack(lw, c);
                        return WORKER_DROP;
                }
                if (conn__broker_retry(lw, c))
                        return WORKER_DROP; /* a new leg: the client need not know */
        } else {
                if (s.len || fin) /* it answered: its slot for the next leg */
                        conn__setup_done(lw, c);
                broker_acked(lw, c, &s);
                maybe_linger(lw, c); /* the ACK of the client's FIN may end it */
        }
        c->last_ns = lw->now_ns;
        if (!c->pre.done && !rst && (s.len || fin) && !conn__prefix_segment(lw, c, &s, &off))
                return WORKER_DROP; /* all of it was the prefix's, or it ended the connection */
        if (off)
                trim_front(p, &s, off < s.len ? off : s.len);
        /* before the mapping is known only pure ACKs get here: they go at
         * the client's next sequence number */
        seq_c = conn__s2c_mapped(c) ? s.seq + c->off_s2c : c->cli.t.snd_nxt;
        if (rst) /* at what we sent the client, as toward the broker */
                seq_c = seq_max(seq_c, c->cli.t.snd_nxt);
        ack_c = c->cli.t.rcv_acked;
        if (s.flags & TCP_OUT_ACK) {
                uint32_t a = s.ack - c->off_c2s;

                if (seq_lt(ack_c, a))
                        ack_c = a;
        }
        c->cli.t.rcv_acked = ack_c;
        edge_c = s.ack + c->brk.t.snd_wnd - c->off_c2s;
        if (seq_lt(c->cli.rcv_edge, edge_c) || c->buf == NULL)
                c->cli.rcv_edge = edge_c;
        /* A pure ACK below what we ACKed the client ourselves ACKs replayed
         * bytes only: the client had them ACKed long ago and learns nothing
         * from it (a window that grew is still news). Any other pure ACK
         * goes through, duplicates above all: they are the client's fast
         * retransmit, and an ACK whose original was lost is repeated only
         * by them (DESIGN.md "The splice must be invisible to TCP"). */
        if (!s.len && !fin && !rst && seq_lt(s.ack - c->off_c2s, old_ack) &&
            c->cli.rcv_edge == old_edge)
                return WORKER_DROP;
        if (fin) {
                c->fin_s2c = true;
                c->fin_s2c_end = s.seq + s.len + 1;
        }
        c->cli.t.snd_nxt = seq_max(c->cli.t.snd_nxt, seq_c + s.len + (fin ? 1 : 0));
        if (fast_ok(p, &c->cli.t.hdr, off != 0)) {
                rewrite_fast(lw, p, &c->cli.t.hdr, seq_c, ack_c, conn__client_window(c));
        } else {
                conn__client_hdr(c, &h, seq_c);
                h.ack = ack_c;
                h.window = conn__client_window(c);
                rewrite(lw, p, &h, c->off_c2s, c->cli.t.sack_ok, off != 0, &c->cli.t.hdr);
        }
        p->out_port = c->cli.t.port;
        /* (the linger: this segment's ACK was looked at above, and its own
         * FIN cannot be ACKed yet) */
        if (rst)
                conn__end(lw, c, c->refusal ? LB_VERDICT_REFUSED : LB_VERDICT_SPLICED);
        return WORKER_TX;
}
