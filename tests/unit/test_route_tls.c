/*
 * TLS routes (core/route/route_tls.h): an exact server name beats every
 * wildcard, the longest "*.suffix" wins, a wildcard needs a label in front
 * (the bare suffix is no match), names fold case and drop one trailing dot
 * on both sides (the route and the name sent), names of 253 bytes (and 254
 * refused), every refusal of check_name by its message, duplicates (also
 * their case and dot variants), ALPN routes in the order added whatever the
 * client's order, and ProtocolNameLists that lie about a length: no match,
 * and no byte read past the list (the lists sit at the end of their heap
 * block: ASan reports a read past it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/route/route_tls.h"

#define U(s) ((const uint8_t *)(s))

static int add(struct tls_routes *t, const char *name, int pool)
{
        return tls_routes__add_sni(t, name, strlen(name), pool);
}

static int sni(const struct tls_routes *t, const char *name)
{
        return tls_routes__match_sni(t, U(name), strlen(name));
}

static int add_alpn(struct tls_routes *t, const char *proto, int pool)
{
        return tls_routes__add_alpn(t, U(proto), strlen(proto), pool);
}

/* A copy of list[0..len) at the very end of its own heap block. */
static uint8_t *tail_copy(const uint8_t *list, size_t len)
{
        uint8_t *p = malloc(len ? len : 1);

        assert_non_null(p);
        if (len)
                memcpy(p, list, len);
        return p;
}

/* match_alpn over a heap copy of list; *off: where the protocol matched in
 * the list (-1 when none). */
static int alpn(const struct tls_routes *t, const uint8_t *list, size_t len, long *off,
                uint8_t *plen)
{
        uint8_t *copy = tail_copy(list, len);
        const uint8_t *proto = NULL;
        uint8_t n = 0;
        int pool = tls_routes__match_alpn(t, copy, len, &proto, &n);

        if (pool != ROUTE_NONE) {
                assert_non_null(proto);
                assert_true(proto > copy && proto + n <= copy + len); /* a view into list */
                assert_int_equal(proto[-1], n);                       /* after its length byte */
        }
        if (off)
                *off = pool != ROUTE_NONE ? (long)(proto - copy) : -1;
        if (plen)
                *plen = n;
        free(copy);
        return pool;
}

/* "a.b.c…" of exactly len bytes: labels of 63 bytes, dots, a shorter last one. */
static void long_name(char *out, size_t len, char fill)
{
        for (size_t i = 0; i < len; i++)
                out[i] = (i + 1) % 64 == 0 ? '.' : fill;
        out[len] = '\0';
        assert_true(out[len - 1] != '.');
}

static void test_exact_and_wildcard(void **state)
{
        struct tls_routes *t = tls_routes__new();

        (void)state;
        assert_non_null(t);
        assert_int_equal(sni(t, "a.example.net"), ROUTE_NONE); /* an empty table */
        assert_int_equal(add(t, "*.example.net", 1), 0);
        assert_int_equal(add(t, "a.example.net", 2), 0);
        assert_int_equal(add(t, "*.a.example.net", 3), 0);
        assert_int_equal(add(t, "*.net", 4), 0);
        assert_int_equal(tls_routes__count(t), 4);

        assert_int_equal(sni(t, "a.example.net"), 2);     /* exact beats every wildcard */
        assert_int_equal(sni(t, "b.example.net"), 1);     /* *.example.net */
        assert_int_equal(sni(t, "x.a.example.net"), 3);   /* the longest suffix */
        assert_int_equal(sni(t, "y.x.a.example.net"), 3); /* any number of labels in front */
        assert_int_equal(sni(t, "b.c.example.net"), 1);
        assert_int_equal(sni(t, "example.net"), 4); /* *.net, not *.example.net */
        assert_int_equal(sni(t, "other.org"), ROUTE_NONE);
        assert_int_equal(sni(t, "net"), ROUTE_NONE); /* the bare suffix of *.net */
        assert_int_equal(sni(t, "net."), ROUTE_NONE);
        assert_int_equal(sni(t, ".net"), ROUTE_NONE); /* no label in front */
        assert_int_equal(sni(t, "xexample.net"), 4);  /* a suffix only at a dot */
        assert_int_equal(sni(t, ""), ROUTE_NONE);
        assert_int_equal(sni(t, "."), ROUTE_NONE);
        tls_routes__free(t);
}

static void test_bare_suffix(void **state)
{
        struct tls_routes *t = tls_routes__new();

        (void)state;
        assert_int_equal(add(t, "*.x", 7), 0);
        assert_int_equal(sni(t, "x"), ROUTE_NONE);
        assert_int_equal(sni(t, "X."), ROUTE_NONE);
        assert_int_equal(sni(t, "a.x"), 7);
        assert_int_equal(sni(t, "a.b.x"), 7);
        assert_int_equal(sni(t, "ax"), ROUTE_NONE);
        assert_int_equal(sni(t, "a.xx"), ROUTE_NONE);
        assert_int_equal(sni(t, "x.y"), ROUTE_NONE);
        tls_routes__free(t);
}

static void test_case_and_trailing_dot(void **state)
{
        struct tls_routes *t = tls_routes__new();

        (void)state;
        assert_int_equal(add(t, "Apples.Example.NET.", 1), 0); /* the route's dot and case */
        assert_int_equal(add(t, "*.PEARS.example.net.", 2), 0);
        assert_int_equal(add(t, "plums.example.net", 3), 0);
        assert_int_equal(sni(t, "apples.example.net"), 1);
        assert_int_equal(sni(t, "APPLES.EXAMPLE.NET"), 1);
        assert_int_equal(sni(t, "apples.example.net."), 1); /* the name's dot */
        assert_int_equal(sni(t, "ApPlEs.ExAmPlE.nEt."), 1);
        assert_int_equal(sni(t, "a.pears.example.net"), 2);
        assert_int_equal(sni(t, "A.Pears.Example.Net."), 2);
        assert_int_equal(sni(t, "Plums.Example.Net."), 3);
        assert_int_equal(sni(t, "pears.example.net"), ROUTE_NONE); /* bare, with any case */
        assert_int_equal(sni(t, "PEARS.example.net."), ROUTE_NONE);
        assert_int_equal(sni(t, "apples.example.net.."), ROUTE_NONE); /* one dot only */
        /* digits, '-' and '_' are not folded into anything */
        assert_int_equal(add(t, "mqtt-1_a.example.net", 4), 0);
        assert_int_equal(sni(t, "MQTT-1_A.example.net"), 4);
        assert_int_equal(sni(t, "mqtt-1-a.example.net"), ROUTE_NONE);
        /* bytes past 'Z' that are 0x20 away from a letter are not letters */
        assert_int_equal(sni(t, "apples.example.ne\x54"), 1); /* 'T' */
        assert_int_equal(sni(t, "apples.example.ne\x74"), 1); /* 't' */
        assert_int_equal(sni(t, "apples.example.ne\xd4"), ROUTE_NONE);
        tls_routes__free(t);
}

static void test_long_names(void **state)
{
        struct tls_routes *t = tls_routes__new();
        char n253[260], n254[260], up[260], wild[260], dotted[260], sub[260];

        (void)state;
        long_name(n253, 253, 'a');
        long_name(n254, 254, 'a');
        assert_null(tls_routes__check_name(n253, 253));
        assert_string_equal(tls_routes__check_name(n254, 254),
                            "longer than a host name can be (253 bytes)");
        assert_int_equal(add(t, n254, 1), -EINVAL);
        assert_int_equal(add(t, n253, 1), 0);
        assert_int_equal(sni(t, n253), 1);
        snprintf(dotted, sizeof(dotted), "%s.", n253); /* 254 with the dot: still 253 */
        assert_null(tls_routes__check_name(dotted, 254));
        assert_int_equal(sni(t, dotted), 1);
        assert_int_equal(add(t, dotted, 2), ROUTE_DUPLICATE);
        for (size_t i = 0; i < 253; i++)
                up[i] = n253[i] == '.' ? '.' : 'A';
        up[253] = '\0';
        assert_int_equal(sni(t, up), 1);
        assert_int_equal(sni(t, n254), ROUTE_NONE); /* longer than any name */

        /* a wildcard whose matches are 253 bytes: "*." + 251 */
        long_name(sub, 251, 'b');
        snprintf(wild, sizeof(wild), "*.%s", sub);
        assert_null(tls_routes__check_name(wild, strlen(wild)));
        assert_int_equal(add(t, wild, 3), 0);
        snprintf(up, sizeof(up), "c.%s", sub); /* 253 */
        assert_int_equal(strlen(up), 253);
        assert_int_equal(sni(t, up), 3);
        snprintf(up, sizeof(up), "cc.%s", sub); /* 254: too long for a host name */
        assert_int_equal(sni(t, up), ROUTE_NONE);
        snprintf(up, sizeof(up), "c.%s.", sub); /* 253 and the dot */
        assert_int_equal(sni(t, up), 3);
        /* a wildcard of a 253-byte suffix: accepted, matches nothing (no room in front) */
        snprintf(wild, sizeof(wild), "*.%s", n253);
        assert_null(tls_routes__check_name(wild, strlen(wild)));
        assert_int_equal(add(t, wild, 4), 0);
        assert_int_equal(sni(t, n253), 1);
        snprintf(wild, sizeof(wild), "*.%s", n254);
        assert_int_equal(add(t, wild, 4), -EINVAL);
        /* 63-byte labels are fine, 64 not */
        {
                char l63[80], l64[80];

                memset(l63, 'z', 63);
                strcpy(l63 + 63, ".net");
                memset(l64, 'z', 64);
                strcpy(l64 + 64, ".net");
                assert_null(tls_routes__check_name(l63, strlen(l63)));
                assert_string_equal(tls_routes__check_name(l64, strlen(l64)),
                                    "a label is longer than 63 bytes");
                assert_int_equal(add(t, l63, 5), 0);
                assert_int_equal(sni(t, l63), 5);
                assert_int_equal(add(t, l64, 5), -EINVAL);
        }
        tls_routes__free(t);
}

static void test_check_name(void **state)
{
        static const struct {
                const char *name, *why; /* why: NULL when accepted */
        } cases[] = {
            {"example.net", NULL},
            {"example.net.", NULL},
            {"*.example.net", NULL},
            {"*.example.net.", NULL},
            {"localhost", NULL},
            {"x", NULL},
            {"*.x", NULL},
            {"A-b_c.D9.example", NULL},
            {"1.2.3.4", NULL},
            {"", "an empty name"},
            {".", "an empty name"},
            {"*.", "an empty name"},
            {"*..", "an empty name"},
            {"a..b", "an empty label (two dots, or a leading dot)"},
            {".a", "an empty label (two dots, or a leading dot)"},
            {"*..a", "an empty label (two dots, or a leading dot)"},
            {"*", "'*' may only start a name, as \"*.example.net\""},
            {"*a.example.net", "'*' may only start a name, as \"*.example.net\""},
            {"a.*.example.net", "'*' may only start a name, as \"*.example.net\""},
            {"*.*.example.net", "'*' may only start a name, as \"*.example.net\""},
            {"a*", "'*' may only start a name, as \"*.example.net\""},
            {"a b.net", "a host name holds letters, digits, '-', '_' and dots only"},
            {"a/b.net", "a host name holds letters, digits, '-', '_' and dots only"},
            {"a:8883", "a host name holds letters, digits, '-', '_' and dots only"},
            {"caf\xc3\xa9.net", "a host name holds letters, digits, '-', '_' and dots only"},
            {"[::1]", "a host name holds letters, digits, '-', '_' and dots only"},
        };
        struct tls_routes *t;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *why = tls_routes__check_name(cases[i].name, strlen(cases[i].name));

                t = tls_routes__new();
                assert_non_null(t);

                if (!cases[i].why) {
                        if (why)
                                fail_msg("%s: refused (%s)", cases[i].name, why);
                        assert_int_equal(add(t, cases[i].name, 1), 0);
                } else {
                        if (!why)
                                fail_msg("%s: accepted", cases[i].name);
                        assert_string_equal(why, cases[i].why);
                        assert_int_equal(add(t, cases[i].name, 1), -EINVAL);
                }
                tls_routes__free(t);
        }
        t = tls_routes__new();
        /* a NUL inside the name is a byte like any other: refused */
        assert_string_equal(tls_routes__check_name("a\0b.net", 7),
                            "a host name holds letters, digits, '-', '_' and dots only");
        /* a length shorter than the string: only those bytes count */
        assert_null(tls_routes__check_name("example.net!!", 11));
        assert_int_equal(tls_routes__add_sni(t, "z.example.net!!", 13, 2), 0);
        assert_int_equal(sni(t, "z.example.net"), 2);
        /* pools below 0 */
        assert_int_equal(add(t, "p.example.net", -1), -EINVAL);
        assert_int_equal(sni(t, "p.example.net"), ROUTE_NONE);
        tls_routes__free(t);
}

/* Two trailing dots: the second is an empty label, which the TLS reader
 * refuses in a client's name ("a.b.." never arrives), so the route could
 * never match and must be refused like "a..b". */
static void test_check_name_two_trailing_dots(void **state)
{
        static const char *const names[] = {"a.b..", "*.example.net..", "x.."};

        (void)state;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                const char *why = tls_routes__check_name(names[i], strlen(names[i]));

                if (!why)
                        fail_msg("%s: accepted (an empty label before the trailing dot)", names[i]);
                assert_string_equal(why, "an empty label (two dots, or a leading dot)");
        }
}

static void test_duplicates(void **state)
{
        struct tls_routes *t = tls_routes__new();

        (void)state;
        assert_int_equal(add(t, "apples.example.net", 1), 0);
        assert_int_equal(add(t, "apples.example.net", 2), ROUTE_DUPLICATE);
        assert_int_equal(add(t, "APPLES.example.NET", 3), ROUTE_DUPLICATE);
        assert_int_equal(add(t, "apples.example.net.", 4), ROUTE_DUPLICATE);
        assert_int_equal(add(t, "Apples.Example.Net.", 5), ROUTE_DUPLICATE);
        assert_int_equal(sni(t, "apples.example.net"), 1); /* the first stays */

        assert_int_equal(add(t, "*.example.net", 6), 0);
        assert_int_equal(add(t, "*.EXAMPLE.net.", 7), ROUTE_DUPLICATE);
        assert_int_equal(add(t, "*.example.net.", 8), ROUTE_DUPLICATE);
        assert_int_equal(sni(t, "b.example.net"), 6);
        /* an exact name and the wildcard of it are two routes */
        assert_int_equal(add(t, "example.net", 9), 0);
        assert_int_equal(add(t, "*.apples.example.net", 10), 0);
        assert_int_equal(sni(t, "example.net"), 9);
        assert_int_equal(sni(t, "x.apples.example.net"), 10);
        assert_int_equal(tls_routes__count(t), 4);

        assert_int_equal(add_alpn(t, "mqtt", 1), 0);
        assert_int_equal(add_alpn(t, "mqtt", 2), ROUTE_DUPLICATE);
        assert_int_equal(add_alpn(t, "MQTT", 3), 0); /* octet strings: no case folding */
        assert_int_equal(tls_routes__add_alpn(t, U("mqtt\0"), 5, 5), 0);
        assert_int_equal(tls_routes__add_alpn(t, U("mqtt\0"), 5, 6), ROUTE_DUPLICATE);
        assert_int_equal(tls_routes__count(t), 7);
        tls_routes__free(t);
}

static void test_alpn_order(void **state)
{
        /* the client offers h2, then mqtt, then x-amzn-mqtt-ca */
        static const uint8_t list[] = {2,   'h', '2', 4,   'm', 'q', 't', 't', 14,  'x', '-', 'a',
                                       'm', 'z', 'n', '-', 'm', 'q', 't', 't', '-', 'c', 'a'};
        struct tls_routes *t = tls_routes__new();
        long off;
        uint8_t n;

        (void)state;
        assert_int_equal(alpn(t, list, sizeof(list), &off, &n), ROUTE_NONE); /* no routes */
        assert_int_equal(add_alpn(t, "x-amzn-mqtt-ca", 1), 0);
        assert_int_equal(add_alpn(t, "mqtt", 2), 0);
        assert_int_equal(add_alpn(t, "h2", 3), 0);
        /* the first route added the client offers, not the client's first */
        assert_int_equal(alpn(t, list, sizeof(list), &off, &n), 1);
        assert_int_equal(off, 9);
        assert_int_equal(n, 14);
        /* without it: mqtt (second route), though the client put h2 first */
        assert_int_equal(alpn(t, list, 8, &off, &n), 2);
        assert_int_equal(off, 4);
        assert_int_equal(n, 4);
        /* only h2 */
        assert_int_equal(alpn(t, list, 3, &off, &n), 3);
        assert_int_equal(off, 1);
        assert_int_equal(n, 2);
        /* a prefix is not the protocol: "mqt", "mqtt5", "h" */
        {
                static const uint8_t l2[] = {3, 'm', 'q', 't', 5, 'm', 'q', 't', 't', '5', 1, 'h'};

                assert_int_equal(alpn(t, l2, sizeof(l2), &off, &n), ROUTE_NONE);
                assert_int_equal(off, -1);
        }
        /* protocols compare byte for byte */
        {
                static const uint8_t l3[] = {4, 'M', 'Q', 'T', 'T'};

                assert_int_equal(alpn(t, l3, sizeof(l3), NULL, NULL), ROUTE_NONE);
        }
        assert_int_equal(alpn(t, list, 0, &off, &n), ROUTE_NONE); /* an empty list */
        /* refused protocols: empty, longer than 255, pool below 0 */
        assert_int_equal(tls_routes__add_alpn(t, U("x"), 0, 1), -EINVAL);
        {
                uint8_t big[256];

                memset(big, 'p', sizeof(big));
                assert_int_equal(tls_routes__add_alpn(t, big, 256, 1), -EINVAL);
                assert_int_equal(tls_routes__add_alpn(t, big, 255, 4), 0);
                /* a 255-byte protocol, alone, and cut by one byte */
                uint8_t l4[256];

                l4[0] = 255;
                memcpy(l4 + 1, big, 255);
                assert_int_equal(alpn(t, l4, sizeof(l4), &off, &n), 4);
                assert_int_equal(off, 1);
                assert_int_equal(n, 255);
                assert_int_equal(alpn(t, l4, sizeof(l4) - 1, &off, &n), ROUTE_NONE);
        }
        assert_int_equal(tls_routes__add_alpn(t, U("q"), 1, -1), -EINVAL);
        tls_routes__free(t);

        /* many routes, the order of adding kept past the array's growth */
        t = tls_routes__new();
        for (int i = 0; i < 40; i++) {
                char p[8];

                snprintf(p, sizeof(p), "p%02d", i);
                assert_int_equal(add_alpn(t, p, 100 + i), 0);
        }
        {
                static const uint8_t l5[] = {3, 'p', '3', '9', 3, 'p', '1', '7', 3, 'p', '2', '0'};

                assert_int_equal(alpn(t, l5, sizeof(l5), &off, &n), 117);
                assert_int_equal(off, 5);
        }
        tls_routes__free(t);
}

static void test_alpn_malformed(void **state)
{
        struct tls_routes *t = tls_routes__new();
        long off;
        uint8_t n;

        (void)state;
        assert_int_equal(add_alpn(t, "mqtt", 1), 0);
        assert_int_equal(add_alpn(t, "h2", 2), 0);
        /* the last name's length runs past the end: "mqtt" is cut */
        {
                static const uint8_t l[] = {4, 'm', 'q', 't'};

                assert_int_equal(alpn(t, l, sizeof(l), &off, &n), ROUTE_NONE);
        }
        /* a length byte alone at the end */
        {
                static const uint8_t l[] = {3, 'a', 'b', 'c', 4};

                assert_int_equal(alpn(t, l, sizeof(l), &off, &n), ROUTE_NONE);
        }
        /* a length of 255 in a 3-byte list */
        {
                static const uint8_t l[] = {255, 'h', '2'};

                assert_int_equal(alpn(t, l, sizeof(l), &off, &n), ROUTE_NONE);
        }
        /* a bad length before a good protocol hides it (it cannot be found) */
        {
                static const uint8_t l[] = {9, 'x', 4, 'm', 'q', 't', 't'};

                assert_int_equal(alpn(t, l, sizeof(l), &off, &n), ROUTE_NONE);
        }
        /* a good protocol before a bad length still matches */
        {
                static const uint8_t l[] = {2, 'h', '2', 200, 'm', 'q'};

                assert_int_equal(alpn(t, l, sizeof(l), &off, &n), 2);
                assert_int_equal(off, 1);
                assert_int_equal(n, 2);
        }
        /* mqtt (the first route) after the lie is never reached: h2 matches */
        {
                static const uint8_t l[] = {2, 'h', '2', 7, 'm', 'q', 't', 't'};

                assert_int_equal(alpn(t, l, sizeof(l), &off, &n), 2);
        }
        /* zero-length names (the reader refuses them; the matcher steps over) */
        {
                static const uint8_t l[] = {0, 0, 4, 'm', 'q', 't', 't'};

                assert_int_equal(alpn(t, l, sizeof(l), &off, &n), 1);
                assert_int_equal(off, 3);
                assert_int_equal(n, 4);
        }
        /* a list whose length cuts the last name */
        {
                static const uint8_t l[] = {2, 'h', '2'};

                assert_int_equal(alpn(t, l, 2, &off, &n), ROUTE_NONE);
                assert_int_equal(alpn(t, l, 1, &off, &n), ROUTE_NONE);
        }
        tls_routes__free(t);
}

static void test_alpn_and_sni_apart(void **state)
{
        struct tls_routes *t = tls_routes__new();
        static const uint8_t l[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e'};

        (void)state;
        /* a name route does not match as a protocol, and the other way round */
        assert_int_equal(add(t, "example", 1), 0);
        assert_int_equal(alpn(t, l, sizeof(l), NULL, NULL), ROUTE_NONE);
        assert_int_equal(add_alpn(t, "mqtt", 2), 0);
        assert_int_equal(sni(t, "mqtt"), ROUTE_NONE);
        assert_int_equal(tls_routes__count(t), 2);
        tls_routes__free(t);
        tls_routes__free(NULL);
}

/* Many names, added in a scrambled order: every one found (the sorted
 * arrays' binary search), and every wildcard beneath its longer ones. */
static void test_many(void **state)
{
        struct tls_routes *t = tls_routes__new();
        char name[64];

        (void)state;
        for (int i = 0; i < 500; i++) {
                int k = (i * 337) % 500;

                snprintf(name, sizeof(name), "h%d.example.net", k);
                assert_int_equal(add(t, name, k), 0);
                snprintf(name, sizeof(name), "*.w%d.example.net", k);
                assert_int_equal(add(t, name, 1000 + k), 0);
        }
        assert_int_equal(tls_routes__count(t), 1000);
        for (int k = 0; k < 500; k++) {
                snprintf(name, sizeof(name), "H%d.Example.Net.", k);
                assert_int_equal(sni(t, name), k);
                snprintf(name, sizeof(name), "a.b.w%d.example.net", k);
                assert_int_equal(sni(t, name), 1000 + k);
                snprintf(name, sizeof(name), "w%d.example.net", k);
                assert_int_equal(sni(t, name), ROUTE_NONE);
        }
        assert_int_equal(sni(t, "h500.example.net"), ROUTE_NONE);
        tls_routes__free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_exact_and_wildcard),
            cmocka_unit_test(test_bare_suffix),
            cmocka_unit_test(test_case_and_trailing_dot),
            cmocka_unit_test(test_long_names),
            cmocka_unit_test(test_check_name),
            cmocka_unit_test(test_check_name_two_trailing_dots),
            cmocka_unit_test(test_duplicates),
            cmocka_unit_test(test_alpn_order),
            cmocka_unit_test(test_alpn_malformed),
            cmocka_unit_test(test_alpn_and_sni_apart),
            cmocka_unit_test(test_many),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
