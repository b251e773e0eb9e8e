#!/usr/bin/env bash
# mqttlb demo: the balancer routing MQTT by topic, and TLS by server name, on
# this machine, in a private network.
#
#   demo.sh MQTTLB [--quick] [--duration S] [--keep]
#   (normally through `mqttlb demo`, which passes its own binary as MQTTLB)
#
# It builds three network namespaces with tests/netns/topo.sh (clients,
# balancer, brokers: PREFIX-cli, PREFIX-lb, PREFIX-brk), starts five real
# Mosquitto brokers in three pools and `mqttlb run` on AF_XDP sockets on the
# balancer's two veths:
#
#   apples  10.20.0.11 10.20.0.12   topics apples/#
#   pears   10.20.0.13 10.20.0.14   topics pears/#
#   other   10.20.0.15              everything else (the default pool)
#
# The same brokers also listen with TLS on 8883 (certificates made here with
# make-certs.sh, beside this script: a CA, one server certificate for the
# names below), in three TLS pools that mqttlb's `protocol: tls` listener on
# VIP:8883 picks by the ClientHello's server name (SNI), without terminating
# TLS:
#
#   apples-tls  10.20.0.11 10.20.0.12   apples.example.net
#   pears-tls   10.20.0.13 10.20.0.14   *.pears.example.net
#   other-tls   10.20.0.15              any other name (the listener's pool)
#
# The names resolve to the VIP in the clients' namespace through
# /etc/netns/PREFIX-cli/hosts, which `ip netns exec` mounts over /etc/hosts
# (made here, removed at the end).
#
# Clients (Paho, in /usr/bin/python3):
#   - a watcher per broker, subscribed to '#' directly at that broker (from
#     the brokers' namespace, not through the balancer): where each message
#     really landed;
#   - publishers through the VIP 10.10.0.100, each with its own client id and
#     topics of one pool, MQTT 3.1.1 and 5, QoS 0 and 1;
#   - a "dashboard" subscribed to pears/# through the VIP (bound to pears by
#     its SUBSCRIBE);
#   - TLS publishers to NAME:8883 (tls_set with the demo's CA: the broker's
#     certificate is verified against NAME, which is also the SNI).
# Then a table of where each topic's messages went, one of where each TLS
# client's went, and mqttlb's counters.
#
# Exit status: 0 when every message landed in its topic's pool (a TLS
# client's: in its server name's pool), none sent at QoS 1 was lost and the
# dashboard got every message of its broker; 1 otherwise (or when something
# could not be set up); 130/143 when interrupted. Everything it started is
# stopped by PID, the namespaces are deleted, the hosts file and the
# temporary directory removed (--keep keeps the directory), also on Ctrl-C.
# No packet leaves the demo's namespaces.
set -euo pipefail

PROG=demo
SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
PY=/usr/bin/python3 # Debian's, with python3-paho-mqtt (a pyenv python3 on PATH has no paho)
MQTT_PORT=1883
TLS_PORT=8883

usage() {
  cat <<'EOF'
usage: mqttlb demo [--quick] [--duration S] [--keep]
       demo.sh MQTTLB [--quick] [--duration S] [--keep]

Builds a private topology (three network namespaces), starts five Mosquitto
brokers in three pools and mqttlb on AF_XDP between them, runs MQTT clients
publishing and subscribing by topic through the balancer, and MQTT over TLS
clients bound by server name (TLS passthrough, port 8883), then prints where
each topic's and each TLS client's messages went and the balancer's
counters, and cleans up.

  --quick        about 8 s of traffic instead of 20
  --duration S   S seconds of traffic (1 to 3600)
  --keep         keep the temporary directory (configs, logs, records)
  -h, --help     this text

Needs root (network namespaces, XDP). Exit status 0 when every message landed
in its topic's pool (a TLS client's in its server name's pool) and nothing
sent at QoS 1 was lost, 1 otherwise.
EOF
}

die() {
  end_progress
  echo "$PROG: $*" >&2
  exit 1
}

# --- arguments -------------------------------------------------------------------

MQTTLB=""
DURATION=20
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --quick) DURATION=8 && shift ;;
    --keep) KEEP=1 && shift ;;
    --duration | --duration=*)
      if [ "$1" = --duration ]; then
        [ $# -ge 2 ] || { echo "$PROG: --duration needs a value" >&2 && exit 1; }
        DURATION=$2
        shift 2
      else
        DURATION=${1#*=}
        shift
      fi
      if ! [[ $DURATION =~ ^[1-9][0-9]{0,3}$ ]] || [ "$DURATION" -gt 3600 ]; then
        echo "$PROG: --duration: expected whole seconds from 1 to 3600, not '$DURATION'" >&2
        exit 1
      fi
      ;;
    -*)
      echo "$PROG: unknown option '$1' (--help lists them)" >&2
      exit 1
      ;;
    *)
      [ -z "$MQTTLB" ] || { echo "$PROG: unexpected argument '$1'" >&2 && exit 1; }
      MQTTLB=$1
      shift
      ;;
  esac
done
[ -n "$MQTTLB" ] || { echo "$PROG: usage: demo.sh MQTTLB [--quick] [--duration S] [--keep]" >&2 && exit 1; }
MQTTLB=$(readlink -f "$MQTTLB")
[ -x "$MQTTLB" ] || { echo "$PROG: '$MQTTLB' is not an executable mqttlb" >&2 && exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  if [ -z "${DEMO_SUDO_REEXEC:-}" ] && command -v sudo >/dev/null 2>&1; then
    args=("$MQTTLB" --duration "$DURATION")
    [ "$KEEP" -eq 1 ] && args+=(--keep)
    exec sudo -- env DEMO_SUDO_REEXEC=1 bash "$SELF" "${args[@]}"
  fi
  echo "$PROG: needs root (network namespaces, XDP); run it as root or through sudo" >&2
  exit 1
fi

# the topology script: beside this one when installed (share/mqttlb), in the
# source tree's tests/netns otherwise
TOPO=""
for t in "$HERE/topo.sh" "$HERE/../tests/netns/topo.sh"; do
  if [ -f "$t" ]; then
    TOPO=$(readlink -f "$t")
    break
  fi
done
[ -n "$TOPO" ] || { echo "$PROG: topo.sh not found beside $SELF nor in $HERE/../tests/netns" >&2 && exit 1; }
# the certificates' script: beside this one, installed or in the source tree
MAKE_CERTS="$HERE/make-certs.sh"
[ -x "$MAKE_CERTS" ] || { echo "$PROG: make-certs.sh not found (or not executable) beside $SELF" >&2 && exit 1; }

for tool in ip ethtool ss mosquitto timeout openssl getent; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "$PROG: '$tool' not found (scripts/install-deps.sh installs what the demo needs)" >&2 && exit 1; }
done
if ! "$PY" -c 'import paho.mqtt.client' 2>/dev/null; then
  echo "$PROG: $PY cannot import paho.mqtt (Debian package python3-paho-mqtt; scripts/install-deps.sh)" >&2
  exit 1
fi

# --- state and cleanup -------------------------------------------------------------

P="mqdemo$(($$ % 10000))" # namespaces $P-cli, $P-lb, $P-brk
TMP=""
PIDS=()        # every process started, by PID (stopped by PID, nothing else)
TOPO_UP=0
PROGRESS_OPEN=0
LB_PID=""
LB_RC=""
HOSTS_DIR=""   # /etc/netns/$P-cli once made: its hosts file is the TLS names'
NETNS_ETC_MADE=0 # whether the demo made /etc/netns (removed again when empty)

end_progress() {
  if [ "$PROGRESS_OPEN" -eq 1 ]; then
    echo >&2
    PROGRESS_OPEN=0
  fi
}

# stop_pids SECONDS PID...: SIGTERM, then SIGKILL after SECONDS; reaps them.
stop_pids() {
  local t=$(($1 * 10)) p i
  shift
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for ((i = 0; i < t; i++)); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

# forget PID...: those were reaped; never signal their (reusable) PIDs again.
forget() {
  local keep=() p q gone
  for p in "${PIDS[@]}"; do
    gone=0
    for q in "$@"; do [ "$p" = "$q" ] && gone=1; done
    [ "$gone" -eq 1 ] || keep+=("$p")
  done
  PIDS=("${keep[@]}")
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  end_progress
  if [ "${#PIDS[@]}" -gt 0 ]; then
    stop_pids 10 "${PIDS[@]}"
  fi
  if [ "$TOPO_UP" -eq 1 ]; then
    "$TOPO" down "$P" >/dev/null 2>&1 ||
      echo "$PROG: could not delete the namespaces $P-cli, $P-lb, $P-brk ('$TOPO down $P')" >&2
  fi
  if [ -n "$HOSTS_DIR" ]; then
    rm -f "$HOSTS_DIR/hosts"
    if [ -d "$HOSTS_DIR" ] && ! rmdir "$HOSTS_DIR" 2>/dev/null; then
      echo "$PROG: could not remove $HOSTS_DIR (not empty?)" >&2
    fi
    if [ "$NETNS_ETC_MADE" -eq 1 ]; then rmdir /etc/netns 2>/dev/null || true; fi
  fi
  if [ -n "$TMP" ]; then
    if [ "$KEEP" -eq 1 ]; then
      echo "kept $TMP (configs, logs, what each watcher received)"
    else
      rm -rf "$TMP"
    fi
  fi
  exit "$rc"
}

interrupted() {
  end_progress
  echo "$PROG: interrupted; cleaning up" >&2
  exit "$1"
}

TMP=$(mktemp -d /tmp/mqttlb-demo.XXXXXX)
trap cleanup EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM
mkdir -p "$TMP/logs" "$TMP/sent" "$TMP/watch"

# --- helpers -------------------------------------------------------------------------

# bg NS NAME CMD...: CMD in namespace NS (cli, lb, brk), in the background,
# output in $TMP/logs/NAME.{out,err}; BG_PID is CMD's own PID (ip netns
# exec execs it).
bg() {
  local ns=$1 name=$2
  shift 2
  ip netns exec "$P-$ns" "$@" >"$TMP/logs/$name.out" 2>"$TMP/logs/$name.err" &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_until() {
  local t=$(($1 * 10)) i
  shift
  for ((i = 0; i < t; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# show_log FILE...: the last lines of each log, for a failure's context.
show_log() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "--- ${f#"$TMP"/}:" >&2
    tail -n 15 "$f" | sed 's/^/    /' >&2
  done
}

step() { echo "  - $*"; }

# count_lines FILE...: lines in those files (missing files count 0).
count_lines() {
  local n=0 f
  for f in "$@"; do
    [ -f "$f" ] && n=$((n + $(wc -l <"$f")))
  done
  echo "$n"
}

# --- the MQTT clients and the report (Paho 1.6 API) -----------------------------------

CLIENTS="$TMP/demo_clients.py"
cat >"$CLIENTS" <<'PYEOF'
"""The demo's MQTT clients and its report (written and run by scripts/demo.sh).

  watch BROKER OUT READY          '#' at one broker, directly: one line per message
  sub HOST ID FILTER MARKER OUT SENT READY
                                  a subscriber through the VIP; after its SUBACK it
                                  publishes MARKER (the watchers see where it landed)
  pub HOST ID PROTO QOS RATE SECONDS SENT SUMMARY TOPIC...
                                  RATE messages/s for SECONDS, payload ID/SEQ
  tlspub NAME CAFILE ID PROTO QOS RATE SECONDS SENT SUMMARY TOPIC...
                                  the same over TLS to NAME:8883 (SNI NAME, the
                                  broker's certificate verified against CAFILE)
  report DIR ...                  the tables and the verdict (exit 0 or 1)

Lines are tab-separated: sent files "topic payload qos", received "topic payload".
"""
import glob
import json
import os
import signal
import sys
import threading
import time

stop = threading.Event()


def on_signal(*_):
    stop.set()


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def write_line(f, *fields):
    f.write("\t".join(esc(x) for x in fields) + "\n")
    f.flush()


def touch(path):
    with open(path, "w"):
        pass


def client(mqtt, client_id, proto=4):
    if proto == 5:
        return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    return mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)


def connect(c, host, seconds=15, port=1883):
    """TCP connect (and TLS handshake), retried: the first SYN may race the
    balancer's start."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            c.connect(host, port, keepalive=30)
            return
        except OSError:
            if time.monotonic() > deadline or stop.is_set():
                raise
            time.sleep(0.3)


def cmd_watch(broker, out, ready):
    import paho.mqtt.client as mqtt

    f = open(out, "a", encoding="utf-8")
    c = client(mqtt, f"demo-watch-{broker}")
    c.on_connect = lambda c, u, fl, rc: c.subscribe("#", qos=1)
    c.on_subscribe = lambda c, u, mid, granted: touch(ready)
    c.on_message = lambda c, u, m: write_line(f, m.topic, m.payload.decode("utf-8", "replace"))
    connect(c, broker)
    c.loop_start()
    stop.wait()
    c.disconnect()
    c.loop_stop()


def cmd_sub(host, client_id, filt, marker, out, sent, ready):
    import paho.mqtt.client as mqtt

    f = open(out, "a", encoding="utf-8")
    s = open(sent, "a", encoding="utf-8")
    c = client(mqtt, client_id)
    state = {"marker_mid": None}

    def on_connect(c, u, fl, rc):
        if rc == 0:
            c.subscribe(filt, qos=1)

    def on_subscribe(c, u, mid, granted):
        if state["marker_mid"] is None:
            payload = f"{client_id}/1"
            write_line(s, marker, payload, "1")
            state["marker_mid"] = c.publish(marker, payload, qos=1).mid

    def on_publish(c, u, mid):
        if mid == state["marker_mid"]:
            touch(ready)

    c.on_connect, c.on_subscribe, c.on_publish = on_connect, on_subscribe, on_publish
    c.on_message = lambda c, u, m: write_line(f, m.topic, m.payload.decode("utf-8", "replace"))
    connect(c, host)
    c.loop_start()
    stop.wait()
    c.disconnect()
    c.loop_stop()


def cmd_pub(host, client_id, proto, qos, rate, seconds, sent, summary, topics, ca=None):
    import paho.mqtt.client as mqtt

    proto, qos, rate, seconds = int(proto), int(qos), float(rate), float(seconds)
    c = client(mqtt, client_id, proto)
    if ca:
        c.tls_set(ca_certs=ca)  # verifies the broker's certificate against host, also the SNI
    connected = threading.Event()
    c.on_connect = lambda c, u, fl, rc, *props: rc == 0 and connected.set()
    connect(c, host, port=8883 if ca else 1883)
    c.loop_start()
    if not connected.wait(15):
        print(f"{client_id}: no CONNACK from {host} within 15 s", file=sys.stderr)
        sys.exit(1)
    f = open(sent, "a", encoding="utf-8")
    infos = []
    t0 = time.monotonic()
    while not stop.is_set():
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:
            break
        while len(infos) < int(elapsed * rate) + 1:
            n = len(infos) + 1
            topic = topics[(n - 1) % len(topics)]
            payload = f"{client_id}/{n}"
            write_line(f, topic, payload, str(qos))  # first: a watcher may see it at once
            infos.append(c.publish(topic, payload, qos=qos))
        stop.wait(0.02)
    # the last acknowledgements; not when told to stop (the balancer may be gone)
    deadline = time.monotonic() + 15
    while not stop.is_set() and time.monotonic() < deadline and not all(i.is_published() for i in infos):
        time.sleep(0.05)
    done = sum(1 for i in infos if i.is_published())
    c.disconnect()
    c.loop_stop()
    with open(summary, "w") as out:
        json.dump({"client_id": client_id, "qos": qos, "sent": len(infos), "done": done}, out)
    if done < len(infos):
        print(f"{client_id}: {len(infos) - done} of {len(infos)} messages not "
              f"{'acknowledged' if qos else 'written'}", file=sys.stderr)
        sys.exit(1)


# --- the report -------------------------------------------------------------------


def read_tsv(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                rows.append(tuple(p.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\")
                                  for p in parts))
    except FileNotFoundError:
        pass
    return rows


def matches(filt, topic):
    """MQTT topic filter matching (3.1.1 §4.7)."""
    f, t = filt.split("/"), topic.split("/")
    if topic.startswith("$") and f[0] in ("#", "+"):
        return False
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def find_key(obj, key):
    """The first value of key anywhere in a JSON document."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def last_json(path):
    """The file as one JSON document, else its last line that is one."""
    doc = None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            return json.loads(text)
        except ValueError:
            pass
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return doc


def flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}{k}.")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            name = v.get("name") if isinstance(v, dict) else None
            yield from flatten(v, f"{prefix}{name or i}.")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix[:-1], obj


def n(x):
    return f"{x:,}"


def sni_route(name, snis, default):
    """The pool mqttlb should pick for a server name: an exact name (any case,
    a trailing dot ignored), then the longest *.suffix it ends with, then the
    default (the listener's pool)."""
    name = name.lower().rstrip(".")
    for pat, pool in snis:
        if pat.lower() == name:
            return pool
    best = None
    for pat, pool in snis:
        if pat.startswith("*.") and name.endswith(pat[1:].lower()) and (best is None or len(pat) > len(best[0])):
            best = (pat, pool)
    return best[1] if best else default


def cmd_report(d, plan_args):
    pools, routes, default, dash, lb_status = {}, [], None, {}, 0
    tls_pools, snis, tls_default, tls_clients = {}, [], None, {}
    it = iter(plan_args)
    for a in it:
        v = next(it)
        if a == "--pool":
            name, brokers = v.split("=")
            pools[name] = brokers.split(",")
        elif a == "--route":
            filt, pool = v.split("=")
            routes.append((filt, pool))
        elif a == "--default":
            default = v
        elif a == "--tls-pool":
            name, brokers = v.split("=")
            tls_pools[name] = brokers.split(",")
        elif a == "--sni":
            snis.append(tuple(v.split("=")))
        elif a == "--tls-default":
            tls_default = v
        elif a == "--tls-client":
            cid, name = v.split("=")
            tls_clients[cid] = name
        elif a == "--dashboard":
            dash = dict(zip(("client_id", "filter", "marker"), v.split(",")))
        elif a == "--lb-status":
            lb_status = int(v)
    pool_of = {b: p for p, bs in pools.items() for b in bs}
    tls_pool_of = {b: p for p, bs in tls_pools.items() for b in bs}

    def origin(payload):  # the client that sent it: payloads are ID/SEQ
        return payload.rsplit("/", 1)[0]

    def route(topic):
        best = None
        for filt, pool in routes:  # most specific filter: here, the longest literal prefix
            if matches(filt, topic) and (best is None or len(filt) > len(best[0])):
                best = (filt, pool)
        return best[1] if best else default

    sent = {}  # payload -> (topic, qos)
    order = []  # topics in the order first sent (by MQTT clients: TLS ones have their own table)
    for path in sorted(glob.glob(os.path.join(d, "sent", "*.sent"))):
        for topic, payload, qos in read_tsv(path):
            sent[payload] = (topic, int(qos))
            if topic not in order and origin(payload) not in tls_clients:
                order.append(topic)
    where = {}  # payload -> [broker, ...]
    stray = 0
    for b in pool_of:
        for row in read_tsv(os.path.join(d, "watch", f"{b}.tsv")):
            if len(row) < 2:
                continue
            if row[1] in sent and sent[row[1]][0] == row[0]:
                where.setdefault(row[1], []).append(b)
            else:
                stray += 1

    ok = True
    rows = []
    names = list(pools)
    order.sort(key=lambda t: (names.index(route(t)) if route(t) in names else len(names), t))
    for topic in order:
        msgs = [p for p, (t, _) in sent.items() if t == topic and origin(p) not in tls_clients]
        brokers = sorted({b for p in msgs for b in where.get(p, [])}, key=lambda b: tuple(map(int, b.split("."))))
        got = sum(len(where.get(p, [])) for p in msgs)
        qos = sorted({sent[p][1] for p in msgs})
        want = route(topic)
        landed = sorted({pool_of[b] for b in brokers})
        if not brokers:
            verdict = "NOTHING ARRIVED"
        elif landed == [want]:
            verdict = "yes"
        else:
            verdict = f"NO: routed to {want}"
        if verdict != "yes":
            ok = False
        rows.append((topic, ",".join(landed) or "-", ",".join(brokers) or "-",
                     "/".join(map(str, qos)), n(len(msgs)), n(got), verdict))

    head = ("topic", "pool", "broker", "qos", "sent", "received", "only in its pool")
    width = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    right = {3, 4, 5}

    def fmt(r):
        return " | ".join(c.rjust(width[i]) if i in right else c.ljust(width[i]) for i, c in enumerate(r)).rstrip()

    print("Where each topic's messages landed (received: counted by the watcher subscribed at that broker):")
    print()
    print(fmt(head))
    print("-+-".join("-" * w for w in width))
    for r in rows:
        print(fmt(r))
    print()

    # the TLS clients: bound by the server name of their ClientHello
    if tls_clients:
        trows = []
        for cid, name in tls_clients.items():
            msgs = [p for p in sent if origin(p) == cid]
            brokers = sorted({b for p in msgs for b in where.get(p, [])},
                             key=lambda b: tuple(map(int, b.split("."))))
            got = sum(len(where.get(p, [])) for p in msgs)
            qos = sorted({sent[p][1] for p in msgs})
            want = sni_route(name, snis, tls_default)
            landed = sorted({tls_pool_of.get(b, "?") for b in brokers})
            if not brokers:
                verdict = "NOTHING ARRIVED"
            elif landed == [want]:
                verdict = "yes" if want != tls_default else "yes (no route)"
            else:
                verdict = f"NO: routed to {want}"
            if verdict.split()[0] != "yes":
                ok = False
            topics = sorted({sent[p][0] for p in msgs})
            trows.append((cid, name, ",".join(topics) or "-", ",".join(landed) or "-", ",".join(brokers) or "-",
                          "/".join(map(str, qos)), n(len(msgs)), n(got), verdict))
        thead = ("TLS client", "server name (SNI)", "topic", "pool", "broker", "qos", "sent", "received",
                 "in its name's pool")
        tw = [max(len(r[i]) for r in trows + [thead]) for i in range(len(thead))]
        tright = {5, 6, 7}

        def tfmt(r):
            return " | ".join(c.rjust(tw[i]) if i in tright else c.ljust(tw[i]) for i, c in enumerate(r)).rstrip()

        print("Where each TLS client's messages landed (port 8883: bound by the server name in its "
              "ClientHello, never decrypted):")
        print()
        print(tfmt(thead))
        print("-+-".join("-" * w for w in tw))
        for r in trows:
            print(tfmt(r))
        print()

    # what a pool's brokers got, to show the spread inside a pool
    per_broker, per_broker_tls = {}, {}
    for p, bs in where.items():
        count = per_broker_tls if origin(p) in tls_clients else per_broker
        for b in bs:
            count[b] = count.get(b, 0) + 1
    spread = []
    for pool, bs in pools.items():
        spread.append(f"{pool}: " + ", ".join(
            f"{b} {n(per_broker.get(b, 0))}" + (f"+{n(per_broker_tls[b])} TLS" if per_broker_tls.get(b) else "")
            for b in bs))
    print("messages per broker   " + ";  ".join(spread))

    # QoS 1: nothing lost; duplicates are allowed (at least once) but shown
    for q in (0, 1):
        ps = [p for p, (_, qq) in sent.items() if qq == q]
        if not ps:
            continue
        arrived = sum(1 for p in ps if p in where)
        dups = sum(len(where[p]) - 1 for p in ps if p in where and len(where[p]) > 1)
        lost = len(ps) - arrived
        line = f"QoS {q}: {n(len(ps))} sent, {n(arrived)} at the brokers"
        if q == 1:
            line += f", {n(lost)} lost"
            if lost:
                ok = False
                missing = [p for p in ps if p not in where][:5]
                line += f" (for instance {', '.join(missing)})"
        elif lost:
            line += f" ({n(lost)} lost: QoS 0 is at most once)"
        if dups:
            line += f", {n(dups)} delivered twice"
        print(line)
    if stray:
        print(f"{n(stray)} message(s) at the brokers that no demo client sent")
        ok = False
    for path in sorted(glob.glob(os.path.join(d, "sent", "*.summary"))):
        with open(path) as f:
            s = json.load(f)
        if s["done"] < s["sent"]:
            ok = False
            print(f"{s['client_id']}: {s['sent'] - s['done']} of {s['sent']} messages never acknowledged")

    # the subscriber through the VIP
    if dash:
        marker = dash["marker"]
        mine = [p for p, (t, _) in sent.items() if t == marker]
        at = where.get(mine[0], []) if mine else []
        got = read_tsv(os.path.join(d, "dashboard.tsv"))
        if len(at) != 1:
            print(f"the dashboard ({dash['filter']} through the VIP): its marker {marker} was not "
                  f"seen at exactly one broker ({', '.join(at) or 'none'})")
            ok = False
        else:
            b = at[0]
            expect = {(r[0], r[1]) for r in read_tsv(os.path.join(d, "watch", f"{b}.tsv"))
                      if len(r) >= 2 and matches(dash["filter"], r[0])}
            have = {(r[0], r[1]) for r in got if len(r) >= 2}
            missed = expect - have
            extra = have - expect
            print(f"the dashboard (client id {dash['client_id']}, {dash['filter']} through the VIP, bound "
                  f"by its SUBSCRIBE) landed on {b} ({pool_of[b]}): got {n(len(expect & have))} of the "
                  f"{n(len(expect))} {dash['filter']} messages that broker got")
            elsewhere = sum(1 for p, bs in where.items() if b not in bs and matches(dash["filter"], sent[p][0]))
            if elsewhere:
                print(f"  (the {n(elsewhere)} {dash['filter']} messages at other brokers are not "
                      f"its to see: a subscriber sees its own broker, and the brokers are not bridged)")
            if missed or extra:
                ok = False
                if missed:
                    print(f"  missed {n(len(missed))}, for instance {sorted(missed)[:3]}")
                if extra:
                    print(f"  got {n(len(extra))} its broker never got, for instance {sorted(extra)[:3]}")

    # the balancer's own counters
    print()
    if os.path.exists(os.path.join(d, "stats-mid.at")):
        with open(os.path.join(d, "stats-mid.at")) as f:
            at = f.read().strip()
        mid = last_json(os.path.join(d, "stats-mid.json"))
        if mid is None:
            try:
                with open(os.path.join(d, "logs", "stats-mid.err")) as f:
                    why = f.readline().strip()
            except FileNotFoundError:
                why = ""
            print(f"mqttlb stats at {at} s: no answer ({why or 'no JSON'})")
        elif isinstance(mid.get("pools"), list):
            conn = mid.get("connections", {})
            print(f"mqttlb stats at {at} s (admin socket): {n(conn.get('active', 0))} connections open, "
                  f"{n(conn.get('total', 0))} in all; per broker, in each of its pools:")
            hosts = {}  # broker address -> "pool :port ..." of each pool it is in
            for p in mid["pools"]:
                for b in p.get("brokers", []):
                    addr, _, port = b.get("name", "?").rpartition(":")
                    tls = p.get("name") in tls_pools
                    hosts.setdefault(addr, []).append(
                        f"{p.get('name', '?'):<10} :{port} {b.get('state', '?'):<4} {n(b.get('active', 0)):>2} open"
                        + ("" if tls else f" {n(b.get('publishes', 0)):>5} PUBLISH"))
            for addr, parts in hosts.items():
                print(f"  {addr:<11} " + "  |  ".join(parts))
        else:
            items = [f"{k} {n(v)}" for k, v in flatten(mid) if v]
            print(f"mqttlb stats at {at} s: " + (", ".join(items[:40]) or "all zero"))
    c = last_json(os.path.join(d, "logs", "mqttlb.out"))
    if c is None:
        print("mqttlb counters: none (mqttlb run --json printed no counters)")
        ok = False
    else:
        g = lambda k: find_key(c, k) or 0  # noqa: E731
        print(f"mqttlb counters: {n(g('conn_total'))} connections, bound at connect {n(g('bound_connect'))}, "
              f"at publish {n(g('bound_publish'))}, at subscribe {n(g('bound_subscribe'))}, "
              f"by timeout {n(g('bound_timeout'))}; {n(g('spliced'))} spliced; "
              f"{n(g('publishes'))} PUBLISH ({n(g('publish_bytes'))} bytes); "
              f"{n(g('misroutes'))} misroutes, {n(g('malformed'))} malformed, "
              f"{n(g('retransmits'))} retransmissions")
        if tls_clients:
            print(f"mqttlb TLS counters: {n(g('tls_hellos'))} ClientHellos read, bound by sni route "
                  f"{n(g('tls_bound_sni'))}, by alpn route {n(g('tls_bound_alpn'))}, by no route (the "
                  f"listener's pool) {n(g('tls_bound_default'))}; {n(g('tls_malformed'))} malformed")
        rest = [f"{k} {n(v)}" for k, v in flatten(c) if v]
        print("  all non-zero: " + ", ".join(rest))
    if lb_status != 0:
        print(f"mqttlb run exited with status {lb_status}")
        ok = False
    print()
    if ok:
        print("PASS: every message landed in its topic's pool" +
              (", every TLS client's in its server name's pool" if tls_clients else "") +
              "; nothing sent at QoS 1 was lost")
    else:
        print("FAIL: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "watch":
        cmd_watch(*args)
    elif cmd == "sub":
        cmd_sub(*args)
    elif cmd == "pub":
        cmd_pub(*args[:8], args[8:])
    elif cmd == "tlspub":
        cmd_pub(args[0], *args[2:9], args[9:], ca=args[1])
    elif cmd == "report":
        sys.exit(cmd_report(args[0], args[1:]))
    else:
        sys.exit(f"unknown command {cmd}")
PYEOF

# --- the plan --------------------------------------------------------------------

POOL_NAMES=(apples pears other)
declare -A POOL_BROKERS=(
  [apples]="10.20.0.11 10.20.0.12"
  [pears]="10.20.0.13 10.20.0.14"
  [other]="10.20.0.15"
)
ALL_BROKERS="10.20.0.11 10.20.0.12 10.20.0.13 10.20.0.14 10.20.0.15"

# The publishers: client id, MQTT version (4 = 3.1.1, 5), QoS, messages/s,
# topics (all of one pool: a connection binds to the pool of its first topic).
# Client ids picked so that client-id Maglev spreads each two-broker pool's
# publishers over both its brokers.
PUBLISHERS=(
  "kitchen-1 4 1 20 apples/kitchen"
  "garden-2 4 0 20 apples/garden"
  "cellar-3 5 1 10 apples/cellar/temperature apples/cellar/humidity"
  "orchard-4 4 1 20 pears/orchard"
  "press-5 5 1 10 pears/press"
  "weather-6 4 0 10 weather/berlin weather/paris"
  "sensors-7 4 1 20 sensors/hall/temperature"
)
DASH_ID=dashboard
DASH_FILTER='pears/#'
DASH_MARKER=pears/dashboard/hello

# TLS: the same brokers' :8883 listeners in pools picked by server name.
TLS_POOL_NAMES=(apples-tls pears-tls other-tls)
declare -A TLS_POOL_BROKERS=(
  [apples-tls]="10.20.0.11 10.20.0.12"
  [pears-tls]="10.20.0.13 10.20.0.14"
  [other-tls]="10.20.0.15"
)
# sni routes (NAME=POOL), and the TLS listener's pool for the other names
TLS_ROUTES=("apples.example.net=apples-tls" "*.pears.example.net=pears-tls")
TLS_DEFAULT=other-tls
# the name each TLS pool's health checks send (and verify the certificate against)
declare -A TLS_CHECK_NAME=(
  [apples-tls]=apples.example.net
  [pears-tls]=health.pears.example.net
  [other-tls]=mqtt.example.net
)
# The TLS publishers: client id, server name (the SNI, and the name the
# broker's certificate is verified against), MQTT version, QoS, messages/s,
# topics. The topics would go to `other` by topic: on :8883 only the name counts.
TLS_PUBLISHERS=(
  "door-8 apples.example.net 4 1 10 secure/door"
  "lamp-9 apples.example.net 5 1 10 secure/lamp"
  "gate-10 gate.pears.example.net 4 1 10 secure/gate"
  "shed-11 mqtt.example.net 4 0 10 secure/shed"
)
# the server certificate's names: every name above (one certificate for all brokers)
SERVER_SANS="DNS:apples.example.net,DNS:*.pears.example.net,DNS:mqtt.example.net"
PKI="$TMP/pki"

write_config() {
  local p b list r
  {
    echo "# mqttlb demo ($P): written by $SELF"
    echo "interfaces: [{name: lb-c}, {name: lb-b}]   # clients' side, brokers' side"
    echo "listeners:"
    echo "  - {address: $TOPO_VIP, port: $MQTT_PORT}"
    echo "  - {address: $TOPO_VIP, port: $TLS_PORT, protocol: tls, pool: $TLS_DEFAULT}"
    echo "source_addresses: [$TOPO_SRC]"
    echo "workers: 2"
    echo "pools:"
    for p in "${POOL_NAMES[@]}"; do
      list=""
      for b in ${POOL_BROKERS[$p]}; do list+="${list:+, }\"$b:$MQTT_PORT\""; done
      echo "  - {name: $p, brokers: [$list], balance: client-id}"
    done
    # TLS pools: the client id is encrypted, so least-connections (client-id
    # would hash the client's address); health checks over TLS, verified
    for p in "${TLS_POOL_NAMES[@]}"; do
      list=""
      for b in ${TLS_POOL_BROKERS[$p]}; do list+="${list:+, }\"$b:$TLS_PORT\""; done
      echo "  - {name: $p, brokers: [$list], balance: least-connections,"
      echo "     tls: {server_name: ${TLS_CHECK_NAME[$p]}, ca: $PKI/ca.pem}}"
    done
    echo "routes:"
    echo "  - {topic: \"apples/#\", pool: apples}"
    echo "  - {topic: \"pears/#\", pool: pears}"
    for r in "${TLS_ROUTES[@]}"; do
      echo "  - {sni: \"${r%%=*}\", pool: ${r#*=}}"
    done
    echo "default_pool: other"
    echo "health: {interval: 1s, timeout: 500ms, rise: 2, fall: 2}"
    echo "admin: {socket: $TMP/mqttlb.sock}"
  } >"$TMP/mqttlb.yaml"
}

# --- the steps -------------------------------------------------------------------

topology() {
  local env
  # set before: an interruption that lands while `up` runs is handled after
  # it returns, and then the namespaces must go (`down` of none is fine);
  # a failed `up` removes what it made itself
  TOPO_UP=1
  env=$("$TOPO" up "$P" --queues 2 --brokers 5 --clients 1 --env 2>"$TMP/logs/topo.err") || {
    TOPO_UP=0
    show_log "$TMP/logs/topo.err"
    die "could not build the topology ($TOPO up $P)"
  }
  eval "$env"
  step "namespaces $TOPO_NS_CLI (clients $TOPO_CLIENTS), $TOPO_NS_LB (mqttlb: VIP $TOPO_VIP on lb-c, $TOPO_SRC on lb-b), $TOPO_NS_BRK (brokers); veths with 2 queues"
}

# names: /etc/netns/$P-cli/hosts, which `ip netns exec` mounts over
# /etc/hosts: every TLS publisher's server name resolves to the VIP there.
names() {
  local spec id name names="" got
  for spec in "${TLS_PUBLISHERS[@]}"; do
    read -r id name _ <<<"$spec"
    [[ " $names " == *" $name "* ]] || names+="${names:+ }$name"
  done
  [ -d /etc/netns ] || NETNS_ETC_MADE=1
  HOSTS_DIR="/etc/netns/$TOPO_NS_CLI" # before it exists: cleanup removes it
  mkdir -p "$HOSTS_DIR" || die "cannot make $HOSTS_DIR"
  printf '127.0.0.1 localhost\n%s %s\n' "$TOPO_VIP" "$names" >"$HOSTS_DIR/hosts" ||
    die "cannot write $HOSTS_DIR/hosts"
  got=$(ip netns exec "$TOPO_NS_CLI" getent hosts "${names%% *}" | awk '{ print $1 }') || true
  [ "$got" = "$TOPO_VIP" ] ||
    die "${names%% *} does not resolve to $TOPO_VIP in $TOPO_NS_CLI through $HOSTS_DIR/hosts (got '$got')"
  step "$HOSTS_DIR/hosts (ip netns exec mounts it over /etc/hosts in $TOPO_NS_CLI): ${names// /, } -> $TOPO_VIP"
}

# certificates: a CA and one server certificate (P-256) for every name the
# TLS clients and the health checks use, in $PKI (make-certs.sh).
certificates() {
  if ! "$MAKE_CERTS" "$PKI" --san "$SERVER_SANS" --label demo 2>"$TMP/logs/make-certs.log"; then
    show_log "$TMP/logs/make-certs.log"
    die "making the certificates with $MAKE_CERTS failed"
  fi
  local sans=${SERVER_SANS//DNS:/}
  step "certificates made with make-certs.sh in ${PKI#"$TMP"/}/: a CA, and a server certificate it signed for ${sans//,/, }"
}

broker_listening() {
  ip netns exec "$TOPO_NS_BRK" ss -Hltn "sport = :${2:-$MQTT_PORT}" | grep -q "$1:${2:-$MQTT_PORT}"
}

brokers() {
  local b conf
  for b in $ALL_BROKERS; do
    conf="$TMP/mosquitto-$b.conf"
    cat >"$conf" <<EOF
# broker $b of the mqttlb demo
listener $MQTT_PORT $b
allow_anonymous true
user root
persistence false
set_tcp_nodelay true
max_queued_messages 0
log_dest file $TMP/logs/mosquitto-$b.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
# TLS: the same broker terminates TLS on $TLS_PORT (mqttlb passes it through)
listener $TLS_PORT $b
cafile $PKI/ca.pem
certfile $PKI/server.pem
keyfile $PKI/server.key
EOF
    bg brk "mosquitto-$b" mosquitto -c "$conf"
  done
  for b in $ALL_BROKERS; do
    wait_until 10 broker_listening "$b" || {
      show_log "$TMP/logs/mosquitto-$b.err" "$TMP/logs/mosquitto-$b.log"
      die "mosquitto on $b:$MQTT_PORT did not start listening within 10 s"
    }
    wait_until 5 broker_listening "$b" "$TLS_PORT" || {
      show_log "$TMP/logs/mosquitto-$b.err" "$TMP/logs/mosquitto-$b.log"
      die "mosquitto on $b:$TLS_PORT (TLS) did not start listening within 5 s"
    }
  done
  local p line=""
  for p in "${POOL_NAMES[@]}"; do line+="${line:+, }$p ${POOL_BROKERS[$p]// /+}"; done
  step "5 Mosquitto brokers in $TOPO_NS_BRK: $line; each also with TLS on :$TLS_PORT"
}

balancer() {
  write_config
  if ! "$MQTTLB" check -c "$TMP/mqttlb.yaml" >"$TMP/logs/check.out" 2>&1; then
    show_log "$TMP/logs/check.out"
    die "mqttlb check refused the demo's configuration $TMP/mqttlb.yaml"
  fi
  ulimit -l unlimited 2>/dev/null || true
  bg lb mqttlb "$MQTTLB" run -c "$TMP/mqttlb.yaml" --json
  LB_PID=$BG_PID
  local deadline=$((SECONDS + 30)) rc
  until grep -q "mqttlb: running" "$TMP/logs/mqttlb.err" 2>/dev/null; do
    if ! kill -0 "$LB_PID" 2>/dev/null; then
      rc=0
      wait "$LB_PID" || rc=$?
      show_log "$TMP/logs/mqttlb.err"
      die "mqttlb run exited with status $rc before it was running"
    fi
    [ "$SECONDS" -lt "$deadline" ] || { show_log "$TMP/logs/mqttlb.err"; die "mqttlb run did not say 'running' within 30 s"; }
    sleep 0.1
  done
  step "$(grep -m1 "mqttlb: running" "$TMP/logs/mqttlb.err" | sed "s|^mqttlb: running [^:]*:|mqttlb run (pid $LB_PID) in $TOPO_NS_LB:|")"
  step "routes: apples/# -> apples, pears/# -> pears, anything else -> other; a broker by Maglev on the client id"
  local r tls=""
  for r in "${TLS_ROUTES[@]}"; do tls+="${r%%=*} -> ${r#*=}, "; done
  step "TLS on :$TLS_PORT, passed through, bound at the ClientHello by server name: ${tls}any other name -> $TLS_DEFAULT"
}

WATCH_PIDS=()
watchers() {
  local b
  for b in $ALL_BROKERS; do
    bg brk "watch-$b" "$PY" "$CLIENTS" watch "$b" "$TMP/watch/$b.tsv" "$TMP/watch/$b.ready"
    WATCH_PIDS+=("$BG_PID")
  done
  for b in $ALL_BROKERS; do
    wait_until 15 test -f "$TMP/watch/$b.ready" || {
      show_log "$TMP/logs/watch-$b.err"
      die "the watcher of $b did not subscribe within 15 s"
    }
  done
  step "a watcher subscribed to '#' directly at each broker (in $TOPO_NS_BRK, not through mqttlb)"
}

DASH_PID=""
dashboard() {
  bg cli dashboard "$PY" "$CLIENTS" sub "$TOPO_VIP" "$DASH_ID" "$DASH_FILTER" "$DASH_MARKER" \
    "$TMP/dashboard.tsv" "$TMP/sent/$DASH_ID.sent" "$TMP/dashboard.ready"
  DASH_PID=$BG_PID
  wait_until 20 test -f "$TMP/dashboard.ready" || {
    show_log "$TMP/logs/dashboard.err" "$TMP/logs/mqttlb.err"
    die "the dashboard subscriber through the VIP got no SUBACK and PUBACK within 20 s"
  }
  step "the dashboard subscribed to $DASH_FILTER through the VIP, and said hello on $DASH_MARKER"
}

PUB_PIDS=()
PUB_NAMES=()
publishers() {
  local spec id ver qos rate topics desc=""
  for spec in "${PUBLISHERS[@]}"; do
    read -r id ver qos rate topics <<<"$spec"
    # shellcheck disable=SC2086 # topics: one argument each
    bg cli "pub-$id" "$PY" "$CLIENTS" pub "$TOPO_VIP" "$id" "$ver" "$qos" \
      "$rate" "$DURATION" "$TMP/sent/$id.sent" "$TMP/sent/$id.summary" $topics
    PUB_PIDS+=("$BG_PID")
    PUB_NAMES+=("$id")
    desc+="${desc:+, }$id (MQTT $([ "$ver" = 5 ] && echo 5 || echo 3.1.1), QoS $qos)"
  done
  step "${#PUBLISHERS[@]} publishers through the VIP for $DURATION s: $desc"
  local name
  desc=""
  for spec in "${TLS_PUBLISHERS[@]}"; do
    read -r id name ver qos rate topics <<<"$spec"
    # shellcheck disable=SC2086 # topics: one argument each
    bg cli "pub-$id" "$PY" "$CLIENTS" tlspub "$name" "$PKI/ca.pem" "$id" "$ver" "$qos" \
      "$rate" "$DURATION" "$TMP/sent/$id.sent" "$TMP/sent/$id.summary" $topics
    PUB_PIDS+=("$BG_PID")
    PUB_NAMES+=("$id")
    desc+="${desc:+, }$id -> $name"
  done
  step "${#TLS_PUBLISHERS[@]} TLS publishers to NAME:$TLS_PORT (SNI NAME; the broker's certificate verified for NAME): $desc"
}

# progress: one line on stderr, in place once a second on a terminal (a line
# every 5 s otherwise), until the publishers are done.
progress_line() {
  local el=$1 sent at vip
  sent=$(count_lines "$TMP"/sent/*.sent)
  at=$(count_lines "$TMP"/watch/*.tsv)
  vip=$(count_lines "$TMP/dashboard.tsv")
  [ "$el" -le "$DURATION" ] || el=$DURATION
  printf '%3d s of %d   sent %6d   at the brokers %6d   dashboard (through the VIP) %5d' \
    "$el" "$DURATION" "$sent" "$at" "$vip"
}

run_traffic() {
  local start=$SECONDS el tty=0 mid_done=0 have_stats=0 next=0 i
  [ -t 2 ] && tty=1
  if "$MQTTLB" stats --help >/dev/null 2>&1; then have_stats=1; fi
  while :; do
    el=$((SECONDS - start))
    local running=0
    for i in "${PUB_PIDS[@]}"; do kill -0 "$i" 2>/dev/null && running=1; done
    if [ "$tty" -eq 1 ]; then
      printf '\r  %s\033[K' "$(progress_line "$el")" >&2
      PROGRESS_OPEN=1
    elif [ "$el" -ge "$next" ] || [ "$running" -eq 0 ]; then
      echo "  $(progress_line "$el")" >&2
      next=$((el - el % 5 + 5))
    fi
    if [ "$have_stats" -eq 1 ] && [ "$mid_done" -eq 0 ] && [ "$el" -ge $((DURATION / 2)) ]; then
      mid_done=1
      echo "$el" >"$TMP/stats-mid.at"
      ip netns exec "$TOPO_NS_LB" timeout 5 "$MQTTLB" stats --json -s "$TMP/mqttlb.sock" \
        >"$TMP/stats-mid.json" 2>"$TMP/logs/stats-mid.err" || true
    fi
    [ "$running" -eq 1 ] || break
    if [ "$el" -gt $((DURATION + 30)) ]; then
      end_progress
      echo "$PROG: publishers still running $((el - DURATION)) s after their time: stopping them" >&2
      stop_pids 5 "${PUB_PIDS[@]}"
      break
    fi
    sleep 1
  done
  end_progress
}

wait_publishers() {
  local i rc bad=0
  for i in "${!PUB_PIDS[@]}"; do
    rc=0
    wait "${PUB_PIDS[i]}" || rc=$?
    if [ "$rc" -ne 0 ]; then
      bad=1
      echo "$PROG: publisher ${PUB_NAMES[i]} exited with status $rc" >&2
      show_log "$TMP/logs/pub-${PUB_NAMES[i]}.err"
    fi
  done
  return "$bad"
}

# settle: until the watchers and the dashboard stop receiving (at most 10 s).
settle() {
  local last=-1 now i
  for ((i = 0; i < 50; i++)); do
    now="$(count_lines "$TMP"/watch/*.tsv) $(count_lines "$TMP/dashboard.tsv")"
    if [ "$now" = "$last" ] && [ "${now%% *}" -ge "$(count_lines "$TMP"/sent/*.sent)" ]; then
      return 0
    fi
    last=$now
    sleep 0.2
  done
}

stop_balancer() {
  kill -TERM "$LB_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$LB_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$LB_PID" 2>/dev/null; then
    kill -KILL "$LB_PID" 2>/dev/null || true
    echo "$PROG: mqttlb run did not exit within 30 s of SIGTERM (killed)" >&2
  fi
  LB_RC=0
  wait "$LB_PID" || LB_RC=$?
  forget "$LB_PID"
  if [ "$LB_RC" -ne 0 ]; then show_log "$TMP/logs/mqttlb.err"; fi
}

main() {
  echo "mqttlb demo: MQTT balanced by topic, TLS by server name, through $MQTTLB on AF_XDP (namespaces $P-*, files in $TMP)"
  topology
  names
  certificates
  brokers
  balancer
  watchers
  dashboard
  publishers
  run_traffic
  local pubs_ok=0
  wait_publishers || pubs_ok=1
  forget "${PUB_PIDS[@]}"
  settle
  stop_pids 10 "$DASH_PID" "${WATCH_PIDS[@]}"
  forget "$DASH_PID" "${WATCH_PIDS[@]}"
  sleep 2.5 # mqttlb frees a connection 2 s after both FINs: let the last ones go
  stop_balancer
  echo
  local rc=0 tls_args=() p r spec id name
  for p in "${TLS_POOL_NAMES[@]}"; do tls_args+=(--tls-pool "$p=${TLS_POOL_BROKERS[$p]// /,}"); done
  for r in "${TLS_ROUTES[@]}"; do tls_args+=(--sni "$r"); done
  for spec in "${TLS_PUBLISHERS[@]}"; do
    read -r id name _ <<<"$spec"
    tls_args+=(--tls-client "$id=$name")
  done
  "$PY" "$CLIENTS" report "$TMP" \
    --pool "apples=${POOL_BROKERS[apples]// /,}" --pool "pears=${POOL_BROKERS[pears]// /,}" \
    --pool "other=${POOL_BROKERS[other]}" --route "apples/#=apples" --route "pears/#=pears" \
    --default other "${tls_args[@]}" --tls-default "$TLS_DEFAULT" \
    --dashboard "$DASH_ID,$DASH_FILTER,$DASH_MARKER" --lb-status "$LB_RC" || rc=$?
  if [ "$pubs_ok" -ne 0 ]; then
    echo "(and a publisher failed: see above)"
    rc=1
  fi
  return "$rc"
}

main
