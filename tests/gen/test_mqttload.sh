#!/usr/bin/env bash
# mqttload (bench/mqttload) against a real Mosquitto, both inside a private
# network namespace (mqload-<PID>, loopback only: no traffic leaves it):
#   1. sub (QoS 1, --expect 500 --publishers 2) + pub (QoS 1, 2 clients x 500):
#      1000 acked, 1000 received, no duplicate, nothing lost, latency > 0, and
#      the sub ends by itself once it has everything;
#   2. the same with QoS 2;
#   3. QoS 0 over MQTT 5 with 70,000-byte payloads (packets larger than the
#      receive buffer, split over many reads) and MQTT 3.1 with small ones;
#   4. conn with 200 clients: all 200 connected, connect latency > 0;
#   5. conn --reconnect with 50 clients: the broker restarted under them, all
#      50 reconnect and the time to reconnect them all is reported;
#   6. bad arguments exit 1 naming the option; a closed port exits 2 with the
#      failures counted as refused.
# Needs root (namespaces), /usr/sbin/mosquitto and jq. Kills only the PIDs it
# started; removes its namespace on any exit.
#
#   tests/gen/test_mqttload.sh PATH/TO/mqttload
set -euo pipefail

load=${1:?usage: test_mqttload.sh PATH/TO/mqttload}
mosquitto=/usr/sbin/mosquitto
fail() {
  echo "test_mqttload: FAIL: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces)"
[ -x "$load" ] || fail "$load is not an executable"
[ -x "$mosquitto" ] || fail "$mosquitto is missing (apt-get install mosquitto)"
for tool in ip jq ss; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done

ns=mqload-$$
tmp=$(mktemp -d)
pids=()
broker=
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
cat >"$tmp/mosquitto.conf" <<EOF
listener 1883 127.0.0.1
allow_anonymous true
user root
max_queued_messages 100000
EOF

# start_broker: mosquitto in the namespace, once it listens
start_broker() {
  ip netns exec "$ns" "$mosquitto" -c "$tmp/mosquitto.conf" >>"$tmp/mosquitto.log" 2>&1 &
  broker=$!
  pids+=("$broker")
  for _ in $(seq 100); do
    ip netns exec "$ns" ss -Htln 'sport = :1883' | grep -q . && return 0
    kill -0 "$broker" 2>/dev/null || break
    sleep 0.05
  done
  cat "$tmp/mosquitto.log" >&2
  fail "mosquitto did not come up"
}

stop_broker() {
  kill "$broker"
  wait "$broker" 2>/dev/null || true
}

run() { ip netns exec "$ns" "$load" "$@"; }

# check FILE JQ-EXPRESSION: the expression is true of the JSON in FILE
check() {
  jq -e "$2" "$1" >/dev/null || {
    jq -c . "$1" >&2 || cat "$1" >&2
    fail "$(basename "$1"): expected $2"
  }
}

# background NAME ARGS...: mqttload in the background; waits for its ready line
background() {
  local name=$1
  shift
  # not through run(): $! must be mqttload itself (ip netns exec execs it),
  # not a subshell, for kill and wait
  ip netns exec "$ns" "$load" "$@" --json >"$tmp/$name.json" 2>"$tmp/$name.err" &
  bg=$!
  pids+=("$bg")
  for _ in $(seq 200); do
    grep -q '^mqttload: ready' "$tmp/$name.err" && return 0
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.05
  done
  cat "$tmp/$name.err" >&2
  fail "$name did not get ready"
}

# finish NAME: waits for the background run, which must exit 0
finish() {
  local rc=0
  wait "$bg" || rc=$?
  [ "$rc" = 0 ] || {
    cat "$tmp/$1.err" >&2
    fail "$1 exited $rc"
  }
}

start_broker

# 1, 2: QoS 1 and 2, two publishers into one subscriber
for q in 1 2; do
  background sub$q sub -H 127.0.0.1 -q $q -t 'bench/#' --expect 500 --publishers 2 -d 60
  run pub -H 127.0.0.1 -q $q -c 2 -n 500 -t 'bench/%i' --json >"$tmp/pub$q.json" 2>"$tmp/pub$q.err" ||
    { cat "$tmp/pub$q.err" >&2; fail "pub QoS $q exited $?"; }
  finish sub$q
  check "$tmp/pub$q.json" '.mode == "pub" and .connected == 2 and .sent == 1000 and .acked == 1000
    and .connect_failed == 0 and .disconnected == 0 and .msgs_per_s > 0'
  check "$tmp/sub$q.json" '.mode == "sub" and .received == 1000 and .duplicated == 0 and .lost == 0'
  check "$tmp/sub$q.json" '.lat_p50_us > 0 and .lat_p99_us >= .lat_p50_us
    and .lat_p999_us >= .lat_p99_us and .lat_max_us >= .lat_p999_us and .lat_samples == 1000'
  # ended by --publishers/--expect, not by -d
  check "$tmp/sub$q.json" '.duration_s < 30'
  echo "test_mqttload: QoS $q: $(jq -c '{received, duplicated, lost, lat_p50_us, lat_p99_us, msgs_per_s}' "$tmp/sub$q.json")"
done

# 3: MQTT 5, QoS 0, payloads larger than the 16 KiB receive buffer; MQTT 3.1
background sub5 sub -H 127.0.0.1 -V 5 -t 'big/%i' -c 2 --expect 20 --publishers 1 -d 60
run pub -H 127.0.0.1 -V 5 -c 2 -n 20 -s 70000 -r 200 -t 'big/%i' --json >"$tmp/pub5.json" 2>"$tmp/pub5.err" ||
  { cat "$tmp/pub5.err" >&2; fail "pub -V 5 exited $?"; }
finish sub5
check "$tmp/pub5.json" '.sent == 40 and .acked == 0'
check "$tmp/sub5.json" '.received == 40 and .duplicated == 0 and .lost == 0 and .protocol_error == null'
background sub3 sub -H 127.0.0.1 -V 3 -q 1 -t 'v31/#' --expect 100 --publishers 1 -d 60 -i 'v31-sub-%i'
run pub -H 127.0.0.1 -V 3 -q 1 -n 100 -s 16 -t 'v31/x' -i 'v31-pub-%i' --json >"$tmp/pub3.json" 2>"$tmp/pub3.err" ||
  { cat "$tmp/pub3.err" >&2; fail "pub -V 3 exited $?"; }
finish sub3
check "$tmp/pub3.json" '.acked == 100'
check "$tmp/sub3.json" '.received == 100 and .lost == 0 and .duplicated == 0 and .lat_p50_us > 0'
echo "test_mqttload: MQTT 5 (70,000-byte payloads) and 3.1: ok"

# 4: 200 connections held
run conn -H 127.0.0.1 -c 200 -d 2 --json >"$tmp/conn.json" 2>"$tmp/conn.err" ||
  { cat "$tmp/conn.err" >&2; fail "conn exited $?"; }
check "$tmp/conn.json" '.mode == "conn" and .connected == 200 and .connect_failed == 0
  and .disconnected == 0 and .connect_p50_us > 0 and .connect_p99_us >= .connect_p50_us
  and .conn_per_s > 0'
echo "test_mqttload: conn: $(jq -c '{connected, conn_per_s, connect_p50_us, connect_p99_us}' "$tmp/conn.json")"

# 5: a reconnect storm: the broker goes away and comes back
background storm conn -H 127.0.0.1 -c 50 -d 60 --reconnect --retry-delay 0.05
stop_broker
sleep 0.5
start_broker
# everyone back: 50 established connections at the broker's port
for _ in $(seq 100); do
  [ "$(ip netns exec "$ns" ss -Htn state established '( sport = :1883 )' | wc -l)" -ge 50 ] && break
  sleep 0.1
done
sleep 0.3
kill -TERM "$bg" # stops the run: the summary and the JSON still come
finish storm
check "$tmp/storm.json" '.connected == 50 and .disconnected == 50 and .reconnects == 50
  and .reconnect_all_s != null and .reconnect_all_s > 0 and .duration_s < 30'
echo "test_mqttload: reconnect storm: $(jq -c '{disconnected, reconnects, reconnect_all_s, connect_errors}' "$tmp/storm.json")"

# 6: exit codes
rc=0
run pub -H 127.0.0.1 -q 3 >/dev/null 2>"$tmp/bad.err" || rc=$?
[ "$rc" = 1 ] || fail "-q 3: exit $rc, expected 1"
grep -q -- '-q' "$tmp/bad.err" || fail "-q 3: the message does not name -q: $(cat "$tmp/bad.err")"
rc=0
run sub -H 127.0.0.1 --bogus >/dev/null 2>"$tmp/bad2.err" || rc=$?
[ "$rc" = 1 ] || fail "--bogus: exit $rc, expected 1"
grep -q -- '--bogus' "$tmp/bad2.err" || fail "--bogus: the message does not name it"
rc=0
run pub -H 127.0.0.1 -t 'a/#' >/dev/null 2>"$tmp/bad3.err" || rc=$?
[ "$rc" = 1 ] || fail "pub -t a/#: exit $rc, expected 1"
rc=0
run conn -H 127.0.0.1 -p 1884 -c 3 -d 1 --json >"$tmp/closed.json" 2>"$tmp/closed.err" || rc=$?
[ "$rc" = 2 ] || { cat "$tmp/closed.err" >&2; fail "closed port: exit $rc, expected 2"; }
check "$tmp/closed.json" '.connected == 0 and .connect_failed == 3 and .connect_errors.refused == 3'
echo "test_mqttload: exit codes: ok"

echo "test_mqttload: PASS"
