#!/usr/bin/env bash
# Memory per idle connection, offline (bench/conn_mem.c): one worker of the
# real balancer, through the offline harness (tests/lib/lb_harness), with
# connections.max_connections = 1,048,576, filled with 1,048,576 spliced
# connections (SYN, cookie, CONNECT bound at once, the broker leg made and
# answered), then with as many unbound ones as its budget admits (262,080:
# buffer_total 4095m, an 8 KiB reserve each). Prints VmRSS before and after,
# the heap in use, the flow table's allocation and bytes per connection, and
# fails (exit 1) when memory is past the bound stated in conn_mem.c's header:
# heap and RSS growth during the fill <= 256 B per connection bound (8,448
# unbound) + 48 MiB, and in all <= the flow table + that + the harness's own.
# About 15-20 s and 1.5 GiB of memory at a time (each fill in a process of
# its own, one after the other).
#
#   bench/conn-mem.sh [BUILD_DIR] [conn_mem ARGS...]   default build/bench
#                                                      (Release, no sanitizers)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=${1:-build/bench}
[ $# -eq 0 ] || shift

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target conn_mem -j "$(nproc)" >/dev/null
"$build/bench/conn_mem" "$@"
