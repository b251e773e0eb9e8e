/*
 * Between the engine's two files (not for session.c or report.c): conn.c
 * drives one client's socket through the ring, engine.c runs the thread
 * (the loop, the tick, pacing, stopping). Operations in the ring carry the
 * client's address with the operation in its low three bits.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_ENGINE_H
#define MQTTLB_BENCH_MQTTLOAD_ENGINE_H

#include "bench/mqttload/load.h"

enum op {
        OP_TICK = 1,
        OP_CONNECT,
        OP_LINK, /* the connect's linked timeout */
        OP_SEND,
        OP_RECV,
        OP_CANCEL,
};
#define OP_MASK 7ull

#define NS_PER_S 1000000000ull

static inline uint64_t ud(struct conn *c, enum op op)
{
        return (uint64_t)(uintptr_t)c | op;
}

/* A free SQE, submitting what is queued when the ring is full. */
static inline struct io_uring_sqe *get_sqe(struct load_thread *t)
{
        struct io_uring_sqe *sqe;

        while (!(sqe = io_uring_get_sqe(&t->ring)))
                io_uring_submit(&t->ring);
        return sqe;
}

static inline uint64_t secs_ns(double s)
{
        return (uint64_t)(s * 1e9);
}

/* conn.c */
int conn__init(struct load_thread *t, struct conn *c, uint32_t idx);
/* socket, bind (-b), connect with its linked timeout */
void conn__start(struct conn *c);
/* Queued bytes go out when no send is in flight. */
void conn__flush(struct conn *c);
void conn__on_connect(struct conn *c, int res);
void conn__on_recv(struct conn *c, int res);
void conn__on_send(struct conn *c, int res);
/* Shut down; once the ring gave back all of c's operations: closed, then
 * retried at `at` (retry) or done. */
void conn__begin_close(struct conn *c, bool retry, uint64_t at);
void conn__push_retry(struct conn *c, uint64_t at);
void conn__set_done(struct conn *c);

#endif
