//! How connections end: the WebSocket closing handshake (RFC 6455, 7) with
//! the right close codes — the echo of a client's Close, 1001 at shutdown,
//! 1009 for an oversize message, the wait for the peer's Close bounded by
//! `close_handshake_timeout` — and a RawSocket connection failed for an
//! over-length frame closed with a FIN, not a reset. A router-initiated
//! GOODBYE (a kill here) ends the connection once the client's GOODBYE
//! arrives, or after the router's bounded wait when none comes, over
//! WebSocket (Close 1000) and RawSocket (EOF). Also the WebSocket
//! options that shape frames: `auto_fragment_size` and `auto_ping_size`; and
//! Crossbar.io's `fail_by_drop` and `allow_null_origin`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{listener, open_realm};
use shardwamp::client::blocking::Wire;
use shardwamp::codec::Serializer;
use shardwamp::router::GOODBYE_REPLY_WAIT_MS;
use shardwamp::shard::{self, CoreOp, RouterHandle, RouterSpec};
use shardwamp::transport::blocking::{RawSocket, Stream};
use shardwamp::transport::rawsocket;
use shardwamp::transport::{ListenerKind, WebSocketOptions};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::FrameSocket;
use tungstenite::{Message as WsMessage, WebSocket};

fn start(ws: impl FnOnce(&mut WebSocketOptions), rs_max: usize) -> RouterHandle {
    let mut w = listener(0, "ws", true, None);
    if let ListenerKind::WebSocket(o) = &mut w.kind {
        ws(o);
    }
    let mut r = listener(1, "rs", false, None);
    if let ListenerKind::RawSocket(o) = &mut r.kind {
        o.max_message_size = rs_max;
    }
    shard::start(RouterSpec {
        shards: 1,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![open_realm("realm1")],
        listeners: vec![w, r],
        seed: Some(7),
        realm_transports: Vec::new(),
        router_key: None,
    })
    .unwrap()
}

/// A plain tungstenite client speaking wamp.2.json (it answers pings and
/// Close frames itself, as clients do).
fn connect(addr: SocketAddr) -> WebSocket<TcpStream> {
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    tungstenite::client(req, stream).unwrap().0
}

fn hello(ws: &mut WebSocket<TcpStream>) {
    let hello =
        r#"[1,"realm1",{"roles":{"subscriber":{},"publisher":{},"caller":{},"callee":{}}}]"#;
    ws.send(WsMessage::text(hello)).unwrap();
}

/// Reads until a Close frame arrives (skipping WAMP messages); its code.
fn close_code(ws: &mut WebSocket<TcpStream>) -> Option<CloseCode> {
    loop {
        match ws.read() {
            Ok(WsMessage::Close(f)) => return f.map(|f| f.code),
            Ok(_) => continue,
            Err(e) => panic!("no Close frame before: {e}"),
        }
    }
}

/// Reads the raw socket to its end: true for an orderly EOF, false for a reset.
fn ends_with_eof(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return false,
            Err(e) => panic!("reading: {e}"),
        }
    }
}

#[test]
fn a_clients_close_is_answered_with_the_same_code() {
    let router = start(|_| {}, 1 << 24);
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    hello(&mut ws);
    assert!(matches!(ws.read().unwrap(), WsMessage::Text(_)), "WELCOME");
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    }))
    .unwrap();
    // The router's reply, then the end of the connection (the server closes TCP).
    assert_eq!(close_code(&mut ws), Some(CloseCode::Away));
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the connection to end cleanly, got {other:?}"),
    }
}

#[test]
fn shutdown_closes_with_going_away() {
    let router = start(|_| {}, 1 << 24);
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    hello(&mut ws);
    assert!(matches!(ws.read().unwrap(), WsMessage::Text(_)), "WELCOME");
    router.shutdown("wamp.close.system_shutdown");
    // GOODBYE first, then Close 1001.
    match ws.read().unwrap() {
        WsMessage::Text(t) => assert!(t.as_str().starts_with("[6,"), "GOODBYE: {t}"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert_eq!(close_code(&mut ws), Some(CloseCode::Away));
    router.join().unwrap();
}

#[test]
fn an_oversize_message_gets_close_code_1009() {
    let router = start(
        |o| {
            o.max_message_size = 1024;
            o.max_frame_size = 1024;
        },
        1 << 24,
    );
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    send_oversize(&mut ws);
    assert_eq!(close_code(&mut ws), Some(CloseCode::Size));
    let stats = router_stats(&router);
    assert_eq!(stats, (0, 1), "(protocol errors, oversize messages)");
}

/// Joins, then publishes a message of 4 KiB (over a 1 KiB limit).
fn send_oversize(ws: &mut WebSocket<TcpStream>) {
    hello(ws);
    assert!(matches!(ws.read().unwrap(), WsMessage::Text(_)), "WELCOME");
    let big = format!(r#"[16,1,{{}},"com.big",["{}"]]"#, "x".repeat(4096));
    ws.send(WsMessage::text(big)).unwrap();
}

/// The shard's (transport_protocol_errors, oversize_messages).
fn router_stats(router: &RouterHandle) -> (u64, u64) {
    router
        .shard_stats()
        .iter()
        .map(|s| (s.transport_protocol_errors, s.oversize_messages))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[test]
fn the_wait_for_the_peers_close_is_bounded_by_close_handshake_timeout() {
    let router = start(|o| o.close_handshake_timeout = 300, 1 << 24);
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    hello(&mut ws);
    assert!(matches!(ws.read().unwrap(), WsMessage::Text(_)), "WELCOME");
    // A second HELLO on a joined session: the router ABORTs (protocol
    // violation) and closes with 1000. (After GOODBYE it would not close: the
    // connection waits for a new HELLO.)
    ws.send(WsMessage::text(r#"[1,"realm1",{"roles":{"caller":{}}}]"#))
        .unwrap();
    // A raw look at the socket, which must not answer the Close: read bytes
    // until EOF, timing from the first byte of the router's answer.
    let mut s = ws.get_ref().try_clone().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    let mut first = None;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {
                first.get_or_insert_with(Instant::now);
            }
            Err(e) => panic!("reading: {e}"),
        }
    }
    let waited = first.expect("the router wrote ABORT and Close").elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(900),
        "the router dropped the connection {waited:?} after its Close (timeout 300 ms)"
    );
}

#[test]
fn an_over_length_rawsocket_frame_closes_with_eof_not_reset() {
    let router = start(|_| {}, 1024);
    let addr = router.tcp_addr("rs").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&rawsocket::client_handshake(24, Serializer::Json))
        .unwrap();
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[1] & 0x0f, 1, "JSON accepted: {reply:02x?}");
    // A message frame of 8 KiB against a limit of 1 KiB, sent whole.
    let len = 8192u32;
    let mut frame = vec![0u8, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    frame.extend(std::iter::repeat_n(b' ', len as usize));
    s.write_all(&frame).unwrap();
    assert!(ends_with_eof(&mut s), "the router reset the connection");
    assert_eq!(router_stats(&router), (0, 1));
}

#[test]
fn auto_fragment_size_cuts_outgoing_messages_into_frames() {
    let router = start(|o| o.auto_fragment_size = 16, 1 << 24);
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    let raw = ws.get_ref().try_clone().unwrap();
    hello(&mut ws);
    // The WELCOME, read frame by frame.
    let mut frames = FrameSocket::new(raw);
    let mut sizes = Vec::new();
    let mut message = Vec::new();
    loop {
        let f = frames.read(None).unwrap().expect("a frame");
        let h = f.header();
        let want = if sizes.is_empty() {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        assert_eq!(h.opcode, want, "frame {}", sizes.len());
        let fin = h.is_final;
        sizes.push(f.payload().len());
        message.extend_from_slice(f.payload());
        if fin {
            break;
        }
    }
    assert!(sizes.len() > 2, "WELCOME in {sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 16), "frame sizes {sizes:?}");
    let text = String::from_utf8(message).unwrap();
    assert!(text.starts_with("[2,"), "WELCOME: {text}");
}

#[test]
fn pings_carry_auto_ping_size_random_bytes_and_only_their_echo_counts() {
    let router = start(
        |o| {
            o.auto_ping_interval = 100;
            o.auto_ping_timeout = 200;
            o.auto_ping_size = 17;
        },
        1 << 24,
    );
    let addr = router.tcp_addr("ws").unwrap();
    // A client that answers pings (tungstenite echoes them) stays.
    let mut good = connect(addr);
    hello(&mut good);
    let mut pings = Vec::new();
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        match good.read().unwrap() {
            WsMessage::Ping(p) => pings.push(p),
            WsMessage::Text(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings.len() >= 3, "pings: {pings:?}");
    assert!(pings.iter().all(|p| p.len() == 17), "ping sizes: {pings:?}");
    assert_ne!(pings[0], pings[1], "ping payloads are random");
    // A client that answers with pongs that do not echo the ping is dropped.
    let mut bad = connect(addr);
    hello(&mut bad);
    let start = Instant::now();
    let dropped = loop {
        if start.elapsed() > Duration::from_secs(3) {
            break false;
        }
        // Sending (not reading) keeps tungstenite from answering the pings.
        if bad
            .send(WsMessage::Pong(b"not-the-payload".to_vec().into()))
            .is_err()
        {
            break true;
        }
        std::thread::sleep(Duration::from_millis(30));
    };
    assert!(dropped, "a client answering with wrong pongs was kept");
}

#[test]
fn zero_max_sizes_mean_unlimited() {
    let router = start(
        |o| {
            o.max_message_size = 0;
            o.max_frame_size = 0;
        },
        1 << 24,
    );
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    hello(&mut ws);
    assert!(matches!(ws.read().unwrap(), WsMessage::Text(_)), "WELCOME");
    // A CALL to a procedure nobody registered: an ERROR comes back, the
    // connection stays.
    let call = format!(r#"[48,1,{{}},"com.nothing",["{}"]]"#, "x".repeat(64 * 1024));
    ws.send(WsMessage::text(call)).unwrap();
    match ws.read().unwrap() {
        WsMessage::Text(t) => assert!(t.as_str().starts_with("[8,48,1,"), "ERROR: {t}"),
        other => panic!("expected an ERROR, got {other:?}"),
    }
}

/// `fail_by_drop`: a connection failed for a message over the limit gets no
/// Close frame, only the end of the TCP stream; without it, 1009.
#[test]
fn fail_by_drop_ends_a_failed_connection_without_a_close_frame() {
    let router = start(
        |o| {
            o.max_message_size = 1024;
            o.max_frame_size = 1024;
            o.fail_by_drop = true;
        },
        1 << 24,
    );
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    send_oversize(&mut ws);
    loop {
        match ws.read() {
            Ok(WsMessage::Close(f)) => panic!("a Close frame came: {f:?}"),
            Ok(_) => continue,
            Err(_) => break, // the stream ended without a closing handshake
        }
    }
    assert_eq!(router_stats(&router), (0, 1), "still counted");
}

/// `allow_null_origin` lets `Origin: null` in past `allowed_origins`; without
/// it, `null` is an origin like any other and refused.
#[test]
fn allow_null_origin_admits_the_null_origin_only_when_set() {
    for allow in [false, true] {
        let router = start(
            |o| {
                o.allowed_origins = vec!["https://app.example.com".into()];
                o.allow_null_origin = allow;
            },
            1 << 24,
        );
        let addr = router.tcp_addr("ws").unwrap();
        for (origin, admitted) in [
            ("null", allow),
            ("https://app.example.com", true),
            ("https://evil.example.com", false),
        ] {
            let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
            req.headers_mut().insert("Origin", origin.parse().unwrap());
            let stream = TcpStream::connect(addr).unwrap();
            let result = tungstenite::client(req, stream);
            assert_eq!(
                result.is_ok(),
                admitted,
                "allow_null_origin = {allow}, Origin: {origin}"
            );
        }
        router.shutdown("wamp.close.system_shutdown");
        router.join().unwrap();
    }
}

/// Kills every session of realm1 (GOODBYE `wamp.close.killed`), as
/// `kill_by_authid` does.
fn kill_all(router: &RouterHandle) {
    let killed = futures_lite::future::block_on(router.on_all(|reply| CoreOp::Kill {
        realm: 0,
        authid: None,
        authrole: None,
        reason: "wamp.close.killed".into(),
        message: None,
        reply,
    }));
    assert_eq!(killed.concat().len(), 1, "one session killed");
}

const GOODBYE_REPLY: &str = r#"[6,{},"wamp.close.goodbye_and_out"]"#;

fn is_goodbye(frame: &[u8]) -> bool {
    frame.starts_with(b"[6,")
}

/// The wait for a client's GOODBYE: about `GOODBYE_REPLY_WAIT_MS`.
fn waited_for_goodbye(waited: Duration) -> bool {
    let bound = Duration::from_millis(GOODBYE_REPLY_WAIT_MS);
    waited >= bound - Duration::from_millis(300) && waited < bound + Duration::from_secs(2)
}

/// A WebSocket client joined to realm1 that the router then kills: it has
/// read the router's GOODBYE.
fn ws_killed(router: &RouterHandle) -> WebSocket<TcpStream> {
    let mut ws = connect(router.tcp_addr("ws").unwrap());
    hello(&mut ws);
    assert!(matches!(ws.read().unwrap(), WsMessage::Text(_)), "WELCOME");
    kill_all(router);
    match ws.read().unwrap() {
        WsMessage::Text(t) => assert!(is_goodbye(t.as_bytes()), "GOODBYE: {t}"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    ws
}

/// The router's Close 1000, then the end of the connection.
fn ws_closes_normally(ws: &mut WebSocket<TcpStream>) {
    assert_eq!(close_code(ws), Some(CloseCode::Normal));
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the connection to end cleanly, got {other:?}"),
    }
}

#[test]
fn a_router_goodbye_closes_the_websocket_after_the_clients_reply() {
    let router = start(|_| {}, 1 << 24);
    let mut ws = ws_killed(&router);
    // The router waits for the reply; what else the client sends meanwhile
    // is ignored (the spec's SHUTTING DOWN state).
    ws.send(WsMessage::text(r#"[16,1,{"acknowledge":true},"com.x"]"#))
        .unwrap();
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    match ws.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected nothing before the reply, got {other:?}"),
    }
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let replied = Instant::now();
    ws.send(WsMessage::text(GOODBYE_REPLY)).unwrap();
    ws_closes_normally(&mut ws);
    assert!(
        replied.elapsed() < Duration::from_millis(1000),
        "closed at once"
    );
}

#[test]
fn a_router_goodbye_closes_the_websocket_after_a_bounded_wait_without_a_reply() {
    let router = start(|_| {}, 1 << 24);
    let mut ws = ws_killed(&router);
    let sent = Instant::now();
    ws_closes_normally(&mut ws);
    let waited = sent.elapsed();
    assert!(waited_for_goodbye(waited), "closed after {waited:?}");
}

/// A RawSocket client (JSON) joined to realm1.
fn rawsocket_joined(router: &RouterHandle) -> RawSocket {
    let s = TcpStream::connect(router.tcp_addr("rs").unwrap()).unwrap();
    let stream: Box<dyn Stream> = Box::new(s);
    let mut rs = RawSocket::handshake(stream, Serializer::Json).unwrap();
    rs.set_timeout(Duration::from_secs(5));
    rs.send(br#"[1,"realm1",{"roles":{"caller":{}}}]"#.to_vec())
        .unwrap();
    assert!(rs.recv().unwrap().starts_with(b"[2,"), "WELCOME");
    rs
}

/// Reads until the connection ends: true for EOF.
fn rawsocket_ends(rs: &mut RawSocket) -> bool {
    loop {
        match rs.recv() {
            Ok(_) => continue,
            Err(e) => return e.kind() == ErrorKind::UnexpectedEof,
        }
    }
}

#[test]
fn a_router_goodbye_closes_the_rawsocket_after_the_clients_reply() {
    let router = start(|_| {}, 1 << 24);
    let mut rs = rawsocket_joined(&router);
    kill_all(&router);
    assert!(is_goodbye(&rs.recv().unwrap()), "GOODBYE");
    let replied = Instant::now();
    rs.send(GOODBYE_REPLY.as_bytes().to_vec()).unwrap();
    assert!(rawsocket_ends(&mut rs), "EOF");
    assert!(
        replied.elapsed() < Duration::from_millis(1000),
        "closed at once"
    );
}

#[test]
fn a_router_goodbye_closes_the_rawsocket_after_a_bounded_wait_without_a_reply() {
    let router = start(|_| {}, 1 << 24);
    let mut rs = rawsocket_joined(&router);
    kill_all(&router);
    assert!(is_goodbye(&rs.recv().unwrap()), "GOODBYE");
    let sent = Instant::now();
    assert!(rawsocket_ends(&mut rs), "EOF");
    let waited = sent.elapsed();
    assert!(waited_for_goodbye(waited), "closed after {waited:?}");
}
