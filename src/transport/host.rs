//! [`Host`]: what serving a connection needs from whoever hosts the
//! connections (a shard, in the router): open a connection, hand it frames,
//! learn that it closed, whether the host is stopping, counters for what
//! the transport refused, and the HTTP services mounted on web paths. The transport knows nothing more of its host; the
//! serving code is generic over it, so a frame costs a direct call.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::Serializer;
use crate::router::{ConnId, ShardId, TlsInfo, TransportId};

use super::outbox::{Outbox, QueueLimits};
use super::web::{HttpService, ServiceSpec};

/// The WAMP transport a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// WAMP over WebSocket.
    WebSocket,
    /// WAMP over RawSocket.
    RawSocket,
}

/// The host of a shard's connections, as the transports see it.
pub trait Host: 'static {
    /// The host's shard (for log lines, and to pick the listeners it serves).
    fn shard(&self) -> ShardId;

    /// True once the host is shutting down: no new connections are served.
    fn stopping(&self) -> bool;

    /// Opens a connection that speaks `serializer` over `wire`, came through
    /// `transport` from `peer` and queues its outgoing frames under
    /// `limits`; returns its id and its outbox, which the transport's writer
    /// drains. `tls` is what a TLS connection tells authentication (channel
    /// binding, client certificate); none on a plain connection.
    fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        wire: Wire,
        peer: &str,
        tls: Option<Arc<TlsInfo>>,
        limits: QueueLimits,
    ) -> (ConnId, Rc<Outbox>);

    /// A frame (one WAMP message) arrived on a connection.
    fn frame(&self, conn: ConnId, frame: &Bytes);

    /// A connection is gone.
    fn closed(&self, conn: ConnId);

    /// Counts a connection failed for breaking the WebSocket or RawSocket protocol.
    fn note_transport_protocol_error(&self);

    /// Counts a connection failed for a message over the transport's size limit.
    fn note_oversize_message(&self);

    /// Counts a connection refused at accept by a connection or handshake cap.
    fn note_connection_refused(&self);

    /// Counts a TLS handshake that failed or did not finish in time.
    fn note_tls_handshake_failure(&self);

    /// The HTTP service mounted on a web transport's path (built on first
    /// use; the host owns it), or none when the host serves no such service.
    fn http_service(self: &Rc<Self>, spec: &ServiceSpec) -> Option<Rc<dyn HttpService>> {
        let _ = spec;
        None
    }
}
