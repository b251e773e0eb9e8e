/*
 * The frame pool and per-worker caches: every frame is handed out once, comes
 * back whole, and two workers swapping frames concurrently never hold the
 * same frame at the same time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "xsk/frame_pool.h"

#define FRAMES 1000u
#define FSIZE  4096u

static void every_frame_once(void **state)
{
        (void)state;
        struct frame_pool *p;
        struct frame_cache c;
        static uint64_t got[FRAMES + 10];
        static uint8_t seen[FRAMES];

        assert_int_equal(frame_pool__new(&p, FRAMES, FSIZE), 0);
        frame_cache__init(&c, p);
        uint32_t n = frame_cache__alloc(&c, got, FRAMES + 10);

        assert_int_equal(n, FRAMES); /* no more than there are */
        assert_int_equal(frame_pool__count(p), 0);
        memset(seen, 0, sizeof(seen));
        for (uint32_t i = 0; i < n; i++) {
                assert_int_equal(got[i] % FSIZE, 0);
                assert_true(got[i] / FSIZE < FRAMES);
                assert_int_equal(seen[got[i] / FSIZE]++, 0);
        }
        assert_int_equal(frame_cache__alloc(&c, got, 1), 0); /* dry */
        for (uint32_t i = 0; i < n; i++)
                frame_cache__put(&c, got[i]);
        frame_cache__drain(&c);
        assert_int_equal(c.n, 0);
        assert_int_equal(frame_pool__count(p), FRAMES);
        assert_int_equal(frame_pool__total(p), FRAMES);
        frame_pool__free(p);
}

struct worker_arg {
        struct frame_pool *pool;
        atomic_uchar *owner; /* per frame: 0 free, else worker id */
        uint8_t id;
        unsigned seed;
        int errors;
};

static void *worker(void *v)
{
        struct worker_arg *a = v;
        struct frame_cache c;
        uint64_t held[300];
        uint32_t nheld = 0;

        frame_cache__init(&c, a->pool);
        for (int it = 0; it < 100000; it++) {
                uint32_t want = (uint32_t)rand_r(&a->seed) % 100;

                if (rand_r(&a->seed) & 1 && nheld + want <= 300) {
                        uint32_t got = frame_cache__alloc(&c, held + nheld, want);

                        for (uint32_t i = 0; i < got; i++) {
                                unsigned char expect = 0;

                                if (!atomic_compare_exchange_strong(
                                        &a->owner[held[nheld + i] / FSIZE], &expect, a->id))
                                        a->errors++; /* held by another worker */
                        }
                        nheld += got;
                } else {
                        while (want-- && nheld) {
                                uint64_t f = held[--nheld];

                                atomic_store(&a->owner[f / FSIZE], 0);
                                frame_cache__put(&c, f);
                        }
                }
        }
        while (nheld) {
                uint64_t f = held[--nheld];

                atomic_store(&a->owner[f / FSIZE], 0);
                frame_cache__put(&c, f);
        }
        frame_cache__drain(&c);
        return NULL;
}

static void two_workers_swap_without_sharing(void **state)
{
        (void)state;
        struct frame_pool *p;
        static atomic_uchar owner[FRAMES];
        struct worker_arg a[2] = {{.id = 1, .seed = 7}, {.id = 2, .seed = 11}};
        pthread_t t[2];

        assert_int_equal(frame_pool__new(&p, FRAMES, FSIZE), 0);
        for (int i = 0; i < 2; i++) {
                a[i].pool = p;
                a[i].owner = owner;
                assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
        }
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        assert_int_equal(a[0].errors + a[1].errors, 0);
        assert_int_equal(frame_pool__count(p), FRAMES); /* nothing leaked */
        frame_pool__free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(every_frame_once),
            cmocka_unit_test(two_workers_swap_without_sharing),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
