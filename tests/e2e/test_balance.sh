#!/usr/bin/env bash
# ctest e2e.balance: every MQTT message through the VIP reaches a broker of
# its topic's pool, exactly once, whatever the client.
#
#   test_balance.sh MQTTLB          (E2E_DIRECT=1 test_balance.sh: no mqttlb)
#
# Five Mosquitto brokers (apples: .11 .12, pears: .13 .14, other: .15), a
# recorder subscribed to '#' on each of them, `mqttlb run` with the standard
# plan (lib.sh). Publishers in the client namespace, all at once, one pool per
# connection (a connection is bound to the pool of its first topic):
#   mosquitto_pub   MQTT 3.1.1 and 5, a stream of QoS 1 messages (-l) and a
#                   single QoS 0 message (-m: PUBLISH then DISCONNECT at once)
#   Paho            QoS 0, 1, 2 (MQTT 3.1.1) and QoS 1 (MQTT 5), 100 each,
#                   payload CLIENT/SEQ: none lost, none duplicated
#   MQTT.js         MQTT 3.1.1 QoS 1 and MQTT 5 QoS 2
#   Paho fan-out    16 client ids per two-broker pool, so client-id
#                   selection has something to spread
# on topics apples/..., pears/..., other/... (other: the default pool).
# Checked: each message was recorded exactly once, at a broker of its pool;
# nothing else reached a broker; through mqttlb, each two-broker pool's
# publishers are spread over both brokers; a subscriber connected through the
# VIP on pears/# (bound by its SUBSCRIBE) gets what its broker got.
# Needs root (fails without); traffic stays inside the test's namespaces.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init balance "bal$$" "${1:-}"

N_PAHO=100    # messages per Paho client (QoS 0, 1, 2)
N_STREAM=20   # per mosquitto_pub -l, Paho MQTT 5 and MQTT.js client
N_FAN=16      # fan-out client ids per two-broker pool, 5 messages each
CLIENT_TIMEOUT=60

EXPECT=()      # NAME=SENT_FILE:COUNT, for the checker
TOTAL=0        # messages expected at the brokers
CLIENT_PIDS=()
CLIENT_NAMES=()

# expect NAME COUNT: NAME's sent file ($TMP/NAME.sent) should list COUNT messages.
expect() {
  EXPECT+=(--expect "$1=$TMP/$1.sent:$2")
  TOTAL=$((TOTAL + $2))
}

# client NAME CMD...: a publisher in the client namespace, bounded by timeout.
client() {
  local name=$1
  shift
  bg cli "$name" timeout "$CLIENT_TIMEOUT" "$@"
  CLIENT_PIDS+=("$BG_PID")
  CLIENT_NAMES+=("$name")
}

# mosq_stream POOL VERSION: mosquitto_pub -l, one QoS 1 message per line.
mosq_stream() {
  local pool=$1 v=$2 name="mosq$2-$1" topic="$1/mosquitto/v$2/deep/level" i
  for ((i = 1; i <= N_STREAM; i++)); do printf '%s\t%s/%d\n' "$topic" "$name" "$i"; done >"$TMP/$name.sent"
  cut -f2 "$TMP/$name.sent" >"$TMP/$name.lines"
  expect "$name" "$N_STREAM"
  local ver=mqttv311
  [ "$v" = 5 ] && ver=mqttv5
  # shellcheck disable=SC2016 # expanded by the inner sh
  client "$name" sh -c 'f=$1; shift; exec mosquitto_pub "$@" -l <"$f"' _ "$TMP/$name.lines" \
    -h "$(target "$pool")" -p "$MQTT_PORT" -V "$ver" -i "$name" -q 1 -t "$topic"
}

# mosq_one POOL VERSION: mosquitto_pub -m, a single QoS 0 message.
mosq_one() {
  local pool=$1 v=$2 name="mosqone$2-$1" topic="$1/one"
  printf '%s\t%s/1\n' "$topic" "$name" >"$TMP/$name.sent"
  expect "$name" 1
  local ver=mqttv311
  [ "$v" = 5 ] && ver=mqttv5
  client "$name" mosquitto_pub -h "$(target "$pool")" -p "$MQTT_PORT" -V "$ver" -i "$name" -q 0 \
    -t "$topic" -m "$name/1"
}

# paho_pub POOL NAME COUNT ARGS...: mqtt_clients.py pub (Paho).
paho_pub() {
  local pool=$1 name=$2 count=$3
  shift 3
  expect "$name" "$count"
  client "$name" "$PY" "$TOOLS" pub --host "$(target "$pool")" --port "$MQTT_PORT" \
    --sent "$TMP/$name.sent" --timeout $((CLIENT_TIMEOUT - 5)) "$@"
}

# mqttjs_pub POOL PROTOCOL QOS: the MQTT.js publisher.
mqttjs_pub() {
  local pool=$1 proto=$2 qos=$3 name="mqttjs$2-$1"
  expect "$name" "$N_STREAM"
  client "$name" env NODE_PATH="$NODE_MODULES" node "$E2E_DIR/mqttjs_client.js" \
    --host "$(target "$pool")" --port "$MQTT_PORT" --client-id "$name" --topic "$pool/mqttjs/v$proto" \
    --protocol "$proto" --qos "$qos" --count "$N_STREAM" --sent "$TMP/$name.sent" \
    --timeout $((CLIENT_TIMEOUT - 5))
}

# start_publishers: every publisher of every pool, all at once.
start_publishers() {
  local pool q
  for pool in "${POOL_NAMES[@]}"; do
    mosq_stream "$pool" 311
    mosq_stream "$pool" 5
    mosq_one "$pool" 311
    mosq_one "$pool" 5
    for q in 0 1 2; do
      paho_pub "$pool" "paho-q$q-$pool" "$N_PAHO" --client-id "paho-q$q-$pool" \
        --qos "$q" --topic "$pool/paho/q$q" --count "$N_PAHO"
    done
    paho_pub "$pool" "paho5-q1-$pool" "$N_STREAM" --client-id "paho5-q1-$pool" --protocol 5 \
      --qos 1 --topic "$pool/paho/v5" --count "$N_STREAM"
    mqttjs_pub "$pool" 4 1
    mqttjs_pub "$pool" 5 2
  done
  for pool in apples pears; do
    paho_pub "$pool" "fan-$pool" $((N_FAN * 5)) --client-id "fan-$pool-%d" --clients "$N_FAN" \
      --qos 1 --topic "$pool/fan" --count 5
  done
  info "${#CLIENT_PIDS[@]} publishers started, $TOTAL messages"
}

# wait_publishers: each must exit 0 within CLIENT_TIMEOUT (+ slack).
wait_publishers() {
  local i rc bad=0
  for i in "${!CLIENT_PIDS[@]}"; do
    rc=0
    wait_pid "${CLIENT_PIDS[i]}" $((CLIENT_TIMEOUT + 10)) || rc=$?
    if [ "$rc" -ne 0 ]; then
      bad=$((bad + 1))
      not_ok "publisher ${CLIENT_NAMES[i]} exited with status $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')"
      show_log "$TMP/${CLIENT_NAMES[i]}.err" "$TMP/${CLIENT_NAMES[i]}.out"
    fi
  done
  [ "$bad" -eq 0 ] && ok "all ${#CLIENT_PIDS[@]} publishers exited 0 (mosquitto_pub, Paho, MQTT.js)"
  return 0
}

# start_vip_subscriber: Paho on pears/# through the VIP; its marker tells
# which pears broker it landed on.
#
# Why a marker: through mqttlb the subscriber is bound by its SUBSCRIBE to
# pears and then to one of pears' two brokers by client-id Maglev, and each
# pears publisher to one of them by its own client id, so the subscriber only
# sees the publishers that share its broker. Rather than shrinking pears to a
# single broker (which would not test selection within a pool), the
# subscriber publishes a marker right after its SUBACK; the recorder shows
# where it landed, and the check wants the subscriber to have received
# exactly the pears/# messages recorded at that broker. The 16 fan-out client
# ids make it very unlikely that no publisher shares its broker (the check
# then fails, saying so, rather than passing vacuously).
start_vip_subscriber() {
  local host
  host=$(target pears)
  bg cli vipsub "$PY" "$TOOLS" sub --host "$host" --port "$MQTT_PORT" --client-id vipsub-pears \
    --qos 1 --topic 'pears/#' --marker pears/marker/vipsub-pears --out "$TMP/vipsub.tsv" \
    --ready "$TMP/vipsub.ready" --timeout 200
  VIPSUB_PID=$BG_PID
  if wait_until 20 test -f "$TMP/vipsub.ready"; then
    ok "a subscriber on pears/# through $host got its SUBACK and its marker's PUBACK"
  else
    show_log "$TMP/vipsub.err"
    not_ok "a subscriber on pears/# through $host got its SUBACK and its marker's PUBACK (20 s)"
  fi
  TOTAL=$((TOTAL + 1)) # the marker
}

check_sub() {
  "$PY" "$TOOLS" check-sub --recorded "$TMP/recorded.tsv" --received "$TMP/vipsub.tsv" \
    --filter 'pears/#' --marker pears/marker/vipsub-pears
}

main() {
  ensure_mqttjs
  topo_up 1
  start_brokers
  start_recorder 10000
  start_lb
  start_vip_subscriber
  start_publishers
  wait_publishers
  if wait_until 30 has_lines "$TMP/recorded.tsv" "$TOTAL"; then
    ok "the brokers got $TOTAL messages ($(lines "$TMP/recorded.tsv") recorded)"
  else
    not_ok "the brokers got $TOTAL messages within 30 s (only $(lines "$TMP/recorded.tsv") recorded)"
  fi
  sleep 1 # duplicates, if any, arrive too
  wait_until 10 check_sub >/dev/null 2>&1 || true
  stop_pid "$VIPSUB_PID" 10 || { show_log "$TMP/vipsub.err"; not_ok "the VIP subscriber exits 0 on SIGTERM"; }
  stop_recorder
  stop_lb

  local spread=()
  [ "$DIRECT" -eq 0 ] && spread=(--spread apples --spread pears)
  local rc=0
  mapfile -t plan < <(pool_args)
  "$PY" "$TOOLS" check "${plan[@]}" --recorded "$TMP/recorded.tsv" "${EXPECT[@]}" \
    --ignore pears/marker/ "${spread[@]}" || rc=$?
  [ "$rc" -eq 0 ] || failed=1
  [ "$DIRECT" -eq 1 ] && skip "each two-broker pool's publishers are spread over both its brokers"
  check_sub || failed=1
  finish
}

main
