/*
 * Handing frames between workers: one single-producer single-consumer ring of
 * UMEM frame descriptors per ordered pair of workers. A frame that lands on a
 * worker that does not own its flow (the broker leg's port says who does) is
 * pushed onto the owner's ring from the receiving worker; the owner pops it
 * in its loop. All sockets share one UMEM, so the owner can transmit the frame
 * without a copy. No lock: each index has one writer; head and tail sit on
 * their own cache lines, and each side keeps a private copy of the other's
 * index so it reads the shared one only when the copy says the ring is full
 * (or empty).
 */
#ifndef MQTTLB_CORE_HANDOVER_H
#define MQTTLB_CORE_HANDOVER_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/tcp/packet.h"

/* A frame with its parsed headers, so that the owner does not parse again. */
struct handover_item {
        uint64_t addr;
        uint32_t len;
        uint16_t port; /* index of the port (interface) it arrived on */
        uint16_t pad;
        struct packet m;
};

struct handover_ring {
        alignas(64) _Atomic uint32_t head; /* producer writes */
        uint32_t tail_seen;                /* producer's copy of tail */
        alignas(64) _Atomic uint32_t tail; /* consumer writes */
        uint32_t head_seen;                /* consumer's copy of head */
        alignas(64) uint32_t mask;
        struct handover_item items[];
};

/* A ring of size entries (a power of two). Returns 0 or -errno. */
int handover_ring__new(struct handover_ring **out, uint32_t size);
void handover_ring__free(struct handover_ring *r);

/* Producer: pushes up to n items, returns how many fit. */
static inline uint32_t handover_ring__push(struct handover_ring *r, const struct handover_item *it,
                                           uint32_t n)
{
        uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint32_t room = r->mask + 1 - (head - r->tail_seen);

        if (room < n) {
                r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
                room = r->mask + 1 - (head - r->tail_seen);
                if (n > room)
                        n = room;
        }
        for (uint32_t i = 0; i < n; i++)
                r->items[(head + i) & r->mask] = it[i];
        atomic_store_explicit(&r->head, head + n, memory_order_release);
        return n;
}

/* Consumer: pops up to n items into out, returns how many. */
static inline uint32_t handover_ring__pop(struct handover_ring *r, struct handover_item *out,
                                          uint32_t n)
{
        uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint32_t avail = r->head_seen - tail;

        if (avail < n) {
                r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
                avail = r->head_seen - tail;
                if (n > avail)
                        n = avail;
        }
        for (uint32_t i = 0; i < n; i++)
                out[i] = r->items[(tail + i) & r->mask];
        atomic_store_explicit(&r->tail, tail + n, memory_order_release);
        return n;
}

/* Items in the ring; exact only when neither side is running. */
static inline uint32_t handover_ring__count(struct handover_ring *r)
{
        return atomic_load_explicit(&r->head, memory_order_acquire) -
               atomic_load_explicit(&r->tail, memory_order_acquire);
}

#endif
