/*
 * The configuration file (config.h): mqttlb's schema, the checks across
 * sections, loading and freeing. The YAML side (types, shape, messages) is
 * config_walk.c; the routes section config_route.c; the printed plan is
 * config_plan.c.
 *
 * Owns every string and array of struct config. Must not print, open
 * sockets or look at interfaces: what the file says is checked here, whether
 * the host can do it is the balancer's business when it starts.
 *
 * Why libyaml's document API and a schema table of our own, not libcyaml:
 * libcyaml maps YAML straight onto structs, but its errors are a code plus
 * text sent to a log callback, and once it has loaded, the position of every
 * node is gone. Half of the mistakes worth catching are only visible across
 * sections (a route naming an unknown pool, a broker of a family no source
 * address has, a source range that covers a listener port), and those must
 * name a line too. libyaml's document keeps every node with its start mark,
 * so the walk checks types and limits in file order and the checks across
 * sections can still point at the node they are about. The schema is a few
 * tables (key, type, limits, handler, what it is), no longer than libcyaml's
 * would be, and it gives the exact messages: the known keys at that level,
 * the accepted values, the range.
 *
 * Two phases: the walk (types, ranges, duplicates within a list; stops at
 * the first mistake, which is then the first in file order), then the checks
 * across sections, which all run and report the mistake nearest the top.
 *
 * Why one file of 1,000 lines: the schema is one table of every key and its
 * limits, and the checks across sections read all of it. The routes section
 * and its checks are config_route.c (config-int.h shares the loader).
 */
#include "core/config/config.h"
#include "core/config/config-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf/lb_shared.h"
#include "core/config/config_walk.h"
#include "core/route/maglev.h"
#include "core/util/netaddr.h"
#include "core/route/route.h"
#include "mqtt/topic.h"

#define CONFIG_FILE_MAX (4u << 20) /* a configuration is a few KiB; /dev/zero is not one */
#define IFNAME_MAX      15         /* IFNAMSIZ - 1 */
#define SOCKET_PATH_MAX 107        /* sizeof(sun_path) - 1 */
#define CPU_MAX         1023       /* CPU_SETSIZE - 1 */
#define POOLS_MAX       1024
#define POOL_NAME_MAX   63

/* ---- addresses ---- */

/* Why an address cannot stand for one host, or NULL. */
static const char *addr_problem(const struct ip_addr *a)
{
        static const uint8_t zero[16];
        static const uint8_t bcast[4] = {255, 255, 255, 255};

        if (!memcmp(a->addr, zero, sizeof(zero)))
                return "is the unspecified address";
        if (a->family == 4 && (a->addr[0] & 0xf0) == 0xe0)
                return "is a multicast address";
        if (a->family == 4 && !memcmp(a->addr, bcast, 4))
                return "is the broadcast address";
        if (a->family == 6 && a->addr[0] == 0xff)
                return "is a multicast address";
        return NULL;
}

/*
 * One host address without a port (listeners, sources). shown is what the
 * file says (a source's range included), hint what to add to "not an
 * address".
 */
static int parse_host(struct cfg_walk *w, const yaml_node_t *n, const char *path, const char *shown,
                      const char *host, const char *hint, struct ip_addr *out)
{
        struct net_addr na;
        const char *why;
        char b[CFG_SHOW_LEN];
        int line = cfg_walk__line(n);

        if (ip_addr__parse(out, host)) {
                if (net_addr__parse(host, false, &na, &why))
                        return cfg_walk__fail(w, line, path, "%s is not an IPv4 or IPv6 address%s",
                                              cfg_walk__show(shown, b), hint);
                return cfg_walk__fail(w, line, path, "%s: %s", cfg_walk__show(shown, b),
                                      na.port ? "takes no port here (the port goes in 'port')"
                                              : "write the IPv6 address without []");
        }
        if ((why = addr_problem(out)))
                return cfg_walk__fail(w, line, path, "%s %s", cfg_walk__show(shown, b), why);
        return 0;
}

static int f_ip(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                const char *path)
{
        const char *s = cfg_walk__text(w, n, path, "an IPv4 or IPv6 address");

        return s ? parse_host(w, n, path, s, s, " (names are not resolved)",
                              (struct ip_addr *)(void *)((char *)obj + f->off))
                 : -EINVAL;
}

static int f_port(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                  const char *path)
{
        uint32_t v;
        int e = cfg_walk__u32(w, n, path, 1, 65535, &v);

        if (!e)
                *(uint16_t *)(void *)((char *)obj + f->off) = (uint16_t)v;
        return e;
}

/* ---- interfaces ---- */

static int f_ifname(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                    const char *path)
{
        struct config *c = loader_of(w)->c;
        char **slot = obj, b[CFG_SHOW_LEN];
        const char *s = cfg_walk__text(w, n, path, "an interface name");
        size_t len;

        if (!s)
                return -EINVAL;
        len = strlen(s);
        if (!len || len > IFNAME_MAX || strcspn(s, "/: \t") != len || !strcmp(s, ".") ||
            !strcmp(s, ".."))
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "%s is not an interface name (1 to %d characters, no '/', "
                                      "':' or blanks)",
                                      cfg_walk__show(s, b), IFNAME_MAX);
        for (char **other = c->interfaces; other < slot; other++)
                if (!strcmp(*other, s))
                        return cfg_walk__fail(w, cfg_walk__line(n), path,
                                              "interface %s is listed twice", cfg_walk__show(s, b));
        return cfg_walk__set_str(slot, s);
}

static const struct cfg_field interface_fields[] = {
    CFG_REQUIRED("name", 0, f_ifname, "the interface's name, e.g. eth0"),
};
static const struct cfg_schema interface_schema = CFG_SCHEMA(interface_fields);

static int f_interfaces(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                        void *obj, const char *path)
{
        struct config *c = obj;
        yaml_node_item_t *it;
        uint32_t count;
        char sub[CFG_PATH_LEN];
        int e;

        if ((e = cfg_walk__items(w, n, path, 1, CONFIG_INTERFACES_MAX, "interface", &it, &count)))
                return e;
        for (uint32_t i = 0; i < count; i++) {
                cfg_walk__join_index(sub, path, i);
                e = cfg_walk__map(w, cfg_walk__node(w, it[i]), &interface_schema, &c->interfaces[i],
                                  sub);
                if (e)
                        return e;
                c->ninterfaces = i + 1;
        }
        return 0;
}

/* ---- listeners ---- */

/* protocol: mqtt (the default), tls, udp or mqtt-sn (CONTRACT.md). */
static int f_protocol(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                      void *obj, const char *path)
{
        struct config_listener *l = obj;
        const char *s = cfg_walk__text(w, n, path, "a protocol");
        char b[CFG_SHOW_LEN];

        if (!s)
                return -EINVAL;
        if (!strcmp(s, "mqtt"))
                l->proto = CONFIG_PROTO_MQTT;
        else if (!strcmp(s, "tls"))
                l->proto = CONFIG_PROTO_TLS;
        else if (!strcmp(s, "udp"))
                l->proto = CONFIG_PROTO_UDP;
        else if (!strcmp(s, "mqtt-sn"))
                l->proto = CONFIG_PROTO_MQTTSN;
        else
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "%s is not a protocol (mqtt, tls, udp or mqtt-sn)",
                                      cfg_walk__show(s, b));
        return 0;
}

/* A listener's pool: its name kept with its line, looked up once the pools are read. */
static int f_listener_pool(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                           void *obj, const char *path)
{
        struct loader *L = loader_of(w);

        return config__f_str_at(
            w, f, n, &L->listener_pool[(struct config_listener *)obj - L->c->listeners], path);
}

static const struct cfg_field listener_fields[] = {
    CFG_REQUIRED("address", offsetof(struct config_listener, addr), f_ip,
                 "the address clients connect to, the VIP"),
    CFG_REQUIRED("port", offsetof(struct config_listener, port), f_port,
                 "the TCP port clients connect to, e.g. 1883"),
    CFG_FN("protocol", 0, f_protocol, "mqtt (the default), tls, udp or mqtt-sn"),
    CFG_FN("pool", 0, f_listener_pool,
           "udp, mqtt-sn: its pool; tls: the pool of clients no sni / alpn route matches"),
};
static const struct cfg_schema listener_schema = CFG_SCHEMA(listener_fields);

static int f_listeners(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                       void *obj, const char *path)
{
        struct config *c = obj;
        yaml_node_item_t *it;
        uint32_t count;
        char sub[CFG_PATH_LEN], a[IP_ADDR_STRLEN];
        int e;

        if ((e = cfg_walk__items(w, n, path, 1, LB_LISTENERS_MAX, "listener", &it, &count)))
                return e;
        if (!(c->listeners = calloc(count, sizeof(*c->listeners))))
                return -ENOMEM;
        if (!(loader_of(w)->listener_pool = calloc(count, sizeof(struct str_at))))
                return -ENOMEM;
        c->nlisteners = count;
        for (uint32_t i = 0; i < count; i++) {
                struct config_listener *l = &c->listeners[i];
                const yaml_node_t *item = cfg_walk__node(w, it[i]);

                l->pool = -1;
                cfg_walk__join_index(sub, path, i);
                if ((e = cfg_walk__map(w, item, &listener_schema, l, sub)))
                        return e;
                l->line = cfg_walk__line(item);
                for (uint32_t j = 0; j < i; j++)
                        if (ip_addr__equal(&c->listeners[j].addr, &l->addr) &&
                            c->listeners[j].port == l->port)
                                return cfg_walk__fail(w, l->line, sub,
                                                      "%s port %u is already a listener (line %d)",
                                                      ip_addr__format(&l->addr, a, sizeof(a)),
                                                      l->port, c->listeners[j].line);
        }
        return 0;
}

/* ---- source addresses ---- */

/* "ADDR", "ADDR:LO-HI", "[IPv6]:LO-HI" (a single port counts as LO-HI). */
static int parse_source(struct cfg_walk *w, const yaml_node_t *n, const char *path,
                        struct config_source *src)
{
        const char *s = cfg_walk__text(w, n, path, "an address, ADDR or ADDR:LO-HI");
        const char *range = NULL, *colon;
        char host[CFG_PATH_LEN], b[CFG_SHOW_LEN];

        if (!s)
                return -EINVAL;
        if (strlen(s) >= sizeof(host))
                return cfg_walk__fail(w, cfg_walk__line(n), path, "%s is not an address",
                                      cfg_walk__show(s, b));
        colon = strrchr(s, ':');
        snprintf(host, sizeof(host), "%s", s);
        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || (close[1] && close[1] != ':'))
                        return cfg_walk__fail(w, cfg_walk__line(n), path,
                                              "%s: an IPv6 address with a port range is written "
                                              "[ADDR]:LO-HI",
                                              cfg_walk__show(s, b));
                host[close - s] = 0;
                memmove(host, host + 1, strlen(host));
                range = close[1] ? close + 2 : NULL;
        } else if (colon && strchr(s, ':') == colon) { /* one colon: IPv4 and a range */
                host[colon - s] = 0;
                range = colon + 1;
        }
        if (parse_host(w, n, path, s, host,
                       " (ADDR or ADDR:LO-HI; an IPv6 address with a range is [ADDR]:LO-HI)",
                       &src->addr))
                return -EINVAL;
        /* below Linux's default ephemeral range (32768-60999): the kernel's
         * own connections from this address (health checks among them) keep
         * reaching the kernel, the XDP program takes only ours */
        src->port_lo = CONFIG_SOURCE_PORT_LO;
        src->port_hi = CONFIG_SOURCE_PORT_HI;
        if (range && port_range__parse(range, &src->port_lo, &src->port_hi))
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "%s: the port range is not LO-HI with 1 <= LO <= HI <= 65535",
                                      cfg_walk__show(s, b));
        return 0;
}

static int f_sources(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path)
{
        struct config *c = obj;
        yaml_node_item_t *it;
        uint32_t count;
        char sub[CFG_PATH_LEN], a[IP_ADDR_STRLEN];
        int e;

        if ((e = cfg_walk__items(w, n, path, 1, LB_SOURCES_MAX, "source address", &it, &count)))
                return e;
        if (!(c->sources = calloc(count, sizeof(*c->sources))))
                return -ENOMEM;
        c->nsources = count;
        for (uint32_t i = 0; i < count; i++) {
                struct config_source *src = &c->sources[i];
                const yaml_node_t *item = cfg_walk__node(w, it[i]);

                cfg_walk__join_index(sub, path, i);
                if ((e = parse_source(w, item, sub, src)))
                        return e;
                src->line = cfg_walk__line(item);
                for (uint32_t j = 0; j < i; j++)
                        if (ip_addr__equal(&c->sources[j].addr, &src->addr))
                                return cfg_walk__fail(
                                    w, src->line, sub, "%s is already a source address (line %d)",
                                    ip_addr__format(&src->addr, a, sizeof(a)), c->sources[j].line);
        }
        return 0;
}

/* ---- workers ---- */

static int f_cores(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                   const char *path)
{
        struct config *c = obj;
        yaml_node_item_t *it;
        uint32_t count, v;
        char sub[CFG_PATH_LEN];
        int e;

        if ((e = cfg_walk__items(w, n, path, 1, CONFIG_WORKERS_MAX, "core", &it, &count)))
                return e;
        for (uint32_t i = 0; i < count; i++) {
                const yaml_node_t *item = cfg_walk__node(w, it[i]);

                cfg_walk__join_index(sub, path, i);
                if ((e = cfg_walk__u32(w, item, sub, 0, CPU_MAX, &v)))
                        return e;
                for (uint32_t j = 0; j < i; j++)
                        if (c->cores[j] == (int)v)
                                return cfg_walk__fail(w, cfg_walk__line(item), sub,
                                                      "core %u is listed twice: one worker per "
                                                      "core",
                                                      v);
                c->cores[i] = (int)v;
        }
        c->workers = count;
        return 0;
}

/* ---- pools ---- */

static int f_pool_name(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                       void *obj, const char *path)
{
        struct config_pool *p = obj;
        const char *s = cfg_walk__text(w, n, path, "a pool name");
        char b[CFG_SHOW_LEN];
        size_t len;

        if (!s)
                return -EINVAL;
        len = strlen(s);
        if (!len || len > POOL_NAME_MAX ||
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "%s is not a pool name (1 to %d letters, digits, '_', '.', "
                                      "'-')",
                                      cfg_walk__show(s, b), POOL_NAME_MAX);
        for (struct config_pool *q = loader_of(w)->c->pools; q < p; q++)
                if (!strcmp(q->name, s))
                        return cfg_walk__fail(w, cfg_walk__line(n), path,
                                              "pool %s is defined twice (line %d)",
                                              cfg_walk__show(s, b), q->line);
        return cfg_walk__set_str(&p->name, s);
}

static int f_balance(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path)
{
        struct config_pool *p = obj;
        const char *s = cfg_walk__text(w, n, path, "a balance policy");
        char names[128] = "", b[CFG_SHOW_LEN];
        size_t o = 0;

        if (!s)
                return -EINVAL;
        if (!pool_policy__parse(s, &p->balance))
                return 0;
        for (int i = 0; i < POOL_POLICY__COUNT; i++)
                o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
                                      pool_policy__str((enum pool_policy)i));
        return cfg_walk__fail(w, cfg_walk__line(n), path, "%s is not one of: %s",
                              cfg_walk__show(s, b), names);
}

/* "ADDR:PORT" or "[IPv6]:PORT" into a broker, with its normalised name. */
static int parse_broker_addr(struct cfg_walk *w, const yaml_node_t *n, const char *path,
                             struct config_broker *b)
{
        const char *s = cfg_walk__text(w, n, path, "a broker, ADDR:PORT"), *why;
        char name[IP_ADDR_STRLEN + 8], q[CFG_SHOW_LEN];
        struct net_addr na;

        if (!s)
                return -EINVAL;
        if (net_addr__parse(s, true, &na, &why))
                return cfg_walk__fail(w, cfg_walk__line(n), path, "%s: %s", cfg_walk__show(s, q),
                                      why);
        b->addr = na.ip;
        b->port = na.port;
        if ((why = addr_problem(&b->addr)))
                return cfg_walk__fail(w, cfg_walk__line(n), path, "%s %s", cfg_walk__show(s, q),
                                      why);
        return cfg_walk__set_str(&b->name, net_addr__str(&na, name, sizeof(name)));
}

static int f_broker_addr(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                         void *obj, const char *path)
{
        return parse_broker_addr(w, n, path, obj);
}

static const struct cfg_field broker_fields[] = {
    CFG_REQUIRED("address", 0, f_broker_addr, "the broker, ADDR:PORT or [IPv6]:PORT"),
    CFG_U32("weight", offsetof(struct config_broker, weight), 0, MAGLEV_MAX_WEIGHT,
            "its relative share; 0 drains it"),
};
static const struct cfg_schema broker_schema = CFG_SCHEMA(broker_fields);

static int f_brokers(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path)
{
        struct config_pool *p = obj;
        yaml_node_item_t *it;
        uint32_t count;
        char sub[CFG_PATH_LEN];
        int e;

        if ((e = cfg_walk__items(w, n, path, 1, MAGLEV_MAX_BACKENDS, "broker", &it, &count)))
                return e;
        if (!(p->brokers = calloc(count, sizeof(*p->brokers))))
                return -ENOMEM;
        p->nbrokers = count;
        for (uint32_t i = 0; i < count; i++) {
                struct config_broker *b = &p->brokers[i];
                const yaml_node_t *item = cfg_walk__node(w, it[i]);

                cfg_walk__join_index(sub, path, i);
                b->weight = 1;
                b->line = cfg_walk__line(item);
                if (item->type == YAML_MAPPING_NODE)
                        e = cfg_walk__map(w, item, &broker_schema, b, sub);
                else if (item->type == YAML_SCALAR_NODE)
                        e = parse_broker_addr(w, item, sub, b);
                else
                        e = cfg_walk__expected(w, item, sub,
                                               "\"ADDR:PORT\" or {address: ADDR:PORT, weight: N}");
                if (e)
                        return e;
                for (uint32_t j = 0; j < i; j++)
                        if (!strcmp(p->brokers[j].name, b->name))
                                return cfg_walk__fail(w, b->line, sub,
                                                      "broker %s is already in this pool (line %d)",
                                                      b->name, p->brokers[j].line);
        }
        return 0;
}

static const struct cfg_choice health_choices[] = {
    {"mqtt", CONFIG_HEALTH_MQTT}, {"tcp", CONFIG_HEALTH_TCP}, {"none", CONFIG_HEALTH_NONE}, {0}};
_Static_assert(CONFIG_HEALTH_DEFAULT == 0, "a pool without health: is zeroed");
_Static_assert(sizeof(enum config_health) == sizeof(int), "int-sized enum");

/* A pool's tls: section (health checks of TLS brokers). */
static int f_pool_tls(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                      void *obj, const char *path);

static const struct cfg_field pool_fields[] = {
    CFG_REQUIRED("name", 0, f_pool_name, "the name routes use"),
    CFG_REQUIRED("brokers", 0, f_brokers, "a pool needs at least one broker, ADDR:PORT"),
    CFG_FN("balance", 0, f_balance, "client-id, least-connections, least-rate or source-ip"),
    CFG_CHOICE("health", offsetof(struct config_pool, health), health_choices,
               "how its brokers are checked: mqtt, tcp or none"),
    CFG_FN("tls", 0, f_pool_tls, "its brokers speak TLS: the health checks' options"),
};

#define POOL_OFF(m) offsetof(struct config_pool, m)
static const struct cfg_field pool_tls_fields[] = {
    CFG_STR("server_name", POOL_OFF(tls_opts.server_name), "the SNI health checks send"),
    CFG_STR("ca", POOL_OFF(tls_opts.ca), "a CA file: verify the brokers' certificates"),
    CFG_STR("cert", POOL_OFF(tls_opts.cert), "a client certificate file (PEM)"),
    CFG_STR("key", POOL_OFF(tls_opts.key), "its private key file (PEM)"),
};
static const struct cfg_schema pool_tls_schema = CFG_SCHEMA(pool_tls_fields);

static int f_pool_tls(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                      void *obj, const char *path)
{
        struct config_pool *p = obj;
        int e = cfg_walk__map(w, n, &pool_tls_schema, p, path);

        if (e)
                return e;
        p->tls = true;
        p->tls_opts.line = cfg_walk__line(n);
        if (!p->tls_opts.cert != !p->tls_opts.key)
                return cfg_walk__fail(w, p->tls_opts.line, path,
                                      "give cert and key together (a client certificate and its "
                                      "key)");
        return 0;
}
static const struct cfg_schema pool_schema = CFG_SCHEMA(pool_fields);

static int f_pools(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                   const char *path)
{
        struct config *c = obj;
        yaml_node_item_t *it;
        uint32_t count;
        char sub[CFG_PATH_LEN];
        int e;

        if ((e = cfg_walk__items(w, n, path, 1, POOLS_MAX, "pool", &it, &count)))
                return e;
        if (!(c->pools = calloc(count, sizeof(*c->pools))))
                return -ENOMEM;
        for (uint32_t i = 0; i < count; i++) {
                struct config_pool *p = &c->pools[i];
                const yaml_node_t *item = cfg_walk__node(w, it[i]);
                uint32_t live = 0;

                c->npools = i + 1;
                p->line = cfg_walk__line(item);
                cfg_walk__join_index(sub, path, i);
                if ((e = cfg_walk__map(w, item, &pool_schema, p, sub)))
                        return e;
                for (uint32_t j = 0; j < p->nbrokers; j++)
                        live += p->brokers[j].weight > 0;
                if (!live)
                        return cfg_walk__fail(w, p->line, sub,
                                              "every broker of pool '%s' has weight 0: it could "
                                              "take no client",
                                              p->name);
        }
        return 0;
}

/* ---- the sections ---- */

static int f_socket(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                    const char *path)
{
        const char *s = cfg_walk__text(w, n, path, "a socket path");

        if (!s)
                return -EINVAL;
        if (!*s)
                return cfg_walk__fail(w, cfg_walk__line(n), path, "an empty socket path");
        if (strlen(s) > SOCKET_PATH_MAX)
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "longer than a socket path can be (%d bytes)",
                                      SOCKET_PATH_MAX);
        return cfg_walk__set_str(&((struct config *)obj)->admin.socket, s);
}

static int f_metrics(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                     const char *path)
{
        const char *s = cfg_walk__text(w, n, path, "ADDR:PORT"), *why;
        char name[IP_ADDR_STRLEN + 8], b[CFG_SHOW_LEN];
        struct net_addr na;

        if (!s)
                return -EINVAL;
        if (net_addr__parse(s, true, &na, &why))
                return cfg_walk__fail(w, cfg_walk__line(n), path, "%s: %s", cfg_walk__show(s, b),
                                      why);
        return cfg_walk__set_str(&((struct config *)obj)->admin.metrics,
                                 net_addr__str(&na, name, sizeof(name)));
}

static int f_ring(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                  const char *path)
{
        uint32_t v;
        int e = cfg_walk__u32(w, n, path, 64, 65536, &v);

        if (e)
                return e;
        if (v & (v - 1))
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "%u is not a power of two (64 to 65536)", v);
        ((struct config *)obj)->xsk.ring_size = v;
        return 0;
}

static int f_frames(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n, void *obj,
                    const char *path)
{
        uint32_t v;
        int e = cfg_walk__u32(w, n, path, 0, 1u << 24, &v);

        if (e)
                return e;
        if (v && v < 1024)
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "%u frames are too few (1024 to 16777216, or 0: sized from "
                                      "the rings)",
                                      v);
        ((struct config *)obj)->xsk.frames = v;
        return 0;
}

/* CFG_CHOICE writes an int. */
_Static_assert(sizeof(enum config_misroute) == sizeof(int), "int-sized enum");
_Static_assert(sizeof(enum config_xsk_mode) == sizeof(int), "int-sized enum");
_Static_assert(sizeof(enum config_xdp_mode) == sizeof(int), "int-sized enum");

static const struct cfg_choice misroute_choices[] = {
    {"forward", CONFIG_MISROUTE_FORWARD}, {"disconnect", CONFIG_MISROUTE_DISCONNECT}, {0}};
static const struct cfg_choice xsk_choices[] = {
    {"auto", CONFIG_XSK_AUTO}, {"zero-copy", CONFIG_XSK_ZEROCOPY}, {"copy", CONFIG_XSK_COPY}, {0}};
static const struct cfg_choice xdp_choices[] = {
    {"auto", CONFIG_XDP_AUTO}, {"native", CONFIG_XDP_NATIVE}, {"generic", CONFIG_XDP_GENERIC}, {0}};

#define OFF(member) offsetof(struct config, member)
#define HOUR_MS     3600000u
#define DAY_MS      86400000u

static const struct cfg_field health_fields[] = {
    CFG_MS("interval", OFF(health.interval_ms), 100, HOUR_MS, "time between checks"),
    CFG_MS("timeout", OFF(health.timeout_ms), 10, HOUR_MS, "time a check may take"),
    CFG_U32("rise", OFF(health.rise), 1, 100, "successes before a broker is up"),
    CFG_U32("fall", OFF(health.fall), 1, 100, "failures before a broker is down"),
};

static const struct cfg_field admin_fields[] = {
    CFG_FN("socket", 0, f_socket, "the control socket's path"),
    CFG_FN("metrics", 0, f_metrics, "ADDR:PORT of /metrics"),
};

static const struct cfg_field connections_fields[] = {
    CFG_SIZE("buffer", OFF(connections.buffer_bytes), 4096, 16u << 20,
             "client bytes held before binding"),
    CFG_U32("max_topic", OFF(connections.max_topic), 1, 65535,
            "longest topic, filter or client id kept"),
    CFG_MS("bind_timeout", OFF(connections.bind_timeout_ms), 10, HOUR_MS,
           "unbound this long: the default pool"),
    CFG_MS("connect_timeout", OFF(connections.connect_timeout_ms), 10, 60000,
           "the first SYN's wait for the broker"),
    CFG_U32("syn_retries", OFF(connections.syn_retries), 0, 10, "SYN retransmissions per broker"),
    CFG_U32("connect_window", OFF(connections.connect_window), 0, 1u << 20,
            "broker legs being set up at once per broker"),
    CFG_MS("idle_timeout", OFF(connections.idle_timeout_ms), 1000, 7 * DAY_MS,
           "silence that ends a connection"),
    CFG_U32("max_connections", OFF(connections.max_connections), 1, 1u << 24,
            "connections per worker"),
    CFG_STR("state_file", OFF(connections.state_file), "where learned bindings are kept"),
    CFG_U32("syn_rate", OFF(connections.syn_rate), 0, 100000000,
            "client SYNs per second each CPU passes"),
    CFG_U32("syn_burst", OFF(connections.syn_burst), 1, 100000000,
            "client SYNs passed at once over syn_rate"),
    CFG_SIZE("buffer_total", OFF(connections.buffer_total), 65536, 0xffffffffu,
             "all connections' held client bytes, per worker"),
    CFG_U32("per_source_max", OFF(connections.per_source_max), 0, 1u << 24,
            "open connections per client address"),
    CFG_U32("per_source_prefix6", OFF(connections.per_source_prefix6), 1, 128,
            "IPv6 prefix length the per-source limits count by"),
    CFG_U32("per_source_rate", OFF(connections.per_source_rate), 0, 100000000,
            "new connections per second per client address"),
    CFG_U32("per_source_burst", OFF(connections.per_source_burst), 0, 100000000,
            "connections per client address passed at once over per_source_rate"),
    CFG_MS("close_timeout", OFF(connections.close_timeout_ms), 100, 60000,
           "wait for a closed client's FIN before an RST"),
    CFG_MS("udp_idle_timeout", OFF(connections.udp_idle_timeout_ms), 100, 7 * DAY_MS,
           "a UDP flow ends after this long without a datagram"),
    CFG_U32("udp_max_flows", OFF(connections.udp_max_flows), 1, 1u << 24, "UDP flows per worker"),
    CFG_MS("udp_down_hold", OFF(connections.udp_down_hold_ms), 100, HOUR_MS,
           "a backend that answered ICMP unreachable stays out of its pool this long"),
};

static const struct cfg_field xsk_fields[] = {
    CFG_CHOICE("mode", OFF(xsk.mode), xsk_choices, "AF_XDP copy mode"),
    CFG_CHOICE("xdp_mode", OFF(xsk.xdp), xdp_choices, "how the XDP program is attached"),
    CFG_FN("ring_size", 0, f_ring, "entries per ring"),
    CFG_FN("frames", 0, f_frames, "UMEM frames"),
    CFG_US("busy_poll", OFF(xsk.busy_poll_us), 0, 1000000, "busy-poll budget"),
    CFG_BOOL("huge_pages", OFF(xsk.huge_pages), "UMEM on huge pages"),
};

static const struct cfg_schema health_schema = CFG_SCHEMA(health_fields);
static const struct cfg_schema admin_schema = CFG_SCHEMA(admin_fields);
static const struct cfg_schema connections_schema = CFG_SCHEMA(connections_fields);
static const struct cfg_schema xsk_schema = CFG_SCHEMA(xsk_fields);

static const struct cfg_field top_fields[] = {
    CFG_REQUIRED("interfaces", 0, f_interfaces, "the AF_XDP interfaces, e.g. [{name: eth0}]"),
    CFG_REQUIRED("listeners", 0, f_listeners, "the addresses and ports clients connect to"),
    CFG_REQUIRED("source_addresses", 0, f_sources, "the addresses broker connections leave from"),
    CFG_U32("workers", OFF(workers), 1, CONFIG_WORKERS_MAX, "how many workers"),
    CFG_FN("cores", 0, f_cores, "one worker pinned per core listed"),
    CFG_REQUIRED("pools", 0, f_pools, "the broker pools, each with a name and brokers"),
    CFG_FN("routes", 0, config__f_routes, "topic, client-id, sni and alpn rules"),
    CFG_FN("default_pool", 0, config__f_default_pool, "the pool when no route matches"),
    CFG_CHOICE("misroute", OFF(misroute), misroute_choices, "forward or disconnect"),
    CFG_BOOL("proxy_protocol", OFF(proxy_protocol), "PROXY v2 header to brokers"),
    CFG_MAP("health", &health_schema, "health checks"),
    CFG_MAP("admin", &admin_schema, "control socket and metrics"),
    CFG_MAP("connections", &connections_schema, "per-connection limits and timers"),
    CFG_MAP("xsk", &xsk_schema, "AF_XDP settings"),
};
static const struct cfg_schema top_schema = CFG_SCHEMA(top_fields);

/* ---- checks across sections ---- */

static void check_addresses(struct loader *L)
{
        struct cfg_walk *w = &L->w;
        const struct config *c = L->c;
        char a[IP_ADDR_STRLEN], sub[CFG_PATH_LEN];
        bool family[7] = {false};

        for (uint32_t i = 0; i < c->nsources; i++) {
                const struct config_source *s = &c->sources[i];
                uint32_t ports = (uint32_t)s->port_hi - s->port_lo + 1;

                snprintf(sub, sizeof(sub), "source_addresses[%u]", i);
                family[s->addr.family] = true;
                /* a broker leg's local port says which worker owns it (port % workers) */
                if (ports < c->workers)
                        cfg_walk__fail(w, s->line, sub,
                                       "%u port(s) for %u workers: each worker needs ports of its "
                                       "own",
                                       ports, c->workers);
                for (uint32_t j = 0; j < c->nlisteners; j++) {
                        const struct config_listener *l = &c->listeners[j];

                        if (ip_addr__equal(&l->addr, &s->addr) && l->port >= s->port_lo &&
                            l->port <= s->port_hi)
                                cfg_walk__fail(w, s->line, sub,
                                               "ports %u-%u of %s include listener port %u (line "
                                               "%d); give a range without it",
                                               s->port_lo, s->port_hi,
                                               ip_addr__format(&s->addr, a, sizeof(a)), l->port,
                                               l->line);
                }
        }
        for (uint32_t i = 0; i < c->npools; i++)
                for (uint32_t j = 0; j < c->pools[i].nbrokers; j++) {
                        const struct config_broker *br = &c->pools[i].brokers[j];

                        snprintf(sub, sizeof(sub), "pools[%u].brokers[%u]", i, j);
                        if (!family[br->addr.family])
                                cfg_walk__fail(w, br->line, sub,
                                               "%s is IPv%u but no source address is: the "
                                               "balancer could not connect to it",
                                               br->name, br->addr.family);
                }
}

/* Every check runs; cfg_walk__fail keeps the mistake nearest the top of the file. */
static void check_across(struct loader *L)
{
        struct cfg_walk *w = &L->w;
        struct config *c = L->c;
        int workers = line_of_key(L, NULL, "workers"), cores = line_of_key(L, NULL, "cores");

        if (workers && cores)
                cfg_walk__fail(w, workers > cores ? workers : cores,
                               workers > cores ? "workers" : "cores",
                               "give workers or cores, not both (cores: one worker per core "
                               "listed)");
        if (!c->workers)
                c->workers = 1;
        config__check_routes(L);
        check_addresses(L);
        if ((uint64_t)c->connections.buffer_total < 2ull * c->connections.buffer_bytes) {
                int total = line_of_key(L, "connections", "buffer_total");

                cfg_walk__fail(w, total ? total : line_of_key(L, "connections", "buffer"),
                               total ? "connections.buffer_total" : "connections.buffer",
                               "buffer_total must be at least twice buffer: half of it is kept "
                               "for new connections' first bytes, the other half is what "
                               "buffers grow into");
        }
        if (c->health.timeout_ms > c->health.interval_ms) {
                int timeout = line_of_key(L, "health", "timeout");

                if (timeout)
                        cfg_walk__fail(w, timeout, "health.timeout",
                                       "longer than health.interval: a check would still be "
                                       "waiting when the next starts");
                else
                        cfg_walk__fail(w, line_of_key(L, "health", "interval"), "health.interval",
                                       "shorter than health.timeout (default 1500ms)");
        }
}

/* ---- loading ---- */

static int defaults(struct config *c)
{
        c->default_pool = -1;
        for (int i = 0; i < CONFIG_WORKERS_MAX; i++)
                c->cores[i] = -1;
        c->misroute = CONFIG_MISROUTE_FORWARD;
        c->health.interval_ms = 2000;
        c->health.timeout_ms = 1500;
        c->health.rise = 2;
        c->health.fall = 2;
        c->connections.buffer_bytes = 131072;
        c->connections.max_topic = 65535;
        c->connections.bind_timeout_ms = 5000;
        c->connections.connect_timeout_ms = 250;
        c->connections.syn_rate = 100000;
        c->connections.syn_burst = 10000;
        c->connections.syn_retries = 3;
        c->connections.connect_window = 64;
        c->connections.idle_timeout_ms = 900000;
        c->connections.max_connections = 65536;
        c->connections.udp_idle_timeout_ms = 30000;
        c->connections.udp_max_flows = 16384;
        c->connections.udp_down_hold_ms = 10000;
        c->connections.buffer_total = 256u << 20;
        c->connections.per_source_prefix6 = 64;
        c->connections.close_timeout_ms = 2000;
        c->xsk.mode = CONFIG_XSK_AUTO;
        c->xsk.xdp = CONFIG_XDP_AUTO;
        c->xsk.ring_size = 4096;
        return cfg_walk__set_str(&c->admin.socket, "/run/mqttlb.sock");
}

static int load(struct loader *L)
{
        int e = cfg_walk__load(&L->w, &L->root);

        if (e)
                return e;
        if (!L->root)
                return cfg_walk__fail(&L->w, 1, NULL,
                                      "the file holds no configuration (interfaces, listeners, "
                                      "source_addresses and pools are required)");
        if (L->root->type != YAML_MAPPING_NODE)
                return cfg_walk__expected(&L->w, L->root, NULL,
                                          "a mapping of keys (interfaces:, listeners:, ...)");
        if ((e = cfg_walk__map(&L->w, L->root, &top_schema, L->c, NULL)))
                return e;
        check_across(L);
        return L->w.err_line ? -EINVAL : 0;
}

static int load_text(const char *name, const char *yaml, size_t len, struct config **out, char *err,
                     size_t errlen)
{
        struct loader L;
        int e;

        memset(&L, 0, sizeof(L));
        L.w.name = name;
        L.w.text = yaml;
        L.w.textlen = len;
        L.w.err = err;
        L.w.errlen = errlen;
        *out = NULL;
        if (errlen)
                err[0] = 0;
        if (!(L.c = calloc(1, sizeof(*L.c))))
                return -ENOMEM;
        e = defaults(L.c);
        if (!e && !(L.c->path = strdup(name)))
                e = -ENOMEM;
        if (!e)
                e = load(&L);
        cfg_walk__done(&L.w);
        for (uint32_t i = 0; L.route_pool && i < L.c->nroutes; i++)
                free(L.route_pool[i].s);
        free(L.route_pool);
        for (uint32_t i = 0; L.listener_pool && i < L.c->nlisteners; i++)
                free(L.listener_pool[i].s);
        free(L.listener_pool);
        free(L.default_pool.s);
        if (e == -ENOMEM && errlen)
                snprintf(err, errlen, "%s: out of memory", name);
        if (e) {
                config__free(L.c);
                return e;
        }
        *out = L.c;
        return 0;
}

int config__load_string(const char *name, const char *yaml, struct config **out, char *err,
                        size_t errlen)
{
        return load_text(name, yaml, strlen(yaml), out, err, errlen);
}

/* The whole file into a buffer of at most CONFIG_FILE_MAX bytes. */
static int read_file(const char *path, char **buf, size_t *len)
{
        struct stat st;
        ssize_t r;
        int fd, e = 0;

        *buf = NULL;
        *len = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st))
                e = -errno;
        else if (S_ISDIR(st.st_mode))
                e = -EISDIR;
        else if (!(*buf = malloc(CONFIG_FILE_MAX + 1)))
                e = -ENOMEM;
        while (!e && *len <= CONFIG_FILE_MAX) {
                r = read(fd, *buf + *len, CONFIG_FILE_MAX + 1 - *len);
                if (r == 0)
                        break;
                if (r < 0 && errno != EINTR)
                        e = -errno;
                else if (r > 0)
                        *len += (size_t)r;
        }
        if (!e && *len > CONFIG_FILE_MAX)
                e = -EFBIG;
        close(fd);
        if (e) {
                free(*buf);
                *buf = NULL;
        }
        return e;
}

int config__load(const char *path, struct config **out, char *err, size_t errlen)
{
        char *buf;
        size_t len;
        int e = read_file(path, &buf, &len);

        *out = NULL;
        if (e) {
                if (errlen)
                        snprintf(err, errlen, "%s: %s", path,
                                 e == -EFBIG ? "larger than 4 MiB: not a configuration file"
                                             : strerror(-e));
                return e;
        }
        e = load_text(path, buf, len, out, err, errlen);
        free(buf);
        return e;
}

void config__free(struct config *c)
{
        if (!c)
                return;
        for (uint32_t i = 0; i < CONFIG_INTERFACES_MAX; i++)
                free(c->interfaces[i]);
        free(c->listeners);
        free(c->sources);
        for (uint32_t i = 0; i < c->npools; i++) {
                for (uint32_t j = 0; j < c->pools[i].nbrokers; j++)
                        free(c->pools[i].brokers[j].name);
                free(c->pools[i].brokers);
                free(c->pools[i].name);
                free(c->pools[i].tls_opts.server_name);
                free(c->pools[i].tls_opts.ca);
                free(c->pools[i].tls_opts.cert);
                free(c->pools[i].tls_opts.key);
        }
        free(c->pools);
        for (uint32_t i = 0; i < c->nroutes; i++)
                free(c->routes[i].match);
        free(c->routes);
        free(c->admin.socket);
        free(c->admin.metrics);
        free(c->connections.state_file);
        free(c->path);
        free(c);
}

int config__pool_index(const struct config *c, const char *name)
{
        for (uint32_t i = 0; name && i < c->npools; i++)
                if (c->pools[i].name && !strcmp(c->pools[i].name, name))
                        return (int)i;
        return -1;
}
