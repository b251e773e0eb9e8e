/*
 * mqttload's run: what its threads share (struct load), what each owns
 * (struct load_thread: one io_uring, its clients, its counters, histograms and
 * tracks), one client (struct conn), and the entry points of the files that
 * work on them:
 *   engine.c   the thread: its ring, the loop, the timer tick, connection
 *              pacing, keepalive and timeout checks, stopping;
 *   conn.c     one client's socket through the ring: connect, send, recv,
 *              packets cut out of the stream, closing, retrying;
 *   tls.c      --tls: OpenSSL on memory BIOs between the ring and the
 *              session (tls.h);
 *   session.c  the MQTT side of a client per mode: what to send, what to do
 *              with each packet from the broker;
 *   report.c   the threads' counters summed, progress lines, the summary
 *              and the JSON object;
 *   mqttload.c sets the run up, starts, watches and stops it.
 *
 * A counter (struct load_stats) is written only by the thread that owns it
 * (stat_add) and read by the main thread with relaxed atomic loads (stat_ld);
 * histograms and tracks are read only after the thread ended.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_LOAD_H
#define MQTTLB_BENCH_MQTTLOAD_LOAD_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/mqttload/hist.h"
#include "bench/mqttload/mqttc.h"
#include "bench/mqttload/opts.h"
#include "bench/mqttload/track.h"

/* Why a connection attempt failed or a connection dropped. */
enum load_fail {
        FAIL_NONE = 0,
        FAIL_REFUSED,    /* ECONNREFUSED */
        FAIL_TIMEOUT,    /* no SYN-ACK, CONNACK or SUBACK in time, no PINGRESP */
        FAIL_RESET,      /* ECONNRESET, EPIPE */
        FAIL_CLOSED,     /* the broker closed the connection */
        FAIL_UNREACH,    /* ENETUNREACH, EHOSTUNREACH */
        FAIL_ADDR,       /* EADDRNOTAVAIL, EADDRINUSE: no local port left */
        FAIL_SOCKET,     /* socket() or bind() failed (EMFILE...) */
        FAIL_CONNACK,    /* CONNACK with a non-zero return code */
        FAIL_SUBACK,     /* SUBACK refused the subscription */
        FAIL_PROTOCOL,   /* a malformed or unexpected packet */
        FAIL_DISCONNECT, /* the broker sent DISCONNECT (5.0) */
        FAIL_TLS,        /* --tls: the handshake failed, or a bad record */
        FAIL_OTHER,
        FAIL_N,
};

const char *load_fail__name(enum load_fail f);
enum load_fail load_fail__from_errno(int err);

enum conn_state {
        CS_IDLE = 0, /* not started, or waiting to retry */
        CS_TCP,      /* connect submitted */
        CS_TLS,      /* --tls: TCP up, TLS handshake under way */
        CS_CONNACK,  /* CONNECT queued, waiting for CONNACK */
        CS_SUBACK,   /* sub: SUBSCRIBE queued, waiting for SUBACK */
        CS_RUN,
        CS_DRAIN,   /* pub stopping: no new messages, waiting for acks */
        CS_BYE,     /* DISCONNECT queued: close once it is sent */
        CS_CLOSING, /* shut down, waiting for the ring's operations to end */
        CS_DONE,
};

/* A QoS 1/2 message a publisher waits for an acknowledgement of. */
struct pub_slot {
        uint16_t pid;
        uint8_t state; /* 0 free, 1 waiting PUBACK/PUBREC, 2 waiting PUBCOMP */
};

struct load_thread;
struct ssl_st;
struct ssl_session_st;
struct bio_st;

struct conn {
        struct load_thread *t;
        int fd;
        uint32_t idx; /* client number, 0-based over the run */
        enum conn_state state;
        bool recv_busy, send_busy, connect_busy; /* operations in the ring */
        bool dirty;                              /* on the thread's flush list */
        bool ever_connected;                     /* a CONNACK arrived once */
        bool settled;                            /* counted in load_stats.settled */
        bool up;                                 /* counted in load_stats.up */
        bool ping_out;
        bool complete; /* sub: got what --publishers/-n asked for */
        bool retry;    /* CS_CLOSING: retry (else done) */
        uint64_t retry_at;
        char *cid, *topic;
        uint16_t cid_len, topic_len;
        uint8_t *rx;
        uint32_t rxlen, rxcap;
        /* tx: bytes in the ring (txf, stable until the send completes) and
         * bytes queued behind them (txp, may grow) */
        uint8_t *txf, *txp;
        uint32_t txf_len, txf_off, txf_cap, txp_len, txp_cap;
        uint64_t t_start; /* connect submitted */
        /* --tls (tls.c): the connection's SSL and its outgoing BIO, the
         * ciphertext the ring reads into, the session kept for the next
         * connection (--tls-resume) */
        struct ssl_st *ssl;
        struct bio_st *tls_wbio;
        uint8_t *crx;
        uint32_t crxcap;
        struct ssl_session_st *tls_sess;
        uint64_t last_tx, ping_at;
        /* pub */
        uint64_t seq;
        double tokens;
        struct pub_slot *slots;
        uint16_t *free_slots;
        uint32_t nfree, window, pid_gen;
        /* sub */
        uint64_t received;
        uint64_t *qos2_rx; /* packet ids of QoS 2 PUBLISH waiting for PUBREL */
        uint32_t tracks_complete;
        struct conn *next_dirty, *next_retry;
};

struct load_stats {
        uint64_t connected; /* clients that got a CONNACK at least once */
        uint64_t connects;  /* CONNACKs, reconnects included */
        uint64_t connect_failed, disconnected, reconnects;
        uint64_t fail[FAIL_N], drop[FAIL_N];
        uint64_t sent, acked, rejected, received, duplicated, unstamped, untracked;
        uint64_t first_msg_ns, last_msg_ns;
        uint64_t first_conn_ns, last_conn_ns; /* first connect submitted, last CONNACK */
        uint64_t up;                          /* connections now past CONNACK */
        uint64_t settled; /* clients that connected (and subscribed) or failed once */
        uint64_t storm_start_ns, storm_end_ns; /* the last drop-to-all-back period */
        uint64_t tls_handshakes, tls_resumed;  /* --tls: completed, of which resumed */
};

struct load;

struct load_thread {
        struct load *l;
        uint32_t idx;
        pthread_t tid;
        bool started;
        struct io_uring ring;
        bool ring_ok;
        struct conn *conns;
        uint32_t nconns, next_start, live, subs_complete;
        double conn_tokens;
        struct conn *dirty, *retry;
        uint8_t *payload; /* template of -s bytes */
        struct __kernel_timespec tick_ts, connect_ts;
        uint64_t now, last_tick, next_house;
        bool stopping;
        uint64_t drain_deadline, hard_deadline;
        const char *protocol_error; /* the first one, for the summary */
        char tls_error[200];        /* the first TLS failure, for the summary */
        struct load_stats st;
        struct hist lat, conn_lat, tls_lat;
        struct track_table tracks;
        uint64_t lost; /* computed when the thread ends */
        int err;       /* internal failure (-errno) */
        bool finished;
};

struct ssl_ctx_st;

struct load {
        struct load_cfg cfg;
        struct load_thread *th;
        struct ssl_ctx_st *tls_ctx; /* --tls: shared by the threads */
        uint64_t start_ns, end_ns;
        bool stop; /* set by the main thread (signal, --idle); read relaxed */
};

static inline void stat_add(uint64_t *field, uint64_t n)
{
        __atomic_store_n(field, *field + n, __ATOMIC_RELAXED);
}

static inline void stat_set(uint64_t *field, uint64_t v)
{
        __atomic_store_n(field, v, __ATOMIC_RELAXED);
}

static inline uint64_t stat_ld(const uint64_t *field)
{
        return __atomic_load_n(field, __ATOMIC_RELAXED);
}

/* CLOCK_MONOTONIC in ns (conn.c) */
uint64_t load_now_ns(void);

/* engine.c */
void *load_thread__run(void *arg);
/* Frees what the thread allocated; after it ended. */
void load_thread__free(struct load_thread *t);
/* Stop the thread's clients: publishers drain, everyone says goodbye. */
void load_thread__stop(struct load_thread *t);

/* conn.c */
/* Room for n more bytes behind what is queued; NULL on ENOMEM. */
uint8_t *conn__tx_reserve(struct conn *c, uint32_t n);
/* n bytes of the reserved room are queued; sent at the end of the batch. */
void conn__tx_commit(struct conn *c, uint32_t n);
/* A connection attempt failed or a connection dropped: count, close, maybe retry. */
void conn__abort(struct conn *c, enum load_fail why);
/* The MQTT session is up (CONNACK, and SUBACK for sub). */
void conn__running(struct conn *c);
/* Queue DISCONNECT; the socket closes once it is sent. */
void conn__bye(struct conn *c);

/* session.c */
/* TCP is up: queue CONNECT. Returns 0 or -ENOMEM. */
int session__connect(struct conn *c);
/* One packet from the broker. Returns FAIL_NONE, or a failure to abort with. */
enum load_fail session__packet(struct conn *c, const struct mqttc_pkt *p);
/* pub: queue what the window, the tokens and the send backlog allow. */
void session__fill(struct conn *c);
/* Stop asked: drain, say goodbye or close. */
void session__stop(struct conn *c);
/* Keepalive: PINGREQ after keepalive/2 idle; false when a PINGRESP is overdue. */
bool session__keepalive(struct conn *c);
/* Per-connection session state back to a fresh connection's. */
void session__reset(struct conn *c);
/* The window's inflight count (pub, QoS > 0). */
uint32_t session__inflight(const struct conn *c);

/* report.c */
struct load_totals {
        struct load_stats st;
        uint64_t lost;
        struct hist lat, conn_lat, tls_lat;
        double duration_s, msgs_per_s, conn_per_s;
        bool storm_done;
        double reconnect_all_s;
};

void load__sum(const struct load *l, struct load_totals *s, bool with_hists);
void load__progress(const struct load *l, double elapsed, struct load_totals *prev);
void load__summary(const struct load *l, const struct load_totals *s, FILE *f);
void load__json(const struct load *l, const struct load_totals *s, FILE *f);

#endif
