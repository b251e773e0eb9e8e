#!/usr/bin/env bash
# Packets per second through the null forwarder (mqttlb null-forward, swap
# mode) on the tests/netns veth topology: bench/xdpgen sends 64-byte-class
# TCP frames flat out from the client namespace over Q queues and counts what
# comes back. The result is the AF_XDP ceiling of this machine as the
# balancer would see it (veth: copy mode; generator and forwarder share the
# cores). Needs root.
#
#   bench/nullfwd-pps.sh [BUILD_DIR] [SECONDS]   default build/bench (Release), 5 s
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=${1:-build/bench}
secs=${2:-5}
[ "$(id -u)" -eq 0 ] || exec sudo -- "$0" "$@"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target mqttlb xdpgen -j "$(nproc)" >/dev/null
mqttlb=$(readlink -f "$build/cli/mqttlb")
xdpgen=$(readlink -f "$build/bench/xdpgen")
topo=tests/netns/topo.sh
P="pps$$"
tmp=$(mktemp -d)
lb_pid=""
cleanup() {
  [ -n "$lb_pid" ] && kill -TERM "$lb_pid" 2>/dev/null && wait "$lb_pid" 2>/dev/null
  "$topo" down "$P" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
eval "$("$topo" up "$P" --queues 2 --brokers 1 --env)"

echo "== null forwarder, swap mode, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), ${secs} s per row"
printf '%-8s %-7s %12s %12s %7s %11s %11s %11s %11s\n' workers queues "sent pps" "back pps" "back" \
  "veth->lb" "lb socket" "veth->gen" "gen socket"
echo "   frames lost, where: veth = the veth's NAPI ring was full (tx_dropped of the sending end);"
echo "   socket = the AF_XDP socket's RX ring was full or its fill ring empty (XDP_STATISTICS)"
# txdrop NS DEV: the device's tx_dropped counter
txdrop() { ip -n "$1" -s -j link show dev "$2" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["dropped"])'; }
for w in 1 2; do
  cli0=$(txdrop "$TOPO_NS_CLI" "$TOPO_IF_CLI") lbc=$(txdrop "$TOPO_NS_LB" "$TOPO_IF_LB_C")
  ip netns exec "$TOPO_NS_LB" "$mqttlb" null-forward -i lb-c -w "$w" -l "$TOPO_VIP:1883" \
    -s "$TOPO_VIP:20000-29999" --json >"$tmp/lb.json" 2>"$tmp/lb.err" &
  lb_pid=$!
  for _ in $(seq 100); do grep -q "^mqttlb null-forward:" "$tmp/lb.err" && break; sleep 0.1; done
  ip netns exec "$TOPO_NS_CLI" "$xdpgen" --dev "$TOPO_IF_CLI" --queues "$w" \
    --src "${TOPO_CLIENTS%% *}" --dst "$TOPO_VIP" --dst-mac "$TOPO_LB_C_MAC" \
    --sport 40000-40063 --dport 1883 --flows 64 --duration "$secs" --rx --json --quiet \
    >"$tmp/gen.json" 2>/dev/null
  kill -TERM "$lb_pid"; wait "$lb_pid" || true; lb_pid=""
  [ -n "${VERBOSE:-}" ] && cat "$tmp/lb.err" >&2
  cli0=$(( $(txdrop "$TOPO_NS_CLI" "$TOPO_IF_CLI") - cli0 )) lbc=$(( $(txdrop "$TOPO_NS_LB" "$TOPO_IF_LB_C") - lbc ))
  /usr/bin/python3 - "$tmp/gen.json" "$tmp/lb.json" "$w" "$cli0" "$lbc" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
lb = json.load(open(sys.argv[2]))
w, veth_in, veth_out = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
back = 100.0 * j["received"] / j["sent"] if j["sent"] else 0
at_lb = sum(x["kernel_rx_ring_full"] + x["kernel_rx_dropped"] for x in lb["workers"])
print(f'{w:<8} {w:<7} {j["tx_pps"]:12.0f} {j["rx_pps"]:12.0f} {back:6.1f}% {veth_in:11d} {at_lb:11d} {veth_out:11d} {j["rx_kernel_dropped"]:11d}')
PY
done
