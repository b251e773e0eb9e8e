/*
 * The memory port (xsk/mem_port.h) the replay harness runs a worker over:
 * frames injected come out of RX in order and byte for byte, frames the
 * worker sends come out of the drain in order, both queues grow past their
 * first size, the limits (frame size, an empty pool) are reported, closing
 * gives every queued frame back, and a worker round over it with the null
 * forwarder sends back what it received, swapped, on the port's clock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/datapath/nullfwd.h"
#include "core/tcp/packet.h"
#include "core/tcp/tcp_out.h"
#include "core/datapath/worker.h"
#include "xsk/mem_port.h"

#define FRAMES 2048u

struct env {
        struct umem_area umem;
        struct frame_pool *pool;
        struct frame_cache cache;
        struct port *port;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));

        if (!e || umem_area__map(&e->umem, FRAMES, UMEM_FRAME_SIZE, false) ||
            frame_pool__new(&e->pool, FRAMES, UMEM_FRAME_SIZE))
                return -1;
        frame_cache__init(&e->cache, e->pool);
        if (mem_port__open(&e->port, "mem", &e->umem, &e->cache))
                return -1;
        *state = e;
        return 0;
}

/* Closes the port and checks that every frame is back in the pool. */
static int teardown(void **state)
{
        struct env *e = *state;

        port__close(e->port);
        frame_cache__drain(&e->cache);
        if (frame_pool__count(e->pool) != FRAMES)
                return -1;
        frame_pool__free(e->pool);
        umem_area__unmap(&e->umem);
        free(e);
        return 0;
}

static void fill(uint8_t *b, uint32_t len, uint32_t seed)
{
        for (uint32_t i = 0; i < len; i++)
                b[i] = (uint8_t)(seed * 31 + i * 7);
}

static void rx_in_order(void **state)
{
        struct env *e = *state;
        uint8_t b[UMEM_FRAME_SIZE], want[UMEM_FRAME_SIZE];
        struct frame_desc d[64];
        const uint32_t n = 1000; /* past the first queue size */
        uint32_t got = 0;

        assert_true(e->port->virtual_clock);
        for (uint32_t i = 0; i < n; i++) {
                fill(b, 60 + i, i);
                assert_int_equal(mem_port__inject(e->port, b, 60 + i), 0);
        }
        assert_int_equal(mem_port__rx_pending(e->port), n);
        while (got < n) {
                uint32_t k = port__rx(e->port, d, 64);

                assert_true(k > 0);
                for (uint32_t i = 0; i < k; i++) {
                        assert_int_equal(d[i].len, 60 + got + i);
                        fill(want, d[i].len, got + i);
                        assert_memory_equal(umem_area__data(&e->umem, d[i].addr), want, d[i].len);
                        frame_cache__put(&e->cache, d[i].addr);
                }
                got += k;
        }
        assert_int_equal(port__rx(e->port, d, 64), 0);
        assert_int_equal(e->port->rx_frames, n);
}

static void tx_drained_in_order(void **state)
{
        struct env *e = *state;
        struct frame_desc d[700], out[64];
        uint32_t got = 0;

        for (uint32_t i = 0; i < 700; i++) {
                assert_int_equal(frame_cache__alloc(&e->cache, &d[i].addr, 1), 1);
                d[i].len = 100 + i;
        }
        assert_int_equal(port__tx(e->port, d, 300), 300);
        assert_int_equal(port__tx(e->port, d + 300, 400), 400);
        port__flush(e->port);
        assert_int_equal(mem_port__tx_pending(e->port), 700);
        assert_int_equal(e->port->tx_frames, 700);
        while (got < 500) { /* the rest stay queued: close gives them back */
                uint32_t k = mem_port__drain(e->port, out, 64);

                assert_true(k > 0);
                for (uint32_t i = 0; i < k; i++) {
                        assert_int_equal(out[i].addr, d[got + i].addr);
                        assert_int_equal(out[i].len, d[got + i].len);
                        frame_cache__put(&e->cache, out[i].addr);
                }
                got += k;
        }
        assert_int_equal(mem_port__tx_pending(e->port), 700 - got);
}

static void limits(void **state)
{
        struct env *e = *state;
        static uint64_t all[FRAMES];
        uint8_t b[UMEM_FRAME_SIZE + 1] = {0};
        uint32_t n;

        assert_int_equal(mem_port__inject(e->port, b, UMEM_FRAME_SIZE + 1), -EMSGSIZE);
        assert_int_equal(mem_port__inject(e->port, b, UMEM_FRAME_SIZE), 0);
        n = frame_cache__alloc(&e->cache, all, FRAMES);
        assert_int_equal(n, FRAMES - 1);
        assert_int_equal(mem_port__inject(e->port, b, 60), -ENOBUFS);
        assert_int_equal(e->port->rx_dropped, 1);
        for (uint32_t i = 0; i < n; i++)
                frame_cache__put(&e->cache, all[i]);
        assert_int_equal(mem_port__rx_pending(e->port), 1); /* closing frees it */
}

/* One worker round over the port with the null forwarder swapping. */
static void worker_round_swaps(void **state)
{
        struct env *e = *state;
        struct nullfwd nf = {.mode = NULLFWD_SWAP};
        struct worker_cfg wc = {.nworkers = 1, .core = -1, .nports = 1, .ops = &nullfwd_ops};
        struct worker *w = calloc(1, sizeof(*w));
        struct tcp_out_hdr h = {.family = 4, .sport = 40000, .dport = 1883, .seq = 7, .ack = 9};
        uint8_t f[UMEM_FRAME_SIZE];
        struct frame_desc out[8];
        atomic_bool stop = false;
        struct packet m;
        int len;

        assert_non_null(w);
        memcpy(h.saddr, (uint8_t[]){192, 0, 2, 10}, 4);
        memcpy(h.daddr, (uint8_t[]){10, 10, 0, 100}, 4);
        len = tcp_out__data(f, sizeof(f), &h, "hello", 5, false);
        assert_true(len > 0);
        wc.ports[0] = e->port;
        for (int i = 0; i < WORKER_PORTS_MAX; i++)
                wc.fds[i] = -1;
        wc.cache = &e->cache;
        wc.ctx = &nf;
        wc.stop = &stop;
        worker__init(w, &wc);
        e->port->clock_ns = 123456789;
        assert_int_equal(mem_port__inject(e->port, f, (uint32_t)len), 0);
        assert_int_equal(worker__round(w), 1);
        assert_int_equal(mem_port__drain(e->port, out, 8), 1);
        const uint8_t *g = umem_area__data(&e->umem, out[0].addr);

        assert_int_equal(out[0].len, (uint32_t)len);
        assert_int_equal(packet__parse(g, out[0].len, &m), PACKET_OK);
        assert_int_equal(m.sport, 1883);
        assert_int_equal(m.dport, 40000);
        assert_memory_equal(g + m.payload, "hello", 5);
        frame_cache__put(&e->cache, out[0].addr);
        free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(rx_in_order, setup, teardown),
            cmocka_unit_test_setup_teardown(tx_drained_in_order, setup, teardown),
            cmocka_unit_test_setup_teardown(limits, setup, teardown),
            cmocka_unit_test_setup_teardown(worker_round_swaps, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
