/*
 * The resolved plan of a configuration, as `mqttlb check` prints it
 * (config__print_plan): what the balancer would run, in the order it
 * decides things.
 *
 * Builds each hashing pool's Maglev table exactly as the balancer does
 * (pool__new, pool__add_broker, pool__build) to print each broker's share.
 * Reads a loaded configuration only; validates nothing (config.c did).
 */
#include "core/config/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/config_walk.h"
#include "core/route/maglev.h"
#include "core/route/route.h"
#include "core/route/route_tls.h"

static const char *size(uint32_t v, char buf[32])
{
        if (v % (1u << 20) == 0)
                snprintf(buf, 32, "%u MiB", v >> 20);
        else if (v % 1024 == 0)
                snprintf(buf, 32, "%u KiB", v >> 10);
        else
                snprintf(buf, 32, "%u bytes", v);
        return buf;
}

static const char *addr(const struct ip_addr *a, char buf[IP_ADDR_STRLEN])
{
        return ip_addr__format(a, buf, IP_ADDR_STRLEN);
}

/*
 * One level of a topic filter against another, in the order the route table
 * prefers them (route.h): at the first level where two filters differ, a
 * literal beats '+', '+' beats '#', and a filter that has ended beats "/#".
 * Distinct literals never match the same topic; they sort by bytes to keep
 * the listing stable.
 */
static int level_rank(const char *lv, size_t len)
{
        if (len == 1 && lv[0] == '#')
                return 3;
        if (len == 1 && lv[0] == '+')
                return 2;
        return 1;
}

static int filter_cmp(const char *a, const char *b)
{
        for (;;) {
                size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
                int ra = level_rank(a, la), rb = level_rank(b, lb), c;

                if (ra != rb)
                        return ra - rb;
                if (ra == 1) {
                        c = memcmp(a, b, la < lb ? la : lb);
                        if (c || la != lb)
                                return c ? c : (la < lb ? -1 : 1);
                }
                a += la;
                b += lb;
                if (!*a || !*b) /* the one that has ended comes first */
                        return (*a != 0) - (*b != 0);
                a++;
                b++;
        }
}

static int route_cmp(const void *x, const void *y)
{
        const struct config_route *const *a = x, *const *b = y;

        return filter_cmp((*a)->match, (*b)->match);
}

static void print_share(const struct config_pool *cp, FILE *out, const uint32_t *count,
                        uint32_t table)
{
        uint64_t wsum = 0;

        for (uint32_t j = 0; j < cp->nbrokers; j++)
                wsum += cp->brokers[j].weight;
        for (uint32_t j = 0; j < cp->nbrokers; j++) {
                const struct config_broker *b = &cp->brokers[j];

                fprintf(out, "    %-22s weight %-3u", b->name, b->weight);
                if (count)
                        fprintf(out, "  %6.2f%% of the table (%u entries)",
                                100.0 * count[j] / table, count[j]);
                else
                        fprintf(out, "  %6.2f%% of the weight",
                                wsum ? 100.0 * b->weight / (double)wsum : 0.0);
                fprintf(out, "  (line %d)\n", b->line);
        }
}

static int print_pool(const struct config_pool *cp, FILE *out)
{
        struct pool *p = NULL;
        const struct maglev *m;
        uint32_t *count = NULL, size = 0;
        int e;

        if ((e = pool__new(&p, cp->name, cp->balance, 0)))
                return e;
        for (uint32_t j = 0; j < cp->nbrokers; j++)
                if ((e = pool__add_broker(p, cp->brokers[j].name, cp->brokers[j].weight)) < 0)
                        goto out;
        if ((e = pool__build(p)))
                goto out;
        if ((m = pool__maglev(p))) {
                const uint16_t *t = maglev__table(m);

                size = maglev__size(m);
                if (!(count = calloc(cp->nbrokers, sizeof(*count)))) {
                        e = -ENOMEM;
                        goto out;
                }
                for (uint32_t k = 0; k < size; k++)
                        if (t[k] < cp->nbrokers)
                                count[t[k]]++;
        }
        static const char *const health[] = {"mqtt", "mqtt", "tcp", "none"}; /* by enum */

        fprintf(out, "  %s: balance %s, %u broker(s)", cp->name, pool_policy__str(cp->balance),
                cp->nbrokers);
        if (m)
                fprintf(out, ", Maglev table of %u entries", size);
        else
                fprintf(out, ", by load / weight");
        fprintf(out, ", health %s%s\n", health[cp->health], cp->tls ? " over TLS" : "");
        if (cp->tls && (cp->tls_opts.server_name || cp->tls_opts.ca || cp->tls_opts.cert))
                fprintf(out, "    checks: server name %s, %s, client certificate %s\n",
                        cp->tls_opts.server_name ? cp->tls_opts.server_name : "(none)",
                        cp->tls_opts.ca ? "certificates verified" : "certificates not verified",
                        cp->tls_opts.cert ? cp->tls_opts.cert : "(none)");
        print_share(cp, out, count, size);
        e = 0;
out:
        free(count);
        pool__free(p);
        return e;
}

static bool is_sni(const struct config_route *r, bool wild)
{
        return r->kind == CONFIG_ROUTE_SNI && (r->match[0] == '*') == wild;
}

static void print_route(const struct config *c, const struct config_route *r, FILE *out)
{
        fprintf(out, "    %-24s -> %-12s (line %d)\n", r->match, c->pools[r->pool].name, r->line);
}

/* sni routes: exact names, then wildcards longest first; alpn in file order. */
static void print_tls_routes(const struct config *c, FILE *out)
{
        uint32_t exact = 0, wild = 0, alpn = 0;

        for (uint32_t i = 0; i < c->nroutes; i++) {
                exact += is_sni(&c->routes[i], false);
                wild += is_sni(&c->routes[i], true);
                alpn += c->routes[i].kind == CONFIG_ROUTE_ALPN;
        }
        if (!exact && !wild && !alpn)
                return;
        fprintf(out, "  sni, exact names (tls listeners; any case, a trailing dot ignored):\n");
        for (uint32_t i = 0; i < c->nroutes; i++)
                if (is_sni(&c->routes[i], false))
                        print_route(c, &c->routes[i], out);
        fprintf(out, "%s  sni, wildcards (the longest suffix wins):\n",
                exact ? "" : "    (none)\n");
        for (size_t len = TLS_NAME_MAX + 3; len > 0; len--)
                for (uint32_t i = 0; i < c->nroutes; i++)
                        if (is_sni(&c->routes[i], true) && strlen(c->routes[i].match) == len)
                                print_route(c, &c->routes[i], out);
        fprintf(out, "%s  alpn (the first the client offers wins, in file order):\n",
                wild ? "" : "    (none)\n");
        for (uint32_t i = 0; i < c->nroutes; i++)
                if (c->routes[i].kind == CONFIG_ROUTE_ALPN)
                        print_route(c, &c->routes[i], out);
        if (!alpn)
                fprintf(out, "    (none)\n");
}

static int print_routes(const struct config *c, FILE *out)
{
        const struct config_route **order = NULL;
        uint32_t n = 0;

        fprintf(out, "routes:\n");
        if (c->nroutes && !(order = calloc(c->nroutes, sizeof(*order))))
                return -ENOMEM;
        for (uint32_t i = 0; i < c->nroutes; i++)
                if (c->routes[i].kind == CONFIG_ROUTE_TOPIC)
                        order[n++] = &c->routes[i];
        if (n)
                qsort(order, n, sizeof(*order), route_cmp);
        fprintf(out, "  topic filters (the first that matches wins: most specific first):\n");
        if (!n)
                fprintf(out, "    (none)\n");
        for (uint32_t k = 0; k < n; k++) {
                const struct config_route *r = order[k];

                fprintf(out, "    %-24s -> %-12s (line %d)\n", r->match, c->pools[r->pool].name,
                        r->line);
        }
        free(order);
        n = 0;
        fprintf(out, "  client-id patterns (the first that matches wins, in file order):\n");
        for (uint32_t i = 0; i < c->nroutes; i++) {
                const struct config_route *r = &c->routes[i];

                if (r->kind != CONFIG_ROUTE_CLIENT_ID)
                        continue;
                fprintf(out, "    %-24s -> %-12s (line %d)\n", r->match, c->pools[r->pool].name,
                        r->line);
                n++;
        }
        if (!n)
                fprintf(out, "    (none)\n");
        print_tls_routes(c, out);
        fprintf(out, "  default: %s\n",
                c->default_pool >= 0 ? c->pools[c->default_pool].name
                                     : "(none: a client no rule matches is not bound)");
        return 0;
}

static void print_tunables(const struct config *c, FILE *out)
{
        static const char *const xsk_modes[] = {"auto", "zero-copy", "copy"};
        static const char *const xdp_modes[] = {"auto", "native", "generic"};
        char d1[32], d2[32], d3[32];

        fprintf(out, "misroute: %s\n",
                c->misroute == CONFIG_MISROUTE_DISCONNECT ? "disconnect" : "forward");
        fprintf(out, "proxy_protocol: %s\n",
                c->proxy_protocol ? "on (a PROXY v2 header to brokers)" : "off");
        fprintf(out,
                "health: every %s, timeout %s, up after %u success(es), down after %u "
                "failure(s)\n",
                cfg_walk__duration((uint64_t)c->health.interval_ms * 1000, d1),
                cfg_walk__duration((uint64_t)c->health.timeout_ms * 1000, d2), c->health.rise,
                c->health.fall);
        fprintf(out, "admin: socket %s, metrics %s\n", c->admin.socket,
                c->admin.metrics ? c->admin.metrics : "off");
        fprintf(out, "connections:\n");
        fprintf(out, "  buffer %s, max_topic %u, max_connections %u per worker\n",
                size(c->connections.buffer_bytes, d1), c->connections.max_topic,
                c->connections.max_connections);
        fprintf(out, "  bind_timeout %s, connect_timeout %s, syn_retries %u, idle_timeout %s\n",
                cfg_walk__duration((uint64_t)c->connections.bind_timeout_ms * 1000, d1),
                cfg_walk__duration((uint64_t)c->connections.connect_timeout_ms * 1000, d2),
                c->connections.syn_retries,
                cfg_walk__duration((uint64_t)c->connections.idle_timeout_ms * 1000, d3));
        fprintf(out, "  connect_window %u per broker%s\n", c->connections.connect_window,
                c->connections.connect_window ? "" : " (no limit)");
        fprintf(out, "  state_file %s\n",
                c->connections.state_file ? c->connections.state_file : "none");
        fprintf(out, "xsk:\n  mode %s, xdp_mode %s, ring_size %u, frames ", xsk_modes[c->xsk.mode],
                xdp_modes[c->xsk.xdp], c->xsk.ring_size);
        if (c->xsk.frames)
                fprintf(out, "%u", c->xsk.frames);
        else
                fprintf(out, "sized from the rings");
        fprintf(out, "\n  busy_poll %s, huge_pages %s\n",
                c->xsk.busy_poll_us ? cfg_walk__duration(c->xsk.busy_poll_us, d1) : "off",
                c->xsk.huge_pages ? "on" : "off");
}

int config__print_plan(const struct config *c, FILE *out)
{
        char a[IP_ADDR_STRLEN];
        int e;

        fprintf(out, "config: %s\n", c->path ? c->path : "(string)");
        fprintf(out, "workers: %u", c->workers);
        if (c->cores[0] >= 0) {
                fprintf(out, ", pinned to cores");
                for (uint32_t i = 0; i < c->workers; i++)
                        fprintf(out, "%s%d", i ? ", " : " ", c->cores[i]);
                fputc('\n', out);
        } else {
                fprintf(out, ", not pinned\n");
        }
        fprintf(out, "interfaces:");
        for (uint32_t i = 0; i < c->ninterfaces; i++)
                fprintf(out, "%s%s", i ? ", " : " ", c->interfaces[i]);
        fprintf(out, "%s\n", c->ninterfaces == 1 ? " (one-armed)" : "");

        fprintf(out, "listeners:\n");
        for (uint32_t i = 0; i < c->nlisteners; i++) {
                const struct config_listener *l = &c->listeners[i];

                fprintf(out, "  %s%s%s:%u %s", l->addr.family == 6 ? "[" : "", addr(&l->addr, a),
                        l->addr.family == 6 ? "]" : "", l->port,
                        l->proto == CONFIG_PROTO_TLS   ? "tls (passthrough: bound by SNI / ALPN)"
                        : l->proto == CONFIG_PROTO_UDP ? "udp (a flow per client address:port)"
                        : l->proto == CONFIG_PROTO_MQTTSN
                            ? "mqtt-sn (a flow per client address:port, bound by client id)"
                            : "mqtt (bound by topic / client id)");
                if ((l->proto == CONFIG_PROTO_UDP || l->proto == CONFIG_PROTO_MQTTSN) &&
                    l->pool >= 0)
                        fprintf(out, " to pool %s, a backend by %s on the client address",
                                c->pools[l->pool].name,
                                pool_policy__str(c->pools[l->pool].balance));
                if (l->proto == CONFIG_PROTO_TLS)
                        fprintf(out, ", unrouted clients to %s",
                                l->pool >= 0           ? c->pools[l->pool].name
                                : c->default_pool >= 0 ? c->pools[c->default_pool].name
                                                       : "(none: closed)");
                fprintf(out, "\n");
        }
        fprintf(out, "source addresses (full NAT; local ports of broker connections):\n");
        for (uint32_t i = 0; i < c->nsources; i++) {
                const struct config_source *s = &c->sources[i];
                uint32_t ports = (uint32_t)s->port_hi - s->port_lo + 1;

                fprintf(out, "  %s ports %u-%u (%u ports, %u per worker)\n", addr(&s->addr, a),
                        s->port_lo, s->port_hi, ports, ports / c->workers);
        }

        fprintf(out, "pools:\n");
        for (uint32_t i = 0; i < c->npools; i++)
                if ((e = print_pool(&c->pools[i], out)))
                        return e;
        if ((e = print_routes(c, out)))
                return e;
        print_tunables(c, out);
        return ferror(out) ? -EIO : 0;
}
