# shellcheck shell=bash
# Scenario `ipvs-study` (sourced by bench/run.sh): the published IPVS study
# (a Mosquitto cluster behind IPVS; 480 clients; bursts of 6,000 messages;
# QoS 1 and 2; one central IPVS balancer lost about 25% of the messages, two
# distributed ones 14%), scaled to this machine. The kernel here has no IPVS:
# the contenders are this benchmark's, plus `mqttlb-ecmp2`.
#
# A burst: 480 clients (quick: 96) connect at once through the contender and
# publish 6,000 messages between them (quick: 600; 12 or 13 each, two
# mqttload pub processes so that the total is exact), flat out, 64-byte
# payloads, QoS 1 or 2, then disconnect. Bursts per QoS: 3 (quick: 1).
# Meanwhile one subscriber per broker (in the brokers' namespace, on
# bench/ipvs/#) counts what reached each broker, so
#   lost       = published - distinct messages received over all brokers
#   duplicates = messages a broker delivered twice + distinct messages beyond
#                the published count (the same message at two brokers)
# and the spread is the messages per broker (subscribers) and the
# connections per broker ("New client connected" lines in each broker's
# log). Target: no message lost.
#
# mqttlb-ecmp2 builds a router namespace and two balancer namespaces:
#
#   $P-cli ec0 10.60.0.1..8 <-> r-c 10.60.0.254  $P-ecr (router)
#            VIP/32 via 10.60.0.254            r-a 10.61.0.1 <-> a-c 10.61.0.2  $P-ea  a-b 10.63.0.1 <-> ba0 10.63.0.2  $P-brk
#                                              r-b 10.62.0.1 <-> b-c 10.62.0.2  $P-eb  b-b 10.64.0.1 <-> bb0 10.64.0.2  $P-brk
#
# The router's route to the VIP has two next hops (ECMP, hashing on the
# 5-tuple: fib_multipath_hash_policy 1); one mqttlb runs in each balancer
# namespace (one worker each, on cores 0 and 1), both with the same pools,
# so Maglev sends a client id to the same broker through either.

ECMP_NS=()

ecmp_up() {
  local r=$P-ecr a=$P-ea b=$P-eb ns i pair dev
  ECMP_NS=("$r" "$a" "$b")
  for ns in "${ECMP_NS[@]}"; do
    ip netns add "$ns"
    EXTRA_NS+=("$ns")
    ip -n "$ns" link set lo up
    if [ -d /proc/sys/net/ipv6 ]; then
      in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
    fi
  done
  ip -n "$TOPO_NS_CLI" link add ec0 type veth peer name r-c netns "$r"
  ip -n "$r" link add r-a type veth peer name a-c netns "$a"
  ip -n "$r" link add r-b type veth peer name b-c netns "$b"
  ip -n "$a" link add a-b type veth peer name ba0 netns "$TOPO_NS_BRK"
  ip -n "$b" link add b-b type veth peer name bb0 netns "$TOPO_NS_BRK"
  for pair in "$TOPO_NS_CLI:ec0" "$r:r-c" "$r:r-a" "$r:r-b" "$a:a-c" "$a:a-b" "$b:b-c" "$b:b-b" \
    "$TOPO_NS_BRK:ba0" "$TOPO_NS_BRK:bb0"; do
    ns=${pair%%:*} dev=${pair#*:}
    ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off >/dev/null 2>&1
    ip netns exec "$ns" ethtool -K "$dev" gro off >/dev/null 2>&1 || true
  done
  ECMP_CLIENTS=""
  for ((i = 1; i <= NCLIENT_ADDRS; i++)); do
    ip -n "$TOPO_NS_CLI" addr add "10.60.0.$i/24" dev ec0
    ECMP_CLIENTS+="${ECMP_CLIENTS:+,}10.60.0.$i"
  done
  ip -n "$r" addr add 10.60.0.254/24 dev r-c
  ip -n "$r" addr add 10.61.0.1/30 dev r-a
  ip -n "$r" addr add 10.62.0.1/30 dev r-b
  ip -n "$a" addr add 10.61.0.2/30 dev a-c
  ip -n "$a" addr add 10.63.0.1/30 dev a-b
  ip -n "$b" addr add 10.62.0.2/30 dev b-c
  ip -n "$b" addr add 10.64.0.1/30 dev b-b
  ip -n "$TOPO_NS_BRK" addr add 10.63.0.2/30 dev ba0
  ip -n "$TOPO_NS_BRK" addr add 10.64.0.2/30 dev bb0
  for pair in "$TOPO_NS_CLI:ec0" "$r:r-c" "$r:r-a" "$r:r-b" "$a:a-c" "$a:a-b" "$b:b-c" "$b:b-b" \
    "$TOPO_NS_BRK:ba0" "$TOPO_NS_BRK:bb0"; do
    ip -n "${pair%%:*}" link set "${pair#*:}" up
  done
  in_ns "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  ip -n "$r" route add "$TOPO_VIP/32" nexthop via 10.61.0.2 dev r-a weight 1 nexthop via 10.62.0.2 dev r-b weight 1
  ip -n "$a" route add 10.60.0.0/24 via 10.61.0.1
  ip -n "$a" route add 10.20.0.0/24 via 10.63.0.2
  ip -n "$b" route add 10.60.0.0/24 via 10.62.0.1
  ip -n "$b" route add 10.20.0.0/24 via 10.64.0.2
}

ECMP_PIDS=()
# ecmp_start: the two instances; clients reach the VIP through the router.
ecmp_start() {
  local i ns ic ib src core stem
  ECMP_PIDS=()
  for i in a b; do
    if [ "$i" = a ]; then ns=$P-ea ic=a-c ib=a-b src=10.63.0.1 core=0; else ns=$P-eb ic=b-c ib=b-b src=10.64.0.1 core=1; fi
    next_log "mqttlb-ecmp2-$i"
    stem=$NEXT_LOG
    render "$BENCH_SCEN_DIR/mqttlb.yaml" "$stem.yaml" IF_C="$ic" IF_B="$ib" VIP="$TOPO_VIP" PORT="$PORT" \
      SRC="$src" CPU="$core" BROKERS="$(broker_list ', ' '"%s:1883"')" OTHER="\"$OTHER_BROKER:$PORT\"" \
      EXTRA_ROUTES="" HEALTH="health: {interval: 2s, timeout: 1s}" DIR="$stem.d" CONN_EXTRA="$(mqttlb_conn_extra)"
    mkdir -p "$stem.d"
    bg "$ns" "$stem" "$MQTTLB" run -c "$stem.yaml" --json
    ECMP_PIDS+=("$BG_PID")
    mqttlb_wait_running "$BG_PID" "$stem.err"
  done
  ip -n "$TOPO_NS_CLI" route add "$TOPO_VIP/32" via 10.60.0.254 dev ec0
  wait_until 15 probe "$TOPO_VIP" || die "mqttlb-ecmp2 does not answer MQTT at $TOPO_VIP through the router"
}

ecmp_stop() {
  local p
  ip -n "$TOPO_NS_CLI" route del "$TOPO_VIP/32" via 10.60.0.254 dev ec0 2>/dev/null || true
  for p in "${ECMP_PIDS[@]}"; do stop_pid "$p" 30 || warn "an mqttlb-ecmp2 instance exited with status $?"; done
  ECMP_PIDS=()
}

# ipvs_burst CONTENDER QOS BURST HOSTS SRCS: one burst; adds to the IPVS_* sums.
ipvs_burst() {
  local c=$1 q=$2 k=$3 hosts=$4 srcs=$5 b ca cb na nb stem pa pb i
  local -A before=()
  for b in "${BENCH_BROKERS[@]}"; do before[$b]=$(broker_log_connects "$b"); done
  # one subscriber per broker, each its own process: what reached which broker
  local -A spid=() sstem=()
  for b in "${BENCH_BROKERS[@]}"; do
    next_log "ipvs-$c-q$q-burst$k-sub-$b"
    sstem[$b]=$NEXT_LOG
    mqttload_bg brk "$NEXT_LOG" sub -H "$b" -c 1 -q "$q" -t 'bench/ipvs/#' -d 600
    spid[$b]=$BG_PID
  done
  for b in "${BENCH_BROKERS[@]}"; do
    wait_until 15 grep -q 'mqttload: ready' "${sstem[$b]}.err" || die "subscriber on $b not ready: $(tail -n 2 "${sstem[$b]}.err")"
  done
  # the burst: IPVS_MSGS messages over IPVS_CLIENTS clients, exactly
  na=$((IPVS_MSGS / IPVS_CLIENTS + 1)) nb=$((IPVS_MSGS / IPVS_CLIENTS))
  ca=$((IPVS_MSGS % IPVS_CLIENTS)) cb=$((IPVS_CLIENTS - IPVS_MSGS % IPVS_CLIENTS))
  next_log "ipvs-$c-q$q-burst$k-pub"
  stem=$NEXT_LOG
  pa="" pb=""
  if [ "$ca" -gt 0 ]; then
    mqttload_bg cli "$stem-a" pub -H "$hosts" -b "$srcs" -c "$ca" -n "$na" -q "$q" -s 64 -r 0 \
      -t 'bench/ipvs/%i' -i "ipvs$k-a-%i" --pubid-base 0 --drain 10
    pa=$BG_PID
  fi
  mqttload_bg cli "$stem-b" pub -H "$hosts" -b "$srcs" -c "$cb" -n "$nb" -q "$q" -s 64 -r 0 \
    -t 'bench/ipvs/%i' -i "ipvs$k-b-%i" --pubid-base "$ca" --drain 10
  pb=$BG_PID
  [ -z "$pa" ] || mqttload_collect "$stem-a" "$pa" 120 || true
  mqttload_collect "$stem-b" "$pb" 120 || true
  sleep 2 # the brokers' last deliveries
  for b in "${BENCH_BROKERS[@]}"; do
    # shellcheck disable=SC2034 # sub_stop's arguments
    SUB_STEM=${sstem[$b]} SUB_PID=${spid[$b]}
    sub_stop
  done
  for i in a b; do
    [ -s "$stem-$i.json" ] || continue
    IPVS_SENT=$((IPVS_SENT + $(jget "$stem-$i.json" sent)))
    IPVS_ACKED=$((IPVS_ACKED + $(jget "$stem-$i.json" acked)))
    IPVS_CFAIL=$((IPVS_CFAIL + $(jget "$stem-$i.json" connect_failed)))
    IPVS_DISC=$((IPVS_DISC + $(jget "$stem-$i.json" disconnected)))
  done
  IPVS_PUBLISHED=$((IPVS_PUBLISHED + IPVS_MSGS))
  for b in "${BENCH_BROKERS[@]}"; do
    local r d
    r=$(jget "${sstem[$b]}.json" received)
    d=$(jget "${sstem[$b]}.json" duplicated)
    IPVS_RECV[$b]=$((${IPVS_RECV[$b]:-0} + ${r:-0} - ${d:-0}))
    IPVS_DUP=$((IPVS_DUP + ${d:-0}))
    IPVS_CONNS[$b]=$((${IPVS_CONNS[$b]:-0} + $(broker_log_connects "$b") - ${before[$b]}))
  done
}

# spread V...: max/min of the values (empty when a value is 0).
spread() {
  printf '%s\n' "$@" | awk 'NR == 1 || $1 > mx { mx = $1 } NR == 1 || $1 < mn { mn = $1 } END { if (mn > 0) printf "%.3f", mx / mn }'
}

scenario_ipvs_study() {
  local bursts=3 c q k hosts srcs note uniq lost dup b list_c list_m cs=() ms=()
  IPVS_CLIENTS=480 IPVS_MSGS=6000
  if [ "$QUICK" -eq 1 ]; then
    IPVS_CLIENTS=96 IPVS_MSGS=600 bursts=1
  fi
  local cont=("${CONTENDERS[@]}")
  if has_contender mqttlb; then
    ecmp_up
    cont+=(mqttlb-ecmp2)
  fi
  for c in "${cont[@]}"; do
    if [ "$c" = mqttlb-ecmp2 ]; then
      ecmp_start
      hosts=$TOPO_VIP srcs=$ECMP_CLIENTS
      note="two mqttlb instances (one worker each, cores 0 and 1) behind a router namespace with an ECMP route to the VIP (L4 hash)"
    else
      contender_start "$c"
      hosts=$(target) srcs=$CLIENT_ADDRS
      note=$(pool_note "$c")
    fi
    for q in 1 2; do
      IPVS_SENT=0 IPVS_ACKED=0 IPVS_CFAIL=0 IPVS_DISC=0 IPVS_PUBLISHED=0 IPVS_DUP=0
      declare -gA IPVS_RECV=() IPVS_CONNS=()
      for ((k = 1; k <= bursts; k++)); do
        ipvs_burst "$c" "$q" "$k" "$hosts" "$srcs"
      done
      uniq=0
      for b in "${BENCH_BROKERS[@]}"; do uniq=$((uniq + IPVS_RECV[$b])); done
      lost=$((IPVS_PUBLISHED - uniq))
      dup=$IPVS_DUP
      if [ "$lost" -lt 0 ]; then
        dup=$((dup - lost))
        lost=0
      fi
      emit ipvs-study "$c" "lost_q$q" "$lost" msgs \
        "$bursts burst(s) of $IPVS_MSGS messages from $IPVS_CLIENTS clients, QoS $q, flat out; published $IPVS_PUBLISHED, sent $IPVS_SENT, acked $IPVS_ACKED, distinct received at the brokers $uniq; connect_failed $IPVS_CFAIL, disconnected $IPVS_DISC; $note"
      emit ipvs-study "$c" "lost_pct_q$q" "$(calc "100 * $lost / $IPVS_PUBLISHED")" % "target 0 (the IPVS study: 25% with one balancer, 14% with two)"
      emit ipvs-study "$c" "duplicates_q$q" "$dup" msgs "delivered twice by a broker, or at two brokers"
      cs=() ms=()
      list_c="" list_m=""
      for b in "${BENCH_BROKERS[@]}"; do
        cs+=("${IPVS_CONNS[$b]}")
        ms+=("${IPVS_RECV[$b]}")
        list_c+="${list_c:+ / }$b ${IPVS_CONNS[$b]}"
        list_m+="${list_m:+ / }$b ${IPVS_RECV[$b]}"
        emit ipvs-study "$c" "msgs_${b##*.}_q$q" "${IPVS_RECV[$b]}" msgs "distinct messages at broker $b"
        emit ipvs-study "$c" "conns_${b##*.}_q$q" "${IPVS_CONNS[$b]}" conns "connections broker $b accepted (its log)"
      done
      emit ipvs-study "$c" "conn_spread_q$q" "$(spread "${cs[@]}")" max/min "connections per broker: $list_c"
      emit ipvs-study "$c" "msg_spread_q$q" "$(spread "${ms[@]}")" max/min "messages per broker: $list_m"
    done
    if [ "$c" = mqttlb-ecmp2 ]; then ecmp_stop; else contender_stop; fi
  done
}

plot_ipvs_study() {
  # the published study's losses as reference lines
  PLOT_EXTRA=$'set yrange [0:30]\nset arrow from graph 0, first 25 to graph 1, first 25 nohead dt 2 lc rgb "red"\nset label "IPVS study, one balancer: about 25%" at graph 0.02, first 26 tc rgb "red" noenhanced\nset arrow from graph 0, first 14 to graph 1, first 14 nohead dt 2 lc rgb "orange"\nset label "IPVS study, two balancers: 14%" at graph 0.02, first 15 tc rgb "orange" noenhanced' \
    plot_bars "$OUT/ipvs-study-loss.png" "IPVS study scaled: messages lost (% of published; bars at 0 = nothing lost)" "% lost" \
    ipvs-study lost_pct_q1 lost_pct_q2
  plot_bars "$OUT/ipvs-study-spread.png" "IPVS study scaled: messages per broker (QoS 1)" "messages" \
    ipvs-study "msgs_11_q1" "msgs_12_q1" "msgs_13_q1"
}
