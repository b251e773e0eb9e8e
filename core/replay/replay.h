/*
 * Offline replay (`mqttlb replay`, DESIGN.md "Tests: Replay"): the TCP
 * connections of a capture run through the balancer's own worker code
 * (core/lb/lb.h over a memory port, xsk/mem_port.h), on a virtual clock, with
 * the capture's clients and the pools' brokers emulated (core/replay/replay_peer.h).
 *
 * Two steps. replay_capture__read extracts the connections of a pcap: for
 * each client SYN, the client's options, its data segments exactly as
 * captured (retransmitted and reordered ones too), its reassembled stream
 * and the server's stream in chunks, each with how many client bytes the
 * server had acknowledged when it sent it. replay__run then plays them
 * against the balancer's workers and reports, per connection, what the balancer
 * reported and what the emulated broker received.
 *
 * Owns the capture and the results it returns. Never prints except through
 * the trace stream it is given; errors go to the caller's buffer.
 */
#ifndef MQTTLB_CORE_REPLAY_H
#define MQTTLB_CORE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/lb/lb.h"
#include "core/util/netaddr.h"
#include "core/config/plan.h"
#include "core/tcp/tcp_out.h"

/* A client segment as captured: where it goes in the stream (bytes after
 * the ISN + 1), its bytes and its flags. */
struct replay_seg {
        uint64_t t_ns; /* capture time */
        uint32_t off;  /* stream offset of its first byte */
        uint32_t len;  /* payload bytes */
        uint32_t data; /* its bytes: replay_conn.cdata + data */
        uint8_t flags; /* TCP flags as captured (FIN, RST, PSH, ...) */
};

/* A piece of the server's stream, sent once the server has received
 * client_acked bytes of the client's stream. */
struct replay_chunk {
        uint32_t off, len; /* into replay_conn.sstream */
        uint32_t client_acked;
};

struct replay_conn {
        uint8_t family; /* 4 or 6 */
        uint8_t caddr[16], saddr[16];
        uint16_t cport, sport;
        uint64_t syn_ns;  /* capture time of the (first) SYN */
        uint64_t last_ns; /* capture time of its last segment either way */
        uint32_t isn;     /* the client's */
        struct tcp_syn_opts syn;

        struct replay_seg *segs; /* client segments with data, FIN or RST, capture order */
        uint32_t nsegs;
        uint8_t *cdata; /* their bytes, concatenated */
        uint32_t cdata_len;

        uint8_t *stream;                      /* the client's stream, reassembled by offset */
        uint32_t stream_len;                  /* its contiguous prefix */
        bool stream_gap;                      /* bytes beyond a hole the capture never filled */
        bool fin, rst;                        /* the client ended with FIN / RST */
        uint32_t retransmitted, out_of_order; /* client data segments */

        uint8_t *sstream; /* the server's stream, reassembled */
        uint32_t sstream_len;
        struct replay_chunk *chunks;
        uint32_t nchunks;
        bool server_fin, server_rst;
};

struct replay_capture {
        char *path;
        struct replay_conn *conns; /* in the order of their SYNs */
        uint32_t nconns;
        uint64_t first_ns; /* capture time of the first packet */
        uint64_t last_ns;  /* of the last */
        uint64_t packets;  /* read */
        uint64_t ignored;  /* not TCP, truncated, or of a connection whose SYN is missing */
};

/* Reads path. -errno with "PATH: problem" in err (unreadable, not a pcap,
 * unsupported link type), -ENOMEM. */
int replay_capture__read(const char *path, struct replay_capture **out, char *err, size_t errlen);
void replay_capture__free(struct replay_capture *c);
/* One line per connection: addresses, options, segments, streams (`--list`). */
void replay_capture__list(const struct replay_capture *c, FILE *out);

#define REPLAY_ADDRS_MAX 64

struct replay_opts {
        const char *out_path; /* every frame the balancer sent, as pcap; NULL: none */
        bool out_all;         /* the peers' frames to the balancer too */
        struct net_addr down[REPLAY_ADDRS_MAX]; /* brokers that never answer a SYN */
        uint32_t ndown;
        struct net_addr refuse[REPLAY_ADDRS_MAX]; /* brokers that refuse every CONNECT */
        uint32_t nrefuse;
        uint64_t seed;      /* the balancer's; 0: a fixed default (runs are deterministic) */
        uint32_t workers;   /* balancer workers (queues), at most WORKER_MAX; 0: 1 */
        FILE *trace;        /* one line per frame either way; NULL: none */
        uint64_t tail_ns;   /* per connection, after its last captured segment; 0: 120 s */
        uint64_t max_steps; /* event-loop iterations; 0: 50,000,000 */
};

/* What became of one captured connection. */
struct replay_result {
        bool reported; /* the balancer reported it (else: never established) */
        bool listener; /* a listener of its family existed */
        enum lb_verdict verdict;
        enum lb_bound_at bound_at;
        enum mqtt_err err;          /* malformed, an MQTT listener */
        enum tls_hello_err tls_err; /* malformed, a TLS listener */
        char sni[256]; /* a TLS listener: the ClientHello's server name, "" when none */
        uint8_t refusal;
        char pool[64], broker[64]; /* "" when none */
        uint8_t *client_id;
        uint32_t client_id_len;
        struct mqtt_str *topics; /* owned copies */
        uint32_t ntopics;
        uint64_t bytes_from_client, bytes_to_broker, publishes;

        /* seen by the emulated peers */
        bool stream_intact;    /* the broker got the captured stream (after a good PROXY header) */
        bool proxy_ok;         /* PROXY v2 header as expected (true when not configured) */
        uint64_t broker_bytes; /* stream bytes the matched broker connection received */
        uint64_t client_received; /* bytes the client received from the balancer */
        uint32_t broker_legs;     /* broker connections matched to it */
        bool client_closed;       /* FIN both ways or a RST: the client's side ended */
};

struct replay_summary {
        uint32_t connections, spliced;
        uint64_t frames_in, frames_out; /* to / from the balancer */
        uint64_t unknown_dst;           /* frames from the balancer to no peer */
        uint64_t bad_checksum;          /* frames from the balancer with a wrong checksum */
        uint64_t bad_source;            /* to a peer, but not from its listener / a source */
        uint64_t syn_to_down;           /* SYNs a down broker ignored */
        uint64_t unmatched_legs;        /* broker connections no captured one matched */
        uint64_t stray_reports;         /* reports for no client (or a second one) */
        uint64_t handed_over;           /* frames workers passed to the owning worker */
        uint64_t virtual_ns;            /* virtual time from the first packet to the end */
        uint64_t steps;
        uint32_t open_at_end;   /* balancer connections still open when the replay ended */
        uint32_t leaked_conns;  /* after lb_worker__close_all: must be 0 */
        uint32_t leaked_frames; /* UMEM frames not back in the pool: must be 0 */
        bool step_limit;
        struct lb_stats lb;
};

/*
 * Runs cap through a balancer built on plan (taken over, also on failure).
 * results[cap->nconns] is allocated (replay_results__free). Returns 0 (also
 * with leaks: see the summary), or -errno with the reason in err (out of
 * memory, the output file cannot be written, the balancer cannot start).
 */
int replay__run(struct plan *plan, const struct replay_capture *cap, const struct replay_opts *o,
                struct replay_result **results, struct replay_summary *sum, char *err,
                size_t errlen);
void replay_results__free(struct replay_result *r, uint32_t n);

#endif
