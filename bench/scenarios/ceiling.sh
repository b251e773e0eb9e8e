# shellcheck shell=bash
# Scenario `ceiling` (sourced by bench/run.sh): the null forwarder's ceiling
# against mqttlb forwarding spliced segments, on the same veth topology, with
# the same generator, frames and core (one worker on the balancer's core).
#
# 1. null-forward: `mqttlb null-forward`, swap mode: xdpgen sends 64 flows of
#    minimum-size TCP frames from the client namespace and counts what comes
#    back (bench/nullfwd-pps.sh's setup). One xdpgen thread sends and
#    receives on one core: here the generator, not the forwarder, usually
#    sets the limit.
# 2. null-forward-cross: the same, cross mode: in on lb-c, out of lb-b to
#    brk0, where a second xdpgen (--rx-only, on brk0: the brokers' kernel
#    sees nothing meanwhile; niced, its ring may overflow: what it drops is
#    counted as through) counts the frames. This is mqttlb's path, and the
#    reference for the ratio.
# 3. mqttlb: `mqttlb run`; 64 real MQTT connections are opened from
#    10.10.0.1:40000-40063 (CONNECT, then a PUBLISH to bench/ceiling/N binds
#    each to a broker), so mqttlb holds 64 spliced connections. Once each
#    socket's bytes are all ACKed, the holder reads its next send and
#    receive sequence numbers (TCP_REPAIR, TCP_QUEUE_SEQ; it leaves repair
#    mode without a window probe, so nothing is sent) into a file. Then the
#    same xdpgen run as in 2, plus --flow-seq FILE, sends the same 64 flows:
#    every frame carries the connection's own numbers, seq = snd_nxt - 16
#    and ack = rcv_nxt, so it is a retransmission of the last 16 bytes the
#    client sent (the stamp as their content: a TCP receiver keeps its first
#    copy and never compares). mqttlb's splice forwards it as it would a
#    real one: inside its sanity span (lb_splice.c seg_sane: seq 16 bytes
#    behind what the broker ACKed, ack exactly what mqttlb sent the client,
#    so insane_segments stays 0), nothing new for the parser (seq + len =
#    the stream's rcv_nxt: no parse_gaps), no state moved, so every trial
#    sends the same frames. It rewrites each (sequence numbers, addresses,
#    ports, MACs, checksum) and sends it out of lb-b. Frames with new data
#    (seq advancing) would be fed to the MQTT parser, which would read the
#    stamps as a malformed stream and close the connection; pure ACKs carry
#    no stamp for the counter and are smaller than the null forwarder's
#    frames.
# Each is measured RFC 2544 style: pps is the highest offered rate (binary
# search over xdpgen --rate, --count frames per trial, a failed trial tried
# twice) at which the forwarder lost at most 1% of the frames; pps_flat_out
# is what comes through when the generator sends flat out (overload). A
# frame the receiver's own RX ring had no room for (XDP_STATISTICS) counts as
# through: it left the forwarder. Full runs take
# the best of two rounds (quick: one) of the three. The headline
# ratio is mqttlb's pps over null-forward-cross's (target >= 0.9).
#
# What it leaves out: the frames are retransmissions of bytes mqttlb's MQTT
# parser has read, so the parser does not run: the splice is measured, not
# the parser (about 260 instructions of a small PUBLISH; bench/lb-cost.sh).
# The mqttlb row's notes give insane_segments and parse_gaps (both expected
# 0).

ceiling_holder() {
  cat >"$WORK/ceiling-holder.py" <<'PY'
# Opens N MQTT connections from SRC:BASE.. to VIP:1883, each CONNECT then
# one PUBLISH (bench/ceiling/I); once each one's bytes are all ACKed, writes
# "SPORT SND_NXT RCV_NXT" per connection to SEQFILE (xdpgen --flow-seq),
# prints "ready", holds them for HOLD s.
import fcntl, os, socket, struct, sys, termios, time
vip, n, base, src, hold, seqfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6]
# linux/tcp.h: TCP_REPAIR (ON 1, OFF_NO_WP -1: leave without a window
# probe), TCP_REPAIR_QUEUE (RECV 1, SEND 2), TCP_QUEUE_SEQ: that queue's next
# sequence number (SEND: write_seq; RECV: rcv_nxt). Needs CAP_NET_ADMIN.
TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, RECV_Q, SEND_Q = 19, 20, 21, 1, 2
T = socket.IPPROTO_TCP
def unacked(c):  # SIOCOUTQ: bytes sent (or queued) and not ACKed
    return struct.unpack("i", fcntl.ioctl(c.fileno(), termios.TIOCOUTQ, bytes(4)))[0]
def queue_seq(c, q):
    c.setsockopt(T, TCP_REPAIR_QUEUE, q)
    return c.getsockopt(T, TCP_QUEUE_SEQ) & 0xFFFFFFFF
def s(x):
    b = x.encode()
    return struct.pack("!H", len(b)) + b
socks = []
for i in range(n):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.bind((src, base + i))
    c.settimeout(5)
    c.connect((vip, 1883))
    body = s("MQTT") + bytes([4, 2]) + struct.pack("!H", 900) + s(f"ceiling-{i}")
    c.sendall(bytes([0x10, len(body)]) + body)
    ack = c.recv(4)
    if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
        sys.exit(f"connection {i}: no CONNACK ({ack!r})")
    pb = s(f"bench/ceiling/{i}") + b"x" * 16
    c.sendall(bytes([0x30, len(pb)]) + pb)
    socks.append(c)
lines, end = [], time.monotonic() + 5
for i, c in enumerate(socks):
    while unacked(c) and time.monotonic() < end:
        time.sleep(0.01)
    if unacked(c):
        sys.exit(f"connection {i}: {unacked(c)} bytes not ACKed after 5 s")
    c.setsockopt(T, TCP_REPAIR, 1)
    try:
        snd, rcv = queue_seq(c, SEND_Q), queue_seq(c, RECV_Q)
    finally:
        c.setsockopt(T, TCP_REPAIR, -1)
    lines.append(f"{base + i} {snd} {rcv}\n")
with open(seqfile + ".tmp", "w") as f:
    f.write("# sport snd_nxt rcv_nxt (ceiling-holder.py, for xdpgen --flow-seq)\n")
    f.writelines(lines)
os.replace(seqfile + ".tmp", seqfile)
print("ready", flush=True)
time.sleep(hold)
PY
}

# ceiling_trial KIND RATE: one trial of SECS seconds at RATE frames/s (0:
# flat out); sets TRIAL_SENT, TRIAL_RECV (frames), TRIAL_TXPPS, TRIAL_RXPPS.
# KIND swap: the generator receives what the null forwarder swaps back;
# KIND cross or mqttlb: a second xdpgen receives on brk0 what came out of
# lb-b (the null forwarder in cross mode, or mqttlb's splice). KIND mqttlb
# sends with the connections' own sequence numbers (--flow-seq).
ceiling_trial() {
  local kind=$1 rate=$2 stem count=() seq=() rx_pid rxj
  next_log "ceiling-$kind-$rate"
  stem=$NEXT_LOG
  [ "$rate" -eq 0 ] || count=(--count $((rate * CEIL_SECS)))
  [ "$kind" != mqttlb ] || seq=(--flow-seq "$CEIL_SEQ_FILE")
  if [ "$kind" = swap ]; then
    waited "$stem-gen.json" "$stem-gen.err" in_ns cli timeout --foreground -k 5 $((CEIL_SECS + 30)) \
      "$XDPGEN" "${CEIL_GEN[@]}" --rate "$rate" "${count[@]}" --rx || warn "xdpgen failed: $(tail -n 2 "$stem-gen.err")"
    rxj=$stem-gen.json
  else
    # niced: the sender shares its core, and what the receiver's ring
    # drops is counted as through anyway
    bg brk "$stem-rx" nice -n 19 "$XDPGEN" --dev brk0 --queues 1 --rx-only --duration $((CEIL_SECS + 2)) \
      "${count[@]}" --ring 8192 --json --quiet "${CEIL_RX_CORE[@]}"
    rx_pid=$BG_PID
    wait_until 10 grep -qs 'xdpgen: ready' "$stem-rx.err" || sleep 1.5
    waited "$stem-gen.json" "$stem-gen.err" in_ns cli timeout --foreground -k 5 $((CEIL_SECS + 30)) \
      "$XDPGEN" "${CEIL_GEN[@]}" "${seq[@]}" --rate "$rate" "${count[@]}" || warn "xdpgen (sender) failed: $(tail -n 2 "$stem-gen.err")"
    wait_pid "$rx_pid" $((CEIL_SECS + 20)) || warn "xdpgen (receiver) exited with status $?"
    rxj=$stem-rx.out
  fi
  TRIAL_SENT=$(jget "$stem-gen.json" sent)
  TRIAL_TXPPS=$(jget "$stem-gen.json" tx_pps)
  # through the forwarder: what the receiver counted, plus what its own RX
  # ring had no room for (those frames did leave the forwarder; on this
  # machine the receiver shares its core with the sender)
  TRIAL_RECV=$(($(jget "$rxj" unique) + $(jget "$rxj" rx_kernel_dropped)))
  : "${TRIAL_SENT:=0}"
  TRIAL_RXPPS=$(awk -v r="$TRIAL_RECV" -v s="$TRIAL_SENT" -v p="${TRIAL_TXPPS:-0}" 'BEGIN { if (s) printf "%.0f", p * r / s }')
  say "  ceiling $kind at $rate: sent $TRIAL_SENT, through $TRIAL_RECV (receiver's ring dropped $(jget "$rxj" rx_kernel_dropped))"
}

ceiling_passed() {
  [ "$TRIAL_SENT" -gt 0 ] && [ $((TRIAL_RECV * 1000)) -ge $((TRIAL_SENT * (1000 - CEIL_LOSS_PCT * 10))) ]
}

# ceiling_search KIND NAME: the flat-out trial, then a binary search for
# the highest rate with at most CEIL_LOSS_PCT % loss; keeps NAME's best
# over the rounds in CEIL_R[NAME.*].
ceiling_search() {
  local kind=$1 name=$2 lo=0 hi mid i best=0 best_rx=""
  ceiling_trial "$kind" 0
  if [ "$(printf '%.0f' "${TRIAL_RXPPS:-0}")" -ge "${CEIL_R[$name.flat]:-0}" ]; then
    CEIL_R[$name.flat]=$(printf '%.0f' "${TRIAL_RXPPS:-0}")
    CEIL_R[$name.flat_tx]=$(printf '%.0f' "${TRIAL_TXPPS:-0}")
    CEIL_R[$name.flat_pct]=$(awk -v r="$TRIAL_RECV" -v s="$TRIAL_SENT" 'BEGIN { printf "%.0f", s ? 100 * r / s : 0 }')
  fi
  hi=$(printf '%.0f' "${TRIAL_TXPPS:-0}")
  for ((i = 0; i < CEIL_STEPS; i++)); do
    mid=$(((lo + hi) / 2 / 1000 * 1000))
    [ "$mid" -gt 0 ] || break
    ceiling_trial "$kind" "$mid"
    # a failed trial is tried once more: on a shared machine one stall of
    # the forwarding core overflows its RX ring whatever the rate
    ceiling_passed || ceiling_trial "$kind" "$mid"
    if ceiling_passed; then
      lo=$mid best=$mid best_rx=$TRIAL_RXPPS
    else
      hi=$mid
    fi
  done
  say "  ceiling $name, round $CEIL_ROUND: $best pps with <= $CEIL_LOSS_PCT% loss"
  if [ "$best" -ge "${CEIL_R[$name.best]:-0}" ]; then
    CEIL_R[$name.best]=$best
    CEIL_R[$name.best_rx]=$(printf '%.0f' "${best_rx:-0}")
  fi
  CEIL_R[$name.rounds]+="${CEIL_R[$name.rounds]:+, }$best"
}

# ceiling_null MODE ARGS...: mqttlb null-forward with ARGS, searched.
ceiling_null() {
  local mode=$1 name=null-forward
  shift
  [ "$mode" = swap ] || name=null-forward-$mode
  next_log "ceiling-$name"
  bg lb "$NEXT_LOG" "$MQTTLB" null-forward "$@" -w 1 --cores "$BAL_CPU" -l "$TOPO_VIP:$PORT" \
    -s "$TOPO_VIP:20000-29999" --json
  # the null forwarder as the running contender: contender_stop ends it
  # shellcheck disable=SC2034 # lib.sh's
  CUR=$name CUR_PID=$BG_PID CUR_OUT=$NEXT_LOG.out CUR_ERR=$NEXT_LOG.err
  wait_until 10 grep -q '^mqttlb null-forward:' "$CUR_ERR" || die "mqttlb null-forward did not start: $(cat "$CUR_ERR")"
  [ "$mode" = swap ] || sleep 1 # the next hop's MAC (netlink)
  ceiling_search "$mode" "$name"
  contender_stop
}

# ceiling_mqttlb FLOWS: mqttlb with FLOWS spliced connections, searched.
ceiling_mqttlb() {
  local flows=$1 holder_pid
  # no health checks once started: while xdpgen holds brk0 the brokers
  # cannot answer them
  contender_start mqttlb no-health
  next_log ceiling-mqttlb-holder
  CEIL_SEQ_FILE=$NEXT_LOG.seq
  rm -f "$CEIL_SEQ_FILE"
  bg cli "$NEXT_LOG" "$PY" "$WORK/ceiling-holder.py" "$TOPO_VIP" "$flows" 40000 "${TOPO_CLIENTS%% *}" 3600 "$CEIL_SEQ_FILE"
  holder_pid=$BG_PID
  wait_until 20 grep -qs ready "$NEXT_LOG.out" || die "the $flows connections were not opened: $(cat "$NEXT_LOG.err")"
  [ "$(grep -cv '^#' "$CEIL_SEQ_FILE" 2>/dev/null)" = "$flows" ] || die "the holder wrote no sequence numbers for the $flows connections: $(cat "$NEXT_LOG.err")"
  wait_until 10 broker_conns_at_least "$flows" || die "mqttlb spliced only $(broker_conns) of $flows connections"
  ceiling_search mqttlb mqttlb
  CEIL_R[mqttlb.rxfull]=$(mqttlb_stats '[.workers[].kernel_rx_ring_full] | add')
  stop_pid "$holder_pid" 5 || true
  contender_stop
  CEIL_R[mqttlb.stats]=$(jq -r '"spliced \(.spliced), insane_segments \(.insane_segments), parse_gaps \(.parse_gaps), malformed \(.malformed), stray \(.stray), no_frame \(.no_frame)"' "$LAST_OUT" 2>/dev/null || true)
  CEIL_R[mqttlb.insane]=$(jq -r '.insane_segments // 0' "$LAST_OUT" 2>/dev/null || echo 0)
  [ "${CEIL_R[mqttlb.insane]:-0}" -eq 0 ] ||
    warn "ceiling: mqttlb dropped ${CEIL_R[mqttlb.insane]} of xdpgen's frames as insane_segments (their sequence numbers are not the connections')"
}

scenario_ceiling() {
  local flows=64 gen_cpu="" rounds=2 r b name note what bound
  declare -gA CEIL_R=()
  CEIL_SECS=2 CEIL_STEPS=6 CEIL_LOSS_PCT=1
  if [ "$QUICK" -eq 1 ]; then
    CEIL_SECS=1 CEIL_STEPS=4 rounds=1
  fi
  [ "$BAL_CPU" -eq 0 ] || gen_cpu=0
  CEIL_GEN=(--dev cli0 --queues 1 --src "${TOPO_CLIENTS%% *}" --dst "$TOPO_VIP" --dst-mac "$TOPO_LB_C_MAC"
    --sport 40000-$((40000 + flows - 1)) --dport "$PORT" --flows "$flows" --duration $((CEIL_SECS + 2)) --json --quiet)
  CEIL_RX_CORE=()
  if [ -n "$gen_cpu" ]; then
    CEIL_GEN+=(--cores "$gen_cpu")
    CEIL_RX_CORE=(--cores "$gen_cpu")
  fi
  ceiling_holder
  # while xdpgen holds brk0 the brokers' kernel answers no ARP: the lb
  # namespace keeps the brokers' MACs for the scenario's length
  for b in "${BENCH_BROKERS[@]}"; do
    ip -n "$TOPO_NS_LB" neigh replace "$b" lladdr "$TOPO_BRK_MAC" dev lb-b nud permanent
  done
  for ((r = 1; r <= rounds; r++)); do
    CEIL_ROUND=$r
    ceiling_null swap -i lb-c
    ceiling_null cross -i lb-c -i lb-b --mode cross --next-hop "1=${BENCH_BROKERS[0]}"
    ! has_contender mqttlb || ceiling_mqttlb "$flows"
  done
  for b in "${BENCH_BROKERS[@]}"; do ip -n "$TOPO_NS_LB" neigh del "$b" dev lb-b 2>/dev/null || true; done

  note="xdpgen: $flows flows of minimum-size (70-byte) TCP frames${gen_cpu:+, generator on core $gen_cpu}; balancer: 1 worker on core $BAL_CPU, AF_XDP copy mode (veth); best of $rounds round(s)"
  for name in null-forward null-forward-cross mqttlb; do
    [ -n "${CEIL_R[$name.best]:-}" ] || continue
    case "$name" in
      null-forward) what="swap mode: back out of lb-c to the generator" ;;
      null-forward-cross) what="cross mode: in on lb-c, out of lb-b to brk0, counted there by xdpgen --rx-only (mqttlb's path)" ;;
      mqttlb) what="segments of $flows spliced connections (xdpgen --flow-seq: each frame a retransmission of the connection's last 16 bytes, with its own seq and ack), in on lb-c, out of lb-b to brk0, counted there by xdpgen --rx-only; counters of the last round: ${CEIL_R[mqttlb.stats]:-n/a}${CEIL_R[mqttlb.rxfull]:+, frames its RX ring had no room for (all trials of the last round): ${CEIL_R[mqttlb.rxfull]}}" ;;
    esac
    emit ceiling "$name" pps "${CEIL_R[$name.best]}" pps \
      "the highest offered rate with <= $CEIL_LOSS_PCT% loss ($CEIL_STEPS-step binary search, $CEIL_SECS s per trial, a failed trial tried twice; rounds: ${CEIL_R[$name.rounds]}; through at that rate ${CEIL_R[$name.best_rx]} pps); $what; $note"
    bound=""
    [ "${CEIL_R[$name.flat_pct]:-0}" -lt 99 ] ||
      bound="; the forwarder kept up with everything the generator could send: its ceiling is higher than this"
    emit ceiling "$name" pps_flat_out "${CEIL_R[$name.flat]}" pps \
      "offered flat out (${CEIL_R[$name.flat_tx]} pps): ${CEIL_R[$name.flat_pct]}% came through$bound"
  done
  has_contender mqttlb || return 0
  emit ceiling mqttlb ratio_vs_null_forward "$(div_or_empty "${CEIL_R[mqttlb.best]:-}" "${CEIL_R[null-forward-cross.best]:-}")" ratio \
    "pps over null-forward-cross's (the same path; target >= 0.9); the frames retransmit bytes mqttlb's MQTT parser has read, so the splice is measured, not the parser"
  emit ceiling mqttlb ratio_vs_null_forward_swap "$(div_or_empty "${CEIL_R[mqttlb.best]:-}" "${CEIL_R[null-forward.best]:-}")" ratio \
    "pps over the swap-mode null forwarder's (bench/nullfwd-pps.sh's setup: one interface)"
  emit ceiling mqttlb ratio_flat_out "$(div_or_empty "${CEIL_R[mqttlb.flat]:-}" "${CEIL_R[null-forward-cross.flat]:-}")" ratio \
    "pps_flat_out over null-forward-cross's (both overloaded)"
}

plot_ceiling() {
  plot_bars "$OUT/ceiling.png" "Null forwarder vs mqttlb splicing (frames/s, 1 core, veth)" "frames per second" \
    ceiling pps pps_flat_out
}
