//! What a shard runs: its share of the publishers and subscribers (fanout),
//! callers and callees (rpc), and sessions, client `i` of each kind living
//! on shard `i % shards`.
//!
//! Fanout payloads are `Arguments = [publisher, seq, sent_ns, measured]` and
//! `ArgumentsKw = {"pad": "xx…"}` sized to `--payload`: a subscriber takes
//! the latency from `sent_ns` (nanoseconds since the run's epoch: publisher
//! and subscriber share one clock), counts the event only when the publisher
//! sent it in the measured interval, and checks each publisher's sequence
//! numbers only grow. The publisher adds, for each measured publication, the
//! number of subscribers of its topic to what must be delivered.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use glommio::sync::Semaphore;
use glommio::Task;

use super::client::{self, Session};
use super::options::{InvokePolicy, Pace};
use super::state::{Local, Phase};
use super::stats::{Part, C};
use super::wire;
use crate::codec::Serializer;
use crate::dict;
use crate::wamp::message::{Message, MessageType, Payload, RawPayload};
use crate::wamp::value::{Dict, Value};

/// The procedure the rpc part calls.
const PROCEDURE: &str = "bench.rpc.echo";
/// How many connections a shard opens at once during setup.
const SETUP_PARALLEL: usize = 64;
/// Receive buffer of the busy sessions (publishers, callers, callees).
const BUSY_BUF: usize = 64 * 1024;
/// Receive buffer of subscribers.
const SUB_BUF: usize = 16 * 1024;
/// Receive buffer of idle sessions.
const IDLE_BUF: usize = 2 * 1024;

fn topic(t: usize) -> String {
    format!("bench.fanout.{t}")
}

/// The indices of `count` clients that live on this shard.
fn mine(l: &Local, count: usize) -> Vec<usize> {
    let n = l.shared.opts.shards;
    (0..count).filter(|i| i % n == l.idx).collect()
}

/// Encodes a list of unsigned integers as an `Arguments` element.
fn encode_args(ser: Serializer, vals: &[u64]) -> Bytes {
    let mut out = Vec::with_capacity(8 + 10 * vals.len());
    let list = Value::List(vals.iter().map(|v| Value::UInt(*v)).collect());
    ser.encode_value(&list, &mut out);
    Bytes::from(out)
}

/// `ArgumentsKw = {"pad": "xx…"}` making a payload of about `size` bytes
/// next to `args_len` bytes of `Arguments`, or `None` when there is no room.
fn padding(ser: Serializer, size: usize, args_len: usize) -> Option<Bytes> {
    let empty = dict! { "pad" => "" };
    let mut out = Vec::new();
    ser.encode_value(&Value::Dict(empty), &mut out);
    let room = size.checked_sub(args_len + out.len())?;
    if room == 0 {
        return None;
    }
    // Strings over 23 (CBOR) or 31 (MessagePack) bytes take a longer header.
    let mut pad = room;
    loop {
        out.clear();
        ser.encode_value(&Value::Dict(dict! { "pad" => "x".repeat(pad) }), &mut out);
        if args_len + out.len() <= size || pad == 0 {
            break;
        }
        pad -= 1;
    }
    Some(Bytes::from(out))
}

fn raw(ser: Serializer, args: Bytes, kwargs: Option<Bytes>) -> Payload {
    Payload::Raw(RawPayload {
        serializer: ser,
        args,
        kwargs,
    })
}

/// Runs `f` on up to `SETUP_PARALLEL` items at a time; the first error wins.
async fn in_batches<T, R, F, Fut>(items: Vec<T>, f: F) -> Result<Vec<R>, String>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<R, String>>,
{
    let mut out = Vec::with_capacity(items.len());
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let batch: Vec<Fut> = items.by_ref().take(SETUP_PARALLEL).map(&f).collect();
        for r in join_all(batch).await {
            out.push(r?);
        }
    }
    Ok(out)
}

async fn open(l: &Local, read_buf: usize, source: Option<IpAddr>) -> Result<Session, String> {
    let o = &l.shared.opts;
    client::open(&o.target, o.serializer, &o.realm, &o.auth, source, read_buf)
        .await
        .map_err(|e| e.to_string())
}

/// Opens a subscriber's or callee's session: on `--sink-url` when given
/// (across a router link), else on `--url`.
async fn open_sink(l: &Local, read_buf: usize) -> Result<Session, String> {
    let o = &l.shared.opts;
    let target = o.sink.as_ref().unwrap_or(&o.target);
    client::open(target, o.serializer, &o.realm, &o.auth, None, read_buf)
        .await
        .map_err(|e| e.to_string())
}

/// Connects this shard's clients and starts their tasks (which wait for the
/// warm-up before sending anything).
pub(crate) async fn setup(l: &Rc<Local>, tasks: &mut Vec<Task<()>>) -> Result<(), String> {
    let o = l.shared.opts.clone();
    if o.scenario == super::Scenario::Echo {
        return super::echo::setup(l, tasks).await;
    }
    if o.scenario.has_fanout() {
        let f = &o.fanout;
        let subs = in_batches(mine(l, f.subscribers), |i| {
            let l = l.clone();
            async move {
                let mut s = open_sink(&l, SUB_BUF).await?;
                s.request("SUBSCRIBE", |w| {
                    w.subscribe(&topic(i % f.topics), Dict::new())
                })
                .await?;
                Ok(s)
            }
        })
        .await?;
        for s in subs {
            tasks.push(glommio::spawn_local(subscriber(l.clone(), s)));
        }
        let pubs = in_batches(mine(l, f.publishers), |p| {
            let l = l.clone();
            async move { open(&l, BUSY_BUF, None).await.map(|s| (p, s)) }
        })
        .await?;
        for (p, s) in pubs {
            tasks.push(glommio::spawn_local(publisher(l.clone(), p, s)));
        }
    }
    if o.scenario.has_rpc() {
        let r = &o.rpc;
        let callees = in_batches(mine(l, r.callees), |_| {
            let l = l.clone();
            async move {
                let mut s = open_sink(&l, BUSY_BUF).await?;
                let options = match r.invoke {
                    InvokePolicy::Single => Dict::new(),
                    p => dict! { "invoke" => p.name() },
                };
                s.request("REGISTER", |w| w.register(PROCEDURE, options))
                    .await?;
                Ok(s)
            }
        })
        .await?;
        for s in callees {
            tasks.push(glommio::spawn_local(callee(l.clone(), s)));
        }
        let callers = in_batches(mine(l, r.callers), |_| {
            let l = l.clone();
            async move { open(&l, BUSY_BUF, None).await }
        })
        .await?;
        for s in callers {
            tasks.push(glommio::spawn_local(caller(l.clone(), s)));
        }
    }
    if o.sessions.sessions > 0 {
        let (holders, ramp) = ramp_holders(l.clone());
        if o.scenario == super::Scenario::Sessions {
            // The ramp is what is measured: it starts with the measured phase.
            tasks.push(glommio::spawn_local(async move {
                ramp.await;
                futures_lite::future::pending::<()>().await;
            }));
        } else {
            // Idle sessions beside the traffic: all open before it starts.
            ramp.await;
            let want = mine(l, o.sessions.sessions as usize).len() as u64;
            let c = l.counters();
            while c.get(C::SessionsOpened) + c.get(C::SessionsFailed) < want {
                glommio::timer::sleep(Duration::from_millis(5)).await;
            }
            if c.get(C::SessionsFailed) > 0 {
                return Err(format!(
                    "{} idle session(s) could not be opened: {}",
                    c.get(C::SessionsFailed),
                    l.shared.first_error().unwrap_or_default()
                ));
            }
        }
        tasks.push(holders);
    }
    Ok(())
}

/// A subscriber: counts, times and checks the events it receives.
async fn subscriber(l: Rc<Local>, mut s: Session) {
    let mut last = vec![0u64; l.shared.opts.fanout.publishers];
    let c = l.counters();
    let ser = s.rx.serializer();
    let mut checked: u64 = 0;
    loop {
        let frame = match s.rx.next_frame().await {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => {
                disconnected(&l, "subscriber");
                return;
            }
        };
        let now = l.shared.now_ns();
        checked += 1;
        let fast = wire::event_args(ser, &frame);
        // Decode in full what the fast path does not read, and a sample of
        // what it does, to catch malformed frames.
        let args = match fast {
            Some(a) if checked % 256 != 1 => a,
            _ => match s.rx.decode(&frame) {
                Ok(Message::Event { payload, .. }) => match event_args(&payload) {
                    Some(a) if fast.is_none_or(|f| f == a) => a,
                    _ => {
                        c.add(C::Protocol, 1);
                        l.shared
                            .note_error(|| "an EVENT without the generator's arguments".into());
                        continue;
                    }
                },
                Ok(_) if fast.is_none() => continue,
                Ok(m) => {
                    c.add(C::Protocol, 1);
                    let t = m.message_type().name();
                    l.shared
                        .note_error(|| format!("a {t} frame the fast path read as an EVENT"));
                    continue;
                }
                Err(e) => {
                    c.add(C::Protocol, 1);
                    l.shared.note_error(|| format!("undecodable message: {e}"));
                    continue;
                }
            },
        };
        let [p, seq, sent, measured] = args;
        let measured = measured == 1;
        match last.get_mut(p as usize) {
            Some(prev) => {
                if seq <= *prev {
                    c.add(C::OutOfOrder, 1);
                    l.shared
                        .note_error(|| format!("publisher {p}: event {seq} after event {prev}"));
                }
                *prev = seq;
            }
            None => c.add(C::Protocol, 1),
        }
        c.add(C::EventsAll, 1);
        if measured {
            c.add(C::Delivered, 1);
        }
        if l.phase() == Phase::Measure {
            c.add(C::EventsInWindow, 1);
        }
        l.record(Part::Fanout, now.saturating_sub(sent), measured);
    }
}

fn disconnected(l: &Local, who: &str) {
    if l.phase() < Phase::Stop {
        l.counters().add(C::Disconnects, 1);
        l.shared
            .note_error(|| format!("a {who} lost its connection during the run"));
    }
}

/// The four integers of a fanout event's `Arguments`.
fn event_args(payload: &Payload) -> Option<[u64; 4]> {
    let list = match payload {
        Payload::Raw(r) => match r.serializer.decode_value(&r.args).ok()? {
            Value::List(l) => l,
            _ => return None,
        },
        Payload::Values { args, .. } => args.clone(),
        Payload::Empty => return None,
    };
    let mut out = [0u64; 4];
    for (o, v) in out.iter_mut().zip(list.iter()) {
        *o = v.as_u64()?;
    }
    (list.len() >= 4).then_some(out)
}

/// A publisher: publishes with `acknowledge: true`, within its window or at
/// its share of the rate, until the run stops.
async fn publisher(l: Rc<Local>, p: usize, s: Session) {
    let o = &l.shared.opts;
    let f = &o.fanout;
    let ser = o.serializer;
    let topics: Vec<String> = (0..f.topics).map(topic).collect();
    let sample = encode_args(ser, &[p as u64, 1 << 20, 1 << 40, 1]);
    let pad = padding(ser, f.payload, sample.len());
    let window = match f.pace {
        Pace::Window(w) => Some(Rc::new(Semaphore::new(w))),
        Pace::Rate(_) => None,
    };
    // request -> (topic, measured), to account for publications answered with ERROR
    let inflight = Rc::new(std::cell::RefCell::new(HashMap::<u64, (usize, bool)>::new()));
    let Session {
        tx, mut rx, writer, ..
    } = s;
    let c = l.counters();
    let acks = {
        let (l, window, inflight) = (l.clone(), window.clone(), inflight.clone());
        async move {
            let c = l.counters();
            loop {
                match rx.next().await {
                    Ok(Some(Message::Published { request, .. })) => {
                        inflight.borrow_mut().remove(&request);
                        if let Some(w) = &window {
                            w.signal(1);
                        }
                    }
                    Ok(Some(Message::Error {
                        request_type: MessageType::Publish,
                        request,
                        error,
                        ..
                    })) => {
                        c.add(C::PublishErrors, 1);
                        l.shared.note_error(|| format!("PUBLISH: {error}"));
                        if let Some((t, true)) = inflight.borrow_mut().remove(&request) {
                            c.add(C::ExpectedLost, l.shared.matching[t]);
                        }
                        if let Some(w) = &window {
                            w.signal(1);
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        disconnected(&l, "publisher");
                        return;
                    }
                }
            }
        }
    };
    let sends = async {
        l.until(Phase::Warmup).await;
        let mut seq: u64 = 0;
        let mut publish = |sent_ns: u64, phase: Phase| {
            seq += 1;
            let t = (p + seq as usize) % f.topics;
            let measured = phase == Phase::Measure;
            let args = encode_args(ser, &[p as u64, seq, sent_ns, measured as u64]);
            inflight.borrow_mut().insert(seq, (t, measured));
            tx.push(&Message::Publish {
                request: seq,
                options: dict! { "acknowledge" => true },
                topic: topics[t].clone(),
                payload: raw(ser, args, pad.clone()),
            });
            if measured {
                c.add(C::Publications, 1);
                c.add(C::Expected, l.shared.matching[t]);
            }
        };
        match (&window, f.pace) {
            (Some(w), _) => loop {
                if w.acquire(1).await.is_err() {
                    return;
                }
                let phase = l.phase();
                if phase >= Phase::Stop || tx.failed() {
                    return;
                }
                publish(l.shared.now_ns(), phase);
            },
            (None, Pace::Rate(total)) => {
                let per_s = total / f.publishers as f64;
                let tick = o.tick.as_nanos().min(10_000_000) as u64;
                let start = l.shared.now_ns();
                let due = |i: u64| start + (i as f64 * 1e9 / per_s) as u64;
                let mut sent: u64 = 0;
                loop {
                    let phase = l.phase();
                    if phase >= Phase::Stop || tx.failed() {
                        return;
                    }
                    // Timestamps are when each publication was due: a late
                    // publisher shows up as latency, not as a lower rate.
                    let now = l.shared.now_ns();
                    let mut burst = 0;
                    while due(sent) <= now && burst < 10_000 {
                        publish(due(sent), phase);
                        sent += 1;
                        burst += 1;
                    }
                    // Sleep until the next one is due, or at least a tick
                    // (the timer's lateness and the tick count as latency),
                    // looking at the phase at least every 10 ms.
                    let wait = due(sent).saturating_sub(l.shared.now_ns());
                    glommio::timer::sleep(Duration::from_nanos(wait.clamp(tick, 10_000_000))).await;
                }
            }
            (None, Pace::Window(_)) => {}
        }
    };
    futures_lite::future::zip(acks, sends).await;
    drop(writer);
}

/// A callee: answers every invocation with its payload, after the
/// progressive results asked for.
async fn callee(l: Rc<Local>, mut s: Session) {
    let progressive = l.shared.opts.rpc.progressive;
    let c = l.counters();
    loop {
        match s.rx.next().await {
            Ok(Some(Message::Invocation {
                request,
                details,
                payload,
                ..
            })) => {
                let wants = details.get("receive_progress").and_then(Value::as_bool) == Some(true);
                if wants {
                    for _ in 0..progressive {
                        s.tx.push(&Message::Yield {
                            request,
                            options: dict! { "progress" => true },
                            payload: payload.clone(),
                        });
                    }
                }
                s.tx.push(&Message::Yield {
                    request,
                    options: Dict::new(),
                    payload,
                });
                c.add(C::Invocations, 1);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                disconnected(&l, "callee");
                return;
            }
        }
    }
}

struct Pending {
    sent_ns: u64,
    measured: bool,
    progress: u32,
}

/// A caller: keeps `outstanding` calls in flight (closed loop: a call is made
/// when one returns), or makes its share of `rate` calls per second (open
/// loop: each call's latency counts from when it was due, so a stalled
/// router shows up as latency, not as fewer calls), until the run stops.
async fn caller(l: Rc<Local>, s: Session) {
    let o = &l.shared.opts;
    let r = &o.rpc;
    let ser = o.serializer;
    let args = encode_args(ser, &[1]);
    let pad = padding(ser, r.payload, args.len());
    let options = if r.progressive > 0 {
        dict! { "receive_progress" => true }
    } else {
        Dict::new()
    };
    let c = l.counters();
    let pending: RefCell<HashMap<u64, Pending>> =
        RefCell::new(HashMap::with_capacity(r.outstanding * 2));
    let next = Cell::new(0u64);
    let Session {
        tx, mut rx, writer, ..
    } = s;
    l.until(Phase::Warmup).await;
    // Makes one call, timed from `sent_ns`.
    let call = |sent_ns: u64| {
        let phase = l.phase();
        if phase >= Phase::Stop {
            return;
        }
        let request = next.get() + 1;
        next.set(request);
        let measured = phase == Phase::Measure;
        pending.borrow_mut().insert(
            request,
            Pending {
                sent_ns,
                measured,
                progress: 0,
            },
        );
        tx.push(&Message::Call {
            request,
            options: options.clone(),
            procedure: PROCEDURE.into(),
            payload: raw(ser, args.clone(), pad.clone()),
        });
        if measured {
            c.add(C::Calls, 1);
        }
    };
    let closed_loop = r.rate.is_none();
    let results = async {
        loop {
            match rx.next().await {
                Ok(Some(Message::Result {
                    request, details, ..
                })) => {
                    let now = l.shared.now_ns();
                    let progress = details.get("progress").and_then(Value::as_bool) == Some(true);
                    if progress {
                        if let Some(p) = pending.borrow_mut().get_mut(&request) {
                            p.progress += 1;
                            if p.measured {
                                c.add(C::Progressive, 1);
                            }
                        }
                        continue;
                    }
                    let Some(p) = pending.borrow_mut().remove(&request) else {
                        c.add(C::Protocol, 1);
                        l.shared
                            .note_error(|| format!("a RESULT for unknown call {request}"));
                        continue;
                    };
                    c.add(C::ResultsAll, 1);
                    if l.phase() == Phase::Measure {
                        c.add(C::ResultsInWindow, 1);
                    }
                    if p.progress == r.progressive {
                        if p.measured {
                            c.add(C::Results, 1);
                        }
                        l.record(Part::Rpc, now.saturating_sub(p.sent_ns), p.measured);
                    } else if p.measured {
                        c.add(C::CallErrors, 1);
                        l.shared.note_error(|| {
                            format!(
                                "a call got {} progressive result(s), not {}",
                                p.progress, r.progressive
                            )
                        });
                    }
                    if closed_loop {
                        call(l.shared.now_ns());
                    }
                }
                Ok(Some(Message::Error {
                    request_type: MessageType::Call,
                    request,
                    error,
                    ..
                })) => {
                    if let Some(p) = pending.borrow_mut().remove(&request) {
                        if p.measured {
                            c.add(C::CallErrors, 1);
                        }
                    }
                    l.shared.note_error(|| format!("CALL: {error}"));
                    if closed_loop {
                        call(l.shared.now_ns());
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    disconnected(&l, "caller");
                    return;
                }
            }
        }
    };
    let calls = async {
        let Some(total) = r.rate else {
            for _ in 0..r.outstanding {
                call(l.shared.now_ns());
            }
            return;
        };
        let per_s = total / r.callers as f64;
        let tick = o.tick.as_nanos().min(10_000_000) as u64;
        let start = l.shared.now_ns();
        let due = |i: u64| start + (i as f64 * 1e9 / per_s) as u64;
        let mut made: u64 = 0;
        loop {
            if l.phase() >= Phase::Stop || tx.failed() {
                return;
            }
            let now = l.shared.now_ns();
            let mut burst = 0;
            while due(made) <= now && burst < 10_000 {
                call(due(made));
                made += 1;
                burst += 1;
            }
            // As the fixed-rate publisher: sleep until the next call is due,
            // or at least a tick (both count as latency), looking at the
            // phase at least every 10 ms.
            let wait = due(made).saturating_sub(l.shared.now_ns());
            glommio::timer::sleep(Duration::from_nanos(wait.clamp(tick, 10_000_000))).await;
        }
    };
    // The results loop ends when the connection does; the calls end at Stop.
    futures_lite::future::zip(results, calls).await;
    drop(writer);
}

/// The sessions part: a task that, once `ramp` has run, holds every session
/// it opened (dropping it closes them), and the ramp itself, which opens
/// this shard's share of the sessions at its share of the rate, waiting for
/// the measured phase first when the scenario is `sessions`.
fn ramp_holders(l: Rc<Local>) -> (Task<()>, impl std::future::Future<Output = ()>) {
    let held: Rc<std::cell::RefCell<Vec<Task<()>>>> = Rc::default();
    let holders = {
        let held = held.clone();
        glommio::spawn_local(async move {
            futures_lite::future::pending::<()>().await;
            drop(held);
        })
    };
    let ramp = async move {
        let o = &l.shared.opts;
        let so = &o.sessions;
        if o.scenario == super::Scenario::Sessions {
            l.until(Phase::Measure).await;
        }
        let mine = mine(&l, so.sessions as usize);
        let per_s = so.rate / o.shards as f64;
        let start = Instant::now();
        for (k, i) in mine.into_iter().enumerate() {
            let due = start + Duration::from_secs_f64(k as f64 / per_s);
            let now = Instant::now();
            if due > now {
                glommio::timer::sleep(due - now).await;
            }
            if l.phase() >= Phase::Stop {
                break;
            }
            let source = (!so.source_ips.is_empty())
                .then(|| IpAddr::V4(so.source_ips[i % so.source_ips.len()]));
            held.borrow_mut()
                .push(glommio::spawn_local(hold(l.clone(), i, source)));
        }
    };
    (holders, ramp)
}

/// Opens session `i`, makes its subscriptions and registrations (each to a
/// URI of its own, one request at a time), and holds it until the run ends.
/// Its latency is the join's; it counts as opened once set up.
async fn hold(l: Rc<Local>, i: usize, source: Option<IpAddr>) {
    let c = l.counters();
    c.add(C::SessionsTried, 1);
    let t0 = Instant::now();
    let mut s = match open(&l, IDLE_BUF, source).await {
        Ok(s) => s,
        Err(e) => {
            c.add(C::SessionsFailed, 1);
            l.shared.note_error(|| e);
            return;
        }
    };
    l.record(Part::Sessions, t0.elapsed().as_nanos() as u64, true);
    if let Err(e) = set_up_held(&mut s, i, &l.shared.opts.sessions).await {
        c.add(C::SessionsFailed, 1);
        l.shared.note_error(|| e);
        return;
    }
    c.add(C::SessionsOpened, 1);
    c.add(C::SessionsOpen, 1);
    while let Ok(Some(_)) = s.rx.next().await {}
    c.sub(C::SessionsOpen, 1);
    if l.phase() < Phase::Stop {
        c.add(C::SessionsLost, 1);
        l.shared
            .note_error(|| "the router closed a held session".into());
    }
}

/// The topic of held session `i`'s subscription `k`.
fn held_topic(i: usize, k: usize) -> String {
    format!("bench.sessions.{i}.topic.{k}")
}

/// The procedure of held session `i`'s registration `k`.
fn held_procedure(i: usize, k: usize) -> String {
    format!("bench.sessions.{i}.proc.{k}")
}

/// Held session `i`'s subscriptions, then its registrations
/// (`--subscriptions-per-session`, `--registrations-per-session`).
async fn set_up_held(
    s: &mut Session,
    i: usize,
    so: &super::options::SessionsOptions,
) -> Result<(), String> {
    for k in 0..so.subscriptions {
        s.request("SUBSCRIBE", |w| w.subscribe(&held_topic(i, k), Dict::new()))
            .await?;
    }
    for k in 0..so.registrations {
        s.request("REGISTER", |w| {
            w.register(&held_procedure(i, k), Dict::new())
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_the_size() {
        for ser in Serializer::ALL {
            let args = encode_args(ser, &[3, 1 << 20, 1 << 40, 1]);
            for size in [64usize, 100, 1000, 4096] {
                let pad = padding(ser, size, args.len()).expect("room");
                let total = args.len() + pad.len();
                assert!(total <= size && total + 3 >= size, "{ser} {size}: {total}");
            }
            assert_eq!(padding(ser, 4, args.len()), None);
            let pad = padding(ser, 200, args.len());
            assert_eq!(
                event_args(&raw(ser, args.clone(), pad.clone())),
                Some([3, 1 << 20, 1 << 40, 1])
            );
            // the fast path reads the same from a whole EVENT frame
            let frame = ser
                .encode(&Message::Event {
                    subscription: 7,
                    publication: 9,
                    details: dict! { "topic" => "a.b" },
                    payload: raw(ser, args.clone(), pad.clone()),
                })
                .unwrap();
            assert_eq!(
                wire::event_args(ser, &frame),
                Some([3, 1 << 20, 1 << 40, 1])
            );
            let call = ser
                .encode(&Message::Call {
                    request: 1,
                    options: Dict::new(),
                    procedure: "p".into(),
                    payload: raw(ser, args.clone(), None),
                })
                .unwrap();
            assert_eq!(wire::event_args(ser, &call), None);
        }
    }
}
