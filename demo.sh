#!/usr/bin/env bash
# The demo, from a fresh clone: installs the Debian packages mqttlb needs
# (scripts/install-deps.sh), builds a Release mqttlb into build/demo and runs
# `mqttlb demo` (scripts/demo.sh): Mosquitto brokers in three pools and MQTT
# clients in private network namespaces, balanced by topic through mqttlb on
# AF_XDP; it prints where each topic's messages went and cleans up.
#
#   ./demo.sh                 about 20 s of traffic
#   ./demo.sh --quick         about 8 s
#   ./demo.sh --duration 60   (and --keep: keep the logs; --help)
#
# Needs root (XDP, network namespaces); re-executes itself through sudo when
# not root.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -- "$PWD/demo.sh" "$@"
fi

./scripts/install-deps.sh

# libxdp keeps its dispatcher in bpffs (without it the program is attached alone)
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true

BUILD_DIR=build/demo
mkdir -p "$BUILD_DIR"
echo "demo.sh: building mqttlb (Release) in $BUILD_DIR (log: $BUILD_DIR/build.log)" >&2
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release &&
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target mqttlb; } >"$BUILD_DIR/build.log" 2>&1; then
  tail -n 30 "$BUILD_DIR/build.log" >&2
  echo "demo.sh: the build failed (whole log: $BUILD_DIR/build.log)" >&2
  exit 1
fi

exec "$BUILD_DIR/cli/mqttlb" demo "$@"
