# shellcheck shell=bash
# Scenario `lossy` (sourced by bench/run.sh): each contender over a lossy
# network (issue 14 item 6): loss and duplicates on both legs, optionally a
# delay line that reorders. The target: mqttlb within 1.2x of direct on every
# figure, and no worse than HAProxy.
#
# Impairment (tests/impair's mqttlb-impair, a tc BPF program): on cli0 (the
# clients' end of the client link) and brk0 (the brokers' end of the broker
# link), egress and ingress, LOSS of every TCP segment dropped (SYN, ACK and
# FIN too) and 1% duplicated, LOSS = 1% then 3%. cli0 and brk0 rather than
# lb-c and lb-b: mqttlb's AF_XDP transmissions bypass tc egress there and
# its XDP program sees frames before tc ingress. So every contender's packets
# meet the same four hooks: `direct`'s one connection crosses both links,
# a proxy's client leg crosses cli0 and its broker leg brk0. gso_max_segs is
# set to 1 on cli0 and brk0 for the scenario (one segment per frame where the
# hooks sit) and put back, with the hooks detached, at its end.
#
# Per contender and loss level, REPS runs (7; quick: 1) of:
#   1. QoS 1: mqttload pub, 20 publishers x 100 messages (quick: 10 x 50),
#      64-byte payloads, flat out (16 in flight each), from the 8 client
#      addresses. q1_s is mqttload's duration_s (start to the last PUBACK and
#      DISCONNECT, connection setup included) when every message was acked.
#   2. QoS 0 burst: mqttload pub, 20 publishers x 200 messages (quick:
#      10 x 100), flat out, then DISCONNECT. A recorder (tests/e2e's
#      mqtt_clients.py record) subscribed to '#' at every broker, on loopback
#      in the brokers' namespace (unimpaired), stamps every arrival: q0_s is
#      from the publishers' start to the last message's arrival at its
#      broker, q0_arrived the distinct messages that arrived (waited for up to
#      BOUND s: 60, quick 30).
# Retransmissions per leg: `nstat -az` deltas over both runs, in the client
# namespace (cli_*: the clients' kernel, the client leg's sender) and the
# brokers' namespace (brk_*: the brokers' kernel): TcpRetransSegs (all
# segments sent again), TcpExtTCPFastRetrans (fast retransmits: duplicate
# ACKs or SACK told the sender), TcpExtTCPTimeouts (RTOs: nobody told it).
# A proxy's own kernel retransmits too (towards both ends): lb_retrans (the
# lb namespace's TcpRetransSegs; for direct and mqttlb only the health
# checks), and all_retrans = cli + brk + lb.
# Every metric is the mean over the REPS runs (a completion time is bimodal:
# a lost SYN, SYN-ACK or first segment costs the 1 s initial RTO, whoever
# forwards it; a median of few runs flips between the modes); the notes list
# every run. Per figure, ratio_vs_direct_* (mqttlb over direct, target
# <= 1.2; for q0_arrived direct over mqttlb; counters compared with 1 added
# to each) and the verdict in the notes, with mqttlb over HAProxy (target
# <= 1).
#
# BENCH_LOSSY_DELAY=MS[:JITTER] adds the delay line (tests/impair's
# mqttlb-delayline, AF_PACKET, each way MS +- JITTER ms, uniform: frames are
# reordered): the scenario then runs on a topology of its own (topo.sh
# --wire, prefix mqw<run.sh's PID>) with its own brokers, deleted at its end.
# BENCH_LOSSY_LEVELS=L,... replaces the loss levels (default 1%,3%),
# BENCH_LOSSY_DUP the duplicates (default 1%).

LOSSY_HOOKS=("cli:cli0:egress" "cli:cli0:ingress" "brk:brk0:egress" "brk:brk0:ingress")
# the figures with a verdict (fast retransmits are not among them: more of
# them is the good way to recover, not a cost)
LOSSY_FIGS=(q1_s q0_s q0_arrived cli_retrans cli_timeouts brk_retrans brk_timeouts all_retrans)

# lossy_tag LOSS: the metric suffix of a loss level ("3%" -> loss3, "0.5%" -> loss0.5).
lossy_tag() { echo "loss${1%\%}"; }

lossy_levels() {
  local l
  IFS=, read -r -a l <<<"${BENCH_LOSSY_LEVELS:-1%,3%}"
  printf '%s\n' "${l[@]}"
}

# lossy_impair VERB LOSS DUP: attach (the first time) or set all four hooks.
lossy_impair() {
  local h ns dev dir flag out
  for h in "${LOSSY_HOOKS[@]}"; do
    IFS=: read -r ns dev dir <<<"$h"
    flag=()
    [ "$dir" = ingress ] && flag=(--ingress)
    out=$("$IMPAIR" "$1" "$dev" --netns "$(ns_name "$ns")" "${flag[@]}" --loss "$2" --dup "$3" --match tcp 2>&1) ||
      die "mqttlb-impair $1 $dev $dir ($(ns_name "$ns")) failed: $out"
  done
}

# lossy_impair_stats: the four hooks' counters, on one line.
lossy_impair_stats() {
  local h ns dev dir flag line out=""
  for h in "${LOSSY_HOOKS[@]}"; do
    IFS=: read -r ns dev dir <<<"$h"
    flag=(--egress)
    [ "$dir" = ingress ] && flag=(--ingress)
    line=$("$IMPAIR" stats "$dev" --netns "$(ns_name "$ns")" "${flag[@]}" 2>/dev/null |
      sed -n 's/.*seen=\([0-9]*\) dropped=\([0-9]*\) duplicated=\([0-9]*\).*/seen \1 dropped \2 dup \3/p')
    out+="${out:+; }$dev $dir: ${line:-?}"
  done
  echo "$out"
}

# lossy_restore: the hooks detached, gso_max_segs as it was (the shared
# topology's later scenarios must not be impaired). Never fails.
lossy_restore() {
  local h ns dev dir
  [ "${LOSSY_ATTACHED:-0}" -eq 1 ] || return 0
  for h in "${LOSSY_HOOKS[@]}"; do
    IFS=: read -r ns dev dir <<<"$h"
    "$IMPAIR" detach "$dev" --netns "$(ns_name "$ns")" "--$dir" >/dev/null 2>&1 ||
      warn "mqttlb-impair detach $dev $dir failed"
  done
  [ -z "${LOSSY_GSO_CLI:-}" ] || ip -n "$(ns_name cli)" link set dev cli0 gso_max_segs "$LOSSY_GSO_CLI" 2>/dev/null || true
  [ -z "${LOSSY_GSO_BRK:-}" ] || ip -n "$(ns_name brk)" link set dev brk0 gso_max_segs "$LOSSY_GSO_BRK" 2>/dev/null || true
  LOSSY_ATTACHED=0
}

gso_max_segs_of() { ip -n "$(ns_name "$1")" -d -j link show dev "$2" | jq -r '.[0].gso_max_segs // empty'; }

# lossy_wire_up DELAY JITTER: a --wire topology of the scenario's own
# (prefix mqw$$), its brokers and the delay line; replaces P, WORK and the
# TOPO_* variables for the rest of the scenario (a subshell).
lossy_wire_up() {
  local env a
  P="mqw$$"
  # shellcheck disable=SC2153 # NCLIENT_ADDRS: lib.sh
  env=$("$TOPO" up "$P" --queues 1 --brokers "${#ALL_BROKERS[@]}" --clients "$NCLIENT_ADDRS" --wire --env) ||
    die "tests/netns/topo.sh up $P --wire failed"
  EXTRA_NS+=("$P-cli" "$P-lb" "$P-brk" "$P-wire")
  eval "$env"
  CLIENT_ADDRS=${TOPO_CLIENTS// /,}
  in_ns lb sysctl -qw net.ipv4.ip_forward=1
  ip -n "$TOPO_NS_CLI" route add 10.20.0.0/24 via "$TOPO_VIP"
  ip -n "$TOPO_NS_BRK" route add 10.10.0.0/24 via "$TOPO_SRC"
  for a in cli lb brk; do
    [ "$a" = lb ] || in_ns "$a" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
    in_ns "$a" sysctl -qw net.core.somaxconn=65535
  done
  WORK=$WORK/lossy-wire
  mkdir -p "$WORK"
  start_brokers
  next_log delayline
  LOSSY_DL_STEM=$NEXT_LOG
  bg "$P-wire" "$LOSSY_DL_STEM" "$DELAYLINE" --a wire-c --b wire-l --delay "$1" --jitter "$2" \
    --stats "$LOSSY_DL_STEM.stats" --ready "$LOSSY_DL_STEM.ready"
  wait_until 5 test -f "$LOSSY_DL_STEM.ready" || die "the delay line did not start: $(tail -n 3 "$LOSSY_DL_STEM.err")"
  say "  own topology $P with a delay line of $1 +- $2 ms each way between the clients and the balancer"
}

# lossy_nstat NS: "retrans fast timeouts outsegs" of the namespace, absolute.
lossy_nstat() {
  in_ns "$1" env NSTAT_HISTORY="$WORK/nstat-lossy.hist" nstat -asz 2>/dev/null | awk '
    $1 == "TcpRetransSegs" { r = $2 } $1 == "TcpExtTCPFastRetrans" { f = $2 }
    $1 == "TcpExtTCPTimeouts" { t = $2 } $1 == "TcpOutSegs" { o = $2 }
    END { print r + 0, f + 0, t + 0, o + 0 }'
}

# lossy_recorded OFFSET PREFIX: "distinct last_time" of the recorder's lines
# past byte OFFSET whose topic starts with PREFIX.
lossy_recorded() {
  "$PY" - "$LOSSY_REC" "$1" "$2" <<'PY'
import sys
path, off, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
seen, last = set(), 0.0
with open(path, "rb") as f:
    f.seek(off)
    for line in f:
        parts = line.rstrip(b"\n").split(b"\t")
        if len(parts) >= 4 and parts[1].startswith(prefix):
            seen.add((parts[1], parts[2]))
            last = max(last, float(parts[3]))
print(len(seen), f"{last:.6f}")
PY
}

# lossy_count_ge OFFSET PREFIX N: at least N lines past OFFSET carry PREFIX
# (a cheap poll; duplicates would count, the final count is distinct).
lossy_count_ge() {
  local n
  n=$(tail -c +$(($1 + 1)) "$LOSSY_REC" 2>/dev/null | grep -ac -F $'\t'"$2") || true
  [ "${n:-0}" -ge "$3" ]
}

# lossy_mean V...: the mean of the values, empty when one is empty (an
# incomplete run: the notes say which).
lossy_mean() {
  printf '%s\n' "$@" | awk '!/^[0-9.]+$/ { bad = 1 } { s += $1; n++ } END { if (n && !bad) printf "%.6f", s / n }'
}

# lossy_emit_counters CONTENDER TAG REPS SUMS...: the retransmission rows,
# per run (SUMS: cli r f t o, brk r f t o, lb r f t o over the REPS runs).
lossy_emit_counters() {
  local c=$1 tag=$2 reps=$3 leg base f j name who lbnote
  shift 3
  local s=("$@")
  lbnote="the lb namespace's kernel per run: fast $(calc "${s[9]} / $reps" | cut -d. -f1), RTOs $(calc "${s[10]} / $reps" | cut -d. -f1), out $(calc "${s[11]} / $reps" | cut -d. -f1)"
  case $c in
    haproxy | haproxy-cid | nginx) lbnote="the proxy's own retransmissions, towards both ends: $lbnote" ;;
    *) lbnote="nothing but the balancer's health checks: $lbnote" ;;
  esac
  emit lossy "$c" "lb_retrans_$tag" "$(calc "${s[8]} / $reps")" segs "TcpRetransSegs in the lb namespace per run; $lbnote"
  emit lossy "$c" "all_retrans_$tag" "$(calc "(${s[0]} + ${s[4]} + ${s[8]}) / $reps")" segs \
    "TcpRetransSegs per run, the clients', brokers' and lb namespaces' kernels together"
  for leg in cli brk; do
    base=0 who="clients'"
    [ "$leg" = cli ] || base=4 who="brokers'"
    j=0
    for f in retrans fast_retrans timeouts; do
      case $f in retrans) name=TcpRetransSegs ;; fast_retrans) name=TcpExtTCPFastRetrans ;; timeouts) name=TcpExtTCPTimeouts ;; esac
      emit lossy "$c" "${leg}_${f}_$tag" "$(calc "${s[base + j]} / $reps")" segs \
        "$name, nstat delta in the $who namespace, per run (QoS 1 + QoS 0); TcpOutSegs $(calc "${s[base + 3]} / $reps" | cut -d. -f1)"
      j=$((j + 1))
    done
  done
}

# lossy_run CONTENDER LOSS REP: one QoS 1 run and one QoS 0 burst; sets
# R_Q1 R_Q0 R_ARR (empty when incomplete), R_NOTE and R_CNT (the counter
# deltas: cli r f t o brk r f t o lb r f t o).
lossy_run() {
  local c=$1 loss=$2 rep=$3 run stem off t0 n1 n0 acked last a c0 c1 b0 b1 l0 l1 tot1 tot0
  run="$c-$(lossy_tag "$loss")-r$rep"
  tot1=$((LQ1C * LQ1N)) tot0=$((LQ0C * LQ0N))
  c0=$(lossy_nstat cli) b0=$(lossy_nstat brk) l0=$(lossy_nstat lb)
  # 1. QoS 1
  next_log "lossy-$run-q1"
  stem=$NEXT_LOG
  off=$(stat -c %s "$LOSSY_REC")
  mqttload cli "$stem" $((LBOUND + 30)) pub -H "$(target)" -c "$LQ1C" -q 1 -n "$LQ1N" -s 64 -r 0 \
    -d "$LBOUND" --connect-timeout 30 -t "bench/lossy/$run/q1/%i" -b "$CLIENT_ADDRS" || true
  acked=$(jget "$stem.json" acked)
  R_Q1=""
  [ "${acked:-0}" -lt "$tot1" ] || R_Q1=$(jget "$stem.json" duration_s)
  wait_until 10 lossy_count_ge "$off" "bench/lossy/$run/q1/" "$tot1" || true
  read -r n1 _ <<<"$(lossy_recorded "$off" "bench/lossy/$run/q1/")"
  R_NOTE="r$rep: q1 ${R_Q1:-NA} s (acked ${acked:-?}/$tot1, at brokers $n1, connect_failed $(jget "$stem.json" connect_failed))"
  # 2. QoS 0 burst
  next_log "lossy-$run-q0"
  stem=$NEXT_LOG
  off=$(stat -c %s "$LOSSY_REC")
  t0=$(now_s)
  mqttload cli "$stem" $((LBOUND + 30)) pub -H "$(target)" -c "$LQ0C" -q 0 -n "$LQ0N" -s 64 -r 0 \
    -d "$LBOUND" --connect-timeout 30 -t "bench/lossy/$run/q0/%i" -b "$CLIENT_ADDRS" || true
  a=$(calc "$(now_s) - $t0")
  wait_until "$LBOUND" lossy_count_ge "$off" "bench/lossy/$run/q0/" "$tot0" || true
  read -r n0 last <<<"$(lossy_recorded "$off" "bench/lossy/$run/q0/")"
  R_ARR=$n0 R_Q0=""
  [ "$n0" -lt "$tot0" ] || R_Q0=$(calc "$last - $t0")
  R_NOTE+=", q0 ${R_Q0:-NA} s ($n0/$tot0 arrived; publishers done after $(printf '%.2f' "$a") s, sent $(jget "$stem.json" sent))"
  sleep 0.5 # the last ACKs and FINs, before the counters
  c1=$(lossy_nstat cli) b1=$(lossy_nstat brk) l1=$(lossy_nstat lb)
  R_CNT=$(awk -v a="$c1 $b1 $l1" -v b="$c0 $b0 $l0" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%d ", x[i] - y[i] }')
  say "  $run: q1 ${R_Q1:-NA} s, q0 ${R_Q0:-NA} s ($n0/$tot0); cli retrans/fast/rto $(cut -d' ' -f1-3 <<<"$R_CNT"), brk $(cut -d' ' -f5-7 <<<"$R_CNT")"
}

scenario_lossy() {
  local reps=7 c loss tag rep q1s q0s arrs notes cnt sums k dl jit w=""
  LQ1C=20 LQ1N=100 LQ0C=20 LQ0N=200 LBOUND=60
  if [ "$QUICK" -eq 1 ]; then
    reps=1 LQ1C=10 LQ1N=50 LQ0C=10 LQ0N=100 LBOUND=30
  fi
  local dup=${BENCH_LOSSY_DUP:-1%} levels
  mapfile -t levels < <(lossy_levels)
  { [ -x "${IMPAIR:-}" ] && [ -x "${DELAYLINE:-}" ]; } || die "mqttlb-impair / mqttlb-delayline not found (build targets in tests/impair)"
  if [ -n "${BENCH_LOSSY_DELAY:-}" ]; then
    dl=${BENCH_LOSSY_DELAY%%:*} jit=0
    [[ $BENCH_LOSSY_DELAY == *:* ]] && jit=${BENCH_LOSSY_DELAY#*:}
    lossy_wire_up "$dl" "$jit"
    w="; delay line $dl +- $jit ms each way on the client link (reordering)"
  fi
  # the hooks and gso_max_segs are put back whatever happens (the trap
  # runs before run.sh's scenario cleanup, which takes the status from $?)
  # shellcheck disable=SC2154 # lossy_rc: assigned in the trap itself
  trap 'lossy_rc=$?; lossy_restore; (exit $lossy_rc); scenario_cleanup' EXIT
  LOSSY_GSO_CLI=$(gso_max_segs_of cli cli0) LOSSY_GSO_BRK=$(gso_max_segs_of brk brk0)
  ip -n "$(ns_name cli)" link set dev cli0 gso_max_segs 1
  ip -n "$(ns_name brk)" link set dev brk0 gso_max_segs 1
  LOSSY_ATTACHED=1
  lossy_impair attach 0 0

  next_log lossy-recorder
  LOSSY_REC=$NEXT_LOG.tsv
  : >"$LOSSY_REC"
  local recargs=() b
  for b in "${ALL_BROKERS[@]}"; do recargs+=(--broker "$b:$PORT"); done
  bg brk "$NEXT_LOG" "$PY" "$PROBE_PY" record "${recargs[@]}" --out "$LOSSY_REC" \
    --ready "$NEXT_LOG.ready" --max-messages 10000000
  LOSSY_REC_PID=$BG_PID
  wait_until 15 test -f "$NEXT_LOG.ready" || die "the recorder did not subscribe within 15 s: $(tail -n 3 "$NEXT_LOG.err")"

  for c in "${CONTENDERS[@]}"; do
    contender_start "$c"
    for loss in "${levels[@]}"; do
      tag=$(lossy_tag "$loss")
      lossy_impair set "$loss" "$dup"
      q1s=() q0s=() arrs=() notes="" sums=(0 0 0 0 0 0 0 0 0 0 0 0)
      for ((rep = 1; rep <= reps; rep++)); do
        lossy_run "$c" "$loss" "$rep"
        q1s+=("$R_Q1") q0s+=("$R_Q0") arrs+=("$R_ARR")
        notes+="${notes:+; }$R_NOTE"
        read -r -a cnt <<<"$R_CNT"
        for k in "${!sums[@]}"; do sums[k]=$((sums[k] + cnt[k])); done
      done
      lossy_impair set 0 0
      local what="loss $loss and dup $dup on cli0 and brk0 both ways$w; mean of $reps run(s)"
      emit lossy "$c" "q1_s_$tag" "$(lossy_mean "${q1s[@]}")" s \
        "$LQ1C publishers x $LQ1N QoS 1 messages (64 B, 16 in flight each), start to last PUBACK; $what: ${q1s[*]}; $notes"
      emit lossy "$c" "q0_s_$tag" "$(lossy_mean "${q0s[@]}")" s \
        "$LQ0C publishers x $LQ0N QoS 0 messages flat out, start to the last arrival at a broker; $what: ${q0s[*]}"
      emit lossy "$c" "q0_arrived_$tag" "$(lossy_mean "${arrs[@]}")" msgs \
        "of $((LQ0C * LQ0N)) QoS 0 messages, distinct at the brokers (per run: ${arrs[*]})"
      lossy_emit_counters "$c" "$tag" "$reps" "${sums[@]}"
    done
    say "  impairment so far: $(lossy_impair_stats)"
    if [ "$c" = mqttlb ]; then
      notes=$(mqttlb_stats '[.pools[].brokers[] | "\(.name) \(.state) failures \(.failures)"] | join(", ")')
      contender_stop
      emit lossy mqttlb broker_failovers "$(jget "$LAST_OUT" broker_failovers)" legs \
        "over the whole scenario: broker_syn_retries $(jget "$LAST_OUT" broker_syn_retries); brokers at the end: ${notes:-?}"
    else
      contender_stop
    fi
  done
  stop_pid "$LOSSY_REC_PID" 10 || true
  [ -z "${LOSSY_DL_STEM:-}" ] || say "  delay line: $(cat "$LOSSY_DL_STEM.stats" 2>/dev/null)"
  lossy_verdicts
}

# lossy_verdicts: per loss level and figure, mqttlb over direct (and over
# HAProxy), a row each with the verdict in its notes.
lossy_verdicts() {
  has_contender mqttlb && has_contender direct || return 0
  local loss tag fig m d h r rh ok okh line levels
  mapfile -t levels < <(lossy_levels)
  for loss in "${levels[@]}"; do
    tag=$(lossy_tag "$loss")
    for fig in "${LOSSY_FIGS[@]}"; do
      m=$(csv_value lossy mqttlb "${fig}_$tag")
      d=$(csv_value lossy direct "${fig}_$tag")
      h=""
      has_contender haproxy && h=$(csv_value lossy haproxy "${fig}_$tag")
      if [ "$fig" = q0_arrived ]; then # more is better
        r=$(div_or_empty "$d" "$m") rh=$(div_or_empty "$h" "$m")
      else
        # counters may be 0: compare with one segment added to each
        case $fig in *retrans | *timeouts) [ -z "$m" ] || m=$(calc "$m + 1"); [ -z "$d" ] || d=$(calc "$d + 1"); [ -z "$h" ] || h=$(calc "$h + 1") ;; esac
        r=$(div_or_empty "$m" "$d") rh=$(div_or_empty "$m" "$h")
      fi
      ok=$(awk -v r="$r" 'BEGIN { print (r == "" ? "NA" : r <= 1.2 ? "ok" : "MISS") }')
      okh=$(awk -v r="$rh" 'BEGIN { print (r == "" ? "NA" : r <= 1 ? "ok" : "MISS") }')
      line="$fig at $loss loss: mqttlb/direct $(printf '%.2f' "${r:-0}") (<= 1.2: $ok), mqttlb/haproxy $([ -n "$rh" ] && printf '%.2f' "$rh" || echo NA) (<= 1: $okh)"
      [ "$fig" != q0_arrived ] || line+=" [ratios direct/mqttlb: more is better]"
      case $fig in *retrans | *timeouts) line+=" [counts + 1]" ;; esac
      emit lossy mqttlb "ratio_vs_direct_${fig}_$tag" "$r" ratio "$line"
      say "  verdict: $line"
    done
  done
}

plot_lossy() {
  local tags=() t m=() loss levels
  mapfile -t levels < <(lossy_levels)
  for loss in "${levels[@]}"; do tags+=("$(lossy_tag "$loss")"); done
  for t in "${tags[@]}"; do m+=("q1_s_$t" "q0_s_$t"); done
  plot_bars "$OUT/lossy-time.png" "Completion time under loss and duplicates on both legs (QoS 1 and a QoS 0 burst)" "seconds" \
    lossy "${m[@]}"
  m=()
  for t in "${tags[@]}"; do m+=("cli_retrans_$t" "cli_timeouts_$t" "brk_retrans_$t" "brk_timeouts_$t" "lb_retrans_$t"); done
  plot_bars "$OUT/lossy-retrans.png" "Retransmissions per run: the clients', brokers' and lb namespace's kernels (nstat)" "segments per run" \
    lossy "${m[@]}"
}
