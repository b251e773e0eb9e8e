/*
 * The connect window: how many broker legs per broker are being set up at
 * once (lb_conn.h, "lb_setup.c"). A leg holds one of its broker's slots
 * from its first SYN until the broker's first byte, FIN or RST, its
 * failover, or the connection's end; a bind that finds no slot free waits
 * in its broker's queue, oldest first, and is started at the next tick
 * after a slot came free.
 *
 * Why: a balancer that answers handshakes itself can bind thousands of
 * clients within a millisecond (a reconnect storm), and would open as many
 * broker legs at once. A broker takes connections as fast as its accept
 * loop runs (Mosquitto listens with a backlog of 100); past its accept queue
 * the kernel drops the leg's handshake ACK or replay, or answers with SYN
 * cookies and then drops it, and every such leg waits out exponential
 * retransmission backoff, seconds each, while the broker idles. A kernel
 * proxy is paced by its own accept queue; this is mqttlb's pacing.
 */
#include "core/lb/lb_conn.h"

/* The slots per broker this worker has: the plan's window shared out among
 * the workers (rounded up); 0: no limit. */
static uint32_t window(const struct lb_worker *lw, const struct plan *plan)
{
        uint32_t n = lw->lb->nworkers ? lw->lb->nworkers : 1;

        return plan->connect_window ? (plan->connect_window + n - 1) / n : 0;
}

static void unqueue(struct lb_worker *lw, struct conn *c)
{
        uint16_t g = c->setup_gid;

        if (c->setup_prev)
                c->setup_prev->setup_next = c->setup_next;
        else
                lw->setup_head[g] = c->setup_next;
        if (c->setup_next)
                c->setup_next->setup_prev = c->setup_prev;
        else
                lw->setup_tail[g] = c->setup_prev;
        c->setup_next = c->setup_prev = NULL;
        c->setup = CONN_SETUP_NONE;
        STAT_DEC(lw, connect_waiting);
}

bool conn__setup_admit(struct lb_worker *lw, struct conn *c, uint32_t gid)
{
        uint32_t w = window(lw, c->plan);

        if (c->setup == CONN_SETUP_HELD && c->setup_gid == gid)
                return true; /* a SYN again to the same broker */
        conn__setup_done(lw, c);
        if (w && (lw->setup_legs[gid] >= w || lw->setup_head[gid])) {
                /* no slot, or others wait for one already: behind them */
                c->setup = CONN_SETUP_QUEUED;
                c->setup_gid = (uint16_t)gid;
                c->setup_next = NULL;
                c->setup_prev = lw->setup_tail[gid];
                if (c->setup_prev)
                        c->setup_prev->setup_next = c;
                else
                        lw->setup_head[gid] = c;
                lw->setup_tail[gid] = c;
                STAT(lw, connect_queued);
                STAT(lw, connect_waiting);
                /* the deadline: CONN_T_LIFE, which a connecting
                 * connection has no other use for (CONN_T_RTO still
                 * retransmits its own bytes to the client meanwhile) */
                timer__arm(&lw->wheel, &c->f.timer[CONN_T_LIFE],
                           lw->now_ns + c->plan->bind_timeout_ns, CONN_T_LIFE);
                /* a slot may be free (others wait): the next tick looks */
                if (lw->setup_legs[gid] < w)
                        lw->setup_freed[gid / 64] |= 1ull << (gid % 64);
                return false;
        }
        c->setup = CONN_SETUP_HELD;
        c->setup_gid = (uint16_t)gid;
        lw->setup_legs[gid]++;
        return true;
}

void conn__setup_done(struct lb_worker *lw, struct conn *c)
{
        uint16_t g = c->setup_gid;

        switch ((enum conn_setup)c->setup) {
        case CONN_SETUP_HELD:
                lw->setup_legs[g]--;
                c->setup = CONN_SETUP_NONE;
                if (lw->setup_head[g])
                        lw->setup_freed[g / 64] |= 1ull << (g % 64);
                return;
        case CONN_SETUP_QUEUED: unqueue(lw, c); return;
        case CONN_SETUP_NONE: return;
        }
}

void conn__setup_expired(struct lb_worker *lw, struct conn *c)
{
        conn__setup_done(lw, c);
        conn__uncount(lw, c);
        STAT(lw, connect_queue_timeouts);
        conn__binder(c)->refuse(lw, c, LB_VERDICT_NO_BROKER);
}

void lb__setup_pump(struct lb_worker *lw)
{
        for (uint32_t i = 0; i < PLAN_BROKERS_MAX / 64; i++) {
                uint64_t m = lw->setup_freed[i];

                lw->setup_freed[i] = 0; /* set again by what starts below: the next tick's */
                while (m) {
                        uint32_t g = i * 64 + (uint32_t)__builtin_ctzll(m);

                        m &= m - 1;
                        while (lw->setup_head[g]) {
                                struct conn *c = lw->setup_head[g];
                                uint32_t w = window(lw, c->plan);

                                if (w && lw->setup_legs[g] >= w)
                                        break;
                                unqueue(lw, c);
                                c->setup = CONN_SETUP_HELD; /* the slot, before those behind */
                                c->setup_gid = (uint16_t)g;
                                lw->setup_legs[g]++;
                                timer__cancel(&lw->wheel, &c->f.timer[CONN_T_LIFE]);
                                conn__connect(lw, c); /* its SYN (or a failover) */
                        }
                }
        }
}
