/*
 * The headers of a frame as a worker sees them: Ethernet (up to two VLAN
 * tags), IPv4 or IPv6, TCP. Only offsets and a few fields are read here; the
 * frame stays where it is (in the UMEM) and is rewritten in place by whoever
 * handles it. Parsing is bounds-checked against the frame's length and never
 * writes. The XDP redirector already let through only TCP to our addresses,
 * but a frame handed to userspace is still untrusted input (and offline runs
 * read any capture), so every length is checked again.
 */
#ifndef MQTTLB_CORE_PACKET_H
#define MQTTLB_CORE_PACKET_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ETH_HLEN_       14
#define ETH_P_IPV4_     0x0800
#define ETH_P_IPV6_     0x86dd
#define ETH_P_8021Q_    0x8100
#define ETH_P_8021AD_   0x88a8
#define IPPROTO_TCP_    6
#define IPPROTO_UDP_    17
#define IPPROTO_ICMP_   1
#define IPPROTO_ICMPV6_ 58
#define UDP_HLEN        8
#define PACKET_VLANS    2 /* as the redirector: 802.1ad outer + 802.1Q inner */

/* Why a frame is not one we can handle (the worker counts these). */
enum packet_err {
        PACKET_OK = 0,
        PACKET_NOT_IP,
        PACKET_NOT_TCP, /* IP, but neither TCP, UDP nor an ICMP error about UDP */
        PACKET_FRAGMENT,
        PACKET_TRUNCATED,
};

/*
 * A parsed frame: a TCP segment, a UDP datagram, or an ICMP destination
 * unreachable (ICMPv6 type 1) about a UDP datagram we sent. For the ICMP
 * error, l4 is the ICMP header, payload the embedded IP header, and the
 * ports are the embedded datagram's, swapped into the direction of a reply
 * (sport its destination port, dport its source port: ours), so that the
 * error finds the flow (and the worker) its datagram came from.
 */
struct packet {
        uint16_t l3;           /* offset of the IP header */
        uint16_t l4;           /* offset of the TCP / UDP / ICMP header */
        uint16_t payload;      /* offset of the TCP / UDP payload; ICMP: the embedded IP header */
        uint16_t end;          /* end of the IP datagram (may be < frame length: padding) */
        uint8_t family;        /* 4 or 6 */
        uint8_t proto;         /* IPPROTO_TCP_, IPPROTO_UDP_, IPPROTO_ICMP_ or IPPROTO_ICMPV6_ */
        uint16_t sport, dport; /* host byte order */
};

static inline uint16_t packet__be16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t packet__be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Big-endian stores, for the headers written in place. */
/* Big-endian stores as one store each (byte stores cost a shift apiece). */
static inline void packet__put16(uint8_t *p, uint16_t v)
{
        v = htons(v);
        memcpy(p, &v, 2);
}

static inline void packet__put32(uint8_t *p, uint32_t v)
{
        v = htonl(v);
        memcpy(p, &v, 4);
}

/* A UDP header at m->l4 (RFC 768): its length must fit the IP datagram;
 * bytes after it (padding) are not the datagram's. */
static inline enum packet_err packet__parse_udp(const uint8_t *d, struct packet *m)
{
        uint32_t ulen;

        if ((uint32_t)m->l4 + UDP_HLEN > m->end)
                return PACKET_TRUNCATED;
        ulen = packet__be16(d + m->l4 + 4);
        if (ulen < UDP_HLEN || (uint32_t)m->l4 + ulen > m->end)
                return PACKET_TRUNCATED;
        m->end = (uint16_t)(m->l4 + ulen);
        m->payload = (uint16_t)(m->l4 + UDP_HLEN);
        m->sport = packet__be16(d + m->l4);
        m->dport = packet__be16(d + m->l4 + 2);
        return PACKET_OK;
}

/* An ICMP destination unreachable (ICMPv4 type 3, RFC 792; ICMPv6 type 1,
 * RFC 4443) quoting a UDP datagram of the same family: anything else is not
 * ours. The quote must hold the embedded IP header and 8 bytes after it. */
static inline enum packet_err packet__parse_icmp(const uint8_t *d, struct packet *m)
{
        uint32_t in = (uint32_t)m->l4 + 8, ihl;
        const uint8_t *ip;

        if (in > m->end)
                return PACKET_TRUNCATED;
        if (d[m->l4] != (m->family == 4 ? 3 : 1))
                return PACKET_NOT_TCP;
        ip = d + in;
        if (m->family == 4) {
                if (in + 20 > m->end || (ip[0] >> 4) != 4 || ip[9] != IPPROTO_UDP_)
                        return in + 20 > m->end ? PACKET_TRUNCATED : PACKET_NOT_TCP;
                ihl = (uint32_t)(ip[0] & 0x0f) * 4;
        } else {
                if (in + 40 > m->end || (ip[0] >> 4) != 6 || ip[6] != IPPROTO_UDP_)
                        return in + 40 > m->end ? PACKET_TRUNCATED : PACKET_NOT_TCP;
                ihl = 40;
        }
        if (ihl < 20 || in + ihl + UDP_HLEN > m->end)
                return PACKET_TRUNCATED;
        m->payload = (uint16_t)in;
        m->sport = packet__be16(d + in + ihl + 2); /* its destination: the backend's port */
        m->dport = packet__be16(d + in + ihl);     /* its source: ours */
        return PACKET_OK;
}

/* Fills m from the frame d[0..len). Returns PACKET_OK or why not. */
static inline enum packet_err packet__parse(const uint8_t *d, uint32_t len, struct packet *m)
{
        uint32_t off = ETH_HLEN_, ip_len, l4, doff;
        uint16_t proto;

        if (len < ETH_HLEN_ || len > UINT16_MAX) /* offsets are 16-bit; frames are 4 KiB */
                return PACKET_TRUNCATED;
        proto = packet__be16(d + 12);
        for (int i = 0; i < PACKET_VLANS && (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_);
             i++) {
                if (len < off + 4)
                        return PACKET_TRUNCATED;
                proto = packet__be16(d + off + 2);
                off += 4;
        }
        if (proto == ETH_P_IPV4_) {
                const uint8_t *ip = d + off;
                uint32_t ihl;

                if (len < off + 20)
                        return PACKET_TRUNCATED;
                ihl = (uint32_t)(ip[0] & 0x0f) * 4;
                ip_len = packet__be16(ip + 2);
                if ((ip[0] >> 4) != 4 || ihl < 20 || ip_len < ihl || len < off + ip_len)
                        return PACKET_TRUNCATED;
                if (ip[9] != IPPROTO_TCP_ && ip[9] != IPPROTO_UDP_ && ip[9] != IPPROTO_ICMP_)
                        return PACKET_NOT_TCP;
                if (packet__be16(ip + 6) & 0x3fff) /* MF or an offset (RFC 791 3.1) */
                        return PACKET_FRAGMENT;
                m->family = 4;
                m->proto = ip[9];
                l4 = off + ihl;
        } else if (proto == ETH_P_IPV6_) {
                const uint8_t *ip = d + off;

                if (len < off + 40)
                        return PACKET_TRUNCATED;
                ip_len = 40u + packet__be16(ip + 4);
                if ((ip[0] >> 4) != 6 || len < off + ip_len)
                        return PACKET_TRUNCATED;
                /* extension headers never reach us: the redirector passes them */
                if (ip[6] != IPPROTO_TCP_ && ip[6] != IPPROTO_UDP_ && ip[6] != IPPROTO_ICMPV6_)
                        return PACKET_NOT_TCP;
                m->family = 6;
                m->proto = ip[6];
                l4 = off + 40;
        } else {
                return PACKET_NOT_IP;
        }
        m->l3 = (uint16_t)off;
        m->l4 = (uint16_t)l4;
        m->end = (uint16_t)(off + ip_len);
        if (m->proto == IPPROTO_UDP_)
                return packet__parse_udp(d, m);
        if (m->proto != IPPROTO_TCP_)
                return packet__parse_icmp(d, m);
        if (off + ip_len < l4 + 20)
                return PACKET_TRUNCATED;
        doff = (uint32_t)(d[l4 + 12] >> 4) * 4;
        if (doff < 20 || off + ip_len < l4 + doff)
                return PACKET_TRUNCATED;
        m->payload = (uint16_t)(l4 + doff);
        m->sport = packet__be16(d + l4);
        m->dport = packet__be16(d + l4 + 2);
        return PACKET_OK;
}

/* The destination address of a parsed frame: 4 or 16 bytes at the returned pointer. */
static inline const uint8_t *packet__daddr(const uint8_t *d, const struct packet *m)
{
        return d + m->l3 + (m->family == 4 ? 16 : 24);
}

/*
 * Swaps source and destination at every layer (MAC, IP, TCP port). The
 * Internet checksum is a sum: swapping two words of the pseudo-header or of
 * the TCP header leaves it unchanged (RFC 1071), so no checksum is touched.
 */
static inline void packet__swap_bytes(uint8_t *a, uint8_t *b, size_t n)
{
        uint8_t t[16];

        memcpy(t, a, n);
        memcpy(a, b, n);
        memcpy(b, t, n);
}

static inline void packet__swap(uint8_t *d, const struct packet *m)
{
        packet__swap_bytes(d, d + 6, 6);
        if (m->family == 4) /* constant sizes: plain loads and stores */
                packet__swap_bytes(d + m->l3 + 12, d + m->l3 + 16, 4);
        else
                packet__swap_bytes(d + m->l3 + 8, d + m->l3 + 24, 16);
        packet__swap_bytes(d + m->l4, d + m->l4 + 2, 2);
}

#endif
