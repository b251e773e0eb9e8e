/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one definition of everything the XDP redirector (redirect.bpf.c) and
 * userspace share: map keys and values, map names and sizes, and the counter
 * list with its names. Both sides include this file; nothing else may
 * redeclare these types. Only <linux/types.h> types, no libc, no BPF helpers:
 * the header must compile for -target bpf and for the host alike.
 *
 * Address convention (listener and source keys): `addr` holds the address in
 * network byte order. IPv6 uses all 16 bytes; IPv4 uses addr[0] (the first 4
 * bytes) and addr[1..3] are zero. It is not the IPv4-mapped form (::ffff:a.b.c.d):
 * `family` already tells the two apart. Every byte of a key, padding included,
 * must be zero before the fields are set (hash maps compare raw bytes).
 */
#ifndef MQTTLB_BPF_LB_SHARED_H
#define MQTTLB_BPF_LB_SHARED_H

#include <linux/types.h>

/* Map names as in the object file (bpf_object__find_map_by_name), and sizes. */
#define LB_MAP_XSKS         "xsks"
#define LB_MAP_LISTENERS    "listeners"
#define LB_MAP_SOURCES      "sources"
#define LB_MAP_COUNTERS     "counters"
#define LB_MAP_SYN_LIMIT    "syn_limit"
#define LB_MAP_SYN_TAT      "syn_tat"
#define LB_MAP_CLIENT_LIMIT "client_limit"
#define LB_MAP_CLIENT_TAT   "client_tat"

#define LB_XSKS_MAX      64  /* RX queues: XSKMAP index = rx_queue_index */
#define LB_LISTENERS_MAX 256 /* address:port the balancer accepts clients on */
#define LB_SOURCES_MAX   64  /* full-NAT source addresses for broker legs */
/*
 * Client addresses (IPv6: prefixes) whose SYN rate client_tat remembers. An
 * entry only says something while its TAT is ahead of now (at most burst + one
 * interval: about a second with the default burst); one evicted or never seen
 * behaves as a source that has been quiet (a full burst), so the LRU errs
 * towards letting through, never towards refusing. A source over its rate
 * refreshes its entry with every SYN, so it escapes only if this many other
 * sources send a SYN between two of its own. About 80 bytes an entry plus a
 * 16-byte bucket, preallocated: 6 MiB per interface.
 */
#define LB_CLIENTS_MAX 65536

/* Values of `family` in keys: the IP version number, as in the header nibble. */
enum lb_family {
        LB_FAMILY_IPV4 = 4,
        LB_FAMILY_IPV6 = 6,
};

/*
 * listeners: key → struct lb_listener_val. A client-facing address:port of
 * one protocol: a TCP listener (mqtt, tls) and a UDP one (udp, mqtt-sn) on the
 * same address:port are two keys. proto is IPPROTO_TCP (6) or IPPROTO_UDP
 * (17); redirector__add_listener refuses any other (0 included: a key whose
 * proto was left zeroed would never match).
 */
struct lb_listener_key {
        __u8 family;    /* enum lb_family */
        __u8 proto;     /* IPPROTO_TCP or IPPROTO_UDP (was a zero pad byte) */
        __be16 port;    /* TCP or UDP destination port, network byte order */
        __be32 addr[4]; /* see the address convention above */
};

_Static_assert(sizeof(struct lb_listener_key) == 20, "lb_listener_key: 20 bytes, no padding");

struct lb_listener_val {
        __u32 id; /* userspace's listener index; the program only tests presence */
};

/*
 * sources: key → struct lb_source_val. An address the balancer opens broker
 * connections (TCP) and backend flows (UDP) from; a TCP segment or UDP
 * datagram to it is ours only when its destination port lies in the local
 * port range [port_lo, port_hi] of that address (one range for both
 * protocols), an ICMP destination unreachable to it only when the UDP
 * datagram it quotes left from a port in that range.
 */
struct lb_source_key {
        __u8 family;    /* enum lb_family */
        __u8 pad[3];    /* zero */
        __be32 addr[4]; /* see the address convention above */
};

struct lb_source_val {
        __u16 port_lo; /* host byte order, inclusive */
        __u16 port_hi; /* host byte order, inclusive */
};

/*
 * syn_limit: BPF_MAP_TYPE_ARRAY, one entry (key 0): how many SYNs to a listener
 * each CPU hands on per second, as a GCRA (the virtual-scheduling form of a
 * token bucket): each SYN moves the CPU's theoretical arrival time (syn_tat,
 * BPF_MAP_TYPE_PERCPU_ARRAY, key 0, __u64 ns) on by interval_ns; a SYN that
 * comes more than burst_ns before it is dropped. burst_ns = (burst - 1) *
 * interval_ns lets `burst` SYNs through back to back. interval_ns 0: no limit.
 * Only segments to a listener with SYN set and ACK clear are limited: a
 * connection once open is never slowed by a flood of new ones.
 */
struct lb_syn_limit {
        __u64 interval_ns; /* 1e9 / SYNs per second; 0: no limit */
        __u64 burst_ns;    /* (burst - 1) * interval_ns */
};

/*
 * client_tat: BPF_MAP_TYPE_LRU_HASH, key struct lb_client_key → __u64 ns: the
 * theoretical arrival time of each client address's next SYN (the GCRA of
 * syn_limit, per client address instead of per CPU; connections.per_source_*).
 * "Client", not "source": the sources map above holds the balancer's own
 * full-NAT addresses. IPv4 is keyed by the whole address, IPv6 by the address
 * masked with client_limit's mask6 (a /64 by default: one home or device
 * usually holds a whole /64: keyed by /128, it would have 2^64 buckets).
 */
struct lb_client_key {
        __u8 family;    /* enum lb_family */
        __u8 pad[3];    /* zero */
        __be32 addr[4]; /* see the address convention above; IPv6 masked */
};

/*
 * client_limit: BPF_MAP_TYPE_ARRAY, one entry (key 0): the per-client SYN
 * rate, as lb_syn_limit (interval_ns 0: no limit, and client_tat is not even
 * looked at), and the mask applied to an IPv6 client address before it keys
 * client_tat (network byte order: /prefix6 leading one bits).
 */
struct lb_client_limit {
        __u64 interval_ns; /* 1e9 / SYNs per second per client; 0: no limit */
        __u64 burst_ns;    /* (burst - 1) * interval_ns */
        __be32 mask6[4];   /* IPv6 prefix mask */
};

/*
 * counters: BPF_MAP_TYPE_PERCPU_ARRAY, key enum lb_counter (__u32), value
 * __u64 per CPU (userspace sums over the possible CPUs). Every frame the
 * program sees moves exactly one counter.
 *
 *   redirect_listener     TCP or UDP to a listener of that protocol, handed
 *                         to the queue's AF_XDP socket
 *   redirect_source       TCP or UDP to a source address in its port range,
 *                         handed over
 *   redirect_icmp         an ICMP destination unreachable (ICMPv4 type 3,
 *                         ICMPv6 type 1) to a source address, quoting a UDP
 *                         datagram from a port in its range, handed over
 *   pass_no_xsk_listener  a listener match, but no socket on this RX queue
 *   pass_no_xsk_source    a source or ICMP error match, but no socket on this
 *                         RX queue
 *   pass_not_ip           neither IPv4 nor IPv6 (ARP, LLDP, 3+ VLAN tags …)
 *   pass_ipv6_disabled    IPv6 while the ipv6 setting is off
 *   pass_not_tcp          IP, but neither TCP, UDP nor an ICMP destination
 *                         unreachable (ICMP echo, neighbour discovery, ESP,
 *                         no next header …); the name predates UDP
 *   pass_fragment         an IPv4 TCP, UDP or ICMP fragment (MF or offset),
 *                         an IPv6 fragment header: userspace cannot reassemble
 *   pass_ipv6_ext         IPv6 with another extension header before the
 *                         TCP, UDP or ICMPv6 header
 *   pass_truncated        a header cut short or malformed (version, IHL,
 *                         doff, UDP length below 8, an ICMP destination
 *                         unreachable without the quoted IP and UDP headers)
 *   pass_no_match         TCP or UDP to no listener of its protocol and no
 *                         source port range; an ICMP destination unreachable
 *                         to no source address, or quoting anything but a
 *                         UDP datagram from a port in the range, as the
 *                         balancer sends them (no IPv4 options, no IPv6
 *                         extension headers, not a later fragment)
 *   drop_syn_rate         a TCP SYN to a listener over this CPU's SYN rate
 *                         (syn_limit): dropped
 *   drop_source_rate      a TCP SYN to a listener over its client address's SYN
 *                         rate (client_limit, connections.per_source_rate):
 *                         dropped. The two drop_* are the only frames the
 *                         program drops.
 */
/* The redirect_* come first, in this order: the program tests
 * counter <= LB_CNT_REDIRECT_ICMP (a static assertion there holds it). */
#define LB_COUNTERS(X)                                  \
        X(REDIRECT_LISTENER, "redirect_listener")       \
        X(REDIRECT_SOURCE, "redirect_source")           \
        X(REDIRECT_ICMP, "redirect_icmp")               \
        X(PASS_NO_XSK_LISTENER, "pass_no_xsk_listener") \
        X(PASS_NO_XSK_SOURCE, "pass_no_xsk_source")     \
        X(PASS_NOT_IP, "pass_not_ip")                   \
        X(PASS_IPV6_DISABLED, "pass_ipv6_disabled")     \
        X(PASS_NOT_TCP, "pass_not_tcp")                 \
        X(PASS_FRAGMENT, "pass_fragment")               \
        X(PASS_IPV6_EXT, "pass_ipv6_ext")               \
        X(PASS_TRUNCATED, "pass_truncated")             \
        X(PASS_NO_MATCH, "pass_no_match")               \
        X(DROP_SYN_RATE, "drop_syn_rate")               \
        X(DROP_SOURCE_RATE, "drop_source_rate")

#define LB_COUNTER_ENUM_(id, name) LB_CNT_##id,
enum lb_counter { LB_COUNTERS(LB_COUNTER_ENUM_) LB_CNT__MAX };
#undef LB_COUNTER_ENUM_

#ifndef __bpf__
/* The counter's name for metrics and logs; NULL when out of range. */
static inline const char *lb_counter__name(__u32 counter)
{
#define LB_COUNTER_NAME_(id, name) name,
        static const char *const names[LB_CNT__MAX] = {LB_COUNTERS(LB_COUNTER_NAME_)};
#undef LB_COUNTER_NAME_

        return counter < LB_CNT__MAX ? names[counter] : (const char *)0;
}

/* The syn_limit entry for `rate` SYNs per second per CPU (0: no limit, at
 * most 1e9) with bursts of up to `burst` SYNs (at least 1). */
static inline struct lb_syn_limit lb_syn_limit__of(__u32 rate, __u32 burst)
{
        struct lb_syn_limit l = {0, 0};

        if (rate && rate <= 1000000000u) {
                l.interval_ns = 1000000000ull / rate;
                l.burst_ns = (burst ? burst - 1 : 0) * l.interval_ns;
        }
        return l;
}

/* The client_limit entry for `rate` SYNs per second per client address (0: no
 * limit) with bursts of up to `burst` (0: one second's worth, `rate`), IPv6
 * addresses counted per /prefix6 (1 to 128; 0 or more than 128: 128). */
static inline struct lb_client_limit lb_client_limit__of(__u32 rate, __u32 burst, __u32 prefix6)
{
        struct lb_syn_limit l = lb_syn_limit__of(rate, burst ? burst : rate);
        struct lb_client_limit c = {l.interval_ns, l.burst_ns, {0, 0, 0, 0}};
        __u8 *m = (__u8 *)c.mask6; /* bytewise: the same in either byte order */

        if (!prefix6 || prefix6 > 128)
                prefix6 = 128;
        for (__u32 i = 0; i < 16; i++) {
                __u32 bits = prefix6 > i * 8 ? prefix6 - i * 8 : 0;

                m[i] = bits >= 8 ? 0xff : (__u8)(0xff00u >> bits);
        }
        return c;
}
#endif /* !__bpf__ */

#endif /* MQTTLB_BPF_LB_SHARED_H */
