/*
 * libFuzzer target for the MQTT-SN datagram reader (mqttsn/reader.h).
 *
 * Input: one datagram, read as it is (libFuzzer hands it over in an
 * exactly-sized buffer). Checked, else abort():
 *   - the error is in range, and on an error the message is all zero;
 *   - reading again gives the very same result;
 *   - on success: a named type, not the encapsulation; the header as on the
 *     wire (hdr_len and len from the Length octets, type from MsgType); the
 *     message fills the datagram from its start (0, or the encapsulation's
 *     Length) to its end; the encapsulation header and node id as on the
 *     wire; every view inside the message's body; the message's fixed part
 *     plus its variable field (client id, topic, data, gateway address)
 *     exactly its body; the decoded flags are the bits the type uses; client
 *     ids of 1..255 octets, topics of at least one, return codes 0..3;
 *   - the same datagram one byte shorter is TRUNCATED, one byte longer is
 *     LENGTH.
 *
 * Seeds (corpus/mqttsn) are the valid datagrams of
 * tests/unit/test_mqttsn_reader.c: `test_mqttsn_reader --seeds DIR` writes
 * them. A crash: `fuzz_mqttsn ARTIFACT` says which check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsn/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, enum mqttsn_err err, const struct mqttsn_msg *m)
{
        fprintf(stderr, "fuzz_mqttsn: %s (%s, type %s, len %u)\n", what, mqttsn_err__str(err),
                mqttsn_type__str(m->type), m->len);
        abort();
}

static bool same_str(struct mqttsn_str a, struct mqttsn_str b)
{
        return a.ptr == b.ptr && a.len == b.len;
}

/* Member by member: padding bytes may differ (a struct assignment copies
 * them from wherever). */
static bool same_msg(const struct mqttsn_msg *a, const struct mqttsn_msg *b)
{
        return a->type == b->type && a->hdr_len == b->hdr_len && a->len == b->len &&
               a->has_flags == b->has_flags && a->flags == b->flags && a->dup == b->dup &&
               a->retain == b->retain && a->will == b->will &&
               a->clean_session == b->clean_session && a->qos == b->qos &&
               a->topic_id_type == b->topic_id_type && a->protocol_id == b->protocol_id &&
               a->gw_id == b->gw_id && a->radius == b->radius && a->return_code == b->return_code &&
               a->has_duration == b->has_duration && a->duration == b->duration &&
               a->topic_id == b->topic_id && a->msg_id == b->msg_id &&
               same_str(a->client_id, b->client_id) && same_str(a->topic, b->topic) &&
               same_str(a->data, b->data) && same_str(a->gw_addr, b->gw_addr) &&
               a->encapsulated == b->encapsulated && a->encap.len == b->encap.len &&
               a->encap.ctrl == b->encap.ctrl && a->encap.radius == b->encap.radius &&
               same_str(a->encap.node_id, b->encap.node_id);
}

static bool inside(struct mqttsn_str v, const uint8_t *lo, const uint8_t *hi)
{
        return !v.ptr ? v.len == 0 : v.ptr >= lo && v.ptr <= hi && v.len <= (size_t)(hi - v.ptr);
}

/* The size of each type's fixed part, and the flags it uses (Table 4). */
static size_t fixed_part(uint8_t type, uint8_t *flags)
{
        *flags = 0;
        switch (type) {
        case MQTTSN_ADVERTISE: return sizeof(struct mqttsn_advertise);
        case MQTTSN_SEARCHGW: return sizeof(struct mqttsn_searchgw);
        case MQTTSN_GWINFO: return sizeof(struct mqttsn_gwinfo);
        case MQTTSN_CONNECT: *flags = MQTTSN_FLAGS_CONNECT; return sizeof(struct mqttsn_connect);
        case MQTTSN_CONNACK:
        case MQTTSN_WILLTOPICRESP:
        case MQTTSN_WILLMSGRESP: return sizeof(struct mqttsn_return);
        case MQTTSN_WILLTOPIC:
        case MQTTSN_WILLTOPICUPD: *flags = MQTTSN_FLAGS_WILLTOPIC; return 0; /* 1 when not empty */
        case MQTTSN_REGISTER: return sizeof(struct mqttsn_register);
        case MQTTSN_REGACK:
        case MQTTSN_PUBACK: return sizeof(struct mqttsn_ack);
        case MQTTSN_PUBLISH: *flags = MQTTSN_FLAGS_PUBLISH; return sizeof(struct mqttsn_publish);
        case MQTTSN_PUBCOMP:
        case MQTTSN_PUBREC:
        case MQTTSN_PUBREL:
        case MQTTSN_UNSUBACK: return sizeof(struct mqttsn_msg_id);
        case MQTTSN_SUBSCRIBE:
                *flags = MQTTSN_FLAGS_SUBSCRIBE;
                return sizeof(struct mqttsn_subscribe);
        case MQTTSN_UNSUBSCRIBE:
                *flags = MQTTSN_FLAGS_UNSUBSCRIBE;
                return sizeof(struct mqttsn_subscribe);
        case MQTTSN_SUBACK: *flags = MQTTSN_FLAGS_SUBACK; return sizeof(struct mqttsn_suback);
        case MQTTSN_DISCONNECT: return 0; /* 2 with a duration */
        default: return 0;                /* no fixed part */
        }
}

static void check_ok(const uint8_t *d, size_t n, const struct mqttsn_msg *m)
{
        size_t at = m->encapsulated ? m->encap.len : 0, body, fixed, tail;
        const uint8_t *msg = d + at, *end = d + n;
        uint8_t used;

        if (strcmp(mqttsn_type__str(m->type), "reserved") == 0 || m->type == MQTTSN_ENCAPSULATED)
                fail("a reserved type read", MQTTSN_OK, m);
        if (at + m->len != n || at >= n)
                fail("the message does not fill the datagram", MQTTSN_OK, m);
        if (m->hdr_len == MQTTSN_HDR_LONG ? msg[0] != 1 || m->len != (msg[1] << 8 | msg[2])
                                          : m->hdr_len != 2 || msg[0] == 1 || m->len != msg[0])
                fail("header not as on the wire", MQTTSN_OK, m);
        if (m->len < m->hdr_len || m->type != msg[m->hdr_len - 1])
                fail("type not as on the wire", MQTTSN_OK, m);
        if (m->encapsulated &&
            (m->encap.len < 4 || d[0] != m->encap.len || d[1] != MQTTSN_ENCAPSULATED ||
             d[2] != m->encap.ctrl || m->encap.radius != (d[2] & 3) ||
             m->encap.node_id.ptr != d + 3 || m->encap.node_id.len != m->encap.len - 3))
                fail("encapsulation not as on the wire", MQTTSN_OK, m);
        if (!m->encapsulated && (m->encap.len || m->encap.ctrl || m->encap.node_id.ptr))
                fail("encapsulation fields without one", MQTTSN_OK, m);

        const uint8_t *b = msg + m->hdr_len;

        if (!inside(m->client_id, b, end) || !inside(m->topic, b, end) ||
            !inside(m->data, b, end) || !inside(m->gw_addr, b, end))
                fail("a view outside the body", MQTTSN_OK, m);
        body = m->len - m->hdr_len;
        fixed = fixed_part(m->type, &used);
        if ((m->type == MQTTSN_WILLTOPIC || m->type == MQTTSN_WILLTOPICUPD) && body)
                fixed = sizeof(struct mqttsn_willtopic);
        if (m->type == MQTTSN_DISCONNECT)
                fixed = body;
        /* the variable field: the view that must end the body */
        const struct mqttsn_str *var = m->client_id.ptr ? &m->client_id
                                       : m->gw_addr.ptr ? &m->gw_addr
                                       : m->data.ptr    ? &m->data
                                       : m->topic.ptr   ? &m->topic
                                                        : NULL;

        tail = var ? var->len : 0;
        if (var && var->ptr + var->len != end)
                fail("the variable field does not end the message", MQTTSN_OK, m);
        /* a topic id instead of a name: no view for the pre-defined one */
        if ((m->type == MQTTSN_SUBSCRIBE || m->type == MQTTSN_UNSUBSCRIBE) &&
            m->topic_id_type != MQTTSN_TOPIC_NORMAL)
                tail = MQTTSN_SHORT_TOPIC;
        if (fixed + tail != body)
                fail("fixed part and variable field are not the body", MQTTSN_OK, m);
        if (m->has_flags != (used != 0) && !(used == MQTTSN_FLAGS_WILLTOPIC && body == 0))
                fail("flags on a type without them", MQTTSN_OK, m);

        uint8_t f = m->flags & used;

        if (m->has_flags &&
            (m->topic_id_type != (f & 3) || m->topic_id_type == MQTTSN_TOPIC_RESERVED ||
             m->dup != !!(f & 0x80) || m->retain != !!(f & 0x10) || m->will != !!(f & 0x08) ||
             m->clean_session != !!(f & 0x04) || m->qos != ((f >> 5 & 3) == 3 ? -1 : f >> 5 & 3)))
                fail("flags decoded wrong", MQTTSN_OK, m);
        if (!m->has_flags && (m->flags || m->qos || m->dup || m->topic_id_type))
                fail("flag fields without a Flags octet", MQTTSN_OK, m);
        if (m->client_id.ptr && (m->client_id.len < 1 || m->client_id.len > MQTTSN_CLIENT_ID_MAX))
                fail("client id length", MQTTSN_OK, m);
        if (m->topic.ptr && m->topic.len < 1)
                fail("empty topic", MQTTSN_OK, m);
        if (m->return_code >= MQTTSN_RC__COUNT || (!m->has_duration && m->duration))
                fail("return code or duration", MQTTSN_OK, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct mqttsn_msg zero;
        struct mqttsn_msg m, again;
        enum mqttsn_err err = mqttsn__read(data, size, &m);

        if ((unsigned)err >= MQTTSN_ERR__COUNT)
                fail("error out of range", err, &m);
        if (mqttsn__read(data, size, &again) != err || !same_msg(&m, &again))
                fail("two reads differ", err, &m);
        if (err != MQTTSN_OK) {
                if (!same_msg(&m, &zero))
                        fail("a message left after an error", err, &m);
                return 0;
        }
        check_ok(data, size, &m);

        /* one byte shorter and one longer, each in an exactly-sized copy */
        uint8_t *copy = malloc(size + 1);

        if (!copy)
                abort();
        memcpy(copy, data, size);
        copy[size] = data[size - 1];
        if (mqttsn__read(copy, size + 1, &again) != MQTTSN_ERR_LENGTH)
                fail("a byte more is not LENGTH", err, &m);
        free(copy);
        copy = malloc(size - 1 ? size - 1 : 1);
        if (!copy)
                abort();
        memcpy(copy, data, size - 1);
        if (mqttsn__read(copy, size - 1, &again) != MQTTSN_ERR_TRUNCATED)
                fail("a byte less is not TRUNCATED", err, &m);
        free(copy);
        return 0;
}
