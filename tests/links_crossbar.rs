//! Router links with Crossbar.io 26.10.1 (issue 14, item 7): a Crossbar.io
//! node whose rlink dials a shardwamp router, and a shardwamp router whose
//! `[[realms.rlinks]]` dials a Crossbar.io node, each authenticating with
//! WAMP-cryptosign and a node key. In each, clients on both sides (this
//! crate's blocking test client, which speaks to Crossbar.io as to any
//! router) subscribe and register before the link comes up; then events go
//! both ways exactly once, and calls both ways, a callee's error included
//! (Crossbar.io's link turns it into a result of one null: docs/links.md).
//!
//! Crossbar.io is installed from PyPI by tests/interop/setup-crossbar.sh
//! (tests/common/crossbar.rs); a test never skips: without it, it fails.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::crossbar::{hex, CrossbarNode};
use common::Client;
use serde_json::json;
use shardwamp::client::session::values_of;
use shardwamp::codec::Serializer;
use shardwamp::component::Registry;
use shardwamp::config::rlink::RLinkConfig;
use shardwamp::config::Config;
use shardwamp::control::Controller;
use shardwamp::dict;
use shardwamp::wamp::cryptosign::PrivateKey;
use shardwamp::wamp::message::{Message, MessageType, Payload};
use shardwamp::wamp::value::{Dict, Value};

/// The Crossbar.io node's key seed (its `key.priv`).
const CROSSBAR_SEED: [u8; 32] = [0x51; 32];
/// shardwamp's link key seed (a node key file in Crossbar.io's format).
const SHARDWAMP_SEED: [u8; 32] = [0x52; 32];

const TOPIC: &str = "com.example.news";

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
fn req() -> u64 {
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A shardwamp router: realm1 with `anonymous` allowed everything and
/// disclosing callers and publishers (Crossbar.io's link needs them: it
/// refuses to relay what is not disclosed), a role `rlink` for the other
/// router's link, a WebSocket transport with anonymous and `cs_principals`
/// (TOML, cryptosign principals; empty for none).
fn shardwamp(cs_principals: &str) -> Arc<Controller> {
    let cryptosign = if cs_principals.is_empty() {
        String::new()
    } else {
        format!(
            "[transports.auth.cryptosign]\ntype = \"static\"\nprincipals = {{ {cs_principals} }}\n"
        )
    };
    let text = format!(
        r#"
[router]
shards = 2

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
disclose = {{ caller = true, publisher = true }}

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.options]
# generous: a Crossbar.io node starting on a busy host starves everything
hello_timeout = 60000
auth_timeout = 60000
[transports.auth.anonymous]
type = "static"
role = "anonymous"
{cryptosign}
"#
    );
    let config = Config::from_str_with_env(&text, |_| None).expect("config");
    Controller::start(config, Registry::with_builtins()).expect("router starts")
}

/// A Crossbar.io node's config: realm1 like [`shardwamp`]'s, a WebSocket
/// transport on `port` (json, msgpack, cbor) with anonymous and, when
/// `principal` names a public key, a cryptosign principal `shardwamp_node`
/// of role `rlink`; `rlinks` in realm1.
fn crossbar_config(
    port: u16,
    principal: Option<&str>,
    rlinks: serde_json::Value,
) -> serde_json::Value {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let perm = json!([{"uri": "", "match": "prefix", "allow": all,
        "disclose": {"caller": true, "publisher": true}, "cache": true}]);
    let mut auth = json!({"anonymous": {"type": "static", "role": "anonymous"}});
    if let Some(pubkey) = principal {
        auth["cryptosign"] = json!({"type": "static", "principals": {
            "shardwamp_node": {"realm": "realm1", "role": "rlink", "authorized_keys": [pubkey]}
        }});
    }
    json!({
        "version": 2,
        "controller": {"id": "crossbar_node"},
        "workers": [{
            "type": "router",
            "id": "router_worker",
            "realms": [{
                "name": "realm1",
                "roles": [
                    {"name": "anonymous", "permissions": perm},
                    {"name": "rlink", "permissions": perm},
                ],
                "rlinks": rlinks,
            }],
            "transports": [{
                "type": "websocket",
                "id": "ws_main",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "serializers": ["json", "msgpack", "cbor"],
                "auth": auth,
            }],
        }],
    })
}

fn on_shardwamp(s: &Controller) -> Client {
    let mut c = Client::websocket(s.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    c.join("realm1");
    c
}

fn on_crossbar(node: &CrossbarNode) -> Client {
    let mut c = Client::websocket(node.addr(0), "/", Serializer::Json);
    c.join("realm1");
    c
}

/// Calls `procedure`; the RESULT's args, or the ERROR's URI.
fn call(c: &mut Client, procedure: &str, args: Vec<Value>) -> Result<Vec<Value>, String> {
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

fn subscribe(c: &mut Client, topic: &str) -> u64 {
    let request = req();
    c.send(&Message::Subscribe {
        request,
        options: Dict::new(),
        topic: topic.into(),
    });
    match c.expect(
        "SUBSCRIBED",
        |m| matches!(m, Message::Subscribed { request: r, .. } | Message::Error { request: r, .. } if *r == request),
    ) {
        Message::Subscribed { subscription, .. } => subscription,
        other => panic!("subscribe {topic}: {other:?}"),
    }
}

/// A callee thread on `c`: `PREFIX.add` answers the sum of its arguments
/// and `name`; `PREFIX.fail` answers the error `com.example.error.failed`.
fn callee(mut c: Client, prefix: &str, name: &'static str) -> std::thread::JoinHandle<()> {
    for p in ["add", "fail"] {
        let request = req();
        c.send(&Message::Register {
            request,
            options: Dict::new(),
            procedure: format!("{prefix}.{p}"),
        });
        match c.expect(
            "REGISTERED",
            |m| matches!(m, Message::Registered { request: r, .. } | Message::Error { request: r, .. } if *r == request),
        ) {
            Message::Registered { .. } => {}
            other => panic!("register {prefix}.{p}: {other:?}"),
        }
    }
    // It waits for invocations as long as the connection lasts.
    c.set_read_timeout(None);
    std::thread::spawn(move || loop {
        let Some(m) = c.recv() else { return };
        if let Message::Invocation {
            request,
            registration: _,
            details: _,
            payload,
        } = m
        {
            let (args, _) = values_of(&payload);
            // The registration's procedure is not in the details (exact
            // match): the first argument "fail" marks the failing call.
            if args.first().and_then(Value::as_str) == Some("fail") {
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
                    payload: Payload::args(vec![Value::UInt(sum), Value::from(name)]),
                });
            }
        }
    })
}

/// Waits (at most 60 s) until `meta` (a client of one router) sees at
/// least `n` subscribers on `topic`: the link's mirror is in place.
fn wait_subscribers(meta: &mut Client, topic: &str, n: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count = call(meta, "wamp.subscription.lookup", vec![Value::from(topic)])
            .ok()
            .and_then(|a| a.first().and_then(Value::as_u64))
            .and_then(|id| {
                call(
                    meta,
                    "wamp.subscription.count_subscribers",
                    vec![Value::UInt(id)],
                )
                .ok()
            })
            .and_then(|a| a.first().and_then(Value::as_u64))
            .unwrap_or(0);
        if count >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {topic} has {count} subscribers, waited for {n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most 60 s) until `procedure` is registered where `meta` is.
fn wait_registered(meta: &mut Client, procedure: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = call(
            meta,
            "wamp.registration.lookup",
            vec![Value::from(procedure)],
        )
        .ok()
        .and_then(|a| a.first().and_then(Value::as_u64))
        .is_some();
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {procedure} not registered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Publishes events `0..n` and `end` on [`TOPIC`] (acknowledged) tagged
/// `round`; each subscriber must get each exactly once, in order, and the
/// original publisher must be disclosed to it.
fn events_once(publisher: &mut Client, subscribers: &mut [(&str, &mut Client)], round: &str) {
    let n = 5;
    for i in 0..=n {
        let tag = if i == n {
            "end".to_owned()
        } else {
            i.to_string()
        };
        let request = req();
        publisher.send(&Message::Publish {
            request,
            options: dict! { "acknowledge" => true },
            topic: TOPIC.into(),
            payload: Payload::args(vec![Value::from(round), Value::from(tag.as_str())]),
        });
        match publisher.expect(
            "PUBLISHED",
            |m| matches!(m, Message::Published { request: r, .. } | Message::Error { request: r, .. } if *r == request),
        ) {
            Message::Published { .. } => {}
            other => panic!("publish in round {round}: {other:?}"),
        }
    }
    let mut want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    want.push("end".into());
    for (who, s) in subscribers.iter_mut() {
        let mut got = Vec::new();
        loop {
            let m = s
                .recv()
                .unwrap_or_else(|| panic!("{who}: no more events in round {round}: {got:?}"));
            if let Message::Event {
                payload, details, ..
            } = m
            {
                let (args, _) = values_of(&payload);
                assert_eq!(
                    args.first().and_then(Value::as_str),
                    Some(round),
                    "{who}: an event of another round: {args:?} {details:?}"
                );
                assert!(
                    details.contains_key("publisher"),
                    "{who}: the publisher is not disclosed: {details:?}"
                );
                let tag = args.get(1).and_then(Value::as_str).unwrap_or("").to_owned();
                let end = tag == "end";
                got.push(tag);
                if end {
                    break;
                }
            }
        }
        assert_eq!(got, want, "{who}: round {round}");
    }
}

/// Calls across the link from `caller`: `prefix.add` reaches the callee
/// named `name`; `prefix.fail` comes back as `failed` says.
fn calls_cross(caller: &mut Client, prefix: &str, name: &str, failed: Result<Vec<Value>, String>) {
    let r = call(
        caller,
        &format!("{prefix}.add"),
        vec![Value::UInt(2), Value::UInt(3)],
    )
    .unwrap_or_else(|e| panic!("{prefix}.add: {e}"));
    assert_eq!(r, vec![Value::UInt(5), Value::from(name)], "{prefix}.add");
    assert_eq!(
        call(caller, &format!("{prefix}.fail"), vec![Value::from("fail")]),
        failed,
        "{prefix}.fail"
    );
}

#[test]
fn a_crossbar_node_links_to_shardwamp() {
    let node_pub = PrivateKey::from_seed(&CROSSBAR_SEED).public_hex();
    // shardwamp accepts the Crossbar.io node's link with its node key (the
    // authid is inferred from the key: Crossbar.io sends none by default).
    let s = shardwamp(&format!(
        "crossbar_node = {{ authorized_keys = [\"{node_pub}\"], role = \"rlink\" }}"
    ));
    let ws = s.transport_addr("ws").unwrap();

    // Before the link: a subscriber and a callee on shardwamp.
    let mut s_sub = on_shardwamp(&s);
    subscribe(&mut s_sub, TOPIC);
    let _s_callee = callee(on_shardwamp(&s), "com.example.sw", "shardwamp");

    let rlinks = json!([{
        "id": "to_shardwamp",
        "realm": "realm1",
        "transport": {
            "type": "websocket",
            "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": ws.port()},
            "url": format!("ws://{ws}/ws"),
            "serializers": ["msgpack"],
        },
    }]);
    let node = CrossbarNode::start("rlink-out", &CROSSBAR_SEED, 1, |ports| {
        crossbar_config(ports[0], None, rlinks.clone())
    });

    // The node's link joined shardwamp (its log says so). Clients on the
    // node come after that: a registration made on a Crossbar.io node while
    // its link has connected but not yet joined makes the link send
    // REGISTER before HELLO, which shardwamp (as any router) answers by
    // closing, and the node logs a traceback and dials again (docs/links.md).
    assert!(
        node.wait_log(
            "router-to-router to_shardwamp started",
            Duration::from_secs(60)
        ),
        "the node's link did not join shardwamp:\n{}",
        node.log()
    );

    // On the node: a subscriber and a callee.
    let mut c_sub = on_crossbar(&node);
    subscribe(&mut c_sub, TOPIC);
    let _c_callee = callee(on_crossbar(&node), "com.example.cb", "crossbar");

    // The mirrors: the node's link subscribes on shardwamp (shardwamp's
    // subscriber was there before it came up) and on the node.
    let mut s_meta = on_shardwamp(&s);
    let mut c_meta = on_crossbar(&node);
    wait_subscribers(&mut s_meta, TOPIC, 2, "shardwamp");
    wait_subscribers(&mut c_meta, TOPIC, 2, "crossbar");
    wait_registered(&mut c_meta, "com.example.sw.add", "crossbar");
    wait_registered(&mut s_meta, "com.example.cb.add", "shardwamp");

    // Events both ways, once each.
    let mut s_pub = on_shardwamp(&s);
    let mut c_pub = on_crossbar(&node);
    events_once(
        &mut s_pub,
        &mut [("shardwamp", &mut s_sub), ("crossbar", &mut c_sub)],
        "from-shardwamp",
    );
    events_once(
        &mut c_pub,
        &mut [("shardwamp", &mut s_sub), ("crossbar", &mut c_sub)],
        "from-crossbar",
    );

    // Calls both ways. Crossbar.io's link swallows the callee's error (it
    // logs "FAILED TO CALL" and returns None): the caller gets a RESULT
    // whose args are `[null]`, whichever side the callee is on, since both
    // directions run through the node's link.
    calls_cross(
        &mut c_pub,
        "com.example.sw",
        "shardwamp",
        Ok(vec![Value::Null]),
    );
    calls_cross(
        &mut s_pub,
        "com.example.cb",
        "crossbar",
        Ok(vec![Value::Null]),
    );
    // Each side's own callee answers its own errors as errors.
    assert_eq!(
        call(&mut s_pub, "com.example.sw.fail", vec![Value::from("fail")]),
        Err("com.example.error.failed".to_owned())
    );
    let tracebacks = node.tracebacks();
    assert!(
        tracebacks.is_empty(),
        "tracebacks in the node's log ({}):\n{}",
        node.cbdir.join("node.log").display(),
        tracebacks.join("\n---\n")
    );
    s.shutdown();
}

#[test]
fn shardwamp_links_to_a_crossbar_node() {
    let link_pub = PrivateKey::from_seed(&SHARDWAMP_SEED).public_hex();
    let node = CrossbarNode::start("rlink-in", &CROSSBAR_SEED, 1, |ports| {
        crossbar_config(ports[0], Some(&link_pub), json!([]))
    });
    let s = shardwamp("");

    // Before the link: a subscriber and a callee on each side.
    let mut c_sub = on_crossbar(&node);
    subscribe(&mut c_sub, TOPIC);
    let _c_callee = callee(on_crossbar(&node), "com.example.cb", "crossbar");
    let mut s_sub = on_shardwamp(&s);
    subscribe(&mut s_sub, TOPIC);
    let _s_callee = callee(on_shardwamp(&s), "com.example.sw", "shardwamp");

    // shardwamp's link key, in Crossbar.io's node key format.
    let keydir = node.cbdir.parent().unwrap().join("shardwamp-key");
    std::fs::create_dir_all(&keydir).unwrap();
    common::crossbar::write_node_key(&keydir, &SHARDWAMP_SEED);
    let addr = node.addr(0);
    let config: RLinkConfig = toml::from_str(&format!(
        r#"realm = "realm1"
authentication = {{ key = "{}" }}
reconnect = {{ initial_delay_ms = 200, max_delay_ms = 1000 }}
transport = {{ type = "websocket", url = "ws://{addr}/", serializers = ["cbor"], endpoint = {{ type = "tcp", host = "127.0.0.1", port = {} }} }}"#,
        keydir.join("key.priv").display(),
        addr.port()
    ))
    .expect("link config");
    futures_lite::future::block_on(s.start_router_realm_link("realm1", "to_crossbar", config))
        .expect("link starts");

    let mut s_meta = on_shardwamp(&s);
    let mut c_meta = on_crossbar(&node);
    wait_subscribers(&mut s_meta, TOPIC, 2, "shardwamp");
    wait_subscribers(&mut c_meta, TOPIC, 2, "crossbar");
    wait_registered(&mut c_meta, "com.example.sw.add", "crossbar");
    wait_registered(&mut s_meta, "com.example.cb.add", "shardwamp");
    let d = s
        .get_router_realm_link("realm1", "to_crossbar")
        .expect("link");
    let Value::Dict(d) = d else { panic!("{d:?}") };
    assert_eq!(d.get("connected"), Some(&Value::Bool(true)), "{d:?}");

    let mut s_pub = on_shardwamp(&s);
    let mut c_pub = on_crossbar(&node);
    events_once(
        &mut s_pub,
        &mut [("shardwamp", &mut s_sub), ("crossbar", &mut c_sub)],
        "from-shardwamp",
    );
    events_once(
        &mut c_pub,
        &mut [("shardwamp", &mut s_sub), ("crossbar", &mut c_sub)],
        "from-crossbar",
    );

    // Calls both ways through shardwamp's link: the callee's error comes
    // back as the error, both ways.
    let failed = Err("com.example.error.failed".to_owned());
    calls_cross(&mut s_pub, "com.example.cb", "crossbar", failed.clone());
    calls_cross(&mut c_pub, "com.example.sw", "shardwamp", failed);
    let tracebacks = node.tracebacks();
    assert!(
        tracebacks.is_empty(),
        "tracebacks in the node's log ({}):\n{}",
        node.cbdir.join("node.log").display(),
        tracebacks.join("\n---\n")
    );
    assert!(
        !node.log().contains(&hex(&SHARDWAMP_SEED)),
        "the link's private key in the node's log"
    );
    s.shutdown();
}
