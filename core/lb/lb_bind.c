/*
 * Binding, whatever the listener's protocol: the broker of the chosen pool,
 * the bind counted, a client id learned, the broker leg opened. What leads
 * there is the binder's (lb_mqtt.c, lb_tls.c).
 */
#include "core/lb/lb_conn.h"
#include "core/route/learned.h"

static const struct plan_pool *pool_of(const struct plan *plan, int pool)
{
        return pool >= 0 && (uint32_t)pool < plan->npools ? &plan->pools[pool] : NULL;
}

/* A client id bound by what it sent after its CONNECT (a topic), learned
 * for its next connections (DESIGN.md "Learned bindings"). */
static void learn(struct lb_worker *lw, struct conn *c)
{
        const struct plan_pool *pp = pool_of(c->plan, c->pool);

        if (c->cid_len && pp && learned__set(lw->lb->learned, c->cid, c->cid_len, pp->name) > 0)
                STAT(lw, learned);
}

void conn__bind(struct lb_worker *lw, struct conn *c, int pool, enum lb_bound_at at)
{
        const struct plan *plan = c->plan;
        const struct plan_pool *pp = pool_of(plan, pool);
        struct pool_key key = {
            .client_id = c->cid,
            .client_id_len = c->cid_len,
            .addr = c->f.client.saddr,
            .addr_len = c->f.client.family == 4 ? 4 : 16,
        };
        int b;

        c->bound_at = (uint8_t)at;
        switch (at) {
        case LB_BOUND_CONNECT: STAT(lw, bound_connect); break;
        case LB_BOUND_PUBLISH: STAT(lw, bound_publish); break;
        case LB_BOUND_SUBSCRIBE: STAT(lw, bound_subscribe); break;
        case LB_BOUND_TIMEOUT: STAT(lw, bound_timeout); break;
        case LB_BOUND_CLIENT_HELLO: break; /* counted by route (lb_tls.c) */
        default: break;
        }
        b = pp ? pool__select(pp->pool, &key) : POOL_NONE;
        c->pool = (int16_t)(pp ? pool : -1);
        if (b == POOL_NONE) {
                STAT(lw, no_broker);
                conn__binder(c)->refuse(lw, c, LB_VERDICT_NO_BROKER);
                return;
        }
        c->broker = c->first_broker = (int16_t)b;
        c->tried = 1;
        if (at != LB_BOUND_CONNECT)
                learn(lw, c);
        timer__cancel(&lw->wheel, &c->f.timer[CONN_T_LIFE]);
        conn__connect(lw, c);
}
