/*
 * The engine's thread (load.h, engine.h): one io_uring for many clients. A
 * single IORING_OP_TIMEOUT is the tick that paces new connections (-R),
 * refills the publishers' token buckets (-r) and, every 100 ms, checks
 * CONNACK/SUBACK timeouts and keepalives: no timer per client or per
 * message. Completions are handled in batches, then every client with bytes
 * queued sends them (conn.c). Stopping (-d, a signal, -n, --expect) drains
 * publishers, says goodbye, and gives up after --drain plus two seconds.
 *
 * What happens at the MQTT level is session.c's.
 */
#include "bench/mqttload/engine.h"
#include "bench/mqttload/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOUSE_NS      (100ull * 1000 * 1000)
#define RING_SQ       2048u
#define RING_CQ_MAX   65536u
#define HARD_GRACE_NS (2 * NS_PER_S) /* after --drain, give up on a clean goodbye */

static void flush_dirty(struct load_thread *t)
{
        while (t->dirty) {
                struct conn *c = t->dirty;

                t->dirty = c->next_dirty;
                c->dirty = false;
                conn__flush(c);
        }
}

static void arm_tick(struct load_thread *t)
{
        struct io_uring_sqe *sqe = get_sqe(t);

        io_uring_prep_timeout(sqe, &t->tick_ts, 0, 0);
        io_uring_sqe_set_data64(sqe, ud(NULL, OP_TICK));
}

static void start_connections(struct load_thread *t, uint64_t dt)
{
        const struct load_cfg *cfg = &t->l->cfg;
        /* the retry list is taken whole first: a start that fails at once
         * (socket, bind) goes on the new one */
        struct conn *list = t->retry;

        t->retry = NULL;
        if (!cfg->conn_rate) {
                while (t->next_start < t->nconns)
                        conn__start(&t->conns[t->next_start++]);
        } else if (t->next_start < t->nconns) {
                double rate = cfg->conn_rate / cfg->threads;
                double cap = rate * 0.05 > 1 ? rate * 0.05 : 1;

                t->conn_tokens += rate * (double)dt / 1e9;
                if (t->conn_tokens > cap)
                        t->conn_tokens = cap;
                while (t->conn_tokens >= 1 && t->next_start < t->nconns) {
                        conn__start(&t->conns[t->next_start++]);
                        t->conn_tokens -= 1;
                }
        }
        /* retries are not paced by -R: a dropped client reconnects at once */
        while (list) {
                struct conn *c = list;

                list = c->next_retry;
                if (c->retry_at > t->now)
                        conn__push_retry(c, c->retry_at);
                else
                        conn__start(c);
        }
}

/* ---- stopping ---- */

void load_thread__stop(struct load_thread *t)
{
        if (t->stopping)
                return;
        t->stopping = true;
        t->drain_deadline = t->now + secs_ns(t->l->cfg.drain);
        t->hard_deadline = t->drain_deadline + HARD_GRACE_NS;
        for (struct conn *c = t->retry; c; c = c->next_retry)
                conn__set_done(c);
        t->retry = NULL;
        while (t->next_start < t->nconns)
                conn__set_done(&t->conns[t->next_start++]);
        for (uint32_t i = 0; i < t->nconns; i++) {
                struct conn *c = &t->conns[i];

                switch (c->state) {
                case CS_TCP:
                case CS_TLS:
                case CS_CONNACK:
                case CS_SUBACK: conn__begin_close(c, false, 0); break;
                case CS_RUN:
                case CS_DRAIN: session__stop(c); break;
                default: break;
                }
        }
}

/* ---- the loop ---- */

static void housekeeping(struct load_thread *t)
{
        const struct load_cfg *cfg = &t->l->cfg;
        uint64_t timeout = secs_ns(cfg->connect_timeout);

        for (uint32_t i = 0; i < t->nconns; i++) {
                struct conn *c = &t->conns[i];

                switch (c->state) {
                case CS_TLS:
                case CS_CONNACK:
                case CS_SUBACK:
                        if (t->now - c->t_start > timeout)
                                conn__abort(c, FAIL_TIMEOUT);
                        break;
                case CS_DRAIN:
                        if (t->stopping && t->now >= t->drain_deadline) {
                                conn__bye(c);
                                break;
                        }
                        /* fall through */
                case CS_RUN:
                        if (!session__keepalive(c))
                                conn__abort(c, FAIL_TIMEOUT);
                        break;
                default: break;
                }
        }
}

static void on_tick(struct load_thread *t)
{
        const struct load_cfg *cfg = &t->l->cfg;
        uint64_t dt = t->now - t->last_tick;

        t->last_tick = t->now;
        if (!t->stopping &&
            (__atomic_load_n(&t->l->stop, __ATOMIC_RELAXED) ||
             (cfg->duration > 0 && t->now >= t->l->start_ns + secs_ns(cfg->duration))))
                load_thread__stop(t);
        if (!t->stopping) {
                start_connections(t, dt);
                if (cfg->mode == LOAD_PUB && cfg->rate > 0) {
                        double add = cfg->rate * (double)dt / 1e9;
                        double cap = cfg->rate * 0.05 > 1 ? cfg->rate * 0.05 : 1;

                        for (uint32_t i = 0; i < t->nconns; i++) {
                                struct conn *c = &t->conns[i];

                                if (c->state != CS_RUN)
                                        continue;
                                c->tokens += add;
                                if (c->tokens > cap)
                                        c->tokens = cap;
                                if (c->tokens >= 1)
                                        session__fill(c);
                        }
                }
        }
        if (t->now >= t->next_house) {
                t->next_house = t->now + HOUSE_NS;
                housekeeping(t);
        }
        arm_tick(t);
}

static void dispatch(struct load_thread *t, const struct io_uring_cqe *cqe)
{
        uint64_t data = io_uring_cqe_get_data64(cqe);
        struct conn *c = (struct conn *)(uintptr_t)(data & ~OP_MASK);

        switch ((enum op)(data & OP_MASK)) {
        case OP_TICK: on_tick(t); break;
        case OP_CONNECT: conn__on_connect(c, cqe->res); break;
        case OP_SEND: conn__on_send(c, cqe->res); break;
        case OP_RECV: conn__on_recv(c, cqe->res); break;
        case OP_LINK:
        case OP_CANCEL: break;
        }
}

/* ---- setup ---- */

static int ring_init(struct load_thread *t)
{
        uint32_t cq = 2 * RING_SQ; /* the kernel wants cq_entries >= sq_entries */
        struct io_uring_params p;
        int ret;

        while (cq < 4 * t->nconns + 64 && cq < RING_CQ_MAX)
                cq *= 2;
        memset(&p, 0, sizeof(p));
        /* not IORING_SETUP_DEFER_TASKRUN: with it, completions on loopback
         * waited for the next tick now and then (1 ms connects on 6.18) */
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER;
        p.cq_entries = cq;
        ret = io_uring_queue_init_params(RING_SQ, &t->ring, &p);
        if (ret == -EINVAL) {
                /* kernels before 6.0 */
                memset(&p, 0, sizeof(p));
                p.flags = IORING_SETUP_CQSIZE;
                p.cq_entries = cq;
                ret = io_uring_queue_init_params(RING_SQ, &t->ring, &p);
        }
        return ret;
}

static int thread_setup(struct load_thread *t)
{
        const struct load_cfg *cfg = &t->l->cfg;
        uint64_t tick = (uint64_t)cfg->tick_us * 1000, cto = secs_ns(cfg->connect_timeout);
        int ret;

        t->conns = calloc(t->nconns, sizeof(*t->conns));
        if (!t->conns)
                return -ENOMEM;
        for (uint32_t i = 0; i < t->nconns; i++) {
                ret = conn__init(t, &t->conns[i], t->idx + i * cfg->threads);
                if (ret)
                        return ret;
        }
        t->payload = malloc(cfg->size ? cfg->size : 1);
        if (!t->payload)
                return -ENOMEM;
        for (uint32_t i = 0; i < cfg->size; i++)
                t->payload[i] = (uint8_t)('a' + i % 26);
        if (cfg->mode == LOAD_SUB) {
                ret = track_table__init(&t->tracks, cfg->expect);
                if (ret)
                        return ret;
        }
        t->tick_ts.tv_sec = (long long)(tick / NS_PER_S);
        t->tick_ts.tv_nsec = (long long)(tick % NS_PER_S);
        t->connect_ts.tv_sec = (long long)(cto / NS_PER_S);
        t->connect_ts.tv_nsec = (long long)(cto % NS_PER_S);
        t->live = t->nconns;
        t->conn_tokens = 1;
        ret = ring_init(t);
        if (ret)
                return ret;
        t->ring_ok = true;
        return 0;
}

/* lost = per track, --expect minus what arrived; per subscriber, --expect
 * for each of --publishers it never heard from. */
static void count_lost(struct load_thread *t)
{
        const struct load_cfg *cfg = &t->l->cfg;
        uint32_t *heard;

        if (cfg->mode != LOAD_SUB || !cfg->expect)
                return;
        heard = calloc(t->nconns, sizeof(*heard));
        if (!heard)
                return;
        for (uint32_t i = 0; i < t->tracks.cap; i++) {
                const struct track *k = &t->tracks.slots[i];

                if (!k->used)
                        continue;
                heard[(k->sub - t->idx) / cfg->threads]++;
                if (k->distinct < cfg->expect)
                        t->lost += cfg->expect - k->distinct;
        }
        for (uint32_t i = 0; i < t->nconns && cfg->publishers; i++)
                if (heard[i] < cfg->publishers)
                        t->lost += (uint64_t)(cfg->publishers - heard[i]) * cfg->expect;
        free(heard);
}

void load_thread__free(struct load_thread *t)
{
        for (uint32_t i = 0; t->conns && i < t->nconns; i++) {
                struct conn *c = &t->conns[i];

                free(c->cid);
                free(c->rx);
                free(c->txf);
                free(c->txp);
                free(c->slots);
                free(c->free_slots);
                free(c->qos2_rx);
                free(c->crx);
                tls__forget(c);
        }
        free(t->conns);
        t->conns = NULL;
        free(t->payload);
        t->payload = NULL;
        if (t->tracks.slots)
                track_table__fini(&t->tracks);
}

void *load_thread__run(void *arg)
{
        struct load_thread *t = arg;
        int ret = thread_setup(t);

        if (ret) {
                t->err = ret;
                goto out;
        }
        t->now = t->last_tick = load_now_ns();
        t->next_house = t->now + HOUSE_NS;
        start_connections(t, 0);
        arm_tick(t);
        flush_dirty(t);
        while (t->live) {
                struct io_uring_cqe *cqe;
                unsigned head, n = 0;

                if (t->stopping && t->now >= t->hard_deadline)
                        break;
                ret = io_uring_submit_and_wait(&t->ring, 1);
                if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
                        t->err = ret;
                        break;
                }
                t->now = load_now_ns();
                io_uring_for_each_cqe(&t->ring, head, cqe)
                {
                        dispatch(t, cqe);
                        n++;
                }
                io_uring_cq_advance(&t->ring, n);
                flush_dirty(t);
        }
        count_lost(t);
out:
        if (t->ring_ok) {
                /* wake whatever is still in the ring before tearing it down */
                for (uint32_t i = 0; i < t->nconns; i++)
                        if (t->conns[i].fd >= 0)
                                shutdown(t->conns[i].fd, SHUT_RDWR);
                io_uring_queue_exit(&t->ring);
                t->ring_ok = false;
        }
        for (uint32_t i = 0; t->conns && i < t->nconns; i++)
                if (t->conns[i].fd >= 0) {
                        close(t->conns[i].fd);
                        t->conns[i].fd = -1;
                }
        __atomic_store_n(&t->finished, true, __ATOMIC_RELEASE);
        return NULL;
}
