/*
 * What the snapshot (stats.c) shares with its three renderings
 * (stats_json.c, stats_prom.c, stats_text.c). Not an API: only core/ops/
 * files include it.
 */
#ifndef MQTTLB_CORE_OPS_STATS_INT_H
#define MQTTLB_CORE_OPS_STATS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ops/stats.h"

int stats__puts(struct stats_buf *b, const char *s);
/* Whether a worker counter is one of the drops (summed as "dropped"). */
bool stats__is_drop(const char *worker_counter);
/* The docs of the kernel's socket counters, in their order. */
extern const char *const stats_kernel_docs[];
/* The balancer's counters of s as an array of LB_NSTATS values. */
const uint64_t *stats__lb_values(const struct stats_snapshot *s);

#endif
