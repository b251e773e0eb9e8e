/*
 * One simulated TCP endpoint over raw Ethernet/IPv4/TCP frames, behaving the
 * way real stacks do (RFC 9293 state machine, RFC 6298 RTO, RFC 5681
 * congestion control, RFC 6675 SACK loss recovery, RFC 2018 SACK blocks,
 * RFC 7323 window scale, RFC 5961 RST/SYN checks, delayed ACKs, persist
 * probes). No sockets and no clock: the caller passes the virtual time in
 * nanoseconds to every call that needs it, so a run is reproducible.
 *
 * Driving it:
 *   - after sim_tcp__input, after any application call and whenever the
 *     clock reaches sim_tcp__next_timer, call sim_tcp__output in a loop
 *     until it returns 0 (it first fires every timer due at now);
 *   - the application side is sim_tcp__write / __read / __close; a test
 *     that stops reading makes the receive window close.
 *
 * Linux habits it copies where the RFCs leave a choice: the SYN-ACK is ACKed
 * at once, before queued data; a zero-window probe is an old sequence
 * number without data; a bare FIN is taken at a zero window; a RST that
 * reaches TIME_WAIT ends it; an endpoint whose connection is gone answers
 * segments with a RST; the receiver keeps out-of-order data and SACKs it
 * (up to 4 blocks, the most recent first) but sends no D-SACK.
 *
 * What it counts (struct sim_tcp_stats) is split into traffic counters and
 * validation counters: the latter (bad checksums, invalid SACK blocks, ACKs
 * of data never sent, rejected RSTs) say something upstream — the balancer
 * in the middle, usually — broke the rules, and tests assert they stay 0.
 *
 * Not modelled: timestamps (RFC 7323 §3-5), D-SACK (RFC 2883), RACK-TLP,
 * limited transmit beyond what SACK-based pipe gives, Nagle, simultaneous
 * open, IPv6, urgent data, challenge-ACK and out-of-window-ACK rate
 * limiting, the RFC 6298 §5.7 reset of RTO to 3 s after a lost SYN, receive
 * buffer auto-tuning. Test-only.
 */
#ifndef MQTTLB_TESTS_SIM_TCP_H
#define MQTTLB_TESTS_SIM_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_seg.h"

#define SIM_MS(x) ((uint64_t)(x)*1000000ull)
#define SIM_S(x)  ((uint64_t)(x)*1000000000ull)

struct sim_tcp_cfg {
        uint8_t mac[6], peer_mac[6];
        uint32_t addr, peer_addr; /* IPv4, host order */
        uint16_t port, peer_port; /* passive: peer_port 0 takes any client port */
        uint32_t iss;
        uint16_t mss;            /* offered and used at most; 0: 1460 */
        int8_t wscale;           /* shift offered; -1: no window-scale option */
        bool sack;               /* offer/accept SACK-permitted */
        uint32_t rcvbuf, sndbuf; /* bytes; 0: 64 KiB each */
        uint32_t init_cwnd_segs; /* 0: 10 (RFC 6928) */
        uint64_t delack_ns;      /* 0: 40 ms */
        uint64_t rto_min_ns;     /* 0: 200 ms */
        uint64_t rto_init_ns;    /* 0: 1 s (RFC 6298 §2.1) */
        uint64_t rto_max_ns;     /* 0: 60 s */
        uint64_t timewait_ns;    /* 0: 1 s (short: a simulation, not 2 MSL) */
        unsigned max_retrans;    /* RTOs in a row without progress; 0: 15 */
        unsigned syn_retries;    /* 0: 6 */
};

enum sim_tcp_state {
        SIM_TCP_CLOSED, /* not opened yet, or closed normally (LAST_ACK, TIME_WAIT ended) */
        SIM_TCP_LISTEN,
        SIM_TCP_SYN_SENT,
        SIM_TCP_SYN_RCVD,
        SIM_TCP_ESTABLISHED,
        SIM_TCP_FIN_WAIT_1,
        SIM_TCP_FIN_WAIT_2,
        SIM_TCP_CLOSING,
        SIM_TCP_TIME_WAIT,
        SIM_TCP_CLOSE_WAIT,
        SIM_TCP_LAST_ACK,
        SIM_TCP_RESET,     /* an acceptable RST arrived */
        SIM_TCP_TIMED_OUT, /* gave up retransmitting */
};

struct sim_tcp_stats {
        /* Traffic. */
        uint64_t segs_in, segs_out;
        uint64_t bytes_out; /* new data sent (not retransmissions) */
        uint64_t bytes_in;  /* data delivered in order */
        uint64_t rtx_segs, rtx_bytes;
        uint64_t syn_rtx;         /* SYN or SYN-ACK sent again */
        uint64_t rto_fires;       /* RTO expiries with data outstanding */
        uint64_t fast_recoveries; /* entries into loss recovery (RFC 6675 §5) */
        uint64_t dupacks_in;
        uint64_t ooo_in;   /* segments kept out of order */
        uint64_t old_in;   /* segments entirely below RCV.NXT (duplicates) */
        uint64_t acks_out; /* pure ACKs */
        uint64_t delacks;  /* of those, sent by the delayed-ACK timer */
        uint64_t sack_blocks_out, sack_blocks_in;
        uint64_t probes_out;     /* zero-window probes */
        uint64_t wnd_updates;    /* ACKs sent because the application read */
        uint64_t challenge_acks; /* RFC 5961 challenge ACKs sent */
        uint64_t syn_challenged; /* of those, for a SYN in a synchronized state */
        uint64_t rsts_out;
        uint64_t rst_accepted;  /* RST at exactly RCV.NXT: connection reset */
        uint64_t rst_time_wait; /* RSTs that reached TIME_WAIT (an exact one ends it) */
        /* Validation: each of these says a peer (or something between)
         * broke a rule; tests assert they stay 0. */
        uint64_t rst_in_window; /* RST in the window but not exact (RFC 5961 §3.2) */
        uint64_t rst_outside;   /* RST outside the window, dropped */
        uint64_t bad_csum;      /* IPv4 or TCP checksum wrong: dropped */
        uint64_t bad_frame;     /* malformed, or not Ethernet/IPv4/TCP */
        uint64_t bad_sack;      /* SACK block inverted, not above the ACK, beyond SND.NXT, or
                                   SACK not negotiated */
        uint64_t sack_at_ack;   /* SACK block whose left edge is the ACK itself */
        uint64_t ack_unsent;    /* ACK > SND.NXT: data never sent */
        uint64_t not_mine;      /* addresses or ports not this connection's */
};

/* A snapshot of the state a test may want to look at. */
struct sim_tcp_info {
        uint32_t snd_una, snd_nxt, rcv_nxt; /* sequence numbers on the wire */
        uint32_t iss, irs;
        uint32_t snd_wnd; /* peer's window, scaled */
        uint32_t rcv_wnd; /* our free buffer */
        uint32_t cwnd, ssthresh, pipe;
        uint64_t srtt_ns, rto_ns;
        uint16_t mss;      /* effective send MSS */
        bool sack, wscale; /* negotiated */
        bool in_recovery;
        uint32_t sacked_ranges; /* scoreboard entries */
        uint32_t unread;        /* in-order bytes the app has not read */
        uint32_t unsent;        /* written, not yet sent */
        uint32_t inflight;      /* SND.NXT - SND.UNA */
};

struct sim_tcp;

/* NULL on allocation failure. */
struct sim_tcp *sim_tcp__new(const struct sim_tcp_cfg *cfg);
void sim_tcp__free(struct sim_tcp *t);

/* Active open: queues the SYN (sent by the next sim_tcp__output). */
void sim_tcp__connect(struct sim_tcp *t, uint64_t now_ns);
/* Passive open: answers one SYN to cfg.addr:cfg.port. */
void sim_tcp__listen(struct sim_tcp *t);

/* Appends up to n bytes to the send buffer; returns the bytes taken (0 when
 * full or closed). */
size_t sim_tcp__write(struct sim_tcp *t, const void *data, size_t n);
/* Takes up to n in-order bytes; may queue a window update. */
size_t sim_tcp__read(struct sim_tcp *t, void *buf, size_t n);
/* The peer's FIN arrived and every byte before it was read. */
bool sim_tcp__eof(const struct sim_tcp *t);
/* FIN after the queued data. */
void sim_tcp__close(struct sim_tcp *t);

/* One received frame. */
void sim_tcp__input(struct sim_tcp *t, uint64_t now_ns, const uint8_t *frame, size_t len);
/* Fires the timers due at now_ns, then builds the next frame to send into
 * buf; its length, or 0 when there is nothing to send. */
size_t sim_tcp__output(struct sim_tcp *t, uint64_t now_ns, uint8_t *buf, size_t cap);
/* The earliest timer (absolute ns), or UINT64_MAX. */
uint64_t sim_tcp__next_timer(const struct sim_tcp *t);

enum sim_tcp_state sim_tcp__state(const struct sim_tcp *t);
const char *sim_tcp__state_name(enum sim_tcp_state s);
/* Closed normally, reset or timed out: nothing more will happen. */
bool sim_tcp__done(const struct sim_tcp *t);
const struct sim_tcp_stats *sim_tcp__stats(const struct sim_tcp *t);
void sim_tcp__info(const struct sim_tcp *t, struct sim_tcp_info *info);
/* The sum of the validation counters (0 when nothing broke a rule). */
uint64_t sim_tcp__violations(const struct sim_tcp *t);
/* Internal consistency; NULL, or what is wrong. */
const char *sim_tcp__check(const struct sim_tcp *t);

#endif
