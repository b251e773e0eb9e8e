/*
 * A broker pool: its brokers, their state and counters, and the policy that
 * picks one of them for a new client connection (DESIGN.md "Routing").
 *
 * Owns the broker list and, for the hashing policies, a Maglev table.
 * Counters are plain fields the caller updates; nothing here locks (workers
 * read pools through RCU), allocates after pool__build, or prints.
 */
#ifndef MQTTLB_CORE_POOL_H
#define MQTTLB_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_NONE (-1) /* pool__select: no broker is up */

struct maglev;
struct pool;

enum pool_policy {
        POOL_POLICY_CLIENT_ID,  /* Maglev on the client id: sessions survive reconnects */
        POOL_POLICY_LEAST_CONN, /* min active / weight */
        POOL_POLICY_LEAST_RATE, /* min message rate / weight */
        POOL_POLICY_SOURCE_IP,  /* Maglev on the client's address bytes */
        POOL_POLICY__COUNT,
};

struct pool_broker {
        char *name;      /* "address:port", owned by the pool */
        uint32_t weight; /* 0 = drained: never selected; fixed once built */
        bool up;         /* health-check state; change it with pool__set_up */
        /* Counters the caller keeps: connections bound now, and an estimate
         * of PUBLISH messages per second (the balancer sees every one). */
        uint32_t active;
        double rate;
        /* When set, least-connections reads the count here instead of
         * `active` (a count kept outside the pool, e.g. shared by the
         * successive plans of a reload; atomic loads). */
        const uint32_t *active_ref;
};

/* What a selection may hash. Either part may be empty. */
struct pool_key {
        const uint8_t *client_id;
        size_t client_id_len;
        const uint8_t *addr; /* network byte order, 4 (IPv4) or 16 (IPv6) bytes */
        size_t addr_len;
};

/*
 * An empty pool. table_size is the requested Maglev size (0 = default); the
 * real size is fixed by pool__build (maglev__table_size). -EINVAL, -ENOMEM.
 */
int pool__new(struct pool **out, const char *name, enum pool_policy policy, uint32_t table_size);
void pool__free(struct pool *p);

/*
 * Appends a broker (up) and returns its index, stable for the pool's life.
 * -EEXIST for a name already in the pool, -E2BIG past MAGLEV_MAX_BACKENDS,
 * -EINVAL for a weight over MAGLEV_MAX_WEIGHT, -EBUSY after pool__build.
 */
int pool__add_broker(struct pool *p, const char *name, uint32_t weight);

/* Freezes the broker list and builds the Maglev table if the policy hashes. */
int pool__build(struct pool *p);

/*
 * Marks a broker up or down. For the hashing policies the table is rebuilt
 * (over the up brokers only) and the result is 1 when it changed; for the
 * others 1 when the state changed. 0 otherwise, -EINVAL for a bad index.
 */
int pool__set_up(struct pool *p, uint32_t idx, bool up);

/*
 * The broker index for a new connection, or POOL_NONE when no broker is up
 * (or the pool is not built). Does not allocate.
 */
int pool__select(const struct pool *p, const struct pool_key *key);

const char *pool__name(const struct pool *p);
enum pool_policy pool__policy(const struct pool *p);
uint32_t pool__n_brokers(const struct pool *p);
/* The broker at idx (NULL when out of range), to update its counters. */
struct pool_broker *pool__broker(struct pool *p, uint32_t idx);
/* The Maglev table, NULL for the policies that do not hash or before build. */
const struct maglev *pool__maglev(const struct pool *p);

/* Config names: "client-id", "least-connections", "least-rate", "source-ip". */
const char *pool_policy__str(enum pool_policy policy);
int pool_policy__parse(const char *s, enum pool_policy *out);

#endif
