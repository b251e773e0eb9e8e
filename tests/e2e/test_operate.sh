#!/usr/bin/env bash
# ctest e2e.operate: the operator's features of `mqttlb run`, end to end,
# with real Mosquitto brokers and real clients on AF_XDP.
#
#   test_operate.sh MQTTLB
#
# The standard plan and brokers (lib.sh: apples .11 .12, pears .13 .14,
# other .15), a recorder on '#' at every broker, and mqttlb with health
# checks (interval 300ms, timeout 250ms, rise 2, fall 2), the admin socket in
# the test's directory and /metrics on 127.0.0.1:9180 in the lb namespace.
#   1. stats: `mqttlb stats --json` shows every broker up.
#   2. counters: QoS 1 publishers on apples/ and pears/; the per-broker
#      `publishes` of `stats --json` sum to what was sent, agree broker by
#      broker with the recorder, and /metrics (200) agrees with the JSON.
#   3. health: apples' 10.20.0.11 killed; it is `down` in the stats within
#      fall x interval + 2 s, logged once; new apples connections, during the
#      detection and after it, all land on 10.20.0.12, nothing lost; restarted,
#      it is `up` within rise x interval + 2 s, logged once, and takes new
#      clients again.
#   4. reload: a long-lived client publishing on pears/old; the file now
#      routes pears/# to other and sets connections.syn_rate (checked in
#      the XDP program's map with bpftool); SIGHUP: `reloaded`, reloads 1, a new pears
#      client lands on 10.20.0.15, the long-lived client's connection stays
#      up and its later messages still reach its pears broker, none lost.
#   5. bad reloads: an unknown key (`reload refused: FILE:LINE: ...`) and a
#      changed listener (names `listeners`) are refused; reloads stays 1 and
#      a new pears client still lands on other.
#   6. drain (a second mqttlb, with --log-format json): one idle subscriber
#      open, SIGTERM: `draining`; a new connection is refused at once (RST,
#      not a timeout); the subscriber leaves and mqttlb exits 0 well before
#      the 10 s drain timeout; its exit counters (--json) have drain_refused.
#   7. --log-format json: every stderr line of that run is a JSON object with
#      ts, level, event and msg (jq).
# Needs root (fails without); traffic stays inside the test's namespaces.
# shellcheck disable=SC2317 # functions called through check, wait_until and all_true
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init operate "opr$$" "${1:-}"
[ "$DIRECT" -eq 0 ] || die "E2E_DIRECT makes no sense here: every check is about mqttlb itself"
for tool in jq curl; do command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"; done

CFG="$TMP/mqttlb.yaml"
SOCK="$TMP/mqttlb.sock"
METRICS=127.0.0.1:9180
INTERVAL_MS=300
RISE=2
FALL=2
KILLED=10.20.0.11
SURVIVOR=10.20.0.12
OTHER=10.20.0.15
CLIENT_TIMEOUT=60
N_IDS=12 # client ids per pool in check 2 (sequential connections)
N_MSG=10 # QoS 1 messages per connection in check 2

# --- helpers -------------------------------------------------------------------

now() { echo "$EPOCHREALTIME"; }
# elapsed T0: seconds since T0 (an EPOCHREALTIME), 3 decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
# fle A B: A <= B (decimals).
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# all_true CMD1... -- CMD2... [-- ...]: every command succeeds (for check).
all_true() {
  local cmd=()
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
      "${cmd[@]}" || return 1
      cmd=()
    else
      cmd+=("$1")
    fi
    shift
  done
  [ ${#cmd[@]} -eq 0 ] || "${cmd[@]}"
}

# write_config FILE PEARS_POOL [PORT] [EXTRA_YAML]: the standard plan with
# health checks and /metrics; pears/# routes to PEARS_POOL; the listener on
# PORT (default 1883); EXTRA_YAML appended as is.
write_config() {
  local file=$1 pears=$2 port=${3:-$MQTT_PORT} extra=${4:-}
  cat >"$file.new" <<EOF
# mqttlb end-to-end test $E2E_NAME
interfaces: [{name: lb-c}, {name: lb-b}]
listeners: [{address: $TOPO_VIP, port: $port}]
source_addresses: [$TOPO_SRC]
workers: 2
pools:
  - {name: apples, brokers: ["10.20.0.11:$MQTT_PORT", "10.20.0.12:$MQTT_PORT"]}
  - {name: pears,  brokers: ["10.20.0.13:$MQTT_PORT", "10.20.0.14:$MQTT_PORT"]}
  - {name: other,  brokers: ["10.20.0.15:$MQTT_PORT"]}
routes:
  - {topic: "apples/#", pool: apples}
  - {topic: "pears/#", pool: $pears}
default_pool: other
health: {interval: ${INTERVAL_MS}ms, timeout: 250ms, rise: $RISE, fall: $FALL}
# the admin socket in the test's directory: concurrent tests never share one
admin: {socket: $SOCK, metrics: "$METRICS"}
EOF
  [ -z "$extra" ] || printf '%s\n' "$extra" >>"$file.new"
  mv "$file.new" "$file" # whole, never half-written when mqttlb reads it
}

# start_mqttlb NAME ARGS...: lib.sh's launch_lb with this test's $CFG.
start_mqttlb() {
  launch_lb "$CFG" "$@"
}

# stats: `mqttlb stats --json` into $TMP/stats.json (and stdout); fails when
# nothing answers.
stats() {
  "$MQTTLB" stats --json -s "$SOCK" >"$TMP/stats.json" 2>"$TMP/stats.err" || return 1
  cat "$TMP/stats.json"
}
# broker_state ADDR: the broker's state(s) in the stats, e.g. "up".
broker_state() {
  stats 2>/dev/null | jq -r --arg b "$1:$MQTT_PORT" \
    '[.pools[].brokers[] | select(.name == $b) | .state] | unique | join(",")'
}
state_is() { [ "$(broker_state "$1")" = "$2" ]; }
all_up() {
  stats >/dev/null 2>&1 &&
    jq -e '[.pools[].brokers[].state] | length == 5 and all(. == "up")' "$TMP/stats.json" >/dev/null
}
reloads() { stats 2>/dev/null | jq -r '.reloads'; }
# broker_publishes ADDR: its `publishes` in the stats.
broker_publishes() {
  stats 2>/dev/null | jq -r --arg b "$1:$MQTT_PORT" \
    '[.pools[].brokers[] | select(.name == $b) | .publishes] | add // 0'
}

# log_count FILE PATTERN [FROM_LINE]: lines of FILE after FROM_LINE (default
# 0) matching the fixed string PATTERN.
log_count() {
  tail -n +"$((${3:-0} + 1))" "$1" | grep -cF -- "$2" || true
}
log_has() { [ "$(log_count "$@")" -ge 1 ]; }

# recorded_count PREFIX [BROKER]: messages recorded whose payload starts
# with PREFIX (at BROKER, an address, if given).
recorded_count() {
  awk -F'\t' -v p="$1" -v b="${2:+$2:$MQTT_PORT}" \
    'index($3, p) == 1 && (b == "" || $1 == b) { n++ } END { print n + 0 }' "$TMP/recorded.tsv" 2>/dev/null || echo 0
}
recorded_at_least() { [ "$(recorded_count "$1")" -ge "$2" ]; }
# all_recorded SENT: every payload of SENT (a sent file) was recorded.
all_recorded() {
  awk -F'\t' 'FNR == NR { want[$2] = 1; next } ($3 in want) { delete want[$3] }
    END { for (p in want) exit 1 }' "$1" "$TMP/recorded.tsv" 2>/dev/null
}
# landed PREFIX: where messages with payloads starting with PREFIX were
# recorded, "broker count" pairs.
landed() {
  awk -F'\t' -v p="$1" 'index($3, p) == 1 { n[$1]++ } END { for (b in n) printf "%s %d, ", b, n[b] }' \
    "$TMP/recorded.tsv" 2>/dev/null | sed 's/, $//'
}

# check_landed NAME SENT COUNT POOL=BROKER[,BROKER] [--same-broker]: each of
# the COUNT messages of SENT (a sent file) was recorded exactly once, at one
# of the brokers given (mqtt_clients.py check with a one-pool plan).
check_landed() {
  local name=$1 sent=$2 count=$3 spec=$4 extra=() out rc=0
  [ "${5:-}" = --same-broker ] && extra=(--same-broker "$name")
  wait_until 15 all_recorded "$sent" || true
  sleep 0.3 # a duplicate, if any, arrives too
  out=$("$PY" "$TOOLS" check --pool "$spec" --default "${spec%%=*}" --recorded "$TMP/recorded.tsv" \
    --expect "$name=$sent:$count" --ignore '' "${extra[@]}") || rc=$?
  grep -v 'no other message reached' <<<"$out" || true
  [ "$rc" -eq 0 ] || failed=1
  return "$rc"
}

# pub NAME POOL_TOPIC CLIENTS COUNT: mqtt_clients.py pub through the VIP in
# the foreground: CLIENTS sequential connections (ids NAME-1..), COUNT QoS 1
# messages each on TOPIC; sent lines in $TMP/NAME.sent. Returns its status.
pub() {
  local name=$1 topic=$2 clients=$3 count=$4 rc=0
  in_ns cli timeout $((CLIENT_TIMEOUT + 5)) "$PY" "$TOOLS" pub --host "$TOPO_VIP" --port "$MQTT_PORT" \
    --client-id "$name-%d" --clients "$clients" --count "$count" --qos 1 --topic "$topic" \
    --sent "$TMP/$name.sent" --timeout "$CLIENT_TIMEOUT" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    not_ok "publisher $name ($clients connections x $count on $topic) exited with status $rc"
    show_log "$TMP/$name.err"
  fi
  return "$rc"
}

# bg_pub NAME TOPIC CLIENTS COUNT: the same in the background; sets BG_PID.
bg_pub() {
  bg cli "$1" timeout $((CLIENT_TIMEOUT + 5)) "$PY" "$TOOLS" pub --host "$TOPO_VIP" --port "$MQTT_PORT" \
    --client-id "$1-%d" --clients "$3" --count "$4" --qos 1 --topic "$2" \
    --sent "$TMP/$1.sent" --timeout "$CLIENT_TIMEOUT"
}

# wait_bg_pub PID NAME: waits for a bg_pub; ok/FAIL line.
wait_bg_pub() {
  local rc=0
  wait_pid "$1" $((CLIENT_TIMEOUT + 15)) || rc=$?
  forget_pid "$1"
  if [ "$rc" -eq 0 ]; then ok "publisher $2 exited 0 ($(lines "$TMP/$2.sent") messages acknowledged)"; else
    not_ok "publisher $2 exited with status $rc"
    show_log "$TMP/$2.err"
  fi
}

# recorder_sees BROKER: a marker published straight to BROKER (from the brk
# namespace) reaches the recorder: its subscription there is live.
recorder_sees() {
  local b=$1 i
  for i in $(seq 30); do
    in_ns brk timeout 5 mosquitto_pub -h "$b" -p "$MQTT_PORT" -q 1 -t "marker/$b" -m "marker-$b-$i" \
      >/dev/null 2>&1 || true
    if wait_until 1 grep -qF "marker-$b-" "$TMP/recorded.tsv"; then return 0; fi
  done
  return 1
}

# --- 1. stats -------------------------------------------------------------------

check_stats_up() {
  local t0
  t0=$(now)
  if wait_until 10 all_up; then
    ok "1. stats --json -s \$TMP/mqttlb.sock: all 5 brokers \"up\" (after $(elapsed "$t0") s)"
  else
    not_ok "1. stats --json: all 5 brokers \"up\" within 10 s (states: $(jq -c '[.pools[].brokers[] | {(.name): .state}] | add' "$TMP/stats.json" 2>/dev/null || cat "$TMP/stats.err"))"
  fi
}

# --- 2. counters ------------------------------------------------------------------

check_counters() {
  local pa pp sent=$((2 * N_IDS * N_MSG)) rc code
  bg_pub ap apples/op/counters "$N_IDS" "$N_MSG"
  pa=$BG_PID
  bg_pub pe pears/op/counters "$N_IDS" "$N_MSG"
  pp=$BG_PID
  wait_bg_pub "$pa" ap
  wait_bg_pub "$pp" pe
  wait_until 20 recorded_at_least "" "$sent" || true
  sleep 0.5
  rc=0
  mapfile -t plan < <(pool_args)
  "$PY" "$TOOLS" check "${plan[@]}" --recorded "$TMP/recorded.tsv" \
    --expect "ap=$TMP/ap.sent:$((N_IDS * N_MSG))" --expect "pe=$TMP/pe.sent:$((N_IDS * N_MSG))" \
    --ignore marker/ | sed 's/^\(ok   - \|FAIL - \)/\12. recorder: /' || rc=$?
  [ "$rc" -eq 0 ] || failed=1
  stats >/dev/null || { not_ok "2. stats --json answers"; show_log "$TMP/stats.err"; return 0; }
  cp "$TMP/stats.json" "$TMP/stats-counters.json"
  code=$(in_ns lb curl -sS -m 5 -o "$TMP/metrics.txt" -w '%{http_code}' "http://$METRICS/metrics" 2>"$TMP/curl.err") || true
  check "2. GET http://$METRICS/metrics (in the lb namespace) answers 200 (got ${code:-nothing})" [ "$code" = 200 ]
  rc=0
  "$PY" - "$TMP/stats-counters.json" "$TMP/metrics.txt" "$TMP/recorded.tsv" "$sent" \
    "$((N_IDS * 2))" <<'EOF' || rc=$?
import json, os, re, sys
from collections import Counter
stats_path, metrics_path, recorded_path, sent, clients = sys.argv[1:]
sent, clients = int(sent), int(clients)
s = json.load(open(stats_path))
bad = 0
def report(ok, line):
    global bad
    print(("ok   - " if ok else "FAIL - ") + "2. " + line)
    bad += not ok
pools = {p["name"]: {b["name"]: b["publishes"] for b in p["brokers"]} for p in s["pools"]}
pool_sum = {p: sum(v.values()) for p, v in pools.items()}
report(pool_sum.get("apples") == sent // 2 and pool_sum.get("pears") == sent // 2 and pool_sum.get("other") == 0,
       f"stats --json publishes per pool {pool_sum} = what the clients sent "
       f"(apples {sent // 2}, pears {sent // 2}, other 0)")
rec = Counter()
for line in open(recorded_path, encoding="utf-8"):
    f = line.rstrip("\n").split("\t")
    if len(f) >= 3 and (f[1].startswith("apples/") or f[1].startswith("pears/")):
        rec[f[0]] += 1
per_broker = {b: n for p in pools.values() for b, n in p.items()}
diff = {b: (per_broker.get(b, 0), rec.get(b, 0)) for b in set(per_broker) | set(rec)
        if per_broker.get(b, 0) != rec.get(b, 0)}
report(not diff, "per-broker publishes agree with where the recorder saw them "
       + (f"(stats vs recorder differ: {diff})" if diff else f"({dict(sorted(per_broker.items()))})"))
total = s["connections"]["total"]
report(total >= clients, f"connections.total {total} >= {clients} client connections")
families = {}
for line in open(metrics_path, encoding="utf-8", errors="replace") if os.path.exists(metrics_path) else []:
    m = re.match(r'^mqttlb_broker_publishes_total\{([^}]*)\}\s+(\S+)$', line.strip())
    if m:
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
        families[(labels.get("pool"), labels.get("broker"))] = float(m.group(2))
want = {(p, b): float(n) for p, v in pools.items() for b, n in v.items()}
report(families == want, "/metrics mqttlb_broker_publishes_total agrees with the JSON "
       + (f"({len(want)} samples)" if families == want else f"(metrics {families}, JSON {want})"))
sys.exit(1 if bad else 0)
EOF
  [ "$rc" -eq 0 ] || failed=1
}

# --- 3. health ---------------------------------------------------------------------

check_health() {
  local pid=${BROKER_PID[$KILLED]} mark t0 t_down pd before11 after11 limit
  limit=$(awk -v i="$INTERVAL_MS" -v f="$FALL" 'BEGIN { printf "%.1f", f * i / 1000 + 2 }')
  mark=$(lines "$LB_LOG")
  t0=$(now)
  { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true # (no "Killed" notice)
  forget_pid "$pid"
  info "3. killed broker $KILLED (mosquitto pid $pid, SIGKILL)"
  # new apples connections at once, while mqttlb finds out (failover), and on
  bg_pub hk apples/op/health "$N_IDS" 3
  pd=$BG_PID
  if wait_until 8 state_is "$KILLED" down; then
    t_down=$(elapsed "$t0")
    check "3. stats: $KILLED \"down\" ${t_down} s after the kill (at most fall x interval + 2 s = $limit s)" \
      fle "$t_down" "$limit"
  else
    not_ok "3. stats: $KILLED \"down\" within 8 s of the kill (state: $(broker_state "$KILLED"))"
  fi
  wait_bg_pub "$pd" hk
  # and new connections once it is known down
  pub hk2 apples/op/health "$N_IDS" 3 && ok "publisher hk2 exited 0 (after the down)"
  sleep 1 # the checks keep failing: a repeated line would show now
  local n
  n=$(log_count "$LB_LOG" "broker $KILLED:$MQTT_PORT down" "$mark")
  check "3. log: one 'broker $KILLED:$MQTT_PORT down' line ($n)" [ "$n" -eq 1 ]
  check_landed hk "$TMP/hk.sent" $((N_IDS * 3)) "apples-without-$KILLED=$SURVIVOR:$MQTT_PORT" &&
    ok "3. new apples connections during the detection all landed on $SURVIVOR, nothing lost"
  check_landed hk2 "$TMP/hk2.sent" $((N_IDS * 3)) "apples-without-$KILLED=$SURVIVOR:$MQTT_PORT" &&
    ok "3. new apples connections after the down all landed on $SURVIVOR, nothing lost"

  # restart it
  limit=$(awk -v i="$INTERVAL_MS" -v r="$RISE" 'BEGIN { printf "%.1f", r * i / 1000 + 2 }')
  mark=$(lines "$LB_LOG")
  start_broker "$KILLED"
  wait_until 10 broker_listening "$KILLED" || die "mosquitto on $KILLED did not listen again within 10 s"
  t0=$(now)
  if wait_until 8 state_is "$KILLED" up; then
    t_down=$(elapsed "$t0")
    check "3. restarted: stats: $KILLED \"up\" ${t_down} s after it listens (at most rise x interval + 2 s = $limit s)" \
      fle "$t_down" "$limit"
  else
    not_ok "3. restarted: stats: $KILLED \"up\" within 8 s (state: $(broker_state "$KILLED"))"
  fi
  sleep 1
  n=$(log_count "$LB_LOG" "broker $KILLED:$MQTT_PORT up" "$mark")
  check "3. log: one 'broker $KILLED:$MQTT_PORT up' line ($n)" [ "$n" -eq 1 ]
  recorder_sees "$KILLED" || not_ok "3. the recorder subscribed at $KILLED again (marker not seen in 30 s)"
  before11=$(broker_publishes "$KILLED")
  pub back apples/op/back 16 3 || true
  check_landed back "$TMP/back.sent" 48 "apples=10.20.0.11:$MQTT_PORT,$SURVIVOR:$MQTT_PORT" || true
  after11=$(broker_publishes "$KILLED")
  n=$(recorded_count back- "$KILLED")
  check "3. new connections land on $KILLED again ($n of 48 messages recorded there; its stats publishes $before11 -> $after11)" \
    all_true [ "$n" -gt 0 ] -- [ "$after11" -gt "$before11" ]
}

# --- 4. reload -------------------------------------------------------------------

# syn_limit_of IF: "interval_ns burst_ns" of the syn_limit map of the XDP
# program attached to IF in the balancer's namespace (bpftool: the program
# by its interface, then its map by name, so no other instance's map is read).
syn_limit_of() {
  local prog map
  prog=$(in_ns lb bpftool -j net show dev "$1" 2>/dev/null | jq -r '[.[0].xdp[]?.id] | first // empty')
  [ -n "$prog" ] || return 0
  for map in $(bpftool -j prog show id "$prog" 2>/dev/null | jq -r '.map_ids[]?'); do
    if [ "$(bpftool -j map show id "$map" 2>/dev/null | jq -r .name)" = syn_limit ]; then
      bpftool -j map lookup id "$map" key 0 0 0 0 2>/dev/null |
        jq -r '.formatted.value // .value | "\(.interval_ns) \(.burst_ns)"'
      return 0
    fi
  done
}

check_reload() {
  local tp t_reload broker n_after rc
  bg cli longlived "$PY" "$TOOLS" trickle --host "$TOPO_VIP" --port "$MQTT_PORT" --client-id longlived \
    --topic pears/old --qos 1 --interval 0.2 --sent "$TMP/longlived.sent" --ready "$TMP/longlived.ready" \
    --timeout 150
  tp=$BG_PID
  if ! wait_until 15 test -f "$TMP/longlived.ready"; then
    show_log "$TMP/longlived.err"
    not_ok "4. a long-lived client publishing on pears/old is connected (15 s)"
    return 0
  fi
  sleep 1.5 # a few messages before the reload
  write_config "$CFG" other "$MQTT_PORT" "connections: {syn_rate: 2000, syn_burst: 11}"
  RELOAD_MARK=$(lines "$LB_LOG")
  kill -HUP "$LB_PID"
  t_reload=$EPOCHREALTIME
  if wait_until 10 log_has "$LB_LOG" "reloaded $CFG" "$RELOAD_MARK"; then
    ok "4. SIGHUP (pears/# now to pool other): log: '$(tail -n +"$((RELOAD_MARK + 1))" "$LB_LOG" | grep -F reloaded | head -n 1)'"
  else
    show_log "$LB_LOG"
    not_ok "4. SIGHUP: the log says 'reloaded $CFG' within 10 s"
  fi
  check "4. stats --json reloads is 1 ($(reloads))" [ "$(reloads)" = 1 ]
  # the new SYN rate reached the XDP program on lb-c: 2,000/s is one SYN
  # every 500,000 ns, a burst of 11 is 10 intervals more
  check "4. the reload set the redirector's SYN limit on lb-c ($(syn_limit_of lb-c))" \
    [ "$(syn_limit_of lb-c)" = "500000 5000000" ]
  pub newpears pears/new 1 5 || true
  check_landed newpears "$TMP/newpears.sent" 5 "other=$OTHER:$MQTT_PORT" &&
    ok "4. a new client on pears/new lands on $OTHER (pool other)"
  sleep 2 # the long-lived client goes on after the reload
  rc=0
  stop_pid "$tp" 10 || rc=$?
  forget_pid "$tp"
  if [ "$rc" -eq 0 ]; then
    ok "4. the long-lived client kept its one connection through the reload ($(lines "$TMP/longlived.sent") messages acknowledged)"
  else
    show_log "$TMP/longlived.err"
    not_ok "4. the long-lived client kept its connection through the reload (status $rc)"
  fi
  n_after=$(awk -F'\t' -v t="$t_reload" '$3 > t { n++ } END { print n + 0 }' "$TMP/longlived.sent")
  check_landed longlived "$TMP/longlived.sent" "$(lines "$TMP/longlived.sent")" \
    "pears=10.20.0.13:$MQTT_PORT,10.20.0.14:$MQTT_PORT" --same-broker || true
  broker=$(landed longlived/)
  check "4. its $n_after messages after the reload still reached its pears broker ($broker)" \
    all_true [ "$n_after" -ge 5 ] -- [ "$(recorded_count longlived/ "$OTHER")" -eq 0 ]
  info "4. misroutes counted: $(stats 2>/dev/null | jq -r '.counters.misroutes') (a connection keeps the plan it was bound under)"
}

# --- 5. bad reloads ------------------------------------------------------------------

check_bad_reload() {
  local mark line got
  write_config "$CFG" other "$MQTT_PORT" "bogus_key: 1"
  line=$(grep -n '^bogus_key' "$CFG" | cut -d: -f1)
  mark=$(lines "$LB_LOG")
  kill -HUP "$LB_PID"
  if wait_until 10 log_has "$LB_LOG" "reload refused" "$mark"; then
    got=$(tail -n +"$((mark + 1))" "$LB_LOG" | grep -F 'reload refused' | head -n 1)
    check "5. an unknown key: log: '$got' (wants 'reload refused: $CFG:$line: ')" \
      grep -qF "reload refused: $CFG:$line: " <<<"$got"
  else
    not_ok "5. an unknown key: the log says 'reload refused' within 10 s"
    show_log "$LB_LOG"
  fi
  check "5. reloads still 1 ($(reloads))" [ "$(reloads)" = 1 ]
  pub badpears pears/bad 1 3 || true
  check_landed badpears "$TMP/badpears.sent" 3 "other=$OTHER:$MQTT_PORT" &&
    ok "5. routing unchanged: a new pears client still lands on $OTHER"

  write_config "$CFG" other 1884
  mark=$(lines "$LB_LOG")
  kill -HUP "$LB_PID"
  if wait_until 10 log_has "$LB_LOG" "reload refused" "$mark"; then
    got=$(tail -n +"$((mark + 1))" "$LB_LOG" | grep -F 'reload refused' | head -n 1)
    check "5. a changed listener: log: '$got' (names listeners)" grep -qF "listeners" <<<"$got"
  else
    not_ok "5. a changed listener: the log says 'reload refused' within 10 s"
    show_log "$LB_LOG"
  fi
  check "5. reloads still 1 ($(reloads))" [ "$(reloads)" = 1 ]
  pub badpears2 pears/bad 1 3 || true
  check_landed badpears2 "$TMP/badpears2.sent" 3 "other=$OTHER:$MQTT_PORT" &&
    ok "5. the VIP still serves port $MQTT_PORT and a new pears client still lands on $OTHER"
  write_config "$CFG" other # what runs, again
}

# stop_first: the first mqttlb, with no client connection open, exits 0 on
# SIGTERM at once; its exit counters are one JSON object.
stop_first() {
  local rc=0 t0
  t0=$(now)
  stop_pid "$LB_PID" 20 || rc=$?
  forget_pid "$LB_PID"
  check "mqttlb (text logs) exits 0 on SIGTERM with no connection open (status $rc, $(elapsed "$t0") s)" [ "$rc" -eq 0 ]
  [ "$rc" -eq 0 ] || show_log "$LB_LOG"
  check "mqttlb run --json printed one JSON object at exit" \
    jq -s -e 'length == 1 and (.[0] | type == "object" and has("drain_refused"))' "$TMP/lb1.out" >/dev/null
}

# --- 6. drain (and 7. JSON logs) ---------------------------------------------------

# refused_fast: one TCP connection to the VIP from the client namespace;
# prints what happened and how long it took; 0 when refused (RST) in < 2 s.
refused_fast() {
  in_ns cli "$PY" - "$TOPO_VIP" "$MQTT_PORT" <<'EOF'
import socket, sys, time
t = time.monotonic()
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.close()
    what, rc = "connected", 1
except ConnectionRefusedError:
    what, rc = "refused", 0
except ConnectionResetError:
    what, rc = "reset", 0
except socket.timeout:
    what, rc = "timed out", 1
except OSError as e:
    what, rc = f"failed: {e}", 1
dt = time.monotonic() - t
print(f"{what} after {dt:.3f} s")
sys.exit(rc if dt < 2 else 1)
EOF
}

# json_event EVENT MSG_REGEX: the JSON log has a line of EVENT whose msg
# matches MSG_REGEX (not jq -e: jq 1.6 exits 4 after a `fromjson?` that failed
# on a line that is not JSON, whatever came before).
json_event() {
  jq -R -c --arg e "$1" --arg m "$2" \
    'fromjson? | select(type == "object" and .event == $e and (.msg | test($m)))' "$LB_LOG" 2>/dev/null |
    grep -q .
}

check_drain() {
  local sp t_term t_close rc got total
  # a bad reload in this run too: its message has quotes to escape
  write_config "$CFG" other "$MQTT_PORT" "bogus_key: 1"
  kill -HUP "$LB_PID"
  wait_until 10 json_event reload "^reload refused: " || not_ok "7. the JSON log has a 'reload' event for a refused reload"
  write_config "$CFG" other
  bg cli idlesub "$PY" "$TOOLS" sub --host "$TOPO_VIP" --port "$MQTT_PORT" --client-id idlesub \
    --qos 1 --topic 'apples/idle/#' --out "$TMP/idlesub.tsv" --ready "$TMP/idlesub.ready" --timeout 120
  sp=$BG_PID
  if ! wait_until 15 test -f "$TMP/idlesub.ready"; then
    show_log "$TMP/idlesub.err"
    not_ok "6. an idle subscriber is connected through the VIP (15 s)"
  fi
  kill -TERM "$LB_PID"
  t_term=$(now)
  if wait_until 5 json_event drain "^draining"; then
    ok "6. SIGTERM with a connection open: the log says 'draining' ($(elapsed "$t_term") s)"
  else
    not_ok "6. SIGTERM with a connection open: the log says 'draining' within 5 s"
    show_log "$LB_LOG"
  fi
  got=$(refused_fast) && rc=0 || rc=$?
  check "6. while draining, a new connection to the VIP is refused at once ($got)" [ "$rc" -eq 0 ]
  check "6. mqttlb is still draining while the subscriber is connected" kill -0 "$LB_PID"
  rc=0
  stop_pid "$sp" 10 || rc=$?
  forget_pid "$sp"
  t_close=$(now)
  check "6. the idle subscriber disconnects cleanly (status $rc)" [ "$rc" -eq 0 ]
  rc=0
  wait_pid "$LB_PID" 20 || rc=$?
  forget_pid "$LB_PID"
  total=$(elapsed "$t_term")
  check "6. mqttlb exits 0 $(elapsed "$t_close") s after the client left, $total s after SIGTERM (drain timeout 10 s; status $rc)" \
    all_true [ "$rc" -eq 0 ] -- fle "$total" 7 -- fle "$(elapsed "$t_close")" 4
  [ "$rc" -eq 0 ] || show_log "$LB_LOG"
  if json_event drain "^drained in .*: 0 connection"; then
    ok "6. log: drained with no connection left to reset"
  else
    not_ok "6. log: 'drained in ... s: 0 connection(s) left to reset'"
  fi
  got=$(jq -s -r 'if length == 1 then .[0].drain_refused // "missing" else "\(length) JSON values" end' \
    "$TMP/lb2.out" 2>&1 | head -n 1)
  check "6. exit counters (run --json: one JSON object on stdout): drain_refused ${got:-missing} >= 1" \
    all_true is_uint "$got" -- [ "${got:-0}" -ge 1 ]
}

# has_words TEXT WORD...: TEXT has every WORD.
has_words() {
  local text=$1 w
  shift
  for w in "$@"; do grep -qw -- "$w" <<<"$text" || return 1; done
}

check_json_log() {
  local n bad events
  n=$(grep -c . "$LB_LOG" || true)
  bad=$(grep . "$LB_LOG" | while IFS= read -r l; do
    jq -e 'type == "object" and (.ts | type == "string") and (.level | type == "string")
      and (.event | type == "string") and (.msg | type == "string")' <<<"$l" >/dev/null 2>&1 ||
      printf '%s\n' "$l"
  done)
  if [ -z "$bad" ]; then
    ok "7. --log-format json: all $n stderr lines are JSON objects with ts, level, event, msg"
  else
    not_ok "7. --log-format json: every stderr line is a JSON object with ts, level, event, msg ($(grep -c . <<<"$bad") of $n are not:)"
    head -n 10 <<<"$bad" | sed 's/^/#   /'
  fi
  events=$(jq -R -r 'fromjson? | .event' "$LB_LOG" | sort -u | tr '\n' ' ')
  check "7. the JSON log has the events start, reload, drain, stop ($events)" \
    has_words "$events" start reload drain stop
}

main() {
  topo_up 1
  start_brokers
  start_recorder 100000
  write_config "$CFG" pears
  start_mqttlb lb1 --json
  check_stats_up
  check_counters
  check_health
  check_reload
  check_bad_reload
  stop_first
  write_config "$CFG" pears
  start_mqttlb lb2 --json --log-format json
  check_drain
  check_json_log
  stop_recorder
  check "the test took under 4 minutes ($SECONDS s)" [ "$SECONDS" -lt 240 ]
  finish
}

main
