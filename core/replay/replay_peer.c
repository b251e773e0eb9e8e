/*
 * The emulated client and broker endpoints of the replay harness (see
 * replay_peer.h). Sequence numbers on the wire are ISN-based; inside, every
 * position is a stream offset (bytes after ISN + 1), compared wrap-safely.
 *
 * Owns the byte buffers of the peers. Must not decide anything for the
 * balancer: it only plays what the capture says (client) or what a broker
 * would answer (broker), as a correct TCP peer would.
 *
 * Why one file of 1,100 lines: the client and the broker share the TCP
 * endpoint they are built on (send, retransmit, receive); splitting them
 * would make that a third file with an API of its own for two users.
 */
#include "core/replay/replay_peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/encode.h"
#include "core/tcp/packet.h"

#define RTO_MIN_NS     200000000ull   /* first retransmission timeout: 200 ms */
#define RTO_MAX_NS     30000000000ull /* doubling stops at 30 s */
#define SYN_RTO_NS     1000000000ull  /* RFC 6298 section 2.1: 1 s for a SYN */
#define SYN_TRIES      6
#define RTX_MAX        12         /* timeouts in a row before giving up */
#define RCV_WINDOW     (1u << 20) /* what the peers advertise: they never run out */
#define BROKER_MSS     1460
#define BROKER_WSCALE  7
#define FRAME_BUF      4096
#define DUPACK_RTX     3    /* RFC 5681 section 3.2 */
#define MSS_DEFAULT_V4 536  /* RFC 9293 section 3.7.1 */
#define MSS_DEFAULT_V6 1220 /* RFC 8200 section 5 less 60 */

static const uint8_t PROXY_SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static bool seq_lt(uint32_t a, uint32_t b)
{
        return (int32_t)(a - b) < 0;
}

static bool seq_le(uint32_t a, uint32_t b)
{
        return (int32_t)(a - b) <= 0;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
        return a < b ? a : b;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
        return a < b ? a : b;
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)packet__be16(p) << 16 | packet__be16(p + 2);
}

void replay_tcp__parse(struct replay_tcp *s, const uint8_t *frame, const struct packet *m)
{
        const uint8_t *ip = frame + m->l3, *tcp = frame + m->l4;

        memset(s, 0, sizeof(*s));
        s->family = m->family;
        s->saddr = ip + (m->family == 4 ? 12 : 8);
        s->daddr = ip + (m->family == 4 ? 16 : 24);
        s->sport = m->sport;
        s->dport = m->dport;
        s->seq = be32(tcp + 4);
        s->ack = be32(tcp + 8);
        s->flags = tcp[13];
        s->win = packet__be16(tcp + 14);
        s->data = frame + m->payload;
        s->len = (uint32_t)(m->end - m->payload);
        if (s->flags & TCP_OUT_SYN)
                tcp_opts__parse(tcp, (size_t)(m->end - m->l4), &s->opts);
        else
                s->opts.wscale = TCP_WSCALE_NONE;
}

int replay__grow_bytes(uint8_t **buf, uint32_t *cap, uint32_t need)
{
        uint32_t c = *cap ? *cap : 256;
        uint8_t *nb;

        if (need <= *cap)
                return 0;
        while (c < need)
                c = c > UINT32_MAX / 2 ? UINT32_MAX : 2 * c;
        nb = realloc(*buf, c);
        if (!nb)
                return -ENOMEM;
        *buf = nb;
        *cap = c;
        return 0;
}

static int emit(const struct replay_wire *w, const uint8_t *buf, int len)
{
        return len < 0 ? len : w->send(w->ctx, buf, (uint32_t)len);
}

/* The window field for a receive window of RCV_WINDOW with shift ws. */
static uint16_t window_field(bool ws_ok, uint8_t ws)
{
        uint32_t v = ws_ok ? RCV_WINDOW >> ws : RCV_WINDOW;

        return (uint16_t)(v > 0xffff ? 0xffff : v);
}

/* ---- the client ---------------------------------------------------------- */

void replay_client__init(struct replay_client *cl, const struct replay_conn *c,
                         const uint8_t *laddr, uint16_t lport, uint32_t idx, uint64_t tail_ns)
{
        memset(cl, 0, sizeof(*cl));
        cl->c = c;
        memcpy(cl->laddr, laddr, 16);
        cl->lport = lport;
        cl->mac[0] = 0x02;
        cl->mac[3] = 0x01;
        cl->mac[4] = (uint8_t)(idx >> 8);
        cl->mac[5] = (uint8_t)idx;
        cl->deadline = c->last_ns + tail_ns;
}

void replay_client__free(struct replay_client *cl)
{
        free(cl->rcvd);
        cl->rcvd = NULL;
}

static void client_hdr(const struct replay_client *cl, const struct replay_wire *w,
                       struct tcp_out_hdr *h, uint32_t off)
{
        const struct replay_conn *c = cl->c;

        memset(h, 0, sizeof(*h));
        h->family = c->family;
        memcpy(h->src_mac, cl->mac, 6);
        memcpy(h->dst_mac, w->lb_mac, 6);
        memcpy(h->saddr, c->caddr, 16);
        memcpy(h->daddr, cl->laddr, 16);
        h->sport = c->cport;
        h->dport = cl->lport;
        h->seq = c->isn + 1 + off;
        h->ack = cl->irs + 1 + cl->rcv_nxt + (cl->fin_rcvd ? 1 : 0);
        h->window = window_field(cl->ws_ok, c->syn.wscale);
}

static int client_syn(struct replay_client *cl, const struct replay_wire *w)
{
        const struct replay_conn *c = cl->c;
        struct tcp_out_syn_opts o = {
            .mss = c->syn.mss_ok ? c->syn.mss : (c->family == 4 ? 1460 : 1440),
            .wscale = c->syn.wscale,
            .sack_ok = c->syn.sack_ok,
        };
        struct tcp_out_hdr h;
        uint8_t buf[FRAME_BUF];

        client_hdr(cl, w, &h, 0);
        h.seq = c->isn;
        h.window = 0xffff; /* never scaled in a SYN (RFC 7323 section 2.2) */
        return emit(w, buf, tcp_out__syn(buf, sizeof(buf), &h, &o));
}

/* Bytes at stream offset off..off+n (n > 0) with FIN when fin. */
static int client_data(struct replay_client *cl, const struct replay_wire *w, uint32_t off,
                       const uint8_t *data, uint32_t n, bool fin)
{
        struct tcp_out_hdr h;
        uint8_t buf[FRAME_BUF];
        uint32_t end = off + n + (fin ? 1 : 0);
        int r;

        client_hdr(cl, w, &h, off);
        r = emit(w, buf, tcp_out__data(buf, sizeof(buf), &h, data, n, fin));
        if (r)
                return r;
        cl->need_ack = false;
        if (seq_lt(cl->max, end))
                cl->max = end;
        return 0;
}

static uint32_t client_mss(const struct replay_client *cl)
{
        return cl->peer_mss ? cl->peer_mss : 536;
}

/* Go-back-N from the balancer's ACK: everything in flight again (within
 * its window; one byte when the window is closed: a probe). */
static int client_resend(struct replay_client *cl, const struct replay_wire *w, bool one)
{
        const struct replay_conn *c = cl->c;
        uint32_t pos = cl->una, data_end = cl->fin_sent ? cl->fin_off : cl->max;
        uint32_t limit = cl->una + (cl->wnd ? cl->wnd : 1);
        int r, sent = 0;

        while (seq_lt(pos, data_end) && seq_lt(pos, limit) && pos < c->stream_len) {
                uint32_t n = min32(min32(client_mss(cl), data_end - pos),
                                   min32(limit - pos, c->stream_len - pos));
                bool fin = cl->fin_sent && pos + n == cl->fin_off;

                r = client_data(cl, w, pos, c->stream + pos, n, fin);
                if (r)
                        return r;
                pos += n;
                sent++;
                cl->retransmits++;
                if (fin || one)
                        return sent;
        }
        if (cl->fin_sent && pos == cl->fin_off && seq_lt(pos, cl->max) && seq_le(pos, limit)) {
                struct tcp_out_hdr h;
                uint8_t buf[FRAME_BUF];

                client_hdr(cl, w, &h, pos);
                r = emit(w, buf, tcp_out__data(buf, sizeof(buf), &h, NULL, 0, true));
                if (r)
                        return r;
                cl->need_ack = false;
                sent++;
                cl->retransmits++;
        }
        return sent;
}

/* Whether the piece [start, start + *n) must wait for the balancer's
 * window; else *n is what may go now (cut to the window, or a 1-byte probe
 * when the window stayed closed past the persist timer). */
static bool client_window_cut(const struct replay_client *cl, uint32_t start, uint32_t *n,
                              uint64_t now)
{
        uint32_t limit = cl->una + cl->wnd;

        if (!seq_lt(cl->max, start + *n) || seq_le(start + *n, limit))
                return false; /* nothing new, or it fits */
        if (seq_lt(start, limit)) {
                *n = limit - start; /* the part that fits */
                return false;
        }
        if (cl->una == cl->max && cl->persist_at && now >= cl->persist_at) {
                *n = 1; /* zero-window probe (RFC 9293 section 3.8.6.1) */
                return false;
        }
        return true;
}

/* The captured segments that are due, in capture order. */
static int client_segments(struct replay_client *cl, uint64_t now, const struct replay_wire *w)
{
        const struct replay_conn *c = cl->c;
        int r, sent = 0;

        cl->blocked = false;
        while (!cl->stopped && cl->next_seg < c->nsegs) {
                const struct replay_seg *s = &c->segs[cl->next_seg];
                bool fin = s->flags & TCP_OUT_FIN;

                if (now < s->t_ns)
                        break;
                if (s->flags & TCP_OUT_RST) {
                        struct tcp_out_hdr h;
                        uint8_t buf[FRAME_BUF];

                        client_hdr(cl, w, &h, s->off);
                        r = emit(w, buf,
                                 tcp_out__rst(buf, sizeof(buf), &h, s->flags & TCP_OUT_ACK));
                        if (r)
                                return r;
                        cl->rst_sent = true;
                        cl->st = REPLAY_C_DONE;
                        return sent + 1;
                }
                while (cl->seg_pos < s->len) {
                        uint32_t start = s->off + cl->seg_pos;
                        uint32_t n = min32(client_mss(cl), s->len - cl->seg_pos);

                        if (client_window_cut(cl, start, &n, now)) { /* wait */
                                if (cl->una == cl->max && !cl->persist_at)
                                        cl->persist_at =
                                            now + (cl->rto_ns ? cl->rto_ns : RTO_MIN_NS);
                                cl->blocked = true;
                                goto out;
                        }
                        if (n == 1 && cl->persist_at && now >= cl->persist_at)
                                cl->persist_at = 0;
                        r = client_data(cl, w, start, c->cdata + s->data + cl->seg_pos, n,
                                        fin && cl->seg_pos + n == s->len);
                        if (r)
                                return r;
                        cl->seg_pos += n;
                        sent++;
                }
                if (!s->len && fin) {
                        struct tcp_out_hdr h;
                        uint8_t buf[FRAME_BUF];

                        client_hdr(cl, w, &h, s->off);
                        r = emit(w, buf, tcp_out__data(buf, sizeof(buf), &h, NULL, 0, true));
                        if (r)
                                return r;
                        cl->need_ack = false;
                        if (seq_lt(cl->max, s->off + 1))
                                cl->max = s->off + 1;
                        sent++;
                }
                if (fin && !cl->fin_sent) {
                        cl->fin_sent = true;
                        cl->fin_off = s->off + s->len;
                }
                cl->next_seg++;
                cl->seg_pos = 0;
        }
out:
        if (cl->una != cl->max && !cl->rto_at) {
                if (!cl->rto_ns)
                        cl->rto_ns = RTO_MIN_NS;
                cl->rto_at = now + cl->rto_ns;
        }
        return sent;
}

int replay_client__pump(struct replay_client *cl, uint64_t now, const struct replay_wire *w)
{
        int r, sent = 0;

        switch (cl->st) {
        case REPLAY_C_IDLE:
                if (now < cl->c->syn_ns)
                        return 0;
                r = client_syn(cl, w);
                if (r)
                        return r;
                cl->st = REPLAY_C_SYN_SENT;
                cl->rto_ns = SYN_RTO_NS;
                cl->rto_at = now + cl->rto_ns;
                return 1;
        case REPLAY_C_SYN_SENT:
                if (now >= cl->deadline || (now >= cl->rto_at && ++cl->rtx >= SYN_TRIES)) {
                        cl->timed_out = true;
                        cl->st = REPLAY_C_DONE;
                        return 0;
                }
                if (now < cl->rto_at)
                        return 0;
                r = client_syn(cl, w);
                if (r)
                        return r;
                cl->retransmits++;
                cl->rto_ns = min64(2 * cl->rto_ns, RTO_MAX_NS);
                cl->rto_at = now + cl->rto_ns;
                return 1;
        case REPLAY_C_DONE: break;
        case REPLAY_C_OPEN:
                if (now >= cl->deadline) {
                        cl->timed_out = true;
                        cl->st = REPLAY_C_DONE;
                        return 0;
                }
                if (cl->rto_at && now >= cl->rto_at) {
                        if (++cl->rtx > RTX_MAX) {
                                cl->timed_out = true;
                                cl->st = REPLAY_C_DONE;
                                return 0;
                        }
                        r = client_resend(cl, w, false);
                        if (r < 0)
                                return r;
                        sent += r;
                        cl->rto_ns = min64(2 * cl->rto_ns, RTO_MAX_NS);
                        cl->rto_at = now + cl->rto_ns;
                        cl->fast_rtx = false;
                } else if (cl->fast_rtx) {
                        cl->fast_rtx = false;
                        r = client_resend(cl, w, true);
                        if (r < 0)
                                return r;
                        sent += r;
                }
                r = client_segments(cl, now, w);
                if (r < 0)
                        return r;
                sent += r;
                if (cl->st == REPLAY_C_DONE)
                        return sent;
                if (cl->stopped && !cl->fin_sent) { /* the balancer closed: we close too */
                        struct tcp_out_hdr h;
                        uint8_t buf[FRAME_BUF];

                        client_hdr(cl, w, &h, cl->max);
                        r = emit(w, buf, tcp_out__data(buf, sizeof(buf), &h, NULL, 0, true));
                        if (r)
                                return r;
                        cl->need_ack = false;
                        cl->fin_sent = true;
                        cl->fin_off = cl->max;
                        cl->max++;
                        if (!cl->rto_at) {
                                cl->rto_ns = RTO_MIN_NS;
                                cl->rto_at = now + cl->rto_ns;
                        }
                        sent++;
                }
                break;
        }
        if (cl->need_ack && !cl->rst_sent && !cl->rst_rcvd && cl->st != REPLAY_C_IDLE &&
            cl->st != REPLAY_C_SYN_SENT) {
                struct tcp_out_hdr h;
                uint8_t buf[FRAME_BUF];

                client_hdr(cl, w, &h, cl->max);
                r = emit(w, buf, tcp_out__ack(buf, sizeof(buf), &h, NULL, 0));
                if (r)
                        return r;
                cl->need_ack = false;
                sent++;
        }
        return sent;
}

void replay_client__input(struct replay_client *cl, uint64_t now, const struct replay_tcp *s)
{
        const struct replay_conn *c = cl->c;
        uint32_t off;

        if (cl->st == REPLAY_C_IDLE || cl->rst_sent || cl->rst_rcvd || cl->timed_out)
                return;
        if (s->flags & TCP_OUT_RST) {
                /* RFC 9293 section 3.10.7.2 would check the sequence number;
                 * the balancer is the only sender here */
                if (cl->st == REPLAY_C_SYN_SENT &&
                    !((s->flags & TCP_OUT_ACK) && s->ack == c->isn + 1))
                        return;
                cl->rst_rcvd = true;
                cl->stopped = true;
                cl->st = REPLAY_C_DONE;
                return;
        }
        if (cl->st == REPLAY_C_SYN_SENT) {
                if ((s->flags & (TCP_OUT_SYN | TCP_OUT_ACK)) != (TCP_OUT_SYN | TCP_OUT_ACK) ||
                    s->ack != c->isn + 1)
                        return;
                cl->irs = s->seq;
                cl->ws_ok = c->syn.wscale != TCP_WSCALE_NONE && s->opts.wscale != TCP_WSCALE_NONE;
                cl->peer_ws = cl->ws_ok ? s->opts.wscale : 0;
                cl->peer_mss = s->opts.mss_ok ? s->opts.mss
                                              : (c->family == 4 ? MSS_DEFAULT_V4 : MSS_DEFAULT_V6);
                cl->wnd = s->win;
                cl->st = REPLAY_C_OPEN;
                cl->need_ack = true;
                cl->rto_at = 0;
                cl->rtx = 0;
                cl->rto_ns = RTO_MIN_NS;
                return;
        }
        if (s->flags & TCP_OUT_SYN) { /* the SYN-ACK again: our ACK was lost */
                cl->need_ack = true;
                return;
        }
        if (s->flags & TCP_OUT_ACK) {
                uint32_t a = s->ack - (c->isn + 1);
                uint32_t wnd = cl->ws_ok ? (uint32_t)s->win << cl->peer_ws : s->win;

                if (seq_lt(cl->una, a) && seq_le(a, cl->max)) {
                        cl->una = a;
                        cl->dupacks = 0;
                        cl->rtx = 0;
                        cl->rto_ns = RTO_MIN_NS;
                        cl->rto_at = cl->una != cl->max ? now + cl->rto_ns : 0;
                        cl->persist_at = 0;
                        if (cl->fin_sent && a == cl->fin_off + 1)
                                cl->fin_acked = true;
                        cl->wnd = wnd;
                } else if (a == cl->una) {
                        if (!s->len && !(s->flags & TCP_OUT_FIN) && cl->una != cl->max &&
                            wnd == cl->wnd && ++cl->dupacks == DUPACK_RTX)
                                cl->fast_rtx = true;
                        if (wnd != cl->wnd)
                                cl->persist_at = 0;
                        cl->wnd = wnd;
                }
        }
        off = s->seq - (cl->irs + 1);
        if (s->len) {
                cl->need_ack = true;
                if (!cl->fin_rcvd && seq_le(off, cl->rcv_nxt) &&
                    seq_lt(cl->rcv_nxt, off + s->len)) {
                        uint32_t skip = cl->rcv_nxt - off, n = s->len - skip;

                        if (!replay__grow_bytes(&cl->rcvd, &cl->rcvd_cap, cl->rcv_nxt + n)) {
                                memcpy(cl->rcvd + cl->rcv_nxt, s->data + skip, n);
                                cl->rcv_nxt += n;
                        }
                }
        }
        if (s->flags & TCP_OUT_FIN) {
                cl->need_ack = true;
                if (!cl->fin_rcvd && off + s->len == cl->rcv_nxt) {
                        cl->fin_rcvd = true;
                        if (!cl->fin_sent)
                                cl->stopped = true;
                }
        }
        if (cl->fin_sent && cl->fin_acked && cl->fin_rcvd)
                cl->st = REPLAY_C_DONE;
}

uint64_t replay_client__next(const struct replay_client *cl)
{
        const struct replay_conn *c = cl->c;
        uint64_t t = cl->deadline;

        switch (cl->st) {
        case REPLAY_C_IDLE: return c->syn_ns;
        case REPLAY_C_DONE:
                return cl->need_ack && !cl->rst_sent && !cl->rst_rcvd ? 0 : REPLAY_NEVER;
        case REPLAY_C_SYN_SENT: return min64(cl->rto_at, t);
        case REPLAY_C_OPEN: break;
        }
        if (cl->need_ack || cl->fast_rtx || (cl->stopped && !cl->fin_sent))
                return 0;
        if (cl->rto_at)
                t = min64(t, cl->rto_at);
        if (cl->persist_at)
                t = min64(t, cl->persist_at);
        if (!cl->stopped && !cl->blocked && cl->next_seg < c->nsegs)
                t = min64(t, c->segs[cl->next_seg].t_ns);
        return t;
}

bool replay_client__done(const struct replay_client *cl)
{
        return cl->st == REPLAY_C_DONE;
}

/* ---- the brokers --------------------------------------------------------- */

enum bconn_state { B_SYN_RCVD, B_OPEN, B_CLOSED };

struct replay_bconn {
        uint8_t family;
        uint8_t baddr[16], laddr[16];
        uint16_t bport, lport;
        bool refuse;
        enum bconn_state st;
        uint32_t iss, irs;
        bool ws_ok, sack_ok;
        uint8_t peer_ws;
        uint16_t peer_mss;
        uint32_t wnd;
        bool need_synack, need_ack, fast_rtx;

        uint32_t rcv_nxt; /* stream bytes received in order */
        uint8_t *rx;
        uint32_t rx_cap;
        bool fin_rcvd, rst_rcvd;

        int proxy;        /* 0: not read yet, 1: as expected, -1: wrong */
        uint32_t app_off; /* where the MQTT stream starts in rx (after PROXY) */
        uint8_t pfam;     /* the PROXY header's source */
        uint8_t paddr[16];
        uint16_t pport;
        int match; /* captured connection, -1 none, -2 not decided yet */
        uint32_t next_chunk;

        uint8_t *tx; /* what it sends: the server stream, or its own CONNACK */
        uint32_t tx_len, tx_cap;
        uint32_t una, nxt; /* stream offsets (nxt counts FIN) */
        bool fin_queued, fin_sent, fin_acked;
        uint32_t dupacks;
        uint64_t rto_ns, rto_at;
        uint32_t rtx;
};

static bool addr_listed(const struct net_addr *l, uint32_t n, uint8_t family, const uint8_t *addr,
                        uint16_t port)
{
        for (uint32_t i = 0; i < n; i++)
                if (l[i].ip.family == family && l[i].port == port &&
                    !memcmp(l[i].ip.addr, addr, family == 4 ? 4 : 16))
                        return true;
        return false;
}

static bool bconn_is(const struct replay_bconn *k, const struct replay_tcp *s)
{
        size_t alen = s->family == 4 ? 4 : 16;

        return k->family == s->family && k->bport == s->dport && k->lport == s->sport &&
               !memcmp(k->baddr, s->daddr, alen) && !memcmp(k->laddr, s->saddr, alen);
}

static int bconn_new(struct replay_brokers *b, const struct replay_tcp *s,
                     struct replay_bconn **out)
{
        struct replay_bconn *k = calloc(1, sizeof(*k));
        size_t alen = s->family == 4 ? 4 : 16;

        if (!k)
                return -ENOMEM;
        if (b->nconns == b->capconns) {
                uint32_t cap = b->capconns ? 2 * b->capconns : 64;
                struct replay_bconn **nc = realloc(b->conns, sizeof(*nc) * cap);

                if (!nc) {
                        free(k);
                        return -ENOMEM;
                }
                b->conns = nc;
                b->capconns = cap;
        }
        k->family = s->family;
        memcpy(k->baddr, s->daddr, alen);
        memcpy(k->laddr, s->saddr, alen);
        k->bport = s->dport;
        k->lport = s->sport;
        k->refuse = addr_listed(b->refuse, b->nrefuse, s->family, s->daddr, s->dport);
        k->st = B_SYN_RCVD;
        /* close below 2^32: the first broker stream wraps after 256 bytes */
        k->iss = 0xffffff00u - b->nconns * 0x0badf00du;
        k->irs = s->seq;
        k->ws_ok = s->opts.wscale != TCP_WSCALE_NONE;
        k->peer_ws = k->ws_ok ? s->opts.wscale : 0;
        k->sack_ok = s->opts.sack_ok;
        k->peer_mss =
            s->opts.mss_ok ? s->opts.mss : (s->family == 4 ? MSS_DEFAULT_V4 : MSS_DEFAULT_V6);
        k->wnd = s->win;
        k->need_synack = true;
        k->match = -2;
        k->rto_ns = RTO_MIN_NS;
        b->conns[b->nconns++] = k;
        *out = k;
        return 0;
}

static int tx_append(struct replay_bconn *k, const uint8_t *p, uint32_t n)
{
        if (replay__grow_bytes(&k->tx, &k->tx_cap, k->tx_len + n))
                return -ENOMEM;
        memcpy(k->tx + k->tx_len, p, n);
        k->tx_len += n;
        return 0;
}

/* Length of the first MQTT packet of p[0..n): 0 while unknown, or n when the
 * length field is malformed (then the bytes so far decide). */
static uint32_t mqtt_first_len(const uint8_t *p, uint32_t n)
{
        uint32_t rem = 0;

        for (uint32_t i = 1; i <= 4; i++) {
                if (i >= n)
                        return 0;
                rem |= (uint32_t)(p[i] & 0x7f) << (7 * (i - 1));
                if (!(p[i] & 0x80))
                        return 1 + i + rem;
        }
        return n;
}

/* The CONNECT's protocol level (3.1.1 section 3.1.2.2), 0 when unknown. */
static uint8_t connect_level(const uint8_t *p, uint32_t n)
{
        uint32_t i = 1, nl;

        while (i < n && i < 5 && (p[i] & 0x80))
                i++;
        i++;
        if (i + 2 > n)
                return 0;
        nl = packet__be16(p + i);
        i += 2 + nl;
        return i < n ? p[i] : 0;
}

/* PROXY protocol v2 (haproxy doc/proxy-protocol.txt section 2.2): returns 0
 * while incomplete, else the header length (0 < len) with k->proxy set. */
static uint32_t proxy_read(struct replay_bconn *k)
{
        const uint8_t *p = k->rx;
        uint32_t len;

        if (k->rcv_nxt < 16)
                return 0;
        if (memcmp(p, PROXY_SIG, 12) || p[12] != 0x21) {
                k->proxy = -1;
                return UINT32_MAX; /* no header: the stream starts at 0 */
        }
        len = 16u + packet__be16(p + 14);
        if (k->rcv_nxt < len)
                return 0;
        if (p[13] == 0x11 && len >= 16 + 12) { /* TCP over IPv4 */
                k->pfam = 4;
                memcpy(k->paddr, p + 16, 4);
                k->pport = packet__be16(p + 24);
                k->proxy = 1;
        } else if (p[13] == 0x21 && len >= 16 + 36) { /* TCP over IPv6 */
                k->pfam = 6;
                memcpy(k->paddr, p + 16, 16);
                k->pport = packet__be16(p + 48);
                k->proxy = 1;
        } else {
                k->proxy = -1;
        }
        return len;
}

static bool prefix_of(const struct replay_conn *c, const uint8_t *app, uint32_t n)
{
        return c->stream_len >= n && !memcmp(c->stream, app, n);
}

/* Which captured connection a broker connection serves: by the PROXY
 * header's source when there is one, else the first connection not matched
 * yet whose stream starts with what arrived, else the last matched one. */
static int bconn_match(struct replay_brokers *b, struct replay_bconn *k, const uint8_t *app,
                       uint32_t n)
{
        const struct replay_capture *cap = b->cap;
        int last = -1;

        for (uint32_t i = 0; i < cap->nconns; i++) {
                const struct replay_conn *c = &cap->conns[i];

                if (!prefix_of(c, app, n))
                        continue;
                if (k->proxy == 1) {
                        if (k->pfam == c->family && k->pport == c->cport &&
                            !memcmp(k->paddr, c->caddr, c->family == 4 ? 4 : 16))
                                last = (int)i; /* the latest connection of that address */
                        continue;
                }
                if (!b->legs[i])
                        return (int)i;
                last = (int)i;
        }
        return last;
}

/* The broker's CONNACK to the CONNECT app[0..n), in its version, without
 * properties. */
static int bconn_connack(struct replay_bconn *k, const uint8_t *app, uint32_t n, uint8_t v5_reason,
                         uint8_t v3_code)
{
        uint8_t pkt[MQTT_CONNACK_LEN_MAX(0)];
        bool is5 = connect_level(app, n) == MQTT_V5;
        size_t len = mqtt_encode__connack(pkt, sizeof(pkt), is5 ? MQTT_V5 : MQTT_V311, false,
                                          is5 ? v5_reason : v3_code, NULL, 0);

        return tx_append(k, pkt, (uint32_t)len);
}

/* The broker's application: the PROXY header, the match, then the server
 * stream's chunks as the client bytes they answer arrive. */
static int bconn_app(struct replay_brokers *b, struct replay_bconn *k)
{
        const uint8_t *app;
        uint32_t n;

        if (b->proxy && !k->proxy) {
                uint32_t len = proxy_read(k);

                if (!len)
                        return 0;
                k->app_off = len == UINT32_MAX ? 0 : len;
        }
        app = k->rx + k->app_off;
        n = k->rcv_nxt - k->app_off;
        if (k->match == -2) {
                uint32_t first = mqtt_first_len(app, n);

                if (!first || n < first)
                        return 0;
                k->match = bconn_match(b, k, app, n);
                if (k->match >= 0) {
                        const struct replay_conn *c = &b->cap->conns[k->match];

                        b->legs[k->match]++;
                        if (k->proxy == 1 && (k->pfam != c->family || k->pport != c->cport ||
                                              memcmp(k->paddr, c->caddr, c->family == 4 ? 4 : 16)))
                                k->proxy = -1;
                } else {
                        b->unmatched++;
                        if (k->proxy == 1)
                                k->proxy = -1; /* the source is no captured client */
                }
                /* refused as not authorized: 3.1.1 section 3.2.2.3, 5.0 section 3.2.2.2 */
                if (k->refuse) {
                        k->fin_queued = true; /* the server closes after a refusal */
                        return bconn_connack(k, app, n, MQTT_RC_NOT_AUTHORIZED,
                                             MQTT_V3_RC_NOT_AUTHORIZED);
                }
                if (k->match < 0) /* not from the capture: accept it plainly */
                        return bconn_connack(k, app, n, MQTT_RC_SUCCESS, MQTT_V3_RC_ACCEPTED);
        }
        if (k->match >= 0 && !k->refuse) {
                const struct replay_conn *c = &b->cap->conns[k->match];

                while (k->next_chunk < c->nchunks && c->chunks[k->next_chunk].client_acked <= n) {
                        const struct replay_chunk *ch = &c->chunks[k->next_chunk++];

                        if (tx_append(k, c->sstream + ch->off, ch->len))
                                return -ENOMEM;
                }
        }
        return 0;
}

int replay_brokers__input(struct replay_brokers *b, uint64_t now, const struct replay_tcp *s)
{
        struct replay_bconn *k = NULL;
        uint32_t off;
        int r;

        for (uint32_t i = b->nconns; i-- > 0;)
                if (bconn_is(b->conns[i], s)) {
                        k = b->conns[i];
                        break;
                }
        if ((s->flags & (TCP_OUT_SYN | TCP_OUT_ACK | TCP_OUT_RST)) == TCP_OUT_SYN) {
                if (addr_listed(b->down, b->ndown, s->family, s->daddr, s->dport)) {
                        b->syn_to_down++;
                        return 0;
                }
                if (k && k->st == B_SYN_RCVD && k->irs == s->seq) {
                        k->need_synack = true; /* our SYN-ACK was lost */
                        return 0;
                }
                if (k && k->st != B_CLOSED && k->irs == s->seq)
                        return 0;
                return bconn_new(b, s, &k); /* a new connection (a reused port too) */
        }
        if (!k || k->st == B_CLOSED) {
                b->stray++;
                return 0;
        }
        if (s->flags & TCP_OUT_RST) {
                k->rst_rcvd = true;
                k->st = B_CLOSED;
                return 0;
        }
        if (!(s->flags & TCP_OUT_ACK))
                return 0;
        if (k->st == B_SYN_RCVD) {
                if (s->ack != k->iss + 1)
                        return 0;
                k->st = B_OPEN;
                k->need_synack = false;
        }
        { /* ACK of what it sent */
                uint32_t a = s->ack - (k->iss + 1);
                uint32_t wnd = k->ws_ok ? (uint32_t)s->win << k->peer_ws : s->win;

                if (seq_lt(k->una, a) && seq_le(a, k->nxt)) {
                        k->una = a;
                        k->dupacks = 0;
                        k->rtx = 0;
                        k->rto_ns = RTO_MIN_NS;
                        k->rto_at = k->una != k->nxt ? now + k->rto_ns : 0;
                        if (k->fin_sent && a == k->tx_len + 1)
                                k->fin_acked = true;
                        k->wnd = wnd;
                } else if (a == k->una) {
                        if (!s->len && !(s->flags & TCP_OUT_FIN) && k->una != k->nxt &&
                            wnd == k->wnd && ++k->dupacks == DUPACK_RTX)
                                k->fast_rtx = true;
                        k->wnd = wnd;
                }
        }
        off = s->seq - (k->irs + 1);
        if (s->len) {
                k->need_ack = true; /* in order or not: out of order asks again */
                if (!k->fin_rcvd && seq_le(off, k->rcv_nxt) && seq_lt(k->rcv_nxt, off + s->len)) {
                        uint32_t skip = k->rcv_nxt - off, n = s->len - skip;

                        if (replay__grow_bytes(&k->rx, &k->rx_cap, k->rcv_nxt + n))
                                return -ENOMEM;
                        memcpy(k->rx + k->rcv_nxt, s->data + skip, n);
                        k->rcv_nxt += n;
                        r = bconn_app(b, k);
                        if (r)
                                return r;
                }
        }
        if (s->flags & TCP_OUT_FIN) {
                k->need_ack = true;
                if (!k->fin_rcvd && off + s->len == k->rcv_nxt) {
                        k->fin_rcvd = true;
                        k->fin_queued = true; /* FIN answered with FIN */
                }
        }
        if (k->fin_rcvd && k->fin_sent && k->fin_acked)
                k->st = B_CLOSED;
        return 0;
}

static void bconn_hdr(const struct replay_brokers *b, const struct replay_bconn *k,
                      const struct replay_wire *w, struct tcp_out_hdr *h, uint32_t off)
{
        memset(h, 0, sizeof(*h));
        h->family = k->family;
        memcpy(h->src_mac, b->mac, 6);
        memcpy(h->dst_mac, w->lb_mac, 6);
        memcpy(h->saddr, k->baddr, 16);
        memcpy(h->daddr, k->laddr, 16);
        h->sport = k->bport;
        h->dport = k->lport;
        h->seq = k->iss + 1 + off;
        h->ack = k->irs + 1 + k->rcv_nxt + (k->fin_rcvd ? 1 : 0);
        h->window = window_field(k->ws_ok, BROKER_WSCALE);
}

static int bconn_send(const struct replay_brokers *b, struct replay_bconn *k,
                      const struct replay_wire *w, uint32_t off, uint32_t n, bool fin)
{
        struct tcp_out_hdr h;
        uint8_t buf[FRAME_BUF];
        uint32_t end = off + n + (fin ? 1 : 0);
        int r;

        bconn_hdr(b, k, w, &h, off);
        r = emit(w, buf, tcp_out__data(buf, sizeof(buf), &h, k->tx + off, n, fin));
        if (r)
                return r;
        k->need_ack = false;
        if (fin)
                k->fin_sent = true;
        if (seq_lt(k->nxt, end))
                k->nxt = end;
        return 0;
}

static uint32_t bconn_mss(const struct replay_bconn *k)
{
        return min32(k->peer_mss ? k->peer_mss : MSS_DEFAULT_V4, BROKER_MSS);
}

/* Sends from pos up to the window (and FIN when due); one: a single segment. */
static int bconn_push(const struct replay_brokers *b, struct replay_bconn *k,
                      const struct replay_wire *w, uint32_t pos, bool one, bool probe)
{
        uint32_t limit = k->una + (k->wnd ? k->wnd : (probe ? 1 : 0));
        int r, sent = 0;

        while (pos < k->tx_len && seq_lt(pos, limit)) {
                uint32_t n = min32(min32(bconn_mss(k), k->tx_len - pos), limit - pos);
                bool fin = k->fin_queued && pos + n == k->tx_len;

                r = bconn_send(b, k, w, pos, n, fin);
                if (r)
                        return r;
                pos += n;
                sent++;
                if (one || fin)
                        return sent;
        }
        if (k->fin_queued && pos == k->tx_len && (!k->fin_sent || seq_lt(pos, k->nxt) || probe)) {
                r = bconn_send(b, k, w, pos, 0, true);
                if (r)
                        return r;
                sent++;
        }
        return sent;
}

static int bconn_pump(struct replay_brokers *b, struct replay_bconn *k, uint64_t now,
                      const struct replay_wire *w)
{
        int r, sent = 0;

        if (k->st == B_SYN_RCVD) {
                struct tcp_out_syn_opts o = {
                    .mss = BROKER_MSS,
                    .wscale = k->ws_ok ? BROKER_WSCALE : TCP_WSCALE_NONE,
                    .sack_ok = k->sack_ok,
                };
                struct tcp_out_hdr h;
                uint8_t buf[FRAME_BUF];

                if (!k->need_synack)
                        return 0;
                bconn_hdr(b, k, w, &h, 0);
                h.seq = k->iss;
                h.window = 0xffff;
                r = emit(w, buf, tcp_out__synack(buf, sizeof(buf), &h, &o));
                if (r)
                        return r;
                k->need_synack = false;
                return 1;
        }
        if (k->st == B_CLOSED) {
                if (!k->need_ack || k->rst_rcvd)
                        return 0;
        } else if (k->rto_at && now >= k->rto_at) {
                if (++k->rtx > RTX_MAX) {
                        k->st = B_CLOSED;
                        return 0;
                }
                r = bconn_push(b, k, w, k->una, false, true);
                if (r < 0)
                        return r;
                sent += r;
                k->rto_ns = min64(2 * k->rto_ns, RTO_MAX_NS);
                k->rto_at = now + k->rto_ns;
                k->fast_rtx = false;
        } else if (k->fast_rtx) {
                k->fast_rtx = false;
                r = bconn_push(b, k, w, k->una, true, false);
                if (r < 0)
                        return r;
                sent += r;
        }
        if (k->st == B_OPEN) {
                uint32_t from = k->fin_sent ? k->tx_len : k->nxt;

                if (seq_lt(from, k->tx_len) || (k->fin_queued && !k->fin_sent)) {
                        r = bconn_push(b, k, w, from, false, false);
                        if (r < 0)
                                return r;
                        sent += r;
                }
                if (k->una != k->nxt && !k->rto_at)
                        k->rto_at = now + k->rto_ns;
        }
        if (k->need_ack) {
                struct tcp_out_hdr h;
                uint8_t buf[FRAME_BUF];

                bconn_hdr(b, k, w, &h, k->nxt);
                r = emit(w, buf, tcp_out__ack(buf, sizeof(buf), &h, NULL, 0));
                if (r)
                        return r;
                k->need_ack = false;
                sent++;
        }
        return sent;
}

int replay_brokers__pump(struct replay_brokers *b, uint64_t now, const struct replay_wire *w)
{
        int sent = 0;

        for (uint32_t i = 0; i < b->nconns; i++) {
                int r = bconn_pump(b, b->conns[i], now, w);

                if (r < 0)
                        return r;
                sent += r;
        }
        return sent;
}

uint64_t replay_brokers__next(const struct replay_brokers *b)
{
        uint64_t t = REPLAY_NEVER;

        for (uint32_t i = 0; i < b->nconns; i++) {
                const struct replay_bconn *k = b->conns[i];

                if (k->need_synack || k->need_ack || k->fast_rtx)
                        return 0;
                if (k->st == B_OPEN &&
                    ((seq_lt(k->nxt, k->tx_len) && seq_lt(k->nxt, k->una + k->wnd)) ||
                     (k->fin_queued && !k->fin_sent && k->nxt == k->tx_len)))
                        return 0;
                if (k->st != B_CLOSED && k->rto_at)
                        t = min64(t, k->rto_at);
        }
        return t;
}

bool replay_brokers__quiet(const struct replay_brokers *b)
{
        for (uint32_t i = 0; i < b->nconns; i++)
                if (b->conns[i]->st != B_CLOSED)
                        return false;
        return true;
}

bool replay_brokers__stream(const struct replay_brokers *b, uint32_t i, const uint8_t **app,
                            uint32_t *app_len, bool *proxy_ok)
{
        const struct replay_bconn *best = NULL;

        for (uint32_t j = 0; j < b->nconns; j++) {
                const struct replay_bconn *k = b->conns[j];

                if (k->match == (int)i &&
                    (!best || k->rcv_nxt - k->app_off >= best->rcv_nxt - best->app_off))
                        best = k;
        }
        if (!best)
                return false;
        *app = best->rx + best->app_off;
        *app_len = best->rcv_nxt - best->app_off;
        *proxy_ok = !b->proxy || best->proxy == 1;
        return true;
}

void replay_brokers__free(struct replay_brokers *b)
{
        for (uint32_t i = 0; i < b->nconns; i++) {
                free(b->conns[i]->rx);
                free(b->conns[i]->tx);
                free(b->conns[i]);
        }
        free(b->conns);
        b->conns = NULL;
        b->nconns = b->capconns = 0;
}
