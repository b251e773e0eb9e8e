/*
 * Client buffers kept for reuse (lb_conn.h, "lb_bufcache.c"). Every
 * connection that is not bound yet buffers its client's first bytes in a
 * heap buffer of CONN_BUF_RESERVE bytes, freed once the broker has ACKed
 * their replay: a few microseconds apart for thousands of connections in a
 * connect burst. Through malloc that is glibc's slow path each time (8 KiB
 * is past its per-thread cache: bins, consolidation with the neighbours,
 * the arena's top grown and trimmed again); a profile of the TLS connect
 * burst put a third of the worker's own time in _int_free and sysmalloc.
 * The worker keeps freed buffers instead, last in first out (the one just
 * freed is still in the cache when the next connection takes it), up to
 * BUF_CACHE_MAX.
 *
 * What a burst leaves in the cache goes back to malloc a second later: at
 * each trim (every BUF_CACHE_TRIM_NS) the buffers that stayed in the cache
 * through the whole period are surplus and are freed (at most
 * BUF_CACHE_FREE_MAX per round, so that a trim never holds the worker up
 * for long), whatever the traffic; `buffer_cached` counts the bytes kept.
 */
#include <stdlib.h>

#include "core/lb/lb_conn.h"

int buf_cache__init(struct buf_cache *bc)
{
        *bc = (struct buf_cache){0};
        bc->slot = calloc(BUF_CACHE_MAX, sizeof(*bc->slot));
        return bc->slot ? 0 : -1;
}

void buf_cache__fini(struct buf_cache *bc)
{
        if (!bc->slot)
                return;
        for (uint32_t i = 0; i < bc->n; i++)
                free(bc->slot[i]);
        free(bc->slot);
        *bc = (struct buf_cache){0};
}

static void count(struct lb_worker *lw, int64_t buffers)
{
        STAT_N(lw, buffer_cached, (uint64_t)(buffers * CONN_BUF_RESERVE));
}

void *conn__buf_new(struct lb_worker *lw)
{
        struct buf_cache *bc = &lw->bufs;

        if (!bc->n)
                return malloc(CONN_BUF_RESERVE);
        if (--bc->n < bc->low)
                bc->low = bc->n;
        count(lw, -1);
        return bc->slot[bc->n];
}

void conn__buf_free(struct lb_worker *lw, struct conn *c)
{
        struct buf_cache *bc = &lw->bufs;

        if (c->buf && c->buf_cap == CONN_BUF_RESERVE && bc->n < BUF_CACHE_MAX) {
                bc->slot[bc->n++] = c->buf;
                count(lw, 1);
        } else {
                free(c->buf);
        }
        c->buf = NULL;
        c->buf_cap = 0;
}

void lb__buf_trim(struct lb_worker *lw, uint64_t now_ns)
{
        struct buf_cache *bc = &lw->bufs;
        uint32_t k;

        if (!bc->surplus) {
                if (now_ns < bc->next_trim_ns)
                        return;
                /* the fewest the cache held over the period: never taken */
                bc->surplus = bc->low < bc->n ? bc->low : bc->n;
                bc->low = bc->n;
                bc->next_trim_ns = now_ns + BUF_CACHE_TRIM_NS;
        }
        /* at most BUF_CACHE_FREE_MAX a round; the rest in the next rounds */
        for (k = 0; k < BUF_CACHE_FREE_MAX && bc->surplus && bc->n; k++, bc->surplus--)
                free(bc->slot[--bc->n]);
        if (!bc->n)
                bc->surplus = 0;
        if (bc->n < bc->low)
                bc->low = bc->n;
        count(lw, -(int64_t)k);
}
