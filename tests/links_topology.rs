//! Router links over every topology (issue 14, items 4, 6 and 7): two,
//! three and four shardwamp routers in this process (ports 0), with clients
//! on each, linked in a full mesh, a triangle with a tail, a chain and a
//! star; exact, prefix and wildcard subscriptions and registrations; links
//! stopped and started, and a router killed and replaced, in the middle of
//! traffic. After each change settles, every subscriber gets every later
//! event exactly once and calls reach callees on any router; during an
//! outage, no subscriber ever gets an event twice, and calls to a callee
//! beyond it fail fast. Links placed on shard 1 of a two-shard router work.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::links::*;
use common::Client;
use shardwamp::client::session::values_of;
use shardwamp::control::Controller;
use shardwamp::dict;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::{Dict, Value};

/// Waits until each (router, link, subscriptions, registrations) settles.
fn settle_all(links: &[(&Arc<Controller>, &str, u64, u64)]) {
    for (on, id, subs, regs) in links {
        settle(on, id, *subs, *regs);
    }
    // Once more: a later link's change may have moved an earlier one.
    for (on, id, subs, regs) in links {
        settle(on, id, *subs, *regs);
    }
}

/// A publisher on `on` sending `["traffic", i]` on `com.example.news`
/// until `stop` is set; answers how many it sent.
fn traffic(on: &Controller, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    let mut p = client(on);
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            p.send(&Message::Publish {
                request: req(),
                options: Dict::new(),
                topic: "com.example.news".into(),
                payload: Payload::args(vec![Value::from("traffic"), Value::UInt(i)]),
            });
            i += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        i
    })
}

/// Like `expect_round`, but events of the background traffic are skipped,
/// and each asserted never to arrive twice on one subscription.
fn expect_round_amid_traffic(
    s: &mut (Client, Vec<u64>),
    traffic_seen: &mut HashMap<u64, HashSet<u64>>,
    round: &str,
    n: u64,
    who: &str,
) {
    let mut seen: HashMap<u64, Vec<String>> = HashMap::new();
    let mut ended = 0;
    while ended < s.1.len() {
        let m =
            s.0.recv()
                .unwrap_or_else(|| panic!("{who}: closed in round {round}"));
        let Message::Event {
            subscription,
            payload,
            ..
        } = m
        else {
            continue;
        };
        let (args, _) = values_of(&payload);
        let r = args.first().and_then(Value::as_str).unwrap_or("");
        if r == "traffic" {
            let i = args.get(1).and_then(Value::as_u64).unwrap_or(u64::MAX);
            assert!(
                traffic_seen.entry(subscription).or_default().insert(i),
                "{who}: traffic event {i} twice on subscription {subscription}"
            );
            continue;
        }
        assert_eq!(r, round, "{who}: an event of another round: {args:?}");
        let tag = args.get(1).and_then(Value::as_str).unwrap_or("").to_owned();
        if tag == "end" {
            ended += 1;
        }
        seen.entry(subscription).or_default().push(tag);
    }
    for id in &s.1 {
        let mut want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        want.push("end".into());
        assert_eq!(
            seen.get(id).cloned().unwrap_or_default(),
            want,
            "{who}: subscription {id} in round {round}"
        );
    }
}

/// [`events_everywhere_once`] while traffic may still be arriving.
fn events_everywhere_once_amid_traffic(
    routers: &[&Arc<Controller>],
    subs: &mut [(Client, Vec<u64>)],
    traffic_seen: &mut [HashMap<u64, HashSet<u64>>],
    tag: &str,
) {
    let mut publishers: Vec<Client> = routers.iter().map(|r| client(r)).collect();
    for (i, p) in publishers.iter_mut().enumerate() {
        let round = format!("{tag}-from-{i}");
        publish_round(p, &round, 5);
        for (j, s) in subs.iter_mut().enumerate() {
            expect_round_amid_traffic(
                s,
                &mut traffic_seen[j],
                &round,
                5,
                &format!("subscriber on router {j}"),
            );
        }
    }
}

/// Calls `com.example.add` until it fails with `no_such_procedure`; each
/// try must answer fast (no call hangs on a link that is down).
fn calls_fail_fast(c: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = Instant::now();
        let r = call(c, "com.example.add", vec![Value::UInt(1)]);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "a call took {:?}: {r:?}",
            t.elapsed()
        );
        match r {
            Err(e) if e == "wamp.error.no_such_procedure" => return,
            other => {
                assert!(Instant::now() < deadline, "still routed: {other:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Waits until `com.example.add` is routed from `c` (mirrors settle a
/// moment after the figures do), then checks every call of `calls_reach`.
fn calls_reach_soon(c: &mut Client, callee: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = call(c, "com.example.add", vec![Value::UInt(1)]) {
        assert!(Instant::now() < deadline, "not routed: {e}");
        std::thread::sleep(Duration::from_millis(50));
    }
    calls_reach(c, callee);
}

/// Registers `com.example.rr` (roundrobin) on `on`, answering its name.
fn rr_callee(on: &Controller, name: &'static str) -> JoinHandle<()> {
    let mut c = client(on);
    let request = req();
    c.send(&Message::Register {
        request,
        options: dict! { "invoke" => "roundrobin" },
        procedure: "com.example.rr".into(),
    });
    c.expect(
        "REGISTERED",
        |m| matches!(m, Message::Registered { request: r, .. } if *r == request),
    );
    std::thread::spawn(move || loop {
        let Some(m) = c.recv() else { return };
        if let Message::Invocation { request, .. } = m {
            c.send(&Message::Yield {
                request,
                options: Dict::new(),
                payload: Payload::args(vec![Value::from(name)]),
            });
        }
    })
}

#[test]
fn a_full_mesh_of_three_delivers_once_and_calls_anywhere() {
    let (a, b, c) = (router(1), router(2), router(1));
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b, &c].iter().map(|r| subscriber(r)).collect();
    start_link(&a, "ab", &b);
    start_link(&b, "bc", &c);
    start_link(&c, "ca", &a);
    // Each link mirrors each side's own three patterns, nothing relayed.
    settle_all(&[(&a, "ab", 6, 0), (&b, "bc", 6, 0), (&c, "ca", 6, 0)]);
    events_everywhere_once(&[&a, &b, &c], &mut subs);

    // A callee on c: mirrored onto a and b by the links that touch c only.
    let _callee = callee(&c, "c");
    settle_all(&[(&a, "ab", 6, 0), (&b, "bc", 6, 6), (&c, "ca", 6, 6)]);
    calls_reach_soon(&mut client(&a), "c");
    calls_reach_soon(&mut client(&b), "c");
    progress_and_cancel_reach(&mut client(&a));

    // Roundrobin callees on b and c: a holds one mirror of each (not a
    // mirror of a mirror), so calls from a alternate between them.
    let _rb = rr_callee(&b, "b");
    let _rc = rr_callee(&c, "c");
    settle_all(&[(&a, "ab", 6, 1), (&b, "bc", 6, 8), (&c, "ca", 6, 7)]);
    let mut caller = client(&a);
    let mut got: HashMap<String, u32> = HashMap::new();
    for _ in 0..8 {
        let r = call(&mut caller, "com.example.rr", Vec::new()).expect("rr");
        *got.entry(r[0].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    // (b's own roundrobin may pass a call on to c, and c's to b.)
    assert!(got.contains_key("b") && got.contains_key("c"), "{got:?}");
    for r in [&a, &b, &c] {
        r.shutdown();
    }
}

#[test]
fn a_triangle_with_a_tail_delivers_once_and_calls_across() {
    // a, b, c a full mesh; d linked to c only.
    let (a, b, c, d) = (router(1), router(1), router(1), router(1));
    let mut subs: Vec<(Client, Vec<u64>)> =
        [&a, &b, &c, &d].iter().map(|r| subscriber(r)).collect();
    start_link(&a, "ab", &b);
    start_link(&b, "bc", &c);
    start_link(&c, "ca", &a);
    start_link(&d, "dc", &c);
    settle_all(&[
        (&a, "ab", 6, 0),
        (&b, "bc", 6, 0),
        (&c, "ca", 6, 0),
        (&d, "dc", 6, 0),
    ]);
    events_everywhere_once(&[&a, &b, &c, &d], &mut subs);
    // A callee on the tail: c mirrors it, then a and b through their own
    // link to c (not through each other).
    let _callee = callee(&d, "d");
    settle_all(&[
        (&a, "ab", 6, 0),
        (&b, "bc", 6, 6),
        (&c, "ca", 6, 6),
        (&d, "dc", 6, 6),
    ]);
    calls_reach_soon(&mut client(&a), "d");
    calls_reach_soon(&mut client(&b), "d");
    calls_reach_soon(&mut client(&c), "d");
    for r in [&a, &b, &c, &d] {
        r.shutdown();
    }
}

#[test]
fn a_chain_survives_a_link_stopped_and_started_in_the_middle_of_traffic() {
    let (a, b, c) = (router(1), router(1), router(1));
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b, &c].iter().map(|r| subscriber(r)).collect();
    let _callee = callee(&c, "c");
    start_link(&a, "ab", &b);
    start_link(&b, "bc", &c);
    settle_all(&[(&a, "ab", 6, 6), (&b, "bc", 6, 6)]);
    let mut seen = vec![HashMap::new(), HashMap::new(), HashMap::new()];
    let stop = Arc::new(AtomicBool::new(false));
    let t = traffic(&a, stop.clone());
    events_everywhere_once_amid_traffic(&[&a, &b, &c], &mut subs, &mut seen, "before");

    // The far link drops: calls from a to c fail fast; a and b still
    // exchange events exactly once.
    stop_link(&b, "bc");
    let mut caller = client(&a);
    calls_fail_fast(&mut caller);
    settle(&a, "ab", 6, 0);
    events_everywhere_once_amid_traffic(&[&a, &b], &mut subs[..2], &mut seen[..2], "down");

    // Back: everything is restored once, traffic still flowing.
    start_link(&b, "bc", &c);
    settle_all(&[(&a, "ab", 6, 6), (&b, "bc", 6, 6)]);
    events_everywhere_once_amid_traffic(&[&a, &b, &c], &mut subs, &mut seen, "after");
    calls_reach_soon(&mut caller, "c");
    stop.store(true, Ordering::Relaxed);
    let sent = t.join().expect("traffic");
    assert!(sent > 0);
    for r in [&a, &b, &c] {
        r.shutdown();
    }
}

#[test]
fn a_star_survives_a_spoke_link_stopped_and_started_in_the_middle_of_traffic() {
    // Hub h; spokes s1, s2, s3 each link to h.
    let (h, s1, s2, s3) = (router(1), router(1), router(1), router(1));
    let mut subs: Vec<(Client, Vec<u64>)> =
        [&h, &s1, &s2, &s3].iter().map(|r| subscriber(r)).collect();
    let _callee = callee(&s3, "s3");
    for s in [&s1, &s2, &s3] {
        start_link(s, "up", &h);
    }
    settle_all(&[(&s1, "up", 6, 6), (&s2, "up", 6, 6), (&s3, "up", 6, 6)]);
    let mut seen = vec![HashMap::new(); 4];
    let stop = Arc::new(AtomicBool::new(false));
    let t = traffic(&s1, stop.clone());
    let all = [&h, &s1, &s2, &s3];
    events_everywhere_once_amid_traffic(&all, &mut subs, &mut seen, "before");

    stop_link(&s3, "up");
    calls_fail_fast(&mut client(&s1));
    settle_all(&[(&s1, "up", 6, 0), (&s2, "up", 6, 0)]);
    events_everywhere_once_amid_traffic(&all[..3], &mut subs[..3], &mut seen[..3], "down");

    start_link(&s3, "up", &h);
    settle_all(&[(&s1, "up", 6, 6), (&s2, "up", 6, 6), (&s3, "up", 6, 6)]);
    events_everywhere_once_amid_traffic(&all, &mut subs, &mut seen, "after");
    calls_reach_soon(&mut client(&s1), "s3");
    calls_reach_soon(&mut client(&s2), "s3");
    stop.store(true, Ordering::Relaxed);
    t.join().expect("traffic");
    for r in all {
        r.shutdown();
    }
}

#[test]
fn a_mesh_router_killed_and_replaced_in_the_middle_of_traffic() {
    let (a, b, c) = (router(1), router(1), router(1));
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b, &c].iter().map(|r| subscriber(r)).collect();
    let _callee = callee(&c, "c");
    start_link(&a, "ab", &b);
    start_link(&a, "ac", &c);
    start_link(&b, "bc", &c);
    settle_all(&[(&a, "ab", 6, 0), (&a, "ac", 6, 6), (&b, "bc", 6, 6)]);
    let mut seen = vec![HashMap::new(); 3];
    let stop = Arc::new(AtomicBool::new(false));
    let t = traffic(&a, stop.clone());
    events_everywhere_once_amid_traffic(&[&a, &b, &c], &mut subs, &mut seen, "before");

    // c dies: a and b, now one link apart, still exchange events once
    // (the mesh became a pair), and calls to c's callee fail fast.
    c.shutdown();
    calls_fail_fast(&mut client(&a));
    calls_fail_fast(&mut client(&b));
    settle(&a, "ab", 6, 0);
    events_everywhere_once_amid_traffic(&[&a, &b], &mut subs[..2], &mut seen[..2], "down");

    // A new router takes c's place (new port): the mesh is whole again.
    let c2 = router(1);
    subs[2] = subscriber(&c2);
    seen[2] = HashMap::new();
    let _callee2 = callee(&c2, "c2");
    for (on, id) in [(&a, "ac"), (&b, "bc")] {
        stop_link(on, id);
        start_link(on, id, &c2);
    }
    settle_all(&[(&a, "ab", 6, 0), (&a, "ac", 6, 6), (&b, "bc", 6, 6)]);
    events_everywhere_once_amid_traffic(&[&a, &b, &c2], &mut subs, &mut seen, "after");
    calls_reach_soon(&mut client(&a), "c2");
    calls_reach_soon(&mut client(&b), "c2");
    stop.store(true, Ordering::Relaxed);
    t.join().expect("traffic");
    for r in [&a, &b, &c2] {
        r.shutdown();
    }
}

/// An id whose link runs on shard `shard` of `shards`.
fn id_on_shard(realm: &str, shard: usize, shards: usize) -> String {
    (0..1000)
        .map(|i| format!("link{i}"))
        .find(|id| shardwamp::link::placement::shard_for(realm, id, shards) == shard)
        .expect("an id on that shard")
}

#[test]
fn links_placed_on_shard_one_of_two_route_events_and_calls() {
    let (a, b, c) = (router(2), router(2), router(2));
    let id = id_on_shard("realm1", 1, 2);
    let id2 = id_on_shard("realm1", 1, 2);
    let mut subs: Vec<(Client, Vec<u64>)> = Vec::new();
    // Several subscribers per router, so that both shards have some.
    for r in [&a, &b, &c] {
        subs.push(subscriber(r));
        subs.push(subscriber(r));
    }
    start_link(&a, &id, &b);
    start_link(&c, &id2, &b);
    settle_all(&[(&a, &id, 6, 0), (&c, &id2, 6, 0)]);
    let mut publishers: Vec<Client> = [&a, &b, &c].iter().map(|r| client(r)).collect();
    for (i, p) in publishers.iter_mut().enumerate() {
        let round = format!("from-{i}");
        publish_round(p, &round, 5);
        for (j, s) in subs.iter_mut().enumerate() {
            expect_round(s, &round, 5, &format!("subscriber {j}"));
        }
    }
    let _callee = callee(&c, "c");
    settle_all(&[(&a, &id, 6, 6), (&c, &id2, 6, 6)]);
    calls_reach_soon(&mut client(&a), "c");
    calls_reach_soon(&mut client(&b), "c");
    for r in [&a, &b, &c] {
        r.shutdown();
    }
}
