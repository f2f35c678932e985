#!/usr/bin/env python3
"""HTTP load for the bridge: POSTs one JSON body over keep-alive connections
with pipelining (DEPTH requests in flight per connection), in PROCS processes,
and prints one JSON line: requests answered, by status, seconds, per second.

    load.py URL BODY --requests N [--conns C] [--depth D] [--procs P]

Plain asyncio streams, no HTTP library: each response is read by its
Content-Length, so a process costs little per request and several of them
are not the ceiling of a router that answers a few hundred thousand a second.
"""
import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from urllib.parse import urlsplit


async def one_conn(host, port, request, n, depth, counts):
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0
    done = 0
    first = min(depth, n)
    writer.write(request * first)
    sent = first
    await writer.drain()
    while done < n:
        line = await reader.readline()
        if not line:
            counts["closed"] = counts.get("closed", 0) + (n - done)
            break
        status = line.split(b" ", 2)[1].decode() if b" " in line else "bad"
        length = 0
        chunked = False
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            # Twisted (Crossbar.io) answers with chunked bodies.
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await reader.readexactly(length)
        counts[status] = counts.get(status, 0) + 1
        done += 1
        if sent < n:
            writer.write(request)
            sent += 1
            if sent % 16 == 0:
                await writer.drain()
    writer.close()


async def run(url, body, n, conns, depth):
    u = urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    data = body.encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data
    counts = {}
    per = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    await asyncio.gather(
        *(one_conn(u.hostname, u.port, request, k, depth, counts) for k in per if k)
    )
    return counts


def worker(args, n, q):
    start = time.perf_counter()
    counts = asyncio.run(run(args.url, args.body, n, args.conns, args.depth))
    q.put((counts, time.perf_counter() - start))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("body")
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--procs", type=int, default=1)
    args = p.parse_args()
    q = multiprocessing.Queue()
    share = [args.requests // args.procs + (1 if i < args.requests % args.procs else 0) for i in range(args.procs)]
    start = time.perf_counter()
    procs = [multiprocessing.Process(target=worker, args=(args, k, q)) for k in share if k]
    for pr in procs:
        pr.start()
    total = {}
    for _ in procs:
        counts, _secs = q.get()
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    for pr in procs:
        pr.join()
    secs = time.perf_counter() - start
    answered = sum(v for k, v in total.items() if k != "closed")
    ok = total.get("200", 0)
    print(json.dumps({
        "requests": args.requests, "answered": answered, "ok": ok, "by_status": total,
        "seconds": round(secs, 3), "per_s": round(ok / secs, 1) if secs > 0 else 0,
        "conns": args.conns * len(procs), "depth": args.depth,
    }))
    sys.exit(0 if ok == args.requests else 1)


if __name__ == "__main__":
    main()
