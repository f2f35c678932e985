#!/usr/bin/env python3
"""Tables and plots of benches/run-matrix results (JSON lines).

    benches/plot.py table [--markdown] [--brief] [--only NAME] FILE_OR_DIR...
    benches/plot.py repeats [--markdown] FILE_OR_DIR...
    benches/plot.py plot [--out DIR] DIR...

`table` needs only the standard library: one row per (scenario, router), the
figures the generator reported (throughput, latency percentiles, delivery
ratio, router CPU and peak RSS; for sessions, joins/s and RSS per session).

`repeats` groups runs of the same scenario by router (a trailing "-N" in the
router's name, as in `run-matrix --name shardwamp-2`, is a repeat) and
prints each group's throughputs, their median and spread, and the median p99.

`plot` needs matplotlib (benches/requirements-plot.txt; run-matrix's docs
install it in target/bench/plot-venv). From the offered-load sweeps it draws
into the first DIR (or --out):

- fanout-sweep.png: delivered events/s and p99 latency against offered
  events/s (sweep-fanout-*: open loop, fixed publication rate);
- rpc-sweep.png: calls/s and p99 latency against offered calls/s
  (sweep-rpc-*: open loop, fixed call rate);
- headline.png: throughput of the headline scenarios, side by side.

Each line of a results file is one router's run of one scenario; the
router's name is `matrix.router` (shardwamp, crossbar, ...).
"""

import argparse
import json
import os
import sys

# --- reading -------------------------------------------------------------------


def load(paths):
    """Every record of the given .jsonl files or folders (their *.jsonl)."""
    out = []
    for p in paths:
        files = []
        if os.path.isdir(p):
            files = sorted(
                os.path.join(p, f) for f in os.listdir(p) if f.endswith(".jsonl")
            )
        else:
            files = [p]
        for f in files:
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        out.append(json.loads(line))
    return out


def name(r):
    return r.get("matrix", {}).get("name") or r.get("scenario") or "?"


def router(r):
    return r.get("matrix", {}).get("router") or "?"


def rss_per_session(r):
    """(RSS at the end of the hold - idle RSS) / sessions held, bytes."""
    s = r.get("sessions") or {}
    ru = r.get("router") or {}
    idle = r.get("matrix", {}).get("router_rss_idle_bytes")
    held = s.get("held") or 0
    if not held or not ru.get("rss_bytes") or idle is None:
        return None
    return (ru["rss_bytes"] - idle) / held


def offered_events(r):
    """Offered events/s of a fixed-rate fan-out run (rate x subscribers per topic)."""
    p = r.get("params", {}).get("fanout", {})
    pace = p.get("pace", {})
    if "rate" not in pace:
        return None
    return pace["rate"] * p.get("subscribers", 0) / max(p.get("topics", 1), 1)


def offered_calls(r):
    """Offered calls/s of a fixed-rate rpc run (None for a closed loop)."""
    return r.get("params", {}).get("rpc", {}).get("rate")


# --- formatting ----------------------------------------------------------------


def si(v, digits=3):
    if v is None:
        return "-"
    for div, suf in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= div:
            x = v / div
            return f"{x:.{max(digits - len(str(int(x))), 0)}f}{suf}"
    return f"{v:.0f}"


def us(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e3:
        return f"{v / 1e3:.2f} ms"
    return f"{v:.0f} µs"


def mib(b):
    if b is None:
        return "-"
    return f"{b / 2**20:.1f} MiB"


def kib(b):
    if b is None:
        return "-"
    return f"{b / 1024:.1f} KiB"


def row(r):
    """The table's cells for one record."""
    lat = r.get("latency") or {}
    ru = r.get("router") or {}
    unit = r.get("throughput_unit") or ""
    thr = r.get("throughput")
    tput = "-" if not thr else f"{si(thr)} {unit}/s"
    extra = ""
    if r.get("scenario") == "sessions":
        s = r.get("sessions") or {}
        extra = f"held {s.get('held', 0):,}; RSS/session {kib(rss_per_session(r))}"
    elif r.get("scenario") == "mixed":
        f = r.get("fanout") or {}
        c = r.get("rpc") or {}
        s = r.get("sessions") or {}
        extra = (
            f"+ {si(c.get('calls_per_s'))} calls/s (p99 {us((c.get('latency') or {}).get('p99_us'))})"
            f", {s.get('held', 0):,} idle"
        )
    elif r.get("scenario") == "fanout" and offered_events(r):
        extra = f"offered {si(offered_events(r))} ev/s"
    elif r.get("scenario") == "rpc" and offered_calls(r):
        extra = f"offered {si(offered_calls(r))} calls/s"
    elif r.get("scenario") == "echo" and offered_calls(r):
        hops = 2 if (r.get("params", {}).get("rpc", {}).get("callees") or 0) > 0 else 1
        extra = f"offered {si(offered_calls(r))} round trips/s, {hops} hop(s)"
    if r.get("router_dropped"):
        extra = (extra + "; " if extra else "") + f"router dropped {r['router_dropped']:,}"
    if r.get("errors"):
        extra = (extra + "; " if extra else "") + f"{r['errors']} error(s): {r.get('first_error') or '?'}"
    if not r.get("passed", False):
        why = (r.get("failure") or "failed")[:60]
        extra = (extra + "; " if extra else "") + f"FAIL: {why}"
    dr = r.get("delivery_ratio")
    return [
        name(r),
        router(r),
        tput,
        us(lat.get("p50_us")),
        us(lat.get("p90_us")),
        us(lat.get("p99_us")),
        us(lat.get("p999_us")),
        us(lat.get("max_us")),
        "-" if dr is None else f"{dr:.4f}".rstrip("0").rstrip(".") if dr != 1.0 else "1.0",
        "-" if not ru else f"{ru.get('cpu_pct', 0):.0f}%",
        "-" if not ru else mib(ru.get("peak_rss_bytes")),
        f"{r.get('generator_cpu_pct', 0):.0f}%" if r.get("generator_cpu_pct") is not None else "-",
        extra,
    ]


HEAD = [
    "scenario",
    "router",
    "throughput",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "delivery",
    "router CPU",
    "router peak RSS",
    "gen CPU",
    "notes",
]


def table(args):
    recs = load(args.paths)
    if args.only:
        recs = [r for r in recs if name(r) == args.only]
    recs.sort(key=lambda r: (name(r), router(r)))
    rows = [row(r) for r in recs]
    if args.brief:
        for c in rows:
            print(
                f"   {c[1]}: {c[2]}  p50 {c[3]}  p99 {c[5]}  max {c[7]}  "
                f"delivery {c[8]}  router CPU {c[9]}  peak RSS {c[10]}  gen CPU {c[11]}"
                + (f"  {c[12]}" if c[12] else "")
            )
        return
    if args.markdown:
        print("| " + " | ".join(HEAD) + " |")
        print("|" + "|".join(["---"] * 2 + ["---:"] * 10 + ["---"]) + "|")
        for c in rows:
            print("| " + " | ".join(c) + " |")
        return
    widths = [max(len(h), *(len(c[i]) for c in rows)) if rows else len(h) for i, h in enumerate(HEAD)]
    print("  ".join(h.ljust(w) for h, w in zip(HEAD, widths)).rstrip())
    for c in rows:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())


def repeats(args):
    import re
    import statistics

    groups = {}
    for r in load(args.paths):
        base = re.sub(r"-\d+$", "", router(r))
        groups.setdefault((name(r), base), []).append(r)
    head = ["scenario", "router", "runs", "throughput (each run)", "median", "spread", "median p99"]
    rows = []
    for (n, rt), rs in sorted(groups.items()):
        t = [x.get("throughput") or 0 for x in rs]
        p99 = [(x.get("latency") or {}).get("p99_us") for x in rs]
        p99 = [v for v in p99 if v is not None]
        med = statistics.median(t)
        spread = (max(t) - min(t)) / med if med else 0
        unit = rs[0].get("throughput_unit") or ""
        rows.append([
            n, rt, str(len(rs)), ", ".join(si(v) for v in t),
            f"{si(med)} {unit}/s", f"{100 * spread:.0f}%",
            us(statistics.median(p99)) if p99 else "-",
        ])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for c in rows:
            print("| " + " | ".join(c) + " |")
        return
    widths = [max(len(h), *(len(c[i]) for c in rows)) if rows else len(h) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    for c in rows:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())


# --- plots -----------------------------------------------------------------------

STYLE = {
    "shardwamp": dict(color="#1f77b4", marker="o"),
    "crossbar": dict(color="#d62728", marker="s"),
}


def style(rt, i):
    if rt in STYLE:
        return STYLE[rt]
    colors = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    return dict(color=colors[i % len(colors)], marker="^")


def by_router(recs, pred, key):
    out = {}
    for r in recs:
        if pred(r):
            out.setdefault(router(r), []).append(r)
    for v in out.values():
        v.sort(key=key)
    return out


def title_of(recs):
    m = recs[0].get("matrix", {}) if recs else {}
    return f"{m.get('host', '?')}, {m.get('cores', '?')} cores, commit {m.get('commit', '?')}"


def plot(args):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit(
            "plot.py: matplotlib is missing: python3 -m venv target/bench/plot-venv && "
            "target/bench/plot-venv/bin/pip install -r benches/requirements-plot.txt, "
            "then run this script with target/bench/plot-venv/bin/python"
        )
    recs = load(args.paths)
    out = args.out or args.paths[0]
    os.makedirs(out, exist_ok=True)
    sub = title_of(recs)
    made = []

    # Fan-out: delivered and p99 against offered events/s.
    fan = by_router(
        recs,
        lambda r: name(r).startswith("sweep-fanout") and offered_events(r),
        offered_events,
    )
    if fan:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
        lo = min(offered_events(r) for v in fan.values() for r in v)
        hi = max(offered_events(r) for v in fan.values() for r in v)
        a1.plot([lo, hi], [lo, hi], color="#999", lw=0.8, ls="--", label="delivered = offered")
        for i, (rt, v) in enumerate(sorted(fan.items())):
            x = [offered_events(r) for r in v]
            st = style(rt, i)
            a1.plot(x, [r.get("throughput") or 0 for r in v], label=rt, **st)
            a2.plot(x, [(r.get("latency") or {}).get("p99_us", 0) / 1e3 for r in v], label=rt, **st)
            for r in v:
                dr = r.get("delivery_ratio")
                if (dr is not None and dr < 1.0) or r.get("errors"):
                    note = f"delivery {dr:.2f}" + (", errors" if r.get("errors") else "")
                    a1.annotate(note, (offered_events(r), r.get("throughput") or 0),
                                textcoords="offset points", xytext=(-60, -14), fontsize=7,
                                color=st["color"])
        a1.set(xscale="log", yscale="log", xlabel="offered events/s", ylabel="delivered events/s",
               title="fan-out 1 -> 100, 64 B, WS+JSON: throughput")
        a2.set(xscale="log", yscale="log", xlabel="offered events/s", ylabel="p99 latency (ms)",
               title="fan-out 1 -> 100: p99 publish -> receive")
        for a in (a1, a2):
            a.grid(True, which="both", alpha=0.3)
            a.legend()
        fig.suptitle(f"open-loop fan-out sweep ({sub})", fontsize=10)
        fig.tight_layout()
        p = os.path.join(out, "fanout-sweep.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        made.append(p)

    # RPC: answered calls/s and p99 against offered calls/s (open loop).
    rpc = by_router(
        recs,
        lambda r: name(r).startswith("sweep-rpc") and r.get("rpc") and offered_calls(r),
        offered_calls,
    )
    if rpc:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
        lo = min(offered_calls(r) for v in rpc.values() for r in v)
        hi = max(offered_calls(r) for v in rpc.values() for r in v)
        a1.plot([lo, hi], [lo, hi], color="#999", lw=0.8, ls="--", label="answered = offered")
        for i, (rt, v) in enumerate(sorted(rpc.items())):
            st = style(rt, i)
            x = [offered_calls(r) for r in v]
            a1.plot(x, [r.get("throughput") or 0 for r in v], label=rt, **st)
            a2.plot(x, [(r.get("latency") or {}).get("p99_us", 0) / 1e3 for r in v], label=rt, **st)
            for r in v:
                dr = r.get("delivery_ratio")
                if (dr is not None and dr < 1.0) or r.get("errors"):
                    note = f"answered {dr:.2f}" + (", errors" if r.get("errors") else "")
                    a1.annotate(note, (offered_calls(r), r.get("throughput") or 0),
                                textcoords="offset points", xytext=(-60, -14), fontsize=7,
                                color=st["color"])
        a2.axhline(1.0, color="#999", lw=0.8, ls=":", label="1 ms")
        a1.set(xscale="log", yscale="log", xlabel="offered calls/s", ylabel="answered calls/s",
               title="rpc 4 callers -> 1 callee, 64 B, WS+JSON: throughput")
        a2.set(xscale="log", yscale="log", xlabel="offered calls/s", ylabel="p99 latency (ms)",
               title="rpc: p99 call (when due) -> result")
        for a in (a1, a2):
            a.grid(True, which="both", alpha=0.3)
            a.legend()
        fig.suptitle(f"open-loop rpc sweep ({sub})", fontsize=10)
        fig.tight_layout()
        p = os.path.join(out, "rpc-sweep.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        made.append(p)

    # Headline throughputs side by side.
    heads = [n for n in sorted({name(r) for r in recs})
             if not n.startswith(("sweep-", "sessions-", "echo-"))]
    routers = sorted({router(r) for r in recs})
    if heads and routers:
        import numpy as np

        fig, ax = plt.subplots(figsize=(11, 4.2))
        w = 0.8 / len(routers)
        xs = np.arange(len(heads))
        for i, rt in enumerate(routers):
            vals = []
            for n in heads:
                m = [r for r in recs if name(r) == n and router(r) == rt]
                vals.append((m[0].get("throughput") or 0) if m else 0)
            bars = ax.bar(xs + i * w - 0.4 + w / 2, vals, w, label=rt, color=style(rt, i)["color"])
            for b, v in zip(bars, vals):
                if v:
                    ax.annotate(si(v), (b.get_x() + b.get_width() / 2, v), ha="center",
                                va="bottom", fontsize=7)
        ax.set_xticks(xs, heads, rotation=20, ha="right", fontsize=8)
        ax.set(yscale="log", ylabel="events/s or calls/s",
               title=f"headline scenarios ({sub})")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        p = os.path.join(out, "headline.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        made.append(p)

    for p in made:
        print(p)
    if not made:
        print("plot.py: nothing to plot (no sweep-* or headline results)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sp = ap.add_subparsers(dest="cmd", required=True)
    t = sp.add_parser("table", help="print a table")
    t.add_argument("paths", nargs="+")
    t.add_argument("--markdown", action="store_true")
    t.add_argument("--brief", action="store_true")
    t.add_argument("--only")
    t.set_defaults(fn=table)
    rp = sp.add_parser("repeats", help="median and spread of repeated runs")
    rp.add_argument("paths", nargs="+")
    rp.add_argument("--markdown", action="store_true")
    rp.set_defaults(fn=repeats)
    p = sp.add_parser("plot", help="draw PNG plots")
    p.add_argument("paths", nargs="+")
    p.add_argument("--out")
    p.set_defaults(fn=plot)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
