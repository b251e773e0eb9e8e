# shellcheck shell=bash
# Scenario `cost` (sourced by bench/run.sh): what each contender costs the
# machine, and the latency it adds, at the same fixed offered load (issue 19).
# The throughput scenario's rows are flat out: there msg/s measures how much
# CPU a contender left to the load tools, and its CPU accounting is the
# balancer's process alone. Here every contender carries the same load.
#
# Per contender (direct first, whatever the --contenders order: it is the
# floor the others are compared with) and per row of cost_grid (an offered
# rate and a case: QoS 0 with 16- and 1,024-byte payloads and QoS 1 with
# 16-byte payloads at 2,000, 10,000 and 20,000 msg/s, and QoS 0 16-byte at
# 50,000; quick: the three cases at 20,000):
#   - the machine is sampled for 1 s with nothing of the row running; while
#     it is busy (other work: the machine is shared), again, up to 10 s
#     (quick: 2 s);
#   - one subscriber per broker of the pool (one mqttload sub, three
#     clients, in the brokers' namespace: it never crosses the balancer) on
#     bench/cost/#, at the case's QoS, with --progress;
#   - 20 publishers through the contender from the 8 client addresses, the
#     rate split evenly (rate / 20 msg/s each; QoS 1 with up to 64 in flight
#     each), topics bench/cost/N, with --progress, until stopped (SIGINT);
#   - once they have all connected (mqttload's "ready" line) and published
#     for 1 s more, the window opens: /proc/stat's first `cpu` line (with
#     the time), the run's processes' and the contender's user+system ticks
#     are read at its two ends, 10 s apart (quick: 3 s); nothing of this
#     script runs in between (one sleep). Then the publishers are stopped,
#     and the subscribers 0.5 s later. The connects, the ramp and the stop
#     are outside the window.
# Messages in the window: the subscribers' cumulative received count at the
# window's two ends, interpolated between their once-a-second progress
# lines (the publishers' sent count alike). In the full run a row whose
# window was noisy (below) is measured once more, and the second kept.
#
# Rows, suffix _qQ_SB_Rk (QoS, payload bytes, offered rate in thousands):
#   rate_*               achieved rate: messages the subscribers received in
#                        the window / the window; the notes give the offered
#                        rate, the sent rate in the window, the run's totals
#   busy_pct_*           the whole machine's busy CPU over the window: every
#                        state but idle and iowait (user, nice, system, irq,
#                        softirq, steal; guest is inside user), 100 = one core
#                        (2 cores: 200). Computed as the cores' time minus
#                        the idle and iowait of /proc/stat, which this
#                        NO_HZ kernel measures exactly; the busy states
#                        themselves are sampled at each tick (250 Hz), which
#                        a load paced by 1 ms timers can bias: the notes give
#                        their own sum and parts
#   cpu_us_per_msg_*     busy_pct's CPU time / the messages of the window:
#                        the load tools, the brokers, the subscribers, the
#                        contender, every kernel path (softirq included), and
#                        whatever else ran on the machine
#   run_cpu_us_per_msg_* the run's own processes (brokers, load tools,
#                        contender) and ksoftirqd: their user+system time
#                        (scheduler run time, so the softirqs that ran in
#                        their context are in it) / the messages: the same
#                        work without other people's
#   added_cpu_us_per_msg_*, added_run_cpu_us_per_msg_*  (not direct) the
#                        above minus direct's in the same case at the same
#                        rate: what the contender added per message
#   bal_cpu_us_per_msg_* (not direct) the balancer's processes' own
#                        user+system time per message: the throughput
#                        scenario's accounting, to set beside the others (the
#                        kernel's work for it in other tasks' context, such as
#                        the XDP receive and AF_XDP copy that veth runs in the
#                        sender's, is not in it)
#   lat_p50/p99/p999_us_* publisher-to-subscriber latency (receive time minus
#                        the send time stamped in the payload), over the
#                        publishers' whole run
#   added_p50/p99/p999_us_* (not direct) minus direct's in the same case and rate
# Flags, first in a row's notes:
#   SATURATED  the machine was busy more than 90% of all its cores, the
#              achieved rate fell more than 2% short of the offered, or the
#              publishers were gone before the window closed; an added_* CPU
#              figure with a saturated row either side says NOT COMPARABLE
#   NOISY      the machine was busy more than 5% of all its cores beyond the
#              run's own processes (other work); an added_* CPU figure with a
#              noisy row either side says NOT COMPARABLE too: run_cpu does not
#              count the other work, but it does not escape it either (the
#              run's processes contend with it, ksoftirqd may serve it)

COST_PUBS=20

# cost_grid: the rows of this run, "RATE QOS SIZE" a line (RATE msg/s offered
# in all): the three cases at 2,000, 10,000 and 20,000 msg/s, and QoS 0
# 16-byte at 50,000 (on the 2-core reference machine direct alone saturates
# it at 50,000 msg/s with 1 KiB payloads or QoS 1); quick: the three cases
# at 20,000.
cost_grid() {
  local r
  for r in 2000 10000 20000; do
    [ "$QUICK" -eq 0 ] || [ "$r" -eq 20000 ] || continue
    printf '%s 0 16\n%s 0 1024\n%s 1 16\n' "$r" "$r" "$r"
  done
  [ "$QUICK" -eq 1 ] || echo "50000 0 16"
}

# cost_sfx QOS SIZE RATE: the metrics' suffix, q0_16B_20k.
cost_sfx() {
  local r=$3
  [ $((r % 1000)) -ne 0 ] || r="$((r / 1000))k"
  echo "q$1_$2B_$r"
}

# cost_count_at ERRFILE KEY ELAPSED: mqttload's cumulative count KEY (sent,
# acked, received) at ELAPSED seconds after its start, interpolated between
# its progress lines ("mqttload:   3.0s up ... sent N (N/s) ... received N
# (N/s) ..."); empty when no line is that late.
cost_count_at() {
  awk -v key="$2" -v t="$3" '
    BEGIN { pe = 0; pc = 0 }
    $1 == "mqttload:" && $2 ~ /^[0-9.]+s$/ && $3 == "up" {
      e = $2; sub(/s$/, "", e); e += 0; n = ""
      for (i = 4; i < NF; i++) if ($i == key) { n = $(i + 1) + 0; break }
      if (n == "") next
      if (e >= t) {
        printf "%.1f\n", (e > pe ? pc + (n - pc) * (t - pe) / (e - pe) : n)
        found = 1
        exit
      }
      pe = e; pc = n
    }' "$1"
}

# cost_counted ERRFILE KEY ELAPSED: cost_count_at has a value.
cost_counted() { [ -n "$(cost_count_at "$@")" ]; }

# cost_sleep SECONDS: a sleep a signal interrupts at once (the scenario's
# TERM trap runs only after a foreground command).
cost_sleep() {
  sleep "$1" &
  wait $! || true
}

# cost_quiet: sets COST_IDLE, the machine's busy % (100 = one core) over 1 s
# with nothing of the row running (the contender idle); while that is above
# COST_NOISE (other work on the shared machine), samples again, up to
# COST_QUIET_WAIT seconds in all; COST_WAITED is how long it waited.
cost_quiet() {
  local a b
  COST_WAITED=0
  while :; do
    a=$(machine_stat)
    cost_sleep 1
    b=$(machine_stat)
    COST_IDLE=$(machine_busy "$a" "$b" | cut -d' ' -f2)
    awk -v b="${COST_IDLE:-0}" -v t="$COST_NOISE" 'BEGIN { exit !(b > t) }' || return 0
    [ "$COST_WAITED" -lt "$COST_QUIET_WAIT" ] || return 0
    COST_WAITED=$((COST_WAITED + 1))
  done
}

# cost_run_ticks: user+system clock ticks of the run's own processes (every
# PID this run started and still runs: the brokers, the load tools, the
# contender, and the contender's children) and the kernel's ksoftirqd
# threads. A process's times are its scheduler run time, which holds the
# softirqs that ran while it was on the CPU (a packet's way through veth,
# XDP and the receiver's TCP runs mostly in the sender's context); other
# work on the machine is not in it.
cost_run_ticks() {
  local p files=()
  for p in $({ printf '%s\n' "${PIDS[@]}"; contender_pids; printf '%s\n' "$COST_KSOFTIRQD"; } | grep . | sort -un); do
    files+=("/proc/$p/stat")
  done
  { cat "${files[@]}" 2>/dev/null || true; } | awk '{ t += $14 + $15 } END { print t + 0 }'
}

# cost_measure CONTENDER QOS SIZE RATE: one measurement of one case at one
# rate; sets the caller's (cost_row's) variables: window achieved sent_rate
# busy busy_s ticked parts runpct rest cpu run bal balpct gone totals lat_*
# and COST_IDLE, COST_WAITED.
cost_measure() {
  local c=$1 q=$2 s=$3 rate=$4 per sstem spid pstem ppid s0 p0 ta tb sa sb ka kb ra rb recv sent
  per=$((rate / COST_PUBS))
  cost_quiet
  next_log "cost-$c-$sfx-sub"
  sstem=$NEXT_LOG
  s0=$(now_s)
  mqttload_bg brk "$sstem" sub -H "$(broker_list , %s)" -c "${#BENCH_BROKERS[@]}" -q "$q" -t 'bench/cost/#' \
    -d $((COST_WINDOW + 120)) --progress
  spid=$BG_PID
  wait_until 15 grep -qs 'mqttload: ready' "$sstem.err" ||
    die "the subscribers ($c $sfx) did not subscribe within 15 s: $(tail -n 3 "$sstem.err")"

  # the publishers run until stopped (SIGINT) after the window
  next_log "cost-$c-$sfx-pub"
  pstem=$NEXT_LOG
  p0=$(now_s)
  mqttload_bg cli "$pstem" pub -H "$(target)" -c "$COST_PUBS" -q "$q" -s "$s" -r "$per" --inflight 64 \
    -d $((COST_WINDOW + 60)) -t 'bench/cost/%i' -b "$CLIENT_ADDRS" --progress
  ppid=$BG_PID
  wait_until 15 grep -qs 'mqttload: ready' "$pstem.err" ||
    warn "the publishers ($c $sfx) were not all connected after 15 s: $(tail -n 2 "$pstem.err" | tr '\n' ' ')"
  cost_sleep 1

  # the window: nothing else of this script runs in it
  ka=$(contender_cpu_ticks)
  ra=$(cost_run_ticks)
  sa=$(machine_stat)
  cost_sleep "$COST_WINDOW"
  sb=$(machine_stat)
  rb=$(cost_run_ticks)
  kb=$(contender_cpu_ticks)
  gone=0
  kill -0 "$ppid" 2>/dev/null || gone=1
  ta=${sa%% *} tb=${sb%% *}
  # a progress line of each past the window's end, to count up to it
  wait_until 3 cost_counted "$sstem.err" received "$(sub_or_empty "$tb" "$s0")" ||
    warn "the subscribers ($c $sfx) printed no progress after the window"
  wait_until 3 cost_counted "$pstem.err" sent "$(sub_or_empty "$tb" "$p0")" || true

  kill -INT "$ppid" 2>/dev/null || true
  mqttload_collect "$pstem" "$ppid" 30 || true
  cost_sleep 0.5
  kill -INT "$spid" 2>/dev/null || true
  mqttload_collect "$sstem" "$spid" 15 || true

  read -r window busy busy_s ticked parts < <(machine_busy "$sa" "$sb") || true
  recv=$(sub_or_empty "$(cost_count_at "$sstem.err" received "$(sub_or_empty "$tb" "$s0")")" \
    "$(cost_count_at "$sstem.err" received "$(sub_or_empty "$ta" "$s0")")")
  sent=$(sub_or_empty "$(cost_count_at "$pstem.err" sent "$(sub_or_empty "$tb" "$p0")")" \
    "$(cost_count_at "$pstem.err" sent "$(sub_or_empty "$ta" "$p0")")")
  achieved=$(div_or_empty "$recv" "$window")
  sent_rate=$(div_or_empty "$sent" "$window")
  # shellcheck disable=SC2086 # four numbers
  parts=$(printf 'user+nice %s%%, system %s%%, irq+softirq %s%%, steal %s%%' $parts)
  # the run's processes' share and the balancer's (100 = one core); the rest
  # of busy is other work (and softirqs that ran on an idle core)
  runpct=$(div_or_empty "$(calc "($rb - $ra) * 100 / $MACHINE_HZ")" "$window")
  balpct=$(div_or_empty "$(calc "($kb - $ka) * 100 / $MACHINE_HZ")" "$window")
  rest=$(sub_or_empty "$busy" "$runpct")
  cpu=$(div_or_empty "$(calc "${busy_s:-0} * 1000000")" "$recv")
  run=$(div_or_empty "$(calc "($rb - $ra) * 1000000 / $MACHINE_HZ")" "$recv")
  bal=$(div_or_empty "$(calc "($kb - $ka) * 1000000 / $MACHINE_HZ")" "$recv")
  totals="sent $(jget "$pstem.json" sent), acked $(jget "$pstem.json" acked), received $(jget "$sstem.json" received), duplicated $(jget "$sstem.json" duplicated), connect_failed $(jget "$pstem.json" connect_failed)"
  lat_p50=$(jget "$sstem.json" lat_p50_us)
  lat_p99=$(jget "$sstem.json" lat_p99_us)
  lat_p999=$(jget "$sstem.json" lat_p999_us)
}

# cost_flags RATE: sets the caller's sat (SATURATED: ...) and noisy
# (NOISY: ...), empty when not, from the measurement's variables.
cost_flags() {
  sat="" noisy=""
  if [ "$gone" -eq 1 ]; then sat="the publishers had stopped before the window closed"; fi
  if [ -n "$busy" ] && awk -v b="$busy" -v n="$MACHINE_NCPU" 'BEGIN { exit !(b > 90 * n) }'; then
    sat+="${sat:+; }the machine was busy $(printf '%.0f' "$busy")% of $((100 * MACHINE_NCPU))%"
  fi
  if [ -z "$achieved" ] || awk -v a="$achieved" -v r="$1" 'BEGIN { exit !(a < 0.98 * r) }'; then
    sat+="${sat:+; }achieved $(printf '%.0f' "${achieved:-0}") of $1 msg/s offered"
  fi
  [ -z "$sat" ] || sat="SATURATED ($sat)"
  if [ -n "$rest" ] && awk -v r="$rest" -v t="$COST_NOISE" 'BEGIN { exit !(r > t) }'; then
    noisy="NOISY (the machine was busy $(printf '%.0f' "$rest")% of one core beyond the run's own processes: other work on it; $(printf '%.0f' "${COST_IDLE:-0}")% with no load just before)"
  fi
}

# cost_row CONTENDER QOS SIZE RATE: one case at one rate, measured again
# once (full run) when the first measurement was noisy; emits its rows.
cost_row() {
  local c=$1 q=$2 s=$3 rate=$4 sfx what try=1 first=""
  local window achieved sent_rate busy busy_s ticked parts runpct balpct rest cpu run bal gone totals
  local lat_p50 lat_p99 lat_p999 sat noisy note m v ref name
  sfx=$(cost_sfx "$q" "$s" "$rate")
  what="$COST_PUBS publishers x $((rate / COST_PUBS)) msg/s = $rate msg/s offered, QoS $q$([ "$q" -eq 0 ] || echo ' (up to 64 in flight each)'), $s-byte payloads"
  while :; do
    cost_measure "$c" "$q" "$s" "$rate"
    cost_flags "$rate"
    if [ -z "$noisy" ] || [ "$QUICK" -eq 1 ] || [ "$try" -eq 2 ]; then break; fi
    say "  cost $c $sfx: $noisy; measuring again"
    first="measured twice: the first try was noisy ($(printf '%.0f' "$rest")% of one core of other work)"
    try=2
  done

  emit cost "$c" "rate_$sfx" "$achieved" msg/s \
    "${sat:+$sat; }messages the subscribers (on the brokers) received in the ${COST_WINDOW} s window / the window; $what, topics bench/cost/N, from $NCLIENT_ADDRS addresses; sent in the window $(printf '%.0f' "${sent_rate:-0}")/s; whole run: $totals; $(pool_note "$c")${first:+; $first}"
  emit cost "$c" "busy_pct_$sfx" "$busy" % \
    "${sat:+$sat; }${noisy:+$noisy; }the whole machine's busy CPU over the window, every state but idle and iowait (/proc/stat cpu: the cores' time minus idle+iowait, which this NO_HZ kernel measures exactly; 100 = one core, $MACHINE_NCPU cores (nproc $(nproc)) = $((100 * MACHINE_NCPU))); the busy states' tick-sampled jiffies give $(printf '%.1f' "${ticked:-0}")%: $parts; the run's own processes and ksoftirqd $(printf '%.1f' "${runpct:-0}")%; with no load just before: $(printf '%.1f' "${COST_IDLE:-0}")%$([ "$COST_WAITED" -eq 0 ] || echo " (after waiting $COST_WAITED s for the machine to quieten)")"
  emit cost "$c" "cpu_us_per_msg_$sfx" "$cpu" us \
    "${sat:+$sat; }${noisy:+$noisy; }the whole machine's busy CPU time in the window / the messages received in it: load tools, brokers, subscribers, contender, every kernel path (softirq included), and anything else running"
  emit cost "$c" "run_cpu_us_per_msg_$sfx" "$run" us \
    "${sat:+$sat; }user+system time of the run's own processes (brokers, load tools, contender) and ksoftirqd in the window / the messages received in it: their scheduler run time, softirqs that ran in their context included; the same work as cpu_us_per_msg without other work on the machine"
  if [ "$c" = direct ]; then
    COST_REF[$sfx.cpu]=$cpu
    COST_REF[$sfx.run]=$run
    COST_REF[$sfx.sat]=$sat
    COST_REF[$sfx.noisy]=$noisy
  else
    for m in cpu run; do
      name=added_cpu_us_per_msg_$sfx
      [ "$m" = cpu ] || name=added_run_cpu_us_per_msg_$sfx
      if [ "$COST_HAVE_DIRECT" -eq 0 ]; then
        emit cost "$c" "$name" "" us "direct was not in this run's contenders: nothing to subtract"
        continue
      fi
      ref=${COST_REF[$sfx.$m]:-}
      if [ "$m" = cpu ]; then
        note="cpu_us_per_msg minus direct's ($(printf '%.2f' "${ref:-0}") us) in the same case at the same offered rate: the whole machine's CPU the contender added per message"
      else
        note="run_cpu_us_per_msg minus direct's ($(printf '%.2f' "${ref:-0}") us) in the same case at the same offered rate: the CPU the contender added per message, other work on the machine left out"
      fi
      v=""
      [ -z "$sat" ] || v="$c's row is saturated"
      [ -z "${COST_REF[$sfx.sat]:-}" ] || v+="${v:+; }direct's row is saturated"
      [ -z "$noisy" ] || v+="${v:+; }$c's row is noisy"
      [ -z "${COST_REF[$sfx.noisy]:-}" ] || v+="${v:+; }direct's row is noisy"
      [ -z "$v" ] || note="NOT COMPARABLE ($v); $note"
      if [ "$m" = cpu ]; then v=$cpu; else v=$run; fi
      emit cost "$c" "$name" "$(sub_or_empty "$v" "$ref")" us "$note"
    done
    emit cost "$c" "bal_cpu_us_per_msg_$sfx" "$bal" us \
      "the balancer's processes' own user+system time in the window per message ($(printf '%.1f' "${balpct:-0}")% of one core), the throughput scenario's accounting: the kernel's work for it in other tasks' context (on veth the XDP receive and the AF_XDP copy run in the sender's) is not in it"
  fi
  for m in p50 p99 p999; do
    case $m in
      p50) v=$lat_p50 ;;
      p99) v=$lat_p99 ;;
      *) v=$lat_p999 ;;
    esac
    emit cost "$c" "lat_${m}_us_$sfx" "$v" us \
      "${sat:+$sat; }${noisy:+$noisy; }publisher to subscriber (subscribers on the brokers), over the publishers' whole run (connects, 1 s ramp, the window, the stop); $what"
    if [ "$c" = direct ]; then
      COST_REF[$sfx.$m]=$v
    elif [ "$COST_HAVE_DIRECT" -eq 0 ]; then
      emit cost "$c" "added_${m}_us_$sfx" "" us "direct was not in this run's contenders: nothing to subtract"
    else
      ref=${COST_REF[$sfx.$m]:-}
      emit cost "$c" "added_${m}_us_$sfx" "$(sub_or_empty "$v" "$ref")" us \
        "${sat:+$sat; }${noisy:+$noisy; }$c's $m minus direct's ($(printf '%.0f' "${ref:-0}") us) in the same case at the same offered rate"
    fi
  done
  say "  cost $c $sfx: $(printf '%.0f/%s msg/s, machine busy %.1f%% (ticked %.1f%%, the run'"'"'s processes %.1f%%), %.2f us/msg (run %.2f), p99 %s us' \
    "${achieved:-0}" "$rate" "${busy:-0}" "${ticked:-0}" "${runpct:-0}" "${cpu:-0}" "${run:-0}" "${lat_p99:-?}")${sat:+; $sat}${noisy:+; $noisy}"
}

scenario_cost() {
  local c g r q sz order=() grid=()
  local -A COST_REF=()
  COST_WINDOW=10 COST_QUIET_WAIT=10
  [ "$QUICK" -eq 0 ] || COST_WINDOW=3 COST_QUIET_WAIT=2
  COST_NOISE=$((5 * MACHINE_NCPU))
  COST_KSOFTIRQD=$(awk '/^ksoftirqd\// { split(FILENAME, f, "/"); print f[3] }' /proc/[0-9]*/comm 2>/dev/null || true)
  mapfile -t grid < <(cost_grid)
  COST_HAVE_DIRECT=0
  ! has_contender direct || { COST_HAVE_DIRECT=1; order=(direct); }
  for c in "${CONTENDERS[@]}"; do [ "$c" = direct ] || order+=("$c"); done
  for c in "${order[@]}"; do
    contender_start "$c"
    for g in "${grid[@]}"; do
      read -r r q sz <<<"$g"
      cost_row "$c" "$q" "$sz" "$r"
    done
    contender_stop
  done
}

plot_cost() {
  local r q sz sfx m=() n=() p=() extra
  # the grid has 10 rows: colours of their own past gnuplot's 8
  extra=$'set yrange [*:*]\nset linetype 9 lc rgb "#8c564b"\nset linetype 10 lc rgb "#17becf"\nset linetype cycle 10'
  while read -r r q sz; do
    sfx=$(cost_sfx "$q" "$sz" "$r")
    m+=("added_cpu_us_per_msg_$sfx")
    n+=("added_run_cpu_us_per_msg_$sfx")
    p+=("added_p99_us_$sfx")
  done < <(cost_grid)
  # the plots leave out the rows flagged saturated, noisy or not comparable
  "$PY" - "$CSV" "$WORK/cost-plot.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline="") as f, open(sys.argv[2], "w", newline="") as o:
    w = csv.writer(o)
    for i, r in enumerate(csv.reader(f)):
        if i and r[0] == "cost" and r[2].startswith("added_") and r[5].startswith(("NOT COMPARABLE", "SATURATED", "NOISY")):
            r[3] = "NA"
        w.writerow(r)
PY
  CSV=$WORK/cost-plot.csv PLOT_EXTRA=$extra plot_bars "$OUT/cost-cpu.png" \
    "Machine CPU added per message over direct, fixed rates (softirq included; flagged rows left out)" \
    "microseconds per message" cost "${m[@]}"
  CSV=$WORK/cost-plot.csv PLOT_EXTRA=$extra plot_bars "$OUT/cost-cpu-run.png" \
    "The run's processes' CPU added per message over direct, fixed rates (flagged rows left out)" \
    "microseconds per message" cost "${n[@]}"
  CSV=$WORK/cost-plot.csv PLOT_EXTRA=$extra plot_bars "$OUT/cost-p99.png" \
    "p99 latency added over direct, fixed rates (flagged rows left out)" "microseconds" cost "${p[@]}"
}
