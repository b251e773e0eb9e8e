"""MQTT 3.1.1 packets written and read by hand, for the end-to-end tools that
need bytes a client library would not send (tests/e2e/hostile.py, the
hostile input and split hellos of tests/e2e/tls_clients.py, and the asyncio
clients of tests/e2e/mqtt_clients.py). Test-only: a library module, not a
test; its users assert."""

import struct

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14


def varint(n):
    """A variable byte integer (3.1.1 section 2.2.3)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    """A length-prefixed string (bytes or str)."""
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_packet(client_id, keepalive=60, clean=True):
    """CONNECT, 3.1.1 (clean session unless clean=False)."""
    flags = 0x02 if clean else 0
    body = mqtt_str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + mqtt_str(client_id)
    return packet(CONNECT << 4, body)


def publish_packet(topic, payload, qos=0, pid=0, dup=False):
    """PUBLISH; pid only for QoS > 0."""
    first = (PUBLISH << 4) | (qos << 1) | (0x08 if dup else 0)
    body = mqtt_str(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return packet(first, body)


def subscribe_packet(pid, filt, qos=0):
    return packet((SUBSCRIBE << 4) | 0x02, struct.pack("!H", pid) + mqtt_str(filt) + bytes([qos]))


class Packets:
    """Reassembles MQTT packets from a byte stream: feed() bytes, next()
    gives (type, body) or None until one is whole; ValueError for a
    remaining length of more than 4 bytes."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def next(self):
        b = self.buf
        if len(b) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(b):
                return None
            n += (b[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if not b[i - 1] & 0x80:
                break
            if i > 4:
                raise ValueError("bad remaining length")
        if len(b) < i + n:
            return None
        ptype, body = b[0] >> 4, bytes(b[i : i + n])
        del b[: i + n]
        return ptype, body
