#!/usr/bin/env python3
"""Router memory per connection that has no session yet: held in the
WebSocket opening handshake, upgraded but silent (no HELLO), and, for
comparison, joined and idle. Starts `shardwamp run` (1 shard) with long
handshake and HELLO deadlines, opens N connections of each kind from this
process, and prints the router's RSS growth per connection (VmRSS after
minus before, over N).

    python3 benches/connection_memory.py target/release/shardwamp [N]
"""
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

CONFIG = """
[router]
shards = 1

[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }
options = { open_handshake_timeout = 600000, hello_timeout = 600000 }
"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def upgrade(addr):
    s = socket.create_connection(addr)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the upgrade")
        buf += chunk
    assert buf.startswith(b"HTTP/1.1 101"), buf[:40]
    return s


def frame(text):
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    n = len(data)
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def joined(addr):
    s = upgrade(addr)
    s.sendall(frame(json.dumps([1, "realm1", {"roles": {"subscriber": {}}}])))
    got = s.recv(4096)
    assert b"[2," in got, got[:60]
    return s


def measure(pid, addr, kind, n, report=True):
    time.sleep(0.3)
    before = rss_kib(pid)
    held = []
    for _ in range(n):
        if kind == "handshaking":
            s = socket.create_connection(addr)
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        elif kind == "upgraded, no HELLO":
            s = upgrade(addr)
        else:
            s = joined(addr)
        held.append(s)
    time.sleep(0.5)
    after = rss_kib(pid)
    if report:
        print(f"{kind:>20}: {n} connections, RSS +{after - before} KiB, {(after - before) * 1024 / n / 1024:.2f} KiB each")
    for s in held:
        s.close()
    time.sleep(0.5)


def run_router(binary, path):
    p = subprocess.Popen(
        [binary, "run", "--config", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    for line in p.stdout:
        m = re.match(r"listening: ws \(websocket\) on ws://([\d.]+):(\d+)/ws", line)
        if m:
            return p, (m.group(1), int(m.group(2)))
    raise RuntimeError("the router did not start")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(CONFIG)
    try:
        # A fresh router per kind: memory freed by one kind stays in the
        # allocator and would hide the next kind's growth.
        for kind in ["handshaking", "upgraded, no HELLO", "joined, idle"]:
            p, addr = run_router(binary, f.name)
            try:
                measure(p.pid, addr, "joined, idle", 100, report=False)  # warm-up
                measure(p.pid, addr, kind, n)
            finally:
                p.terminate()
                p.wait()
    finally:
        os.unlink(f.name)


if __name__ == "__main__":
    main()
