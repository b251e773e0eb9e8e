/*
 * The TCP segments the balancer sends itself: SYN-ACK (client leg, carrying a
 * SYN cookie), SYN (broker leg), pure ACK (with SACK blocks), RST, and data
 * (buffered client bytes replayed to the broker, or a self-answered CONNACK
 * to the client). Each builder writes a whole Ethernet / IPv4-or-IPv6 / TCP
 * frame into a caller buffer (a UMEM frame) with both checksums computed;
 * and the parser for the options of a received SYN.
 *
 * Owns the layout of the options we send. Must not keep state, allocate, or
 * decide anything about the connection: sequence numbers, windows and which
 * options to offer are the caller's (the TCP endpoint's). Never sends or
 * accepts timestamps (DESIGN.md: not negotiated on either leg, so the splice
 * has no PAWS to translate) nor ECN.
 */
#ifndef MQTTLB_CORE_TCP_OUT_H
#define MQTTLB_CORE_TCP_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TCP header flags (RFC 9293 section 3.1). */
#define TCP_OUT_FIN 0x01
#define TCP_OUT_SYN 0x02
#define TCP_OUT_RST 0x04
#define TCP_OUT_PSH 0x08
#define TCP_OUT_ACK 0x10

#define TCP_OUT_VLANS       2    /* as core/tcp/packet.h PACKET_VLANS */
#define TCP_OUT_TTL_DEFAULT 64   /* RFC 1700's recommended default; hop limit too */
#define TCP_OUT_MIN_FRAME   60   /* Ethernet minimum without FCS: shorter frames are padded */
#define TCP_OUT_SACK_MAX    4    /* 4 + 8 * 4 = 36 of the 40 option bytes (RFC 2018 section 3) */
#define TCP_WSCALE_NONE     0xff /* no window scale option (same value as syncookie.h) */
#define TCP_WSCALE_MAX      14   /* RFC 7323 section 2.3 */

/* Where the segment goes and what its header says. Addresses raw (network
 * order; IPv4 in the first 4 bytes); everything else in host order. */
struct tcp_out_hdr {
        uint8_t family;  /* 4 or 6 */
        uint8_t n_vlans; /* 0 to TCP_OUT_VLANS tags, outer first */
        uint16_t vlan_tpid[TCP_OUT_VLANS], vlan_tci[TCP_OUT_VLANS];
        uint8_t src_mac[6], dst_mac[6];
        uint8_t saddr[16], daddr[16];
        uint16_t sport, dport;
        uint32_t seq, ack; /* ack is written only when the ACK flag is set */
        uint16_t window;   /* as it goes on the wire (already scaled; never scaled in a SYN) */
        uint8_t ttl;       /* IPv4 TTL / IPv6 hop limit; 0: TCP_OUT_TTL_DEFAULT */
        uint8_t tos;       /* IPv4 TOS / IPv6 traffic class (DSCP; ECN bits 0) */
        uint16_t ip_id;    /* IPv4 only; DF is always set (RFC 6864 section 4.1) */
};

/* What we offer in a SYN or SYN-ACK. */
struct tcp_out_syn_opts {
        uint16_t mss;
        uint8_t wscale; /* our shift count 0-14, or TCP_WSCALE_NONE to omit */
        bool sack_ok;
};

struct tcp_sack_block {
        uint32_t start, end; /* host order: left edge, right edge (RFC 2018 section 3) */
};

/* The options of a received SYN. */
struct tcp_syn_opts {
        uint16_t mss;   /* when mss_ok */
        uint8_t wscale; /* 0-14 (a larger shift reads as 14, RFC 7323 section 2.3), or
                           TCP_WSCALE_NONE */
        bool mss_ok;
        bool sack_ok;
        bool ts_ok; /* seen, with its values; we never answer it */
        uint32_t ts_val, ts_ecr;
};

/* Offset of the TCP payload in a frame built for h with no TCP options (what
 * tcp_out__data writes): a caller may place the payload there itself and
 * pass that pointer, saving the copy. */
static inline size_t tcp_out__data_offset(const struct tcp_out_hdr *h)
{
        return 14u + 4u * h->n_vlans + (h->family == 4 ? 20u : 40u) + 20u;
}

/*
 * Each builder writes the frame at buf (cap bytes) and returns its length
 * (at least TCP_OUT_MIN_FRAME: short frames are zero-padded after the IP
 * datagram), or -ENOSPC when cap is too small (nothing is written then),
 * -EMSGSIZE when the datagram would exceed 65535 bytes, -EINVAL for a bad
 * family, VLAN count, option value or SACK block count.
 */

/* SYN|ACK answering a client's SYN: seq is the cookie, ack the client's ISN
 * + 1. Options: MSS; SACK-permitted and window scale only if o asks for them,
 * which the caller must do only when the client's SYN offered them
 * (RFC 2018 section 2, RFC 7323 section 2.2). */
int tcp_out__synack(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h,
                    const struct tcp_out_syn_opts *o);

/* SYN opening the broker leg: MSS, SACK-permitted and window scale as o says
 * (the broker decides whether to accept them). */
int tcp_out__syn(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h,
                 const struct tcp_out_syn_opts *o);

/* Pure ACK with up to TCP_OUT_SACK_MAX SACK blocks (n may be 0). */
int tcp_out__ack(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h,
                 const struct tcp_sack_block *sack, unsigned n);

/* RST (RFC 9293 section 3.10.7.1): with ack false, RST alone with seq =
 * the offending segment's ACK; with ack true, RST|ACK with ack = its seq +
 * length (the caller sets seq, usually 0). */
int tcp_out__rst(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h, bool ack);

/* ACK carrying payload[0..len) (copied; it may overlap buf, e.g. be at
 * tcp_out__data_offset already), PSH when len > 0, FIN when fin. */
int tcp_out__data(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h, const void *payload,
                  size_t len, bool fin);

/*
 * Options of a received SYN. tcp points at the TCP header, len is how many
 * bytes of it (and beyond) are readable. Returns 0, or -EINVAL when the
 * header or the option list is malformed (RFC 9293 section 3.1 and MUST-7:
 * a length of 0 or 1, an option running past the data offset, a data offset
 * below 5 words or past len); out then holds what was read before the fault.
 * A known option with the wrong length (an MSS of 3 bytes) is skipped by its
 * length and otherwise ignored, as for an unknown option. Never reads past
 * len or past the data offset.
 */
int tcp_opts__parse(const uint8_t *tcp, size_t len, struct tcp_syn_opts *out);

/*
 * A UDP datagram (RFC 768) with the addresses, ports, MACs and VLAN tags of
 * h (seq, ack, window unused): Ethernet, IP (IPv4 without DF), UDP, payload
 * (which may sit anywhere in buf: it is moved first), the checksum (never 0).
 * Its length, or -EINVAL, -EMSGSIZE, -ENOSPC as for the segments above.
 */
int udp_out__datagram(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h, const void *payload,
                      size_t plen);

/* The same over a bare option list opt[0..len) (what follows the fixed
 * 20-byte header, up to the data offset). */
int tcp_opts__parse_list(const uint8_t *opt, size_t len, struct tcp_syn_opts *out);

#endif
