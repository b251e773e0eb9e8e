/*
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
 * Software Network Load Balancer", NSDI 2016, §3.4), with weights.
 *
 * Owns one lookup table of M entries (M prime) and the per-backend
 * permutations. Entries are indices into the caller's backend list, stable
 * across rebuilds. Knows nothing of brokers, pools or health checks; takes
 * no locks (the caller publishes a table to workers); never prints.
 */
#ifndef MQTTLB_CORE_MAGLEV_H
#define MQTTLB_CORE_MAGLEV_H

#include <stdbool.h>
#include <stdint.h>

#define MAGLEV_NONE         0xFFFFu /* lookup result when no backend is up */
#define MAGLEV_DEFAULT_SIZE 65537u  /* the paper's default table size */
#define MAGLEV_MAX_BACKENDS 1000u
#define MAGLEV_MAX_WEIGHT   256u
#define MAGLEV_MAX_SIZE     (1u << 24) /* 32 MiB of uint16_t at most */

struct maglev_perm;

struct maglev_backend {
        const char *name; /* "address:port": the permutation is derived from it */
        uint32_t weight;  /* turns per round; 0 = never selected */
        bool up;
};

/*
 * The table. Only size and table are read outside maglev.c (by the inline
 * lookup); the rest is private.
 */
struct maglev {
        uint16_t *table; /* size entries */
        uint32_t size;   /* M, prime */
        uint32_t n;      /* backends */
        struct maglev_perm *perm;
        uint16_t *order;   /* backend indices sorted by name */
        uint16_t *scratch; /* the next table, compared with table on rebuild */
};

/*
 * The smallest prime >= max(requested, 100 * n_backends); requested 0 means
 * MAGLEV_DEFAULT_SIZE. The factor 100 keeps each backend's share within
 * 1% of the others (NSDI 2016 §3.4: "M larger than 100 x N"). -E2BIG when
 * n_backends > MAGLEV_MAX_BACKENDS or the result would exceed MAGLEV_MAX_SIZE.
 */
int maglev__table_size(uint32_t n_backends, uint32_t requested);

/*
 * Builds a table of size (a prime from maglev__table_size) over n backends
 * and populates it. Backend names must be distinct (-EEXIST otherwise: equal
 * names give equal permutations). -EINVAL for a size that is not a prime or
 * a weight over MAGLEV_MAX_WEIGHT, -E2BIG past the limits, -ENOMEM.
 */
int maglev__new(struct maglev **out, const struct maglev_backend *backends, uint32_t n,
                uint32_t size);
void maglev__free(struct maglev *m);

/* Change one backend's state; takes effect at the next maglev__populate. */
int maglev__set_up(struct maglev *m, uint32_t idx, bool up);
int maglev__set_weight(struct maglev *m, uint32_t idx, uint32_t weight);

/*
 * Refills the table over the backends that are up with a non-zero weight.
 * Does not allocate. Returns 1 when the table changed, 0 when not.
 */
int maglev__populate(struct maglev *m);

/* The backend index for a key hash, or MAGLEV_NONE when none is up. O(1). */
static inline uint16_t maglev__lookup(const struct maglev *m, uint64_t hash)
{
        return m->table[hash % m->size];
}

static inline uint32_t maglev__size(const struct maglev *m)
{
        return m->size;
}

/* The raw table (size entries), for statistics and tests. */
static inline const uint16_t *maglev__table(const struct maglev *m)
{
        return m->table;
}

#endif
