#!/usr/bin/python3
"""A tiny MQTT-SN 1.2 gateway and MQTT-SN clients: the tools of
tests/e2e/test_mqttsn.sh (`protocol: mqtt-sn` listeners).

Run with /usr/bin/python3 (plain sockets, nothing else). Every subcommand is
bounded in time (--duration or a deadline; a SIGALRM ends the process
whatever it is doing).

A PUBLISH's Data names its sender, because a gateway behind the balancer
sees the balancer's NAT source, not the client:  CLIENT_ID/SEQ

  gateway   binds --bind:--port (1884) and answers as a gateway does: CONNECT
            (ProtocolId 0x01) with CONNACK 0 (a session for the sender's
            address:port, which is the balancer's NAT source); REGISTER with
            REGACK (topic ids assigned per gateway); PUBLISH QoS 1 with
            PUBACK (ReturnCode 0x02 for an unknown topic id); PINGREQ with
            PINGRESP; DISCONNECT with DISCONNECT (the session ends); SEARCHGW
            with GWINFO. Any other message from an address:port without a
            session (it never sent a CONNECT from there) is answered with a
            DISCONNECT: "who are you?", as real gateways do; a client then
            connects again. Every datagram is one JSON line in --out, written
            at once (a gateway killed with SIGKILL loses nothing it took):
              t (time.time(), shared by every namespace), gw, peer, len, hex,
              type (MsgType name, "?" when the gateway cannot read it), cid
              (the client id the gateway believes the sender is: a CONNECT's,
              else the session's of that address:port, else null), pcid and
              seq (a PUBLISH's Data "CLIENT_ID/SEQ"), topic (REGISTER), ping
              (a PINGREQ's client id), reply (what it answered) and rc.
  fleet     --client CID@ADDR (repeatable): one thread per client, one socket
            each (ADDR, a port the kernel picks) to --vip:--port. Phase 1:
            CONNECT, REGISTER sn/CID, --messages PUBLISH QoS 1 in lock step
            (each waits for its PUBACK; sent again after --timeout, at most
            --retries times), PINGREQ; then --phase1 FILE is written. Phase 2
            (--rate R > 0): one PUBLISH every 1/R s, each acknowledged before
            the next, until --stop FILE exists or --duration: a DISCONNECT
            from the gateway or no answer makes the client CONNECT again
            (same client id, same socket), REGISTER again and send the same
            message again. Summary (JSON, --summary and stdout): per client
            connects, publishes, acked, events (reconnects, their causes and
            times), the sources replies came from.
  roam      one client id that changes its socket mid-session: 3 messages
            from --bind; a new socket on the same address (a new port);
            --mode reconnect: CONNECT again, REGISTER, 3 messages; then a
            new socket on --then-addr: CONNECT again, REGISTER, 3 messages.
            --mode continue: after the port change it goes on publishing
            with its old topic id and no CONNECT (3 messages, each tried
            once, whatever the answer); then CONNECT again and 1 message.
            Summary: per step the socket's port and address, the answers.
  rebind    --id (repeatable): for each, a new socket on --bind that first
            sends a PINGREQ carrying that client id (a flow bound by address
            until a CONNECT comes), then CONNECT, REGISTER, 1 message; then
            (--switch-to ID) the last socket CONNECTs again with another
            client id and publishes 1 message.
  malformed from --bind, first on a fresh socket, then on a socket that has
            CONNECTed: a Length larger than the datagram, a Length smaller
            than the datagram, a reserved MsgType, a CONNECT with ProtocolId
            0x02, an empty datagram, 48 random bytes; nothing must come back;
            then a good PUBLISH must be acknowledged. Summary: the datagrams
            (hex) and the reasons the balancer should count.
  landing   reads gateway records (--rec GW=FILE, repeatable; one GW may
            have several files) in [--since, --until) and prints JSON: per
            client id (a CONNECT's, a PUBLISH's Data, a PINGREQ's) per
            gateway: n, connects (and the peers they came from), pings,
            published, acked (PUBACK 0), unknown (answered DISCONNECT),
            first, last, first_acked, last_acked; per gateway:
            datagrams, replies, bad (PUBLISHes whose believed client id is
            not the one in their Data); the hex of every datagram (--hex).
"""

import argparse
import json
import os
import random
import signal
import socket
import sys
import threading
import time

# MsgType, MQTT-SN 1.2 §5.2.2 Table 3
ADVERTISE, SEARCHGW, GWINFO = 0x00, 0x01, 0x02
CONNECT, CONNACK = 0x04, 0x05
REGISTER, REGACK, PUBLISH, PUBACK = 0x0A, 0x0B, 0x0C, 0x0D
PINGREQ, PINGRESP, DISCONNECT = 0x16, 0x17, 0x18
NAMES = {
    0x00: "ADVERTISE", 0x01: "SEARCHGW", 0x02: "GWINFO", 0x04: "CONNECT", 0x05: "CONNACK",
    0x06: "WILLTOPICREQ", 0x07: "WILLTOPIC", 0x08: "WILLMSGREQ", 0x09: "WILLMSG",
    0x0A: "REGISTER", 0x0B: "REGACK", 0x0C: "PUBLISH", 0x0D: "PUBACK", 0x0E: "PUBCOMP",
    0x0F: "PUBREC", 0x10: "PUBREL", 0x12: "SUBSCRIBE", 0x13: "SUBACK", 0x14: "UNSUBSCRIBE",
    0x15: "UNSUBACK", 0x16: "PINGREQ", 0x17: "PINGRESP", 0x18: "DISCONNECT",
    0x1A: "WILLTOPICUPD", 0x1B: "WILLTOPICRESP", 0x1C: "WILLMSGUPD", 0x1D: "WILLMSGRESP",
    0xFE: "ENCAPSULATED",
}
FLAG_QOS1 = 0x20
FLAG_CLEAN = 0x04
FLAG_DUP = 0x80


def log(*args):
    print(f"mqttsn_tools {time.strftime('%H:%M:%S')}:", *args, file=sys.stderr, flush=True)


def hard_deadline(seconds):
    """Ends the process (status 3) when it is still running after seconds."""

    def on_alarm(*_):
        log(f"still running {seconds:.0f} s after start: giving up")
        os._exit(3)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(seconds + 0.999)))


def write_json(path, obj):
    text = json.dumps(obj, sort_keys=True)
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(text + "\n")
        os.replace(path + ".tmp", path)
    print(text, flush=True)


# --- the wire ----------------------------------------------------------------------------------


def msg(mtype, body=b""):
    """One MQTT-SN message: the 1-octet Length form up to 255 octets, else the 3-octet one."""
    n = len(body) + 2
    if n <= 255:
        return bytes([n, mtype]) + body
    return b"\x01" + (n + 2).to_bytes(2, "big") + bytes([mtype]) + body


def parse(data):
    """(type, body) of a datagram holding exactly one message, or None."""
    if len(data) < 2:
        return None
    if data[0] == 0x01:
        if len(data) < 4 or int.from_bytes(data[1:3], "big") != len(data):
            return None
        return data[3], data[4:]
    if data[0] != len(data):
        return None
    return data[1], data[2:]


def u16(b, i=0):
    return int.from_bytes(b[i:i + 2], "big")


def p16(v):
    return (v & 0xFFFF).to_bytes(2, "big")


def connect_msg(cid, duration=60, protocol_id=1, flags=FLAG_CLEAN):
    return msg(CONNECT, bytes([flags, protocol_id]) + p16(duration) + cid.encode())


def register_msg(msg_id, topic):
    return msg(REGISTER, p16(0) + p16(msg_id) + topic.encode())


def publish_msg(topic_id, msg_id, data, dup=False):
    return msg(PUBLISH, bytes([FLAG_QOS1 | (FLAG_DUP if dup else 0)]) + p16(topic_id) + p16(msg_id) + data)


def pingreq_msg(cid=None):
    return msg(PINGREQ, cid.encode() if cid else b"")


# --- gateway -----------------------------------------------------------------------------------


def cmd_gateway(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((args.bind, args.port))
    s.settimeout(0.2)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(f"{os.getpid()}\n")
    sessions = {}  # "addr:port" -> client id
    topics = {}  # topic name -> id (per gateway)
    n = replies = 0
    t_end = time.monotonic() + args.duration
    while not stop and time.monotonic() < t_end:
        try:
            data, peer = s.recvfrom(65535)
        except (socket.timeout, InterruptedError):
            continue
        t = time.time()
        p = f"{peer[0]}:{peer[1]}"
        rec = {"t": round(t, 6), "gw": args.bind, "peer": p, "len": len(data), "hex": data.hex(),
               "cid": sessions.get(p)}
        m = parse(data)
        out = None
        if m is None:
            rec["type"] = "?"
        else:
            mtype, body = m
            rec["type"] = NAMES.get(mtype, f"0x{mtype:02x}")
            known = p in sessions
            if mtype == CONNECT:
                if len(body) < 5 or body[1] != 1:
                    rec["bad"] = "connect"
                else:
                    cid = body[4:].decode("utf-8", "replace")
                    sessions[p] = rec["cid"] = cid
                    out = (msg(CONNACK, b"\x00"), "CONNACK", 0)
            elif mtype == SEARCHGW:
                out = (msg(GWINFO, bytes([int(args.bind.rsplit(".", 1)[1])])), "GWINFO", None)
            elif mtype == PINGREQ:
                rec["ping"] = body.decode("utf-8", "replace") if body else None
                out = (msg(PINGRESP), "PINGRESP", None)
            elif mtype == DISCONNECT:
                sessions.pop(p, None)
                out = (msg(DISCONNECT), "DISCONNECT", None)
            elif mtype == REGISTER and len(body) > 4:
                rec["topic"] = name = body[4:].decode("utf-8", "replace")
                if not known:
                    out = (msg(DISCONNECT), "DISCONNECT", None)
                else:
                    tid = topics.setdefault(name, len(topics) + 1)
                    out = (msg(REGACK, p16(tid) + body[2:4] + b"\x00"), "REGACK", 0)
            elif mtype == PUBLISH and len(body) >= 5:
                flags, tid, mid, d = body[0], u16(body, 1), u16(body, 3), body[5:]
                txt = d.decode("utf-8", "replace")
                if "/" in txt:
                    pc, _, sq = txt.rpartition("/")
                    rec["pcid"] = pc
                    rec["seq"] = int(sq) if sq.isdigit() else None
                if not known:
                    out = (msg(DISCONNECT), "DISCONNECT", None)
                elif (flags & 0x60) == FLAG_QOS1:
                    rc = 0 if tid in topics.values() else 2
                    out = (msg(PUBACK, p16(tid) + p16(mid) + bytes([rc])), "PUBACK", rc)
            elif not known:
                out = (msg(DISCONNECT), "DISCONNECT", None)
        if out:
            rec["reply"], rec["rc"] = out[1], out[2]
        os.write(fd, (json.dumps(rec, sort_keys=True) + "\n").encode())
        n += 1
        if out:
            try:
                s.sendto(out[0], peer)
                replies += 1
            except OSError as e:
                log(f"gateway {args.bind}: reply to {p}: {e}")
    os.close(fd)
    log(f"gateway {args.bind}:{args.port}: {n} datagrams, {replies} replies")
    return 0


# --- clients -------------------------------------------------------------------------------------


class Client:
    """One MQTT-SN client: a socket to the VIP, requests in lock step."""

    def __init__(self, cid, vip, port, bind, timeout, retries):
        self.cid, self.vip, self.port = cid, vip, port
        self.timeout, self.retries = timeout, retries
        self.sources = {}  # "addr:port" replies came from -> count
        self.sent = {}  # MsgType name -> datagrams sent (retries included)
        self.unexpected = []
        self.msg_id = 0
        self.topic_id = None
        self.sock = None
        self.open(bind)

    def open(self, addr):
        if self.sock:
            self.sock.close()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.local = self.sock.getsockname()

    def next_id(self):
        self.msg_id = self.msg_id % 65535 + 1
        return self.msg_id

    def send(self, data):
        name = NAMES.get(data[1], "?") if len(data) >= 2 and data[0] != 1 else "?"
        self.sent[name] = self.sent.get(name, 0) + 1
        self.sock.sendto(data, (self.vip, self.port))

    def recv(self, deadline):
        """(type, body) of the next reply before deadline (monotonic), or None."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            src = f"{peer[0]}:{peer[1]}"
            self.sources[src] = self.sources.get(src, 0) + 1
            m = parse(data)
            if m is None:
                self.unexpected.append(data.hex())
                continue
            return m

    def request(self, data, want, match=None, tries=None, dup=None):
        """Sends data until a reply of a type in want (and match(body)) or a
        DISCONNECT comes: (type, body), or None after tries sends."""
        tries = self.retries + 1 if tries is None else tries
        for i in range(tries):
            self.send(dup if (i and dup) else data)
            deadline = time.monotonic() + self.timeout
            while True:
                m = self.recv(deadline)
                if m is None:
                    break
                if m[0] == DISCONNECT or (m[0] in want and (match is None or match(m[1]))):
                    return m
                # a late answer to an earlier request: skip it
        return None

    def connect(self, cid=None):
        cid = cid or self.cid
        r = self.request(connect_msg(cid), (CONNACK,))
        if r and r[0] == CONNACK and r[1][:1] == b"\x00":
            self.cid = cid
            return "ok"
        return "no answer" if r is None else NAMES.get(r[0], "?") + (f" rc {r[1][0]}" if r[0] == CONNACK else "")

    def register(self, topic):
        mid = self.next_id()
        r = self.request(register_msg(mid, topic), (REGACK,), lambda b: u16(b, 2) == mid)
        if r and r[0] == REGACK and r[1][4] == 0:
            self.topic_id = u16(r[1], 0)
            return "ok"
        return "no answer" if r is None else NAMES.get(r[0], "?")

    def publish(self, seq, tries=None):
        mid = self.next_id()
        data = f"{self.cid}/{seq}".encode()
        r = self.request(publish_msg(self.topic_id or 0, mid, data), (PUBACK,), lambda b: u16(b, 2) == mid,
                         tries=tries, dup=publish_msg(self.topic_id or 0, mid, data, dup=True))
        if r and r[0] == PUBACK:
            return "ok" if r[1][4] == 0 else f"PUBACK rc {r[1][4]}"
        return "no answer" if r is None else NAMES.get(r[0], "?")

    def ping(self, cid=None):
        r = self.request(pingreq_msg(cid), (PINGRESP,))
        return "ok" if r and r[0] == PINGRESP else ("no answer" if r is None else NAMES.get(r[0], "?"))

    def session(self, topic):
        """CONNECT, then REGISTER: "ok" or what failed."""
        c = self.connect()
        if c != "ok":
            return "CONNECT: " + c
        r = self.register(topic)
        return "ok" if r == "ok" else "REGISTER: " + r

    def summary(self):
        return {"sources": self.sources, "sent_types": self.sent, "unexpected": self.unexpected[:5],
                "local": f"{self.local[0]}:{self.local[1]}"}


def cmd_fleet(args):
    hard_deadline(args.duration + 30)
    specs = []
    for spec in args.client:
        cid, _, addr = spec.partition("@")
        specs.append((cid, addr))
    t0 = time.time()
    results = {}
    phase1 = threading.Barrier(len(specs) + 1)
    stop_evt = threading.Event()
    t_end = time.monotonic() + args.duration

    def run(cid, addr):
        c = Client(cid, args.vip, args.port, addr, args.timeout, args.retries)
        res = {"addr": addr, "events": [], "acked": 0, "published": 0, "connects": 0, "phase1": None}
        results[cid] = res
        topic = f"sn/{cid}"
        seq = 0
        try:
            res["connects"] += 1
            r = c.session(topic)
            if r == "ok":
                for _ in range(args.messages):
                    res["published"] += 1
                    r = c.publish(seq)
                    if r != "ok":
                        r = f"PUBLISH {seq}: {r}"
                        break
                    res["acked"] += 1
                    seq += 1
            if r == "ok":
                r = c.ping()
                r = r if r == "ok" else "PINGREQ: " + r
            res["phase1"] = r
            res["phase1_port"] = c.local[1]
        except Exception as e:  # noqa: BLE001 (reported, never hidden)
            res["phase1"] = f"error: {e!r}"
        try:
            phase1.wait(timeout=args.duration)
        except threading.BrokenBarrierError:
            pass
        if args.rate <= 0 or res["phase1"] != "ok":
            res.update(c.summary())
            return
        gap = 1.0 / args.rate
        nxt = time.monotonic()
        while not stop_evt.is_set() and time.monotonic() < t_end:
            nxt += gap
            res["published"] += 1
            r = c.publish(seq)
            while r != "ok" and not stop_evt.is_set() and time.monotonic() < t_end:
                # the gateway does not know us (DISCONNECT), or nobody answered: connect again
                res["events"].append({"t": round(time.time(), 3), "seq": seq, "why": r})
                res["connects"] += 1
                s = c.session(topic)
                if s != "ok":
                    res["events"].append({"t": round(time.time(), 3), "seq": seq, "why": "reconnect: " + s})
                    continue
                r = c.publish(seq)
            if r == "ok":
                res["acked"] += 1
                seq += 1
            delay = nxt - time.monotonic()
            if delay > 0:
                stop_evt.wait(delay)
            else:
                nxt = time.monotonic()
        res["unacked_at_stop"] = 0 if r == "ok" else 1
        res.update(c.summary())

    threads = [threading.Thread(target=run, args=sp, daemon=True) for sp in specs]
    for th in threads:
        th.start()
    try:
        phase1.wait(timeout=args.duration)
    except threading.BrokenBarrierError:
        pass
    ok = sum(1 for r in results.values() if r.get("phase1") == "ok")
    if args.phase1:
        write_json(args.phase1, {"t": time.time(), "ok": ok, "clients": len(specs),
                                 "failed": {k: v["phase1"] for k, v in results.items() if v["phase1"] != "ok"},
                                 "ports": {k: v.get("phase1_port") for k, v in results.items()}})
    while args.rate > 0 and time.monotonic() < t_end:
        if args.stop and os.path.exists(args.stop):
            break
        time.sleep(0.05)
    stop_evt.set()
    for th in threads:
        th.join(timeout=args.timeout * (args.retries + 1) * 3 + 2)
    sources = {}
    for r in results.values():
        for k, v in r.get("sources", {}).items():
            sources[k] = sources.get(k, 0) + v
    connect_dgrams = sum(r.get("sent_types", {}).get("CONNECT", 0) for r in results.values())
    write_json(args.summary, {"t0": t0, "clients": results, "phase1_ok": ok, "sources": sources,
                              "connect_datagrams": connect_dgrams,
                              "connects": sum(r["connects"] for r in results.values()),
                              "published": sum(r["published"] for r in results.values()),
                              "acked": sum(r["acked"] for r in results.values())})
    return 0 if ok == len(specs) else 1


def cmd_roam(args):
    hard_deadline(30)
    c = Client(args.client_id, args.vip, args.port, args.bind, args.timeout, args.retries)
    topic = f"sn/{args.client_id}"
    steps = []
    seq = 0

    def step(name, do_connect, n, tries=None):
        nonlocal seq
        st = {"step": name, "local": f"{c.local[0]}:{c.local[1]}", "t": round(time.time(), 3)}
        if do_connect:
            st["session"] = c.session(topic)
        st["publish"] = []
        for _ in range(n):
            st["publish"].append({"seq": seq, "result": c.publish(seq, tries=tries)})
            seq += 1
        steps.append(st)

    step("first", True, 3)
    c.open(args.bind)
    if args.mode == "reconnect":
        step("new port, CONNECT again", True, 3)
        c.open(args.then_addr)
        step("new address, CONNECT again", True, 3)
    else:
        step("new port, no CONNECT", False, 3, tries=1)
        step("then CONNECT again", True, 1)
    ok = all(p["result"] == "ok" for st in steps for p in st["publish"]
             if args.mode == "reconnect" or not st["step"].endswith("no CONNECT"))
    ok = ok and all(st.get("session", "ok") == "ok" for st in steps)
    write_json(args.summary, {"client_id": args.client_id, "mode": args.mode, "steps": steps, "ok": ok,
                              "connect_datagrams": c.sent.get("CONNECT", 0), **c.summary()})
    return 0 if ok else 1


def cmd_rebind(args):
    hard_deadline(30)
    out = []
    c = None
    sources = {}
    connects = 0
    for cid in args.id:
        c = Client(cid, args.vip, args.port, args.bind, args.timeout, args.retries)
        r = {"client_id": cid, "local": f"{c.local[0]}:{c.local[1]}"}
        r["ping"] = c.ping(cid)
        r["session"] = c.session(f"sn/{cid}")
        r["publish"] = c.publish(0) if r["session"] == "ok" else "-"
        if cid == args.id[-1] and args.switch_to:
            c.cid = args.switch_to
            r["switch_to"] = args.switch_to
            r["switch_session"] = c.session(f"sn/{args.switch_to}")
            r["switch_publish"] = c.publish(0) if r["switch_session"] == "ok" else "-"
        connects += c.sent.get("CONNECT", 0)
        for k, v in c.sources.items():
            sources[k] = sources.get(k, 0) + v
        out.append(r)
    ok = all(r["ping"] == "ok" and r["session"] == "ok" and r["publish"] == "ok" and
             r.get("switch_publish", "ok") == "ok" for r in out)
    write_json(args.summary, {"clients": out, "ok": ok, "sources": sources, "connect_datagrams": connects})
    return 0 if ok else 1


def malformed_set(seed):
    rnd = random.Random(seed)
    junk = bytearray(rnd.randbytes(48))
    junk[0] = 0xC3  # Length 195 > 48: truncated (never 0x01 nor 48: never well-formed)
    return [
        ("length_larger", bytes([0x08]) + bytes([PINGREQ]) + b"abc", "truncated"),
        ("length_smaller", bytes([0x02, PINGREQ]) + b"\xaa\xbb", "bad_length"),
        ("reserved_type", bytes([0x02, 0x03]), "unknown_type"),
        ("reserved_type_connectlike", bytes([0x08, 0x11]) + b"\x04\x01\x00\x3cab", "unknown_type"),
        ("connect_protocol_2", connect_msg("sn-bad-proto", protocol_id=2), "bad_protocol_id"),
        ("empty", b"", "truncated"),
        ("random", bytes(junk), "truncated"),
    ]


def cmd_malformed(args):
    hard_deadline(30)
    bad = malformed_set(args.seed)
    sent = []
    res = {}

    def burst(c, where):
        for name, data, reason in bad:
            c.send(data)
            sent.append({"where": where, "kind": name, "hex": data.hex(), "reason": reason})
        # nothing may come back
        m = c.recv(time.monotonic() + 0.5)
        res[f"answered_{where}"] = None if m is None else NAMES.get(m[0], "?")

    c = Client(args.client_id, args.vip, args.port, args.bind, args.timeout, args.retries)
    burst(c, "fresh")
    c.open(args.bind)
    res["session"] = c.session(f"sn/{args.client_id}")
    res["publish_before"] = c.publish(0)
    burst(c, "established")
    res["publish_after"] = c.publish(1)
    reasons = {}
    for s in sent:
        reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
    ok = (res["session"] == "ok" and res["publish_before"] == "ok" and res["publish_after"] == "ok"
          and res["answered_fresh"] is None and res["answered_established"] is None)
    bad_connects = sum(1 for s in sent if s["kind"] == "connect_protocol_2")
    write_json(args.summary, {"sent": sent, "n": len(sent), "reasons": reasons, "ok": ok, **res,
                              "connect_datagrams": c.sent.get("CONNECT", 0) - bad_connects, **c.summary()})
    return 0 if ok else 1


# --- landing -------------------------------------------------------------------------------------


def cmd_landing(args):
    ids = {}
    gws = {}
    hexes = set()
    for spec in args.rec:
        gw, _, path = spec.partition("=")
        g = gws.setdefault(gw, {"datagrams": 0, "replies": 0, "bad": 0, "types": {}})
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by SIGKILL
                t = r["t"]
                if t < args.since or t >= args.until:
                    continue
                g["datagrams"] += 1
                g["types"][r["type"]] = g["types"].get(r["type"], 0) + 1
                if r.get("reply"):
                    g["replies"] += 1
                hexes.add(r["hex"])
                who = {"PUBLISH": r.get("pcid"), "CONNECT": r.get("cid"), "PINGREQ": r.get("ping")}.get(r["type"])
                if r["type"] == "PUBLISH" and r.get("cid") is not None and r.get("cid") != r.get("pcid"):
                    g["bad"] += 1
                if who is None:
                    continue
                e = ids.setdefault(who, {}).setdefault(gw, {"n": 0, "connects": 0, "pings": 0, "published": 0,
                                                            "acked": 0, "unknown": 0, "first": t, "last": t,
                                                            "first_acked": None, "last_acked": None,
                                                            "connect_peers": []})
                e["n"] += 1
                e["first"] = min(e["first"], t)
                e["last"] = max(e["last"], t)
                if r["type"] == "CONNECT":
                    e["connects"] += 1
                    if r["peer"] not in e["connect_peers"]:
                        e["connect_peers"].append(r["peer"])
                elif r["type"] == "PINGREQ":
                    e["pings"] += 1
                else:
                    e["published"] += 1
                    if r.get("reply") == "PUBACK" and r.get("rc") == 0:
                        e["acked"] += 1
                        e["first_acked"] = t if e["first_acked"] is None else min(e["first_acked"], t)
                        e["last_acked"] = t if e["last_acked"] is None else max(e["last_acked"], t)
                    elif r.get("reply") == "DISCONNECT":
                        e["unknown"] += 1
    out = {"ids": ids, "gateways": gws}
    if args.hex:
        out["hex"] = sorted(hexes)
    print(json.dumps(out, sort_keys=True))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("gateway")
    g.add_argument("--bind", required=True)
    g.add_argument("--port", type=int, default=1884)
    g.add_argument("--out", required=True)
    g.add_argument("--ready")
    g.add_argument("--duration", type=float, default=300)

    def client_opts(p):
        p.add_argument("--vip", required=True)
        p.add_argument("--port", type=int, default=1884)
        p.add_argument("--timeout", type=float, default=0.25, help="seconds before a request is sent again")
        p.add_argument("--retries", type=int, default=4)
        p.add_argument("--summary")

    f = sub.add_parser("fleet")
    client_opts(f)
    f.add_argument("--client", action="append", required=True, help="CID@ADDR")
    f.add_argument("--messages", type=int, default=5)
    f.add_argument("--rate", type=float, default=0)
    f.add_argument("--phase1")
    f.add_argument("--stop")
    f.add_argument("--duration", type=float, default=60)

    r = sub.add_parser("roam")
    client_opts(r)
    r.add_argument("--client-id", required=True)
    r.add_argument("--bind", required=True)
    r.add_argument("--then-addr")
    r.add_argument("--mode", choices=("reconnect", "continue"), default="reconnect")

    b = sub.add_parser("rebind")
    client_opts(b)
    b.add_argument("--id", action="append", required=True)
    b.add_argument("--bind", required=True)
    b.add_argument("--switch-to")

    m = sub.add_parser("malformed")
    client_opts(m)
    m.add_argument("--bind", required=True)
    m.add_argument("--client-id", default="sn-malformed")
    m.add_argument("--seed", type=int, default=18)

    la = sub.add_parser("landing")
    la.add_argument("--rec", action="append", default=[])
    la.add_argument("--since", type=float, default=0)
    la.add_argument("--until", type=float, default=1e12)
    la.add_argument("--hex", action="store_true")

    args = ap.parse_args()
    return {"gateway": cmd_gateway, "fleet": cmd_fleet, "roam": cmd_roam, "rebind": cmd_rebind,
            "malformed": cmd_malformed, "landing": cmd_landing}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
