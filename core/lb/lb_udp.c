/*
 * UDP listeners (DESIGN.md "Other listeners"): a flow per client
 * address:port, the backend chosen by the pool's policy on the client's
 * address (Maglev: every datagram of one source IP reaches one backend,
 * whatever its port), full NAT both ways: toward the backend from one of the
 * balancer's source addresses and a local port of its range, back to the
 * client from the listener's address and port.
 *
 * A flow lives in the worker's flow table beside the TCP connections (its
 * keys carry FLOW_UDP), under both its keys: the client's and the backend's
 * reply. It ends after connections.udp_idle_timeout without a datagram
 * either way. The table holds at most connections.udp_max_flows of them per
 * worker: past it a new client's datagrams are dropped and counted, and the
 * flows already made carry on.
 *
 * Backends that leave: an ICMP destination unreachable quoting a datagram
 * of a flow marks its backend (lb.udp_down_ns, by gid); the control thread
 * takes it out of its pool in the next plan for connections.udp_down_hold.
 * A flow checks its backend against each new plan at its next datagram: one
 * whose source the pool now maps elsewhere moves (a new flow to the new
 * backend, counted), the others stay: Maglev moves only the sources of the
 * backend that left, and moves them back when it returns.
 *
 * MQTT-SN listeners are UDP listeners whose datagrams are read
 * (mqttsn/reader.h): a malformed one is counted and dropped, never
 * forwarded. A flow is bound by the client id of its CONNECT (the pool's
 * policy on the client id: Maglev, so the same client id reaches the same
 * gateway from any address or port, across restarts too), by the client's
 * address until one comes (SEARCHGW, a PUBLISH from an address whose NAT
 * mapping changed); a CONNECT whose client id the pool maps to another
 * gateway than its flow's moves the flow there.
 */
#include <string.h>

#include "core/lb/lb_conn.h"
#include "core/tcp/csum.h"
#include "mqttsn/reader.h"

/* A UDP flow: the head of a flow-table slot (struct conn's size). */
struct udp_flow {
        struct flow
            f; /* f.client: client -> listener; f.broker: backend -> source; f.state CONN_UDP */
        const struct plan *plan; /* referenced for the flow's life */
        int16_t pool, broker;    /* in plan */
        uint32_t gid;            /* the backend's counters */
        uint16_t cli_port;       /* the port client frames arrive on */
        uint16_t brk_port;       /* the port toward the backend */
        uint8_t cli_own_mac[6], cli_peer_mac[6];
        uint8_t brk_own_mac[6], brk_peer_mac[6];
        uint8_t nvlans;
        uint16_t vlan_tpid[TCP_OUT_VLANS], vlan_tci[TCP_OUT_VLANS];
        bool sn;         /* an MQTT-SN listener's flow: datagrams are read */
        uint8_t cid_len; /* MQTT-SN: the client id it is bound by; 0: by address */
        uint8_t cid[MQTTSN_CLIENT_ID_MAX];
        uint64_t last_ns;
};

/* The client id a flow is bound by, as the reader gives one. */
static struct mqttsn_str cid_of(const struct udp_flow *u)
{
        return (struct mqttsn_str){u->cid_len ? u->cid : NULL, u->cid_len};
}

_Static_assert(sizeof(struct udp_flow) <= sizeof(struct conn), "a UDP flow fits a slot");

static struct udp_flow *udp_of(struct flow *f)
{
        return (struct udp_flow *)f;
}

static const struct plan_broker *backend(const struct udp_flow *u)
{
        const struct plan *plan = u->plan;

        if (u->pool < 0 || (uint32_t)u->pool >= plan->npools ||
            (uint32_t)u->broker >= plan->pools[u->pool].nbrokers)
                return NULL;
        return &plan->pools[u->pool].brokers[u->broker];
}

static void end_flow(struct lb_worker *lw, struct udp_flow *u)
{
        for (int i = 0; i < FLOW_TIMERS; i++)
                timer__cancel(&lw->wheel, &u->f.timer[i]);
        plan__put(u->plan);
        flow__free(lw->flows, &u->f);
        STAT_DEC(lw, udp_flows_active);
}

/* The backend of a client (its address; MQTT-SN: its client id when cid)
 * in plan's pool (POOL_NONE: none up). */
static int pick(const struct plan *plan, int pool, const struct flow_key *k,
                const struct mqttsn_str *cid)
{
        struct pool_key key = {.addr = k->saddr, .addr_len = k->family == 4 ? 4 : 16};

        if (pool < 0 || (uint32_t)pool >= plan->npools)
                return POOL_NONE;
        if (cid && cid->len) {
                key.client_id = cid->ptr;
                key.client_id_len = cid->len;
        }
        return pool__select(plan->pools[pool].pool, &key);
}

/* A new flow for the client of k (to listener l), its backend picked, its
 * reply key taken; NULL (counted) when it cannot be made. */
static struct udp_flow *flow_new(struct lb_worker *lw, const struct worker_pkt *p,
                                 const struct flow_key *k, const struct plan_listener *l,
                                 const struct mqttsn_str *cid)
{
        const struct plan *plan = lb__plan(lw->lb);
        const struct plan_broker *b;
        struct lb_nexthop nh;
        struct udp_flow *u;
        int bi, si, rc;

        if (lw->stats.udp_flows_active >= plan->udp_max_flows) {
                STAT(lw, udp_flows_full);
                return NULL;
        }
        bi = pick(plan, l->pool, k, cid);
        if (bi == POOL_NONE) {
                STAT(lw, udp_no_backend);
                return NULL;
        }
        b = &plan->pools[l->pool].brokers[bi];
        rc = lw->lb->nexthop(lw->lb->nexthop_ctx, &b->addr, &nh);
        if (rc) {
                STAT(lw, nexthop_unresolved); /* resolving it: a datagram later goes */
                return NULL;
        }
        si = lb__pick_source(lw, plan, b->addr.family);
        if (si < 0) {
                STAT(lw, udp_no_backend);
                return NULL;
        }
        u = (struct udp_flow *)flow__alloc(lw->flows);
        if (!u) {
                STAT(lw, udp_flows_full);
                return NULL;
        }
        if (flow_table__insert(lw->flows, k, &u->f, FLOW_LEG_CLIENT)) {
                flow__free(lw->flows, &u->f);
                STAT(lw, udp_flows_full);
                return NULL;
        }
        if (lb__take_port(lw, &u->f, plan, (uint32_t)si, b, FLOW_UDP)) {
                flow__free(lw->flows, &u->f);
                STAT(lw, ports_exhausted);
                return NULL;
        }
        u->f.state = CONN_UDP;
        u->plan = plan__get(plan);
        u->pool = l->pool;
        u->broker = (int16_t)bi;
        u->gid = b->gid;
        u->cli_port = p->in_port;
        memcpy(u->cli_own_mac, p->data, 6);
        memcpy(u->cli_peer_mac, p->data + 6, 6);
        u->nvlans = lb__read_vlans(p, u->vlan_tpid, u->vlan_tci);
        u->sn = l->proto == PLAN_PROTO_MQTTSN;
        u->cid_len = cid && cid->len <= MQTTSN_CLIENT_ID_MAX ? (uint8_t)cid->len : 0;
        if (u->cid_len)
                memcpy(u->cid, cid->ptr, u->cid_len);
        u->brk_port = nh.port;
        memcpy(u->brk_own_mac, nh.src_mac, 6);
        memcpy(u->brk_peer_mac, nh.dst_mac, 6);
        u->last_ns = lw->now_ns;
        timer__arm(&lw->wheel, &u->f.timer[CONN_T_LIFE], lw->now_ns + plan->udp_idle_timeout_ns,
                   CONN_T_LIFE);
        STAT(lw, udp_flows_active);
        STAT(lw, udp_flows_total);
        return u;
}

/*
 * A flow made under an older plan, at its next datagram: still its source's
 * backend in the current plan (it follows the plan), or not any more (its
 * backend left, or came back: ended, counted; the caller makes a new one).
 */
static bool flow_still_fits(struct lb_worker *lw, struct udp_flow *u)
{
        const struct plan *now = lb__plan(lw->lb);
        const struct plan_broker *old = backend(u);
        const struct flow_key *k = &u->f.client;
        /* the listener's pool now: a reload may point it elsewhere */
        const struct plan_listener *l = plan__listener(now, k->family, k->daddr, k->dport);
        struct mqttsn_str cid = cid_of(u);
        int pool = l ? l->pool : ROUTE_NONE, bi = pick(now, pool, k, &cid);

        if (!old || bi == POOL_NONE || strcmp(now->pools[pool].brokers[bi].name, old->name)) {
                STAT(lw, udp_flows_moved);
                end_flow(lw, u);
                return false;
        }
        plan__put(u->plan);
        u->plan = plan__get(now);
        u->pool = (int16_t)pool;
        u->broker = (int16_t)bi;
        u->gid = now->pools[pool].brokers[bi].gid;
        return true;
}

static void count_datagram(struct lb_worker *lw, uint32_t gid, bool to_backend, uint32_t n)
{
        struct lb_broker_stats *bs = &lw->brokers[gid];

        if (to_backend) {
                __atomic_store_n(&bs->datagrams_to, bs->datagrams_to + 1, __ATOMIC_RELAXED);
                __atomic_store_n(&bs->bytes_to, bs->bytes_to + n, __ATOMIC_RELAXED);
        } else {
                __atomic_store_n(&bs->datagrams_from, bs->datagrams_from + 1, __ATOMIC_RELAXED);
                __atomic_store_n(&bs->bytes_from, bs->bytes_from + n, __ATOMIC_RELAXED);
        }
}

/* Whether the datagram arrived whole: its IPv4 header's checksum, and its
 * UDP checksum (optional over IPv4: 0 is none; required over IPv6). When
 * the datagram is rebuilt with a new checksum, which would otherwise turn
 * one corrupted on the way into a good one. */
static bool checksums_ok(const struct worker_pkt *p)
{
        const uint8_t *ip = p->data + p->m.l3, *udp = p->data + p->m.l4;
        uint32_t l4len = (uint32_t)(p->m.end - p->m.l4);
        uint64_t sum;

        if (p->m.family == 4) {
                if (csum__fold(csum__partial(ip, (size_t)(ip[0] & 0x0f) * 4, 0)))
                        return false;
                if (!udp[6] && !udp[7])
                        return true;
                sum = csum__pseudo4(ip + 12, ip + 16, IPPROTO_UDP_, (uint16_t)l4len);
        } else {
                sum = csum__pseudo6(ip + 8, ip + 24, IPPROTO_UDP_, l4len);
        }
        return !csum__fold(csum__partial(udp, l4len, sum));
}

/*
 * The common case: the same family and the same number of VLAN tags either
 * side, so every header keeps its place. MACs, tags, addresses and ports are
 * written over the old ones and the UDP checksum is updated for them (RFC
 * 1624: a checksum that was wrong stays wrong, for the receiver to drop;
 * 0, none, stays 0 over IPv4), the IPv4 header's checksum is recomputed
 * after it was checked (20 bytes), the TTL / hop limit is ours: the payload
 * is not read.
 */
static bool in_place(struct lb_worker *lw, struct worker_pkt *p, const struct tcp_out_hdr *h)
{
        uint8_t *d = p->data, *ip = d + p->m.l3, *udp = d + p->m.l4;
        bool v4 = h->family == 4;
        size_t alen = v4 ? 4 : 16, ihl = v4 ? (size_t)(ip[0] & 0x0f) * 4 : 40;
        uint8_t *sa = ip + (v4 ? 12 : 8), *da = ip + (v4 ? 16 : 24);
        uint16_t check, sp = htons(h->sport), dp = htons(h->dport), osp, odp;

        if (v4 && csum__fold(csum__partial(ip, ihl, 0))) {
                STAT(lw, udp_bad_checksum);
                return false;
        }
        memcpy(d, h->dst_mac, 6);
        memcpy(d + 6, h->src_mac, 6);
        for (unsigned i = 0; i < h->n_vlans; i++) {
                packet__put16(d + 12 + 4 * i, h->vlan_tpid[i]);
                packet__put16(d + 14 + 4 * i, h->vlan_tci[i]);
        }
        memcpy(&check, udp + 6, 2);
        memcpy(&osp, udp, 2);
        memcpy(&odp, udp + 2, 2);
        if (check || !v4) {
                check = csum__replace_addr(check, sa, h->saddr, alen);
                check = csum__replace_addr(check, da, h->daddr, alen);
                check = csum__replace16(check, osp, sp);
                check = csum__replace16(check, odp, dp);
                if (!check)
                        check = 0xffff;
        }
        memcpy(sa, h->saddr, alen);
        memcpy(da, h->daddr, alen);
        memcpy(udp, &sp, 2);
        memcpy(udp + 2, &dp, 2);
        memcpy(udp + 6, &check, 2);
        if (v4) {
                ip[8] = TCP_OUT_TTL_DEFAULT;
                memset(ip + 10, 0, 2);
                check = csum__fold(csum__partial(ip, ihl, 0));
                memcpy(ip + 10, &check, 2);
        } else {
                ip[7] = TCP_OUT_TTL_DEFAULT;
        }
        return true;
}

/* Rewrites the datagram in its frame with h's headers: in place when the
 * headers keep their size, else rebuilt (another family, other tags: the
 * payload moves and gets a new checksum, so the old one is checked first);
 * false (counted) when it arrived damaged or does not fit the frame. */
static bool rewrite(struct lb_worker *lw, struct worker_pkt *p, const struct tcp_out_hdr *h)
{
        uint32_t n = (uint32_t)(p->m.end - p->m.payload);
        int len;

        if (p->m.family == h->family && (p->m.l3 - ETH_HLEN_) / 4 == h->n_vlans)
                return in_place(lw, p, h);
        if (!checksums_ok(p)) {
                STAT(lw, udp_bad_checksum);
                return false;
        }
        len = udp_out__datagram(p->data, lb__frame_room(lw, p), h, p->data + p->m.payload, n);

        if (len < 0) {
                STAT(lw, udp_too_big);
                return false;
        }
        p->d.len = (uint32_t)len;
        return true;
}

/* client -> listener: to the backend, from the flow's source address and port. */
static enum worker_verdict to_backend(struct lb_worker *lw, struct udp_flow *u,
                                      struct worker_pkt *p)
{
        const struct plan_broker *b = backend(u);
        const struct flow_key *r = &u->f.broker; /* backend -> source */
        struct tcp_out_hdr h = {.family = r->family};
        uint32_t n = (uint32_t)(p->m.end - p->m.payload);

        if (!b)
                return WORKER_DROP;
        memcpy(h.src_mac, u->brk_own_mac, 6);
        memcpy(h.dst_mac, u->brk_peer_mac, 6);
        memcpy(h.saddr, r->daddr, 16);
        memcpy(h.daddr, r->saddr, 16);
        h.sport = r->dport;
        h.dport = r->sport;
        if (!rewrite(lw, p, &h))
                return WORKER_DROP;
        u->last_ns = lw->now_ns;
        count_datagram(lw, u->gid, true, n);
        STAT(lw, udp_to_backends);
        p->out_port = u->brk_port;
        return WORKER_TX;
}

/* backend -> source: back to the client, from the listener's address and port. */
static enum worker_verdict to_client(struct lb_worker *lw, struct udp_flow *u, struct worker_pkt *p)
{
        const struct flow_key *k = &u->f.client; /* client -> listener */
        struct tcp_out_hdr h = {.family = k->family, .n_vlans = u->nvlans};
        uint32_t n = (uint32_t)(p->m.end - p->m.payload);

        memcpy(h.src_mac, u->cli_own_mac, 6);
        memcpy(h.dst_mac, u->cli_peer_mac, 6);
        memcpy(h.vlan_tpid, u->vlan_tpid, sizeof(h.vlan_tpid));
        memcpy(h.vlan_tci, u->vlan_tci, sizeof(h.vlan_tci));
        memcpy(h.saddr, k->daddr, 16);
        memcpy(h.daddr, k->saddr, 16);
        h.sport = k->dport;
        h.dport = k->sport;
        if (!rewrite(lw, p, &h))
                return WORKER_DROP;
        u->last_ns = lw->now_ns;
        count_datagram(lw, u->gid, false, n);
        STAT(lw, udp_to_clients);
        p->out_port = u->cli_port;
        return WORKER_TX;
}

/*
 * Whether an ICMP error about flow u can be believed. Anyone can send one,
 * and only the flow's local port (of a range of thousands) is not known in
 * advance: a host on the clients' side forging them could take every
 * backend out. So: a port unreachable (ICMPv4 code 3, ICMPv6 code 4) only
 * the backend's own host sends: from the backend's address; any other
 * (host, network unreachable: a router's) only when it came in on the port
 * toward the backend, and that is not the clients' port too (one-armed).
 */
static bool icmp_trusted(const struct worker_pkt *p, const struct udp_flow *u)
{
        const uint8_t *ip = p->data + p->m.l3;
        uint8_t code = p->data[p->m.l4 + 1];
        bool v4 = p->m.family == 4;

        if (code == (v4 ? 3 : 4))
                return !memcmp(ip + (v4 ? 12 : 8), u->f.broker.saddr, v4 ? 4 : 16);
        return p->in_port == u->brk_port && u->brk_port != u->cli_port;
}

/* An ICMP destination unreachable quoting a datagram of ours: its backend
 * is marked for the control thread, its flow ends (the next datagram picks
 * again, from the next plan on without that backend). */
static enum worker_verdict icmp_error(struct lb_worker *lw, struct worker_pkt *p)
{
        const uint8_t *in = p->data + p->m.payload; /* the quoted IP header */
        struct flow_key k;
        enum flow_leg leg;
        struct flow *f;

        /* the quoted datagram went source -> backend: its reply key is
         * backend -> source, as m's ports already are */
        if (p->m.family == 4)
                flow_key__init(&k, 4, in + 16, p->m.sport, in + 12, p->m.dport);
        else
                flow_key__init(&k, 6, in + 24, p->m.sport, in + 8, p->m.dport);
        k.proto = FLOW_UDP;
        f = flow_table__lookup(lw->flows, &k, &leg);
        if (!f || leg != FLOW_LEG_BROKER || f->state != CONN_UDP || !icmp_trusted(p, udp_of(f))) {
                STAT(lw, udp_stray);
                return WORKER_DROP;
        }
        STAT(lw, udp_icmp_unreachable);
        __atomic_store_n(&lw->lb->udp_down_ns[udp_of(f)->gid], lw->now_ns, __ATOMIC_RELAXED);
        end_flow(lw, udp_of(f));
        return WORKER_DROP;
}

/*
 * An MQTT-SN datagram from a client: read (false: malformed, counted, to be
 * dropped); *cid the client id of a CONNECT (also inside an encapsulation),
 * else empty.
 */
static bool sn_read(struct lb_worker *lw, const struct worker_pkt *p, struct mqttsn_str *cid)
{
        struct mqttsn_msg m;
        enum mqttsn_err e =
            mqttsn__read(p->data + p->m.payload, (size_t)(p->m.end - p->m.payload), &m);

        cid->ptr = NULL;
        cid->len = 0;
        if (e != MQTTSN_OK) {
                STAT(lw, mqttsn_malformed);
                STAT(lw, mqttsn_malformed_by[e]);
                return false;
        }
        if (m.type == MQTTSN_CONNECT) {
                STAT(lw, mqttsn_connects);
                *cid = m.client_id;
        }
        return true;
}

/* A CONNECT on a flow: when its client id maps to another gateway than the
 * flow's (it was bound by address, or by another id), the flow moves. */
static bool sn_rebind(struct lb_worker *lw, struct udp_flow *u, const struct mqttsn_str *cid)
{
        int bi;

        if (cid->len == u->cid_len && !memcmp(cid->ptr, u->cid, u->cid_len))
                return true;
        bi = pick(u->plan, u->pool, &u->f.client, cid);
        if (bi == u->broker && cid->len <= MQTTSN_CLIENT_ID_MAX) {
                u->cid_len = (uint8_t)cid->len;
                memcpy(u->cid, cid->ptr, u->cid_len);
                return true;
        }
        STAT(lw, mqttsn_rebound);
        end_flow(lw, u);
        return false;
}

enum worker_verdict lb__udp(struct lb_worker *lw, struct worker_pkt *p)
{
        const struct plan_listener *l;
        struct mqttsn_str cid = {0};
        uint8_t keep[MQTTSN_CLIENT_ID_MAX];
        struct udp_flow *u;
        enum flow_leg leg;
        struct flow_key k;
        struct flow *f;

        if (p->m.proto != IPPROTO_UDP_)
                return icmp_error(lw, p);
        flow_key__from_packet(&k, p->data, &p->m);
        f = flow_table__lookup(lw->flows, &k, &leg);
        if (f && f->state == CONN_UDP) {
                u = udp_of(f);
                if (leg == FLOW_LEG_BROKER)
                        return to_client(lw, u, p);
                if (u->sn && !sn_read(lw, p, &cid))
                        return WORKER_DROP;
                if (cid.len) {
                        if ((u->plan == lb__plan(lw->lb) || flow_still_fits(lw, u)) &&
                            sn_rebind(lw, u, &cid))
                                return to_backend(lw, u, p);
                } else {
                        /* should a new plan move it, the new flow keeps its
                         * client id (copied first: the slot is freed) */
                        memcpy(keep, u->cid, u->cid_len);
                        cid = (struct mqttsn_str){u->cid_len ? keep : NULL, u->cid_len};
                        if (u->plan == lb__plan(lw->lb) || flow_still_fits(lw, u))
                                return to_backend(lw, u, p);
                }
                l = plan__listener(lb__plan(lw->lb), k.family, k.daddr, k.dport);
        } else if (f) {
                return WORKER_DROP; /* not a UDP flow: cannot be (the keys differ) */
        } else {
                l = plan__listener(lb__plan(lw->lb), k.family, k.daddr, k.dport);
                if (l && l->proto == PLAN_PROTO_MQTTSN && !sn_read(lw, p, &cid))
                        return WORKER_DROP;
        }
        if (!l || (l->proto != PLAN_PROTO_UDP && l->proto != PLAN_PROTO_MQTTSN)) {
                STAT(lw, udp_stray);
                return WORKER_DROP;
        }
        u = flow_new(lw, p, &k, l, &cid);
        return u ? to_backend(lw, u, p) : WORKER_DROP;
}

void lb__udp_timer(struct lb_worker *lw, struct flow *f)
{
        struct udp_flow *u = udp_of(f);
        uint64_t idle = u->plan->udp_idle_timeout_ns;

        if (lw->now_ns - u->last_ns >= idle) {
                STAT(lw, udp_idle_expired);
                end_flow(lw, u);
                return;
        }
        timer__arm(&lw->wheel, &u->f.timer[CONN_T_LIFE], u->last_ns + idle, CONN_T_LIFE);
}

void lb__udp_close(struct lb_worker *lw, struct flow *f)
{
        end_flow(lw, udp_of(f));
}
