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
 * MQTT_OK when s is well-formed UTF-8 without surrogates (U+D800..U+DFFF),
 * without U+0000 and without code points above U+10FFFF; else MQTT_ERR_UTF8.
 */
enum mqtt_err mqtt_utf8__check(const uint8_t *s, size_t len);

/*
 * A PUBLISH or Will topic name: valid UTF-8, no '+' or '#'. An empty name is
 * MQTT_ERR_TOPIC_EMPTY (the parser allows it only with a topic alias).
 */
enum mqtt_err mqtt_topic__check_name(const uint8_t *s, size_t len);

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
 * The common case of mqtt_topic__check_name(), inline for the per-PUBLISH
 * path: true when s (len >= 8) is plain ASCII without NUL, '+' or '#'.
 * Eight bytes a step, the last word overlapping the one before it. For an
 * ASCII byte b, (b & 0x7f) + 0x7f sets bit 7 exactly when b != 0 and cannot
 * carry into the next byte; '#' (0x23) and '+' (0x2B) differ only in bit 3,
 * so (b | 0x08) ^ 0x2B is zero for both. False means "look closer", not
 * "invalid".
 */
static inline bool mqtt_topic__plain_words(const uint8_t *s, size_t len)
{
        const uint64_t low7 = 0x7f7f7f7f7f7f7f7full, highs = 0x8080808080808080ull;
        const uint64_t bit3 = 0x0808080808080808ull, plus = 0x2b2b2b2b2b2b2b2bull;
        uint64_t bad = 0;
        size_t i = 0;

        if (len < 8)
                return false;
        for (;;) {
                uint64_t w, y;

                __builtin_memcpy(&w, s + i, 8);
                y = (w | bit3) ^ plus;
                bad |= w | ~(((w & low7) + low7) & ((y & low7) + low7));
                i += 8;
                if (i >= len)
                        return !(bad & highs);
                if (i + 8 > len)
                        i = len - 8;
        }
}

#if defined(__SSE2__)
#include <emmintrin.h>

static inline bool mqtt_topic__plain(const uint8_t *s, size_t len)
{
        /* x86-64 baseline: 16 bytes a step; a byte is bad when its top bit
         * is set (not ASCII), or it is NUL, '#' or '+' */
        const __m128i zero = _mm_setzero_si128(), bit3 = _mm_set1_epi8(0x08),
                      plus = _mm_set1_epi8(0x2b);
        __m128i bad = zero, w;

        if (len < 16)
                return len >= 8 && mqtt_topic__plain_words(s, len);
        /* whole blocks, then the last 16 bytes (overlapping the one before) */
        for (size_t i = 0;; i += 16) {
                if (i + 16 >= len)
                        i = len - 16;
                w = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
                bad = _mm_or_si128(bad, _mm_cmpeq_epi8(w, zero));
                bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_or_si128(w, bit3), plus));
                bad = _mm_or_si128(bad, w);
                if (i + 16 == len)
                        return !_mm_movemask_epi8(bad);
        }
}
#else
static inline bool mqtt_topic__plain(const uint8_t *s, size_t len)
{
        return mqtt_topic__plain_words(s, len);
}
#endif

/* A short lower-case name of an error reason, "ok" for MQTT_OK. */
const char *mqtt_err__str(enum mqtt_err err);

#endif
