//! The client session against the router core, through the simulator:
//! ticket and WAMP-CRA (plain and salted) authentication, a refused join,
//! calls with progressive results and cancel, events.

use super::*;
use crate::client::auth::{Ticket, WampCra};
use crate::client::session::{CallError, Reply};
use crate::config::role::{Allow, Disclose, Permission, RoleConfig};
use crate::wamp::message::Payload;
use crate::wamp::uri::MatchPolicy;
use crate::wamp::uris;

fn w(s: &mut Sim, c: ClientId) -> &mut ClientSession {
    s.clients[c]
        .wamp
        .as_mut()
        .expect("joined through the session")
}

fn sim() -> Sim {
    let mut s = Sim::new(2, 11);
    let mut realm = RealmConfig::new(
        "realm1",
        vec![RoleConfig {
            name: "anonymous".into(),
            permissions: vec![Permission {
                uri: "".into(),
                match_: Some(MatchPolicy::Prefix),
                allow: Allow {
                    call: true,
                    register: true,
                    publish: true,
                    subscribe: true,
                },
                disclose: Disclose::default(),
                cache: false,
            }],
            authorizer: None,
            allow_by_default: false,
        }],
    );
    realm.home_shard = Some(0);
    s.start_realm(0, realm);
    let derived = crate::wamp::cra::derive_key("pw", "salty", 100, 16);
    let auth: TransportAuth = serde_json::from_value(serde_json::json!({
        "ticket": { "type": "static", "principals": { "joe": { "ticket": "secret!", "role": "anonymous" } } },
        "wampcra": { "type": "static", "users": {
            "alice": { "secret": "s3cr3t", "role": "anonymous" },
            "bob": { "secret": derived, "role": "anonymous", "salt": "salty", "iterations": 100, "keylen": 16 }
        } }
    }))
    .expect("auth config");
    s.set_transport(1, &auth);
    s
}

#[test]
fn authenticators_join_through_the_core() {
    let mut s = sim();
    let ticket = Box::new(Ticket {
        authid: "joe".into(),
        ticket: "secret!".into(),
    });
    let (c, _) = s
        .join_with(0, Serializer::Json, 1, "realm1", ticket)
        .expect("ticket joins");
    let details = s.clients[c]
        .wamp
        .as_ref()
        .unwrap()
        .welcome_details()
        .clone();
    assert_eq!(details.get("authid"), Some(&Value::from("joe")));
    for (who, secret) in [("alice", "s3cr3t"), ("bob", "pw")] {
        let cra = Box::new(WampCra {
            authid: who.into(),
            secret: secret.into(),
        });
        s.join_with(1, Serializer::MsgPack, 1, "realm1", cra)
            .unwrap_or_else(|e| panic!("{who}: {e:?}"));
    }
    let wrong = Box::new(Ticket {
        authid: "joe".into(),
        ticket: "nope".into(),
    });
    let events = s
        .join_with(0, Serializer::Cbor, 1, "realm1", wrong)
        .expect_err("refused");
    assert!(
        matches!(events.as_slice(), [Event::Closed(c)] if c.abort && c.by_router && c.reason == uris::ERROR_AUTHENTICATION_DENIED),
        "{events:?}"
    );
}

#[test]
fn calls_progress_cancel_and_events() {
    let mut s = sim();
    let (callee, _) = s.join(0, Serializer::Json, "realm1");
    let (caller, _) = s.join(1, Serializer::MsgPack, "realm1");
    let reg = w(&mut s, callee).register("com.p", Dict::new()).unwrap();
    let sub = w(&mut s, callee).subscribe("com.t", Dict::new()).unwrap();
    let got = s.drive(callee);
    assert!(got.iter().any(
        |e| matches!(e, Event::Reply { request, reply: Ok(Reply::Registered(_)) } if *request == reg)
    ));
    assert!(got.iter().any(
        |e| matches!(e, Event::Reply { request, reply: Ok(Reply::Subscribed(_)) } if *request == sub)
    ));

    // progressive results
    let call = w(&mut s, caller)
        .call(
            "com.p",
            dict! { "receive_progress" => true },
            Payload::Empty,
        )
        .unwrap();
    s.drive(caller);
    let inv = s.drive(callee);
    let [Event::Invocation { request: inv, .. }] = inv.as_slice() else {
        panic!("{inv:?}");
    };
    let inv = *inv;
    w(&mut s, callee)
        .yield_result(inv, Payload::args(vec![Value::from(1u64)]), true)
        .unwrap();
    w(&mut s, callee)
        .yield_result(inv, Payload::args(vec![Value::from(2u64)]), false)
        .unwrap();
    s.drive(callee);
    let got = s.drive(caller);
    assert!(
        matches!(&got[..], [Event::Progress { request: a, .. }, Event::Reply { request: b, reply: Ok(Reply::Result { .. }) }] if *a == call && *b == call),
        "{got:?}"
    );

    // cancel: the callee is interrupted, the caller gets wamp.error.canceled
    let call = w(&mut s, caller)
        .call("com.p", Dict::new(), Payload::Empty)
        .unwrap();
    s.drive(caller);
    let got = s.drive(callee);
    let [Event::Invocation { request: inv, .. }] = got.as_slice() else {
        panic!("{got:?}");
    };
    let inv = *inv;
    w(&mut s, caller).cancel(call, Some("kill")).unwrap();
    s.drive(caller);
    let got = s.drive(callee);
    assert!(
        matches!(&got[..], [Event::Interrupt { request, .. }] if *request == inv),
        "{got:?}"
    );
    w(&mut s, callee)
        .invocation_error(inv, uris::ERROR_CANCELED, Dict::new(), Payload::Empty)
        .unwrap();
    s.drive(callee);
    let got = s.drive(caller);
    assert!(
        matches!(&got[..], [Event::Reply { request, reply: Err(CallError { uri, .. }) }] if *request == call && uri == uris::ERROR_CANCELED),
        "{got:?}"
    );

    // events
    w(&mut s, caller)
        .publish(
            "com.t",
            Dict::new(),
            Payload::args(vec![Value::from(5u64)]),
            true,
        )
        .unwrap();
    let got = s.drive(caller);
    assert!(matches!(
        &got[..],
        [Event::Reply {
            reply: Ok(Reply::Published(_)),
            ..
        }]
    ));
    let got = s.drive(callee);
    assert!(matches!(&got[..], [Event::Event { .. }]), "{got:?}");
}
