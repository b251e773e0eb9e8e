/*
 * libFuzzer target for the MQTT stream parser (mosquitto fuzzing/ style).
 *
 * Input: one selector byte, then the stream.
 *   bit 0     direction: 0 client to server, 1 server to client
 *   bits 1-2  preset version (mqtt_parser__set_version): unset, 3.1, 3.1.1, 5.0
 *   bit 3     topic aliases allowed (mqtt_parser__set_alias_max(8))
 *   bit 4     small limits (max_string 24, alias_bytes 48, max_packet 4096)
 *   bits 5-7  how the split run cuts the stream: byte by byte, 2, 7, 1448,
 *             random 1..16, random 1..300, in halves, or at random 1..4096
 *
 * The stream is parsed twice: whole, and in pieces, each piece copied into
 * its own exactly-sized heap buffer freed as soon as the parser is done
 * with it. Every event is formatted at once (mqtt_fixtures.h), which reads
 * every byte of every view, so ASan sees a view that outlived its buffer or
 * pointed outside it. Both logs must be identical, event for event and error
 * for error, and free of contract breaches ('!' lines); else abort().
 * After an error both parsers are reset and go on from the byte after the
 * one the whole run stopped at.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct split {
        uint8_t pattern;
        uint32_t rng;
};

static uint32_t next_rand(struct split *s)
{
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 17;
        s->rng ^= s->rng << 5;
        return s->rng;
}

static size_t piece_len(struct split *s, size_t left)
{
        size_t n;

        switch (s->pattern) {
        case 0: n = 1; break;
        case 1: n = 2; break;
        case 2: n = 7; break;
        case 3: n = 1448; break;
        case 4: n = 1 + next_rand(s) % 16; break;
        case 5: n = 1 + next_rand(s) % 300; break;
        case 6: n = left > 1 ? (left + 1) / 2 : 1; break;
        default: n = 1 + next_rand(s) % 4096; break;
        }
        return n < left ? n : left;
}

static void begin(struct fx_run *r, const struct fx *f, bool first)
{
        if (first) {
                fx_run_init(r, f);
                return;
        }
        /* keep the log; the parser starts over, version preset again */
        fx_sb_putf(&r->log, "ERROR %s\nRESET\n", mqtt_err__str(r->err));
        mqtt_parser__reset(&r->p);
        if (f->version)
                mqtt_parser__set_version(&r->p, (enum mqtt_version)f->version);
        r->err = MQTT_OK;
        r->fed = r->consumed = 0;
}

/* The log with the last error; a stream may end anywhere, so unlike
 * fx_run_end() no boundary is required. */
static const char *end(struct fx_run *r)
{
        if (r->err != MQTT_OK)
                fx_sb_putf(&r->log, "ERROR %s\n", mqtt_err__str(r->err));
        mqtt_parser__fini(&r->p);
        return fx_sb_str(&r->log);
}

static bool breached(const char *log)
{
        return log[0] == '!' || strstr(log, "\n!");
}

static void fail_mismatch(const char *what, const uint8_t *sel, const char *a, const char *b)
{
        fprintf(stderr,
                "fuzz_parser: %s (selector 0x%02x)\n--- whole\n%.4000s\n--- split\n%.4000s\n", what,
                *sel, a, b);
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t versions[4] = {0, MQTT_V31, MQTT_V311, MQTT_V5};

        if (size < 1)
                return 0;
        uint8_t sel = data[0];
        const uint8_t *in = data + 1;
        size_t n = size - 1;
        struct fx f = {
            .name = "fuzz",
            .dir = sel & 1,
            .version = versions[(sel >> 1) & 3],
            .alias_max = sel & 8 ? 8 : 0,
        };

        if (sel & 16)
                f.lim =
                    (struct mqtt_limits){.max_packet = 4096, .max_string = 24, .alias_bytes = 48};
        struct fx_run whole, split;
        struct split cut = {.pattern = sel >> 5, .rng = 0x9e3779b9u ^ (uint32_t)size};
        size_t pos = 0;

        for (bool first = true;; first = false) {
                begin(&whole, &f, first);
                begin(&split, &f, first);
                /* whole */
                fx_run_piece(&whole, in + pos, n - pos);
                /* split */
                for (size_t at = pos; at < n;) {
                        size_t len = piece_len(&cut, n - at);

                        if (!fx_run_piece(&split, in + at, len))
                                break;
                        at += len;
                }
                if (whole.err != split.err)
                        fail_mismatch("different errors", &sel, fx_sb_str(&whole.log),
                                      fx_sb_str(&split.log));
                if (whole.err == MQTT_OK || whole.consumed + 1 >= n - pos)
                        break;
                pos += whole.consumed + 1;
        }
        const char *a = end(&whole), *b = end(&split);

        if (strcmp(a, b) != 0)
                fail_mismatch("different events", &sel, a, b);
        if (breached(a) || breached(b))
                fail_mismatch("contract breached", &sel, a, b);
        fx_sb_free(&whole.log);
        fx_sb_free(&split.log);
        return 0;
}
