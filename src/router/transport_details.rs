//! [`TransportDetails`]: what the router knows of the transport a
//! connection came through (its kind, the peer's address, the serializer,
//! TLS), kept compact for the connection's life and rendered into the
//! `Dict` the meta API (`wamp.session.get`, `wamp.session.on_join`),
//! dynamic authenticators (`details.transport`) and dynamic authorizers
//! see only when one of them asks.
//!
//! A network connection's details are a few fields (one small allocation
//! for the peer's address); a `Dict` built per connection was a B-tree leaf
//! of eleven slots and four strings (~0.7 KiB per idle session). Details
//! given as a `Dict` (in-process components, the simulator) are kept as
//! given.

use crate::codec::Serializer;
use crate::dict;
use crate::wamp::value::{Dict, Value};

/// The transport details of one connection, shared by the connection and
/// the sessions that join on it.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportDetails {
    /// A network connection (WebSocket or RawSocket, plain or TLS).
    Network {
        /// `type`: `"websocket"` or `"rawsocket"`.
        kind: NetworkKind,
        /// `peer`: the peer's address as the listener names it.
        peer: Box<str>,
        /// The serializer spoken (`serializer`, and `protocol`: the
        /// WebSocket subprotocol or the RawSocket serializer's name).
        serializer: Serializer,
        /// `tls_version` of a TLS connection (with `is_secure` and
        /// `channel_type = "tls"`); none on a plain connection.
        tls_version: Option<Box<str>>,
    },
    /// Details given whole (in-process components, the simulator); the
    /// router adds `serializer`.
    Dict(Dict),
}

/// The kind of a network connection's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// WAMP over WebSocket.
    WebSocket,
    /// WAMP over RawSocket.
    RawSocket,
}

impl TransportDetails {
    /// Details given as a `Dict`, with `serializer` set to `serializer`'s name.
    pub fn from_dict(mut details: Dict, serializer: Serializer) -> TransportDetails {
        details.insert("serializer".into(), Value::from(serializer.name()));
        TransportDetails::Dict(details)
    }

    /// The peer's address (`peer`), if the details name one.
    pub fn peer(&self) -> Option<&str> {
        match self {
            TransportDetails::Network { peer, .. } => Some(peer),
            TransportDetails::Dict(d) => d.get("peer").and_then(Value::as_str),
        }
    }

    /// The details as the meta API and authenticators see them: `type`,
    /// `peer`, `protocol`, `serializer`, and for a TLS connection
    /// `is_secure`, `channel_type = "tls"` and `tls_version` (autobahn's
    /// `TransportDetails` names).
    pub fn to_dict(&self) -> Dict {
        match self {
            TransportDetails::Dict(d) => d.clone(),
            TransportDetails::Network {
                kind,
                peer,
                serializer,
                tls_version,
            } => {
                let (kind, protocol) = match kind {
                    NetworkKind::WebSocket => ("websocket", serializer.subprotocol()),
                    NetworkKind::RawSocket => ("rawsocket", serializer.name()),
                };
                let mut d = dict! {
                    "type" => kind,
                    "peer" => &**peer,
                    "protocol" => protocol,
                    "serializer" => serializer.name(),
                };
                if let Some(v) = tls_version {
                    d.insert("is_secure".into(), Value::Bool(true));
                    d.insert("channel_type".into(), Value::from("tls"));
                    d.insert("tls_version".into(), Value::from(&**v));
                }
                d
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_details_render_as_the_dict_they_replace() {
        let d = TransportDetails::Network {
            kind: NetworkKind::WebSocket,
            peer: "127.0.0.1:5000".into(),
            serializer: Serializer::Json,
            tls_version: Some("TLSv1.3".into()),
        };
        let want = dict! {
            "type" => "websocket",
            "peer" => "127.0.0.1:5000",
            "protocol" => "wamp.2.json",
            "serializer" => "json",
            "is_secure" => true,
            "channel_type" => "tls",
            "tls_version" => "TLSv1.3",
        };
        assert_eq!(d.to_dict(), want);
        assert_eq!(d.peer(), Some("127.0.0.1:5000"));
        let r = TransportDetails::Network {
            kind: NetworkKind::RawSocket,
            peer: "unix".into(),
            serializer: Serializer::MsgPack,
            tls_version: None,
        };
        let want = dict! {
            "type" => "rawsocket",
            "peer" => "unix",
            "protocol" => "msgpack",
            "serializer" => "msgpack",
        };
        assert_eq!(r.to_dict(), want);
    }

    #[test]
    fn given_details_get_the_serializer() {
        let d = TransportDetails::from_dict(dict! { "type" => "sim" }, Serializer::Cbor);
        assert_eq!(
            d.to_dict(),
            dict! { "type" => "sim", "serializer" => "cbor" }
        );
        assert_eq!(d.peer(), None);
    }
}
