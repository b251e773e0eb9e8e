/*
 * The resumable TLS ClientHello reader of `protocol: tls` listeners (TLS
 * passthrough, DESIGN.md "Other listeners"). It reads the client's side of
 * a TCP stream, handed over in arbitrary pieces, up to the end of its first
 * handshake message, checks that it is a well-formed ClientHello, and keeps
 * what routing needs: the server name (SNI), the ALPN protocols, whether
 * the hello is an ECH outer hello, and the versions. The broker, not the
 * balancer, terminates TLS: the caller replays the bytes it buffered.
 *
 * It is resumable at every byte, across TCP segments and across TLS
 * records (a handshake message may be fragmented over several records of
 * type 22, RFC 8446 §5.1). The hello's bytes are not kept: fields are read
 * as they go by, integers into a small accumulator, the host name and ALPN
 * list into fixed buffers of the state.
 *
 * What it accepts:
 *   - records of type handshake (22) only; a first byte with bit 7 set is
 *     an SSLv2-compatible hello, refused as such (TLS_HELLO_ERR_SSLV2);
 *     record versions 0x0300 to 0x0304 (clients send 0x0301 or 0x0303; SSL
 *     3.0 and a version above TLS 1.3 are let through for the broker to
 *     refuse with an alert), the first one kept in info.record_version;
 *     later records' versions are only checked for that range; record
 *     lengths 1 to 2^14 (RFC 8446 §5.1: no empty handshake records);
 *   - one handshake message of type client_hello, its body at most max_len;
 *   - legacy_version with major byte 3 (any minor: refusing a newer minor
 *     would be the version intolerance RFC 8446 §4.1.2 and appendix D warn
 *     of); a session id of 0..32 bytes; cipher suites of an even length,
 *     at least 2; at least one compression method; then either nothing
 *     (a hello without extensions, RFC 5246 §7.4.1.2) or an extensions
 *     block that exactly fills the rest of the body; every inner length
 *     exactly inside its enclosing one;
 *   - each extension type at most once (RFC 8446 §4.2), at most
 *     TLS_HELLO_MAX_EXTS extensions (real hellos carry 10 to 20; the bound
 *     keeps the duplicate check in fixed state);
 *   - server_name (RFC 6066 §3): a non-empty ServerNameList exactly filling
 *     the extension; entries of other name types skipped by their 16-bit
 *     length; at most one host_name, 1..255 bytes of letters, digits, '-',
 *     '_' and '.', with no empty label ('.' neither first nor after '.'),
 *     one trailing dot allowed. RFC 6066 says ASCII only (IDNs as A-labels)
 *     and no IP literals: bytes >= 0x80, NUL, ' ', '/', ':' and the rest are
 *     refused; an IPv4 literal passes (digits and dots). Case and a trailing
 *     dot are kept as sent: matching folds them (core/route/route_tls.h);
 *   - ALPN (RFC 7301 §3.1): a ProtocolNameList of at least 2 bytes exactly
 *     filling the extension, names of 1..255 bytes (any bytes) exactly
 *     filling the list. The first names that fit TLS_HELLO_ALPN_MAX bytes
 *     are kept; info.alpn_more says others were left out.
 * Other extensions (encrypted_client_hello included) are skipped unread.
 *
 * Bytes after the hello (in its last record, or later records: TLS 1.3
 * early data, a ChangeCipherSpec) are not consumed.
 *
 * The state (struct tls_hello, 728 bytes on x86-64) is all it uses.
 *
 * Must not: do I/O, allocate, store the hello, or read outside
 * [buf, buf + len).
 */
#ifndef MQTTLB_TLS_CLIENTHELLO_H
#define MQTTLB_TLS_CLIENTHELLO_H

#include <stddef.h>

#include "tls/clienthello-t.h"

/* A reader at the start of a stream. max_len: the largest handshake body
 * accepted (0: TLS_HELLO_MAX_DEFAULT); at most 2^24 - 1 counts. */
void tls_hello__init(struct tls_hello *h, uint32_t max_len);

/*
 * Reads buf[0..len) of the client's stream. Sets *used to the bytes
 * consumed and returns
 *   TLS_HELLO_NEED_MORE  all len bytes consumed (*used == len);
 *   TLS_HELLO_DONE       the hello ended at buf[*used - 1]; the bytes from
 *                        buf + *used on are not the hello's; tls_hello__info()
 *                        has the results. Sticky: later calls return DONE
 *                        again with *used = 0;
 *   TLS_HELLO_ERROR      tls_hello__error() says why; *used counts the bytes
 *                        up to the one that showed the error. Sticky: later
 *                        calls return ERROR with *used = 0.
 */
enum tls_hello_status tls_hello__feed(struct tls_hello *h, const uint8_t *buf, size_t len,
                                      size_t *used);

enum tls_hello_err tls_hello__error(const struct tls_hello *h);
/* A short stable name ("bad_sni"), for counters and logs. */
const char *tls_hello_err__str(enum tls_hello_err err);
/* Stream bytes consumed so far: at DONE, the hello's end in the stream. */
uint64_t tls_hello__offset(const struct tls_hello *h);
/* What the hello said, or NULL before DONE. */
const struct tls_hello_info *tls_hello__info(const struct tls_hello *h);

/*
 * The i-th protocol kept from the ALPN list (0 <= i < info.alpn_count):
 * *name (not NUL-terminated) and *len (1..255). False when there is no
 * such protocol, or before DONE.
 */
bool tls_hello__alpn(const struct tls_hello *h, unsigned i, const uint8_t **name, size_t *len);

#endif
