/*
 * The datapath assembled: the XDP redirector on every interface, one UMEM
 * shared by every AF_XDP socket, one socket per (interface, worker) on queue
 * = worker index, one frame cache per worker in front of the shared pool, the
 * handover rings between workers, and the pinned worker threads running a
 * handler (worker_ops). Start, stop, counters and the frame ledger (every
 * frame of the UMEM accounted for) for whoever runs it: the balancer, the
 * null forwarder, the tests.
 */
#ifndef MQTTLB_CORE_DATAPLANE_H
#define MQTTLB_CORE_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/lb_shared.h"
#include "bpf/redirector.h"
#include "core/datapath/worker.h"
#include "xsk/xsk_port.h"

struct dataplane_source {
        struct lb_source_key key;
        uint16_t port_lo, port_hi;
};

struct dataplane_cfg {
        const char *ifnames[WORKER_PORTS_MAX];
        uint32_t nifs;
        uint32_t nworkers;     /* worker i uses queue i of every interface */
        int cores[WORKER_MAX]; /* with pin: core of worker i */
        bool pin;
        enum xsk_mode xsk_mode; /* zero copy, copy, or whichever the driver has */
        enum redirector_mode xdp_mode;
        uint32_t ring_size;    /* per ring; 0: 2048 */
        uint32_t busy_poll_us; /* 0: no busy polling (the worker sleeps when idle) */
        uint32_t busy_budget;
        uint32_t frames;              /* UMEM frames; 0: enough for every ring and cache */
        uint32_t syn_rate, syn_burst; /* per CPU, redirector__set_syn_limit; 0: no limit */
        /* per client address, redirector__set_client_limit; rate 0: no limit */
        uint32_t per_source_rate, per_source_burst, per_source_prefix6;
        bool huge_pages;
        bool ipv6;
        const struct lb_listener_key *listeners;
        uint32_t nlisteners;
        const struct dataplane_source *sources;
        uint32_t nsources;
        const struct worker_ops *ops;
        void *ctx[WORKER_MAX]; /* handler context of worker i */
};

/* Where every frame of the UMEM is; sum == total when none leaked. */
struct dataplane_ledger {
        uint64_t total, pool, caches, in_kernel, handover, sum;
};

struct dataplane;

/* Sets everything up and starts the workers. On failure returns -errno with a
 * message naming the interface/queue and the problem in err; nothing is left
 * attached or allocated. */
int dataplane__start(struct dataplane **out, const struct dataplane_cfg *cfg, char *err,
                     size_t errlen);
/* Stops and joins the workers, then waits (bounded) for frames in flight on
 * TX to complete. Idempotent. */
void dataplane__stop(struct dataplane *dp);
/* After stop: worker w, to send what the handler has left to say (then
 * worker__flush and dataplane__wait_tx). NULL past the last worker. */
struct worker *dataplane__worker(struct dataplane *dp, uint32_t w);
/* Waits (bounded) until the frames on TX have been sent. */
void dataplane__wait_tx(struct dataplane *dp);
/* After stop: where the frames are. */
void dataplane__ledger(struct dataplane *dp, struct dataplane_ledger *l);
/* Closes the sockets, detaches XDP, frees the UMEM. */
void dataplane__free(struct dataplane *dp);

uint32_t dataplane__nworkers(const struct dataplane *dp);
void dataplane__worker_stats(const struct dataplane *dp, uint32_t w, struct worker_stats *out);
/* What the kernel dropped on worker w's sockets (XDP_STATISTICS), summed:
 * [0] RX ring full, [1] other RX drops (no frame in the fill ring …),
 * [2] fill ring empty (times), [3] invalid TX descriptors. */
#define DATAPLANE_KERNEL_COUNTERS(X)                                                             \
        X(kernel_rx_ring_full, "frames the kernel dropped: the socket's RX ring was full")       \
        X(kernel_rx_dropped, "frames the kernel dropped for other reasons (e.g. no fill frame)") \
        X(kernel_fill_empty, "times the kernel found the fill ring empty")                       \
        X(kernel_tx_invalid, "TX descriptors the kernel rejected")
#define DATAPLANE_KERNEL_FIELD_(name, doc) uint64_t name;
struct dataplane_kernel_stats {
        DATAPLANE_KERNEL_COUNTERS(DATAPLANE_KERNEL_FIELD_)
};
#undef DATAPLANE_KERNEL_FIELD_
extern const char *const dataplane_kernel_counter_names[];
#define DATAPLANE_NKERNEL (sizeof(struct dataplane_kernel_stats) / sizeof(uint64_t))
void dataplane__kernel_stats(const struct dataplane *dp, uint32_t w,
                             struct dataplane_kernel_stats *out);
/* The redirector counters of interface i, summed over CPUs. */
int dataplane__xdp_counters(const struct dataplane *dp, uint32_t i, uint64_t *out);
/* The SYN rate limit of every interface's redirector (redirector.h); -errno
 * of the first that failed. */
int dataplane__set_syn_limit(struct dataplane *dp, uint32_t rate, uint32_t burst);
/* The per-client SYN rate limit of every interface's redirector
 * (redirector__set_client_limit); -errno of the first that failed. */
int dataplane__set_client_limit(struct dataplane *dp, uint32_t rate, uint32_t burst,
                                uint32_t prefix6);
/* Whether the sockets run zero copy, and XDP natively (for the start log). */
bool dataplane__zerocopy(const struct dataplane *dp);
bool dataplane__xdp_native(const struct dataplane *dp, uint32_t i);
bool dataplane__huge_pages(const struct dataplane *dp);

#endif
