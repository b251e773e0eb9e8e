#!/bin/bash
# Replay tests: the captures in pcaps/ run offline through the balancer
# (mqttlb replay), checked against pcaps/expect.json and the routes of
# tests/replay/replay.yaml.
#
#   test_replay.sh MQTTLB GROUP
#
# Groups (one ctest each):
#   list        the connection extraction (--list) against expect.json's
#               duplicated/out-of-order segment counts
#   publish     the publishers: spliced, bound at PUBLISH, pool by topic,
#               broker of that pool, topics, publishes, stream intact
#   connect     the Will (bound at CONNECT) and the subscriber (at SUBSCRIBE);
#               a client that sends nothing after the handshake (bind timeout)
#   retransmit  the derived captures: retransmitted and reordered segments
#   alias       v5-alias.pcap (see the note there)
#   failover    --broker-down on one broker (the other one takes it), on all
#               of a pool (no_broker); --broker-refuse (refused)
#   concurrent  every real capture merged into one, connections overlapping;
#               with one worker and with three (frames handed over)
#   proxy       proxy_protocol on: the PROXY v2 header checked by the broker
#   output      -w OUT.pcap: written, deterministic, frames as counted
#   errors      exit codes and messages for bad input
#
# Needs jq and /usr/bin/python3 (standard library only: merging captures).
set -uo pipefail

MQTTLB=${1:?usage: test_replay.sh MQTTLB GROUP}
GROUP=${2:?usage: test_replay.sh MQTTLB GROUP}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PCAPS=$ROOT/pcaps
CFG=$HERE/replay.yaml
EXPECT=$PCAPS/expect.json
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/mqttlb-replay.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

FAILS=0
fail() {
        echo "FAIL: $*" >&2
        FAILS=$((FAILS + 1))
}
ok() { echo "ok: $*"; }

command -v jq >/dev/null || { echo "jq not found" >&2; exit 1; }
[ -s "$EXPECT" ] || { echo "$EXPECT missing" >&2; exit 1; }

# The brokers of each pool of replay.yaml, and the pool a topic routes to.
brokers_of() {
        case $1 in
        apples) echo "10.20.0.11:1883 10.20.0.12:1883" ;;
        pears) echo "10.20.0.21:1883 10.20.0.22:1883" ;;
        bananas) echo "10.20.0.31:1883" ;;
        other) echo "10.20.0.41:1883" ;;
        esac
}
pool_of() {
        case $1 in
        apples/*) echo apples ;;
        pears/*) echo pears ;;
        bananas/*) echo bananas ;;
        *) echo other ;;
        esac
}

# replay FILE [ARGS...]: JSON lines on $TMP/out.json, summary on $TMP/err;
# returns the exit code.
replay() {
        local f=$1
        shift
        "$MQTTLB" replay -c "$CFG" -r "$PCAPS/$f" --json "$@" >"$TMP/out.json" 2>"$TMP/err"
}

# check_conn NAME JSON_LINE EXPECT_KEY: one connection's line against the
# facts of expect.json[EXPECT_KEY].
check_conn() {
        local name=$1 line=$2 key=$3 e pool bound want_topics got_topics broker verdict
        e=$(jq -c --arg k "$key" '.[$k]' "$EXPECT")
        if [ "$(jq -r '.will_topic' <<<"$e")" != null ]; then
                pool=$(pool_of "$(jq -r '.will_topic' <<<"$e")")
                bound=connect
                want_topics=$(jq -c '[.topics[]] | unique' <<<"$e")
        elif [ "$(jq -r '.subscribe' <<<"$e")" != null ]; then
                pool=$(pool_of "$(jq -r '.subscribe[0]' <<<"$e")")
                bound=subscribe
                want_topics=$(jq -c '.subscribe | unique' <<<"$e")
        else
                pool=$(pool_of "$(jq -r '.topics[0] | if type == "object" then .prefix else . end' <<<"$e")")
                bound=publish
                want_topics=$(jq -c '[.topics[] | if type == "object"
                        then (.prefix + ("x" * (64 - (.prefix | length)))
                              + "…(" + (.length | tostring) + " bytes)")
                        else . end] | unique' <<<"$e")
        fi
        verdict=$(jq -r '.verdict' <<<"$line")
        [ "$verdict" = spliced ] || fail "$name: verdict $verdict, want spliced ($line)"
        [ "$(jq -r '.client_id' <<<"$line")" = "$(jq -r '.client_id' <<<"$e")" ] ||
                fail "$name: client_id $(jq -r '.client_id' <<<"$line")"
        [ "$(jq -r '.pool' <<<"$line")" = "$pool" ] ||
                fail "$name: pool $(jq -r '.pool' <<<"$line"), want $pool"
        broker=$(jq -r '.broker' <<<"$line")
        [[ " $(brokers_of "$pool") " == *" $broker "* ]] ||
                fail "$name: broker $broker is not one of pool $pool's"
        [ "$(jq -r '.bound_at' <<<"$line")" = "$bound" ] ||
                fail "$name: bound_at $(jq -r '.bound_at' <<<"$line"), want $bound"
        got_topics=$(jq -c '.topics | unique' <<<"$line")
        [ "$got_topics" = "$want_topics" ] || fail "$name: topics $got_topics, want $want_topics"
        [ "$(jq -r '.publishes' <<<"$line")" = "$(jq -r '.publish_count' <<<"$e")" ] ||
                fail "$name: publishes $(jq -r '.publishes' <<<"$line"), want $(jq -r '.publish_count' <<<"$e")"
        [ "$(jq -r '.stream_intact' <<<"$line")" = true ] || fail "$name: stream not intact"
        [ "$(jq -r '.bytes_to_broker' <<<"$line")" = "$(jq -r '.bytes_from_client' <<<"$line")" ] ||
                fail "$name: bytes_to_broker $(jq -r '.bytes_to_broker' <<<"$line") != bytes_from_client $(jq -r '.bytes_from_client' <<<"$line")"
        [ "$(jq -r '.error' <<<"$line")" = null ] || fail "$name: error $(jq -r '.error' <<<"$line")"
}

# one_capture FILE [EXPECT_KEY]: replay one capture, check its one connection.
one_capture() {
        local f=$1 key=${2:-$1} rc
        replay "$f"
        rc=$?
        if [ $rc != 0 ]; then
                fail "$f: exit $rc: $(cat "$TMP/err")"
                return
        fi
        [ "$(wc -l <"$TMP/out.json")" = 1 ] || { fail "$f: $(wc -l <"$TMP/out.json") lines"; return; }
        grep -q "unknown-destination 0, bad checksum 0, bad source 0;" "$TMP/err" || fail "$f: frames to unknown destinations: $(cat "$TMP/err")"
        check_conn "$f" "$(cat "$TMP/out.json")" "$key"
        ok "$f: $(jq -c '{verdict, pool, broker, bound_at}' "$TMP/out.json")"
}

group_list() {
        local f key line dup ooo
        for key in $(jq -r 'keys[]' "$EXPECT"); do
                f=$PCAPS/$key
                if ! "$MQTTLB" replay --list -r "$f" >"$TMP/list" 2>"$TMP/err"; then
                        fail "$key: --list: $(cat "$TMP/err")"
                        continue
                fi
                [ "$(grep -c ' -> ' "$TMP/list")" = 1 ] || fail "$key: not one connection: $(cat "$TMP/list")"
                line=$(grep ' -> ' "$TMP/list")
                dup=$(sed -n 's/.*(\([0-9]*\) retransmitted, \([0-9]*\) out of order).*/\1/p' <<<"$line")
                ooo=$(sed -n 's/.*(\([0-9]*\) retransmitted, \([0-9]*\) out of order).*/\2/p' <<<"$line")
                [ "$dup" = "$(jq -r --arg k "$key" '.[$k].duplicated_segments' "$EXPECT")" ] ||
                        fail "$key: $dup retransmitted segments: $line"
                [ "$ooo" = "$(jq -r --arg k "$key" '.[$k].out_of_order_segments' "$EXPECT")" ] ||
                        fail "$key: $ooo out-of-order segments: $line"
                [[ "$line" == *"bytes, FIN;"* ]] || fail "$key: stream not complete with FIN: $line"
                [[ "$line" != *"hole"* ]] || fail "$key: a hole in the stream: $line"
                ok "$key: $line"
        done
}

group_publish() {
        local f
        for f in v311-qos0.pcap v311-qos1.pcap v311-qos2.pcap v5-qos1.pcap v311-multi.pcap \
                v311-longtopic.pcap v6-qos1.pcap; do
                one_capture "$f"
        done
}

group_connect() {
        one_capture v311-will.pcap
        one_capture v311-subscribe.pcap
        # the subscriber received the broker's PUBLISH: the whole server stream
        # went through (checked by its PUBACK having been acknowledged: the
        # stream is intact only if the broker got every byte)

        # A client that completes the handshake and sends nothing (the first
        # three frames of v311-qos1.pcap): closed at the bind timeout, and
        # counted once in `timeouts` (the summary's counters line).
        local line counters
        $PY - "$PCAPS/v311-qos1.pcap" "$TMP/handshake.pcap" <<'EOF2' || { fail "cutting the capture failed"; return; }
import struct, sys
data = open(sys.argv[1], "rb").read()
out, off = data[:24], 24
for _ in range(3):
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    out += data[off:off + 16 + incl]
    off += 16 + incl
open(sys.argv[2], "wb").write(out)
EOF2
        "$MQTTLB" replay -c "$CFG" -r "$TMP/handshake.pcap" --json >"$TMP/out.json" 2>"$TMP/err" ||
                { fail "handshake only: exit $?: $(cat "$TMP/err")"; return; }
        line=$(cat "$TMP/out.json")
        [ "$(jq -r '.verdict' <<<"$line")" = timeout ] || fail "handshake only: $line"
        counters=$(grep '^replay: counters:' "$TMP/err")
        grep -qw "timeouts 1" <<<"$counters" || fail "handshake only: $counters"
        grep -qw "spliced" <<<"$counters" && fail "handshake only: $counters"
        ok "handshake only: $(jq -r '.verdict' <<<"$line"); $counters"
}

group_retransmit() {
        local f
        for f in v311-qos1-retrans.pcap v311-qos1-reorder.pcap v311-longtopic-reorder.pcap; do
                one_capture "$f"
        done
}

# The client of v5-alias.pcap uses Topic Alias 1 because the broker's CONNACK
# (Topic Alias Maximum 10) allowed it. Binding at PUBLISH, the balancer
# answers CONNACK itself first; the harness hands it the captured brokers'
# capabilities (lb__set_connack_caps, what health checks do live), so its
# CONNACK allows the same aliases, and the PUBLISH with an empty topic and
# alias 1 is routed by the topic the alias stands for.
group_alias() {
        one_capture v5-alias.pcap
}

group_failover() {
        local f first other pool line
        for f in v311-qos1.pcap v5-qos1.pcap v6-qos1.pcap v311-will.pcap; do
                replay "$f" || { fail "$f: exit $?"; continue; }
                first=$(jq -r '.broker' "$TMP/out.json")
                pool=$(jq -r '.pool' "$TMP/out.json")
                other=$(brokers_of "$pool" | tr ' ' '\n' | grep -vx "$first")

                # one broker of the pool down: the other one takes the connection
                replay "$f" --broker-down "$first" || { fail "$f down: exit $?"; continue; }
                line=$(cat "$TMP/out.json")
                check_conn "$f (with $first down)" "$line" "$f"
                [ "$(jq -r '.broker' <<<"$line")" = "$other" ] ||
                        fail "$f: with $first down, broker $(jq -r '.broker' <<<"$line"), want $other"
                ok "$f: $first down -> $(jq -r '.broker' <<<"$line")"

                # every broker of the pool down
                replay "$f" --broker-down "$first" --broker-down "$other" ||
                        { fail "$f all down: exit $?"; continue; }
                line=$(cat "$TMP/out.json")
                [ "$(jq -r '.verdict' <<<"$line")" = no_broker ] ||
                        fail "$f: all of $pool down: $line"
                [ "$(jq -r '.stream_intact' <<<"$line")" = false ] || fail "$f: intact with no broker"
                ok "$f: all of $pool down -> $(jq -r '.verdict' <<<"$line")"

                # the broker refuses the CONNECT
                replay "$f" --broker-refuse "$first" || { fail "$f refuse: exit $?"; continue; }
                line=$(cat "$TMP/out.json")
                [ "$(jq -r '.verdict' <<<"$line")" = refused ] || fail "$f: refused: $line"
                [ "$(jq -r '.broker' <<<"$line")" = "$first" ] || fail "$f: refused by: $line"
                ok "$f: $first refuses -> $(jq -r '.verdict' <<<"$line")"
        done
}

# Every real capture (one connection each, distinct client ids) merged into
# one file, each shifted to start 5 ms after the previous one, so the
# connections overlap; each must come out as it does alone.
group_concurrent() {
        local files=() f cid line n workers
        for f in $(jq -r 'to_entries[] | select(.value.derived_from == null) | .key' "$EXPECT"); do
                files+=("$PCAPS/$f")
        done
        $PY - "$TMP/merged.pcap" "${files[@]}" <<'EOF' || { fail "merge failed"; return; }
import struct, sys
out, ins = sys.argv[1], sys.argv[2:]
recs = []
for i, path in enumerate(ins):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xa1b2c3d4: scale = 1000
    elif magic == 0xa1b23c4d: scale = 1
    else: sys.exit("%s: not a little-endian pcap" % path)
    if struct.unpack("<I", data[20:24])[0] != 1: sys.exit("%s: not Ethernet" % path)
    off, first = 24, None
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        t = sec * 10**9 + frac * scale
        first = t if first is None else first
        recs.append((10**18 + i * 5 * 10**6 + (t - first), i, len(recs), data[off + 16:off + 16 + incl], orig))
        off += 16 + incl
recs.sort()
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    for t, _, _, b, orig in recs:
        f.write(struct.pack("<IIII", t // 10**9, t % 10**9 // 1000, len(b), orig) + b)
EOF
        for workers in 1 3; do
                n=0
                "$MQTTLB" replay -c "$CFG" -r "$TMP/merged.pcap" --json --workers $workers \
                        >"$TMP/out.json" 2>"$TMP/err" ||
                        { fail "merged, $workers workers: exit $?: $(cat "$TMP/err")"; continue; }
                [ "$(wc -l <"$TMP/out.json")" = "${#files[@]}" ] ||
                        fail "merged: $(wc -l <"$TMP/out.json") connections, want ${#files[@]}"
                for f in "${files[@]}"; do
                        f=$(basename "$f")
                        cid=$(jq -r --arg k "$f" '.[$k].client_id' "$EXPECT")
                        line=$(jq -c --arg c "$cid" 'select(.client_id == $c)' "$TMP/out.json")
                        if [ -z "$line" ]; then
                                fail "merged: no connection of $cid"
                                continue
                        fi
                        check_conn "merged $f, $workers workers" "$line" "$f"
                        n=$((n + 1))
                done
                grep -q "unknown-destination 0, bad checksum 0, bad source 0;" "$TMP/err" ||
                        fail "merged: $(cat "$TMP/err")"
                # several workers: broker legs' frames land on other workers than
                # their owners and are handed over
                if [ $workers -gt 1 ] && ! grep -q "frames handed over" "$TMP/err"; then
                        fail "merged, $workers workers: no handover line: $(cat "$TMP/err")"
                elif [ $workers -gt 1 ] && grep -q " 0 frames handed over" "$TMP/err"; then
                        fail "merged, $workers workers: nothing handed over"
                fi
                ok "merged, $workers worker(s): ${#files[@]} connections, $n spliced as alone; $(tr '\n' ' ' <"$TMP/err")"
        done
}

# proxy_protocol on: the emulated broker strips and checks the PROXY v2
# header (signature, version/command, family, the client's address and port:
# IPv6 for the IPv6 client although the broker is IPv4) before comparing the
# stream; the rest as without.
group_proxy() {
        local f
        sed 's/^default_pool: other$/default_pool: other\nproxy_protocol: true/' "$CFG" >"$TMP/proxy.yaml"
        grep -q '^proxy_protocol: true' "$TMP/proxy.yaml" || { fail "no proxy config"; return; }
        for f in v311-qos1.pcap v6-qos1.pcap v311-will.pcap v311-longtopic-reorder.pcap; do
                "$MQTTLB" replay -c "$TMP/proxy.yaml" -r "$PCAPS/$f" --json >"$TMP/out.json" \
                        2>"$TMP/err" || { fail "$f: exit $?: $(cat "$TMP/err")"; continue; }
                check_conn "$f (PROXY)" "$(cat "$TMP/out.json")" "$f"
                ok "$f with PROXY v2: $(jq -c '{verdict, broker, stream_intact}' "$TMP/out.json")"
        done
}

group_output() {
        local out frames
        replay v311-qos2.pcap -w "$TMP/a.pcap" || { fail "exit $?"; return; }
        cp "$TMP/out.json" "$TMP/a.json"
        replay v311-qos2.pcap -w "$TMP/b.pcap" || { fail "exit $?"; return; }
        cmp -s "$TMP/a.pcap" "$TMP/b.pcap" || fail "two runs wrote different captures"
        cmp -s "$TMP/a.json" "$TMP/out.json" || fail "two runs printed different lines"
        out=$(sed -n 's/.* out \([0-9]*\),.*/\1/p' "$TMP/err")
        frames=$($PY -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
assert struct.unpack("<I", d[:4])[0] == 0xa1b23c4d, "not a nanosecond pcap"
assert struct.unpack("<I", d[20:24])[0] == 1, "not Ethernet"
o = n = 0
o = 24
while o + 16 <= len(d):
    o += 16 + struct.unpack("<I", d[o + 8:o + 12])[0]
    n += 1
assert o == len(d), "truncated"
print(n)' "$TMP/a.pcap") || fail "OUT.pcap unreadable"
        [ -n "$out" ] && [ "$frames" = "$out" ] || fail "OUT.pcap has $frames frames, the summary says $out"
        replay v311-qos2.pcap -w "$TMP/c.pcap" --write-all || fail "--write-all: exit $?"
        [ "$(stat -c %s "$TMP/c.pcap")" -gt "$(stat -c %s "$TMP/a.pcap")" ] ||
                fail "--write-all wrote no more than -w"
        # the plain format: a header and one line per connection
        "$MQTTLB" replay -c "$CFG" -r "$PCAPS/v311-multi.pcap" >"$TMP/text" 2>/dev/null ||
                fail "text output: exit $?"
        [ "$(wc -l <"$TMP/text")" = 2 ] && grep -q '^CLIENT ' "$TMP/text" &&
                grep -q 'spliced *publish *apples' "$TMP/text" || fail "text output: $(cat "$TMP/text")"
        ok "output: $frames frames, deterministic"
}

# expect_user_error DESC PATTERN ARGS...: exit 1 and one stderr line matching PATTERN.
expect_user_error() {
        local desc=$1 pat=$2 rc
        shift 2
        "$MQTTLB" replay "$@" >"$TMP/out" 2>"$TMP/err"
        rc=$?
        if [ $rc != 1 ]; then
                fail "$desc: exit $rc, want 1 ($(cat "$TMP/err"))"
        elif ! grep -q -- "$pat" "$TMP/err"; then
                fail "$desc: stderr does not say '$pat': $(cat "$TMP/err")"
        else
                ok "$desc: $(head -1 "$TMP/err")"
        fi
}

group_errors() {
        printf 'listeners:\n  - address: 10.0.0.1\n    port: 1883\nbogus: 1\n' >"$TMP/bad.yaml"
        expect_user_error "bad config" "$TMP/bad.yaml:4" -c "$TMP/bad.yaml" -r "$PCAPS/v311-qos0.pcap"
        expect_user_error "missing config" "$TMP/none.yaml" -c "$TMP/none.yaml" -r "$PCAPS/v311-qos0.pcap"
        expect_user_error "missing capture" "$TMP/none.pcap" -c "$CFG" -r "$TMP/none.pcap"
        expect_user_error "not a capture" "$CFG" -c "$CFG" -r "$CFG"
        expect_user_error "unwritable output" "/nonexistent/out.pcap" -c "$CFG" \
                -r "$PCAPS/v311-qos0.pcap" -w /nonexistent/out.pcap
        expect_user_error "bad --broker-down" "--broker-down" -c "$CFG" -r "$PCAPS/v311-qos0.pcap" \
                --broker-down 10.20.0.11
        expect_user_error "no -r" "-r IN.pcap" -c "$CFG"
        expect_user_error "no -c" "-c FILE" -r "$PCAPS/v311-qos0.pcap"
        "$MQTTLB" replay --help | grep -q -- "--broker-refuse" || fail "--help lacks --broker-refuse"
}

case $GROUP in
list | publish | connect | retransmit | alias | failover | concurrent | proxy | output | errors)
        "group_$GROUP" ;;
*)
        echo "unknown group $GROUP" >&2
        exit 2
        ;;
esac
if [ $FAILS != 0 ]; then
        echo "$GROUP: $FAILS failure(s)" >&2
        exit 1
fi
echo "$GROUP: all passed"
