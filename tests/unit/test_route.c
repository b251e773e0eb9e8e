/*
 * Routing table: specificity of topic filters, the '$' and parent-level
 * rules of 3.1.1 §4.7, duplicates, invalid filters, client-id globs, and a
 * randomized comparison with a brute-force scan that uses
 * mqtt_topic__match() as the oracle.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/route/route.h"
#include "mqtt/topic.h"

#define U(s) ((const uint8_t *)(s))

static int add(struct route_table *rt, const char *f, int pool)
{
        return route_table__add_filter(rt, U(f), strlen(f), pool);
}

static int topic(const struct route_table *rt, const char *t)
{
        return route_table__match_topic(rt, U(t), strlen(t));
}

static int client(const struct route_table *rt, const char *id)
{
        return route_table__match_client_id(rt, U(id), strlen(id));
}

static void test_specificity(void **state)
{
        struct route_table *rt = route_table__new();

        assert_non_null(rt);
        assert_int_equal(add(rt, "a/#", 3), 0);
        assert_int_equal(add(rt, "a/+/c", 1), 0);
        assert_int_equal(add(rt, "a/b/#", 2), 0);
        assert_int_equal(topic(rt, "a/b/c"), 2); /* literal b beats + at level 2 */
        assert_int_equal(topic(rt, "a/x/c"), 1); /* + beats # at level 2 */
        assert_int_equal(topic(rt, "a/x/d"), 3);
        assert_int_equal(topic(rt, "a/b"), 2); /* "a/b/#" matches its parent */
        assert_int_equal(topic(rt, "a"), 3);   /* 3.1.1 §4.7.1.2 */
        assert_int_equal(topic(rt, "b"), ROUTE_NONE);
        assert_int_equal(topic(rt, "ab"), ROUTE_NONE);

        assert_int_equal(add(rt, "a", 4), 0);
        assert_int_equal(topic(rt, "a"), 4); /* an exact end beats "/#" */
        assert_int_equal(add(rt, "a/b/c", 5), 0);
        assert_int_equal(topic(rt, "a/b/c"), 5);
        assert_int_equal(add(rt, "+/b/c/d", 6), 0);
        assert_int_equal(topic(rt, "a/b/c/d"), 2); /* a beats + at level 1 */
        assert_int_equal(topic(rt, "z/b/c/d"), 6);
        assert_int_equal(add(rt, "#", 7), 0);
        assert_int_equal(topic(rt, "z/b/c"), 7);
        assert_int_equal(topic(rt, "z"), 7);
        /* backtracking: the literal path dead-ends, '+' matches */
        assert_int_equal(add(rt, "x/y/z", 8), 0);
        assert_int_equal(add(rt, "+/y/w", 9), 0);
        assert_int_equal(topic(rt, "x/y/w"), 9);
        assert_int_equal(topic(rt, "x/y/q"), 7);
        route_table__free(rt);
}

static void test_dollar(void **state)
{
        struct route_table *rt = route_table__new();

        assert_int_equal(add(rt, "#", 1), 0);
        assert_int_equal(add(rt, "+/x", 2), 0);
        assert_int_equal(add(rt, "$SYS/#", 3), 0);
        assert_int_equal(add(rt, "a/+", 4), 0);
        /* 3.1.1 §4.7.2: leading wildcards do not match '$' topics */
        assert_int_equal(topic(rt, "$SYS/x"), 3);
        assert_int_equal(topic(rt, "$SYS"), 3);
        assert_int_equal(topic(rt, "$other/x"), ROUTE_NONE);
        assert_int_equal(topic(rt, "$"), ROUTE_NONE);
        assert_int_equal(topic(rt, "q/x"), 2);
        assert_int_equal(topic(rt, "q/y"), 1);
        /* only the first level counts */
        assert_int_equal(topic(rt, "a/$x"), 4);
        assert_int_equal(topic(rt, "$x/$x"), ROUTE_NONE);
        route_table__free(rt);
}

static void test_empty_levels(void **state)
{
        struct route_table *rt = route_table__new();

        assert_int_equal(add(rt, "a//b", 1), 0);
        assert_int_equal(add(rt, "+/+", 2), 0);
        assert_int_equal(add(rt, "/#", 3), 0);
        assert_int_equal(add(rt, "c/", 4), 0);
        assert_int_equal(add(rt, "d/+", 5), 0);
        assert_int_equal(topic(rt, "a//b"), 1);
        assert_int_equal(topic(rt, "a/b"), 2);
        assert_int_equal(topic(rt, "/"), 3); /* "/" beats "+" at level 1 */
        assert_int_equal(topic(rt, "/x/y"), 3);
        assert_int_equal(topic(rt, "c/"), 4);
        assert_int_equal(topic(rt, "c"), ROUTE_NONE);
        assert_int_equal(topic(rt, "d/"), 5); /* '+' matches an empty level */
        assert_int_equal(topic(rt, "d"), ROUTE_NONE);
        assert_int_equal(topic(rt, "a//b/"), ROUTE_NONE);
        assert_int_equal(topic(rt, ""), ROUTE_NONE);
        route_table__free(rt);
}

static void test_duplicates(void **state)
{
        struct route_table *rt = route_table__new();

        assert_int_equal(add(rt, "a/b", 1), 0);
        assert_int_equal(add(rt, "a/b", 2), ROUTE_DUPLICATE);
        assert_int_equal(add(rt, "a/#", 3), 0);
        assert_int_equal(add(rt, "a/#", 4), ROUTE_DUPLICATE);
        assert_int_equal(add(rt, "+", 5), 0);
        assert_int_equal(add(rt, "+", 6), ROUTE_DUPLICATE);
        assert_int_equal(add(rt, "#", 7), 0);
        assert_int_equal(add(rt, "#", 8), ROUTE_DUPLICATE);
        assert_int_equal(topic(rt, "a/b"), 1);
        assert_int_equal(topic(rt, "a/c"), 3);
        assert_int_equal(topic(rt, "x"), 5);
        assert_int_equal(topic(rt, "x/y"), 7);
        route_table__free(rt);
}

static void test_invalid(void **state)
{
        static const char *const bad[] = {
            "a/#/b", "a+", "", "$share/g/a", "a/b#", "#/a", "+a", "a/+b/c", "$share/g/#",
        };
        struct route_table *rt = route_table__new();
        char deep[2 * ROUTE_MAX_LEVELS + 2];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(add(rt, bad[i], 1), -EINVAL);
        assert_int_equal(route_table__add_filter(rt, U("a\0b"), 3, 1), -EINVAL);
        assert_int_equal(route_table__add_filter(rt, U("\xff"), 1, 1), -EINVAL);
        assert_int_equal(add(rt, "a", -1), -EINVAL);
        /* "$share" alone is an ordinary topic level */
        assert_int_equal(add(rt, "$share", 2), 0);
        assert_int_equal(topic(rt, "$share"), 2);

        for (int i = 0; i < ROUTE_MAX_LEVELS; i++) {
                deep[2 * i] = 'a';
                deep[2 * i + 1] = '/';
        }
        deep[2 * ROUTE_MAX_LEVELS - 1] = '\0'; /* ROUTE_MAX_LEVELS levels */
        assert_int_equal(add(rt, deep, 3), 0);
        assert_int_equal(topic(rt, deep), 3);
        deep[2 * ROUTE_MAX_LEVELS - 1] = '/';
        deep[2 * ROUTE_MAX_LEVELS] = 'a';
        deep[2 * ROUTE_MAX_LEVELS + 1] = '\0';
        assert_int_equal(add(rt, deep, 3), -E2BIG);
        /* a deeper topic is fine: the lookup stops where the trie does */
        assert_int_equal(topic(rt, deep), ROUTE_NONE);
        assert_int_equal(topic(rt, "x"), ROUTE_NONE); /* nothing half-added */
        route_table__free(rt);
}

static void test_default(void **state)
{
        struct route_table *rt = route_table__new();

        assert_int_equal(route_table__default(rt), ROUTE_NONE);
        assert_int_equal(route_table__set_default(rt, 2), 0);
        assert_int_equal(route_table__default(rt), 2);
        /* the match functions never apply it */
        assert_int_equal(topic(rt, "a"), ROUTE_NONE);
        assert_int_equal(client(rt, "a"), ROUTE_NONE);
        assert_int_equal(route_table__set_default(rt, ROUTE_NONE), 0);
        assert_int_equal(route_table__default(rt), ROUTE_NONE);
        assert_int_equal(route_table__set_default(rt, -2), -EINVAL);
        route_table__free(rt);
}

static void test_client_id(void **state)
{
        struct route_table *rt = route_table__new();
        char many_a[2001];

        assert_int_equal(route_table__add_client_id(rt, U("cam-*"), 5, 1), 0);
        assert_int_equal(route_table__add_client_id(rt, U("*-7"), 3, 2), 0);
        assert_int_equal(route_table__add_client_id(rt, U("s?n*"), 4, 3), 0);
        assert_int_equal(route_table__add_client_id(rt, U("*-7"), 3, 9), ROUTE_DUPLICATE);
        assert_int_equal(client(rt, "cam-7"), 1); /* first match in order */
        assert_int_equal(client(rt, "cam-"), 1);
        assert_int_equal(client(rt, "x-7"), 2);
        assert_int_equal(client(rt, "-7"), 2);
        assert_int_equal(client(rt, "x-77"), ROUTE_NONE);
        assert_int_equal(client(rt, "sensor"), 3);
        assert_int_equal(client(rt, "san"), 3);
        assert_int_equal(client(rt, "sn"), ROUTE_NONE); /* '?' is exactly one byte */
        assert_int_equal(client(rt, "cam"), ROUTE_NONE);
        assert_int_equal(client(rt, ""), ROUTE_NONE);
        assert_int_equal(route_table__add_client_id(rt, U("*"), 1, 4), 0);
        assert_int_equal(client(rt, "cam"), 4);
        assert_int_equal(client(rt, ""), 4);
        assert_int_equal(route_table__match_client_id(rt, NULL, 0), 4);
        route_table__free(rt);

        assert_true(route__glob_match(U("a*b*c"), 5, U("aXbYbZc"), 7));
        assert_false(route__glob_match(U("a*b*c"), 5, U("aXbYbZ"), 6));
        assert_true(route__glob_match(U("**"), 2, U(""), 0));
        assert_true(route__glob_match(U(""), 0, U(""), 0));
        assert_false(route__glob_match(U(""), 0, U("a"), 1));
        assert_true(route__glob_match(U("*?"), 2, U("a"), 1));
        assert_false(route__glob_match(U("?*"), 2, U(""), 0));
        assert_false(route__glob_match(U("a"), 1, U("*"), 1)); /* '*' in the id is a byte */
        /* no exponential backtracking: many stars, a long near-miss */
        memset(many_a, 'a', 2000);
        many_a[2000] = '\0';
        assert_false(route__glob_match(U("*a*a*a*a*a*a*a*a*a*a*b"), 22, U(many_a), 2000));
        assert_true(route__glob_match(U("*a*a*a*a*a*a*a*a*a*a"), 20, U(many_a), 2000));
}

/*
 * Randomized: tables of random filters over a small alphabet, random topics;
 * the trie must agree with a brute-force scan that asks mqtt_topic__match()
 * which filters match and keeps the most specific (first added on a tie).
 */
#define MAX_F    48
#define MAX_LVLS 5

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL; /* fixed seed: deterministic */

static uint32_t rng(uint32_t n)
{
        /* xorshift64*: the same sequence on every libc */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static const char *const levels[] = {"a", "b", "", "$x"};

static size_t gen_topic(char *buf)
{
        uint32_t n = 1 + rng(MAX_LVLS);
        size_t len = 0;

        for (uint32_t i = 0; i < n; i++) {
                const char *l = levels[rng(4)];

                if (i)
                        buf[len++] = '/';
                memcpy(buf + len, l, strlen(l));
                len += strlen(l);
        }
        buf[len] = '\0';
        return len;
}

static size_t gen_filter(char *buf)
{
        uint32_t n = 1 + rng(MAX_LVLS);
        size_t len = 0;

        for (uint32_t i = 0; i < n; i++) {
                uint32_t r = rng(7);
                const char *l = r < 4 ? levels[r] : r < 6 ? "+" : "#";

                if (i)
                        buf[len++] = '/';
                if (r == 6)
                        n = i + 1; /* '#' ends the filter */
                memcpy(buf + len, l, strlen(l));
                len += strlen(l);
        }
        buf[len] = '\0';
        return len;
}

/* Kind of level i of a filter: 0 = ended, 1 = literal, 2 = '+', 3 = '#'. */
static int level_kind(const char *f, int i)
{
        const char *s = f;

        for (int k = 0; k < i; k++) {
                s = strchr(s, '/');
                if (!s)
                        return 0;
                s++;
        }
        if ((s[0] == '+' || s[0] == '#') && (s[1] == '/' || s[1] == '\0'))
                return s[0] == '+' ? 2 : 3;
        return 1;
}

/* < 0 when f is more specific than g; both match the same topic. */
static int specificity_cmp(const char *f, const char *g)
{
        for (int i = 0; i <= MAX_LVLS; i++) {
                int a = level_kind(f, i), b = level_kind(g, i);

                if (a != b)
                        return a - b;
                if (a == 0 || a == 3)
                        return 0;
                /* two literals that both match the topic are equal */
        }
        return 0;
}

static void test_random_oracle(void **state)
{
        char filters[MAX_F][4 * MAX_LVLS + 1];
        int n_checked = 0, n_matched = 0;

        for (int round = 0; round < 300; round++) {
                struct route_table *rt = route_table__new();
                int nf = 0, want_n = 1 + (int)rng(MAX_F);

                while (nf < want_n) {
                        size_t len = gen_filter(filters[nf]);
                        int r = route_table__add_filter(rt, U(filters[nf]), len, nf);

                        if (len == 0) {
                                assert_int_equal(r, -EINVAL);
                                continue;
                        }
                        assert_true(r == 0 || r == ROUTE_DUPLICATE);
                        nf++; /* a duplicate stays in the list: the oracle must ignore it too */
                }
                for (int t = 0; t < 200; t++) {
                        char tb[4 * MAX_LVLS + 1];
                        size_t tlen = gen_topic(tb);
                        int best = ROUTE_NONE;

                        if (!tlen)
                                continue;
                        for (int i = 0; i < nf; i++) {
                                if (!mqtt_topic__match(U(filters[i]), strlen(filters[i]), U(tb),
                                                       tlen))
                                        continue;
                                /* strictly more specific only: ties keep the first */
                                if (best == ROUTE_NONE ||
                                    specificity_cmp(filters[i], filters[best]) < 0)
                                        best = i;
                        }
                        if (route_table__match_topic(rt, U(tb), tlen) != best)
                                fail_msg("topic \"%s\": trie %d, oracle %d (\"%s\")", tb,
                                         route_table__match_topic(rt, U(tb), tlen), best,
                                         best >= 0 ? filters[best] : "");
                        n_checked++;
                        n_matched += best != ROUTE_NONE;
                }
                route_table__free(rt);
        }
        /* the alphabet is small enough that most topics match something */
        assert_true(n_matched > n_checked / 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_specificity),  cmocka_unit_test(test_dollar),
            cmocka_unit_test(test_empty_levels), cmocka_unit_test(test_duplicates),
            cmocka_unit_test(test_invalid),      cmocka_unit_test(test_default),
            cmocka_unit_test(test_client_id),    cmocka_unit_test(test_random_oracle),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
