//! HTTP/1.1 over a stream, as far as a web transport needs it: read a
//! request head with httparse (bounded in size), read a body of
//! `Content-Length` bytes or a chunked one (httparse's `parse_chunk_size`
//! and `parse_headers` for the trailers; bounded), write a response; and [`Prefixed`], a
//! stream that first gives back bytes already read (the WebSocket upgrade,
//! universal's first byte).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Most headers a request may have.
const MAX_HEADERS: usize = 64;

/// A request head.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub method: String,
    /// The request target's path.
    pub path: String,
    /// The query, without `?`.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Headers, names lowercase.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// Whether a header's comma-separated values include `token` (any case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after this request.
    pub fn keep_alive(&self) -> bool {
        if self.version == 0 {
            self.has_token("connection", "keep-alive")
        } else {
            !self.has_token("connection", "close")
        }
    }
}

/// Why no request could be read.
#[derive(Debug, PartialEq)]
pub(crate) enum ReadError {
    /// The peer closed (or the read failed) before a whole head.
    Gone,
    /// The head is over the size limit or has too many headers: 431.
    TooLarge,
    /// The head does not parse: 400.
    Malformed(String),
}

/// Parses a request head from the start of `buf`; `Ok(None)` when more bytes are needed.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let head = Head {
                method: req.method.unwrap_or("").to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                version: req.version.unwrap_or(1),
                headers: req
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                    .collect(),
            };
            Ok(Some((head, len)))
        }
        Err(httparse::Error::TooManyHeaders) => Err(ReadError::TooLarge),
        Err(e) => Err(ReadError::Malformed(e.to_string())),
    }
}

/// Reads until `buf` starts with a whole request head (at most `max` bytes);
/// returns it and its length (the head's bytes stay in `buf`).
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<(Head, usize), ReadError> {
    loop {
        if !buf.is_empty() {
            if let Some(done) = parse_head(buf)? {
                return Ok(done);
            }
            if buf.len() >= max {
                return Err(ReadError::TooLarge);
            }
        }
        let len = buf.len();
        let want = (max - len.min(max)).clamp(1, 4096);
        buf.resize(len + want, 0);
        match s.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => {
                buf.truncate(len);
                return Err(ReadError::Gone);
            }
            Ok(k) => buf.truncate(len + k),
        }
    }
}

/// Reads until `buf` holds at least `n` bytes; false when the peer went away.
pub(crate) async fn read_exact_into<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    n: usize,
) -> bool {
    while buf.len() < n {
        let len = buf.len();
        buf.resize(n, 0);
        match s.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => {
                buf.truncate(len);
                return false;
            }
            Ok(k) => buf.truncate(len + k),
        }
    }
    true
}

/// Reads up to 4 KiB more into `buf`; false when the peer went away.
async fn read_more<S: AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut) -> bool {
    let len = buf.len();
    buf.resize(len + 4096, 0);
    match s.read(&mut buf[len..]).await {
        Ok(0) | Err(_) => {
            buf.truncate(len);
            false
        }
        Ok(k) => {
            buf.truncate(len + k);
            true
        }
    }
}

/// Why a chunked body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// The chunks add up to more than the limit.
    TooLarge,
    /// A chunk's size line, its closing CRLF or the trailers are malformed
    /// (or a line is longer than the bound).
    Malformed,
    /// The peer went away before the last chunk.
    Gone,
}

/// Reads a chunked body (RFC 9112 §7.1) from `buf` and then `s`: each
/// chunk's size line is parsed by `httparse::parse_chunk_size`, the
/// trailers by `httparse::parse_headers` (and dropped); what httparse
/// leaves to the caller is checking the CRLF after each chunk's data. The
/// decoded body is at most `limit` bytes, a size line or the trailers at
/// most `max_line`. The bytes read past the body stay in `buf`.
pub(crate) async fn read_chunked<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    limit: usize,
    max_line: usize,
) -> Result<bytes::Bytes, ChunkError> {
    let mut body = BytesMut::new();
    loop {
        let (start, size) = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) if buf.len() < max_line => {
                    if !read_more(s, buf).await {
                        return Err(ChunkError::Gone);
                    }
                }
                Ok(httparse::Status::Partial) | Err(_) => return Err(ChunkError::Malformed),
            }
        };
        buf.advance(start);
        if size == 0 {
            loop {
                let mut trailers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(buf, &mut trailers) {
                    Ok(httparse::Status::Complete((n, _))) => {
                        buf.advance(n);
                        return Ok(body.freeze());
                    }
                    Ok(httparse::Status::Partial) if buf.len() < max_line => {
                        if !read_more(s, buf).await {
                            return Err(ChunkError::Gone);
                        }
                    }
                    Ok(httparse::Status::Partial) | Err(_) => return Err(ChunkError::Malformed),
                }
            }
        }
        let size = match usize::try_from(size) {
            Ok(n) if n <= limit.saturating_sub(body.len()) => n,
            _ => return Err(ChunkError::TooLarge),
        };
        if !read_exact_into(s, buf, size + 2).await {
            return Err(ChunkError::Gone);
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err(ChunkError::Malformed);
        }
        body.extend_from_slice(&buf[..size]);
        buf.advance(size + 2);
    }
}

/// The reason phrase of a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Writes a response: status line, the given headers, `content-length`,
/// `connection`, the body; flushes.
pub(crate) async fn write_response<S: AsyncWrite + Unpin>(
    s: &mut S,
    r: &super::HttpResponse,
    keep_alive: bool,
    extra: &[(String, String)],
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(128 + r.body.len());
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status)).as_bytes());
    for (n, v) in r.headers.iter().chain(extra) {
        // A value with a line break would split the head: never written.
        if n.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            continue;
        }
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n", r.body.len()).as_bytes());
    out.extend_from_slice(if keep_alive {
        b"connection: keep-alive\r\n\r\n"
    } else {
        b"connection: close\r\n\r\n"
    });
    out.extend_from_slice(&r.body);
    s.write_all(&out).await?;
    s.flush().await
}

/// A stream that first reads back `prefix` (bytes already read from `inner`),
/// then `inner`; writes go to `inner`.
pub(crate) struct Prefixed<S> {
    prefix: BytesMut,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: BytesMut, inner: S) -> Self {
        Prefixed { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(out.len());
            out[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_with_their_query_and_keep_alive() {
        let raw = b"POST /pub?key=k&seq=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
        let (h, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/pub");
        assert_eq!(h.query, "key=k&seq=1");
        assert!(h.has_token("content-length", "2"));
        assert!(h.keep_alive());
        assert_eq!(&raw[len..], b"{}");
        let (h, _) = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive());
        let (h, _) = parse_head(b"GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive());
        assert!(h.has_token("connection", "upgrade"));
    }

    fn chunked(input: &[u8], limit: usize) -> (Result<bytes::Bytes, ChunkError>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let mut empty: &[u8] = &[];
        let mut s = futures_lite::io::Cursor::new(&mut empty);
        let r = futures_lite::future::block_on(read_chunked(&mut s, &mut buf, limit, 1024));
        (r, buf)
    }

    #[test]
    fn chunked_bodies_decode_within_their_bounds() {
        let (r, rest) = chunked(
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET",
            64,
        );
        assert_eq!(r.as_deref(), Ok(&b"hello world"[..]));
        assert_eq!(&rest[..], b"GET");
        let (r, rest) = chunked(b"0\r\n\r\n", 64);
        assert_eq!(r.as_deref(), Ok(&b""[..]));
        assert!(rest.is_empty());
        assert_eq!(
            chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 8).0,
            Err(ChunkError::TooLarge)
        );
        assert_eq!(
            chunked(b"ffffffffffffffff\r\n", 8).0,
            Err(ChunkError::TooLarge)
        );
        assert_eq!(
            chunked(b"zz\r\nhello\r\n", 64).0,
            Err(ChunkError::Malformed)
        );
        assert_eq!(
            chunked(b"5\r\nhelloXX0\r\n\r\n", 64).0,
            Err(ChunkError::Malformed)
        );
        assert_eq!(chunked(b"5\r\nhel", 64).0, Err(ChunkError::Gone));
        assert_eq!(chunked(&[b'1'; 2000], 64).0, Err(ChunkError::Malformed));
    }

    #[test]
    fn partial_and_bad_heads() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        assert!(matches!(
            parse_head(b"\x01\x02 nonsense\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many).unwrap_err(), ReadError::TooLarge);
    }
}
