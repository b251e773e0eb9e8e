/*
 * Maglev table: size selection, population, balance, weights, determinism
 * and the minimal disruption of NSDI 2016 §3.4 / §5.3.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/route/maglev.h"

#define MAX_N 16

struct fixture {
        char names[MAX_N][32];
        struct maglev_backend b[MAX_N];
};

static void fixture__init(struct fixture *f, uint32_t n)
{
        for (uint32_t i = 0; i < n; i++) {
                snprintf(f->names[i], sizeof(f->names[i]), "10.0.0.%u:1883", i + 1);
                f->b[i].name = f->names[i];
                f->b[i].weight = 1;
                f->b[i].up = true;
        }
}

static struct maglev *build(struct fixture *f, uint32_t n, uint32_t size)
{
        struct maglev *m = NULL;

        assert_int_equal(maglev__new(&m, f->b, n, size), 0);
        assert_non_null(m);
        return m;
}

static void count(const struct maglev *m, uint32_t *counts, uint32_t n)
{
        const uint16_t *t = maglev__table(m);

        memset(counts, 0, sizeof(*counts) * n);
        for (uint32_t i = 0; i < maglev__size(m); i++) {
                assert_true(t[i] < n);
                counts[t[i]]++;
        }
}

static void test_table_size(void **state)
{
        assert_int_equal(maglev__table_size(0, 0), 65537);
        assert_int_equal(maglev__table_size(5, 0), 65537);
        assert_int_equal(maglev__table_size(5, 1000), 1009);
        assert_int_equal(maglev__table_size(3, 307), 307);
        assert_int_equal(maglev__table_size(3, 300), 307);
        /* 100 x N dominates a small request */
        assert_int_equal(maglev__table_size(700, 0), 70001);
        assert_int_equal(maglev__table_size(1000, 0), 100003);
        assert_int_equal(maglev__table_size(0, 1), 2);
        assert_int_equal(maglev__table_size(0, 2), 2);
        assert_int_equal(maglev__table_size(1001, 0), -E2BIG);
        assert_int_equal(maglev__table_size(1, 16777213), 16777213);
        assert_int_equal(maglev__table_size(1, 16777214), -E2BIG);
}

static void test_new_rejects(void **state)
{
        struct fixture f;
        struct maglev *m = NULL;
        struct maglev_backend many[MAGLEV_MAX_BACKENDS + 1];

        fixture__init(&f, 3);
        assert_int_equal(maglev__new(&m, f.b, 3, 65536), -EINVAL); /* not prime */
        assert_int_equal(maglev__new(&m, f.b, 3, 1), -EINVAL);
        f.b[1].name = f.b[0].name;
        assert_int_equal(maglev__new(&m, f.b, 3, 307), -EEXIST);
        fixture__init(&f, 3);
        f.b[2].weight = MAGLEV_MAX_WEIGHT + 1;
        assert_int_equal(maglev__new(&m, f.b, 3, 307), -EINVAL);
        for (uint32_t i = 0; i < MAGLEV_MAX_BACKENDS + 1; i++)
                many[i] = f.b[0];
        assert_int_equal(maglev__new(&m, many, MAGLEV_MAX_BACKENDS + 1, 65537), -E2BIG);
        assert_null(m);
}

static void test_fills_every_slot(void **state)
{
        struct fixture f;
        uint32_t counts[MAX_N];

        for (uint32_t n = 1; n <= MAX_N; n++) {
                struct maglev *m;

                fixture__init(&f, n);
                m = build(&f, n, 65537);
                count(m, counts, n); /* asserts every entry is a backend */
                for (uint32_t i = 0; i < n; i++)
                        assert_true(counts[i] > 0);
                maglev__free(m);
        }
}

static void test_one_backend(void **state)
{
        struct fixture f;
        struct maglev *m;

        fixture__init(&f, 1);
        m = build(&f, 1, 307);
        for (uint32_t i = 0; i < 307; i++)
                assert_int_equal(maglev__table(m)[i], 0);
        assert_int_equal(maglev__lookup(m, 12345), 0);
        maglev__free(m);
}

static void test_none_up(void **state)
{
        struct fixture f;
        struct maglev *m;

        /* no backends at all */
        fixture__init(&f, 3);
        m = build(&f, 0, 307);
        assert_int_equal(maglev__lookup(m, 0), MAGLEV_NONE);
        assert_int_equal(maglev__lookup(m, UINT64_MAX), MAGLEV_NONE);
        maglev__free(m);

        m = build(&f, 3, 307);
        for (uint32_t i = 0; i < 3; i++)
                assert_int_equal(maglev__set_up(m, i, false), 0);
        assert_int_equal(maglev__populate(m), 1);
        for (uint64_t h = 0; h < 1000; h++)
                assert_int_equal(maglev__lookup(m, h), MAGLEV_NONE);
        /* all up, but every weight 0 */
        for (uint32_t i = 0; i < 3; i++) {
                assert_int_equal(maglev__set_up(m, i, true), 0);
                assert_int_equal(maglev__set_weight(m, i, 0), 0);
        }
        assert_int_equal(maglev__populate(m), 0);
        assert_int_equal(maglev__lookup(m, 7), MAGLEV_NONE);
        assert_int_equal(maglev__set_up(m, 3, true), -EINVAL);
        maglev__free(m);
}

static void test_balance(void **state)
{
        static const uint32_t ns[] = {2, 3, 5, 7, 10, 16};
        struct fixture f;
        uint32_t counts[MAX_N];

        for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
                uint32_t n = ns[k];
                struct maglev *m;
                double ideal = 65537.0 / n;

                fixture__init(&f, n);
                m = build(&f, n, 65537);
                count(m, counts, n);
                for (uint32_t i = 0; i < n; i++) {
                        double dev = (counts[i] - ideal) / ideal;

                        /* §3.4: with M > 100 N shares differ by ~1% at most */
                        assert_true(dev < 0.02 && dev > -0.02);
                }
                maglev__free(m);
        }
}

static void test_weights(void **state)
{
        struct fixture f;
        uint32_t counts[4];
        struct maglev *m;
        double unit;

        fixture__init(&f, 4);
        f.b[1].weight = 2;
        f.b[3].weight = 0; /* excluded */
        m = build(&f, 4, 65537);
        count(m, counts, 4);
        assert_int_equal(counts[3], 0);
        unit = 65537.0 / 4; /* weights 1 + 2 + 1 */
        assert_true(counts[0] > unit * 0.98 && counts[0] < unit * 1.02);
        assert_true(counts[2] > unit * 0.98 && counts[2] < unit * 1.02);
        assert_true(counts[1] > 2 * unit * 0.98 && counts[1] < 2 * unit * 1.02);

        /* a weight change takes effect at the next population */
        assert_int_equal(maglev__set_weight(m, 3, 4), 0);
        assert_int_equal(maglev__populate(m), 1);
        count(m, counts, 4);
        unit = 65537.0 / 8;
        assert_true(counts[3] > 4 * unit * 0.98 && counts[3] < 4 * unit * 1.02);
        assert_int_equal(maglev__set_weight(m, 3, MAGLEV_MAX_WEIGHT + 1), -EINVAL);
        maglev__free(m);
}

static void test_deterministic(void **state)
{
        struct fixture f, r;
        struct maglev *a, *b, *c;
        const uint32_t n = 7;

        fixture__init(&f, n);
        a = build(&f, n, 65537);
        b = build(&f, n, 65537);
        assert_memory_equal(maglev__table(a), maglev__table(b), 65537 * sizeof(uint16_t));

        /* the same brokers listed in reverse: same broker in every slot */
        for (uint32_t i = 0; i < n; i++) {
                strcpy(r.names[i], f.names[n - 1 - i]);
                r.b[i] = f.b[n - 1 - i];
                r.b[i].name = r.names[i];
        }
        c = build(&r, n, 65537);
        for (uint32_t i = 0; i < 65537; i++)
                assert_string_equal(f.names[maglev__table(a)[i]], r.names[maglev__table(c)[i]]);
        maglev__free(a);
        maglev__free(b);
        maglev__free(c);
}

static void check_disruption(uint32_t n)
{
        struct fixture f;
        struct maglev *m;
        const uint32_t size = 65537;
        uint16_t *orig = malloc(size * sizeof(*orig));

        assert_non_null(orig);
        fixture__init(&f, n);
        m = build(&f, n, size);
        memcpy(orig, maglev__table(m), size * sizeof(*orig));

        for (uint32_t d = 0; d < n; d++) {
                uint32_t moved = 0;
                const uint16_t *t;

                assert_int_equal(maglev__set_up(m, d, false), 0);
                assert_int_equal(maglev__populate(m), 1);
                assert_int_equal(maglev__populate(m), 0); /* idempotent */
                t = maglev__table(m);
                for (uint32_t i = 0; i < size; i++) {
                        assert_true(t[i] < n);
                        assert_int_not_equal(t[i], d);
                        if (orig[i] != d && t[i] != orig[i])
                                moved++;
                }
                /* slots among surviving backends that changed hands */
                assert_true((double)moved / size < 0.02);

                assert_int_equal(maglev__set_up(m, d, true), 0);
                assert_int_equal(maglev__populate(m), 1);
                assert_memory_equal(maglev__table(m), orig, size * sizeof(*orig));
        }
        maglev__free(m);
        free(orig);
}

static void test_disruption_5(void **state)
{
        check_disruption(5);
}

static void test_disruption_10(void **state)
{
        check_disruption(10);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table_size),       cmocka_unit_test(test_new_rejects),
            cmocka_unit_test(test_fills_every_slot), cmocka_unit_test(test_one_backend),
            cmocka_unit_test(test_none_up),          cmocka_unit_test(test_balance),
            cmocka_unit_test(test_weights),          cmocka_unit_test(test_deterministic),
            cmocka_unit_test(test_disruption_5),     cmocka_unit_test(test_disruption_10),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
