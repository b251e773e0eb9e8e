/*
 * Active broker health checks: for each broker, every interval, a TCP
 * connection through the kernel's stack, an MQTT CONNECT, the CONNACK read
 * and judged, a DISCONNECT, and the connection closed. Per broker, the check
 * can run inside a TLS session (a handshake first), or stop at the TCP
 * connect or the TLS handshake (struct health_target). Rise/fall counting
 * turns the results into up/down, and a callback reports each change. The
 * capabilities of the last accepted v5 CONNACK are kept, for the balancer's
 * self-answered CONNACKs (DESIGN "Routing").
 *
 * Owns its own io_uring (every connect, send, receive and timer goes through
 * it), one socket per check in flight and nothing else. Single-threaded: the
 * control thread polls health__fd() in its own loop and calls health__run()
 * when it is readable; nothing here ever blocks, sleeps or prints. At most one
 * check per broker is in flight and nothing is allocated per check but a TLS
 * check's session (SSL_new, and what OpenSSL allocates inside it): every
 * buffer is sized by health__new(). It does not touch the routing tables: the
 * caller takes brokers out of (and back into) their pools from the callback.
 *
 * A check: CONNECT with MQTT 5.0, clean start, keep alive 60, client id
 * "mqttlb-health-<pid>-<idx>", no user name. It passes when the CONNACK's
 * reason code (3.1.1: return code) is 0; anything else, or nothing by the
 * deadline (the check's start + timeout, which covers the connect, the TLS
 * handshake and the CONNACK), fails it. Protocol version:
 *   - A broker that answers the v5 CONNECT with "unsupported protocol
 *     version" (5.0 reason 0x84, or the 3.1.1 return code 0x01 in a 2-byte
 *     CONNACK, 3.1.1 §3.2.2.3) is asked again at once over 3.1.1 within the
 *     same check and deadline, and is checked with 3.1.1 from then on. The
 *     refusal itself is not a failure: a 3.1.1-only broker never loses a
 *     check to its version.
 *   - A broker that closes (FIN or RST) before any CONNACK to a v5 CONNECT
 *     is asked over 3.1.1 too (some 3.x brokers drop a CONNECT whose level
 *     they do not know). If 3.1.1 passes, the broker is checked with 3.1.1;
 *     if it fails as well, the close was not about the version: the check
 *     fails with the 3.1.1 attempt's reason and the next one starts with v5
 *     again.
 *   - A broker checked with 3.1.1 gets a v5 CONNECT again every
 *     HEALTH_V5_RETRY checks (with the same fallback), so an upgraded broker
 *     gets its capabilities read; its v5 CONNACK moves it back to v5.
 *
 * Schedule: every broker is checked at once when health__run() first runs
 * (health__fd() is readable right after health__new()). After that broker
 * idx is checked at t0 + idx * interval / n + k * interval (the first such
 * time after its first check), so n brokers are spread evenly over the
 * interval. A check still in flight at its next slot (timeout >= interval)
 * skips that slot.
 */
#ifndef MQTTLB_CORE_HEALTH_H
#define MQTTLB_CORE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/control/nexthop.h"
#include "mqtt/mqtt-t.h"

#define HEALTH_TARGETS_MAX 4096  /* brokers one checker watches */
#define HEALTH_REASON_MAX  96    /* bytes of a reason, with its NUL */
#define HEALTH_V5_RETRY    16    /* a 3.1.1 broker gets a v5 CONNECT every this many checks */
#define HEALTH_CONNACK_MAX 65536 /* CONNACK remaining length accepted (properties, strings) */

/* What a check asks of a broker. */
enum health_check {
        HEALTH_CHECK_MQTT = 0, /* CONNECT, CONNACK judged, DISCONNECT (the default) */
        HEALTH_CHECK_TCP,      /* the connect (with tls: the handshake) completes; closed */
};

/*
 * One broker to check. Zeroed but for addr, port and name, it is today's
 * check: MQTT over plain TCP.
 *
 * With tls, the check first does a TLS handshake (OpenSSL, TLS 1.2 or 1.3),
 * then runs its kind inside the session: the CONNECT and CONNACK through
 * it, or for HEALTH_CHECK_TCP, the handshake completing is the pass. After
 * a pass: DISCONNECT (MQTT) and close_notify, then the close.
 *
 * The four strings are read by health__new() only, never kept (the server
 * name is copied, the files are loaded into an SSL_CTX there: new
 * certificates are read by the next checker, at a reload); NULL or "" is
 * none. Targets with the same three files share one SSL_CTX.
 *   - server_name: sent as SNI (unless it is an IPv4/IPv6 literal, which
 *     RFC 6066 §3 forbids in SNI), and with ca_file, the name (or address)
 *     the broker's certificate must carry. None: no SNI.
 *   - cert_file + key_file (PEM; both or neither): a client certificate,
 *     for brokers that require one (mTLS). cert_file may hold the chain.
 *   - ca_file (PEM): when given, the broker's chain must verify against it,
 *     and its name against server_name when that is given. When not given
 *     NOTHING is verified: any certificate passes, so the check tests that
 *     the broker is alive and speaks TLS, not who it is.
 */
struct health_target {
        struct ip_addr addr;
        uint16_t port;
        char name[64];          /* for the caller's logs and for errors */
        enum health_check kind; /* HEALTH_CHECK_MQTT (0) or HEALTH_CHECK_TCP */
        bool tls;
        const char *server_name;
        const char *cert_file;
        const char *key_file;
        const char *ca_file;
};

struct health_cfg {
        uint32_t interval_ms; /* between two checks of one broker; >= 1 */
        uint32_t timeout_ms;  /* one check, connect to CONNACK; >= 1 */
        uint32_t rise;        /* consecutive passes that bring a down broker up; >= 1 */
        uint32_t fall;        /* consecutive failures that take an up broker down; >= 1 */
};

/*
 * A broker changed state. Called from health__run() only, once per change.
 * reason: when down, why the last check failed, e.g. "connect: Connection
 * refused", "timeout after 1000 ms", "CONNACK refused: 0x87 Not authorized",
 * "closed before CONNACK", "TLS handshake: timeout after 1000 ms", "TLS
 * handshake: certificate verify failed (hostname mismatch)", "TLS handshake:
 * sslv3 alert handshake failure" (OpenSSL's reason, or the alert received),
 * "TLS: closed before CONNACK", "TLS: tlsv13 alert certificate required";
 * when up, what passed, e.g. "2 checks passed (MQTT 5.0)", "(MQTT 3.1.1 over
 * TLS)", "(TCP connect)", "(TLS handshake)". Valid during the call. The callback may call the
 * accessors below but not health__free().
 */
typedef void health_change_fn(void *ctx, uint32_t idx, bool up, const char *reason);

/* Counters of one broker. A check is counted when it ends. */
struct health_stats {
        uint64_t checks; /* ok + failed */
        uint64_t ok;
        uint64_t failed;
        uint8_t version; /* enum mqtt_version the next check starts with: MQTT_V5 or MQTT_V311 */
};

struct health;

/*
 * A checker for t[0..n) (copied; n <= HEALTH_TARGETS_MAX, may be 0). Every
 * broker starts up. Nothing is sent before the first health__run(). Returns
 * 0, or -EINVAL (a cfg value of 0, an address family other than 4 or 6, too
 * many targets, an unknown kind, a TLS file that does not load, cert_file
 * without key_file), -ENOMEM, or the io_uring's -errno, with the reason in
 * err (e.g. "health: b1: ca_file /etc/ca.pem: No such file or directory").
 */
int health__new(struct health **out, const struct health_cfg *cfg, const struct health_target *t,
                uint32_t n, health_change_fn *cb, void *ctx, char *err, size_t errlen);

/* Cancels every operation in flight, closes every socket, frees h (NULL is fine). */
void health__free(struct health *h);

/* The ring's fd: readable (POLLIN) when health__run() has work. */
int health__fd(const struct health *h);

/*
 * Reaps what completed, judges checks, calls the callback for changes, starts
 * the checks that are due and arms the timer for the next one. Never blocks.
 * Always from the same thread: io_uring completes network operations and
 * timers through the thread that submitted them (task work), so that thread
 * must be the one that waits on health__fd().
 */
void health__run(struct health *h);

/* Sets broker idx's state without a callback, before its first check (a
 * reload carries a broker's state over to the new checker: no flap). */
void health__set_up(struct health *h, uint32_t idx, bool up);

/* Whether broker idx (< n) is up. */
bool health__up(const struct health *h, uint32_t idx);

/*
 * The capabilities of broker idx's last accepted v5 CONNACK into *out. False
 * (and *out untouched) when it never accepted a v5 CONNECT, or its last
 * accepted check was over 3.1.1. A broker that goes down keeps its caps.
 */
bool health__caps(const struct health *h, uint32_t idx, struct mqtt_caps *out);

/* The counters of broker idx. */
void health__stats(const struct health *h, uint32_t idx, struct health_stats *out);

/* Why broker idx's last failed check failed; "" when none has. */
const char *health__last_error(const struct health *h, uint32_t idx);

/* The name of a CONNACK code: 5.0 §3.2.2.2 when v5, else 3.1.1 §3.2.2.3 ("?" when unknown). */
const char *health__connack_str(uint8_t code, bool v5);

#endif
