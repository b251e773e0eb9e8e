#!/usr/bin/env bash
# Cost of the balancer's handler, offline (bench/lb_cost.c): instructions per
# spliced segment (small PUBLISH client -> broker, ACK broker -> client) and
# per new connection (SYN to spliced: six segments in, the SYN-ACK, ACKs,
# CONNACK, the broker SYN and the replay out). Instructions from callgrind
# (inclusive cost of lb_handle, the worker's per-frame call into the
# balancer; repeatable), nanoseconds from the clock (noisy).
#
#   bench/lb-cost.sh [BUILD_DIR]     default build/bench (Release, no sanitizers)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=${1:-build/bench}
source bench/callgrind.sh

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target lb_cost -j "$(nproc)" >/dev/null
bin=$build/bench/lb_cost

echo "== wall clock"
"$bin" splice 200000
"$bin" connect 20000

echo
echo "== instructions (valgrind --tool=callgrind, inclusive cost of lb_handle)"
n=20000
printf '%-34s %12s\n' case instructions
printf '%-34s %12.1f\n' "spliced segment (PUBLISH or ACK)" "$(ir_per lb_handle $((2 * n)) "$bin" splice $n)"
printf '%-34s %12.1f\n' "new connection (SYN to spliced)" "$(ir_per lb_handle 2000 "$bin" connect 2000)"
echo "(the per-connection count includes its six received segments; per-round timer"
echo " work is outside lb_handle and small: one wheel advance per round)"
