/*
 * The counters as a table for people (stats__text, `mqttlb stats`). Writes
 * into a stats_buf; reads only the snapshot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops/stats-int.h"
#include "mqtt/topic.h"
#include "tls/clienthello.h"

/* ---- the table for people ------------------------------------------------- */

#define TABLE_COLS 12

/* Rows of cells, printed with every column as wide as its widest cell; the
 * first row is the heading. Columns flagged in right are right-aligned. */
struct table {
        uint32_t ncols, ncells, cap;
        char **cells;
        size_t width[TABLE_COLS];
        uint32_t right; /* bit per column */
        int err;
};

static void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void table_cell(struct table *t, const char *fmt, ...)
{
        va_list ap;
        char *c = NULL;
        size_t len;

        if (t->err)
                return;
        if (t->ncells == t->cap) {
                uint32_t cap = t->cap ? t->cap * 2 : 64;
                char **p = realloc(t->cells, cap * sizeof(*p));

                if (!p) {
                        t->err = -ENOMEM;
                        return;
                }
                t->cells = p;
                t->cap = cap;
        }
        va_start(ap, fmt);
        if (vasprintf(&c, fmt, ap) < 0) {
                va_end(ap);
                t->err = -ENOMEM;
                return;
        }
        va_end(ap);
        len = strlen(c);
        if (len > t->width[t->ncells % t->ncols])
                t->width[t->ncells % t->ncols] = len;
        t->cells[t->ncells++] = c;
}

static void table_print(struct table *t, struct stats_buf *b)
{
        if (t->err) {
                b->err = b->err ? b->err : t->err;
        } else {
                for (uint32_t i = 0; i < t->ncells; i++) {
                        uint32_t col = i % t->ncols;
                        int w = (int)t->width[col];
                        bool last = col == t->ncols - 1;

                        if (t->right & (1u << col))
                                stats_buf__printf(b, "%*s", w, t->cells[i]);
                        else if (last)
                                stats_buf__printf(b, "%s", t->cells[i]);
                        else
                                stats_buf__printf(b, "%-*s", w, t->cells[i]);
                        stats__puts(b, last ? "\n" : "  ");
                }
        }
        for (uint32_t i = 0; i < t->ncells; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (struct table){0};
}

static void text_uptime(struct stats_buf *b, double up)
{
        uint64_t s = (uint64_t)up;

        if (s >= 86400)
                stats_buf__printf(b, "%llud ", (unsigned long long)(s / 86400));
        if (s >= 3600)
                stats_buf__printf(b, "%lluh ", (unsigned long long)(s / 3600 % 24));
        if (s >= 60)
                stats_buf__printf(b, "%llum ", (unsigned long long)(s / 60 % 60));
        stats_buf__printf(b, "%llus", (unsigned long long)(s % 60));
}

/* The counters shown in their own lines above; "other counters" lists the
 * rest when not zero. */
static bool text_shown_above(const char *name)
{
        static const char *const shown[] = {
            "conn_active",         "conn_total",    "bound_connect",   "bound_publish",
            "bound_subscribe",     "bound_timeout", "syncookies_sent", "syncookies_validated",
            "syncookies_rejected", "misroutes",     "malformed",
        };

        for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
                if (!strcmp(name, shown[i]))
                        return true;
        return false;
}

int stats__text(const struct stats_snapshot *s, struct stats_buf *out)
{
        const struct lb_stats *l = &s->lb;
        const uint64_t *lv = stats__lb_values(s);
        struct table t = {0};
        bool any;

        stats__puts(out, "mqttlb: up ");
        text_uptime(out, s->uptime_s);
        if (s->config_path[0])
                stats_buf__printf(out, ", config %s", s->config_path);
        stats_buf__printf(out, ", %llu reload%s\n\n", (unsigned long long)s->reloads,
                          s->reloads == 1 ? "" : "s");
        stats_buf__printf(
            out,
            "connections  %llu active, %llu total; bound at connect %llu, "
            "publish %llu, subscribe %llu, timeout %llu\n",
            (unsigned long long)l->conn_active, (unsigned long long)l->conn_total,
            (unsigned long long)l->bound_connect, (unsigned long long)l->bound_publish,
            (unsigned long long)l->bound_subscribe, (unsigned long long)l->bound_timeout);
        stats_buf__printf(out, "syn cookies  %llu sent, %llu validated, %llu rejected\n",
                          (unsigned long long)l->syncookies_sent,
                          (unsigned long long)l->syncookies_validated,
                          (unsigned long long)l->syncookies_rejected);
        stats_buf__printf(out, "misroutes    %llu; malformed %llu\n\n",
                          (unsigned long long)l->misroutes, (unsigned long long)l->malformed);

        t.ncols = 9;
        t.right = 0x1f0; /* columns 4..8 */
        table_cell(&t, "POOL");
        table_cell(&t, "BALANCE");
        table_cell(&t, "BROKER");
        table_cell(&t, "STATE");
        table_cell(&t, "ACTIVE");
        table_cell(&t, "TOTAL");
        table_cell(&t, "PUBLISHES");
        table_cell(&t, "BYTES");
        table_cell(&t, "FAILURES");
        for (uint32_t i = 0; i < s->npools; i++)
                for (uint32_t k = 0; k < s->pools[i].nbrokers; k++) {
                        const struct stats_broker *sb = &s->pools[i].brokers[k];

                        table_cell(&t, "%s", k ? "" : s->pools[i].name);
                        table_cell(&t, "%s", k ? "" : s->pools[i].balance);
                        table_cell(&t, "%s", sb->name);
                        table_cell(&t, "%s", stats_health__str(sb->health));
                        table_cell(&t, "%llu", (unsigned long long)sb->c.active);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.total);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.publishes);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.publish_bytes);
                        table_cell(&t, "%llu", (unsigned long long)sb->c.failures);
                }
        table_print(&t, out);
        stats__puts(out, "\n");

        t.ncols = 7;
        t.right = 0x7e;
        table_cell(&t, "WORKER");
        table_cell(&t, "RX");
        table_cell(&t, "TX");
        table_cell(&t, "DROPPED");
        table_cell(&t, "HANDED_OVER");
        table_cell(&t, "KERNEL_DROPS");
        table_cell(&t, "CONNECTIONS");
        for (uint32_t w = 0; w < s->nworkers; w++) {
                const struct stats_worker *sw = &s->workers[w];

                table_cell(&t, "%u", w);
                table_cell(&t, "%llu", (unsigned long long)sw->dp.rx);
                table_cell(&t, "%llu", (unsigned long long)sw->dp.tx);
                table_cell(&t, "%llu", (unsigned long long)sw->dropped);
                table_cell(&t, "%llu", (unsigned long long)sw->dp.handed_over);
                table_cell(&t, "%llu",
                           (unsigned long long)(sw->kernel.kernel_rx_ring_full +
                                                sw->kernel.kernel_rx_dropped));
                table_cell(&t, "%llu", (unsigned long long)sw->conn_active);
        }
        table_print(&t, out);

        for (uint32_t i = 0; i < s->nxdp; i++) {
                stats_buf__printf(out, "\nxdp %s:", s->xdp[i].ifname);
                if (!s->xdp[i].ok) {
                        stats__puts(out, " unavailable");
                        continue;
                }
                any = false;
                for (uint32_t c = 0; c < LB_CNT__MAX; c++)
                        if (s->xdp[i].c[c]) {
                                stats_buf__printf(out, "%s %s %llu", any ? "," : "",
                                                  lb_counter__name(c),
                                                  (unsigned long long)s->xdp[i].c[c]);
                                any = true;
                        }
                if (!any)
                        stats__puts(out, " nothing yet");
        }
        if (s->nxdp)
                stats__puts(out, "\n");

        t.ncols = 3;
        t.right = 0x2;
        for (size_t k = 0; k < LB_NSTATS; k++) {
                if (!lv[k] || text_shown_above(lb_stat_names[k]))
                        continue;
                table_cell(&t, "  %s", lb_stat_names[k]);
                table_cell(&t, "%llu", (unsigned long long)lv[k]);
                table_cell(&t, "%s", lb_stat_docs[k]);
        }
        if (t.ncells) {
                stats__puts(out, "\nother counters (not zero):\n");
                table_print(&t, out);
        }

        t.ncols = 2;
        t.right = 0x2;
        for (int e = MQTT_OK + 1; e < MQTT_ERR__COUNT; e++)
                if (l->malformed_by[e]) {
                        table_cell(&t, "  %s", mqtt_err__str((enum mqtt_err)e));
                        table_cell(&t, "%llu", (unsigned long long)l->malformed_by[e]);
                }
        if (t.ncells) {
                stats__puts(out, "\nmalformed by reason:\n");
                table_print(&t, out);
        }
        t.ncols = 2;
        t.right = 0x2;
        for (int e = TLS_HELLO_OK + 1; e < TLS_HELLO_ERR__COUNT; e++)
                if (l->tls_malformed_by[e]) {
                        table_cell(&t, "  %s", tls_hello_err__str((enum tls_hello_err)e));
                        table_cell(&t, "%llu", (unsigned long long)l->tls_malformed_by[e]);
                }
        if (t.ncells) {
                stats__puts(out, "\nTLS malformed by reason:\n");
                table_print(&t, out);
        }
        return out->err;
}
