/*
 * Pools: every selection policy, up/down transitions, and the rules of
 * pool__add_broker / pool__build.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/util/hash.h"
#include "core/route/pool.h"

static const char *const names[] = {"10.0.0.1:1883", "10.0.0.2:1883", "10.0.0.3:1883"};

static struct pool *make(enum pool_policy policy, const uint32_t *weights, uint32_t n,
                         bool reversed)
{
        struct pool *p = NULL;

        assert_int_equal(pool__new(&p, "brokers", policy, 0), 0);
        for (uint32_t i = 0; i < n; i++) {
                uint32_t k = reversed ? n - 1 - i : i;

                assert_int_equal(pool__add_broker(p, names[k], weights ? weights[k] : 1), (int)i);
        }
        assert_int_equal(pool__build(p), 0);
        return p;
}

static struct pool_key key_id(const char *id, const uint8_t *addr, size_t addr_len)
{
        struct pool_key k = {
            .client_id = (const uint8_t *)id,
            .client_id_len = id ? strlen(id) : 0,
            .addr = addr,
            .addr_len = addr_len,
        };
        return k;
}

static void test_api(void **state)
{
        struct pool *p = NULL;
        enum pool_policy pol;
        struct pool_key k = key_id("c", NULL, 0);

        assert_int_equal(pool__new(&p, "x", POOL_POLICY__COUNT, 0), -EINVAL);
        assert_int_equal(pool__new(&p, "x", POOL_POLICY_CLIENT_ID, 0), 0);
        assert_string_equal(pool__name(p), "x");
        assert_int_equal(pool__policy(p), POOL_POLICY_CLIENT_ID);
        assert_int_equal(pool__select(p, &k), POOL_NONE); /* not built */
        assert_int_equal(pool__add_broker(p, names[0], 1), 0);
        assert_int_equal(pool__add_broker(p, names[0], 1), -EEXIST);
        assert_int_equal(pool__add_broker(p, names[1], 1000), -EINVAL);
        assert_int_equal(pool__add_broker(p, names[1], 2), 1);
        assert_int_equal(pool__n_brokers(p), 2);
        assert_null(pool__maglev(p));
        assert_int_equal(pool__build(p), 0);
        assert_non_null(pool__maglev(p));
        assert_int_equal(pool__add_broker(p, names[2], 1), -EBUSY);
        assert_int_equal(pool__build(p), -EBUSY);
        assert_string_equal(pool__broker(p, 1)->name, names[1]);
        assert_int_equal(pool__broker(p, 1)->weight, 2);
        assert_null(pool__broker(p, 2));
        assert_int_equal(pool__set_up(p, 2, false), -EINVAL);
        pool__free(p);

        for (int i = 0; i < POOL_POLICY__COUNT; i++) {
                assert_int_equal(pool_policy__parse(pool_policy__str(i), &pol), 0);
                assert_int_equal(pol, i);
        }
        assert_int_equal(pool_policy__parse("round-robin", &pol), -EINVAL);
        assert_string_equal(pool_policy__str(POOL_POLICY_LEAST_CONN), "least-connections");
}

static void test_least_conn(void **state)
{
        static const uint32_t w[] = {1, 2, 1};
        struct pool *p = make(POOL_POLICY_LEAST_CONN, w, 3, false);
        struct pool_key k = key_id("ignored", NULL, 0);

        assert_null(pool__maglev(p));
        assert_int_equal(pool__select(p, &k), 0); /* all 0: lowest index */
        pool__broker(p, 0)->active = 1;
        assert_int_equal(pool__select(p, &k), 1);
        pool__broker(p, 1)->active = 1; /* 1/1, 1/2, 0/1 */
        assert_int_equal(pool__select(p, &k), 2);
        pool__broker(p, 2)->active = 1; /* 1/1, 1/2, 1/1: the weight counts */
        assert_int_equal(pool__select(p, &k), 1);
        pool__broker(p, 1)->active = 2; /* 1/1, 2/2, 1/1: ties to the lowest */
        assert_int_equal(pool__select(p, &k), 0);

        /* down brokers are skipped, however idle */
        pool__broker(p, 0)->active = 0;
        assert_int_equal(pool__set_up(p, 0, false), 1);
        assert_int_equal(pool__set_up(p, 0, false), 0);
        assert_int_equal(pool__select(p, &k), 1); /* 2/2 ties 1/1: index 1 before 2 */
        assert_int_equal(pool__set_up(p, 1, false), 1);
        assert_int_equal(pool__select(p, &k), 2);
        assert_int_equal(pool__set_up(p, 2, false), 1);
        assert_int_equal(pool__select(p, &k), POOL_NONE);
        assert_int_equal(pool__set_up(p, 0, true), 1);
        assert_int_equal(pool__select(p, &k), 0);
        pool__free(p);

        /* weight 0 drains a broker */
        static const uint32_t w0[] = {0, 1, 1};
        p = make(POOL_POLICY_LEAST_CONN, w0, 3, false);
        assert_int_equal(pool__select(p, &k), 1);
        pool__free(p);
}

static void test_least_rate(void **state)
{
        static const uint32_t w[] = {1, 3, 1};
        struct pool *p = make(POOL_POLICY_LEAST_RATE, w, 3, false);
        struct pool_key k = key_id(NULL, NULL, 0);

        assert_int_equal(pool__select(p, &k), 0);
        pool__broker(p, 0)->rate = 100.0;
        pool__broker(p, 1)->rate = 250.0; /* 250 / 3 < 100 */
        pool__broker(p, 2)->rate = 90.0;
        assert_int_equal(pool__select(p, &k), 1);
        pool__broker(p, 1)->rate = 300.0; /* 100/1 ties 300/3: lowest index */
        assert_int_equal(pool__select(p, &k), 2);
        pool__broker(p, 2)->rate = 100.0;
        assert_int_equal(pool__select(p, &k), 0);
        assert_int_equal(pool__set_up(p, 0, false), 1);
        assert_int_equal(pool__select(p, &k), 1);
        pool__free(p);
}

static void addr_v4(uint8_t *a, uint32_t i)
{
        a[0] = 192;
        a[1] = 168;
        a[2] = (uint8_t)(i >> 8);
        a[3] = (uint8_t)i;
}

static void test_source_ip(void **state)
{
        struct pool *p = make(POOL_POLICY_SOURCE_IP, NULL, 3, false);
        uint32_t seen[3] = {0}, same = 0;
        const uint32_t n = 3000;

        for (uint32_t i = 0; i < n; i++) {
                uint8_t v4[4], v6[16] = {0};
                struct pool_key k4 = key_id("same-client", v4, 4), k6 = key_id(NULL, v6, 16);
                int s4, s6;

                addr_v4(v4, i);
                memcpy(v6, v4, 4); /* the same leading bytes in a v6 address */
                s4 = pool__select(p, &k4);
                s6 = pool__select(p, &k6);
                assert_true(s4 >= 0 && s4 < 3);
                assert_true(s6 >= 0 && s6 < 3);
                /* stable for one address; the client id plays no part */
                k4.client_id = (const uint8_t *)"another";
                k4.client_id_len = 7;
                assert_int_equal(pool__select(p, &k4), s4);
                assert_int_not_equal(hash__addr(v4, 4), hash__addr(v6, 16));
                seen[s4]++;
                same += s4 == s6;
        }
        for (int b = 0; b < 3; b++)
                assert_true(seen[b] > n / 3 * 0.8 && seen[b] < n / 3 * 1.2);
        /* independent hashes agree ~1/3 of the time, not always */
        assert_true(same < n / 2);

        /* a down broker leaves the table; its addresses go elsewhere */
        assert_int_equal(pool__set_up(p, 1, false), 1);
        for (uint32_t i = 0; i < n; i++) {
                uint8_t v4[4];
                struct pool_key k = key_id(NULL, v4, 4);

                addr_v4(v4, i);
                assert_int_not_equal(pool__select(p, &k), 1);
        }
        assert_int_equal(pool__set_up(p, 1, true), 1);
        assert_int_equal(pool__set_up(p, 1, true), 0);
        pool__free(p);
}

static void test_client_id(void **state)
{
        struct pool *p = make(POOL_POLICY_CLIENT_ID, NULL, 3, false);
        struct pool *r = make(POOL_POLICY_CLIENT_ID, NULL, 3, true); /* another instance */
        uint32_t seen[3] = {0};
        char id[32];

        for (int i = 0; i < 3000; i++) {
                uint8_t a1[4] = {10, 1, 1, 1}, a2[16] = {0x20, 0x01, 0x0d, 0xb8};
                struct pool_key k1, k2;
                int s;

                snprintf(id, sizeof(id), "client-%d", i);
                k1 = key_id(id, a1, 4);
                k2 = key_id(id, a2, 16);
                s = pool__select(p, &k1);
                assert_true(s >= 0 && s < 3);
                /* the address plays no part when there is an id */
                assert_int_equal(pool__select(p, &k2), s);
                /* a config listing the brokers in another order agrees */
                assert_string_equal(pool__broker(r, (uint32_t)pool__select(r, &k1))->name,
                                    pool__broker(p, (uint32_t)s)->name);
                seen[s]++;
        }
        for (int b = 0; b < 3; b++)
                assert_true(seen[b] > 800);

        /* down: never selected, and the others keep their clients (r still
         * has every broker up), but for Maglev's small disruption */
        uint32_t moved = 0;

        assert_int_equal(pool__set_up(p, 0, false), 1);
        for (int i = 0; i < 3000; i++) {
                struct pool_key k;
                const char *before, *after;

                snprintf(id, sizeof(id), "client-%d", i);
                k = key_id(id, NULL, 0);
                assert_int_not_equal(pool__select(p, &k), 0);
                after = pool__broker(p, (uint32_t)pool__select(p, &k))->name;
                before = pool__broker(r, (uint32_t)pool__select(r, &k))->name;
                if (strcmp(before, names[0]) != 0 && strcmp(before, after) != 0)
                        moved++;
        }
        assert_true(moved < 3000 / 20);
        assert_int_equal(pool__set_up(p, 0, true), 1);
        pool__free(p);
        pool__free(r);
}

static void test_empty_client_id(void **state)
{
        struct pool *p = make(POOL_POLICY_CLIENT_ID, NULL, 3, false);
        struct pool *s = make(POOL_POLICY_SOURCE_IP, NULL, 3, false);
        uint32_t seen[3] = {0};

        for (uint32_t i = 0; i < 600; i++) {
                uint8_t v4[4];
                struct pool_key k = key_id("", v4, 4);
                int got;

                addr_v4(v4, i);
                got = pool__select(p, &k);
                /* same brokers, same table: exactly what source-ip picks */
                assert_int_equal(got, pool__select(s, &k));
                seen[got]++;
        }
        /* spread, not all on the broker that hashes "" */
        for (int b = 0; b < 3; b++)
                assert_true(seen[b] > 100);
        pool__free(p);
        pool__free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_api),        cmocka_unit_test(test_least_conn),
            cmocka_unit_test(test_least_rate), cmocka_unit_test(test_source_ip),
            cmocka_unit_test(test_client_id),  cmocka_unit_test(test_empty_client_id),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
