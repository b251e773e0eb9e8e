# shellcheck shell=bash
# Shared helpers of the MQTT end-to-end tests (test_balance.sh,
# test_ip_change.sh, test_scale.sh). Sourced, not run.
#
# Every test builds the tests/netns topology (namespaces PREFIX-cli, -lb,
# -brk), starts one real Mosquitto per broker address in the brk namespace,
# a recorder (mqtt_clients.py record) subscribed to `#` on every broker, and
# then `mqttlb run -c FILE` in the lb namespace; clients in the cli namespace
# connect to the VIP.
#
# E2E_DIRECT=1 validates the harness without the balancer: no mqttlb is
# started, the lb namespace's kernel routes between the client and broker
# networks, and clients connect straight to the first broker of their topic's
# pool (the load tool fails over to the pool's next broker). Checks that only
# make sense through the balancer are reported as `skip`.
#
# E2E_KEEP=1 keeps the temporary directory (configs, logs, records);
# E2E_KEEP_ON_FAIL=1 keeps it only when the test fails.
#
# The standard plan (the config every test gives mqttlb):
#   apples: 10.20.0.11, 10.20.0.12    topics apples/#
#   pears:  10.20.0.13, 10.20.0.14    topics pears/#
#   other:  10.20.0.15                everything else (default pool)

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPO="$E2E_DIR/../netns/topo.sh"
PY=/usr/bin/python3
TOOLS="$E2E_DIR/mqtt_clients.py"
MQTT_PORT=1883

POOL_NAMES=(apples pears other)
declare -A POOL_BROKERS=(
  [apples]="10.20.0.11 10.20.0.12"
  [pears]="10.20.0.13 10.20.0.14"
  [other]="10.20.0.15"
)
ALL_BROKERS="10.20.0.11 10.20.0.12 10.20.0.13 10.20.0.14 10.20.0.15"
NBROKERS=5

PIDS=() # every background process this test started, by PID
declare -A BROKER_PID=() # broker address -> mosquitto's PID
failed=0
E2E_NAME=e2e
DIRECT=0
MQTTLB=""
LB_PID=""

ok() { echo "ok   - $*"; }
not_ok() { echo "FAIL - $*"; failed=1; }
skip() { echo "skip - $* (E2E_DIRECT: only meaningful through mqttlb)"; }
info() { echo "# $*"; }
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# real_check WHAT CMD...: a check that only makes sense through the balancer.
real_check() {
  if [ "$DIRECT" -eq 1 ]; then skip "$1"; else check "$@"; fi
}
die() {
  echo "FAIL - $E2E_NAME: $*"
  exit 1
}

# e2e_init NAME PREFIX [MQTTLB]: checks root, reads E2E_DIRECT, resolves the
# mqttlb binary, makes the temporary directory, installs the cleanup trap.
e2e_init() {
  E2E_NAME=$1
  P=$2
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, XDP); run as root"
  [ -x "$PY" ] || die "$PY not found (Debian package python3)"
  case "${E2E_DIRECT:-0}" in
    0 | "") DIRECT=0 ;;
    *) DIRECT=1 ;;
  esac
  if [ "$DIRECT" -eq 0 ]; then
    [ -n "${3:-}" ] || die "usage: $0 MQTTLB (or E2E_DIRECT=1 $0 to test the harness against the brokers alone)"
    MQTTLB=$(readlink -f "$3")
    [ -x "$MQTTLB" ] || die "mqttlb binary '$3' not found or not executable"
  fi
  for tool in mosquitto ss timeout ip; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"
  done
  TMP=$(mktemp -d "/tmp/e2e-$E2E_NAME.XXXXXX")
  trap e2e_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [ "$DIRECT" -eq 1 ]; then
    info "$E2E_NAME: DIRECT mode (no mqttlb; clients connect straight to the brokers)"
  else
    info "$E2E_NAME: through $MQTTLB run"
  fi
}

e2e_cleanup() {
  local rc=$? p
  trap - EXIT
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  "$TOPO" down "$P" >/dev/null 2>&1 || true
  if [ "${E2E_KEEP:-0}" != 0 ] || { [ "$rc" -ne 0 ] && [ "${E2E_KEEP_ON_FAIL:-0}" != 0 ]; }; then
    echo "# kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}

# finish: prints the verdict, exits with it.
finish() {
  if [ "$failed" -eq 0 ]; then echo "# all passed"; else echo "# FAILED"; fi
  exit "$failed"
}

# --- processes -----------------------------------------------------------------

# bg NS LOGNAME CMD...: runs CMD in namespace NS (cli, lb, brk) in the
# background, stdout and stderr to $TMP/LOGNAME.{out,err}; sets BG_PID (the
# command's own PID: ip netns exec execs it).
bg() {
  local ns=$1 name=$2
  shift 2
  ip netns exec "$P-$ns" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# in_ns NS CMD...: runs CMD in the namespace, in the foreground.
in_ns() {
  local ns=$1
  shift
  ip netns exec "$P-$ns" "$@"
}

# wait_pid PID SECONDS: waits for PID to exit; returns its status, or 124
# after SECONDS (then the process is sent SIGTERM, and SIGKILL 5 s later).
wait_pid() {
  local pid=$1 t=$(($2 * 10)) i rc=0
  for ((i = 0; i < t; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 124
  fi
  wait "$pid" || rc=$?
  return "$rc"
}

# stop_pid PID [SECONDS]: SIGTERM, then waits (wait_pid); returns the status.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait_pid "$1" "${2:-10}"
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_until() {
  local t=$(($1 * 10)) i
  shift
  for ((i = 0; i < t; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# lines FILE: number of lines of FILE (0 when missing).
lines() {
  if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

# show_log FILE...: the last lines of each log (for a failure's context).
show_log() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "# --- tail of ${f#"$TMP"/}"
    tail -n 20 "$f" | sed 's/^/#   /'
  done
}

# --- topology ------------------------------------------------------------------

# topo_up CLIENTS: the standard topology (two queues, five brokers, CLIENTS
# client addresses 10.10.0.1..); in direct mode also the routes that let
# clients reach the brokers through the lb namespace's kernel.
topo_up() {
  local env
  env=$("$TOPO" up "$P" --queues 2 --brokers "$NBROKERS" --clients "$1" --env) ||
    die "topo.sh up $P failed"
  eval "$env"
  if [ "$DIRECT" -eq 1 ]; then
    in_ns lb sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    ip -n "$TOPO_NS_CLI" route add 10.20.0.0/24 via "$TOPO_VIP"
    ip -n "$TOPO_NS_BRK" route add 10.10.0.0/24 via "$TOPO_SRC"
  fi
}

# target POOL: where a client of POOL connects: the VIP, or in direct mode
# the pool's first broker.
target() {
  if [ "$DIRECT" -eq 1 ]; then
    local b=${POOL_BROKERS[$1]}
    echo "${b%% *}"
  else
    echo "$TOPO_VIP"
  fi
}

# targets POOL: the load tool's host list for POOL: the VIP, or in direct
# mode the pool's brokers in failover order (comma-separated).
targets() {
  if [ "$DIRECT" -eq 1 ]; then
    local b=${POOL_BROKERS[$1]}
    echo "${b// /,}"
  else
    echo "$TOPO_VIP"
  fi
}

# pool_args: the plan as mqtt_clients.py check options.
pool_args() {
  local p b list
  for p in "${POOL_NAMES[@]}"; do
    list=""
    for b in ${POOL_BROKERS[$p]}; do list+="${list:+,}$b:$MQTT_PORT"; done
    printf -- '--pool\n%s=%s\n' "$p" "$list"
  done
  printf -- '--route\napples/#=apples\n--route\npears/#=pears\n--default\nother\n'
}

# --- brokers and the recorder --------------------------------------------------

# start_broker ADDR: one mosquitto in the brk namespace, listening on
# ADDR:1883 only; sets BROKER_PID[ADDR].
start_broker() {
  local addr=$1 conf="$TMP/mosquitto-$1.conf"
  cat >"$conf" <<EOF
# broker $addr of the mqttlb end-to-end test $E2E_NAME
listener $MQTT_PORT $addr
allow_anonymous true
# run as root: no privilege drop, so the log in the test's directory stays writable
user root
persistence false
set_tcp_nodelay true
# no per-client queue limit: a recorder on '#' must never drop (bounded by the test)
max_queued_messages 0
log_dest file $TMP/mosquitto-$addr.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %H:%M:%S
EOF
  bg brk "mosquitto-$addr" mosquitto -c "$conf"
  # shellcheck disable=SC2034 # read by the tests (test_scale.sh kills one)
  BROKER_PID[$addr]=$BG_PID
}

broker_listening() {
  in_ns brk ss -Hltn "sport = :$MQTT_PORT" | grep -q "$1:$MQTT_PORT"
}

# start_brokers: every broker of the plan, waits until each listens.
start_brokers() {
  local b
  for b in $ALL_BROKERS; do start_broker "$b"; done
  for b in $ALL_BROKERS; do
    if ! wait_until 10 broker_listening "$b"; then
      show_log "$TMP/mosquitto-$b.err" "$TMP/mosquitto-$b.log"
      die "mosquitto on $b:$MQTT_PORT did not start listening within 10 s"
    fi
  done
  ok "five mosquitto brokers listen in $TOPO_NS_BRK ($ALL_BROKERS)"
}

# start_recorder MAX: the recorder, subscribed to '#' on every broker (from
# the brk namespace), one line per message in $TMP/recorded.tsv, at most MAX.
start_recorder() {
  local args=() b
  for b in $ALL_BROKERS; do args+=(--broker "$b:$MQTT_PORT"); done
  bg brk recorder "$PY" "$TOOLS" record "${args[@]}" --out "$TMP/recorded.tsv" \
    --ready "$TMP/recorder.ready" --max-messages "$1"
  RECORDER_PID=$BG_PID
  if ! wait_until 15 test -f "$TMP/recorder.ready"; then
    show_log "$TMP/recorder.err"
    die "the recorder did not subscribe to every broker within 15 s"
  fi
  ok "recorder subscribed to '#' on every broker"
}

# stop_recorder: SIGTERM (it flushes and exits 0).
stop_recorder() {
  local rc=0
  stop_pid "$RECORDER_PID" 10 || rc=$?
  [ "$rc" -eq 0 ] || { show_log "$TMP/recorder.err"; not_ok "recorder exited with status $rc"; }
}

# --- the balancer --------------------------------------------------------------

# write_lb_config FILE: the standard plan as mqttlb YAML (CONTRACT.md).
write_lb_config() {
  cat >"$1" <<EOF
# mqttlb end-to-end test $E2E_NAME
interfaces: [{name: lb-c}, {name: lb-b}]
listeners: [{address: $TOPO_VIP, port: $MQTT_PORT}]
source_addresses: [$TOPO_SRC]
workers: 2
pools:
  - {name: apples, brokers: ["10.20.0.11:$MQTT_PORT", "10.20.0.12:$MQTT_PORT"]}
  - {name: pears,  brokers: ["10.20.0.13:$MQTT_PORT", "10.20.0.14:$MQTT_PORT"]}
  - {name: other,  brokers: ["10.20.0.15:$MQTT_PORT"]}
routes:
  - {topic: "apples/#", pool: apples}
  - {topic: "pears/#", pool: pears}
default_pool: other
# the admin socket in the test's directory: concurrent tests never share one
admin: {socket: $TMP/mqttlb.sock}
EOF
}

# start_lb: `mqttlb run` in the lb namespace; ready once an MQTT CONNECT to
# the VIP is answered with a CONNACK. Fails the test loudly (naming mqttlb's
# own message) when it exits or never answers. Nothing in direct mode.
start_lb() {
  if [ "$DIRECT" -eq 1 ]; then
    skip "mqttlb run starts and serves the VIP"
    return 0
  fi
  write_lb_config "$TMP/mqttlb.yaml"
  launch_lb "$TMP/mqttlb.yaml" mqttlb
}

# forget_pid PID: PID has exited and was reaped; the cleanup must not signal
# it again (the number may be reused).
forget_pid() {
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# launch_lb CFG NAME [ARGS...]: `mqttlb run -c CFG ARGS...` in the lb
# namespace, stdout/stderr in $TMP/NAME.{out,err}; sets LB_PID and LB_LOG;
# ready once the VIP answers an MQTT CONNECT. Dies (naming mqttlb's own
# message) when it exits or never answers.
launch_lb() {
  local cfg=$1 name=$2
  shift 2
  ulimit -l unlimited 2>/dev/null || true
  LB_LOG="$TMP/$name.err"
  # directly, not through bg(): $! must be mqttlb's own PID
  ip netns exec "$TOPO_NS_LB" "$MQTTLB" run -c "$cfg" "$@" >"$TMP/$name.out" 2>"$LB_LOG" &
  LB_PID=$!
  PIDS+=("$LB_PID")
  local rc deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$LB_PID" 2>/dev/null; then
      rc=0
      wait "$LB_PID" || rc=$?
      forget_pid "$LB_PID"
      echo "# mqttlb run -c $cfg $* said:"
      sed 's/^/#   /' "$LB_LOG" "$TMP/$name.out"
      die "'mqttlb run' exited with status $rc before serving the VIP"
    fi
    if in_ns cli "$PY" "$TOOLS" probe --host "$TOPO_VIP" --port "$MQTT_PORT" --timeout 1 \
      >/dev/null 2>"$TMP/probe.err"; then
      ok "mqttlb run $* (pid $LB_PID) answers MQTT on $TOPO_VIP:$MQTT_PORT"
      return 0
    fi
    sleep 0.5
  done
  show_log "$LB_LOG" "$TMP/probe.err"
  die "mqttlb run did not answer an MQTT CONNECT on $TOPO_VIP:$MQTT_PORT within 30 s"
}

# stop_lb: SIGTERM; mqttlb drains and must exit 0 within 30 s.
stop_lb() {
  if [ "$DIRECT" -eq 1 ]; then
    skip "mqttlb exits 0 on SIGTERM"
    return 0
  fi
  local rc=0
  stop_pid "$LB_PID" 30 || rc=$?
  if [ "$rc" -eq 0 ]; then
    ok "mqttlb exits 0 on SIGTERM"
  else
    show_log "$TMP/mqttlb.err"
    not_ok "mqttlb exits 0 on SIGTERM (status $rc$([ "$rc" -eq 124 ] && echo ', still running after 30 s'))"
  fi
}

# broker_peers: the peer addresses of the established connections at the
# brokers' MQTT port, except the brokers' own (the recorder's), one per line.
broker_peers() {
  in_ns brk ss -Htn state established "sport = :$MQTT_PORT" |
    awk '{ split($4, a, ":"); print a[1] }' |
    grep -vxF -f <(tr ' ' '\n' <<<"$ALL_BROKERS") || true
}

# --- MQTT.js -------------------------------------------------------------------

# ensure_mqttjs: MQTT.js 5 in $MQTTJS_DIR (ctest passes one under the build
# tree), installed from the npm registry on first use (package.json beside
# this file); sets NODE_MODULES. Fails the test (never skips) when it cannot.
ensure_mqttjs() {
  local dir=${MQTTJS_DIR:-/tmp/mqttlb-e2e-mqttjs} version
  command -v node >/dev/null 2>&1 || die "node not found (needed for the MQTT.js client)"
  command -v npm >/dev/null 2>&1 || die "npm not found (needed to install MQTT.js)"
  mkdir -p "$dir" || die "cannot create MQTTJS_DIR $dir"
  NODE_MODULES="$dir/node_modules"
  # one installer at a time (tests may run in parallel under ctest -j)
  if ! (
    flock -w 200 9 || { echo "waited 200 s for $dir/.lock"; exit 1; }
    if ! NODE_PATH="$NODE_MODULES" node -e 'require("mqtt")' >/dev/null 2>&1; then
      cp "$E2E_DIR/package.json" "$dir/package.json"
      if ! timeout 180 npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        >"$dir/npm-install.log" 2>&1; then
        tail -n 20 "$dir/npm-install.log"
        exit 1
      fi
    fi
  ) 9>"$dir/.lock" >"$TMP/mqttjs-install.err" 2>&1; then
    sed 's/^/#   /' "$TMP/mqttjs-install.err"
    die "could not install MQTT.js (npm install --prefix $dir mqtt@5); see above"
  fi
  version=$(NODE_PATH="$NODE_MODULES" node -p 'require("mqtt/package.json").version' 2>/dev/null) ||
    die "MQTT.js in $dir does not load"
  [[ $version == 5.* ]] || die "MQTT.js in $dir is $version, expected 5.x"
  ok "MQTT.js $version (in $dir)"
}
