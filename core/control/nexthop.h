/*
 * Next hops from the kernel's route and neighbour tables: for a destination
 * address, the egress interface, its MAC (the source of the frames we send)
 * and the MAC of the next hop (the gateway when the route has one, else the
 * destination itself), so that workers can write Ethernet headers for frames
 * that bypass the kernel's stack (AF_XDP).
 *
 * Owns two netlink sockets (libmnl): the resolver's, which asks questions
 * (RTM_GETROUTE, RTM_GETNEIGH, RTM_GETLINK) and starts neighbour resolution
 * (RTM_NEWNEIGH with NTF_USE), and the watch's, which only listens for
 * changes. Both belong to the control thread. Owns the snapshot tables too:
 * immutable once built, so workers may read one without locks while the
 * control thread builds the next; publishing a table (RCU) and deciding when
 * it may be freed is the caller's business. Never modifies routes, never
 * sends a packet itself (the kernel sends the ARP/ND probes), never prints.
 */
#ifndef MQTTLB_CORE_NEXTHOP_H
#define MQTTLB_CORE_NEXTHOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/util/netaddr.h"

#define NH_TABLE_MAX (1u << 20) /* destinations in one table */

enum nh_state {
        NH_RESOLVED,   /* ifindex, src_mac, dst_mac and via are valid */
        NH_INCOMPLETE, /* route known, neighbour not (yet): the kernel is probing */
        NH_NO_ROUTE,   /* no unicast route: none, unreachable, blackhole, prohibit, or local */
        NH_FAILED,     /* route known, frames cannot be addressed: see nh_resolver__resolve */
};

struct nh_entry {
        struct ip_addr dst;
        enum nh_state state;
        int ifindex;        /* egress interface; 0 with NH_NO_ROUTE */
        uint8_t src_mac[6]; /* the egress interface's address */
        uint8_t dst_mac[6]; /* the next hop's; zero unless NH_RESOLVED */
        struct ip_addr via; /* the gateway, or dst when directly connected */
};

struct nh_resolver;
struct nh_table;
struct nh_watch;

/* "resolved", "incomplete", "no route", "failed", or "?" for anything else. */
const char *nh_state__str(enum nh_state s);

/*
 * A netlink (NETLINK_ROUTE) socket for lookups, in the network namespace of
 * the calling thread. -errno when the socket cannot be opened, -ENOMEM.
 */
int nh_resolver__new(struct nh_resolver **out);
void nh_resolver__free(struct nh_resolver *r);

/*
 * The next hop for dst, as the kernel would send a packet from this host to
 * it (`ip route get`: policy rules, then the route, with no source address,
 * mark or interface given; of a multipath route, the path the kernel picks
 * for that lookup). Three round trips: the route, the egress interface, the
 * neighbour entry. The state says what was found:
 *
 * - NH_RESOLVED: the neighbour entry holds a link-layer address. A STALE
 *   entry counts (RFC 4861 §7.3.3: the cached address is used while it is
 *   verified), but since our frames never pass through the kernel, nothing
 *   else would start that verification: resolve() asks the kernel to, as if
 *   a packet had been sent.
 * - NH_INCOMPLETE: no entry, or one the kernel is still resolving. For a
 *   missing entry resolve() asks the kernel to resolve it (RTM_NEWNEIGH with
 *   NTF_USE: the kernel creates the entry and sends the ARP request or
 *   neighbour solicitation itself); the caller learns of the answer through
 *   nh_watch and resolves again.
 * - NH_FAILED: the kernel's last attempt got no answer (NUD_FAILED; a new one
 *   is started, so a later call may say NH_INCOMPLETE again), the egress
 *   interface has no Ethernet address (loopback, tunnels), or the kernel
 *   refused to resolve the neighbour.
 * - NH_NO_ROUTE: no route, an unreachable, blackhole or prohibit route, or a
 *   route that is not unicast (dst is one of our own addresses, broadcast).
 *
 * out->dst is dst in every case. Returns 0 with the state set, -EINVAL for a
 * bad dst (family other than 4 or 6; IPv4 with non-zero trailing bytes),
 * -ETIMEDOUT when the kernel does not answer within seconds, other -errno
 * from the socket.
 */
int nh_resolver__resolve(struct nh_resolver *r, const struct ip_addr *dst, struct nh_entry *out);

/*
 * Resolves n destinations into a new table (duplicates collapse into one
 * entry). A destination that cannot be used is still in the table, with its
 * state. -EINVAL for a bad destination, -E2BIG past NH_TABLE_MAX, -ENOMEM,
 * or the first -errno from nh_resolver__resolve: then no table is made and
 * the caller keeps publishing the one it has.
 */
int nh_table__build(struct nh_resolver *r, const struct ip_addr *dsts, size_t n,
                    struct nh_table **out);
void nh_table__free(struct nh_table *t);

/* The entry for dst, or NULL when dst is not in the table. O(log n), no writes. */
const struct nh_entry *nh_table__lookup(const struct nh_table *t, const struct ip_addr *dst);

/* The entries in address order (IPv4 first), for logs and statistics. */
size_t nh_table__size(const struct nh_table *t);
const struct nh_entry *nh_table__at(const struct nh_table *t, size_t i);

/*
 * A second netlink socket, subscribed to neighbour, IPv4 and IPv6 route and
 * link notifications, non-blocking. -errno when it cannot be opened, -ENOMEM.
 */
int nh_watch__new(struct nh_watch **out);
void nh_watch__free(struct nh_watch *w);

/* Readable (POLLIN) when notifications are waiting: poll it, then drain. */
int nh_watch__fd(const struct nh_watch *w);

/*
 * Reads the waiting notifications (at most a few hundred reads per call, so
 * a storm cannot hold the control loop; the fd then stays readable) and
 * returns how many were relevant: any
 * route or link change, and neighbour changes (IPv4 and IPv6, not bridge
 * FDB) for a next hop of interest, or for any next hop when interest is
 * NULL. When the kernel dropped notifications because the socket's buffer
 * was full (ENOBUFS), what was lost cannot be known: that counts as one
 * relevant message. A result > 0 means: build a new table. -errno on other
 * socket errors.
 */
int nh_watch__drain(struct nh_watch *w, const struct nh_table *interest);

#endif
