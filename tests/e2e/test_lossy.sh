#!/usr/bin/env bash
# ctest e2e.lossy: MQTT through mqttlb over an impaired wire: loss, duplicates,
# delay, jitter and reordering on both legs; nothing lost, nobody stuck.
#
#   test_lossy.sh MQTTLB IMPAIR DELAYLINE
#   E2E_DIRECT=1 test_lossy.sh MQTTLB IMPAIR DELAYLINE    (no mqttlb: the
#                                   harness checked against the brokers alone)
#
# IMPAIR is mqttlb-impair, DELAYLINE mqttlb-delayline (tests/impair). The
# standard plan and brokers (lib.sh) on the topology with a wire namespace
# (topo.sh --wire) between the clients and the balancer:
#
#   cli0 ── wire-c [delay line] wire-l ── lb-c [mqttlb] lb-b ── brk0
#
#   - the delay line holds every frame LOSSY_DELAY ± LOSSY_JITTER ms each way
#     (default 40 ± 20: RTT 40-120 ms, a cellular client's), so frames are
#     reordered for real;
#   - mqttlb-impair (tc BPF) on cli0 and brk0, egress and ingress, drops
#     LOSSY_LOSS (default 3%) and duplicates LOSSY_DUP (default 2%) of every
#     TCP segment (SYN, ACK, FIN too), in all four directions of both legs.
#     cli0 and brk0 rather than lb-c and lb-b: mqttlb's AF_XDP transmissions
#     (copy mode) bypass tc egress, and its XDP program sees frames before tc
#     ingress.
#
# Traffic, all at once, real clients in the client namespace:
#   QoS 0 bursts  10 clients x 20 messages (5 Paho, 5 mosquitto_pub -l)
#   QoS 1         10 Paho clients x 50 messages
#   QoS 2         10 Paho clients x 50 messages
#   stream        a Paho subscriber on other/stream/# through the VIP (bound
#                 by its SUBSCRIBE to the one-broker pool other) and a QoS 1
#                 publisher of 200 messages on other/stream/s through the VIP
# Then a second, harsher phase (LOSSY_PHASE2=0 leaves it out), with fewer
# clients: loss LOSSY2_LOSS (default 6%), duplicates LOSSY2_DUP (default 3%),
# the delay line started again with LOSSY2_JITTER (default 40: 40 +- 40 ms
# each way, RTT 0-160 ms):
#   QoS 0 bursts  4 clients x 100 messages (2 Paho, 2 mosquitto_pub -l)
#   QoS 1         4 Paho clients x 100 messages, 20 in flight
#   QoS 2         2 Paho clients x 30 messages
# bounded by LOSSY2_BOUND seconds (default 60).
# Checked: every client exits 0 within LOSSY_BOUND seconds (default 90; a
# client still running then is stuck: killed and reported); every message,
# QoS 0 included (TCP carries it), reached a broker of its topic's pool
# exactly once (the recorder, which sits in the broker namespace on
# loopback, unimpaired); the subscriber got every stream message its broker
# got, each once; the impairment really happened (drops and duplicates in
# every hooked direction, reordering in the delay line); and, per phase,
# that the clients' kernels recovered from loss the fast way at least
# LOSSY_MIN_FAST times (TcpExtTCPFastRetrans + TcpExtTCPSackRecovery in the
# client namespace; default 1): a sender learns of a hole only from the
# receiver's duplicate ACKs and SACK blocks, which the broker sends and the
# splice must forward. A splice that swallows them (the code before 5f96f76)
# leaves the clients nothing but RTOs (TcpExtTCPTimeouts) and both counters
# at zero, while at 3% loss every message still arrives. Printed: TCP
# retransmission counters (nstat) of the client and broker namespaces,
# mqttlb's counters, the impairment and delay-line counters.
# LOSSY_WIRE=0 leaves the delay line out (no wire namespace).
# Needs root (fails without); traffic stays inside the test's namespaces.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init lossy "los$$" "${1:-}"
IMPAIR=$(readlink -f "${2:-}") || true
DELAYLINE=$(readlink -f "${3:-}") || true
{ [ -n "${2:-}" ] && [ -x "$IMPAIR" ]; } || die "usage: $0 MQTTLB IMPAIR DELAYLINE (mqttlb-impair '${2:-}' not found)"
{ [ -n "${3:-}" ] && [ -x "$DELAYLINE" ]; } || die "usage: $0 MQTTLB IMPAIR DELAYLINE (mqttlb-delayline '${3:-}' not found)"
for tool in nstat mosquitto_pub; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"
done

LOSS=${LOSSY_LOSS:-3%}
DUP=${LOSSY_DUP:-2%}
DELAY=${LOSSY_DELAY:-40}
JITTER=${LOSSY_JITTER:-20}
WIRE=${LOSSY_WIRE:-1}
BOUND=${LOSSY_BOUND:-90} # seconds every client may take, from the start of the traffic
PHASE2=${LOSSY_PHASE2:-1}
LOSS2=${LOSSY2_LOSS:-6%}
DUP2=${LOSSY2_DUP:-3%}
JITTER2=${LOSSY2_JITTER:-40}
BOUND2=${LOSSY2_BOUND:-60}
MIN_FAST=${LOSSY_MIN_FAST:-1} # fast retransmits + SACK recoveries the clients must show per phase

N_Q0=10 M_Q0=20
N_Q1=10 M_Q1=50
N_Q2=10 M_Q2=50
M_STREAM=200
N2_Q0=4 M2_Q0=100
N2_Q1=4 M2_Q1=100
N2_Q2=2 M2_Q2=30

EXPECT=()      # NAME=SENT_FILE:COUNT, for the checker
TOTAL=0        # messages expected at the brokers
CLIENT_PIDS=()
CLIENT_NAMES=()
HOOKS=("cli:cli0:egress" "cli:cli0:ingress" "brk:brk0:egress" "brk:brk0:ingress")

# lib.sh's cleanup (every process by PID, the namespaces, the temporary
# directory), the delay line first: its last counters reach its stats file.
lossy_cleanup() {
  local rc=$?
  set +e # a failing command here must not end the cleanup (set -e would)
  [ -z "${DELAY_PID:-}" ] || kill -TERM "$DELAY_PID" 2>/dev/null
  (exit "$rc") # e2e_cleanup takes the status from $?
  e2e_cleanup
}
trap lossy_cleanup EXIT

expect() {
  EXPECT+=(--expect "$1=$TMP/$1.sent:$2")
  TOTAL=$((TOTAL + $2))
}

# client NAME CMD...: a client in the client namespace, bounded by timeout.
client() {
  local name=$1
  shift
  bg cli "$name" timeout $((BOUND + 20)) "$@"
  CLIENT_PIDS+=("$BG_PID")
  CLIENT_NAMES+=("$name")
}

# all_true N...: every N is a positive integer ("?" and "" are not).
all_true() {
  local n
  for n in "$@"; do [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || return 1; done
}
# all_zero N...: every N is 0.
all_zero() {
  local n
  for n in "$@"; do [ "$n" = 0 ] || return 1; done
}

pool_of_index() { echo "${POOL_NAMES[$(($1 % ${#POOL_NAMES[@]}))]}"; }

# --- topology, wire, impairment ---------------------------------------------------

lossy_topo_up() {
  local env wire=()
  [ "$WIRE" -eq 1 ] && wire=(--wire)
  env=$("$TOPO" up "$P" --queues 2 --brokers "$NBROKERS" --clients 1 "${wire[@]}" --env) ||
    die "topo.sh up $P ${wire[*]} failed"
  eval "$env"
  if [ "$DIRECT" -eq 1 ]; then
    in_ns lb sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    ip -n "$TOPO_NS_CLI" route add 10.20.0.0/24 via "$TOPO_VIP"
    ip -n "$TOPO_NS_BRK" route add 10.10.0.0/24 via "$TOPO_SRC"
  fi
  # one segment per frame where the impairment hooks (--wire sets cli0's)
  ip -n "$TOPO_NS_CLI" link set dev cli0 gso_max_segs 1
  ip -n "$TOPO_NS_BRK" link set dev brk0 gso_max_segs 1
  ok "topology $P up$([ "$WIRE" -eq 1 ] && echo ", with the wire namespace $TOPO_NS_WIRE")"
}

# start_delayline NAME JITTER: the delay line (counters in $TMP/NAME.stats).
start_delayline() {
  [ "$WIRE" -eq 1 ] || { info "LOSSY_WIRE=0: no delay line"; return 0; }
  DL_NAME=$1
  bg wire "$1" "$DELAYLINE" --a wire-c --b wire-l --delay "$DELAY" --jitter "$2" \
    --stats "$TMP/$1.stats" --ready "$TMP/$1.ready"
  DELAY_PID=$BG_PID
  if wait_until 5 test -f "$TMP/$1.ready"; then
    ok "delay line $DELAY ± $2 ms each way between wire-c and wire-l (pid $DELAY_PID)"
  else
    show_log "$TMP/$1.err"
    die "the delay line did not start"
  fi
}

# stop_delayline: SIGTERM (its last counters reach its stats file), checked.
stop_delayline() {
  [ "$WIRE" -eq 1 ] || return 0
  stop_pid "$DELAY_PID" 10 || not_ok "the delay line ($DL_NAME) exits 0 on SIGTERM"
  forget_pid "$DELAY_PID"
  DELAY_PID=""
  delayline_stats
}

# impair_all LOSS DUP: attaches (first call) or sets every hook.
impair_all() {
  local h ns dev dir flag verb=attach out
  [ -n "${IMPAIRED:-}" ] && verb="set"
  for h in "${HOOKS[@]}"; do
    IFS=: read -r ns dev dir <<<"$h"
    flag=()
    [ "$dir" = ingress ] && flag=(--ingress)
    if ! out=$("$IMPAIR" "$verb" "$dev" --netns "$P-$ns" "${flag[@]}" --loss "$1" --dup "$2" \
      --match tcp 2>&1); then
      printf '#   %s\n' "${out//$'\n'/$'\n'#   }"
      die "mqttlb-impair $verb $dev ($P-$ns) $dir failed"
    fi
  done
  IMPAIRED=1
  ok "impairment $verb: loss $1, duplicates $2 of every TCP segment on cli0 and brk0, both directions"
}

# impair_stats: prints the counters; checks that each direction was hit.
impair_stats() {
  local h ns dev dir line dropped dup seen flag
  for h in "${HOOKS[@]}"; do
    IFS=: read -r ns dev dir <<<"$h"
    flag=(--egress)
    [ "$dir" = ingress ] && flag=(--ingress)
    line=$("$IMPAIR" stats "$dev" --netns "$P-$ns" "${flag[@]}" 2>&1) || true
    info "impair: $line"
    seen=$(sed -n 's/.*seen=\([0-9]*\).*/\1/p' <<<"$line")
    dropped=$(sed -n 's/.*dropped=\([0-9]*\).*/\1/p' <<<"$line")
    dup=$(sed -n 's/.* duplicated=\([0-9]*\).*/\1/p' <<<"$line")
    check "the impairment hit $dev $dir (seen ${seen:-?}, dropped ${dropped:-?}, duplicated ${dup:-?})" \
      all_true "${dropped:-}" "${dup:-}"
  done
}

delayline_ok() { all_true "$1" && all_zero "$2" "$3"; }
delayline_stats() {
  [ "$WIRE" -eq 1 ] || return 0
  local line reordered full oversize
  line=$(cat "$TMP/$DL_NAME.stats" 2>/dev/null || true)
  info "delay line ($DL_NAME): $line"
  reordered=$(sed -n 's/.*reordered=\([0-9]*\).*/\1/p' <<<"$line")
  full=$(sed -n 's/.*dropped_full=\([0-9]*\).*/\1/p' <<<"$line")
  oversize=$(sed -n 's/.*oversize=\([0-9]*\).*/\1/p' <<<"$line")
  check "the delay line reordered frames (${reordered:-?}), none dropped for a full queue (${full:-?}) or oversize (${oversize:-?})" \
    delayline_ok "${reordered:-}" "${full:-}" "${oversize:-}"
}

# retrans NS: TCP retransmission counters of the namespace (nstat, absolute:
# the namespace is fresh), on one line.
retrans() {
  ip netns exec "$P-$1" env NSTAT_HISTORY="$TMP/nstat-$1.hist" nstat -az 2>/dev/null | awk '
    BEGIN { split("TcpRetransSegs TcpOutSegs TcpExtTCPTimeouts TcpExtTCPLossProbes TcpExtTCPFastRetrans TcpExtTCPSlowStartRetrans TcpExtTCPLostRetransmit TcpExtTCPSACKReorder TcpExtTCPDSACKRecv TcpExtTCPDSACKOfoRecv TcpExtTCPSpuriousRTOs TcpExtTCPAbortOnTimeout TcpOutRsts TcpEstabResets", k, " ")
            for (i in k) want[k[i]] = 1 }
    $1 in want { v[$1] = $2 }
    END { for (i = 1; i <= length(k); i++) printf "%s=%s ", k[i], (k[i] in v ? v[k[i]] : "?"); print "" }'
}

# counter NS NAME...: the sum of the namespace's nstat counters NAME...
counter() {
  local ns=$1
  shift
  ip netns exec "$P-$ns" env NSTAT_HISTORY="$TMP/nstat-$ns.hist" nstat -az 2>/dev/null |
    awk -v want=" $* " 'index(want, " " $1 " ") { s += $2 } END { print s + 0 }'
}

# dropped NS DEV DIR: what the hook has dropped so far.
dropped() {
  local n
  n=$("$IMPAIR" stats "$2" --netns "$P-$1" "--$3" 2>/dev/null | sed -n 's/.*dropped=\([0-9]*\).*/\1/p')
  echo "${n:-0}"
}

# recovery_mark: the counters at a phase's start (recovery_check's base).
recovery_mark() {
  R0_FAST=$(counter cli TcpExtTCPFastRetrans TcpExtTCPSackRecovery)
  R0_RTO=$(counter cli TcpExtTCPTimeouts)
  R0_RETRANS=$(counter cli TcpRetransSegs)
  R0_DROP=$(($(dropped cli cli0 egress) + $(dropped brk brk0 ingress)))
}

fast_enough() { [ "$1" -gt 0 ] && [ "$2" -ge "$MIN_FAST" ]; } # DROPPED FAST

# recovery_check PHASE: the clients' kernels recovered the fast way (a
# duplicate ACK or a SACK block told them of a hole) at least MIN_FAST
# times in the phase, whose impairment dropped some of their segments
# (cli0 egress, brk0 ingress). A sender learns of a hole only from the
# receiver's duplicate ACKs and SACK blocks: a splice that swallows them
# leaves the clients nothing but their RTOs.
recovery_check() {
  local fast rto re drop
  fast=$(($(counter cli TcpExtTCPFastRetrans TcpExtTCPSackRecovery) - R0_FAST))
  rto=$(($(counter cli TcpExtTCPTimeouts) - R0_RTO))
  re=$(($(counter cli TcpRetransSegs) - R0_RETRANS))
  drop=$(($(dropped cli cli0 egress) + $(dropped brk brk0 ingress) - R0_DROP))
  info "$1: client->broker segments dropped (cli0 egress + brk0 ingress) $drop; the clients' kernels: retransmitted $re, fast retransmits + SACK recoveries $fast, RTOs $rto"
  check "$1: the clients recovered from loss the fast way $fast times (TCPFastRetrans + TCPSackRecovery >= $MIN_FAST; RTOs $rto; $drop of their segments dropped): duplicate ACKs and SACK blocks reach them" \
    fast_enough "$drop" "$fast"
}

# --- clients ------------------------------------------------------------------------

paho_pub() { # NAME POOL QOS COUNT [ARGS...]
  local name=$1 pool=$2 qos=$3 count=$4
  shift 4
  expect "$name" "$count"
  client "$name" "$PY" "$TOOLS" pub --host "$(target "$pool")" --port "$MQTT_PORT" \
    --client-id "$name" --qos "$qos" --topic "$pool/lossy/q$qos/$name" --count "$count" \
    --sent "$TMP/$name.sent" --timeout "$BOUND" "$@"
}

mosq_burst() { # NAME POOL COUNT: mosquitto_pub -l, QoS 0, one message per line
  local name=$1 pool=$2 count=$3 topic="$2/lossy/q0/$1" i
  for ((i = 1; i <= count; i++)); do printf '%s\t%s/%d\n' "$topic" "$name" "$i"; done >"$TMP/$name.sent"
  cut -f2 "$TMP/$name.sent" >"$TMP/$name.lines"
  expect "$name" "$count"
  # shellcheck disable=SC2016 # expanded by the inner sh
  client "$name" sh -c 'f=$1; shift; exec mosquitto_pub "$@" -l <"$f"' _ "$TMP/$name.lines" \
    -h "$(target "$pool")" -p "$MQTT_PORT" -V mqttv311 -i "$name" -q 0 -t "$topic"
}

start_subscriber() {
  bg cli vipsub "$PY" "$TOOLS" sub --host "$(target other)" --port "$MQTT_PORT" \
    --client-id lossy-sub --qos 1 --topic 'other/stream/#' --marker other/marker/lossy-sub \
    --out "$TMP/vipsub.tsv" --ready "$TMP/vipsub.ready" --timeout $((BOUND + 60))
  VIPSUB_PID=$BG_PID
  if wait_until 30 test -f "$TMP/vipsub.ready"; then
    ok "a subscriber on other/stream/# through $(target other) got its SUBACK and its marker's PUBACK"
  else
    show_log "$TMP/vipsub.err"
    not_ok "a subscriber on other/stream/# through $(target other) got its SUBACK and its marker's PUBACK (30 s)"
  fi
  TOTAL=$((TOTAL + 1)) # the marker
}

start_traffic() {
  local i
  T0=$EPOCHREALTIME
  expect stream "$M_STREAM"
  client stream "$PY" "$TOOLS" pub --host "$(target other)" --port "$MQTT_PORT" \
    --client-id lossy-stream --qos 1 --topic other/stream/s --count "$M_STREAM" --inflight 10 \
    --sent "$TMP/stream.sent" --timeout "$BOUND"
  for ((i = 1; i <= N_Q0; i++)); do
    if ((i % 2)); then
      paho_pub "q0-$i" "$(pool_of_index "$i")" 0 "$M_Q0"
    else
      mosq_burst "q0-$i" "$(pool_of_index "$i")" "$M_Q0"
    fi
  done
  for ((i = 1; i <= N_Q1; i++)); do paho_pub "q1-$i" "$(pool_of_index "$i")" 1 "$M_Q1"; done
  for ((i = 1; i <= N_Q2; i++)); do paho_pub "q2-$i" "$(pool_of_index "$i")" 2 "$M_Q2"; done
  info "${#CLIENT_PIDS[@]} publishers started: $N_Q0 x $M_Q0 QoS 0, $N_Q1 x $M_Q1 QoS 1, $N_Q2 x $M_Q2 QoS 2, a $M_STREAM-message QoS 1 stream; $TOTAL messages"
}

# start_traffic2: the harsher phase's clients (fewer, longer bursts).
start_traffic2() {
  local i
  T0=$EPOCHREALTIME
  CLIENT_PIDS=()
  CLIENT_NAMES=()
  for ((i = 1; i <= N2_Q0; i++)); do
    if ((i % 2)); then
      paho_pub "p2-q0-$i" "$(pool_of_index "$i")" 0 "$M2_Q0"
    else
      mosq_burst "p2-q0-$i" "$(pool_of_index "$i")" "$M2_Q0"
    fi
  done
  for ((i = 1; i <= N2_Q1; i++)); do paho_pub "p2-q1-$i" "$(pool_of_index "$i")" 1 "$M2_Q1" --inflight 20; done
  for ((i = 1; i <= N2_Q2; i++)); do paho_pub "p2-q2-$i" "$(pool_of_index "$i")" 2 "$M2_Q2"; done
  info "phase 2: ${#CLIENT_PIDS[@]} publishers started: $N2_Q0 x $M2_Q0 QoS 0, $N2_Q1 x $M2_Q1 QoS 1, $N2_Q2 x $M2_Q2 QoS 2; $TOTAL messages in all"
}

# wait_delivered PHASE: the phase's messages at the brokers (the recorder):
# TOTAL - PHASE_T0 more lines than when it started (PHASE_R0), so that a
# phase 1 shortfall does not cost phase 2 its wait too (the checker at the
# end tells which messages).
wait_delivered() {
  local want=$((PHASE_R0 + TOTAL - PHASE_T0))
  if wait_until 30 has_lines "$TMP/recorded.tsv" "$want"; then
    ok "$1: the brokers got its $((TOTAL - PHASE_T0)) messages ($(lines "$TMP/recorded.tsv") recorded in all)"
  else
    not_ok "$1: the brokers got its $((TOTAL - PHASE_T0)) messages within 30 s (only $(($(lines "$TMP/recorded.tsv") - PHASE_R0)))"
  fi
}
phase_mark() { PHASE_T0=$TOTAL PHASE_R0=$(lines "$TMP/recorded.tsv"); }

# wait_clients: every client must exit 0 within BOUND s of the traffic's
# start; one still running then is stuck (SIGTERM, SIGKILL, reported).
wait_clients() {
  local deadline=$((SECONDS + BOUND)) i pending=1 rc slow=0 slowest="" t
  declare -A done_rc=() done_t=()
  while [ "$pending" -eq 1 ] && [ "$SECONDS" -lt "$deadline" ]; do
    pending=0
    for i in "${!CLIENT_PIDS[@]}"; do
      [ -z "${done_rc[$i]:-}" ] || continue
      if kill -0 "${CLIENT_PIDS[i]}" 2>/dev/null; then
        pending=1
      else
        rc=0
        wait "${CLIENT_PIDS[i]}" || rc=$?
        done_rc[$i]=$rc
        done_t[$i]=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
      fi
    done
    [ "$pending" -eq 0 ] || sleep 0.2
  done
  local stuck=0 bad=0
  for i in "${!CLIENT_PIDS[@]}"; do # SIGTERM to every stuck client at once
    [ -n "${done_rc[$i]:-}" ] || kill -TERM "${CLIENT_PIDS[i]}" 2>/dev/null || true
  done
  for i in "${!CLIENT_PIDS[@]}"; do
    if [ -z "${done_rc[$i]:-}" ]; then
      stuck=$((stuck + 1))
      wait_pid "${CLIENT_PIDS[i]}" 5 || true
      not_ok "client ${CLIENT_NAMES[i]} is stuck: still running after $BOUND s"
      show_log "$TMP/${CLIENT_NAMES[i]}.err" "$TMP/${CLIENT_NAMES[i]}.out"
      continue
    fi
    t=${done_t[$i]}
    if awk -v a="$t" -v b="$slow" 'BEGIN { exit !(a > b) }'; then slow=$t slowest=${CLIENT_NAMES[i]}; fi
    if [ "${done_rc[$i]}" -ne 0 ]; then
      bad=$((bad + 1))
      not_ok "client ${CLIENT_NAMES[i]} exited with status ${done_rc[$i]} after $t s"
      show_log "$TMP/${CLIENT_NAMES[i]}.err" "$TMP/${CLIENT_NAMES[i]}.out"
    fi
  done
  info "clients: ${#CLIENT_PIDS[@]}, stuck $stuck, failed $bad; slowest $slowest after $slow s"
  check "every client (${#CLIENT_PIDS[@]}) exited 0 within $BOUND s (slowest: $slowest, $slow s)" \
    all_zero "$stuck" "$bad"
}

check_sub() {
  "$PY" "$TOOLS" check-sub --recorded "$TMP/recorded.tsv" --received "$TMP/vipsub.tsv" \
    --filter 'other/stream/#' --marker other/marker/lossy-sub
}

# stream_received: the subscriber got every stream message at least.
stream_received() { [ "$(grep -c '^other/stream/' "$TMP/vipsub.tsv" 2>/dev/null || echo 0)" -ge "$M_STREAM" ]; }

main() {
  lossy_topo_up
  start_delayline delayline "$JITTER"
  start_brokers
  start_recorder 20000
  impair_all 0 0
  start_lb
  start_subscriber
  impair_all "$LOSS" "$DUP"
  info "retransmissions before the traffic: cli: $(retrans cli)"
  recovery_mark
  phase_mark
  start_traffic
  wait_clients
  wait_delivered "phase 1"
  if wait_until 30 stream_received; then
    ok "the subscriber got the $M_STREAM stream messages"
  else
    not_ok "the subscriber got the $M_STREAM stream messages within 30 s (got $(grep -c '^other/stream/' "$TMP/vipsub.tsv" 2>/dev/null || echo 0))"
  fi
  info "phase 1 took $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
  recovery_check "phase 1 ($LOSS loss, $DUP duplicates, jitter $JITTER)"
  if [ "$PHASE2" -eq 1 ]; then
    impair_all 0 0
    stop_delayline
    start_delayline delayline2 "$JITTER2"
    BOUND=$BOUND2
    impair_all "$LOSS2" "$DUP2"
    recovery_mark
    phase_mark
    start_traffic2
    wait_clients
    wait_delivered "phase 2"
    info "phase 2 took $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
    recovery_check "phase 2 ($LOSS2 loss, $DUP2 duplicates, jitter $JITTER2)"
  fi
  sleep 2 # duplicates, if any, arrive too
  info "TCP counters, client namespace: $(retrans cli)"
  info "TCP counters, broker namespace: $(retrans brk)"
  if [ "$DIRECT" -eq 0 ]; then
    info "TCP counters, balancer namespace (health checks only): $(retrans lb)"
    info "mqttlb stats:"
    "$MQTTLB" stats -s "$TMP/mqttlb.sock" 2>&1 | sed 's/^/#   /' || true
  fi
  impair_stats
  delayline_stats
  impair_all 0 0 # the subscriber's DISCONNECT and mqttlb's drain on a clean wire
  stop_pid "$VIPSUB_PID" 20 || { show_log "$TMP/vipsub.err"; not_ok "the VIP subscriber exits 0 on SIGTERM"; }
  stop_recorder
  stop_lb
  local h ns dev dir d_ok=1
  for h in "${HOOKS[@]}"; do
    IFS=: read -r ns dev dir <<<"$h"
    "$IMPAIR" detach "$dev" --netns "$P-$ns" "--$dir" >/dev/null || d_ok=0
  done
  check "mqttlb-impair detach on every hook" [ "$d_ok" -eq 1 ]

  local rc=0
  mapfile -t plan < <(pool_args)
  "$PY" "$TOOLS" check "${plan[@]}" --recorded "$TMP/recorded.tsv" "${EXPECT[@]}" \
    --ignore other/marker/ || rc=$?
  [ "$rc" -eq 0 ] || failed=1
  check_sub || failed=1
  finish
}

main
