/*
 * One client's socket through the ring (engine.h): connect with a linked
 * timeout, recv into the client's buffer and packets cut out of it for
 * session.c, sends of what session.c queued, and closing.
 *
 * Sockets stay in blocking mode on purpose: the ring never blocks the thread
 * (it polls the socket and retries), whereas a socket with O_NONBLOCK makes
 * io_uring complete a recv or send that would wait with -EAGAIN instead.
 *
 * A client has at most one recv, one send and one connect in the ring. Bytes
 * to send are queued (txp) behind the send in flight (txf, which must not
 * move until it completes) and go out in one send per client after each
 * batch of completions, so a subscriber acknowledges a whole read's worth of
 * PUBLISH in one send. Partial sends are resent from where they stopped;
 * packets split over reads wait in the receive buffer, which grows for a
 * packet larger than itself. A client is closed by shutting its socket down
 * and waiting until the ring gave back all its operations, so no completion
 * ever reaches a reused client.
 *
 * With --tls the ring still does all the socket I/O: recv reads ciphertext
 * into crx and hands it to OpenSSL (tls.c), which advances the handshake
 * (CS_TLS) and then appends plaintext to rx; session.c's queued plaintext
 * (txp) is encrypted when no send is in flight, and what OpenSSL wrote goes
 * out of txf.
 */
#include "bench/mqttload/engine.h"
#include "bench/mqttload/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PACKET (32u << 20) /* a broker's packet larger than this is an error */

uint64_t load_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

const char *load_fail__name(enum load_fail f)
{
        static const char *const names[FAIL_N] = {
            [FAIL_NONE] = "none",         [FAIL_REFUSED] = "refused",
            [FAIL_TIMEOUT] = "timeout",   [FAIL_RESET] = "reset",
            [FAIL_CLOSED] = "closed",     [FAIL_UNREACH] = "unreachable",
            [FAIL_ADDR] = "no_address",   [FAIL_SOCKET] = "socket",
            [FAIL_CONNACK] = "connack",   [FAIL_SUBACK] = "suback",
            [FAIL_PROTOCOL] = "protocol", [FAIL_DISCONNECT] = "disconnect",
            [FAIL_TLS] = "tls",           [FAIL_OTHER] = "other",
        };

        return f < FAIL_N ? names[f] : "?";
}

enum load_fail load_fail__from_errno(int err)
{
        switch (err) {
        case ECONNREFUSED: return FAIL_REFUSED;
        case ETIMEDOUT:
        case ECANCELED: return FAIL_TIMEOUT;
        case ECONNRESET:
        case EPIPE:
        case ECONNABORTED: return FAIL_RESET;
        case ENETUNREACH:
        case EHOSTUNREACH:
        case ENETDOWN:
        case EHOSTDOWN: return FAIL_UNREACH;
        case EADDRNOTAVAIL:
        case EADDRINUSE: return FAIL_ADDR;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM: return FAIL_SOCKET;
        default: return FAIL_OTHER;
        }
}

/* ---- buffers ---- */

static int grow(uint8_t **buf, uint32_t *cap, uint64_t need)
{
        uint64_t n = *cap ? *cap : 256;
        uint8_t *p;

        while (n < need)
                n *= 2;
        if (n > UINT32_MAX)
                return -ENOMEM;
        p = realloc(*buf, n);
        if (!p)
                return -ENOMEM;
        *buf = p;
        *cap = (uint32_t)n;
        return 0;
}

static void mark_dirty(struct conn *c)
{
        if (c->dirty)
                return;
        c->dirty = true;
        c->next_dirty = c->t->dirty;
        c->t->dirty = c;
}

uint8_t *conn__tx_reserve(struct conn *c, uint32_t n)
{
        if (c->txp_cap - c->txp_len < n && grow(&c->txp, &c->txp_cap, (uint64_t)c->txp_len + n))
                return NULL;
        return c->txp + c->txp_len;
}

void conn__tx_commit(struct conn *c, uint32_t n)
{
        c->txp_len += n;
        mark_dirty(c);
}

/* ---- ring operations ---- */

static void submit_send(struct conn *c)
{
        struct io_uring_sqe *sqe = get_sqe(c->t);

        io_uring_prep_send(sqe, c->fd, c->txf + c->txf_off, c->txf_len - c->txf_off, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
        c->send_busy = true;
        c->last_tx = c->t->now;
}

static bool can_send(const struct conn *c)
{
        return c->fd >= 0 && c->state >= CS_TLS && c->state <= CS_BYE;
}

/* The first TLS failure of the thread, for the summary; then the abort. */
static void tls_fail(struct conn *c)
{
        struct load_thread *t = c->t;

        if (!t->tls_error[0])
                snprintf(t->tls_error, sizeof(t->tls_error), "%s", tls__why(c));
        conn__abort(c, FAIL_TLS);
}

/* --tls: the plaintext queued is encrypted, and what OpenSSL has to send
 * (that, or the handshake) goes out in one send. Plaintext waits in txp
 * while a send is in flight, so a publisher's backlog limit still holds. */
static void tls_flush(struct conn *c)
{
        uint32_t n;

        if (c->send_busy || !can_send(c))
                return;
        if (c->txp_len && c->state >= CS_CONNACK) {
                if (tls__write(c, c->txp, c->txp_len)) {
                        tls_fail(c);
                        return;
                }
                c->txp_len = 0;
        }
        n = tls__pending(c);
        if (!n)
                return;
        if (c->txf_cap < n && grow(&c->txf, &c->txf_cap, n)) {
                conn__abort(c, FAIL_OTHER);
                return;
        }
        c->txf_len = tls__take(c, c->txf, n);
        c->txf_off = 0;
        if (c->txf_len)
                submit_send(c);
}

/* Queued bytes go out when no send is in flight (the send completion calls
 * this again otherwise). */
void conn__flush(struct conn *c)
{
        uint8_t *b;
        uint32_t cap;

        if (c->ssl) {
                tls_flush(c);
                return;
        }
        if (c->send_busy || !c->txp_len || !can_send(c))
                return;
        b = c->txf;
        cap = c->txf_cap;
        c->txf = c->txp;
        c->txf_cap = c->txp_cap;
        c->txf_len = c->txp_len;
        c->txf_off = 0;
        c->txp = b;
        c->txp_cap = cap;
        c->txp_len = 0;
        submit_send(c);
}

static void arm_recv(struct conn *c)
{
        struct io_uring_sqe *sqe;

        if (c->recv_busy || c->fd < 0)
                return;
        sqe = get_sqe(c->t);
        if (c->ssl)
                io_uring_prep_recv(sqe, c->fd, c->crx, c->crxcap, 0);
        else
                io_uring_prep_recv(sqe, c->fd, c->rx + c->rxlen, c->rxcap - c->rxlen, 0);
        io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
        c->recv_busy = true;
}

/* ---- closing ---- */

static void settle(struct conn *c)
{
        if (c->settled)
                return;
        c->settled = true;
        stat_add(&c->t->st.settled, 1);
}

void conn__push_retry(struct conn *c, uint64_t at)
{
        c->state = CS_IDLE;
        c->retry_at = at;
        c->next_retry = c->t->retry;
        c->t->retry = c;
}

void conn__set_done(struct conn *c)
{
        c->state = CS_DONE;
        c->t->live--;
}

/* Once the ring has nothing of c's left: close, then retry or done. */
static void maybe_closed(struct conn *c)
{
        struct load_thread *t = c->t;

        if (c->state != CS_CLOSING || c->recv_busy || c->send_busy || c->connect_busy)
                return;
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        tls__end(c);
        c->rxlen = 0;
        c->txf_len = c->txf_off = c->txp_len = 0;
        session__reset(c);
        if (c->retry && !t->stopping)
                conn__push_retry(c, c->retry_at);
        else
                conn__set_done(c);
}

void conn__begin_close(struct conn *c, bool retry, uint64_t at)
{
        struct load_thread *t = c->t;

        if (c->state == CS_CLOSING || c->state == CS_DONE || c->state == CS_IDLE)
                return;
        if (c->up) {
                c->up = false;
                stat_set(&t->st.up, t->st.up - 1);
        }
        c->state = CS_CLOSING;
        c->retry = retry;
        c->retry_at = at;
        /* wakes a recv or send waiting in the ring: they complete at once */
        if (c->fd >= 0 && (c->recv_busy || c->send_busy))
                shutdown(c->fd, SHUT_RDWR);
        if (c->connect_busy) {
                struct io_uring_sqe *sqe = get_sqe(t);

                io_uring_prep_cancel64(sqe, ud(c, OP_CONNECT), 0);
                io_uring_sqe_set_data64(sqe, ud(c, OP_CANCEL));
        }
        maybe_closed(c);
}

/* socket() or bind() failed: the attempt never reached the ring. */
static void fail_unstarted(struct conn *c, enum load_fail why)
{
        struct load_thread *t = c->t;

        stat_add(&t->st.connect_failed, 1);
        stat_add(&t->st.fail[why], 1);
        settle(c);
        if (t->l->cfg.reconnect && !t->stopping)
                conn__push_retry(c, t->now + secs_ns(t->l->cfg.retry_delay));
        else
                conn__set_done(c);
}

void conn__abort(struct conn *c, enum load_fail why)
{
        struct load_thread *t = c->t;
        const struct load_cfg *cfg = &t->l->cfg;
        uint64_t at = t->now;

        if (c->state == CS_CLOSING || c->state == CS_DONE || c->state == CS_IDLE)
                return;
        if (t->stopping) {
                /* our own stop: nothing to count */
                conn__begin_close(c, false, 0);
                return;
        }
        if (c->state <= CS_SUBACK) {
                stat_add(&t->st.connect_failed, 1);
                stat_add(&t->st.fail[why], 1);
                settle(c);
                at += secs_ns(cfg->retry_delay);
        } else {
                stat_add(&t->st.disconnected, 1);
                stat_add(&t->st.drop[why], 1);
                /* a storm starts with the first drop while all were up */
                if (c->up && t->st.up == t->st.connected) {
                        stat_set(&t->st.storm_start_ns, t->now);
                        stat_set(&t->st.storm_end_ns, 0);
                }
        }
        conn__begin_close(c, cfg->reconnect, at);
}

void conn__bye(struct conn *c)
{
        uint8_t *p;

        if (c->state < CS_CONNACK || c->state > CS_DRAIN)
                return;
        p = conn__tx_reserve(c, MQTTC_DISCONNECT_LEN);
        if (!p) {
                conn__begin_close(c, false, 0);
                return;
        }
        conn__tx_commit(c, (uint32_t)mqttc__disconnect(p));
        c->state = CS_BYE;
}

void conn__running(struct conn *c)
{
        c->state = CS_RUN;
        settle(c);
        if (c->t->stopping)
                session__stop(c);
        else
                session__fill(c);
}

/* ---- starting ---- */

void conn__start(struct conn *c)
{
        struct load_thread *t = c->t;
        const struct load_cfg *cfg = &t->l->cfg;
        const struct load_addr *h = &cfg->hosts[c->idx % cfg->nhosts];
        struct io_uring_sqe *sqe;
        int fd, one = 1;

        fd = socket(h->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                fail_unstarted(c, FAIL_SOCKET);
                return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (cfg->nbinds) {
                const struct load_addr *b = &cfg->binds[c->idx % cfg->nbinds];

                /* the port is picked at connect time, per destination: many
                 * clients from one address to several brokers */
                setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
                if (bind(fd, (const struct sockaddr *)&b->ss, b->len)) {
                        enum load_fail why = load_fail__from_errno(errno);

                        close(fd);
                        fail_unstarted(c, why == FAIL_OTHER ? FAIL_SOCKET : why);
                        return;
                }
        }
        c->fd = fd;
        c->state = CS_TCP;
        c->t_start = load_now_ns();
        if (!t->st.first_conn_ns)
                stat_set(&t->st.first_conn_ns, c->t_start);
        /* the connect and its linked timeout must go in one submission */
        if (io_uring_sq_space_left(&t->ring) < 2)
                io_uring_submit(&t->ring);
        sqe = get_sqe(t);
        io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&h->ss, h->len);
        io_uring_sqe_set_data64(sqe, ud(c, OP_CONNECT));
        sqe->flags |= IOSQE_IO_LINK;
        sqe = get_sqe(t);
        io_uring_prep_link_timeout(sqe, &t->connect_ts, 0);
        io_uring_sqe_set_data64(sqe, ud(c, OP_LINK));
        c->connect_busy = true;
}

/* ---- completions ---- */

void conn__on_connect(struct conn *c, int res)
{
        c->connect_busy = false;
        if (c->state == CS_CLOSING) {
                maybe_closed(c);
                return;
        }
        if (res < 0) {
                conn__abort(c, load_fail__from_errno(-res));
                return;
        }
        if (c->t->l->cfg.tls) {
                /* the ClientHello goes out at the end of the batch */
                c->state = CS_TLS;
                if (tls__start(c)) {
                        tls_fail(c);
                        return;
                }
                mark_dirty(c);
                arm_recv(c);
                return;
        }
        c->state = CS_CONNACK;
        if (session__connect(c)) {
                conn__abort(c, FAIL_OTHER);
                return;
        }
        arm_recv(c);
}

static void process_rx(struct conn *c)
{
        struct load_thread *t = c->t;
        uint32_t off = 0, need = 0;

        while (off < c->rxlen) {
                struct mqttc_pkt p;
                enum mqttc_status st =
                    mqttc__decode(c->rx + off, c->rxlen - off, t->l->cfg.version, MAX_PACKET, &p);
                enum load_fail why;

                if (st == MQTTC_MORE) {
                        need = p.len;
                        break;
                }
                if (st == MQTTC_BAD) {
                        if (!t->protocol_error)
                                t->protocol_error = p.why;
                        conn__abort(c, FAIL_PROTOCOL);
                        return;
                }
                why = session__packet(c, &p);
                off += p.len;
                if (why != FAIL_NONE) {
                        conn__abort(c, why);
                        return;
                }
                if (c->state == CS_CLOSING || c->state == CS_IDLE || c->state == CS_DONE)
                        return;
        }
        memmove(c->rx, c->rx + off, c->rxlen - off);
        c->rxlen -= off;
        /* a packet larger than the buffer: room for all of it */
        if (need > c->rxcap && grow(&c->rx, &c->rxcap, need)) {
                conn__abort(c, FAIL_OTHER);
                return;
        }
        arm_recv(c);
}

/* The handshake has just completed: counted, then CONNECT. */
static bool tls_up(struct conn *c)
{
        struct load_thread *t = c->t;

        hist__add(&t->tls_lat, t->now - c->t_start);
        stat_add(&t->st.tls_handshakes, 1);
        if (tls__reused(c))
                stat_add(&t->st.tls_resumed, 1);
        c->state = CS_CONNACK;
        if (session__connect(c)) {
                conn__abort(c, FAIL_OTHER);
                return false;
        }
        return true;
}

/* --tls: ciphertext read; plaintext, if any, is cut into packets. */
static void tls_recv(struct conn *c, uint32_t n)
{
        switch (tls__input(c, c->crx, n)) {
        case TLS_STEP_AGAIN:
                mark_dirty(c); /* the handshake's next flight, if any */
                arm_recv(c);
                return;
        case TLS_STEP_DONE:
                if (!tls_up(c))
                        return;
                /* fall through */
        case TLS_STEP_OPEN:
                mark_dirty(c);
                process_rx(c);
                return;
        case TLS_STEP_CLOSED:
                if (c->state == CS_BYE)
                        conn__begin_close(c, false, 0);
                else
                        conn__abort(c, FAIL_CLOSED);
                return;
        case TLS_STEP_ERROR: tls_fail(c); return;
        }
}

void conn__on_recv(struct conn *c, int res)
{
        c->recv_busy = false;
        if (c->state == CS_CLOSING) {
                maybe_closed(c);
                return;
        }
        if (res <= 0) {
                if (c->state == CS_BYE)
                        conn__begin_close(c, false, 0); /* the broker closed after our DISCONNECT */
                else
                        conn__abort(c, res ? load_fail__from_errno(-res) : FAIL_CLOSED);
                return;
        }
        /* a fresh clock for the latency of what arrived: a batch of
         * completions can take a while to work through */
        c->t->now = load_now_ns();
        if (c->ssl) {
                tls_recv(c, (uint32_t)res);
                return;
        }
        c->rxlen += (uint32_t)res;
        process_rx(c);
}

void conn__on_send(struct conn *c, int res)
{
        struct load_thread *t = c->t;

        c->send_busy = false;
        if (c->state == CS_CLOSING) {
                maybe_closed(c);
                return;
        }
        if (res < 0) {
                if (c->state == CS_BYE)
                        conn__begin_close(c, false, 0);
                else
                        conn__abort(c, load_fail__from_errno(-res));
                return;
        }
        c->txf_off += (uint32_t)res;
        if (c->txf_off < c->txf_len) {
                submit_send(c); /* the rest of a partial send */
                return;
        }
        c->txf_len = c->txf_off = 0;
        if (t->l->cfg.mode == LOAD_PUB && !t->l->cfg.qos && t->st.sent)
                stat_set(&t->st.last_msg_ns, t->now);
        if (c->state == CS_BYE && !c->txp_len && !tls__pending(c)) {
                conn__begin_close(c, false, 0); /* DISCONNECT is out */
                return;
        }
        session__fill(c);
        conn__flush(c);
}

/* ---- setup ---- */

int conn__init(struct load_thread *t, struct conn *c, uint32_t idx)
{
        const struct load_cfg *cfg = &t->l->cfg;
        char cid[512], topic[1024];
        int cid_len, topic_len;

        c->t = t;
        c->fd = -1;
        c->idx = idx;
        cid_len = load_pattern__expand(cid, sizeof(cid), cfg->client_id, idx, NULL, cfg->mode);
        topic_len = load_pattern__expand(topic, sizeof(topic), cfg->topic, idx, cid, cfg->mode);
        if (cid_len < 0 || topic_len < 0)
                return -ENAMETOOLONG;
        c->cid = malloc((size_t)cid_len + 1 + (size_t)topic_len + 1);
        if (!c->cid)
                return -ENOMEM;
        memcpy(c->cid, cid, (size_t)cid_len + 1);
        c->topic = c->cid + cid_len + 1;
        memcpy(c->topic, topic, (size_t)topic_len + 1);
        c->cid_len = (uint16_t)cid_len;
        c->topic_len = (uint16_t)topic_len;
        if (grow(&c->rx, &c->rxcap, cfg->rxbuf))
                return -ENOMEM;
        if (cfg->tls) {
                /* ciphertext, read here and handed to OpenSSL: a broker's
                 * handshake flight in one read */
                c->crxcap = cfg->rxbuf > 4096 ? cfg->rxbuf : 4096;
                c->crx = malloc(c->crxcap);
                if (!c->crx)
                        return -ENOMEM;
        }
        if (cfg->mode == LOAD_PUB && cfg->qos) {
                c->slots = calloc(cfg->inflight, sizeof(*c->slots));
                c->free_slots = calloc(cfg->inflight, sizeof(*c->free_slots));
                if (!c->slots || !c->free_slots)
                        return -ENOMEM;
        }
        session__reset(c);
        return 0;
}
