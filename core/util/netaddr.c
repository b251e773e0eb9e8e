/* Parsing and printing of addresses (netaddr.h). */
#include "core/util/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *port)
{
        char *end;
        unsigned long v;

        if (*s < '0' || *s > '9') /* strtoul would take blanks and a sign */
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v == 0 || v > 65535)
                return -EINVAL;
        *port = (uint16_t)v;
        return 0;
}

int net_addr__parse(const char *s, bool port_required, struct net_addr *out, const char **why)
{
        char host[INET6_ADDRSTRLEN + 2];
        const char *port = NULL, *colon = strrchr(s, ':');
        size_t hl;

        memset(out, 0, sizeof(*out));
        if (s[0] == '[') { /* [v6]:port */
                const char *close = strchr(s, ']');

                if (!close || (close[1] && close[1] != ':')) {
                        *why = "an IPv6 address with a port is written [ADDR]:PORT";
                        return -EINVAL;
                }
                hl = (size_t)(close - s - 1);
                if (hl >= sizeof(host)) {
                        *why = "not an IP address";
                        return -EINVAL;
                }
                memcpy(host, s + 1, hl);
                host[hl] = 0;
                port = close[1] ? close + 2 : NULL;
        } else if (colon && strchr(s, ':') == colon) { /* one colon: v4:port */
                hl = (size_t)(colon - s);
                if (hl >= sizeof(host)) {
                        *why = "not an IP address";
                        return -EINVAL;
                }
                memcpy(host, s, hl);
                host[hl] = 0;
                port = colon + 1;
        } else { /* v4 or bare v6 */
                if (strlen(s) >= sizeof(host)) {
                        *why = "not an IP address";
                        return -EINVAL;
                }
                strcpy(host, s);
        }
        if (inet_pton(AF_INET, host, out->ip.addr) == 1) {
                out->ip.family = 4;
        } else if (inet_pton(AF_INET6, host, out->ip.addr) == 1) {
                out->ip.family = 6;
        } else {
                *why = "not an IPv4 or IPv6 address";
                return -EINVAL;
        }
        if (port && parse_port(port, &out->port)) {
                *why = "the port is not a number from 1 to 65535";
                return -EINVAL;
        }
        if (port_required && !port) {
                *why = "a port is required (ADDR:PORT, [IPv6]:PORT)";
                return -EINVAL;
        }
        return 0;
}

char *net_addr__str(const struct net_addr *a, char *buf, size_t len)
{
        char host[INET6_ADDRSTRLEN];

        inet_ntop(a->ip.family == 4 ? AF_INET : AF_INET6, a->ip.addr, host, sizeof(host));
        if (!a->port)
                snprintf(buf, len, "%s", host);
        else if (a->ip.family == 4)
                snprintf(buf, len, "%s:%u", host, a->port);
        else
                snprintf(buf, len, "[%s]:%u", host, a->port);
        return buf;
}

int mac__parse(const char *s, uint8_t mac[6])
{
        unsigned v[6];
        char tail;

        /* sscanf's %x would take blanks, a sign and 0x */
        if (strspn(s, "0123456789abcdefABCDEF:") != strlen(s))
                return -EINVAL;
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &tail) != 6)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t)v[i];
        return 0;
}

int port_range__parse(const char *s, uint16_t *lo, uint16_t *hi)
{
        char buf[16];
        const char *dash = strchr(s, '-');

        if (!dash)
                return parse_port(s, lo) ? -EINVAL : (*hi = *lo, 0);
        if ((size_t)(dash - s) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, (size_t)(dash - s));
        buf[dash - s] = 0;
        if (parse_port(buf, lo) || parse_port(dash + 1, hi) || *lo > *hi)
                return -EINVAL;
        return 0;
}

int ip_addr__parse(struct ip_addr *a, const char *s)
{
        struct net_addr n;
        const char *why;

        memset(a, 0, sizeof(*a));
        /* one address parser for the project (netaddr.h); a next hop has no port */
        if (net_addr__parse(s, false, &n, &why) || n.port || s[0] == '[')
                return -EINVAL;
        *a = n.ip;
        return 0;
}

const char *ip_addr__format(const struct ip_addr *a, char *buf, size_t len)
{
        if (!len)
                return buf;
        if ((a->family != 4 && a->family != 6) ||
            !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, buf,
                       (socklen_t)(len > INT_MAX ? INT_MAX : len))) {
                buf[0] = '?';
                buf[len > 1] = '\0';
        }
        return buf;
}

char *net_addr__str_of(uint8_t family, const uint8_t *addr, uint16_t port, char *buf, size_t len)
{
        struct net_addr a = {.ip.family = family, .port = port};

        memcpy(a.ip.addr, addr, family == 4 ? 4 : 16);
        return net_addr__str(&a, buf, len);
}
