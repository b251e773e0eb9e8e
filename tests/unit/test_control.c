/*
 * The control thread's loop as others extend it: calls from another thread
 * run on the control thread and return when done; a watched fd calls back on
 * each readiness; a watch moved to another fd stops calling for the old one
 * (closed right after) and calls for the new one.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/control/control.h"

struct fixture {
        struct control *ctl;
        pthread_t main;
        _Atomic int on_control; /* calls that ran on another thread than main */
        int fds[2];
        int slot;
        _Atomic int fired[2];
};

static void on_fd(void *ctx)
{
        struct fixture *f = ctx;
        uint64_t v;

        for (int i = 0; i < 2; i++)
                if (f->fds[i] >= 0 && read(f->fds[i], &v, sizeof(v)) == sizeof(v))
                        atomic_fetch_add(&f->fired[i], 1);
}

static void add_watch(void *ctx)
{
        struct fixture *f = ctx;

        if (!pthread_equal(pthread_self(), f->main))
                atomic_fetch_add(&f->on_control, 1);
        f->slot = control__watch(f->ctl, f->fds[0], on_fd, f);
}

static void move_watch(void *ctx)
{
        struct fixture *f = ctx;

        control__rewatch(f->ctl, f->slot, f->fds[1]);
        close(f->fds[0]); /* the old fd goes right away */
        f->fds[0] = -1;
}

static void kick(int fd)
{
        uint64_t one = 1;

        assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* Waits (bounded) until *v reaches want. */
static void wait_for(_Atomic int *v, int want)
{
        for (int i = 0; i < 400 && atomic_load(v) < want; i++)
                nanosleep(&(struct timespec){0, 5000000}, NULL);
        assert_int_equal(atomic_load(v), want);
}

static void test_watch_and_call(void **state)
{
        static struct fixture f;
        char err[256] = "";

        (void)state;
        f.main = pthread_self();
        f.fds[0] = eventfd(0, EFD_NONBLOCK);
        f.fds[1] = eventfd(0, EFD_NONBLOCK);
        assert_true(f.fds[0] >= 0 && f.fds[1] >= 0);
        if (control__start(&f.ctl, &(struct control_cfg){0}, err, sizeof(err)))
                fail_msg("control__start: %s", err);
        control__call(f.ctl, add_watch, &f);
        assert_int_equal(f.slot, 0);
        assert_int_equal(atomic_load(&f.on_control), 1);

        kick(f.fds[0]);
        wait_for(&f.fired[0], 1);
        kick(f.fds[0]);
        wait_for(&f.fired[0], 2);

        control__call(f.ctl, move_watch, &f);
        kick(f.fds[1]);
        wait_for(&f.fired[1], 1);
        kick(f.fds[1]);
        wait_for(&f.fired[1], 2);
        assert_int_equal(atomic_load(&f.fired[0]), 2);

        control__stop(f.ctl);
        close(f.fds[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_watch_and_call),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
