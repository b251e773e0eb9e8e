/*
 * Loading, attaching and feeding the XDP redirector (redirector.h). Runs at
 * start and stop only, never per packet.
 *
 * One instance per interface: before touching XDP, the instance binds an
 * abstract Unix socket named after the interface index. Abstract names live
 * in the network namespace and vanish with the process however it dies, so
 * the lock is never stale; a second instance fails to bind and learns the
 * holder's PID from SO_PEERCRED. An mqttlb program found attached while the
 * lock was free was left by an instance that was killed (XDP programs outlive
 * their process): it is detached and replaced.
 */
#include "bpf/redirector.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "redirect.skel.h"

#define PROG_NAME "mqttlb_redirect"

struct redirector {
        struct redirect *skel;
        struct xdp_program *prog;
        enum xdp_attach_mode mode;
        int ifindex;
        int lock_fd;
        char ifname[IF_NAMESIZE];
};

static void say(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (!err || !errlen)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static void lock_name(struct sockaddr_un *sa, socklen_t *len, int ifindex)
{
        int n;

        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "mqttlb/ifindex/%d", ifindex);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* Returns the lock's fd, or -EBUSY with the holder named in err. */
static int lock_interface(const char *ifname, int ifindex, char *err, size_t errlen)
{
        struct sockaddr_un sa;
        socklen_t len;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        if (fd < 0)
                return -errno;
        lock_name(&sa, &len, ifindex);
        if (!bind(fd, (struct sockaddr *)&sa, len) && !listen(fd, 1))
                return fd;
        r = -errno;
        close(fd);
        if (r != -EADDRINUSE) {
                say(err, errlen, "%s: cannot take the instance lock: %s", ifname, strerror(-r));
                return r;
        }
        /* who holds it: the listener's credentials come with a connection */
        struct ucred cred = {0};
        socklen_t cl = sizeof(cred);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, len) &&
            !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) && cred.pid)
                say(err, errlen, "%s: another mqttlb instance (pid %d) is running on it", ifname,
                    (int)cred.pid);
        else
                say(err, errlen, "%s: another mqttlb instance is running on it", ifname);
        if (fd >= 0)
                close(fd);
        return -EBUSY;
}

/* Detaches an mqttlb program a killed instance left on the interface. */
static void remove_stale(int ifindex)
{
        struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
        bool legacy;

        if (!mp || libxdp_get_error(mp))
                return;
        legacy = xdp_multiprog__is_legacy(mp);
        for (struct xdp_program *p = legacy ? xdp_multiprog__main_prog(mp)
                                            : xdp_multiprog__next_prog(NULL, mp);
             p; p = legacy ? NULL : xdp_multiprog__next_prog(p, mp)) {
                if (!strcmp(xdp_program__name(p), PROG_NAME)) {
                        xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
                        break;
                }
        }
        xdp_multiprog__close(mp);
}

int redirector__attach(struct redirector **out, const char *ifname, enum redirector_mode mode,
                       bool ipv6, char *err, size_t errlen)
{
        struct redirector *r = calloc(1, sizeof(*r));
        int e;

        if (!r)
                return -ENOMEM;
        r->lock_fd = -1;
        snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
        r->ifindex = (int)if_nametoindex(ifname);
        if (!r->ifindex) {
                e = -errno;
                say(err, errlen, "%s: no such interface", ifname);
                goto fail;
        }
        e = lock_interface(ifname, r->ifindex, err, errlen);
        if (e < 0)
                goto fail;
        r->lock_fd = e;
        /* libxdp and libbpf report on stderr what libxdp tries and falls back
         * from (no dispatcher → a single program); the outcome is what we
         * report, in err, so both stay quiet */
        libxdp_set_print(NULL);
        libbpf_set_print(NULL);
        remove_stale(r->ifindex);

        r->skel = redirect__open();
        if (!r->skel) {
                e = -errno;
                say(err, errlen, "%s: cannot open the XDP redirector object: %s", ifname,
                    strerror(-e));
                goto fail;
        }
        r->skel->rodata->ipv6_enabled = ipv6;
        r->prog = xdp_program__from_bpf_obj(r->skel->obj, "xdp");
        e = (int)libxdp_get_error(r->prog);
        if (e) {
                r->prog = NULL;
                say(err, errlen, "%s: cannot prepare the XDP redirector: %s", ifname, strerror(-e));
                goto fail;
        }
        if (mode == REDIRECTOR_GENERIC) {
                r->mode = XDP_MODE_SKB;
                e = xdp_program__attach(r->prog, r->ifindex, r->mode, 0);
        } else {
                r->mode = XDP_MODE_NATIVE;
                e = xdp_program__attach(r->prog, r->ifindex, r->mode, 0);
                if (e && mode == REDIRECTOR_AUTO && e != -EEXIST && e != -EBUSY) {
                        r->mode = XDP_MODE_SKB;
                        e = xdp_program__attach(r->prog, r->ifindex, r->mode, 0);
                }
        }
        if (e) {
                say(err, errlen, "%s: cannot attach the XDP redirector (%s mode): %s%s", ifname,
                    r->mode == XDP_MODE_SKB ? "generic" : "native", strerror(-e),
                    e == -EEXIST || e == -EBUSY
                        ? " (another XDP program is attached without libxdp's dispatcher)"
                        : "");
                goto fail_prog;
        }
        *out = r;
        return 0;

fail_prog:
        xdp_program__close(r->prog);
        r->prog = NULL;
fail:
        if (r->skel)
                redirect__destroy(r->skel);
        if (r->lock_fd >= 0)
                close(r->lock_fd);
        free(r);
        return e;
}

void redirector__detach(struct redirector *r)
{
        if (!r)
                return;
        if (r->prog) {
                xdp_program__detach(r->prog, r->ifindex, r->mode, 0);
                xdp_program__close(r->prog);
        }
        if (r->skel)
                redirect__destroy(r->skel);
        if (r->lock_fd >= 0)
                close(r->lock_fd);
        free(r);
}

int redirector__add_listener(struct redirector *r, const struct lb_listener_key *k, uint32_t id)
{
        struct lb_listener_val v = {.id = id};

        /* a proto left zero (a key built before UDP listeners) never matches */
        if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP)
                return -EINVAL;
        return bpf_map__update_elem(r->skel->maps.listeners, k, sizeof(*k), &v, sizeof(v), BPF_ANY);
}

int redirector__add_source(struct redirector *r, const struct lb_source_key *k, uint16_t port_lo,
                           uint16_t port_hi)
{
        struct lb_source_val v = {.port_lo = port_lo, .port_hi = port_hi};

        return bpf_map__update_elem(r->skel->maps.sources, k, sizeof(*k), &v, sizeof(v), BPF_ANY);
}

int redirector__set_xsk(struct redirector *r, uint32_t queue, int xsk_fd)
{
        if (xsk_fd < 0)
                return bpf_map__delete_elem(r->skel->maps.xsks, &queue, sizeof(queue), 0);
        return bpf_map__update_elem(r->skel->maps.xsks, &queue, sizeof(queue), &xsk_fd,
                                    sizeof(xsk_fd), BPF_ANY);
}

int redirector__set_syn_limit(struct redirector *r, uint32_t rate, uint32_t burst)
{
        struct lb_syn_limit v = lb_syn_limit__of(rate, burst);
        uint32_t zero = 0;

        return bpf_map__update_elem(r->skel->maps.syn_limit, &zero, sizeof(zero), &v, sizeof(v),
                                    BPF_ANY);
}

int redirector__set_client_limit(struct redirector *r, uint32_t rate, uint32_t burst,
                                 uint32_t prefix6)
{
        struct lb_client_limit v = lb_client_limit__of(rate, burst, prefix6);
        uint32_t zero = 0;

        /* client_tat keeps the TATs earned under the old rate: at most the
         * old burst and one interval ahead, they wear off within that */
        return bpf_map__update_elem(r->skel->maps.client_limit, &zero, sizeof(zero), &v, sizeof(v),
                                    BPF_ANY);
}

int redirector__counters(const struct redirector *r, uint64_t *out)
{
        int ncpu = libbpf_num_possible_cpus();
        uint64_t *v;

        if (ncpu <= 0)
                return ncpu ? ncpu : -EINVAL;
        v = calloc((size_t)ncpu, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (uint32_t k = 0; k < LB_CNT__MAX; k++) {
                int e = bpf_map__lookup_elem(r->skel->maps.counters, &k, sizeof(k), v,
                                             (size_t)ncpu * sizeof(*v), 0);

                if (e) {
                        free(v);
                        return e;
                }
                out[k] = 0;
                for (int c = 0; c < ncpu; c++)
                        out[k] += v[c];
        }
        free(v);
        return 0;
}

bool redirector__native(const struct redirector *r)
{
        return r->mode == XDP_MODE_NATIVE;
}
