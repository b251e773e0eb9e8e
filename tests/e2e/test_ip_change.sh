#!/usr/bin/env bash
# ctest e2e.ip_change: a client whose address changes keeps reaching its
# topic's pool (the failure of the prototypes, which guessed the topic from
# the client's address).
#
#   test_ip_change.sh MQTTLB        (E2E_DIRECT=1 test_ip_change.sh: no mqttlb)
#
# Standard plan and brokers (lib.sh), a recorder on '#' at every broker.
# For each way the first session ends:
#   clean   DISCONNECT, then FIN
#   close   the socket just closed: FIN without DISCONNECT
#   reset   the socket aborted: RST (SO_LINGER 0), no DISCONNECT
# a Paho client with a fixed client id connects from 10.10.0.1, publishes
# three QoS 1 messages on apples/ipchange/..., the session ends; the client's
# address changes (topo.sh add-client-address) and the same client id, bound
# to the new address, publishes three more. Before the first move, a pears
# client publishes from the new address: an address-based guess would send
# the moved apples client to pears.
# Checked: all six messages of each client reached a broker of apples, exactly
# once, and the same broker (client-id selection: a reconnecting client finds
# its session again); the pears neighbour's reached pears; nothing else
# reached any broker.
# Needs root (fails without); traffic stays inside the test's namespaces.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init ip_change "ipc$$" "${1:-}"

EXPECT=()
SAME=()
TOTAL=0

# publish NAME BIND SEQ_START END CLIENT_ID TOPIC: three QoS 1 messages from
# BIND; the session ends as END says. Appends to $TMP/NAME.sent.
publish() {
  local name=$1 bind=$2 seq=$3 end=$4 cid=$5 topic=$6 pool
  pool=${topic%%/*}
  local rc=0 what="$cid from $bind: messages $seq..$((seq + 2)) acknowledged, session ended by $end"
  in_ns cli timeout 40 "$PY" "$TOOLS" pub --host "$(target "$pool")" --port "$MQTT_PORT" \
    --bind "$bind" --client-id "$cid" --qos 1 --topic "$topic" --count 3 --seq-start "$seq" \
    --end "$end" --sent "$TMP/$name.sent" --timeout 30 2>"$TMP/$name-$seq.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    show_log "$TMP/$name-$seq.err"
    not_ok "$what (status $rc)"
  elif ! grep -q "connected from $bind:" "$TMP/$name-$seq.err"; then
    show_log "$TMP/$name-$seq.err"
    not_ok "$what (but not from $bind)"
  else
    ok "$what"
  fi
}

# move_client END NEW_ADDR [NEIGHBOUR]: the scenario for one way of ending
# the first session; NEIGHBOUR=1 first has a pears client publish from the
# new address.
move_client() {
  local end=$1 addr=$2 neighbour=${3:-0} cid="ipchg-$1"
  publish "$cid" "${TOPO_CLIENTS%% *}" 1 "$end" "$cid" "apples/ipchange/$end"
  "$TOPO" add-client-address "$P" "$addr/24"
  info "the client's address changed: now $addr"
  if [ "$neighbour" -eq 1 ]; then
    publish pears-neighbour "$addr" 1 disconnect ipchg-pears-neighbour pears/ipchange/neighbour
    EXPECT+=(--expect "pears-neighbour=$TMP/pears-neighbour.sent:3")
    TOTAL=$((TOTAL + 3))
  fi
  publish "$cid" "$addr" 4 disconnect "$cid" "apples/ipchange/$end"
  EXPECT+=(--expect "$cid=$TMP/$cid.sent:6")
  SAME+=(--same-broker "$cid")
  TOTAL=$((TOTAL + 6))
}

main() {
  topo_up 1
  start_brokers
  start_recorder 1000
  start_lb
  move_client disconnect 10.10.0.50 1
  move_client close 10.10.0.51
  move_client reset 10.10.0.52
  if wait_until 15 has_lines "$TMP/recorded.tsv" "$TOTAL"; then
    ok "the brokers got $TOTAL messages"
  else
    not_ok "the brokers got $TOTAL messages within 15 s (only $(lines "$TMP/recorded.tsv") recorded)"
  fi
  sleep 1 # duplicates, if any, arrive too
  stop_recorder
  stop_lb
  local rc=0
  mapfile -t plan < <(pool_args)
  "$PY" "$TOOLS" check "${plan[@]}" --recorded "$TMP/recorded.tsv" "${EXPECT[@]}" "${SAME[@]}" || rc=$?
  [ "$rc" -eq 0 ] || failed=1
  finish
}

main
