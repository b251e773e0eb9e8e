/* Allocation of the handover rings (handover.h); nothing here runs per packet. */
#include "core/datapath/handover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int handover_ring__new(struct handover_ring **out, uint32_t size)
{
        struct handover_ring *r;
        size_t bytes;

        if (size < 2 || (size & (size - 1)))
                return -EINVAL;
        bytes = sizeof(*r) + (size_t)size * sizeof(r->items[0]);
        r = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!r)
                return -ENOMEM;
        memset(r, 0, bytes);
        r->mask = size - 1;
        *out = r;
        return 0;
}

void handover_ring__free(struct handover_ring *r)
{
        free(r);
}
