#!/bin/bash
# Regenerates the MQTT captures in this directory (see README.md).
#
# Real sessions: a mosquitto broker in one network namespace, real clients
# (mosquitto_pub, mosquitto_sub, paho-mqtt, a raw-socket client) in another,
# the two joined by a veth pair (MTU 1500, checksum/segmentation offloads off,
# so every captured segment is at most one MSS and carries a valid checksum).
# tcpdump captures on the client's veth. The derived captures (retransmitted
# and reordered segments) are then made from the real ones by derive.py, and
# verify.py checks every file against expect.json.
#
# Run as root: pcaps/make-pcaps.sh. Idempotent: the new captures are made in a
# temporary directory and replace the .pcap files here only once all of them
# are made and verify.py passed. Bounded in time (each client run is under
# `timeout`; a run takes about 10 s). Removes its namespaces (pcap<PID>-cli,
# pcap<PID>-brk), processes and temporary directory on exit, also on failure
# or interrupt; KEEP_TMP=1 keeps the temporary directory (raw captures,
# tcpdump output, mosquitto log) for debugging.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3 # Debian's, with python3-scapy and python3-paho-mqtt
STEP_TIMEOUT=20     # seconds, per client run

die() { echo "make-pcaps: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (namespaces, tcpdump)"
for t in ip ethtool tcpdump mosquitto mosquitto_pub mosquitto_sub timeout; do
        command -v "$t" >/dev/null || die "$t not found"
done
$PY -c 'import scapy, paho.mqtt' 2>/dev/null || die "$PY lacks scapy or paho-mqtt"

PFX="pcap$$-"
NSC="${PFX}cli"
NSB="${PFX}brk"
IFC=veth-cli
IFB=veth-brk
C4=192.0.2.10 B4=192.0.2.1
C6=2001:db8::10 B6=2001:db8::1
TMP=$(mktemp -d /tmp/make-pcaps.XXXXXX)
OUT=$TMP/out # the new captures; moved into $HERE only once all are made and checked
mkdir "$OUT"
PIDS=()

cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        local pid
        for pid in "${PIDS[@]}"; do
                kill "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        ip netns del "$NSC" 2>/dev/null || true
        ip netns del "$NSB" 2>/dev/null || true
        if [ "$rc" != 0 ] && [ -s "$TMP/mosquitto.log" ]; then
                echo "--- mosquitto log (tail) ---" >&2
                tail -n 20 "$TMP/mosquitto.log" >&2
        fi
        if [ -n "${KEEP_TMP:-}" ]; then echo "make-pcaps: kept $TMP" >&2; else rm -rf "$TMP"; fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { # drop $1 from PIDS
        local keep=() p
        for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
        PIDS=("${keep[@]}")
}

# (Background processes are started with a plain "ip netns exec", which
# execs the command, so $! is its PID; these helpers are for the foreground.)
nsc() { ip netns exec "$NSC" "$@"; }
nsb() { ip netns exec "$NSB" "$@"; }

# --- topology -------------------------------------------------------------
ip netns add "$NSC"
ip netns add "$NSB"
ip link add name "$IFC" netns "$NSC" type veth peer name "$IFB" netns "$NSB"
nsc ip link set "$IFC" address 02:00:00:00:00:0a mtu 1500
nsb ip link set "$IFB" address 02:00:00:00:00:01 mtu 1500
nsc ethtool -K "$IFC" tx off tso off gso off gro off >/dev/null
nsb ethtool -K "$IFB" tx off tso off gso off gro off >/dev/null
nsc ip addr add "$C4/24" dev "$IFC"
nsb ip addr add "$B4/24" dev "$IFB"
nsc ip addr add "$C6/64" dev "$IFC" nodad
nsb ip addr add "$B6/64" dev "$IFB" nodad
for ns in "$NSC" "$NSB"; do
        ip -n "$ns" link set lo up
done
nsc ip link set "$IFC" up
nsb ip link set "$IFB" up

# --- broker ---------------------------------------------------------------
cat >"$TMP/mosquitto.conf" <<EOF
user root
per_listener_settings false
allow_anonymous true
persistence false
log_dest file $TMP/mosquitto.log
log_type all
listener 1883 $B4
listener 1883 $B6
listener 1883 127.0.0.1
EOF
ip netns exec "$NSB" mosquitto -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.out" 2>&1 &
PIDS+=($!)
MOSQ_PID=$!
for _ in $(seq 100); do
        [ "$(nsb ss -Hltn 'sport = :1883' | wc -l)" -ge 3 ] && break
        kill -0 "$MOSQ_PID" 2>/dev/null || die "mosquitto exited: $(cat "$TMP/mosquitto.out")"
        sleep 0.1
done
[ "$(nsb ss -Hltn 'sport = :1883' | wc -l)" -ge 3 ] || die "mosquitto not listening"
# Let neighbour discovery settle before the first capture, off the record.
nsc ping -c1 -W2 "$B4" >/dev/null
nsc ping -c1 -W2 "$B6" >/dev/null

# --- capture helpers ------------------------------------------------------
TCPDUMP_PID=
cap_start() { # NAME: tcpdump on the client's veth, only MQTT's port
        local name=$1
        ip netns exec "$NSC" tcpdump -i "$IFC" -s 0 -U --immediate-mode -Z root -w "$TMP/$name.pcap" 'tcp port 1883' \
                2>"$TMP/$name.tcpdump" &
        TCPDUMP_PID=$!
        PIDS+=("$TCPDUMP_PID")
        for _ in $(seq 50); do
                grep -q "listening on" "$TMP/$name.tcpdump" && return 0
                sleep 0.1
        done
        die "tcpdump for $name did not start: $(cat "$TMP/$name.tcpdump")"
}
cap_stop() { # NAME: let the close settle, stop tcpdump, move the file in place
        local name=$1
        sleep 0.5
        kill -INT "$TCPDUMP_PID"
        wait "$TCPDUMP_PID" || true
        forget_pid "$TCPDUMP_PID"
        [ -s "$TMP/$name.pcap" ] || die "$name: empty capture"
        mv -f "$TMP/$name.pcap" "$OUT/$name.pcap"
        WROTE+=("$name.pcap")
}
capture() { # NAME CMD...: one client run in the client namespace
        local name=$1
        shift
        cap_start "$name"
        nsc timeout "$STEP_TIMEOUT" "$@" || die "$name: client failed ($*)"
        cap_stop "$name"
}
lines() { printf '%s\n' "$@"; }

WROTE=()

# --- the captures ---------------------------------------------------------
# QoS 0 from stdin, unpaced: mosquitto_pub usually puts the 2nd and 3rd
# PUBLISH and the DISCONNECT in one segment.
lines "qos0 one" "qos0 two" "qos0 three" >"$TMP/in-qos0"
capture v311-qos0 mosquitto_pub -h "$B4" -V mqttv311 -i sensor-1 -q 0 \
        -t apples/kitchen/temp -l <"$TMP/in-qos0"

# The QoS 1/2 sessions pace their messages (--repeat-delay) so that each
# PUBLISH is a segment of its own; derive.py relies on that layout.
REPEAT=(--repeat 3 --repeat-delay 0.2)
capture v311-qos1 mosquitto_pub -h "$B4" -V mqttv311 -i pears-q1 -q 1 \
        -t pears/orchard/q1 -m "qos1 pear" "${REPEAT[@]}"

capture v311-qos2 mosquitto_pub -h "$B4" -V mqttv311 -i pears-q2 -q 2 \
        -t pears/orchard/q2 -m "qos2 pear" "${REPEAT[@]}"

capture v5-qos1 mosquitto_pub -h "$B4" -V mqttv5 -i v5-q1 -q 1 \
        -t apples/cellar/v5 -m "v5 apple" "${REPEAT[@]}"

capture v5-alias $PY "$HERE/clients.py" alias "$B4"

LONG="bananas/$(head -c $((65535 - 8)) /dev/zero | tr '\0' x)"
[ "${#LONG}" = 65535 ] || die "long topic is ${#LONG} bytes"
capture v311-longtopic mosquitto_pub -h "$B4" -V mqttv311 -i long-1 -q 0 \
        -t "$LONG" -m "long topic"

capture v311-multi $PY "$HERE/clients.py" multi "$B4"

# The subscriber runs in the client namespace; the message it receives is
# published from inside the broker namespace over its loopback, so it never
# crosses the veth and only the subscriber's connection is in the capture.
cap_start v311-subscribe
ip netns exec "$NSC" timeout "$STEP_TIMEOUT" mosquitto_sub -h "$B4" -V mqttv311 -i sub-1 -q 1 \
        -t 'pears/#' -C 1 -W 15 >"$TMP/sub.out" &
SUB_PID=$!
PIDS+=("$SUB_PID")
for _ in $(seq 100); do # wait until the broker has the subscription
        grep -qs "Received SUBSCRIBE from sub-1" "$TMP/mosquitto.log" && break
        sleep 0.1
done
grep -qs "Received SUBSCRIBE from sub-1" "$TMP/mosquitto.log" || die "sub-1 never subscribed"
sleep 0.2 # the SUBACK is on its way
nsb timeout "$STEP_TIMEOUT" mosquitto_pub -h 127.0.0.1 -V mqttv311 -i pub-1 -q 1 \
        -t pears/orchard/news -m "pears are ripe"
wait "$SUB_PID" || die "mosquitto_sub failed"
forget_pid "$SUB_PID"
[ "$(cat "$TMP/sub.out")" = "pears are ripe" ] || die "sub-1 got: $(cat "$TMP/sub.out")"
cap_stop v311-subscribe

capture v6-qos1 mosquitto_pub -h "$B6" -V mqttv311 -i v6-1 -q 1 \
        -t apples/v6 -m "v6 apple" "${REPEAT[@]}"

capture v311-will mosquitto_pub -h "$B4" -V mqttv311 -i will-1 -q 1 \
        -t pears/orchard/hello -m "hello" \
        --will-topic pears/status --will-payload offline --will-qos 1

# --- derived captures and the check --------------------------------------
timeout 120 $PY "$HERE/derive.py" "$OUT"
WROTE+=(v311-qos1-retrans.pcap v311-qos1-reorder.pcap v311-longtopic-reorder.pcap)

cp "$HERE/expect.json" "$OUT/"
timeout 120 $PY "$HERE/verify.py" "$OUT" || die "verification failed; $HERE left as it was"
for f in "${WROTE[@]}"; do
        mv -f "$OUT/$f" "$HERE/$f"
done

echo "make-pcaps: wrote, in $HERE:"
for f in "${WROTE[@]}"; do
        printf '  %-28s %6d bytes\n' "$f" "$(stat -c %s "$HERE/$f")"
done
