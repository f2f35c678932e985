"""Runs Autobahn WebSocket test cases (kosoku's fuzzing client) against a WAMP
router, for tests/autobahn.rs.

kosoku's client offers no subprotocol and has no option to; shardwamp refuses
an upgrade that offers no WAMP subprotocol. So the cases go through a small
TCP proxy that, in the opening handshake only, adds
`Sec-WebSocket-Protocol: wamp.2.json` to the request and removes the
router's `Sec-WebSocket-Protocol` reply (kosoku's client, like tungstenite's,
fails a handshake whose server names a subprotocol it did not offer). After
the handshake every byte passes through unchanged, in both directions, and
the proxy mirrors how each side ends: an EOF becomes a half-close (FIN) on
the other side, a reset becomes a reset (SO_LINGER 0), so kosoku judges the
router's closing behaviour, not the proxy's.

Usage: python run_cases.py HOST:PORT PATH CASE_GLOB...
Prints one JSON object per case on stdout: "case", "behavior",
"behavior_close", "remote_close_code", "duration_ms", "result",
"result_close", "expects_echo" (whether any outcome the case accepts has the
server send a message back) and "expected_close_codes".
and exits 0 once every case ran (whatever the verdicts: the Rust test judges
them), non-zero when the run itself failed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys

from kosoku import FailureError, run_fuzzingclient

SUBPROTOCOL = b"wamp.2.json"


def _rewrite_request(head: bytes) -> bytes:
    """The upgrade request with our subprotocol offered (any other offer removed)."""
    lines = head.split(b"\r\n")
    kept = [l for l in lines[1:] if l and not l.lower().startswith(b"sec-websocket-protocol:")]
    return b"\r\n".join([lines[0], *kept, b"Sec-WebSocket-Protocol: " + SUBPROTOCOL, b"", b""])


def _rewrite_response(head: bytes) -> bytes:
    """The upgrade response without the subprotocol kosoku did not offer."""
    lines = head.split(b"\r\n")
    kept = [l for l in lines if l and not l.lower().startswith(b"sec-websocket-protocol:")]
    return b"\r\n".join([*kept, b"", b""])


async def _read_head(r: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """An HTTP head (up to and including the blank line) and what followed it."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = await r.read(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    return buf[:end], buf[end:]


def _reset(w: asyncio.StreamWriter) -> None:
    sock = w.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    w.transport.abort()


async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> str:
    """Copies r to w until r ends; mirrors the end on w. 'eof' or 'reset'."""
    try:
        while True:
            chunk = await r.read(65536)
            if not chunk:
                break
            w.write(chunk)
            await w.drain()
    except (ConnectionResetError, BrokenPipeError):
        _reset(w)
        return "reset"
    try:
        if w.can_write_eof():
            w.write_eof()
    except OSError:
        pass
    return "eof"


async def _serve(target: tuple[str, int], cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
    try:
        sr, sw = await asyncio.open_connection(*target)
    except OSError:
        _reset(cw)
        return
    try:
        head, rest = await _read_head(cr)
        sw.write(_rewrite_request(head) + rest)
        await sw.drain()
        head, rest = await _read_head(sr)
        cw.write(_rewrite_response(head) + rest)
        await cw.drain()
    except (EOFError, OSError):
        _reset(cw)
        _reset(sw)
        return
    a = asyncio.ensure_future(_pipe(cr, sw))
    b = asyncio.ensure_future(_pipe(sr, cw))
    done, _ = await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
    if any(t.result() == "reset" for t in done):
        # one side reset: reset the other too, as a direct connection would look
        _reset(cw)
        _reset(sw)
        for t in (a, b):
            t.cancel()
        return
    # one side half-closed; let the other finish, within a bound
    try:
        await asyncio.wait_for(asyncio.gather(a, b), 10)
    except asyncio.TimeoutError:
        pass
    cw.close()
    sw.close()


def _plain(v):
    """kosoku's case data (dicts, lists, tuples of str/bytes/ints) as JSON values."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", "backslashreplace")
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


async def main() -> int:
    addr, path, globs = sys.argv[1], sys.argv[2], sys.argv[3:]
    host, port = addr.rsplit(":", 1)
    target = (host, int(port))
    server = await asyncio.start_server(lambda r, w: _serve(target, r, w), "127.0.0.1", 0)
    pport = server.sockets[0].getsockname()[1]
    try:
        results = await run_fuzzingclient(f"ws://127.0.0.1:{pport}{path}", cases=globs, concurrency=4)
    except FailureError as f:
        results = f.results
    finally:
        server.close()
    if not results:
        print("kosoku ran no case", file=sys.stderr)
        return 2
    for r in results:
        print(json.dumps({
            "case": r.case_id,
            "behavior": r.behavior.value,
            "behavior_close": r.behavior_close.value,
            "remote_close_code": r.remote_close_code,
            "duration_ms": r.duration,
            "result": r.result,
            "result_close": r.result_close,
            # Whether any accepted outcome has the server send a message:
            # an echo, which a WAMP router does not do.
            "expects_echo": any(
                ev[0] == "message" for seq in r.expected.values() for ev in seq
            ),
            "expected_close_codes": _plain(r.expected_close.get("closeCode", [])),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
