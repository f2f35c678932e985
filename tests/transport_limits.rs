//! Transport edges: stalled handshakes time out, oversized messages close the
//! connection, unanswered pings close it, slow subscribers are bounded (their
//! events dropped and counted) while the others get everything, and Unix and
//! IPv6 endpoints serve WAMP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{listener, open_realm, Client};
use shardwamp::codec::Serializer;
use shardwamp::dict;
use shardwamp::shard::{self, RouterSpec};
use shardwamp::transport::{self, EndpointSpec, ListenerKind, QueueLimits, SlowConsumer};
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::{Dict, Value};

fn spec(listeners: Vec<transport::ListenerSpec>) -> RouterSpec {
    RouterSpec {
        shards: 1,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![open_realm("realm1")],
        listeners,
        seed: Some(1),
        realm_transports: Vec::new(),
        router_key: None,
    }
}

fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return start.elapsed() < limit,
        }
    }
}

#[test]
fn stalled_handshakes_time_out() {
    let mut ws = listener(0, "ws", true, None);
    if let ListenerKind::WebSocket(o) = &mut ws.kind {
        o.open_handshake_timeout = 300;
    }
    let mut rs = listener(1, "rs", false, None);
    if let ListenerKind::RawSocket(o) = &mut rs.kind {
        o.open_handshake_timeout = 300;
    }
    let router = shard::start(spec(vec![ws, rs])).unwrap();
    for name in ["ws", "rs"] {
        let mut s = TcpStream::connect(router.tcp_addr(name).unwrap()).unwrap();
        s.write_all(b"GE").unwrap(); // half a request, then silence
        let t = Instant::now();
        assert!(
            closed_within(&mut s, Duration::from_secs(5)),
            "{name}: not closed"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{name}: closed before the timeout"
        );
    }
}

#[test]
fn oversized_messages_close_the_connection() {
    let mut ws = listener(0, "ws", true, None);
    if let ListenerKind::WebSocket(o) = &mut ws.kind {
        o.max_message_size = 1024;
        o.max_frame_size = 1024;
    }
    let mut rs = listener(1, "rs", false, None);
    if let ListenerKind::RawSocket(o) = &mut rs.kind {
        o.max_message_size = 1024;
    }
    let router = shard::start(spec(vec![ws, rs])).unwrap();
    let big = Message::Publish {
        request: 1,
        options: Dict::new(),
        topic: "com.big".into(),
        payload: Payload::args(vec![Value::from("x".repeat(4096))]),
    };
    let mut c = Client::websocket(router.tcp_addr("ws").unwrap(), "/ws", Serializer::Json);
    c.join("realm1");
    c.send(&big);
    assert!(c.recv().is_none(), "websocket closed");
    let mut r = Client::rawsocket(router.tcp_addr("rs").unwrap(), Serializer::MsgPack);
    r.join("realm1");
    r.send(&big);
    assert!(r.recv().is_none(), "rawsocket closed");
    // others are fine
    let mut ok = Client::websocket(router.tcp_addr("ws").unwrap(), "/ws", Serializer::Json);
    ok.join("realm1");
}

#[test]
fn unanswered_pings_close_the_connection() {
    let mut ws = listener(0, "ws", true, None);
    if let ListenerKind::WebSocket(o) = &mut ws.kind {
        o.auto_ping_interval = 100;
        o.auto_ping_timeout = 100;
    }
    let router = shard::start(spec(vec![ws])).unwrap();
    let addr = router.tcp_addr("ws").unwrap();
    // a client that completes the handshake and then never reads (so never answers a ping)
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        closed_within(&mut s, Duration::from_secs(5)),
        "closed after the ping timeout"
    );
    // a client that answers pings (tungstenite does while reading) stays
    let mut c = Client::websocket(addr, "/ws", Serializer::Json);
    c.join("realm1");
    let until = Instant::now() + Duration::from_millis(700);
    let mut request = 0;
    while Instant::now() < until {
        request += 1;
        c.send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: "wamp.session.count".into(),
            payload: Payload::Empty,
        });
        c.expect("RESULT", |m| matches!(m, Message::Result { .. }));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_slow_subscriber_is_bounded_and_never_stalls_the_others() {
    let mut slow = listener(0, "slow", true, None);
    slow.queue = QueueLimits {
        max_messages: 64,
        max_bytes: 256 * 1024,
        policy: SlowConsumer::Drop,
    };
    let fast = listener(1, "fast", true, None);
    let router = shard::start(spec(vec![slow, fast])).unwrap();
    let mut lazy = Client::websocket(router.tcp_addr("slow").unwrap(), "/ws", Serializer::Json);
    lazy.join("realm1");
    lazy.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "com.flood".into(),
    });
    lazy.expect("SUBSCRIBED", |m| matches!(m, Message::Subscribed { .. }));
    let mut eager = Client::websocket(router.tcp_addr("fast").unwrap(), "/ws", Serializer::MsgPack);
    eager.join("realm1");
    eager.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "com.flood".into(),
    });
    eager.expect("SUBSCRIBED", |m| matches!(m, Message::Subscribed { .. }));
    let mut p = Client::websocket(router.tcp_addr("fast").unwrap(), "/ws", Serializer::Json);
    p.join("realm1");
    let n = 4000u64;
    let blob = "y".repeat(2000);
    let reader = std::thread::spawn(move || {
        let mut got = 0u64;
        while got < n {
            match eager.recv() {
                Some(Message::Event { .. }) => got += 1,
                Some(_) => {}
                None => break,
            }
        }
        got
    });
    for i in 0..n {
        p.send(&Message::Publish {
            request: i + 1,
            options: Dict::new(),
            topic: "com.flood".into(),
            payload: Payload::args(vec![Value::UInt(i), Value::from(blob.as_str())]),
        });
    }
    p.send(&Message::Publish {
        request: n + 1,
        options: dict! { "acknowledge" => true },
        topic: "com.other".into(),
        payload: Payload::Empty,
    });
    p.expect("PUBLISHED", |m| matches!(m, Message::Published { .. }));
    assert_eq!(
        reader.join().unwrap(),
        n,
        "the fast subscriber got every event"
    );
    let dropped: u64 = router.shard_stats().iter().map(|s| s.events_dropped).sum();
    assert!(
        dropped > 0,
        "events for the subscriber that never reads were dropped and counted"
    );
    // the slow one is still connected and, once it reads, gets what its queue held
    let mut events = 0;
    lazy.send(&Message::Call {
        request: 9,
        options: Dict::new(),
        procedure: "wamp.session.count".into(),
        payload: Payload::Empty,
    });
    loop {
        match lazy.recv() {
            Some(Message::Event { .. }) => events += 1,
            Some(Message::Result { .. }) => break,
            Some(_) => {}
            None => panic!("the slow subscriber was disconnected under the drop policy"),
        }
    }
    assert!(
        events < n as usize,
        "some events were dropped: {events} of {n}"
    );
}

#[test]
fn unix_and_ipv6_endpoints() {
    let dir = std::env::temp_dir().join(format!("shardwamp-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("router.sock");
    let mut unix = listener(0, "unix", false, None);
    unix.endpoint = EndpointSpec::Unix(path.clone());
    let mut listeners = vec![unix];
    let v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    if v6 {
        let mut l = listener(1, "v6", true, None);
        l.endpoint = EndpointSpec::Tcp("[::1]:0".parse().unwrap());
        listeners.push(l);
    }
    let router = shard::start(RouterSpec {
        shards: 2,
        ..spec(listeners)
    })
    .unwrap();
    // RawSocket over the Unix socket
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&shardwamp::transport::rawsocket::client_handshake(
        24,
        Serializer::Json,
    ))
    .unwrap();
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 0x7f);
    let hello = Serializer::Json
        .encode(&Message::Hello {
            realm: "realm1".into(),
            details: dict! { "roles" => Value::Dict(shardwamp::sim::all_roles()) },
        })
        .unwrap();
    let mut frame = bytes::BytesMut::new();
    shardwamp::transport::rawsocket::encode_frame(
        shardwamp::transport::rawsocket::FrameKind::Message,
        &hello,
        1 << 24,
        &mut frame,
    )
    .unwrap();
    s.write_all(&frame).unwrap();
    let mut header = [0u8; 4];
    s.read_exact(&mut header).unwrap();
    let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    assert!(matches!(
        Serializer::Json.decode(&bytes::Bytes::from(body)).unwrap(),
        Message::Welcome { .. }
    ));
    if v6 {
        let mut c = Client::websocket(router.tcp_addr("v6").unwrap(), "/ws", Serializer::Cbor);
        c.join("realm1");
    }
}

/// A fixed port in use is an error, not a silent SO_REUSEPORT share with
/// another router.
#[test]
fn a_second_router_cannot_share_a_fixed_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut l = listener(0, "ws", true, None);
    l.endpoint = EndpointSpec::Tcp(format!("127.0.0.1:{port}").parse().unwrap());
    let first = shard::start(spec(vec![l.clone()])).unwrap();
    match shard::start(spec(vec![l])) {
        Err(shard::StartError::Bind { name, .. }) => assert_eq!(name, "ws"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a second router bound the same fixed port"),
    }
    let mut c = Client::websocket(first.tcp_addr("ws").unwrap(), "/ws", Serializer::Json);
    c.join("realm1");
}

/// A message many times larger than the receive buffer (`read_buffer_size`,
/// here the 256-byte minimum) arrives whole, over both transports and in both
/// directions, and so do many small ones sent back to back.
#[test]
fn messages_larger_than_the_read_buffer_arrive_whole() {
    let mut ws = listener(0, "ws", true, None);
    if let ListenerKind::WebSocket(o) = &mut ws.kind {
        o.read_buffer_size = 256;
    }
    let mut rs = listener(1, "rs", false, None);
    if let ListenerKind::RawSocket(o) = &mut rs.kind {
        o.read_buffer_size = 256;
    }
    let router = shard::start(spec(vec![ws, rs])).unwrap();
    let mut sub = Client::websocket(router.tcp_addr("ws").unwrap(), "/ws", Serializer::Json);
    sub.join("realm1");
    sub.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "com.big".into(),
    });
    sub.expect("SUBSCRIBED", |m| matches!(m, Message::Subscribed { .. }));
    let mut publishers = [
        Client::websocket(router.tcp_addr("ws").unwrap(), "/ws", Serializer::MsgPack),
        Client::rawsocket(router.tcp_addr("rs").unwrap(), Serializer::Cbor),
    ];
    for (k, p) in publishers.iter_mut().enumerate() {
        p.join("realm1");
        let big = "x".repeat(100_000 + k);
        let mut sent = vec![big.clone()];
        p.send(&Message::Publish {
            request: 1,
            options: Dict::new(),
            topic: "com.big".into(),
            payload: Payload::args(vec![Value::from(big)]),
        });
        for i in 0..50u64 {
            let s = format!("small {i}");
            sent.push(s.clone());
            p.send(&Message::Publish {
                request: 2 + i,
                options: Dict::new(),
                topic: "com.big".into(),
                payload: Payload::args(vec![Value::from(s)]),
            });
        }
        for want in sent {
            let got = sub.expect("EVENT", |m| matches!(m, Message::Event { .. }));
            let Message::Event { payload, .. } = got else {
                unreachable!()
            };
            let Ok(Payload::Values { args, .. }) = payload.to_values() else {
                panic!("publisher {k}: an undecodable payload");
            };
            assert_eq!(args, vec![Value::from(want.as_str())], "publisher {k}");
        }
    }
}

/// The transport's `backlog` is what the router listens with (glommio's own
/// bind always used 1024). With nobody accepting, the kernel completes
/// backlog + 1 connections and leaves the next SYN unanswered: 8 connects
/// complete with a backlog of 64 and not with 2. The socket is made by the
/// function the shards listen with.
#[test]
fn the_listen_backlog_is_applied() {
    for (backlog, completes) in [(2u32, false), (64, true)] {
        let l = transport::listen_socket("127.0.0.1:0".parse().unwrap(), backlog).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        // Nobody accepts: the accept queue holds backlog + 1 connections.
        let mut held = Vec::new();
        let mut all = true;
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => held.push(s),
                Err(_) => {
                    all = false;
                    break;
                }
            }
        }
        assert_eq!(
            all,
            completes,
            "backlog {backlog}: {} connected",
            held.len()
        );
    }
}

/// `max_connections` and `max_handshakes` (per shard and in total): a
/// connection over a cap is closed at accept and counted, and its place is
/// free again once a connection closes (or leaves the handshake).
#[test]
fn connection_and_handshake_caps_refuse_and_count() {
    let mut ws = listener(0, "ws", true, None);
    ws.limits.max_connections = 3;
    ws.limits.max_handshakes_per_shard = 1;
    let mut rs = listener(1, "rs", false, None);
    rs.limits.max_connections_per_shard = 2;
    let router = shard::start(RouterSpec {
        shards: 2,
        ..spec(vec![ws, rs])
    })
    .unwrap();
    let refused = || -> u64 {
        router
            .shard_stats()
            .iter()
            .map(|s| s.connections_refused)
            .sum()
    };
    let ws_addr = router.tcp_addr("ws").unwrap();
    // one connection stalls in the WebSocket handshake: on its shard, nobody
    // else may handshake, and the kernel spreads connections over both shards
    let mut stalled = TcpStream::connect(ws_addr).unwrap();
    stalled.write_all(b"GE").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut refusals = 0;
    let mut joined = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(ws_addr).unwrap();
        s.write_all(b"GE").unwrap();
        if closed_within(&mut s, Duration::from_millis(300)) {
            refusals += 1;
        }
        if refusals > 0 {
            break;
        }
    }
    assert!(
        refusals > 0,
        "the stalled shard admitted a second handshake"
    );
    assert!(refusals as u64 <= refused());
    // once it is gone the shard takes others again, up to 3 in total
    drop(stalled);
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..3 {
        let mut c = Client::websocket(ws_addr, "/ws", Serializer::Json);
        c.join("realm1");
        joined.push(c);
    }
    let before = refused();
    let mut fourth = TcpStream::connect(ws_addr).unwrap();
    assert!(closed_within(&mut fourth, Duration::from_secs(2)));
    assert_eq!(refused(), before + 1);
    joined.pop();
    std::thread::sleep(Duration::from_millis(100));
    let mut again = Client::websocket(ws_addr, "/ws", Serializer::Json);
    again.join("realm1");

    // RawSocket: at most 2 per shard, so 4 over 2 shards, and the 5th is refused
    let rs_addr = router.tcp_addr("rs").unwrap();
    let mut held = Vec::new();
    let mut rs_refused = 0;
    for _ in 0..8 {
        let mut s = TcpStream::connect(rs_addr).unwrap();
        if closed_within(&mut s, Duration::from_millis(200)) {
            rs_refused += 1;
        } else {
            held.push(s);
        }
    }
    assert!(held.len() <= 4, "{} RawSocket connections held", held.len());
    assert!(rs_refused >= 4);
}
