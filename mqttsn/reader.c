/*
 * The MQTT-SN datagram reader (see reader.h). Three steps: the header (the
 * Length in one of its two forms, the MsgType), the framing (the Length
 * against the datagram's size, or the forwarder encapsulation around one
 * inner message), then the body of the type, whose fixed part is read
 * through its wire layout (reader-t.h) once its size is known to fit.
 *
 * Must not: allocate, keep state, or read outside [dgram, dgram + len):
 * every read is of a body whose size was checked against the layout first.
 */
#include "mqttsn/reader.h"

#include <string.h>

#include "mqtt/topic.h"

_Static_assert(sizeof(struct mqttsn_advertise) == 3, "ADVERTISE body");
_Static_assert(sizeof(struct mqttsn_searchgw) == 1, "SEARCHGW body");
_Static_assert(sizeof(struct mqttsn_gwinfo) == 1, "GWINFO fixed part");
_Static_assert(sizeof(struct mqttsn_connect) == 4, "CONNECT fixed part");
_Static_assert(sizeof(struct mqttsn_return) == 1, "CONNACK body");
_Static_assert(sizeof(struct mqttsn_willtopic) == 1, "WILLTOPIC fixed part");
_Static_assert(sizeof(struct mqttsn_register) == 4, "REGISTER fixed part");
_Static_assert(sizeof(struct mqttsn_ack) == 5, "REGACK / PUBACK body");
_Static_assert(sizeof(struct mqttsn_publish) == 5, "PUBLISH fixed part");
_Static_assert(sizeof(struct mqttsn_msg_id) == 2, "PUBREC body");
_Static_assert(sizeof(struct mqttsn_subscribe) == 3, "SUBSCRIBE fixed part");
_Static_assert(sizeof(struct mqttsn_suback) == 6, "SUBACK body");
_Static_assert(sizeof(struct mqttsn_disconnect) == 2, "DISCONNECT duration");
_Static_assert(sizeof(struct mqttsn_encap) == 3, "encapsulation fixed part");
/* a CONNECT with the longest client id accepted is a message (in the 3-octet
 * Length form: from 250 octets on it does not fit the 1-octet one) */
_Static_assert(MQTTSN_HDR_LONG + sizeof(struct mqttsn_connect) + MQTTSN_CLIENT_ID_MAX <=
                   MQTTSN_MSG_MAX,
               "client id limit");
_Static_assert(MQTTSN_CLIENT_ID_MAX <= UINT16_MAX, "client_id.len is 16 bits");

/* The smallest encapsulation header: Length, MsgType, Ctrl, a 1-octet node id. */
#define ENCAP_HDR_MIN (sizeof(struct mqttsn_encap) + 1)

static uint16_t be16(const uint8_t b[2])
{
        return (uint16_t)(b[0] << 8 | b[1]);
}

static struct mqttsn_str view(const uint8_t *p, size_t n)
{
        return (struct mqttsn_str){p, (uint16_t)n};
}

/* The Flags octet: kept as sent, and the bits of used (Table 4: the ones
 * the type uses) decoded. */
static void read_flags(struct mqttsn_msg *m, uint8_t flags, uint8_t used)
{
        uint8_t f = flags & used, qos = (f & MQTTSN_FLAG_QOS_MASK) >> MQTTSN_FLAG_QOS_SHIFT;

        m->has_flags = true;
        m->flags = flags;
        m->dup = f & MQTTSN_FLAG_DUP;
        m->retain = f & MQTTSN_FLAG_RETAIN;
        m->will = f & MQTTSN_FLAG_WILL;
        m->clean_session = f & MQTTSN_FLAG_CLEAN_SESSION;
        m->qos = qos == 3 ? -1 : (int8_t)qos;
        m->topic_id_type = f & MQTTSN_FLAG_TOPIC_ID_TYPE;
}

/* mqtt/topic.h's verdicts, in this reader's terms. */
static enum mqttsn_err from_mqtt(enum mqtt_err err)
{
        switch (err) {
        case MQTT_OK: return MQTTSN_OK;
        case MQTT_ERR_UTF8: return MQTTSN_ERR_UTF8;
        default: return MQTTSN_ERR_TOPIC; /* empty, wildcard, bad filter */
        }
}

/* ClientId, §5.3.1: see reader.h for the bounds. */
static enum mqttsn_err read_client_id(struct mqttsn_msg *m, const uint8_t *p, size_t n)
{
        if (n == 0 || n > MQTTSN_CLIENT_ID_MAX)
                return MQTTSN_ERR_CLIENT_ID;
        if (mqtt_utf8__check(p, n) != MQTT_OK)
                return MQTTSN_ERR_UTF8;
        m->client_id = view(p, n);
        return MQTTSN_OK;
}

/* A topic name: REGISTER, WILLTOPIC, a short name in PUBLISH. */
static enum mqttsn_err read_topic_name(struct mqttsn_msg *m, const uint8_t *p, size_t n)
{
        enum mqttsn_err err = from_mqtt(mqtt_topic__check_name(p, n));

        if (err == MQTTSN_OK)
                m->topic = view(p, n);
        return err;
}

/* A topic filter: SUBSCRIBE, UNSUBSCRIBE (no shared subscriptions in 1.2). */
static enum mqttsn_err read_topic_filter(struct mqttsn_msg *m, const uint8_t *p, size_t n)
{
        enum mqttsn_err err =
            n ? from_mqtt(mqtt_topic__check_filter(p, n, false)) : MQTTSN_ERR_TOPIC;

        if (err == MQTTSN_OK)
                m->topic = view(p, n);
        return err;
}

static enum mqttsn_err read_return_code(struct mqttsn_msg *m, uint8_t rc)
{
        m->return_code = rc;
        return rc < MQTTSN_RC__COUNT ? MQTTSN_OK : MQTTSN_ERR_RETURN_CODE;
}

/* WILLTOPIC, WILLTOPICUPD (§5.4.7, §5.4.22): empty, or Flags and a topic. */
static enum mqttsn_err read_will_topic(struct mqttsn_msg *m, const uint8_t *b, size_t n)
{
        const struct mqttsn_willtopic *w = (const void *)b;

        if (n == 0)
                return MQTTSN_OK; /* deletes the Will */
        read_flags(m, w->flags, MQTTSN_FLAGS_WILLTOPIC);
        return read_topic_name(m, b + sizeof(*w), n - sizeof(*w));
}

/* SUBSCRIBE, UNSUBSCRIBE (§5.4.15, §5.4.17). */
static enum mqttsn_err read_subscribe(struct mqttsn_msg *m, const uint8_t *b, size_t n)
{
        const struct mqttsn_subscribe *s = (const void *)b;
        const uint8_t *topic = b + sizeof(*s);
        size_t tn = n - sizeof(*s);

        read_flags(m, s->flags,
                   m->type == MQTTSN_SUBSCRIBE ? MQTTSN_FLAGS_SUBSCRIBE : MQTTSN_FLAGS_UNSUBSCRIBE);
        m->msg_id = be16(s->msg_id);
        switch (m->topic_id_type) {
        case MQTTSN_TOPIC_NORMAL: return read_topic_filter(m, topic, tn);
        case MQTTSN_TOPIC_PREDEFINED:
        case MQTTSN_TOPIC_SHORT:
                if (tn != MQTTSN_SHORT_TOPIC)
                        return MQTTSN_ERR_SIZE;
                m->topic_id = be16(topic);
                return m->topic_id_type == MQTTSN_TOPIC_SHORT ? read_topic_filter(m, topic, tn)
                                                              : MQTTSN_OK;
        default: return MQTTSN_ERR_FLAGS;
        }
}

/* PUBLISH (§5.4.12). */
static enum mqttsn_err read_publish(struct mqttsn_msg *m, const uint8_t *b, size_t n)
{
        const struct mqttsn_publish *p = (const void *)b;
        enum mqttsn_err err = MQTTSN_OK;

        read_flags(m, p->flags, MQTTSN_FLAGS_PUBLISH);
        if (m->topic_id_type == MQTTSN_TOPIC_RESERVED)
                return MQTTSN_ERR_FLAGS;
        m->topic_id = be16(p->topic_id);
        m->msg_id = be16(p->msg_id);
        if (m->topic_id_type == MQTTSN_TOPIC_SHORT)
                err = read_topic_name(m, p->topic_id, sizeof(p->topic_id));
        m->data = view(b + sizeof(*p), n - sizeof(*p));
        return err;
}

/*
 * The body b[0..n) of a message of type m->type. Each case first checks n
 * against the type's fixed part (exact: the body is only that; at least:
 * a variable field follows), then reads it.
 */
static enum mqttsn_err read_body(struct mqttsn_msg *m, const uint8_t *b, size_t n)
{
#define EXACT(layout)                           \
        do {                                    \
                if (n != sizeof(struct layout)) \
                        return MQTTSN_ERR_SIZE; \
        } while (0)
#define AT_LEAST(layout)                        \
        do {                                    \
                if (n < sizeof(struct layout))  \
                        return MQTTSN_ERR_SIZE; \
        } while (0)
        switch (m->type) {
        case MQTTSN_ADVERTISE: {
                const struct mqttsn_advertise *a = (const void *)b;

                EXACT(mqttsn_advertise);
                m->gw_id = a->gw_id;
                m->has_duration = true;
                m->duration = be16(a->duration);
                return MQTTSN_OK;
        }
        case MQTTSN_SEARCHGW: {
                const struct mqttsn_searchgw *s = (const void *)b;

                EXACT(mqttsn_searchgw);
                m->radius = s->radius;
                return MQTTSN_OK;
        }
        case MQTTSN_GWINFO: {
                const struct mqttsn_gwinfo *g = (const void *)b;

                AT_LEAST(mqttsn_gwinfo);
                m->gw_id = g->gw_id;
                m->gw_addr = view(b + sizeof(*g), n - sizeof(*g));
                return MQTTSN_OK;
        }
        case MQTTSN_CONNECT: {
                const struct mqttsn_connect *c = (const void *)b;

                AT_LEAST(mqttsn_connect);
                read_flags(m, c->flags, MQTTSN_FLAGS_CONNECT);
                m->protocol_id = c->protocol_id;
                if (c->protocol_id != MQTTSN_PROTOCOL_ID)
                        return MQTTSN_ERR_PROTOCOL_ID;
                m->has_duration = true;
                m->duration = be16(c->duration);
                return read_client_id(m, b + sizeof(*c), n - sizeof(*c));
        }
        case MQTTSN_CONNACK:
        case MQTTSN_WILLTOPICRESP:
        case MQTTSN_WILLMSGRESP: {
                const struct mqttsn_return *r = (const void *)b;

                EXACT(mqttsn_return);
                return read_return_code(m, r->return_code);
        }
        case MQTTSN_WILLTOPICREQ:
        case MQTTSN_WILLMSGREQ:
        case MQTTSN_PINGRESP: return n == 0 ? MQTTSN_OK : MQTTSN_ERR_SIZE;
        case MQTTSN_WILLTOPIC:
        case MQTTSN_WILLTOPICUPD: return read_will_topic(m, b, n);
        case MQTTSN_WILLMSG:
        case MQTTSN_WILLMSGUPD: m->data = view(b, n); return MQTTSN_OK;
        case MQTTSN_REGISTER: {
                const struct mqttsn_register *r = (const void *)b;

                AT_LEAST(mqttsn_register);
                m->topic_id = be16(r->topic_id);
                m->msg_id = be16(r->msg_id);
                return read_topic_name(m, b + sizeof(*r), n - sizeof(*r));
        }
        case MQTTSN_REGACK:
        case MQTTSN_PUBACK: {
                const struct mqttsn_ack *a = (const void *)b;

                EXACT(mqttsn_ack);
                m->topic_id = be16(a->topic_id);
                m->msg_id = be16(a->msg_id);
                return read_return_code(m, a->return_code);
        }
        case MQTTSN_PUBLISH: AT_LEAST(mqttsn_publish); return read_publish(m, b, n);
        case MQTTSN_PUBCOMP:
        case MQTTSN_PUBREC:
        case MQTTSN_PUBREL:
        case MQTTSN_UNSUBACK: {
                const struct mqttsn_msg_id *i = (const void *)b;

                EXACT(mqttsn_msg_id);
                m->msg_id = be16(i->msg_id);
                return MQTTSN_OK;
        }
        case MQTTSN_SUBSCRIBE:
        case MQTTSN_UNSUBSCRIBE: AT_LEAST(mqttsn_subscribe); return read_subscribe(m, b, n);
        case MQTTSN_SUBACK: {
                const struct mqttsn_suback *s = (const void *)b;

                EXACT(mqttsn_suback);
                read_flags(m, s->flags, MQTTSN_FLAGS_SUBACK);
                m->topic_id = be16(s->topic_id);
                m->msg_id = be16(s->msg_id);
                return read_return_code(m, s->return_code);
        }
        case MQTTSN_PINGREQ: return n == 0 ? MQTTSN_OK : read_client_id(m, b, n);
        case MQTTSN_DISCONNECT: {
                const struct mqttsn_disconnect *d = (const void *)b;

                if (n == 0)
                        return MQTTSN_OK; /* no Duration: not going to sleep */
                EXACT(mqttsn_disconnect);
                m->has_duration = true;
                m->duration = be16(d->duration);
                return MQTTSN_OK;
        }
        default: return MQTTSN_ERR_UNKNOWN_TYPE;
        }
#undef EXACT
#undef AT_LEAST
}

/*
 * The header of the message at d[0..n) (§5.2.1): its Length into m->len,
 * the header's size into m->hdr_len, the MsgType into m->type. The Length
 * is not compared with n here: an encapsulation's means something else.
 */
static enum mqttsn_err read_header(struct mqttsn_msg *m, const uint8_t *d, size_t n)
{
        if (n == 0)
                return MQTTSN_ERR_TRUNCATED;
        if (d[0] == MQTTSN_LENGTH_LONG) {
                if (n < MQTTSN_HDR_LONG - 1)
                        return MQTTSN_ERR_TRUNCATED;
                m->len = be16(d + 1);
                m->hdr_len = MQTTSN_HDR_LONG;
                if (m->len < MQTTSN_HDR_LONG)
                        return MQTTSN_ERR_LENGTH;
        } else {
                m->len = d[0];
                m->hdr_len = MQTTSN_HDR_SHORT;
                if (m->len < MQTTSN_HDR_SHORT)
                        return MQTTSN_ERR_LENGTH; /* 0x00 */
        }
        if (n < m->hdr_len)
                return MQTTSN_ERR_TRUNCATED;
        m->type = d[m->hdr_len - 1];
        return MQTTSN_OK;
}

/* One message that must fill d[0..n) exactly; m->encapsulated says whether
 * it is inside an encapsulation already. */
static enum mqttsn_err read_msg(struct mqttsn_msg *m, const uint8_t *d, size_t n);

/* The forwarder encapsulation at d[0..n) (§5.5), its header read into m. */
static enum mqttsn_err read_encap(struct mqttsn_msg *m, const uint8_t *d, size_t n)
{
        const struct mqttsn_encap *e = (const void *)d;
        size_t hdr = m->len;

        if (m->hdr_len != MQTTSN_HDR_SHORT || hdr < ENCAP_HDR_MIN)
                return MQTTSN_ERR_ENCAP;
        if (n <= hdr) /* ends inside the header, or with it */
                return MQTTSN_ERR_TRUNCATED;
        m->encapsulated = true;
        m->encap.len = e->length;
        m->encap.ctrl = e->ctrl;
        m->encap.radius = e->ctrl & MQTTSN_RADIUS_MASK;
        m->encap.node_id = view(d + sizeof(*e), hdr - sizeof(*e));
        return read_msg(m, d + hdr, n - hdr);
}

static enum mqttsn_err read_msg(struct mqttsn_msg *m, const uint8_t *d, size_t n)
{
        enum mqttsn_err err = read_header(m, d, n);

        if (err != MQTTSN_OK)
                return err;
        if (m->type == MQTTSN_ENCAPSULATED)
                return m->encapsulated ? MQTTSN_ERR_ENCAP : read_encap(m, d, n);
        if (n < m->len)
                return MQTTSN_ERR_TRUNCATED;
        if (n > m->len)
                return MQTTSN_ERR_LENGTH;
        return read_body(m, d + m->hdr_len, n - m->hdr_len);
}

enum mqttsn_err mqttsn__read(const uint8_t *dgram, size_t len, struct mqttsn_msg *out)
{
        enum mqttsn_err err;

        memset(out, 0, sizeof(*out));
        err = read_msg(out, dgram, len);
        if (err != MQTTSN_OK)
                memset(out, 0, sizeof(*out));
        return err;
}

const char *mqttsn_err__str(enum mqttsn_err err)
{
        static const char *const names[MQTTSN_ERR__COUNT] = {
            [MQTTSN_OK] = "ok",
            [MQTTSN_ERR_TRUNCATED] = "truncated",
            [MQTTSN_ERR_LENGTH] = "bad_length",
            [MQTTSN_ERR_SIZE] = "bad_size",
            [MQTTSN_ERR_UNKNOWN_TYPE] = "unknown_type",
            [MQTTSN_ERR_PROTOCOL_ID] = "bad_protocol_id",
            [MQTTSN_ERR_CLIENT_ID] = "bad_client_id",
            [MQTTSN_ERR_TOPIC] = "bad_topic",
            [MQTTSN_ERR_UTF8] = "invalid_utf8",
            [MQTTSN_ERR_FLAGS] = "bad_flags",
            [MQTTSN_ERR_RETURN_CODE] = "bad_return_code",
            [MQTTSN_ERR_ENCAP] = "bad_encapsulation",
        };

        if ((unsigned)err >= MQTTSN_ERR__COUNT || !names[err])
                return "unknown";
        return names[err];
}

const char *mqttsn_type__str(uint8_t type)
{
        static const char *const names[256] = {
            [MQTTSN_ADVERTISE] = "ADVERTISE",
            [MQTTSN_SEARCHGW] = "SEARCHGW",
            [MQTTSN_GWINFO] = "GWINFO",
            [MQTTSN_CONNECT] = "CONNECT",
            [MQTTSN_CONNACK] = "CONNACK",
            [MQTTSN_WILLTOPICREQ] = "WILLTOPICREQ",
            [MQTTSN_WILLTOPIC] = "WILLTOPIC",
            [MQTTSN_WILLMSGREQ] = "WILLMSGREQ",
            [MQTTSN_WILLMSG] = "WILLMSG",
            [MQTTSN_REGISTER] = "REGISTER",
            [MQTTSN_REGACK] = "REGACK",
            [MQTTSN_PUBLISH] = "PUBLISH",
            [MQTTSN_PUBACK] = "PUBACK",
            [MQTTSN_PUBCOMP] = "PUBCOMP",
            [MQTTSN_PUBREC] = "PUBREC",
            [MQTTSN_PUBREL] = "PUBREL",
            [MQTTSN_SUBSCRIBE] = "SUBSCRIBE",
            [MQTTSN_SUBACK] = "SUBACK",
            [MQTTSN_UNSUBSCRIBE] = "UNSUBSCRIBE",
            [MQTTSN_UNSUBACK] = "UNSUBACK",
            [MQTTSN_PINGREQ] = "PINGREQ",
            [MQTTSN_PINGRESP] = "PINGRESP",
            [MQTTSN_DISCONNECT] = "DISCONNECT",
            [MQTTSN_WILLTOPICUPD] = "WILLTOPICUPD",
            [MQTTSN_WILLTOPICRESP] = "WILLTOPICRESP",
            [MQTTSN_WILLMSGUPD] = "WILLMSGUPD",
            [MQTTSN_WILLMSGRESP] = "WILLMSGRESP",
            [MQTTSN_ENCAPSULATED] = "ENCAPSULATED",
        };

        return names[type] ? names[type] : "reserved";
}
