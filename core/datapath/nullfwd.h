/*
 * The null forwarder: a worker handler with no MQTT and no TCP, to measure
 * what the AF_XDP datapath alone can carry on a machine (the ceiling the
 * balancer is compared with) and to prove the datapath loses and leaks no
 * frame. Swap mode sends every frame back where it came from with source and
 * destination swapped at every layer; cross mode forwards it out of the other
 * interface (0 ↔ 1) with its MAC addresses rewritten: given, or those of a
 * next hop the kernel resolved.
 */
#ifndef MQTTLB_CORE_NULLFWD_H
#define MQTTLB_CORE_NULLFWD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/datapath/worker.h"
#include "core/util/netaddr.h"

enum nullfwd_mode {
        NULLFWD_SWAP,
        NULLFWD_CROSS,
};

struct nullfwd {
        enum nullfwd_mode mode;
        uint8_t own_mac[WORKER_PORTS_MAX][6];  /* cross: source MAC per outgoing port */
        uint8_t peer_mac[WORKER_PORTS_MAX][6]; /* cross: destination MAC per outgoing port */
        bool peer_known[WORKER_PORTS_MAX];     /* else the destination MAC is left alone */
        /* cross: or the next hop's MACs out of each port, as resolve finds
         * them (whoever runs the forwarder asks the kernel's neighbour
         * table through the control thread); dropped until resolved */
        bool (*resolve)(void *ctx, const struct ip_addr *dst, uint8_t src_mac[6],
                        uint8_t dst_mac[6]);
        void *resolve_ctx;
        struct ip_addr next_hop[WORKER_PORTS_MAX];
        bool next_hop_set[WORKER_PORTS_MAX];
};

extern const struct worker_ops nullfwd_ops; /* ctx: const struct nullfwd * */

#endif
