/*
 * The worker loop (worker.h). Everything here runs per packet except
 * worker__init and the thread set-up in worker__run: no lock, no allocation,
 * a syscall only when a ring asks for one (inside the port) or when the
 * worker has been idle for idle_rounds rounds and sleeps in poll(), until a
 * frame comes, another worker hands one over (worker_wake), or the handler's
 * next timer is due.
 */
#include "core/datapath/worker.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#define WORKER_COUNTER_NAME_(name, doc) #name,
#define WORKER_COUNTER_DOC_(name, doc)  doc,
const char *const worker_counter_names[] = {WORKER_COUNTERS(WORKER_COUNTER_NAME_)};
const char *const worker_counter_docs[] = {WORKER_COUNTERS(WORKER_COUNTER_DOC_)};

/* Single writer: a relaxed load and store, so readers on other threads see
 * whole values (a plain ++ would be a data race in C's model). */
#define STAT_ADD(w, field, n)                                                        \
        __atomic_store_n(&(w)->stats.field,                                          \
                         __atomic_load_n(&(w)->stats.field, __ATOMIC_RELAXED) + (n), \
                         __ATOMIC_RELAXED)

void worker__init(struct worker *w, const struct worker_cfg *cfg)
{
        memset(w, 0, sizeof(*w));
        w->cfg = *cfg;
        w->frame_mask = ~(uint64_t)(cfg->ports[0]->umem->frame_size - 1);
        w->umem_base = cfg->ports[0]->umem->base;
}

uint32_t worker__owner(const struct worker *w, const uint8_t *data, const struct packet *m)
{
        const uint8_t *dst;
        uint32_t alen;

        dst = packet__daddr(data, m);
        alen = m->family == 4 ? 4 : 16;
        for (uint32_t i = 0; i < w->cfg.nsources; i++) {
                const struct worker_source *s = &w->cfg.sources[i];

                if (s->addr.family == m->family && m->dport >= s->port_lo &&
                    m->dport <= s->port_hi && !memcmp(s->addr.addr, dst, alen))
                        return m->dport % w->cfg.nworkers;
        }
        return w->cfg.id;
}

static void push_tx(struct worker *w, uint16_t port)
{
        uint32_t n = w->ntx[port], sent;

        if (!n)
                return;
        sent = port__tx(w->cfg.ports[port], w->txq[port], n);
        if (sent < n) { /* ring full: let the kernel drain it once, then retry */
                port__flush(w->cfg.ports[port]);
                sent += port__tx(w->cfg.ports[port], w->txq[port] + sent, n - sent);
        }
        STAT_ADD(w, tx, sent);
        if (sent < n) {
                for (uint32_t i = sent; i < n; i++)
                        worker__free(w, w->txq[port][i].addr);
                STAT_ADD(w, drop_tx_full, n - sent);
        }
        w->ntx[port] = 0;
}

void worker__flush(struct worker *w)
{
        for (uint16_t i = 0; i < w->cfg.nports; i++) {
                push_tx(w, i);
                port__flush(w->cfg.ports[i]);
        }
}

void worker__send(struct worker *w, uint16_t port, const struct frame_desc *d)
{
        if (w->ntx[port] == WORKER_BURST)
                push_tx(w, port);
        w->txq[port][w->ntx[port]++] = *d;
}

/* After a push to worker to's inbox: wakes it if it sleeps (worker_wake). */
static void wake(struct worker *w, uint32_t to)
{
        struct worker_wake *k = w->cfg.wake[to];

        if (!k || k->fd < 0)
                return;
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&k->sleeping, memory_order_relaxed) &&
            eventfd_write(k->fd, 1) == 0)
                STAT_ADD(w, wakeups_sent, 1);
}

static void push_handover(struct worker *w, uint32_t to)
{
        uint32_t n = w->nho[to], pushed = handover_ring__push(w->cfg.outbox[to], w->hoq[to], n);

        if (pushed)
                wake(w, to);
        STAT_ADD(w, handed_over, pushed);
        if (pushed < n) {
                for (uint32_t i = pushed; i < n; i++)
                        worker__free(w, w->hoq[to][i].addr);
                STAT_ADD(w, drop_handover_full, n - pushed);
        }
        w->nho[to] = 0;
}

static void hand_over(struct worker *w, uint32_t to, const struct worker_pkt *p)
{
        if (w->nho[to] == WORKER_BURST)
                push_handover(w, to);
        w->hoq[to][w->nho[to]++] = (struct handover_item){
            .addr = p->d.addr, .len = p->d.len, .port = p->in_port, .m = p->m};
}

/* Counts why a frame is not ours to handle (by packet_err). */
static void count_parse_drop(struct worker *w, enum packet_err e)
{
        switch (e) {
        case PACKET_NOT_IP: STAT_ADD(w, drop_not_ip, 1); break;
        case PACKET_NOT_TCP: STAT_ADD(w, drop_not_tcp, 1); break;
        case PACKET_FRAGMENT: STAT_ADD(w, drop_fragment, 1); break;
        default: STAT_ADD(w, drop_truncated, 1); break;
        }
}

static void handle(struct worker *w, struct worker_pkt *p)
{
        switch (w->cfg.ops->handle(w->cfg.ctx, w, p)) {
        case WORKER_TX: worker__send(w, p->out_port, &p->d); break;
        case WORKER_KEEP: break;
        default:
                STAT_ADD(w, drop_handler, 1);
                worker__free(w, p->d.addr);
                break;
        }
}

/* A frame from a port: parse, route to its owner, handle. */
static void process(struct worker *w, struct worker_pkt *p)
{
        enum packet_err e;

        p->data = w->umem_base + p->d.addr;
        e = packet__parse(p->data, p->d.len, &p->m);
        if (e != PACKET_OK) {
                count_parse_drop(w, e);
                worker__free(w, p->d.addr);
                return;
        }
        /* with one worker or no source address, every frame is ours */
        if (w->cfg.nworkers > 1 && w->cfg.nsources) {
                uint32_t owner = worker__owner(w, p->data, &p->m);

                if (owner != w->cfg.id) {
                        hand_over(w, owner, p);
                        return;
                }
        }
        handle(w, p);
}

/* Offline ports carry the capture's (or the harness's) clock; live ones run
 * on the host's monotonic clock. */
static uint64_t worker_clock(const struct worker *w)
{
        struct timespec ts;

        if (w->cfg.ports[0]->virtual_clock)
                return w->cfg.ports[0]->clock_ns;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* How long an idle worker may sleep (ms): until the handler's next timer,
 * within WORKER_SLEEP_MIN_MS..WORKER_SLEEP_MAX_MS; the least while frames
 * sent are not completed (the port reclaims them in its flush) or while no
 * eventfd would wake us for a handed-over frame. */
int worker__sleep_ms(struct worker *w)
{
        uint64_t next, now, ms;
        struct worker_wake *k = w->cfg.wake[w->cfg.id];

        if (!w->cfg.ops->next_ns || (w->cfg.nworkers > 1 && (!k || k->fd < 0)))
                return WORKER_SLEEP_MIN_MS;
        for (uint32_t i = 0; i < w->cfg.nports; i++)
                if (w->cfg.ports[i]->tx_busy)
                        return WORKER_SLEEP_MIN_MS;
        next = w->cfg.ops->next_ns(w->cfg.ctx, w);
        now = worker_clock(w);
        if (next <= now)
                return 0;
        ms = (next - now + 999999) / 1000000;
        if (ms < WORKER_SLEEP_MIN_MS)
                ms = WORKER_SLEEP_MIN_MS;
        return ms > WORKER_SLEEP_MAX_MS ? WORKER_SLEEP_MAX_MS : (int)ms;
}

/* Something in an inbox (a frame handed over before we said we sleep). */
static bool inbox_waiting(const struct worker *w)
{
        for (uint32_t from = 0; from < w->cfg.nworkers; from++)
                if (from != w->cfg.id && w->cfg.inbox[from] &&
                    handover_ring__count(w->cfg.inbox[from]))
                        return true;
        return false;
}

static void sleep_idle(struct worker *w)
{
        struct pollfd pfd[WORKER_PORTS_MAX + 1];
        struct worker_wake *k = w->cfg.wake[w->cfg.id];
        nfds_t n = 0;
        int ms;

        for (uint32_t i = 0; i < w->cfg.nports; i++)
                if (w->cfg.fds[i] >= 0)
                        pfd[n++] = (struct pollfd){.fd = w->cfg.fds[i], .events = POLLIN};
        if (!n)
                return;
        ms = worker__sleep_ms(w);
        if (!ms)
                return; /* a timer is due: the next round runs it */
        if (k && k->fd >= 0) {
                pfd[n++] = (struct pollfd){.fd = k->fd, .events = POLLIN};
                atomic_store_explicit(&k->sleeping, true, memory_order_relaxed);
                atomic_thread_fence(memory_order_seq_cst);
                if (inbox_waiting(w)) {
                        atomic_store_explicit(&k->sleeping, false, memory_order_relaxed);
                        return;
                }
        }
        STAT_ADD(w, idle_waits, 1);
        /* Offline for RCU meanwhile: a grace period need not wait for us. */
        if (w->rcu_online)
                rcu_thread_offline();
        poll(pfd, n, ms);
        if (w->rcu_online)
                rcu_thread_online();
        if (k && k->fd >= 0) {
                eventfd_t v;

                atomic_store_explicit(&k->sleeping, false, memory_order_relaxed);
                if (pfd[n - 1].revents & POLLIN)
                        (void)eventfd_read(k->fd, &v);
        }
}

uint32_t worker__round(struct worker *w)
{
        struct frame_desc d[WORKER_BURST];
        struct handover_item it[WORKER_BURST];
        struct worker_pkt p;
        uint32_t total = 0;

        /* timers first: the handler then sees this round's clock */
        if (w->cfg.ops->tick)
                w->cfg.ops->tick(w->cfg.ctx, w, worker_clock(w));

        for (uint32_t i = 0; i < w->cfg.nports; i++) {
                uint32_t n = port__rx(w->cfg.ports[i], d, WORKER_BURST);

                STAT_ADD(w, rx, n);
                total += n;
                for (uint32_t k = 0; k < n; k++) {
                        p.d = d[k];
                        p.in_port = (uint16_t)i;
                        process(w, &p);
                }
        }
        for (uint32_t from = 0; from < w->cfg.nworkers; from++) {
                uint32_t n;

                if (from == w->cfg.id || !w->cfg.inbox[from])
                        continue;
                n = handover_ring__pop(w->cfg.inbox[from], it, WORKER_BURST);
                STAT_ADD(w, handed_in, n);
                total += n;
                for (uint32_t k = 0; k < n; k++) {
                        p.d = (struct frame_desc){.addr = it[k].addr, .len = it[k].len};
                        p.data = w->umem_base + p.d.addr;
                        p.m = it[k].m;
                        p.in_port = it[k].port;
                        handle(w, &p);
                }
        }
        for (uint32_t to = 0; to < w->cfg.nworkers; to++)
                if (w->nho[to])
                        push_handover(w, to);
        for (uint16_t i = 0; i < w->cfg.nports; i++) {
                push_tx(w, i);
                port__flush(w->cfg.ports[i]);
        }
        if (total)
                w->idle = 0;
        else if (w->cfg.idle_rounds && ++w->idle >= w->cfg.idle_rounds)
                sleep_idle(w);
        return total;
}

void *worker__run(void *arg)
{
        struct worker *w = arg;
        char name[16];

        snprintf(name, sizeof(name), "mqttlb-w%u", w->cfg.id);
        pthread_setname_np(pthread_self(), name);
        /* RCU (QSBR): what the control thread publishes (next hops, later the
         * configuration) is read between two rounds' quiescent states */
        rcu_register_thread();
        w->rcu_online = true;
        while (!atomic_load_explicit(w->cfg.stop, memory_order_relaxed)) {
                worker__round(w);
                rcu_quiescent_state();
        }
        w->rcu_online = false;
        rcu_unregister_thread();
        return NULL;
}

void worker__stats(const struct worker *w, struct worker_stats *out)
{
        const uint64_t *src = (const uint64_t *)&w->stats;
        uint64_t *dst = (uint64_t *)out;

        for (size_t i = 0; i < WORKER_NCOUNTERS; i++)
                dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
