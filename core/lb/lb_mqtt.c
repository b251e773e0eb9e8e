/*
 * The MQTT binder (struct binder): the parser's events on the client's
 * stream, the self-answered CONNACK and PINGRESPs, the decision of when and
 * where to bind (DESIGN.md "When to bind"), counters and the misroute
 * policy. The parser reads the client's stream for the connection's life.
 */
#include <stdlib.h>
#include <string.h>

#include "core/util/hash.h"
#include "core/route/learned.h"
#include "core/lb/lb_conn.h"
#include "mqtt/encode.h"

/* The pool of a topic (or filter): the most specific rule, else the default. */
static int route_topic(const struct plan *plan, const uint8_t *t, size_t len)
{
        int pool = route_table__match_topic(plan->routes, t, len);

        return pool != ROUTE_NONE ? pool : plan->default_pool;
}

static void keep_topic(struct lb_worker *lw, struct conn *c, struct mqtt_str t)
{
        if (!lw->lb->keep_topics || !t.len || c->ntopics >= LB_REPORT_TOPICS)
                return;
        for (uint8_t i = 0; i < c->ntopics; i++)
                if (c->topics[i].len == t.len && !memcmp(c->topics[i].ptr, t.ptr, t.len))
                        return;
        if (!c->topics && !(c->topics = calloc(LB_REPORT_TOPICS, sizeof(*c->topics))))
                return;
        uint8_t *copy = malloc(t.len);

        if (!copy)
                return;
        memcpy(copy, t.ptr, t.len);
        c->topics[c->ntopics++] = (struct mqtt_str){copy, t.len};
}

/* v5 DISCONNECT (reason code only, 5.0 §3.14.2.2) for a client that believes
 * it is connected; nothing for v3, which has no server DISCONNECT. */
static void own_disconnect(struct conn *c, uint8_t reason)
{
        uint8_t pkt[MQTT_DISCONNECT_LEN_MAX];

        if (c->version == MQTT_V5 && c->self_connack)
                conn__own(c, pkt,
                          (uint8_t)mqtt_encode__disconnect(pkt, sizeof(pkt), MQTT_V5, reason));
}

void conn__close_mqtt(struct lb_worker *lw, struct conn *c, enum lb_verdict v, uint8_t v5_reason,
                      uint8_t v3_connack)
{
        if (c->connect_done && !c->self_connack) {
                /* the client still waits for its CONNACK: a refusal (3.1.1
                 * §3.2.2.3 codes / 5.0 §3.2.2.2 reason codes) */
                uint8_t pkt[MQTT_CONNACK_LEN_MAX(0)];
                bool v5 = c->version == MQTT_V5;

                conn__own(c, pkt,
                          (uint8_t)mqtt_encode__connack(pkt, sizeof(pkt), v5 ? MQTT_V5 : MQTT_V311,
                                                        false, v5 ? v5_reason : v3_connack, NULL,
                                                        0));
        } else {
                own_disconnect(c, v5_reason == MQTT_RC_SERVER_UNAVAILABLE ? MQTT_RC_SERVER_BUSY
                                                                          : v5_reason);
        }
        conn__close_client(lw, c, v);
}

/* CONNECT read: bind now, or answer it ourselves and wait for a topic. */
static void decide(struct lb_worker *lw, struct conn *c)
{
        const struct plan *plan = c->plan;
        char name[64];
        int pool;

        c->connect_done = true;
        pool = route_table__match_client_id(plan->routes, c->cid, c->cid_len);
        if (pool == ROUTE_NONE && c->cid_len &&
            learned__get(lw->lb->learned, c->cid, c->cid_len, name, sizeof(name)) > 0) {
                for (uint32_t i = 0; i < plan->npools; i++)
                        if (!strcmp(plan->pools[i].name, name))
                                pool = (int)i;
        }
        if (pool == ROUTE_NONE && c->will)
                pool = c->will_pool;
        if (pool == ROUTE_NONE && (c->persistent || (c->version == MQTT_V5 && !c->cid_len)))
                pool = plan->default_pool;
        if (pool != ROUTE_NONE || c->will || c->persistent ||
            (c->version == MQTT_V5 && !c->cid_len)) {
                conn__bind(lw, c, pool, LB_BOUND_CONNECT);
                return;
        }
        /* CONNACK: accepted, no session present; v5 with the brokers'
         * capabilities, or none (Topic Alias Maximum absent means 0, so the
         * client uses no alias before the brokers' own limits are known) */
        uint8_t pkt[MQTT_CONNACK_LEN_MAX(sizeof(plan->v5_props))];
        _Static_assert(sizeof(pkt) <= UINT8_MAX, "conn__own takes a uint8_t length");

        if (c->version == MQTT_V5) {
                conn__own(c, pkt,
                          (uint8_t)mqtt_encode__connack(pkt, sizeof(pkt), MQTT_V5, false,
                                                        MQTT_RC_SUCCESS, plan->v5_props,
                                                        plan->v5_props_len));
                if (plan->alias_max)
                        mqtt_parser__set_alias_max(&c->mp, plan->alias_max);
        } else
                conn__own(c, pkt,
                          (uint8_t)mqtt_encode__connack(pkt, sizeof(pkt), MQTT_V311, false,
                                                        MQTT_V3_RC_ACCEPTED, NULL, 0));
        c->self_connack = true;
        STAT(lw, self_connack);
}

#define LOAD(bits, p)                         \
        __extension__({                       \
                uint##bits##_t v_;            \
                memcpy(&v_, (p), sizeof(v_)); \
                v_;                           \
        })
/* x[0..n) ^ y[0..n) folded to one word, 0 when equal (n >= w, the last word
 * overlapping the one before it, so every read stays in the strings). */
#define DIFF(bits, x, y, n)                \
        ((LOAD(bits, x) ^ LOAD(bits, y)) | \
         (LOAD(bits, (x) + (n)-bits / 8) ^ LOAD(bits, (y) + (n)-bits / 8)))

/* Whether t is the topic kept in c->rt_topic (t->len <= LB_RT_TOPIC_MAX). */
static inline bool rt_same(const struct conn *c, const struct mqtt_str *t)
{
        const uint8_t *a = t->ptr, *b = c->rt_topic;
        size_t n = t->len;
        uint64_t d;

        if (c->rt_len != n || !n)
                return false;
        if (n >= 8) {
                d = DIFF(64, a, b, n);
                for (size_t i = 8; i + 8 < n; i += 8)
                        d |= LOAD(64, a + i) ^ LOAD(64, b + i);
        } else if (n >= 4) {
                d = DIFF(32, a, b, n);
        } else if (n >= 2) {
                d = DIFF(16, a, b, n);
        } else {
                d = a[0] ^ b[0];
        }
        return !d;
}

/*
 * The pool a PUBLISH topic maps to, through a one-entry cache per
 * connection: a client mostly publishes to the same topic again. A topic of
 * up to LB_RT_TOPIC_MAX bytes is kept and compared byte for byte; a longer
 * one by a hash (XXH3, a few instructions a byte), where a 64-bit collision
 * could only miscount a misroute. Valid for the plan the connection holds
 * (emptied when it moves to another).
 */
static int route_publish(struct conn *c, const struct mqtt_str *t)
{
        uint64_t h = 0;

        if (t->len <= LB_RT_TOPIC_MAX) {
                if (c->rt_valid && rt_same(c, t))
                        return c->rt_pool;
        } else {
                h = hash__bytes(t->ptr, t->len, 0);
                if (c->rt_valid && !c->rt_len && c->rt_hash == h)
                        return c->rt_pool;
        }
        c->rt_pool = (int16_t)route_topic(c->plan, t->ptr, t->len);
        c->rt_hash = h;
        c->rt_len = t->len <= LB_RT_TOPIC_MAX ? (uint8_t)t->len : 0;
        if (c->rt_len)
                memcpy(c->rt_topic, t->ptr, c->rt_len);
        c->rt_valid = true;
        return c->rt_pool;
}
#undef DIFF
#undef LOAD

static bool on_publish(struct lb_worker *lw, struct conn *c, const struct mqtt_event *ev)
{
        const struct plan *plan = c->plan;
        int pool = ev->publish.topic_known ? route_publish(c, &ev->publish.topic) : c->pool;
        bool binding = false;

        STAT(lw, publishes);
        STAT_N(lw, publish_bytes, ev->pkt_len);
        c->publishes++;
        if (lw->lb->keep_topics)
                keep_topic(lw, c, ev->publish.topic);
        if (c->f.state == CONN_OPEN) {
                conn__bind(lw, c, pool, LB_BOUND_PUBLISH);
                binding = true;
        }
        if (c->bstats) { /* the broker's count: the binding PUBLISH too */
                struct lb_broker_stats *bs = c->bstats;

                __atomic_store_n(&bs->publishes, bs->publishes + 1, __ATOMIC_RELAXED);
                __atomic_store_n(&bs->publish_bytes, bs->publish_bytes + ev->pkt_len,
                                 __ATOMIC_RELAXED);
        }
        if (binding)
                return c->f.state != CONN_CLOSING;
        if (pool == c->pool)
                return true;
        STAT(lw, misroutes);
        if (!plan->misroute_disconnect || c->f.state != CONN_SPLICED)
                return true;
        STAT(lw, misroute_disconnects);
        conn__rst_broker(lw, c);
        conn__rst_client(lw, c);
        conn__end(lw, c, LB_VERDICT_SPLICED);
        return false;
}

static bool on_event(struct lb_worker *lw, struct conn *c, const struct mqtt_event *ev)
{
        const struct plan *plan = c->plan;

        switch (ev->type) {
        case MQTT_EV_CONNECT:
                c->version = ev->connect.version;
                c->will = ev->connect.flags & MQTT_CONNECT_WILL;
                if (c->version == MQTT_V5)
                        c->persistent = (ev->connect.props.present & MQTT_HAS_SESSION_EXPIRY) &&
                                        ev->connect.props.session_expiry > 0;
                else
                        c->persistent = !(ev->connect.flags & MQTT_CONNECT_CLEAN);
                return true;
        case MQTT_EV_CLIENT_ID:
                free(c->cid);
                c->cid = NULL;
                c->cid_len = 0;
                if (ev->str.len && (c->cid = malloc(ev->str.len))) {
                        memcpy(c->cid, ev->str.ptr, ev->str.len);
                        c->cid_len = (uint16_t)ev->str.len;
                }
                return true;
        case MQTT_EV_WILL:
                c->will_pool = (int16_t)route_topic(plan, ev->will.topic.ptr, ev->will.topic.len);
                return true;
        case MQTT_EV_CONNECT_END:
                /* the CONNECT fitted the buffer; PUBLISH payloads stream */
                mqtt_parser__set_max_packet(&c->mp, 0);
                decide(lw, c);
                return c->f.state != CONN_CLOSING;
        case MQTT_EV_PUBLISH: return on_publish(lw, c, ev);
        case MQTT_EV_SUB_FILTER:
                keep_topic(lw, c, ev->filter.filter);
                if (c->f.state == CONN_OPEN && ev->filter.index == 0) {
                        conn__bind(lw, c,
                                   route_topic(plan, ev->filter.filter.ptr, ev->filter.filter.len),
                                   LB_BOUND_SUBSCRIBE);
                        return c->f.state != CONN_CLOSING;
                }
                return true;
        case MQTT_EV_PINGREQ: {
                uint8_t pkt[MQTT_PING_LEN];

                if (c->f.state == CONN_OPEN && c->self_connack &&
                    conn__own(c, pkt, (uint8_t)mqtt_encode__pingresp(pkt, sizeof(pkt)))) {
                        c->pings++;
                        STAT(lw, self_pingresp);
                }
                return true;
        }
        default: return true;
        }
}

static bool mqtt_feed(struct lb_worker *lw, struct conn *c, const uint8_t *b, uint32_t n)
{
        struct mqtt_event ev;
        size_t used;

        conn__rebase(lw, c);
        for (;;) {
                enum mqtt_status st = mqtt_parser__feed(&c->mp, b, n, &used, &ev);

                if (st == MQTT_ERROR) {
                        enum mqtt_err err = mqtt_parser__error(&c->mp);

                        c->parse_dead = true;
                        c->err = (uint8_t)err;
                        STAT(lw, malformed);
                        STAT(lw, malformed_by[err]);
                        if (c->f.state == CONN_SPLICED)
                                return true; /* the broker sees it too and decides */
                        conn__close_mqtt(lw, c, LB_VERDICT_MALFORMED, MQTT_RC_MALFORMED_PACKET,
                                         MQTT_V3_RC_UNACCEPTABLE_PROTOCOL_VERSION);
                        return false;
                }
                b += used;
                n -= (uint32_t)used;
                if (st != MQTT_EVENT)
                        return true;
                if (!on_event(lw, c, &ev))
                        return false;
                if (!n && ev.type == MQTT_EV_PUBLISH) /* nothing follows it without a byte */
                        return true;
        }
}

static bool mqtt_start(struct conn *c, const struct plan *plan)
{
        /* the CONNECT must fit the buffer whole (its fixed header is at
         * most 5 bytes): one that cannot is malformed at its fixed header,
         * before a byte of it is buffered; lifted once it is read */
        mqtt_parser__init(&c->mp, MQTT_DIR_C2S,
                          &(struct mqtt_limits){.max_string = plan->max_topic,
                                                .max_packet = plan->buffer_bytes - 5});
        return true;
}

/* A client that sent its CONNECT goes to the default pool (it published
 * nothing to route by); one that did not is closed. */
static void mqtt_timeout(struct lb_worker *lw, struct conn *c)
{
        if (c->connect_done)
                conn__bind(lw, c, c->plan->default_pool, LB_BOUND_TIMEOUT);
        else
                conn__close_client(lw, c, LB_VERDICT_TIMEOUT); /* counted by conn__end */
}

static void mqtt_refuse(struct lb_worker *lw, struct conn *c, enum lb_verdict v)
{
        conn__close_mqtt(lw, c, v, MQTT_RC_SERVER_UNAVAILABLE, MQTT_V3_RC_SERVER_UNAVAILABLE);
}

static size_t mqtt_mem(const struct conn *c)
{
        return mqtt_parser__mem(&c->mp);
}

static void mqtt_fini(struct conn *c)
{
        mqtt_parser__fini(&c->mp);
}

const struct binder binder_mqtt = {
    .start = mqtt_start,
    .feed = mqtt_feed,
    .timeout = mqtt_timeout,
    .refuse = mqtt_refuse,
    .mem = mqtt_mem,
    .stop = mqtt_fini,
    .fini = mqtt_fini,
};
