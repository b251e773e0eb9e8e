#!/usr/bin/python3
"""MQTT clients and checkers of mqttlb's end-to-end tests (tests/e2e).

Run with /usr/bin/python3 (Debian's python3-paho-mqtt, 1.6 API). Subcommands:

  record       asyncio subscriber on '#' at every broker: what reached where
  pub          Paho publisher (QoS 0/1/2, MQTT 3.1.1 or 5, bind address,
               how the session ends: DISCONNECT, FIN or RST)
  sub          Paho subscriber that marks the broker it landed on
  trickle      Paho publisher keeping one connection, a message per interval
  load         asyncio raw-MQTT load: many clients, QoS 1, reconnects
  probe        one CONNECT/CONNACK, to tell when a listener serves MQTT
  check        every expected message arrived exactly once in its pool
  check-sub    a subscriber got what reached its broker
  check-scale  the load tool's results against the recorder

Files are tab-separated, one line per message:
  recorded   broker  topic  payload  receive-time
  sent       topic   payload
  received   topic   payload  receive-time
Tabs, newlines and backslashes inside a field are escaped (\\t \\n \\\\).
"""

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import sys
import time
from collections import Counter, defaultdict

# --- small helpers ------------------------------------------------------------


def esc(s):
    """Escapes a field of a tab-separated line."""
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def text(b):
    """Bytes to text, never failing (undecodable bytes kept visible)."""
    return b.decode("utf-8", "backslashreplace")


def log(*args):
    """A diagnostic line on stderr."""
    print(f"mqtt_clients {time.strftime('%H:%M:%S')}:", *args, file=sys.stderr, flush=True)


def split_addr(s, default_port=1883):
    """'host:port' or 'host' to (host, port)."""
    if s.count(":") == 1:
        host, port = s.split(":")
        return host, int(port)
    return s, default_port


def read_tsv(path, fields):
    """The lines of a tab-separated file as tuples of `fields` strings."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= fields:
                rows.append(tuple(parts[:fields]))
    return rows


# --- the MQTT 3.1.1 wire format (for the asyncio tools) ----------------------

# The packets themselves: tests/e2e/mqtt_wire.py, shared with hostile.py and
# tls_clients.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqtt_wire import (CONNACK, DISCONNECT, PUBACK, PUBLISH, SUBACK,  # noqa: E402
                       connect_packet, packet, publish_packet, subscribe_packet)


async def read_packet(reader):
    """One control packet: (type, flags, body). Raises IncompleteReadError at EOF."""
    first = (await reader.readexactly(1))[0]
    n, shift = 0, 0
    for _ in range(4):
        b = (await reader.readexactly(1))[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    else:
        raise ValueError("malformed remaining length")
    body = await reader.readexactly(n) if n else b""
    return first >> 4, first & 0x0F, body


def parse_publish(flags, body):
    """(topic, qos, pid, payload) of a PUBLISH body."""
    (tlen,) = struct.unpack_from("!H", body)
    topic = body[2 : 2 + tlen]
    qos = (flags >> 1) & 3
    off = 2 + tlen
    pid = 0
    if qos:
        (pid,) = struct.unpack_from("!H", body, off)
        off += 2
    return text(topic), qos, pid, body[off:]


async def mqtt_connect(host, port, client_id, keepalive=60, local=None, timeout=5.0):
    """TCP connect (optionally from `local`), CONNECT, CONNACK accepted."""

    async def go():
        reader, writer = await asyncio.open_connection(host, port, local_addr=(local, 0) if local else None)
        try:
            writer.write(connect_packet(client_id, keepalive))
            ptype, _, body = await read_packet(reader)
            if ptype != CONNACK or len(body) < 2:
                raise ConnectionError(f"expected CONNACK, got packet type {ptype}")
            if body[1] != 0:
                raise ConnectionError(f"CONNACK refused, return code {body[1]}")
        except BaseException:
            writer.close()
            raise
        return reader, writer

    return await asyncio.wait_for(go(), timeout)


def close_writer(writer):
    """Closes a stream, ignoring errors."""
    try:
        writer.close()
    except Exception:
        pass


# --- record ---------------------------------------------------------------------


class Recorder:
    """Subscribes to '#' at QoS 0 on every broker and writes one line per message."""

    def __init__(self, args):
        self.brokers = [split_addr(b) for b in args.broker]
        self.out = open(args.out, "a", encoding="utf-8")
        self.ready_path = args.ready
        self.max = args.max_messages
        self.count = 0
        self.dropped = 0
        self.subscribed = set()
        self.per_broker = Counter()

    async def broker(self, host, port):
        """Stays subscribed to one broker, reconnecting every second when it goes away."""
        name = f"{host}:{port}"
        lost = False
        while True:
            try:
                reader, writer = await mqtt_connect(host, port, f"rec-{host}-{os.getpid()}", keepalive=0)
            except (OSError, asyncio.TimeoutError, ConnectionError) as e:
                if not lost:
                    log(f"record: {name}: cannot connect ({e}); retrying every second")
                    lost = True
                await asyncio.sleep(1)
                continue
            if lost:
                log(f"record: {name}: connected again")
            lost = False
            try:
                writer.write(subscribe_packet(1, "#", 0))
                while True:
                    ptype, flags, body = await read_packet(reader)
                    if ptype == SUBACK:
                        if body[2:3] == b"\x80":
                            raise ConnectionError("SUBSCRIBE '#' refused")
                        self.subscribed.add(name)
                        if len(self.subscribed) == len(self.brokers) and self.ready_path:
                            with open(self.ready_path, "w") as f:
                                f.write("ready\n")
                            self.ready_path = None
                    elif ptype == PUBLISH:
                        self.on_message(name, *parse_publish(flags, body))
            except (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
                log(f"record: {name}: connection lost ({type(e).__name__}: {e}); retrying every second")
                lost = True
                close_writer(writer)
                await asyncio.sleep(1)

    def on_message(self, broker, topic, qos, pid, payload):
        """Writes one message's line (up to --max-messages)."""
        self.per_broker[broker] += 1
        if self.count >= self.max:
            self.dropped += 1
            return
        self.count += 1
        self.out.write(f"{broker}\t{esc(topic)}\t{esc(text(payload))}\t{time.time():.6f}\n")

    async def flusher(self):
        """Flushes the output file every 50 ms (the test script polls it)."""
        while True:
            await asyncio.sleep(0.05)
            self.out.flush()

    async def run(self):
        """Until SIGTERM/SIGINT."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(self.broker(h, p)) for h, p in self.brokers]
        tasks.append(asyncio.create_task(self.flusher()))
        await stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.out.close()
        per = ", ".join(f"{b} {n}" for b, n in sorted(self.per_broker.items()))
        log(f"record: {self.count} messages recorded ({per}); {self.dropped} beyond --max-messages")


def cmd_record(args):
    """record: what reaches each broker, one line per message."""
    asyncio.run(Recorder(args).run())
    return 0


# --- pub (Paho) -----------------------------------------------------------------


def paho():
    """The paho.mqtt.client module (1.6 API expected, 2.x tolerated)."""
    import paho.mqtt.client as mqtt

    return mqtt


def paho_client(mqtt, client_id, protocol):
    """A Paho client for MQTT 3.1.1 ('311') or 5 ('5')."""
    kwargs = {}
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho 2.x
        kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
    if protocol == "5":
        return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5, **kwargs)
    return mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311, **kwargs)


def drive(client, until, deadline, what):
    """Runs Paho's network loop in this thread until until() or the deadline."""
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        rc = client.loop(timeout=0.05)
        if rc != 0:
            raise ConnectionError(f"connection lost while waiting for {what} (paho rc {rc})")


def paho_connect(mqtt, client, args, deadline):
    """Connects (from --bind if given) and waits for a successful CONNACK."""
    state = {}

    def on_connect(c, userdata, flags, rc, *props):
        state["rc"] = getattr(rc, "value", rc)

    client.on_connect = on_connect
    kwargs = {"bind_address": args.bind or ""}
    if args.protocol == "5":
        kwargs["clean_start"] = True
    client.connect(args.host, args.port, keepalive=60, **kwargs)
    drive(client, lambda: "rc" in state, deadline, "CONNACK")
    if state["rc"] != 0:
        raise ConnectionError(f"CONNACK refused: {state['rc']}")


def end_session(client, how):
    """Ends the connection: 'disconnect' (DISCONNECT, FIN), 'close' (FIN, no
    DISCONNECT) or 'reset' (RST, no DISCONNECT)."""
    if how == "disconnect":
        client.disconnect()
        client.loop(timeout=0.1)
        return
    sock = client.socket()
    if how == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def cmd_pub(args):
    """pub: one Paho client per --clients, each publishing --count messages on
    --topic with payload CLIENT_ID/SEQ; writes a sent line per message once
    published (QoS 0: written to the socket; QoS 1/2: acknowledged)."""
    mqtt = paho()
    deadline = time.monotonic() + args.timeout
    ids = [args.client_id % i if "%" in args.client_id else args.client_id for i in range(1, args.clients + 1)]
    with open(args.sent, "a", encoding="utf-8") as sent:
        for cid in ids:
            client = paho_client(mqtt, cid, args.protocol)
            client.max_inflight_messages_set(args.inflight)
            try:
                paho_connect(mqtt, client, args, deadline)
                local = client.socket().getsockname()
                log(f"pub {cid}: connected from {local[0]}:{local[1]} to {args.host}:{args.port}")
                infos = []
                for seq in range(args.seq_start, args.seq_start + args.count):
                    payload = f"{cid}/{seq}"
                    infos.append((payload, client.publish(args.topic, payload, qos=args.qos)))
                drive(client, lambda: all(i.is_published() for _, i in infos), deadline,
                      f"{len(infos)} QoS {args.qos} publications")
                for payload, _ in infos:
                    sent.write(f"{esc(args.topic)}\t{esc(payload)}\n")
                sent.flush()
                end_session(client, args.end)
            except (OSError, TimeoutError, ConnectionError) as e:
                print(f"pub {cid} -> {args.host}:{args.port}: {e}", file=sys.stderr)
                return 1
    return 0


# --- sub (Paho) ------------------------------------------------------------------


def cmd_sub(args):
    """sub: subscribes to --topic, then publishes one QoS 1 marker (--marker
    topic, payload = client id) so that the recorder shows which broker this
    connection landed on; writes the ready file once the marker is acked and
    one received line per message until SIGTERM."""
    mqtt = paho()
    deadline = time.monotonic() + args.timeout
    client = paho_client(mqtt, args.client_id, args.protocol)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    out = open(args.out, "a", encoding="utf-8")
    subacked = []

    def on_message(c, userdata, msg):
        out.write(f"{esc(msg.topic)}\t{esc(text(msg.payload))}\t{time.time():.6f}\n")
        out.flush()

    client.on_message = on_message
    client.on_subscribe = lambda *a: subacked.append(1)
    try:
        paho_connect(mqtt, client, args, deadline)
        client.subscribe(args.topic, qos=args.qos)
        drive(client, lambda: subacked, deadline, "SUBACK")
        if args.marker:
            info = client.publish(args.marker, args.client_id, qos=1)
            drive(client, info.is_published, deadline, "the marker's PUBACK")
        with open(args.ready, "w") as f:
            f.write("ready\n")
        drive(client, lambda: stop, time.monotonic() + args.timeout, "SIGTERM")
        client.disconnect()
        client.loop(timeout=0.1)
    except (OSError, TimeoutError, ConnectionError) as e:
        print(f"sub {args.client_id} -> {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    finally:
        out.close()
    return 0


# --- trickle (Paho) --------------------------------------------------------------


def cmd_trickle(args):
    """trickle: one Paho client that keeps its one connection and publishes a
    message on --topic every --interval seconds (payload CLIENT_ID/SEQ), each
    acknowledged (QoS 1/2) before the next; appends a sent line per message
    once acknowledged, with a third field, the time of the acknowledgement;
    writes --ready after the first. Ends with DISCONNECT on SIGTERM/SIGINT or
    after --count messages (0: no limit), exit 0; exit 1 when the connection
    breaks, an acknowledgement takes longer than --ack-timeout or --timeout
    passes (the connection staying up is the point)."""
    mqtt = paho()
    deadline = time.monotonic() + args.timeout
    client = paho_client(mqtt, args.client_id, args.protocol)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        paho_connect(mqtt, client, args, deadline)
        local = client.socket().getsockname()
        log(f"trickle {args.client_id}: connected from {local[0]}:{local[1]} to {args.host}:{args.port}")
        seq = args.seq_start
        with open(args.sent, "a", encoding="utf-8") as sent:
            while not stop and (args.count == 0 or seq < args.seq_start + args.count):
                payload = f"{args.client_id}/{seq}"
                info = client.publish(args.topic, payload, qos=args.qos)
                drive(client, info.is_published, time.monotonic() + args.ack_timeout,
                      f"the acknowledgement of {payload}")
                sent.write(f"{esc(args.topic)}\t{esc(payload)}\t{time.time():.6f}\n")
                sent.flush()
                if seq == args.seq_start and args.ready:
                    with open(args.ready, "w") as f:
                        f.write("ready\n")
                seq += 1
                until = time.monotonic() + args.interval
                while not stop and time.monotonic() < until:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"--timeout {args.timeout} s passed")
                    rc = client.loop(timeout=0.05)
                    if rc != 0:
                        raise ConnectionError(f"connection lost between messages (paho rc {rc})")
        client.disconnect()
        client.loop(timeout=0.1)
        log(f"trickle {args.client_id}: {seq - args.seq_start} messages acknowledged on one connection")
    except (OSError, TimeoutError, ConnectionError) as e:
        print(f"trickle {args.client_id} -> {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    return 0


# --- load (asyncio, raw MQTT 3.1.1) ------------------------------------------


class LoadClient:
    """One load client: keeps a connection, publishes QoS 1 every interval,
    resends an unacknowledged message (DUP) after reconnecting."""

    def __init__(self, tool, index):
        self.tool = tool
        self.index = index
        self.client_id = f"load-{index}"
        self.pool = tool.pool_names[index % len(tool.pool_names)]
        self.hosts = tool.pools[self.pool]
        self.topic = f"{self.pool}/load/{index}"
        self.local = tool.binds[index % len(tool.binds)] if tool.binds else None
        self.acked = 0
        self.reconnects = 0
        self.connect_failures = 0
        self.host = None  # where the last message was acknowledged
        self.hosts_used = []

    async def connect(self):
        """Connects to the first host of the pool that accepts, with backoff."""
        delay = 0.1
        while True:
            for host, port in self.hosts:
                if time.monotonic() > self.tool.deadline:
                    raise TimeoutError("deadline")
                try:
                    conn = await mqtt_connect(host, port, self.client_id, 60, self.local, self.tool.args.connect_timeout)
                    if not self.hosts_used or self.hosts_used[-1] != host:
                        self.hosts_used.append(host)
                    return host, conn
                except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                    self.connect_failures += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

    async def run(self):
        """Publishes --messages messages, then waits for every client and disconnects."""
        t = self.tool
        await asyncio.sleep(t.args.ramp * self.index / t.args.clients)
        dup = False
        writer = None
        try:
            while self.acked < t.args.messages:
                host, (reader, writer) = await self.connect()
                t.on_connected(self)
                try:
                    start = time.monotonic()
                    while self.acked < t.args.messages:
                        seq = self.acked + 1
                        pid = (seq - 1) % 65535 + 1
                        payload = f"{self.client_id}/{seq}".encode()
                        writer.write(publish_packet(self.topic, payload, 1, pid, dup))
                        await writer.drain()
                        dup = True
                        await asyncio.wait_for(self.wait_puback(reader, pid), t.args.ack_timeout)
                        dup = False
                        self.acked = seq
                        self.host = host
                        if self.acked < t.args.messages:
                            # one message per interval; catches up after a reconnect
                            await asyncio.sleep(max(0.0, start + self.acked * t.args.interval - time.monotonic()))
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, ValueError):
                    self.reconnects += 1
                    close_writer(writer)
                    writer = None
                    continue
            t.on_done(self)
            await t.all_done.wait()
            writer.write(packet(DISCONNECT << 4, b""))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except TimeoutError:
            log(f"load: {self.client_id}: deadline reached with {self.acked} messages acknowledged")
        finally:
            if writer:
                close_writer(writer)

    async def wait_puback(self, reader, pid):
        """Reads until the PUBACK of pid (an EOF raises)."""
        while True:
            ptype, _, body = await read_packet(reader)
            if ptype == PUBACK and struct.unpack("!H", body[:2])[0] == pid:
                return


class LoadTool:
    """Runs the load clients and writes the status and summary files."""

    def __init__(self, args):
        self.args = args
        self.pools = {}
        self.pool_names = []
        for spec in args.pool:
            name, hosts = spec.split("=", 1)
            self.pool_names.append(name)
            self.pools[name] = [split_addr(h) for h in hosts.split(",")]
        self.binds = [b for spec in args.bind for b in spec.split(",") if b]
        self.connected_once = set()
        self.done = 0
        self.deadline = time.monotonic() + args.deadline
        self.all_done = asyncio.Event()
        self.clients = [LoadClient(self, i) for i in range(args.clients)]

    def status(self, line):
        """Appends one line to the status file (what the test script waits for)."""
        with open(self.args.status, "a") as f:
            f.write(f"{line} {time.time():.6f}\n")

    def on_connected(self, c):
        if c.index not in self.connected_once:
            self.connected_once.add(c.index)
            if len(self.connected_once) == self.args.clients:
                self.status(f"all-connected {self.args.clients}")
                log(f"load: all {self.args.clients} clients connected")

    def on_done(self, c):
        self.done += 1
        if self.done == self.args.clients:
            self.status("all-done")
            self.all_done.set()

    async def run(self):
        """All clients, bounded by --deadline; returns the summary."""
        started = time.monotonic()
        tasks = [asyncio.create_task(c.run()) for c in self.clients]
        _, pending = await asyncio.wait(tasks, timeout=self.args.deadline + 5)
        for t in pending:
            t.cancel()
        by_pool = defaultdict(int)
        for c in self.clients:
            by_pool[c.pool] += c.reconnects
        summary = {
            "clients": self.args.clients,
            "messages_per_client": self.args.messages,
            "connected": len(self.connected_once),
            "done": sum(1 for c in self.clients if c.acked == self.args.messages),
            "acked": sum(c.acked for c in self.clients),
            "reconnects": sum(c.reconnects for c in self.clients),
            "reconnects_by_pool": dict(by_pool),
            "reconnects_by_client": {c.client_id: c.reconnects for c in self.clients if c.reconnects},
            "connect_failures": sum(c.connect_failures for c in self.clients),
            "hosts_by_client": {c.client_id: c.hosts_used for c in self.clients},
            "seconds": round(time.monotonic() - started, 1),
        }
        return summary


def cmd_load(args):
    """load: --clients raw MQTT 3.1.1 clients (ids load-N, topic POOL/load/N,
    pools round-robin, source addresses round-robin over --bind), each
    keeping one connection and publishing --messages QoS 1 messages, one per
    --interval; a broken connection is reopened (with backoff, over the
    pool's hosts in order) and the unacknowledged message resent with DUP.
    Writes 'all-connected N' and 'all-done' to --status, the summary (JSON)
    to --summary; exit 0 when every client had every message acknowledged."""

    async def main():
        tool = LoadTool(args)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(tool, "deadline", 0))
        return await tool.run()

    summary = asyncio.run(main())
    with open(args.summary, "w") as f:
        json.dump(summary, f)
    short = {k: v for k, v in summary.items() if k not in ("reconnects_by_client", "hosts_by_client")}
    log("load: " + json.dumps(short))
    return 0 if summary["done"] == args.clients else 1


# --- probe ------------------------------------------------------------------------


def cmd_probe(args):
    """probe: one CONNECT, a CONNACK with return code 0, DISCONNECT; exit 0 if so."""

    async def main():
        reader, writer = await mqtt_connect(args.host, args.port, f"probe-{os.getpid()}", 60, None, args.timeout)
        writer.write(packet(DISCONNECT << 4, b""))
        await writer.drain()
        close_writer(writer)

    try:
        asyncio.run(main())
    except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as e:
        print(f"probe {args.host}:{args.port}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


# --- checks ------------------------------------------------------------------------


def topic_matches(filt, topic):
    """MQTT topic-filter matching ('+' one level, '#' the rest)."""
    f, t = filt.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)


class Plan:
    """Pools, routes and default pool, as the tests configure mqttlb."""

    def __init__(self, args):
        self.pools = {}
        for spec in args.pool:
            name, brokers = spec.split("=", 1)
            self.pools[name] = set(brokers.split(","))
        self.routes = [r.rsplit("=", 1) for r in args.route]
        self.default = args.default

    def pool_of(self, topic):
        """The pool the first (most specific: the tests' routes never tie) matching route names."""
        for filt, pool in self.routes:
            if topic_matches(filt, topic):
                return pool
        return self.default


def plan_args(p):
    """The --pool/--route/--default options of the checkers."""
    p.add_argument("--pool", action="append", default=[], help="NAME=HOST:PORT,... (repeatable)")
    p.add_argument("--route", action="append", default=[], help="FILTER=POOL (repeatable)")
    p.add_argument("--default", required=True, help="the default pool")


def sample(items, n=3):
    """A few items, for a failure line."""
    items = sorted(items)
    return ", ".join(items[:n]) + (" ..." if len(items) > n else "")


def cmd_check(args):
    """check: for each --expect NAME=FILE:COUNT, FILE (sent lines) has COUNT
    lines and each of its messages was recorded exactly once, at a broker of
    its topic's pool; --same-broker NAME also wants all of NAME's messages at
    one broker; nothing was recorded that no group expected (except topics
    under --ignore prefixes). Prints ok/FAIL lines; exit 1 on any FAIL."""
    plan = Plan(args)
    recorded = read_tsv(args.recorded, 3)
    at = defaultdict(list)  # (topic, payload) -> [broker, ...]
    for broker, topic, payload in recorded:
        at[(topic, payload)].append(broker)
    expected_all = set()
    bad = 0
    for spec in args.expect:
        name, rest = spec.split("=", 1)
        path, count = rest.rsplit(":", 1)
        sent = read_tsv(path, 2)
        expected_all.update(sent)
        problems = []
        if len(sent) != int(count):
            problems.append(f"{len(sent)} of {count} messages published")
        if len(set(sent)) != len(sent):
            problems.append("the publisher sent the same payload twice")
        missing = [p for t, p in sent if not at[(t, p)]]
        dups = [f"{p} x{len(at[(t, p)])}" for t, p in sent if len(at[(t, p)]) > 1]
        wrong = [f"{p}@{b}" for t, p in sent for b in at[(t, p)] if b not in plan.pools[plan.pool_of(t)]]
        for what, items in (("lost", missing), ("duplicated", dups), ("at a broker outside its pool", wrong)):
            if items:
                problems.append(f"{len(items)} {what} ({sample(items)})")
        brokers = Counter(b for t, p in sent for b in at[(t, p)])
        if name in args.same_broker and len(brokers) > 1:
            problems.append(f"spread over brokers {dict(brokers)}, expected one")
        pools = sorted({plan.pool_of(t) for t, _ in sent})
        where = ", ".join(f"{b} {n}" for b, n in sorted(brokers.items()))
        if problems:
            bad += 1
            print(f"FAIL - {name}: " + "; ".join(problems) + f" [at: {where}]")
        else:
            print(f"ok   - {name}: {len(sent)} messages, each exactly once in pool {'/'.join(pools)} [{where}]")
    ignored = tuple(args.ignore)
    unexpected = [f"{t}:{p}@{b}" for b, t, p in recorded if (t, p) not in expected_all and not t.startswith(ignored)]
    if unexpected:
        bad += 1
        print(f"FAIL - {len(unexpected)} recorded messages no publisher sent ({sample(unexpected)})")
    else:
        print(f"ok   - no other message reached any broker ({len(recorded)} recorded)")
    if args.spread:
        for pool in args.spread:
            got = Counter(b for b, t, p in recorded if plan.pool_of(t) == pool and not t.startswith(ignored))
            line = f"pool {pool}'s publishers are spread over all its brokers ({dict(got)})"
            if set(got) == plan.pools[pool]:
                print(f"ok   - {line}")
            else:
                bad += 1
                print(f"FAIL - {line}")
    return 1 if bad else 0


def cmd_check_sub(args):
    """check-sub: the subscriber's --received messages on --filter equal, as a
    multiset, the messages on --filter recorded at the broker where its
    --marker topic was recorded, and include some besides its own marker."""
    recorded = read_tsv(args.recorded, 3)
    brokers = {b for b, t, p in recorded if t == args.marker}
    if len(brokers) != 1:
        print(f"FAIL - the subscriber's marker {args.marker} was recorded at {sorted(brokers) or 'no broker'}")
        return 1
    (broker,) = brokers
    want = Counter((t, p) for b, t, p in recorded if b == broker and topic_matches(args.filter, t))
    got = Counter(read_tsv(args.received, 2))
    others = sum(n for (t, _), n in want.items() if t != args.marker)
    problems = []
    if want - got:
        problems.append(f"missed {sum((want - got).values())} ({sample(f'{t}:{p}' for t, p in want - got)})")
    if got - want:
        problems.append(f"{sum((got - want).values())} extra or duplicated ({sample(f'{t}:{p}' for t, p in got - want)})")
    if others == 0:
        problems.append(f"no publisher's message reached its broker {broker} (nothing to compare)")
    line = f"a subscriber on {args.filter} (landed on {broker}) got the {others} messages its broker got, each once"
    print(("FAIL - " + line + ": " + "; ".join(problems)) if problems else ("ok   - " + line))
    return 1 if problems else 0


def cmd_check_scale(args):
    """check-scale: the load tool's summary and the recorder agree: every
    client's every message reached a broker of its pool; duplicates only
    from reconnects; the apples clients of the killed broker moved to the
    survivor and their later messages arrived there only; clients elsewhere
    kept their connections."""
    plan = Plan(args)
    s = json.load(open(args.summary))
    n, m = s["clients"], s["messages_per_client"]
    bad = []

    def report(ok, line):
        print(("ok   - " if ok else "FAIL - ") + line)
        if not ok:
            bad.append(line)

    report(s["done"] == n and s["acked"] == n * m,
           f"{s['done']}/{n} clients had all {m} QoS 1 messages acknowledged "
           f"({s['acked']}/{n * m}; {s['reconnects']} reconnects, {s['connect_failures']} failed connects, {s['seconds']} s)")
    rec = read_tsv(args.recorded, 4)
    seen = defaultdict(list)  # (client, seq) -> [(broker, time)]
    wrong = []
    for broker, topic, payload, t in rec:
        cid, _, seq = payload.rpartition("/")
        if not cid.startswith("load-"):
            continue
        seen[(cid, int(seq))].append((broker, float(t)))
        if broker not in plan.pools[plan.pool_of(topic)]:
            wrong.append(f"{payload}@{broker}")
    want = {(f"load-{i}", q) for i in range(n) for q in range(1, m + 1)}
    missing = [f"{c}/{q}" for c, q in want if not seen[(c, q)]]
    dups = sum(len(v) - 1 for v in seen.values() if len(v) > 1)
    report(not missing, f"every message reached a broker ({len(want) - len(missing)}/{len(want)}"
           + (f"; lost: {sample(missing)}" if missing else "") + ")")
    report(not wrong, "each at a broker of its topic's pool" + (f" ({len(wrong)} not: {sample(wrong)})" if wrong else ""))
    report(dups <= s["reconnects"], f"{dups} duplicates (QoS 1 resends after reconnects; at most {s['reconnects']})")

    killed, survivor, kill_t, pool = args.killed, args.survivor, args.kill_time, args.killed_pool
    k = len(args.pools_order)
    pool_clients = [f"load-{i}" for i in range(n) if args.pools_order[i % k] == pool]
    moved, stayed, bad_moved, late_at_killed = [], [], [], []
    after = Counter()  # where the pool's messages recorded after the kill (+grace) arrived
    for cid in pool_clients:
        where = {q: seen[(cid, q)] for q in range(1, m + 1)}
        at_killed = {q for q, v in where.items() if any(b == killed for b, _ in v)}
        late_at_killed += [f"{cid}/{q}" for q, v in where.items() for b, t in v if b == killed and t > kill_t]
        after.update(b for v in where.values() for b, t in v if t > kill_t + args.grace)
        if at_killed:
            moved.append(cid)
            rest = [v for q, v in where.items() if q not in at_killed]
            if not rest or any(not v or any(b != survivor for b, _ in v) for v in rest):
                bad_moved.append(cid)
        else:
            stayed.append(cid)
    report(not late_at_killed, f"nothing reached {killed} after its kill"
           + (f" ({sample(late_at_killed)})" if late_at_killed else ""))
    report(bool(moved), f"{len(moved)} {pool} clients were on {killed} when it was killed")
    report(not bad_moved, f"each of them reconnected and its later messages arrived at {survivor} only"
           + (f" ({len(bad_moved)} did not: {sample(bad_moved)})" if bad_moved else ""))
    report(bool(after) and set(after) <= {survivor},
           f"{pool} messages recorded after the kill (+{args.grace} s) arrived only at {survivor} ({dict(after)})")
    rbc = s["reconnects_by_client"]
    kept = [c for c in rbc if c not in moved]
    report(not kept, f"the {n - len(moved)} clients not on {killed} kept their connections"
           + (f" ({len(kept)} reconnected: {sample(kept)})" if kept else ""))
    print(f"# scale: {n} clients, {len(moved)} moved from {killed} to {survivor}, {len(stayed)} {pool} clients stayed;"
          f" reconnects by pool {s['reconnects_by_pool']}")
    return 1 if bad else 0


# --- arguments ------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("record", help=cmd_record.__doc__)
    p.add_argument("--broker", action="append", required=True, help="HOST:PORT (repeatable)")
    p.add_argument("--out", required=True)
    p.add_argument("--ready", help="file written once subscribed at every broker")
    p.add_argument("--max-messages", type=int, default=200000, help="lines written at most (counted beyond)")
    p.set_defaults(func=cmd_record)

    def client_args(p):
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, default=1883)
        p.add_argument("--bind", help="local address to connect from")
        p.add_argument("--client-id", required=True)
        p.add_argument("--protocol", choices=("311", "5"), default="311")
        p.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
        p.add_argument("--topic", required=True)
        p.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole run")

    p = sub.add_parser("pub", help=cmd_pub.__doc__)
    client_args(p)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--seq-start", type=int, default=1)
    p.add_argument("--clients", type=int, default=1, help="clients one after the other (--client-id with %%d)")
    p.add_argument("--inflight", type=int, default=20)
    p.add_argument("--end", choices=("disconnect", "close", "reset"), default="disconnect")
    p.add_argument("--sent", required=True)
    p.set_defaults(func=cmd_pub)

    p = sub.add_parser("sub", help=cmd_sub.__doc__)
    client_args(p)
    p.add_argument("--marker", help="topic of the marker published after SUBACK")
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True)
    p.set_defaults(func=cmd_sub)

    p = sub.add_parser("trickle", help=cmd_trickle.__doc__)
    client_args(p)
    p.add_argument("--interval", type=float, default=0.2, help="seconds between messages")
    p.add_argument("--count", type=int, default=0, help="messages, then DISCONNECT (0: until SIGTERM)")
    p.add_argument("--seq-start", type=int, default=1)
    p.add_argument("--ack-timeout", type=float, default=5.0)
    p.add_argument("--sent", required=True)
    p.add_argument("--ready", help="file written once the first message is acknowledged")
    p.set_defaults(func=cmd_trickle)

    p = sub.add_parser("load", help=cmd_load.__doc__)
    p.add_argument("--pool", action="append", required=True, help="NAME=HOST[:PORT],... (failover order)")
    p.add_argument("--bind", action="append", default=[], help="source addresses (comma-separated, repeatable)")
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--messages", type=int, default=30)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--ramp", type=float, default=3.0, help="seconds over which the clients start")
    p.add_argument("--connect-timeout", type=float, default=5.0)
    p.add_argument("--ack-timeout", type=float, default=5.0)
    p.add_argument("--deadline", type=float, default=120.0)
    p.add_argument("--status", required=True)
    p.add_argument("--summary", required=True)
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("probe", help=cmd_probe.__doc__)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--timeout", type=float, default=2.0)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("check", help=cmd_check.__doc__)
    plan_args(p)
    p.add_argument("--recorded", required=True)
    p.add_argument("--expect", action="append", default=[], help="NAME=SENT_FILE:COUNT (repeatable)")
    p.add_argument("--same-broker", action="append", default=[], help="group NAME all at one broker")
    p.add_argument("--ignore", action="append", default=[], help="topic prefix not checked")
    p.add_argument("--spread", action="append", default=[], help="POOL whose every broker must have messages")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("check-sub", help=cmd_check_sub.__doc__)
    p.add_argument("--recorded", required=True)
    p.add_argument("--received", required=True)
    p.add_argument("--filter", required=True)
    p.add_argument("--marker", required=True)
    p.set_defaults(func=cmd_check_sub)

    p = sub.add_parser("check-scale", help=cmd_check_scale.__doc__)
    plan_args(p)
    p.add_argument("--recorded", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--pools-order", nargs="+", required=True, help="the load tool's pool order")
    p.add_argument("--killed", required=True, help="HOST:PORT of the killed broker")
    p.add_argument("--killed-pool", required=True)
    p.add_argument("--survivor", required=True, help="HOST:PORT of the pool's other broker")
    p.add_argument("--kill-time", type=float, required=True, help="epoch seconds")
    p.add_argument("--grace", type=float, default=0.5, help="seconds after the kill still in flight")
    p.set_defaults(func=cmd_check_scale)

    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
