#!/usr/bin/env bash
# ctest netns.topology: checks tests/netns/topo.sh end to end. Needs root
# (re-runs through sudo when not root; fails without). Its prefixes come from its PID,
# so concurrent runs do not collide; a trap removes its namespaces whatever
# happens. Traffic only between addresses inside its own namespaces.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPO="$HERE/topo.sh"

if [ "$(id -u)" -ne 0 ]; then
  if [ -z "${TOPO_TEST_REEXEC:-}" ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n -- env TOPO_TEST_REEXEC=1 bash "$HERE/test_topo.sh" "$@"
  fi
  echo "test_topo: FAIL: needs root (or password-less sudo)" >&2
  exit 1
fi

BASE="t$$"             # at most 8 characters: PIDs have at most 7 digits
P1="$BASE"             # defaults
PQ="${BASE}q"          # --queues 2 --clients 3 --brokers 2 --peer-gro
P6="${BASE}s"          # --ipv6
PF="${BASE}f"          # failures during up
PX="${BASE}x"          # a foreign namespace in the way
PW="${BASE}w"          # --wire --queues 2
FOREIGN="$PX-brk"      # created by this test, not by topo.sh

FAILS=0
CHECKS=0

cleanup() {
  local p
  for p in "$P1" "$PQ" "$P6" "$PF" "$PX" "$PW"; do
    "$TOPO" down "$p" >/dev/null 2>&1 || true
  done
  ip netns delete "$FOREIGN" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() {
  CHECKS=$((CHECKS + 1))
  echo "ok   - $*"
}
bad() {
  CHECKS=$((CHECKS + 1))
  FAILS=$((FAILS + 1))
  echo "FAIL - $*"
}
# check DESC CMD...: CMD must succeed
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else bad "$desc"; fi
}
# check_not DESC CMD...: CMD must fail
check_not() {
  local desc=$1
  shift
  if "$@"; then bad "$desc"; else ok "$desc"; fi
}
# check_eq DESC GOT WANT
check_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}

ns_exists() {
  ip netns list | awk -v n="$1" '$1 == n { found = 1 } END { exit !found }'
}
ns_count() { # PREFIX: how many of its namespaces (cli lb brk, and wire) exist
  local n=0 s
  for s in cli lb brk wire; do
    if ns_exists "$1-$s"; then n=$((n + 1)); fi
  done
  echo "$n"
}

# Echo request/reply, count 1, 2 s (iputils-ping, from scripts/install-deps.sh).
command -v ping >/dev/null 2>&1 || { echo "test_topo: FAIL: ping is missing (apt-get install iputils-ping)" >&2; exit 1; }

# pings NS FAMILY(4|6) SRC DST
pings() {
  ip netns exec "$1" ping "-$2" -n -q -c 1 -W 2 -I "$3" "$4" >/dev/null 2>&1
}

# offloads NS DEV: prints "tx tso gso gro" states from ethtool -k
offloads() {
  ip netns exec "$1" ethtool -k "$2" | awk -F': *' '
    $1 == "tx-checksumming" { tx = $2 }
    $1 == "tcp-segmentation-offload" { tso = $2 }
    $1 == "generic-segmentation-offload" { gso = $2 }
    $1 == "generic-receive-offload" { gro = $2 }
    END { print tx " " tso " " gso " " gro }' | sed 's/ \[fixed\]//g'
}

queues_of() { # NS DEV: "rx-0 rx-1 tx-0 tx-1" from sysfs as seen in NS
  ip netns exec "$1" ls "/sys/class/net/$2/queues" | tr '\n' ' ' | sed 's/ $//'
}

echo "# prefixes $P1 $PQ $P6 $PF $PX $PW"

# --- defaults ----------------------------------------------------------------

out=$("$TOPO" up "$P1") && rc=0 || rc=$?
check_eq "up $P1 succeeds" "$rc" 0
check_eq "up without --env prints nothing" "$out" ""
check_eq "up $P1 created three namespaces" "$(ns_count "$P1")" 3
"$TOPO" down "$P1"
check_eq "down $P1 removed them" "$(ns_count "$P1")" 0

envout=$("$TOPO" up "$P1" --env)
eval "$envout"
check_eq "TOPO_NS_CLI" "$TOPO_NS_CLI" "$P1-cli"
check_eq "TOPO_NS_LB" "$TOPO_NS_LB" "$P1-lb"
check_eq "TOPO_NS_BRK" "$TOPO_NS_BRK" "$P1-brk"
check_eq "TOPO_VIP" "$TOPO_VIP" 10.10.0.100
check_eq "TOPO_SRC" "$TOPO_SRC" 10.20.0.1
check_eq "TOPO_BROKERS" "$TOPO_BROKERS" "10.20.0.11 10.20.0.12 10.20.0.13"
check_eq "TOPO_CLIENTS" "$TOPO_CLIENTS" "10.10.0.1"
check_eq "no TOPO_VIP6 without --ipv6" "${TOPO_VIP6:-unset}" unset
check_eq "no TOPO_NS_WIRE without --wire" "${TOPO_NS_WIRE:-unset}" unset
check_eq "gso_max_segs untouched on cli0 without --wire" \
  "$(ip -n "$TOPO_NS_CLI" -d -o link show dev cli0 | grep -o 'gso_max_segs [0-9]*')" "gso_max_segs 65535"
check_eq "TOPO_LB_C_MAC is lb-c's" "$TOPO_LB_C_MAC" "$(ip netns exec "$TOPO_NS_LB" cat /sys/class/net/lb-c/address)"
check_eq "TOPO_CLI_MAC is cli0's" "$TOPO_CLI_MAC" "$(ip netns exec "$TOPO_NS_CLI" cat /sys/class/net/cli0/address)"
check_eq "TOPO_LB_B_MAC is lb-b's" "$TOPO_LB_B_MAC" "$(ip netns exec "$TOPO_NS_LB" cat /sys/class/net/lb-b/address)"
check_eq "TOPO_BRK_MAC is brk0's" "$TOPO_BRK_MAC" "$(ip netns exec "$TOPO_NS_BRK" cat /sys/class/net/brk0/address)"

check "ping 10.10.0.1 -> VIP 10.10.0.100" pings "$TOPO_NS_CLI" 4 10.10.0.1 10.10.0.100
for b in $TOPO_BROKERS; do
  check "ping 10.20.0.1 -> broker $b" pings "$TOPO_NS_LB" 4 10.20.0.1 "$b"
done

for pair in lb:lb-c cli:cli0 lb:lb-b brk:brk0; do
  ns="$P1-${pair%%:*}"
  dev=${pair#*:}
  read -r tx tso gso gro <<<"$(offloads "$ns" "$dev")"
  check_eq "$dev: tx-checksumming off" "$tx" off
  check_eq "$dev: tcp-segmentation-offload off" "$tso" off
  check_eq "$dev: generic-segmentation-offload off" "$gso" off
  case "$dev" in lb-*) check_eq "$dev: generic-receive-offload off" "$gro" off ;; esac
  check_eq "$dev: MTU 1500" "$(ip netns exec "$ns" cat "/sys/class/net/$dev/mtu")" 1500
  check_eq "$dev: one RX and one TX queue" "$(queues_of "$ns" "$dev")" "rx-0 tx-0"
  check_eq "$dev: up" "$(ip netns exec "$ns" cat "/sys/class/net/$dev/operstate")" up
done
for s in cli lb brk; do
  check_eq "$P1-$s: IPv6 disabled" \
    "$(ip netns exec "$P1-$s" cat /proc/sys/net/ipv6/conf/all/disable_ipv6)" 1
  check_eq "$P1-$s: no IPv6 address" "$(ip -n "$P1-$s" -6 -o addr show)" ""
  check_eq "$P1-$s: lo up" "$(ip -n "$P1-$s" -o link show lo | grep -c 'UP')" 1
done
check_eq "no veth left in the caller's namespace" \
  "$(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -cxE 'lb-c|lb-b|cli0|brk0' || true)" 0
check_eq "exec runs in the namespace" \
  "$("$TOPO" exec "$P1" lb ip -4 -o addr show dev lb-b | awk '{ print $4 }')" 10.20.0.1/24

# the client changes its address
"$TOPO" add-client-address "$P1" 10.10.0.50
check "ping from an added client address 10.10.0.50 -> VIP" pings "$TOPO_NS_CLI" 4 10.10.0.50 10.10.0.100
"$TOPO" del-client-address "$P1" 10.10.0.50
check_eq "del-client-address removed it" "$(ip -n "$TOPO_NS_CLI" -4 -o addr show dev cli0 | grep -c '10.10.0.50/' || true)" 0

# --- failing up --------------------------------------------------------------

err=$("$TOPO" up "$P1" 2>&1 >/dev/null) && rc=0 || rc=$?
check_not "up of an existing prefix fails" test "$rc" -eq 0
check "its message names the step" grep -q "step 'check namespaces' failed" <<<"$err"
check_eq "the existing topology is untouched" "$(ns_count "$P1")" 3
check "and still works" pings "$TOPO_NS_CLI" 4 10.10.0.1 10.10.0.100

for step in "create namespace $PF-brk" "create veth lb-b" "offloads off on brk0" "add addresses" "set brk0 up"; do
  err=$(TOPO_INJECT_FAILURE="$step" "$TOPO" up "$PF" 2>&1 >/dev/null) && rc=0 || rc=$?
  check_not "up failing at '$step' fails" test "$rc" -eq 0
  check "its message names '$step'" grep -qF "step '$step" <<<"$err"
  check_eq "it leaves no namespace behind" "$(ns_count "$PF")" 0
done

ip netns add "$FOREIGN"
check_not "up fails when one of its namespaces exists" "$TOPO" up "$PX" 2>/dev/null
check "the foreign namespace $FOREIGN survives" ns_exists "$FOREIGN"
check_eq "nothing else was created" "$(ns_count "$PX")" 1
ip netns delete "$FOREIGN"

check_not "bad prefix refused" "$TOPO" up "T$$" 2>/dev/null
check_not "long prefix refused" "$TOPO" up abcdefghijk 2>/dev/null
check_not "--queues 0 refused" "$TOPO" up "$PF" --queues 0 2>/dev/null
check_eq "refusals create nothing" "$(ns_count "$PF")" 0

# --- several queues, clients, brokers ----------------------------------------

eval "$("$TOPO" up "$PQ" --queues 2 --clients 3 --brokers 2 --peer-gro --env)"
check_eq "TOPO_QUEUES" "$TOPO_QUEUES" 2
check_eq "TOPO_CLIENTS (3)" "$TOPO_CLIENTS" "10.10.0.1 10.10.0.2 10.10.0.3"
check_eq "TOPO_BROKERS (2)" "$TOPO_BROKERS" "10.20.0.11 10.20.0.12"
for pair in lb:lb-c cli:cli0 lb:lb-b brk:brk0; do
  ns="$PQ-${pair%%:*}"
  dev=${pair#*:}
  check_eq "--queues 2: $dev has 2 RX and 2 TX queues" "$(queues_of "$ns" "$dev")" "rx-0 rx-1 tx-0 tx-1"
  check_eq "--queues 2: ethtool -l $dev current RX/TX" \
    "$(ip netns exec "$ns" ethtool -l "$dev" | awk '/^Current/ { c = 1 } c && /^(RX|TX):/ { printf "%s%s", s, $2; s = " " }')" "2 2"
done
read -r _ _ _ gro <<<"$(offloads "$PQ-cli" cli0)"
check_eq "--peer-gro: cli0 GRO on" "$gro" on
read -r _ _ _ gro <<<"$(offloads "$PQ-lb" lb-c)"
check_eq "--peer-gro: lb-c GRO still off" "$gro" off
for c in $TOPO_CLIENTS; do
  check "ping $c -> VIP" pings "$TOPO_NS_CLI" 4 "$c" 10.10.0.100
done
for b in $TOPO_BROKERS; do
  check "ping 10.20.0.1 -> broker $b" pings "$TOPO_NS_LB" 4 10.20.0.1 "$b"
done
check_not "no third broker" pings "$TOPO_NS_LB" 4 10.20.0.1 10.20.0.13

# --- IPv6 --------------------------------------------------------------------

unset TOPO_VIP6 TOPO_SRC6 TOPO_BROKERS6 TOPO_CLIENTS6
eval "$("$TOPO" up "$P6" --ipv6 --env)"
check_eq "TOPO_VIP6" "${TOPO_VIP6:-}" fd00:10::100
check_eq "TOPO_SRC6" "${TOPO_SRC6:-}" fd00:20::1
check_eq "TOPO_BROKERS6" "${TOPO_BROKERS6:-}" "fd00:20::11 fd00:20::12 fd00:20::13"
check_eq "TOPO_CLIENTS6" "${TOPO_CLIENTS6:-}" "fd00:10::1"
check "ping -6 fd00:10::1 -> VIP fd00:10::100" pings "$TOPO_NS_CLI" 6 fd00:10::1 fd00:10::100
for b in $TOPO_BROKERS6; do
  check "ping -6 fd00:20::1 -> broker $b" pings "$TOPO_NS_LB" 6 fd00:20::1 "$b"
done
check "IPv4 too with --ipv6" pings "$TOPO_NS_CLI" 4 10.10.0.1 10.10.0.100
"$TOPO" add-client-address "$P6" fd00:10::50
check "ping -6 from an added client address fd00:10::50" pings "$TOPO_NS_CLI" 6 fd00:10::50 fd00:10::100

# --- --wire: a namespace on the client link -------------------------------------

unset TOPO_NS_WIRE TOPO_IF_WIRE_C TOPO_IF_WIRE_L
eval "$("$TOPO" up "$PW" --wire --queues 2 --env)"
check_eq "--wire: four namespaces" "$(ns_count "$PW")" 4
check_eq "TOPO_NS_WIRE" "${TOPO_NS_WIRE:-}" "$PW-wire"
check_eq "TOPO_IF_WIRE_C" "${TOPO_IF_WIRE_C:-}" wire-c
check_eq "TOPO_IF_WIRE_L" "${TOPO_IF_WIRE_L:-}" wire-l
check_eq "--wire: TOPO_VIP unchanged" "$TOPO_VIP" 10.10.0.100
check_eq "--wire: cli0's peer is wire-c" \
  "$(ip netns exec "$PW-cli" cat /sys/class/net/cli0/iflink)" "$(ip netns exec "$PW-wire" cat /sys/class/net/wire-c/ifindex)"
check_eq "--wire: lb-c's peer is wire-l" \
  "$(ip netns exec "$PW-lb" cat /sys/class/net/lb-c/iflink)" "$(ip netns exec "$PW-wire" cat /sys/class/net/wire-l/ifindex)"
check_eq "--wire: no address in the wire" "$(ip -n "$PW-wire" -o addr show | grep -v ' lo ' || true)" ""
for pair in cli:cli0 lb:lb-c wire:wire-c wire:wire-l; do
  ns="$PW-${pair%%:*}"
  dev=${pair#*:}
  read -r tx tso gso gro <<<"$(offloads "$ns" "$dev")"
  check_eq "--wire: $dev tx/tso/gso off" "$tx $tso $gso" "off off off"
  check_eq "--wire: $dev gso_max_segs 1" \
    "$(ip -n "$ns" -d -o link show dev "$dev" | grep -o 'gso_max_segs [0-9]*')" "gso_max_segs 1"
  check_eq "--wire: $dev 2 RX and 2 TX queues" "$(queues_of "$ns" "$dev")" "rx-0 rx-1 tx-0 tx-1"
  check_eq "--wire: $dev up" "$(ip netns exec "$ns" cat "/sys/class/net/$dev/operstate")" up
done
for dev in wire-c wire-l; do
  read -r _ _ _ gro <<<"$(offloads "$PW-wire" "$dev")"
  check_eq "--wire: $dev GRO off" "$gro" off
done
check_not "--wire: nothing crosses an unbridged wire" pings "$TOPO_NS_CLI" 4 10.10.0.1 10.10.0.100
ip -n "$PW-wire" link add br0 type bridge
ip -n "$PW-wire" link set wire-c master br0
ip -n "$PW-wire" link set wire-l master br0
ip -n "$PW-wire" link set br0 up
# the failed ping above left a FAILED neighbour entry: start afresh
ip -n "$PW-cli" neigh flush dev cli0
ip -n "$PW-lb" neigh flush dev lb-c
check "--wire: ping 10.10.0.1 -> VIP across a bridged wire" pings "$TOPO_NS_CLI" 4 10.10.0.1 10.10.0.100
check "--wire: ping 10.20.0.1 -> broker" pings "$TOPO_NS_LB" 4 10.20.0.1 10.20.0.11
check "--wire: exec in the wire" "$TOPO" exec "$PW" wire ip link show dev wire-c >/dev/null
err=$("$TOPO" up "$PW" --wire 2>&1 >/dev/null) && rc=0 || rc=$?
check_not "--wire: up of an existing prefix fails" test "$rc" -eq 0
for step in "create namespace $PF-wire" "create veth wire-l" "gso_max_segs 1 on wire-l"; do
  err=$(TOPO_INJECT_FAILURE="$step" "$TOPO" up "$PF" --wire 2>&1 >/dev/null) && rc=0 || rc=$?
  check_not "--wire: up failing at '$step' fails" test "$rc" -eq 0
  check "its message names '$step'" grep -qF "step '$step" <<<"$err"
  check_eq "it leaves no namespace behind" "$(ns_count "$PF")" 0
done

# --- down --------------------------------------------------------------------

for p in "$P1" "$PQ" "$P6" "$PW"; do
  check "down $p" "$TOPO" down "$p"
  check_eq "down $p removed all its namespaces" "$(ns_count "$p")" 0
  check "down $p again succeeds" "$TOPO" down "$p"
done
check "down of a never-created prefix succeeds" "$TOPO" down "$PF"
check_not "exec in a removed topology fails" "$TOPO" exec "$P1" lb true 2>/dev/null

echo "# $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
