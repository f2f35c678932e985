//! The identity of a WAMP serializer: which of the spec's serializations
//! (`json`, `msgpack`, `cbor`) a session speaks, with its WebSocket
//! subprotocol, RawSocket id and config name. Encoding and decoding are the
//! codec's (the codec module adds them to [`Serializer`]); this module owns
//! only the names, so that a [`RawPayload`](crate::wamp::message::RawPayload)
//! can say what its bytes are without the protocol layer knowing any codec.

/// The serializers shardwamp speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Serializer {
    /// JSON: `wamp.2.json`, RawSocket id 1.
    Json,
    /// MessagePack: `wamp.2.msgpack`, RawSocket id 2.
    MsgPack,
    /// CBOR: `wamp.2.cbor`, RawSocket id 3.
    Cbor,
}

impl Serializer {
    /// Every serializer.
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// The WebSocket subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The RawSocket serializer id (the low nibble of the handshake's second octet).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    /// The name used in Crossbar.io's config (`"json"`, `"msgpack"`, `"cbor"`).
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// The serializer for a config name.
    pub fn from_name(name: &str) -> Option<Serializer> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The serializer for a WebSocket subprotocol.
    pub fn from_subprotocol(proto: &str) -> Option<Serializer> {
        Self::ALL.into_iter().find(|s| s.subprotocol() == proto)
    }

    /// The serializer for a RawSocket serializer id.
    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        Self::ALL.into_iter().find(|s| s.rawsocket_id() == id)
    }

    /// Whether frames are binary (WebSocket binary messages) rather than text.
    pub fn is_binary(self) -> bool {
        !matches!(self, Serializer::Json)
    }
}

impl std::fmt::Display for Serializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
