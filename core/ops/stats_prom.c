/*
 * The counters as Prometheus text format 0.0.4 (stats__prometheus): every
 * family of docs/stats.md, HELP and TYPE before its samples, names and label
 * values escaped. Writes into a stats_buf; reads only the snapshot.
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

/* ---- Prometheus text format 0.0.4 ----------------------------------------- */

/* HELP text: backslash and newline escaped. */
static void prom_help_text(struct stats_buf *b, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        stats__puts(b, "\\\\");
                else if (*s == '\n')
                        stats__puts(b, "\\n");
                else
                        stats_buf__put(b, s, 1);
        }
}

/* Label value: backslash, double quote and newline escaped. */
static void prom_label_value(struct stats_buf *b, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        stats__puts(b, "\\\\");
                else if (*s == '"')
                        stats__puts(b, "\\\"");
                else if (*s == '\n')
                        stats__puts(b, "\\n");
                else
                        stats_buf__put(b, s, 1);
        }
}

static void prom_family(struct stats_buf *b, const char *name, const char *type, const char *help)
{
        stats_buf__printf(b, "# HELP %s ", name);
        prom_help_text(b, help);
        stats_buf__printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{k="v",...} (labels: NULL-terminated key, value pairs; may be NULL). */
static void prom_name(struct stats_buf *b, const char *name, const char *const *labels)
{
        stats__puts(b, name);
        if (!labels || !labels[0])
                return;
        stats__puts(b, "{");
        for (size_t i = 0; labels[i]; i += 2) {
                stats_buf__printf(b, "%s%s=\"", i ? "," : "", labels[i]);
                prom_label_value(b, labels[i + 1]);
                stats__puts(b, "\"");
        }
        stats__puts(b, "}");
}

static void prom_u64(struct stats_buf *b, const char *name, const char *const *labels, uint64_t v)
{
        prom_name(b, name, labels);
        stats_buf__printf(b, " %llu\n", (unsigned long long)v);
}

/* The Prometheus name of balancer counter k: conn_active and conn_total as
 * connections_*, buffer_held and buffer_cached as the gauges *_bytes, udp_flows_active
 * and connect_waiting as gauges of their names, malformed as
 * malformed_connections_total (malformed_total is the family by reason), the rest NAME_total. */
static void lb_prom_name(size_t k, char *out, size_t n, const char **type)
{
        const char *name = lb_stat_names[k];

        *type = "counter";
        if (!strcmp(name, "conn_active")) {
                snprintf(out, n, "mqttlb_connections_active");
                *type = "gauge";
        } else if (!strcmp(name, "buffer_held") || !strcmp(name, "buffer_cached")) {
                snprintf(out, n, "mqttlb_%s_bytes", name);
                *type = "gauge";
        } else if (!strcmp(name, "mqttsn_malformed")) {
                snprintf(out, n, "mqttlb_mqttsn_malformed_datagrams_total");
        } else if (!strcmp(name, "udp_flows_active") || !strcmp(name, "connect_waiting")) {
                snprintf(out, n, "mqttlb_%s", name);
                *type = "gauge";
        } else if (!strcmp(name, "conn_total")) {
                snprintf(out, n, "mqttlb_connections_total");
        } else if (!strcmp(name, "malformed") || !strcmp(name, "tls_malformed")) {
                /* the _total family is the one by reason */
                snprintf(out, n, "mqttlb_%s_connections_total", name);
        } else {
                snprintf(out, n, "mqttlb_%s_total", name);
        }
}

static void prom_workers(const struct stats_snapshot *s, struct stats_buf *b)
{
        char id[16], name[96], help[192];

        prom_family(b, "mqttlb_packets_total", "counter",
                    "frames a worker received (rx) from its ports or handed to them for sending "
                    "(tx)");
        for (int dir = 0; dir < 2; dir++)
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(
                            b, "mqttlb_packets_total",
                            (const char *[]){"worker", id, "direction", dir ? "tx" : "rx", NULL},
                            dir ? s->workers[w].dp.tx : s->workers[w].dp.rx);
                }

        prom_family(b, "mqttlb_dropped_total", "counter",
                    "frames a worker dropped, by reason (the worker counters drop_REASON)");
        for (size_t k = 0; k < WORKER_NCOUNTERS; k++) {
                if (!stats__is_drop(worker_counter_names[k]))
                        continue;
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(b, "mqttlb_dropped_total",
                                 (const char *[]){"worker", id, "reason",
                                                  worker_counter_names[k] + 5, NULL},
                                 ((const uint64_t *)&s->workers[w].dp)[k]);
                }
        }

        /* The other worker counters, one family each. */
        for (size_t k = 0; k < WORKER_NCOUNTERS; k++) {
                const char *n = worker_counter_names[k];

                if (stats__is_drop(n) || !strcmp(n, "rx") || !strcmp(n, "tx"))
                        continue;
                snprintf(name, sizeof(name), "mqttlb_%s_total", n);
                prom_family(b, name, "counter", worker_counter_docs[k]);
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(b, name, (const char *[]){"worker", id, NULL},
                                 ((const uint64_t *)&s->workers[w].dp)[k]);
                }
        }

        for (size_t k = 0; k < DATAPLANE_NKERNEL; k++) {
                snprintf(name, sizeof(name), "mqttlb_%s_total", dataplane_kernel_counter_names[k]);
                snprintf(help, sizeof(help), "%s (XDP_STATISTICS of the worker's sockets)",
                         stats_kernel_docs[k]);
                prom_family(b, name, "counter", help);
                for (uint32_t w = 0; w < s->nworkers; w++) {
                        if (!s->workers[w].has_kernel)
                                continue;
                        snprintf(id, sizeof(id), "%u", w);
                        prom_u64(b, name, (const char *[]){"worker", id, NULL},
                                 ((const uint64_t *)&s->workers[w].kernel)[k]);
                }
        }

        prom_family(b, "mqttlb_worker_connections_active", "gauge",
                    "client connections open now, per worker");
        for (uint32_t w = 0; w < s->nworkers; w++) {
                snprintf(id, sizeof(id), "%u", w);
                prom_u64(b, "mqttlb_worker_connections_active",
                         (const char *[]){"worker", id, NULL}, s->workers[w].conn_active);
        }
}

/* One family per broker counter. */
struct broker_family {
        const char *name, *type, *help;
        size_t off;
};

static const struct broker_family BROKER_FAMILIES[] = {
    {"mqttlb_broker_connections_active", "gauge",
     "client connections spliced to the broker and open now",
     offsetof(struct lb_broker_stats, active)},
    {"mqttlb_broker_connections_total", "counter",
     "client connections spliced to the broker (its leg established)",
     offsetof(struct lb_broker_stats, total)},
    {"mqttlb_broker_publishes_total", "counter",
     "PUBLISH packets from clients counted against the broker",
     offsetof(struct lb_broker_stats, publishes)},
    {"mqttlb_broker_publish_bytes_total", "counter", "bytes of those PUBLISH packets",
     offsetof(struct lb_broker_stats, publish_bytes)},
    {"mqttlb_broker_failures_total", "counter",
     "legs to the broker given up before they were established (no SYN-ACK after the "
     "retries, a reset, no route, no free local port)",
     offsetof(struct lb_broker_stats, failures)},
    {"mqttlb_broker_datagrams_to_total", "counter",
     "UDP datagrams the balancer sent to the backend (udp listeners)",
     offsetof(struct lb_broker_stats, datagrams_to)},
    {"mqttlb_broker_bytes_to_total", "counter", "payload bytes of those datagrams",
     offsetof(struct lb_broker_stats, bytes_to)},
    {"mqttlb_broker_datagrams_from_total", "counter",
     "UDP datagrams from the backend sent back to clients",
     offsetof(struct lb_broker_stats, datagrams_from)},
    {"mqttlb_broker_bytes_from_total", "counter", "payload bytes of those datagrams",
     offsetof(struct lb_broker_stats, bytes_from)},
};

static void prom_pools(const struct stats_snapshot *s, struct stats_buf *b)
{
        prom_family(b, "mqttlb_pool_info", "gauge",
                    "the pools of the current plan and their balance policy (always 1)");
        for (uint32_t i = 0; i < s->npools; i++)
                prom_u64(b, "mqttlb_pool_info",
                         (const char *[]){"pool", s->pools[i].name, "balance", s->pools[i].balance,
                                          NULL},
                         1);

        prom_family(b, "mqttlb_broker_up", "gauge",
                    "1 when the health checks say the broker is up, 0 when down; absent while "
                    "unknown");
        for (uint32_t i = 0; i < s->npools; i++)
                for (uint32_t k = 0; k < s->pools[i].nbrokers; k++) {
                        const struct stats_broker *sb = &s->pools[i].brokers[k];

                        if (sb->health == STATS_HEALTH_UNKNOWN)
                                continue;
                        prom_u64(
                            b, "mqttlb_broker_up",
                            (const char *[]){"pool", s->pools[i].name, "broker", sb->name, NULL},
                            sb->health == STATS_HEALTH_UP);
                }

        for (size_t f = 0; f < sizeof(BROKER_FAMILIES) / sizeof(BROKER_FAMILIES[0]); f++) {
                const struct broker_family *bf = &BROKER_FAMILIES[f];

                prom_family(b, bf->name, bf->type, bf->help);
                for (uint32_t i = 0; i < s->npools; i++)
                        for (uint32_t k = 0; k < s->pools[i].nbrokers; k++) {
                                const struct stats_broker *sb = &s->pools[i].brokers[k];
                                uint64_t v;

                                memcpy(&v, (const char *)&sb->c + bf->off, sizeof(v));
                                prom_u64(b, bf->name,
                                         (const char *[]){"pool", s->pools[i].name, "broker",
                                                          sb->name, NULL},
                                         v);
                        }
        }
}

int stats__prometheus(const struct stats_snapshot *s, struct stats_buf *out)
{
        const uint64_t *lv = stats__lb_values(s);
        char name[96];
        const char *type;

        prom_family(out, "mqttlb_uptime_seconds", "gauge", "seconds since mqttlb started");
        stats_buf__printf(out, "mqttlb_uptime_seconds %.3f\n", s->uptime_s);
        prom_family(out, "mqttlb_reloads_total", "counter",
                    "configuration reloads applied (SIGHUP)");
        prom_u64(out, "mqttlb_reloads_total", NULL, s->reloads);

        prom_workers(s, out);

        for (size_t k = 0; k < LB_NSTATS; k++) {
                lb_prom_name(k, name, sizeof(name), &type);
                prom_family(out, name, type, lb_stat_docs[k]);
                prom_u64(out, name, NULL, lv[k]);
        }
        prom_family(out, "mqttlb_malformed_total", "counter",
                    "client streams that broke the MQTT protocol, by the parser's reason");
        for (int e = MQTT_OK + 1; e < MQTT_ERR__COUNT; e++)
                prom_u64(out, "mqttlb_malformed_total",
                         (const char *[]){"reason", mqtt_err__str((enum mqtt_err)e), NULL},
                         s->lb.malformed_by[e]);
        prom_family(out, "mqttlb_mqttsn_malformed_total", "counter",
                    "MQTT-SN datagrams dropped as malformed, by the reader's reason");
        for (int e = MQTTSN_OK + 1; e < MQTTSN_ERR__COUNT; e++)
                prom_u64(out, "mqttlb_mqttsn_malformed_total",
                         (const char *[]){"reason", mqttsn_err__str((enum mqttsn_err)e), NULL},
                         s->lb.mqttsn_malformed_by[e]);
        prom_family(out, "mqttlb_tls_malformed_total", "counter",
                    "TLS listeners' client streams that were not a ClientHello we accept, by "
                    "reason");
        for (int e = TLS_HELLO_OK + 1; e < TLS_HELLO_ERR__COUNT; e++)
                prom_u64(
                    out, "mqttlb_tls_malformed_total",
                    (const char *[]){"reason", tls_hello_err__str((enum tls_hello_err)e), NULL},
                    s->lb.tls_malformed_by[e]);

        prom_pools(s, out);

        prom_family(out, "mqttlb_xdp_frames_total", "counter",
                    "frames the XDP redirector saw, by interface and outcome (each frame moves "
                    "exactly one)");
        for (uint32_t c = 0; c < LB_CNT__MAX; c++)
                for (uint32_t i = 0; i < s->nxdp; i++) {
                        if (!s->xdp[i].ok)
                                continue;
                        prom_u64(out, "mqttlb_xdp_frames_total",
                                 (const char *[]){"interface", s->xdp[i].ifname, "outcome",
                                                  lb_counter__name(c), NULL},
                                 s->xdp[i].c[c]);
                }
        return out->err;
}
