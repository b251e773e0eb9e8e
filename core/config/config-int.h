/*
 * Inside the configuration loader: what config.c (the schema, the checks
 * across sections, loading) and config_route.c (the routes section and its
 * checks) share. Not an API: only core/config/ files include it.
 */
#ifndef MQTTLB_CORE_CONFIG_INT_H
#define MQTTLB_CORE_CONFIG_INT_H

#include "core/config/config.h"
#include "core/config/config_walk.h"

/* A string and the line of its node. */
struct str_at {
        char *s;
        int line;
};

struct loader {
        struct cfg_walk w; /* first: handlers get &w and find the loader */
        struct config *c;
        const yaml_node_t *root;
        struct str_at *route_pool;    /* per route: the pool it names, looked up at the end */
        struct str_at *listener_pool; /* per listener: its pool (udp, tls), likewise */
        struct str_at default_pool;
};

static inline struct loader *loader_of(struct cfg_walk *w)
{
        return (struct loader *)(void *)w;
}

/* The line of a key in a top-level section (or at the top: section NULL); 0 when absent. */
static inline int line_of_key(struct loader *L, const char *section, const char *key)
{
        const yaml_node_t *n = section ? cfg_walk__find(&L->w, L->root, section, NULL) : L->root;
        int line = 0;

        cfg_walk__find(&L->w, n, key, &line);
        return line;
}

/* config_route.c */
/* The `routes` and `default_pool` keys. */
int config__f_routes(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path);
int config__f_default_pool(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                           void *obj, const char *path);
/* A string and its line (a route's or a listener's pool name). */
int config__f_str_at(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path);
/* Every pool name a route or a listener gives, looked up; the routes
 * against the listeners (sni/alpn routes need a tls listener). */
void config__check_routes(struct loader *L);

#endif
