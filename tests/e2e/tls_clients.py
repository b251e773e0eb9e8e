#!/usr/bin/python3
"""TLS clients of mqttlb's end-to-end test tests/e2e/test_tls.sh.

Run with /usr/bin/python3 (the ssl module; Debian's python3-paho-mqtt for
`paho`). Every subcommand is bounded by --timeout and prints one JSON line
(its summary) on stdout; diagnostics go to stderr. Subcommands:

  raw      a TLS client over ssl.MemoryBIO / SSLObject, so that the test
           decides how the ClientHello reaches the wire: cut into --pieces
           TCP writes (TCP_NODELAY, --pause seconds apart; the first piece
           ends inside the 5-byte record header), its handshake message
           split over --records TLS records, ALPN protocols offered
           (--alpn, repeatable; --pad-alpn N adds junk protocols until the
           hello is at least N bytes long; after the --alpn ones, or before
           them with --pad-first), any server name (--sni, or none).
           Then the handshake, and by hand over the SSLObject: MQTT 3.1.1
           CONNECT / CONNACK, one QoS 1 PUBLISH (--topic, payload
           --payload or CLIENT_ID/1) / PUBACK, DISCONNECT. Exit 0 when all
           of it worked.
  paho     Paho (1.6 API) over TLS: connects to --host (the name it sends
           as SNI and checks the certificate against), publishes --count
           QoS 1 messages on --topic (payload CLIENT_ID/SEQ), DISCONNECT.
  hostile  what a TLS listener must close: --kind connect (a plain MQTT
           CONNECT), random (200 random bytes, the first one not 0x16, a
           handshake record's type), truncated (the first --cut bytes of a
           real ClientHello, then silence). Then it waits (--wait seconds)
           for the other end to close: the summary says how (fin, rst,
           open) and after how long. Exit 0 when it was closed within
           --within seconds.
"""

import argparse
import json
import os
import random
import socket
import ssl
import struct
import sys
import time

from mqtt_wire import CONNACK, DISCONNECT, PUBACK, Packets, connect_packet, packet, publish_packet


def log(*args):
    print(f"tls_clients {time.strftime('%H:%M:%S')}:", *args, file=sys.stderr, flush=True)


# --- TLS over a memory BIO -------------------------------------------------------------


def context(args, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.cafile:
        ctx.load_verify_locations(args.cafile)
    ctx.check_hostname = bool(getattr(args, "sni", None)) and not getattr(args, "no_check_hostname", False)
    if getattr(args, "tls_version", None) == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if getattr(args, "cert", None):
        ctx.load_cert_chain(args.cert, args.key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def client_hello(ctx, sni):
    """An SSLObject and the bytes of its first flight (the ClientHello)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname=sni or None)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out, out.read()


def reframe(hello, records):
    """The handshake bytes of a ClientHello's record(s) spread over `records` records."""
    body = bytearray()
    i = 0
    version = hello[1:3]
    while i < len(hello):
        if hello[i] != 0x16:
            raise ValueError("first flight is not a handshake record")
        n = struct.unpack("!H", hello[i + 3 : i + 5])[0]
        body += hello[i + 5 : i + 5 + n]
        i += 5 + n
    if records <= 1 and i == len(hello):
        return hello
    out = bytearray()
    cuts = [len(body) * k // records for k in range(records + 1)]
    for a, b in zip(cuts, cuts[1:]):
        out += bytes([0x16]) + version + struct.pack("!H", b - a) + body[a:b]
    return bytes(out)


def pieces_of(data, n):
    """data cut into n pieces, the first ending inside the record header (3 bytes)."""
    if n <= 1:
        return [data]
    cuts = [0, 3] + [3 + (len(data) - 3) * k // (n - 1) for k in range(1, n - 1)] + [len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]


def connect_tcp(args):
    src = (args.bind, 0) if args.bind else None
    sock = socket.create_connection((args.connect, args.port), timeout=args.timeout, source_address=src)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Session:
    """An SSLObject driven over a blocking socket."""

    def __init__(self, sock, obj, inc, out, deadline):
        self.sock, self.obj, self.inc, self.out, self.deadline = sock, obj, inc, out, deadline

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def recv(self):
        self.sock.settimeout(max(0.05, self.deadline - time.monotonic()))
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection (FIN)")
        self.inc.write(data)

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                self.recv()

    def write(self, data):
        self.obj.write(data)
        self.flush()

    def read(self):
        while True:
            try:
                data = self.obj.read(65536)
                if not data:
                    raise ConnectionError("TLS close_notify from the server")
                return data
            except ssl.SSLWantReadError:
                self.flush()
                self.recv()


def cmd_raw(args):
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    alpn = list(args.alpn or [])
    summary = {"client_id": args.client_id, "sni": args.sni, "alpn_offered": alpn[:4], "ok": False}
    try:
        ctx = context(args, alpn)
        obj, inc, out, hello = client_hello(ctx, args.sni)
        k, pad = 0, []
        while args.pad_alpn and len(hello) < args.pad_alpn:
            k += 1
            pad.append(f"x-pad-{k:03d}-" + "p" * 200)
            alpn = pad + list(args.alpn or []) if args.pad_first else list(args.alpn or []) + pad
            ctx = context(args, alpn)
            obj, inc, out, hello = client_hello(ctx, args.sni)
        summary["alpn_offered_n"] = len(alpn)
        wire = reframe(hello, args.records)
        parts = pieces_of(wire, args.pieces)
        summary.update(hello_bytes=len(hello), wire_bytes=len(wire), records=args.records,
                       pieces=[len(p) for p in parts])
        sock = connect_tcp(args)
        summary["local"] = "%s:%d" % sock.getsockname()[:2]
        for i, p in enumerate(parts):
            if i:
                time.sleep(args.pause)
            sock.sendall(p)
        s = Session(sock, obj, inc, out, deadline)
        s.handshake()
        summary.update(version=obj.version(), alpn=obj.selected_alpn_protocol(), handshake_s=round(time.monotonic() - t0, 3))
        pk = Packets()

        def wait_for(ptype, what):
            while True:
                p = pk.next()
                if p:
                    if p[0] == ptype:
                        return p[1]
                    continue
                pk.feed(s.read())

        s.write(connect_packet(args.client_id, keepalive=30))
        body = wait_for(CONNACK, "CONNACK")
        if len(body) < 2 or body[1] != 0:
            raise ConnectionError(f"CONNACK refused: {body.hex()}")
        payload = (args.payload or f"{args.client_id}/1").encode()
        s.write(publish_packet(args.topic, payload, qos=1, pid=1))
        body = wait_for(PUBACK, "PUBACK")
        if body[:2] != b"\x00\x01":
            raise ConnectionError(f"PUBACK for another id: {body.hex()}")
        s.write(packet(DISCONNECT << 4, b""))
        time.sleep(0.05)
        sock.close()
        summary.update(ok=True, seconds=round(time.monotonic() - t0, 3))
    except (OSError, ssl.SSLError, ConnectionError, ValueError) as e:
        summary["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(summary), flush=True)
    if not summary["ok"]:
        log(f"raw {args.client_id} -> {args.connect}:{args.port} (sni {args.sni}): {summary['error']}")
    if not summary["ok"]:
        return 1  # test_tls.sh fails the check that ran this client
    return 0


# --- Paho ----------------------------------------------------------------------------------


def cmd_paho(args):
    import paho.mqtt.client as mqtt

    kwargs = {}
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho 2.x
        kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
    deadline = time.monotonic() + args.timeout
    summary = {"client_id": args.client_id, "host": args.host, "ok": False}
    client = mqtt.Client(client_id=args.client_id, clean_session=True, protocol=mqtt.MQTTv311, **kwargs)
    args.sni = args.host
    client.tls_set_context(context(args, args.alpn))
    state = {}
    client.on_connect = lambda c, u, f, rc, *p: state.__setitem__("rc", rc)

    def drive(until, what):
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            rc = client.loop(timeout=0.05)
            if rc != 0:
                raise ConnectionError(f"connection lost while waiting for {what} (paho rc {rc})")

    try:
        client.connect(args.host, args.port, keepalive=30, bind_address=args.bind or "")
        drive(lambda: "rc" in state, "CONNACK")
        if state["rc"] != 0:
            raise ConnectionError(f"CONNACK refused: {state['rc']}")
        tls = client.socket()
        summary.update(local="%s:%d" % tls.getsockname()[:2], version=tls.version(), alpn=tls.selected_alpn_protocol())
        infos = [client.publish(args.topic, f"{args.client_id}/{i}", qos=1) for i in range(1, args.count + 1)]
        drive(lambda: all(i.is_published() for i in infos), f"{args.count} PUBACKs")
        client.disconnect()
        client.loop(timeout=0.1)
        summary.update(ok=True, published=args.count)
    except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as e:
        summary["error"] = f"{type(e).__name__}: {e}"
        log(f"paho {args.client_id} -> {args.host}:{args.port}: {summary['error']}")
    print(json.dumps(summary), flush=True)
    if not summary["ok"]:
        return 1  # test_tls.sh fails the check that ran this client
    return 0


# --- hostile ---------------------------------------------------------------------------------


def cmd_hostile(args):
    if args.kind == "connect":
        data = connect_packet("hostile-plain-mqtt", keepalive=30)
    elif args.kind == "random":
        data = bytearray(random.Random(args.seed).randbytes(200))
        if data[0] == 0x16:
            data[0] = 0x17
        data = bytes(data)
    else:
        args.sni, args.cafile, args.cert = "apples.example.net", None, None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        data = client_hello(ctx, args.sni)[3][: args.cut]
    summary = {"kind": args.kind, "sent": len(data), "closed": "open"}
    sock = connect_tcp(args)
    summary["local"] = "%s:%d" % sock.getsockname()[:2]
    t0 = time.monotonic()
    sock.sendall(data)
    sock.settimeout(args.wait)
    got = 0
    try:
        while True:
            d = sock.recv(4096)
            if not d:
                summary["closed"] = "fin"
                break
            got += len(d)
    except ConnectionResetError:
        summary["closed"] = "rst"
    except socket.timeout:
        pass
    summary.update(after_s=round(time.monotonic() - t0, 3), received=got)
    sock.close()
    ok = summary["closed"] != "open" and summary["after_s"] <= args.within
    summary["ok"] = ok
    print(json.dumps(summary), flush=True)
    if not ok:
        return 1  # test_tls.sh fails the check that ran this client
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--port", type=int, default=8883)
        p.add_argument("--bind", help="local address to connect from")
        p.add_argument("--cafile")
        p.add_argument("--cert")
        p.add_argument("--key")
        p.add_argument("--alpn", action="append", help="an ALPN protocol to offer (repeatable)")
        p.add_argument("--timeout", type=float, default=20.0)

    p = sub.add_parser("raw")
    common(p)
    p.add_argument("--connect", required=True, help="the address to connect to")
    p.add_argument("--sni", help="the server name to send (none: no SNI)")
    p.add_argument("--no-check-hostname", action="store_true", help="verify the chain only")
    p.add_argument("--tls-version", choices=("1.2", "1.3"), default="1.3", help="the highest version offered")
    p.add_argument("--pieces", type=int, default=1)
    p.add_argument("--pause", type=float, default=0.2)
    p.add_argument("--records", type=int, default=1)
    p.add_argument("--pad-alpn", type=int, default=0, help="make the ClientHello at least this long")
    p.add_argument("--pad-first", action="store_true", help="the junk protocols before the --alpn ones")
    p.add_argument("--client-id", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--payload")

    p = sub.add_parser("paho")
    common(p)
    p.add_argument("--host", required=True, help="the name to connect to (SNI, certificate check)")
    p.add_argument("--client-id", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=5)

    p = sub.add_parser("hostile")
    p.add_argument("--connect", required=True)
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--bind")
    p.add_argument("--timeout", type=float, default=5.0, help="for the TCP connect")
    p.add_argument("--kind", choices=("connect", "random", "truncated"), required=True)
    p.add_argument("--cut", type=int, default=100, help="truncated: bytes of the ClientHello sent")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--wait", type=float, default=10.0)
    p.add_argument("--within", type=float, default=3.0)

    args = ap.parse_args()
    signal_timeout = getattr(args, "timeout", 20) + getattr(args, "wait", 0) + 10
    import signal

    signal.signal(signal.SIGALRM, lambda *_: os._exit(124))
    signal.alarm(int(signal_timeout))
    return {"raw": cmd_raw, "paho": cmd_paho, "hostile": cmd_hostile}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
