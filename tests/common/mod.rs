//! A small blocking WAMP test client over WebSocket (tungstenite) or RawSocket,
//! and helpers to start a router on port 0.
#![allow(dead_code)]

pub mod interop;
pub mod links;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use shardwamp::codec::Serializer;
use shardwamp::config::auth::TransportAuth;
use shardwamp::config::realm::RealmConfig;
use shardwamp::config::role::{Allow, Disclose, Permission, RoleConfig};
use shardwamp::dict;
use shardwamp::shard::{RouterHandle, RouterSpec};
use shardwamp::sim::all_roles;
use shardwamp::transport::rawsocket;
use shardwamp::transport::{
    EndpointSpec, ListenerKind, ListenerSpec, QueueLimits, RawSocketOptions, WebSocketOptions,
};
use shardwamp::wamp::message::Message;
use shardwamp::wamp::uri::MatchPolicy;
use shardwamp::wamp::value::{Dict, Value};
use tungstenite::client::IntoClientRequest;

/// `realm1` with `anonymous` allowed everything.
pub fn open_realm(name: &str) -> RealmConfig {
    let all = Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    };
    let perm = Permission {
        uri: "".into(),
        match_: Some(MatchPolicy::Prefix),
        allow: all,
        disclose: Disclose::default(),
        cache: false,
    };
    RealmConfig::new(
        name,
        vec![RoleConfig {
            name: "anonymous".into(),
            permissions: vec![perm],
            authorizer: None,
            allow_by_default: false,
        }],
    )
}

/// A listener spec on 127.0.0.1:0.
pub fn listener(id: u32, name: &str, websocket: bool, shards: Option<Vec<usize>>) -> ListenerSpec {
    ListenerSpec {
        id,
        name: name.into(),
        kind: if websocket {
            ListenerKind::WebSocket(WebSocketOptions::default())
        } else {
            ListenerKind::RawSocket(RawSocketOptions::default())
        },
        endpoint: EndpointSpec::Tcp("127.0.0.1:0".parse().unwrap()),
        serializers: Serializer::ALL.to_vec(),
        auth: TransportAuth::anonymous_only("anonymous"),
        queue: QueueLimits::default(),
        shards,
        backlog: 1024,
        limits: shardwamp::config::ConnectionLimits::default(),
        gauge: Default::default(),
        tls: None,
    }
}

/// Starts a router with `shards` shards: `ws` and `rs` on every shard, and
/// `ws<N>` pinned to shard N (to place sessions on chosen shards).
pub fn start(shards: usize) -> RouterHandle {
    let mut listeners = vec![
        listener(0, "ws", true, None),
        listener(1, "rs", false, None),
    ];
    for s in 0..shards {
        listeners.push(listener(
            2 + s as u32,
            &format!("ws{s}"),
            true,
            Some(vec![s]),
        ));
    }
    let spec = RouterSpec {
        shards,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![open_realm("realm1")],
        listeners,
        seed: Some(42),
        realm_transports: Vec::new(),
        router_key: None,
    };
    shardwamp::shard::start(spec).expect("router starts")
}

enum Conn {
    Ws(Box<tungstenite::WebSocket<TcpStream>>),
    Raw(TcpStream, rawsocket::FrameDecoder, bytes::BytesMut),
}

/// A blocking WAMP client.
pub struct Client {
    conn: Conn,
    pub serializer: Serializer,
    pub session: u64,
}

impl Client {
    /// Opens a WebSocket connection speaking `serializer`.
    pub fn websocket(addr: SocketAddr, path: &str, serializer: Serializer) -> Client {
        let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            serializer.subprotocol().parse().unwrap(),
        );
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (ws, resp) = tungstenite::client(req, stream).unwrap();
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(serializer.subprotocol())
        );
        Client {
            conn: Conn::Ws(Box::new(ws)),
            serializer,
            session: 0,
        }
    }

    /// Opens a RawSocket connection speaking `serializer`.
    pub fn rawsocket(addr: SocketAddr, serializer: Serializer) -> Client {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&rawsocket::client_handshake(24, serializer))
            .unwrap();
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply[0], 0x7f);
        assert_eq!(
            reply[1] & 0x0f,
            serializer.rawsocket_id(),
            "handshake reply {reply:02x?}"
        );
        Client {
            conn: Conn::Raw(
                s,
                rawsocket::FrameDecoder::new(1 << 24),
                bytes::BytesMut::new(),
            ),
            serializer,
            session: 0,
        }
    }

    /// Sends a message.
    pub fn send(&mut self, m: &Message) {
        let frame = self.serializer.encode(m).unwrap();
        match &mut self.conn {
            Conn::Ws(ws) => {
                let msg = if self.serializer.is_binary() {
                    tungstenite::Message::Binary(frame.into())
                } else {
                    tungstenite::Message::Text(String::from_utf8(frame).unwrap().into())
                };
                ws.send(msg).unwrap();
            }
            Conn::Raw(s, _, _) => {
                let mut out = bytes::BytesMut::new();
                rawsocket::encode_frame(rawsocket::FrameKind::Message, &frame, 1 << 24, &mut out)
                    .unwrap();
                s.write_all(&out).unwrap();
            }
        }
    }

    /// The next message, or `None` when the router closed the connection.
    pub fn recv(&mut self) -> Option<Message> {
        loop {
            match &mut self.conn {
                Conn::Ws(ws) => match ws.read() {
                    Ok(tungstenite::Message::Text(t)) => {
                        return Some(
                            self.serializer
                                .decode(&Bytes::from(t.as_str().to_owned()))
                                .unwrap(),
                        )
                    }
                    Ok(tungstenite::Message::Binary(b)) => {
                        return Some(self.serializer.decode(&b).unwrap())
                    }
                    Ok(_) => continue,
                    Err(_) => return None,
                },
                Conn::Raw(s, dec, buf) => {
                    match dec.decode(buf) {
                        Ok(Some(rawsocket::Frame::Message(m))) => {
                            return Some(self.serializer.decode(&m).unwrap())
                        }
                        Ok(Some(_)) => continue,
                        Ok(None) => {}
                        Err(_) => return None,
                    }
                    let mut chunk = [0u8; 8192];
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            }
        }
    }

    /// Joins `realm`; returns WELCOME.Details.
    pub fn join(&mut self, realm: &str) -> Dict {
        self.send(&Message::Hello {
            realm: realm.into(),
            details: dict! { "roles" => Value::Dict(all_roles()) },
        });
        match self.recv() {
            Some(Message::Welcome { session, details }) => {
                self.session = session;
                details
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    /// Receives until `pred` matches, returning the match (panics on close).
    pub fn expect(&mut self, what: &str, mut pred: impl FnMut(&Message) -> bool) -> Message {
        loop {
            match self.recv() {
                Some(m) if pred(&m) => return m,
                Some(_) => continue,
                None => panic!("connection closed while waiting for {what}"),
            }
        }
    }
}
