/*
 * The MQTT packets the balancer and the health checker write themselves:
 * CONNACK, DISCONNECT, PINGRESP, PINGREQ and the health checker's CONNECT,
 * with the reason codes they carry named (5.0 §2.4, 3.1.1 §3.2.2.3).
 *
 * Owns the wire form of those packets and the names of their codes. Must not
 * allocate, do I/O or keep state: each encoder writes into the caller's
 * buffer and returns the length, or 0 when the packet does not fit (nothing
 * useful is then in out) or cannot be expressed. Everything it writes must
 * read back through mqtt/parser.h as the values given
 * (tests/unit/test_mqtt_encode.c).
 */
#ifndef MQTTLB_MQTT_ENCODE_H
#define MQTTLB_MQTT_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt-t.h"

/*
 * 5.0 reason codes (5.0 §2.4), those a CONNACK may carry (5.0 §3.2.2.2),
 * which are also the reasons the balancer gives in a DISCONNECT.
 */
enum mqtt_reason_code {
        MQTT_RC_SUCCESS = 0x00,
        MQTT_RC_NORMAL_DISCONNECTION = 0x00, /* the same code in a DISCONNECT */
        MQTT_RC_UNSPECIFIED_ERROR = 0x80,
        MQTT_RC_MALFORMED_PACKET = 0x81,
        MQTT_RC_PROTOCOL_ERROR = 0x82,
        MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR = 0x83,
        MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
        MQTT_RC_CLIENT_ID_NOT_VALID = 0x85,
        MQTT_RC_BAD_USER_NAME_OR_PASSWORD = 0x86,
        MQTT_RC_NOT_AUTHORIZED = 0x87,
        MQTT_RC_SERVER_UNAVAILABLE = 0x88,
        MQTT_RC_SERVER_BUSY = 0x89,
        MQTT_RC_BANNED = 0x8A,
        MQTT_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
        MQTT_RC_TOPIC_NAME_INVALID = 0x90,
        MQTT_RC_PACKET_TOO_LARGE = 0x95,
        MQTT_RC_QUOTA_EXCEEDED = 0x97,
        MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
        MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
        MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
        MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
        MQTT_RC_SERVER_MOVED = 0x9D,
        MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
};

/* 3.1 / 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3, Table 3.1). */
enum mqtt_v3_return_code {
        MQTT_V3_RC_ACCEPTED = 0x00,
        MQTT_V3_RC_UNACCEPTABLE_PROTOCOL_VERSION = 0x01,
        MQTT_V3_RC_IDENTIFIER_REJECTED = 0x02,
        MQTT_V3_RC_SERVER_UNAVAILABLE = 0x03,
        MQTT_V3_RC_BAD_USER_NAME_OR_PASSWORD = 0x04,
        MQTT_V3_RC_NOT_AUTHORIZED = 0x05,
};

/*
 * Sizes for the caller's buffer. A fixed header is the type byte and a
 * remaining length of 1 to 4 bytes (3.1.1 §2.2.3); a property length is a
 * variable byte integer of at most 4 bytes too (5.0 §2.2.2.1).
 */
#define MQTT_FIXED_HEADER_MAX           5
#define MQTT_CONNACK_LEN_MAX(props_len) (MQTT_FIXED_HEADER_MAX + 2 + 4 + (props_len))
#define MQTT_DISCONNECT_LEN_MAX         (MQTT_FIXED_HEADER_MAX + 1) /* reason code only */
#define MQTT_PING_LEN                   2
/* CONNECT: fixed header, protocol name ("MQIsdp" at most), level, flags,
 * keep alive, empty v5 properties, the client id's length and bytes. */
#define MQTT_CONNECT_LEN_MAX(id_len) (MQTT_FIXED_HEADER_MAX + 2 + 6 + 1 + 1 + 2 + 1 + 2 + (id_len))

/*
 * CONNACK (3.1.1 §3.2 / 5.0 §3.2): the session present flag and code, a
 * 3.1.1 return code (enum mqtt_v3_return_code) for MQTT_V31 / MQTT_V311, a
 * 5.0 reason code (enum mqtt_reason_code) with the properties
 * props[0..props_len) (already encoded, 5.0 §3.2.2.3) for MQTT_V5. 3.x has
 * no properties: props_len must then be 0. Returns the length, or 0 when it
 * does not fit in cap or v is none of those.
 */
size_t mqtt_encode__connack(uint8_t *out, size_t cap, enum mqtt_version v, bool session_present,
                            uint8_t code, const uint8_t *props, size_t props_len);

/*
 * DISCONNECT (3.1.1 §3.14 / 5.0 §3.14), without properties. 3.x: no
 * variable header, reason ignored. 5.0: the reason code, omitted when it is
 * Normal disconnection (0x00), as 5.0 §3.14.2.1 allows. Returns the length
 * or 0 when it does not fit or v is unknown.
 */
size_t mqtt_encode__disconnect(uint8_t *out, size_t cap, enum mqtt_version v, uint8_t reason);

/* PINGREQ (3.1.1 §3.12 / 5.0 §3.12) and PINGRESP (§3.13): a fixed header
 * only, the same in every version. Return 2, or 0 when cap < 2. */
size_t mqtt_encode__pingreq(uint8_t *out, size_t cap);
size_t mqtt_encode__pingresp(uint8_t *out, size_t cap);

/*
 * CONNECT (3.1 / 3.1.1 §3.1 / 5.0 §3.1) as a client with nothing to say but
 * its id: protocol name "MQIsdp" (level 3) or "MQTT" (levels 4 and 5), the
 * Clean Session / Clean Start flag as clean, keep alive, empty properties
 * (5.0), the client id client_id[0..id_len) (id_len <= 65,535; the bytes are
 * written as given), no will, no user name, no password. Returns the length
 * or 0 when it does not fit, v is unknown or id_len is too long.
 */
size_t mqtt_encode__connect(uint8_t *out, size_t cap, enum mqtt_version v, bool clean,
                            uint16_t keepalive, const uint8_t *client_id, size_t id_len);

/*
 * The name of a CONNACK code as the spec words it: a 3.1.1 return code
 * (3.1.1 §3.2.2.3) when v is not MQTT_V5, else a 5.0 reason code (5.0
 * §3.2.2.2). "?" for a code a CONNACK of that version cannot carry. Static
 * strings.
 */
const char *mqtt_reason__str(uint8_t code, enum mqtt_version v);

#endif
