//! Helpers shared by the link tests (tests/links.rs, tests/links_topology.rs):
//! shardwamp routers in this process on port 0 with a ticket principal for
//! links, link start/stop/detail through the controller and `ctl`, and
//! blocking clients that subscribe with exact, prefix and wildcard
//! patterns, publish rounds, count what arrives, register callees and call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Client;
use shardwamp::client::session::values_of;
use shardwamp::codec::Serializer;
use shardwamp::component::Registry;
use shardwamp::config::rlink::RLinkConfig;
use shardwamp::config::Config;
use shardwamp::control::Controller;
use shardwamp::dict;
use shardwamp::wamp::message::{Message, MessageType, Payload};
use shardwamp::wamp::value::{Dict, Value};

pub const TICKET: &str = "link-ticket-not-logged";
pub const BIN: &str = env!("CARGO_BIN_EXE_shardwamp");

/// Runs `shardwamp ctl` against `c`'s management realm; the answer as JSON.
pub fn ctl(c: &Controller, args: &[&str]) -> serde_json::Value {
    let url = format!("ws://{}/ws", c.transport_addr("ws").unwrap());
    let out = std::process::Command::new(BIN)
        .args(["ctl", "--url", &url, "--authid", "operator"])
        .args(args)
        .env("SHARDWAMP_TICKET", TICKET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ctl {args:?}: {stderr}");
    assert!(
        !stdout.contains(TICKET) && !stderr.contains(TICKET),
        "a ticket in ctl's output"
    );
    serde_json::from_str(&stdout).unwrap_or(serde_json::Value::String(stdout))
}

/// A router with `realm1` open to anonymous clients and a ticket principal
/// `link` of role `rlink` for other routers' links.
pub fn router(shards: u16) -> Arc<Controller> {
    router_with(shards, "")
}

/// [`router`] with `extra` TOML appended to realm1's table (its rlinks, say).
pub fn router_with(shards: u16, extra: &str) -> Arc<Controller> {
    let text = format!(
        r#"
[router]
shards = {shards}

[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = {{ call = true, register = true, publish = true, subscribe = true }}
disclose = {{ caller = true, publisher = true }}
[[realms.roles]]
name = "rlink"
[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = {{ call = true, register = true, publish = true, subscribe = true }}
{extra}

[[realms]]
name = "shardwamp.management"
[[realms.roles]]
name = "admin"
[[realms.roles.permissions]]
uri = "shardwamp.router."
match = "prefix"
allow = {{ call = true }}

[management]
realm = "shardwamp.management"
role = "admin"

[admin]
enabled = true
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.auth.anonymous]
type = "static"
role = "anonymous"
[transports.auth.ticket]
type = "static"
principals = {{ link = {{ ticket = "{TICKET}", role = "rlink" }}, operator = {{ ticket = "{TICKET}", role = "admin" }} }}

[[transports]]
type = "rawsocket"
id = "rs"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.auth.ticket]
type = "static"
principals = {{ link = {{ ticket = "{TICKET}", role = "rlink" }} }}
"#
    );
    let config = Config::from_str_with_env(&text, |_| None).expect("config");
    Controller::start(config, Registry::with_builtins()).expect("router starts")
}

pub fn link_to(target: &Controller) -> RLinkConfig {
    let addr = target.transport_addr("ws").expect("ws");
    let text = format!(
        r#"
realm = "realm1"
authid = "link"
authentication = {{ ticket = "{TICKET}" }}
reconnect = {{ initial_delay_ms = 100, max_delay_ms = 400 }}
transport = {{ type = "websocket", url = "ws://{addr}/ws", serializers = ["msgpack"], endpoint = {{ type = "tcp", host = "127.0.0.1", port = {port} }} }}
"#,
        port = addr.port()
    );
    toml::from_str(&text).expect("link config")
}

pub fn start_link(on: &Controller, id: &str, to: &Controller) {
    futures_lite::future::block_on(on.start_router_realm_link("realm1", id, link_to(to)))
        .expect("link starts");
}

pub fn stop_link(on: &Controller, id: &str) {
    futures_lite::future::block_on(on.stop_router_realm_link("realm1", id)).expect("link stops");
}

pub fn detail(on: &Controller, id: &str) -> Dict {
    match on.get_router_realm_link("realm1", id).expect("link") {
        Value::Dict(d) => d,
        other => panic!("{other:?}"),
    }
}

pub fn figure(d: &Dict, key: &str) -> u64 {
    d.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Waits until link `id` on `on` is connected and mirrors exactly `subs`
/// subscriptions and `regs` registrations, stable for a moment.
pub fn settle(on: &Controller, id: &str, subs: u64, regs: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stable = 0;
    loop {
        let d = detail(on, id);
        let ok = d.get("connected") == Some(&Value::Bool(true))
            && figure(&d, "subscriptions_mirrored") == subs
            && figure(&d, "registrations_mirrored") == regs;
        stable = if ok { stable + 1 } else { 0 };
        if stable >= 5 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "link {id} did not settle at {subs} subscriptions, {regs} registrations: {d:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn client(on: &Controller) -> Client {
    let mut c = Client::websocket(on.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    c.join("realm1");
    c
}

pub static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
pub fn req() -> u64 {
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The three patterns every subscriber holds: exact, prefix, wildcard.
pub const PATTERNS: [(&str, &str); 3] = [
    ("com.example.news", "exact"),
    ("com.example", "prefix"),
    ("com..news", "wildcard"),
];

/// A client subscribed to [`PATTERNS`]; returns it with its subscription ids.
pub fn subscriber(on: &Controller) -> (Client, Vec<u64>) {
    let mut c = client(on);
    let mut ids = Vec::new();
    for (topic, policy) in PATTERNS {
        let request = req();
        let mut options = Dict::new();
        if policy != "exact" {
            options.insert("match".into(), Value::from(policy));
        }
        c.send(&Message::Subscribe {
            request,
            options,
            topic: topic.into(),
        });
        match c.expect(
            "SUBSCRIBED",
            |m| matches!(m, Message::Subscribed { request: r, .. } if *r == request),
        ) {
            Message::Subscribed { subscription, .. } => ids.push(subscription),
            _ => unreachable!(),
        }
    }
    (c, ids)
}

/// Publishes `n` events tagged `round`, then a sentinel, acknowledged.
pub fn publish_round(p: &mut Client, round: &str, n: u64) {
    for i in 0..=n {
        let request = req();
        let tag = if i == n {
            "end".to_owned()
        } else {
            i.to_string()
        };
        p.send(&Message::Publish {
            request,
            options: dict! { "acknowledge" => true },
            topic: "com.example.news".into(),
            payload: Payload::args(vec![Value::from(round), Value::from(tag.as_str())]),
        });
        p.expect(
            "PUBLISHED",
            |m| matches!(m, Message::Published { request: r, .. } if *r == request),
        );
    }
}

/// Reads a subscriber's events until each of its subscriptions saw the
/// sentinel of `round`; asserts each got every event of the round exactly
/// once (and nothing of another round).
pub fn expect_round(s: &mut (Client, Vec<u64>), round: &str, n: u64, who: &str) {
    let mut seen: HashMap<u64, Vec<String>> = HashMap::new();
    let mut ended = 0;
    while ended < s.1.len() {
        let m =
            s.0.recv()
                .unwrap_or_else(|| panic!("{who}: closed in round {round}"));
        if let Message::Event {
            subscription,
            payload,
            details,
            ..
        } = m
        {
            let (args, _) = values_of(&payload);
            let r = args
                .first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let tag = args.get(1).and_then(Value::as_str).unwrap_or("").to_owned();
            assert_eq!(
                r, round,
                "{who}: an event of another round: {args:?} {details:?}"
            );
            if tag == "end" {
                ended += 1;
            }
            seen.entry(subscription).or_default().push(tag);
        }
    }
    for id in &s.1 {
        let tags = seen.get(id).cloned().unwrap_or_default();
        let mut want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        want.push("end".into());
        assert_eq!(tags, want, "{who}: subscription {id} in round {round}");
    }
}

/// Every subscriber gets every event of a publisher on each router once.
pub fn events_everywhere_once(routers: &[&Arc<Controller>], subs: &mut [(Client, Vec<u64>)]) {
    let mut publishers: Vec<Client> = routers.iter().map(|r| client(r)).collect();
    for (i, p) in publishers.iter_mut().enumerate() {
        let round = format!("from-{i}");
        publish_round(p, &round, 5);
        for (j, s) in subs.iter_mut().enumerate() {
            expect_round(s, &round, 5, &format!("subscriber on router {j}"));
        }
    }
}

/// A callee thread: answers `com.example.add` (and any `com.example.math.`
/// or `com..mul` procedure) with the sum and its router's name, and
/// `com.example.fail` with the error `com.example.error.failed`.
pub fn callee(on: &Controller, name: &'static str) -> std::thread::JoinHandle<()> {
    let mut c = client(on);
    for (procedure, policy) in [
        ("com.example.add", "exact"),
        ("com.example.fail", "exact"),
        ("com.example.math", "prefix"),
        ("com..mul", "wildcard"),
        ("com.example.count", "exact"),
        ("com.example.slow", "exact"),
    ] {
        let request = req();
        let mut options = Dict::new();
        if policy != "exact" {
            options.insert("match".into(), Value::from(policy));
        }
        c.send(&Message::Register {
            request,
            options,
            procedure: procedure.into(),
        });
        c.expect(
            "REGISTERED",
            |m| matches!(m, Message::Registered { request: r, .. } if *r == request),
        );
    }
    std::thread::spawn(move || loop {
        let Some(m) = c.recv() else { return };
        if let Message::Invocation {
            request,
            details,
            payload,
            ..
        } = m
        {
            let procedure = details
                .get("procedure")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let (args, _) = values_of(&payload);
            let fail = args.first().and_then(Value::as_str) == Some("fail");
            if procedure.is_empty() && details.get("receive_progress") == Some(&Value::Bool(true)) {
                // com.example.count: two progressive results, then the last.
                for (i, progress) in [(1u64, true), (2, true), (3, false)] {
                    c.send(&Message::Yield {
                        request,
                        options: if progress {
                            dict! { "progress" => true }
                        } else {
                            Dict::new()
                        },
                        payload: Payload::args(vec![Value::UInt(i)]),
                    });
                }
            } else if args.first().and_then(Value::as_str) == Some("slow") {
                // com.example.slow: never answers; the INTERRUPT is dropped.
            } else if fail {
                c.send(&Message::Error {
                    request_type: MessageType::Invocation,
                    request,
                    details: Dict::new(),
                    error: "com.example.error.failed".into(),
                    payload: Payload::args(vec![Value::from("as asked")]),
                });
            } else {
                let sum: u64 = args.iter().filter_map(Value::as_u64).sum();
                c.send(&Message::Yield {
                    request,
                    options: Dict::new(),
                    payload: Payload::args(vec![
                        Value::UInt(sum),
                        Value::from(name),
                        Value::from(procedure.as_str()),
                    ]),
                });
            }
        }
    })
}

/// Calls `procedure` with `args`; the RESULT's args, or the ERROR's URI.
pub fn call(c: &mut Client, procedure: &str, args: Vec<Value>) -> Result<Vec<Value>, String> {
    let request = req();
    c.send(&Message::Call {
        request,
        options: Dict::new(),
        procedure: procedure.into(),
        payload: Payload::args(args),
    });
    match c.expect("RESULT or ERROR", |m| match m {
        Message::Result { request: r, .. } | Message::Error { request: r, .. } => *r == request,
        _ => false,
    }) {
        Message::Result { payload, .. } => Ok(values_of(&payload).0),
        Message::Error { error, .. } => Err(error),
        _ => unreachable!(),
    }
}

pub fn calls_reach(c: &mut Client, callee: &str) {
    let r = call(c, "com.example.add", vec![Value::UInt(2), Value::UInt(3)]).expect("add");
    assert_eq!(r[0], Value::UInt(5));
    assert_eq!(r[1], Value::from(callee));
    let r = call(c, "com.example.math.square", vec![Value::UInt(4)]).expect("prefix");
    assert_eq!(r[2], Value::from("com.example.math.square"));
    let r = call(c, "com.x.mul", vec![Value::UInt(1)]).expect("wildcard");
    assert_eq!(r[2], Value::from("com.x.mul"));
    assert_eq!(
        call(c, "com.example.fail", vec![Value::from("fail")]),
        Err("com.example.error.failed".to_owned()),
        "the callee's error comes back as an error"
    );
}

/// Progressive results arrive as progressive results; a CANCEL of a call
/// relayed over links ends it with `wamp.error.canceled`.
pub fn progress_and_cancel_reach(c: &mut Client) {
    let request = req();
    c.send(&Message::Call {
        request,
        options: dict! { "receive_progress" => true },
        procedure: "com.example.count".into(),
        payload: Payload::args(vec![Value::from("count")]),
    });
    let mut got = Vec::new();
    loop {
        match c.expect(
            "RESULT",
            |m| matches!(m, Message::Result { request: r, .. } if *r == request),
        ) {
            Message::Result {
                details, payload, ..
            } => {
                let progress = details.get("progress") == Some(&Value::Bool(true));
                got.push((values_of(&payload).0[0].clone(), progress));
                if !progress {
                    break;
                }
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(
        got,
        vec![
            (Value::UInt(1), true),
            (Value::UInt(2), true),
            (Value::UInt(3), false)
        ]
    );
    let request = req();
    c.send(&Message::Call {
        request,
        options: Dict::new(),
        procedure: "com.example.slow".into(),
        payload: Payload::args(vec![Value::from("slow")]),
    });
    std::thread::sleep(Duration::from_millis(100));
    c.send(&Message::Cancel {
        request,
        options: dict! { "mode" => "killnowait" },
    });
    match c.expect(
        "ERROR",
        |m| matches!(m, Message::Error { request: r, .. } if *r == request),
    ) {
        Message::Error { error, .. } => assert_eq!(error, "wamp.error.canceled"),
        _ => unreachable!(),
    }
}
