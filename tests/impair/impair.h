/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one definition of what tests/impair/impair.bpf.c (the tc impairment
 * program) and tests/impair/impair.c (mqttlb-impair, its command line) share:
 * the settings in the single-entry config map, the counters' indexes, the tc
 * handle and priorities the filters are attached with, and the names the
 * command finds the maps by (through the attached program: nothing pinned).
 */
#ifndef MQTTLB_TESTS_IMPAIR_H
#define MQTTLB_TESTS_IMPAIR_H

#include <linux/types.h>

/* Which frames the impairment may hit (the others always pass, uncounted). */
enum impair_match {
        IMPAIR_MATCH_PAYLOAD = 0, /* TCP segments carrying payload */
        IMPAIR_MATCH_TCP = 1,     /* every TCP segment (SYN, ACK, FIN, RST too) */
        IMPAIR_MATCH_ALL = 2,     /* every frame (ARP too: use with care) */
};

/* The config map's only value; userspace rewrites it at run time. */
struct impair_cfg {
        __u32 loss_ppm;     /* frames dropped, per million matched frames */
        __u32 dup_ppm;      /* frames sent twice, per million matched frames */
        __u32 match;        /* enum impair_match */
        __u32 seeded;       /* 1: the per-CPU xorshift state (rng map), 0: bpf_get_prandom_u32 */
        __u32 hook_created; /* 1: mqttlb-impair created the clsact qdisc (detach removes it) */
        __u32 ifindex;      /* the device the program is attached to (for duplicates) */
        __u32 ingress;      /* 1: attached at ingress (duplicates go to ingress too) */
        __u32 pad;
};

/* Indexes of the per-CPU counters map. */
enum impair_counter {
        IMPAIR_SEEN = 0,       /* frames matched (candidates for loss and duplication) */
        IMPAIR_DROPPED = 1,    /* dropped */
        IMPAIR_DUPLICATED = 2, /* sent twice (the copy is not counted as seen) */
        IMPAIR_DUP_FAILED = 3, /* bpf_clone_redirect failed: sent once */
        IMPAIR_NCOUNTERS = 4,
};

/* skb->mark of a duplicate while it passes the hook a second time: the hook
 * lets it through untouched and clears the mark. */
#define IMPAIR_CLONE_MARK 0x1d9a1e5u

/* tc filter identity: handle, and a priority per direction. */
#define IMPAIR_TC_HANDLE       0x1d9
#define IMPAIR_TC_PRIO_EGRESS  0x1d9
#define IMPAIR_TC_PRIO_INGRESS 0x1da

/* Map names as the kernel reports them (bpf_map_info.name, 15 chars max). */
#define IMPAIR_MAP_CFG      "impair_cfg"
#define IMPAIR_MAP_COUNTERS "impair_counters"
#define IMPAIR_MAP_RNG      "impair_rng"

#endif
