/*
 * The topic alias table of one direction of an MQTT 5 connection
 * (5.0 §3.3.2.3.4): alias number -> topic. Topics are kept in a bounded
 * arena; when it is full even after compaction, the alias is remembered as
 * set but its topic is not kept (the stream stays valid; only the topic is
 * unknown to statistics and routing until the alias is set again).
 */
#ifndef MQTTLB_MQTT_ALIAS_H
#define MQTTLB_MQTT_ALIAS_H

#include <stdint.h>

#include "mqtt/mqtt-t.h"

struct mqtt_alias_table;

enum mqtt_alias_state {
        MQTT_ALIAS_UNSET = 0,
        MQTT_ALIAS_KEPT,
        MQTT_ALIAS_NOT_KEPT,
};

/* A table for aliases 1..max with arena_bytes of topic storage; NULL on ENOMEM. */
struct mqtt_alias_table *mqtt_alias__new(uint16_t max, uint32_t arena_bytes);
void mqtt_alias__free(struct mqtt_alias_table *t);
void mqtt_alias__clear(struct mqtt_alias_table *t);
uint16_t mqtt_alias__max(const struct mqtt_alias_table *t);

/* alias in 1..max. Returns the state the alias is left in. */
enum mqtt_alias_state mqtt_alias__set(struct mqtt_alias_table *t, uint16_t alias,
                                      const uint8_t *topic, uint32_t len);
/* alias in 1..max; *topic is set when the state is MQTT_ALIAS_KEPT. */
enum mqtt_alias_state mqtt_alias__get(const struct mqtt_alias_table *t, uint16_t alias,
                                      struct mqtt_str *topic);

#endif
