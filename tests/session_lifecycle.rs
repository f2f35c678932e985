//! Session lifecycle over real connections: a connection that never says
//! HELLO is closed after the transport's `hello_timeout` (pings answered or
//! not), and a transport outlives its session (HELLO again after GOODBYE).

mod common;

use std::time::{Duration, Instant};

use common::{listener, open_realm, Client};
use shardwamp::codec::Serializer;
use shardwamp::dict;
use shardwamp::shard::{RouterHandle, RouterSpec};
use shardwamp::sim::all_roles;
use shardwamp::transport::{ListenerKind, WebSocketOptions};
use shardwamp::wamp::message::Message;
use shardwamp::wamp::uris;
use shardwamp::wamp::value::{Dict, Value};

/// One shard, `ws` with a 300 ms HELLO deadline and pings every 100 ms.
fn start() -> RouterHandle {
    let mut ws = listener(0, "ws", true, None);
    ws.kind = ListenerKind::WebSocket(WebSocketOptions {
        auto_ping_interval: 100,
        auto_ping_timeout: 1000,
        ..WebSocketOptions::default()
    });
    ws.limits.hello_timeout = 300;
    ws.limits.auth_timeout = 300;
    let spec = RouterSpec {
        shards: 1,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![open_realm("realm1"), open_realm("realm2")],
        listeners: vec![ws],
        seed: Some(42),
        realm_transports: Vec::new(),
        router_key: None,
    };
    shardwamp::shard::start(spec).expect("router starts")
}

/// An upgraded WebSocket that answers pings but never says HELLO is
/// ABORTed with `wamp.error.timeout` and closed after `hello_timeout`.
#[test]
fn a_websocket_that_never_says_hello_is_closed() {
    let router = start();
    let addr = router.tcp_addr("ws").unwrap();
    let mut c = Client::websocket(addr, "/ws", Serializer::Json);
    let t = Instant::now();
    // recv answers the router's pings (tungstenite queues the pongs and
    // flushes them on the next read) until a WAMP message or the close.
    match c.recv() {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::ERROR_TIMEOUT),
        other => panic!("expected ABORT, got {other:?}"),
    }
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(c.recv().is_none(), "the connection is closed");
    router.shutdown(uris::CLOSE_SYSTEM_SHUTDOWN);
    router.join().unwrap();
}

/// The HELLO deadline counts from the connection, not from the shard's last
/// input: a shard idle for longer than `hello_timeout` gives its next
/// connection the whole of it (the deadline was once armed on the idle
/// shard's stale clock, and such a connection was ABORTed at once).
#[test]
fn after_an_idle_spell_a_connection_still_gets_its_whole_hello_timeout() {
    let router = start();
    let addr = router.tcp_addr("ws").unwrap();
    // Three times the 300 ms deadline with no input at all.
    std::thread::sleep(Duration::from_millis(900));
    let mut c = Client::websocket(addr, "/ws", Serializer::Json);
    let t = Instant::now();
    match c.recv() {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::ERROR_TIMEOUT),
        other => panic!("expected ABORT, got {other:?}"),
    }
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "ABORTed {waited:?} after the connection, before its 300 ms"
    );
    // And one that says HELLO in time is welcome after another idle spell.
    std::thread::sleep(Duration::from_millis(900));
    let mut c = Client::websocket(addr, "/ws", Serializer::Json);
    std::thread::sleep(Duration::from_millis(100));
    c.join("realm1");
    router.shutdown(uris::CLOSE_SYSTEM_SHUTDOWN);
    router.join().unwrap();
}

/// HELLO, WELCOME, GOODBYE, GOODBYE, HELLO, WELCOME on one WebSocket; the
/// HELLO deadline applies again in between.
#[test]
fn hello_again_after_goodbye_on_one_websocket() {
    let router = start();
    let addr = router.tcp_addr("ws").unwrap();
    let mut c = Client::websocket(addr, "/ws", Serializer::MsgPack);
    c.join("realm1");
    let first = c.session;
    let goodbye = |c: &mut Client| {
        c.send(&Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_NORMAL.into(),
        });
        match c.recv() {
            Some(Message::Goodbye { reason, .. }) => {
                assert_eq!(reason, uris::CLOSE_GOODBYE_AND_OUT)
            }
            other => panic!("expected GOODBYE, got {other:?}"),
        }
    };
    goodbye(&mut c);
    c.send(&Message::Hello {
        realm: "realm2".into(),
        details: dict! { "roles" => Value::Dict(all_roles()) },
    });
    let second = match c.recv() {
        Some(Message::Welcome { session, details }) => {
            assert_eq!(details.get("realm"), Some(&Value::from("realm2")));
            session
        }
        other => panic!("expected WELCOME, got {other:?}"),
    };
    assert_ne!(first, second);
    // Idle after GOODBYE: closed after the HELLO deadline.
    goodbye(&mut c);
    match c.recv() {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::ERROR_TIMEOUT),
        other => panic!("expected ABORT, got {other:?}"),
    }
    router.shutdown(uris::CLOSE_SYSTEM_SHUTDOWN);
    router.join().unwrap();
}
