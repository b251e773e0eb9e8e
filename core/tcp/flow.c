/*
 * The flow table (see flow.h): connection entries in one array, an index of
 * keys in another.
 *
 * Owns both arrays and the free list. Must not allocate or take a lock after
 * flow_table__new, and must not look inside an entry past struct flow.
 *
 * The index is open addressing with linear probing kept in Robin Hood order
 * (Celis, "Robin Hood Hashing", 1986): along a run of occupied slots, keys
 * are sorted by home slot, so
 *   - a lookup stops at the first slot whose key is nearer its home than the
 *     probe is to ours: a miss (every SYN, every stray segment) costs about
 *     as little as a hit;
 *   - a slot is 8 bytes (entry reference, 24 hash bits and the distance from
 *     home), eight to a cache line: the probe of a hit at this load is
 *     nearly always one line of the index, then one line of the entry, where
 *     the key is compared only when hash bits and distance both match;
 *   - deletion shifts the following keys of the run back by one (no
 *     tombstones), so the table after a million connections came and went
 *     probes as it did on the first day.
 * Chaining would cost a pointer chase per collision; bucketized cuckoo
 * hashing bounds lookups at two buckets but needs two hashes, more probing
 * per miss, and a kick-out loop on insert that can fail at loads this table
 * never reaches. With at least 2 slots per key a Robin Hood run is short
 * (mean distance from home 0.3 to 0.5, largest about 10 with 2M keys), and
 * FLOW_PROBE_MAX caps the worst case.
 *
 * Hash: the key's five 64-bit words, each xored with a secret word drawn from
 * the per-table seed, multiplied in pairs to 128 bits and folded (high half
 * xor low half, the mixing step of wyhash and of XXH3's mid-size inputs),
 * then folded once more by a multiply so every key bit reaches both ends of
 * the result: about 25 instructions where XXH3 of 40 bytes takes about 50.
 * Its low bits pick the home slot, its top 24 are the tag kept in the slot.
 * Unlike the fixed seeds of hash.h (selection must agree across instances),
 * this one must not be predictable: the index is private to one process, and
 * a client that knew the seed could choose source ports that all land on one
 * run.
 *
 * Port hint: a broker leg's key ends in the local port the balancer chose for
 * it, so a direct-mapped array by that port (the key inserted last with it)
 * answers most lookups of the broker's segments with one compare and no hash.
 * A port is shared only by legs to different brokers or from different
 * source addresses; a miss, or a hint for another key, costs one compare
 * before the index is searched as usual.
 */
#include "core/tcp/flow.h"
#include "core/util/rand.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#define FLOW_NONE      UINT32_MAX
#define ENTRY_SIZE_MAX (64u << 10)
#define DIST_MASK      0xffu
#define TAG_SHIFT      40 /* hash bits 40..63: independent of the home slot */
#define SLOTS_MIN      64u

/* ref: 0 empty, else (entry index << 1 | leg) + 1. meta: tag << 8 | distance. */
struct flow_slot {
        uint32_t ref;
        uint32_t meta;
};

struct flow_table {
        struct flow_slot *slots;
        uint64_t mask;      /* slots - 1 */
        uint64_t secret[6]; /* drawn from the seed: the key hash's */
        uint8_t *entries;
        size_t stride;
        uint32_t capacity;
        uint32_t count;     /* allocated */
        uint32_t keys;      /* in the index */
        uint32_t fresh;     /* entries below this have been handed out at least once */
        uint32_t free_head; /* most recently freed, FLOW_NONE if none */
        uint64_t probe_fail;
        size_t slots_bytes, entries_bytes;
        uint32_t *by_port; /* broker legs: ref of the last key with this dport, 0 none */
};

/* Anonymous memory, huge pages where the kernel gives them, faulted in now so
 * that the first connection on a page does not take the fault in the loop. */
static void *region__map(size_t bytes)
{
        uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return NULL;
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* best effort */
        for (size_t off = 0; off < bytes; off += 4096)
                p[off] = 0;
        return p;
}

static inline struct flow *entry(const struct flow_table *t, uint32_t idx)
{
        return (struct flow *)(t->entries + (size_t)idx * t->stride);
}

static inline const struct flow_key *ref_key(const struct flow_table *t, uint32_t ref)
{
        return flow__key(entry(t, (ref - 1) >> 1), (enum flow_leg)((ref - 1) & 1));
}

static inline uint64_t load64(const uint8_t *p)
{
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

/* Five word compares folded into one branch (memcmp is a call). */
static inline bool key_equal(const struct flow_key *a, const struct flow_key *b)
{
        const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;

        return ((load64(x) ^ load64(y)) | (load64(x + 8) ^ load64(y + 8)) |
                (load64(x + 16) ^ load64(y + 16)) | (load64(x + 24) ^ load64(y + 24)) |
                (load64(x + 32) ^ load64(y + 32))) == 0;
}

/* The 128-bit product folded to 64 bits. */
static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
        __uint128_t r = (__uint128_t)a * b;

        return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* The seed's next 64 bits (splitmix64: every seed gives distinct words). */
static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static inline uint32_t want_meta(uint64_t h)
{
        return (uint32_t)(h >> TAG_SHIFT) << 8;
}

int flow_table__random_seed(uint64_t *seed)
{
        return rand__seed(seed);
}

int flow_table__new(struct flow_table **out, uint32_t capacity, size_t entry_size, uint64_t seed)
{
        struct flow_table *t;
        uint64_t nslots = SLOTS_MIN;

        if (!capacity || entry_size < sizeof(struct flow) || entry_size > ENTRY_SIZE_MAX)
                return -EINVAL;
        if (capacity > FLOW_CAPACITY_MAX)
                return -E2BIG;
        /* 2 keys per connection, at least 2 slots per key */
        while (nslots < 4ull * capacity)
                nslots <<= 1;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->capacity = capacity;
        for (int i = 0; i < 6; i++)
                t->secret[i] = splitmix64(&seed);
        t->mask = nslots - 1;
        t->stride = (entry_size + 63) & ~(size_t)63;
        t->free_head = FLOW_NONE;
        t->slots_bytes = nslots * sizeof(struct flow_slot);
        t->entries_bytes = (size_t)capacity * t->stride;
        t->slots = region__map(t->slots_bytes);
        if (!t->slots)
                goto err_free;
        t->entries = region__map(t->entries_bytes);
        if (!t->entries)
                goto err_unmap;
        t->by_port = calloc(65536, sizeof(*t->by_port));
        if (!t->by_port) {
                munmap(t->entries, t->entries_bytes);
                goto err_unmap;
        }
        *out = t;
        return 0;

err_unmap:
        munmap(t->slots, t->slots_bytes);
err_free:
        free(t);
        return -ENOMEM;
}

void flow_table__free(struct flow_table *t)
{
        if (!t)
                return;
        free(t->by_port);
        munmap(t->entries, t->entries_bytes);
        munmap(t->slots, t->slots_bytes);
        free(t);
}

uint64_t flow_table__hash(const struct flow_table *t, const struct flow_key *key)
{
        const uint8_t *k = (const uint8_t *)key;
        const uint64_t *s = t->secret;
        uint64_t h = fold_mul(load64(k) ^ s[0], load64(k + 8) ^ s[1]) ^
                     fold_mul(load64(k + 16) ^ s[2], load64(k + 24) ^ s[3]) ^
                     fold_mul(load64(k + 32) ^ s[4], s[5]);

        return fold_mul(h ^ s[0], s[5] ^ 0x9e3779b97f4a7c15ull);
}

void flow_table__prefetch(const struct flow_table *t, uint64_t hash)
{
        __builtin_prefetch(&t->slots[hash & t->mask]);
}

void flow_table__prefetch_entry(const struct flow_table *t, uint64_t hash)
{
        uint64_t pos = hash & t->mask;
        uint32_t want = want_meta(hash);

        /* The candidate a lookup would compare first (the index line is
         * expected in cache by now, from flow_table__prefetch). */
        for (uint32_t d = 0;; d++, pos = (pos + 1) & t->mask) {
                struct flow_slot s = t->slots[pos];

                if (!s.ref || (s.meta & DIST_MASK) < d)
                        return;
                if (s.meta == (want | d)) {
                        __builtin_prefetch(ref_key(t, s.ref));
                        return;
                }
        }
}

/* The slot holding key, or -1. Every key sits at most FLOW_PROBE_MAX from
 * home, so the loop ends by then on the distance test. */
__attribute__((always_inline)) static inline int64_t find(const struct flow_table *t,
                                                          const struct flow_key *key, uint64_t h)
{
        uint64_t pos = h & t->mask;
        uint32_t want = want_meta(h);

        for (uint32_t d = 0;; d++, pos = (pos + 1) & t->mask) {
                struct flow_slot s = t->slots[pos];

                if (!s.ref || (s.meta & DIST_MASK) < d)
                        return -1;
                if (s.meta == (want | d) && key_equal(ref_key(t, s.ref), key))
                        return (int64_t)pos;
        }
}

static inline struct flow *lookup_hashed(const struct flow_table *t, const struct flow_key *key,
                                         uint64_t hash, enum flow_leg *leg)
{
        int64_t pos = find(t, key, hash);
        uint32_t ref;

        if (pos < 0)
                return NULL;
        ref = t->slots[pos].ref - 1;
        if (leg)
                *leg = (enum flow_leg)(ref & 1);
        return entry(t, ref >> 1);
}

struct flow *flow_table__lookup_hashed(const struct flow_table *t, const struct flow_key *key,
                                       uint64_t hash, enum flow_leg *leg)
{
        return lookup_hashed(t, key, hash, leg);
}

/* Inlined into the caller under link-time optimisation: the per-packet path. */
__attribute__((always_inline)) inline struct flow *
flow_table__lookup(const struct flow_table *t, const struct flow_key *key, enum flow_leg *leg)
{
        uint32_t ref = t->by_port[key->dport];

        if (ref && key_equal(ref_key(t, ref), key)) {
                if (leg)
                        *leg = FLOW_LEG_BROKER;
                return entry(t, (ref - 1) >> 1);
        }
        return lookup_hashed(t, key, flow_table__hash(t, key), leg);
}

uint32_t flow_table__lookup_burst(const struct flow_table *t, const struct flow_key *keys,
                                  uint32_t n, struct flow **out, uint8_t *legs)
{
        uint64_t h[FLOW_BURST_MAX];
        uint32_t found = 0;

        if (n > FLOW_BURST_MAX) {
                uint32_t head = flow_table__lookup_burst(t, keys, FLOW_BURST_MAX, out, legs);

                return head + flow_table__lookup_burst(t, keys + FLOW_BURST_MAX, n - FLOW_BURST_MAX,
                                                       out + FLOW_BURST_MAX,
                                                       legs ? legs + FLOW_BURST_MAX : NULL);
        }
        for (uint32_t i = 0; i < n; i++) {
                h[i] = flow_table__hash(t, &keys[i]);
                flow_table__prefetch(t, h[i]);
        }
        for (uint32_t i = 0; i < n; i++)
                flow_table__prefetch_entry(t, h[i]);
        for (uint32_t i = 0; i < n; i++) {
                enum flow_leg leg = FLOW_LEG_CLIENT;

                out[i] = flow_table__lookup_hashed(t, &keys[i], h[i], &leg);
                if (legs)
                        legs[i] = (uint8_t)leg;
                found += out[i] != NULL;
        }
        return found;
}

/* Backward-shift deletion: the rest of the run moves one slot nearer home. */
static void slot__delete(struct flow_table *t, uint64_t pos)
{
        uint32_t ref = t->slots[pos].ref;

        if (((ref - 1) & 1) == FLOW_LEG_BROKER) {
                uint16_t port = ref_key(t, ref)->dport;

                if (t->by_port[port] == ref)
                        t->by_port[port] = 0;
        }
        for (;;) {
                uint64_t nxt = (pos + 1) & t->mask;
                struct flow_slot s = t->slots[nxt];

                if (!s.ref || !(s.meta & DIST_MASK)) {
                        t->slots[pos] = (struct flow_slot){0, 0};
                        break;
                }
                s.meta--;
                t->slots[pos] = s;
                pos = nxt;
        }
        t->keys--;
}

static bool key__valid(const struct flow_key *k)
{
        static const uint8_t zero[12];

        if (k->pad[0] | k->pad[1] || (k->proto && k->proto != FLOW_UDP))
                return false;
        if (k->family == 4)
                return !memcmp(k->saddr + 4, zero, 12) && !memcmp(k->daddr + 4, zero, 12);
        return k->family == 6;
}

static bool flow__mine(const struct flow_table *t, const struct flow *f)
{
        const uint8_t *p = (const uint8_t *)f;

        if (p < t->entries || p >= t->entries + (size_t)t->fresh * t->stride)
                return false;
        return (size_t)(p - t->entries) % t->stride == 0 && f->live;
}

int flow_table__insert(struct flow_table *t, const struct flow_key *key, struct flow *f,
                       enum flow_leg leg)
{
        uint64_t h, pos, end;
        uint32_t want, d = 0, ref;

        if ((unsigned)leg >= FLOW_LEGS || !flow__mine(t, f) || !key__valid(key))
                return -EINVAL;
        if (f->legs & (1u << leg))
                return -EBUSY;
        h = flow_table__hash(t, key);
        pos = h & t->mask;
        want = want_meta(h);
        /* Walk as a lookup does; where it would stop is where key goes. */
        for (;; d++, pos = (pos + 1) & t->mask) {
                struct flow_slot s = t->slots[pos];

                if (!s.ref || (s.meta & DIST_MASK) < d)
                        break;
                if (s.meta == (want | d) && key_equal(ref_key(t, s.ref), key))
                        return -EEXIST;
        }
        if (d > FLOW_PROBE_MAX)
                goto too_far;
        /* Every key from pos to the end of the run moves one slot on: check
         * none goes too far before moving any. The index is at most half
         * full, so the run ends. */
        for (end = pos; t->slots[end].ref; end = (end + 1) & t->mask)
                if ((t->slots[end].meta & DIST_MASK) + 1 > FLOW_PROBE_MAX)
                        goto too_far;
        for (; end != pos; end = (end - 1) & t->mask) {
                struct flow_slot s = t->slots[(end - 1) & t->mask];

                s.meta++;
                t->slots[end] = s;
        }
        ref = ((f->idx << 1) | (uint32_t)leg) + 1;
        t->slots[pos] = (struct flow_slot){ref, want | d};
        t->keys++;
        if (leg == FLOW_LEG_BROKER) {
                f->broker = *key;
                t->by_port[key->dport] = ref;
        } else {
                f->client = *key;
        }
        f->legs |= (uint8_t)(1u << leg);
        return 0;

too_far:
        t->probe_fail++;
        return -ENOSPC;
}

int flow_table__remove(struct flow_table *t, const struct flow_key *key)
{
        int64_t pos = find(t, key, flow_table__hash(t, key));
        uint32_t ref;

        if (pos < 0)
                return -ENOENT;
        ref = t->slots[pos].ref - 1;
        entry(t, ref >> 1)->legs &= (uint8_t) ~(1u << (ref & 1));
        slot__delete(t, (uint64_t)pos);
        return 0;
}

int flow__remove_leg(struct flow_table *t, struct flow *f, enum flow_leg leg)
{
        const struct flow_key *key;
        uint32_t ref;
        uint64_t h, pos;

        if ((unsigned)leg >= FLOW_LEGS || !(f->legs & (1u << leg)))
                return -ENOENT;
        key = flow__key(f, leg);
        ref = ((f->idx << 1) | (uint32_t)leg) + 1;
        h = flow_table__hash(t, key);
        pos = h & t->mask;
        /* The key is in the index: find its slot by reference, no compare. */
        for (uint32_t d = 0; d <= FLOW_PROBE_MAX; d++, pos = (pos + 1) & t->mask) {
                if (t->slots[pos].ref == ref) {
                        f->legs &= (uint8_t) ~(1u << leg);
                        slot__delete(t, pos);
                        return 0;
                }
        }
        return -ENOENT; /* not reached unless f was corrupted */
}

struct flow *flow__alloc(struct flow_table *t)
{
        struct flow *f;
        uint32_t idx;

        if (t->free_head != FLOW_NONE) {
                idx = t->free_head;
                t->free_head = entry(t, idx)->next_free;
        } else if (t->fresh < t->capacity) {
                idx = t->fresh++;
        } else {
                return NULL;
        }
        f = entry(t, idx);
        memset(f, 0, t->stride);
        f->idx = idx;
        f->live = 1;
        t->count++;
        return f;
}

int flow__free(struct flow_table *t, struct flow *f)
{
        if (!flow__mine(t, f))
                return -EINVAL;
        for (int i = 0; i < FLOW_TIMERS; i++)
                if (timer__armed(&f->timer[i]))
                        return -EBUSY;
        for (int leg = 0; leg < FLOW_LEGS; leg++)
                flow__remove_leg(t, f, (enum flow_leg)leg);
        f->live = 0;
        f->next_free = t->free_head;
        t->free_head = f->idx;
        t->count--;
        return 0;
}

uint32_t flow_table__count(const struct flow_table *t)
{
        return t->count;
}

struct flow *flow_table__at(const struct flow_table *t, uint32_t idx)
{
        struct flow *f;

        if (idx >= t->fresh)
                return NULL;
        f = entry(t, idx);
        return f->live ? f : NULL;
}

int flow_table__for_each(struct flow_table *t, int (*fn)(void *ctx, struct flow *f), void *ctx)
{
        for (uint32_t i = 0; i < t->fresh; i++) {
                struct flow *f = entry(t, i);
                int r;

                if (!f->live)
                        continue;
                r = fn(ctx, f);
                if (r)
                        return r;
        }
        return 0;
}

void flow_table__stats(const struct flow_table *t, struct flow_table_stats *st)
{
        uint64_t sum = 0;

        memset(st, 0, sizeof(*st));
        st->capacity = t->capacity;
        st->flows = t->count;
        st->keys = t->keys;
        st->slots = (uint32_t)(t->mask + 1);
        st->probe_fail = t->probe_fail;
        st->entry_stride = t->stride;
        st->bytes = t->slots_bytes + t->entries_bytes + 65536 * sizeof(*t->by_port);
        for (uint64_t i = 0; i <= t->mask; i++) {
                uint32_t d = t->slots[i].meta & DIST_MASK;

                if (!t->slots[i].ref)
                        continue;
                sum += d;
                if (d > st->max_probe)
                        st->max_probe = d;
        }
        st->mean_probe = t->keys ? (double)sum / t->keys : 0;
}
