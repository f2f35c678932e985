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
//! received, and the link line its ratio to the local one. Events the link
//! dropped (the other router too far behind) show as fewer received.
//!
//! Run with `cargo bench --bench links -- [count] [shards]` (default 200000
//! events, 1 shard); `cargo bench --bench links -- 200` checks it runs.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::time::{Duration, Instant};

use common::links::{client, link_to, req};
use shardwamp::control::Controller;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::{Dict, Value};

fn router(shards: u16) -> std::sync::Arc<Controller> {
    common::links::router(shards)
}

/// Subscribes on `on`, publishes `count` events from `from`, and answers
/// (events received, seconds from the first PUBLISH to the last EVENT).
fn run(from: &Controller, on: &Controller, topic: &str, count: u64) -> (u64, f64) {
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
    let start = Instant::now();
    for i in 0..count {
        p.send(&Message::Publish {
            request: req(),
            options: Dict::new(),
            topic: topic.into(),
            payload: Payload::args(vec![Value::from("0123456789abcdef"), Value::UInt(i)]),
        });
    }
    let (got, last) = counter.join().expect("counter");
    (got, last.duration_since(start).as_secs_f64().max(1e-9))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let count: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let shards: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let (a, b) = (router(shards), router(shards));
    futures_lite::future::block_on(a.start_router_realm_link("realm1", "bench", link_to(&b)))
        .expect("link starts");
    let (got, secs) = run(&b, &b, "bench.local", count);
    let local = got as f64 / secs;
    println!("links/local  {count} events, {shards} shard(s): {got} received, {local:.0} events/s");
    let (got, secs) = run(&a, &b, "bench.link", count);
    let link = got as f64 / secs;
    println!(
        "links/link   {count} events, {shards} shard(s): {got} received, {link:.0} events/s ({:.2} of local)",
        link / local.max(1e-9)
    );
    a.shutdown();
    b.shutdown();
}
