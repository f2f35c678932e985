//! The running router: glommio shards, WebSocket and RawSocket on port 0, every
//! serializer; sessions placed on chosen shards exchange events and calls;
//! bad clients are closed without disturbing the others; shutdown says GOODBYE.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{start, Client};
use shardwamp::codec::Serializer;
use shardwamp::dict;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::uris;
use shardwamp::wamp::value::{Dict, Value};

fn args(p: &Payload) -> Vec<Value> {
    match p.to_values() {
        Ok(Payload::Values { args, .. }) => args,
        _ => vec![],
    }
}

/// Every transport × serializer: join, subscribe, publish (acknowledged), call.
#[test]
fn every_transport_and_serializer() {
    let router = start(2);
    let ws = router.tcp_addr("ws").unwrap();
    let rs = router.tcp_addr("rs").unwrap();
    for transport in ["websocket", "rawsocket"] {
        for ser in Serializer::ALL {
            let connect = |s: Serializer| {
                if transport == "websocket" {
                    Client::websocket(ws, "/ws", s)
                } else {
                    Client::rawsocket(rs, s)
                }
            };
            let mut sub = connect(ser);
            let details = sub.join("realm1");
            assert_eq!(
                details.get("authrole"),
                Some(&Value::from("anonymous")),
                "{transport}/{ser}"
            );
            sub.send(&Message::Subscribe {
                request: 1,
                options: Dict::new(),
                topic: "com.matrix".into(),
            });
            sub.expect("SUBSCRIBED", |m| matches!(m, Message::Subscribed { .. }));
            sub.send(&Message::Register {
                request: 2,
                options: Dict::new(),
                procedure: format!("com.echo.{transport}.{ser}"),
            });
            sub.expect("REGISTERED", |m| matches!(m, Message::Registered { .. }));

            // the other side speaks another serializer: payloads are transcoded
            let other =
                Serializer::ALL[(Serializer::ALL.iter().position(|s| *s == ser).unwrap() + 1) % 3];
            let mut p = connect(other);
            p.join("realm1");
            p.send(&Message::Publish {
                request: 7,
                options: dict! { "acknowledge" => true },
                topic: "com.matrix".into(),
                payload: Payload::args(vec![Value::from("hi"), Value::Bytes(vec![0, 255])]),
            });
            p.expect("PUBLISHED", |m| {
                matches!(m, Message::Published { request: 7, .. })
            });
            match sub.expect("EVENT", |m| matches!(m, Message::Event { .. })) {
                Message::Event { payload, .. } => assert_eq!(
                    args(&payload),
                    vec![Value::from("hi"), Value::Bytes(vec![0, 255])]
                ),
                _ => unreachable!(),
            }
            p.send(&Message::Call {
                request: 8,
                options: Dict::new(),
                procedure: format!("com.echo.{transport}.{ser}"),
                payload: Payload::args(vec![Value::UInt(41)]),
            });
            let inv = sub.expect("INVOCATION", |m| matches!(m, Message::Invocation { .. }));
            let Message::Invocation {
                request, payload, ..
            } = inv
            else {
                unreachable!()
            };
            assert_eq!(args(&payload), vec![Value::UInt(41)]);
            sub.send(&Message::Yield {
                request,
                options: Dict::new(),
                payload: Payload::args(vec![Value::UInt(42)]),
            });
            match p.expect("RESULT", |m| matches!(m, Message::Result { .. })) {
                Message::Result {
                    request: 8,
                    payload,
                    ..
                } => assert_eq!(args(&payload), vec![Value::UInt(42)]),
                other => panic!("{other:?}"),
            }
            sub.send(&Message::Goodbye {
                details: Dict::new(),
                reason: uris::CLOSE_NORMAL.into(),
            });
            match sub.recv() {
                Some(Message::Goodbye { reason, .. }) => {
                    assert_eq!(reason, uris::CLOSE_GOODBYE_AND_OUT)
                }
                other => panic!("{other:?}"),
            }
        }
    }
    router.shutdown(uris::CLOSE_SYSTEM_SHUTDOWN);
    router.join().unwrap();
}

/// Sessions pinned to different shards exchange events and calls.
#[test]
fn sessions_on_different_shards() {
    let router = start(2);
    let a0 = router.tcp_addr("ws0").unwrap();
    let a1 = router.tcp_addr("ws1").unwrap();
    let mut sub = Client::websocket(a1, "/ws", Serializer::MsgPack);
    sub.join("realm1");
    let mut callee = Client::websocket(a1, "/ws", Serializer::Cbor);
    callee.join("realm1");
    let mut pubr = Client::websocket(a0, "/ws", Serializer::Json);
    pubr.join("realm1");
    sub.send(&Message::Subscribe {
        request: 1,
        options: dict! { "match" => "prefix" },
        topic: "com.x".into(),
    });
    sub.expect("SUBSCRIBED", |m| matches!(m, Message::Subscribed { .. }));
    callee.send(&Message::Register {
        request: 1,
        options: Dict::new(),
        procedure: "com.add".into(),
    });
    callee.expect("REGISTERED", |m| matches!(m, Message::Registered { .. }));
    for i in 0..100u64 {
        pubr.send(&Message::Publish {
            request: i + 1,
            options: Dict::new(),
            topic: "com.x.y".into(),
            payload: Payload::args(vec![Value::UInt(i)]),
        });
    }
    for i in 0..100u64 {
        match sub.expect("EVENT", |m| matches!(m, Message::Event { .. })) {
            Message::Event {
                payload, details, ..
            } => {
                assert_eq!(
                    args(&payload),
                    vec![Value::UInt(i)],
                    "events arrive in publication order"
                );
                assert_eq!(details.get("topic"), Some(&Value::from("com.x.y")));
            }
            _ => unreachable!(),
        }
    }
    pubr.send(&Message::Call {
        request: 500,
        options: Dict::new(),
        procedure: "com.add".into(),
        payload: Payload::args(vec![Value::UInt(1), Value::UInt(2)]),
    });
    let Message::Invocation { request, .. } =
        callee.expect("INVOCATION", |m| matches!(m, Message::Invocation { .. }))
    else {
        unreachable!()
    };
    callee.send(&Message::Yield {
        request,
        options: Dict::new(),
        payload: Payload::args(vec![Value::UInt(3)]),
    });
    pubr.expect("RESULT", |m| {
        matches!(m, Message::Result { request: 500, .. })
    });
    // the meta API sees both shards' sessions
    pubr.send(&Message::Call {
        request: 501,
        options: Dict::new(),
        procedure: "wamp.session.count".into(),
        payload: Payload::Empty,
    });
    match pubr.expect("RESULT", |m| {
        matches!(m, Message::Result { request: 501, .. })
    }) {
        Message::Result { payload, .. } => assert_eq!(args(&payload), vec![Value::UInt(3)]),
        _ => unreachable!(),
    }
    drop(router);
}

/// Garbage, stalled handshakes and oversized frames close only the offender.
#[test]
fn bad_clients_are_closed_and_others_never_notice() {
    let router = start(1);
    let ws = router.tcp_addr("ws").unwrap();
    let rs = router.tcp_addr("rs").unwrap();
    let mut good = Client::rawsocket(rs, Serializer::Json);
    good.join("realm1");

    // garbage on the WebSocket port
    let mut g = TcpStream::connect(ws).unwrap();
    g.write_all(b"\x00\x01garbage that is not HTTP\r\n\r\n")
        .unwrap();
    g.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let n = g.read(&mut buf).unwrap_or(0);
    let _ = n; // closed, possibly with an HTTP 400 first
               // a bad RawSocket magic byte: closed without a reply
    let mut b = TcpStream::connect(rs).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    b.write_all(&[0x00, 0x12, 0, 0]).unwrap();
    assert_eq!(b.read(&mut buf).unwrap_or(0), 0);
    // an unsupported serializer: the spec's error reply
    let mut u = TcpStream::connect(rs).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    u.write_all(&[0x7f, 0xf9, 0, 0]).unwrap();
    let mut reply = [0u8; 4];
    u.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [0x7f, 0x10, 0, 0], "error 1: serializer unsupported");
    // a wrong WebSocket subprotocol is refused
    let req = {
        use tungstenite::client::IntoClientRequest;
        let mut r = format!("ws://{ws}/ws").into_client_request().unwrap();
        r.headers_mut()
            .insert("Sec-WebSocket-Protocol", "wamp.2.ubjson".parse().unwrap());
        r
    };
    assert!(tungstenite::client(req, TcpStream::connect(ws).unwrap()).is_err());
    // a malformed WAMP message: ABORT protocol_violation
    let mut m = Client::websocket(ws, "/ws", Serializer::Json);
    m.join("realm1");
    m.send(&Message::Event {
        subscription: 1,
        publication: 1,
        details: Dict::new(),
        payload: Payload::Empty,
    });
    match m.recv() {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::ERROR_PROTOCOL_VIOLATION),
        other => panic!("{other:?}"),
    }
    assert!(m.recv().is_none(), "then the connection closes");
    // the good client still works
    good.send(&Message::Call {
        request: 1,
        options: Dict::new(),
        procedure: "wamp.session.count".into(),
        payload: Payload::Empty,
    });
    good.expect("RESULT", |m| matches!(m, Message::Result { .. }));
    drop(router);
}

/// Shutdown says GOODBYE `wamp.close.system_shutdown` to every session and stops.
#[test]
fn shutdown_says_goodbye() {
    let router = start(2);
    let a0 = router.tcp_addr("ws0").unwrap();
    let a1 = router.tcp_addr("ws1").unwrap();
    let mut c0 = Client::websocket(a0, "/ws", Serializer::Json);
    c0.join("realm1");
    let mut c1 = Client::websocket(a1, "/ws", Serializer::MsgPack);
    c1.join("realm1");
    let started = std::time::Instant::now();
    router.shutdown(uris::CLOSE_SYSTEM_SHUTDOWN);
    for c in [&mut c0, &mut c1] {
        match c.recv() {
            Some(Message::Goodbye { reason, .. }) => {
                assert_eq!(reason, uris::CLOSE_SYSTEM_SHUTDOWN)
            }
            other => panic!("{other:?}"),
        }
    }
    router.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}
