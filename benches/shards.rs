//! Crossing shards: the router CPU a publication and a call cost when they
//! stay on one shard against when they cross to another (issue 16), with the
//! real cross-thread hop.
//!
//! Sessions are set up through the deterministic simulator (`sim::Sim`, two
//! shards, JSON, realm `bench` with anonymous allowed everything, home shard
//! 0); then the two `RouterCore`s are driven directly, with pre-encoded
//! frames (64 B `Arguments`), their outputs drained and counted:
//!
//! - `*/local`: everything on shard 0, in this thread; the thread's CPU time
//!   (`CLOCK_THREAD_CPUTIME_ID`) over the measured messages.
//! - `*/cross/batch-B/...`: shard 0's core on one glommio executor and shard
//!   1's on another, each pinned to its own CPU where the process may use two
//!   (the first two of its affinity mask, or `SHARDS_BENCH_CPUS=A,B`), joined
//!   by glommio's full channel mesh of `PeerMsg` (`MeshBuilder::full`, 4096
//!   slots: what `shard/start.rs` builds and `shard/mesh.rs` sends on with
//!   `try_send_to`), `B` messages per channel wake-up. Each side reports its
//!   own thread's CPU time, so the figures hold on a busy host (wall time
//!   would not).
//!
//! The cases, each per unit (a publication, or a call):
//!
//! - `pubsub/local`: a PUBLISH on shard 0 delivered to one subscriber on
//!   shard 0 (`c_local` of an event).
//! - `pubsub/cross/batch-B/send`: the publisher's shard (0) for a
//!   publication whose one subscriber is on shard 1: the PUBLISH, matching,
//!   and handing the publication to the channel. Only the routing work is
//!   timed (per batch, a clock read's cost subtracted): the publisher's shard
//!   is woken by its socket, local or not. The sender waits for the receiver
//!   to finish each batch and sleeps at least `period` between batches (the
//!   batch handed over together, after its routing work), so
//!   that the receiver has gone idle: every batch costs it a real wake-up.
//! - `pubsub/cross/batch-B/recv`: the subscriber's shard (1), its whole
//!   thread: the wake-up, taking the publication from the channel, and the
//!   EVENT to its subscriber.
//! - `fanout-1000/...`: the same with 1000 subscribers (all on the
//!   receiving shard in the cross case): separates the cost per delivered
//!   event from the cost per publication and per peer message.
//! - `call/local`: caller and callee on shard 0: CALL, INVOCATION, YIELD,
//!   RESULT.
//! - `call/cross/batch-B/caller`: the caller's shard (0), whole thread: CALL
//!   in, `Invoke` to the channel, the answer from the channel (with its
//!   wake-ups), RESULT out. The caller sends a batch of B calls and waits for
//!   their B results (a closed loop: both legs cross).
//! - `call/cross/batch-B/callee`: the callee's shard (1), whole thread: the
//!   wake-up, `Invoke` from the channel, INVOCATION out, the callee's YIELD
//!   in (answered after each wake-up's batch), the answer to the channel.
//! - `.../sum`: both shards' CPU per unit; `.../wakeups`: the receiving
//!   side's measured channel wake-ups per message (1/B when every batch woke
//!   it once; lower when batches merged on a busy host).
//!
//! `benches/shards-model.py` reads these lines and prints how N shards scale
//! by the model in docs/benchmarks.md ("Crossing shards").
//!
//! Run with `cargo bench --bench shards [filter] [--msgs N]`; `filter` is a
//! substring of the case names; `--msgs` sets the measured messages per case
//! (default 32768; the fan-out cases use a sixteenth, at least 64), with a
//! tenth as many before them as a warm-up. Executor threads of the cross
//! cases park for good when done (glommio 0.9's executor teardown is unsafe
//! with two or more executors; see `src/shard/mod.rs`): the process exits at
//! the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use glommio::channels::channel_mesh::{Full, MeshBuilder};
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::{LocalExecutorBuilder, Placement};
use shardwamp::codec::Serializer;
use shardwamp::config::realm::RealmConfig;
use shardwamp::config::role::{Allow, Disclose, Permission, RoleConfig};
use shardwamp::router::peer::PeerMsg;
use shardwamp::router::{ConnId, Output, RouterCore, ShardId};
use shardwamp::sim::{ClientId, Sim};
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::uri::MatchPolicy;
use shardwamp::wamp::value::{Dict, Value};

// ---- clocks and output ---------------------------------------------------------

/// This thread's CPU time, nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec passed.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What one read of the thread CPU clock costs, ns (the median of a few tries).
fn clock_read_ns() -> f64 {
    let mut tries: Vec<f64> = (0..7)
        .map(|_| {
            let n = 2000u64;
            let t = thread_cpu_ns();
            for _ in 0..n {
                std::hint::black_box(thread_cpu_ns());
            }
            (thread_cpu_ns() - t) as f64 / n as f64
        })
        .collect();
    tries.sort_by(f64::total_cmp);
    tries[3]
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
    println!("{case:<40} {v:>14}  {unit}");
}

// ---- setup ---------------------------------------------------------------------

const TOPIC: &str = "com.bench.shards";
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

fn encode(msg: &Message) -> Bytes {
    Bytes::from(JSON.encode(msg).expect("encode"))
}

/// Two shards, realm `bench` homed on shard 0.
fn sim() -> Sim {
    let mut s = Sim::new(2, 7);
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

/// The two cores, taken out of a settled simulation.
fn cores(mut s: Sim) -> (RouterCore, RouterCore) {
    assert_eq!(s.pending(), 0, "the simulation has settled");
    for c in 0..s.clients.len() {
        s.take(c);
    }
    let mut cores = std::mem::take(&mut s.cores);
    let one = cores.pop().expect("core 1");
    let zero = cores.pop().expect("core 0");
    (zero, one)
}

/// A publication setup: `subscribers` on `sub_shard`, the publisher on shard
/// 0; the cores, the publisher's connection and the PUBLISH frame.
fn pubsub_setup(subscribers: usize, sub_shard: ShardId) -> (RouterCore, RouterCore, ConnId, Bytes) {
    let mut s = sim();
    for _ in 0..subscribers {
        let (c, _) = s.join(sub_shard, JSON, "bench");
        subscribe(&mut s, c);
    }
    let (p, _) = s.join(0, JSON, "bench");
    let conn = s.clients[p].conn;
    let frame = encode(&Message::Publish {
        request: 1,
        options: Dict::new(),
        topic: TOPIC.into(),
        payload: payload_64(),
    });
    let (zero, one) = cores(s);
    (zero, one, conn, frame)
}

/// A call setup: the callee on `callee_shard`, the caller on shard 0; the
/// cores, the caller's and the callee's connections, and `n` CALL frames
/// (request ids 1..) with their YIELDs (INVOCATION request ids 1..).
fn call_setup(
    callee_shard: ShardId,
    n: u64,
) -> (
    RouterCore,
    RouterCore,
    ConnId,
    ConnId,
    Vec<Bytes>,
    Vec<Bytes>,
) {
    let mut s = sim();
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
    let (caller_conn, callee_conn) = (s.clients[caller].conn, s.clients[callee].conn);
    let payload = payload_64();
    let calls = (1..=n)
        .map(|i| {
            encode(&Message::Call {
                request: i,
                options: Dict::new(),
                procedure: PROCEDURE.into(),
                payload: payload.clone(),
            })
        })
        .collect();
    let yields = (1..=n)
        .map(|i| {
            encode(&Message::Yield {
                request: i,
                options: Dict::new(),
                payload: payload.clone(),
            })
        })
        .collect();
    let (zero, one) = cores(s);
    (zero, one, caller_conn, callee_conn, calls, yields)
}

// ---- the local cases -------------------------------------------------------------

/// Runs `warm` then `n` units of `op` in this thread; CPU ns per unit.
fn local(warm: u64, n: u64, mut op: impl FnMut(u64)) -> f64 {
    for i in 0..warm {
        op(i);
    }
    let t = thread_cpu_ns();
    for i in warm..warm + n {
        op(i);
    }
    (thread_cpu_ns() - t) as f64 / n as f64
}

fn pubsub_local(case: &str, subscribers: usize, warm: u64, n: u64) -> f64 {
    let (mut core, _, conn, frame) = pubsub_setup(subscribers, 0);
    let mut sent = 0u64;
    let per = local(warm, n, |_| {
        core.receive_frame(conn, &frame);
        for o in core.outputs().drain(..) {
            match o {
                Output::Send { frame, .. } => {
                    sent += 1;
                    drop(std::hint::black_box(frame));
                }
                other => panic!("{case}: unexpected output {other:?}"),
            }
        }
    });
    assert_eq!(sent, (warm + n) * subscribers as u64, "{case}");
    line(case, per, "ns/publication (thread CPU)");
    per
}

fn call_local(case: &str, warm: u64, n: u64) -> f64 {
    let (mut core, _, caller, callee, calls, yields) = call_setup(0, warm + n);
    let (mut invocations, mut results) = (0u64, 0u64);
    let per = local(warm, n, |i| {
        for (conn, frame) in [(caller, &calls[i as usize]), (callee, &yields[i as usize])] {
            core.receive_frame(conn, frame);
            for o in core.outputs().drain(..) {
                match o {
                    Output::Send { conn, .. } if conn == callee => invocations += 1,
                    Output::Send { conn, .. } if conn == caller => results += 1,
                    other => panic!("{case}: unexpected output {other:?}"),
                }
            }
        }
    });
    assert_eq!((invocations, results), (warm + n, warm + n), "{case}");
    line(case, per, "ns/call (thread CPU)");
    per
}

// ---- the cross cases: two executors, glommio's channel mesh ----------------------

/// The CPUs the two shards are pinned to: `SHARDS_BENCH_CPUS=A,B`, else the
/// first two this process may run on; `None` when it may use only one.
fn cpus() -> Option<(usize, usize)> {
    if let Ok(v) = std::env::var("SHARDS_BENCH_CPUS") {
        let l: Vec<usize> = v.split(',').filter_map(|c| c.trim().parse().ok()).collect();
        return match l.as_slice() {
            [a, b] => Some((*a, *b)),
            _ => panic!("SHARDS_BENCH_CPUS={v}: expected two CPU numbers, A,B"),
        };
    }
    // SAFETY: sched_getaffinity writes only the set passed, of the size given.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } == 0;
    if !ok {
        return None;
    }
    // SAFETY: CPU_ISSET reads the set filled above.
    let mut allowed =
        (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) });
    Some((allowed.next()?, allowed.next()?))
}

fn executor(cpu: Option<usize>, name: &str) -> LocalExecutorBuilder {
    let placement = match cpu {
        Some(c) => Placement::Fixed(c),
        None => Placement::Unbound,
    };
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(1 << 20)
        .ring_depth(64)
}

/// A shard's report: CPU ns over the measured part, channel wake-ups in it,
/// and the messages it received in it.
struct Side {
    cpu_ns: u64,
    wakeups: u64,
    received: u64,
}

/// The next message from the peer, counting a wake-up when none was waiting
/// (the task then yields and the executor parks until the channel wakes it).
///
/// It polls the channel once per wake-up, no more: each poll that finds the
/// channel empty hands glommio a clone of the task's waker, kept until a
/// message comes, and glommio counts a task's references in an `i16`. A
/// future polled twice per wait (or dropped while pending) leaks one per
/// wait, and after 32767 of them the executor panics ("Waker invariant
/// broken"), which is how this bench once hung in `call/cross`.
async fn next(rx: &mut ConnectedReceiver<PeerMsg>, wakeups: &mut u64) -> PeerMsg {
    use futures_lite::Stream;
    let mut first = true;
    let got = std::future::poll_fn(|cx| {
        let p = std::pin::Pin::new(&mut *rx).poll_next(cx);
        if p.is_pending() && first {
            *wakeups += 1;
        }
        first = false;
        p
    })
    .await;
    got.expect("the peer shard closed its channel")
}

type Senders = glommio::channels::channel_mesh::Senders<PeerMsg>;

/// Starts both shards' executors, each running its side with its mesh ends
/// and the mesh id of the other side, and waits for both reports. The
/// threads park for good afterwards (see the module docs).
fn two_shards<A, B, FA, FB>(a: A, b: B) -> (Side, Side)
where
    A: FnOnce(Senders, ConnectedReceiver<PeerMsg>, usize) -> FA + Send + 'static,
    B: FnOnce(Senders, ConnectedReceiver<PeerMsg>, usize) -> FB + Send + 'static,
    FA: std::future::Future<Output = Side> + 'static,
    FB: std::future::Future<Output = Side> + 'static,
{
    let (ca, cb) = match cpus() {
        Some((x, y)) => (Some(x), Some(y)),
        None => (None, None),
    };
    // glommio's MeshBuilder holds an `Rc`: every clone is made here, on this
    // thread, and the original is leaked (as `shard/start.rs` does).
    let mesh: MeshBuilder<PeerMsg, Full> = MeshBuilder::full(2, 4096);
    let (ma, mb) = (AssertSend(mesh.clone()), AssertSend(mesh.clone()));
    std::mem::forget(mesh);
    let (tx, rx) = mpsc::channel::<(u8, Side)>();
    spawn_side(0, ca, ma, tx.clone(), a);
    spawn_side(1, cb, mb, tx, b);
    let mut got: [Option<Side>; 2] = [None, None];
    for _ in 0..2 {
        let (which, side) = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("both shards report");
        got[which as usize] = Some(side);
    }
    let [a, b] = got;
    (a.expect("shard 0"), b.expect("shard 1"))
}

/// One side's executor: joins the mesh, runs `side`, reports, parks.
fn spawn_side<F, Fut>(
    which: u8,
    cpu: Option<usize>,
    mesh: AssertSend<MeshBuilder<PeerMsg, Full>>,
    tx: mpsc::Sender<(u8, Side)>,
    side: F,
) where
    F: FnOnce(Senders, ConnectedReceiver<PeerMsg>, usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Side> + 'static,
{
    executor(cpu, if which == 0 { "shard-0" } else { "shard-1" })
        .spawn(move || async move {
            let mesh = { mesh }.0;
            let (senders, mut receivers) = mesh.join().await.expect("join the mesh");
            let other = 1 - senders.peer_id();
            let mut streams = receivers.streams();
            let (_, stream) = streams.pop().expect("a receiver from the other shard");
            let report = side(senders, stream, other).await;
            let _ = tx.send((which, report));
            loop {
                std::thread::park();
            }
        })
        .expect("start an executor");
}

/// Carries the mesh builder (and the cores) to an executor thread: glommio's
/// `MeshBuilder` is `Send` by its own unsafe impl, and a `RouterCore` holds
/// nothing tied to the thread that built it.
struct AssertSend<T>(T);
// SAFETY: see the type's docs; each value is used by one thread only.
unsafe impl<T> Send for AssertSend<T> {}

/// Hands a peer message to the other shard as `shard/mesh.rs` does
/// (`try_send_to`); the channel holds 4096, more than any batch here.
fn send_peer(tx: &Senders, other: usize, msg: PeerMsg) {
    if tx.try_send_to(other, msg).is_err() {
        panic!("the channel to the other shard is full or closed");
    }
}

/// Publications from shard 0 to subscribers on shard 1, `batch` per wake-up.
fn pubsub_cross(
    case: &str,
    subscribers: usize,
    batch: u64,
    warm: u64,
    n: u64,
    period: Duration,
    clock_ns: f64,
) -> (f64, f64) {
    let (core0, core1, conn, frame) = pubsub_setup(subscribers, 1);
    let rounds = (warm + n).div_ceil(batch);
    let warm_rounds = warm.div_ceil(batch);
    let measured = (rounds - warm_rounds) * batch;
    let total = rounds * batch;
    let processed = Arc::new(AtomicU64::new(0));
    let (core0, core1) = (AssertSend(core0), AssertSend(core1));
    let done = processed.clone();
    let case_a = case.to_owned();
    let sender = move |tx: Senders, _rx: ConnectedReceiver<PeerMsg>, other: usize| async move {
        let mut core = { core0 }.0;
        let (mut work, mut sent) = (0u64, 0u64);
        let mut out = Vec::with_capacity(batch as usize);
        for round in 0..rounds {
            // Let the receiver finish the last batch and go idle.
            loop {
                glommio::timer::sleep(period).await;
                if done.load(Ordering::Acquire) >= sent {
                    break;
                }
            }
            let t = thread_cpu_ns();
            for _ in 0..batch {
                core.receive_frame(conn, &frame);
                let mut peers = 0;
                for o in core.outputs().drain(..) {
                    match o {
                        Output::Peer { msg, .. } => {
                            peers += 1;
                            out.push(*msg);
                        }
                        o => panic!("{case_a}: unexpected output on the publisher's shard {o:?}"),
                    }
                }
                assert_eq!(peers, 1, "{case_a}: one peer message per publication");
            }
            // The batch goes out together: one wake-up of the receiver.
            for msg in out.drain(..) {
                send_peer(&tx, other, msg);
            }
            let dt = thread_cpu_ns() - t;
            if round >= warm_rounds {
                work += dt;
            }
            sent += batch;
        }
        Side {
            cpu_ns: work,
            wakeups: 0,
            received: 0,
        }
    };
    let case_b = case.to_owned();
    let receiver = move |_tx: Senders, mut rx: ConnectedReceiver<PeerMsg>, _other: usize| async move {
        let mut core = { core1 }.0;
        let (mut got, mut wakeups, mut events) = (0u64, 0u64, 0u64);
        let (mut cpu0, mut wake0) = (thread_cpu_ns(), 0);
        while got < total {
            let msg = next(&mut rx, &mut wakeups).await;
            core.peer(0, msg);
            for o in core.outputs().drain(..) {
                match o {
                    Output::Send { frame, .. } => {
                        events += 1;
                        drop(std::hint::black_box(frame));
                    }
                    o => panic!("{case_b}: unexpected output on the subscriber's shard {o:?}"),
                }
            }
            got += 1;
            processed.store(got, Ordering::Release);
            if got == total - measured {
                cpu0 = thread_cpu_ns();
                wake0 = wakeups;
            }
        }
        let cpu_ns = thread_cpu_ns() - cpu0;
        assert_eq!(
            events,
            total * subscribers as u64,
            "{case_b}: every event delivered"
        );
        Side {
            cpu_ns,
            wakeups: wakeups - wake0,
            received: measured,
        }
    };
    let (a, b) = two_shards(sender, receiver);
    // Each timed batch includes about one clock read.
    let send =
        (a.cpu_ns as f64 - clock_ns * (rounds - warm_rounds) as f64).max(0.0) / measured as f64;
    let recv = b.cpu_ns as f64 / measured as f64;
    line(
        &format!("{case}/send"),
        send,
        "ns/publication (publisher's shard, routing work)",
    );
    line(
        &format!("{case}/recv"),
        recv,
        "ns/publication (subscriber's shard, whole thread)",
    );
    line(&format!("{case}/sum"), send + recv, "ns/publication");
    line(
        &format!("{case}/wakeups"),
        b.wakeups as f64 / b.received.max(1) as f64,
        "wake-ups/message (subscriber's shard)",
    );
    (send, recv)
}

/// Calls from shard 0 to a callee on shard 1, `batch` at a time.
fn call_cross(case: &str, batch: u64, warm: u64, n: u64) -> (f64, f64) {
    let rounds = (warm + n).div_ceil(batch);
    let warm_rounds = warm.div_ceil(batch);
    let measured = (rounds - warm_rounds) * batch;
    let total = rounds * batch;
    let (core0, core1, caller, callee, calls, yields) = call_setup(1, total);
    let (core0, core1) = (AssertSend(core0), AssertSend(core1));
    let (calls, yields) = (AssertSend(calls), AssertSend(yields));
    let case_a = case.to_owned();
    let caller_side = move |tx: Senders, mut rx: ConnectedReceiver<PeerMsg>, other: usize| async move {
        let mut core = { core0 }.0;
        let calls = { calls }.0;
        let (mut wakeups, mut cpu0, mut wake0) = (0u64, thread_cpu_ns(), 0u64);
        let mut k = 0usize;
        let mut out = Vec::with_capacity(batch as usize);
        for round in 0..rounds {
            if round == warm_rounds {
                cpu0 = thread_cpu_ns();
                wake0 = wakeups;
            }
            for _ in 0..batch {
                core.receive_frame(caller, &calls[k]);
                k += 1;
                for o in core.outputs().drain(..) {
                    match o {
                        Output::Peer { msg, .. } => out.push(*msg),
                        o => panic!("{case_a}: unexpected output on the caller's shard {o:?}"),
                    }
                }
            }
            // The batch goes out together: one wake-up of the callee's shard.
            for msg in out.drain(..) {
                send_peer(&tx, other, msg);
            }
            let mut results = 0;
            while results < batch {
                let msg = next(&mut rx, &mut wakeups).await;
                core.peer(1, msg);
                for o in core.outputs().drain(..) {
                    match o {
                        Output::Send { conn, .. } if conn == caller => results += 1,
                        o => panic!("{case_a}: unexpected output on the caller's shard {o:?}"),
                    }
                }
            }
        }
        Side {
            cpu_ns: thread_cpu_ns() - cpu0,
            wakeups: wakeups - wake0,
            received: measured,
        }
    };
    let case_b = case.to_owned();
    let callee_side = move |tx: Senders, mut rx: ConnectedReceiver<PeerMsg>, other: usize| async move {
        let mut core = { core1 }.0;
        let yields = { yields }.0;
        let (mut handled, mut wakeups) = (0u64, 0u64);
        let (mut cpu0, mut wake0) = (thread_cpu_ns(), 0u64);
        let mut k = 0usize;
        let mut out = Vec::with_capacity(batch as usize);
        while handled < total {
            // The caller's batch of CALLs (those after the first are
            // waiting already: no further wake-up), then their YIELDs.
            let mut invocations = 0u64;
            while invocations < batch {
                let m = next(&mut rx, &mut wakeups).await;
                core.peer(0, m);
                for o in core.outputs().drain(..) {
                    match o {
                        Output::Send { conn, .. } if conn == callee => invocations += 1,
                        o => panic!("{case_b}: unexpected output on the callee's shard {o:?}"),
                    }
                }
            }
            for _ in 0..invocations {
                core.receive_frame(callee, &yields[k]);
                k += 1;
                for o in core.outputs().drain(..) {
                    match o {
                        Output::Peer { msg, .. } => out.push(*msg),
                        o => panic!("{case_b}: unexpected output on the callee's shard {o:?}"),
                    }
                }
            }
            for msg in out.drain(..) {
                send_peer(&tx, other, msg);
            }
            handled += invocations;
            if handled == total - measured {
                cpu0 = thread_cpu_ns();
                wake0 = wakeups;
            }
        }
        Side {
            cpu_ns: thread_cpu_ns() - cpu0,
            wakeups: wakeups - wake0,
            received: measured,
        }
    };
    let (a, b) = two_shards(caller_side, callee_side);
    let caller_ns = a.cpu_ns as f64 / measured as f64;
    let callee_ns = b.cpu_ns as f64 / measured as f64;
    line(
        &format!("{case}/caller"),
        caller_ns,
        "ns/call (caller's shard, whole thread)",
    );
    line(
        &format!("{case}/callee"),
        callee_ns,
        "ns/call (callee's shard, whole thread)",
    );
    line(&format!("{case}/sum"), caller_ns + callee_ns, "ns/call");
    line(
        &format!("{case}/wakeups"),
        b.wakeups as f64 / b.received.max(1) as f64,
        "wake-ups/message (callee's shard)",
    );
    line(
        &format!("{case}/caller-wakeups"),
        a.wakeups as f64 / a.received.max(1) as f64,
        "wake-ups/message (caller's shard)",
    );
    (caller_ns, callee_ns)
}

// ---- main ------------------------------------------------------------------------

const BATCHES: [u64; 2] = [1, 64];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filter = String::new();
    let mut msgs = 32_768u64;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--msgs" => {
                msgs = args
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .expect("--msgs N");
                i += 1;
            }
            a if a.starts_with("--") => {}
            a => filter = a.to_owned(),
        }
        i += 1;
    }
    let msgs = msgs.max(64);
    let warm = (msgs / 10).max(16);
    let (fan_n, fan_warm) = ((msgs / 16).max(64), (msgs / 160).max(8));
    shardwamp::shard::raise_memlock(64 << 20).expect("locked memory for io_uring");
    let clock_ns = clock_read_ns();
    let placed = match cpus() {
        Some((a, b)) => format!("shards pinned to CPUs {a} and {b}"),
        None => "one CPU available: the shards are not pinned".into(),
    };
    println!(
        "# shards bench: {msgs} messages per case ({fan_n} for fan-out), {placed}; \
         thread CPU clock read {clock_ns:.0} ns"
    );
    let want = |case: &str| case.contains(filter.as_str());

    // Publications, one subscriber.
    let mut per_event = 2000.0;
    if want("pubsub/local") {
        per_event = pubsub_local("pubsub/local", 1, warm, msgs);
    }
    for b in BATCHES {
        let case = format!("pubsub/cross/batch-{b}");
        if want(&case) {
            let period = Duration::from_nanos(20_000 + (b as f64 * per_event * 3.0) as u64);
            pubsub_cross(&case, 1, b, warm, msgs, period, clock_ns);
        }
    }
    // Publications, 1000 subscribers.
    let mut per_pub = 1_000_000.0;
    if want("fanout-1000/local") {
        per_pub = pubsub_local("fanout-1000/local", 1000, fan_warm, fan_n);
    }
    for b in BATCHES {
        let case = format!("fanout-1000/cross/batch-{b}");
        if want(&case) {
            let period = Duration::from_nanos(20_000 + (b as f64 * per_pub * 3.0) as u64);
            pubsub_cross(&case, 1000, b, fan_warm, fan_n, period, clock_ns);
        }
    }
    // Calls.
    if want("call/local") {
        call_local("call/local", warm, msgs);
    }
    for b in BATCHES {
        let case = format!("call/cross/batch-{b}");
        if want(&case) {
            call_cross(&case, b, warm, msgs);
        }
    }
    // The executors' threads are parked for good: leave without joining them.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}
