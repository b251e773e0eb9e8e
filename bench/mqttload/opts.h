/*
 * mqttload's command line: parses argv into a struct load_cfg and checks what
 * can be checked without the network (ranges, combinations, pattern escapes,
 * addresses of -b). Owns --help. Host names (-H) are resolved here too, since
 * a name that does not resolve is a bad argument (exit 1), not a failure to
 * connect.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_OPTS_H
#define MQTTLB_BENCH_MQTTLOAD_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define LOAD_MAX_THREADS 64u
#define LOAD_MAX_CLIENTS 1000000u
#define LOAD_MAX_ADDRS   256u

enum load_mode {
        LOAD_PUB = 0,
        LOAD_SUB,
        LOAD_CONN,
};

struct load_addr {
        struct sockaddr_storage ss;
        socklen_t len;
};

struct load_cfg {
        enum load_mode mode;
        struct load_addr hosts[LOAD_MAX_ADDRS]; /* -H, resolved, port set */
        uint32_t nhosts;
        struct load_addr binds[LOAD_MAX_ADDRS]; /* -b, port 0 */
        uint32_t nbinds;
        uint16_t port;
        uint32_t clients;
        uint8_t qos;
        uint8_t version; /* 3, 4 or 5 */
        const char *topic;
        const char *client_id;
        const char *username, *password;
        double rate;         /* messages per second per client; 0: flat out */
        uint32_t size;       /* payload bytes */
        uint64_t count;      /* pub: messages per client; 0: no limit */
        double duration;     /* seconds; 0: no limit */
        double conn_rate;    /* new connections per second over all threads; 0: at once */
        uint64_t expect;     /* sub: messages expected per publisher id; 0: unknown */
        uint32_t publishers; /* sub: publishers each subscriber expects (with --expect) */
        uint32_t inflight;   /* QoS 1/2 window per client */
        uint32_t threads;
        uint16_t keepalive;     /* seconds */
        double connect_timeout; /* seconds, SYN to CONNACK (and SUBACK) */
        double idle;            /* sub: stop this long after the last message */
        double drain;           /* pub: wait this long for acks when stopping */
        double retry_delay;     /* --reconnect: delay before retrying a failed attempt */
        uint32_t pubid_base;
        uint32_t rxbuf; /* initial receive buffer per connection */
        uint32_t tick_us;
        bool reconnect;
        bool json, progress, quiet;
        /* --tls: OpenSSL client (tls.c) */
        bool tls, tls_resume;
        const char *sni;     /* --sni: server name sent (and checked with --cafile) */
        const char *cafile;  /* --cafile: verify the broker; NULL: no verification */
        uint8_t tls_version; /* --tls-version: 12 or 13 only; 0: 1.2 or later */
};

/*
 * Returns 0 with cfg filled, 1 when --help was asked for (usage printed to
 * stdout), or -EINVAL with a one-line message naming the option in err.
 */
int load_cfg__parse(struct load_cfg *cfg, int argc, char **argv, char *err, size_t errlen);
void load_cfg__usage(FILE *f);
const char *load_mode__name(enum load_mode m);

/*
 * Expands a -t / -i pattern for client number idx: %i the number, %c the
 * client id (topic only: cid may be NULL for -i), %m the mode, %p the process
 * id, %% a percent sign. Returns the length written (without the NUL), or -1
 * if it does not fit in cap. The pattern was checked by load_cfg__parse.
 */
int load_pattern__expand(char *out, size_t cap, const char *pat, uint32_t idx, const char *cid,
                         enum load_mode mode);

#endif
