# shellcheck shell=bash
# Scenario `scale` (sourced by bench/run.sh): many idle MQTT connections
# through each contender, held with keepalives (issue 19).
#
# N idle connections per contender, as many as the nofile limits allow:
#   - direct and mqttlb hold no descriptor per connection, so N is limited
#     by the brokers (three Mosquittos of the pool `bench`, each holding a
#     third of N) and by the load tool (one descriptor per client): N is 90%
#     of three times the hard nofile limit, in thousands (54,000 with 20,000),
#     spread over as many `mqttload conn` processes as that needs (each at
#     most the limit - 200 clients, client ids of its own);
#   - a proxy needs two descriptors per connection in its one process:
#     N = (limit - 200) / 2, in hundreds (9,900 with 20,000).
#   direct and mqttlb run at both sizes (`direct@N`, `mqttlb@N` at the
#   proxies' N), so that every contender has direct's numbers at its own N
#   and mqttlb compares with the proxies at theirs.
# Clients connect from the 8 client addresses, all at once (mqttload conn,
# --reconnect, connect timeout 30 s), with an MQTT keepalive of 20 s (quick:
# 10 s): each sends a PINGREQ after 10 s (5 s) without sending, so the
# at-rest window sees every connection ping about twice (once).
# mqttlb runs from mqttlb-scale.yaml: every connection bound at its CONNECT
# (as in `connect`), max_connections = N + 1024, buffer_total 16 KiB per
# connection (every client of the burst finds its 8 KiB reserve).
#
# First, once: a warm-up of N clients direct to the brokers, connected and
# dropped, not measured (the brokers' heaps then hold what N connections
# take before any run, not in whichever run comes first); and no TIME_WAIT
# in the three namespaces for the scenario (tcp_max_tw_buckets 0, restored
# at its end): a run's N closed connections would otherwise sit in slab for
# 60 s and leave it during the next run's measurement.
# Per run, in order:
#   1. the contender starts (mqttlb: its flow table is allocated and faulted
#      in here, the UMEM too); 3 s later its own CPU over 3 s with no client
#      (in rest_cpu_pct's notes);
#   2. before: the contender's VmRSS, the machine's MemAvailable and the
#      memory the run accounts for (below) (5 samples 0.4 s apart, the
#      medians; no cache drop);
#   3. the clients start; conn_per_s = N / the time until the brokers hold
#      N established connections (ss in the brokers' namespace, polled every
#      0.25 s; for mqttlb and the proxies these are their broker legs);
#   4. 5 s to settle (quick: 2 s), then after: the same again;
#   5. at rest, all N holding keepalives: the machine's busy jiffies
#      (/proc/stat: all but idle and iowait, both cores) and the contender's
#      own ticks (utime + stime of its processes) over 20 s (quick: 5 s);
#   6. the clients stop (SIGINT: their JSON), the contender stops, the
#      brokers drain; MemAvailable once more (after, in the notes: how far
#      the machine came back, a measure of the noise).
#
# Metrics:
#   conn_per_s                N / seconds until all were connected
#   rss_delta_kib, rss_per_conn_b
#                             the contender's VmRSS after - before (mqttlb:
#                             its flow table is in "before": see table_kib)
#   memavail_delta_kib, memavail_per_conn_b
#                             the machine's MemAvailable before - after: the
#                             clients', brokers' and contender's memory,
#                             user and kernel (socket buffers and structs)
#   mem_per_conn_b            the contender's memory per connection: its
#                             memavail_per_conn_b minus direct's at the same
#                             N (what the brokers and clients hold cancels
#                             out; a kernel proxy's two sockets per
#                             connection remain, which no RSS shows); for
#                             mqttlb plus table_kib / N, the table it
#                             allocated for max_connections at start
#   accounted_delta_kib, accounted_per_conn_b, accounted_mem_per_conn_b
#                             the same from what the run accounts for: the
#                             kernel's Slab (TCP sockets, their inodes,
#                             dentries, files, epoll items) + TCP's socket
#                             buffer pages (/proc/net/sockstat) + the VmRSS
#                             of every process in the run's namespaces.
#                             Slab is machine-wide too, but the builds and
#                             tests that share the machine move it by a few
#                             MiB where they move MemAvailable by hundreds
#                             (their compilers' anonymous memory)
#   rest_cpu_pct, rest_cpu_ns_per_conn_s
#                             the contender's own CPU at rest (100 = one
#                             core), and per connection per second
#   rest_machine_cpu_pct, rest_machine_added_ns_per_conn_s
#                             the machine's busy CPU at rest (100 = one core
#                             of the two), and the contender's added busy
#                             time over direct's at the same N per
#                             connection per second (includes the kernel's
#                             softirq work, mqttlb's AF_XDP copies and the
#                             proxies' TCP)
#   table_kib, table_per_conn_b (mqttlb)
#                             the worker's flow table (conn table = entries
#                             of sizeof(struct conn) rounded to 64 bytes, and
#                             its index): mqttlb stats exposes no size, so it
#                             is taken from flow_table__new with the same
#                             arguments as lb_worker__new (bench/conn_mem
#                             --table MAX_CONNECTIONS)

SCALE_CONN_MEM=""

# scale_memavail: MemAvailable now (KiB).
scale_memavail() { awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo; }

# scale_ns_rss_kib NS: VmRSS summed over the processes in namespace NS.
scale_ns_rss_kib() {
  local p t=0 v
  for p in $(ip netns pids "$(ns_name "$1")" 2>/dev/null); do
    v=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# scale_mem_sample: 5 samples 0.4 s apart of MemAvailable and of the memory
# the run accounts for: the kernel's slab (Slab: TCP sockets, their inodes,
# dentries, files, epoll items, small socket buffers), TCP's socket buffer
# pages (/proc/net/sockstat "mem", machine-wide) and the VmRSS of every
# process in the run's three namespaces (clients, contender, brokers).
# SCALE_MEM is MemAvailable's median, SCALE_MEM_SPREAD its max - min; the
# others the medians (KiB): SCALE_SLAB SCALE_SOCK SCALE_RSS_CLI SCALE_RSS_LB
# SCALE_RSS_BRK, and SCALE_ACC their sum.
scale_mem_sample() {
  local v=() slab=() sock=() rc=() rl=() rb=() i
  for i in 1 2 3 4 5; do
    v+=("$(scale_memavail)")
    slab+=("$(awk '$1 == "Slab:" { print $2 }' /proc/meminfo)")
    sock+=("$(awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) * 4 }' /proc/net/sockstat)")
    rc+=("$(scale_ns_rss_kib cli)")
    rl+=("$(scale_ns_rss_kib lb)")
    rb+=("$(scale_ns_rss_kib brk)")
    [ "$i" -eq 5 ] || sleep 0.4
  done
  SCALE_MEM=$(scale_median "${v[@]}")
  SCALE_MEM_SPREAD=$(printf '%s\n' "${v[@]}" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print hi - lo }')
  SCALE_SLAB=$(scale_median "${slab[@]}")
  SCALE_SOCK=$(scale_median "${sock[@]}")
  SCALE_RSS_CLI=$(scale_median "${rc[@]}")
  SCALE_RSS_LB=$(scale_median "${rl[@]}")
  SCALE_RSS_BRK=$(scale_median "${rb[@]}")
  SCALE_ACC=$((SCALE_SLAB + SCALE_SOCK + SCALE_RSS_CLI + SCALE_RSS_LB + SCALE_RSS_BRK))
}

# scale_median V...: the median of the values (numbers).
scale_median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }

# scale_busy: the machine's busy jiffies so far (user nice system irq softirq
# steal of /proc/stat's cpu line: all but idle and iowait; guest time is in
# user already).
scale_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# scale_conn_mem: bench/conn_mem in the build directory (built here unless
# --no-build); empty when it cannot be had.
scale_conn_mem() {
  if [ "$NO_BUILD" -eq 0 ]; then
    cmake --build "$BUILD" --target conn_mem -j "$(nproc)" >"$LOGS/conn_mem-build.log" 2>&1 ||
      warn "could not build conn_mem (see $LOGS/conn_mem-build.log): no table size"
  fi
  if [ -x "$BUILD/bench/conn_mem" ]; then readlink -f "$BUILD/bench/conn_mem"; fi
}

# scale_mqttlb_start N: mqttlb from mqttlb-scale.yaml sized for N connections
# (the contender_start of lib.sh, with max_connections and buffer_total set).
scale_mqttlb_start() {
  local n=$1 stem mib
  [ -z "$CUR" ] || contender_stop
  mib=$(((n * 16 + 1023) / 1024))
  [ "$mib" -ge 256 ] || mib=256
  [ "$mib" -le 4095 ] || mib=4095
  SCALE_MAXCONN=$((n + 1024))
  SCALE_BUFFER_TOTAL=${mib}m
  # shellcheck disable=SC2034 # CUR_OUT: read by lib.sh's contender_stop
  CUR=mqttlb CUR_PID="" CUR_OUT=""
  next_log mqttlb-scale
  stem=$NEXT_LOG
  render "$BENCH_SCEN_DIR/mqttlb-scale.yaml" "$stem.yaml" IF_C=lb-c IF_B=lb-b VIP="$TOPO_VIP" PORT="$PORT" \
    SRC="$TOPO_SRC" CPU="$BAL_CPU" BROKERS="$(broker_list ', ' '"%s:1883"')" \
    OTHER="\"$OTHER_BROKER:$PORT\"" DIR="$WORK" MAXCONN="$SCALE_MAXCONN" \
    BUFFER_TOTAL="$SCALE_BUFFER_TOTAL" CONN_EXTRA="$(mqttlb_conn_extra)"
  bg lb "$stem" "$MQTTLB" run -c "$stem.yaml" --json
  # shellcheck disable=SC2034
  CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$stem.err
  mqttlb_wait_running "$CUR_PID" "$CUR_ERR"
  if ! wait_until 15 probe "$TOPO_VIP"; then
    tail -n 20 "$CUR_ERR" >&2 || true
    die "mqttlb does not answer MQTT at $TOPO_VIP:$PORT within 15 s"
  fi
}

# scale_clients_start LABEL N: N clients at once through the running
# contender, in as many mqttload conn processes as the limit needs
# (SCALE_STEMS, SCALE_PIDS); SCALE_T0 is when they started.
scale_clients_start() {
  local k per stem nproc
  nproc=$((($2 + SCALE_PER_PROC - 1) / SCALE_PER_PROC))
  SCALE_STEMS=() SCALE_PIDS=()
  SCALE_T0=$(now_s)
  for ((k = 1; k <= nproc; k++)); do
    per=$(($2 / nproc + (k <= $2 % nproc ? 1 : 0)))
    next_log "scale-$1-load$k"
    stem=$NEXT_LOG
    mqttload_bg cli "$stem" conn -H "$(target)" -c "$per" -d 900 --keepalive "$SCALE_KA" \
      --connect-timeout 30 --reconnect -b "$CLIENT_ADDRS" -i "scale$k-%i"
    SCALE_STEMS+=("$stem")
    SCALE_PIDS+=("$BG_PID")
  done
}

# scale_clients_wait N: until the brokers hold N established connections
# (polled every 0.25 s) or SCALE_TMAX; SCALE_GOT is the count, SCALE_T1 when.
scale_clients_wait() {
  while :; do
    SCALE_GOT=$(broker_conns)
    SCALE_T1=$(now_s)
    [ "$SCALE_GOT" -lt "$1" ] || return 0
    ! awk -v a="$SCALE_T1" -v b="$SCALE_T0" -v m="$SCALE_TMAX" 'BEGIN { exit !(a - b > m) }' || return 0
    sleep 0.25
  done
}

# scale_clients_stop: SIGINT to every client process, their JSON collected;
# the sums in SCALE_CONNECTED SCALE_FAILED SCALE_RECONNECTS SCALE_DROPPED,
# each process's conn_per_s in SCALE_RATES.
scale_clients_stop() {
  local k j
  SCALE_CONNECTED=0 SCALE_FAILED=0 SCALE_RECONNECTS=0 SCALE_DROPPED=0 SCALE_RATES=""
  for k in "${!SCALE_PIDS[@]}"; do kill -INT "${SCALE_PIDS[k]}" 2>/dev/null || true; done
  for k in "${!SCALE_PIDS[@]}"; do
    j=${SCALE_STEMS[k]}.json
    mqttload_collect "${SCALE_STEMS[k]}" "${SCALE_PIDS[k]}" 60 || true
    SCALE_CONNECTED=$((SCALE_CONNECTED + $(jget "$j" connected | cut -d. -f1) + 0))
    SCALE_FAILED=$((SCALE_FAILED + $(jget "$j" connect_failed | cut -d. -f1) + 0))
    SCALE_RECONNECTS=$((SCALE_RECONNECTS + $(jget "$j" reconnects | cut -d. -f1) + 0))
    SCALE_DROPPED=$((SCALE_DROPPED + $(jget "$j" disconnected | cut -d. -f1) + 0))
    SCALE_RATES+="${SCALE_RATES:+, }$(jget "$j" conn_per_s | cut -d. -f1)"
  done
  SCALE_PIDS=() SCALE_STEMS=()
}

# scale_warmup N: N clients straight to the brokers, connected and dropped,
# nothing measured: the brokers' heaps grow to what N connections take once,
# before the first measured run, and not in whichever run comes first.
scale_warmup() {
  say "  scale: warm-up, $1 connections direct (not measured)"
  contender_start direct
  scale_clients_start warmup "$1"
  scale_clients_wait "$1"
  scale_clients_stop
  contender_stop
  wait_until 90 broker_conns_none || warn "the brokers still hold $(broker_conns) connections"
}

# scale_run LABEL CONTENDER N: one run (the header's steps 1-6); results
# under LABEL. Sets SCALE_DMEM[N], SCALE_DACC[N] and SCALE_DBUSY[N] when
# CONTENDER is direct.
scale_run() {
  local label=$1 c=$2 n=$3 nproc t0 t1 got="" rate="" tconn="" k0 k1 b0 b1 w0 w1
  local rss0 rss1 m0 m0s m1 m1s m2 m2s idle_pct nconn dmem dbusy mem per rest_pct rest_ns mach_pct added tbl="" tnote="" tj extra=""
  local hz a0 a1 a0n a1n acc pacc dacc ki0 ki1 wi0 wi1
  hz=$(getconf CLK_TCK)
  say "  scale: $label, $n connections"
  if [ "$c" = mqttlb ]; then scale_mqttlb_start "$n"; else contender_start "$c"; fi
  # 1. the contender alone
  sleep 3
  ki0=$(contender_cpu_ticks)
  wi0=$(now_s)
  sleep "$SCALE_IDLE_S"
  ki1=$(contender_cpu_ticks)
  wi1=$(now_s)
  idle_pct=$(calc "($ki1 - $ki0) / $hz / ($wi1 - $wi0) * 100")
  # 2. before
  rss0=$(contender_rss_kib)
  scale_mem_sample
  m0=$SCALE_MEM m0s=$SCALE_MEM_SPREAD
  a0=$SCALE_ACC
  a0n="slab $SCALE_SLAB, socket pages $SCALE_SOCK, RSS clients $SCALE_RSS_CLI, contender $SCALE_RSS_LB, brokers $SCALE_RSS_BRK"
  # 3. the clients, all at once
  scale_clients_start "$label" "$n"
  nproc=${#SCALE_PIDS[@]}
  scale_clients_wait "$n"
  got=$SCALE_GOT t0=$SCALE_T0 t1=$SCALE_T1
  if [ "$got" -ge "$n" ]; then
    tconn=$(calc "$t1 - $t0")
    rate=$(calc "$n / ($t1 - $t0)")
  fi
  nconn=$got
  [ "$nconn" -gt 0 ] || nconn=1
  # 4. settled
  sleep "$SCALE_SETTLE_S"
  rss1=$(contender_rss_kib)
  scale_mem_sample
  m1=$SCALE_MEM m1s=$SCALE_MEM_SPREAD
  a1=$SCALE_ACC
  a1n="slab $SCALE_SLAB, socket pages $SCALE_SOCK, RSS clients $SCALE_RSS_CLI, contender $SCALE_RSS_LB, brokers $SCALE_RSS_BRK"
  # 5. at rest
  k0=$(contender_cpu_ticks)
  b0=$(scale_busy)
  w0=$(now_s)
  sleep "$SCALE_REST_S"
  k1=$(contender_cpu_ticks)
  b1=$(scale_busy)
  w1=$(now_s)
  if [ "$c" = mqttlb ]; then
    extra="; mqttlb: connections.active $(mqttlb_stats '.connections.active'), drop_syn_rate $(mqttlb_stats '[.xdp[].drop_syn_rate] | add'), budget_refused $(mqttlb_stats '.counters.budget_refused'), broker_syn_retries $(mqttlb_stats '.counters.broker_syn_retries'), connect_queued $(mqttlb_stats '.counters.connect_queued'), conn_table_full $(mqttlb_stats '.counters.conn_table_full'), timeouts $(mqttlb_stats '.counters.timeouts') (close_timeouts $(mqttlb_stats '.counters.close_timeouts')), frames dropped on its full RX ring $(mqttlb_ring_full)"
  fi
  # 6. stop
  scale_clients_stop
  contender_stop
  wait_until 90 broker_conns_none || warn "the brokers still hold $(broker_conns) connections"
  sleep "$SCALE_SETTLE_S"
  scale_mem_sample
  m2=$SCALE_MEM m2s=$SCALE_MEM_SPREAD

  local cnote mnote
  cnote="$n connections ($SCALE_NOTE_N) from $NCLIENT_ADDRS addresses in $nproc mqttload conn processes (connected $SCALE_CONNECTED, connect_failed $SCALE_FAILED, reconnects $SCALE_RECONNECTS, dropped $SCALE_DROPPED; each process's conn_per_s: $SCALE_RATES), keepalive $SCALE_KA s; $(pool_note "$c")"
  if [ -n "$rate" ]; then
    emit scale "$label" conn_per_s "$rate" conn/s "all $n at the brokers after $(printf '%.1f' "$tconn") s (ss, polled every 0.25 s); $cnote$extra"
  else
    emit scale "$label" conn_per_s "" conn/s "only $got of $n connections reached the brokers within $SCALE_TMAX s; $cnote$extra"
  fi
  mnote="MemAvailable median of 5 samples 0.4 s apart: before $m0 KiB (spread $m0s), after $m1 KiB (spread $m1s), after the run stopped $m2 KiB (spread $m2s; $((m2 - m0)) KiB from before)"
  mem=$((m0 - m1))
  per=$(calc "$mem * 1024 / $nconn")
  emit scale "$label" memavail_delta_kib "$mem" KiB "$nconn connections: the machine's MemAvailable before the clients - after (clients, brokers, contender; user and kernel); $mnote"
  emit scale "$label" memavail_per_conn_b "$per" B "memavail_delta_kib / $nconn connections"
  acc=$((a1 - a0))
  pacc=$(calc "$acc * 1024 / $nconn")
  emit scale "$label" accounted_delta_kib "$acc" KiB "$nconn connections: the memory the run accounts for, after - before: the kernel's Slab (sockets and what goes with them; machine-wide, but little else on the machine moves it) + TCP's socket buffer pages (sockstat) + VmRSS of every process in the three namespaces; medians of the 5 samples (KiB), before: $a0n; after: $a1n"
  emit scale "$label" accounted_per_conn_b "$pacc" B "accounted_delta_kib / $nconn connections"
  if [ "$c" != direct ]; then
    emit scale "$label" rss_delta_kib "$((rss1 - rss0))" KiB "the contender's VmRSS (all its processes) after - before: $rss0 -> $rss1 KiB$([ "$c" != mqttlb ] || echo '; its flow table and UMEM are in before (allocated and faulted in at start)')"
    emit scale "$label" rss_per_conn_b "$(calc "($rss1 - $rss0) * 1024 / $nconn")" B "rss_delta_kib / $nconn connections"
  fi
  if [ "$c" = mqttlb ] && [ -n "$SCALE_CONN_MEM" ]; then
    tj=$("$SCALE_CONN_MEM" --table "$SCALE_MAXCONN" 2>>"$LOGS/conn_mem.err" || true)
    tbl=$(jq -r '.bytes // empty' <<<"$tj" 2>/dev/null || true)
    if [ -n "$tbl" ]; then
      tnote="entries $(jq -r '.capacity' <<<"$tj") x $(jq -r '.stride' <<<"$tj") B (sizeof(struct conn) $(jq -r '.sizeof_conn' <<<"$tj") rounded to 64) + index $(jq -r '.slots' <<<"$tj") slots x 8 B + port hints 256 KiB"
      emit scale "$label" table_kib "$((tbl / 1024))" KiB "the worker's flow table for max_connections $SCALE_MAXCONN (buffer_total $SCALE_BUFFER_TOTAL): $tnote; mqttlb stats exposes no table size: flow_table__new with lb_worker__new's arguments (bench/conn_mem --table $SCALE_MAXCONN)"
      emit scale "$label" table_per_conn_b "$(calc "$tbl / $nconn")" B "table_kib / $nconn connections (allocated up front for max_connections, in RSS from the start)"
    fi
  fi
  dmem=${SCALE_DMEM[$n]:-}
  dacc=${SCALE_DACC[$n]:-}
  dbusy=${SCALE_DBUSY[$n]:-}
  local pm tadd="" tnote2=""
  if [ "$c" = mqttlb ] && [ -n "$tbl" ]; then
    tadd=" + $tbl / $nconn"
    tnote2=", + table_per_conn_b (allocated at start, before the first sample)"
  fi
  if [ "$c" = direct ]; then
    SCALE_DMEM[$n]=$per
    SCALE_DACC[$n]=$pacc
  elif [ -n "$dmem" ]; then
    pm=$(calc "$per - $dmem")
    emit scale "$label" mem_per_conn_b "$(calc "$pm$tadd")" B "memavail_per_conn_b - direct's at $n ($(printf '%.0f' "$dmem") B: clients and brokers) = $(printf '%.0f' "$pm") B$tnote2; a kernel proxy's two sockets per connection are in it; MemAvailable is machine-wide and moves by tens of MiB with whatever else runs on the machine (see memavail_delta_kib's notes): accounted_mem_per_conn_b is the steadier figure"
    pm=$(calc "$pacc - $dacc")
    emit scale "$label" accounted_mem_per_conn_b "$(calc "$pm$tadd")" B "accounted_per_conn_b - direct's at $n ($(printf '%.0f' "$dacc") B) = $(printf '%.0f' "$pm") B$tnote2: the contender's RSS and the kernel memory (slab, socket pages) its connections add, a kernel proxy's two sockets per connection included"
  else
    emit scale "$label" mem_per_conn_b "" B "no direct run at $n connections to subtract (--contenders without direct)"
  fi
  rest_pct=$(calc "($k1 - $k0) / $hz / ($w1 - $w0) * 100")
  mach_pct=$(calc "($b1 - $b0) / $hz / ($w1 - $w0) * 100")
  local busy_ns
  busy_ns=$(calc "($b1 - $b0) * 1e9 / $hz / ($w1 - $w0) / $nconn")
  if [ "$c" != direct ]; then
    rest_ns=$(calc "($k1 - $k0) * 1e9 / $hz / ($w1 - $w0) / $nconn")
    emit scale "$label" rest_cpu_pct "$rest_pct" % "the contender's own user + system time over $(printf '%.1f' "$(calc "$w1 - $w0")") s at rest with $nconn connections holding keepalives ($((k1 - k0)) ticks of 1/$hz s; limit 100, one core); with no client: $(printf '%.2f' "$idle_pct")% ($((ki1 - ki0)) ticks over $(printf '%.1f' "$(calc "$wi1 - $wi0")") s), so $(printf '%.0f' "$(calc "(($k1 - $k0) / ($w1 - $w0) - ($ki1 - $ki0) / ($wi1 - $wi0)) * 1e9 / $hz / $nconn")") ns per connection per second over that"
    emit scale "$label" rest_cpu_ns_per_conn_s "$rest_ns" ns "rest_cpu_pct as CPU nanoseconds per connection per second"
  fi
  emit scale "$label" rest_machine_cpu_pct "$mach_pct" % "the machine's busy jiffies (/proc/stat: all but idle and iowait) over the same window: clients, brokers, contender, softirq; 100 = one core (of $(nproc)); $((b1 - b0)) jiffies"
  if [ "$c" = direct ]; then
    SCALE_DBUSY[$n]=$busy_ns
  elif [ -n "$dbusy" ]; then
    added=$(calc "$busy_ns - $dbusy")
    emit scale "$label" rest_machine_added_ns_per_conn_s "$added" ns "the machine's busy CPU ns per connection per second at rest ($(printf '%.0f' "$busy_ns")) - direct's at $n ($(printf '%.0f' "$dbusy")); a few jiffies of noise are ~$(printf '%.0f' "$(calc "3 * 1e9 / $hz / ($w1 - $w0) / $nconn")") ns here"
  fi
}

scenario_scale() {
  local big small c ns
  local -A tw=()
  declare -gA SCALE_DMEM=() SCALE_DACC=() SCALE_DBUSY=()
  SCALE_KA=20 SCALE_IDLE_S=3 SCALE_SETTLE_S=5 SCALE_REST_S=20 SCALE_TMAX=150
  SCALE_PER_PROC=$((NOFILE - 200))
  # the brokers: 90% of the limit each, three of them
  big=$((NOFILE * 27 / 10000))
  big=$((big * 1000))
  small=$(((NOFILE - 200) / 2 / 100 * 100))
  SCALE_NOTE_N="hard nofile limit $NOFILE: $big for direct and mqttlb (3 brokers at 90% of it each), $small for a proxy (2 descriptors per connection)"
  if [ "$QUICK" -eq 1 ]; then
    SCALE_KA=10 SCALE_IDLE_S=2 SCALE_SETTLE_S=2 SCALE_REST_S=5 SCALE_TMAX=60
    SCALE_PER_PROC=3000
    big=6000 small=3000
    SCALE_NOTE_N="quick: $big for direct and mqttlb, $small for a proxy"
  fi
  [ "$small" -le "$big" ] || small=$big
  SCALE_CONN_MEM=$(scale_conn_mem)
  # no TIME_WAIT sockets: the previous run's (up to N of them, 256 bytes of
  # slab each for 60 s) would expire during the next run's measurement
  for ns in cli lb brk; do
    tw[$ns]=$(in_ns "$ns" sysctl -n net.ipv4.tcp_max_tw_buckets)
    in_ns "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets=0
  done
  scale_warmup "$big"
  # direct first: every other run subtracts direct's numbers at its N
  if has_contender direct; then
    scale_run direct direct "$big"
    [ "$small" -eq "$big" ] || scale_run "direct@$small" direct "$small"
  fi
  for c in "${CONTENDERS[@]}"; do
    case "$c" in
      direct) ;;
      mqttlb)
        scale_run mqttlb mqttlb "$big"
        [ "$small" -eq "$big" ] || scale_run "mqttlb@$small" mqttlb "$small"
        ;;
      *) scale_run "$c" "$c" "$small" ;;
    esac
  done
  for ns in cli lb brk; do in_ns "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets="${tw[$ns]}"; done
}

plot_scale() {
  plot_bars "$OUT/scale-mem.png" "Memory per idle connection (bytes; mem: machine, over direct; mqttlb with its table)" "bytes per connection" \
    scale mem_per_conn_b accounted_mem_per_conn_b rss_per_conn_b
  plot_bars "$OUT/scale-rate.png" "Idle connections: connections per second (all at once)" "connections per second" \
    scale conn_per_s
  plot_bars "$OUT/scale-cpu.png" "CPU at rest per connection (ns per second; keepalive pings)" "ns per connection per second" \
    scale rest_cpu_ns_per_conn_s rest_machine_added_ns_per_conn_s
}
