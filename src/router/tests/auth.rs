//! Authentication through the core: HELLO/AUTHENTICATE deadlines, ticket, decoys for unknown authids, the failed-authentication lockout, unknown roles.

use super::*;

fn set_limits(s: &mut Sim, transport: u32, limits: crate::router::SessionLimits) {
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
        crate::router::SessionLimits {
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
        crate::router::SessionLimits {
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
        crate::router::SessionLimits {
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

// ---- cryptosign --------------------------------------------------------------

fn cryptosign_transport(s: &mut Sim, id: u32, keys: &[&crate::wamp::cryptosign::PrivateKey]) {
    let keys: Vec<String> = keys.iter().map(|k| k.public_hex()).collect();
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(serde_json::json!({
        "cryptosign": { "type": "static", "principals": {
            "alice": { "authorized_keys": keys, "role": "anonymous", "realm": "realm1" } } }
    }))
    .unwrap();
    s.set_transport(id, &auth);
}

fn cryptosign_hello(s: &mut Sim, c: usize, extra: Dict) -> Vec<Message> {
    s.hello(
        c,
        "realm1",
        dict! { "authmethods" => Value::List(vec!["cryptosign".into()]), "authextra" => extra },
    )
}

fn cryptosign_challenge(got: &[Message]) -> (Dict, [u8; 32]) {
    match got {
        [Message::Challenge { auth_method, extra }] if auth_method == "cryptosign" => {
            let hex = extra.get("challenge").and_then(Value::as_str).unwrap();
            (
                extra.clone(),
                crate::wamp::cryptosign::decode_hex(hex, "challenge").unwrap(),
            )
        }
        other => panic!("expected a cryptosign CHALLENGE, got {other:?}"),
    }
}

#[test]
fn cryptosign_hello_challenge_authenticate() {
    use crate::wamp::cryptosign::{sign, PrivateKey};
    let alice = PrivateKey::from_seed(&[1; 32]);
    let mallory = PrivateKey::from_seed(&[2; 32]);
    let mut s = sim(2);
    cryptosign_transport(&mut s, 1, &[&alice]);
    // The right key, authid inferred from it: welcomed as alice.
    let c = s.connect_via(1, JSON, 1);
    let (_, ch) = cryptosign_challenge(&cryptosign_hello(
        &mut s,
        c,
        dict! {"pubkey" => alice.public_hex()},
    ));
    let got = authenticate(&mut s, c, &sign(alice.signing_key(), &ch, None));
    match got.as_slice() {
        [Message::Welcome { details, .. }] => {
            assert_eq!(details.get("authid"), Some(&Value::from("alice")));
            assert_eq!(details.get("authmethod"), Some(&Value::from("cryptosign")));
            assert_eq!(details.get("authprovider"), Some(&Value::from("static")));
        }
        other => panic!("{other:?}"),
    }
    // alice's key signed by another key; an unknown key; bad lengths: all denied alike.
    type Answer<'a> = Box<dyn Fn(&[u8; 32]) -> String + 'a>;
    let answers: Vec<(PrivateKey, Answer<'_>)> = vec![
        (
            alice.clone(),
            Box::new(|ch: &[u8; 32]| sign(mallory.signing_key(), ch, None)),
        ),
        (
            mallory.clone(),
            Box::new(|ch: &[u8; 32]| sign(mallory.signing_key(), ch, None)),
        ),
        (
            alice.clone(),
            Box::new(|ch: &[u8; 32]| sign(alice.signing_key(), ch, None)[..128].to_owned()),
        ),
        (
            alice.clone(),
            Box::new(|ch: &[u8; 32]| format!("{}00", sign(alice.signing_key(), ch, None))),
        ),
    ];
    let mut messages = Vec::new();
    for (announced, answer) in answers {
        let c = s.connect_via(0, JSON, 1);
        let (_, ch) = cryptosign_challenge(&cryptosign_hello(
            &mut s,
            c,
            dict! {"pubkey" => announced.public_hex()},
        ));
        let got = authenticate(&mut s, c, &answer(&ch));
        assert_eq!(
            abort_reason(&got).as_deref(),
            Some(uris::ERROR_AUTHENTICATION_DENIED)
        );
        assert!(s.clients[c].closed);
        messages.push(format!("{got:?}"));
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
}

#[test]
fn cryptosign_channel_binding_through_the_core() {
    use crate::router::TlsInfo;
    use crate::wamp::cryptosign::{sign, PrivateKey};
    let alice = PrivateKey::from_seed(&[1; 32]);
    let mut s = sim(1);
    cryptosign_transport(&mut s, 1, &[&alice]);
    let bound = dict! {"pubkey" => alice.public_hex(), "channel_binding" => "tls-exporter"};
    // Requested on a plain connection: ABORT, never an unbound session.
    let plain = s.connect_via(0, JSON, 1);
    let got = cryptosign_hello(&mut s, plain, bound.clone());
    assert_eq!(
        abort_reason(&got).as_deref(),
        Some(uris::ERROR_AUTHENTICATION_FAILED)
    );
    match got.as_slice() {
        [Message::Abort { details, .. }] => {
            let m = details.get("message").and_then(Value::as_str).unwrap_or("");
            assert!(m.contains("not TLS"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // On a TLS connection: the challenge XOR its exporter value is signed.
    let exporter = [0xa5u8; 32];
    let tls = TlsInfo {
        version: "TLSv1.3".into(),
        tls_exporter: Some(exporter),
        ..TlsInfo::default()
    };
    let c = s.connect_tls(0, JSON, 1, tls.clone());
    let (extra, ch) = cryptosign_challenge(&cryptosign_hello(&mut s, c, bound.clone()));
    assert_eq!(
        extra.get("channel_binding"),
        Some(&Value::from("tls-exporter"))
    );
    let got = authenticate(&mut s, c, &sign(alice.signing_key(), &ch, Some(&exporter)));
    welcome_session(&got);
    // An answer bound to another channel (a relayed challenge) is denied.
    let c = s.connect_tls(0, JSON, 1, tls.clone());
    let (_, ch) = cryptosign_challenge(&cryptosign_hello(&mut s, c, bound));
    let got = authenticate(&mut s, c, &sign(alice.signing_key(), &ch, Some(&[0; 32])));
    assert_eq!(
        abort_reason(&got).as_deref(),
        Some(uris::ERROR_AUTHENTICATION_DENIED)
    );
    // tls-unique on TLS 1.3 (none): ABORT naming the version.
    let c = s.connect_tls(0, JSON, 1, tls);
    let got = cryptosign_hello(
        &mut s,
        c,
        dict! {"pubkey" => alice.public_hex(), "channel_binding" => "tls-unique"},
    );
    assert_eq!(
        abort_reason(&got).as_deref(),
        Some(uris::ERROR_AUTHENTICATION_FAILED)
    );
}

#[test]
fn cryptosign_router_authentication_uses_the_router_key() {
    use crate::wamp::cryptosign::{sign, verify, PrivateKey};
    let alice = PrivateKey::from_seed(&[1; 32]);
    let router = PrivateKey::from_seed(&[9; 32]);
    let mut s = sim(2);
    for core in &mut s.cores {
        core.set_router_key(Some(router.clone()));
    }
    cryptosign_transport(&mut s, 1, &[&alice]);
    let mine = [0x42u8; 32];
    let c = s.connect_via(1, JSON, 1);
    let extra = dict! {"pubkey" => alice.public_hex(), "challenge" => crate::wamp::cryptosign::encode_hex(&mine)};
    let (extra, ch) = cryptosign_challenge(&cryptosign_hello(&mut s, c, extra));
    assert_eq!(extra.get("pubkey"), Some(&Value::from(router.public_hex())));
    let signature = extra.get("signature").and_then(Value::as_str).unwrap();
    assert!(verify(&router.public_key(), &mine, None, signature));
    welcome_session(&authenticate(
        &mut s,
        c,
        &sign(alice.signing_key(), &ch, None),
    ));
}
