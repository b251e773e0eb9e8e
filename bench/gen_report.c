/*
 * xdpgen's report (gen.h): the threads' counters summed, and printed once at
 * the end: a human summary on stderr, one JSON object on stdout with --json.
 * The keys and what they mean are documented in --help (gen_opts.c).
 */
#include <stdio.h>
#include <string.h>

#include "bench/gen.h"

void gen__sum(const struct gen *g, struct gen_totals *s)
{
        memset(s, 0, sizeof(*s));
        s->tx_done = true;
        for (uint32_t q = 0; q < g->cfg.queues; q++) {
                struct gen_thread *t = &g->th[q];
                uint64_t first = gen_ld(&t->first_rx_ns), last = gen_ld(&t->last_rx_ns);

                s->sent += gen_ld(&t->sent);
                s->tx_retries += gen_ld(&t->tx_retries);
                s->tx_dropped += gen_ld(&t->tx_dropped);
                s->received += gen_ld(&t->received);
                s->unique += gen_ld(&t->unique);
                s->dups += gen_ld(&t->dups);
                s->other += gen_ld(&t->other);
                s->syn += gen_ld(&t->syn);
                s->bad_csum += gen_ld(&t->bad_csum);
                s->counted += gen_ld(&t->counted);
                if (first && (!s->first_rx_ns || first < s->first_rx_ns))
                        s->first_rx_ns = first;
                if (last > s->last_rx_ns)
                        s->last_rx_ns = last;
                if (gen_ld(&t->tx_end_ns) > s->tx_end_ns)
                        s->tx_end_ns = gen_ld(&t->tx_end_ns);
                s->overflow |= __atomic_load_n(&t->overflow, __ATOMIC_RELAXED);
                s->tx_done &= __atomic_load_n(&t->tx_done, __ATOMIC_ACQUIRE);
        }
}

void gen__report(const struct gen *g, const struct gen_totals *s, uint32_t dev_dropped)
{
        const struct gen_cfg *c = &g->cfg;
        bool rx = c->rx || c->rx_only, tcp = gen_cfg__stamped(c); /* or udp */
        double secs, rx_secs = (double)(s->last_rx_ns - s->first_rx_ns) / 1e9;
        uint64_t expect = c->rx_only ? c->count : s->sent, got = tcp ? s->unique : s->syn;
        bool unique_known = rx && tcp && !s->overflow, lost_known = rx && (!c->rx_only || c->count);
        char unique[24] = "null", lost[24] = "null";

        secs = c->rx_only ? rx_secs : (double)(s->tx_end_ns - g->start_ns) / 1e9;
        if (unique_known)
                snprintf(unique, sizeof(unique), "%llu", (unsigned long long)s->unique);
        if (lost_known && (!tcp || unique_known))
                snprintf(lost, sizeof(lost), "%lld", (long long)(expect - got));
        double tx_pps = secs > 0 ? (double)s->sent / secs : 0;
        double rx_pps = s->counted > 1 && rx_secs > 0 ? (double)s->counted / rx_secs : 0;

        if (!c->rx_only)
                fprintf(stderr,
                        "xdpgen: %s: sent %llu in %.3f s (%.0f pps); tx retries %llu, not sent "
                        "%llu, interface tx drops %u\n",
                        c->dev, (unsigned long long)s->sent, secs, tx_pps,
                        (unsigned long long)s->tx_retries, (unsigned long long)s->tx_dropped,
                        dev_dropped);
        if (rx) {
                fprintf(stderr,
                        "xdpgen: %s: received %llu stamped (unique %s, duplicates %llu), %llu "
                        "SYNs, lost %s, at %.0f pps; other %llu, bad checksum %llu, kernel rx "
                        "drops %llu; run id %#x; per queue:",
                        c->dev, (unsigned long long)s->received, unique,
                        (unsigned long long)s->dups, (unsigned long long)s->syn, lost, rx_pps,
                        (unsigned long long)s->other, (unsigned long long)s->bad_csum,
                        (unsigned long long)s->kernel_dropped, g->run_id);
                for (uint32_t q = 0; q < c->queues; q++)
                        fprintf(stderr, " %llu", (unsigned long long)g->th[q].counted);
                fputc('\n', stderr);
        }
        if (!c->json)
                return;
        printf("{\"sent\":%llu,\"received\":%llu,\"unique\":%s,\"duplicates\":%llu,\"lost\":%s,"
               "\"rx_other\":%llu,\"rx_syn\":%llu,\"rx_bad_csum\":%llu,\"seconds\":%.6f,"
               "\"tx_pps\":%.0f,\"rx_pps\":%.0f,\"rx_per_queue\":[",
               (unsigned long long)s->sent, (unsigned long long)s->received, unique,
               (unsigned long long)s->dups, lost, (unsigned long long)s->other,
               (unsigned long long)s->syn, (unsigned long long)s->bad_csum, secs, tx_pps, rx_pps);
        for (uint32_t q = 0; q < c->queues; q++)
                printf("%s%llu", q ? "," : "", (unsigned long long)g->th[q].counted);
        printf("],\"tx_dropped\":%llu,\"tx_retries\":%llu,\"dev_tx_dropped\":%u,"
               "\"rx_kernel_dropped\":%llu,\"run_id\":%u,\"queues\":%u,\"zerocopy\":%s}\n",
               (unsigned long long)s->tx_dropped, (unsigned long long)s->tx_retries, dev_dropped,
               (unsigned long long)s->kernel_dropped, g->run_id, c->queues,
               xsk_port__zerocopy(g->th[0].port) ? "true" : "false");
        fflush(stdout);
}
