#!/usr/bin/env bash
# Fails when a C source of the tree differs from what clang-format makes of it.
set -euo pipefail
cf=${1:-clang-format}
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find bpf xsk mqtt core tests bench -name '*.[ch]')
[ ${#files[@]} -gt 0 ] || { echo "check-format: no C files found" >&2; exit 1; }
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "check-format: $f is not clang-formatted (run: $cf -i $f)" >&2
    bad=1
  fi
done
exit $bad
