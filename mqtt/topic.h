/*
 * Topic names and topic filters: validation and matching (3.1.1 §4.7,
 * 5.0 §4.7), and UTF-8 string checks (3.1.1 §1.5.3, 5.0 §1.5.4).
 * Pure functions over byte ranges: no allocation, no state.
 */
#ifndef MQTTLB_MQTT_TOPIC_H
#define MQTTLB_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt-t.h"

/*
 * The exact byte-by-byte check of s[from..len): well-formed UTF-8 without
 * surrogates (U+D800..U+DFFF), U+0000 or code points above U+10FFFF; with
 * names, also no '+' or '#'. s[0..from) must be plain ASCII (see
 * mqtt_topic__plain_prefix). Returns MQTT_OK, MQTT_ERR_UTF8 or
 * MQTT_ERR_TOPIC_WILDCARD.
 */
enum mqtt_err mqtt_topic__check_from(const uint8_t *s, size_t from, size_t len, bool names);

/*
 * A SUBSCRIBE/UNSUBSCRIBE topic filter: valid UTF-8, at least one character,
 * '+' alone in its level, '#' alone in the last level. With shared set, a
 * "$share/NAME/FILTER" (5.0 §4.8.2) must have a non-empty NAME without
 * '+', '#' or '/' and a valid FILTER. Returns MQTT_OK, MQTT_ERR_UTF8 or
 * MQTT_ERR_FILTER.
 */
enum mqtt_err mqtt_topic__check_filter(const uint8_t *s, size_t len, bool shared);

/*
 * The filter of a "$share/NAME/FILTER" subscription, or the whole filter when
 * it is not shared (the part that matches topics).
 */
struct mqtt_str mqtt_topic__unshare(const uint8_t *s, size_t len);

/*
 * Whether a valid topic filter matches a valid topic name. Filters that start
 * with a wildcard do not match names that start with '$' (3.1.1 §4.7.2).
 */
bool mqtt_topic__match(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen);

/*
 * How many leading bytes of s are known to be plain ASCII without NUL (and,
 * with names, without '+' or '#'): len when all of them are, else a block
 * boundary at or before the first byte that needs the exact check. Sixteen
 * bytes a step with SSE2 (x86-64 baseline), eight elsewhere; the last block
 * overlaps the one before it. Inline: it runs on every PUBLISH topic.
 *
 * Eight-byte version: for an ASCII byte b, (b & 0x7f) + 0x7f sets bit 7
 * exactly when b != 0 and cannot carry into the next byte; '#' (0x23) and
 * '+' (0x2B) differ only in bit 3, so (b | 0x08) ^ 0x2B is zero for both.
 */
static inline bool mqtt_topic__word_bad(const uint8_t *s, bool names)
{
        const uint64_t low7 = 0x7f7f7f7f7f7f7f7full, highs = 0x8080808080808080ull;
        const uint64_t bit3 = 0x0808080808080808ull, plus = 0x2b2b2b2b2b2b2b2bull;
        uint64_t w, y, ok;

        __builtin_memcpy(&w, s, 8);
        ok = (w & low7) + low7;
        if (names) {
                y = (w | bit3) ^ plus;
                ok &= (y & low7) + low7;
        }
        return ((w | ~ok) & highs) != 0;
}

#if defined(__SSE2__)
#include <emmintrin.h>
#define MQTT_TOPIC_BLOCK 16u

static inline bool mqtt_topic__block_bad(const uint8_t *s, bool names)
{
        const __m128i zero = _mm_setzero_si128();
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i bad = _mm_or_si128(w, _mm_cmpeq_epi8(w, zero)); /* top bit: not ASCII */

        if (names)
                bad = _mm_or_si128(
                    bad, _mm_cmpeq_epi8(_mm_or_si128(w, _mm_set1_epi8(0x08)), _mm_set1_epi8(0x2b)));
        return _mm_movemask_epi8(bad) != 0;
}
#else
#define MQTT_TOPIC_BLOCK 8u

static inline bool mqtt_topic__block_bad(const uint8_t *s, bool names)
{
        return mqtt_topic__word_bad(s, names);
}
#endif

static inline size_t mqtt_topic__plain_prefix(const uint8_t *s, size_t len, bool names)
{
        const size_t n = MQTT_TOPIC_BLOCK;
        size_t i = 0;

        if (len < n) /* a short string: eight-byte words, or none */
                return len >= 8 && !mqtt_topic__word_bad(s, names) &&
                               !mqtt_topic__word_bad(s + len - 8, names)
                           ? len
                           : 0;
        for (; i + n <= len; i += n)
                if (mqtt_topic__block_bad(s + i, names))
                        return i;
        return i == len || !mqtt_topic__block_bad(s + len - n, names) ? len : i;
}

/* True when s (len >= 8) is plain ASCII without NUL, '+' or '#': a topic
 * name that needs no closer look. False means "look closer". */
static inline bool mqtt_topic__plain(const uint8_t *s, size_t len)
{
        return len >= 8 && mqtt_topic__plain_prefix(s, len, true) == len;
}

/*
 * The same question for a topic name of any length (len >= 1) of which room
 * bytes (>= len) may be read: a name of under eight bytes is checked as one
 * eight-byte word when room allows, the bytes past it replaced by 'a'.
 * False means "look closer" (mqtt_topic__check_name), not "invalid".
 */
static inline bool mqtt_topic__plain_name(const uint8_t *s, size_t len, size_t room)
{
        if (len >= 8)
                return mqtt_topic__plain_prefix(s, len, true) == len;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (room >= 8) {
                const uint64_t keep = ~0ull >> (64 - 8 * len), fill = 0x6161616161616161ull;
                uint64_t w;

                __builtin_memcpy(&w, s, 8);
                w = (w & keep) | (fill & ~keep);
                return !mqtt_topic__word_bad((const uint8_t *)&w, true);
        }
#endif
        (void)room;
        return false;
}

/* MQTT_OK when s is well-formed UTF-8 without surrogates, U+0000 or code
 * points above U+10FFFF (3.1.1 §1.5.3, 5.0 §1.5.4); else MQTT_ERR_UTF8. */
static inline enum mqtt_err mqtt_utf8__check(const uint8_t *s, size_t len)
{
        size_t k = mqtt_topic__plain_prefix(s, len, false);

        return k == len ? MQTT_OK : mqtt_topic__check_from(s, k, len, false);
}

/*
 * A PUBLISH or Will topic name: valid UTF-8, no '+' or '#'. An empty name is
 * MQTT_ERR_TOPIC_EMPTY (the parser allows it only with a topic alias).
 */
static inline enum mqtt_err mqtt_topic__check_name(const uint8_t *s, size_t len)
{
        size_t k;

        if (len == 0)
                return MQTT_ERR_TOPIC_EMPTY;
        k = mqtt_topic__plain_prefix(s, len, true);
        return k == len ? MQTT_OK : mqtt_topic__check_from(s, k, len, true);
}

/* A short lower-case name of an error reason, "ok" for MQTT_OK. */
const char *mqtt_err__str(enum mqtt_err err);

#endif
