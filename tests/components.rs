//! Embedded components against a running router: a component's procedure
//! is cancellable. A client cancels a call that a slow component procedure
//! is handling; the router sends the component INTERRUPT, the handler's
//! future is dropped, and the component answers ERROR `wamp.error.canceled`
//! (under `kill` the router waits for that answer before the caller gets
//! it; under `killnowait` the caller is answered at once).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Client;
use shardwamp::codec::Serializer;
use shardwamp::component::{Component, HandlerFuture, Registry, Session};
use shardwamp::config::Config;
use shardwamp::control::Controller;
use shardwamp::dict;
use shardwamp::wamp::message::{Message, MessageType, Payload};
use shardwamp::wamp::uris;

const CONFIG: &str = r#"
[router]
shards = 1

[[realms]]
name = "realm1"

[[realms.roles]]
name = "anonymous"

[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }

[[components]]
id = "slow"
type = "class"
realm = "realm1"
role = "anonymous"
classname = "test.slow"
"#;

/// Set once the component's procedure is registered.
static REGISTERED: AtomicBool = AtomicBool::new(false);
/// Invocations whose handler started, and those whose handler was dropped
/// before it finished.
static STARTED: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Counts a handler dropped before it finished.
struct DropGuard;

impl Drop for DropGuard {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Registers `com.example.slow`, which answers after a minute.
struct Slow;

impl Component for Slow {
    fn run(self: Box<Self>, session: Session) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let handler = Rc::new(|_args, _kwargs, _details| {
                Box::pin(async move {
                    STARTED.fetch_add(1, Ordering::SeqCst);
                    let guard = DropGuard;
                    glommio::timer::sleep(Duration::from_secs(60)).await;
                    std::mem::forget(guard);
                    Ok(Payload::Empty)
                }) as HandlerFuture
            });
            if session.register("com.example.slow", handler).await.is_ok() {
                REGISTERED.store(true, Ordering::SeqCst);
            }
            session.closed().await;
        })
    }
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Calls the slow procedure as `request`, waits until the component handles
/// it, cancels it with `mode` and returns the caller's answer.
fn call_and_cancel(client: &mut Client, request: u64, mode: &str) -> Message {
    let started = STARTED.load(Ordering::SeqCst);
    client.send(&Message::Call {
        request,
        options: dict! {},
        procedure: "com.example.slow".into(),
        payload: Payload::Empty,
    });
    wait_for("the handler to start", || {
        STARTED.load(Ordering::SeqCst) > started
    });
    client.send(&Message::Cancel {
        request,
        options: dict! { "mode" => mode },
    });
    client.expect("the call's answer", |m| {
        matches!(m, Message::Error { request: r, .. } | Message::Result { request: r, .. } if *r == request)
    })
}

fn is_canceled(m: &Message) -> bool {
    matches!(m, Message::Error { request_type: MessageType::Call, error, .. } if error == uris::ERROR_CANCELED)
}

#[test]
fn a_client_cancels_a_call_a_component_is_handling() {
    let config = Config::from_str_with_env(CONFIG, |_| None).expect("config");
    let mut registry = Registry::with_builtins();
    registry.add("test.slow", |_| Ok(Box::new(Slow)));
    let c = Controller::start(config, registry).expect("router starts");
    wait_for("the component's registration", || {
        REGISTERED.load(Ordering::SeqCst)
    });
    let mut client = Client::websocket(c.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    client.join("realm1");

    // kill: the router answers the caller with the component's ERROR, which
    // comes once the handler is dropped.
    let answer = call_and_cancel(&mut client, 1, "kill");
    assert!(is_canceled(&answer), "kill: {answer:?}");
    assert_eq!(DROPPED.load(Ordering::SeqCst), 1, "the handler was dropped");

    // killnowait: the caller is answered at once; the handler is dropped too.
    let answer = call_and_cancel(&mut client, 2, "killnowait");
    assert!(is_canceled(&answer), "killnowait: {answer:?}");
    wait_for("the second handler to be dropped", || {
        DROPPED.load(Ordering::SeqCst) == 2
    });

    // The component still serves: a third call is handled (and canceled).
    let answer = call_and_cancel(&mut client, 3, "kill");
    assert!(is_canceled(&answer), "again: {answer:?}");
    assert_eq!(STARTED.load(Ordering::SeqCst), 3);
    assert_eq!(DROPPED.load(Ordering::SeqCst), 3);
}
