/*
 * The routes of TLS listeners (DESIGN.md "Other listeners"): server names
 * (SNI) and ALPN protocols -> pool.
 *
 * A ClientHello is matched in this order: an exact server name, then the
 * longest "*.suffix" wildcard its name ends with (any number of labels in
 * front: "*.example.net" matches "a.example.net" and "a.b.example.net", not
 * "example.net"), then the first ALPN route, in the order added, whose
 * protocol the client offers. Names compare case-insensitively and a
 * trailing dot is ignored ("Apples.Example.NET." is "apples.example.net").
 * What happens when nothing matches (the listener's pool, the default pool)
 * is the caller's business.
 *
 * Owns its copies of the names and protocols. Lookups run once per TLS
 * connection in the workers: they never allocate and never write. Pools are
 * plain indices here.
 */
#ifndef MQTTLB_CORE_ROUTE_TLS_H
#define MQTTLB_CORE_ROUTE_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "core/route/route.h"

#define TLS_NAME_MAX 253 /* a DNS name's length without its trailing dot (RFC 1035 3.1) */

struct tls_routes;

/* An empty table. NULL when out of memory. */
struct tls_routes *tls_routes__new(void);
void tls_routes__free(struct tls_routes *t);

/*
 * Why name[0..len) cannot be an sni route, or NULL when it can: a host name
 * of labels of letters, digits, '-' and '_' (1 to 63 bytes each, at most
 * TLS_NAME_MAX in all, a trailing dot allowed), optionally after "*." (a
 * wildcard: any name ending with the rest).
 */
const char *tls_routes__check_name(const char *name, size_t len);

/*
 * Adds "server name -> pool" (pool >= 0): exact, or "*.suffix". Returns 0,
 * ROUTE_DUPLICATE for a name already there (the first stays), -EINVAL for a
 * name tls_routes__check_name refuses, -ENOMEM.
 */
int tls_routes__add_sni(struct tls_routes *t, const char *name, size_t len, int pool);

/*
 * Adds "ALPN protocol -> pool": proto[0..len), 1 to 255 bytes, compared
 * byte for byte (RFC 7301: protocol names are octet strings). Returns 0,
 * ROUTE_DUPLICATE, -EINVAL, -ENOMEM.
 */
int tls_routes__add_alpn(struct tls_routes *t, const uint8_t *proto, size_t len, int pool);

/* The pool of a server name as sent (any case, a trailing dot), or ROUTE_NONE. */
int tls_routes__match_sni(const struct tls_routes *t, const uint8_t *name, size_t len);

/*
 * The pool of the first ALPN route whose protocol the client offers, or
 * ROUTE_NONE. list[0..len) is the ClientHello's ProtocolNameList as on the
 * wire (each name after its length byte), as the TLS reader checked it.
 * *proto / *proto_len: the protocol that matched (a view into list).
 */
int tls_routes__match_alpn(const struct tls_routes *t, const uint8_t *list, size_t len,
                           const uint8_t **proto, uint8_t *proto_len);

/* Routes in the table (both kinds). */
uint32_t tls_routes__count(const struct tls_routes *t);

#endif
