/*
 * libFuzzer target for the TLS ClientHello reader (tls/clienthello.h).
 *
 * Input: two header bytes, then the client's stream.
 *   byte 0, bits 0-2  how the split run cuts the stream: byte by byte, 2, 7,
 *                     random 1..16, random 1..300, in halves, 1448 (a
 *                     segment), random 1..4096
 *           bit 3     max_len 600 instead of the default (16384)
 *   byte 1            the seed of the random cuts
 *
 * The stream is read twice: whole, and in pieces, each piece copied into
 * its own exactly-sized heap buffer freed as soon as the reader returns.
 * Checked, else abort():
 *   - every call: *used <= len, and *used == len on NEED_MORE; the offset
 *     moves by *used;
 *   - DONE and ERROR are sticky: more input, nothing consumed, the reader
 *     unchanged;
 *   - both runs end with the same status and the very same reader state
 *     (error, offset, results, every private field);
 *   - after DONE, the results within their bounds: the offset is exactly
 *     the record headers read plus the 4-byte handshake header plus the
 *     body; the host name's length, its NUL, its bytes; the ALPN list
 *     walked by tls_hello__alpn() fills alpn_len exactly with 1..255-byte
 *     names.
 *
 * Seeds (corpus/clienthello) are the captured hellos of tests/fixtures/tls
 * behind a few header bytes; tests/fixtures/tls/capture.sh writes them.
 * A crash: `fuzz_clienthello ARTIFACT` says which check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/clienthello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_MAX_LEN 600

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
        case 3: n = 1 + next_rand(s) % 16; break;
        case 4: n = 1 + next_rand(s) % 300; break;
        case 5: n = left > 1 ? (left + 1) / 2 : 1; break;
        case 6: n = 1448; break;
        default: n = 1 + next_rand(s) % 4096; break;
        }
        return n < left ? n : left;
}

static void fail(const char *what, uint8_t sel, const struct tls_hello *h)
{
        fprintf(stderr, "fuzz_clienthello: %s (selector 0x%02x, offset %llu, %s)\n", what, sel,
                (unsigned long long)tls_hello__offset(h), tls_hello_err__str(tls_hello__error(h)));
        abort();
}

/* One call, with the per-call contract checked. */
static enum tls_hello_status feed(struct tls_hello *h, const uint8_t *p, size_t n, uint8_t sel)
{
        uint64_t before = tls_hello__offset(h);
        size_t used = (size_t)-1;
        enum tls_hello_status st = tls_hello__feed(h, p, n, &used);

        if (used > n)
                fail("used > len", sel, h);
        if (st == TLS_HELLO_NEED_MORE && used != n)
                fail("NEED_MORE without consuming everything", sel, h);
        if (tls_hello__offset(h) != before + used)
                fail("offset did not move by used", sel, h);
        if ((st == TLS_HELLO_ERROR) != (tls_hello__error(h) != TLS_HELLO_OK))
                fail("status and error disagree", sel, h);
        if ((st == TLS_HELLO_DONE) != (tls_hello__info(h) != NULL))
                fail("info before DONE or none after", sel, h);
        return st;
}

/* After DONE or ERROR nothing moves. */
static void check_sticky(struct tls_hello *h, enum tls_hello_status st, const uint8_t *more,
                         size_t n, uint8_t sel)
{
        static struct tls_hello before;
        size_t used = 1;

        memcpy(&before, h, sizeof(before));
        if (tls_hello__feed(h, more, n, &used) != st || used != 0)
                fail("DONE/ERROR not sticky", sel, h);
        if (memcmp(&before, h, sizeof(before)) != 0)
                fail("a call after DONE/ERROR changed the reader", sel, h);
}

static bool host_byte(uint8_t c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
}

static void check_results(const struct tls_hello *h, uint32_t max_len, size_t n, uint8_t sel)
{
        const struct tls_hello_info *in = tls_hello__info(h);
        const uint8_t *name;
        size_t len, at = 0;

        if (in->hello_len > max_len)
                fail("hello over max_len", sel, h);
        if (tls_hello__offset(h) != 5ull * in->records + 4 + in->hello_len)
                fail("offset is not the records' headers + 4 + the body", sel, h);
        if (tls_hello__offset(h) > n || in->records_len < tls_hello__offset(h) ||
            in->records_len > tls_hello__offset(h) + 16383)
                fail("records_len out of bounds", sel, h);
        if (in->record_version < 0x0300 || in->record_version > 0x0304 ||
            in->client_version >> 8 != 3)
                fail("versions out of bounds", sel, h);
        if (in->extensions > TLS_HELLO_MAX_EXTS)
                fail("too many extensions", sel, h);
        if (in->has_sni != (in->sni_len > 0) || strlen(in->sni) != in->sni_len)
                fail("sni length", sel, h);
        for (size_t i = 0; i < in->sni_len; i++)
                if (!host_byte((uint8_t)in->sni[i]) ||
                    (in->sni[i] == '.' && (i == 0 || in->sni[i - 1] == '.')))
                        fail("sni byte", sel, h);
        if (in->alpn_len > TLS_HELLO_ALPN_MAX || (!in->has_alpn && in->alpn_len) ||
            (in->alpn_more && !in->has_alpn))
                fail("alpn length", sel, h);
        for (unsigned i = 0; i < in->alpn_count; i++) {
                if (!tls_hello__alpn(h, i, &name, &len) || len < 1 || len > 255 ||
                    name != in->alpn + at + 1 || at + 1 + len > in->alpn_len)
                        fail("alpn name", sel, h);
                at += 1 + len;
        }
        if (at != in->alpn_len || tls_hello__alpn(h, in->alpn_count, &name, &len))
                fail("alpn list", sel, h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tls_hello whole, split;

        if (size < 2)
                return 0;
        uint8_t sel = data[0];
        const uint8_t *in = data + 2;
        size_t n = size - 2;
        uint32_t max_len = sel & 8 ? SMALL_MAX_LEN : TLS_HELLO_MAX_DEFAULT;
        struct split cut = {.pattern = sel & 7, .rng = 0x9e3779b9u ^ data[1] ^ (uint32_t)size};
        enum tls_hello_status a, b = TLS_HELLO_NEED_MORE;

        /* 0 is the default: the two readers must still be the same */
        tls_hello__init(&whole, sel & 8 ? SMALL_MAX_LEN : 0);
        a = feed(&whole, in, n, sel);

        tls_hello__init(&split, max_len);
        for (size_t at = 0; at < n;) {
                size_t len = piece_len(&cut, n - at);
                uint8_t *piece = malloc(len);

                if (!piece)
                        abort();
                memcpy(piece, in + at, len);
                b = feed(&split, piece, len, sel);
                free(piece);
                if (b != TLS_HELLO_NEED_MORE)
                        break;
                at += len;
        }
        if (a != b)
                fail("whole and split end differently", sel, &split);
        if (memcmp(&whole, &split, sizeof(whole)) != 0)
                fail("whole and split leave different readers", sel, &split);
        if (a != TLS_HELLO_NEED_MORE)
                check_sticky(&whole, a, in, n, sel);
        if (a == TLS_HELLO_DONE)
                check_results(&whole, max_len, n, sel);
        return 0;
}
