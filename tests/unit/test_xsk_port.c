/*
 * The AF_XDP port on a real (veth) interface: frames injected on the peer are
 * received through the socket, sent back out of the same UMEM frames, and
 * arrive on the peer byte for byte; every frame is accounted for at the end
 * (pool + cache + held by the kernel = total). Runs in a private network
 * namespace of its own (unshare), so the veth pair vanishes with the process,
 * also on failure. Needs root; fails loudly without.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <poll.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "xsk/xsk_port.h"

#define FRAMES   4096u
#define N        200
#define ETH_TEST 0x88B5 /* IEEE local experimental EtherType */

static int raw_socket(const char *ifname)
{
        int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_TEST));
        struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                                  .sll_protocol = htons(ETH_TEST),
                                  .sll_ifindex = (int)if_nametoindex(ifname)};

        int rcvbuf = 4 << 20; /* all N frames may arrive at once */

        assert_true(fd >= 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)), 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
        return fd;
}

static void frame_for(uint8_t *f, int i, size_t *len)
{
        memset(f, 0xff, 6); /* broadcast */
        memcpy(f + 6, "\x02\0\0\0\0\x01", 6);
        f[12] = ETH_TEST >> 8;
        f[13] = ETH_TEST & 0xff;
        *len = 60 + (size_t)(i % 40) * 10;
        for (size_t k = 14; k < *len; k++)
                f[k] = (uint8_t)(i + k);
}

/* A UMEM with its frame pool, one worker's cache and the AF_XDP registration. */
struct env {
        struct umem_area area;
        struct frame_pool *pool;
        struct frame_cache cache;
        struct xsk_umem_set *u;
};

static void env_open(struct env *e, uint32_t frames, bool huge, uint32_t ring)
{
        assert_int_equal(umem_area__map(&e->area, frames, UMEM_FRAME_SIZE, huge), 0);
        assert_int_equal(frame_pool__new(&e->pool, frames, UMEM_FRAME_SIZE), 0);
        frame_cache__init(&e->cache, e->pool);
        assert_int_equal(xsk_umem_set__new(&e->u, &e->area, ring), 0);
}

static void env_close(struct env *e)
{
        xsk_umem_set__free(e->u);
        frame_cache__drain(&e->cache);
        frame_pool__free(e->pool);
        umem_area__unmap(&e->area);
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void receive_and_send_back(void **state)
{
        (void)state;
        if (geteuid() != 0)
                fail_msg("test_xsk_port needs root (network namespace, AF_XDP)");
        /* Best effort: kernels since 5.11 charge BPF memory to the memory
         * cgroup, and root's CAP_IPC_LOCK covers the UMEM. */
        setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){RLIM_INFINITY, RLIM_INFINITY});
        assert_int_equal(unshare(CLONE_NEWNET), 0);
        /* no IPv6 in this namespace: the kernel's own ND/MLD frames would
         * otherwise reach the socket (the default program redirects all) */
        assert_int_equal(system("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                                "net.ipv6.conf.default.disable_ipv6=1 && "
                                "ip link add va type veth peer name vb && ip link set va up && "
                                "ip link set vb up && ip link set lo up"),
                         0);

        struct env e;
        struct port *p;
        char err[256] = "";
        struct xsk_port_cfg cfg = {.ifname = "va", .queue = 0, .load_default_prog = true};

        env_open(&e, FRAMES, true, 0);
        if (xsk_port__open(&p, e.u, &cfg, &e.cache, err, sizeof(err)))
                fail_msg("xsk_port__open: %s", err);
        assert_true(xsk_port__in_kernel(p) > 0); /* the fill ring was filled */

        int peer = raw_socket("vb");
        uint8_t f[600];
        size_t len;

        for (int i = 0; i < N; i++) {
                frame_for(f, i, &len);
                assert_int_equal(send(peer, f, len, 0), (ssize_t)len);
        }

        /* receive all N through the socket */
        struct frame_desc got[N];
        int n = 0;
        double deadline = now() + 5;

        while (n < N && now() < deadline) {
                uint32_t k = port__rx(p, got + n, (uint32_t)(N - n));

                /* keep the test's frames; give anything else back */
                int kept = n;

                for (uint32_t j = 0; j < k; j++) {
                        struct frame_desc d = got[n + (int)j];
                        const uint8_t *fr = umem_area__data(&e.area, d.addr);

                        if (d.len >= 14 && fr[12] == ETH_TEST >> 8 && fr[13] == (ETH_TEST & 0xff))
                                got[kept++] = d;
                        else
                                frame_cache__put(&e.cache,
                                                 d.addr & ~(uint64_t)(UMEM_FRAME_SIZE - 1));
                }
                n = kept;
                if (!k)
                        poll(&(struct pollfd){.fd = xsk_port__fd(p), .events = POLLIN}, 1, 10);
        }
        if (n != N)
                for (int i = 0; i < n; i++)
                        fprintf(stderr, "# got[%d] len %u byte14 %u\n", i, got[i].len,
                                umem_area__data(&e.area, got[i].addr)[14]);
        assert_int_equal(n, N);
        for (int i = 0; i < N; i++) {
                frame_for(f, i, &len);
                assert_int_equal(got[i].len, len);
                assert_memory_equal(umem_area__data(&e.area, got[i].addr), f, len);
                /* rewrite in place, as the balancer does, and send back */
                umem_area__data(&e.area, got[i].addr)[6] = 0x02;
                umem_area__data(&e.area, got[i].addr)[11] = 0x09;
        }
        assert_int_equal(port__tx(p, got, N), N);

        /* they arrive on the peer, from the same frames, rewritten */
        int back = 0;

        deadline = now() + 5;
        while (back < N && now() < deadline) {
                struct sockaddr_ll from;
                socklen_t fl = sizeof(from);
                ssize_t r = recvfrom(peer, f, sizeof(f), 0, (struct sockaddr *)&from, &fl);

                port__flush(p);
                if (r < 0) {
                        poll(&(struct pollfd){.fd = peer, .events = POLLIN}, 1, 10);
                        continue;
                }
                if (from.sll_pkttype == PACKET_OUTGOING)
                        continue;
                uint8_t want[600];

                frame_for(want, back, &len);
                want[6] = 0x02;
                want[11] = 0x09;
                assert_int_equal((size_t)r, len);
                assert_memory_equal(f, want, len);
                back++;
        }
        assert_int_equal(back, N);
        for (int i = 0; i < 100 && xsk_port__in_kernel(p) > 2048; i++) {
                port__flush(p);
                usleep(1000);
        }
        /* every frame accounted for: free, cached, or lent to the kernel */
        assert_int_equal(frame_pool__count(e.pool) + e.cache.n + xsk_port__in_kernel(p), FRAMES);
        printf("# zero copy: %s, huge pages: %s\n", xsk_port__zerocopy(p) ? "yes" : "no",
               e.area.huge ? "yes" : "no");
        close(peer);
        port__close(p);
        env_close(&e);
}

static void busy_queue_named_in_error(void **state)
{
        (void)state;
        struct env e;
        struct port *p;
        char err[256] = "";
        struct xsk_port_cfg cfg = {.ifname = "no-such-if", .queue = 0};

        env_open(&e, 256, false, 64);
        assert_true(xsk_port__open(&p, e.u, &cfg, &e.cache, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, "no-such-if queue 0"));
        env_close(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(receive_and_send_back),
            cmocka_unit_test(busy_queue_named_in_error),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
