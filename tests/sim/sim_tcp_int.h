/*
 * The simulated endpoint's state, shared by its two halves: sim_tcp.c (the
 * state machine, the receive half, the application calls) and sim_tcp_out.c
 * (the send half: segments, timers, congestion control, loss recovery).
 *
 * Sequence numbers are kept as 64-bit offsets from the ISS (send half) and
 * from the IRS (receive half), so ranges compare without modular
 * arithmetic; they become 32-bit wire values only in frames. Offset 0 is the
 * SYN, data byte i is at offset 1 + i, the FIN after the last data byte.
 */
#ifndef MQTTLB_TESTS_SIM_TCP_INT_H
#define MQTTLB_TESTS_SIM_TCP_INT_H

#include "sim_tcp.h"

#define SIM_TCP_RANGES 32 /* scoreboard and out-of-order ranges kept */
#define SIM_NEVER      UINT64_MAX

struct sim_range {
        uint64_t start, end; /* [start, end) offsets */
        uint64_t stamp;      /* receive half: when last extended (RFC 2018 §4 order) */
};

struct sim_tcp_snd {
        uint64_t una;     /* SND.UNA */
        uint64_t nxt;     /* highest sent + 1 (SND.MAX: never moves back) */
        uint64_t app_end; /* one past the last byte the application wrote */
        uint64_t fin;     /* offset of our FIN; SIM_NEVER before close */
        uint8_t *buf;     /* ring: offset o at (o - 1) % cap */
        uint32_t cap;
        uint32_t wnd;      /* SND.WND, scaled */
        uint64_t wl1, wl2; /* SND.WL1 (receive offset), SND.WL2 (send offset) */
        uint8_t shift;     /* peer's window scale */
        uint16_t mss;      /* effective send MSS */
        /* RFC 5681 congestion control. */
        uint32_t cwnd, ssthresh, cwnd_acc;
        unsigned dupacks;
        /* RFC 6675 loss recovery. */
        bool in_recovery;
        uint64_t recovery_point; /* RecoveryPoint; no new recovery before una reaches it */
        uint64_t high_rxt;       /* HighRxt: one past the highest byte retransmitted */
        uint64_t rto_lost;       /* after an RTO every unSACKed byte below this is lost */
        struct sim_range sacked[SIM_TCP_RANGES];
        unsigned nsacked;
        /* RFC 6298 RTO. */
        bool timing, have_rtt;
        uint64_t rtt_end, rtt_start;
        uint64_t srtt, rttvar, rto;
        unsigned retries; /* RTOs in a row without progress */
        uint64_t rto_at;
        /* Persist (RFC 9293 §3.8.6.1). */
        uint64_t persist_at, persist_ival;
        bool probe_due;
        bool syn_due; /* SYN or SYN-ACK to (re)send */
        bool rtx_now; /* RFC 6675 (4.3) / RFC 6582: one retransmission past cwnd */
};

struct sim_tcp_rcv {
        uint32_t irs;
        uint64_t nxt;  /* RCV.NXT */
        uint64_t read; /* first byte the application has not read */
        uint64_t fin;  /* peer's FIN offset once seen; SIM_NEVER before */
        uint8_t *buf;  /* ring: offset o at (o - 1) % cap */
        uint32_t cap;
        uint8_t shift;     /* our window scale */
        uint64_t adv_edge; /* right edge last advertised (never moves left) */
        struct sim_range ooo[SIM_TCP_RANGES];
        unsigned nooo;
        uint64_t stamp;
        uint32_t unacked, seg_max; /* bytes since the last ACK; largest segment seen */
        uint64_t delack_at;
        unsigned acks_owed; /* immediate ACKs owed (dupACKs are not coalesced) */
};

struct sim_tcp {
        struct sim_tcp_cfg cfg;
        enum sim_tcp_state state;
        struct sim_tcp_snd snd;
        struct sim_tcp_rcv rcv;
        bool sack_ok, ws_ok; /* negotiated */
        uint64_t timewait_at;
        uint16_t ip_id;
        bool ack_first; /* a pure ACK before any data (the handshake's third segment) */
        bool rst_due;   /* a RST to send (rst_seq, rst_ack) */
        bool rst_has_ack;
        uint32_t rst_seq, rst_ack;
        struct sim_tcp_stats stats;
};

/* Wire value of a send offset, and back (relative to SND.UNA). */
static inline uint32_t snd_seq(const struct sim_tcp *t, uint64_t off)
{
        return t->cfg.iss + (uint32_t)off;
}

static inline uint64_t snd_off(const struct sim_tcp *t, uint32_t seq)
{
        return t->snd.una + (uint64_t)(int64_t)(int32_t)(seq - snd_seq(t, t->snd.una));
}

static inline uint32_t rcv_seq(const struct sim_tcp *t, uint64_t off)
{
        return t->rcv.irs + (uint32_t)off;
}

static inline uint64_t rcv_off(const struct sim_tcp *t, uint32_t seq)
{
        return t->rcv.nxt + (uint64_t)(int64_t)(int32_t)(seq - rcv_seq(t, t->rcv.nxt));
}

/* Free receive buffer: the window the receive half can take. */
static inline uint32_t rcv_space(const struct sim_tcp *t)
{
        return (uint32_t)(t->rcv.cap - (t->rcv.nxt - t->rcv.read));
}

static inline uint64_t min64(uint64_t a, uint64_t b)
{
        return a < b ? a : b;
}

static inline uint64_t max64(uint64_t a, uint64_t b)
{
        return a > b ? a : b;
}

/* sim_tcp_out.c */
bool snd__on_ack(struct sim_tcp *t, uint64_t now, const struct sim_seg *s, uint64_t seg_off);
void snd__fire_timers(struct sim_tcp *t, uint64_t now);
size_t snd__output(struct sim_tcp *t, uint64_t now, uint8_t *buf, size_t cap);
uint32_t snd__pipe(const struct sim_tcp *t);
void snd__rtt_sample(struct sim_tcp *t, uint64_t rtt);
/* sim_tcp.c */
void tcp__set_state(struct sim_tcp *t, enum sim_tcp_state s, uint64_t now);
size_t tcp__frame(struct sim_tcp *t, struct sim_seg *s, uint8_t *buf, size_t cap);
void rcv__fill_ack(struct sim_tcp *t, struct sim_seg *s);

#endif
