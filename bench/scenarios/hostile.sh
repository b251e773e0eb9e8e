# shellcheck shell=bash
# Scenario `hostile` (sourced by bench/run.sh): the balancer's memory and a
# legitimate client's latency while hostile clients attack (the attack tool
# of tests/e2e/test_hostile.sh, tests/e2e/hostile.py, from the client
# namespace's 8 addresses to the VIP).
#
# Per contender (mqttlb, haproxy, haproxy-cid, nginx; `direct` has no
# balancer and is skipped), four attacks one after the other, each held for
# HOLD seconds (quick: 6, full: 12):
#   bigconnect  N connections (full 3,000, quick 1,000), each a CONNECT
#               announcing a 60,000-byte client id and all of it but 10
#               bytes, stalled.
#   malformed   N/3 connections: a CONNECT whose client id runs past its
#               length, or announcing 1,000,000 bytes; never read, no FIN.
#   slowloris   N/3 connections sending a CONNECT one byte a second.
#   noread      20 subscribers to noread/busy with a 1 KiB receive buffer
#               that never read, and 4,000 (quick 2,000) messages of 1 KiB
#               published on the topic (through mqttlb all reach one broker,
#               pool `other`; a proxy spreads them over the bench pool, so
#               only the subscribers on the publisher's broker get them).
# Meanwhile hostile.py sample reads every 0.25 s the VmRSS of the
# contender's processes and the machine's MemAvailable (the kernel
# contenders' socket buffers are kernel memory, not theirs; MemAvailable is
# machine-wide: the brokers and the attackers' own sockets are in it too),
# and a legitimate client (hostile.py legit --no-sub) connects, publishes at
# QoS 1 and waits for the PUBACK every 0.25 s, a new connection each time.
# Rows per attack A: rss_delta_kib_A (peak VmRSS minus VmRSS before),
# memavail_drop_kib_A (MemAvailable before minus its lowest), legit_p50_ms_A,
# legit_p99_ms_A, legit_failed_A; rss_kib_base once. mqttlb runs with
# connections {buffer_total: 64M, bind_timeout: 30s} (one worker: the
# budget is 64 MiB), so that its attack connections are held as long as the
# proxies' (HAProxy: timeout client 10m); its rows' notes add buffer_held's
# peak and the budget counters.

HOSTILE_PY=$BENCH_ROOT/tests/e2e/hostile.py
HOSTILE_BUDGET_MIB=64

# hostile_phase CONTENDER ATTACK ARGS...: one attack with the sampler and
# the legitimate client; emits its rows.
hostile_phase() {
  local c=$1 atk=$2 stem samp legit apid rss0 avail0 rss1 avail1 c0 c1 note="" a=() b=()
  shift 2
  next_log "hostile-$c-$atk"
  stem=$NEXT_LOG
  rss0=$(contender_rss_kib)
  avail0=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
  c0=$(mqttlb_stats '.counters | "\(.budget_slowed) \(.budget_refused) \(.malformed) \(.timeouts) \(.close_timeouts)"')
  local sargs=(--pid "$(contender_pids | paste -sd, -)" --interval 0.25 --duration $((HOLD + 40)) --out "$stem.samples")
  [ "$c" != mqttlb ] || sargs+=(--mqttlb "$MQTTLB" --socket "$WORK/mqttlb.sock")
  bg lb "$stem-sample" "$PY" "$HOSTILE_PY" sample "${sargs[@]}"
  samp=$BG_PID
  bg cli "$stem-legit" "$PY" "$HOSTILE_PY" legit --host "$TOPO_VIP" --bind "${TOPO_CLIENTS%% *}" --name "$atk" \
    --topic-prefix "bench/legit/$atk" --interval 0.25 --duration "$HOLD" --timeout 5 --no-sub --summary "$stem-legit.json"
  legit=$BG_PID
  bg cli "$stem-attack" "$PY" "$HOSTILE_PY" "$atk" --host "$TOPO_VIP" --bind "$CLIENT_ADDRS" --duration "$HOLD" \
    --summary "$stem-attack.json" "$@"
  apid=$BG_PID
  wait_pid "$apid" $((HOLD + 30)) || warn "hostile.py $atk ($c) exited with status $?"
  wait_pid "$legit" 15 || true
  stop_pid "$samp" 5 || true
  c1=$(mqttlb_stats '.counters | "\(.budget_slowed) \(.budget_refused) \(.malformed) \(.timeouts) \(.close_timeouts)"')
  rss1=$(jq -s 'map(.rss_kib) | max' "$stem.samples" 2>/dev/null || true)
  avail1=$(jq -s 'map(.mem_available_kib) | min' "$stem.samples" 2>/dev/null || true)
  if [ "$c" = mqttlb ]; then
    read -r -a b <<<"${c0:-}"
    read -r -a a <<<"${c1:-}"
    note="; buffer_held peak $(jq -s 'map(.buffer_held // 0) | max / 1048576 | floor' "$stem.samples" 2>/dev/null) MiB (budget $HOSTILE_BUDGET_MIB MiB); budget_slowed +$(delta "${a[0]:-}" "${b[0]:-}"), budget_refused +$(delta "${a[1]:-}" "${b[1]:-}"), malformed +$(delta "${a[2]:-}" "${b[2]:-}"), timeouts +$(delta "${a[3]:-}" "${b[3]:-}"), close_timeouts +$(delta "${a[4]:-}" "${b[4]:-}")"
  fi
  local what
  what="hostile.py $atk: $(jget "$stem-attack.json" opened) connections from 8 addresses, held ${HOLD} s"
  emit hostile "$c" "rss_delta_kib_$atk" "$(delta "$rss1" "$rss0")" KiB \
    "peak VmRSS of the balancer's processes minus before ($rss0 KiB), sampled every 0.25 s; $what$note"
  emit hostile "$c" "memavail_drop_kib_$atk" "$(delta "$avail0" "$avail1")" KiB \
    "MemAvailable before minus its lowest during the attack (machine-wide: kernel socket buffers of every namespace, the brokers, the attackers)"
  emit hostile "$c" "legit_p50_ms_$atk" "$(jget "$stem-legit.json" p50_ms)" ms \
    "a legitimate client during $atk: new connection, CONNECT, PUBLISH QoS 1, PUBACK, every 0.25 s; $(jget "$stem-legit.json" ok) of $(jget "$stem-legit.json" tries) served"
  emit hostile "$c" "legit_p99_ms_$atk" "$(jget "$stem-legit.json" p99_ms)" ms "the same, p99 (max $(jget "$stem-legit.json" max_ms) ms)"
  emit hostile "$c" "legit_failed_$atk" "$(jget "$stem-legit.json" failed)" tries "tries that failed or took over 5 s"
  # what the attack left ends before the next (mqttlb closes it at its
  # timeouts; the proxies when the attacker closed)
  sleep 2
}

scenario_hostile() {
  local c n=3000 pump=4000
  HOLD=12
  if [ "$QUICK" -eq 1 ]; then
    n=1000 pump=2000 HOLD=6
  fi
  # the scenario's own mqttlb settings (this function runs in the
  # scenario's subshell: other scenarios keep lib.sh's)
  # shellcheck disable=SC2317 # called by lib.sh's mqttlb_start
  mqttlb_conn_extra() {
    echo "  buffer_total: ${HOSTILE_BUDGET_MIB}M"
    echo "  bind_timeout: 30s"
    [ -z "${BENCH_MQTTLB_SYN_RATE:-}" ] || echo "  syn_rate: $BENCH_MQTTLB_SYN_RATE"
  }
  for c in "${CONTENDERS[@]}"; do
    [ "$c" != direct ] || continue
    contender_start "$c"
    sleep 1
    emit hostile "$c" rss_kib_base "$(contender_rss_kib)" KiB "VmRSS of the balancer's processes before the attacks$([ "$c" != mqttlb ] || echo ' (UMEM and flow table included)')"
    hostile_phase "$c" bigconnect --count "$n" --concurrency 300 --cid-len 60000 --probe-at $((HOLD - 1))
    hostile_phase "$c" malformed --count $((n / 3)) --probe-at $((HOLD - 1))
    hostile_phase "$c" slowloris --count $((n / 3)) --probe-at $((HOLD - 1))
    hostile_phase "$c" noread --count 20 --topic noread/busy --rcvbuf 1024 \
      --pump "$pump" --size 1024 --rate 1000
    emit hostile "$c" rss_kib_hwm "$(contender_rss_kib VmHWM)" KiB "VmHWM of the balancer's processes after the attacks"
    contender_stop
  done
}

plot_hostile() {
  plot_bars "$OUT/hostile-rss.png" "Balancer memory growth during hostile clients (VmRSS delta)" "KiB" \
    hostile rss_delta_kib_bigconnect rss_delta_kib_malformed rss_delta_kib_slowloris rss_delta_kib_noread
  plot_bars "$OUT/hostile-memavail.png" "Machine memory taken during hostile clients (MemAvailable drop)" "KiB" \
    hostile memavail_drop_kib_bigconnect memavail_drop_kib_malformed memavail_drop_kib_slowloris memavail_drop_kib_noread
  PLOT_LOGY=1 plot_bars "$OUT/hostile-legit.png" "A legitimate client's connect+publish p99 during attacks (log scale)" "ms" \
    hostile legit_p99_ms_bigconnect legit_p99_ms_malformed legit_p99_ms_slowloris legit_p99_ms_noread
}
