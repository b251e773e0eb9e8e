/*
 * The hierarchical timing wheel (see timer_wheel.h).
 *
 * Owns the slot lists and their occupancy bitmaps. Must not allocate, must
 * not call anything but the advance's callback, must not fire a timer before
 * its tick.
 *
 * Placement. Ticks are counted from base_ns; w->next is the first tick not
 * processed yet. A timer due at tick e, d = e - next ticks away, goes to the
 * level l with 64^l <= d < 64^(l+1) (level 0 for d < 64), slot digit l of e.
 * Level 0's 64 slots are exactly the ticks next .. next + 63. A slot s of
 * level l >= 1 is emptied ("cascaded") at the first tick T >= next whose
 * digit l is s and whose lower digits are 0: that is e with its lower digits
 * cleared (d < 64^(l+1) rules out the same digit one turn earlier, and
 * d >= 64^l makes T > next - 1), so each of its timers is placed again from
 * T, where it is less than 64^l ticks away: a lower level, or level 0 and
 * fired at exactly e. Placing only depends on e and next, and next only
 * grows, so a slot's cascade tick never moves.
 *
 * Skipping. The next tick where anything happens is, over the levels, the
 * first non-empty slot in wheel order from the current digit (a bitmap
 * rotation and a count of trailing zeros): advance jumps there, so a clock
 * that leapt by days costs the timers it fires and cascades, not the ticks.
 */
#include "core/tcp/timer_wheel.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define SLOT_MASK ((uint64_t)TIMER_WHEEL_SLOTS - 1)
/* Farthest placement: a timer farther than this waits at the top level. */
#define SPAN_MAX ((1ull << (TIMER_WHEEL_BITS * TIMER_WHEEL_LEVELS)) - 1)
#define FIRING   0xffffu /* bucket of a timer in the list being fired */

int timer_wheel__init(struct timer_wheel *w, uint64_t tick_ns, uint64_t now_ns)
{
        if (!tick_ns)
                return -EINVAL;
        memset(w, 0, sizeof(*w));
        w->tick_ns = tick_ns;
        w->base_ns = now_ns;
        /* tick 0 is now: it has passed */
        w->next = 1;
        w->next_ns = now_ns + tick_ns;
        return 0;
}

static void link_(struct timer **head, struct timer *t)
{
        t->next = *head;
        if (t->next)
                t->next->pprev = &t->next;
        *head = t;
        t->pprev = head;
}

/* Takes t off whatever list it is on; keeps the bitmap in step. */
static void unlink_(struct timer_wheel *w, struct timer *t)
{
        *t->pprev = t->next;
        if (t->next)
                t->next->pprev = t->pprev;
        t->next = NULL;
        t->pprev = NULL;
        if (t->bucket != FIRING && !w->slot[t->bucket])
                w->bitmap[t->bucket / TIMER_WHEEL_SLOTS] &=
                    ~(1ull << (t->bucket % TIMER_WHEEL_SLOTS));
}

static void place(struct timer_wheel *w, struct timer *t)
{
        uint64_t e = t->expires, d = e - w->next;
        unsigned level = 0, b;

        if (d > SPAN_MAX) {
                /* Parked in the top level's slot for next + SPAN_MAX; placed
                 * again from there with its real tick. */
                e = w->next + SPAN_MAX;
                d = SPAN_MAX;
        }
        if (d >= TIMER_WHEEL_SLOTS)
                level = (unsigned)(63 - __builtin_clzll(d)) / TIMER_WHEEL_BITS;
        b = level * TIMER_WHEEL_SLOTS + (unsigned)((e >> (level * TIMER_WHEEL_BITS)) & SLOT_MASK);
        t->bucket = (uint16_t)b;
        link_(&w->slot[b], t);
        w->bitmap[level] |= 1ull << (b % TIMER_WHEEL_SLOTS);
}

void timer__arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ns, uint32_t cb_id)
{
        uint64_t e = 0;

        if (t->pprev)
                unlink_(w, t);
        else
                w->count++;
        if (expires_ns > w->base_ns) {
                uint64_t rel = expires_ns - w->base_ns;

                /* ceil without overflow: never early */
                e = rel / w->tick_ns + (rel % w->tick_ns != 0);
        }
        if (e < w->next)
                e = w->next;
        t->expires = e;
        t->cb_id = cb_id;
        place(w, t);
}

void timer__cancel(struct timer_wheel *w, struct timer *t)
{
        if (!t->pprev)
                return;
        unlink_(w, t);
        w->count--;
}

/* Moves the list of bucket b to *head (empty), clearing its bit. */
static void detach(struct timer_wheel *w, unsigned b, struct timer **head)
{
        *head = w->slot[b];
        w->slot[b] = NULL;
        if (*head)
                (*head)->pprev = head;
        w->bitmap[b / TIMER_WHEEL_SLOTS] &= ~(1ull << (b % TIMER_WHEEL_SLOTS));
}

/* The first tick >= w->next at which some slot fires or cascades. */
static uint64_t next_event(const struct timer_wheel *w)
{
        uint64_t best = UINT64_MAX;

        for (unsigned l = 0; l < TIMER_WHEEL_LEVELS; l++) {
                unsigned shift = l * TIMER_WHEEL_BITS, i, k;
                uint64_t bm = w->bitmap[l], c, rot, at;

                if (!bm)
                        continue;
                /* c: the first turn of digit l whose tick (c << shift) >= next */
                c = w->next >> shift;
                if (c << shift != w->next)
                        c++;
                i = (unsigned)(c & SLOT_MASK);
                rot = i ? (bm >> i) | (bm << (TIMER_WHEEL_SLOTS - i)) : bm;
                k = (unsigned)__builtin_ctzll(rot);
                at = (c + k) << shift;
                if (at < best)
                        best = at;
        }
        return best;
}

/* At tick T (w->next == T), moves down every level whose turn T starts. */
static void cascade(struct timer_wheel *w, uint64_t T)
{
        unsigned top = 0;

        for (unsigned l = 1; l < TIMER_WHEEL_LEVELS; l++) {
                if (T & ((1ull << (l * TIMER_WHEEL_BITS)) - 1))
                        break;
                top = l;
        }
        for (unsigned l = top; l >= 1; l--) {
                unsigned b =
                    l * TIMER_WHEEL_SLOTS + (unsigned)((T >> (l * TIMER_WHEEL_BITS)) & SLOT_MASK);
                struct timer *list, *t;

                if (!(w->bitmap[l] & (1ull << (b % TIMER_WHEEL_SLOTS))))
                        continue;
                detach(w, b, &list);
                while ((t = list)) {
                        list = t->next;
                        place(w, t);
                }
        }
}

uint64_t timer_wheel__advance(struct timer_wheel *w, uint64_t now_ns, timer_wheel_fn *fn, void *ctx)
{
        uint64_t target, fired = 0;

        if (now_ns < w->next_ns)
                return 0;
        target = (now_ns - w->base_ns) / w->tick_ns;
        while (w->next <= target) {
                uint64_t T = next_event(w);
                unsigned s;
                struct timer *t;

                if (T > target)
                        break;
                w->next = T;
                if (!(T & SLOT_MASK))
                        cascade(w, T);
                s = (unsigned)(T & SLOT_MASK);
                /* Past T before any callback: a timer armed from one for
                 * "now" goes to T + 1, not to the slot being emptied. */
                w->next = T + 1;
                if (!(w->bitmap[0] & (1ull << s)))
                        continue;
                detach(w, s, &w->firing);
                for (t = w->firing; t; t = t->next)
                        t->bucket = FIRING;
                /* One at a time from the head: a callback may cancel or
                 * re-arm any timer still on the list. */
                while ((t = w->firing)) {
                        unlink_(w, t);
                        w->count--;
                        fn(ctx, t, t->cb_id, now_ns);
                        fired++;
                }
        }
        w->next = target + 1;
        w->next_ns = w->base_ns + w->next * w->tick_ns;
        return fired;
}

uint64_t timer_wheel__next_ns(const struct timer_wheel *w)
{
        uint64_t T = next_event(w);

        if (T == UINT64_MAX)
                return UINT64_MAX;
        return w->base_ns + T * w->tick_ns;
}
