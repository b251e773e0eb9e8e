/*
 * The shared frame pool: a stack of frame addresses behind a mutex, touched
 * only in batches by the per-worker caches (frame_pool.h). Never touched per
 * packet; the lock is not on the per-packet path.
 */
#include "xsk/frame_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct frame_pool {
        pthread_mutex_t lock;
        uint32_t n, total;
        uint64_t addrs[];
};

int frame_pool__new(struct frame_pool **out, uint32_t frames, uint32_t frame_size)
{
        struct frame_pool *p;

        if (!frames || !frame_size)
                return -EINVAL;
        p = malloc(sizeof(*p) + (size_t)frames * sizeof(p->addrs[0]));
        if (!p)
                return -ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        p->n = p->total = frames;
        /* highest address first out of the stack is irrelevant; lowest first
         * keeps offline runs easy to read */
        for (uint32_t i = 0; i < frames; i++)
                p->addrs[i] = (uint64_t)(frames - 1 - i) * frame_size;
        *out = p;
        return 0;
}

void frame_pool__free(struct frame_pool *p)
{
        if (!p)
                return;
        pthread_mutex_destroy(&p->lock);
        free(p);
}

uint32_t frame_pool__count(struct frame_pool *p)
{
        pthread_mutex_lock(&p->lock);
        uint32_t n = p->n;
        pthread_mutex_unlock(&p->lock);
        return n;
}

uint32_t frame_pool__total(const struct frame_pool *p)
{
        return p->total;
}

void frame_cache__init(struct frame_cache *c, struct frame_pool *p)
{
        c->pool = p;
        c->n = 0;
}

uint32_t frame_cache__refill(struct frame_cache *c)
{
        struct frame_pool *p = c->pool;
        uint32_t room = FRAME_CACHE - c->n, k;

        pthread_mutex_lock(&p->lock);
        k = p->n < FRAME_BATCH ? p->n : FRAME_BATCH;
        if (k > room)
                k = room;
        p->n -= k;
        memcpy(c->addrs + c->n, p->addrs + p->n, k * sizeof(c->addrs[0]));
        pthread_mutex_unlock(&p->lock);
        c->n += k;
        return k;
}

void frame_cache__spill(struct frame_cache *c)
{
        struct frame_pool *p = c->pool;
        uint32_t k = c->n < FRAME_BATCH ? c->n : FRAME_BATCH;

        c->n -= k;
        pthread_mutex_lock(&p->lock);
        memcpy(p->addrs + p->n, c->addrs + c->n, k * sizeof(c->addrs[0]));
        p->n += k;
        pthread_mutex_unlock(&p->lock);
}

void frame_cache__drain(struct frame_cache *c)
{
        while (c->n)
                frame_cache__spill(c);
}
