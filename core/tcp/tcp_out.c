/*
 * Segment builders and the SYN option parser (core/tcp/tcp_out.h).
 *
 * Owns the byte layout of what we send. Must not read anything but its
 * arguments, nor write outside buf[0..cap): every length is checked before
 * the first byte is written.
 */
#include "core/tcp/tcp_out.h"

#include <errno.h>
#include <string.h>

#include "core/tcp/csum.h"
#include "core/tcp/packet.h"
#include "core/tcp/syncookie.h"

_Static_assert(TCP_WSCALE_NONE == SYNCOOKIE_WSCALE_NONE, "a cookie's wscale passes through");
_Static_assert(TCP_WSCALE_MAX == SYNCOOKIE_WSCALE_MAX, "RFC 7323 section 2.3");

/* Option kinds (RFC 9293 section 3.1; RFC 7323; RFC 2018). */
#define OPT_EOL      0
#define OPT_NOP      1
#define OPT_MSS      2
#define OPT_WSCALE   3
#define OPT_SACK_OK  4
#define OPT_SACK     5
#define OPT_TS       8
#define OPT_MAX      40 /* 15 words of header less the 5 fixed ones */
#define TCP_HLEN     20
#define IPPROTO_TCP_ 6

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/*
 * Ethernet, VLAN tags and the IP header of a frame whose IP payload (proto)
 * is l4len bytes; returns the offset of that payload. IPv4 with DF when df.
 */
static size_t write_l2l3(uint8_t *buf, const struct tcp_out_hdr *h, uint8_t proto, size_t l4len,
                         bool df)
{
        size_t l2 = 14 + 4u * h->n_vlans, l3len = h->family == 4 ? 20 : 40;
        uint8_t *ip = buf + l2;
        uint16_t check;

        memcpy(buf, h->dst_mac, 6);
        memcpy(buf + 6, h->src_mac, 6);
        for (unsigned i = 0; i < h->n_vlans; i++) {
                packet__put16(buf + 12 + 4 * i, h->vlan_tpid[i]);
                packet__put16(buf + 14 + 4 * i, h->vlan_tci[i]);
        }
        packet__put16(buf + l2 - 2, h->family == 4 ? 0x0800 : 0x86dd);
        if (h->family == 4) { /* RFC 791 section 3.1 */
                ip[0] = 0x45;
                ip[1] = h->tos;
                packet__put16(ip + 2, (uint16_t)(l3len + l4len));
                packet__put16(ip + 4, h->ip_id);
                packet__put16(ip + 6, df ? 0x4000 : 0); /* offset 0 */
                ip[8] = h->ttl ? h->ttl : TCP_OUT_TTL_DEFAULT;
                ip[9] = proto;
                memset(ip + 10, 0, 2);
                memcpy(ip + 12, h->saddr, 4);
                memcpy(ip + 16, h->daddr, 4);
                check = csum__fold(csum__partial(ip, 20, 0));
                memcpy(ip + 10, &check, 2);
        } else { /* RFC 8200 section 3; flow label 0 */
                packet__put32(ip, 6u << 28 | (uint32_t)h->tos << 20);
                packet__put16(ip + 4, (uint16_t)l4len);
                ip[6] = proto;
                ip[7] = h->ttl ? h->ttl : TCP_OUT_TTL_DEFAULT;
                memcpy(ip + 8, h->saddr, 16);
                memcpy(ip + 24, h->daddr, 16);
        }
        return l2 + l3len;
}

/* The transport checksum of l4[0..l4len) under the frame's IP header. */
static uint16_t l4_check(const uint8_t *ip, uint8_t family, uint8_t proto, const uint8_t *l4,
                         size_t l4len)
{
        if (family == 4)
                return csum__fold(csum__partial(
                    l4, l4len, csum__pseudo4(ip + 12, ip + 16, proto, (uint16_t)l4len)));
        return csum__fold(
            csum__partial(l4, l4len, csum__pseudo6(ip + 8, ip + 24, proto, (uint32_t)l4len)));
}

/* The frame's length checks: 0, or why it cannot be built. */
static int frame_check(const struct tcp_out_hdr *h, size_t l4len, size_t cap, size_t *frame,
                       size_t *end)
{
        size_t l3len = h->family == 4 ? 20 : 40;

        if ((h->family != 4 && h->family != 6) || h->n_vlans > TCP_OUT_VLANS)
                return -EINVAL;
        /* IPv4 total length, IPv6 payload length: 16 bits each */
        if (l4len > UINT16_MAX || (h->family == 4 ? l3len : 0) + l4len > UINT16_MAX)
                return -EMSGSIZE;
        *end = 14 + 4u * h->n_vlans + l3len + l4len;
        *frame = *end < TCP_OUT_MIN_FRAME ? TCP_OUT_MIN_FRAME : *end;
        return cap < *frame ? -ENOSPC : 0;
}

/*
 * Writes the whole frame: Ethernet and VLAN tags, IP, TCP with opt[0..olen)
 * (a multiple of 4: every option list we build is NOP-aligned, so no EOL
 * padding is needed), payload, checksums, padding to the Ethernet minimum.
 */
static int build(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h, uint8_t flags,
                 const uint8_t *opt, size_t olen, const void *payload, size_t plen)
{
        size_t l4len = TCP_HLEN + olen + plen, end, frame, off;
        uint8_t *tcp;
        uint16_t check;
        int e;

        if (olen > OPT_MAX || olen % 4)
                return -EINVAL;
        if ((e = frame_check(h, l4len, cap, &frame, &end)))
                return e;
        tcp = buf + 14 + 4u * h->n_vlans + (h->family == 4 ? 20 : 40);
        if (plen) /* first: the payload may sit where the headers go */
                memmove(tcp + TCP_HLEN + olen, payload, plen);
        off = write_l2l3(buf, h, IPPROTO_TCP_, l4len, true); /* DF: RFC 6864 section 4.1 */

        /* RFC 9293 section 3.1 */
        packet__put16(tcp, h->sport);
        packet__put16(tcp + 2, h->dport);
        packet__put32(tcp + 4, h->seq);
        packet__put32(tcp + 8, flags & TCP_OUT_ACK ? h->ack : 0);
        tcp[12] = (uint8_t)((TCP_HLEN + olen) / 4 << 4);
        tcp[13] = flags;
        packet__put16(tcp + 14, h->window);
        memset(tcp + 16, 0, 4); /* checksum, urgent pointer */
        if (olen)
                memcpy(tcp + TCP_HLEN, opt, olen);
        check =
            l4_check(buf + off - (h->family == 4 ? 20 : 40), h->family, IPPROTO_TCP_, tcp, l4len);
        memcpy(tcp + 16, &check, 2);

        memset(buf + end, 0, frame - end);
        return (int)frame;
}

int udp_out__datagram(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h, const void *payload,
                      size_t plen)
{
        size_t l4len = UDP_HLEN + plen, end, frame, off;
        uint8_t *udp;
        uint16_t check;
        int e;

        if ((e = frame_check(h, l4len, cap, &frame, &end)))
                return e;
        udp = buf + 14 + 4u * h->n_vlans + (h->family == 4 ? 20 : 40);
        if (plen) /* first: the payload may sit where the headers go */
                memmove(udp + UDP_HLEN, payload, plen);
        off = write_l2l3(buf, h, IPPROTO_UDP_, l4len, false); /* routers may fragment it */
        /* RFC 768 */
        packet__put16(udp, h->sport);
        packet__put16(udp + 2, h->dport);
        packet__put16(udp + 4, (uint16_t)l4len);
        memset(udp + 6, 0, 2);
        check =
            l4_check(buf + off - (h->family == 4 ? 20 : 40), h->family, IPPROTO_UDP_, udp, l4len);
        if (!check) /* a computed 0 is sent as all ones (0 means none over IPv4) */
                check = 0xffff;
        memcpy(udp + 6, &check, 2);
        memset(buf + end, 0, frame - end);
        return (int)frame;
}

/*
 * MSS, then NOP NOP SACK-permitted, then NOP window scale: every option ends
 * on a 32-bit boundary (the NOP-padded layouts of RFC 7323 appendix A and
 * RFC 2018 section 3), so the list needs no EOL. At most 12 bytes.
 */
static int syn_opts(uint8_t *o, const struct tcp_out_syn_opts *so)
{
        int n = 0;

        if (so->wscale != TCP_WSCALE_NONE && so->wscale > TCP_WSCALE_MAX)
                return -EINVAL;
        o[n++] = OPT_MSS;
        o[n++] = 4;
        packet__put16(o + n, so->mss);
        n += 2;
        if (so->sack_ok) {
                o[n++] = OPT_NOP;
                o[n++] = OPT_NOP;
                o[n++] = OPT_SACK_OK;
                o[n++] = 2;
        }
        if (so->wscale != TCP_WSCALE_NONE) {
                o[n++] = OPT_NOP;
                o[n++] = OPT_WSCALE;
                o[n++] = 3;
                o[n++] = so->wscale;
        }
        return n;
}

int tcp_out__synack(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h,
                    const struct tcp_out_syn_opts *o)
{
        uint8_t opt[12];
        int n = syn_opts(opt, o);

        if (n < 0)
                return n;
        return build(buf, cap, h, TCP_OUT_SYN | TCP_OUT_ACK, opt, (size_t)n, NULL, 0);
}

int tcp_out__syn(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h,
                 const struct tcp_out_syn_opts *o)
{
        uint8_t opt[12];
        int n = syn_opts(opt, o);

        if (n < 0)
                return n;
        return build(buf, cap, h, TCP_OUT_SYN, opt, (size_t)n, NULL, 0);
}

int tcp_out__ack(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h,
                 const struct tcp_sack_block *sack, unsigned n)
{
        uint8_t opt[4 + 8 * TCP_OUT_SACK_MAX];

        if (n > TCP_OUT_SACK_MAX)
                return -EINVAL;
        if (!n)
                return build(buf, cap, h, TCP_OUT_ACK, NULL, 0, NULL, 0);
        /* NOP NOP SACK: the blocks 32-bit aligned (RFC 2018 section 3) */
        opt[0] = OPT_NOP;
        opt[1] = OPT_NOP;
        opt[2] = OPT_SACK;
        opt[3] = (uint8_t)(2 + 8 * n);
        for (unsigned i = 0; i < n; i++) {
                packet__put32(opt + 4 + 8 * i, sack[i].start);
                packet__put32(opt + 8 + 8 * i, sack[i].end);
        }
        return build(buf, cap, h, TCP_OUT_ACK, opt, 4 + 8 * n, NULL, 0);
}

int tcp_out__rst(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h, bool ack)
{
        return build(buf, cap, h, TCP_OUT_RST | (ack ? TCP_OUT_ACK : 0), NULL, 0, NULL, 0);
}

int tcp_out__data(uint8_t *buf, size_t cap, const struct tcp_out_hdr *h, const void *payload,
                  size_t len, bool fin)
{
        uint8_t flags = TCP_OUT_ACK | (len ? TCP_OUT_PSH : 0) | (fin ? TCP_OUT_FIN : 0);

        return build(buf, cap, h, flags, NULL, 0, payload, len);
}

static void syn_opts__reset(struct tcp_syn_opts *out)
{
        memset(out, 0, sizeof(*out));
        out->wscale = TCP_WSCALE_NONE;
}

int tcp_opts__parse_list(const uint8_t *opt, size_t len, struct tcp_syn_opts *out)
{
        size_t i = 0;

        syn_opts__reset(out);
        while (i < len) {
                uint8_t kind = opt[i], olen;

                if (kind == OPT_EOL) /* the rest is padding, whatever it holds */
                        break;
                if (kind == OPT_NOP) {
                        i++;
                        continue;
                }
                /* every other kind has a length octet counting kind and
                 * length (RFC 9293 section 3.1): below 2 it cannot advance */
                if (len - i < 2)
                        return -EINVAL;
                olen = opt[i + 1];
                if (olen < 2 || olen > len - i)
                        return -EINVAL;
                switch (kind) {
                case OPT_MSS:
                        if (olen == 4) {
                                out->mss = get16(opt + i + 2);
                                out->mss_ok = true;
                        }
                        break;
                case OPT_WSCALE:
                        if (olen == 3)
                                out->wscale =
                                    opt[i + 2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : opt[i + 2];
                        break;
                case OPT_SACK_OK:
                        if (olen == 2)
                                out->sack_ok = true;
                        break;
                case OPT_TS:
                        if (olen == 10) {
                                out->ts_val = get32(opt + i + 2);
                                out->ts_ecr = get32(opt + i + 6);
                                out->ts_ok = true;
                        }
                        break;
                default: /* unknown, or SACK blocks in a SYN: skipped (MUST-6) */ break;
                }
                i += olen;
        }
        return 0;
}

int tcp_opts__parse(const uint8_t *tcp, size_t len, struct tcp_syn_opts *out)
{
        size_t doff;

        syn_opts__reset(out);
        if (len < TCP_HLEN)
                return -EINVAL;
        doff = (size_t)(tcp[12] >> 4) * 4;
        if (doff < TCP_HLEN || doff > len)
                return -EINVAL;
        return tcp_opts__parse_list(tcp + TCP_HLEN, doff - TCP_HLEN, out);
}
