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
printf '%-8s %-7s %12s %12s %10s\n' workers queues "sent pps" "back pps" "back %"
for w in 1 2; do
  ip netns exec "$TOPO_NS_LB" "$mqttlb" null-forward -i lb-c -w "$w" -l "$TOPO_VIP:1883" \
    -s "$TOPO_VIP:20000-29999" 2>"$tmp/lb.err" &
  lb_pid=$!
  for _ in $(seq 100); do grep -q "^mqttlb null-forward:" "$tmp/lb.err" && break; sleep 0.1; done
  ip netns exec "$TOPO_NS_CLI" "$xdpgen" --dev "$TOPO_IF_CLI" --queues "$w" \
    --src "${TOPO_CLIENTS%% *}" --dst "$TOPO_VIP" --dst-mac "$TOPO_LB_C_MAC" \
    --sport 40000-40063 --dport 1883 --flows 64 --duration "$secs" --rx --json --quiet \
    >"$tmp/gen.json" 2>/dev/null
  kill -TERM "$lb_pid"; wait "$lb_pid" || true; lb_pid=""
  /usr/bin/python3 - "$tmp/gen.json" "$w" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
w = sys.argv[2]
back = 100.0 * j["received"] / j["sent"] if j["sent"] else 0
print(f'{w:<8} {w:<7} {j["tx_pps"]:12.0f} {j["rx_pps"]:12.0f} {back:9.1f}%')
PY
done
