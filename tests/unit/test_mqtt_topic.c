/*
 * Topic names, topic filters, UTF-8 (mqtt/topic.h): table cases at the
 * boundaries of the spec, the word-at-a-time fast paths with the bad byte at
 * every position around 8/16-byte boundaries, and differential tests against
 * simple byte-at-a-time reference implementations written here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/topic.h"

static unsigned long checks;

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* Checks f on an exactly-sized heap copy, so that a read past the end is an
 * ASan report. */
static enum mqtt_err on_copy(enum mqtt_err (*f)(const uint8_t *, size_t), const uint8_t *s,
                             size_t len)
{
        uint8_t *b = malloc(len ? len : 1);

        assert_non_null(b);
        memcpy(b, s, len);
        enum mqtt_err err = f(b, len);

        free(b);
        return err;
}

static enum mqtt_err filter_plain(const uint8_t *s, size_t len)
{
        return mqtt_topic__check_filter(s, len, false);
}

static enum mqtt_err filter_shared(const uint8_t *s, size_t len)
{
        return mqtt_topic__check_filter(s, len, true);
}

static enum mqtt_err plain_as_err(const uint8_t *s, size_t len)
{
        return mqtt_topic__plain(s, len) ? MQTT_OK : MQTT_ERR_UTF8;
}

/* plain_name over a copy followed by eight bytes that would fail the check
 * (so reading past the name shows), and over an exact copy (no room). */
static enum mqtt_err plain_name_room(const uint8_t *s, size_t len)
{
        static const uint8_t junk[8] = {0, '+', '#', 0xff, 0, 0x80, '+', 0};
        uint8_t *b = malloc(len + sizeof(junk));

        assert_non_null(b);
        memcpy(b, s, len);
        memcpy(b + len, junk, sizeof(junk));
        bool ok = mqtt_topic__plain_name(b, len, len + sizeof(junk));

        free(b);
        return ok ? MQTT_OK : MQTT_ERR_UTF8;
}

static enum mqtt_err plain_name_exact(const uint8_t *s, size_t len)
{
        uint8_t *b = malloc(len);

        assert_non_null(b);
        memcpy(b, s, len);
        bool ok = mqtt_topic__plain_name(b, len, len);

        free(b);
        return ok ? MQTT_OK : MQTT_ERR_UTF8;
}

/* What plain_name must say: every byte plain ASCII; with no room past a
 * short name, "look closer". */
static enum mqtt_err ref_plain_name(const uint8_t *s, size_t len, bool room)
{
        if (!len || (!room && len < 8))
                return MQTT_ERR_UTF8;
        for (size_t i = 0; i < len; i++)
                if (s[i] >= 0x80 || !s[i] || s[i] == '+' || s[i] == '#')
                        return MQTT_ERR_UTF8;
        return MQTT_OK;
}

#define EXPECT(f, lit, err)                                                                    \
        do {                                                                                   \
                enum mqtt_err got_ = on_copy(f, S(lit));                                       \
                checks++;                                                                      \
                if (got_ != (err))                                                             \
                        fail_msg("%s(\"%s\"): %s, expected %s", #f, #lit, mqtt_err__str(got_), \
                                 mqtt_err__str(err));                                          \
        } while (0)

/* ---- reference implementations: slow and obvious ---- */

/* Decodes one code point; returns its length or 0 when ill-formed. */
static size_t ref_decode(const uint8_t *s, size_t left, uint32_t *cp)
{
        uint8_t c = s[0];
        size_t n;
        uint32_t v, min;

        if (c < 0x80) {
                *cp = c;
                return 1;
        }
        if ((c & 0xE0) == 0xC0)
                n = 2, v = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
                n = 3, v = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
                n = 4, v = c & 0x07, min = 0x10000;
        else
                return 0;
        if (n > left)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                v = v << 6 | (s[i] & 0x3F);
        }
        if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                return 0;
        *cp = v;
        return n;
}

static enum mqtt_err ref_utf8(const uint8_t *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t n = ref_decode(s + i, len - i, &cp);

                if (!n || cp == 0)
                        return MQTT_ERR_UTF8;
                i += n;
        }
        return MQTT_OK;
}

static enum mqtt_err ref_name(const uint8_t *s, size_t len)
{
        if (!len)
                return MQTT_ERR_TOPIC_EMPTY;
        /* the first problem in the string decides */
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t n = ref_decode(s + i, len - i, &cp);

                if (!n || cp == 0)
                        return MQTT_ERR_UTF8;
                if (cp == '+' || cp == '#')
                        return MQTT_ERR_TOPIC_WILDCARD;
                i += n;
        }
        return MQTT_OK;
}

static bool ref_plain(const uint8_t *s, size_t len)
{
        if (len < 8)
                return false;
        for (size_t i = 0; i < len; i++)
                if (s[i] >= 0x80 || !s[i] || s[i] == '+' || s[i] == '#')
                        return false;
        return true;
}

/* Levels of s split at '/': returns how many, fills starts and lengths. */
static size_t levels(const uint8_t *s, size_t len, size_t *start, size_t *n, size_t max)
{
        size_t k = 0, b = 0;

        for (size_t i = 0; i <= len; i++) {
                if (i == len || s[i] == '/') {
                        if (k < max) {
                                start[k] = b;
                                n[k] = i - b;
                        }
                        k++;
                        b = i + 1;
                }
        }
        return k;
}

static enum mqtt_err ref_filter(const uint8_t *s, size_t len)
{
        size_t st[64], n[64], k;

        if (ref_utf8(s, len) != MQTT_OK)
                return MQTT_ERR_UTF8;
        if (!len)
                return MQTT_ERR_FILTER;
        k = levels(s, len, st, n, 64);
        assert_true(k <= 64);
        for (size_t i = 0; i < k; i++) {
                for (size_t j = 0; j < n[i]; j++) {
                        uint8_t c = s[st[i] + j];

                        if ((c == '+' || c == '#') && n[i] != 1)
                                return MQTT_ERR_FILTER;
                        if (c == '#' && i != k - 1)
                                return MQTT_ERR_FILTER;
                }
        }
        return MQTT_OK;
}

static bool ref_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
        size_t fs[64], fn[64], ts[64], tn[64];
        size_t fk = levels(f, flen, fs, fn, 64), tk = levels(t, tlen, ts, tn, 64);

        assert_true(fk <= 64 && tk <= 64);
        if ((f[0] == '+' || f[0] == '#') && tlen && t[0] == '$')
                return false;
        for (size_t i = 0; i < fk; i++) {
                bool hash = fn[i] == 1 && f[fs[i]] == '#';

                if (hash)
                        return true; /* this level and all below, or none */
                if (i >= tk)
                        return false;
                if (fn[i] == 1 && f[fs[i]] == '+')
                        continue;
                if (fn[i] != tn[i] || memcmp(f + fs[i], t + ts[i], fn[i]) != 0)
                        return false;
        }
        return fk == tk;
}

static uint32_t rng = 12345;

static uint32_t next(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        return rng;
}

/* ---- UTF-8 ---- */

static void test_utf8_valid(void **state)
{
        (void)state;
        EXPECT(mqtt_utf8__check, "", MQTT_OK);
        EXPECT(mqtt_utf8__check, "a", MQTT_OK);
        EXPECT(mqtt_utf8__check, "\x01", MQTT_OK);
        EXPECT(mqtt_utf8__check, "\x7f", MQTT_OK);             /* U+007F */
        EXPECT(mqtt_utf8__check, "\xc2\x80", MQTT_OK);         /* U+0080 */
        EXPECT(mqtt_utf8__check, "\xc3\xa9", MQTT_OK);         /* U+00E9 */
        EXPECT(mqtt_utf8__check, "\xdf\xbf", MQTT_OK);         /* U+07FF */
        EXPECT(mqtt_utf8__check, "\xe0\xa0\x80", MQTT_OK);     /* U+0800 */
        EXPECT(mqtt_utf8__check, "\xe2\x82\xac", MQTT_OK);     /* U+20AC */
        EXPECT(mqtt_utf8__check, "\xed\x9f\xbf", MQTT_OK);     /* U+D7FF */
        EXPECT(mqtt_utf8__check, "\xee\x80\x80", MQTT_OK);     /* U+E000 */
        EXPECT(mqtt_utf8__check, "\xef\xbb\xbf", MQTT_OK);     /* U+FEFF */
        EXPECT(mqtt_utf8__check, "\xef\xbf\xbf", MQTT_OK);     /* U+FFFF */
        EXPECT(mqtt_utf8__check, "\xf0\x90\x80\x80", MQTT_OK); /* U+10000 */
        EXPECT(mqtt_utf8__check, "\xf0\x9d\x84\x9e", MQTT_OK); /* U+1D11E */
        EXPECT(mqtt_utf8__check, "\xf3\xbf\xbf\xbf", MQTT_OK); /* U+FFFFF */
        EXPECT(mqtt_utf8__check, "\xf4\x8f\xbf\xbf", MQTT_OK); /* U+10FFFF */
        EXPECT(mqtt_utf8__check, "a/\xc3\xa9/\xe2\x82\xac/\xf0\x9d\x84\x9e/z", MQTT_OK);
        EXPECT(mqtt_utf8__check, "+#", MQTT_OK); /* wildcards are characters */
}

static void test_utf8_invalid(void **state)
{
        (void)state;
        EXPECT(mqtt_utf8__check, "\x00", MQTT_ERR_UTF8);                     /* U+0000 */
        EXPECT(mqtt_utf8__check, "a\x00z", MQTT_ERR_UTF8);                   /* U+0000 */
        EXPECT(mqtt_utf8__check, "\xc0\x80", MQTT_ERR_UTF8);                 /* overlong NUL */
        EXPECT(mqtt_utf8__check, "\xc1\xbf", MQTT_ERR_UTF8);                 /* overlong U+007F */
        EXPECT(mqtt_utf8__check, "\xe0\x80\x80", MQTT_ERR_UTF8);             /* overlong */
        EXPECT(mqtt_utf8__check, "\xe0\x9f\xbf", MQTT_ERR_UTF8);             /* overlong U+07FF */
        EXPECT(mqtt_utf8__check, "\xf0\x80\x80\x80", MQTT_ERR_UTF8);         /* overlong */
        EXPECT(mqtt_utf8__check, "\xf0\x8f\xbf\xbf", MQTT_ERR_UTF8);         /* overlong U+FFFF */
        EXPECT(mqtt_utf8__check, "\xed\xa0\x80", MQTT_ERR_UTF8);             /* U+D800 */
        EXPECT(mqtt_utf8__check, "\xed\xbf\xbf", MQTT_ERR_UTF8);             /* U+DFFF */
        EXPECT(mqtt_utf8__check, "\xed\xa0\xbd\xed\xb2\xa9", MQTT_ERR_UTF8); /* CESU pair */
        EXPECT(mqtt_utf8__check, "\xf4\x90\x80\x80", MQTT_ERR_UTF8);         /* U+110000 */
        EXPECT(mqtt_utf8__check, "\xf5\x80\x80\x80", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xf7\xbf\xbf\xbf", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xf8\x88\x80\x80\x80", MQTT_ERR_UTF8); /* 5 bytes */
        EXPECT(mqtt_utf8__check, "\xfc\x84\x80\x80\x80\x80", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xfe", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xff", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\x80", MQTT_ERR_UTF8); /* lone continuation */
        EXPECT(mqtt_utf8__check, "\xbf", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "a\x80", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xc3\xa9\xa9", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xc2", MQTT_ERR_UTF8); /* truncated */
        EXPECT(mqtt_utf8__check, "\xe2\x82", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xf0\x9d\x84", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "abc\xf0", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xc2\x41", MQTT_ERR_UTF8); /* bad continuation */
        EXPECT(mqtt_utf8__check, "\xe2\x28\xa1", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xe2\x82\x28", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xf0\x9d\x28\x9e", MQTT_ERR_UTF8);
        EXPECT(mqtt_utf8__check, "\xf0\x9d\x84\xc0", MQTT_ERR_UTF8);
}

/*
 * Lengths around the 8- and 16-byte steps of the fast paths, with something
 * at every position: a bad byte, a good multi-byte character, a truncated
 * one, a wildcard. Each checked against the reference.
 */
static void test_fast_path_boundaries(void **state)
{
        static const size_t lens[] = {1,  2,  3,  5,  6,  7,  8,  9,  15, 16,
                                      17, 23, 24, 25, 31, 32, 33, 40, 64, 65};
        static const struct {
                const char *bytes;
                size_t n;
        } ins[] = {
            {"\x00", 1},
            {"\x80", 1},
            {"\xff", 1},
            {"\xc0", 1},
            {"\xc3\xa9", 2},
            {"\xe2\x82\xac", 3},
            {"\xf0\x9d\x84\x9e", 4},
            {"\xc2", 1},
            {"\xe2\x82", 2},
            {"\xed\xa0\x80", 3},
            {"+", 1},
            {"#", 1},
            {"\x2b\x23", 2},
            {"\xab", 1},
            {"\x7f", 1},
            {"\x03", 1},
            {"\xa3", 1},
            {"\xf4\x90\x80\x80", 4},
        };

        (void)state;
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
                size_t len = lens[l];
                uint8_t *s = malloc(len);

                assert_non_null(s);
                for (size_t k = 0; k < sizeof(ins) / sizeof(ins[0]); k++) {
                        for (size_t at = 0; at + ins[k].n <= len; at++) {
                                memset(s, 'a', len);
                                memcpy(s + at, ins[k].bytes, ins[k].n);
                                checks += 4;
                                if (on_copy(mqtt_utf8__check, s, len) != ref_utf8(s, len) ||
                                    on_copy(mqtt_topic__check_name, s, len) != ref_name(s, len) ||
                                    on_copy(plain_as_err, s, len) !=
                                        (ref_plain(s, len) ? MQTT_OK : MQTT_ERR_UTF8) ||
                                    on_copy(filter_plain, s, len) != ref_filter(s, len))
                                        fail_msg("length %zu, insert #%zu at %zu: utf8 %s/%s name "
                                                 "%s/%s plain %d/%d filter %s/%s",
                                                 len, k, at,
                                                 mqtt_err__str(mqtt_utf8__check(s, len)),
                                                 mqtt_err__str(ref_utf8(s, len)),
                                                 mqtt_err__str(mqtt_topic__check_name(s, len)),
                                                 mqtt_err__str(ref_name(s, len)),
                                                 mqtt_topic__plain(s, len), ref_plain(s, len),
                                                 mqtt_err__str(filter_plain(s, len)),
                                                 mqtt_err__str(ref_filter(s, len)));
                                if (plain_name_room(s, len) != ref_plain_name(s, len, true) ||
                                    plain_name_exact(s, len) != ref_plain_name(s, len, false))
                                        fail_msg("length %zu, insert #%zu at %zu: plain_name", len,
                                                 k, at);
                        }
                }
                free(s);
        }
}

/* Random strings over an alphabet of interesting bytes, against the
 * reference implementations. */
static void test_differential_random(void **state)
{
        static const uint8_t alphabet[] = {
            'a',  'b',  '/',  '+',  '#',  '$',  0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xc3, 0xdf,
            0xe0, 0xa0, 0xed, 0x9f, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0xf5, 0xff, 0x23, 0x2b, 0xab,
        };
        uint8_t s[48];

        (void)state;
        for (int iter = 0; iter < 200000; iter++) {
                size_t len = next() % sizeof(s);

                for (size_t i = 0; i < len; i++)
                        s[i] = next() % 4 ? (uint8_t)('a' + next() % 3)
                                          : alphabet[next() % sizeof(alphabet)];
                checks += 4;
                if (on_copy(mqtt_utf8__check, s, len) != ref_utf8(s, len))
                        fail_msg("utf8 differs at iteration %d", iter);
                if (on_copy(mqtt_topic__check_name, s, len) != ref_name(s, len))
                        fail_msg("name differs at iteration %d", iter);
                if (on_copy(filter_plain, s, len) != ref_filter(s, len))
                        fail_msg("filter differs at iteration %d", iter);
                if (on_copy(plain_as_err, s, len) != (ref_plain(s, len) ? MQTT_OK : MQTT_ERR_UTF8))
                        fail_msg("plain differs at iteration %d", iter);
                if (len && (plain_name_room(s, len) != ref_plain_name(s, len, true) ||
                            plain_name_exact(s, len) != ref_plain_name(s, len, false)))
                        fail_msg("plain_name differs at iteration %d (length %zu)", iter, len);
        }
}

/* ---- names and filters ---- */

static void test_check_name(void **state)
{
        (void)state;
        EXPECT(mqtt_topic__check_name, "a/b", MQTT_OK);
        EXPECT(mqtt_topic__check_name, "/", MQTT_OK);
        EXPECT(mqtt_topic__check_name, "//", MQTT_OK);
        EXPECT(mqtt_topic__check_name, "a b/ c", MQTT_OK);
        EXPECT(mqtt_topic__check_name, "$SYS/broker/uptime", MQTT_OK);
        EXPECT(mqtt_topic__check_name, "sensors/\xc3\xa9t\xc3\xa9/temp", MQTT_OK);
        EXPECT(mqtt_topic__check_name, "abcdefghijklmnopqrstuvwxyz/0123456789", MQTT_OK);
        EXPECT(mqtt_topic__check_name, "", MQTT_ERR_TOPIC_EMPTY);
        EXPECT(mqtt_topic__check_name, "+", MQTT_ERR_TOPIC_WILDCARD);
        EXPECT(mqtt_topic__check_name, "#", MQTT_ERR_TOPIC_WILDCARD);
        EXPECT(mqtt_topic__check_name, "a/+/b", MQTT_ERR_TOPIC_WILDCARD);
        EXPECT(mqtt_topic__check_name, "a/b#", MQTT_ERR_TOPIC_WILDCARD);
        EXPECT(mqtt_topic__check_name, "abcdefghijklmnopqrstuvwxyz/+", MQTT_ERR_TOPIC_WILDCARD);
        EXPECT(mqtt_topic__check_name, "abcdefghijklmnopqrstuvwxyz/#/x", MQTT_ERR_TOPIC_WILDCARD);
        EXPECT(mqtt_topic__check_name, "a\x00", MQTT_ERR_UTF8);
        EXPECT(mqtt_topic__check_name, "\xc0\x80", MQTT_ERR_UTF8);
        EXPECT(mqtt_topic__check_name, "abcdefghijklmnop\xed\xa0\x80", MQTT_ERR_UTF8);
        /* the first problem decides */
        EXPECT(mqtt_topic__check_name, "a+\xc0", MQTT_ERR_TOPIC_WILDCARD);
        EXPECT(mqtt_topic__check_name, "a\xc0+", MQTT_ERR_UTF8);
}

static void test_check_filter(void **state)
{
        (void)state;
        /* valid, 3.1.1 §4.7.1 */
        EXPECT(filter_plain, "#", MQTT_OK);
        EXPECT(filter_plain, "+", MQTT_OK);
        EXPECT(filter_plain, "a", MQTT_OK);
        EXPECT(filter_plain, "/", MQTT_OK);
        EXPECT(filter_plain, "//", MQTT_OK);
        EXPECT(filter_plain, "a//b", MQTT_OK);
        EXPECT(filter_plain, "/#", MQTT_OK);
        EXPECT(filter_plain, "a/#", MQTT_OK);
        EXPECT(filter_plain, "+/#", MQTT_OK);
        EXPECT(filter_plain, "+/+", MQTT_OK);
        EXPECT(filter_plain, "/+", MQTT_OK);
        EXPECT(filter_plain, "+/", MQTT_OK);
        EXPECT(filter_plain, "sport/tennis/+", MQTT_OK);
        EXPECT(filter_plain, "sport/+/player1", MQTT_OK);
        EXPECT(filter_plain, "$SYS/#", MQTT_OK);
        EXPECT(filter_plain, "\xc3\xa9/+", MQTT_OK);
        EXPECT(filter_plain, "$share/g/a", MQTT_OK); /* 3.x: not shared, a plain filter */
        EXPECT(filter_plain, "$share/g", MQTT_OK);
        EXPECT(filter_plain, "$share//a", MQTT_OK);
        /* invalid */
        EXPECT(filter_plain, "", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "a#", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "#a", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "a/#/b", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "#/a", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "#/", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "##", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "a+", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "+a", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "++", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "a/b+", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "a/+b/c", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "sport/tennis#", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "sport+", MQTT_ERR_FILTER);
        EXPECT(filter_plain, "a\x00", MQTT_ERR_UTF8);
        EXPECT(filter_plain, "\xc0\x80/#", MQTT_ERR_UTF8);
        EXPECT(filter_plain, "a/\xed\xa0\x80", MQTT_ERR_UTF8);
}

static void test_check_filter_shared(void **state)
{
        (void)state;
        EXPECT(filter_shared, "$share/g/a/#", MQTT_OK);
        EXPECT(filter_shared, "$share/g/#", MQTT_OK);
        EXPECT(filter_shared, "$share/g/+", MQTT_OK);
        EXPECT(filter_shared, "$share/group/a/b", MQTT_OK);
        EXPECT(filter_shared, "$share/g//", MQTT_OK);
        EXPECT(filter_shared, "$share/g/$SYS/#", MQTT_OK);
        EXPECT(filter_shared, "$share/\xc3\xa9/a", MQTT_OK);
        EXPECT(filter_shared, "$share", MQTT_OK);    /* no "$share/": a plain filter */
        EXPECT(filter_shared, "$sharex/a", MQTT_OK); /* likewise */
        EXPECT(filter_shared, "a/b", MQTT_OK);
        EXPECT(filter_shared, "#", MQTT_OK);
        EXPECT(filter_shared, "$share/", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share//a", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/g", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/g/", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/+/a", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/#/a", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/g+/a", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/g#/a", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/g/a/#/b", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/g/a+", MQTT_ERR_FILTER);
        EXPECT(filter_shared, "$share/g/\xc0\x80", MQTT_ERR_UTF8);
        EXPECT(filter_shared, "a/#/b", MQTT_ERR_FILTER);
}

static void expect_unshare(const char *filter, const char *want)
{
        struct mqtt_str got = mqtt_topic__unshare((const uint8_t *)filter, strlen(filter));

        checks++;
        if (got.len != strlen(want) || memcmp(got.ptr, want, got.len) != 0)
                fail_msg("unshare(\"%s\") = \"%.*s\", expected \"%s\"", filter, (int)got.len,
                         (const char *)got.ptr, want);
        if (got.ptr < (const uint8_t *)filter ||
            got.ptr + got.len > (const uint8_t *)filter + strlen(filter))
                fail_msg("unshare(\"%s\") points outside the filter", filter);
}

static void test_unshare(void **state)
{
        (void)state;
        expect_unshare("$share/g/a/#", "a/#");
        expect_unshare("$share/group/x", "x");
        expect_unshare("$share/g/#", "#");
        expect_unshare("$share/g//", "/");
        expect_unshare("a/b", "a/b");
        expect_unshare("#", "#");
        expect_unshare("$share", "$share");
        expect_unshare("$share/g", "$share/g");
        expect_unshare("$sharex/g/a", "$sharex/g/a");
        expect_unshare("$SYS/#", "$SYS/#");
}

/* ---- matching ---- */

static void expect_match(const char *filter, const char *topic, bool want)
{
        bool got = mqtt_topic__match((const uint8_t *)filter, strlen(filter),
                                     (const uint8_t *)topic, strlen(topic));

        checks++;
        if (got != want)
                fail_msg("match(\"%s\", \"%s\") = %d, expected %d", filter, topic, got, want);
        if (ref_match((const uint8_t *)filter, strlen(filter), (const uint8_t *)topic,
                      strlen(topic)) != want)
                fail_msg("reference match(\"%s\", \"%s\") is wrong", filter, topic);
}

static void test_match_spec(void **state)
{
        (void)state;
        /* 3.1.1 §4.7.1.2 */
        expect_match("sport/tennis/player1/#", "sport/tennis/player1", true);
        expect_match("sport/tennis/player1/#", "sport/tennis/player1/ranking", true);
        expect_match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true);
        expect_match("sport/tennis/player1/#", "sport/tennis/player2", false);
        expect_match("sport/tennis/player1/#", "sport/tennis", false);
        expect_match("sport/#", "sport", true);
        expect_match("sport/#", "sports", false);
        expect_match("#", "sport/tennis", true);
        expect_match("#", "/", true);
        /* §4.7.1.3 */
        expect_match("sport/tennis/+", "sport/tennis/player1", true);
        expect_match("sport/tennis/+", "sport/tennis/player2", true);
        expect_match("sport/tennis/+", "sport/tennis/player1/ranking", false);
        expect_match("sport/+", "sport", false);
        expect_match("sport/+", "sport/", true);
        expect_match("+/+", "/finance", true);
        expect_match("+/+", "/", true);
        expect_match("/+", "/finance", true);
        expect_match("+", "/finance", false);
        expect_match("+", "finance", true);
        expect_match("+/tennis/#", "sport/tennis/player1", true);
        expect_match("+/tennis/#", "sport/tennis", true);
        /* §4.7.2: wildcards first do not match '$' topics */
        expect_match("#", "$SYS/x", false);
        expect_match("#", "$SYS", false);
        expect_match("+/monitor/Clients", "$SYS/monitor/Clients", false);
        expect_match("$SYS/#", "$SYS/x", true);
        expect_match("$SYS/#", "$SYS", true);
        expect_match("$SYS/monitor/+", "$SYS/monitor/Clients", true);
        expect_match("a/$x/#", "a/$x/y", true);
        expect_match("a/+", "a/$x", true);
        /* literals */
        expect_match("a/b", "a/b", true);
        expect_match("a/b", "a/b/c", false);
        expect_match("a/b", "a", false);
        expect_match("a/b", "a/bc", false);
        expect_match("a/b", "a/", false);
        expect_match("a/b", "A/b", false);
        expect_match("a/b", "ab", false);
        expect_match("a//b", "a//b", true);
        expect_match("a//b", "a/b", false);
        expect_match("a/+/c", "a/b/c", true);
        expect_match("a/+/c", "a//c", true);
        expect_match("a/+/c", "a/b/d", false);
        expect_match("a/+/c", "a/b/c/d", false);
        expect_match("+/+/#", "a", false);
        expect_match("+/+/#", "a/", true);
        expect_match("+/+/#", "a/b/c/d", true);
        expect_match("a/#", "a/", true);
        expect_match("/#", "/", true);
        expect_match("/#", "/a/b", true);
        expect_match("/#", "a", false);
        expect_match("+/#", "a", true);
        expect_match("+/#", "$a", false);
        expect_match("/", "/", true);
        expect_match("/", "//", false);
}

/* Random valid filters and names over a tiny alphabet, against the
 * reference matcher. */
static void test_match_random(void **state)
{
        static const char falpha[] = "ab/+#$";
        static const char talpha[] = "ab/$";
        uint8_t f[12], t[12];
        unsigned tried = 0;

        (void)state;
        for (int iter = 0; iter < 400000; iter++) {
                size_t fl = 1 + next() % sizeof(f), tl = 1 + next() % sizeof(t);

                for (size_t i = 0; i < fl; i++)
                        f[i] = (uint8_t)falpha[next() % (sizeof(falpha) - 1)];
                for (size_t i = 0; i < tl; i++)
                        t[i] = (uint8_t)talpha[next() % (sizeof(talpha) - 1)];
                if (mqtt_topic__check_filter(f, fl, false) != MQTT_OK ||
                    mqtt_topic__check_name(t, tl) != MQTT_OK)
                        continue;
                tried++;
                checks++;
                if (mqtt_topic__match(f, fl, t, tl) != ref_match(f, fl, t, tl))
                        fail_msg("match(\"%.*s\", \"%.*s\") = %d, reference %d", (int)fl,
                                 (const char *)f, (int)tl, (const char *)t,
                                 mqtt_topic__match(f, fl, t, tl), ref_match(f, fl, t, tl));
        }
        assert_true(tried > 10000);
}

/* ---- error names ---- */

static void test_err_str(void **state)
{
        (void)state;
        assert_string_equal(mqtt_err__str(MQTT_OK), "ok");
        for (int e = 0; e < MQTT_ERR__COUNT; e++) {
                const char *s = mqtt_err__str((enum mqtt_err)e);

                checks++;
                assert_non_null(s);
                assert_true(strlen(s) > 0);
                if (strcmp(s, "unknown") == 0)
                        fail_msg("mqtt_err__str(%d) is \"unknown\"", e);
                for (size_t i = 0; s[i]; i++)
                        assert_true((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                                    s[i] == '_');
                for (int o = 0; o < e; o++)
                        if (strcmp(s, mqtt_err__str((enum mqtt_err)o)) == 0)
                                fail_msg("mqtt_err__str(%d) == mqtt_err__str(%d) == \"%s\"", e, o,
                                         s);
        }
        assert_string_equal(mqtt_err__str(MQTT_ERR__COUNT), "unknown");
        assert_string_equal(mqtt_err__str((enum mqtt_err)200), "unknown");
}

int main(void)
{
        static const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_utf8_valid),
            cmocka_unit_test(test_utf8_invalid),
            cmocka_unit_test(test_fast_path_boundaries),
            cmocka_unit_test(test_differential_random),
            cmocka_unit_test(test_check_name),
            cmocka_unit_test(test_check_filter),
            cmocka_unit_test(test_check_filter_shared),
            cmocka_unit_test(test_unshare),
            cmocka_unit_test(test_match_spec),
            cmocka_unit_test(test_match_random),
            cmocka_unit_test(test_err_str),
        };
        int failed = cmocka_run_group_tests_name("mqtt_topic", tests, NULL, NULL);

        printf("mqtt_topic: %lu checks\n", checks);
        return failed;
}
