/*
 * RSS-aware source ports for the broker leg (the mTCP / Seastar technique;
 * DESIGN.md "Threads and ownership").
 *
 * Each worker owns one RX queue. When it opens a connection to a broker it
 * picks the source port so that the NIC's RSS (Toeplitz) hash of the broker's
 * return packets selects that same queue. Every port the picker returns also
 * satisfies port % nworkers == worker, so the owner can be read from the port
 * alone where RSS is unknown (veth, a NIC that hides its key) or was changed
 * under us; a packet that lands elsewhere is handed over (core/datapath/handover.h).
 *
 * Owns: reading an interface's RSS configuration (hash key, indirection
 * table, hash function, which TCP fields are hashed) through the ethtool
 * ioctl, the Toeplitz hash, and the per-worker port picker.
 * Must not: change the NIC's configuration (reads only), allocate, lock or
 * make a system call on the picking path, send anything, or print (messages
 * go into the caller's buffer).
 *
 * Addresses follow bpf/lb_shared.h: family is the IP version (4 or 6), an
 * address is in network byte order in the first 4 or all 16 bytes. Ports are
 * in host byte order.
 */
#ifndef MQTTLB_CORE_RSS_H
#define MQTTLB_CORE_RSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RSS_KEY_MAX   256u   /* bytes; NICs use 40 (the Microsoft size) to 52 */
#define RSS_INDIR_MAX 65536u /* indirection table entries; NICs use 64 to 2048 */
#define RSS_TUPLE_MAX 36u    /* IPv6: two addresses and two ports */

/*
 * An interface's RSS configuration. Read-only once built; workers share one.
 * Fields are public for the inline helpers and for diagnostics.
 */
struct rss {
        uint32_t nqueues;    /* RX queues of the interface */
        uint32_t key_size;   /* bytes in key */
        uint32_t indir_size; /* entries in indir */
        /*
         * The NIC hashes exactly source address, destination address, source
         * port and destination port for TCP over IPv4 (IPv6), and the key is
         * long enough for them: only then does the choice of port steer.
         */
        bool steer_v4;
        bool steer_v6;
        uint8_t key[RSS_KEY_MAX];
        /*
         * The hash is linear over GF(2): hash(tuple) = hash(tuple with our
         * port zeroed) ^ hash(our port alone). These are the second term per
         * byte of our port: [IPv6][high, low byte][byte value]. 4 KiB.
         */
        uint32_t port_hash[2][2][256];
        uint32_t indir[]; /* queue for hash % indir_size */
};

/* What rss__new builds from (rss__read fills it from the NIC; tests by hand). */
struct rss_config {
        const uint8_t *key;
        uint32_t key_size; /* 1 .. RSS_KEY_MAX */
        const uint32_t *indir;
        uint32_t indir_size; /* 1 .. RSS_INDIR_MAX */
        uint32_t nqueues;    /* 0: one more than the largest table entry */
        bool ports_v4;       /* TCP/IPv4 hashes addresses and ports (RXH_IP_* | RXH_L4_*) */
        bool ports_v6;       /* the same for TCP/IPv6 */
};

/*
 * Builds the configuration and the port tables. -EINVAL for sizes out of
 * range or a table entry >= nqueues, -ENOMEM.
 */
int rss__new(struct rss **out, const struct rss_config *cfg);
void rss__free(struct rss *r);

/*
 * Reads ifname's RSS configuration with the ethtool ioctl: ETHTOOL_GRSSH
 * (key, indirection table, hash function), ETHTOOL_GCHANNELS (queues) and
 * ETHTOOL_GRXFH for TCP_V4_FLOW and TCP_V6_FLOW (hashed fields).
 *
 * Returns 0 and *out when the key and table are readable and the hash is
 * plain Toeplitz. err is then empty, or says why ports cannot steer one or
 * both address families (the L4 ports are not hashed, other fields are, the
 * driver does not tell): the caller should log it; steer_v4 / steer_v6 say
 * the same to the picker.
 *
 * Otherwise returns -errno with a message naming the interface, and the
 * caller falls back to encoding the owner in the port alone:
 * -EOPNOTSUPP when the driver has no RSS key or table to give (veth and lo
 * fail ETHTOOL_GRSSH; virtio_net without the RSS feature reports a key of
 * zero bytes) or hashes with something other than Toeplitz (XOR, CRC32, a
 * symmetric input transform); -ENODEV for no such interface; -EPERM, -EINVAL, -ENOMEM.
 * Needs no privilege for the reads on current kernels.
 */
int rss__read(const char *ifname, struct rss **out, char *err, size_t errlen);

/*
 * The Toeplitz hash of data[0..len) under key (Microsoft, "RSS Hashing
 * Functions"): for each bit of the input, most significant bit of data[0]
 * first, when it is set XOR in the 32 bits of the key that start at that
 * bit's position. Key bits past keylen count as zero.
 */
uint32_t rss__toeplitz(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len);

/*
 * The Toeplitz input for a RECEIVED TCP segment: its source address, its
 * destination address, its source port, its destination port, in that order
 * and in network byte order (Microsoft, "RSS Hashing Functions": IPv4 with
 * TCP header: @12-15, @16-19, @20-21, @22-23; IPv6: @8-23, @24-39, @40-41,
 * @42-43). Returns the length (12 or 36), 0 for an unknown family.
 */
size_t rss__tuple(uint8_t out[RSS_TUPLE_MAX], uint8_t family, const uint8_t *saddr,
                  const uint8_t *daddr, uint16_t sport, uint16_t dport);

/* The RX queue a received segment with this hash lands on. */
static inline uint32_t rss__queue(const struct rss *r, uint32_t hash)
{
        /* NIC tables are powers of two, where % and the NIC's mask agree. */
        return r->indir[hash % r->indir_size];
}

/*
 * A broker leg as its RETURN packets carry it: they come from the broker
 * (broker:broker_port) to our source address (local) and the port we pick.
 */
struct rss_leg {
        uint8_t family;       /* 4 or 6 */
        uint8_t broker[16];   /* network byte order; IPv4 in the first 4 bytes */
        uint8_t local[16];    /* our source address, the same way */
        uint16_t broker_port; /* host byte order */
};

/*
 * The RSS hash of the leg's return packets when we use port, through the
 * precomputed port tables (what the picker computes). 0 for a bad family.
 */
uint32_t rss__leg_hash(const struct rss *r, const struct rss_leg *leg, uint16_t port);

/* The worker that owns a broker-leg port (the encoding every picked port has). */
static inline uint32_t rss__owner_of_port(uint16_t port, uint32_t nworkers)
{
        return port % nworkers;
}

/*
 * One worker's port picker: a cursor going round the worker's candidates in
 * [lo, hi] (the ports with port % nworkers == worker), nworkers apart.
 *
 * Per pick, with RSS: one Toeplitz hash of the leg with our port zeroed
 * (12 or 36 bytes), then per candidate two table loads, an XOR and a table
 * lookup; the caller's in_use is asked only about candidates that steer.
 * A fraction f = (entries for the worker's queue) / indir_size, about 1/Q
 * for Q queues, of candidates steer, so a pick looks at about 1/f
 * candidates (Q), or Q / (1 - u) when a share u of steering ports is in use.
 * Worst case (nothing free): one pass over the (hi - lo + 1) / nworkers
 * candidates, a few ns each, then -EADDRNOTAVAIL.
 *
 * Capacity: a leg (source address, broker address:port) has about
 * (hi - lo + 1) / (nworkers * Q) ports per worker when steering, and
 * (hi - lo + 1) / nworkers without RSS. More source addresses add more.
 */
struct rss_picker {
        const struct rss *rss; /* NULL: encode the owner only */
        uint32_t worker;
        uint32_t nworkers;
        uint32_t queue; /* the worker's RX queue */
        uint32_t first; /* lowest candidate */
        uint32_t ncand; /* candidates in [lo, hi] */
        uint32_t next;  /* cursor: index of the next candidate to try */
};

/*
 * rss may be NULL (no RSS information) and must outlive the picker. The
 * cursor starts at candidate seed % ncand: a random seed keeps a restarted
 * balancer from reusing the ports its previous run just closed.
 * -EINVAL when worker >= nworkers, nworkers is 0 or over 65535, lo is 0,
 * lo > hi or [lo, hi] holds no port for this worker; -ENOENT when the queue
 * appears nowhere in the indirection table (no port can steer to it: init
 * again with rss = NULL).
 */
int rss_picker__init(struct rss_picker *p, const struct rss *rss, uint32_t worker,
                     uint32_t nworkers, uint32_t queue, uint16_t lo, uint16_t hi, uint32_t seed);

/* Whether picks for this address family steer RSS (else they only encode the owner). */
static inline bool rss_picker__steers(const struct rss_picker *p, uint8_t family)
{
        if (!p->rss)
                return false;
        return family == 4 ? p->rss->steer_v4 : family == 6 && p->rss->steer_v6;
}

/*
 * The next usable port for leg: port % nworkers == worker always, and when
 * rss_picker__steers, return packets hashed onto the worker's queue.
 * in_use (may be NULL) is the caller's: a TCP connection is identified by
 * its pair of sockets (RFC 793 §2.7), so a port in use towards another broker or
 * from another source address is free here; the caller looks the 4-tuple
 * up in its flow table. The cursor moves past the port returned, so two
 * picks give two ports even before the first is marked in use. Scans the
 * candidates at most once: -EADDRNOTAVAIL when none is usable, -EINVAL for
 * a bad family. Returns 0 and *port.
 *
 * -EADDRNOTAVAIL can also mean no candidate steers for this leg at all: the
 * table index is a linear function of the port bits, and fixing the low
 * bits (port % nworkers, nworkers a power of two) can leave too few bits to
 * reach every table entry with a badly structured key (a repeating,
 * "symmetric" one). A caller that prefers a handed-over leg to no leg picks
 * again with a picker initialised with rss = NULL.
 */
int rss__pick_port(struct rss_picker *p, const struct rss_leg *leg,
                   bool (*in_use)(void *ctx, uint16_t port), void *ctx, uint16_t *port);

#endif
