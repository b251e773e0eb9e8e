// SPDX-License-Identifier: GPL-2.0
/*
 * The XDP redirector: hands the balancer's frames to the AF_XDP socket of the
 * RX queue they arrived on, and leaves every other frame to the kernel
 * untouched. A frame is the balancer's when it is a TCP segment or a UDP
 * datagram to
 *   - a listener address:port of that protocol (clients connecting, or
 *     sending datagrams), or
 *   - a full-NAT source address with the destination port in that address's
 *     local port range (brokers and UDP backends answering the balancer's own
 *     connections and flows; both protocols share the range),
 * or an ICMP destination unreachable (ICMPv4 type 3, any code; ICMPv6 type 1)
 * to a source address, quoting a UDP datagram whose source port is in that
 * address's range: a UDP backend saying it is gone (issue 18). The quote must
 * hold the quoted IP header in full and the UDP header after it (RFC 792 and
 * RFC 4443 guarantee both): an error without them names no flow, so it goes
 * to the kernel (pass_truncated); one quoting anything but UDP, an IPv4
 * header with options, or a later fragment, is not ours (pass_no_match).
 * Other ICMP (echo, neighbour discovery, time exceeded …) goes to the kernel.
 *
 * It reads Ethernet, up to two VLAN tags (802.1ad/802.1Q), IPv4 or IPv6 and
 * the TCP, UDP or ICMP header; every access is bounds-checked against
 * data_end. It never rewrites or transmits a frame, and drops only TCP SYNs
 * to a listener beyond the CPU's SYN rate (syn_limit: off until userspace
 * sets it; `mqttlb run` sets connections.syn_rate, 100,000/s unless
 * configured), so that a SYN flood cannot crowd the workers' RX rings and
 * starve connections already open, or beyond their client address's SYN rate
 * (client_limit: off unless connections.per_source_rate is set), so that one
 * address cannot spend the budget of all. UDP is never rate-limited here.
 * Its verdicts are XDP_REDIRECT, XDP_PASS and those XDP_DROPs; each frame
 * moves exactly one counter (lb_shared.h).
 *
 * It is loaded through libxdp, which chains it behind or before other XDP
 * programs through the dispatcher (the XDP_RUN_CONFIG below); the maps and
 * their types are in redirect_maps.h and lb_shared.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

#include "bpf/lb_shared.h"
#include "bpf/redirect_consts.h"
#include "bpf/redirect_maps.h"

/* Load-time settings (rodata: the verifier prunes what they switch off). */
const volatile __u8 ipv6_enabled = 1;

/* libxdp dispatcher metadata: run early (priority 10, lower runs first) and
 * let the next program see what this one passes (XDP_PASS chains on). */
struct {
        __uint(priority, 10);
        __uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(mqttlb_redirect);

static __always_inline int count(enum lb_counter counter, int verdict)
{
        __u32 key = counter;
        __u64 *n = bpf_map_lookup_elem(&counters, &key);

        if (n)
                *n += 1; /* per-CPU slot: nobody else writes it meanwhile */
        return verdict;
}

/* Why an IPv6 header whose next header is neither TCP, UDP nor ICMPv6 is passed. */
static __always_inline enum lb_counter ipv6_not_ours(__u8 nexthdr)
{
        switch (nexthdr) {
        case IPPROTO_FRAGMENT: return LB_CNT_PASS_FRAGMENT;
        case IPPROTO_HOPOPTS:
        case IPPROTO_ROUTING:
        case IPPROTO_DSTOPTS:
        case IPPROTO_AH:
        case IPPROTO_MH:
        case LB_IPPROTO_HIP:
        case LB_IPPROTO_SHIM6: return LB_CNT_PASS_IPV6_EXT;
        default: return LB_CNT_PASS_NOT_TCP;
        }
}

/*
 * The datagram an ICMP destination unreachable quotes, at icmp + 8: an IP
 * header as the balancer sends them (of the outer header's family; IPv4
 * without options, IPv6 without extension headers), a UDP datagram, not a
 * later fragment, and then at least the UDP header. Sets key->port to the
 * quoted UDP source port (the balancer's own, when the datagram was ours) and
 * key->proto to LB_PROTO_ICMP_ERR.
 */
static __always_inline enum lb_counter parse_icmp_error(void *icmp, void *end,
                                                        struct lb_listener_key *key)
{
        void *in = icmp + LB_ICMP_ERR_HLEN;
        struct udphdr *udp;

        if (key->family == LB_FAMILY_IPV4) {
                struct iphdr *ip = in;

                udp = (void *)(ip + 1);
                if ((void *)(udp + 1) > end)
                        return LB_CNT_PASS_TRUNCATED;
                /* a later fragment quotes payload where the ports would be */
                if (*(__u8 *)ip != 0x45 || ip->protocol != IPPROTO_UDP ||
                    ip->frag_off & bpf_htons(LB_IP_OFFSET))
                        return LB_CNT_PASS_NO_MATCH;
        } else {
                struct ipv6hdr *ip6 = in;

                udp = (void *)(ip6 + 1);
                if ((void *)(udp + 1) > end)
                        return LB_CNT_PASS_TRUNCATED;
                if (ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP)
                        return LB_CNT_PASS_NO_MATCH;
        }
        key->proto = LB_PROTO_ICMP_ERR;
        key->port = udp->source;
        return LB_CNT__MAX;
}

/*
 * Reads the headers into key (family, destination address, protocol and
 * port; the rest stays zero) and client (family and source address,
 * unmasked). Returns LB_CNT__MAX when the frame is a TCP segment, a UDP
 * datagram or an ICMP destination unreachable quoting a UDP datagram, with
 * every header in full (an ICMP error's key: see parse_icmp_error),
 * otherwise the counter saying why it goes to the kernel. tcp_flags stays 0
 * but for TCP.
 */
static __always_inline enum lb_counter parse(struct xdp_md *ctx, struct lb_listener_key *key,
                                             struct lb_client_key *client, __u8 *tcp_flags)
{
        void *data = (void *)(long)ctx->data;
        void *end = (void *)(long)ctx->data_end;
        struct ethhdr *eth = data;
        __u8 l4proto, icmp, unreach;
        __be16 proto;
        void *l3, *l4;

        if ((void *)(eth + 1) > end)
                return LB_CNT_PASS_TRUNCATED;
        proto = eth->h_proto;
        l3 = eth + 1;

#pragma unroll
        for (int i = 0; i < LB_VLAN_MAX; i++) {
                struct lb_vlan_hdr *vlan = l3;

                if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
                        break;
                if ((void *)(vlan + 1) > end)
                        return LB_CNT_PASS_TRUNCATED;
                proto = vlan->encap_proto;
                l3 = vlan + 1;
        }

        if (proto == bpf_htons(ETH_P_IP)) {
                struct iphdr *ip = l3;
                __u32 hlen;

                if ((void *)(ip + 1) > end)
                        return LB_CNT_PASS_TRUNCATED;
                /* RFC 791 section 3.1: IHL counts 32-bit words, 5 at least */
                if (ip->version != 4 || ip->ihl < 5)
                        return LB_CNT_PASS_TRUNCATED;
                hlen = ip->ihl * 4;
                if (l3 + hlen > end)
                        return LB_CNT_PASS_TRUNCATED;
                l4proto = ip->protocol;
                if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP && l4proto != IPPROTO_ICMP)
                        return LB_CNT_PASS_NOT_TCP;
                /* userspace sees single frames: a fragment goes to the kernel */
                if (ip->frag_off & bpf_htons(LB_IP_MF | LB_IP_OFFSET))
                        return LB_CNT_PASS_FRAGMENT;
                l4 = l3 + hlen;
                icmp = IPPROTO_ICMP;
                unreach = LB_ICMP_DEST_UNREACH;
                key->family = LB_FAMILY_IPV4;
                key->addr[0] = ip->daddr;
                client->addr[0] = ip->saddr;
        } else if (proto == bpf_htons(ETH_P_IPV6)) {
                struct ipv6hdr *ip6 = l3;

                if (!ipv6_enabled)
                        return LB_CNT_PASS_IPV6_DISABLED;
                if ((void *)(ip6 + 1) > end)
                        return LB_CNT_PASS_TRUNCATED;
                if (ip6->version != 6)
                        return LB_CNT_PASS_TRUNCATED;
                /* the upper layer right after the fixed header only (RFC 8200 section 4) */
                l4proto = ip6->nexthdr;
                if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP && l4proto != IPPROTO_ICMPV6)
                        return ipv6_not_ours(l4proto);
                l4 = ip6 + 1;
                icmp = IPPROTO_ICMPV6;
                unreach = LB_ICMPV6_DEST_UNREACH;
                key->family = LB_FAMILY_IPV6;
                __builtin_memcpy(key->addr, &ip6->daddr, sizeof(key->addr));
                __builtin_memcpy(client->addr, &ip6->saddr, sizeof(client->addr));
        } else {
                return LB_CNT_PASS_NOT_IP;
        }
        client->family = key->family;

        if (l4proto == IPPROTO_TCP) {
                struct tcphdr *tcp = l4;

                /* RFC 9293 section 3.1: Data Offset counts 32-bit words, 5 at least */
                if ((void *)(tcp + 1) > end || tcp->doff < 5 || l4 + tcp->doff * 4 > end)
                        return LB_CNT_PASS_TRUNCATED;
                *tcp_flags = ((__u8 *)tcp)[13];
        } else {
                struct udphdr *udp = l4; /* or the ICMP header: 8 bytes too */

                if ((void *)(udp + 1) > end)
                        return LB_CNT_PASS_TRUNCATED;
                if (l4proto == icmp) {
                        /* destination unreachable only (RFC 792 type 3, RFC 4443 type 1) */
                        if (*(__u8 *)l4 != unreach)
                                return LB_CNT_PASS_NOT_TCP;
                        return parse_icmp_error(l4, end, key);
                }
                /* RFC 768: Length counts the header too, 8 at least */
                if (bpf_ntohs(udp->len) < sizeof(*udp))
                        return LB_CNT_PASS_TRUNCATED;
        }
        key->proto = l4proto;
        key->port = ((struct udphdr *)l4)->dest; /* TCP's too: offset 2 in both */
        return LB_CNT__MAX;
}

/*
 * Whose frame key is: LB_CNT_REDIRECT_LISTENER (a listener of its protocol),
 * LB_CNT_REDIRECT_SOURCE (a source address, port in range), for an ICMP
 * error LB_CNT_REDIRECT_ICMP (a source address, quoted port in range), or no
 * match.
 */
static __always_inline enum lb_counter match(const struct lb_listener_key *key)
{
        struct lb_source_key skey = {.family = key->family};
        struct lb_source_val *src;
        __u16 port;

        if (key->proto != LB_PROTO_ICMP_ERR && bpf_map_lookup_elem(&listeners, key))
                return LB_CNT_REDIRECT_LISTENER;
        __builtin_memcpy(skey.addr, key->addr, sizeof(skey.addr));
        src = bpf_map_lookup_elem(&sources, &skey);
        if (!src)
                return LB_CNT_PASS_NO_MATCH;
        port = bpf_ntohs(key->port);
        if (port < src->port_lo || port > src->port_hi)
                return LB_CNT_PASS_NO_MATCH;
        return key->proto == LB_PROTO_ICMP_ERR ? LB_CNT_REDIRECT_ICMP : LB_CNT_REDIRECT_SOURCE;
}

/* Whether a SYN now is over this CPU's rate (GCRA, see lb_shared.h). The
 * state is per CPU: no atomics, and nothing shared between queues. */
static __always_inline int syn_over_rate(void)
{
        __u32 zero = 0;
        struct lb_syn_limit *l = bpf_map_lookup_elem(&syn_limit, &zero);
        __u64 *tat, now;

        if (!l || !l->interval_ns)
                return 0;
        tat = bpf_map_lookup_elem(&syn_tat, &zero);
        if (!tat)
                return 0;
        now = bpf_ktime_get_ns();
        if (*tat > now + l->burst_ns)
                return 1;
        *tat = (*tat > now ? *tat : now) + l->interval_ns;
        return 0;
}

/*
 * Whether a SYN now from client is over its address's rate (client_limit):
 * the GCRA of syn_over_rate, with one TAT per address in client_tat, shared by
 * every CPU. Masks client's IPv6 address to the configured prefix.
 *
 * No lock (bpf_spin_lock is for hash, array and local-storage maps, not LRU
 * ones) and no compare-and-swap (BPF_CMPXCHG needs -mcpu=v3, and the object
 * is built for the default CPU); two benign races instead:
 *   - a source over its rate moves its TAT with an atomic add: no SYN that
 *     passes is ever left unpaid, but CPUs that read the TAT at the same time
 *     may all pass it before any has added: at most one SYN more per CPU,
 *     paid for by the SYNs after (the TAT stays ahead by all they added);
 *   - a source that was quiet (TAT in the past, or no entry) gets its TAT
 *     stored: two CPUs storing at once lose one interval, one SYN more.
 */
static __always_inline int client_over_rate(struct lb_client_key *client)
{
        __u32 zero = 0;
        struct lb_client_limit *l = bpf_map_lookup_elem(&client_limit, &zero);
        __u64 *tat, t, now;

        if (!l || !l->interval_ns)
                return 0;
        if (client->family == LB_FAMILY_IPV6) {
#pragma unroll
                for (int i = 0; i < 4; i++)
                        client->addr[i] &= l->mask6[i];
        }
        now = bpf_ktime_get_ns();
        tat = bpf_map_lookup_elem(&client_tat, client);
        if (!tat) {
                t = now + l->interval_ns;
                /* NOEXIST: a CPU that inserted meanwhile keeps its TAT; when
                 * the map is full the LRU evicts a quiet source to make room */
                bpf_map_update_elem(&client_tat, client, &t, BPF_NOEXIST);
                return 0;
        }
        t = *(volatile __u64 *)tat; /* one read: the other CPUs write it */
        if (t > now + l->burst_ns)
                return 1;
        if (t < now)
                *tat = now + l->interval_ns;
        else
                __sync_fetch_and_add(tat, l->interval_ns);
        return 0;
}

_Static_assert(LB_CNT_REDIRECT_LISTENER == 0 && LB_CNT_REDIRECT_SOURCE == 1 &&
                   LB_CNT_REDIRECT_ICMP == 2,
               "the redirect_* counters come first: the program tests reason <= REDIRECT_ICMP");

SEC("xdp")
int mqttlb_redirect(struct xdp_md *ctx)
{
        struct lb_listener_key key = {};
        struct lb_client_key client = {};
        __u8 flags = 0;
        enum lb_counter reason = parse(ctx, &key, &client, &flags);
        int verdict = XDP_PASS;

        if (reason == LB_CNT__MAX)
                reason = match(&key);
        /* flags are 0 but for TCP: UDP is never limited here */
        if (reason == LB_CNT_REDIRECT_LISTENER &&
            (flags & (LB_TCP_SYN | LB_TCP_ACK)) == LB_TCP_SYN) {
                /*
                 * The client's own rate first: a SYN it is refused does not
                 * spend the CPU's budget, so one noisy address cannot use up
                 * the syn_rate every other client shares. (The other way
                 * round, every SYN of the noisy one would take a token of the
                 * global bucket before being dropped.) A SYN the CPU's rate
                 * then drops has still spent its client's token: the client
                 * was sending, and is slowed the same as everyone.
                 */
                if (client_over_rate(&client))
                        return count(LB_CNT_DROP_SOURCE_RATE, XDP_DROP);
                if (syn_over_rate())
                        return count(LB_CNT_DROP_SYN_RATE, XDP_DROP);
        }
        if (reason <= LB_CNT_REDIRECT_ICMP) { /* a redirect_* (lb_shared.h: they come first) */
                /*
                 * bpf_redirect_map() returns its fallback (XDP_PASS, the low
                 * bits of flags) when this queue has no socket in xsks: the
                 * kernel keeps the frame, and the counter says the balancer's
                 * traffic landed on a queue nobody serves (an ICMP error is
                 * traffic to a source address: pass_no_xsk_source).
                 */
                verdict = (int)bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
                if (verdict != XDP_REDIRECT)
                        reason = reason == LB_CNT_REDIRECT_LISTENER ? LB_CNT_PASS_NO_XSK_LISTENER
                                                                    : LB_CNT_PASS_NO_XSK_SOURCE;
        }
        return count(reason, verdict);
}

char LICENSE[] SEC("license") = "GPL";
