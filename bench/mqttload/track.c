/*
 * The (subscriber, publisher) tracks (track.h): linear probing on a 64-bit
 * mix of the pair, the table doubled at 50 % load.
 */
#include "bench/mqttload/track.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t mix(uint32_t sub, uint32_t pubid)
{
        uint64_t x = (uint64_t)sub << 32 | pubid;

        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ull;
        x ^= x >> 33;
        return (uint32_t)x;
}

int track_table__init(struct track_table *t, uint64_t expect)
{
        memset(t, 0, sizeof(*t));
        t->expect = expect;
        t->cap = 64;
        t->slots = calloc(t->cap, sizeof(*t->slots));
        return t->slots ? 0 : -ENOMEM;
}

void track_table__fini(struct track_table *t)
{
        for (uint32_t i = 0; i < t->cap; i++)
                free(t->slots[i].bits);
        free(t->slots);
        memset(t, 0, sizeof(*t));
}

static struct track *probe(struct track *slots, uint32_t cap, uint32_t sub, uint32_t pubid)
{
        uint32_t i = mix(sub, pubid) & (cap - 1);

        while (slots[i].used && (slots[i].sub != sub || slots[i].pubid != pubid))
                i = (i + 1) & (cap - 1);
        return &slots[i];
}

static int grow_table(struct track_table *t)
{
        uint32_t cap = t->cap * 2;
        struct track *slots = calloc(cap, sizeof(*slots));

        if (!slots)
                return -ENOMEM;
        for (uint32_t i = 0; i < t->cap; i++)
                if (t->slots[i].used)
                        *probe(slots, cap, t->slots[i].sub, t->slots[i].pubid) = t->slots[i];
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
        return 0;
}

static int grow_bits(struct track *k, uint64_t seq)
{
        uint64_t n = k->nbits ? k->nbits : 1024, *bits;

        while (n <= seq)
                n *= 2;
        if (n > TRACK_MAX_SEQ)
                n = TRACK_MAX_SEQ;
        bits = realloc(k->bits, n / 8);
        if (!bits)
                return -ENOMEM;
        memset((uint8_t *)bits + k->nbits / 8, 0, (n - k->nbits) / 8);
        k->bits = bits;
        k->nbits = n;
        return 0;
}

enum track_result track_table__mark(struct track_table *t, uint32_t sub, uint32_t pubid,
                                    uint64_t seq, bool *reached)
{
        struct track *k;
        uint64_t *w, bit;

        *reached = false;
        if (seq >= TRACK_MAX_SEQ)
                return TRACK_UNTRACKED;
        k = probe(t->slots, t->cap, sub, pubid);
        if (!k->used) {
                if ((t->used + 1) * 2 > t->cap) {
                        if (grow_table(t))
                                return TRACK_NOMEM;
                        k = probe(t->slots, t->cap, sub, pubid);
                }
                k->used = true;
                k->sub = sub;
                k->pubid = pubid;
                t->used++;
                if (t->expect) {
                        /* round up to whole words: grow_bits doubles from there */
                        k->nbits = 0;
                        if (grow_bits(k, ((t->expect + 63) & ~63ull) - 1))
                                return TRACK_NOMEM;
                }
        }
        if (seq >= k->nbits && grow_bits(k, seq))
                return TRACK_NOMEM;
        w = &k->bits[seq / 64];
        bit = 1ull << (seq % 64);
        if (*w & bit)
                return TRACK_DUP;
        *w |= bit;
        k->distinct++;
        *reached = t->expect && k->distinct == t->expect;
        return TRACK_NEW;
}
