/*
 * Topic names, topic filters and UTF-8 checks (3.1.1 §1.5.3 and §4.7,
 * 5.0 §1.5.4, §4.7 and §4.8.2). The common case (plain ASCII) is checked
 * inline a block at a time (topic.h); this file has the exact byte-by-byte
 * check for the rest, and the filter rules.
 */
#include "mqtt/topic.h"

#include <string.h>

/*
 * One multi-byte sequence starting at s[0] (>= 0x80), Unicode Table 3-7
 * (well-formed byte sequences). Returns its length, or 0 when ill-formed,
 * a surrogate or above U+10FFFF.
 */
static size_t utf8_seq(const uint8_t *s, size_t left)
{
        uint8_t c = s[0], lo = 0x80, hi = 0xBF;
        size_t n;

        if (c >= 0xC2 && c <= 0xDF)
                n = 2;
        else if (c >= 0xE0 && c <= 0xEF)
                n = 3;
        else if (c >= 0xF0 && c <= 0xF4)
                n = 4;
        else
                return 0;
        if (n > left)
                return 0;
        if (c == 0xE0)
                lo = 0xA0;
        else if (c == 0xED)
                hi = 0x9F; /* U+D800..U+DFFF are not characters */
        else if (c == 0xF0)
                lo = 0x90;
        else if (c == 0xF4)
                hi = 0x8F;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
        return n;
}

enum mqtt_err mqtt_topic__check_from(const uint8_t *s, size_t i, size_t len, bool names)
{
        while (i < len) {
                uint8_t c = s[i];

                if (c < 0x80) {
                        if (c == 0)
                                return MQTT_ERR_UTF8;
                        if (names && (c == '+' || c == '#'))
                                return MQTT_ERR_TOPIC_WILDCARD;
                        i++;
                        continue;
                }
                size_t n = utf8_seq(s + i, len - i);

                if (!n)
                        return MQTT_ERR_UTF8;
                i += n;
        }
        return MQTT_OK;
}

/* Wildcard placement in a plain (not shared) filter, 3.1.1 §4.7.1. */
static enum mqtt_err check_levels(const uint8_t *s, size_t len)
{
        if (len == 0)
                return MQTT_ERR_FILTER;
        for (size_t i = 0; i < len; i++) {
                if (s[i] != '+' && s[i] != '#')
                        continue;
                bool starts = i == 0 || s[i - 1] == '/';
                bool ends = i + 1 == len || s[i + 1] == '/';

                if (!starts || !ends)
                        return MQTT_ERR_FILTER;
                if (s[i] == '#' && i + 1 != len)
                        return MQTT_ERR_FILTER;
        }
        return MQTT_OK;
}

static const char SHARE[] = "$share/";
#define SHARE_LEN (sizeof(SHARE) - 1)

static bool is_shared(const uint8_t *s, size_t len)
{
        return len >= SHARE_LEN && memcmp(s, SHARE, SHARE_LEN) == 0;
}

enum mqtt_err mqtt_topic__check_filter(const uint8_t *s, size_t len, bool shared)
{
        enum mqtt_err err = mqtt_utf8__check(s, len);

        if (err != MQTT_OK)
                return err;
        if (shared && is_shared(s, len)) {
                const uint8_t *name = s + SHARE_LEN;
                const uint8_t *slash = memchr(name, '/', len - SHARE_LEN);

                if (!slash || slash == name)
                        return MQTT_ERR_FILTER;
                for (const uint8_t *p = name; p < slash; p++)
                        if (*p == '+' || *p == '#')
                                return MQTT_ERR_FILTER;
                return check_levels(slash + 1, (size_t)(s + len - slash - 1));
        }
        return check_levels(s, len);
}

struct mqtt_str mqtt_topic__unshare(const uint8_t *s, size_t len)
{
        struct mqtt_str out = {s, (uint32_t)len};

        if (is_shared(s, len)) {
                const uint8_t *slash = memchr(s + SHARE_LEN, '/', len - SHARE_LEN);

                if (slash) {
                        out.ptr = slash + 1;
                        out.len = (uint32_t)(s + len - slash - 1);
                }
        }
        return out;
}

bool mqtt_topic__match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
        size_t i = 0, j = 0;

        if (flen && (f[0] == '+' || f[0] == '#') && tlen && t[0] == '$')
                return false;
        while (i < flen) {
                if (f[i] == '#')
                        return true; /* also matches the parent level: "a/#" ~ "a" */
                if (f[i] == '+') {
                        while (j < tlen && t[j] != '/')
                                j++;
                        i++;
                } else {
                        while (i < flen && f[i] != '/') {
                                if (j >= tlen || f[i] != t[j])
                                        return false;
                                i++;
                                j++;
                        }
                        if (j < tlen && t[j] != '/')
                                return false;
                }
                /* both at a level end: a '/' or the end of the string */
                if (i == flen)
                        return j == tlen;
                /* f[i] == '/' */
                if (j == tlen) {
                        /* topic ended; only "/#" may follow in the filter */
                        return i + 2 == flen && f[i + 1] == '#';
                }
                i++;
                j++;
        }
        return j == tlen;
}

const char *mqtt_err__str(enum mqtt_err err)
{
        static const char *const names[MQTT_ERR__COUNT] = {
            [MQTT_OK] = "ok",
            [MQTT_ERR_VARINT] = "varint_too_long",
            [MQTT_ERR_VARINT_NONMINIMAL] = "varint_not_minimal",
            [MQTT_ERR_TOO_LARGE] = "packet_too_large",
            [MQTT_ERR_TYPE] = "bad_packet_type",
            [MQTT_ERR_FLAGS] = "bad_fixed_header_flags",
            [MQTT_ERR_ORDER] = "packet_out_of_order",
            [MQTT_ERR_PROTOCOL_NAME] = "bad_protocol_name",
            [MQTT_ERR_PROTOCOL_LEVEL] = "bad_protocol_level",
            [MQTT_ERR_CONNECT_FLAGS] = "bad_connect_flags",
            [MQTT_ERR_LENGTH] = "length_beyond_packet",
            [MQTT_ERR_TRAILING] = "trailing_bytes",
            [MQTT_ERR_STRING_TOO_LONG] = "string_too_long",
            [MQTT_ERR_UTF8] = "invalid_utf8",
            [MQTT_ERR_TOPIC_EMPTY] = "empty_topic",
            [MQTT_ERR_TOPIC_WILDCARD] = "wildcard_in_topic",
            [MQTT_ERR_FILTER] = "bad_topic_filter",
            [MQTT_ERR_QOS] = "bad_qos",
            [MQTT_ERR_DUP_QOS0] = "dup_on_qos0",
            [MQTT_ERR_PACKET_ID] = "zero_packet_id",
            [MQTT_ERR_ALIAS_INVALID] = "bad_topic_alias",
            [MQTT_ERR_ALIAS_UNKNOWN] = "unknown_topic_alias",
            [MQTT_ERR_PROPERTY] = "property_not_allowed",
            [MQTT_ERR_PROPERTY_DUP] = "duplicate_property",
            [MQTT_ERR_PROPERTY_VALUE] = "bad_property_value",
            [MQTT_ERR_NO_FILTERS] = "no_topic_filters",
            [MQTT_ERR_SUB_OPTIONS] = "bad_subscription_options",
            [MQTT_ERR_REASON_CODE] = "bad_reason_code",
            [MQTT_ERR_NOMEM] = "out_of_memory",
        };

        if ((unsigned)err >= MQTT_ERR__COUNT || !names[err])
                return "unknown";
        return names[err];
}
