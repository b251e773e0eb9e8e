/*
 * The memory port: a port whose wire is two queues in memory, for the
 * offline replay harness (core/replay/replay.h). The harness puts frames on its RX
 * queue (copied into UMEM frames taken from the port's cache) and takes the
 * frames the worker sent from its TX queue; its clock_ns is the harness's
 * virtual clock, set by the harness before each round.
 *
 * Owns the frames sitting in its two queues: closing the port gives them
 * back to the cache. Single-threaded (the harness and the worker run in the
 * same thread); never touches the network or a file.
 */
#ifndef MQTTLB_XSK_MEM_PORT_H
#define MQTTLB_XSK_MEM_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "xsk/port.h"

int mem_port__open(struct port **out, const char *name, struct umem_area *umem,
                   struct frame_cache *cache);

/* Copies frame[0..len) into a free UMEM frame and queues it for the worker
 * to receive. 0, -EMSGSIZE when it does not fit a frame, -ENOBUFS when the
 * cache and pool are dry (counted in rx_dropped), -ENOMEM. */
int mem_port__inject(struct port *p, const void *frame, uint32_t len);

/* Takes up to n of the frames the worker sent, oldest first; the caller owns
 * them from here (frame_cache__put them back). Returns how many. */
uint32_t mem_port__drain(struct port *p, struct frame_desc *d, uint32_t n);

/* Frames queued for the worker / sent by it and not drained yet. */
uint32_t mem_port__rx_pending(const struct port *p);
uint32_t mem_port__tx_pending(const struct port *p);

#endif
