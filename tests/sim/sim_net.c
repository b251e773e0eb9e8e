/*
 * The virtual network (sim_net.h): links with impairments and a binary
 * min-heap of frames in flight keyed by (delivery time, send order). Owns
 * its PRNG; draws happen in a fixed order per frame (loss, duplicate, then
 * one delay per copy) so a seed replays exactly.
 */
#include "sim_net.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sim_flight {
        uint64_t at, order;
        unsigned link;
        size_t len;
        uint8_t *frame;
};

struct sim_link {
        struct sim_link_cfg cfg;
        struct sim_link_stats stats;
        uint64_t latest; /* latest delivery time scheduled on this link */
};

struct sim_net {
        struct sim_rng rng;
        struct sim_link *links;
        unsigned nlinks;
        struct sim_flight *heap;
        size_t n, cap;
        uint64_t order;
        uint64_t delivered_at; /* the last delivery's time: they never go back */
};

struct sim_net *sim_net__new(uint64_t seed)
{
        struct sim_net *n = calloc(1, sizeof(*n));

        if (n)
                sim_rng__seed(&n->rng, seed);
        return n;
}

void sim_net__free(struct sim_net *n)
{
        if (!n)
                return;
        for (size_t i = 0; i < n->n; i++)
                free(n->heap[i].frame);
        free(n->heap);
        free(n->links);
        free(n);
}

int sim_net__add_link(struct sim_net *n, const struct sim_link_cfg *cfg)
{
        struct sim_link *l = realloc(n->links, (n->nlinks + 1) * sizeof(*l));

        if (!l)
                return -1;
        n->links = l;
        memset(&l[n->nlinks], 0, sizeof(*l));
        l[n->nlinks].cfg = *cfg;
        return (int)n->nlinks++;
}

void sim_net__set_link(struct sim_net *n, unsigned link, const struct sim_link_cfg *cfg)
{
        n->links[link].cfg = *cfg;
}

static bool before(const struct sim_flight *a, const struct sim_flight *b)
{
        return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void swap(struct sim_flight *a, struct sim_flight *b)
{
        struct sim_flight t = *a;

        *a = *b;
        *b = t;
}

static int push(struct sim_net *n, const struct sim_flight *f)
{
        size_t i;

        if (n->n == n->cap) {
                size_t cap = n->cap ? 2 * n->cap : 256;
                struct sim_flight *h = realloc(n->heap, cap * sizeof(*h));

                if (!h)
                        return -ENOMEM;
                n->heap = h;
                n->cap = cap;
        }
        i = n->n++;
        n->heap[i] = *f;
        while (i && before(&n->heap[i], &n->heap[(i - 1) / 2])) {
                swap(&n->heap[i], &n->heap[(i - 1) / 2]);
                i = (i - 1) / 2;
        }
        return 0;
}

static struct sim_flight pop(struct sim_net *n)
{
        struct sim_flight top = n->heap[0];
        size_t i = 0;

        n->heap[0] = n->heap[--n->n];
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;

                if (l < n->n && before(&n->heap[l], &n->heap[m]))
                        m = l;
                if (r < n->n && before(&n->heap[r], &n->heap[m]))
                        m = r;
                if (m == i)
                        break;
                swap(&n->heap[i], &n->heap[m]);
                i = m;
        }
        return top;
}

static uint64_t draw_delay(struct sim_net *n, const struct sim_link_cfg *c)
{
        uint64_t d = c->delay_ns;

        if (c->jitter_ns && sim_rng__chance(&n->rng, c->jitter_p)) {
                if (c->jitter == SIM_JITTER_EXPONENTIAL)
                        d += (uint64_t)sim_rng__exp(&n->rng, (double)c->jitter_ns);
                else
                        d += sim_rng__below(&n->rng, c->jitter_ns + 1);
        }
        return d;
}

int sim_net__send(struct sim_net *n, uint64_t now, unsigned link, const uint8_t *frame, size_t len)
{
        struct sim_link *l = &n->links[link];
        unsigned copies = 1;

        l->stats.sent++;
        l->stats.bytes += len;
        if (sim_rng__chance(&n->rng, l->cfg.loss)) {
                l->stats.dropped++;
                return 0;
        }
        if (sim_rng__chance(&n->rng, l->cfg.dup)) {
                l->stats.duplicated++;
                copies = 2;
        }
        for (unsigned c = 0; c < copies; c++) {
                struct sim_flight f = {now + draw_delay(n, &l->cfg), n->order++, link, len,
                                       malloc(len ? len : 1)};

                if (!f.frame)
                        return -ENOMEM;
                memcpy(f.frame, frame, len);
                if (f.at < l->latest)
                        l->stats.reordered++;
                l->latest = f.at > l->latest ? f.at : l->latest;
                if (push(n, &f)) {
                        free(f.frame);
                        return -ENOMEM;
                }
        }
        return 0;
}

uint64_t sim_net__next(const struct sim_net *n)
{
        return n->n ? n->heap[0].at : UINT64_MAX;
}

unsigned sim_net__deliver(struct sim_net *n, uint64_t now, sim_net_deliver_fn *cb, void *ctx)
{
        unsigned count = 0;

        while (n->n && n->heap[0].at <= now) {
                struct sim_flight f = pop(n);

                /* the heap's invariant, which every run's determinism and
                 * virtual clock rest on */
                assert(f.at >= n->delivered_at && f.link < n->nlinks);
                n->delivered_at = f.at;
                n->links[f.link].stats.delivered++;
                cb(ctx, f.at, f.link, f.frame, f.len);
                free(f.frame);
                count++;
        }
        return count;
}

size_t sim_net__in_flight(const struct sim_net *n)
{
        return n->n;
}

const struct sim_link_stats *sim_net__link_stats(const struct sim_net *n, unsigned link)
{
        return &n->links[link].stats;
}

void sim_net__totals(const struct sim_net *n, struct sim_link_stats *out)
{
        memset(out, 0, sizeof(*out));
        for (unsigned i = 0; i < n->nlinks; i++) {
                const struct sim_link_stats *s = &n->links[i].stats;

                out->sent += s->sent;
                out->delivered += s->delivered;
                out->dropped += s->dropped;
                out->duplicated += s->duplicated;
                out->reordered += s->reordered;
                out->bytes += s->bytes;
        }
}
