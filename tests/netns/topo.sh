#!/usr/bin/env bash
# The network-namespace topology every end-to-end test of mqttlb runs in.
#
#   ${PREFIX}-cli            ${PREFIX}-lb                      ${PREFIX}-brk
#   cli0 10.10.0.1..N  <->  lb-c 10.10.0.100 (VIP)
#                           lb-b 10.20.0.1 (source)  <->  brk0 10.20.0.11..(10+N)
#
# With --wire a fourth namespace sits on the client link (same addresses):
#
#   ${PREFIX}-cli          ${PREFIX}-wire                 ${PREFIX}-lb
#   cli0  <->  wire-c   (a bridge of your choice)   wire-l  <->  lb-c
#
# Each veth pair is created with both ends directly in their namespaces, so
# nothing ever appears in the caller's namespace and concurrent topologies
# (different prefixes) never collide. Run `topo.sh --help` for the commands.
#
# `down` deletes the namespaces but kills nothing: `ip netns delete` only
# removes the name, and a namespace (with its veths and addresses) lives on
# for as long as a process still runs in it. Callers stop the processes they
# started (by PID) before `down`; `down` warns about the ones it sees.
set -euo pipefail

PROG=topo.sh
SELF=$(readlink -f "${BASH_SOURCE[0]}")

usage() {
  cat <<'EOF'
Usage:
  topo.sh up PREFIX [--queues N] [--brokers N] [--clients N] [--ipv6]
                    [--peer-gro] [--wire] [--env]
  topo.sh down PREFIX
  topo.sh exec PREFIX cli|lb|brk|wire CMD [ARG...]
  topo.sh add-client-address PREFIX ADDR[/LEN]
  topo.sh del-client-address PREFIX ADDR[/LEN]
  topo.sh --help

Namespaces PREFIX-cli (clients), PREFIX-lb (balancer), PREFIX-brk (brokers);
PREFIX matches ^[a-z][a-z0-9]{0,9}$. Veth pairs: lb-c (in lb) <-> cli0 (in
cli), lb-b (in lb) <-> brk0 (in brk). MTU 1500.

  up      creates the topology. Addresses:
            cli0  10.10.0.1..N/24      (N = --clients, default 1, at most 99)
            lb-c  10.10.0.100/24       (the VIP; the kernel answers ARP)
            lb-b  10.20.0.1/24         (the full-NAT source address)
            brk0  10.20.0.11..(10+N)/24 (N = --brokers, default 3, at most 89)
          --ipv6 adds fd00:10::1..N/64, fd00:10::100/64, fd00:20::1/64,
          fd00:20::11..(10+N)/64 (nodad, no DAD on link-locals either);
          without it IPv6 is disabled in all three namespaces (no ND/MLD).
          --queues N (default 1, at most 64): N RX and N TX queues on every
          veth end (XDP on a veth needs its RX queues >= the peer's TX queues;
          the peer's TX queue picks the RX queue, by flow hash).
          Offloads on every end: tx (checksum), tso, gso off; gro off on lb-c
          and lb-b. --peer-gro turns GRO on at cli0 and brk0 (and wire-l): veth accepts
          frames sent with XDP_TX / XDP_REDIRECT from lb-c / lb-b only when the
          peer has NAPI on (GRO on, or an XDP program of its own); AF_XDP
          copy-mode TX does not need it.
          --wire inserts a namespace PREFIX-wire on the client link, for an
          impaired wire (delay, jitter, reordering, loss): cli0 is paired
          with wire-c and lb-c with wire-l, both in PREFIX-wire, with no
          address, offloads and GRO off; addresses, names and MACs elsewhere
          are unchanged. Nothing crosses the wire until a program bridges
          wire-c and wire-l at L2, e.g. tests/impair's delay line:
            topo.sh exec PREFIX wire mqttlb-delayline --a wire-c --b wire-l \
              --delay 40 --jitter 20
          (or a kernel bridge: ip -n PREFIX-wire link add br0 type bridge,
          both ends its ports, all up). gso_max_segs is 1 on cli0, lb-c and
          the wire's ends, so every frame on the wire is one segment (Linux
          TCP builds GSO super-packets even with gso off).
          Prints nothing, or with --env shell assignments for `eval`:
          TOPO_PREFIX TOPO_NS_CLI TOPO_NS_LB TOPO_NS_BRK TOPO_IF_CLI
          TOPO_IF_LB_C TOPO_IF_LB_B TOPO_IF_BRK TOPO_QUEUES TOPO_VIP TOPO_SRC
          TOPO_BROKERS TOPO_CLIENTS TOPO_LB_C_MAC TOPO_CLI_MAC TOPO_LB_B_MAC
          TOPO_BRK_MAC, with --ipv6 TOPO_VIP6 TOPO_SRC6 TOPO_BROKERS6
          TOPO_CLIENTS6 (lists are space-separated), with --wire TOPO_NS_WIRE
          TOPO_IF_WIRE_C TOPO_IF_WIRE_L.
          Fails (exit 1, naming the step) if any of the namespaces exists; on
          any failure removes what this invocation created, nothing else.
  down    deletes the three namespaces (and PREFIX-wire when it exists);
          succeeds when none exists. Kills
          nothing: stop your processes in them first (`ip netns delete` does
          not), or the namespaces live on, unnamed, until those exit.
  exec    runs CMD in that namespace (ip netns exec).
  add-client-address / del-client-address
          adds / removes an address on cli0 (default /24 for IPv4, /64 nodad
          for IPv6), e.g. to emulate a client whose address changes.

Needs root; re-executes itself through sudo when not root.
Exit status: 0 success, 1 failure, 2 usage error.
EOF
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage_error() {
  echo "$PROG: $*" >&2
  echo "Try '$PROG --help'." >&2
  exit 2
}

# --- arguments that need no root -------------------------------------------

case "${1:-}" in
  -h | --help | help)
    usage
    exit 0
    ;;
  "") usage_error "missing command" ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  if [ -n "${TOPO_SUDO_REEXEC:-}" ]; then
    die "still not root after sudo; run as root"
  fi
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -- env TOPO_SUDO_REEXEC=1 bash "$SELF" "$@"
  fi
  die "must run as root (and sudo is not available)"
fi

for tool in ip ethtool; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found (Debian packages: iproute2, ethtool)"
done

CMD=$1
shift

valid_prefix() {
  [[ $1 =~ ^[a-z][a-z0-9]{0,9}$ ]]
}

take_prefix() {
  [ $# -ge 1 ] || usage_error "$CMD: missing PREFIX"
  valid_prefix "$1" ||
    usage_error "$CMD: bad PREFIX '$1' (must match ^[a-z][a-z0-9]{0,9}$)"
  NS_CLI="$1-cli"
  NS_LB="$1-lb"
  NS_BRK="$1-brk"
  NS_WIRE="$1-wire"
}

ns_exists() {
  ip netns list | awk -v n="$1" '$1 == n { found = 1 } END { exit !found }'
}

# --- up ----------------------------------------------------------------------

CREATED_NS=() # namespaces this invocation created, removed again on failure
UP_DONE=0
STEP="start"

on_err() {
  echo "$PROG: up $PREFIX: step '$STEP' failed: $1" >&2
}

cleanup_failed_up() {
  [ "$UP_DONE" -eq 0 ] || return 0
  local i
  for ((i = ${#CREATED_NS[@]} - 1; i >= 0; i--)); do
    ip netns delete "${CREATED_NS[i]}" 2>/dev/null ||
      echo "$PROG: cleanup: could not delete namespace ${CREATED_NS[i]}" >&2
  done
}

# run DESC CMD...: runs CMD, and on failure exits naming DESC and CMD's stderr.
# TOPO_INJECT_FAILURE=TEXT makes the first step whose name contains TEXT fail
# (for tests of the cleanup).
run() {
  local desc=$1 err
  shift
  STEP=$desc
  if [ -n "${TOPO_INJECT_FAILURE:-}" ] && [[ $desc == *"$TOPO_INJECT_FAILURE"* ]]; then
    die "up $PREFIX: step '$desc' failed: injected failure (TOPO_INJECT_FAILURE)"
  fi
  if ! err=$("$@" 2>&1 >/dev/null); then
    die "up $PREFIX: step '$desc' failed: ${err:-exit status non-zero} (command: $*)"
  fi
}

# nsysctl NS KEY VALUE (KEY with slashes, below /proc/sys)
nsysctl() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  ip netns exec "$1" bash -c 'echo "$2" > "/proc/sys/$1"' _ "$2" "$3"
}

# channels NS DEV: prints the current "RX TX" queue counts
channels() {
  ip netns exec "$1" ethtool -l "$2" | awk '
    /^Current hardware settings/ { cur = 1 }
    cur && /^RX:/ { rx = $2 }
    cur && /^TX:/ { tx = $2 }
    END { print rx " " tx }'
}

mac_of() {
  ip -n "$1" -o link show dev "$2" | awk '{ for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1) }'
}

check_count() { # NAME VALUE MAX
  if ! [[ $2 =~ ^[1-9][0-9]{0,3}$ ]] || [ "$2" -gt "$3" ]; then
    usage_error "up: $1 must be an integer from 1 to $3, not '$2'"
  fi
}

cmd_up() {
  local queues=1 brokers=3 clients=1 ipv6=0 env=0 peer_gro=0 wire=0 i
  PREFIX=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --queues | --brokers | --clients)
        [ $# -ge 2 ] || usage_error "up: $1 needs a value"
        case "$1" in
          --queues) queues=$2 ;;
          --brokers) brokers=$2 ;;
          --clients) clients=$2 ;;
        esac
        shift 2
        ;;
      --queues=*) queues=${1#*=} && shift ;;
      --brokers=*) brokers=${1#*=} && shift ;;
      --clients=*) clients=${1#*=} && shift ;;
      --ipv6) ipv6=1 && shift ;;
      --env) env=1 && shift ;;
      --peer-gro) peer_gro=1 && shift ;;
      --wire) wire=1 && shift ;;
      -*) usage_error "up: unknown option '$1'" ;;
      *)
        [ -z "$PREFIX" ] || usage_error "up: unexpected argument '$1'"
        PREFIX=$1
        shift
        ;;
    esac
  done
  [ -n "$PREFIX" ] || usage_error "up: missing PREFIX"
  take_prefix "$PREFIX"
  check_count --queues "$queues" 64
  check_count --brokers "$brokers" 89
  check_count --clients "$clients" 99

  if [ "$ipv6" -eq 1 ] && [ ! -d /proc/sys/net/ipv6 ]; then
    die "up $PREFIX: --ipv6 but the kernel has no IPv6 (ipv6.disable=1?)"
  fi

  local ns all_ns=("$NS_CLI" "$NS_LB" "$NS_BRK")
  [ "$wire" -eq 0 ] || all_ns+=("$NS_WIRE")
  for ns in "${all_ns[@]}"; do
    if ns_exists "$ns"; then
      die "up $PREFIX: step 'check namespaces' failed: namespace $ns already exists (topology '$PREFIX' is up? 'topo.sh down $PREFIX' removes it)"
    fi
  done

  trap 'rc=$?; cleanup_failed_up; exit $rc' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'on_err "$BASH_COMMAND"' ERR

  # ip netns add refuses an existing name (O_EXCL), so a concurrent `up` of
  # the same prefix fails here and never owns the other one's namespaces.
  for ns in "${all_ns[@]}"; do
    run "create namespace $ns" ip netns add "$ns"
    CREATED_NS+=("$ns")
  done

  local d
  for ns in "${all_ns[@]}"; do
    run "loopback up in $ns" ip -n "$ns" link set lo up
    # A veth's RX queue is the sender's TX queue, and Linux picks a new TX
    # hash for a socket when it retransmits on a timeout (net.core.txrehash):
    # a client's retransmission would then land on another queue, so on
    # another mqttlb worker, which holds no state for it. A NIC hashes the
    # flow itself (RSS) and never does this; the test hosts keep their hash.
    if [ -e /proc/sys/net/core/txrehash ]; then
      run "set net.core.txrehash in $ns" nsysctl "$ns" net/core/txrehash 0
    fi
    if [ -d /proc/sys/net/ipv6 ]; then
      d=$((1 - ipv6))
      # before any veth exists, so "default" covers them: no link-local
      # address, no ND, no MLD without --ipv6; no DAD, no RS with it
      run "set IPv6 sysctls in $ns" nsysctl "$ns" net/ipv6/conf/default/disable_ipv6 "$d"
      run "set IPv6 sysctls in $ns" nsysctl "$ns" net/ipv6/conf/all/disable_ipv6 "$d"
      if [ "$ipv6" -eq 1 ]; then
        for k in all default; do
          run "set IPv6 sysctls in $ns" nsysctl "$ns" "net/ipv6/conf/$k/accept_dad" 0
          run "set IPv6 sysctls in $ns" nsysctl "$ns" "net/ipv6/conf/$k/router_solicitations" 0
        done
      fi
    fi
  done

  local pairs=("$NS_LB:lb-c" "$NS_CLI:cli0" "$NS_LB:lb-b" "$NS_BRK:brk0")
  if [ "$wire" -eq 0 ]; then
    run "create veth lb-c ($NS_LB) <-> cli0 ($NS_CLI)" \
      ip -n "$NS_LB" link add lb-c numtxqueues "$queues" numrxqueues "$queues" \
      type veth peer name cli0 netns "$NS_CLI" numtxqueues "$queues" numrxqueues "$queues"
  else
    run "create veth wire-c ($NS_WIRE) <-> cli0 ($NS_CLI)" \
      ip -n "$NS_WIRE" link add wire-c numtxqueues "$queues" numrxqueues "$queues" \
      type veth peer name cli0 netns "$NS_CLI" numtxqueues "$queues" numrxqueues "$queues"
    run "create veth wire-l ($NS_WIRE) <-> lb-c ($NS_LB)" \
      ip -n "$NS_WIRE" link add wire-l numtxqueues "$queues" numrxqueues "$queues" \
      type veth peer name lb-c netns "$NS_LB" numtxqueues "$queues" numrxqueues "$queues"
    pairs+=("$NS_WIRE:wire-c" "$NS_WIRE:wire-l")
  fi
  run "create veth lb-b ($NS_LB) <-> brk0 ($NS_BRK)" \
    ip -n "$NS_LB" link add lb-b numtxqueues "$queues" numrxqueues "$queues" \
    type veth peer name brk0 netns "$NS_BRK" numtxqueues "$queues" numrxqueues "$queues"

  local pair dev got
  for pair in "${pairs[@]}"; do
    ns=${pair%%:*}
    dev=${pair#*:}
    # numrxqueues/numtxqueues given at creation set the real queue counts;
    # ethtool -L only if the kernel started with fewer
    got=$(channels "$ns" "$dev")
    if [ "$got" != "$queues $queues" ]; then
      run "set $queues channels on $dev" ip netns exec "$ns" ethtool -L "$dev" rx "$queues" tx "$queues"
      got=$(channels "$ns" "$dev")
      [ "$got" = "$queues $queues" ] ||
        die "up $PREFIX: step 'set $queues channels on $dev' failed: ethtool -l shows RX/TX '$got'"
    fi
    run "offloads off on $dev" ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off
  done
  run "gro off on lb-c" ip netns exec "$NS_LB" ethtool -K lb-c gro off
  run "gro off on lb-b" ip netns exec "$NS_LB" ethtool -K lb-b gro off
  if [ "$wire" -eq 1 ]; then
    # one segment per frame on the wire: the delay line holds frames, not
    # GRO or GSO super-packets (it drops what exceeds its 2 KB slots)
    run "gro off on wire-c" ip netns exec "$NS_WIRE" ethtool -K wire-c gro off
    run "gro off on wire-l" ip netns exec "$NS_WIRE" ethtool -K wire-l gro off
    for pair in "$NS_CLI:cli0" "$NS_LB:lb-c" "$NS_WIRE:wire-c" "$NS_WIRE:wire-l"; do
      run "gso_max_segs 1 on ${pair#*:}" ip -n "${pair%%:*}" link set dev "${pair#*:}" gso_max_segs 1
    done
  fi
  if [ "$peer_gro" -eq 1 ]; then
    run "gro on on cli0" ip netns exec "$NS_CLI" ethtool -K cli0 gro on
    run "gro on on brk0" ip netns exec "$NS_BRK" ethtool -K brk0 gro on
    if [ "$wire" -eq 1 ]; then
      run "gro on on wire-l" ip netns exec "$NS_WIRE" ethtool -K wire-l gro on
    fi
  fi

  local cli_list="" brk_list="" cli6_list="" brk6_list=""
  for ((i = 1; i <= clients; i++)); do
    run "add addresses" ip -n "$NS_CLI" addr add "10.10.0.$i/24" dev cli0
    cli_list+="${cli_list:+ }10.10.0.$i"
  done
  run "add addresses" ip -n "$NS_LB" addr add 10.10.0.100/24 dev lb-c
  run "add addresses" ip -n "$NS_LB" addr add 10.20.0.1/24 dev lb-b
  for ((i = 1; i <= brokers; i++)); do
    run "add addresses" ip -n "$NS_BRK" addr add "10.20.0.$((10 + i))/24" dev brk0
    brk_list+="${brk_list:+ }10.20.0.$((10 + i))"
  done
  if [ "$ipv6" -eq 1 ]; then
    for ((i = 1; i <= clients; i++)); do
      run "add IPv6 addresses" ip -n "$NS_CLI" addr add "fd00:10::$i/64" dev cli0 nodad
      cli6_list+="${cli6_list:+ }fd00:10::$i"
    done
    run "add IPv6 addresses" ip -n "$NS_LB" addr add fd00:10::100/64 dev lb-c nodad
    run "add IPv6 addresses" ip -n "$NS_LB" addr add fd00:20::1/64 dev lb-b nodad
    for ((i = 1; i <= brokers; i++)); do
      run "add IPv6 addresses" ip -n "$NS_BRK" addr add "fd00:20::$((10 + i))/64" dev brk0 nodad
      brk6_list+="${brk6_list:+ }fd00:20::$((10 + i))"
    done
  fi

  for pair in "${pairs[@]}"; do
    run "set ${pair#*:} up" ip -n "${pair%%:*}" link set "${pair#*:}" up
  done

  STEP="read MAC addresses"
  local lbc_mac cli_mac lbb_mac brk_mac
  lbc_mac=$(mac_of "$NS_LB" lb-c)
  cli_mac=$(mac_of "$NS_CLI" cli0)
  lbb_mac=$(mac_of "$NS_LB" lb-b)
  brk_mac=$(mac_of "$NS_BRK" brk0)
  if [ -z "$lbc_mac" ] || [ -z "$cli_mac" ] || [ -z "$lbb_mac" ] || [ -z "$brk_mac" ]; then
    die "up $PREFIX: step 'read MAC addresses' failed"
  fi

  UP_DONE=1
  trap - ERR

  if [ "$env" -eq 1 ]; then
    emit() { printf "%s='%s'\n" "$1" "$2"; }
    emit TOPO_PREFIX "$PREFIX"
    emit TOPO_NS_CLI "$NS_CLI"
    emit TOPO_NS_LB "$NS_LB"
    emit TOPO_NS_BRK "$NS_BRK"
    emit TOPO_IF_CLI cli0
    emit TOPO_IF_LB_C lb-c
    emit TOPO_IF_LB_B lb-b
    emit TOPO_IF_BRK brk0
    emit TOPO_QUEUES "$queues"
    emit TOPO_VIP 10.10.0.100
    emit TOPO_SRC 10.20.0.1
    emit TOPO_BROKERS "$brk_list"
    emit TOPO_CLIENTS "$cli_list"
    if [ "$ipv6" -eq 1 ]; then
      emit TOPO_VIP6 fd00:10::100
      emit TOPO_SRC6 fd00:20::1
      emit TOPO_BROKERS6 "$brk6_list"
      emit TOPO_CLIENTS6 "$cli6_list"
    fi
    if [ "$wire" -eq 1 ]; then
      emit TOPO_NS_WIRE "$NS_WIRE"
      emit TOPO_IF_WIRE_C wire-c
      emit TOPO_IF_WIRE_L wire-l
    fi
    emit TOPO_LB_C_MAC "$lbc_mac"
    emit TOPO_CLI_MAC "$cli_mac"
    emit TOPO_LB_B_MAC "$lbb_mac"
    emit TOPO_BRK_MAC "$brk_mac"
  fi
}

# --- down, exec, client addresses -------------------------------------------

cmd_down() {
  [ $# -eq 1 ] || usage_error "down: expected exactly PREFIX"
  take_prefix "$1"
  local ns pids rc=0
  for ns in "$NS_CLI" "$NS_LB" "$NS_BRK" "$NS_WIRE"; do
    ns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
    if [ -n "${pids// /}" ]; then
      echo "$PROG: down $1: warning: processes still run in $ns (not killed; the namespace lives on until they exit): ${pids% }" >&2
    fi
    if ! ip netns delete "$ns"; then
      echo "$PROG: down $1: could not delete namespace $ns" >&2
      rc=1
    fi
  done
  return "$rc"
}

cmd_exec() {
  [ $# -ge 3 ] || usage_error "exec: expected PREFIX cli|lb|brk|wire CMD..."
  take_prefix "$1"
  local ns
  case "$2" in
    cli) ns=$NS_CLI ;;
    lb) ns=$NS_LB ;;
    brk) ns=$NS_BRK ;;
    wire) ns=$NS_WIRE ;;
    *) usage_error "exec: namespace must be cli, lb, brk or wire, not '$2'" ;;
  esac
  shift 2
  ns_exists "$ns" || die "exec: namespace $ns does not exist"
  exec ip netns exec "$ns" "$@"
}

cmd_client_address() { # add|del PREFIX ADDR
  local op=$1
  shift
  [ $# -eq 2 ] || usage_error "$op-client-address: expected PREFIX ADDR"
  take_prefix "$1"
  local addr=$2 extra=()
  case "$addr" in
    */*) ;;
    *:*) addr="$addr/64" ;;
    *) addr="$addr/24" ;;
  esac
  if [ "$op" = add ] && [[ $addr == *:* ]]; then
    extra=(nodad)
  fi
  ns_exists "$NS_CLI" || die "$op-client-address: namespace $NS_CLI does not exist"
  ip -n "$NS_CLI" addr "$op" "$addr" dev cli0 "${extra[@]}" ||
    die "$op-client-address: 'ip addr $op $addr dev cli0' failed in $NS_CLI"
}

case "$CMD" in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  exec) cmd_exec "$@" ;;
  add-client-address) cmd_client_address add "$@" ;;
  del-client-address) cmd_client_address del "$@" ;;
  *) usage_error "unknown command '$CMD'" ;;
esac
