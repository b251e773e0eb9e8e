#!/usr/bin/python3
"""Checks the captures in a directory against its expect.json and prints a
summary per file.

  verify.py DIR [-s] [FILE.pcap ...]

-s also lists each client data segment: its frame number, stream offset and
length, and the MQTT packets that start in it.

Per capture: Ethernet link type, full snaplen, valid IPv4/TCP checksums,
no segment longer than the MSS its SYN announced, no frame longer than 1514
bytes, exactly one TCP connection to port 1883 (one SYN, one SYN-ACK, a FIN
each way), both byte streams complete after reassembly by sequence number
(duplicates and reordering allowed and counted; a duplicate must carry the
same bytes as the original), and both streams parse as whole MQTT packets.
Then the MQTT facts (version, client id, Will, SUBSCRIBE filters, PUBLISH
topics in order with topic aliases resolved, PUBLISH count, IPv6, counts of
duplicated and out-of-order client segments) are compared with expect.json.

Needs Debian's python3 (/usr/bin/python3) for scapy.
"""
import json
import os
import sys
from collections import Counter

from scapy.all import IP, TCP, Ether, IPv6, PcapReader, RawPcapReader

MQTT_PORT = 1883
TYPES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# MQTT 5 property identifiers by value type
P_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
P_U16 = {0x13, 0x21, 0x22, 0x23}
P_U32 = {0x02, 0x11, 0x18, 0x27}
P_VARINT = {0x0B}
P_STR = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
P_BIN = {0x09, 0x16}
P_PAIR = {0x26}


class Bad(Exception):
    pass


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise Bad("MQTT packet truncated")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return int.from_bytes(self.take(2), "big")

    def u32(self):
        return int.from_bytes(self.take(4), "big")

    def varint(self):
        v, mul = 0, 1
        for _ in range(4):
            d = self.u8()
            v += (d & 0x7F) * mul
            if not d & 0x80:
                return v
            mul *= 128
        raise Bad("malformed variable byte integer")

    def binary(self):
        return self.take(self.u16())

    def string(self):
        return self.binary().decode("utf-8")

    def props(self):
        end = self.varint() + self.i
        out = {}
        while self.i < end:
            pid = self.varint()
            if pid in P_BYTE:
                v = self.u8()
            elif pid in P_U16:
                v = self.u16()
            elif pid in P_U32:
                v = self.u32()
            elif pid in P_VARINT:
                v = self.varint()
            elif pid in P_STR:
                v = self.string()
            elif pid in P_BIN:
                v = self.binary()
            elif pid in P_PAIR:
                v = (self.string(), self.string())
            else:
                raise Bad(f"unknown property 0x{pid:02x}")
            out[pid] = v
        if self.i != end:
            raise Bad("property length mismatch")
        return out

    def done(self):
        return self.i == len(self.b)


def split_packets(stream, offsets=None):
    """[(type, flags, body)] of a byte stream made of whole MQTT packets;
    appends (offset, type name) of each to offsets if given."""
    out, r = [], Reader(stream)
    while not r.done():
        start = r.i
        first = r.u8()
        body = r.take(r.varint())
        out.append((first >> 4, first & 0x0F, body))
        if offsets is not None:
            offsets.append((start, TYPES.get(first >> 4, "?")))
    return out


def parse_session(c2s, s2c):
    """MQTT facts of one connection from its two reassembled streams."""
    f = {"version": None, "client_id": None, "will_topic": None, "subscribe": [],
         "topics": [], "wire_topics": [], "aliases": [], "received_topics": [],
         "topic_alias_max": None, "c2s_types": Counter(), "s2c_types": Counter(),
         "c2s_order": []}
    c_pkts, s_pkts = split_packets(c2s), split_packets(s2c)
    if not c_pkts or c_pkts[0][0] != 1:
        raise Bad("client stream does not start with CONNECT")
    v5 = False
    alias_map = {}
    for t, flags, body in c_pkts:
        f["c2s_types"][TYPES[t]] += 1
        f["c2s_order"].append(TYPES[t])
        r = Reader(body)
        if t == 1:
            if r.string() != "MQTT":
                raise Bad("protocol name is not MQTT")
            level = r.u8()
            f["version"] = {4: "3.1.1", 5: "5"}.get(level, str(level))
            v5 = level == 5
            cflags = r.u8()
            r.u16()  # keep alive
            if v5:
                r.props()
            f["client_id"] = r.string()
            if cflags & 0x04:
                if v5:
                    r.props()
                f["will_topic"] = r.string()
                r.binary()
            if cflags & 0x80:
                r.string()
            if cflags & 0x40:
                r.binary()
        elif t == 3:
            topic = r.string()
            qos = (flags >> 1) & 3
            if qos:
                r.u16()
            alias = r.props().get(0x23) if v5 else None
            if alias is not None:
                if topic:
                    alias_map[alias] = topic
                elif alias in alias_map:
                    topic = alias_map[alias]
                else:
                    raise Bad(f"topic alias {alias} used before it was set")
            elif not topic:
                raise Bad("PUBLISH with empty topic and no alias")
            f["wire_topics"].append(r.b[2:2 + int.from_bytes(r.b[:2], "big")].decode())
            f["aliases"].append(alias)
            f["topics"].append(topic)
            f.setdefault("qos", set()).add(qos)
            r.i = len(r.b)
        elif t == 8:
            r.u16()
            if v5:
                r.props()
            while not r.done():
                f["subscribe"].append(r.string())
                r.u8()
        else:
            r.i = len(r.b)
        if not r.done():
            raise Bad(f"{TYPES[t]} has {len(r.b) - r.i} trailing bytes")
    for t, flags, body in s_pkts:
        f["s2c_types"][TYPES[t]] += 1
        r = Reader(body)
        if t == 2 and v5:
            r.take(2)
            f["topic_alias_max"] = r.props().get(0x22, 0)
        elif t == 3:
            f["received_topics"].append(r.string())
    return f


class Stream:
    """One direction's byte stream, reassembled by sequence number."""

    def __init__(self, isn):
        self.isn = isn
        self.data = bytearray()
        self.have = bytearray()  # 1 per byte received
        self.dups = self.ooo = self.segments = 0
        self.fin = None
        self.log = []  # (packet number, offset, length) of each data segment

    def add(self, seq, payload, fin, n=0):
        off = (seq - self.isn - 1) % 2**32
        if payload:
            self.log.append((n, off, len(payload)))
        if payload:
            self.segments += 1
            end = off + len(payload)
            if end > len(self.data):
                self.data.extend(bytes(end - len(self.data)))
                self.have.extend(bytes(end - len(self.have)))
            prefix = self.have.find(0)
            prefix = len(self.have) if prefix < 0 else prefix
            covered = all(self.have[off:end])
            if covered:
                if bytes(self.data[off:end]) != payload:
                    raise Bad(f"duplicate segment at offset {off} differs from the original")
                self.dups += 1
            elif off > prefix:
                self.ooo += 1
            for i, b in enumerate(payload):
                if self.have[off + i] and self.data[off + i] != b:
                    raise Bad(f"overlapping bytes differ at offset {off + i}")
            self.data[off:end] = payload
            self.have[off:end] = b"\x01" * len(payload)
        if fin:
            self.fin = off + len(payload)

    def complete(self):
        return all(self.have) and self.fin == len(self.data)


def check_file(path):
    """(summary dict, list of problems) for one capture."""
    problems = []
    rr = RawPcapReader(path)
    linktype, snaplen = rr.linktype, rr.snaplen
    rr.close()
    if linktype != 1:
        problems.append(f"link type {linktype}, not Ethernet")
    if snaplen < 65535:
        problems.append(f"snaplen {snaplen}")
    pkts = list(PcapReader(path))
    conns = set()
    syn = synack = 0
    streams = {}
    mss = {}
    c2s_bytes = c2s_segs = 0
    ipv6 = None
    max_frame = 0
    for n, p in enumerate(pkts, 1):
        raw = bytes(p)
        max_frame = max(max_frame, len(raw))
        if TCP not in p:
            problems.append(f"packet {n} is not TCP")
            continue
        ip = p[IP] if IP in p else p[IPv6]
        ipv6 = IPv6 in p
        tcp = p[TCP]
        # checksums: rebuild without them and compare
        q = Ether(raw)
        del q[TCP].chksum
        if IP in q:
            del q[IP].chksum
        q = Ether(bytes(q))
        if q[TCP].chksum != tcp.chksum or (IP in p and q[IP].chksum != p[IP].chksum):
            problems.append(f"packet {n}: bad checksum")
        if MQTT_PORT not in (tcp.sport, tcp.dport):
            problems.append(f"packet {n} not to/from port {MQTT_PORT}")
            continue
        to_srv = tcp.dport == MQTT_PORT
        client = (ip.src, tcp.sport) if to_srv else (ip.dst, tcp.dport)
        conns.add(client)
        payload = bytes(tcp.payload)
        if len(payload) != (ip.len - ip.ihl * 4 - tcp.dataofs * 4 if IP in p
                            else ip.plen - tcp.dataofs * 4):
            problems.append(f"packet {n}: truncated or padded")
            payload = payload[:max(0, ip.len - ip.ihl * 4 - tcp.dataofs * 4)] if IP in p else payload
        key = (client, to_srv)
        if tcp.flags.S:
            if tcp.flags.A:
                synack += 1
            else:
                syn += 1
            if key in streams:
                problems.append(f"packet {n}: second SYN for {client}")
            streams[key] = Stream(tcp.seq)
            for o in tcp.options:
                if o[0] == "MSS":
                    mss[key] = o[1]
            continue
        if key not in streams:
            problems.append(f"packet {n}: data before SYN")
            continue
        peer_mss = mss.get((client, not to_srv))
        if peer_mss and len(payload) > peer_mss:
            problems.append(f"packet {n}: {len(payload)} bytes > MSS {peer_mss}")
        if tcp.flags.R:
            problems.append(f"packet {n}: RST")
        if to_srv and payload:
            c2s_bytes += len(payload)
            c2s_segs += 1
        try:
            streams[key].add(tcp.seq, payload, bool(tcp.flags.F), n)
        except Bad as e:
            problems.append(f"packet {n}: {e}")
    if max_frame > 1514:
        problems.append(f"frame of {max_frame} bytes")
    s = {"packets": len(pkts), "connections": len(conns), "syn": syn, "synack": synack,
         "c2s_payload_bytes": c2s_bytes, "c2s_data_segments": c2s_segs, "ipv6": ipv6,
         "max_frame": max_frame}
    if len(conns) != 1 or syn != 1 or synack != 1:
        problems.append(f"{len(conns)} connections, {syn} SYN, {synack} SYN-ACK (want 1 each)")
        return s, problems
    (client,) = conns
    c2s, s2c = streams.get((client, True)), streams.get((client, False))
    for name, st in (("client", c2s), ("server", s2c)):
        if st is None or not st.complete():
            problems.append(f"{name} stream incomplete (holes or no FIN)")
    if problems:
        return s, problems
    s.update(c2s_stream_bytes=len(c2s.data), s2c_stream_bytes=len(s2c.data),
             duplicated_segments=c2s.dups, out_of_order_segments=c2s.ooo,
             client=f"{client[0]}:{client[1]}")
    try:
        s["mqtt"] = parse_session(bytes(c2s.data), bytes(s2c.data))
        starts = []
        split_packets(bytes(c2s.data), starts)
        s["segments"] = [(n, off, ln, [f"{t}@{o}" for o, t in starts if off <= o < off + ln])
                         for n, off, ln in c2s.log]
    except Bad as e:
        problems.append(f"MQTT: {e}")
    return s, problems


def topics_for_expect(topics):
    return [t if len(t) <= 256 else {"length": len(t), "prefix": t[:8]} for t in topics]


def compare(s, e):
    """Problems where the capture's facts differ from its expect.json entry."""
    m = s["mqtt"]
    qos = sorted(m.get("qos", []))
    got = {"version": m["version"], "client_id": m["client_id"],
           "topics": topics_for_expect(m["topics"]),
           "publish_count": m["c2s_types"]["PUBLISH"],
           "subscribe": m["subscribe"] or None, "will_topic": m["will_topic"],
           "ipv6": s["ipv6"], "received_topics": m["received_topics"],
           "qos": qos[0] if len(qos) == 1 else (qos or None),
           "topic_aliases": any(a is not None for a in m["aliases"]),
           "broker_topic_alias_max": m["topic_alias_max"],
           "duplicated_segments": s["duplicated_segments"],
           "out_of_order_segments": s["out_of_order_segments"],
           "min_client_data_segments": s["c2s_data_segments"],
           "max_client_data_segments": s["c2s_data_segments"]}
    probs = []
    for k, v in e.items():
        if k in ("description", "derived_from"):
            continue
        if k not in got:
            probs.append(f"expect.json key {k} unknown to verify.py")
        elif k.startswith("min_") and got[k] < v or k.startswith("max_") and got[k] > v:
            probs.append(f"{k[4:]}: got {got[k]}, expected {k[:3]} {v}")
        elif not k.startswith(("min_", "max_")) and got[k] != v:
            probs.append(f"{k}: got {got[k]!r}, expected {v!r}")
    if m["c2s_order"][-1] != "DISCONNECT":
        probs.append("client stream does not end with DISCONNECT")
    return probs


def short(t):
    return t if len(t) <= 40 else f"{t[:12]}...({len(t)} bytes)"


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(d, "expect.json")) as fh:
        expect = json.load(fh)
    args = sys.argv[2:]
    segs = "-s" in args
    names = [a for a in args if a != "-s"] or sorted(expect)
    bad = 0
    for name in names:
        path = os.path.join(d, name)
        if not os.path.exists(path):
            print(f"{name}: MISSING")
            bad += 1
            continue
        s, probs = check_file(path)
        if not probs and name in expect:
            probs = compare(s, expect[name])
        elif name not in expect:
            probs.append("not in expect.json")
        print(f"{name}: {s['packets']} packets, {s['c2s_data_segments']} client data segments, "
              f"{s['c2s_payload_bytes']} client payload bytes"
              + (f" ({s['c2s_stream_bytes']} stream), dup {s['duplicated_segments']}, "
                 f"out-of-order {s['out_of_order_segments']}" if "c2s_stream_bytes" in s else "")
              + (", IPv6" if s["ipv6"] else ""))
        if "mqtt" in s:
            m = s["mqtt"]
            print(f"  MQTT {m['version']} client {m['client_id']!r}"
                  + (f" will {m['will_topic']!r}" if m["will_topic"] else "")
                  + (f" subscribe {m['subscribe']}" if m["subscribe"] else "")
                  + (f" broker TopicAliasMaximum {m['topic_alias_max']}"
                     if m["topic_alias_max"] is not None else ""))
            print("  client->broker: " + " ".join(f"{k}x{v}" for k, v in m["c2s_types"].items()))
            print("  broker->client: " + " ".join(f"{k}x{v}" for k, v in m["s2c_types"].items()))
            if m["topics"]:
                wire = ["alias %d%s" % (a, "=" + short(w) if w else "") if a else short(w)
                        for w, a in zip(m["wire_topics"], m["aliases"])]
                print(f"  PUBLISH topics: {[short(t) for t in m['topics']]}"
                      + (f" (wire: {wire})" if any(m["aliases"]) else ""))
            if m["received_topics"]:
                print(f"  received PUBLISH topics: {m['received_topics']}")
        if segs and "segments" in s:
            print("  client data segments (capture order): #k frame N: stream offset+length,"
                  " MQTT packets starting in it")
            for k, (n, off, ln, starts) in enumerate(s["segments"], 1):
                print(f"    #{k} frame {n}: {off}+{ln} {' '.join(starts) or '-'}")
        for p in probs:
            print(f"  PROBLEM: {p}")
        bad += bool(probs)
    extra = sorted(set(f for f in os.listdir(d) if f.endswith(".pcap")) - set(expect))
    for f in extra:
        print(f"{f}: not in expect.json")
    print(f"verify: {len(names) - bad}/{len(names)} captures OK")
    return 1 if bad or extra else 0


if __name__ == "__main__":
    sys.exit(main())
