/*
 * Builds and parses the simulation's frames (sim_seg.h): Ethernet II, IPv4
 * without options, TCP with the MSS, window-scale, SACK-permitted and SACK
 * options (RFC 9293, RFC 7323, RFC 2018). The checksums are the RFC 1071
 * sum, written out byte by byte: slow and obviously right.
 */
#include "sim_seg.h"

#include <assert.h>
#include <string.h>

#define ETH_LEN  14
#define IPV4_LEN 20

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
        put16(p, (uint16_t)(v >> 16));
        put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* RFC 1071: the 16-bit one's complement sum of b[0..len), added to sum.
 * Summed in 32-bit big-endian words (2^16 = 1 modulo 2^16 - 1, so the fold
 * gives the same result as 16-bit words): the simulation sums every frame
 * three times. */
static uint64_t csum_add(uint64_t sum, const uint8_t *b, size_t len)
{
        size_t i;

        for (i = 0; i + 3 < len; i += 4)
                sum += (uint32_t)b[i] << 24 | (uint32_t)b[i + 1] << 16 | (uint32_t)b[i + 2] << 8 |
                       b[i + 3];
        for (; i + 1 < len; i += 2)
                sum += (uint64_t)(b[i] << 8 | b[i + 1]);
        if (len & 1)
                sum += (uint64_t)b[len - 1] << 8;
        return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

/* The TCP checksum over the IPv4 pseudo-header and tcp[0..len) (RFC 9293
 * §3.1): 0 when the bytes include a correct checksum. */
static uint16_t tcp_csum(const uint8_t *ip, const uint8_t *tcp, size_t len)
{
        uint8_t pseudo[12];

        memcpy(pseudo, ip + 12, 8);
        pseudo[8] = 0;
        pseudo[9] = 6;
        put16(pseudo + 10, (uint16_t)len);
        return csum_fold(csum_add(csum_add(0, pseudo, sizeof(pseudo)), tcp, len));
}

void sim_seg__init(struct sim_seg *s)
{
        memset(s, 0, sizeof(*s));
        s->wscale = -1;
}

static size_t opt_len(const struct sim_seg *s)
{
        size_t n = 0;

        if (s->mss)
                n += 4;
        if (s->wscale >= 0)
                n += 4; /* NOP, WS */
        if (s->sack_ok)
                n += 4; /* NOP, NOP, SACK-permitted */
        if (s->nsack)
                n += 4 + 8u * s->nsack; /* NOP, NOP, kind, len, blocks */
        return n;
}

size_t sim_seg__hdr_len(const struct sim_seg *s)
{
        return ETH_LEN + IPV4_LEN + 20 + opt_len(s);
}

uint32_t sim_seg__seq_len(const struct sim_seg *s)
{
        return s->len + !!(s->flags & SIM_TCP_SYN) + !!(s->flags & SIM_TCP_FIN);
}

size_t sim_seg__build(const struct sim_seg *s, uint8_t *buf, size_t cap)
{
        size_t olen = opt_len(s), thl = 20 + olen, hlen = ETH_LEN + IPV4_LEN + thl;
        size_t flen = hlen + s->len;
        uint8_t *ip = buf + ETH_LEN, *tcp = ip + IPV4_LEN, *o = tcp + 20;

        if (olen > 40 || s->nsack > SIM_SEG_SACK_MAX || flen > cap)
                return 0;
        if (s->payload)
                memmove(buf + hlen, s->payload, s->len);
        memcpy(buf, s->dmac, 6);
        memcpy(buf + 6, s->smac, 6);
        put16(buf + 12, 0x0800);

        ip[0] = 0x45;
        ip[1] = 0;
        put16(ip + 2, (uint16_t)(IPV4_LEN + thl + s->len));
        put16(ip + 4, s->ip_id);
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 6;
        put16(ip + 10, 0);
        put32(ip + 12, s->saddr);
        put32(ip + 16, s->daddr);
        put16(ip + 10, csum_fold(csum_add(0, ip, IPV4_LEN)));

        put16(tcp, s->sport);
        put16(tcp + 2, s->dport);
        put32(tcp + 4, s->seq);
        put32(tcp + 8, s->ack);
        tcp[12] = (uint8_t)((thl / 4) << 4);
        tcp[13] = s->flags;
        put16(tcp + 14, s->wnd);
        put16(tcp + 16, 0);
        put16(tcp + 18, 0);
        if (s->mss) {
                o[0] = 2;
                o[1] = 4;
                put16(o + 2, s->mss);
                o += 4;
        }
        if (s->wscale >= 0) {
                o[0] = 1;
                o[1] = 3;
                o[2] = 3;
                o[3] = (uint8_t)s->wscale;
                o += 4;
        }
        if (s->sack_ok) {
                o[0] = 1;
                o[1] = 1;
                o[2] = 4;
                o[3] = 2;
                o += 4;
        }
        if (s->nsack) {
                o[0] = 1;
                o[1] = 1;
                o[2] = 5;
                o[3] = (uint8_t)(2 + 8 * s->nsack);
                o += 4;
                for (unsigned i = 0; i < s->nsack; i++, o += 8) {
                        put32(o, s->sack[i][0]);
                        put32(o + 4, s->sack[i][1]);
                }
        }
        put16(tcp + 16, tcp_csum(ip, tcp, thl + s->len));
#ifndef NDEBUG
        {
                /* every frame it builds parses back, checksums right, as built */
                struct sim_seg back;

                assert(sim_seg__parse(&back, buf, flen) == SIM_SEG_OK);
                assert(back.seq == s->seq && back.ack == s->ack && back.len == s->len &&
                       back.flags == s->flags && back.nsack == s->nsack);
        }
#endif
        return flen;
}

static enum sim_seg_err parse_opts(struct sim_seg *s, const uint8_t *o, size_t len)
{
        size_t i = 0;

        while (i < len) {
                uint8_t kind = o[i], olen;

                if (kind == 0)
                        break;
                if (kind == 1) {
                        i++;
                        continue;
                }
                if (i + 1 >= len || (olen = o[i + 1]) < 2 || i + olen > len)
                        return SIM_SEG_MALFORMED;
                switch (kind) {
                case 2:
                        if (olen != 4)
                                return SIM_SEG_MALFORMED;
                        s->mss = get16(o + i + 2);
                        break;
                case 3:
                        if (olen != 3)
                                return SIM_SEG_MALFORMED;
                        s->wscale = (int8_t)(o[i + 2] > 14 ? 14 : o[i + 2]); /* RFC 7323 §2.3 */
                        break;
                case 4:
                        if (olen != 2)
                                return SIM_SEG_MALFORMED;
                        s->sack_ok = true;
                        break;
                case 5:
                        if ((olen - 2) % 8 || olen < 10 || (olen - 2) / 8 > SIM_SEG_SACK_MAX)
                                return SIM_SEG_MALFORMED;
                        s->nsack = (uint8_t)((olen - 2) / 8);
                        for (unsigned b = 0; b < s->nsack; b++) {
                                s->sack[b][0] = get32(o + i + 2 + 8 * b);
                                s->sack[b][1] = get32(o + i + 6 + 8 * b);
                        }
                        break;
                default: break; /* unknown options are skipped (RFC 9293 §3.1) */
                }
                i += olen;
        }
        return SIM_SEG_OK;
}

enum sim_seg_err sim_seg__parse(struct sim_seg *s, const uint8_t *frame, size_t len)
{
        const uint8_t *ip = frame + ETH_LEN, *tcp;
        size_t ihl, tot, thl;

        sim_seg__init(s);
        if (len < ETH_LEN + IPV4_LEN || get16(frame + 12) != 0x0800 || ip[0] >> 4 != 4)
                return SIM_SEG_NOT_TCP;
        ihl = (size_t)(ip[0] & 0x0f) * 4;
        tot = get16(ip + 2);
        if (ihl < IPV4_LEN || tot < ihl + 20 || ETH_LEN + tot > len)
                return SIM_SEG_MALFORMED;
        if (ip[9] != 6 || (get16(ip + 6) & 0x3fff))
                return SIM_SEG_NOT_TCP; /* not TCP, or a fragment */
        if (csum_fold(csum_add(0, ip, ihl)) != 0)
                return SIM_SEG_BAD_CSUM;
        tcp = ip + ihl;
        thl = (size_t)(tcp[12] >> 4) * 4;
        if (thl < 20 || ihl + thl > tot)
                return SIM_SEG_MALFORMED;
        if (tcp_csum(ip, tcp, tot - ihl) != 0)
                return SIM_SEG_BAD_CSUM;
        memcpy(s->dmac, frame, 6);
        memcpy(s->smac, frame + 6, 6);
        s->ip_id = get16(ip + 4);
        s->saddr = get32(ip + 12);
        s->daddr = get32(ip + 16);
        s->sport = get16(tcp);
        s->dport = get16(tcp + 2);
        s->seq = get32(tcp + 4);
        s->ack = get32(tcp + 8);
        s->flags = tcp[13] & 0x3f;
        s->wnd = get16(tcp + 14);
        s->payload = tcp + thl;
        s->len = (uint16_t)(tot - ihl - thl);
        return parse_opts(s, tcp + 20, thl - 20);
}
