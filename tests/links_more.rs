//! Router links, second slice (issue 14): links over TLS (`wss://` and
//! RawSocket over TLS) with cryptosign bound to the channel and the other
//! router proving its node key; a wrong CA or router key refused, counted and
//! retried with backoff.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::links::{call, client, detail, figure, req, settle};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use shardwamp::component::Registry;
use shardwamp::config::rlink::RLinkConfig;
use shardwamp::config::Config;
use shardwamp::control::Controller;
use shardwamp::dict;
use shardwamp::wamp::cryptosign::PrivateKey;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::{Dict, Value};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shardwamp-links-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A CA (written as `<stem>-ca.crt`) and a server certificate it signs for
/// 127.0.0.1 and localhost (`<stem>.crt`, `<stem>.key`).
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path, stem: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, format!("{stem} CA"));
    let ca = p.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, stem);
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    let out = Pki {
        ca: dir.join(format!("{stem}-ca.crt")),
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    std::fs::write(&out.ca, ca.pem()).unwrap();
    std::fs::write(&out.cert, cert.pem()).unwrap();
    private(&out.key, &key.serialize_pem());
    out
}

/// Writes Ed25519 key `seed` in Crossbar.io's node key format.
fn node_key(path: &Path, seed: u8) -> PrivateKey {
    let key = PrivateKey::from_seed(&[seed; 32]);
    private(
        path,
        &format!(
            "Crossbar.io node private key - KEEP THIS SAFE!\n\ncreator: test\npublic-key-ed25519: {}\nprivate-key-ed25519: {}\n",
            key.public_hex(),
            shardwamp::wamp::cryptosign::encode_hex(&[seed; 32])
        ),
    );
    key
}

/// A router with `realm1` (anonymous clients may do everything; role
/// `rlink` for links), the management realm, a plain `ws` transport and
/// `extra` TOML at the end (transports, say); `router` goes in `[router]`.
fn router(router: &str, extra: &str) -> Arc<Controller> {
    let text = format!(
        r#"
[router]
shards = 2
{router}

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

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.auth.anonymous]
type = "static"
role = "anonymous"
{extra}
"#
    );
    let config = Config::from_str_with_env(&text, |_| None).expect("config");
    Controller::start(config, Registry::with_builtins()).expect("router starts")
}

/// The TLS side of the link tests: router B with a node key (seed 7) and
/// `wss` and `rss` transports whose cryptosign principal `node1` (role
/// `rlink`) is the linking router's key (seed 1).
struct TlsPeer {
    dir: PathBuf,
    pki: Pki,
    other_ca: Pki,
    link_key: PathBuf,
    router_public: String,
    b: Arc<Controller>,
}

fn tls_peer(name: &str) -> TlsPeer {
    let dir = tempdir(name);
    let node2 = pki(&dir, "node2");
    let other_ca = pki(&dir, "elsewhere");
    let link_key = dir.join("node1.priv");
    let linker = node_key(&link_key, 1);
    let router_key = node_key(&dir.join("node2.priv"), 7);
    let tls = format!(
        "{{ key = {:?}, certificate = {:?} }}",
        node2.key.display().to_string(),
        node2.cert.display().to_string()
    );
    let auth = format!(
        r#"[transports.auth.cryptosign]
type = "static"
principals = {{ node1 = {{ authorized_keys = ["{}"], role = "rlink", realm = "realm1" }} }}"#,
        linker.public_hex()
    );
    let b = router(
        &format!(
            "node_key = {:?}",
            dir.join("node2.priv").display().to_string()
        ),
        &format!(
            r#"
[[transports]]
type = "websocket"
id = "wss"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {tls} }}
{auth}

[[transports]]
type = "rawsocket"
id = "rss"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {tls} }}
{auth}
"#
        ),
    );
    TlsPeer {
        dir,
        pki: node2,
        other_ca,
        link_key,
        router_public: router_key.public_hex(),
        b,
    }
}

impl Drop for TlsPeer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A link to `peer` over `transport` (`wss` or `rss`), trusting `ca`,
/// expecting router key `router_key`, with a tls-exporter binding.
fn tls_link(peer: &TlsPeer, transport: &str, ca: &Path, router_key: &str) -> RLinkConfig {
    let addr = peer.b.transport_addr(transport).expect("transport");
    let kind = if transport == "wss" {
        format!(
            r#"type = "websocket", url = "wss://localhost:{}/ws""#,
            addr.port()
        )
    } else {
        r#"type = "rawsocket", serializer = "cbor""#.to_owned()
    };
    let text = format!(
        r#"
realm = "realm1"
authentication = {{ key = {key:?}, router_key = "{router_key}", channel_binding = "tls-exporter" }}
reconnect = {{ initial_delay_ms = 100, growth = 2.0, max_delay_ms = 800 }}
transport = {{ {kind}, endpoint = {{ type = "tcp", host = "127.0.0.1", port = {port}, tls = {{ hostname = "localhost", ca_certificates = [{ca:?}] }} }} }}
"#,
        key = peer.link_key.display().to_string(),
        ca = ca.display().to_string(),
        port = addr.port()
    );
    toml::from_str(&text).expect("link config")
}

fn start(on: &Controller, id: &str, config: RLinkConfig) {
    futures_lite::future::block_on(on.start_router_realm_link("realm1", id, config))
        .expect("link starts");
}

fn stop(on: &Controller, id: &str) {
    futures_lite::future::block_on(on.stop_router_realm_link("realm1", id)).expect("link stops");
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn links_over_wss_and_rss_with_cryptosign_bound_and_the_router_authenticated() {
    let peer = tls_peer("tls");
    let a = router("", "");
    for transport in ["wss", "rss"] {
        let id = format!("over-{transport}");
        start(
            &a,
            &id,
            tls_link(&peer, transport, &peer.pki.ca, &peer.router_public),
        );
        // A subscriber here, a callee there.
        let mut sub = client(&a);
        let request = req();
        sub.send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: "com.example.news".into(),
        });
        sub.expect(
            "SUBSCRIBED",
            |m| matches!(m, Message::Subscribed { request: r, .. } if *r == request),
        );
        let mut callee = client(&peer.b);
        let request = req();
        callee.send(&Message::Register {
            request,
            options: Dict::new(),
            procedure: "com.example.add".into(),
        });
        callee.expect(
            "REGISTERED",
            |m| matches!(m, Message::Registered { request: r, .. } if *r == request),
        );
        settle(&a, &id, 1, 1);
        let d = detail(&a, &id);
        assert_eq!(figure(&d, "connect_failures"), 0, "{transport}: {d:?}");
        // The remote leg authenticated with cryptosign, over TLS.
        let remote = figure(&d, "remote_session");
        let mut meta = client(&peer.b);
        let session = call(&mut meta, "wamp.session.get", vec![Value::UInt(remote)])
            .expect("wamp.session.get");
        let Some(Value::Dict(session)) = session.into_iter().next() else {
            panic!("session detail")
        };
        assert_eq!(
            session.get("authmethod"),
            Some(&Value::from("cryptosign")),
            "{session:?}"
        );
        assert_eq!(session.get("authid"), Some(&Value::from("node1")));
        let Some(Value::Dict(t)) = session.get("transport") else {
            panic!("{session:?}")
        };
        assert_eq!(t.get("channel_type"), Some(&Value::from("tls")), "{t:?}");
        // An event there reaches the subscriber here.
        let mut publisher = client(&peer.b);
        let request = req();
        publisher.send(&Message::Publish {
            request,
            options: dict! { "acknowledge" => true },
            topic: "com.example.news".into(),
            payload: Payload::args(vec![Value::from(transport)]),
        });
        publisher.expect(
            "PUBLISHED",
            |m| matches!(m, Message::Published { request: r, .. } if *r == request),
        );
        match sub.expect("EVENT", |m| matches!(m, Message::Event { .. })) {
            Message::Event { payload, .. } => {
                let (args, _) = shardwamp::client::session::values_of(&payload);
                assert_eq!(args, vec![Value::from(transport)]);
            }
            _ => unreachable!(),
        }
        // A call here reaches the callee there.
        let mut caller = client(&a);
        let answer = std::thread::spawn(move || {
            call(
                &mut caller,
                "com.example.add",
                vec![Value::UInt(2), Value::UInt(3)],
            )
        });
        match callee.expect("INVOCATION", |m| matches!(m, Message::Invocation { .. })) {
            Message::Invocation { request, .. } => callee.send(&Message::Yield {
                request,
                options: Dict::new(),
                payload: Payload::args(vec![Value::UInt(5)]),
            }),
            _ => unreachable!(),
        }
        assert_eq!(answer.join().unwrap(), Ok(vec![Value::UInt(5)]));
        stop(&a, &id);
    }
    a.shutdown();
    peer.b.shutdown();
}

#[test]
fn a_wrong_ca_or_router_key_is_refused_counted_and_retried_with_backoff() {
    let peer = tls_peer("refused");
    let a = router("", "");
    let impostor = PrivateKey::from_seed(&[9; 32]).public_hex();
    let cases = [
        (
            "wrong-ca",
            peer.other_ca.ca.clone(),
            peer.router_public.clone(),
            "UnknownIssuer",
        ),
        (
            "wrong-router",
            peer.pki.ca.clone(),
            impostor,
            "failed cryptosign's checks",
        ),
    ];
    for (id, ca, router_key, why) in cases {
        start(&a, id, tls_link(&peer, "wss", &ca, &router_key));
        let t0 = Instant::now();
        wait_for("three failed tries", 10, || {
            figure(&detail(&a, id), "connect_failures") >= 3
        });
        let d = detail(&a, id);
        let failures = figure(&d, "connect_failures");
        // Backoff: 100, 200, 400 ms between tries (with 10 % jitter): three
        // failures take at least ~300 ms, and it never connected.
        assert!(t0.elapsed() >= Duration::from_millis(250), "{d:?}");
        assert!(failures < 10, "tries without backoff: {d:?}");
        assert_eq!(d.get("connected"), Some(&Value::Bool(false)), "{d:?}");
        let last = d
            .get("last_error")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        assert!(last.contains(why), "{id}: last_error {last:?}");
        assert!(
            !last.contains(&"01".repeat(32)),
            "a key in the last error: {last}"
        );
        stop(&a, id);
    }
    a.shutdown();
    peer.b.shutdown();
}

/// The management realm, open to anonymous sessions that may call the
/// controller and subscribe to its events.
const MANAGEMENT: &str = r#"
[[realms]]
name = "shardwamp.management"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = "shardwamp.router."
match = "prefix"
allow = { call = true, subscribe = true }

[management]
realm = "shardwamp.management"
allow_anonymous = true
"#;

/// A plain anonymous link to `to`'s `ws` transport (RawSocket-free, no TLS).
fn plain_link(to: &Controller) -> RLinkConfig {
    let addr = to.transport_addr("ws").expect("ws");
    toml::from_str(&format!(
        r#"
realm = "realm1"
reconnect = {{ initial_delay_ms = 100, max_delay_ms = 400 }}
transport = {{ type = "websocket", url = "ws://{addr}/ws", endpoint = {{ type = "tcp", host = "127.0.0.1", port = {port} }} }}
"#,
        port = addr.port()
    ))
    .expect("link config")
}

fn link_config_value(c: &RLinkConfig) -> Value {
    let json = serde_json::to_value(c).expect("json");
    fn conv(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(u) => Value::UInt(u),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(conv).collect()),
            serde_json::Value::Object(o) => {
                Value::Dict(o.iter().map(|(k, v)| (k.clone(), conv(v))).collect())
            }
        }
    }
    conv(&json)
}

#[test]
fn started_and_stopped_events_on_the_management_realm() {
    let b = router("", "");
    let a = router("", MANAGEMENT);
    let mut watcher = common::Client::websocket(
        a.transport_addr("ws").unwrap(),
        "/ws",
        shardwamp::codec::Serializer::Json,
    );
    watcher.join("shardwamp.management");
    let mut subs = std::collections::HashMap::new();
    for name in [
        "on_router_realm_link_started",
        "on_router_realm_link_stopped",
    ] {
        let request = req();
        watcher.send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: format!("shardwamp.router.{name}"),
        });
        match watcher.expect(
            "SUBSCRIBED",
            |m| matches!(m, Message::Subscribed { request: r, .. } if *r == request),
        ) {
            Message::Subscribed { subscription, .. } => subs.insert(subscription, name),
            _ => unreachable!(),
        };
    }
    let event = |watcher: &mut common::Client| -> (&'static str, Dict) {
        match watcher.expect("EVENT", |m| matches!(m, Message::Event { .. })) {
            Message::Event {
                subscription,
                payload,
                ..
            } => {
                let (args, _) = shardwamp::client::session::values_of(&payload);
                let Some(Value::Dict(d)) = args.into_iter().next() else {
                    panic!("an event without the link's detail")
                };
                (subs[&subscription], d)
            }
            _ => unreachable!(),
        }
    };
    // Started through the management realm (as `ctl` does) ...
    let mut operator = common::Client::websocket(
        a.transport_addr("ws").unwrap(),
        "/ws",
        shardwamp::codec::Serializer::Json,
    );
    operator.join("shardwamp.management");
    let started = call(
        &mut operator,
        "shardwamp.router.start_router_realm_link",
        vec![
            Value::from("realm1"),
            Value::from("to-b"),
            link_config_value(&plain_link(&b)),
        ],
    )
    .expect("started");
    let (name, d) = event(&mut watcher);
    assert_eq!(name, "on_router_realm_link_started");
    assert_eq!(d.get("id"), Some(&Value::from("to-b")));
    assert_eq!(Some(&Value::Dict(d.clone())), started.first());
    for key in ["config", "started", "started_by", "connected"] {
        assert!(d.contains_key(key), "Crossbar.io's {key}: {d:?}");
    }
    // ... and stopped through the Rust API: the same event either way.
    settle(&a, "to-b", 0, 0);
    stop(&a, "to-b");
    let (name, d) = event(&mut watcher);
    assert_eq!(name, "on_router_realm_link_stopped");
    assert_eq!(d.get("id"), Some(&Value::from("to-b")));
    assert_eq!(d.get("connected"), Some(&Value::Bool(false)));
    assert_eq!(d.get("state"), Some(&Value::from("stopped")));
    // Started from the Rust API, too.
    start(&a, "again", plain_link(&b));
    let (name, d) = event(&mut watcher);
    assert_eq!(name, "on_router_realm_link_started");
    assert_eq!(d.get("id"), Some(&Value::from("again")));
    a.shutdown();
    b.shutdown();
}

/// Joins `realm1` on `on`'s `ws` transport with ticket principal `relay`
/// (role `rlink`: a session that may relay, as another router's link does).
fn relaying_client(on: &Controller) -> common::Client {
    let mut c = common::Client::websocket(
        on.transport_addr("ws").unwrap(),
        "/ws",
        shardwamp::codec::Serializer::Json,
    );
    c.send(&Message::Hello {
        realm: "realm1".into(),
        details: dict! {
            "roles" => Value::Dict(shardwamp::sim::all_roles()),
            "authmethods" => Value::List(vec![Value::from("ticket")]),
            "authid" => "relay",
        },
    });
    c.expect("CHALLENGE", |m| matches!(m, Message::Challenge { .. }));
    c.send(&Message::Authenticate {
        signature: "relay-ticket".into(),
        extra: Dict::new(),
    });
    c.expect("WELCOME", |m| matches!(m, Message::Welcome { .. }));
    c
}

#[test]
fn a_call_timeout_is_carried_over_the_link_and_interrupts_the_far_callee() {
    let ticket = r#"[transports.auth.ticket]
type = "static"
principals = { relay = { ticket = "relay-ticket", role = "rlink" } }"#;
    let b = router("", ticket);
    let a = router("", "");
    start(&a, "to-b", plain_link(&b));
    // The far callee on B never answers. It joins as a session that may
    // relay, so B's dealer tells it the timeout: proof that the link's CALL
    // carried it to B.
    let mut callee = relaying_client(&b);
    let request = req();
    callee.send(&Message::Register {
        request,
        options: Dict::new(),
        procedure: "com.example.slow".into(),
    });
    callee.expect(
        "REGISTERED",
        |m| matches!(m, Message::Registered { request: r, .. } if *r == request),
    );
    settle(&a, "to-b", 0, 1);
    let mut caller = client(&a);
    let request = req();
    let t0 = Instant::now();
    caller.send(&Message::Call {
        request,
        options: dict! { "timeout" => 400u64 },
        procedure: "com.example.slow".into(),
        payload: Payload::args(vec![]),
    });
    let invocation = match callee.expect("INVOCATION", |m| matches!(m, Message::Invocation { .. }))
    {
        Message::Invocation {
            request, details, ..
        } => {
            assert_eq!(
                details.get("timeout"),
                Some(&Value::UInt(400)),
                "the timeout went on over the link: {details:?}"
            );
            request
        }
        _ => unreachable!(),
    };
    // The caller hears wamp.error.timeout (the spec's URI, ap_11) ...
    match caller.expect(
        "ERROR",
        |m| matches!(m, Message::Error { request: r, .. } if *r == request),
    ) {
        Message::Error { error, .. } => assert_eq!(error, "wamp.error.timeout"),
        _ => unreachable!(),
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(350),
        "{:?}",
        t0.elapsed()
    );
    // ... and the far callee is interrupted.
    match callee.expect("INTERRUPT", |m| matches!(m, Message::Interrupt { .. })) {
        Message::Interrupt { request, .. } => assert_eq!(request, invocation),
        _ => unreachable!(),
    }
    stop(&a, "to-b");
    a.shutdown();
    b.shutdown();
}

/// A fake router on RawSocket (JSON): it answers HELLO with a scripted
/// WELCOME and the link's meta API questions with one subscription
/// (`com.example.news`, session 4242) and one registration
/// (`com.example.far`, session 4243); on its first connection it then stops
/// reading (a stalled router) until told to close; later connections keep
/// answering.
struct FakeRouter {
    addr: std::net::SocketAddr,
    close_first: std::sync::mpsc::Sender<()>,
    stalled: std::sync::mpsc::Receiver<()>,
}

fn fake_router() -> FakeRouter {
    fake_router_with(0)
}

/// [`fake_router`]; with `flood` > 0 its first connection also waits for a
/// registration of the link's (a mirror of one on the linking router) and,
/// once stalled, sends `flood` INVOCATIONs of 16 KiB for it, whose results
/// it never reads.
fn fake_router_with(flood: usize) -> FakeRouter {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let (stalled_tx, stalled_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut first = Some((close_rx, stalled_tx));
        for conn in listener.incoming() {
            let Ok(s) = conn else { return };
            let stall = first.take();
            std::thread::spawn(move || fake_connection(s, stall, flood));
        }
    });
    FakeRouter {
        addr,
        close_first: close_tx,
        stalled: stalled_rx,
    }
}

fn fake_connection(
    mut s: std::net::TcpStream,
    stall: Option<(std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>)>,
    flood: usize,
) {
    use std::io::{Read, Write};
    // A small receive buffer: the link's queue fills sooner.
    let _ = socket2::SockRef::from(&s).set_recv_buffer_size(4096);
    let mut hs = [0u8; 4];
    if s.read_exact(&mut hs).is_err() {
        return;
    }
    let _ = s.write_all(&[0x7f, 0xf1, 0, 0]);
    let send = |s: &mut std::net::TcpStream, m: &serde_json::Value| {
        let bytes = serde_json::to_vec(m).unwrap();
        let mut frame = (bytes.len() as u32).to_be_bytes();
        frame[0] = 0;
        let _ = s.write_all(&frame);
        let _ = s.write_all(&bytes);
    };
    let mut answered = 0;
    let mut registration = None;
    loop {
        let mut head = [0u8; 4];
        if s.read_exact(&mut head).is_err() {
            return;
        }
        let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
        let mut body = vec![0u8; len];
        if s.read_exact(&mut body).is_err() {
            return;
        }
        if head[0] == 1 {
            let mut pong = vec![2u8, head[1], head[2], head[3]];
            pong.extend_from_slice(&body);
            let _ = s.write_all(&pong);
            continue;
        }
        let Ok(m) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return;
        };
        let code = m[0].as_u64().unwrap_or(0);
        let req = m[1].clone();
        let out = match code {
            1 => {
                serde_json::json!([2, 777, {"roles": {"broker": {"features": {}}, "dealer": {"features": {}}}, "authid": "fake", "authrole": "rlink"}])
            }
            32 => serde_json::json!([33, req, 5000 + req.as_u64().unwrap_or(0)]),
            64 => {
                let id = 6000 + req.as_u64().unwrap_or(0);
                // The link's mirror of the echo callee, not the link's
                // topology markers (`shardwamp.rlink.`), which it registers
                // too and in any order.
                if m[3].as_str() == Some("com.example.echo") {
                    registration = Some(id);
                }
                serde_json::json!([65, req, id])
            }
            48 => {
                let procedure = m[3].as_str().unwrap_or("");
                let result = match procedure {
                    "wamp.subscription.list" => {
                        serde_json::json!({"exact": [100], "prefix": [], "wildcard": []})
                    }
                    "wamp.registration.list" => {
                        serde_json::json!({"exact": [200], "prefix": [], "wildcard": []})
                    }
                    "wamp.subscription.get" => {
                        serde_json::json!({"id": 100, "uri": "com.example.news", "match": "exact"})
                    }
                    "wamp.registration.get" => {
                        serde_json::json!({"id": 200, "uri": "com.example.far", "match": "exact", "invoke": "single"})
                    }
                    "wamp.subscription.list_subscribers" => serde_json::json!([4242]),
                    "wamp.registration.list_callees" => serde_json::json!([4243]),
                    _ => serde_json::Value::Null,
                };
                if procedure.ends_with("list_subscribers") || procedure.ends_with("list_callees") {
                    answered += 1;
                }
                if result.is_null() {
                    serde_json::json!([8, 48, req, {}, "wamp.error.no_such_procedure"])
                } else {
                    serde_json::json!([50, req, {}, [result]])
                }
            }
            6 => return,
            _ => continue,
        };
        send(&mut s, &out);
        let ready = answered == 2 && (flood == 0 || registration.is_some());
        if ready {
            if let Some((close, stalled)) = stall {
                // Both mirrors are set: stop reading (and flood, if asked)
                // until told to close.
                let _ = stalled.send(());
                let blob = "y".repeat(16 * 1024);
                for i in 0..flood {
                    let inv = serde_json::json!([68, i + 1, registration, {}, [blob]]);
                    send(&mut s, &inv);
                }
                let _ = close.recv_timeout(Duration::from_secs(60));
                return;
            }
        }
    }
}

/// The admin listener's `/metrics` page.
fn metrics(on: &Controller) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(on.admin_addr().expect("admin")).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_stalled_router_costs_bounded_memory_drops_are_counted_and_the_link_comes_back() {
    const LIMIT: u64 = 64 * 1024;
    let fake = fake_router();
    let a = router(
        "",
        r#"
[admin]
enabled = true
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }
"#,
    );
    let link: RLinkConfig = toml::from_str(&format!(
        r#"
realm = "realm1"
queue_limit_bytes = {LIMIT}
reconnect = {{ initial_delay_ms = 100, max_delay_ms = 400 }}
transport = {{ type = "rawsocket", serializer = "json", endpoint = {{ type = "tcp", host = "127.0.0.1", port = {port} }} }}
"#,
        port = fake.addr.port()
    ))
    .expect("link config");
    start(&a, "stalled", link);
    settle(&a, "stalled", 1, 1);
    fake.stalled
        .recv_timeout(Duration::from_secs(10))
        .expect("the fake router stalls");
    // Events toward the stalled router: queued up to the limit, then dropped.
    let mut publisher = client(&a);
    let blob = "x".repeat(16 * 1024);
    let deadline = Instant::now() + Duration::from_secs(30);
    while figure(&detail(&a, "stalled"), "events_dropped") == 0 {
        assert!(
            Instant::now() < deadline,
            "no event dropped: {:?}",
            detail(&a, "stalled")
        );
        for _ in 0..50 {
            publisher.send(&Message::Publish {
                request: req(),
                options: Dict::new(),
                topic: "com.example.news".into(),
                payload: Payload::args(vec![Value::from(blob.as_str())]),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let d = detail(&a, "stalled");
    assert_eq!(d.get("connected"), Some(&Value::Bool(true)), "{d:?}");
    // Bounded: twice the limit and one event at most.
    assert!(
        figure(&d, "queued_bytes") <= 2 * LIMIT + 32 * 1024,
        "queued past the bound: {d:?}"
    );
    // A call that finds the link's queue full is answered at once with
    // wamp.error.unavailable. (The kernel's socket buffers can take some
    // of the queue meanwhile: a burst of events just before the call, on
    // the same connection, fills it again; a call that went through anyway
    // times out and the test tries again.)
    let mut caller = publisher;
    let mut refused = false;
    for _ in 0..5 {
        for _ in 0..64 {
            caller.send(&Message::Publish {
                request: req(),
                options: Dict::new(),
                topic: "com.example.news".into(),
                payload: Payload::args(vec![Value::from(blob.as_str())]),
            });
        }
        let request = req();
        let t0 = Instant::now();
        caller.send(&Message::Call {
            request,
            options: dict! { "timeout" => 1000u64 },
            procedure: "com.example.far".into(),
            payload: Payload::args(vec![Value::UInt(1)]),
        });
        match caller.expect(
            "ERROR",
            |m| matches!(m, Message::Error { request: r, .. } if *r == request),
        ) {
            Message::Error { error, .. } if error == "wamp.error.unavailable" => {
                assert!(
                    t0.elapsed() < Duration::from_millis(900),
                    "{:?}",
                    t0.elapsed()
                );
                refused = true;
                break;
            }
            Message::Error { error, .. } => assert_eq!(error, "wamp.error.timeout"),
            _ => unreachable!(),
        }
    }
    assert!(refused, "no call refused: {:?}", detail(&a, "stalled"));
    let calls_dropped = figure(&detail(&a, "stalled"), "calls_dropped");
    assert_eq!(calls_dropped, 1);
    // The shard serves everyone else meanwhile.
    let mut callee = client(&a);
    let request = req();
    callee.send(&Message::Register {
        request,
        options: Dict::new(),
        procedure: "com.example.local".into(),
    });
    callee.expect(
        "REGISTERED",
        |m| matches!(m, Message::Registered { request: r, .. } if *r == request),
    );
    let answer = std::thread::spawn(move || {
        let mut c = caller;
        call(&mut c, "com.example.local", vec![Value::UInt(7)])
    });
    match callee.expect("INVOCATION", |m| matches!(m, Message::Invocation { .. })) {
        Message::Invocation { request, .. } => callee.send(&Message::Yield {
            request,
            options: Dict::new(),
            payload: Payload::args(vec![Value::UInt(7)]),
        }),
        _ => unreachable!(),
    }
    assert_eq!(answer.join().unwrap(), Ok(vec![Value::UInt(7)]));
    // The figures in /metrics.
    let page = metrics(&a);
    let label = "{realm=\"realm1\",link=\"stalled\"}";
    assert!(
        page.contains(&format!(
            "shardwamp_link_calls_dropped_total{label} {calls_dropped}"
        )),
        "{page}"
    );
    let dropped = page
        .lines()
        .find_map(|l| l.strip_prefix(&format!("shardwamp_link_events_dropped_total{label} ")))
        .and_then(|n| n.parse::<u64>().ok())
        .expect("events dropped in /metrics");
    assert!(dropped > 0, "{page}");
    // The stalled router closes: the link dials again and is back.
    fake.close_first.send(()).unwrap();
    wait_for("the link to come back", 15, || {
        let d = detail(&a, "stalled");
        figure(&d, "reconnects") == 1 && d.get("connected") == Some(&Value::Bool(true))
    });
    wait_for("the queue to empty", 5, || {
        figure(&detail(&a, "stalled"), "queued_bytes") == 0
    });
    stop(&a, "stalled");
    a.shutdown();
}

#[test]
fn a_router_that_stops_reading_results_is_dropped_at_twice_the_limit_and_dialed_again() {
    const LIMIT: u64 = 64 * 1024;
    let fake = fake_router_with(2000);
    let a = router("", "");
    // A callee here that echoes: the fake router calls it (through the
    // link) and never reads the results.
    let mut echo = client(&a);
    let request = req();
    echo.send(&Message::Register {
        request,
        options: Dict::new(),
        procedure: "com.example.echo".into(),
    });
    echo.expect(
        "REGISTERED",
        |m| matches!(m, Message::Registered { request: r, .. } if *r == request),
    );
    std::thread::spawn(move || loop {
        match echo.recv() {
            Some(Message::Invocation {
                request, payload, ..
            }) => echo.send(&Message::Yield {
                request,
                options: Dict::new(),
                payload,
            }),
            Some(_) => {}
            None => return,
        }
    });
    let link: RLinkConfig = toml::from_str(&format!(
        r#"
realm = "realm1"
queue_limit_bytes = {LIMIT}
reconnect = {{ initial_delay_ms = 100, max_delay_ms = 400 }}
transport = {{ type = "rawsocket", serializer = "json", endpoint = {{ type = "tcp", host = "127.0.0.1", port = {port} }} }}
"#,
        port = fake.addr.port()
    ))
    .expect("link config");
    start(&a, "flooded", link);
    fake.stalled
        .recv_timeout(Duration::from_secs(10))
        .expect("the fake router stalls");
    // The counter, then the last error, are set as the link gives up.
    wait_for("the link to give up on the stalled router", 30, || {
        let d = detail(&a, "flooded");
        figure(&d, "queue_overflows") >= 1
            && d.get("last_error")
                .and_then(Value::as_str)
                .is_some_and(|e| e.contains("stopped reading"))
    });
    // It dials again (the fake's next connection answers) and is back.
    wait_for("the link to come back", 15, || {
        let d = detail(&a, "flooded");
        figure(&d, "reconnects") >= 1 && d.get("connected") == Some(&Value::Bool(true))
    });
    let _ = fake.close_first.send(());
    stop(&a, "flooded");
    a.shutdown();
}
