/*
 * The TLS binder (struct binder) of `protocol: tls` listeners: TLS
 * passthrough (DESIGN.md "Other listeners"). The client's stream is read up
 * to the end of its ClientHello (tls/clienthello.h), which may span any
 * number of segments and records; the connection is bound by its server
 * name (sni routes), then the protocols it offers (alpn routes), then the
 * listener's pool, then default_pool; a broker of the pool by the pool's
 * policy on the client address (no client id is visible). Nothing is
 * answered: the broker does the whole handshake over the replayed bytes, so
 * client certificates work end to end and the balancer holds no key.
 *
 * A stream that is not a ClientHello we accept is closed (FIN, no alert:
 * the balancer speaks no TLS) and counted by reason; one that stops short
 * is closed at the bind timeout.
 */
#include <stdlib.h>

#include "core/lb/lb_conn.h"
#include "core/route/route_tls.h"

#define TLS_HELLO_SLACK 256 /* handshake header and up to 50 record headers */

static bool tls_start(struct conn *c, const struct plan *plan)
{
        if (!(c->th = malloc(sizeof(*c->th))))
                return false;
        /* the whole hello is buffered before the bind: its body and the
         * headers around it (4 bytes, 5 per record) must fit the buffer */
        tls_hello__init(c->th, plan->buffer_bytes < TLS_HELLO_MAX_DEFAULT + TLS_HELLO_SLACK
                                   ? plan->buffer_bytes - TLS_HELLO_SLACK
                                   : TLS_HELLO_MAX_DEFAULT);
        return true;
}

/* The pool of a ClientHello (ROUTE_NONE: none) and the counter of how. */
static int route_hello(struct lb_worker *lw, const struct conn *c, const struct tls_hello_info *in)
{
        const struct plan *plan = c->plan;
        const uint8_t *proto;
        uint8_t proto_len;
        int pool = ROUTE_NONE;

        if (in->has_sni)
                pool =
                    tls_routes__match_sni(plan->tls_routes, (const uint8_t *)in->sni, in->sni_len);
        if (pool != ROUTE_NONE) {
                STAT(lw, tls_bound_sni);
                return pool;
        }
        if (in->has_alpn)
                pool = tls_routes__match_alpn(plan->tls_routes, in->alpn, in->alpn_len, &proto,
                                              &proto_len);
        if (pool != ROUTE_NONE) {
                STAT(lw, tls_bound_alpn);
                return pool;
        }
        STAT(lw, tls_bound_default);
        return c->listener_pool != ROUTE_NONE ? c->listener_pool : plan->default_pool;
}

static bool tls_feed(struct lb_worker *lw, struct conn *c, const uint8_t *b, uint32_t n)
{
        size_t used;
        enum tls_hello_status st;

        conn__rebase(lw, c);
        st = tls_hello__feed(c->th, b, n, &used);
        if (st == TLS_HELLO_NEED_MORE)
                return true;
        c->parse_dead = true; /* read to its end, or refused: nothing more to read */
        if (st == TLS_HELLO_ERROR) {
                enum tls_hello_err err = tls_hello__error(c->th);

                c->err = (uint8_t)err;
                STAT(lw, tls_malformed);
                STAT(lw, tls_malformed_by[err]);
                conn__close_client(lw, c, LB_VERDICT_MALFORMED);
                return false;
        }
        STAT(lw, tls_hellos);
        conn__bind(lw, c, route_hello(lw, c, tls_hello__info(c->th)), LB_BOUND_CLIENT_HELLO);
        return c->f.state != CONN_CLOSING;
}

/* The hello did not come whole in time. */
static void tls_timeout(struct lb_worker *lw, struct conn *c)
{
        conn__close_client(lw, c, LB_VERDICT_TIMEOUT);
}

static void tls_refuse(struct lb_worker *lw, struct conn *c, enum lb_verdict v)
{
        conn__close_client(lw, c, v);
}

static size_t tls_mem(const struct conn *c)
{
        return c->th ? sizeof(*c->th) : 0;
}

static void tls_stop(struct conn *c)
{
        (void)c; /* what the hello said stays for the report */
}

static void tls_fini(struct conn *c)
{
        free(c->th);
        c->th = NULL;
}

const struct binder binder_tls = {
    .start = tls_start,
    .feed = tls_feed,
    .timeout = tls_timeout,
    .refuse = tls_refuse,
    .mem = tls_mem,
    .stop = tls_stop,
    .fini = tls_fini,
};
