#!/usr/bin/python3
"""UDP collectors, senders and a spoofing burst: the tools of
tests/e2e/test_udp.sh (`protocol: udp` listeners).

Run with /usr/bin/python3 (plain sockets, nothing else). Every subcommand is
bounded in time (--duration or --timeout; a SIGALRM some seconds after ends
the process whatever it is doing).

A sender's datagram carries who sent it, because a collector behind the
balancer sees the balancer's source address, not the client's:

    u1|CLIENT_ADDR|CLIENT_PORT|SEQ|TAG|[padding]

  collect   binds --bind:--port, and for every datagram appends one line to
            --out (written at once: a collector killed with SIGKILL loses
            nothing it took) and answers "ack:" + the payload to its sender:
              TIME  PEER_ADDR:PORT  LEN  CRC32  CLIENT_ADDR  CLIENT_PORT  SEQ  TAG
            (tab-separated; TIME is the wall clock, time.time(), shared by
            every namespace; CLIENT_ADDR etc. are "-" for a payload that is
            not u1, TAG is then "empty", "spoof" or "raw").
  send      one socket per (source address, port): --bind addresses (a,b or
            a-b ranges of the last octet), --ports-per-source sockets each
            (ports the kernel picks). Either lock step (--count N: each
            socket sends SEQ 0..N-1, the next once the reply came, again
            after --timeout up to --retries times) or paced (--rate R per
            socket per second for --duration seconds, not waiting for
            replies; --linger seconds more for the last ones). Every reply
            must come from --expect (default: where it was sent) and be
            exactly "ack:" + a payload that socket sent. With
            --direct-targets A,B,C each source address sends to
            A/B/C:--port chosen by the CRC32 of the address (the harness's
            check without the balancer: "source-ip balancing").
            Summary (JSON, --summary and stdout): sent, replies, lost,
            retries, bad_from, bad_payload, replies by source address, per
            source address its ports, sent and replies.
  probe     one socket from --bind: a u1 datagram, an empty one, a --big
            (1400) byte one, a u1 datagram again, each in lock step (retries
            as send); checks that the empty one is answered "ack:" and the
            big one "ack:" + its 1400 bytes exactly. Summary: each step's
            result, the big payload's CRC32, the socket's port.
  spoof     --count datagrams (u1-less payload "spoof|I") to --dst:--port
            from as many random source addresses of --net (and random
            ports), written as Ethernet frames on --iface (AF_PACKET) from
            --src-mac to --dst-mac at --rate frames per second.
  sample    every --interval seconds: VmRSS of --pid, the "udp" object of
            `MQTTLB stats -s SOCKET --json` and every broker's state, one JSON
            line each ({"t", "rss_kib", "udp", "states"}), to --out.
  landing   reads collectors' records (--rec ADDR=FILE, repeatable; one ADDR
            may have several files: a restarted collector) from --since to
            --until (wall clock) and prints, as JSON: "sources": for each
            client address, the collectors that got its u1 datagrams, each
            with n, first, last; "totals": per collector datagrams and bytes
            (every datagram, u1 or not); "seen": the u1 datagrams' tags.
"""

import argparse
import ipaddress
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib

ACK = b"ack:"


def log(*args):
    print(f"udp_tools {time.strftime('%H:%M:%S')}:", *args, file=sys.stderr, flush=True)


def hard_deadline(seconds):
    """Ends the process (status 3) when it is still running after seconds."""

    def on_alarm(*_):
        log(f"still running {seconds:.0f} s after start: giving up")
        os._exit(3)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(seconds + 0.999)))


def payload(cip, cport, seq, tag, size=0):
    head = b"u1|%s|%d|%d|%s|" % (cip.encode(), cport, seq, tag.encode())
    if size <= len(head):
        return head
    # a pattern that depends on the position and the sequence: a byte moved
    # or changed shows in the CRC and in the exact comparison of the reply
    pad = bytes((i * 7 + seq) % 251 for i in range(size - len(head)))
    return head + pad


def parse_u1(data):
    """(cip, cport, seq, tag) of a u1 payload, or None."""
    if not data.startswith(b"u1|"):
        return None
    parts = data.split(b"|", 5)
    if len(parts) < 6:
        return None
    try:
        return parts[1].decode(), int(parts[2]), int(parts[3]), parts[4].decode()
    except (UnicodeDecodeError, ValueError):
        return None


def parse_addrs(specs):
    """"10.10.0.10-49,10.10.0.60" -> list of addresses."""
    out = []
    for spec in specs:
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                first, last = part.split("-", 1)
                base, lo = first.rsplit(".", 1)
                out += [f"{base}.{i}" for i in range(int(lo), int(last) + 1)]
            else:
                out.append(part)
    return out


def hostport(s, default_port=None):
    if ":" in s:
        h, p = s.rsplit(":", 1)
        return h, int(p)
    return s, default_port


def write_json(path, obj):
    text = json.dumps(obj, sort_keys=True)
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(text + "\n")
        os.replace(path + ".tmp", path)
    print(text, flush=True)


# --- collect ---------------------------------------------------------------------------------


def cmd_collect(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # root: past rmem_max; a burst must not overflow the queue
        s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((args.bind, args.port))
    s.settimeout(0.2)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(f"{os.getpid()}\n")
    n = errors = 0
    t_end = time.monotonic() + args.duration
    while not stop and time.monotonic() < t_end:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        t = time.time()
        u = parse_u1(data)
        if u:
            cip, cport, seq, tag = u
            fields = (cip, str(cport), str(seq), tag)
        else:
            kind = "empty" if not data else "spoof" if data.startswith(b"spoof|") else "raw"
            fields = ("-", "-", "-", kind)
        line = "%.6f\t%s:%d\t%d\t%08x\t%s\n" % (t, peer[0], peer[1], len(data), zlib.crc32(data), "\t".join(fields))
        os.write(fd, line.encode())
        n += 1
        try:
            s.sendto(ACK + data, peer)
        except OSError as e:
            errors += 1
            if errors <= 5:
                log(f"collect {args.bind}: reply to {peer}: {e}")
    os.close(fd)
    log(f"collect {args.bind}:{args.port}: {n} datagrams, {errors} replies failed")
    return 0


# --- send ------------------------------------------------------------------------------------


class Src:
    def __init__(self, cip, target, expect, tag, size):
        self.cip = cip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((cip, 0))
        self.sock.setblocking(False)
        self.cport = self.sock.getsockname()[1]
        self.target = target
        self.expect = expect
        self.tag = tag
        self.size = size
        self.seq = 0  # next to send
        self.sent = 0  # datagrams sent (retries included)
        self.replied = set()  # sequence numbers answered
        self.replies = 0  # replies received (duplicates included)
        self.tries = 0  # of the current sequence number (lock step)
        self.t_sent = 0.0
        self.next_t = 0.0
        self.done = False

    def send(self, seq):
        data = payload(self.cip, self.cport, seq, self.tag, self.size)
        self.sock.sendto(data, self.target)
        self.sent += 1
        self.t_sent = time.monotonic()


def make_sources(args):
    addrs = parse_addrs(args.bind)
    if not addrs:
        raise SystemExit("send: no --bind addresses")
    direct = [hostport(t, args.port) for t in args.direct_targets.split(",")] if args.direct_targets else []
    srcs = []
    for a in addrs:
        if direct:
            target = direct[zlib.crc32(a.encode()) % len(direct)]
        else:
            target = hostport(args.connect, args.port)
        expect = hostport(args.expect, args.port) if args.expect and not direct else target
        for _ in range(args.ports_per_source):
            srcs.append(Src(a, target, expect, args.tag, args.size))
    return srcs


def read_replies(src, stats):
    """Takes every reply waiting on src's socket; returns the sequence numbers."""
    got = []
    while True:
        try:
            data, peer = src.sock.recvfrom(65535)
        except (BlockingIOError, InterruptedError):
            return got
        except ConnectionRefusedError:  # an ICMP error (not expected: unconnected)
            stats["icmp_errors"] += 1
            continue
        stats["from"][f"{peer[0]}:{peer[1]}"] = stats["from"].get(f"{peer[0]}:{peer[1]}", 0) + 1
        if (peer[0], peer[1]) != src.expect:
            stats["bad_from"] += 1
            continue
        u = parse_u1(data[len(ACK):]) if data.startswith(ACK) else None
        if (not u or u[0] != src.cip or u[1] != src.cport or u[2] >= src.seq + 1 or
                data != ACK + payload(src.cip, src.cport, u[2], src.tag, src.size)):
            stats["bad_payload"] += 1
            if stats["bad_payload"] <= 5:
                log(f"send {src.cip}:{src.cport}: unexpected reply {data[:80]!r} from {peer}")
            continue
        src.replies += 1
        if u[2] in src.replied:
            stats["duplicates"] += 1
        src.replied.add(u[2])
        got.append(u[2])


def cmd_send(args):
    hard_deadline(args.duration + args.linger + 30)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    srcs = make_sources(args)
    stats = {"bad_from": 0, "bad_payload": 0, "duplicates": 0, "icmp_errors": 0, "from": {}}
    sel = selectors.DefaultSelector()
    for s in srcs:
        sel.register(s.sock, selectors.EVENT_READ, s)
    t0 = time.monotonic()
    t_end = t0 + args.duration
    lost = retries = 0
    lockstep = args.count > 0
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("%.6f\n" % time.time())
    if lockstep:
        for s in srcs:
            s.send(0)
            s.tries = 1
    else:
        period = 1.0 / args.rate
        for i, s in enumerate(srcs):  # staggered over one period
            s.next_t = t0 + period * i / len(srcs)
    while not stop:
        now = time.monotonic()
        if now >= t_end:
            break
        if lockstep:
            pending = [s for s in srcs if not s.done]
            if not pending:
                break
            for s in pending:
                if now - s.t_sent >= args.timeout:
                    if s.tries <= args.retries:
                        s.send(s.seq)
                        s.tries += 1
                        retries += 1
                    else:
                        lost += 1
                        s.seq += 1
                        if s.seq >= args.count:
                            s.done = True
                        else:
                            s.send(s.seq)
                            s.tries = 1
            wait = min(max(0.0, s.t_sent + args.timeout - now) for s in pending)
        else:
            for s in srcs:
                while s.next_t <= now:
                    s.send(s.seq)
                    s.seq += 1
                    s.next_t += period
            wait = max(0.0, min(s.next_t for s in srcs) - time.monotonic())
        for key, _ in sel.select(timeout=min(wait, 0.05)):
            s = key.data
            got = read_replies(s, stats)
            if lockstep and not s.done and s.seq in got:
                s.seq += 1
                if s.seq >= args.count:
                    s.done = True
                else:
                    s.send(s.seq)
                    s.tries = 1
    # the last replies
    t_linger = time.monotonic() + args.linger
    while time.monotonic() < t_linger:
        for key, _ in sel.select(timeout=max(0.0, t_linger - time.monotonic())):
            read_replies(key.data, stats)
    if lockstep:
        lost += sum(1 for s in srcs if not s.done and s.seq < args.count)
    else:
        lost = sum(s.seq - len(s.replied) for s in srcs)
    by_addr = {}
    for s in srcs:
        a = by_addr.setdefault(s.cip, {"ports": [], "sent": 0, "replies": 0, "target": "%s:%d" % s.target})
        a["ports"].append(s.cport)
        a["sent"] += s.sent
        a["replies"] += s.replies
    summary = {
        "mode": "lockstep" if lockstep else "paced",
        "sockets": len(srcs),
        "sent": sum(s.sent for s in srcs),
        "answered": sum(len(s.replied) for s in srcs),
        "replies": sum(s.replies for s in srcs),
        "lost": lost,
        "retries": retries,
        "seconds": round(time.monotonic() - t0, 3),
        "sources": by_addr,
        "completed": (all(s.done for s in srcs) if lockstep else not stop),
    }
    summary.update(stats)
    write_json(args.summary, summary)
    return 0


# --- probe -----------------------------------------------------------------------------------


def cmd_probe(args):
    hard_deadline(args.timeout * (args.retries + 1) * 4 + 30)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.bind, 0))
    cport = s.getsockname()[1]
    target = hostport(args.connect, args.port)
    expect = hostport(args.expect, args.port) if args.expect else target
    big = payload(args.bind, cport, 2, "big", args.big)
    steps = [("first", payload(args.bind, cport, 0, "pre")), ("empty", b""), ("big", big),
             ("last", payload(args.bind, cport, 3, "post"))]
    out = {"port": cport, "big_len": len(big), "big_crc": "%08x" % zlib.crc32(big), "steps": {}}
    ok_all = True
    for name, data in steps:
        res = {"ok": False, "tries": 0, "replies": []}
        want = ACK + data
        for _ in range(args.retries + 1):
            res["tries"] += 1
            s.sendto(data, target)
            t_end = time.monotonic() + args.timeout
            while time.monotonic() < t_end and not res["ok"]:
                s.settimeout(max(0.001, t_end - time.monotonic()))
                try:
                    got, peer = s.recvfrom(65535)
                except socket.timeout:
                    break
                good = got == want and (peer[0], peer[1]) == expect
                res["replies"].append({"from": "%s:%d" % peer, "len": len(got), "exact": got == want})
                res["ok"] = res["ok"] or good
            if res["ok"]:
                break
        ok_all = ok_all and res["ok"]
        out["steps"][name] = res
    out["ok"] = ok_all
    write_json(args.summary, out)
    return 0 if ok_all else 1


# --- spoof -----------------------------------------------------------------------------------


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src_mac, dst_mac, saddr, daddr, sport, dport, data, ident):
    udp_len = 8 + len(data)
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + data
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0, 64, 17, 0, saddr, daddr)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def cmd_spoof(args):
    hard_deadline(args.count / args.rate + 30)
    rng = random.Random(args.seed)
    net = ipaddress.IPv4Network(args.net)
    exclude = [ipaddress.IPv4Network(e) for e in args.exclude]
    mac = lambda m: bytes(int(x, 16) for x in m.split(":"))  # noqa: E731
    src_mac, dst_mac = mac(args.src_mac), mac(args.dst_mac)
    daddr = socket.inet_aton(args.dst)
    chosen = set()
    while len(chosen) < args.count:
        a = net[rng.randrange(1, net.num_addresses - 1)]
        if any(a in e for e in exclude):
            continue
        chosen.add(int(a))
    frames = []
    for i, a in enumerate(sorted(chosen, key=lambda _: rng.random())):
        frames.append(udp_frame(src_mac, dst_mac, struct.pack("!I", a), daddr, rng.randrange(1024, 65535),
                                args.port, b"spoof|%d" % i, i))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    t0 = time.monotonic()
    sent = errors = 0
    batch = max(1, args.rate // 200)  # 5 ms batches
    for i in range(0, len(frames), batch):
        for f in frames[i:i + batch]:
            try:
                s.send(f)
                sent += 1
            except OSError:
                errors += 1
        due = t0 + (i + batch) / args.rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
    out = {"sent": sent, "errors": errors, "addresses": len(chosen), "seconds": round(time.monotonic() - t0, 3)}
    write_json(args.summary, out)
    return 0 if sent == args.count else 1


# --- sample ----------------------------------------------------------------------------------


def vmrss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cmd_sample(args):
    hard_deadline(args.duration + 30)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t_end = time.monotonic() + args.duration
    with open(args.out, "a") as out:
        while not stop and time.monotonic() < t_end:
            t = time.monotonic()
            row = {"t": round(time.time(), 3), "rss_kib": vmrss_kib(args.pid)}
            try:
                r = subprocess.run([args.mqttlb, "stats", "-s", args.socket, "--json"], capture_output=True,
                                   timeout=3, text=True)
                j = json.loads(r.stdout)
                row["udp"] = j.get("udp")
                row["states"] = {b.get("name"): b.get("state") for p in j.get("pools", []) for b in p.get("brokers", [])}
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            out.write(json.dumps(row) + "\n")
            out.flush()
            time.sleep(max(0.0, args.interval - (time.monotonic() - t)))
    return 0


# --- landing ---------------------------------------------------------------------------------


def cmd_landing(args):
    sources, totals, seen = {}, {}, {}
    for spec in args.rec:
        addr, path = spec.split("=", 1)
        tot = totals.setdefault(addr, {"datagrams": 0, "bytes": 0})
        try:
            f = open(path)
        except FileNotFoundError:
            continue
        with f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) < 8:
                    continue
                t = float(p[0])
                if t < args.since or t > args.until:
                    continue
                tot["datagrams"] += 1
                tot["bytes"] += int(p[2])
                if p[4] == "-":
                    continue
                seen[p[7]] = seen.get(p[7], 0) + 1
                at = sources.setdefault(p[4], {}).setdefault(addr, {"n": 0, "first": t, "last": t})
                at["n"] += 1
                at["first"] = min(at["first"], t)
                at["last"] = max(at["last"], t)
    json.dump({"sources": sources, "totals": totals, "seen": seen}, sys.stdout, sort_keys=True)
    print()
    return 0


# --- arguments -------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("collect")
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", help="written (the PID) once bound")
    p.add_argument("--duration", type=float, default=600)

    p = sub.add_parser("send")
    p.add_argument("--connect", help="HOST:PORT (the VIP)")
    p.add_argument("--direct-targets", help="A,B,C: no balancer; by CRC32 of the source address")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--expect", help="where replies must come from (default: where it was sent)")
    p.add_argument("--bind", action="append", default=[], required=True)
    p.add_argument("--ports-per-source", type=int, default=1)
    p.add_argument("--tag", default="n")
    p.add_argument("--size", type=int, default=0, help="pad each payload to this many bytes")
    p.add_argument("--count", type=int, default=0, help="lock step: datagrams per socket")
    p.add_argument("--timeout", type=float, default=0.5, help="lock step: a reply's wait")
    p.add_argument("--retries", type=int, default=3, help="lock step: sends again of one datagram")
    p.add_argument("--rate", type=float, default=10, help="paced: datagrams per second per socket")
    p.add_argument("--duration", type=float, default=30, help="at most (lock step), or the time (paced)")
    p.add_argument("--linger", type=float, default=0.5)
    p.add_argument("--ready", help="written (the wall clock) when the first datagrams go")
    p.add_argument("--summary")

    p = sub.add_parser("probe")
    p.add_argument("--connect", required=True)
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--expect")
    p.add_argument("--bind", required=True)
    p.add_argument("--big", type=int, default=1400)
    p.add_argument("--timeout", type=float, default=0.5)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--summary")

    p = sub.add_parser("spoof")
    p.add_argument("--iface", required=True)
    p.add_argument("--src-mac", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--net", default="10.10.0.0/16")
    p.add_argument("--exclude", action="append", default=[], help="a network the sources avoid (repeatable)")
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--summary")

    p = sub.add_parser("sample")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--mqttlb", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--interval", type=float, default=0.25)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("landing")
    p.add_argument("--rec", action="append", default=[], required=True, help="ADDR=FILE (repeatable)")
    p.add_argument("--since", type=float, default=0.0)
    p.add_argument("--until", type=float, default=1e12)

    args = ap.parse_args()
    if args.cmd == "send" and not args.connect and not args.direct_targets:
        ap.error("send: --connect or --direct-targets")
    return {"collect": cmd_collect, "send": cmd_send, "probe": cmd_probe, "spoof": cmd_spoof,
            "sample": cmd_sample, "landing": cmd_landing}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
