/*
 * xdpgen's wire format: the frames it sends (Ethernet/IPv4/TCP or UDP with a
 * 16-byte stamp in the payload, or bare SYNs with an MSS option) and the parse
 * of what comes back. Owns the stamp layout and the checksums; knows nothing
 * about sockets, threads or counting.
 *
 * Stamp, at the start of the TCP (or UDP) payload, all big-endian:
 *   0  magic "XDG1"   4  run id   8  sequence number (unique over the run)
 */
#ifndef MQTTLB_BENCH_GEN_FRAME_H
#define MQTTLB_BENCH_GEN_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GEN_MAGIC     0x58444731u /* "XDG1" */
#define GEN_STAMP_LEN 16u
#define GEN_ETH_LEN   14u
#define GEN_IP_LEN    20u
#define GEN_TCP_LEN   20u
#define GEN_UDP_LEN   8u
#define GEN_HDR_LEN   (GEN_ETH_LEN + GEN_IP_LEN + GEN_TCP_LEN)
#define GEN_MIN_SIZE  (GEN_HDR_LEN + GEN_STAMP_LEN) /* 70: headers and the stamp */
#define GEN_SYN_SIZE  60u /* 58 bytes of headers (MSS option) + Ethernet padding */

/* Addresses common to every frame of a run; IPv4 addresses in network order. */
struct gen_addrs {
        uint8_t src_mac[6], dst_mac[6];
        uint32_t src_ip, dst_ip;
};

/* One flow's frame, built once; every frame sent copies it and patches the
 * TCP sequence number, the stamp's sequence number and the TCP checksum. */
struct gen_template {
        uint8_t *frame;   /* size bytes */
        uint32_t size;    /* whole Ethernet frame, no FCS */
        uint32_t payload; /* TCP payload bytes */
        uint32_t step;    /* what seq advances by per frame: payload, or 0 (--flow-seq) */
        uint32_t tcp_seq; /* of the next frame of this flow */
        uint64_t sum;     /* TCP checksum sum with tcp seq and stamp seq zero */
        bool udp;         /* a UDP datagram: only the stamp and the checksum change */
};

/* What a received frame is, as far as xdpgen cares. */
struct gen_rx_info {
        bool stamped; /* TCP or UDP payload starts with the magic */
        bool syn;     /* TCP SYN without ACK */
        bool csum_ok; /* IPv4 and TCP (UDP) checksums verify (stamped or SYN only) */
        uint32_t run_id;
        uint64_t seq;
};

static inline uint64_t gen_csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
        for (; len > 1; p += 2, len -= 2)
                sum += (uint32_t)p[0] << 8 | p[1];
        if (len)
                sum += (uint32_t)p[0] << 8;
        return sum;
}

static inline uint16_t gen_csum_fold(uint64_t sum)
{
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)sum;
}

static inline void gen_put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static inline void gen_put32(uint8_t *p, uint32_t v)
{
        gen_put16(p, (uint16_t)(v >> 16));
        gen_put16(p + 2, (uint16_t)v);
}

static inline void gen_put64(uint8_t *p, uint64_t v)
{
        gen_put32(p, (uint32_t)(v >> 32));
        gen_put32(p + 4, (uint32_t)v);
}

/*
 * Builds the template of one flow into buf (size bytes, size >= GEN_MIN_SIZE):
 * TCP ACK|PSH from sport to dport, first sequence number isn, acknowledgment
 * number ack, the stamp with run_id, the rest of the payload zero. Each frame
 * advances the sequence number by the payload, unless fixed: then every frame
 * carries isn (a retransmission of the same bytes).
 */
void gen_template__init(struct gen_template *t, uint8_t *buf, uint32_t size,
                        const struct gen_addrs *a, uint16_t sport, uint16_t dport, uint32_t isn,
                        uint32_t ack, bool fixed, uint32_t run_id);

/*
 * The same for a UDP flow (gen_template__frame sends it): UDP from sport to
 * dport, the stamp with run_id at the start of the payload, the rest zero.
 */
void gen_template__init_udp(struct gen_template *t, uint8_t *buf, uint32_t size,
                            const struct gen_addrs *a, uint16_t sport, uint16_t dport,
                            uint32_t run_id);

/* One frame of the flow into dst, stamped seq; advances the flow's TCP seq
 * by step.
 * The checksum is the template's sum plus the two patched fields (RFC 1071:
 * the one's complement sum is order-independent). */
static inline void gen_template__frame(struct gen_template *t, uint8_t *dst, uint64_t seq)
{
        uint8_t *tcp = dst + GEN_ETH_LEN + GEN_IP_LEN;
        uint32_t s = t->tcp_seq;

        if (t->udp) { /* tcp is the UDP header here */
                uint16_t c = (uint16_t)~gen_csum_fold(t->sum + (seq >> 48) + (seq >> 32 & 0xffff) +
                                                      (seq >> 16 & 0xffff) + (seq & 0xffff));

                memcpy(dst, t->frame, t->size);
                gen_put64(tcp + GEN_UDP_LEN + 8, seq);
                gen_put16(tcp + 6, c ? c : 0xffff); /* 0 is "no checksum" (RFC 768) */
                return;
        }
        uint64_t sum = t->sum + (s >> 16) + (s & 0xffff) + (seq >> 48) + (seq >> 32 & 0xffff) +
                       (seq >> 16 & 0xffff) + (seq & 0xffff);

        memcpy(dst, t->frame, t->size);
        gen_put32(tcp + 4, s);
        gen_put64(tcp + GEN_TCP_LEN + 8, seq);
        gen_put16(tcp + 16, (uint16_t)~gen_csum_fold(sum));
        t->tcp_seq = s + t->step;
}

/* A SYN with an MSS option into dst (GEN_SYN_SIZE bytes), from src_ip (network
 * order) instead of a->src_ip; both checksums computed. */
void gen_frame__syn(uint8_t *dst, const struct gen_addrs *a, uint32_t src_ip, uint16_t sport,
                    uint16_t dport, uint32_t seq, uint16_t ip_id, uint16_t mss);

/* Parses Ethernet (one optional VLAN tag) / IPv4 / TCP or UDP; finds the
 * stamp through the IHL and the TCP data offset (UDP: right after its
 * header), wherever a forwarder left it. */
void gen_frame__parse(const uint8_t *f, uint32_t len, struct gen_rx_info *out);

#endif
