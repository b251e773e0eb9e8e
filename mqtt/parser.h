/*
 * The incremental MQTT 3.1 / 3.1.1 / 5.0 stream parser: one per direction of
 * a connection. It reads a TCP byte stream handed over in arbitrary pieces
 * and produces the events the balancer routes by (mqtt-t.h). Payloads are
 * skipped, never copied; topics, filters and client ids are returned as views
 * into the input when they are contiguous, and reassembled into a buffer that
 * grows with the bytes actually received (never by a declared length) up to
 * lim.max_string when they are split.
 *
 * No I/O. Allocation only when a split string outgrows the buffer and when a
 * topic alias table is set up.
 */
#ifndef MQTTLB_MQTT_PARSER_H
#define MQTTLB_MQTT_PARSER_H

#include <stddef.h>

#include "mqtt/parser-t.h"

/* lim may be NULL for the protocol's own limits. */
void mqtt_parser__init(struct mqtt_parser *p, enum mqtt_dir dir, const struct mqtt_limits *lim);
/* Frees what the parser allocated; the parser may be init'ed again. */
void mqtt_parser__fini(struct mqtt_parser *p);
/* Heap bytes the parser holds now (reassembly buffer, alias table): what a
 * memory budget charges for it. */
size_t mqtt_parser__mem(const struct mqtt_parser *p);
/* The largest remaining length accepted from here on (0: the protocol's
 * maximum); a packet over it is MQTT_ERR_TOO_LARGE at its fixed header. */
void mqtt_parser__set_max_packet(struct mqtt_parser *p, uint32_t max);
/* Back to the start of a stream, error cleared; keeps limits and buffers. */
void mqtt_parser__reset(struct mqtt_parser *p);

/*
 * The protocol version of a server-to-client stream (the client's CONNECT
 * says it). When unset, a CONNACK longer than 2 bytes is read as 5.0.
 */
void mqtt_parser__set_version(struct mqtt_parser *p, enum mqtt_version v);
enum mqtt_version mqtt_parser__version(const struct mqtt_parser *p);

/*
 * How many topic aliases the sender of this stream may use (the Topic Alias
 * Maximum the receiver announced: CONNACK for the client's stream, CONNECT
 * for the server's; 5.0 §3.3.2.3.4). 0, the default, forbids aliases.
 * Returns 0 or -ENOMEM.
 */
int mqtt_parser__set_alias_max(struct mqtt_parser *p, uint16_t max);

/*
 * Reads from buf[0..len). Sets *used to the bytes consumed and returns
 *   MQTT_EVENT      *ev is filled; call again with buf + *used;
 *   MQTT_NEED_MORE  all len bytes consumed (*used == len), no event;
 *   MQTT_ERROR      protocol error (mqtt_parser__error()), sticky; *used is
 *                   then not meaningful (the stream is dead).
 * Views in *ev are valid until the next call. *ev is meaningful only after
 * MQTT_EVENT: other outcomes may leave it partly written. A PUBLISH event
 * is the last of its packet: the next event needs at least one more byte.
 */
enum mqtt_status mqtt_parser__feed(struct mqtt_parser *p, const uint8_t *buf, size_t len,
                                   size_t *used, struct mqtt_event *ev);

enum mqtt_err mqtt_parser__error(const struct mqtt_parser *p);
/* Stream bytes consumed so far. */
uint64_t mqtt_parser__offset(const struct mqtt_parser *p);
/* True between packets (no packet partly read). */
bool mqtt_parser__at_boundary(const struct mqtt_parser *p);

#endif
