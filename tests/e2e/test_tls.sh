#!/usr/bin/env bash
# ctest e2e.tls: TLS passthrough (`protocol: tls` listeners) end to end:
# mqttlb reads the ClientHello, picks a pool by SNI, then ALPN, then the
# listener's pool, and splices the client to a Mosquitto TLS listener that
# terminates TLS itself (so client certificates work end to end).
#
#   test_tls.sh MQTTLB          (E2E_DIRECT=1 test_tls.sh: no mqttlb)
#
# Certificates made by scripts/make-certs.sh (P-256): a CA; one server
# certificate for every broker (SAN apples.example.net, *.pears.example.net,
# mtls.example.net, unrouted.example.net, *.example.net); a client
# certificate of that CA; a second CA and a client certificate of it (the
# "wrong" one). Seven Mosquitto brokers in the brokers' namespace, each with
# a plain listener on :1883 (the recorder's and the plain pools') and a TLS
# one on :8883:
#   apples-tls  10.20.0.11 10.20.0.12   sni apples.example.net
#   pears-tls   10.20.0.13 10.20.0.14   sni *.pears.example.net
#   tls-default 10.20.0.15              the TLS listener's `pool`
#   mtls        10.20.0.16              sni mtls.example.net; require_certificate
#   alpn-tls    10.20.0.17              alpn x-amzn-mqtt-ca
# mqttlb listens on 10.10.0.100:1883 (mqtt; pools apples, other) and
# 10.10.0.100:8883 (tls); TLS health checks (server_name, ca, and for mtls
# the client certificate); connections.bind_timeout 2s. The names resolve to
# the VIP in the clients' namespace through /etc/netns/NS/hosts (which
# `ip netns exec` mounts over /etc/hosts; removed at the end). A recorder
# (mqtt_clients.py record) on '#' at every broker's :1883 tells where each
# message went. Checked:
#   1. 20 mosquitto_pub over TLS (--cafile, -h apples.example.net -p 8883)
#      from 20 client addresses: every message at an apples-tls broker,
#      exactly once, both brokers used; a mosquitto_sub over TLS through the
#      VIP gets exactly what its broker got.
#   2. Paho over TLS with SNI x.pears.example.net: pears-tls (wildcard); a
#      raw client with SNI a.b.pears.example.net too (any number of labels);
#      SNI "APPLES.Example.NET" and "apples.example.net." land in apples-tls.
#   3. an SNI no route matches, and no SNI at all: tls-default; ALPN
#      x-amzn-mqtt-ca with an unrouted SNI: alpn-tls (Mosquitto has no ALPN
#      configured: OpenSSL ignores the offer and the handshake goes on);
#      SNI apples.example.net with that ALPN: apples-tls (SNI first).
#   4. mTLS: with the client certificate, mosquitto_pub/mosquitto_sub through
#      mtls.example.net work; without one, or with the wrong CA's, the
#      connection fails and nothing arrives.
#   5. ClientHellos cut up: in 3 TCP segments 0.2 s apart (TCP_NODELAY; the
#      first ends inside the record header), the handshake message over 3
#      TLS records in 3 segments, a 4 KB hello (padded ALPN list) over
#      several MSS, a TLS 1.2 hello in 3 segments: each handshake and MQTT
#      CONNECT/CONNACK/PUBLISH/PUBACK done by hand over an ssl.SSLObject
#      succeeds, in its pool.
#   6. hostile input on :8883 (only through mqttlb): a plain MQTT CONNECT,
#      200 random bytes, a truncated ClientHello then silence: each closed
#      within bind_timeout + 1 s and counted (tls.malformed, timeouts); a
#      good TLS client is served afterwards.
#   7. a tcpdump of one TLS mosquitto_pub on the client side replays with
#      `mqttlb replay` (same config): bound_at client_hello, pool apples-tls,
#      verdict spliced or open.
#   8. `mqttlb stats --json`: every TLS broker up (TLS health checks, mTLS
#      with the client certificate); tls.client_hellos >= the TLS clients
#      sent through the VIP, bound.sni, bound.alpn, bound.default and
#      malformed > 0 (the totals' "tls" object, beside "malformed"), the
#      same in --prometheus; mqttlb exits 0 on SIGTERM; the test under 3
#      minutes.
# Also printed, not checked: where a client lands that offers the routed
# ALPN protocol after ~1 KB of others (the TLS reader keeps the first 256
# bytes of the ALPN list).
# Needs root (fails without); traffic stays inside the test's namespaces.
# shellcheck disable=SC2317 # functions called through check and wait_until
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init tls "tls$$" "${1:-}"
for tool in openssl jq tcpdump mosquitto_pub mosquitto_sub; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"
done

TLSC="$E2E_DIR/tls_clients.py"
CFG="$TMP/mqttlb.yaml"
SOCK="$TMP/mqttlb.sock"
PKI="$TMP/pki"
TLS_PORT=8883
BIND_TIMEOUT=2 # s
N_PUB=20       # mosquitto_pub clients to apples.example.net, one per client address
CLIENT_TIMEOUT=20

# the plan: seven brokers, each with :1883 and :8883
NBROKERS=7
ALL_BROKERS="10.20.0.11 10.20.0.12 10.20.0.13 10.20.0.14 10.20.0.15 10.20.0.16 10.20.0.17"
TLS_POOLS=(apples-tls pears-tls tls-default mtls alpn-tls)
declare -A TLS_BROKERS=(
  [apples-tls]="10.20.0.11 10.20.0.12"
  [pears-tls]="10.20.0.13 10.20.0.14"
  [tls-default]="10.20.0.15"
  [mtls]="10.20.0.16"
  [alpn-tls]="10.20.0.17"
)
declare -A POOL_OF=() # broker address -> its TLS pool
for _p in "${TLS_POOLS[@]}"; do
  for _b in ${TLS_BROKERS[$_p]}; do POOL_OF[$_b]=$_p; done
done
MTLS_BROKER=10.20.0.16
TLS_SENT=0 # complete ClientHellos sent to the VIP's :8883 (for tls.client_hellos)

# the hosts file `ip netns exec` mounts over /etc/hosts in the clients' namespace
HOSTS_DIR=""
tls_cleanup() {
  local rc=$?
  set +e
  if [ -n "$HOSTS_DIR" ]; then
    rm -f "$HOSTS_DIR/hosts"
    rmdir "$HOSTS_DIR" 2>/dev/null
    rmdir /etc/netns 2>/dev/null # only when empty (nobody else's)
  fi
  (exit "$rc")
  e2e_cleanup
}
trap tls_cleanup EXIT

# --- helpers -----------------------------------------------------------------------

stats() { "$MQTTLB" stats -s "$SOCK" --json >"$1" 2>"$TMP/stats.err"; }
# tls_of FILE: the totals' "tls" object of a stats file ({} when missing).
tls_of() { jq -c '.tls // .connections.tls // .counters.tls // {}' "$1"; }
# tls_num FILE PATH: a number under the totals' "tls" (0 when missing), e.g. bound.sni.
tls_num() { jq -r "(.tls // .connections.tls // .counters.tls // {}).$2 // 0" "$1"; }
counter() { jq -r --arg k "$2" '.counters[$k] // 0' "$1"; }
ge() { [ "$1" -ge "$2" ]; }
# jtrue [-s] FILTER FILE: jq -e, quietly.
jtrue() { jq -e "$@" >/dev/null 2>&1; }

# tls_target POOL: the address a TLS client of POOL connects to: the VIP, or
# in direct mode the pool's first broker.
tls_target() {
  if [ "$DIRECT" -eq 1 ]; then
    local b=${TLS_BROKERS[$1]}
    echo "${b%% *}"
  else
    echo "$TOPO_VIP"
  fi
}
# via_vip: counts one complete ClientHello to the VIP (nothing in direct mode).
via_vip() { TLS_SENT=$((TLS_SENT + ${1:-1})); }

# recorded_at TOPIC: the brokers (addresses) that recorded messages on TOPIC,
# one line per message.
recorded_at() {
  [ -f "$TMP/recorded.tsv" ] || return 0
  awk -F'\t' -v t="$1" '$2 == t { sub(/:[0-9]+$/, "", $1); print $1 }' "$TMP/recorded.tsv"
}
recorded_n() { recorded_at "$1" | wc -l; }
has_recorded() { [ "$(recorded_n "$1")" -ge "$2" ]; }
# landed TOPIC: "POOL(BROKER) ..." for each message recorded on TOPIC.
landed() {
  local b out=""
  for b in $(recorded_at "$1"); do out+="${out:+ }${POOL_OF[$b]:-?}($b)"; done
  echo "${out:-nowhere}"
}
# in_pool TOPIC POOL N: exactly N messages on TOPIC, all at brokers of POOL.
in_pool() {
  local b n=0
  for b in $(recorded_at "$1"); do
    [ "${POOL_OF[$b]:-}" = "$2" ] || return 1
    n=$((n + 1))
  done
  [ "$n" -eq "$3" ]
}
# check_pool WHAT TOPIC POOL N: waits for N messages on TOPIC (5 s), then checks they are all in POOL.
check_pool() {
  wait_until 5 has_recorded "$2" "$4" || true
  sleep 0.2 # a duplicate, if any
  check "$1: $4 message(s) on $2 in $3 (got: $(landed "$2"))" in_pool "$2" "$3" "$4"
}
# client_on CLIENT_ID: the broker whose log shows CLIENT_ID connecting (the last one).
client_on() {
  local b
  for b in $ALL_BROKERS; do
    if grep -q "as $1 " "$TMP/mosquitto-$b.log" 2>/dev/null; then echo "$b"; fi
  done
}

# tls NAME ARGS...: tls_clients.py in the clients' namespace, in the
# foreground, its JSON summary in $TMP/NAME.json, stderr in $TMP/NAME.err.
tls() {
  local name=$1 rc=0
  shift
  in_ns cli timeout $((CLIENT_TIMEOUT + 15)) "$PY" "$TLSC" "$@" >"$TMP/$name.json" 2>"$TMP/$name.err" || rc=$?
  return "$rc"
}
# raw_ok WHAT NAME POOL TOPIC ARGS...: a raw TLS client publishing one message
# on TOPIC; checks it succeeded and that the message is in POOL.
raw_ok() {
  local what=$1 name=$2 pool=$3 topic=$4 rc=0
  shift 4
  tls "$name" raw --cafile "$PKI/ca.pem" --client-id "$name" --topic "$topic" --timeout "$CLIENT_TIMEOUT" "$@" || rc=$?
  [ "$DIRECT" -eq 1 ] || via_vip
  if [ "$rc" -eq 0 ]; then
    ok "$what: handshake and MQTT CONNECT/PUBLISH done ($(jq -c '{version, alpn, hello_bytes, pieces, records}' "$TMP/$name.json"))"
    check_pool "$what" "$topic" "$pool" 1
  else
    not_ok "$what: the TLS client failed (status $rc: $(jq -r '.error // empty' "$TMP/$name.json" 2>/dev/null))"
    show_log "$TMP/$name.err"
  fi
}

# --- certificates --------------------------------------------------------------------

make_certs() {
  if ! "$E2E_DIR/../../scripts/make-certs.sh" "$PKI" --label "e2e TLS" \
    --san "DNS:apples.example.net,DNS:*.pears.example.net,DNS:mtls.example.net,DNS:unrouted.example.net,DNS:*.example.net" \
    --client client --ca wrongca --client wrongclient:wrongca 2>"$TMP/make-certs.log"; then
    show_log "$TMP/make-certs.log"
    die "making the certificates with scripts/make-certs.sh failed"
  fi
  check "certificates: a CA, a server and a client certificate that verify against it, another CA's client certificate that does not" \
    certs_ok
}

certs_ok() {
  openssl verify -CAfile "$PKI/ca.pem" "$PKI/server.pem" "$PKI/client.pem" >/dev/null 2>&1 &&
    ! openssl verify -CAfile "$PKI/ca.pem" "$PKI/wrongclient.pem" >/dev/null 2>&1
}

# --- topology, names, brokers ----------------------------------------------------------

# names_up: /etc/netns/CLI-NS/hosts: the test's names to the VIP (in direct
# mode to each pool's first broker).
names_up() {
  HOSTS_DIR="/etc/netns/$TOPO_NS_CLI"
  mkdir -p "$HOSTS_DIR"
  {
    echo "127.0.0.1 localhost"
    echo "$(tls_target apples-tls) apples.example.net Apples.Example.NET"
    echo "$(tls_target pears-tls) x.pears.example.net"
    echo "$(tls_target mtls) mtls.example.net"
    echo "$(tls_target tls-default) unrouted.example.net"
  } >"$HOSTS_DIR/hosts"
  local got
  got=$(in_ns cli getent hosts apples.example.net | awk '{ print $1 }')
  check "names: apples.example.net resolves to $(tls_target apples-tls) in $TOPO_NS_CLI (via $HOSTS_DIR/hosts)" \
    [ "$got" = "$(tls_target apples-tls)" ]
}

# start_tls_broker ADDR: mosquitto with a plain listener on ADDR:1883 and a
# TLS one on ADDR:8883 (require_certificate on the mtls broker).
start_tls_broker() {
  local addr=$1 conf="$TMP/mosquitto-$1.conf" req=false
  [ "$addr" = "$MTLS_BROKER" ] && req=true
  cat >"$conf" <<EOF
# broker $addr (${POOL_OF[$addr]}) of the mqttlb end-to-end test $E2E_NAME
allow_anonymous true
user root
persistence false
max_queued_messages 0
log_dest file $TMP/mosquitto-$addr.log
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
connection_messages true
log_timestamp_format %H:%M:%S
listener $MQTT_PORT $addr
set_tcp_nodelay true
listener $TLS_PORT $addr
set_tcp_nodelay true
cafile $PKI/ca.pem
certfile $PKI/server.pem
keyfile $PKI/server.key
require_certificate $req
EOF
  bg brk "mosquitto-$addr" mosquitto -c "$conf"
  # shellcheck disable=SC2034 # the brokers by address, as lib.sh keeps them
  BROKER_PID[$addr]=$BG_PID
}

tls_listening() { in_ns brk ss -Hltn "sport = :$TLS_PORT" | grep -q "$1:$TLS_PORT"; }

start_tls_brokers() {
  local b
  for b in $ALL_BROKERS; do start_tls_broker "$b"; done
  for b in $ALL_BROKERS; do
    if ! wait_until 10 broker_listening "$b" || ! wait_until 5 tls_listening "$b"; then
      show_log "$TMP/mosquitto-$b.err" "$TMP/mosquitto-$b.log"
      die "mosquitto on $b did not listen on :$MQTT_PORT and :$TLS_PORT within 15 s"
    fi
  done
  ok "seven mosquitto brokers listen on :$MQTT_PORT and :$TLS_PORT (TLS) in $TOPO_NS_BRK"
}

# --- the balancer ------------------------------------------------------------------------

write_config() {
  local ca=$PKI/ca.pem
  cat >"$CFG" <<EOF
# mqttlb end-to-end test tls
interfaces: [{name: lb-c}, {name: lb-b}]
listeners:
  - {address: $TOPO_VIP, port: $MQTT_PORT}
  - {address: $TOPO_VIP, port: $TLS_PORT, protocol: tls, pool: tls-default}
source_addresses: [$TOPO_SRC]
workers: 2
pools:
  - {name: apples, brokers: ["10.20.0.11:$MQTT_PORT", "10.20.0.12:$MQTT_PORT"]}
  - {name: other, brokers: ["10.20.0.15:$MQTT_PORT"]}
  - name: apples-tls
    brokers: ["10.20.0.11:$TLS_PORT", "10.20.0.12:$TLS_PORT"]
    tls: {server_name: apples.example.net, ca: $ca}
  - name: pears-tls
    brokers: ["10.20.0.13:$TLS_PORT", "10.20.0.14:$TLS_PORT"]
    tls: {server_name: health.pears.example.net, ca: $ca}
  - name: tls-default
    brokers: ["10.20.0.15:$TLS_PORT"]
    tls: {server_name: unrouted.example.net, ca: $ca}
  - name: mtls
    brokers: ["10.20.0.16:$TLS_PORT"]
    tls: {server_name: mtls.example.net, ca: $ca, cert: $PKI/client.pem, key: $PKI/client.key}
  - name: alpn-tls
    brokers: ["10.20.0.17:$TLS_PORT"]
    tls: {server_name: alpn.example.net, ca: $ca}
routes:
  - {topic: "apples/#", pool: apples}
  - {sni: "apples.example.net", pool: apples-tls}
  - {sni: "*.pears.example.net", pool: pears-tls}
  - {sni: "mtls.example.net", pool: mtls}
  - {alpn: "x-amzn-mqtt-ca", pool: alpn-tls}
default_pool: other
health: {interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
admin: {socket: $SOCK}
connections: {bind_timeout: ${BIND_TIMEOUT}s, close_timeout: 1s}
EOF
}

tls_up() {
  stats "$TMP/stats.json" 2>/dev/null &&
    jq -e '[.pools[] | select(.name | endswith("tls")) | .brokers[].state] | length == 6 and all(. == "up")' \
      "$TMP/stats.json" >/dev/null &&
    jq -e '[.pools[] | select(.name == "mtls" or .name == "tls-default") | .brokers[].state] | all(. == "up")' \
      "$TMP/stats.json" >/dev/null
}

start_tls_lb() {
  if [ "$DIRECT" -eq 1 ]; then
    skip "mqttlb run serves the VIP with a tls listener"
    return 0
  fi
  write_config
  local rc=0
  "$MQTTLB" check -c "$CFG" >"$TMP/check.out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    sed 's/^/#   /' "$TMP/check.out"
    die "mqttlb check refuses the TLS configuration (status $rc; see above)"
  fi
  ok "mqttlb check accepts the TLS configuration"
  launch_lb "$CFG" mqttlb
  if wait_until 15 tls_up; then
    ok "stats: every TLS broker up (TLS health checks; mtls with the client certificate)"
  else
    not_ok "stats: every TLS broker up within 15 s ($(jq -c '[.pools[].brokers[] | {(.name): .state}] | add' "$TMP/stats.json" 2>/dev/null || cat "$TMP/stats.err"))"
    show_log "$LB_LOG"
  fi
}

# --- 1. mosquitto_pub / mosquitto_sub to apples.example.net -----------------------------------

sub_ready() { grep -q " tlssub-apples 1 apples/tls/#" "$TMP"/mosquitto-*.log 2>/dev/null; }

apples() {
  local i rc bad=0 pids=() name
  bg cli tlssub timeout $((CLIENT_TIMEOUT + 20)) mosquitto_sub --cafile "$PKI/ca.pem" -h apples.example.net -p "$TLS_PORT" \
    -A "10.10.0.$N_PUB" -i tlssub-apples -q 1 -t 'apples/tls/#' -v
  local subpid=$BG_PID
  [ "$DIRECT" -eq 1 ] || via_vip
  if wait_until 10 sub_ready; then
    ok "1. mosquitto_sub over TLS through apples.example.net:$TLS_PORT subscribed (at $(client_on tlssub-apples))"
  else
    show_log "$TMP/tlssub.err"
    not_ok "1. mosquitto_sub over TLS through apples.example.net:$TLS_PORT subscribed within 10 s"
  fi
  for ((i = 1; i <= N_PUB; i++)); do
    name="tlspub-$i"
    bg cli "$name" timeout "$CLIENT_TIMEOUT" mosquitto_pub --cafile "$PKI/ca.pem" -h apples.example.net -p "$TLS_PORT" \
      -A "10.10.0.$i" -i "$name" -q 1 -t "apples/tls/$name" -m "$name/1"
    pids+=("$BG_PID")
  done
  [ "$DIRECT" -eq 1 ] || via_vip "$N_PUB"
  for i in "${!pids[@]}"; do
    rc=0
    wait_pid "${pids[i]}" $((CLIENT_TIMEOUT + 5)) || rc=$?
    forget_pid "${pids[i]}"
    if [ "$rc" -ne 0 ]; then
      bad=$((bad + 1))
      [ "$bad" -gt 3 ] || show_log "$TMP/tlspub-$((i + 1)).err"
    fi
  done
  check "1. $N_PUB mosquitto_pub over TLS (--cafile, -h apples.example.net -p $TLS_PORT, 10.10.0.1-$N_PUB) exit 0 ($bad failed)" \
    [ "$bad" -eq 0 ]
  local n_ok=0 where=() b
  for ((i = 1; i <= N_PUB; i++)); do
    wait_until 3 has_recorded "apples/tls/tlspub-$i" 1 || true
    if in_pool "apples/tls/tlspub-$i" apples-tls 1; then n_ok=$((n_ok + 1)); fi
    where+=("$(recorded_at "apples/tls/tlspub-$i")")
  done
  check "1. each of the $N_PUB messages once at an apples-tls broker ($n_ok)" [ "$n_ok" -eq "$N_PUB" ]
  local n11 n12
  n11=$(printf '%s\n' "${where[@]}" | grep -cx 10.20.0.11 || true)
  n12=$(printf '%s\n' "${where[@]}" | grep -cx 10.20.0.12 || true)
  real_check "1. both apples-tls brokers used by the $N_PUB clients (10.20.0.11: $n11, 10.20.0.12: $n12)" \
    all_pos "$n11" "$n12"
  # the subscriber got exactly what its broker got
  sleep 0.5
  stop_pid "$subpid" 5 || true
  forget_pid "$subpid"
  b=$(client_on tlssub-apples)
  local want got
  want=$(for ((i = 1; i <= N_PUB; i++)); do
    [ "$(recorded_at "apples/tls/tlspub-$i")" = "$b" ] && echo "apples/tls/tlspub-$i tlspub-$i/1"
  done | sort)
  got=$(sort "$TMP/tlssub.out")
  check "1. the subscriber through the VIP (at ${b:-?}) got exactly the $(echo "$want" | grep -c . || true) messages its broker got ($(echo "$got" | grep -c . || true) received)" \
    all_true "${b:+1} -eq 1" "$(test -n "$want" && test "$want" = "$got" && echo 1 || echo 0) -eq 1"
}
all_pos() { [ "$1" -gt 0 ] && [ "$2" -gt 0 ]; }
all_true() {
  local c
  for c in "$@"; do
    # shellcheck disable=SC2086 # the words of one comparison
    [ $c ] || return 1
  done
}

# --- 2. wildcard SNI (Paho), case -----------------------------------------------------------

pears() {
  local rc=0
  tls paho-pears paho --host x.pears.example.net --cafile "$PKI/ca.pem" --bind 10.10.0.2 --client-id paho-pears \
    --topic pears/tls/paho --count 5 --timeout "$CLIENT_TIMEOUT" || rc=$?
  [ "$DIRECT" -eq 1 ] || via_vip
  if [ "$rc" -eq 0 ]; then
    ok "2. Paho over TLS to x.pears.example.net: 5 QoS 1 messages acknowledged ($(jq -c '{version, alpn}' "$TMP/paho-pears.json"))"
    check_pool "2. Paho, SNI x.pears.example.net (route *.pears.example.net)" pears/tls/paho pears-tls 5
  else
    not_ok "2. Paho over TLS to x.pears.example.net (status $rc: $(jq -r '.error // empty' "$TMP/paho-pears.json" 2>/dev/null))"
    show_log "$TMP/paho-pears.err"
  fi
  raw_ok "2. SNI a.b.pears.example.net (a wildcard matches any number of labels)" raw-deep pears-tls pears/tls/deep \
    --connect "$(tls_target pears-tls)" --sni a.b.pears.example.net --no-check-hostname --bind 10.10.0.3
  raw_ok "2. SNI APPLES.Example.NET (names compare case-insensitively)" raw-case apples-tls apples/tls/case \
    --connect "$(tls_target apples-tls)" --sni APPLES.Example.NET --bind 10.10.0.4
  raw_ok "2. SNI apples.example.net. (a trailing dot is ignored)" raw-dot apples-tls apples/tls/dot \
    --connect "$(tls_target apples-tls)" --sni apples.example.net. --no-check-hostname --bind 10.10.0.4
}

# --- 3. default pool, ALPN ----------------------------------------------------------------

fallback() {
  raw_ok "3. SNI unrouted.example.net (no route): the listener's pool" raw-unrouted tls-default other/tls/unrouted \
    --connect "$(tls_target tls-default)" --sni unrouted.example.net --bind 10.10.0.5
  raw_ok "3. no SNI at all: the listener's pool" raw-nosni tls-default other/tls/nosni \
    --connect "$(tls_target tls-default)" --bind 10.10.0.6
  raw_ok "3. ALPN x-amzn-mqtt-ca, SNI unrouted.example.net: the ALPN route's pool" raw-alpn alpn-tls other/tls/alpn \
    --connect "$(tls_target alpn-tls)" --sni unrouted.example.net --alpn mqtt-unknown --alpn x-amzn-mqtt-ca --bind 10.10.0.7
  raw_ok "3. ALPN x-amzn-mqtt-ca, SNI apples.example.net: SNI before ALPN" raw-sni-alpn apples-tls apples/tls/sni-alpn \
    --connect "$(tls_target apples-tls)" --sni apples.example.net --alpn x-amzn-mqtt-ca --bind 10.10.0.8
}

# --- 4. mTLS ----------------------------------------------------------------------------------

mtls_pub() { # NAME TOPIC ARGS...: mosquitto_pub to mtls.example.net; returns its status
  local name=$1 topic=$2 rc=0
  shift 2
  in_ns cli timeout "$CLIENT_TIMEOUT" mosquitto_pub --cafile "$PKI/ca.pem" -h mtls.example.net -p "$TLS_PORT" \
    -i "$name" -q 1 -t "$topic" -m "$name/1" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  [ "$DIRECT" -eq 1 ] || via_vip
  return "$rc"
}

mtls_sub_ready() { grep -q " mtls-sub 1 mtls/#" "$TMP/mosquitto-$MTLS_BROKER.log" 2>/dev/null; }

mtls() {
  local rc=0 cert=(--cert "$PKI/client.pem" --key "$PKI/client.key")
  bg cli mtls-sub timeout "$CLIENT_TIMEOUT" mosquitto_sub --cafile "$PKI/ca.pem" -h mtls.example.net -p "$TLS_PORT" \
    "${cert[@]}" -i mtls-sub -q 1 -t 'mtls/#' -v -C 1
  local subpid=$BG_PID
  [ "$DIRECT" -eq 1 ] || via_vip
  if ! wait_until 10 mtls_sub_ready; then
    show_log "$TMP/mtls-sub.err"
    not_ok "4. mTLS: mosquitto_sub with the client certificate subscribed at $MTLS_BROKER within 10 s"
  fi
  mtls_pub mtls-pub mtls/with-cert "${cert[@]}" || rc=$?
  check "4. mTLS: mosquitto_pub with the client certificate through mtls.example.net exits 0 (status $rc)" [ "$rc" -eq 0 ]
  [ "$rc" -eq 0 ] || show_log "$TMP/mtls-pub.err"
  rc=0
  wait_pid "$subpid" 10 || rc=$?
  forget_pid "$subpid"
  check "4. mTLS: mosquitto_sub with the client certificate got it (status $rc, got '$(head -c 100 "$TMP/mtls-sub.out")')" \
    grep -qx "mtls/with-cert mtls-pub/1" "$TMP/mtls-sub.out"
  check_pool "4. mTLS" mtls/with-cert mtls 1
  rc=0
  mtls_pub mtls-nocert mtls/no-cert || rc=$?
  check "4. mTLS: mosquitto_pub without a client certificate fails (status $rc: $(head -c 120 "$TMP/mtls-nocert.err" | tr '\n' ' '))" \
    [ "$rc" -ne 0 ]
  rc=0
  mtls_pub mtls-wrongca mtls/wrong-ca --cert "$PKI/wrongclient.pem" --key "$PKI/wrongclient.key" || rc=$?
  check "4. mTLS: mosquitto_pub with another CA's client certificate fails (status $rc: $(head -c 120 "$TMP/mtls-wrongca.err" | tr '\n' ' '))" \
    [ "$rc" -ne 0 ]
  sleep 0.3
  check "4. mTLS: nothing from the refused clients reached a broker" \
    [ "$(($(recorded_n mtls/no-cert) + $(recorded_n mtls/wrong-ca)))" -eq 0 ]
}

# --- 5. ClientHellos cut up -----------------------------------------------------------------

split_hellos() {
  raw_ok "5. a ClientHello in 3 TCP segments (0.2 s apart)" raw-split3 apples-tls apples/tls/split3 \
    --connect "$(tls_target apples-tls)" --sni apples.example.net --pieces 3 --pause 0.2 --bind 10.10.0.9
  check "5. ... the first segment ends inside the record header: $(jq -c .pieces "$TMP/raw-split3.json" 2>/dev/null)" \
    jtrue '.pieces | length == 3 and .[0] == 3' "$TMP/raw-split3.json"
  raw_ok "5. a ClientHello over 3 TLS records in 3 TCP segments" raw-records3 pears-tls pears/tls/records3 \
    --connect "$(tls_target pears-tls)" --sni x.pears.example.net --records 3 --pieces 3 --pause 0.2 --bind 10.10.0.10
  raw_ok "5. a 4 KB ClientHello (padded ALPN list; several MSS)" raw-big apples-tls apples/tls/big \
    --connect "$(tls_target apples-tls)" --sni apples.example.net --pad-alpn 4000 --bind 10.10.0.11
  # not a check: the TLS reader keeps the first 256 bytes of the ALPN list
  # (tls/clienthello.h), so a protocol offered after them may not be routed
  local rc=0
  tls raw-alpn-late raw --cafile "$PKI/ca.pem" --client-id raw-alpn-late --topic other/tls/alpn-late \
    --connect "$(tls_target alpn-tls)" --sni unrouted.example.net --alpn x-amzn-mqtt-ca --pad-alpn 1500 --pad-first \
    --bind 10.10.0.13 --timeout "$CLIENT_TIMEOUT" || rc=$?
  [ "$DIRECT" -eq 1 ] || via_vip
  wait_until 3 has_recorded other/tls/alpn-late 1 || true
  info "5. x-amzn-mqtt-ca offered after ~1 KB of other ALPN protocols (unrouted SNI): status $rc, landed in $(landed other/tls/alpn-late)"
  raw_ok "5. TLS 1.2 in 3 TCP segments" raw-tls12 apples-tls apples/tls/tls12 \
    --connect "$(tls_target apples-tls)" --sni apples.example.net --tls-version 1.2 --pieces 3 --pause 0.1 --bind 10.10.0.12
}

# --- 6. hostile input ---------------------------------------------------------------------

hostile() {
  if [ "$DIRECT" -eq 1 ]; then
    skip "6. hostile input on the TLS listener closed and counted"
    return 0
  fi
  stats "$TMP/hostile.before.json" || not_ok "6. stats answer before the hostile clients"
  local k pids=() kinds=(connect random truncated) i=13 rc
  for k in "${kinds[@]}"; do
    bg cli "hostile-$k" "$PY" "$TLSC" hostile --connect "$TOPO_VIP" --bind "10.10.0.$i" --kind "$k" \
      --wait $((BIND_TIMEOUT + 6)) --within $((BIND_TIMEOUT + 1))
    pids+=("$BG_PID")
    i=$((i + 1))
  done
  for i in "${!kinds[@]}"; do
    rc=0
    wait_pid "${pids[i]}" $((BIND_TIMEOUT + 20)) || rc=$?
    forget_pid "${pids[i]}"
    k=${kinds[i]}
    check "6. hostile $k on :$TLS_PORT closed by mqttlb within bind_timeout + 1 s ($(jq -c '{sent, closed, after_s}' "$TMP/hostile-$k.out" 2>/dev/null || echo "status $rc"))" \
      [ "$rc" -eq 0 ]
  done
  sleep 0.5
  stats "$TMP/hostile.after.json" || not_ok "6. stats answer after the hostile clients"
  local mal to
  mal=$(($(tls_num "$TMP/hostile.after.json" malformed) - $(tls_num "$TMP/hostile.before.json" malformed)))
  to=$(($(counter "$TMP/hostile.after.json" timeouts) - $(counter "$TMP/hostile.before.json" timeouts)))
  info "6. tls.malformed_by now: $(jq -c '(.tls // .connections.tls // .counters.tls // {}).malformed_by' "$TMP/hostile.after.json")"
  check "6. counted: tls.malformed +$mal (>= 2: CONNECT bytes, random bytes), malformed + timeouts +$((mal + to)) (>= 3)" \
    all_true "$mal -ge 2" "$((mal + to)) -ge 3"
  raw_ok "6. a good TLS client afterwards" raw-after apples-tls apples/tls/after \
    --connect "$TOPO_VIP" --sni apples.example.net --bind 10.10.0.16
}

# --- 7. replay ----------------------------------------------------------------------------------

capture_ready() { grep -q "listening on" "$TMP/tcpdump.err" 2>/dev/null; }

replay() {
  local rc=0 cli=10.10.0.17 pid
  bg cli tcpdump tcpdump -i cli0 -s 0 -U --immediate-mode -nn -w "$TMP/tls.pcap" "tcp port $TLS_PORT and host $cli"
  pid=$BG_PID
  if ! wait_until 5 capture_ready; then
    show_log "$TMP/tcpdump.err"
    not_ok "7. tcpdump on cli0 started"
    return 0
  fi
  in_ns cli timeout "$CLIENT_TIMEOUT" mosquitto_pub --cafile "$PKI/ca.pem" -h apples.example.net -p "$TLS_PORT" \
    -A "$cli" -i tls-replay -q 1 -t apples/tls/replay -m tls-replay/1 >"$TMP/replay-pub.out" 2>"$TMP/replay-pub.err" || rc=$?
  [ "$DIRECT" -eq 1 ] || via_vip
  sleep 0.5
  stop_pid "$pid" 5 || true
  forget_pid "$pid"
  check "7. a captured TLS mosquitto_pub exits 0 (status $rc; $(tcpdump -nn -r "$TMP/tls.pcap" 2>/dev/null | wc -l) frames captured)" [ "$rc" -eq 0 ]
  if [ "$DIRECT" -eq 1 ]; then
    skip "7. mqttlb replay of the capture: bound_at client_hello, pool apples-tls, spliced"
    return 0
  fi
  rc=0
  "$MQTTLB" replay -c "$CFG" -r "$TMP/tls.pcap" --json >"$TMP/replay.json" 2>"$TMP/replay.err" || rc=$?
  info "7. replay: $(head -c 600 "$TMP/replay.json")"
  check "7. mqttlb replay of the capture exits 0 (status $rc)" [ "$rc" -eq 0 ]
  [ "$rc" -eq 0 ] || show_log "$TMP/replay.err"
  local want='length == 1 and .[0].bound_at == "client_hello" and .[0].pool == "apples-tls"
            and (.[0].verdict == "spliced" or .[0].verdict == "open") and .[0].stream_intact == true'
  if jtrue -s "$want" "$TMP/replay.json"; then
    ok "7. replay: one connection, bound_at client_hello, pool apples-tls, verdict spliced or open, stream intact"
  else
    not_ok "7. replay: one connection, bound_at client_hello, pool apples-tls, verdict spliced or open, stream intact"
    # diagnosis: the same capture with the tls listener first (replay plays
    # every client to the first listener of its address family)
    awk '/^listeners:/ { print; getline a; getline b; print b; print a; next } { print }' "$CFG" >"$TMP/replay-tlsfirst.yaml"
    "$MQTTLB" replay -c "$TMP/replay-tlsfirst.yaml" -r "$TMP/tls.pcap" --json >"$TMP/replay2.json" 2>"$TMP/replay2.err" || true
    info "7. the same capture with the tls listener listed first: $(head -c 600 "$TMP/replay2.json")"
  fi
}

# --- 8. the counters ---------------------------------------------------------------------------

counters() {
  if [ "$DIRECT" -eq 1 ]; then
    skip "8. stats --json: tls.client_hellos, bound.sni/alpn/default, malformed"
    return 0
  fi
  stats "$TMP/stats-final.json" || { not_ok "8. stats --json answers"; return 0; }
  local t
  t=$(tls_of "$TMP/stats-final.json")
  info "8. stats tls: $t"
  check "8. stats: tls.client_hellos $(tls_num "$TMP/stats-final.json" client_hellos) >= $TLS_SENT complete ClientHellos sent through the VIP" \
    ge "$(tls_num "$TMP/stats-final.json" client_hellos)" "$TLS_SENT"
  check "8. stats: tls.bound.sni, tls.bound.alpn, tls.bound.default, tls.malformed all > 0 ($(jq -c '{bound, malformed}' <<<"$t"))" \
    all_true "$(tls_num "$TMP/stats-final.json" bound.sni) -gt 0" "$(tls_num "$TMP/stats-final.json" bound.alpn) -gt 0" \
    "$(tls_num "$TMP/stats-final.json" bound.default) -gt 0" "$(tls_num "$TMP/stats-final.json" malformed) -gt 0"
  local prom hellos
  prom=$("$MQTTLB" stats -s "$SOCK" --prometheus 2>&1) || true
  hellos=$(tls_num "$TMP/stats-final.json" client_hellos)
  check "8. stats --prometheus: a tls hello counter at $hellos and mqttlb_tls_malformed_total by reason" \
    all_true "$(grep -cE "^mqttlb_tls_[a-z_]*hello[a-z_]* $hellos\$" <<<"$prom") -ge 1" \
    "$(grep -c '^mqttlb_tls_malformed_total{reason="not_handshake"} [1-9]' <<<"$prom") -eq 1"
  local tot
  tot=$(jq '[.pools[] | select(.name == "apples-tls") | .brokers[].total] | add // 0' "$TMP/stats-final.json")
  check "8. stats: apples-tls brokers' total connections $tot >= $((N_PUB + 1))" ge "$tot" $((N_PUB + 1))
}

main() {
  local env
  env=$("$TOPO" up "$P" --queues 2 --brokers "$NBROKERS" --clients "$N_PUB" --env) || die "topo.sh up $P failed"
  eval "$env"
  if [ "$DIRECT" -eq 1 ]; then
    in_ns lb sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    ip -n "$TOPO_NS_CLI" route add 10.20.0.0/24 via "$TOPO_VIP"
    ip -n "$TOPO_NS_BRK" route add 10.10.0.0/24 via "$TOPO_SRC"
  fi
  make_certs
  names_up
  start_tls_brokers
  start_recorder 10000
  start_tls_lb
  apples
  pears
  fallback
  mtls
  split_hellos
  hostile
  replay
  counters
  stop_recorder
  stop_lb
  check "the test took under 3 minutes ($SECONDS s)" [ "$SECONDS" -lt 180 ]
  finish
}

main
