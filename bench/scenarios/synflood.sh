# shellcheck shell=bash
# Scenario `synflood` (sourced by bench/run.sh): 100 clients publishing while
# xdpgen floods the front door with SYNs at its maximum rate.
#
# Per contender, three phases of the run's duration each, same load: 100
# publishers through the contender (20 msg/s each, 2,000 msg/s in all, QoS 1,
# 64-byte payloads, connecting at the start of the phase), one subscriber per
# broker in the brokers' namespace for the latency (as in `latency`).
#   base      no flood
#   flood     xdpgen --mode syn from the client namespace at 200,000 SYN/s
#             (BENCH_FLOOD_RATE):
#             SYNs from random addresses of 198.18.0.0/15 and random ports to
#             the VIP:1883 (for direct, to the first broker: the front door
#             there). The answers (SYN-ACKs) go back to the client
#             namespace, whose kernel drops them.
#   floodmax  the same flat out, the generator's maximum rate. That rate
#             depends on the contender: the kernel contenders' SYN handling
#             runs in softirq on the generator's core and slows it, so the
#             fixed-rate phase is the one to compare contenders by.
# Reported: the clients' msg/s and latency per phase, the flood's rate, the
# balancer's memory (VmRSS of its processes after the base phase and the
# highest sampled every 0.5 s during each flood; mqttlb's includes its UMEM)
# and the SYN cookies sent during each flood: mqttlb's own counter (mqttlb
# stats --json, where the command exists; and syncookies_sent over its life
# from `mqttlb run --json` at exit), the kernel's TcpExt SyncookiesSent for
# HAProxy and NGINX (lb namespace) and direct (brokers' namespace). mqttlb
# runs with its default SYN rate limit (connections.syn_rate, 100,000 SYNs
# per second per CPU, dropped in XDP beyond it); the note counts the drops.

FLOOD_CLIENTS=100
FLOOD_RATE=20
FLOOD_FIXED=${BENCH_FLOOD_RATE:-200000}

# tcpext NS KEY: a TcpExt counter of the namespace's kernel.
tcpext() {
  # shellcheck disable=SC2016 # awk's own variables
  in_ns "$1" awk -v key="$2" '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 } else { for (i = 2; i <= NF; i++) if (k[i] == key) print $i } }' /proc/net/netstat
}

# flood_phase CONTENDER PHASE SECONDS: one phase; sets PH_STEM (publishers)
# and leaves the subscriber's JSON in SUB_STEM.json.
flood_phase() {
  local c=$1 ph=$2 secs=$3
  sub_start "synflood-$c-$ph-sub" 'bench/flood/#' 1 $((secs + 90))
  next_log "synflood-$c-$ph-pub"
  PH_STEM=$NEXT_LOG
  mqttload cli "$PH_STEM" $((secs + 60)) pub -H "$(target)" -c "$FLOOD_CLIENTS" -q 1 -s 64 -r "$FLOOD_RATE" \
    -d "$secs" -t 'bench/flood/%i' -b "$CLIENT_ADDRS" --connect-timeout 30 || true
  sleep 0.5
  sub_stop
}

# flood_emit CONTENDER PHASE NOTE: the clients' numbers of a phase.
flood_emit() {
  local c=$1 ph=$2
  emit synflood "$c" "msgs_per_s_$ph" "$(jget "$PH_STEM.json" msgs_per_s)" msg/s \
    "$FLOOD_CLIENTS publishers x $FLOOD_RATE msg/s, QoS 1 (acked per second); connected $(jget "$PH_STEM.json" connected), connect_failed $(jget "$PH_STEM.json" connect_failed), connect p99 $(jget "$PH_STEM.json" connect_p99_us) us; $3"
  emit synflood "$c" "lat_p50_us_$ph" "$(jget "$SUB_STEM.json" lat_p50_us)" us "publisher to subscriber ($ph)"
  emit synflood "$c" "lat_p99_us_$ph" "$(jget "$SUB_STEM.json" lat_p99_us)" us "publisher to subscriber ($ph)"
}

# syn_cookies NS: SYN cookies sent so far by the contender (mqttlb: its
# stats; the kernel contenders: the namespace's TcpExt SyncookiesSent).
syn_cookies() {
  if [ "$CUR" = mqttlb ]; then mqttlb_stats .syncookies.sent; else tcpext "$1" SyncookiesSent; fi
}

# flood_run CONTENDER PHASE RATE DST NS: a phase under a SYN flood at RATE
# (0: flat out) to DST:PORT; emits the phase's rows.
flood_run() {
  local c=$1 ph=$2 rate=$3 dst=$4 ns=$5 secs=$FLOOD_SECS stem gen_pid samp_pid="" c0 c1 rss="" drops0 drops1 cut0 cut1 what
  c0=$(syn_cookies "$ns")
  drops0=$(mqttlb_ring_full)
  cut0=$(mqttlb_stats '[.xdp[].drop_syn_rate] | add')
  next_log "synflood-$c-$ph-xdpgen"
  stem=$NEXT_LOG
  bg cli "$stem" "$XDPGEN" --dev cli0 --queues 1 --mode syn --dst "$dst" --dst-mac "$TOPO_LB_C_MAC" \
    --dport "$PORT" --rate "$rate" --duration $((secs + 4)) --json --quiet "${FLOOD_GEN_CORE[@]}"
  gen_pid=$BG_PID
  if [ -n "$CUR_PID" ]; then
    (while :; do contender_rss_kib; sleep 0.5; done) >"$stem-rss.txt" 2>/dev/null &
    samp_pid=$!
    PIDS+=("$samp_pid")
  fi
  sleep 1
  flood_phase "$c" "$ph" "$secs"
  wait_pid "$gen_pid" $((secs + 30)) || warn "xdpgen (SYN flood) exited with status $?"
  [ -z "$samp_pid" ] || stop_pid "$samp_pid" 5 || true
  c1=$(syn_cookies "$ns")
  drops1=$(mqttlb_ring_full)
  cut1=$(mqttlb_stats '[.xdp[].drop_syn_rate] | add')
  [ ! -s "$stem-rss.txt" ] || rss=$(sort -n "$stem-rss.txt" | tail -n 1)
  what="SYN flood of $(jget "$stem.out" tx_pps) SYN/s at $dst:$PORT (xdpgen --mode syn, $([ "$rate" -eq 0 ] && echo 'max rate' || echo "--rate $rate"))"
  flood_emit "$c" "$ph" "during a $what"
  emit synflood "$c" "flood_pps_$ph" "$(jget "$stem.out" tx_pps)" pps "SYNs per second xdpgen sent ($(jget "$stem.out" sent) in all)"
  if [ -n "$c0" ] && [ -n "$c1" ]; then
    emit synflood "$c" "syncookies_$ph" "$((c1 - c0))" cookies \
      "SYN cookies sent during the phase: $([ "$c" = mqttlb ] && echo "mqttlb's stats (syncookies.sent); frames its worker's RX ring had no room for: $(delta "$drops1" "$drops0"); SYNs its XDP redirector dropped over connections.syn_rate: $(delta "$cut1" "$cut0")" || echo "the kernel's TcpExt SyncookiesSent ($ns namespace)")"
  fi
  [ -z "$CUR_PID" ] || emit synflood "$c" "rss_kib_$ph" "$rss" KiB "highest VmRSS of the balancer's processes sampled every 0.5 s during the phase"
}

scenario_synflood() {
  local c dst ns
  FLOOD_SECS=10
  [ "$QUICK" -eq 0 ] || FLOOD_SECS=3
  FLOOD_GEN_CORE=()
  [ "$BAL_CPU" -eq 0 ] || FLOOD_GEN_CORE=(--cores 0)
  for c in "${CONTENDERS[@]}"; do
    contender_start "$c"
    dst=$TOPO_VIP ns=lb
    [ "$c" != direct ] || dst=${BENCH_BROKERS[0]} ns=brk

    flood_phase "$c" base "$FLOOD_SECS"
    flood_emit "$c" base "no flood"
    [ -z "$CUR_PID" ] || emit synflood "$c" rss_kib_base "$(contender_rss_kib)" KiB "VmRSS of the balancer's processes after the base phase"
    flood_run "$c" flood "$FLOOD_FIXED" "$dst" "$ns"
    flood_run "$c" floodmax 0 "$dst" "$ns"
    [ -z "$CUR_PID" ] || emit synflood "$c" rss_kib_hwm "$(contender_rss_kib VmHWM)" KiB "VmHWM of the balancer's processes at the end"
    contender_stop
    if [ "$c" = mqttlb ]; then
      emit synflood "$c" syncookies_total "$(jget "$LAST_OUT" syncookies_sent)" cookies \
        "mqttlb's syncookies_sent over the contender's life (mqttlb run --json at exit; the ~$((3 * FLOOD_CLIENTS)) real connections included); validated $(jget "$LAST_OUT" syncookies_validated), rejected $(jget "$LAST_OUT" syncookies_rejected)"
    fi
  done
}

plot_synflood() {
  plot_bars "$OUT/synflood-rate.png" "100 publishers: msg/s without and during a SYN flood" "messages per second" \
    synflood msgs_per_s_base msgs_per_s_flood msgs_per_s_floodmax
  PLOT_LOGY=1 plot_bars "$OUT/synflood-latency.png" "100 publishers: p99 latency without and during a SYN flood (log scale)" "microseconds" \
    synflood lat_p99_us_base lat_p99_us_flood lat_p99_us_floodmax
  plot_bars "$OUT/synflood-rss.png" "Balancer memory without and during a SYN flood" "KiB (VmRSS)" \
    synflood rss_kib_base rss_kib_flood rss_kib_floodmax
}
