//! Deterministic simulation of the sharded router core: 1 to 4 shards in one
//! thread, a seeded scheduler delivering peer-shard messages in random
//! interleavings (FIFO per shard pair), and many sessions doing random
//! subscribe / publish / register / call / cancel / leave, with checked
//! invariants:
//!
//! - every eligible subscriber gets every event published after its
//!   SUBSCRIBED exactly once, in order per publisher, and none after it sent
//!   UNSUBSCRIBE;
//! - every call gets exactly one final answer, and a call made after a
//!   REGISTERED finds a callee;
//! - the meta API's session count equals the truth;
//! - no state is left on any shard when every session has left.
//!
//! `SIM_SEEDS=n` sets how many seeds run (default 24), `SIM_SEED=s` replays
//! one seed, `SIM_STEPS=n` the actions per seed. A failure prints its seed.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shardwamp::codec::Serializer;
use shardwamp::config::realm::RealmConfig;
use shardwamp::config::role::{Allow, Disclose, Permission, RoleConfig};
use shardwamp::dict;
use shardwamp::sim::{all_roles, Sim};
use shardwamp::wamp::message::{Message, MessageType, Payload};
use shardwamp::wamp::uri::{self, MatchPolicy};
use shardwamp::wamp::uris;
use shardwamp::wamp::value::{Dict, Value};

const TOPICS: [&str; 10] = [
    "t.a", "t.b", "t.c", "t.d.x", "t.d.y", "u.a", "u.b", "u.c", "v.a.x", "v.b.x",
];
const PATTERNS: [(&str, MatchPolicy); 16] = [
    ("t.a", MatchPolicy::Exact),
    ("t.b", MatchPolicy::Exact),
    ("t.c", MatchPolicy::Exact),
    ("t.d.x", MatchPolicy::Exact),
    ("u.a", MatchPolicy::Exact),
    ("u.b", MatchPolicy::Exact),
    ("u.c", MatchPolicy::Exact),
    ("v.a.x", MatchPolicy::Exact),
    ("t", MatchPolicy::Prefix),
    ("t.d", MatchPolicy::Prefix),
    ("u.", MatchPolicy::Prefix),
    ("v", MatchPolicy::Prefix),
    (".a", MatchPolicy::Wildcard),
    ("u.", MatchPolicy::Wildcard),
    ("v..x", MatchPolicy::Wildcard),
    ("..y", MatchPolicy::Wildcard),
];
const PROCS: [&str; 3] = ["p.one", "p.two", "p.shared"];

#[derive(Default)]
struct ClientModel {
    welcomed: bool,
    left: bool,
    session: u64,
    next_req: u64,
    pending_subs: HashMap<u64, (String, MatchPolicy)>,
    subs: HashMap<u64, (String, MatchPolicy)>,
    pending_regs: HashMap<u64, String>,
    regs: HashMap<u64, String>,
    /// Open invocations at this callee: INVOCATION request id.
    invocations: Vec<u64>,
    /// Open calls: request → (procedure, receive_progress).
    calls: HashMap<u64, (String, bool)>,
    /// Last publication seq seen per (subscription, publisher client).
    last_seen: HashMap<(u64, usize), u64>,
}

struct Publication {
    expected: HashSet<(usize, u64)>,
    got: HashSet<(usize, u64)>,
}

struct World {
    sim: Sim,
    rng: StdRng,
    clients: Vec<ClientModel>,
    pubs: Vec<Publication>,
    /// Per procedure: a counter bumped whenever a callee of it unregisters or leaves.
    churn: HashMap<String, u64>,
    /// Calls that must find a callee: (client, request) → (procedure, churn at call time).
    must_find: HashMap<(usize, u64), (String, u64)>,
    answered: u64,
    events: u64,
    failures: Vec<String>,
}

fn open_realm(home: u16) -> RealmConfig {
    let all = Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    };
    let perm = Permission {
        uri: "".into(),
        match_: Some(MatchPolicy::Prefix),
        allow: all,
        disclose: Disclose::default(),
        cache: false,
    };
    let mut r = RealmConfig::new(
        "realm1",
        vec![RoleConfig {
            name: "anonymous".into(),
            permissions: vec![perm],
            authorizer: None,
            allow_by_default: false,
        }],
    );
    r.home_shard = Some(home);
    r
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let shards = rng.random_range(1..=4u16);
        let mut sim = Sim::new(shards, seed);
        sim.start_realm(0, open_realm(rng.random_range(0..shards)));
        World {
            sim,
            rng,
            clients: Vec::new(),
            pubs: Vec::new(),
            churn: HashMap::new(),
            must_find: HashMap::new(),
            answered: 0,
            events: 0,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, what: String) {
        if self.failures.len() < 20 {
            self.failures.push(what);
        }
    }

    fn live(&self) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|c| self.clients[*c].welcomed && !self.clients[*c].left)
            .collect()
    }

    fn req(&mut self, c: usize) -> u64 {
        self.clients[c].next_req += 1;
        self.clients[c].next_req
    }

    fn connect(&mut self) {
        let shard = self.rng.random_range(0..self.sim.cores.len() as u16);
        let ser = Serializer::ALL[self.rng.random_range(0..3)];
        let id = self.sim.connect(shard, ser);
        assert_eq!(id, self.clients.len());
        self.clients.push(ClientModel::default());
        self.sim.send(
            id,
            &Message::Hello {
                realm: "realm1".into(),
                details: dict! { "roles" => Value::Dict(all_roles()) },
            },
        );
    }

    /// Reads every client's inbox into the model, checking as it goes.
    fn drain(&mut self) {
        for c in 0..self.clients.len() {
            while let Some(m) = self.sim.pop(c) {
                self.on_message(c, m);
            }
        }
    }

    fn on_message(&mut self, c: usize, m: Message) {
        match m {
            Message::Welcome { session, .. } => {
                self.clients[c].welcomed = true;
                self.clients[c].session = session;
            }
            Message::Subscribed {
                request,
                subscription,
            } => match self.clients[c].pending_subs.remove(&request) {
                Some(pattern) => {
                    self.clients[c].subs.insert(subscription, pattern);
                }
                None => self.fail(format!(
                    "client {c}: SUBSCRIBED for unknown request {request}"
                )),
            },
            Message::Registered {
                request,
                registration,
            } => match self.clients[c].pending_regs.remove(&request) {
                Some(p) => {
                    self.clients[c].regs.insert(registration, p);
                }
                None => self.fail(format!(
                    "client {c}: REGISTERED for unknown request {request}"
                )),
            },
            Message::Event {
                subscription,
                payload,
                ..
            } => {
                self.events += 1;
                let a = match payload.to_values() {
                    Ok(Payload::Values { args, .. }) => args,
                    _ => vec![],
                };
                let (Some(seq), Some(publisher)) = (
                    a.first().and_then(Value::as_u64),
                    a.get(1).and_then(Value::as_u64),
                ) else {
                    return self.fail(format!("client {c}: malformed event payload {a:?}"));
                };
                if !self.clients[c].subs.contains_key(&subscription) {
                    return self.fail(format!(
                        "client {c}: EVENT {seq} for subscription {subscription} it does not hold"
                    ));
                }
                let p = &mut self.pubs[seq as usize];
                if !p.got.insert((c, subscription)) {
                    return self.fail(format!(
                        "client {c}: EVENT {seq} twice on subscription {subscription}"
                    ));
                }
                let key = (subscription, publisher as usize);
                let last = self.clients[c].last_seen.insert(key, seq);
                if last.is_some_and(|l| l >= seq) {
                    self.fail(format!("client {c}: EVENT {seq} after {last:?} from publisher {publisher}: out of order"));
                }
            }
            Message::Invocation {
                request,
                registration,
                ..
            } => {
                if !self.clients[c].regs.contains_key(&registration) {
                    self.fail(format!(
                        "client {c}: INVOCATION for registration {registration} it does not hold"
                    ));
                }
                self.clients[c].invocations.push(request);
            }
            Message::Interrupt { request, .. } => {
                // answer it (again) with an error; a second answer is ignored by the router
                if !self.clients[c].invocations.contains(&request) {
                    self.clients[c].invocations.push(request);
                }
            }
            Message::Result {
                request, details, ..
            } => {
                let progress = details.get("progress") == Some(&Value::Bool(true));
                match self.clients[c].calls.get(&request) {
                    None => self.fail(format!(
                        "client {c}: RESULT for a call {request} that is not open"
                    )),
                    Some((_, rp)) if progress && !rp => {
                        self.fail(format!("client {c}: progressive RESULT it did not ask for"))
                    }
                    Some(_) if progress => {}
                    Some(_) => {
                        self.clients[c].calls.remove(&request);
                        self.must_find.remove(&(c, request));
                        self.answered += 1;
                    }
                }
            }
            Message::Error {
                request_type,
                request,
                error,
                ..
            } => match request_type {
                MessageType::Call => {
                    if self.clients[c].calls.remove(&request).is_none() {
                        return self.fail(format!(
                            "client {c}: ERROR {error} for a call {request} that is not open"
                        ));
                    }
                    self.answered += 1;
                    if let Some((procedure, churn)) = self.must_find.remove(&(c, request)) {
                        let now = self.churn.get(&procedure).copied().unwrap_or(0);
                        if error == uris::ERROR_NO_SUCH_PROCEDURE && now == churn {
                            self.fail(format!("client {c}: call {request} to {procedure} found no callee though one was registered"));
                        }
                    }
                }
                MessageType::Register if error == uris::ERROR_PROCEDURE_ALREADY_EXISTS => {
                    // A single registration whose previous holder is still unregistering or leaving.
                    match self.clients[c].pending_regs.remove(&request) {
                        Some(p) if p != "p.shared" => {}
                        other => self.fail(format!(
                            "client {c}: REGISTER {other:?} refused as already existing"
                        )),
                    }
                }
                MessageType::Subscribe
                | MessageType::Register
                | MessageType::Unsubscribe
                | MessageType::Unregister => self.fail(format!(
                    "client {c}: unexpected ERROR {error} for {}",
                    request_type.name()
                )),
                _ => {}
            },
            Message::Unsubscribed { .. }
            | Message::Unregistered { .. }
            | Message::Published { .. } => {}
            Message::Goodbye { .. } => {
                self.clients[c].left = true;
            }
            Message::Abort { reason, .. } => self.fail(format!("client {c}: ABORT {reason}")),
            other => self.fail(format!("client {c}: unexpected {other:?}")),
        }
    }

    fn act(&mut self) {
        let live = self.live();
        let roll = self.rng.random_range(0..100);
        if live.len() < 3 || (roll < 6 && live.len() < 24) {
            return self.connect();
        }
        let c = live[self.rng.random_range(0..live.len())];
        match roll {
            6..=17 => {
                let (topic, policy) = PATTERNS[self.rng.random_range(0..PATTERNS.len())];
                let request = self.req(c);
                self.clients[c]
                    .pending_subs
                    .insert(request, (topic.into(), policy));
                let options = if policy == MatchPolicy::Exact {
                    Dict::new()
                } else {
                    dict! { "match" => policy.as_str() }
                };
                self.sim.send(
                    c,
                    &Message::Subscribe {
                        request,
                        options,
                        topic: topic.into(),
                    },
                );
            }
            18..=22 => {
                let held: Vec<u64> = self.clients[c].subs.keys().copied().collect();
                if let Some(&sub) = held.get(self.rng.random_range(0..held.len().max(1))) {
                    self.clients[c].subs.remove(&sub);
                    // events in flight to it are no longer owed
                    for p in &mut self.pubs {
                        p.expected.remove(&(c, sub));
                    }
                    let request = self.req(c);
                    self.sim.send(
                        c,
                        &Message::Unsubscribe {
                            request,
                            subscription: sub,
                        },
                    );
                }
            }
            23..=50 => self.publish(c),
            51..=56 => {
                let procedure = PROCS[self.rng.random_range(0..PROCS.len())];
                let request = self.req(c);
                let options = if procedure == "p.shared" {
                    dict! { "invoke" => "roundrobin" }
                } else {
                    Dict::new()
                };
                // single registrations may be refused; only try when nobody holds it
                let held = self.clients.iter().any(|m| {
                    !m.left
                        && (m.regs.values().any(|p| p == procedure)
                            || m.pending_regs.values().any(|p| p == procedure))
                });
                if procedure == "p.shared" || !held {
                    if self.clients[c].regs.values().any(|p| p == procedure)
                        || self.clients[c]
                            .pending_regs
                            .values()
                            .any(|p| p == procedure)
                    {
                        return;
                    }
                    self.clients[c]
                        .pending_regs
                        .insert(request, procedure.into());
                    self.sim.send(
                        c,
                        &Message::Register {
                            request,
                            options,
                            procedure: procedure.into(),
                        },
                    );
                }
            }
            57..=59 => {
                let held: Vec<(u64, String)> = self.clients[c]
                    .regs
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                if let Some((reg, p)) = held.first().cloned() {
                    self.clients[c].regs.remove(&reg);
                    *self.churn.entry(p).or_default() += 1;
                    let request = self.req(c);
                    self.sim.send(
                        c,
                        &Message::Unregister {
                            request,
                            registration: reg,
                        },
                    );
                }
            }
            60..=75 => self.call(c),
            76..=86 => self.answer_one(c),
            87..=89 => {
                let open: Vec<u64> = self.clients[c].calls.keys().copied().collect();
                if let Some(&request) = open.first() {
                    let mode = ["skip", "kill", "killnowait"][self.rng.random_range(0..3)];
                    self.sim.send(
                        c,
                        &Message::Cancel {
                            request,
                            options: dict! { "mode" => mode },
                        },
                    );
                }
            }
            90..=93 => self.leave(c),
            _ => {
                let ms = self.rng.random_range(1..40);
                self.sim.advance(ms);
            }
        }
    }

    fn publish(&mut self, c: usize) {
        let topic = TOPICS[self.rng.random_range(0..TOPICS.len())];
        let exclude_me = self.rng.random_bool(0.5);
        let seq = self.pubs.len() as u64;
        let mut expected = HashSet::new();
        for (i, m) in self.clients.iter().enumerate() {
            if m.left || !m.welcomed || (exclude_me && i == c) {
                continue;
            }
            for (sub, (pattern, policy)) in &m.subs {
                if uri::matches(pattern, *policy, topic) {
                    expected.insert((i, *sub));
                }
            }
        }
        self.pubs.push(Publication {
            expected,
            got: HashSet::new(),
        });
        let request = self.req(c);
        let payload = Payload::args(vec![Value::UInt(seq), Value::UInt(c as u64)]);
        self.sim.send(
            c,
            &Message::Publish {
                request,
                options: dict! { "exclude_me" => exclude_me },
                topic: topic.into(),
                payload,
            },
        );
    }

    fn call(&mut self, c: usize) {
        let procedure = PROCS[self.rng.random_range(0..PROCS.len())];
        let request = self.req(c);
        let receive_progress = self.rng.random_bool(0.3);
        let mut options = dict! { "receive_progress" => receive_progress };
        if self.rng.random_bool(0.2) {
            options.insert("timeout".into(), Value::UInt(self.rng.random_range(1..100)));
        }
        let registered = self
            .clients
            .iter()
            .any(|m| !m.left && m.regs.values().any(|p| p == procedure));
        if registered {
            let churn = self.churn.get(procedure).copied().unwrap_or(0);
            self.must_find
                .insert((c, request), (procedure.into(), churn));
        }
        self.clients[c]
            .calls
            .insert(request, (procedure.into(), receive_progress));
        self.sim.send(
            c,
            &Message::Call {
                request,
                options,
                procedure: procedure.into(),
                payload: Payload::args(vec![Value::UInt(request)]),
            },
        );
    }

    fn answer_one(&mut self, c: usize) {
        if self.clients[c].invocations.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.clients[c].invocations.len());
        let request = self.clients[c].invocations[i];
        match self.rng.random_range(0..4) {
            0 => {
                // a progressive result first; the invocation stays open
                self.sim.send(
                    c,
                    &Message::Yield {
                        request,
                        options: dict! { "progress" => true },
                        payload: Payload::args(vec![Value::UInt(0)]),
                    },
                );
            }
            1 => {
                self.clients[c].invocations.swap_remove(i);
                self.sim.send(
                    c,
                    &Message::Error {
                        request_type: MessageType::Invocation,
                        request,
                        details: Dict::new(),
                        error: "app.error".into(),
                        payload: Payload::Empty,
                    },
                );
            }
            _ => {
                self.clients[c].invocations.swap_remove(i);
                self.sim.send(
                    c,
                    &Message::Yield {
                        request,
                        options: Dict::new(),
                        payload: Payload::args(vec![Value::UInt(1)]),
                    },
                );
            }
        }
    }

    fn leave(&mut self, c: usize) {
        for p in self.clients[c].regs.values() {
            *self.churn.entry(p.clone()).or_default() += 1;
        }
        self.clients[c].left = true;
        let open: Vec<u64> = self.clients[c].calls.keys().copied().collect();
        for r in open {
            self.must_find.remove(&(c, r));
        }
        for p in &mut self.pubs {
            p.expected.retain(|(i, _)| *i != c);
        }
        if self.rng.random_bool(0.5) {
            self.sim.send(
                c,
                &Message::Goodbye {
                    details: Dict::new(),
                    reason: uris::CLOSE_NORMAL.into(),
                },
            );
        } else {
            self.sim.disconnect(c);
        }
    }

    /// Lets the mesh deliver a few messages in random order.
    fn deliver_some(&mut self) {
        let n = self.rng.random_range(0..6);
        for _ in 0..n {
            if !self.sim.step() {
                break;
            }
        }
    }

    fn settle(&mut self) {
        loop {
            self.sim.run();
            self.drain();
            if self.sim.pending() == 0 {
                break;
            }
        }
    }

    /// Callees answer everything, timers fire: every open call must end.
    fn finish_calls(&mut self) {
        for _ in 0..10 {
            for c in self.live() {
                while let Some(request) = self.clients[c].invocations.pop() {
                    self.sim.send(
                        c,
                        &Message::Yield {
                            request,
                            options: Dict::new(),
                            payload: Payload::Empty,
                        },
                    );
                }
            }
            self.sim.advance(1_000);
            self.settle();
        }
        for c in self.live() {
            for (request, (procedure, _)) in &self.clients[c].calls {
                let f = format!("client {c}: call {request} to {procedure} never answered");
                if self.failures.len() < 20 {
                    self.failures.push(f);
                }
            }
        }
    }

    fn check_events(&mut self) {
        for (seq, p) in self.pubs.iter().enumerate() {
            let missing: Vec<_> = p
                .expected
                .difference(&p.got)
                .filter(|(c, _)| !self.clients[*c].left)
                .collect();
            if !missing.is_empty() && self.failures.len() < 20 {
                self.failures.push(format!(
                    "publication {seq}: never delivered to (client, subscription) {missing:?}"
                ));
            }
        }
    }

    fn check_meta_count(&mut self) {
        let live = self.live();
        let Some(&c) = live.first() else { return };
        let request = 2_000_000 + self.req(c);
        self.sim.send(
            c,
            &Message::Call {
                request,
                options: Dict::new(),
                procedure: "wamp.session.count".into(),
                payload: Payload::Empty,
            },
        );
        self.sim.run();
        let got = self.sim.take(c);
        let count = got.iter().find_map(|m| match m {
            Message::Result {
                request: r,
                payload,
                ..
            } if *r == request => match payload.to_values() {
                Ok(Payload::Values { args, .. }) => args.first().and_then(Value::as_u64),
                _ => None,
            },
            _ => None,
        });
        for m in got {
            if !matches!(&m, Message::Result { request: r, .. } if *r == request) {
                self.on_message(c, m);
            }
        }
        if count != Some(live.len() as u64) {
            self.fail(format!(
                "wamp.session.count said {count:?}, {} sessions are joined",
                live.len()
            ));
        }
    }

    fn everyone_leaves(&mut self) {
        for c in self.live() {
            self.leave(c);
        }
        // and those still joining
        for c in 0..self.clients.len() {
            if !self.sim.clients[c].closed {
                self.sim.disconnect(c);
            }
        }
        self.settle();
        for (i, core) in self.sim.cores.iter().enumerate() {
            let l = core.leftovers();
            if !l.is_empty() && self.failures.len() < 20 {
                self.failures.push(format!(
                    "shard {i} holds state after every session left: {l:?}"
                ));
            }
        }
    }
}

fn run_seed(seed: u64, steps: usize) -> Result<String, Vec<String>> {
    let mut w = World::new(seed);
    for _ in 0..6 {
        w.connect();
    }
    w.settle();
    for step in 0..steps {
        w.act();
        w.drain();
        w.deliver_some();
        w.drain();
        if step % 400 == 399 {
            w.settle();
            w.check_meta_count();
        }
        if !w.failures.is_empty() {
            break;
        }
    }
    w.settle();
    w.check_events();
    w.finish_calls();
    w.check_meta_count();
    w.everyone_leaves();
    if w.failures.is_empty() {
        Ok(format!(
            "seed {seed}: {} shards, {} clients, {} publications, {} events, {} calls answered, {} peer messages",
            w.sim.cores.len(),
            w.clients.len(),
            w.pubs.len(),
            w.events,
            w.answered,
            w.sim.delivered
        ))
    } else {
        Err(w.failures)
    }
}

#[test]
fn simulation_invariants_hold_for_many_seeds() {
    let steps: usize = std::env::var("SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let seeds: Vec<u64> = match std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => {
            let n: u64 = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(24);
            (1..=n)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect()
        }
    };
    let mut summary = BTreeMap::new();
    for seed in seeds {
        match run_seed(seed, steps) {
            Ok(line) => {
                summary.insert(seed, line);
            }
            Err(failures) => panic!("simulation failed with seed {seed} (replay: SIM_SEED={seed} cargo test --test sim):\n  {}", failures.join("\n  ")),
        }
    }
    for line in summary.values() {
        eprintln!("{line}");
    }
}
