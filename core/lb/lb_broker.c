/*
 * The broker leg: a local port that brings the broker's answers back to this
 * worker, the SYN and its retries, failover to the pool's next broker, the
 * replay of the buffered client bytes (after a PROXY v2 header when
 * configured) and their retransmission until the broker ACKs them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/lb/lb_conn.h"
#include "core/route/route_tls.h"
#include "mqtt/encode.h"

const struct plan_broker *conn__broker(const struct conn *c, const struct plan *plan)
{
        if (c->pool < 0 || (uint32_t)c->pool >= plan->npools)
                return NULL;
        if (c->broker < 0 || (uint32_t)c->broker >= plan->pools[c->pool].nbrokers)
                return NULL;
        return &plan->pools[c->pool].brokers[c->broker];
}

/* A PROXY v2 TLV at out: type, 16-bit length, value; its length. */
static uint16_t proxy_tlv(uint8_t *out, uint8_t type, const void *v, uint16_t len)
{
        out[0] = type;
        out[1] = (uint8_t)(len >> 8);
        out[2] = (uint8_t)len;
        memcpy(out + 3, v, len);
        return (uint16_t)(3 + len);
}

/* The TLVs of a TLS connection (PROXY v2 2.2.1, 2.2.2): the ALPN protocol
 * (the one an alpn route matched, else the client's first: the broker
 * negotiates, so the choice is not known yet) and the server name. */
static uint16_t proxy_tls_tlvs(const struct conn *c, uint8_t *out)
{
        const struct tls_hello_info *in = conn__hello(c);
        const uint8_t *proto;
        size_t plen;
        uint8_t mlen;
        uint16_t n = 0;

        if (!in)
                return 0;
        if (tls_routes__match_alpn(c->plan->tls_routes, in->alpn, in->alpn_len, &proto, &mlen) !=
            ROUTE_NONE)
                n += proxy_tlv(out + n, PP2_TYPE_ALPN, proto, mlen);
        else if (tls_hello__alpn(c->th, 0, &proto, &plen))
                n += proxy_tlv(out + n, PP2_TYPE_ALPN, proto, (uint16_t)plen);
        if (in->has_sni)
                n += proxy_tlv(out + n, PP2_TYPE_AUTHORITY, in->sni, in->sni_len);
        return n;
}

uint16_t conn__proxy_header(const struct conn *c, uint8_t out[CONN_PROXY_MAX])
{
        static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                        0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
        const struct flow_key *k = &c->f.client;
        uint8_t alen = k->family == 4 ? 4 : 16;
        uint16_t len = (uint16_t)(2 * alen + 4);

        memcpy(out, sig, 12);
        out[12] = 0x21;                         /* version 2, PROXY */
        out[13] = k->family == 4 ? 0x11 : 0x21; /* TCP over IPv4 / IPv6 */
        memcpy(out + 16, k->saddr, alen);
        memcpy(out + 16 + alen, k->daddr, alen);
        out[16 + 2 * alen] = (uint8_t)(k->sport >> 8);
        out[17 + 2 * alen] = (uint8_t)k->sport;
        out[18 + 2 * alen] = (uint8_t)(k->dport >> 8);
        out[19 + 2 * alen] = (uint8_t)k->dport;
        if (c->proto == PLAN_PROTO_TLS)
                len = (uint16_t)(len + proxy_tls_tlvs(c, out + 16 + len));
        out[14] = (uint8_t)(len >> 8);
        out[15] = (uint8_t)len;
        return (uint16_t)(16 + len);
}

struct port_probe {
        struct flow_key key;
        const struct flow_table *flows;
};

static bool port_in_use(void *ctx, uint16_t port)
{
        struct port_probe *pr = ctx;

        pr->key.dport = port;
        return flow_table__lookup(pr->flows, &pr->key, NULL) != NULL;
}

int lb__take_port(struct lb_worker *lw, struct flow *f, const struct plan *plan, uint32_t si,
                  const struct plan_broker *b, uint8_t proto)
{
        const struct plan_source *src = &plan->sources[si];
        struct port_probe pr = {.flows = lw->flows};
        struct rss_leg leg = {.family = b->addr.family, .broker_port = b->port};

        if (!lw->picker_ok[si]) {
                int rc =
                    rss_picker__init(&lw->pickers[si], lw->rss, lw->id, lw->lb->nworkers, lw->queue,
                                     src->port_lo, src->port_hi, (uint32_t)(lw->lb->seed ^ lw->id));

                if (rc == -ENOENT)
                        rc = rss_picker__init(&lw->pickers[si], NULL, lw->id, lw->lb->nworkers,
                                              lw->queue, src->port_lo, src->port_hi,
                                              (uint32_t)(lw->lb->seed ^ lw->id));
                if (rc)
                        return rc;
                lw->picker_ok[si] = true;
        }
        memcpy(leg.broker, b->addr.addr, 16);
        memcpy(leg.local, src->addr.addr, 16);
        flow_key__init(&pr.key, b->addr.family, b->addr.addr, b->port, src->addr.addr, 0);
        pr.key.proto = proto;
        for (int attempt = 0; attempt < 4; attempt++) {
                uint16_t port;
                int rc = rss__pick_port(&lw->pickers[si], &leg, port_in_use, &pr, &port);

                if (rc)
                        return rc;
                pr.key.dport = port;
                rc = flow_table__insert(lw->flows, &pr.key, f, FLOW_LEG_BROKER);
                if (rc != -EEXIST)
                        return rc;
        }
        return -EADDRNOTAVAIL;
}

int lb__pick_source(struct lb_worker *lw, const struct plan *plan, uint8_t family)
{
        uint32_t n = 0, pick;

        for (uint32_t i = 0; i < plan->nsources && i < LB_SOURCES_MAX; i++)
                n += plan->sources[i].addr.family == family;
        if (!n)
                return -1;
        pick = lw->source_rr++ % n;
        for (uint32_t i = 0; i < plan->nsources && i < LB_SOURCES_MAX; i++)
                if (plan->sources[i].addr.family == family && !pick--)
                        return (int)i;
        return -1;
}

static void send_syn(struct lb_worker *lw, struct conn *c)
{
        struct tcp_out_hdr h;
        struct frame_desc d;
        uint8_t *buf = lb__frame(lw, &d);

        if (!buf)
                return;
        conn__broker_hdr(c, &h, c->brk.t.iss);
        h.window =
            window_field(c->cli.t.snd_wnd, 0); /* what the client can take; never scaled in a SYN */
        lb__send(lw, c->brk.t.port, &d,
                 tcp_out__syn(buf, UMEM_FRAME_SIZE, &h,
                              &(struct tcp_out_syn_opts){
                                  .mss = c->cli.t.mss,
                                  .wscale = c->cli.t.rcv_wscale ? LB_WSCALE : TCP_WSCALE_NONE,
                                  .sack_ok = c->cli.t.sack_ok,
                              }));
        c->brk.syn_sent = true;
}

/* c counts in its broker's active connections from the moment it is bound
 * to it (as HAProxy's leastconn counts a connection from its assignment):
 * least-connections then spreads a burst of binds, which would otherwise
 * all see the same counts until the first SYN-ACK and go to one broker. */
static void count(struct lb_worker *lw, struct conn *c, const struct plan_broker *b)
{
        struct lb_broker_stats *bs = &lw->brokers[b->gid];

        if (c->active_counted)
                return;
        __atomic_store_n(&bs->active, bs->active + 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&lw->lb->active[b->gid], 1, __ATOMIC_RELAXED);
        c->active_counted = true;
}

void conn__uncount(struct lb_worker *lw, struct conn *c)
{
        const struct plan_broker *b = conn__broker(c, c->plan);

        if (!c->active_counted)
                return;
        c->active_counted = false;
        if (b) {
                struct lb_broker_stats *bs = &lw->brokers[b->gid];

                __atomic_store_n(&bs->active, bs->active - 1, __ATOMIC_RELAXED);
                __atomic_fetch_sub(&lw->lb->active[b->gid], 1, __ATOMIC_RELAXED);
        }
}

void conn__connect(struct lb_worker *lw, struct conn *c)
{
        const struct plan *plan = c->plan;
        const struct plan_broker *b = conn__broker(c, plan);
        struct lb_nexthop nh;
        int si, rc;

        c->f.state = CONN_CONNECTING;
        c->brk.syn_sent = false;
        c->bstats = b ? &lw->brokers[b->gid] : NULL;
        if (!b) {
                conn__failover(lw, c);
                return;
        }
        count(lw, c, b);
        if (!conn__setup_admit(lw, c, b->gid))
                return; /* queued: lb__setup_pump calls again */
        rc = lw->lb->nexthop(lw->lb->nexthop_ctx, &b->addr, &nh);
        if (rc == -EAGAIN) { /* the control thread is resolving it: try again soon */
                STAT(lw, nexthop_unresolved);
                c->syn_tries++;
                timer__arm(&lw->wheel, &c->f.timer[CONN_T_RTO],
                           lw->now_ns + plan->connect_timeout_ns, CONN_T_RTO);
                return;
        }
        si = rc ? -1 : lb__pick_source(lw, plan, b->addr.family);
        if (si < 0) {
                conn__failover(lw, c);
                return;
        }
        if (!(c->f.legs & (1u << FLOW_LEG_BROKER))) {
                rc = lb__take_port(lw, &c->f, plan, (uint32_t)si, b, 0);
                if (rc) {
                        STAT(lw, ports_exhausted);
                        conn__failover(lw, c);
                        return;
                }
                /* a new 4-tuple, a new ISN; a SYN sent again on the same
                 * 4-tuple keeps it (RFC 9293 3.8.1): the broker may hold the
                 * first one, and a SYN with another ISN would only draw an
                 * ACK for the first (DESIGN.md "The splice must be
                 * invisible to TCP"). RFC 6528: a secret hash of the
                 * 4-tuple plus a clock that ticks every 4 µs (as Linux's),
                 * so that a 4-tuple used again starts past its last
                 * connection's sequence space, which a broker holding that
                 * one in TIME-WAIT then accepts (RFC 9293 3.4.1). */
                c->brk.t.iss = (uint32_t)XXH3_64bits_withSeed(&c->f.broker, sizeof(c->f.broker),
                                                              lw->lb->seed) +
                               (uint32_t)(lw->now_ns >> 12);
        }
        c->brk.t.port = nh.port;
        memcpy(c->brk.t.own_mac, nh.src_mac, 6);
        memcpy(c->brk.t.peer_mac, nh.dst_mac, 6);
        c->brk.t.snd_una = c->brk.t.iss;
        c->brk.t.snd_nxt = c->brk.replay_nxt = c->brk.t.iss + 1;
        c->brk.t.rcv_wscale = c->brk.t.snd_wscale = 0;
        c->brk.prox = 0;
        if (plan->proxy_protocol) {
                uint8_t hdr[CONN_PROXY_MAX];

                c->brk.prox = conn__proxy_header(c, hdr);
        }
        send_syn(lw, c);
        /* the wait doubles per SYN to one broker (RFC 6298 5.5's backoff):
         * 250 ms, 500 ms, 1 s, ... with the default connect_timeout */
        timer__arm(&lw->wheel, &c->f.timer[CONN_T_RTO],
                   lw->now_ns + (plan->connect_timeout_ns << (c->syn_tries < 6 ? c->syn_tries : 6)),
                   CONN_T_RTO);
        c->syn_tries++;
}

void conn__failover(struct lb_worker *lw, struct conn *c)
{
        const struct plan *plan = c->plan;
        const struct plan_broker *b = conn__broker(c, plan);
        uint32_t n =
            c->pool >= 0 && (uint32_t)c->pool < plan->npools ? plan->pools[c->pool].nbrokers : 0;

        conn__setup_done(lw, c); /* this broker's slot */
        conn__uncount(lw, c);    /* and its count */
        if (b)
                __atomic_store_n(&lw->brokers[b->gid].failures, lw->brokers[b->gid].failures + 1,
                                 __ATOMIC_RELAXED);
        if (c->f.legs & (1u << FLOW_LEG_BROKER))
                flow__remove_leg(lw->flows, &c->f, FLOW_LEG_BROKER);
        timer__cancel(&lw->wheel, &c->f.timer[CONN_T_RTO]);
        c->syn_tries = 0;
        if (!n || c->tried >= n) {
                STAT(lw, no_broker);
                conn__binder(c)->refuse(lw, c, LB_VERDICT_NO_BROKER);
                return;
        }
        STAT(lw, broker_failovers);
        c->broker = (int16_t)((c->broker + 1) % (int)n);
        c->tried++;
        conn__connect(lw, c);
}

/* Bytes [from, from + n) of our stream to the broker (the PROXY header, then
 * the buffered client stream) copied to out. */
static void replay_bytes(const struct conn *c, uint32_t off, uint8_t *out, uint32_t n)
{
        if (off < c->brk.prox) {
                uint8_t hdr[CONN_PROXY_MAX];
                uint32_t k = c->brk.prox - off < n ? c->brk.prox - off : n;

                conn__proxy_header(c, hdr);
                memcpy(out, hdr + off, k);
                out += k;
                off += k;
                n -= k;
        }
        if (n)
                memcpy(out, c->buf + (off - c->brk.prox), n);
}

void conn__replay_push(struct lb_worker *lw, struct conn *c)
{
        uint32_t wnd_end = c->brk.t.snd_una + c->brk.t.snd_wnd, mss = c->brk.t.mss;

        /* the cursor within the replay, or nothing to send from the buffer */
        if (!seq_in(c->brk.replay_nxt, c->brk.t.iss, c->brk.replay_end + 1))
                return;

        if (mss > c->cli.t.mss)
                mss = c->cli.t.mss;
        while (seq_lt(c->brk.replay_nxt, c->brk.replay_end) ||
               (c->brk.replay_fin && c->brk.replay_nxt == c->brk.replay_end)) {
                uint32_t n = c->brk.replay_end - c->brk.replay_nxt;
                struct tcp_out_hdr h;
                struct frame_desc d;
                uint8_t *buf;
                bool fin;

                if (n > mss)
                        n = mss;
                if (n && seq_le(wnd_end, c->brk.replay_nxt)) {
                        /* window closed: one byte as a probe when nothing is in flight */
                        if (c->brk.replay_nxt != c->brk.t.snd_una)
                                break;
                        n = 1;
                } else if (n && seq_lt(wnd_end, c->brk.replay_nxt + n)) {
                        n = wnd_end - c->brk.replay_nxt;
                }
                fin = c->brk.replay_fin && c->brk.replay_nxt + n == c->brk.replay_end;
                buf = lb__frame(lw, &d);
                if (!buf)
                        break;
                conn__broker_hdr(c, &h, c->brk.replay_nxt);
                replay_bytes(c, c->brk.replay_nxt - c->brk.t.iss - 1,
                             buf + tcp_out__data_offset(&h), n);
                lb__send(lw, c->brk.t.port, &d,
                         tcp_out__data(buf, UMEM_FRAME_SIZE, &h, buf + tcp_out__data_offset(&h), n,
                                       fin));
                c->brk.replay_nxt += n + (fin ? 1 : 0);
                c->brk.t.snd_nxt = seq_max(c->brk.t.snd_nxt, c->brk.replay_nxt);
                if (fin) {
                        c->fin_c2s = true;
                        c->fin_c2s_end = c->brk.replay_nxt;
                        break;
                }
        }
        if (seq_lt(c->brk.t.snd_una, c->brk.replay_end + (c->brk.replay_fin ? 1 : 0)) &&
            !timer__armed(&c->f.timer[CONN_T_RTO]))
                conn__arm_rto(lw, c);
}

/* The replay again from the oldest byte the broker has not ACKed (go back
 * N: the replay is a few segments), after a timeout or three duplicate
 * ACKs. */
void conn__replay_again(struct lb_worker *lw, struct conn *c)
{
        STAT(lw, retransmits);
        c->brk.replay_nxt = c->brk.t.snd_una;
        c->brk.dupacks = 0;
        conn__replay_push(lw, c);
}

/* The broker's SYN-ACK: the leg is up; replay and splice from here on. */
static void established(struct lb_worker *lw, struct conn *c, const struct worker_pkt *p,
                        const struct seg *s)
{
        const struct plan *plan = c->plan;
        const struct plan_broker *b = conn__broker(c, plan);
        struct tcp_syn_opts o;

        if (tcp_opts__parse(s->tcp, (size_t)(p->m.end - p->m.l4), &o))
                memset(&o, 0, sizeof(o)), o.wscale = TCP_WSCALE_NONE;
        c->brk.t.irs = s->seq;
        c->brk.synack_rcvd = true;
        c->brk.t.rcv_nxt = c->brk.t.rcv_acked = s->seq + 1;
        c->brk.t.mss = o.mss_ok && o.mss ? o.mss : (c->f.broker.family == 4 ? 536 : 1220);
        if (o.wscale != TCP_WSCALE_NONE && c->cli.t.rcv_wscale) {
                c->brk.t.snd_wscale = o.wscale;
                c->brk.t.rcv_wscale = LB_WSCALE;
        }
        c->brk.t.sack_ok = o.sack_ok && c->cli.t.sack_ok;
        c->brk.t.snd_wnd = s->win; /* a SYN's window is never scaled */
        c->brk.t.snd_una = s->ack;
        c->brk.replay_end = c->brk.t.iss + 1 + c->brk.prox + c->buf_len;
        c->off_c2s = c->brk.t.iss + 1 + c->brk.prox - (c->cli.t.irs + 1);
        if (!conn__prefix_start(c)) {
                STAT(lw, no_memory);
                conn__rst_client(lw, c);
                conn__rst_broker(lw, c);
                conn__end(lw, c, LB_VERDICT_NO_BROKER);
                return;
        }
        if (!c->pre.consume)
                conn__map_s2c(c);
        c->f.state = CONN_SPLICED;
        c->rto_tries = 0;
        timer__cancel(&lw->wheel, &c->f.timer[CONN_T_RTO]);
        STAT(lw, spliced);
        if (b) /* counted in its active connections since the bind (count) */
                __atomic_store_n(&lw->brokers[b->gid].total, lw->brokers[b->gid].total + 1,
                                 __ATOMIC_RELAXED);
        timer__arm(&lw->wheel, &c->f.timer[CONN_T_LIFE], lw->now_ns + plan->idle_timeout_ns,
                   CONN_T_LIFE);
        /* the first replayed segment ACKs the SYN-ACK; with nothing to
         * replay (cannot happen: the CONNECT is there), a bare ACK */
        if (c->brk.replay_end == c->brk.replay_nxt && !c->brk.replay_fin)
                conn__send_broker_ack(lw, c);
        conn__replay_push(lw, c);
}

bool conn__broker_retry(struct lb_worker *lw, struct conn *c)
{
        if (!c->buf || !seq_lt(c->brk.t.snd_una, c->brk.replay_end) ||
            c->brk.t.rcv_nxt != c->brk.t.irs + 1 || c->fin_s2c ||
            c->leg_retries >= CONN_LEG_RETRIES)
                return false;
        c->leg_retries++;
        STAT(lw, broker_leg_retries);
        if (c->f.legs & (1u << FLOW_LEG_BROKER))
                flow__remove_leg(lw->flows, &c->f, FLOW_LEG_BROKER);
        for (int i = 0; i < FLOW_TIMERS; i++)
                timer__cancel(&lw->wheel, &c->f.timer[i]);
        conn__prefix_free(c);
        memset(&c->pre, 0, sizeof(c->pre));
        memset(&c->brk, 0, sizeof(c->brk));
        c->brk.replay_fin = c->cli.fin_rcvd;
        c->off_c2s = c->off_s2c = 0;
        c->fin_c2s = false;
        c->syn_tries = c->rto_tries = 0;
        c->f.state = CONN_CONNECTING;
        conn__connect(lw, c);
        return true;
}

enum worker_verdict lb__broker_synack(struct lb_worker *lw, struct conn *c, struct worker_pkt *p)
{
        struct seg s;

        if (!c->brk.syn_sent)
                return WORKER_DROP;
        seg__read(p, &s);
        if (!(s.flags & TCP_OUT_ACK))
                return WORKER_DROP;
        if (s.ack != c->brk.t.iss + 1) {
                /* RFC 9293 3.10.7.3, SYN-SENT: an unacceptable ACK draws
                 * <SEQ=SEG.ACK><CTL=RST> (none for an RST). This is the
                 * broker still holding the 4-tuple from an earlier
                 * connection: in TIME-WAIT (Mosquitto closes first on a
                 * DISCONNECT) it answers a SYN it cannot take with an ACK
                 * of the old one. The RST clears it, and the SYN sent
                 * again gets through instead of failing over. */
                if (!(s.flags & TCP_OUT_RST)) {
                        STAT(lw, broker_stale_acks);
                        conn__rst_broker_at(lw, c, s.ack);
                }
                return WORKER_DROP;
        }
        if (s.flags & TCP_OUT_RST) {
                conn__failover(lw, c);
                return WORKER_DROP;
        }
        if ((s.flags & TCP_OUT_SYN) && !(s.flags & TCP_OUT_FIN))
                established(lw, c, p, &s);
        return WORKER_DROP;
}
