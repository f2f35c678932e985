//! Serving a web connection: requests in a keep-alive loop, each routed by
//! its path — a WebSocket path's upgrade goes on as the WebSocket serving
//! with the bytes already read, a service's request is read whole (bounded)
//! and answered, an unknown path gets 404 — and a universal connection's
//! first byte choosing RawSocket (0x7F) or web.

use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::http::{
    read_chunked, read_exact_into, read_head, write_response, ChunkError, Head, Prefixed, ReadError,
};
use super::{HttpRequest, HttpResponse, PathSpec, WebSpec};
use crate::router::TlsInfo;
use crate::transport::admission::Admission;
use crate::transport::host::Host;
use crate::transport::options::{ListenerKind, ListenerSpec, UniversalSpec};
use crate::transport::serve::{serve_rawsocket, serve_websocket, within};

/// Serves a universal connection: RawSocket when its first byte is 0x7F
/// (and the transport has a RawSocket part), web otherwise.
pub(crate) async fn serve_universal<H, S>(
    host: &Rc<H>,
    l: &ListenerSpec,
    u: &UniversalSpec,
    mut stream: S,
    peer: String,
    admission: Admission,
    tls: Option<std::sync::Arc<TlsInfo>>,
) where
    H: Host,
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let mut first = [0u8; 1];
    let got = within(u.web.http.open_handshake_timeout, stream.read(&mut first)).await;
    match got {
        Some(Ok(1)) => {}
        Some(_) => return,
        None => {
            log::info!("'{}' {peer}: nothing received in time", l.name);
            return;
        }
    }
    let prefix = BytesMut::from(&first[..]);
    if first[0] == 0x7F {
        match &u.rawsocket {
            Some(rs) => {
                if let ListenerKind::RawSocket(o) = &rs.kind {
                    let s = Prefixed::new(prefix, stream);
                    serve_rawsocket(host, rs, o, s, peer, admission, tls).await;
                }
            }
            None => log::info!(
                "'{}' {peer}: a RawSocket connection, and the transport serves none",
                l.name
            ),
        }
        return;
    }
    serve_web(host, l, &u.web, stream, prefix, peer, admission, tls).await
}

/// Serves HTTP requests on a web connection until it closes, is upgraded to
/// WebSocket, breaks the protocol, or idles past the keep-alive timeout.
/// `buf` holds bytes already read.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_web<H, S>(
    host: &Rc<H>,
    l: &ListenerSpec,
    web: &WebSpec,
    mut stream: S,
    mut buf: BytesMut,
    peer: String,
    mut admission: Admission,
    tls: Option<std::sync::Arc<TlsInfo>>,
) where
    H: Host,
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let http = &web.http;
    let mut first = true;
    let extra: Vec<(String, String)> = match (http.hsts_max_age, tls.is_some()) {
        (Some(age), true) => vec![("strict-transport-security".into(), format!("max-age={age}"))],
        _ => Vec::new(),
    };
    loop {
        if host.stopping() {
            return;
        }
        let wait = if first {
            http.open_handshake_timeout
        } else if http.keepalive_timeout == 0 {
            return;
        } else {
            http.keepalive_timeout
        };
        let head = within(wait, read_head(&mut stream, &mut buf, http.max_header_size)).await;
        let (head, head_len) = match head {
            None => {
                if first {
                    log::info!("'{}' {peer}: no request in time", l.name);
                }
                return;
            }
            Some(Err(ReadError::Gone)) => return,
            Some(Err(ReadError::TooLarge)) => {
                log::info!(
                    "'{}' {peer}: request head over {} bytes",
                    l.name,
                    http.max_header_size
                );
                host.note_transport_protocol_error();
                let r = HttpResponse::text(431, "request head too large\n");
                let _ = write_response(&mut stream, &r, false, &extra).await;
                return;
            }
            Some(Err(ReadError::Malformed(e))) => {
                log::info!("'{}' {peer}: malformed HTTP request: {e}", l.name);
                host.note_transport_protocol_error();
                let r = HttpResponse::text(400, "malformed request\n");
                let _ = write_response(&mut stream, &r, false, &extra).await;
                return;
            }
            Some(Ok(h)) => h,
        };
        first = false;
        admission.handshake_done();
        let Some(service) = web.paths.get(&head.path) else {
            log::debug!("'{}' {peer}: {} {}: 404", l.name, head.method, head.path);
            let _ = buf.split_to(head_len);
            if !skip_body(
                &mut stream,
                &mut buf,
                &head,
                http.max_body_size,
                http.max_header_size,
                http.request_timeout,
            )
            .await
            {
                let r = HttpResponse::text(404, "no such path\n");
                let _ = write_response(&mut stream, &r, false, &extra).await;
                return;
            }
            let keep = head.keep_alive() && http.keepalive_timeout > 0;
            let r = HttpResponse::text(404, "no such path\n");
            if write_response(&mut stream, &r, keep, &extra).await.is_err() || !keep {
                return;
            }
            continue;
        };
        match &*service {
            PathSpec::WebSocket(ws) => {
                if head.has_token("upgrade", "websocket") {
                    let ListenerKind::WebSocket(o) = &ws.kind else {
                        return;
                    };
                    // tungstenite reads the request again from the bytes
                    // already read, then from the stream.
                    let s = Prefixed::new(buf, stream);
                    serve_websocket(host, ws, o, s, peer, admission, tls).await;
                    return;
                }
                let _ = buf.split_to(head_len);
                let keep = skip_body(
                    &mut stream,
                    &mut buf,
                    &head,
                    http.max_body_size,
                    http.max_header_size,
                    http.request_timeout,
                )
                .await
                    && head.keep_alive()
                    && http.keepalive_timeout > 0;
                let r = HttpResponse::text(
                    426,
                    "This is a WAMP WebSocket endpoint: connect with a WebSocket client \
                     offering wamp.2.json, wamp.2.msgpack or wamp.2.cbor.\n",
                );
                let mut extra = extra.clone();
                extra.push(("upgrade".into(), "websocket".into()));
                if write_response(&mut stream, &r, keep, &extra).await.is_err() || !keep {
                    return;
                }
            }
            PathSpec::Service(spec) => {
                let _ = buf.split_to(head_len);
                let limit = match spec.config.options.post_body_limit {
                    0 => http.max_body_size,
                    n => n.min(http.max_body_size),
                };
                let body = match read_body(
                    &mut stream,
                    &mut buf,
                    &head,
                    limit,
                    http.max_header_size,
                    http.request_timeout,
                )
                .await
                {
                    Ok(b) => b,
                    Err((status, why)) => {
                        log::debug!(
                            "'{}' {peer}: {} {}: {status} {why}",
                            l.name,
                            head.method,
                            head.path
                        );
                        if let Some(svc) = host.http_service(spec) {
                            svc.refused(status);
                        }
                        let r = bridge_refusal(status, why);
                        let _ = write_response(&mut stream, &r, false, &extra).await;
                        return;
                    }
                };
                let req = HttpRequest {
                    method: head.method.clone(),
                    path: head.path.clone(),
                    query: head.query.clone(),
                    headers: head.headers.clone(),
                    body,
                    peer: peer.parse().ok(),
                    secure: tls.is_some(),
                };
                let r = match host.http_service(spec) {
                    Some(svc) => svc.serve(&req).await,
                    None => HttpResponse::text(503, "service not available\n"),
                };
                log::debug!(
                    "'{}' {peer}: {} {}: {}",
                    l.name,
                    head.method,
                    head.path,
                    r.status
                );
                let keep = head.keep_alive() && http.keepalive_timeout > 0;
                if write_response(&mut stream, &r, keep, &extra).await.is_err() || !keep {
                    return;
                }
            }
        }
    }
}

/// A refusal before the service saw the request, in the bridge's shape
/// (`{"error", "args", "kwargs"}`).
fn bridge_refusal(status: u16, why: &str) -> HttpResponse {
    let body = serde_json::json!({ "error": why, "args": [], "kwargs": {} });
    HttpResponse::new(
        status,
        "application/json; charset=UTF-8",
        body.to_string().into_bytes(),
    )
}

/// How a request's body is framed.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    /// `Content-Length` bytes (0 without one).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The body's framing: `Transfer-Encoding: chunked`, `Content-Length`, or
/// none (0); an error (400) for another transfer coding, both headers
/// (RFC 9112 §6.3: a request smuggling risk), a bad or repeated length.
fn framing(head: &Head) -> Result<Framing, (u16, &'static str)> {
    let te: Vec<&[u8]> = head
        .headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .map(|(_, v)| v.as_slice())
        .collect();
    let lengths: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .collect();
    if !te.is_empty() {
        let chunked_only =
            matches!(te.as_slice(), [one] if one.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        if !chunked_only {
            return Err((400, "the only transfer coding taken is chunked"));
        }
        if !lengths.is_empty() {
            return Err((400, "both Transfer-Encoding and Content-Length"));
        }
        return Ok(Framing::Chunked);
    }
    match lengths.as_slice() {
        [] => Ok(Framing::Length(0)),
        [one] => one
            .trim()
            .parse::<usize>()
            .map(Framing::Length)
            .map_err(|_| (400, "invalid Content-Length")),
        _ => Err((400, "more than one Content-Length")),
    }
}

/// Reads the body of `head` (at most `limit` bytes) within `timeout_ms`;
/// a chunked body's size lines and trailers are bounded by `max_line`.
async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    head: &Head,
    limit: usize,
    max_line: usize,
    timeout_ms: u64,
) -> Result<bytes::Bytes, (u16, &'static str)> {
    let framing = framing(head)?;
    if let Framing::Length(n) = framing {
        if n > limit {
            return Err((413, "request body too large"));
        }
    }
    let more = match framing {
        Framing::Length(n) => n > buf.len(),
        Framing::Chunked => true,
    };
    if more && head.has_token("expect", "100-continue") {
        // curl and others wait for it (a second) before sending the body.
        use futures_lite::io::AsyncWriteExt;
        let sent = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        if sent.is_err() || s.flush().await.is_err() {
            return Err((400, "the connection closed before the whole body"));
        }
    }
    let gone = (400, "the connection closed before the whole body");
    let late = (408, "the body did not arrive in time");
    match framing {
        Framing::Length(n) => match within(timeout_ms, read_exact_into(s, buf, n)).await {
            Some(true) => Ok(buf.split_to(n).freeze()),
            Some(false) => Err(gone),
            None => Err(late),
        },
        Framing::Chunked => match within(timeout_ms, read_chunked(s, buf, limit, max_line)).await {
            Some(Ok(body)) => Ok(body),
            Some(Err(ChunkError::TooLarge)) => Err((413, "request body too large")),
            Some(Err(ChunkError::Malformed)) => Err((400, "malformed chunked body")),
            Some(Err(ChunkError::Gone)) => Err(gone),
            None => Err(late),
        },
    }
}

/// Reads and drops the body of a request that is not served (so the next
/// request on the connection starts where it should); false when it cannot
/// be (too large, malformed, gone): the connection is then closed.
async fn skip_body<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    head: &Head,
    limit: usize,
    max_line: usize,
    timeout_ms: u64,
) -> bool {
    match framing(head) {
        Ok(Framing::Length(0)) => true,
        Ok(Framing::Length(n))
            if n <= limit && within(timeout_ms, read_exact_into(s, buf, n)).await == Some(true) =>
        {
            let _ = buf.split_to(n);
            true
        }
        Ok(Framing::Chunked) => matches!(
            within(timeout_ms, read_chunked(s, buf, limit, max_line)).await,
            Some(Ok(_))
        ),
        _ => false,
    }
}
