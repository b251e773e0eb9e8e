/* The plan built from a configuration (plan.h). */
#include "core/config/plan.h"

#include "core/config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/netaddr.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, const char *what)
{
        if (err && errlen)
                snprintf(err, errlen, fmt, what);
        return rc;
}

static int build_pool(struct plan_pool *pp, const struct config_pool *cp, uint32_t *gid)
{
        int rc = pool__new(&pp->pool, cp->name, cp->balance, 0);

        if (rc)
                return rc;
        snprintf(pp->name, sizeof(pp->name), "%s", cp->name);
        pp->brokers = calloc(cp->nbrokers, sizeof(*pp->brokers));
        if (!pp->brokers)
                return -ENOMEM;
        for (uint32_t i = 0; i < cp->nbrokers; i++) {
                const struct config_broker *cb = &cp->brokers[i];
                struct plan_broker *b = &pp->brokers[i];
                struct net_addr a = {.ip = cb->addr, .port = cb->port};

                b->addr = cb->addr;
                b->port = cb->port;
                b->gid = (*gid)++;
                net_addr__str(&a, b->name, sizeof(b->name));
                rc = pool__add_broker(pp->pool, b->name, cb->weight);
                if (rc < 0)
                        return rc;
        }
        pp->nbrokers = cp->nbrokers;
        return pool__build(pp->pool);
}

static int add_route(struct plan *p, const struct config_route *r)
{
        const uint8_t *m = (const uint8_t *)r->match;
        size_t len = strlen(r->match);
        int rc;

        switch (r->kind) {
        case CONFIG_ROUTE_TOPIC: rc = route_table__add_filter(p->routes, m, len, r->pool); break;
        case CONFIG_ROUTE_CLIENT_ID:
                rc = route_table__add_client_id(p->routes, m, len, r->pool);
                break;
        case CONFIG_ROUTE_SNI:
                rc = tls_routes__add_sni(p->tls_routes, r->match, len, r->pool);
                break;
        case CONFIG_ROUTE_ALPN: rc = tls_routes__add_alpn(p->tls_routes, m, len, r->pool); break;
        default: rc = -EINVAL;
        }
        return rc < 0 ? rc : 0; /* a duplicate is the checker's warning, not an error */
}

int plan__build(const struct config *c, struct plan **out, char *err, size_t errlen)
{
        struct plan *p = calloc(1, sizeof(*p));
        uint32_t gid = 0;
        int rc = -ENOMEM;

        *out = NULL;
        if (!p)
                return -ENOMEM;
        p->refs = 1;
        p->listeners = calloc(c->nlisteners ? c->nlisteners : 1, sizeof(*p->listeners));
        p->sources = calloc(c->nsources ? c->nsources : 1, sizeof(*p->sources));
        p->pools = calloc(c->npools ? c->npools : 1, sizeof(*p->pools));
        p->routes = route_table__new();
        p->tls_routes = tls_routes__new();
        if (!p->listeners || !p->sources || !p->pools || !p->routes || !p->tls_routes)
                goto out;
        for (uint32_t i = 0; i < c->nlisteners; i++) {
                const struct config_listener *l = &c->listeners[i];

                p->listeners[i] = (struct plan_listener){
                    .addr = l->addr,
                    .port = l->port,
                    .proto = l->proto == CONFIG_PROTO_TLS      ? PLAN_PROTO_TLS
                             : l->proto == CONFIG_PROTO_UDP    ? PLAN_PROTO_UDP
                             : l->proto == CONFIG_PROTO_MQTTSN ? PLAN_PROTO_MQTTSN
                                                               : PLAN_PROTO_MQTT,
                    .pool = (int16_t)(l->pool >= 0 ? l->pool : ROUTE_NONE),
                };
        }
        p->nlisteners = c->nlisteners;
        for (uint32_t i = 0; i < c->nsources; i++)
                p->sources[i] = (struct plan_source){c->sources[i].addr, c->sources[i].port_lo,
                                                     c->sources[i].port_hi};
        p->nsources = c->nsources;
        for (uint32_t i = 0; i < c->npools; i++) {
                p->npools = i + 1;
                rc = build_pool(&p->pools[i], &c->pools[i], &gid);
                if (rc) {
                        fail(err, errlen, rc, "pool %s: cannot build its table", c->pools[i].name);
                        goto out;
                }
        }
        if (gid > PLAN_BROKERS_MAX) {
                rc = fail(err, errlen, -EINVAL, "%s: more than 1024 brokers over all pools",
                          c->path ? c->path : "config");
                goto out;
        }
        p->nbrokers = gid;
        for (uint32_t i = 0; i < c->nroutes; i++) {
                rc = add_route(p, &c->routes[i]);
                if (rc) {
                        fail(err, errlen, rc, "route %s: cannot be added", c->routes[i].match);
                        goto out;
                }
        }
        p->default_pool = c->default_pool >= 0 ? c->default_pool : ROUTE_NONE;
        route_table__set_default(p->routes, p->default_pool);
        p->misroute_disconnect = c->misroute == CONFIG_MISROUTE_DISCONNECT;
        p->proxy_protocol = c->proxy_protocol;
        p->buffer_bytes = c->connections.buffer_bytes;
        p->max_topic = c->connections.max_topic;
        p->bind_timeout_ns = (uint64_t)c->connections.bind_timeout_ms * 1000000u;
        p->connect_timeout_ns = (uint64_t)c->connections.connect_timeout_ms * 1000000u;
        p->syn_retries = c->connections.syn_retries;
        p->connect_window = c->connections.connect_window;
        p->idle_timeout_ns = (uint64_t)c->connections.idle_timeout_ms * 1000000u;
        p->max_connections = c->connections.max_connections;
        p->buffer_total = c->connections.buffer_total;
        p->per_source_max = c->connections.per_source_max;
        p->per_source_prefix6 = (uint8_t)c->connections.per_source_prefix6;
        p->close_timeout_ns = (uint64_t)c->connections.close_timeout_ms * 1000000u;
        p->udp_idle_timeout_ns = (uint64_t)c->connections.udp_idle_timeout_ms * 1000000u;
        p->udp_max_flows = c->connections.udp_max_flows;
        *out = p;
        return 0;
out:
        plan__free(p);
        return rc;
}

void plan__free(struct plan *p)
{
        if (!p)
                return;
        for (uint32_t i = 0; i < p->npools; i++) {
                pool__free(p->pools[i].pool);
                free(p->pools[i].brokers);
        }
        free(p->pools);
        route_table__free(p->routes);
        tls_routes__free(p->tls_routes);
        free(p->listeners);
        free(p->sources);
        free(p);
}

static bool addr_eq(const struct ip_addr *a, uint8_t family, const uint8_t *addr)
{
        return a->family == family && !memcmp(a->addr, addr, family == 4 ? 4 : 16);
}

const struct plan_listener *plan__listener(const struct plan *p, uint8_t family,
                                           const uint8_t *addr, uint16_t port)
{
        for (uint32_t i = 0; i < p->nlisteners; i++)
                if (p->listeners[i].port == port && addr_eq(&p->listeners[i].addr, family, addr))
                        return &p->listeners[i];
        return NULL;
}

const struct plan_source *plan__source(const struct plan *p, uint8_t family, const uint8_t *addr)
{
        for (uint32_t i = 0; i < p->nsources; i++)
                if (addr_eq(&p->sources[i].addr, family, addr))
                        return &p->sources[i];
        return NULL;
}

const struct plan *plan__get(const struct plan *p)
{
        __atomic_fetch_add(&((struct plan *)p)->refs, 1, __ATOMIC_RELAXED);
        return p;
}

void plan__put(const struct plan *p)
{
        if (p && __atomic_sub_fetch(&((struct plan *)p)->refs, 1, __ATOMIC_ACQ_REL) == 0)
                plan__free((struct plan *)p);
}

void plan__set_connack_caps(struct plan *p, const struct mqtt_caps *caps)
{
        p->v5_props_len = (uint8_t)mqtt_caps__props(caps, p->v5_props);
        p->alias_max = (caps->present & MQTT_HAS_TOPIC_ALIAS_MAX) ? caps->topic_alias_max : 0;
}
