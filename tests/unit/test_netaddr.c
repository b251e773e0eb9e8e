/*
 * Addresses as operators write them (core/util/netaddr.h): IPv4 and IPv6 with and
 * without a port, bracketed IPv6, the required-port rule, every way a port
 * or an address can be wrong (each rejected with a reason), printing and
 * parsing back, MAC addresses and port ranges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "core/util/netaddr.h"

static void expect_addr(const char *s, bool port_required, uint8_t family, const char *addr_hex,
                        uint16_t port)
{
        struct net_addr a;
        const char *why = NULL;
        uint8_t want[16] = {0};

        for (size_t i = 0; i < strlen(addr_hex) / 2; i++) {
                unsigned v;

                sscanf(addr_hex + 2 * i, "%2x", &v);
                want[i] = (uint8_t)v;
        }
        memset(&a, 0xee, sizeof(a)); /* every byte must be written */
        if (net_addr__parse(s, port_required, &a, &why))
                fail_msg("\"%s\" rejected: %s", s, why ? why : "(no reason)");
        assert_int_equal(a.ip.family, family);
        assert_memory_equal(a.ip.addr, want, 16);
        assert_int_equal(a.port, port);
}

/* Rejected, with a reason that contains `reason`. */
static void expect_bad(const char *s, bool port_required, const char *reason)
{
        struct net_addr a;
        const char *why = NULL;

        if (net_addr__parse(s, port_required, &a, &why) != -EINVAL)
                fail_msg("\"%s\" (port %s) accepted", s, port_required ? "required" : "optional");
        assert_non_null(why);
        if (!strstr(why, reason))
                fail_msg("\"%s\": reason \"%s\" does not say \"%s\"", s, why, reason);
}

static void ipv4_with_and_without_port(void **state)
{
        (void)state;
        expect_addr("10.0.0.1", false, 4, "0a000001", 0);
        expect_addr("10.0.0.1:1883", false, 4, "0a000001", 1883);
        expect_addr("10.0.0.1:1883", true, 4, "0a000001", 1883);
        expect_addr("255.255.255.255:65535", true, 4, "ffffffff", 65535);
        expect_addr("0.0.0.0:1", true, 4, "00000000", 1);
        expect_addr("192.168.1.20:08883", true, 4, "c0a80114", 8883); /* leading zero */
}

static void ipv6_bare_and_bracketed(void **state)
{
        (void)state;
        expect_addr("fd00::1", false, 6, "fd000000000000000000000000000001", 0);
        expect_addr("[fd00::1]:1883", false, 6, "fd000000000000000000000000000001", 1883);
        expect_addr("[fd00::1]:1883", true, 6, "fd000000000000000000000000000001", 1883);
        expect_addr("[fd00::1]", false, 6, "fd000000000000000000000000000001", 0);
        expect_addr("::", false, 6, "", 0);
        expect_addr("::1", false, 6, "00000000000000000000000000000001", 0);
        expect_addr("[::]:65535", true, 6, "", 65535);
        expect_addr("::ffff:10.0.0.1", false, 6, "00000000000000000000ffff0a000001", 0);
        expect_addr("2001:DB8::A:b", false, 6, "20010db80000000000000000000a000b", 0);
}

/* Without brackets the last group is part of the address, never a port. */
static void v6_tail_is_not_a_port(void **state)
{
        (void)state;
        expect_addr("fd00::1:1883", false, 6, "fd000000000000000000000000011883", 0);
        expect_addr("1:2:3:4:5:6:7:8", false, 6, "00010002000300040005000600070008", 0);
        expect_bad("fd00::1:1883", true, "port is required");
        expect_bad("1:2:3:4:5:6:7:8", true, "port is required");
}

static void ports_rejected(void **state)
{
        (void)state;
        expect_bad("10.0.0.1:0", false, "port");
        expect_bad("10.0.0.1:65536", false, "port");
        expect_bad("10.0.0.1:99999999999999999999999", false, "port"); /* ERANGE */
        expect_bad("10.0.0.1:12a", false, "port");
        expect_bad("10.0.0.1:a12", false, "port");
        expect_bad("10.0.0.1:", false, "port");
        expect_bad("10.0.0.1:-1", false, "port");
        expect_bad("10.0.0.1:+80", false, "port");
        expect_bad("10.0.0.1:0x50", false, "port");
        expect_bad("10.0.0.1:80 ", false, "port");
        expect_bad("[fd00::1]:0", false, "port");
        expect_bad("[fd00::1]:65536", true, "port");
        expect_bad("[fd00::1]:", false, "port");
        expect_bad("[fd00::1]:12a", false, "port");
}

static void addresses_rejected(void **state)
{
        (void)state;
        char longs[200];

        expect_bad("", false, "not an IP");
        expect_bad("", true, "not an IP");
        expect_bad("1.2.3", false, "not an IP");
        expect_bad("1.2.3.4.5", false, "not an IP");
        expect_bad("256.0.0.1", false, "not an IP");
        expect_bad("10.0.0.1 ", false, "not an IP");
        expect_bad("broker:1883", false, "not an IP");
        expect_bad(":1883", false, "not an IP");
        expect_bad("fd00::g", false, "not an IP");
        expect_bad("fd00:::1", false, "not an IP");
        expect_bad("[]:1883", false, "not an IP");
        expect_bad("[fd00::1", false, "[ADDR]:PORT");
        expect_bad("[fd00::1]1883", false, "[ADDR]:PORT");
        expect_bad("[fd00::1]]:1883", false, "[ADDR]:PORT");
        expect_bad("fd00::1]:1883", false, "not an IP");

        /* the longest textual IPv6 address (45 characters) fits */
        expect_addr("0000:0000:0000:0000:0000:ffff:255.255.255.255", false, 6,
                    "00000000000000000000ffffffffffff", 0);
        expect_addr("[0000:0000:0000:0000:0000:ffff:255.255.255.255]:1", true, 6,
                    "00000000000000000000ffffffffffff", 1);
        /* overlong input in each branch is refused, not overflowed */
        memset(longs, '1', sizeof(longs) - 1);
        longs[sizeof(longs) - 1] = 0;
        expect_bad(longs, false, "not an IP");
        longs[0] = '[';
        longs[150] = ']';
        longs[151] = ':';
        longs[152] = '1';
        longs[153] = 0;
        expect_bad(longs, false, "not an IP");
        memset(longs, '1', 150);
        longs[150] = ':'; /* one colon: the address:port branch */
        longs[151] = '8';
        longs[152] = '0';
        expect_bad(longs, false, "not an IP");
        memset(longs, ':', 150); /* many colons: the bare IPv6 branch */
        longs[150] = 0;
        expect_bad(longs, false, "not an IP");
        /* 47 characters fill the parser's buffer, 48 do not fit; both refused */
        memset(longs, '1', 48);
        longs[0] = 'f';
        longs[1] = ':';
        longs[2] = ':';
        longs[47] = 0;
        expect_bad(longs, false, "not an IP");
        longs[47] = '1';
        longs[48] = 0;
        expect_bad(longs, false, "not an IP");
}

static void port_required(void **state)
{
        (void)state;
        expect_bad("10.0.0.1", true, "port is required");
        expect_bad("fd00::1", true, "port is required");
        expect_bad("[fd00::1]", true, "port is required");
        expect_addr("10.0.0.1", false, 4, "0a000001", 0);
}

/* A v4 address parsed after a v6 one leaves no stale bytes behind. */
static void ipv4_clears_the_rest(void **state)
{
        (void)state;
        struct net_addr a;
        const char *why;
        static const uint8_t zero[12];

        assert_int_equal(net_addr__parse("[ffff:ffff:ffff:ffff::ffff]:9", false, &a, &why), 0);
        assert_int_equal(net_addr__parse("10.1.2.3", false, &a, &why), 0);
        assert_int_equal(a.ip.family, 4);
        assert_memory_equal(a.ip.addr + 4, zero, 12);
        assert_int_equal(a.port, 0);
}

static void round_trip(const char *in, const char *printed)
{
        struct net_addr a, b;
        const char *why;
        char buf[64];

        assert_int_equal(net_addr__parse(in, false, &a, &why), 0);
        assert_string_equal(net_addr__str(&a, buf, sizeof(buf)), printed);
        assert_ptr_equal(net_addr__str(&a, buf, sizeof(buf)), buf);
        assert_int_equal(net_addr__parse(buf, false, &b, &why), 0);
        assert_memory_equal(&a, &b, sizeof(a));
}

static void str_round_trips(void **state)
{
        (void)state;
        char buf[64];
        struct net_addr a = {.ip = {.family = 4, .addr = {10, 0, 0, 1}}, .port = 1883};

        round_trip("10.0.0.1", "10.0.0.1");
        round_trip("10.0.0.1:1883", "10.0.0.1:1883");
        round_trip("255.255.255.255:65535", "255.255.255.255:65535");
        round_trip("fd00::1", "fd00::1");
        round_trip("[fd00::1]:1883", "[fd00::1]:1883");
        round_trip("[FD00:0:0:0:0:0:0:0001]:1", "[fd00::1]:1"); /* canonical form */
        round_trip("fd00::1:1883", "fd00::1:1883");
        round_trip("[::]:80", "[::]:80");

        /* a short buffer gets a terminated prefix */
        assert_string_equal(net_addr__str(&a, buf, 8), "10.0.0.");
        a.port = 0;
        assert_string_equal(net_addr__str(&a, buf, sizeof(buf)), "10.0.0.1");
}

static void expect_mac(const char *s, const uint8_t want[6])
{
        uint8_t mac[6];

        memset(mac, 0xee, sizeof(mac));
        if (mac__parse(s, mac))
                fail_msg("MAC \"%s\" rejected", s);
        assert_memory_equal(mac, want, 6);
}

static void mac_parse(void **state)
{
        (void)state;
        static const uint8_t m1[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
        static const uint8_t m2[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
        static const uint8_t m3[6] = {0x00, 0x1b, 0x21, 0x3c, 0x9d, 0xf8};
        static const char *const bad[] = {
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:",
            "02:00:00:00:00:01:02",
            "02-00-00-00-00-01",
            "02:00:00:00:00:0g",
            "02:00:00:00:00:001",
            "020:00:00:00:00:01",
            "02:00:00:00:00:01 ",
            "0200.0000.0001",
            "gg:00:00:00:00:01",
        };
        uint8_t mac[6];

        expect_mac("02:00:00:00:00:01", m1);
        expect_mac("aa:bb:cc:dd:ee:ff", m2);
        expect_mac("AA:BB:CC:DD:EE:FF", m2);
        expect_mac("00:1b:21:3c:9d:f8", m3);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memcpy(mac, m3, 6);
                if (mac__parse(bad[i], mac) != -EINVAL)
                        fail_msg("MAC \"%s\" accepted", bad[i]);
        }
}

/* A MAC is six pairs of hex digits: no sign, no blank, no 0x (sscanf's %x
 * takes all three). */
static void mac_rejects_sign_blank_and_0x(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "-1:00:00:00:00:00", /* sscanf: 0xffffffff, stored as ff */
            "+2:00:00:00:00:01", " 2:00:00:00:00:01", "02: 0:00:00:00:01", "0x:00:00:00:00:01",
        };
        uint8_t mac[6];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (mac__parse(bad[i], mac) != -EINVAL)
                        fail_msg("MAC \"%s\" accepted as %02x:%02x:%02x:%02x:%02x:%02x", bad[i],
                                 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static void expect_range(const char *s, uint16_t lo, uint16_t hi)
{
        uint16_t a = 0xeeee, b = 0xeeee;

        if (port_range__parse(s, &a, &b))
                fail_msg("range \"%s\" rejected", s);
        assert_int_equal(a, lo);
        assert_int_equal(b, hi);
}

static void port_range_parse(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "",       "0",    "0-10", "10-0",    "20-10", "65536", "1-65536",
            "-",      "-10",  "10-",  "1-2-3",   "a",     "1-b",   "10 - 20",
            "10-20 ", "+1-5", "1--5", "99999-1", "1.5",   "0x10",  "1234567890123456-2",
        };
        uint16_t lo, hi;

        expect_range("1", 1, 1);
        expect_range("1883", 1883, 1883);
        expect_range("65535", 65535, 65535);
        expect_range("10-20", 10, 20);
        expect_range("7-7", 7, 7);
        expect_range("1-65535", 1, 65535);
        expect_range("32768-60999", 32768, 60999);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (port_range__parse(bad[i], &lo, &hi) != -EINVAL)
                        fail_msg("range \"%s\" accepted as %u-%u", bad[i], lo, hi);
}

/* A port is digits only: strtoul would skip leading blanks (and then take a
 * sign), so " 80" must be refused like "+80" is. */
static void port_rejects_leading_blank(void **state)
{
        (void)state;
        uint16_t lo, hi;

        expect_bad("10.0.0.1: 80", false, "port");
        expect_bad("10.0.0.1:\t80", false, "port");
        expect_bad("[fd00::1]: 80", false, "port");
        expect_bad("10.0.0.1: +80", false, "port");
        if (port_range__parse(" 80", &lo, &hi) != -EINVAL)
                fail_msg("range \" 80\" accepted as %u-%u", lo, hi);
        if (port_range__parse("10- 20", &lo, &hi) != -EINVAL)
                fail_msg("range \"10- 20\" accepted as %u-%u", lo, hi);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(ipv4_with_and_without_port),
            cmocka_unit_test(ipv6_bare_and_bracketed),
            cmocka_unit_test(v6_tail_is_not_a_port),
            cmocka_unit_test(ports_rejected),
            cmocka_unit_test(addresses_rejected),
            cmocka_unit_test(port_required),
            cmocka_unit_test(ipv4_clears_the_rest),
            cmocka_unit_test(str_round_trips),
            cmocka_unit_test(mac_parse),
            cmocka_unit_test(mac_rejects_sign_blank_and_0x),
            cmocka_unit_test(port_range_parse),
            cmocka_unit_test(port_rejects_leading_blank),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
