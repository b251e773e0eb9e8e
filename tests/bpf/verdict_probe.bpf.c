// SPDX-License-Identifier: GPL-2.0
/*
 * A test-only XDP program: drops IPv4 UDP, passes everything else, and counts
 * each verdict. It exists to prove the bpf_object() build helper (compile,
 * skeleton, load, BPF_PROG_TEST_RUN); the product's redirector lives in bpf/.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 3);
        __type(key, __u32);
        __type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int count(__u32 verdict)
{
        __u64 *n = bpf_map_lookup_elem(&verdicts, &verdict);

        if (n)
                __sync_fetch_and_add(n, 1);
        return verdict;
}

SEC("xdp")
int verdict_probe(struct xdp_md *ctx)
{
        void *data = (void *)(long)ctx->data;
        void *end = (void *)(long)ctx->data_end;
        struct ethhdr *eth = data;
        struct iphdr *ip = (void *)(eth + 1);

        if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
                return count(XDP_PASS);
        return count(ip->protocol == IPPROTO_UDP ? XDP_DROP : XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
