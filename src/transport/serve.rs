//! Serving one accepted connection on its shard: the WebSocket or RawSocket
//! opening handshake (with a timeout), then two loops run together — the
//! reader feeds frames to the shard's router core, the writer drains the
//! connection's outbox in batches (feed every queued frame, flush once).
//! Whatever a client sends, the worst it gets is its own connection closed,
//! with a log line.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use async_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_util::{SinkExt, StreamExt};

use super::rawsocket::{self, Frame, FrameKind};
use crate::codec::Serializer;
use crate::dict;
use crate::shard::outbox::{Batch, Out};
use crate::shard::{
    Admission, ListenerKind, ListenerSpec, RawSocketOptions, Shard, WebSocketOptions,
};

/// Starts serving an accepted connection on this shard; `admission` holds
/// its places under the transport's caps until it closes.
pub(crate) fn serve<S>(
    shard: Rc<Shard>,
    l: Rc<ListenerSpec>,
    stream: S,
    peer: String,
    admission: Admission,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    if shard.stopping.get() {
        return;
    }
    let f = async move {
        match &l.kind {
            ListenerKind::WebSocket(o) => {
                serve_websocket(&shard, &l, o, stream, peer, admission).await
            }
            ListenerKind::RawSocket(o) => {
                serve_rawsocket(&shard, &l, o, stream, peer, admission).await
            }
        }
    };
    glommio::spawn_local(f).detach();
}

/// Runs `f` with a deadline; `None` when it passed.
async fn within<T>(ms: u64, f: impl std::future::Future<Output = T>) -> Option<T> {
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
            if !self
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

async fn serve_websocket<S>(
    shard: &Rc<Shard>,
    l: &ListenerSpec,
    o: &WebSocketOptions,
    stream: S,
    peer: String,
    mut admission: Admission,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let chosen = Rc::new(Cell::new(None));
    let cb = Handshake {
        path: o.path.clone(),
        origins: o.allowed_origins.clone(),
        serializers: l.serializers.clone(),
        chosen: chosen.clone(),
    };
    // tungstenite preallocates its read buffer and keeps it for the
    // connection's life: 128 KiB by default made an idle session cost
    // ~140 KiB. It is most of what an idle session costs, so it is small by
    // default (`read_buffer_size`); larger messages still arrive, in more reads.
    let cfg = WebSocketConfig::default()
        .read_buffer_size(o.read_buffer_size)
        .max_message_size(Some(o.max_message_size))
        .max_frame_size(Some(o.max_frame_size));
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
    let details = dict! { "type" => "websocket", "peer" => peer.as_str(), "protocol" => serializer.subprotocol() };
    admission.handshake_done();
    let (conn, ob) = shard.open(serializer, l.id, details, l.queue);
    let (mut tx, mut rx) = ws.split();
    let last_pong = Rc::new(Cell::new(Instant::now()));
    let reader = {
        let last_pong = last_pong.clone();
        async move {
            while let Some(item) = rx.next().await {
                match item {
                    Ok(WsMessage::Text(t)) => shard.frame(conn, &Bytes::from(t)),
                    Ok(WsMessage::Binary(b)) => shard.frame(conn, &b),
                    Ok(WsMessage::Pong(_)) => last_pong.set(Instant::now()),
                    Ok(WsMessage::Close(_)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        log::info!("'{}' {peer}: {e}", l.name);
                        break;
                    }
                }
            }
        }
    };
    let writer = async {
        let ping_every = o.auto_ping_interval;
        loop {
            let batch = if ping_every > 0 {
                match within(ping_every, ob.next_batch()).await {
                    Some(b) => b,
                    None => {
                        let silent = last_pong.get().elapsed().as_millis() as u64;
                        if o.auto_ping_timeout > 0 && silent > ping_every + o.auto_ping_timeout {
                            log::info!("'{}': no pong for {silent} ms: closing", l.name);
                            return;
                        }
                        if tx.send(WsMessage::Ping(Bytes::new())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            } else {
                ob.next_batch().await
            };
            match batch {
                Batch::Write(frames) => {
                    for Out::Frame(f) in frames {
                        let msg = if serializer.is_binary() {
                            WsMessage::Binary(f)
                        } else {
                            // Frames for a JSON session come from the JSON codec:
                            // serde_json output, with payload bytes spliced from
                            // frames serde_json validated (UTF-8 included) on the
                            // way in. Checking again per subscriber cost 6.5% of
                            // fan-out, so only debug builds check.
                            debug_assert!(std::str::from_utf8(&f).is_ok());
                            // SAFETY: see above: every JSON frame is valid UTF-8.
                            WsMessage::Text(unsafe { Utf8Bytes::from_bytes_unchecked(f) })
                        };
                        if tx.feed(msg).await.is_err() {
                            return;
                        }
                    }
                    if tx.flush().await.is_err() {
                        return;
                    }
                }
                Batch::Close => {
                    let _ = tx.close(None).await;
                    // Give the client a moment to answer the close.
                    glommio::timer::sleep(Duration::from_millis(1000)).await;
                    return;
                }
                Batch::Kill => return,
            }
        }
    };
    futures_lite::future::or(reader, writer).await;
    shard.closed(conn);
}

async fn serve_rawsocket<S>(
    shard: &Rc<Shard>,
    l: &ListenerSpec,
    o: &RawSocketOptions,
    stream: S,
    peer: String,
    mut admission: Admission,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (mut r, mut w) = futures_lite::io::split(stream);
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
    let details =
        dict! { "type" => "rawsocket", "peer" => peer.as_str(), "protocol" => n.serializer.name() };
    admission.handshake_done();
    let (conn, ob) = shard.open(n.serializer, l.id, details, l.queue);
    let pongs = Rc::new(std::cell::RefCell::new(Vec::<Bytes>::new()));
    let reader = {
        let pongs = pongs.clone();
        let ob = ob.clone();
        async move {
            let mut decoder = n.decoder();
            // Read straight into the buffer frames are cut from (no second
            // buffer to copy through): its capacity is most of what an idle
            // session costs.
            let read = o.read_buffer_size;
            let mut buf = BytesMut::with_capacity(read);
            loop {
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(Frame::Message(m))) => shard.frame(conn, &m),
                        Ok(Some(Frame::Ping(p))) => {
                            pongs.borrow_mut().push(p);
                            ob.wake_writer();
                        }
                        Ok(Some(Frame::Pong(_))) => {}
                        Ok(None) => break,
                        Err(e) => {
                            log::info!("'{}' {peer}: RawSocket framing: {e}", l.name);
                            return;
                        }
                    }
                }
                let len = buf.len();
                buf.resize(len + read, 0);
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
                Batch::Write(frames) => {
                    for Out::Frame(f) in frames {
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
                Batch::Close => true,
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
    shard.closed(conn);
}

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
