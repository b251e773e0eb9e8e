#!/usr/bin/env bash
# Runs every test of mqttlb: installs the Debian packages the build and the
# tests need, configures a test build (clang, warnings as errors, ASan/UBSan,
# libFuzzer targets), builds it and runs ctest. Needs root (BPF, XDP, network
# namespaces); re-executes itself through sudo when not root.
#
#   ./test.sh                 everything
#   ./test.sh -R parser       only the ctest tests matching a regex
#   BUILD_DIR=... ./test.sh   build somewhere else (default: build/test)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

if [ "$(id -u)" -ne 0 ]; then
  exec sudo --preserve-env=CI,BUILD_DIR "$0" "$@"
fi

./scripts/install-deps.sh

BUILD_DIR=${BUILD_DIR:-build/test}
jobs=$(nproc)

# BPF needs bpffs and locked memory.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ulimit -l unlimited || true

CC=clang cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug \
  -DMQTTLB_WERROR=ON -DMQTTLB_SANITIZE=ON -DMQTTLB_FUZZ=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$jobs"

cd "$BUILD_DIR"
exec ctest --output-on-failure -j "$jobs" "$@"
