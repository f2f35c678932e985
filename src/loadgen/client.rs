//! A minimal asynchronous WAMP client for the generator's shards: WebSocket
//! (async-tungstenite) or RawSocket (the crate's framing) over glommio's
//! `TcpStream`, the crate's codecs, and a writer task that batches whatever
//! was queued since its last write into one flush.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures_util::{SinkExt, StreamExt};
use glommio::net::TcpStream;

use super::options::{Target, Transport};
use crate::codec::Serializer;
use crate::transport::rawsocket::{self, Frame, FrameKind};
use crate::wamp::message::Message;
use crate::wamp::value::{Dict, Value};

/// Why a client failed.
#[derive(Debug, Clone)]
pub(crate) struct ClientError(pub String);

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(what: impl std::fmt::Display) -> ClientError {
    ClientError(what.to_string())
}

/// The roles and features every generator session announces.
pub(crate) fn roles() -> Dict {
    let f = |features: Dict| Value::Dict(crate::dict! { "features" => Value::Dict(features) });
    crate::dict! {
        "publisher" => f(crate::dict! { "publisher_exclusion" => true }),
        "subscriber" => f(Dict::new()),
        "caller" => f(crate::dict! { "progressive_call_results" => true }),
        "callee" => f(crate::dict! {
            "progressive_call_results" => true,
            "shared_registration" => true
        }),
    }
}

/// Opens a TCP connection to `addr`, from `source` when given.
///
/// glommio's `TcpStream::connect` cannot bind, so a sourced socket is made
/// with socket2: `IP_BIND_ADDRESS_NO_PORT` (the port is chosen at connect
/// time, by the whole 4-tuple), bound, connected without blocking, and handed
/// to glommio while the connect is in progress; the first write waits for it.
async fn tcp_connect(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream, ClientError> {
    let Some(src) = source else {
        let s = TcpStream::connect(addr)
            .await
            .map_err(|e| err(format!("connect {addr}: {e}")))?;
        let _ = s.set_nodelay(true);
        return Ok(s);
    };
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .map_err(|e| err(format!("socket: {e}")))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
    let one: libc::c_int = 1;
    // SAFETY: `fd` is an open socket; the option value is a c_int that lives
    // across the call. Failure only means the port is chosen at bind time.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    s.bind(&SocketAddr::new(src, 0).into())
        .map_err(|e| err(format!("bind {src}: {e}")))?;
    s.set_nodelay(true)
        .map_err(|e| err(format!("nodelay: {e}")))?;
    s.set_nonblocking(true)
        .map_err(|e| err(format!("nonblocking: {e}")))?;
    match s.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(err(format!("connect {addr} from {src}: {e}"))),
    }
    // SAFETY: the descriptor is an open, non-blocking TCP socket whose
    // ownership moves to the glommio stream (`into_raw_fd` gives it up).
    Ok(unsafe { TcpStream::from_raw_fd(s.into_raw_fd()) })
}

/// A single-task wake-up: the writer waits on it, pushes notify it.
#[derive(Default)]
struct Notify {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

enum Queue {
    Ws(Vec<WsMessage>),
    Raw(BytesMut),
}

/// The sending half of a session: messages are encoded when queued and
/// written by the session's writer task, every queued message in one flush.
pub(crate) struct Sender {
    serializer: Serializer,
    peer_max: usize,
    queue: RefCell<Queue>,
    scratch: RefCell<Vec<u8>>,
    notify: Notify,
    failed: Cell<bool>,
}

impl Sender {
    /// Queues a message; `false` when it cannot be encoded or the connection failed.
    pub fn push(&self, msg: &Message) -> bool {
        if self.failed.get() {
            return false;
        }
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        if self.serializer.encode_into(msg, &mut scratch).is_err() {
            return false;
        }
        match &mut *self.queue.borrow_mut() {
            Queue::Raw(buf) => {
                if rawsocket::encode_frame(FrameKind::Message, &scratch, self.peer_max, buf)
                    .is_err()
                {
                    return false;
                }
            }
            Queue::Ws(q) => {
                let bytes = Bytes::copy_from_slice(&scratch);
                let m = if self.serializer.is_binary() {
                    WsMessage::Binary(bytes)
                } else {
                    match Utf8Bytes::try_from(bytes) {
                        Ok(t) => WsMessage::Text(t),
                        Err(_) => return false,
                    }
                };
                q.push(m);
            }
        }
        self.notify.notify();
        true
    }

    /// Whether writing failed (the connection is gone).
    pub fn failed(&self) -> bool {
        self.failed.get()
    }
}

enum Rx {
    Ws(WebSocketReceiver<TcpStream>),
    Raw {
        r: ReadHalf<TcpStream>,
        decoder: rawsocket::FrameDecoder,
        buf: BytesMut,
        chunk: Vec<u8>,
    },
}

/// The receiving half of a session.
pub(crate) struct Receiver {
    serializer: Serializer,
    rx: Rx,
    pong: Option<Rc<Sender>>,
}

impl Receiver {
    /// The next WAMP message; `Ok(None)` when the router closed the connection.
    pub async fn next(&mut self) -> Result<Option<Message>, ClientError> {
        match self.next_frame().await? {
            None => Ok(None),
            Some(f) => self.decode(&f).map(Some),
        }
    }

    /// Decodes a frame from [`Receiver::next_frame`].
    pub fn decode(&self, frame: &Bytes) -> Result<Message, ClientError> {
        self.serializer.decode(frame).map_err(err)
    }

    /// The serializer this session speaks.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// The next WAMP message still encoded; `Ok(None)` when the router closed
    /// the connection.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            match &mut self.rx {
                Rx::Ws(rx) => match rx.next().await {
                    None => return Ok(None),
                    Some(Ok(WsMessage::Text(t))) => return Ok(Some(Bytes::from(t))),
                    Some(Ok(WsMessage::Binary(b))) => return Ok(Some(b)),
                    Some(Ok(WsMessage::Close(_))) => return Ok(None),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(err(e)),
                },
                Rx::Raw {
                    r,
                    decoder,
                    buf,
                    chunk,
                } => {
                    match decoder.decode(buf).map_err(err)? {
                        Some(Frame::Message(m)) => return Ok(Some(m)),
                        Some(Frame::Ping(p)) => {
                            if let Some(tx) = &self.pong {
                                if let Queue::Raw(q) = &mut *tx.queue.borrow_mut() {
                                    let _ = rawsocket::encode_frame(
                                        FrameKind::Pong,
                                        &p,
                                        tx.peer_max,
                                        q,
                                    );
                                }
                                tx.notify.notify();
                            }
                            continue;
                        }
                        Some(Frame::Pong(_)) => continue,
                        None => {}
                    }
                    let n = r.read(chunk).await.map_err(err)?;
                    if n == 0 {
                        return Ok(None);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
}

/// An open, joined session.
pub(crate) struct Session {
    /// The sending half.
    pub tx: Rc<Sender>,
    /// The receiving half.
    pub rx: Receiver,
    /// The writer task: dropping it cancels it, and the socket closes once
    /// the receiver is dropped too.
    pub writer: glommio::Task<()>,
}

/// Connects, handshakes and joins `realm`. `read_buf` sizes the receive buffer.
pub(crate) async fn open(
    target: &Target,
    serializer: Serializer,
    realm: &str,
    source: Option<IpAddr>,
    read_buf: usize,
) -> Result<Session, ClientError> {
    let stream = tcp_connect(target.addr, source).await?;
    let (tx, rx, writer) = match target.transport {
        Transport::WebSocket => {
            let mut req = target
                .url
                .as_str()
                .into_client_request()
                .map_err(|e| err(format!("{}: {e}", target.url)))?;
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(serializer.subprotocol()),
            );
            let cfg = WebSocketConfig::default().read_buffer_size(read_buf);
            let (ws, resp) = async_tungstenite::client_async_with_config(req, stream, Some(cfg))
                .await
                .map_err(|e| err(format!("WebSocket handshake with {}: {e}", target.url)))?;
            let proto = resp
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok());
            if proto != Some(serializer.subprotocol()) {
                return Err(err(format!(
                    "the router chose subprotocol {proto:?}, not {}",
                    serializer.subprotocol()
                )));
            }
            let (wtx, wrx) = ws.split();
            let tx = Rc::new(Sender {
                serializer,
                peer_max: usize::MAX,
                queue: RefCell::new(Queue::Ws(Vec::new())),
                scratch: RefCell::new(Vec::new()),
                notify: Notify::default(),
                failed: Cell::new(false),
            });
            let writer = glommio::spawn_local(ws_writer(tx.clone(), wtx));
            (tx, Rx::Ws(wrx), writer)
        }
        Transport::RawSocket => {
            let (mut r, mut w) = futures_lite::io::split(stream);
            w.write_all(&rawsocket::client_handshake(24, serializer))
                .await
                .map_err(|e| err(format!("RawSocket handshake with {}: {e}", target.url)))?;
            w.flush().await.map_err(err)?;
            let mut reply = [0u8; 4];
            r.read_exact(&mut reply)
                .await
                .map_err(|e| err(format!("RawSocket handshake with {}: {e}", target.url)))?;
            let hs = rawsocket::parse_server_handshake(reply, serializer)
                .map_err(|e| err(format!("RawSocket handshake with {}: {e}", target.url)))?;
            let tx = Rc::new(Sender {
                serializer,
                peer_max: hs.max_len(),
                queue: RefCell::new(Queue::Raw(BytesMut::new())),
                scratch: RefCell::new(Vec::new()),
                notify: Notify::default(),
                failed: Cell::new(false),
            });
            let writer = glommio::spawn_local(raw_writer(tx.clone(), w));
            let rx = Rx::Raw {
                r,
                decoder: rawsocket::FrameDecoder::new(rawsocket::MAX_FRAME_LEN),
                buf: BytesMut::new(),
                chunk: vec![0u8; read_buf.max(512)],
            };
            (tx, rx, writer)
        }
    };
    let mut rx = Receiver {
        serializer,
        rx,
        pong: Some(tx.clone()),
    };
    tx.push(&Message::Hello {
        realm: realm.to_owned(),
        details: crate::dict! { "roles" => Value::Dict(roles()) },
    });
    match rx.next().await? {
        Some(Message::Welcome { .. }) => {}
        Some(Message::Abort { reason, .. }) => {
            return Err(err(format!("joining '{realm}': ABORT {reason}")))
        }
        Some(Message::Challenge { auth_method, .. }) => {
            return Err(err(format!(
                "joining '{realm}': the router asks for {auth_method} authentication"
            )))
        }
        Some(other) => {
            return Err(err(format!(
                "joining '{realm}': expected WELCOME, got {}",
                other.message_type().name()
            )))
        }
        None => return Err(err(format!("joining '{realm}': connection closed"))),
    }
    Ok(Session { tx, rx, writer })
}

async fn ws_writer(tx: Rc<Sender>, mut sink: WebSocketSender<TcpStream>) {
    loop {
        tx.notify.wait().await;
        let batch = match &mut *tx.queue.borrow_mut() {
            Queue::Ws(q) => std::mem::take(q),
            Queue::Raw(_) => return,
        };
        for m in batch {
            if sink.feed(m).await.is_err() {
                tx.failed.set(true);
                return;
            }
        }
        if sink.flush().await.is_err() {
            tx.failed.set(true);
            return;
        }
    }
}

async fn raw_writer(tx: Rc<Sender>, mut w: WriteHalf<TcpStream>) {
    let mut out = BytesMut::new();
    loop {
        tx.notify.wait().await;
        if let Queue::Raw(q) = &mut *tx.queue.borrow_mut() {
            std::mem::swap(q, &mut out);
        }
        if !out.is_empty() {
            if w.write_all(&out).await.is_err() || w.flush().await.is_err() {
                tx.failed.set(true);
                return;
            }
            out.clear();
        }
    }
}
