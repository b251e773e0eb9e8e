/*
 * TLS routes: exact server names and wildcard suffixes in two sorted arrays
 * (binary search), ALPN protocols in a list kept in the order added.
 *
 * A wildcard "*.example.net" is kept as its suffix ".example.net"; a name
 * is looked up whole, then from each of its dots left to right, so the
 * first suffix found is the longest.
 */
#include "core/route/route_tls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct name_rule {
        char *name; /* lower case, no trailing dot; wildcards: ".suffix" */
        uint8_t len;
        int32_t pool;
};

struct alpn_rule {
        uint8_t proto[255];
        uint8_t len;
        int32_t pool;
};

struct rules {
        struct name_rule *v;
        uint32_t n, cap;
};

struct tls_routes {
        struct rules exact, wild;
        struct alpn_rule *alpn;
        uint32_t nalpn, cap_alpn;
};

struct tls_routes *tls_routes__new(void)
{
        return calloc(1, sizeof(struct tls_routes));
}

static void rules_free(struct rules *r)
{
        for (uint32_t i = 0; i < r->n; i++)
                free(r->v[i].name);
        free(r->v);
}

void tls_routes__free(struct tls_routes *t)
{
        if (!t)
                return;
        rules_free(&t->exact);
        rules_free(&t->wild);
        free(t->alpn);
        free(t);
}

static char lower(uint8_t ch)
{
        return (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
}

const char *tls_routes__check_name(const char *name, size_t len)
{
        size_t label = 0;

        if (len >= 2 && name[0] == '*' && name[1] == '.') {
                name += 2;
                len -= 2;
        }
        if (len && name[len - 1] == '.')
                len--;
        if (!len)
                return "an empty name";
        if (len > TLS_NAME_MAX)
                return "longer than a host name can be (253 bytes)";
        for (size_t i = 0; i < len; i++) {
                char ch = name[i];

                if (ch == '.') {
                        if (!label)
                                return "an empty label (two dots, or a leading dot)";
                        label = 0;
                        continue;
                }
                if (ch == '*')
                        return "'*' may only start a name, as \"*.example.net\"";
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
                        return "a host name holds letters, digits, '-', '_' and dots only";
                if (++label > 63)
                        return "a label is longer than 63 bytes";
        }
        if (!label)
                return "an empty label (two dots, or a leading dot)";
        return NULL;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
        int c = memcmp(a, b, alen < blen ? alen : blen);

        if (c)
                return c;
        return alen < blen ? -1 : alen > blen;
}

/* Index of the rule named s (*found), or of where it would go. */
static uint32_t rules_search(const struct rules *r, const char *s, size_t len, bool *found)
{
        uint32_t lo = 0, hi = r->n;

        *found = false;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                int c = name_cmp(r->v[mid].name, r->v[mid].len, s, len);

                if (!c) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int tls_routes__add_sni(struct tls_routes *t, const char *name, size_t len, int pool)
{
        bool wild = len >= 2 && name[0] == '*' && name[1] == '.', found;
        struct rules *r = wild ? &t->wild : &t->exact;
        char norm[TLS_NAME_MAX + 1];
        size_t n = 0;
        uint32_t at;

        if (pool < 0 || tls_routes__check_name(name, len))
                return -EINVAL;
        if (name[len - 1] == '.')
                len--;
        for (size_t i = wild ? 1 : 0; i < len; i++) /* a wildcard keeps its dot: ".suffix" */
                norm[n++] = lower((uint8_t)name[i]);
        at = rules_search(r, norm, n, &found);
        if (found)
                return ROUTE_DUPLICATE;
        if (r->n == r->cap) {
                uint32_t cap = r->cap ? 2 * r->cap : 8;
                struct name_rule *v = realloc(r->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                r->v = v;
                r->cap = cap;
        }
        char *copy = malloc(n);

        if (!copy)
                return -ENOMEM;
        memcpy(copy, norm, n);
        memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof(*r->v));
        r->v[at] = (struct name_rule){.name = copy, .len = (uint8_t)n, .pool = pool};
        r->n++;
        return 0;
}

int tls_routes__add_alpn(struct tls_routes *t, const uint8_t *proto, size_t len, int pool)
{
        if (pool < 0 || !len || len > 255)
                return -EINVAL;
        for (uint32_t i = 0; i < t->nalpn; i++)
                if (t->alpn[i].len == len && !memcmp(t->alpn[i].proto, proto, len))
                        return ROUTE_DUPLICATE;
        if (t->nalpn == t->cap_alpn) {
                uint32_t cap = t->cap_alpn ? 2 * t->cap_alpn : 4;
                struct alpn_rule *v = realloc(t->alpn, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                t->alpn = v;
                t->cap_alpn = cap;
        }
        memcpy(t->alpn[t->nalpn].proto, proto, len);
        t->alpn[t->nalpn].len = (uint8_t)len;
        t->alpn[t->nalpn].pool = pool;
        t->nalpn++;
        return 0;
}

int tls_routes__match_sni(const struct tls_routes *t, const uint8_t *name, size_t len)
{
        char norm[TLS_NAME_MAX + 1];
        bool found;
        uint32_t at;

        if (len && name[len - 1] == '.')
                len--;
        if (!len || len > TLS_NAME_MAX)
                return ROUTE_NONE;
        for (size_t i = 0; i < len; i++)
                norm[i] = lower(name[i]);
        at = rules_search(&t->exact, norm, len, &found);
        if (found)
                return t->exact.v[at].pool;
        if (!t->wild.n)
                return ROUTE_NONE;
        /* from the first dot on: the longest suffix first; a wildcard
         * needs a label in front of it (".example.net" alone is no match) */
        for (size_t i = 1; i < len; i++) {
                if (norm[i] != '.')
                        continue;
                at = rules_search(&t->wild, norm + i, len - i, &found);
                if (found)
                        return t->wild.v[at].pool;
        }
        return ROUTE_NONE;
}

int tls_routes__match_alpn(const struct tls_routes *t, const uint8_t *list, size_t len,
                           const uint8_t **proto, uint8_t *proto_len)
{
        for (uint32_t r = 0; r < t->nalpn; r++) {
                const struct alpn_rule *a = &t->alpn[r];

                for (size_t i = 0; i < len; i += 1 + (size_t)list[i]) {
                        size_t n = list[i];

                        if (i + 1 + n > len)
                                break;
                        if (n == a->len && !memcmp(list + i + 1, a->proto, n)) {
                                *proto = list + i + 1;
                                *proto_len = (uint8_t)n;
                                return a->pool;
                        }
                }
        }
        return ROUTE_NONE;
}

uint32_t tls_routes__count(const struct tls_routes *t)
{
        return t->exact.n + t->wild.n + t->nalpn;
}
