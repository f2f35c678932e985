//! Serving one accepted connection on its shard: the WebSocket or RawSocket
//! opening handshake (with a timeout), then two loops run together — the
//! reader feeds frames to the [`Host`] (the shard and its router core), the writer drains the
//! connection's outbox in batches (feed every queued frame, flush once) —
//! and how the connection ends: the WebSocket closing handshake with its
//! close codes (bounded by `close_handshake_timeout`), a RawSocket failure as
//! an orderly close. Whatever a client sends, the worst it gets is its own
//! connection closed, with a log line.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use async_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use async_tungstenite::tungstenite::protocol::frame::coding::{
    CloseCode, Control as OpCtl, Data as OpData, OpCode,
};
use async_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame as WsFrame, FrameHeader};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use async_tungstenite::WebSocketStream;
use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;

use super::admission::Admission;
use super::host::{Host, Wire};
use super::options::{ListenerKind, ListenerSpec, RawSocketOptions, WebSocketOptions};
use super::outbox::{Batch, CloseReason};
use super::rawsocket::{self, Frame, FrameKind};
use super::read_ahead::ReadAhead;
use crate::codec::Serializer;
use crate::router::TlsInfo;

/// Starts serving a connected stream of any kind (TCP, a Unix socket, and
/// whatever wraps one) for `host`; `admission` holds its places under the
/// transport's caps until it closes.
pub(crate) fn serve<H, S>(
    host: Rc<H>,
    l: Rc<ListenerSpec>,
    stream: S,
    peer: String,
    admission: Admission,
) where
    H: Host,
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    if host.stopping() {
        return;
    }
    // Boxed: every async fn on the way down (this task, `serve_wamp`,
    // `serve_websocket`) keeps its own copy of its arguments for the
    // connection's life, although the stream moves on at the handshake;
    // a pointer makes those copies 8 bytes each instead of the stream's size.
    let stream = Box::new(stream);
    let f = async move {
        let Some(tls) = l.tls.clone() else {
            return serve_wamp(&host, &l, stream, peer, admission, None).await;
        };
        // Boxed: glommio allocates a task at its future's largest size, and
        // serving over TLS (the rustls stream inline) is larger than plain
        // serving; inline it would size every plain connection's task too.
        Box::pin(serve_tls(host, l, tls, stream, peer, admission)).await
    };
    glommio::spawn_local(f).detach();
}

/// The TLS handshake, then serving over the rustls stream.
async fn serve_tls<H, S>(
    host: Rc<H>,
    l: Rc<ListenerSpec>,
    tls: Arc<super::tls::TlsServer>,
    stream: S,
    peer: String,
    admission: Admission,
) where
    H: Host,
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    {
        // The TLS handshake counts against the transport's opening
        // handshake timeout and holds its handshake place (`admission`).
        let timeout = match &l.kind {
            ListenerKind::WebSocket(o) => o.open_handshake_timeout,
            ListenerKind::RawSocket(o) => o.open_handshake_timeout,
            ListenerKind::Web(w) => w.http.open_handshake_timeout,
            ListenerKind::Universal(u) => u.web.http.open_handshake_timeout,
        };
        // Boxed: a handshake in progress is large and short-lived.
        let accepted = within(timeout, Box::pin(tls.acceptor().accept(stream))).await;
        let stream = match accepted {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                host.note_tls_handshake_failure();
                log::info!("'{}' {peer}: TLS handshake failed: {e}", l.name);
                return;
            }
            None => {
                host.note_tls_handshake_failure();
                log::info!("'{}' {peer}: TLS handshake timed out", l.name);
                return;
            }
        };
        // An `Arc` from here on: each async fn on the way down keeps its
        // own copy of its arguments, and the host keeps the `Arc` itself.
        let info = Arc::new(super::tls::server_tls_info(stream.get_ref().1));
        serve_wamp(&host, &l, stream, peer, admission, Some(info)).await
    }
}

/// Serves WebSocket or RawSocket over `stream` (plain, or TLS with `tls`).
async fn serve_wamp<H, S>(
    host: &Rc<H>,
    l: &ListenerSpec,
    stream: S,
    peer: String,
    admission: Admission,
    tls: Option<Arc<TlsInfo>>,
) where
    H: Host,
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    match &l.kind {
        ListenerKind::WebSocket(o) => {
            serve_websocket(host, l, o, stream, peer, admission, tls).await
        }
        ListenerKind::RawSocket(o) => {
            serve_rawsocket(host, l, o, stream, peer, admission, tls).await
        }
        // Boxed, as TLS above: HTTP serving's future is many KiB, and inline
        // it sized every WebSocket and RawSocket connection's task (18 KiB).
        ListenerKind::Web(w) => {
            Box::pin(super::web::serve_web(
                host,
                l,
                w,
                stream,
                BytesMut::new(),
                peer,
                admission,
                tls,
            ))
            .await
        }
        ListenerKind::Universal(u) => {
            Box::pin(super::web::serve_universal(
                host, l, u, stream, peer, admission, tls,
            ))
            .await
        }
    }
}

/// Runs `f` with a deadline; `None` when it passed.
pub(crate) async fn within<T>(ms: u64, f: impl std::future::Future<Output = T>) -> Option<T> {
    if ms == 0 {
        return Some(f.await);
    }
    futures_lite::future::or(async { Some(f.await) }, async {
        glommio::timer::sleep(Duration::from_millis(ms)).await;
        None
    })
    .await
}

/// The WebSocket opening handshake's checks: path, origin, subprotocol.
struct Handshake {
    path: String,
    origins: Vec<String>,
    allow_null_origin: bool,
    serializers: Vec<Serializer>,
    chosen: Rc<Cell<Option<Serializer>>>,
}

/// Crossbar.io's `allowed_origins` patterns: `*` matches any run of characters
/// (`https://*.example.com`), everything else literally, case-insensitively.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
        while si < s.len() {
            if pi < p.len() && p[pi] != b'*' && p[pi].eq_ignore_ascii_case(&s[si]) {
                pi += 1;
                si += 1;
            } else if pi < p.len() && p[pi] == b'*' {
                star = Some(pi);
                mark = si;
                pi += 1;
            } else if let Some(sp) = star {
                pi = sp + 1;
                mark += 1;
                si = mark;
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == b'*')
    }
    glob(pattern.as_bytes(), origin.as_bytes())
}

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(why.to_owned()));
    *r.status_mut() = status;
    r
}

impl Callback for Handshake {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        if request.uri().path() != self.path {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                "no WAMP endpoint at this path",
            ));
        }
        // Browsers send Origin; other clients usually do not, and are not what the check protects against.
        if let Some(origin) = request
            .headers()
            .get("origin")
            .and_then(|v| v.to_str().ok())
        {
            let null_allowed = self.allow_null_origin && origin == "null";
            if !null_allowed
                && !self
                    .origins
                    .iter()
                    .any(|pattern| origin_matches(pattern, origin))
            {
                return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
            }
        }
        let offered: Vec<&str> = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let chosen = offered
            .iter()
            .find_map(|p| Serializer::from_subprotocol(p).filter(|s| self.serializers.contains(s)));
        let Some(s) = chosen else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "no supported WAMP subprotocol offered",
            ));
        };
        self.chosen.set(Some(s));
        response.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(s.subprotocol()),
        );
        Ok(response)
    }
}

pub(crate) async fn serve_websocket<H, S>(
    host: &Rc<H>,
    l: &ListenerSpec,
    o: &WebSocketOptions,
    stream: S,
    peer: String,
    mut admission: Admission,
    tls: Option<Arc<TlsInfo>>,
) where
    H: Host,
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let chosen = Rc::new(Cell::new(None));
    let cb = Handshake {
        path: o.path.clone(),
        origins: o.allowed_origins.clone(),
        allow_null_origin: o.allow_null_origin,
        serializers: l.serializers.clone(),
        chosen: chosen.clone(),
    };
    // tungstenite preallocates its read buffer and keeps it for the
    // connection's life (128 KiB by default made an idle session cost
    // ~140 KiB), so it gets only `TUNGSTENITE_READ` bytes (it grows to hold
    // a larger frame); the socket is read `read_buffer_size` bytes at a
    // time through `ReadAhead`, which holds nothing while the connection is idle.
    let stream = ReadAhead::new(stream, o.read_buffer_size);
    let cfg = WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ.min(o.read_buffer_size))
        .max_message_size((o.max_message_size > 0).then_some(o.max_message_size))
        .max_frame_size((o.max_frame_size > 0).then_some(o.max_frame_size));
    let ws = match within(
        o.open_handshake_timeout,
        // Boxed: the handshake's state (HTTP parsing, the response being
        // written) is several KiB and needed only until it completes; inline
        // it would size the connection's task for its whole life.
        Box::pin(async_tungstenite::accept_hdr_async_with_config(
            stream,
            cb,
            Some(cfg),
        )),
    )
    .await
    {
        None => {
            log::info!("'{}' {peer}: WebSocket opening handshake timed out", l.name);
            return;
        }
        Some(Err(e)) => {
            log::info!(
                "'{}' {peer}: WebSocket opening handshake failed: {e}",
                l.name
            );
            return;
        }
        Some(Ok(ws)) => ws,
    };
    let Some(serializer) = chosen.get() else {
        return;
    };
    admission.handshake_done();
    let (conn, ob) = host.open(serializer, l.id, Wire::WebSocket, &peer, tls, l.queue);
    let (mut tx, mut rx) = ws.split();
    // The payload of the ping waiting for its pong, and when it was sent.
    let ping: RefCell<Option<(Bytes, Instant)>> = RefCell::new(None);
    let reader = async {
        loop {
            match rx.next().await {
                None => return WsEnd::Gone,
                Some(Ok(WsMessage::Text(t))) => host.frame(conn, &Bytes::from(t)),
                Some(Ok(WsMessage::Binary(b))) => host.frame(conn, &b),
                Some(Ok(WsMessage::Pong(p))) => {
                    // Only the echo of our own ping answers it (an unsolicited
                    // pong is allowed, and means nothing).
                    let mut waiting = ping.borrow_mut();
                    if waiting.as_ref().is_some_and(|(sent, _)| *sent == p) {
                        *waiting = None;
                    }
                }
                // tungstenite queued the echo of the peer's Close.
                Some(Ok(WsMessage::Close(_))) => return WsEnd::PeerClosed,
                // Pings are answered by tungstenite; frames are not read.
                Some(Ok(_)) => {}
                Some(Err(e)) => return ws_failure(&**host, l, &peer, &e),
            }
        }
    };
    let writer = async {
        let interval = Duration::from_millis(o.auto_ping_interval);
        let timeout = match o.auto_ping_timeout {
            0 => interval,
            t => Duration::from_millis(t),
        };
        let mut next_ping = Instant::now() + interval;
        loop {
            let batch = if o.auto_ping_interval > 0 {
                let now = Instant::now();
                let waiting = ping.borrow().as_ref().map(|(_, at)| *at);
                match waiting {
                    Some(at) if now >= at + timeout => {
                        log::info!(
                            "'{}' {peer}: no pong within {} ms: dropping the connection",
                            l.name,
                            timeout.as_millis()
                        );
                        return WsEnd::Gone;
                    }
                    None if now >= next_ping => {
                        let mut payload = vec![0u8; usize::from(o.auto_ping_size)];
                        rand::rng().fill_bytes(&mut payload);
                        let payload = Bytes::from(payload);
                        *ping.borrow_mut() = Some((payload.clone(), now));
                        next_ping = now + interval;
                        if tx.send(WsMessage::Ping(payload)).await.is_err() {
                            return WsEnd::Gone;
                        }
                        continue;
                    }
                    _ => {}
                }
                let wake = waiting.map_or(next_ping, |at| at + timeout);
                match until(wake, ob.next_batch()).await {
                    Some(b) => b,
                    None => continue,
                }
            } else {
                ob.next_batch().await
            };
            match batch {
                Batch::Write => {
                    while let Some(f) = ob.pop() {
                        if feed_message(&mut tx, serializer, o.auto_fragment_size, f)
                            .await
                            .is_err()
                        {
                            return WsEnd::Gone;
                        }
                    }
                    if tx.flush().await.is_err() {
                        return WsEnd::Gone;
                    }
                }
                Batch::Close(CloseReason::Normal) => return WsEnd::Close(CloseCode::Normal, ""),
                Batch::Close(CloseReason::GoingAway) => {
                    return WsEnd::Close(CloseCode::Away, "router going away")
                }
                Batch::Kill => return WsEnd::Close(CloseCode::Policy, "slow consumer"),
            }
        }
    };
    let end = futures_lite::future::or(reader, writer).await;
    // Nothing more is written for this session: whatever the core still
    // sends it is dropped.
    ob.kill();
    // `fail_by_drop`: a failed connection gets no Close frame; dropping the
    // stream closes TCP.
    let drop_only = o.fail_by_drop && matches!(end, WsEnd::Fail { .. });
    if let Ok(ws) = WebSocketStream::reunite(tx, rx) {
        if !drop_only {
            // Boxed: needed once, at the end; inline it would add to the
            // size of every connection's task.
            Box::pin(close_websocket(ws, end, o.close_handshake_timeout)).await;
        }
    }
    host.closed(conn);
}

/// tungstenite's own read buffer: most idle sessions' frames fit it, and
/// it is what an idle WebSocket connection keeps (`ReadAhead` reads the
/// socket in larger reads).
const TUNGSTENITE_READ: usize = 256;

/// How serving a WebSocket connection ended, and so how it closes.
enum WsEnd {
    /// The transport is gone (EOF, reset, an I/O error), or the peer stopped
    /// answering pings: nothing more can be said.
    Gone,
    /// The peer sent Close: tungstenite queued the echo, to be flushed.
    PeerClosed,
    /// The router closes: a Close with this code, then the peer's Close is
    /// awaited (its application frames are not read).
    Close(CloseCode, &'static str),
    /// The peer broke the protocol: fail the connection with a Close with
    /// this code. tungstenite reads nothing more after an error, so the
    /// peer's Close is looked for in the raw bytes; `aligned` says whether
    /// they start at a frame boundary (not so after an oversize frame's
    /// header, whose payload is still coming).
    Fail {
        code: CloseCode,
        reason: &'static str,
        aligned: bool,
    },
}

/// The close code for a read error (logged at info and counted), or
/// [`WsEnd::Gone`] when the transport itself ended.
fn ws_failure<H: Host>(host: &H, l: &ListenerSpec, peer: &str, e: &WsError) -> WsEnd {
    let (code, reason, aligned) = match e {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Io(_) => {
            log::debug!("'{}' {peer}: {e}", l.name);
            return WsEnd::Gone;
        }
        WsError::Capacity(_) => (CloseCode::Size, "message too big", false),
        WsError::Utf8(_) => (CloseCode::Invalid, "invalid UTF-8", true),
        _ => (CloseCode::Protocol, "protocol error", true),
    };
    log::info!(
        "'{}' {peer}: failing the WebSocket connection with {}: {e}",
        l.name,
        u16::from(code)
    );
    if code == CloseCode::Size {
        host.note_oversize_message();
    } else {
        host.note_transport_protocol_error();
    }
    WsEnd::Fail {
        code,
        reason,
        aligned,
    }
}

/// Queues one WAMP message: one frame, or fragments of at most `fragment`
/// payload bytes when it is larger (`fragment` 0: never fragmented).
async fn feed_message<S>(
    tx: &mut async_tungstenite::WebSocketSender<S>,
    serializer: Serializer,
    fragment: usize,
    f: Bytes,
) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let opcode = if serializer.is_binary() {
        OpData::Binary
    } else {
        // Frames for a JSON session come from the JSON codec: serde_json
        // output, with payload bytes spliced from frames serde_json validated
        // (UTF-8 included) on the way in. Checking again per subscriber cost
        // 6.5% of fan-out, so only debug builds check.
        debug_assert!(std::str::from_utf8(&f).is_ok());
        OpData::Text
    };
    if fragment == 0 || f.len() <= fragment {
        let msg = match opcode {
            OpData::Text => {
                // SAFETY: see above: every JSON frame is valid UTF-8.
                WsMessage::Text(unsafe { Utf8Bytes::from_bytes_unchecked(f) })
            }
            _ => WsMessage::Binary(f),
        };
        return tx.feed(msg).await;
    }
    // A text message may be cut inside a character: only the whole message
    // must be valid UTF-8 (RFC 6455, 5.6).
    let mut at = 0;
    while at < f.len() {
        let end = (at + fragment).min(f.len());
        let op = if at == 0 { opcode } else { OpData::Continue };
        let frame = WsFrame::message(f.slice(at..end), OpCode::Data(op), end == f.len());
        tx.feed(WsMessage::Frame(frame)).await?;
        at = end;
    }
    Ok(())
}

/// Runs `f` until `deadline`; `None` when it passed first.
async fn until<T>(deadline: Instant, f: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
        None
    })
    .await
}

/// The closing handshake (RFC 6455, 7): answer the peer's Close, or send
/// ours and wait for the peer's, within `timeout_ms` (0: send ours and do not
/// wait); then the caller drops the TCP connection, the server closing it
/// first as the RFC asks.
async fn close_websocket<S>(mut ws: WebSocketStream<S>, end: WsEnd, timeout_ms: u64)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let wait = timeout_ms > 0;
    // Even when not waiting for the peer, our Close gets a moment to go out.
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(100));
    let handshake = async {
        match end {
            WsEnd::Gone => {}
            WsEnd::PeerClosed => {
                // The next read writes the echo, then reports the end.
                let _ = ws.flush().await;
                while let Some(Ok(_)) = ws.next().await {}
            }
            WsEnd::Close(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                if ws.close(Some(frame)).await.is_ok() && wait {
                    // Application frames still arriving are not read: the
                    // session is over.
                    while let Some(Ok(_)) = ws.next().await {}
                }
            }
            WsEnd::Fail {
                code,
                reason,
                aligned,
            } => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                if ws.close(Some(frame)).await.is_ok() && wait {
                    drain_until_close(ws.get_mut(), aligned).await;
                }
            }
        }
    };
    let _ = until(deadline, handshake).await;
}

/// Most bytes a failed connection's peer may still send before it is dropped.
const DRAIN_LIMIT: usize = 1 << 20;

/// Reads and discards what a failed connection's peer still sends, until its
/// Close frame has arrived whole (found with tungstenite's frame header
/// parser while the bytes are `aligned` on frames), or EOF, or
/// [`DRAIN_LIMIT`] bytes. Closing a socket with unread bytes makes the
/// kernel send a reset, which can destroy our Close before the peer reads it.
async fn drain_until_close<S: AsyncRead + Unpin>(s: &mut S, mut aligned: bool) {
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 2048];
    let (mut total, mut skip, mut last) = (0usize, 0u64, false);
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        total += n;
        if total > DRAIN_LIMIT {
            return;
        }
        if !aligned {
            continue;
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let k = skip.min(buf.len() as u64) as usize;
            let _ = buf.split_to(k);
            skip -= k as u64;
            if skip > 0 {
                break;
            }
            if last {
                return;
            }
            let mut cur = std::io::Cursor::new(&buf[..]);
            match FrameHeader::parse(&mut cur) {
                Ok(Some((header, len))) => {
                    let used = cur.position() as usize;
                    let _ = buf.split_to(used);
                    skip = len;
                    last = header.opcode == OpCode::Control(OpCtl::Close);
                }
                Ok(None) => break,
                Err(_) => {
                    aligned = false;
                    buf.clear();
                    break;
                }
            }
        }
    }
}

pub(crate) async fn serve_rawsocket<H, S>(
    host: &Rc<H>,
    l: &ListenerSpec,
    o: &RawSocketOptions,
    stream: S,
    peer: String,
    mut admission: Admission,
    tls: Option<Arc<TlsInfo>>,
) where
    H: Host,
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (r, mut w) = futures_lite::io::split(stream);
    // The socket is read `read_buffer_size` bytes at a time; what the
    // reader did not take waits in `ReadAhead`, which holds nothing while idle.
    let mut r = ReadAhead::new(r, o.read_buffer_size);
    let mut hs = [0u8; 4];
    match within(o.open_handshake_timeout, r.read_exact(&mut hs)).await {
        Some(Ok(())) => {}
        None => {
            log::info!("'{}' {peer}: RawSocket handshake timed out", l.name);
            return;
        }
        Some(Err(e)) => {
            log::info!("'{}' {peer}: RawSocket handshake: {e}", l.name);
            return;
        }
    }
    let n = match rawsocket::negotiate(hs, &l.serializers, o.max_message_size) {
        Ok(n) => n,
        Err(refusal) => {
            log::info!(
                "'{}' {peer}: RawSocket handshake refused: {}",
                l.name,
                refusal.error
            );
            if let Some(reply) = refusal.reply {
                let _ = w.write_all(&reply).await;
                let _ = w.flush().await;
            }
            return;
        }
    };
    if w.write_all(&n.reply).await.is_err() || w.flush().await.is_err() {
        return;
    }
    admission.handshake_done();
    let (conn, ob) = host.open(n.serializer, l.id, Wire::RawSocket, &peer, tls, l.queue);
    let pongs = Rc::new(std::cell::RefCell::new(Vec::<Bytes>::new()));
    // Set when the peer broke the framing: the connection is failed.
    let failed = Cell::new(false);
    let reader = {
        let pongs = pongs.clone();
        let ob = ob.clone();
        let failed = &failed;
        let r = &mut r;
        async move {
            let mut decoder = n.decoder();
            // The buffer frames are cut from. Between frames it is small (an
            // idle session keeps `RAWSOCKET_READ` bytes); while a frame is
            // incomplete it takes up to `read_buffer_size` bytes per read.
            let read = o.read_buffer_size;
            let mut buf = BytesMut::new();
            loop {
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(Frame::Message(m))) => host.frame(conn, &m),
                        Ok(Some(Frame::Ping(p))) => {
                            pongs.borrow_mut().push(p);
                            ob.wake_writer();
                        }
                        Ok(Some(Frame::Pong(_))) => {}
                        Ok(None) => break,
                        Err(e) => {
                            // RawSocket has no error frame after the handshake:
                            // the connection is failed (the spec's word for a
                            // message over the limit), closed cleanly.
                            log::info!(
                                "'{}' {peer}: failing the RawSocket connection: {e}",
                                l.name
                            );
                            if matches!(e, rawsocket::FrameError::TooLong { .. }) {
                                host.note_oversize_message();
                            } else {
                                host.note_transport_protocol_error();
                            }
                            failed.set(true);
                            // The writer finishes what it is writing and stops;
                            // nothing more is read.
                            ob.kill();
                            std::future::pending::<()>().await;
                        }
                    }
                }
                let len = buf.len();
                let chunk = if len == 0 {
                    if buf.capacity() > RAWSOCKET_READ {
                        // Give back the room a large frame took.
                        buf = BytesMut::new();
                    }
                    RAWSOCKET_READ.min(read)
                } else {
                    read
                };
                buf.resize(len + chunk, 0);
                match r.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.truncate(len + k),
                }
            }
        }
    };
    let writer = async {
        // Grows with the first batch; an idle session keeps only what its
        // largest batch needed.
        let mut out = BytesMut::new();
        loop {
            let batch = ob.next_batch().await;
            for p in pongs.borrow_mut().drain(..) {
                let _ = rawsocket::encode_frame(FrameKind::Pong, &p, n.peer_max_len, &mut out);
            }
            let close = match batch {
                Batch::Write => {
                    while let Some(f) = ob.pop() {
                        if let Err(e) = rawsocket::encode_frame(
                            FrameKind::Message,
                            &f,
                            n.peer_max_len,
                            &mut out,
                        ) {
                            log::warn!("'{}': message not sent: {e}", l.name);
                        }
                    }
                    false
                }
                Batch::Close(_) => true,
                Batch::Kill => return,
            };
            if !out.is_empty() {
                if w.write_all(&out).await.is_err() || w.flush().await.is_err() {
                    return;
                }
                out.clear();
            }
            if close {
                let _ = w.close().await;
                return;
            }
        }
    };
    futures_lite::future::or(reader, writer).await;
    if failed.get() {
        // An orderly close: our FIN after anything already written, then what
        // the peer still sends is read and discarded (a socket closed with
        // unread bytes sends a reset, not a FIN) until it closes too, within
        // a bound.
        let _ = w.flush().await;
        let _ = w.close().await;
        let drain = async {
            let mut chunk = vec![0u8; 2048];
            let mut total = 0usize;
            while let Ok(k @ 1..) = r.read(&mut chunk).await {
                total += k;
                if total > DRAIN_LIMIT {
                    break;
                }
            }
        };
        let _ = Box::pin(until(Instant::now() + RAWSOCKET_DRAIN, drain)).await;
    }
    host.closed(conn);
}

/// What a RawSocket reader reads between frames (and so what an idle
/// connection keeps): `ReadAhead` reads the socket in larger reads.
const RAWSOCKET_READ: usize = 256;

/// How long a failed RawSocket connection's peer has to close its side once
/// ours is shut down.
const RAWSOCKET_DRAIN: Duration = Duration::from_millis(1000);

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn origin_patterns() {
        assert!(origin_matches("*", "https://a.example.com"));
        assert!(origin_matches(
            "https://*.example.com",
            "https://app.example.com"
        ));
        assert!(origin_matches(
            "https://*.example.com",
            "HTTPS://App.Example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "https://example.org"
        ));
        assert!(origin_matches(
            "http://localhost:*",
            "http://localhost:8080"
        ));
        assert!(!origin_matches("http://localhost", "http://localhost:8080"));
    }
}
