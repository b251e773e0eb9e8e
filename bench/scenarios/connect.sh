# shellcheck shell=bash
# Scenario `connect` (sourced by bench/run.sh): connection setup.
#
# mqttlb runs here with one extra route, {client_id: "*", pool: bench}, so
# that every connection binds at its CONNECT and the broker's CONNACK is the
# one the client gets, as through every other contender (without it mqttlb
# answers CONNACK itself and opens the broker leg at the first PUBLISH).
#
# 1. Rate: mqttload conn opens M connections all at once (no -R pacing) from
#    8 client addresses and holds them briefly; conn_per_s is the tool's
#    (connections over the span they were made in), connect_p50/p99 the time
#    from SYN to CONNACK.
# 2. Reconnect storm: N clients connected (mqttload conn --reconnect), then
#    every connection the brokers hold is killed at once (ss -K in the
#    brokers' namespace: the brokers' sockets are aborted and send an RST,
#    which reaches each client through the contender). storm_broker_s is the
#    time until the brokers hold N connections again (ss, polled every 0.1 s);
#    storm_client_s is mqttload's reconnect_all_s (first drop to last
#    reconnection, client side). mqttlb's counters are read before and after
#    (mqttlb stats --json) to tell how many frames the kernel dropped on its
#    full RX rings meanwhile: an RST dropped there reaches its client only
#    when the client's next PINGREQ draws another (docs/config.md, ring_size).
# N is 10,000 (quick: 1,000). A proxy needs two descriptors per connection and
# the container's hard nofile limit cannot be raised, so HAProxy and NGINX get
# the largest N that fits (said in the notes).

scenario_connect() {
  local m=5000 n=10000 nn c stem pid t0 t1 got r0 r1 drops tmax=120 hold=8
  if [ "$QUICK" -eq 1 ]; then
    m=1000 n=1000 tmax=60 hold=4
  fi
  for c in "${CONTENDERS[@]}"; do
    contender_start "$c" bind-connect
    # 1. connections per second
    next_log "connect-$c-rate"
    stem=$NEXT_LOG
    mqttload cli "$stem" $((hold + 120)) conn -H "$(target)" -c "$m" -d "$hold" -b "$CLIENT_ADDRS" || true
    emit connect "$c" conn_per_s "$(jget "$stem.json" conn_per_s)" conn/s \
      "$m connections opened at once from 8 addresses; connected $(jget "$stem.json" connected), failed $(jget "$stem.json" connect_failed); $(pool_note "$c")"
    emit connect "$c" connect_p50_us "$(jget "$stem.json" connect_p50_us)" us "SYN to CONNACK, $m connections"
    emit connect "$c" connect_p99_us "$(jget "$stem.json" connect_p99_us)" us "SYN to CONNACK, $m connections"
    wait_until 30 broker_conns_none || warn "the brokers still hold $(broker_conns) connections"

    # 2. reconnect storm
    nn=$n
    case "$c" in
      haproxy | haproxy-cid | nginx) [ "$nn" -le $(((NOFILE - 200) / 2)) ] || nn=$(((NOFILE - 200) / 2 / 100 * 100)) ;;
    esac
    next_log "connect-$c-storm"
    stem=$NEXT_LOG
    mqttload_bg cli "$stem" conn -H "$(target)" -c "$nn" -d $((tmax * 3)) --reconnect -b "$CLIENT_ADDRS"
    pid=$BG_PID
    if ! wait_until "$tmax" broker_conns_at_least "$nn"; then
      got=$(broker_conns)
      stop_pid "$pid" 20 INT || true
      emit connect "$c" storm_broker_s "" s "only $got of $nn connections reached the brokers within $tmax s"
      contender_stop
      continue
    fi
    sleep 1
    r0=$(mqttlb_ring_full)
    t0=$(now_s)
    in_ns brk ss -K -tn state established "( sport = :$PORT )" >/dev/null
    got=""
    if wait_until "$tmax" broker_conns_at_least "$nn"; then
      t1=$(now_s)
      got=$(calc "$t1 - $t0")
    fi
    sleep 1
    r1=$(mqttlb_ring_full)
    stop_pid "$pid" 30 INT || true
    grep '^{' "$stem.out" | tail -n 1 >"$stem.json" || true
    drops=""
    [ "$c" != mqttlb ] || drops="; frames the kernel dropped on mqttlb's full RX rings meanwhile: $(delta "$r1" "$r0")"
    emit connect "$c" storm_broker_s "$got" s \
      "$nn clients (mqttload conn --reconnect); every broker-side connection killed at once (ss -K); until the brokers hold $nn again$([ "$nn" -eq "$n" ] || echo "; $nn, not $n: two descriptors per proxied connection, hard nofile limit $NOFILE")$drops"
    emit connect "$c" storm_client_s "$(jget "$stem.json" reconnect_all_s)" s \
      "mqttload's reconnect_all_s: first drop to the last client reconnected; reconnects $(jget "$stem.json" reconnects), connect_failed $(jget "$stem.json" connect_failed)"
    contender_stop
    if [ "$c" = mqttlb ]; then
      emit connect mqttlb broker_syn_retries "$(jget "$LAST_OUT" broker_syn_retries)" SYNs \
        "mqttlb's counters over both parts: SYNs to a broker sent again after connections.connect_timeout (250 ms by default, doubling); broker_failovers $(jget "$LAST_OUT" broker_failovers), syncookies sent $(jget "$LAST_OUT" syncookies_sent) / validated $(jget "$LAST_OUT" syncookies_validated), conn_total $(jget "$LAST_OUT" conn_total) (Mosquitto listens with a backlog of 100)"
    fi
    wait_until 30 broker_conns_none || true
  done
}

plot_connect() {
  plot_bars "$OUT/connect-rate.png" "Connections per second (SYN to CONNACK, opened at once)" "connections per second" \
    connect conn_per_s
  plot_bars "$OUT/connect-storm.png" "Reconnect storm: seconds until every client is back" "seconds" \
    connect storm_broker_s storm_client_s
}
