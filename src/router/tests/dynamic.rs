//! Dynamic authenticators and authorizers through the core: the router's own
//! calls to a procedure a client registered (on another shard), the HELLO
//! or the message waiting for the answer, denials, failures, timeouts, the
//! authorizer cache and its invalidation, and the order of a session's
//! messages while one waits.

use super::*;
use crate::config::auth::TransportAuth;

/// Transport 1 authenticates `method` with the dynamic authenticator `com.auth`.
fn dynamic_transport(s: &mut Sim, method: &str, extra: serde_json::Value) {
    let mut entry =
        serde_json::json!({"type": "dynamic", "authenticator": "com.auth", "timeout": 1000});
    if let (Some(e), Some(x)) = (entry.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            e.insert(k.clone(), v.clone());
        }
    }
    let auth: TransportAuth = serde_json::from_value(serde_json::json!({ method: entry })).unwrap();
    s.set_transport(1, &auth);
}

/// `realm1` (open), `realm2` (open); the authenticator joined on shard 1 and registered.
fn with_authenticator(shards: u16) -> (Sim, usize) {
    let mut s = sim(shards);
    let mut r2 = open_realm("realm2");
    r2.home_shard = Some(shards - 1);
    s.start_realm(1, r2);
    let (auth, _) = s.join(shards - 1, MP, "realm1");
    register(&mut s, auth, "com.auth", Dict::new());
    (s, auth)
}

fn answer(s: &mut Sim, c: usize, request: u64, v: Value) {
    s.send(
        c,
        &Message::Yield {
            request,
            options: Dict::new(),
            payload: Payload::args(vec![v]),
        },
    );
    s.run();
}

fn raise(s: &mut Sim, c: usize, request: u64, error: &str, message: &str) {
    s.send(
        c,
        &Message::Error {
            request_type: MessageType::Invocation,
            request,
            details: Dict::new(),
            error: error.into(),
            payload: Payload::args(vec![message.into()]),
        },
    );
    s.run();
}

fn authenticate(s: &mut Sim, c: usize, signature: &str) {
    s.send(
        c,
        &Message::Authenticate {
            signature: signature.into(),
            extra: Dict::new(),
        },
    );
    s.run();
}

fn methods(m: &str) -> Value {
    Value::List(vec![m.into()])
}

fn welcome_details(got: &[Message]) -> Dict {
    match got {
        [Message::Welcome { details, .. }] => details.clone(),
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

fn abort_message(got: &[Message]) -> (String, String) {
    match got {
        [Message::Abort { reason, details }] => (
            reason.clone(),
            details
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        other => panic!("expected ABORT, got {other:?}"),
    }
}

#[test]
fn a_ticket_checked_by_a_dynamic_authenticator_on_another_shard() {
    let (mut s, auth) = with_authenticator(2);
    dynamic_transport(&mut s, "ticket", serde_json::json!({}));
    for (ticket, ok) in [("good", true), ("bad", false)] {
        let c = s.connect_via(0, JSON, 1);
        let got = s.hello(
            c,
            "realm1",
            dict! {"authmethods" => methods("ticket"), "authid" => "joe",
            "authextra" => Value::Dict(dict!{"k" => "v"})},
        );
        assert!(
            matches!(got.as_slice(), [Message::Challenge { .. }]),
            "{got:?}"
        );
        // Nothing is asked before the ticket comes.
        assert!(s.take(auth).is_empty());
        authenticate(&mut s, c, ticket);
        assert!(
            s.take(c).is_empty(),
            "the HELLO waits for the authenticator"
        );
        let (request, _, details, a) = invocation(&s.take(auth));
        assert!(
            !details.contains_key("caller"),
            "the router is not disclosed"
        );
        assert_eq!(a[0], Value::from("realm1"));
        assert_eq!(a[1], Value::from("joe"));
        let d = a[2].as_dict().unwrap();
        assert_eq!(d.get("ticket"), Some(&Value::from(ticket)));
        assert_eq!(d.get("authmethod"), Some(&Value::from("ticket")));
        assert!(d.get("session").and_then(Value::as_u64).is_some());
        assert!(d.get("transport").and_then(Value::as_dict).is_some());
        assert_eq!(
            d.get("authextra")
                .and_then(Value::as_dict)
                .and_then(|e| e.get("k")),
            Some(&Value::from("v"))
        );
        if ok {
            answer(
                &mut s,
                auth,
                request,
                Value::Dict(
                    dict! {"role" => "anonymous", "extra" => Value::Dict(dict!{"x" => 1u64})},
                ),
            );
            let w = welcome_details(&s.take(c));
            assert_eq!(w.get("authid"), Some(&Value::from("joe")));
            assert_eq!(w.get("authrole"), Some(&Value::from("anonymous")));
            assert_eq!(w.get("authmethod"), Some(&Value::from("ticket")));
            assert_eq!(w.get("authprovider"), Some(&Value::from("dynamic")));
            assert_eq!(
                w.get("authextra")
                    .and_then(Value::as_dict)
                    .and_then(|e| e.get("x")),
                Some(&Value::UInt(1))
            );
            goodbye(&mut s, c);
        } else {
            raise(
                &mut s,
                auth,
                request,
                "com.example.invalid_ticket",
                "no such ticket",
            );
            let (reason, message) = abort_message(&s.take(c));
            assert_eq!(reason, "com.example.invalid_ticket");
            assert_eq!(message, "no such ticket");
            assert!(s.clients[c].closed);
        }
    }
    assert_eq!(s.cores[0].stats().authenticator_calls, 2);
}

#[test]
fn a_role_string_answer_and_a_redirect_for_anonymous() {
    let (mut s, auth) = with_authenticator(2);
    dynamic_transport(&mut s, "anonymous", serde_json::json!({}));
    let c = s.connect_via(1, CBOR, 1);
    s.send(
        c,
        &Message::Hello {
            realm: "realm1".into(),
            details: dict! {"roles" => Value::Dict(crate::sim::all_roles())},
        },
    );
    s.run();
    let (request, _, _, a) = invocation(&s.take(auth));
    assert_eq!(a[1], Value::Null, "no authid announced");
    answer(
        &mut s,
        auth,
        request,
        Value::Dict(dict! {"realm" => "realm2", "role" => "anonymous", "authid" => "guest"}),
    );
    let w = welcome_details(&s.take(c));
    assert_eq!(w.get("realm"), Some(&Value::from("realm2")));
    assert_eq!(w.get("authid"), Some(&Value::from("guest")));
    // A plain role string: the authid is a random serial for anonymous.
    let c = s.connect_via(0, JSON, 1);
    s.send(
        c,
        &Message::Hello {
            realm: "realm1".into(),
            details: dict! {"roles" => Value::Dict(crate::sim::all_roles())},
        },
    );
    s.run();
    let (request, _, _, _) = invocation(&s.take(auth));
    answer(&mut s, auth, request, Value::from("anonymous"));
    let w = welcome_details(&s.take(c));
    assert_eq!(w.get("realm"), Some(&Value::from("realm1")));
    assert_eq!(
        w.get("authid").and_then(Value::as_str).map(str::len),
        Some(29)
    );
    // A role that does not exist, a realm that does not exist, a bad answer.
    for (v, reason) in [
        (Value::from("nobody"), uris::ERROR_NO_SUCH_ROLE),
        (
            Value::Dict(dict! {"realm" => "nowhere", "role" => "anonymous"}),
            uris::ERROR_NO_SUCH_REALM,
        ),
        (Value::UInt(7), uris::ERROR_AUTHENTICATION_FAILED),
    ] {
        let c = s.connect_via(0, JSON, 1);
        s.hello(c, "realm1", Dict::new());
        let (request, _, _, _) = invocation(&s.take(auth));
        answer(&mut s, auth, request, v);
        assert_eq!(abort_message(&s.take(c)).0, reason);
    }
}

#[test]
fn wampcra_with_a_secret_from_the_authenticator() {
    let (mut s, auth) = with_authenticator(2);
    dynamic_transport(
        &mut s,
        "wampcra",
        serde_json::json!({"default-role": "anonymous"}),
    );
    for (salted, right) in [(false, true), (true, true), (false, false)] {
        let c = s.connect_via(0, JSON, 1);
        // Without an authid, wampcra cannot be asked.
        let got = s.hello(
            c,
            "realm1",
            dict! {"authmethods" => methods("wampcra"), "authid" => "peter"},
        );
        assert!(got.is_empty(), "{got:?}");
        let (request, _, _, a) = invocation(&s.take(auth));
        assert_eq!(a[1], Value::from("peter"));
        let mut principal = dict! {"secret" => "s3cret"};
        if salted {
            principal.insert("salt".into(), "salt123".into());
            principal.insert("iterations".into(), Value::UInt(100));
        }
        answer(&mut s, auth, request, Value::Dict(principal));
        let extra = match s.take(c).as_slice() {
            [Message::Challenge { auth_method, extra }] => {
                assert_eq!(auth_method, "wampcra");
                extra.clone()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(extra.contains_key("salt"), salted);
        let challenge = extra.get("challenge").and_then(Value::as_str).unwrap();
        assert!(challenge.contains("\"authprovider\":\"dynamic\""));
        let key = if right { "s3cret" } else { "wrong" };
        authenticate(
            &mut s,
            c,
            &crate::wamp::cra::sign(key.as_bytes(), challenge),
        );
        let got = s.take(c);
        if right {
            let w = welcome_details(&got);
            assert_eq!(w.get("authrole"), Some(&Value::from("anonymous")));
            assert_eq!(w.get("authmethod"), Some(&Value::from("wampcra")));
        } else {
            assert_eq!(abort_message(&got).0, uris::ERROR_AUTHENTICATION_DENIED);
        }
    }
    // An answer without a secret is a failure.
    let c = s.connect_via(0, JSON, 1);
    s.hello(
        c,
        "realm1",
        dict! {"authmethods" => methods("wampcra"), "authid" => "peter"},
    );
    let (request, _, _, _) = invocation(&s.take(auth));
    answer(&mut s, auth, request, Value::from("anonymous"));
    let (reason, message) = abort_message(&s.take(c));
    assert_eq!(reason, uris::ERROR_AUTHENTICATION_FAILED);
    assert!(message.contains("secret"), "{message}");
}

#[test]
fn no_authenticator_a_silent_one_and_a_client_that_leaves() {
    let mut s = sim(2);
    dynamic_transport(&mut s, "ticket", serde_json::json!({}));
    // Nobody registered the authenticator.
    let c = s.connect_via(0, JSON, 1);
    s.hello(
        c,
        "realm1",
        dict! {"authmethods" => methods("ticket"), "authid" => "joe"},
    );
    authenticate(&mut s, c, "t");
    let (reason, message) = abort_message(&s.take(c));
    assert_eq!(reason, uris::ERROR_AUTHENTICATION_FAILED);
    assert!(
        message.contains("no callee registered for 'com.auth'"),
        "{message}"
    );
    // One that never answers: denied after the timeout (1000 ms here).
    let (auth, _) = s.join(1, JSON, "realm1");
    register(&mut s, auth, "com.auth", Dict::new());
    let c = s.connect_via(0, JSON, 1);
    s.hello(
        c,
        "realm1",
        dict! {"authmethods" => methods("ticket"), "authid" => "joe"},
    );
    authenticate(&mut s, c, "t");
    let _ = invocation(&s.take(auth));
    s.advance(999);
    assert!(s.take(c).is_empty());
    s.advance(1);
    let (reason, message) = abort_message(&s.take(c));
    assert_eq!(reason, uris::ERROR_AUTHENTICATION_FAILED);
    assert!(
        message.contains("did not answer within 1000 ms"),
        "{message}"
    );
    // A client that leaves while its authenticator thinks: nothing is left.
    let c = s.connect_via(0, JSON, 1);
    s.hello(
        c,
        "realm1",
        dict! {"authmethods" => methods("ticket"), "authid" => "joe"},
    );
    authenticate(&mut s, c, "t");
    let (request, _, _, _) = invocation(&s.take(auth));
    s.disconnect(c);
    s.run();
    // The abandoned invocation was interrupted; the late answer is dropped.
    assert!(matches!(
        s.take(auth).as_slice(),
        [Message::Interrupt { .. }]
    ));
    answer(&mut s, auth, request, Value::from("anonymous"));
    goodbye(&mut s, auth);
    for c in 0..s.clients.len() {
        s.disconnect(c);
    }
    s.run();
    for core in &s.cores {
        assert!(core.leftovers().is_empty(), "{:?}", core.leftovers());
    }
}

// ---- authorizers --------------------------------------------------------------

/// `realm1` with the role `dyn` asking `com.authorize` (timeout 1000 ms);
/// transport 1 gives anonymous sessions the role `dyn`. The authorizer is
/// joined on the last shard and registered; returns (sim, authorizer).
fn with_authorizer(shards: u16) -> (Sim, usize) {
    let mut s = Sim::new(shards, 7);
    let mut r = open_realm("realm1");
    r.options.authorizer_timeout = 1000;
    r.roles.push(RoleConfig {
        name: "dyn".into(),
        permissions: vec![],
        authorizer: Some("com.authorize".into()),
        allow_by_default: false,
    });
    s.start_realm(0, r);
    let auth: TransportAuth =
        serde_json::from_value(serde_json::json!({"anonymous": {"type": "static", "role": "dyn"}}))
            .unwrap();
    s.set_transport(1, &auth);
    let (a, _) = s.join(shards - 1, JSON, "realm1");
    register(&mut s, a, "com.authorize", Dict::new());
    (s, a)
}

fn dyn_session(s: &mut Sim, shard: u16) -> usize {
    let c = s.connect_via(shard, MP, 1);
    welcome_session(&s.hello(c, "realm1", Dict::new()));
    c
}

fn ack() -> Dict {
    dict! {"acknowledge" => true}
}

#[test]
fn an_authorizer_allows_denies_and_its_cached_answers_are_kept() {
    let (mut s, a) = with_authorizer(2);
    let c = dyn_session(&mut s, 0);
    publish(&mut s, c, 1, "com.ok", ack(), vec![]);
    assert!(s.take(c).is_empty(), "the PUBLISH waits");
    let (request, _, _, args) = invocation(&s.take(a));
    let session = args[0].as_dict().unwrap();
    assert_eq!(session.get("authrole"), Some(&Value::from("dyn")));
    assert_eq!(session.get("authmethod"), Some(&Value::from("anonymous")));
    for k in [
        "session",
        "authid",
        "authprovider",
        "authextra",
        "transport",
    ] {
        assert!(session.contains_key(k), "{k}");
    }
    assert_eq!(args[1], Value::from("com.ok"));
    assert_eq!(args[2], Value::from("publish"));
    assert_eq!(
        args[3].as_dict().and_then(|o| o.get("acknowledge")),
        Some(&Value::Bool(true))
    );
    answer(
        &mut s,
        a,
        request,
        Value::Dict(dict! {"allow" => true, "cache" => true}),
    );
    assert!(matches!(
        s.take(c).as_slice(),
        [Message::Published { request: 1, .. }]
    ));
    // Cached: no question, at once.
    publish(&mut s, c, 2, "com.ok", ack(), vec![]);
    assert!(matches!(
        s.take(c).as_slice(),
        [Message::Published { request: 2, .. }]
    ));
    assert!(s.take(a).is_empty());
    assert_eq!(s.cores[0].stats().authorizer_cache_hits, 1);
    // Another action on the same URI is another key.
    s.send(
        c,
        &Message::Subscribe {
            request: 3,
            options: Dict::new(),
            topic: "com.ok".into(),
        },
    );
    s.run();
    let (request, _, _, args) = invocation(&s.take(a));
    assert_eq!(args[2], Value::from("subscribe"));
    answer(&mut s, a, request, Value::Bool(false));
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_NOT_AUTHORIZED)
    );
    // Not cached (a bare bool): asked again.
    s.send(
        c,
        &Message::Subscribe {
            request: 4,
            options: Dict::new(),
            topic: "com.ok".into(),
        },
    );
    s.run();
    let (request, _, _, _) = invocation(&s.take(a));
    answer(
        &mut s,
        a,
        request,
        Value::Dict(dict! {"allow" => false, "cache" => true}),
    );
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_NOT_AUTHORIZED)
    );
    assert_eq!(s.cores[0].authorizer_cache_len(0), 2);
    // The control operation drops the cache; so does setting the role.
    assert_eq!(
        s.on_core(0, |core| core.clear_authorizer_cache(0, Some("dyn"))),
        2
    );
    publish(&mut s, c, 5, "com.ok", ack(), vec![]);
    let (request, _, _, _) = invocation(&s.take(a));
    answer(
        &mut s,
        a,
        request,
        Value::Dict(dict! {"allow" => true, "cache" => true}),
    );
    assert!(matches!(
        s.take(c).as_slice(),
        [Message::Published { request: 5, .. }]
    ));
    let role = RoleConfig {
        name: "dyn".into(),
        permissions: vec![],
        authorizer: Some("com.authorize".into()),
        allow_by_default: false,
    };
    for core in &mut s.cores {
        core.set_role(0, &role).unwrap();
    }
    assert_eq!(s.cores[0].authorizer_cache_len(0), 0);
    publish(&mut s, c, 6, "com.ok", ack(), vec![]);
    let _ = invocation(&s.take(a));
    assert_eq!(s.cores[0].stats().authorizer_calls, 5);
}

#[test]
fn a_call_allowed_with_disclosure_reaches_its_callee() {
    let (mut s, a) = with_authorizer(3);
    let (callee, _) = s.join(2, CBOR, "realm1");
    register(&mut s, callee, "com.proc", Dict::new());
    let c = dyn_session(&mut s, 1);
    call(&mut s, c, 1, "com.proc", Dict::new(), vec![Value::UInt(5)]);
    let (request, _, _, args) = invocation(&s.take(a));
    assert_eq!(args[2], Value::from("call"));
    answer(
        &mut s,
        a,
        request,
        Value::Dict(dict! {"allow" => true, "disclose" => true}),
    );
    let (_, _, details, args) = invocation(&s.take(callee));
    assert_eq!(args, vec![Value::UInt(5)]);
    assert!(details.contains_key("caller"), "{details:?}");
    // REGISTER is asked about too; a malformed answer fails the action.
    s.send(
        c,
        &Message::Register {
            request: 2,
            options: Dict::new(),
            procedure: "com.mine".into(),
        },
    );
    s.run();
    let (request, _, _, args) = invocation(&s.take(a));
    assert_eq!(args[2], Value::from("register"));
    answer(&mut s, a, request, Value::from("yes"));
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_AUTHORIZATION_FAILED)
    );
}

#[test]
fn a_sessions_messages_wait_in_order_behind_its_authorization() {
    let (mut s, a) = with_authorizer(2);
    let (sub, _) = s.join(1, JSON, "realm1");
    subscribe(&mut s, sub, "com.t", Dict::new());
    let c = dyn_session(&mut s, 0);
    // Three publications sent at once: one question at a time, events in order.
    for (i, _) in [1, 2, 3].iter().enumerate() {
        s.send(
            c,
            &Message::Publish {
                request: i as u64 + 1,
                options: ack(),
                topic: "com.t".into(),
                payload: Payload::args(vec![Value::UInt(i as u64 + 1)]),
            },
        );
    }
    s.run();
    let (request, _, _, _) = invocation(&s.take(a));
    assert!(s.take(a).is_empty(), "one question at a time");
    // Only the first is asked (not cached): answer it, then the second is asked.
    answer(&mut s, a, request, Value::Dict(dict! {"allow" => true}));
    let (request, _, _, _) = invocation(&s.take(a));
    answer(
        &mut s,
        a,
        request,
        Value::Dict(dict! {"allow" => true, "cache" => true}),
    );
    // The third is decided from the cache.
    assert!(s.take(a).is_empty());
    let got: Vec<u64> = s
        .take(c)
        .iter()
        .filter_map(|m| match m {
            Message::Published { request, .. } => Some(*request),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![1, 2, 3]);
    let seen: Vec<Value> = events(&s.take(sub))
        .into_iter()
        .map(|e| e.2[0].clone())
        .collect();
    assert_eq!(seen, vec![Value::UInt(1), Value::UInt(2), Value::UInt(3)]);
    // A GOODBYE sent behind a waiting message is handled after it.
    publish(&mut s, c, 9, "com.other", ack(), vec![]);
    s.send(
        c,
        &Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_NORMAL.into(),
        },
    );
    s.run();
    assert!(s.take(c).is_empty());
    let (request, _, _, _) = invocation(&s.take(a));
    answer(&mut s, a, request, Value::Bool(true));
    match s.take(c).as_slice() {
        [Message::Published { request: 9, .. }, Message::Goodbye { .. }] => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_absent_or_silent_authorizer_refuses_the_action() {
    let (mut s, a) = with_authorizer(2);
    let c = dyn_session(&mut s, 0);
    // Silent: refused after authorizer_timeout.
    call(&mut s, c, 1, "com.proc", Dict::new(), vec![]);
    let _ = invocation(&s.take(a));
    s.advance(1000);
    let got = s.take(c);
    assert_eq!(
        error_of(&got).as_deref(),
        Some(uris::ERROR_AUTHORIZATION_FAILED)
    );
    // The authorizer raises: refused, with its error in the message.
    call(&mut s, c, 2, "com.proc", Dict::new(), vec![]);
    let (request, _, _, _) = invocation(&s.take(a));
    raise(&mut s, a, request, "com.example.oops", "broken");
    let got = s.take(c);
    assert_eq!(
        error_of(&got).as_deref(),
        Some(uris::ERROR_AUTHORIZATION_FAILED)
    );
    // Absent: refused at once.
    s.take(a);
    goodbye(&mut s, a);
    call(&mut s, c, 3, "com.proc", Dict::new(), vec![]);
    let got = s.take(c);
    assert_eq!(
        error_of(&got).as_deref(),
        Some(uris::ERROR_AUTHORIZATION_FAILED)
    );
    match got.as_slice() {
        [Message::Error { payload, .. }] => {
            let m = format!("{:?}", args(payload));
            assert!(
                m.contains("no callee registered for 'com.authorize'"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.cores[0].stats().authorizer_failures, 3);
    // A session that leaves while a message waits leaves nothing behind.
    let (a, _) = s.join(1, JSON, "realm1");
    register(&mut s, a, "com.authorize", Dict::new());
    publish(&mut s, c, 4, "com.t", ack(), vec![]);
    let _ = invocation(&s.take(a));
    s.disconnect(c);
    s.run();
    assert!(matches!(s.take(a).as_slice(), [Message::Interrupt { .. }]));
    goodbye(&mut s, a);
    for c in 0..s.clients.len() {
        s.disconnect(c);
    }
    s.run();
    for core in &s.cores {
        assert!(core.leftovers().is_empty(), "{:?}", core.leftovers());
    }
}

#[test]
fn cryptosign_and_tls_by_a_dynamic_authenticator() {
    use crate::router::TlsInfo;
    use crate::wamp::cryptosign::{sign, PrivateKey};
    let (mut s, auth) = with_authenticator(2);
    let kim = PrivateKey::from_seed(&[4; 32]);
    let other = PrivateKey::from_seed(&[5; 32]);
    dynamic_transport(&mut s, "cryptosign", serde_json::json!({}));
    let hello = |s: &mut Sim, c: usize| {
        s.hello(
            c,
            "realm1",
            dict! {"authmethods" => methods("cryptosign"),
            "authextra" => Value::Dict(dict!{"pubkey" => kim.public_hex()})},
        )
    };
    // The authenticator is asked at HELLO with the public key; its answer
    // names the principal's key, then the router challenges and verifies.
    let c = s.connect_via(0, JSON, 1);
    assert!(hello(&mut s, c).is_empty(), "HELLO waits for the answer");
    let (request, _, _, a) = invocation(&s.take(auth));
    let d = a[2].as_dict().unwrap();
    assert_eq!(d.get("authmethod"), Some(&Value::from("cryptosign")));
    assert_eq!(
        d.get("authextra")
            .and_then(Value::as_dict)
            .and_then(|e| e.get("pubkey")),
        Some(&Value::from(kim.public_hex()))
    );
    answer(
        &mut s,
        auth,
        request,
        Value::Dict(dict! {"authid" => "kim", "role" => "anonymous", "pubkey" => kim.public_hex()}),
    );
    let ch = match s.take(c).as_slice() {
        [Message::Challenge { auth_method, extra }] if auth_method == "cryptosign" => {
            let hex = extra.get("challenge").and_then(Value::as_str).unwrap();
            crate::wamp::cryptosign::decode_hex::<32>(hex, "challenge").unwrap()
        }
        other => panic!("expected a cryptosign CHALLENGE, got {other:?}"),
    };
    authenticate(&mut s, c, &sign(kim.signing_key(), &ch, None));
    let w = welcome_details(&s.take(c));
    assert_eq!(w.get("authid"), Some(&Value::from("kim")));
    assert_eq!(w.get("authprovider"), Some(&Value::from("dynamic")));
    goodbye(&mut s, c);
    // An answer without the key, or with another key: refused, never welcomed.
    for (pubkey, reason) in [
        (None, uris::ERROR_AUTHENTICATION_FAILED),
        (Some(other.public_hex()), uris::ERROR_AUTHENTICATION_DENIED),
    ] {
        let c = s.connect_via(0, JSON, 1);
        hello(&mut s, c);
        let (request, ..) = invocation(&s.take(auth));
        let mut d = dict! {"authid" => "kim", "role" => "anonymous"};
        if let Some(k) = pubkey {
            d.insert("pubkey".into(), Value::from(k));
        }
        answer(&mut s, auth, request, Value::Dict(d));
        let got = s.take(c);
        let got = match got.as_slice() {
            // a decoy challenge first, denied at AUTHENTICATE
            [Message::Challenge { .. }] => {
                authenticate(&mut s, c, &sign(kim.signing_key(), &[0; 32], None));
                s.take(c)
            }
            _ => got,
        };
        assert_eq!(abort_message(&got).0, reason, "{got:?}");
    }

    // tls: asked at HELLO with the verified certificate; no certificate:
    // denied without asking.
    dynamic_transport(&mut s, "tls", serde_json::json!({}));
    let tls = TlsInfo {
        version: "TLSv1.3".into(),
        client_certificate_sha1: Some("AB:CD".into()),
        client_certificate_subject: Some("CN=alice".into()),
        ..TlsInfo::default()
    };
    let c = s.connect_tls(0, JSON, 1, tls);
    assert!(s
        .hello(c, "realm1", dict! {"authmethods" => methods("tls")})
        .is_empty());
    let (request, _, _, a) = invocation(&s.take(auth));
    let cert = a[2]
        .as_dict()
        .and_then(|d| d.get("client_cert"))
        .and_then(Value::as_dict)
        .cloned()
        .unwrap_or_default();
    assert_eq!(cert.get("sha1"), Some(&Value::from("AB:CD")));
    answer(
        &mut s,
        auth,
        request,
        Value::Dict(dict! {"authid" => "alice", "role" => "anonymous"}),
    );
    let w = welcome_details(&s.take(c));
    assert_eq!(w.get("authid"), Some(&Value::from("alice")));
    assert_eq!(w.get("authmethod"), Some(&Value::from("tls")));
    assert_eq!(w.get("authrole"), Some(&Value::from("anonymous")));
    let plain = s.connect_via(0, JSON, 1);
    let got = s.hello(plain, "realm1", dict! {"authmethods" => methods("tls")});
    assert!(matches!(got.as_slice(), [Message::Abort { .. }]), "{got:?}");
    assert!(s.take(auth).is_empty(), "not asked without a certificate");
}
