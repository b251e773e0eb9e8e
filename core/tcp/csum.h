/*
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624), for
 * the IPv4 header and for TCP over IPv4 and IPv6.
 *
 * Owns nothing: plain inline arithmetic, no state, no allocation. Used on the
 * hot path by the segment builders (full sums over a fresh segment) and by
 * the splice (addresses, ports, sequence numbers, windows rewritten in place,
 * the checksum patched rather than recomputed). Must not know about packet
 * layouts beyond the pseudo-headers.
 *
 * Byte order. The one's complement sum is independent of byte order
 * (RFC 1071 section 2(B)): summing 16-bit words as they lie in memory, loaded
 * in the host's order, and storing the folded result back the same way gives
 * the right bytes on either kind of host. So every value here is *raw*: the
 * bytes as they sit in the packet, loaded with memcpy (or read from a
 * network-order struct field) and never converted with ntohs/ntohl. Values
 * that do not come from the packet (protocol, length) are converted to
 * network order by the pseudo-header helpers.
 *
 * A partial sum is a uint64_t that is congruent to the one's complement sum
 * modulo 0xffff (2^16, 2^32 and 2^64 are all 1 modulo 0xffff, so a carry out
 * of any width may be added back in at the end). csum__fold turns it into
 * the value for a checksum field.
 */
#ifndef MQTTLB_CORE_CSUM_H
#define MQTTLB_CORE_CSUM_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Folds a partial sum to 16 bits with end-around carry, not complemented. */
static inline uint16_t csum__fold16(uint64_t sum)
{
        /*
         * Each step adds a value to itself rotated by half its width: the top
         * half is then the sum of the two halves with the carry out of the
         * bottom half added back in, the end-around carry. For x = a:b,
         * x + rot(x) = (a + b + carry(b + a)):(b + a) modulo the width.
         */
        uint64_t s = sum + (sum >> 32 | sum << 32);
        uint32_t x = (uint32_t)(s >> 32);

        x += x >> 16 | x << 16;
        return (uint16_t)(x >> 16);
}

/* The value to store in a checksum field (raw): the complement of the folded
 * sum (RFC 1071 section 1). Over bytes that include a correct checksum the
 * folded sum is 0xffff, so this returns 0. */
static inline uint16_t csum__fold(uint64_t sum)
{
        return (uint16_t)~csum__fold16(sum);
}

/*
 * Adds buf[0..len) to sum as 16-bit words in memory order. A stream may be
 * summed in pieces, each piece but the last of even length (an odd piece
 * would shift the bytes after it into the other half of their words). Eight
 * bytes per step: the two 32-bit halves of each word go into a 64-bit
 * accumulator, so no carry is lost as long as len < 2^31 after the incoming
 * sum was reduced to 33 bits.
 */
static inline uint64_t csum__partial(const void *buf, size_t len, uint64_t sum)
{
        const uint8_t *p = buf;
        uint64_t s = (sum & 0xffffffffu) + (sum >> 32), w;

        for (; len >= 8; p += 8, len -= 8) {
                memcpy(&w, p, 8);
                s += (w & 0xffffffffu) + (w >> 32);
        }
        if (len) { /* the tail, zero-padded: an odd last byte is a word's first byte */
                w = 0;
                memcpy(&w, p, len);
                s += (w & 0xffffffffu) + (w >> 32);
        }
        return s;
}

/* The IPv4 pseudo-header (RFC 9293 section 3.1; RFC 768 for UDP): source and
 * destination addresses (4 bytes each, raw), zero, protocol, and the length
 * of the transport header plus data (host order). */
static inline uint64_t csum__pseudo4(const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
                                     uint16_t l4_len)
{
        uint32_t a, b;

        memcpy(&a, saddr, 4);
        memcpy(&b, daddr, 4);
        return (uint64_t)a + b + htons(proto) + htons(l4_len);
}

/* The IPv6 pseudo-header (RFC 8200 section 8.1): addresses (16 bytes each,
 * raw), the 32-bit upper-layer length (host order), three zero bytes and the
 * next header. */
static inline uint64_t csum__pseudo6(const uint8_t *saddr, const uint8_t *daddr, uint8_t next,
                                     uint32_t l4_len)
{
        uint64_t sum = csum__partial(saddr, 16, 0);

        sum = csum__partial(daddr, 16, sum);
        return sum + htonl(l4_len) + htonl(next);
}

/*
 * Incremental update, RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), one's
 * complement additions. Unlike eqn. 2 (RFC 1141) it never turns a correct
 * checksum into -0 where +0 was due: the sum inside is 0 only when every
 * addend is, which cannot happen over TCP or IPv4 headers (the protocol and
 * version fields are never zero), so the result matches a full recomputation.
 * check, from and to are raw (as in the packet).
 */
static inline uint16_t csum__replace16(uint16_t check, uint16_t from, uint16_t to)
{
        uint64_t sum = (uint64_t)(uint16_t)~check + (uint16_t)~from + to;

        return csum__fold(sum);
}

/* The same for a 32-bit field (sequence or acknowledgement number, an IPv4
 * address): the two halves of ~from and of to are added at once (RFC 1624
 * section 3 applies word by word; the sum is associative). */
static inline uint16_t csum__replace32(uint16_t check, uint32_t from, uint32_t to)
{
        uint64_t sum = (uint64_t)(uint16_t)~check + (uint32_t)~from + to;

        return csum__fold(sum);
}

/* An address replaced in place: len is 4 (IPv4) or 16 (IPv6), from and to
 * are the raw address bytes. For IPv4 call it for the IP header checksum and
 * for the TCP checksum (the address is in its pseudo-header); IPv6 has only
 * the latter. */
static inline uint16_t csum__replace_addr(uint16_t check, const uint8_t *from, const uint8_t *to,
                                          size_t len)
{
        uint64_t sum = (uint16_t)~check;
        uint32_t a, b;

        for (size_t i = 0; i + 4 <= len; i += 4) {
                memcpy(&a, from + i, 4);
                memcpy(&b, to + i, 4);
                sum += (uint32_t)~a;
                sum += b;
        }
        return csum__fold(sum);
}

#endif
