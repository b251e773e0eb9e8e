# shellcheck shell=bash
# Scenario `udp` (sourced by bench/run.sh): UDP datagrams per second, one
# way, from many sources through the balancer to three collectors (issue 18).
#
# Senders: xdpgen --mode udp on cli0 (the client namespace; core 0 when the
# balancer is on another): 64 source addresses (10.10.0.10-73) x 4 source
# ports = 256 flows, every datagram stamped (run id, sequence number) at the
# start of its payload, UDP payloads of 64 and 512 bytes (106- and 554-byte
# frames), valid checksums, to the VIP's port 5000 (`direct`: to the first
# collector).
# Collectors: 10.20.0.11-13:5000, counted by one xdpgen --rx-only on brk0
# (the brokers' end of the broker link; niced, on the sender's core): it
# takes every frame that reaches brk0 and counts the distinct stamped
# datagrams of the trial, whichever collector address they are for; the
# brokers' kernel sees none of them meanwhile. A frame its own RX ring had no
# room for counts as delivered (it did reach the collectors' link), as in the
# ceiling scenario; the notes give how many. Three placeholder sockets bound
# to 10.20.0.11-13:5000 in the brokers' namespace (never read) keep the
# brokers' kernel from answering ICMP port unreachable between trials, which
# would take a collector out of mqttlb's pool (udp_down_hold) or fail NGINX's
# upstream. The lb namespace keeps the collectors' MACs (permanent neighbour
# entries) for the scenario's length: the counter answers no ARP.
# Contenders (one worker or process on the balancer's core):
#   direct              the senders straight to 10.20.0.11:5000, forwarded
#                       by the lb namespace's kernel
#   mqttlb              `mqttlb run` with a `protocol: udp` listener on
#                       VIP:5000, pool collectors, balance source-ip (Maglev
#                       on the client's address), udp_idle_timeout 30s,
#                       udp_max_flows 65536 (mqttlb-udp.yaml): a flow per
#                       client address:port, full NAT from 10.20.0.1
#   nginx               NGINX stream `listen VIP:5000 udp`, `hash $remote_addr
#                       consistent` over the collectors, `proxy_responses 0`:
#                       the one-way setting NGINX documents (no answer is
#                       awaited): every datagram is a session of its own, with
#                       its own upstream socket (nginx-udp.conf); `listen ...
#                       udp rcvbuf=4m` (the default 208 KiB holds about 270
#                       small datagrams; 4 MiB, which the kernel doubles, holds
#                       thousands, as mqttlb's 4096-entry RX ring)
#   nginx-flow          the same without proxy_responses (NGINX's default:
#                       any number of answers) and proxy_timeout 30s: one
#                       session, and one upstream socket, per client
#                       address:port for as long as it sends, as mqttlb's
#                       flows
#   null-forward-cross  `mqttlb null-forward --mode cross`, the source
#                       VIP:5000-5000: in on lb-c, out of lb-b with the MACs
#                       rewritten, no NAT, no flow table: the AF_XDP
#                       datapath's ceiling on this path (ceiling.sh's
#                       null-forward-cross, fed UDP)
# (haproxy and haproxy-cid: one NA row each; HAProxy 2.6 proxies no UDP.)
#
# Every trial starts a counter, then sends 10,000 warm-up datagrams at
# 50,000/s over the same flows with another run id (RFC 2544's learning
# frames; the counter ignores them), then the trial's datagrams. Without the
# warm-up, the first frames into a freshly attached counter stalled the path
# out of lb-b for tens of milliseconds; mqttlb and the null forwarder run that
# path in their own transmissions, on their core, and lost thousands of
# datagrams on their RX rings meanwhile in the first trial after each
# counter start (the kernel contenders do not: the stall slows the sender).
#
# Each contender and payload is measured RFC 2544 style, as in ceiling.sh:
#   dgrams_per_s_P       datagrams per second delivered to the collectors at
#                        the highest offered rate with at most 1% lost:
#                        when the flat-out trial lost at most 1%, that trial
#                        (the sender's limit); else a trial at 97% of the
#                        flat-out delivered rate, then a binary search
#                        between the passes and failures (3 trials of 2 s;
#                        quick: 2 of 1 s; if none passed, up to 2 more
#                        halvings); a failed trial is tried once more (full
#                        run only)
#   dgrams_per_s_flat_P  delivered when the sender sends flat out (2 s;
#                        quick: 1 s): overload; loss_pct_flat_P what was
#                        lost, the notes say where (the balancer's RX ring,
#                        the proxy's socket buffer, the veths)
#   cpu_busy_pct_P and cpu_busy_pct_flat_P
#                        the machine's CPU busy (user, nice, system, irq and
#                        softirq over all cores; 100 = every core; from
#                        /proc/stat) over the middle of that trial, the notes
#                        split by core, with the balancer's own CPU (its
#                        processes' user+system time; none for direct)
# The full run measures direct, mqttlb and null-forward-cross in a second
# round, in reverse order after the NGINX contenders, and keeps each
# payload's better round (with its flat-out trial): their rates are near
# the sender's, which moves by tens of percent with the machine's other
# work; the notes give both rounds.
# mqttlb's rows add ratio_vs_null_forward_P and ratio_vs_nginx_P (over
# nginx-flow's), and udp_dropped: its udp.dropped counters summed, the notes
# with every counter and the datagrams to each collector.
#
# On this 2-core machine the sender, the counter and the kernel's softirq
# work share core 0, the balancer has core 1; direct and the kernel proxies'
# receive path run in softirq on the sender's core, mqttlb's XDP redirect and
# copy into its UMEM too (veth: AF_XDP copy mode). So the load tools compete
# with the contender: compare rates with the CPU busy beside them.
# Not measured here: replies (an echo test; mqttlb's to_clients path).

UDP_PORT=5000
UDP_SRC_FIRST=10.10.0.10 # the senders' first address
UDP_NSRC=64
UDP_SPORT=40000-40003 # ports per address: 64 x 4 = 256 flows
UDP_FLOWS=256
UDP_PAYLOADS=(64 512)
UDP_HDR=42 # Ethernet, IPv4, UDP

# udp_placeholders_start: sockets bound to the collectors' address:port in
# the brokers' namespace, never read (its kernel drops what fills them, and
# answers no ICMP port unreachable).
udp_placeholders_start() {
  cat >"$WORK/udp-placeholder.py" <<'PY'
import socket, sys, time
socks = []
for a in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a, int(sys.argv[1])))
    socks.append(s)
print("ready", flush=True)
time.sleep(86400)
PY
  next_log udp-placeholders
  bg brk "$NEXT_LOG" "$PY" "$WORK/udp-placeholder.py" "$UDP_PORT" "${BENCH_BROKERS[@]}"
  UDP_PLACEHOLDER_PID=$BG_PID
  wait_until 10 grep -q ready "$NEXT_LOG.out" || die "the placeholder sockets did not bind: $(cat "$NEXT_LOG.err")"
}

# udp_cpu_snap: per line of /proc/stat's cpu lines: name, busy (user, nice,
# system, irq, softirq), total (those, idle, iowait and steal), softirq, steal.
udp_cpu_snap() {
  awk '/^cpu/ { b = $2 + $3 + $4 + $7 + $8; print $1, b, b + $5 + $6 + $9, $8, $9 }' /proc/stat
}

# udp_cpu_delta A B: sets UDP_BUSY (the machine's busy %, 100 = every core)
# and UDP_CPU_NOTE (per core) from two snapshots.
udp_cpu_delta() {
  local out
  out=$(awk 'NR == FNR { b[$1] = $2; t[$1] = $3; s[$1] = $4; st[$1] = $5; next }
    { dt = $3 - t[$1]; if (dt <= 0) next
      busy = 100 * ($2 - b[$1]) / dt; si = 100 * ($4 - s[$1]) / dt; ste = 100 * ($5 - st[$1]) / dt
      if ($1 == "cpu") { printf "%.1f\n", busy; next }
      n = n sprintf("%s%s %.0f%% (softirq %.0f%%%s)", n == "" ? "" : ", ", $1, busy, si, ste >= 1 ? sprintf(", steal %.0f%%", ste) : "") }
    END { print n }' <(printf '%s\n' "$1") <(printf '%s\n' "$2"))
  UDP_BUSY=$(head -n 1 <<<"$out")
  UDP_CPU_NOTE=$(tail -n 1 <<<"$out")
}

# udp_txdrop NS DEV: the device's tx_dropped (a veth: its peer's queue was full).
udp_txdrop() {
  ip -n "$(ns_name "$1")" -s -j link show dev "$2" 2>/dev/null | jq -r '.[0].stats64.tx.dropped // 0' 2>/dev/null || echo 0
}

# udp_drops_snap: "RCVBUF INERRORS CLI0_TXDROP LBB_TXDROP LBC_TXDROP RINGFULL":
# the lb namespace's UDP socket-buffer drops and errors (nstat), the veths'
# TX drops, mqttlb's frames dropped on its full RX ring.
udp_drops_snap() {
  local u
  u=$(in_ns lb env NSTAT_HISTORY="$WORK/nstat-udp.hist" nstat -asz 2>/dev/null | awk '
    $1 == "UdpRcvbufErrors" { r = $2 } $1 == "UdpInErrors" { e = $2 } END { print r + 0, e + 0 }')
  echo "$u $(udp_txdrop cli cli0) $(udp_txdrop lb lb-b) $(udp_txdrop lb lb-c) $(mqttlb_ring_full)"
}

# udp_drops_note BEFORE AFTER: where frames were dropped, in words.
udp_drops_note() {
  local b a n
  read -r -a b <<<"$1"
  read -r -a a <<<"$2"
  n="the lb namespace's UDP socket-buffer drops $((a[0] - b[0])) (UdpRcvbufErrors), UdpInErrors $((a[1] - b[1]))"
  n+=", veth TX drops cli0 $((a[2] - b[2])), lb-b $((a[3] - b[3])), lb-c $((a[4] - b[4]))"
  [ "$CUR" != mqttlb ] || n+=", frames the kernel dropped on mqttlb's full RX ring $(delta "${a[5]:-}" "${b[5]:-}")"
  echo "$n"
}

# udp_trial NAME DST PAYLOAD RATE: one trial, the sender at RATE datagrams/s
# (0: flat out) for UDP_SECS to DST:5000; sets TRIAL_SENT, TRIAL_THROUGH,
# TRIAL_TXPPS, TRIAL_RXPPS (delivered per second), TRIAL_LOSS (%),
# TRIAL_BUSY, TRIAL_CPU (the note), TRIAL_BAL (the balancer's CPU %),
# TRIAL_DROPS (the note), TRIAL_SINKDROP.
udp_trial() {
  local name=$1 dst=$2 payload=$3 rate=$4 stem count=() rx_pid gen_pid a b c0 c1 t0 t1 d0 d1 dur u run_id
  next_log "udp-$name-$payload-$rate"
  stem=$NEXT_LOG
  dur=$UDP_FLAT_SECS
  if [ "$rate" -gt 0 ]; then
    count=(--count $((rate * UDP_SECS)))
    dur=$((UDP_SECS + 2))
  fi
  run_id=$((RANDOM * 32768 + RANDOM + 2))
  bg brk "$stem-rx" nice -n 19 "$XDPGEN" --dev brk0 --queues 1 --rx-only --duration $((dur + 8)) \
    "${count[@]}" --run-id "$run_id" --ring 8192 --json --quiet "${UDP_CORE[@]}"
  rx_pid=$BG_PID
  wait_until 10 grep -qs 'xdpgen: ready' "$stem-rx.err" || warn "the counter on brk0 is not ready: $(tail -n 2 "$stem-rx.err")"
  # warm-up (RFC 2544's learning frames): 10,000 datagrams at 50,000/s over
  # the same flows, another run id (the counter ignores them). The first
  # frames into a freshly attached counter cost the path out of lb-b a
  # stall (tens of ms: mqttlb's and the null forwarder's transmissions
  # run it on their own core), which overflowed their RX rings in the
  # first trial after each counter start
  waited "$stem-warm.out" "$stem-warm.err" in_ns cli timeout -k 5 10 "$XDPGEN" "${UDP_GEN[@]}" --dst "$dst" \
    --size $((UDP_HDR + payload)) --rate 50000 --count 10000 --duration 2 --run-id 1 ||
    warn "the warm-up failed: $(tail -n 2 "$stem-warm.err")"
  sleep 0.2
  d0=$(udp_drops_snap)
  bg cli "$stem-gen" timeout -k 5 $((dur + 30)) "$XDPGEN" "${UDP_GEN[@]}" --dst "$dst" \
    --size $((UDP_HDR + payload)) --rate "$rate" "${count[@]}" --duration "$dur" --run-id "$run_id"
  gen_pid=$BG_PID
  wait_until 10 grep -qs 'xdpgen: ready' "$stem-gen.err" || true
  # the CPU over the middle of the sending: from 0.3 s in to 0.3 s before the end
  sleep 0.3
  a=$(udp_cpu_snap) c0=$(contender_cpu_ticks) t0=$(now_s)
  sleep "$(awk -v s="$([ "$rate" -gt 0 ] && echo "$UDP_SECS" || echo "$UDP_FLAT_SECS")" 'BEGIN { print s - 0.6 }')"
  b=$(udp_cpu_snap) c1=$(contender_cpu_ticks) t1=$(now_s)
  wait_pid "$gen_pid" $((dur + 35)) || warn "xdpgen (sender) exited with status $?: $(tail -n 2 "$stem-gen.err")"
  # the counter stops by itself once every datagram of a rated trial came;
  # else 0.3 s after the sender (what is still on its way by then is lost)
  sleep 0.3
  stop_pid "$rx_pid" 10 TERM || warn "xdpgen (counter) exited with status $?: $(tail -n 2 "$stem-rx.err")"
  d1=$(udp_drops_snap)
  udp_cpu_delta "$a" "$b"
  TRIAL_BUSY=$UDP_BUSY TRIAL_CPU=$UDP_CPU_NOTE
  TRIAL_BAL=""
  [ -z "$CUR_PID" ] || TRIAL_BAL=$(calc "100 * ($c1 - $c0) / $(getconf CLK_TCK) / ($t1 - $t0)")
  TRIAL_DROPS=$(udp_drops_note "$d0" "$d1")
  TRIAL_SENT=$(jget "$stem-gen.out" sent)
  TRIAL_TXPPS=$(jget "$stem-gen.out" tx_pps)
  TRIAL_SINKDROP=$(jget "$stem-rx.out" rx_kernel_dropped)
  u=$(jget "$stem-rx.out" unique)
  : "${TRIAL_SENT:=0}"
  TRIAL_THROUGH=$((${u:-0} + ${TRIAL_SINKDROP:-0}))
  # the counter's ring drops are counted from its start: warm-up datagrams
  # it had no room for would count too (it reads them all, rx_other, at the
  # warm-up's rate); never more than were sent
  [ "$TRIAL_THROUGH" -le "$TRIAL_SENT" ] || TRIAL_THROUGH=$TRIAL_SENT
  TRIAL_READ="the counter read ${u:-NA} of them itself (bad checksums $(jget "$stem-rx.out" rx_bad_csum), duplicates $(jget "$stem-rx.out" duplicates); warm-up datagrams read $(jget "$stem-rx.out" rx_other) of 10000)"
  TRIAL_RXPPS=$(awk -v r="$TRIAL_THROUGH" -v s="$TRIAL_SENT" -v p="${TRIAL_TXPPS:-0}" 'BEGIN { printf "%.0f", s ? p * r / s : 0 }')
  TRIAL_LOSS=$(awk -v r="$TRIAL_THROUGH" -v s="$TRIAL_SENT" 'BEGIN { printf "%.2f", s ? 100 * (s - r) / s : 100 }')
  say "  udp $name ${payload}B at $([ "$rate" -eq 0 ] && echo 'flat out' || echo "$rate/s"): sent $TRIAL_SENT ($(printf '%.0f' "${TRIAL_TXPPS:-0}")/s), delivered $TRIAL_THROUGH ($TRIAL_RXPPS/s, lost $TRIAL_LOSS%; counter's ring dropped ${TRIAL_SINKDROP:-?}; $TRIAL_READ), CPU busy $TRIAL_BUSY% ($TRIAL_CPU)$(udp_bal_note "$TRIAL_BAL"); $TRIAL_DROPS"
}

udp_passed() {
  [ "$TRIAL_SENT" -gt 0 ] && [ $((TRIAL_THROUGH * 1000)) -ge $((TRIAL_SENT * 990)) ]
}

# udp_bal_note PCT: the balancer's CPU in words (nothing when empty).
udp_bal_note() {
  [ -z "$1" ] || printf "; the balancer's processes %.0f%% of a core" "$1"
}

# udp_cell NAME DST PAYLOAD: the flat-out trial, then the search; emits the rows.
udp_cell() {
  local name=$1 dst=$2 p=$3 lo=0 hi mid i steps found=0 best="" b_rx b_busy b_cpu b_bal b_loss b_tx tried="" bound=""
  local f_rx f_tx f_loss f_busy f_cpu f_bal f_drops f_sink f_read
  udp_trial "$name" "$dst" "$p" 0
  f_rx=$TRIAL_RXPPS f_tx=$(printf '%.0f' "${TRIAL_TXPPS:-0}") f_loss=$TRIAL_LOSS f_busy=$TRIAL_BUSY
  f_cpu=$TRIAL_CPU f_bal=$TRIAL_BAL f_drops=$TRIAL_DROPS f_sink=$TRIAL_SINKDROP f_read=$TRIAL_READ
  hi=$f_tx
  steps=$UDP_STEPS
  if udp_passed; then
    # flat out lost at most 1%: the sender's limit, nothing above it to find
    best=$f_rx b_tx=$f_tx b_loss=$f_loss b_busy=$f_busy b_cpu=$f_cpu b_bal=$f_bal b_rx="flat out"
    tried="flat out ok"
    steps=0 found=1
  fi
  # first at 97% of what came through flat out; passed, the interval up to
  # twice that (a proxy that livelocks flat out may carry more at a lower
  # offered rate); then halving the interval. Nothing passed after the
  # steps: up to two more halvings downwards.
  mid=$((f_rx * 97 / 100 / 1000 * 1000))
  [ "$mid" -gt 0 ] && [ "$mid" -lt "$hi" ] || mid=$((hi / 2 / 1000 * 1000))
  for ((i = 0; i < steps || (i < steps + 2 && found == 0); i++)); do
    [ "$mid" -gt 0 ] || break
    udp_trial "$name" "$dst" "$p" "$mid"
    # on a shared machine one stall of a core overflows a ring whatever
    # the rate: a failed trial is tried once more (full run)
    udp_passed || [ "$QUICK" -eq 1 ] || udp_trial "$name" "$dst" "$p" "$mid"
    if udp_passed; then
      tried+="${tried:+, }$mid ok"
      found=1
      [ "$i" -gt 0 ] || [ $((mid * 2)) -ge "$hi" ] || hi=$((mid * 2))
      lo=$mid
      if [ -z "$best" ] || [ "$TRIAL_RXPPS" -ge "$best" ]; then
        best=$TRIAL_RXPPS b_tx=$(printf '%.0f' "${TRIAL_TXPPS:-0}") b_loss=$TRIAL_LOSS b_busy=$TRIAL_BUSY
        b_cpu=$TRIAL_CPU b_bal=$TRIAL_BAL b_rx=$mid/s
      fi
    else
      tried+="${tried:+, }$mid lost $TRIAL_LOSS%"
      hi=$mid
    fi
    mid=$(((lo + hi) / 2 / 1000 * 1000))
    [ "$mid" -ne "$lo" ] || break
  done
  awk -v l="$f_loss" 'BEGIN { exit !(l <= 1) }' &&
    bound="; flat out it lost at most 1%: the sender, not the contender, set this limit"
  # the round whose rate is the best is kept, its flat-out trial with it
  local k="$name.$p"
  UDP_R[$k.rounds]+="${UDP_R[$k.rounds]:+, }round $UDP_ROUND: ${best:-none passed}"
  if [ -z "${UDP_R[$k.round]:-}" ] || [ "${best:--1}" -gt "${UDP_R[$k.best]:--1}" ]; then
    UDP_R[$k.round]=$UDP_ROUND
    UDP_R[$k.best]=$best
    UDP_R[$k.best_note]="$p-byte UDP payloads: delivered to the collectors at the highest offered rate with <= 1% lost (offered ${b_rx:-nothing: none passed}, sent ${b_tx:-NA}/s, lost ${b_loss:-NA}%; trials (offered/s): $tried; $UDP_SECS s each)$bound"
    UDP_R[$k.busy]=${b_busy:-}
    UDP_R[$k.busy_note]="the machine's CPU busy over that trial (100 = all $(nproc) cores; /proc/stat): ${b_cpu:-NA}$(udp_bal_note "${b_bal:-}")"
    UDP_R[$k.flat]=$f_rx
    UDP_R[$k.flat_note]="$p-byte payloads, the sender flat out ($f_tx/s sent, $UDP_FLAT_SECS s): delivered to the collectors, counting those the counter's own ring had no room for (they reached the collectors' link): ${f_sink:-NA}; $f_read"
    UDP_R[$k.loss]=$f_loss
    UDP_R[$k.loss_note]="flat out: $f_drops"
    UDP_R[$k.fbusy]=$f_busy
    UDP_R[$k.fbusy_note]="the machine's CPU busy, flat out: $f_cpu$(udp_bal_note "$f_bal")"
  fi
}

# udp_emit NAME PAYLOAD: the kept round's rows of a contender and payload.
udp_emit() {
  local k="$1.$2" name=$1 p=$2 rounds=""
  [ -n "${UDP_R[$k.round]:-}" ] || return 0
  [[ ${UDP_R[$k.rounds]} != *,* ]] || rounds="; best of the rounds (${UDP_R[$k.rounds]}), round ${UDP_R[$k.round]} kept with its flat-out trial"
  emit udp "$name" "dgrams_per_s_$p" "${UDP_R[$k.best]}" dgrams/s "${UDP_R[$k.best_note]}$rounds; ${UDP_NOTE[$name]}"
  emit udp "$name" "cpu_busy_pct_$p" "${UDP_R[$k.busy]}" "%" "${UDP_R[$k.busy_note]}"
  emit udp "$name" "dgrams_per_s_flat_$p" "${UDP_R[$k.flat]}" dgrams/s "${UDP_R[$k.flat_note]}"
  emit udp "$name" "loss_pct_flat_$p" "${UDP_R[$k.loss]}" "%" "${UDP_R[$k.loss_note]}"
  emit udp "$name" "cpu_busy_pct_flat_$p" "${UDP_R[$k.fbusy]}" "%" "${UDP_R[$k.fbusy_note]}"
}

# udp_contender_start NAME: the contender in the lb namespace, ready for
# datagrams to VIP:5000 (bounded).
# shellcheck disable=SC2034 # CUR_OUT: read by lib.sh (contender_stop)
udp_contender_start() {
  local name=$1 stem servers="" b dir
  [ -z "$CUR" ] || contender_stop
  CUR=$name CUR_PID="" CUR_OUT="" CUR_ERR=""
  case "$name" in
    direct) return 0 ;;
    mqttlb)
      next_log mqttlb-udp
      stem=$NEXT_LOG
      render "$BENCH_SCEN_DIR/mqttlb-udp.yaml" "$stem.yaml" IF_C=lb-c IF_B=lb-b VIP="$TOPO_VIP" \
        PORT="$UDP_PORT" SRC="$TOPO_SRC" CPU="$BAL_CPU" DIR="$WORK" \
        BROKERS="$(broker_list ', ' "\"%s:$UDP_PORT\"")"
      bg lb "$stem" "$MQTTLB" run -c "$stem.yaml" --json
      CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$stem.err
      mqttlb_wait_running "$CUR_PID" "$CUR_ERR"
      ;;
    nginx | nginx-flow)
      for b in "${BENCH_BROKERS[@]}"; do
        servers+="${servers:+$'\n'}        server $b:$UDP_PORT;"
      done
      next_log "$name-udp"
      stem=$NEXT_LOG
      dir=$stem.d
      mkdir -p "$dir/logs"
      if [ "$name" = nginx ]; then
        render "$BENCH_SCEN_DIR/nginx-udp.conf" "$stem.conf" CPU="$BAL_CPU" CPUMASK="$(cpumask "$BAL_CPU")" \
          NOFILE="$NOFILE" DIR="$dir" WORKER_CONNECTIONS="$((NOFILE - 100))" VIP="$TOPO_VIP" PORT="$UDP_PORT" \
          SERVERS="$servers" PROXY_RESPONSES="        proxy_responses 0;" PROXY_TIMEOUT=10s \
          SESSION_NOTE="proxy_responses 0 (one way): every datagram a session of its own."
      else
        render "$BENCH_SCEN_DIR/nginx-udp.conf" "$stem.conf" CPU="$BAL_CPU" CPUMASK="$(cpumask "$BAL_CPU")" \
          NOFILE="$NOFILE" DIR="$dir" WORKER_CONNECTIONS="$((NOFILE - 100))" VIP="$TOPO_VIP" PORT="$UDP_PORT" \
          SERVERS="$servers" PROXY_RESPONSES="        # proxy_responses: NGINX's default (any number)" \
          PROXY_TIMEOUT=30s SESSION_NOTE="no proxy_responses: a session per client address:port until 30 s idle."
      fi
      bg lb "$stem" /usr/sbin/nginx -p "$dir" -c "$stem.conf" -e "$dir/nginx-error.log"
      CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$dir/nginx-error.log
      if ! wait_until 15 udp_listening; then
        tail -n 20 "$CUR_ERR" >&2 || true
        die "$name does not listen on $TOPO_VIP:$UDP_PORT/udp within 15 s"
      fi
      ;;
    null-forward-cross)
      next_log udp-null-forward-cross
      stem=$NEXT_LOG
      bg lb "$stem" "$MQTTLB" null-forward -i lb-c -i lb-b --mode cross --next-hop "1=${BENCH_BROKERS[0]}" \
        -w 1 --cores "$BAL_CPU" --ring 4096 -s "$TOPO_VIP:$UDP_PORT-$UDP_PORT" --json
      CUR_PID=$BG_PID CUR_OUT=$stem.out CUR_ERR=$stem.err
      wait_until 10 grep -q '^mqttlb null-forward:' "$CUR_ERR" || die "mqttlb null-forward did not start: $(cat "$CUR_ERR")"
      sleep 1 # the next hop's MAC (netlink)
      ;;
    *) die "udp: unknown contender '$name'" ;;
  esac
}

udp_listening() {
  in_ns lb ss -Hlun "sport = :$UDP_PORT" | grep -q "$TOPO_VIP:$UDP_PORT"
}

scenario_udp() {
  local c p names=() round2=() name dst r0 u fl dropped=0 mq_notes="" i
  declare -gA UDP_NOTE=() UDP_R=()
  UDP_SECS=2 UDP_FLAT_SECS=2 UDP_STEPS=3
  if [ "$QUICK" -eq 1 ]; then
    UDP_SECS=1 UDP_FLAT_SECS=1 UDP_STEPS=2
  fi
  UDP_CORE=()
  [ "$BAL_CPU" -eq 0 ] || UDP_CORE=(--cores 0)
  UDP_GEN=(--dev cli0 --queues 1 --mode udp --src "$UDP_SRC_FIRST" --src-count "$UDP_NSRC"
    --dst-mac "$TOPO_LB_C_MAC" --sport "$UDP_SPORT" --dport "$UDP_PORT" --flows "$UDP_FLOWS" --json --quiet
    "${UDP_CORE[@]}")
  for c in "${CONTENDERS[@]}"; do
    case "$c" in
      haproxy | haproxy-cid)
        emit udp "$c" dgrams_per_s_64 "" dgrams/s "not run: HAProxy 2.6 proxies no UDP (only syslog, in log-forward sections)"
        ;;
      nginx) names+=(nginx nginx-flow) ;;
      *) names+=("$c") ;;
    esac
  done
  names+=(null-forward-cross)
  UDP_NOTE[direct]="the senders straight to 10.20.0.11:$UDP_PORT, routed by the lb namespace's kernel (its softirq on the sender's core)"
  UDP_NOTE[mqttlb]="protocol: udp listener, pool of 3 collectors, balance source-ip (Maglev on the client's address), 1 worker on core $BAL_CPU, AF_XDP copy mode (veth), full NAT"
  UDP_NOTE[nginx]="NGINX stream, listen udp rcvbuf=4m, hash \$remote_addr consistent, proxy_responses 0 (one way: every datagram a session with its own upstream socket), 1 worker on core $BAL_CPU"
  UDP_NOTE[nginx-flow]="NGINX stream, listen udp rcvbuf=4m, hash \$remote_addr consistent, no proxy_responses, proxy_timeout 30s (a session and upstream socket per client address:port), 1 worker on core $BAL_CPU"
  UDP_NOTE[null-forward-cross]="mqttlb null-forward --mode cross (no NAT, no flow table: MACs rewritten, in on lb-c, out of lb-b), 1 worker on core $BAL_CPU: the datapath's ceiling on this path"
  for c in "${!UDP_NOTE[@]}"; do
    UDP_NOTE[$c]+="; $UDP_NSRC source addresses x 4 ports = $UDP_FLOWS flows (xdpgen --mode udp on cli0${UDP_CORE[*]:+, core 0}); counted by xdpgen --rx-only on brk0 (niced${UDP_CORE[*]:+, core 0})"
  done

  udp_placeholders_start
  for b in "${BENCH_BROKERS[@]}"; do
    ip -n "$TOPO_NS_LB" neigh replace "$b" lladdr "$TOPO_BRK_MAC" dev lb-b nud permanent
  done
  # round 1: every contender; round 2 (full run): the contenders near the
  # sender's limit, whose rates move most with the machine, in reverse order
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do
    case "${names[i]}" in nginx | nginx-flow) ;; *) round2+=("${names[i]}") ;; esac
  done
  UDP_ROUND=1
  for name in "${names[@]}" -- "${round2[@]}"; do
    if [ "$name" = -- ]; then
      [ "$QUICK" -eq 0 ] || break
      UDP_ROUND=2
      continue
    fi
    udp_contender_start "$name"
    dst=$TOPO_VIP
    [ "$name" != direct ] || dst=${BENCH_BROKERS[0]}
    for p in "${UDP_PAYLOADS[@]}"; do
      udp_cell "$name" "$dst" "$p"
    done
    if [ "$name" = mqttlb ]; then
      u=$(mqttlb_stats '.udp | tojson')
      fl=$(mqttlb_stats '[.pools[] | select(.name == "collectors") | .brokers[] | "\(.name) \(.datagrams_to) (\(.state))"] | join(", ")')
      r0=$(mqttlb_ring_full)
      contender_stop
      dropped=$((dropped + $(jq -r '[.dropped[]] | add // 0' <<<"${u:-null}" 2>/dev/null || echo 0)))
      mq_notes+="${mq_notes:+; }round $UDP_ROUND: udp counters $u; datagrams to each collector: ${fl:-NA}; frames the kernel dropped on its full RX ring: ${r0:-NA}; at exit: udp_flows_total $(jget "$LAST_OUT" udp_flows_total), udp_to_backends $(jget "$LAST_OUT" udp_to_backends), udp_flows_full $(jget "$LAST_OUT" udp_flows_full), udp_no_backend $(jget "$LAST_OUT" udp_no_backend), udp_bad_checksum $(jget "$LAST_OUT" udp_bad_checksum), udp_icmp_unreachable $(jget "$LAST_OUT" udp_icmp_unreachable)"
    else
      contender_stop
    fi
  done
  for name in "${names[@]}"; do
    for p in "${UDP_PAYLOADS[@]}"; do udp_emit "$name" "$p"; done
  done
  ! has_contender mqttlb ||
    emit udp mqttlb udp_dropped "$dropped" dgrams "mqttlb's udp.dropped counters (flows_full, no_backend, too_big, bad_checksum, stray) summed over every trial; $mq_notes"
  for b in "${BENCH_BROKERS[@]}"; do ip -n "$TOPO_NS_LB" neigh del "$b" dev lb-b 2>/dev/null || true; done
  stop_pid "$UDP_PLACEHOLDER_PID" 5 || true

  for p in "${UDP_PAYLOADS[@]}"; do
    has_contender mqttlb || break
    emit udp mqttlb "ratio_vs_null_forward_$p" \
      "$(div_or_empty "$(csv_value udp mqttlb "dgrams_per_s_$p")" "$(csv_value udp null-forward-cross "dgrams_per_s_$p")")" ratio \
      "$p-byte payloads: dgrams_per_s over null-forward-cross's (the same path without NAT or flows)"
    has_contender nginx || continue
    emit udp mqttlb "ratio_vs_nginx_$p" \
      "$(div_or_empty "$(csv_value udp mqttlb "dgrams_per_s_$p")" "$(csv_value udp nginx-flow "dgrams_per_s_$p")")" ratio \
      "$p-byte payloads: dgrams_per_s over nginx-flow's (NGINX with a session per client address:port; over nginx's, proxy_responses 0: $(div_or_empty "$(csv_value udp mqttlb "dgrams_per_s_$p")" "$(csv_value udp nginx "dgrams_per_s_$p")" | awk '{ printf "%.2f", $1 }'))"
  done
}

plot_udp() {
  PLOT_EXTRA='set format y "%.1s%c"' plot_bars "$OUT/udp.png" "UDP one way: datagrams/s delivered to 3 collectors (<= 1% lost; flat out)" \
    "datagrams per second" udp dgrams_per_s_64 dgrams_per_s_512 dgrams_per_s_flat_64 dgrams_per_s_flat_512
  plot_bars "$OUT/udp-cpu.png" "UDP one way: machine CPU busy during the trials (100 = all cores)" "percent" \
    udp cpu_busy_pct_64 cpu_busy_pct_512 cpu_busy_pct_flat_64 cpu_busy_pct_flat_512
}
