/*
 * Next hops over rtnetlink (libmnl): one request at a time on the resolver's
 * socket, notifications on the watch's.
 *
 * Owns the two sockets, their receive buffers and the tables it builds. Must
 * not change anything in the kernel but neighbour entries that are missing,
 * failed or stale, and those only the way sending a packet would (NTF_USE);
 * must not block forever on the kernel (SO_RCVTIMEO), print, or let a reader
 * of a table see it change.
 *
 * How an unknown neighbour gets resolved. Our frames leave through AF_XDP,
 * so the kernel never has a packet waiting for the neighbour and never
 * starts ARP (RFC 826) or Neighbor Discovery (RFC 4861 §7.2) on its own.
 * Ways to make it, checked against net/core/neighbour.c and on veth:
 *
 * - RTM_NEWNEIGH with NUD_INCOMPLETE or NUD_NONE (`ip neigh replace ... nud
 *   incomplete|none`): __neigh_update() stores a state that is not
 *   NUD_VALID, stops the entry's timer and sends nothing. The INCOMPLETE
 *   entry then sits there with no probe and no timer to fail it.
 * - RTM_NEWNEIGH with NTF_USE (`ip neigh replace ... use`): neigh_add()
 *   creates the entry if asked to (NLM_F_CREATE), leaves its state alone and
 *   calls neigh_event_send(), exactly what the output path does for a
 *   packet: NONE or FAILED goes to INCOMPLETE and the first multicast probe
 *   leaves at once (mcast_solicit of them, retrans_time apart, then FAILED
 *   with a notification); STALE goes to DELAY, then a unicast PROBE (RFC
 *   4861 §7.3.3). Long-standing; the entry is an ordinary one the kernel
 *   ages and garbage-collects. This is what we use.
 * - NTF_MANAGED (Linux 5.16): the kernel keeps the entry resolved by itself,
 *   re-probing every interval_probe_time_ms; the series was written for
 *   XDP and tc BPF load balancers. But that is state of ours in the kernel
 *   that outlives us: each managed entry would have to be deleted again
 *   when its broker leaves the configuration, or be probed for ever.
 *   NTF_USE at every refresh keeps the next hops we still use fresh and
 *   lets the others age out.
 * - A UDP datagram to the destination (connect + send): real traffic to a
 *   broker that did not ask for it.
 *
 * Since Linux 5.16, NTF_USE on an existing entry clears NUD_PERMANENT
 * (__neigh_update() with NEIGH_UPDATE_F_USE: new = old & ~NUD_PERMANENT),
 * so it is only ever sent for entries seen missing (with NLM_F_EXCL: one
 * created meanwhile is left alone), NONE, FAILED or STALE; never for
 * PERMANENT or NOARP ones.
 *
 * Why 730 lines: the table and its netlink resolver share the entry's life
 * cycle (probe, resolve, expire).
 */
#include "core/control/nexthop.h"
#include "core/util/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <net/if_arp.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/*
 * Replies are single messages, but a link's carries statistics and can be
 * a few KiB; 32 KiB holds any one message without truncation (ENOSPC).
 */
#define NL_BUF_SIZE     32768
#define NL_REQ_SIZE     256 /* header + ndmsg/rtmsg/ifinfomsg + one address */
#define NL_TIMEOUT_SEC  5   /* the RTNL lock can be held for a while; not for ever */
#define WATCH_RCVBUF    (1 << 20)
#define WATCH_MAX_READS 256 /* per drain: the control loop gets its turn back */
#define NUD_VALID_STATES \
        (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)

struct nh_resolver {
        struct mnl_socket *nl;
        unsigned int portid;
        uint32_t seq;
        alignas(struct nlmsghdr) uint8_t buf[NL_BUF_SIZE];
};

struct nh_watch {
        struct mnl_socket *nl;
        alignas(struct nlmsghdr) uint8_t buf[NL_BUF_SIZE];
};

struct nh_table {
        size_t n;
        struct nh_entry e[]; /* sorted by addr__cmp, distinct */
};

const char *nh_state__str(enum nh_state s)
{
        switch (s) {
        case NH_RESOLVED: return "resolved";
        case NH_INCOMPLETE: return "incomplete";
        case NH_NO_ROUTE: return "no route";
        case NH_FAILED: return "failed";
        }
        return "?";
}

/* ---- addresses ---- */

static int addr__af(const struct ip_addr *a)
{
        return a->family == 4 ? AF_INET : AF_INET6;
}

static size_t addr__len(const struct ip_addr *a)
{
        return a->family == 4 ? 4 : 16;
}

static bool addr__valid(const struct ip_addr *a)
{
        static const uint8_t zero[12];

        if (a->family == 6)
                return true;
        /* the unused tail takes part in comparisons: it must be zero */
        return a->family == 4 && memcmp(a->addr + 4, zero, sizeof(zero)) == 0;
}

static int addr__cmp(const struct ip_addr *a, const struct ip_addr *b)
{
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        return memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* From an address of family af (AF_INET, AF_INET6) found in a message. */
static int addr__from_raw(struct ip_addr *a, int af, const void *p, size_t len)
{
        memset(a, 0, sizeof(*a));
        if (af == AF_INET && len == 4)
                a->family = 4;
        else if (af == AF_INET6 && len == 16)
                a->family = 6;
        else
                return -EBADMSG;
        memcpy(a->addr, p, len);
        return 0;
}

/* ---- netlink plumbing ---- */

static int nl__open(struct mnl_socket **out, int flags)
{
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | flags);
        int one = 1, err;

        if (!nl)
                return -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                err = -errno;
                mnl_socket_close(nl);
                return err;
        }
        /* Best effort: errors then do not echo our request back (Linux 4.3). */
        mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
        *out = nl;
        return 0;
}

struct attrs {
        const struct nlattr **tb;
        uint16_t max;
};

/* Attribute types past what we know (newer kernels) are skipped. */
static int attrs__cb(const struct nlattr *a, void *data)
{
        const struct attrs *t = data;
        uint16_t type = mnl_attr_get_type(a);

        if (type <= t->max)
                t->tb[type] = a;
        return MNL_CB_OK;
}

static int attrs__parse(const struct nlmsghdr *nlh, size_t hdr, const struct nlattr **tb,
                        uint16_t max)
{
        struct attrs t = {.tb = tb, .max = max};

        if (mnl_nlmsg_get_payload_len(nlh) < hdr)
                return -EBADMSG;
        return mnl_attr_parse(nlh, (unsigned int)hdr, attrs__cb, &t) < 0 ? -EBADMSG : 0;
}

static struct nlmsghdr *req__start(uint8_t *buf, uint16_t type, uint16_t flags)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        return nlh;
}

/*
 * Sends one request and reads until its acknowledgement (every request asks
 * for one: a GET's answer is then followed by an ACK, which ends the
 * exchange without guessing whether more is coming). cb sees each other
 * message; its first error is returned after the ACK, so nothing of this
 * exchange is left in the socket. Messages of another sequence number are
 * answers to a request that timed out: skipped.
 */
static int resolver__transact(struct nh_resolver *r, struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
        uint32_t seq = ++r->seq;
        int cb_err = 0;

        req->nlmsg_seq = seq;
        if (mnl_socket_sendto(r->nl, req, req->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)r->buf;
                int len;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
                }
                for (len = (int)n; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                        const struct nlmsgerr *e;

                        if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != r->portid)
                                continue;
                        switch (nlh->nlmsg_type) {
                        case NLMSG_NOOP: break;
                        case NLMSG_DONE: return cb_err;
                        case NLMSG_ERROR:
                                if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
                                        return -EBADMSG;
                                e = mnl_nlmsg_get_payload(nlh);
                                /* error 0 is the ACK */
                                return e->error ? e->error : cb_err;
                        default:
                                if (cb && !cb_err)
                                        cb_err = cb(nlh, data);
                        }
                }
        }
}

int nh_resolver__new(struct nh_resolver **out)
{
        struct timeval tv = {.tv_sec = NL_TIMEOUT_SEC};
        struct nh_resolver *r;
        int err;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        err = nl__open(&r->nl, 0);
        if (err)
                goto err_free;
        if (setsockopt(mnl_socket_get_fd(r->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
                err = -errno;
                goto err_close;
        }
        r->portid = mnl_socket_get_portid(r->nl);
        *out = r;
        return 0;

err_close:
        mnl_socket_close(r->nl);
err_free:
        free(r);
        return err;
}

void nh_resolver__free(struct nh_resolver *r)
{
        if (!r)
                return;
        mnl_socket_close(r->nl);
        free(r);
}

/* ---- the three questions, and the nudge ---- */

struct route_reply {
        bool got;
        uint8_t type; /* RTN_* */
        uint32_t oif;
        bool has_gw;
        struct ip_addr gw;
};

static int route__cb(const struct nlmsghdr *nlh, void *data)
{
        const struct nlattr *tb[RTA_MAX + 1] = {0};
        struct route_reply *rr = data;
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);

        if (nlh->nlmsg_type != RTM_NEWROUTE || attrs__parse(nlh, sizeof(*rtm), tb, RTA_MAX))
                return -EBADMSG;
        rr->got = true;
        rr->type = rtm->rtm_type;
        if (tb[RTA_OIF]) {
                if (mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) < 0)
                        return -EBADMSG;
                rr->oif = mnl_attr_get_u32(tb[RTA_OIF]);
        }
        if (tb[RTA_GATEWAY]) {
                rr->has_gw = true;
                return addr__from_raw(&rr->gw, rtm->rtm_family,
                                      mnl_attr_get_payload(tb[RTA_GATEWAY]),
                                      mnl_attr_get_payload_len(tb[RTA_GATEWAY]));
        }
        if (tb[RTA_VIA]) {
                /* A gateway of the other family: IPv4 routes via an IPv6
                 * next hop (RFC 8950; Linux 5.2). Its neighbour is in the
                 * ND table. */
                const struct rtvia *via = mnl_attr_get_payload(tb[RTA_VIA]);
                size_t len = mnl_attr_get_payload_len(tb[RTA_VIA]);

                if (len < sizeof(*via))
                        return -EBADMSG;
                rr->has_gw = true;
                return addr__from_raw(&rr->gw, via->rtvia_family, via->rtvia_addr,
                                      len - sizeof(*via));
        }
        return 0;
}

static int resolver__get_route(struct nh_resolver *r, const struct ip_addr *dst,
                               struct route_reply *rr)
{
        alignas(struct nlmsghdr) uint8_t req[NL_REQ_SIZE];
        struct nlmsghdr *nlh = req__start(req, RTM_GETROUTE, 0);
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        int err;

        rtm->rtm_family = (uint8_t)addr__af(dst);
        rtm->rtm_dst_len = (uint8_t)(addr__len(dst) * 8);
        mnl_attr_put(nlh, RTA_DST, addr__len(dst), dst->addr);
        err = resolver__transact(r, nlh, route__cb, rr);
        if (!err && !rr->got)
                return -EBADMSG;
        return err;
}

struct link_reply {
        bool ether;
        uint8_t mac[6];
};

static int link__cb(const struct nlmsghdr *nlh, void *data)
{
        const struct nlattr *tb[IFLA_MAX + 1] = {0};
        struct link_reply *lr = data;
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

        if (nlh->nlmsg_type != RTM_NEWLINK || attrs__parse(nlh, sizeof(*ifi), tb, IFLA_MAX))
                return -EBADMSG;
        /* AF_XDP frames carry an Ethernet header: nothing else will do */
        if (ifi->ifi_type == ARPHRD_ETHER && tb[IFLA_ADDRESS] &&
            mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == sizeof(lr->mac)) {
                lr->ether = true;
                memcpy(lr->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), sizeof(lr->mac));
        }
        return 0;
}

static int resolver__get_link(struct nh_resolver *r, int ifindex, struct link_reply *lr)
{
        alignas(struct nlmsghdr) uint8_t req[NL_REQ_SIZE];
        struct nlmsghdr *nlh = req__start(req, RTM_GETLINK, 0);
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        return resolver__transact(r, nlh, link__cb, lr);
}

struct neigh_reply {
        bool got;
        uint16_t state; /* NUD_* */
        bool has_lladdr;
        uint8_t lladdr[6];
};

static int neigh__cb(const struct nlmsghdr *nlh, void *data)
{
        const struct nlattr *tb[NDA_MAX + 1] = {0};
        struct neigh_reply *nr = data;
        const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);

        if (nlh->nlmsg_type != RTM_NEWNEIGH || attrs__parse(nlh, sizeof(*ndm), tb, NDA_MAX))
                return -EBADMSG;
        nr->got = true;
        nr->state = ndm->ndm_state;
        if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == sizeof(nr->lladdr)) {
                nr->has_lladdr = true;
                memcpy(nr->lladdr, mnl_attr_get_payload(tb[NDA_LLADDR]), sizeof(nr->lladdr));
        }
        return 0;
}

/* One entry by (address, interface): Linux 5.0 (neigh_get). -ENOENT when absent. */
static int resolver__get_neigh(struct nh_resolver *r, const struct ip_addr *via, int ifindex,
                               struct neigh_reply *nr)
{
        alignas(struct nlmsghdr) uint8_t req[NL_REQ_SIZE];
        struct nlmsghdr *nlh = req__start(req, RTM_GETNEIGH, 0);
        struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
        int err;

        ndm->ndm_family = (uint8_t)addr__af(via);
        ndm->ndm_ifindex = ifindex;
        mnl_attr_put(nlh, NDA_DST, addr__len(via), via->addr);
        err = resolver__transact(r, nlh, neigh__cb, nr);
        if (!err && !nr->got)
                return -EBADMSG;
        return err;
}

/*
 * Has the kernel resolve (or re-verify) the neighbour as if a packet were
 * waiting for it: see the top of this file. create: the entry was absent;
 * it is created only if it still is.
 */
static int resolver__kick(struct nh_resolver *r, const struct ip_addr *via, int ifindex,
                          bool create)
{
        alignas(struct nlmsghdr) uint8_t req[NL_REQ_SIZE];
        struct nlmsghdr *nlh =
            req__start(req, RTM_NEWNEIGH, create ? NLM_F_CREATE | NLM_F_EXCL : 0);
        struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

        ndm->ndm_family = (uint8_t)addr__af(via);
        ndm->ndm_ifindex = ifindex;
        ndm->ndm_state = NUD_NONE; /* ignored with NTF_USE; must not be PERMANENT */
        ndm->ndm_flags = NTF_USE;
        mnl_attr_put(nlh, NDA_DST, addr__len(via), via->addr);
        return resolver__transact(r, nlh, NULL, NULL);
}

/*
 * The state after a kick: the kernel is probing, unless it refused (a device
 * it will not resolve on: NH_FAILED). EEXIST: the entry was created by
 * someone else since we looked; it is being resolved too. Trouble with the
 * socket itself fails the whole call.
 */
static int kick__result(int err, enum nh_state *state)
{
        if (err == -ETIMEDOUT || err == -ENOMEM || err == -ENOBUFS)
                return err;
        *state = !err || err == -EEXIST ? NH_INCOMPLETE : NH_FAILED;
        return 0;
}

static bool route_err__no_route(int err)
{
        /* What the kernel answers for `ip route get` when there is no route
         * (ENETUNREACH), or the route is unreachable (EHOSTUNREACH),
         * prohibit (EACCES) or blackhole (EINVAL: fib_props[RTN_BLACKHOLE]).
         * Our request itself is well-formed, so EINVAL means the latter.
         * EAFNOSUPPORT, EOPNOTSUPP: a kernel without IPv6. */
        return err == -ENETUNREACH || err == -EHOSTUNREACH || err == -EACCES || err == -EINVAL ||
               err == -EAFNOSUPPORT || err == -EOPNOTSUPP;
}

int nh_resolver__resolve(struct nh_resolver *r, const struct ip_addr *dst, struct nh_entry *out)
{
        struct route_reply rr = {0};
        struct link_reply lr = {0};
        struct neigh_reply nr = {0};
        struct ip_addr d;
        int err;

        if (!r || !dst || !out || !addr__valid(dst))
                return -EINVAL;
        d = *dst; /* dst may point into out */
        memset(out, 0, sizeof(*out));
        out->dst = d;
        out->state = NH_NO_ROUTE;

        err = resolver__get_route(r, &d, &rr);
        if (route_err__no_route(err))
                return 0;
        if (err)
                return err;
        /* local, broadcast, multicast, anycast: not a next hop on a wire */
        if (rr.type != RTN_UNICAST || !rr.oif || rr.oif > INT_MAX)
                return 0;
        out->ifindex = (int)rr.oif;
        out->via = rr.has_gw ? rr.gw : d;
        out->state = NH_FAILED;

        err = resolver__get_link(r, out->ifindex, &lr);
        if (err == -ENODEV) /* gone since the route lookup: the watch will say so */
                return 0;
        if (err)
                return err;
        if (!lr.ether)
                return 0;
        memcpy(out->src_mac, lr.mac, sizeof(out->src_mac));

        err = resolver__get_neigh(r, &out->via, out->ifindex, &nr);
        if (err == -ENODEV)
                return 0;
        if (err == -ENOENT)
                return kick__result(resolver__kick(r, &out->via, out->ifindex, true), &out->state);
        if (err)
                return err;

        if (nr.state & NUD_VALID_STATES) {
                if (!nr.has_lladdr)
                        return 0; /* NH_FAILED: nothing to put in the header */
                memcpy(out->dst_mac, nr.lladdr, sizeof(out->dst_mac));
                out->state = NH_RESOLVED;
                /* Best effort: the address stays usable while it is verified. */
                if (nr.state & NUD_STALE)
                        resolver__kick(r, &out->via, out->ifindex, false);
                return 0;
        }
        if (nr.state & NUD_INCOMPLETE) {
                /* already probing: another nudge would change nothing */
                out->state = NH_INCOMPLETE;
                return 0;
        }
        /* NUD_FAILED, or NUD_NONE (created, nothing sent yet): start a round */
        err = kick__result(resolver__kick(r, &out->via, out->ifindex, false), &out->state);
        if (nr.state & NUD_FAILED)
                out->state = NH_FAILED; /* say so once; the next call sees the new round */
        return err;
}

/* ---- tables ---- */

static int entry__cmp(const void *a, const void *b)
{
        const struct nh_entry *x = a, *y = b;

        return addr__cmp(&x->dst, &y->dst);
}

int nh_table__build(struct nh_resolver *r, const struct ip_addr *dsts, size_t n,
                    struct nh_table **out)
{
        struct nh_table *t;
        size_t k = 0;
        int err;

        if (!r || !out || (n && !dsts))
                return -EINVAL;
        if (n > NH_TABLE_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (!addr__valid(&dsts[i]))
                        return -EINVAL;

        t = calloc(1, sizeof(*t) + n * sizeof(t->e[0]));
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                t->e[i].dst = dsts[i];
        /* sorted for a binary search; equal destinations collapse */
        qsort(t->e, n, sizeof(t->e[0]), entry__cmp);
        for (size_t i = 0; i < n; i++)
                if (!k || addr__cmp(&t->e[k - 1].dst, &t->e[i].dst))
                        t->e[k++].dst = t->e[i].dst;
        for (size_t i = 0; i < k; i++) {
                err = nh_resolver__resolve(r, &t->e[i].dst, &t->e[i]);
                if (err)
                        goto err_free;
        }
        t->n = k;
        *out = t;
        return 0;

err_free:
        free(t);
        return err;
}

void nh_table__free(struct nh_table *t)
{
        free(t);
}

const struct nh_entry *nh_table__lookup(const struct nh_table *t, const struct ip_addr *dst)
{
        size_t lo = 0, hi = t ? t->n : 0;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = addr__cmp(dst, &t->e[mid].dst);

                if (!c)
                        return &t->e[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

size_t nh_table__size(const struct nh_table *t)
{
        return t ? t->n : 0;
}

const struct nh_entry *nh_table__at(const struct nh_table *t, size_t i)
{
        return t && i < t->n ? &t->e[i] : NULL;
}

/* ---- the watch ---- */

int nh_watch__new(struct nh_watch **out)
{
        static const unsigned int groups[] = {RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_ROUTE,
                                              RTNLGRP_IPV6_ROUTE};
        int size = WATCH_RCVBUF, fd;
        struct nh_watch *w;
        int err;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        err = nl__open(&w->nl, SOCK_NONBLOCK);
        if (err)
                goto err_free;
        for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
                unsigned int g = groups[i];

                if (mnl_socket_setsockopt(w->nl, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0) {
                        err = -errno;
                        goto err_close;
                }
        }
        /* A routing daemon can replace thousands of routes at once. Overflow
         * is survivable (ENOBUFS: refresh everything), just wasteful. Past
         * rmem_max only with CAP_NET_ADMIN: best effort. */
        fd = mnl_socket_get_fd(w->nl);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        *out = w;
        return 0;

err_close:
        mnl_socket_close(w->nl);
err_free:
        free(w);
        return err;
}

void nh_watch__free(struct nh_watch *w)
{
        if (!w)
                return;
        mnl_socket_close(w->nl);
        free(w);
}

int nh_watch__fd(const struct nh_watch *w)
{
        return mnl_socket_get_fd(w->nl);
}

static bool neigh__relevant(const struct nlmsghdr *nlh, const struct nh_table *interest)
{
        const struct nlattr *tb[NDA_MAX + 1] = {0};
        const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
        struct ip_addr a;

        if (attrs__parse(nlh, sizeof(*ndm), tb, NDA_MAX))
                return true; /* cannot tell: refreshing is the safe side */
        /* AF_BRIDGE: the forwarding database, not ARP/ND */
        if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6)
                return false;
        if (!interest)
                return true;
        if (!tb[NDA_DST] || addr__from_raw(&a, ndm->ndm_family, mnl_attr_get_payload(tb[NDA_DST]),
                                           mnl_attr_get_payload_len(tb[NDA_DST])))
                return true;
        for (size_t i = 0; i < interest->n; i++) {
                const struct nh_entry *e = &interest->e[i];

                if (e->state != NH_NO_ROUTE && e->ifindex == ndm->ndm_ifindex &&
                    ip_addr__equal(&e->via, &a))
                        return true;
        }
        return false;
}

static bool msg__relevant(const struct nlmsghdr *nlh, const struct nh_table *interest)
{
        switch (nlh->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
        case RTM_NEWROUTE:
        case RTM_DELROUTE: return true;
        case RTM_NEWNEIGH:
        case RTM_DELNEIGH: return neigh__relevant(nlh, interest);
        default: return false;
        }
}

int nh_watch__drain(struct nh_watch *w, const struct nh_table *interest)
{
        int count = 0;

        for (int reads = 0; reads < WATCH_MAX_READS; reads++) {
                ssize_t n = mnl_socket_recvfrom(w->nl, w->buf, sizeof(w->buf));
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)w->buf;
                int len;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        /* ENOBUFS: notifications were dropped; ENOSPC: one was
                         * cut short (libmnl's MSG_TRUNC). Unknown change. */
                        if (errno == ENOBUFS || errno == ENOSPC) {
                                count += count < INT_MAX;
                                continue;
                        }
                        return -errno;
                }
                for (len = (int)n; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
                        if (msg__relevant(nlh, interest))
                                count += count < INT_MAX;
        }
        return count;
}
