#!/usr/bin/env python3
"""Prints the before/after table of a benches/pairs folder: per scenario and
build, the throughput, p99 and the router's CPU per unit of work (per call,
per delivered event, per join), one column per round, and the median ratio.

    python3 benches/pairs-table.py DIR
"""
import glob
import json
import os
import statistics
import sys


def per_unit(d):
    """(unit, count, router CPU seconds, throughput, p99 µs) of one result."""
    cpu = (d.get("router") or {}).get("cpu_s")
    if d.get("rpc"):
        r = d["rpc"]
        return "call", r["calls"], cpu, r["calls_per_s"], r["latency"]["p99_us"]
    if d.get("fanout"):
        f = d["fanout"]
        return "event", f["delivered"], cpu, f["events_per_s"], f["latency"]["p99_us"]
    if d.get("sessions"):
        s = d["sessions"]
        return "join", s["opened"], cpu, s["opens_per_s"], s["latency"]["p99_us"]
    return None


def main():
    folder = sys.argv[1]
    rows = {}
    for path in sorted(glob.glob(os.path.join(folder, "*-r*.jsonl"))):
        build, _, rnd = os.path.basename(path)[:-6].rpartition("-r")
        for line in open(path):
            d = json.loads(line)
            name = d.get("matrix", {}).get("name") or d.get("scenario")
            u = per_unit(d)
            if u is None or not u[1] or u[2] is None:
                continue
            rows.setdefault(name, {}).setdefault(build, []).append((int(rnd), u))
    print("| scenario | build | per round: throughput/s · p99 · router CPU per unit | median CPU per unit |")
    print("|---|---|---|---:|")
    for name in sorted(rows):
        med = {}
        for build in ("before", "after"):
            runs = sorted(rows[name].get(build, []))
            if not runs:
                continue
            cells, per = [], []
            for _, (unit, n, cpu, tput, p99) in runs:
                ns = cpu / n * 1e9
                per.append(ns)
                cells.append(f"{tput/1e3:,.1f} k · {p99/1e3:,.2f} ms · {ns:,.0f} ns")
            med[build] = statistics.median(per)
            print(f"| {name} | {build} | {' / '.join(cells)} | {med[build]:,.0f} ns/{unit} |")
        if "before" in med and "after" in med:
            print(f"| {name} | after/before | | {med['after']/med['before']:.2f} |")


if __name__ == "__main__":
    main()
