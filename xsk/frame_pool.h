/*
 * Frames of the UMEM: a shared pool behind a lock, and one cache per worker in
 * front of it (bpf-examples xsk_fwd.c). A worker allocates and frees from its
 * own cache without a lock; the cache swaps FRAME_BATCH frames at a time with
 * the pool when it runs dry or overflows, so the lock is taken once per batch.
 * Frames are UMEM offsets (addresses, in AF_XDP's sense).
 */
#ifndef MQTTLB_XSK_FRAME_POOL_H
#define MQTTLB_XSK_FRAME_POOL_H

#include <stdint.h>

#define FRAME_BATCH 64u
#define FRAME_CACHE (4 * FRAME_BATCH)

struct frame_pool;

struct frame_cache {
        struct frame_pool *pool;
        uint32_t n;
        uint64_t addrs[FRAME_CACHE];
};

/* A pool holding every frame of a UMEM of frames x frame_size. */
int frame_pool__new(struct frame_pool **out, uint32_t frames, uint32_t frame_size);
void frame_pool__free(struct frame_pool *p);
/* Frames in the pool itself (not in caches). */
uint32_t frame_pool__count(struct frame_pool *p);
uint32_t frame_pool__total(const struct frame_pool *p);

void frame_cache__init(struct frame_cache *c, struct frame_pool *p);
/* Gives every cached frame back to the pool. */
void frame_cache__drain(struct frame_cache *c);

uint32_t frame_cache__refill(struct frame_cache *c);
void frame_cache__spill(struct frame_cache *c);

/* Up to n frames into addrs; returns how many (fewer only when the pool is dry). */
static inline uint32_t frame_cache__alloc(struct frame_cache *c, uint64_t *addrs, uint32_t n)
{
        uint32_t got = 0;

        while (got < n) {
                if (!c->n && !frame_cache__refill(c))
                        break;
                uint32_t k = n - got < c->n ? n - got : c->n;

                c->n -= k;
                for (uint32_t i = 0; i < k; i++)
                        addrs[got + i] = c->addrs[c->n + i];
                got += k;
        }
        return got;
}

static inline void frame_cache__put(struct frame_cache *c, uint64_t addr)
{
        if (c->n == FRAME_CACHE)
                frame_cache__spill(c);
        c->addrs[c->n++] = addr;
}

#endif
