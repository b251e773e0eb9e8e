#!/usr/bin/env bash
# Regenerates the parser's fuzz seed corpus (tests/fuzz/corpus/parser/) from
# the fixture table in tests/unit/mqtt_fixtures.h. Usage: make-seeds.sh [OUTDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/corpus/parser}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${CC:-cc}" -std=gnu17 -Wall -Wextra -I"$root" -I"$root/tests/unit" "$here/make_seeds.c" \
        -o "$tmp/make_seeds"
mkdir -p "$out"
find "$out" -maxdepth 1 -type f -delete
"$tmp/make_seeds" "$out"
