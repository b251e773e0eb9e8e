# shellcheck shell=bash
# Scenario `tls` (sourced by bench/run.sh): connection setup over TLS, the
# `connect` scenario's two measurements with the brokers terminating TLS
# and the balancer passing it through.
#
# The scenario makes its certificates with scripts/make-certs.sh into
# $WORK/tls-pki: a CA and one server certificate (ECDSA P-256, SAN
# bench.example.net), and starts three more Mosquittos in the brokers'
# namespace, one TLS listener each on 10.20.0.11-13:8883
# (cafile/certfile/keyfile; the plain brokers on :1883 stay up, idle).
# OpenSSL negotiates TLS 1.3 (X25519, ECDSA P-256) between mqttload and
# Mosquitto. The contenders, on the VIP's port 8883:
#   mqttlb   a `protocol: tls` listener; bound at the ClientHello by the
#            route {sni: bench.example.net, pool: bench-tls} (mqttlb-tls.yaml)
#   haproxy  mode tcp, inspect-delay 5s until req.ssl_hello_type 1,
#            use_backend by req.ssl_sni (haproxy-tls.cfg)
#   nginx    stream, ssl_preread on, map $ssl_preread_server_name
#            (nginx-tls.conf)
#   direct   the clients straight to the brokers' :8883
# (haproxy-cid does not apply: the client id is inside TLS; one NA row says so.)
# Every client verifies the broker's certificate (--cafile, and the name
# bench.example.net it sends as SNI), as a real client does; every connection
# is a full handshake (no resumption; BENCH_TLS_RESUME=1 lets the storm's
# clients resume their previous session instead).
#
# 1. Rate: mqttload conn --tls opens M connections at once from 8 client
#    addresses; conn_per_s is the tool's (CONNACKs over the span they were
#    made in), connect_p50/p99 SYN to CONNACK (the handshake included),
#    handshake_p50/p99 SYN to the end of the TLS handshake; cpu_us_per_conn
#    the balancer's CPU time over the part, less its idle rate, per
#    connection.
# 2. Reconnect storm: N clients connected (--reconnect), then every
#    connection the TLS brokers hold is killed at once (ss -K in the brokers'
#    namespace: an RST, which reaches each client through the contender);
#    storm_broker_s is the time until the brokers hold N TCP connections
#    again (a TLS handshake may still be under way on some), storm_client_s
#    mqttload's reconnect_all_s (the last CONNACK), read once every client is
#    back (mqttload --progress). Every client makes a new TLS handshake.
# M is 2,000 and N 3,000 (quick: 500 and 1,000): fewer than in `connect`,
# because this machine completes only a few hundred TLS handshakes a second
# (the clients' and the brokers' OpenSSL work on 2 cores); 5,000 and 10,000
# at once ran for minutes, every contender's retries and timeouts (the
# proxies' 5 s connect timeout, mqttlb's 5 s bind timeout for a ClientHello
# that did not come) feeding the overload, and measured that, not the
# balancers.
#
# A TLS handshake costs far more CPU than the balancer's work on a
# connection, and the brokers, the load tool and the balancer share this
# machine's cores: what `direct` reaches is the ceiling.

TLS_PORT=8883
TLS_SNI=bench.example.net
TLS_PKI=""
TLS_BROKER_PIDS=()

# tls_certs: a CA and the brokers' certificate in $TLS_PKI (scripts/make-certs.sh).
tls_certs() {
  TLS_PKI=$WORK/tls-pki
  next_log tls-certs
  if ! "$BENCH_DIR/../scripts/make-certs.sh" "$TLS_PKI" --san "DNS:$TLS_SNI" --label "bench TLS" \
    2>"$NEXT_LOG.out"; then
    cat "$NEXT_LOG.out" >&2
    die "making the TLS certificates with scripts/make-certs.sh failed"
  fi
}

# tls_brokers_start: one Mosquitto per bench broker with a TLS listener on :8883.
tls_brokers_start() {
  local b conf
  for b in "${BENCH_BROKERS[@]}"; do
    conf="$WORK/mosquitto-tls-$b.conf"
    cat >"$conf" <<EOF
# TLS broker $b of bench/run.sh's tls scenario
listener $TLS_PORT $b
cafile $TLS_PKI/ca.pem
certfile $TLS_PKI/server.pem
keyfile $TLS_PKI/server.key
allow_anonymous true
user root
persistence false
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
log_dest file $WORK/mosquitto-tls-$b.log
log_type error
log_type warning
EOF
    next_log "mosquitto-tls-$b"
    bg brk "$NEXT_LOG" "${LOAD_TASKSET[@]}" mosquitto -c "$conf"
    TLS_BROKER_PIDS+=("$BG_PID")
  done
  for b in "${BENCH_BROKERS[@]}"; do
    wait_until 10 tls_broker_listening "$b" || die "mosquitto (TLS) on $b:$TLS_PORT did not listen within 10 s"
  done
  say "mosquitto (TLS) listens on $(broker_list ' ' "%s:$TLS_PORT")"
}

tls_brokers_stop() {
  local p
  for p in "${TLS_BROKER_PIDS[@]}"; do stop_pid "$p" 10 || true; done
  TLS_BROKER_PIDS=()
}

tls_broker_listening() {
  in_ns brk ss -Hltn "sport = :$TLS_PORT" | grep -q "$1:$TLS_PORT"
}

# tls_broker_conns: TLS connections the brokers hold (clients', the
# proxies' or mqttlb's broker legs; its health checks are a handshake long).
tls_broker_conns() {
  in_ns brk ss -Htn state established "( sport = :$TLS_PORT )" |
    awk '$4 !~ /^10\.20\.0\.1[0-9]:/ { n++ } END { print n + 0 }'
}
tls_broker_conns_at_least() { [ "$(tls_broker_conns)" -ge "$1" ]; }
tls_broker_conns_none() { [ "$(tls_broker_conns)" -eq 0 ]; }

# tls_listen_counts NS: "LISTEN_OVERFLOWS SYNCOOKIES_SENT" of the namespace's
# kernel, absolute (nstat): SYNs or handshake ACKs dropped on a full accept
# queue (Mosquitto listens with a backlog of 100), and SYN cookies sent.
tls_listen_counts() {
  in_ns "$1" env NSTAT_HISTORY="$WORK/nstat-tls.hist" nstat -asz 2>/dev/null | awk '
    $1 == "TcpExtListenOverflows" { o = $2 } $1 == "TcpExtSyncookiesSent" { c = $2 }
    END { print o + 0, c + 0 }'
}

# tls_listen_note BEFORE AFTER NS-NAME: the counts' deltas, in words.
tls_listen_note() {
  local b a
  read -r -a b <<<"$1"
  read -r -a a <<<"$2"
  echo "$3's kernel: accept-queue overflows $((a[0] - b[0])), SYN cookies sent $((a[1] - b[1]))"
}

# tls_progress_lines STEM: mqttload's --progress lines so far (one a second).
tls_progress_lines() {
  local n
  n=$(grep -c '^mqttload: .*s up ' "$1.err" 2>/dev/null) || true
  echo "${n:-0}"
}
# tls_clients_now STEM: "up" (past CONNACK) on mqttload's last progress line.
tls_clients_now() {
  grep '^mqttload: .*s up ' "$1.err" 2>/dev/null | tail -n 1 |
    awk '{ for (i = 1; i < NF; i++) if ($i == "up") print $(i + 1) }'
}
# tls_clients_up STEM N AFTER: more than AFTER progress lines, the last with
# at least N clients up.
tls_clients_up() {
  local up
  [ "$(tls_progress_lines "$1")" -gt "$3" ] || return 1
  up=$(tls_clients_now "$1")
  [ "${up:-0}" -ge "$2" ]
}

# tls_client_args: mqttload's TLS options (a verifying client).
tls_client_args() {
  echo "--tls -p $TLS_PORT --sni $TLS_SNI --cafile $TLS_PKI/ca.pem"
}

# tls_probe HOST: one TLS handshake and MQTT CONNECT/CONNACK (mqttload).
tls_probe() {
  # shellcheck disable=SC2046 # the options are words
  in_ns cli timeout --foreground 10 "$MQTTLOAD" conn -H "$1" $(tls_client_args) -c 1 -d 0.3 \
    --connect-timeout 2 --quiet >/dev/null 2>&1
}

# tls_contender_start NAME: the contender on the VIP's :8883 (as
# contender_start in lib.sh, with the tls configurations); waits until it
# passes a TLS client through (bounded).
# shellcheck disable=SC2034 # CUR_OUT: read by lib.sh (contender_stop)
tls_contender_start() {
  local name=$1 stem servers="" b i=0 dir
  [ -z "$CUR" ] || contender_stop
  CUR=$name CUR_PID="" CUR_OUT="" CUR_ERR=""
  case "$name" in
    direct) return 0 ;;
    mqttlb)
      next_log mqttlb-tls
      stem=$NEXT_LOG
      render "$BENCH_SCEN_DIR/mqttlb-tls.yaml" "$stem.yaml" IF_C=lb-c IF_B=lb-b VIP="$TOPO_VIP" \
        PORT="$TLS_PORT" SRC="$TOPO_SRC" CPU="$BAL_CPU" SNI="$TLS_SNI" DIR="$WORK" \
        WINDOW="${BENCH_CONNECT_WINDOW:-64}" \
        BROKERS="$(broker_list ', ' "\"%s:$TLS_PORT\"")"
      bg lb "$stem" "$MQTTLB" run -c "$stem.yaml" --json
      CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$stem.err
      mqttlb_wait_running "$CUR_PID" "$CUR_ERR"
      ;;
    haproxy)
      for b in "${BENCH_BROKERS[@]}"; do
        i=$((i + 1))
        servers+="${servers:+$'\n'}    server b$i $b:$TLS_PORT"
      done
      next_log haproxy-tls
      stem=$NEXT_LOG
      render "$BENCH_SCEN_DIR/haproxy-tls.cfg" "$stem.cfg" CPU="$BAL_CPU" NOFILE="$NOFILE" \
        MAXCONN="$(((NOFILE - 100) / 2))" VIP="$TOPO_VIP" PORT="$TLS_PORT" SNI="$TLS_SNI" SERVERS="$servers"
      bg lb "$stem" /usr/sbin/haproxy -db -f "$stem.cfg"
      CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$stem.err
      ;;
    nginx)
      for b in "${BENCH_BROKERS[@]}"; do
        servers+="${servers:+$'\n'}        server $b:$TLS_PORT;"
      done
      next_log nginx-tls
      stem=$NEXT_LOG
      dir=$stem.d
      mkdir -p "$dir/logs"
      render "$BENCH_SCEN_DIR/nginx-tls.conf" "$stem.conf" CPU="$BAL_CPU" CPUMASK="$(cpumask "$BAL_CPU")" \
        NOFILE="$NOFILE" DIR="$dir" WORKER_CONNECTIONS="$((NOFILE - 100))" VIP="$TOPO_VIP" \
        PORT="$TLS_PORT" SNI="$TLS_SNI" SERVERS="$servers"
      bg lb "$stem" /usr/sbin/nginx -p "$dir" -c "$stem.conf" -e "$dir/nginx-error.log"
      CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$dir/nginx-error.log
      ;;
    *) die "tls: unknown contender '$name'" ;;
  esac
  if ! wait_until 20 tls_probe "$TOPO_VIP"; then
    say "--- $name's log:"
    tail -n 20 "$CUR_ERR" >&2 || true
    die "$name does not pass TLS to the brokers at $TOPO_VIP:$TLS_PORT within 20 s"
  fi
}

# tls_target: mqttload's hosts for the running contender.
tls_target() {
  if [ "$CUR" = direct ]; then broker_list , %s; else echo "$TOPO_VIP"; fi
}

scenario_tls() {
  local m=2000 n=3000 nn c stem pid t0 t1 got r0 r1 k0 k1 l0 l1 c0 c1 b0 b1 p0 drops tmax=90 hold=15 resume=() rnote notes
  if [ "$QUICK" -eq 1 ]; then
    m=500 n=1000 tmax=60 hold=6
  fi
  if [ "${BENCH_TLS_RESUME:-0}" = 1 ]; then
    resume=(--tls-resume)
    rnote="the clients resume their previous session (BENCH_TLS_RESUME=1)"
  else
    rnote="every reconnection a full handshake"
  fi
  tls_certs
  tls_brokers_start
  for c in "${CONTENDERS[@]}"; do
    if [ "$c" = haproxy-cid ]; then
      emit tls "$c" conn_per_s "" conn/s "not run: HAProxy's client-id stickiness reads the MQTT CONNECT, which is inside TLS here"
      continue
    fi
    tls_contender_start "$c"
    # 1. connections per second
    next_log "tls-$c-rate"
    stem=$NEXT_LOG
    # the balancer's CPU when idle (timers, health checks), to take off
    b0=$(contender_cpu_ticks)
    sleep 3
    b1=$(contender_cpu_ticks)
    k0=$(tls_listen_counts brk) l0=$(tls_listen_counts lb) c0=$(contender_cpu_ticks) t0=$(now_s)
    # shellcheck disable=SC2046 # the options are words
    mqttload cli "$stem" $((hold + 120)) conn -H "$(tls_target)" $(tls_client_args) -c "$m" -d "$hold" \
      -b "$CLIENT_ADDRS" --connect-timeout 30 || true
    k1=$(tls_listen_counts brk) l1=$(tls_listen_counts lb) c1=$(contender_cpu_ticks) t1=$(now_s)
    notes="$m TLS connections opened at once from 8 addresses (TLS 1.3, ECDSA P-256, the certificate verified); connected $(jget "$stem.json" connected), failed $(jget "$stem.json" connect_failed) $(jq -c '.connect_errors' "$stem.json" 2>/dev/null)"
    notes+="; $(tls_listen_note "$k0" "$k1" "the brokers' namespace")"
    case "$c" in haproxy | nginx) notes+=", $(tls_listen_note "$l0" "$l1" "the proxy's namespace")" ;; esac
    [ -z "$(jget "$stem.json" tls_error)" ] || notes+="; first TLS error: $(jget "$stem.json" tls_error)"
    case "$c" in
      haproxy | nginx) notes+="; the pool bench-tls (10.20.0.11-13:$TLS_PORT), routed by SNI" ;;
      mqttlb) notes+="; bound at the ClientHello by the sni route, pool bench-tls (least-connections)" ;;
      direct) notes+="; client i to broker i mod 3" ;;
    esac
    emit tls "$c" conn_per_s "$(jget "$stem.json" conn_per_s)" conn/s "$notes"
    emit tls "$c" connect_p50_us "$(jget "$stem.json" connect_p50_us)" us "SYN to CONNACK, the TLS handshake included, $m connections"
    emit tls "$c" connect_p99_us "$(jget "$stem.json" connect_p99_us)" us "SYN to CONNACK, the TLS handshake included, $m connections"
    emit tls "$c" handshake_p50_us "$(jget "$stem.json" tls_p50_us)" us "SYN to the end of the TLS handshake (client side), $m connections"
    emit tls "$c" handshake_p99_us "$(jget "$stem.json" tls_p99_us)" us "SYN to the end of the TLS handshake (client side), $m connections"
    if [ "$c" != direct ]; then
      got=$(calc "($c1 - $c0) - ($b1 - $b0) / 3 * ($t1 - $t0)")
      emit tls "$c" cpu_us_per_conn \
        "$(div_or_empty "$(calc "$got * 1000000 / $(getconf CLK_TCK)")" "$(jget "$stem.json" connects)")" us \
        "the balancer's user+system CPU over the rate part per connection made: $((c1 - c0)) clock ticks of 1/$(getconf CLK_TCK) s over $(calc "$t1 - $t0" | cut -d. -f1) s (the mqttload run, hold time included), less its idle rate ($((b1 - b0)) ticks in the 3 s before); the kernel's softirq work is not in it"
    fi
    wait_until 30 tls_broker_conns_none || warn "the TLS brokers still hold $(tls_broker_conns) connections"

    # 2. reconnect storm
    nn=$n
    case "$c" in
      haproxy | nginx) [ "$nn" -le $(((NOFILE - 200) / 2)) ] || nn=$(((NOFILE - 200) / 2 / 100 * 100)) ;;
    esac
    next_log "tls-$c-storm"
    stem=$NEXT_LOG
    # shellcheck disable=SC2046 # the options are words
    mqttload_bg cli "$stem" conn -H "$(tls_target)" $(tls_client_args) "${resume[@]}" -c "$nn" \
      -d $((tmax * 3)) --reconnect -b "$CLIENT_ADDRS" --connect-timeout 30 --progress
    pid=$BG_PID
    if ! wait_until "$tmax" tls_clients_up "$stem" "$nn" 0; then
      got=$(tls_clients_now "$stem")
      stop_pid "$pid" 20 INT || true
      emit tls "$c" storm_broker_s "" s "only ${got:-0} of $nn TLS clients connected (CONNACK) within $tmax s"
      contender_stop
      continue
    fi
    wait_until 10 tls_broker_conns_at_least "$nn" || true
    sleep 1
    r0=$(mqttlb_ring_full)
    k0=$(tls_listen_counts brk) l0=$(tls_listen_counts lb)
    t0=$(now_s)
    in_ns brk ss -K -tn state established "( sport = :$TLS_PORT )" >/dev/null
    p0=$(tls_progress_lines "$stem")
    got=""
    if wait_until "$tmax" tls_broker_conns_at_least "$nn"; then
      t1=$(now_s)
      got=$(calc "$t1 - $t0")
    fi
    # the clients: every one past CONNACK again, on a progress line printed
    # after the kill (bounded by what is left of tmax)
    wait_until "$tmax" tls_clients_up "$stem" "$nn" $((p0 + 1)) || true
    sleep 1
    r1=$(mqttlb_ring_full)
    k1=$(tls_listen_counts brk) l1=$(tls_listen_counts lb)
    stop_pid "$pid" 30 INT || true
    grep '^{' "$stem.out" | tail -n 1 >"$stem.json" || true
    drops="; from the kill until 1 s after all clients were back, $(tls_listen_note "$k0" "$k1" "the brokers' namespace")"
    case "$c" in haproxy | nginx) drops+=", $(tls_listen_note "$l0" "$l1" "the proxy's namespace")" ;; esac
    [ "$c" != mqttlb ] || drops+="; frames the kernel dropped on mqttlb's full RX rings meanwhile: $(delta "$r1" "$r0")"
    emit tls "$c" storm_broker_s "$got" s \
      "$nn TLS clients (mqttload conn --tls --reconnect); every broker-side connection killed at once (ss -K); until the brokers hold $nn TCP connections again (a connection counts from its TCP handshake: its TLS handshake may still be going on); $rnote$([ "$nn" -eq "$n" ] || echo "; $nn, not $n: two descriptors per proxied connection, hard nofile limit $NOFILE")$drops"
    emit tls "$c" storm_client_s "$(jget "$stem.json" reconnect_all_s)" s \
      "mqttload's reconnect_all_s: first drop to the last client reconnected (TLS handshake and CONNACK); reconnects $(jget "$stem.json" reconnects), connect_failed $(jget "$stem.json" connect_failed) $(jq -c '.connect_errors' "$stem.json" 2>/dev/null), handshakes $(jget "$stem.json" tls_handshakes) (resumed $(jget "$stem.json" tls_resumed)), handshake p50/p99 $(jget "$stem.json" tls_p50_us)/$(jget "$stem.json" tls_p99_us) us"
    contender_stop
    if [ "$c" = mqttlb ]; then
      emit tls mqttlb tls_malformed "$(jget "$LAST_OUT" tls_malformed)" conns \
        "mqttlb's counters over both parts: ClientHellos read whole $(jget "$LAST_OUT" tls_hellos), bound by sni $(jget "$LAST_OUT" tls_bound_sni) / by the listener's pool $(jget "$LAST_OUT" tls_bound_default); malformed (this row); timeouts $(jget "$LAST_OUT" timeouts), no_broker $(jget "$LAST_OUT" no_broker), conn_total $(jget "$LAST_OUT" conn_total), spliced $(jget "$LAST_OUT" spliced)"
      emit tls mqttlb broker_syn_retries "$(jget "$LAST_OUT" broker_syn_retries)" SYNs \
        "mqttlb's counters over both parts: SYNs to a broker sent again after connections.connect_timeout; broker_failovers $(jget "$LAST_OUT" broker_failovers), syncookies sent $(jget "$LAST_OUT" syncookies_sent) / validated $(jget "$LAST_OUT" syncookies_validated), retransmits $(jget "$LAST_OUT" retransmits)"
    fi
    wait_until 30 tls_broker_conns_none || true
  done
  tls_brokers_stop
}

plot_tls() {
  plot_bars "$OUT/tls-rate.png" "TLS passthrough: connections per second (SYN to CONNACK, handshake included)" \
    "connections per second" tls conn_per_s
  PLOT_EXTRA='set format y "%.1s%c"' plot_bars "$OUT/tls-connect-time.png" \
    "TLS passthrough: SYN to the end of the handshake, and to CONNACK" "microseconds" \
    tls handshake_p50_us connect_p50_us handshake_p99_us connect_p99_us
  plot_bars "$OUT/tls-storm.png" "TLS reconnect storm: seconds until every client is back" "seconds" \
    tls storm_broker_s storm_client_s
}
