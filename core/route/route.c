/*
 * The routing table: a trie of topic filters by level, and a list of
 * client-id globs.
 *
 * Owns the trie nodes, their labels and the patterns. The match functions
 * run per PUBLISH / CONNECT in the workers: they must not allocate, write or
 * recurse deeper than the trie (ROUTE_MAX_LEVELS).
 */
#include "core/route/route.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/topic.h"

/*
 * One level of filter. Literal children sit in a sorted array (binary
 * search: a level rarely has many siblings, and lookups touch few nodes);
 * '+' is a child; '#' can only end a filter (3.1.1 §4.7.1.2), so it is just
 * a rule on its parent.
 */
struct route_node {
        uint8_t *label; /* this level's text, for literal children */
        uint32_t label_len;
        uint32_t n_lit, cap_lit;
        uint32_t *lit;     /* literal children, sorted by label */
        uint32_t plus;     /* '+' child; 0 = none (the root is never a child) */
        int32_t pool;      /* a filter ends here */
        int32_t hash_pool; /* "<this level>/#" ("#" at the root) */
};

struct client_rule {
        uint8_t *pat;
        size_t len;
        int32_t pool;
};

struct route_table {
        struct route_node *nodes; /* nodes[0] is the root */
        uint32_t n_nodes, cap_nodes;
        struct client_rule *clients;
        uint32_t n_clients, cap_clients;
        int32_t dflt;
};

static int label_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
        size_t n = alen < blen ? alen : blen;
        int c = n ? memcmp(a, b, n) : 0;

        if (c)
                return c;
        return alen < blen ? -1 : alen > blen;
}

/* Index in n->lit of the child labelled s, or of where it would go. */
static uint32_t lit_search(const struct route_table *rt, const struct route_node *n,
                           const uint8_t *s, size_t len, bool *found)
{
        uint32_t lo = 0, hi = n->n_lit;

        *found = false;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                const struct route_node *c = &rt->nodes[n->lit[mid]];
                int r = label_cmp(c->label, c->label_len, s, len);

                if (r == 0) {
                        *found = true;
                        return mid;
                }
                if (r < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* A new node; its index, or 0 on ENOMEM (0 is the root, never new). */
static uint32_t node_new(struct route_table *rt)
{
        struct route_node *n;

        if (rt->n_nodes == rt->cap_nodes) {
                uint32_t cap = rt->cap_nodes ? rt->cap_nodes * 2 : 16;
                struct route_node *nn = realloc(rt->nodes, sizeof(*nn) * cap);

                if (!nn)
                        return 0;
                rt->nodes = nn;
                rt->cap_nodes = cap;
        }
        n = &rt->nodes[rt->n_nodes];
        memset(n, 0, sizeof(*n));
        n->pool = ROUTE_NONE;
        n->hash_pool = ROUTE_NONE;
        return rt->n_nodes++;
}

struct route_table *route_table__new(void)
{
        struct route_table *rt = calloc(1, sizeof(*rt));

        if (!rt)
                return NULL;
        rt->dflt = ROUTE_NONE;
        if (node_new(rt) != 0 || rt->n_nodes != 1) {
                route_table__free(rt);
                return NULL;
        }
        return rt;
}

void route_table__free(struct route_table *rt)
{
        if (!rt)
                return;
        for (uint32_t i = 0; i < rt->n_nodes; i++) {
                free(rt->nodes[i].label);
                free(rt->nodes[i].lit);
        }
        free(rt->nodes);
        for (uint32_t i = 0; i < rt->n_clients; i++)
                free(rt->clients[i].pat);
        free(rt->clients);
        free(rt);
}

/* The literal child of node ni labelled s, created if missing; 0 on ENOMEM. */
static uint32_t lit_child(struct route_table *rt, uint32_t ni, const uint8_t *s, size_t len)
{
        struct route_node *n = &rt->nodes[ni];
        uint8_t *label = NULL;
        bool found;
        uint32_t pos = lit_search(rt, n, s, len, &found), ci;

        if (found)
                return n->lit[pos];
        if (n->n_lit == n->cap_lit) {
                uint32_t cap = n->cap_lit ? n->cap_lit * 2 : 2;
                uint32_t *nl = realloc(n->lit, sizeof(*nl) * cap);

                if (!nl)
                        return 0;
                n->lit = nl;
                n->cap_lit = cap;
        }
        if (len) {
                label = malloc(len);
                if (!label)
                        return 0;
                memcpy(label, s, len);
        }
        ci = node_new(rt);
        if (!ci) {
                free(label);
                return 0;
        }
        /* node_new may have moved the array */
        n = &rt->nodes[ni];
        rt->nodes[ci].label = label;
        rt->nodes[ci].label_len = (uint32_t)len;
        memmove(&n->lit[pos + 1], &n->lit[pos], sizeof(*n->lit) * (n->n_lit - pos));
        n->lit[pos] = ci;
        n->n_lit++;
        return ci;
}

static bool is_shared(const uint8_t *f, size_t len)
{
        static const char prefix[] = "$share/";

        return len >= sizeof(prefix) - 1 && memcmp(f, prefix, sizeof(prefix) - 1) == 0;
}

int route_table__add_filter(struct route_table *rt, const uint8_t *filter, size_t len, int pool)
{
        uint32_t ni = 0, levels = 1;
        size_t pos = 0;
        int32_t *slot;

        if (pool < 0 || !filter || !len)
                return -EINVAL;
        if (mqtt_topic__check_filter(filter, len, false) != MQTT_OK || is_shared(filter, len))
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                levels += filter[i] == '/';
        if (levels > ROUTE_MAX_LEVELS)
                return -E2BIG;

        for (;;) {
                const uint8_t *s = filter + pos;
                const uint8_t *slash = memchr(s, '/', len - pos);
                size_t l = slash ? (size_t)(slash - s) : len - pos;

                if (l == 1 && s[0] == '#') {
                        /* the checker made sure '#' is the last level */
                        slot = &rt->nodes[ni].hash_pool;
                        break;
                }
                if (l == 1 && s[0] == '+') {
                        if (!rt->nodes[ni].plus) {
                                uint32_t ci = node_new(rt);

                                if (!ci)
                                        return -ENOMEM;
                                rt->nodes[ni].plus = ci;
                        }
                        ni = rt->nodes[ni].plus;
                } else {
                        ni = lit_child(rt, ni, s, l);
                        if (!ni)
                                return -ENOMEM;
                }
                if (!slash) {
                        slot = &rt->nodes[ni].pool;
                        break;
                }
                pos += l + 1;
        }
        if (*slot != ROUTE_NONE)
                return ROUTE_DUPLICATE;
        *slot = pool;
        return 0;
}

/*
 * Depth first: literal, then '+', then '#', so the first rule found is the
 * most specific (see route.h). Every trie node is reached by one path only,
 * so a lookup visits each node at most once whatever the topic.
 * pos > len means every level of the topic has been consumed.
 */
static int match_node(const struct route_table *rt, uint32_t ni, const uint8_t *t, size_t len,
                      size_t pos)
{
        const struct route_node *n = &rt->nodes[ni];
        /* 3.1.1 §4.7.2, 5.0 §4.7.2: a filter that starts with a wildcard
         * does not match a topic name that starts with '$'. */
        bool wild = !(ni == 0 && t[0] == '$');
        const uint8_t *s, *slash;
        size_t l, next;
        int r;

        if (pos > len) {
                if (n->pool != ROUTE_NONE)
                        return n->pool;
                /* "a/#" matches "a" too (3.1.1 §4.7.1.2) */
                return n->hash_pool;
        }
        s = t + pos;
        slash = memchr(s, '/', len - pos);
        l = slash ? (size_t)(slash - s) : len - pos;
        next = pos + l + 1; /* past the '/', or len + 1 at the end */

        if (n->n_lit) {
                bool found;
                uint32_t i = lit_search(rt, n, s, l, &found);

                if (found) {
                        r = match_node(rt, n->lit[i], t, len, next);
                        if (r != ROUTE_NONE)
                                return r;
                }
        }
        /* '+' matches one level, an empty one too (3.1.1 §4.7.1.3) */
        if (n->plus && wild) {
                r = match_node(rt, n->plus, t, len, next);
                if (r != ROUTE_NONE)
                        return r;
        }
        return wild ? n->hash_pool : ROUTE_NONE;
}

int route_table__match_topic(const struct route_table *rt, const uint8_t *topic, size_t len)
{
        /* a topic name is at least one character (3.1.1 §4.7.3) */
        if (!len)
                return ROUTE_NONE;
        return match_node(rt, 0, topic, len, 0);
}

bool route__glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t len)
{
        /*
         * The two-pointer wildcard match: on a mismatch, go back to the last
         * '*' and let it swallow one byte more. Only the last star matters
         * (an earlier one can absorb whatever a later one would), so this is
         * O(len * plen) worst case instead of exponential backtracking.
         */
        size_t p = 0, i = 0, star = SIZE_MAX, mark = 0;

        while (i < len) {
                if (p < plen && pat[p] == '*') {
                        star = p++;
                        mark = i;
                } else if (p < plen && (pat[p] == '?' || pat[p] == s[i])) {
                        p++;
                        i++;
                } else if (star != SIZE_MAX) {
                        p = star + 1;
                        i = ++mark;
                } else {
                        return false;
                }
        }
        while (p < plen && pat[p] == '*')
                p++;
        return p == plen;
}

int route_table__add_client_id(struct route_table *rt, const uint8_t *pattern, size_t len, int pool)
{
        struct client_rule *c;

        if (pool < 0 || (!pattern && len))
                return -EINVAL;
        for (uint32_t i = 0; i < rt->n_clients; i++)
                if (label_cmp(rt->clients[i].pat, rt->clients[i].len, pattern, len) == 0)
                        return ROUTE_DUPLICATE;
        if (rt->n_clients == rt->cap_clients) {
                uint32_t cap = rt->cap_clients ? rt->cap_clients * 2 : 4;
                struct client_rule *nc = realloc(rt->clients, sizeof(*nc) * cap);

                if (!nc)
                        return -ENOMEM;
                rt->clients = nc;
                rt->cap_clients = cap;
        }
        c = &rt->clients[rt->n_clients];
        c->pat = malloc(len + 1);
        if (!c->pat)
                return -ENOMEM;
        if (len)
                memcpy(c->pat, pattern, len);
        c->len = len;
        c->pool = pool;
        rt->n_clients++;
        return 0;
}

int route_table__match_client_id(const struct route_table *rt, const uint8_t *id, size_t len)
{
        for (uint32_t i = 0; i < rt->n_clients; i++)
                if (route__glob_match(rt->clients[i].pat, rt->clients[i].len, id, len))
                        return rt->clients[i].pool;
        return ROUTE_NONE;
}

int route_table__set_default(struct route_table *rt, int pool)
{
        if (pool < ROUTE_NONE)
                return -EINVAL;
        rt->dflt = pool;
        return 0;
}

int route_table__default(const struct route_table *rt)
{
        return rt->dflt;
}
