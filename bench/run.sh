#!/usr/bin/env bash
# bench/run.sh: mqttlb side by side with the alternatives. Every scenario
# runs against every contender that fits it, one contender at a time, in one
# run on one topology (tests/netns/topo.sh); the results go to DIR/results.csv
# (scenario,contender,metric,value,unit,notes), the plots to DIR/*.png, and
# the table is printed at the end. bench/README.md explains the scenarios,
# the contenders' configurations and how to read the results.
#
#   bench/run.sh [--quick] [--out DIR] [--only SCENARIO,...]
#                [--contenders NAME,...] [--build DIR] [--no-build] [--mqttload PATH]
#
# Needs root (network namespaces, XDP); re-executes itself through sudo
# when not root.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SELF")
SCENARIOS_ALL=(ceiling throughput latency cost connect scale ipvs-study synflood lossy hostile tls udp)

usage() {
  cat <<EOF
Usage: bench/run.sh [--quick] [--out DIR] [--only SCENARIO,...]
                    [--contenders NAME,...] [--build DIR] [--no-build]
                    [--mqttload PATH]

Runs the benchmark scenarios, each against every contender, in one run on
one network-namespace topology; writes DIR/results.csv and DIR/*.png and
prints the table.

  --quick            every scenario shrunk to seconds (a few minutes in all)
  --out DIR          where results go (default build/bench-results/DATE-TIME)
  --only LIST        scenarios to run, comma-separated, from:
                     ${SCENARIOS_ALL[*]}
  --contenders LIST  contenders, comma-separated (default: all of
                     direct mqttlb haproxy haproxy-cid nginx)
  --build DIR        build directory (default build/bench; configured as a
                     Release build and built here when needed)
  --no-build         use the binaries in the build directory as they are
  --mqttload PATH    the MQTT load tool (default DIR/bench/mqttload/mqttload)

Environment: BENCH_FLOOD_RATE=N is the synflood scenario's fixed flood rate
(SYN/s, default 200000); BENCH_MQTTLB_SYN_RATE=N sets mqttlb's
connections.syn_rate (0: no limit; default: mqttlb's own, 100000).
BENCH_LOAD_CPUS=LIST pins the load tools and the brokers
(taskset -c LIST; default: not pinned). BENCH_BAL_CPU=N is the balancer's
core (default 1). The lossy scenario: BENCH_LOSSY_LEVELS=L,... its loss
levels (default 1%,3%), BENCH_LOSSY_DUP=D its duplicates (default 1%),
BENCH_LOSSY_DELAY=MS[:JITTER] adds a delay line that reorders (its own
topology with a wire namespace; default: none).
The cost scenario offers fixed rates (2k to 50k msg/s) through each contender
and reports the whole machine's CPU and the latency each adds over direct.
The hostile scenario attacks with tests/e2e/hostile.py (stalled large,
malformed and slow CONNECTs, subscribers that never read) and measures the
balancer's memory and a legitimate client's latency meanwhile.
The tls scenario measures connection rate and a reconnect storm over TLS
passthrough (Mosquitto TLS listeners on :8883 terminate TLS; certificates
made with openssl in the run directory); BENCH_TLS_RESUME=1 lets the storm's
clients resume their previous TLS session; BENCH_CONNECT_WINDOW=N is
mqttlb's connections.connect_window there (default 64).
The udp scenario sends UDP datagrams one way (xdpgen --mode udp, 64 source
addresses, 64- and 512-byte payloads) through mqttlb (a protocol: udp
listener), NGINX stream UDP and the null forwarder to three collectors
counted by xdpgen on the brokers' link, and direct; it reports datagrams/s
at <= 1% loss and flat out, the loss, and the machine's CPU busy.
The scale scenario holds as many idle connections as the nofile limit allows
(keepalives) through each contender: connect rate, memory per connection
(RSS; MemAvailable over direct's) and CPU at rest.
EOF
}

QUICK=0
OUT=""
ONLY=""
CONTENDER_LIST=""
BUILD=build/bench
NO_BUILD=0
MQTTLOAD=${MQTTLOAD:-}
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-build) NO_BUILD=1 ;;
    --out | --only | --contenders | --build | --mqttload)
      [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in
        --out) OUT=$2 ;;
        --only) ONLY=$2 ;;
        --contenders) CONTENDER_LIST=$2 ;;
        --build) BUILD=$2 ;;
        --mqttload) MQTTLOAD=$2 ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$(id -u)" -ne 0 ]; then
  [ -z "${BENCH_SUDO_REEXEC:-}" ] || { echo "run.sh: still not root after sudo" >&2; exit 1; }
  command -v sudo >/dev/null 2>&1 || { echo "run.sh: must run as root (no sudo here)" >&2; exit 1; }
  exec sudo -- env BENCH_SUDO_REEXEC=1 MQTTLOAD="$MQTTLOAD" BENCH_LOAD_CPUS="${BENCH_LOAD_CPUS:-}" \
    BENCH_FLOOD_RATE="${BENCH_FLOOD_RATE:-}" BENCH_MQTTLB_SYN_RATE="${BENCH_MQTTLB_SYN_RATE:-}" \
    BENCH_BAL_CPU="${BENCH_BAL_CPU:-}" BENCH_LOSSY_LEVELS="${BENCH_LOSSY_LEVELS:-}" \
    BENCH_LOSSY_DUP="${BENCH_LOSSY_DUP:-}" BENCH_LOSSY_DELAY="${BENCH_LOSSY_DELAY:-}" \
    BENCH_TLS_RESUME="${BENCH_TLS_RESUME:-}" bash "$SELF" "${ARGS[@]}"
fi

cd "$BENCH_DIR/.."
# shellcheck source=scenarios/lib.sh
. "$BENCH_DIR/scenarios/lib.sh"

# --- what to run -----------------------------------------------------------------

SCENARIOS=()
if [ -n "$ONLY" ]; then
  IFS=, read -r -a SCENARIOS <<<"$ONLY"
  for s in "${SCENARIOS[@]}"; do
    [[ " ${SCENARIOS_ALL[*]} " == *" $s "* ]] || { echo "run.sh: unknown scenario '$s' (known: ${SCENARIOS_ALL[*]})" >&2; exit 2; }
  done
else
  SCENARIOS=("${SCENARIOS_ALL[@]}")
fi
CONTENDERS=()
if [ -n "$CONTENDER_LIST" ]; then
  IFS=, read -r -a CONTENDERS <<<"$CONTENDER_LIST"
  for c in "${CONTENDERS[@]}"; do
    [[ " ${CONTENDERS_ALL[*]} " == *" $c "* ]] || { echo "run.sh: unknown contender '$c' (known: ${CONTENDERS_ALL[*]})" >&2; exit 2; }
  done
else
  CONTENDERS=("${CONTENDERS_ALL[@]}")
fi

# a fresh machine gets what the benchmark needs, as the README's commands do
"$BENCH_DIR/../scripts/install-deps.sh" --bench ||
  die "could not install the benchmark's packages (scripts/install-deps.sh --bench)"
for tool in ip ethtool ss timeout taskset mosquitto jq gnuplot cmake /usr/sbin/haproxy /usr/sbin/nginx "$PY"; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"
done
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || die "NGINX's stream module is missing (Debian package libnginx-mod-stream)"

# --- build -------------------------------------------------------------------------

if [ "$NO_BUILD" -eq 0 ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    say "configuring $BUILD (Release)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  say "building mqttlb, xdpgen, mqttlb-impair and mqttlb-delayline in $BUILD"
  cmake --build "$BUILD" --target mqttlb xdpgen mqttlb-impair mqttlb-delayline -j "$(nproc)" >/dev/null ||
    die "the build failed (--no-build runs the binaries already in $BUILD)"
  if [ -z "$MQTTLOAD" ]; then
    cmake --build "$BUILD" --target mqttload -j "$(nproc)" >/dev/null ||
      die "could not build mqttload (--mqttload PATH names another)"
  fi
fi
[ -n "$MQTTLOAD" ] || MQTTLOAD=$BUILD/bench/mqttload/mqttload
MQTTLB=$(readlink -f "$BUILD/cli/mqttlb")
XDPGEN=$(readlink -f "$BUILD/bench/xdpgen")
{ [ -x "$MQTTLB" ] && [ -x "$XDPGEN" ]; } || die "mqttlb or xdpgen missing in $BUILD"
# the lossy scenario's impairment tools (tests/impair); checked by the scenario
# shellcheck disable=SC2034 # read by scenarios/lossy.sh
IMPAIR=$(readlink -f "$BUILD/tests/impair/mqttlb-impair" || true)
# shellcheck disable=SC2034 # read by scenarios/lossy.sh
DELAYLINE=$(readlink -f "$BUILD/tests/impair/mqttlb-delayline" || true)
[ -x "$MQTTLOAD" ] || die "mqttload not found at $MQTTLOAD (build target mqttload, or --mqttload PATH)"
MQTTLOAD=$(readlink -f "$MQTTLOAD")
MQTTLB_HAS_STATS=0
! "$MQTTLB" stats --help >/dev/null 2>&1 || MQTTLB_HAS_STATS=1

# --- output, limits, topology ---------------------------------------------------------

[ -n "$OUT" ] || OUT=build/bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
LOGS_BASE=$OUT/logs
LOGS=$LOGS_BASE/setup
WORK=$OUT/work
rm -rf "$LOGS_BASE" "$WORK"
mkdir -p "$LOGS" "$WORK"
CSV=$OUT/results.csv
echo "scenario,contender,metric,value,unit,notes" >"$CSV"

# descriptors: 10,000 clients, and two per connection in a proxy; the hard
# limit is all a container's root may take
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
[ "$NOFILE" -le 1048576 ] || NOFILE=1048576
ulimit -n "$NOFILE"
LOAD_TASKSET=()
[ -z "${BENCH_LOAD_CPUS:-}" ] || LOAD_TASKSET=(taskset -c "$BENCH_LOAD_CPUS")

P="mqb$$"
SCEN_PID=""
# on_signal STATUS: Ctrl-C or SIGTERM: the running scenario (a background
# subshell, waited for) is told to stop and cleans up after itself, then
# bench_cleanup (EXIT) ends the brokers and deletes the namespaces
on_signal() {
  trap '' INT TERM
  if [ -n "$SCEN_PID" ]; then
    kill -TERM "$SCEN_PID" 2>/dev/null || true
    wait "$SCEN_PID" 2>/dev/null || true
  fi
  exit "$1"
}
trap bench_cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

{
  echo "date:        $(date -Is)"
  echo "command:     bench/run.sh ${ARGS[*]}"
  echo "mode:        $([ "$QUICK" -eq 1 ] && echo quick || echo full)"
  echo "machine:     $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel:      $(uname -r)"
  echo "mqttlb:      $MQTTLB (tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ', with local changes')$([ "$NO_BUILD" -eq 0 ] || echo '; --no-build: as found'))"
  echo "mqttload:    $MQTTLOAD"
  echo "haproxy:     $(/usr/sbin/haproxy -v | head -n 1)"
  echo "nginx:       $(/usr/sbin/nginx -v 2>&1)"
  echo "mosquitto:   $(mosquitto -h 2>/dev/null | head -n 1)"
  echo "balancer:    core $BAL_CPU; load tools and brokers: ${BENCH_LOAD_CPUS:-not pinned}"
  echo "settings:    SYN flood (fixed) ${BENCH_FLOOD_RATE:-200000} SYN/s; mqttlb syn_rate ${BENCH_MQTTLB_SYN_RATE:-default}"
  echo "lossy:       loss ${BENCH_LOSSY_LEVELS:-1%,3%}, duplicates ${BENCH_LOSSY_DUP:-1%}, delay line ${BENCH_LOSSY_DELAY:-none}"
  echo "contenders:  ${CONTENDERS[*]}"
  echo "scenarios:   ${SCENARIOS[*]}"
} >"$OUT/machine.txt"
say "results in $OUT ($([ "$QUICK" -eq 1 ] && echo quick || echo full) run; topology prefix $P)"

topo_setup
start_brokers

# --- the scenarios -------------------------------------------------------------------

for s in "${SCENARIOS_ALL[@]}"; do
  # shellcheck source=/dev/null
  . "$BENCH_DIR/scenarios/$s.sh"
done

BASE_PIDS=" ${PIDS[*]} "
# scenario_cleanup: what a scenario (a subshell) started and did not stop.
scenario_cleanup() {
  local rc=$? p ns
  trap - EXIT INT TERM
  contender_stop >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do
    [[ $BASE_PIDS == *" $p "* ]] || kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    [[ $BASE_PIDS == *" $p "* ]] && continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for ns in "${EXTRA_NS[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
  exit "$rc"
}

failed=()
for s in "${SCENARIOS[@]}"; do
  fn=scenario_${s//-/_}
  say "=== $s"
  LOGS=$LOGS_BASE/$s
  LOG_SEQ=0
  mkdir -p "$LOGS"
  t0=$SECONDS
  # a subshell with errexit of its own (in a `|| rc=$?` list bash would
  # ignore it), whose trap ends what the scenario left running; in the
  # background and waited for, so that a signal reaches this shell's trap
  # at once (on_signal passes it on as SIGTERM)
  (
    set -e
    trap scenario_cleanup EXIT
    trap 'exit 143' TERM
    "$fn"
  ) &
  SCEN_PID=$!
  rc=0
  wait "$SCEN_PID" || rc=$?
  SCEN_PID=""
  if [ "$rc" -ne 0 ]; then
    failed+=("$s")
    emit "$s" - error "" "" "the scenario failed (status $rc); see $LOGS"
  fi
  say "=== $s: $((SECONDS - t0)) s"
done

say "plots"
LOGS=$LOGS_BASE
for s in "${SCENARIOS[@]}"; do
  "plot_${s//-/_}" || warn "plot of $s failed"
done

echo
echo "mqttlb benchmarks ($([ "$QUICK" -eq 1 ] && echo '--quick' || echo full) run) -- $OUT"
sed 's/^/  /' "$OUT/machine.txt"
echo
print_table
echo
echo "CSV: $CSV; plots: $(find "$OUT" -maxdepth 1 -name '*.png' -printf '%f ' | sort)"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED scenarios: ${failed[*]} (logs in $LOGS)"
  exit 1
fi
