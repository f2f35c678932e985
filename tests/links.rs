//! Router-to-router links (issue 14, first slice): two and three shardwamp
//! routers in this process (ports 0), linked in a chain and in a star, with
//! blocking clients on each. Events published on any router reach every
//! subscription (exact, prefix, wildcard) exactly once; calls from any
//! router reach a callee on another (errors passed back as errors); a link
//! stopped at run time withdraws its mirrors, and started again restores
//! them without duplicates.

mod common;

use std::time::{Duration, Instant};

use common::links::*;
use common::Client;
use shardwamp::config::rlink::RLinkConfig;
use shardwamp::dict;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::Value;

#[test]
fn chain_of_three_routes_events_once_and_calls_across() {
    // a -> b -> c: link "ab" runs on a, link "bc" on b.
    let (a, b, c) = (router(1), router(2), router(1));
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b, &c].iter().map(|r| subscriber(r)).collect();
    start_link(&a, "ab", &b);
    start_link(&b, "bc", &c);
    // Each link mirrors the three patterns each way.
    settle(&a, "ab", 6, 0);
    settle(&b, "bc", 6, 0);
    events_everywhere_once(&[&a, &b, &c], &mut subs);

    // The far subscriber sees the original publisher (disclosed by its
    // role) and the path: publisher, then one entry per link crossed. A
    // client's own `forward_for` is ignored (only links may set it).
    let mut p = client(&a);
    let request = req();
    p.send(&Message::Publish {
        request,
        options: dict! {
            "acknowledge" => true,
            "forward_for" => Value::List(vec![Value::Dict(dict! { "session" => 1u64 })]),
        },
        topic: "com.example.news".into(),
        payload: Payload::args(vec![Value::from("path"), Value::from("end")]),
    });
    p.expect("PUBLISHED", |m| matches!(m, Message::Published { .. }));
    for (k, s) in subs.iter_mut().enumerate() {
        let mut got = 0;
        while got < s.1.len() {
            if let Some(Message::Event { details, .. }) = s.0.recv() {
                got += 1;
                assert_eq!(
                    details.get("publisher"),
                    Some(&Value::UInt(p.session)),
                    "{details:?}"
                );
                let hops = match details.get("forward_for") {
                    Some(Value::List(l)) => l.len(),
                    _ => 0,
                };
                // On a: not relayed (and the client's forward_for ignored);
                // on b: publisher + ab; on c: publisher + ab + bc.
                assert_eq!(hops, [0, 2, 3][k], "router {k}: {details:?}");
            }
        }
    }

    // A callee on c is called from a (two hops) and b (one hop).
    let _callee = callee(&c, "c");
    settle(&b, "bc", 6, 6);
    settle(&a, "ab", 6, 6);
    calls_reach(&mut client(&a), "c");
    calls_reach(&mut client(&b), "c");
    progress_and_cancel_reach(&mut client(&a));

    let d = detail(&a, "ab");
    assert!(figure(&d, "reconnects") == 0, "{d:?}");
    assert_eq!(d.get("state"), Some(&Value::from("connected")));
    // Once per publication per link, not per subscription: 7 events were
    // published on a (a round and the path check), 12 on b and c.
    let Some(Value::Dict(ev)) = d.get("events_forwarded") else {
        panic!("{d:?}")
    };
    assert_eq!(figure(ev, "local_to_remote"), 7, "{d:?}");
    assert_eq!(figure(ev, "remote_to_local"), 12, "{d:?}");
    let Some(Value::Dict(calls)) = d.get("calls_forwarded") else {
        panic!("{d:?}")
    };
    assert_eq!(figure(calls, "local_to_remote"), 6, "{d:?}");
    assert_eq!(
        a.get_router_realm_links("realm1").unwrap(),
        vec!["ab".to_owned()]
    );
    for r in [&a, &b, &c] {
        r.shutdown();
    }
}

#[test]
fn star_routes_events_between_spokes_once() {
    // Hub h, spokes s1 and s2, each spoke links to the hub (crossbar#1918
    // fails here: events between two nodes linked to the same hub).
    let (h, s1, s2) = (router(1), router(1), router(1));
    start_link(&s1, "up", &h);
    start_link(&s2, "up", &h);
    let mut subs: Vec<(Client, Vec<u64>)> = [&h, &s1, &s2].iter().map(|r| subscriber(r)).collect();
    settle(&s1, "up", 6, 0);
    settle(&s2, "up", 6, 0);
    events_everywhere_once(&[&h, &s1, &s2], &mut subs);
    // A callee on one spoke is reached from the other spoke and the hub.
    let _callee = callee(&s2, "s2");
    settle(&s2, "up", 6, 6);
    settle(&s1, "up", 6, 6);
    calls_reach(&mut client(&s1), "s2");
    calls_reach(&mut client(&h), "s2");
    for r in [&h, &s1, &s2] {
        r.shutdown();
    }
}

#[test]
fn a_link_stopped_and_started_again_restores_mirrors_without_duplicates() {
    let (a, b) = (router(1), router(1));
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b].iter().map(|r| subscriber(r)).collect();
    let _callee = callee(&b, "b");
    start_link(&a, "ab", &b);
    settle(&a, "ab", 6, 6);
    events_everywhere_once(&[&a, &b], &mut subs);
    calls_reach(&mut client(&a), "b");

    // Stopped: what it mirrored is gone, calls fail fast.
    stop_link(&a, "ab");
    assert!(a.get_router_realm_link("realm1", "ab").is_err());
    let mut caller = client(&a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match call(&mut caller, "com.example.add", vec![Value::UInt(1)]) {
            Err(e) if e == "wamp.error.no_such_procedure" => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "still routed after stop: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    // Started again: everything is back, once.
    start_link(&a, "ab", &b);
    settle(&a, "ab", 6, 6);
    events_everywhere_once(&[&a, &b], &mut subs);
    calls_reach(&mut caller, "b");

    // The other router's side drops: the link reconnects and restores.
    b.shutdown();
    let deadline = Instant::now() + Duration::from_secs(5);
    while detail(&a, "ab").get("connected") == Some(&Value::Bool(true)) {
        assert!(Instant::now() < deadline, "the link did not notice");
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = detail(&a, "ab");
    assert!(
        d.get("last_error").is_some_and(|e| *e != Value::Null),
        "{d:?}"
    );
    // While it is down, what it mirrored is withdrawn: calls fail fast.
    assert_eq!(
        call(&mut caller, "com.example.add", vec![Value::UInt(1)]),
        Err("wamp.error.no_such_procedure".to_owned())
    );
    a.shutdown();
}

#[test]
fn links_from_the_config_and_through_ctl() {
    let b = router(1);
    let addr = b.transport_addr("ws").unwrap();
    // A link in the config file, Crossbar.io's keys, default id.
    let a = router_with(
        2,
        &format!(
            r#"[[realms.rlinks]]
realm = "realm1"
authid = "link"
authentication = {{ ticket = "{TICKET}" }}
transport = {{ type = "rawsocket", serializer = "cbor", endpoint = {{ type = "tcp", host = "127.0.0.1", port = {} }} }}"#,
            b.transport_addr("rs").unwrap().port()
        ),
    );
    assert_eq!(
        ctl(&a, &["get_router_realm_links", "realm1"]),
        serde_json::json!(["rlink001"])
    );
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b].iter().map(|r| subscriber(r)).collect();
    settle(&a, "rlink001", 6, 0);
    events_everywhere_once(&[&a, &b], &mut subs);
    let d = ctl(&a, &["get_router_realm_link", "realm1", "rlink001"]);
    assert_eq!(d["connected"], true, "{d}");
    assert_eq!(d["started_by"]["source"], "config", "{d}");
    assert_eq!(d["config"]["authentication"]["ticket"], "<redacted>", "{d}");
    // The same figures in /metrics.
    let metrics = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(a.admin_addr().expect("admin")).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    for line in [
        "shardwamp_link_connected{realm=\"realm1\",link=\"rlink001\"} 1",
        "shardwamp_link_subscriptions_mirrored{realm=\"realm1\",link=\"rlink001\"} 6",
        "shardwamp_link_events_forwarded_total{realm=\"realm1\",link=\"rlink001\",direction=\"local_to_remote\"} 6",
        "shardwamp_link_events_forwarded_total{realm=\"realm1\",link=\"rlink001\",direction=\"remote_to_local\"} 6",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let running = ctl(&a, &["get_running_config"]);
    assert!(
        running.as_str().unwrap().contains("[[realms.rlinks]]"),
        "{running}"
    );

    // Stopped through ctl: gone, and b's events no longer reach a.
    let d = ctl(&a, &["stop_router_realm_link", "realm1", "rlink001"]);
    assert_eq!(d["id"], "rlink001");
    assert_eq!(
        ctl(&a, &["get_router_realm_links", "realm1"]),
        serde_json::json!([])
    );

    // Started through ctl with a JSON config.
    let config = serde_json::json!({
        "realm": "realm1",
        "authid": "link",
        "authentication": {"ticket": TICKET},
        "transport": {"type": "websocket", "url": format!("ws://{addr}/ws"),
            "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": addr.port()}},
    });
    let d = ctl(
        &a,
        &[
            "start_router_realm_link",
            "realm1",
            "l2",
            &config.to_string(),
        ],
    );
    assert_eq!(d["started_by"]["source"], "controller", "{d}");
    settle(&a, "l2", 6, 0);
    events_everywhere_once(&[&a, &b], &mut subs);
    a.shutdown();
    b.shutdown();
}

#[test]
fn a_link_to_nowhere_retries_leaks_no_session_and_stops() {
    let a = router(1);
    let mut config = link_to(&a);
    // A port nothing listens on.
    let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = spare.local_addr().unwrap().port();
    drop(spare);
    if let shardwamp::config::rlink::ConnectEndpoint::Tcp { port: p, .. } =
        &mut config.transport.endpoint
    {
        *p = port;
    }
    config.transport.url = Some(format!("ws://127.0.0.1:{port}/ws"));
    futures_lite::future::block_on(a.start_router_realm_link("realm1", "nowhere", config))
        .expect("starts although it cannot connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    while figure(&detail(&a, "nowhere"), "connect_failures") < 3 {
        assert!(Instant::now() < deadline, "{:?}", detail(&a, "nowhere"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = detail(&a, "nowhere");
    assert_ne!(d.get("connected"), Some(&Value::Bool(true)));
    assert!(
        d.get("last_error").is_some_and(|e| *e != Value::Null),
        "{d:?}"
    );
    stop_link(&a, "nowhere");
    // Neither the failed tries nor the stop left a local leg behind.
    let realm = futures_lite::future::block_on(a.get_router_realm("realm1")).unwrap();
    let Value::Dict(r) = realm else { panic!() };
    assert_eq!(r.get("sessions"), Some(&Value::UInt(0)), "{r:?}");
    a.shutdown();
}

#[test]
fn a_link_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("shardwamp-link-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let b = router_with(
        1,
        &format!(
            r#"
[[transports]]
type = "rawsocket"
id = "unix"
endpoint = {{ type = "unix", path = "{}" }}
[transports.auth.ticket]
type = "static"
principals = {{ link = {{ ticket = "{TICKET}", role = "rlink" }} }}
"#,
            path.display()
        ),
    );
    let a = router(1);
    let mut config = link_to(&b);
    config.transport = toml::from_str(&format!(
        r#"type = "rawsocket"
serializer = "msgpack"
endpoint = {{ type = "unix", path = "{}" }}"#,
        path.display()
    ))
    .unwrap();
    futures_lite::future::block_on(a.start_router_realm_link("realm1", "u", config))
        .expect("link starts");
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b].iter().map(|r| subscriber(r)).collect();
    settle(&a, "u", 6, 0);
    events_everywhere_once(&[&a, &b], &mut subs);
    a.shutdown();
    b.shutdown();
}

#[test]
fn a_link_authenticates_with_cryptosign_and_a_node_key_file() {
    // The linking router's key, in Crossbar.io's node key format.
    let seed = [9u8; 32];
    let key = shardwamp::wamp::cryptosign::PrivateKey::from_seed(&seed);
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let path = std::env::temp_dir().join(format!("shardwamp-link-{}.priv", std::process::id()));
    std::fs::write(&path, format!("private-key-ed25519: {hex}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let b = router_with(
        1,
        &format!(
            r#"
[[transports]]
type = "websocket"
id = "cs"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.auth.cryptosign]
type = "static"
principals = {{ node1 = {{ authorized_keys = ["{}"], role = "rlink" }} }}
"#,
            key.public_hex()
        ),
    );
    let a = router(1);
    let cs = b.transport_addr("cs").unwrap();
    let config: RLinkConfig = toml::from_str(&format!(
        r#"realm = "realm1"
authentication = {{ key = "{}" }}
transport = {{ type = "websocket", url = "ws://{cs}/ws", endpoint = {{ type = "tcp", host = "127.0.0.1", port = {} }} }}"#,
        path.display(),
        cs.port()
    ))
    .unwrap();
    futures_lite::future::block_on(a.start_router_realm_link("realm1", "signed", config))
        .expect("link starts");
    let mut subs: Vec<(Client, Vec<u64>)> = [&a, &b].iter().map(|r| subscriber(r)).collect();
    settle(&a, "signed", 6, 0);
    events_everywhere_once(&[&a, &b], &mut subs);

    // A key file that is not a key is refused at start, naming the file only.
    let bad = path.with_extension("bad");
    std::fs::write(&bad, "hunter2").unwrap();
    let mut config = link_to(&b);
    config.authid = None;
    config.authentication = toml::from_str(&format!("key = \"{}\"", bad.display())).unwrap();
    let err = futures_lite::future::block_on(a.start_router_realm_link("realm1", "bad", config))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authentication.key") && !err.contains("hunter2"),
        "{err}"
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&bad);
    a.shutdown();
    b.shutdown();
}
