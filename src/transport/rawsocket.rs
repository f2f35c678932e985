//! WAMP-over-RawSocket, sans-IO: the opening handshake and the length-prefixed
//! framing as pure functions over bytes. No sockets, no async: the I/O layer
//! reads into a [`BytesMut`], asks [`FrameDecoder`] for frames, and writes what
//! [`encode_frame`] (or [`encode_header`] plus the payload) produces.
//!
//! ## Handshake
//!
//! The client opens with 4 octets, `0x7F`, `LLLL SSSS`, `0x00`, `0x00`:
//! the magic octet, the maximum message length it will *receive*
//! (`2^(LLLL + 9)`, 512 B to 16 MiB) and the serializer it wants
//! (1 JSON, 2 MessagePack, 3 CBOR; 0 is illegal). The router answers with the
//! same structure — echoing the serializer and stating its own maximum — or
//! with an error, `0x7F`, `EEEE 0000`, `0x00`, `0x00` ([`HandshakeErrorCode`]).
//! A first octet other than `0x7F` is not a RawSocket request at all: the
//! router fails the connection without a reply ([`HandshakeError::BadMagic`],
//! whose [`HandshakeError::reply`] is `None`).
//!
//! [`negotiate`] does the router's side in one call; [`parse_client_handshake`],
//! [`server_handshake_ok`] and [`server_handshake_error`] are its parts, and
//! [`client_handshake`] with [`parse_server_handshake`] are the client's side
//! (for router-to-router links).
//!
//! ## Framing
//!
//! Every transport message is a 4-octet prefix and a payload:
//!
//! ```text
//! RRRR XTTT LLLLLLLL LLLLLLLL LLLLLLLL
//! ```
//!
//! `RRRR` are reserved and must be zero; `TTT` is the type (0 a WAMP message,
//! 1 PING, 2 PONG, 3–7 reserved); `L…` is the payload length, big-endian. `X`
//! is the 25th length bit, set only for a payload of exactly 2^24 octets (the
//! 16 MiB a `LLLL = 15` handshake allows) with every `L` bit clear. A frame over
//! the limit this side announced fails the connection; [`FrameDecoder`] reports
//! it from the header alone, before any of the payload is buffered.
//!
//! ## Example
//!
//! ```
//! use bytes::BytesMut;
//! use shardwamp::codec::Serializer;
//! use shardwamp::transport::rawsocket::{self, Frame, FrameKind};
//!
//! // A client asks for JSON and accepts messages up to 2^24 octets.
//! let hello = [0x7F, 0xF1, 0x00, 0x00];
//! let n = rawsocket::negotiate(hello, &Serializer::ALL, 64 * 1024).unwrap();
//! assert_eq!(n.serializer, Serializer::Json);
//! assert_eq!(n.peer_max_len, 1 << 24);
//! assert_eq!(n.reply, [0x7F, 0x71, 0x00, 0x00]); // we take up to 2^16
//!
//! // Frames arrive in pieces; the decoder waits for whole ones.
//! let mut wire = BytesMut::new();
//! rawsocket::encode_frame(FrameKind::Ping, b"abc", n.peer_max_len, &mut wire).unwrap();
//! let mut dec = n.decoder();
//! let mut buf = BytesMut::new();
//! buf.extend_from_slice(&wire[..5]);
//! assert_eq!(dec.decode(&mut buf).unwrap(), None);
//! buf.extend_from_slice(&wire[5..]);
//! assert_eq!(dec.decode(&mut buf).unwrap(), Some(Frame::Ping("abc".into())));
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::codec::Serializer;

/// The first octet of every handshake request and reply.
pub const MAGIC: u8 = 0x7F;

/// The smallest maximum-length exponent a handshake can state (2^9 = 512 octets).
pub const MIN_MAX_LEN_EXP: u8 = 9;

/// The largest maximum-length exponent a handshake can state (2^24 = 16 MiB).
pub const MAX_MAX_LEN_EXP: u8 = 24;

/// The length of a frame prefix, in octets.
pub const HEADER_LEN: usize = 4;

/// The longest payload a frame can carry: 2^24 octets (with the `X` bit).
pub const MAX_FRAME_LEN: usize = 1 << 24;

/// The frame prefix's reserved bits (`RRRR`).
const RESERVED_MASK: u8 = 0xF0;
/// The 25th length bit (`X`).
const X_BIT: u8 = 0x08;
/// The transport message type (`TTT`).
const TYPE_MASK: u8 = 0x07;

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

/// A client's handshake request, as parsed by [`parse_client_handshake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientHandshake {
    /// The exponent of the longest message the client accepts: it receives at
    /// most `2^max_len_exp` octets per message (9..=24).
    pub max_len_exp: u8,
    /// The serializer the client asks for.
    pub serializer: Serializer,
}

impl ClientHandshake {
    /// The longest message the client accepts, in octets (`2^max_len_exp`,
    /// with the exponent clamped to 9..=24).
    pub fn max_len(self) -> usize {
        exp_to_len(self.max_len_exp)
    }

    /// The 4 octets of this request (what [`client_handshake`] builds).
    pub fn to_bytes(self) -> [u8; 4] {
        client_handshake(self.max_len_exp, self.serializer)
    }
}

/// A router's accepting handshake reply, as parsed by [`parse_server_handshake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerHandshake {
    /// The exponent of the longest message the router accepts: the client may
    /// send at most `2^max_len_exp` octets per message (9..=24).
    pub max_len_exp: u8,
    /// The serializer, echoed from the request.
    pub serializer: Serializer,
}

impl ServerHandshake {
    /// The longest message the router accepts, in octets (`2^max_len_exp`,
    /// with the exponent clamped to 9..=24).
    pub fn max_len(self) -> usize {
        exp_to_len(self.max_len_exp)
    }
}

/// The error codes of a handshake error reply (the high nibble of its second
/// octet). Code 0 is illegal in a reply and 5–15 are reserved, so neither has
/// a variant: [`HandshakeErrorCode::from_code`] answers `None` for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HandshakeErrorCode {
    /// 1: the requested serializer is not supported.
    SerializerUnsupported = 1,
    /// 2: the requested maximum message length is unacceptable.
    MaxLengthUnacceptable = 2,
    /// 3: the request uses reserved bits (an unsupported feature).
    ReservedBits = 3,
    /// 4: the router has reached its maximum connection count.
    MaxConnections = 4,
}

impl HandshakeErrorCode {
    /// Every error code, in code order.
    pub const ALL: [HandshakeErrorCode; 4] = [
        HandshakeErrorCode::SerializerUnsupported,
        HandshakeErrorCode::MaxLengthUnacceptable,
        HandshakeErrorCode::ReservedBits,
        HandshakeErrorCode::MaxConnections,
    ];

    /// The code on the wire (1..=4).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The error for a code on the wire; `None` for 0 (illegal) and 5..=15
    /// (reserved) — and anything above 15, which no nibble holds.
    pub fn from_code(code: u8) -> Option<HandshakeErrorCode> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The spec's wording for the error.
    pub fn description(self) -> &'static str {
        match self {
            HandshakeErrorCode::SerializerUnsupported => "serializer unsupported",
            HandshakeErrorCode::MaxLengthUnacceptable => "maximum message length unacceptable",
            HandshakeErrorCode::ReservedBits => "use of reserved bits (unsupported feature)",
            HandshakeErrorCode::MaxConnections => "maximum connection count reached",
        }
    }
}

impl std::fmt::Display for HandshakeErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.description(), self.code())
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum HandshakeError {
    /// The first octet is not `0x7F`: not a RawSocket handshake. Unanswerable —
    /// the connection is failed without a reply.
    #[error("not a RawSocket handshake: first octet is {0:#04x}, not 0x7f")]
    BadMagic(u8),
    /// The reserved third and fourth octets are not zero (error code 3).
    #[error("reserved handshake octets are not zero: {0:#04x} {1:#04x}")]
    ReservedBits(u8, u8),
    /// The request names serializer 0, which is illegal (answered with error
    /// code 1, serializer unsupported).
    #[error("serializer id 0 is illegal")]
    IllegalSerializer,
    /// The request names a serializer that shardwamp does not implement
    /// (UBJSON, FlatBuffers, a reserved id) or that this endpoint does not
    /// offer (error code 1). Holds the serializer id.
    #[error("serializer id {0} is not supported")]
    UnsupportedSerializer(u8),
    /// Client side: the router answered with an error reply.
    #[error("the router refused the handshake: {0}")]
    Refused(HandshakeErrorCode),
    /// Client side: the router answered with an error code the spec does not
    /// define (0, or 5..=15). Holds the code.
    #[error("the router refused the handshake with undefined error code {0}")]
    RefusedUndefined(u8),
    /// Client side: the router accepted with a serializer other than the one
    /// requested.
    #[error("the router accepted serializer id {got}, but {requested} was requested")]
    SerializerMismatch {
        /// The serializer the client asked for.
        requested: Serializer,
        /// The serializer id in the router's reply.
        got: u8,
    },
}

impl HandshakeError {
    /// The error code a router answers this error with, or `None` where no
    /// reply is sent: a bad magic octet (fail the connection silently), and
    /// the client-side errors (a client never replies to a reply).
    pub fn reply_code(&self) -> Option<HandshakeErrorCode> {
        match self {
            HandshakeError::ReservedBits(..) => Some(HandshakeErrorCode::ReservedBits),
            HandshakeError::IllegalSerializer | HandshakeError::UnsupportedSerializer(_) => {
                Some(HandshakeErrorCode::SerializerUnsupported)
            }
            HandshakeError::BadMagic(_)
            | HandshakeError::Refused(_)
            | HandshakeError::RefusedUndefined(_)
            | HandshakeError::SerializerMismatch { .. } => None,
        }
    }

    /// The 4-octet error reply a router sends before closing, or `None` where
    /// it closes without one (see [`HandshakeError::reply_code`]).
    pub fn reply(&self) -> Option<[u8; 4]> {
        self.reply_code().map(server_handshake_error)
    }
}

/// The outcome of a successful [`negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// The accepting reply to send the client.
    pub reply: [u8; 4],
    /// The serializer both sides now speak.
    pub serializer: Serializer,
    /// The longest message we may send the client, in octets.
    pub peer_max_len: usize,
    /// Our maximum-length exponent, as stated in `reply`: the client may send
    /// us at most `2^our_max_len_exp` octets per message.
    pub our_max_len_exp: u8,
}

impl Negotiated {
    /// The longest message the client may send us, in octets.
    pub fn our_max_len(&self) -> usize {
        exp_to_len(self.our_max_len_exp)
    }

    /// A decoder for the client's frames, bounded by what we announced.
    pub fn decoder(&self) -> FrameDecoder {
        FrameDecoder::new(self.our_max_len())
    }
}

/// A handshake [`negotiate`] refused: what to send, if anything, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{error}")]
pub struct Refusal {
    /// The error reply to send before closing; `None` to close without one
    /// (a bad magic octet: not a RawSocket peer).
    pub reply: Option<[u8; 4]>,
    /// Why the handshake was refused.
    pub error: HandshakeError,
}

impl From<HandshakeError> for Refusal {
    fn from(error: HandshakeError) -> Self {
        Refusal {
            reply: error.reply(),
            error,
        }
    }
}

/// The maximum-length exponent for a maximum message size: `max_len` rounded
/// down to a power of two, clamped to 2^9..=2^24 (so anything under 512
/// becomes 9, and anything over 16 MiB becomes 24).
pub fn max_len_exp_for(max_len: usize) -> u8 {
    let exp = max_len.checked_ilog2().unwrap_or(0);
    let clamped = exp.clamp(u32::from(MIN_MAX_LEN_EXP), u32::from(MAX_MAX_LEN_EXP));
    u8::try_from(clamped).unwrap_or(MAX_MAX_LEN_EXP)
}

/// `2^exp`, with `exp` clamped to 9..=24.
fn exp_to_len(exp: u8) -> usize {
    1usize << exp.clamp(MIN_MAX_LEN_EXP, MAX_MAX_LEN_EXP)
}

/// Handshake octets: magic, `LLLL SSSS`, two zero octets.
fn handshake_octets(max_len_exp: u8, low_nibble: u8) -> [u8; 4] {
    let l = max_len_exp.clamp(MIN_MAX_LEN_EXP, MAX_MAX_LEN_EXP) - MIN_MAX_LEN_EXP;
    [MAGIC, (l << 4) | (low_nibble & 0x0F), 0, 0]
}

/// Parses a client's 4-octet handshake request.
///
/// Checks, in order: the magic octet ([`HandshakeError::BadMagic`], not to be
/// answered), the reserved octets ([`HandshakeError::ReservedBits`]), the
/// serializer id ([`HandshakeError::IllegalSerializer`] for 0,
/// [`HandshakeError::UnsupportedSerializer`] for one shardwamp does not
/// implement). Every `LENGTH` value is valid (2^9..=2^24).
pub fn parse_client_handshake(bytes: [u8; 4]) -> Result<ClientHandshake, HandshakeError> {
    let [magic, octet, r1, r2] = bytes;
    if magic != MAGIC {
        return Err(HandshakeError::BadMagic(magic));
    }
    if r1 != 0 || r2 != 0 {
        return Err(HandshakeError::ReservedBits(r1, r2));
    }
    let ser_id = octet & 0x0F;
    if ser_id == 0 {
        return Err(HandshakeError::IllegalSerializer);
    }
    let serializer = Serializer::from_rawsocket_id(ser_id)
        .ok_or(HandshakeError::UnsupportedSerializer(ser_id))?;
    Ok(ClientHandshake {
        max_len_exp: (octet >> 4) + MIN_MAX_LEN_EXP,
        serializer,
    })
}

/// A router's accepting reply: echoes `serializer` and states the longest
/// message it accepts, `2^max_len_exp` octets. The exponent is clamped to
/// 9..=24 (see [`max_len_exp_for`] to derive one from a size).
pub fn server_handshake_ok(max_len_exp: u8, serializer: Serializer) -> [u8; 4] {
    handshake_octets(max_len_exp, serializer.rawsocket_id())
}

/// A router's error reply: `0x7F`, `EEEE 0000`, `0x00`, `0x00`. Close the
/// connection after sending it.
pub fn server_handshake_error(code: HandshakeErrorCode) -> [u8; 4] {
    [MAGIC, code.code() << 4, 0, 0]
}

/// A client's handshake request: asks for `serializer` and states the longest
/// message the client accepts, `2^max_len_exp` octets (clamped to 9..=24).
pub fn client_handshake(max_len_exp: u8, serializer: Serializer) -> [u8; 4] {
    handshake_octets(max_len_exp, serializer.rawsocket_id())
}

/// Parses a router's reply to a request for `requested` (the client's side).
///
/// Checks the magic octet and reserved octets as [`parse_client_handshake`]
/// does, then: a zero serializer nibble is an error reply
/// ([`HandshakeError::Refused`], or [`HandshakeError::RefusedUndefined`] for an
/// undefined code), and an accepting reply must echo the requested serializer
/// ([`HandshakeError::SerializerMismatch`]).
pub fn parse_server_handshake(
    bytes: [u8; 4],
    requested: Serializer,
) -> Result<ServerHandshake, HandshakeError> {
    let [magic, octet, r1, r2] = bytes;
    if magic != MAGIC {
        return Err(HandshakeError::BadMagic(magic));
    }
    if r1 != 0 || r2 != 0 {
        return Err(HandshakeError::ReservedBits(r1, r2));
    }
    let (high, ser_id) = (octet >> 4, octet & 0x0F);
    if ser_id == 0 {
        return Err(match HandshakeErrorCode::from_code(high) {
            Some(code) => HandshakeError::Refused(code),
            None => HandshakeError::RefusedUndefined(high),
        });
    }
    if ser_id != requested.rawsocket_id() {
        return Err(HandshakeError::SerializerMismatch {
            requested,
            got: ser_id,
        });
    }
    Ok(ServerHandshake {
        max_len_exp: high + MIN_MAX_LEN_EXP,
        serializer: requested,
    })
}

/// The router's side of the handshake in one call: parses the client's
/// request, checks its serializer is among `supported`, and builds the
/// accepting reply stating our limit — `our_max_len` rounded down to a power
/// of two and clamped to 2^9..=2^24 ([`max_len_exp_for`]).
///
/// On refusal, [`Refusal::reply`] is the error reply to send before closing,
/// or `None` for a bad magic octet (close without a reply).
pub fn negotiate(
    client: [u8; 4],
    supported: &[Serializer],
    our_max_len: usize,
) -> Result<Negotiated, Refusal> {
    let hs = parse_client_handshake(client)?;
    if !supported.contains(&hs.serializer) {
        return Err(HandshakeError::UnsupportedSerializer(hs.serializer.rawsocket_id()).into());
    }
    let our_max_len_exp = max_len_exp_for(our_max_len);
    Ok(Negotiated {
        reply: server_handshake_ok(our_max_len_exp, hs.serializer),
        serializer: hs.serializer,
        peer_max_len: hs.max_len(),
        our_max_len_exp,
    })
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

/// The type of a transport message (the `TTT` bits of the frame prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// 0: a serialized WAMP message.
    Message = 0,
    /// 1: a PING; the peer answers with exactly one PONG echoing its payload.
    Ping = 1,
    /// 2: a PONG, echoing a PING's payload.
    Pong = 2,
}

impl FrameKind {
    /// The type code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind for a type code; `None` for 3..=7 (reserved) and above.
    pub fn from_code(code: u8) -> Option<FrameKind> {
        match code {
            0 => Some(FrameKind::Message),
            1 => Some(FrameKind::Ping),
            2 => Some(FrameKind::Pong),
            _ => None,
        }
    }
}

/// One transport message. Payloads decoded by [`FrameDecoder`] share the
/// receive buffer's allocation (no copy).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Frame {
    /// A serialized WAMP message, for the codec.
    Message(Bytes),
    /// A PING with its payload; answer with a [`Frame::Pong`] of the same payload.
    Ping(Bytes),
    /// A PONG with its payload.
    Pong(Bytes),
}

impl Frame {
    /// The frame of `kind` carrying `payload`.
    pub fn new(kind: FrameKind, payload: Bytes) -> Frame {
        match kind {
            FrameKind::Message => Frame::Message(payload),
            FrameKind::Ping => Frame::Ping(payload),
            FrameKind::Pong => Frame::Pong(payload),
        }
    }

    /// The frame's kind.
    pub fn kind(&self) -> FrameKind {
        match self {
            Frame::Message(_) => FrameKind::Message,
            Frame::Ping(_) => FrameKind::Ping,
            Frame::Pong(_) => FrameKind::Pong,
        }
    }

    /// The frame's payload.
    pub fn payload(&self) -> &Bytes {
        match self {
            Frame::Message(p) | Frame::Ping(p) | Frame::Pong(p) => p,
        }
    }

    /// The frame's payload, taken.
    pub fn into_payload(self) -> Bytes {
        match self {
            Frame::Message(p) | Frame::Ping(p) | Frame::Pong(p) => p,
        }
    }
}

/// Why a frame could not be decoded or encoded. Any decoding error fails the
/// connection: the stream cannot be resynchronized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FrameError {
    /// The reserved bits (`RRRR`) of the prefix's first octet are set. Holds
    /// the octet.
    #[error("reserved bits set in frame prefix octet {0:#04x}")]
    ReservedBits(u8),
    /// The transport message type is reserved (3..=7). Holds the type.
    #[error("reserved transport message type {0}")]
    UnknownType(u8),
    /// The `X` length bit is set but the 24-bit length is not zero (`X` only
    /// encodes a length of exactly 2^24). Holds the 24-bit length.
    #[error("length bit X set with a nonzero 24-bit length {0}")]
    BadLengthExtension(u32),
    /// The payload is longer than the receiving side's announced maximum.
    #[error("frame payload of {len} octets exceeds the maximum of {max}")]
    TooLong {
        /// The payload length.
        len: usize,
        /// The maximum in force.
        max: usize,
    },
    /// The payload is longer than any frame can carry (2^24 octets). Holds the
    /// length.
    #[error("{0} octets cannot be framed: a RawSocket frame carries at most 2^24")]
    Unrepresentable(usize),
}

/// Parses a frame prefix into its kind and payload length, checking the
/// reserved bits, the type and the `X` bit (but no maximum: see
/// [`FrameDecoder`]).
pub fn decode_header(header: [u8; 4]) -> Result<(FrameKind, usize), FrameError> {
    let [first, l2, l1, l0] = header;
    if first & RESERVED_MASK != 0 {
        return Err(FrameError::ReservedBits(first));
    }
    let ty = first & TYPE_MASK;
    let kind = FrameKind::from_code(ty).ok_or(FrameError::UnknownType(ty))?;
    let low = u32::from_be_bytes([0, l2, l1, l0]);
    let len = if first & X_BIT != 0 {
        if low != 0 {
            return Err(FrameError::BadLengthExtension(low));
        }
        MAX_FRAME_LEN
    } else {
        (usize::from(l2) << 16) | (usize::from(l1) << 8) | usize::from(l0)
    };
    Ok((kind, len))
}

/// The 4-octet prefix for a payload of `len` octets; a payload of exactly
/// 2^24 octets uses the `X` bit, longer ones are
/// [`FrameError::Unrepresentable`]. Write the payload after it (a gathered
/// write avoids copying it).
pub fn encode_header(kind: FrameKind, len: usize) -> Result<[u8; 4], FrameError> {
    if len > MAX_FRAME_LEN {
        return Err(FrameError::Unrepresentable(len));
    }
    if len == MAX_FRAME_LEN {
        return Ok([X_BIT | kind.code(), 0, 0, 0]);
    }
    Ok([kind.code(), (len >> 16) as u8, (len >> 8) as u8, len as u8])
}

/// Appends a whole frame — prefix and payload — to `out`.
///
/// `max_len` is the peer's maximum (from its handshake): a longer payload is
/// [`FrameError::TooLong`] and one over 2^24 octets
/// [`FrameError::Unrepresentable`]; on error nothing is written. The limit
/// applies to every kind, PINGs and PONGs included.
pub fn encode_frame(
    kind: FrameKind,
    payload: &[u8],
    max_len: usize,
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    let header = encode_header(kind, payload.len())?;
    if payload.len() > max_len {
        return Err(FrameError::TooLong {
            len: payload.len(),
            max: max_len,
        });
    }
    out.reserve(HEADER_LEN + payload.len());
    out.put_slice(&header);
    out.put_slice(payload);
    Ok(())
}

/// An incremental, zero-copy frame decoder bounded by the maximum this side
/// announced in its handshake.
///
/// Feed it the receive buffer after each read: [`FrameDecoder::decode`]
/// answers `Ok(None)` until a whole frame is buffered, then splits it off the
/// front of the buffer. A length over the maximum is an error as soon as the
/// prefix is in, so a peer can make it wait for at most
/// `HEADER_LEN + max_len` octets. Errors are final: they leave the buffer as
/// it was, and the connection must be failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDecoder {
    max_len: usize,
}

impl FrameDecoder {
    /// A decoder accepting payloads of at most `max_len` octets (capped at
    /// 2^24, the most a frame carries). Use `2^exp` of the exponent we
    /// announced, as [`Negotiated::decoder`] does.
    pub fn new(max_len: usize) -> FrameDecoder {
        FrameDecoder {
            max_len: max_len.min(MAX_FRAME_LEN),
        }
    }

    /// The longest payload accepted, in octets.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The next frame's kind and payload length, once its prefix is buffered.
    fn peek(&self, buf: &[u8]) -> Result<Option<(FrameKind, usize)>, FrameError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (kind, len) = decode_header(*header)?;
        if len > self.max_len {
            return Err(FrameError::TooLong {
                len,
                max: self.max_len,
            });
        }
        Ok(Some((kind, len)))
    }

    /// How many more octets `buf` needs before [`FrameDecoder::decode`] can
    /// return a frame: 0 when one is ready, the rest of the prefix while it is
    /// incomplete, else the rest of the payload. Never more than
    /// `HEADER_LEN + max_len`. Errors as `decode` would on a bad prefix.
    pub fn missing(&self, buf: &[u8]) -> Result<usize, FrameError> {
        Ok(match self.peek(buf)? {
            None => HEADER_LEN - buf.len(),
            Some((_, len)) => (HEADER_LEN + len).saturating_sub(buf.len()),
        })
    }

    /// Takes the next whole frame off the front of `buf`, or answers
    /// `Ok(None)` if it is not all there yet.
    ///
    /// The payload is split off `buf` without copying. While a frame is
    /// incomplete, `buf` is given room for the rest of it (never more than
    /// `HEADER_LEN + max_len` octets in all); a prefix stating more than
    /// `max_len` is [`FrameError::TooLong`] before any room is made.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some((kind, len)) = self.peek(buf)? else {
            return Ok(None);
        };
        let total = HEADER_LEN + len;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        Ok(Some(Frame::new(kind, buf.split_to(len).freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- handshake ---------------------------------------------------------

    #[test]
    fn spec_second_octet_table() {
        // The spec's table: octet_2 = (l << 4) | ser, maxlen = 2 ** (l + 9).
        for ser in Serializer::ALL {
            for l in 0u8..16 {
                let octet = (l << 4) | ser.rawsocket_id();
                let hs = parse_client_handshake([0x7F, octet, 0, 0]).unwrap();
                assert_eq!(hs.serializer, ser);
                assert_eq!(hs.max_len_exp, l + 9);
                assert_eq!(hs.max_len(), 1usize << (l + 9));
                assert_eq!(hs.to_bytes(), [0x7F, octet, 0, 0]);
            }
        }
    }

    #[test]
    fn spec_examples() {
        // JSON, 512 octets; MessagePack, 16M octets; CBOR, 1 MiB.
        let hs = parse_client_handshake([0x7F, 0x01, 0x00, 0x00]).unwrap();
        assert_eq!((hs.serializer, hs.max_len()), (Serializer::Json, 512));
        let hs = parse_client_handshake([0x7F, 0xF2, 0x00, 0x00]).unwrap();
        assert_eq!(
            (hs.serializer, hs.max_len()),
            (Serializer::MsgPack, 1 << 24)
        );
        let hs = parse_client_handshake([0x7F, 0xB3, 0x00, 0x00]).unwrap();
        assert_eq!((hs.serializer, hs.max_len()), (Serializer::Cbor, 1 << 20));
        assert_eq!(
            server_handshake_ok(24, Serializer::Json),
            [0x7F, 0xF1, 0, 0]
        );
        assert_eq!(server_handshake_ok(9, Serializer::Cbor), [0x7F, 0x03, 0, 0]);
        assert_eq!(
            client_handshake(16, Serializer::MsgPack),
            [0x7F, 0x72, 0, 0]
        );
    }

    #[test]
    fn bad_magic_is_unanswerable() {
        for first in [0x00, 0x7E, 0x80, 0xFF, b'G'] {
            let err = parse_client_handshake([first, 0x01, 0, 0]).unwrap_err();
            assert_eq!(err, HandshakeError::BadMagic(first));
            assert_eq!(err.reply_code(), None);
            assert_eq!(err.reply(), None);
            let refusal = negotiate([first, 0x01, 0, 0], &Serializer::ALL, 1 << 16).unwrap_err();
            assert_eq!(refusal.reply, None);
            assert_eq!(refusal.error, HandshakeError::BadMagic(first));
        }
        // An HTTP request on the same port.
        let refusal = negotiate(*b"GET ", &Serializer::ALL, 1 << 16).unwrap_err();
        assert_eq!(refusal.reply, None);
    }

    #[test]
    fn reserved_octets_are_error_3() {
        for (r1, r2) in [(1, 0), (0, 1), (0x80, 0xFF)] {
            let err = parse_client_handshake([0x7F, 0x01, r1, r2]).unwrap_err();
            assert_eq!(err, HandshakeError::ReservedBits(r1, r2));
            assert_eq!(err.reply_code(), Some(HandshakeErrorCode::ReservedBits));
            assert_eq!(err.reply(), Some([0x7F, 0x30, 0, 0]));
        }
    }

    #[test]
    fn serializer_errors_are_error_1() {
        let err = parse_client_handshake([0x7F, 0x50, 0, 0]).unwrap_err();
        assert_eq!(err, HandshakeError::IllegalSerializer);
        assert_eq!(err.reply(), Some([0x7F, 0x10, 0, 0]));
        // UBJSON, FlatBuffers, reserved ids.
        for id in 4u8..16 {
            let err = parse_client_handshake([0x7F, 0x20 | id, 0, 0]).unwrap_err();
            assert_eq!(err, HandshakeError::UnsupportedSerializer(id));
            assert_eq!(err.reply(), Some([0x7F, 0x10, 0, 0]));
        }
        // Implemented, but not offered on this endpoint.
        let refusal = negotiate([0x7F, 0x03, 0, 0], &[Serializer::Json], 4096).unwrap_err();
        assert_eq!(refusal.error, HandshakeError::UnsupportedSerializer(3));
        assert_eq!(refusal.reply, Some([0x7F, 0x10, 0, 0]));
        assert!(negotiate([0x7F, 0x01, 0, 0], &[], 4096).is_err());
    }

    #[test]
    fn every_error_code() {
        let expected = [
            (HandshakeErrorCode::SerializerUnsupported, 1, 0x10),
            (HandshakeErrorCode::MaxLengthUnacceptable, 2, 0x20),
            (HandshakeErrorCode::ReservedBits, 3, 0x30),
            (HandshakeErrorCode::MaxConnections, 4, 0x40),
        ];
        for (code, n, octet) in expected {
            assert_eq!(code.code(), n);
            assert_eq!(HandshakeErrorCode::from_code(n), Some(code));
            assert_eq!(server_handshake_error(code), [0x7F, octet, 0, 0]);
            assert_eq!(
                parse_server_handshake(server_handshake_error(code), Serializer::Json),
                Err(HandshakeError::Refused(code))
            );
            assert!(code.to_string().contains(code.description()));
        }
        // 0 is illegal and 5..=15 reserved: no such code.
        assert_eq!(HandshakeErrorCode::from_code(0), None);
        for n in 5u8..=255 {
            assert_eq!(HandshakeErrorCode::from_code(n), None);
        }
        for n in [0u8, 5, 15] {
            assert_eq!(
                parse_server_handshake([0x7F, n << 4, 0, 0], Serializer::Json),
                Err(HandshakeError::RefusedUndefined(n))
            );
        }
    }

    #[test]
    fn negotiate_accepts_and_states_our_limit() {
        let n = negotiate([0x7F, 0x42, 0, 0], &Serializer::ALL, 1 << 20).unwrap();
        assert_eq!(n.serializer, Serializer::MsgPack);
        assert_eq!(n.peer_max_len, 1 << 13);
        assert_eq!(n.our_max_len_exp, 20);
        assert_eq!(n.our_max_len(), 1 << 20);
        assert_eq!(n.reply, [0x7F, 0xB2, 0, 0]);
        assert_eq!(n.decoder().max_len(), 1 << 20);
        let back = parse_server_handshake(n.reply, Serializer::MsgPack).unwrap();
        assert_eq!(back.max_len(), 1 << 20);
        assert_eq!(back.serializer, Serializer::MsgPack);
    }

    #[test]
    fn our_exponent_rounds_down_and_clamps() {
        let cases: [(usize, u8); 11] = [
            (0, 9),
            (1, 9),
            (511, 9),
            (512, 9),
            (1000, 9),
            (1024, 10),
            ((1 << 20) - 1, 19),
            (1 << 20, 20),
            ((1 << 20) + 1, 20),
            (1 << 24, 24),
            (usize::MAX, 24),
        ];
        for (len, exp) in cases {
            assert_eq!(max_len_exp_for(len), exp, "{len}");
        }
        // Out-of-range exponents are clamped on the wire too.
        assert_eq!(server_handshake_ok(3, Serializer::Json), [0x7F, 0x01, 0, 0]);
        assert_eq!(
            server_handshake_ok(40, Serializer::Json),
            [0x7F, 0xF1, 0, 0]
        );
    }

    #[test]
    fn client_side_checks_the_echo() {
        assert_eq!(
            parse_server_handshake([0x7F, 0x12, 0, 0], Serializer::Json),
            Err(HandshakeError::SerializerMismatch {
                requested: Serializer::Json,
                got: 2
            })
        );
        assert_eq!(
            parse_server_handshake([0x00, 0x11, 0, 0], Serializer::Json),
            Err(HandshakeError::BadMagic(0))
        );
        assert_eq!(
            parse_server_handshake([0x7F, 0x11, 0, 7], Serializer::Json),
            Err(HandshakeError::ReservedBits(0, 7))
        );
        for e in [
            HandshakeError::Refused(HandshakeErrorCode::MaxConnections),
            HandshakeError::RefusedUndefined(0),
        ] {
            assert_eq!(e.reply(), None);
        }
    }

    // --- framing -----------------------------------------------------------

    fn frame_bytes(kind: FrameKind, payload: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        encode_frame(kind, payload, MAX_FRAME_LEN, &mut out).unwrap();
        out
    }

    #[test]
    fn spec_prefix_examples() {
        // 16M - 1 octets: X clear, every L bit set.
        assert_eq!(
            encode_header(FrameKind::Message, (1 << 24) - 1).unwrap(),
            [0x00, 0xFF, 0xFF, 0xFF]
        );
        // Exactly 16M octets: X set, L clear.
        assert_eq!(
            encode_header(FrameKind::Message, 1 << 24).unwrap(),
            [0x08, 0, 0, 0]
        );
        assert_eq!(
            encode_header(FrameKind::Ping, 1 << 24).unwrap(),
            [0x09, 0, 0, 0]
        );
        assert_eq!(
            encode_header(FrameKind::Pong, 0x01_02_03).unwrap(),
            [0x02, 1, 2, 3]
        );
        assert_eq!(
            encode_header(FrameKind::Message, (1 << 24) + 1),
            Err(FrameError::Unrepresentable((1 << 24) + 1))
        );
        assert_eq!(
            decode_header([0x00, 0xFF, 0xFF, 0xFF]),
            Ok((FrameKind::Message, (1 << 24) - 1))
        );
        assert_eq!(
            decode_header([0x08, 0, 0, 0]),
            Ok((FrameKind::Message, 1 << 24))
        );
        assert_eq!(
            decode_header([0x0A, 0, 0, 0]),
            Ok((FrameKind::Pong, 1 << 24))
        );
        assert_eq!(decode_header([0x01, 0, 0, 5]), Ok((FrameKind::Ping, 5)));
    }

    #[test]
    fn bad_prefixes() {
        for r in [0x10u8, 0x20, 0x40, 0x80, 0xF0] {
            assert_eq!(
                decode_header([r, 0, 0, 1]),
                Err(FrameError::ReservedBits(r))
            );
        }
        for t in 3u8..8 {
            assert_eq!(decode_header([t, 0, 0, 1]), Err(FrameError::UnknownType(t)));
        }
        assert_eq!(
            decode_header([0x08, 0, 0, 1]),
            Err(FrameError::BadLengthExtension(1))
        );
        assert_eq!(
            decode_header([0x08, 0x80, 0, 0]),
            Err(FrameError::BadLengthExtension(0x80_0000))
        );
        // The decoder reports them as soon as the prefix is in, and keeps doing so.
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0x03u8, 0, 0, 0][..]);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::UnknownType(3)));
        assert_eq!(dec.decode(&mut buf), Err(FrameError::UnknownType(3)));
        assert_eq!(dec.missing(&buf), Err(FrameError::UnknownType(3)));
        assert_eq!(buf.len(), 4);
    }

    #[test]
    fn byte_by_byte() {
        let frames = [
            Frame::Message(Bytes::from_static(br#"[1,"realm1",{}]"#)),
            Frame::Ping(Bytes::from_static(b"\x00\x01\x02")),
            Frame::Message(Bytes::new()),
            Frame::Pong(Bytes::from_static(b"\x00\x01\x02")),
            Frame::Message(Bytes::from(vec![0xAB; 300])),
        ];
        let mut wire = BytesMut::new();
        for f in &frames {
            encode_frame(f.kind(), f.payload(), 512, &mut wire).unwrap();
        }
        let mut dec = FrameDecoder::new(512);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for (i, &b) in wire.iter().enumerate() {
            let missing = dec.missing(&buf).unwrap();
            assert!(missing > 0, "at {i}");
            let had_prefix = buf.len() >= HEADER_LEN;
            buf.put_u8(b);
            let now = dec.missing(&buf).unwrap();
            if had_prefix {
                assert_eq!(now, missing - 1, "at {i}");
            } else if buf.len() < HEADER_LEN {
                assert_eq!(now, HEADER_LEN - buf.len(), "at {i}");
            }
            // Nothing until the frame is whole, then exactly one frame.
            match dec.decode(&mut buf).unwrap() {
                Some(f) => {
                    assert_eq!(now, 0, "at {i}");
                    got.push(f);
                }
                None => assert!(now > 0, "at {i}"),
            }
        }
        assert_eq!(got, frames);
        assert!(buf.is_empty());
        assert_eq!(dec.missing(&buf), Ok(HEADER_LEN));
    }

    #[test]
    fn ping_is_answered_with_an_echoing_pong() {
        let mut buf = frame_bytes(FrameKind::Ping, b"are you there?");
        let mut dec = FrameDecoder::new(512);
        let ping = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(ping, Frame::Ping(Bytes::from_static(b"are you there?")));
        let mut out = BytesMut::new();
        encode_frame(FrameKind::Pong, ping.payload(), 512, &mut out).unwrap();
        assert_eq!(&out[..4], &[0x02, 0, 0, 14]);
        let pong = dec.decode(&mut out).unwrap().unwrap();
        assert_eq!(pong.kind(), FrameKind::Pong);
        assert_eq!(pong.into_payload(), ping.into_payload());
    }

    #[test]
    fn oversize_fails_before_the_payload_is_buffered() {
        let mut dec = FrameDecoder::new(512);
        // At the limit: accepted.
        let mut buf = frame_bytes(FrameKind::Message, &[7; 512]);
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap().payload().len(), 512);
        // One over, prefix only: refused at once, no room made for it.
        let mut buf = BytesMut::with_capacity(8);
        buf.extend_from_slice(&[0x00, 0x00, 0x02, 0x01]);
        let cap = buf.capacity();
        assert_eq!(
            dec.decode(&mut buf),
            Err(FrameError::TooLong { len: 513, max: 512 })
        );
        assert_eq!(buf.capacity(), cap);
        // 16M announced to a 512-octet decoder.
        let mut buf = BytesMut::from(&[0x08u8, 0, 0, 0][..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(FrameError::TooLong {
                len: 1 << 24,
                max: 512
            })
        );
        // Encoding over the peer's maximum writes nothing.
        let mut out = BytesMut::new();
        assert_eq!(
            encode_frame(FrameKind::Message, &[0; 600], 512, &mut out),
            Err(FrameError::TooLong { len: 600, max: 512 })
        );
        assert!(out.is_empty());
        // The decoder's maximum is capped at what a frame can carry.
        assert_eq!(FrameDecoder::new(usize::MAX).max_len(), MAX_FRAME_LEN);
    }

    #[test]
    fn sixteen_mebibyte_frame() {
        let payload = vec![0x5A; MAX_FRAME_LEN];
        let mut wire = frame_bytes(FrameKind::Message, &payload);
        assert_eq!(&wire[..4], &[0x08, 0, 0, 0]);
        let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
        let f = dec.decode(&mut wire).unwrap().unwrap();
        assert_eq!(f.payload().len(), MAX_FRAME_LEN);
        let mut out = BytesMut::new();
        assert_eq!(
            encode_frame(
                FrameKind::Message,
                &vec![0; MAX_FRAME_LEN + 1],
                usize::MAX,
                &mut out
            ),
            Err(FrameError::Unrepresentable(MAX_FRAME_LEN + 1))
        );
    }

    #[test]
    fn incomplete_frame_gets_room_for_itself_only() {
        let mut dec = FrameDecoder::new(1 << 16);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0x00, 0x00, 0x10, 0x00, 1, 2]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert!(buf.capacity() >= HEADER_LEN + 4096);
        assert_eq!(dec.missing(&buf), Ok(HEADER_LEN + 4096 - 6));
        assert_eq!(buf.len(), 6);
    }

    #[test]
    fn payloads_are_not_copied() {
        let mut buf = frame_bytes(FrameKind::Message, b"[2,1,{}]");
        buf.extend_from_slice(&frame_bytes(FrameKind::Message, b"[3,{},\"x\"]"));
        let base = buf.as_ptr() as usize;
        let mut dec = FrameDecoder::new(512);
        let a = dec.decode(&mut buf).unwrap().unwrap();
        let b = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(a.payload().as_ptr() as usize, base + HEADER_LEN);
        assert_eq!(b.payload().as_ptr() as usize, base + 2 * HEADER_LEN + 8);
        assert_eq!(dec.decode(&mut buf), Ok(None));
    }

    #[test]
    fn frame_kinds() {
        for k in [FrameKind::Message, FrameKind::Ping, FrameKind::Pong] {
            assert_eq!(FrameKind::from_code(k.code()), Some(k));
            assert_eq!(Frame::new(k, Bytes::new()).kind(), k);
        }
        for c in 3u8..=255 {
            assert_eq!(FrameKind::from_code(c), None);
        }
    }
}
