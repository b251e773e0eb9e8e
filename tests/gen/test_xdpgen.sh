#!/usr/bin/env bash
# xdpgen proven on a veth pair with two queues per end, each end in a network
# namespace of its own (gen<PID>a: va, gen<PID>b: vb):
#   1. 20000 frames over 2 queues arrive once each at a receiver (--rx-only),
#      per queue as sent, with valid checksums;
#   2. --rate 20000 --duration 1 achieves 20000 pps within 20 %, and nothing
#      is lost at that rate;
#   3. a SYN flood is counted as SYNs by the receiver;
#   4. --rx: frames bounced by an XDP_TX program come back once each;
#   5. bad arguments exit 1 naming the option, a socket failure exits 2.
# Needs root. Removes its namespaces on any exit; kills only what it started.
#
#   tests/gen/test_xdpgen.sh PATH/TO/xdpgen
set -euo pipefail

gen=${1:?usage: test_xdpgen.sh PATH/TO/xdpgen}
fail() {
  echo "test_xdpgen: FAIL: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, AF_XDP)"
[ -x "$gen" ] || fail "$gen is not an executable"
for tool in ip ethtool jq; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done

na=gen$$a
nb=gen$$b
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  ip netns del "$na" 2>/dev/null || true
  ip netns del "$nb" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$na"
ip netns add "$nb"
ip -n "$na" link add va numtxqueues 2 numrxqueues 2 type veth \
  peer name vb numtxqueues 2 numrxqueues 2 netns "$nb"
for end in "$na":va "$nb":vb; do
  ns=${end%:*} dev=${end#*:}
  # no IPv6: the kernel's own ND/MLD frames would reach the sockets
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
  # a local sender leaves TCP checksums partial and TSO frames skip veth's XDP
  ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off >/dev/null
  ip -n "$ns" link set "$dev" up
  ip -n "$ns" link set lo up
done

# json FILE KEY: one value of the JSON object in FILE
json() { jq -r ".$2" "$1"; }

# receiver NAME ARGS...: xdpgen --rx-only on vb in the background, once ready
receiver() {
  local name=$1
  shift
  # RX rings that hold a whole run: nothing is lost if the receiver's
  # threads get no CPU while the sender's (two cores here) fill them
  ip netns exec "$nb" "$gen" --dev vb --queues 2 --rx-only --ring 16384 --quiet --json "$@" \
    >"$tmp/$name.json" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q '^xdpgen: ready' "$tmp/$name.err" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/$name.err" >&2
  fail "receiver $name did not come up"
}

# finish NAME: waits for the receiver started last; its JSON is $tmp/NAME.json
finish() {
  local rc=0
  wait "${pids[-1]}" || rc=$?
  [ $rc = 0 ] || { cat "$tmp/$1.err" >&2; fail "receiver $1 exited with $rc"; }
  unset 'pids[-1]'
}

# sender NAME ARGS...: xdpgen on va in the foreground
sender() {
  local name=$1
  shift
  local rc=0
  ip netns exec "$na" "$gen" --dev va --quiet --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err" ||
    rc=$?
  [ $rc = 0 ] || { cat "$tmp/$name.err" >&2; fail "sender $name exited with $rc"; }
}

expect() { # FILE KEY VALUE
  local v
  v=$(json "$1" "$2")
  [ "$v" = "$3" ] || { cat "$1" >&2; fail "$(basename "$1" .json): $2 is $v, expected $3"; }
}

echo "# 1. 20000 frames over 2 queues, each received once"
# exact counts need a rate the (sanitized, core-sharing) receiver keeps up
# with: flat out, a full RX ring drops frames (counted, but not "once each")
receiver rx1 --count 20000 --duration 60 --run-id 0x5eed1
sender tx1 --queues 2 --count 20000 --rate 50000 --run-id 0x5eed1 --flows 64 --size 128
finish rx1
expect "$tmp/tx1.json" sent 20000
expect "$tmp/tx1.json" tx_dropped 0
for k in received unique; do expect "$tmp/rx1.json" $k 20000; done
expect "$tmp/rx1.json" duplicates 0
expect "$tmp/rx1.json" lost 0
expect "$tmp/rx1.json" rx_bad_csum 0
[ "$(jq -c .rx_per_queue "$tmp/rx1.json")" = "[10000,10000]" ] ||
  fail "rx1: rx_per_queue is $(jq -c .rx_per_queue "$tmp/rx1.json"): veth keeps the queue"
echo "ok: $(jq -c '{sent, tx_pps}' "$tmp/tx1.json") -> $(jq -c '{received, unique, duplicates, rx_per_queue}' "$tmp/rx1.json")"

echo "# 2. --rate 20000 --duration 1"
receiver rx2 --duration 3 --run-id 0x5eed2
sender tx2 --queues 2 --rate 20000 --duration 1 --run-id 0x5eed2
finish rx2
pps=$(json "$tmp/tx2.json" tx_pps)
sent=$(json "$tmp/tx2.json" sent)
[ "$pps" -ge 16000 ] && [ "$pps" -le 24000 ] || fail "tx2: tx_pps $pps is not within 20 % of 20000"
[ "$sent" -ge 16000 ] && [ "$sent" -le 24000 ] || fail "tx2: sent $sent in 1 s at 20000 pps"
expect "$tmp/rx2.json" received "$sent"
expect "$tmp/rx2.json" unique "$sent"
expect "$tmp/rx2.json" duplicates 0
echo "ok: tx_pps $pps, sent $sent, received $(json "$tmp/rx2.json" received)"

echo "# 3. SYN flood"
receiver rx3 --mode syn --count 5000 --duration 60
sender tx3 --queues 2 --mode syn --count 5000 --rate 50000 --src-range 10.99.0.0/16 --dport 1883-1890
finish rx3
expect "$tmp/tx3.json" sent 5000
expect "$tmp/rx3.json" rx_syn 5000
expect "$tmp/rx3.json" rx_bad_csum 0
expect "$tmp/rx3.json" received 0
expect "$tmp/rx3.json" lost 0
echo "ok: $(jq -c '{rx_syn, rx_other, rx_per_queue}' "$tmp/rx3.json")"

echo "# 4. --rx: bounced back by XDP_TX on vb"
if command -v clang >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ]; then
  cat >"$tmp/bounce.c" <<'EOF'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
/* swaps the MAC addresses and sends the frame back out of its interface */
SEC("xdp") int bounce(struct xdp_md *ctx)
{
        unsigned char *e = (void *)(long)ctx->data, t[6];

        if ((void *)(e + 14) > (void *)(long)ctx->data_end)
                return XDP_PASS;
        __builtin_memcpy(t, e, 6);
        __builtin_memcpy(e, e + 6, 6);
        __builtin_memcpy(e + 6, t, 6);
        return XDP_TX;
}
char _license[] SEC("license") = "GPL";
EOF
  clang -O2 -target bpf -c "$tmp/bounce.c" -o "$tmp/bounce.o"
  ip -n "$nb" link set dev vb xdpdrv obj "$tmp/bounce.o" sec xdp
  # pinned, thread t's frames come back on queue t (veth's XDP_TX picks the
  # queue by CPU), into the socket of the thread that drains it
  pin=()
  [ "$(nproc)" -ge 2 ] && pin=(--cores '0,1')
  sender tx4 --queues 2 --count 20000 --rate 50000 --rx --flows 16 "${pin[@]}"
  expect "$tmp/tx4.json" sent 20000
  for k in received unique; do expect "$tmp/tx4.json" $k 20000; done
  expect "$tmp/tx4.json" duplicates 0
  expect "$tmp/tx4.json" rx_bad_csum 0
  ip -n "$nb" link set dev vb xdpdrv off
  echo "ok: $(jq -c '{sent, received, unique, duplicates, rx_per_queue}' "$tmp/tx4.json")"
else
  echo "skip: no clang with libbpf headers to build the XDP_TX program"
fi

echo "# 5. exit status"
rc=0
ip netns exec "$na" "$gen" --dev va --queues 0 2>"$tmp/e1" || rc=$?
[ $rc = 1 ] && grep -q -- '--queues' "$tmp/e1" || fail "--queues 0: exit $rc, $(cat "$tmp/e1")"
rc=0
ip netns exec "$na" "$gen" --dev va --count 1 --size 64 2>"$tmp/e2" || rc=$?
[ $rc = 1 ] && grep -q -- '--size' "$tmp/e2" || fail "--size 64: exit $rc, $(cat "$tmp/e2")"
rc=0
ip netns exec "$na" "$gen" --dev no-such-if --count 1 2>"$tmp/e3" || rc=$?
[ $rc = 1 ] && grep -q -- '--dev' "$tmp/e3" || fail "--dev no-such-if: exit $rc, $(cat "$tmp/e3")"
rc=0 # veth has no zero-copy AF_XDP: a runtime failure, with the reason
ip netns exec "$na" "$gen" --dev va --count 1 --zerocopy 2>"$tmp/e4" || rc=$?
[ $rc = 2 ] && grep -q 'va queue 0' "$tmp/e4" || fail "--zerocopy on veth: exit $rc, $(cat "$tmp/e4")"
echo "ok: 1, 1, 1, 2: $(grep 'va queue 0' "$tmp/e4")"
echo "test_xdpgen: PASS"
