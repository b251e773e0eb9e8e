/*
 * The plan: what the balancer runs on, built from a checked configuration
 * (config.h): listeners, source addresses, the route table, the pools with
 * their brokers' addresses, the misroute policy and the connection tunables.
 *
 * Immutable once published: workers read the current plan through RCU; a
 * reload or a broker going up or down publishes a new one. A connection
 * holds a reference to the plan it was bound under (plan__get) and keeps
 * indices into it, so that plan lives until its last connection ends.
 * Owns its route table and pools. Never prints; never touches the network.
 */
#ifndef MQTTLB_CORE_PLAN_H
#define MQTTLB_CORE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/route/pool.h"
#include "core/route/route.h"
#include "core/route/route_tls.h"
#include "core/util/netaddr.h"
#include "mqtt/caps.h"

#define PLAN_BROKERS_MAX 1024 /* over all pools: the size of per-broker counter arrays */

struct plan_broker {
        struct ip_addr addr;
        uint16_t port;
        uint32_t gid;  /* < plan.nbrokers: indexes per-broker counters (the balancer keeps
                          a broker's gid across plans, by name) */
        char name[64]; /* "ADDR:PORT" ("[ADDR]:PORT" for IPv6) */
};

struct plan_pool {
        struct pool *pool; /* selection (Maglev, least connections, …) */
        struct plan_broker *brokers;
        uint32_t nbrokers;
        char name[64];
};

/* How a listener's connections are bound (its binder, core/lb/). */
enum plan_proto {
        PLAN_PROTO_MQTT,   /* by topic / client id */
        PLAN_PROTO_TLS,    /* by the ClientHello's SNI / ALPN */
        PLAN_PROTO_UDP,    /* datagrams: a flow per client address:port (lb_udp.c) */
        PLAN_PROTO_MQTTSN, /* MQTT-SN datagrams: the same, bound by client id (lb_udp.c) */
        PLAN_PROTO__COUNT,
};

struct plan_listener {
        struct ip_addr addr;
        uint16_t port;
        uint8_t proto; /* enum plan_proto */
        int16_t pool;  /* tls: when no sni / alpn route matches (ROUTE_NONE: the default);
                          udp: its pool */
};

struct plan_source {
        struct ip_addr addr;
        uint16_t port_lo, port_hi;
};

struct plan {
        struct plan_listener *listeners;
        uint32_t nlisteners;
        struct plan_source *sources;
        uint32_t nsources;
        struct route_table *routes;
        struct tls_routes *tls_routes; /* sni / alpn */
        struct plan_pool *pools;
        uint32_t npools;
        uint32_t nbrokers; /* over all pools; once published, gids in use over all plans */
        int default_pool;  /* ROUTE_NONE when there is none */
        bool misroute_disconnect;
        bool proxy_protocol;
        uint32_t buffer_bytes;
        uint32_t max_topic;
        uint64_t bind_timeout_ns;
        uint64_t connect_timeout_ns;
        uint32_t syn_retries;
        uint32_t connect_window; /* per broker, all workers (lb_setup.c); 0: no limit */
        uint64_t idle_timeout_ns;
        uint32_t max_connections;
        uint32_t buffer_total;   /* per worker: lb_budget.c */
        uint32_t per_source_max; /* 0: no limit */
        uint8_t per_source_prefix6;
        uint64_t close_timeout_ns;
        uint64_t udp_idle_timeout_ns;
        uint32_t udp_max_flows; /* per worker */
        /* what a CONNACK the balancer answers itself announces (v5): the
         * brokers' capabilities, plan__set_connack_caps */
        uint8_t v5_props[MQTT_CAPS_PROPS_MAX];
        uint8_t v5_props_len;
        uint16_t alias_max;
        uint32_t refs; /* plan__get/put: the balancer's reference + one per connection */
};

/* Builds the plan of a valid configuration. -ENOMEM, or -EINVAL with the
 * reason in err (a config that config__load accepted does not fail). */
struct config;
int plan__build(const struct config *c, struct plan **out, char *err, size_t errlen);
void plan__free(struct plan *p);

/* What the balancer's own CONNACKs may promise (5.0 §3.2.2.3): at most
 * what every broker they may bind to keeps (mqtt_caps__meet). Until set they
 * carry no property (Topic Alias Maximum 0: no alias). Before the plan is
 * published. */
void plan__set_connack_caps(struct plan *p, const struct mqtt_caps *caps);

/* References: plan__build returns a plan with one. A connection takes one
 * for its life (it keeps indices into this plan's pools) so that a plan
 * replaced by a reload or a health change lives until its last connection
 * ends. Any thread; the last put frees it. */
const struct plan *plan__get(const struct plan *p);
void plan__put(const struct plan *p);

/* The listener a segment to addr:port is for, or NULL. */
const struct plan_listener *plan__listener(const struct plan *p, uint8_t family,
                                           const uint8_t *addr, uint16_t port);
/* The source address addr is, or NULL. */
const struct plan_source *plan__source(const struct plan *p, uint8_t family, const uint8_t *addr);

#endif
