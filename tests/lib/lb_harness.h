/*
 * The offline harness of the balancer, shared by the splice tests, the
 * deterministic simulation, the packet-path fuzz target and test_stats: the
 * real worker loop (core/datapath/worker.c) and balancer (core/lb/ files) over one memory
 * port (xsk/mem_port.h) on a virtual clock, one-armed (client and broker
 * legs through port 0; the next hop of every broker is port 0 with
 * LBH_BROKER_MAC).
 *
 * A test opens it with a YAML configuration, injects Ethernet frames
 * (lbh__inject, or lbh__send for a segment described field by field), runs
 * the worker at a virtual time (lbh__run: rounds until no frame moves) and
 * reads what the balancer sent (h->out, copies, parsed; lbh__clear empties
 * it). lbh__close closes every connection as a shutdown would and returns
 * how many UMEM frames were not back in the pool: 0 when the frame ledger
 * balances.
 *
 * Test-only: nothing here is part of the product.
 */
#ifndef MQTTLB_TESTS_LB_HARNESS_H
#define MQTTLB_TESTS_LB_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lb/lb.h"
#include "core/tcp/tcp_out.h"
#include "core/datapath/worker.h"
#include "xsk/frame_pool.h"
#include "xsk/umem.h"

extern const uint8_t LBH_LB_MAC[6], LBH_CLIENT_MAC[6], LBH_BROKER_MAC[6];

#define LBH_OUT_MAX 4096 /* frames kept in h->out between two lbh__clear, by default */

/* One frame the balancer sent, parsed (host order). */
struct lbh_frame {
        uint8_t bytes[2048];
        uint32_t len;
        bool ok; /* Ethernet/IPv4-or-6/TCP with both checksums right */
        uint8_t family;
        uint8_t saddr[16], daddr[16];
        uint16_t sport, dport;
        uint32_t seq, ack;
        uint16_t win; /* as on the wire (not scaled) */
        uint8_t flags;
        uint8_t nsack;
        struct tcp_sack_block sack[TCP_OUT_SACK_MAX];
        struct tcp_syn_opts syn; /* of a SYN */
        const uint8_t *payload;  /* into bytes */
        uint32_t plen;
        uint32_t wire_len; /* the frame's length as sent (len: what bytes holds of it) */
};

struct lbh_cfg {
        const char *yaml;     /* the configuration (required) */
        uint64_t seed;        /* the balancer's seed; 0: a fixed one (runs repeat) */
        uint32_t frames;      /* UMEM frames; 0: 4096 */
        lb_report_fn *report; /* optional: each connection as it ends */
        void *report_ctx;
        bool keep_topics;
        uint32_t out_max;  /* frames h->out keeps between two lbh__clear; 0: LBH_OUT_MAX */
        uint32_t nworkers; /* the balancer's workers (lb_cfg.nworkers); 0: 1. The harness
                              runs worker 0 of them only, which takes every frame: this
                              sets the balancer's share-outs (the connect window, the
                              broker-leg ports worker 0 picks) as one of that many */
};

struct lbh {
        struct umem_area umem;
        struct frame_pool *pool;
        struct frame_cache cache;
        struct port *port;
        struct worker w;
        struct lb *lb;
        struct lb_worker *lw;
        struct worker_source src[WORKER_SOURCES_MAX];
        atomic_bool stop;
        uint64_t now_ns;
        uint32_t frames;
        uint32_t nout, out_max;
        struct lbh_frame *out; /* out_max of them */
        uint64_t out_lost;     /* frames sent while out was full */
};

/* 0, or -1 with a message in err (configuration, or resources). */
int lbh__open(struct lbh **out, const struct lbh_cfg *cfg, char *err, size_t errlen);
/* Closes every connection (lb_worker__close_all), collects the last frames,
 * frees everything; returns the UMEM frames not back in the pool (0: the
 * ledger balances). */
uint32_t lbh__close(struct lbh *h);

/* Queues a frame for the balancer's RX; 0 or -errno (mem_port__inject). */
int lbh__inject(struct lbh *h, const void *frame, uint32_t len);
/* Sets the clock to now_ns (never backwards) and runs worker rounds until a
 * round takes no frame in; appends what was sent to h->out. Returns the
 * number of frames sent. */
uint32_t lbh__run(struct lbh *h, uint64_t now_ns);
void lbh__clear(struct lbh *h);
/* The balancer's counters now. */
void lbh__stats(const struct lbh *h, struct lb_stats *s);
/* Connections the balancer holds. */
uint32_t lbh__connections(const struct lbh *h);

/* A TCP endpoint's address, for lbh__send. */
struct lbh_peer {
        uint8_t family;
        uint8_t addr[16], to[16];
        uint16_t port, to_port;
        const uint8_t *mac, *to_mac; /* NULL: LBH_CLIENT_MAC and LBH_LB_MAC */
};

/* A segment from a peer, field by field. */
struct lbh_seg {
        uint8_t flags; /* TCP_OUT_* */
        uint32_t seq, ack;
        uint16_t win;                       /* as on the wire */
        const struct tcp_out_syn_opts *syn; /* options of a SYN (NULL: MSS 1460, WS 7, SACK) */
        const struct tcp_sack_block *sack;  /* SACK blocks (any segment) */
        unsigned nsack;
        const void *data;
        uint32_t len;
};

/* Builds the segment (checksums right) into buf; its length, or -errno. */
int lbh__build(uint8_t *buf, size_t cap, const struct lbh_peer *p, const struct lbh_seg *s);
/* Builds and injects it. 0 or -errno. */
int lbh__send(struct lbh *h, const struct lbh_peer *p, const struct lbh_seg *s);

/* Parses frame[0..len) into f (copied). false when it is not a TCP frame. */
bool lbh_frame__parse(struct lbh_frame *f, const uint8_t *frame, uint32_t len);

/* ---- UDP listeners (core/lb/lb_udp.c) ---- */

/* VLAN tags of a frame, outer first. */
struct lbh_vlans {
        uint8_t n; /* 0 to TCP_OUT_VLANS */
        uint16_t tpid[TCP_OUT_VLANS], tci[TCP_OUT_VLANS];
};

/* A UDP datagram from p->addr:p->port to p->to:p->to_port (MACs as
 * lbh__build), tagged with v (NULL: untagged), IPv4 header and UDP checksums
 * right, padded to the Ethernet minimum, into buf; its length, or -errno. */
int lbh__build_udp(uint8_t *buf, size_t cap, const struct lbh_peer *p, const struct lbh_vlans *v,
                   const void *data, uint32_t len);
/* Builds and injects it. 0 or -errno. */
int lbh__send_udp(struct lbh *h, const struct lbh_peer *p, const struct lbh_vlans *v,
                  const void *data, uint32_t len);

/* An ICMP destination unreachable (ICMPv4 type 3, ICMPv6 type 1) with code,
 * from p->addr to p->to (ports unused), quoting quote[0..qlen): the IP
 * header of the datagram it is about and what follows of it (RFC 792: the
 * header and 8 bytes at least). Checksums right; its length, or -errno. */
int lbh__build_icmp_unreach(uint8_t *buf, size_t cap, const struct lbh_peer *p, uint8_t code,
                            const void *quote, uint32_t qlen);
/* Builds and injects it. 0 or -errno. */
int lbh__send_icmp_unreach(struct lbh *h, const struct lbh_peer *p, uint8_t code, const void *quote,
                           uint32_t qlen);

/* A UDP datagram, parsed (host order; views into the frame parsed). */
struct lbh_udp {
        bool ok; /* lengths consistent, IPv4 header checksum right, UDP checksum
                    present (not 0) and right */
        uint8_t family;
        uint8_t dmac[6], smac[6];
        struct lbh_vlans vlans;
        uint8_t saddr[16], daddr[16];
        uint16_t sport, dport;
        uint32_t l3, l4;        /* offsets of the IP and UDP headers in the frame */
        const uint8_t *payload; /* into the frame */
        uint32_t plen;
};

/* Parses frame[0..len) into u; false when it is not an IP/UDP frame (up to
 * TCP_OUT_VLANS tags). */
bool lbh_udp__parse(struct lbh_udp *u, const uint8_t *frame, uint32_t len);

/* A plan built from yaml (to publish with lbh__set_plan); 0, or -1 with a
 * message in err. */
int lbh__plan(struct plan **out, const char *yaml, char *err, size_t errlen);
/* Publishes p (taken over) as the balancer's plan: lb__set_plan. */
int lbh__set_plan(struct lbh *h, struct plan *p);

#endif
