/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Constants and wire headers of the XDP redirector that the uapi headers do
 * not export (they live in kernel-internal headers). BPF side only: nothing
 * here is shared with userspace (that is lb_shared.h).
 */
#ifndef MQTTLB_BPF_REDIRECT_CONSTS_H
#define MQTTLB_BPF_REDIRECT_CONSTS_H

#include <linux/types.h>

/* VLAN tags parsed before giving up: 802.1ad outer + 802.1Q inner (QinQ). */
#define LB_VLAN_MAX 2

/* IPv4 frag_off bits (RFC 791 section 3.1), host order: More Fragments and
 * the 13-bit fragment offset. DF is not a fragment. */
#define LB_IP_MF     0x2000
#define LB_IP_OFFSET 0x1fff

/* TCP flags, byte 13 of the header (RFC 9293 section 3.1). */
#define LB_TCP_SYN 0x02
#define LB_TCP_ACK 0x10

/* ICMP destination unreachable: ICMPv4 type 3 (RFC 792), ICMPv6 type 1
 * (RFC 4443 section 3.1). Both error headers are 8 bytes (type, code,
 * checksum, 4 unused / MTU bytes); the quoted datagram follows. */
#define LB_ICMP_DEST_UNREACH   3
#define LB_ICMPV6_DEST_UNREACH 1
#define LB_ICMP_ERR_HLEN       8

/* key->proto of an ICMP error between parse() and match(): no listener has
 * it (userspace's listener keys hold IPPROTO_TCP or IPPROTO_UDP, and the
 * loader refuses any other), so the key only looks up the sources map. */
#define LB_PROTO_ICMP_ERR 0

/* IPv6 extension headers (RFC 8200 section 4, IANA "IPv6 Extension Header
 * Types") not in <linux/in6.h>. ESP (50) is not listed: nothing after it is
 * readable, so it counts as "not ours" (pass_not_tcp). */
#define LB_IPPROTO_HIP   139
#define LB_IPPROTO_SHIM6 140

/* An 802.1Q / 802.1ad tag as it follows the MAC addresses (IEEE 802.1Q
 * section 9.6): TCI, then the EtherType it encapsulates. */
struct lb_vlan_hdr {
        __be16 tci;
        __be16 encap_proto;
};

#endif /* MQTTLB_BPF_REDIRECT_CONSTS_H */
