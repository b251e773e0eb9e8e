/*
 * Offline replay (see replay.h), its second step: the connections
 * replay_capture.c extracted from a capture, played through the balancer's
 * workers (one by default), each over a memory port, on a virtual clock.
 *
 * The event loop. Each iteration: start the clients whose SYN is due, let
 * every emulated peer send what is due (into the RX queue of the worker a
 * hash of the frame's addresses and ports picks, as RSS would), run rounds
 * of every worker until none takes a frame in, and hand every frame the
 * balancer sent to the peer it is addressed to (a client by the capture's
 * address:port, a broker by any broker address:port of the plan; anything
 * else is counted). When frames moved, the clock advances by one link delay
 * (so every exchange takes time, and the output capture is ordered); when
 * nothing moved, it jumps to the next thing a peer has to do, but while any
 * connection is open by no more than a step (1 ms, doubling while idle up to
 * 64 ms) so that the balancer's own timers (retransmission, bind timeout)
 * fire. It ends when every client is done, every broker connection closed
 * and the balancer holds no connection, or at the latest `tail` after the
 * capture's last packet, or after max_steps iterations.
 *
 * Every frame the balancer sends is checked (IPv4 and TCP checksums, the
 * source a peer expects) before a peer sees it; a bad one is counted and
 * dropped, as a real peer would.
 *
 * Owns the UMEM, the frame pool, the balancer and the peers for one run.
 *
 * Why 850 lines: the event loop, its set-up and the results share one run
 * state; reading the capture is replay_capture.c.
 */
#include "core/replay/replay.h"

#include "mqtt/parser.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "core/tcp/csum.h"
#include "core/replay/replay_peer.h"
#include "xsk/mem_port.h"
#include "core/tcp/packet.h"

#define REPLAY_FRAMES   16384u
#define LINK_DELAY_NS   20000ull /* 20 us per hop: every exchange takes time */
#define STEP_MIN_NS     1000000ull
#define STEP_MAX_NS     64000000ull
#define TAIL_DEFAULT_NS 120000000000ull
#define STEPS_DEFAULT   50000000ull
#define SEED_DEFAULT    0x6d7174746c62ull /* "mqttlb": runs are deterministic */

static const uint8_t LB_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t GW_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};
static const uint8_t BROKER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x02, 0x02};

/* ---- the run ------------------------------------------------------------- */

/* One balancer worker over its memory port (a queue of the NIC). */
struct run_worker {
        struct frame_cache cache;
        struct port *port;
        struct worker w;
        struct lb_worker *lw;
};

struct run {
        const struct replay_capture *cap;
        const struct replay_opts *o;
        const struct plan *plan;
        struct umem_area umem;
        struct frame_pool *pool;
        struct run_worker *wk; /* nw of them */
        uint32_t nw;
        struct handover_ring *rings[WORKER_MAX][WORKER_MAX]; /* [from][to] */
        atomic_bool stop;
        struct worker_source sources[WORKER_SOURCES_MAX];
        struct lb *lb;
        struct replay_client *clients;
        uint32_t nstarted;
        int32_t *port_head, *port_next; /* clients by their port, newest first */
        uint32_t *active;               /* started clients not done yet */
        uint32_t nactive;
        bool *is_active;
        struct replay_brokers brokers;
        struct replay_wire wire;
        pcap_t *dead;
        pcap_dumper_t *dump;
        struct replay_result *res;
        struct replay_summary *sum;
        uint64_t now;
        int err;
};

static void trace(struct run *rn, const char *dir, const uint8_t *f, uint32_t len)
{
        struct packet m;
        struct replay_tcp s;
        char a[64], b[64], fl[8];
        int n = 0;

        if (packet__parse(f, len, &m) != PACKET_OK) {
                fprintf(rn->o->trace, "%.6f %s (not TCP, %u bytes)\n",
                        (double)(rn->now - rn->cap->first_ns) / 1e9, dir, len);
                return;
        }
        replay_tcp__parse(&s, f, &m);
        if (s.flags & TCP_OUT_SYN)
                fl[n++] = 'S';
        if (s.flags & TCP_OUT_FIN)
                fl[n++] = 'F';
        if (s.flags & TCP_OUT_RST)
                fl[n++] = 'R';
        if (s.flags & TCP_OUT_PSH)
                fl[n++] = 'P';
        if (s.flags & TCP_OUT_ACK)
                fl[n++] = '.';
        fl[n] = 0;
        fprintf(rn->o->trace, "%.6f %s %s > %s [%s] seq %u ack %u win %u len %u\n",
                (double)(rn->now - rn->cap->first_ns) / 1e9, dir,
                net_addr__str_of(s.family, s.saddr, s.sport, a, sizeof(a)),
                net_addr__str_of(s.family, s.daddr, s.dport, b, sizeof(b)), fl, s.seq, s.ack, s.win,
                s.len);
}

static void dump(struct run *rn, const uint8_t *f, uint32_t len)
{
        struct pcap_pkthdr h = {
            .ts = {.tv_sec = (time_t)(rn->now / 1000000000ull),
                   .tv_usec = (suseconds_t)(rn->now % 1000000000ull)}, /* nanoseconds */
            .caplen = len,
            .len = len,
        };

        if (rn->dump)
                pcap_dump((u_char *)rn->dump, &h, f);
}

/*
 * The worker whose queue a peer's frame lands on: by a hash of its
 * addresses and ports, as a NIC's RSS spreads flows. The balancer runs
 * without RSS knowledge here (lb_worker__new with no rss): a broker leg's
 * frame that lands on another worker than its local port encodes is handed
 * over, as on a NIC whose RSS cannot be read.
 */
static uint32_t worker_for(const struct run *rn, const uint8_t *frame, uint32_t len)
{
        struct packet m;
        uint32_t h = 2166136261u, alen;
        const uint8_t *a;

        if (rn->nw == 1 || packet__parse(frame, len, &m) != PACKET_OK)
                return 0;
        a = frame + m.l3 + (m.family == 4 ? 12 : 8);
        alen = m.family == 4 ? 8 : 32;
        for (uint32_t i = 0; i < alen; i++)
                h = (h ^ a[i]) * 16777619u;
        h = (h ^ m.sport) * 16777619u;
        h = (h ^ m.dport) * 16777619u;
        h ^= h >> 16; /* murmur3's finalizer: the ports' low bits spread */
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        h *= 0xc2b2ae35u;
        h ^= h >> 16;
        return h % rn->nw;
}

/* A peer's frame, to the balancer. */
static int wire_send(void *ctx, const uint8_t *frame, uint32_t len)
{
        struct run *rn = ctx;
        uint32_t k = worker_for(rn, frame, len);
        int r = mem_port__inject(rn->wk[k].port, frame, len);
        char dir[16];

        if (r)
                return r;
        rn->sum->frames_in++;
        if (rn->o->trace) {
                snprintf(dir, sizeof(dir), rn->nw > 1 ? "in/%u" : "in ", k);
                trace(rn, dir, frame, len);
        }
        if (rn->o->out_all)
                dump(rn, frame, len);
        return 0;
}

static struct replay_client *client_of(struct run *rn, uint8_t family, const uint8_t *addr,
                                       uint16_t port)
{
        for (int32_t i = rn->port_head[port]; i >= 0; i = rn->port_next[i]) {
                const struct replay_conn *k = rn->clients[i].c;

                if (k->family == family && !memcmp(k->caddr, addr, family == 4 ? 4 : 16))
                        return &rn->clients[i];
        }
        return NULL;
}

static bool is_broker(const struct plan *p, uint8_t family, const uint8_t *addr, uint16_t port)
{
        for (uint32_t i = 0; i < p->npools; i++)
                for (uint32_t j = 0; j < p->pools[i].nbrokers; j++) {
                        const struct plan_broker *b = &p->pools[i].brokers[j];

                        if (b->addr.family == family && b->port == port &&
                            !memcmp(b->addr.addr, addr, family == 4 ? 4 : 16))
                                return true;
                }
        return false;
}

/* The IPv4 header's and the TCP checksums (RFC 1071: the sum over what
 * includes a correct checksum folds to 0). */
static bool checksums_ok(const uint8_t *f, const struct packet *m)
{
        const uint8_t *ip = f + m->l3;
        uint32_t l4len = (uint32_t)(m->end - m->l4);
        uint64_t pseudo;

        if (m->family == 4) {
                if (csum__fold(csum__partial(ip, (size_t)(ip[0] & 0x0f) * 4, 0)))
                        return false;
                pseudo = csum__pseudo4(ip + 12, ip + 16, IPPROTO_TCP_, (uint16_t)l4len);
        } else {
                pseudo = csum__pseudo6(ip + 8, ip + 24, IPPROTO_TCP_, l4len);
        }
        return !csum__fold(csum__partial(f + m->l4, l4len, pseudo));
}

/* A frame the balancer sent: to its capture, then to the peer it is for. */
static int deliver(struct run *rn, const struct frame_desc *d)
{
        const uint8_t *f = umem_area__data(&rn->umem, d->addr);
        struct packet m;
        struct replay_tcp s;
        struct replay_client *cl;
        int r = 0;

        rn->sum->frames_out++;
        if (rn->o->trace)
                trace(rn, "out", f, d->len);
        dump(rn, f, d->len);
        if (packet__parse(f, d->len, &m) != PACKET_OK) {
                rn->sum->unknown_dst++;
                return 0;
        }
        if (!checksums_ok(f, &m)) { /* a real peer drops it */
                rn->sum->bad_checksum++;
                if (rn->o->trace)
                        fprintf(rn->o->trace, "  ^ bad checksum: dropped\n");
                return 0;
        }
        replay_tcp__parse(&s, f, &m);
        cl = client_of(rn, s.family, s.daddr, s.dport);
        if (cl) {
                uint32_t i = (uint32_t)(cl - rn->clients);

                if (s.sport != cl->lport || memcmp(s.saddr, cl->laddr, s.family == 4 ? 4 : 16)) {
                        rn->sum->bad_source++; /* not from the listener it connected to */
                        if (rn->o->trace)
                                fprintf(rn->o->trace, "  ^ not from the listener: dropped\n");
                        return 0;
                }
                replay_client__input(cl, rn->now, &s);
                if (!rn->is_active[i] && replay_client__next(cl) != REPLAY_NEVER) {
                        rn->is_active[i] = true;
                        rn->active[rn->nactive++] = i;
                }
        } else if (is_broker(rn->plan, s.family, s.daddr, s.dport)) {
                if (!plan__source(rn->plan, s.family, s.saddr)) {
                        rn->sum->bad_source++; /* full NAT: from a source address only */
                        if (rn->o->trace)
                                fprintf(rn->o->trace, "  ^ not from a source address: dropped\n");
                        return 0;
                }
                r = replay_brokers__input(&rn->brokers, rn->now, &s);
        } else
                rn->sum->unknown_dst++;
        return r;
}

/* Every frame the balancer sent since the last call; returns how many. */
static int drain(struct run *rn)
{
        struct frame_desc d[WORKER_BURST];
        uint32_t n;
        int total = 0;

        for (uint32_t k = 0; k < rn->nw; k++)
                while ((n = mem_port__drain(rn->wk[k].port, d, WORKER_BURST))) {
                        for (uint32_t i = 0; i < n; i++) {
                                int r = deliver(rn, &d[i]);

                                frame_cache__put(&rn->wk[k].cache, d[i].addr);
                                if (r && !rn->err)
                                        rn->err = r;
                        }
                        total += (int)n;
                }
        return total;
}

static int nexthop(void *ctx, const struct ip_addr *dst, struct lb_nexthop *out)
{
        (void)ctx;
        (void)dst;
        out->port = 0;
        memcpy(out->src_mac, LB_MAC, 6);
        memcpy(out->dst_mac, GW_MAC, 6);
        return 0;
}

static int dup_bytes(uint8_t **out, const uint8_t *p, uint32_t n)
{
        *out = malloc(n ? n : 1);
        if (!*out)
                return -ENOMEM;
        if (n)
                memcpy(*out, p, n);
        return 0;
}

static void on_report(void *ctx, const struct lb_report *r)
{
        struct run *rn = ctx;
        struct replay_result *res = NULL;

        /* the oldest unreported client of that address */
        for (int32_t i = rn->port_head[r->client_port]; i >= 0; i = rn->port_next[i]) {
                const struct replay_conn *k = rn->clients[i].c;

                if (k->family == r->family &&
                    !memcmp(k->caddr, r->client_addr, r->family == 4 ? 4 : 16) &&
                    !rn->res[i].reported)
                        res = &rn->res[i];
        }
        if (!res) {
                rn->sum->stray_reports++;
                return;
        }
        res->reported = true;
        res->verdict = r->verdict;
        res->bound_at = r->bound_at;
        res->err = r->err;
        res->tls_err = r->tls_err;
        snprintf(res->sni, sizeof(res->sni), "%s", r->sni ? r->sni : "");
        res->refusal = r->refusal;
        snprintf(res->pool, sizeof(res->pool), "%s", r->pool ? r->pool : "");
        snprintf(res->broker, sizeof(res->broker), "%s", r->broker ? r->broker : "");
        res->bytes_from_client = r->bytes_from_client;
        res->bytes_to_broker = r->bytes_to_broker;
        res->publishes = r->publishes;
        if (dup_bytes(&res->client_id, r->client_id, r->client_id_len)) {
                rn->err = -ENOMEM;
                return;
        }
        res->client_id_len = r->client_id_len;
        res->topics = calloc(r->ntopics ? r->ntopics : 1, sizeof(*res->topics));
        if (!res->topics) {
                rn->err = -ENOMEM;
                return;
        }
        for (uint32_t i = 0; i < r->ntopics; i++) {
                uint8_t *t;

                if (dup_bytes(&t, r->topics[i].ptr, r->topics[i].len)) {
                        rn->err = -ENOMEM;
                        return;
                }
                res->topics[i] = (struct mqtt_str){t, r->topics[i].len};
                res->ntopics++;
        }
}

/* The listener a captured client is played to: the first of its family on
 * the port it connected to (an MQTT and a TLS listener differ by port), else
 * the first of its family. */
static const struct plan_listener *listener_for(const struct plan *p, uint8_t family, uint16_t port)
{
        const struct plan_listener *first = NULL;

        for (uint32_t i = 0; i < p->nlisteners; i++) {
                if (p->listeners[i].addr.family != family)
                        continue;
                if (p->listeners[i].port == port)
                        return &p->listeners[i];
                if (!first)
                        first = &p->listeners[i];
        }
        return first;
}

/*
 * The emulated brokers are the captured ones: what their v5 CONNACKs
 * announced is what the balancer's own CONNACKs may promise (the health
 * checks read it from the real brokers when running live). The most
 * restrictive Topic Alias Maximum over the capture's connections wins.
 */
static void broker_caps(struct run *rn)
{
        struct mqtt_caps caps = {0};
        bool found = false;

        for (uint32_t i = 0; i < rn->cap->nconns; i++) {
                const struct replay_conn *c = &rn->cap->conns[i];
                struct mqtt_parser mp;
                struct mqtt_event ev;
                size_t used;

                mqtt_parser__init(&mp, MQTT_DIR_S2C, NULL);
                mqtt_parser__set_version(&mp, MQTT_V5);
                if (c->sstream_len > 2 && c->sstream[0] == 0x20 && c->sstream[1] > 2 &&
                    mqtt_parser__feed(&mp, c->sstream, c->sstream_len, &used, &ev) == MQTT_EVENT &&
                    ev.type == MQTT_EV_CONNACK) {
                        const struct mqtt_caps *k = &ev.connack.caps;
                        uint16_t tam =
                            (k->present & MQTT_HAS_TOPIC_ALIAS_MAX) ? k->topic_alias_max : 0;

                        if (!found || tam < caps.topic_alias_max)
                                caps.topic_alias_max = tam;
                        found = true;
                }
                mqtt_parser__fini(&mp);
        }
        if (found && caps.topic_alias_max) {
                caps.present = MQTT_HAS_TOPIC_ALIAS_MAX;
                lb__set_connack_caps(rn->lb, &caps);
        }
}

static int run_setup(struct run *rn, struct plan *plan, char *err, size_t errlen)
{
        const struct replay_opts *o = rn->o;
        struct lb_cfg lc = {
            .plan = plan,
            .nworkers = rn->nw,
            .nexthop = nexthop,
            .nexthop_ctx = rn,
            .report = on_report,
            .report_ctx = rn,
            .keep_topics = true,
            .seed = o->seed ? o->seed : SEED_DEFAULT,
        };
        const struct plan *p;
        int r;

        r = umem_area__map(&rn->umem, REPLAY_FRAMES, UMEM_FRAME_SIZE, false);
        if (r) {
                plan__free(plan);
                snprintf(err, errlen, "cannot map the UMEM: %s", strerror(-r));
                return r;
        }
        r = frame_pool__new(&rn->pool, REPLAY_FRAMES, UMEM_FRAME_SIZE);
        if (r) {
                plan__free(plan);
                snprintf(err, errlen, "frame pool: %s", strerror(-r));
                return r;
        }
        for (uint32_t k = 0; k < rn->nw; k++) {
                frame_cache__init(&rn->wk[k].cache, rn->pool);
                r = mem_port__open(&rn->wk[k].port, "replay", &rn->umem, &rn->wk[k].cache);
                if (r) {
                        plan__free(plan);
                        snprintf(err, errlen, "memory port: %s", strerror(-r));
                        return r;
                }
                rn->wk[k].port->clock_ns = rn->now;
        }
        for (uint32_t i = 0; rn->nw > 1 && i < rn->nw; i++)
                for (uint32_t j = 0; j < rn->nw; j++)
                        if (i != j && (r = handover_ring__new(&rn->rings[i][j], 1024))) {
                                plan__free(plan);
                                snprintf(err, errlen, "handover ring: %s", strerror(-r));
                                return r;
                        }
        r = lb__new(&rn->lb, &lc);
        if (r) { /* it took the plan over, even failing */
                snprintf(err, errlen, "the balancer does not start: %s", strerror(-r));
                return r;
        }
        rn->plan = p = lb__plan(rn->lb);
        broker_caps(rn);
        for (uint32_t i = 0; i < p->nsources && i < WORKER_SOURCES_MAX; i++) {
                rn->sources[i].addr = p->sources[i].addr;
                rn->sources[i].port_lo = p->sources[i].port_lo;
                rn->sources[i].port_hi = p->sources[i].port_hi;
        }
        atomic_init(&rn->stop, false);
        for (uint32_t k = 0; k < rn->nw; k++) {
                struct worker_cfg wc = {.id = k, .nworkers = rn->nw, .core = -1, .nports = 1};

                r = lb_worker__new(&rn->wk[k].lw, rn->lb, k, NULL, 0);
                if (r) {
                        snprintf(err, errlen, "the balancer's worker does not start: %s",
                                 strerror(-r));
                        return r;
                }
                wc.ports[0] = rn->wk[k].port;
                for (uint32_t i = 0; i < WORKER_PORTS_MAX; i++)
                        wc.fds[i] = -1;
                wc.cache = &rn->wk[k].cache;
                for (uint32_t i = 0; i < rn->nw; i++) {
                        wc.inbox[i] = rn->rings[i][k];
                        wc.outbox[i] = rn->rings[k][i];
                }
                wc.sources = rn->sources;
                wc.nsources = p->nsources < WORKER_SOURCES_MAX ? p->nsources : WORKER_SOURCES_MAX;
                wc.ops = &lb_ops;
                wc.ctx = rn->wk[k].lw;
                wc.stop = &rn->stop;
                worker__init(&rn->wk[k].w, &wc);
        }

        rn->brokers.cap = rn->cap;
        rn->brokers.proxy = p->proxy_protocol;
        rn->brokers.down = o->down;
        rn->brokers.ndown = o->ndown;
        rn->brokers.refuse = o->refuse;
        rn->brokers.nrefuse = o->nrefuse;
        memcpy(rn->brokers.mac, BROKER_MAC, 6);
        rn->wire.send = wire_send;
        rn->wire.ctx = rn;
        memcpy(rn->wire.lb_mac, LB_MAC, 6);

        if (o->out_path) {
                rn->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
                                                                PCAP_TSTAMP_PRECISION_NANO);
                rn->dump = rn->dead ? pcap_dump_open(rn->dead, o->out_path) : NULL;
                if (!rn->dump) {
                        const char *why = rn->dead ? pcap_geterr(rn->dead) : "cannot create";

                        if (!strncmp(why, o->out_path, strlen(o->out_path)))
                                snprintf(err, errlen, "%s", why);
                        else
                                snprintf(err, errlen, "%s: %s", o->out_path, why);
                        return -EIO;
                }
        }
        return 0;
}

static uint32_t brokers_open(const struct run *rn)
{
        return replay_brokers__quiet(&rn->brokers) ? 0 : 1;
}

/* Starts the clients whose SYN is due; true when some did. */
static bool start_clients(struct run *rn)
{
        bool any = false;

        while (rn->nstarted < rn->cap->nconns && rn->cap->conns[rn->nstarted].syn_ns <= rn->now) {
                uint32_t i = rn->nstarted++;
                const struct replay_conn *k = &rn->cap->conns[i];
                struct replay_client *cl = &rn->clients[i];

                rn->res[i].listener = listener_for(rn->plan, k->family, k->sport) != NULL;
                if (!rn->res[i].listener) {
                        cl->st = REPLAY_C_DONE;
                        continue;
                }
                rn->port_next[i] = rn->port_head[k->cport];
                rn->port_head[k->cport] = (int32_t)i;
                rn->active[rn->nactive++] = i;
                rn->is_active[i] = true;
                any = true;
        }
        return any;
}

static int pump(struct run *rn)
{
        int sent = 0, r;
        uint32_t keep = 0;

        for (uint32_t j = 0; j < rn->nactive; j++) {
                struct replay_client *cl = &rn->clients[rn->active[j]];

                r = replay_client__pump(cl, rn->now, &rn->wire);
                if (r < 0)
                        return r;
                sent += r;
                if (!replay_client__done(cl) || replay_client__next(cl) != REPLAY_NEVER)
                        rn->active[keep++] = rn->active[j];
                else
                        rn->is_active[rn->active[j]] = false;
        }
        rn->nactive = keep;
        r = replay_brokers__pump(&rn->brokers, rn->now, &rn->wire);
        if (r < 0)
                return r;
        return sent + r;
}

static uint64_t next_event(const struct run *rn)
{
        uint64_t t = REPLAY_NEVER, x;

        if (rn->nstarted < rn->cap->nconns)
                t = rn->cap->conns[rn->nstarted].syn_ns;
        for (uint32_t j = 0; j < rn->nactive; j++) {
                x = replay_client__next(&rn->clients[rn->active[j]]);
                if (x < t)
                        t = x;
        }
        x = replay_brokers__next(&rn->brokers);
        return x < t ? x : t;
}

/* A round of every worker on the current time; the frames they took in
 * (from their ports and from each other). */
static int rounds(struct run *rn)
{
        int took = 0;

        for (uint32_t k = 0; k < rn->nw; k++) {
                rn->wk[k].port->clock_ns = rn->now;
                took += (int)worker__round(&rn->wk[k].w);
        }
        return took;
}

static uint32_t lb_connections(const struct run *rn)
{
        uint32_t n = 0;

        for (uint32_t k = 0; k < rn->nw; k++)
                n += lb_worker__connections(rn->wk[k].lw);
        return n;
}

static void run_loop(struct run *rn)
{
        const struct replay_opts *o = rn->o;
        uint64_t tail = o->tail_ns ? o->tail_ns : TAIL_DEFAULT_NS;
        uint64_t max_steps = o->max_steps ? o->max_steps : STEPS_DEFAULT;
        uint64_t end = rn->cap->last_ns + tail, step = STEP_MIN_NS;

        /* a worker idles in rounds before its first frame: its handler's
         * clock is set by then */
        rounds(rn);
        for (;;) {
                int moved, r;

                if (++rn->sum->steps > max_steps) {
                        rn->sum->step_limit = true;
                        return;
                }
                start_clients(rn);
                moved = pump(rn);
                if (moved < 0) {
                        rn->err = moved;
                        return;
                }
                /* bounded: a balancer that sends on every round without
                 * input must not hold the clock forever */
                for (uint32_t k = 0; k < 10000; k++) {
                        r = rounds(rn);
                        r += drain(rn);
                        moved += r;
                        if (!r)
                                break;
                }
                if (rn->err)
                        return;
                bool busy = rn->nactive || brokers_open(rn) || lb_connections(rn);

                if (!busy && rn->nstarted == rn->cap->nconns)
                        return;
                if (rn->now >= end)
                        return;
                if (moved) {
                        rn->now += LINK_DELAY_NS;
                        step = STEP_MIN_NS;
                        continue;
                }
                uint64_t t = next_event(rn);

                if (busy) {
                        if (t > rn->now + step)
                                t = rn->now + step;
                        step = step * 2 > STEP_MAX_NS ? STEP_MAX_NS : step * 2;
                } else {
                        step = STEP_MIN_NS;
                }
                if (t <= rn->now)
                        t = rn->now + LINK_DELAY_NS;
                if (t > end)
                        t = end;
                rn->now = t;
        }
}

static void results(struct run *rn)
{
        for (uint32_t i = 0; i < rn->cap->nconns; i++) {
                const struct replay_conn *k = &rn->cap->conns[i];
                const struct replay_client *cl = &rn->clients[i];
                struct replay_result *res = &rn->res[i];
                const uint8_t *app;
                uint32_t n;
                bool pok;

                res->proxy_ok = !rn->brokers.proxy;
                res->broker_legs = rn->brokers.legs[i];
                res->client_received = cl->rcv_nxt;
                res->client_closed =
                    cl->rst_sent || cl->rst_rcvd || (cl->fin_sent && cl->fin_acked && cl->fin_rcvd);
                if (replay_brokers__stream(&rn->brokers, i, &app, &n, &pok)) {
                        res->proxy_ok = pok;
                        res->broker_bytes = n;
                        res->stream_intact =
                            pok && n == k->stream_len && !memcmp(app, k->stream, n);
                }
                rn->sum->connections++;
                if (res->reported && res->verdict == LB_VERDICT_SPLICED)
                        rn->sum->spliced++;
        }
        rn->sum->unmatched_legs = rn->brokers.unmatched;
        rn->sum->syn_to_down = rn->brokers.syn_to_down;
}

static void run_teardown(struct run *rn)
{
        bool all = rn->wk != NULL;

        for (uint32_t k = 0; all && k < rn->nw; k++)
                all = rn->wk[k].lw != NULL;
        if (all) {
                rn->sum->open_at_end = lb_connections(rn);
                for (uint32_t k = 0; k < rn->nw; k++) {
                        rn->wk[k].port->clock_ns = rn->now;
                        lb_worker__close_all(rn->wk[k].lw, &rn->wk[k].w);
                }
                /* rounds push what close_all sent (its timers are gone) */
                while (rounds(rn) + drain(rn))
                        ;
                drain(rn);
                rn->sum->leaked_conns = lb_connections(rn);
        }
        for (uint32_t k = 0; rn->wk && k < rn->nw; k++) {
                struct worker_stats ws;
                struct lb_stats st;

                if (!rn->wk[k].lw)
                        continue;
                worker__stats(&rn->wk[k].w, &ws);
                rn->sum->handed_over += ws.handed_over;
                lb_worker__stats(rn->wk[k].lw, &st);
                for (size_t i = 0; i < sizeof(st) / sizeof(uint64_t); i++)
                        ((uint64_t *)&rn->sum->lb)[i] += ((const uint64_t *)&st)[i];
                lb_worker__free(rn->wk[k].lw);
        }
        if (rn->lb)
                lb__free(rn->lb);
        for (uint32_t k = 0; rn->wk && k < rn->nw; k++)
                if (rn->wk[k].port)
                        port__close(rn->wk[k].port);
        for (uint32_t i = 0; i < WORKER_MAX; i++)
                for (uint32_t j = 0; j < WORKER_MAX; j++)
                        if (rn->rings[i][j]) {
                                struct handover_item it[WORKER_BURST];
                                uint32_t n;

                                while ((n = handover_ring__pop(rn->rings[i][j], it, WORKER_BURST)))
                                        for (uint32_t x = 0; x < n; x++)
                                                frame_cache__put(&rn->wk[j].cache, it[x].addr);
                                handover_ring__free(rn->rings[i][j]);
                        }
        if (rn->pool) {
                for (uint32_t k = 0; rn->wk && k < rn->nw; k++)
                        frame_cache__drain(&rn->wk[k].cache);
                rn->sum->leaked_frames = frame_pool__total(rn->pool) - frame_pool__count(rn->pool);
                frame_pool__free(rn->pool);
        }
        if (rn->umem.base)
                umem_area__unmap(&rn->umem);
        if (rn->dump)
                pcap_dump_close(rn->dump);
        if (rn->dead)
                pcap_close(rn->dead);
        for (uint32_t i = 0; rn->clients && i < rn->cap->nconns; i++)
                replay_client__free(&rn->clients[i]);
        free(rn->clients);
        free(rn->wk);
        free(rn->port_head);
        free(rn->port_next);
        free(rn->active);
        free(rn->is_active);
        free(rn->brokers.legs);
        replay_brokers__free(&rn->brokers);
}

int replay__run(struct plan *plan, const struct replay_capture *cap, const struct replay_opts *o,
                struct replay_result **results_out, struct replay_summary *sum, char *err,
                size_t errlen)
{
        struct run *rn = calloc(1, sizeof(*rn));
        uint32_t n = cap->nconns;
        int r;

        memset(sum, 0, sizeof(*sum));
        *results_out = NULL;
        if (rn) {
                rn->cap = cap;
                rn->o = o;
                rn->sum = sum;
                rn->now = cap->first_ns;
                rn->nw = o->workers ? o->workers : 1;
                rn->wk = calloc(rn->nw, sizeof(*rn->wk));
                rn->res = calloc(n ? n : 1, sizeof(*rn->res));
                rn->clients = calloc(n ? n : 1, sizeof(*rn->clients));
                rn->port_head = malloc(sizeof(*rn->port_head) * 65536);
                rn->port_next = malloc(sizeof(*rn->port_next) * (n ? n : 1));
                rn->active = malloc(sizeof(*rn->active) * (n ? n : 1));
                rn->is_active = calloc(n ? n : 1, sizeof(*rn->is_active));
                rn->brokers.legs = calloc(n ? n : 1, sizeof(*rn->brokers.legs));
        }
        if (!rn || !rn->res || !rn->clients || !rn->port_head || !rn->port_next || !rn->active ||
            !rn->is_active || !rn->brokers.legs || !rn->wk) {
                plan__free(plan);
                if (rn) {
                        free(rn->res);
                        run_teardown(rn);
                        free(rn);
                }
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < 65536; i++)
                rn->port_head[i] = -1;
        r = run_setup(rn, plan, err, errlen);
        if (!r) {
                for (uint32_t i = 0; i < n; i++) {
                        const struct replay_conn *k = &cap->conns[i];
                        const struct plan_listener *l = listener_for(rn->plan, k->family, k->sport);
                        uint8_t laddr[16] = {0};

                        if (l)
                                memcpy(laddr, l->addr.addr, 16);
                        replay_client__init(&rn->clients[i], k, laddr, l ? l->port : 0, i,
                                            o->tail_ns ? o->tail_ns : TAIL_DEFAULT_NS);
                }
                run_loop(rn);
                r = rn->err;
                if (r)
                        snprintf(err, errlen, "replay failed: %s", strerror(-r));
                results(rn);
        }
        sum->virtual_ns = rn->now - cap->first_ns;
        run_teardown(rn);
        if (r) {
                replay_results__free(rn->res, n);
                free(rn);
                return r;
        }
        *results_out = rn->res;
        free(rn);
        return 0;
}

void replay_results__free(struct replay_result *r, uint32_t n)
{
        if (!r)
                return;
        for (uint32_t i = 0; i < n; i++) {
                free(r[i].client_id);
                for (uint32_t j = 0; j < r[i].ntopics; j++)
                        free((void *)r[i].topics[j].ptr);
                free(r[i].topics);
        }
        free(r);
}
