/*
 * The configuration file (CONTRACT.md "Configuration"): YAML read into plain
 * data, every value checked, every mistake reported as "FILE:LINE: message".
 * What the balancer runs on is built from this (core/config/plan.h): config.c only
 * reads and validates; it opens no socket and touches no interface.
 *
 * Owns every string and array it returns (config__free). Knows the schema:
 * the keys, their types, their defaults and their limits. Must not print:
 * errors go to the caller's buffer.
 */
#ifndef MQTTLB_CORE_CONFIG_H
#define MQTTLB_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/util/netaddr.h"
#include "core/route/pool.h"

#define CONFIG_INTERFACES_MAX 4  /* as WORKER_PORTS_MAX */
#define CONFIG_WORKERS_MAX    64 /* as WORKER_MAX */
#define CONFIG_ERR_MAX        512

/* What a listener's clients speak: how its connections are bound. */
enum config_proto {
        CONFIG_PROTO_MQTT,   /* by topic / client id (the default) */
        CONFIG_PROTO_TLS,    /* TLS passthrough: by the ClientHello's SNI / ALPN */
        CONFIG_PROTO_UDP,    /* datagrams: a flow per client address:port, by source IP */
        CONFIG_PROTO_MQTTSN, /* MQTT-SN datagrams: read; a flow by the CONNECT's client id */
};

struct config_listener {
        struct ip_addr addr;
        uint16_t port;
        enum config_proto proto;
        int pool; /* tls: the pool when no sni / alpn route matches; -1: default_pool;
                     udp: its pool (required) */
        int line;
};

/* A full-NAT source address and the local ports broker legs may use. */
struct config_source {
        struct ip_addr addr;
        uint16_t port_lo, port_hi; /* default CONFIG_SOURCE_PORT_LO-HI */
        int line;
};

struct config_broker {
        char *name; /* "ADDR:PORT" as normalised ("[ADDR]:PORT" for IPv6) */
        struct ip_addr addr;
        uint16_t port;
        uint32_t weight; /* default 1 */
        int line;
};

enum config_health {
        CONFIG_HEALTH_DEFAULT, /* not given: mqtt, or none for a udp pool (the checks resolve it) */
        CONFIG_HEALTH_MQTT,    /* TCP, then MQTT CONNECT / CONNACK */
        CONFIG_HEALTH_TCP,     /* the TCP (and TLS) handshake only */
        CONFIG_HEALTH_NONE,    /* not checked: up but for ICMP errors (udp pools) */
};

struct config_pool {
        char *name;
        enum pool_policy balance; /* default client-id */
        struct config_broker *brokers;
        uint32_t nbrokers;
        enum config_health health;
        /* The brokers speak TLS (the pool is named by a tls listener, an
         * sni or alpn route, or has a tls: section): health checks do the
         * handshake first, with these options (NULL: none). */
        bool tls;
        bool udp; /* named by a udp listener: its backends take datagrams */
        struct {
                char *server_name; /* the checks' SNI */
                char *ca;          /* verify the brokers' certificates against it */
                char *cert, *key;  /* a client certificate (brokers that require one) */
                int line;          /* of the tls: section; 0 when absent */
        } tls_opts;
        int line;
};

enum config_route_kind {
        CONFIG_ROUTE_TOPIC,     /* a topic filter */
        CONFIG_ROUTE_CLIENT_ID, /* a client-id glob ('*', '?') */
        CONFIG_ROUTE_SNI,       /* tls: a server name, or "*.suffix" */
        CONFIG_ROUTE_ALPN,      /* tls: an ALPN protocol the client offers */
};

/* The default local port range of a source address. */
#define CONFIG_SOURCE_PORT_LO 1024
#define CONFIG_SOURCE_PORT_HI 32767

struct config_route {
        enum config_route_kind kind;
        char *match; /* the filter or the pattern */
        int pool;    /* index into config.pools */
        int line;
};

enum config_misroute {
        CONFIG_MISROUTE_FORWARD,
        CONFIG_MISROUTE_DISCONNECT,
};

enum config_xsk_mode { CONFIG_XSK_AUTO, CONFIG_XSK_ZEROCOPY, CONFIG_XSK_COPY };
enum config_xdp_mode { CONFIG_XDP_AUTO, CONFIG_XDP_NATIVE, CONFIG_XDP_GENERIC };

struct config {
        char *path;

        char *interfaces[CONFIG_INTERFACES_MAX];
        uint32_t ninterfaces;
        struct config_listener *listeners;
        uint32_t nlisteners;
        struct config_source *sources;
        uint32_t nsources;
        uint32_t workers;              /* from `workers:` or the length of `cores:` */
        int cores[CONFIG_WORKERS_MAX]; /* with `cores:`; else -1 (not pinned) */

        struct config_pool *pools;
        uint32_t npools;
        struct config_route *routes; /* in file order */
        uint32_t nroutes;
        int default_pool; /* index, or -1 when absent */
        enum config_misroute misroute;
        bool proxy_protocol;

        struct {
                uint32_t interval_ms, timeout_ms; /* default 2000, 1000 */
                uint32_t rise, fall;              /* default 2, 2 */
        } health;
        struct {
                char *socket;  /* default /run/mqttlb.sock */
                char *metrics; /* "ADDR:PORT", NULL when absent (no HTTP) */
        } admin;

        /* Extensions beyond CONTRACT.md (documented in docs/config.md). */
        struct {
                uint32_t buffer_bytes;    /* client bytes held before binding; default 131072 */
                uint32_t max_topic;       /* longest topic/filter/client id kept; default 65535 */
                uint32_t bind_timeout_ms; /* unbound this long -> default pool; default 5000 */
                uint32_t connect_timeout_ms; /* per broker SYN attempt, doubled per retry; default
                                                250 */
                uint32_t syn_retries;        /* per broker; default 3 */
                uint32_t connect_window;     /* broker legs per broker between their SYN and the
                                                broker's first byte, all workers; 0: no limit;
                                                default 64 */
                uint32_t idle_timeout_ms;    /* spliced, no segment either way; default 900000 */
                uint32_t max_connections;    /* per worker; default 65536 */
                char *state_file;            /* learned bindings kept across restarts; NULL: none */
                uint32_t syn_rate;     /* client SYNs per second per CPU, dropped in XDP beyond it;
                                          0: no limit; default 100000 */
                uint32_t syn_burst;    /* SYNs let through at once; default 10000 */
                uint32_t buffer_total; /* all connections' held bytes per worker; 256m */
                uint32_t per_source_max;      /* open connections per client address; 0: none */
                uint32_t per_source_prefix6;  /* IPv6 addresses counted per /N; default 64 */
                uint32_t per_source_rate;     /* new connections per second per client address,
                                                 dropped in XDP beyond it; 0: no limit */
                uint32_t per_source_burst;    /* connections let through at once; default 0:
                                                 per_source_rate (one second's worth) */
                uint32_t close_timeout_ms;    /* our FIN unanswered this long: RST; 2000 */
                uint32_t udp_idle_timeout_ms; /* a UDP flow without a datagram; 30000 */
                uint32_t udp_max_flows;       /* UDP flows per worker; 16384 */
                uint32_t udp_down_hold_ms;    /* a backend that sent ICMP unreachable is out
                                                 of its pool this long; 10000 */
        } connections;
        struct {
                enum config_xsk_mode mode; /* default auto */
                enum config_xdp_mode xdp;  /* default auto */
                uint32_t ring_size;        /* default 4096 */
                uint32_t frames;           /* default 0: sized from the rings */
                uint32_t busy_poll_us;     /* default 0 */
                bool huge_pages;           /* default false */
        } xsk;
};

/*
 * Reads and validates path. On success *out is the configuration (free with
 * config__free). On failure returns -EINVAL for a bad file (err holds
 * "PATH:LINE: message", or "PATH: message" when no line applies), -errno when
 * it cannot be read (err names the file and the reason), -ENOMEM.
 */
int config__load(const char *path, struct config **out, char *err, size_t errlen);
/* The same over a string (tests); name stands for the path in messages. */
int config__load_string(const char *name, const char *yaml, struct config **out, char *err,
                        size_t errlen);
void config__free(struct config *c);

/* The pool index of a name, or -1. */
int config__pool_index(const struct config *c, const char *name);

/*
 * Prints the resolved plan for `mqttlb check`: workers and cores, interfaces,
 * listeners, sources and their port ranges, pools with their brokers, weights
 * and share of the Maglev table (built as the balancer would), routes in
 * match order, the default pool and the tunables.
 */
int config__print_plan(const struct config *c, FILE *out);

#endif
