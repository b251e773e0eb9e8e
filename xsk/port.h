/*
 * A port: where a worker receives and sends frames, in bursts. The AF_XDP
 * socket implements it on a real interface; the pcap port implements it over
 * capture files so that the same worker code runs offline, deterministically.
 * Frames are UMEM addresses; the port moves them, never copies them (the pcap
 * port copies only to and from its files: that is its "wire").
 */
#ifndef MQTTLB_XSK_PORT_H
#define MQTTLB_XSK_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "xsk/frame_pool.h"
#include "xsk/umem.h"

struct frame_desc {
        uint64_t addr;
        uint32_t len;
};

struct port;

struct port_ops {
        /* Up to n received frames; the worker owns them from here. */
        uint32_t (*rx)(struct port *p, struct frame_desc *d, uint32_t n);
        /* Queues up to n frames for sending and takes them over; returns how
         * many it took (the rest stay the caller's). */
        uint32_t (*tx)(struct port *p, const struct frame_desc *d, uint32_t n);
        /* Pushes queued frames out and reclaims sent ones into the cache. */
        void (*flush)(struct port *p);
        void (*close)(struct port *p);
};

struct port {
        const struct port_ops *ops;
        const char *name;
        struct umem_area *umem;
        struct frame_cache *cache; /* the owning worker's */
        uint64_t clock_ns;         /* offline ports: time of the last frame read */
        bool virtual_clock;        /* clock_ns is the time (offline), not the host's */
        uint64_t rx_frames, tx_frames, rx_dropped; /* rx_dropped: no free frame */
        bool tx_busy; /* after flush: frames sent that the kernel has not completed */
};

static inline uint32_t port__rx(struct port *p, struct frame_desc *d, uint32_t n)
{
        return p->ops->rx(p, d, n);
}

static inline uint32_t port__tx(struct port *p, const struct frame_desc *d, uint32_t n)
{
        return p->ops->tx(p, d, n);
}

static inline void port__flush(struct port *p)
{
        p->ops->flush(p);
}

static inline void port__close(struct port *p)
{
        if (p)
                p->ops->close(p);
}

#endif
