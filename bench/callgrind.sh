# Sourced by the bench/*-cost.sh scripts: instruction counts with callgrind.
#
#   ir_per FUNCTION N BINARY ARGS...
# runs BINARY ARGS under callgrind, counting only inside FUNCTION (inclusive:
# what it calls is counted too), and prints the total divided by N.
command -v valgrind >/dev/null || { echo "$0: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
command -v bc >/dev/null || { echo "$0: bc is missing (apt-get install bc)" >&2; exit 1; }

ir_per() {
  local fn=$1 n=$2 out ir
  shift 2
  out=$(mktemp)
  # "$fn.*" too: with link-time optimisation the compiler may clone a
  # function under a suffixed name (worker__round.constprop.0)
  valgrind --tool=callgrind --toggle-collect="$fn" --toggle-collect="$fn.*" \
    --callgrind-out-file="$out" "$@" >/dev/null 2>&1
  ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  rm -f "$out"
  echo "$ir / $n" | bc -l
}
