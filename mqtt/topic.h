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

/* A short lower-case name of an error reason, "ok" for MQTT_OK. */
const char *mqtt_err__str(enum mqtt_err err);

#endif
