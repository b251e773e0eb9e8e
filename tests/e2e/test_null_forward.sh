#!/usr/bin/env bash
# ctest e2e.null_forward: the AF_XDP datapath end to end, with no MQTT.
#
#   test_null_forward.sh MQTTLB XDPGEN
#
# On the tests/netns topology with two queues per veth, `mqttlb null-forward`
# runs two workers; bench/xdpgen sends stamped TCP frames from the client
# namespace over both queues and counts what comes back. Checked:
#   swap   every frame comes back exactly once; frames to the source address
#          whose port belongs to the other worker are handed over (and come
#          back); frames in = frames out + counted drops; the frame ledger is
#          whole at exit.
#   cross  frames to the listener leave through the broker-side interface
#          with the broker's MAC, resolved from the kernel's neighbour table.
#   life   a second instance is refused naming the first one's PID; SIGTERM
#          detaches XDP; a program left by a SIGKILLed instance is replaced.
# Needs root (fails without). Traffic stays inside the test's namespaces.
set -euo pipefail

MQTTLB=$(readlink -f "$1")
XDPGEN=$(readlink -f "$2")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPO="$HERE/../netns/topo.sh"
PY=/usr/bin/python3

[ "$(id -u)" -eq 0 ] || { echo "test_null_forward: FAIL: needs root" >&2; exit 1; }
P="nf$$"
TMP=$(mktemp -d)
PIDS=()
failed=0

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  "$TOPO" down "$P" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { echo "ok   - $*"; }
not_ok() { echo "FAIL - $*"; failed=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

eval "$("$TOPO" up "$P" --queues 2 --brokers 1 --env)"
LB() { ip netns exec "$TOPO_NS_LB" "$@"; }
CLI() { ip netns exec "$TOPO_NS_CLI" "$@"; }
BRK() { ip netns exec "$TOPO_NS_BRK" "$@"; }
BROKER=${TOPO_BROKERS%% *}
CLIENT=${TOPO_CLIENTS%% *}

# start_lb NAME ARGS...: runs mqttlb null-forward in the lb namespace in the
# background, waits for its start line; sets LB_PID.
start_lb() {
  local name=$1; shift
  # not through LB(): a backgrounded function is a subshell, and its PID
  # would not be mqttlb's (ip netns exec execs the command: same PID)
  ip netns exec "$TOPO_NS_LB" "$MQTTLB" null-forward "$@" >"$TMP/$name.json" 2>"$TMP/$name.err" &
  LB_PID=$!
  PIDS+=("$LB_PID")
  for _ in $(seq 100); do
    grep -q "^mqttlb null-forward:" "$TMP/$name.err" && return 0
    kill -0 "$LB_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "mqttlb did not start:"; cat "$TMP/$name.err"
  return 1
}

# stop_lb: SIGTERM, returns mqttlb's exit code.
stop_lb() {
  kill -TERM "$LB_PID"
  local rc=0
  wait "$LB_PID" || rc=$?
  return $rc
}

xdp_attached() { LB ip link show "$1" | grep -q " xdp"; }

# json FILE EXPR: evaluates a Python expression over the JSON object j.
json() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

gen() {
  CLI "$XDPGEN" --dev "$TOPO_IF_CLI" --queues 2 --src "$CLIENT" --dst "$TOPO_VIP" \
    --dst-mac "$TOPO_LB_C_MAC" --json --quiet "$@"
}

echo "# swap: two workers, two queues, handover"
start_lb swap -i lb-c -w 2 -l "$TOPO_VIP:1883" -s "$TOPO_VIP:20000-20999" --json
gen --sport 40000-40003 --dport 20000-20007 --flows 32 --count 20000 --rate 20000 --rx >"$TMP/gen1.json"
gen --sport 41000-41001 --dport 1883 --flows 2 --count 2000 --rate 20000 --rx >"$TMP/gen2.json"
rc=0; stop_lb || rc=$?
check "null-forward exits 0 on SIGTERM" [ "$rc" -eq 0 ]
cat "$TMP/swap.err"
for g in gen1:20000 gen2:2000; do
  f=$TMP/${g%%:*}.json n=${g##*:}
  check "$n sent, $n back, each once (${g%%:*})" \
    [ "$(json "$f" '(j["sent"], j["received"], j["unique"], j["duplicates"])')" = "($n, $n, $n, 0)" ]
done
check "XDP redirected every frame: 20000 to the source, 2000 to the listener" \
  [ "$(json "$TMP/swap.json" '(j["xdp"][0]["redirect_source"], j["xdp"][0]["redirect_listener"])')" = "(20000, 2000)" ]
check "frames in = frames out, no drop" \
  [ "$(json "$TMP/swap.json" '(sum(w["rx"] for w in j["workers"]), sum(w["tx"] for w in j["workers"]), sum(v for w in j["workers"] for k, v in w.items() if k.startswith("drop_") or k in ("kernel_rx_ring_full", "kernel_rx_dropped")))')" = "(22000, 22000, 0)" ]
check "both workers received frames" \
  [ "$(json "$TMP/swap.json" 'all(w["rx"] > 0 for w in j["workers"])')" = True ]
check "frames were handed over, and every one arrived" \
  [ "$(json "$TMP/swap.json" 'sum(w["handed_over"] for w in j["workers"]) > 0 and sum(w["handed_over"] for w in j["workers"]) == sum(w["handed_in"] for w in j["workers"])')" = True ]
check "the frame ledger is whole" [ "$(json "$TMP/swap.json" 'j["frames"]["leaked"]')" = 0 ]
check "XDP detached at exit" bash -c "! ip netns exec $TOPO_NS_LB ip link show lb-c | grep -q ' xdp'"

echo "# cross: client side in, broker side out, MAC from the neighbour table"
start_lb cross -i lb-c -i lb-b -w 2 --mode cross -l "$TOPO_VIP:1883" --next-hop "1=$BROKER" --json
# the control thread asked the kernel to resolve the broker; wait for it
# before the receiver's XDP program takes every frame of brk0 (ARP included)
for _ in $(seq 50); do LB ip neigh show "$BROKER" dev lb-b | grep -q lladdr && break; sleep 0.1; done
check "the kernel resolved the broker's MAC (mqttlb asked it to)" \
  bash -c "ip netns exec $TOPO_NS_LB ip neigh show $BROKER dev lb-b | grep -qi 'lladdr $TOPO_BRK_MAC'"
sleep 0.2 # the control thread's table follows the neighbour event
ip netns exec "$TOPO_NS_BRK" "$XDPGEN" --dev "$TOPO_IF_BRK" --queues 2 --rx-only --run-id 4242 --count 6000 --duration 20 \
  --json --quiet >"$TMP/rx.json" &
RX_PID=$!
PIDS+=("$RX_PID")
sleep 1
gen --sport 42000-42007 --dport 1883 --flows 8 --count 6000 --rate 20000 --run-id 4242 >"$TMP/gen3.json"
wait "$RX_PID" || true
rc=0; stop_lb || rc=$?
cat "$TMP/cross.err"
check "cross: 6000 sent, 6000 arrived at the broker side, each once" \
  [ "$(json "$TMP/rx.json" '(j["received"], j["unique"], j["duplicates"])')" = "(6000, 6000, 0)" ]
check "cross: no drop, ledger whole, exit 0" \
  [ "$rc/$(json "$TMP/cross.json" '(sum(v for w in j["workers"] for k, v in w.items() if k.startswith("drop_")), j["frames"]["leaked"])')" = "0/(0, 0)" ]

echo "# one instance per interface, clean stop, stale program replaced"
start_lb one -i lb-c -l "$TOPO_VIP:1883"
rc=0; LB "$MQTTLB" null-forward -i lb-c -l "$TOPO_VIP:1883" -d 1 2>"$TMP/second.err" || rc=$?
check "a second instance is refused (exit 2) naming the first one's PID" \
  bash -c "[ $rc -eq 2 ] && grep -q 'lb-c: another mqttlb instance (pid $LB_PID)' '$TMP/second.err'"
kill -KILL "$LB_PID"; wait "$LB_PID" 2>/dev/null || true
check "a SIGKILLed instance leaves its XDP program behind" xdp_attached lb-c
rc=0; LB "$MQTTLB" null-forward -i lb-c -l "$TOPO_VIP:1883" -d 0.5 2>"$TMP/after.err" || rc=$?
check "the next instance replaces it and runs (exit 0)" [ "$rc" -eq 0 ]
check "and detaches at exit" bash -c "! ip netns exec $TOPO_NS_LB ip link show lb-c | grep -q ' xdp'"
rc=0; LB "$MQTTLB" null-forward -i nosuchif -l "$TOPO_VIP:1883" 2>"$TMP/bad.err" || rc=$?
check "an unknown interface is a user error (exit 1) naming it" \
  bash -c "[ $rc -eq 1 ] && grep -q 'nosuchif: no such interface' '$TMP/bad.err'"

[ "$failed" -eq 0 ] && echo "# all passed" || echo "# FAILED"
exit "$failed"
