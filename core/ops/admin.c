/*
 * The admin socket (admin.h): one thread, poll() on the listening socket and
 * an eventfd that says stop; each client served to the end before the next
 * is accepted, every wait on it bounded by ADMIN_TIMEOUT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/ops/admin.h"
#include "core/util/clock.h"

struct admin {
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        int fd, stop_fd;
        dev_t dev;
        ino_t ino; /* the socket file we made: removed at stop only if still there */
        stats_render_fn *render;
        void *ctx;
        pthread_t thread;
        bool started;
};

static int64_t now_ms(void)
{
        return (int64_t)(clock__mono_ns() / 1000000);
}

/* Waits for events on fd until deadline (ms, CLOCK_MONOTONIC). 0, -ETIMEDOUT,
 * -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
        for (;;) {
                struct pollfd p = {.fd = fd, .events = events};
                int64_t left = deadline - now_ms();
                int n;

                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&p, 1, (int)left);
                if (n > 0)
                        return 0;
                if (n == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Writes all of buf to the non-blocking fd before deadline. */
static int write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
        while (len) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                int e;

                if (n > 0) {
                        buf += n;
                        len -= (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno != EAGAIN)
                        return -errno;
                e = wait_fd(fd, POLLOUT, deadline);
                if (e)
                        return e;
        }
        return 0;
}

/* Reads one line (without its newline) into line[ADMIN_LINE_MAX]. 0,
 * -E2BIG when no newline came within ADMIN_LINE_MAX bytes, -ETIMEDOUT,
 * -ECONNRESET when the peer closed first (a line without newline at EOF is
 * taken), -errno. */
static int read_line(int fd, char *line, int64_t deadline)
{
        size_t len = 0;

        for (;;) {
                ssize_t n = recv(fd, line + len, ADMIN_LINE_MAX - len, 0);
                char *nl;
                int e;

                if (n > 0) {
                        nl = memchr(line + len, '\n', (size_t)n);
                        len += (size_t)n;
                        if (nl) {
                                *nl = '\0';
                                if (nl > line && nl[-1] == '\r')
                                        nl[-1] = '\0';
                                return 0;
                        }
                        if (len == ADMIN_LINE_MAX)
                                return -E2BIG;
                        continue;
                }
                if (n == 0) {
                        if (!len)
                                return -ECONNRESET;
                        line[len] = '\0';
                        return 0;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                e = wait_fd(fd, POLLIN, deadline);
                if (e)
                        return e;
        }
}

static void answer_error(int fd, int64_t deadline, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer_error(int fd, int64_t deadline, const char *fmt, ...)
{
        char msg[ADMIN_LINE_MAX + 128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n > 0)
                write_all(fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1, deadline);
}

static void serve(struct admin *a, int fd, struct stats_buf *out)
{
        int64_t deadline = now_ms() + ADMIN_TIMEOUT_MS;
        char line[ADMIN_LINE_MAX + 1];
        enum stats_format f;
        int e = read_line(fd, line, deadline);

        if (e == -E2BIG) {
                answer_error(fd, deadline, "error: request longer than %d bytes\n", ADMIN_LINE_MAX);
                return;
        }
        if (e)
                return; /* timed out or gone: nobody to answer */
        if (strncmp(line, "stats ", 6) || stats_format__parse(line + 6, &f)) {
                answer_error(fd, deadline,
                             "error: unknown request '%s' (stats json|text|prometheus)\n", line);
                return;
        }
        stats_buf__reset(out);
        e = a->render(a->ctx, f, out);
        if (e) {
                answer_error(fd, deadline, "error: cannot render the counters: %s\n", strerror(-e));
                return;
        }
        /* The answer gets its own budget: a large one to a slow reader. */
        write_all(fd, out->data ? out->data : "", out->len, now_ms() + ADMIN_TIMEOUT_MS);
}

static void *admin_thread(void *arg)
{
        struct admin *a = arg;
        struct stats_buf out = {0};

        for (;;) {
                struct pollfd p[2] = {{.fd = a->stop_fd, .events = POLLIN},
                                      {.fd = a->fd, .events = POLLIN}};
                int fd;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents)
                        break;
                if (!p[1].revents)
                        continue;
                fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        continue; /* EAGAIN, ECONNABORTED, EMFILE …: try the next one */
                serve(a, fd, &out);
                close(fd);
        }
        stats_buf__free(&out);
        return NULL;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        if (!*path || strlen(path) >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        memcpy(sa->sun_path, path, strlen(path));
        return 0;
}

/* Whether something accepts connections on path. */
static bool someone_listens(const struct sockaddr_un *sa)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool yes;

        if (fd < 0)
                return false;
        yes = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
        close(fd);
        return yes;
}

/* Binds fd to path, replacing a stale socket file (one nobody answers on). */
static int bind_path(int fd, const struct sockaddr_un *sa, const char *path, char *err,
                     size_t errlen)
{
        struct stat st;
        int e;

        if (!bind(fd, (const struct sockaddr *)sa, sizeof(*sa)))
                return 0;
        e = -errno;
        if (e != -EADDRINUSE) {
                snprintf(err, errlen, "%s: cannot bind: %s", path, strerror(-e));
                return e;
        }
        if (lstat(path, &st)) {
                e = -errno;
                snprintf(err, errlen, "%s: %s", path, strerror(-e));
                return e;
        }
        if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, errlen, "%s: exists and is not a socket (not replaced)", path);
                return -EEXIST;
        }
        if (someone_listens(sa)) {
                snprintf(err, errlen, "%s: another mqttlb is listening", path);
                return -EADDRINUSE;
        }
        if (unlink(path) && errno != ENOENT) {
                e = -errno;
                snprintf(err, errlen, "%s: cannot remove the stale socket: %s", path, strerror(-e));
                return e;
        }
        if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
                e = -errno;
                snprintf(err, errlen, "%s: cannot bind: %s", path, strerror(-e));
                return e;
        }
        return 0;
}

int admin__start(struct admin **out, const char *path, stats_render_fn *render, void *ctx,
                 char *err, size_t errlen)
{
        struct admin *a;
        struct sockaddr_un sa;
        struct stat st;
        sigset_t all, old;
        int e;

        *out = NULL;
        if (fill_addr(&sa, path)) {
                snprintf(err, errlen, "%s: too long for a socket path (%zu bytes at most)", path,
                         sizeof(sa.sun_path) - 1);
                return -ENAMETOOLONG;
        }
        a = calloc(1, sizeof(*a));
        if (!a) {
                snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
                return -ENOMEM;
        }
        memcpy(a->path, sa.sun_path, sizeof(a->path));
        a->render = render;
        a->ctx = ctx;
        a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (a->stop_fd < 0 || a->fd < 0) {
                e = -errno;
                snprintf(err, errlen, "%s: cannot create the socket: %s", path, strerror(-e));
                goto fail;
        }
        e = bind_path(a->fd, &sa, path, err, errlen);
        if (e)
                goto fail;
        if (chmod(path, 0660) || stat(path, &st)) {
                e = -errno;
                snprintf(err, errlen, "%s: %s", path, strerror(-e));
                goto fail_unlink;
        }
        a->dev = st.st_dev;
        a->ino = st.st_ino;
        if (listen(a->fd, 16)) {
                e = -errno;
                snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(-e));
                goto fail_unlink;
        }
        /* The thread takes no signal: the process's signal handling stays
         * with whoever runs it. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        e = -pthread_create(&a->thread, NULL, admin_thread, a);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e) {
                snprintf(err, errlen, "%s: cannot start the admin thread: %s", path, strerror(-e));
                goto fail_unlink;
        }
        a->started = true;
        *out = a;
        return 0;
fail_unlink:
        unlink(path);
fail:
        if (a->fd >= 0)
                close(a->fd);
        if (a->stop_fd >= 0)
                close(a->stop_fd);
        free(a);
        return e;
}

void admin__stop(struct admin *a)
{
        struct stat st;

        if (!a)
                return;
        if (a->started) {
                uint64_t one = 1;

                if (write(a->stop_fd, &one, sizeof(one)) < 0) {
                        /* an eventfd write fails only at overflow: the thread
                         * is woken anyway */
                }
                pthread_join(a->thread, NULL);
        }
        /* Removed only if it is still the file we bound: an instance started
         * since may own the path now. */
        if (!lstat(a->path, &st) && st.st_dev == a->dev && st.st_ino == a->ino)
                unlink(a->path);
        close(a->fd);
        close(a->stop_fd);
        free(a);
}

int admin__query(const char *path, const char *request, int timeout_ms, struct stats_buf *out,
                 char *err, size_t errlen)
{
        struct sockaddr_un sa;
        int64_t deadline;
        size_t start = out->len;
        char chunk[16384];
        int fd, e;

        if (fill_addr(&sa, path)) {
                snprintf(err, errlen, "%s: too long for a socket path", path);
                return -ENAMETOOLONG;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                e = -errno;
                snprintf(err, errlen, "%s: %s", path, strerror(-e));
                return e;
        }
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa))) {
                e = -errno;
                snprintf(err, errlen, "%s: cannot connect: %s", path, strerror(-e));
                close(fd);
                return e;
        }
        if (fcntl(fd, F_SETFL, O_NONBLOCK)) {
                e = -errno;
                snprintf(err, errlen, "%s: %s", path, strerror(-e));
                close(fd);
                return e;
        }
        deadline = now_ms() + timeout_ms;
        e = write_all(fd, request, strlen(request), deadline);
        if (!e)
                e = write_all(fd, "\n", 1, deadline);
        while (!e) {
                ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

                if (n > 0) {
                        if (stats_buf__put(out, chunk, (size_t)n))
                                e = out->err;
                        deadline = now_ms() + timeout_ms; /* progress: wait again */
                        continue;
                }
                if (n == 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        e = -errno;
                else
                        e = wait_fd(fd, POLLIN, deadline);
        }
        close(fd);
        if (e) {
                snprintf(err, errlen, "%s: %s", path,
                         e == -ETIMEDOUT ? "no answer (timed out)" : strerror(-e));
                return e;
        }
        if (out->len - start >= 7 && !strncmp(out->data + start, "error: ", 7)) {
                size_t n = strcspn(out->data + start + 7, "\n");

                snprintf(err, errlen, "%s: %.*s", path, (int)n, out->data + start + 7);
                out->len = start;
                out->data[start] = '\0';
                return -EPROTO;
        }
        if (out->len == start) {
                snprintf(err, errlen, "%s: empty answer", path);
                return -EPROTO;
        }
        return 0;
}
