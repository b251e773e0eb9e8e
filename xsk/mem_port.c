/*
 * The memory port (see mem_port.h). Both queues are growable FIFOs of frame
 * descriptors: the harness decides how much it injects per round, and the
 * worker's TX never finds the queue full (the harness drains it after every
 * round), so no frame is dropped for lack of ring room here.
 */
#include "xsk/mem_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mem_fifo {
        struct frame_desc *d;
        uint32_t head, n, cap; /* ring: d[(head + i) % cap] for i < n */
};

struct mem_port {
        struct port port;
        struct mem_fifo rx, tx;
};

static int fifo_push(struct mem_fifo *f, const struct frame_desc *d)
{
        if (f->n == f->cap) {
                uint32_t cap = f->cap ? 2 * f->cap : 256;
                struct frame_desc *nd = malloc(sizeof(*nd) * cap);

                if (!nd)
                        return -ENOMEM;
                for (uint32_t i = 0; i < f->n; i++)
                        nd[i] = f->d[(f->head + i) % f->cap];
                free(f->d);
                f->d = nd;
                f->head = 0;
                f->cap = cap;
        }
        f->d[(f->head + f->n) % f->cap] = *d;
        f->n++;
        return 0;
}

static uint32_t fifo_pop(struct mem_fifo *f, struct frame_desc *d, uint32_t n)
{
        uint32_t k = n < f->n ? n : f->n;

        for (uint32_t i = 0; i < k; i++)
                d[i] = f->d[(f->head + i) % f->cap];
        if (k) {
                f->head = (f->head + k) % f->cap;
                f->n -= k;
        }
        return k;
}

static void fifo_release(struct mem_fifo *f, struct frame_cache *c)
{
        struct frame_desc d;

        while (fifo_pop(f, &d, 1))
                frame_cache__put(c, d.addr);
        free(f->d);
        f->d = NULL;
        f->cap = 0;
}

static uint32_t mem_rx(struct port *port, struct frame_desc *d, uint32_t n)
{
        struct mem_port *mp = (struct mem_port *)port;
        uint32_t got = fifo_pop(&mp->rx, d, n);

        port->rx_frames += got;
        return got;
}

static uint32_t mem_tx(struct port *port, const struct frame_desc *d, uint32_t n)
{
        struct mem_port *mp = (struct mem_port *)port;
        uint32_t i;

        for (i = 0; i < n; i++)
                if (fifo_push(&mp->tx, &d[i]))
                        break; /* out of memory: the rest stay the caller's (dropped) */
        port->tx_frames += i;
        return i;
}

static void mem_flush(struct port *port)
{
        (void)port;
}

static void mem_close(struct port *port)
{
        struct mem_port *mp = (struct mem_port *)port;

        fifo_release(&mp->rx, port->cache);
        fifo_release(&mp->tx, port->cache);
        free(mp);
}

static const struct port_ops MEM_OPS = {
    .rx = mem_rx,
    .tx = mem_tx,
    .flush = mem_flush,
    .close = mem_close,
};

int mem_port__open(struct port **out, const char *name, struct umem_area *umem,
                   struct frame_cache *cache)
{
        struct mem_port *mp = calloc(1, sizeof(*mp));

        if (!mp)
                return -ENOMEM;
        mp->port.ops = &MEM_OPS;
        mp->port.name = name ? name : "mem";
        mp->port.umem = umem;
        mp->port.cache = cache;
        mp->port.virtual_clock = true; /* clock_ns is the harness's */
        *out = &mp->port;
        return 0;
}

int mem_port__inject(struct port *p, const void *frame, uint32_t len)
{
        struct mem_port *mp = (struct mem_port *)p;
        struct frame_desc d = {.len = len};

        if (len > p->umem->frame_size)
                return -EMSGSIZE;
        if (!frame_cache__alloc(p->cache, &d.addr, 1)) {
                p->rx_dropped++;
                return -ENOBUFS;
        }
        memcpy(umem_area__data(p->umem, d.addr), frame, len);
        if (fifo_push(&mp->rx, &d)) {
                frame_cache__put(p->cache, d.addr);
                return -ENOMEM;
        }
        return 0;
}

uint32_t mem_port__drain(struct port *p, struct frame_desc *d, uint32_t n)
{
        return fifo_pop(&((struct mem_port *)p)->tx, d, n);
}

uint32_t mem_port__rx_pending(const struct port *p)
{
        return ((const struct mem_port *)p)->rx.n;
}

uint32_t mem_port__tx_pending(const struct port *p)
{
        return ((const struct mem_port *)p)->tx.n;
}
