/*
 * mqttload's report (load.h): the threads' counters summed; a progress line
 * on stderr; at the end a human summary and, with --json, one JSON object
 * whose keys are listed in --help (opts.c). Reads counters with relaxed
 * loads; histograms, tracks and losses only once the threads ended.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench/mqttload/load.h"

static double rate(uint64_t n, uint64_t first, uint64_t last, double duration_s)
{
        /* over the span the events happened in, when there is one */
        if (n >= 2 && last > first && last - first >= 1000000)
                return (double)n / ((double)(last - first) / 1e9);
        return duration_s > 0 ? (double)n / duration_s : 0;
}

static void min_nonzero(uint64_t *dst, uint64_t v)
{
        if (v && (!*dst || v < *dst))
                *dst = v;
}

static void max_of(uint64_t *dst, uint64_t v)
{
        if (v > *dst)
                *dst = v;
}

void load__sum(const struct load *l, struct load_totals *s, bool with_hists)
{
        const struct load_cfg *cfg = &l->cfg;
        uint64_t end = l->end_ns ? l->end_ns : load_now_ns(), msgs, storm_start = 0, storm_end = 0;
        bool storm_open = false;

        memset(s, 0, sizeof(*s));
        for (uint32_t i = 0; i < cfg->threads; i++) {
                const struct load_thread *t = &l->th[i];
                const struct load_stats *ts = &t->st;
                struct load_stats *d = &s->st;
                uint64_t ss = stat_ld(&ts->storm_start_ns), se = stat_ld(&ts->storm_end_ns);

                d->connected += stat_ld(&ts->connected);
                d->connects += stat_ld(&ts->connects);
                d->connect_failed += stat_ld(&ts->connect_failed);
                d->disconnected += stat_ld(&ts->disconnected);
                d->reconnects += stat_ld(&ts->reconnects);
                for (int f = 0; f < FAIL_N; f++) {
                        d->fail[f] += stat_ld(&ts->fail[f]);
                        d->drop[f] += stat_ld(&ts->drop[f]);
                }
                d->sent += stat_ld(&ts->sent);
                d->acked += stat_ld(&ts->acked);
                d->rejected += stat_ld(&ts->rejected);
                d->received += stat_ld(&ts->received);
                d->duplicated += stat_ld(&ts->duplicated);
                d->unstamped += stat_ld(&ts->unstamped);
                d->untracked += stat_ld(&ts->untracked);
                d->up += stat_ld(&ts->up);
                d->tls_handshakes += stat_ld(&ts->tls_handshakes);
                d->tls_resumed += stat_ld(&ts->tls_resumed);
                d->settled += stat_ld(&ts->settled);
                min_nonzero(&d->first_msg_ns, stat_ld(&ts->first_msg_ns));
                max_of(&d->last_msg_ns, stat_ld(&ts->last_msg_ns));
                min_nonzero(&d->first_conn_ns, stat_ld(&ts->first_conn_ns));
                max_of(&d->last_conn_ns, stat_ld(&ts->last_conn_ns));
                if (ss) {
                        min_nonzero(&storm_start, ss);
                        max_of(&storm_end, se);
                        storm_open |= !se;
                }
                if (with_hists) {
                        hist__merge(&s->lat, &t->lat);
                        hist__merge(&s->conn_lat, &t->conn_lat);
                        hist__merge(&s->tls_lat, &t->tls_lat);
                        s->lost += t->lost;
                }
        }
        s->duration_s = end > l->start_ns ? (double)(end - l->start_ns) / 1e9 : 0;
        msgs = cfg->mode == LOAD_PUB ? (cfg->qos ? s->st.acked : s->st.sent) : s->st.received;
        s->msgs_per_s = rate(msgs, s->st.first_msg_ns, s->st.last_msg_ns, s->duration_s);
        s->conn_per_s =
            rate(s->st.connects, s->st.first_conn_ns, s->st.last_conn_ns, s->duration_s);
        s->storm_done = storm_start && !storm_open;
        if (s->storm_done)
                s->reconnect_all_s = (double)(storm_end - storm_start) / 1e9;
}

void load__progress(const struct load *l, double elapsed, struct load_totals *prev)
{
        struct load_totals s;

        load__sum(l, &s, false);
        fprintf(stderr,
                "mqttload: %6.1fs up %" PRIu64 " failed %" PRIu64 " dropped %" PRIu64
                " | sent %" PRIu64 " (%" PRIu64 "/s) acked %" PRIu64 " (%" PRIu64
                "/s) received %" PRIu64 " (%" PRIu64 "/s) dup %" PRIu64 "\n",
                elapsed, s.st.up, s.st.connect_failed, s.st.disconnected, s.st.sent,
                s.st.sent - prev->st.sent, s.st.acked, s.st.acked - prev->st.acked, s.st.received,
                s.st.received - prev->st.received, s.st.duplicated);
        *prev = s;
}

static double us(uint64_t ns)
{
        return (double)ns / 1000.0;
}

static const char *protocol_error(const struct load *l)
{
        for (uint32_t i = 0; i < l->cfg.threads; i++)
                if (l->th[i].protocol_error)
                        return l->th[i].protocol_error;
        return NULL;
}

static const char *tls_error(const struct load *l)
{
        for (uint32_t i = 0; i < l->cfg.threads; i++)
                if (l->th[i].tls_error[0])
                        return l->th[i].tls_error;
        return NULL;
}

void load__summary(const struct load *l, const struct load_totals *s, FILE *f)
{
        const struct load_cfg *cfg = &l->cfg;
        const struct load_stats *st = &s->st;
        const char *perr = protocol_error(l);
        bool any = false;

        fprintf(f,
                "mqttload %s: %u clients, %" PRIu64 " connected, %" PRIu64
                " connect failures, %" PRIu64 " dropped, %" PRIu64 " reconnects, %.3f s\n",
                load_mode__name(cfg->mode), cfg->clients, st->connected, st->connect_failed,
                st->disconnected, st->reconnects, s->duration_s);
        if (cfg->mode == LOAD_PUB)
                fprintf(f,
                        "  sent %" PRIu64 ", acked %" PRIu64 ", rejected %" PRIu64 ": %.0f msg/s\n",
                        st->sent, st->acked, st->rejected, s->msgs_per_s);
        if (cfg->mode == LOAD_SUB) {
                fprintf(f,
                        "  received %" PRIu64 " (%.0f msg/s), duplicated %" PRIu64 ", lost %" PRIu64
                        "%s, unstamped %" PRIu64 ", untracked %" PRIu64 "\n",
                        st->received, s->msgs_per_s, st->duplicated, s->lost,
                        cfg->expect ? "" : " (no --expect)", st->unstamped, st->untracked);
                fprintf(f,
                        "  latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%" PRIu64
                        " samples)\n",
                        us(hist__percentile(&s->lat, 0.5)), us(hist__percentile(&s->lat, 0.99)),
                        us(hist__percentile(&s->lat, 0.999)), us(s->lat.max), s->lat.count);
        }
        fprintf(f, "  connect us (SYN to CONNACK): p50 %.1f  p99 %.1f  max %.1f; %.0f conn/s\n",
                us(hist__percentile(&s->conn_lat, 0.5)), us(hist__percentile(&s->conn_lat, 0.99)),
                us(s->conn_lat.max), s->conn_per_s);
        if (cfg->tls)
                fprintf(f,
                        "  TLS handshakes %" PRIu64 " (%" PRIu64
                        " resumed), connect to handshake done us: p50 %.1f  p99 %.1f  max %.1f\n",
                        st->tls_handshakes, st->tls_resumed, us(hist__percentile(&s->tls_lat, 0.5)),
                        us(hist__percentile(&s->tls_lat, 0.99)), us(s->tls_lat.max));
        if (s->storm_done)
                fprintf(f, "  all reconnected %.3f s after the first drop\n", s->reconnect_all_s);
        for (int r = 1; r < FAIL_N; r++) {
                if (!st->fail[r] && !st->drop[r])
                        continue;
                fprintf(f, "%s %s: %" PRIu64 " failed, %" PRIu64 " dropped",
                        any ? "," : "  reasons:", load_fail__name((enum load_fail)r), st->fail[r],
                        st->drop[r]);
                any = true;
        }
        if (any)
                fputc('\n', f);
        if (perr)
                fprintf(f, "  protocol error: %s\n", perr);
        if (tls_error(l))
                fprintf(f, "  TLS error: %s\n", tls_error(l));
}

static void json_reasons(FILE *f, const char *key, const uint64_t *v)
{
        bool first = true;

        fprintf(f, ",\"%s\":{", key);
        for (int r = 1; r < FAIL_N; r++) {
                if (!v[r])
                        continue;
                fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",",
                        load_fail__name((enum load_fail)r), v[r]);
                first = false;
        }
        fputc('}', f);
}

void load__json(const struct load *l, const struct load_totals *s, FILE *f)
{
        const struct load_cfg *cfg = &l->cfg;
        const struct load_stats *st = &s->st;
        const char *perr = protocol_error(l);

        fprintf(f,
                "{\"mode\":\"%s\",\"clients\":%u,\"connected\":%" PRIu64
                ",\"connect_failed\":%" PRIu64 ",\"disconnected\":%" PRIu64 ",\"sent\":%" PRIu64
                ",\"acked\":%" PRIu64 ",\"received\":%" PRIu64 ",\"duplicated\":%" PRIu64
                ",\"lost\":%" PRIu64 ",\"msgs_per_s\":%.1f,\"conn_per_s\":%.1f",
                load_mode__name(cfg->mode), cfg->clients, st->connected, st->connect_failed,
                st->disconnected, st->sent, st->acked, st->received, st->duplicated, s->lost,
                s->msgs_per_s, s->conn_per_s);
        fprintf(f,
                ",\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f"
                ",\"connect_p50_us\":%.1f,\"connect_p99_us\":%.1f,\"reconnects\":%" PRIu64
                ",\"duration_s\":%.3f",
                us(hist__percentile(&s->lat, 0.5)), us(hist__percentile(&s->lat, 0.99)),
                us(hist__percentile(&s->lat, 0.999)), us(s->lat.max),
                us(hist__percentile(&s->conn_lat, 0.5)), us(hist__percentile(&s->conn_lat, 0.99)),
                st->reconnects, s->duration_s);
        /* beyond the contract */
        fprintf(f,
                ",\"qos\":%u,\"mqtt_version\":%u,\"size\":%u,\"threads\":%u,\"connects\":%" PRIu64
                ",\"rejected\":%" PRIu64 ",\"unstamped\":%" PRIu64 ",\"untracked\":%" PRIu64
                ",\"lat_samples\":%" PRIu64 ",\"lat_mean_us\":%.1f,\"connect_max_us\":%.1f",
                cfg->qos, cfg->version, cfg->size, cfg->threads, st->connects, st->rejected,
                st->unstamped, st->untracked, s->lat.count,
                s->lat.count ? us(s->lat.sum / s->lat.count) : 0.0, us(s->conn_lat.max));
        if (s->storm_done)
                fprintf(f, ",\"reconnect_all_s\":%.3f", s->reconnect_all_s);
        else
                fprintf(f, ",\"reconnect_all_s\":null");
        if (cfg->tls) {
                const char *te = tls_error(l);

                fprintf(f,
                        ",\"tls\":true,\"tls_handshakes\":%" PRIu64 ",\"tls_resumed\":%" PRIu64
                        ",\"tls_p50_us\":%.1f,\"tls_p99_us\":%.1f,\"tls_max_us\":%.1f",
                        st->tls_handshakes, st->tls_resumed, us(hist__percentile(&s->tls_lat, 0.5)),
                        us(hist__percentile(&s->tls_lat, 0.99)), us(s->tls_lat.max));
                /* OpenSSL's error strings hold no quotes or backslashes */
                if (te)
                        fprintf(f, ",\"tls_error\":\"%s\"", te);
                else
                        fprintf(f, ",\"tls_error\":null");
        }
        json_reasons(f, "connect_errors", st->fail);
        json_reasons(f, "disconnect_reasons", st->drop);
        if (perr)
                fprintf(f, ",\"protocol_error\":\"%s\"", perr);
        else
                fprintf(f, ",\"protocol_error\":null");
        fprintf(f, "}\n");
}
