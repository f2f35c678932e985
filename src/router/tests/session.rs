//! Sessions: WELCOME, HELLO errors, protocol violations, GOODBYE and HELLO again.

use super::*;

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

#[test]
fn a_router_goodbye_waits_for_the_clients_goodbye_then_closes() {
    let mut s = sim(1);
    let (c, _) = s.join(0, JSON, "realm1");
    let (quiet, _) = s.join(0, JSON, "realm1");
    let realm = s.cores[0].realm_id("realm1").unwrap();
    let killed = s.on_core(0, |core| {
        core.kill_local_by(realm, None, None, uris::CLOSE_KILLED, None)
    });
    assert_eq!(killed.len(), 2);
    s.run();
    for who in [c, quiet] {
        match s.take(who).as_slice() {
            [Message::Goodbye { reason, .. }] => assert_eq!(reason, uris::CLOSE_KILLED),
            other => panic!("{other:?}"),
        }
        assert!(!s.clients[who].closed, "open until the reply");
    }
    // Anything but GOODBYE is ignored (the spec's SHUTTING DOWN state) ...
    s.send(
        c,
        &Message::Publish {
            request: 1,
            options: dict! { "acknowledge" => true },
            topic: "com.t".into(),
            payload: Payload::Empty,
        },
    );
    s.run();
    assert!(s.take(c).is_empty());
    assert!(!s.clients[c].closed);
    // ... the client's GOODBYE closes the connection, unanswered.
    s.send(
        c,
        &Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
        },
    );
    s.run();
    assert!(s.clients[c].closed);
    assert!(s.take(c).is_empty());
    // A client that never answers is closed when the wait ends.
    s.advance(crate::router::GOODBYE_REPLY_WAIT_MS - 1);
    assert!(!s.clients[quiet].closed);
    s.advance(1);
    assert!(s.clients[quiet].closed);
    assert_eq!(s.cores[0].stats().sessions, 0);
}
