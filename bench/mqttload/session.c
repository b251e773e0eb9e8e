/*
 * The MQTT session of one client (load.h), per mode: CONNECT, SUBSCRIBE for
 * sub, publishing within the QoS window and the token bucket for pub,
 * acknowledging what arrives (QoS 1 PUBACK; QoS 2 PUBREC, then PUBCOMP on
 * PUBREL), keepalive, and the counting: messages, stamps, latency,
 * duplicates. Queues bytes with conn__tx_*; never touches the socket or the
 * ring (engine.c).
 */
#include "bench/mqttload/load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/mqttload/stamp.h"

/* A publisher queues at most this much behind the send in flight. */
#define PUB_BACKLOG (64u << 10)

static const struct load_cfg *cfg_of(const struct conn *c)
{
        return &c->t->l->cfg;
}

uint32_t session__inflight(const struct conn *c)
{
        return c->slots ? cfg_of(c)->inflight - c->nfree : 0;
}

void session__reset(struct conn *c)
{
        const struct load_cfg *cfg = cfg_of(c);

        c->ping_out = false;
        c->window = cfg->inflight;
        if (c->slots) {
                /* what was in flight on a dropped connection stays unacked */
                memset(c->slots, 0, cfg->inflight * sizeof(*c->slots));
                for (uint32_t s = 0; s < cfg->inflight; s++)
                        c->free_slots[s] = (uint16_t)(cfg->inflight - 1 - s);
                c->nfree = cfg->inflight;
        }
        if (c->qos2_rx)
                memset(c->qos2_rx, 0, 65536 / 8);
}

static bool queue_ack(struct conn *c, enum mqttc_type type, uint16_t pid)
{
        uint8_t *p = conn__tx_reserve(c, MQTTC_ACK_LEN);

        if (!p)
                return false;
        conn__tx_commit(c, (uint32_t)mqttc__ack(p, type, pid));
        return true;
}

int session__connect(struct conn *c)
{
        const struct load_cfg *cfg = cfg_of(c);
        struct mqttc_connect m = {
            .version = cfg->version,
            .keepalive = cfg->keepalive,
            .clean = true,
            .client_id = c->cid,
            .username = cfg->username,
            .password = cfg->password,
        };
        uint8_t *p = conn__tx_reserve(c, (uint32_t)mqttc__connect_max(&m));

        if (!p)
                return -ENOMEM;
        conn__tx_commit(c, (uint32_t)mqttc__connect(p, &m));
        return 0;
}

/* The packet id of window slot s: (pid - 1) % inflight == s, and the ids
 * of one slot rotate through 1..65535 (§2.3.1: never 0). */
static uint16_t slot_pid(struct conn *c, uint32_t s)
{
        uint32_t w = cfg_of(c)->inflight, rounds = 65535 / w;

        return (uint16_t)((c->pid_gen++ % rounds) * w + s + 1);
}

void session__fill(struct conn *c)
{
        struct load_thread *t = c->t;
        const struct load_cfg *cfg = cfg_of(c);
        uint32_t stamp_len = cfg->size >= STAMP_FULL      ? STAMP_FULL
                             : cfg->size >= STAMP_COMPACT ? STAMP_COMPACT
                                                          : 0;
        uint32_t max = MQTTC_PUBLISH_HEAD_MAX(c->topic_len) + cfg->size;
        uint32_t backlog = PUB_BACKLOG > 2 * max ? PUB_BACKLOG : 2 * max;
        uint64_t ts = 0, sent = 0;

        if (cfg->mode != LOAD_PUB || c->state != CS_RUN)
                return;
        while (!cfg->count || c->seq < cfg->count) {
                struct stamp s;
                uint16_t pid = 0;
                uint8_t *p;
                size_t n;

                if (cfg->qos && session__inflight(c) >= c->window)
                        break;
                if (cfg->rate > 0 && c->tokens < 1)
                        break;
                if (c->txp_len >= backlog)
                        break;
                p = conn__tx_reserve(c, max);
                if (!p)
                        break;
                if (cfg->qos) {
                        uint32_t slot = c->free_slots[--c->nfree];

                        pid = slot_pid(c, slot);
                        c->slots[slot].pid = pid;
                        c->slots[slot].state = 1;
                }
                if (!ts)
                        ts = load_now_ns();
                n = mqttc__publish_head(p, cfg->version, c->topic, c->topic_len, cfg->qos, false,
                                        pid, cfg->size);
                s.pubid = cfg->pubid_base + c->idx;
                s.seq = c->seq;
                s.ts_ns = ts;
                stamp__write(p + n, cfg->size, &s);
                memcpy(p + n + stamp_len, t->payload + stamp_len, cfg->size - stamp_len);
                conn__tx_commit(c, (uint32_t)n + cfg->size);
                c->seq++;
                sent++;
                if (cfg->rate > 0)
                        c->tokens -= 1;
        }
        if (sent) {
                if (!t->st.first_msg_ns)
                        stat_set(&t->st.first_msg_ns, ts);
                stat_add(&t->st.sent, sent);
        }
        if (cfg->count && c->seq >= cfg->count && !session__inflight(c))
                conn__bye(c);
}

void session__stop(struct conn *c)
{
        if (c->state != CS_RUN && c->state != CS_DRAIN)
                return;
        if (session__inflight(c)) {
                c->state = CS_DRAIN;
                return;
        }
        conn__bye(c);
}

bool session__keepalive(struct conn *c)
{
        const struct load_cfg *cfg = cfg_of(c);
        uint64_t ka = (uint64_t)cfg->keepalive * 1000000000ull, now = c->t->now;
        uint8_t *p;

        if (!ka)
                return true;
        if (c->ping_out)
                return now - c->ping_at < ka; /* §3.1.2.10: a PINGRESP within keepalive */
        if (now - c->last_tx < ka / 2)
                return true;
        p = conn__tx_reserve(c, MQTTC_PINGREQ_LEN);
        if (p) {
                conn__tx_commit(c, (uint32_t)mqttc__pingreq(p));
                c->ping_out = true;
                c->ping_at = now;
        }
        return true;
}

static void sub_complete(struct conn *c)
{
        struct load_thread *t = c->t;

        if (c->complete)
                return;
        c->complete = true;
        if (++t->subs_complete == t->nconns)
                load_thread__stop(t);
}

static enum load_fail on_connack(struct conn *c, const struct mqttc_pkt *p)
{
        struct load_thread *t = c->t;
        const struct load_cfg *cfg = cfg_of(c);

        if (c->state != CS_CONNACK)
                return FAIL_PROTOCOL;
        if (p->rc)
                return FAIL_CONNACK;
        hist__add(&t->conn_lat, t->now - c->t_start);
        stat_add(&t->st.connects, 1);
        stat_set(&t->st.last_conn_ns, t->now);
        if (c->ever_connected)
                stat_add(&t->st.reconnects, 1);
        else
                stat_add(&t->st.connected, 1);
        c->ever_connected = true;
        c->up = true;
        stat_add(&t->st.up, 1);
        if (t->st.storm_start_ns && !t->st.storm_end_ns && t->st.up == t->st.connected)
                stat_set(&t->st.storm_end_ns, t->now);
        /* 5.0 §3.2.2.3.3: never more QoS 1/2 in flight than the broker takes */
        if (p->receive_max && p->receive_max < c->window)
                c->window = p->receive_max;
        c->last_tx = t->now;
        if (cfg->mode == LOAD_SUB) {
                uint8_t *b = conn__tx_reserve(c, (uint32_t)mqttc__subscribe_max(c->topic_len));

                if (!b)
                        return FAIL_OTHER;
                conn__tx_commit(c, (uint32_t)mqttc__subscribe(b, cfg->version, 1, c->topic,
                                                              c->topic_len, cfg->qos));
                c->state = CS_SUBACK;
                return FAIL_NONE;
        }
        conn__running(c);
        return FAIL_NONE;
}

static enum load_fail on_suback(struct conn *c, const struct mqttc_pkt *p)
{
        if (c->state != CS_SUBACK || p->pid != 1) {
                if (!c->t->protocol_error)
                        c->t->protocol_error = "SUBACK not answering our SUBSCRIBE";
                return FAIL_PROTOCOL;
        }
        /* §3.9.3: 0x80 (5.0: any code >= 0x80) is a refusal */
        if (!p->ncodes || p->codes[0] >= 0x80)
                return FAIL_SUBACK;
        conn__running(c);
        return FAIL_NONE;
}

static void count_message(struct conn *c, const struct mqttc_pkt *p)
{
        struct load_thread *t = c->t;
        const struct load_cfg *cfg = cfg_of(c);
        struct stamp s;

        stat_add(&t->st.received, 1);
        c->received++;
        if (!t->st.first_msg_ns)
                stat_set(&t->st.first_msg_ns, t->now);
        stat_set(&t->st.last_msg_ns, t->now);
        if (stamp__read(p->payload, p->payload_len, &s)) {
                bool reached;

                if (t->now >= s.ts_ns)
                        hist__add(&t->lat, t->now - s.ts_ns);
                switch (track_table__mark(&t->tracks, c->idx, s.pubid, s.seq, &reached)) {
                case TRACK_NEW: break;
                case TRACK_DUP: stat_add(&t->st.duplicated, 1); break;
                case TRACK_UNTRACKED:
                case TRACK_NOMEM: stat_add(&t->st.untracked, 1); break;
                }
                if (reached && cfg->publishers && ++c->tracks_complete == cfg->publishers)
                        sub_complete(c);
        } else {
                stat_add(&t->st.unstamped, 1);
        }
        if (cfg->mode == LOAD_SUB && cfg->count && c->received == cfg->count)
                sub_complete(c);
}

static enum load_fail on_publish(struct conn *c, const struct mqttc_pkt *p)
{
        if (c->state == CS_CONNACK)
                return FAIL_PROTOCOL;
        if (p->qos == 1 && !queue_ack(c, MQTTC_PUBACK, p->pid))
                return FAIL_OTHER;
        if (p->qos == 2) {
                uint64_t bit = 1ull << (p->pid % 64);

                if (!c->qos2_rx && !(c->qos2_rx = calloc(65536 / 64, sizeof(uint64_t))))
                        return FAIL_OTHER;
                if (!queue_ack(c, MQTTC_PUBREC, p->pid))
                        return FAIL_OTHER;
                /* §4.3.3: a PUBLISH resent before our PUBREC arrived is not
                 * a second delivery */
                if (c->qos2_rx[p->pid / 64] & bit)
                        return FAIL_NONE;
                c->qos2_rx[p->pid / 64] |= bit;
        }
        count_message(c, p);
        return FAIL_NONE;
}

static enum load_fail on_pubrel(struct conn *c, const struct mqttc_pkt *p)
{
        if (c->qos2_rx)
                c->qos2_rx[p->pid / 64] &= ~(1ull << (p->pid % 64));
        return queue_ack(c, MQTTC_PUBCOMP, p->pid) ? FAIL_NONE : FAIL_OTHER;
}

/* PUBACK (QoS 1), PUBREC then PUBCOMP (QoS 2) for what this client sent */
static enum load_fail on_pub_ack(struct conn *c, const struct mqttc_pkt *p)
{
        struct load_thread *t = c->t;
        const struct load_cfg *cfg = cfg_of(c);
        uint8_t want = p->type == MQTTC_PUBCOMP ? 2 : 1;
        uint32_t s;

        if (!c->slots || (p->type == MQTTC_PUBACK) != (cfg->qos == 1))
                goto unexpected;
        s = (uint32_t)(p->pid - 1) % cfg->inflight;
        if (c->slots[s].pid != p->pid || c->slots[s].state != want)
                goto unexpected;
        if (p->type == MQTTC_PUBREC && p->rc < 0x80) {
                if (!queue_ack(c, MQTTC_PUBREL, p->pid))
                        return FAIL_OTHER;
                c->slots[s].state = 2;
                return FAIL_NONE;
        }
        /* 5.0 §4.3.3: a PUBREC >= 0x80 ends the exchange as well */
        if (p->rc >= 0x80) {
                stat_add(&t->st.rejected, 1);
        } else {
                stat_add(&t->st.acked, 1);
                stat_set(&t->st.last_msg_ns, t->now);
        }
        c->slots[s].state = 0;
        c->free_slots[c->nfree++] = (uint16_t)s;
        if (c->state == CS_DRAIN) {
                if (!session__inflight(c))
                        conn__bye(c);
        } else {
                session__fill(c);
        }
        return FAIL_NONE;
unexpected:
        if (!t->protocol_error)
                t->protocol_error = "an acknowledgement for no message in flight";
        return FAIL_PROTOCOL;
}

enum load_fail session__packet(struct conn *c, const struct mqttc_pkt *p)
{
        switch (p->type) {
        case MQTTC_CONNACK: return on_connack(c, p);
        case MQTTC_SUBACK: return on_suback(c, p);
        case MQTTC_PUBLISH: return on_publish(c, p);
        case MQTTC_PUBACK:
        case MQTTC_PUBREC:
        case MQTTC_PUBCOMP: return on_pub_ack(c, p);
        case MQTTC_PUBREL: return on_pubrel(c, p);
        case MQTTC_PINGRESP: c->ping_out = false; return FAIL_NONE;
        case MQTTC_DISCONNECT: return FAIL_DISCONNECT;
        default: return FAIL_NONE; /* UNSUBACK, AUTH: nothing asked, nothing to do */
        }
}
