//! What the link tests share (tests/links.rs, tests/links_more.rs): a
//! link's detail and figures through the Rust API, waiting for a link to
//! settle, a client on `realm1` and a call that answers the RESULT's args
//! or the ERROR's URI.

use std::time::{Duration, Instant};

use super::Client;
use shardwamp::client::session::values_of;
use shardwamp::codec::Serializer;
use shardwamp::control::Controller;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::{Dict, Value};

/// Link `id` of `realm1` on `on`: its detail and figures.
pub fn detail(on: &Controller, id: &str) -> Dict {
    match on.get_router_realm_link("realm1", id).expect("link") {
        Value::Dict(d) => d,
        other => panic!("{other:?}"),
    }
}

/// A figure of a link's detail (0 when absent).
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

/// A client joined to `realm1` over `on`'s `ws` transport.
pub fn client(on: &Controller) -> Client {
    let mut c = Client::websocket(on.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    c.join("realm1");
    c
}

/// The next request id.
pub static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
pub fn req() -> u64 {
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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
