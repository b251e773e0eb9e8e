/*
 * The handover ring (core/datapath/handover.h): sizes, FIFO order, a full ring taking
 * only what fits, the 32-bit indices wrapping past UINT32_MAX, and a producer
 * and a consumer thread moving two million numbered items in random batches
 * with nothing lost, duplicated or reordered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <cmocka.h>

#include "core/datapath/handover.h"

/* An item whose every field derives from its sequence number. */
static struct handover_item item(uint64_t seq)
{
        return (struct handover_item){
            .addr = seq * 4096 + 7,
            .len = (uint32_t)(seq * 3 + 1),
            .port = (uint16_t)(seq % 5),
        };
}

static void assert_item(const struct handover_item *it, uint64_t seq)
{
        struct handover_item want = item(seq);

        assert_int_equal(it->addr, want.addr);
        assert_int_equal(it->len, want.len);
        assert_int_equal(it->port, want.port);
}

static void bad_sizes_rejected(void **state)
{
        (void)state;
        static const uint32_t bad[] = {0, 1, 3, 6, 100, 0x80000001u, UINT32_MAX};
        static const uint32_t good[] = {2, 4, 64, 1024};
        struct handover_ring *r = (struct handover_ring *)(uintptr_t)0x1;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(handover_ring__new(&r, bad[i]), -EINVAL);
                assert_ptr_equal(r, (struct handover_ring *)(uintptr_t)0x1); /* untouched */
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                assert_int_equal(handover_ring__new(&r, good[i]), 0);
                assert_int_equal(r->mask, good[i] - 1);
                assert_int_equal((uintptr_t)r % 64, 0);
                assert_int_equal(handover_ring__count(r), 0);
                handover_ring__free(r);
        }
}

static void push_pop_in_order(void **state)
{
        (void)state;
        struct handover_ring *r;
        struct handover_item in[16], out[16];

        assert_int_equal(handover_ring__new(&r, 16), 0);
        assert_int_equal(handover_ring__pop(r, out, 16), 0); /* empty */
        for (uint64_t i = 0; i < 16; i++)
                in[i] = item(i);
        assert_int_equal(handover_ring__push(r, in, 3), 3);
        assert_int_equal(handover_ring__count(r), 3);
        assert_int_equal(handover_ring__push(r, in + 3, 4), 4);
        assert_int_equal(handover_ring__count(r), 7);
        assert_int_equal(handover_ring__pop(r, out, 2), 2);
        assert_item(&out[0], 0);
        assert_item(&out[1], 1);
        assert_int_equal(handover_ring__count(r), 5);
        assert_int_equal(handover_ring__push(r, in + 7, 0), 0);
        assert_int_equal(handover_ring__pop(r, out, 0), 0);
        assert_int_equal(handover_ring__pop(r, out, 16), 5); /* asks more than there is */
        for (uint64_t i = 0; i < 5; i++)
                assert_item(&out[i], 2 + i);
        assert_int_equal(handover_ring__count(r), 0);
        assert_int_equal(handover_ring__pop(r, out, 1), 0);
        handover_ring__free(r);
}

static void full_ring_takes_what_fits(void **state)
{
        (void)state;
        struct handover_ring *r;
        struct handover_item in[32], out[32];
        uint64_t next_in = 0, next_out = 0;

        for (uint64_t i = 0; i < 32; i++)
                in[i] = item(i);
        assert_int_equal(handover_ring__new(&r, 8), 0);
        assert_int_equal(handover_ring__push(r, in, 5), 5);
        assert_int_equal(handover_ring__push(r, in + 5, 5), 3); /* 3 of 5 fit */
        next_in = 8;
        assert_int_equal(handover_ring__count(r), 8);
        assert_int_equal(handover_ring__push(r, in + next_in, 1), 0); /* full */
        assert_int_equal(handover_ring__pop(r, out, 1), 1);
        assert_item(&out[0], next_out++);
        assert_int_equal(handover_ring__push(r, in + next_in, 2), 1); /* one slot again */
        next_in++;
        assert_int_equal(handover_ring__count(r), 8);
        assert_int_equal(handover_ring__pop(r, out, 32), 8);
        for (uint32_t i = 0; i < 8; i++)
                assert_item(&out[i], next_out++);
        assert_int_equal(next_out, next_in);
        /* a burst larger than the ring into an empty ring */
        assert_int_equal(handover_ring__push(r, in, 32), 8);
        assert_int_equal(handover_ring__pop(r, out, 32), 8);
        for (uint64_t i = 0; i < 8; i++)
                assert_item(&out[i], i);
        handover_ring__free(r);
}

/* Starts a ring's indices (and each side's copy of the other's) at start. */
static void set_indices(struct handover_ring *r, uint32_t start)
{
        atomic_store(&r->head, start);
        atomic_store(&r->tail, start);
        r->tail_seen = start;
        r->head_seen = start;
}

static void indices_wrap_around(void **state)
{
        (void)state;
        struct handover_ring *r;
        struct handover_item in[8], out[8];
        uint64_t next_in = 0, next_out = 0;

        assert_int_equal(handover_ring__new(&r, 8), 0);
        set_indices(r, UINT32_MAX - 5);
        /* push 3 / pop 2 until well past the wrap, checking order and count */
        for (int round = 0; round < 20; round++) {
                for (uint32_t i = 0; i < 3; i++)
                        in[i] = item(next_in + i);
                uint32_t room = 8 - (uint32_t)(next_in - next_out);
                uint32_t want = room < 3 ? room : 3;

                assert_int_equal(handover_ring__push(r, in, 3), want);
                next_in += want;
                assert_int_equal(handover_ring__count(r), next_in - next_out);
                assert_int_equal(handover_ring__pop(r, out, 2), 2);
                assert_item(&out[0], next_out++);
                assert_item(&out[1], next_out++);
        }
        assert_int_equal(atomic_load(&r->head), (uint32_t)(UINT32_MAX - 5 + next_in));
        assert_true(atomic_load(&r->head) < 64); /* it did wrap */
        assert_int_equal(handover_ring__pop(r, out, 8), next_in - next_out);
        for (uint32_t i = 0; next_out < next_in; i++)
                assert_item(&out[i], next_out++);

        /* full and empty are still told apart right across the wrap */
        set_indices(r, UINT32_MAX - 3);
        for (uint64_t i = 0; i < 8; i++)
                in[i] = item(100 + i);
        assert_int_equal(handover_ring__push(r, in, 8), 8);
        assert_int_equal(handover_ring__count(r), 8);
        assert_int_equal(handover_ring__push(r, in, 1), 0);
        assert_int_equal(handover_ring__pop(r, out, 8), 8);
        for (uint64_t i = 0; i < 8; i++)
                assert_item(&out[i], 100 + i);
        assert_int_equal(handover_ring__count(r), 0);
        assert_int_equal(handover_ring__pop(r, out, 8), 0);
        assert_int_equal(atomic_load(&r->tail), 4);
        handover_ring__free(r);
}

#define STRESS_ITEMS 2000000u
#define STRESS_RING  256u

struct stress {
        struct handover_ring *r;
        unsigned seed;
        uint64_t errors, first_bad, received;
};

static void *producer(void *arg)
{
        struct stress *s = arg;
        struct handover_item batch[100];
        uint64_t next = 0;

        while (next < STRESS_ITEMS) {
                uint32_t n = (uint32_t)rand_r(&s->seed) % 100 + 1, sent = 0;

                if (n > STRESS_ITEMS - next)
                        n = (uint32_t)(STRESS_ITEMS - next);
                for (uint32_t i = 0; i < n; i++)
                        batch[i] = item(next + i);
                while (sent < n) {
                        uint32_t k = handover_ring__push(s->r, batch + sent, n - sent);

                        if (!k)
                                sched_yield();
                        sent += k;
                }
                next += n;
        }
        return NULL;
}

static void *consumer(void *arg)
{
        struct stress *s = arg;
        struct handover_item batch[100];
        unsigned seed = s->seed ^ 0x5a5a5a5au;

        while (s->received < STRESS_ITEMS) {
                uint32_t want = (uint32_t)rand_r(&seed) % 100 + 1;
                uint32_t k = handover_ring__pop(s->r, batch, want);

                if (!k)
                        sched_yield();
                for (uint32_t i = 0; i < k; i++) {
                        struct handover_item w = item(s->received);

                        if (batch[i].addr != w.addr || batch[i].len != w.len ||
                            batch[i].port != w.port) {
                                if (!s->errors++)
                                        s->first_bad = s->received;
                        }
                        s->received++;
                }
        }
        return NULL;
}

static void two_threads_in_order(void **state)
{
        (void)state;
        struct stress s = {.seed = 12345};
        pthread_t p, c;

        assert_int_equal(handover_ring__new(&s.r, STRESS_RING), 0);
        set_indices(s.r, UINT32_MAX - 1000); /* wrap during the run too */
        assert_int_equal(pthread_create(&c, NULL, consumer, &s), 0);
        assert_int_equal(pthread_create(&p, NULL, producer, &s), 0);
        pthread_join(p, NULL);
        pthread_join(c, NULL);
        if (s.errors)
                fail_msg("%llu items out of order, first at %llu", (unsigned long long)s.errors,
                         (unsigned long long)s.first_bad);
        assert_int_equal(s.received, STRESS_ITEMS);
        assert_int_equal(handover_ring__count(s.r), 0);
        assert_int_equal(atomic_load(&s.r->head), (uint32_t)(UINT32_MAX - 1000 + STRESS_ITEMS));
        handover_ring__free(s.r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(bad_sizes_rejected),        cmocka_unit_test(push_pop_in_order),
            cmocka_unit_test(full_ring_takes_what_fits), cmocka_unit_test(indices_wrap_around),
            cmocka_unit_test(two_threads_in_order),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
