//! Transports: WebSocket and RawSocket over TCP and Unix sockets, from the
//! listening socket to the frames a connection's host receives.
//!
//! | file | owns |
//! | --- | --- |
//! | `options.rs` | listener specs and options ([`ListenerSpec`], [`WebSocketOptions`], [`RawSocketOptions`], [`EndpointSpec`], [`Bound`]) |
//! | `socket.rs` | socket setup: SO_REUSEPORT listeners on every shard, the admin listener, port reservation, the free-port check |
//! | `listener.rs` | accept loops ([`spawn_listener`]): TCP and Unix share one; a [`Listening`] dropped removes its Unix socket file; the accepted stream is handed on whatever its type |
//! | `admission.rs` | connection and handshake caps per transport |
//! | `serve.rs` | serving a connected stream: WebSocket and RawSocket handshakes, the reader and writer loops, closing |
//! | `rawsocket.rs` | RawSocket framing, sans-IO |
//! | `url.rs` | client URLs: the one parser of the URLs that name a router to dial (`ws://`, `rs://`, their `+unix` and TLS forms), for the blocking dialer and the load generator |
//! | `read_ahead.rs` | large socket reads without a read buffer per idle connection (`ReadAhead`) |
//! | `blocking.rs` | the blocking client's dialer: TCP and Unix streams, WebSocket and RawSocket wires, `connect` |
//! | `outbox.rs` | a connection's bounded, batched write queue |
//! | `admin.rs` | the admin HTTP listener: one request per connection, answered by an [`AdminSite`] |
//! | `host.rs` | [`Host`]: what serving needs from whoever hosts the connections (a shard) |
//! | `web/` | the `web` and `universal` transports: HTTP requests routed by path to WebSocket serving or to an [`web::HttpService`], RawSocket told apart by its first byte |
//! | `tls.rs` | TLS with rustls: a transport's reloadable [`TlsServer`], the dialers' [`TlsClientOptions`], what a handshake tells authentication |
//!
//! The transports import nothing of the shard, the control plane or the
//! components: a shard implements [`Host`], and the serving code is generic
//! over it and over the stream (`AsyncRead + AsyncWrite + Unpin`): a TLS
//! connection is served as a rustls stream over the TCP or Unix one.

mod admin;
mod admission;
pub mod blocking;
pub mod dial;
mod host;
mod listener;
mod options;
pub mod outbox;
pub mod rawsocket;
mod read_ahead;
mod serve;
mod socket;
#[cfg(test)]
mod tests;
pub mod tls;
pub mod url;
pub mod web;

pub use admin::{spawn_admin, AdminAnswer, AdminSite};
pub use admission::ConnGauge;
pub use host::{Host, Wire};
pub use listener::{spawn_listener, Listening};
pub use options::{
    Bound, EndpointSpec, ListenError, ListenerKind, ListenerSpec, RawSocketOptions, UniversalSpec,
    WebSocketOptions,
};
pub use outbox::{CloseReason, Outbox, QueueLimits, SlowConsumer};
pub use socket::{check_free, listen_socket, reserve};
pub use tls::{TlsClientOptions, TlsServer};
