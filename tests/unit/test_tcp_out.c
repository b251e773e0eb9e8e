/*
 * The Internet checksum helpers (core/tcp/csum.h), the segment builders and the
 * SYN option parser (core/tcp/tcp_out.c).
 *
 * Checksums: every result is compared with the byte-wise reference in
 * frames.h (an independent implementation): the RFC 1071 and RFC 1624
 * examples; random buffers at every alignment, summed whole and in pieces;
 * the pseudo-headers; RFC 1624 eqn. 3 against a full recomputation for every
 * new 16-bit value over buffers whose old field is 0x0000, 0xffff, random, or
 * whose checksum is 0x0000; 32-bit fields and addresses on random data; and a
 * frame rewritten incrementally the way the splice does, which must come out
 * byte-identical to the frame built directly with the new header.
 *
 * Builders: each frame parsed back (core/tcp/packet.h) and every field checked,
 * options byte for byte, checksums recomputed, padding, VLAN tags; each
 * builder into every too-small buffer (exact-size heap copies: ASan sees any
 * overrun) and with bad arguments.
 *
 * Parser: the option lists of common stacks; every truncation of each list
 * (exact-size heap copies) against a model of which options are complete;
 * malformed lists; the data offset; random lists.
 *
 * If tcpdump is installed, the built frames are also written to a pcap and
 * tcpdump must call every checksum correct; without it that test is skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/tcp/csum.h"
#include "core/tcp/packet.h"
#include "core/tcp/tcp_out.h"
#include "frames.h"

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t *rng)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)splitmix64(rng);
}

static uint16_t be16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static uint16_t raw16(const uint8_t *p)
{
        uint16_t v;

        memcpy(&v, p, 2);
        return v;
}

static uint32_t raw32(const uint8_t *p)
{
        uint32_t v;

        memcpy(&v, p, 4);
        return v;
}

/* ------------------------------------------------------------------ */
/* csum.h                                                              */

static void csum_rfc_examples(void **state)
{
        /* RFC 1071 section 3: the sum of these bytes is ddf2 */
        static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

        assert_int_equal(ntohs(csum__fold16(csum__partial(b, sizeof(b), 0))), 0xddf2);
        assert_int_equal(ntohs(csum__fold(csum__partial(b, sizeof(b), 0))), 0x220d);
        /* in pieces of even length */
        assert_int_equal(ntohs(csum__fold16(csum__partial(b + 2, 6, csum__partial(b, 2, 0)))),
                         0xddf2);

        /*
         * RFC 1624 section 4: the other header words sum to 0xcd7a, m = 0x5555
         * becomes m' = 0x3285. HC = ~(0xcd7a + 0x5555) = 0xdd2f and the
         * recomputed HC' = ~(0xcd7a + 0x3285) = ~0xffff = 0x0000, where eqn. 2
         * gives 0xffff.
         */
        assert_int_equal(ntohs(csum__replace16(htons(0xdd2f), htons(0x5555), htons(0x3285))),
                         0x0000);
        assert_int_equal(
            ntohs(csum__replace32(htons(0xdd2f), htonl(0x00005555), htonl(0x00003285))), 0x0000);
}

static void csum_partial_matches_reference(void **state)
{
        uint8_t buf[320 + 8];
        uint64_t rng = 21;

        for (int n = 0; n < 5000; n++) {
                size_t off = splitmix64(&rng) % 8, len = splitmix64(&rng) % 321, cut;
                const uint8_t *p = buf + off;
                uint64_t s0 = splitmix64(&rng) | 1;
                uint16_t ref;

                fill_random(buf, sizeof(buf), &rng);
                if (n % 7 == 0) /* runs of 0xff and 0x00: the carries' worst cases */
                        memset(buf, n % 2 ? 0xff : 0x00, sizeof(buf));
                ref = csum_fold(csum_add(0, p, len));
                assert_int_equal(ntohs(csum__fold(csum__partial(p, len, 0))), ref);
                /* in two pieces, the first of even length */
                cut = len ? (splitmix64(&rng) % (len + 1)) & ~(size_t)1 : 0;
                assert_int_equal(
                    ntohs(csum__fold(csum__partial(p + cut, len - cut, csum__partial(p, cut, 0)))),
                    ref);
                /* any incoming partial sum is reduced, not overflowed */
                assert_int_equal(csum__fold16(csum__partial(p, len, s0)),
                                 csum__fold16((uint64_t)csum__fold16(s0) +
                                              csum__fold16(csum__partial(p, len, 0))));
        }
        /* 64 KiB of 0xff: the accumulator must not overflow */
        {
                size_t len = 65536;
                uint8_t *big = malloc(len);

                assert_non_null(big);
                memset(big, 0xff, len);
                assert_int_equal(ntohs(csum__fold(csum__partial(big, len, UINT64_MAX))),
                                 csum_fold(csum_add(0xffff, big, len)));
                free(big);
        }
}

static void csum_pseudo_headers(void **state)
{
        uint64_t rng = 22;

        for (int n = 0; n < 2000; n++) {
                uint8_t ph[40], s[16], d[16];
                uint16_t len16 = (uint16_t)splitmix64(&rng);
                uint32_t len32 = n % 2 ? len16 : (uint32_t)splitmix64(&rng);
                uint8_t proto = n % 3 ? 6 : (uint8_t)splitmix64(&rng);

                fill_random(s, 16, &rng);
                fill_random(d, 16, &rng);
                /* RFC 9293 section 3.1 */
                memcpy(ph, s, 4);
                memcpy(ph + 4, d, 4);
                ph[8] = 0;
                ph[9] = proto;
                frames_put16(ph + 10, len16);
                assert_int_equal(ntohs(csum__fold(csum__pseudo4(s, d, proto, len16))),
                                 csum_fold(csum_add(0, ph, 12)));
                /* RFC 8200 section 8.1 */
                memcpy(ph, s, 16);
                memcpy(ph + 16, d, 16);
                frames_put32(ph + 32, len32);
                memset(ph + 36, 0, 3);
                ph[39] = proto;
                assert_int_equal(ntohs(csum__fold(csum__pseudo6(s, d, proto, len32))),
                                 csum_fold(csum_add(0, ph, 40)));
        }
}

/* Raw checksum of a 40-byte buffer, by the reference. */
static uint16_t ref_raw(const uint8_t *b, size_t len)
{
        return htons(csum_fold(csum_add(0, b, len)));
}

/*
 * RFC 1624 eqn. 3 against recomputation, for every new value of a 16-bit
 * field. The buffer's first word is 0x0006 (like the pseudo-header's
 * protocol: a TCP sum is never over all-zero words).
 */
static void csum_replace16_exhaustive(void **state)
{
        uint64_t rng = 23;
        uint8_t b[40];

        for (int round = 0; round < 8; round++) {
                size_t f = 2 + 2 * (splitmix64(&rng) % 19);

                for (int variant = 0; variant < 4; variant++) {
                        uint16_t old;

                        fill_random(b, sizeof(b), &rng);
                        if (round % 2) /* mostly zero: sums near the edges */
                                memset(b, 0, sizeof(b));
                        b[0] = 0;
                        b[1] = 6;
                        if (variant == 0) {
                                old = 0x0000;
                        } else if (variant == 1) {
                                old = 0xffff;
                        } else if (variant == 2) {
                                old = (uint16_t)splitmix64(&rng);
                        } else { /* the value that makes the checksum 0x0000 */
                                uint16_t others;

                                memset(b + f, 0, 2);
                                others = (uint16_t)~csum_fold(csum_add(0, b, sizeof(b)));
                                old = (uint16_t)(0xffff - others);
                        }
                        frames_put16(b + f, old);
                        {
                                uint16_t check = ref_raw(b, sizeof(b)), from = raw16(b + f);

                                if (variant == 3)
                                        assert_int_equal(check, 0x0000);
                                for (uint32_t v = 0; v <= 0xffff; v++) {
                                        frames_put16(b + f, (uint16_t)v);
                                        assert_int_equal(csum__replace16(check, from, raw16(b + f)),
                                                         ref_raw(b, sizeof(b)));
                                }
                        }
                }
        }
}

static uint32_t pick32(uint64_t *rng)
{
        static const uint32_t edge[] = {0, 0xffffffff, 0x0000ffff, 0xffff0000, 1, 0xfffffffe};
        uint64_t r = splitmix64(rng);

        return r % 3 ? (uint32_t)(r >> 32) : edge[(r >> 8) % 6];
}

static void csum_replace32_random(void **state)
{
        uint64_t rng = 24;
        uint8_t b[40];

        for (int n = 0; n < 20000; n++) {
                size_t f = 2 + 2 * (splitmix64(&rng) % 18); /* 2-aligned, not always 4 */
                uint32_t old = pick32(&rng), to = pick32(&rng);
                uint16_t check;

                fill_random(b, sizeof(b), &rng);
                if (n % 5 == 0)
                        memset(b, 0, sizeof(b));
                b[0] = 0;
                b[1] = 6;
                frames_put32(b + f, old);
                check = ref_raw(b, sizeof(b));
                frames_put32(b + f, to);
                assert_int_equal(csum__replace32(check, htonl(old), htonl(to)),
                                 ref_raw(b, sizeof(b)));
        }
}

static void csum_replace_addr_random(void **state)
{
        uint64_t rng = 25;
        uint8_t b[60], from[16], to[16];

        for (int n = 0; n < 20000; n++) {
                size_t alen = n % 2 ? 16 : 4;
                size_t f = 2 + 2 * (splitmix64(&rng) % ((sizeof(b) - 2 - alen) / 2 + 1));
                uint16_t check;

                fill_random(b, sizeof(b), &rng);
                fill_random(to, sizeof(to), &rng);
                if (n % 5 == 0)
                        memset(to, n % 10 ? 0xff : 0, sizeof(to));
                b[0] = 0;
                b[1] = 6;
                memcpy(from, b + f, alen);
                check = ref_raw(b, sizeof(b));
                memcpy(b + f, to, alen);
                assert_int_equal(csum__replace_addr(check, from, to, alen), ref_raw(b, sizeof(b)));
        }
}

/* ------------------------------------------------------------------ */
/* builders                                                            */

static struct tcp_out_hdr hdr(uint8_t family)
{
        struct tcp_out_hdr h = {
            .family = family,
            .src_mac = {0x02, 0, 0, 0, 0, 0x01},
            .dst_mac = {0x02, 0, 0, 0, 0, 0x02},
            .sport = 1883,
            .dport = 40000,
            .seq = 0xdeadbeef,
            .ack = 0x01020305,
            .window = 0xfedc,
            .tos = 0x28,
            .ip_id = 0x4242,
        };

        frames_addr(family, family == 4 ? "198.51.100.1" : "2001:db8::1", h.saddr);
        frames_addr(family, family == 4 ? "192.0.2.7" : "2001:db8::7", h.daddr);
        return h;
}

/* Parses the frame back and checks every field against what was asked. */
static void check_frame(const uint8_t *f, int len, const struct tcp_out_hdr *h, uint8_t flags,
                        const uint8_t *opt, size_t olen, const void *payload, size_t plen)
{
        uint8_t ttl = h->ttl ? h->ttl : 64;
        struct packet m;
        const uint8_t *ip, *t;

        assert_true(len >= 60);
        assert_int_equal(packet__parse(f, (uint32_t)len, &m), PACKET_OK);
        assert_int_equal(m.family, h->family);
        assert_int_equal(len, m.end < 60 ? 60 : m.end);
        for (int i = m.end; i < len; i++)
                assert_int_equal(f[i], 0);

        assert_memory_equal(f, h->dst_mac, 6);
        assert_memory_equal(f + 6, h->src_mac, 6);
        for (unsigned i = 0; i < h->n_vlans; i++) {
                assert_int_equal(be16(f + 12 + 4 * i), h->vlan_tpid[i]);
                assert_int_equal(be16(f + 14 + 4 * i), h->vlan_tci[i]);
        }
        assert_int_equal(m.l3, 14 + 4 * h->n_vlans);
        assert_int_equal(be16(f + m.l3 - 2), h->family == 4 ? 0x0800 : 0x86dd);

        ip = f + m.l3;
        if (h->family == 4) {
                assert_int_equal(ip[0], 0x45);
                assert_int_equal(ip[1], h->tos);
                assert_int_equal(be16(ip + 2), m.end - m.l3);
                assert_int_equal(be16(ip + 4), h->ip_id);
                assert_int_equal(be16(ip + 6), 0x4000);
                assert_int_equal(ip[8], ttl);
                assert_int_equal(ip[9], 6);
                assert_memory_equal(ip + 12, h->saddr, 4);
                assert_memory_equal(ip + 16, h->daddr, 4);
                assert_int_equal(frames_ipv4_csum(ip), 0);
        } else {
                assert_int_equal(be32(ip), 6u << 28 | (uint32_t)h->tos << 20);
                assert_int_equal(be16(ip + 4), m.end - m.l4);
                assert_int_equal(ip[6], 6);
                assert_int_equal(ip[7], ttl);
                assert_memory_equal(ip + 8, h->saddr, 16);
                assert_memory_equal(ip + 24, h->daddr, 16);
        }

        t = f + m.l4;
        assert_int_equal(m.sport, h->sport);
        assert_int_equal(m.dport, h->dport);
        assert_int_equal(be32(t + 4), h->seq);
        assert_int_equal(be32(t + 8), flags & TCP_OUT_ACK ? h->ack : 0);
        assert_int_equal(t[12], (20 + olen) / 4 << 4);
        assert_int_equal(t[13], flags);
        assert_int_equal(be16(t + 14), h->window);
        assert_int_equal(be16(t + 18), 0);
        assert_int_equal(m.payload - m.l4, 20 + olen);
        if (olen)
                assert_memory_equal(t + 20, opt, olen);
        assert_int_equal(m.end - m.payload, plen);
        if (plen)
                assert_memory_equal(f + m.payload, payload, plen);
        assert_int_equal(frames_l4_csum(ip, h->family, 6, t, (uint32_t)(m.end - m.l4)), 0);
}

/* The options we expect in a SYN or SYN-ACK, spelled out byte by byte. */
static size_t expected_syn_opts(uint8_t *o, uint16_t mss, uint8_t ws, bool sack)
{
        size_t n = 0;

        o[n++] = 2;
        o[n++] = 4;
        o[n++] = (uint8_t)(mss >> 8);
        o[n++] = (uint8_t)mss;
        if (sack) {
                memcpy(o + n, (uint8_t[]){1, 1, 4, 2}, 4);
                n += 4;
        }
        if (ws != TCP_WSCALE_NONE) {
                memcpy(o + n, (uint8_t[]){1, 3, 3, ws}, 4);
                n += 4;
        }
        return n;
}

static void set_vlans(struct tcp_out_hdr *h, unsigned n)
{
        h->n_vlans = (uint8_t)n;
        h->vlan_tpid[0] = n == 2 ? 0x88a8 : 0x8100;
        h->vlan_tci[0] = 0x0064;
        h->vlan_tpid[1] = 0x8100;
        h->vlan_tci[1] = 0x20c8;
}

/* One SYN or SYN-ACK, checked field by field and read back by our parser. */
static void check_syn(uint8_t fam, unsigned vlans, const struct tcp_out_syn_opts *o, bool syn)
{
        struct tcp_out_hdr h = hdr(fam);
        uint8_t f[256], opt[12];
        size_t olen = expected_syn_opts(opt, o->mss, o->wscale, o->sack_ok);
        struct tcp_syn_opts got;
        struct packet m;
        int len;

        set_vlans(&h, vlans);
        h.ttl = (uint8_t)(vlans * 50); /* 0: the default */
        memset(f, 0xa5, sizeof(f));
        len = syn ? tcp_out__syn(f, sizeof(f), &h, o) : tcp_out__synack(f, sizeof(f), &h, o);
        check_frame(f, len, &h, syn ? TCP_OUT_SYN : TCP_OUT_SYN | TCP_OUT_ACK, opt, olen, NULL, 0);
        assert_int_equal(packet__parse(f, (uint32_t)len, &m), PACKET_OK);
        assert_int_equal(tcp_opts__parse(f + m.l4, (size_t)(m.end - m.l4), &got), 0);
        assert_true(got.mss_ok);
        assert_int_equal(got.mss, o->mss);
        assert_int_equal(got.wscale, o->wscale);
        assert_int_equal(got.sack_ok, o->sack_ok);
        assert_false(got.ts_ok);
}

static void syn_and_synack_every_option(void **state)
{
        static const uint16_t msses[] = {536, 1460, 3698};
        static const uint8_t wss[] = {TCP_WSCALE_NONE, 0, 7, 14};

        /* family x VLAN tags x MSS x window scale x SACK x SYN or SYN-ACK */
        for (unsigned i = 0; i < 2 * 3 * 3 * 4 * 2 * 2; i++) {
                struct tcp_out_syn_opts o = {
                    .mss = msses[i / 4 % 3],
                    .wscale = wss[i / 12 % 4],
                    .sack_ok = i / 48 % 2,
                };

                check_syn(i % 2 ? 6 : 4, i / 96 % 3, &o, i / 2 % 2);
        }
}

static void ack_with_sack_blocks(void **state)
{
        const struct tcp_sack_block blocks[5] = {
            {0x10000000, 0x10000100},
            {0x20000000, 0x20000200},
            {0xfffffff0, 0x00000010},
            {5, 6},
            {7, 8},
        };
        uint8_t f[256], opt[40];

        for (int fam = 4; fam <= 6; fam += 2) {
                for (unsigned n = 0; n <= 4; n++) {
                        struct tcp_out_hdr h = hdr((uint8_t)fam);
                        size_t olen = 0;
                        int len;

                        if (n) {
                                memcpy(opt, (uint8_t[]){1, 1, 5, (uint8_t)(2 + 8 * n)}, 4);
                                for (unsigned i = 0; i < n; i++) {
                                        frames_put32(opt + 4 + 8 * i, blocks[i].start);
                                        frames_put32(opt + 8 + 8 * i, blocks[i].end);
                                }
                                olen = 4 + 8 * n;
                        }
                        len = tcp_out__ack(f, sizeof(f), &h, blocks, n);
                        check_frame(f, len, &h, TCP_OUT_ACK, opt, olen, NULL, 0);
                }
                {
                        struct tcp_out_hdr h = hdr((uint8_t)fam);

                        assert_int_equal(tcp_out__ack(f, sizeof(f), &h, blocks, 5), -EINVAL);
                }
        }
}

static void rst_with_and_without_ack(void **state)
{
        uint8_t f[128];

        for (int fam = 4; fam <= 6; fam += 2) {
                struct tcp_out_hdr h = hdr((uint8_t)fam);
                int len;

                h.window = 0;
                len = tcp_out__rst(f, sizeof(f), &h, false);
                check_frame(f, len, &h, TCP_OUT_RST, NULL, 0, NULL, 0);
                h.seq = 0;
                len = tcp_out__rst(f, sizeof(f), &h, true);
                check_frame(f, len, &h, TCP_OUT_RST | TCP_OUT_ACK, NULL, 0, NULL, 0);
        }
}

/* A data segment into f (4096 bytes), built from a separate payload and
 * from a payload already in place: the same frame either way. */
static void check_data(uint8_t *f, uint8_t fam, unsigned vlans, const uint8_t *payload, size_t plen,
                       bool fin)
{
        struct tcp_out_hdr h = hdr(fam);
        uint8_t flags = TCP_OUT_ACK | (plen ? TCP_OUT_PSH : 0) | (fin ? TCP_OUT_FIN : 0);
        int len;

        set_vlans(&h, vlans);
        memset(f, 0xa5, 4096);
        len = tcp_out__data(f, 4096, &h, payload, plen, fin);
        check_frame(f, len, &h, flags, NULL, 0, payload, plen);
        memset(f, 0xa5, 4096);
        memcpy(f + tcp_out__data_offset(&h), payload, plen);
        len = tcp_out__data(f, 4096, &h, f + tcp_out__data_offset(&h), plen, fin);
        check_frame(f, len, &h, flags, NULL, 0, payload, plen);
}

static void data_payloads(void **state)
{
        static const size_t sizes[] = {0, 1, 2, 3, 5, 6, 7, 100, 1220, 1460, 3698};
        uint8_t *f = malloc(4096), payload[3698];
        uint64_t rng = 26;
        int len;

        assert_non_null(f);
        fill_random(payload, sizeof(payload), &rng);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                for (unsigned k = 0; k < 8; k++) /* family x FIN x no or two VLAN tags */
                        check_data(f, k % 2 ? 6 : 4, k / 4 * 2, payload, sizes[i], k / 2 % 2);
        /* a payload overlapping the header area is moved before the headers
         * are written */
        {
                struct tcp_out_hdr h = hdr(4);

                memcpy(f + 10, payload, 100);
                len = tcp_out__data(f, 4096, &h, f + 10, 100, false);
                check_frame(f, len, &h, TCP_OUT_ACK | TCP_OUT_PSH, NULL, 0, payload, 100);
        }
        free(f);
}

static void short_frames_padded(void **state)
{
        uint8_t f[128];
        struct tcp_out_hdr h4 = hdr(4), h6 = hdr(6);
        struct packet m;

        memset(f, 0xa5, sizeof(f));
        assert_int_equal(tcp_out__ack(f, sizeof(f), &h4, NULL, 0), 60);
        assert_int_equal(packet__parse(f, 60, &m), PACKET_OK);
        assert_int_equal(m.end, 54);
        for (int i = 54; i < 60; i++)
                assert_int_equal(f[i], 0);
        assert_int_equal(f[60], 0xa5); /* nothing past the frame */
        assert_int_equal(tcp_out__data(f, sizeof(f), &h4, "x", 1, false), 60);
        assert_int_equal(tcp_out__data(f, sizeof(f), &h4, "0123456", 7, false), 61);
        assert_int_equal(tcp_out__ack(f, sizeof(f), &h6, NULL, 0), 74);
}

static void bad_arguments(void **state)
{
        uint8_t *f = malloc(70000);
        struct tcp_out_hdr h = hdr(4);
        struct tcp_out_syn_opts o = {.mss = 1460, .wscale = 15};

        assert_non_null(f);
        memset(f, 0, 70000);
        assert_int_equal(tcp_out__synack(f, 70000, &h, &o), -EINVAL); /* wscale > 14 */
        o.wscale = 14;
        assert_true(tcp_out__synack(f, 70000, &h, &o) > 0);
        h.family = 5;
        assert_int_equal(tcp_out__synack(f, 70000, &h, &o), -EINVAL);
        assert_int_equal(tcp_out__rst(f, 70000, &h, false), -EINVAL);
        h = hdr(6);
        h.n_vlans = 3;
        assert_int_equal(tcp_out__ack(f, 70000, &h, NULL, 0), -EINVAL);
        /* the datagram length fields are 16 bits */
        h = hdr(4);
        assert_int_equal(tcp_out__data(f, 70000, &h, f + 1000, 65535 - 40, false), 14 + 65535);
        assert_int_equal(tcp_out__data(f, 70000, &h, f + 1000, 65535 - 39, false), -EMSGSIZE);
        h = hdr(6);
        assert_int_equal(tcp_out__data(f, 70000, &h, f + 1000, 65535 - 20, false), 14 + 40 + 65535);
        assert_int_equal(tcp_out__data(f, 70000, &h, f + 1000, 65535 - 19, false), -EMSGSIZE);
        assert_int_equal(tcp_out__data(f, 70000, &h, f + 1000, (size_t)1 << 40, false), -EMSGSIZE);
        free(f);
}

/* One of each builder into a buffer of cap bytes. */
static int build_kind(int kind, uint8_t *f, size_t cap, const struct tcp_out_hdr *h)
{
        static const struct tcp_out_syn_opts o = {.mss = 1460, .wscale = 7, .sack_ok = true};
        static const struct tcp_sack_block b[4] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}};
        static const uint8_t payload[100] = {1, 2, 3};

        switch (kind) {
        case 0: return tcp_out__synack(f, cap, h, &o);
        case 1: return tcp_out__syn(f, cap, h, &o);
        case 2: return tcp_out__ack(f, cap, h, NULL, 0);
        case 3: return tcp_out__ack(f, cap, h, b, 4);
        case 4: return tcp_out__rst(f, cap, h, true);
        case 5: return tcp_out__data(f, cap, h, payload, sizeof(payload), true);
        default: return tcp_out__data(f, cap, h, payload, 1, false);
        }
}

static void small_buffers(void **state)
{
        for (int fam = 4; fam <= 6; fam += 2)
                for (unsigned v = 0; v <= 2; v++)
                        for (int kind = 0; kind < 7; kind++) {
                                struct tcp_out_hdr h = hdr((uint8_t)fam);
                                uint8_t big[512], *f;
                                int need;

                                set_vlans(&h, v);
                                need = build_kind(kind, big, sizeof(big), &h);
                                assert_true(need >= 60);
                                for (int cap = 0; cap < need; cap++) {
                                        f = malloc(cap ? (size_t)cap : 1);
                                        assert_non_null(f);
                                        memset(f, 0xa5, cap ? (size_t)cap : 1);
                                        assert_int_equal(build_kind(kind, f, (size_t)cap, &h),
                                                         -ENOSPC);
                                        for (int i = 0; i < cap; i++)
                                                assert_int_equal(f[i], 0xa5);
                                        free(f);
                                }
                                f = malloc((size_t)need);
                                assert_non_null(f);
                                assert_int_equal(build_kind(kind, f, (size_t)need, &h), need);
                                assert_memory_equal(f, big, (size_t)need);
                                free(f);
                        }
}

/*
 * The splice's use of csum.h: a frame built for one header, rewritten in
 * place to another (addresses, ports, sequence and acknowledgement numbers,
 * window, MACs) with incremental checksum updates only, must equal the frame
 * built directly for the new header.
 */
static void rewrite_incrementally_equals_rebuild(void **state)
{
        uint64_t rng = 27;

        for (int n = 0; n < 2000; n++) {
                uint8_t fam = n % 2 ? 6 : 4, a[256], b[256], payload[64];
                struct tcp_out_hdr h1 = hdr(fam), h2;
                size_t plen = splitmix64(&rng) % sizeof(payload), alen = fam == 4 ? 4 : 16;
                uint8_t *ip, *t;
                uint16_t tc, ic, v16;
                uint32_t v32;
                int la, lb;

                fill_random(payload, sizeof(payload), &rng);
                fill_random(h1.saddr, alen, &rng);
                fill_random(h1.daddr, alen, &rng);
                h1.seq = pick32(&rng);
                h1.ack = pick32(&rng);
                h1.window = (uint16_t)pick32(&rng);
                h2 = h1;
                fill_random(h2.saddr, alen, &rng);
                fill_random(h2.daddr, alen, &rng);
                if (n % 4 == 0)
                        memset(h2.daddr, 0xff, alen);
                fill_random(h2.src_mac, 6, &rng);
                h2.sport = (uint16_t)pick32(&rng);
                h2.dport = (uint16_t)pick32(&rng);
                h2.seq = pick32(&rng);
                h2.ack = pick32(&rng);
                h2.window = (uint16_t)pick32(&rng);

                la = tcp_out__data(a, sizeof(a), &h1, payload, plen, n % 3 == 0);
                lb = tcp_out__data(b, sizeof(b), &h2, payload, plen, n % 3 == 0);
                assert_int_equal(la, lb);

                ip = a + 14;
                t = ip + (fam == 4 ? 20 : 40);
                tc = raw16(t + 16);
                ic = fam == 4 ? raw16(ip + 10) : 0;
                memcpy(a + 6, h2.src_mac, 6);
                if (fam == 4) {
                        tc = csum__replace_addr(tc, ip + 12, h2.saddr, 4);
                        ic = csum__replace_addr(ic, ip + 12, h2.saddr, 4);
                        memcpy(ip + 12, h2.saddr, 4);
                        tc = csum__replace_addr(tc, ip + 16, h2.daddr, 4);
                        ic = csum__replace_addr(ic, ip + 16, h2.daddr, 4);
                        memcpy(ip + 16, h2.daddr, 4);
                        memcpy(ip + 10, &ic, 2);
                } else {
                        tc = csum__replace_addr(tc, ip + 8, h2.saddr, 16);
                        memcpy(ip + 8, h2.saddr, 16);
                        tc = csum__replace_addr(tc, ip + 24, h2.daddr, 16);
                        memcpy(ip + 24, h2.daddr, 16);
                }
                v16 = htons(h2.sport);
                tc = csum__replace16(tc, raw16(t), v16);
                memcpy(t, &v16, 2);
                v16 = htons(h2.dport);
                tc = csum__replace16(tc, raw16(t + 2), v16);
                memcpy(t + 2, &v16, 2);
                v32 = htonl(h2.seq);
                tc = csum__replace32(tc, raw32(t + 4), v32);
                memcpy(t + 4, &v32, 4);
                v32 = htonl(h2.ack);
                tc = csum__replace32(tc, raw32(t + 8), v32);
                memcpy(t + 8, &v32, 4);
                v16 = htons(h2.window);
                tc = csum__replace16(tc, raw16(t + 14), v16);
                memcpy(t + 14, &v16, 2);
                memcpy(t + 16, &tc, 2);
                assert_memory_equal(a, b, (size_t)la);
        }
}

/* ------------------------------------------------------------------ */
/* option parser                                                       */

enum effect { E_NONE, E_MSS, E_WS, E_SACK, E_TS, E_EOL };

struct tok {
        uint8_t len;
        uint8_t b[10];
        enum effect e;
};

struct list_fixture {
        const char *name;
        struct tok toks[12];
        int n;
};

#define NOP                    \
        {                      \
                1, {1}, E_NONE \
        }
#define EOL                   \
        {                     \
                1, {0}, E_EOL \
        }
#define MSS(v)                                       \
        {                                            \
                4, {2, 4, (v) >> 8, (v)&0xff}, E_MSS \
        }
#define WS(s)                      \
        {                          \
                3, {3, 3, s}, E_WS \
        }
#define SACKOK                    \
        {                         \
                2, {4, 2}, E_SACK \
        }
#define TS(a, b, c, d)                                    \
        {                                                 \
                10, {8, 10, 0, 0, a, b, 0, 0, c, d}, E_TS \
        }

static const struct list_fixture LISTS[] = {
    {"linux", {MSS(1460), SACKOK, TS(0x12, 0x34, 0, 0), NOP, WS(7)}, 5},
    {"windows", {MSS(1460), NOP, WS(8), NOP, NOP, SACKOK}, 6},
    {"macos", {MSS(1460), NOP, WS(6), NOP, NOP, TS(0xab, 0xcd, 0, 0), SACKOK, EOL, EOL}, 9},
    {"ours", {MSS(3698), NOP, NOP, SACKOK, NOP, WS(14)}, 6},
    {"unknown, sack blocks and a big shift",
     {{6, {0xfe, 6, 0xaa, 0xbb, 0xcc, 0xdd}, E_NONE},
      {10, {5, 10, 0, 0, 0, 1, 0, 0, 0, 2}, E_NONE},
      WS(15),
      MSS(536)},
     4},
    {"EOL then garbage", {MSS(1220), EOL, {4, {2, 0, 0xff, 0xff}, E_NONE}}, 3},
    {"wrong lengths ignored",
     {{3, {2, 3, 5}, E_NONE},
      {5, {3, 5, 1, 2, 3}, E_NONE},
      {3, {4, 3, 0}, E_NONE},
      {8, {8, 8, 1, 2, 3, 4, 5, 6}, E_NONE},
      MSS(1400)},
     5},
};

static size_t list_bytes(const struct list_fixture *l, uint8_t *out)
{
        size_t n = 0;

        for (int i = 0; i < l->n; i++) {
                memcpy(out + n, l->toks[i].b, l->toks[i].len);
                n += l->toks[i].len;
        }
        return n;
}

/* What a parse of the first k bytes must give: the options complete within
 * them, up to an EOL; -EINVAL if the cut falls inside an option. */
static int model(const struct list_fixture *l, size_t k, struct tcp_syn_opts *o)
{
        size_t pos = 0;

        memset(o, 0, sizeof(*o));
        o->wscale = TCP_WSCALE_NONE;
        for (int i = 0; i < l->n; i++) {
                const struct tok *t = &l->toks[i];

                if (pos + t->len > k)
                        return pos < k ? -EINVAL : 0;
                switch (t->e) {
                case E_MSS:
                        o->mss_ok = true;
                        o->mss = be16(t->b + 2);
                        break;
                case E_WS: o->wscale = t->b[2] > 14 ? 14 : t->b[2]; break;
                case E_SACK: o->sack_ok = true; break;
                case E_TS:
                        o->ts_ok = true;
                        o->ts_val = be32(t->b + 2);
                        o->ts_ecr = be32(t->b + 6);
                        break;
                case E_EOL: return 0;
                case E_NONE: break;
                }
                pos += t->len;
        }
        return 0;
}

static void assert_opts_equal(const struct tcp_syn_opts *a, const struct tcp_syn_opts *b)
{
        assert_int_equal(a->mss_ok, b->mss_ok);
        if (a->mss_ok)
                assert_int_equal(a->mss, b->mss);
        assert_int_equal(a->wscale, b->wscale);
        assert_int_equal(a->sack_ok, b->sack_ok);
        assert_int_equal(a->ts_ok, b->ts_ok);
        if (a->ts_ok) {
                assert_int_equal(a->ts_val, b->ts_val);
                assert_int_equal(a->ts_ecr, b->ts_ecr);
        }
}

static void opts_known_stacks(void **state)
{
        uint8_t b[64];
        struct tcp_syn_opts o;

        assert_int_equal(tcp_opts__parse_list(b, list_bytes(&LISTS[0], b), &o), 0);
        assert_true(o.mss_ok && o.sack_ok && o.ts_ok);
        assert_int_equal(o.mss, 1460);
        assert_int_equal(o.wscale, 7);
        assert_int_equal(o.ts_val, 0x1234);
        assert_int_equal(o.ts_ecr, 0);

        assert_int_equal(tcp_opts__parse_list(b, list_bytes(&LISTS[1], b), &o), 0);
        assert_true(o.mss_ok && o.sack_ok && !o.ts_ok);
        assert_int_equal(o.wscale, 8);

        assert_int_equal(tcp_opts__parse_list(b, list_bytes(&LISTS[2], b), &o), 0);
        assert_true(o.mss_ok && o.sack_ok && o.ts_ok);
        assert_int_equal(o.wscale, 6);
        assert_int_equal(o.ts_val, 0xabcd);

        assert_int_equal(tcp_opts__parse_list(b, list_bytes(&LISTS[4], b), &o), 0);
        assert_int_equal(o.wscale, 14); /* RFC 7323 2.3 */
        assert_int_equal(o.mss, 536);
        assert_false(o.sack_ok);

        assert_int_equal(tcp_opts__parse_list(b, list_bytes(&LISTS[5], b), &o), 0);
        assert_int_equal(o.mss, 1220);

        assert_int_equal(tcp_opts__parse_list(b, list_bytes(&LISTS[6], b), &o), 0);
        assert_true(o.mss_ok);
        assert_int_equal(o.mss, 1400);
        assert_int_equal(o.wscale, TCP_WSCALE_NONE);
        assert_false(o.sack_ok || o.ts_ok);

        /* nothing at all */
        assert_int_equal(tcp_opts__parse_list(b, 0, &o), 0);
        assert_false(o.mss_ok || o.sack_ok || o.ts_ok);
        assert_int_equal(o.wscale, TCP_WSCALE_NONE);
}

static void opts_every_truncation(void **state)
{
        for (size_t i = 0; i < sizeof(LISTS) / sizeof(LISTS[0]); i++) {
                uint8_t full[64];
                size_t len = list_bytes(&LISTS[i], full);

                for (size_t k = 0; k <= len; k++) {
                        uint8_t *b = malloc(k ? k : 1);
                        struct tcp_syn_opts got, want;
                        int err = model(&LISTS[i], k, &want);

                        assert_non_null(b);
                        memcpy(b, full, k);
                        assert_int_equal(tcp_opts__parse_list(b, k, &got), err);
                        assert_opts_equal(&got, &want);
                        free(b);
                }
        }
}

static void opts_malformed(void **state)
{
        static const struct {
                uint8_t b[12];
                uint8_t len;
                int err;
                bool mss_ok;
        } cases[] = {
            {{2, 0, 5, 0xb4}, 4, -EINVAL, false},                 /* length 0 */
            {{2, 1, 5, 0xb4}, 4, -EINVAL, false},                 /* length 1 */
            {{1, 1, 0xfe, 0}, 4, -EINVAL, false},                 /* unknown, length 0 */
            {{2, 8, 5, 0xb4}, 4, -EINVAL, false},                 /* past the end */
            {{2, 4, 5, 0xb4, 3, 4, 7}, 7, -EINVAL, true},         /* after a good MSS */
            {{2, 4, 5, 0xb4, 8}, 5, -EINVAL, true},               /* kind, no length */
            {{2, 4, 5, 0xb4, 3, 0xff}, 6, -EINVAL, true},         /* length 255 */
            {{2, 3, 5, 1}, 4, 0, false},                          /* MSS of 3 bytes */
            {{2, 5, 5, 0xb4, 0, 1, 1, 1}, 8, 0, false},           /* MSS of 5 bytes */
            {{2, 2, 1, 1}, 4, 0, false},                          /* MSS of 2 bytes */
            {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 12, 0, false}, /* all NOP */
            {{0, 2, 0, 4}, 4, 0, false},                          /* EOL first */
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint8_t *b = malloc(cases[i].len);
                struct tcp_syn_opts o;

                assert_non_null(b);
                memcpy(b, cases[i].b, cases[i].len);
                assert_int_equal(tcp_opts__parse_list(b, cases[i].len, &o), cases[i].err);
                assert_int_equal(o.mss_ok, cases[i].mss_ok);
                if (o.mss_ok)
                        assert_int_equal(o.mss, 1460);
                free(b);
        }
}

/* The data offset bounds the list; the header bounds the data offset. */
static void opts_header(void **state)
{
        const struct list_fixture *l = &LISTS[0]; /* 20 option bytes: doff 10 */
        uint8_t seg[60] = {0}, *b;
        struct tcp_syn_opts o, want;
        size_t olen = list_bytes(l, seg + 20);

        seg[12] = (uint8_t)((20 + olen) / 4 << 4);
        model(l, olen, &want);
        for (size_t len = 0; len <= sizeof(seg); len++) {
                b = malloc(len ? len : 1);
                assert_non_null(b);
                memcpy(b, seg, len);
                if (len < 20 + olen) {
                        assert_int_equal(tcp_opts__parse(b, len, &o), -EINVAL);
                        assert_false(o.mss_ok);
                } else {
                        assert_int_equal(tcp_opts__parse(b, len, &o), 0);
                        assert_opts_equal(&o, &want);
                }
                free(b);
        }
        /* data offsets below 5 words are malformed; 5 means no options */
        for (uint8_t d = 0; d < 5; d++) {
                seg[12] = (uint8_t)(d << 4);
                assert_int_equal(tcp_opts__parse(seg, sizeof(seg), &o), -EINVAL);
        }
        seg[12] = 5 << 4;
        assert_int_equal(tcp_opts__parse(seg, sizeof(seg), &o), 0);
        assert_false(o.mss_ok);
        /* a shorter data offset cuts the list: here inside the timestamp */
        seg[12] = 7 << 4;
        assert_int_equal(tcp_opts__parse(seg, sizeof(seg), &o), -EINVAL);
        assert_true(o.mss_ok && o.sack_ok && !o.ts_ok);
}

static void opts_random(void **state)
{
        static const uint8_t kinds[] = {0, 1, 2, 3, 4, 5, 8, 0xfe};
        uint64_t rng = 28;

        for (int n = 0; n < 200000; n++) {
                size_t len = splitmix64(&rng) % 41;
                uint8_t *b = malloc(len ? len : 1);
                struct tcp_syn_opts o;
                int err;

                assert_non_null(b);
                for (size_t i = 0; i < len; i++) {
                        uint64_t r = splitmix64(&rng);

                        /* mostly plausible kinds and small lengths */
                        b[i] = r % 4 == 0 ? (uint8_t)(r >> 8)
                               : i % 2    ? (uint8_t)(r >> 8) % 12
                                          : kinds[(r >> 8) % 8];
                }
                err = tcp_opts__parse_list(b, len, &o);
                assert_true(err == 0 || err == -EINVAL);
                assert_true(o.wscale <= 14 || o.wscale == TCP_WSCALE_NONE);
                free(b);
                if (n % 4 == 0) { /* a whole header with a random data offset */
                        uint8_t *s = malloc(len + 20);

                        assert_non_null(s);
                        fill_random(s, len + 20, &rng);
                        err = tcp_opts__parse(s, splitmix64(&rng) % (len + 21), &o);
                        assert_true(err == 0 || err == -EINVAL);
                        free(s);
                }
        }
}

/* ------------------------------------------------------------------ */
/* optional: tcpdump's opinion                                         */

static const char *find_tcpdump(void)
{
        static const char *paths[] = {"/usr/sbin/tcpdump", "/usr/bin/tcpdump", "/sbin/tcpdump"};

        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
                if (access(paths[i], X_OK) == 0)
                        return paths[i];
        return NULL;
}

static void pcap_put(FILE *fp, const uint8_t *f, int len)
{
        uint32_t rec[4] = {1, 0, (uint32_t)len, (uint32_t)len};

        assert_int_equal(fwrite(rec, sizeof(rec), 1, fp), 1);
        assert_int_equal(fwrite(f, (size_t)len, 1, fp), 1);
}

static void tcpdump_agrees(void **state)
{
        const char *tcpdump = find_tcpdump();
        const struct tcp_out_syn_opts o = {.mss = 1460, .wscale = 7, .sack_ok = true};
        const struct tcp_sack_block blocks[2] = {{1000, 2000}, {3000, 4000}};
        char path[] = "/tmp/test_tcp_out.XXXXXX", cmd[256], out[16384];
        /* pcap file header in native byte order: v2.4, snaplen 65535, Ethernet */
        const struct {
                uint32_t magic;
                uint16_t major, minor;
                uint32_t zone, sigfigs, snaplen, linktype;
        } gh = {0xa1b2c3d4, 2, 4, 0, 0, 65535, 1};
        struct tcp_out_hdr h4 = hdr(4), h6 = hdr(6);
        uint8_t f[512];
        size_t n = 0, got;
        int fd, frames = 0, correct = 0;
        FILE *fp, *p;

        if (!tcpdump)
                skip();
        fd = mkstemp(path);
        assert_true(fd >= 0);
        fp = fdopen(fd, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(&gh, sizeof(gh), 1, fp), 1);
        for (int i = 0; i < 2; i++) {
                struct tcp_out_hdr *h = i ? &h6 : &h4;

                pcap_put(fp, f, tcp_out__synack(f, sizeof(f), h, &o));
                pcap_put(fp, f, tcp_out__syn(f, sizeof(f), h, &o));
                pcap_put(fp, f, tcp_out__ack(f, sizeof(f), h, blocks, 2));
                pcap_put(fp, f, tcp_out__rst(f, sizeof(f), h, true));
                pcap_put(fp, f, tcp_out__data(f, sizeof(f), h, "hello, broker", 13, true));
                frames += 5;
        }
        set_vlans(&h4, 2);
        pcap_put(fp, f, tcp_out__data(f, sizeof(f), &h4, "x", 1, false));
        frames++;
        assert_int_equal(fclose(fp), 0);

        snprintf(cmd, sizeof(cmd), "%s -nn -vv -r %s 2>/dev/null", tcpdump, path);
        p = popen(cmd, "r");
        if (!p) {
                unlink(path);
                skip();
        }
        while ((got = fread(out + n, 1, sizeof(out) - 1 - n, p)) > 0)
                n += got;
        out[n] = 0;
        pclose(p);
        unlink(path);
        if (n == 0) /* tcpdump present but unable to run here */
                skip();
        for (const char *s = out; (s = strstr(s, "(correct)")); s++)
                correct++;
        assert_null(strstr(out, "incorrect"));
        assert_null(strstr(out, "bad cksum"));
        assert_int_equal(correct, frames);
        assert_non_null(strstr(out, "options [mss 1460,nop,nop,sackOK,nop,wscale 7]"));
        assert_non_null(strstr(out, "Flags [S.]"));
        assert_non_null(strstr(out, "Flags [R.]"));
        assert_non_null(strstr(out, "Flags [FP.]"));
        assert_non_null(strstr(out, "sack 2 "));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(csum_rfc_examples),
            cmocka_unit_test(csum_partial_matches_reference),
            cmocka_unit_test(csum_pseudo_headers),
            cmocka_unit_test(csum_replace16_exhaustive),
            cmocka_unit_test(csum_replace32_random),
            cmocka_unit_test(csum_replace_addr_random),
            cmocka_unit_test(syn_and_synack_every_option),
            cmocka_unit_test(ack_with_sack_blocks),
            cmocka_unit_test(rst_with_and_without_ack),
            cmocka_unit_test(data_payloads),
            cmocka_unit_test(short_frames_padded),
            cmocka_unit_test(bad_arguments),
            cmocka_unit_test(small_buffers),
            cmocka_unit_test(rewrite_incrementally_equals_rebuild),
            cmocka_unit_test(opts_known_stacks),
            cmocka_unit_test(opts_every_truncation),
            cmocka_unit_test(opts_malformed),
            cmocka_unit_test(opts_header),
            cmocka_unit_test(opts_random),
            cmocka_unit_test(tcpdump_agrees),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
