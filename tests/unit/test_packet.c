/*
 * The frame parser and the swap (core/tcp/packet.h): offsets, ports and family of
 * IPv4/IPv6 TCP with and without VLAN tags, options and padding; every
 * truncation of every fixture parsed from a buffer of exactly that length (a
 * heap copy for ASan and a copy placed against a guard page, so an over-read
 * faults in any build); each malformed length, protocol and fragment case to
 * its reason; and the swap checked byte for byte against the frame built the
 * other way, with both checksums recomputed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/tcp/packet.h"
#include "frames.h"

/*
 * Fixtures checked independently of frames.h: built with Python's struct
 * module and confirmed by `tcpdump -vv` ("cksum 0x3c6f (correct)",
 * "cksum 0x566d (correct)"). 10.0.0.2:40000 > 10.0.0.1:1883, ACK, DF,
 * payload "MQTT"; and the same over IPv6 fd00::2 > fd00::1.
 */
static const char HEX_TCP4[] =
    "02 00 00 00 00 01 02 00 00 00 00 02 08 00 45 00 00 2c 12 34 40 00 40 06 14 96 0a 00 00 02"
    "0a 00 00 01 9c 40 07 5b 01 02 03 04 0a 0b 0c 0d 50 10 ff ff 3c 6f 00 00 4d 51 54 54";
static const char HEX_TCP6[] =
    "02 00 00 00 00 01 02 00 00 00 00 02 86 dd 60 00 00 00 00 18 06 40 fd 00 00 00 00 00 00 00"
    "00 00 00 00 00 00 00 02 fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 9c 40 07 5b 01 02"
    "03 04 0a 0b 0c 0d 50 10 ff ff 56 6d 00 00 4d 51 54 54";

static struct fspec spec4(void)
{
        struct fspec s = fspec_tcp(4, "10.0.0.2", 40000, "10.0.0.1", 1883);

        s.frag = 0x4000; /* DF */
        s.payload = "MQTT";
        s.plen = 4;
        return s;
}

static struct fspec spec6(void)
{
        struct fspec s = fspec_tcp(6, "fd00::2", 40000, "fd00::1", 1883);

        s.payload = "MQTT";
        s.plen = 4;
        return s;
}

/* A page followed by an inaccessible one: frames copied to its end. */
static uint8_t *guard_page(void)
{
        static uint8_t *page;
        long size = sysconf(_SC_PAGESIZE);

        if (!page) {
                page = mmap(NULL, (size_t)size * 2, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                assert_true(page != MAP_FAILED);
                assert_int_equal(mprotect(page + size, (size_t)size, PROT_NONE), 0);
        }
        return page + size;
}

/*
 * Parses f[0..len) from a heap copy of exactly len bytes and from a copy
 * ending at a guard page; both must agree. Returns the result and the packet.
 */
static enum packet_err parse_exact(const uint8_t *f, uint32_t len, struct packet *m)
{
        uint8_t *heap = malloc(len ? len : 1), *end = guard_page();
        struct packet a, b;
        enum packet_err ea, eb;

        assert_non_null(heap);
        memcpy(heap, f, len);
        memset(&a, 0xee, sizeof(a));
        memset(&b, 0xee, sizeof(b));
        /* len 0: the heap copy has one byte but the parser may read none */
        ea = packet__parse(heap, len, &a);
        memcpy(end - len, f, len);
        eb = packet__parse(end - len, len, &b);
        free(heap);
        assert_int_equal(ea, eb);
        if (ea == PACKET_OK)
                assert_memory_equal(&a, &b, sizeof(a));
        if (m)
                *m = a;
        return ea;
}

static void assert_packet(const struct packet *m, uint8_t family, uint16_t l3, uint16_t l4,
                          uint16_t payload, uint16_t end, uint16_t sport, uint16_t dport)
{
        assert_int_equal(m->family, family);
        assert_int_equal(m->l3, l3);
        assert_int_equal(m->l4, l4);
        assert_int_equal(m->payload, payload);
        assert_int_equal(m->end, end);
        assert_int_equal(m->sport, sport);
        assert_int_equal(m->dport, dport);
}

static void checksum_and_builder_match_references(void **state)
{
        (void)state;
        static const uint8_t rfc1071[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
        uint8_t want[FRAME_MAX], got[FRAME_MAX];
        struct fspec s4 = spec4(), s6 = spec6();
        uint32_t n;

        /* RFC 1071 section 3: the sum is ddf2, so the checksum is ~ddf2 */
        assert_int_equal(csum_fold(csum_add(0, rfc1071, sizeof(rfc1071))), 0x220d);
        n = frames_hex(HEX_TCP4, want);
        assert_int_equal(n, 58);
        assert_int_equal(frame_build(got, &s4), n);
        assert_memory_equal(got, want, n);
        n = frames_hex(HEX_TCP6, want);
        assert_int_equal(n, 78);
        assert_int_equal(frame_build(got, &s6), n);
        assert_memory_equal(got, want, n);
}

static void ipv4_tcp(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct fspec s = spec4();
        uint32_t n;

        n = frames_hex(HEX_TCP4, f);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 4, 14, 34, 54, 58, 40000, 1883);

        /* IP options (IHL 8) and TCP options (doff 10) move l4 and payload */
        s.ip_opt = 12;
        s.tcp_opt = 20;
        n = frame_build(f, &s);
        assert_int_equal(n, 14 + 32 + 40 + 4);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 4, 14, 46, 86, 90, 40000, 1883);

        /* no payload, ports at the extremes */
        s = spec4();
        s.plen = 0;
        s.sport = 65535;
        s.dport = 1;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 4, 14, 34, 54, 54, 65535, 1);
}

static void ipv6_tcp(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct fspec s = spec6();
        uint32_t n;

        n = frames_hex(HEX_TCP6, f);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 6, 14, 54, 74, 78, 40000, 1883);

        s.tcp_opt = 12;
        s.sport = 1883;
        s.dport = 50001;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 6, 14, 54, 86, 90, 1883, 50001);
}

static void padding_is_not_datagram(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct fspec s = spec4();
        uint32_t n;

        /* 58 bytes padded to the 60-byte Ethernet minimum */
        s.pad = 2;
        n = frame_build(f, &s);
        assert_int_equal(n, 60);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 4, 14, 34, 54, 58, 40000, 1883);

        s = spec6();
        s.pad = 17;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 6, 14, 54, 74, 78, 40000, 1883);

        /* cutting into the padding only is still a whole datagram */
        for (uint32_t len = 78; len <= n; len++) {
                assert_int_equal(parse_exact(f, len, &m), PACKET_OK);
                assert_int_equal(m.end, 78);
        }
}

static void vlan_tags(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct fspec s = spec4();
        uint32_t n;

        s.vlan_tpid[0] = 0x8100;
        s.vlan_tci[0] = 100;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 4, 18, 38, 58, 62, 40000, 1883);

        /* QinQ: 802.1ad outer, 802.1Q inner */
        s.vlan_tpid[0] = 0x88a8;
        s.vlan_tpid[1] = 0x8100;
        s.vlan_tci[1] = 200;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 4, 22, 42, 62, 66, 40000, 1883);

        /* two 802.1Q tags are accepted the same way */
        s.vlan_tpid[0] = 0x8100;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_int_equal(m.l3, 22);

        s = spec6();
        s.vlan_tpid[0] = 0x88a8;
        s.vlan_tpid[1] = 0x8100;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 6, 22, 62, 82, 86, 40000, 1883);

        /* a third tag is more than the redirector passes: not IP for us */
        s = spec4();
        s.vlan_tpid[0] = 0x88a8;
        s.vlan_tpid[1] = 0x8100;
        s.vlan_tpid[2] = 0x8100;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_IP);
        s.vlan_tpid[2] = 0x88a8;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_IP);
}

/* Every cut of a valid TCP frame short of its datagram's end is truncated. */
static void every_truncation_point(void **state)
{
        (void)state;
        struct fspec specs[6];
        uint8_t f[FRAME_MAX];

        specs[0] = spec4();
        specs[1] = spec6();
        specs[2] = spec4();
        specs[2].ip_opt = 8;
        specs[2].tcp_opt = 12;
        specs[3] = spec4();
        specs[3].vlan_tpid[0] = 0x88a8;
        specs[3].vlan_tpid[1] = 0x8100;
        specs[4] = spec6();
        specs[4].vlan_tpid[0] = 0x8100;
        specs[4].tcp_opt = 40;
        specs[5] = spec6();
        specs[5].plen = 0;
        specs[5].pad = 6;
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
                uint32_t n = frame_build(f, &specs[i]), end = n - specs[i].pad;
                struct packet m;

                assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
                assert_int_equal(m.end, end);
                for (uint32_t len = 0; len < end; len++) {
                        enum packet_err e = parse_exact(f, len, NULL);

                        if (e != PACKET_TRUNCATED)
                                fail_msg("fixture %zu cut at %u of %u: %d, not truncated", i, len,
                                         n, e);
                }
        }

        /* a frame that is not IP is known as such once its EtherType is in */
        uint32_t n = frame_arp(f);

        for (uint32_t len = 0; len <= n; len++)
                assert_int_equal(parse_exact(f, len, NULL),
                                 len < 14 ? PACKET_TRUNCATED : PACKET_NOT_IP);
}

static void bad_lengths_are_truncated(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct fspec s = spec4();
        uint32_t n = frame_build(f, &s);
        uint8_t *ip = f + 14, *tcp = f + 34;

        assert_int_equal(parse_exact(f, n, NULL), PACKET_OK);

        ip[0] = 0x44; /* IHL 4: shorter than the fixed header */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        ip[0] = 0x40; /* IHL 0 */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        ip[0] = 0x47; /* IHL 7: the TCP header no longer fits in the datagram */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        ip[0] = 0x4f; /* IHL 15: 60 bytes of header in a 44-byte datagram */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        ip[0] = 0x45;

        frames_put16(ip + 2, 45); /* total length one past the frame */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(ip + 2, 65535);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(ip + 2, 19); /* shorter than its own header */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(ip + 2, 39); /* one byte short of a TCP header */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(ip + 2, 40); /* exactly a TCP header: payload cut to nothing */
        {
                struct packet m;

                assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
                assert_packet(&m, 4, 14, 34, 54, 54, 40000, 1883);
        }
        frames_put16(ip + 2, 44);

        tcp[12] = 4 << 4; /* doff 4 */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        tcp[12] = 0;
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        tcp[12] = 6 << 4; /* 24 bytes of TCP header in a 24-byte segment: fits */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_OK);
        tcp[12] = 7 << 4; /* 28 > 24: beyond the datagram */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        tcp[12] = 15 << 4;
        assert_int_equal(parse_exact(f, n + 100, NULL), PACKET_TRUNCATED); /* not the frame */
        tcp[12] = 5 << 4;

        ip[0] = 0x65; /* IPv6 version under the IPv4 EtherType */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);

        s = spec6();
        n = frame_build(f, &s);
        ip = f + 14;
        tcp = f + 54;
        frames_put16(ip + 4, 25); /* payload length one past the frame */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(ip + 4, 19); /* no room for a TCP header */
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(ip + 4, 0);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(ip + 4, 24);
        tcp[12] = 4 << 4;
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        tcp[12] = 7 << 4;
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        tcp[12] = 5 << 4;
        ip[0] = 0x40;
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
}

static void not_tcp_and_fragments(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct fspec s = spec4();
        uint32_t n;

        s.proto = 47; /* GRE */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_TCP);
        s.proto = 1; /* ICMP, but not a destination unreachable (type 0xab) */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_TCP);
        s = spec6();
        s.proto = 47;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_TCP);
        /* an extension header before TCP: the redirector passes those */
        s = spec6();
        s.v6_hbh = true;
        n = frame_build(f, &s);
        assert_int_equal(f[14 + 6], 0);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_TCP);

        s = spec4();
        s.frag = 0x0000; /* no flags */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        s.frag = 0x4000; /* DF alone */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_int_equal(m.dport, 1883);
        s.frag = 0x2000; /* MF: the first fragment */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_FRAGMENT);
        s.frag = 0x0001; /* offset 8: a later fragment */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_FRAGMENT);
        s.frag = 0x1fff; /* the largest offset, last fragment */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_FRAGMENT);
        s.frag = 0x6000; /* DF and MF together */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_FRAGMENT);
        s.frag = 0x8000; /* the reserved bit is not a fragment */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_OK);
        /* the protocol is looked at first: a GRE fragment is not ours, a
         * UDP fragment is a fragment (userspace cannot reassemble it) */
        s.frag = 0x2000;
        s.proto = 47;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_TCP);
        s.proto = 17;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_FRAGMENT);
}

/* UDP: the header's length bounds the datagram (bytes after it are
 * padding), and must fit the IP datagram. */
static void udp(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct fspec s = spec4();
        uint32_t n;

        s.proto = 17;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_int_equal(m.proto, 17);
        assert_packet(&m, 4, 14, 34, 42, (uint16_t)(42 + s.plen), 40000, 1883);
        /* a UDP length shorter than the IP payload: the rest is not the datagram's */
        frames_put16(f + 34 + 4, 8 + 2);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_int_equal(m.end, 34 + 8 + 2);
        /* longer than the IP payload, or shorter than its header: truncated */
        frames_put16(f + 34 + 4, (uint16_t)(8 + s.plen + 1));
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        frames_put16(f + 34 + 4, 7);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_TRUNCATED);
        /* a header cut short */
        s.plen = 0;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n - 1, NULL), PACKET_TRUNCATED);
        s = spec6();
        s.proto = 17;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_packet(&m, 6, 14, 54, 62, (uint16_t)(62 + s.plen), 40000, 1883);
}

/* An ICMP destination unreachable quoting a UDP datagram: the ports are the
 * quoted datagram's, swapped into a reply's direction. */
static void icmp_errors(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX], in[FRAME_MAX];
        struct packet m;
        struct fspec s = spec4(), o = spec4();
        uint32_t n, ni;

        /* the datagram we sent: 10.20.0.1:2000 -> 10.20.0.31:5000 */
        o.proto = 17;
        o.sport = 2000;
        o.dport = 5000;
        ni = frame_build(in, &o);
        s.proto = 1;
        n = frame_build(f, &s); /* 14 + 20 + 8: the ICMP header then the quote */
        f[34] = 3;              /* destination unreachable */
        f[35] = 3;              /* port unreachable */
        memcpy(f + 42, in + 14, 28);
        n = 42 + 28;
        frames_put16(f + 16, (uint16_t)(n - 14));
        frames_put16(f + 24, 0);
        frames_put16(f + 24, frames_ipv4_csum(f + 14));
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_int_equal(m.proto, 1);
        assert_int_equal(m.payload, 42);
        assert_int_equal(m.sport, 5000);
        assert_int_equal(m.dport, 2000);
        /* the quote cut inside its UDP header: truncated */
        assert_int_equal(parse_exact(f, n - 1, NULL), PACKET_TRUNCATED);
        /* another ICMP type (echo request), or a quote of TCP: not ours */
        f[34] = 8;
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_TCP);
        f[34] = 3;
        f[42 + 9] = 6;
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_TCP);
        (void)ni;
}

static void not_ip(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct fspec s = spec4();
        uint32_t n = frame_arp(f);

        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_IP);
        s.ethertype = 0x88cc; /* LLDP */
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_IP);
        s.ethertype = 0x0806; /* ARP behind a VLAN tag */
        s.vlan_tpid[0] = 0x8100;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, NULL), PACKET_NOT_IP);
        s.ethertype = 0x0800; /* a frame of 14 bytes: its EtherType says IPv4 */
        s.vlan_tpid[0] = 0;
        frame_build(f, &s);
        assert_int_equal(parse_exact(f, 14, NULL), PACKET_TRUNCATED);
}

static void daddr_is_the_destination(void **state)
{
        (void)state;
        uint8_t f[FRAME_MAX];
        struct packet m;
        struct fspec s = spec4();
        uint32_t n;

        s.vlan_tpid[0] = 0x8100;
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_ptr_equal(packet__daddr(f, &m), f + 18 + 16);
        assert_memory_equal(packet__daddr(f, &m), s.daddr, 4);
        s = spec6();
        n = frame_build(f, &s);
        assert_int_equal(parse_exact(f, n, &m), PACKET_OK);
        assert_ptr_equal(packet__daddr(f, &m), f + 14 + 24);
        assert_memory_equal(packet__daddr(f, &m), s.daddr, 16);
}

/* Swaps a frame built from s; it must equal the frame built the other way,
 * keep valid checksums, and come back to the original when swapped again. */
static void check_swap(const struct fspec *s)
{
        uint8_t f[FRAME_MAX], want[FRAME_MAX], orig[FRAME_MAX];
        struct fspec r = fspec_swapped(s);
        struct packet m, m2;
        uint32_t n = frame_build(f, s);

        assert_int_equal(frame_build(want, &r), n);
        memcpy(orig, f, n);
        assert_int_equal(packet__parse(f, n, &m), PACKET_OK);
        packet__swap(f, &m);
        assert_memory_equal(f, want, n);
        if (s->family == 4)
                assert_int_equal(frames_ipv4_csum(f + m.l3), 0);
        assert_int_equal(frames_l4_csum(f + m.l3, s->family, 6, f + m.l4, (uint32_t)(m.end - m.l4)),
                         0);
        assert_int_equal(packet__parse(f, n, &m2), PACKET_OK);
        assert_int_equal(m2.sport, s->dport);
        assert_int_equal(m2.dport, s->sport);
        assert_memory_equal(packet__daddr(f, &m2), s->saddr, s->family == 4 ? 4 : 16);
        packet__swap(f, &m2);
        assert_memory_equal(f, orig, n);
}

static void swap_keeps_checksums(void **state)
{
        (void)state;
        static const char odd[] = "odd-length payload";
        struct fspec s = spec4();

        check_swap(&s);
        s.ip_opt = 4;
        s.tcp_opt = 8;
        s.payload = odd;
        s.plen = sizeof(odd) - 1;
        s.vlan_tpid[0] = 0x88a8;
        s.vlan_tpid[1] = 0x8100;
        s.pad = 3;
        check_swap(&s);
        s = fspec_tcp(4, "192.168.255.254", 65535, "1.2.3.4", 1);
        check_swap(&s);

        s = spec6();
        check_swap(&s);
        s.payload = odd;
        s.plen = sizeof(odd) - 1;
        s.tcp_opt = 12;
        s.vlan_tpid[0] = 0x8100;
        check_swap(&s);
        s = fspec_tcp(6, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 443, "fe80::1", 61000);
        check_swap(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(checksum_and_builder_match_references),
            cmocka_unit_test(ipv4_tcp),
            cmocka_unit_test(ipv6_tcp),
            cmocka_unit_test(padding_is_not_datagram),
            cmocka_unit_test(vlan_tags),
            cmocka_unit_test(every_truncation_point),
            cmocka_unit_test(bad_lengths_are_truncated),
            cmocka_unit_test(not_tcp_and_fragments),
            cmocka_unit_test(udp),
            cmocka_unit_test(icmp_errors),
            cmocka_unit_test(not_ip),
            cmocka_unit_test(daddr_is_the_destination),
            cmocka_unit_test(swap_keeps_checksums),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
