/*
 * The AF_XDP port: one socket bound to one queue of one interface, all
 * sockets on one shared UMEM (xsk_umem_set), so any frame can leave through
 * any socket without a copy. need_wakeup always; zero copy where the driver
 * has it, copy mode otherwise (or forced either way); optional busy polling.
 */
#ifndef MQTTLB_XSK_XSK_PORT_H
#define MQTTLB_XSK_XSK_PORT_H

#include <stdbool.h>
#include <stddef.h>

#include "xsk/port.h"

enum xsk_mode {
        XSK_MODE_AUTO = 0, /* zero copy if the driver has it, else copy */
        XSK_MODE_ZEROCOPY, /* zero copy or fail */
        XSK_MODE_COPY,     /* copy mode even where zero copy exists */
};

struct xsk_port_cfg {
        const char *ifname;
        uint32_t queue;
        enum xsk_mode mode;
        uint32_t ring_size;     /* RX/TX/fill/completion entries; 0: 2048 */
        uint32_t busy_poll_us;  /* SO_BUSY_POLL with SO_PREFER_BUSY_POLL; 0: off */
        uint32_t busy_budget;   /* SO_BUSY_POLL_BUDGET; 0: 64 */
        bool load_default_prog; /* let libxdp attach its own redirect program */
};

struct xsk_umem_set;

/* The UMEM of area, registered for AF_XDP. Returns 0 or -errno. */
int xsk_umem_set__new(struct xsk_umem_set **out, struct umem_area *area, uint32_t ring_size);
void xsk_umem_set__free(struct xsk_umem_set *u);

/*
 * A socket on cfg->ifname queue cfg->queue. Frames for its fill ring come from
 * cache (the owning worker's). On failure returns -errno with a message naming
 * the interface, the queue and the problem in err.
 */
int xsk_port__open(struct port **out, struct xsk_umem_set *u, const struct xsk_port_cfg *cfg,
                   struct frame_cache *cache, char *err, size_t errlen);
int xsk_port__fd(const struct port *p);
bool xsk_port__zerocopy(const struct port *p);
/* Frames the kernel holds for this socket (fill ring + TX in flight). */
uint32_t xsk_port__in_kernel(const struct port *p);
struct xdp_statistics;
/* The kernel's counters of the socket (XDP_STATISTICS): frames it dropped
 * because the RX ring was full or the fill ring empty, bad descriptors.
 * Returns 0 or -errno. */
int xsk_port__kernel_stats(const struct port *p, struct xdp_statistics *out);
/* Frames submitted for TX whose completion has not come back yet. */
uint32_t xsk_port__tx_in_flight(const struct port *p);
/* Gives back every frame the kernel no longer holds; for shutdown. */
void xsk_port__reclaim(struct port *p);

#endif
