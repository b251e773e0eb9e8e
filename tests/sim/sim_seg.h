/*
 * The wire format of the simulation: one TCP segment in an Ethernet/IPv4
 * frame, described field by field (struct sim_seg), built with both
 * checksums right (sim_seg__build) and parsed back with every length and
 * both checksums checked (sim_seg__parse). The simulated endpoints, the
 * network's observers and the balancer simulation's dispatcher all read
 * frames through this one parser.
 *
 * Independent of the product's packet code on purpose: the simulation is an
 * oracle for it. Test-only; no allocation, no I/O.
 */
#ifndef MQTTLB_TESTS_SIM_SEG_H
#define MQTTLB_TESTS_SIM_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_TCP_FIN 0x01
#define SIM_TCP_SYN 0x02
#define SIM_TCP_RST 0x04
#define SIM_TCP_PSH 0x08
#define SIM_TCP_ACK 0x10

/* Without timestamps 40 option bytes hold four SACK blocks (RFC 2018 §3). */
#define SIM_SEG_SACK_MAX 4
#define SIM_SEG_HDR_MAX  (14 + 20 + 60)

struct sim_seg {
        uint8_t smac[6], dmac[6];
        uint32_t saddr, daddr; /* IPv4, host order */
        uint16_t sport, dport;
        uint16_t ip_id;
        uint32_t seq, ack;
        uint8_t flags; /* SIM_TCP_* */
        uint16_t wnd;  /* as on the wire (not scaled) */
        /* Options. */
        uint16_t mss;                       /* 0: absent */
        int8_t wscale;                      /* -1: absent */
        bool sack_ok;                       /* SACK-permitted */
        uint8_t nsack;                      /* SACK blocks */
        uint32_t sack[SIM_SEG_SACK_MAX][2]; /* left, right edges */
        /* Payload: parse points into the frame; build copies from it, or,
         * when it is NULL, expects len bytes already at sim_seg__hdr_len. */
        const uint8_t *payload;
        uint16_t len;
};

/* Why a frame is not a segment. */
enum sim_seg_err {
        SIM_SEG_OK = 0,
        SIM_SEG_NOT_TCP = -1,   /* not Ethernet/IPv4/TCP */
        SIM_SEG_MALFORMED = -2, /* truncated, bad lengths or options */
        SIM_SEG_BAD_CSUM = -3,  /* IPv4 header or TCP checksum wrong */
};

void sim_seg__init(struct sim_seg *s);
/* Bytes of headers (Ethernet, IPv4, TCP with options) the segment needs. */
size_t sim_seg__hdr_len(const struct sim_seg *s);
/* The frame's length, or 0 when cap is too small. */
size_t sim_seg__build(const struct sim_seg *s, uint8_t *buf, size_t cap);
enum sim_seg_err sim_seg__parse(struct sim_seg *s, const uint8_t *frame, size_t len);
/* Sequence space the segment occupies: payload, SYN and FIN. */
uint32_t sim_seg__seq_len(const struct sim_seg *s);

/* Sequence number comparisons modulo 2^32 (RFC 9293 §3.4). */
static inline bool sim_seq__lt(uint32_t a, uint32_t b)
{
        return (int32_t)(a - b) < 0;
}

static inline bool sim_seq__le(uint32_t a, uint32_t b)
{
        return (int32_t)(a - b) <= 0;
}

#endif
