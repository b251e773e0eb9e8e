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
#    handshake_p50/p99 SYN to the end of the TLS handshake. Over the burst
#    (mqttload's start to its last CONNACK, from /proc/stat sampled every
#    0.1 s), less the rate at rest in the 3 s before, per connection:
#    machine_us_per_conn the whole machine's CPU (/proc/stat: clients,
#    brokers, kernels and balancer), cpu_us_per_conn the balancer's own;
#    added_machine_us_per_conn is the first over direct's.
# 2. Reconnect storm: N clients connected (--reconnect), then every
#    connection the TLS brokers hold is killed at once (ss -K in the brokers'
#    namespace: an RST, which reaches each client through the contender);
#    storm_broker_s is the time until the brokers hold N TCP connections
#    again (a TLS handshake may still be under way on some), storm_client_s
#    mqttload's reconnect_all_s (the last CONNACK), read once every client is
#    back (mqttload --progress). Every client makes a new TLS handshake.
# Every contender runs both parts ROUNDS times (BENCH_TLS_ROUNDS, default 3,
# quick 1), in turn, the order rotated every round; each metric is the
# median of its rounds, every round's value in the notes: single runs moved
# by 30 % from run to run.
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

# tls_deltas BEFORE AFTER: two snapshots of counts (words), AFTER less
# BEFORE for each, separated by ", " (a missing count is 0).
tls_deltas() {
  awk -v b="$1" -v a="$2" 'BEGIN { n = split(a, y, " "); split(b, x, " ")
    for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? ", " : ""), y[i] - x[i]; print "" }'
}

# tls_listen_note BEFORE AFTER NS-NAME: the counts' deltas, in words.
tls_listen_note() {
  local d
  IFS=, read -r -a d <<<"$(tls_deltas "$1" "$2")"
  echo "$3's kernel: accept-queue overflows ${d[0]}, SYN cookies sent ${d[1]# }"
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
        WINDOW="${BENCH_CONNECT_WINDOW:-64}" RING="${BENCH_XSK_RING:-4096}" \
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

# tls_median V...: the median of the numbers given (with an even count the
# lower middle one); empty when none is a number.
tls_median() {
  printf '%s\n' "$@" | awk '$1 ~ /^-?[0-9.]+$/' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# tls_round V: V to a whole number; empty stays empty.
tls_round() { [ -z "$1" ] || printf '%.0f\n' "$1"; }

# tls_mqttlb_add: adds the stopped mqttlb's end-of-run counters ($LAST_OUT)
# to TLS_MQ, over every run of the scenario.
TLS_MQ_KEYS="tls_hellos tls_bound_sni tls_bound_default tls_malformed timeouts no_broker conn_total spliced broker_syn_retries broker_failovers syncookies_sent syncookies_validated retransmits connect_queued"
declare -A TLS_MQ=()
tls_mqttlb_add() {
  local k v
  for k in $TLS_MQ_KEYS; do
    v=$(jget "$LAST_OUT" "$k")
    TLS_MQ[$k]=$((${TLS_MQ[$k]:-0} + ${v:-0}))
  done
}

# tls_sampler FILE: /proc/stat's first line with the time, every 0.1 s, into
# FILE, in the background (TLS_SAMPLER_PID) until killed; bash builtins and
# sleep only, so that it takes next to nothing from the burst it measures.
tls_sampler() {
  (
    local line
    while :; do
      read -r line </proc/stat
      echo "$EPOCHREALTIME $line"
      sleep 0.1
    done
  ) >"$1" &
  TLS_SAMPLER_PID=$!
  PIDS+=("$TLS_SAMPLER_PID")
}

# tls_sample FILE T AFTER: the sampler's line at or before time T (AFTER 0)
# or at or after it (AFTER 1), as machine_stat prints it.
tls_sample() {
  local l
  l=$(awk -v t="$2" -v after="$3" '
    { if (!after && $1 <= t) l = $0; if (after && $1 >= t && l == "") l = $0 }
    END { if (l == "") exit 1; print l }' "$1") || return 1
  machine_stat_of "${l%% *}" "${l#* }"
}

# tls_mqttlb_drops: "RING_FULL RX_DROPPED TX_FULL NO_FRAME" of the running
# mqttlb, summed over its workers (empty for another contender).
tls_mqttlb_drops() {
  mqttlb_stats '[([.workers[].kernel_rx_ring_full] | add), ([.workers[].kernel_rx_dropped] | add), ([.workers[].drop_tx_full] | add), .counters.no_frame] | map(. // 0 | tostring) | join(" ")'
}

# tls_run_ns: the running contender's CPU time in ns, every thread of every
# process (/proc/PID/task/*/schedstat: exact, where clock ticks are 10 ms).
tls_run_ns() {
  local p
  for p in $(contender_pids); do cat "/proc/$p/task/"*/schedstat 2>/dev/null; done |
    awk '{ t += $1 } END { printf "%.0f\n", t }'
}

# tls_rate C R M HOLD: round R of the rate part for the running contender C:
# M connections at once, held HOLD s. Sets TLS_R[C.R.metric] for conn_per_s,
# the connect and handshake percentiles, cpu_us (the balancer's) and
# machine_us (the whole machine's), both per connection over the burst (from
# mqttload's start to its last CONNACK: its span of connections), less what
# the balancer and the machine used at rest in the 3 s before; and
# TLS_R[C.R.notes].
declare -A TLS_R=()
tls_rate() {
  local c=$1 r=$2 m=$3 hold=$4 stem b0 b1 s0 s1 n0 n1 k0 k1 l0 l1 c0 c1 d0 d1 t0 te ms0 ms1 rest w bs got span notes
  next_log "tls-$c-rate-$r"
  stem=$NEXT_LOG
  b0=$(contender_cpu_ticks) s0=$(machine_stat) n0=$(tls_run_ns)
  sleep 3
  b1=$(contender_cpu_ticks) s1=$(machine_stat) n1=$(tls_run_ns)
  rest=$(machine_busy "$s0" "$s1" | cut -d' ' -f2)
  k0=$(tls_listen_counts brk) l0=$(tls_listen_counts lb) c0=$(contender_cpu_ticks)
  d0=$(tls_mqttlb_drops)
  tls_sampler "$stem.stat"
  sleep 0.15
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2046 # the options are words
  mqttload cli "$stem" $((hold + 120)) conn -H "$(tls_target)" $(tls_client_args) -c "$m" -d "$hold" \
    -b "$CLIENT_ADDRS" --connect-timeout 30 || true
  c1=$(contender_cpu_ticks)
  kill "$TLS_SAMPLER_PID" 2>/dev/null || true
  wait "$TLS_SAMPLER_PID" 2>/dev/null || true
  forget_pid "$TLS_SAMPLER_PID"
  k1=$(tls_listen_counts brk) l1=$(tls_listen_counts lb) d1=$(tls_mqttlb_drops)
  got=$(jget "$stem.json" connects)
  # the burst: from mqttload's start to its last CONNACK (connections over
  # conn_per_s is the span from the first SYN to it; all start at once)
  span=$(div_or_empty "$got" "$(jget "$stem.json" conn_per_s)")
  te=$(calc "$t0 + ${span:-0}")
  ms0=$(tls_sample "$stem.stat" "$t0" 0) || true
  ms1=$(tls_sample "$stem.stat" "$te" 1) || true
  w="" bs=""
  [ -z "$ms0" ] || [ -z "$ms1" ] || read -r w _ bs _ < <(machine_busy "$ms0" "$ms1") || true
  TLS_R[$c.$r.conn_per_s]=$(jget "$stem.json" conn_per_s)
  TLS_R[$c.$r.connect_p50_us]=$(jget "$stem.json" connect_p50_us)
  TLS_R[$c.$r.connect_p99_us]=$(jget "$stem.json" connect_p99_us)
  TLS_R[$c.$r.handshake_p50_us]=$(jget "$stem.json" tls_p50_us)
  TLS_R[$c.$r.handshake_p99_us]=$(jget "$stem.json" tls_p99_us)
  TLS_R[$c.$r.machine_us]="" TLS_R[$c.$r.cpu_us]=""
  if [ -n "$w" ] && [ -n "$span" ]; then
    TLS_R[$c.$r.machine_us]=$(tls_round "$(div_or_empty "$(calc "($bs - ${rest:-0} / 100 * $w) * 1000000")" "$got")")
    # the balancer's clock ticks cover the whole run (hold included): its
    # rate at rest is taken off over the run, what is left is the burst's
    [ "$c" = direct ] ||
      TLS_R[$c.$r.cpu_us]=$(tls_round "$(div_or_empty "$(calc "(($c1 - $c0) - ($b1 - $b0) / 3 * ($EPOCHREALTIME - $t0)) * 1000000 / $MACHINE_HZ")" "$got")")
  fi
  notes="connected $(jget "$stem.json" connected), failed $(jget "$stem.json" connect_failed) $(jq -c '.connect_errors' "$stem.json" 2>/dev/null)"
  notes+=", burst $(printf '%.2f' "${w:-0}") s measured, machine busy at rest ${rest:-NA}%, the slowest connection $(jget "$stem.json" connect_max_us) us"
  [ "$c" = direct ] || notes+="; the balancer at rest (the 3 s before): $(calc "(${n1:-0} - ${n0:-0}) / 30000000" | cut -c1-5)% of a core"
  [ "$c" != mqttlb ] || notes+="; frames mqttlb's kernel dropped (RX ring full, other) and mqttlb's worker dropped (TX ring full, no frame): $(tls_deltas "${d0:-0 0 0 0}" "${d1:-0 0 0 0}")"
  notes+="; $(tls_listen_note "$k0" "$k1" "the brokers' namespace")"
  case "$c" in haproxy | nginx) notes+=", $(tls_listen_note "$l0" "$l1" "the proxy's namespace")" ;; esac
  [ -z "$(jget "$stem.json" tls_error)" ] || notes+="; first TLS error: $(jget "$stem.json" tls_error)"
  TLS_R[$c.$r.notes]=$notes
  wait_until 30 tls_broker_conns_none || warn "the TLS brokers still hold $(tls_broker_conns) connections"
}

# tls_rounds C METRIC ROUNDS: the rounds' values of METRIC for C, in order.
tls_rounds() {
  local r out=()
  for ((r = 1; r <= $3; r++)); do out+=("${TLS_R[$1.$r.$2]:-NA}"); done
  echo "${out[*]}"
}

# tls_rate_emit C ROUNDS M: the medians of C's rounds.
tls_rate_emit() {
  local c=$1 rounds=$2 m=$3 med r notes base
  # shellcheck disable=SC2046 # the rounds' values are words
  med=$(tls_median $(tls_rounds "$c" conn_per_s "$rounds"))
  notes="median of $rounds rounds (each contender in turn, the order rotated every round): $(tls_rounds "$c" conn_per_s "$rounds" | sed 's/ /, /g') conn/s; each $m TLS connections opened at once from 8 addresses (TLS 1.3, ECDSA P-256, the certificate verified)"
  case "$c" in
    haproxy | nginx) notes+="; the pool bench-tls (10.20.0.11-13:$TLS_PORT), routed by SNI" ;;
    mqttlb) notes+="; bound at the ClientHello by the sni route, pool bench-tls (least-connections)" ;;
    direct) notes+="; client i to broker i mod 3" ;;
  esac
  for ((r = 1; r <= rounds; r++)); do notes+="; round $r: ${TLS_R[$c.$r.notes]:-not run}"; done
  emit tls "$c" conn_per_s "$med" conn/s "$notes"
  for metric in connect_p50_us connect_p99_us handshake_p50_us handshake_p99_us; do
    # shellcheck disable=SC2046
    med=$(tls_median $(tls_rounds "$c" "$metric" "$rounds"))
    case "$metric" in
      connect*) notes="SYN to CONNACK, the TLS handshake included" ;;
      *) notes="SYN to the end of the TLS handshake (client side)" ;;
    esac
    emit tls "$c" "$metric" "$med" us "$notes, $m connections; median of the rounds' $(tls_rounds "$c" "$metric" "$rounds" | sed 's/ /, /g')"
  done
  # shellcheck disable=SC2046
  med=$(tls_median $(tls_rounds "$c" machine_us "$rounds"))
  emit tls "$c" machine_us_per_conn "$med" us \
    "the whole machine's CPU (/proc/stat: all cores' time less idle and iowait: clients, brokers, balancer, softirq) over the burst, from mqttload's start to its last CONNACK (/proc/stat sampled every 0.1 s), less the machine's rate at rest in the 3 s before, per connection; median of the rounds' $(tls_rounds "$c" machine_us "$rounds" | sed 's/ /, /g')"
  if [ "$c" != direct ]; then
    # shellcheck disable=SC2046
    base=$(tls_median $(tls_rounds direct machine_us "$rounds"))
    [ -z "$base" ] || [ -z "$med" ] ||
      emit tls "$c" added_machine_us_per_conn "$(sub_or_empty "$med" "$base")" us \
        "machine_us_per_conn over direct's ($base): what passing a TLS connection through the balancer costs the machine in all"
    # shellcheck disable=SC2046
    med=$(tls_median $(tls_rounds "$c" cpu_us "$rounds"))
    emit tls "$c" cpu_us_per_conn "$med" us \
      "the balancer's own user+system CPU (its processes' clock ticks of 1/$MACHINE_HZ s) over the mqttload run (the hold included), less its rate at rest in the 3 s before, per connection; the kernel's softirq work is not in it; median of the rounds' $(tls_rounds "$c" cpu_us "$rounds" | sed 's/ /, /g')"
  fi
}

# tls_storm C N TMAX: the reconnect storm for the running contender C.
# tls_storm C N TMAX R: round R of the reconnect storm for the running
# contender C; sets TLS_R[C.R.storm_broker_s], TLS_R[C.R.storm_client_s] and
# their notes (C.R.storm_bnotes, C.R.storm_cnotes).
tls_storm() {
  local c=$1 n=$2 tmax=$3 r=$4 nn stem pid t0 t1 got r0 r1 k0 k1 l0 l1 p0 drops rnote resume=()
  if [ "${BENCH_TLS_RESUME:-0}" = 1 ]; then
    resume=(--tls-resume)
    rnote="the clients resume their previous session (BENCH_TLS_RESUME=1)"
  else
    rnote="every reconnection a full handshake"
  fi
  nn=$n
  case "$c" in
    haproxy | nginx) [ "$nn" -le $(((NOFILE - 200) / 2)) ] || nn=$(((NOFILE - 200) / 2 / 100 * 100)) ;;
  esac
  next_log "tls-$c-storm-$r"
  stem=$NEXT_LOG
  TLS_R[$c.$r.storm_broker_s]="" TLS_R[$c.$r.storm_client_s]="" TLS_R[$c.$r.storm_cnotes]=""
  # shellcheck disable=SC2046 # the options are words
  mqttload_bg cli "$stem" conn -H "$(tls_target)" $(tls_client_args) "${resume[@]}" -c "$nn" \
    -d $((tmax * 3)) --reconnect -b "$CLIENT_ADDRS" --connect-timeout 30 --progress
  pid=$BG_PID
  if ! wait_until "$tmax" tls_clients_up "$stem" "$nn" 0; then
    got=$(tls_clients_now "$stem")
    stop_pid "$pid" 20 INT || true
    TLS_R[$c.$r.storm_bnotes]="only ${got:-0} of $nn TLS clients connected (CONNACK) within $tmax s"
    return 0
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
  TLS_R[$c.$r.storm_broker_s]=$got
  TLS_R[$c.$r.storm_bnotes]="$nn TLS clients (mqttload conn --tls --reconnect); every broker-side connection killed at once (ss -K); until the brokers hold $nn TCP connections again (a connection counts from its TCP handshake: its TLS handshake may still be going on); $rnote$([ "$nn" -eq "$n" ] || echo "; $nn, not $n: two descriptors per proxied connection, hard nofile limit $NOFILE")$drops"
  TLS_R[$c.$r.storm_client_s]=$(jget "$stem.json" reconnect_all_s)
  TLS_R[$c.$r.storm_cnotes]="reconnects $(jget "$stem.json" reconnects), connect_failed $(jget "$stem.json" connect_failed) $(jq -c '.connect_errors' "$stem.json" 2>/dev/null), handshakes $(jget "$stem.json" tls_handshakes) (resumed $(jget "$stem.json" tls_resumed)), handshake p50/p99 $(jget "$stem.json" tls_p50_us)/$(jget "$stem.json" tls_p99_us) us"
}

# tls_storm_emit C ROUNDS: the medians of C's storm rounds.
tls_storm_emit() {
  local c=$1 rounds=$2 r bn="" cn=""
  for ((r = 1; r <= rounds; r++)); do
    bn+="; round $r: ${TLS_R[$c.$r.storm_bnotes]:-not run}"
    cn+="; round $r: ${TLS_R[$c.$r.storm_cnotes]:-not run}"
  done
  # shellcheck disable=SC2046 # the rounds' values are words
  emit tls "$c" storm_broker_s "$(tls_median $(tls_rounds "$c" storm_broker_s "$rounds"))" s \
    "median of $rounds rounds: $(tls_rounds "$c" storm_broker_s "$rounds" | sed 's/ /, /g') s$bn"
  # shellcheck disable=SC2046
  emit tls "$c" storm_client_s "$(tls_median $(tls_rounds "$c" storm_client_s "$rounds"))" s \
    "mqttload's reconnect_all_s: first drop to the last client reconnected (TLS handshake and CONNACK); median of $rounds rounds: $(tls_rounds "$c" storm_client_s "$rounds" | sed 's/ /, /g') s$cn"
}

# tls_stop: stops the running contender; mqttlb's counters go into TLS_MQ.
tls_stop() {
  local c=$CUR
  contender_stop
  [ "$c" != mqttlb ] || tls_mqttlb_add
}

scenario_tls() {
  local m=2000 n=3000 tmax=90 hold=15 rounds=${BENCH_TLS_ROUNDS:-3} c r i k list=() run=()
  if [ "$QUICK" -eq 1 ]; then
    m=500 n=1000 tmax=60 hold=6 rounds=${BENCH_TLS_ROUNDS:-1}
  fi
  tls_certs
  tls_brokers_start
  for c in "${CONTENDERS[@]}"; do
    if [ "$c" = haproxy-cid ]; then
      emit tls "$c" conn_per_s "" conn/s "not run: HAProxy's client-id stickiness reads the MQTT CONNECT, which is inside TLS here"
      continue
    fi
    list+=("$c")
  done
  # every contender in turn, ROUNDS times, the order rotated each round (the
  # machine's drift and the order's effect fall on each contender alike);
  # each turn: 1. connections per second, 2. the reconnect storm
  for ((r = 1; r <= rounds; r++)); do
    run=()
    for ((i = 0; i < ${#list[@]}; i++)); do run+=("${list[$(((i + r - 1) % ${#list[@]}))]}"); done
    say "tls: round $r of $rounds: ${run[*]}"
    for c in "${run[@]}"; do
      tls_contender_start "$c"
      tls_rate "$c" "$r" "$m" "$hold"
      tls_storm "$c" "$n" "$tmax" "$r"
      tls_stop
      wait_until 30 tls_broker_conns_none || true
    done
  done
  for c in "${list[@]}"; do
    tls_rate_emit "$c" "$rounds" "$m"
    tls_storm_emit "$c" "$rounds"
  done
  if has_contender mqttlb; then
    for k in $TLS_MQ_KEYS; do : "${TLS_MQ[$k]:=0}"; done
    emit tls mqttlb tls_malformed "${TLS_MQ[tls_malformed]}" conns \
      "mqttlb's counters over every run of the scenario (every round's rate part and storm): ClientHellos read whole ${TLS_MQ[tls_hellos]}, bound by sni ${TLS_MQ[tls_bound_sni]} / by the listener's pool ${TLS_MQ[tls_bound_default]}; malformed (this row); timeouts ${TLS_MQ[timeouts]}, no_broker ${TLS_MQ[no_broker]}, conn_total ${TLS_MQ[conn_total]}, spliced ${TLS_MQ[spliced]}"
    emit tls mqttlb broker_syn_retries "${TLS_MQ[broker_syn_retries]}" SYNs \
      "mqttlb's counters over every run of the scenario: SYNs to a broker sent again after connections.connect_timeout; broker_failovers ${TLS_MQ[broker_failovers]}, syncookies sent ${TLS_MQ[syncookies_sent]} / validated ${TLS_MQ[syncookies_validated]}, retransmits ${TLS_MQ[retransmits]}, binds that waited for the connect window ${TLS_MQ[connect_queued]}"
  fi
  tls_brokers_stop
}

plot_tls() {
  plot_bars "$OUT/tls-rate.png" "TLS passthrough: connections per second (SYN to CONNACK, handshake included)" \
    "connections per second" tls conn_per_s
  PLOT_EXTRA='set format y "%.1s%c"' plot_bars "$OUT/tls-connect-time.png" \
    "TLS passthrough: SYN to the end of the handshake, and to CONNACK" "microseconds" \
    tls handshake_p50_us connect_p50_us handshake_p99_us connect_p99_us
  plot_bars "$OUT/tls-machine.png" "TLS passthrough: machine CPU per connection (clients, brokers, balancer)" \
    "microseconds per connection" tls machine_us_per_conn
  plot_bars "$OUT/tls-storm.png" "TLS reconnect storm: seconds until every client is back" "seconds" \
    tls storm_broker_s storm_client_s
}
