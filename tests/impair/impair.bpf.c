// SPDX-License-Identifier: GPL-2.0
/*
 * A tc (clsact) program that impairs the traffic of the device it is attached
 * to, for the live impaired-wire tests (test_lossy.sh): it drops a per-million
 * fraction of the frames it matches and sends another fraction twice (a clone
 * to the same device and direction, bpf_clone_redirect). Which frames it
 * matches (TCP with payload, every TCP segment, every frame), the fractions
 * and the random source live in a single-entry array map that mqttlb-impair
 * (impair.c) rewrites at run time, so a test switches loss on and off without
 * reattaching. Counters are per CPU: seen, dropped, duplicated, duplicate
 * failed. Shared definitions: impair.h.
 *
 * Attach it where the frames are single segments: with `gso_max_segs 1` and
 * TSO/GSO off on the device, or the hook sees 45 KB super-segments and drops
 * or duplicates 30 segments at once (DESIGN.md, "Known traps").
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tests/impair/impair.h"

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct impair_cfg);
} impair_cfg SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, IMPAIR_NCOUNTERS);
        __type(key, __u32);
        __type(value, __u64);
} impair_counters SEC(".maps");

/* Per-CPU xorshift64 state, written by userspace for --seed. */
struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, __u64);
} impair_rng SEC(".maps");

static __always_inline void count(__u32 key)
{
        __u64 *n = bpf_map_lookup_elem(&impair_counters, &key);

        if (n)
                *n += 1; /* per-CPU slot */
}

/* A uniform number in [0, 1,000,000). */
static __always_inline __u32 draw(const struct impair_cfg *cfg)
{
        __u32 zero = 0;
        __u64 *s, x;

        if (!cfg->seeded)
                return bpf_get_prandom_u32() % 1000000;
        s = bpf_map_lookup_elem(&impair_rng, &zero);
        if (!s)
                return bpf_get_prandom_u32() % 1000000;
        x = *s ? *s : 0x9e3779b97f4a7c15ull;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *s = x;
        return (__u32)((x >> 16) % 1000000);
}

/* TCP payload length of an IPv4/IPv6 frame, or -1 when it is not TCP. Reads
 * through bpf_skb_load_bytes, so nonlinear skbs work too. */
static __always_inline int tcp_payload(struct __sk_buff *skb)
{
        __u8 doff;
        int l4, len;

        if (skb->protocol == bpf_htons(ETH_P_IP)) {
                struct iphdr ip;

                if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
                        return -1;
                if (ip.protocol != IPPROTO_TCP || (ip.frag_off & bpf_htons(0x1fff)))
                        return -1;
                l4 = ETH_HLEN + ip.ihl * 4;
                len = bpf_ntohs(ip.tot_len) - ip.ihl * 4;
        } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
                struct ipv6hdr ip6;

                if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0)
                        return -1;
                if (ip6.nexthdr != IPPROTO_TCP) /* extension headers: not matched */
                        return -1;
                l4 = ETH_HLEN + sizeof(ip6);
                len = bpf_ntohs(ip6.payload_len);
        } else {
                return -1;
        }
        /* doff is the high nibble of byte 12 of the TCP header */
        if (bpf_skb_load_bytes(skb, l4 + 12, &doff, 1) < 0)
                return -1;
        len -= (doff >> 4) * 4;
        return len < 0 ? 0 : len;
}

SEC("tc")
int impair(struct __sk_buff *skb)
{
        __u32 zero = 0, r;
        struct impair_cfg *cfg = bpf_map_lookup_elem(&impair_cfg, &zero);
        int payload;

        if (!cfg)
                return TC_ACT_OK;
        if (skb->mark == IMPAIR_CLONE_MARK) {
                /* our own duplicate, back through the hook: once is enough */
                skb->mark = 0;
                return TC_ACT_OK;
        }
        if (cfg->match != IMPAIR_MATCH_ALL) {
                payload = tcp_payload(skb);
                if (payload < 0 || (cfg->match == IMPAIR_MATCH_PAYLOAD && payload == 0))
                        return TC_ACT_OK;
        }
        count(IMPAIR_SEEN);
        r = draw(cfg);
        if (r < cfg->loss_ppm) {
                count(IMPAIR_DROPPED);
                return TC_ACT_SHOT;
        }
        if (r - cfg->loss_ppm < cfg->dup_ppm) {
                __u32 mark = skb->mark;

                skb->mark = IMPAIR_CLONE_MARK;
                if (bpf_clone_redirect(skb, cfg->ifindex, cfg->ingress ? BPF_F_INGRESS : 0) == 0)
                        count(IMPAIR_DUPLICATED);
                else
                        count(IMPAIR_DUP_FAILED);
                skb->mark = mark;
        }
        return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
