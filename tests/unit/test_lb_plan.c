/*
 * Plans published one after another (reload, health changes): a broker keeps
 * its gid by name across plans, new brokers get new gids, least-connections
 * reads the balancer's shared counts, references keep a replaced plan alive
 * until its last holder lets go (ASan checks the frees), and a plan with too
 * many distinct brokers over the balancer's life is refused.
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

#include "core/config/config.h"
#include "core/lb/lb.h"
#include "core/config/plan.h"

static const char HEAD[] = "interfaces: [{name: lo}]\n"
                           "listeners: [{address: 10.10.0.100, port: 1883}]\n"
                           "source_addresses: [10.20.0.1]\n";

static struct plan *plan_of(const char *pools)
{
        size_t n = strlen(HEAD) + strlen(pools) + 1;
        char *yaml = malloc(n), err[CONFIG_ERR_MAX];
        struct config *c;
        struct plan *p;

        assert_non_null(yaml);
        snprintf(yaml, n, "%s%s", HEAD, pools);
        if (config__load_string("t.yaml", yaml, &c, err, sizeof(err)))
                fail_msg("config: %s", err);
        free(yaml);
        if (plan__build(c, &p, err, sizeof(err)))
                fail_msg("plan: %s", err);
        config__free(c);
        return p;
}

/* The gid of broker name in plan p, or -1. */
static int gid_of(const struct plan *p, const char *name)
{
        for (uint32_t i = 0; i < p->npools; i++)
                for (uint32_t b = 0; b < p->pools[i].nbrokers; b++)
                        if (!strcmp(p->pools[i].brokers[b].name, name))
                                return (int)p->pools[i].brokers[b].gid;
        return -1;
}

static void test_gids_stable(void **state)
{
        struct lb *lb;
        const struct plan *a, *b;

        (void)state;
        assert_int_equal(
            lb__new(&lb,
                    &(struct lb_cfg){.plan = plan_of("pools:\n"
                                                     "  - {name: a, brokers: [10.20.0.11:1883, "
                                                     "10.20.0.12:1883]}\n"
                                                     "default_pool: a\n"),
                                     .nworkers = 1}),
            0);
        a = plan__get(lb__plan(lb)); /* as a connection bound under it would */
        assert_int_equal(gid_of(a, "10.20.0.11:1883"), 0);
        assert_int_equal(gid_of(a, "10.20.0.12:1883"), 1);
        assert_int_equal(a->nbrokers, 2);

        /* .12 moves to another pool, .11 goes, .13 is new: listed first */
        assert_int_equal(lb__set_plan(lb, plan_of("pools:\n"
                                                  "  - {name: b, brokers: [10.20.0.13:1883]}\n"
                                                  "  - {name: a, brokers: [10.20.0.12:1883]}\n"
                                                  "default_pool: a\n")),
                         0);
        b = lb__plan(lb);
        assert_ptr_not_equal(a, b);
        assert_int_equal(gid_of(b, "10.20.0.12:1883"), 1);
        assert_int_equal(gid_of(b, "10.20.0.13:1883"), 2);
        assert_int_equal(b->nbrokers, 3); /* gids in use: counters sized by it */
        /* the old plan is intact while referenced */
        assert_string_equal(a->pools[0].name, "a");
        assert_int_equal(gid_of(a, "10.20.0.11:1883"), 0);
        plan__put(a); /* the last reference: freed here (ASan: no leak, no reuse) */
        lb__free(lb);
}

static void test_least_conn_shared(void **state)
{
        static const char POOLS[] = "pools:\n"
                                    "  - name: a\n"
                                    "    balance: least-connections\n"
                                    "    brokers: [10.20.0.11:1883, 10.20.0.12:1883]\n"
                                    "default_pool: a\n";
        struct lb *lb;
        const struct plan *p;
        struct pool_broker *b0;

        (void)state;
        assert_int_equal(lb__new(&lb, &(struct lb_cfg){.plan = plan_of(POOLS), .nworkers = 1}), 0);
        assert_int_equal(lb__set_plan(lb, plan_of(POOLS)), 0);
        p = lb__plan(lb);
        b0 = pool__broker(p->pools[0].pool, 0);
        assert_non_null(b0->active_ref);
        /* counts live in the balancer, not in the plan: a new plan sees them */
        __atomic_store_n((uint32_t *)b0->active_ref, 5, __ATOMIC_RELAXED);
        assert_int_equal(pool__select(p->pools[0].pool, &(struct pool_key){0}), 1);
        assert_int_equal(lb__set_plan(lb, plan_of(POOLS)), 0);
        p = lb__plan(lb);
        assert_int_equal(pool__select(p->pools[0].pool, &(struct pool_key){0}), 1);
        lb__free(lb);
}

static void test_too_many_brokers(void **state)
{
        char pools[65536];
        size_t n = 0;
        struct lb *lb;

        (void)state;
        assert_int_equal(lb__new(&lb, &(struct lb_cfg){.plan = plan_of("pools: [{name: a, brokers: "
                                                                       "[10.20.0.11:1883]}]\n"
                                                                       "default_pool: a\n"),
                                                       .nworkers = 1}),
                         0);
        /* PLAN_BROKERS_MAX new brokers: with the one seen, one too many */
        n += (size_t)snprintf(pools + n, sizeof(pools) - n, "pools:\n");
        for (uint32_t i = 0; i < PLAN_BROKERS_MAX; i++) {
                if (i % (PLAN_BROKERS_MAX / 2) == 0) /* two pools: at most 1000 brokers per pool */
                        n += (size_t)snprintf(pools + n, sizeof(pools) - n,
                                              "  - name: %s\n    brokers:\n", i ? "b" : "a");
                n += (size_t)snprintf(pools + n, sizeof(pools) - n, "      - 10.21.%u.%u:1883\n",
                                      i / 250, 1 + i % 250);
        }
        snprintf(pools + n, sizeof(pools) - n, "default_pool: a\n");
        assert_int_equal(lb__set_plan(lb, plan_of(pools)), -E2BIG);
        assert_int_equal(lb__plan(lb)->pools[0].nbrokers, 1); /* the old plan runs on */
        lb__free(lb);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_gids_stable),
            cmocka_unit_test(test_least_conn_shared),
            cmocka_unit_test(test_too_many_brokers),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
