/*
 * The Prometheus endpoint: an HTTP server (libmicrohttpd, its own polling
 * thread) on config `admin.metrics` ("ADDR:PORT", IPv4 or "[IPv6]:PORT")
 * answering GET (and HEAD) /metrics with the text exposition format 0.0.4
 * rendered by the owner's stats_render_fn; 404 for any other path, 405 for
 * any other method.
 *
 * Owns the listening socket, the daemon and its thread; renders nothing
 * itself.
 */
#ifndef MQTTLB_CORE_METRICS_H
#define MQTTLB_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ops/stats.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics;

/*
 * Listens on addr (port 0: one the kernel picks, see metrics__port) and
 * starts serving. On failure returns -errno with a message naming addr in
 * err: -EINVAL for an address that does not parse, the socket call's errno
 * (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES …), -ENOMEM when the daemon does not
 * start.
 */
int metrics__start(struct metrics **out, const char *addr, stats_render_fn *render, void *ctx,
                   char *err, size_t errlen);
/* The port it listens on (host order). */
uint16_t metrics__port(const struct metrics *m);
/* Stops the daemon and joins its thread. NULL is a no-op. */
void metrics__stop(struct metrics *m);

#endif
