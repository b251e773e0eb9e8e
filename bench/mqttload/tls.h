/*
 * mqttload over TLS (--tls): OpenSSL on memory BIOs, so the ring keeps doing
 * all the socket I/O. The ring's recv hands the bytes it read to OpenSSL
 * (the network-side BIO); what OpenSSL wants to send (the handshake, the
 * encrypted MQTT packets) waits in the other BIO until conn.c sends it. The
 * handshake is therefore as non-blocking as the rest of the engine: one step
 * per read, no thread ever waits on it.
 *
 * One SSL_CTX for the run (built from the options, shared by the threads);
 * one SSL per connection attempt, freed when the connection closes.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_TLS_H
#define MQTTLB_BENCH_MQTTLOAD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/mqttload/load.h"

/* The run's context from --cafile, --tls-version, --tls-resume; NULL with a
 * message in err when it cannot be built (a CA file that does not load). */
struct ssl_ctx_st *tls__ctx_new(const struct load_cfg *cfg, char *err, size_t errlen);
void tls__ctx_free(struct ssl_ctx_st *ctx);

/* TCP is up: a fresh SSL for c, its ClientHello queued. 0 or -ENOMEM/-EIO. */
int tls__start(struct conn *c);

enum tls_step {
        TLS_STEP_AGAIN = 0, /* the handshake goes on: wait for more bytes */
        TLS_STEP_DONE,      /* the handshake has just completed */
        TLS_STEP_OPEN,      /* established (plaintext, if any, was read) */
        TLS_STEP_CLOSED,    /* the peer sent close_notify */
        TLS_STEP_ERROR,     /* a failed handshake or a bad record */
};

/* n bytes read from the socket: fed to OpenSSL, the handshake advanced, and
 * once it is done whatever plaintext there is appended to c->rx (grown as
 * needed; packets are cut out by the caller). */
enum tls_step tls__input(struct conn *c, const uint8_t *buf, uint32_t n);

/* The handshake just completed resumed a session (--tls-resume). */
bool tls__reused(const struct conn *c);

/* Encrypts len bytes of plaintext into the outgoing BIO. 0 or -EIO. */
int tls__write(struct conn *c, const uint8_t *buf, uint32_t len);

/* Bytes waiting to go out on the socket. */
uint32_t tls__pending(const struct conn *c);
/* Takes up to cap of them into out; returns how many. */
uint32_t tls__take(struct conn *c, uint8_t *out, uint32_t cap);

/* The connection closed: the SSL freed (its session kept with --tls-resume). */
void tls__end(struct conn *c);
/* The client's kept session freed (at the end of the run). */
void tls__forget(struct conn *c);

/* A description of the first error on this thread's OpenSSL queue (or of
 * the SSL's verify result), in a static per-thread buffer. */
const char *tls__why(struct conn *c);

#endif
