/*
 * How many clients change broker when one broker goes down (NSDI 2016 §5.3,
 * Fig. 12 measures the same for Maglev). For N equal-weight backends and
 * M = 65,537, 1,000,000 client ids "client-%d" are hashed as pool__select
 * hashes them; one backend is marked down and the table rebuilt.
 *
 * Prints a table; asserts nothing. Not part of the library.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/hash.h"
#include "core/route/maglev.h"

#define KEYS 1000000u

/* max/min keys per backend, over the backends that are up */
static double load_ratio(const uint16_t *assign, uint32_t n, uint32_t down)
{
        uint32_t *load = calloc(n, sizeof(*load));
        uint32_t max = 0, min = UINT32_MAX;

        if (!load)
                return 0;
        for (uint32_t k = 0; k < KEYS; k++)
                load[assign[k]]++;
        for (uint32_t i = 0; i < n; i++) {
                if (i == down)
                        continue;
                if (load[i] > max)
                        max = load[i];
                if (load[i] < min)
                        min = load[i];
        }
        free(load);
        return min ? (double)max / min : 0;
}

static int run(uint32_t n)
{
        struct maglev_backend *b = calloc(n, sizeof(*b));
        char(*names)[32] = calloc(n, sizeof(*names));
        uint16_t *before = malloc(KEYS * sizeof(*before));
        uint16_t *after = malloc(KEYS * sizeof(*after));
        uint64_t *hashes = malloc(KEYS * sizeof(*hashes));
        struct maglev *m = NULL;
        uint32_t down = n / 2, on_down = 0, moved_up = 0;
        int err = -1;

        if (!b || !names || !before || !after || !hashes)
                goto out;
        for (uint32_t i = 0; i < n; i++) {
                snprintf(names[i], sizeof(names[i]), "10.0.%u.%u:1883", i / 256, i % 256);
                b[i].name = names[i];
                b[i].weight = 1;
                b[i].up = true;
        }
        if (maglev__new(&m, b, n, 65537))
                goto out;
        for (uint32_t k = 0; k < KEYS; k++) {
                char id[32];
                int len = snprintf(id, sizeof(id), "client-%u", k);

                hashes[k] = hash__client_id((const uint8_t *)id, (size_t)len);
                before[k] = maglev__lookup(m, hashes[k]);
        }
        maglev__set_up(m, down, false);
        maglev__populate(m);
        for (uint32_t k = 0; k < KEYS; k++) {
                after[k] = maglev__lookup(m, hashes[k]);
                if (before[k] == down)
                        on_down++;
                else if (after[k] != before[k])
                        moved_up++;
        }
        printf("%5u  %8.4f%%  %8.4f%%  %8.4f%%  %10.4f  %10.4f\n", n, 100.0 * on_down / KEYS,
               100.0 * moved_up / KEYS, 100.0 * (on_down + moved_up) / KEYS,
               load_ratio(before, n, UINT32_MAX), load_ratio(after, n, down));
        err = 0;
out:
        maglev__free(m);
        free(hashes);
        free(after);
        free(before);
        free(names);
        free(b);
        return err;
}

int main(void)
{
        static const uint32_t ns[] = {3, 5, 10, 50, 100};

        printf("M = 65537, %u client ids, one backend of N marked down\n", KEYS);
        printf("%5s  %9s  %9s  %9s  %10s  %10s\n", "N", "on-down", "moved-up", "total", "max/min",
               "max/min");
        printf("%5s  %9s  %9s  %9s  %10s  %10s\n", "", "(must)", "(extra)", "moved", "before",
               "after");
        for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
                if (run(ns[i]))
                        return 1;
        return 0;
}
