/*
 * xdpgen's receiving side (gen.h): a burst off the RX ring, each frame parsed
 * and counted against the run id and the shared bitmap of sequence numbers,
 * then given back to the thread's cache. Never sends, never allocates.
 */
#include <linux/if_xdp.h>
#include <sys/socket.h>

#include "bench/gen.h"

static void tally(struct gen_thread *t, const struct gen_rx_info *in)
{
        struct gen *g = t->g;
        uint32_t want = __atomic_load_n(&g->run_id, __ATOMIC_ACQUIRE);

        if (in->stamped && !want) {
                __atomic_compare_exchange_n(&g->run_id, &want, in->run_id, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE);
                want = __atomic_load_n(&g->run_id, __ATOMIC_ACQUIRE);
        }
        if (!in->stamped || in->run_id != want) {
                gen_bump(&t->other, 1);
                if (in->syn) {
                        gen_bump(&t->syn, 1);
                        gen_bump(&t->bad_csum, !in->csum_ok);
                        gen_bump(&t->counted, g->cfg.mode == GEN_MODE_SYN);
                }
                return;
        }
        gen_bump(&t->received, 1);
        gen_bump(&t->bad_csum, !in->csum_ok);
        gen_bump(&t->counted, gen_cfg__stamped(&g->cfg));
        if (in->seq >= g->bits) {
                __atomic_store_n(&t->overflow, true, __ATOMIC_RELAXED);
                return;
        }
        uint64_t bit = 1ull << (in->seq & 63);

        if (__atomic_fetch_or(&g->bitmap[in->seq >> 6], bit, __ATOMIC_RELAXED) & bit)
                gen_bump(&t->dups, 1);
        else
                gen_bump(&t->unique, 1);
}

/* One burst off the RX ring, counted; the frames go back to the cache. */
uint32_t gen_thread__rx_burst(struct gen_thread *t)
{
        struct frame_desc d[FRAME_BATCH];
        uint64_t counted = t->counted, mask = ~(uint64_t)(t->g->area.frame_size - 1);
        uint32_t n = port__rx(t->port, d, FRAME_BATCH);

        for (uint32_t i = 0; i < n; i++) {
                struct gen_rx_info in;

                gen_frame__parse(umem_area__data(&t->g->area, d[i].addr), d[i].len, &in);
                tally(t, &in);
                frame_cache__put(&t->cache, d[i].addr & mask);
        }
        if (t->counted != counted) {
                uint64_t now = gen_now_ns();

                if (!t->first_rx_ns)
                        __atomic_store_n(&t->first_rx_ns, now, __ATOMIC_RELAXED);
                __atomic_store_n(&t->last_rx_ns, now, __ATOMIC_RELAXED);
        }
        return n;
}

uint64_t gen__kernel_rx_dropped(const struct gen *g)
{
        uint64_t n = 0;

        for (uint32_t q = 0; q < g->cfg.queues; q++) {
                struct xdp_statistics st;

                if (!xsk_port__kernel_stats(g->th[q].port, &st))
                        n += st.rx_dropped + st.rx_ring_full;
        }
        return n;
}
