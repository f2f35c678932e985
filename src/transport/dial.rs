//! Dialing a router: WebSocket (async-tungstenite) or RawSocket (the crate's
//! framing) over any connected glommio stream — TCP, Unix, or a TLS stream
//! wrapping either ([`TlsDialer`]) — driving the sans-IO [`ClientSession`].
//!
//! Two levels:
//!
//! - **Frames** ([`handshake`] -> [`Connection`]): a [`Sender`] that encodes
//!   messages as they are queued and a writer task that writes everything
//!   queued since its last write in one flush, and a [`Receiver`] that hands
//!   out frames still encoded (a caller may look at them before decoding, as
//!   the load generator's hot loop does) or decoded messages. [`join`] runs a
//!   session's opening (HELLO, CHALLENGE/AUTHENTICATE, WELCOME) over it.
//! - **Sessions** ([`Session::join`]): a joined session with an async API —
//!   call (progressive results, cancel), subscribe, register, publish, leave —
//!   whose reader task feeds the [`ClientSession`] and routes what it reports.
//!   This is the client a router-to-router link uses.
//!
//! `transport` owns dialing as it owns accepting; [`connect_tcp`] and
//! [`connect_unix`] open the streams.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::Path;
use std::rc::Rc;
use std::task::{Poll, Waker};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use futures_util::{SinkExt, StreamExt};
use glommio::net::{TcpStream, UnixStream};

use super::rawsocket::{self, Frame, FrameKind};
use crate::client::auth::ClientAuthenticator;
use crate::client::session::{
    values_of, CallError, ClientSession, Close, Event, Reply, Roles, SessionError,
};
use crate::codec::Serializer;
use crate::wamp::message::{Id, Message, Payload};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

/// Why dialing or a session failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DialError(pub String);

fn err(what: impl std::fmt::Display) -> DialError {
    DialError(what.to_string())
}

/// What a stream must be to carry a WAMP connection.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + 'static> Stream for S {}

/// The WAMP transport to speak over a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket: the URL (`ws://host:port/path`) names the host and path
    /// the opening handshake asks for.
    WebSocket {
        /// The URL.
        url: String,
    },
    /// RawSocket.
    RawSocket,
}

/// How to speak to the router.
#[derive(Debug, Clone)]
pub struct DialOptions {
    /// WebSocket or RawSocket.
    pub transport: Transport,
    /// The serializer to ask for.
    pub serializer: Serializer,
    /// The receive buffer size in bytes.
    pub read_buf: usize,
}

impl DialOptions {
    /// `transport` speaking `serializer`, with a 64 KiB receive buffer.
    pub fn new(transport: Transport, serializer: Serializer) -> DialOptions {
        DialOptions {
            transport,
            serializer,
            read_buf: 64 * 1024,
        }
    }
}

/// TLS for dialing: a rustls connector built once (trust, client
/// certificate) and the server name to check, for many connections.
#[derive(Clone)]
pub struct TlsDialer {
    connector: futures_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
}

/// A TLS stream over a dialed one.
pub type TlsStream<S> = futures_rustls::client::TlsStream<S>;

impl TlsDialer {
    /// A dialer for `host` (checked against the server's certificate unless
    /// `options.hostname` names another) with `options`' trust and client
    /// certificate.
    pub fn new(options: &super::TlsClientOptions, host: &str) -> Result<TlsDialer, DialError> {
        Ok(TlsDialer {
            connector: options.connector().map_err(err)?,
            name: options.server_name(host).map_err(err)?,
        })
    }

    /// Runs the TLS handshake over `stream`.
    pub async fn connect<S: Stream>(&self, stream: S) -> Result<TlsStream<S>, DialError> {
        self.connector
            .connect(self.name.clone(), stream)
            .await
            .map_err(|e| err(format!("TLS handshake: {e}")))
    }
}

/// What a dialed TLS stream tells (its `tls-exporter` channel binding, the
/// server certificate's fingerprint as `client_certificate_sha1`: the peer's).
pub fn tls_info<S>(stream: &TlsStream<S>) -> crate::router::TlsInfo {
    super::tls::client_tls_info(stream.get_ref().1)
}

/// What a dialed TLS stream offers a client authenticator for channel
/// binding (its `tls-exporter`): give it to
/// [`crate::client::auth::ClientAuthenticator::connected`] before joining.
pub fn tls_channel<S>(stream: &TlsStream<S>) -> crate::client::auth::TlsChannel {
    super::tls::client_tls_channel(stream.get_ref().1)
}

/// Opens a TCP connection to `addr` (with `TCP_NODELAY`), from `source` when given.
///
/// glommio's `TcpStream::connect` cannot bind, so a sourced socket is made
/// with socket2: `IP_BIND_ADDRESS_NO_PORT` (the port is chosen at connect
/// time, by the whole 4-tuple), bound, connected without blocking, and handed
/// to glommio while the connect is in progress; the first write waits for it.
pub async fn connect_tcp(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream, DialError> {
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

/// Opens a Unix socket connection to `path`.
pub async fn connect_unix(path: &Path) -> Result<UnixStream, DialError> {
    UnixStream::connect(path)
        .await
        .map_err(|e| err(format!("connect {}: {e}", path.display())))
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

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

/// The sending half of a connection: messages are encoded when queued and
/// written by the connection's writer task, every queued message in one flush.
pub struct Sender {
    serializer: Serializer,
    peer_max: usize,
    queue: RefCell<Queue>,
    scratch: RefCell<Vec<u8>>,
    notify: Notify,
    failed: Cell<bool>,
    closing: Cell<bool>,
    /// Bytes queued for a WebSocket writer (a RawSocket queue is one buffer).
    ws_queued: Cell<usize>,
    /// Bytes the writer has taken and not yet written (its batch in flight).
    in_flight: Cell<usize>,
}

impl Sender {
    fn new(serializer: Serializer, peer_max: usize, queue: Queue) -> Sender {
        Sender {
            serializer,
            peer_max,
            queue: RefCell::new(queue),
            scratch: RefCell::new(Vec::new()),
            notify: Notify::default(),
            failed: Cell::new(false),
            closing: Cell::new(false),
            ws_queued: Cell::new(0),
            in_flight: Cell::new(0),
        }
    }

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
                    // The JSON codec writes serde_json output and payload
                    // bytes it validated on the way in: valid UTF-8, as the
                    // router's own writer relies on (transport::serve).
                    debug_assert!(std::str::from_utf8(&bytes).is_ok());
                    // SAFETY: see above: every JSON frame is valid UTF-8.
                    WsMessage::Text(unsafe { Utf8Bytes::from_bytes_unchecked(bytes) })
                };
                self.ws_queued.set(self.ws_queued.get() + m.len());
                q.push(m);
            }
        }
        self.notify.notify();
        true
    }

    /// Bytes queued and not yet written, the writer's batch in flight
    /// included: how far a slow peer is behind.
    pub fn backlog_bytes(&self) -> usize {
        let queued = match &*self.queue.borrow() {
            Queue::Raw(buf) => buf.len(),
            Queue::Ws(_) => self.ws_queued.get(),
        };
        queued + self.in_flight.get()
    }

    /// Whether writing failed (the connection is gone).
    pub fn failed(&self) -> bool {
        self.failed.get()
    }

    /// The serializer messages are encoded with.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// Writes what is queued, then closes the writing side (a WebSocket
    /// close frame; a RawSocket write shutdown).
    pub fn close(&self) {
        self.closing.set(true);
        self.notify.notify();
    }
}

/// Where a session's outgoing messages go: a dialed connection's
/// [`Sender`], or an in-process connection of a router core (a link's local
/// leg, see `crate::component::open_session`).
pub trait Outgoing {
    /// Hands over a message; `false` when it cannot be sent.
    fn send(&self, msg: Message) -> bool;
    /// The session is over: release the connection.
    fn close(&self);
    /// Bytes handed over and not yet written (0 where nothing queues).
    fn backlog_bytes(&self) -> usize {
        0
    }
}

impl Outgoing for Sender {
    fn send(&self, msg: Message) -> bool {
        self.push(&msg)
    }

    fn close(&self) {
        Sender::close(self)
    }

    fn backlog_bytes(&self) -> usize {
        Sender::backlog_bytes(self)
    }
}

/// The messages that arrive for a session, in order; `None` when the
/// connection is gone.
pub type Incoming = std::pin::Pin<Box<dyn futures_lite::Stream<Item = Message>>>;

enum Rx<S: Stream> {
    Ws(WebSocketReceiver<S>),
    Raw {
        r: ReadHalf<S>,
        decoder: rawsocket::FrameDecoder,
        buf: BytesMut,
        chunk: Vec<u8>,
    },
}

/// The receiving half of a connection.
pub struct Receiver<S: Stream> {
    serializer: Serializer,
    rx: Rx<S>,
    pong: Option<Rc<Sender>>,
}

impl<S: Stream> Receiver<S> {
    /// The next WAMP message; `Ok(None)` when the router closed the connection.
    pub async fn next(&mut self) -> Result<Option<Message>, DialError> {
        match self.next_frame().await? {
            None => Ok(None),
            Some(f) => self.decode(&f).map(Some),
        }
    }

    /// Decodes a frame from [`Receiver::next_frame`].
    pub fn decode(&self, frame: &Bytes) -> Result<Message, DialError> {
        self.serializer.decode(frame).map_err(err)
    }

    /// The serializer this connection speaks.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// The next WAMP message still encoded; `Ok(None)` when the router closed
    /// the connection.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, DialError> {
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

/// An open connection, WAMP not yet joined.
pub struct Connection<S: Stream> {
    /// The sending half.
    pub tx: Rc<Sender>,
    /// The receiving half.
    pub rx: Receiver<S>,
    /// The writer task: dropping it cancels it, and the socket closes once
    /// the receiver is dropped too.
    pub writer: glommio::Task<()>,
}

/// Runs the transport's opening handshake over `stream`.
pub async fn handshake<S: Stream>(
    stream: S,
    options: &DialOptions,
) -> Result<Connection<S>, DialError> {
    let serializer = options.serializer;
    let (tx, rx, writer) = match &options.transport {
        Transport::WebSocket { url } => {
            let mut req = url
                .as_str()
                .into_client_request()
                .map_err(|e| err(format!("{url}: {e}")))?;
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(serializer.subprotocol()),
            );
            let cfg = WebSocketConfig::default().read_buffer_size(options.read_buf);
            let (ws, resp) = async_tungstenite::client_async_with_config(req, stream, Some(cfg))
                .await
                .map_err(|e| err(format!("WebSocket handshake with {url}: {e}")))?;
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
            let tx = Rc::new(Sender::new(serializer, usize::MAX, Queue::Ws(Vec::new())));
            let writer = glommio::spawn_local(ws_writer(tx.clone(), wtx));
            (tx, Rx::Ws(wrx), writer)
        }
        Transport::RawSocket => {
            let (mut r, mut w) = futures_lite::io::split(stream);
            w.write_all(&rawsocket::client_handshake(24, serializer))
                .await
                .map_err(|e| err(format!("RawSocket handshake: {e}")))?;
            w.flush().await.map_err(err)?;
            let mut reply = [0u8; 4];
            r.read_exact(&mut reply)
                .await
                .map_err(|e| err(format!("RawSocket handshake: {e}")))?;
            let hs = rawsocket::parse_server_handshake(reply, serializer)
                .map_err(|e| err(format!("RawSocket handshake: {e}")))?;
            let tx = Rc::new(Sender::new(
                serializer,
                hs.max_len(),
                Queue::Raw(BytesMut::new()),
            ));
            let writer = glommio::spawn_local(raw_writer(tx.clone(), w));
            let rx = Rx::Raw {
                r,
                decoder: rawsocket::FrameDecoder::new(rawsocket::MAX_FRAME_LEN),
                buf: BytesMut::new(),
                chunk: vec![0u8; options.read_buf.max(512)],
            };
            (tx, rx, writer)
        }
    };
    let rx = Receiver {
        serializer,
        rx,
        pong: Some(tx.clone()),
    };
    Ok(Connection { tx, rx, writer })
}

async fn ws_writer<S: Stream>(tx: Rc<Sender>, mut sink: WebSocketSender<S>) {
    loop {
        tx.notify.wait().await;
        let batch = match &mut *tx.queue.borrow_mut() {
            Queue::Ws(q) => std::mem::take(q),
            Queue::Raw(_) => return,
        };
        tx.in_flight.set(tx.ws_queued.replace(0));
        for m in batch {
            let len = m.len();
            if sink.feed(m).await.is_err() {
                tx.failed.set(true);
                return;
            }
            tx.in_flight.set(tx.in_flight.get().saturating_sub(len));
        }
        tx.in_flight.set(0);
        if sink.flush().await.is_err() {
            tx.failed.set(true);
            return;
        }
        if tx.closing.get() {
            let _ = sink.close(None).await;
            return;
        }
    }
}

async fn raw_writer<S: Stream>(tx: Rc<Sender>, mut w: WriteHalf<S>) {
    let mut out = BytesMut::new();
    loop {
        tx.notify.wait().await;
        if let Queue::Raw(q) = &mut *tx.queue.borrow_mut() {
            std::mem::swap(q, &mut out);
        }
        if !out.is_empty() {
            tx.in_flight.set(out.len());
            if w.write_all(&out).await.is_err() || w.flush().await.is_err() {
                tx.failed.set(true);
                return;
            }
            tx.in_flight.set(0);
            out.clear();
        }
        if tx.closing.get() {
            let _ = w.close().await;
            return;
        }
    }
}

/// Sends what the session queued.
fn transmit(session: &mut ClientSession, tx: &dyn Outgoing) {
    while let Some(m) = session.poll_transmit() {
        tx.send(m);
    }
}

/// Runs `session`'s opening over `conn`: HELLO, CHALLENGE/AUTHENTICATE,
/// until WELCOME (Ok) or ABORT (Err).
pub async fn join<S: Stream>(
    conn: &mut Connection<S>,
    session: &mut ClientSession,
) -> Result<(), DialError> {
    transmit(session, &*conn.tx);
    loop {
        let Some(msg) = conn.rx.next().await? else {
            session.transport_closed();
            return Err(err("connection closed while joining"));
        };
        let r = session.receive(msg);
        transmit(session, &*conn.tx);
        r.map_err(|e| err(format!("joining: {e}")))?;
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Joined { .. } => return Ok(()),
                Event::Closed(c) => {
                    return Err(err(format!("joining: ABORT {} {}", c.reason, c.message())))
                }
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

/// Values tasks wait for, possibly several in a row (every waiting task is
/// woken; one of them takes each value).
struct Mailbox<T> {
    items: RefCell<VecDeque<T>>,
    wakers: RefCell<Vec<Waker>>,
    closed: Cell<bool>,
}

impl<T> Mailbox<T> {
    fn new() -> Rc<Mailbox<T>> {
        Rc::new(Mailbox {
            items: RefCell::new(VecDeque::new()),
            wakers: RefCell::new(Vec::new()),
            closed: Cell::new(false),
        })
    }

    fn put(&self, v: T) {
        self.items.borrow_mut().push_back(v);
        self.wake();
    }

    fn close(&self) {
        self.closed.set(true);
        self.wake();
    }

    fn wake(&self) {
        for w in self.wakers.take() {
            w.wake();
        }
    }

    async fn next(&self) -> Option<T> {
        poll_fn(|cx| {
            if let Some(v) = self.items.borrow_mut().pop_front() {
                return Poll::Ready(Some(v));
            }
            if self.closed.get() {
                return Poll::Ready(None);
            }
            let mut wakers = self.wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// What a pending request's waiter receives.
enum Answer {
    Progress(Dict, Payload),
    Final(Result<Reply, CallError>),
}

/// An EVENT received on a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct EventData {
    /// The publication id.
    pub publication: Id,
    /// EVENT.Details.
    pub details: Dict,
    /// The payload, as received.
    pub payload: Payload,
}

/// An INVOCATION of a registration; answer it with [`Session::yield_result`]
/// or [`Session::invocation_error`].
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The invocation's request id.
    pub request: Id,
    /// INVOCATION.Details.
    pub details: Dict,
    /// The payload, as received.
    pub payload: Payload,
}

/// Where a SUBSCRIBE's or REGISTER's incoming messages go, filed by the
/// reader when the reply arrives (an EVENT or INVOCATION right behind it
/// may be routed before the requesting task runs again).
enum Filing {
    Subscription(Rc<Mailbox<EventData>>),
    Registration(Rc<Mailbox<Invocation>>),
}

struct Inner {
    wamp: RefCell<ClientSession>,
    filing: RefCell<HashMap<Id, Filing>>,
    tx: Rc<dyn Outgoing>,
    waiters: RefCell<HashMap<Id, Rc<Mailbox<Answer>>>>,
    subscriptions: RefCell<HashMap<Id, Rc<Mailbox<EventData>>>>,
    registrations: RefCell<HashMap<Id, Rc<Mailbox<Invocation>>>>,
    closed: Rc<Mailbox<Close>>,
    close: RefCell<Option<Close>>,
    /// INTERRUPTs of invocations: (invocation request id, options).
    interrupts: Rc<Mailbox<(Id, Dict)>>,
}

impl Inner {
    fn flush(&self) {
        transmit(&mut self.wamp.borrow_mut(), &*self.tx);
    }

    /// Routes what the session reported.
    fn dispatch(&self) {
        loop {
            let Some(ev) = self.wamp.borrow_mut().poll_event() else {
                return;
            };
            match ev {
                Event::Reply { request, reply } => {
                    let filing = self.filing.borrow_mut().remove(&request);
                    match (filing, &reply) {
                        (Some(Filing::Subscription(m)), Ok(Reply::Subscribed(id))) => {
                            self.subscriptions.borrow_mut().entry(*id).or_insert(m);
                        }
                        (Some(Filing::Registration(m)), Ok(Reply::Registered(id))) => {
                            self.registrations.borrow_mut().insert(*id, m);
                        }
                        _ => {}
                    }
                    if let Some(w) = self.waiters.borrow_mut().remove(&request) {
                        w.put(Answer::Final(reply));
                    }
                }
                Event::Progress {
                    request,
                    details,
                    payload,
                } => {
                    if let Some(w) = self.waiters.borrow().get(&request) {
                        w.put(Answer::Progress(details, payload));
                    }
                }
                Event::Event {
                    subscription,
                    publication,
                    details,
                    payload,
                } => {
                    if let Some(m) = self.subscriptions.borrow().get(&subscription) {
                        m.put(EventData {
                            publication,
                            details,
                            payload,
                        });
                    }
                }
                Event::Invocation {
                    request,
                    registration,
                    details,
                    payload,
                } => {
                    let mailbox = self.registrations.borrow().get(&registration).cloned();
                    match mailbox {
                        Some(m) => m.put(Invocation {
                            request,
                            details,
                            payload,
                        }),
                        None => {
                            let _ = self.wamp.borrow_mut().invocation_error(
                                request,
                                uris::ERROR_NO_SUCH_REGISTRATION,
                                Dict::new(),
                                Payload::Empty,
                            );
                        }
                    }
                }
                Event::SubscriptionRevoked { subscription, .. } => {
                    if let Some(m) = self.subscriptions.borrow_mut().remove(&subscription) {
                        m.close();
                    }
                }
                Event::RegistrationRevoked { registration, .. } => {
                    if let Some(m) = self.registrations.borrow_mut().remove(&registration) {
                        m.close();
                    }
                }
                Event::Interrupt { request, options } => {
                    self.interrupts.put((request, options));
                }
                Event::Joined { .. } => {}
                Event::Closed(c) => {
                    for (_, w) in self.waiters.borrow_mut().drain() {
                        w.put(Answer::Final(Err(CallError::message(
                            uris::ERROR_CANCELED,
                            "the session closed",
                        ))));
                    }
                    for (_, m) in self.subscriptions.borrow_mut().drain() {
                        m.close();
                    }
                    for (_, m) in self.registrations.borrow_mut().drain() {
                        m.close();
                    }
                    *self.close.borrow_mut() = Some(c.clone());
                    self.closed.put(c);
                    self.closed.close();
                    self.interrupts.close();
                }
            }
        }
    }
}

/// A joined WAMP session over a dialed connection.
#[derive(Clone)]
pub struct Session {
    inner: Rc<Inner>,
    reader: Rc<RefCell<Option<glommio::Task<()>>>>,
    writer: Rc<RefCell<Option<glommio::Task<()>>>>,
}

/// Events of one subscription, in order.
pub struct Subscription {
    /// The subscription id.
    pub id: Id,
    mailbox: Rc<Mailbox<EventData>>,
}

impl Subscription {
    /// The next event; `None` when the subscription or the session ended.
    pub async fn next(&self) -> Option<EventData> {
        self.mailbox.next().await
    }
}

/// Invocations of one registration, in order.
pub struct Registration {
    /// The registration id.
    pub id: Id,
    mailbox: Rc<Mailbox<Invocation>>,
}

impl Registration {
    /// The next invocation; `None` when the registration or the session ended.
    pub async fn next(&self) -> Option<Invocation> {
        self.mailbox.next().await
    }
}

/// A call in flight: its progressive results, then its final answer.
pub struct PendingCall {
    /// The call's request id (for [`Session::cancel`]).
    pub request: Id,
    mailbox: Rc<Mailbox<Answer>>,
}

/// One step of a [`PendingCall`].
#[derive(Debug, Clone, PartialEq)]
pub enum CallStep {
    /// A progressive result (details, payload).
    Progress(Dict, Payload),
    /// The final result (details, payload).
    Done(Dict, Payload),
}

impl PendingCall {
    /// The next progressive result or the final one.
    pub async fn next(&self) -> Result<CallStep, CallError> {
        match self.mailbox.next().await {
            Some(Answer::Progress(d, p)) => Ok(CallStep::Progress(d, p)),
            Some(Answer::Final(Ok(Reply::Result { details, payload }))) => {
                Ok(CallStep::Done(details, payload))
            }
            Some(Answer::Final(Ok(_))) => Ok(CallStep::Done(Dict::new(), Payload::Empty)),
            Some(Answer::Final(Err(e))) => Err(e),
            None => Err(CallError::uri(uris::ERROR_CANCELED)),
        }
    }

    /// Waits for the final result, dropping progressive ones.
    pub async fn result(&self) -> Result<(Dict, Payload), CallError> {
        loop {
            if let CallStep::Done(d, p) = self.next().await? {
                return Ok((d, p));
            }
        }
    }
}

fn refused(e: SessionError) -> CallError {
    match e {
        SessionError::Closed => CallError::message(uris::ERROR_CANCELED, "the session closed"),
        other => CallError::message(uris::ERROR_CANCELED, other.to_string()),
    }
}

impl Session {
    /// Handshakes over `stream` and joins `realm` with every client role,
    /// authenticating with `auth`.
    pub async fn join<S: Stream>(
        stream: S,
        options: &DialOptions,
        realm: &str,
        auth: Box<dyn ClientAuthenticator>,
    ) -> Result<Session, DialError> {
        let wamp = ClientSession::with_details(realm, auth, Roles::all(), Dict::new());
        Session::join_with(stream, options, wamp).await
    }

    /// Handshakes over `stream` and runs `wamp`'s opening, then serves it.
    pub async fn join_with<S: Stream>(
        stream: S,
        options: &DialOptions,
        mut wamp: ClientSession,
    ) -> Result<Session, DialError> {
        let mut conn = handshake(stream, options).await?;
        join(&mut conn, &mut wamp).await?;
        let Connection { tx, rx, writer } = conn;
        let incoming: Incoming = Box::pin(futures_lite::stream::unfold(rx, |mut rx| async move {
            match rx.next().await {
                Ok(Some(m)) => Some((m, rx)),
                Ok(None) | Err(_) => None,
            }
        }));
        Ok(Session::serve(wamp, tx, incoming, Some(writer)))
    }

    /// Runs `wamp`'s opening over a pipe of messages (`out` takes what it
    /// sends, `incoming` gives what arrives), then serves it: how an
    /// in-process session (a link's local leg) gets this same API.
    pub async fn join_over(
        mut wamp: ClientSession,
        out: Rc<dyn Outgoing>,
        mut incoming: Incoming,
    ) -> Result<Session, DialError> {
        transmit(&mut wamp, &*out);
        'opening: loop {
            let Some(msg) = incoming.next().await else {
                wamp.transport_closed();
                out.close();
                return Err(err("connection closed while joining"));
            };
            let r = wamp.receive(msg);
            transmit(&mut wamp, &*out);
            if let Err(e) = r {
                out.close();
                return Err(err(format!("joining: {e}")));
            }
            while let Some(ev) = wamp.poll_event() {
                match ev {
                    Event::Joined { .. } => break 'opening,
                    Event::Closed(c) => {
                        out.close();
                        return Err(err(format!("joining: ABORT {} {}", c.reason, c.message())));
                    }
                    _ => {}
                }
            }
        }
        Ok(Session::serve(wamp, out, incoming, None))
    }

    /// Serves a joined session: the reader task feeds it what arrives.
    fn serve(
        wamp: ClientSession,
        tx: Rc<dyn Outgoing>,
        mut incoming: Incoming,
        writer: Option<glommio::Task<()>>,
    ) -> Session {
        let inner = Rc::new(Inner {
            wamp: RefCell::new(wamp),
            filing: RefCell::new(HashMap::new()),
            tx,
            waiters: RefCell::new(HashMap::new()),
            subscriptions: RefCell::new(HashMap::new()),
            registrations: RefCell::new(HashMap::new()),
            closed: Mailbox::new(),
            close: RefCell::new(None),
            interrupts: Mailbox::new(),
        });
        let reader = {
            let inner = inner.clone();
            glommio::spawn_local(async move {
                loop {
                    let Some(msg) = incoming.next().await else {
                        break;
                    };
                    let r = inner.wamp.borrow_mut().receive(msg);
                    inner.flush();
                    inner.dispatch();
                    inner.flush();
                    if r.is_err() || inner.wamp.borrow().is_closed() {
                        break;
                    }
                }
                inner.wamp.borrow_mut().transport_closed();
                inner.dispatch();
                inner.tx.close();
            })
        };
        Session {
            inner,
            reader: Rc::new(RefCell::new(Some(reader))),
            writer: Rc::new(RefCell::new(writer)),
        }
    }

    /// The session id.
    pub fn id(&self) -> Id {
        self.inner.wamp.borrow().id()
    }

    /// WELCOME.Details.
    pub fn welcome_details(&self) -> Dict {
        self.inner.wamp.borrow().welcome_details().clone()
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.inner.wamp.borrow().is_closed()
    }

    fn waiter(&self, request: Id) -> Rc<Mailbox<Answer>> {
        let m = Mailbox::new();
        self.inner.waiters.borrow_mut().insert(request, m.clone());
        self.inner.flush();
        m
    }

    async fn reply(&self, mailbox: Rc<Mailbox<Answer>>) -> Result<Reply, CallError> {
        loop {
            match mailbox.next().await {
                Some(Answer::Final(r)) => return r,
                Some(Answer::Progress(..)) => continue,
                None => return Err(CallError::uri(uris::ERROR_CANCELED)),
            }
        }
    }

    /// Starts a call with `options` (`receive_progress: true` for progressive results).
    pub fn call_with(
        &self,
        procedure: &str,
        options: Dict,
        payload: Payload,
    ) -> Result<PendingCall, CallError> {
        let request = self
            .inner
            .wamp
            .borrow_mut()
            .call(procedure, options, payload)
            .map_err(refused)?;
        Ok(PendingCall {
            request,
            mailbox: self.waiter(request),
        })
    }

    /// Calls a procedure; returns its positional and keyword results.
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<(Vec<Value>, Dict), CallError> {
        let c = self.call_with(
            procedure,
            Dict::new(),
            Payload::Values {
                args,
                kwargs: Some(kwargs),
            },
        )?;
        let (_, payload) = c.result().await?;
        Ok(values_of(&payload))
    }

    /// Cancels a pending call (`mode` "skip", "kill", "killnowait" or the router's default).
    pub fn cancel(&self, request: Id, mode: Option<&str>) -> Result<(), SessionError> {
        self.inner.wamp.borrow_mut().cancel(request, mode)?;
        self.inner.flush();
        Ok(())
    }

    /// Subscribes to a topic.
    pub async fn subscribe(&self, topic: &str, options: Dict) -> Result<Subscription, CallError> {
        let request = self
            .inner
            .wamp
            .borrow_mut()
            .subscribe(topic, options)
            .map_err(refused)?;
        self.inner
            .filing
            .borrow_mut()
            .insert(request, Filing::Subscription(Mailbox::new()));
        let w = self.waiter(request);
        match self.reply(w).await? {
            Reply::Subscribed(id) => {
                let mailbox = self
                    .inner
                    .subscriptions
                    .borrow_mut()
                    .entry(id)
                    .or_insert_with(Mailbox::new)
                    .clone();
                Ok(Subscription { id, mailbox })
            }
            _ => Err(CallError::uri(uris::ERROR_PROTOCOL_VIOLATION)),
        }
    }

    /// Unsubscribes.
    pub async fn unsubscribe(&self, subscription: Id) -> Result<(), CallError> {
        let request = self
            .inner
            .wamp
            .borrow_mut()
            .unsubscribe(subscription)
            .map_err(refused)?;
        let w = self.waiter(request);
        self.reply(w).await?;
        if let Some(m) = self.inner.subscriptions.borrow_mut().remove(&subscription) {
            m.close();
        }
        Ok(())
    }

    /// Registers a procedure.
    pub async fn register(
        &self,
        procedure: &str,
        options: Dict,
    ) -> Result<Registration, CallError> {
        let request = self
            .inner
            .wamp
            .borrow_mut()
            .register(procedure, options)
            .map_err(refused)?;
        self.inner
            .filing
            .borrow_mut()
            .insert(request, Filing::Registration(Mailbox::new()));
        let w = self.waiter(request);
        match self.reply(w).await? {
            Reply::Registered(id) => {
                let mailbox = self
                    .inner
                    .registrations
                    .borrow_mut()
                    .entry(id)
                    .or_insert_with(Mailbox::new)
                    .clone();
                Ok(Registration { id, mailbox })
            }
            _ => Err(CallError::uri(uris::ERROR_PROTOCOL_VIOLATION)),
        }
    }

    /// Unregisters a procedure.
    pub async fn unregister(&self, registration: Id) -> Result<(), CallError> {
        let request = self
            .inner
            .wamp
            .borrow_mut()
            .unregister(registration)
            .map_err(refused)?;
        let w = self.waiter(request);
        self.reply(w).await?;
        if let Some(m) = self.inner.registrations.borrow_mut().remove(&registration) {
            m.close();
        }
        Ok(())
    }

    /// Answers an invocation: `progress` sends a progressive result.
    pub fn yield_result(
        &self,
        request: Id,
        payload: Payload,
        progress: bool,
    ) -> Result<(), SessionError> {
        self.inner
            .wamp
            .borrow_mut()
            .yield_result(request, payload, progress)?;
        self.inner.flush();
        Ok(())
    }

    /// Answers an invocation with an error.
    pub fn invocation_error(&self, request: Id, error: &CallError) -> Result<(), SessionError> {
        self.inner.wamp.borrow_mut().invocation_error(
            request,
            &error.uri,
            error.details.clone(),
            Payload::Values {
                args: error.args.clone(),
                kwargs: Some(error.kwargs.clone()),
            },
        )?;
        self.inner.flush();
        Ok(())
    }

    /// Publishes an event; with `acknowledge`, waits for PUBLISHED and returns
    /// the publication id.
    pub async fn publish(
        &self,
        topic: &str,
        args: Vec<Value>,
        kwargs: Dict,
        acknowledge: bool,
    ) -> Result<Option<Id>, CallError> {
        let request = self
            .inner
            .wamp
            .borrow_mut()
            .publish(
                topic,
                Dict::new(),
                Payload::Values {
                    args,
                    kwargs: Some(kwargs),
                },
                acknowledge,
            )
            .map_err(refused)?;
        if !acknowledge {
            self.inner.flush();
            return Ok(None);
        }
        let w = self.waiter(request);
        match self.reply(w).await? {
            Reply::Published(id) => Ok(Some(id)),
            _ => Err(CallError::uri(uris::ERROR_PROTOCOL_VIOLATION)),
        }
    }

    /// Leaves the realm (GOODBYE) and waits for the router's GOODBYE (or the
    /// connection to close); returns how the session ended.
    pub async fn leave(&self) -> Close {
        if self
            .inner
            .wamp
            .borrow_mut()
            .leave(uris::CLOSE_NORMAL)
            .is_ok()
        {
            self.inner.flush();
        }
        self.closed().await
    }

    /// Waits until the session is over; returns how it ended.
    pub async fn closed(&self) -> Close {
        let _ = self.inner.closed.next().await;
        self.inner.close.borrow().clone().unwrap_or(Close {
            reason: "transport closed".into(),
            details: Dict::new(),
            abort: true,
            by_router: false,
        })
    }

    /// Drops the connection at once (no GOODBYE).
    pub fn abort(&self) {
        self.reader.borrow_mut().take();
        self.writer.borrow_mut().take();
        self.inner.wamp.borrow_mut().transport_closed();
        self.inner.dispatch();
        self.inner.tx.close();
    }

    /// Bytes sent and not yet written to the connection (a slow peer's
    /// backlog; 0 for an in-process session).
    pub fn backlog_bytes(&self) -> usize {
        self.inner.tx.backlog_bytes()
    }

    /// The next INTERRUPT of an invocation this session serves: (the
    /// invocation's request id, INTERRUPT.Options); `None` once the session
    /// is over.
    pub async fn next_interrupt(&self) -> Option<(Id, Dict)> {
        self.inner.interrupts.next().await
    }

    /// Publishes with PUBLISH.Options as given; with `acknowledge`, waits
    /// for PUBLISHED and returns the publication id.
    pub async fn publish_with(
        &self,
        topic: &str,
        options: Dict,
        payload: Payload,
        acknowledge: bool,
    ) -> Result<Option<Id>, CallError> {
        let request = self
            .inner
            .wamp
            .borrow_mut()
            .publish(topic, options, payload, acknowledge)
            .map_err(refused)?;
        if !acknowledge {
            self.inner.flush();
            return Ok(None);
        }
        let w = self.waiter(request);
        match self.reply(w).await? {
            Reply::Published(id) => Ok(Some(id)),
            _ => Err(CallError::uri(uris::ERROR_PROTOCOL_VIOLATION)),
        }
    }

    /// Answers an invocation with an error, payload as given.
    pub fn invocation_error_with(
        &self,
        request: Id,
        uri: &str,
        details: Dict,
        payload: Payload,
    ) -> Result<(), SessionError> {
        self.inner
            .wamp
            .borrow_mut()
            .invocation_error(request, uri, details, payload)?;
        self.inner.flush();
        Ok(())
    }
}
