#!/usr/bin/python3
"""MQTT clients that make-pcaps.sh runs inside the client namespace for the
captures mosquitto_pub / mosquitto_sub cannot make.

  clients.py multi HOST   v3.1.1, client id multi-1: CONNECT, wait for the
                          CONNACK, five QoS 0 PUBLISH (apples/a .. apples/e)
                          in a single send(), DISCONNECT, FIN
  clients.py alias HOST   MQTT 5 (paho-mqtt), client id alias-1: three QoS 1
                          PUBLISH; the first carries the topic and Topic
                          Alias 1, the others an empty topic and Topic Alias 1

Needs Debian's python3 (/usr/bin/python3) for paho-mqtt.
"""
import socket
import sys
import threading
import time


def enc_str(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


def enc_len(n):
    out = bytearray()
    while True:
        d, n = n % 128, n // 128
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first_byte, body):
    return bytes([first_byte]) + enc_len(len(body)) + body


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("multi: connection closed early")
        buf += chunk
    return buf


def multi(host):
    s = socket.create_connection((host, 1883), timeout=10)
    # v3.1.1 CONNECT: "MQTT", level 4, flags clean session, keep alive 60
    s.sendall(packet(0x10, enc_str("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big")
                     + enc_str("multi-1")))
    ack = recv_exact(s, 4)
    if ack != b"\x20\x02\x00\x00":
        raise SystemExit(f"multi: unexpected CONNACK {ack.hex()}")
    pubs = b"".join(packet(0x30, enc_str(f"apples/{c}") + f"fruit {c}".encode())
                    for c in "abcde")
    if s.send(pubs) != len(pubs):  # one send(): one segment on an idle connection
        raise SystemExit("multi: short send")
    time.sleep(0.2)
    s.sendall(b"\xe0\x00")  # DISCONNECT
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()


def alias(host):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    topic = "apples/orchard/alias"
    c = mqtt.Client(client_id="alias-1", protocol=mqtt.MQTTv5)
    connected = threading.Event()
    got = {}

    def on_connect(client, userdata, flags, rc, properties=None):
        got["rc"] = rc
        got["tam"] = getattr(properties, "TopicAliasMaximum", 0) if properties else 0
        connected.set()

    c.on_connect = on_connect
    c.connect(host, 1883, keepalive=60)
    c.loop_start()
    try:
        if not connected.wait(10):
            raise SystemExit("alias: no CONNACK")
        if got["rc"] != 0 or got["tam"] < 1:
            raise SystemExit(f"alias: CONNACK rc={got['rc']} TopicAliasMaximum={got['tam']}")
        for i, t in enumerate([topic, "", ""]):
            props = Properties(PacketTypes.PUBLISH)
            props.TopicAlias = 1
            info = c.publish(t, f"alias {i}", qos=1, properties=props)
            info.wait_for_publish(10)
            if not info.is_published():
                raise SystemExit(f"alias: PUBLISH {i} not acknowledged")
        c.disconnect()
    finally:
        c.loop_stop()
    print(f"alias: broker TopicAliasMaximum={got['tam']}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("multi", "alias"):
        raise SystemExit("usage: clients.py multi|alias HOST")
    {"multi": multi, "alias": alias}[sys.argv[1]](sys.argv[2])
