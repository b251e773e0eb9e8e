/*
 * Next hops from the kernel's tables, on veth in network namespaces of our
 * own: this process unshares one (every interface, address, route and
 * neighbour vanishes with it), and a child holds a second one with the far
 * end of the veth pair, so that ARP and Neighbor Discovery get real answers.
 * The child dies with us (PR_SET_PDEATHSIG) and its namespace with it, also
 * when a test fails or the process is killed: nothing outlives the test.
 * Static neighbours (nud permanent) give exact MACs for the route cases.
 * Only 10.x and fd00::/8 addresses, only inside these namespaces. Needs root;
 * fails loudly without.
 *
 *   this namespace                         the peer's
 *   va 02:00:00:00:01:01  <--- veth --->   vb 02:00:00:00:01:02
 *      10.1.0.1/24, fd00:1::1/64              10.1.0.2/24, fd00:1::2/64
 *   static: 10.1.0.3 -> 02:00:00:00:00:03, fd00:1::3 -> 02:00:00:00:00:13,
 *           10.1.0.4 -> 02:00:00:00:00:04
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <poll.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "core/control/nexthop.h"

#define MAC_VA   "\x02\x00\x00\x00\x01\x01"
#define MAC_VB   "\x02\x00\x00\x00\x01\x02"
#define MAC_GW4  "\x02\x00\x00\x00\x00\x03"
#define MAC_GW6  "\x02\x00\x00\x00\x00\x13"
#define MAC_GW4B "\x02\x00\x00\x00\x00\x04"

static pid_t peer = -1;
static struct nh_resolver *res;

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sh(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;
        int rc;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        rc = system(cmd);
        if (rc != 0)
                fail_msg("command failed (%d): %s", rc, cmd);
}

static struct ip_addr addr_of(const char *s)
{
        struct ip_addr a;

        if (ip_addr__parse(&a, s))
                fail_msg("bad address in test: %s", s);
        return a;
}

static struct nh_entry resolve(const char *dst)
{
        struct ip_addr a = addr_of(dst);
        struct nh_entry e;

        assert_int_equal(nh_resolver__resolve(res, &a, &e), 0);
        assert_true(ip_addr__equal(&e.dst, &a));
        return e;
}

static void expect_state(const struct nh_entry *e, enum nh_state want)
{
        char buf[IP_ADDR_STRLEN];

        if (e->state != want)
                fail_msg("%s: state %s, expected %s", ip_addr__format(&e->dst, buf, sizeof(buf)),
                         nh_state__str(e->state), nh_state__str(want));
}

static void expect_resolved(const char *dst, const char *via, const char *mac)
{
        struct nh_entry e = resolve(dst);
        struct ip_addr v = addr_of(via);

        expect_state(&e, NH_RESOLVED);
        assert_int_equal(e.ifindex, (int)if_nametoindex("va"));
        assert_memory_equal(e.src_mac, MAC_VA, 6);
        assert_memory_equal(e.dst_mac, mac, 6);
        assert_true(ip_addr__equal(&e.via, &v));
}

/* The kernel's own view of a neighbour's state, as `ip neigh` prints it. */
static bool kernel_neigh_has(const char *addr, const char *word)
{
        char cmd[128], line[256] = "";
        FILE *f;

        snprintf(cmd, sizeof(cmd), "ip neigh show %s dev va", addr);
        f = popen(cmd, "r");
        assert_non_null(f);
        if (!fgets(line, sizeof(line), f))
                line[0] = '\0';
        pclose(f);
        return strstr(line, word) != NULL;
}

/*
 * Resolves dst until its state is want or secs have passed, waking on the
 * watch as the control thread would; returns the last entry.
 */
static struct nh_entry wait_for(const char *dst, enum nh_state want, double secs)
{
        double deadline = now() + secs;
        struct nh_watch *w;
        struct nh_entry e;

        assert_int_equal(nh_watch__new(&w), 0);
        for (;;) {
                e = resolve(dst);
                if (e.state == want || now() > deadline)
                        break;
                /* a notification, or 50 ms: the kernel's answer may have come
                 * between the resolve and the poll */
                poll(&(struct pollfd){.fd = nh_watch__fd(w), .events = POLLIN}, 1, 50);
                assert_true(nh_watch__drain(w, NULL) >= 0);
        }
        nh_watch__free(w);
        return e;
}

static void wait_readable(struct nh_watch *w)
{
        int n = poll(&(struct pollfd){.fd = nh_watch__fd(w), .events = POLLIN}, 1, 2000);

        if (n != 1)
                fail_msg("watch fd not readable within 2 s (poll %d)", n);
}

/* ---- the namespaces ---- */

static pid_t peer_start(void)
{
        pid_t parent = getpid(), pid;
        int p[2];
        char c;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent ||
                    unshare(CLONE_NEWNET) || write(p[1], "", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
                fail_msg("peer namespace process failed to start");
        close(p[0]);
        return pid;
}

static int group_setup(void **state)
{
        (void)state;
        if (geteuid() != 0)
                fail_msg("test_nexthop needs root (network namespaces, veth, neighbour "
                         "entries); run it as root");
        assert_int_equal(unshare(CLONE_NEWNET), 0);
        peer = peer_start();

        /* No duplicate address detection: addresses are usable at once. */
        sh("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        sh("ip link set lo up && "
           "ip link add va address 02:00:00:00:01:01 type veth peer name vb "
           "address 02:00:00:00:01:02 && ip link set vb netns %d",
           (int)peer);
        sh("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add 10.1.0.2/24 dev vb && "
           "ip addr add fd00:1::2/64 dev vb nodad && ip link set vb up'",
           (int)peer);
        /* One probe, 200 ms: an unanswered neighbour fails in a fraction of a
         * second instead of 3 s (mcast_solicit 3, retrans_time 1 s). */
        sh("sysctl -qw net.ipv4.neigh.va.mcast_solicit=1 net.ipv4.neigh.va.retrans_time_ms=200 "
           "net.ipv6.neigh.va.mcast_solicit=1 net.ipv6.neigh.va.retrans_time_ms=200");
        sh("ip addr add 10.1.0.1/24 dev va && ip addr add fd00:1::1/64 dev va nodad && "
           "ip link set va up");
        sh("ip neigh add 10.1.0.3 dev va lladdr 02:00:00:00:00:03 nud permanent && "
           "ip neigh add fd00:1::3 dev va lladdr 02:00:00:00:00:13 nud permanent && "
           "ip neigh add 10.1.0.4 dev va lladdr 02:00:00:00:00:04 nud permanent");
        sh("ip route add 10.99.0.0/16 via 10.1.0.3 && "
           "ip -6 route add fd00:99::/32 via fd00:1::3 && "
           "ip route add 10.98.0.0/16 via inet6 fd00:1::3 dev va && "
           "ip nexthop add id 7 via 10.1.0.3 dev va && ip route add 10.94.0.0/16 nhid 7 && "
           "ip route add 10.93.0.0/16 via 10.1.0.4 && "
           "ip route add 10.95.0.0/16 dev lo && "
           "ip route add blackhole 10.97.0.0/16 && ip route add unreachable 10.96.0.0/16 && "
           "ip route add prohibit 10.91.0.0/16 && ip -6 route add prohibit fd00:96::/32 && "
           "ip -6 route add blackhole fd00:97::/32");

        assert_int_equal(nh_resolver__new(&res), 0);
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        nh_resolver__free(res);
        if (peer > 0) {
                kill(peer, SIGKILL);
                waitpid(peer, NULL, 0);
        }
        return 0;
}

/* ---- tests ---- */

static void strings_and_arguments(void **state)
{
        char buf[IP_ADDR_STRLEN];
        struct ip_addr a;
        struct nh_entry e;

        (void)state;
        assert_string_equal(nh_state__str(NH_RESOLVED), "resolved");
        assert_string_equal(nh_state__str(NH_INCOMPLETE), "incomplete");
        assert_string_equal(nh_state__str(NH_NO_ROUTE), "no route");
        assert_string_equal(nh_state__str(NH_FAILED), "failed");
        assert_string_equal(nh_state__str((enum nh_state)42), "?");

        assert_int_equal(ip_addr__parse(&a, "10.1.0.3"), 0);
        assert_int_equal(a.family, 4);
        assert_memory_equal(a.addr, "\x0a\x01\x00\x03\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        assert_string_equal(ip_addr__format(&a, buf, sizeof(buf)), "10.1.0.3");
        assert_int_equal(ip_addr__parse(&a, "fd00:0:0::0:1"), 0);
        assert_int_equal(a.family, 6);
        assert_string_equal(ip_addr__format(&a, buf, sizeof(buf)), "fd00::1"); /* RFC 5952 */
        assert_int_equal(ip_addr__parse(&a, "10.1.0"), -EINVAL);
        assert_int_equal(ip_addr__parse(&a, "fd00::1::2"), -EINVAL);
        a.family = 5;
        assert_string_equal(ip_addr__format(&a, buf, sizeof(buf)), "?");

        /* a family other than 4/6, or IPv4 with bytes past the fourth */
        assert_int_equal(nh_resolver__resolve(res, &a, &e), -EINVAL);
        a = addr_of("10.1.0.3");
        a.addr[15] = 1;
        assert_int_equal(nh_resolver__resolve(res, &a, &e), -EINVAL);
}

static void ipv4_direct_known_neighbour(void **state)
{
        (void)state;
        expect_resolved("10.1.0.3", "10.1.0.3", MAC_GW4);
}

static void ipv4_via_gateway(void **state)
{
        (void)state;
        expect_resolved("10.99.1.1", "10.1.0.3", MAC_GW4);
        /* the same through a nexthop object (`ip nexthop`, Linux 5.3) */
        expect_resolved("10.94.7.7", "10.1.0.3", MAC_GW4);
}

static void ipv6_direct_and_via_gateway(void **state)
{
        (void)state;
        expect_resolved("fd00:1::3", "fd00:1::3", MAC_GW6);
        expect_resolved("fd00:99::1", "fd00:1::3", MAC_GW6);
}

static void ipv4_via_ipv6_gateway(void **state)
{
        (void)state;
        /* RTA_VIA: the next hop's family differs from the destination's */
        expect_resolved("10.98.1.1", "fd00:1::3", MAC_GW6);
}

static void unknown_neighbour_gets_resolved(void **state)
{
        static const char *const dsts[] = {"10.1.0.2", "fd00:1::2"};

        (void)state;
        for (size_t i = 0; i < 2; i++) {
                struct nh_entry e = resolve(dsts[i]);
                struct ip_addr d = addr_of(dsts[i]);

                /* nothing has talked to the peer yet: no entry, resolution
                 * starts; interface and next hop are known already */
                expect_state(&e, NH_INCOMPLETE);
                assert_int_equal(e.ifindex, (int)if_nametoindex("va"));
                assert_memory_equal(e.src_mac, MAC_VA, 6);
                assert_memory_equal(e.dst_mac, "\0\0\0\0\0\0", 6);
                assert_true(ip_addr__equal(&e.via, &d));

                /* the kernel probed, the peer answered */
                e = wait_for(dsts[i], NH_RESOLVED, 3);
                expect_state(&e, NH_RESOLVED);
                assert_memory_equal(e.dst_mac, MAC_VB, 6);
                assert_true(kernel_neigh_has(dsts[i], "REACHABLE"));
        }
}

static void unanswered_neighbour_fails_and_is_retried(void **state)
{
        static const char *const dsts[] = {"10.1.0.9", "fd00:1::9"};

        (void)state;
        for (size_t i = 0; i < 2; i++) {
                struct nh_entry e = resolve(dsts[i]);

                expect_state(&e, NH_INCOMPLETE);
                /* one probe, 200 ms, no answer (setup's sysctls) */
                e = wait_for(dsts[i], NH_FAILED, 3);
                expect_state(&e, NH_FAILED);
                assert_int_equal(e.ifindex, (int)if_nametoindex("va"));
                /* seeing FAILED started a new round */
                e = resolve(dsts[i]);
                expect_state(&e, NH_INCOMPLETE);
                assert_true(kernel_neigh_has(dsts[i], "INCOMPLETE"));
        }
}

static void stale_neighbour_is_used_and_reverified(void **state)
{
        (void)state;
        sh("ip neigh replace 10.1.0.2 dev va lladdr 02:00:00:00:01:02 nud stale");
        assert_true(kernel_neigh_has("10.1.0.2", "STALE"));
        expect_resolved("10.1.0.2", "10.1.0.2", MAC_VB);
        /* as if a packet had been sent (RFC 4861 §7.3.3): STALE -> DELAY */
        assert_false(kernel_neigh_has("10.1.0.2", "STALE"));
}

static void no_route(void **state)
{
        static const char *const dsts[] = {
            "10.5.5.5",   /* no route at all */
            "fd00:5::5",  /* the same, IPv6 */
            "10.97.1.1",  /* blackhole */
            "fd00:97::1", /* blackhole, IPv6 */
            "10.96.1.1",  /* unreachable */
            "10.91.1.1",  /* prohibit */
            "fd00:96::1", /* prohibit, IPv6 */
            "10.1.0.1",   /* our own address: local */
            "fd00:1::1",  /* the same, IPv6 */
            "10.1.0.255", /* broadcast */
        };

        (void)state;
        for (size_t i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
                struct nh_entry e = resolve(dsts[i]);

                expect_state(&e, NH_NO_ROUTE);
                assert_int_equal(e.ifindex, 0);
        }
}

static void interface_without_ethernet_address(void **state)
{
        struct nh_entry e = resolve("10.95.1.1");
        struct ip_addr d = addr_of("10.95.1.1");

        (void)state;
        /* a unicast route out of lo: there is no Ethernet header to write */
        expect_state(&e, NH_FAILED);
        assert_int_equal(e.ifindex, (int)if_nametoindex("lo"));
        assert_true(ip_addr__equal(&e.via, &d));
}

static void table_build_and_lookup(void **state)
{
        struct ip_addr dsts[] = {addr_of("fd00:99::1"), addr_of("10.99.1.1"), addr_of("10.1.0.3"),
                                 addr_of("10.5.5.5"),   addr_of("10.99.1.1"), addr_of("10.95.1.1")};
        struct ip_addr absent = addr_of("10.99.1.2"), bad = addr_of("10.1.0.3");
        struct nh_table *t, *empty;
        const struct nh_entry *e;

        (void)state;
        assert_int_equal(nh_table__build(res, dsts, 6, &t), 0);
        assert_int_equal(nh_table__size(t), 5); /* 10.99.1.1 twice */

        e = nh_table__lookup(t, &dsts[1]);
        assert_non_null(e);
        expect_state(e, NH_RESOLVED);
        assert_memory_equal(e->dst_mac, MAC_GW4, 6);
        e = nh_table__lookup(t, &dsts[0]);
        assert_non_null(e);
        expect_state(e, NH_RESOLVED);
        assert_memory_equal(e->dst_mac, MAC_GW6, 6);
        e = nh_table__lookup(t, &dsts[2]);
        assert_non_null(e);
        expect_state(e, NH_RESOLVED);
        e = nh_table__lookup(t, &dsts[3]);
        assert_non_null(e);
        expect_state(e, NH_NO_ROUTE);
        e = nh_table__lookup(t, &dsts[5]);
        assert_non_null(e);
        expect_state(e, NH_FAILED);
        assert_null(nh_table__lookup(t, &absent));

        /* address order, IPv4 first */
        assert_true(ip_addr__equal(&nh_table__at(t, 0)->dst, &dsts[2]));
        assert_true(ip_addr__equal(&nh_table__at(t, 4)->dst, &dsts[0]));
        assert_null(nh_table__at(t, 5));
        nh_table__free(t);

        assert_int_equal(nh_table__build(res, NULL, 0, &empty), 0);
        assert_int_equal(nh_table__size(empty), 0);
        assert_null(nh_table__lookup(empty, &dsts[0]));
        nh_table__free(empty);
        assert_null(nh_table__lookup(NULL, &dsts[0]));

        bad.addr[8] = 1;
        dsts[4] = bad;
        assert_int_equal(nh_table__build(res, dsts, 6, &t), -EINVAL);
}

static void watch_wakes_on_changes(void **state)
{
        struct ip_addr dst = addr_of("10.93.1.1");
        struct nh_table *interest;
        struct nh_watch *w;
        const struct nh_entry *e;

        (void)state;
        assert_int_equal(nh_watch__new(&w), 0);
        assert_true(fcntl(nh_watch__fd(w), F_GETFL) & O_NONBLOCK);
        assert_true(nh_watch__drain(w, NULL) >= 0); /* whatever came before */

        sh("ip neigh add 10.1.0.50 dev va lladdr 02:00:00:00:00:50 nud permanent");
        wait_readable(w);
        assert_true(nh_watch__drain(w, NULL) >= 1);
        assert_int_equal(nh_watch__drain(w, NULL), 0); /* drained */

        /* with a table of interest: only its next hops' neighbours count */
        assert_int_equal(nh_table__build(res, &dst, 1, &interest), 0);
        e = nh_table__lookup(interest, &dst);
        assert_non_null(e);
        expect_state(e, NH_RESOLVED);
        assert_memory_equal(e->dst_mac, MAC_GW4B, 6);

        sh("ip neigh add 10.1.0.51 dev va lladdr 02:00:00:00:00:51 nud permanent");
        wait_readable(w);
        assert_int_equal(nh_watch__drain(w, interest), 0);

        sh("ip neigh replace 10.1.0.4 dev va lladdr 02:00:00:00:00:44 nud permanent");
        wait_readable(w);
        assert_true(nh_watch__drain(w, interest) >= 1);
        nh_table__free(interest);

        /* the rebuilt table has the new address */
        assert_int_equal(nh_table__build(res, &dst, 1, &interest), 0);
        assert_memory_equal(nh_table__lookup(interest, &dst)->dst_mac, "\x02\0\0\0\0\x44", 6);

        /* routes count whatever the interest */
        sh("ip route add 10.92.0.0/16 via 10.1.0.3");
        wait_readable(w);
        assert_true(nh_watch__drain(w, interest) >= 1);
        nh_table__free(interest);
        nh_watch__free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(strings_and_arguments),
            cmocka_unit_test(ipv4_direct_known_neighbour),
            cmocka_unit_test(ipv4_via_gateway),
            cmocka_unit_test(ipv6_direct_and_via_gateway),
            cmocka_unit_test(ipv4_via_ipv6_gateway),
            cmocka_unit_test(unknown_neighbour_gets_resolved),
            cmocka_unit_test(unanswered_neighbour_fails_and_is_retried),
            cmocka_unit_test(stale_neighbour_is_used_and_reverified),
            cmocka_unit_test(no_route),
            cmocka_unit_test(interface_without_ethernet_address),
            cmocka_unit_test(table_build_and_lookup),
            cmocka_unit_test(watch_wakes_on_changes),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
