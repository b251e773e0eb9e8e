/*
 * The routes section of the configuration (config.h): topic filters and
 * client-id patterns for MQTT listeners, server names and ALPN protocols
 * for TLS listeners, the default pool; and the checks that look them up
 * against the pools and the listeners once the whole file is read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/config-int.h"
#include "core/route/route.h"
#include "core/route/route_tls.h"
#include "mqtt/topic.h"

#define ROUTES_MAX 10000 /* duplicates are checked pairwise */

/* What a route item says, before its pool can be looked up. */
struct route_in {
        struct str_at topic, client_id, sni, alpn, pool;
};

int config__f_str_at(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path)
{
        struct str_at *at = (struct str_at *)(void *)((char *)obj + f->off);
        const char *s = cfg_walk__text(w, n, path, f->doc);

        if (!s)
                return -EINVAL;
        at->line = cfg_walk__line(n);
        return cfg_walk__set_str(&at->s, s);
}

static const struct cfg_field route_fields[] = {
    CFG_FN("topic", offsetof(struct route_in, topic), config__f_str_at, "a topic filter"),
    CFG_FN("client_id", offsetof(struct route_in, client_id), config__f_str_at,
           "a client-id pattern"),
    CFG_FN("sni", offsetof(struct route_in, sni), config__f_str_at,
           "a server name a TLS client asks for, or *.suffix"),
    CFG_FN("alpn", offsetof(struct route_in, alpn), config__f_str_at,
           "an ALPN protocol a TLS client offers"),
    CFG_REQUIRED("pool", offsetof(struct route_in, pool), config__f_str_at,
                 "the pool the matching clients go to"),
};
static const struct cfg_schema route_schema = CFG_SCHEMA(route_fields);

/*
 * A route's topic filter: what route_table__add_filter accepts, with the
 * reason said precisely (MQTT 3.1.1 §4.7.1, 5.0 §4.7.1).
 */
static int check_filter(struct cfg_walk *w, const struct str_at *t, const char *path)
{
        const char *s = t->s;
        size_t len = strlen(s), levels = 1, pos = 0;
        char b[CFG_SHOW_LEN];

        if (!len)
                return cfg_walk__fail(w, t->line, path, "an empty topic filter matches nothing");
        if (!strncmp(s, "$share/", 7))
                return cfg_walk__fail(w, t->line, path,
                                      "%s is a shared subscription: it names a subscriber group, "
                                      "not topics (route the filter after the group name)",
                                      cfg_walk__show(s, b));
        if (mqtt_topic__check_filter((const uint8_t *)s, len, false) == MQTT_ERR_UTF8)
                return cfg_walk__fail(w, t->line, path, "%s is not valid UTF-8 (or holds U+0000)",
                                      cfg_walk__show(s, b));
        while (pos <= len) {
                const char *lv = s + pos, *slash = strchr(lv, '/');
                size_t l = slash ? (size_t)(slash - lv) : len - pos;

                if (memchr(lv, '#', l) && (l != 1 || slash))
                        return cfg_walk__fail(w, t->line, path,
                                              "%s: '#' must be the whole last level (a/#)",
                                              cfg_walk__show(s, b));
                if (memchr(lv, '+', l) && l != 1)
                        return cfg_walk__fail(w, t->line, path,
                                              "%s: '+' must be a whole level (a/+/c)",
                                              cfg_walk__show(s, b));
                pos += l + 1;
                levels += slash != NULL;
        }
        if (mqtt_topic__check_filter((const uint8_t *)s, len, false) != MQTT_OK)
                return cfg_walk__fail(w, t->line, path, "%s is not a valid topic filter",
                                      cfg_walk__show(s, b));
        if (levels > ROUTE_MAX_LEVELS)
                return cfg_walk__fail(w, t->line, path, "%s has %zu levels; at most %d",
                                      cfg_walk__show(s, b), levels, ROUTE_MAX_LEVELS);
        return 0;
}

static int check_pattern(struct cfg_walk *w, const struct str_at *t, const char *path)
{
        size_t len = strlen(t->s);
        char b[CFG_SHOW_LEN];

        if (!len)
                return cfg_walk__fail(w, t->line, path,
                                      "an empty client-id pattern (use \"*\" for any)");
        if (len > 65535)
                return cfg_walk__fail(w, t->line, path,
                                      "longer than a client id can be (65535 bytes)");
        if (mqtt_utf8__check((const uint8_t *)t->s, len) != MQTT_OK)
                return cfg_walk__fail(w, t->line, path, "%s is not valid UTF-8 (or holds U+0000)",
                                      cfg_walk__show(t->s, b));
        return 0;
}

/* A route's match: which key gave it (one of four), and its check. */
static int route_match(struct cfg_walk *w, struct config_route *r, struct route_in *in,
                       const char *path, struct str_at **m)
{
        struct {
                struct str_at *at;
                enum config_route_kind kind;
                const char *key;
        } keys[] = {
            {&in->topic, CONFIG_ROUTE_TOPIC, "topic"},
            {&in->client_id, CONFIG_ROUTE_CLIENT_ID, "client_id"},
            {&in->sni, CONFIG_ROUTE_SNI, "sni"},
            {&in->alpn, CONFIG_ROUTE_ALPN, "alpn"},
        };
        char sub[CFG_PATH_LEN], b[CFG_SHOW_LEN];
        const char *why;

        *m = NULL;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                if (!keys[k].at->s)
                        continue;
                if (*m)
                        return cfg_walk__fail(w, keys[k].at->line, path,
                                              "give one of topic, client_id, sni or alpn (one "
                                              "rule, one match)");
                *m = keys[k].at;
                r->kind = keys[k].kind;
                cfg_walk__join(sub, path, keys[k].key);
        }
        if (!*m)
                return cfg_walk__fail(w, r->line, path,
                                      "needs topic (a topic filter), client_id (a client-id "
                                      "pattern), sni (a server name) or alpn (a protocol)");
        switch (r->kind) {
        case CONFIG_ROUTE_TOPIC: return check_filter(w, *m, sub);
        case CONFIG_ROUTE_CLIENT_ID: return check_pattern(w, *m, sub);
        case CONFIG_ROUTE_SNI:
                if ((why = tls_routes__check_name((*m)->s, strlen((*m)->s))))
                        return cfg_walk__fail(w, (*m)->line, sub, "%s: %s",
                                              cfg_walk__show((*m)->s, b), why);
                return 0;
        case CONFIG_ROUTE_ALPN:
                if (!*(*m)->s || strlen((*m)->s) > 255)
                        return cfg_walk__fail(w, (*m)->line, sub,
                                              "an ALPN protocol is 1 to 255 bytes (RFC 7301)");
                return 0;
        }
        return 0;
}

/* Whether two route matches are the same rule (server names in any case,
 * a trailing dot ignored). */
static bool same_match(enum config_route_kind kind, const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);

        if (kind != CONFIG_ROUTE_SNI)
                return !strcmp(a, b);
        la -= la && a[la - 1] == '.';
        lb -= lb && b[lb - 1] == '.';
        return la == lb && !strncasecmp(a, b, la);
}

static int route_item(struct loader *L, const yaml_node_t *item, uint32_t i, const char *path,
                      struct route_in *in)
{
        struct cfg_walk *w = &L->w;
        struct config_route *r = &L->c->routes[i];
        static const char *const keys[] = {"topic", "client_id", "sni", "alpn"};
        struct str_at *m;
        char b[CFG_SHOW_LEN], sub[CFG_PATH_LEN];
        int e;

        if ((e = cfg_walk__map(w, item, &route_schema, in, path)))
                return e;
        r->line = cfg_walk__line(item);
        if ((e = route_match(w, r, in, path, &m)))
                return e;
        cfg_walk__join(sub, path, keys[r->kind]);
        for (uint32_t j = 0; j < i; j++)
                if (L->c->routes[j].kind == r->kind &&
                    same_match(r->kind, L->c->routes[j].match, m->s))
                        return cfg_walk__fail(w, m->line, sub,
                                              "%s is already routed at line %d (the first would "
                                              "win)",
                                              cfg_walk__show(m->s, b), L->c->routes[j].line);
        /* hand the strings over: the match to the route, the pool's name to the last checks */
        r->match = m->s;
        m->s = NULL;
        L->route_pool[i] = in->pool;
        in->pool.s = NULL;
        return 0;
}

int config__f_routes(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path)
{
        struct loader *L = loader_of(w);
        struct config *c = obj;
        yaml_node_item_t *it;
        uint32_t count;
        char sub[CFG_PATH_LEN];
        int e;

        if ((e = cfg_walk__items(w, n, path, 0, ROUTES_MAX, "route", &it, &count)))
                return e;
        if (!count)
                return 0;
        c->routes = calloc(count, sizeof(*c->routes));
        L->route_pool = calloc(count, sizeof(*L->route_pool));
        if (!c->routes || !L->route_pool)
                return -ENOMEM;
        for (uint32_t i = 0; i < count; i++) {
                struct route_in in;

                memset(&in, 0, sizeof(in));
                c->nroutes = i + 1;
                c->routes[i].pool = -1;
                cfg_walk__join_index(sub, path, i);
                e = route_item(L, cfg_walk__node(w, it[i]), i, sub, &in);
                free(in.topic.s);
                free(in.client_id.s);
                free(in.sni.s);
                free(in.alpn.s);
                free(in.pool.s);
                if (e)
                        return e;
        }
        return 0;
}

int config__f_default_pool(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                           void *obj, const char *path)
{
        struct loader *L = loader_of(w);
        const char *s = cfg_walk__text(w, n, path, "a pool name");

        if (!s)
                return -EINVAL;
        L->default_pool.line = cfg_walk__line(n);
        return cfg_walk__set_str(&L->default_pool.s, s);
}

static void pool_names(const struct config *c, char *out, size_t len)
{
        size_t o = 0;

        out[0] = 0;
        for (uint32_t i = 0; i < c->npools && o < len; i++)
                o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", c->pools[i].name);
}

/* The shortest topic name a valid filter can match ("a/#" matches "a", '+' an empty level). */
static size_t filter_min_topic(const char *f)
{
        size_t len = strlen(f), plus = 0;

        for (const char *p = f; *p; p++)
                plus += *p == '+';
        if (len >= 2 && !strcmp(f + len - 2, "/#"))
                return len - 2 - plus;
        return len - plus - (len == 1 && f[0] == '#');
}

/* A pool name of routes[i] or listeners[i] looked up (-1, reported, when none). */
static int lookup(struct loader *L, const struct str_at *p, const char *path, const char *names)
{
        char b[CFG_SHOW_LEN];
        int pool = config__pool_index(L->c, p->s);

        if (pool < 0)
                cfg_walk__fail(&L->w, p->line, path, "no pool named %s (pools: %s)",
                               cfg_walk__show(p->s, b), names);
        return pool;
}

/* The listeners' pools; the pools tls clients reach are TLS pools. */
static void check_listeners(struct loader *L, const char *names, bool *tls, bool *mqtt)
{
        struct config *c = L->c;
        char sub[CFG_PATH_LEN];

        *tls = *mqtt = false;
        for (uint32_t i = 0; i < c->nlisteners; i++) {
                struct config_listener *l = &c->listeners[i];

                *tls |= l->proto == CONFIG_PROTO_TLS;
                *mqtt |= l->proto == CONFIG_PROTO_MQTT;
                bool dgram = l->proto == CONFIG_PROTO_UDP || l->proto == CONFIG_PROTO_MQTTSN;

                if (dgram && !(L->listener_pool && L->listener_pool[i].s)) {
                        snprintf(sub, sizeof(sub), "listeners[%u]", i);
                        cfg_walk__fail(&L->w, l->line, sub,
                                       "a %s listener needs pool: the backends its datagrams go "
                                       "to",
                                       l->proto == CONFIG_PROTO_UDP ? "udp" : "mqtt-sn");
                        continue;
                }
                if (!L->listener_pool || !L->listener_pool[i].s)
                        continue;
                snprintf(sub, sizeof(sub), "listeners[%u].pool", i);
                if (l->proto == CONFIG_PROTO_MQTT) {
                        cfg_walk__fail(&L->w, L->listener_pool[i].line, sub,
                                       "an MQTT listener binds by its routes and default_pool; "
                                       "pool is for protocol: tls");
                        continue;
                }
                l->pool = lookup(L, &L->listener_pool[i], sub, names);
                if (l->pool >= 0 && l->proto == CONFIG_PROTO_TLS)
                        c->pools[l->pool].tls = true;
                if (l->pool >= 0 && dgram)
                        c->pools[l->pool].udp = true;
        }
}

/* What the listeners and routes make of the pools: a pool takes datagrams
 * or connections, not both; its health checks default to none (udp) or mqtt. */
static void check_pools(struct loader *L)
{
        struct config *c = L->c;
        char sub[CFG_PATH_LEN];

        for (uint32_t i = 0; i < c->npools; i++) {
                struct config_pool *p = &c->pools[i];

                snprintf(sub, sizeof(sub), "pools[%u]", i);
                if (p->udp && p->tls)
                        cfg_walk__fail(&L->w, p->line, sub,
                                       "pool '%s' is named by a udp listener and for TLS: its "
                                       "backends take datagrams or TLS connections, not both",
                                       p->name);
                if (p->health == CONFIG_HEALTH_DEFAULT)
                        p->health = p->udp ? CONFIG_HEALTH_NONE : CONFIG_HEALTH_MQTT;
                else if (p->udp && p->health == CONFIG_HEALTH_MQTT)
                        cfg_walk__fail(&L->w, p->line, sub,
                                       "pool '%s' takes datagrams (a udp listener): health: mqtt "
                                       "cannot check it (tcp or none)",
                                       p->name);
        }
}

void config__check_routes(struct loader *L)
{
        struct cfg_walk *w = &L->w;
        struct config *c = L->c;
        char names[256], b[CFG_SHOW_LEN], sub[CFG_PATH_LEN];
        bool tls, mqtt, tls_fallback = true;

        pool_names(c, names, sizeof(names));
        check_listeners(L, names, &tls, &mqtt);
        for (uint32_t i = 0; i < c->nroutes; i++) {
                struct config_route *r = &c->routes[i];
                bool tls_route = r->kind == CONFIG_ROUTE_SNI || r->kind == CONFIG_ROUTE_ALPN;

                snprintf(sub, sizeof(sub), "routes[%u].pool", i);
                r->pool = lookup(L, &L->route_pool[i], sub, names);
                if (tls_route && r->pool >= 0)
                        c->pools[r->pool].tls = true;
                snprintf(sub, sizeof(sub), "routes[%u].%s", i,
                         r->kind == CONFIG_ROUTE_SNI    ? "sni"
                         : r->kind == CONFIG_ROUTE_ALPN ? "alpn"
                                                        : "topic");
                if (tls_route && !tls)
                        cfg_walk__fail(w, r->line, sub,
                                       "an %s route, but no listener has protocol: tls",
                                       r->kind == CONFIG_ROUTE_SNI ? "sni" : "alpn");
                if (r->kind == CONFIG_ROUTE_TOPIC &&
                    filter_min_topic(r->match) > c->connections.max_topic)
                        cfg_walk__fail(w, r->line, sub,
                                       "%s can only match topics longer than "
                                       "connections.max_topic (%u)",
                                       cfg_walk__show(r->match, b), c->connections.max_topic);
        }
        for (uint32_t i = 0; i < c->nlisteners; i++)
                if (c->listeners[i].proto == CONFIG_PROTO_TLS &&
                    !(L->listener_pool && L->listener_pool[i].s))
                        tls_fallback = false;
        if (L->default_pool.s) {
                c->default_pool = config__pool_index(c, L->default_pool.s);
                if (c->default_pool < 0)
                        cfg_walk__fail(w, L->default_pool.line, "default_pool",
                                       "no pool named %s (pools: %s)",
                                       cfg_walk__show(L->default_pool.s, b), names);
        } else if (mqtt && !c->nroutes) {
                cfg_walk__fail(w, cfg_walk__line(L->root), NULL,
                               "no routes and no default_pool: no client could be sent anywhere");
        } else if (tls && !tls_fallback && !c->nroutes) {
                cfg_walk__fail(w, cfg_walk__line(L->root), NULL,
                               "a tls listener without a pool, no routes and no default_pool: no "
                               "TLS client could be sent anywhere");
        }
        check_pools(L);
}
