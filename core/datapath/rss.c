/*
 * RSS configuration (ethtool ioctl), the Toeplitz hash and the per-worker
 * source port picker (see rss.h).
 *
 * Owns the struct rss memory. Only rss__read makes system calls, and only
 * reads (ETHTOOL_G*): the NIC's configuration belongs to the operator.
 * rss__pick_port runs in the workers: no allocation, no system call, no lock,
 * bounded work.
 */
#include "core/datapath/rss.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>

/*
 * Hash function bits of struct ethtool_rxfh.hfunc. The kernel defines them in
 * include/linux/ethtool.h (ETH_RSS_HASH_TOP_BIT = 0, XOR = 1, CRC32 = 2),
 * which older UAPI headers do not export; the values are ABI.
 */
#ifndef ETH_RSS_HASH_TOP
#define ETH_RSS_HASH_TOP (1u << 0)
#endif
#ifndef ETH_RSS_HASH_XOR
#define ETH_RSS_HASH_XOR (1u << 1)
#endif
#ifndef ETH_RSS_HASH_CRC32
#define ETH_RSS_HASH_CRC32 (1u << 2)
#endif

/*
 * What the NIC must hash for TCP for our Toeplitz input to be its input
 * (linux/ethtool.h RXH_*; RXH_DISCARD spelled out: the header's 1 << 31
 * overflows int).
 */
#define RSS_TCP_FIELDS  (RXH_IP_SRC | RXH_IP_DST | RXH_L4_B_0_1 | RXH_L4_B_2_3)
#define RSS_RXH_DISCARD (UINT64_C(1) << 31)

/*
 * Offset of our port (the received segment's destination port) in the
 * Toeplitz input, per family: after two addresses and the source port.
 */
static const uint32_t port_off[2] = {4 + 4 + 2, 16 + 16 + 2};

uint32_t rss__toeplitz(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len)
{
        uint32_t hash = 0, win = 0;

        /* win holds the 32 key bits that start at the current input bit. */
        for (size_t i = 0; i < 4; i++)
                win = win << 8 | (i < keylen ? key[i] : 0);
        for (size_t i = 0; i < len; i++) {
                uint8_t in = i + 4 < keylen ? key[i + 4] : 0; /* key bits to shift in */

                for (int b = 7; b >= 0; b--) {
                        if (data[i] >> b & 1)
                                hash ^= win;
                        win = win << 1 | (uint32_t)(in >> b & 1);
                }
        }
        return hash;
}

size_t rss__tuple(uint8_t out[RSS_TUPLE_MAX], uint8_t family, const uint8_t *saddr,
                  const uint8_t *daddr, uint16_t sport, uint16_t dport)
{
        size_t alen;

        if (family == 4)
                alen = 4;
        else if (family == 6)
                alen = 16;
        else
                return 0;
        memcpy(out, saddr, alen);
        memcpy(out + alen, daddr, alen);
        out[2 * alen] = (uint8_t)(sport >> 8);
        out[2 * alen + 1] = (uint8_t)sport;
        out[2 * alen + 2] = (uint8_t)(dport >> 8);
        out[2 * alen + 3] = (uint8_t)dport;
        return 2 * alen + 4;
}

int rss__new(struct rss **out, const struct rss_config *cfg)
{
        uint8_t zero[RSS_TUPLE_MAX] = {0};
        uint32_t nq = cfg->nqueues, max = 0;
        struct rss *r;

        *out = NULL;
        if (!cfg->key || cfg->key_size == 0 || cfg->key_size > RSS_KEY_MAX || !cfg->indir ||
            cfg->indir_size == 0 || cfg->indir_size > RSS_INDIR_MAX)
                return -EINVAL;
        for (uint32_t i = 0; i < cfg->indir_size; i++)
                if (cfg->indir[i] > max)
                        max = cfg->indir[i];
        if (nq == 0)
                nq = max + 1;
        else if (max >= nq)
                return -EINVAL;

        r = calloc(1, sizeof(*r) + (size_t)cfg->indir_size * sizeof(r->indir[0]));
        if (!r)
                return -ENOMEM;
        r->nqueues = nq;
        r->key_size = cfg->key_size;
        r->indir_size = cfg->indir_size;
        memcpy(r->key, cfg->key, cfg->key_size);
        memcpy(r->indir, cfg->indir, (size_t)cfg->indir_size * sizeof(r->indir[0]));
        /*
         * An input of len bytes uses key bits up to 8 * len + 31. What a NIC
         * does past a short key is not ours to guess: such a family does not
         * steer.
         */
        r->steer_v4 = cfg->ports_v4 && cfg->key_size >= 12 + 4;
        r->steer_v6 = cfg->ports_v6 && cfg->key_size >= 36 + 4;

        /* By linearity, the port's share is the hash of an input that is zero but for it. */
        for (int v6 = 0; v6 < 2; v6++) {
                size_t len = port_off[v6] + 2;

                for (int byte = 0; byte < 2; byte++) {
                        for (uint32_t v = 0; v < 256; v++) {
                                zero[port_off[v6] + byte] = (uint8_t)v;
                                r->port_hash[v6][byte][v] =
                                    rss__toeplitz(r->key, r->key_size, zero, len);
                        }
                        zero[port_off[v6] + byte] = 0;
                }
        }
        *out = r;
        return 0;
}

void rss__free(struct rss *r)
{
        free(r);
}

/* The hash of the leg's return packets with our port zeroed. */
static uint32_t leg_base(const struct rss *r, const struct rss_leg *leg)
{
        uint8_t in[RSS_TUPLE_MAX];
        size_t len = rss__tuple(in, leg->family, leg->broker, leg->local, leg->broker_port, 0);

        return rss__toeplitz(r->key, r->key_size, in, len);
}

static inline uint32_t port_share(const struct rss *r, int v6, uint32_t port)
{
        return r->port_hash[v6][0][port >> 8] ^ r->port_hash[v6][1][port & 0xff];
}

uint32_t rss__leg_hash(const struct rss *r, const struct rss_leg *leg, uint16_t port)
{
        if (leg->family != 4 && leg->family != 6)
                return 0;
        return leg_base(r, leg) ^ port_share(r, leg->family == 6, port);
}

int rss_picker__init(struct rss_picker *p, const struct rss *rss, uint32_t worker,
                     uint32_t nworkers, uint32_t queue, uint16_t lo, uint16_t hi, uint32_t seed)
{
        uint32_t first;
        bool found = false;

        if (nworkers == 0 || nworkers > 65535 || worker >= nworkers || lo == 0 || lo > hi)
                return -EINVAL;
        first = lo + (worker + nworkers - lo % nworkers) % nworkers;
        if (first > hi)
                return -EINVAL;
        if (rss) {
                for (uint32_t i = 0; i < rss->indir_size && !found; i++)
                        found = rss->indir[i] == queue;
                if (!found)
                        return -ENOENT;
        }
        p->rss = rss;
        p->worker = worker;
        p->nworkers = nworkers;
        p->queue = queue;
        p->first = first;
        p->ncand = (hi - first) / nworkers + 1;
        p->next = seed % p->ncand;
        return 0;
}

int rss__pick_port(struct rss_picker *p, const struct rss_leg *leg,
                   bool (*in_use)(void *ctx, uint16_t port), void *ctx, uint16_t *port)
{
        const struct rss *r = p->rss;
        bool steer = rss_picker__steers(p, leg->family);
        int v6 = leg->family == 6;
        uint32_t base = 0, c = p->next;

        if (leg->family != 4 && leg->family != 6)
                return -EINVAL;
        if (steer)
                base = leg_base(r, leg);
        /* One pass over the candidates at most, starting at the cursor. */
        for (uint32_t n = 0; n < p->ncand; n++) {
                uint32_t cand = p->first + c * p->nworkers;

                if (++c == p->ncand)
                        c = 0;
                if (steer && rss__queue(r, base ^ port_share(r, v6, cand)) != p->queue)
                        continue;
                if (in_use && in_use(ctx, (uint16_t)cand))
                        continue;
                p->next = c;
                *port = (uint16_t)cand;
                return 0;
        }
        return -EADDRNOTAVAIL;
}

/* Appends "; "-separated text to err. */
__attribute__((format(printf, 3, 4))) static void note(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
        size_t used;
        va_list ap;

        if (!err || errlen == 0)
                return;
        used = strnlen(err, errlen);
        if (used + 3 >= errlen)
                return;
        if (used) {
                memcpy(err + used, "; ", 3);
                used += 2;
        }
        va_start(ap, fmt);
        vsnprintf(err + used, errlen - used, fmt, ap);
        va_end(ap);
}

static int ethtool_ioctl(int fd, const char *ifname, void *cmd)
{
        struct ifreq ifr;

        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
        ifr.ifr_data = cmd;
        return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

static const char *hfunc_name(uint32_t hfunc)
{
        switch (hfunc) {
        case 0: return "not reported";
        case ETH_RSS_HASH_XOR: return "xor";
        case ETH_RSS_HASH_CRC32: return "crc32";
        default: return "unknown";
        }
}

/*
 * Whether choosing the port steers TCP over one family: the NIC must hash
 * exactly the 4-tuple (ETHTOOL_GRXFH). Notes why not into err.
 */
static bool ports_hashed(int fd, const char *ifname, uint32_t flow, const char *what, char *err,
                         size_t errlen)
{
        struct ethtool_rxnfc nfc;
        uint64_t fields;
        int rc;

        memset(&nfc, 0, sizeof(nfc));
        nfc.cmd = ETHTOOL_GRXFH;
        nfc.flow_type = flow;
        rc = ethtool_ioctl(fd, ifname, &nfc);
        if (rc < 0) {
                note(err, errlen,
                     "%s: cannot tell which fields the NIC hashes for %s (ETHTOOL_GRXFH: %s): "
                     "source ports will only encode the owning worker for %s",
                     ifname, what, strerror(-rc), what);
                return false;
        }
        fields = nfc.data & ~RSS_RXH_DISCARD;
        if (nfc.data & RSS_RXH_DISCARD) {
                note(err, errlen, "%s: the NIC discards %s (RXH_DISCARD)", ifname, what);
                return false;
        }
        if (fields == RSS_TCP_FIELDS)
                return true;
        if ((fields & (RXH_L4_B_0_1 | RXH_L4_B_2_3)) != (RXH_L4_B_0_1 | RXH_L4_B_2_3))
                note(err, errlen,
                     "%s: the RSS hash for %s leaves out the TCP ports (fields 0x%llx): choosing "
                     "the source port cannot steer, it will only encode the owning worker",
                     ifname, what, (unsigned long long)fields);
        else
                note(err, errlen,
                     "%s: the RSS hash for %s covers fields 0x%llx, not just addresses and "
                     "ports (0x%x): source ports will only encode the owning worker",
                     ifname, what, (unsigned long long)fields, RSS_TCP_FIELDS);
        return false;
}

/* RX queues: combined + rx channels, or what the table names when unknown. */
static uint32_t rx_queues(int fd, const char *ifname)
{
        struct ethtool_channels ch;

        memset(&ch, 0, sizeof(ch));
        ch.cmd = ETHTOOL_GCHANNELS;
        if (ethtool_ioctl(fd, ifname, &ch) < 0)
                return 0;
        return ch.combined_count + ch.rx_count;
}

int rss__read(const char *ifname, struct rss **out, char *err, size_t errlen)
{
        struct ethtool_rxfh sizes, *rx = NULL;
        struct rss_config cfg = {0};
        uint32_t hfunc, xfrm, max = 0;
        int fd, rc;

        *out = NULL;
        if (err && errlen)
                err[0] = '\0';
        if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ) {
                note(err, errlen, "\"%s\": not an interface name", ifname ? ifname : "(null)");
                return -EINVAL;
        }
        /* Any socket carries SIOCETHTOOL; IPv4 may be compiled out, AF_UNIX is not. */
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                rc = -errno;
                note(err, errlen, "%s: socket for the ethtool ioctl: %s", ifname, strerror(-rc));
                return rc;
        }

        /* First call with zero sizes: the driver reports its sizes only. */
        memset(&sizes, 0, sizeof(sizes));
        sizes.cmd = ETHTOOL_GRSSH;
        rc = ethtool_ioctl(fd, ifname, &sizes);
        if (rc == -ENODEV) {
                note(err, errlen, "%s: no such interface", ifname);
                goto out_close;
        }
        if (rc < 0) {
                note(err, errlen,
                     "%s: cannot read the RSS key and indirection table (ETHTOOL_GRSSH: %s): "
                     "source ports will only encode the owning worker",
                     ifname, strerror(-rc));
                goto out_close;
        }
        if (sizes.key_size == 0 || sizes.indir_size == 0) {
                rc = -EOPNOTSUPP;
                note(err, errlen,
                     "%s: the driver reports no RSS %s: source ports will only encode the "
                     "owning worker",
                     ifname, sizes.key_size == 0 ? "key" : "indirection table");
                goto out_close;
        }
        if (sizes.key_size > RSS_KEY_MAX || sizes.indir_size > RSS_INDIR_MAX) {
                rc = -EOPNOTSUPP;
                note(err, errlen, "%s: RSS key of %u bytes or table of %u entries is too large",
                     ifname, sizes.key_size, sizes.indir_size);
                goto out_close;
        }

        rx = calloc(1, sizeof(*rx) + (size_t)sizes.indir_size * sizeof(rx->rss_config[0]) +
                           sizes.key_size);
        if (!rx) {
                rc = -ENOMEM;
                note(err, errlen, "%s: out of memory", ifname);
                goto out_close;
        }
        rx->cmd = ETHTOOL_GRSSH;
        rx->indir_size = sizes.indir_size;
        rx->key_size = sizes.key_size;
        rc = ethtool_ioctl(fd, ifname, rx);
        if (rc < 0) {
                note(err, errlen, "%s: ETHTOOL_GRSSH: %s", ifname, strerror(-rc));
                goto out_free;
        }
        if (rx->indir_size != sizes.indir_size || rx->key_size != sizes.key_size) {
                rc = -EAGAIN; /* reconfigured between the two calls */
                note(err, errlen, "%s: the RSS configuration changed while being read", ifname);
                goto out_free;
        }

        hfunc = rx->hfunc;
        /*
         * The byte after hfunc is input_xfrm since Linux 6.8 (reserved and
         * zero before): RXH_XFRM_SYM_XOR and friends fold source and
         * destination together before hashing, so our input would not be the
         * NIC's. Read by offset so that old and new headers agree.
         */
        xfrm = ((const uint8_t *)rx)[offsetof(struct ethtool_rxfh, hfunc) + 1];
        if (hfunc != ETH_RSS_HASH_TOP) {
                rc = -EOPNOTSUPP;
                note(err, errlen,
                     "%s: the RSS hash function is %s (0x%x), not Toeplitz: source ports will "
                     "only encode the owning worker",
                     ifname, hfunc_name(hfunc), hfunc);
                goto out_free;
        }
        if (xfrm) {
                rc = -EOPNOTSUPP;
                note(err, errlen,
                     "%s: the RSS input is transformed (input_xfrm 0x%x, symmetric hashing): "
                     "source ports will only encode the owning worker",
                     ifname, xfrm);
                goto out_free;
        }

        cfg.indir = rx->rss_config;
        cfg.indir_size = rx->indir_size;
        cfg.key = (const uint8_t *)(rx->rss_config + rx->indir_size);
        cfg.key_size = rx->key_size;
        for (uint32_t i = 0; i < cfg.indir_size; i++)
                if (cfg.indir[i] > max)
                        max = cfg.indir[i];
        cfg.nqueues = rx_queues(fd, ifname);
        if (cfg.nqueues <= max)
                cfg.nqueues = max + 1;
        cfg.ports_v4 = ports_hashed(fd, ifname, TCP_V4_FLOW, "TCP/IPv4", err, errlen);
        cfg.ports_v6 = ports_hashed(fd, ifname, TCP_V6_FLOW, "TCP/IPv6", err, errlen);
        rc = rss__new(out, &cfg);
        if (rc < 0) {
                note(err, errlen, "%s: %s", ifname, strerror(-rc));
                goto out_free;
        }
        if (cfg.ports_v4 && !(*out)->steer_v4)
                note(err, errlen, "%s: RSS key of %u bytes is too short for TCP/IPv4", ifname,
                     cfg.key_size);
        if (cfg.ports_v6 && !(*out)->steer_v6)
                note(err, errlen, "%s: RSS key of %u bytes is too short for TCP/IPv6", ifname,
                     cfg.key_size);
out_free:
        free(rx);
out_close:
        close(fd);
        return rc;
}
