/*
 * The XDP redirector on one interface, from userspace: loads bpf/redirect.bpf.c
 * through libxdp (so it coexists with other XDP programs), fills its maps
 * (listeners, source addresses, one AF_XDP socket per RX queue), reads its
 * counters, and detaches it again. One instance of mqttlb per interface: a
 * lock taken before attaching tells a second instance who holds the
 * interface, and a program left behind by an instance that was killed is
 * recognised by name and replaced.
 */
#ifndef MQTTLB_CORE_REDIRECTOR_H
#define MQTTLB_CORE_REDIRECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/lb_shared.h"

enum redirector_mode {
        REDIRECTOR_AUTO = 0, /* native (driver) XDP, else generic (skb) */
        REDIRECTOR_NATIVE,
        REDIRECTOR_GENERIC,
};

struct redirector;

/*
 * Attaches the redirector to ifname. On failure returns -errno and a message
 * that names the interface and the problem in err (EBUSY: another mqttlb
 * holds the interface; EEXIST: a foreign XDP program that libxdp cannot chain
 * with is attached).
 */
int redirector__attach(struct redirector **out, const char *ifname, enum redirector_mode mode,
                       bool ipv6, char *err, size_t errlen);
/* Detaches the program, closes its maps and releases the interface. */
void redirector__detach(struct redirector *r);

/* A listener: k->proto must be IPPROTO_TCP or IPPROTO_UDP (else -EINVAL). */
int redirector__add_listener(struct redirector *r, const struct lb_listener_key *k, uint32_t id);
int redirector__add_source(struct redirector *r, const struct lb_source_key *k, uint16_t port_lo,
                           uint16_t port_hi);
/* Frames of RX queue `queue` to the AF_XDP socket xsk_fd (-1: remove). */
int redirector__set_xsk(struct redirector *r, uint32_t queue, int xsk_fd);
/* SYNs to a listener each CPU passes per second (0: no limit) and the burst
 * it lets through at once; the rest are dropped (drop_syn_rate). Takes
 * effect at once, also while frames flow. */
int redirector__set_syn_limit(struct redirector *r, uint32_t rate, uint32_t burst);
/* SYNs to a listener each client address passes per second, over all CPUs
 * (connections.per_source_rate; 0: no limit), the burst it lets through at
 * once (0: `rate`), and the prefix length IPv6 addresses are counted by; the
 * rest are dropped (drop_source_rate). Each interface's redirector counts
 * apart (its own client_tat). Takes effect at once. */
int redirector__set_client_limit(struct redirector *r, uint32_t rate, uint32_t burst,
                                 uint32_t prefix6);
/* Sums each counter over the CPUs into out[LB_CNT__MAX]. */
int redirector__counters(const struct redirector *r, uint64_t *out);
/* Whether the program runs in the driver (native) or generic mode. */
bool redirector__native(const struct redirector *r);

#endif
