/*
 * xdpgen's sending side (gen.h): flow templates, bursts of frames built from
 * them (or random SYNs) in the thread's own UMEM frames, a token bucket for
 * --rate, and the TX ring kept fed and kicked. Counts what the ring took;
 * frames it refused are kept and offered again, never rebuilt.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gen.h"

#define DRAIN_NS 1000000000ull /* longest wait for the TX ring to empty */

static const struct gen_flow_seq *flow_seq_find(const struct gen *g, uint16_t sport)
{
        for (uint32_t i = 0; i < g->nflow_seq; i++)
                if (g->flow_seq[i].sport == sport)
                        return &g->flow_seq[i];
        return NULL;
}

/* A decimal number in 0..max at *p, then blanks; false when there is none. */
static bool take_u32(char **p, uint32_t max, uint32_t *out)
{
        char *end;
        unsigned long long v;

        while (**p == ' ' || **p == '\t')
                (*p)++;
        if (**p < '0' || **p > '9')
                return false;
        errno = 0;
        v = strtoull(*p, &end, 10);
        if (errno || v > max)
                return false;
        *out = (uint32_t)v;
        *p = end;
        return true;
}

int gen__flow_seq_load(struct gen *g, char *err, size_t errlen)
{
        const struct gen_cfg *c = &g->cfg;
        uint32_t cap = 0, line = 0, sspan = c->sport_hi - c->sport_lo + 1u;
        char buf[256];
        FILE *f = fopen(c->flow_seq, "r");
        int r = 0;

        if (!f) {
                r = -errno;
                snprintf(err, errlen, "--flow-seq: %s: %s", c->flow_seq, strerror(errno));
                return r;
        }
        while (fgets(buf, sizeof(buf), f)) {
                struct gen_flow_seq e;
                uint32_t sport;
                char *p = buf, *hash = strchr(buf, '#');

                line++;
                if (hash)
                        *hash = 0;
                p += strspn(p, " \t\r\n");
                if (!*p)
                        continue;
                if (!take_u32(&p, 65535, &sport) || !sport ||
                    !take_u32(&p, UINT32_MAX, &e.snd_nxt) ||
                    !take_u32(&p, UINT32_MAX, &e.rcv_nxt) || p[strspn(p, " \t\r\n")]) {
                        snprintf(err, errlen,
                                 "--flow-seq: %s, line %u: not 'SPORT SND_NXT RCV_NXT' (decimal)",
                                 c->flow_seq, line);
                        r = -EINVAL;
                        break;
                }
                e.sport = (uint16_t)sport;
                if (flow_seq_find(g, e.sport)) {
                        snprintf(err, errlen, "--flow-seq: %s, line %u: source port %u again",
                                 c->flow_seq, line, sport);
                        r = -EINVAL;
                        break;
                }
                if (g->nflow_seq == cap) {
                        struct gen_flow_seq *n;

                        cap = cap ? 2 * cap : 64;
                        n = realloc(g->flow_seq, cap * sizeof(*n));
                        if (!n) {
                                r = -ENOMEM;
                                snprintf(err, errlen, "--flow-seq: %s", strerror(ENOMEM));
                                break;
                        }
                        g->flow_seq = n;
                }
                g->flow_seq[g->nflow_seq++] = e;
        }
        fclose(f);
        /* every flow's port (with --src-count 1, flow f's is lo + f % S) */
        for (uint32_t fl = 0; !r && fl < c->flows; fl++) {
                uint16_t sport = (uint16_t)(c->sport_lo + fl % sspan);

                if (!flow_seq_find(g, sport)) {
                        snprintf(err, errlen, "--flow-seq: %s has no line for source port %u",
                                 c->flow_seq, sport);
                        r = -EINVAL;
                }
        }
        return r;
}

/* Thread t's flows: f = t, t + queues, ... with sport = lo + f % S and
 * dport = lo' + (f / S) % D, so that every flow is a distinct pair; with
 * --src-count A > 1, the address src + f % A and the ports of flow f / A.
 * TCP segments, or UDP datagrams with --mode udp; with --flow-seq each flow's
 * seq and ack come from its line (gen__flow_seq_load checked it is there). */
int gen_thread__flows_init(struct gen_thread *t)
{
        const struct gen_cfg *c = &t->g->cfg;
        uint32_t sspan = c->sport_hi - c->sport_lo + 1u, dspan = c->dport_hi - c->dport_lo + 1u;

        t->nflows = (c->flows - t->idx + c->queues - 1) / c->queues;
        t->flows = calloc(t->nflows, sizeof(*t->flows));
        t->flow_frames = malloc((size_t)t->nflows * c->size);
        if (!t->flows || !t->flow_frames)
                return -ENOMEM;
        for (uint32_t i = 0; i < t->nflows; i++) {
                uint32_t f = t->idx + i * c->queues, nsrc = c->src_count ? c->src_count : 1;
                struct gen_addrs a = t->g->addrs;
                uint8_t *buf = t->flow_frames + (size_t)i * c->size;
                uint16_t sport, dport;

                a.src_ip = htonl(ntohl(a.src_ip) + f % nsrc);
                f /= nsrc;
                sport = (uint16_t)(c->sport_lo + f % sspan);
                dport = (uint16_t)(c->dport_lo + (f / sspan) % dspan);
                if (c->mode == GEN_MODE_UDP)
                        gen_template__init_udp(&t->flows[i], buf, c->size, &a, sport, dport,
                                               t->g->run_id);
                else if (c->flow_seq) {
                        /* the connection's last payload bytes, sent again */
                        const struct gen_flow_seq *fs = flow_seq_find(t->g, sport);

                        gen_template__init(&t->flows[i], buf, c->size, &a, sport, dport,
                                           fs->snd_nxt - (c->size - GEN_HDR_LEN), fs->rcv_nxt, true,
                                           t->g->run_id);
                } else {
                        /* ack: the peer's ISN + 1 of an imagined handshake */
                        gen_template__init(&t->flows[i], buf, c->size, &a, sport, dport,
                                           (uint32_t)gen_rnd(&t->rng), 1, false, t->g->run_id);
                }
        }
        return 0;
}

static void build(struct gen_thread *t, const struct frame_desc *d, uint32_t n)
{
        const struct gen_cfg *c = &t->g->cfg;
        uint32_t net_mask = c->range_len ? ~0u << (32 - c->range_len) : 0;
        uint32_t sspan = c->sport_hi - c->sport_lo + 1u, dspan = c->dport_hi - c->dport_lo + 1u;

        for (uint32_t i = 0; i < n; i++) {
                uint8_t *f = umem_area__data(&t->g->area, d[i].addr);

                if (gen_cfg__stamped(c)) {
                        gen_template__frame(&t->flows[t->next_flow], f, t->next_seq);
                        t->next_seq += c->queues;
                        t->next_flow = t->next_flow + 1 == t->nflows ? 0 : t->next_flow + 1;
                        continue;
                }
                uint64_t r = gen_rnd(&t->rng), r2 = gen_rnd(&t->rng);
                uint32_t src = (ntohl(c->range_ip) & net_mask) | ((uint32_t)r & ~net_mask);

                gen_frame__syn(f, &t->g->addrs, htonl(src),
                               (uint16_t)(c->sport_lo + (r >> 32 & 0xffff) % sspan),
                               (uint16_t)(c->dport_lo + (r >> 48) % dspan), (uint32_t)r2,
                               (uint16_t)(r2 >> 32), c->mss);
        }
}

/* How many frames the token bucket allows now (at most want). It hands out
 * batches of a millisecond's worth (1..want), not single frames: a kick per
 * frame would cap the rate far below flat out. The bucket holds a
 * millisecond too, at least a burst, so oversleeping a little costs no rate. */
static uint32_t tokens_take(struct gen_thread *t, double *tokens, uint64_t *last, uint32_t want)
{
        uint64_t now = gen_now_ns();
        double per_ms = (double)t->rate / 1000;
        double cap = per_ms > FRAME_BATCH ? per_ms : FRAME_BATCH;
        double need = per_ms < 1 ? 1 : per_ms < want ? (uint32_t)per_ms : want;

        *tokens += (double)(now - *last) * (double)t->rate / 1e9;
        *last = now;
        if (*tokens > cap)
                *tokens = cap;
        if (*tokens < need) {
                uint64_t wait = (uint64_t)((need - *tokens) * 1e9 / (double)t->rate);

                /* sleep only with the TX ring empty: in copy mode the kernel
                 * sends only when kicked, a bounded batch per kick */
                if (!t->g->cfg.rx && wait > 50000 &&
                    xsk_port__in_kernel(t->port) <= t->base_in_kernel)
                        gen_sleep_ns(wait > 1000000 ? 1000000 : wait - 20000);
                return 0;
        }
        return *tokens < want ? (uint32_t)*tokens : want;
}

void gen_thread__tx(struct gen_thread *t)
{
        struct gen *g = t->g;
        struct frame_desc pend[FRAME_BATCH];
        uint64_t addrs[FRAME_BATCH], last = gen_now_ns(), deadline = 0;
        uint32_t npend = 0, retried = 0, size = g->cfg.size;
        double tokens = 1;

        if (g->cfg.duration)
                deadline = g->start_ns + (uint64_t)(g->cfg.duration * 1e9);
        for (;;) {
                if (gen_flag(&g->stop_tx) || (deadline && gen_now_ns() >= deadline))
                        break;
                /* what comes back must not wait behind a full RX ring */
                for (int i = 0; g->cfg.rx && i < 8 && gen_thread__rx_burst(t) == FRAME_BATCH; i++)
                        ;
                if (!npend) {
                        uint32_t want = t->quota - t->built < FRAME_BATCH
                                            ? (uint32_t)(t->quota - t->built)
                                            : FRAME_BATCH;

                        if (!want)
                                break;
                        if (t->rate)
                                want = tokens_take(t, &tokens, &last, want);
                        npend = want ? frame_cache__alloc(&t->cache, addrs, want) : 0;
                        for (uint32_t i = 0; i < npend; i++)
                                pend[i] = (struct frame_desc){.addr = addrs[i], .len = size};
                        build(t, pend, npend);
                        t->built += npend;
                        tokens -= npend;
                        retried = 0;
                }
                if (npend) {
                        uint32_t k = port__tx(t->port, pend, npend);

                        /* the ring was full: keep the rest, offer it again */
                        gen_bump(&t->sent, k);
                        npend -= k;
                        memmove(pend, pend + k, npend * sizeof(pend[0]));
                        retried = retried > k ? retried - k : 0;
                        gen_bump(&t->tx_retries, npend - retried);
                        retried = npend;
                }
                port__flush(t->port);
        }
        for (uint32_t i = 0; i < npend; i++)
                frame_cache__put(&t->cache, pend[i].addr);
        gen_bump(&t->tx_dropped, npend);
        /* until the kernel sent what the ring holds (copy mode sends a
         * bounded batch per wakeup) */
        for (uint64_t end = gen_now_ns() + DRAIN_NS; gen_now_ns() < end;) {
                port__flush(t->port);
                if (g->cfg.rx)
                        gen_thread__rx_burst(t);
                if (xsk_port__in_kernel(t->port) <= t->base_in_kernel)
                        break;
        }
        __atomic_store_n(&t->tx_end_ns, gen_now_ns(), __ATOMIC_RELAXED);
        __atomic_store_n(&t->tx_done, true, __ATOMIC_RELEASE);
}
