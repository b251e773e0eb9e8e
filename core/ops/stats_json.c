/*
 * The counters as JSON (stats__json): the shape docs/stats.md gives, which
 * `mqttlb stats --json` and scripts read. Writes into a stats_buf; reads
 * only the snapshot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops/stats-int.h"
#include "mqtt/topic.h"
#include "mqttsn/reader.h"
#include "tls/clienthello.h"

/* ---- JSON ----------------------------------------------------------------- */

#define JSON_DEPTH 8

struct jw {
        struct stats_buf *b;
        int depth;
        bool first[JSON_DEPTH];
};

static void json_string(struct stats_buf *b, const char *s)
{
        const char *run = s;

        stats__puts(b, "\"");
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                const char *esc = NULL;
                char u[8];

                switch (c) {
                case '"': esc = "\\\""; break;
                case '\\': esc = "\\\\"; break;
                case '\n': esc = "\\n"; break;
                case '\r': esc = "\\r"; break;
                case '\t': esc = "\\t"; break;
                default:
                        if (c < 0x20 || c == 0x7f) {
                                snprintf(u, sizeof(u), "\\u%04x", c);
                                esc = u;
                        }
                }
                if (!esc)
                        continue; /* bytes >= 0x80: UTF-8, passed through */
                stats_buf__put(b, run, (size_t)(s - run));
                stats__puts(b, esc);
                run = s + 1;
        }
        stats_buf__put(b, run, (size_t)(s - run));
        stats__puts(b, "\"");
}

/* A comma when needed, then "key": when in an object. */
static void jw_key(struct jw *j, const char *key)
{
        if (!j->first[j->depth])
                stats__puts(j->b, ",");
        j->first[j->depth] = false;
        if (key) {
                json_string(j->b, key);
                stats__puts(j->b, ":");
        }
}

static void jw_open(struct jw *j, const char *key, const char *bracket)
{
        jw_key(j, key);
        stats__puts(j->b, bracket);
        if (j->depth + 1 < JSON_DEPTH)
                j->first[++j->depth] = true;
}

static void jw_close(struct jw *j, const char *bracket)
{
        stats__puts(j->b, bracket);
        if (j->depth > 0)
                j->depth--;
}

static void jw_u64(struct jw *j, const char *key, uint64_t v)
{
        jw_key(j, key);
        stats_buf__printf(j->b, "%llu", (unsigned long long)v);
}

static void jw_str(struct jw *j, const char *key, const char *v)
{
        jw_key(j, key);
        json_string(j->b, v);
}

static void jw_bool(struct jw *j, const char *key, bool v)
{
        jw_key(j, key);
        stats__puts(j->b, v ? "true" : "false");
}

/* Worker counters under their JSON names: rx and tx as rx_packets and
 * tx_packets (CONTRACT.md's "packets rx/tx"), the rest by name. */
static const char *worker_json_name(size_t k)
{
        const char *n = worker_counter_names[k];

        return !strcmp(n, "rx") ? "rx_packets" : !strcmp(n, "tx") ? "tx_packets" : n;
}

int stats__json(const struct stats_snapshot *s, struct stats_buf *out)
{
        struct jw j = {.b = out, .first = {true}};
        const uint64_t *lv = stats__lb_values(s);

        jw_open(&j, NULL, "{");
        jw_key(&j, "uptime_s");
        stats_buf__printf(out, "%.3f", s->uptime_s);
        if (s->config_path[0])
                jw_str(&j, "config", s->config_path);
        jw_u64(&j, "reloads", s->reloads);

        jw_open(&j, "workers", "[");
        for (uint32_t w = 0; w < s->nworkers; w++) {
                const struct stats_worker *sw = &s->workers[w];
                const uint64_t *v = (const uint64_t *)&sw->dp;
                const uint64_t *kv = (const uint64_t *)&sw->kernel;

                jw_open(&j, NULL, "{");
                jw_u64(&j, "id", w);
                jw_u64(&j, "rx_packets", sw->dp.rx);
                jw_u64(&j, "tx_packets", sw->dp.tx);
                jw_u64(&j, "dropped", sw->dropped);
                for (size_t k = 0; k < WORKER_NCOUNTERS; k++)
                        if (strcmp(worker_counter_names[k], "rx") &&
                            strcmp(worker_counter_names[k], "tx"))
                                jw_u64(&j, worker_json_name(k), v[k]);
                for (size_t k = 0; k < DATAPLANE_NKERNEL; k++)
                        jw_u64(&j, dataplane_kernel_counter_names[k], kv[k]);
                jw_u64(&j, "connections_active", sw->conn_active);
                jw_close(&j, "}");
        }
        jw_close(&j, "]");

        jw_open(&j, "connections", "{");
        jw_u64(&j, "active", s->lb.conn_active);
        jw_u64(&j, "total", s->lb.conn_total);
        jw_open(&j, "bound", "{");
        jw_u64(&j, "connect", s->lb.bound_connect);
        jw_u64(&j, "publish", s->lb.bound_publish);
        jw_u64(&j, "subscribe", s->lb.bound_subscribe);
        jw_u64(&j, "timeout", s->lb.bound_timeout);
        jw_close(&j, "}");
        jw_close(&j, "}");

        jw_open(&j, "syncookies", "{");
        jw_u64(&j, "sent", s->lb.syncookies_sent);
        jw_u64(&j, "validated", s->lb.syncookies_validated);
        jw_u64(&j, "rejected", s->lb.syncookies_rejected);
        jw_close(&j, "}");

        jw_open(&j, "counters", "{");
        for (size_t k = 0; k < LB_NSTATS; k++)
                jw_u64(&j, lb_stat_names[k], lv[k]);
        jw_close(&j, "}");

        jw_open(&j, "malformed", "{");
        for (int e = MQTT_OK + 1; e < MQTT_ERR__COUNT; e++)
                jw_u64(&j, mqtt_err__str((enum mqtt_err)e), s->lb.malformed_by[e]);
        jw_close(&j, "}");

        jw_open(&j, "udp", "{");
        jw_u64(&j, "flows_active", s->lb.udp_flows_active);
        jw_u64(&j, "flows_total", s->lb.udp_flows_total);
        jw_u64(&j, "flows_moved", s->lb.udp_flows_moved);
        jw_u64(&j, "to_backends", s->lb.udp_to_backends);
        jw_u64(&j, "to_clients", s->lb.udp_to_clients);
        jw_u64(&j, "icmp_unreachable", s->lb.udp_icmp_unreachable);
        jw_open(&j, "dropped", "{");
        jw_u64(&j, "flows_full", s->lb.udp_flows_full);
        jw_u64(&j, "no_backend", s->lb.udp_no_backend);
        jw_u64(&j, "too_big", s->lb.udp_too_big);
        jw_u64(&j, "bad_checksum", s->lb.udp_bad_checksum);
        jw_u64(&j, "stray", s->lb.udp_stray);
        jw_close(&j, "}");
        jw_close(&j, "}");

        jw_open(&j, "mqttsn", "{");
        jw_u64(&j, "connects", s->lb.mqttsn_connects);
        jw_u64(&j, "rebound", s->lb.mqttsn_rebound);
        jw_u64(&j, "malformed", s->lb.mqttsn_malformed);
        jw_open(&j, "malformed_by", "{");
        for (int e = MQTTSN_OK + 1; e < MQTTSN_ERR__COUNT; e++)
                jw_u64(&j, mqttsn_err__str((enum mqttsn_err)e), s->lb.mqttsn_malformed_by[e]);
        jw_close(&j, "}");
        jw_close(&j, "}");

        jw_open(&j, "tls", "{");
        jw_u64(&j, "client_hellos", s->lb.tls_hellos);
        jw_open(&j, "bound", "{");
        jw_u64(&j, "sni", s->lb.tls_bound_sni);
        jw_u64(&j, "alpn", s->lb.tls_bound_alpn);
        jw_u64(&j, "default", s->lb.tls_bound_default);
        jw_close(&j, "}");
        jw_u64(&j, "malformed", s->lb.tls_malformed);
        jw_open(&j, "malformed_by", "{");
        for (int e = TLS_HELLO_OK + 1; e < TLS_HELLO_ERR__COUNT; e++)
                jw_u64(&j, tls_hello_err__str((enum tls_hello_err)e), s->lb.tls_malformed_by[e]);
        jw_close(&j, "}");
        jw_close(&j, "}");

        jw_open(&j, "pools", "[");
        for (uint32_t i = 0; i < s->npools; i++) {
                const struct stats_pool *p = &s->pools[i];

                jw_open(&j, NULL, "{");
                jw_str(&j, "name", p->name);
                jw_str(&j, "balance", p->balance);
                jw_open(&j, "brokers", "[");
                for (uint32_t b = 0; b < p->nbrokers; b++) {
                        const struct stats_broker *sb = &p->brokers[b];

                        jw_open(&j, NULL, "{");
                        jw_str(&j, "name", sb->name);
                        jw_str(&j, "state", stats_health__str(sb->health));
                        jw_u64(&j, "active", sb->c.active);
                        jw_u64(&j, "total", sb->c.total);
                        jw_u64(&j, "publishes", sb->c.publishes);
                        jw_u64(&j, "publish_bytes", sb->c.publish_bytes);
                        jw_u64(&j, "failures", sb->c.failures);
                        jw_u64(&j, "datagrams_to", sb->c.datagrams_to);
                        jw_u64(&j, "bytes_to", sb->c.bytes_to);
                        jw_u64(&j, "datagrams_from", sb->c.datagrams_from);
                        jw_u64(&j, "bytes_from", sb->c.bytes_from);
                        jw_close(&j, "}");
                }
                jw_close(&j, "]");
                jw_close(&j, "}");
        }
        jw_close(&j, "]");

        jw_open(&j, "xdp", "[");
        for (uint32_t i = 0; i < s->nxdp; i++) {
                jw_open(&j, NULL, "{");
                jw_str(&j, "interface", s->xdp[i].ifname);
                jw_bool(&j, "available", s->xdp[i].ok);
                for (uint32_t c = 0; c < LB_CNT__MAX; c++)
                        jw_u64(&j, lb_counter__name(c), s->xdp[i].c[c]);
                jw_close(&j, "}");
        }
        jw_close(&j, "]");
        jw_close(&j, "}");
        stats__puts(out, "\n");
        return out->err;
}
