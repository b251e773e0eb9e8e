#!/usr/bin/env bash
# Fails when a file of core/ includes a room above its own, or when mqtt/,
# tls/, mqttsn/, xsk/ or bpf/ include core/ at all (core/CMakeLists.txt lists
# the rooms, DESIGN.md's layout says what each owns). Run from the top of the
# tree.
set -euo pipefail
rooms=(util tcp route config datapath lb control ops replay)
declare -A rank
for i in "${!rooms[@]}"; do rank[${rooms[$i]}]=$i; done

bad=0
for room in "${rooms[@]}"; do
  [ -d "core/$room" ] || { echo "check-layers: core/$room is missing" >&2; exit 1; }
  while IFS=: read -r file _ inc; do
    to=$(sed -E 's|.*"core/([a-z]+)/.*|\1|' <<<"$inc")
    if [ -z "${rank[$to]+x}" ]; then
      echo "check-layers: $file includes $inc: no such room" >&2
      bad=1
    elif [ "${rank[$to]}" -gt "${rank[$room]}" ]; then
      echo "check-layers: $file ($room) includes $inc ($to, a room above it)" >&2
      bad=1
    fi
  done < <(grep -HnE '#include "core/' core/"$room"/*.[ch] || true)
done
for dir in mqtt tls mqttsn xsk bpf; do
  if grep -nE '#include "core/' "$dir"/*.[ch] >&2; then
    echo "check-layers: $dir/ includes core/ (above it)" >&2
    bad=1
  fi
done
if grep -HnE '#include "core/[a-z_-]+\.h"' core/*.[ch] 2>/dev/null >&2; then
  echo "check-layers: a file at core/'s top level: every file lives in a room" >&2
  bad=1
fi
[ "$bad" -eq 0 ] && echo "check-layers: ${#rooms[@]} rooms, every include goes down"
exit "$bad"
