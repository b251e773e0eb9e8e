# shellcheck shell=bash
# Shared by bench/run.sh and the scenario scripts beside this file (sourced,
# not run): the topology, the brokers, the contenders (start, stop, where
# clients connect), the load tools, the results file and the plots.
#
# One topology serves the whole run (tests/netns/topo.sh, prefix $P):
#
#   $P-cli  cli0 10.10.0.1..8  <->  $P-lb  lb-c 10.10.0.100 (VIP)
#                                         lb-b 10.20.0.1     <->  $P-brk  brk0 10.20.0.11..14
#
# one queue per veth (the balancer gets one worker on one core), Mosquitto on
# 10.20.0.11-13 (pool `bench`, the benchmark's topics) and 10.20.0.14 (pool
# `other`, mqttlb's default). The lb namespace's kernel forwards between the
# two subnets (the `direct` contender: clients straight to the brokers) and
# owns the VIP and 10.20.0.1 (HAProxy and NGINX listen and connect there).
# Contenders run one at a time, all inside $P-lb.
#
# Every process started here is recorded by PID and ended by PID
# (bench_cleanup, on exit, failure or Ctrl-C); every wait is bounded.

BENCH_SCEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_SCEN_DIR/../.." && pwd)
TOPO=$BENCH_ROOT/tests/netns/topo.sh
PROBE_PY=$BENCH_ROOT/tests/e2e/mqtt_clients.py
PY=/usr/bin/python3
PORT=1883
BAL_CPU=${BENCH_BAL_CPU:-1}             # the balancer's one core
BENCH_BROKERS=(10.20.0.11 10.20.0.12 10.20.0.13) # pool `bench`: every contender's brokers
OTHER_BROKER=10.20.0.14                          # mqttlb's default pool
ALL_BROKERS=("${BENCH_BROKERS[@]}" "$OTHER_BROKER")
NCLIENT_ADDRS=8
# shellcheck disable=SC2034 # read by run.sh
CONTENDERS_ALL=(direct mqttlb haproxy haproxy-cid nginx)

PIDS=()      # every background process still running, by PID
EXTRA_NS=()  # namespaces a scenario built beyond the topology (deleted at exit)
CUR=""       # the contender running now ("" = none)
CUR_PID=""   # its main process
CUR_OUT=""   # its stdout (mqttlb: the counters as JSON at exit)
CUR_ERR=""
LOG_SEQ=0

# --- messages ----------------------------------------------------------------

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { say "WARNING: $*"; }
die() {
  say "ERROR: $*"
  exit 1
}

# next_log NAME: sets NEXT_LOG to a fresh log path stem under $LOGS, numbered in
# run order (not in $(...): the counter must advance in this shell).
next_log() {
  LOG_SEQ=$((LOG_SEQ + 1))
  NEXT_LOG=$(printf '%s/%03d-%s' "$LOGS" "$LOG_SEQ" "$1")
}

# --- results -------------------------------------------------------------------

# emit SCENARIO CONTENDER METRIC VALUE UNIT NOTES: one row of results.csv.
# An empty VALUE is written as NA (the notes say why).
emit() {
  local v=$4 notes=${6:-}
  if [ -z "$v" ] || [ "$v" = null ]; then
    v=NA
  elif [[ $v =~ ^-?[0-9]+\.[0-9]+$ ]]; then
    v=$(awk -v x="$v" 'BEGIN { a = x < 0 ? -x : x; printf (a >= 100 ? "%.0f" : a >= 1 ? "%.2f" : "%.4f"), x }')
  fi
  notes=${notes//\"/\"\"}
  printf '%s,%s,%s,%s,%s,"%s"\n' "$1" "$2" "$3" "$v" "$5" "$notes" >>"$CSV"
  say "  $1 $2 $3 = $v $5"
}

# csv_value SCENARIO CONTENDER METRIC: a value already in results.csv
# (empty when missing or NA).
csv_value() {
  "$PY" - "$CSV" "$@" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline="")):
    if (r["scenario"], r["contender"], r["metric"]) == tuple(sys.argv[2:5]) and r["value"] != "NA":
        print(r["value"])
        break
PY
}

# jget FILE KEY: a key of a JSON object (empty when missing, null or no file).
jget() {
  [ -s "$1" ] || return 0
  jq -r --arg k "$2" '.[$k] // empty' "$1" 2>/dev/null || true
}

# calc EXPR: awk arithmetic (the caller makes sure no operand is empty).
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
# sub_or_empty A B: A - B; div_or_empty A B: A / B; empty when an operand is
# empty (or B is 0).
sub_or_empty() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.6f", a - b }'; }
div_or_empty() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 != 0) printf "%.6f", a / b }'; }
# delta A B: A - B as a whole number (counters: after, before), or empty.
delta() { sub_or_empty "$1" "$2" | cut -d. -f1; }

# --- processes -----------------------------------------------------------------

# ns_name cli|lb|brk|NAME: the namespace's full name.
ns_name() {
  case "$1" in
    cli | lb | brk) echo "$P-$1" ;;
    *) echo "$1" ;;
  esac
}

# in_ns NS CMD...: CMD in the namespace, in the foreground.
in_ns() {
  local ns
  ns=$(ns_name "$1")
  shift
  ip netns exec "$ns" "$@"
}

# bg NS STEM CMD...: CMD in the namespace in the background, stdout and
# stderr to STEM.out / STEM.err; BG_PID is the command's own PID (ip netns
# exec and taskset exec it).
bg() {
  local ns stem=$2
  ns=$(ns_name "$1")
  shift 2
  ip netns exec "$ns" "$@" >"$stem.out" 2>"$stem.err" &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

forget_pid() {
  local i
  for i in "${!PIDS[@]}"; do [ "${PIDS[i]}" != "$1" ] || unset 'PIDS[i]'; done
  PIDS=("${PIDS[@]}")
}

# wait_pid PID SECONDS: waits for PID (a child) to exit and returns its
# status; after SECONDS it is sent SIGTERM, 5 s later SIGKILL (status 124).
wait_pid() {
  local pid=$1 t=$(($2 * 10)) i rc=0
  for ((i = 0; i < t; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    return 124
  fi
  wait "$pid" 2>/dev/null || rc=$?
  forget_pid "$pid"
  return "$rc"
}

# waited OUT ERR CMD...: CMD with stdout to OUT and stderr to ERR, in the
# background, waited for: a signal's trap runs at once (bash runs traps only
# after a foreground command ends) and the cleanup ends CMD by its PID.
# Returns CMD's status.
waited() {
  local out=$1 err=$2 pid rc=0
  shift 2
  "$@" >"$out" 2>"$err" &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}

# stop_pid PID [SECONDS] [SIGNAL]: SIGNAL (TERM), then wait_pid.
stop_pid() {
  kill "-${3:-TERM}" "$1" 2>/dev/null || true
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

# now_s: seconds since the epoch, with nanoseconds.
now_s() { date +%s.%N; }

# The machine's cores and clock ticks, for machine_busy.
MACHINE_NCPU=$(grep -c '^cpu[0-9]' /proc/stat)
MACHINE_HZ=$(getconf CLK_TCK)

# machine_stat: the time (bash's EPOCHREALTIME) and /proc/stat's first line,
# read together, as "TIME BUSY USER SYSTEM IRQ STEAL IDLE": BUSY the
# jiffies of user+nice+system+irq+softirq+steal (guest time is already in
# user), USER user+nice, IRQ irq+softirq, IDLE idle+iowait.
machine_stat() {
  local line t
  read -r line </proc/stat
  t=$EPOCHREALTIME
  machine_stat_of "$t" "$line"
}
# machine_stat_of TIME LINE: /proc/stat's first LINE, read at TIME, as
# machine_stat prints it.
machine_stat_of() {
  awk -v t="$1" '{ print t, $2 + $3 + $4 + $7 + $8 + $9, $2 + $3, $4, $7 + $8, $9, $5 + $6 }' <<<"$2"
}

# machine_busy A B: between two machine_stat snapshots, "SECONDS BUSY_PCT
# BUSY_S TICKED_PCT USER_PCT SYSTEM_PCT IRQ_PCT STEAL_PCT" (100 = one core):
# BUSY is the cores' time in the window minus their idle and iowait time
# (which this NO_HZ kernel measures exactly, where it samples the busy states
# at each tick); TICKED is the busy states' own jiffies, and the parts are
# those states'.
machine_busy() {
  awk -v a="$1" -v b="$2" -v n="$MACHINE_NCPU" -v hz="$MACHINE_HZ" 'BEGIN { split(a, x, " "); split(b, y, " ")
    w = y[1] - x[1]; if (w <= 0) exit
    bs = n * w - (y[7] - x[7]) / hz; if (bs < 0) bs = 0
    f = 100 / hz / w
    printf "%.6f %.2f %.6f %.2f %.1f %.1f %.1f %.1f\n", w, 100 * bs / w, bs, f * (y[2] - x[2]),
      f * (y[3] - x[3]), f * (y[4] - x[4]), f * (y[5] - x[5]), f * (y[6] - x[6]) }'
}

bench_cleanup() {
  local rc=$? p ns
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for ns in "${EXTRA_NS[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
  if [ -n "${P:-}" ]; then
    # namespaces a scenario built (they are named $P-...) and left behind
    for ns in $(ip netns list | awk -v p="$P-" 'index($1, p) == 1 && $1 !~ /-(cli|lb|brk)$/ { print $1 }'); do
      ip netns delete "$ns" 2>/dev/null || true
    done
    "$TOPO" down "$P" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}

# --- topology and brokers ------------------------------------------------------

topo_setup() {
  local env a
  env=$("$TOPO" up "$P" --queues 1 --brokers "${#ALL_BROKERS[@]}" --clients "$NCLIENT_ADDRS" --env) ||
    die "tests/netns/topo.sh up $P failed"
  eval "$env"
  # shellcheck disable=SC2034 # read by the scenarios
  CLIENT_ADDRS=${TOPO_CLIENTS// /,}
  # direct: the lb namespace's kernel routes between clients and brokers
  in_ns lb sysctl -qw net.ipv4.ip_forward=1
  ip -n "$TOPO_NS_CLI" route add 10.20.0.0/24 via "$TOPO_VIP"
  ip -n "$TOPO_NS_BRK" route add 10.10.0.0/24 via "$TOPO_SRC"
  # the SYN flood's spoofed sources (198.18.0.0/15): answers go back to the
  # client namespace, whose kernel drops them (it does not forward)
  ip -n "$TOPO_NS_LB" route add 198.18.0.0/15 via "${TOPO_CLIENTS%% *}"
  ip -n "$TOPO_NS_BRK" route add 198.18.0.0/15 via "$TOPO_SRC"
  for a in cli lb brk; do
    # not in lb: mqttlb's broker legs own 10.20.0.1's ports 1024-32767 (the
    # XDP program takes those), the kernel's keep 32768-60999
    [ "$a" = lb ] || in_ns "$a" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
    in_ns "$a" sysctl -qw net.core.somaxconn=65535
    in_ns "$a" sysctl -qw net.ipv4.tcp_max_syn_backlog=65535
  done
}

start_brokers() {
  local b conf stem
  for b in "${ALL_BROKERS[@]}"; do
    conf="$WORK/mosquitto-$b.conf"
    cat >"$conf" <<EOF
# broker $b of bench/run.sh
listener $PORT $b
allow_anonymous true
user root
persistence false
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
log_dest file $WORK/mosquitto-$b.log
log_type error
log_type warning
log_type notice
connection_messages true
EOF
    next_log "mosquitto-$b"
    stem=$NEXT_LOG
    bg brk "$stem" "${LOAD_TASKSET[@]}" mosquitto -c "$conf"
  done
  for b in "${ALL_BROKERS[@]}"; do
    wait_until 10 broker_listening "$b" || die "mosquitto on $b:$PORT did not listen within 10 s"
  done
  say "mosquitto listens on ${ALL_BROKERS[*]}"
}

broker_listening() {
  in_ns brk ss -Hltn "sport = :$PORT" | grep -q "$1:$PORT"
}

# broker_conns: MQTT connections the brokers hold from clients or balancers
# (not the subscribers the benchmark runs in the brokers' namespace).
broker_conns() {
  in_ns brk ss -Htn state established "( sport = :$PORT )" |
    awk '$4 !~ /^10\.20\.0\.1[0-9]:/ { n++ } END { print n + 0 }'
}

# broker_conns_at_least N / broker_conns_none: for wait_until (the count is
# taken at every poll).
broker_conns_at_least() { [ "$(broker_conns)" -ge "$1" ]; }
broker_conns_none() { [ "$(broker_conns)" -eq 0 ]; }

# broker_log_connects B: "New client connected" lines in broker B's log so
# far, mqttlb's health checks (client ids mqttlb-health-*) left out.
broker_log_connects() {
  awk '/New client connected/ && !/ as mqttlb-health-/ { n++ } END { print n + 0 }' "$WORK/mosquitto-$1.log" 2>/dev/null || echo 0
}

# --- load tools ----------------------------------------------------------------

# mqttload NS STEM TIMEOUT ARGS...: runs mqttload in the foreground (--json),
# its JSON object to STEM.json; returns its status.
mqttload() {
  local ns=$1 stem=$2 t=$3 rc=0
  shift 3
  waited "$stem.out" "$stem.err" in_ns "$ns" timeout --foreground -k 5 "$t" "${LOAD_TASKSET[@]}" "$MQTTLOAD" "$@" --json || rc=$?
  grep '^{' "$stem.out" | tail -n 1 >"$stem.json" || true
  [ "$rc" -eq 0 ] || warn "mqttload $1 ($(basename "$stem")) exited with status $rc: $(tail -n 2 "$stem.err" | tr '\n' ' ')"
  return "$rc"
}

# mqttload_bg NS STEM ARGS...: the same in the background (BG_PID); collect
# the JSON with mqttload_collect STEM PID SECONDS.
mqttload_bg() {
  local ns=$1 stem=$2
  shift 2
  bg "$ns" "$stem" "${LOAD_TASKSET[@]}" "$MQTTLOAD" "$@" --json
}
mqttload_collect() {
  local rc=0
  wait_pid "$2" "$3" || rc=$?
  grep '^{' "$1.out" | tail -n 1 >"$1.json" || true
  [ "$rc" -eq 0 ] || warn "mqttload ($(basename "$1")) exited with status $rc: $(tail -n 2 "$1.err" | tr '\n' ' ')"
  return "$rc"
}

# sub_start NAME FILTER QOS SECONDS [HOSTS]: one subscriber per broker of the
# pool (or per host of HOSTS) in the brokers' namespace; waits until all are
# subscribed; sets SUB_STEM and SUB_PID.
sub_start() {
  local hosts=${5:-$(broker_list , %s)} n
  n=$(awk -F, '{ print NF }' <<<"$hosts")
  next_log "$1"
  SUB_STEM=$NEXT_LOG
  mqttload_bg brk "$SUB_STEM" sub -H "$hosts" -c "$n" -q "$3" -t "$2" -d "$4"
  SUB_PID=$BG_PID
  wait_until 15 grep -q 'mqttload: ready' "$SUB_STEM.err" ||
    die "the subscribers ($1) did not subscribe within 15 s: $(tail -n 3 "$SUB_STEM.err")"
}

# sub_stop: SIGINT (the subscribers print their JSON and exit), bounded.
sub_stop() {
  kill -INT "$SUB_PID" 2>/dev/null || true
  mqttload_collect "$SUB_STEM" "$SUB_PID" 15 || true
}

# probe HOST: one MQTT CONNECT answered with CONNACK (from the client namespace).
probe() {
  in_ns cli timeout --foreground 5 "$PY" "$PROBE_PY" probe --host "$1" --port "$PORT" --timeout 2 >/dev/null 2>&1
}

# --- contenders ------------------------------------------------------------------

# broker_list SEP FMT: the bench pool formatted per broker (printf FMT).
broker_list() {
  local out="" b
  for b in "${BENCH_BROKERS[@]}"; do
    # shellcheck disable=SC2059 # FMT is ours
    out+="${out:+$1}$(printf "$2" "$b")"
  done
  printf '%s' "$out"
}

# render TEMPLATE OUT KEY=VALUE...: TEMPLATE with every @KEY@ replaced.
render() {
  local tmpl=$1 out=$2 text kv k v
  shift 2
  text=$(<"$tmpl")
  for kv in "$@"; do
    k=${kv%%=*}
    v=${kv#*=}
    text=${text//"@$k@"/"$v"}
  done
  if [[ $text =~ @[A-Z_]+@ ]]; then die "render $tmpl: ${BASH_REMATCH[0]} has no value"; fi
  printf '%s\n' "$text" >"$out"
}

# target: the mqttload host list of the running contender: the VIP, or for
# `direct` the pool's brokers (the load tool spreads clients over them).
target() {
  if [ "$CUR" = direct ]; then broker_list , %s; else echo "$TOPO_VIP"; fi
}

# contender_start NAME [bind-connect|no-health]: starts a contender in the
# lb namespace and waits until it answers MQTT at the VIP (bounded).
# bind-connect: mqttlb binds every connection at its CONNECT; no-health:
# mqttlb checks the brokers once at start, then hourly.
contender_start() {
  local name=$1 mode=${2:-}
  [ -z "$CUR" ] || contender_stop
  CUR=$name
  CUR_PID=""
  CUR_OUT=""
  case "$name" in
    direct) return 0 ;;
    mqttlb) mqttlb_start "$mode" ;;
    haproxy | haproxy-cid) haproxy_start "$name" ;;
    nginx) nginx_start ;;
    *) die "unknown contender '$name'" ;;
  esac
  if ! wait_until 15 probe "$TOPO_VIP"; then
    say "--- $name's log:"
    tail -n 20 "$CUR_ERR" >&2 || true
    die "$name does not answer MQTT at $TOPO_VIP:$PORT within 15 s"
  fi
}

# mqttlb_ring_full: frames the kernel dropped on the running mqttlb's full RX
# rings so far (kernel_rx_ring_full summed over its workers; empty when the
# contender is not mqttlb).
mqttlb_ring_full() { mqttlb_stats '[.workers[].kernel_rx_ring_full] | add'; }

# mqttlb_conn_extra: the template's CONN_EXTRA (mqttlb.yaml): the
# connections settings the environment asks for, or nothing.
mqttlb_conn_extra() {
  [ -z "${BENCH_MQTTLB_SYN_RATE:-}" ] || echo "  syn_rate: $BENCH_MQTTLB_SYN_RATE"
}

mqttlb_start() {
  local extra="" stem health="health: {interval: 2s, timeout: 1s}"
  [ "${1:-}" != bind-connect ] || extra='  - {client_id: "*", pool: bench}'
  [ "${1:-}" != no-health ] || health="health: {interval: 1h, timeout: 1s}"
  next_log mqttlb
  stem=$NEXT_LOG
  render "$BENCH_SCEN_DIR/mqttlb.yaml" "$stem.yaml" IF_C=lb-c IF_B=lb-b VIP="$TOPO_VIP" PORT="$PORT" \
    SRC="$TOPO_SRC" CPU="$BAL_CPU" BROKERS="$(broker_list ', ' '"%s:1883"')" \
    OTHER="\"$OTHER_BROKER:$PORT\"" EXTRA_ROUTES="$extra" HEALTH="$health" DIR="$WORK" \
    CONN_EXTRA="$(mqttlb_conn_extra)"
  bg lb "$stem" "$MQTTLB" run -c "$stem.yaml" --json
  CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$stem.err
  mqttlb_wait_running "$CUR_PID" "$CUR_ERR"
}

# mqttlb_wait_running PID ERRFILE: until its start line (XDP attached).
mqttlb_wait_running() {
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q '^mqttlb: running' "$2" 2>/dev/null && return 0
    if ! kill -0 "$1" 2>/dev/null; then
      cat "$2" >&2
      die "mqttlb run exited before serving (see above)"
    fi
    sleep 0.1
  done
  die "mqttlb run did not start within 20 s"
}

haproxy_start() {
  local stem servers="" b i=0 cidf="" cidb="" maxconn
  for b in "${BENCH_BROKERS[@]}"; do
    i=$((i + 1))
    servers+="${servers:+$'\n'}    server b$i $b:$PORT"
  done
  if [ "$1" = haproxy-cid ]; then
    cidf=$'    # MQTT client-id stickiness: wait for a whole CONNECT\n    tcp-request inspect-delay 5s\n    tcp-request content accept if { req.payload(0,0),mqtt_is_valid }'
    cidb=$'    stick-table type string len 64 size 200k expire 30m\n    stick on req.payload(0,0),mqtt_field_value(connect,client_identifier)'
  fi
  maxconn=$(((NOFILE - 100) / 2))
  next_log "$1"
  stem=$NEXT_LOG
  render "$BENCH_SCEN_DIR/haproxy.cfg" "$stem.cfg" CPU="$BAL_CPU" NOFILE="$NOFILE" MAXCONN="$maxconn" \
    VIP="$TOPO_VIP" PORT="$PORT" CID_FRONTEND="$cidf" CID_BACKEND="$cidb" SERVERS="$servers"
  bg lb "$stem" /usr/sbin/haproxy -db -f "$stem.cfg"
  CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$stem.err
}

nginx_start() {
  local stem dir servers="" b
  for b in "${BENCH_BROKERS[@]}"; do
    servers+="${servers:+$'\n'}        server $b:$PORT;"
  done
  next_log nginx
  stem=$NEXT_LOG
  dir=$stem.d
  mkdir -p "$dir/logs"
  render "$BENCH_SCEN_DIR/nginx.conf" "$stem.conf" CPU="$BAL_CPU" \
    CPUMASK="$(cpumask "$BAL_CPU")" NOFILE="$NOFILE" DIR="$dir" \
    WORKER_CONNECTIONS="$((NOFILE - 100))" VIP="$TOPO_VIP" PORT="$PORT" SERVERS="$servers"
  bg lb "$stem" /usr/sbin/nginx -p "$dir" -c "$stem.conf" -e "$dir/nginx-error.log"
  CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$dir/nginx-error.log
}

# cpumask N: "1" followed by N zeros (NGINX's worker_cpu_affinity).
cpumask() {
  local m=1 i
  for ((i = 0; i < $1; i++)); do m+=0; done
  echo "$m"
}

# contender_stop: SIGTERM, bounded wait; mqttlb prints its counters (JSON)
# into $CUR_OUT at exit, which stays readable after this.
contender_stop() {
  local rc=0
  [ -n "$CUR" ] || return 0
  if [ -n "$CUR_PID" ]; then
    stop_pid "$CUR_PID" 30 || rc=$?
    [ "$rc" -eq 0 ] || [ "$CUR" != mqttlb ] || warn "mqttlb exited with status $rc: $(tail -n 3 "$CUR_ERR" | tr '\n' ' ')"
  fi
  # shellcheck disable=SC2034 # read by the scenarios
  LAST_OUT=$CUR_OUT
  CUR="" CUR_PID=""
}

# mqttlb_stats JQ: a value of the running mqttlb's `mqttlb stats --json`
# (empty when the command is not there or nothing answers).
mqttlb_stats() {
  [ "$CUR" = mqttlb ] && [ "${MQTTLB_HAS_STATS:-0}" -eq 1 ] || return 0
  timeout --foreground 10 "$MQTTLB" stats -s "$WORK/mqttlb.sock" --json 2>/dev/null | jq -r "$1 // empty" 2>/dev/null || true
}

# contender_pids: the running contender's processes (NGINX: master and worker).
contender_pids() {
  [ -n "$CUR_PID" ] || return 0
  echo "$CUR_PID"
  cat "/proc/$CUR_PID/task/"*/children 2>/dev/null | tr ' ' '\n' | grep . || true
}

# contender_cpu_ticks: user+system clock ticks of the contender's processes.
contender_cpu_ticks() {
  local p t=0 v
  for p in $(contender_pids); do
    v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# contender_rss_kib [VmRSS|VmHWM]: the sum over the contender's processes.
contender_rss_kib() {
  local p t=0 v key=${1:-VmRSS}
  for p in $(contender_pids); do
    v=$(awk -v k="$key:" '$1 == k { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# has_contender NAME: NAME is among the contenders of this run.
has_contender() {
  local c
  for c in "${CONTENDERS[@]}"; do [ "$c" != "$1" ] || return 0; done
  return 1
}

# --- plots -----------------------------------------------------------------------

# pivot SCENARIO METRIC... > DAT: rows = contenders of SCENARIO (in CSV
# order), columns = the METRICs (NaN when missing); header row first.
pivot() {
  "$PY" - "$CSV" "$@" <<'PY'
import csv, sys
path, scen, metrics = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, order = {}, []
with open(path, newline="") as f:
    for r in csv.DictReader(f):
        if r["scenario"] != scen or r["metric"] not in metrics:
            continue
        if r["contender"] not in rows:
            rows[r["contender"]] = {}
            order.append(r["contender"])
        rows[r["contender"]][r["metric"]] = r["value"]
print("contender " + " ".join(m.replace(" ", "_") for m in metrics))
for c in order:
    vals = [rows[c].get(m, "NaN") for m in metrics]
    vals = ["NaN" if v in ("NA", "") else v for v in vals]
    print(c + " " + " ".join(vals))
PY
}

# plot_bars PNG TITLE YLABEL SCENARIO METRIC...: a clustered bar chart,
# one group per contender, one bar per METRIC. PLOT_LOGY=1: log scale;
# PLOT_EXTRA: more gnuplot commands (reference lines...).
plot_bars() {
  local png=$1 title=$2 ylabel=$3 scen=$4 dat max yscale
  shift 4
  dat="$WORK/$(basename "$png" .png).dat"
  pivot "$scen" "$@" >"$dat"
  # nothing to draw (every value missing): no chart
  awk 'NR > 1 { for (i = 2; i <= NF; i++) if ($i != "NaN") ok = 1 } END { exit !ok }' "$dat" || return 0
  max=$(awk 'NR > 1 { for (i = 2; i <= NF; i++) if ($i != "NaN" && $i + 0 > m) m = $i + 0 } END { print m + 0 }' "$dat")
  if [ "${PLOT_LOGY:-0}" -eq 1 ]; then
    yscale=$'set logscale y\nset yrange [*:*]\nset format y "%.0s%c"'
  else
    yscale="set yrange [0:*]"
    [ "$(awk -v m="$max" 'BEGIN { print (m >= 10000) }')" -eq 0 ] || yscale+=$'\nset format y "%.0s%c"'
  fi
  gnuplot <<EOF 2>>"$LOGS/gnuplot.err" || warn "gnuplot failed for $png (see $LOGS/gnuplot.err)"
set terminal pngcairo size 1000,560 font "sans,10"
set output "$png"
set title "$title"
set ylabel "$ylabel"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "NaN"
set key outside right top
set grid ytics
$yscale
${PLOT_EXTRA:-}
set xtics noenhanced
set key noenhanced
plot for [i=2:$(($# + 1))] "$dat" using i:xtic(1) title columnheader(i)
EOF
}

# print_table: results.csv as an aligned table on stdout.
print_table() {
  "$PY" - "$CSV" <<'PY'
import csv, re, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
head, body = rows[0], rows[1:]
w = [max(len(r[i]) for r in rows) for i in range(5)]
def line(r):
    notes = r[5] if len(r[5]) <= 70 else r[5][:67] + "..."
    return "  ".join(r[i].ljust(w[i]) if i != 3 else r[i].rjust(w[i]) for i in range(5)) + "  " + notes
print(line(head))
print("  ".join("-" * x for x in w) + "  " + "-" * 5)
prev = None
skipped = 0
for r in body:
    # per-broker detail rows: in results.csv (the spread rows' notes have them)
    if re.match(r"^(msgs|conns)_[0-9]+_q[0-9]$", r[2]):
        skipped += 1
        continue
    if prev is not None and r[0] != prev:
        print()
    prev = r[0]
    print(line(r))
if skipped:
    print(f"\n({skipped} per-broker rows, msgs_B_qQ and conns_B_qQ, are in results.csv only)")
PY
}
