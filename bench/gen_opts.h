/*
 * xdpgen's command line: parses argv into a struct gen_cfg and checks what can
 * be checked without the interface (ranges, combinations). Owns --help. Does
 * not touch the network; what depends on the interface (its MAC, MTU, IPv4
 * address) is resolved by the caller.
 */
#ifndef MQTTLB_BENCH_GEN_OPTS_H
#define MQTTLB_BENCH_GEN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xsk/xsk_port.h"

#define GEN_MAX_QUEUES 64u

enum gen_mode {
        GEN_MODE_TCP = 0, /* stamped ACK|PSH segments over --flows flows */
        GEN_MODE_SYN,     /* SYN flood from random addresses and ports */
        GEN_MODE_UDP,     /* stamped UDP datagrams over --flows flows */
};

struct gen_cfg {
        const char *dev;
        uint32_t queues;
        int cores[GEN_MAX_QUEUES];
        uint32_t ncores;
        enum xsk_mode xmode;
        uint32_t ring;
        uint8_t src_mac[6], dst_mac[6];
        bool src_mac_set;
        uint32_t src_ip, dst_ip; /* network order */
        bool src_ip_set;
        uint32_t src_count; /* --src-count: addresses src_ip .. src_ip + N - 1 */
        uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
        uint32_t flows; /* 0: one per queue */
        uint32_t size;
        bool size_set;
        enum gen_mode mode;
        uint32_t range_ip, range_len; /* --src-range, network order base */
        uint16_t mss;
        uint64_t count;  /* 0: no limit */
        double duration; /* seconds; 0: no limit */
        uint64_t rate;   /* frames per second over all threads; 0: flat out */
        bool rx, rx_only;
        uint32_t rx_wait_ms, rx_linger_ms;
        uint32_t run_id;
        bool run_id_set;
        const char *flow_seq; /* --flow-seq FILE: per-flow seq/ack of real connections */
        bool json, quiet;
};

/*
 * Returns 0 with cfg filled, 1 when --help was asked for (usage printed to
 * stdout), or -EINVAL with a one-line message naming the option in err.
 */
/* Whether the run sends (or counts) stamped frames over flows: tcp and udp. */
static inline bool gen_cfg__stamped(const struct gen_cfg *c)
{
        return c->mode != GEN_MODE_SYN;
}

int gen_cfg__parse(struct gen_cfg *cfg, int argc, char **argv, char *err, size_t errlen);
void gen_cfg__usage(FILE *f);

#endif
