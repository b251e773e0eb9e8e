/*
 * The MQTT-SN 1.2 datagram reader of `protocol: mqtt-sn` listeners. It
 * reads one UDP datagram, checks that it is exactly one well-formed MQTT-SN
 * message, and says what it holds: the client id of a CONNECT (what a
 * client is bound to a gateway by, whatever address and port it comes
 * from), the topic of a REGISTER, PUBLISH or SUBSCRIBE, and the rest of
 * the fixed fields. A datagram it refuses is counted by reason and dropped
 * by the caller, never forwarded.
 *
 * What it accepts (MQTT-SN 1.2 §5; reader-t.h has the wire values):
 *   - the header (§5.2.1): a Length octet 2..255, or 0x01 and a 2-octet
 *     Length. The 3-octet form "should" be used only from 256 octets on: a
 *     smaller value (at least 4: the header itself) is accepted, and
 *     hdr_len says which form came. The Length counts the whole message
 *     and must equal the datagram's size: a datagram with bytes after its
 *     message is refused (MQTTSN_ERR_LENGTH), one shorter than its Length
 *     is MQTTSN_ERR_TRUNCATED. UDP carries one message per datagram; there
 *     is no reassembly;
 *   - every MsgType of Table 3 (the reserved ones are MQTTSN_ERR_UNKNOWN_TYPE),
 *     with exactly the fields §5.4 gives it (else MQTTSN_ERR_SIZE):
 *       ADVERTISE       gw_id, duration
 *       SEARCHGW        radius
 *       GWINFO          gw_id, gw_addr (0..n octets: only a client adds it)
 *       CONNECT         flags, protocol_id (must be 0x01), duration,
 *                       client_id
 *       CONNACK, WILLTOPICRESP, WILLMSGRESP    return_code
 *       WILLTOPICREQ, WILLMSGREQ, PINGRESP     nothing
 *       WILLTOPIC, WILLTOPICUPD  flags, topic (a topic name); or nothing at
 *                       all (Length 2, or 4 in the long form): the empty
 *                       message that deletes the Will (§5.4.7, §5.4.22).
 *                       Flags without a topic is MQTTSN_ERR_TOPIC
 *       WILLMSG, WILLMSGUPD      data (the WillMsg, 0..n octets, any bytes)
 *       REGISTER        topic_id, msg_id, topic (a topic name)
 *       REGACK, PUBACK  topic_id, msg_id, return_code
 *       PUBLISH         flags, topic_id, msg_id, data (0..n octets); with
 *                       TopicIdType short, topic views the two octets too
 *       PUBCOMP, PUBREC, PUBREL, UNSUBACK      msg_id
 *       SUBSCRIBE, UNSUBSCRIBE   flags, msg_id, then by TopicIdType: normal,
 *                       topic (a topic filter); pre-defined, topic_id
 *                       (exactly 2 octets); short, topic_id and topic
 *                       (exactly 2 octets, checked as a filter)
 *       SUBACK          flags, topic_id, msg_id, return_code
 *       PINGREQ         client_id, optional (a sleeping client's, §5.4.19)
 *       DISCONNECT      duration, optional (has_duration: a client going to
 *                       sleep, §5.4.21)
 *     A TopicIdType of 0b11 (reserved) in PUBLISH, SUBSCRIBE or UNSUBSCRIBE
 *     is MQTTSN_ERR_FLAGS; a ReturnCode of 0x04..0xFF (reserved, Table 5)
 *     is MQTTSN_ERR_RETURN_CODE;
 *   - an encapsulated message (§5.5): a 1-octet Length of at least 4 (the
 *     header up to the end of the Wireless Node Id, which is 1 or more
 *     octets), Ctrl, the node id, then one MQTT-SN message that exactly
 *     fills the rest of the datagram, read as above into the same struct
 *     (encapsulated set, encap filled). One level only: an encapsulation
 *     inside, or the 3-octet Length form for the encapsulation header, is
 *     MQTTSN_ERR_ENCAP. A datagram that ends with the header is TRUNCATED.
 *
 * Strings (MQTT 3.1.1 §1.5.3, which MQTT-SN 1.2 inherits: "same as with
 * MQTT"), checked with mqtt/topic.h:
 *   - client ids: 1..MQTTSN_CLIENT_ID_MAX octets of well-formed UTF-8
 *     without U+0000. The spec says 1..23 characters, but gateways accept
 *     longer ones (as MQTT 3.1.1 brokers do), and a client id is what a
 *     client is bound by: 255 octets are plenty and keep it a small key
 *     (a CONNECT with 250 or more takes the 3-octet Length form). An
 *     empty client id is refused: MQTT-SN, unlike MQTT 3.1.1, has no
 *     server-assigned ids;
 *   - topic names (REGISTER, WILLTOPIC, a short name in PUBLISH): at least
 *     one octet, UTF-8 as above, no '+' or '#' (MQTTSN_ERR_TOPIC for an
 *     empty one or a wildcard, MQTTSN_ERR_UTF8);
 *   - topic filters (SUBSCRIBE, UNSUBSCRIBE): at least one octet, UTF-8,
 *     '+' alone in its level and '#' alone in the last level (MQTT 3.1.1
 *     §4.7.1);
 *   - WillMsg, PUBLISH Data, GwAdd and Wireless Node Id are opaque.
 *
 * Not checked, left to the gateway: the Flags bits a type does not use
 * (Table 4 "not used": a gateway ignores them, so refusing them here could
 * only lose a real client's message; they stay in flags and are not
 * decoded, reader-t.h MQTTSN_FLAGS_*), the Ctrl octet's reserved bits, QoS
 * -1 with a normal topic id, DUP on QoS 0, MsgId 0 on QoS 1 and 2, a
 * Duration of 0, and whether a message came in the right direction (the
 * reader does not know where the datagram came from).
 *
 * Must not: do I/O, allocate, keep state between calls, or read outside
 * [dgram, dgram + len).
 */
#ifndef MQTTLB_MQTTSN_READER_H
#define MQTTLB_MQTTSN_READER_H

#include <stddef.h>

#include "mqttsn/reader-t.h"

/*
 * Reads the datagram dgram[0..len) into *out. MQTTSN_OK, or the reason it
 * was refused; then *out is all zero.
 */
enum mqttsn_err mqttsn__read(const uint8_t *dgram, size_t len, struct mqttsn_msg *out);

/* A short stable name ("bad_client_id"), for counters and logs; "ok" for
 * MQTTSN_OK, "unknown" out of range. */
const char *mqttsn_err__str(enum mqttsn_err err);

/* The spec's name of a MsgType ("CONNECT", "ENCAPSULATED"), "reserved" for
 * the others. */
const char *mqttsn_type__str(uint8_t type);

#endif
