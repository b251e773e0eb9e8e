/*
 * The start of an MQTT broker's stream (struct conn_prefix): its CONNACK and
 * the PINGRESPs answering PINGREQs the balancer answered already, read by an
 * MQTT_DIR_S2C parser kept while the prefix lasts. When the balancer
 * answered the client's CONNECT itself, these bytes are consumed (the client
 * has its answers) and the broker's stream maps onto the client leg after
 * them (conn__map_s2c); otherwise they are only observed: the CONNACK's code
 * for the verdict, its Topic Alias Maximum for the client's parser. A TLS
 * broker's stream is not read.
 */
#include <stdlib.h>

#include "core/lb/lb_conn.h"

/* The prefix is over (read, or given up): its parser goes. */
static void prefix_end(struct conn *c)
{
        c->pre.done = true;
        if (c->pre.mp) {
                mqtt_parser__fini(c->pre.mp);
                free(c->pre.mp);
                c->pre.mp = NULL;
        }
}

/* A prefix packet read: the CONNACK (its code kept; v5 and read by the
 * client itself: the topic aliases the broker allows it), a PINGRESP. */
static void prefix_event(struct conn *c, const struct mqtt_event *ev)
{
        if (ev->type == MQTT_EV_CONNACK) {
                c->pre.connack = true;
                c->refusal = ev->connack.code;
                if (!c->pre.consume && (ev->connack.caps.present & MQTT_HAS_TOPIC_ALIAS_MAX))
                        mqtt_parser__set_alias_max(&c->mp, ev->connack.caps.topic_alias_max);
        } else if (c->pre.pings) {
                c->pre.pings--;
        }
}

/*
 * Reads the start of the broker's stream through its parser: the CONNACK,
 * then the PINGRESPs answering PINGREQs we already answered. Returns how
 * many of b[0..n) belong to that prefix; ends it after its last packet, or
 * at the first packet that is not the one expected, or at a protocol error
 * (nothing more is consumed then: the client sees the rest as it is).
 */
static uint32_t prefix_read(struct conn *c, const uint8_t *b, uint32_t n)
{
        struct conn_prefix *pre = &c->pre;
        uint32_t i = 0;

        while (i < n && !pre->done) {
                uint8_t want = (pre->connack ? MQTT_PINGRESP : MQTT_CONNACK) << 4;
                struct mqtt_event ev;
                enum mqtt_status st;
                size_t used;

                if (mqtt_parser__at_boundary(pre->mp) && b[i] != want)
                        break; /* another packet: the prefix is over */
                st = mqtt_parser__feed(pre->mp, b + i, n - i, &used, &ev);
                if (st == MQTT_ERROR)
                        break;
                i += (uint32_t)used;
                if (st == MQTT_EVENT)
                        prefix_event(c, &ev);
                if (pre->connack && !pre->pings)
                        prefix_end(c);
        }
        if (i < n)
                prefix_end(c);
        return i;
}

bool conn__prefix_start(struct conn *c)
{
        c->pre.consume = c->self_connack;
        c->pre.pings = c->pings;
        if (c->proto != PLAN_PROTO_MQTT) {
                c->pre.done = true; /* a TLS stream: nothing of it is the balancer's */
                return true;
        }
        if (!(c->pre.mp = malloc(sizeof(*c->pre.mp))))
                return false;
        mqtt_parser__init(c->pre.mp, MQTT_DIR_S2C, NULL);
        if (c->version)
                mqtt_parser__set_version(c->pre.mp, (enum mqtt_version)c->version);
        return true;
}

void conn__prefix_free(struct conn *c)
{
        prefix_end(c);
}

/* The broker refused the CONNECT we had accepted for it: the client hears
 * the reason (v5) and is closed. */
static void refused(struct lb_worker *lw, struct conn *c)
{
        STAT(lw, refused);
        conn__close_mqtt(lw, c, LB_VERDICT_REFUSED, c->refusal, c->refusal);
}

bool conn__prefix_segment(struct lb_worker *lw, struct conn *c, const struct seg *s, uint32_t *off)
{
        bool fin = s->flags & TCP_OUT_FIN;

        *off = 0;
        if (c->pre.consume) {
                uint32_t skip = c->brk.t.rcv_nxt - s->seq, used;

                if (seq_lt(c->brk.t.rcv_nxt, s->seq) || (skip >= s->len && !fin)) {
                        conn__send_broker_ack(lw, c);
                        return false; /* out of order, or old */
                }
                used = skip < s->len ? prefix_read(c, s->payload + skip, s->len - skip) : 0;
                c->brk.t.rcv_nxt += used;
                c->pre.consumed += used;
                c->brk.t.rcv_acked = c->brk.t.rcv_nxt;
                *off = skip + used;
                if (c->pre.done)
                        conn__map_s2c(c);
        } else if (s->seq == c->brk.t.rcv_nxt) {
                c->brk.t.rcv_nxt += prefix_read(c, s->payload, s->len);
        } else {
                prefix_end(c); /* only observing: give up */
        }
        if (c->pre.done && c->refusal && c->pre.consume) {
                refused(lw, c);
                return false;
        }
        if (c->pre.consume && (!c->pre.done || (*off >= s->len && !fin))) {
                conn__send_broker_ack(lw, c);
                return false;
        }
        return true;
}
