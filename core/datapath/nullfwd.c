/* The null forwarder's handler (nullfwd.h): per packet, no state. */
#include "core/datapath/nullfwd.h"

#include <string.h>

static enum worker_verdict nullfwd_handle(void *ctx, struct worker *w, struct worker_pkt *p)
{
        const struct nullfwd *nf = ctx;

        if (nf->mode == NULLFWD_SWAP) {
                packet__swap(p->data, &p->m);
                p->out_port = p->in_port;
                return WORKER_TX;
        }
        if (w->cfg.nports < 2)
                return WORKER_DROP;
        p->out_port = p->in_port ^ 1;
        if (nf->next_hop_set[p->out_port]) {
                if (!nf->resolve ||
                    !nf->resolve(nf->resolve_ctx, &nf->next_hop[p->out_port], p->data + 6, p->data))
                        return WORKER_DROP;
                return WORKER_TX;
        }
        if (nf->peer_known[p->out_port])
                memcpy(p->data, nf->peer_mac[p->out_port], 6);
        memcpy(p->data + 6, nf->own_mac[p->out_port], 6);
        return WORKER_TX;
}

const struct worker_ops nullfwd_ops = {.handle = nullfwd_handle};
