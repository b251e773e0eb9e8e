/*
 * SYN cookies: encoding, keyed hash, keys. The layout and its reasons are in
 * core/tcp/syncookie.h.
 *
 * Owns the keys' contents. Must not store anything per connection nor read
 * the clock itself: the caller passes the time, so tests (and offline
 * replays) control it.
 *
 * The keyed hash. The textbook choice for a MAC over attacker-chosen short
 * inputs is SipHash-2-4, a PRF designed for exactly this. We use XXH3 with a
 * 192-byte random secret (XXH3_64bits_withSecret) instead, as some load
 * balancers do, and say honestly what that trades:
 *   - XXH3 is not a cryptographic function. It resists blind collisions when
 *     the secret is random, but nobody has shown that its secret cannot be
 *     recovered from enough chosen-input outputs; an attacker gets one
 *     (truncated) output per SYN he sends from an address he owns. For our
 *     48-byte input XXH3 reads 64 bytes of the secret (its 17-128 byte path),
 *     i.e. 512 unknown bits, and we reveal only 21 MAC bits and 10 whitened
 *     bits per cookie.
 *   - What a broken key would buy: cookies for spoofed addresses, i.e. the
 *     SYN-flood protection reduced to the flow table's own limits on unbound
 *     connections (bounded and timed out). No data, no hijack: a cookie is
 *     also a function of the client's own ISN, which an off-path attacker
 *     does not see, so even a known key does not predict the sequence
 *     numbers of someone else's connection.
 *   - Rotation bounds the damage in time: a key lives two rotation periods.
 *   - In exchange: no new dependency (xxhash is already linked for Maglev)
 *     and a cheaper hash: on 48 bytes XXH3 does four 64x64->128 multiplies
 *     and an avalanche, SipHash-2-4 sixteen ARX rounds. At this size the gap
 *     is tens of cycles, not an order of magnitude: measured on the
 *     development VM (-O2), syncookie__make and __check cost 50-60 ns each,
 *     two library calls to XXH3 included. Honestly, then, the choice is
 *     mostly about the dependency; the per-SYN cost under a flood would
 *     survive SipHash.
 * If the threat model changes, syncookie_hash below is the only function to
 * replace (SipHash-2-4 keyed with 128 bits of the key).
 */
#include "core/tcp/syncookie.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

_Static_assert(SYNCOOKIE_KEY_SIZE >= XXH3_SECRET_SIZE_MIN, "XXH3 needs a larger secret");
_Static_assert(SYNCOOKIE_MSS_CLAMP == 4096 - 256 - 14 - 8 - 60 - 60, "see syncookie.h");

const uint16_t syncookie_mss_table[SYNCOOKIE_MSS_COUNT] = {
    536, 1220, 1360, 1400, 1440, 1452, 1460, SYNCOOKIE_MSS_CLAMP,
};

/* Bit positions (syncookie.h). */
#define GEN_SHIFT    31
#define FIELDS_SHIFT 21
#define FIELDS_MASK  0x3ffu /* time 2, MSS 3, wscale 4, SACK 1 */
#define TIME_SHIFT   8
#define MSS_SHIFT    5
#define WS_SHIFT     1
#define WS_NONE      15u
#define MAC_MASK     0x1fffffu
/* Slots are counted in 26 bits (a 32-bit second counter / 64), so the slot
 * arithmetic wraps where the clock does. */
#define SLOT_MASK (UINT32_MAX >> SYNCOOKIE_SLOT_SHIFT)

/* Domain separation: the whitening and the MAC are two functions of the
 * same key. */
#define DOMAIN_WHITEN 'W'
#define DOMAIN_MAC    'M'

#define HASH_INPUT 48

/* The keyed hash of the tuple, the client's ISN, and (for the MAC) the full
 * slot and the cookie's other bits. Fixed size and zero-filled, so an IPv4
 * and an IPv6 tuple never share an input (the family byte differs too). */
static uint64_t syncookie_hash(const uint8_t *key, uint8_t domain, const struct flow_key *t,
                               uint32_t isn, uint32_t slot, uint16_t bits)
{
        uint8_t in[HASH_INPUT] = {0};
        size_t alen = t->family == 4 ? 4 : 16;

        in[0] = domain;
        in[1] = t->family;
        memcpy(in + 2, &t->sport, 2);
        memcpy(in + 4, &t->dport, 2);
        memcpy(in + 6, &bits, 2);
        memcpy(in + 8, &isn, 4);
        memcpy(in + 12, &slot, 4);
        memcpy(in + 16, t->saddr, alen);
        memcpy(in + 32, t->daddr, alen);
        return XXH3_64bits_withSecret(in, sizeof(in), key, SYNCOOKIE_KEY_SIZE);
}

static uint32_t whiten(const uint8_t *key, const struct flow_key *t, uint32_t isn)
{
        return (uint32_t)(syncookie_hash(key, DOMAIN_WHITEN, t, isn, 0, 0) >> 54) & FIELDS_MASK;
}

static uint32_t mac(const uint8_t *key, const struct flow_key *t, uint32_t isn, uint32_t slot,
                    uint32_t gen_fields)
{
        return (uint32_t)syncookie_hash(key, DOMAIN_MAC, t, isn, slot, (uint16_t)gen_fields) &
               MAC_MASK;
}

static int fill_random(uint8_t *p, size_t len)
{
        while (len) {
                ssize_t n = getrandom(p, len, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int syncookie_secret__init(struct syncookie_secret *s)
{
        uint32_t gen;
        int err;

        err = fill_random((uint8_t *)s->key, sizeof(s->key));
        if (err)
                return err;
        /* Any start will do; a random one keeps restarts from repeating. */
        err = fill_random((uint8_t *)&gen, sizeof(gen));
        if (err)
                return err;
        s->gen = gen;
        return 0;
}

int syncookie_secret__rotate(struct syncookie_secret *s)
{
        uint8_t key[SYNCOOKIE_KEY_SIZE];
        int err = fill_random(key, sizeof(key));

        if (err)
                return err;
        syncookie_secret__rotate_to(s, key);
        explicit_bzero(key, sizeof(key));
        return 0;
}

void syncookie_secret__rotate_to(struct syncookie_secret *s, const uint8_t *key)
{
        /* Overwrites the key two generations back: its cookies die here. */
        memcpy(s->key[(s->gen + 1) & 1], key, SYNCOOKIE_KEY_SIZE);
        s->gen++;
}

unsigned syncookie__mss_index(uint16_t mss)
{
        unsigned i = SYNCOOKIE_MSS_COUNT - 1;

        while (i > 0 && syncookie_mss_table[i] > mss)
                i--;
        return i;
}

uint32_t syncookie__make(const struct syncookie_secret *s, const struct flow_key *t,
                         uint32_t client_isn, uint32_t now_s, const struct syncookie_opts *o)
{
        uint32_t g = s->gen & 1, slot = now_s >> SYNCOOKIE_SLOT_SHIFT, ws, fields;
        const uint8_t *key = s->key[g];

        if (o->wscale == SYNCOOKIE_WSCALE_NONE)
                ws = WS_NONE;
        else /* RFC 7323 section 2.3: a shift count above 14 means 14 */
                ws = o->wscale > SYNCOOKIE_WSCALE_MAX ? SYNCOOKIE_WSCALE_MAX : o->wscale;
        fields = (slot & 3) << TIME_SHIFT | syncookie__mss_index(o->mss) << MSS_SHIFT |
                 ws << WS_SHIFT | (o->sack_ok ? 1u : 0u);
        return g << GEN_SHIFT | (fields ^ whiten(key, t, client_isn)) << FIELDS_SHIFT |
               mac(key, t, client_isn, slot, g << 10 | fields);
}

int syncookie__check(const struct syncookie_secret *s, const struct flow_key *t, uint32_t cookie,
                     uint32_t client_isn, uint32_t now_s, struct syncookie_opts *out)
{
        /* The parity bit indexes the keys directly: key[gen & 1] is current,
         * the other one previous (and a key two rotations old is gone). */
        uint32_t g = cookie >> GEN_SHIFT, now_slot = now_s >> SYNCOOKIE_SLOT_SHIFT;
        const uint8_t *key = s->key[g];
        uint32_t fields, age, ws;

        if (t->family != 4 && t->family != 6)
                return -EINVAL;
        fields = ((cookie >> FIELDS_SHIFT) & FIELDS_MASK) ^ whiten(key, t, client_isn);
        /* The latest slot <= now with these two low bits; the MAC covers the
         * full slot, so a wrong guess (a cookie 4+ slots old) fails it. */
        age = (now_slot - (fields >> TIME_SHIFT)) & 3;
        if (mac(key, t, client_isn, (now_slot - age) & SLOT_MASK, g << 10 | fields) !=
            (cookie & MAC_MASK))
                return -EINVAL;
        if (age > 1)
                return -ETIMEDOUT;
        if (out) {
                ws = (fields >> WS_SHIFT) & 0xf;
                out->mss = syncookie_mss_table[(fields >> MSS_SHIFT) & 7];
                out->wscale = ws == WS_NONE ? SYNCOOKIE_WSCALE_NONE : (uint8_t)ws;
                out->sack_ok = fields & 1;
        }
        return 0;
}
