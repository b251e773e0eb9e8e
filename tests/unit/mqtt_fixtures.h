/*
 * MQTT stream fixtures: raw frames in hex with the event log the parser must
 * produce for them (llhttp test/request/ style, expected output beside the
 * input), and the helpers to run them: a hex decoder, a canonical
 * one-line-per-event formatter and a runner that feeds a parser piece by
 * piece. Header-only (static inline) so that the unit test and the fuzz seed
 * generator share one table.
 *
 * Hex syntax: pairs of hex digits, whitespace ignored, 'text' for ASCII.
 *
 * Log syntax, one line per event (fields as in mqtt-t.h):
 *   CONNECT v=5 flags=0xc2 keepalive=60 [caps]       (CONNECT_END likewise)
 *   CLIENT_ID "c"
 *   WILL topic="w/t" qos=1 retain=0 delay=10
 *   CONNACK sp=0 code=0x00 [caps]
 *   PUBLISH topic="a/b" qos=1 id=10 retain=0 dup=0 alias=0 payload=5 [set] [unknown] [subid=N]
 *   PUBACK|PUBREC|PUBREL|PUBCOMP id=1 code=0x00
 *   SUBSCRIBE id=1 subid=0          UNSUBSCRIBE id=1 [subid=N]
 *   SUB_FILTER "a/+" opts=0x01 idx=0    UNSUB_FILTER "a" idx=0
 *   SUBACK|UNSUBACK id=1 count=3 failures=1
 *   PINGREQ  PINGRESP  DISCONNECT [code=0x04] [sx=N]  AUTH [code=0x18] [auth_method]
 * [caps] lists the v5 values present, in MQTT_HAS_* bit order: sx= rmax=
 * maxpkt= tamax= maxqos= retain_avail= wildcard_avail= subid_avail=
 * shared_avail= server_ka= auth_method assigned_id subid rc.
 * With .offsets, each line ends with " @pkt_offset+pkt_len". Anything that
 * breaks the parser's contract is logged as a line starting with '!'.
 * A fixture expected to fail ends its log with "ERROR <mqtt_err__str>".
 */
#ifndef MQTTLB_TESTS_MQTT_FIXTURES_H
#define MQTTLB_TESTS_MQTT_FIXTURES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/parser.h"
#include "mqtt/topic.h"

/* ---- fixtures ---- */

struct fx {
        const char *name;
        uint8_t dir;        /* enum mqtt_dir */
        uint8_t version;    /* preset with mqtt_parser__set_version (S2C), 0 = unset */
        uint16_t alias_max; /* mqtt_parser__set_alias_max, 0 = not called */
        struct mqtt_limits lim;
        bool offsets;    /* log " @offset+len" */
        bool regression; /* a parser bug these tests found, fixed since */
        const char *hex;
        const char *log; /* expected events */
        enum mqtt_err err;
};

#define S2C MQTT_DIR_S2C

/* First packets: CONNECT with client id "c", clean, keepalive 60 (C2S), and a
 * plain CONNACK (S2C). */
#define CON31  "10 0f 00 06 'MQIsdp' 03 02 00 3c 00 01 'c' "
#define CON311 "10 0d 00 04 'MQTT' 04 02 00 3c 00 01 'c' "
#define CON5   "10 0e 00 04 'MQTT' 05 02 00 3c 00 00 01 'c' "
#define LCON(v)                                                                        \
        "CONNECT v=" #v " flags=0x02 keepalive=60\nCLIENT_ID \"c\"\nCONNECT_END v=" #v \
        " flags=0x02 keepalive=60\n"
#define LOG31  LCON(3)
#define LOG311 LCON(4)
#define LOG5   LCON(5)
#define ACK3   "20 02 00 00 "
#define ACK5   "20 03 00 00 00 "
#define LOGACK "CONNACK sp=0 code=0x00\n"
#define LSUB1  "SUBSCRIBE id=1 subid=0\n"

/* clang-format off */
static const struct fx FX[] = {
/* ================= CONNECT ================= */
{.name = "connect_v31", .offsets = true, .hex = CON31,
 .log = "CONNECT v=3 flags=0x02 keepalive=60 @0+17\nCLIENT_ID \"c\" @0+17\n"
        "CONNECT_END v=3 flags=0x02 keepalive=60 @0+17\n"},
{.name = "connect_v311", .offsets = true, .hex = CON311,
 .log = "CONNECT v=4 flags=0x02 keepalive=60 @0+15\nCLIENT_ID \"c\" @0+15\n"
        "CONNECT_END v=4 flags=0x02 keepalive=60 @0+15\n"},
{.name = "connect_v5", .offsets = true, .hex = CON5,
 .log = "CONNECT v=5 flags=0x02 keepalive=60 @0+16\nCLIENT_ID \"c\" @0+16\n"
        "CONNECT_END v=5 flags=0x02 keepalive=60 @0+16\n"},
{.name = "connect_v311_will_user_password",
 .hex = "10 27 00 04 'MQTT' 04 ee 00 3c 00 08 'sensor-7' 00 03 'w/t' 00 02 'hi' 00 04 'user'"
        " 00 02 'pw'",
 .log = "CONNECT v=4 flags=0xee keepalive=60\nCLIENT_ID \"sensor-7\"\n"
        "WILL topic=\"w/t\" qos=1 retain=1 delay=0\nCONNECT_END v=4 flags=0xee keepalive=60\n"},
{.name = "connect_v311_empty_id_no_clean",
 .hex = "10 0c 00 04 'MQTT' 04 00 00 00 00 00",
 .log = "CONNECT v=4 flags=0x00 keepalive=0\nCLIENT_ID \"\"\nCONNECT_END v=4 flags=0x00 keepalive=0\n"},
{.name = "connect_v311_username_only",
 .hex = "10 10 00 04 'MQTT' 04 82 00 3c 00 01 'c' 00 01 'u'",
 .log = "CONNECT v=4 flags=0x82 keepalive=60\nCLIENT_ID \"c\"\nCONNECT_END v=4 flags=0x82 keepalive=60\n"},
{.name = "connect_v311_will_qos0_empty_payload",
 .hex = "10 12 00 04 'MQTT' 04 06 00 3c 00 01 'c' 00 01 't' 00 00",
 .log = "CONNECT v=4 flags=0x06 keepalive=60\nCLIENT_ID \"c\"\nWILL topic=\"t\" qos=0 retain=0 delay=0\n"
        "CONNECT_END v=4 flags=0x06 keepalive=60\n"},
{.name = "connect_v31_will_qos2",
 .hex = "10 14 00 06 'MQIsdp' 03 16 00 0a 00 01 'c' 00 01 't' 00 00",
 .log = "CONNECT v=3 flags=0x16 keepalive=10\nCLIENT_ID \"c\"\nWILL topic=\"t\" qos=2 retain=0 delay=0\n"
        "CONNECT_END v=3 flags=0x16 keepalive=10\n"},
{.name = "connect_v31_user_password",
 .hex = "10 15 00 06 'MQIsdp' 03 c2 00 3c 00 01 'c' 00 01 'u' 00 01 'p'",
 .log = "CONNECT v=3 flags=0xc2 keepalive=60\nCLIENT_ID \"c\"\nCONNECT_END v=3 flags=0xc2 keepalive=60\n"},
{.name = "connect_v5_properties",
 .hex = "10 3c 00 04 'MQTT' 05 c2 00 3c 28"
        " 11 00 00 00 78  21 00 0a  27 00 00 10 00  22 00 05  26 00 01 'k' 00 01 'v'"
        " 15 00 05 'SCRAM'  16 00 02 01 02  17 01  19 00"
        " 00 01 'c' 00 01 'u' 00 01 'p'",
 .log = "CONNECT v=5 flags=0xc2 keepalive=60 sx=120 rmax=10 maxpkt=4096 tamax=5 auth_method\n"
        "CLIENT_ID \"c\"\n"
        "CONNECT_END v=5 flags=0xc2 keepalive=60 sx=120 rmax=10 maxpkt=4096 tamax=5 auth_method\n"},
{.name = "connect_v5_will_properties",
 .hex = "10 3c 00 04 'MQTT' 05 0e 00 3c 00 00 01 'c' 23"
        " 18 00 00 00 0a  01 01  02 00 00 00 3c  03 00 04 'text'  08 00 01 'r'  09 00 02 ab cd"
        " 26 00 01 'a' 00 01 'b'"
        " 00 03 'w/t' 00 03 'bye'",
 .log = "CONNECT v=5 flags=0x0e keepalive=60\nCLIENT_ID \"c\"\nWILL topic=\"w/t\" qos=1 retain=0 delay=10\n"
        "CONNECT_END v=5 flags=0x0e keepalive=60\n"},
{.name = "connect_v5_password_without_username",
 .hex = "10 12 00 04 'MQTT' 05 42 00 3c 00 00 01 'c' 00 02 'pw'",
 .log = "CONNECT v=5 flags=0x42 keepalive=60\nCLIENT_ID \"c\"\nCONNECT_END v=5 flags=0x42 keepalive=60\n"},
{.name = "connect_v5_two_user_properties",
 .hex = "10 1c 00 04 'MQTT' 05 02 00 3c 0e 26 00 01 'a' 00 01 'b' 26 00 01 'a' 00 01 'c' 00 01 'c'",
 .log = LOG5},
{.name = "connect_v5_utf8_id_no_clean",
 .hex = "10 10 00 04 'MQTT' 05 00 00 00 00 00 03 e2 82 ac",
 .log = "CONNECT v=5 flags=0x00 keepalive=0\nCLIENT_ID \"\\xe2\\x82\\xac\"\n"
        "CONNECT_END v=5 flags=0x00 keepalive=0\n"},
{.name = "connect_bridge_0x84", .hex = "10 0d 00 04 'MQTT' 84 02 00 3c 00 01 'c'", .log = LOG311},
{.name = "connect_bridge_0x83_v31", .hex = "10 0f 00 06 'MQIsdp' 83 02 00 3c 00 01 'c'",
 .log = LOG31},
{.name = "connect_v311_rl_nonminimal_accepted", .offsets = true,
 .hex = "10 8d 00 00 04 'MQTT' 04 02 00 3c 00 01 'c'",
 .log = "CONNECT v=4 flags=0x02 keepalive=60 @0+16\nCLIENT_ID \"c\" @0+16\n"
        "CONNECT_END v=4 flags=0x02 keepalive=60 @0+16\n"},

/* ================= CONNACK ================= */
{.name = "connack_v311_session_present", .dir = S2C, .version = 4, .hex = "20 02 01 00",
 .log = "CONNACK sp=1 code=0x00\n"},
{.name = "connack_v311_refused", .dir = S2C, .version = 4, .hex = "20 02 00 05",
 .log = "CONNACK sp=0 code=0x05\n"},
{.name = "connack_v31", .dir = S2C, .version = 3, .hex = "20 02 00 02 d0 00",
 .log = "CONNACK sp=0 code=0x02\nPINGRESP\n"},
{.name = "connack_unset_version_v3", .dir = S2C, .offsets = true, .hex = "20 02 00 00 d0 00",
 .log = "CONNACK sp=0 code=0x00 @0+4\nPINGRESP @4+2\n"},
{.name = "connack_v5_capabilities", .dir = S2C, .version = 5,
 .hex = "20 41 00 00 3e  22 00 0a  21 00 14  27 00 01 00 00  25 00  28 01  29 00  2a 01  24 01"
        " 13 00 1e  12 00 04 'auto'  11 00 00 01 00  1f 00 02 'ok'  1a 00 01 'x'  1c 00 01 'y'"
        " 26 00 01 'k' 00 00  15 00 01 'm'  16 00 00",
 .log = "CONNACK sp=0 code=0x00 sx=256 rmax=20 maxpkt=65536 tamax=10 maxqos=1 retain_avail=0"
        " wildcard_avail=1 subid_avail=0 shared_avail=1 server_ka=30 auth_method assigned_id\n"},
{.name = "connack_v5_capabilities_unset_version", .dir = S2C,
 .hex = "20 41 01 00 3e  22 00 0a  21 00 14  27 00 01 00 00  25 00  28 01  29 00  2a 01  24 01"
        " 13 00 1e  12 00 04 'auto'  11 00 00 01 00  1f 00 02 'ok'  1a 00 01 'x'  1c 00 01 'y'"
        " 26 00 01 'k' 00 00  15 00 01 'm'  16 00 00"
        " e0 01 8e",
 .log = "CONNACK sp=1 code=0x00 sx=256 rmax=20 maxpkt=65536 tamax=10 maxqos=1 retain_avail=0"
        " wildcard_avail=1 subid_avail=0 shared_avail=1 server_ka=30 auth_method assigned_id\n"
        "DISCONNECT code=0x8e\n"},
{.name = "connack_v5_refused", .dir = S2C, .version = 5, .hex = "20 03 00 87 00",
 .log = "CONNACK sp=0 code=0x87\n"},

/* ================= PUBLISH ================= */
{.name = "publish_v311_qos0", .offsets = true, .hex = CON311 "30 0a 00 03 'a/b' 'hello'",
 .log = "CONNECT v=4 flags=0x02 keepalive=60 @0+15\nCLIENT_ID \"c\" @0+15\n"
        "CONNECT_END v=4 flags=0x02 keepalive=60 @0+15\n"
        "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=0 payload=5 @15+12\n"},
{.name = "publish_v311_qos1_retain", .hex = CON311 "33 0c 00 03 'a/b' 00 0a 'hello'",
 .log = LOG311 "PUBLISH topic=\"a/b\" qos=1 id=10 retain=1 dup=0 alias=0 payload=5\n"},
{.name = "publish_v311_qos2_dup_empty_payload", .hex = CON311 "3c 07 00 03 'a/b' 00 0b",
 .log = LOG311 "PUBLISH topic=\"a/b\" qos=2 id=11 retain=0 dup=1 alias=0 payload=0\n"},
{.name = "publish_v311_qos0_empty_payload", .hex = CON311 "30 05 00 03 'a/b'",
 .log = LOG311 "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=0 payload=0\n"},
{.name = "publish_v311_rl_nonminimal_accepted", .hex = CON311 "30 85 00 00 03 'a/b'",
 .log = LOG311 "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=0 payload=0\n"},
{.name = "publish_v311_utf8_topic", .hex = CON311 "30 0d 00 0b c3 a9 2f e2 82 ac 2f f0 9d 84 9e",
 .log = LOG311 "PUBLISH topic=\"\\xc3\\xa9/\\xe2\\x82\\xac/\\xf0\\x9d\\x84\\x9e\" qos=0 id=0 "
        "retain=0 dup=0 alias=0 payload=0\n"},
{.name = "publish_v311_topic_16_at_max_string", .lim = {.max_string = 16},
 .hex = CON311 "30 12 00 10 'abcdefghijklmnop'",
 .log = LOG311 "PUBLISH topic=\"abcdefghijklmnop\" qos=0 id=0 retain=0 dup=0 alias=0 payload=0\n"},
{.name = "publish_v311_at_max_packet", .lim = {.max_packet = 16},
 .hex = CON311 "30 10 00 03 'a/b' 'abcdefghijk'",
 .log = LOG311 "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=0 payload=11\n"},
{.name = "publish_v31_qos1", .hex = CON31 "32 09 00 03 'a/b' 00 01 'xy'",
 .log = LOG31 "PUBLISH topic=\"a/b\" qos=1 id=1 retain=0 dup=0 alias=0 payload=2\n"},
{.name = "publish_v311_from_server_sys", .dir = S2C, .version = 4,
 .hex = ACK3 "31 0b 00 06 '$SYS/x' 'abc'",
 .log = LOGACK "PUBLISH topic=\"$SYS/x\" qos=0 id=0 retain=1 dup=0 alias=0 payload=3\n"},
{.name = "publish_v5_properties",
 .hex = CON5 "32 26 00 03 'a/b' 00 01 1c  01 01  02 00 00 00 3c  03 00 01 't'  08 00 03 'r/1'"
        "  09 00 01 ff  26 00 01 'k' 00 01 'v'  'hi'",
 .log = LOG5 "PUBLISH topic=\"a/b\" qos=1 id=1 retain=0 dup=0 alias=0 payload=2\n"},
{.name = "publish_v5_alias_set_then_used", .alias_max = 10,
 .hex = CON5 "30 0a 00 03 'a/b' 03 23 00 01 'x'  30 07 00 00 03 23 00 01 'y'",
 .log = LOG5 "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1 set\n"
        "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1\n"},
{.name = "publish_v5_alias_redefined", .alias_max = 10,
 .hex = CON5 "30 0a 00 03 'a/b' 03 23 00 01 'x'"
        " 30 16 00 0f 'long/topic/name' 03 23 00 01 'x'"
        " 30 07 00 00 03 23 00 01 'y'"
        " 30 08 00 01 'x' 03 23 00 02 'z'"
        " 30 07 00 00 03 23 00 01 'y'"
        " 30 07 00 00 03 23 00 02 'y'"
        " 30 08 00 01 's' 03 23 00 01 'y'"
        " 32 08 00 00 00 05 03 23 00 01",
 .log = LOG5 "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1 set\n"
        "PUBLISH topic=\"long/topic/name\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1 set\n"
        "PUBLISH topic=\"long/topic/name\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1\n"
        "PUBLISH topic=\"x\" qos=0 id=0 retain=0 dup=0 alias=2 payload=1 set\n"
        "PUBLISH topic=\"long/topic/name\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1\n"
        "PUBLISH topic=\"x\" qos=0 id=0 retain=0 dup=0 alias=2 payload=1\n"
        "PUBLISH topic=\"s\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1 set\n"
        "PUBLISH topic=\"s\" qos=1 id=5 retain=0 dup=0 alias=1 payload=0\n"},
{.name = "publish_v5_alias_arena_full", .alias_max = 4, .lim = {.alias_bytes = 8},
 .hex = CON5 "30 0b 00 04 'aaaa' 03 23 00 01 'p'"
        " 30 0b 00 04 'bbbb' 03 23 00 02 'p'"
        " 30 09 00 02 'cc' 03 23 00 03 'p'"
        " 30 07 00 00 03 23 00 03 'p'"
        " 30 08 00 01 'd' 03 23 00 01 'p'"
        " 30 0a 00 03 'ccc' 03 23 00 03 'p'"
        " 30 06 00 00 03 23 00 03  30 06 00 00 03 23 00 02  30 06 00 00 03 23 00 01",
 .log = LOG5 "PUBLISH topic=\"aaaa\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1 set\n"
        "PUBLISH topic=\"bbbb\" qos=0 id=0 retain=0 dup=0 alias=2 payload=1 set\n"
        "PUBLISH topic=\"cc\" qos=0 id=0 retain=0 dup=0 alias=3 payload=1 set\n"
        "PUBLISH topic=\"\" qos=0 id=0 retain=0 dup=0 alias=3 payload=1 unknown\n"
        "PUBLISH topic=\"d\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1 set\n"
        "PUBLISH topic=\"ccc\" qos=0 id=0 retain=0 dup=0 alias=3 payload=1 set\n"
        "PUBLISH topic=\"ccc\" qos=0 id=0 retain=0 dup=0 alias=3 payload=0\n"
        "PUBLISH topic=\"bbbb\" qos=0 id=0 retain=0 dup=0 alias=2 payload=0\n"
        "PUBLISH topic=\"d\" qos=0 id=0 retain=0 dup=0 alias=1 payload=0\n"},
{.name = "publish_v5_from_server_subscription_ids", .dir = S2C, .version = 5,
 .hex = ACK5 "30 0b 00 03 'a/b' 04 0b 05 0b 07 'p'  30 0b 00 03 'a/b' 05 0b ff ff ff 7f",
 .log = LOGACK "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=0 payload=1 subid=5\n"
        "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=0 payload=0 subid=268435455\n"},
{.name = "publish_v5_from_server_alias", .dir = S2C, .version = 5, .alias_max = 5,
 .hex = ACK5 "35 0c 00 03 'a/b' 00 09 03 23 00 05 'q'  3b 08 00 00 00 0a 03 23 00 05",
 .log = LOGACK "PUBLISH topic=\"a/b\" qos=2 id=9 retain=1 dup=0 alias=5 payload=1 set\n"
        "PUBLISH topic=\"a/b\" qos=1 id=10 retain=1 dup=1 alias=5 payload=0\n"},

/* ================= PUBACK PUBREC PUBREL PUBCOMP ================= */
{.name = "acks_v311", .offsets = true,
 .hex = CON311 "40 02 00 01 50 02 00 02 62 02 00 03 70 02 00 04",
 .log = "CONNECT v=4 flags=0x02 keepalive=60 @0+15\nCLIENT_ID \"c\" @0+15\n"
        "CONNECT_END v=4 flags=0x02 keepalive=60 @0+15\n"
        "PUBACK id=1 code=0x00 @15+4\nPUBREC id=2 code=0x00 @19+4\n"
        "PUBREL id=3 code=0x00 @23+4\nPUBCOMP id=4 code=0x00 @27+4\n"},
{.name = "acks_v311_from_server", .dir = S2C, .version = 4,
 .hex = ACK3 "40 02 ff ff 50 02 00 02 62 02 00 03 70 02 00 04",
 .log = LOGACK "PUBACK id=65535 code=0x00\nPUBREC id=2 code=0x00\n"
        "PUBREL id=3 code=0x00\nPUBCOMP id=4 code=0x00\n"},
{.name = "acks_v31_pubrel_dup", .hex = CON31 "6a 02 00 01 62 02 00 02",
 .log = LOG31 "PUBREL id=1 code=0x00 pflags=0xa\nPUBREL id=2 code=0x00\n"},
{.name = "acks_v5",
 .hex = CON5 "40 02 00 01  40 03 00 02 10  40 04 00 03 10 00"
        "  40 10 00 04 10 0c 1f 00 02 'no' 26 00 01 'k' 00 01 'v'"
        "  50 03 00 05 80  62 03 00 05 92  70 04 00 05 00 00",
 .log = LOG5 "PUBACK id=1 code=0x00\nPUBACK id=2 code=0x10\nPUBACK id=3 code=0x10\n"
        "PUBACK id=4 code=0x10\nPUBREC id=5 code=0x80\nPUBREL id=5 code=0x92\n"
        "PUBCOMP id=5 code=0x00\n"},
{.name = "acks_v5_from_server", .dir = S2C, .version = 5,
 .hex = ACK5 "40 02 00 01  50 03 00 02 97  62 07 00 02 00 03 1f 00 00  70 02 00 02",
 .log = LOGACK "PUBACK id=1 code=0x00\nPUBREC id=2 code=0x97\nPUBREL id=2 code=0x00\n"
        "PUBCOMP id=2 code=0x00\n"},

/* ================= SUBSCRIBE ================= */
{.name = "subscribe_v311", .offsets = true,
 .hex = CON311 "82 12 00 01 00 03 'a/+' 01 00 03 's/#' 02 00 01 '#' 00",
 .log = "CONNECT v=4 flags=0x02 keepalive=60 @0+15\nCLIENT_ID \"c\" @0+15\n"
        "CONNECT_END v=4 flags=0x02 keepalive=60 @0+15\n"
        "SUBSCRIBE id=1 subid=0 @15+20\nSUB_FILTER \"a/+\" opts=0x01 idx=0 @15+20\n"
        "SUB_FILTER \"s/#\" opts=0x02 idx=1 @15+20\nSUB_FILTER \"#\" opts=0x00 idx=2 @15+20\n"},
{.name = "subscribe_v311_share_is_plain",
 .hex = CON311 "82 11 00 02 00 0c '$share/g/a/#' 01  82 0d 00 03 00 08 '$share/g' 00",
 .log = LOG311 "SUBSCRIBE id=2 subid=0\nSUB_FILTER \"$share/g/a/#\" opts=0x01 idx=0\n"
        "SUBSCRIBE id=3 subid=0\nSUB_FILTER \"$share/g\" opts=0x00 idx=0\n"},
{.name = "subscribe_v31_dup_flag", .hex = CON31 "8a 08 00 01 00 03 'a/b' 01",
 .log = LOG31 "SUBSCRIBE id=1 subid=0 pflags=0xa\nSUB_FILTER \"a/b\" opts=0x01 idx=0 pflags=0xa\n"},
{.name = "subscribe_v5_options_shared_subid",
 .hex = CON5 "82 25 00 07 09 0b 2a 26 00 01 'k' 00 01 'v'"
        " 00 03 'a/+' 2d  00 0c '$share/g/a/#' 12  00 01 'b' 08",
 .log = LOG5 "SUBSCRIBE id=7 subid=42\nSUB_FILTER \"a/+\" opts=0x2d idx=0\n"
        "SUB_FILTER \"$share/g/a/#\" opts=0x12 idx=1\nSUB_FILTER \"b\" opts=0x08 idx=2\n"},
{.name = "subscribe_v5_subid_varint", .hex = CON5 "82 0b 00 08 04 0b 80 80 01 00 01 'x' 00",
 .log = LOG5 "SUBSCRIBE id=8 subid=16384\nSUB_FILTER \"x\" opts=0x00 idx=0\n"},
{.name = "subscribe_v5_retain_handling_2", .hex = CON5 "82 09 00 09 00 00 03 'a/b' 21",
 .log = LOG5 "SUBSCRIBE id=9 subid=0\nSUB_FILTER \"a/b\" opts=0x21 idx=0\n"},

/* ================= SUBACK ================= */
{.name = "suback_v311", .dir = S2C, .version = 4, .hex = ACK3 "90 05 00 01 00 01 80",
 .log = LOGACK "SUBACK id=1 count=3 failures=1\n"},
{.name = "suback_v31", .dir = S2C, .version = 3, .hex = ACK3 "90 03 00 01 02",
 .log = LOGACK "SUBACK id=1 count=1 failures=0\n"},
{.name = "suback_v5_failure_codes", .dir = S2C, .version = 5,
 .hex = ACK5 "90 13 00 02 04 1f 00 01 'x' 00 01 02 80 83 87 8f 91 97 9e a1 a2",
 .log = LOGACK "SUBACK id=2 count=12 failures=9\n"},
{.name = "suback_v5_no_properties", .dir = S2C, .version = 5, .hex = ACK5 "90 04 00 03 00 01",
 .log = LOGACK "SUBACK id=3 count=1 failures=0\n"},

/* ================= UNSUBSCRIBE / UNSUBACK ================= */
{.name = "unsubscribe_v311", .hex = CON311 "a2 0a 00 03 00 03 'a/+' 00 01 '#'",
 .log = LOG311 "UNSUBSCRIBE id=3\nUNSUB_FILTER \"a/+\" idx=0\nUNSUB_FILTER \"#\" idx=1\n"},
{.name = "unsubscribe_v31_dup_flag", .hex = CON31 "aa 07 00 02 00 03 'a/b'",
 .log = LOG31 "UNSUBSCRIBE id=2 pflags=0xa\nUNSUB_FILTER \"a/b\" idx=0 pflags=0xa\n"},
{.name = "unsubscribe_v5_shared",
 .hex = CON5 "a2 18 00 03 07 26 00 01 'k' 00 01 'v' 00 0c '$share/g/a/#'",
 .log = LOG5 "UNSUBSCRIBE id=3\nUNSUB_FILTER \"$share/g/a/#\" idx=0\n"},
{.name = "unsuback_v311", .dir = S2C, .version = 4, .hex = ACK3 "b0 02 00 03",
 .log = LOGACK "UNSUBACK id=3 count=0 failures=0\n"},
{.name = "unsuback_v5_codes", .dir = S2C, .version = 5,
 .hex = ACK5 "b0 07 00 03 00 00 11 80 87  b0 08 00 04 04 1f 00 01 'x' 00",
 .log = LOGACK "UNSUBACK id=3 count=4 failures=2\nUNSUBACK id=4 count=1 failures=0\n"},

/* ================= PINGREQ PINGRESP DISCONNECT AUTH ================= */
{.name = "pingreq_v311", .hex = CON311 "c0 00 c0 00", .log = LOG311 "PINGREQ\nPINGREQ\n"},
{.name = "pingreq_v311_rl_nonminimal_accepted", .hex = CON311 "c0 80 00",
 .log = LOG311 "PINGREQ\n"},
{.name = "pingreq_v5", .hex = CON5 "c0 00", .log = LOG5 "PINGREQ\n"},
{.name = "pingresp_v311", .dir = S2C, .version = 4, .hex = ACK3 "d0 00", .log = LOGACK "PINGRESP\n"},
{.name = "pingresp_v5", .dir = S2C, .version = 5, .hex = ACK5 "d0 00", .log = LOGACK "PINGRESP\n"},
{.name = "disconnect_v311", .hex = CON311 "e0 00", .log = LOG311 "DISCONNECT\n"},
{.name = "disconnect_v31", .hex = CON31 "e0 00", .log = LOG31 "DISCONNECT\n"},
{.name = "disconnect_v5_empty", .hex = CON5 "e0 00", .log = LOG5 "DISCONNECT\n"},
{.name = "disconnect_v5_reason", .hex = CON5 "e0 01 04", .log = LOG5 "DISCONNECT code=0x04\n"},
{.name = "disconnect_v5_session_expiry",
 .hex = CON5 "e0 0b 00 09 11 00 00 00 3c 1f 00 01 'x'",
 .log = LOG5 "DISCONNECT code=0x00 sx=60\n"},
{.name = "disconnect_v5_from_server", .dir = S2C, .version = 5,
 .hex = ACK5 "e0 06 9c 04 1c 00 01 's'", .log = LOGACK "DISCONNECT code=0x9c\n"},
{.name = "auth_v5_from_client",
 .hex = CON5 "f0 10 18 0e 15 00 05 'SCRAM' 16 00 03 01 02 03  f0 00",
 .log = LOG5 "AUTH code=0x18 auth_method\nAUTH\n"},
{.name = "auth_v5_from_server_before_connack", .dir = S2C, .version = 5,
 .hex = "f0 0a 18 08 15 00 05 'SCRAM'  20 0b 00 00 08 15 00 05 'SCRAM'",
 .log = "AUTH code=0x18 auth_method\nCONNACK sp=0 code=0x00 auth_method\n"},

/* ================= streams ================= */
{.name = "stream_v311_back_to_back", .offsets = true,
 .hex = CON311 "30 0a 00 03 'a/b' 'hello' c0 00 82 08 00 01 00 03 'a/b' 01 e0 00",
 .log = "CONNECT v=4 flags=0x02 keepalive=60 @0+15\nCLIENT_ID \"c\" @0+15\n"
        "CONNECT_END v=4 flags=0x02 keepalive=60 @0+15\n"
        "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=0 payload=5 @15+12\n"
        "PINGREQ @27+2\nSUBSCRIBE id=1 subid=0 @29+10\nSUB_FILTER \"a/b\" opts=0x01 idx=0 @29+10\n"
        "DISCONNECT @39+2\n"},
{.name = "stream_v5_server_back_to_back", .dir = S2C, .version = 5, .offsets = true,
 .hex = ACK5 "90 04 00 01 00 01  31 08 00 03 'a/b' 00 'xy'  d0 00  b0 04 00 02 00 00",
 .log = "CONNACK sp=0 code=0x00 @0+5\nSUBACK id=1 count=1 failures=0 @5+6\n"
        "PUBLISH topic=\"a/b\" qos=0 id=0 retain=1 dup=0 alias=0 payload=2 @11+10\n"
        "PINGRESP @21+2\nUNSUBACK id=2 count=1 failures=0 @23+6\n"},

{.name = "stream_v31_client_session",
 .hex = CON31 "34 09 00 03 'a/b' 00 02 'xy'  40 02 00 01  50 02 00 02  62 02 00 02  70 02 00 02"
        " 82 0e 00 03 00 03 'a/b' 01 00 03 'c/#' 02  a2 07 00 04 00 03 'a/b'  c0 00  e0 00",
 .log = LOG31 "PUBLISH topic=\"a/b\" qos=2 id=2 retain=0 dup=0 alias=0 payload=2\n"
        "PUBACK id=1 code=0x00\nPUBREC id=2 code=0x00\nPUBREL id=2 code=0x00\n"
        "PUBCOMP id=2 code=0x00\nSUBSCRIBE id=3 subid=0\nSUB_FILTER \"a/b\" opts=0x01 idx=0\n"
        "SUB_FILTER \"c/#\" opts=0x02 idx=1\nUNSUBSCRIBE id=4\nUNSUB_FILTER \"a/b\" idx=0\n"
        "PINGREQ\nDISCONNECT\n"},
{.name = "stream_v31_server_session", .dir = S2C, .version = 3,
 .hex = ACK3 "33 0c 00 03 'a/b' 00 07 'hello'  40 02 00 01  50 02 00 02  62 02 00 02"
        " 6a 02 00 02  70 02 00 02  90 04 00 03 00 80  b0 02 00 04  d0 00",
 .log = LOGACK "PUBLISH topic=\"a/b\" qos=1 id=7 retain=1 dup=0 alias=0 payload=5\n"
        "PUBACK id=1 code=0x00\nPUBREC id=2 code=0x00\nPUBREL id=2 code=0x00\n"
        "PUBREL id=2 code=0x00 pflags=0xa\nPUBCOMP id=2 code=0x00\n"
        "SUBACK id=3 count=2 failures=1\nUNSUBACK id=4 count=0 failures=0\nPINGRESP\n"},

/* ================= malformed: varints and lengths ================= */
{.name = "err_rl_5_bytes", .hex = "10 ff ff ff ff 01", .log = "", .err = MQTT_ERR_VARINT},
{.name = "err_rl_5_bytes_publish", .hex = CON311 "30 80 80 80 80 01", .log = LOG311,
 .err = MQTT_ERR_VARINT},
{.name = "err_rl_nonminimal_v5", .hex = CON5 "c0 80 00", .log = LOG5,
 .err = MQTT_ERR_VARINT_NONMINIMAL},
{.name = "err_rl_nonminimal_v5_connect", .hex = "10 8e 00 00 04 'MQTT' 05 02 00 3c 00 00 01 'c'",
 .log = "", .err = MQTT_ERR_VARINT_NONMINIMAL},
{.name = "err_props_len_nonminimal_connect",
 .hex = "10 0f 00 04 'MQTT' 05 02 00 3c 80 00 00 01 'c'", .log = "",
 .err = MQTT_ERR_VARINT_NONMINIMAL},
{.name = "err_props_len_nonminimal_publish", .hex = CON5 "30 07 00 03 'a/b' 80 00", .log = LOG5,
 .err = MQTT_ERR_VARINT_NONMINIMAL},
{.name = "err_subid_nonminimal", .hex = CON5 "82 0a 00 01 03 0b 81 00 00 01 'x' 00", .log = LOG5,
 .err = MQTT_ERR_VARINT_NONMINIMAL},
{.name = "err_props_len_5_bytes", .hex = CON5 "82 0b 00 01 ff ff ff ff 01 00 01 'x' 00",
 .log = LOG5, .err = MQTT_ERR_VARINT},
{.name = "err_client_id_beyond_packet", .hex = "10 0d 00 04 'MQTT' 04 02 00 3c 00 05 'c'",
 .log = "CONNECT v=4 flags=0x02 keepalive=60\n", .err = MQTT_ERR_LENGTH},
{.name = "err_topic_beyond_packet", .hex = CON311 "30 05 00 09 'a/b'", .log = LOG311,
 .err = MQTT_ERR_LENGTH},
{.name = "err_filter_beyond_packet", .hex = CON311 "82 07 00 01 00 09 'a/b'", .log = LOG311 LSUB1,
 .err = MQTT_ERR_LENGTH},
{.name = "err_props_beyond_packet", .hex = "10 0e 00 04 'MQTT' 05 02 00 3c 30 00 01 'c'",
 .log = "", .err = MQTT_ERR_LENGTH},
{.name = "err_prop_string_beyond_props",
 .hex = "10 11 00 04 'MQTT' 05 02 00 3c 03 15 00 05 00 01 'c'", .log = "",
 .err = MQTT_ERR_LENGTH},
{.name = "err_prop_u32_beyond_props", .hex = "10 11 00 04 'MQTT' 05 02 00 3c 03 11 00 00 00 01 'c'",
 .log = "", .err = MQTT_ERR_LENGTH},
{.name = "err_rl_short_puback_v3", .hex = CON311 "40 01 00", .log = LOG311,
 .err = MQTT_ERR_LENGTH},
{.name = "err_rl_short_connect", .hex = "10 03 00 04 'M'", .log = "", .err = MQTT_ERR_LENGTH},
{.name = "err_rl_short_connect_keepalive", .hex = "10 09 00 04 'MQTT' 04 02 00 3c", .log = "",
 .err = MQTT_ERR_LENGTH},
{.name = "err_rl_short_connack", .dir = S2C, .version = 4, .hex = "20 01 00", .log = "",
 .err = MQTT_ERR_LENGTH},
{.name = "err_rl_short_publish_id", .hex = CON311 "32 06 00 03 'a/b' 00", .log = LOG311,
 .err = MQTT_ERR_LENGTH},
{.name = "err_rl_short_will_payload",
 .hex = "10 11 00 04 'MQTT' 04 06 00 3c 00 01 'c' 00 01 't' 00",
 .log = "CONNECT v=4 flags=0x06 keepalive=60\nCLIENT_ID \"c\"\n"
        "WILL topic=\"t\" qos=0 retain=0 delay=0\n",
 .err = MQTT_ERR_LENGTH},
{.name = "err_rl_short_password", .hex = "10 10 00 04 'MQTT' 04 c2 00 3c 00 01 'c' 00 00 00",
 .log = "CONNECT v=4 flags=0xc2 keepalive=60\nCLIENT_ID \"c\"\n", .err = MQTT_ERR_LENGTH},
{.name = "err_suback_no_codes_v3", .dir = S2C, .version = 4, .hex = ACK3 "90 02 00 01",
 .log = LOGACK, .err = MQTT_ERR_LENGTH},
{.name = "err_suback_no_codes_v5", .dir = S2C, .version = 5, .hex = ACK5 "90 03 00 01 00",
 .log = LOGACK, .err = MQTT_ERR_LENGTH},
{.name = "err_trailing_pingreq", .hex = CON311 "c0 01 00", .log = LOG311,
 .err = MQTT_ERR_TRAILING},
{.name = "err_trailing_pingreq_v5", .hex = CON5 "c0 01 00", .log = LOG5, .err = MQTT_ERR_TRAILING},
{.name = "err_trailing_puback_v3", .hex = CON311 "40 03 00 01 00", .log = LOG311,
 .err = MQTT_ERR_TRAILING},
{.name = "err_trailing_connect", .hex = "10 0e 00 04 'MQTT' 04 02 00 3c 00 01 'c' 00",
 .log = "CONNECT v=4 flags=0x02 keepalive=60\nCLIENT_ID \"c\"\n", .err = MQTT_ERR_TRAILING},
{.name = "err_trailing_connack_v3", .dir = S2C, .version = 4, .hex = "20 03 00 00 00", .log = "",
 .err = MQTT_ERR_TRAILING},
{.name = "err_trailing_unsuback_v3", .dir = S2C, .version = 4, .hex = ACK3 "b0 03 00 01 00",
 .log = LOGACK, .err = MQTT_ERR_TRAILING},
{.name = "err_trailing_disconnect_v3", .hex = CON311 "e0 01 00", .log = LOG311,
 .err = MQTT_ERR_TRAILING},
{.name = "err_trailing_pingresp_v5", .dir = S2C, .version = 5, .hex = ACK5 "d0 01 00",
 .log = LOGACK, .err = MQTT_ERR_TRAILING},

/* ================= malformed: topics, UTF-8, filters ================= */
{.name = "err_topic_empty_v311", .hex = CON311 "30 02 00 00", .log = LOG311,
 .err = MQTT_ERR_TOPIC_EMPTY},
{.name = "err_topic_empty_v5", .hex = CON5 "30 03 00 00 00", .log = LOG5,
 .err = MQTT_ERR_TOPIC_EMPTY},
{.name = "err_alias_above_max", .alias_max = 10, .hex = CON5 "30 09 00 03 'a/b' 03 23 00 0b",
 .log = LOG5, .err = MQTT_ERR_ALIAS_INVALID},
{.name = "err_alias_not_allowed", .hex = CON5 "30 09 00 03 'a/b' 03 23 00 01", .log = LOG5,
 .err = MQTT_ERR_ALIAS_INVALID},
{.name = "err_alias_unknown", .alias_max = 10, .hex = CON5 "30 06 00 00 03 23 00 02", .log = LOG5,
 .err = MQTT_ERR_ALIAS_UNKNOWN},
{.name = "err_alias_unknown_from_server", .dir = S2C, .version = 5, .alias_max = 2,
 .hex = ACK5 "30 06 00 00 03 23 00 01", .log = LOGACK, .err = MQTT_ERR_ALIAS_UNKNOWN},
{.name = "err_topic_overlong_c0_80", .hex = CON311 "30 04 00 02 c0 80", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_overlong_e0_9f", .hex = CON311 "30 05 00 03 e0 9f bf", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_surrogate", .hex = CON311 "30 05 00 03 ed a0 80", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_f5", .hex = CON311 "30 06 00 04 f5 80 80 80", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_above_10ffff", .hex = CON311 "30 06 00 04 f4 90 80 80", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_truncated_utf8", .hex = CON311 "30 04 00 02 e2 82", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_lone_continuation", .hex = CON311 "30 03 00 01 80", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_nul", .hex = CON311 "30 05 00 03 'a' 00 'b'", .log = LOG311,
 .err = MQTT_ERR_UTF8},
{.name = "err_topic_nul_v5", .hex = CON5 "30 06 00 03 'a' 00 'b' 00", .log = LOG5,
 .err = MQTT_ERR_UTF8},
{.name = "err_client_id_overlong", .hex = "10 0e 00 04 'MQTT' 04 02 00 3c 00 02 c0 80",
 .log = "CONNECT v=4 flags=0x02 keepalive=60\n", .err = MQTT_ERR_UTF8},
{.name = "err_client_id_surrogate", .hex = "10 0f 00 04 'MQTT' 04 02 00 3c 00 03 ed b0 80",
 .log = "CONNECT v=4 flags=0x02 keepalive=60\n", .err = MQTT_ERR_UTF8},
{.name = "err_client_id_nul", .hex = "10 0e 00 04 'MQTT' 04 02 00 3c 00 02 'a' 00",
 .log = "CONNECT v=4 flags=0x02 keepalive=60\n", .err = MQTT_ERR_UTF8},
{.name = "err_client_id_f5", .hex = "10 10 00 04 'MQTT' 05 02 00 3c 00 00 03 f5 80 80",
 .log = "CONNECT v=5 flags=0x02 keepalive=60\n", .err = MQTT_ERR_UTF8},
{.name = "err_client_id_truncated_utf8", .hex = "10 0e 00 04 'MQTT' 04 02 00 3c 00 02 'a' e2",
 .log = "CONNECT v=4 flags=0x02 keepalive=60\n", .err = MQTT_ERR_UTF8},
{.name = "err_filter_f5", .hex = CON311 "82 08 00 01 00 03 f5 80 80 00", .log = LOG311 LSUB1,
 .err = MQTT_ERR_UTF8},
{.name = "err_filter_surrogate_v5", .hex = CON5 "82 09 00 01 00 00 03 ed a0 80 00",
 .log = LOG5 LSUB1, .err = MQTT_ERR_UTF8},
{.name = "err_filter_overlong", .hex = CON311 "82 07 00 01 00 02 c0 80 00", .log = LOG311 LSUB1,
 .err = MQTT_ERR_UTF8},
{.name = "err_filter_nul", .hex = CON311 "82 07 00 01 00 02 'a' 00 00", .log = LOG311 LSUB1,
 .err = MQTT_ERR_UTF8},
{.name = "err_filter_truncated_utf8", .hex = CON5 "82 08 00 01 00 00 02 'a' f0 00",
 .log = LOG5 LSUB1, .err = MQTT_ERR_UTF8},
{.name = "err_unsubscribe_filter_surrogate", .hex = CON311 "a2 07 00 01 00 03 ed a0 80",
 .log = LOG311 "UNSUBSCRIBE id=1\n", .err = MQTT_ERR_UTF8},
{.name = "err_will_topic_surrogate",
 .hex = "10 14 00 04 'MQTT' 04 06 00 3c 00 01 'c' 00 03 ed a0 80 00 00",
 .log = "CONNECT v=4 flags=0x06 keepalive=60\nCLIENT_ID \"c\"\n", .err = MQTT_ERR_UTF8},
{.name = "err_publish_topic_plus", .hex = CON311 "30 05 00 03 'a/+'", .log = LOG311,
 .err = MQTT_ERR_TOPIC_WILDCARD},
{.name = "err_publish_topic_hash_v5", .hex = CON5 "30 06 00 03 'a/#' 00", .log = LOG5,
 .err = MQTT_ERR_TOPIC_WILDCARD},
{.name = "err_publish_topic_hash_long", .hex = CON311 "30 15 00 13 'abcdefgh/ijklmnop/#'",
 .log = LOG311, .err = MQTT_ERR_TOPIC_WILDCARD},
{.name = "err_will_topic_wildcard",
 .hex = "10 14 00 04 'MQTT' 04 06 00 3c 00 01 'c' 00 03 'w/#' 00 00",
 .log = "CONNECT v=4 flags=0x06 keepalive=60\nCLIENT_ID \"c\"\n", .err = MQTT_ERR_TOPIC_WILDCARD},
{.name = "err_will_topic_empty", .hex = "10 11 00 04 'MQTT' 04 06 00 3c 00 01 'c' 00 00 00 00",
 .log = "CONNECT v=4 flags=0x06 keepalive=60\nCLIENT_ID \"c\"\n", .err = MQTT_ERR_TOPIC_EMPTY},
{.name = "err_filter_hash_not_last", .hex = CON5 "82 0b 00 01 00 00 05 'a/#/b' 00",
 .log = LOG5 LSUB1, .err = MQTT_ERR_FILTER},
{.name = "err_filter_hash_not_last_v311", .hex = CON311 "82 0a 00 01 00 05 'a/#/b' 00",
 .log = LOG311 LSUB1, .err = MQTT_ERR_FILTER},
{.name = "err_filter_plus_suffix", .hex = CON5 "82 08 00 01 00 00 02 'a+' 00", .log = LOG5 LSUB1,
 .err = MQTT_ERR_FILTER},
{.name = "err_filter_plus_prefix", .hex = CON5 "82 08 00 01 00 00 02 '+a' 00", .log = LOG5 LSUB1,
 .err = MQTT_ERR_FILTER},
{.name = "err_filter_hash_suffix", .hex = CON311 "82 07 00 01 00 02 'a#' 00",
 .log = LOG311 LSUB1, .err = MQTT_ERR_FILTER},
{.name = "err_filter_empty", .hex = CON5 "82 06 00 01 00 00 00 00", .log = LOG5 LSUB1,
 .err = MQTT_ERR_FILTER},
{.name = "err_filter_empty_v311", .hex = CON311 "82 05 00 01 00 00 00", .log = LOG311 LSUB1,
 .err = MQTT_ERR_FILTER},
{.name = "err_filter_share_empty_name", .hex = CON5 "82 0f 00 01 00 00 09 '$share//a' 00",
 .log = LOG5 LSUB1, .err = MQTT_ERR_FILTER},
{.name = "err_filter_share_no_filter", .hex = CON5 "82 0e 00 01 00 00 08 '$share/g' 00",
 .log = LOG5 LSUB1, .err = MQTT_ERR_FILTER},
{.name = "err_filter_share_empty_filter", .hex = CON5 "82 0f 00 01 00 00 09 '$share/g/' 00",
 .log = LOG5 LSUB1, .err = MQTT_ERR_FILTER},
{.name = "err_filter_share_wildcard_name", .hex = CON5 "82 11 00 01 00 00 0b '$share/g+/a' 00",
 .log = LOG5 LSUB1, .err = MQTT_ERR_FILTER},
{.name = "err_filter_second_bad", .hex = CON311 "82 0d 00 01 00 01 'a' 00 00 04 'a/#/' 00",
 .log = LOG311 LSUB1 "SUB_FILTER \"a\" opts=0x00 idx=0\n", .err = MQTT_ERR_FILTER},
{.name = "err_unsubscribe_filter_bad", .hex = CON311 "a2 08 00 01 00 04 'a/#/'",
 .log = LOG311 "UNSUBSCRIBE id=1\n", .err = MQTT_ERR_FILTER},
{.name = "err_unsubscribe_share_v5", .hex = CON5 "a2 0e 00 01 00 00 09 '$share/g/'",
 .log = LOG5 "UNSUBSCRIBE id=1\n", .err = MQTT_ERR_FILTER},

/* ================= malformed: subscription options ================= */
{.name = "err_sub_options_missing", .hex = CON311 "82 07 00 01 00 03 'a/b'", .log = LOG311 LSUB1,
 .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_missing_v5", .hex = CON5 "82 08 00 01 00 00 03 'a/b'", .log = LOG5 LSUB1,
 .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_missing_second", .hex = CON311 "82 0d 00 01 00 03 'a/b' 00 00 03 'c/d'",
 .log = LOG311 LSUB1 "SUB_FILTER \"a/b\" opts=0x00 idx=0\n", .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_qos3_v311", .hex = CON311 "82 08 00 01 00 03 'a/b' 03",
 .log = LOG311 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_reserved_v311", .hex = CON311 "82 08 00 01 00 03 'a/b' 04",
 .log = LOG311 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_reserved_high_v311", .hex = CON311 "82 08 00 01 00 03 'a/b' 80",
 .log = LOG311 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_qos3_v5", .hex = CON5 "82 09 00 01 00 00 03 'a/b' 03",
 .log = LOG5 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_reserved_v5", .hex = CON5 "82 09 00 01 00 00 03 'a/b' 40",
 .log = LOG5 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_reserved_top_v5", .hex = CON5 "82 09 00 01 00 00 03 'a/b' 80",
 .log = LOG5 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_retain_handling_3", .hex = CON5 "82 09 00 01 00 00 03 'a/b' 30",
 .log = LOG5 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_sub_options_no_local_shared", .hex = CON5 "82 10 00 01 00 00 0a '$share/g/a' 04",
 .log = LOG5 LSUB1, .err = MQTT_ERR_SUB_OPTIONS},
{.name = "err_subscribe_no_filters", .hex = CON311 "82 02 00 01", .log = LOG311,
 .err = MQTT_ERR_NO_FILTERS},
{.name = "err_subscribe_no_filters_v5", .hex = CON5 "82 03 00 01 00", .log = LOG5,
 .err = MQTT_ERR_NO_FILTERS},
{.name = "err_unsubscribe_no_filters", .hex = CON311 "a2 02 00 01", .log = LOG311,
 .err = MQTT_ERR_NO_FILTERS},
{.name = "err_unsubscribe_no_filters_v5", .hex = CON5 "a2 03 00 01 00", .log = LOG5,
 .err = MQTT_ERR_NO_FILTERS},
{.name = "err_suback_code_v311", .dir = S2C, .version = 4, .hex = ACK3 "90 04 00 01 00 03",
 .log = LOGACK, .err = MQTT_ERR_REASON_CODE},
{.name = "err_suback_code_v311_0x83", .dir = S2C, .version = 4, .hex = ACK3 "90 03 00 01 83",
 .log = LOGACK, .err = MQTT_ERR_REASON_CODE},
{.name = "err_suback_code_v5", .dir = S2C, .version = 5, .hex = ACK5 "90 04 00 01 00 11",
 .log = LOGACK, .err = MQTT_ERR_REASON_CODE},

/* ================= malformed: properties ================= */
{.name = "err_property_dup_session_expiry",
 .hex = "10 18 00 04 'MQTT' 05 02 00 3c 0a 11 00 00 00 01 11 00 00 00 02 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROPERTY_DUP},
{.name = "err_property_dup_subid", .hex = CON5 "82 0b 00 01 04 0b 01 0b 02 00 01 'x' 00",
 .log = LOG5, .err = MQTT_ERR_PROPERTY_DUP},
{.name = "err_property_dup_topic_alias", .alias_max = 10,
 .hex = CON5 "30 0c 00 03 'a/b' 06 23 00 01 23 00 01", .log = LOG5, .err = MQTT_ERR_PROPERTY_DUP},
{.name = "err_property_dup_reason_string", .hex = CON5 "40 0c 00 01 00 08 1f 00 01 'a' 1f 00 01 'b'",
 .log = LOG5, .err = MQTT_ERR_PROPERTY_DUP},
{.name = "err_property_dup_will_delay",
 .hex = "10 1e 00 04 'MQTT' 05 06 00 3c 00 00 01 'c' 0a 18 00 00 00 01 18 00 00 00 01 00 01 't'"
        " 00 00",
 .log = "CONNECT v=5 flags=0x06 keepalive=60\nCLIENT_ID \"c\"\n", .err = MQTT_ERR_PROPERTY_DUP},
{.name = "err_property_topic_alias_in_connect",
 .hex = "10 11 00 04 'MQTT' 05 02 00 3c 03 23 00 01 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROPERTY},
{.name = "err_property_will_delay_in_connect",
 .hex = "10 13 00 04 'MQTT' 05 02 00 3c 05 18 00 00 00 01 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROPERTY},
{.name = "err_property_assigned_id_in_connect",
 .hex = "10 12 00 04 'MQTT' 05 02 00 3c 04 12 00 01 'x' 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROPERTY},
{.name = "err_property_unknown_id", .hex = "10 10 00 04 'MQTT' 05 02 00 3c 02 7f 00 00 01 'c'",
 .log = "", .err = MQTT_ERR_PROPERTY},
{.name = "err_property_id_zero", .hex = "10 10 00 04 'MQTT' 05 02 00 3c 02 00 00 00 01 'c'",
 .log = "", .err = MQTT_ERR_PROPERTY},
{.name = "err_property_session_expiry_in_will",
 .hex = "10 19 00 04 'MQTT' 05 06 00 3c 00 00 01 'c' 05 11 00 00 00 01 00 01 't' 00 00",
 .log = "CONNECT v=5 flags=0x06 keepalive=60\nCLIENT_ID \"c\"\n", .err = MQTT_ERR_PROPERTY},
{.name = "err_property_subid_from_client_publish", .hex = CON5 "30 08 00 03 'a/b' 02 0b 01",
 .log = LOG5, .err = MQTT_ERR_PROPERTY},
{.name = "err_property_subid_in_unsubscribe", .hex = CON5 "a2 08 00 01 02 0b 01 00 01 'x'",
 .log = LOG5, .err = MQTT_ERR_PROPERTY},
{.name = "err_property_session_expiry_server_disconnect", .dir = S2C, .version = 5,
 .hex = ACK5 "e0 07 00 05 11 00 00 00 01", .log = LOGACK, .err = MQTT_ERR_PROPERTY},
{.name = "err_property_topic_alias_in_puback", .hex = CON5 "40 07 00 01 00 03 23 00 01",
 .log = LOG5, .err = MQTT_ERR_PROPERTY},
{.name = "err_property_receive_max_zero",
 .hex = "10 11 00 04 'MQTT' 05 02 00 3c 03 21 00 00 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROPERTY_VALUE},
{.name = "err_property_max_packet_zero",
 .hex = "10 13 00 04 'MQTT' 05 02 00 3c 05 27 00 00 00 00 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROPERTY_VALUE},
{.name = "err_property_request_problem_2",
 .hex = "10 10 00 04 'MQTT' 05 02 00 3c 02 17 02 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROPERTY_VALUE},
{.name = "err_property_payload_format_2", .hex = CON5 "30 08 00 03 'a/b' 02 01 02", .log = LOG5,
 .err = MQTT_ERR_PROPERTY_VALUE},
{.name = "err_property_subid_zero", .hex = CON5 "82 09 00 01 02 0b 00 00 01 'x' 00", .log = LOG5,
 .err = MQTT_ERR_PROPERTY_VALUE},
{.name = "err_property_max_qos_2", .dir = S2C, .version = 5, .hex = "20 05 00 00 02 24 02",
 .log = "", .err = MQTT_ERR_PROPERTY_VALUE},
{.name = "err_property_receive_max_zero_connack", .dir = S2C, .version = 5,
 .hex = "20 06 00 00 03 21 00 00", .log = "", .err = MQTT_ERR_PROPERTY_VALUE},

/* ================= malformed: fixed header, order, CONNECT ================= */
{.name = "err_flags_subscribe_0", .hex = CON311 "80 08 00 01 00 03 'a/b' 01", .log = LOG311,
 .err = MQTT_ERR_FLAGS},
{.name = "err_flags_subscribe_dup_v311", .hex = CON311 "8a 08 00 01 00 03 'a/b' 01", .log = LOG311,
 .err = MQTT_ERR_FLAGS},
{.name = "err_flags_unsubscribe_0", .hex = CON311 "a0 07 00 01 00 03 'a/b'", .log = LOG311,
 .err = MQTT_ERR_FLAGS},
{.name = "err_flags_pubrel_0", .hex = CON311 "60 02 00 01", .log = LOG311, .err = MQTT_ERR_FLAGS},
{.name = "err_flags_puback_2", .hex = CON5 "42 02 00 01", .log = LOG5, .err = MQTT_ERR_FLAGS},
{.name = "err_flags_pingreq_1", .hex = CON311 "c1 00", .log = LOG311, .err = MQTT_ERR_FLAGS},
{.name = "err_flags_connect_1", .hex = "11 0d 00 04 'MQTT' 04 02 00 3c 00 01 'c'", .log = "",
 .err = MQTT_ERR_FLAGS},
{.name = "err_flags_disconnect_2", .hex = CON5 "e2 00", .log = LOG5, .err = MQTT_ERR_FLAGS},
{.name = "err_flags_connack_1", .dir = S2C, .version = 4, .hex = "21 02 00 00", .log = "",
 .err = MQTT_ERR_FLAGS},
{.name = "err_publish_qos3", .hex = CON311 "36 05 00 03 'a/b'", .log = LOG311, .err = MQTT_ERR_QOS},
{.name = "err_publish_dup_qos0", .hex = CON311 "38 05 00 03 'a/b'", .log = LOG311,
 .err = MQTT_ERR_DUP_QOS0},
{.name = "err_packet_id_zero_publish", .hex = CON311 "32 07 00 03 'a/b' 00 00", .log = LOG311,
 .err = MQTT_ERR_PACKET_ID},
{.name = "err_packet_id_zero_puback", .hex = CON311 "40 02 00 00", .log = LOG311,
 .err = MQTT_ERR_PACKET_ID},
{.name = "err_packet_id_zero_subscribe", .hex = CON311 "82 06 00 00 00 01 'a' 00", .log = LOG311,
 .err = MQTT_ERR_PACKET_ID},
{.name = "err_packet_id_zero_unsubscribe", .hex = CON5 "a2 06 00 00 00 00 01 'a'", .log = LOG5,
 .err = MQTT_ERR_PACKET_ID},
{.name = "err_packet_id_zero_suback", .dir = S2C, .version = 4, .hex = ACK3 "90 03 00 00 00",
 .log = LOGACK, .err = MQTT_ERR_PACKET_ID},
{.name = "err_packet_id_zero_unsuback", .dir = S2C, .version = 4, .hex = ACK3 "b0 02 00 00",
 .log = LOGACK, .err = MQTT_ERR_PACKET_ID},
{.name = "err_type_connack_from_client", .hex = CON311 "20 02 00 00", .log = LOG311,
 .err = MQTT_ERR_TYPE},
{.name = "err_type_suback_from_client", .hex = CON311 "90 03 00 01 00", .log = LOG311,
 .err = MQTT_ERR_TYPE},
{.name = "err_type_pingresp_from_client", .hex = CON311 "d0 00", .log = LOG311,
 .err = MQTT_ERR_TYPE},
{.name = "err_type_subscribe_from_server", .dir = S2C, .version = 4,
 .hex = ACK3 "82 08 00 01 00 03 'a/b' 01", .log = LOGACK, .err = MQTT_ERR_TYPE},
{.name = "err_type_pingreq_from_server", .dir = S2C, .version = 4, .hex = ACK3 "c0 00",
 .log = LOGACK, .err = MQTT_ERR_TYPE},
{.name = "err_type_connect_from_server", .dir = S2C, .version = 4, .hex = CON311, .log = "",
 .err = MQTT_ERR_TYPE},
{.name = "err_type_reserved_0", .hex = CON311 "00 00", .log = LOG311, .err = MQTT_ERR_TYPE},
{.name = "err_type_reserved_0_server", .dir = S2C, .hex = "00 00", .log = "", .err = MQTT_ERR_TYPE},
{.name = "err_type_auth_v311", .hex = CON311 "f0 00", .log = LOG311, .err = MQTT_ERR_TYPE},
{.name = "err_type_auth_v311_server", .dir = S2C, .version = 4, .hex = ACK3 "f0 00", .log = LOGACK,
 .err = MQTT_ERR_TYPE},
{.name = "err_type_disconnect_v311_server", .dir = S2C, .hex = ACK3 "e0 00", .log = LOGACK,
 .err = MQTT_ERR_TYPE},
{.name = "err_order_pingreq_first", .hex = "c0 00", .log = "", .err = MQTT_ERR_ORDER},
{.name = "err_order_publish_first", .hex = "30 05 00 03 'a/b'", .log = "", .err = MQTT_ERR_ORDER},
{.name = "err_order_auth_first_from_client", .hex = "f0 00", .log = "", .err = MQTT_ERR_ORDER},
{.name = "err_order_suback_first", .dir = S2C, .version = 4, .hex = "90 03 00 01 00", .log = "",
 .err = MQTT_ERR_ORDER},
{.name = "err_order_second_connect", .hex = CON311 CON311, .log = LOG311, .err = MQTT_ERR_ORDER},
{.name = "err_order_second_connack", .dir = S2C, .version = 4, .hex = ACK3 ACK3, .log = LOGACK,
 .err = MQTT_ERR_ORDER},
{.name = "err_protocol_name_mqtx", .hex = "10 0d 00 04 'MQTX' 04 02 00 3c 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROTOCOL_NAME},
{.name = "err_protocol_name_short", .hex = "10 0c 00 03 'MQT' 04 02 00 3c 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROTOCOL_NAME},
{.name = "err_protocol_name_mqisdq", .hex = "10 0f 00 06 'MQIsdq' 03 02 00 3c 00 01 'c'",
 .log = "", .err = MQTT_ERR_PROTOCOL_NAME},
{.name = "err_protocol_level_mqtt_3", .hex = "10 0d 00 04 'MQTT' 03 02 00 3c 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROTOCOL_LEVEL},
{.name = "err_protocol_level_mqisdp_4", .hex = "10 0f 00 06 'MQIsdp' 04 02 00 3c 00 01 'c'",
 .log = "", .err = MQTT_ERR_PROTOCOL_LEVEL},
{.name = "err_protocol_level_6", .hex = "10 0d 00 04 'MQTT' 06 02 00 3c 00 01 'c'", .log = "",
 .err = MQTT_ERR_PROTOCOL_LEVEL},
{.name = "err_protocol_level_bridge_6", .hex = "10 0d 00 04 'MQTT' 86 02 00 3c 00 01 'c'",
 .log = "", .err = MQTT_ERR_PROTOCOL_LEVEL},
{.name = "err_connect_flags_reserved", .hex = "10 0d 00 04 'MQTT' 04 03 00 3c 00 01 'c'", .log = "",
 .err = MQTT_ERR_CONNECT_FLAGS},
{.name = "err_connect_flags_will_qos_without_will",
 .hex = "10 0d 00 04 'MQTT' 04 0a 00 3c 00 01 'c'", .log = "", .err = MQTT_ERR_CONNECT_FLAGS},
{.name = "err_connect_flags_will_retain_without_will",
 .hex = "10 0d 00 04 'MQTT' 05 22 00 3c 00 01 'c'", .log = "", .err = MQTT_ERR_CONNECT_FLAGS},
{.name = "err_connect_flags_will_qos3", .hex = "10 0d 00 04 'MQTT' 04 1e 00 3c 00 01 'c'",
 .log = "", .err = MQTT_ERR_CONNECT_FLAGS},
{.name = "err_connect_flags_password_without_username_v311",
 .hex = "10 11 00 04 'MQTT' 04 42 00 3c 00 01 'c' 00 02 'pw'", .log = "",
 .err = MQTT_ERR_CONNECT_FLAGS},
{.name = "err_connect_flags_password_without_username_v31",
 .hex = "10 13 00 06 'MQIsdp' 03 42 00 3c 00 01 'c' 00 02 'pw'", .log = "",
 .err = MQTT_ERR_CONNECT_FLAGS},
{.name = "err_connack_flags_reserved", .dir = S2C, .version = 4, .hex = "20 02 02 00", .log = "",
 .err = MQTT_ERR_CONNECT_FLAGS},

/* ================= malformed: limits ================= */
{.name = "err_too_large_publish", .lim = {.max_packet = 16},
 .hex = CON311 "30 11 00 03 'a/b' 'abcdefghijkl'", .log = LOG311, .err = MQTT_ERR_TOO_LARGE},
{.name = "err_too_large_connect", .lim = {.max_packet = 16}, .hex = "10 27 00 04", .log = "",
 .err = MQTT_ERR_TOO_LARGE},
{.name = "err_string_too_long_topic", .lim = {.max_string = 16},
 .hex = CON311 "30 13 00 11 'abcdefghijklmnopq'", .log = LOG311, .err = MQTT_ERR_STRING_TOO_LONG},
{.name = "err_string_too_long_client_id", .lim = {.max_string = 16},
 .hex = "10 1d 00 04 'MQTT' 04 02 00 3c 00 11 'abcdefghijklmnopq'",
 .log = "CONNECT v=4 flags=0x02 keepalive=60\n", .err = MQTT_ERR_STRING_TOO_LONG},
{.name = "err_string_too_long_filter", .lim = {.max_string = 16},
 .hex = CON311 "82 16 00 01 00 11 'abcdefghijklmnopq' 00", .log = LOG311 LSUB1,
 .err = MQTT_ERR_STRING_TOO_LONG},

/* ============ regressions: parser bugs these tests found (fixed since) ============ */
/* Regression: Topic Alias 0 is a protocol error (5.0 §3.3.2.3.4, enum mqtt_err says
 * "topic alias 0"), but prop_value() stores it in p->alias where 0 means "no
 * alias", so publish_topic() accepts the PUBLISH as alias-less. */
{.name = "regress_alias_zero", .regression = true, .alias_max = 10,
 .hex = CON5 "30 09 00 03 'a/b' 03 23 00 00", .log = LOG5, .err = MQTT_ERR_ALIAS_INVALID},
/* Regression: same cause; reported as empty_topic instead of bad_topic_alias. */
{.name = "regress_alias_zero_empty_topic", .regression = true, .alias_max = 10,
 .hex = CON5 "30 06 00 00 03 23 00 00", .log = LOG5, .err = MQTT_ERR_ALIAS_INVALID},
/* Regression: a 5.0 PUBLISH must have a Property Length; with none left in the packet
 * take_varint() waits for the next packet's bytes (returns NEED_MORE) instead
 * of failing: its p->left == 0 check is only reached when a byte is there. */
{.name = "regress_v5_publish_without_property_length", .regression = true, .hex = CON5 "30 05 00 03 'a/b'",
 .log = LOG5, .err = MQTT_ERR_LENGTH},
/* Regression: same, a 5.0 CONNACK without Property Length. */
{.name = "regress_v5_connack_without_property_length", .regression = true, .dir = S2C, .version = 5,
 .hex = "20 02 00 00", .log = "", .err = MQTT_ERR_LENGTH},
/* Regression: the Property Length varint 0x80 has its continuation byte outside the
 * packet. Fed whole: length_beyond_packet. Split right after 0x80, the next
 * call sees p->left == 0 && p->prop_phase == 0 in ST_ACK_PROPS, skips the
 * properties and emits the PUBACK; the stream goes on as if valid. */
{.name = "regress_v5_puback_property_length_cut", .regression = true, .hex = CON5 "40 04 00 01 00 80 c0 00",
 .log = LOG5, .err = MQTT_ERR_LENGTH},
/* Regression: same through ST_DISC_PROPS. */
{.name = "regress_v5_disconnect_property_length_cut", .regression = true, .hex = CON5 "e0 02 00 80 c0 00",
 .log = LOG5, .err = MQTT_ERR_LENGTH},
/* Regression: with no version set, packet_header() admits a server's AUTH as the
 * first packet (5.0 only), but ST_DISC_CODE reads it as 3.x (v5(p) false)
 * and fails on its reason code with trailing_bytes. */
{.name = "regress_s2c_unset_version_auth_first", .regression = true, .dir = S2C,
 .hex = "f0 02 18 00 20 03 00 00 00", .log = "AUTH code=0x18\nCONNACK sp=0 code=0x00\n"},
/* Regression: undefined behaviour (UBSan: "null pointer passed as argument 1"):
 * a 5.0 PUBLISH with an empty topic (alias only) whose call ends after the
 * topic leaves p->pending at a 0-byte view; feed_general() then runs
 * reserve(p, 0), which allocates nothing, and memcpy(p->buf = NULL, ptr, 0).
 * Fails when split right after the empty topic (here at offset 21) while no
 * string has been reassembled yet. Every fixture with an alias-only PUBLISH
 * fails the same way (publish_v5_alias_*, publish_v5_from_server_alias,
 * err_topic_empty_v5, err_alias_unknown*), as does test_alias_arena_exhaustion. */
{.name = "regress_empty_topic_split_memcpy_null", .regression = true, .dir = S2C, .version = 5,
 .alias_max = 1, .hex = ACK5 "30 0a 00 03 'a/b' 03 23 00 01 'x'  30 07 00 00 03 23 00 01 'y'",
 .log = LOGACK "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1 set\n"
        "PUBLISH topic=\"a/b\" qos=0 id=0 retain=0 dup=0 alias=1 payload=1\n"},
/* Regression: with no version set, a CONNACK inferred to be 5.0 (longer than 2
 * bytes) is not checked for a non-minimal Remaining Length: the check in
 * ST_RLEN ran while the version was still unknown and ST_CONNACK_FLAGS does
 * not repeat it (ST_CONNECT_LEVEL does, for CONNECT). */
{.name = "regress_s2c_unset_version_connack_rl_nonminimal", .regression = true, .dir = S2C,
 .hex = "20 83 00 00 00 00", .log = "", .err = MQTT_ERR_VARINT_NONMINIMAL},
};
/* clang-format on */

#define FX_COUNT (sizeof(FX) / sizeof(FX[0]))

/* ---- hex ---- */

static inline int fx_hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes the fixture syntax into a malloc'd buffer; returns its length, or
 * (size_t)-1 on a syntax error (a typo in a fixture). */
static inline size_t fx_unhex(const char *hex, uint8_t **out)
{
        size_t n = 0;
        uint8_t *b = malloc(strlen(hex) + 1);

        if (!b)
                return (size_t)-1;
        for (const char *s = hex; *s;) {
                if (*s == ' ' || *s == '\n' || *s == '\t') {
                        s++;
                } else if (*s == '\'') {
                        for (s++; *s && *s != '\''; s++)
                                b[n++] = (uint8_t)*s;
                        if (!*s)
                                goto bad;
                        s++;
                } else {
                        int hi = fx_hexval(s[0]), lo = hi < 0 ? -1 : fx_hexval(s[1]);

                        if (lo < 0)
                                goto bad;
                        b[n++] = (uint8_t)(hi << 4 | lo);
                        s += 2;
                }
        }
        *out = b;
        return n;
bad:
        free(b);
        *out = NULL;
        return (size_t)-1;
}

/* ---- the log ---- */

struct fx_sb {
        char *s;
        size_t len, cap;
};

static inline void fx_sb_putf(struct fx_sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void fx_sb_putf(struct fx_sb *b, const char *fmt, ...)
{
        va_list ap;

        for (;;) {
                size_t room = b->cap - b->len;

                va_start(ap, fmt);
                int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
                va_end(ap);
                if (n < 0)
                        abort();
                if ((size_t)n < room) {
                        b->len += (size_t)n;
                        return;
                }
                size_t cap = b->cap ? b->cap : 256;

                while (cap - b->len <= (size_t)n)
                        cap *= 2;
                char *s = realloc(b->s, cap);

                if (!s)
                        abort();
                b->s = s;
                b->cap = cap;
        }
}

static inline const char *fx_sb_str(struct fx_sb *b)
{
        if (!b->s)
                fx_sb_putf(b, "%s", "");
        return b->s;
}

static inline void fx_sb_free(struct fx_sb *b)
{
        free(b->s);
        b->s = NULL;
        b->len = b->cap = 0;
}

/* A string, quoted, bytes outside printable ASCII as \xNN: copied at once,
 * since the view dies with the next call into the parser. */
static inline void fx_put_str(struct fx_sb *b, struct mqtt_str s)
{
        fx_sb_putf(b, "\"");
        for (uint32_t i = 0; i < s.len; i++) {
                uint8_t c = s.ptr[i];

                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                        fx_sb_putf(b, "%c", c);
                else
                        fx_sb_putf(b, "\\x%02x", c);
        }
        fx_sb_putf(b, "\"");
}

static inline void fx_put_caps(struct fx_sb *b, const struct mqtt_caps *c)
{
        uint32_t p = c->present;

        if (p & MQTT_HAS_SESSION_EXPIRY)
                fx_sb_putf(b, " sx=%u", c->session_expiry);
        if (p & MQTT_HAS_RECEIVE_MAX)
                fx_sb_putf(b, " rmax=%u", c->receive_max);
        if (p & MQTT_HAS_MAX_PACKET)
                fx_sb_putf(b, " maxpkt=%u", c->max_packet);
        if (p & MQTT_HAS_TOPIC_ALIAS_MAX)
                fx_sb_putf(b, " tamax=%u", c->topic_alias_max);
        if (p & MQTT_HAS_MAX_QOS)
                fx_sb_putf(b, " maxqos=%u", c->max_qos);
        if (p & MQTT_HAS_RETAIN_AVAIL)
                fx_sb_putf(b, " retain_avail=%u", c->retain_avail);
        if (p & MQTT_HAS_WILDCARD_AVAIL)
                fx_sb_putf(b, " wildcard_avail=%u", c->wildcard_avail);
        if (p & MQTT_HAS_SUBID_AVAIL)
                fx_sb_putf(b, " subid_avail=%u", c->subid_avail);
        if (p & MQTT_HAS_SHARED_AVAIL)
                fx_sb_putf(b, " shared_avail=%u", c->shared_avail);
        if (p & MQTT_HAS_SERVER_KEEPALIVE)
                fx_sb_putf(b, " server_ka=%u", c->server_keepalive);
        if (p & MQTT_HAS_AUTH_METHOD)
                fx_sb_putf(b, " auth_method");
        if (p & MQTT_HAS_ASSIGNED_CLIENT_ID)
                fx_sb_putf(b, " assigned_id");
        if (p & MQTT_HAS_SUBSCRIPTION_ID)
                fx_sb_putf(b, " subid");
        if (p & MQTT_HAS_REASON_CODE)
                fx_sb_putf(b, " rc");
        if (p & ~((MQTT_HAS_REASON_CODE << 1) - 1))
                fx_sb_putf(b, " present=0x%x", p);
}

static inline const char *fx_pkt_name(uint8_t t)
{
        static const char *const names[16] = {
            "RESERVED", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
            "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
            "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH",
        };

        return t < 16 ? names[t] : "?";
}

/* The packet type each event must carry. */
static inline bool fx_pkt_type_ok(const struct mqtt_event *ev)
{
        switch (ev->type) {
        case MQTT_EV_CONNECT:
        case MQTT_EV_CLIENT_ID:
        case MQTT_EV_WILL:
        case MQTT_EV_CONNECT_END: return ev->pkt_type == MQTT_CONNECT;
        case MQTT_EV_CONNACK: return ev->pkt_type == MQTT_CONNACK;
        case MQTT_EV_PUBLISH: return ev->pkt_type == MQTT_PUBLISH;
        case MQTT_EV_ACK: return ev->pkt_type >= MQTT_PUBACK && ev->pkt_type <= MQTT_PUBCOMP;
        case MQTT_EV_SUBSCRIBE:
        case MQTT_EV_SUB_FILTER: return ev->pkt_type == MQTT_SUBSCRIBE;
        case MQTT_EV_SUBACK: return ev->pkt_type == MQTT_SUBACK || ev->pkt_type == MQTT_UNSUBACK;
        case MQTT_EV_UNSUBSCRIBE:
        case MQTT_EV_UNSUB_FILTER: return ev->pkt_type == MQTT_UNSUBSCRIBE;
        case MQTT_EV_PINGREQ: return ev->pkt_type == MQTT_PINGREQ;
        case MQTT_EV_PINGRESP: return ev->pkt_type == MQTT_PINGRESP;
        case MQTT_EV_DISCONNECT: return ev->pkt_type == MQTT_DISCONNECT;
        case MQTT_EV_AUTH: return ev->pkt_type == MQTT_AUTH;
        default: return false;
        }
}

/* The fixed-header flags a packet has unless told otherwise. */
static inline uint8_t fx_usual_flags(const struct mqtt_event *ev)
{
        switch (ev->pkt_type) {
        case MQTT_PUBLISH:
                return (uint8_t)(ev->publish.dup << 3 | ev->publish.qos << 1 | ev->publish.retain);
        case MQTT_PUBREL:
        case MQTT_SUBSCRIBE:
        case MQTT_UNSUBSCRIBE: return 2;
        default: return 0;
        }
}

/* One canonical line for one event. */
static inline void fx_format(struct fx_sb *b, const struct mqtt_event *ev, bool offsets)
{
        switch (ev->type) {
        case MQTT_EV_CONNECT:
        case MQTT_EV_CONNECT_END:
                fx_sb_putf(b, "%s v=%u flags=0x%02x keepalive=%u",
                           ev->type == MQTT_EV_CONNECT ? "CONNECT" : "CONNECT_END",
                           ev->connect.version, ev->connect.flags, ev->connect.keepalive);
                fx_put_caps(b, &ev->connect.props);
                break;
        case MQTT_EV_CLIENT_ID:
                fx_sb_putf(b, "CLIENT_ID ");
                fx_put_str(b, ev->str);
                break;
        case MQTT_EV_WILL:
                fx_sb_putf(b, "WILL topic=");
                fx_put_str(b, ev->will.topic);
                fx_sb_putf(b, " qos=%u retain=%d delay=%u", ev->will.qos, ev->will.retain,
                           ev->will.delay);
                break;
        case MQTT_EV_CONNACK:
                fx_sb_putf(b, "CONNACK sp=%d code=0x%02x", ev->connack.session_present,
                           ev->connack.code);
                fx_put_caps(b, &ev->connack.caps);
                break;
        case MQTT_EV_PUBLISH:
                fx_sb_putf(b, "PUBLISH topic=");
                fx_put_str(b, ev->publish.topic);
                fx_sb_putf(b, " qos=%u id=%u retain=%d dup=%d alias=%u payload=%u", ev->publish.qos,
                           ev->publish.packet_id, ev->publish.retain, ev->publish.dup,
                           ev->publish.alias, ev->publish.payload_len);
                if (ev->publish.alias_set)
                        fx_sb_putf(b, " set");
                if (!ev->publish.topic_known)
                        fx_sb_putf(b, " unknown");
                if (ev->publish.subscription_id)
                        fx_sb_putf(b, " subid=%u", ev->publish.subscription_id);
                break;
        case MQTT_EV_ACK:
                fx_sb_putf(b, "%s id=%u code=0x%02x", fx_pkt_name(ev->pkt_type), ev->ack.packet_id,
                           ev->ack.code);
                break;
        case MQTT_EV_SUBSCRIBE:
                fx_sb_putf(b, "SUBSCRIBE id=%u subid=%u", ev->sub.packet_id,
                           ev->sub.subscription_id);
                break;
        case MQTT_EV_UNSUBSCRIBE:
                fx_sb_putf(b, "UNSUBSCRIBE id=%u", ev->sub.packet_id);
                if (ev->sub.subscription_id)
                        fx_sb_putf(b, " subid=%u", ev->sub.subscription_id);
                break;
        case MQTT_EV_SUB_FILTER:
        case MQTT_EV_UNSUB_FILTER:
                fx_sb_putf(b, "%s ",
                           ev->type == MQTT_EV_SUB_FILTER ? "SUB_FILTER" : "UNSUB_FILTER");
                fx_put_str(b, ev->filter.filter);
                if (ev->type == MQTT_EV_SUB_FILTER || ev->filter.options)
                        fx_sb_putf(b, " opts=0x%02x", ev->filter.options);
                fx_sb_putf(b, " idx=%u", ev->filter.index);
                break;
        case MQTT_EV_SUBACK:
                fx_sb_putf(b, "%s id=%u count=%u failures=%u", fx_pkt_name(ev->pkt_type),
                           ev->suback.packet_id, ev->suback.count, ev->suback.failures);
                break;
        case MQTT_EV_PINGREQ: fx_sb_putf(b, "PINGREQ"); break;
        case MQTT_EV_PINGRESP: fx_sb_putf(b, "PINGRESP"); break;
        case MQTT_EV_DISCONNECT:
        case MQTT_EV_AUTH: {
                uint32_t p = ev->disconnect.present;

                fx_sb_putf(b, "%s", ev->type == MQTT_EV_AUTH ? "AUTH" : "DISCONNECT");
                if (p & MQTT_HAS_REASON_CODE)
                        fx_sb_putf(b, " code=0x%02x", ev->disconnect.code);
                else if (ev->disconnect.code)
                        fx_sb_putf(b, " !code=0x%02x", ev->disconnect.code);
                if (p & MQTT_HAS_SESSION_EXPIRY)
                        fx_sb_putf(b, " sx=%u", ev->disconnect.session_expiry);
                struct mqtt_caps rest = {.present =
                                             p & ~(MQTT_HAS_REASON_CODE | MQTT_HAS_SESSION_EXPIRY)};

                fx_put_caps(b, &rest);
                break;
        }
        default: fx_sb_putf(b, "!event type %u", ev->type); break;
        }
        if (!fx_pkt_type_ok(ev))
                fx_sb_putf(b, " !pkt_type=%u", ev->pkt_type);
        if (ev->pkt_flags != fx_usual_flags(ev))
                fx_sb_putf(b, " pflags=0x%x", ev->pkt_flags);
        if (offsets)
                fx_sb_putf(b, " @%llu+%u", (unsigned long long)ev->pkt_offset, ev->pkt_len);
        fx_sb_putf(b, "\n");
}

/* ---- the runner ---- */

struct fx_run {
        struct mqtt_parser p;
        struct fx_sb log;
        enum mqtt_err err; /* MQTT_OK until the parser fails */
        bool offsets;
        uint64_t fed;      /* stream bytes handed over so far */
        uint64_t consumed; /* stream bytes the parser consumed */
};

static inline void fx_run_init(struct fx_run *r, const struct fx *f)
{
        memset(r, 0, sizeof(*r));
        mqtt_parser__init(&r->p, (enum mqtt_dir)f->dir, &f->lim);
        if (f->version)
                mqtt_parser__set_version(&r->p, (enum mqtt_version)f->version);
        if (f->alias_max && mqtt_parser__set_alias_max(&r->p, f->alias_max))
                abort();
        r->offsets = f->offsets;
}

/*
 * Feeds [buf, buf + n) until the parser wants more or fails, logging each
 * event at once. Checks the feed contract on the way; breaches are logged as
 * '!' lines so that the log comparison reports them. Returns false once the
 * parser has failed (nothing more should be fed).
 */
static inline bool fx_run_view(struct fx_run *r, const uint8_t *buf, size_t n)
{
        size_t off = 0, events = 0;

        if (r->err != MQTT_OK)
                return false;
        r->fed += n;
        for (;;) {
                struct mqtt_event ev;
                size_t used = (size_t)-1;
                enum mqtt_status st = mqtt_parser__feed(&r->p, buf + off, n - off, &used, &ev);

                if (used > n - off) {
                        fx_sb_putf(&r->log, "!used %zu of %zu\n", used, n - off);
                        used = n - off;
                }
                off += used;
                r->consumed += used;
                if (mqtt_parser__offset(&r->p) != r->consumed)
                        fx_sb_putf(&r->log, "!offset %llu, consumed %llu\n",
                                   (unsigned long long)mqtt_parser__offset(&r->p),
                                   (unsigned long long)r->consumed);
                if (st == MQTT_EVENT) {
                        fx_format(&r->log, &ev, r->offsets);
                        /* the packet has begun and not ended before the event */
                        if (ev.pkt_offset >= r->consumed ||
                            ev.pkt_offset + ev.pkt_len < r->consumed)
                                fx_sb_putf(&r->log, "!event outside its packet\n");
                        if (++events > 4 * n + 16) {
                                fx_sb_putf(&r->log, "!events without progress\n");
                                return false;
                        }
                        continue;
                }
                if (st == MQTT_NEED_MORE) {
                        if (off != n)
                                fx_sb_putf(&r->log, "!need_more with %zu bytes left\n", n - off);
                        return true;
                }
                if (st != MQTT_ERROR) {
                        fx_sb_putf(&r->log, "!status %d\n", (int)st);
                        return false;
                }
                r->err = mqtt_parser__error(&r->p);
                if (r->err == MQTT_OK || r->err >= MQTT_ERR__COUNT)
                        fx_sb_putf(&r->log, "!error %d\n", (int)r->err);
                /* sticky: the next call fails at once, consuming nothing */
                static const uint8_t more[2] = {0xc0, 0x00};

                used = 99;
                st = off < n ? mqtt_parser__feed(&r->p, buf + off, n - off, &used, &ev)
                             : mqtt_parser__feed(&r->p, more, sizeof(more), &used, &ev);
                if (st != MQTT_ERROR || used != 0 || mqtt_parser__error(&r->p) != r->err)
                        fx_sb_putf(&r->log, "!error not sticky: status %d used %zu\n", (int)st,
                                   used);
                return false;
        }
}

/* One piece from its own exactly-sized heap copy, freed as soon as the parser
 * is done with it: a view kept past the call, or a read past the piece, is an
 * ASan report. */
static inline bool fx_run_piece(struct fx_run *r, const uint8_t *src, size_t n)
{
        uint8_t *b = malloc(n ? n : 1);

        if (!b)
                abort();
        memcpy(b, src, n);
        bool more = fx_run_view(r, b, n);

        free(b);
        return more;
}

/* The log with the final error line; the caller frees it with fx_sb_free. */
static inline const char *fx_run_end(struct fx_run *r)
{
        if (r->err != MQTT_OK) {
                fx_sb_putf(&r->log, "ERROR %s\n", mqtt_err__str(r->err));
        } else {
                if (!mqtt_parser__at_boundary(&r->p))
                        fx_sb_putf(&r->log, "!not at a packet boundary\n");
                if (r->consumed != r->fed)
                        fx_sb_putf(&r->log, "!consumed %llu of %llu\n",
                                   (unsigned long long)r->consumed, (unsigned long long)r->fed);
        }
        mqtt_parser__fini(&r->p);
        return fx_sb_str(&r->log);
}

/* The log a fixture must produce. */
static inline void fx_expected(const struct fx *f, struct fx_sb *b)
{
        fx_sb_putf(b, "%s", f->log ? f->log : "");
        if (f->err != MQTT_OK)
                fx_sb_putf(b, "ERROR %s\n", mqtt_err__str(f->err));
}

#endif
