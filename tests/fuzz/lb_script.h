/*
 * The input format of the packet-path fuzz target (fuzz_lb.c), shared with
 * the seed generator (make_lb_seeds.c) so that both read one definition.
 *
 * An input is one configuration byte, then a script of operations, each an
 * op byte (kind in bits 0-2, argument in bits 3-7) and the bytes its kind
 * reads. A byte read past the end is 0; the script stops at the end of the
 * input or after LBS_MAX_OPS operations.
 *
 * Kinds (their bytes after the op byte):
 *   LBS_CLIENT_SEG   arg: bit 0-1 client, bit 2 other destination, bit 3
 *                    SYN options byte when SYN, bit 4 unused.
 *                    [dest] flags seqack payload [raw flags] [values...]
 *                    A segment from a hostile client, any field.
 *   LBS_CLIENT_STEP  arg: bit 0-1 client. payload-index.
 *                    The client's next right step: SYN until it heard a
 *                    SYN-ACK, then the table payload at exactly its next
 *                    sequence, ACKing all it heard.
 *   LBS_BROKER_SEG   arg: bit 0-2 leg, bit 3 to a random local port.
 *                    flags seqack payload [values...]
 *                    A segment from the broker of a leg the balancer opened
 *                    (learned from its SYN).
 *   LBS_BROKER_STEP  arg: bit 0-2 leg. payload-index.
 *                    SYN-ACK until the leg is answered, then the table
 *                    payload at exactly its next sequence.
 *   LBS_TIME         arg: bit 0-1 scale. value.
 *   LBS_GOOD         the well-behaved connection's next step.
 *   LBS_REPEAT       the last hostile frame again (a duplicate).
 *   LBS_ACK_ALL      every hostile peer ACKs what it heard, exactly.
 *
 * flags byte: bit 0-2 LBS_FLAGS_* (bit 7: a raw flags byte follows instead),
 * bit 3-4 LBS_WIN_*, bit 5-6 SACK blocks (2 bytes each: start from the ACK
 * as int8, length).
 * seqack byte: low nibble the sequence, high nibble the ACK, LBS_REL_*:
 * relative to what that peer sent (sequence) and heard (ACK).
 * payload byte: bit 6-7 LBS_PAY_*, bit 0-5 a table index or parameter.
 */
#ifndef MQTTLB_TESTS_FUZZ_LB_SCRIPT_H
#define MQTTLB_TESTS_FUZZ_LB_SCRIPT_H

#include <stdint.h>

#define LBS_MAX_OPS 256

enum lbs_kind {
        LBS_CLIENT_SEG,
        LBS_CLIENT_STEP,
        LBS_BROKER_SEG,
        LBS_BROKER_STEP,
        LBS_TIME,
        LBS_GOOD,
        LBS_REPEAT,
        LBS_ACK_ALL,
};
#define LBS_OP(kind, arg) ((uint8_t)((kind) | (arg) << 3))

/* The configuration byte. */
#define LBS_CFG_FORWARD 0x01 /* misroute: forward (else disconnect) */
#define LBS_CFG_PROXY   0x02 /* proxy_protocol: true */
#define LBS_CFG_BIGBUF  0x04 /* connections.buffer 16 KiB (else 4 KiB) */
#define LBS_CFG_MAGLEV  0x08 /* apples by client id (Maglev), else least connections */
#define LBS_CFG_WRAP    0x10 /* every scripted ISN a little below 2^32 */

enum lbs_flags {
        LBS_FLAGS_ACK,
        LBS_FLAGS_PSH_ACK,
        LBS_FLAGS_SYN,
        LBS_FLAGS_SYN_ACK,
        LBS_FLAGS_FIN_ACK,
        LBS_FLAGS_RST,
        LBS_FLAGS_RST_ACK,
        LBS_FLAGS_NONE,
};
#define LBS_FLAGS_RAW 0x80

enum lbs_win { LBS_WIN_FULL, LBS_WIN_1000, LBS_WIN_ZERO, LBS_WIN_RAW16 };

/* Sequence or ACK number relative to a base (the exact value). */
enum lbs_rel {
        LBS_REL_EXACT, /* 0-6 all exact: the fuzzer reaches in-window values often */
        LBS_REL_MINUS1 = 7,
        LBS_REL_PLUS1,
        LBS_REL_MINUS8, /* one byte follows */
        LBS_REL_PLUS8,
        LBS_REL_PLUS16, /* two bytes follow */
        LBS_REL_MINUS16,
        LBS_REL_FAR,   /* base + byte << 16 */
        LBS_REL_RAW32, /* four bytes follow */
        LBS_REL_HALF,  /* base + 2^31 */
};

enum lbs_pay {
        LBS_PAY_TABLE,      /* index 0 is no payload */
        LBS_PAY_RAW,        /* a length byte, then that many bytes of the input */
        LBS_PAY_HEAD,       /* bit 5: the tail instead; a byte: where the table entry is cut */
        LBS_PAY_TABLE2 = 3, /* two table entries in one segment (a byte: the second) */
};
#define LBS_PAY(mode, idx) ((uint8_t)((mode) << 6 | (idx)))

/* The payload table (fuzz_lb.c holds the bytes). */
enum lbs_payload {
        LBS_P_NONE,
        LBS_P_CONNECT,         /* v3.1.1, id "fz1", clean session */
        LBS_P_CONNECT_V5,      /* v5, id "fz5" */
        LBS_P_CONNECT_WILL,    /* will topic apples/w: binds at CONNECT */
        LBS_P_CONNECT_CAM,     /* id "cam-1": the client-id route */
        LBS_P_CONNECT_PERSIST, /* clean session 0: binds at CONNECT */
        LBS_P_CONNECT_EMPTY,   /* empty client id */
        LBS_P_PUBLISH,         /* apples/x, QoS 0 */
        LBS_P_PUBLISH_PEARS,   /* pears/x: another pool */
        LBS_P_PUBLISH_QOS1,
        LBS_P_PUBLISH_ALIAS, /* v5 with topic alias 1 */
        LBS_P_PUBLISH_BY_ALIAS,
        LBS_P_PUBLISH_BIG, /* 1012 bytes */
        LBS_P_SUBSCRIBE,
        LBS_P_SUBSCRIBE_V5,
        LBS_P_UNSUBSCRIBE,
        LBS_P_PINGREQ,
        LBS_P_DISCONNECT,
        LBS_P_CONNACK,
        LBS_P_CONNACK_REFUSED,
        LBS_P_CONNACK_V5,
        LBS_P_PUBLISH_DOWN, /* from a broker */
        LBS_P_PUBACK,
        LBS_P_SUBACK,
        LBS_P_PINGRESP,
        LBS_P_BAD_EMPTY_TOPIC,
        LBS_P_BAD_VARINT,
        LBS_P_BAD_TYPE0,
        LBS_P_AUTH,
        LBS_P__COUNT,
};

enum lbs_time_scale {
        LBS_TIME_MS,      /* value ms */
        LBS_TIME_10US,    /* value * 10 us */
        LBS_TIME_TIMEOUT, /* past a timeout: LBS_TIMEOUT_* */
        LBS_TIME_50MS,    /* value * 50 ms */
};
enum lbs_timeout {
        LBS_TIMEOUT_CONNECT, /* 260 ms */
        LBS_TIMEOUT_BIND,    /* 1010 ms */
        LBS_TIMEOUT_2S,
        LBS_TIMEOUT_IDLE, /* 5100 ms */
        LBS_TIMEOUT_16S,
        LBS_TIMEOUT_60S,
        LBS_TIMEOUT_1MS,
        LBS_TIMEOUT_120MS,
};

#endif
