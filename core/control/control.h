/*
 * The control thread: one io_uring event loop for everything that is not per
 * packet. Today it keeps the next-hop table (destination → interface and
 * MACs, from the kernel's route and neighbour tables) fresh: it rebuilds the
 * table when netlink says a neighbour, route or link changed, and on a timer
 * (a probe the kernel answers changes nothing on our side until we look). It
 * publishes each new table through RCU (liburcu, QSBR flavour): workers read
 * the current one without a lock and announce a quiescent state once per
 * round; the old table is freed after a grace period.
 * Whoever runs the balancer adds its own work to this loop: file
 * descriptors to watch (the health checker's ring), and calls from other
 * threads run here (a reload), so that everything that publishes a plan
 * runs on this one thread.
 */
#ifndef MQTTLB_CORE_CONTROL_H
#define MQTTLB_CORE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "core/control/nexthop.h"

struct control_cfg {
        const struct ip_addr *nexthops; /* destinations to keep resolved */
        size_t nnexthops;
        uint32_t refresh_ms; /* periodic rebuild; 0: 1000 */
};

struct control;

/* Builds the first table and starts the thread. Returns 0 or -errno with the
 * reason in err. */
int control__start(struct control **out, const struct control_cfg *cfg, char *err, size_t errlen);
/* Stops the thread and frees everything (the workers must be stopped first). */
void control__stop(struct control *c);

/* Watches fd (readable: POLLIN) and calls cb(ctx) on the control thread
 * each time it is; returns the watch's slot, or -ENOSPC past
 * CONTROL_WATCHES. On the control thread (from a control__call). */
#define CONTROL_WATCHES 8
typedef void control_fn(void *ctx);
int control__watch(struct control *c, int fd, control_fn *cb, void *ctx);
/* Moves a watch to another fd (the old one may be closed right after);
 * -1 stops watching. On the control thread. */
void control__rewatch(struct control *c, int slot, int fd);
/* Runs fn(ctx) on the control thread and waits until it returned (runs it
 * in place when the thread is not running). Any other thread. */
void control__call(struct control *c, control_fn *fn, void *ctx);
/* Replaces the destinations kept resolved and rebuilds the table now. On
 * the control thread. -ENOMEM. */
int control__set_nexthops(struct control *c, const struct ip_addr *dsts, size_t n);

/* The current table; a worker reads it between two quiescent states
 * (worker rounds). NULL when none could be built yet. */
const struct nh_table *control__nexthops(const struct control *c);
/* Tables published so far (for tests and logs). */
uint64_t control__generation(const struct control *c);

#endif
