/*
 * /metrics over libmicrohttpd (metrics.h). The listening socket is made
 * here, not by the daemon, so that a failure to bind says exactly why
 * (errno) and names the address; the daemon is handed the socket
 * (MHD_OPTION_LISTEN_SOCKET) and closes it when stopped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "core/ops/metrics.h"
#include "core/util/netaddr.h"

#define METRICS_CONNECTIONS_MAX 64
#define METRICS_TIMEOUT_S       10

struct metrics {
        struct MHD_Daemon *d;
        stats_render_fn *render;
        void *ctx;
        uint16_t port;
};

static const char NOT_FOUND[] = "not found: the counters are at /metrics\n";
static const char NOT_ALLOWED[] = "method not allowed: GET /metrics\n";
static const char FAILED[] = "cannot render the counters\n";

static enum MHD_Result reply_static(struct MHD_Connection *c, unsigned int status, const char *body,
                                    size_t len, bool allow)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret;

        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        if (allow)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
        struct metrics *m = cls;
        struct stats_buf out = {0};
        struct MHD_Response *r;
        enum MHD_Result ret;

        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)req_cls;
        if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
                return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, NOT_ALLOWED,
                                    sizeof(NOT_ALLOWED) - 1, true);
        if (strcmp(url, "/metrics"))
                return reply_static(c, MHD_HTTP_NOT_FOUND, NOT_FOUND, sizeof(NOT_FOUND) - 1, false);
        if (m->render(m->ctx, STATS_PROMETHEUS, &out)) {
                stats_buf__free(&out);
                return reply_static(c, MHD_HTTP_INTERNAL_SERVER_ERROR, FAILED, sizeof(FAILED) - 1,
                                    false);
        }
        /* The buffer is the response's from here (freed by the daemon). */
        r = MHD_create_response_from_buffer(out.len, out.data ? out.data : (char *)"",
                                            out.data ? MHD_RESPMEM_MUST_FREE
                                                     : MHD_RESPMEM_PERSISTENT);
        if (!r) {
                stats_buf__free(&out);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
        ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
}

/* ADDR:PORT as the configuration takes it, and also ADDR:0 (a port the
 * kernel picks: tests). */
static int parse_addr(const char *addr, struct net_addr *na, const char **why)
{
        size_t n = strlen(addr);
        char tmp[128];

        if (n < 2 || n >= sizeof(tmp) || strcmp(addr + n - 2, ":0"))
                return net_addr__parse(addr, true, na, why);
        memcpy(tmp, addr, n + 1);
        tmp[n - 1] = '1';
        if (net_addr__parse(tmp, true, na, why))
                return -EINVAL;
        na->port = 0;
        return 0;
}

static int listen_on(const char *addr, uint16_t *port, bool *v6, char *err, size_t errlen)
{
        struct net_addr na;
        struct sockaddr_storage ss = {0};
        socklen_t sl;
        const char *why;
        int fd, e, one = 1;

        if (parse_addr(addr, &na, &why)) {
                snprintf(err, errlen, "metrics %s: %s", addr, why);
                return -EINVAL;
        }
        *v6 = na.ip.family == 6;
        if (*v6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons(na.port);
                memcpy(&s6->sin6_addr, na.ip.addr, 16);
                sl = sizeof(*s6);
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

                s4->sin_family = AF_INET;
                s4->sin_port = htons(na.port);
                memcpy(&s4->sin_addr, na.ip.addr, 4);
                sl = sizeof(*s4);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                e = -errno;
                snprintf(err, errlen, "metrics %s: cannot create a socket: %s", addr, strerror(-e));
                return e;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (*v6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 64)) {
                e = -errno;
                snprintf(err, errlen, "metrics %s: cannot listen: %s", addr, strerror(-e));
                close(fd);
                return e;
        }
        sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
                e = -errno;
                snprintf(err, errlen, "metrics %s: %s", addr, strerror(-e));
                close(fd);
                return e;
        }
        *port = ntohs(*v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                          : ((struct sockaddr_in *)&ss)->sin_port);
        return fd;
}

int metrics__start(struct metrics **out, const char *addr, stats_render_fn *render, void *ctx,
                   char *err, size_t errlen)
{
        struct metrics *m;
        sigset_t all, old;
        bool v6 = false;
        int fd;

        *out = NULL;
        m = calloc(1, sizeof(*m));
        if (!m) {
                snprintf(err, errlen, "metrics %s: %s", addr, strerror(ENOMEM));
                return -ENOMEM;
        }
        m->render = render;
        m->ctx = ctx;
        fd = listen_on(addr, &m->port, &v6, err, errlen);
        if (fd < 0) {
                free(m);
                return fd;
        }
        /* The daemon's thread takes no signal (it inherits this mask). */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        m->d = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
            handle, m, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned int)METRICS_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned int)METRICS_TIMEOUT_S, MHD_OPTION_END);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!m->d) {
                snprintf(err, errlen, "metrics %s: the HTTP server did not start", addr);
                close(fd);
                free(m);
                return -ENOMEM;
        }
        *out = m;
        return 0;
}

uint16_t metrics__port(const struct metrics *m)
{
        return m->port;
}

void metrics__stop(struct metrics *m)
{
        if (!m)
                return;
        MHD_stop_daemon(m->d);
        free(m);
}
