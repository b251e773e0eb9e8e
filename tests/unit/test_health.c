/*
 * The health checker against fake brokers on 127.0.0.1: threads with a
 * listening socket on an ephemeral port that read the checker's CONNECT,
 * check it byte by byte (level, clean start, keep alive 60, client id
 * "mqttlb-health-<pid>-<idx>", nothing else) and answer as told: a v5
 * CONNACK with capabilities, a refusal, silence, a 3.1.1-only broker, a
 * close. A bound socket that does not listen gives "connection refused".
 * The checker is driven like the control thread drives it: poll() on
 * health__fd() and health__run() only when it is readable, so a timer that
 * never fires hangs the test until its bound; once through a poll from a
 * second io_uring, as the control thread's loop will. Every transition is
 * recorded with the counters at that moment and checked exactly.
 *
 * Then a real Mosquitto (/usr/sbin/mosquitto) on a random port: up with its
 * v5 capabilities, killed by its PID, down. Skipped when Mosquitto is not
 * installed, except in CI (CI=true), where that fails.
 *
 * Last, TLS and the TCP-only check. Without a broker: HEALTH_CHECK_TCP
 * passes against a socket that listens and never speaks and fails against a
 * closed port; a TLS check against that silent listener fails at its
 * timeout, in the handshake; files that do not load are refused. Then one
 * Mosquitto with four listeners (plain; TLS; TLS requiring a client
 * certificate; TLS with a certificate of another CA), with a CA, server,
 * client and rogue certificates made by the openssl command in a scratch
 * directory: MQTT over TLS passes, with and without verification, by name
 * and by address; plain MQTT against TLS and TLS against plain fail; a
 * client certificate is what a requiring listener lets through (TLS 1.3:
 * without one the handshake completes and the CONNACK read fails); a wrong
 * CA or a wrong name fails the handshake. Skipped like the Mosquitto test
 * when mosquitto or openssl is missing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>

#include "core/control/health.h"
#include "fixture_tmpdir.h"

extern char **environ;

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- fake brokers ---- */

enum fake_mode {
        FAKE_V5_OK,      /* v5: CONNACK 0 with capabilities; 3.1.1: CONNACK 0 */
        FAKE_REFUSE,     /* v5: 0x87 Not authorized; 3.1.1: 0x05 */
        FAKE_SILENT,     /* reads the CONNECT, never answers, waits for the close */
        FAKE_V311_ONLY,  /* v5: a 3.1.1 CONNACK 0x01, close; 3.1.1: CONNACK 0 */
        FAKE_V311_CLOSE, /* v5: close without a word; 3.1.1: CONNACK 0 */
        FAKE_CLOSE,      /* closes after any CONNECT */
};

struct connect_rec {
        uint8_t level;
        uint32_t idx;
        uint64_t ms; /* since fake->t0 */
};

#define FAKE_RECS 512

struct fake {
        int lfd;
        uint16_t port;
        pthread_t thread;
        atomic_bool stop;
        atomic_int mode;
        bool split; /* the CONNACK in two writes, 10 ms apart */
        uint64_t t0;
        pthread_mutex_t mu;
        struct connect_rec recs[FAKE_RECS];
        unsigned nrecs;
        /* connections accepted; CONNECTs by level; closed by the checker
         * before its CONNECT (freed mid-check); not what the checker must
         * send; DISCONNECTs; closes seen after an answer or in silence */
        atomic_uint accepted, v5, v4, early, bad, disconnects, eofs;
};

/* v5 CONNACK, 5.0 §3.2: Topic Alias Maximum 10, Receive Maximum 20, Maximum
 * Packet Size 1024, Retain Available 0, Shared Subscription Available 0. */
static const uint8_t CONNACK5_CAPS[] = {0x20, 0x12, 0x00, 0x00, 0x0f, 0x22, 0x00, 0x0a, 0x21, 0x00,
                                        0x14, 0x27, 0x00, 0x00, 0x04, 0x00, 0x25, 0x00, 0x2a, 0x00};
static const uint8_t CONNACK5_87[] = {0x20, 0x03, 0x00, 0x87, 0x00};
static const uint8_t CONNACK3_OK[] = {0x20, 0x02, 0x00, 0x00};
static const uint8_t CONNACK3_01[] = {0x20, 0x02, 0x00, 0x01};
static const uint8_t CONNACK3_05[] = {0x20, 0x02, 0x00, 0x05};

/* Waits up to ms for c to be readable or the fake to stop; > 0 when readable. */
static int wait_readable(struct fake *f, int c, uint64_t until)
{
        while (!atomic_load(&f->stop) && now_ms() < until) {
                struct pollfd p = {.fd = c, .events = POLLIN};
                int r = poll(&p, 1, 10);

                if (r != 0)
                        return r;
        }
        return 0;
}

/* Reads one whole packet (1-byte remaining length is enough for a CONNECT):
 * 0, -1 on a close before any byte, -2 on anything else. */
static int read_packet(struct fake *f, int c, uint8_t *buf, size_t cap, size_t *len)
{
        uint64_t until = now_ms() + 2000;
        size_t have = 0, need = 2;

        while (have < need) {
                ssize_t r;

                if (wait_readable(f, c, until) <= 0)
                        return -2;
                r = recv(c, buf + have, cap - have, 0);
                if (r <= 0)
                        return have ? -2 : -1;
                have += (size_t)r;
                if (have >= 2) {
                        if (buf[1] & 0x80)
                                return -2;
                        need = 2 + buf[1];
                }
        }
        *len = have;
        return 0;
}

/* The CONNECT the checker must send, else -1; its level and target index. */
static int check_connect(const uint8_t *p, size_t len, uint8_t *level, uint32_t *idx)
{
        char want[64];
        size_t off, idlen;
        unsigned long v;
        char *end;

        if (len < 15 || p[0] != 0x10 || (size_t)p[1] + 2 != len)
                return -1;
        if (memcmp(p + 2, "\x00\x04MQTT", 6) != 0)
                return -1;
        *level = p[8];
        if ((*level != 4 && *level != 5) || p[9] != 0x02 || p[10] != 0 || p[11] != 60)
                return -1;
        off = 12;
        if (*level == 5 && p[off++] != 0) /* no properties */
                return -1;
        idlen = (size_t)p[off] << 8 | p[off + 1];
        off += 2;
        if (off + idlen != len)
                return -1;
        snprintf(want, sizeof(want), "mqttlb-health-%d-", (int)getpid());
        if (idlen <= strlen(want) || memcmp(p + off, want, strlen(want)) != 0)
                return -1;
        memcpy(want, p + off + strlen(want), idlen - strlen(want));
        want[idlen - strlen(want)] = 0;
        v = strtoul(want, &end, 10);
        if (*end)
                return -1;
        *idx = (uint32_t)v;
        return 0;
}

static void send_all(int c, const uint8_t *b, size_t n, bool split)
{
        if (split && n > 3) {
                (void)send(c, b, 3, MSG_NOSIGNAL);
                usleep(10000);
                b += 3, n -= 3;
        }
        (void)send(c, b, n, MSG_NOSIGNAL);
}

/* After a CONNACK 0: the DISCONNECT (E0 00), then the close. */
static void wait_close(struct fake *f, int c)
{
        uint64_t until = now_ms() + 3000;
        uint8_t buf[64];
        size_t have = 0;

        while (wait_readable(f, c, until) > 0) {
                ssize_t r = recv(c, buf + have, sizeof(buf) - have, 0);

                if (r <= 0) {
                        atomic_fetch_add(&f->eofs, 1);
                        break;
                }
                have += (size_t)r;
                if (have == sizeof(buf))
                        break;
        }
        if (have == 2 && buf[0] == 0xe0 && buf[1] == 0)
                atomic_fetch_add(&f->disconnects, 1);
        else if (have)
                atomic_fetch_add(&f->bad, 1);
}

static void fake_conn(struct fake *f, int c)
{
        uint8_t pkt[256], level;
        uint32_t idx;
        size_t len;
        int mode = atomic_load(&f->mode), r = read_packet(f, c, pkt, sizeof(pkt), &len);

        if (r == -1) {
                atomic_fetch_add(&f->early, 1);
                return;
        }
        if (r || check_connect(pkt, len, &level, &idx)) {
                atomic_fetch_add(&f->bad, 1);
                return;
        }
        atomic_fetch_add(level == 5 ? &f->v5 : &f->v4, 1);
        pthread_mutex_lock(&f->mu);
        if (f->nrecs < FAKE_RECS)
                f->recs[f->nrecs++] =
                    (struct connect_rec){.level = level, .idx = idx, .ms = now_ms() - f->t0};
        pthread_mutex_unlock(&f->mu);
        switch (mode) {
        case FAKE_V5_OK:
                if (level == 5)
                        send_all(c, CONNACK5_CAPS, sizeof(CONNACK5_CAPS), f->split);
                else
                        send_all(c, CONNACK3_OK, sizeof(CONNACK3_OK), f->split);
                wait_close(f, c);
                break;
        case FAKE_REFUSE:
                if (level == 5)
                        send_all(c, CONNACK5_87, sizeof(CONNACK5_87), false);
                else
                        send_all(c, CONNACK3_05, sizeof(CONNACK3_05), false);
                break;
        case FAKE_SILENT: wait_close(f, c); break;
        case FAKE_V311_ONLY:
                if (level == 5) {
                        send_all(c, CONNACK3_01, sizeof(CONNACK3_01), false);
                } else {
                        send_all(c, CONNACK3_OK, sizeof(CONNACK3_OK), false);
                        wait_close(f, c);
                }
                break;
        case FAKE_V311_CLOSE:
                if (level == 4) {
                        send_all(c, CONNACK3_OK, sizeof(CONNACK3_OK), false);
                        wait_close(f, c);
                }
                break;
        case FAKE_CLOSE: break;
        }
}

static void *fake_loop(void *arg)
{
        struct fake *f = arg;

        while (!atomic_load(&f->stop)) {
                struct pollfd p = {.fd = f->lfd, .events = POLLIN};
                int c;

                if (poll(&p, 1, 10) <= 0)
                        continue;
                c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                atomic_fetch_add(&f->accepted, 1);
                fake_conn(f, c);
                close(c);
        }
        return NULL;
}

/* A socket bound to 127.0.0.1 on an ephemeral port; listening or not. */
static int bound_socket(bool listening, uint16_t *port)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sin);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        if (listening)
                assert_int_equal(listen(fd, 64), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
        *port = ntohs(sin.sin_port);
        return fd;
}

static struct fake *fake_start(enum fake_mode mode)
{
        struct fake *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->lfd = bound_socket(true, &f->port);
        atomic_store(&f->mode, mode);
        pthread_mutex_init(&f->mu, NULL);
        f->t0 = now_ms();
        assert_int_equal(pthread_create(&f->thread, NULL, fake_loop, f), 0);
        return f;
}

static void fake_stop(struct fake *f)
{
        atomic_store(&f->stop, true);
        pthread_join(f->thread, NULL);
        close(f->lfd);
        pthread_mutex_destroy(&f->mu);
        free(f);
}

/* Lets the fake see the close of every connection it waits on (ones it
 * closes itself excepted); false when it did not within a second. */
static bool fake_settle(struct fake *f, unsigned self_closed)
{
        uint64_t until = now_ms() + 1000;

        while (now_ms() < until) {
                unsigned seen = atomic_load(&f->eofs) + atomic_load(&f->early) +
                                atomic_load(&f->bad) + self_closed;

                if (seen >= atomic_load(&f->accepted))
                        return true;
                usleep(2000);
        }
        return false;
}

/* ---- the checker, driven as the control thread drives it ---- */

struct change {
        uint32_t idx;
        bool up;
        char reason[HEALTH_REASON_MAX];
        struct health_stats st; /* at the time of the change */
        uint64_t ms;            /* since watch.t0 */
};

struct watch {
        struct health *h;
        uint64_t t0;
        unsigned n;
        struct change ch[64];
};

static void on_change(void *ctx, uint32_t idx, bool up, const char *reason)
{
        struct watch *w = ctx;
        struct change *c;

        assert_true(w->n < 64);
        c = &w->ch[w->n++];
        c->idx = idx;
        c->up = up;
        snprintf(c->reason, sizeof(c->reason), "%s", reason);
        health__stats(w->h, idx, &c->st);
        c->ms = now_ms() - w->t0;
        assert_int_equal(health__up(w->h, idx), up);
}

/* Target i: 127.0.0.1:port, named "b<i>", today's check (MQTT, no TLS). */
static struct health_target target_at(uint16_t port, uint32_t i)
{
        struct health_target t;

        memset(&t, 0, sizeof(t));
        assert_int_equal(ip_addr__parse(&t.addr, "127.0.0.1"), 0);
        t.port = port;
        snprintf(t.name, sizeof(t.name), "b%u", i);
        return t;
}

static struct health *new_checker_of(struct watch *w, const struct health_cfg *cfg,
                                     const struct health_target *t, uint32_t n)
{
        char err[256] = "";

        memset(w, 0, sizeof(*w));
        w->t0 = now_ms();
        if (health__new(&w->h, cfg, t, n, on_change, w, err, sizeof(err)))
                fail_msg("health__new: %s", err);
        return w->h;
}

static struct health *new_checker(struct watch *w, const struct health_cfg *cfg,
                                  const uint16_t *ports, uint32_t n)
{
        struct health_target t[8];

        assert_true(n <= 8);
        for (uint32_t i = 0; i < n; i++)
                t[i] = target_at(ports[i], i);
        return new_checker_of(w, cfg, t, n);
}

/* A fake in mode and a checker of it alone. */
static struct fake *fake_checker(struct watch *w, const struct health_cfg *cfg, enum fake_mode mode)
{
        struct fake *f = fake_start(mode);

        new_checker(w, cfg, &f->port, 1);
        return f;
}

typedef bool until_fn(struct watch *w, uintptr_t arg);

/* Polls and runs until until() holds or max_ms pass; true when it held. */
static bool drive(struct watch *w, uint32_t max_ms, until_fn *until, uintptr_t arg)
{
        uint64_t end = now_ms() + max_ms;

        while (!(until && until(w, arg))) {
                uint64_t now = now_ms();
                struct pollfd p = {.fd = health__fd(w->h), .events = POLLIN};

                if (now >= end)
                        return false;
                if (poll(&p, 1, (int)(end - now < 20 ? end - now : 20)) > 0)
                        health__run(w->h);
        }
        return true;
}

static bool changes_at_least(struct watch *w, uintptr_t n)
{
        return w->n >= n;
}

/* arg: target index in the low 8 bits, checks wanted above them. */
static bool checks_at_least(struct watch *w, uintptr_t arg)
{
        struct health_stats st;

        health__stats(w->h, (uint32_t)(arg & 0xff), &st);
        return st.checks >= (arg >> 8);
}
#define CHECKS(idx, n) (((uintptr_t)(n) << 8) | (idx))

static struct health_stats stats(struct watch *w, uint32_t idx)
{
        struct health_stats st;

        health__stats(w->h, idx, &st);
        return st;
}

/* Broker idx is up, and every check of it passed. */
static void assert_all_passed(struct watch *w, uint32_t idx)
{
        assert_true(health__up(w->h, idx));
        assert_int_equal(stats(w, idx).ok, stats(w, idx).checks);
}

/* Drives until the first change, which must take broker 0 down for reason. */
static const struct change *first_down(struct watch *w, const char *reason)
{
        assert_true(drive(w, 10000, changes_at_least, 1));
        assert_false(w->ch[0].up);
        assert_string_equal(w->ch[0].reason, reason);
        return &w->ch[0];
}

/* The change of broker idx among the first n; it must be one. */
static const struct change *change_of(const struct watch *w, uint32_t idx)
{
        for (unsigned i = 0; i < w->n; i++)
                if (w->ch[i].idx == idx)
                        return &w->ch[i];
        fail_msg("broker %u never changed", idx);
        return NULL;
}

/* ---- tests ---- */

/* A v5 broker: stays up, never a change, every check passes with v5; caps
 * from a CONNACK that arrives in two segments. */
static void test_v5_up_caps(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 500, .rise = 2, .fall = 2};
        struct fake *f;
        struct mqtt_caps caps;
        struct health_stats st;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_V5_OK);
        f->split = true; /* before health__run(): before any check */
        assert_true(health__up(w.h, 0));
        assert_false(health__caps(w.h, 0, &caps)); /* nothing read yet */
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 4)));
        assert_int_equal(w.n, 0);
        assert_true(health__up(w.h, 0));
        st = stats(&w, 0);
        assert_int_equal(st.ok, st.checks);
        assert_int_equal(st.failed, 0);
        assert_int_equal(st.version, MQTT_V5);
        assert_string_equal(health__last_error(w.h, 0), "");
        assert_true(health__caps(w.h, 0, &caps));
        assert_int_equal(caps.present, MQTT_HAS_TOPIC_ALIAS_MAX | MQTT_HAS_RECEIVE_MAX |
                                           MQTT_HAS_MAX_PACKET | MQTT_HAS_RETAIN_AVAIL |
                                           MQTT_HAS_SHARED_AVAIL);
        assert_int_equal(caps.topic_alias_max, 10);
        assert_int_equal(caps.receive_max, 20);
        assert_int_equal(caps.max_packet, 1024);
        assert_int_equal(caps.retain_avail, 0);
        assert_int_equal(caps.shared_avail, 0);
        health__free(w.h);
        assert_true(fake_settle(f, 0));
        /* every CONNECT well formed and v5; each passed check said DISCONNECT */
        assert_int_equal(atomic_load(&f->bad), 0);
        assert_int_equal(atomic_load(&f->v4), 0);
        assert_in_range(atomic_load(&f->v5), st.checks, st.checks + 1);
        assert_in_range(atomic_load(&f->disconnects), st.ok, st.ok + 1);
        fake_stop(f);
}

/* CONNACK 0x87: down after exactly `fall` failures, once, with the reason. */
static void test_refused(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 500, .rise = 2, .fall = 3};
        struct fake *f;
        struct mqtt_caps caps;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_REFUSE);
        first_down(&w, "CONNACK refused: 0x87 Not authorized");
        assert_int_equal(w.ch[0].idx, 0);
        assert_int_equal(w.ch[0].st.checks, 3);
        assert_int_equal(w.ch[0].st.failed, 3);
        assert_int_equal(w.ch[0].st.ok, 0);
        /* more failures change nothing */
        assert_false(drive(&w, 300, changes_at_least, 2));
        assert_int_equal(w.n, 1);
        assert_false(health__up(w.h, 0));
        assert_true(stats(&w, 0).failed >= 5);
        assert_string_equal(health__last_error(w.h, 0), "CONNACK refused: 0x87 Not authorized");
        assert_false(health__caps(w.h, 0, &caps));
        assert_int_equal(stats(&w, 0).version, MQTT_V5); /* a refusal is not about the version */
        health__free(w.h);
        assert_int_equal(atomic_load(&f->v4), 0);
        assert_int_equal(atomic_load(&f->bad), 0);
        fake_stop(f);
}

/* A broker that accepts and never answers: each check ends at its timeout. */
static void test_timeout(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 100, .rise = 1, .fall = 2};
        struct fake *f;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_SILENT);
        first_down(&w, "timeout after 100 ms");
        assert_int_equal(w.ch[0].st.failed, 2);
        assert_int_equal(w.ch[0].st.checks, 2);
        /* two checks one after the other, each its whole timeout */
        assert_in_range(w.ch[0].ms, 195, 1000);
        health__free(w.h);
        /* each timed-out socket closed; no 3.1.1 retry for a timeout */
        assert_true(fake_settle(f, 0));
        assert_int_equal(atomic_load(&f->v5), atomic_load(&f->eofs));
        assert_int_equal(atomic_load(&f->v4), 0);
        assert_int_equal(atomic_load(&f->bad), 0);
        fake_stop(f);
}

/* Nobody listens: "connect: Connection refused"; the first check at once. */
static void test_connection_refused(void **state)
{
        struct health_cfg cfg = {.interval_ms = 800, .timeout_ms = 300, .rise = 1, .fall = 1};
        struct watch w;
        uint16_t port;
        int fd = bound_socket(false, &port);

        (void)state;
        new_checker(&w, &cfg, &port, 1);
        first_down(&w, "connect: Connection refused");
        assert_int_equal(w.ch[0].st.checks, 1);
        assert_true(w.ch[0].ms < 300); /* not after an interval */
        /* the next check comes one interval later, not before */
        assert_false(drive(&w, 400, checks_at_least, CHECKS(0, 2)));
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 2)));
        assert_int_equal(w.n, 1);
        health__free(w.h);
        close(fd);
}

/* A 3.1.1-only broker refuses level 5 with 0x01: retried over 3.1.1 in the
 * same check, never a failed check, v5 tried again on check 1 + 16. */
static void test_v311_fallback(void **state)
{
        struct health_cfg cfg = {.interval_ms = 20, .timeout_ms = 500, .rise = 1, .fall = 1};
        struct fake *f;
        struct mqtt_caps caps;
        struct health_stats st;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_V311_ONLY);
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 1)));
        assert_int_equal(stats(&w, 0).version, MQTT_V311);
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, HEALTH_V5_RETRY)));
        assert_int_equal(atomic_load(&f->v5), 1);
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, HEALTH_V5_RETRY + 1)));
        st = stats(&w, 0);
        assert_int_equal(w.n, 0);
        assert_true(health__up(w.h, 0));
        assert_int_equal(st.ok, st.checks);
        assert_int_equal(st.version, MQTT_V311);
        assert_false(health__caps(w.h, 0, &caps));
        health__free(w.h);
        assert_true(fake_settle(f, atomic_load(&f->v5)));
        assert_int_equal(atomic_load(&f->v5), 2); /* checks 1 and 17 */
        assert_in_range(atomic_load(&f->v4), st.checks, st.checks + 1);
        assert_int_equal(atomic_load(&f->bad), 0);
        fake_stop(f);
}

/* A broker that drops a level-5 CONNECT without a word but takes 3.1.1. */
static void test_v311_after_close(void **state)
{
        struct health_cfg cfg = {.interval_ms = 30, .timeout_ms = 500, .rise = 1, .fall = 1};
        struct fake *f;
        struct health_stats st;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_V311_CLOSE);
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 4)));
        st = stats(&w, 0);
        assert_int_equal(w.n, 0);
        assert_int_equal(st.ok, st.checks);
        assert_int_equal(st.version, MQTT_V311);
        health__free(w.h);
        assert_int_equal(atomic_load(&f->v5), 1);
        assert_int_equal(atomic_load(&f->bad), 0);
        fake_stop(f);
}

/* Closed before any CONNACK, whatever the version: that is the failure, and
 * the broker stays on v5 (each check tried both). */
static void test_closed(void **state)
{
        struct health_cfg cfg = {.interval_ms = 30, .timeout_ms = 500, .rise = 1, .fall = 2};
        struct fake *f;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_CLOSE);
        first_down(&w, "closed before CONNACK");
        assert_int_equal(w.ch[0].st.failed, 2);
        assert_int_equal(w.ch[0].st.version, MQTT_V5);
        health__free(w.h);
        assert_in_range(atomic_load(&f->v5), 2, 3);
        assert_in_range(atomic_load(&f->v4), 2, 3);
        fake_stop(f);
}

/* Down, then the broker is fixed: up after exactly `rise` passes. */
static void test_down_then_fixed(void **state)
{
        struct health_cfg cfg = {.interval_ms = 30, .timeout_ms = 500, .rise = 3, .fall = 2};
        struct fake *f;
        struct mqtt_caps caps;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_REFUSE);
        assert_true(drive(&w, 10000, changes_at_least, 1));
        assert_false(w.ch[0].up);
        assert_int_equal(w.ch[0].st.failed, 2);
        atomic_store(&f->mode, FAKE_V5_OK); /* before the next check starts */
        assert_true(drive(&w, 10000, changes_at_least, 2));
        assert_true(w.ch[1].up);
        assert_string_equal(w.ch[1].reason, "3 checks passed (MQTT 5.0)");
        assert_int_equal(w.ch[1].st.ok, 3);
        assert_int_equal(w.ch[1].st.failed, 2);
        assert_int_equal(w.ch[1].st.checks, 5);
        assert_true(health__caps(w.h, 0, &caps));
        assert_int_equal(caps.topic_alias_max, 10);
        assert_false(drive(&w, 200, changes_at_least, 3));
        /* the failure that took it down is still there to read */
        assert_string_equal(health__last_error(w.h, 0), "CONNACK refused: 0x87 Not authorized");
        health__free(w.h);
        fake_stop(f);
}

/* Brokers are independent: one good, one refusing, one not listening. */
static void test_mixed(void **state)
{
        struct health_cfg cfg = {.interval_ms = 40, .timeout_ms = 500, .rise = 1, .fall = 2};
        struct fake *good = fake_start(FAKE_V5_OK), *bad = fake_start(FAKE_REFUSE);
        uint16_t closed_port, ports[3];
        int fd = bound_socket(false, &closed_port);
        struct watch w;
        bool seen[3] = {false};

        (void)state;
        ports[0] = good->port, ports[1] = bad->port, ports[2] = closed_port;
        new_checker(&w, &cfg, ports, 3);
        assert_true(drive(&w, 10000, changes_at_least, 2));
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 8)));
        assert_int_equal(w.n, 2);
        for (unsigned i = 0; i < w.n; i++) {
                assert_false(w.ch[i].up);
                assert_false(seen[w.ch[i].idx]);
                seen[w.ch[i].idx] = true;
                assert_string_equal(w.ch[i].reason, w.ch[i].idx == 1
                                                        ? "CONNACK refused: 0x87 Not authorized"
                                                        : "connect: Connection refused");
        }
        assert_true(seen[1] && seen[2]);
        assert_true(health__up(w.h, 0));
        assert_int_equal(stats(&w, 0).failed, 0);
        assert_int_equal(stats(&w, 0).ok, stats(&w, 0).checks);
        health__free(w.h);
        close(fd);
        fake_stop(good);
        fake_stop(bad);
}

/* All first checks at once; then target i at t0 + i * interval / n. */
static void test_spread(void **state)
{
        struct health_cfg cfg = {.interval_ms = 800, .timeout_ms = 500, .rise = 1, .fall = 1};
        struct fake *f = fake_start(FAKE_V5_OK);
        uint16_t ports[4] = {f->port, f->port, f->port, f->port};
        uint64_t first[4], second[4];
        unsigned seen[4] = {0};
        struct watch w;

        (void)state;
        new_checker(&w, &cfg, ports, 4);
        f->t0 = w.t0;
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 2)));
        health__free(w.h);
        atomic_store(&f->stop, true);
        pthread_join(f->thread, NULL);
        assert_int_equal(w.n, 0);
        for (unsigned i = 0; i < f->nrecs && i < FAKE_RECS; i++) {
                const struct connect_rec *r = &f->recs[i];

                assert_true(r->idx < 4);
                if (seen[r->idx] == 0)
                        first[r->idx] = r->ms;
                else if (seen[r->idx] == 1)
                        second[r->idx] = r->ms;
                seen[r->idx]++;
        }
        for (unsigned i = 0; i < 4; i++) {
                uint64_t slot = i ? i * 200 : 800;

                assert_true(seen[i] >= 2);
                assert_true(first[i] < 150);
                print_message("target %u: checks at %llu and %llu ms\n", i,
                              (unsigned long long)first[i], (unsigned long long)second[i]);
                /* never early; late only by the machine's scheduling */
                assert_in_range(second[i], slot, slot + 150);
        }
        close(f->lfd);
        free(f);
}

/* Freed with a check in flight: the broker sees the connection closed. */
static void test_free_in_flight(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 5000, .rise = 1, .fall = 1};
        struct fake *f;
        uint64_t until;
        struct watch w;

        (void)state;
        f = fake_checker(&w, &cfg, FAKE_SILENT);
        until = now_ms() + 2000;
        while (atomic_load(&f->v5) < 1 && now_ms() < until)
                drive(&w, 10, NULL, 0);
        assert_int_equal(atomic_load(&f->v5), 1);
        health__free(w.h);
        assert_true(fake_settle(f, 0));
        assert_int_equal(atomic_load(&f->eofs), 1);
        assert_int_equal(w.n, 0);
        fake_stop(f);
}

static void test_bad_args(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 100, .rise = 1, .fall = 1};
        struct health_target t = {.port = 1883, .name = "nowhere"};
        struct health *h = NULL;
        char err[128];
        struct watch w = {0};

        (void)state;
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "health: nowhere: not an IPv4/IPv6 address and port");
        assert_int_equal(ip_addr__parse(&t.addr, "127.0.0.1"), 0);
        t.port = 0;
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), -EINVAL);
        t.port = 1883;
        cfg.rise = 0;
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "health: interval, timeout, rise and fall must be > 0");
        cfg.rise = 1;
        assert_int_equal(
            health__new(&h, &cfg, &t, HEALTH_TARGETS_MAX + 1, on_change, &w, err, sizeof(err)),
            -EINVAL);
        assert_null(h);
        /* no brokers: valid, and nothing ever to do */
        assert_int_equal(health__new(&h, &cfg, &t, 0, on_change, &w, err, sizeof(err)), 0);
        {
                struct pollfd p = {.fd = health__fd(h), .events = POLLIN};

                health__run(h);
                assert_int_equal(poll(&p, 1, 100), 0);
        }
        assert_false(health__up(h, 0));
        health__free(h);
        health__free(NULL);
        assert_string_equal(health__connack_str(0x87, true), "Not authorized");
        assert_string_equal(health__connack_str(0x05, false), "Not authorized");
        assert_string_equal(health__connack_str(0x01, false), "Unacceptable protocol version");
        assert_string_equal(health__connack_str(0x8B, true), "?");
}

/* As the control thread will: a poll on health__fd() from its own io_uring
 * (the only wake-up), one broker passing, one timing out. */
static void test_polled_by_ring(void **state)
{
        struct health_cfg cfg = {.interval_ms = 40, .timeout_ms = 100, .rise = 1, .fall = 2};
        struct fake *good = fake_start(FAKE_V5_OK), *silent = fake_start(FAKE_SILENT);
        uint16_t ports[2] = {good->port, silent->port};
        struct __kernel_timespec ts = {.tv_nsec = 20 * 1000000L};
        uint64_t until = now_ms() + 10000;
        struct io_uring ring;
        unsigned wakeups = 0;
        bool polling = false;
        struct watch w;

        (void)state;
        assert_int_equal(io_uring_queue_init(4, &ring, 0), 0);
        new_checker(&w, &cfg, ports, 2);
        while ((w.n < 1 || stats(&w, 0).checks < 6) && now_ms() < until) {
                struct io_uring_cqe *cqe;

                if (!polling) {
                        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

                        io_uring_prep_poll_add(sqe, health__fd(w.h), POLLIN);
                        polling = true;
                }
                if (io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL) == 0) {
                        assert_true(cqe->res & POLLIN);
                        io_uring_cqe_seen(&ring, cqe);
                        polling = false;
                        wakeups++;
                        health__run(w.h);
                }
        }
        assert_int_equal(w.n, 1);
        assert_int_equal(w.ch[0].idx, 1);
        assert_string_equal(w.ch[0].reason, "timeout after 100 ms");
        assert_true(stats(&w, 0).checks >= 6);
        assert_int_equal(stats(&w, 0).ok, stats(&w, 0).checks);
        print_message("%u wake-ups\n", wakeups);
        health__free(w.h);
        io_uring_queue_exit(&ring);
        fake_stop(good);
        fake_stop(silent);
}

/* ---- a real Mosquitto ---- */

#define MOSQUITTO "/usr/sbin/mosquitto"
#define OPENSSL   "/usr/bin/openssl"

static bool port_open(uint16_t port)
{
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;

        if (fd >= 0)
                close(fd);
        return ok;
}

/* A port free now (bound, then let go) for a server to listen on. */
static uint16_t free_port(void)
{
        uint16_t port;

        close(bound_socket(false, &port));
        return port;
}

/* The test needs program path (Debian package pkg): skipped when it is
 * missing, except in CI (CI=true), where that fails. */
static void need(const char *path, const char *pkg)
{
        const char *ci = getenv("CI");

        if (access(path, X_OK) == 0)
                return;
        if (ci && strcmp(ci, "true") == 0)
                fail_msg("%s is missing (CI=true: install %s)", path, pkg);
        print_message("skipped: %s is not installed\n", path);
        skip();
}

static pid_t mosq_pid = -1; /* started and not reaped yet */

/* After a failed assertion too: the Mosquitto we started goes, by its PID. */
static int mosquitto_teardown(void **state)
{
        (void)state;
        if (mosq_pid > 0) {
                kill(mosq_pid, SIGKILL);
                waitpid(mosq_pid, NULL, 0);
                mosq_pid = -1;
        }
        return 0;
}

/*
 * Mosquitto on dir/mosquitto.conf (anonymous, no persistence, then
 * listeners, the listener lines), its output in dir/mosquitto.log; back
 * when every one of ports[0..n) takes connections. Its PID in mosq_pid.
 */
static pid_t mosquitto_start(const char *dir, const char *listeners, const uint16_t *ports,
                             unsigned n)
{
        char conf[128], log[128];
        char *argv[] = {MOSQUITTO, "-c", conf, NULL};
        posix_spawn_file_actions_t fa;
        uint64_t until;
        int status = 0;
        unsigned up = 0;
        pid_t pid;
        FILE *fp;

        fixture_tmpdir__path(dir, conf, "mosquitto.conf");
        fixture_tmpdir__path(dir, log, "mosquitto.log");
        fp = fopen(conf, "w");
        assert_non_null(fp);
        fprintf(fp, "allow_anonymous true\npersistence false\n");
        if (geteuid() == 0)
                fprintf(fp, "user root\n");
        fputs(listeners, fp);
        fclose(fp);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        assert_int_equal(posix_spawn(&pid, MOSQUITTO, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        mosq_pid = pid;
        until = now_ms() + 5000;
        while (up < n && now_ms() < until) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        mosq_pid = -1;
                        fail_msg("mosquitto exited with status 0x%x (see %s)", status, log);
                }
                if (port_open(ports[up]))
                        up++;
                else
                        usleep(20000);
        }
        if (up < n)
                fail_msg("mosquitto did not listen on 127.0.0.1:%u (see %s)", ports[up], log);
        return pid;
}

static void test_mosquitto(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 500, .rise = 2, .fall = 2};
        char dir[64], listener[64];
        struct mqtt_caps caps;
        struct health_stats st;
        uint64_t until;
        struct watch w;
        uint16_t port;
        int status = 0;
        pid_t pid, reaped;

        (void)state;
        need(MOSQUITTO, "mosquitto");
        assert_int_equal(fixture_tmpdir__make(dir, sizeof(dir), "test_health"), 0);
        port = free_port();
        snprintf(listener, sizeof(listener), "listener %u 127.0.0.1\n", port);
        pid = mosquitto_start(dir, listener, &port, 1);

        new_checker(&w, &cfg, &port, 1);
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 4)));
        st = stats(&w, 0);
        assert_int_equal(w.n, 0);
        assert_true(health__up(w.h, 0));
        assert_int_equal(st.ok, st.checks);
        assert_int_equal(st.version, MQTT_V5);
        assert_true(health__caps(w.h, 0, &caps));
        print_message("mosquitto caps: present 0x%x topic_alias_max %u receive_max %u "
                      "max_packet %u max_qos %u retain %u wildcard %u subid %u shared %u\n",
                      caps.present, caps.topic_alias_max, caps.receive_max, caps.max_packet,
                      caps.max_qos, caps.retain_avail, caps.wildcard_avail, caps.subid_avail,
                      caps.shared_avail);
        /* mosquitto 2's default max_topic_alias */
        assert_true(caps.present & MQTT_HAS_TOPIC_ALIAS_MAX);
        assert_int_equal(caps.topic_alias_max, 10);

        /* killed by its PID: down after `fall` refused connects */
        assert_int_equal(kill(pid, SIGTERM), 0);
        until = now_ms() + 5000;
        while ((reaped = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < until)
                usleep(10000);
        assert_int_equal(reaped, pid);
        mosq_pid = -1;
        first_down(&w, "connect: Connection refused");
        assert_int_equal(w.ch[0].st.failed, 2);
        assert_true(health__caps(w.h, 0, &caps)); /* kept while down */
        health__free(w.h);
        assert_int_equal(fixture_tmpdir__remove(dir), 0);
}

/* ---- the TCP-only check, and TLS ---- */

/* Target i as target_at(), with tls and kind. */
static struct health_target tls_target(uint16_t port, uint32_t i, bool tls, enum health_check kind)
{
        struct health_target t = target_at(port, i);

        t.tls = tls;
        t.kind = kind;
        return t;
}

/* HEALTH_CHECK_TCP: a listener that never accepts (the kernel completes the
 * connect) passes, a closed port fails; never a CONNECT, never caps. */
static void test_tcp_check(void **state)
{
        struct health_cfg cfg = {.interval_ms = 30, .timeout_ms = 300, .rise = 1, .fall = 2};
        uint16_t silent_port, closed_port;
        int silent = bound_socket(true, &silent_port), closed = bound_socket(false, &closed_port);
        struct health_target t[2] = {tls_target(silent_port, 0, false, HEALTH_CHECK_TCP),
                                     tls_target(closed_port, 1, false, HEALTH_CHECK_TCP)};
        struct mqtt_caps caps;
        struct pollfd p = {.fd = silent, .events = POLLIN};
        struct watch w;

        (void)state;
        new_checker_of(&w, &cfg, t, 2);
        assert_true(drive(&w, 10000, changes_at_least, 1));
        assert_true(drive(&w, 10000, checks_at_least, CHECKS(0, 3)));
        assert_int_equal(w.n, 1);
        assert_int_equal(w.ch[0].idx, 1);
        assert_string_equal(w.ch[0].reason, "connect: Connection refused");
        assert_int_equal(w.ch[0].st.failed, 2);
        assert_all_passed(&w, 0);
        assert_false(health__caps(w.h, 0, &caps));
        health__set_up(w.h, 0, false); /* and back up at the next pass, saying what passed */
        assert_true(drive(&w, 10000, changes_at_least, 2));
        assert_true(w.ch[1].up);
        assert_string_equal(w.ch[1].reason, "1 check passed (TCP connect)");
        health__free(w.h);
        /* connections waited to be accepted, and were never written to */
        assert_int_equal(poll(&p, 1, 0), 1);
        {
                int c = accept4(silent, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                uint8_t b;

                assert_true(c >= 0);
                assert_int_equal(recv(c, &b, 1, 0), 0); /* closed, no byte */
                close(c);
        }
        close(silent);
        close(closed);
}

/* TLS against a listener that completes TCP and never answers the
 * handshake: each check ends at its timeout, and the reason says where. */
static void test_tls_handshake_timeout(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 100, .rise = 1, .fall = 2};
        uint16_t port;
        int fd = bound_socket(true, &port);
        struct health_target t[2] = {tls_target(port, 0, true, HEALTH_CHECK_MQTT),
                                     tls_target(port, 1, true, HEALTH_CHECK_TCP)};
        struct watch w;

        (void)state;
        new_checker_of(&w, &cfg, t, 2);
        assert_true(drive(&w, 10000, changes_at_least, 2));
        for (unsigned i = 0; i < 2; i++) {
                assert_false(w.ch[i].up);
                assert_string_equal(w.ch[i].reason, "TLS handshake: timeout after 100 ms");
                assert_int_equal(w.ch[i].st.failed, 2);
                assert_int_equal(w.ch[i].st.checks, 2);
                assert_in_range(w.ch[i].ms, 195, 1000); /* two whole timeouts */
        }
        health__free(w.h);
        close(fd);
}

/* TLS options that cannot work are refused by health__new(), by name. */
static void test_tls_bad_args(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 100, .rise = 1, .fall = 1};
        struct health_target t = tls_target(1883, 0, true, HEALTH_CHECK_MQTT);
        struct health *h = NULL;
        struct watch w = {0};
        char err[256];

        (void)state;
        t.ca_file = "/nonexistent/ca.pem";
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), -EINVAL);
        assert_string_equal(err,
                            "health: b0: ca_file /nonexistent/ca.pem: No such file or directory");
        t.ca_file = "";
        t.cert_file = "/nonexistent/client.pem";
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "health: b0: cert_file and key_file go together");
        t.key_file = "/nonexistent/client.key";
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "health: b0: cert_file /nonexistent/client.pem: "));
        t.cert_file = t.key_file = NULL;
        t.kind = (enum health_check)7;
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "health: b0: unknown check kind 7");
        assert_null(h);
        /* plain TLS, nothing to load: fine */
        t.kind = HEALTH_CHECK_TCP;
        t.server_name = "broker.example";
        assert_int_equal(health__new(&h, &cfg, &t, 1, on_change, &w, err, sizeof(err)), 0);
        health__free(h);
}

/*
 * The TLS broker of the tests below: certificates made by the openssl
 * command, one Mosquitto with four listeners. Started by the first test
 * that needs it, stopped by the group's teardown.
 */
struct tls_broker {
        bool started;
        char dir[64];
        char ca[128], client_crt[128], client_key[128];
        uint16_t plain; /* MQTT */
        uint16_t tls;   /* MQTT over TLS, the server certificate of ca */
        uint16_t mtls;  /* the same, and a client certificate of ca required */
        uint16_t rogue; /* MQTT over TLS, a certificate of another CA */
};

static struct tls_broker tb;

/* The openssl command, its output in dir/openssl.log: exit status 0. */
static void run_openssl(const char *dir, char *const argv[])
{
        posix_spawn_file_actions_t fa;
        char log[128];
        int status = 0;
        pid_t pid;

        fixture_tmpdir__path(dir, log, "openssl.log");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        assert_int_equal(posix_spawn(&pid, OPENSSL, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status))
                fail_msg("openssl %s failed with status 0x%x (see %s)", argv[1], status, log);
}

/* dir/name.crt and dir/name.key: a P-256 key and its certificate for cn,
 * signed by dir/issuer.{crt,key} (self-signed, a CA, when issuer is NULL),
 * with subjectAltName san when given. */
static void make_cert(const char *dir, const char *name, const char *cn, const char *issuer,
                      const char *san)
{
        char crt[128], key[128], ica[128], ikey[128], subj[96], sane[128];
        char *argv[32] = {
            OPENSSL,  "req",   "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2",     "-subj",   subj, "-keyout",  key,
            "-out",   crt};
        int n = 16;

        snprintf(subj, sizeof(subj), "/CN=%s", cn);
        snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
        snprintf(key, sizeof(key), "%s/%s.key", dir, name);
        if (issuer) {
                snprintf(ica, sizeof(ica), "%s/%s.crt", dir, issuer);
                snprintf(ikey, sizeof(ikey), "%s/%s.key", dir, issuer);
                argv[n++] = "-CA";
                argv[n++] = ica;
                argv[n++] = "-CAkey";
                argv[n++] = ikey;
                argv[n++] = "-addext";
                argv[n++] = "basicConstraints=critical,CA:FALSE";
        }
        if (san) {
                snprintf(sane, sizeof(sane), "subjectAltName=%s", san);
                argv[n++] = "-addext";
                argv[n++] = sane;
        }
        argv[n] = NULL;
        run_openssl(dir, argv);
}

static const struct tls_broker *tls_broker(void)
{
        char conf[2048];
        uint16_t ports[4];
        const char *d = tb.dir;

        need(MOSQUITTO, "mosquitto");
        need(OPENSSL, "openssl");
        if (tb.started)
                return &tb;
        assert_int_equal(fixture_tmpdir__make(tb.dir, sizeof(tb.dir), "test_health_tls"), 0);
        tb.started = true;
        make_cert(d, "ca", "mqttlb test CA", NULL, NULL);
        make_cert(d, "server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1");
        make_cert(d, "client", "mqttlb-health", "ca", NULL);
        make_cert(d, "rogue-ca", "another CA", NULL, NULL);
        make_cert(d, "rogue", "localhost", "rogue-ca", "DNS:localhost,IP:127.0.0.1");
        fixture_tmpdir__path(d, tb.ca, "ca.crt");
        fixture_tmpdir__path(d, tb.client_crt, "client.crt");
        fixture_tmpdir__path(d, tb.client_key, "client.key");
        ports[0] = tb.plain = free_port();
        ports[1] = tb.tls = free_port();
        ports[2] = tb.mtls = free_port();
        ports[3] = tb.rogue = free_port();
        snprintf(conf, sizeof(conf),
                 "listener %u 127.0.0.1\n"
                 "listener %u 127.0.0.1\n"
                 "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
                 "listener %u 127.0.0.1\n"
                 "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
                 "require_certificate true\n"
                 "listener %u 127.0.0.1\n"
                 "cafile %s/rogue-ca.crt\ncertfile %s/rogue.crt\nkeyfile %s/rogue.key\n",
                 tb.plain, tb.tls, d, d, d, tb.mtls, d, d, d, tb.rogue, d, d, d);
        mosquitto_start(d, conf, ports, 4);
        return &tb;
}

static int tls_broker_teardown(void **state)
{
        mosquitto_teardown(state);
        if (tb.started)
                fixture_tmpdir__remove(tb.dir);
        tb.started = false;
        return 0;
}

/* A TLS target that verifies the broker against the test CA, and its
 * certificate against server_name. */
static struct health_target tls_verified(uint16_t port, uint32_t i, enum health_check kind,
                                         const char *server_name)
{
        struct health_target t = tls_target(port, i, true, kind);

        t.ca_file = tb.ca;
        t.server_name = server_name;
        return t;
}

/* Checks t[0..n) until every broker had three checks or changed: the
 * changes are the brokers down, each once. */
static void drive_tls(struct watch *w, const struct health_cfg *cfg, const struct health_target *t,
                      uint32_t n)
{
        new_checker_of(w, cfg, t, n);
        for (uint32_t i = 0; i < n; i++)
                assert_true(drive(w, 10000, checks_at_least, CHECKS(i, 3)));
}

/* (a) MQTT over TLS passes, verified or not; plain MQTT against TLS and
 * TLS against plain MQTT fail; the TCP kind over TLS passes at the
 * handshake. */
static void test_tls_mqtt(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 1000, .rise = 1, .fall = 2};
        const struct tls_broker *b;
        struct health_target t[5];
        struct mqtt_caps caps;
        struct watch w;

        (void)state;
        b = tls_broker();
        t[0] = tls_verified(b->tls, 0, HEALTH_CHECK_MQTT, "localhost");
        t[1] = tls_target(b->tls, 1, false, HEALTH_CHECK_MQTT);
        t[2] = tls_target(b->plain, 2, true, HEALTH_CHECK_MQTT);
        t[3] = tls_target(b->tls, 3, true, HEALTH_CHECK_MQTT); /* nothing verified */
        t[4] = tls_target(b->tls, 4, true, HEALTH_CHECK_TCP);
        drive_tls(&w, &cfg, t, 5);
        for (unsigned i = 0; i < w.n; i++)
                print_message("b%u down: %s\n", w.ch[i].idx, w.ch[i].reason);
        assert_int_equal(w.n, 2);
        assert_false(change_of(&w, 1)->up);
        assert_false(change_of(&w, 2)->up);
        /* Mosquitto's TLS hangs up on a plain CONNECT (with an RST when our
         * bytes are still unread), and on a ClientHello its MQTT does */
        assert_true(!strcmp(change_of(&w, 1)->reason, "recv: Connection reset by peer") ||
                    !strcmp(change_of(&w, 1)->reason, "closed before CONNACK"));
        assert_non_null(strstr(change_of(&w, 2)->reason, "TLS handshake: connection "));
        for (uint32_t i = 0; i < 5; i += i == 0 ? 3 : 1) {
                assert_true(health__up(w.h, i));
                assert_int_equal(stats(&w, i).ok, stats(&w, i).checks);
        }
        /* the CONNACK came through the session: v5 and its caps */
        assert_int_equal(stats(&w, 0).version, MQTT_V5);
        assert_true(health__caps(w.h, 0, &caps));
        assert_int_equal(caps.topic_alias_max, 10);
        assert_false(health__caps(w.h, 4, &caps));
        /* and the reasons a pass gives */
        health__set_up(w.h, 0, false);
        health__set_up(w.h, 4, false);
        assert_true(drive(&w, 10000, changes_at_least, 4));
        assert_string_equal(change_of(&w, 0)->reason, "1 check passed (MQTT 5.0 over TLS)");
        assert_string_equal(change_of(&w, 4)->reason, "1 check passed (TLS handshake)");
        health__free(w.h);
}

/* (b) A listener requiring a client certificate: the check with one passes,
 * without one fails. With TLS 1.3 the client's side of the handshake
 * completes either way; the broker's refusal comes after, so it is the
 * CONNACK read that fails ("TLS: ", not "TLS handshake: "). */
static void test_tls_client_cert(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 1000, .rise = 1, .fall = 2};
        const struct tls_broker *b;
        struct health_target t[2];
        struct watch w;

        (void)state;
        b = tls_broker();
        t[0] = tls_verified(b->mtls, 0, HEALTH_CHECK_MQTT, "localhost");
        t[0].cert_file = b->client_crt;
        t[0].key_file = b->client_key;
        t[1] = tls_target(b->mtls, 1, true, HEALTH_CHECK_MQTT);
        drive_tls(&w, &cfg, t, 2);
        assert_int_equal(w.n, 1);
        print_message("b1 down: %s\n", w.ch[0].reason);
        assert_int_equal(w.ch[0].idx, 1);
        assert_false(w.ch[0].up);
        assert_true(strncmp(w.ch[0].reason, "TLS: ", 5) == 0);
        assert_all_passed(&w, 0);
        assert_int_equal(stats(&w, 0).version, MQTT_V5);
        health__free(w.h);
}

/* (e) With ca_file, a certificate of another CA fails the handshake, and so
 * does a name it does not carry; an address is matched against its IP
 * SANs; without ca_file nothing is verified. */
static void test_tls_verify(void **state)
{
        struct health_cfg cfg = {.interval_ms = 50, .timeout_ms = 1000, .rise = 1, .fall = 2};
        const struct tls_broker *b;
        struct health_target t[4];
        struct watch w;

        (void)state;
        b = tls_broker();
        t[0] = tls_verified(b->rogue, 0, HEALTH_CHECK_MQTT, "localhost");
        t[1] = tls_verified(b->tls, 1, HEALTH_CHECK_TCP, "wrong.example");
        t[2] = tls_target(b->rogue, 2, true, HEALTH_CHECK_MQTT);
        t[3] = tls_verified(b->tls, 3, HEALTH_CHECK_MQTT, "127.0.0.1");
        drive_tls(&w, &cfg, t, 4);
        assert_int_equal(w.n, 2);
        /* X509's reason depends on the chain the broker sends (Mosquitto
         * sends the other CA too: "self-signed certificate in certificate
         * chain"); that verification failed does not */
        print_message("b0 down: %s\n", change_of(&w, 0)->reason);
        assert_non_null(
            strstr(change_of(&w, 0)->reason, "TLS handshake: certificate verify failed ("));
        assert_string_equal(change_of(&w, 1)->reason,
                            "TLS handshake: certificate verify failed (hostname mismatch)");
        assert_all_passed(&w, 2);
        assert_all_passed(&w, 3);
        health__free(w.h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_v5_up_caps),
            cmocka_unit_test(test_refused),
            cmocka_unit_test(test_timeout),
            cmocka_unit_test(test_connection_refused),
            cmocka_unit_test(test_v311_fallback),
            cmocka_unit_test(test_v311_after_close),
            cmocka_unit_test(test_closed),
            cmocka_unit_test(test_down_then_fixed),
            cmocka_unit_test(test_mixed),
            cmocka_unit_test(test_spread),
            cmocka_unit_test(test_free_in_flight),
            cmocka_unit_test(test_bad_args),
            cmocka_unit_test(test_polled_by_ring),
            cmocka_unit_test_teardown(test_mosquitto, mosquitto_teardown),
            cmocka_unit_test(test_tcp_check),
            cmocka_unit_test(test_tls_handshake_timeout),
            cmocka_unit_test(test_tls_bad_args),
        };
        const struct CMUnitTest tls_tests[] = {
            cmocka_unit_test(test_tls_mqtt),
            cmocka_unit_test(test_tls_client_cert),
            cmocka_unit_test(test_tls_verify),
        };
        int failed;

        signal(SIGPIPE, SIG_IGN);
        failed = cmocka_run_group_tests(tests, NULL, NULL);
        return failed +
               cmocka_run_group_tests_name("tls_broker", tls_tests, NULL, tls_broker_teardown);
}
