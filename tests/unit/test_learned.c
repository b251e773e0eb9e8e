/*
 * Learned bindings: set/get and their return values, argument checks,
 * growth to 100k ids, the bound (LEARNED_MAX), the state file (exact text,
 * every byte value round-trips, bad lines skipped and counted, a missing or
 * empty file, atomic save), and readers, writers and a saver racing.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/route/learned.h"

#define U(s) ((const uint8_t *)(s))

static int set(struct learned *l, const char *id, const char *pool)
{
        return learned__set(l, U(id), strlen(id), pool);
}

/* The pool of id, or "" when unknown. */
static const char *get(struct learned *l, const char *id)
{
        static char pool[LEARNED_POOL_MAX];

        if (learned__get(l, U(id), strlen(id), pool, sizeof(pool)) != 1)
                return "";
        return pool;
}

/* A fresh directory for state files; removed by cleanup_dir(). */
static char *make_dir(void)
{
        char tmpl[] = "/tmp/test_learned.XXXXXX";
        char *d = mkdtemp(tmpl);

        assert_non_null(d);
        return strdup(d);
}

static char *path_in(const char *dir, const char *name)
{
        size_t n = strlen(dir) + strlen(name) + 2;
        char *p = malloc(n);

        assert_non_null(p);
        snprintf(p, n, "%s/%s", dir, name);
        return p;
}

static int count_files(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

static void cleanup_dir(char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        assert_non_null(d);
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char *p = path_in(dir, de->d_name);

                unlink(p);
                free(p);
        }
        closedir(d);
        assert_int_equal(rmdir(dir), 0);
        free(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        rewind(f);
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = 0;
        fclose(f);
        *len = (size_t)n;
        return buf;
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_set_get(void **state)
{
        struct learned *l = learned__new();
        char small[4];

        assert_non_null(l);
        assert_int_equal(learned__count(l), 0);
        assert_string_equal(get(l, "c1"), "");
        assert_int_equal(set(l, "c1", "alpha"), 1); /* new */
        assert_string_equal(get(l, "c1"), "alpha");
        assert_int_equal(set(l, "c1", "alpha"), 0); /* unchanged */
        assert_int_equal(set(l, "c1", "beta"), 1);  /* changed */
        assert_string_equal(get(l, "c1"), "beta");
        assert_int_equal(set(l, "c2", "beta"), 1);
        assert_int_equal(learned__count(l), 2);
        assert_string_equal(get(l, "c"), "");
        assert_string_equal(get(l, "c12"), "");

        /* a short buffer gets as much of the name as fits, terminated */
        assert_int_equal(learned__get(l, U("c1"), 2, small, sizeof(small)), 1);
        assert_string_equal(small, "bet");
        assert_int_equal(learned__get(l, U("c1"), 2, NULL, 0), 1);
        assert_int_equal(learned__get(l, U("zz"), 2, NULL, 0), 0);
        learned__free(l);
        learned__free(NULL);
}

static void test_invalid(void **state)
{
        struct learned *l = learned__new();
        char pool[LEARNED_POOL_MAX + 1];
        uint8_t *big = calloc(65536, 1);

        assert_non_null(l);
        assert_non_null(big);
        assert_int_equal(learned__set(l, U("x"), 0, "p"), -EINVAL); /* empty id */
        assert_int_equal(set(l, "c", ""), -EINVAL);
        assert_int_equal(set(l, "c", "a\tb"), -EINVAL); /* would break the file */
        assert_int_equal(set(l, "c", "a\nb"), -EINVAL);
        memset(pool, 'p', sizeof(pool));
        pool[LEARNED_POOL_MAX] = 0; /* 64 bytes: one too many */
        assert_int_equal(set(l, "c", pool), -EINVAL);
        pool[LEARNED_POOL_MAX - 1] = 0; /* 63 */
        assert_int_equal(set(l, "c", pool), 1);
        assert_string_equal(get(l, "c"), pool);
        /* an MQTT string is at most 65535 bytes */
        assert_int_equal(learned__set(l, big, 65535, "p"), 1);
        assert_int_equal(learned__set(l, big, 65536, "p"), -EINVAL);
        assert_int_equal(learned__get(l, big, 65535, NULL, 0), 1);
        assert_int_equal(learned__get(l, big, 65536, NULL, 0), 0);
        assert_int_equal(learned__count(l), 2);
        free(big);
        learned__free(l);
}

static void test_many(void **state)
{
        enum { N = 100000 };
        struct learned *l = learned__new();
        char id[32], pool[LEARNED_POOL_MAX], want[16];

        assert_non_null(l);
        for (int i = 0; i < N; i++) {
                snprintf(id, sizeof(id), "client-%d", i);
                snprintf(want, sizeof(want), "p%d", i % 7);
                assert_int_equal(set(l, id, want), 1);
        }
        assert_int_equal(learned__count(l), N);
        for (int i = 0; i < N; i++) {
                snprintf(id, sizeof(id), "client-%d", i);
                snprintf(want, sizeof(want), "p%d", i % 7);
                assert_int_equal(learned__get(l, U(id), strlen(id), pool, sizeof(pool)), 1);
                assert_string_equal(pool, want);
                /* every other one moves */
                assert_int_equal(set(l, id, i & 1 ? "moved" : want), i & 1);
        }
        for (int i = 0; i < N; i++) {
                snprintf(id, sizeof(id), "client-%d", i);
                snprintf(want, sizeof(want), "p%d", i % 7);
                assert_string_equal(get(l, id), i & 1 ? "moved" : want);
        }
        snprintf(id, sizeof(id), "client-%d", N);
        assert_string_equal(get(l, id), "");
        assert_int_equal(learned__count(l), N);
        learned__free(l);
}

/* Fills to LEARNED_MAX: the next new id is refused, known ones still move. */
static void test_bound(void **state)
{
        struct learned *l = learned__new();
        uint32_t i;
        double t0 = now();

        assert_non_null(l);
        for (i = 0; i < LEARNED_MAX; i++)
                assert_int_equal(learned__set(l, (const uint8_t *)&i, sizeof(i), "p"), 1);
        assert_int_equal(learned__count(l), LEARNED_MAX);
        assert_int_equal(learned__set(l, (const uint8_t *)&i, sizeof(i), "p"), -ENOSPC);
        assert_int_equal(learned__get(l, (const uint8_t *)&i, sizeof(i), NULL, 0), 0);
        i = 12345;
        assert_int_equal(learned__set(l, (const uint8_t *)&i, sizeof(i), "p"), 0);
        assert_int_equal(learned__set(l, (const uint8_t *)&i, sizeof(i), "q"), 1);
        assert_int_equal(learned__count(l), LEARNED_MAX);
        learned__free(l);
        print_message("  %u entries filled and freed in %.2f s\n", LEARNED_MAX, now() - t0);
}

static void test_file_text(void **state)
{
        struct learned *l = learned__new();
        char *dir = make_dir(), *path = path_in(dir, "state"), *text;
        static const uint8_t id[] = {'a',  '\\', 'b',  '\t', 'c', '\n', 'd',  0x01,
                                     0x7f, 0x80, 0xff, 0x00, 'e', '\r', 0x1f, ' '};
        static const char want[] = "pool-1\ta\\\\b\\tc\\nd\\x01\\x7f\x80\xff\\x00e\\x0d\\x1f \n";
        size_t len, bad = 7;

        assert_non_null(l);
        assert_int_equal(learned__set(l, id, sizeof(id), "pool-1"), 1);
        assert_int_equal(learned__save(l, path), 0);
        text = read_file(path, &len);
        assert_int_equal(len, sizeof(want) - 1);
        assert_memory_equal(text, want, len);
        free(text);
        learned__free(l);

        l = learned__new();
        assert_non_null(l);
        assert_int_equal(learned__load(l, path, &bad), 0);
        assert_int_equal(bad, 0);
        assert_int_equal(learned__count(l), 1);
        assert_int_equal(learned__get(l, id, sizeof(id), NULL, 0), 1);
        learned__free(l);
        free(path);
        cleanup_dir(dir);
}

/* Every byte value, alone and at every position, and a longest id. */
static void test_all_bytes(void **state)
{
        struct learned *l = learned__new(), *m = learned__new();
        char *dir = make_dir(), *path = path_in(dir, "state");
        uint8_t id[256], *longest = malloc(65535);
        char pool[LEARNED_POOL_MAX], want[LEARNED_POOL_MAX];
        size_t bad = 99;

        assert_non_null(l);
        assert_non_null(m);
        assert_non_null(longest);
        for (int b = 0; b < 256; b++) { /* 1 byte */
                id[0] = (uint8_t)b;
                snprintf(want, sizeof(want), "one-%d", b);
                assert_int_equal(learned__set(l, id, 1, want), 1);
        }
        for (int r = 0; r < 256; r++) { /* 0..255 rotated by r */
                for (int k = 0; k < 256; k++)
                        id[k] = (uint8_t)(k + r);
                snprintf(want, sizeof(want), "rot-%d", r);
                assert_int_equal(learned__set(l, id, 256, want), 1);
        }
        for (size_t k = 0; k < 65535; k++)
                longest[k] = (uint8_t)(k * 131 + (k >> 8));
        assert_int_equal(learned__set(l, longest, 65535, "longest"), 1);
        assert_int_equal(learned__save(l, path), 0);
        assert_int_equal(count_files(dir), 1); /* no temporary left */

        assert_int_equal(learned__load(m, path, &bad), 0);
        assert_int_equal(bad, 0);
        assert_int_equal(learned__count(m), 256 + 256 + 1);
        for (int b = 0; b < 256; b++) {
                id[0] = (uint8_t)b;
                snprintf(want, sizeof(want), "one-%d", b);
                assert_int_equal(learned__get(m, id, 1, pool, sizeof(pool)), 1);
                assert_string_equal(pool, want);
        }
        for (int r = 0; r < 256; r++) {
                for (int k = 0; k < 256; k++)
                        id[k] = (uint8_t)(k + r);
                snprintf(want, sizeof(want), "rot-%d", r);
                assert_int_equal(learned__get(m, id, 256, pool, sizeof(pool)), 1);
                assert_string_equal(pool, want);
        }
        assert_int_equal(learned__get(m, longest, 65535, pool, sizeof(pool)), 1);
        assert_string_equal(pool, "longest");

        /* save over an existing file replaces it */
        assert_int_equal(learned__save(m, path), 0);
        learned__free(m);
        m = learned__new();
        assert_non_null(m);
        assert_int_equal(learned__load(m, path, NULL), 0);
        assert_int_equal(learned__count(m), 256 + 256 + 1);
        assert_int_equal(count_files(dir), 1);

        free(longest);
        learned__free(l);
        learned__free(m);
        free(path);
        cleanup_dir(dir);
}

static void test_bad_lines(void **state)
{
        struct learned *l = learned__new();
        char *dir = make_dir(), *path = path_in(dir, "state");
        size_t overlong_len = 300000, bad = 0;
        char *overlong = malloc(overlong_len);
        char long_pool[80];
        static const char text[] = "p1\tgood-1\n"
                                   "no tab here\n"                    /* bad */
                                   "\tempty-pool\n"                   /* bad */
                                   "p1\t\n"                           /* bad: empty id */
                                   "\n"                               /* bad: empty line */
                                   "p1\tbad\\qescape\n"               /* bad */
                                   "p1\ttrunc\\x4\n"                  /* bad */
                                   "p1\ttrunc\\\n"                    /* bad: a lone backslash */
                                   "p1\tnothex\\xzz\n"                /* bad */
                                   "p1\traw\x01control\n"             /* bad: should be \x01 */
                                   "p1\tcrlf\r\n"                     /* bad: raw CR */
                                   "p\x02\tcontrol-in-pool\n"         /* bad */
                                   "p2\tgood\\x41\\x4a\\\\\\t\\n-2\n" /* "goodAJ\\\t\n-2" */
                                   "p1\tdup\n"
                                   "p2\tdup\n"         /* the last line wins */
                                   "p3\ttab\tin-id\n"; /* bad: a raw tab in the id */
        size_t tl = sizeof(text) - 1, o = 0;
        char *file = malloc(tl + 100 + overlong_len + 200);

        assert_non_null(l);
        assert_non_null(overlong);
        assert_non_null(file);
        memcpy(file, text, tl);
        o = tl;
        memset(long_pool, 'x', 70); /* pool too long: bad */
        long_pool[70] = 0;
        o += (size_t)sprintf(file + o, "%s\tlong-pool\n", long_pool);
        /* a line longer than any valid one: bad, and skipped whole */
        memset(overlong, 'y', overlong_len);
        memcpy(overlong, "p1\t", 3);
        memcpy(file + o, overlong, overlong_len);
        o += overlong_len;
        file[o++] = '\n';
        /* the last line has no '\n' */
        o += (size_t)sprintf(file + o, "p3\tgood-3");
        write_file(path, file, o);

        assert_int_equal(learned__load(l, path, &bad), 0);
        assert_int_equal(bad, 14);
        assert_int_equal(learned__count(l), 4);
        assert_string_equal(get(l, "good-1"), "p1");
        assert_string_equal(get(l, "goodAJ\\\t\n-2"), "p2");
        assert_string_equal(get(l, "dup"), "p2");
        assert_string_equal(get(l, "good-3"), "p3");
        assert_string_equal(get(l, "tab"), "");

        /* loading again into a table that has them changes nothing */
        assert_int_equal(learned__load(l, path, NULL), 0);
        assert_int_equal(learned__count(l), 4);

        free(file);
        free(overlong);
        learned__free(l);
        free(path);
        cleanup_dir(dir);
}

static void test_missing_and_empty(void **state)
{
        struct learned *l = learned__new();
        char *dir = make_dir(), *path = path_in(dir, "state");
        char *nodir = path_in(dir, "no/such/dir/state");
        size_t bad = 5;

        assert_non_null(l);
        assert_int_equal(learned__load(l, path, &bad), -ENOENT);
        assert_int_equal(bad, 0);
        assert_int_equal(learned__load(l, dir, &bad), -EISDIR);
        write_file(path, "", 0);
        assert_int_equal(learned__load(l, path, &bad), 0);
        assert_int_equal(bad, 0);
        assert_int_equal(learned__count(l), 0);

        /* an empty table saves an empty file */
        assert_int_equal(set(l, "c", "p"), 1);
        learned__free(l);
        l = learned__new();
        assert_non_null(l);
        assert_int_equal(learned__save(l, path), 0);
        assert_int_equal(learned__load(l, path, &bad), 0);
        assert_int_equal(learned__count(l), 0);

        assert_int_equal(learned__save(l, nodir), -ENOENT);
        assert_int_equal(count_files(dir), 1);
        free(nodir);
        learned__free(l);
        free(path);
        cleanup_dir(dir);
}

/*
 * Two writers on their own ids (re-binding them round after round and adding
 * new ones, so the table grows under the readers), a reader checking that a
 * pool it reads is one its id can have, and a reader that also saves. At the
 * end: every id has its writer's last pool, and the last file loads clean.
 */
#define RACE_IDS     20000
#define RACE_SECONDS 0.4

struct race {
        struct learned *l;
        const char *path;
        atomic_bool stop;
        int writer;        /* 0 or 1 */
        int rounds;        /* written, for the writers */
        long reads, saves; /* for the readers */
        int failures;
};

static void race_id(char *id, size_t len, int writer, int i)
{
        snprintf(id, len, "w%d-%d", writer, i);
}

static void *race_writer(void *arg)
{
        struct race *r = arg;
        char id[32], pool[LEARNED_POOL_MAX];
        int round = 0;

        /* round 0 adds the ids, later rounds move them all */
        while (!r->stop || round == 0) {
                snprintf(pool, sizeof(pool), "w%d-r%d", r->writer, round);
                for (int i = 0; i < RACE_IDS; i++) {
                        race_id(id, sizeof(id), r->writer, i);
                        if (learned__set(r->l, U(id), strlen(id), pool) != 1)
                                r->failures++;
                }
                round++;
        }
        r->rounds = round;
        return NULL;
}

static void *race_reader(void *arg)
{
        struct race *r = arg;
        char id[32], pool[LEARNED_POOL_MAX], prefix[8];
        unsigned seed = 12345u + (unsigned)r->writer;

        while (!r->stop) {
                int w = (int)(rand_r(&seed) & 1), i = (int)(rand_r(&seed) % RACE_IDS);

                race_id(id, sizeof(id), w, i);
                if (learned__get(r->l, U(id), strlen(id), pool, sizeof(pool)) == 1) {
                        snprintf(prefix, sizeof(prefix), "w%d-r", w);
                        if (strncmp(pool, prefix, strlen(prefix)))
                                r->failures++;
                }
                r->reads++;
                if (r->path && !(r->reads % 5000)) {
                        if (learned__save(r->l, r->path))
                                r->failures++;
                        r->saves++;
                }
                (void)learned__count(r->l);
        }
        return NULL;
}

static void test_concurrent(void **state)
{
        struct learned *l = learned__new();
        char *dir = make_dir(), *path = path_in(dir, "state");
        struct race w[2], rd[2];
        pthread_t tw[2], tr[2];
        char id[32], want[LEARNED_POOL_MAX];
        size_t bad = 1;
        double t0 = now();

        assert_non_null(l);
        for (int k = 0; k < 2; k++) {
                w[k] = (struct race){.l = l, .writer = k};
                rd[k] = (struct race){.l = l, .writer = k, .path = k ? path : NULL};
                assert_int_equal(pthread_create(&tw[k], NULL, race_writer, &w[k]), 0);
                assert_int_equal(pthread_create(&tr[k], NULL, race_reader, &rd[k]), 0);
        }
        while (now() - t0 < RACE_SECONDS)
                usleep(10000);
        for (int k = 0; k < 2; k++)
                w[k].stop = rd[k].stop = true;
        for (int k = 0; k < 2; k++) {
                assert_int_equal(pthread_join(tw[k], NULL), 0);
                assert_int_equal(pthread_join(tr[k], NULL), 0);
        }
        print_message("  %.2f s: writer rounds %d, %d; reads %ld, %ld; saves %ld\n", now() - t0,
                      w[0].rounds, w[1].rounds, rd[0].reads, rd[1].reads, rd[1].saves);
        for (int k = 0; k < 2; k++) {
                assert_int_equal(w[k].failures, 0);
                assert_int_equal(rd[k].failures, 0);
        }
        assert_true(rd[1].saves > 0);
        assert_int_equal(learned__count(l), 2 * RACE_IDS);
        for (int k = 0; k < 2; k++) {
                snprintf(want, sizeof(want), "w%d-r%d", k, w[k].rounds - 1);
                for (int i = 0; i < RACE_IDS; i++) {
                        race_id(id, sizeof(id), k, i);
                        assert_string_equal(get(l, id), want);
                }
        }
        learned__free(l);

        /* the last file a racing save wrote is whole */
        l = learned__new();
        assert_non_null(l);
        assert_int_equal(learned__load(l, path, &bad), 0);
        assert_int_equal(bad, 0);
        assert_true(learned__count(l) <= 2 * RACE_IDS);
        assert_int_equal(count_files(dir), 1);
        learned__free(l);
        free(path);
        cleanup_dir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_set_get),    cmocka_unit_test(test_invalid),
            cmocka_unit_test(test_many),       cmocka_unit_test(test_bound),
            cmocka_unit_test(test_file_text),  cmocka_unit_test(test_all_bytes),
            cmocka_unit_test(test_bad_lines),  cmocka_unit_test(test_missing_and_empty),
            cmocka_unit_test(test_concurrent),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
