/*
 * Inside the balancer (lb.h): one client connection and its broker leg, and
 * the functions the lb_*.c files share. Not an API: only core/lb/ files include it.
 *
 * Four sequence spaces (all arithmetic modulo 2^32, compared with seq_lt &
 * co), one per direction of each leg (struct tcp_half):
 *   client -> us   cli.t.irs + 1 on; we ACK up to cli.t.rcv_acked
 *   us -> client   cli.t.iss (the cookie) + 1 on: first our own bytes (a
 *                  self-answered CONNACK, PINGRESPs: own[0..own_len), up to
 *                  conn__own_end), then the broker's bytes after the prefix
 *                  we consumed
 *   us -> broker   brk.t.iss + 1 on: the PROXY header (brk.prox bytes), then
 *                  the client's stream from its first byte
 *   broker -> us   brk.t.irs + 1 on: its CONNACK (and the PINGRESPs answering
 *                  PINGREQs we answered already), consumed when we had
 *                  answered them (conn.pre), then everything forwarded
 * Translation invariants, once spliced:
 *   broker seq of a client byte = its client seq + off_c2s (set at the
 *     broker's SYN-ACK: both streams start at their first byte);
 *   client-leg seq of a broker byte = its broker seq + off_s2c, from the
 *     moment conn__s2c_mapped: at the SYN-ACK when the client reads the
 *     broker's own CONNACK, at the end of the consumed prefix otherwise
 *     (our own bytes then stand in for the broker's prefix);
 *   an ACK crosses with the other direction's offset subtracted, a SACK
 *     block likewise (fix_sack), and is never lower than one already sent
 *     (rcv_acked only grows).
 */
#ifndef MQTTLB_CORE_LB_CONN_H
#define MQTTLB_CORE_LB_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "bpf/lb_shared.h"
#include "core/tcp/flow.h"
#include "core/lb/lb.h"
#include "core/datapath/rss.h"
#include "core/tcp/syncookie.h"
#include "core/tcp/tcp_out.h"
#include "core/tcp/timer_wheel.h"
#include "mqtt/parser.h"
#include "tls/clienthello.h"

enum conn_state {
        CONN_OPEN = 1,   /* client leg up, bytes buffered and parsed, not bound */
        CONN_CONNECTING, /* bound: SYN sent to the broker */
        CONN_SPLICED,    /* broker leg up: segments translated both ways */
        CONN_CLOSING,    /* closed before splicing: our FIN sent to the client */
        CONN_UDP,        /* not a TCP connection: a UDP flow (lb_udp.c) */
};

/* A broker leg and the connect window (lb_setup.c). */
enum conn_setup {
        CONN_SETUP_NONE,   /* no slot: not connecting, or the broker answered */
        CONN_SETUP_HELD,   /* one of its broker's slots, from the SYN to the broker's first byte */
        CONN_SETUP_QUEUED, /* waiting for a slot, in its broker's queue */
};

enum conn_timer {
        CONN_T_RTO = 0,  /* retransmission: SYN, replay, own bytes, FIN */
        CONN_T_LIFE = 1, /* bind timeout, then idle timeout, then linger */
};

#define LB_WSCALE        7  /* the shift we offer on both legs (Linux's usual for 1-8 MiB) */
#define LB_RT_TOPIC_MAX  64 /* longest topic the route cache keeps to compare */
#define CONN_OWN_MAX     64 /* our own bytes to the client: CONNACK + PINGRESPs */
#define CONN_RTO_NS      250000000ull
#define CONN_RTO_MAX     8             /* retransmissions before giving up on a peer */
#define CONN_LEG_RETRIES 3             /* broker legs made again after a reset (lb_broker.c) */
#define CONN_LINGER_NS   2000000000ull /* after both FINs: late ACKs still translated */
/* PROXY v2 header: IPv6 addresses (52 bytes), with a TLS connection's
 * ALPN and server name TLVs (3 + 255 each) */
#define CONN_PROXY_MAX     (52 + 2 * (3 + 255))
#define PP2_TYPE_ALPN      0x01
#define PP2_TYPE_AUTHORITY 0x02
#define CONN_BUF_RESERVE   8192 /* budget every admitted connection is sure of (lb_budget.c) */
#define LB_SOURCE_BUCKETS  (1u << 20) /* per-source connection counts (lb_budget.c) */

/* A leg's outgoing L2/L3 header, kept from its first spliced segment:
 * later ones copy it and patch lengths and checksums (lb_splice.c). */
struct leg_hdr {
        uint8_t bytes[14 + 4 * TCP_OUT_VLANS + 40];
        uint8_t len; /* 0: not built yet */
        uint8_t family;
        uint8_t ports[4];   /* source and destination port as on the wire */
        uint64_t ip_sum;    /* IPv4: the header's sum with length and checksum 0 */
        uint64_t tcp_delta; /* new addresses and ports minus the old (one's complement) */
};

/*
 * One TCP connection the balancer is an end of, the fields named as Linux
 * names a tcp_sock's: snd_* our side's sending, rcv_* our receiving. Both
 * legs have one: the client leg (we play the server, from the SYN cookie
 * on) and the broker leg (we play the client).
 */
struct tcp_half {
        uint32_t iss;       /* our initial sequence number */
        uint32_t snd_una;   /* client leg: oldest own byte not ACKed; broker leg: of our stream */
        uint32_t snd_nxt;   /* the highest sequence number we sent, plus one (SND.MAX) */
        uint32_t irs;       /* the peer's initial sequence number */
        uint32_t rcv_nxt;   /* the next in-order peer byte seen */
        uint32_t rcv_acked; /* the highest ACK we sent the peer (its RCV.NXT as far as we know) */
        uint32_t snd_wnd;   /* the peer's receive window (bytes), from its last segment */
        uint16_t mss;
        uint8_t snd_wscale; /* the peer's shift count (its window fields), 0 when none */
        uint8_t rcv_wscale; /* ours (the window fields we write), 0 when none */
        bool sack_ok;
        uint16_t port; /* index of the port its frames arrive on and leave by */
        uint8_t own_mac[6], peer_mac[6];
        struct leg_hdr hdr; /* spliced segments' headers toward this peer */
};

/* The client leg: a tcp_half, and what only it has. */
struct conn_client {
        struct tcp_half t;
        uint32_t rcv_edge; /* right edge of the window last advertised to the client */
        bool fin_rcvd;     /* the client's FIN is in (t.rcv_nxt counts it) */
        bool fin_sent;     /* CLOSING: our FIN to the client */
        uint8_t nvlans;
        uint16_t vlan_tpid[TCP_OUT_VLANS], vlan_tci[TCP_OUT_VLANS];
};

/* The broker leg: a tcp_half, the replay of the client's bytes, the start
 * of the broker's stream (its CONNACK) that we consume. */
struct conn_broker {
        struct tcp_half t;
        uint32_t replay_nxt; /* the next replay byte to send (goes back on a retransmission) */
        uint32_t replay_end; /* the end of the replay (PROXY header + buffered client bytes) */
        bool replay_fin;     /* the replay ends with the client's FIN */
        uint8_t dupacks;     /* duplicate ACKs of snd_una while replaying (RFC 5681 3.2) */
        bool syn_sent;
        bool synack_rcvd; /* irs is known */
        uint16_t prox;    /* PROXY header bytes */
};

/* What the balancer reads of the start of an MQTT broker's stream, with an
 * MQTT_DIR_S2C parser kept while it lasts: its CONNACK (the return code
 * kept; v5: the topic aliases it allows), then the PINGRESPs answering
 * PINGREQs we answered already. Consumed when we answered the client's
 * CONNECT ourselves; only observed otherwise. */
struct conn_prefix {
        bool consume;           /* drop the broker's CONNACK (+ pings PINGRESPs) */
        bool done;              /* read to its end (or given up) */
        bool connack;           /* its CONNACK was read */
        uint8_t pings;          /* PINGRESPs still to consume */
        uint32_t consumed;      /* broker bytes consumed */
        struct mqtt_parser *mp; /* the broker's stream until done (heap) */
};

/*
 * Ordered so that no field needs padding before it (each group's fields
 * arranged to fill what the group before left): 1,083 bytes of members,
 * 1,088 with the tail, so 5 bytes are free for small fields at the end.
 * The flow table rounds every entry up to a whole number of cache lines
 * (flow_table__new), so a field that makes a hole, or one too many, costs
 * every connection another 64 bytes (the assertion after the struct).
 */
struct conn {
        struct flow f; /* f.client: client -> listener; f.broker: broker -> source */
        struct conn_client cli;
        struct conn_broker brk;
        struct conn_prefix pre;

        /* client bytes held until the broker ACKs them */
        uint8_t *buf;
        uint32_t buf_len, buf_cap;
        uint32_t charged;    /* heap bytes charged to the worker's budget (lb_budget.c) */
        uint32_t src_bucket; /* per-source count it holds; UINT32_MAX: none */
        bool reserved;       /* holds a CONN_BUF_RESERVE of the budget */
        bool slowed;         /* counted in budget_slowed */

        bool fin_c2s, fin_s2c; /* FIN seen from the client / the broker, once spliced */
        /* once spliced: broker seq = client seq + off_c2s, client-leg seq =
         * broker seq + off_s2c (conn__s2c_mapped says when the second holds) */
        uint32_t off_c2s, off_s2c;
        uint32_t fin_c2s_end; /* broker-space sequence after the client's FIN */
        uint32_t fin_s2c_end; /* broker-space sequence after the broker's FIN */

        /* our own bytes to the client */
        uint8_t own_len;
        uint8_t own[CONN_OWN_MAX];

        /* the binder's (conn__binder): what reads the client's first bytes
         * (and listener_pool, after the union) */
        uint8_t proto;   /* enum plan_proto: the listener's */
        bool parse_dead; /* nothing more to read: error, gap, or all the binder needs */
        bool c2s_gap;    /* the client's stream had a hole (spliced: not reassembled) */
        union {
                struct mqtt_parser mp; /* MQTT: the client's stream, for the connection's life */
                struct tls_hello *th;  /* TLS: the ClientHello's reader and what it read
                                        * (heap: MQTT connections do not pay for it) */
        };
        int16_t listener_pool; /* tls: the listener's pool, ROUTE_NONE: none */

        /* MQTT */
        uint16_t cid_len;
        int16_t will_pool;
        uint8_t version;
        bool connect_done;
        uint8_t *cid; /* client id (malloc'ed copy) */
        bool self_connack;
        uint8_t pings; /* PINGRESPs we answered (consumed from the broker) */
        bool will;
        bool persistent;

        /* binding (indices into plan: conn__plan); route_publish's cache
         * (rt_*, while rt_valid): the last topic's pool, hash and, when it
         * fits (rt_len <= LB_RT_TOPIC_MAX, else rt_len 0), bytes */
        int16_t rt_pool;
        int16_t pool;
        const struct plan *plan;        /* referenced (plan__get) for the connection's life */
        uint64_t rt_hash;               /* compared for topics longer than LB_RT_TOPIC_MAX */
        struct lb_broker_stats *bstats; /* the broker's counters (conn__connect), or NULL */
        int16_t broker, first_broker;
        bool rt_valid;
        uint8_t rt_len;
        uint8_t rt_topic[LB_RT_TOPIC_MAX];
        uint8_t tried;       /* brokers of the pool tried */
        uint8_t leg_retries; /* broker legs made again after a reset (conn__broker_retry) */
        uint8_t bound_at, verdict;
        uint8_t err, refusal; /* err: enum mqtt_err or enum tls_hello_err (the binder's) */
        bool active_counted;  /* in the broker's active connections */

        /* the connect window (lb_setup.c) */
        uint8_t setup;                        /* enum conn_setup */
        uint16_t setup_gid;                   /* the broker whose slot or queue it is in */
        struct conn *setup_next, *setup_prev; /* CONN_SETUP_QUEUED: the broker's queue */

        /* timers and accounting */
        uint64_t last_ns;
        uint64_t bytes_from_client, publishes;
        struct mqtt_str *topics; /* lb.keep_topics: up to LB_REPORT_TOPICS, malloc'ed */
        uint8_t syn_tries, rto_tries;
        uint8_t ntopics;
};

/*
 * Flow-table entries are whole cache lines: 1,088 bytes is 17 of them. One
 * byte more and every connection takes 18 (1,152 bytes): 64 MiB more per
 * 2^20 connections (64 MB per million), allocated up front for
 * max_connections.
 */
_Static_assert(sizeof(struct conn) <= 17 * 64, "struct conn fits 17 cache lines (1,088 bytes)");

struct learned;

struct lb {
        struct plan *plan; /* RCU */
        uint32_t nworkers;
        lb_nexthop_fn *nexthop;
        void *nexthop_ctx;
        lb_report_fn *report;
        void *report_ctx;
        bool keep_topics;
        uint64_t seed;
        bool deterministic; /* seeded by the caller: cookies and ports repeat */
        /* SYN cookie keys are derived from this and the 64 s period, so that
         * every worker has the same keys without sharing state: a final ACK
         * may land on another queue than its SYN (veth picks the queue from
         * the sender's, which can change once the socket is established) */
        uint8_t cookie_master[SYNCOOKIE_KEY_SIZE];
        struct learned *learned;
        uint32_t *source_counts; /* LB_SOURCE_BUCKETS open connections per source (atomics) */
        bool draining;           /* lb__drain: SYNs answered with RST */
        /* Broker gids stable across plans (a reload renumbers nothing): the
         * per-broker counters of every worker and the shared connection
         * counts below are indexed by them. Written by whoever publishes
         * plans (one thread). */
        char gid_name[PLAN_BROKERS_MAX][64];
        uint32_t ngids;
        uint32_t active[PLAN_BROKERS_MAX]; /* connections bound per broker, all workers */
        /* when a UDP backend last answered ICMP unreachable (worker clock,
         * 0: never): the control thread takes it out of its pool (atomics) */
        uint64_t udp_down_ns[PLAN_BROKERS_MAX];
};

/* One home for the number of source addresses (bpf/lb_shared.h): the
 * config accepts that many, the XDP program's map holds that many, and each
 * worker keeps a port picker per source. */
_Static_assert(LB_SOURCES_MAX == WORKER_SOURCES_MAX, "a worker owns every source address");

/* lb_bufcache.c: freed client buffers (CONN_BUF_RESERVE bytes) kept for the
 * next connection, last in first out; what stays unused for a whole trim
 * period goes back to malloc. */
#define BUF_CACHE_MAX      4096          /* buffers, 32 MiB */
#define BUF_CACHE_TRIM_NS  1000000000ull /* a period */
#define BUF_CACHE_FREE_MAX 256           /* buffers freed per round at most */
struct buf_cache {
        void **slot; /* BUF_CACHE_MAX; slot[0..n) cached */
        uint32_t n;
        uint32_t low;          /* the fewest cached since the period began */
        uint32_t surplus;      /* still to free, this period's trim */
        uint64_t next_trim_ns; /* the next period's start */
};
int buf_cache__init(struct buf_cache *bc);
void buf_cache__fini(struct buf_cache *bc);

struct lb_worker {
        struct lb *lb;
        uint32_t id;
        struct flow_table *flows;
        struct timer_wheel wheel;
        struct syncookie_secret secret;
        uint64_t cookie_period; /* of the current key; UINT64_MAX before the first */
        uint64_t now_ns;
        struct worker *w; /* the worker running us (set per round) */
        const struct rss *rss;
        uint32_t queue;
        struct rss_picker pickers[LB_SOURCES_MAX];
        bool picker_ok[LB_SOURCES_MAX];
        uint32_t source_rr;       /* the next source address, round robin (pick_source) */
        uint64_t budget_reserves; /* CONN_BUF_RESERVE per connection holding one */
        uint64_t budget_growth;   /* charged bytes past the reserves */
        struct lb_stats stats;
        struct lb_broker_stats brokers[PLAN_BROKERS_MAX];
        /* the connect window (lb_setup.c), per broker gid: legs between
         * their SYN and the broker's first byte, the queue of those waiting
         * (oldest first), the brokers a slot came free at since the last tick */
        uint32_t setup_legs[PLAN_BROKERS_MAX];
        struct conn *setup_head[PLAN_BROKERS_MAX], *setup_tail[PLAN_BROKERS_MAX];
        uint64_t setup_freed[PLAN_BROKERS_MAX / 64];
        struct buf_cache bufs; /* lb_bufcache.c */
};

/* Single writer (the worker), read by the control thread: relaxed atomics. */
#define STAT_N(lw, name, n)                                                          \
        __atomic_store_n(&(lw)->stats.name,                                          \
                         __atomic_load_n(&(lw)->stats.name, __ATOMIC_RELAXED) + (n), \
                         __ATOMIC_RELAXED)
#define STAT(lw, name)     STAT_N(lw, name, 1)
#define STAT_DEC(lw, name) STAT_N(lw, name, (uint64_t)-1)

/*
 * A connection reads the plan it holds (c->plan). While it is not bound yet
 * it moves to the newest plan at the start of each parse pass and at the
 * bind timeout (so a reload or a broker going down applies to it), before any
 * index into the plan is taken: within one pass the plan does not change.
 */
static inline const struct plan *conn__rebase(const struct lb_worker *lw, struct conn *c)
{
        const struct plan *now;

        if (c->f.state != CONN_OPEN || c->pool >= 0) /* bound: its plan for good */
                return c->plan;
        now = lb__plan(lw->lb);
        if (c->plan != now) {
                plan__put(c->plan);
                c->plan = plan__get(now);
                c->rt_valid = false;
        }
        return c->plan;
}

/* Sequence comparisons (RFC 1982 serial arithmetic over 32 bits). */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
        return (int32_t)(a - b) < 0;
}
static inline bool seq_le(uint32_t a, uint32_t b)
{
        return (int32_t)(a - b) <= 0;
}
/* Whether lo < x <= hi, by unsigned distance from lo: unlike a pair of
 * seq_lt, it holds no surprise for an x 2^31 away (which serial arithmetic
 * cannot order), the ACK a fuzzer sent to index our own bytes 2 GB away. */
static inline bool seq_in(uint32_t x, uint32_t lo, uint32_t hi)
{
        return x - lo - 1 < hi - lo;
}
static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
        return seq_lt(a, b) ? b : a;
}

/* The end of our own bytes to the client (CONNACK, PINGRESPs): the
 * client-leg sequence number after them, without our FIN. */
static inline uint32_t conn__own_end(const struct conn *c)
{
        return c->cli.t.iss + 1 + c->own_len;
}

/* The same with our FIN when we sent one (CLOSING): what the client must
 * ACK before the close is done. */
static inline uint32_t conn__own_fin_end(const struct conn *c)
{
        return conn__own_end(c) + (c->cli.fin_sent ? 1 : 0);
}

/* Whether broker-stream sequence numbers map onto the client leg yet
 * (d_s2c known): from the SYN-ACK when the client reads the broker's own
 * CONNACK, after that CONNACK (and the PINGRESPs we answered) was consumed
 * when we answered it ourselves. */
static inline bool conn__s2c_mapped(const struct conn *c)
{
        return c->pre.done || !c->pre.consume;
}

/* The client-leg offset of the broker's stream: its first byte not
 * consumed (brk.t.irs + 1 + pre.consumed) goes right after our own bytes.
 * Called once, when conn__s2c_mapped becomes true. */
static inline void conn__map_s2c(struct conn *c)
{
        c->off_s2c = conn__own_end(c) - (c->brk.t.irs + 1 + c->pre.consumed);
}

/* Both FINs are in and each was ACKed by its receiver: the splice is over
 * but for late retransmissions (the linger). Seen is not enough: a slow
 * reader may not have ACKed the broker's last bytes and FIN yet, and the
 * broker retransmits them until it does. */
static inline bool conn__fins_acked(const struct conn *c)
{
        return c->fin_c2s && c->fin_s2c && seq_le(c->fin_c2s_end, c->brk.t.snd_una) &&
               seq_le(c->fin_s2c_end, c->brk.t.rcv_acked);
}

/* A window of wnd bytes as its 16-bit field says it with a shift count. */
static inline uint16_t window_field(uint32_t wnd, uint8_t shift)
{
        wnd >>= shift;
        return (uint16_t)(wnd > 65535 ? 65535 : wnd);
}

/* A received segment's TCP fields (host order). */
struct seg {
        uint8_t *tcp, *payload;
        uint32_t seq, ack, len; /* len: payload bytes */
        uint16_t win;
        uint8_t flags; /* TCP_OUT_* bits */
};

static inline void seg__read(const struct worker_pkt *p, struct seg *s)
{
        s->tcp = p->data + p->m.l4;
        s->payload = p->data + p->m.payload;
        s->len = (uint32_t)(p->m.end - p->m.payload);
        s->seq = packet__be32(s->tcp + 4);
        s->ack = packet__be32(s->tcp + 8);
        s->flags = s->tcp[13] & 0x3f;
        s->win = packet__be16(s->tcp + 14);
}

/* A received frame's VLAN tags (between the MACs and the IP header), at
 * most TCP_OUT_VLANS; how many. */
static inline uint8_t lb__read_vlans(const struct worker_pkt *p, uint16_t *tpid, uint16_t *tci)
{
        uint8_t n = (uint8_t)((p->m.l3 - ETH_HLEN_) / 4);

        if (n > TCP_OUT_VLANS)
                n = TCP_OUT_VLANS;
        for (uint8_t i = 0; i < n; i++) {
                tpid[i] = packet__be16(p->data + 12 + 4 * i);
                tci[i] = packet__be16(p->data + 14 + 4 * i);
        }
        return n;
}

/* Room in a received frame from its data pointer to the end of its chunk:
 * what an answer or a rewrite built in its place may use. */
static inline size_t lb__frame_room(const struct lb_worker *lw, const struct worker_pkt *p)
{
        return (size_t)((p->d.addr & lw->w->frame_mask) + UMEM_FRAME_SIZE - p->d.addr);
}

/* lb_send.c: segments we build ourselves. */
void conn__client_hdr(const struct conn *c, struct tcp_out_hdr *h, uint32_t seq);
void conn__broker_hdr(const struct conn *c, struct tcp_out_hdr *h, uint32_t seq);
/* A fresh frame: its data pointer, or NULL (counted) when the cache is empty. */
uint8_t *lb__frame(struct lb_worker *lw, struct frame_desc *d);
void lb__send(struct lb_worker *lw, uint16_t port, struct frame_desc *d, int len);
/* The window we advertise to the client while we buffer (scaled). */
uint16_t conn__client_window(const struct conn *c);
/* ACK (and our own bytes from seq k_from on) to the client, in a new frame. */
void conn__send_client(struct lb_worker *lw, struct conn *c, uint32_t k_from, bool fin);
void conn__send_broker_ack(struct lb_worker *lw, struct conn *c);
void conn__rst_client(struct lb_worker *lw, struct conn *c);
void conn__rst_broker(struct lb_worker *lw, struct conn *c);
/* RST alone to the broker with sequence number seq (RFC 9293 3.10.7.3). */
void conn__rst_broker_at(struct lb_worker *lw, struct conn *c, uint32_t seq);

/* lb_client.c */
/* An RST answering a segment to no connection (k: its key), built in its
 * frame (RFC 9293 3.10.7.1). */
enum worker_verdict lb__reset_stray(struct lb_worker *lw, struct worker_pkt *p,
                                    const struct flow_key *k, const struct seg *s);
/* A SYN / an ACK to a listener and no connection; k is the frame's key. */
enum worker_verdict lb__client_syn(struct lb_worker *lw, struct worker_pkt *p,
                                   const struct flow_key *k);
enum worker_verdict lb__client_ack_new(struct lb_worker *lw, struct worker_pkt *p,
                                       const struct flow_key *k, const struct plan_listener *l);
enum worker_verdict lb__client_segment(struct lb_worker *lw, struct conn *c, struct worker_pkt *p);
/* Appends own bytes for the client (CONNACK, PINGRESP); false when no room. */
bool conn__own(struct conn *c, const uint8_t *b, uint8_t n);
/* Closes the client leg before splicing: optional bytes, then FIN. */
void conn__close_client(struct lb_worker *lw, struct conn *c, enum lb_verdict v);

/*
 * A listener's binder (DESIGN.md "Other listeners"): what reads the
 * client's first bytes and decides where the connection goes, one per
 * protocol (enum plan_proto). Everything else of the balancer (the client
 * leg, the broker leg, the splice, NAT, PROXY, counters) is shared and calls
 * it through conn__binder(c) only.
 */
struct binder {
        /* c's reading state, when c is made (c->proto and the plan set);
         * false when out of memory */
        bool (*start)(struct conn *c, const struct plan *plan);
        /* New in-order client bytes b[0..n), before binding and after (until
         * it sets parse_dead): reads them, binds (conn__bind) or closes. May
         * end the connection or close it: then false. */
        bool (*feed)(struct lb_worker *lw, struct conn *c, const uint8_t *b, uint32_t n);
        /* The bind timeout of an OPEN connection: bind it somewhere, or close it. */
        void (*timeout)(struct lb_worker *lw, struct conn *c);
        /* Closes the client before splicing with verdict v (no_broker): in
         * the protocol's own terms first when it has any, then TCP. */
        void (*refuse)(struct lb_worker *lw, struct conn *c, enum lb_verdict v);
        /* Heap bytes the reading state holds (charged to the budget). */
        size_t (*mem)(const struct conn *c);
        /* The connection closes before splicing: what reading needs no more. */
        void (*stop)(struct conn *c);
        /* The connection ends: everything it holds. */
        void (*fini)(struct conn *c);
};

extern const struct binder binder_mqtt, binder_tls; /* lb_mqtt.c, lb_tls.c */

static inline const struct binder *conn__binder(const struct conn *c)
{
        return c->proto == PLAN_PROTO_TLS ? &binder_tls : &binder_mqtt;
}

/* What a TLS connection's ClientHello said, or NULL (another protocol, or
 * not read whole). */
static inline const struct tls_hello_info *conn__hello(const struct conn *c)
{
        return c->proto == PLAN_PROTO_TLS && c->th ? tls_hello__info(c->th) : NULL;
}

/* lb_bind.c */
/* New in-order client bytes to the binder (nothing once parse_dead). */
static inline bool conn__feed(struct lb_worker *lw, struct conn *c, const uint8_t *b, uint32_t n)
{
        return c->parse_dead || conn__binder(c)->feed(lw, c, b, n);
}
/* Binds to pool (ROUTE_NONE: no pool: closes as no_broker): a broker of
 * it chosen by the pool's policy (Maglev on the client id, or on the client
 * address when there is none), the bind counted, the broker leg opened. */
void conn__bind(struct lb_worker *lw, struct conn *c, int pool, enum lb_bound_at at);

/* lb_mqtt.c */
/* Closes the client in MQTT terms, then TCP: a client still waiting for its
 * CONNACK gets a refusal (v5_reason / v3_connack), a v5 client we accepted
 * a DISCONNECT (v5_reason; 0x88 becomes 0x89, the DISCONNECT code for it). */
void conn__close_mqtt(struct lb_worker *lw, struct conn *c, enum lb_verdict v, uint8_t v5_reason,
                      uint8_t v3_connack);

/* lb_broker.c */
/* The source address (index into plan->sources) for a leg to a backend of
 * family: round robin over the sources of that family; -1 when none. */
int lb__pick_source(struct lb_worker *lw, const struct plan *plan, uint8_t family);
/* A local port of source si for the leg to b (RSS-aware: its answers come
 * back to this worker), its key (proto 0: TCP, FLOW_UDP) put in the table
 * as f's broker leg. 0, or -errno. */
int lb__take_port(struct lb_worker *lw, struct flow *f, const struct plan *plan, uint32_t si,
                  const struct plan_broker *b, uint8_t proto);
/* The PROXY protocol v2 header for c (client -> listener) into out; its length. */
uint16_t conn__proxy_header(const struct conn *c, uint8_t out[CONN_PROXY_MAX]);
void conn__connect(struct lb_worker *lw, struct conn *c);
/* c no longer counts in its broker's active connections (counted from its
 * bind by conn__connect). Idempotent. */
void conn__uncount(struct lb_worker *lw, struct conn *c);
void conn__failover(struct lb_worker *lw, struct conn *c);
/* A segment of the broker leg while CONNECTING: its SYN-ACK (or RST). */
enum worker_verdict lb__broker_synack(struct lb_worker *lw, struct conn *c, struct worker_pkt *p);
/* Sends replay bytes from b_replay while the broker's window allows. */
void conn__replay_push(struct lb_worker *lw, struct conn *c);
/* The broker reset its leg before it sent a byte or took the whole replay
 * (its accept queue overflowed and it answered with a SYN cookie, or a late
 * SYN-ACK of a retried SYN was taken): every client byte it lacks is still
 * buffered, so the leg is made again (a new local port, the same broker),
 * the client none the wiser. False when that cannot be (then the reset goes
 * to the client): the broker sent bytes, took the whole replay, or reset
 * CONN_LEG_RETRIES legs of this connection already. */
bool conn__broker_retry(struct lb_worker *lw, struct conn *c);
/* Sends the replay again from brk.t.snd_una (a timeout, three duplicate ACKs). */
void conn__replay_again(struct lb_worker *lw, struct conn *c);

/* lb_setup.c: the connect window. At most plan->connect_window broker legs
 * per broker (shared out among the workers) are between their SYN and the
 * broker's first byte (its CONNACK, its ServerHello) or its FIN or RST: the
 * legs a busy broker has in its listen queue or is still reading. The rest
 * wait in their broker's queue, oldest first, for at most bind_timeout, so
 * that a burst of binds (a reconnect storm) never overflows a broker's
 * accept queue, where a dropped handshake ACK or replay would cost each
 * leg seconds of retransmission backoff (DESIGN.md "The splice"). */
/* Whether c may send its SYN to broker gid now: it holds one of its slots
 * (taken now, or kept from an earlier SYN to that broker). Otherwise it is
 * queued (counted; its CONN_T_LIFE timer is the queue's deadline). */
bool conn__setup_admit(struct lb_worker *lw, struct conn *c, uint32_t gid);
/* c holds no slot and waits in no queue any more (the broker answered, the
 * leg failed over or ended, the connection ended). Idempotent. */
void conn__setup_done(struct lb_worker *lw, struct conn *c);
/* A queued c whose deadline passed: out of the queue, refused. */
void conn__setup_expired(struct lb_worker *lw, struct conn *c);
/* At each tick: the legs waiting at brokers a slot came free at since, started. */
void lb__setup_pump(struct lb_worker *lw);

/* lb_bufcache.c: a client buffer of CONN_BUF_RESERVE bytes (NULL: out of
 * memory); a connection's buffer given back (kept when it is one of those),
 * c->buf and c->buf_cap cleared; the cache's surplus freed (each tick). */
void *conn__buf_new(struct lb_worker *lw);
void conn__buf_free(struct lb_worker *lw, struct conn *c);
void lb__buf_trim(struct lb_worker *lw, uint64_t now_ns);

/* lb_budget.c: the worker's memory budget and the per-source limit. */
/* A new connection from k: 0 (its per-source bucket in *bucket, UINT32_MAX
 * when not counted), -ENOBUFS when no reserve is left, -EMFILE when its
 * source has per_source_max open. Nothing is held on failure. */
int budget__admit(struct lb_worker *lw, const struct plan *plan, const struct flow_key *k,
                  uint32_t *bucket);
/* Undoes budget__admit when the connection could not be made after all. */
void budget__unadmit(struct lb_worker *lw, uint32_t bucket);
/* The admitted connection c takes its reserve and bucket. */
void budget__attach(struct lb_worker *lw, struct conn *c, uint32_t bucket);
/* Charges c what it holds now (after its buffer, parser or client id changed). */
void budget__charge(struct lb_worker *lw, struct conn *c);
/* Bytes c may still buffer (its buffer's room, cut by the budget: *slowed). */
uint32_t budget__room(const struct lb_worker *lw, const struct plan *plan, const struct conn *c,
                      bool *slowed);
/* c needs no reserve any more (its replay is ACKed, or it is closing). */
void budget__release_reserve(struct lb_worker *lw, struct conn *c);
/* Everything c holds of the budget and its per-source count, at its end. */
void budget__release(struct lb_worker *lw, struct conn *c);

/* lb_prefix.c: the start of the broker's stream (struct conn_prefix). */
/* The broker leg is up: what of its stream the balancer reads (an MQTT
 * broker's CONNACK and PINGRESPs; nothing of a TLS one). False when out of
 * memory. */
bool conn__prefix_start(struct conn *c);
/* Frees what reading it holds (at the connection's end). */
void conn__prefix_free(struct conn *c);
/* A broker segment with bytes (or a FIN) while the prefix lasts: reads its
 * prefix bytes, *off of them consumed (to be cut from the segment). False
 * when the segment goes no further (all of it consumed and ACKed, out of
 * order, or the broker refused and the connection closed). */
bool conn__prefix_segment(struct lb_worker *lw, struct conn *c, const struct seg *s, uint32_t *off);

/* lb_udp.c: UDP listeners' flows, in the same table (f.state CONN_UDP). */
/* A frame that is not TCP: a datagram, or an ICMP error about one of ours. */
enum worker_verdict lb__udp(struct lb_worker *lw, struct worker_pkt *p);
/* A UDP flow's timer (its idle timeout). */
void lb__udp_timer(struct lb_worker *lw, struct flow *f);
/* Ends a UDP flow (shutdown). */
void lb__udp_close(struct lb_worker *lw, struct flow *f);

/* lb_splice.c */
enum worker_verdict lb__splice_c2s(struct lb_worker *lw, struct conn *c, struct worker_pkt *p);
enum worker_verdict lb__splice_s2c(struct lb_worker *lw, struct conn *c, struct worker_pkt *p);

/* lb.c */
/* A segment of a connection's leg, handed to what its state calls for. */
enum worker_verdict conn__segment(struct lb_worker *lw, struct conn *c, enum flow_leg leg,
                                  struct worker_pkt *p);
void conn__arm_rto(struct lb_worker *lw, struct conn *c);
void conn__end(struct lb_worker *lw, struct conn *c, enum lb_verdict v);
/* The broker c is bound to in plan, or NULL. */
const struct plan_broker *conn__broker(const struct conn *c, const struct plan *plan);

#endif
