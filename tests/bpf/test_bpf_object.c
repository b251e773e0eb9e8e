/*
 * The bpf_object() CMake helper, end to end: the skeleton it generated opens,
 * loads into the kernel and runs under BPF_PROG_TEST_RUN with verdicts and map
 * counters as the program says. Needs root (CAP_BPF); fails loudly without.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "verdict_probe.skel.h"

static int run(struct verdict_probe *skel, uint8_t proto, uint16_t ethertype)
{
        uint8_t frame[64] = {0};
        struct ethhdr eth = {.h_proto = htons(ethertype)};
        struct iphdr ip = {.version = 4, .ihl = 5, .protocol = proto};

        /* headers built aligned, then copied: the IP header sits at offset 14 */
        memcpy(frame, &eth, sizeof(eth));
        memcpy(frame + sizeof(eth), &ip, sizeof(ip));
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
                    .repeat = 1);
        assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.verdict_probe), &opts),
                         0);
        return (int)opts.retval;
}

static uint64_t counter(struct verdict_probe *skel, uint32_t verdict)
{
        uint64_t n = 0;

        assert_int_equal(
            bpf_map__lookup_elem(skel->maps.verdicts, &verdict, sizeof(verdict), &n, sizeof(n), 0),
            0);
        return n;
}

static void skeleton_loads_and_runs(void **state)
{
        (void)state;
        if (geteuid() != 0)
                fail_msg("test_bpf_object needs root (CAP_BPF) to load BPF programs");

        struct verdict_probe *skel = verdict_probe__open_and_load();
        assert_non_null(skel);

        assert_int_equal(run(skel, IPPROTO_UDP, ETH_P_IP), XDP_DROP);
        assert_int_equal(run(skel, IPPROTO_TCP, ETH_P_IP), XDP_PASS);
        assert_int_equal(run(skel, IPPROTO_UDP, ETH_P_IPV6), XDP_PASS);
        assert_int_equal(counter(skel, XDP_DROP), 1);
        assert_int_equal(counter(skel, XDP_PASS), 2);
        verdict_probe__destroy(skel);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(skeleton_loads_and_runs)};

        return cmocka_run_group_tests(tests, NULL, NULL);
}
