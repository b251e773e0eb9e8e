/*
 * The balancer: the worker handler (worker_ops) that terminates the client's
 * TCP handshake with a SYN cookie, buffers and parses the client's MQTT
 * stream, binds the connection to a broker of the pool its client id or topic
 * maps to, opens the broker leg, replays the buffered bytes and then splices
 * the two legs by translating every segment (DESIGN.md "Why delayed
 * binding").
 *
 * struct lb is shared by the workers: the current plan (RCU), the learned
 * bindings (client id -> pool), the callbacks. struct lb_worker is one
 * worker's: its flow table, timer wheel, SYN cookie secret, port picker and
 * counters; only that worker touches it.
 */
#ifndef MQTTLB_CORE_LB_H
#define MQTTLB_CORE_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util/netaddr.h"
#include "core/config/plan.h"
#include "core/datapath/worker.h"
#include "mqtt/mqtt-t.h"
#include "mqttsn/reader-t.h"
#include "tls/clienthello-t.h"

struct rss;

/* Where frames to an address go: out of which port, with which MACs. */
struct lb_nexthop {
        uint16_t port;
        uint8_t src_mac[6], dst_mac[6];
};
/* 0 and *out, -EAGAIN while the neighbour is being resolved (the caller
 * retries later), -EHOSTUNREACH when there is no way there. */
typedef int lb_nexthop_fn(void *ctx, const struct ip_addr *dst, struct lb_nexthop *out);

enum lb_bound_at {
        LB_BOUND_NONE,
        LB_BOUND_CONNECT,
        LB_BOUND_PUBLISH,
        LB_BOUND_SUBSCRIBE,
        LB_BOUND_TIMEOUT,      /* unbound too long: the default pool */
        LB_BOUND_CLIENT_HELLO, /* tls: at the ClientHello */
};

enum lb_verdict {
        LB_VERDICT_SPLICED,          /* bound and spliced; ended by either side */
        LB_VERDICT_CLOSED_BY_CLIENT, /* FIN or RST before it was spliced */
        LB_VERDICT_REFUSED,          /* the broker refused the CONNECT */
        LB_VERDICT_MALFORMED,        /* MQTT (report.err) or TLS (report.tls_err) violation */
        LB_VERDICT_NO_BROKER,        /* no broker of the pool could be reached */
        LB_VERDICT_TIMEOUT,          /* a peer stopped answering */
        LB_VERDICT_OPEN,             /* still open when the balancer stopped or the replay ended */
};

const char *lb_bound_at__str(enum lb_bound_at b);
const char *lb_verdict__str(enum lb_verdict v);

#define LB_REPORT_TOPICS 16 /* distinct topics kept per connection for reports */

/* One client connection, when it ends (for `mqttlb replay` and logs). Views
 * valid during the callback only. */
struct lb_report {
        uint8_t family;
        uint8_t client_addr[16];
        uint16_t client_port;
        const uint8_t *client_id;
        uint32_t client_id_len;
        const char *pool;   /* NULL when unbound */
        const char *broker; /* "ADDR:PORT" of the last broker tried; NULL when none */
        enum lb_bound_at bound_at;
        enum lb_verdict verdict;
        enum mqtt_err err;          /* with LB_VERDICT_MALFORMED, an MQTT listener */
        enum tls_hello_err tls_err; /* with LB_VERDICT_MALFORMED, a TLS listener */
        const char *sni;            /* tls: the ClientHello's server name, or NULL */
        uint8_t refusal;            /* with LB_VERDICT_REFUSED: the CONNACK's code */
        const struct mqtt_str *topics;
        uint32_t ntopics;
        uint64_t bytes_from_client; /* client stream bytes received in order */
        uint64_t bytes_to_broker;   /* stream bytes the broker acknowledged */
        uint64_t publishes;
};
typedef void lb_report_fn(void *ctx, const struct lb_report *r);

struct lb_cfg {
        struct plan *plan; /* taken over (freed by lb__new when it fails, too) */
        uint32_t nworkers;
        lb_nexthop_fn *nexthop;
        void *nexthop_ctx;
        lb_report_fn *report; /* optional */
        void *report_ctx;
        bool keep_topics; /* keep up to LB_REPORT_TOPICS topics per connection */
        uint64_t seed;    /* 0: random (cookie keys, port cursors, flow hash) */
};

/* Counters per worker: name, meaning. */
#define LB_STATS(X)                                                                              \
        X(conn_active, "client connections open now")                                            \
        X(conn_total, "client connections established (final ACK with a valid cookie)")          \
        X(bound_connect, "connections bound at CONNECT")                                         \
        X(bound_publish, "connections bound at their first PUBLISH")                             \
        X(bound_subscribe, "connections bound at their first SUBSCRIBE")                         \
        X(bound_timeout, "connections bound to the default pool after the bind timeout")         \
        X(spliced, "connections whose broker leg was established")                               \
        X(syncookies_sent, "SYN-ACKs carrying a SYN cookie")                                     \
        X(syncookies_validated, "final ACKs whose cookie was valid")                             \
        X(syncookies_rejected, "ACKs to no connection whose cookie was invalid or stale")        \
        X(self_connack, "CONNACKs the balancer answered itself")                                 \
        X(self_pingresp, "PINGRESPs the balancer answered itself")                               \
        X(closed_by_client, "connections the client closed before they were spliced")            \
        X(refused, "connections whose broker refused the CONNECT")                               \
        X(malformed, "connections closed for an MQTT protocol violation")                        \
        X(no_broker, "connections closed because no broker of the pool answered")                \
        X(timeouts, "connections closed because a peer stopped answering")                       \
        X(broker_syn_retries, "SYNs sent again to a broker")                                     \
        X(broker_failovers, "broker legs moved to the next broker of the pool")                  \
        X(broker_leg_retries, "broker legs made again: the broker reset one before it answered") \
        X(connect_queued, "broker legs that waited for room in connections.connect_window")      \
        X(connect_waiting, "broker legs waiting for room in connect_window now")                 \
        X(connect_queue_timeouts,                                                                \
          "connections closed: no room in connect_window within bind_timeout")                   \
        X(retransmits, "segments the balancer sent again (its own bytes, either leg)")           \
        X(misroutes, "PUBLISH packets whose topic belongs to another pool")                      \
        X(misroute_disconnects, "connections closed by the misroute policy")                     \
        X(publishes, "PUBLISH packets seen from clients")                                        \
        X(publish_bytes, "bytes of those PUBLISH packets")                                       \
        X(out_of_order, "client segments before the bytes expected (dropped, re-ACKed)")         \
        X(window_full, "client segments cut or dropped for lack of buffer room")                 \
        X(parse_gaps, "spliced connections whose stream had a hole (parsing stopped)")           \
        X(conn_table_full, "final ACKs refused for lack of room in the flow table")              \
        X(ports_exhausted, "broker legs that found no free local port")                          \
        X(nexthop_unresolved, "segments not sent yet: the next hop was not resolved")            \
        X(rst_sent, "RSTs the balancer sent")                                                    \
        X(broker_stale_acks,                                                                     \
          "broker legs' SYNs answered by an ACK of an earlier connection (TIME-WAIT): RST")      \
        X(rst_challenged, "RSTs in the window but not exact: a challenge ACK (RFC 5961)")        \
        X(rst_ignored, "RSTs outside the window, dropped (RFC 5961)")                            \
        X(insane_segments,                                                                       \
          "spliced segments no endpoint could send (seq or ACK 2^30 off), dropped")              \
        X(stray_reset, "segments to a source address and no connection, answered by RST")        \
        X(buffer_held, "heap bytes the worker's connections hold now (buffers, parsers, ids)")   \
        X(buffer_cached, "heap bytes of freed client buffers kept for reuse (about a second)")   \
        X(budget_slowed, "connections whose window the buffer budget held below their buffer")   \
        X(budget_refused, "new connections refused (RST): the buffer budget's reserves spent")   \
        X(per_source_refused, "new connections refused (RST): per_source_max open already")      \
        X(close_timeouts, "closed connections whose client never answered our FIN: RST")         \
        X(stray, "segments to no connection (dropped)")                                          \
        X(no_frame, "segments not sent: no free frame in the worker's cache")                    \
        X(learned, "client id -> pool bindings learned")                                         \
        X(drain_refused, "SYNs answered with RST while draining (SIGTERM)")                      \
        X(no_memory, "connections refused or reset: the balancer was out of memory")             \
        X(tls_hellos, "TLS ClientHellos read whole (tls listeners)")                             \
        X(tls_bound_sni, "TLS connections bound by an sni route")                                \
        X(tls_bound_alpn, "TLS connections bound by an alpn route")                              \
        X(tls_bound_default, "TLS connections no route matched: the listener's or default pool") \
        X(tls_malformed, "TLS connections closed: not a ClientHello we accept")                  \
        X(udp_flows_active, "UDP flows open now (udp listeners)")                                \
        X(udp_flows_total, "UDP flows made")                                                     \
        X(udp_flows_moved,                                                                       \
          "UDP flows moved to another backend: theirs left the pool or came back")               \
        X(udp_flows_full, "datagrams of new clients dropped: udp_max_flows flows open already")  \
        X(udp_idle_expired, "UDP flows ended by udp_idle_timeout")                               \
        X(udp_no_backend, "datagrams dropped: no backend of the pool up, or no source address")  \
        X(udp_to_backends, "datagrams sent to backends")                                         \
        X(udp_to_clients, "datagrams sent back to clients")                                      \
        X(udp_too_big, "datagrams dropped: the rewritten frame would not fit a UMEM frame")      \
        X(udp_bad_checksum, "datagrams dropped: their IPv4 header or UDP checksum was wrong")    \
        X(udp_icmp_unreachable,                                                                  \
          "ICMP destination unreachable from a backend: taken out of its pool")                  \
        X(udp_stray, "datagrams and ICMP errors to no flow and no udp listener (dropped)")       \
        X(mqttsn_connects, "MQTT-SN CONNECTs read (mqtt-sn listeners)")                          \
        X(mqttsn_rebound, "MQTT-SN flows moved to the gateway of their CONNECT's client id")     \
        X(mqttsn_malformed, "MQTT-SN datagrams dropped: malformed")

#define LB_STAT_FIELD_(name, doc) uint64_t name;
struct lb_stats {
        LB_STATS(LB_STAT_FIELD_)
        uint64_t malformed_by[MQTT_ERR__COUNT];
        uint64_t tls_malformed_by[TLS_HELLO_ERR__COUNT];
        uint64_t mqttsn_malformed_by[MQTTSN_ERR__COUNT];
};
#undef LB_STAT_FIELD_
#define LB_NSTATS (offsetof(struct lb_stats, malformed_by) / sizeof(uint64_t))
extern const char *const lb_stat_names[];
extern const char *const lb_stat_docs[];
/* " name value" for every counter of s that is not 0, into buf (cut short
 * when it does not fit; always terminated). Returns the length written. */
size_t lb_stats__nonzero(const struct lb_stats *s, char *buf, size_t len);

/* Per broker (plan_broker.gid), per worker. */
struct lb_broker_stats {
        uint64_t active, total, publishes, publish_bytes, failures;
        uint64_t datagrams_to, bytes_to, datagrams_from, bytes_from; /* UDP pools */
};

struct lb;
struct lb_worker;

int lb__new(struct lb **out, const struct lb_cfg *cfg);
/* After every worker is freed. */
void lb__free(struct lb *lb);
/* The current plan (a worker reads it between two quiescent states). */
const struct plan *lb__plan(const struct lb *lb);
/* Publishes a new plan (taken over, freed on failure too) for new
 * connections and those not bound yet; connections bound under the old one
 * keep it until they end. Brokers keep their counters across plans by name
 * (plan_broker.gid is reassigned). Waits for an RCU grace period. -E2BIG
 * when more than PLAN_BROKERS_MAX distinct brokers have been seen. One
 * thread at a time (the control thread). */
int lb__set_plan(struct lb *lb, struct plan *p);
/* plan__set_connack_caps on the current plan: before the workers start
 * (afterwards, set them on the next plan and publish it). */
void lb__set_connack_caps(struct lb *lb, const struct mqtt_caps *caps);
/* Stop accepting (SIGTERM's drain): from now on a SYN is answered with an
 * RST; connections already open carry on. Any thread. */
void lb__drain(struct lb *lb);

/* When the broker named name last answered a UDP datagram with ICMP
 * unreachable (the workers' clock, CLOCK_MONOTONIC ns), 0 when never. Any
 * thread. */
uint64_t lb__udp_down_ns(const struct lb *lb, const char *name);

/* Learned bindings: load from / save to a file (one "pool client-id" per line). */
int lb__load_bindings(struct lb *lb, const char *path);
int lb__save_bindings(const struct lb *lb, const char *path);

/* Worker id's handler context. rss may be NULL (no RSS steering: the port
 * only encodes the owner). */
int lb_worker__new(struct lb_worker **out, struct lb *lb, uint32_t id, const struct rss *rss,
                   uint32_t queue);
/* Closes every connection (RST on both legs, sent through w), reports each
 * with LB_VERDICT_OPEN, and cancels every timer. The worker must not run. */
void lb_worker__close_all(struct lb_worker *lw, struct worker *w);
/* Client connections open now (relaxed: while the worker runs). */
uint64_t lb_worker__active(const struct lb_worker *lw);
/* Connections still allocated (0 after close_all: nothing leaked). */
uint32_t lb_worker__connections(const struct lb_worker *lw);
void lb_worker__free(struct lb_worker *lw);
void lb_worker__stats(const struct lb_worker *lw, struct lb_stats *out);
/* Per-broker counters (relaxed loads), n = plan's nbrokers. */
void lb_worker__broker_stats(const struct lb_worker *lw, struct lb_broker_stats *out, uint32_t n);

extern const struct worker_ops lb_ops; /* ctx: struct lb_worker * */

#endif
