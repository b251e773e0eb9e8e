/*
 * The emulated TCP endpoints of the replay harness (core/replay/replay.h): a client
 * per captured connection, which plays the captured client's segments
 * against the balancer's listener, and the brokers, which answer the
 * balancer's broker legs and serve the captured server stream.
 *
 * Both are minimal but correct TCP peers on the harness's virtual clock:
 * handshake, in-order receive with an ACK for everything (out-of-order
 * bytes are not kept: a duplicate ACK asks again), window-respecting send,
 * retransmission from the peer's ACK on a timeout (RTO-like, doubling) and
 * after three duplicate ACKs, FIN and RST. No timestamps, no SACK blocks
 * (SACK-permitted is offered as the capture did).
 *
 * Owns their buffers. Sends frames only through the wire callback; keeps no
 * pointer into a frame it was given.
 */
#ifndef MQTTLB_CORE_REPLAY_PEER_H
#define MQTTLB_CORE_REPLAY_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tcp/packet.h"
#include "core/replay/replay.h"
#include "core/tcp/tcp_out.h"

#define REPLAY_NEVER UINT64_MAX

/* Where the peers' frames go (the balancer's RX); 0 or -errno. */
struct replay_wire {
        int (*send)(void *ctx, const uint8_t *frame, uint32_t len);
        void *ctx;
        uint8_t lb_mac[6]; /* destination MAC of the peers' frames */
};

/* A received segment, in host order. */
struct replay_tcp {
        uint8_t family;
        const uint8_t *saddr, *daddr; /* 4 or 16 bytes */
        uint16_t sport, dport;
        uint32_t seq, ack;
        uint8_t flags;
        uint16_t win;
        const uint8_t *data;
        uint32_t len;
        struct tcp_syn_opts opts; /* of a SYN */
};

/* Reads the segment of a parsed frame. */
void replay_tcp__parse(struct replay_tcp *s, const uint8_t *frame, const struct packet *m);

enum replay_client_state {
        REPLAY_C_IDLE,     /* before its SYN's time */
        REPLAY_C_SYN_SENT, /* waiting for the SYN-ACK */
        REPLAY_C_OPEN,     /* established: sending the captured segments */
        REPLAY_C_DONE,     /* closed both ways, reset, or given up */
};

struct replay_client {
        const struct replay_conn *c;
        enum replay_client_state st;
        uint8_t laddr[16]; /* the listener it connects to (the capture's server, rewritten) */
        uint16_t lport;
        uint8_t mac[6];
        uint64_t deadline; /* gives up at this virtual time */

        uint32_t irs;      /* the balancer's ISN (its SYN cookie) */
        bool ws_ok;        /* window scaling on (both offered it) */
        uint8_t peer_ws;   /* the balancer's shift */
        uint16_t peer_mss; /* what the balancer accepts per segment */
        uint32_t wnd;      /* the balancer's window, bytes */
        uint32_t una, max; /* stream offsets: acknowledged, highest sent (+1 with FIN) */
        uint32_t next_seg; /* first captured segment not sent yet */
        uint32_t seg_pos;  /* bytes of it sent so far (a segment cut by the window) */
        bool stopped;      /* the balancer closed: no more captured data */
        bool blocked;      /* the next captured segment waits for the window */
        bool fast_rtx;     /* three duplicate ACKs: send the first unacknowledged segment */
        bool fin_sent, fin_acked, fin_rcvd, rst_sent, rst_rcvd, timed_out, need_ack;
        uint32_t fin_off; /* stream offset of our FIN */
        uint32_t rcv_nxt; /* bytes received in order from the balancer */
        uint8_t *rcvd;    /* those bytes */
        uint32_t rcvd_cap;
        uint32_t dupacks;
        uint64_t rto_ns, rto_at, persist_at; /* 0: not armed */
        uint32_t rtx;                        /* timeouts in a row */
        uint64_t retransmits;                /* segments sent again */
};

void replay_client__init(struct replay_client *cl, const struct replay_conn *c,
                         const uint8_t *laddr, uint16_t lport, uint32_t idx, uint64_t tail_ns);
void replay_client__free(struct replay_client *cl);
/* Sends what is due at now; returns the frames sent, or -errno. */
int replay_client__pump(struct replay_client *cl, uint64_t now, const struct replay_wire *w);
void replay_client__input(struct replay_client *cl, uint64_t now, const struct replay_tcp *s);
/* When it next has something to do by itself (REPLAY_NEVER: nothing). */
uint64_t replay_client__next(const struct replay_client *cl);
bool replay_client__done(const struct replay_client *cl);

struct replay_bconn;

/* Every broker of the plan, emulated. */
struct replay_brokers {
        const struct replay_capture *cap;
        uint32_t *legs; /* per captured connection: broker connections matched to it */
        bool proxy;     /* the plan sends a PROXY v2 header first */
        const struct net_addr *down, *refuse;
        uint32_t ndown, nrefuse;
        uint8_t mac[6];
        struct replay_bconn **conns;
        uint32_t nconns, capconns;
        uint64_t syn_to_down, unmatched, stray;
};

/* A segment the balancer sent to a broker address:port. 0 or -ENOMEM. */
int replay_brokers__input(struct replay_brokers *b, uint64_t now, const struct replay_tcp *s);
/* Sends what is due at now for every broker connection; frames sent or -errno. */
int replay_brokers__pump(struct replay_brokers *b, uint64_t now, const struct replay_wire *w);
uint64_t replay_brokers__next(const struct replay_brokers *b);
/* Every connection closed (or never opened). */
bool replay_brokers__quiet(const struct replay_brokers *b);
/* For captured connection i: the broker connection that received the most
 * of its stream (NULL when none matched), and what it saw. */
bool replay_brokers__stream(const struct replay_brokers *b, uint32_t i, const uint8_t **app,
                            uint32_t *app_len, bool *proxy_ok);
void replay_brokers__free(struct replay_brokers *b);

/* Grows *buf (doubling) to hold need bytes. 0 or -ENOMEM. */
int replay__grow_bytes(uint8_t **buf, uint32_t *cap, uint32_t need);

#endif
