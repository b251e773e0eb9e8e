#!/usr/bin/python3
"""Makes the derived captures from the real ones (run by make-pcaps.sh after
the captures; see README.md).

  derive.py DIR

Only the order and number of the client's data segments change; every byte
of every frame comes from the real capture. A copied segment gets the next
IPv4 identification (as a real retransmission would) and both checksums are
recomputed for every frame written.

  v311-qos1-retrans.pcap      from v311-qos1.pcap: client data segments 1
                              (CONNECT) and 2 (the first PUBLISH) each
                              repeated once, the copy right after the next
                              broker->client packet following the original
  v311-qos1-reorder.pcap      from v311-qos1.pcap: client data segments 2
                              and 3 swapped
  v311-longtopic-reorder.pcap from v311-longtopic.pcap: client data segments
                              4<->5, 11<->12 and 21<->22 swapped; segment 16
                              repeated once, after segment 18

Client data segments are numbered from 1 in capture order (TCP segments
from the client to port 1883 with a payload).

Needs Debian's python3 (/usr/bin/python3) for scapy.
"""
import os
import sys

from scapy.all import IP, TCP, Ether, rdpcap, wrpcap

MQTT_PORT = 1883


def fixed(p, time):
    """p with IPv4 and TCP checksums recomputed, at the given timestamp."""
    q = Ether(bytes(p))
    if IP in q:
        del q[IP].chksum
    del q[TCP].chksum
    q = Ether(bytes(q))
    q.time = time
    return q


def data_indexes(pkts):
    """Indexes (into pkts) of the client's data segments, in order."""
    return [i for i, p in enumerate(pkts)
            if TCP in p and p[TCP].dport == MQTT_PORT and len(p[TCP].payload)]


def copy_of(p):
    q = Ether(bytes(p))
    if IP in q:
        q[IP].id = (q[IP].id + 1) & 0xFFFF
    return q


def write(path, frames):
    """Writes frames (in their new order) with checksums recomputed; a copy
    inserted at the same timestamp as its predecessor is moved 1 us later."""
    out = [fixed(p, p.time) for p in frames]
    for i in range(1, len(out)):  # inserted copies: keep time monotonic
        if out[i].time <= out[i - 1].time:
            out[i].time = out[i - 1].time + 0.000001
    wrpcap(path, out, linktype=1)


def swap(pkts, d, a, b):
    """Swap client data segments a and b (1-based) in pkts, keeping each slot's time."""
    i, j = d[a - 1], d[b - 1]
    ti, tj = pkts[i].time, pkts[j].time
    pkts[i], pkts[j] = pkts[j], pkts[i]
    pkts[i].time, pkts[j].time = ti, tj


def retrans(src, dst):
    pkts = list(rdpcap(src))
    d = data_indexes(pkts)
    if len(d) < 3:
        raise SystemExit(f"{src}: only {len(d)} client data segments")
    # insert after the first broker->client packet following the original
    inserts = []
    for n in (1, 2):
        i = d[n - 1]
        after = next((k for k in range(i + 1, len(pkts)) if pkts[k][TCP].sport == MQTT_PORT), i)
        inserts.append((after, copy_of(pkts[i])))
    for after, c in sorted(inserts, key=lambda x: x[0], reverse=True):
        c.time = pkts[after].time
        pkts.insert(after + 1, c)
    write(dst, pkts)


def reorder(src, dst, pairs, dup=None):
    pkts = list(rdpcap(src))
    d = data_indexes(pkts)
    need = max([b for _, b in pairs] + ([dup[1]] if dup else []))
    if len(d) < need:
        raise SystemExit(f"{src}: only {len(d)} client data segments, need {need}")
    copy = None
    if dup:
        copy = copy_of(pkts[d[dup[0] - 1]])
    for a, b in pairs:
        swap(pkts, d, a, b)
    if dup:
        at = d[dup[1] - 1]
        copy.time = pkts[at].time
        pkts.insert(at + 1, copy)
    write(dst, pkts)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    j = lambda n: os.path.join(d, n)
    retrans(j("v311-qos1.pcap"), j("v311-qos1-retrans.pcap"))
    reorder(j("v311-qos1.pcap"), j("v311-qos1-reorder.pcap"), [(2, 3)])
    reorder(j("v311-longtopic.pcap"), j("v311-longtopic-reorder.pcap"),
            [(4, 5), (11, 12), (21, 22)], dup=(16, 18))
    for n in ("v311-qos1-retrans.pcap", "v311-qos1-reorder.pcap", "v311-longtopic-reorder.pcap"):
        print(f"derive: wrote {j(n)}")


if __name__ == "__main__":
    main()
