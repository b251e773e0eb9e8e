/*
 * Server capabilities (MQTT 5.0 §3.2.2.3) combined over several brokers:
 * what a CONNACK may promise when the connection could end up on any of
 * them. Pure functions; no allocation.
 */
#ifndef MQTTLB_MQTT_CAPS_H
#define MQTTLB_MQTT_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt-t.h"

/*
 * acc := the most restrictive of acc and b, each read with the spec's
 * defaults for an absent property: Topic Alias Maximum 0, Receive Maximum
 * 65,535, Maximum Packet Size unlimited, Maximum QoS 2, Retain / Wildcard /
 * Shared Subscription Available 1. A property ends up present when the
 * result differs from its default. Other fields are left alone.
 */
void mqtt_caps__meet(struct mqtt_caps *acc, const struct mqtt_caps *b);

/* The CONNACK properties announcing caps (Topic Alias Maximum, Receive
 * Maximum, Maximum Packet Size, Maximum QoS, Retain / Wildcard / Shared
 * Subscription Available) into out; returns the length (at most
 * MQTT_CAPS_PROPS_MAX). */
#define MQTT_CAPS_PROPS_MAX 22
size_t mqtt_caps__props(const struct mqtt_caps *caps, uint8_t *out);

#endif
