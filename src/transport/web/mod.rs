//! The `web` and `universal` transports: one port that serves WebSocket
//! WAMP on some paths and HTTP services on others, and (universal) RawSocket
//! beside them, told apart by the first byte.
//!
//! | file | owns |
//! | --- | --- |
//! | `mod.rs` | what a web listener serves ([`WebSpec`], its run-time changeable path table [`WebPaths`], [`PathSpec`]), the [`HttpService`] trait a path's service implements, [`HttpRequest`] and [`HttpResponse`] |
//! | `http.rs` | HTTP/1.1 over a stream: reading a request head (httparse) and a bounded body, writing a response |
//! | `serve.rs` | serving a connection: requests in a keep-alive loop, routing by path (404 for none), the WebSocket upgrade handed to the WebSocket serving with the bytes already read; universal's first-byte switch |
//!
//! HTTP is parsed by `httparse` (the request head) rather than served by a
//! full server such as hyper: the WebSocket upgrade must go on as
//! tungstenite's handshake over the same stream with the bytes already
//! read, and the bridge's requests are small POSTs; a request head and a
//! body (`Content-Length` or chunked, decoded with httparse's
//! `parse_chunk_size`) bounded by size and time need no more (docs/web.md).
//!
//! The services mounted on paths (the HTTP bridge) are not the transport's:
//! a path names a service ([`ServiceSpec`]) and the [`super::Host`] builds it
//! ([`super::Host::http_service`]); the transport only hands it requests.

mod http;
mod serve;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::config::web::{normalize_path, BridgePath, WebOptions as ConfigWebOptions, WebPath};
use crate::router::TransportId;

use super::options::{ListenError, ListenerSpec};

pub(crate) use serve::{serve_universal, serve_web};

/// The transport id of a path's sessions: a web transport's WebSocket
/// paths and bridge services each have their own (their own authentication
/// and limits), derived from the transport's id and the path's number.
pub fn path_id(transport: TransportId, n: u32) -> TransportId {
    transport + ((n + 1) << 20)
}

/// The transport a path id belongs to ([`path_id`] reversed; a transport's own id is its own).
pub fn transport_of(id: TransportId) -> TransportId {
    id & ((1 << 20) - 1)
}

/// A web listener's HTTP bounds and timeouts (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Largest request head, bytes.
    pub max_header_size: usize,
    /// Largest request body, bytes.
    pub max_body_size: usize,
    /// Time to receive a request's body once its head arrived.
    pub request_timeout: u64,
    /// Time an idle keep-alive connection is kept (0: one request per connection).
    pub keepalive_timeout: u64,
    /// Time for the TLS handshake and the first request head.
    pub open_handshake_timeout: u64,
    /// `Strict-Transport-Security: max-age=` on TLS connections, when set.
    pub hsts_max_age: Option<u64>,
    /// TCP_NODELAY on accepted connections.
    pub tcp_nodelay: bool,
}

impl HttpOptions {
    /// From a web transport's configured options.
    pub fn from_config(o: &ConfigWebOptions) -> HttpOptions {
        HttpOptions {
            max_header_size: o.max_header_size.max(1024),
            max_body_size: o.max_body_size,
            request_timeout: o.request_timeout,
            keepalive_timeout: o.keepalive_timeout,
            open_handshake_timeout: o.open_handshake_timeout,
            hsts_max_age: o.hsts.then_some(o.hsts_max_age),
            tcp_nodelay: o.tcp_nodelay,
        }
    }
}

/// What a web listener serves.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSpec {
    /// HTTP bounds and timeouts.
    pub http: HttpOptions,
    /// The services by path, shared by every shard's copy and changed at run time.
    pub paths: WebPaths,
}

/// A bridge service mounted on a path.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// The transport id its session joins through ([`path_id`]).
    pub id: TransportId,
    /// The web transport's config id.
    pub transport: String,
    /// The path (`/pub`).
    pub path: String,
    /// `publisher`, `caller` or `webhook`.
    pub kind: &'static str,
    /// Realm, role and options.
    pub config: BridgePath,
}

/// A path's service.
// Built once per path and shared (`Arc`): the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum PathSpec {
    /// WAMP over WebSocket: a listener spec of its own (id, serializers,
    /// options with this path, auth, queue, limits).
    WebSocket(Box<ListenerSpec>),
    /// An HTTP service the host builds.
    Service(ServiceSpec),
}

impl PartialEq for PathSpec {
    /// The same path id serving the same kind.
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id() && self.kind() == other.kind()
    }
}

impl PathSpec {
    /// The transport id of the path's sessions.
    pub fn id(&self) -> TransportId {
        match self {
            PathSpec::WebSocket(l) => l.id,
            PathSpec::Service(s) => s.id,
        }
    }

    /// `websocket`, or the service's type.
    pub fn kind(&self) -> &'static str {
        match self {
            PathSpec::WebSocket(_) => "websocket",
            PathSpec::Service(s) => s.kind,
        }
    }
}

#[derive(Debug, Default)]
struct PathTable {
    by_path: BTreeMap<String, Arc<PathSpec>>,
    /// The number the next path gets ([`path_id`]).
    next: u32,
}

/// A web listener's path table: path → service, behind a lock that each
/// request reads once; `start_web_transport_service` and
/// `stop_web_transport_service` change it at run time.
#[derive(Clone, Default)]
pub struct WebPaths(Arc<RwLock<PathTable>>);

impl PartialEq for WebPaths {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for WebPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list()).finish()
    }
}

impl WebPaths {
    /// The service at `path` (normalized: `/ws/` is `/ws`).
    pub fn get(&self, path: &str) -> Option<Arc<PathSpec>> {
        let t = self.0.read().unwrap_or_else(|e| e.into_inner());
        t.by_path.get(&normalize_path(path)).cloned()
    }

    /// The paths and what each serves.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        let t = self.0.read().unwrap_or_else(|e| e.into_inner());
        t.by_path
            .iter()
            .map(|(p, s)| (p.clone(), s.kind()))
            .collect()
    }

    /// Every path's spec.
    pub fn specs(&self) -> Vec<Arc<PathSpec>> {
        let t = self.0.read().unwrap_or_else(|e| e.into_inner());
        t.by_path.values().cloned().collect()
    }

    /// Builds the spec of `path` serving `service` on transport `parent`,
    /// with the next path id, without mounting it ([`WebPaths::insert`]).
    pub fn prepare(
        &self,
        parent: &ListenerSpec,
        path: &str,
        service: &WebPath,
    ) -> Result<PathSpec, ListenError> {
        let n = {
            let mut t = self.0.write().unwrap_or_else(|e| e.into_inner());
            let n = t.next;
            t.next += 1;
            n
        };
        path_spec(parent, path, service, path_id(parent.id, n))
    }

    /// Takes the next path number without a path (a universal transport's RawSocket part's).
    pub(crate) fn skip_number(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).next += 1;
    }

    /// Mounts a prepared path; fails when the path is taken.
    pub fn insert(&self, spec: PathSpec, path: &str) -> Result<(), String> {
        let mut t = self.0.write().unwrap_or_else(|e| e.into_inner());
        let key = normalize_path(path);
        if t.by_path.contains_key(&key) {
            return Err(format!("path {key} is already served"));
        }
        t.by_path.insert(key, Arc::new(spec));
        Ok(())
    }

    /// Unmounts a path; returns what it served.
    pub fn remove(&self, path: &str) -> Option<Arc<PathSpec>> {
        let mut t = self.0.write().unwrap_or_else(|e| e.into_inner());
        t.by_path.remove(&normalize_path(path))
    }
}

/// The spec of `path` serving `service` as part of `parent`, with id `id`.
fn path_spec(
    parent: &ListenerSpec,
    path: &str,
    service: &WebPath,
    id: TransportId,
) -> Result<PathSpec, ListenError> {
    let path = normalize_path(path);
    Ok(match service {
        WebPath::Websocket(w) => {
            let l = ListenerSpec {
                id,
                name: format!("{}{}", parent.name, path),
                kind: super::options::ListenerKind::WebSocket(super::options::websocket_options(
                    &w.options, &path,
                )),
                endpoint: parent.endpoint.clone(),
                serializers: w.serializers.clone(),
                auth: w.auth.clone(),
                queue: super::options::queue_limits(w.options.queue()),
                shards: parent.shards.clone(),
                backlog: parent.backlog,
                limits: w.options.limits(),
                gauge: parent.gauge.clone(),
                tls: None,
            };
            PathSpec::WebSocket(Box::new(l))
        }
        WebPath::Publisher(b) | WebPath::Caller(b) | WebPath::Webhook(b) => {
            PathSpec::Service(ServiceSpec {
                id,
                transport: parent.name.clone(),
                path,
                kind: service.kind(),
                config: b.clone(),
            })
        }
    })
}

/// A web listener's spec: its paths mounted with ids `path_id(parent, 0..)`.
pub(crate) fn web_spec(
    parent: &ListenerSpec,
    options: &ConfigWebOptions,
    paths: &BTreeMap<String, WebPath>,
) -> Result<WebSpec, ListenError> {
    let table = WebPaths::default();
    for (p, svc) in paths {
        let spec = table.prepare(parent, p, svc)?;
        table
            .insert(spec, p)
            .map_err(|e| ListenError::Config(format!("transport '{}': {e}", parent.name)))?;
    }
    Ok(WebSpec {
        http: HttpOptions::from_config(options),
        paths: table,
    })
}

/// An HTTP request as a service sees it: the head, and the whole body.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?` (empty when none).
    pub query: String,
    /// Headers in order, names lowercase.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Bytes,
    /// The client's address (none on a Unix socket).
    pub peer: Option<SocketAddr>,
    /// Whether it came over TLS.
    pub secure: bool,
}

impl HttpRequest {
    /// The first header named `name` (lowercase), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// How many headers are named `name`.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }

    /// The query's parameters, percent-decoded (`+` as a space), in order.
    pub fn query_params(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }
}

/// Decodes `%XX` escapes and `+` (a space) in a query component; an invalid
/// escape is kept as written.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers (names as written); `content-length` and `connection` are added.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a body and its content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, "text/plain; charset=utf-8", body.as_bytes())
    }
}

/// A service mounted on a web transport's path: answers one request at a time
/// per connection (keep-alive keeps their order).
pub trait HttpService {
    /// Answers `req`.
    fn serve<'a>(
        &'a self,
        req: &'a HttpRequest,
    ) -> Pin<Box<dyn Future<Output = HttpResponse> + 'a>>;

    /// A request for this service was refused before it was served, while
    /// its body was read (`status`: 400, 408, 413), so that the
    /// service can count it.
    fn refused(&self, status: u16) {
        let _ = status;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_name_their_transport() {
        assert_eq!(transport_of(path_id(3, 0)), 3);
        assert_eq!(transport_of(path_id(3, 7)), 3);
        assert_ne!(path_id(3, 0), path_id(3, 1));
        assert_eq!(transport_of(5), 5);
    }

    #[test]
    fn query_parameters_decode() {
        let r = HttpRequest {
            method: "POST".into(),
            path: "/".into(),
            query: "key=a%2Bb&signature=x_y-z%3D&seq=1&empty&bad=%zz%4".into(),
            headers: vec![],
            body: Bytes::new(),
            peer: None,
            secure: false,
        };
        let q = r.query_params();
        assert_eq!(q[0], ("key".into(), "a+b".into()));
        assert_eq!(q[1], ("signature".into(), "x_y-z=".into()));
        assert_eq!(q[3], ("empty".into(), String::new()));
        assert_eq!(q[4], ("bad".into(), "%zz%4".into()));
    }
}
