#!/usr/bin/env bash
# Parser cost per PUBLISH: nanoseconds (clock, this machine, noisy) and
# instructions (callgrind, repeatable) for each case of bench_parser.c.
#
#   bench/parser-cost.sh [BUILD_DIR]     default build/bench-nolto (Release, no sanitizers)
#
# Built without link-time optimisation (MQTTLB_LTO=OFF): with it, the
# compiler inlines mqtt_parser__feed into the benchmark's loop and there is no
# function left to count; the parser is measured here as the unit it is.
# bench/lb-cost.sh measures it inlined into the balancer, as it runs.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=${1:-build/bench-nolto}

source bench/callgrind.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMQTTLB_LTO=OFF >/dev/null
cmake --build "$build" --target bench_parser -j "$(nproc)" >/dev/null
bin=$build/bench/bench_parser

echo "== wall clock ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
"$bin"

echo
echo "== instructions per PUBLISH (valgrind --tool=callgrind: inclusive cost of mqtt_parser__feed / N;"
echo "   the whole parse of the PUBLISH as the worker sees it, its calls and its topic check included)"
printf '%-24s %8s %14s\n' case N instr/PUBLISH
for c in v311-qos0-topic16 v311-qos1-topic16 v5-qos1-alias-topic16 v311-qos0-topic200 v311-qos0-topic65535; do
  case $c in *65535) n=200 ;; *) n=100000 ;; esac
  printf '%-24s %8d %14.1f\n' "$c" "$n" "$(ir_per mqtt_parser__feed "$n" "$bin" "$c" "$n")"
done
