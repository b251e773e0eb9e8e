/*
 * The client leg until it is spliced: the SYN answered with a cookie, the
 * connection created at the final ACK, the client's bytes ACKed and buffered
 * (the window is the room left), our own bytes (CONNACK, PINGRESP) sent and
 * retransmitted, FIN/RST before binding.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/lb/lb_conn.h"

static uint32_t now_s(const struct lb_worker *lw)
{
        return (uint32_t)(lw->now_ns / 1000000000ull);
}

/* The header of an answer to a received frame, built in its place: every
 * layer's source and destination swapped, the VLAN tags kept. */
static void answer_hdr(const struct worker_pkt *p, const struct flow_key *k, struct tcp_out_hdr *h)
{
        memset(h, 0, sizeof(*h));
        h->family = k->family;
        h->n_vlans = lb__read_vlans(p, h->vlan_tpid, h->vlan_tci);
        memcpy(h->src_mac, p->data, 6);
        memcpy(h->dst_mac, p->data + 6, 6);
        memcpy(h->saddr, k->daddr, 16);
        memcpy(h->daddr, k->saddr, 16);
        h->sport = k->dport;
        h->dport = k->sport;
}

/* An RST answering a segment to no connection (RFC 9293 3.10.7.1), in place. */
enum worker_verdict lb__reset_stray(struct lb_worker *lw, struct worker_pkt *p,
                                    const struct flow_key *k, const struct seg *s)
{
        struct tcp_out_hdr h;
        int n;

        bool ack = s->flags & TCP_OUT_ACK;

        if (s->flags & TCP_OUT_RST)
                return WORKER_DROP;
        answer_hdr(p, k, &h);
        /* with an ACK: <SEQ=SEG.ACK><CTL=RST> (a SYN-ACK to a broker leg we
         * no longer hold included: seq 0 would be outside its window);
         * without one (a SYN): <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
        h.seq = ack ? s->ack : 0;
        h.ack = s->seq + s->len + ((s->flags & TCP_OUT_SYN) ? 1 : 0) +
                ((s->flags & TCP_OUT_FIN) ? 1 : 0);
        n = tcp_out__rst(p->data, lb__frame_room(lw, p), &h, !ack);
        if (n < 0)
                return WORKER_DROP;
        p->d.len = (uint32_t)n;
        p->out_port = p->in_port;
        STAT(lw, rst_sent);
        return WORKER_TX;
}

enum worker_verdict lb__client_syn(struct lb_worker *lw, struct worker_pkt *p,
                                   const struct flow_key *k)
{
        const struct plan *plan = lb__plan(lw->lb);
        struct syncookie_opts co;
        struct tcp_syn_opts o;
        struct tcp_out_hdr h;
        struct seg s;
        int n;

        seg__read(p, &s);
        if (__atomic_load_n(&lw->lb->draining, __ATOMIC_RELAXED)) {
                STAT(lw, drain_refused); /* stopping: the client retries elsewhere */
                return lb__reset_stray(lw, p, k, &s);
        }
        if (tcp_opts__parse(s.tcp, (size_t)(p->m.end - p->m.l4), &o))
                return WORKER_DROP;
        co.mss =
            o.mss_ok ? o.mss : (k->family == 4 ? SYNCOOKIE_MSS_DEFAULT4 : SYNCOOKIE_MSS_DEFAULT6);
        co.wscale = o.wscale;
        co.sack_ok = o.sack_ok;
        answer_hdr(p, k, &h);
        h.seq = syncookie__make(&lw->secret, k, s.seq, now_s(lw), &co);
        h.ack = s.seq + 1;
        h.window = (uint16_t)(plan->buffer_bytes > 65535 ? 65535 : plan->buffer_bytes);
        /* our MSS: what the client said, rounded down to the cookie's table
         * (the frame fits either way), so both directions use the same size */
        n = tcp_out__synack(p->data, lb__frame_room(lw, p), &h,
                            &(struct tcp_out_syn_opts){
                                .mss = syncookie_mss_table[syncookie__mss_index(co.mss)],
                                .wscale = o.wscale == TCP_WSCALE_NONE ? TCP_WSCALE_NONE : LB_WSCALE,
                                .sack_ok = o.sack_ok,
                            });
        if (n < 0)
                return WORKER_DROP;
        p->d.len = (uint32_t)n;
        p->out_port = p->in_port;
        STAT(lw, syncookies_sent);
        return WORKER_TX;
}

static struct conn *conn_new(struct lb_worker *lw, const struct worker_pkt *p,
                             const struct flow_key *k, const struct plan_listener *l,
                             const struct seg *s, const struct syncookie_opts *o, uint32_t bucket)
{
        const struct plan *plan = lb__plan(lw->lb);
        struct conn *c = (struct conn *)flow__alloc(lw->flows);

        if (!c) {
                budget__unadmit(lw, bucket);
                STAT(lw, conn_table_full);
                return NULL;
        }
        c->proto = l->proto;
        c->listener_pool = l->pool;
        if (!conn__binder(c)->start(c, plan)) {
                flow__free(lw->flows, &c->f);
                budget__unadmit(lw, bucket);
                STAT(lw, no_memory); /* dropped: the client sends its ACK again */
                return NULL;
        }
        if (flow_table__insert(lw->flows, k, &c->f, FLOW_LEG_CLIENT)) {
                conn__binder(c)->fini(c);
                flow__free(lw->flows, &c->f);
                budget__unadmit(lw, bucket);
                STAT(lw, conn_table_full);
                return NULL;
        }
        budget__attach(lw, c, bucket);
        c->f.state = CONN_OPEN;
        c->plan = plan__get(plan);
        memcpy(c->cli.t.peer_mac, p->data + 6, 6);
        memcpy(c->cli.t.own_mac, p->data, 6);
        c->cli.t.port = p->in_port;
        c->cli.nvlans = lb__read_vlans(p, c->cli.vlan_tpid, c->cli.vlan_tci);
        c->cli.t.irs = s->seq - 1;
        c->cli.t.iss = s->ack - 1;
        c->cli.t.rcv_nxt = c->cli.t.rcv_acked = s->seq;
        c->cli.t.snd_nxt = c->cli.t.snd_una = s->ack;
        /* what our SYN-ACK's window allowed (never scaled); it moves on as
         * the buffer and the budget allow (client_edge) */
        c->cli.rcv_edge = s->seq + (plan->buffer_bytes < 65535 ? plan->buffer_bytes : 65535);
        c->cli.t.mss = o->mss;
        c->cli.t.snd_wscale = o->wscale == TCP_WSCALE_NONE ? 0 : o->wscale;
        c->cli.t.rcv_wscale = o->wscale == TCP_WSCALE_NONE ? 0 : LB_WSCALE;
        c->cli.t.sack_ok = o->sack_ok;
        c->cli.t.snd_wnd = (uint32_t)s->win << c->cli.t.snd_wscale;
        c->pool = c->broker = c->will_pool = -1;
        c->last_ns = lw->now_ns;
        timer__arm(&lw->wheel, &c->f.timer[CONN_T_LIFE], lw->now_ns + plan->bind_timeout_ns,
                   CONN_T_LIFE);
        STAT(lw, conn_active);
        STAT(lw, conn_total);
        return c;
}

enum worker_verdict lb__client_ack_new(struct lb_worker *lw, struct worker_pkt *p,
                                       const struct flow_key *k, const struct plan_listener *l)
{
        struct syncookie_opts o;
        struct conn *c;
        uint32_t bucket;
        struct seg s;
        int rc;

        seg__read(p, &s);
        if (s.flags & (TCP_OUT_RST | TCP_OUT_SYN))
                return WORKER_DROP;
        rc = syncookie__check(&lw->secret, k, s.ack - 1, s.seq - 1, now_s(lw), &o);
        if (rc) {
                STAT(lw, syncookies_rejected);
                /* No RST. A cookie is checked against the client's ISN,
                 * which only the segments right after the handshake carry
                 * (seq ISN + 1): when those are lost or overtaken, a later
                 * segment of a good client comes first (a data segment, or
                 * a pure ACK at its new SND.NXT) and cannot be checked, and
                 * an RST would be exact and kill it (the simulation found
                 * it in one seed in ten on an impaired wire). Dropped, it
                 * comes again after the first one, which the client
                 * retransmits and which makes the connection. The price: a
                 * client of a connection the balancer no longer knows (it
                 * crashed; a clean stop resets every client) hears nothing
                 * and finds out by its MQTT keep alive. */
                return WORKER_DROP;
        }
        STAT(lw, syncookies_validated);
        rc = budget__admit(lw, lb__plan(lw->lb), k, &bucket);
        if (rc) {
                /* an RST: the client hears at once and may come back */
                if (rc == -ENOBUFS)
                        STAT(lw, budget_refused);
                else
                        STAT(lw, per_source_refused);
                return lb__reset_stray(lw, p, k, &s);
        }
        c = conn_new(lw, p, k, l, &s, &o, bucket);
        if (!c)
                return WORKER_DROP;
        return conn__segment(lw, c, FLOW_LEG_CLIENT, p);
}

bool conn__own(struct conn *c, const uint8_t *b, uint8_t n)
{
        if (c->own_len + n > CONN_OWN_MAX)
                return false;
        memcpy(c->own + c->own_len, b, n);
        c->own_len = (uint8_t)(c->own_len + n);
        return true;
}

/* The ACK of what we took, with our own bytes not sent yet, built in the
 * received frame. */
static enum worker_verdict reply(struct lb_worker *lw, struct conn *c, struct worker_pkt *p,
                                 bool fin)
{
        uint32_t own_end = conn__own_end(c), n;
        struct tcp_out_hdr h;
        int len;

        conn__client_hdr(c, &h, c->cli.t.snd_nxt);
        n = seq_lt(c->cli.t.snd_nxt, own_end) ? own_end - c->cli.t.snd_nxt : 0;
        len = tcp_out__data(p->data, lb__frame_room(lw, p), &h, c->own + (c->own_len - n), n, fin);
        if (len < 0)
                return WORKER_DROP;
        c->cli.t.snd_nxt = seq_max(c->cli.t.snd_nxt, own_end + (fin ? 1 : 0));
        if (n || fin)
                conn__arm_rto(lw, c);
        p->d.len = (uint32_t)len;
        p->out_port = c->cli.t.port;
        return WORKER_TX;
}

/* Moves the right edge of the window we advertise on to what the buffer
 * and the budget allow now. It never moves back (RFC 9293 3.8.6: a window
 * is not shrunk): bytes past what fits after all are dropped, counted in
 * window_full, and come again. */
static void client_edge(struct lb_worker *lw, const struct plan *plan, struct conn *c)
{
        bool slowed;
        uint32_t edge = c->cli.t.rcv_nxt + budget__room(lw, plan, c, &slowed);

        if (seq_lt(c->cli.rcv_edge, edge))
                c->cli.rcv_edge = edge;
        if (slowed && !c->slowed) {
                c->slowed = true;
                STAT(lw, budget_slowed);
        }
}

/* Appends b[0..n) to the buffer, whose capacity may grow up to max. */
static bool buf_append(struct lb_worker *lw, struct conn *c, const uint8_t *b, uint32_t n,
                       uint32_t max)
{
        if (c->buf_len + n > c->buf_cap) {
                uint32_t cap = c->buf_cap ? c->buf_cap : CONN_BUF_RESERVE;
                uint8_t *nb;

                while (cap < c->buf_len + n)
                        cap *= 2;
                if (cap > max)
                        cap = max;
                /* the first buffer of the usual size: from the worker's cache */
                nb = !c->buf && cap == CONN_BUF_RESERVE ? conn__buf_new(lw) : realloc(c->buf, cap);
                if (!nb)
                        return false;
                c->buf = nb;
                c->buf_cap = cap;
        }
        memcpy(c->buf + c->buf_len, b, n);
        c->buf_len += n;
        return true;
}

/* An RST from the client before splicing (RFC 5961 3.2): only one at the
 * expected sequence number counts; one in the window draws a challenge ACK. */
static enum worker_verdict client_rst(struct lb_worker *lw, struct conn *c, struct worker_pkt *p,
                                      const struct seg *s)
{
        if (s->seq == c->cli.t.rcv_nxt) {
                conn__rst_broker(lw, c);
                conn__end(lw, c, LB_VERDICT_CLOSED_BY_CLIENT);
                return WORKER_DROP;
        }
        if (seq_lt(c->cli.t.rcv_nxt, s->seq) && seq_lt(s->seq, c->cli.rcv_edge)) {
                STAT(lw, rst_challenged);
                return reply(lw, c, p, false);
        }
        STAT(lw, rst_ignored);
        return WORKER_DROP;
}

/* CLOSING: the client's FIN (in order) is ACKed, then we are done once ours
 * is ACKed too. */
static enum worker_verdict closing_segment(struct lb_worker *lw, struct conn *c,
                                           struct worker_pkt *p, const struct seg *s)
{
        uint32_t own_end = conn__own_fin_end(c);

        if ((s->flags & TCP_OUT_FIN) && s->seq + s->len == c->cli.t.rcv_nxt) {
                enum worker_verdict v;

                c->cli.t.rcv_nxt++;
                c->cli.t.rcv_acked = c->cli.t.rcv_nxt;
                c->cli.fin_rcvd = true;
                v = reply(lw, c, p, false);
                if (c->cli.t.snd_una == own_end)
                        conn__end(lw, c, c->verdict);
                return v;
        }
        if (c->cli.t.snd_una == own_end && c->cli.fin_rcvd)
                conn__end(lw, c, c->verdict);
        return WORKER_DROP;
}

/* The segment's new in-order bytes (and FIN) into the buffer, as far as its
 * room and the budget allow, then to the binder. False when that ended the
 * connection or closed it. */
static bool take_bytes(struct lb_worker *lw, struct conn *c, const struct seg *s)
{
        uint32_t skip = c->cli.t.rcv_nxt - s->seq, n = 0, old = c->buf_len;
        bool fin = s->flags & TCP_OUT_FIN;

        if (skip < s->len) {
                bool slowed;
                uint32_t room = budget__room(lw, c->plan, c, &slowed);

                n = s->len - skip;
                if (n > room) {
                        n = room;
                        STAT(lw, window_full);
                }
                if (n && !buf_append(lw, c, s->payload + skip, n, c->buf_len + room)) {
                        STAT(lw, window_full);
                        n = 0;
                }
                c->cli.t.rcv_nxt += n;
                c->cli.t.rcv_acked = c->cli.t.rcv_nxt;
                c->bytes_from_client += n;
        }
        if (fin && skip + n >= s->len) {
                c->cli.t.rcv_nxt++;
                c->cli.t.rcv_acked = c->cli.t.rcv_nxt;
                c->cli.fin_rcvd = true;
        }
        if (n && !conn__feed(lw, c, c->buf + old, n))
                return false;
        if (n)
                budget__charge(lw, c);
        return true;
}

/* A client segment before splicing (OPEN, CONNECTING, CLOSING). */
enum worker_verdict lb__client_segment(struct lb_worker *lw, struct conn *c, struct worker_pkt *p)
{
        bool answer = false;
        struct seg s;

        seg__read(p, &s);
        c->last_ns = lw->now_ns;
        if (s.flags & TCP_OUT_RST)
                return client_rst(lw, c, p, &s);
        if (s.flags & TCP_OUT_SYN) /* our SYN-ACK's ACK came, then a stale SYN */
                return reply(lw, c, p, false);
        if (!(s.flags & TCP_OUT_ACK))
                return WORKER_DROP;
        c->cli.t.snd_wnd = (uint32_t)s.win << c->cli.t.snd_wscale;
        if (seq_in(s.ack, c->cli.t.snd_una, conn__own_fin_end(c))) {
                c->cli.t.snd_una = s.ack;
                c->rto_tries = 0;
        }
        if (c->f.state == CONN_CLOSING)
                return closing_segment(lw, c, p, &s);
        if (s.len || (s.flags & TCP_OUT_FIN)) {
                answer = true;
                if (seq_lt(c->cli.t.rcv_nxt, s.seq))
                        STAT(lw, out_of_order);
                else if (!c->cli.fin_rcvd && !take_bytes(lw, c, &s))
                        return WORKER_DROP; /* ended, or closing */
        }
        client_edge(lw, c->plan, c);
        if (c->cli.fin_rcvd && c->f.state == CONN_OPEN) {
                conn__close_client(lw, c, LB_VERDICT_CLOSED_BY_CLIENT);
                return WORKER_DROP;
        }
        if (c->cli.fin_rcvd && c->f.state == CONN_CONNECTING)
                c->brk.replay_fin = true;
        if (answer || seq_lt(c->cli.t.snd_nxt, conn__own_end(c)))
                return reply(lw, c, p, false);
        return WORKER_DROP;
}

void conn__close_client(struct lb_worker *lw, struct conn *c, enum lb_verdict v)
{
        const struct plan *plan = c->plan;

        /* nothing buffered can be sent any more: a closing connection holds
         * no buffer and no parser (its client id stays, for the report) */
        conn__buf_free(lw, c);
        c->buf_len = 0;
        c->parse_dead = true;
        conn__binder(c)->stop(c);
        conn__setup_done(lw, c);
        conn__uncount(lw, c);
        budget__release_reserve(lw, c);
        budget__charge(lw, c);
        conn__rst_broker(lw, c);
        if (c->f.legs & (1u << FLOW_LEG_BROKER))
                flow__remove_leg(lw->flows, &c->f, FLOW_LEG_BROKER);
        c->verdict = (uint8_t)v;
        c->f.state = CONN_CLOSING;
        c->cli.fin_sent = true;
        conn__send_client(lw, c, c->cli.t.snd_nxt, true);
        c->cli.t.snd_nxt = conn__own_end(c) + 1;
        c->rto_tries = 0;
        conn__arm_rto(lw, c);
        /* a client that never answers our FIN gets an RST then (on_life) */
        timer__arm(&lw->wheel, &c->f.timer[CONN_T_LIFE], lw->now_ns + plan->close_timeout_ns,
                   CONN_T_LIFE);
}
