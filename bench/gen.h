/*
 * xdpgen's run: what its threads share (struct gen) and what each owns
 * (struct gen_thread: one queue, its socket, its frame cache, its flows and
 * its counters), and the entry points of the files that work on them:
 * gen_tx.c sends, gen_rx.c receives and counts, gen_report.c sums and prints.
 * xdpgen.c sets the run up, starts, watches and stops it.
 *
 * A counter is written only by the thread that owns it and read by the main
 * thread with relaxed atomic loads; the unique-sequence bitmap is shared and
 * updated with atomic ORs.
 */
#ifndef MQTTLB_BENCH_GEN_H
#define MQTTLB_BENCH_GEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bench/gen_frame.h"
#include "bench/gen_opts.h"
#include "xsk/xsk_port.h"

struct gen;

/* One queue: its socket, its cache, its flows and its counters. Counters are
 * written by the owning thread only and read by the main thread (relaxed). */
struct gen_thread {
        struct gen *g;
        uint32_t idx;
        pthread_t tid;
        struct frame_cache cache;
        struct port *port;
        uint32_t base_in_kernel; /* frames lent to the kernel with the TX ring empty */
        uint64_t rng;
        struct gen_template *flows;
        uint8_t *flow_frames;
        uint32_t nflows, next_flow;
        uint64_t quota, built, next_seq;
        uint64_t rate;                         /* this thread's share; 0: flat out */
        uint64_t sent, tx_retries, tx_dropped; /* meanings: --help */
        uint64_t received, unique, dups;       /* frames with this run's stamp */
        uint64_t other, syn, bad_csum;
        uint64_t counted; /* what this run waits for: stamped frames, or SYNs */
        uint64_t first_rx_ns, last_rx_ns, tx_end_ns;
        bool tx_done;
        bool overflow; /* a sequence number beyond the bitmap: unique unknown */
};

/* A real connection's sequence space (--flow-seq), found by source port. */
struct gen_flow_seq {
        uint16_t sport;
        uint32_t snd_nxt, rcv_nxt;
};

struct gen {
        struct gen_cfg cfg;
        struct gen_addrs addrs;
        struct umem_area area;
        struct frame_pool *pool;
        struct xsk_umem_set *umem;
        struct gen_thread *th;
        uint64_t *bitmap, bits;
        struct gen_flow_seq *flow_seq; /* --flow-seq's lines, nflow_seq of them */
        uint32_t nflow_seq;
        uint32_t run_id; /* 0 with --rx-only: adopt the first one seen */
        bool stop_tx, stop_rx;
        uint64_t start_ns;
        int go; /* 0: wait, 1: run, 2: give up (setup failed) */
};

static inline uint64_t gen_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void gen_sleep_ns(uint64_t ns)
{
        struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
                              .tv_nsec = (long)(ns % 1000000000ull)};

        nanosleep(&ts, NULL);
}

static inline uint64_t gen_ld(const uint64_t *v)
{
        return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* Only the owning thread writes a counter, so a load and a store suffice. */
static inline void gen_bump(uint64_t *v, uint64_t k)
{
        __atomic_store_n(v, *v + k, __ATOMIC_RELAXED);
}

static inline bool gen_flag(const bool *f)
{
        return __atomic_load_n(f, __ATOMIC_ACQUIRE);
}

static inline uint64_t gen_rnd(uint64_t *s) /* xorshift64* */
{
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 0x2545f4914f6cdd1dull;
}

/* gen_tx.c: reads --flow-seq's file into g->flow_seq and checks that every
 * flow's source port is there; 0, or a negative errno with a message in err. */
int gen__flow_seq_load(struct gen *g, char *err, size_t errlen);
/* gen_tx.c: the thread's flow templates (--mode tcp); 0 or -ENOMEM. */
int gen_thread__flows_init(struct gen_thread *t);
/* gen_tx.c: sends until the quota, the deadline or stop_tx, then waits for
 * the TX ring to drain; receives meanwhile with --rx. Sets tx_done. */
void gen_thread__tx(struct gen_thread *t);

/* gen_rx.c: one burst off the RX ring, counted, the frames given back to the
 * cache; returns how many frames it took. */
uint32_t gen_thread__rx_burst(struct gen_thread *t);
/* gen_rx.c: frames the kernel dropped before the RX rings, all sockets. */
uint64_t gen__kernel_rx_dropped(const struct gen *g);

/* The threads' counters summed. */
struct gen_totals {
        uint64_t sent, tx_retries, tx_dropped, received, unique, dups, other, syn, bad_csum;
        uint64_t counted, first_rx_ns, last_rx_ns, tx_end_ns, kernel_dropped;
        bool overflow, tx_done;
};

/* gen_report.c */
void gen__sum(const struct gen *g, struct gen_totals *s);
/* The summary on stderr and, with --json, the JSON object on stdout. */
void gen__report(const struct gen *g, const struct gen_totals *s, uint32_t dev_tx_dropped);

#endif
