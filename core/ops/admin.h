/*
 * The admin socket: a Unix stream socket (config `admin.socket`, default
 * /run/mqttlb.sock) where `mqttlb stats` asks a running instance for its
 * counters. Protocol: the client sends one line, "stats json", "stats text"
 * or "stats prometheus" (at most ADMIN_LINE_MAX bytes with its newline); the
 * server writes the rendering and closes. A request it cannot serve is
 * answered with one line "error: MESSAGE".
 *
 * The server is a thread of its own serving one client at a time; a client
 * gets ADMIN_TIMEOUT_MS to send its line and to take the answer, so a stuck
 * one delays the others at most that long. Socket mode 0660. A socket file
 * left by an instance that died is replaced; one another instance still
 * answers on is not. The file is removed at stop (if it is still ours).
 *
 * Owns the socket, its file and the thread; renders nothing itself (the
 * owner's stats_render_fn does, on the admin thread).
 */
#ifndef MQTTLB_CORE_ADMIN_H
#define MQTTLB_CORE_ADMIN_H

#include <stddef.h>

#include "core/ops/stats.h"

#define ADMIN_SOCKET_DEFAULT "/run/mqttlb.sock"
#define ADMIN_LINE_MAX       256
#define ADMIN_TIMEOUT_MS     2000

struct admin;

/*
 * Binds path and starts the thread. On failure returns -errno with a message
 * naming path in err: -EADDRINUSE "PATH: another mqttlb is listening",
 * -EEXIST when path exists and is not a socket, -ENAMETOOLONG, or the
 * socket call's errno.
 */
int admin__start(struct admin **out, const char *path, stats_render_fn *render, void *ctx,
                 char *err, size_t errlen);
/* Stops and joins the thread, closes the socket and removes its file.
 * NULL is a no-op. */
void admin__stop(struct admin *a);

/*
 * The client side (mqttlb stats): connects to path, sends request (one line,
 * without its newline) and appends the answer to out. 0; -errno when it
 * cannot connect or the exchange fails (err: "PATH: cannot connect: REASON");
 * -EPROTO when the server answered "error: …" (err: that message).
 * timeout_ms bounds each wait for the server.
 */
int admin__query(const char *path, const char *request, int timeout_ms, struct stats_buf *out,
                 char *err, size_t errlen);

#endif
