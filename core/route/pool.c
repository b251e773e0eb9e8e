/*
 * Broker pools and selection policies (DESIGN.md "Routing").
 *
 * Owns the broker names and the Maglev table of a pool. Must not allocate in
 * pool__select or pool__set_up (per connection and per health-check
 * transition), lock, or print.
 */
#include "core/route/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/hash.h"
#include "core/route/maglev.h"

struct pool {
        char *name;
        enum pool_policy policy;
        uint32_t table_size; /* requested; 0 = default */
        bool built;
        uint32_t n, cap;
        struct pool_broker *brokers;
        struct maglev *maglev; /* hashing policies only, after build */
};

static const char *const policy_names[POOL_POLICY__COUNT] = {
    [POOL_POLICY_CLIENT_ID] = "client-id",
    [POOL_POLICY_LEAST_CONN] = "least-connections",
    [POOL_POLICY_LEAST_RATE] = "least-rate",
    [POOL_POLICY_SOURCE_IP] = "source-ip",
};

static bool policy_hashes(enum pool_policy policy)
{
        return policy == POOL_POLICY_CLIENT_ID || policy == POOL_POLICY_SOURCE_IP;
}

const char *pool_policy__str(enum pool_policy policy)
{
        if ((unsigned)policy >= POOL_POLICY__COUNT)
                return "unknown";
        return policy_names[policy];
}

int pool_policy__parse(const char *s, enum pool_policy *out)
{
        for (unsigned i = 0; i < POOL_POLICY__COUNT; i++) {
                if (strcmp(s, policy_names[i]) == 0) {
                        *out = (enum pool_policy)i;
                        return 0;
                }
        }
        return -EINVAL;
}

int pool__new(struct pool **out, const char *name, enum pool_policy policy, uint32_t table_size)
{
        struct pool *p;

        if (!name || (unsigned)policy >= POOL_POLICY__COUNT || table_size > MAGLEV_MAX_SIZE)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->name = strdup(name);
        if (!p->name) {
                free(p);
                return -ENOMEM;
        }
        p->policy = policy;
        p->table_size = table_size;
        *out = p;
        return 0;
}

void pool__free(struct pool *p)
{
        if (!p)
                return;
        maglev__free(p->maglev);
        for (uint32_t i = 0; i < p->n; i++)
                free(p->brokers[i].name);
        free(p->brokers);
        free(p->name);
        free(p);
}

int pool__add_broker(struct pool *p, const char *name, uint32_t weight)
{
        struct pool_broker *b;

        if (p->built)
                return -EBUSY;
        if (!name || weight > MAGLEV_MAX_WEIGHT)
                return -EINVAL;
        if (p->n >= MAGLEV_MAX_BACKENDS)
                return -E2BIG;
        for (uint32_t i = 0; i < p->n; i++)
                if (strcmp(p->brokers[i].name, name) == 0)
                        return -EEXIST;
        if (p->n == p->cap) {
                uint32_t cap = p->cap ? p->cap * 2 : 4;
                struct pool_broker *nb = realloc(p->brokers, sizeof(*nb) * cap);

                if (!nb)
                        return -ENOMEM;
                p->brokers = nb;
                p->cap = cap;
        }
        b = &p->brokers[p->n];
        memset(b, 0, sizeof(*b));
        b->name = strdup(name);
        if (!b->name)
                return -ENOMEM;
        b->weight = weight;
        b->up = true;
        return (int)p->n++;
}

int pool__build(struct pool *p)
{
        struct maglev_backend *mb;
        int size, err;

        if (p->built)
                return -EBUSY;
        if (!policy_hashes(p->policy)) {
                p->built = true;
                return 0;
        }
        size = maglev__table_size(p->n, p->table_size);
        if (size < 0)
                return size;
        mb = calloc(p->n + 1, sizeof(*mb));
        if (!mb)
                return -ENOMEM;
        for (uint32_t i = 0; i < p->n; i++) {
                mb[i].name = p->brokers[i].name;
                mb[i].weight = p->brokers[i].weight;
                mb[i].up = p->brokers[i].up;
        }
        err = maglev__new(&p->maglev, mb, p->n, (uint32_t)size);
        free(mb);
        if (err)
                return err;
        p->built = true;
        return 0;
}

int pool__set_up(struct pool *p, uint32_t idx, bool up)
{
        bool was;

        if (idx >= p->n)
                return -EINVAL;
        was = p->brokers[idx].up;
        p->brokers[idx].up = up;
        if (!p->maglev)
                return was != up;
        maglev__set_up(p->maglev, idx, up);
        return maglev__populate(p->maglev);
}

/* A broker's load for the least-* policies. Connection counts (uint32)
 * and weights (<= 256) multiply exactly in a double (< 2^53). */
static double load(const struct pool_broker *b, enum pool_policy policy)
{
        if (policy != POOL_POLICY_LEAST_CONN)
                return b->rate;
        return b->active_ref ? (double)__atomic_load_n(b->active_ref, __ATOMIC_RELAXED)
                             : (double)b->active;
}

/*
 * The up broker with the least load / weight, ties to the lowest index.
 * Compares a_load * b_weight < b_load * a_weight: no division.
 */
static int select_least(const struct pool *p)
{
        int best = POOL_NONE;

        for (uint32_t i = 0; i < p->n; i++) {
                const struct pool_broker *b = &p->brokers[i], *o;

                if (!b->up || !b->weight)
                        continue;
                o = best == POOL_NONE ? NULL : &p->brokers[best];
                if (!o || load(b, p->policy) * o->weight < load(o, p->policy) * b->weight)
                        best = (int)i;
        }
        return best;
}

static int select_hash(const struct pool *p, uint64_t hash)
{
        uint16_t i = maglev__lookup(p->maglev, hash);

        return i == MAGLEV_NONE ? POOL_NONE : (int)i;
}

int pool__select(const struct pool *p, const struct pool_key *key)
{
        if (!p->built)
                return POOL_NONE;
        switch (p->policy) {
        case POOL_POLICY_CLIENT_ID:
                /*
                 * An empty client id is legal (3.1.1 §3.1.3.1, 5.0 §3.1.3.1):
                 * the server assigns one, so the client will not present the
                 * same id next time and there is no session to find again.
                 * Hashing "" would send every such client to one broker;
                 * the source address spreads them and still keeps one client
                 * on one broker while its address holds.
                 */
                if (key->client_id_len)
                        return select_hash(p, hash__client_id(key->client_id, key->client_id_len));
                return select_hash(p, hash__addr(key->addr, key->addr_len));
        case POOL_POLICY_SOURCE_IP: return select_hash(p, hash__addr(key->addr, key->addr_len));
        case POOL_POLICY_LEAST_CONN:
        case POOL_POLICY_LEAST_RATE: return select_least(p);
        default: return POOL_NONE;
        }
}

const char *pool__name(const struct pool *p)
{
        return p->name;
}

enum pool_policy pool__policy(const struct pool *p)
{
        return p->policy;
}

uint32_t pool__n_brokers(const struct pool *p)
{
        return p->n;
}

struct pool_broker *pool__broker(struct pool *p, uint32_t idx)
{
        return idx < p->n ? &p->brokers[idx] : NULL;
}

const struct maglev *pool__maglev(const struct pool *p)
{
        return p->maglev;
}
