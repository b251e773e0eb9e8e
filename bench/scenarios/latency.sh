# shellcheck shell=bash
# Scenario `latency` (sourced by bench/run.sh): the latency a contender adds
# at a fixed, moderate rate.
#
# Per contender and QoS (0, 1): one subscriber per broker of the pool (one
# mqttload sub, three clients, in the brokers' namespace: it never crosses
# the balancer) on bench/lat/#; then 20 publishers through the contender,
# 100 msg/s each (2,000 msg/s in all), 64-byte payloads, for the run's
# duration. Latency is the subscriber's: receive time minus the send time
# stamped in the payload (CLOCK_MONOTONIC, one machine), so it covers
# publisher -> contender -> broker -> subscriber. added_* is the contender's
# percentile minus direct's (the floor) at the same QoS.

LAT_RATE=2000
LAT_CLIENTS=20

scenario_latency() {
  local secs=15 per c q stem m v d
  [ "$QUICK" -eq 0 ] || secs=3
  per=$((LAT_RATE / LAT_CLIENTS))
  for c in "${CONTENDERS[@]}"; do
    contender_start "$c"
    for q in 0 1; do
      sub_start "latency-$c-q$q-sub" 'bench/lat/#' "$q" $((secs + 60))
      next_log "latency-$c-q$q-pub"
      stem=$NEXT_LOG
      mqttload cli "$stem" $((secs + 60)) pub -H "$(target)" -c "$LAT_CLIENTS" -q "$q" -s 64 -r "$per" \
        -d "$secs" -t 'bench/lat/%i' -b "$CLIENT_ADDRS" || true
      sleep 0.5
      sub_stop
      for m in p50 p99 p999; do
        emit latency "$c" "lat_${m}_us_q$q" "$(jget "$SUB_STEM.json" "lat_${m}_us")" us \
          "$LAT_CLIENTS publishers x $per msg/s, QoS $q, 64-byte payloads, $secs s; publisher to subscriber (subscribers on the brokers); $(pool_note "$c")"
      done
      emit latency "$c" "received_q$q" "$(jget "$SUB_STEM.json" received)" msgs \
        "published $(jget "$stem.json" sent), acked $(jget "$stem.json" acked), duplicated $(jget "$SUB_STEM.json" duplicated)"
    done
    contender_stop
  done
  has_contender direct || return 0
  for c in "${CONTENDERS[@]}"; do
    [ "$c" != direct ] || continue
    for q in 0 1; do
      for m in p50 p99 p999; do
        v=$(csv_value latency "$c" "lat_${m}_us_q$q")
        d=$(csv_value latency direct "lat_${m}_us_q$q")
        emit latency "$c" "added_${m}_us_q$q" "$(sub_or_empty "$v" "$d")" us "$c's $m minus direct's (QoS $q)"
      done
    done
  done
}

plot_latency() {
  local q
  for q in 0 1; do
    PLOT_LOGY=1 plot_bars "$OUT/latency-q$q.png" "Publisher-to-subscriber latency at $LAT_RATE msg/s, QoS $q (log scale)" "microseconds" \
      latency "lat_p50_us_q$q" "lat_p99_us_q$q" "lat_p999_us_q$q"
  done
}
