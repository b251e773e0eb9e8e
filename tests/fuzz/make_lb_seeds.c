/*
 * Writes the seed corpus of the packet-path fuzz target (fuzz_lb.c) into
 * OUTDIR (tests/fuzz/corpus/lb): a handful of scripts in the lb_script.h
 * format that open connections through the balancer, splice them and
 * exchange data, so that a short CI run starts from deep states (spliced
 * legs, both directions, the good connection beside a hostile one) instead
 * of rediscovering the handshake. Regenerate with
 *   cmake --build BUILD --target fuzz_lb_seeds
 * and check what a seed reaches with
 *   FUZZ_LB_TRACE=1 BUILD/tests/fuzz/fuzz_lb tests/fuzz/corpus/lb/NAME
 * (its last line: connections, the good connection's step, the counters).
 */
#include <stdint.h>
#include <stdio.h>

#include "lb_script.h"

/* Shorthands for the script's operations. */
#define CSTEP(c, p)  LBS_OP(LBS_CLIENT_STEP, c), (p)
#define BSTEP(l, p)  LBS_OP(LBS_BROKER_STEP, l), (p)
#define GOOD         LBS_OP(LBS_GOOD, 0)
#define ACK_ALL      LBS_OP(LBS_ACK_ALL, 0)
#define REPEAT       LBS_OP(LBS_REPEAT, 0)
#define TIME_MS(v)   LBS_OP(LBS_TIME, LBS_TIME_MS), (v)
#define TIMEOUT(t)   LBS_OP(LBS_TIME, LBS_TIME_TIMEOUT), (t)
#define SEQACK(s, a) ((uint8_t)((s) | (a) << 4))
/* A segment from client c or broker leg l: flags byte, seq/ack byte, payload
 * byte, then whatever they read. */
#define CSEG(c, ...) LBS_OP(LBS_CLIENT_SEG, c), __VA_ARGS__
#define BSEG(l, ...) LBS_OP(LBS_BROKER_SEG, l), __VA_ARGS__
#define SACKS(n)     ((uint8_t)((n) << 5))
#define NOPAY        LBS_PAY(LBS_PAY_TABLE, LBS_P_NONE)

/* A client connects, CONNECTs and binds at its first PUBLISH; the broker
 * answers the SYN and sends its CONNACK: spliced. */
#define OPEN_PUBLISH(c, l)                                                                   \
        CSTEP(c, 0), CSTEP(c, LBS_P_CONNECT), CSTEP(c, LBS_P_PUBLISH), BSTEP(l, LBS_P_NONE), \
            BSTEP(l, LBS_P_CONNACK)

struct seed {
        const char *name;
        const uint8_t *b;
        size_t n;
};

#define SEED(nm, ...)                                                                      \
        {                                                                                  \
                nm, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}) \
        }

static const struct seed SEEDS[] = {
    /* one hostile connection spliced and talking, the good one beside it */
    SEED("splice_publish", 0, OPEN_PUBLISH(0, 0), GOOD, GOOD, GOOD, CSTEP(0, LBS_P_PUBLISH),
         BSTEP(0, LBS_P_PUBLISH_DOWN), GOOD, CSTEP(0, LBS_P_PUBACK), GOOD, BSTEP(0, LBS_P_NONE),
         GOOD, CSTEP(0, LBS_P_PINGREQ), BSTEP(0, LBS_P_PINGRESP), GOOD, TIME_MS(20), ACK_ALL,
         CSTEP(0, LBS_P_DISCONNECT)),
    /* v5 SUBSCRIBE binds to pears, PROXY v2 header, ISNs about to wrap */
    SEED("splice_subscribe_v5_proxy", LBS_CFG_PROXY | LBS_CFG_WRAP, CSTEP(1, 0),
         CSTEP(1, LBS_P_CONNECT_V5), GOOD, CSTEP(1, LBS_P_SUBSCRIBE_V5), GOOD, BSTEP(0, LBS_P_NONE),
         BSTEP(0, LBS_P_CONNACK_V5), GOOD, BSTEP(0, LBS_P_SUBACK), CSTEP(1, LBS_P_PUBLISH_ALIAS),
         CSTEP(1, LBS_P_PUBLISH_BY_ALIAS), GOOD, BSTEP(0, LBS_P_PUBLISH_DOWN), ACK_ALL, GOOD),
    /* a will binds at CONNECT: the broker's own CONNACK reaches the client */
    SEED("bind_at_connect_will", LBS_CFG_MAGLEV, CSTEP(2, 0), CSTEP(2, LBS_P_CONNECT_WILL),
         BSTEP(0, LBS_P_NONE), BSTEP(0, LBS_P_CONNACK), CSTEP(2, LBS_P_PUBLISH), GOOD, GOOD,
         BSTEP(0, LBS_P_PUBLISH_DOWN), GOOD, CSTEP(2, LBS_P_PUBLISH_BIG), GOOD, ACK_ALL,
         CSTEP(2, LBS_P_PUBLISH_QOS1), BSTEP(0, LBS_P_PUBACK)),
    /* an IPv4 and an IPv6 client spliced at once, a big PUBLISH each way */
    SEED("two_clients_v6", LBS_CFG_BIGBUF, OPEN_PUBLISH(0, 0), GOOD, OPEN_PUBLISH(3, 1), GOOD, GOOD,
         CSTEP(3, LBS_P_PUBLISH_BIG), BSTEP(1, LBS_P_PUBLISH_DOWN), CSTEP(0, LBS_P_SUBSCRIBE),
         BSTEP(0, LBS_P_SUBACK), GOOD, ACK_ALL, CSTEP(3, LBS_P_UNSUBSCRIBE), GOOD),
    /* unbound past the bind timeout (the default pool); the broker is slow:
     * SYN retries past the connect timeout, a failover, then spliced; idle */
    SEED("timeouts_failover", 0, CSTEP(0, 0), CSTEP(0, LBS_P_CONNECT), CSTEP(0, LBS_P_PINGREQ),
         TIMEOUT(LBS_TIMEOUT_BIND), TIMEOUT(LBS_TIMEOUT_CONNECT), TIMEOUT(LBS_TIMEOUT_CONNECT),
         TIMEOUT(LBS_TIMEOUT_CONNECT), BSTEP(0, LBS_P_NONE), BSTEP(1, LBS_P_NONE),
         BSTEP(1, LBS_P_CONNACK), CSTEP(0, LBS_P_PUBLISH), GOOD, GOOD, GOOD, GOOD,
         TIMEOUT(LBS_TIMEOUT_IDLE), CSTEP(0, LBS_P_PUBLISH), BSTEP(1, LBS_P_PUBLISH_DOWN)),
    /* spliced on apples, then a PUBLISH to pears: forwarded and counted */
    SEED("misroute_forward", LBS_CFG_FORWARD, OPEN_PUBLISH(0, 0), GOOD, GOOD,
         CSTEP(0, LBS_P_PUBLISH_PEARS), GOOD, GOOD, CSTEP(0, LBS_P_PUBLISH), ACK_ALL),
    /* spliced; SACK blocks both ways, a window update, an RST in the window
     * (a challenge ACK), a duplicate, a FIN from each side */
    SEED("sack_rst_fin", 0, OPEN_PUBLISH(0, 0), GOOD, GOOD, GOOD, CSTEP(0, LBS_P_PUBLISH),
         CSTEP(0, LBS_P_PUBLISH),
         BSEG(0, LBS_FLAGS_ACK | SACKS(2), SEQACK(0, 0), NOPAY, 10, 17, 0x40, 17),
         BSTEP(0, LBS_P_PUBLISH_DOWN), BSTEP(0, LBS_P_PUBLISH_DOWN),
         CSEG(0, LBS_FLAGS_ACK | SACKS(1), SEQACK(0, LBS_REL_MINUS8), NOPAY, 14, 0, 14),
         BSEG(0, LBS_FLAGS_ACK | LBS_WIN_ZERO << 3, SEQACK(0, 0), NOPAY), BSTEP(0, LBS_P_NONE),
         GOOD, BSEG(0, LBS_FLAGS_RST, SEQACK(LBS_REL_PLUS8, 0), NOPAY, 50), REPEAT, GOOD,
         CSEG(0, LBS_FLAGS_FIN_ACK, SEQACK(0, 0), NOPAY),
         BSEG(0, LBS_FLAGS_FIN_ACK, SEQACK(0, 0), NOPAY), ACK_ALL, GOOD),
    /* the broker refuses the CONNECT; a persistent session binds at CONNECT
     * by client id (Maglev) on another client */
    SEED("refused_and_persistent", LBS_CFG_MAGLEV | LBS_CFG_PROXY, OPEN_PUBLISH(0, 0), GOOD, GOOD,
         CSTEP(1, 0), CSTEP(1, LBS_P_CONNECT_PERSIST), BSTEP(1, LBS_P_NONE),
         BSTEP(1, LBS_P_CONNACK_REFUSED), GOOD, CSTEP(2, 0), CSTEP(2, LBS_P_CONNECT_CAM),
         BSTEP(2, LBS_P_NONE), BSTEP(2, LBS_P_CONNACK), CSTEP(2, LBS_P_SUBSCRIBE), GOOD),
    /* only the good connection, all its steps */
    SEED("good_only", 0, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD, TIME_MS(100),
         GOOD, GOOD),
    /* a CONNECT split over segments, raw bytes, a malformed PUBLISH */
    SEED("split_and_malformed", LBS_CFG_WRAP, CSTEP(0, 0),
         CSEG(0, LBS_FLAGS_PSH_ACK, SEQACK(0, 0), LBS_PAY(LBS_PAY_HEAD, LBS_P_CONNECT), 7),
         CSEG(0, LBS_FLAGS_PSH_ACK, SEQACK(0, 0), LBS_PAY(LBS_PAY_HEAD, 0x20 | LBS_P_CONNECT), 7),
         GOOD, GOOD, GOOD,
         CSEG(0, LBS_FLAGS_PSH_ACK, SEQACK(0, 0), LBS_PAY(LBS_PAY_RAW, 0), 4, 0xc0, 0x00, 0xc0,
              0x00),
         CSTEP(0, LBS_P_PUBLISH), BSTEP(0, LBS_P_NONE), BSTEP(0, LBS_P_CONNACK), GOOD,
         CSTEP(0, LBS_P_BAD_EMPTY_TOPIC), GOOD, CSTEP(1, 0), CSTEP(1, LBS_P_CONNECT_EMPTY),
         CSTEP(1, LBS_P_BAD_VARINT)),
};

int main(int argc, char **argv)
{
        size_t total = 0, n = sizeof(SEEDS) / sizeof(SEEDS[0]);

        if (argc != 2) {
                fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < n; i++) {
                char path[4096];
                FILE *out;

                snprintf(path, sizeof(path), "%s/%s", argv[1], SEEDS[i].name);
                out = fopen(path, "wb");
                if (!out || fwrite(SEEDS[i].b, 1, SEEDS[i].n, out) != SEEDS[i].n || fclose(out)) {
                        perror(path);
                        return 1;
                }
                total += SEEDS[i].n;
        }
        printf("%zu seeds, %zu bytes\n", n, total);
        return 0;
}
