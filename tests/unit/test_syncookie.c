/*
 * SYN cookies (core/tcp/syncookie.c): every option combination survives the round
 * trip; a cookie checked against another tuple, another ISN, with any one bit
 * flipped or under another key fails; expiry after two slots (-ETIMEDOUT,
 * then -EINVAL), across the clock's wrap; the previous key validates one
 * rotation later and not two; and the bits look uniform over 100k tuples.
 * Keys are fixed (derived from a seed) so every run checks the same cookies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/tcp/syncookie.h"

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static void key_from_seed(uint8_t *key, uint64_t seed)
{
        for (size_t i = 0; i < SYNCOOKIE_KEY_SIZE; i += 8) {
                uint64_t v = splitmix64(&seed);

                memcpy(key + i, &v, 8);
        }
}

/* Both keys from a seed, generation 0. */
static void secret_fixed(struct syncookie_secret *s, uint64_t seed)
{
        uint8_t key[SYNCOOKIE_KEY_SIZE];

        memset(s, 0, sizeof(*s));
        key_from_seed(key, seed);
        syncookie_secret__rotate_to(s, key);
        key_from_seed(key, seed + 1);
        syncookie_secret__rotate_to(s, key);
        s->gen = 0;
}

static struct flow_key tuple4(void)
{
        struct flow_key t = {.family = 4, .sport = 40000, .dport = 1883};

        memcpy(t.saddr, (uint8_t[]){192, 0, 2, 7}, 4);
        memcpy(t.daddr, (uint8_t[]){198, 51, 100, 1}, 4);
        return t;
}

static struct flow_key tuple6(void)
{
        struct flow_key t = {.family = 6, .sport = 51234, .dport = 8883};

        t.saddr[0] = 0x20;
        t.saddr[1] = 0x01;
        t.saddr[2] = 0x0d;
        t.saddr[3] = 0xb8;
        t.saddr[15] = 0x07;
        t.daddr[0] = 0x20;
        t.daddr[1] = 0x01;
        t.daddr[2] = 0x0d;
        t.daddr[3] = 0xb8;
        t.daddr[15] = 0x01;
        return t;
}

static const struct syncookie_opts OPTS = {.mss = 1460, .wscale = 7, .sack_ok = true};
#define NOW 1000000u /* any time: slot 15625, 0 s into it */

static void mss_table_and_index(void **state)
{
        for (int i = 1; i < SYNCOOKIE_MSS_COUNT; i++)
                assert_true(syncookie_mss_table[i - 1] < syncookie_mss_table[i]);
        assert_int_equal(syncookie_mss_table[0], SYNCOOKIE_MSS_DEFAULT4);
        assert_int_equal(syncookie_mss_table[1], SYNCOOKIE_MSS_DEFAULT6);
        assert_int_equal(syncookie_mss_table[SYNCOOKIE_MSS_COUNT - 1], SYNCOOKIE_MSS_CLAMP);
        assert_int_equal(SYNCOOKIE_MSS_CLAMP, 3698);

        assert_int_equal(syncookie__mss_index(0), 0);
        assert_int_equal(syncookie__mss_index(535), 0);
        assert_int_equal(syncookie__mss_index(536), 0);
        assert_int_equal(syncookie__mss_index(1219), 0);
        assert_int_equal(syncookie__mss_index(1220), 1);
        assert_int_equal(syncookie__mss_index(1380), 2);
        assert_int_equal(syncookie__mss_index(1432), 3);
        assert_int_equal(syncookie__mss_index(1459), 5);
        assert_int_equal(syncookie__mss_index(1460), 6);
        assert_int_equal(syncookie__mss_index(1500), 6);
        assert_int_equal(syncookie__mss_index(3697), 6);
        assert_int_equal(syncookie__mss_index(3698), 7);
        assert_int_equal(syncookie__mss_index(8960), 7);
        assert_int_equal(syncookie__mss_index(65535), 7);
}

/* The MSS a cookie gives back for a client's MSS. */
static uint16_t expected_mss(uint16_t mss)
{
        return syncookie_mss_table[syncookie__mss_index(mss)];
}

static void roundtrip_every_option(void **state)
{
        struct syncookie_secret s;
        uint16_t msses[3 * SYNCOOKIE_MSS_COUNT + 4];
        unsigned nm = 0, n = 0;
        uint64_t rng = 1;

        secret_fixed(&s, 42);
        for (int i = 0; i < SYNCOOKIE_MSS_COUNT; i++) {
                msses[nm++] = syncookie_mss_table[i];
                msses[nm++] = (uint16_t)(syncookie_mss_table[i] - 1);
                msses[nm++] = (uint16_t)(syncookie_mss_table[i] + 1);
        }
        msses[nm++] = 0;
        msses[nm++] = 100;
        msses[nm++] = 9000;
        msses[nm++] = 65535;
        for (int fam = 0; fam < 2; fam++) {
                struct flow_key t = fam ? tuple6() : tuple4();

                for (unsigned m = 0; m < nm; m++) {
                        for (unsigned ws = 0; ws <= 16; ws++) {
                                for (int sack = 0; sack < 2; sack++) {
                                        struct syncookie_opts o = {
                                            .mss = msses[m],
                                            .wscale =
                                                ws == 16 ? SYNCOOKIE_WSCALE_NONE : (uint8_t)ws,
                                            .sack_ok = sack,
                                        };
                                        struct syncookie_opts got;
                                        uint32_t isn = (uint32_t)splitmix64(&rng);
                                        uint32_t now = (uint32_t)splitmix64(&rng);
                                        uint32_t c = syncookie__make(&s, &t, isn, now, &o);
                                        uint32_t later = now + (uint32_t)(rng % 64);

                                        memset(&got, 0xee, sizeof(got));
                                        assert_int_equal(
                                            syncookie__check(&s, &t, c, isn, later, &got), 0);
                                        assert_int_equal(got.mss, expected_mss(o.mss));
                                        if (ws == 16)
                                                assert_int_equal(got.wscale, SYNCOOKIE_WSCALE_NONE);
                                        else /* RFC 7323 2.3: 15 reads as 14 */
                                                assert_int_equal(got.wscale, ws > 14 ? 14 : ws);
                                        assert_int_equal(got.sack_ok, sack);
                                        /* the same inputs, the same cookie */
                                        assert_int_equal(syncookie__make(&s, &t, isn, now, &o), c);
                                        n++;
                                }
                        }
                }
        }
        assert_int_equal(n, 2 * nm * 17 * 2);

        /* out may be NULL; a wscale of 200 is a 14 too */
        {
                struct flow_key t = tuple4();
                struct syncookie_opts o = {.mss = 1460, .wscale = 200}, got;
                uint32_t c = syncookie__make(&s, &t, 1, NOW, &o);

                assert_int_equal(syncookie__check(&s, &t, c, 1, NOW, NULL), 0);
                assert_int_equal(syncookie__check(&s, &t, c, 1, NOW, &got), 0);
                assert_int_equal(got.wscale, 14);
                assert_false(got.sack_ok);
        }
}

static void other_tuple_fails(void **state)
{
        struct syncookie_secret s;

        secret_fixed(&s, 7);
        for (int fam = 0; fam < 2; fam++) {
                struct flow_key t = fam ? tuple6() : tuple4(), u;
                size_t alen = fam ? 16 : 4;
                uint32_t c = syncookie__make(&s, &t, 0x12345678, NOW, &OPTS);

                assert_int_equal(syncookie__check(&s, &t, c, 0x12345678, NOW, NULL), 0);
                for (size_t i = 0; i < alen; i++) {
                        u = t;
                        u.saddr[i] ^= 1;
                        assert_int_equal(syncookie__check(&s, &u, c, 0x12345678, NOW, NULL),
                                         -EINVAL);
                        u = t;
                        u.daddr[i] ^= 0x80;
                        assert_int_equal(syncookie__check(&s, &u, c, 0x12345678, NOW, NULL),
                                         -EINVAL);
                }
                u = t;
                u.sport++;
                assert_int_equal(syncookie__check(&s, &u, c, 0x12345678, NOW, NULL), -EINVAL);
                u = t;
                u.dport--;
                assert_int_equal(syncookie__check(&s, &u, c, 0x12345678, NOW, NULL), -EINVAL);
                u = t; /* the two ends swapped */
                memcpy(u.saddr, t.daddr, 16);
                memcpy(u.daddr, t.saddr, 16);
                u.sport = t.dport;
                u.dport = t.sport;
                assert_int_equal(syncookie__check(&s, &u, c, 0x12345678, NOW, NULL), -EINVAL);
                u = t;
                u.family = fam ? 4 : 6;
                assert_int_equal(syncookie__check(&s, &u, c, 0x12345678, NOW, NULL), -EINVAL);
                u = t;
                u.family = 0;
                assert_int_equal(syncookie__check(&s, &u, c, 0x12345678, NOW, NULL), -EINVAL);
        }

        /* IPv4: only the first 4 bytes of each address count */
        {
                struct flow_key t = tuple4(), u = t;
                uint32_t c = syncookie__make(&s, &t, 99, NOW, &OPTS);

                memset(u.saddr + 4, 0xab, 12);
                memset(u.daddr + 4, 0xcd, 12);
                assert_int_equal(syncookie__check(&s, &u, c, 99, NOW, NULL), 0);
                assert_int_equal(syncookie__make(&s, &u, 99, NOW, &OPTS), c);
        }
}

static void other_isn_fails(void **state)
{
        struct syncookie_secret s;
        struct flow_key t = tuple4();
        uint32_t isn = 0xfffffffe, c;

        secret_fixed(&s, 8);
        c = syncookie__make(&s, &t, isn, NOW, &OPTS);
        assert_int_equal(syncookie__check(&s, &t, c, isn, NOW, NULL), 0);
        for (int b = 0; b < 32; b++)
                assert_int_equal(syncookie__check(&s, &t, c, isn ^ (1u << b), NOW, NULL), -EINVAL);
        assert_int_equal(syncookie__check(&s, &t, c, isn + 1, NOW, NULL), -EINVAL);
        assert_int_equal(syncookie__check(&s, &t, c, 0, NOW, NULL), -EINVAL);
        /* the ACK's ack - 1 and seq - 1 are what is checked: not the raw ack */
        assert_int_not_equal(syncookie__check(&s, &t, c + 1, isn, NOW, NULL), 0);
}

static void flipped_bit_fails(void **state)
{
        struct syncookie_secret s;
        uint64_t rng = 3;

        secret_fixed(&s, 9);
        for (int i = 0; i < 64; i++) {
                struct flow_key t = i & 1 ? tuple6() : tuple4();
                struct syncookie_opts o = {
                    .mss = syncookie_mss_table[i % SYNCOOKIE_MSS_COUNT],
                    .wscale = i % 3 ? (uint8_t)(i % 15) : SYNCOOKIE_WSCALE_NONE,
                    .sack_ok = i & 2,
                };
                uint32_t isn = (uint32_t)splitmix64(&rng), now = (uint32_t)splitmix64(&rng);
                uint32_t c;

                t.sport = (uint16_t)splitmix64(&rng);
                c = syncookie__make(&s, &t, isn, now, &o);
                assert_int_equal(syncookie__check(&s, &t, c, isn, now, NULL), 0);
                for (int b = 0; b < 32; b++) {
                        int err = syncookie__check(&s, &t, c ^ (1u << b), isn, now, NULL);

                        /* a time bit flipped can decode as authentic but
                         * expired only if the MAC still matched: it must not */
                        assert_int_equal(err, -EINVAL);
                }
        }
}

static void other_secret_fails(void **state)
{
        struct syncookie_secret a, b;
        struct flow_key t = tuple6();
        uint64_t rng = 4;

        secret_fixed(&a, 100);
        secret_fixed(&b, 200);
        for (int i = 0; i < 256; i++) {
                uint32_t isn = (uint32_t)splitmix64(&rng);
                uint32_t c = syncookie__make(&a, &t, isn, NOW, &OPTS);

                assert_int_equal(syncookie__check(&a, &t, c, isn, NOW, NULL), 0);
                assert_int_equal(syncookie__check(&b, &t, c, isn, NOW, NULL), -EINVAL);
        }
        /* and two live secrets do not make the same cookies */
        assert_int_not_equal(syncookie__make(&a, &t, 1, NOW, &OPTS),
                             syncookie__make(&b, &t, 1, NOW, &OPTS));
}

static void expiry_after_two_slots(void **state)
{
        struct syncookie_secret s;
        struct flow_key t = tuple4();
        const uint32_t base = 64u * 20000; /* start of a slot */
        const uint32_t offs[] = {0, 1, 10, 63};

        secret_fixed(&s, 11);
        for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
                uint32_t made = base + offs[i];
                uint32_t c = syncookie__make(&s, &t, 5, made, &OPTS);

                /* the slot it was made in and the next one */
                assert_int_equal(syncookie__check(&s, &t, c, 5, made, NULL), 0);
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 63, NULL), 0);
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 64, NULL), 0);
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 127, NULL), 0);
                /* two and three slots later: authentic, expired */
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 128, NULL), -ETIMEDOUT);
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 200, NULL), -ETIMEDOUT);
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 255, NULL), -ETIMEDOUT);
                /* four slots and more: the two time bits wrap, the MAC fails */
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 256, NULL), -EINVAL);
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 320, NULL), -EINVAL);
                assert_int_equal(syncookie__check(&s, &t, c, 5, base + 100000, NULL), -EINVAL);
                /* a clock that went back a slot is no better */
                assert_int_not_equal(syncookie__check(&s, &t, c, 5, base - 1, NULL), 0);
        }
}

/* The seconds counter wraps every 2^32 s: the slot arithmetic wraps with it. */
static void expiry_across_clock_wrap(void **state)
{
        struct syncookie_secret s;
        struct flow_key t = tuple6();
        uint32_t made = UINT32_MAX - 10, c;

        secret_fixed(&s, 12);
        c = syncookie__make(&s, &t, 77, made, &OPTS);
        assert_int_equal(syncookie__check(&s, &t, c, 77, made, NULL), 0);
        assert_int_equal(syncookie__check(&s, &t, c, 77, 5, NULL), 0);  /* next slot */
        assert_int_equal(syncookie__check(&s, &t, c, 77, 63, NULL), 0); /* still */
        assert_int_equal(syncookie__check(&s, &t, c, 77, 64, NULL), -ETIMEDOUT);
        assert_int_equal(syncookie__check(&s, &t, c, 77, 64 * 3, NULL), -EINVAL);
}

static void rotation(void **state)
{
        struct syncookie_secret s;
        struct flow_key t = tuple4();
        uint8_t key[SYNCOOKIE_KEY_SIZE];
        uint32_t c1, c2, c3, g;

        secret_fixed(&s, 13);
        g = s.gen;
        c1 = syncookie__make(&s, &t, 1, NOW, &OPTS);
        assert_int_equal(syncookie__check(&s, &t, c1, 1, NOW, NULL), 0);

        key_from_seed(key, 1000);
        syncookie_secret__rotate_to(&s, key);
        assert_int_equal(s.gen, g + 1);
        /* one rotation later the previous key still validates */
        assert_int_equal(syncookie__check(&s, &t, c1, 1, NOW, NULL), 0);
        c2 = syncookie__make(&s, &t, 1, NOW, &OPTS);
        assert_int_not_equal(c1, c2);
        assert_int_equal(syncookie__check(&s, &t, c2, 1, NOW, NULL), 0);

        key_from_seed(key, 2000);
        syncookie_secret__rotate_to(&s, key);
        /* two rotations later it is gone */
        assert_int_equal(syncookie__check(&s, &t, c1, 1, NOW, NULL), -EINVAL);
        assert_int_equal(syncookie__check(&s, &t, c2, 1, NOW, NULL), 0);
        c3 = syncookie__make(&s, &t, 1, NOW, &OPTS);
        assert_int_equal(syncookie__check(&s, &t, c3, 1, NOW, NULL), 0);

        /* random rotation: the same rules */
        assert_int_equal(syncookie_secret__rotate(&s), 0);
        assert_int_equal(s.gen, g + 3);
        assert_int_equal(syncookie__check(&s, &t, c2, 1, NOW, NULL), -EINVAL);
        assert_int_equal(syncookie__check(&s, &t, c3, 1, NOW, NULL), 0);
        assert_int_equal(syncookie_secret__rotate(&s), 0);
        assert_int_equal(syncookie__check(&s, &t, c3, 1, NOW, NULL), -EINVAL);
}

static void init_is_random(void **state)
{
        struct syncookie_secret a, b;
        struct flow_key t = tuple4();
        uint32_t c;

        assert_int_equal(syncookie_secret__init(&a), 0);
        assert_int_equal(syncookie_secret__init(&b), 0);
        assert_memory_not_equal(a.key[0], b.key[0], SYNCOOKIE_KEY_SIZE);
        assert_memory_not_equal(a.key[1], b.key[1], SYNCOOKIE_KEY_SIZE);
        assert_memory_not_equal(a.key[0], a.key[1], SYNCOOKIE_KEY_SIZE);
        c = syncookie__make(&a, &t, 1, NOW, &OPTS);
        assert_int_equal(syncookie__check(&a, &t, c, 1, NOW, NULL), 0);
        assert_int_equal(syncookie__check(&b, &t, c, 1, NOW, NULL), -EINVAL);
}

/*
 * No obvious bias: over 100k cookies every bit but the generation bit is set
 * about half the time (bound: 6 standard deviations, sd = sqrt(n)/2 = 158),
 * and the low byte passes a chi-square test over 256 bins (255 degrees of
 * freedom: mean 255, sd 22.6; bound mean + 6 sd). Once over random tuples,
 * once over consecutive source ports of one client (structured input).
 */
#define DIST_N 100000

static void check_distribution(const uint32_t *c, uint32_t gen_bit)
{
        uint32_t bits[32] = {0}, bins[256] = {0};
        double chi = 0, expect = DIST_N / 256.0;

        for (int i = 0; i < DIST_N; i++) {
                for (int b = 0; b < 32; b++)
                        bits[b] += c[i] >> b & 1;
                bins[c[i] & 0xff]++;
        }
        for (int b = 0; b < 31; b++) {
                assert_in_range(bits[b], DIST_N / 2 - 950, DIST_N / 2 + 950);
        }
        assert_int_equal(bits[31], gen_bit ? DIST_N : 0);
        for (int i = 0; i < 256; i++)
                chi += (bins[i] - expect) * (bins[i] - expect) / expect;
        assert_true(chi < 255 + 6 * 22.6);
}

static void distribution(void **state)
{
        struct syncookie_secret s;
        uint32_t *c = malloc(sizeof(*c) * DIST_N);
        uint64_t rng = 5;

        assert_non_null(c);
        secret_fixed(&s, 14);
        for (int i = 0; i < DIST_N; i++) {
                struct flow_key t = tuple4();
                uint64_t r = splitmix64(&rng);
                struct syncookie_opts o = {
                    .mss = syncookie_mss_table[r % SYNCOOKIE_MSS_COUNT],
                    .wscale = (uint8_t)(r >> 8 & 15),
                    .sack_ok = r >> 12 & 1,
                };

                memcpy(t.saddr, &r, 4);
                t.sport = (uint16_t)(r >> 32);
                c[i] = syncookie__make(&s, &t, (uint32_t)splitmix64(&rng), NOW, &o);
        }
        check_distribution(c, s.gen & 1);

        /* one client, consecutive ports, same ISN and options */
        for (int i = 0; i < DIST_N; i++) {
                struct flow_key t = tuple6();

                t.sport = (uint16_t)(1024 + i % 64000);
                t.saddr[14] = (uint8_t)(i / 64000);
                c[i] = syncookie__make(&s, &t, 1000, NOW, &OPTS);
        }
        check_distribution(c, s.gen & 1);
        free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(mss_table_and_index),
            cmocka_unit_test(roundtrip_every_option),
            cmocka_unit_test(other_tuple_fails),
            cmocka_unit_test(other_isn_fails),
            cmocka_unit_test(flipped_bit_fails),
            cmocka_unit_test(other_secret_fails),
            cmocka_unit_test(expiry_after_two_slots),
            cmocka_unit_test(expiry_across_clock_wrap),
            cmocka_unit_test(rotation),
            cmocka_unit_test(init_is_random),
            cmocka_unit_test(distribution),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
