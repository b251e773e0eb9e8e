/*
 * AF_XDP sockets over libxdp's xsk API (see xsk_port.h). Per socket: RX and
 * TX rings; per (interface, queue): a fill and a completion ring (the first
 * socket uses the UMEM's own, later ones get theirs through
 * xsk_socket__create_shared). A syscall only when a ring asks for it
 * (need_wakeup). Must not allocate or lock per packet: frames come from and
 * go back to the worker's cache.
 */
#include "xsk/xsk_port.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <xdp/xsk.h>

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

#define DEFAULT_RING 2048u

struct xsk_umem_set {
        struct xsk_umem *umem;
        struct umem_area *area;
        struct xsk_ring_prod fill0; /* rings of the UMEM's own socket */
        struct xsk_ring_cons comp0;
        bool first_taken;
        uint32_t fill_size;
};

struct xsk_port {
        struct port port;
        struct xsk_socket *xsk;
        struct xsk_ring_cons rx;
        struct xsk_ring_prod tx;
        struct xsk_ring_prod fill_own;
        struct xsk_ring_cons comp_own;
        struct xsk_ring_prod *fill;
        struct xsk_ring_cons *comp;
        uint32_t fill_held; /* frames in the fill ring or being filled by the kernel */
        uint32_t tx_held;   /* frames submitted for TX, not completed */
        uint32_t ring_size;
        uint32_t fill_size;
        uint64_t frame_mask;
        bool zerocopy;
        bool busy_poll;
};

int xsk_umem_set__new(struct xsk_umem_set **out, struct umem_area *area, uint32_t ring_size)
{
        struct xsk_umem_set *u = calloc(1, sizeof(*u));
        struct xsk_umem_config cfg = {
            /* twice the RX ring: the kernel finds frames to receive into
             * even when the worker was off its core for a while (copy mode
             * on a shared machine drops into an empty fill ring otherwise) */
            .fill_size = 2 * (ring_size ? ring_size : DEFAULT_RING),
            .comp_size = ring_size ? ring_size : DEFAULT_RING,
            .frame_size = area->frame_size,
            .frame_headroom = 0,
        };
        int err;

        if (!u)
                return -ENOMEM;
        err = xsk_umem__create(&u->umem, area->base, area->size, &u->fill0, &u->comp0, &cfg);
        if (err) {
                free(u);
                return err < 0 ? err : -err;
        }
        u->area = area;
        u->fill_size = cfg.fill_size;
        *out = u;
        return 0;
}

void xsk_umem_set__free(struct xsk_umem_set *u)
{
        if (!u)
                return;
        xsk_umem__delete(u->umem);
        free(u);
}

/* Tops the fill ring up with frames from the worker's cache. */
static void refill(struct xsk_port *x)
{
        uint32_t want = x->fill_size - x->fill_held, idx, got;
        uint64_t addrs[FRAME_BATCH];

        while (want >= FRAME_BATCH / 2) {
                uint32_t n = want < FRAME_BATCH ? want : FRAME_BATCH;

                got = frame_cache__alloc(x->port.cache, addrs, n);
                if (!got)
                        return;
                if (xsk_ring_prod__reserve(x->fill, got, &idx) != got) {
                        for (uint32_t i = 0; i < got; i++)
                                frame_cache__put(x->port.cache, addrs[i]);
                        return;
                }
                for (uint32_t i = 0; i < got; i++)
                        *xsk_ring_prod__fill_addr(x->fill, idx + i) = addrs[i];
                xsk_ring_prod__submit(x->fill, got);
                x->fill_held += got;
                want -= got;
        }
}

static uint32_t xsk_rx(struct port *port, struct frame_desc *d, uint32_t n)
{
        struct xsk_port *x = (struct xsk_port *)port;
        uint32_t idx, got;

        refill(x);
        got = xsk_ring_cons__peek(&x->rx, n, &idx);
        if (!got) {
                /* busy polling: the syscall is what runs the NAPI poll on
                 * this core (kernel AF_XDP docs, "busy polling") */
                if (x->busy_poll || xsk_ring_prod__needs_wakeup(x->fill))
                        recvfrom(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
                return 0;
        }
        for (uint32_t i = 0; i < got; i++) {
                const struct xdp_desc *rd = xsk_ring_cons__rx_desc(&x->rx, idx + i);

                d[i].addr = rd->addr;
                d[i].len = rd->len;
        }
        xsk_ring_cons__release(&x->rx, got);
        x->fill_held -= got;
        port->rx_frames += got;
        return got;
}

static uint32_t xsk_tx(struct port *port, const struct frame_desc *d, uint32_t n)
{
        struct xsk_port *x = (struct xsk_port *)port;
        uint32_t idx, got = xsk_ring_prod__reserve(&x->tx, n, &idx);

        for (uint32_t i = 0; i < got; i++) {
                struct xdp_desc *td = xsk_ring_prod__tx_desc(&x->tx, idx + i);

                td->addr = d[i].addr;
                td->len = d[i].len;
                td->options = 0;
        }
        xsk_ring_prod__submit(&x->tx, got);
        x->tx_held += got;
        port->tx_frames += got;
        return got;
}

/* Completed TX frames back into the cache, at their frame's start. */
static void reclaim_completions(struct xsk_port *x)
{
        uint32_t idx, got;

        while ((got = xsk_ring_cons__peek(x->comp, FRAME_BATCH, &idx))) {
                for (uint32_t i = 0; i < got; i++)
                        frame_cache__put(x->port.cache,
                                         *xsk_ring_cons__comp_addr(x->comp, idx + i) &
                                             x->frame_mask);
                xsk_ring_cons__release(x->comp, got);
                x->tx_held -= got;
        }
}

/* TX descriptors submitted that the kernel has not taken off the ring yet. */
static uint32_t tx_unconsumed(const struct xsk_port *x)
{
        return *x->tx.producer - __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);
}

/*
 * In copy mode one sendto() transmits at most 32 frames (the kernel's
 * TX_BATCH_SIZE), fewer than a worker's burst: kick again while the kernel
 * keeps taking frames, a bounded number of times, so that the TX ring does
 * not back up into drops. Zero-copy drivers take the whole ring per kick.
 */
#define TX_KICKS_MAX 8

static void xsk_flush(struct port *port)
{
        struct xsk_port *x = (struct xsk_port *)port;

        if (x->tx_held && xsk_ring_prod__needs_wakeup(&x->tx)) {
                uint32_t left = tx_unconsumed(x);

                for (int k = 0; left && k < TX_KICKS_MAX; k++) {
                        uint32_t before = left;

                        if (sendto(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
                            errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
                                break;
                        left = tx_unconsumed(x);
                        if (left >= before) /* the kernel took nothing: try next round */
                                break;
                }
        }
        reclaim_completions(x);
        port->tx_busy = x->tx_held != 0;
}

static void xsk_port_close(struct port *port)
{
        struct xsk_port *x = (struct xsk_port *)port;

        xsk_port__reclaim(port);
        xsk_socket__delete(x->xsk);
        free(x);
}

static const struct port_ops XSK_OPS = {
    .rx = xsk_rx,
    .tx = xsk_tx,
    .flush = xsk_flush,
    .close = xsk_port_close,
};

static int busy_poll(int fd, const struct xsk_port_cfg *cfg)
{
        int on = 1, us = (int)cfg->busy_poll_us,
            budget = cfg->busy_budget ? (int)cfg->busy_budget : 64;

        if (setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &on, sizeof(on)) ||
            setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us)) ||
            setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)))
                return -errno;
        return 0;
}

int xsk_port__open(struct port **out, struct xsk_umem_set *u, const struct xsk_port_cfg *cfg,
                   struct frame_cache *cache, char *err, size_t errlen)
{
        struct xsk_port *x = calloc(1, sizeof(*x));
        struct xsk_socket_config sc = {0};
        struct xdp_options opts;
        socklen_t optlen = sizeof(opts);
        int r;

        if (!x)
                return -ENOMEM;
        x->ring_size = cfg->ring_size ? cfg->ring_size : DEFAULT_RING;
        x->fill_size = u->fill_size;
        sc.rx_size = sc.tx_size = x->ring_size;
        sc.libxdp_flags = cfg->load_default_prog ? 0 : XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
        sc.bind_flags = XDP_USE_NEED_WAKEUP;
        if (cfg->mode == XSK_MODE_ZEROCOPY)
                sc.bind_flags |= XDP_ZEROCOPY;
        else if (cfg->mode == XSK_MODE_COPY)
                sc.bind_flags |= XDP_COPY;
        if (!u->first_taken) {
                x->fill = &u->fill0;
                x->comp = &u->comp0;
        } else {
                x->fill = &x->fill_own;
                x->comp = &x->comp_own;
        }
        r = xsk_socket__create_shared(&x->xsk, cfg->ifname, cfg->queue, u->umem, &x->rx, &x->tx,
                                      x->fill, x->comp, &sc);
        if (r) {
                r = r < 0 ? r : -r;
                if (err)
                        snprintf(err, errlen, "%s queue %u: cannot create AF_XDP socket: %s%s",
                                 cfg->ifname, cfg->queue, strerror(-r),
                                 r == -EOPNOTSUPP && cfg->mode == XSK_MODE_ZEROCOPY
                                     ? " (the driver has no zero-copy AF_XDP)"
                                 : r == -EBUSY ? " (another AF_XDP socket holds this queue)"
                                               : "");
                free(x);
                return r;
        }
        u->first_taken = true;
        x->busy_poll = cfg->busy_poll_us > 0;
        if (cfg->busy_poll_us && (r = busy_poll(xsk_socket__fd(x->xsk), cfg))) {
                if (err)
                        snprintf(err, errlen, "%s queue %u: busy polling: %s", cfg->ifname,
                                 cfg->queue, strerror(-r));
                xsk_socket__delete(x->xsk);
                free(x);
                return r;
        }
        if (!getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_OPTIONS, &opts, &optlen))
                x->zerocopy = opts.flags & XDP_OPTIONS_ZEROCOPY;
        x->port.ops = &XSK_OPS;
        x->port.name = cfg->ifname;
        x->port.umem = u->area;
        x->port.cache = cache;
        x->frame_mask = ~(uint64_t)(u->area->frame_size - 1);
        refill(x);
        *out = &x->port;
        return 0;
}

int xsk_port__fd(const struct port *p)
{
        return xsk_socket__fd(((const struct xsk_port *)p)->xsk);
}

bool xsk_port__zerocopy(const struct port *p)
{
        return ((const struct xsk_port *)p)->zerocopy;
}

uint32_t xsk_port__in_kernel(const struct port *p)
{
        const struct xsk_port *x = (const struct xsk_port *)p;

        return x->fill_held + x->tx_held;
}

int xsk_port__kernel_stats(const struct port *p, struct xdp_statistics *out)
{
        socklen_t len = sizeof(*out);

        memset(out, 0, sizeof(*out));
        if (getsockopt(xsk_port__fd(p), SOL_XDP, XDP_STATISTICS, out, &len))
                return -errno;
        return 0;
}

uint32_t xsk_port__tx_in_flight(const struct port *p)
{
        return ((const struct xsk_port *)p)->tx_held;
}

void xsk_port__reclaim(struct port *p)
{
        struct xsk_port *x = (struct xsk_port *)p;

        reclaim_completions(x);
}
