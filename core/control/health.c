/*
 * The health checker (health.h) on its own io_uring. Each check is a chain
 * of single operations on one non-blocking socket: CONNECT, SEND (the MQTT
 * CONNECT, again for what a short send left), RECV (until the parser has the
 * CONNACK). A TLS check is the same chain with a session in the middle
 * (health_tls.c): after CONNECT, each completion is the session's turn, and
 * the next operation is the one it asks for; HEALTH_CHECK_TCP passes at the
 * CONNECT (or the handshake) with nothing sent.
 *
 * Every operation is linked to an IORING_OP_LINK_TIMEOUT at the
 * check's absolute deadline, so a broker that stops answering anywhere ends
 * the operation with -ECANCELED at the deadline and nothing else needs to
 * watch the clock. One IORING_OP_TIMEOUT, absolute, wakes the ring for the
 * next check that is due.
 *
 * Operations carry (kind, generation, target) in their user data; a target's
 * generation moves on with each operation and when a check ends, so the
 * linked timeouts' own completions and anything else late are recognised
 * and dropped. At most one operation per target is in flight, so a socket
 * is only closed when no operation uses it. DISCONNECT is a plain
 * non-blocking send(): two bytes into an empty socket buffer, then close().
 *
 * Never blocks, never prints, never exits; the callback is the only way out.
 *
 * Why 680 lines: one io_uring loop and the chain of operations of a check
 * (connect, send, receive, parse) read the same per-target state; a TLS
 * check's turns and OpenSSL are in health_tls.c, the state both read in
 * health-int.h.
 */
#include "core/control/health.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mqtt/encode.h"
#include "mqtt/parser.h"
#include "mqtt/topic.h"
#include "core/control/health-int.h"
#include "core/util/clock.h"

#define NS_PER_MS 1000000ull

/* The keep alive a check's CONNECT says (3.1.1 §3.1.2.10), in seconds. */
#define KEEPALIVE_S 60

/* What a completion is, in the top byte of its user data. */
enum { K_TIMER = 1, K_OP, K_LINK };
#define GEN_MASK 0xffffffu

static uint64_t now_ns(void)
{
        return clock__mono_ns();
}

static struct __kernel_timespec to_ts(uint64_t ns)
{
        return (struct __kernel_timespec){.tv_sec = (long long)(ns / 1000000000ull),
                                          .tv_nsec = (long long)(ns % 1000000000ull)};
}

static uint64_t user_data(unsigned kind, uint32_t gen, uint32_t idx)
{
        return (uint64_t)kind << 56 | (uint64_t)(gen & GEN_MASK) << 32 | idx;
}

static uint32_t idx_of(const struct health *h, const struct target *t)
{
        return (uint32_t)(t - h->t);
}

const char *health__connack_str(uint8_t code, bool v5)
{
        return mqtt_reason__str(code, v5 ? MQTT_V5 : MQTT_V311);
}

/*
 * A CONNECT (3.1.1 §3.1 / 5.0 §3.1): protocol name "MQTT", level 4 or 5,
 * clean session / clean start, keep alive 60, no properties, the client id,
 * no will, no user name, no password.
 */
static void build_connect(struct health *h, struct target *t, uint8_t version)
{
        char id[48];
        int idlen = snprintf(id, sizeof(id), "mqttlb-health-%d-%u", h->pid, idx_of(h, t));

        t->out_len = (uint16_t)mqtt_encode__connect(
            t->out, sizeof(t->out), version, true, KEEPALIVE_S, (const uint8_t *)id, (size_t)idlen);
        t->out_off = 0;
}

/* Queues the operation of t's stage, linked to the check's deadline. */
int check__submit(struct health *h, struct target *t)
{
        struct io_uring_sqe *sqe, *lt;
        uint32_t idx = idx_of(h, t);

        /* the pair must go in one submission or the link breaks */
        if (io_uring_sq_space_left(&h->ring) < 2)
                io_uring_submit(&h->ring);
        if (io_uring_sq_space_left(&h->ring) < 2)
                return -EBUSY;
        sqe = io_uring_get_sqe(&h->ring);
        lt = io_uring_get_sqe(&h->ring);
        t->gen++;
        if (t->stage == ST_CONNECT) {
                io_uring_prep_connect(sqe, t->fd, (struct sockaddr *)&t->sa, t->salen);
        } else if (t->tls_phase != TLS_NONE) { /* ciphertext, the session's buffer */
                const uint8_t *p;
                size_t len = health_tls__out(t->tls, &p);

                if (t->stage == ST_SEND)
                        io_uring_prep_send(sqe, t->fd, p, len, MSG_NOSIGNAL);
                else
                        io_uring_prep_recv(sqe, t->fd, health_tls__in(t->tls), HEALTH_TLS_IO, 0);
        } else if (t->stage == ST_SEND) {
                io_uring_prep_send(sqe, t->fd, t->out + t->out_off,
                                   (size_t)(t->out_len - t->out_off), MSG_NOSIGNAL);
        } else {
                io_uring_prep_recv(sqe, t->fd, t->in, sizeof(t->in), 0);
        }
        io_uring_sqe_set_data64(sqe, user_data(K_OP, t->gen, idx));
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_prep_link_timeout(lt, &t->deadline, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(lt, user_data(K_LINK, t->gen, idx));
        return 0;
}

/* The attempt's connection goes: its TLS session, its socket. */
static void close_conn(struct target *t)
{
        if (t->tls)
                health_tls__end(t->tls);
        t->tls_phase = TLS_NONE;
        if (t->fd >= 0)
                close(t->fd);
        t->fd = -1;
}

/* The check is over: the connection goes, late completions become stale. */
static void end_check(struct target *t)
{
        close_conn(t);
        t->stage = ST_IDLE;
        t->gen++;
        t->stats.checks++;
}

/* What a pass of t's check is, for the callback's reason. */
const char *check__what_passed(const struct target *t, bool v5)
{
        if (t->kind == HEALTH_CHECK_TCP)
                return t->tls ? "TLS handshake" : "TCP connect";
        if (t->tls)
                return v5 ? "MQTT 5.0 over TLS" : "MQTT 3.1.1 over TLS";
        return v5 ? "MQTT 5.0" : "MQTT 3.1.1";
}

void check__passed(struct health *h, struct target *t, const char *what)
{
        end_check(t);
        t->stats.ok++;
        t->streak_fail = 0;
        if (t->streak_ok < UINT32_MAX)
                t->streak_ok++;
        if (!t->up && t->streak_ok >= h->cfg.rise) {
                char reason[HEALTH_REASON_MAX];

                t->up = true;
                snprintf(reason, sizeof(reason), "%u check%s passed (%s)", t->streak_ok,
                         t->streak_ok == 1 ? "" : "s", what);
                h->cb(h->ctx, idx_of(h, t), true, reason);
        }
}

void check__failed(struct health *h, struct target *t, const char *fmt, ...)
{
        va_list ap;

        end_check(t);
        t->stats.failed++;
        va_start(ap, fmt);
        vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
        va_end(ap);
        t->streak_ok = 0;
        if (t->streak_fail < UINT32_MAX)
                t->streak_fail++;
        if (t->up && t->streak_fail >= h->cfg.fall) {
                t->up = false;
                h->cb(h->ctx, idx_of(h, t), false, t->last_error);
        }
}

/* One connection of a check: a fresh socket, the CONNECT built, CONNECT queued. */
static void start_attempt(struct health *h, struct target *t, uint8_t version)
{
        int e;

        t->attempt = version;
        t->fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (t->fd < 0) {
                e = errno;
                t->stage = ST_CONNECT; /* a check was started */
                check__failed(h, t, "socket: %s", strerror(e));
                return;
        }
        build_connect(h, t, version);
        /* v5 leaves the version open: a 2-byte CONNACK is then read as 3.1.1
         * (a 3.x broker refusing level 5), a longer one as 5.0 */
        mqtt_parser__reset(&t->parser);
        if (version == MQTT_V311)
                mqtt_parser__set_version(&t->parser, MQTT_V311);
        t->stage = ST_CONNECT;
        if ((e = check__submit(h, t)))
                check__failed(h, t, "io_uring: %s", strerror(-e));
}

static void start_check(struct health *h, struct target *t, uint64_t now)
{
        uint8_t version = MQTT_V5;

        if (t->version == MQTT_V311 && ++t->v311_run < HEALTH_V5_RETRY)
                version = MQTT_V311;
        if (version == MQTT_V5)
                t->v311_run = 0;
        t->fallback = false;
        t->deadline = to_ts(now + h->cfg.timeout_ms * NS_PER_MS);
        start_attempt(h, t, version);
}

/* The v5 CONNECT was refused for its version or dropped: 3.1.1 at once, same deadline. */
static void retry_v311(struct health *h, struct target *t)
{
        close_conn(t);
        t->fallback = true;
        start_attempt(h, t, MQTT_V311);
}

/* The broker closed (FIN, or RST as what) before its CONNACK. */
void check__closed_early(struct health *h, struct target *t, const char *what)
{
        if (t->attempt == MQTT_V5 && !t->fallback)
                retry_v311(h, t);
        else
                check__failed(h, t, "%s", what);
}

/*
 * After a pass: the DISCONNECT (none for HEALTH_CHECK_TCP) and, over TLS, a
 * close_notify, in one non-blocking send(): a few dozen bytes into an empty
 * socket buffer.
 */
void check__goodbye(struct target *t, const uint8_t *msg, size_t n)
{
        if (t->tls)
                n = health_tls__goodbye(t->tls, &msg, n);
        if (n)
                (void)send(t->fd, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void on_connack(struct health *h, struct target *t, const struct mqtt_event *ev)
{
        bool v5 = mqtt_parser__version(&t->parser) == MQTT_V5;
        uint8_t code = ev->connack.code;

        if (code == 0) {
                uint8_t disconnect[MQTT_DISCONNECT_LEN_MAX];
                size_t n =
                    mqtt_encode__disconnect(disconnect, sizeof(disconnect),
                                            v5 ? MQTT_V5 : MQTT_V311, MQTT_RC_NORMAL_DISCONNECTION);

                check__goodbye(t, disconnect, n);
                if (v5) {
                        t->caps = ev->connack.caps;
                        t->have_caps = true;
                        t->version = MQTT_V5;
                } else {
                        t->have_caps = false;
                        if (t->version != MQTT_V311)
                                t->v311_run = 0;
                        t->version = MQTT_V311;
                }
                check__passed(h, t, check__what_passed(t, v5));
                return;
        }
        /* 5.0 §3.1.2.2: 0x84; a 3.x broker answers 0x01 (3.1.1 §3.1.2.2) */
        if (t->attempt == MQTT_V5 && !t->fallback &&
            (code == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION ||
             (!v5 && code == MQTT_V3_RC_UNACCEPTABLE_PROTOCOL_VERSION))) {
                if (t->version != MQTT_V311)
                        t->v311_run = 0;
                t->version = MQTT_V311;
                retry_v311(h, t);
                return;
        }
        check__failed(h, t, "CONNACK refused: 0x%02x %s", code, health__connack_str(code, v5));
}

/* Plaintext from the broker, to the parser: true when it ended the attempt
 * (a CONNACK, an error), false when the CONNACK needs more bytes. */
bool check__bytes(struct health *h, struct target *t, const uint8_t *buf, size_t len)
{
        struct mqtt_event ev;
        size_t used;
        enum mqtt_status st = mqtt_parser__feed(&t->parser, buf, len, &used, &ev);

        if (st == MQTT_ERROR) {
                check__failed(h, t, "malformed CONNACK: %s",
                              mqtt_err__str(mqtt_parser__error(&t->parser)));
                return true;
        }
        if (st == MQTT_EVENT) {
                /* bytes after the first packet are not ours to read */
                if (ev.type == MQTT_EV_CONNACK)
                        on_connack(h, t, &ev);
                else /* AUTH, the only other first packet (5.0 §4.12): never asked for */
                        check__failed(h, t, "AUTH before CONNACK");
                return true;
        }
        return false;
}

static void on_recv(struct health *h, struct target *t, int res)
{
        int e;

        if (res == 0) {
                check__closed_early(h, t, "closed before CONNACK");
                return;
        }
        if (res == -ECONNRESET) {
                check__closed_early(h, t, "recv: Connection reset by peer");
                return;
        }
        if (res < 0) {
                check__failed(h, t, "recv: %s", strerror(-res));
                return;
        }
        if (check__bytes(h, t, t->in, (size_t)res))
                return;
        if ((e = check__submit(h, t)))
                check__failed(h, t, "io_uring: %s", strerror(-e));
}

static void on_op(struct health *h, struct target *t, int res)
{
        int e = 0;

        /* the only cancellation while running is the linked timeout's */
        if (res == -ECANCELED) {
                check__failed(h, t, "%stimeout after %u ms", check__where(t), h->cfg.timeout_ms);
                return;
        }
        switch (t->stage) {
        case ST_CONNECT:
                if (res < 0) {
                        check__failed(h, t, "connect: %s", strerror(-res));
                        return;
                }
                if (t->tls) {
                        health_tls__on_connect(h, t);
                        return;
                }
                if (t->kind == HEALTH_CHECK_TCP) {
                        check__passed(h, t, check__what_passed(t, false));
                        return;
                }
                t->stage = ST_SEND;
                e = check__submit(h, t);
                break;
        case ST_SEND:
                if (t->tls) {
                        health_tls__on_send(h, t, res);
                        return;
                }
                if (res < 0) {
                        check__failed(h, t, "send: %s", strerror(-res));
                        return;
                }
                t->out_off = (uint16_t)(t->out_off + res);
                if (t->out_off >= t->out_len)
                        t->stage = ST_RECV;
                e = check__submit(h, t);
                break;
        case ST_RECV:
                if (t->tls)
                        health_tls__on_recv(h, t, res);
                else
                        on_recv(h, t, res);
                return;
        }
        if (e)
                check__failed(h, t, "io_uring: %s", strerror(-e));
}

static void on_cqe(struct health *h, uint64_t data, int res)
{
        unsigned kind = (unsigned)(data >> 56);
        uint32_t gen = (uint32_t)(data >> 32) & GEN_MASK;
        uint32_t idx = (uint32_t)data;
        struct target *t;

        if (kind == K_TIMER) {
                h->timer_armed = false;
                return;
        }
        if (kind != K_OP || idx >= h->n)
                return; /* a linked timeout's own completion */
        t = &h->t[idx];
        if (t->stage == ST_IDLE || (t->gen & GEN_MASK) != gen)
                return;
        on_op(h, t, res);
}

/* The first slot of t strictly after now. */
static uint64_t next_slot(const struct health *h, const struct target *t, uint64_t now)
{
        uint64_t iv = h->cfg.interval_ms * NS_PER_MS;

        if (now < t->phase_ns)
                return t->phase_ns;
        return t->phase_ns + ((now - t->phase_ns) / iv + 1) * iv;
}

/* Starts what is due; a target still busy skips its slot. Every due ends > now. */
static void start_due(struct health *h, uint64_t now)
{
        for (uint32_t i = 0; i < h->n; i++) {
                struct target *t = &h->t[i];

                if (t->due_ns > now)
                        continue;
                if (t->stage == ST_IDLE)
                        start_check(h, t, now);
                t->due_ns = next_slot(h, t, now);
        }
}

/*
 * One timer at a time, at the earliest due time. Due times only move
 * forward, so a timer in flight is never late: at worst early, which costs a
 * wake-up that starts nothing.
 */
static void arm_timer(struct health *h)
{
        struct io_uring_sqe *sqe;
        uint64_t first = UINT64_MAX;

        if (h->timer_armed || !h->n)
                return;
        for (uint32_t i = 0; i < h->n; i++)
                if (h->t[i].due_ns < first)
                        first = h->t[i].due_ns;
        if (!io_uring_sq_space_left(&h->ring))
                io_uring_submit(&h->ring);
        sqe = io_uring_get_sqe(&h->ring);
        if (!sqe)
                return; /* the next completion tries again */
        h->timer = to_ts(first);
        io_uring_prep_timeout(sqe, &h->timer, 0, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(sqe, user_data(K_TIMER, 0, 0));
        h->timer_armed = true;
}

void health__run(struct health *h)
{
        struct io_uring_cqe *cqe;
        uint32_t budget = 4 * h->n + 16; /* the rest on the next call: the fd stays readable */

        while (budget-- && io_uring_peek_cqe(&h->ring, &cqe) == 0) {
                uint64_t data = io_uring_cqe_get_data64(cqe);
                int res = cqe->res;

                io_uring_cqe_seen(&h->ring, cqe);
                on_cqe(h, data, res);
        }
        start_due(h, now_ns());
        arm_timer(h);
        io_uring_submit(&h->ring);
}

static int set_addr(struct target *t, const struct health_target *ht)
{
        memset(&t->sa, 0, sizeof(t->sa));
        if (ht->addr.family == 4) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&t->sa;

                sin->sin_family = AF_INET;
                sin->sin_port = htons(ht->port);
                memcpy(&sin->sin_addr, ht->addr.addr, 4);
                t->salen = sizeof(*sin);
        } else if (ht->addr.family == 6) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->sa;

                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(ht->port);
                memcpy(&sin6->sin6_addr, ht->addr.addr, 16);
                t->salen = sizeof(*sin6);
        } else {
                return -EINVAL;
        }
        return 0;
}

/* Target i's TLS state, sharing the SSL_CTX of the first earlier target
 * that loads the same files. */
static int new_tls(struct health *h, const struct health_target *t, uint32_t i, char *err,
                   size_t errlen)
{
        struct health_tls *like = NULL;
        char why[256];
        int e;

        for (uint32_t j = 0; j < i && !like; j++)
                if (t[j].tls && health_tls__same_files(&t[j], &t[i]))
                        like = h->t[j].tls;
        e = health_tls__new(&h->t[i].tls, &t[i], like, why, sizeof(why));
        if (e)
                snprintf(err, errlen, "health: %s", why);
        return e;
}

int health__new(struct health **out, const struct health_cfg *cfg, const struct health_target *t,
                uint32_t n, health_change_fn *cb, void *ctx, char *err, size_t errlen)
{
        struct mqtt_limits lim = {.max_packet = HEALTH_CONNACK_MAX};
        struct io_uring_sqe *sqe;
        struct health *h;
        unsigned entries = 8;
        uint64_t t0;
        int e;

        if (!cfg->interval_ms || !cfg->timeout_ms || !cfg->rise || !cfg->fall || !cb) {
                snprintf(err, errlen, "health: interval, timeout, rise and fall must be > 0");
                return -EINVAL;
        }
        if (n > HEALTH_TARGETS_MAX) {
                snprintf(err, errlen, "health: %u brokers, at most %u", n, HEALTH_TARGETS_MAX);
                return -EINVAL;
        }
        h = calloc(1, sizeof(*h));
        if (!h)
                goto nomem;
        h->t = calloc(n ? n : 1, sizeof(*h->t));
        if (!h->t)
                goto nomem;
        h->cfg = *cfg;
        h->cb = cb;
        h->ctx = ctx;
        h->pid = (int)getpid();
        h->n = n;
        for (uint32_t i = 0; i < n; i++)
                h->t[i].fd = -1;
        t0 = now_ns();
        for (uint32_t i = 0; i < n; i++) {
                struct target *x = &h->t[i];

                mqtt_parser__init(&x->parser, MQTT_DIR_S2C, &lim);
                if (set_addr(x, &t[i]) || !t[i].port) {
                        snprintf(err, errlen, "health: %s: not an IPv4/IPv6 address and port",
                                 t[i].name);
                        e = -EINVAL;
                        goto fail;
                }
                if (t[i].kind != HEALTH_CHECK_MQTT && t[i].kind != HEALTH_CHECK_TCP) {
                        snprintf(err, errlen, "health: %s: unknown check kind %d", t[i].name,
                                 (int)t[i].kind);
                        e = -EINVAL;
                        goto fail;
                }
                x->kind = (uint8_t)t[i].kind;
                if (t[i].tls && (e = new_tls(h, t, i, err, errlen)))
                        goto fail;
                x->up = true;
                x->version = MQTT_V5;
                x->due_ns = t0; /* the first check at once */
                x->phase_ns = t0 + cfg->interval_ms * NS_PER_MS * i / n;
        }
        /* a pair (operation + linked timeout) per target per run, and the timer */
        while (entries < 2 * n + 8)
                entries <<= 1;
        e = io_uring_queue_init(entries, &h->ring, 0);
        if (e) {
                snprintf(err, errlen, "health: io_uring: %s", strerror(-e));
                goto fail;
        }
        h->ring_ok = true;
        /* readable at once: a NOP completes inside the submission itself, with
         * no task work owed by this thread, and stands in for the timer */
        sqe = io_uring_get_sqe(&h->ring);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, user_data(K_TIMER, 0, 0));
        h->timer_armed = true;
        e = io_uring_submit(&h->ring);
        if (e < 0) {
                snprintf(err, errlen, "health: io_uring: %s", strerror(-e));
                goto fail;
        }
        *out = h;
        return 0;
nomem:
        snprintf(err, errlen, "health: out of memory");
        e = -ENOMEM;
fail:
        health__free(h);
        return e;
}

void health__free(struct health *h)
{
        if (!h)
                return;
        if (h->ring_ok) {
                struct io_uring_sync_cancel_reg reg = {
                    .flags = IORING_ASYNC_CANCEL_ANY,
                    .timeout = {.tv_sec = 1},
                };

                /* best effort: closing the ring below cancels the rest */
                (void)io_uring_register_sync_cancel(&h->ring, &reg);
        }
        for (uint32_t i = 0; h->t && i < h->n; i++) {
                if (h->t[i].fd >= 0)
                        close(h->t[i].fd);
                health_tls__free(h->t[i].tls);
                mqtt_parser__fini(&h->t[i].parser);
        }
        if (h->ring_ok)
                io_uring_queue_exit(&h->ring);
        free(h->t);
        free(h);
}

int health__fd(const struct health *h)
{
        return h->ring.ring_fd;
}

bool health__up(const struct health *h, uint32_t idx)
{
        return idx < h->n && h->t[idx].up;
}

bool health__caps(const struct health *h, uint32_t idx, struct mqtt_caps *out)
{
        if (idx >= h->n || !h->t[idx].have_caps)
                return false;
        *out = h->t[idx].caps;
        return true;
}

void health__stats(const struct health *h, uint32_t idx, struct health_stats *out)
{
        if (idx >= h->n) {
                memset(out, 0, sizeof(*out));
                return;
        }
        *out = h->t[idx].stats;
        out->version = h->t[idx].version;
}

const char *health__last_error(const struct health *h, uint32_t idx)
{
        return idx < h->n ? h->t[idx].last_error : "";
}

void health__set_up(struct health *h, uint32_t idx, bool up)
{
        if (idx >= h->n)
                return;
        h->t[idx].up = up;
        h->t[idx].streak_ok = h->t[idx].streak_fail = 0;
}
