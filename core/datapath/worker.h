/*
 * A worker: one thread, pinned to its core, owning one queue of every
 * interface (one port each), its frame cache and its flows. Its loop is
 * burst → process → flush: up to WORKER_BURST frames from each port and from
 * each other worker's handover ring, each frame given to the handler, the
 * frames to send batched per port and pushed once per round. No lock and no
 * allocation per packet.
 *
 * Ownership: a segment to one of the balancer's source addresses belongs to
 * the worker its destination port encodes (port % workers, the broker leg's
 * rule, see rss.h); one that lands elsewhere is handed over through the
 * owner's ring without a copy. Everything else (the client legs) belongs to
 * the worker that received it: RSS keeps a flow on one queue.
 *
 * The handler (worker_ops) is the product: the null forwarder, or the
 * balancer's TCP endpoint and splice. The worker itself knows nothing of MQTT.
 */
#ifndef MQTTLB_CORE_WORKER_H
#define MQTTLB_CORE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/datapath/handover.h"
#include "core/tcp/packet.h"
#include "core/util/netaddr.h"
#include "xsk/port.h"

#define WORKER_BURST       64
#define WORKER_PORTS_MAX   4
#define WORKER_MAX         64
#define WORKER_SOURCES_MAX 64

/* Per-worker counters: name, meaning. One writer (the worker), read by the
 * control thread; "dropped" in CONTRACT.md is the sum of the drop_ ones. */
#define WORKER_COUNTERS(X)                                                     \
        X(rx, "frames received from the ports")                                \
        X(tx, "frames handed to the ports for sending")                        \
        X(handed_over, "frames pushed to the owning worker's ring")            \
        X(handed_in, "frames popped from other workers' rings")                \
        X(drop_not_ip, "frames that are not IPv4/IPv6")                        \
        X(drop_not_tcp, "IP frames that are not TCP")                          \
        X(drop_fragment, "IP fragments")                                       \
        X(drop_truncated, "frames with a header cut short")                    \
        X(drop_handler, "frames the handler dropped")                          \
        X(drop_tx_full, "frames for which the TX ring had no room")            \
        X(drop_handover_full, "frames for which the owner's ring had no room") \
        X(idle_waits, "times the worker slept in poll() for lack of work")     \
        X(wakeups_sent, "times the worker woke another, sleeping, for a frame it handed over")

#define WORKER_COUNTER_FIELD_(name, doc) uint64_t name;
struct worker_stats {
        WORKER_COUNTERS(WORKER_COUNTER_FIELD_)
};
#undef WORKER_COUNTER_FIELD_

/* A frame being processed. The handler may rewrite data[0..d.len) in place
 * (and change d.len up to the frame's room). */
struct worker_pkt {
        struct frame_desc d;
        uint8_t *data;
        struct packet m;
        uint16_t in_port;  /* index of the port it arrived on */
        uint16_t out_port; /* where to send it, for WORKER_TX */
};

enum worker_verdict {
        WORKER_DROP, /* the worker frees the frame */
        WORKER_TX,   /* the worker sends it out of out_port */
        WORKER_KEEP, /* the handler keeps the frame (and frees or sends it later) */
};

struct worker;

struct worker_ops {
        enum worker_verdict (*handle)(void *ctx, struct worker *w, struct worker_pkt *p);
        /* Once per round, before its frames, with the worker's clock (optional): timers. */
        void (*tick)(void *ctx, struct worker *w, uint64_t now_ns);
        /* When the handler next has work of its own (a timer), on the
         * worker's clock: 0 now, UINT64_MAX none (optional; without it an
         * idle worker wakes every WORKER_SLEEP_MIN_MS). */
        uint64_t (*next_ns)(void *ctx, struct worker *w);
};

/*
 * Waking a sleeping worker: a worker about to sleep sets `sleeping`, then
 * looks at its inboxes once more; a worker that pushed to another's inbox
 * then reads its `sleeping` and, when set, writes its eventfd (which it
 * sleeps on with its ports). Both sides fence (seq_cst) between their store
 * and their load, so one of them sees the other: no handed-over frame waits
 * for a timeout.
 */
struct worker_wake {
        atomic_bool sleeping;
        int fd; /* eventfd; -1: none (the worker then wakes every WORKER_SLEEP_MIN_MS) */
};

/* An idle worker sleeps until its handler's next timer, at least
 * WORKER_SLEEP_MIN_MS and at most WORKER_SLEEP_MAX_MS (the longest a
 * configuration reload or a stop waits for an idle worker). */
#define WORKER_SLEEP_MIN_MS 1
#define WORKER_SLEEP_MAX_MS 100

/* One of the balancer's source addresses: segments to it within its port
 * range (the broker legs' local ports) are owned by port. */
struct worker_source {
        struct ip_addr addr;
        uint16_t port_lo, port_hi; /* host order, inclusive */
};

struct worker_cfg {
        uint32_t id, nworkers;
        int core; /* CPU it is pinned to (by whoever starts the thread); -1: none */
        struct port *ports[WORKER_PORTS_MAX];
        int fds[WORKER_PORTS_MAX]; /* to sleep on when idle; -1: none (offline) */
        uint32_t nports;
        struct frame_cache *cache;                /* the cache the ports were opened with */
        struct handover_ring *inbox[WORKER_MAX];  /* [w]: from worker w to this one */
        struct handover_ring *outbox[WORKER_MAX]; /* [w]: from this one to worker w */
        struct worker_wake *wake[WORKER_MAX];     /* [w]: worker w's (NULL: none) */
        const struct worker_source *sources;
        uint32_t nsources;
        uint32_t idle_rounds; /* empty rounds before sleeping; 0: never sleep (busy poll) */
        const struct worker_ops *ops;
        void *ctx;
        atomic_bool *stop;
};

struct worker {
        struct worker_cfg cfg;
        struct worker_stats stats;
        uint64_t frame_mask;
        uint8_t *umem_base; /* frames' addresses are offsets from here */
        uint32_t idle;
        bool rcu_online; /* registered with RCU (a thread of its own, not offline use) */
        uint32_t ntx[WORKER_PORTS_MAX];
        struct frame_desc txq[WORKER_PORTS_MAX][WORKER_BURST];
        uint32_t nho[WORKER_MAX];
        struct handover_item hoq[WORKER_MAX][WORKER_BURST];
};

/* Sets w up from cfg (copied); nothing runs until worker__round/worker__run. */
void worker__init(struct worker *w, const struct worker_cfg *cfg);
/* One round: receive, process, send. Returns the frames it took in. */
uint32_t worker__round(struct worker *w);
/* The thread body: rounds until *cfg.stop, a quiescent state for RCU after
 * each. arg is the worker. */
void *worker__run(void *arg);
/* Sends a frame the handler built or kept (it is the worker's from here). */
void worker__send(struct worker *w, uint16_t port, const struct frame_desc *d);
/* How long the idle worker would sleep now, in ms (0: not at all, a timer
 * is due): see WORKER_SLEEP_MIN_MS. */
int worker__sleep_ms(struct worker *w);
/* Pushes what worker__send queued out of every port (a stopped worker). */
void worker__flush(struct worker *w);
/* Gives a frame back to the worker's cache. */
static inline void worker__free(struct worker *w, uint64_t addr)
{
        frame_cache__put(w->cfg.cache, addr & w->frame_mask);
}
/* Which worker owns a parsed frame. */
uint32_t worker__owner(const struct worker *w, const uint8_t *data, const struct packet *m);
/* Copies the counters with relaxed loads (safe while the worker runs). */
void worker__stats(const struct worker *w, struct worker_stats *out);
/* The counters' names and meanings, in struct order (for stats output). */
extern const char *const worker_counter_names[];
extern const char *const worker_counter_docs[];
#define WORKER_NCOUNTERS (sizeof(struct worker_stats) / sizeof(uint64_t))

#endif
