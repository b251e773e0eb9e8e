/*
 * Maglev table population (NSDI 2016 §3.4, Pseudocode 1) with Katran-style
 * weights: a backend of weight w takes w turns per round.
 *
 * Owns the permutations and the table memory. Must not allocate in
 * maglev__populate (health checks call it) and must not depend on anything
 * but the backend names, weights and states: every instance with the same
 * configuration builds the same table (DESIGN.md "Scale-out").
 */
#include "core/route/maglev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/hash.h"

struct maglev_perm {
        uint32_t offset; /* permutation[0] */
        uint32_t skip;   /* in [1, M-1]; M prime, so the walk visits every slot */
        uint32_t cur;    /* next slot to try during a population */
        uint32_t weight;
        bool up;
};

static bool is_prime(uint32_t n)
{
        if (n < 2)
                return false;
        if (n % 2 == 0)
                return n == 2;
        for (uint32_t d = 3; (uint64_t)d * d <= n; d += 2)
                if (n % d == 0)
                        return false;
        return true;
}

int maglev__table_size(uint32_t n_backends, uint32_t requested)
{
        uint64_t want = requested ? requested : MAGLEV_DEFAULT_SIZE;

        if (n_backends > MAGLEV_MAX_BACKENDS)
                return -E2BIG;
        if (want < 100ULL * n_backends)
                want = 100ULL * n_backends;
        while (want <= MAGLEV_MAX_SIZE && !is_prime((uint32_t)want))
                want++;
        if (want > MAGLEV_MAX_SIZE)
                return -E2BIG;
        return (int)want;
}

/*
 * qsort has no context argument in C17: sort an array of (name, index) pairs
 * instead. Names compare as bytes, a shorter prefix first.
 */
struct name_idx {
        const char *name;
        uint16_t idx;
};

static int name_idx__cmp(const void *a, const void *b)
{
        const struct name_idx *x = a, *y = b;

        return strcmp(x->name, y->name);
}

int maglev__new(struct maglev **out, const struct maglev_backend *backends, uint32_t n,
                uint32_t size)
{
        struct name_idx *names = NULL;
        struct maglev *m;
        int err = -ENOMEM;

        if (n > MAGLEV_MAX_BACKENDS || size > MAGLEV_MAX_SIZE)
                return -E2BIG;
        if (!is_prime(size))
                return -EINVAL;
        for (uint32_t i = 0; i < n; i++)
                if (!backends[i].name || backends[i].weight > MAGLEV_MAX_WEIGHT)
                        return -EINVAL;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->size = size;
        m->n = n;
        m->table = malloc(sizeof(*m->table) * size);
        if (!m->table)
                goto err_free;
        m->scratch = malloc(sizeof(*m->scratch) * size);
        if (!m->scratch)
                goto err_free;
        /* n + 1: calloc(0) may return NULL */
        m->perm = calloc(n + 1, sizeof(*m->perm));
        if (!m->perm)
                goto err_free;
        m->order = calloc(n + 1, sizeof(*m->order));
        if (!m->order)
                goto err_free;
        names = calloc(n + 1, sizeof(*names));
        if (!names)
                goto err_free;

        for (uint32_t i = 0; i < n; i++) {
                const char *name = backends[i].name;
                size_t len = strlen(name);

                /* Pseudocode 1: offset = h1(name) mod M, skip = h2(name) mod (M-1) + 1.
                 * With M = 2 the skip is always 1, which still visits both slots. */
                m->perm[i].offset =
                    (uint32_t)(hash__bytes(name, len, HASH_SEED_MAGLEV_OFFSET) % size);
                m->perm[i].skip =
                    (uint32_t)(hash__bytes(name, len, HASH_SEED_MAGLEV_SKIP) % (size - 1) + 1);
                m->perm[i].weight = backends[i].weight;
                m->perm[i].up = backends[i].up;
                names[i].name = name;
                names[i].idx = (uint16_t)i;
        }

        /*
         * Population order decides which backend wins a slot both prefer, so
         * it must not follow the order brokers are listed in the config: two
         * instances whose configs list the same brokers differently would
         * otherwise send a client to different brokers. Sort by name.
         */
        qsort(names, n, sizeof(*names), name_idx__cmp);
        for (uint32_t i = 0; i < n; i++) {
                if (i && strcmp(names[i - 1].name, names[i].name) == 0) {
                        err = -EEXIST;
                        goto err_free;
                }
                m->order[i] = names[i].idx;
        }
        free(names);

        memset(m->table, 0xff, sizeof(*m->table) * size); /* MAGLEV_NONE */
        maglev__populate(m);
        *out = m;
        return 0;

err_free:
        free(names);
        maglev__free(m);
        return err;
}

void maglev__free(struct maglev *m)
{
        if (!m)
                return;
        free(m->order);
        free(m->perm);
        free(m->scratch);
        free(m->table);
        free(m);
}

int maglev__set_up(struct maglev *m, uint32_t idx, bool up)
{
        if (idx >= m->n)
                return -EINVAL;
        m->perm[idx].up = up;
        return 0;
}

int maglev__set_weight(struct maglev *m, uint32_t idx, uint32_t weight)
{
        if (idx >= m->n || weight > MAGLEV_MAX_WEIGHT)
                return -EINVAL;
        m->perm[idx].weight = weight;
        return 0;
}

int maglev__populate(struct maglev *m)
{
        uint16_t *next = m->scratch;
        uint32_t filled = 0, eligible = 0;
        const uint32_t size = m->size;

        memset(next, 0xff, sizeof(*next) * size);
        for (uint32_t i = 0; i < m->n; i++) {
                m->perm[i].cur = m->perm[i].offset;
                if (m->perm[i].up && m->perm[i].weight)
                        eligible++;
        }

        /*
         * Pseudocode 1: round after round, each backend in turn takes the
         * next slot of its permutation that is still free. Removing a backend
         * only frees its own slots and shifts a few others (§3.4: "minimal
         * disruption"), since every other backend walks the same permutation.
         */
        while (eligible && filled < size) {
                for (uint32_t k = 0; k < m->n && filled < size; k++) {
                        uint16_t i = m->order[k];
                        struct maglev_perm *p = &m->perm[i];

                        if (!p->up)
                                continue;
                        for (uint32_t w = 0; w < p->weight && filled < size; w++) {
                                uint32_t c = p->cur;

                                /* terminates: the walk is a full cycle and a
                                 * free slot exists while filled < size */
                                while (next[c] != MAGLEV_NONE) {
                                        c += p->skip;
                                        if (c >= size)
                                                c -= size;
                                }
                                next[c] = i;
                                filled++;
                                c += p->skip;
                                if (c >= size)
                                        c -= size;
                                p->cur = c;
                        }
                }
        }

        if (memcmp(next, m->table, sizeof(*next) * size) == 0)
                return 0;
        memcpy(m->table, next, sizeof(*next) * size);
        return 1;
}
