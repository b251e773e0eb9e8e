/*
 * Hashes for consistent selection: thin wrappers over XXH3 (libxxhash).
 *
 * Owns the seeds. Every seed is a fixed constant: two mqttlb instances with
 * the same configuration must compute the same hashes (DESIGN.md "Scale-out":
 * no shared state, so selection by client id must be deterministic across
 * instances and restarts). Never seed from time, randomness or pointers.
 * Changing a seed moves every client to another broker on upgrade: treat the
 * values as part of the on-the-wire behaviour.
 * The rule covers the selection hashes only: a process-private index (the
 * per-worker flow table) is seeded randomly by its caller on purpose, so that
 * nobody can aim keys at one bucket.
 */
#ifndef MQTTLB_CORE_HASH_H
#define MQTTLB_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* inlined: the hashes here run per packet (flow lookup) and per PUBLISH on
 * short keys, where a call into the library costs more than the hash */
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

/* Maglev permutation of a backend name (NSDI 2016 §3.4: offset and skip
 * come from two different hash functions; two seeds of XXH3 serve). */
#define HASH_SEED_MAGLEV_OFFSET 0x6d61676c65762d6fULL /* "maglev-o" */
#define HASH_SEED_MAGLEV_SKIP   0x6d61676c65762d73ULL /* "maglev-s" */
/* Selection keys: kept apart from the name seeds so a key never correlates
 * with a backend's permutation. */
#define HASH_SEED_CLIENT_ID 0x636c69656e746964ULL /* "clientid" */
#define HASH_SEED_ADDR      0x7372632d61646472ULL /* "src-addr" */

static inline uint64_t hash__bytes(const void *p, size_t len, uint64_t seed)
{
        return XXH3_64bits_withSeed(p, len, seed);
}

/* An MQTT client identifier, as the bytes of the CONNECT payload. */
static inline uint64_t hash__client_id(const uint8_t *id, size_t len)
{
        return hash__bytes(id, len, HASH_SEED_CLIENT_ID);
}

/* A source address in network byte order: 4 bytes (IPv4) or 16 (IPv6).
 * XXH3 mixes the length in, so a v4 address and a v6 one that starts with
 * the same bytes hash apart. */
static inline uint64_t hash__addr(const uint8_t *addr, size_t len)
{
        return hash__bytes(addr, len, HASH_SEED_ADDR);
}

#endif
