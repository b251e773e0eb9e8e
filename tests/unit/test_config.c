/*
 * The configuration file (core/config/config.h): a full file read into the struct
 * with every value, the defaults of a minimal file, a table of mistakes each
 * reported at its exact line with a message that names it, loading from a
 * file (and a missing one), and the plan `mqttlb check` prints.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config/config.h"
#include "core/route/route.h"

/* ---- helpers ---- */

static struct config *load_ok(const char *yaml)
{
        struct config *c = (struct config *)0x1;
        char err[CONFIG_ERR_MAX] = "";
        int e = config__load_string("t.yaml", yaml, &c, err, sizeof(err));

        if (e)
                fail_msg("rejected (%d): %s", e, err);
        assert_non_null(c);
        return c;
}

static void check_addr(const struct ip_addr *a, const char *want)
{
        char buf[IP_ADDR_STRLEN];

        assert_string_equal(ip_addr__format(a, buf, sizeof(buf)), want);
}

/* ---- a full file ---- */

static const char FULL[] =
    "# every key, none at its default\n"
    "interfaces:\n"
    "  - name: lb-c\n"
    "  - name: lb-b\n"
    "listeners:\n"
    "  - address: 10.10.0.100\n"
    "    port: 1883\n"
    "  - address: fd00::100\n"
    "    port: 8883\n"
    "source_addresses: [10.20.0.1, \"10.20.0.2:20000-29999\", \"[fd00::1]:1024-2047\"]\n"
    "cores: [1, 3]\n"
    "pools:\n"
    "  - name: apples\n"
    "    brokers: [\"10.20.0.11:1883\", \"10.20.0.12:1883\"]\n"
    "    balance: least-connections\n"
    "  - name: other\n"
    "    brokers:\n"
    "      - 10.20.0.20:1883\n"
    "      - {address: \"[fd00::20]:1883\", weight: 3}\n"
    "      - address: 10.20.0.21:1884\n"
    "        weight: 0\n"
    "routes:\n"
    "  - topic: \"apples/#\"\n"
    "    pool: apples\n"
    "  - client_id: \"cam-*\"\n"
    "    pool: other\n"
    "default_pool: other\n"
    "misroute: disconnect\n"
    "proxy_protocol: true\n"
    "health:\n"
    "  interval: 5s\n"
    "  timeout: 500ms\n"
    "  rise: 3\n"
    "  fall: 4\n"
    "admin:\n"
    "  socket: /tmp/lb.sock\n"
    "  metrics: \"[::1]:9180\"\n"
    "connections:\n"
    "  buffer: 256k\n"
    "  max_topic: 1024\n"
    "  bind_timeout: 2s\n"
    "  connect_timeout: 250ms\n"
    "  syn_retries: 5\n"
    "  connect_window: 16\n"
    "  idle_timeout: 1h\n"
    "  max_connections: 1000\n"
    "  state_file: /var/lib/mqttlb/bindings\n"
    "  syn_rate: 50000\n"
    "  syn_burst: 500\n"
    "xsk:\n"
    "  mode: zero-copy\n"
    "  xdp_mode: native\n"
    "  ring_size: 4096\n"
    "  frames: 65536\n"
    "  busy_poll: 50us\n"
    "  huge_pages: true\n";

static void test_full(void **state)
{
        struct config *c = load_ok(FULL);

        (void)state;
        assert_string_equal(c->path, "t.yaml");
        assert_int_equal(c->ninterfaces, 2);
        assert_string_equal(c->interfaces[0], "lb-c");
        assert_string_equal(c->interfaces[1], "lb-b");

        assert_int_equal(c->nlisteners, 2);
        check_addr(&c->listeners[0].addr, "10.10.0.100");
        assert_int_equal(c->listeners[0].port, 1883);
        assert_int_equal(c->listeners[0].line, 6);
        assert_int_equal(c->listeners[1].addr.family, 6);
        check_addr(&c->listeners[1].addr, "fd00::100");
        assert_int_equal(c->listeners[1].port, 8883);

        assert_int_equal(c->nsources, 3);
        check_addr(&c->sources[0].addr, "10.20.0.1");
        assert_int_equal(c->sources[0].port_lo, 1024);
        assert_int_equal(c->sources[0].port_hi, 32767);
        assert_int_equal(c->sources[1].port_lo, 20000);
        assert_int_equal(c->sources[1].port_hi, 29999);
        check_addr(&c->sources[2].addr, "fd00::1");
        assert_int_equal(c->sources[2].port_lo, 1024);
        assert_int_equal(c->sources[2].port_hi, 2047);
        assert_int_equal(c->sources[2].line, 10);

        assert_int_equal(c->workers, 2);
        assert_int_equal(c->cores[0], 1);
        assert_int_equal(c->cores[1], 3);
        assert_int_equal(c->cores[2], -1);

        assert_int_equal(c->npools, 2);
        assert_string_equal(c->pools[0].name, "apples");
        assert_int_equal(c->pools[0].balance, POOL_POLICY_LEAST_CONN);
        assert_int_equal(c->pools[0].nbrokers, 2);
        assert_string_equal(c->pools[0].brokers[1].name, "10.20.0.12:1883");
        assert_int_equal(c->pools[0].brokers[1].port, 1883);
        assert_int_equal(c->pools[0].brokers[1].weight, 1);
        assert_int_equal(c->pools[0].line, 13);
        assert_string_equal(c->pools[1].name, "other");
        assert_int_equal(c->pools[1].balance, POOL_POLICY_CLIENT_ID);
        assert_int_equal(c->pools[1].nbrokers, 3);
        assert_string_equal(c->pools[1].brokers[1].name, "[fd00::20]:1883");
        check_addr(&c->pools[1].brokers[1].addr, "fd00::20");
        assert_int_equal(c->pools[1].brokers[1].weight, 3);
        assert_int_equal(c->pools[1].brokers[1].line, 19);
        assert_string_equal(c->pools[1].brokers[2].name, "10.20.0.21:1884");
        assert_int_equal(c->pools[1].brokers[2].port, 1884);
        assert_int_equal(c->pools[1].brokers[2].weight, 0);
        assert_int_equal(config__pool_index(c, "other"), 1);
        assert_int_equal(config__pool_index(c, "nope"), -1);

        assert_int_equal(c->nroutes, 2);
        assert_int_equal(c->routes[0].kind, CONFIG_ROUTE_TOPIC);
        assert_string_equal(c->routes[0].match, "apples/#");
        assert_int_equal(c->routes[0].pool, 0);
        assert_int_equal(c->routes[0].line, 23);
        assert_int_equal(c->routes[1].kind, CONFIG_ROUTE_CLIENT_ID);
        assert_string_equal(c->routes[1].match, "cam-*");
        assert_int_equal(c->routes[1].pool, 1);
        assert_int_equal(c->default_pool, 1);
        assert_int_equal(c->misroute, CONFIG_MISROUTE_DISCONNECT);
        assert_true(c->proxy_protocol);

        assert_int_equal(c->health.interval_ms, 5000);
        assert_int_equal(c->health.timeout_ms, 500);
        assert_int_equal(c->health.rise, 3);
        assert_int_equal(c->health.fall, 4);
        assert_string_equal(c->admin.socket, "/tmp/lb.sock");
        assert_string_equal(c->admin.metrics, "[::1]:9180");

        assert_int_equal(c->connections.buffer_bytes, 256 * 1024);
        assert_int_equal(c->connections.max_topic, 1024);
        assert_int_equal(c->connections.bind_timeout_ms, 2000);
        assert_int_equal(c->connections.connect_timeout_ms, 250);
        assert_int_equal(c->connections.syn_retries, 5);
        assert_int_equal(c->connections.connect_window, 16);
        assert_int_equal(c->connections.idle_timeout_ms, 3600000);
        assert_int_equal(c->connections.max_connections, 1000);
        assert_string_equal(c->connections.state_file, "/var/lib/mqttlb/bindings");
        assert_int_equal(c->connections.syn_rate, 50000);
        assert_int_equal(c->connections.syn_burst, 500);

        assert_int_equal(c->xsk.mode, CONFIG_XSK_ZEROCOPY);
        assert_int_equal(c->xsk.xdp, CONFIG_XDP_NATIVE);
        assert_int_equal(c->xsk.ring_size, 4096);
        assert_int_equal(c->xsk.frames, 65536);
        assert_int_equal(c->xsk.busy_poll_us, 50);
        assert_true(c->xsk.huge_pages);
        config__free(c);
}

/* ---- defaults ---- */

#define TLS_MINIMAL                                                             \
        "interfaces: [{name: eth0}]\n"                                  /* 1 */ \
        "listeners: [{address: 10.0.0.1, port: 8883, protocol: tls}]\n" /* 2 */ \
        "source_addresses: [10.0.1.1]\n"                                /* 3 */ \
        "pools:\n"                                                      /* 4 */ \
        "  - name: a\n"                                                 /* 5 */ \
        "    brokers: [\"10.0.2.1:8883\"]\n"                            /* 6 */
#define MINIMAL                                                  \
        "interfaces: [{name: eth0}]\n"                   /* 1 */ \
        "listeners: [{address: 10.0.0.1, port: 1883}]\n" /* 2 */ \
        "source_addresses: [10.0.1.1]\n"                 /* 3 */ \
        "pools:\n"                                       /* 4 */ \
        "  - name: a\n"                                  /* 5 */ \
        "    brokers: [\"10.0.2.1:1883\"]\n"             /* 6 */

static void test_defaults(void **state)
{
        struct config *c = load_ok(MINIMAL "default_pool: a\n");

        (void)state;
        assert_int_equal(c->ninterfaces, 1);
        assert_int_equal(c->workers, 1);
        for (int i = 0; i < CONFIG_WORKERS_MAX; i++)
                assert_int_equal(c->cores[i], -1);
        assert_int_equal(c->sources[0].port_lo, 1024);
        assert_int_equal(c->sources[0].port_hi, 32767);
        assert_int_equal(c->pools[0].balance, POOL_POLICY_CLIENT_ID);
        assert_int_equal(c->pools[0].brokers[0].weight, 1);
        assert_int_equal(c->nroutes, 0);
        assert_null(c->routes);
        assert_int_equal(c->default_pool, 0);
        assert_int_equal(c->misroute, CONFIG_MISROUTE_FORWARD);
        assert_false(c->proxy_protocol);
        assert_int_equal(c->health.interval_ms, 2000);
        assert_int_equal(c->health.timeout_ms, 1500);
        assert_int_equal(c->health.rise, 2);
        assert_int_equal(c->health.fall, 2);
        assert_string_equal(c->admin.socket, "/run/mqttlb.sock");
        assert_null(c->admin.metrics);
        assert_int_equal(c->connections.buffer_bytes, 131072);
        assert_int_equal(c->connections.max_topic, 65535);
        assert_int_equal(c->connections.bind_timeout_ms, 5000);
        assert_int_equal(c->connections.connect_timeout_ms, 250);
        assert_int_equal(c->connections.syn_retries, 3);
        assert_int_equal(c->connections.connect_window, 64);
        assert_int_equal(c->connections.idle_timeout_ms, 900000);
        assert_int_equal(c->connections.max_connections, 65536);
        assert_null(c->connections.state_file);
        assert_int_equal(c->connections.syn_rate, 100000);
        assert_int_equal(c->connections.syn_burst, 10000);
        assert_int_equal(c->xsk.mode, CONFIG_XSK_AUTO);
        assert_int_equal(c->xsk.xdp, CONFIG_XDP_AUTO);
        assert_int_equal(c->xsk.ring_size, 4096);
        assert_int_equal(c->xsk.frames, 0);
        assert_int_equal(c->xsk.busy_poll_us, 0);
        assert_false(c->xsk.huge_pages);
        config__free(c);

        /* routes without a default pool are enough; a bare 0 is a duration */
        c = load_ok(MINIMAL "routes: [{topic: a, pool: a}]\nxsk: {busy_poll: 0}\n");
        assert_int_equal(c->default_pool, -1);
        assert_int_equal(c->xsk.busy_poll_us, 0);
        config__free(c);
}

/* Durations and sizes in every unit, and the values at their limits. */
static void test_units(void **state)
{
        static const struct {
                const char *text;
                uint32_t ms;
        } durations[] = {{"10ms", 10},    {"1s", 1000},    {"90s", 90000},        {"2m", 120000},
                         {"1h", 3600000}, {"10000us", 10}, {"3600000ms", 3600000}};
        static const struct {
                const char *text;
                uint32_t bytes;
        } sizes[] = {{"4096", 4096},   {"4k", 4096},       {"4K", 4096},      {"1M", 1u << 20},
                     {"1m", 1u << 20}, {"16M", 16u << 20}, {"100000", 100000}};
        char yaml[1024];
        struct config *c;

        (void)state;
        for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
                snprintf(yaml, sizeof(yaml),
                         MINIMAL "default_pool: a\nconnections:\n"
                                 "  bind_timeout: %s\n",
                         durations[i].text);
                c = load_ok(yaml);
                assert_int_equal(c->connections.bind_timeout_ms, durations[i].ms);
                config__free(c);
        }
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                snprintf(yaml, sizeof(yaml),
                         MINIMAL "default_pool: a\nconnections:\n"
                                 "  buffer: %s\n",
                         sizes[i].text);
                c = load_ok(yaml);
                assert_int_equal(c->connections.buffer_bytes, sizes[i].bytes);
                config__free(c);
        }
        c = load_ok(MINIMAL "default_pool: a\nxsk: {busy_poll: 1s}\n");
        assert_int_equal(c->xsk.busy_poll_us, 1000000);
        config__free(c);
}

/* ---- mistakes ---- */

struct bad {
        const char *yaml;
        int line;
        const char *says; /* a substring of the message */
};

static const struct bad BAD[] = {
    /* keys */
    {MINIMAL "default_pool: a\nlistner: []\n", 8,
     "unknown key \"listner\" (did you mean 'listeners'?"},
    {MINIMAL "default_pool: a\nhealth:\n  interval: 2s\n  intervall: 3s\n", 10,
     "health: unknown key \"intervall\""},
    {MINIMAL "default_pool: a\nfoo: 1\n", 8, "known keys here: interfaces, listeners,"},
    {MINIMAL "default_pool: a\nworkers: 2\nworkers: 3\n", 9,
     "workers: given twice (first at line 8)"},
    {MINIMAL "pools: []\n", 7, "pools: given twice (first at line 4)"},
    {"listeners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\n"
     "pools: [{name: a, brokers: [\"10.0.2.1:1883\"]}]\n",
     1, "missing key 'interfaces'"},
    /* types and ranges */
    {MINIMAL "default_pool: a\nworkers: two\n", 8,
     "workers: expected a whole number from 1 to 64, got \"two\""},
    {MINIMAL "default_pool: a\nworkers: 0\n", 8, "workers: 0 is out of range (1 to 64)"},
    {MINIMAL "default_pool: a\nworkers: 65\n", 8, "65 is out of range (1 to 64)"},
    {"interfaces: [{name: eth0}]\nlisteners:\n  - address: 10.0.0.1\n    port: \"1883\"\n", 4,
     "listeners[0].port: expected a whole number from 1 to 65535, got the quoted string"},
    {"interfaces: [{name: eth0}]\nlisteners:\n  - address: 10.0.0.1\n    port: 70000\n", 4,
     "70000 is out of range (1 to 65535)"},
    {MINIMAL "default_pool: a\nhealth:\n  interval: 2\n", 9,
     "health.interval: \"2\" has no unit: write 2ms"},
    {MINIMAL "default_pool: a\nhealth:\n  interval: 2sec\n", 9, "unknown unit 'sec'"},
    {MINIMAL "default_pool: a\nhealth:\n  timeout: 5ms\n", 9,
     "health.timeout: 5ms is out of range (10ms to 1h)"},
    {MINIMAL "default_pool: a\nconnections: {bind_timeout: 1500us}\n", 8,
     "not a whole number of milliseconds"},
    {MINIMAL "default_pool: a\nxsk:\n  busy_poll: 2s\n", 9,
     "xsk.busy_poll: 2s is out of range (0 to 1s)"},
    {MINIMAL "default_pool: a\nconnections:\n  buffer: 1MB\n", 9,
     "connections.buffer: \"1MB\": unknown unit 'MB'"},
    {MINIMAL "default_pool: a\nconnections:\n  buffer: 1k\n", 9, "1k is out of range (4k to 16M)"},
    {MINIMAL "default_pool: a\nproxy_protocol: yes\n", 8,
     "proxy_protocol: expected true or false, got \"yes\""},
    {MINIMAL "default_pool: a\nmisroute: drop\n", 8,
     "misroute: \"drop\" is not one of: forward, disconnect"},
    {MINIMAL "default_pool: a\nxsk: {mode: zerocopy}\n", 8, "is not one of: auto, zero-copy, copy"},
    {MINIMAL "default_pool: a\nxsk:\n  ring_size: 1000\n", 9, "1000 is not a power of two"},
    {MINIMAL "default_pool: a\nxsk:\n  frames: 10\n", 9, "10 frames are too few"},
    {MINIMAL "default_pool: a\nhealth: 2s\n", 8,
     "health: expected a mapping (key: value), got \"2s\""},
    {MINIMAL "default_pool: a\nconnections:\n  state_file: \"\"\n", 9, "an empty string"},
    {MINIMAL "default_pool: a\nconnections:\n  syn_burst: 0\n", 9,
     "connections.syn_burst: 0 is out of range (1 to 100000000)"},
    {MINIMAL "default_pool: a\nconnections:\n  syn_rate: -5\n", 9, "connections.syn_rate"},
    {MINIMAL "default_pool: a\nconnections:\n  connect_window: 2000000\n", 9,
     "connections.connect_window: 2000000 is out of range (0 to 1048576)"},
    {MINIMAL "default_pool:\n", 7, "default_pool: expected a pool name, got nothing"},
    {MINIMAL "default_pool: a\nadmin:\n  metrics: 127.0.0.1\n", 9,
     "admin.metrics: \"127.0.0.1\": a port is required"},
    /* interfaces */
    {"interfaces: [eth0]\n", 1, "interfaces[0]: expected a mapping (key: value), got \"eth0\""},
    {"interfaces:\n  - name: a\n  - name: b\n  - name: c\n  - name: d\n  - name: e\n", 6,
     "interfaces: at most 4 entries"},
    {"interfaces:\n  - name: a\n  - name: a\n", 3,
     "interfaces[1].name: interface \"a\" is listed twice"},
    {"interfaces:\n  - name: averyveryverylongname\n", 2, "is not an interface name"},
    {"interfaces: []\n", 1, "interfaces: empty: needs at least one interface"},
    /* listeners and sources */
    {"interfaces: [{name: eth0}]\nlisteners:\n  - address: 10.0.0.1:1883\n    port: 1883\n", 3,
     "listeners[0].address: \"10.0.0.1:1883\": takes no port here"},
    {"interfaces: [{name: eth0}]\nlisteners:\n  - address: 0.0.0.0\n    port: 1883\n", 3,
     "\"0.0.0.0\" is the unspecified address"},
    {"interfaces: [{name: eth0}]\nlisteners:\n  - address: vip.example\n    port: 1883\n", 3,
     "\"vip.example\" is not an IPv4 or IPv6 address"},
    {"interfaces: [{name: eth0}]\nlisteners:\n  - {address: 10.0.0.1, port: 1883}\n"
     "  - {address: 10.0.0.1, port: 1883}\n",
     4, "listeners[1]: 10.0.0.1 port 1883 is already a listener (line 3)"},
    {"interfaces: [{name: eth0}]\nlisteners:\n  - port: 1883\n", 3,
     "listeners[0]: missing key 'address'"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses:\n  - 10.0.1.1:2000-1000\n",
     4, "source_addresses[0]: \"10.0.1.1:2000-1000\": the port range is not LO-HI"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses:\n  - 10.0.1.1\n  - 10.0.1.1:5000-6000\n",
     5, "10.0.1.1 is already a source address (line 4)"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses:\n  - fd00::1:1000-2000\n",
     4,
     "is not an IPv4 or IPv6 address (ADDR or ADDR:LO-HI; an IPv6 address with a range is "
     "[ADDR]:LO-HI)"},
    /* pools */
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers: []\n",
     6, "pools[0].brokers: empty: needs at least one broker"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    balance: least-rate\n",
     5, "pools[0]: missing key 'brokers' (a pool needs at least one broker"},
    {MINIMAL "  - name: a\n    brokers: [\"10.0.2.2:1883\"]\n", 7,
     "pools[1].name: pool \"a\" is defined twice (line 5)"},
    {MINIMAL "    balance: round-robin\n", 7,
     "pools[0].balance: \"round-robin\" is not one of: client-id, least-connections, least-rate, "
     "source-ip"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers:\n      - 10.0.2.1\n",
     7, "pools[0].brokers[0]: \"10.0.2.1\": a port is required"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers:\n      - broker1:1883\n",
     7, "\"broker1:1883\": not an IPv4 or IPv6 address"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers:\n      - 10.0.2.1:1883\n"
     "      - 10.0.2.1:1883\n",
     8, "broker 10.0.2.1:1883 is already in this pool (line 7)"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers:\n"
     "      - {address: 10.0.2.1:1883, weight: 300}\n",
     7, "pools[0].brokers[0].weight: 300 is out of range (0 to 256)"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers:\n"
     "      - {address: 10.0.2.1:1883, weight: 0}\n",
     5, "every broker of pool 'a' has weight 0"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a b\n",
     5, "pools[0].name: \"a b\" is not a pool name"},
    /* routes */
    {MINIMAL "routes:\n  - topic: a/#\n    pool: b\n", 9,
     "routes[0].pool: no pool named \"b\" (pools: a)"},
    {MINIMAL "routes:\n  - topic: a/#\n    client_id: x\n    pool: a\n", 9,
     "routes[0]: give one of topic, client_id, sni or alpn"},
    {MINIMAL "routes:\n  - {topic: a/#, pool: a}\n  - pool: a\n", 9,
     "routes[1]: needs topic (a topic filter), client_id (a client-id pattern), sni"},
    /* tls listeners and their routes */
    {MINIMAL "routes:\n  - {sni: a.example.net, pool: a}\n", 8,
     "routes[0].sni: an sni route, but no listener has protocol: tls"},
    {MINIMAL "routes:\n  - {alpn: mqtt, pool: a}\n", 8,
     "routes[0].alpn: an alpn route, but no listener has protocol: tls"},
    {TLS_MINIMAL "routes:\n  - {sni: \"a.*.net\", pool: a}\n", 8,
     "routes[0].sni: \"a.*.net\": '*' may only start a name"},
    {TLS_MINIMAL "routes:\n  - {sni: \"a..net\", pool: a}\n", 8,
     "routes[0].sni: \"a..net\": an empty label"},
    {TLS_MINIMAL "routes:\n  - {sni: \"a b.net\", pool: a}\n", 8,
     "a host name holds letters, digits"},
    {TLS_MINIMAL "routes:\n  - {sni: a.net, pool: a}\n  - {sni: A.NET., pool: a}\n", 9,
     "routes[1].sni: \"A.NET.\" is already routed at line 8"},
    {TLS_MINIMAL "routes:\n  - {sni: a.net, alpn: mqtt, pool: a}\n", 8,
     "routes[0]: give one of topic, client_id, sni or alpn"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1884, protocol: "
     "mqtt-sn}]\nsource_addresses: [10.0.1.1]\npools:\n  - name: a\n"
     "    brokers: [\"10.0.2.1:1884\"]\n",
     2, "listeners[0]: a mqtt-sn listener needs pool"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 5000, protocol: udp}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers: [\"10.0.2.1:5000\"]\n",
     2, "listeners[0]: a udp listener needs pool"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 5000, protocol: udp, "
     "pool: a}]\nsource_addresses: [10.0.1.1]\npools:\n  - name: a\n"
     "    brokers: [\"10.0.2.1:5000\"]\n    health: mqtt\n",
     5, "pools[0]: pool 'a' takes datagrams (a udp listener): health: mqtt cannot check it"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883, protocol: tcp}]\n", 2,
     "listeners[0].protocol: \"tcp\" is not a protocol (mqtt, tls, udp or mqtt-sn)"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883, pool: a}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers: [\"10.0.2.1:1883\"]\n"
     "default_pool: a\n",
     2, "listeners[0].pool: an MQTT listener binds by its routes and default_pool"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 8883, protocol: tls, "
     "pool: zz}]\nsource_addresses: [10.0.1.1]\npools:\n  - name: a\n"
     "    brokers: [\"10.0.2.1:1883\"]\n",
     2, "listeners[0].pool: no pool named \"zz\" (pools: a)"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 8883, protocol: tls}]\n"
     "source_addresses: [10.0.1.1]\npools:\n  - name: a\n    brokers: [\"10.0.2.1:1883\"]\n",
     1, "a tls listener without a pool, no routes and no default_pool"},
    {MINIMAL "    tls: {cert: /c.pem}\ndefault_pool: a\n", 7,
     "pools[0].tls: give cert and key together"},
    {MINIMAL "    health: http\ndefault_pool: a\n", 7, "pools[0].health: "},
    {MINIMAL "routes:\n  - topic: a/#/b\n    pool: a\n", 8,
     "routes[0].topic: \"a/#/b\": '#' must be the whole last level"},
    {MINIMAL "routes:\n  - topic: a+/b\n    pool: a\n", 8,
     "routes[0].topic: \"a+/b\": '+' must be a whole level"},
    {MINIMAL "routes:\n  - topic: $share/g/a/#\n    pool: a\n", 8,
     "\"$share/g/a/#\" is a shared subscription"},
    {MINIMAL "routes:\n  - topic: \"\"\n    pool: a\n", 8, "an empty topic filter"},
    {MINIMAL "routes:\n  - topic: a/#\n    pool: a\n  - topic: a/#\n    pool: a\n", 10,
     "routes[1].topic: \"a/#\" is already routed at line 8"},
    {MINIMAL "routes:\n  - client_id: \"\"\n    pool: a\n", 8, "an empty client-id pattern"},
    {MINIMAL "default_pool: b\n", 7, "default_pool: no pool named \"b\" (pools: a)"},
    {MINIMAL, 1, "no routes and no default_pool"},
    {MINIMAL "default_pool: a\nconnections: {max_topic: 3}\nroutes:\n  - topic: abcd/#\n"
             "    pool: a\n",
     10, "can only match topics longer than connections.max_topic (3)"},
    /* workers */
    {MINIMAL "default_pool: a\nworkers: 2\ncores: [0, 1]\n", 9,
     "cores: give workers or cores, not both"},
    {MINIMAL "default_pool: a\ncores: [0, 1]\nworkers: 2\n", 9,
     "workers: give workers or cores, not both"},
    {MINIMAL "default_pool: a\ncores:\n  - 1\n  - 1\n", 10, "cores[1]: core 1 is listed twice"},
    {MINIMAL "default_pool: a\ncores: []\n", 8, "cores: empty: needs at least one core"},
    /* across sections */
    {MINIMAL "  - name: b\n    brokers: [\"[fd00::1]:1883\"]\ndefault_pool: a\n", 8,
     "pools[1].brokers[0]: [fd00::1]:1883 is IPv6 but no source address is"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [10.0.0.1]\npools: [{name: a, brokers: [\"10.0.2.1:1883\"]}]\n"
     "default_pool: a\n",
     3, "ports 1024-32767 of 10.0.0.1 include listener port 1883 (line 2)"},
    {"interfaces: [{name: eth0}]\nlisteners: [{address: 10.0.0.1, port: 1883}]\n"
     "source_addresses: [\"10.0.1.1:5000\"]\npools: [{name: a, brokers: [\"10.0.2.1:1883\"]}]\n"
     "default_pool: a\nworkers: 2\n",
     3, "1 port(s) for 2 workers"},
    {MINIMAL "default_pool: a\nhealth:\n  interval: 1s\n  timeout: 2s\n", 10,
     "health.timeout: longer than health.interval"},
    {MINIMAL "default_pool: a\nhealth:\n  interval: 500ms\n", 9,
     "health.interval: shorter than health.timeout"},
    /* the file itself */
    {"", 1, "the file holds no configuration"},
    {"# only a comment\n", 1, "the file holds no configuration"},
    {"- a\n- b\n", 1, "expected a mapping of keys"},
    {MINIMAL "default_pool: a\n---\nworkers: 2\n", 8, "a second YAML document"},
    {MINIMAL "default_pool: a\nworkers: [1\n", 9, "YAML:"},
    {MINIMAL "default_pool: a\n\tworkers: 2\n", 8,
     "YAML: found a tab character that violates indentation (while scanning"},
    {MINIMAL "default_pool: a\n? [a, b]\n: 1\n", 8, "keys are plain names, not a list"},
    {MINIMAL "default_pool: a\nxsk: {mode: \"a\\0b\"}\n", 8, "holds a NUL byte"},
    {MINIMAL "default_pool: a\n# caf\xe9\n", 8, "YAML: incomplete UTF-8 octet sequence (byte"},
};

static void test_bad(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
                struct config *c = (struct config *)0x1;
                char err[CONFIG_ERR_MAX] = "", prefix[32];
                int e = config__load_string("bad.yaml", BAD[i].yaml, &c, err, sizeof(err));

                snprintf(prefix, sizeof(prefix), "bad.yaml:%d: ", BAD[i].line);
                if (e != -EINVAL || c)
                        fail_msg("case %zu accepted (%d): %s", i, e, BAD[i].yaml);
                if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, BAD[i].says))
                        fail_msg("case %zu: got\n  %s\nwant line %d and\n  %s", i, err, BAD[i].line,
                                 BAD[i].says);
                if (strchr(err, '\n'))
                        fail_msg("case %zu: the message is more than one line: %s", i, err);
        }
}

/* A buffer too short for the message still gets a terminated prefix of it. */
static void test_short_err(void **state)
{
        struct config *c;
        char err[16];

        (void)state;
        memset(err, 'x', sizeof(err));
        assert_int_equal(config__load_string("bad.yaml", "workers: x\n", &c, err, sizeof(err)),
                         -EINVAL);
        assert_null(c);
        assert_int_equal(strlen(err), sizeof(err) - 1);
        assert_int_equal(strncmp(err, "bad.yaml:1: wor", 15), 0);
        assert_int_equal(config__load_string("bad.yaml", "workers: x\n", &c, NULL, 0), -EINVAL);
}

/* The filters a route may have are exactly those the route table takes. */
static void test_filters_agree(void **state)
{
        static const char *const filters[] = {
            "a",     "a/#", "#",    "+",   "a/+/b",  "+/+",        "/",        "a//b",
            "a/#/b", "a#",  "a/b+", "#/a", "$SYS/#", "$share/g/a", "$share/g", "a/",
        };
        char yaml[2048], f[256], err[CONFIG_ERR_MAX];

        (void)state;
        for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]) + 2; i++) {
                struct route_table *rt = route_table__new();
                struct config *c;
                const char *filter = f;
                int want, got;

                assert_non_null(rt);
                if (i < sizeof(filters) / sizeof(filters[0])) {
                        filter = filters[i];
                } else { /* ROUTE_MAX_LEVELS levels, then one more */
                        size_t levels =
                            ROUTE_MAX_LEVELS + (i - sizeof(filters) / sizeof(filters[0]));

                        f[0] = 'a';
                        for (size_t l = 1; l < levels; l++)
                                memcpy(f + 2 * l - 1, "/a", 3);
                }
                want = route_table__add_filter(rt, (const uint8_t *)filter, strlen(filter), 0) >= 0;
                snprintf(yaml, sizeof(yaml), MINIMAL "routes: [{topic: \"%s\", pool: a}]\n",
                         filter);
                got = config__load_string("t.yaml", yaml, &c, err, sizeof(err)) == 0;
                if (got != want)
                        fail_msg("\"%s\": route table %s, config %s (%s)", filter,
                                 want ? "takes it" : "refuses it", got ? "takes it" : "refuses it",
                                 err);
                config__free(c);
                route_table__free(rt);
        }
}

/* ---- files ---- */

static void test_file(void **state)
{
        char path[] = "/tmp/test_config_XXXXXX";
        char err[CONFIG_ERR_MAX];
        struct config *c;
        int fd = mkstemp(path);
        FILE *f;

        (void)state;
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs(FULL, f);
        fclose(f);
        assert_int_equal(config__load(path, &c, err, sizeof(err)), 0);
        assert_string_equal(c->path, path);
        assert_int_equal(c->npools, 2);
        config__free(c);

        /* the same file broken: the message names it */
        f = fopen(path, "a");
        assert_non_null(f);
        fputs("workers: 3\n", f); /* cores: is given too */
        fclose(f);
        assert_int_equal(config__load(path, &c, err, sizeof(err)), -EINVAL);
        assert_null(c);
        {
                char want[64];

                snprintf(want, sizeof(want), "%s:57: workers: give workers or cores", path);
                if (strncmp(err, want, strlen(want)))
                        fail_msg("got %s, want %s", err, want);
        }
        unlink(path);

        assert_int_equal(config__load(path, &c, err, sizeof(err)), -ENOENT);
        assert_null(c);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, "No such file or directory"));

        assert_int_equal(config__load("/tmp", &c, err, sizeof(err)), -EISDIR);
        assert_string_equal(err, "/tmp: Is a directory");
}

/* ---- the plan ---- */

static char *plan_of(const char *yaml)
{
        struct config *c = load_ok(yaml);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        assert_int_equal(config__print_plan(c, f), 0);
        fclose(f);
        config__free(c);
        return buf;
}

static void test_plan(void **state)
{
        char *p = plan_of(FULL);

        (void)state;
        assert_non_null(strstr(p, "workers: 2, pinned to cores 1, 3"));
        assert_non_null(strstr(p, "[fd00::100]:8883"));
        assert_non_null(strstr(p, "10.20.0.2 ports 20000-29999 (10000 ports, 5000 per worker)"));
        /* other: weights 1 and 3 and a drained broker, on a Maglev table */
        assert_non_null(strstr(p, "other: balance client-id, 3 broker(s), Maglev table of 65537"));
        assert_non_null(strstr(p, "25.00% of the table"));
        assert_non_null(strstr(p, "75.00% of the table"));
        assert_non_null(strstr(p, " 0.00% of the table (0 entries)"));
        assert_non_null(strstr(p, "apples: balance least-connections"));
        assert_non_null(strstr(p, "50.00% of the weight"));
        assert_non_null(strstr(p, "default: other"));
        assert_non_null(strstr(p, "busy_poll 50us"));
        free(p);

        /* topic filters in the order the route table prefers them, patterns in file order */
        p = plan_of(MINIMAL "routes:\n"
                            "  - {topic: \"#\", pool: a}\n"
                            "  - {client_id: \"z*\", pool: a}\n"
                            "  - {topic: a/#, pool: a}\n"
                            "  - {topic: a/+/c, pool: a}\n"
                            "  - {client_id: \"b*\", pool: a}\n"
                            "  - {topic: a/b/#, pool: a}\n"
                            "  - {topic: a, pool: a}\n"
                            "  - {topic: +/b, pool: a}\n");
        {
                const char *order[] = {"    a ", "a/b/#", "a/+/c", "a/#",     "+/b",
                                       "    # ", "z*",    "b*",    "default:"};
                const char *at = p;

                for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
                        const char *next = strstr(at, order[i]);

                        if (!next)
                                fail_msg("\"%s\" missing or out of order in\n%s", order[i], p);
                        at = next + strlen(order[i]);
                }
        }
        free(p);
}

/* tls listeners: protocol and pool, sni / alpn routes, the pools TLS
 * clients reach marked TLS (their health checks handshake first). */
/* udp listeners: their pool, the pool's health none by default, the plan. */
static void test_udp(void **state)
{
        struct config *c;
        char err[CONFIG_ERR_MAX], *p;
        const char *yaml = "interfaces: [{name: eth0}]\n"
                           "listeners:\n"
                           "  - {address: 10.0.0.1, port: 1883}\n"
                           "  - {address: 10.0.0.1, port: 5000, protocol: udp, pool: col}\n"
                           "source_addresses: [10.0.1.1]\n"
                           "pools:\n"
                           "  - {name: col, balance: source-ip,\n"
                           "     brokers: [\"10.0.2.1:5000\", \"10.0.2.2:5000\"]}\n"
                           "  - {name: m, brokers: [\"10.0.2.4:1883\"]}\n"
                           "default_pool: m\n"
                           "connections: {udp_idle_timeout: 5s, udp_max_flows: 100, "
                           "udp_down_hold: 2s}\n";

        (void)state;
        assert_int_equal(config__load_string("udp.yaml", yaml, &c, err, sizeof(err)), 0);
        assert_int_equal(c->listeners[1].proto, CONFIG_PROTO_UDP);
        assert_int_equal(c->listeners[1].pool, 0);
        assert_true(c->pools[0].udp);
        assert_false(c->pools[1].udp);
        assert_int_equal(c->pools[0].health, CONFIG_HEALTH_NONE);
        assert_int_equal(c->pools[1].health, CONFIG_HEALTH_MQTT);
        assert_int_equal(c->connections.udp_idle_timeout_ms, 5000);
        assert_int_equal(c->connections.udp_max_flows, 100);
        assert_int_equal(c->connections.udp_down_hold_ms, 2000);
        config__free(c);
        p = plan_of(yaml);
        assert_non_null(strstr(p, "10.0.0.1:5000 udp (a flow per client address:port) to pool col, "
                                  "a backend by source-ip on the client address"));
        assert_non_null(strstr(p, "col: balance source-ip, 2 broker(s), Maglev table of 65537 "
                                  "entries, health none"));
        free(p);
}

static void test_tls(void **state)
{
        struct config *c;
        char err[CONFIG_ERR_MAX], *p;
        const char *yaml = "interfaces: [{name: eth0}]\n"
                           "listeners:\n"
                           "  - {address: 10.0.0.1, port: 1883}\n"
                           "  - {address: 10.0.0.1, port: 8883, protocol: tls, pool: t}\n"
                           "source_addresses: [10.0.1.1]\n"
                           "pools:\n"
                           "  - {name: a, brokers: [\"10.0.2.1:8883\"], health: tcp,\n"
                           "     tls: {server_name: a.example.net, cert: /c.pem, key: /k.pem}}\n"
                           "  - {name: w, brokers: [\"10.0.2.2:8883\"]}\n"
                           "  - {name: t, brokers: [\"10.0.2.3:8883\"], health: none}\n"
                           "  - {name: m, brokers: [\"10.0.2.4:1883\"]}\n"
                           "routes:\n"
                           "  - {sni: A.Example.Net., pool: a}\n"
                           "  - {sni: \"*.example.net\", pool: w}\n"
                           "  - {alpn: x-amzn-mqtt-ca, pool: w}\n"
                           "  - {topic: \"#\", pool: m}\n";

        (void)state;
        assert_int_equal(config__load_string("tls.yaml", yaml, &c, err, sizeof(err)), 0);
        assert_int_equal(c->listeners[0].proto, CONFIG_PROTO_MQTT);
        assert_int_equal(c->listeners[0].pool, -1);
        assert_int_equal(c->listeners[1].proto, CONFIG_PROTO_TLS);
        assert_int_equal(c->listeners[1].pool, 2);
        assert_true(c->pools[0].tls && c->pools[1].tls && c->pools[2].tls);
        assert_false(c->pools[3].tls);
        assert_int_equal(c->pools[0].health, CONFIG_HEALTH_TCP);
        assert_int_equal(c->pools[1].health, CONFIG_HEALTH_MQTT);
        assert_int_equal(c->pools[2].health, CONFIG_HEALTH_NONE);
        assert_string_equal(c->pools[0].tls_opts.server_name, "a.example.net");
        assert_string_equal(c->pools[0].tls_opts.key, "/k.pem");
        assert_int_equal(c->routes[0].kind, CONFIG_ROUTE_SNI);
        assert_int_equal(c->routes[2].kind, CONFIG_ROUTE_ALPN);
        assert_int_equal(c->default_pool, -1);
        config__free(c);

        p = plan_of(yaml);
        assert_non_null(strstr(p, "10.0.0.1:8883 tls (passthrough: bound by SNI / ALPN), unrouted "
                                  "clients to t"));
        assert_non_null(strstr(p, "10.0.0.1:1883 mqtt"));
        assert_non_null(strstr(p, "health tcp over TLS"));
        assert_non_null(strstr(p, "server name a.example.net, certificates not verified"));
        assert_non_null(strstr(p, "health none over TLS"));
        assert_non_null(strstr(p, "A.Example.Net."));
        assert_non_null(strstr(p, "*.example.net"));
        assert_non_null(strstr(p, "x-amzn-mqtt-ca"));
        free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_full),          cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_units),         cmocka_unit_test(test_bad),
            cmocka_unit_test(test_short_err),     cmocka_unit_test(test_file),
            cmocka_unit_test(test_filters_agree), cmocka_unit_test(test_plan),
            cmocka_unit_test(test_tls),           cmocka_unit_test(test_udp),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
