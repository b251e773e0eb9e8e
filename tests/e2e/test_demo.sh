#!/usr/bin/env bash
# ctest e2e.demo: `mqttlb demo --quick` runs end to end and cleans up.
#
#   test_demo.sh MQTTLB
#
# Checks: exit status 0; the table has a row for each pool (apples, pears,
# other), each saying the topic landed only in its pool; the PASS line; the
# counters line shows connections bound at PUBLISH and at SUBSCRIBE; the TLS
# table has a row for each TLS pool (apples-tls, pears-tls, other-tls), each
# saying the client landed in its server name's pool, and the TLS counters
# line shows ClientHellos bound by an sni route and by none; and afterwards
# none of the demo's namespaces, processes, its hosts file
# (/etc/netns/PREFIX-cli) or its temporary directory is left. Needs root
# (fails without).
set -euo pipefail

MQTTLB=${1:-}
[ -n "$MQTTLB" ] || { echo "FAIL - usage: $0 MQTTLB" && exit 1; }
MQTTLB=$(readlink -f "$MQTTLB")
[ "$(id -u)" -eq 0 ] || { echo "FAIL - needs root (network namespaces, XDP)" && exit 1; }
[ -x "$MQTTLB" ] || { echo "FAIL - '$MQTTLB' is not executable" && exit 1; }

failed=0
ok() { echo "ok   - $*"; }
not_ok() { echo "FAIL - $*"; failed=1; }

OUT=$(mktemp /tmp/e2e-demo.XXXXXX)
trap 'rm -f "$OUT"' EXIT

rc=0
timeout 200 "$MQTTLB" demo --quick >"$OUT" 2>&1 || rc=$?
sed 's/^/#   /' "$OUT"

if [ "$rc" -eq 0 ]; then ok "mqttlb demo --quick exits 0"; else not_ok "mqttlb demo --quick exits 0 (status $rc)"; fi

for pool in apples pears other; do
  # a table row: topic | pool | broker | qos | sent | received | only in its pool
  if grep -Eq "^[^|]+\| $pool +\| 10\.20\.0\.[0-9]+ +\|.*\| yes\$" "$OUT"; then
    ok "the table has a row for pool $pool, landed only in its pool"
  else
    not_ok "the table has a row for pool $pool, landed only in its pool"
  fi
done
if grep -Eq '\| (NO|NOTHING)' "$OUT"; then
  not_ok "no row says a topic landed outside its pool or nowhere"
else
  ok "no row says a topic landed outside its pool or nowhere"
fi
for pool in apples-tls pears-tls other-tls; do
  # a TLS table row: client | server name | topic | pool | broker | qos | sent | received | in its name's pool
  if grep -Eq "^[^|]+\| [a-z0-9.-]+ +\| [^|]+\| $pool +\| 10\.20\.0\.[0-9]+ +\|.*\| yes( \(no route\))?\$" "$OUT"; then
    ok "the TLS table has a row for pool $pool, landed in its server name's pool"
  else
    not_ok "the TLS table has a row for pool $pool, landed in its server name's pool"
  fi
done
tls_counters=$(grep '^mqttlb TLS counters:' "$OUT" || true)
if [[ $tls_counters =~ by\ sni\ route\ ([0-9,]*[0-9]) ]] && [ "${BASH_REMATCH[1]//,/}" -gt 0 ]; then
  ok "the TLS counters show ClientHellos bound by an sni route (${BASH_REMATCH[1]})"
else
  not_ok "the TLS counters show ClientHellos bound by an sni route ('$tls_counters')"
fi
if [[ $tls_counters =~ by\ no\ route[^0-9]*([0-9,]*[0-9]) ]] && [ "${BASH_REMATCH[1]//,/}" -gt 0 ]; then
  ok "the TLS counters show a ClientHello bound by no route, to the listener's pool (${BASH_REMATCH[1]})"
else
  not_ok "the TLS counters show a ClientHello bound by no route, to the listener's pool ('$tls_counters')"
fi
if grep -q '^PASS: ' "$OUT"; then ok "the demo says PASS"; else not_ok "the demo says PASS"; fi

counters=$(grep '^mqttlb counters:' "$OUT" || true)
if [[ $counters =~ at\ publish\ ([0-9,]*[0-9]) ]] && [ "${BASH_REMATCH[1]//,/}" -gt 0 ]; then
  ok "the counters show connections bound at PUBLISH (${BASH_REMATCH[1]})"
else
  not_ok "the counters show connections bound at PUBLISH ('$counters')"
fi
if [[ $counters =~ at\ subscribe\ ([0-9,]*[0-9]) ]] && [ "${BASH_REMATCH[1]//,/}" -gt 0 ]; then
  ok "the counters show a connection bound at SUBSCRIBE (${BASH_REMATCH[1]})"
else
  not_ok "the counters show a connection bound at SUBSCRIBE ('$counters')"
fi

prefix=$(sed -n 's/.*(namespaces \(mqdemo[0-9]*\)-\*.*/\1/p' "$OUT" | head -n 1)
if [ -z "$prefix" ]; then
  not_ok "the demo names its namespaces"
else
  left=$(ip netns list | awk -v p="$prefix" 'index($1, p "-") == 1 { print $1 }')
  if [ -z "$left" ]; then
    ok "no namespace of the demo ($prefix-*) is left"
  else
    not_ok "namespaces of the demo left behind: $left"
  fi
  if [ -e "/etc/netns/$prefix-cli" ]; then
    not_ok "the demo's hosts file /etc/netns/$prefix-cli/hosts is removed"
  else
    ok "the demo's hosts file /etc/netns/$prefix-cli/hosts is removed"
  fi
fi
tmp=$(sed -n 's|.*files in \(/tmp/mqttlb-demo\.[A-Za-z0-9]*\)).*|\1|p' "$OUT" | head -n 1)
if [ -z "$tmp" ]; then
  not_ok "the demo names its temporary directory"
else
  if [ -e "$tmp" ]; then
    not_ok "the demo's temporary directory $tmp is removed"
  else
    ok "the demo's temporary directory $tmp is removed"
  fi
  # every process the demo starts has its directory on its command line
  procs=$(pgrep -f "$tmp/" || true)
  if [ -n "$procs" ]; then
    not_ok "processes of the demo left running: $(ps -o pid=,args= -p "${procs//$'\n'/,}" | tr '\n' ';')"
  else
    ok "no process of the demo is left running"
  fi
fi

[ "$failed" -eq 0 ] && echo "# all passed" || echo "# FAILED"
exit "$failed"
