#!/usr/bin/env bash
# Cost of the worker loop per frame, offline (bench/worker_cost.c): the
# worker with the null forwarder over a port in memory, so the count is the
# worker's own (parse, ownership, handler, batching, handover), not a
# driver's; and over a capture through the pcap port (the offline path:
# libpcap's read and the copy into the UMEM included). Nanoseconds from the clock (noisy) and instructions from
# callgrind (inclusive cost of worker__round / frames; repeatable).
#
#   bench/worker-cost.sh [BUILD_DIR]     default build/bench-nolto (Release, no sanitizers)
#
# Built without link-time optimisation (MQTTLB_LTO=OFF), as bench/parser-cost.sh:
# with it, the compiler inlines worker__round into the benchmark's loops and
# leaves no function to count.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=${1:-build/bench-nolto}
source bench/callgrind.sh

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMQTTLB_LTO=OFF >/dev/null
cmake --build "$build" --target worker_cost -j "$(nproc)" >/dev/null
bin=$build/bench/worker_cost

echo "== wall clock ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
"$bin" swap 200000
"$bin" handover 200000
"$bin" pcap 20000

echo
echo "== instructions per frame (valgrind --tool=callgrind: inclusive cost of worker__round / frames)"
rounds=2000 # of 64 frames each
printf '%-10s %8s %16s\n' case frames instr/frame
for c in swap handover pcap; do
  printf '%-10s %8d %16.1f\n' "$c" $((rounds * 64)) "$(ir_per worker__round $((rounds * 64)) "$bin" "$c" "$rounds")"
done
