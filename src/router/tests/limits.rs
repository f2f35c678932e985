//! Limits, stats, stopping realms, roles changed at run time, WAMP-CRA end to end, meta lifecycle events, pending invocations, invocations overtaking REGISTERED.

use super::*;

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
    let mut total = crate::router::stats::RealmStats::default();
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
    let signature = crate::wamp::cra::sign(b"s3cr3t", &challenge);
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
