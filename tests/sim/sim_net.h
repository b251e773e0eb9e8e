/*
 * The simulation's virtual network: one-way links, each with its own loss,
 * duplication and delay (a base delay plus uniform or exponential jitter;
 * jitter is what reorders), and one queue of frames in flight ordered by
 * delivery time, ties broken by the order they were sent, so a run is a
 * pure function of the seed. No clock: the caller passes the virtual time.
 *
 * Test-only. Frames are copied in; the callback of sim_net__deliver gets a
 * pointer valid for the call only, and may send more frames from it.
 */
#ifndef MQTTLB_TESTS_SIM_NET_H
#define MQTTLB_TESTS_SIM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "sim_rng.h"

enum sim_jitter {
        SIM_JITTER_UNIFORM,     /* uniform in [0, jitter_ns] */
        SIM_JITTER_EXPONENTIAL, /* exponential with mean jitter_ns */
};

struct sim_link_cfg {
        double loss;       /* probability a frame is dropped */
        double dup;        /* probability a frame is delivered twice */
        double jitter_p;   /* probability a frame gets jitter (1: every frame) */
        uint64_t delay_ns; /* base one-way delay */
        uint64_t jitter_ns;
        enum sim_jitter jitter;
};

struct sim_link_stats {
        uint64_t sent, delivered, dropped, duplicated;
        uint64_t reordered; /* scheduled before a frame sent earlier on the link */
        uint64_t bytes;
};

struct sim_net;

/* Called for each frame delivered; link is the index sim_net__add_link gave. */
typedef void sim_net_deliver_fn(void *ctx, uint64_t now, unsigned link, const uint8_t *frame,
                                size_t len);

struct sim_net *sim_net__new(uint64_t seed);
void sim_net__free(struct sim_net *n);
/* A new one-way link; its index, or -1 on allocation failure. */
int sim_net__add_link(struct sim_net *n, const struct sim_link_cfg *cfg);
/* Changes a link's impairments from now on (frames in flight keep theirs). */
void sim_net__set_link(struct sim_net *n, unsigned link, const struct sim_link_cfg *cfg);
/* Sends a frame at now: dropped, or queued once or twice. 0 or -ENOMEM. */
int sim_net__send(struct sim_net *n, uint64_t now, unsigned link, const uint8_t *frame, size_t len);
/* Time of the next delivery, or UINT64_MAX when nothing is in flight. */
uint64_t sim_net__next(const struct sim_net *n);
/* Delivers every frame due at or before now, in order; returns how many. */
unsigned sim_net__deliver(struct sim_net *n, uint64_t now, sim_net_deliver_fn *cb, void *ctx);
/* Frames in flight. */
size_t sim_net__in_flight(const struct sim_net *n);
const struct sim_link_stats *sim_net__link_stats(const struct sim_net *n, unsigned link);
/* Sums over every link. */
void sim_net__totals(const struct sim_net *n, struct sim_link_stats *out);

#endif
