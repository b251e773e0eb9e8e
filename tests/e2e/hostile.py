#!/usr/bin/python3
"""Hostile MQTT clients, a legitimate one beside them, and a memory sampler:
the tools of tests/e2e/test_hostile.sh and bench/scenarios/hostile.sh.

Run with /usr/bin/python3 (asyncio and plain sockets, nothing else). Every
subcommand is bounded: in connections (--count) and in time (--duration; a
SIGALRM 15 s after it ends the process whatever it is doing). SIGTERM or
SIGINT stops an attack early; it still writes its summary.

Attacks (the client side of docs/config.md "Limits and protection"):

  bigconnect  --count connections, each sending a CONNECT that announces a
              --cid-len (60,000) byte client id, then all of it but the last
              --short (10) bytes, then nothing: it never finishes.
  malformed   --count connections, half sending a CONNECT whose client id
              runs past the packet's remaining length (length_beyond_packet),
              half one announcing more than the balancer's buffer
              (packet_too_large, at its fixed header); then they never read,
              never close (no FIN) until the end.
  slowloris   --count connections sending a CONNECT one byte every --every
              (1 s) seconds.
  noread      --count subscribers (CONNECT, SUBSCRIBE --topic, their CONNACK
              and SUBACK read) with SO_RCVBUF --rcvbuf (tiny) that then never
              read, and one publisher through the same address pumping
              --pump messages of --size bytes at --rate per second on the
              topic.
  edge        --count connections abandoned around --bind-timeout after they
              were established: at offsets --offsets (seconds, e.g.
              -0.5,-0.1,0.1,0.5), half with a partial CONNECT, half with a
              whole CONNECT (the balancer answered CONNACK, binds at the bind
              timeout), alternately closed with FIN and with RST.
  hold        --count connections sending the first --bytes (10) bytes of a
              CONNECT, held (v6flood: many addresses of one /64, --per-addr
              connections each).

An attack ends at --duration, or with --until-closed once the probe was
taken and the balancer has closed and reset every connection (TCP state
CLOSE: the RST after close_timeout).

Every attack connects from the --bind addresses in turn (--per-addr
consecutive connections per address), --concurrency at a time, writes
--ready once every connection was tried and, at --probe-at seconds (default:
just before the end), how many are still open, got a FIN, got a RST (a
refusal of the balancer: RST to the final ACK), and how many bytes the
balancer took (sent minus the socket's unacknowledged bytes); the summary
(JSON) goes to --summary and stderr.

  legit       the legitimate client: a subscriber on --topic-prefix/# kept
              connected through --host, and every --interval seconds a new
              publisher connection (TCP, CONNECT, CONNACK, PUBLISH QoS 1,
              PUBACK, DISCONNECT); latency = connect start to the
              subscriber's receipt (--no-sub: to the PUBACK). Summary: tries,
              ok, failed, p50/p99/max.
  sample      every --interval seconds: VmRSS of --pid and `MQTTLB stats -s
              SOCKET --json` counters, one JSON line each, to --out.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

from mqtt_wire import (CONNACK, CONNECT, DISCONNECT, PUBACK, PUBLISH, SUBACK, connect_packet, mqtt_str,
                       packet, publish_packet, subscribe_packet, varint)


def log(*args):
    print(f"hostile {time.strftime('%H:%M:%S')}:", *args, file=sys.stderr, flush=True)


def big_connect_head(cid_len):
    """The start of a CONNECT announcing a client id of cid_len bytes (up to its length field)."""
    var = mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)
    rl = len(var) + 2 + cid_len
    return bytes([CONNECT << 4]) + varint(rl) + var + struct.pack("!H", cid_len)


def overrun_connect(i):
    """A CONNECT whose client id (200 bytes) runs past its remaining length (12: up to the id's length)."""
    var = mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + struct.pack("!H", 200)
    return bytes([CONNECT << 4]) + varint(len(var)) + var + (b"m%07d" % i) * 25


def toolarge_connect():
    """A CONNECT announcing 1,000,000 bytes (over any configured buffer), then its first fields."""
    var = mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)
    return bytes([CONNECT << 4]) + varint(1_000_000) + var + struct.pack("!H", 900) + b"x" * 100


def pct(vals, p):
    if not vals:
        return None
    s = sorted(vals)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def addresses(args):
    out = []
    for spec in args.bind:
        out += [a for a in spec.split(",") if a]
    if args.bind_file:
        with open(args.bind_file) as f:
            out += [line.strip() for line in f if line.strip()]
    return out or [None]


# --- raw sockets on asyncio ------------------------------------------------------


async def open_sock(host, port, local, timeout, rcvbuf=0, sndbuf=0):
    """A connected non-blocking TCP socket (from `local` when given)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if local:
            s.bind((local, 0))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(s, (host, port)), timeout)
    except BaseException:
        s.close()
        raise
    return s


def send_some(s, data):
    """Queues what the socket takes now (never blocks); returns the byte count."""
    try:
        return s.send(data)
    except (BlockingIOError, InterruptedError):
        return 0


def sock_state(s):
    """'open', 'fin' (the peer sent its FIN, we did not close), 'reset' (the
    connection is gone: an RST, or closed both ways) or 'closed' (by us),
    from the kernel's TCP state (TCP_INFO)."""
    if s.fileno() < 0:
        return "closed"
    try:
        st = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return "reset"
    # 1 ESTABLISHED, 7 CLOSE, 8 CLOSE_WAIT (tcp_states.h)
    return {1: "open", 8: "fin", 7: "reset"}.get(st, "open")


def outq(s):
    """Bytes in the socket's send queue (unsent + unacknowledged): SIOCOUTQ."""
    import fcntl
    import termios

    try:
        return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def set_rst_on_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# --- the attacks -------------------------------------------------------------------


class Attack:
    """Opens --count connections from the --bind addresses, runs per-connection
    behaviour, probes their states, keeps them until --duration, summarises."""

    def __init__(self, args):
        self.a = args
        self.addrs = addresses(args)
        self.conns = []  # dicts: sock, sent, t_open, addr
        self.failed = 0
        self.fail_reasons = {}
        self.stop = asyncio.Event()
        self.t0 = time.monotonic()
        self.end = self.t0 + args.duration
        self.probes = []
        self.extra = {}

    def local_for(self, i):
        return self.addrs[(i // self.a.per_addr) % len(self.addrs)]

    async def open_all(self, behave):
        sem = asyncio.Semaphore(self.a.concurrency)

        async def one(i):
            async with sem:
                if self.stop.is_set() or time.monotonic() >= self.end:
                    return
                local = self.local_for(i)
                try:
                    s = await open_sock(self.a.host, self.a.port, local, self.a.connect_timeout,
                                        rcvbuf=getattr(self.a, "rcvbuf", 0) or 0, sndbuf=self.a.sndbuf)
                except (OSError, asyncio.TimeoutError) as e:
                    self.failed += 1
                    k = type(e).__name__
                    self.fail_reasons[k] = self.fail_reasons.get(k, 0) + 1
                    return
                c = {"sock": s, "sent": 0, "t_open": time.monotonic(), "addr": local, "i": i}
                self.conns.append(c)
            try:
                await behave(c)
            except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as e:
                c["error"] = type(e).__name__

        tasks = [asyncio.create_task(one(i)) for i in range(self.a.count)]
        self.tasks = tasks
        await asyncio.wait(tasks, timeout=max(0.1, self.end - time.monotonic()))
        if self.a.ready:
            with open(self.a.ready, "w") as f:
                f.write(f"opened {len(self.conns)} failed {self.failed}\n")
        log(f"{self.a.cmd}: {len(self.conns)} connections open, {self.failed} failed to connect "
            f"({self.fail_reasons}), in {time.monotonic() - self.t0:.1f} s")

    def probe(self, label):
        states = {"open": 0, "fin": 0, "reset": 0, "closed": 0}
        taken = 0
        for c in self.conns:
            st = sock_state(c["sock"])
            states[st] += 1
            if st == "open":
                taken += max(0, c["sent"] - outq(c["sock"]))
        p = {"label": label, "t": round(time.monotonic() - self.t0, 2), **states, "bytes_taken": taken}
        self.probes.append(p)
        log(f"{self.a.cmd}: probe {p}")
        if self.a.probe_out:
            with open(self.a.probe_out, "a") as f:
                f.write(json.dumps(p) + "\n")
        return p

    async def hold(self):
        """Until --duration (or SIGTERM), probing at --probe-at."""
        probe_at = self.t0 + (self.a.probe_at if self.a.probe_at else max(0.0, self.a.duration - 1.0))
        probed = False
        last_check = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if not probed and now >= probe_at:
                self.probe("probe")
                probed = True
            if now >= self.end:
                break
            if self.a.until_closed and probed and now - last_check >= 0.5:
                last_check = now
                if all(sock_state(c["sock"]) in ("reset", "closed") for c in self.conns):
                    log(f"{self.a.cmd}: every connection was closed by the balancer; stopping")
                    break
            try:
                await asyncio.wait_for(self.stop.wait(), min(0.2, max(0.01, self.end - now)))
            except asyncio.TimeoutError:
                pass
        if not probed:
            self.probe("probe")

    def finish(self):
        final = self.probe("end")
        for t in getattr(self, "tasks", []):
            t.cancel()
        for c in self.conns:
            try:
                c["sock"].close()
            except OSError:
                pass
        probe = next((p for p in self.probes if p["label"] == "probe"), final)
        errors = {}
        for c in self.conns:
            if "error" in c:
                errors[c["error"]] = errors.get(c["error"], 0) + 1
        summary = {"attack": self.a.cmd, "count": self.a.count, "addresses": len(self.addrs),
                   "opened": len(self.conns), "connect_failed": self.failed, "connect_fail_reasons": self.fail_reasons,
                   "sent_bytes": sum(c["sent"] for c in self.conns), "errors": errors,
                   "probe": probe, "end": final, "elapsed_s": round(time.monotonic() - self.t0, 2), **self.extra}
        if self.a.summary:
            with open(self.a.summary, "w") as f:
                json.dump(summary, f)
                f.write("\n")
        log(f"{self.a.cmd}: " + json.dumps(summary))
        return summary


async def run_attack(args, behave, after_open=None):
    atk = Attack(args)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, atk.stop.set)
    await atk.open_all(lambda c: behave(atk, c))
    if after_open:
        await after_open(atk)
    await atk.hold()
    atk.finish()
    return 0


async def b_bigconnect(atk, c):
    s, a = c["sock"], atk.a
    cid = ((b"c%07d" % c["i"]) * (a.cid_len // 8 + 1))[: a.cid_len - a.short]
    data = big_connect_head(a.cid_len) + cid
    # what the socket takes at once (SO_SNDBUF large), the rest as the window opens
    off = 0
    while off < len(data) and not atk.stop.is_set() and time.monotonic() < atk.end:
        n = send_some(s, data[off:])
        off += n
        c["sent"] = off
        if off < len(data):
            await asyncio.sleep(0.2)


async def b_malformed(atk, c):
    s = c["sock"]
    data = overrun_connect(c["i"]) if c["i"] % 2 == 0 else toolarge_connect()
    c["sent"] = send_some(s, data)


async def b_slowloris(atk, c):
    s = c["sock"]
    data = connect_packet("slow-%06d-%s" % (c["i"], "z" * 40))
    for k in range(len(data)):
        if atk.stop.is_set() or time.monotonic() >= atk.end:
            return
        try:
            s.send(data[k:k + 1])
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            c["error"] = type(e).__name__
            return
        c["sent"] += 1
        await asyncio.sleep(atk.a.every)


async def b_hold(atk, c):
    c["sent"] = send_some(c["sock"], connect_packet("hold-%06d" % c["i"])[: atk.a.bytes])


async def read_packet_sock(s, timeout):
    """One MQTT packet from a raw non-blocking socket: (type, body)."""
    loop = asyncio.get_running_loop()
    buf = b""

    async def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = await loop.sock_recv(s, 65536 if n - len(buf) > 65536 else n - len(buf))
            if not chunk:
                raise asyncio.IncompleteReadError(buf, n)
            buf += chunk

    async def go():
        nonlocal buf
        await need(2)
        rl, shift, i = 0, 0, 1
        while True:
            b = buf[i]
            rl |= (b & 0x7F) << shift
            shift += 7
            i += 1
            if not b & 0x80:
                break
            await need(i + 1)
        await need(i + rl)
        return buf[0] >> 4, buf[i:i + rl]

    return await asyncio.wait_for(go(), timeout)


async def mqtt_handshake(s, cid, timeout, loop=None):
    loop = loop or asyncio.get_running_loop()
    await loop.sock_sendall(s, connect_packet(cid))
    t, body = await read_packet_sock(s, timeout)
    if t != CONNACK or len(body) < 2 or body[1] != 0:
        raise ConnectionError(f"no CONNACK accepted (type {t}, body {body[:4].hex()})")


async def b_noread(atk, c):
    s, a = c["sock"], atk.a
    loop = asyncio.get_running_loop()
    await mqtt_handshake(s, "noread-%d-%d" % (os.getpid(), c["i"]), a.connect_timeout, loop)
    await loop.sock_sendall(s, subscribe_packet(1, a.topic, 0))
    t, _ = await read_packet_sock(s, a.connect_timeout)
    if t != SUBACK:
        raise ConnectionError(f"expected SUBACK, got {t}")
    c["subscribed"] = True
    # from here on nothing is read: the receive buffer fills, the window closes


async def pump(atk):
    """The busy topic's publisher (QoS 0), through the same host as the subscribers."""
    a = atk.a
    loop = asyncio.get_running_loop()
    subscribed = sum(1 for c in atk.conns if c.get("subscribed"))
    atk.extra["subscribed"] = subscribed
    sent = 0
    t_start = time.monotonic()
    try:
        s = await open_sock(a.host, a.port, atk.addrs[0], a.connect_timeout)
        await mqtt_handshake(s, "pump-%d" % os.getpid(), a.connect_timeout, loop)
        payload = b"p" * a.size
        pkt = publish_packet(a.topic, payload)
        while sent < a.pump and not atk.stop.is_set() and time.monotonic() < atk.end - 1:
            await asyncio.wait_for(loop.sock_sendall(s, pkt), 5)
            sent += 1
            due = t_start + sent / a.rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
        atk.extra["pump_sent"] = sent
        atk.extra["pump_s"] = round(time.monotonic() - t_start, 2)
        try:
            await loop.sock_sendall(s, packet(DISCONNECT << 4, b""))
        except OSError:
            pass
        s.close()
    except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as e:
        atk.extra["pump_sent"] = sent
        atk.extra["pump_error"] = f"{type(e).__name__}: {e}"
    log(f"noread: pump sent {sent} messages of {a.size} bytes to {subscribed} subscribers that never read")


async def b_edge(atk, c):
    s, a, i = c["sock"], atk.a, c["i"]
    offsets = [float(x) for x in a.offsets.split(",")]
    off = offsets[(i // 2) % len(offsets)]
    full = (i // (2 * len(offsets))) % 2 == 1
    how = "rst" if i % 2 else "fin"
    c["edge"] = (off, "full" if full else "partial", how)
    loop = asyncio.get_running_loop()
    if full:
        await mqtt_handshake(s, "edge-%d-%d" % (os.getpid(), i), a.connect_timeout, loop)
    else:
        c["sent"] = send_some(s, connect_packet("edge-%06d" % i)[:12])
    when = c["t_open"] + a.bind_timeout + off
    await asyncio.sleep(max(0.0, when - time.monotonic()))
    if how == "rst":
        set_rst_on_close(s)
    s.close()
    atk.extra.setdefault("abandoned", {})
    k = f"{off:+.2f}s/{c['edge'][1]}/{how}"
    atk.extra["abandoned"][k] = atk.extra["abandoned"].get(k, 0) + 1


ATTACKS = {
    "bigconnect": (b_bigconnect, None),
    "malformed": (b_malformed, None),
    "slowloris": (b_slowloris, None),
    "noread": (b_noread, pump),
    "edge": (b_edge, None),
    "hold": (b_hold, None),
}


def cmd_attack(args):
    behave, after = ATTACKS[args.cmd]
    return asyncio.run(run_attack(args, behave, after))


# --- the legitimate client ------------------------------------------------------------


def cmd_legit(args):
    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        t_end = time.monotonic() + args.duration
        prefix = args.topic_prefix
        got = {}  # payload -> receive time
        waiters = {}
        res = {"tries": 0, "ok": 0, "failed": 0, "lat_ms": [], "connack_ms": [], "errors": []}
        sub_sock = None

        async def subscriber():
            nonlocal sub_sock
            s = await open_sock(args.host, args.port, args.bind, args.timeout)
            sub_sock = s
            await mqtt_handshake(s, "legit-sub-%d" % os.getpid(), args.timeout, loop)
            await loop.sock_sendall(s, subscribe_packet(1, prefix + "/#", 0))
            buf = b""
            while True:
                chunk = await loop.sock_recv(s, 65536)
                if not chunk:
                    raise ConnectionError("subscriber: the connection was closed")
                buf += chunk
                while len(buf) >= 2:
                    rl, shift, i = 0, 0, 1
                    ok = False
                    while i < len(buf):
                        b = buf[i]
                        rl |= (b & 0x7F) << shift
                        shift += 7
                        i += 1
                        if not b & 0x80:
                            ok = True
                            break
                    if not ok or len(buf) < i + rl:
                        break
                    ptype, body = buf[0] >> 4, buf[i:i + rl]
                    buf = buf[i + rl:]
                    if ptype == SUBACK:
                        subacked.set()
                    elif ptype == PUBLISH:
                        (tl,) = struct.unpack_from("!H", body)
                        payload = body[2 + tl:].decode()
                        got[payload] = time.monotonic()
                        w = waiters.pop(payload, None)
                        if w and not w.done():
                            w.set_result(True)

        subacked = asyncio.Event()
        if args.no_sub:
            subacked.set()
            sub_task = asyncio.create_task(stop.wait())
        else:
            sub_task = asyncio.create_task(subscriber())
        try:
            await asyncio.wait_for(subacked.wait(), args.timeout)
        except asyncio.TimeoutError:
            err = sub_task.exception() if sub_task.done() else "no SUBACK"
            res["errors"].append(f"subscriber: {err}")
            log(f"legit: the subscriber could not subscribe: {err}")
        n = 0
        while not stop.is_set() and time.monotonic() < t_end and subacked.is_set():
            n += 1
            res["tries"] += 1
            payload = "%s/%d" % (args.name, n)
            fut = loop.create_future()
            waiters[payload] = fut
            t0 = time.monotonic()
            t_puback = [t0]
            s = None
            try:
                async def one():
                    nonlocal s
                    s = await open_sock(args.host, args.port, args.bind, args.timeout)
                    await mqtt_handshake(s, "legit-%d-%d" % (os.getpid(), n), args.timeout, loop)
                    res["connack_ms"].append((time.monotonic() - t0) * 1000)
                    await loop.sock_sendall(s, publish_packet(f"{prefix}/{n}", payload.encode(), 1, 1))
                    t, _ = await read_packet_sock(s, args.timeout)
                    if t != PUBACK:
                        raise ConnectionError(f"expected PUBACK, got {t}")
                    t_puback[0] = time.monotonic()
                    await loop.sock_sendall(s, packet(DISCONNECT << 4, b""))
                    if args.no_sub:
                        got[payload] = t_puback[0]
                    else:
                        await fut

                await asyncio.wait_for(one(), args.timeout)
                lat = (got[payload] - t0) * 1000
                res["ok"] += 1
                res["lat_ms"].append(lat)
                if lat > args.slow_ms:
                    log(f"legit: try {n} slow: {lat:.0f} ms (CONNACK after {res['connack_ms'][-1]:.0f} ms, "
                        f"PUBACK after {(t_puback[0] - t0) * 1000:.0f} ms)")
            except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as e:
                res["failed"] += 1
                res["errors"].append(f"try {n}: {type(e).__name__}: {e}")
                waiters.pop(payload, None)
                log(f"legit: try {n} failed after {(time.monotonic() - t0) * 1000:.0f} ms: {type(e).__name__}: {e}")
            finally:
                if s is not None:
                    s.close()
            if sub_task.done():
                res["errors"].append(f"subscriber lost: {sub_task.exception()}")
                break
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, t0 + args.interval - time.monotonic()))
            except asyncio.TimeoutError:
                pass
        sub_task.cancel()
        if sub_sock is not None:
            sub_sock.close()
        lat = res["lat_ms"]
        summary = {"name": args.name, "tries": res["tries"], "ok": res["ok"], "failed": res["failed"],
                   "p50_ms": round(pct(lat, 50), 2) if lat else None,
                   "p99_ms": round(pct(lat, 99), 2) if lat else None,
                   "max_ms": round(max(lat), 2) if lat else None,
                   "connack_p50_ms": round(pct(res["connack_ms"], 50), 2) if lat else None,
                   "errors": res["errors"][:5], "lat_ms": [round(x, 2) for x in lat]}
        with open(args.summary, "w") as f:
            json.dump(summary, f)
            f.write("\n")
        short = {k: v for k, v in summary.items() if k != "lat_ms"}
        log("legit: " + json.dumps(short))
        return 0 if res["tries"] and res["failed"] == 0 else 1

    return asyncio.run(main())


# --- the sampler ----------------------------------------------------------------------


def vmrss_kib(pids):
    t = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        t += int(line.split()[1])
        except OSError:
            pass
    return t


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


KEYS = ("conn_active", "buffer_held", "budget_slowed", "budget_refused", "per_source_refused",
        "close_timeouts", "malformed", "timeouts", "closed_by_client", "window_full")


def cmd_sample(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t_end = time.monotonic() + args.duration
    pids = [int(p) for p in args.pid.split(",") if p]
    with open(args.out, "a") as out:
        while not stop and time.monotonic() < t_end:
            t = time.monotonic()
            row = {"t": round(time.time(), 3), "rss_kib": vmrss_kib(pids), "mem_available_kib": mem_available_kib()}
            if args.mqttlb and args.socket:
                try:
                    r = subprocess.run([args.mqttlb, "stats", "-s", args.socket, "--json"], capture_output=True,
                                       timeout=3, text=True)
                    c = json.loads(r.stdout)["counters"]
                    for k in KEYS:
                        row[k] = c.get(k)
                except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
                    pass
            out.write(json.dumps(row) + "\n")
            out.flush()
            time.sleep(max(0.0, args.interval - (time.monotonic() - t)))
    return 0


# --- arguments ------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, count):
        p.add_argument("--host", required=True, help="the VIP")
        p.add_argument("--port", type=int, default=1883)
        p.add_argument("--bind", action="append", default=[], help="source addresses, comma-separated (repeatable)")
        p.add_argument("--bind-file", help="more source addresses, one a line")
        p.add_argument("--per-addr", type=int, default=1, help="consecutive connections from one address")
        p.add_argument("--count", type=int, default=count)
        p.add_argument("--concurrency", type=int, default=200, help="connections being opened at once")
        p.add_argument("--connect-timeout", type=float, default=5.0)
        p.add_argument("--sndbuf", type=int, default=0)
        p.add_argument("--duration", type=float, required=True, help="seconds in all (then everything is closed)")
        p.add_argument("--probe-at", type=float, default=0.0, help="seconds after start of the state probe")
        p.add_argument("--probe-out", help="the probes as JSON lines")
        p.add_argument("--ready", help="written once every connection was tried")
        p.add_argument("--until-closed", action="store_true",
                       help="stop (after the probe) once the balancer has closed and reset every connection")
        p.add_argument("--summary", help="the summary (JSON)")

    p = sub.add_parser("bigconnect")
    common(p, 3000)
    p.add_argument("--cid-len", type=int, default=60000)
    p.add_argument("--short", type=int, default=10, help="bytes of the client id never sent")
    p.set_defaults(sndbuf=262144)
    p = sub.add_parser("malformed")
    common(p, 1000)
    p = sub.add_parser("slowloris")
    common(p, 500)
    p.add_argument("--every", type=float, default=1.0)
    p = sub.add_parser("noread")
    common(p, 20)
    p.add_argument("--topic", default="busy/noread")
    p.add_argument("--rcvbuf", type=int, default=1024)
    p.add_argument("--pump", type=int, default=4000, help="messages the publisher sends")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--rate", type=float, default=500.0, help="messages per second")
    p = sub.add_parser("edge")
    common(p, 400)
    p.add_argument("--bind-timeout", type=float, required=True, help="the balancer's connections.bind_timeout, s")
    p.add_argument("--offsets", default="-0.5,-0.1,0.1,0.5")
    p = sub.add_parser("hold")
    common(p, 1000)
    p.add_argument("--bytes", type=int, default=10, help="bytes of a CONNECT sent")

    p = sub.add_parser("legit")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--bind")
    p.add_argument("--name", default="legit")
    p.add_argument("--topic-prefix", default="legit")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--timeout", type=float, default=5.0, help="bound of one try (connect to receipt)")
    p.add_argument("--slow-ms", type=float, default=200.0, help="a try slower than this is logged")
    p.add_argument("--no-sub", action="store_true",
                   help="no subscriber: latency = connect start to PUBACK (brokers behind a proxy that "
                        "does not route by topic)")
    p.add_argument("--summary", required=True)

    p = sub.add_parser("sample")
    p.add_argument("--pid", required=True, help="PIDs, comma-separated (RSS summed)")
    p.add_argument("--mqttlb", help="the mqttlb binary (for its stats)")
    p.add_argument("--socket", help="its admin socket")
    p.add_argument("--interval", type=float, default=0.25)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True)

    args = ap.parse_args()
    if args.duration > 900:
        ap.error("--duration is at most 900 s")
    # the hard bound: whatever happens, the process ends 15 s after --duration
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(int(args.duration) + 15)
    if args.cmd in ATTACKS:
        return cmd_attack(args)
    return {"legit": cmd_legit, "sample": cmd_sample}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
