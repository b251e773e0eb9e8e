/*
 * Frame builders for the unit tests: Ethernet with up to three VLAN tags,
 * IPv4 (with options, any flags/fragment field) or IPv6 (optionally behind a
 * hop-by-hop header), TCP (with options) or UDP, every checksum correct, and
 * padding after the datagram. The Internet checksum (RFC 1071) is here too so
 * tests can check a frame's checksums after the code under test rewrote it.
 * Test-only: nothing here is shared with the product.
 */
#ifndef MQTTLB_TESTS_FRAMES_H
#define MQTTLB_TESTS_FRAMES_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_MAX 2048

struct fspec {
        uint8_t family; /* 4 or 6 */
        uint8_t dmac[6], smac[6];
        uint16_t ethertype;    /* 0: from family */
        uint16_t vlan_tpid[3]; /* outer first; 0 ends the list */
        uint16_t vlan_tci[3];
        uint8_t saddr[16], daddr[16];
        uint8_t proto;  /* 0: TCP; 17: UDP; anything else: 8 raw bytes */
        uint16_t frag;  /* IPv4 flags and fragment offset field */
        uint8_t ip_opt; /* IPv4 option bytes (a multiple of 4, at most 40) */
        bool v6_hbh;    /* IPv6: an 8-byte hop-by-hop header before L4 */
        uint16_t ip_id;
        uint16_t sport, dport;
        uint32_t seq, ack;
        uint8_t flags;   /* TCP flags; 0: ACK */
        uint8_t tcp_opt; /* TCP option bytes (a multiple of 4, at most 40) */
        const void *payload;
        uint16_t plen;
        uint16_t pad; /* bytes after the IP datagram (Ethernet padding) */
};

static inline void frames_put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static inline void frames_put32(uint8_t *p, uint32_t v)
{
        frames_put16(p, (uint16_t)(v >> 16));
        frames_put16(p + 2, (uint16_t)v);
}

/* RFC 1071: the 16-bit one's complement sum of b[0..len), added to sum. */
static inline uint64_t csum_add(uint64_t sum, const void *b, size_t len)
{
        const uint8_t *p = b;
        size_t i;

        for (i = 0; i + 1 < len; i += 2)
                sum += (uint64_t)(p[i] << 8 | p[i + 1]);
        if (len & 1)
                sum += (uint64_t)p[len - 1] << 8;
        return sum;
}

/* Folds and complements: the value for the checksum field, or 0 when the
 * summed bytes include a correct checksum. */
static inline uint16_t csum_fold(uint64_t sum)
{
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

/* The IPv4 header checksum over the header at ip: 0 when correct. */
static inline uint16_t frames_ipv4_csum(const uint8_t *ip)
{
        return csum_fold(csum_add(0, ip, (size_t)(ip[0] & 0x0f) * 4));
}

/* The TCP/UDP checksum of the segment l4[0..l4_len) with its pseudo-header
 * (RFC 793 3.1, RFC 8200 8.1) taken from the IP header at ip: 0 when correct. */
static inline uint16_t frames_l4_csum(const uint8_t *ip, uint8_t family, uint8_t proto,
                                      const uint8_t *l4, uint32_t l4_len)
{
        uint64_t sum = 0;

        if (family == 4)
                sum = csum_add(sum, ip + 12, 8);
        else
                sum = csum_add(sum, ip + 8, 32);
        sum += proto;
        sum += l4_len; /* v6: the upper 16 bits are zero for our sizes */
        return csum_fold(csum_add(sum, l4, l4_len));
}

/* Builds the frame into f (FRAME_MAX bytes); returns its length. The offsets
 * it used are stored in *l3, *l4 (when not NULL). */
static inline uint32_t frame_build_at(uint8_t *f, const struct fspec *s, uint32_t *l3_out,
                                      uint32_t *l4_out)
{
        uint8_t proto = s->proto ? s->proto : 6;
        uint32_t off = 12, l3, l4, l4_len, ip_hl, ext = 0;
        uint8_t *ip, *l4p;

        memset(f, 0, FRAME_MAX);
        memcpy(f, s->dmac, 6);
        memcpy(f + 6, s->smac, 6);
        for (int i = 0; i < 3 && s->vlan_tpid[i]; i++) {
                frames_put16(f + off, s->vlan_tpid[i]);
                frames_put16(f + off + 2, s->vlan_tci[i]);
                off += 4;
        }
        frames_put16(f + off, s->ethertype ? s->ethertype : (s->family == 4 ? 0x0800 : 0x86dd));
        l3 = off + 2;
        ip = f + l3;
        if (proto == 6)
                l4_len = 20u + s->tcp_opt + s->plen;
        else if (proto == 17)
                l4_len = 8u + s->plen;
        else
                l4_len = 8u;
        if (s->family == 4) {
                ip_hl = 20u + s->ip_opt;
                ip[0] = (uint8_t)(0x40 | ip_hl / 4);
                frames_put16(ip + 2, (uint16_t)(ip_hl + l4_len));
                frames_put16(ip + 4, s->ip_id);
                frames_put16(ip + 6, s->frag);
                ip[8] = 64;
                ip[9] = proto;
                memcpy(ip + 12, s->saddr, 4);
                memcpy(ip + 16, s->daddr, 4);
                memset(ip + 20, 1, s->ip_opt); /* NOP options */
                frames_put16(ip + 10, frames_ipv4_csum(ip));
        } else {
                ip_hl = 40;
                ext = s->v6_hbh ? 8 : 0;
                ip[0] = 0x60;
                frames_put16(ip + 4, (uint16_t)(ext + l4_len));
                ip[6] = s->v6_hbh ? 0 : proto;
                ip[7] = 64;
                memcpy(ip + 8, s->saddr, 16);
                memcpy(ip + 24, s->daddr, 16);
                if (ext) { /* next header, length 0, PadN of 4 (RFC 8200 4.2) */
                        ip[40] = proto;
                        ip[42] = 1;
                        ip[43] = 4;
                }
        }
        l4 = l3 + ip_hl + ext;
        l4p = f + l4;
        if (proto == 6) {
                frames_put16(l4p, s->sport);
                frames_put16(l4p + 2, s->dport);
                frames_put32(l4p + 4, s->seq);
                frames_put32(l4p + 8, s->ack);
                l4p[12] = (uint8_t)((20u + s->tcp_opt) / 4 << 4);
                l4p[13] = s->flags ? s->flags : 0x10;
                frames_put16(l4p + 14, 65535);
                memset(l4p + 20, 1, s->tcp_opt);
                if (s->plen)
                        memcpy(l4p + 20 + s->tcp_opt, s->payload, s->plen);
                frames_put16(l4p + 16, frames_l4_csum(ip, s->family, 6, l4p, l4_len));
        } else if (proto == 17) {
                frames_put16(l4p, s->sport);
                frames_put16(l4p + 2, s->dport);
                frames_put16(l4p + 4, (uint16_t)l4_len);
                if (s->plen)
                        memcpy(l4p + 8, s->payload, s->plen);
                frames_put16(l4p + 6, frames_l4_csum(ip, s->family, 17, l4p, l4_len));
        } else {
                memset(l4p, 0xab, 8);
        }
        if (l3_out)
                *l3_out = l3;
        if (l4_out)
                *l4_out = l4;
        return l4 + l4_len + s->pad;
}

static inline uint32_t frame_build(uint8_t *f, const struct fspec *s)
{
        return frame_build_at(f, s, NULL, NULL);
}

static inline void frames_addr(uint8_t family, const char *text, uint8_t out[16])
{
        memset(out, 0, 16);
        if (inet_pton(family == 4 ? AF_INET : AF_INET6, text, out) != 1)
                abort(); /* a typo in a test */
}

/* A plain TCP segment from src:sport to dst:dport with fixed MACs. */
static inline struct fspec fspec_tcp(uint8_t family, const char *src, uint16_t sport,
                                     const char *dst, uint16_t dport)
{
        struct fspec s = {
            .family = family,
            .dmac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
            .smac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02},
            .sport = sport,
            .dport = dport,
            .seq = 0x01020304,
            .ack = 0x0a0b0c0d,
            .ip_id = 0x1234,
        };

        frames_addr(family, src, s.saddr);
        frames_addr(family, dst, s.daddr);
        return s;
}

/* The same segment going the other way (what packet__swap should produce). */
static inline struct fspec fspec_swapped(const struct fspec *s)
{
        struct fspec r = *s;

        memcpy(r.dmac, s->smac, 6);
        memcpy(r.smac, s->dmac, 6);
        memcpy(r.saddr, s->daddr, 16);
        memcpy(r.daddr, s->saddr, 16);
        r.sport = s->dport;
        r.dport = s->sport;
        return r;
}

/* An ARP request (RFC 826) for 10.0.0.1 from 10.0.0.2: 42 bytes. */
static inline uint32_t frame_arp(uint8_t *f)
{
        static const uint8_t arp[42] = {
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
            10,   0,    0,    2,    0,    0,    0,    0,    0,    0,    10,   0,    0,    1,
        };

        memset(f, 0, FRAME_MAX);
        memcpy(f, arp, sizeof(arp));
        return sizeof(arp);
}

/* "45 00 ..." (spaces allowed) into out; returns the byte count. */
static inline uint32_t frames_hex(const char *hex, uint8_t *out)
{
        uint32_t n = 0;

        while (*hex) {
                unsigned v;

                if (*hex == ' ' || *hex == '\n') {
                        hex++;
                        continue;
                }
                if (sscanf(hex, "%2x", &v) != 1)
                        abort();
                out[n++] = (uint8_t)v;
                hex += 2;
        }
        return n;
}

#endif
