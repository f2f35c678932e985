//! The session state machine: joining and authentication, requests and their
//! replies in any order, progressive results, cancel, events and invocations,
//! closing both ways, and what a router may not send.

use super::*;
use crate::client::auth::{Anonymous, Ticket, WampCra};

fn joined() -> ClientSession {
    let mut s = ClientSession::new("realm1", Box::new(Anonymous::default()));
    assert!(matches!(s.poll_transmit(), Some(Message::Hello { .. })));
    s.receive(Message::Welcome {
        session: 42,
        details: Dict::new(),
    })
    .unwrap();
    assert!(matches!(
        s.poll_event(),
        Some(Event::Joined { session: 42, .. })
    ));
    s
}

fn sent(s: &mut ClientSession) -> Vec<Message> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn events(s: &mut ClientSession) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn result(request: Id, args: Vec<Value>) -> Message {
    Message::Result {
        request,
        details: Dict::new(),
        payload: Payload::args(args),
    }
}

#[test]
fn hello_announces_roles_and_auth() {
    let mut s = ClientSession::new(
        "realm1",
        Box::new(Ticket {
            authid: "joe".into(),
            ticket: "t".into(),
        }),
    );
    let Some(Message::Hello { realm, details }) = s.poll_transmit() else {
        panic!("no HELLO");
    };
    assert_eq!(realm, "realm1");
    assert_eq!(details.get("authid"), Some(&Value::from("joe")));
    assert_eq!(
        details.get("authmethods"),
        Some(&Value::List(vec!["ticket".into()]))
    );
    let roles = details.get("roles").and_then(Value::as_dict).unwrap();
    for r in ["publisher", "subscriber", "caller", "callee"] {
        assert!(roles.contains_key(r), "{r}");
    }
    assert_eq!(s.state(), State::Establishing);
    // anonymous announces no method
    let mut a = ClientSession::new("r", Box::new(Anonymous::default()));
    let Some(Message::Hello { details, .. }) = a.poll_transmit() else {
        panic!("no HELLO");
    };
    assert!(!details.contains_key("authmethods"));
    assert_eq!(Roles::all().to_dict(), Roles::default().to_dict());
}

#[test]
fn ticket_challenge_then_welcome() {
    let mut s = ClientSession::new(
        "realm1",
        Box::new(Ticket {
            authid: "joe".into(),
            ticket: "secret".into(),
        }),
    );
    sent(&mut s);
    s.receive(Message::Challenge {
        auth_method: "ticket".into(),
        extra: Dict::new(),
    })
    .unwrap();
    assert_eq!(
        sent(&mut s),
        vec![Message::Authenticate {
            signature: "secret".into(),
            extra: Dict::new()
        }]
    );
    assert_eq!(s.state(), State::Authenticating);
    // a second CHALLENGE is not allowed
    let mut again = ClientSession::new(
        "realm1",
        Box::new(Ticket {
            authid: "joe".into(),
            ticket: "secret".into(),
        }),
    );
    sent(&mut again);
    let ch = Message::Challenge {
        auth_method: "ticket".into(),
        extra: Dict::new(),
    };
    again.receive(ch.clone()).unwrap();
    assert!(matches!(
        again.receive(ch),
        Err(SessionError::ProtocolViolation(_))
    ));
    s.receive(Message::Welcome {
        session: 9,
        details: dict! { "authid" => "joe" },
    })
    .unwrap();
    assert!(s.is_joined());
    assert_eq!(s.id(), 9);
    assert_eq!(s.welcome_details().get("authid"), Some(&Value::from("joe")));
}

#[test]
fn wampcra_challenge_is_signed() {
    let mut s = ClientSession::new(
        "realm1",
        Box::new(WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        }),
    );
    sent(&mut s);
    s.receive(Message::Challenge {
        auth_method: "wampcra".into(),
        extra: dict! { "challenge" => "c", "salt" => "salt123", "iterations" => 1000u64, "keylen" => 32u64 },
    })
    .unwrap();
    let key = crate::wamp::cra::derive_key("secret123", "salt123", 1000, 32);
    assert_eq!(
        sent(&mut s),
        vec![Message::Authenticate {
            signature: crate::wamp::cra::sign(key.as_bytes(), "c"),
            extra: Dict::new()
        }]
    );
}

#[test]
fn unanswerable_challenge_aborts() {
    let mut s = ClientSession::new("realm1", Box::new(Anonymous::default()));
    sent(&mut s);
    let r = s.receive(Message::Challenge {
        auth_method: "cryptosign".into(),
        extra: Dict::new(),
    });
    assert!(matches!(r, Err(SessionError::Auth(_))));
    assert!(matches!(
        sent(&mut s).as_slice(),
        [Message::Abort { reason, .. }] if reason == uris::ERROR_AUTHENTICATION_FAILED
    ));
    assert!(s.is_closed());
}

#[test]
fn abort_refuses_the_session() {
    let mut s = ClientSession::new("realm1", Box::new(Anonymous::default()));
    sent(&mut s);
    s.receive(Message::Abort {
        details: dict! { "message" => "no such realm" },
        reason: uris::ERROR_NO_SUCH_REALM.into(),
    })
    .unwrap();
    let ev = events(&mut s);
    let [Event::Closed(c)] = ev.as_slice() else {
        panic!("{ev:?}");
    };
    assert!(c.abort && c.by_router);
    assert_eq!(c.message(), "no such realm");
    assert_eq!(
        s.call("x", Dict::new(), Payload::Empty),
        Err(SessionError::Closed)
    );
}

#[test]
fn operations_need_a_joined_session() {
    let mut s = ClientSession::new("realm1", Box::new(Anonymous::default()));
    assert_eq!(
        s.call("x", Dict::new(), Payload::Empty),
        Err(SessionError::NotJoined)
    );
    assert_eq!(s.subscribe("t", Dict::new()), Err(SessionError::NotJoined));
}

#[test]
fn replies_out_of_order_reach_their_requests() {
    let mut s = joined();
    let a = s.call("a", Dict::new(), Payload::Empty).unwrap();
    let b = s.call("b", Dict::new(), Payload::Empty).unwrap();
    let sub = s.subscribe("t", Dict::new()).unwrap();
    assert_eq!((a, b, sub), (1, 2, 3));
    assert_eq!(sent(&mut s).len(), 3);
    s.receive(Message::Subscribed {
        request: sub,
        subscription: 77,
    })
    .unwrap();
    s.receive(result(b, vec![Value::from("b")])).unwrap();
    s.receive(result(a, vec![Value::from("a")])).unwrap();
    let ev = events(&mut s);
    assert_eq!(ev.len(), 3);
    assert_eq!(
        ev[0],
        Event::Reply {
            request: sub,
            reply: Ok(Reply::Subscribed(77))
        }
    );
    assert!(
        matches!(&ev[1], Event::Reply { request, reply: Ok(Reply::Result { payload, .. }) } if *request == b && *payload == Payload::args(vec![Value::from("b")]))
    );
    assert!(matches!(&ev[2], Event::Reply { request, .. } if *request == a));
    assert!(!s.is_pending(a) && !s.is_pending(b));
    // a second RESULT for a finished call is dropped
    s.receive(result(a, vec![])).unwrap();
    assert!(events(&mut s).is_empty());
}

#[test]
fn progressive_results_then_final() {
    let mut s = joined();
    let c = s
        .call("p", dict! { "receive_progress" => true }, Payload::Empty)
        .unwrap();
    sent(&mut s);
    for i in 0..3u64 {
        s.receive(Message::Result {
            request: c,
            details: dict! { "progress" => true },
            payload: Payload::args(vec![Value::from(i)]),
        })
        .unwrap();
    }
    s.receive(result(c, vec![Value::from("done")])).unwrap();
    let ev = events(&mut s);
    assert_eq!(ev.len(), 4);
    assert!(ev[..3]
        .iter()
        .all(|e| matches!(e, Event::Progress { request, .. } if *request == c)));
    assert!(matches!(
        &ev[3],
        Event::Reply {
            reply: Ok(Reply::Result { .. }),
            ..
        }
    ));
}

#[test]
fn cancel_sends_cancel_and_waits_for_the_error() {
    let mut s = joined();
    let c = s.call("slow", Dict::new(), Payload::Empty).unwrap();
    sent(&mut s);
    s.cancel(c, Some("kill")).unwrap();
    assert_eq!(
        sent(&mut s),
        vec![Message::Cancel {
            request: c,
            options: dict! { "mode" => "kill" }
        }]
    );
    assert!(s.is_pending(c));
    s.receive(Message::Error {
        request_type: MessageType::Call,
        request: c,
        details: Dict::new(),
        error: uris::ERROR_CANCELED.into(),
        payload: Payload::Empty,
    })
    .unwrap();
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [Event::Reply { reply: Err(e), .. }] if e.uri == uris::ERROR_CANCELED)
    );
    assert_eq!(s.cancel(c, None), Err(SessionError::NoSuchRequest(c)));
    // not a call
    let sub = s.subscribe("t", Dict::new()).unwrap();
    assert_eq!(s.cancel(sub, None), Err(SessionError::NoSuchRequest(sub)));
}

#[test]
fn errors_are_typed_and_checked_against_the_request() {
    let mut s = joined();
    let c = s.call("nope", Dict::new(), Payload::Empty).unwrap();
    s.receive(Message::Error {
        request_type: MessageType::Call,
        request: c,
        details: Dict::new(),
        error: uris::ERROR_NO_SUCH_PROCEDURE.into(),
        payload: Payload::Values {
            args: vec![Value::from("no such procedure")],
            kwargs: Some(dict! { "k" => 1u64 }),
        },
    })
    .unwrap();
    let ev = events(&mut s);
    let [Event::Reply { reply: Err(e), .. }] = ev.as_slice() else {
        panic!("{ev:?}");
    };
    assert_eq!(e.uri, uris::ERROR_NO_SUCH_PROCEDURE);
    assert_eq!(e.args, vec![Value::from("no such procedure")]);
    assert_eq!(e.kwargs.get("k"), Some(&Value::from(1u64)));
    assert_eq!(
        e.to_string(),
        format!("{}: no such procedure", uris::ERROR_NO_SUCH_PROCEDURE)
    );
    // an ERROR whose type does not match the pending request is a violation
    let r = s.register("p", Dict::new()).unwrap();
    sent(&mut s);
    let bad = s.receive(Message::Error {
        request_type: MessageType::Call,
        request: r,
        details: Dict::new(),
        error: "x".into(),
        payload: Payload::Empty,
    });
    assert!(matches!(bad, Err(SessionError::ProtocolViolation(_))));
    assert!(matches!(
        sent(&mut s).as_slice(),
        [Message::Abort { reason, .. }] if reason == uris::ERROR_PROTOCOL_VIOLATION
    ));
    // the pending REGISTER failed with the close
    let ev = events(&mut s);
    assert!(matches!(&ev[0], Event::Reply { request, reply: Err(_) } if *request == r));
    assert!(matches!(ev.last(), Some(Event::Closed(c)) if c.abort && !c.by_router));
}

#[test]
fn messages_a_router_may_not_send_are_violations() {
    let mut s = joined();
    let r = s.receive(Message::Call {
        request: 1,
        options: Dict::new(),
        procedure: "x".into(),
        payload: Payload::Empty,
    });
    assert!(matches!(r, Err(SessionError::ProtocolViolation(_))));
    assert!(s.is_closed());
    let mut s = joined();
    assert!(s
        .receive(Message::Welcome {
            session: 1,
            details: Dict::new()
        })
        .is_err());
    let mut s = ClientSession::new("realm1", Box::new(Anonymous::default()));
    assert!(s.receive(result(1, vec![])).is_err());
}

#[test]
fn events_and_invocations_are_routed() {
    let mut s = joined();
    let sub = s.subscribe("t", Dict::new()).unwrap();
    let reg = s.register("p", Dict::new()).unwrap();
    sent(&mut s);
    s.receive(Message::Subscribed {
        request: sub,
        subscription: 5,
    })
    .unwrap();
    s.receive(Message::Registered {
        request: reg,
        registration: 6,
    })
    .unwrap();
    events(&mut s);
    let ev = |sub| Message::Event {
        subscription: sub,
        publication: 1,
        details: Dict::new(),
        payload: Payload::Empty,
    };
    s.receive(ev(5)).unwrap();
    s.receive(ev(99)).unwrap(); // not ours: dropped
    s.receive(Message::Invocation {
        request: 11,
        registration: 6,
        details: Dict::new(),
        payload: Payload::args(vec![Value::from(2u64)]),
    })
    .unwrap();
    s.receive(Message::Invocation {
        request: 12,
        registration: 98,
        details: Dict::new(),
        payload: Payload::Empty,
    })
    .unwrap();
    let got = events(&mut s);
    assert!(matches!(
        &got[..],
        [
            Event::Event {
                subscription: 5,
                ..
            },
            Event::Invocation {
                request: 11,
                registration: 6,
                ..
            }
        ]
    ));
    // the unknown registration was answered by the session
    assert!(matches!(
        sent(&mut s).as_slice(),
        [Message::Error { request: 12, error, .. }] if error == uris::ERROR_NO_SUCH_REGISTRATION
    ));
    s.receive(Message::Interrupt {
        request: 11,
        options: Dict::new(),
    })
    .unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Interrupt { request: 11, .. }]
    ));
    s.yield_result(11, Payload::args(vec![Value::from(1u64)]), true)
        .unwrap();
    s.yield_result(11, Payload::Empty, false).unwrap();
    assert_eq!(
        s.yield_result(11, Payload::Empty, false),
        Err(SessionError::NoSuchRequest(11))
    );
    let y = sent(&mut s);
    assert!(matches!(&y[0], Message::Yield { options, .. } if options.contains_key("progress")));
    assert!(matches!(&y[1], Message::Yield { options, .. } if options.is_empty()));
    // unsubscribe, then its events are dropped
    let u = s.unsubscribe(5).unwrap();
    s.receive(Message::Unsubscribed {
        request: u,
        details: None,
    })
    .unwrap();
    s.receive(ev(5)).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Reply {
            request: u,
            reply: Ok(Reply::Unsubscribed)
        }]
    );
    // the router revokes the registration
    s.receive(Message::Unregistered {
        request: 0,
        details: Some(dict! { "registration" => 6u64, "reason" => "wamp.close.killed" }),
    })
    .unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::RegistrationRevoked {
            registration: 6,
            ..
        }]
    ));
    assert_eq!(s.registrations().count(), 0);
}

#[test]
fn publish_with_and_without_acknowledgement() {
    let mut s = joined();
    let quiet = s.publish("t", Dict::new(), Payload::Empty, false).unwrap();
    let acked = s.publish("t", Dict::new(), Payload::Empty, true).unwrap();
    let m = sent(&mut s);
    assert!(matches!(&m[0], Message::Publish { options, .. } if options.is_empty()));
    assert!(
        matches!(&m[1], Message::Publish { options, .. } if options.get("acknowledge") == Some(&Value::Bool(true)))
    );
    assert!(!s.is_pending(quiet));
    s.receive(Message::Published {
        request: acked,
        publication: 3,
    })
    .unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Reply {
            request: acked,
            reply: Ok(Reply::Published(3))
        }]
    );
}

#[test]
fn goodbye_from_the_client() {
    let mut s = joined();
    s.leave(uris::CLOSE_NORMAL).unwrap();
    assert!(matches!(
        sent(&mut s).as_slice(),
        [Message::Goodbye { reason, .. }] if reason == uris::CLOSE_NORMAL
    ));
    assert_eq!(s.state(), State::ShuttingDown);
    assert_eq!(
        s.call("x", Dict::new(), Payload::Empty),
        Err(SessionError::Closed)
    );
    s.receive(Message::Goodbye {
        details: Dict::new(),
        reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
    })
    .unwrap();
    assert!(sent(&mut s).is_empty());
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(Close {
            by_router: false,
            abort: false,
            ..
        })]
    ));
}

#[test]
fn goodbye_from_the_router_is_answered_and_fails_pending() {
    let mut s = joined();
    let c = s.call("x", Dict::new(), Payload::Empty).unwrap();
    sent(&mut s);
    s.receive(Message::Goodbye {
        details: Dict::new(),
        reason: uris::CLOSE_SYSTEM_SHUTDOWN.into(),
    })
    .unwrap();
    assert!(matches!(
        sent(&mut s).as_slice(),
        [Message::Goodbye { reason, .. }] if reason == uris::CLOSE_GOODBYE_AND_OUT
    ));
    let ev = events(&mut s);
    assert!(
        matches!(&ev[0], Event::Reply { request, reply: Err(e) } if *request == c && e.uri == uris::ERROR_CANCELED)
    );
    assert!(
        matches!(&ev[1], Event::Closed(c) if c.by_router && c.reason == uris::CLOSE_SYSTEM_SHUTDOWN)
    );
    // anything after is ignored
    s.receive(result(c, vec![])).unwrap();
    assert!(events(&mut s).is_empty());
}

#[test]
fn transport_close_ends_the_session() {
    let mut s = joined();
    s.transport_closed();
    assert!(s.is_closed());
    assert!(matches!(events(&mut s).as_slice(), [Event::Closed(_)]));
}
