//! Router links: is a link the router's bottleneck? Two shardwamp routers
//! in this process (ports 0, `shards` each), linked A -> B, with blocking
//! WebSocket clients (JSON):
//!
//! - `local`: a publisher and a subscriber on B; `count` events published
//!   (not acknowledged, 16 B `Arguments`) and counted as they arrive.
//! - `link`: the publisher on A, the subscriber on B: every event crosses
//!   the link (A's local leg receives it, the remote leg publishes it on B).
//!
//! Each line shows events/s from the first PUBLISH sent to the last EVENT
//! received, the link line its ratio to the local one, and **each router's
//! CPU per event received**: the CPU time of the threads each router
//! started (its shards and its control plane), read from their thread CPU
//! clocks before and after the run. CPU per event is what says whether a
//! link is a router's bottleneck: a shard saturates at 1 s / (its CPU per
//! event) events/s, whatever the host's other processes do. Events the link
//! dropped (the other router too far behind) show as fewer received.
//!
//! With `--rate R` the publisher sends R events/s (a burst each
//! millisecond) instead of as fast as it can: the routers run below
//! saturation, so their CPU per event is not inflated by full queues, and
//! on a 2-core host the clients and the two routers do not starve each
//! other.
//!
//! The clients speak JSON; the link speaks MessagePack (as Crossbar.io's
//! links usually do), so each relayed event is transcoded twice (JSON to
//! MessagePack into the link on A, back to JSON for the subscriber on B).
//! `--link-serializer json` makes the link speak JSON too, which shows what
//! the transcoding costs apart from the relay.
//!
//! Run with `cargo bench --bench links -- [count] [shards] [--rate R]
//! [--link-serializer json|msgpack|cbor]` (default 200000 events, 1 shard,
//! unpaced, msgpack); `cargo bench --bench links -- 200` checks it runs.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::links::{client, link_to, req};
use shardwamp::control::Controller;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::{Dict, Value};

fn router(shards: u16) -> std::sync::Arc<Controller> {
    common::links::router(shards)
}

/// The ids of this process's threads.
fn threads() -> BTreeSet<i32> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The CPU time (ns) the threads `tids` have used so far; a thread that has
/// ended counts nothing.
fn cpu_ns(tids: &BTreeSet<i32>) -> u64 {
    tids.iter()
        .map(|&tid| {
            // Linux's clock id for another thread's CPU clock (the kernel's
            // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)).
            let clock = (!tid << 3) | 6;
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes only the timespec passed.
            if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
                ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
            } else {
                0
            }
        })
        .sum()
}

/// What one run measured.
struct Run {
    /// Events received.
    got: u64,
    /// Seconds from the first PUBLISH to the last EVENT.
    secs: f64,
    /// CPU ns used over the run by router A's threads, and by B's.
    cpu: (u64, u64),
}

/// Subscribes on `on`, publishes `count` events from `from` (at `rate`
/// events/s if given), and measures the run.
fn run(
    from: &Controller,
    on: &Controller,
    topic: &str,
    count: u64,
    rate: Option<u64>,
    tids: &(BTreeSet<i32>, BTreeSet<i32>),
) -> Run {
    let mut sub = client(on);
    let request = req();
    sub.send(&Message::Subscribe {
        request,
        options: Dict::new(),
        topic: topic.into(),
    });
    sub.expect("SUBSCRIBED", |m| matches!(m, Message::Subscribed { .. }));
    // Wait until the subscription is mirrored where the publisher is.
    let mut probe = client(from);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        probe.send(&Message::Publish {
            request: req(),
            options: Dict::new(),
            topic: topic.into(),
            payload: Payload::args(vec![Value::from("probe")]),
        });
        if let Some(Message::Event { .. }) = sub.recv() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never reached the publisher's router"
        );
    }
    // Drain the probes.
    let counter = std::thread::spawn(move || {
        let mut got = 0u64;
        let mut last = Instant::now();
        while let Some(m) = sub.recv() {
            if let Message::Event { payload, .. } = m {
                if let Payload::Values { args, .. } = &payload {
                    if args.first() == Some(&Value::from("probe")) {
                        continue;
                    }
                }
                got += 1;
                last = Instant::now();
                if got == count {
                    break;
                }
            }
        }
        (got, last)
    });
    let mut p = client(from);
    let cpu0 = (cpu_ns(&tids.0), cpu_ns(&tids.1));
    let start = Instant::now();
    let per_ms = rate.map(|r| (r / 1000).max(1));
    for i in 0..count {
        if let Some(burst) = per_ms {
            if i % burst == 0 {
                let due = start + Duration::from_millis(i / burst);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }
        p.send(&Message::Publish {
            request: req(),
            options: Dict::new(),
            topic: topic.into(),
            payload: Payload::args(vec![Value::from("0123456789abcdef"), Value::UInt(i)]),
        });
    }
    let (got, last) = counter.join().expect("counter");
    let cpu1 = (cpu_ns(&tids.0), cpu_ns(&tids.1));
    Run {
        got,
        secs: last.duration_since(start).as_secs_f64().max(1e-9),
        cpu: (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1),
    }
}

/// One result line: events/s, and each router's CPU per event received.
fn report(name: &str, count: u64, shards: u16, r: &Run) -> f64 {
    let per = |ns: u64| ns as f64 / r.got.max(1) as f64;
    let rate = r.got as f64 / r.secs;
    println!(
        "links/{name:<6} {count} events, {shards} shard(s): {} received, {rate:.0} events/s; \
         router CPU per event: A {:.0} ns, B {:.0} ns, both {:.0} ns",
        r.got,
        per(r.cpu.0),
        per(r.cpu.1),
        per(r.cpu.0 + r.cpu.1)
    );
    per(r.cpu.0 + r.cpu.1)
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut rate = None;
    let mut serializer = None;
    let mut args = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i].as_str() {
            "--rate" => {
                rate = raw.get(i + 1).and_then(|v| v.parse::<u64>().ok());
                assert!(rate.is_some(), "--rate R: events per second");
                i += 1;
            }
            "--link-serializer" => {
                serializer = raw.get(i + 1).cloned();
                assert!(serializer.is_some(), "--link-serializer json|msgpack|cbor");
                i += 1;
            }
            a if a.starts_with("--") => {}
            a => args.push(a.to_owned()),
        }
        i += 1;
    }
    let count: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let shards: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let t0 = threads();
    let a = router(shards);
    let ta: BTreeSet<i32> = threads().difference(&t0).copied().collect();
    let b = router(shards);
    let tb: BTreeSet<i32> = threads()
        .difference(&t0)
        .filter(|t| !ta.contains(t))
        .copied()
        .collect();
    let tids = (ta, tb);
    let mut link_config = link_to(&b);
    if let Some(name) = &serializer {
        link_config.transport.serializers = Some(vec![name.clone()]);
    }
    futures_lite::future::block_on(a.start_router_realm_link("realm1", "bench", link_config))
        .expect("link starts");
    println!(
        "# link serializer {}; {}",
        serializer.as_deref().unwrap_or("msgpack"),
        rate.map_or("unpaced".to_owned(), |r| format!("paced: {r} events/s"))
    );
    let local = run(&b, &b, "bench.local", count, rate, &tids);
    let local_rate = local.got as f64 / local.secs;
    let local_cpu = report("local", count, shards, &local);
    let link = run(&a, &b, "bench.link", count, rate, &tids);
    let link_cpu = report("link", count, shards, &link);
    println!(
        "links/ratio  link/local: {:.2} of the events/s, {:.2}x the router CPU per event \
         (the relay adds {:.0} ns)",
        link.got as f64 / link.secs / local_rate.max(1e-9),
        link_cpu / local_cpu.max(1e-9),
        link_cpu - local_cpu
    );
    a.shutdown();
    b.shutdown();
}
