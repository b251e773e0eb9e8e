/*
 * The control thread's loop (control.h) on io_uring: a poll on the netlink
 * watch socket, a timeout for the periodic rebuild, and an eventfd to stop.
 * Never on the packet path; it may block (netlink round trips, RCU grace
 * periods) without holding anything a worker waits for.
 */
#include "core/control.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <urcu-qsbr.h>

enum { EV_WATCH = 1, EV_TIMER, EV_STOP };

struct control {
        struct control_cfg cfg;
        struct nh_addr *dsts;
        struct nh_resolver *resolver;
        struct nh_watch *watch;
        struct io_uring ring;
        bool ring_ok;
        int stop_fd;
        pthread_t thread;
        bool running;
        struct nh_table *table; /* RCU-published */
        _Atomic uint64_t generation;
};

/* Builds a new table and publishes it; the old one goes after a grace period. */
static void refresh(struct control *c)
{
        struct nh_table *t, *old;

        if (nh_table__build(c->resolver, c->dsts, c->cfg.nnexthops, &t))
                return; /* keep the table we have; the timer tries again */
        old = rcu_xchg_pointer(&c->table, t);
        if (old) {
                synchronize_rcu();
                nh_table__free(old);
        }
        atomic_fetch_add(&c->generation, 1);
}

static void arm_watch(struct control *c)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

        io_uring_prep_poll_add(sqe, nh_watch__fd(c->watch), POLLIN);
        io_uring_sqe_set_data64(sqe, EV_WATCH);
}

static void arm_timer(struct control *c, struct __kernel_timespec *ts)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

        io_uring_prep_timeout(sqe, ts, 0, 0);
        io_uring_sqe_set_data64(sqe, EV_TIMER);
}

static void *control_loop(void *arg)
{
        struct control *c = arg;
        uint32_t ms = c->cfg.refresh_ms ? c->cfg.refresh_ms : 1000;
        struct __kernel_timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        struct io_uring_sqe *sqe;
        struct io_uring_cqe *cqe;
        uint64_t stop_buf;
        bool stop = false;

        pthread_setname_np(pthread_self(), "mqttlb-ctl");
        arm_watch(c);
        arm_timer(c, &ts);
        sqe = io_uring_get_sqe(&c->ring);
        io_uring_prep_read(sqe, c->stop_fd, &stop_buf, sizeof(stop_buf), 0);
        io_uring_sqe_set_data64(sqe, EV_STOP);
        while (!stop) {
                bool dirty = false;

                io_uring_submit_and_wait(&c->ring, 1);
                unsigned head, seen = 0;

                io_uring_for_each_cqe(&c->ring, head, cqe)
                {
                        seen++;
                        switch (io_uring_cqe_get_data64(cqe)) {
                        case EV_WATCH:
                                if (nh_watch__drain(c->watch, c->table) > 0)
                                        dirty = true;
                                arm_watch(c);
                                break;
                        case EV_TIMER:
                                dirty = true;
                                arm_timer(c, &ts);
                                break;
                        case EV_STOP: stop = true; break;
                        }
                }
                io_uring_cq_advance(&c->ring, seen);
                if (dirty && !stop)
                        refresh(c);
        }
        return NULL;
}

int control__start(struct control **out, const struct control_cfg *cfg, char *err, size_t errlen)
{
        struct control *c = calloc(1, sizeof(*c));
        int e;

        if (!c)
                return -ENOMEM;
        c->cfg = *cfg;
        c->stop_fd = -1;
        c->dsts = calloc(cfg->nnexthops ? cfg->nnexthops : 1, sizeof(*c->dsts));
        if (!c->dsts) {
                e = -ENOMEM;
                goto fail;
        }
        memcpy(c->dsts, cfg->nexthops, cfg->nnexthops * sizeof(*c->dsts));
        if ((e = nh_resolver__new(&c->resolver)) || (e = nh_watch__new(&c->watch))) {
                snprintf(err, errlen, "netlink: %s", strerror(-e));
                goto fail;
        }
        e = io_uring_queue_init(8, &c->ring, 0);
        if (e) {
                snprintf(err, errlen, "io_uring: %s", strerror(-e));
                goto fail;
        }
        c->ring_ok = true;
        c->stop_fd = eventfd(0, EFD_CLOEXEC);
        if (c->stop_fd < 0) {
                e = -errno;
                snprintf(err, errlen, "eventfd: %s", strerror(-e));
                goto fail;
        }
        e = nh_table__build(c->resolver, c->dsts, cfg->nnexthops, &c->table);
        if (e) {
                snprintf(err, errlen, "next hops: %s", strerror(-e));
                goto fail;
        }
        atomic_store(&c->generation, 1);
        e = pthread_create(&c->thread, NULL, control_loop, c);
        if (e) {
                e = -e;
                snprintf(err, errlen, "cannot start the control thread: %s", strerror(-e));
                goto fail;
        }
        c->running = true;
        *out = c;
        return 0;
fail:
        control__stop(c);
        return e;
}

void control__stop(struct control *c)
{
        if (!c)
                return;
        if (c->running) {
                uint64_t one = 1;

                if (write(c->stop_fd, &one, sizeof(one)) == sizeof(one))
                        pthread_join(c->thread, NULL);
        }
        if (c->stop_fd >= 0)
                close(c->stop_fd);
        if (c->ring_ok)
                io_uring_queue_exit(&c->ring);
        nh_table__free(c->table);
        nh_watch__free(c->watch);
        nh_resolver__free(c->resolver);
        free(c->dsts);
        free(c);
}

const struct nh_table *control__nexthops(const struct control *c)
{
        return rcu_dereference(c->table);
}

uint64_t control__generation(const struct control *c)
{
        return atomic_load(&c->generation);
}
