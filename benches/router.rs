//! Router-core benchmarks: the sans-IO `RouterCore` alone, no I/O, no runtime.
//!
//! Sessions are set up through the deterministic simulator (`sim::Sim`,
//! JSON, realm `bench` with anonymous allowed everything, home shard 0); the
//! timed loops then bypass it and drive the cores directly:
//!
//! - `fanout-1000/1-shard`: a pre-encoded PUBLISH (64 B `Arguments`) fed to
//!   `receive_frame` on the publisher's core, 1000 subscribers of the topic on
//!   the same shard; the outputs are drained with `take_outputs()` and the
//!   `Output::Send`s counted and dropped.
//! - `fanout-1000/1-shard/drain`: the same, draining with
//!   `outputs().drain(..)`, which keeps the output vector's capacity.
//! - `fanout-1000/4-shards`: the subscribers spread round-robin over 4 shards,
//!   the publisher on shard 0; every `Output::Peer` is handed, in this thread
//!   and in FIFO order, to the target core's `peer()`. This is the total work of
//!   the sharded path done by one thread, not a parallel throughput.
//!   `benches/shards.rs` has the real cross-thread hop (two pinned executors,
//!   the channel mesh, each side's thread CPU time, batch 1 and 64).
//! - `call/1-shard`, `call/2-shards`: one caller and one callee (on shards 0
//!   and 1 in the second case); pre-encoded CALLs with incrementing request ids
//!   go to the caller's core, each INVOCATION is answered with a pre-encoded
//!   YIELD (the callee's INVOCATION request ids run 1, 2, ...) and the RESULTs
//!   are counted.
//! - `alloc/...`: a counting global allocator, switched on only around a
//!   separate, untimed run of 1000 publications of the fan-out loops:
//!   allocations (alloc + realloc) per publication and per delivered event.
//! - `wampcra/challenge/{user,decoy}`, `wampcra/attempt/{user,decoy}`: a
//!   WAMP-CRA HELLO answered with a CHALLENGE, and a whole failed attempt
//!   (CHALLENGE, then a wrong AUTHENTICATE denied), for a configured salted
//!   user and for an unknown authid (whose decoy must cost what a real user
//!   costs, or timing would tell the two apart).
//! - `authz/static`, `authz/dynamic-cached`, `authz/dynamic-uncached`: an
//!   acknowledged PUBLISH (no subscriber) on shard 0 answered with PUBLISHED,
//!   by a session whose role has permissions, whose role's dynamic authorizer
//!   answered once with `cache: true`, and whose authorizer (a session on
//!   shard 1) is asked every time (`{"allow": true}`, its INVOCATION and a
//!   pre-encoded YIELD included: the router's whole share of the round trip).
//! - `size/...`: `size_of` the output and peer-message enums (every EVENT the
//!   core emits is one `Output` moved into and out of the output vector).
//!
//! Run with `cargo bench --bench router [filter]`; `filter` is a substring of
//! the case names, arguments starting with `--` are ignored. Each case is
//! warmed up for 0.2 s, then timed as 5 samples of about 0.15 s; the line
//! shows the best sample.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardwamp::codec::Serializer;
use shardwamp::config::realm::RealmConfig;
use shardwamp::config::role::{Allow, Disclose, Permission, RoleConfig};
use shardwamp::router::peer::PeerMsg;
use shardwamp::router::{ConnId, Output, RouterCore, ShardId};
use shardwamp::sim::{ClientId, Sim};
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::uri::MatchPolicy;
use shardwamp::wamp::value::{Dict, Value};

// ---- counting allocator ------------------------------------------------------

/// Wraps `System`, counting allocations while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            REALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(new_size.saturating_sub(layout.size()) as u64, Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocation counts over a closure: (allocs, reallocs, bytes).
fn count_allocs(f: impl FnOnce()) -> (u64, u64, u64) {
    ALLOCS.store(0, Relaxed);
    REALLOCS.store(0, Relaxed);
    BYTES.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    f();
    COUNTING.store(false, Relaxed);
    (
        ALLOCS.load(Relaxed),
        REALLOCS.load(Relaxed),
        BYTES.load(Relaxed),
    )
}

// ---- timing ------------------------------------------------------------------

const WARMUP: Duration = Duration::from_millis(200);
const SAMPLE: Duration = Duration::from_millis(150);
const SAMPLES: u32 = 5;

/// Runs `op(n)` (which does `n` operations) for a warm-up, calibrates `n` to
/// about `SAMPLE`, and returns the best time per operation of `SAMPLES` samples.
fn time_per_op(mut op: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    let mut n = 1u64;
    let mut done = 0u64;
    while start.elapsed() < WARMUP {
        op(n);
        done += n;
        n = (n * 2).min(1 << 20);
    }
    let per = start.elapsed().as_secs_f64() / done as f64;
    let iters = ((SAMPLE.as_secs_f64() / per) as u64).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..SAMPLES {
        let t = Instant::now();
        op(iters);
        best = best.min(t.elapsed().as_secs_f64() / iters as f64);
    }
    Duration::from_secs_f64(best)
}

fn line(case: &str, value: f64, unit: &str) {
    let v = if value >= 100.0 || value == 0.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    };
    println!("{case:<36} {v:>14}  {unit}");
}

// ---- setup -------------------------------------------------------------------

const SUBSCRIBERS: usize = 1000;
const TOPIC: &str = "com.bench.fanout";
const PROCEDURE: &str = "com.bench.echo";
const JSON: Serializer = Serializer::Json;

/// A JSON `Arguments` list of exactly 64 bytes: `["xxx...x"]`.
fn payload_64() -> Payload {
    Payload::args(vec![Value::from("x".repeat(60))])
}

fn realm() -> RealmConfig {
    let mut r = RealmConfig::new(
        "bench",
        vec![RoleConfig {
            name: "anonymous".into(),
            permissions: vec![Permission {
                uri: String::new(),
                match_: Some(MatchPolicy::Prefix),
                allow: Allow::ALL,
                disclose: Disclose::default(),
                cache: false,
            }],
            authorizer: None,
            allow_by_default: false,
        }],
    );
    r.home_shard = Some(0);
    r
}

fn sim(shards: u16) -> Sim {
    let mut s = Sim::new(shards, 7);
    s.start_realm(0, realm());
    s
}

fn subscribe(s: &mut Sim, c: ClientId) {
    s.send(
        c,
        &Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: TOPIC.into(),
        },
    );
    s.run();
    let got = s.take(c);
    assert!(
        got.iter().any(|m| matches!(m, Message::Subscribed { .. })),
        "expected SUBSCRIBED, got {got:?}"
    );
}

fn encode(msg: &Message) -> Bytes {
    Bytes::from(JSON.encode(msg).expect("encode"))
}

/// A fan-out setup: the cores, the publisher's (shard, conn), the PUBLISH frame.
fn fanout_setup(shards: u16) -> (Sim, ShardId, ConnId, Bytes) {
    let mut s = sim(shards);
    for i in 0..SUBSCRIBERS {
        let (c, _) = s.join((i % shards as usize) as ShardId, JSON, "bench");
        subscribe(&mut s, c);
    }
    let (p, _) = s.join(0, JSON, "bench");
    for c in 0..s.clients.len() {
        s.take(c);
    }
    let frame = encode(&Message::Publish {
        request: 1,
        options: Dict::new(),
        topic: TOPIC.into(),
        payload: payload_64(),
    });
    match JSON.decode(&frame) {
        Ok(Message::Publish { payload, .. }) => assert_eq!(payload.raw_len(), Some(64)),
        other => panic!("bad PUBLISH frame: {other:?}"),
    }
    let conn = s.clients[p].conn;
    (s, 0, conn, frame)
}

/// Peer messages in flight: (from, to, message), delivered in FIFO order.
type Mesh = VecDeque<(ShardId, ShardId, PeerMsg)>;

/// Drains one core's outputs: sends go to `on_send`, peer messages to the mesh.
fn drain(cores: &mut [RouterCore], s: ShardId, mesh: &mut Mesh, on_send: &mut impl FnMut(ConnId)) {
    for o in cores[s as usize].take_outputs() {
        match o {
            Output::Send { conn, frame, .. } => {
                on_send(conn);
                drop(black_box(frame));
            }
            Output::Close { conn } => panic!("the router closed conn {conn}"),
            Output::Peer { to, msg } => mesh.push_back((s, to, *msg)),
        }
    }
}

/// Delivers peer messages until the mesh is quiet.
fn settle(cores: &mut [RouterCore], mesh: &mut Mesh, on_send: &mut impl FnMut(ConnId)) {
    while let Some((from, to, msg)) = mesh.pop_front() {
        cores[to as usize].peer(from, msg);
        drain(cores, to, mesh, on_send);
    }
}

// ---- cases -------------------------------------------------------------------

fn fanout_one_shard(filter: &str) {
    let case = "fanout-1000/1-shard";
    let drain_case = "fanout-1000/1-shard/drain";
    let alloc_case = "alloc/fanout-1000/1-shard";
    let alloc_drain_case = "alloc/fanout-1000/1-shard/drain";
    if ![case, drain_case, alloc_case, alloc_drain_case]
        .iter()
        .any(|c| c.contains(filter))
    {
        return;
    }
    let (mut s, shard, conn, frame) = fanout_setup(1);
    let core = &mut s.cores[shard as usize];

    // take_outputs(): the output vector starts empty after every publication.
    let mut publish_take = |n: u64| -> u64 {
        let mut sent = 0u64;
        for _ in 0..n {
            core.receive_frame(conn, &frame);
            for o in core.take_outputs() {
                if let Output::Send { frame, .. } = o {
                    sent += 1;
                    drop(black_box(frame));
                }
            }
        }
        sent
    };
    assert_eq!(publish_take(10), 10 * SUBSCRIBERS as u64);
    if case.contains(filter) {
        let t = time_per_op(|n| {
            black_box(publish_take(n));
        });
        report_fanout(case, t);
    }
    if alloc_case.contains(filter) {
        let pubs = 1000u64;
        let mut sent = 0;
        let counts = count_allocs(|| sent = publish_take(pubs));
        report_allocs(alloc_case, counts, pubs, sent);
    }

    // outputs().drain(..): the runtime's way, keeping the vector's capacity.
    let mut publish_drain = |n: u64| -> u64 {
        let mut sent = 0u64;
        for _ in 0..n {
            core.receive_frame(conn, &frame);
            for o in core.outputs().drain(..) {
                if let Output::Send { frame, .. } = o {
                    sent += 1;
                    drop(black_box(frame));
                }
            }
        }
        sent
    };
    assert_eq!(publish_drain(10), 10 * SUBSCRIBERS as u64);
    if drain_case.contains(filter) {
        let t = time_per_op(|n| {
            black_box(publish_drain(n));
        });
        report_fanout(drain_case, t);
    }
    if alloc_drain_case.contains(filter) {
        let pubs = 1000u64;
        let mut sent = 0;
        let counts = count_allocs(|| sent = publish_drain(pubs));
        report_allocs(alloc_drain_case, counts, pubs, sent);
    }
}

fn report_fanout(case: &str, per_pub: Duration) {
    let ns_pub = per_pub.as_secs_f64() * 1e9;
    let ns_event = ns_pub / SUBSCRIBERS as f64;
    line(case, 1e9 / ns_event, "events/s");
    line(case, ns_event, "ns/event");
    line(case, ns_pub, "ns/publication");
}

fn report_allocs(case: &str, (allocs, reallocs, bytes): (u64, u64, u64), pubs: u64, sent: u64) {
    assert_eq!(sent, pubs * SUBSCRIBERS as u64);
    let total = (allocs + reallocs) as f64;
    line(case, total / pubs as f64, "allocs/publication");
    line(case, total / sent as f64, "allocs/event");
    line(
        case,
        reallocs as f64 / pubs as f64,
        "of which reallocs/publication",
    );
    line(
        case,
        bytes as f64 / pubs as f64,
        "bytes allocated/publication",
    );
}

fn fanout_four_shards(filter: &str) {
    let case = "fanout-1000/4-shards";
    let alloc_case = "alloc/fanout-1000/4-shards";
    if !case.contains(filter) && !alloc_case.contains(filter) {
        return;
    }
    let (mut s, shard, conn, frame) = fanout_setup(4);
    let cores = &mut s.cores[..];
    let mut mesh = Mesh::new();
    let mut publish = |n: u64| -> u64 {
        let mut sent = 0u64;
        let mut count = |_: ConnId| sent += 1;
        for _ in 0..n {
            cores[shard as usize].receive_frame(conn, &frame);
            drain(cores, shard, &mut mesh, &mut count);
            settle(cores, &mut mesh, &mut count);
        }
        sent
    };
    assert_eq!(publish(10), 10 * SUBSCRIBERS as u64);
    if case.contains(filter) {
        let t = time_per_op(|n| {
            black_box(publish(n));
        });
        report_fanout(case, t);
    }
    if alloc_case.contains(filter) {
        let pubs = 1000u64;
        let mut sent = 0;
        let counts = count_allocs(|| sent = publish(pubs));
        report_allocs(alloc_case, counts, pubs, sent);
    }
}

/// Calls in batches of this many, their frames encoded before each batch.
const CALL_BATCH: u64 = 1024;

fn calls(filter: &str, case: &str, callee_shard: ShardId) {
    if !case.contains(filter) {
        return;
    }
    let mut s = sim(callee_shard + 1);
    let (callee, _) = s.join(callee_shard, JSON, "bench");
    s.send(
        callee,
        &Message::Register {
            request: 1,
            options: Dict::new(),
            procedure: PROCEDURE.into(),
        },
    );
    s.run();
    assert!(matches!(
        s.take(callee).as_slice(),
        [Message::Registered { .. }]
    ));
    let (caller, _) = s.join(0, JSON, "bench");
    s.take(caller);
    let caller_conn = s.clients[caller].conn;
    let callee_conn = s.clients[callee].conn;
    let cores = &mut s.cores[..];
    let payload = payload_64();
    let mut mesh = Mesh::new();
    // The next CALL request id, and the callee's next INVOCATION request id.
    let mut next_call = 1u64;
    let mut next_invocation = 1u64;
    let mut call_frames = Vec::with_capacity(CALL_BATCH as usize);
    let mut yield_frames = Vec::with_capacity(CALL_BATCH as usize);

    // Runs n calls (in batches), returning the time spent routing them.
    let mut run = |n: u64| -> Duration {
        let mut spent = Duration::ZERO;
        let mut left = n;
        while left > 0 {
            let batch = left.min(CALL_BATCH);
            left -= batch;
            call_frames.clear();
            yield_frames.clear();
            for i in 0..batch {
                call_frames.push(encode(&Message::Call {
                    request: next_call + i,
                    options: Dict::new(),
                    procedure: PROCEDURE.into(),
                    payload: payload.clone(),
                }));
                yield_frames.push(encode(&Message::Yield {
                    request: next_invocation + i,
                    options: Dict::new(),
                    payload: payload.clone(),
                }));
            }
            next_call += batch;
            next_invocation += batch;
            let (mut invocations, mut results) = (0u64, 0u64);
            let mut on_send = |c: ConnId| {
                if c == callee_conn {
                    invocations += 1;
                } else if c == caller_conn {
                    results += 1;
                }
            };
            let t = Instant::now();
            for (call, yld) in call_frames.iter().zip(&yield_frames) {
                cores[0].receive_frame(caller_conn, call);
                drain(cores, 0, &mut mesh, &mut on_send);
                settle(cores, &mut mesh, &mut on_send);
                cores[callee_shard as usize].receive_frame(callee_conn, yld);
                drain(cores, callee_shard, &mut mesh, &mut on_send);
                settle(cores, &mut mesh, &mut on_send);
            }
            spent += t.elapsed();
            assert_eq!((invocations, results), (batch, batch), "{case}");
        }
        spent
    };
    let start = Instant::now();
    let mut n = 16u64;
    let mut done = 0u64;
    while start.elapsed() < WARMUP {
        run(n);
        done += n;
        n = (n * 2).min(1 << 16);
    }
    let per = start.elapsed().as_secs_f64() / done as f64;
    let iters = ((SAMPLE.as_secs_f64() / per) as u64).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..SAMPLES {
        best = best.min(run(iters).as_secs_f64() / iters as f64);
    }
    line(case, 1.0 / best, "calls/s");
    line(case, best * 1e9, "ns/call");
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    if "size".contains(filter.as_str()) {
        line("size/Output", size_of::<Output>() as f64, "bytes");
        line("size/PeerMsg", size_of::<PeerMsg>() as f64, "bytes");
    }
    fanout_one_shard(&filter);
    fanout_four_shards(&filter);
    calls(&filter, "call/1-shard", 0);
    calls(&filter, "call/2-shards", 1);
    wampcra(&filter);
    cryptosign(&filter);
    authz(&filter, "authz/static");
    authz(&filter, "authz/dynamic-cached");
    authz(&filter, "authz/dynamic-uncached");
}

/// Cryptosign: a challenge and a signed answer for a configured key, and for
/// a key nobody lists (decoy), the client's signing outside the timing.
fn cryptosign(filter: &str) {
    use shardwamp::config::auth::TransportAuth;
    use shardwamp::router::auth::{AuthStep, Authenticator};
    use shardwamp::wamp::cryptosign::{self as cs, PrivateKey};
    let user = PrivateKey::from_seed(&[1; 32]);
    let stranger = PrivateKey::from_seed(&[2; 32]);
    let config: TransportAuth = serde_json::from_value(serde_json::json!({
        "cryptosign": {"type": "static", "principals": {
            "alice": {"authorized_keys": [user.public_hex()], "role": "user"}}}
    }))
    .expect("auth config");
    let auth = Authenticator::new(&config).expect("authenticator");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    for (who, key) in [("user", &user), ("decoy", &stranger)] {
        let details = shardwamp::dict! {
            "authmethods" => Value::List(vec![Value::from("cryptosign")]),
            "authextra" => shardwamp::dict! {"pubkey" => key.public_hex()},
        };
        let case = format!("cryptosign/attempt/{who}");
        if !case.contains(filter) {
            continue;
        }
        // Signed answers prepared outside the timing loop.
        let mut answers = Vec::new();
        let per = time_per_op(|n| {
            answers.clear();
            let mut pendings = Vec::with_capacity(n as usize);
            for i in 0..n {
                let step = auth.hello("realm1", &details, None, i, "", &mut rng);
                if let AuthStep::Challenge { extra, pending, .. } = step {
                    let ch = extra.get("challenge").and_then(Value::as_str).unwrap_or("");
                    let ch: [u8; 32] = cs::decode_hex(ch, "challenge").unwrap_or([0; 32]);
                    answers.push(cs::sign(key.signing_key(), &ch, None));
                    pendings.push(pending);
                }
            }
            for (pending, answer) in pendings.into_iter().zip(&answers) {
                black_box(auth.authenticate(pending, answer, &Dict::new()));
            }
        });
        let _ = answers;
        line(
            &case,
            per.as_nanos() as f64,
            "ns/op (with the client's signing)",
        );
    }
}

/// The cost of authorizing a PUBLISH: by permissions, by a cached
/// dynamic-authorizer answer, and by asking the authorizer every time.
fn authz(filter: &str, case: &str) {
    use shardwamp::config::auth::TransportAuth;
    if !case.contains(filter) {
        return;
    }
    let dynamic = case != "authz/static";
    let cached = case == "authz/dynamic-cached";
    let mut r = realm();
    r.roles.push(RoleConfig {
        name: "dyn".into(),
        permissions: vec![],
        authorizer: Some("com.bench.authorize".into()),
        allow_by_default: false,
    });
    let mut s = Sim::new(2, 7);
    s.start_realm(0, r);
    let auth: TransportAuth =
        toml::from_str("[anonymous]\ntype = \"static\"\nrole = \"dyn\"\n").expect("auth config");
    s.set_transport(1, &auth);
    let (authorizer, _) = s.join(1, JSON, "bench");
    s.send(
        authorizer,
        &Message::Register {
            request: 1,
            options: Dict::new(),
            procedure: "com.bench.authorize".into(),
        },
    );
    s.run();
    s.take(authorizer);
    let publisher = s.connect_via(0, JSON, if dynamic { 1 } else { 0 });
    s.hello(publisher, "bench", Dict::new());
    let pub_conn = s.clients[publisher].conn;
    let auth_conn = s.clients[authorizer].conn;
    let publish = encode(&Message::Publish {
        request: 1,
        options: shardwamp::dict! {"acknowledge" => true},
        topic: TOPIC.into(),
        payload: payload_64(),
    });
    let answer = |request: u64, cache: bool| {
        encode(&Message::Yield {
            request,
            options: Dict::new(),
            payload: Payload::args(vec![Value::Dict(
                shardwamp::dict! {"allow" => true, "cache" => cache},
            )]),
        })
    };
    let cores = &mut s.cores[..];
    let mut mesh = Mesh::new();
    let mut next_invocation = 1u64;
    if cached {
        // Prime the cache: the first PUBLISH asks, the answer says `cache`.
        let mut asked = 0;
        cores[0].receive_frame(pub_conn, &publish);
        drain(cores, 0, &mut mesh, &mut |c| {
            asked += u64::from(c == auth_conn)
        });
        settle(cores, &mut mesh, &mut |c| {
            asked += u64::from(c == auth_conn)
        });
        assert_eq!(asked, 1, "{case}: the authorizer is asked once");
        cores[1].receive_frame(auth_conn, &answer(next_invocation, true));
        next_invocation += 1;
        drain(cores, 1, &mut mesh, &mut |_| {});
        settle(cores, &mut mesh, &mut |_| {});
    }
    let mut run = |n: u64| -> Duration {
        // The INVOCATION request ids run 1, 2, ...: their answers, pre-encoded.
        let answers: Vec<Bytes> = if dynamic && !cached {
            (next_invocation..next_invocation + n)
                .map(|i| answer(i, false))
                .collect()
        } else {
            Vec::new()
        };
        next_invocation += answers.len() as u64;
        let (mut published, mut asked) = (0u64, 0u64);
        let mut on_send = |c: ConnId| {
            if c == pub_conn {
                published += 1;
            } else if c == auth_conn {
                asked += 1;
            }
        };
        let t = Instant::now();
        for i in 0..n as usize {
            cores[0].receive_frame(pub_conn, &publish);
            drain(cores, 0, &mut mesh, &mut on_send);
            settle(cores, &mut mesh, &mut on_send);
            if let Some(frame) = answers.get(i) {
                cores[1].receive_frame(auth_conn, frame);
                drain(cores, 1, &mut mesh, &mut on_send);
                settle(cores, &mut mesh, &mut on_send);
            }
        }
        let spent = t.elapsed();
        let expect_asked = if dynamic && !cached { n } else { 0 };
        assert_eq!((published, asked), (n, expect_asked), "{case}");
        spent
    };
    let start = Instant::now();
    let mut n = 16u64;
    let mut done = 0u64;
    while start.elapsed() < WARMUP {
        run(n);
        done += n;
        n = (n * 2).min(1 << 14);
    }
    let per = start.elapsed().as_secs_f64() / done as f64;
    let iters = ((SAMPLE.as_secs_f64() / per) as u64).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..SAMPLES {
        best = best.min(run(iters).as_secs_f64() / iters as f64);
    }
    line(case, best * 1e9, "ns/publish");
}

/// WAMP-CRA for a configured (salted) user and for an unknown authid.
fn wampcra(filter: &str) {
    use shardwamp::config::auth::TransportAuth;
    use shardwamp::router::auth::{AuthStep, Authenticator};
    let config: TransportAuth = toml::from_str(
        r#"
[wampcra]
type = "static"
users = { joe = { secret = "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=", role = "user", salt = "salt123", iterations = 1000, keylen = 32 } }
"#,
    )
    .expect("auth config");
    let auth = Authenticator::new(&config).expect("authenticator");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    for who in ["user", "decoy"] {
        let authid = if who == "user" { "joe" } else { "mallory" };
        let details = shardwamp::dict! {
            "authid" => authid,
            "authmethods" => Value::List(vec![Value::from("wampcra")]),
        };
        let case = format!("wampcra/challenge/{who}");
        if case.contains(filter) {
            let per = time_per_op(|n| {
                for i in 0..n {
                    black_box(auth.hello(
                        "realm1",
                        &details,
                        None,
                        i,
                        "2026-01-01T00:00:00.000Z",
                        &mut rng,
                    ));
                }
            });
            line(&case, per.as_nanos() as f64, "ns/op");
        }
        let case = format!("wampcra/attempt/{who}");
        if case.contains(filter) {
            let per = time_per_op(|n| {
                for i in 0..n {
                    let step = auth.hello(
                        "realm1",
                        &details,
                        None,
                        i,
                        "2026-01-01T00:00:00.000Z",
                        &mut rng,
                    );
                    if let AuthStep::Challenge { pending, .. } = step {
                        black_box(auth.authenticate(pending, "bm9wZQ==", &Dict::new()));
                    }
                }
            });
            line(&case, per.as_nanos() as f64, "ns/op");
        }
    }
}
