/*
 * Types of the MQTT stream engine: packet types, protocol error reasons, the
 * events the parser produces and its limits. Types only (no functions), so
 * that core/ headers can embed them without pulling the parser's API.
 *
 * Spec references: MQTT 3.1 (IBM, "MQIsdp"), OASIS MQTT 3.1.1 (mqtt-v3.1.1-os)
 * and OASIS MQTT 5.0 (mqtt-v5.0-os), cited as "3.1.1 §x" and "5.0 §x".
 */
#ifndef MQTTLB_MQTT_T_H
#define MQTTLB_MQTT_T_H

#include <stdbool.h>
#include <stdint.h>

/* Control packet types, 3.1.1 §2.2.1 / 5.0 §2.1.2. */
enum mqtt_packet_type {
        MQTT_RESERVED = 0,
        MQTT_CONNECT = 1,
        MQTT_CONNACK = 2,
        MQTT_PUBLISH = 3,
        MQTT_PUBACK = 4,
        MQTT_PUBREC = 5,
        MQTT_PUBREL = 6,
        MQTT_PUBCOMP = 7,
        MQTT_SUBSCRIBE = 8,
        MQTT_SUBACK = 9,
        MQTT_UNSUBSCRIBE = 10,
        MQTT_UNSUBACK = 11,
        MQTT_PINGREQ = 12,
        MQTT_PINGRESP = 13,
        MQTT_DISCONNECT = 14,
        MQTT_AUTH = 15, /* 5.0 only */
};

/* Protocol levels (the CONNECT "Protocol Level" byte). */
enum mqtt_version {
        MQTT_V_UNKNOWN = 0,
        MQTT_V31 = 3,  /* "MQIsdp" */
        MQTT_V311 = 4, /* "MQTT" */
        MQTT_V5 = 5,   /* "MQTT" */
};

/* Which peer sends the stream a parser reads. */
enum mqtt_dir {
        MQTT_DIR_C2S = 0, /* client to server: CONNECT first */
        MQTT_DIR_S2C = 1, /* server to client: CONNACK first */
};

/* CONNECT flags, 3.1.1 §3.1.2.3. */
#define MQTT_CONNECT_CLEAN       0x02 /* clean session (v3) / clean start (v5) */
#define MQTT_CONNECT_WILL        0x04
#define MQTT_CONNECT_WILL_QOS(f) (((f) >> 3) & 3)
#define MQTT_CONNECT_WILL_RETAIN 0x20
#define MQTT_CONNECT_PASSWORD    0x40
#define MQTT_CONNECT_USERNAME    0x80

/*
 * Why a stream was rejected. Each is a protocol violation the parser detected
 * (or a limit of the configuration); the value is stable and indexes the
 * "malformed by reason" counters. Keep mqtt_err__str() in sync.
 */
enum mqtt_err {
        MQTT_OK = 0,
        MQTT_ERR_VARINT,            /* variable byte integer longer than 4 bytes */
        MQTT_ERR_VARINT_NONMINIMAL, /* 5.0 §1.5.5: not the minimum number of bytes */
        MQTT_ERR_TOO_LARGE,         /* packet over the configured maximum */
        MQTT_ERR_TYPE,              /* reserved type, AUTH before 5.0, or wrong direction */
        MQTT_ERR_FLAGS,             /* fixed-header flags not as the type requires */
        MQTT_ERR_ORDER,             /* first packet not CONNECT/CONNACK, or a second one */
        MQTT_ERR_PROTOCOL_NAME,     /* not "MQTT" / "MQIsdp" */
        MQTT_ERR_PROTOCOL_LEVEL,    /* level not 3, 4 or 5, or not matching the name */
        MQTT_ERR_CONNECT_FLAGS,     /* reserved bit, will QoS/retain without will, ... */
        MQTT_ERR_LENGTH,            /* a field runs past the end of its packet */
        MQTT_ERR_TRAILING,          /* bytes left in a packet after its last field */
        MQTT_ERR_STRING_TOO_LONG,   /* topic/filter/client id over the configured limit */
        MQTT_ERR_UTF8,              /* ill-formed UTF-8, a surrogate, or U+0000 */
        MQTT_ERR_TOPIC_EMPTY,       /* zero-length topic without a topic alias */
        MQTT_ERR_TOPIC_WILDCARD,    /* '+' or '#' in a topic name */
        MQTT_ERR_FILTER,            /* invalid topic filter */
        MQTT_ERR_QOS,               /* QoS 3 */
        MQTT_ERR_DUP_QOS0,          /* DUP set on a QoS 0 PUBLISH */
        MQTT_ERR_PACKET_ID,         /* packet identifier 0 */
        MQTT_ERR_ALIAS_INVALID,     /* topic alias 0 or above the maximum */
        MQTT_ERR_ALIAS_UNKNOWN,     /* topic alias used before it was set */
        MQTT_ERR_PROPERTY,          /* property not allowed in this packet */
        MQTT_ERR_PROPERTY_DUP,      /* property that may appear once appears twice */
        MQTT_ERR_PROPERTY_VALUE,    /* property value out of its range */
        MQTT_ERR_NO_FILTERS,        /* SUBSCRIBE / UNSUBSCRIBE without a filter */
        MQTT_ERR_SUB_OPTIONS,       /* missing or invalid subscription options */
        MQTT_ERR_REASON_CODE,       /* reason code not valid for the packet */
        MQTT_ERR_NOMEM,             /* the reassembly buffer could not grow */
        MQTT_ERR__COUNT
};

/* A byte string: a view, valid until the next call into the parser. */
struct mqtt_str {
        const uint8_t *ptr;
        uint32_t len;
};

enum mqtt_event_type {
        MQTT_EV_NONE = 0,
        MQTT_EV_CONNECT,      /* variable header and properties: .connect */
        MQTT_EV_CLIENT_ID,    /* .str */
        MQTT_EV_WILL,         /* will properties and topic: .will */
        MQTT_EV_CONNECT_END,  /* the whole CONNECT was read: .connect again */
        MQTT_EV_CONNACK,      /* .connack */
        MQTT_EV_PUBLISH,      /* header, topic (alias resolved): .publish; the payload is
                               * skipped after it without an event */
        MQTT_EV_ACK,          /* PUBACK, PUBREC, PUBREL, PUBCOMP: .ack */
        MQTT_EV_SUBSCRIBE,    /* packet id and properties: .sub */
        MQTT_EV_SUB_FILTER,   /* one filter with its options: .filter */
        MQTT_EV_SUBACK,       /* SUBACK / UNSUBACK: .suback */
        MQTT_EV_UNSUBSCRIBE,  /* packet id and properties: .sub */
        MQTT_EV_UNSUB_FILTER, /* one filter: .filter */
        MQTT_EV_PINGREQ,
        MQTT_EV_PINGRESP,
        MQTT_EV_DISCONNECT, /* .disconnect */
        MQTT_EV_AUTH,       /* .disconnect (reason code only) */
        MQTT_EV__COUNT
};

/* Which optional v5 values an event carries (bits of .present). */
#define MQTT_HAS_SESSION_EXPIRY     (1u << 0)
#define MQTT_HAS_RECEIVE_MAX        (1u << 1)
#define MQTT_HAS_MAX_PACKET         (1u << 2)
#define MQTT_HAS_TOPIC_ALIAS_MAX    (1u << 3)
#define MQTT_HAS_MAX_QOS            (1u << 4)
#define MQTT_HAS_RETAIN_AVAIL       (1u << 5)
#define MQTT_HAS_WILDCARD_AVAIL     (1u << 6)
#define MQTT_HAS_SUBID_AVAIL        (1u << 7)
#define MQTT_HAS_SHARED_AVAIL       (1u << 8)
#define MQTT_HAS_SERVER_KEEPALIVE   (1u << 9)
#define MQTT_HAS_AUTH_METHOD        (1u << 10)
#define MQTT_HAS_ASSIGNED_CLIENT_ID (1u << 11)
#define MQTT_HAS_SUBSCRIPTION_ID    (1u << 12)
#define MQTT_HAS_REASON_CODE        (1u << 13)

/* Capabilities a server announces in a v5 CONNACK (5.0 §3.2.2.3). */
struct mqtt_caps {
        uint32_t present; /* MQTT_HAS_* */
        uint32_t session_expiry;
        uint32_t max_packet;
        uint16_t receive_max;
        uint16_t topic_alias_max;
        uint16_t server_keepalive;
        uint8_t max_qos;
        uint8_t retain_avail;
        uint8_t wildcard_avail;
        uint8_t subid_avail;
        uint8_t shared_avail;
};

struct mqtt_event {
        uint8_t type;        /* enum mqtt_event_type */
        uint8_t pkt_type;    /* enum mqtt_packet_type */
        uint8_t pkt_flags;   /* low nibble of the fixed header */
        uint64_t pkt_offset; /* stream offset of the packet's first byte */
        uint32_t pkt_len;    /* fixed header + remaining length */
        union {
                struct mqtt_str str; /* MQTT_EV_CLIENT_ID */
                struct {
                        uint8_t version; /* enum mqtt_version */
                        uint8_t flags;   /* MQTT_CONNECT_* */
                        uint16_t keepalive;
                        struct mqtt_caps props; /* the client's v5 properties */
                } connect;
                struct {
                        struct mqtt_str topic;
                        uint8_t qos;
                        bool retain;
                        uint32_t delay; /* v5 Will Delay Interval, 0 when absent */
                } will;
                struct {
                        bool session_present;
                        uint8_t code; /* v3 return code / v5 reason code */
                        struct mqtt_caps caps;
                } connack;
                struct {
                        /*
                         * The topic. When the PUBLISH set or used a topic alias
                         * (5.0 §3.3.2.3.4), the topic the alias stands for;
                         * .topic.len is 0 with topic_known false when the alias
                         * table had no room to keep it.
                         */
                        struct mqtt_str topic;
                        uint32_t payload_len;
                        uint32_t subscription_id; /* first one, when present */
                        uint16_t packet_id;       /* 0 for QoS 0 */
                        uint16_t alias;           /* 0 when none */
                        uint8_t qos;
                        bool retain;
                        bool dup;
                        bool topic_known;
                        bool alias_set; /* this PUBLISH (re)defined .alias */
                } publish;
                struct {
                        uint16_t packet_id;
                        uint8_t code; /* v5 reason code, 0 when absent */
                } ack;
                struct {
                        uint16_t packet_id;
                        uint32_t subscription_id; /* 0 when absent */
                } sub;
                struct {
                        struct mqtt_str filter;
                        uint8_t options; /* subscription options byte, 0 for UNSUBSCRIBE */
                        uint16_t index;  /* 0 for the first filter of the packet */
                } filter;
                struct {
                        uint16_t packet_id;
                        uint16_t count;    /* reason/return codes */
                        uint16_t failures; /* codes >= 0x80 */
                } suback;
                struct {
                        uint8_t code; /* reason code, 0 when absent */
                        uint32_t present;
                        uint32_t session_expiry;
                } disconnect;
        };
};

/* Limits of one parser; 0 in a field means the protocol's own maximum. */
struct mqtt_limits {
        uint32_t max_packet;  /* remaining length; protocol max 268,435,455 */
        uint32_t max_string;  /* topic, filter, client id kept; protocol max 65,535 */
        uint32_t alias_bytes; /* topic bytes kept for topic aliases; default 65,536 */
};

/* What one call to mqtt_parser__feed() ended with. */
enum mqtt_status {
        MQTT_NEED_MORE = 0, /* every byte given was consumed; no event pending */
        MQTT_EVENT = 1,     /* an event is ready; call again with the rest */
        MQTT_ERROR = -1,    /* protocol error; sticky until mqtt_parser__reset() */
};

#define MQTT_MAX_REMAINING 268435455u
#define MQTT_MAX_STRING    65535u

#endif
