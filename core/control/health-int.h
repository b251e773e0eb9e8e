/*
 * The checker's insides, shared by its two files and included by no other:
 * health.c (the ring, the schedule, the plain check and every verdict) and
 * health_tls.c (a TLS check's turns, and OpenSSL). One target's state,
 * the checker's, the verdicts and the next operation that health.c gives
 * a TLS check, and the turns that health_tls.c takes when a TLS check's
 * operation completes.
 */
#ifndef MQTTLB_CORE_HEALTH_INT_H
#define MQTTLB_CORE_HEALTH_INT_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/control/health.h"
#include "mqtt/parser.h"

#define HEALTH_TLS_IO 4096 /* ciphertext bytes per send or receive */

struct health_tls;

/* The operation of a check in flight. */
enum stage { ST_IDLE = 0, ST_CONNECT, ST_SEND, ST_RECV };

/* Where a TLS check's session is (the stage says which operation is in flight). */
enum tls_phase { TLS_NONE = 0, TLS_HANDSHAKE, TLS_OPEN };

struct target {
        struct sockaddr_storage sa;
        socklen_t salen;
        int fd;            /* -1 when no check is in flight */
        uint8_t stage;     /* enum stage */
        uint8_t kind;      /* enum health_check */
        uint8_t tls_phase; /* enum tls_phase */
        uint8_t version;   /* the protocol the next check starts with */
        uint8_t attempt;   /* the protocol of the attempt in flight */
        bool fallback;     /* this check is on its 3.1.1 retry */
        bool up;
        bool have_caps;
        uint32_t v311_run; /* checks started with 3.1.1 since the last v5 CONNECT */
        uint32_t streak_ok, streak_fail;
        uint32_t gen;
        uint64_t phase_ns;                 /* this target's slot in the interval */
        uint64_t due_ns;                   /* when its next check starts */
        struct __kernel_timespec deadline; /* of the check in flight, CLOCK_MONOTONIC */
        uint16_t out_len, out_off;
        uint8_t out[64];        /* the CONNECT: 13 + 2 + a client id of at most 35 bytes */
        uint8_t in[512];        /* one RECV; the parser reassembles across them */
        struct health_tls *tls; /* NULL: plain TCP */
        struct mqtt_parser parser;
        struct mqtt_caps caps;
        struct health_stats stats;
        char last_error[HEALTH_REASON_MAX];
};

struct health {
        struct health_cfg cfg;
        health_change_fn *cb;
        void *ctx;
        struct io_uring ring;
        bool ring_ok;
        bool timer_armed;
        struct __kernel_timespec timer;
        int pid;
        uint32_t n;
        struct target *t;
};

/* ---- health.c: verdicts and operations, for a TLS check's turns too ---- */

/* Queues the operation of t's stage, linked to the check's deadline: 0 or -errno. */
int check__submit(struct health *h, struct target *t);

/* The check passed (what: the callback's words, check__what_passed()) or
 * failed (why); either ends it. */
void check__passed(struct health *h, struct target *t, const char *what);
__attribute__((format(printf, 3, 4))) void check__failed(struct health *h, struct target *t,
                                                         const char *fmt, ...);
const char *check__what_passed(const struct target *t, bool v5);

/* The broker closed before its CONNACK: a v5 attempt is retried over 3.1.1,
 * else the check fails with what. */
void check__closed_early(struct health *h, struct target *t, const char *what);

/* Plaintext from the broker to the parser: true when that ended the attempt
 * (a CONNACK judged, an error), false when the CONNACK needs more bytes. */
bool check__bytes(struct health *h, struct target *t, const uint8_t *buf, size_t len);

/* After a pass: msg (n bytes, the DISCONNECT; none for HEALTH_CHECK_TCP),
 * over TLS with a close_notify, in one non-blocking send(). */
void check__goodbye(struct target *t, const uint8_t *msg, size_t n);

/* A failure's prefix: which part of a TLS check it happened in. */
static inline const char *check__where(const struct target *t)
{
        return t->tls_phase == TLS_HANDSHAKE ? "TLS handshake: " : "";
}

/* ---- health_tls.c: a target's TLS state, and a TLS check's turns ---- */

/*
 * The TLS state of target t: its SSL_CTX (shared, by reference count, with
 * like: an earlier target's state loading the same files; NULL: a new one
 * loaded), its two memory BIOs, its server name, its ciphertext buffer. 0,
 * or -EINVAL (a file that does not load, a server name too long) or
 * -ENOMEM, with "NAME: what" in err.
 */
int health_tls__new(struct health_tls **out, const struct health_target *t, struct health_tls *like,
                    char *err, size_t errlen);
void health_tls__free(struct health_tls *s); /* NULL is fine */
bool health_tls__same_files(const struct health_target *a, const struct health_target *b);

/* The session of the attempt goes (SSL_free); a no-op without one. */
void health_tls__end(struct health_tls *s);

/* For check__submit(): the ciphertext to send (its length; *p), and where a
 * receive puts ciphertext (HEALTH_TLS_IO bytes; only while nothing is left
 * to send: one buffer serves both). */
size_t health_tls__out(struct health_tls *s, const uint8_t **p);
uint8_t *health_tls__in(struct health_tls *s);

/* For check__goodbye(): msg (n bytes) and a close_notify into the session;
 * the ciphertext to send in *msg, its length returned. */
size_t health_tls__goodbye(struct health_tls *s, const uint8_t **msg, size_t n);

/* A TLS check's turns: the connect completed (the session starts), a SEND
 * or a RECV of its completed with res. Each ends the check or queues the
 * next operation. */
void health_tls__on_connect(struct health *h, struct target *t);
void health_tls__on_send(struct health *h, struct target *t, int res);
void health_tls__on_recv(struct health *h, struct target *t, int res);

#endif
