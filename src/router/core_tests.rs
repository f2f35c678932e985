//! Tests of the router core's features, driven through the deterministic
//! simulator with sessions placed on different shards.

use super::ERROR_LIMIT_EXCEEDED;
use crate::codec::Serializer;
use crate::config::realm::{EventHistoryConfig, RealmConfig, StoreConfig};
use crate::config::role::{Allow, Disclose, Permission, RoleConfig};
use crate::dict;
use crate::sim::{Sim, TRANSPORT};
use crate::wamp::message::{Message, MessageType, Payload};
use crate::wamp::uri::MatchPolicy;
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

const JSON: Serializer = Serializer::Json;
const MP: Serializer = Serializer::MsgPack;
const CBOR: Serializer = Serializer::Cbor;

fn allow_all() -> Allow {
    Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    }
}

fn role(name: &str, perms: Vec<Permission>) -> RoleConfig {
    RoleConfig {
        name: name.into(),
        permissions: perms,
        authorizer: None,
    }
}

fn perm(uri: &str, policy: Option<MatchPolicy>, allow: Allow) -> Permission {
    Permission {
        uri: uri.into(),
        match_: policy,
        allow,
        disclose: Disclose::default(),
        cache: false,
    }
}

fn open_realm(name: &str) -> RealmConfig {
    let mut r = RealmConfig::new(
        name,
        vec![role(
            "anonymous",
            vec![perm("", Some(MatchPolicy::Prefix), allow_all())],
        )],
    );
    r.home_shard = Some(0);
    r
}

/// A simulator of `shards` shards with `realm1` (anonymous allowed everything, home on shard 0).
fn sim(shards: u16) -> Sim {
    let mut s = Sim::new(shards, 7);
    s.start_realm(0, open_realm("realm1"));
    s
}

fn args(p: &Payload) -> Vec<Value> {
    match p.to_values() {
        Ok(Payload::Values { args, .. }) => args,
        _ => vec![],
    }
}

fn subscribe(s: &mut Sim, c: usize, topic: &str, options: Dict) -> u64 {
    s.send(
        c,
        &Message::Subscribe {
            request: 1,
            options,
            topic: topic.into(),
        },
    );
    s.run();
    // Keep whatever else arrived (meta events) for the test to read.
    let got = s.take(c);
    let mut id = None;
    for m in got {
        match m {
            Message::Subscribed { subscription, .. } if id.is_none() => id = Some(subscription),
            other => s.clients[c].inbox.push_back(other),
        }
    }
    id.unwrap_or_else(|| panic!("expected SUBSCRIBED, got {:?}", s.clients[c].inbox))
}

fn register(s: &mut Sim, c: usize, procedure: &str, options: Dict) -> u64 {
    s.send(
        c,
        &Message::Register {
            request: 1,
            options,
            procedure: procedure.into(),
        },
    );
    s.run();
    match s.take(c).as_slice() {
        [Message::Registered { registration, .. }] => *registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    }
}

fn publish(s: &mut Sim, c: usize, request: u64, topic: &str, options: Dict, a: Vec<Value>) {
    s.send(
        c,
        &Message::Publish {
            request,
            options,
            topic: topic.into(),
            payload: Payload::args(a),
        },
    );
    s.run();
}

fn call(s: &mut Sim, c: usize, request: u64, procedure: &str, options: Dict, a: Vec<Value>) {
    s.send(
        c,
        &Message::Call {
            request,
            options,
            procedure: procedure.into(),
            payload: Payload::args(a),
        },
    );
    s.run();
}

fn events(msgs: &[Message]) -> Vec<(u64, Dict, Vec<Value>)> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Event {
                subscription,
                details,
                payload,
                ..
            } => Some((*subscription, details.clone(), args(payload))),
            _ => None,
        })
        .collect()
}

fn error_of(msgs: &[Message]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        Message::Error { error, .. } => Some(error.clone()),
        _ => None,
    })
}

fn abort_reason(msgs: &[Message]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        Message::Abort { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// The INVOCATION a callee received: (request, registration, details, args).
fn invocation(msgs: &[Message]) -> (u64, u64, Dict, Vec<Value>) {
    msgs.iter()
        .find_map(|m| match m {
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => Some((*request, *registration, details.clone(), args(payload))),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no INVOCATION in {msgs:?}"))
}

// ---- sessions ---------------------------------------------------------------

#[test]
fn welcome_announces_roles_features_and_identity() {
    let mut s = sim(2);
    let c = s.connect(1, JSON);
    let got = s.hello(c, "realm1", Dict::new());
    let Some(Message::Welcome { session, details }) = got.first() else {
        panic!("{got:?}")
    };
    assert!(crate::wamp::id::is_valid_id(*session));
    for k in ["authid", "authrole", "authmethod", "authprovider"] {
        assert!(
            details.get(k).and_then(Value::as_str).is_some(),
            "{k} missing"
        );
    }
    assert_eq!(details.get("authrole"), Some(&Value::from("anonymous")));
    assert_eq!(details.get("authmethod"), Some(&Value::from("anonymous")));
    let roles = details.get("roles").and_then(Value::as_dict).unwrap();
    let broker = roles
        .get("broker")
        .and_then(Value::as_dict)
        .and_then(|b| b.get("features"))
        .and_then(Value::as_dict)
        .unwrap();
    assert_eq!(
        broker.get("pattern_based_subscription"),
        Some(&Value::Bool(true))
    );
    let dealer = roles
        .get("dealer")
        .and_then(Value::as_dict)
        .and_then(|b| b.get("features"))
        .and_then(Value::as_dict)
        .unwrap();
    assert_eq!(dealer.get("call_canceling"), Some(&Value::Bool(true)));
    assert_eq!(
        dealer.get("progressive_call_results"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn unknown_realm_and_missing_roles_abort() {
    let mut s = sim(2);
    let c = s.connect(0, JSON);
    let got = s.hello(c, "nope", Dict::new());
    assert_eq!(
        abort_reason(&got).as_deref(),
        Some(uris::ERROR_NO_SUCH_REALM)
    );
    assert!(s.clients[c].closed);

    let c = s.connect(0, JSON);
    s.send(
        c,
        &Message::Hello {
            realm: "realm1".into(),
            details: dict! { "roles" => Value::Dict(Dict::new()) },
        },
    );
    s.run();
    assert_eq!(
        abort_reason(&s.take(c)).as_deref(),
        Some(uris::ERROR_PROTOCOL_VIOLATION)
    );
}

#[test]
fn protocol_violations_abort_only_the_offender() {
    let mut s = sim(2);
    let (sub, _) = s.join(1, JSON, "realm1");
    subscribe(&mut s, sub, "com.t", Dict::new());
    // before HELLO
    let c = s.connect(1, JSON);
    s.send(
        c,
        &Message::Publish {
            request: 1,
            options: Dict::new(),
            topic: "com.t".into(),
            payload: Payload::Empty,
        },
    );
    assert_eq!(
        abort_reason(&s.take(c)).as_deref(),
        Some(uris::ERROR_PROTOCOL_VIOLATION)
    );
    // a router-only message after joining
    let (bad, _) = s.join(1, MP, "realm1");
    s.send(
        bad,
        &Message::Event {
            subscription: 1,
            publication: 1,
            details: Dict::new(),
            payload: Payload::Empty,
        },
    );
    s.run();
    assert_eq!(
        abort_reason(&s.take(bad)).as_deref(),
        Some(uris::ERROR_PROTOCOL_VIOLATION)
    );
    assert!(s.clients[bad].closed);
    // garbage bytes
    let (garbage, _) = s.join(0, CBOR, "realm1");
    s.send_raw(garbage, &[0xff, 0x00, 0x13]);
    s.run();
    assert_eq!(
        abort_reason(&s.take(garbage)).as_deref(),
        Some(uris::ERROR_PROTOCOL_VIOLATION)
    );
    // the subscriber never noticed
    let (p, _) = s.join(0, JSON, "realm1");
    publish(&mut s, p, 1, "com.t", Dict::new(), vec![Value::UInt(1)]);
    assert_eq!(events(&s.take(sub)).len(), 1);
    assert!(
        s.cores
            .iter()
            .map(|c| c.stats().protocol_violations)
            .sum::<u64>()
            >= 3
    );
}

#[test]
fn goodbye_is_answered_with_goodbye_and_out() {
    let mut s = sim(1);
    let (c, _) = s.join(0, JSON, "realm1");
    s.send(
        c,
        &Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_NORMAL.into(),
        },
    );
    s.run();
    match s.take(c).as_slice() {
        [Message::Goodbye { reason, .. }] => assert_eq!(reason, uris::CLOSE_GOODBYE_AND_OUT),
        other => panic!("{other:?}"),
    }
    // The transport outlives the session.
    assert!(!s.clients[c].closed);
    assert_eq!(s.cores[0].stats().sessions, 0);
}

fn goodbye(s: &mut Sim, c: usize) {
    s.send(
        c,
        &Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_NORMAL.into(),
        },
    );
    s.run();
    match s.take(c).as_slice() {
        [Message::Goodbye { reason, .. }] => assert_eq!(reason, uris::CLOSE_GOODBYE_AND_OUT),
        other => panic!("{other:?}"),
    }
}

fn welcome_session(got: &[Message]) -> u64 {
    match got {
        [Message::Welcome { session, .. }] => *session,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[test]
fn hello_again_after_goodbye_opens_a_new_session() {
    let mut s = sim(2);
    s.start_realm(1, open_realm("realm2"));
    let (watch, _) = s.join(0, JSON, "realm1");
    subscribe(&mut s, watch, "wamp.session.on_join", Dict::new());
    subscribe(&mut s, watch, "wamp.session.on_leave", Dict::new());
    let (publ, _) = s.join(0, JSON, "realm1");
    s.take(watch);
    // A session on shard 1 (the realm's home is shard 0) subscribes, calls, registers.
    let (c, first) = s.join(1, CBOR, "realm1");
    let sub = subscribe(&mut s, c, "com.t", Dict::new());
    register(&mut s, c, "com.p", Dict::new());
    s.take(watch);
    goodbye(&mut s, c);
    assert!(!s.clients[c].closed);
    // HELLO again on the same transport: a new session.
    let second = welcome_session(&s.hello(c, "realm1", Dict::new()));
    assert_ne!(first, second);
    let meta: Vec<(u64, Vec<Value>)> = events(&s.take(watch))
        .into_iter()
        .map(|(sub, _, a)| (sub, a))
        .collect();
    assert_eq!(meta.len(), 2, "{meta:?}");
    assert_eq!(
        meta[0].1.first(),
        Some(&Value::UInt(first)),
        "on_leave first"
    );
    let joined = meta[1].1.first().and_then(Value::as_dict).unwrap();
    assert_eq!(joined.get("session"), Some(&Value::UInt(second)));
    // The old subscription and registration are gone.
    publish(&mut s, publ, 1, "com.t", Dict::new(), vec![]);
    assert!(events(&s.take(c)).is_empty());
    call(&mut s, publ, 2, "com.p", Dict::new(), vec![]);
    assert_eq!(
        error_of(&s.take(publ)).as_deref(),
        Some(uris::ERROR_NO_SUCH_PROCEDURE)
    );
    // The new session works and may subscribe again (a new subscriber of a new subscription).
    let again = subscribe(&mut s, c, "com.t", Dict::new());
    let _ = (sub, again);
    publish(&mut s, publ, 3, "com.t", Dict::new(), vec![Value::UInt(3)]);
    assert_eq!(events(&s.take(c)).len(), 1);
    // And a third session, on another realm.
    goodbye(&mut s, c);
    let third = welcome_session(&s.hello(c, "realm2", Dict::new()));
    assert!(third != first && third != second);
    assert_eq!(s.cores[1].local_session_count(0), 0);
    assert_eq!(s.cores[1].local_session_count(1), 1);
    assert_eq!(s.cores[1].stats().sessions, 1);
    assert_eq!(s.cores[1].stats().connections_opened, 1);
    // Leaving leaves nothing behind.
    for client in [c, watch, publ] {
        s.disconnect(client);
    }
    s.run();
    for core in &s.cores {
        assert!(core.leftovers().is_empty(), "{:?}", core.leftovers());
    }
}

fn set_limits(s: &mut Sim, transport: u32, limits: super::SessionLimits) {
    for core in &mut s.cores {
        core.set_transport_limits(transport, limits);
    }
}

fn ticket_transport(s: &mut Sim, id: u32) {
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(serde_json::json!({
        "ticket": { "type": "static", "principals": { "joe": { "ticket": "secret!", "role": "anonymous" } } }
    }))
    .unwrap();
    s.set_transport(id, &auth);
}

fn ticket_hello(s: &mut Sim, c: usize, authid: &str) -> Vec<Message> {
    s.hello(
        c,
        "realm1",
        dict! { "authmethods" => Value::List(vec!["ticket".into()]), "authid" => authid },
    )
}

fn authenticate(s: &mut Sim, c: usize, signature: &str) -> Vec<Message> {
    s.send(
        c,
        &Message::Authenticate {
            signature: signature.into(),
            extra: Dict::new(),
        },
    );
    s.run();
    s.take(c)
}

#[test]
fn a_connection_that_never_says_hello_is_closed() {
    let mut s = sim(1);
    set_limits(
        &mut s,
        TRANSPORT,
        super::SessionLimits {
            hello_timeout_ms: 300,
            ..Default::default()
        },
    );
    let silent = s.connect(0, JSON);
    let prompt = s.connect(0, JSON);
    s.advance(100);
    welcome_session(&s.hello(prompt, "realm1", Dict::new()));
    s.advance(199);
    assert!(!s.clients[silent].closed);
    s.advance(1);
    assert!(s.clients[silent].closed);
    assert_eq!(
        abort_reason(&s.take(silent)).as_deref(),
        Some(uris::ERROR_TIMEOUT)
    );
    assert_eq!(s.cores[0].stats().hello_timeouts, 1);
    // The session that said HELLO in time stays; no timer is left for it.
    s.advance(10_000);
    assert!(!s.clients[prompt].closed);
    assert!(s.take(prompt).is_empty());
    assert_eq!(s.cores[0].next_deadline(), None);
    // After GOODBYE the connection must say HELLO again in time.
    goodbye(&mut s, prompt);
    s.advance(299);
    assert!(!s.clients[prompt].closed);
    s.advance(1);
    assert!(s.clients[prompt].closed);
    assert_eq!(
        abort_reason(&s.take(prompt)).as_deref(),
        Some(uris::ERROR_TIMEOUT)
    );
    assert_eq!(s.cores[0].stats().hello_timeouts, 2);
    assert!(s.cores[0].leftovers().is_empty());
}

#[test]
fn a_challenge_left_unanswered_is_closed() {
    let mut s = sim(1);
    ticket_transport(&mut s, 1);
    set_limits(
        &mut s,
        1,
        super::SessionLimits {
            hello_timeout_ms: 100,
            auth_timeout_ms: 500,
            ..Default::default()
        },
    );
    let slow = s.connect_via(0, JSON, 1);
    let quick = s.connect_via(0, JSON, 1);
    for c in [slow, quick] {
        assert!(matches!(
            ticket_hello(&mut s, c, "joe").as_slice(),
            [Message::Challenge { .. }]
        ));
    }
    // The HELLO deadline no longer applies once HELLO came.
    s.advance(499);
    assert!(!s.clients[slow].closed);
    welcome_session(&authenticate(&mut s, quick, "secret!"));
    s.advance(1);
    assert!(s.clients[slow].closed);
    assert_eq!(
        abort_reason(&s.take(slow)).as_deref(),
        Some(uris::ERROR_TIMEOUT)
    );
    assert_eq!(s.cores[0].stats().auth_timeouts, 1);
    assert_eq!(s.cores[0].stats().hello_timeouts, 0);
    s.advance(10_000);
    assert!(!s.clients[quick].closed);
}

#[test]
fn unknown_authids_are_challenged_and_denied_like_known_ones() {
    let mut s = sim(2);
    ticket_transport(&mut s, 1);
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(serde_json::json!({
        "wampcra": { "type": "static", "users": {
            "alice": { "secret": "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=", "role": "anonymous",
                       "salt": "salt123", "iterations": 1000, "keylen": 32 } } }
    }))
    .unwrap();
    s.set_transport(2, &auth);
    // Ticket: the same CHALLENGE, the same ABORT.
    let mut seen = Vec::new();
    for who in ["joe", "nobody"] {
        let c = s.connect_via(1, JSON, 1);
        let challenge = ticket_hello(&mut s, c, who);
        let abort = authenticate(&mut s, c, "guess");
        seen.push((challenge, abort));
    }
    assert_eq!(seen[0].0, seen[1].0);
    let text = |m: &[Message]| format!("{m:?}").replace("nobody", "joe");
    assert_eq!(text(&seen[0].1), text(&seen[1].1));
    assert_eq!(
        abort_reason(&seen[1].1).as_deref(),
        Some(uris::ERROR_AUTHENTICATION_DENIED)
    );
    // WAMP-CRA: the same extra keys, challenge keys and role; a salt fixed
    // for the unknown authid whichever shard answers; the same ABORT.
    let cra = |s: &mut Sim, shard: u16, who: &str| {
        let c = s.connect_via(shard, JSON, 2);
        let got = s.hello(
            c,
            "realm1",
            dict! { "authmethods" => Value::List(vec!["wampcra".into()]), "authid" => who },
        );
        let Some(Message::Challenge { auth_method, extra }) = got.first() else {
            panic!("{got:?}")
        };
        assert_eq!(auth_method, "wampcra");
        let abort = authenticate(s, c, "bm9wZQ==");
        (extra.clone(), abort)
    };
    let (real, real_abort) = cra(&mut s, 0, "alice");
    let (fake, fake_abort) = cra(&mut s, 0, "mallory");
    let (fake_again, _) = cra(&mut s, 1, "mallory");
    let keys = |e: &Dict| e.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&real), keys(&fake));
    let challenge = |e: &Dict| -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(e.get("challenge").and_then(Value::as_str).unwrap()).unwrap()
    };
    let (rc, fc) = (challenge(&real), challenge(&fake));
    assert_eq!(rc.keys().collect::<Vec<_>>(), fc.keys().collect::<Vec<_>>());
    assert_eq!(rc["authrole"], fc["authrole"]);
    assert_eq!(fc["authid"], "mallory");
    for k in ["iterations", "keylen"] {
        assert_eq!(real.get(k), fake.get(k));
    }
    assert_eq!(fake.get("salt"), fake_again.get("salt"));
    assert_ne!(fake.get("salt"), real.get("salt"));
    assert_eq!(
        text(&real_abort),
        text(&fake_abort).replace("mallory", "alice")
    );
    assert_eq!(
        abort_reason(&fake_abort).as_deref(),
        Some(uris::ERROR_AUTHENTICATION_DENIED)
    );
}

#[test]
fn failed_authentications_lock_an_address_out_for_the_window() {
    let mut s = sim(1);
    ticket_transport(&mut s, 1);
    set_limits(
        &mut s,
        1,
        super::SessionLimits {
            max_auth_failures: 3,
            auth_failure_window_ms: 60_000,
            ..Default::default()
        },
    );
    let attempt = |s: &mut Sim, peer: &str, ticket: &str| -> Vec<Message> {
        let c = s.connect_from(0, JSON, 1, peer);
        let got = ticket_hello(s, c, "joe");
        if !matches!(got.as_slice(), [Message::Challenge { .. }]) {
            return got;
        }
        authenticate(s, c, ticket)
    };
    for i in 0..3 {
        let got = attempt(&mut s, &format!("10.0.0.1:{}", 4000 + i), "wrong");
        assert_eq!(
            abort_reason(&got).as_deref(),
            Some(uris::ERROR_AUTHENTICATION_DENIED)
        );
    }
    // The fourth HELLO from that address is refused at once, even with the right ticket.
    let got = attempt(&mut s, "10.0.0.1:5000", "secret!");
    assert!(matches!(got.as_slice(), [Message::Abort { .. }]), "{got:?}");
    assert_eq!(
        abort_reason(&got).as_deref(),
        Some(uris::ERROR_AUTHENTICATION_FAILED)
    );
    assert_eq!(s.cores[0].stats().auth_lockouts, 1);
    // Another address is not affected.
    welcome_session(&attempt(&mut s, "10.0.0.2:4000", "secret!"));
    // The window ends.
    s.advance(59_999);
    assert!(abort_reason(&attempt(&mut s, "10.0.0.1:5001", "secret!")).is_some());
    s.advance(1);
    welcome_session(&attempt(&mut s, "10.0.0.1:5002", "secret!"));
    // Off (the default), failures lock nobody out.
    let mut s = sim(1);
    ticket_transport(&mut s, 1);
    for i in 0..10 {
        let got = attempt(&mut s, &format!("10.0.0.1:{i}"), "wrong");
        assert_eq!(
            abort_reason(&got).as_deref(),
            Some(uris::ERROR_AUTHENTICATION_DENIED)
        );
    }
    welcome_session(&attempt(&mut s, "10.0.0.1:99", "secret!"));
}

#[test]
fn ticket_authentication() {
    let mut s = sim(2);
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(serde_json::json!({
        "ticket": { "type": "static", "principals": { "joe": { "ticket": "secret!", "role": "anonymous" } } }
    }))
    .unwrap();
    s.set_transport(1, &auth);
    let c = s.connect_via(1, JSON, 1);
    let got = s.hello(
        c,
        "realm1",
        dict! { "authmethods" => Value::List(vec!["ticket".into()]), "authid" => "joe" },
    );
    assert!(
        matches!(got.as_slice(), [Message::Challenge { .. }]),
        "{got:?}"
    );
    s.send(
        c,
        &Message::Authenticate {
            signature: "secret!".into(),
            extra: Dict::new(),
        },
    );
    s.run();
    match s.take(c).as_slice() {
        [Message::Welcome { details, .. }] => {
            assert_eq!(details.get("authid"), Some(&Value::from("joe")));
            assert_eq!(details.get("authmethod"), Some(&Value::from("ticket")));
        }
        other => panic!("{other:?}"),
    }
    let c = s.connect_via(0, JSON, 1);
    s.hello(
        c,
        "realm1",
        dict! { "authmethods" => Value::List(vec!["ticket".into()]), "authid" => "joe" },
    );
    s.send(
        c,
        &Message::Authenticate {
            signature: "wrong".into(),
            extra: Dict::new(),
        },
    );
    s.run();
    let reason = abort_reason(&s.take(c)).unwrap();
    assert!(
        reason == uris::ERROR_AUTHENTICATION_DENIED || reason == uris::ERROR_AUTHENTICATION_FAILED,
        "{reason}"
    );
}

#[test]
fn unknown_role_aborts_with_no_such_role() {
    let mut s = Sim::new(2, 1);
    s.start_realm(0, RealmConfig::new("realm1", vec![role("other", vec![])]));
    let c = s.connect(1, JSON);
    let got = s.hello(c, "realm1", Dict::new());
    assert_eq!(
        abort_reason(&got).as_deref(),
        Some(uris::ERROR_NO_SUCH_ROLE)
    );
}

// ---- broker -----------------------------------------------------------------

#[test]
fn events_cross_shards_and_serializers() {
    for shards in [1, 3] {
        let mut s = sim(shards);
        let (a, _) = s.join(shards - 1, MP, "realm1");
        let (b, _) = s.join(0, CBOR, "realm1");
        let (p, _) = s.join(shards / 2, JSON, "realm1");
        let sa = subscribe(&mut s, a, "com.t", Dict::new());
        let sb = subscribe(&mut s, b, "com.t", Dict::new());
        assert_eq!(sa, sb, "one subscription per topic");
        publish(
            &mut s,
            p,
            5,
            "com.t",
            dict! { "acknowledge" => true },
            vec![Value::Bytes(vec![1, 2, 3]), Value::from("x")],
        );
        for c in [a, b] {
            let ev = events(&s.take(c));
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].2, vec![Value::Bytes(vec![1, 2, 3]), Value::from("x")]);
        }
        assert!(matches!(
            s.take(p).as_slice(),
            [Message::Published { request: 5, .. }]
        ));
    }
}

/// SUBSCRIBED waits until every shard's replica knows the subscriber's shard,
/// however slowly the mesh delivers the update to the publisher's shard.
#[test]
fn subscribed_only_after_every_replica_knows() {
    let mut s = sim(3);
    let (sub, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(2, JSON, "realm1");
    s.send(
        sub,
        &Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "com.t".into(),
        },
    );
    assert!(s.step_from(1, 0), "SUBSCRIBE reaches the home shard");
    // the home shard's update reaches shard 1 but not yet shard 2
    while s.step_from(0, 1) {}
    assert!(
        s.take(sub).is_empty(),
        "no SUBSCRIBED while shard 2 has not applied the update"
    );
    while s.step_from(0, 2) {}
    while s.step_from(2, 0) || s.step_from(1, 0) {}
    while s.step_from(0, 1) {}
    assert!(matches!(
        s.take(sub).as_slice(),
        [Message::Subscribed { .. }]
    ));
    publish(&mut s, p, 1, "com.t", Dict::new(), vec![]);
    assert_eq!(events(&s.take(sub)).len(), 1);
}

#[test]
fn exclude_me_and_receiver_lists() {
    let mut s = sim(3);
    let (p, ps) = s.join(0, JSON, "realm1");
    let (a, sa) = s.join(1, JSON, "realm1");
    let (b, _) = s.join(2, JSON, "realm1");
    for c in [p, a, b] {
        subscribe(&mut s, c, "com.t", Dict::new());
    }
    publish(&mut s, p, 1, "com.t", Dict::new(), vec![]);
    assert_eq!(events(&s.take(p)).len(), 0, "exclude_me defaults to true");
    assert_eq!(events(&s.take(a)).len(), 1);
    s.take(b);
    publish(
        &mut s,
        p,
        2,
        "com.t",
        dict! { "exclude_me" => false, "exclude" => Value::List(vec![Value::UInt(sa)]) },
        vec![],
    );
    assert_eq!(events(&s.take(p)).len(), 1);
    assert_eq!(events(&s.take(a)).len(), 0);
    assert_eq!(events(&s.take(b)).len(), 1);
    publish(
        &mut s,
        p,
        3,
        "com.t",
        dict! { "exclude_me" => false, "eligible" => Value::List(vec![Value::UInt(sa), Value::UInt(ps)]) },
        vec![],
    );
    assert_eq!(events(&s.take(a)).len(), 1);
    assert_eq!(events(&s.take(b)).len(), 0);
    assert_eq!(events(&s.take(p)).len(), 1);
    publish(
        &mut s,
        p,
        4,
        "com.t",
        dict! { "eligible_authrole" => Value::List(vec!["nobody".into()]) },
        vec![],
    );
    assert_eq!(events(&s.take(a)).len() + events(&s.take(b)).len(), 0);
    publish(
        &mut s,
        p,
        5,
        "com.t",
        dict! { "acknowledge" => true, "eligible" => "not a list" },
        vec![],
    );
    assert_eq!(
        error_of(&s.take(p)).as_deref(),
        Some(uris::ERROR_INVALID_ARGUMENT)
    );
}

#[test]
fn pattern_subscriptions_carry_the_topic() {
    let mut s = sim(2);
    let (c, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(0, JSON, "realm1");
    let exact = subscribe(&mut s, c, "com.app.a.update", Dict::new());
    let prefix = subscribe(&mut s, c, "com.app", dict! { "match" => "prefix" });
    let wild = subscribe(&mut s, c, "com..a.update", dict! { "match" => "wildcard" });
    publish(&mut s, p, 1, "com.app.a.update", Dict::new(), vec![]);
    let mut ev = events(&s.take(c));
    ev.sort_by_key(|e| e.0);
    assert_eq!(ev.len(), 3);
    for (sub, details, _) in &ev {
        if *sub == exact {
            assert!(!details.contains_key("topic"));
        } else {
            assert!(*sub == prefix || *sub == wild);
            assert_eq!(details.get("topic"), Some(&Value::from("com.app.a.update")));
        }
    }
    publish(&mut s, p, 2, "com.app2", Dict::new(), vec![]);
    assert_eq!(
        events(&s.take(c)).iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![prefix]
    );
    s.send(
        c,
        &Message::Subscribe {
            request: 9,
            options: dict! { "match" => "fuzzy" },
            topic: "x".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_INVALID_ARGUMENT)
    );
    s.send(
        c,
        &Message::Subscribe {
            request: 9,
            options: Dict::new(),
            topic: "bad..uri".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_INVALID_URI)
    );
}

#[test]
fn unsubscribe_stops_events_and_resubscribe_is_idempotent() {
    let mut s = sim(2);
    let (c, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(0, JSON, "realm1");
    let id = subscribe(&mut s, c, "com.t", Dict::new());
    assert_eq!(subscribe(&mut s, c, "com.t", Dict::new()), id);
    s.send(
        c,
        &Message::Unsubscribe {
            request: 3,
            subscription: id,
        },
    );
    s.run();
    assert!(matches!(
        s.take(c).as_slice(),
        [Message::Unsubscribed { request: 3, .. }]
    ));
    publish(&mut s, p, 1, "com.t", Dict::new(), vec![]);
    assert!(s.take(c).is_empty());
    s.send(
        c,
        &Message::Unsubscribe {
            request: 4,
            subscription: id,
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_NO_SUCH_SUBSCRIPTION)
    );
}

#[test]
fn publisher_disclosure_and_not_authorized() {
    let mut s = Sim::new(2, 3);
    let mut cfg = open_realm("realm1");
    cfg.roles.push(role(
        "reader",
        vec![perm(
            "com.",
            Some(MatchPolicy::Prefix),
            Allow {
                subscribe: true,
                ..Allow::default()
            },
        )],
    ));
    s.start_realm(0, cfg);
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(
        serde_json::json!({ "anonymous": { "type": "static", "role": "reader" } }),
    )
    .unwrap();
    s.set_transport(1, &auth);
    let r = s.connect_via(1, JSON, 1);
    s.hello(r, "realm1", Dict::new());
    let (p, ps) = s.join(0, JSON, "realm1");
    subscribe(&mut s, r, "com.t", Dict::new());
    publish(
        &mut s,
        p,
        1,
        "com.t",
        dict! { "disclose_me" => true },
        vec![],
    );
    let ev = events(&s.take(r));
    assert_eq!(ev[0].1.get("publisher"), Some(&Value::UInt(ps)));
    assert_eq!(
        ev[0].1.get("publisher_authrole"),
        Some(&Value::from("anonymous"))
    );
    publish(
        &mut s,
        r,
        2,
        "com.t",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert_eq!(
        error_of(&s.take(r)).as_deref(),
        Some(uris::ERROR_NOT_AUTHORIZED)
    );
    s.send(
        r,
        &Message::Subscribe {
            request: 3,
            options: Dict::new(),
            topic: "org.t".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(r)).as_deref(),
        Some(uris::ERROR_NOT_AUTHORIZED)
    );
    // roles change at run time
    for core in &mut s.cores {
        core.set_role(
            0,
            &role(
                "reader",
                vec![perm("", Some(MatchPolicy::Prefix), allow_all())],
            ),
        )
        .unwrap();
    }
    publish(
        &mut s,
        r,
        4,
        "com.t",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert!(matches!(s.take(r).as_slice(), [Message::Published { .. }]));
}

/// An acknowledged retained publication is acknowledged once the realm's
/// home shard has stored it: a subscriber the publisher then tells of it
/// (on any shard) gets it as the retained event, never the one before.
#[test]
fn published_waits_for_the_retained_store() {
    let mut s = sim(3);
    let (p, _) = s.join(1, JSON, "realm1");
    let (c, _) = s.join(2, MP, "realm1");
    for (request, value) in [(1, "first"), (2, "second")] {
        s.send(
            p,
            &Message::Publish {
                request,
                options: dict! { "retain" => true, "acknowledge" => true },
                topic: "com.ret".into(),
                payload: Payload::args(vec![Value::from(value)]),
            },
        );
        assert!(
            s.take(p).is_empty(),
            "PUBLISHED before the home shard stored it"
        );
        // the store reaches the home shard (0), its answer comes back
        assert!(s.step_from(1, 0));
        assert!(s.step_from(0, 1));
        assert!(matches!(
            s.take(p).as_slice(),
            [Message::Published { request: r, .. }] if *r == request
        ));
    }
    s.send(
        c,
        &Message::Subscribe {
            request: 1,
            options: dict! { "get_retained" => true },
            topic: "com.ret".into(),
        },
    );
    s.run();
    let ev = events(&s.take(c));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].2, vec![Value::from("second")]);
    // unacknowledged, or neither retained nor kept in history: as before
    publish(
        &mut s,
        p,
        3,
        "com.plain",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert!(matches!(s.take(p).as_slice(), [Message::Published { .. }]));
}

#[test]
fn retained_events_and_history() {
    let mut s = Sim::new(3, 5);
    let mut cfg = open_realm("realm1");
    cfg.store = Some(StoreConfig {
        kind: "memory".into(),
        event_history: vec![EventHistoryConfig {
            uri: "com.hist".into(),
            limit: 2,
        }],
    });
    s.start_realm(0, cfg);
    let (p, _) = s.join(1, JSON, "realm1");
    publish(
        &mut s,
        p,
        1,
        "com.ret",
        dict! { "retain" => true },
        vec![Value::UInt(1)],
    );
    publish(
        &mut s,
        p,
        2,
        "com.ret",
        dict! { "retain" => true },
        vec![Value::UInt(2)],
    );
    let (c, _) = s.join(2, MP, "realm1");
    s.send(
        c,
        &Message::Subscribe {
            request: 1,
            options: dict! { "get_retained" => true },
            topic: "com.ret".into(),
        },
    );
    s.run();
    let got = s.take(c);
    assert!(
        matches!(got.first(), Some(Message::Subscribed { .. })),
        "{got:?}"
    );
    let ev = events(&got);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].2, vec![Value::UInt(2)]);
    assert_eq!(ev[0].1.get("retained"), Some(&Value::Bool(true)));

    let sub = subscribe(&mut s, c, "com.hist", Dict::new());
    for i in 0..3u64 {
        publish(
            &mut s,
            p,
            10 + i,
            "com.hist",
            Dict::new(),
            vec![Value::UInt(i)],
        );
    }
    s.take(c);
    call(
        &mut s,
        c,
        7,
        "wamp.subscription.get_events",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    match s.take(c).as_slice() {
        [Message::Result { payload, .. }] => {
            let a = args(payload);
            let list = a[0].as_list().unwrap();
            assert_eq!(list.len(), 2, "history keeps the limit");
            assert_eq!(
                list[0].as_dict().unwrap().get("args"),
                Some(&Value::List(vec![Value::UInt(2)]))
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---- dealer -----------------------------------------------------------------

#[test]
fn calls_cross_shards_with_caller_disclosure() {
    for shards in [1, 3] {
        let mut s = sim(shards);
        let (callee, _) = s.join(shards - 1, CBOR, "realm1");
        let (caller, cs) = s.join(0, JSON, "realm1");
        let reg = register(&mut s, callee, "com.add", Dict::new());
        call(
            &mut s,
            caller,
            11,
            "com.add",
            dict! { "disclose_me" => true },
            vec![Value::UInt(2), Value::UInt(3)],
        );
        let (req, r, details, a) = invocation(&s.take(callee));
        assert_eq!(r, reg);
        assert_eq!(a, vec![Value::UInt(2), Value::UInt(3)]);
        assert_eq!(details.get("caller"), Some(&Value::UInt(cs)));
        s.send(
            callee,
            &Message::Yield {
                request: req,
                options: Dict::new(),
                payload: Payload::args(vec![Value::UInt(5)]),
            },
        );
        s.run();
        match s.take(caller).as_slice() {
            [Message::Result {
                request: 11,
                payload,
                ..
            }] => assert_eq!(args(payload), vec![Value::UInt(5)]),
            other => panic!("{other:?}"),
        }
        // an application error travels back as is
        call(&mut s, caller, 12, "com.add", Dict::new(), vec![]);
        let (req, ..) = invocation(&s.take(callee));
        s.send(
            callee,
            &Message::Error {
                request_type: MessageType::Invocation,
                request: req,
                details: Dict::new(),
                error: "com.error.oops".into(),
                payload: Payload::args(vec!["bad".into()]),
            },
        );
        s.run();
        assert_eq!(error_of(&s.take(caller)).as_deref(), Some("com.error.oops"));
        call(&mut s, caller, 13, "com.nothing", Dict::new(), vec![]);
        assert_eq!(
            error_of(&s.take(caller)).as_deref(),
            Some(uris::ERROR_NO_SUCH_PROCEDURE)
        );
    }
}

#[test]
fn invocation_policies() {
    let mut s = sim(3);
    let (a, _) = s.join(1, JSON, "realm1");
    let (b, _) = s.join(2, JSON, "realm1");
    let (c, _) = s.join(0, JSON, "realm1");
    register(&mut s, a, "com.single", Dict::new());
    s.send(
        b,
        &Message::Register {
            request: 2,
            options: Dict::new(),
            procedure: "com.single".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(b)).as_deref(),
        Some(uris::ERROR_PROCEDURE_ALREADY_EXISTS)
    );
    register(&mut s, a, "com.rr", dict! { "invoke" => "roundrobin" });
    s.send(
        b,
        &Message::Register {
            request: 3,
            options: dict! { "invoke" => "random" },
            procedure: "com.rr".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(b)).as_deref(),
        Some(uris::ERROR_PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY)
    );
    register(&mut s, b, "com.rr", dict! { "invoke" => "roundrobin" });
    let mut hits = [0, 0];
    for i in 0..4 {
        call(&mut s, c, 100 + i, "com.rr", Dict::new(), vec![]);
        hits[0] += s.take(a).len();
        hits[1] += s.take(b).len();
    }
    assert_eq!(hits, [2, 2], "roundrobin alternates");
    register(&mut s, a, "com.first", dict! { "invoke" => "first" });
    register(&mut s, b, "com.first", dict! { "invoke" => "first" });
    call(&mut s, c, 200, "com.first", Dict::new(), vec![]);
    assert_eq!((s.take(a).len(), s.take(b).len()), (1, 0));
    register(&mut s, a, "com.last", dict! { "invoke" => "last" });
    register(&mut s, b, "com.last", dict! { "invoke" => "last" });
    call(&mut s, c, 201, "com.last", Dict::new(), vec![]);
    assert_eq!((s.take(a).len(), s.take(b).len()), (0, 1));
    s.send(
        a,
        &Message::Register {
            request: 4,
            options: dict! { "invoke" => "sometimes" },
            procedure: "com.x".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_INVALID_ARGUMENT)
    );
}

#[test]
fn pattern_registrations_most_specific_wins() {
    let mut s = sim(2);
    let (e, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(1, JSON, "realm1");
    let (w, _) = s.join(0, JSON, "realm1");
    let (c, _) = s.join(0, JSON, "realm1");
    register(&mut s, e, "com.app.do.it", Dict::new());
    register(&mut s, p, "com.app", dict! { "match" => "prefix" });
    register(&mut s, w, "com..do.it", dict! { "match" => "wildcard" });
    call(&mut s, c, 1, "com.app.do.it", Dict::new(), vec![]);
    assert_eq!(s.take(e).len(), 1, "exact beats prefix and wildcard");
    call(&mut s, c, 2, "com.app.other", Dict::new(), vec![]);
    let (_, _, details, _) = invocation(&s.take(p));
    assert_eq!(
        details.get("procedure"),
        Some(&Value::from("com.app.other"))
    );
    call(&mut s, c, 3, "com.xyz.do.it", Dict::new(), vec![]);
    let (_, _, details, _) = invocation(&s.take(w));
    assert_eq!(
        details.get("procedure"),
        Some(&Value::from("com.xyz.do.it"))
    );
}

#[test]
fn progressive_results_and_invocations() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, MP, "realm1");
    register(&mut s, callee, "com.stream", Dict::new());
    call(
        &mut s,
        caller,
        1,
        "com.stream",
        dict! { "receive_progress" => true, "progress" => true },
        vec![Value::UInt(0)],
    );
    let (req, _, details, _) = invocation(&s.take(callee));
    assert_eq!(details.get("receive_progress"), Some(&Value::Bool(true)));
    assert_eq!(details.get("progress"), Some(&Value::Bool(true)));
    call(
        &mut s,
        caller,
        1,
        "com.stream",
        dict! { "progress" => true },
        vec![Value::UInt(1)],
    );
    call(
        &mut s,
        caller,
        1,
        "com.stream",
        Dict::new(),
        vec![Value::UInt(2)],
    );
    let more = s.take(callee);
    assert_eq!(more.len(), 2);
    let (req2, _, d2, a2) = invocation(&more[..1]);
    assert_eq!((req2, a2), (req, vec![Value::UInt(1)]));
    assert_eq!(d2.get("progress"), Some(&Value::Bool(true)));
    let (_, _, d3, _) = invocation(&more[1..]);
    assert!(!d3.contains_key("progress"));
    for i in 0..3u64 {
        s.send(
            callee,
            &Message::Yield {
                request: req,
                options: dict! { "progress" => true },
                payload: Payload::args(vec![Value::UInt(i)]),
            },
        );
    }
    s.send(
        callee,
        &Message::Yield {
            request: req,
            options: Dict::new(),
            payload: Payload::args(vec![Value::UInt(99)]),
        },
    );
    s.run();
    let got = s.take(caller);
    let seen: Vec<(bool, Vec<Value>)> = got
        .iter()
        .map(|m| match m {
            Message::Result {
                details, payload, ..
            } => (
                details.get("progress") == Some(&Value::Bool(true)),
                args(payload),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (true, vec![Value::UInt(0)]),
            (true, vec![Value::UInt(1)]),
            (true, vec![Value::UInt(2)]),
            (false, vec![Value::UInt(99)])
        ]
    );
}

#[test]
fn cancel_modes() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    // skip: ERROR now, no INTERRUPT, late YIELD dropped
    call(&mut s, caller, 1, "com.slow", Dict::new(), vec![]);
    let (req, ..) = invocation(&s.take(callee));
    s.send(
        caller,
        &Message::Cancel {
            request: 1,
            options: dict! { "mode" => "skip" },
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    assert!(s.take(callee).is_empty());
    s.send(
        callee,
        &Message::Yield {
            request: req,
            options: Dict::new(),
            payload: Payload::Empty,
        },
    );
    s.run();
    assert!(s.take(caller).is_empty());
    // killnowait: ERROR now and INTERRUPT
    call(&mut s, caller, 2, "com.slow", Dict::new(), vec![]);
    let (req, ..) = invocation(&s.take(callee));
    s.send(
        caller,
        &Message::Cancel {
            request: 2,
            options: dict! { "mode" => "killnowait" },
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    assert!(
        matches!(s.take(callee).as_slice(), [Message::Interrupt { request, .. }] if *request == req)
    );
    // kill: INTERRUPT, then the callee's answer reaches the caller
    call(&mut s, caller, 3, "com.slow", Dict::new(), vec![]);
    let (req, ..) = invocation(&s.take(callee));
    s.send(
        caller,
        &Message::Cancel {
            request: 3,
            options: dict! { "mode" => "kill" },
        },
    );
    s.run();
    assert!(s.take(caller).is_empty());
    assert!(matches!(
        s.take(callee).as_slice(),
        [Message::Interrupt { .. }]
    ));
    s.send(
        callee,
        &Message::Error {
            request_type: MessageType::Invocation,
            request: req,
            details: Dict::new(),
            error: uris::ERROR_CANCELED.into(),
            payload: Payload::Empty,
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
}

#[test]
fn kill_on_a_callee_without_call_canceling_is_skip() {
    let mut s = sim(2);
    let callee = s.connect(1, JSON);
    s.hello(
        callee,
        "realm1",
        dict! { "roles" => Value::Dict(dict! { "callee" => Value::Dict(Dict::new()) }) },
    );
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(&mut s, caller, 1, "com.slow", Dict::new(), vec![]);
    s.take(callee);
    s.send(
        caller,
        &Message::Cancel {
            request: 1,
            options: dict! { "mode" => "kill" },
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    assert!(
        s.take(callee).is_empty(),
        "no INTERRUPT to a callee that did not announce call_canceling"
    );
}

#[test]
fn timeouts_are_milliseconds_and_answer_timeout() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(
        &mut s,
        caller,
        1,
        "com.slow",
        dict! { "timeout" => 250u64 },
        vec![],
    );
    s.take(callee);
    s.advance(200);
    s.run();
    assert!(s.take(caller).is_empty());
    s.advance(60);
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_TIMEOUT)
    );
    assert!(
        matches!(s.take(callee).as_slice(), [Message::Interrupt { options, .. }] if options.get("mode") == Some(&Value::from("killnowait")))
    );
}

#[test]
fn callee_or_caller_leaving_mid_call() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(&mut s, caller, 1, "com.slow", Dict::new(), vec![]);
    s.take(callee);
    s.disconnect(callee);
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    call(&mut s, caller, 2, "com.slow", Dict::new(), vec![]);
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_NO_SUCH_PROCEDURE),
        "the registration went with its callee"
    );

    let (callee, _) = s.join(1, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(&mut s, caller, 3, "com.slow", Dict::new(), vec![]);
    s.take(callee);
    s.disconnect(caller);
    s.run();
    assert!(
        matches!(s.take(callee).as_slice(), [Message::Interrupt { .. }]),
        "the callee is told the caller left"
    );
}

#[test]
fn unregister_waits_for_every_replica() {
    let mut s = sim(3);
    let (callee, _) = s.join(2, JSON, "realm1");
    let (caller, _) = s.join(1, JSON, "realm1");
    let reg = register(&mut s, callee, "com.p", Dict::new());
    s.send(
        callee,
        &Message::Unregister {
            request: 5,
            registration: reg,
        },
    );
    s.run();
    assert!(matches!(
        s.take(callee).as_slice(),
        [Message::Unregistered { request: 5, .. }]
    ));
    call(&mut s, caller, 1, "com.p", Dict::new(), vec![]);
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_NO_SUCH_PROCEDURE)
    );
    s.send(
        callee,
        &Message::Unregister {
            request: 6,
            registration: reg,
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(callee)).as_deref(),
        Some(uris::ERROR_NO_SUCH_REGISTRATION)
    );
}

// ---- meta API ---------------------------------------------------------------

fn result_args(msgs: &[Message]) -> Vec<Value> {
    match msgs {
        [Message::Result { payload, .. }] => args(payload),
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn session_meta_api_across_shards() {
    let mut s = sim(3);
    let (watch, _) = s.join(2, JSON, "realm1");
    subscribe(&mut s, watch, "wamp.session.on_join", Dict::new());
    subscribe(&mut s, watch, "wamp.session.on_leave", Dict::new());
    let (a, sa) = s.join(1, MP, "realm1");
    let (_b, sb) = s.join(0, CBOR, "realm1");
    let joins = events(&s.take(watch));
    assert_eq!(joins.len(), 2);
    assert_eq!(
        joins[0].2[0].as_dict().and_then(|d| d.get("session")),
        Some(&Value::UInt(sa))
    );
    call(&mut s, a, 1, "wamp.session.count", Dict::new(), vec![]);
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(3)]);
    call(&mut s, a, 2, "wamp.session.list", Dict::new(), vec![]);
    let list = result_args(&s.take(a));
    assert_eq!(list[0].as_list().map(<[Value]>::len), Some(3));
    call(
        &mut s,
        a,
        3,
        "wamp.session.get",
        Dict::new(),
        vec![Value::UInt(sb)],
    );
    let got = result_args(&s.take(a));
    assert_eq!(
        got[0].as_dict().and_then(|d| d.get("authrole")),
        Some(&Value::from("anonymous"))
    );
    call(
        &mut s,
        a,
        4,
        "wamp.session.get",
        Dict::new(),
        vec![Value::UInt(12345)],
    );
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_NO_SUCH_SESSION)
    );
    s.send(
        a,
        &Message::Call {
            request: 5,
            options: Dict::new(),
            procedure: "wamp.session.kill".into(),
            payload: Payload::Values {
                args: vec![Value::UInt(sb)],
                kwargs: Some(dict! { "reason" => "com.reason.bye", "message" => "go" }),
            },
        },
    );
    s.run();
    assert_eq!(result_args(&s.take(a)), Vec::<Value>::new());
    match s.take(_b).as_slice() {
        [Message::Goodbye { reason, details }] => {
            assert_eq!(reason, "com.reason.bye");
            assert_eq!(details.get("message"), Some(&Value::from("go")));
        }
        other => panic!("{other:?}"),
    }
    let leaves = events(&s.take(watch));
    assert_eq!(leaves.last().map(|e| e.2[0].clone()), Some(Value::UInt(sb)));
    call(&mut s, a, 6, "wamp.session.count", Dict::new(), vec![]);
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(2)]);
    call(&mut s, a, 7, "wamp.session.nope", Dict::new(), vec![]);
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_NO_SUCH_PROCEDURE)
    );
}

#[test]
fn kill_by_authid_reaches_every_shard() {
    let mut s = sim(3);
    let clients: Vec<usize> = (0..6)
        .map(|i| s.join((i % 3) as u16, JSON, "realm1").0)
        .collect();
    // every anonymous session has its own authid: find them through the meta API
    let (k, _) = s.join(1, JSON, "realm1");
    // find the target's authid through the meta API
    call(&mut s, k, 2, "wamp.session.list", Dict::new(), vec![]);
    let ids = result_args(&s.take(k))[0].as_list().unwrap().to_vec();
    let mut authids = Vec::new();
    for id in ids {
        call(&mut s, k, 3, "wamp.session.get", Dict::new(), vec![id]);
        let d = result_args(&s.take(k));
        authids.push(
            d[0].as_dict()
                .and_then(|d| d.get("authid"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned(),
        );
    }
    let victim = authids[0].clone();
    s.send(
        k,
        &Message::Call {
            request: 4,
            options: Dict::new(),
            procedure: "wamp.session.kill_by_authid".into(),
            payload: Payload::Values {
                args: vec![victim.as_str().into()],
                kwargs: None,
            },
        },
    );
    s.run();
    let killed = result_args(&s.take(k));
    assert_eq!(killed[0].as_list().map(<[Value]>::len), Some(1));
    let closed = clients.iter().filter(|c| s.clients[**c].closed).count();
    assert_eq!(closed, 1);
    // and the Rust-side kill on a shard
    let realm = s.cores[0].realm_id("realm1").unwrap();
    let mut n = 0;
    for shard in 0..3 {
        n += s.on_core(shard, |core| {
            core.kill_local_by(
                realm,
                None,
                Some("anonymous"),
                uris::CLOSE_KILLED,
                Some("maintenance".into()),
            )
            .len()
        });
    }
    assert_eq!(n, 6, "every remaining session");
}

#[test]
fn subscription_and_registration_meta_api() {
    let mut s = sim(3);
    let (watch, _) = s.join(0, JSON, "realm1");
    subscribe(&mut s, watch, "wamp.subscription.on_create", Dict::new());
    subscribe(&mut s, watch, "wamp.registration.on_register", Dict::new());
    let (a, sa) = s.join(1, JSON, "realm1");
    let (b, sb) = s.join(2, JSON, "realm1");
    let sub = subscribe(&mut s, a, "com.t", dict! { "match" => "prefix" });
    subscribe(&mut s, b, "com.t", dict! { "match" => "prefix" });
    let reg = register(&mut s, b, "com.p", Dict::new());
    let ev = events(&s.take(watch));
    assert_eq!(
        ev.len(),
        3,
        "two on_create (the watcher's own second subscription, com.t), one on_register: {ev:?}"
    );
    call(
        &mut s,
        a,
        1,
        "wamp.subscription.lookup",
        Dict::new(),
        vec!["com.t".into(), Value::Dict(dict! { "match" => "prefix" })],
    );
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(sub)]);
    call(
        &mut s,
        a,
        2,
        "wamp.subscription.list_subscribers",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    let mut expect = vec![sa, sb];
    expect.sort_unstable();
    assert_eq!(
        result_args(&s.take(a)),
        vec![Value::List(expect.into_iter().map(Value::UInt).collect())]
    );
    call(
        &mut s,
        a,
        3,
        "wamp.subscription.count_subscribers",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(2)]);
    call(
        &mut s,
        a,
        4,
        "wamp.subscription.match",
        Dict::new(),
        vec!["com.t.x".into()],
    );
    assert_eq!(result_args(&s.take(a)).len(), 1);
    call(
        &mut s,
        a,
        5,
        "wamp.subscription.get",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    assert_eq!(
        result_args(&s.take(a))[0]
            .as_dict()
            .and_then(|d| d.get("match")),
        Some(&Value::from("prefix"))
    );
    call(
        &mut s,
        a,
        6,
        "wamp.registration.list_callees",
        Dict::new(),
        vec![Value::UInt(reg)],
    );
    assert_eq!(
        result_args(&s.take(a)),
        vec![Value::List(vec![Value::UInt(sb)])]
    );
    call(
        &mut s,
        a,
        7,
        "wamp.registration.match",
        Dict::new(),
        vec!["com.p".into()],
    );
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(reg)]);
    call(&mut s, a, 8, "wamp.registration.list", Dict::new(), vec![]);
    let l = result_args(&s.take(a));
    assert_eq!(
        l[0].as_dict().and_then(|d| d.get("exact")),
        Some(&Value::List(vec![Value::UInt(reg)]))
    );
    s.disconnect(b);
    s.run();
    call(
        &mut s,
        a,
        9,
        "wamp.registration.get",
        Dict::new(),
        vec![Value::UInt(reg)],
    );
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_NO_SUCH_REGISTRATION)
    );
}

#[test]
fn testament_is_published_when_the_session_goes() {
    let mut s = sim(2);
    let (w, _) = s.join(0, JSON, "realm1");
    subscribe(&mut s, w, "com.gone", Dict::new());
    let (t, _) = s.join(1, MP, "realm1");
    call(
        &mut s,
        t,
        1,
        "wamp.session.add_testament",
        Dict::new(),
        vec![
            "com.gone".into(),
            Value::List(vec!["bye".into()]),
            Value::Dict(Dict::new()),
        ],
    );
    assert_eq!(result_args(&s.take(t)), Vec::<Value>::new());
    s.disconnect(t);
    s.run();
    let ev = events(&s.take(w));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].2, vec![Value::from("bye")]);
    // flushed testaments are not published
    let (t, _) = s.join(1, JSON, "realm1");
    call(
        &mut s,
        t,
        1,
        "wamp.session.add_testament",
        Dict::new(),
        vec![
            "com.gone".into(),
            Value::List(vec![]),
            Value::Dict(Dict::new()),
        ],
    );
    call(
        &mut s,
        t,
        2,
        "wamp.session.flush_testaments",
        Dict::new(),
        vec![],
    );
    s.take(t);
    s.disconnect(t);
    s.run();
    assert!(events(&s.take(w)).is_empty());
}

// ---- limits and stats -------------------------------------------------------

#[test]
fn limits_are_errors_not_crashes() {
    let mut s = Sim::new(2, 9);
    let mut cfg = open_realm("realm1");
    cfg.limits.max_sessions = 2;
    cfg.limits.max_subscriptions_per_session = 2;
    cfg.limits.max_payload_size = 64;
    s.start_realm(0, cfg);
    let (a, _) = s.join(1, JSON, "realm1");
    s.join(0, JSON, "realm1");
    let c = s.connect(1, JSON);
    let got = s.hello(c, "realm1", Dict::new());
    assert_eq!(abort_reason(&got).as_deref(), Some(ERROR_LIMIT_EXCEEDED));
    subscribe(&mut s, a, "com.a", Dict::new());
    subscribe(&mut s, a, "com.b", Dict::new());
    s.send(
        a,
        &Message::Subscribe {
            request: 3,
            options: Dict::new(),
            topic: "com.c".into(),
        },
    );
    s.run();
    assert_eq!(error_of(&s.take(a)).as_deref(), Some(ERROR_LIMIT_EXCEEDED));
    publish(
        &mut s,
        a,
        4,
        "com.a",
        dict! { "acknowledge" => true },
        vec![Value::from("x".repeat(100))],
    );
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_PAYLOAD_SIZE_EXCEEDED)
    );
}

#[test]
fn realm_stats_reduce_over_shards() {
    let mut s = sim(3);
    let (c, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(2, JSON, "realm1");
    subscribe(&mut s, c, "com.t", Dict::new());
    for i in 0..5 {
        publish(&mut s, p, i + 1, "com.t", Dict::new(), vec![]);
    }
    let mut total = super::stats::RealmStats::default();
    for core in &s.cores {
        total.merge(core.realm_stats(0).unwrap());
    }
    let d = total.to_crossbar(1);
    assert_eq!(d.get("sessions"), Some(&Value::UInt(2)));
    let msgs = d.get("messages").and_then(Value::as_dict).unwrap();
    assert_eq!(
        msgs.get("received")
            .and_then(Value::as_dict)
            .and_then(|r| r.get("PUBLISH")),
        Some(&Value::UInt(5))
    );
    assert_eq!(
        msgs.get("sent")
            .and_then(Value::as_dict)
            .and_then(|r| r.get("EVENT")),
        Some(&Value::UInt(5))
    );
}

#[test]
fn stopping_a_realm_closes_its_sessions() {
    let mut s = sim(2);
    let (a, _) = s.join(1, JSON, "realm1");
    for shard in 0..2 {
        s.on_core(shard, |core| core.stop_realm(0, true));
    }
    s.run();
    match s.take(a).as_slice() {
        [Message::Goodbye { reason, .. }] => assert_eq!(reason, uris::CLOSE_CLOSE_REALM),
        other => panic!("{other:?}"),
    }
    let c = s.connect(0, JSON);
    assert_eq!(
        abort_reason(&s.hello(c, "realm1", Dict::new())).as_deref(),
        Some(uris::ERROR_NO_SUCH_REALM)
    );
    let _ = TRANSPORT;
}

#[test]
fn wampcra_authentication_end_to_end() {
    let mut s = sim(2);
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(serde_json::json!({
        "wampcra": { "type": "static", "users": { "alice": { "secret": "s3cr3t", "role": "anonymous" } } }
    }))
    .unwrap();
    s.set_transport(2, &auth);
    let c = s.connect_via(1, MP, 2);
    let got = s.hello(
        c,
        "realm1",
        dict! { "authmethods" => Value::List(vec!["wampcra".into()]), "authid" => "alice" },
    );
    let challenge = match got.as_slice() {
        [Message::Challenge { auth_method, extra }] => {
            assert_eq!(auth_method, "wampcra");
            extra
                .get("challenge")
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        }
        other => panic!("{other:?}"),
    };
    let signature = super::auth::wampcra_sign(b"s3cr3t", &challenge);
    s.send(
        c,
        &Message::Authenticate {
            signature,
            extra: Dict::new(),
        },
    );
    s.run();
    match s.take(c).as_slice() {
        [Message::Welcome { details, .. }] => {
            assert_eq!(details.get("authid"), Some(&Value::from("alice")));
            assert_eq!(details.get("authmethod"), Some(&Value::from("wampcra")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn removing_a_role_denies_from_the_next_action_on() {
    let mut s = Sim::new(2, 4);
    let mut cfg = open_realm("realm1");
    cfg.roles.push(role(
        "temp",
        vec![perm("", Some(MatchPolicy::Prefix), allow_all())],
    ));
    s.start_realm(0, cfg);
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(
        serde_json::json!({ "anonymous": { "type": "static", "role": "temp" } }),
    )
    .unwrap();
    s.set_transport(3, &auth);
    let c = s.connect_via(1, JSON, 3);
    s.hello(c, "realm1", Dict::new());
    publish(
        &mut s,
        c,
        1,
        "com.t",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert!(matches!(s.take(c).as_slice(), [Message::Published { .. }]));
    for shard in 0..2 {
        s.on_core(shard, |core| core.remove_role(0, "temp"));
    }
    publish(
        &mut s,
        c,
        2,
        "com.t",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_NOT_AUTHORIZED)
    );
}

#[test]
fn subscription_and_registration_lifecycle_meta_events() {
    let mut s = sim(3);
    let (w, _) = s.join(0, JSON, "realm1");
    for t in [
        "wamp.subscription.on_unsubscribe",
        "wamp.subscription.on_delete",
        "wamp.registration.on_unregister",
        "wamp.registration.on_delete",
    ] {
        subscribe(&mut s, w, t, Dict::new());
    }
    s.take(w);
    let (a, sa) = s.join(1, JSON, "realm1");
    let sub = subscribe(&mut s, a, "com.t", Dict::new());
    let reg = register(&mut s, a, "com.p", Dict::new());
    s.send(
        a,
        &Message::Unsubscribe {
            request: 7,
            subscription: sub,
        },
    );
    s.run();
    s.disconnect(a);
    s.run();
    let ev = events(&s.take(w));
    let seen: Vec<Vec<Value>> = ev.iter().map(|e| e.2.clone()).collect();
    assert!(
        seen.contains(&vec![Value::UInt(sa), Value::UInt(sub)]),
        "on_unsubscribe and on_delete: {seen:?}"
    );
    assert_eq!(
        seen.iter()
            .filter(|a| **a == vec![Value::UInt(sa), Value::UInt(sub)])
            .count(),
        2
    );
    assert_eq!(
        seen.iter()
            .filter(|a| **a == vec![Value::UInt(sa), Value::UInt(reg)])
            .count(),
        2,
        "on_unregister and on_delete"
    );
}

#[test]
fn pending_invocations_per_callee_are_limited() {
    let mut s = Sim::new(2, 8);
    let mut cfg = open_realm("realm1");
    cfg.limits.max_pending_invocations_per_callee = 2;
    s.start_realm(0, cfg);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    for i in 1..=3 {
        call(&mut s, caller, i, "com.slow", Dict::new(), vec![]);
    }
    assert_eq!(s.take(callee).len(), 2);
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(ERROR_LIMIT_EXCEEDED)
    );
}

/// A call that reaches the callee's shard before its REGISTERED is held and
/// delivered after it, not refused.
#[test]
fn an_invocation_overtaking_registered_waits_for_it() {
    let mut s = sim(3);
    let (callee, _) = s.join(2, JSON, "realm1");
    let (caller, _) = s.join(1, JSON, "realm1");
    s.send(
        callee,
        &Message::Register {
            request: 1,
            options: Dict::new(),
            procedure: "com.p".into(),
        },
    );
    assert!(s.step_from(2, 0), "REGISTER reaches the home shard");
    while s.step_from(0, 1) {} // the caller's shard learns of it first
    s.send(
        caller,
        &Message::Call {
            request: 9,
            options: Dict::new(),
            procedure: "com.p".into(),
            payload: Payload::Empty,
        },
    );
    assert!(s.step_from(1, 2), "the invocation overtakes");
    assert!(s.take(callee).is_empty(), "nothing before REGISTERED");
    s.run();
    let got = s.take(callee);
    assert!(
        matches!(got.first(), Some(Message::Registered { .. })),
        "{got:?}"
    );
    assert!(
        matches!(got.get(1), Some(Message::Invocation { .. })),
        "{got:?}"
    );
}

// ---- payloads that cannot be transcoded -------------------------------------

/// A list nesting `depth` lists deep (the outer one included).
fn nested(depth: usize) -> Value {
    let mut v = Value::List(vec![]);
    for _ in 1..depth {
        v = Value::List(vec![v]);
    }
    v
}

/// One nesting limit for every serializer: a PUBLISH whose arguments nest 65
/// deep (or 100,000 deep, sent raw) is refused at the door with ABORT
/// protocol_violation; 64 deep reaches subscribers of every serializer.
#[test]
fn payload_nesting_limit_holds_for_every_serializer() {
    for from in [JSON, MP, CBOR] {
        let mut s = sim(2);
        let subs: Vec<usize> = [JSON, MP, CBOR]
            .into_iter()
            .enumerate()
            .map(|(i, ser)| s.join((i % 2) as u16, ser, "realm1").0)
            .collect();
        for &c in &subs {
            subscribe(&mut s, c, "com.deep", Dict::new());
        }
        let (p, _) = s.join(1, from, "realm1");
        // 64 deep: the args list holds a list nesting 63 deep.
        let ok = match nested(crate::codec::MAX_DEPTH) {
            Value::List(l) => l,
            _ => unreachable!(),
        };
        publish(
            &mut s,
            p,
            1,
            "com.deep",
            dict! { "acknowledge" => true },
            ok.clone(),
        );
        assert!(
            matches!(s.take(p).as_slice(), [Message::Published { .. }]),
            "{from}"
        );
        for &c in &subs {
            let ev = events(&s.take(c));
            assert_eq!(ev.len(), 1, "{from} -> {}", s.clients[c].serializer);
            assert_eq!(ev[0].2, ok);
        }
        // 65 deep: refused; the publisher's session is aborted, nobody gets it.
        let too_deep = match nested(crate::codec::MAX_DEPTH + 1) {
            Value::List(l) => l,
            _ => unreachable!(),
        };
        let mut frame = Vec::new();
        from.encode_into(
            &Message::Publish {
                request: 2,
                options: dict! { "acknowledge" => true },
                topic: "com.deep".into(),
                payload: Payload::args(too_deep),
            },
            &mut frame,
        )
        .unwrap();
        s.send_raw(p, &frame);
        s.run();
        assert_eq!(
            abort_reason(&s.take(p)).as_deref(),
            Some(uris::ERROR_PROTOCOL_VIOLATION),
            "{from}"
        );
        for &c in &subs {
            assert!(events(&s.take(c)).is_empty());
        }
        // 100,000 deep, hand-made: refused quickly, no stack overflow.
        let (p2, _) = s.join(0, from, "realm1");
        let n = 100_000;
        let frame: Vec<u8> = match from {
            Serializer::Json => format!(
                r#"[16,3,{{}},"com.deep",{}{}]"#,
                "[".repeat(n),
                "]".repeat(n)
            )
            .into_bytes(),
            Serializer::MsgPack => {
                let mut f = vec![0x95, 0x10, 0x03, 0x80, 0xa8];
                f.extend_from_slice(b"com.deep");
                f.extend(std::iter::repeat_n(0x91, n - 1));
                f.push(0x90);
                f
            }
            Serializer::Cbor => {
                let mut f = vec![0x85, 0x10, 0x03, 0xa0, 0x68];
                f.extend_from_slice(b"com.deep");
                f.extend(std::iter::repeat_n(0x9f, n));
                f.extend(std::iter::repeat_n(0xff, n));
                f
            }
        };
        let t = std::time::Instant::now();
        s.send_raw(p2, &frame);
        s.run();
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "{from}");
        assert_eq!(
            abort_reason(&s.take(p2)).as_deref(),
            Some(uris::ERROR_PROTOCOL_VIOLATION),
            "{from}"
        );
        for &c in &subs {
            assert!(events(&s.take(c)).is_empty());
        }
    }
}

fn transcode_failures(s: &mut Sim) -> u64 {
    (0..s.cores.len())
        .map(|i| s.cores[i].stats().transcode_failures)
        .sum()
}

/// A NaN has no JSON form. An acknowledged publication holding one is refused
/// with ERROR before any subscriber gets it (even one that could take it); an
/// unacknowledged one reaches the subscribers that can take it and the others
/// are counted, never silently skipped.
#[test]
fn untranscodable_publication_is_an_error_or_counted() {
    for from in [MP, CBOR] {
        for shards in [1, 3] {
            let mut s = sim(shards);
            let (j, _) = s.join(0, JSON, "realm1");
            let (m, _) = s.join(shards - 1, MP, "realm1");
            let (c, _) = s.join(shards / 2, CBOR, "realm1");
            for x in [j, m, c] {
                subscribe(&mut s, x, "com.nan", Dict::new());
            }
            let (p, _) = s.join(shards - 1, from, "realm1");
            let nan = vec![Value::from("x"), Value::Float(f64::NAN)];
            publish(
                &mut s,
                p,
                7,
                "com.nan",
                dict! { "acknowledge" => true },
                nan.clone(),
            );
            let got = s.take(p);
            assert_eq!(
                error_of(&got).as_deref(),
                Some(uris::ERROR_INVALID_ARGUMENT),
                "{got:?}"
            );
            match got.as_slice() {
                [Message::Error {
                    request_type: MessageType::Publish,
                    request: 7,
                    payload,
                    ..
                }] => {
                    let text = format!("{:?}", args(payload));
                    assert!(text.contains("json"), "{text}");
                }
                other => panic!("{other:?}"),
            }
            for x in [j, m, c] {
                assert!(
                    events(&s.take(x)).is_empty(),
                    "nobody gets a refused publication"
                );
            }
            assert_eq!(transcode_failures(&mut s), 0);

            // Unacknowledged: the binary subscribers get it, the JSON one is counted.
            publish(&mut s, p, 8, "com.nan", Dict::new(), nan.clone());
            assert!(s.take(p).is_empty());
            for x in [m, c] {
                let ev = events(&s.take(x));
                assert_eq!(ev.len(), 1);
                assert!(matches!(ev[0].2[1], Value::Float(f) if f.is_nan()));
            }
            assert!(events(&s.take(j)).is_empty());
            assert_eq!(transcode_failures(&mut s), 1);
            // A payload that transcodes still reaches everyone.
            publish(
                &mut s,
                p,
                9,
                "com.nan",
                dict! { "acknowledge" => true },
                vec![Value::Float(1.5)],
            );
            assert!(matches!(s.take(p).as_slice(), [Message::Published { .. }]));
            for x in [j, m, c] {
                assert_eq!(events(&s.take(x)).len(), 1);
            }
        }
    }
}

/// A CALL whose arguments cannot be transcoded for the callee, and a YIELD
/// whose result cannot be transcoded for the caller, answer the caller with
/// ERROR instead of leaving it waiting.
#[test]
fn untranscodable_call_and_result_answer_the_caller() {
    for shards in [1, 2] {
        let mut s = sim(shards);
        let (json_callee, _) = s.join(0, JSON, "realm1");
        let (mp_caller, _) = s.join(shards - 1, MP, "realm1");
        register(&mut s, json_callee, "com.json", Dict::new());
        call(
            &mut s,
            mp_caller,
            1,
            "com.json",
            Dict::new(),
            vec![Value::Float(f64::INFINITY)],
        );
        assert_eq!(
            error_of(&s.take(mp_caller)).as_deref(),
            Some(uris::ERROR_INVALID_ARGUMENT)
        );
        assert!(s.take(json_callee).is_empty());
        // The callee still works for a call it can receive.
        call(
            &mut s,
            mp_caller,
            2,
            "com.json",
            Dict::new(),
            vec![Value::UInt(1)],
        );
        let (req, ..) = invocation(&s.take(json_callee));
        s.send(
            json_callee,
            &Message::Yield {
                request: req,
                options: Dict::new(),
                payload: Payload::args(vec![Value::UInt(2)]),
            },
        );
        s.run();
        assert!(matches!(
            s.take(mp_caller).as_slice(),
            [Message::Result { request: 2, .. }]
        ));

        // A CBOR callee yields a NaN to a JSON caller.
        let (cbor_callee, _) = s.join(shards - 1, CBOR, "realm1");
        let (json_caller, _) = s.join(0, JSON, "realm1");
        register(&mut s, cbor_callee, "com.cbor", Dict::new());
        for (request, progress) in [(3, false), (4, true)] {
            let options = if progress {
                dict! { "receive_progress" => true }
            } else {
                Dict::new()
            };
            call(&mut s, json_caller, request, "com.cbor", options, vec![]);
            let (req, ..) = invocation(&s.take(cbor_callee));
            s.send(
                cbor_callee,
                &Message::Yield {
                    request: req,
                    options: if progress {
                        dict! { "progress" => true }
                    } else {
                        Dict::new()
                    },
                    payload: Payload::args(vec![Value::Float(f64::NAN)]),
                },
            );
            s.run();
            match s.take(json_caller).as_slice() {
                [Message::Error {
                    request_type: MessageType::Call,
                    request: r,
                    error,
                    ..
                }] => {
                    assert_eq!(*r, request);
                    assert_eq!(error, uris::ERROR_INVALID_ARGUMENT);
                }
                other => panic!("progress {progress}: {other:?}"),
            }
            // A later YIELD for the abandoned progressive call is dropped.
            if progress {
                s.send(
                    cbor_callee,
                    &Message::Yield {
                        request: req,
                        options: Dict::new(),
                        payload: Payload::args(vec![Value::UInt(1)]),
                    },
                );
                s.run();
                assert!(s.take(json_caller).is_empty());
            }
        }
        // The error arguments of a callee's ERROR too: the caller still gets an ERROR.
        call(&mut s, json_caller, 5, "com.cbor", Dict::new(), vec![]);
        let (req, ..) = invocation(&s.take(cbor_callee));
        s.send(
            cbor_callee,
            &Message::Error {
                request_type: MessageType::Invocation,
                request: req,
                details: Dict::new(),
                error: "com.error.oops".into(),
                payload: Payload::args(vec![Value::Float(f64::NAN)]),
            },
        );
        s.run();
        assert_eq!(
            error_of(&s.take(json_caller)).as_deref(),
            Some(uris::ERROR_INVALID_ARGUMENT)
        );
        assert!(transcode_failures(&mut s) >= 3);
    }
}
