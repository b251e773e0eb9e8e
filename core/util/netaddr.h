/*
 * Addresses as operators write them: "10.0.0.1", "10.0.0.1:1883",
 * "fd00::1", "[fd00::1]:1883", and MAC addresses "02:00:00:00:00:01". Used by
 * the command line and the configuration; never on the packet path.
 */
#ifndef MQTTLB_CORE_NETADDR_H
#define MQTTLB_CORE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* An IPv4 or IPv6 address: the one address type of the tree (next hops,
 * brokers, sources, listeners; struct net_addr adds a port to it as
 * operators write them). */
struct ip_addr {
        uint8_t family;   /* 4 or 6 */
        uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes, the rest zero */
};

#define IP_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN: the longest ip_addr__format result */

/* Parses IPv4 dotted-quad or IPv6 text (RFC 4291 §2.2), no port. -EINVAL when it is neither. */
int ip_addr__parse(struct ip_addr *a, const char *s);
/* Formats a into buf (RFC 5952 for IPv6; IP_ADDR_STRLEN bytes suffice), returns buf. */
const char *ip_addr__format(const struct ip_addr *a, char *buf, size_t len);

static inline bool ip_addr__equal(const struct ip_addr *a, const struct ip_addr *b)
{
        return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* An address and a port, as operators write them ("ADDR:PORT"). */
struct net_addr {
        struct ip_addr ip;
        uint16_t port; /* host order; 0 when not given */
};

/* Parses s; port_required: "ADDR:PORT" (or "[ADDR]:PORT"), else the port is
 * optional. Returns 0 or -EINVAL with the reason in why (a static string). */
int net_addr__parse(const char *s, bool port_required, struct net_addr *out, const char **why);
/* "10.0.0.1:1883" / "[fd00::1]:1883" (no port when 0); returns buf. */
char *net_addr__str(const struct net_addr *a, char *buf, size_t len);
/* The same for a raw address (4 or 16 bytes) and port, as headers have them. */
char *net_addr__str_of(uint8_t family, const uint8_t *addr, uint16_t port, char *buf, size_t len);
int mac__parse(const char *s, uint8_t mac[6]);
/* "a-b" or "a" into [lo, hi] with 1 <= lo <= hi <= 65535. */
int port_range__parse(const char *s, uint16_t *lo, uint16_t *hi);

#endif
