#!/usr/bin/env bash
# ctest e2e.mqttsn: `protocol: mqtt-sn` listeners end to end: mqttlb reads
# each datagram as MQTT-SN 1.2, keeps a flow per client address:port with
# full NAT, binds a flow by the client id of its CONNECT (Maglev on the
# client id; by the client's address until a CONNECT comes), moves a flow
# whose CONNECT maps elsewhere (mqttsn.rebound), and drops malformed
# datagrams (mqttsn.malformed, by reason).
#
#   test_mqttsn.sh MQTTLB
#
# No MQTT-SN gateway is packaged in Debian: three test gateways
# (mqttsn_tools.py gateway) on 10.20.0.41-43:1884 in the brokers' namespace
# answer CONNECT, REGISTER, PUBLISH QoS 1, PINGREQ and DISCONNECT, keep a
# session per sender address:port (the balancer's NAT source), answer a
# sender without one with DISCONNECT, and record every datagram with the
# client id they believe it is from. A PUBLISH's Data names its client id and
# sequence number. mqttlb listens on 10.10.0.100:1883 (MQTT, a Mosquitto on
# 10.20.0.11 behind it) and 10.10.0.100:1884 (mqtt-sn, pool gateways,
# balance client-id), udp_idle_timeout 30s, udp_down_hold 2s, two workers.
# Checked:
#   1. 20 clients (distinct client ids, 5 per address on 10.10.0.1-4): each
#      CONNECT, REGISTER, 5 PUBLISH QoS 1 in lock step, PINGREQ: every one
#      answered, every answer from 10.10.0.100:1884; every client id's
#      messages at exactly one gateway, and that gateway believes they are
#      from that client id (one NAT source per flow); all 3 gateways used.
#      The 20 then go on publishing at 5 messages/s each (through 4).
#   2. a client that changes its source port, then its source address, and
#      CONNECTs again each time: all its messages at one gateway, whose
#      CONNECTs came from 3 different NAT sources. Reported, not checked: a
#      client that changes its port and goes on publishing without a
#      CONNECT (its new flow is bound by address: the gateway it reaches
#      does not know it; documented), and where its CONNECT then takes it.
#   3. 6 clients that send a PINGREQ (with their client id) before their
#      CONNECT, and one that CONNECTs again with another client id: each
#      CONNECT whose client id maps to another gateway than the one the
#      PINGREQ (or the previous client id) reached moves the flow:
#      mqttsn.rebound grows by exactly the number of those (from the
#      gateways' records), and each message lands where its CONNECT did.
#   4. malformed datagrams (a Length larger and one smaller than the
#      datagram, reserved MsgTypes, a CONNECT with ProtocolId 0x02, an
#      empty datagram, random bytes), on a fresh socket and on a connected
#      one: mqttsn.malformed grows by exactly their number, malformed_by by
#      reason as the reader says; no gateway ever records one of them;
#      nothing is answered; the connected client is served afterwards.
#   5. the gateway with the most client ids is killed (SIGKILL; its kernel
#      answers ICMP port unreachable): each of its client ids has a
#      message acknowledged by another gateway within MOVE_MAX s, at one
#      gateway each; no other client id moves or has to reconnect. It is
#      restarted after KILL_WATCH s: its client ids are back at it within
#      RETURN_WATCH s. Every client's messages are acknowledged in the end.
#   6. `mqttlb stats --json`: mqttsn.connects between the CONNECT exchanges
#      and the CONNECT datagrams sent; rebound >= what 3 expects (the kill
#      moves more: printed); per gateway datagrams_to = what it recorded
#      (the killed one: at least), datagrams_from <= what it answered.
#   7. mqttlb restarted (SIGTERM, exit 0; run again): the 20 client ids,
#      each from another address than before, CONNECT and publish once:
#      each at the same gateway as in 1 (Maglev on the client id keeps no
#      state). mqttlb exits 0 on SIGTERM; the test under 2 minutes.
# Printed, not checked: the move and return delays, rebounds during the kill,
# datagrams the gateways answered with DISCONNECT (a flow moved by address).
# Needs root (fails without); traffic stays inside the test's namespaces.
# shellcheck disable=SC2317 # functions called through check and wait_until
# shellcheck disable=SC2016 # jq programs in single quotes, their variables passed with --arg
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init mqttsn "sn$$" "${1:-}"
[ "$DIRECT" -eq 0 ] || die "E2E_DIRECT: binding by MQTT-SN client id only exists through mqttlb"
command -v jq >/dev/null 2>&1 || die "'jq' not found"

SNT="$E2E_DIR/mqttsn_tools.py"
CFG="$TMP/mqttlb.yaml"
SOCK="$TMP/mqttlb.sock"
SN_PORT=1884
GATEWAYS=(10.20.0.41 10.20.0.42 10.20.0.43)
NBROKERS=1 # the Mosquitto behind the MQTT listener
ALL_BROKERS=10.20.0.11
N_CLIENTS=20
CLIENT_ADDRS=(10.10.0.1 10.10.0.2 10.10.0.3 10.10.0.4)
ROAM_ADDR=10.10.0.5
ROAM_ADDR2=10.10.0.6
N_MSG=5      # phase 1 messages per client
RATE=5       # messages/s per client afterwards
HOLD=2       # udp_down_hold, s
MOVE_MAX=2   # s: a moved client id's first acknowledged message at another gateway after the kill
KILL_WATCH=4 # s between the kill and the restart (over the hold: the dead gateway comes back into the table meanwhile)
RETURN_WATCH=5
declare -A GW_PID=()
declare -A HOME_GW=() # client id -> its gateway in phase 1
CONNECT_DGRAMS=0 # CONNECT datagrams sent through the VIP (retries included)
CONNECT_MIN=0    # CONNECT exchanges started (each sent at least one datagram)

FLEET_IDS=()
for ((i = 1; i <= N_CLIENTS; i++)); do FLEET_IDS+=("$(printf 'sensor-%02d' "$i")"); done

# --- helpers -----------------------------------------------------------------------------

now() { date +%s.%N; }
stats() { "$MQTTLB" stats -s "$SOCK" --json >"$1" 2>"$TMP/stats.err"; }
sn_num() { jq -r ".mqttsn.$2 // 0" "$1"; }
# delta FILE_BEFORE FILE_AFTER PATH: the growth of a number under .mqttsn
delta() { echo $(($(sn_num "$2" "$3") - $(sn_num "$1" "$3"))); }
ge() { [ "$1" -ge "$2" ]; }
jtrue() { jq -e "$@" >/dev/null 2>&1; }
# fsec EXPR: a shell-safe float calculation
fsec() { awk "BEGIN { printf \"%.3f\", $1 }"; }

# sn NAME SUBCOMMAND ARGS...: mqttsn_tools.py in the clients' namespace, in the
# foreground, its JSON summary in $TMP/NAME.json; returns its status.
sn() {
  local name=$1 rc=0
  shift
  in_ns cli timeout 60 "$PY" "$SNT" "$@" --vip "$TOPO_VIP" --port "$SN_PORT" --summary "$TMP/$name.json" \
    >/dev/null 2>"$TMP/$name.err" || rc=$?
  return "$rc"
}
# count_connects NAME: adds a summary's CONNECT datagrams to CONNECT_DGRAMS.
count_connects() {
  CONNECT_DGRAMS=$((CONNECT_DGRAMS + $(jq -r '.connect_datagrams // 0' "$TMP/$1.json" 2>/dev/null || echo 0)))
}

# landing SINCE UNTIL [--hex]: where each client id landed (mqttsn_tools.py landing).
landing() {
  local args=() g
  for g in "${GATEWAYS[@]}"; do args+=(--rec "$g=$TMP/gw-$g.jsonl"); done
  "$PY" "$SNT" landing "${args[@]}" --since "$1" --until "$2" "${@:3}"
}
# gw_of LANDING_JSON ID: the gateways a client id's records are at (space-separated).
gw_of() { jq -r --arg id "$2" '(.ids[$id] // {}) | keys | join(" ")' <<<"$1"; }

# --- gateways, the broker, the balancer ---------------------------------------------------

start_gateway() {
  local g=$1
  rm -f "$TMP/gw-$g.ready"
  bg brk "gw-$g" "$PY" "$SNT" gateway --bind "$g" --port "$SN_PORT" --out "$TMP/gw-$g.jsonl" \
    --ready "$TMP/gw-$g.ready" --duration 300
  GW_PID[$g]=$BG_PID
  if ! wait_until 10 test -f "$TMP/gw-$g.ready"; then
    show_log "$TMP/gw-$g.err"
    die "the gateway on $g:$SN_PORT did not start within 10 s"
  fi
}

setup() {
  local env g
  env=$("$TOPO" up "$P" --queues 2 --brokers "$NBROKERS" --clients 6 --env) || die "topo.sh up $P failed"
  eval "$env"
  for g in "${GATEWAYS[@]}"; do
    ip -n "$TOPO_NS_BRK" addr add "$g/24" dev "$TOPO_IF_BRK" || die "cannot add $g to $TOPO_IF_BRK in $TOPO_NS_BRK"
  done
  start_broker "$ALL_BROKERS"
  wait_until 10 broker_listening "$ALL_BROKERS" || {
    show_log "$TMP/mosquitto-$ALL_BROKERS.log"
    die "mosquitto on $ALL_BROKERS:$MQTT_PORT did not listen within 10 s"
  }
  for g in "${GATEWAYS[@]}"; do start_gateway "$g"; done
  ok "three MQTT-SN test gateways on ${GATEWAYS[*]}:$SN_PORT and a mosquitto on $ALL_BROKERS:$MQTT_PORT in $TOPO_NS_BRK"
  cat >"$CFG" <<EOF
# mqttlb end-to-end test mqttsn
interfaces: [{name: lb-c}, {name: lb-b}]
listeners:
  - {address: $TOPO_VIP, port: $MQTT_PORT}
  - {address: $TOPO_VIP, port: $SN_PORT, protocol: mqtt-sn, pool: gateways}
source_addresses: [$TOPO_SRC]
workers: 2
pools:
  - {name: mqtt, brokers: ["$ALL_BROKERS:$MQTT_PORT"]}
  - name: gateways
    brokers: ["${GATEWAYS[0]}:$SN_PORT", "${GATEWAYS[1]}:$SN_PORT", "${GATEWAYS[2]}:$SN_PORT"]
    # balance: client-id (the default): Maglev on the client id of the CONNECT
default_pool: mqtt
admin: {socket: $SOCK}
connections: {udp_idle_timeout: 30s, udp_down_hold: ${HOLD}s}
EOF
  local rc=0
  "$MQTTLB" check -c "$CFG" >"$TMP/check.out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    sed 's/^/#   /' "$TMP/check.out"
    die "mqttlb check refuses the mqtt-sn configuration (status $rc; see above)"
  fi
  ok "mqttlb check accepts the mqtt-sn configuration ($(grep -m1 -o 'mqtt-sn ([^)]*)' "$TMP/check.out"))"
  launch_lb "$CFG" mqttlb
  sn_probe
}

# sn_probe: one MQTT-SN client through the VIP (it retries: the balancer
# resolves a gateway's neighbour at its first datagram).
sn_probe() {
  local rc=0
  sn probe fleet --client "sn-probe@${ROAM_ADDR2}" --messages 1 --retries 20 --duration 20 || rc=$?
  count_connects probe
  CONNECT_MIN=$((CONNECT_MIN + 1))
  if [ "$rc" -eq 0 ]; then
    ok "an MQTT-SN client through $TOPO_VIP:$SN_PORT: CONNECT, REGISTER, PUBLISH, PINGREQ answered"
  else
    show_log "$TMP/probe.err" "$LB_LOG"
    die "no MQTT-SN client gets through $TOPO_VIP:$SN_PORT ($(jq -c '.clients[].phase1' "$TMP/probe.json" 2>/dev/null))"
  fi
}

# --- 1. twenty clients ------------------------------------------------------------------------

FLEET_PID=""
T1=""
fleet_start() {
  local args=() i
  for i in "${!FLEET_IDS[@]}"; do args+=(--client "${FLEET_IDS[i]}@${CLIENT_ADDRS[i % ${#CLIENT_ADDRS[@]}]}"); done
  T1=$(now)
  bg cli fleet "$PY" "$SNT" fleet "${args[@]}" --vip "$TOPO_VIP" --port "$SN_PORT" --messages "$N_MSG" \
    --rate "$RATE" --phase1 "$TMP/phase1.json" --stop "$TMP/fleet.stop" --duration 90 --summary "$TMP/fleet.json"
  FLEET_PID=$BG_PID
  if ! wait_until 20 test -f "$TMP/phase1.json"; then
    show_log "$TMP/fleet.err"
    die "the $N_CLIENTS clients did not finish phase 1 within 20 s"
  fi
  local nok
  nok=$(jq -r .ok "$TMP/phase1.json")
  check "1. $N_CLIENTS clients from ${#CLIENT_ADDRS[@]} addresses: CONNECT, REGISTER, $N_MSG PUBLISH QoS 1 in lock step, PINGREQ, all answered ($nok/$N_CLIENTS$(jq -r 'if .failed == {} then "" else ", failed: " + (.failed | tostring) end' "$TMP/phase1.json"))" \
    [ "$nok" -eq "$N_CLIENTS" ]
  CONNECT_MIN=$((CONNECT_MIN + N_CLIENTS))
  sleep 0.5 # a few paced messages too
  local land id g n_one=0 n_acked=0 bad=() used
  land=$(landing "$T1" "$(now)")
  for id in "${FLEET_IDS[@]}"; do
    g=$(gw_of "$land" "$id")
    if [[ $g =~ ^[0-9.]+$ ]]; then
      n_one=$((n_one + 1))
      HOME_GW[$id]=$g
    else
      bad+=("$id:[${g}]")
    fi
    jtrue --arg id "$id" --argjson n "$N_MSG" '[.ids[$id][]?.acked] | add >= $n' <<<"$land" && n_acked=$((n_acked + 1))
  done
  check "1. every client id's messages at exactly one gateway ($n_one/$N_CLIENTS${bad:+; not: ${bad[*]}})" \
    [ "$n_one" -eq "$N_CLIENTS" ]
  check "1. every client id has its $N_MSG messages acknowledged by its gateway ($n_acked/$N_CLIENTS)" \
    [ "$n_acked" -eq "$N_CLIENTS" ]
  check "1. each gateway believes each PUBLISH is from the client id in its Data (one NAT source per flow: $(jq -c '[.gateways[] | .bad]' <<<"$land") mismatches)" \
    jtrue '[.gateways[].bad] | add == 0' <<<"$land"
  used=$(for id in "${FLEET_IDS[@]}"; do echo "${HOME_GW[$id]:-}"; done | sort | uniq -c | awk '{ printf "%s%s: %d", (NR > 1 ? ", " : ""), $2, $1 }')
  check "1. all 3 gateways used by the $N_CLIENTS client ids ($used)" \
    [ "$(for id in "${FLEET_IDS[@]}"; do echo "${HOME_GW[$id]:-}"; done | sort -u | grep -c .)" -eq 3 ]
  check "1. every answer came from $TOPO_VIP:$SN_PORT (probe: $(jq -c .sources "$TMP/probe.json"))" \
    jtrue --arg s "$TOPO_VIP:$SN_PORT" '.sources | keys == [$s]' "$TMP/probe.json"
}

# --- 2. a client that changes its port and address ------------------------------------------

roam() {
  local rc=0 t0 land g peers
  t0=$(now)
  sn roam-reconnect roam --client-id roamer-1 --bind "$ROAM_ADDR" --then-addr "$ROAM_ADDR2" --mode reconnect || rc=$?
  count_connects roam-reconnect
  CONNECT_MIN=$((CONNECT_MIN + 3))
  check "2. roamer-1: CONNECT + 3 messages from $ROAM_ADDR, again from a new port, again from $ROAM_ADDR2: all answered (status $rc: $(jq -c '[.steps[] | {local, session, r: [.publish[].result] | unique}]' "$TMP/roam-reconnect.json" 2>/dev/null))" \
    [ "$rc" -eq 0 ]
  sleep 0.2
  land=$(landing "$t0" "$(now)")
  g=$(gw_of "$land" roamer-1)
  peers=$(jq -c '[.ids["roamer-1"][]?.connect_peers[]]' <<<"$land")
  check "2. roamer-1 keeps its gateway across the port and address change: its 9 messages and 3 CONNECTs at ${g:-nowhere} ($(jq -c '.ids["roamer-1"] | map_values({connects, acked})' <<<"$land"))" \
    all_true "$([[ $g =~ ^[0-9.]+$ ]] && echo 1 || echo 0) -eq 1" \
    "$(jq -r --arg g "$g" '.ids["roamer-1"][$g].acked // 0' <<<"$land") -ge 9" \
    "$(jq -r --arg g "$g" '.ids["roamer-1"][$g].connects // 0' <<<"$land") -ge 3"
  check "2. ... and its gateway saw its CONNECTs from 3 different NAT sources ($peers)" \
    [ "$(jq 'unique | length' <<<"$peers")" -eq 3 ]
  check "2. roamer-1's answers all from $TOPO_VIP:$SN_PORT ($(jq -c .sources "$TMP/roam-reconnect.json"))" \
    jtrue --arg s "$TOPO_VIP:$SN_PORT" '.sources | keys == [$s]' "$TMP/roam-reconnect.json"

  # changes its port and goes on publishing without a CONNECT: reported
  rc=0
  t0=$(now)
  sn roam-continue roam --client-id roamer-2 --bind "$ROAM_ADDR" --mode continue || rc=$?
  count_connects roam-continue
  CONNECT_MIN=$((CONNECT_MIN + 2))
  sleep 0.2
  land=$(landing "$t0" "$(now)")
  local home after where answers
  home=$(jq -r '.steps[0].publish | map(.result) | join(",")' "$TMP/roam-continue.json")
  answers=$(jq -r '.steps[1].publish | map(.result) | join(",")' "$TMP/roam-continue.json")
  after=$(jq -r '.steps[2] | "\(.session), publish \(.publish[0].result)"' "$TMP/roam-continue.json")
  where=$(jq -c '.ids["roamer-2"] | map_values({connects, acked, unknown})' <<<"$land")
  info "2. roamer-2 (status $rc) publishes from $ROAM_ADDR (answers $home), then from a new port without a CONNECT: answers $answers; then CONNECTs again: $after. At the gateways: $where"
  info "2. (a PUBLISH without a CONNECT after a port change makes a flow bound by address, with a new NAT source: whichever gateway it reaches does not know it; 'unknown' counts those answered DISCONNECT)"
  check "2. roamer-2 served again after its new CONNECT ($after)" [ "$after" = "ok, publish ok" ]
  ROAM2_LAND=$land
}
all_true() {
  local c
  for c in "$@"; do
    # shellcheck disable=SC2086 # the words of one comparison
    [ $c ] || return 1
  done
}

# --- 3. rebinding -----------------------------------------------------------------------------

REBIND_IDS=(pinger-a pinger-b pinger-c pinger-d pinger-e pinger-f)
SWITCH_ID=switched-x
EXPECT_REBOUND=0
rebind() {
  local rc=0 t0 land id pg cg n_moved=0 n_ok=0 desc=()
  t0=$(now)
  local args=()
  for id in "${REBIND_IDS[@]}"; do args+=(--id "$id"); done
  sn rebind rebind "${args[@]}" --bind "$ROAM_ADDR2" --switch-to "$SWITCH_ID" || rc=$?
  count_connects rebind
  CONNECT_MIN=$((CONNECT_MIN + ${#REBIND_IDS[@]} + 1))
  check "3. ${#REBIND_IDS[@]} clients: PINGREQ, then CONNECT, REGISTER, PUBLISH; the last then CONNECTs as $SWITCH_ID and publishes: all answered (status $rc)" \
    [ "$rc" -eq 0 ]
  sleep 0.2
  land=$(landing "$t0" "$(now)")
  for id in "${REBIND_IDS[@]}"; do
    pg=$(jq -r --arg id "$id" '[.ids[$id] | to_entries[] | select(.value.pings > 0) | .key] | join(" ")' <<<"$land")
    cg=$(jq -r --arg id "$id" '[.ids[$id] | to_entries[] | select(.value.connects > 0) | .key] | join(" ")' <<<"$land")
    [ "$pg" = "$cg" ] || n_moved=$((n_moved + 1))
    # every message where its CONNECT went
    if [[ $cg =~ ^[0-9.]+$ ]] && jtrue --arg id "$id" --arg g "$cg" '.ids[$id][$g].acked >= 1' <<<"$land"; then
      n_ok=$((n_ok + 1))
    fi
    desc+=("$id:${pg##*.}->${cg##*.}")
  done
  # the switch: the flow was bound by the last id, its CONNECT with another one
  local last=${REBIND_IDS[-1]} lg sg
  lg=$(jq -r --arg id "$last" '[.ids[$id] | to_entries[] | select(.value.connects > 0) | .key] | join(" ")' <<<"$land")
  sg=$(jq -r --arg id "$SWITCH_ID" '[.ids[$id] | to_entries[] | select(.value.connects > 0) | .key] | join(" ")' <<<"$land")
  [ "$lg" = "$sg" ] || n_moved=$((n_moved + 1))
  desc+=("$last=>$SWITCH_ID:${lg##*.}->${sg##*.}")
  if [[ $sg =~ ^[0-9.]+$ ]] && jtrue --arg id "$SWITCH_ID" --arg g "$sg" '.ids[$id][$g].acked >= 1' <<<"$land"; then
    n_ok=$((n_ok + 1))
  fi
  # roamer-2: its PUBLISHes without a CONNECT went by address, then its CONNECT
  local ug cg2
  ug=$(jq -r '[.ids["roamer-2"] | to_entries[] | select(.value.unknown > 0) | .key] | join(" ")' <<<"$ROAM2_LAND")
  cg2=$(jq -r --argjson t "$(jq -r '.steps[2].t' "$TMP/roam-continue.json")" \
    '[.ids["roamer-2"] | to_entries[] | select(.value.connects > 0 and .value.last >= $t) | .key] | join(" ")' <<<"$ROAM2_LAND")
  if [ -n "$ug" ] && [ "$ug" != "$cg2" ]; then
    EXPECT_REBOUND=$((EXPECT_REBOUND + 1))
    desc+=("roamer-2(by address):${ug##*.}->${cg2##*.}")
  fi
  EXPECT_REBOUND=$((EXPECT_REBOUND + n_moved))
  info "3. PINGREQ gateway -> CONNECT gateway (last octet): ${desc[*]}"
  check "3. each message at the gateway its CONNECT reached ($n_ok/$((${#REBIND_IDS[@]} + 1)))" \
    [ "$n_ok" -eq $((${#REBIND_IDS[@]} + 1)) ]
  check "3. answers all from $TOPO_VIP:$SN_PORT ($(jq -c .sources "$TMP/rebind.json"))" \
    jtrue --arg s "$TOPO_VIP:$SN_PORT" '.sources | keys == [$s]' "$TMP/rebind.json"
}

# --- 4. malformed datagrams --------------------------------------------------------------------

malformed() {
  local rc=0 n
  sn malformed malformed --bind "$ROAM_ADDR" --client-id sn-malformed || rc=$?
  count_connects malformed
  CONNECT_MIN=$((CONNECT_MIN + 1))
  n=$(jq -r '.n // 0' "$TMP/malformed.json")
  check "4. $n malformed datagrams (on a fresh socket, then on a connected one): nothing answered, the client served before and after (status $rc: $(jq -c '{answered_fresh, answered_established, session, publish_before, publish_after}' "$TMP/malformed.json"))" \
    [ "$rc" -eq 0 ]
  MALFORMED_N=$n
}

# checks 3 and 4 against the counters: STATS_BEFORE STATS_AFTER
counters_mid() {
  local b=$1 a=$2 d reason want got bad=()
  d=$(delta "$b" "$a" rebound)
  check "3. mqttsn.rebound +$d = the CONNECTs that mapped to another gateway than their flow's ($EXPECT_REBOUND)" \
    [ "$d" -eq "$EXPECT_REBOUND" ]
  d=$(delta "$b" "$a" malformed)
  check "4. mqttsn.malformed +$d = the $MALFORMED_N malformed datagrams sent" [ "$d" -eq "$MALFORMED_N" ]
  for reason in $(jq -r '.reasons | keys[]' "$TMP/malformed.json"); do
    want=$(jq -r --arg r "$reason" '.reasons[$r]' "$TMP/malformed.json")
    got=$(delta "$b" "$a" "malformed_by.$reason")
    [ "$got" -eq "$want" ] || bad+=("$reason +$got, want $want")
  done
  check "4. mqttsn.malformed_by: $(jq -c '.reasons' "$TMP/malformed.json")${bad:+ (not: ${bad[*]})}" [ ${#bad[@]} -eq 0 ]
  # the gateways never got one
  local hexes sent_hex seen=0
  hexes=$(landing 0 1e12 --hex | jq -r '.hex[]')
  sent_hex=$(jq -r '.sent[].hex' "$TMP/malformed.json" | sort -u)
  while read -r h; do
    grep -qxF -- "$h" <<<"$hexes" && seen=$((seen + 1))
  done <<<"$sent_hex"
  # an empty datagram has the empty hex: a gateway record with "hex": "" would be one
  if jq -e 'select(.hex == "")' "$TMP"/gw-*.jsonl >/dev/null 2>&1; then seen=$((seen + 1)); fi
  check "4. no gateway recorded any of the malformed datagrams ($seen of $(grep -c . <<<"$sent_hex") seen)" [ "$seen" -eq 0 ]
}

# --- 5. a gateway killed and restarted ------------------------------------------------------------

kill_gateway() {
  local land victim g n best=0 id t_kill t_restart t_stop
  land=$(landing "$T1" "$(now)")
  # the home gateways must still hold: nothing moved while 2-4 ran
  local moved_before=()
  for id in "${FLEET_IDS[@]}"; do
    [ "$(gw_of "$land" "$id")" = "${HOME_GW[$id]:-}" ] || moved_before+=("$id")
  done
  check "5. before the kill: every client id still at its gateway of 1 (${#moved_before[@]} moved${moved_before:+: ${moved_before[*]}})" \
    [ ${#moved_before[@]} -eq 0 ]
  for g in "${GATEWAYS[@]}"; do
    n=0
    for id in "${FLEET_IDS[@]}"; do [ "${HOME_GW[$id]:-}" != "$g" ] || n=$((n + 1)); done
    if [ "$n" -gt "$best" ]; then best=$n victim=$g; fi
  done
  local victims=() others=()
  for id in "${FLEET_IDS[@]}"; do
    if [ "${HOME_GW[$id]:-}" = "$victim" ]; then victims+=("$id"); else others+=("$id"); fi
  done
  t_kill=$(now)
  kill -KILL "${GW_PID[$victim]}"
  wait "${GW_PID[$victim]}" 2>/dev/null || true
  forget_pid "${GW_PID[$victim]}"
  info "5. killed the gateway $victim (SIGKILL) at $t_kill: its client ids ${victims[*]}"
  sleep 1
  stats "$TMP/stats-kill.json" || true
  info "5. 1 s after the kill: $victim is $(jq -r --arg b "$victim:$SN_PORT" '.pools[] | select(.name == "gateways") | .brokers[] | select(.name == $b) | .state' "$TMP/stats-kill.json" 2>/dev/null), udp $(jq -c '.udp | {flows_moved, icmp_unreachable, stray: .dropped.stray, no_backend: .dropped.no_backend}' "$TMP/stats-kill.json" 2>/dev/null)"
  sleep $((KILL_WATCH - 1))
  t_restart=$(now)
  start_gateway "$victim"
  info "5. restarted the gateway $victim at $t_restart ($(fsec "$t_restart - $t_kill") s after the kill)"
  sleep "$RETURN_WATCH"
  touch "$TMP/fleet.stop"
  local rc=0
  wait_pid "$FLEET_PID" 15 || rc=$?
  forget_pid "$FLEET_PID"
  t_stop=$(now)
  check "5. the $N_CLIENTS clients ran on through the kill and stopped cleanly (status $rc)" [ "$rc" -eq 0 ]
  count_connects fleet
  CONNECT_MIN=$((CONNECT_MIN + $(jq -r '[.clients[].connects] | add - length' "$TMP/fleet.json")))

  # the moved ones
  local dead moved_ok=0 one_gw=0 delays=() worst=0 unknown=0
  dead=$(landing "$t_kill" "$t_restart")
  for id in "${victims[@]}"; do
    local fa gws
    fa=$(jq -r --arg id "$id" --arg v "$victim" \
      '[.ids[$id] // {} | to_entries[] | select(.key != $v and .value.first_acked != null) | .value.first_acked] | min // empty' <<<"$dead")
    gws=$(jq -r --arg id "$id" --arg v "$victim" \
      '[.ids[$id] // {} | to_entries[] | select(.key != $v and .value.acked > 0) | .key] | join(" ")' <<<"$dead")
    unknown=$((unknown + $(jq -r --arg id "$id" '[.ids[$id] // {} | .[].unknown] | add // 0' <<<"$dead")))
    if [ -n "$fa" ]; then
      local d
      d=$(fsec "$fa - $t_kill")
      delays+=("$id:${d}s@${gws##*.}")
      if awk "BEGIN { exit !($d <= $MOVE_MAX) }"; then moved_ok=$((moved_ok + 1)); fi
      awk "BEGIN { exit !($d > $worst) }" && worst=$d
    else
      delays+=("$id:never")
    fi
    [[ $gws =~ ^[0-9.]+$ ]] && one_gw=$((one_gw + 1))
  done
  info "5. first message acknowledged elsewhere after the kill (client id: delay @ gateway's last octet): ${delays[*]}"
  check "5. each of the ${#victims[@]} client ids of $victim has a message acknowledged by another gateway within $MOVE_MAX s of the kill ($moved_ok; the slowest ${worst} s)" \
    [ "$moved_ok" -eq ${#victims[@]} ]
  check "5. ... each at one gateway until the restart ($one_gw/${#victims[@]})" [ "$one_gw" -eq ${#victims[@]} ]
  info "5. while $victim was dead: $unknown datagrams of its client ids answered DISCONNECT by the other gateways (a flow moved to a new NAT source and bound by address until the client CONNECTs again); their reconnects: $(jq -c --argjson v "$(printf '%s\n' "${victims[@]}" | jq -R . | jq -sc .)" '[.clients | to_entries[] | select(.key as $k | $v | index($k)) | .value.events | length]' "$TMP/fleet.json")"

  # the others did not move
  local all
  all=$(landing "$t_kill" "$t_stop")
  local stayed=0 recon=0 moved=()
  for id in "${others[@]}"; do
    if [ "$(gw_of "$all" "$id")" = "${HOME_GW[$id]}" ]; then stayed=$((stayed + 1)); else moved+=("$id:[$(gw_of "$all" "$id")]"); fi
    recon=$((recon + $(jq -r --arg id "$id" '.clients[$id].events | length' "$TMP/fleet.json")))
  done
  check "5. none of the other ${#others[@]} client ids moved ($stayed stayed${moved:+; moved: ${moved[*]}})" [ "$stayed" -eq ${#others[@]} ]
  check "5. none of them had to CONNECT again ($recon reconnects)" [ "$recon" -eq 0 ]

  # back at the restarted gateway
  local back_land back=0 backd=()
  back_land=$(landing "$t_restart" "$t_stop")
  for id in "${victims[@]}"; do
    local last_g fa
    last_g=$(jq -r --arg id "$id" '[.ids[$id] // {} | to_entries[] | select(.value.last_acked != null)] | max_by(.value.last_acked) | .key // empty' <<<"$back_land")
    fa=$(jq -r --arg id "$id" --arg v "$victim" '.ids[$id][$v].first_acked // empty' <<<"$back_land")
    [ "$last_g" = "$victim" ] && back=$((back + 1))
    backd+=("$id:$([ -n "$fa" ] && fsec "$fa - $t_restart" || echo never)s")
  done
  info "5. back at $victim after its restart (first message it acknowledged, s after the restart): ${backd[*]}"
  check "5. the client ids of $victim are back at it within $RETURN_WATCH s of its restart ($back/${#victims[@]})" \
    [ "$back" -eq ${#victims[@]} ]
  local lost
  lost=$(jq -r '[.clients[] | .published - .acked - (.unacked_at_stop // 0)] | add' "$TMP/fleet.json")
  info "5. the fleet: $(jq -c '{published, acked, connects, connect_datagrams}' "$TMP/fleet.json"), every client's answers from $(jq -c '.sources | keys' "$TMP/fleet.json")"
  check "5. every message the $N_CLIENTS clients published was acknowledged in the end ($lost not)" [ "$lost" -eq 0 ]
  check "5. every answer the $N_CLIENTS clients got came from $TOPO_VIP:$SN_PORT" \
    jtrue --arg s "$TOPO_VIP:$SN_PORT" '.sources | keys == [$s]' "$TMP/fleet.json"
  VICTIM=$victim
}

# --- 6. the counters ---------------------------------------------------------------------------------

counters_final() {
  local f=$TMP/stats-final.json c
  stats "$f" || { not_ok "6. stats --json answers"; return 0; }
  info "6. stats mqttsn: $(jq -c .mqttsn "$f"); udp: $(jq -c '.udp' "$f")"
  c=$(sn_num "$f" connects)
  check "6. mqttsn.connects $c between the CONNECT exchanges ($CONNECT_MIN) and the CONNECT datagrams sent ($CONNECT_DGRAMS)" \
    all_true "$c -ge $CONNECT_MIN" "$c -le $CONNECT_DGRAMS"
  check "6. mqttsn.rebound $(sn_num "$f" rebound) >= the $EXPECT_REBOUND of 3" ge "$(sn_num "$f" rebound)" "$EXPECT_REBOUND"
  local all g to from rec rep bad=()
  all=$(landing 0 1e12)
  for g in "${GATEWAYS[@]}"; do
    to=$(jq -r --arg b "$g:$SN_PORT" '.pools[] | select(.name == "gateways") | .brokers[] | select(.name == $b) | .datagrams_to // -1' "$f")
    from=$(jq -r --arg b "$g:$SN_PORT" '.pools[] | select(.name == "gateways") | .brokers[] | select(.name == $b) | .datagrams_from // -1' "$f")
    rec=$(jq -r --arg g "$g" '.gateways[$g].datagrams' <<<"$all")
    rep=$(jq -r --arg g "$g" '.gateways[$g].replies' <<<"$all")
    info "6. $g: datagrams_to $to, recorded $rec; datagrams_from $from, answered $rep"
    if [ "$g" = "$VICTIM" ]; then
      [ "$to" -ge "$rec" ] || bad+=("$g to $to < recorded $rec")
    else
      [ "$to" -eq "$rec" ] || bad+=("$g to $to != recorded $rec")
    fi
    [ "$from" -ge 0 ] && [ "$from" -le "$rep" ] || bad+=("$g from $from > answered $rep")
  done
  check "6. per gateway: datagrams_to = what it recorded ($VICTIM, killed: at least), datagrams_from <= what it answered${bad:+ (not: ${bad[*]})}" \
    [ ${#bad[@]} -eq 0 ]
}

# --- 7. mqttlb restarted --------------------------------------------------------------------------------

restart_lb() {
  local rc=0
  stop_pid "$LB_PID" 30 || rc=$?
  forget_pid "$LB_PID"
  check "7. mqttlb exits 0 on SIGTERM (status $rc)" [ "$rc" -eq 0 ]
  [ "$rc" -eq 0 ] || show_log "$LB_LOG"
  launch_lb "$CFG" mqttlb2
  local args=() i t0 land same=0 diff=()
  # each client id from another address than in 1
  for i in "${!FLEET_IDS[@]}"; do args+=(--client "${FLEET_IDS[i]}@${CLIENT_ADDRS[(i + 1) % ${#CLIENT_ADDRS[@]}]}"); done
  t0=$(now)
  rc=0
  sn again fleet "${args[@]}" --messages 1 --retries 20 --duration 30 || rc=$?
  check "7. after the restart the $N_CLIENTS client ids CONNECT and publish again, each from another address (status $rc)" [ "$rc" -eq 0 ]
  sleep 0.2
  land=$(landing "$t0" "$(now)")
  for i in "${FLEET_IDS[@]}"; do
    if [ "$(gw_of "$land" "$i")" = "${HOME_GW[$i]}" ]; then same=$((same + 1)); else diff+=("$i:${HOME_GW[$i]##*.}->[$(gw_of "$land" "$i")]"); fi
  done
  check "7. each client id at the same gateway as before the restart ($same/$N_CLIENTS${diff:+; not: ${diff[*]}})" \
    [ "$same" -eq "$N_CLIENTS" ]
  rc=0
  stop_pid "$LB_PID" 30 || rc=$?
  forget_pid "$LB_PID"
  check "7. mqttlb exits 0 on SIGTERM (status $rc)" [ "$rc" -eq 0 ]
}

main() {
  setup
  fleet_start
  stats "$TMP/stats-before.json" || die "mqttlb stats --json does not answer ($(cat "$TMP/stats.err"))"
  jtrue '.mqttsn.malformed_by' "$TMP/stats-before.json" || not_ok "stats --json has mqttsn.malformed_by ($(jq -c '.mqttsn' "$TMP/stats-before.json"))"
  roam
  rebind
  malformed
  sleep 0.2
  stats "$TMP/stats-mid.json" || die "mqttlb stats --json does not answer"
  counters_mid "$TMP/stats-before.json" "$TMP/stats-mid.json"
  kill_gateway
  counters_final
  restart_lb
  check "the test took under 2 minutes ($SECONDS s)" [ "$SECONDS" -lt 120 ]
  finish
}

main
