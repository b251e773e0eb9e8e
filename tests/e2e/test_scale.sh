#!/usr/bin/env bash
# ctest e2e.scale: 1,000 concurrent MQTT connections through two workers,
# and a broker killed under them.
#
#   test_scale.sh MQTTLB            (E2E_DIRECT=1 test_scale.sh: no mqttlb)
#
# Standard plan and brokers (lib.sh), a recorder on '#' at every broker. The
# load tool (mqtt_clients.py load: asyncio, hand-written MQTT 3.1.1) opens
# 1,000 connections (client ids load-N, topics spread over the three pools,
# source addresses spread over the ten client addresses); each keeps its
# connection and publishes one QoS 1 message a second, 30 in all, payload
# load-N/SEQ. While they run, apples' broker 10.20.0.11 is killed (SIGKILL);
# its clients' connections break, they reconnect with backoff and resend the
# unacknowledged message.
# Checked: all 1,000 were connected at the brokers at once (through mqttlb:
# all from the full-NAT source address); every client had all its messages
# acknowledged; every message reached a broker of its pool (duplicates only
# from resends); the clients on the killed broker moved to 10.20.0.12 and
# their later messages arrived there only; nobody else reconnected; mqttlb
# exits 0; the whole test takes under 3 minutes.
# Needs root (fails without); traffic stays inside the test's namespaces.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init scale "scl$$" "${1:-}"

N_CLIENTS=1000
N_MESSAGES=30
KILLED=10.20.0.11
SURVIVOR=10.20.0.12
LOAD_DEADLINE=100 # seconds the load tool may take in all

start_load() {
  local pool args=()
  for pool in "${POOL_NAMES[@]}"; do args+=(--pool "$pool=$(targets "$pool")"); done
  bg cli load "$PY" "$TOOLS" load "${args[@]}" --bind "${TOPO_CLIENTS// /,}" \
    --clients "$N_CLIENTS" --messages "$N_MESSAGES" --interval 1 --ramp 3 \
    --deadline "$LOAD_DEADLINE" --status "$TMP/load.status" --summary "$TMP/load.json"
  LOAD_PID=$BG_PID
  info "load: $N_CLIENTS clients from $(wc -w <<<"$TOPO_CLIENTS") addresses, $N_MESSAGES QoS 1 messages each, one a second"
}

# shellcheck disable=SC2317 # called through wait_until and real_check
all_connected() { grep -q '^all-connected' "$TMP/load.status" 2>/dev/null; }
# shellcheck disable=SC2317
peer_count_at_least() { [ "$(broker_peers | wc -l)" -ge "$1" ]; }
# shellcheck disable=SC2317
only_nat_peers() { ! broker_peers | grep -vxF "$TOPO_SRC" | grep -q .; }

# check_connections: the brokers hold every client's connection at once.
check_connections() {
  if wait_until 60 all_connected; then
    ok "all $N_CLIENTS clients connected (CONNACK) at once"
  else
    show_log "$TMP/load.err"
    die "not all $N_CLIENTS clients connected within 60 s"
  fi
  # at least: mqttlb's health checks may hold a connection of their own
  if wait_until 15 peer_count_at_least "$N_CLIENTS"; then
    ok "the brokers hold $N_CLIENTS client connections ($(broker_peers | wc -l) connections)"
  else
    not_ok "the brokers hold $N_CLIENTS client connections (they hold $(broker_peers | wc -l))"
  fi
  info "broker-side peers: $(broker_peers | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep=", " }')"
  real_check "the brokers see only the full-NAT source address $TOPO_SRC" only_nat_peers
}

# kill_broker: SIGKILL to the mosquitto of $KILLED, by its PID.
kill_broker() {
  local pid=${BROKER_PID[$KILLED]}
  kill -KILL "$pid"
  KILL_TIME=$(date +%s.%N)
  echo "$KILL_TIME" >"$TMP/kill_time" # for a rerun of check-scale over a kept directory
  wait "$pid" 2>/dev/null || true
  ok "killed broker $KILLED (mosquitto pid $pid, SIGKILL) at $(date -d "@$KILL_TIME" +%T.%N | cut -c1-12)"
}

main() {
  topo_up 10
  start_brokers
  start_recorder 100000
  start_lb
  start_load
  check_connections
  sleep 8 # messages flow to every broker before the kill
  kill_broker
  local rc=0
  wait_pid "$LOAD_PID" $((LOAD_DEADLINE + 10)) || rc=$?
  if [ "$rc" -eq 0 ]; then ok "the load tool finished (every client acknowledged)"; else
    show_log "$TMP/load.err"
    not_ok "the load tool finished (status $rc)"
  fi
  grep 'load: {' "$TMP/load.err" | sed 's/^/# /' || true
  local want=$((N_CLIENTS * N_MESSAGES))
  if wait_until 15 has_lines "$TMP/recorded.tsv" "$want"; then
    ok "the brokers got at least $want messages ($(lines "$TMP/recorded.tsv") recorded)"
  else
    not_ok "the brokers got $want messages within 15 s (only $(lines "$TMP/recorded.tsv") recorded)"
  fi
  sleep 1
  stop_recorder
  stop_lb
  rc=0
  mapfile -t plan < <(pool_args)
  "$PY" "$TOOLS" check-scale "${plan[@]}" --recorded "$TMP/recorded.tsv" --summary "$TMP/load.json" \
    --pools-order "${POOL_NAMES[@]}" --killed "$KILLED:$MQTT_PORT" --killed-pool apples \
    --survivor "$SURVIVOR:$MQTT_PORT" --kill-time "$KILL_TIME" || rc=$?
  [ "$rc" -eq 0 ] || failed=1
  check "the test took under 3 minutes ($SECONDS s)" [ "$SECONDS" -lt 180 ]
  finish
}

main
