# shellcheck shell=bash
# Scenario `throughput` (sourced by bench/run.sh): messages per second
# through each contender, the balancer limited to one core.
#
# Per contender and per case (QoS 0 and 1 x small and 1,024-byte payloads):
# mqttload pub, 8 publishers from 8 client addresses, flat out (-r 0; QoS 1
# with 64 messages in flight per publisher), topics bench/tp/N, for the run's
# duration. msgs_per_s is what the tool reports: messages written per second
# at QoS 0, acknowledged per second at QoS 1. cpu_pct is the balancer
# process's CPU time over the same wall time (user + system of the process;
# the kernel's softirq work on the packets is not in it, for any contender).
# cpu_us_per_msg is that CPU time per message. Payloads of 16 bytes carry
# mqttload's short stamp (publisher id, 32-bit sequence number, send time).

THROUGHPUT_SMALL=16

# pool_note CONTENDER: where the contender sends the benchmark's topics.
pool_note() {
  local pool
  pool="pool $(broker_list , %s)"
  case "$1" in
    direct) echo "clients spread over the $pool directly" ;;
    mqttlb) echo "topic route bench/# -> $pool" ;;
    haproxy) echo "leastconn over the $pool (cannot route by topic: given the benchmark's pool)" ;;
    haproxy-cid) echo "leastconn + MQTT client-id stickiness over the $pool (cannot route by topic: given the benchmark's pool)" ;;
    nginx) echo "least_conn over the $pool (cannot route by topic: given the benchmark's pool)" ;;
    *) echo "$1" ;;
  esac
}

scenario_throughput() {
  local secs=10 clients=8 c q s stem t0 t1 k0 k1 cpu hz msgs
  [ "$QUICK" -eq 0 ] || secs=2
  hz=$(getconf CLK_TCK)
  for c in "${CONTENDERS[@]}"; do
    contender_start "$c"
    for q in 0 1; do
      for s in "$THROUGHPUT_SMALL" 1024; do
        next_log "throughput-$c-q$q-${s}B"
        stem=$NEXT_LOG
        k0=$(contender_cpu_ticks)
        t0=$(now_s)
        mqttload cli "$stem" $((secs + 60)) pub -H "$(target)" -c "$clients" -q "$q" -s "$s" -r 0 \
          -d "$secs" --inflight 64 -t 'bench/tp/%i' -b "$CLIENT_ADDRS" || true
        t1=$(now_s)
        k1=$(contender_cpu_ticks)
        emit throughput "$c" "msgs_per_s_q${q}_${s}B" "$(jget "$stem.json" msgs_per_s)" msg/s \
          "$clients publishers flat out, QoS $q$([ "$q" -eq 0 ] || echo ', 64 in flight each'), $s-byte payload, $secs s; sent $(jget "$stem.json" sent), acked $(jget "$stem.json" acked), connect_failed $(jget "$stem.json" connect_failed); $(pool_note "$c")"
        if [ "$c" != direct ]; then
          cpu=$(calc "($k1 - $k0) / $hz / ($t1 - $t0) * 100")
          emit throughput "$c" "cpu_pct_q${q}_${s}B" "$cpu" % "the balancer's processes: user + system time over the run's wall time (limit: 100, one core)"
          msgs=$(jget "$stem.json" "$([ "$q" -eq 0 ] && echo sent || echo acked)")
          emit throughput "$c" "cpu_us_per_msg_q${q}_${s}B" "$(div_or_empty "$(calc "($k1 - $k0) / $hz * 1000000")" "$msgs")" us \
            "the balancer's CPU time per message (same accounting: the kernel's softirq work is not in it)"
        fi
      done
    done
    contender_stop
  done
  if has_contender mqttlb && has_contender haproxy; then
    for q in 0 1; do
      for s in "$THROUGHPUT_SMALL" 1024; do
        emit throughput mqttlb "ratio_vs_haproxy_q${q}_${s}B" \
          "$(div_or_empty "$(csv_value throughput mqttlb "msgs_per_s_q${q}_${s}B")" "$(csv_value throughput haproxy "msgs_per_s_q${q}_${s}B")")" \
          ratio "mqttlb's msg/s over HAProxy's (target >= 2)"
      done
    done
  fi
}

plot_throughput() {
  local s=$THROUGHPUT_SMALL
  plot_bars "$OUT/throughput.png" "Messages per second through each contender (balancer on one core)" "messages per second" \
    throughput "msgs_per_s_q0_${s}B" msgs_per_s_q0_1024B "msgs_per_s_q1_${s}B" msgs_per_s_q1_1024B
  plot_bars "$OUT/throughput-cpu.png" "Balancer CPU time per message (user + system of its processes)" "microseconds per message" \
    throughput "cpu_us_per_msg_q0_${s}B" cpu_us_per_msg_q0_1024B "cpu_us_per_msg_q1_${s}B" cpu_us_per_msg_q1_1024B
}
