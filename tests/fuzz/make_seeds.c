/*
 * Writes the fuzz seed corpus: one file per fixture of
 * tests/unit/mqtt_fixtures.h, named after it, holding the selector byte
 * fuzz_parser.c expects (direction, preset version, aliases, small limits,
 * split pattern) followed by the fixture's bytes. Run by make-seeds.sh.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mqtt_fixtures.h"

int main(int argc, char **argv)
{
        size_t total = 0;

        if (argc != 2) {
                fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < FX_COUNT; i++) {
                const struct fx *f = &FX[i];
                uint8_t *b;
                size_t n = fx_unhex(f->hex, &b);
                char path[4096];

                if (n == (size_t)-1) {
                        fprintf(stderr, "%s: bad hex\n", f->name);
                        return 1;
                }
                bool small = f->lim.max_packet || f->lim.max_string || f->lim.alias_bytes;
                unsigned v = f->version == MQTT_V31    ? 1
                             : f->version == MQTT_V311 ? 2
                             : f->version == MQTT_V5   ? 3
                                                       : 0;
                uint8_t sel = (uint8_t)(f->dir | v << 1 | (f->alias_max ? 8 : 0) |
                                        (small ? 16 : 0) | (i % 8) << 5);
                FILE *out;

                snprintf(path, sizeof(path), "%s/%s", argv[1], f->name);
                out = fopen(path, "wb");
                if (!out || fputc(sel, out) == EOF || fwrite(b, 1, n, out) != n || fclose(out)) {
                        perror(path);
                        return 1;
                }
                total += n + 1;
                free(b);
        }
        printf("%zu seeds, %zu bytes\n", (size_t)FX_COUNT, total);
        return 0;
}
