/*
 * The MQTT-SN datagram reader (mqttsn/reader.h).
 *
 * A table of datagrams in hex: valid ones of every message type, in both
 * Length forms and encapsulated, each with the line describe() must make of
 * what the reader returned (every member that is set, so a member set by
 * mistake shows too); malformed ones for every error, each with its reason.
 * Every valid datagram is also read against a guard page, cut short at
 * every byte (TRUNCATED), with one byte more (LENGTH: no trailing bytes),
 * and with its Length field one more (TRUNCATED) and one less (LENGTH).
 * Random mutations of the valid ones keep the reader's invariants. Every
 * datagram is read from an exactly-sized heap copy or against a guard page.
 *
 * `test_mqttsn_reader --seeds DIR` writes the valid datagrams, one file
 * each, as the seeds of tests/fuzz/fuzz_mqttsn.c (tests/fuzz/corpus/mqttsn).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mqttsn/reader.h"

static unsigned long checks;

#define CHECK(cond)                \
        do {                       \
                checks++;          \
                assert_true(cond); \
        } while (0)
#define CHECK_INT(a, b)                                           \
        do {                                                      \
                checks++;                                         \
                assert_int_equal((long long)(a), (long long)(b)); \
        } while (0)

static uint32_t lcg(uint32_t *s)
{
        *s = *s * 1103515245u + 12345u;
        return *s >> 8;
}

/* ---- the fixtures ---- */

/*
 * Datagrams are written as tokens separated by spaces: "0d" a byte in hex,
 * "63*249" a byte repeated, 'sensor/1' the ASCII bytes between the quotes
 * (no spaces inside).
 */
struct good {
        const char *name;
        const char *hex;
        const char *want; /* describe() of the result */
};

struct bad {
        const char *name;
        const char *hex;
        enum mqttsn_err err;
};

static const struct good GOOD[] = {
    /* gateway discovery, §5.4.2-§5.4.4 */
    {"advertise", "05 00 07 03 84", "ADVERTISE len=5 hdr=2 gw=7 duration=900"},
    {"searchgw", "03 01 02", "SEARCHGW len=3 hdr=2 radius=2"},
    {"gwinfo_from_gw", "03 02 07", "GWINFO len=3 hdr=2 gw=7 gw_addr[0]=''"},
    {"gwinfo_from_client", "09 02 07 c0 a8 01 02 07 5b",
     "GWINFO len=9 hdr=2 gw=7 gw_addr[6]='\\xc0\\xa8\\x01\\x02\\x07['"},
    /* connection, §5.4.5-§5.4.11 */
    {"connect", "0d 04 04 01 00 1e 'sensor1'",
     "CONNECT len=13 hdr=2 flags=04 qos=0 clean tit=0 protocol=1 duration=30 "
     "client_id[7]='sensor1'"},
    {"connect_will", "0c 04 0c 01 00 3c 'dev-42'",
     "CONNECT len=12 hdr=2 flags=0c qos=0 will clean tit=0 protocol=1 duration=60 "
     "client_id[6]='dev-42'"},
    {"connect_no_clean", "08 04 00 01 ff ff 'id'",
     "CONNECT len=8 hdr=2 flags=00 qos=0 tit=0 protocol=1 duration=65535 client_id[2]='id'"},
    {"connect_23", "1d 04 04 01 00 0a 'abcdefghijklmnopqrstuvw'",
     "CONNECT len=29 hdr=2 flags=04 qos=0 clean tit=0 protocol=1 duration=10 "
     "client_id[23]='abcdefghijklmnopqrstuvw'"},
    {"connect_249_short_form", "ff 04 04 01 00 00 63*249",
     "CONNECT len=255 hdr=2 flags=04 qos=0 clean tit=0 protocol=1 duration=0 "
     "client_id[249]='cccccccccccccccccccccccccccccccc...'"},
    {"connect_255_long_form", "01 01 07 04 04 01 00 0a 63*255",
     "CONNECT len=263 hdr=4 flags=04 qos=0 clean tit=0 protocol=1 duration=10 "
     "client_id[255]='cccccccccccccccccccccccccccccccc...'"},
    {"connect_utf8", "0b 04 04 01 00 0a 'caf' c3 a9",
     "CONNECT len=11 hdr=2 flags=04 qos=0 clean tit=0 protocol=1 duration=10 "
     "client_id[5]='caf\\xc3\\xa9'"},
    /* unused flag bits are not refused (reader.h) */
    {"connect_unused_flags", "09 04 f7 01 00 0a 'abc'",
     "CONNECT len=9 hdr=2 flags=f7 qos=0 clean tit=0 protocol=1 duration=10 client_id[3]='abc'"},
    {"connack", "03 05 00", "CONNACK len=3 hdr=2"},
    {"connack_not_supported", "03 05 03", "CONNACK len=3 hdr=2 rc=3"},
    {"willtopicreq", "02 06", "WILLTOPICREQ len=2 hdr=2"},
    {"willtopic", "0a 07 30 'alarm/x'",
     "WILLTOPIC len=10 hdr=2 flags=30 qos=1 retain tit=0 topic[7]='alarm/x'"},
    {"willtopic_empty", "02 07", "WILLTOPIC len=2 hdr=2"},
    {"willtopic_empty_long_form", "01 00 04 07", "WILLTOPIC len=4 hdr=4"},
    {"willmsgreq", "02 08", "WILLMSGREQ len=2 hdr=2"},
    {"willmsg", "07 09 'gone!'", "WILLMSG len=7 hdr=2 data[5]='gone!'"},
    {"willmsg_empty", "02 09", "WILLMSG len=2 hdr=2 data[0]=''"},
    {"willmsg_binary", "05 09 00 ff 80", "WILLMSG len=5 hdr=2 data[3]='\\x00\\xff\\x80'"},
    /* registration and publishing, §5.4.10-§5.4.14 */
    {"register", "0f 0a 00 00 00 01 'room/temp'",
     "REGISTER len=15 hdr=2 msg_id=1 topic[9]='room/temp'"},
    {"register_from_gw", "0f 0a 00 05 00 02 'room/temp'",
     "REGISTER len=15 hdr=2 topic_id=5 msg_id=2 topic[9]='room/temp'"},
    {"register_utf8", "0a 0a 00 00 00 03 'z' c3 bc 'r'",
     "REGISTER len=10 hdr=2 msg_id=3 topic[4]='z\\xc3\\xbcr'"},
    {"regack", "07 0b 00 05 00 01 00", "REGACK len=7 hdr=2 topic_id=5 msg_id=1"},
    {"regack_invalid_topic", "07 0b 00 00 00 01 02", "REGACK len=7 hdr=2 rc=2 msg_id=1"},
    {"publish_qos0", "0c 0c 00 00 05 00 00 'hello'",
     "PUBLISH len=12 hdr=2 flags=00 qos=0 tit=0 topic_id=5 data[5]='hello'"},
    {"publish_qos1_predefined", "0c 0c b1 00 07 12 34 'hello'",
     "PUBLISH len=12 hdr=2 flags=b1 qos=1 dup retain tit=1 topic_id=7 msg_id=4660 "
     "data[5]='hello'"},
    {"publish_qosm1_short", "0b 0c 62 't1' 00 00 'abcd'",
     "PUBLISH len=11 hdr=2 flags=62 qos=-1 tit=2 topic_id=29745 topic[2]='t1' data[4]='abcd'"},
    {"publish_qos2_empty", "07 0c 40 00 01 00 09",
     "PUBLISH len=7 hdr=2 flags=40 qos=2 tit=0 topic_id=1 msg_id=9 data[0]=''"},
    {"publish_long_form", "01 01 31 0c 20 00 05 00 07 78*296",
     "PUBLISH len=305 hdr=4 flags=20 qos=1 tit=0 topic_id=5 msg_id=7 "
     "data[296]='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"},
    {"publish_largest", "01 ff ff 0c 00 00 01 00 00 61*65526",
     "PUBLISH len=65535 hdr=4 flags=00 qos=0 tit=0 topic_id=1 "
     "data[65526]='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"},
    {"publish_long_form_small", "01 00 0a 0c 00 00 05 00 00 'x'",
     "PUBLISH len=10 hdr=4 flags=00 qos=0 tit=0 topic_id=5 data[1]='x'"},
    {"puback", "07 0d 00 05 00 01 00", "PUBACK len=7 hdr=2 topic_id=5 msg_id=1"},
    {"puback_congestion", "07 0d 00 05 00 01 01", "PUBACK len=7 hdr=2 rc=1 topic_id=5 msg_id=1"},
    {"pubcomp", "04 0e 00 01", "PUBCOMP len=4 hdr=2 msg_id=1"},
    {"pubrec", "04 0f 00 02", "PUBREC len=4 hdr=2 msg_id=2"},
    {"pubrel", "04 10 00 03", "PUBREL len=4 hdr=2 msg_id=3"},
    /* subscriptions, §5.4.15-§5.4.18 */
    {"subscribe_filter", "10 12 20 00 01 'room/+/temp'",
     "SUBSCRIBE len=16 hdr=2 flags=20 qos=1 tit=0 msg_id=1 topic[11]='room/+/temp'"},
    {"subscribe_hash", "0e 12 80 00 02 'sensors/#'",
     "SUBSCRIBE len=14 hdr=2 flags=80 qos=0 dup tit=0 msg_id=2 topic[9]='sensors/#'"},
    {"subscribe_predefined", "07 12 41 00 03 00 2a",
     "SUBSCRIBE len=7 hdr=2 flags=41 qos=2 tit=1 topic_id=42 msg_id=3"},
    {"subscribe_short", "07 12 02 00 04 'ab'",
     "SUBSCRIBE len=7 hdr=2 flags=02 qos=0 tit=2 topic_id=24930 msg_id=4 topic[2]='ab'"},
    {"subscribe_short_plus", "07 12 02 00 04 '+/'",
     "SUBSCRIBE len=7 hdr=2 flags=02 qos=0 tit=2 topic_id=11055 msg_id=4 topic[2]='+/'"},
    {"suback", "08 13 20 00 05 00 01 00",
     "SUBACK len=8 hdr=2 flags=20 qos=1 tit=0 topic_id=5 "
     "msg_id=1"},
    {"unsubscribe", "0e 14 00 00 06 'sensors/#'",
     "UNSUBSCRIBE len=14 hdr=2 flags=00 qos=0 tit=0 msg_id=6 topic[9]='sensors/#'"},
    {"unsubscribe_predefined", "07 14 01 00 07 00 2a",
     "UNSUBSCRIBE len=7 hdr=2 flags=01 qos=0 tit=1 topic_id=42 msg_id=7"},
    {"unsuback", "04 15 00 06", "UNSUBACK len=4 hdr=2 msg_id=6"},
    /* keep-alive and sleep, §5.4.19-§5.4.21 */
    {"pingreq", "02 16", "PINGREQ len=2 hdr=2"},
    {"pingreq_sleeping", "09 16 'sensor1'", "PINGREQ len=9 hdr=2 client_id[7]='sensor1'"},
    {"pingreq_long_form", "01 00 04 16", "PINGREQ len=4 hdr=4"},
    {"pingresp", "02 17", "PINGRESP len=2 hdr=2"},
    {"disconnect", "02 18", "DISCONNECT len=2 hdr=2"},
    {"disconnect_sleep", "04 18 0e 10", "DISCONNECT len=4 hdr=2 duration=3600"},
    {"disconnect_sleep_zero", "04 18 00 00", "DISCONNECT len=4 hdr=2 duration=0"},
    /* Will updates, §5.4.22-§5.4.25 */
    {"willtopicupd", "0a 1a 50 'alarm/y'",
     "WILLTOPICUPD len=10 hdr=2 flags=50 qos=2 retain tit=0 topic[7]='alarm/y'"},
    {"willtopicupd_empty", "02 1a", "WILLTOPICUPD len=2 hdr=2"},
    {"willtopicresp", "03 1b 00", "WILLTOPICRESP len=3 hdr=2"},
    {"willmsgupd", "06 1c 'bye!'", "WILLMSGUPD len=6 hdr=2 data[4]='bye!'"},
    {"willmsgresp", "03 1d 01", "WILLMSGRESP len=3 hdr=2 rc=1"},
    {"connack_long_form", "01 00 05 05 00", "CONNACK len=5 hdr=4"},
    /* the forwarder encapsulation, §5.5 */
    {"encap_connect", "05 fe 01 00 2a 0d 04 04 01 00 1e 'sensor1'",
     "CONNECT len=13 hdr=2 encap(len=5 ctrl=01 radius=1 node=002a) flags=04 qos=0 clean tit=0 "
     "protocol=1 duration=30 client_id[7]='sensor1'"},
    {"encap_publish_long_form", "04 fe 00 aa 01 00 0c 0c 00 00 05 00 00 'abc'",
     "PUBLISH len=12 hdr=4 encap(len=4 ctrl=00 radius=0 node=aa) flags=00 qos=0 tit=0 "
     "topic_id=5 data[3]='abc'"},
    {"encap_eui64_pingreq", "0b fe fc 01 02 03 04 05 06 07 08 02 16",
     "PINGREQ len=2 hdr=2 encap(len=11 ctrl=fc radius=0 node=0102030405060708)"},
    {"encap_searchgw", "04 fe 03 01 03 01 01",
     "SEARCHGW len=3 hdr=2 encap(len=4 ctrl=03 radius=3 "
     "node=01) radius=1"},
};
#define NGOOD (sizeof(GOOD) / sizeof(GOOD[0]))

static const struct bad BAD[] = {
    /* the header and the framing */
    {"empty", "", MQTTSN_ERR_TRUNCATED},
    {"length_only", "05", MQTTSN_ERR_TRUNCATED},
    {"long_length_cut", "01 00", MQTTSN_ERR_TRUNCATED},
    {"long_length_no_type", "01 00 04", MQTTSN_ERR_TRUNCATED},
    {"shorter_than_length", "0d 04 04 01 00 1e 'sensor'", MQTTSN_ERR_TRUNCATED},
    {"length_zero", "00 16", MQTTSN_ERR_LENGTH},
    {"length_zero_alone", "00", MQTTSN_ERR_LENGTH},
    {"long_length_zero", "01 00 00 16", MQTTSN_ERR_LENGTH},
    {"long_length_under_header", "01 00 03 16", MQTTSN_ERR_LENGTH},
    {"trailing_byte", "03 05 00 00", MQTTSN_ERR_LENGTH},
    {"two_messages", "02 16 02 16", MQTTSN_ERR_LENGTH},
    {"long_trailing", "01 00 04 16 00", MQTTSN_ERR_LENGTH},
    /* the types */
    {"type_03", "02 03", MQTTSN_ERR_UNKNOWN_TYPE},
    {"type_11", "02 11", MQTTSN_ERR_UNKNOWN_TYPE},
    {"type_19", "02 19", MQTTSN_ERR_UNKNOWN_TYPE},
    {"type_1e", "02 1e", MQTTSN_ERR_UNKNOWN_TYPE},
    {"type_fd", "05 fd 00 00 00", MQTTSN_ERR_UNKNOWN_TYPE},
    {"type_ff", "02 ff", MQTTSN_ERR_UNKNOWN_TYPE},
    {"type_03_long_form", "01 00 04 03", MQTTSN_ERR_UNKNOWN_TYPE},
    /* sizes */
    {"advertise_short", "04 00 07 03", MQTTSN_ERR_SIZE},
    {"advertise_long", "06 00 07 03 84 00", MQTTSN_ERR_SIZE},
    {"searchgw_no_radius", "02 01", MQTTSN_ERR_SIZE},
    {"searchgw_long", "04 01 01 01", MQTTSN_ERR_SIZE},
    {"gwinfo_no_gw_id", "02 02", MQTTSN_ERR_SIZE},
    {"connect_no_duration", "05 04 04 01 00", MQTTSN_ERR_SIZE},
    {"connect_flags_only", "03 04 04", MQTTSN_ERR_SIZE},
    {"connack_empty", "02 05", MQTTSN_ERR_SIZE},
    {"connack_long", "04 05 00 00", MQTTSN_ERR_SIZE},
    {"willtopicreq_long", "03 06 00", MQTTSN_ERR_SIZE},
    {"willmsgreq_long", "03 08 00", MQTTSN_ERR_SIZE},
    {"register_no_msg_id", "05 0a 00 00 00", MQTTSN_ERR_SIZE},
    {"regack_short", "06 0b 00 05 00 01", MQTTSN_ERR_SIZE},
    {"publish_no_msg_id", "06 0c 00 00 05 00", MQTTSN_ERR_SIZE},
    {"puback_long", "08 0d 00 05 00 01 00 00", MQTTSN_ERR_SIZE},
    {"pubrec_short", "03 0f 00", MQTTSN_ERR_SIZE},
    {"pubrel_long", "05 10 00 01 00", MQTTSN_ERR_SIZE},
    {"pubcomp_empty", "02 0e", MQTTSN_ERR_SIZE},
    {"subscribe_no_msg_id", "04 12 00 00", MQTTSN_ERR_SIZE},
    {"subscribe_predefined_3", "08 12 01 00 03 00 2a 00", MQTTSN_ERR_SIZE},
    {"subscribe_predefined_1", "06 12 01 00 03 2a", MQTTSN_ERR_SIZE},
    {"subscribe_short_3", "08 12 02 00 04 'abc'", MQTTSN_ERR_SIZE},
    {"suback_short", "07 13 20 00 05 00 01", MQTTSN_ERR_SIZE},
    {"unsubscribe_predefined_none", "05 14 01 00 07", MQTTSN_ERR_SIZE},
    {"unsuback_long", "05 15 00 06 00", MQTTSN_ERR_SIZE},
    {"pingresp_long", "03 17 00", MQTTSN_ERR_SIZE},
    {"disconnect_1", "03 18 0e", MQTTSN_ERR_SIZE},
    {"disconnect_3", "05 18 0e 10 00", MQTTSN_ERR_SIZE},
    {"willtopicresp_empty", "02 1b", MQTTSN_ERR_SIZE},
    {"willmsgresp_long", "04 1d 00 00", MQTTSN_ERR_SIZE},
    /* CONNECT */
    {"protocol_id_0", "0d 04 04 00 00 1e 'sensor1'", MQTTSN_ERR_PROTOCOL_ID},
    {"protocol_id_2", "0d 04 04 02 00 1e 'sensor1'", MQTTSN_ERR_PROTOCOL_ID},
    {"protocol_id_mqtt", "0d 04 04 04 00 1e 'sensor1'", MQTTSN_ERR_PROTOCOL_ID},
    {"client_id_empty", "06 04 04 01 00 1e", MQTTSN_ERR_CLIENT_ID},
    {"client_id_256", "01 01 08 04 04 01 00 1e 63*256", MQTTSN_ERR_CLIENT_ID},
    {"client_id_bad_utf8", "07 04 04 01 00 1e ff", MQTTSN_ERR_UTF8},
    {"client_id_nul", "08 04 04 01 00 1e 'a' 00", MQTTSN_ERR_UTF8},
    {"client_id_surrogate", "09 04 04 01 00 1e ed a0 80", MQTTSN_ERR_UTF8},
    {"pingreq_client_id_bad_utf8", "04 16 'a' 80", MQTTSN_ERR_UTF8},
    {"pingreq_client_id_256", "01 01 04 16 63*256", MQTTSN_ERR_CLIENT_ID},
    /* topics */
    {"register_empty_topic", "06 0a 00 00 00 01", MQTTSN_ERR_TOPIC},
    {"register_plus", "0c 0a 00 00 00 01 'room/+'", MQTTSN_ERR_TOPIC},
    {"register_hash", "07 0a 00 00 00 01 '#'", MQTTSN_ERR_TOPIC},
    {"register_bad_utf8", "08 0a 00 00 00 01 c3 28", MQTTSN_ERR_UTF8},
    {"register_nul", "08 0a 00 00 00 01 'a' 00", MQTTSN_ERR_UTF8},
    {"register_overlong", "08 0a 00 00 00 01 c0 af", MQTTSN_ERR_UTF8},
    {"register_above_10ffff", "0a 0a 00 00 00 01 f4 90 80 80", MQTTSN_ERR_UTF8},
    {"register_cut_sequence", "09 0a 00 00 00 01 'a' e2 82", MQTTSN_ERR_UTF8},
    {"willtopic_flags_only", "03 07 30", MQTTSN_ERR_TOPIC},
    {"willtopic_wildcard", "06 07 00 'a/#'", MQTTSN_ERR_TOPIC},
    {"willtopicupd_bad_utf8", "04 1a 00 fe", MQTTSN_ERR_UTF8},
    {"publish_short_wildcard", "07 0c 02 '++' 00 00", MQTTSN_ERR_TOPIC},
    {"publish_short_nul", "07 0c 02 00 61 00 00", MQTTSN_ERR_UTF8},
    {"subscribe_empty_filter", "05 12 00 00 01", MQTTSN_ERR_TOPIC},
    {"subscribe_hash_inside", "0d 12 00 00 01 'room/#/x'", MQTTSN_ERR_TOPIC},
    {"subscribe_plus_in_level", "0a 12 00 00 01 'ro+om'", MQTTSN_ERR_TOPIC},
    {"subscribe_bad_utf8", "07 12 00 00 01 c0 80", MQTTSN_ERR_UTF8},
    {"subscribe_short_bad", "07 12 02 00 04 'a#'", MQTTSN_ERR_TOPIC},
    {"unsubscribe_empty_filter", "05 14 00 00 06", MQTTSN_ERR_TOPIC},
    /* flags */
    {"publish_reserved_tit", "0c 0c 03 00 05 00 00 'hello'", MQTTSN_ERR_FLAGS},
    {"subscribe_reserved_tit", "07 12 03 00 01 00 2a", MQTTSN_ERR_FLAGS},
    {"unsubscribe_reserved_tit", "07 14 23 00 01 00 2a", MQTTSN_ERR_FLAGS},
    /* return codes */
    {"connack_rc_4", "03 05 04", MQTTSN_ERR_RETURN_CODE},
    {"connack_rc_ff", "03 05 ff", MQTTSN_ERR_RETURN_CODE},
    {"regack_rc_4", "07 0b 00 05 00 01 04", MQTTSN_ERR_RETURN_CODE},
    {"puback_rc_80", "07 0d 00 05 00 01 80", MQTTSN_ERR_RETURN_CODE},
    {"suback_rc_80", "08 13 20 00 05 00 01 80", MQTTSN_ERR_RETURN_CODE},
    {"willtopicresp_rc_5", "03 1b 05", MQTTSN_ERR_RETURN_CODE},
    {"willmsgresp_rc_9", "03 1d 09", MQTTSN_ERR_RETURN_CODE},
    /* the encapsulation */
    {"encap_no_node_id", "03 fe 01 02 16", MQTTSN_ERR_ENCAP},
    {"encap_no_ctrl", "02 fe 02 16", MQTTSN_ERR_ENCAP},
    {"encap_long_form", "01 00 05 fe 01 00 02 16", MQTTSN_ERR_ENCAP},
    {"encap_nested", "04 fe 00 01 04 fe 00 02 02 16", MQTTSN_ERR_ENCAP},
    {"encap_header_only", "05 fe 01 00 2a", MQTTSN_ERR_TRUNCATED},
    {"encap_header_cut", "05 fe 01 00", MQTTSN_ERR_TRUNCATED},
    {"encap_inner_cut", "05 fe 01 00 2a 0d 04 04 01", MQTTSN_ERR_TRUNCATED},
    {"encap_inner_trailing", "04 fe 00 01 02 16 00", MQTTSN_ERR_LENGTH},
    {"encap_inner_length_zero", "04 fe 00 01 00 16", MQTTSN_ERR_LENGTH},
    {"encap_inner_unknown", "04 fe 00 01 02 03", MQTTSN_ERR_UNKNOWN_TYPE},
    {"encap_inner_bad_client_id", "04 fe 00 01 06 04 04 01 00 1e", MQTTSN_ERR_CLIENT_ID},
    {"encap_inner_bad_topic", "04 fe 00 01 07 0a 00 00 00 01 '+'", MQTTSN_ERR_TOPIC},
};
#define NBAD (sizeof(BAD) / sizeof(BAD[0]))

/* ---- bytes ---- */

struct bytes {
        uint8_t *b;
        size_t len, cap;
};

static void put(struct bytes *s, const void *p, size_t n)
{
        if (s->len + n > s->cap || !s->b) { /* a buffer even when empty */
                size_t cap = s->cap ? s->cap : 256;

                while (cap < s->len + n)
                        cap *= 2;
                s->b = realloc(s->b, cap);
                assert_non_null(s->b);
                s->cap = cap;
        }
        if (n)
                memcpy(s->b + s->len, p, n);
        s->len += n;
}

static void bytes_free(struct bytes *s)
{
        free(s->b);
        *s = (struct bytes){0};
}

/* A fixture's datagram; fails the test on a typo in the table. */
static void unhex(const char *name, const char *hex, struct bytes *out)
{
        const char *p = hex;

        out->len = 0;
        put(out, "", 0); /* in.b is a buffer, also for an empty datagram */
        while (*p) {
                if (*p == ' ') {
                        p++;
                        continue;
                }
                if (*p == '\'') {
                        const char *end = strchr(p + 1, '\'');

                        if (!end)
                                fail_msg("%s: unterminated quote", name);
                        put(out, p + 1, (size_t)(end - p - 1));
                        p = end + 1;
                        continue;
                }
                char *end;
                unsigned long v = strtoul(p, &end, 16), n = 1;

                if (end != p + 2 || v > 255)
                        fail_msg("%s: bad byte at \"%s\"", name, p);
                if (*end == '*') {
                        n = strtoul(end + 1, &end, 10);
                        if (n == 0)
                                fail_msg("%s: bad repeat at \"%s\"", name, p);
                }
                if (*end && *end != ' ')
                        fail_msg("%s: bad token at \"%s\"", name, p);
                for (unsigned long i = 0; i < n; i++) {
                        uint8_t c = (uint8_t)v;

                        put(out, &c, 1);
                }
                p = end;
        }
}

/* ---- what a result says ---- */

static int put_view(char *out, size_t room, const char *name, struct mqttsn_str v)
{
        int n;

        if (!v.ptr)
                return 0;
        n = snprintf(out, room, " %s[%u]='", name, v.len);
        for (unsigned i = 0; i < v.len && i < 32 && (size_t)n < room - 8; i++) {
                uint8_t c = v.ptr[i];

                if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
                        out[n++] = (char)c;
                else
                        n += snprintf(out + n, room - (size_t)n, "\\x%02x", c);
        }
        n += snprintf(out + n, room - (size_t)n, "%s'", v.len > 32 ? "..." : "");
        return n;
}

/* Every member the reader set, in one line: what the tables expect. */
static void describe(char *out, size_t room, const struct mqttsn_msg *m)
{
        int n =
            snprintf(out, room, "%s len=%u hdr=%u", mqttsn_type__str(m->type), m->len, m->hdr_len);

#define ADD(...) n += snprintf(out + n, room - (size_t)n, __VA_ARGS__)
        if (m->encapsulated) {
                ADD(" encap(len=%u ctrl=%02x radius=%u node=", m->encap.len, m->encap.ctrl,
                    m->encap.radius);
                for (unsigned i = 0; i < m->encap.node_id.len; i++)
                        ADD("%02x", m->encap.node_id.ptr[i]);
                ADD(")");
        }
        if (m->has_flags) {
                ADD(" flags=%02x qos=%d%s%s%s%s tit=%u", m->flags, m->qos, m->dup ? " dup" : "",
                    m->retain ? " retain" : "", m->will ? " will" : "",
                    m->clean_session ? " clean" : "", m->topic_id_type);
        }
        if (m->protocol_id)
                ADD(" protocol=%u", m->protocol_id);
        if (m->gw_id)
                ADD(" gw=%u", m->gw_id);
        if (m->radius)
                ADD(" radius=%u", m->radius);
        if (m->return_code)
                ADD(" rc=%u", m->return_code);
        if (m->has_duration)
                ADD(" duration=%u", m->duration);
        if (m->topic_id)
                ADD(" topic_id=%u", m->topic_id);
        if (m->msg_id)
                ADD(" msg_id=%u", m->msg_id);
#undef ADD
        n += put_view(out + n, room - (size_t)n, "client_id", m->client_id);
        n += put_view(out + n, room - (size_t)n, "topic", m->topic);
        n += put_view(out + n, room - (size_t)n, "data", m->data);
        put_view(out + n, room - (size_t)n, "gw_addr", m->gw_addr);
}

/* Table 4, written out again: the Flags bits each type uses, 0 for the
 * types without a Flags octet. */
static uint8_t flags_used(uint8_t type)
{
        switch (type) {
        case MQTTSN_CONNECT: return 0x0c;
        case MQTTSN_WILLTOPIC:
        case MQTTSN_WILLTOPICUPD: return 0x70;
        case MQTTSN_PUBLISH: return 0xf3;
        case MQTTSN_SUBSCRIBE: return 0xe3;
        case MQTTSN_SUBACK: return 0x60;
        case MQTTSN_UNSUBSCRIBE: return 0x03;
        default: return 0;
        }
}

static bool inside(struct mqttsn_str v, const uint8_t *lo, const uint8_t *hi)
{
        return !v.ptr ? v.len == 0 : v.ptr >= lo && v.ptr <= hi && v.len <= (size_t)(hi - v.ptr);
}

/*
 * What holds of every result: on an error, nothing but zeros; else the
 * header as on the wire, the message filling the datagram, every view
 * inside the message's body, the members describe() does not show zero
 * unless their flag says otherwise.
 */
static void check_invariants(const uint8_t *d, size_t n, enum mqttsn_err err,
                             const struct mqttsn_msg *m)
{
        static const struct mqttsn_msg zero;

        CHECK((unsigned)err < MQTTSN_ERR__COUNT);
        if (err != MQTTSN_OK) {
                CHECK(memcmp(m, &zero, sizeof(zero)) == 0);
                return;
        }
        size_t at = m->encapsulated ? m->encap.len : 0;
        const uint8_t *msg = d + at, *end = d + n;

        CHECK(strcmp(mqttsn_type__str(m->type), "reserved") != 0);
        CHECK(m->type != MQTTSN_ENCAPSULATED);
        CHECK_INT(at + m->len, n);
        if (m->hdr_len == MQTTSN_HDR_LONG) {
                CHECK_INT(msg[0], MQTTSN_LENGTH_LONG);
                CHECK_INT(m->len, msg[1] << 8 | msg[2]);
        } else {
                CHECK_INT(m->hdr_len, MQTTSN_HDR_SHORT);
                CHECK_INT(m->len, msg[0]);
        }
        CHECK_INT(m->type, msg[m->hdr_len - 1]);
        CHECK(inside(m->client_id, msg + m->hdr_len, end));
        CHECK(inside(m->topic, msg + m->hdr_len, end));
        CHECK(inside(m->data, msg + m->hdr_len, end));
        CHECK(inside(m->gw_addr, msg + m->hdr_len, end));
        CHECK(!m->client_id.ptr || (m->client_id.len >= 1 && m->client_id.len <= 255));
        CHECK(!m->topic.ptr || m->topic.len >= 1);
        CHECK(m->return_code < MQTTSN_RC__COUNT);
        CHECK(m->has_duration || m->duration == 0);
        if (m->has_flags) {
                uint8_t f = m->flags & flags_used(m->type);

                CHECK(flags_used(m->type) != 0);
                CHECK(m->topic_id_type != MQTTSN_TOPIC_RESERVED);
                CHECK_INT(m->topic_id_type, f & 3);
                CHECK_INT(m->dup, (f & 0x80) != 0);
                CHECK_INT(m->retain, (f & 0x10) != 0);
                CHECK_INT(m->will, (f & 0x08) != 0);
                CHECK_INT(m->clean_session, (f & 0x04) != 0);
                CHECK_INT(m->qos, ((f >> 5 & 3) == 3 ? -1 : f >> 5 & 3));
        } else {
                CHECK(!m->flags && !m->dup && !m->retain && !m->will && !m->clean_session &&
                      !m->qos && !m->topic_id_type);
        }
        if (m->encapsulated) {
                CHECK(m->encap.len >= 4);
                CHECK_INT(m->encap.len, d[0]);
                CHECK_INT(d[1], MQTTSN_ENCAPSULATED);
                CHECK_INT(m->encap.ctrl, d[2]);
                CHECK_INT(m->encap.radius, d[2] & 3);
                CHECK(m->encap.node_id.ptr == d + 3);
                CHECK_INT(m->encap.node_id.len, m->encap.len - 3);
        } else {
                CHECK(!m->encap.len && !m->encap.ctrl && !m->encap.radius &&
                      !m->encap.node_id.ptr && !m->encap.node_id.len);
        }
}

/* ---- reading ---- */

#define LOG_ROOM 512

/* From an exactly-sized heap copy (ASan sees a byte read past it); log, if
 * not NULL, gets describe() of the result before the copy is freed. */
static enum mqttsn_err read_copy_log(const uint8_t *d, size_t n, struct mqttsn_msg *m, char *log)
{
        uint8_t *copy = malloc(n ? n : 1);
        enum mqttsn_err err;

        assert_non_null(copy);
        if (n)
                memcpy(copy, d, n);
        err = mqttsn__read(copy, n, m);
        check_invariants(copy, n, err, m);
        if (log)
                describe(log, LOG_ROOM, m);
        free(copy);
        return err;
}

static enum mqttsn_err read_copy(const uint8_t *d, size_t n, struct mqttsn_msg *m)
{
        return read_copy_log(d, n, m, NULL);
}

/* A buffer whose end is a PROT_NONE page (picohttpparser). */
struct guarded {
        uint8_t *map;
        size_t size, room; /* mapped; writable before the guard */
};

static void guarded_init(struct guarded *g, size_t room)
{
        size_t pg = (size_t)sysconf(_SC_PAGESIZE), pages = (room + pg - 1) / pg + 1;

        g->size = (pages + 1) * pg;
        g->room = pages * pg;
        g->map = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(g->map != MAP_FAILED);
        assert_int_equal(mprotect(g->map + g->room, pg, PROT_NONE), 0);
}

static void guarded_fini(struct guarded *g)
{
        munmap(g->map, g->size);
}

/* d[0..n) right against the guard page, read. */
static enum mqttsn_err read_guarded(struct guarded *g, const uint8_t *d, size_t n,
                                    struct mqttsn_msg *m)
{
        uint8_t *at = g->map + g->room - n;
        enum mqttsn_err err;

        assert_true(n <= g->room);
        memmove(at, d, n);
        err = mqttsn__read(at, n, m);
        check_invariants(at, n, err, m);
        return err;
}

static void expect_err(const char *name, const char *how, enum mqttsn_err got, enum mqttsn_err want)
{
        checks++;
        if (got != want)
                fail_msg("%s %s: %s, want %s", name, how, mqttsn_err__str(got),
                         mqttsn_err__str(want));
}

/* The cuts of a datagram that are tried: all of them up to 4 KiB, else the
 * first and last 600 and every 97th. */
static bool cut_tried(size_t i, size_t len)
{
        return len <= 4096 || i < 600 || i + 600 > len || i % 97 == 0;
}

/* ---- the tests ---- */

static void test_good(void **state)
{
        const struct good *fx = *state;
        struct bytes in = {0}, more = {0};
        struct mqttsn_msg m, g;
        struct guarded guard;
        char got[LOG_ROOM];
        enum mqttsn_err err;

        unhex(fx->name, fx->hex, &in);
        err = read_copy_log(in.b, in.len, &m, got);
        expect_err(fx->name, "whole", err, MQTTSN_OK);
        checks++;
        if (strcmp(got, fx->want) != 0)
                fail_msg("%s:\n  want: %s\n  got:  %s", fx->name, fx->want, got);

        /* against a guard page: the same result, views moved with the bytes */
        guarded_init(&guard, in.len + 1);
        err = read_guarded(&guard, in.b, in.len, &g);
        expect_err(fx->name, "against a guard page", err, MQTTSN_OK);
        describe(got, sizeof(got), &g);
        CHECK(strcmp(got, fx->want) == 0);

        /* cut short at every byte: TRUNCATED, never LENGTH or a type's error */
        for (size_t i = 0; i < in.len; i++) {
                char how[64];

                if (!cut_tried(i, in.len))
                        continue;
                snprintf(how, sizeof(how), "cut to %zu bytes", i);
                expect_err(fx->name, how, read_guarded(&guard, in.b, i, &g), MQTTSN_ERR_TRUNCATED);
        }
        expect_err(fx->name, "one byte less", read_copy(in.b, in.len - 1, &g),
                   MQTTSN_ERR_TRUNCATED);

        /* one byte more, whatever it is: LENGTH (no trailing bytes) */
        for (unsigned c = 0; c < 256; c += 0x55) {
                uint8_t b = (uint8_t)c;

                more.len = 0;
                put(&more, in.b, in.len);
                put(&more, &b, 1);
                expect_err(fx->name, "one byte more", read_copy(more.b, more.len, &g),
                           MQTTSN_ERR_LENGTH);
                expect_err(fx->name, "one byte more, guarded",
                           read_guarded(&guard, more.b, more.len, &g), MQTTSN_ERR_LENGTH);
        }

        /* the message's own Length one more or one less than the datagram */
        size_t at = m.encapsulated ? m.encap.len : 0;
        uint8_t *len_field = NULL;
        unsigned len = m.len;

        more.len = 0;
        put(&more, in.b, in.len);
        if (m.hdr_len == MQTTSN_HDR_SHORT && len < 255)
                len_field = more.b + at;
        else if (m.hdr_len == MQTTSN_HDR_LONG && len < 65535)
                len_field = more.b + at + 1;
        if (len_field) {
                if (m.hdr_len == MQTTSN_HDR_SHORT) {
                        *len_field = (uint8_t)(len + 1);
                } else {
                        len_field[0] = (uint8_t)((len + 1) >> 8);
                        len_field[1] = (uint8_t)(len + 1);
                }
                expect_err(fx->name, "Length one more", read_copy(more.b, more.len, &g),
                           MQTTSN_ERR_TRUNCATED);
        }
        /* one less, unless that makes 0x01, the long form's marker, or a long
         * Length under the header (LENGTH too, but for another reason) */
        if ((m.hdr_len == MQTTSN_HDR_SHORT && len > 2) ||
            (m.hdr_len == MQTTSN_HDR_LONG && len > 4)) {
                if (m.hdr_len == MQTTSN_HDR_SHORT) {
                        more.b[at] = (uint8_t)(len - 1);
                } else {
                        more.b[at + 1] = (uint8_t)((len - 1) >> 8);
                        more.b[at + 2] = (uint8_t)(len - 1);
                }
                expect_err(fx->name, "Length one less", read_copy(more.b, more.len, &g),
                           MQTTSN_ERR_LENGTH);
        }
        guarded_fini(&guard);
        bytes_free(&more);
        bytes_free(&in);
}

static void test_bad(void **state)
{
        const struct bad *fx = *state;
        struct bytes in = {0};
        struct mqttsn_msg m;
        struct guarded guard;

        unhex(fx->name, fx->hex, &in);
        expect_err(fx->name, "whole", read_copy(in.b, in.len, &m), fx->err);
        guarded_init(&guard, in.len + 1);
        expect_err(fx->name, "against a guard page", read_guarded(&guard, in.b, in.len, &m),
                   fx->err);
        guarded_fini(&guard);
        bytes_free(&in);
}

/* Every reason has a malformed datagram in the table, and a name of its own. */
static void test_every_error(void **state)
{
        (void)state;
        for (int e = 1; e < MQTTSN_ERR__COUNT; e++) {
                const char *s = mqttsn_err__str((enum mqttsn_err)e);
                size_t i = 0;

                while (i < NBAD && BAD[i].err != (enum mqttsn_err)e)
                        i++;
                if (i == NBAD)
                        fail_msg("no malformed datagram for %s", s);
                CHECK(strcmp(s, "unknown") != 0);
                for (int f = 0; f < e; f++)
                        CHECK(strcmp(s, mqttsn_err__str((enum mqttsn_err)f)) != 0);
        }
        CHECK(strcmp(mqttsn_err__str(MQTTSN_OK), "ok") == 0);
        CHECK(strcmp(mqttsn_err__str(MQTTSN_ERR__COUNT), "unknown") == 0);
        CHECK(strcmp(mqttsn_err__str(MQTTSN_ERR_UNKNOWN_TYPE), "unknown_type") == 0);
}

/* Every named type has a valid datagram in the table; the others are
 * reserved and refused, whatever their body. */
static void test_every_type(void **state)
{
        struct bytes in = {0};
        struct mqttsn_msg m;
        unsigned named = 0;

        (void)state;
        for (unsigned t = 0; t < 256; t++) {
                const char *name = mqttsn_type__str((uint8_t)t);
                bool seen = false;

                if (strcmp(name, "reserved") == 0) {
                        uint8_t d[] = {2, (uint8_t)t};

                        expect_err(name, "reserved type", read_copy(d, sizeof(d), &m),
                                   MQTTSN_ERR_UNKNOWN_TYPE);
                        continue;
                }
                named++;
                for (size_t i = 0; i < NGOOD && !seen; i++) {
                        unhex(GOOD[i].name, GOOD[i].hex, &in);
                        seen = mqttsn__read(in.b, in.len, &m) == MQTTSN_OK &&
                               (t == MQTTSN_ENCAPSULATED ? m.encapsulated : m.type == t);
                }
                if (!seen)
                        fail_msg("no valid datagram of type %s", name);
        }
        CHECK_INT(named, 28); /* Table 3: 27 types and the encapsulation */
        bytes_free(&in);
}

static void test_api(void **state)
{
        struct mqttsn_msg m;

        (void)state;
        /* an error clears what was there */
        memset(&m, 0xa5, sizeof(m));
        CHECK_INT(mqttsn__read(NULL, 0, &m), MQTTSN_ERR_TRUNCATED);
        check_invariants(NULL, 0, MQTTSN_ERR_TRUNCATED, &m);
        /* success too, but for what the message sets */
        memset(&m, 0xa5, sizeof(m));
        CHECK_INT(mqttsn__read((const uint8_t *)"\x02\x16", 2, &m), MQTTSN_OK);
        CHECK(!m.client_id.ptr && !m.topic.ptr && !m.data.ptr && !m.has_flags && !m.encapsulated);
        CHECK(strcmp(mqttsn_type__str(MQTTSN_CONNECT), "CONNECT") == 0);
        CHECK(strcmp(mqttsn_type__str(MQTTSN_ENCAPSULATED), "ENCAPSULATED") == 0);
        CHECK(strcmp(mqttsn_type__str(0x03), "reserved") == 0);
        CHECK(strcmp(mqttsn_type__str(0xff), "reserved") == 0);
}

/* The views point into the caller's datagram, not at a copy. */
static void test_views(void **state)
{
        static const uint8_t d[] = {0x05, 0xfe, 0x01, 0x00, 0x2a, 0x0d, 0x04, 0x04, 0x01,
                                    0x00, 0x1e, 's',  'e',  'n',  's',  'o',  'r',  '1'};
        struct mqttsn_msg m;

        (void)state;
        CHECK_INT(mqttsn__read(d, sizeof(d), &m), MQTTSN_OK);
        CHECK(m.client_id.ptr == d + 11);
        CHECK_INT(m.client_id.len, 7);
        CHECK(m.encap.node_id.ptr == d + 3);
        CHECK_INT(m.encap.node_id.len, 2);
}

/* A random change to a datagram. */
static void mutate(struct bytes *m, const struct bytes *in, uint32_t *seed)
{
        m->len = 0;
        put(m, in->b, in->len);
        for (uint32_t k = 1 + lcg(seed) % 3; k; k--) {
                size_t at = m->len ? lcg(seed) % m->len : 0;
                uint8_t b = (uint8_t)lcg(seed);

                switch (lcg(seed) % 7) {
                case 0: m->b[at] = b; break;
                case 1: m->b[at]++; break;
                case 2: m->b[at]--; break;
                case 3: m->b[at] ^= (uint8_t)(1u << lcg(seed) % 8); break;
                case 4: m->len = at; break; /* cut short */
                case 5: put(m, &b, 1); break;
                default:
                        if (m->len) { /* a byte out */
                                memmove(m->b + at, m->b + at + 1, m->len - at - 1);
                                m->len--;
                        }
                        break;
                }
                if (!m->len)
                        break;
        }
}

/* Mutations of the valid datagrams: the invariants hold, the reader reads
 * the same twice, and most reasons come up. */
static void test_mutations(void **state)
{
        struct bytes seeds[NGOOD], mut = {0};
        unsigned by_err[MQTTSN_ERR__COUNT] = {0}, kinds = 0;
        uint32_t seed = 4242;

        (void)state;
        for (size_t i = 0; i < NGOOD; i++) {
                seeds[i] = (struct bytes){0};
                unhex(GOOD[i].name, GOOD[i].hex, &seeds[i]);
        }
        for (int round = 0; round < 60000; round++) {
                const struct bytes *in = &seeds[round % NGOOD];
                struct mqttsn_msg a, b;
                char loga[LOG_ROOM], logb[LOG_ROOM];

                if (in->len > 4096 && round % 50)
                        continue; /* the largest one now and then */
                mutate(&mut, in, &seed);
                enum mqttsn_err err = read_copy_log(mut.b, mut.len, &a, loga);

                CHECK_INT(mqttsn__read(mut.b, mut.len, &b), err);
                check_invariants(mut.b, mut.len, err, &b);
                describe(logb, sizeof(logb), &b);
                CHECK(strcmp(loga, logb) == 0);
                by_err[err]++;
        }
        print_message("mutations:");
        for (int e = 0; e < MQTTSN_ERR__COUNT; e++) {
                kinds += by_err[e] > 0;
                if (by_err[e])
                        print_message(" %s %u", mqttsn_err__str((enum mqttsn_err)e), by_err[e]);
        }
        print_message("\n");
        CHECK(by_err[MQTTSN_OK] > 1000);
        CHECK(kinds >= MQTTSN_ERR__COUNT - 1);
        for (size_t i = 0; i < NGOOD; i++)
                bytes_free(&seeds[i]);
        bytes_free(&mut);
}

/* `--seeds DIR`: the valid datagrams as fuzz seeds, but for those over the
 * smoke run's -max_len (tests/fuzz/CMakeLists.txt). */
#define SEED_MAX 4096

static int write_seeds(const char *dir)
{
        struct bytes in = {0};
        size_t written = 0;

        for (size_t i = 0; i < NGOOD; i++) {
                char path[4096];
                FILE *f;

                unhex(GOOD[i].name, GOOD[i].hex, &in);
                if (in.len > SEED_MAX)
                        continue;
                written++;
                snprintf(path, sizeof(path), "%s/%s", dir, GOOD[i].name);
                f = fopen(path, "wb");
                if (!f || fwrite(in.b, 1, in.len, f) != in.len || fclose(f)) {
                        perror(path);
                        return 1;
                }
        }
        bytes_free(&in);
        printf("%zu seeds in %s\n", written, dir);
        return 0;
}

int main(int argc, char **argv)
{
        struct CMUnitTest tests[NGOOD + NBAD + 16];
        size_t n = 0;

        if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
                return write_seeds(argv[2]);
        for (size_t i = 0; i < NGOOD; i++)
                tests[n++] = (struct CMUnitTest){.name = GOOD[i].name,
                                                 .test_func = test_good,
                                                 .initial_state = (void *)&GOOD[i]};
        for (size_t i = 0; i < NBAD; i++)
                tests[n++] = (struct CMUnitTest){
                    .name = BAD[i].name, .test_func = test_bad, .initial_state = (void *)&BAD[i]};
#define T(f) tests[n++] = (struct CMUnitTest){.name = #f, .test_func = f}
        T(test_every_error);
        T(test_every_type);
        T(test_api);
        T(test_views);
        T(test_mutations);
#undef T
        int failed = _cmocka_run_group_tests("mqttsn_reader", tests, n, NULL, NULL);

        printf("mqttsn_reader: %zu valid datagrams, %zu malformed, %lu checks\n", NGOOD, NBAD,
               checks);
        return failed;
}
