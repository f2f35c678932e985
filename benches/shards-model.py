#!/usr/bin/env python3
"""How N shards scale, from what crossing a shard costs (issue 16).

Reads the lines `cargo bench --bench shards` prints (files given as
arguments, or stdin) and prints, as Markdown, the per-unit costs it derives
and the throughput the model in docs/benchmarks.md ("Crossing shards: costs
and a model") predicts for N = 1, 2, 4, 8, 16 shards, for fan-out 1 -> 1000
and rpc 4 -> 1, once per batch size measured (messages per channel wake-up).

    cargo bench --bench shards | tee target/shards.txt
    python3 benches/shards-model.py target/shards.txt

The costs (ns of router CPU; thread CPU time, not wall time):

    pub/sub  p  per publication on the publisher's shard (parse, match)
             e  per delivered event
             s  per peer message sent (a publication handed to another shard)
             r  per peer message received (its wake-up share, unpacking)
      from   pubsub/local = p + e          fanout-1000/local = p + 1000 e
             pubsub/cross/batch-B/send = p + s
             pubsub/cross/batch-B/recv = r + e
    rpc      c_local  a call with caller and callee on one shard
             c_send   the caller's shard's part of a crossing call (both legs)
             c_recv   the callee's shard's part of it
      from   call/local, call/cross/batch-B/caller, call/cross/batch-B/callee

The model (sessions placed uniformly: a message crosses with probability
(N-1)/N; every shard's core is the only limit):

    fan-out 1 -> M, one publisher, M/N subscribers a shard:
        publisher's shard per publication  p + (M/N) e + (N-1) s
        every other shard                  r + (M/N) e
        events/s = M / max(those two)
    fan-out, publishers on every shard (the work spread evenly):
        events/s = N M / (p + M e + (N-1)(s + r))
    rpc 4 -> 1 (4 callers, 1 callee):
        the callee's shard per call        (1/N) c_local + ((N-1)/N) c_recv
        a caller's shard per call          ceil(4/N)/4 c_send   (N > 1)
        calls/s = 1 / max(those two)
    rpc, callers and callees on every shard (spread evenly):
        calls/s = N / ((1/N) c_local + ((N-1)/N)(c_send + c_recv))

stdlib only.
"""

import math
import re
import sys

LINE = re.compile(r"^(\S+)\s+([0-9.]+)\s+(\S.*)$")
SHARDS = [1, 2, 4, 8, 16]
FANOUT = 1000
CALLERS = 4


def read(lines):
    """{case: value} of the bench's output lines (ns unless the unit says)."""
    out = {}
    for line in lines:
        if line.startswith("#"):
            continue
        m = LINE.match(line.strip())
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def si(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.2f} {suffix}"
    return f"{v:.0f}"


def fanout(n, p, e, s, r, m=FANOUT):
    one = 1e9 * m / max(p + m / n * e + (n - 1) * s, r + m / n * e if n > 1 else 0)
    spread = 1e9 * n * m / (p + m * e + (n - 1) * (s + r))
    return one, spread


def rpc(n, local, send, recv, callers=CALLERS):
    callee = local / n + (n - 1) / n * recv
    caller = math.ceil(callers / n) / callers * send if n > 1 else 0.0
    one = 1e9 / max(callee, caller)
    spread = 1e9 * n / (local / n + (n - 1) / n * (send + recv))
    return one, spread


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    lines = []
    if len(argv) > 1:
        for path in argv[1:]:
            with open(path, encoding="utf-8") as f:
                lines.extend(f)
    else:
        lines = sys.stdin.readlines()
    v = read(lines)
    for line in lines:
        if line.startswith("# shards bench"):
            print(f"From: {line[2:].strip()}\n")
            break
    batches = sorted(
        {int(m.group(1)) for k in v for m in [re.match(r".*/cross/batch-(\d+)/", k)] if m}
    )
    need = ["pubsub/local", "fanout-1000/local", "call/local"]
    missing = [k for k in need if k not in v]
    if missing or not batches:
        print(
            "shards-model: missing from the input: "
            + ", ".join(missing or ["every */cross/batch-B case"])
            + " (run the whole bench: cargo bench --bench shards)",
            file=sys.stderr,
        )
        return 2
    l1, l1000 = v["pubsub/local"], v["fanout-1000/local"]
    e = max((l1000 - l1) / (FANOUT - 1), 0.0)
    p = max(l1 - e, 0.0)
    c_local = v["call/local"]
    print("Per-unit costs, ns of router CPU (from the bench's lines):\n")
    print("| batch | p | e | s | r | c_local | c_send | c_recv | wake-ups/msg (pub/sub, call) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    costs = {}
    for b in batches:
        pre = f"pubsub/cross/batch-{b}"
        cpre = f"call/cross/batch-{b}"
        try:
            s = max(v[f"{pre}/send"] - p, 0.0)
            r = max(v[f"{pre}/recv"] - e, 0.0)
            send, recv = v[f"{cpre}/caller"], v[f"{cpre}/callee"]
        except KeyError as k:
            print(f"shards-model: batch {b}: {k} missing", file=sys.stderr)
            continue
        costs[b] = (s, r, send, recv)
        wake = f"{v.get(pre + '/wakeups', float('nan')):.3f}, {v.get(cpre + '/wakeups', float('nan')):.3f}"
        print(
            f"| {b} | {p:.0f} | {e:.1f} | {s:.0f} | {r:.0f} | {c_local:.0f} | {send:.0f} | {recv:.0f} | {wake} |"
        )
    if not costs:
        return 2
    check = [
        (b, v.get(f"fanout-1000/cross/batch-{b}/recv"))
        for b in costs
        if f"fanout-1000/cross/batch-{b}/recv" in v
    ]
    if check:
        print(
            "\nCheck: fanout-1000/cross/batch-B/recv measured against r + 1000 e: "
            + "; ".join(
                f"batch {b}: {m:.0f} vs {costs[b][1] + FANOUT * e:.0f} ns" for b, m in check
            )
        )
    bs = sorted(costs)
    print(f"\nPredicted throughput (the model above), by messages per wake-up:\n")
    head = ["N"]
    for b in bs:
        head.append(f"fan-out 1→{FANOUT} ev/s, batch {b}")
    for b in bs:
        head.append(f"rpc {CALLERS}→1 calls/s, batch {b}")
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for n in SHARDS:
        row = [str(n)]
        for b in bs:
            s, r, _, _ = costs[b]
            row.append(si(fanout(n, p, e, s, r)[0]))
        for b in bs:
            _, _, send, recv = costs[b]
            row.append(si(rpc(n, c_local, send, recv)[0]))
        print("| " + " | ".join(row) + " |")
    print(f"\nWith the load spread over every shard (publishers, callers and callees on each):\n")
    spread_head = ["N"]
    spread_head += [f"fan-out, N publishers × {FANOUT} ev/s, batch {b}" for b in bs]
    spread_head += [f"rpc, N callers → N callees calls/s, batch {b}" for b in bs]
    print("| " + " | ".join(spread_head) + " |")
    print("|" + " --- |" * len(head))
    for n in SHARDS:
        row = [str(n)]
        for b in bs:
            s, r, _, _ = costs[b]
            row.append(si(fanout(n, p, e, s, r)[1]))
        for b in bs:
            _, _, send, recv = costs[b]
            row.append(si(rpc(n, c_local, send, recv)[1]))
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
