/*
 * Types of the MQTT-SN datagram reader (reader.h): the wire values and
 * layouts it reads by name, its reasons for refusal, and what it reports.
 *
 * Spec references: MQTT For Sensor Networks (MQTT-SN) Protocol
 * Specification Version 1.2 (2013), section 5: §5.2 the message header,
 * §5.3 the fields, §5.4 the messages, §5.5 the forwarder encapsulation.
 */
#ifndef MQTTLB_MQTTSN_READER_T_H
#define MQTTLB_MQTTSN_READER_T_H

#include <stdbool.h>
#include <stdint.h>

/* MsgType, §5.2.2 Table 3. The values not named here are reserved. */
enum mqttsn_type {
        MQTTSN_ADVERTISE = 0x00,
        MQTTSN_SEARCHGW = 0x01,
        MQTTSN_GWINFO = 0x02,
        MQTTSN_CONNECT = 0x04,
        MQTTSN_CONNACK = 0x05,
        MQTTSN_WILLTOPICREQ = 0x06,
        MQTTSN_WILLTOPIC = 0x07,
        MQTTSN_WILLMSGREQ = 0x08,
        MQTTSN_WILLMSG = 0x09,
        MQTTSN_REGISTER = 0x0A,
        MQTTSN_REGACK = 0x0B,
        MQTTSN_PUBLISH = 0x0C,
        MQTTSN_PUBACK = 0x0D,
        MQTTSN_PUBCOMP = 0x0E,
        MQTTSN_PUBREC = 0x0F,
        MQTTSN_PUBREL = 0x10,
        MQTTSN_SUBSCRIBE = 0x12,
        MQTTSN_SUBACK = 0x13,
        MQTTSN_UNSUBSCRIBE = 0x14,
        MQTTSN_UNSUBACK = 0x15,
        MQTTSN_PINGREQ = 0x16,
        MQTTSN_PINGRESP = 0x17,
        MQTTSN_DISCONNECT = 0x18,
        MQTTSN_WILLTOPICUPD = 0x1A,
        MQTTSN_WILLTOPICRESP = 0x1B,
        MQTTSN_WILLMSGUPD = 0x1C,
        MQTTSN_WILLMSGRESP = 0x1D,
        MQTTSN_ENCAPSULATED = 0xFE, /* §5.5 */
};

/* The Flags octet, §5.3.4 Table 4. */
#define MQTTSN_FLAG_DUP           0x80
#define MQTTSN_FLAG_QOS_MASK      0x60 /* 00: QoS 0, 01: 1, 10: 2, 11: -1 */
#define MQTTSN_FLAG_QOS_SHIFT     5
#define MQTTSN_FLAG_RETAIN        0x10
#define MQTTSN_FLAG_WILL          0x08
#define MQTTSN_FLAG_CLEAN_SESSION 0x04
#define MQTTSN_FLAG_TOPIC_ID_TYPE 0x03

/* The bits each message with a Flags octet uses (Table 4, §5.4); the others
 * are "not used". */
#define MQTTSN_FLAGS_CONNECT   (MQTTSN_FLAG_WILL | MQTTSN_FLAG_CLEAN_SESSION)
#define MQTTSN_FLAGS_WILLTOPIC (MQTTSN_FLAG_QOS_MASK | MQTTSN_FLAG_RETAIN) /* and WILLTOPICUPD */
#define MQTTSN_FLAGS_PUBLISH \
        (MQTTSN_FLAG_DUP | MQTTSN_FLAG_QOS_MASK | MQTTSN_FLAG_RETAIN | MQTTSN_FLAG_TOPIC_ID_TYPE)
#define MQTTSN_FLAGS_SUBSCRIBE   (MQTTSN_FLAG_DUP | MQTTSN_FLAG_QOS_MASK | MQTTSN_FLAG_TOPIC_ID_TYPE)
#define MQTTSN_FLAGS_SUBACK      MQTTSN_FLAG_QOS_MASK
#define MQTTSN_FLAGS_UNSUBSCRIBE MQTTSN_FLAG_TOPIC_ID_TYPE

/* TopicIdType, the Flags octet's bits 1-0. */
enum mqttsn_topic_id_type {
        MQTTSN_TOPIC_NORMAL = 0,     /* a registered topic id; a topic name in SUBSCRIBE */
        MQTTSN_TOPIC_PREDEFINED = 1, /* a pre-defined topic id */
        MQTTSN_TOPIC_SHORT = 2,      /* a short topic name, two octets */
        MQTTSN_TOPIC_RESERVED = 3,
};

/* ReturnCode, §5.3.10 Table 5. 0x04..0xFF are reserved. */
enum mqttsn_return_code {
        MQTTSN_RC_ACCEPTED = 0x00,
        MQTTSN_RC_CONGESTION = 0x01,
        MQTTSN_RC_INVALID_TOPIC_ID = 0x02,
        MQTTSN_RC_NOT_SUPPORTED = 0x03,
        MQTTSN_RC__COUNT
};

/* Limits and fixed sizes; each has its home here. */
#define MQTTSN_PROTOCOL_ID   0x01  /* ProtocolId of CONNECT, §5.3.8 */
#define MQTTSN_LENGTH_LONG   0x01  /* a first octet that announces the 3-octet Length, §5.2.1 */
#define MQTTSN_HDR_SHORT     2     /* Length (1) + MsgType */
#define MQTTSN_HDR_LONG      4     /* 0x01, Length (2) + MsgType */
#define MQTTSN_MSG_MAX       65535 /* the largest Length */
#define MQTTSN_SHORT_TOPIC   2     /* octets of a short topic name or a topic id */
#define MQTTSN_CLIENT_ID_MAX 255   /* ClientId octets accepted (the spec says 1..23) */
#define MQTTSN_RADIUS_MASK   0x03  /* the Ctrl octet's bits 1-0, §5.5 Table 29 */

/*
 * The fixed part of each message's body, after the header, field by field
 * (§5.4); the variable field, where there is one, follows it. Multi-octet
 * integers are big-endian (§5.1). Every member is a byte or an array of
 * bytes: no padding, alignment 1, sizeof is the size on the wire.
 */
struct mqttsn_advertise {
        uint8_t gw_id;
        uint8_t duration[2];
};
struct mqttsn_searchgw {
        uint8_t radius;
};
struct mqttsn_gwinfo {
        uint8_t gw_id; /* then GwAdd, present when a client sent it */
};
struct mqttsn_connect {
        uint8_t flags;
        uint8_t protocol_id;
        uint8_t duration[2]; /* then ClientId */
};
struct mqttsn_return {
        uint8_t return_code; /* CONNACK, WILLTOPICRESP, WILLMSGRESP */
};
struct mqttsn_willtopic {
        uint8_t flags; /* then WillTopic; WILLTOPICUPD alike */
};
struct mqttsn_register {
        uint8_t topic_id[2];
        uint8_t msg_id[2]; /* then TopicName */
};
struct mqttsn_ack {
        uint8_t topic_id[2];
        uint8_t msg_id[2];
        uint8_t return_code; /* REGACK, PUBACK */
};
struct mqttsn_publish {
        uint8_t flags;
        uint8_t topic_id[2];
        uint8_t msg_id[2]; /* then Data */
};
struct mqttsn_msg_id {
        uint8_t msg_id[2]; /* PUBCOMP, PUBREC, PUBREL, UNSUBACK */
};
struct mqttsn_subscribe {
        uint8_t flags;
        uint8_t msg_id[2]; /* then TopicName or TopicId; UNSUBSCRIBE alike */
};
struct mqttsn_suback {
        uint8_t flags;
        uint8_t topic_id[2];
        uint8_t msg_id[2];
        uint8_t return_code;
};
struct mqttsn_disconnect {
        uint8_t duration[2]; /* optional */
};
struct mqttsn_encap {
        uint8_t length; /* octets up to the end of the Wireless Node Id */
        uint8_t msg_type;
        uint8_t ctrl; /* then the Wireless Node Id, then an MQTT-SN message */
};

/*
 * Why a datagram was refused. The value is stable and indexes "malformed by
 * reason" counters; keep mqttsn_err__str() in sync.
 */
enum mqttsn_err {
        MQTTSN_OK = 0,
        MQTTSN_ERR_TRUNCATED,    /* the datagram ends before its Length says, or mid-header */
        MQTTSN_ERR_LENGTH,       /* Length 0x00, a 3-octet Length under 4, or bytes after
                                  * the message (Length shorter than the datagram) */
        MQTTSN_ERR_SIZE,         /* the message's size does not fit its type's fields */
        MQTTSN_ERR_UNKNOWN_TYPE, /* a reserved MsgType */
        MQTTSN_ERR_PROTOCOL_ID,  /* CONNECT's ProtocolId is not 0x01 */
        MQTTSN_ERR_CLIENT_ID,    /* ClientId empty or over MQTTSN_CLIENT_ID_MAX */
        MQTTSN_ERR_TOPIC,        /* empty topic, a wildcard in a topic name, a bad filter */
        MQTTSN_ERR_UTF8,         /* ill-formed UTF-8 or U+0000 in a client id or topic */
        MQTTSN_ERR_FLAGS,        /* TopicIdType 0b11 (reserved) */
        MQTTSN_ERR_RETURN_CODE,  /* a reserved ReturnCode (0x04..0xFF) */
        MQTTSN_ERR_ENCAP,        /* encapsulation: a 3-octet Length, a header without Ctrl
                                  * or Wireless Node Id, or an encapsulation inside */
        MQTTSN_ERR__COUNT
};

/* A byte string: a view into the datagram. */
struct mqttsn_str {
        const uint8_t *ptr; /* NULL: the field is absent */
        uint16_t len;
};

/*
 * One message. The reader sets only the members its type carries (§5.4;
 * reader.h says which), every other one is zero or NULL. Views point into
 * the datagram given to mqttsn__read() and live as long as it does.
 */
struct mqttsn_msg {
        uint8_t type;    /* enum mqttsn_type */
        uint8_t hdr_len; /* MQTTSN_HDR_SHORT or MQTTSN_HDR_LONG */
        uint16_t len;    /* the Length field: the whole message, header included */

        /* the Flags octet as sent, and decoded: only the bits the type uses
         * (MQTTSN_FLAGS_*), the others read as 0 below */
        bool has_flags;
        uint8_t flags;
        bool dup, retain, will, clean_session;
        int8_t qos;            /* 0, 1, 2, or -1 for 0b11 */
        uint8_t topic_id_type; /* enum mqttsn_topic_id_type, never RESERVED */

        uint8_t protocol_id; /* CONNECT */
        uint8_t gw_id;       /* ADVERTISE, GWINFO */
        uint8_t radius;      /* SEARCHGW */
        uint8_t return_code; /* enum mqttsn_return_code */
        bool has_duration;   /* ADVERTISE, CONNECT, and a DISCONNECT with one */
        uint16_t duration;   /* seconds */
        uint16_t topic_id;   /* also the two octets of a short topic name, big-endian */
        uint16_t msg_id;

        struct mqttsn_str client_id; /* CONNECT, PINGREQ (optional) */
        struct mqttsn_str topic;     /* a topic name or filter, or a short topic name */
        struct mqttsn_str data;      /* PUBLISH Data, WILLMSG / WILLMSGUPD WillMsg */
        struct mqttsn_str gw_addr;   /* GWINFO GwAdd (empty when a gateway sent it) */

        /* §5.5: the forwarder's header in front of the message above */
        bool encapsulated;
        struct {
                uint8_t len;               /* its Length: where the message starts */
                uint8_t ctrl;              /* as sent */
                uint8_t radius;            /* ctrl & MQTTSN_RADIUS_MASK */
                struct mqttsn_str node_id; /* Wireless Node Id, at least one octet */
        } encap;
};

#endif
