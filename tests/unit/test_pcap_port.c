/*
 * The pcap port: frames sent come back byte for byte when the capture is read
 * again, timestamps follow the port clock, cooked and raw-IP captures get an
 * Ethernet header, oversize frames are skipped and counted, and bad files are
 * reported by name. No frame is leaked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <pcap/pcap.h>

#include "xsk/pcap_port.h"

#define FRAMES 64u

struct env {
        struct umem_area umem;
        struct frame_pool *pool;
        struct frame_cache cache;
        char dir[64];
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));

        if (!e || umem_area__map(&e->umem, FRAMES, UMEM_FRAME_SIZE, false) ||
            frame_pool__new(&e->pool, FRAMES, UMEM_FRAME_SIZE))
                return -1;
        frame_cache__init(&e->cache, e->pool);
        strcpy(e->dir, "/tmp/mqttlb-pcap-XXXXXX");
        if (!mkdtemp(e->dir))
                return -1;
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        char cmd[128];

        frame_cache__drain(&e->cache);
        frame_pool__free(e->pool);
        umem_area__unmap(&e->umem);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
        if (system(cmd) != 0)
                return -1;
        free(e);
        return 0;
}

static void path(struct env *e, char *out, const char *name)
{
        snprintf(out, 128, "%s/%s", e->dir, name);
}

static void sent_frames_read_back(void **state)
{
        struct env *e = *state;
        char file[128];
        struct port *p;
        struct frame_desc d[8];

        path(e, file, "out.pcap");
        assert_int_equal(pcap_port__open(&p, NULL, file, &e->umem, &e->cache, NULL, 0), 0);
        for (uint32_t i = 0; i < 5; i++) {
                assert_int_equal(frame_cache__alloc(&e->cache, &d[i].addr, 1), 1);
                d[i].len = 60 + i * 100;
                memset(umem_area__data(&e->umem, d[i].addr), 'a' + (int)i, d[i].len);
        }
        p->clock_ns = 1700000000123456000ull;
        assert_int_equal(port__tx(p, d, 5), 5);
        port__flush(p);
        port__close(p);
        assert_int_equal(frame_pool__count(e->pool) + e->cache.n, FRAMES); /* given back */

        assert_int_equal(pcap_port__open(&p, file, NULL, &e->umem, &e->cache, NULL, 0), 0);
        assert_int_equal(port__rx(p, d, 8), 5);
        for (uint32_t i = 0; i < 5; i++) {
                const uint8_t *f = umem_area__data(&e->umem, d[i].addr);

                assert_int_equal(d[i].len, 60 + i * 100);
                for (uint32_t k = 0; k < d[i].len; k++)
                        assert_int_equal(f[k], 'a' + (int)i);
                frame_cache__put(&e->cache, d[i].addr);
        }
        assert_int_equal(p->clock_ns, 1700000000123456000ull);
        assert_int_equal(port__rx(p, d, 8), 0); /* end of file */
        port__close(p);
}

/* A capture of another link type, written with libpcap directly. */
static void write_capture(const char *file, int dlt, const uint8_t *b, uint32_t len, int count)
{
        pcap_t *dead = pcap_open_dead(dlt, 65535);
        pcap_dumper_t *d = pcap_dump_open(dead, file);
        struct pcap_pkthdr h = {.caplen = len, .len = len};

        assert_non_null(d);
        for (int i = 0; i < count; i++)
                pcap_dump((u_char *)d, &h, b);
        pcap_dump_close(d);
        pcap_close(dead);
}

static void cooked_and_raw_get_ethernet(void **state)
{
        struct env *e = *state;
        char file[128];
        struct port *p;
        struct frame_desc d[2];
        uint8_t sll[16 + 20] = {0};
        uint8_t raw6[40] = {0x60};

        sll[14] = 0x08; /* protocol IPv4 */
        sll[16] = 0x45;
        path(e, file, "sll.pcap");
        write_capture(file, DLT_LINUX_SLL, sll, sizeof(sll), 1);
        assert_int_equal(pcap_port__open(&p, file, NULL, &e->umem, &e->cache, NULL, 0), 0);
        assert_int_equal(port__rx(p, d, 2), 1);
        const uint8_t *f = umem_area__data(&e->umem, d[0].addr);

        assert_int_equal(d[0].len, 14 + 20);
        assert_int_equal(f[12], 0x08);
        assert_int_equal(f[13], 0x00);
        assert_int_equal(f[14], 0x45);
        frame_cache__put(&e->cache, d[0].addr);
        port__close(p);

        path(e, file, "raw.pcap");
        write_capture(file, DLT_RAW, raw6, sizeof(raw6), 1);
        assert_int_equal(pcap_port__open(&p, file, NULL, &e->umem, &e->cache, NULL, 0), 0);
        assert_int_equal(port__rx(p, d, 2), 1);
        f = umem_area__data(&e->umem, d[0].addr);
        assert_int_equal(f[12], 0x86);
        assert_int_equal(f[13], 0xDD);
        frame_cache__put(&e->cache, d[0].addr);
        port__close(p);
}

static void oversize_skipped_and_counted(void **state)
{
        struct env *e = *state;
        char file[128];
        struct port *p;
        struct frame_desc d[4];
        static uint8_t big[5000];

        path(e, file, "big.pcap");
        write_capture(file, DLT_EN10MB, big, sizeof(big), 3);
        assert_int_equal(pcap_port__open(&p, file, NULL, &e->umem, &e->cache, NULL, 0), 0);
        assert_int_equal(port__rx(p, d, 4), 0);
        assert_int_equal(pcap_port__skipped(p), 3);
        port__close(p);
}

static void bad_files_named(void **state)
{
        struct env *e = *state;
        char file[128], err[256] = "";
        struct port *p = NULL;
        uint8_t b[20] = {0};

        path(e, file, "missing.pcap");
        assert_true(pcap_port__open(&p, file, NULL, &e->umem, &e->cache, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, file));

        path(e, file, "null.pcap");
        write_capture(file, DLT_NULL, b, sizeof(b), 1);
        assert_true(pcap_port__open(&p, file, NULL, &e->umem, &e->cache, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, file));
        assert_non_null(strstr(err, "not supported"));

        path(e, file, "no-such-dir/out.pcap");
        assert_true(pcap_port__open(&p, NULL, file, &e->umem, &e->cache, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, file));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(sent_frames_read_back, setup, teardown),
            cmocka_unit_test_setup_teardown(cooked_and_raw_get_ethernet, setup, teardown),
            cmocka_unit_test_setup_teardown(oversize_skipped_and_counted, setup, teardown),
            cmocka_unit_test_setup_teardown(bad_files_named, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
