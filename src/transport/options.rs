//! What a listening transport is: WebSocket and RawSocket options
//! (Crossbar.io's names), where it listens ([`EndpointSpec`]), the whole
//! [`ListenerSpec`] a shard serves, where it ended up bound ([`Bound`]), and
//! the mapping from a configured transport to a [`ListenerSpec`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::codec::Serializer;
use crate::config::auth::TransportAuth;
use crate::config::{
    ConnectionLimits, Endpoint, SlowConsumer as ConfigSlowConsumer, TransportConfig,
};
use crate::router::TransportId;

use super::admission::ConnGauge;
use super::outbox::{QueueLimits, SlowConsumer};
use super::tls::TlsServer;

/// Why a transport could not be set up or could not listen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ListenError {
    /// The transport's configuration cannot be served.
    #[error("{0}")]
    Config(String),
    /// The listener could not bind.
    #[error("transport '{name}': cannot listen on {endpoint}: {error}")]
    Bind {
        /// The transport.
        name: String,
        /// The endpoint.
        endpoint: String,
        /// The OS error.
        error: String,
    },
}

/// What a listener speaks.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenerKind {
    /// WAMP over WebSocket.
    WebSocket(WebSocketOptions),
    /// WAMP over RawSocket.
    RawSocket(RawSocketOptions),
    /// HTTP: WebSocket paths and HTTP services.
    Web(super::web::WebSpec),
    /// RawSocket (first byte 0x7F) and web on one port.
    Universal(UniversalSpec),
}

/// The path number of a universal transport's RawSocket part ([`super::web::path_id`]).
const UNIVERSAL_RAWSOCKET: u32 = 0;

impl PartialEq for UniversalSpec {
    /// The same RawSocket part (by id) and the same web part.
    fn eq(&self, other: &Self) -> bool {
        self.rawsocket.as_ref().map(|r| r.id) == other.rawsocket.as_ref().map(|r| r.id)
            && self.web == other.web
    }
}

/// A universal listener: its RawSocket part (refused when none) and its web part.
#[derive(Debug, Clone)]
pub struct UniversalSpec {
    /// The RawSocket part: a listener spec of its own (its own id and auth).
    pub rawsocket: Option<Box<ListenerSpec>>,
    /// The web part.
    pub web: super::web::WebSpec,
}

/// The runtime's WebSocket options from a configured transport's (or path's), serving `path`.
pub(crate) fn websocket_options(
    o: &crate::config::WebSocketOptions,
    path: &str,
) -> WebSocketOptions {
    WebSocketOptions {
        path: path.to_owned(),
        allowed_origins: o.allowed_origins.clone(),
        allow_null_origin: o.allow_null_origin,
        fail_by_drop: o.fail_by_drop,
        open_handshake_timeout: o.open_handshake_timeout,
        close_handshake_timeout: o.close_handshake_timeout,
        max_frame_size: o.max_frame_size,
        max_message_size: o.max_message_size,
        auto_fragment_size: o.auto_fragment_size,
        auto_ping_interval: o.auto_ping_interval,
        auto_ping_timeout: o.auto_ping_timeout,
        auto_ping_size: o.auto_ping_size.clamp(4, 125),
        tcp_nodelay: o.tcp_nodelay,
        read_buffer_size: o.read_buffer_size.max(256),
    }
}

/// The runtime's queue limits from a configured transport's.
pub(crate) fn queue_limits(q: crate::config::QueueConfig) -> QueueLimits {
    QueueLimits {
        max_messages: q.max_messages,
        max_bytes: q.max_bytes,
        policy: match q.slow_consumer {
            ConfigSlowConsumer::Drop => SlowConsumer::Drop,
            ConfigSlowConsumer::Disconnect => SlowConsumer::Disconnect,
        },
    }
}

/// WebSocket options (Crossbar.io's names; times in ms).
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketOptions {
    /// The URL path served (`/ws`).
    pub path: String,
    /// Allowed `Origin` patterns (`*` matches any run of characters); a request without
    /// an `Origin` header (a non-browser client) is not checked.
    pub allowed_origins: Vec<String>,
    /// Let an `Origin: null` in even when `allowed_origins` would not.
    pub allow_null_origin: bool,
    /// Drop TCP when failing a connection, without a Close frame.
    pub fail_by_drop: bool,
    /// Time allowed for the opening handshake (0: no limit).
    pub open_handshake_timeout: u64,
    /// Time the router waits for the peer's Close after sending its own,
    /// before it drops the TCP connection (0: it does not wait).
    pub close_handshake_timeout: u64,
    /// Largest frame payload accepted (0: unlimited); a larger one fails the
    /// connection with close code 1009.
    pub max_frame_size: usize,
    /// Largest message accepted, all frames together (0: unlimited); a larger
    /// one fails the connection with close code 1009.
    pub max_message_size: usize,
    /// Outgoing messages larger than this are sent as fragments (a first frame
    /// and continuation frames) of at most this many payload bytes (0: never).
    pub auto_fragment_size: usize,
    /// Send a ping every this long (0: never).
    pub auto_ping_interval: u64,
    /// Drop the connection when a ping is not answered within this long
    /// (0: the interval).
    pub auto_ping_timeout: u64,
    /// Payload bytes of each ping (random, 4 to 125); only a pong that echoes
    /// them counts as an answer.
    pub auto_ping_size: u8,
    /// Set TCP_NODELAY on accepted connections.
    pub tcp_nodelay: bool,
    /// Most bytes read from the socket at a time (at least 256); not kept
    /// per connection (`read_ahead.rs`).
    pub read_buffer_size: usize,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            path: "/ws".into(),
            allowed_origins: vec!["*".into()],
            allow_null_origin: false,
            fail_by_drop: false,
            open_handshake_timeout: 10_000,
            close_handshake_timeout: 1_000,
            max_frame_size: 16 * 1024 * 1024,
            max_message_size: 16 * 1024 * 1024,
            auto_fragment_size: 0,
            auto_ping_interval: 0,
            auto_ping_timeout: 0,
            auto_ping_size: 4,
            tcp_nodelay: true,
            read_buffer_size: 2048,
        }
    }
}

/// RawSocket options.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSocketOptions {
    /// Largest message accepted (rounded down to a power of two, 512 B..16 MiB).
    pub max_message_size: usize,
    /// Time allowed for the opening handshake.
    pub open_handshake_timeout: u64,
    /// Most bytes read from the socket at a time (at least 256); not kept
    /// per connection (`read_ahead.rs`).
    pub read_buffer_size: usize,
}

impl Default for RawSocketOptions {
    fn default() -> Self {
        RawSocketOptions {
            max_message_size: 16 * 1024 * 1024,
            open_handshake_timeout: 10_000,
            read_buffer_size: 2048,
        }
    }
}

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointSpec {
    /// TCP; port 0 picks a free port (the same on every shard).
    Tcp(SocketAddr),
    /// A Unix domain socket (served by shard 0).
    Unix(PathBuf),
}

/// One listening transport, as the runtime needs it.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// The transport's index (the same on every shard).
    pub id: TransportId,
    /// The transport's config id (`ws1`).
    pub name: String,
    /// WebSocket or RawSocket, with options.
    pub kind: ListenerKind,
    /// Where it listens.
    pub endpoint: EndpointSpec,
    /// The serializers it offers, in preference order.
    pub serializers: Vec<Serializer>,
    /// Its authentication.
    pub auth: TransportAuth,
    /// Outgoing queue limits and slow-consumer policy.
    pub queue: QueueLimits,
    /// Listen only on these shards (all when `None`); tests use it to place sessions.
    pub shards: Option<Vec<usize>>,
    /// The listen backlog, TCP or Unix (the kernel caps it at `net.core.somaxconn`).
    pub backlog: u32,
    /// Connection caps and session-opening deadlines.
    pub limits: ConnectionLimits,
    /// Its connections, all shards together (shared by every shard's copy).
    pub gauge: Arc<ConnGauge>,
    /// TLS, when the endpoint has a `tls` table (shared by every shard's
    /// copy, so that one reload serves every shard).
    pub tls: Option<Arc<TlsServer>>,
}

/// An address a transport is bound to.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// The transport's index.
    pub transport: TransportId,
    /// Its config id.
    pub name: String,
    /// `websocket` or `rawsocket`.
    pub kind: &'static str,
    /// Where it listens.
    pub endpoint: EndpointSpec,
}

impl EndpointSpec {
    /// The endpoint as the error messages show it (`127.0.0.1:8080`, a path).
    pub fn display(&self) -> String {
        match self {
            EndpointSpec::Tcp(a) => a.to_string(),
            EndpointSpec::Unix(p) => p.display().to_string(),
        }
    }
}

impl ListenerKind {
    /// `websocket`, `rawsocket`, `web` or `universal`.
    pub fn name(&self) -> &'static str {
        match self {
            ListenerKind::WebSocket(_) => "websocket",
            ListenerKind::RawSocket(_) => "rawsocket",
            ListenerKind::Web(_) => "web",
            ListenerKind::Universal(_) => "universal",
        }
    }
}

impl ListenerSpec {
    /// The runtime's view of one transport, as transport number `id`.
    pub fn from_transport(id: u32, t: &TransportConfig) -> Result<ListenerSpec, ListenError> {
        let backlog;
        let endpoint = match t.endpoint() {
            Endpoint::Tcp(tcp) => {
                backlog = tcp.backlog;
                EndpointSpec::Tcp(tcp.socket_addr())
            }
            Endpoint::Unix(u) => {
                backlog = u.backlog;
                EndpointSpec::Unix(u.path.clone())
            }
        };
        let tls = match t.endpoint().tls() {
            Some(files) => Some(Arc::new(
                TlsServer::load(t.id(), files).map_err(ListenError::Config)?,
            )),
            None => None,
        };
        let queue = queue_limits(t.queue());
        let kind = match t {
            TransportConfig::Websocket(w) => {
                ListenerKind::WebSocket(websocket_options(&w.options, &w.url))
            }
            TransportConfig::Rawsocket(r) => ListenerKind::RawSocket(RawSocketOptions {
                max_message_size: r.options.effective_max_message_size(),
                open_handshake_timeout: r.options.open_handshake_timeout,
                read_buffer_size: r.options.read_buffer_size.max(256),
            }),
            // Filled in below, once the spec its paths belong to exists.
            TransportConfig::Web(_) | TransportConfig::Universal(_) => {
                ListenerKind::RawSocket(RawSocketOptions::default())
            }
        };
        let mut spec = ListenerSpec {
            id,
            name: t.id().to_owned(),
            kind,
            endpoint,
            serializers: t.serializers().to_vec(),
            auth: t.auth().clone(),
            queue,
            shards: None,
            backlog,
            limits: t.limits(),
            gauge: Default::default(),
            tls,
        };
        match t {
            TransportConfig::Web(w) => {
                spec.kind = ListenerKind::Web(super::web::web_spec(&spec, &w.options, &w.paths)?);
            }
            TransportConfig::Universal(u) => {
                let rawsocket = match &u.rawsocket {
                    Some(r) => {
                        let mut rs = spec.clone();
                        rs.id = super::web::path_id(id, UNIVERSAL_RAWSOCKET);
                        rs.name = format!("{} (rawsocket)", spec.name);
                        rs.kind = ListenerKind::RawSocket(RawSocketOptions {
                            max_message_size: r.options.effective_max_message_size(),
                            open_handshake_timeout: r.options.open_handshake_timeout,
                            read_buffer_size: r.options.read_buffer_size.max(256),
                        });
                        rs.tls = None;
                        Some(Box::new(rs))
                    }
                    None => None,
                };
                let web = super::web::WebSpec {
                    http: super::web::HttpOptions::from_config(&u.web_options()),
                    paths: Default::default(),
                };
                // Path numbers after the RawSocket part's.
                web.paths.skip_number();
                for (p, svc) in &u.all_paths() {
                    let s = web.paths.prepare(&spec, p, svc)?;
                    web.paths.insert(s, p).map_err(|e| {
                        ListenError::Config(format!("transport '{}': {e}", spec.name))
                    })?;
                }
                spec.kind = ListenerKind::Universal(UniversalSpec { rawsocket, web });
            }
            _ => {}
        }
        Ok(spec)
    }

    /// Every transport id its sessions come through: its own, or each
    /// path's and a universal transport's RawSocket part's.
    pub fn session_transports(&self) -> Vec<TransportId> {
        let mut ids = vec![self.id];
        if let Some(web) = self.web() {
            ids.extend(web.paths.specs().iter().map(|p| p.id()));
        }
        if let ListenerKind::Universal(u) = &self.kind {
            ids.extend(u.rawsocket.iter().map(|r| r.id));
        }
        ids
    }

    /// The web part of a web or universal listener.
    pub fn web(&self) -> Option<&super::web::WebSpec> {
        match &self.kind {
            ListenerKind::Web(w) => Some(w),
            ListenerKind::Universal(u) => Some(&u.web),
            _ => None,
        }
    }

    /// Where this listener is bound, once its port is resolved.
    pub fn bound(&self) -> Bound {
        Bound {
            transport: self.id,
            name: self.name.clone(),
            kind: self.kind.name(),
            endpoint: self.endpoint.clone(),
        }
    }
}
