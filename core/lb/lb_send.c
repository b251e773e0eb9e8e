/* Segments the balancer builds itself, on either leg (lb_conn.h). */
#include <string.h>

#include "core/lb/lb_conn.h"

void conn__client_hdr(const struct conn *c, struct tcp_out_hdr *h, uint32_t seq)
{
        const struct flow_key *k = &c->f.client;

        memset(h, 0, sizeof(*h));
        h->family = k->family;
        h->n_vlans = c->cli.nvlans;
        for (unsigned i = 0; i < c->cli.nvlans; i++) {
                h->vlan_tpid[i] = c->cli.vlan_tpid[i];
                h->vlan_tci[i] = c->cli.vlan_tci[i];
        }
        memcpy(h->src_mac, c->cli.t.own_mac, 6);
        memcpy(h->dst_mac, c->cli.t.peer_mac, 6);
        memcpy(h->saddr, k->daddr, 16);
        memcpy(h->daddr, k->saddr, 16);
        h->sport = k->dport;
        h->dport = k->sport;
        h->seq = seq;
        h->ack = c->cli.t.rcv_acked;
        h->window = conn__client_window(c);
}

void conn__broker_hdr(const struct conn *c, struct tcp_out_hdr *h, uint32_t seq)
{
        const struct flow_key *k = &c->f.broker;

        memset(h, 0, sizeof(*h));
        h->family = k->family;
        memcpy(h->src_mac, c->brk.t.own_mac, 6);
        memcpy(h->dst_mac, c->brk.t.peer_mac, 6);
        memcpy(h->saddr, k->daddr, 16);
        memcpy(h->daddr, k->saddr, 16);
        h->sport = k->dport;
        h->dport = k->sport;
        h->seq = seq;
        h->ack = c->brk.t.rcv_acked;
        h->window =
            window_field(c->cli.t.snd_wnd, c->brk.t.rcv_wscale); /* what the client can take */
}

uint16_t conn__client_window(const struct conn *c)
{
        return window_field(
            seq_lt(c->cli.t.rcv_acked, c->cli.rcv_edge) ? c->cli.rcv_edge - c->cli.t.rcv_acked : 0,
            c->cli.t.rcv_wscale);
}

uint8_t *lb__frame(struct lb_worker *lw, struct frame_desc *d)
{
        uint64_t addr;

        if (frame_cache__alloc(lw->w->cfg.cache, &addr, 1) != 1) {
                STAT(lw, no_frame);
                return NULL;
        }
        d->addr = addr;
        d->len = 0;
        return lw->w->umem_base + addr;
}

void lb__send(struct lb_worker *lw, uint16_t port, struct frame_desc *d, int len)
{
        if (len < 0) { /* a builder refused: our bug, never the peer's */
                worker__free(lw->w, d->addr);
                STAT(lw, no_frame);
                return;
        }
        d->len = (uint32_t)len;
        worker__send(lw->w, port, d);
}

void conn__send_client(struct lb_worker *lw, struct conn *c, uint32_t k_from, bool fin)
{
        struct tcp_out_hdr h;
        struct frame_desc d;
        uint8_t *buf = lb__frame(lw, &d);
        uint32_t own_end = conn__own_end(c), n;

        if (!buf)
                return;
        conn__client_hdr(c, &h, k_from);
        n = seq_lt(k_from, own_end) ? own_end - k_from : 0;
        if (n > c->own_len) /* never before our first own byte, whatever k_from says */
                n = c->own_len;
        lb__send(lw, c->cli.t.port, &d,
                 tcp_out__data(buf, UMEM_FRAME_SIZE, &h, c->own + (own_end - n - c->cli.t.iss - 1),
                               n, fin));
}

void conn__send_broker_ack(struct lb_worker *lw, struct conn *c)
{
        struct tcp_out_hdr h;
        struct frame_desc d;
        uint8_t *buf = lb__frame(lw, &d);

        if (!buf)
                return;
        conn__broker_hdr(c, &h, c->brk.t.snd_nxt);
        lb__send(lw, c->brk.t.port, &d, tcp_out__ack(buf, UMEM_FRAME_SIZE, &h, NULL, 0));
}

void conn__rst_client(struct lb_worker *lw, struct conn *c)
{
        struct tcp_out_hdr h;
        struct frame_desc d;
        uint8_t *buf = lb__frame(lw, &d);

        if (!buf)
                return;
        /* RFC 5961 3.2: the client accepts only an RST at its RCV.NXT, which
         * is everything we sent it (own bytes, our FIN, the broker's bytes
         * translated): cli.t.snd_nxt. Should some of that still be in flight and be
         * lost, the client answers the RST with a challenge ACK; no state is
         * left by then, and the stray segment draws an RST at its own ACK
         * (reset_stray), which is exact. */
        conn__client_hdr(c, &h, c->cli.t.snd_nxt);
        STAT(lw, rst_sent);
        lb__send(lw, c->cli.t.port, &d, tcp_out__rst(buf, UMEM_FRAME_SIZE, &h, true));
}

void conn__rst_broker_at(struct lb_worker *lw, struct conn *c, uint32_t seq)
{
        struct tcp_out_hdr h;
        struct frame_desc d;
        uint8_t *buf;

        if (!(c->f.legs & (1u << FLOW_LEG_BROKER)))
                return;
        buf = lb__frame(lw, &d);
        if (!buf)
                return;
        conn__broker_hdr(c, &h, seq);
        STAT(lw, rst_sent);
        lb__send(lw, c->brk.t.port, &d, tcp_out__rst(buf, UMEM_FRAME_SIZE, &h, false));
}

void conn__rst_broker(struct lb_worker *lw, struct conn *c)
{
        conn__rst_broker_at(lw, c, seq_max(c->brk.t.snd_nxt, c->brk.t.snd_una));
}
