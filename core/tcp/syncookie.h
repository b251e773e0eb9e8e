/*
 * SYN cookies (RFC 4987 section 3.6): the worker answers a client's SYN with
 * a SYN-ACK whose initial sequence number encodes and authenticates what it
 * must remember of the SYN, so nothing is stored until the client's final
 * ACK proves it received the SYN-ACK (DESIGN.md "Why delayed binding").
 *
 * Owns the cookie format and the keys. Must not keep per-connection state,
 * allocate, or make a system call per packet (syncookie__make and
 * syncookie__check are pure functions of their arguments); only
 * syncookie_secret__init and __rotate read the kernel's random source.
 *
 * Timestamps are not negotiated on either leg (DESIGN.md), so unlike Linux
 * the options cannot hide in the TSval: everything is in the 32 bits.
 *
 * Cookie layout, most significant bit first:
 *
 *   31     key generation parity, in the clear (selects the key to check with)
 *   30-29  time slot (now_s / 64) modulo 4              \
 *   28-26  MSS index into syncookie_mss_table            | 10 bits, XORed with
 *   25-22  client window scale 0-14, 15 = none           | a keyed hash of the
 *   21     client sent SACK-permitted                    / tuple and ISN
 *   20-0   MAC: keyed hash of tuple, ISN, full slot, bits 31-21
 *
 * Why so: the fields cost MAC bits, so each is as small as it can be.
 *   - Two bits of time are enough: the MAC covers the full slot number, so
 *     a cookie four slots old decodes as a current one and fails the MAC. The
 *     cookie is valid in the slot it was made and the next (64 to 128 s of
 *     life); two or three slots later it is authentic but expired
 *     (-ETIMEDOUT); later still it is just invalid (-EINVAL).
 *   - Three bits of MSS: eight common values, rounded down (Linux keeps two
 *     bits and four values; with no timestamp to carry the window scale we
 *     can afford three, not more).
 *   - Window scale needs its full range (RFC 7323 section 2.3) and a "none":
 *     without it the worker must not scale at all (section 2.2).
 *   - The whitening keeps the initial sequence number unpredictable in all
 *     32 bits (RFC 6528): with the fields in the clear an off-path attacker
 *     would know 11 of them and need only 2^21 / window guesses to land a
 *     segment in the window. Only the generation bit is left in the clear
 *     (the key must be known before anything can be unwhitened).
 *   - That leaves 21 MAC bits. A blind attacker sending ACKs with guessed
 *     cookies wins with probability 2^-22 per ACK: 32 bits, less the 8 bits
 *     of options, less one for the generation bit, less one because two
 *     slots are live (the whitened time field works as one more check bit).
 *     Linux does better, about 2^-29 (an 8-bit time of which 2 values are
 *     live, and a 24-bit field that must decode to one of 4 MSS indices),
 *     because it carries only the MSS index in the cookie and hides window
 *     scale and SACK in the timestamp; with no timestamps the options must
 *     pay for their bits here. A success buys
 *     an unbound connection in the flow table (bounded, timed out; at 1 Mpps
 *     of spoofed ACKs about one every 4 s), never another client's data.
 */
#ifndef MQTTLB_CORE_SYNCOOKIE_H
#define MQTTLB_CORE_SYNCOOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tcp/flow-t.h"

/* A slot is 64 s; a cookie is good in its slot and the next one. */
#define SYNCOOKIE_SLOT_SHIFT 6
#define SYNCOOKIE_SLOT_S     (1u << SYNCOOKIE_SLOT_SHIFT)

/* Rotate no faster than this: a key must outlive the cookies made with it
 * (a cookie made just before a rotation lives one more rotation period). */
#define SYNCOOKIE_ROTATE_MIN_S SYNCOOKIE_SLOT_S

/*
 * The largest MSS either leg is given, so that one segment always fits one
 * UMEM frame (DESIGN.md "Why delayed binding", last paragraph): the 4096-byte
 * frame (xsk/umem.h UMEM_FRAME_SIZE), minus the 256 bytes the kernel keeps in
 * front of the data in every chunk (XDP_PACKET_HEADROOM), minus the largest
 * headers a segment may carry: Ethernet 14, two VLAN tags 8 (core/tcp/packet.h
 * PACKET_VLANS), IPv4 with options 60 (more than IPv6's 40), TCP with options
 * 60. RFC 6691 lets a sender count options against the MSS, but we do not
 * rely on every sender doing so. 4096 - 256 - 14 - 8 - 60 - 60 = 3698.
 */
#define SYNCOOKIE_MSS_CLAMP 3698u

/* MSS when the SYN carried none (RFC 9293 section 3.7.1; RFC 8200 section 5:
 * the IPv6 minimum MTU 1280 less 60). */
#define SYNCOOKIE_MSS_DEFAULT4 536u
#define SYNCOOKIE_MSS_DEFAULT6 1220u

#define SYNCOOKIE_MSS_COUNT 8
/* Ascending: 536 (IPv4 default), 1220 (IPv6 minimum), 1360, 1400 (tunnels,
 * VPNs), 1440 (IPv6 on Ethernet), 1452 (PPPoE), 1460 (IPv4 on Ethernet), the
 * clamp (jumbo frames and loopback-sized MSS). */
extern const uint16_t syncookie_mss_table[SYNCOOKIE_MSS_COUNT];

#define SYNCOOKIE_WSCALE_MAX  14   /* RFC 7323 section 2.3 */
#define SYNCOOKIE_WSCALE_NONE 0xff /* the SYN had no window scale option */

/* Bytes of random key per generation: XXH3's default secret size (at least
 * XXH3_SECRET_SIZE_MIN, 136, is required). */
#define SYNCOOKIE_KEY_SIZE 192

/*
 * Two keys: key[gen & 1] is the current one, key[(gen - 1) & 1] the previous.
 * The caller owns it (one per worker: the SYN and the final ACK of a
 * connection land on the same queue, DESIGN.md "Threads and ownership") and
 * calls syncookie_secret__rotate every SYNCOOKIE_ROTATE_MIN_S seconds or more.
 */
struct syncookie_secret {
        uint8_t key[2][SYNCOOKIE_KEY_SIZE];
        uint32_t gen;
};

/* The connection is named by its flow key (core/tcp/flow-t.h) as seen in the
 * client's SYN and final ACK: saddr/sport is the client, daddr/dport the
 * address it connected to; of an IPv4 address only the first 4 bytes count. */

/* What the client's SYN said, and what the cookie gives back. */
struct syncookie_opts {
        uint16_t mss;   /* make: the client's MSS; check: rounded down to the table */
        uint8_t wscale; /* 0-14 (more means 14), or SYNCOOKIE_WSCALE_NONE */
        bool sack_ok;   /* SACK-permitted (RFC 2018) */
};

/* Fills both keys from getrandom(2) (may block once at early boot until the
 * kernel's pool is ready; never after). Returns 0 or -errno. */
int syncookie_secret__init(struct syncookie_secret *s);

/* Starts a new generation with a fresh random key; the current key becomes
 * the previous one and the previous one is forgotten. Returns 0 or -errno
 * (the old keys stay in use on failure). */
int syncookie_secret__rotate(struct syncookie_secret *s);

/* The same with a key given by the caller (tests, or a control thread that
 * hands out keys): key must be SYNCOOKIE_KEY_SIZE random bytes. */
void syncookie_secret__rotate_to(struct syncookie_secret *s, const uint8_t *key);

/* The MSS index for a client MSS: the largest table entry <= min(mss,
 * SYNCOOKIE_MSS_CLAMP), or 0 (536) when mss is smaller than every entry, as
 * Linux does. A caller that refuses tiny MSS values must check first. */
unsigned syncookie__mss_index(uint16_t mss);

/* The initial sequence number for the SYN-ACK answering a SYN of tuple t
 * with sequence number client_isn, at time now_s (seconds, any monotonic
 * origin, the same clock as for syncookie__check). */
uint32_t syncookie__make(const struct syncookie_secret *s, const struct flow_key *t,
                         uint32_t client_isn, uint32_t now_s, const struct syncookie_opts *o);

/*
 * Checks the cookie of a final ACK: cookie = its acknowledgement number - 1,
 * client_isn = its sequence number - 1. Returns 0 and fills *out (when not
 * NULL), -ETIMEDOUT for an authentic cookie two or three slots old, or
 * -EINVAL for anything else (forged, another tuple or ISN, a key rotated out,
 * or older than that). Hashes twice whatever the outcome.
 */
int syncookie__check(const struct syncookie_secret *s, const struct flow_key *t, uint32_t cookie,
                     uint32_t client_isn, uint32_t now_s, struct syncookie_opts *out);

#endif
