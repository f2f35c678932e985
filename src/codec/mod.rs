//! Codecs: turning frames into [`Message`]s and back, for JSON (`wamp.2.json`),
//! MessagePack (`wamp.2.msgpack`) and CBOR (`wamp.2.cbor`).
//!
//! Every codec works the same way, so the message layer here is shared:
//!
//! 1. **split** — the codec checks the frame is one well-formed array and
//!    returns the byte span and kind of each top-level element, building no values;
//! 2. **envelope** — the shared decoder checks element counts and types for the
//!    message type and reads the envelope (ids, URIs, the `Details|dict` and
//!    `Options|dict` the router reads);
//! 3. **payload** — `Arguments|list` and `ArgumentsKw|dict` stay as byte
//!    slices of the frame ([`RawPayload`]). On encode they are spliced when the
//!    target serializer is the source's and transcoded otherwise.
//!
//! Bad input of any kind is a [`DecodeError`], never a panic, and no decoder
//! allocates more than the input's length warrants (length prefixes are checked
//! against the bytes that remain; nesting is capped at [`MAX_DEPTH`]).
//!
//! **One limit, everywhere.** A payload kept raw is checked at decode as
//! strictly as a full decode would check it ([`Codec::check_payload`]): nesting
//! within [`MAX_DEPTH`], and nothing that [`Codec::read_value`] would refuse.
//! So a message that decodes can always be transcoded into every serializer,
//! with one exception a full decode cannot see: NaN and infinite floats
//! (MessagePack, CBOR) have no JSON form. [`check_transcodable`] finds those
//! without building values, and encoding such a payload for JSON is an
//! [`EncodeError::Unrepresentable`] (never a silent `null`).

pub mod cbor;
pub mod json;
pub mod msgpack;

use bytes::Bytes;

use crate::wamp::message::{Id, Message, MessageType, Payload, RawPayload};
pub use crate::wamp::serializer::Serializer;
use crate::wamp::value::{Dict, Value};

pub use cbor::CborCodec;
pub use json::JsonCodec;
pub use msgpack::MsgPackCodec;

/// The deepest nesting of lists and dicts a decoder accepts.
pub const MAX_DEPTH: usize = 64;

/// The most top-level elements a WAMP message has (ERROR has 7).
pub const MAX_ELEMENTS: usize = 7;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not valid in the serialization format.
    #[error("malformed {format}: {detail}")]
    Syntax {
        /// The serialization format.
        format: &'static str,
        /// What is wrong, as the parser says it.
        detail: String,
    },
    /// The input ended in the middle of a value.
    #[error("truncated input")]
    Truncated,
    /// Bytes follow the message's array.
    #[error("trailing bytes after the message")]
    TrailingBytes,
    /// The frame is not an array.
    #[error("a WAMP message must be an array, found {0}")]
    NotAnArray(&'static str),
    /// The array is empty.
    #[error("empty message array")]
    Empty,
    /// The first element is not a known message type code.
    #[error("unknown message type {0}")]
    UnknownMessageType(u64),
    /// The array has more or fewer elements than the message type allows.
    #[error("{message} has {found} elements, expected {min}..={max}")]
    WrongLength {
        /// The message type's name.
        message: &'static str,
        /// The fewest elements allowed.
        min: usize,
        /// The most elements allowed.
        max: usize,
        /// How many there are.
        found: usize,
    },
    /// An element has the wrong type.
    #[error("{message}.{field} must be of type {expected}, found {found}")]
    WrongType {
        /// The message type's name.
        message: &'static str,
        /// The element's name in the spec.
        field: &'static str,
        /// The type the spec requires.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// An ID is outside 0..=2^53.
    #[error("{message}.{field} is not a valid WAMP id: {value}")]
    InvalidId {
        /// The message type's name.
        message: &'static str,
        /// The element's name in the spec.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// Lists and dicts nest deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A dictionary key is not a string.
    #[error("dictionary keys must be strings")]
    NonStringKey,
    /// A type the WAMP value model has no place for (a MessagePack extension, a CBOR simple value).
    #[error("unsupported {0}")]
    Unsupported(&'static str),
    /// A string is not valid UTF-8.
    #[error("invalid UTF-8 in a string")]
    Utf8,
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// A raw payload in another serializer could not be transcoded.
    #[error("cannot transcode payload: {0}")]
    Transcode(#[from] DecodeError),
    /// The payload holds a value the target serializer has no form for.
    #[error("{what} cannot be represented in {serializer}")]
    Unrepresentable {
        /// The target serializer.
        serializer: Serializer,
        /// What cannot be represented.
        what: &'static str,
    },
}

/// Encoding and decoding, by serializer: the codec's side of
/// [`Serializer`], whose identity (names, ids) lives in [`crate::wamp::serializer`].
impl Serializer {
    /// Decodes one message from a frame. Payloads stay encoded, as slices of `frame`.
    pub fn decode(self, frame: &Bytes) -> Result<Message, DecodeError> {
        match self {
            Serializer::Json => decode_message::<JsonCodec>(frame),
            Serializer::MsgPack => decode_message::<MsgPackCodec>(frame),
            Serializer::Cbor => decode_message::<CborCodec>(frame),
        }
    }

    /// Encodes a message, appending to `out`.
    pub fn encode_into(self, msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Serializer::Json => encode_message::<JsonCodec>(msg, out),
            Serializer::MsgPack => encode_message::<MsgPackCodec>(msg, out),
            Serializer::Cbor => encode_message::<CborCodec>(msg, out),
        }
    }

    /// Encodes a message into a new buffer.
    pub fn encode(self, msg: &Message) -> Result<Vec<u8>, EncodeError> {
        let mut out =
            Vec::with_capacity(64 + msg.payload().and_then(Payload::raw_len).unwrap_or(0));
        self.encode_into(msg, &mut out)?;
        Ok(out)
    }

    /// Decodes one complete value (a whole payload element, say).
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, DecodeError> {
        match self {
            Serializer::Json => JsonCodec::read_value(bytes),
            Serializer::MsgPack => MsgPackCodec::read_value(bytes),
            Serializer::Cbor => CborCodec::read_value(bytes),
        }
    }

    /// Encodes one value, appending to `out`.
    pub fn encode_value(self, value: &Value, out: &mut Vec<u8>) {
        match self {
            Serializer::Json => JsonCodec::write_value(value, out),
            Serializer::MsgPack => MsgPackCodec::write_value(value, out),
            Serializer::Cbor => CborCodec::write_value(value, out),
        }
    }
}

/// Decoding a raw payload into values: the codec's side of [`Payload`].
impl Payload {
    /// Decodes a raw payload into values (for inspection, tests and transcoding).
    /// Values and empty payloads are returned as they are.
    pub fn to_values(&self) -> Result<Payload, DecodeError> {
        match self {
            Payload::Raw(r) => {
                let args = match r.serializer.decode_value(&r.args)? {
                    Value::List(l) => l,
                    other => {
                        return Err(DecodeError::WrongType {
                            message: "payload",
                            field: "Arguments",
                            expected: "list",
                            found: other.type_name(),
                        })
                    }
                };
                let kwargs = match &r.kwargs {
                    None => None,
                    Some(k) => match r.serializer.decode_value(k)? {
                        Value::Dict(d) => Some(d),
                        other => {
                            return Err(DecodeError::WrongType {
                                message: "payload",
                                field: "ArgumentsKw",
                                expected: "dict",
                                found: other.type_name(),
                            })
                        }
                    },
                };
                Ok(Payload::Values { args, kwargs })
            }
            other => Ok(other.clone()),
        }
    }
}

/// Payloads compare by value, which takes decoding: the impl lives with the codecs.
impl PartialEq for Payload {
    /// Payloads compare by value: a raw payload equals the values it encodes.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Payload::Empty, Payload::Empty) => true,
            (Payload::Empty, _) | (_, Payload::Empty) => false,
            (Payload::Raw(a), Payload::Raw(b))
                if a.serializer == b.serializer && a.args == b.args && a.kwargs == b.kwargs =>
            {
                true
            }
            (a, b) => match (a.to_values(), b.to_values()) {
                (
                    Ok(Payload::Values {
                        args: a1,
                        kwargs: k1,
                    }),
                    Ok(Payload::Values {
                        args: a2,
                        kwargs: k2,
                    }),
                ) => a1 == a2 && k1 == k2,
                _ => false,
            },
        }
    }
}

/// Decoding a message's raw payload into values: the codec's side of [`Message`].
impl Message {
    /// The same message with its payload decoded into values (see [`Payload::to_values`]).
    pub fn with_values(mut self) -> Result<Message, DecodeError> {
        if let Some(p) = self.payload_mut() {
            *p = p.to_values()?;
        }
        Ok(self)
    }
}

/// The kind of an encoded element, known from its first bytes without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// null / nil.
    Null,
    /// A boolean.
    Bool,
    /// A non-negative integer.
    UInt,
    /// A negative integer.
    NegInt,
    /// A float.
    Float,
    /// A string.
    Str,
    /// A byte string.
    Bytes,
    /// A list.
    List,
    /// A dict.
    Dict,
}

impl Kind {
    /// A name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::UInt => "integer",
            Kind::NegInt => "negative integer",
            Kind::Float => "float",
            Kind::Str => "string",
            Kind::Bytes => "bytes",
            Kind::List => "list",
            Kind::Dict => "dict",
        }
    }
}

/// One top-level element of a frame: its kind and where its bytes lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    /// What the element is.
    pub kind: Kind,
    /// Offset of its first byte in the frame.
    pub start: usize,
    /// Offset one past its last byte.
    pub end: usize,
}

/// The top-level elements of a frame, without heap allocation.
#[derive(Debug, Clone)]
pub struct Elements {
    items: [Element; MAX_ELEMENTS],
    len: usize,
}

impl Default for Elements {
    fn default() -> Self {
        Elements {
            items: [Element {
                kind: Kind::Null,
                start: 0,
                end: 0,
            }; MAX_ELEMENTS],
            len: 0,
        }
    }
}

impl Elements {
    /// Appends an element; an array longer than any WAMP message is an error.
    pub fn push(&mut self, e: Element) -> Result<(), DecodeError> {
        if self.len == MAX_ELEMENTS {
            return Err(DecodeError::WrongLength {
                message: "message",
                min: 1,
                max: MAX_ELEMENTS,
                found: MAX_ELEMENTS + 1,
            });
        }
        self.items[self.len] = e;
        self.len += 1;
        Ok(())
    }

    /// The elements found.
    pub fn as_slice(&self) -> &[Element] {
        &self.items[..self.len]
    }
}

/// One thing to write as a top-level element of an outgoing message.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// An unsigned integer (codes, ids).
    UInt(u64),
    /// A string (URIs).
    Str(&'a str),
    /// A dictionary.
    Dict(&'a Dict),
    /// A list of values.
    List(&'a [Value]),
    /// Bytes already encoded in this codec, spliced as they are.
    Raw(&'a [u8]),
}

/// A WAMP serializer: its names on the wire and the primitives the shared
/// message layer builds on.
pub trait Codec {
    /// The serializer this codec implements.
    const SERIALIZER: Serializer;
    /// The format's name for error messages.
    const FORMAT: &'static str;

    /// Checks `frame` is exactly one well-formed array and records its elements.
    fn split(frame: &[u8], out: &mut Elements) -> Result<(), DecodeError>;
    /// Reads an element of kind [`Kind::UInt`].
    fn read_uint(bytes: &[u8]) -> Result<u64, DecodeError>;
    /// Reads an element of kind [`Kind::Str`].
    fn read_str(bytes: &[u8]) -> Result<String, DecodeError>;
    /// Reads any complete value.
    fn read_value(bytes: &[u8]) -> Result<Value, DecodeError>;
    /// Checks a payload element kept raw (already checked by [`Codec::split`])
    /// for everything [`Codec::read_value`] would refuse, nesting beyond
    /// [`MAX_DEPTH`] included, without building values. A codec whose split
    /// already checks all of that in its one pass (JSON) does nothing here.
    fn check_payload(bytes: &[u8]) -> Result<(), DecodeError>;
    /// Writes one value.
    fn write_value(value: &Value, out: &mut Vec<u8>);
    /// Writes `parts` as one array.
    fn write_parts(parts: &[Part<'_>], out: &mut Vec<u8>);
}

/// Reads the envelope of a message from its split elements.
struct Envelope<'a, C: Codec> {
    frame: &'a Bytes,
    els: &'a [Element],
    name: &'static str,
    _codec: std::marker::PhantomData<C>,
}

impl<C: Codec> Envelope<'_, C> {
    fn bytes(&self, i: usize) -> &[u8] {
        let e = &self.els[i];
        &self.frame[e.start..e.end]
    }

    fn expect(
        &self,
        i: usize,
        field: &'static str,
        kind: Kind,
        expected: &'static str,
    ) -> Result<(), DecodeError> {
        let found = self.els[i].kind;
        if found == kind {
            Ok(())
        } else {
            Err(DecodeError::WrongType {
                message: self.name,
                field,
                expected,
                found: found.name(),
            })
        }
    }

    fn len(&self, min: usize, max: usize) -> Result<(), DecodeError> {
        let found = self.els.len();
        if found < min || found > max {
            return Err(DecodeError::WrongLength {
                message: self.name,
                min,
                max,
                found,
            });
        }
        Ok(())
    }

    fn uint(&self, i: usize, field: &'static str) -> Result<u64, DecodeError> {
        self.expect(i, field, Kind::UInt, "integer")?;
        C::read_uint(self.bytes(i))
    }

    fn id(&self, i: usize, field: &'static str) -> Result<Id, DecodeError> {
        let value = self.uint(i, field)?;
        if value > crate::wamp::id::MAX_ID {
            return Err(DecodeError::InvalidId {
                message: self.name,
                field,
                value,
            });
        }
        Ok(value)
    }

    fn string(&self, i: usize, field: &'static str) -> Result<String, DecodeError> {
        self.expect(i, field, Kind::Str, "string")?;
        C::read_str(self.bytes(i))
    }

    fn dict(&self, i: usize, field: &'static str) -> Result<Dict, DecodeError> {
        self.expect(i, field, Kind::Dict, "dict")?;
        match C::read_value(self.bytes(i))? {
            Value::Dict(d) => Ok(d),
            other => Err(DecodeError::WrongType {
                message: self.name,
                field,
                expected: "dict",
                found: other.type_name(),
            }),
        }
    }

    fn opt_dict(&self, i: usize, field: &'static str) -> Result<Option<Dict>, DecodeError> {
        if i < self.els.len() {
            self.dict(i, field).map(Some)
        } else {
            Ok(None)
        }
    }

    /// `Arguments|list` at `i` and `ArgumentsKw|dict` at `i + 1`, when present.
    fn payload(&self, i: usize) -> Result<Payload, DecodeError> {
        if i >= self.els.len() {
            return Ok(Payload::Empty);
        }
        self.expect(i, "Arguments", Kind::List, "list")?;
        let a = self.els[i];
        C::check_payload(&self.frame[a.start..a.end])?;
        let kwargs = if i + 1 < self.els.len() {
            self.expect(i + 1, "ArgumentsKw", Kind::Dict, "dict")?;
            let k = self.els[i + 1];
            C::check_payload(&self.frame[k.start..k.end])?;
            Some(self.frame.slice(k.start..k.end))
        } else {
            None
        };
        Ok(Payload::Raw(RawPayload {
            serializer: C::SERIALIZER,
            args: self.frame.slice(a.start..a.end),
            kwargs,
        }))
    }
}

/// Decodes a frame with codec `C` (see the module docs for the steps).
pub fn decode_message<C: Codec>(frame: &Bytes) -> Result<Message, DecodeError> {
    let mut els = Elements::default();
    C::split(frame, &mut els)?;
    let els = els.as_slice();
    let Some(first) = els.first() else {
        return Err(DecodeError::Empty);
    };
    if first.kind != Kind::UInt {
        return Err(DecodeError::WrongType {
            message: "message",
            field: "type",
            expected: "integer",
            found: first.kind.name(),
        });
    }
    let code = C::read_uint(&frame[first.start..first.end])?;
    let ty = MessageType::from_code(code).ok_or(DecodeError::UnknownMessageType(code))?;
    let e = Envelope::<C> {
        frame,
        els,
        name: ty.name(),
        _codec: std::marker::PhantomData,
    };
    use MessageType as T;
    Ok(match ty {
        T::Hello => {
            e.len(3, 3)?;
            Message::Hello {
                realm: e.string(1, "Realm")?,
                details: e.dict(2, "Details")?,
            }
        }
        T::Welcome => {
            e.len(3, 3)?;
            Message::Welcome {
                session: e.id(1, "Session")?,
                details: e.dict(2, "Details")?,
            }
        }
        T::Abort => {
            e.len(3, 3)?;
            Message::Abort {
                details: e.dict(1, "Details")?,
                reason: e.string(2, "Reason")?,
            }
        }
        T::Challenge => {
            e.len(3, 3)?;
            Message::Challenge {
                auth_method: e.string(1, "AuthMethod")?,
                extra: e.dict(2, "Extra")?,
            }
        }
        T::Authenticate => {
            e.len(3, 3)?;
            Message::Authenticate {
                signature: e.string(1, "Signature")?,
                extra: e.dict(2, "Extra")?,
            }
        }
        T::Goodbye => {
            e.len(3, 3)?;
            Message::Goodbye {
                details: e.dict(1, "Details")?,
                reason: e.string(2, "Reason")?,
            }
        }
        T::Error => {
            e.len(5, 7)?;
            let rt = e.uint(1, "REQUEST.Type")?;
            let request_type =
                MessageType::from_code(rt).ok_or(DecodeError::UnknownMessageType(rt))?;
            Message::Error {
                request_type,
                request: e.id(2, "REQUEST.Request")?,
                details: e.dict(3, "Details")?,
                error: e.string(4, "Error")?,
                payload: e.payload(5)?,
            }
        }
        T::Publish => {
            e.len(4, 6)?;
            Message::Publish {
                request: e.id(1, "Request")?,
                options: e.dict(2, "Options")?,
                topic: e.string(3, "Topic")?,
                payload: e.payload(4)?,
            }
        }
        T::Published => {
            e.len(3, 3)?;
            Message::Published {
                request: e.id(1, "PUBLISH.Request")?,
                publication: e.id(2, "Publication")?,
            }
        }
        T::Subscribe => {
            e.len(4, 4)?;
            Message::Subscribe {
                request: e.id(1, "Request")?,
                options: e.dict(2, "Options")?,
                topic: e.string(3, "Topic")?,
            }
        }
        T::Subscribed => {
            e.len(3, 3)?;
            Message::Subscribed {
                request: e.id(1, "SUBSCRIBE.Request")?,
                subscription: e.id(2, "Subscription")?,
            }
        }
        T::Unsubscribe => {
            e.len(3, 3)?;
            Message::Unsubscribe {
                request: e.id(1, "Request")?,
                subscription: e.id(2, "SUBSCRIBED.Subscription")?,
            }
        }
        T::Unsubscribed => {
            e.len(2, 3)?;
            Message::Unsubscribed {
                request: e.id(1, "UNSUBSCRIBE.Request")?,
                details: e.opt_dict(2, "Details")?,
            }
        }
        T::Event => {
            e.len(4, 6)?;
            Message::Event {
                subscription: e.id(1, "SUBSCRIBED.Subscription")?,
                publication: e.id(2, "PUBLISHED.Publication")?,
                details: e.dict(3, "Details")?,
                payload: e.payload(4)?,
            }
        }
        T::Call => {
            e.len(4, 6)?;
            Message::Call {
                request: e.id(1, "Request")?,
                options: e.dict(2, "Options")?,
                procedure: e.string(3, "Procedure")?,
                payload: e.payload(4)?,
            }
        }
        T::Cancel => {
            e.len(3, 3)?;
            Message::Cancel {
                request: e.id(1, "CALL.Request")?,
                options: e.dict(2, "Options")?,
            }
        }
        T::Result => {
            e.len(3, 5)?;
            Message::Result {
                request: e.id(1, "CALL.Request")?,
                details: e.dict(2, "Details")?,
                payload: e.payload(3)?,
            }
        }
        T::Register => {
            e.len(4, 4)?;
            Message::Register {
                request: e.id(1, "Request")?,
                options: e.dict(2, "Options")?,
                procedure: e.string(3, "Procedure")?,
            }
        }
        T::Registered => {
            e.len(3, 3)?;
            Message::Registered {
                request: e.id(1, "REGISTER.Request")?,
                registration: e.id(2, "Registration")?,
            }
        }
        T::Unregister => {
            e.len(3, 3)?;
            Message::Unregister {
                request: e.id(1, "Request")?,
                registration: e.id(2, "REGISTERED.Registration")?,
            }
        }
        T::Unregistered => {
            e.len(2, 3)?;
            Message::Unregistered {
                request: e.id(1, "UNREGISTER.Request")?,
                details: e.opt_dict(2, "Details")?,
            }
        }
        T::Invocation => {
            e.len(4, 6)?;
            Message::Invocation {
                request: e.id(1, "Request")?,
                registration: e.id(2, "REGISTERED.Registration")?,
                details: e.dict(3, "Details")?,
                payload: e.payload(4)?,
            }
        }
        T::Interrupt => {
            e.len(3, 3)?;
            Message::Interrupt {
                request: e.id(1, "INVOCATION.Request")?,
                options: e.dict(2, "Options")?,
            }
        }
        T::Yield => {
            e.len(3, 5)?;
            Message::Yield {
                request: e.id(1, "INVOCATION.Request")?,
                options: e.dict(2, "Options")?,
                payload: e.payload(3)?,
            }
        }
    })
}

/// A payload made ready for codec `C`: borrowed bytes to splice, or values to write.
enum Prepared<'a> {
    Empty,
    Raw(&'a [u8], Option<&'a [u8]>),
    Borrowed(&'a [Value], Option<&'a Dict>),
    Owned(Vec<Value>, Option<Dict>),
}

fn prepare<C: Codec>(p: &Payload) -> Result<Prepared<'_>, EncodeError> {
    Ok(match p {
        Payload::Empty => Prepared::Empty,
        Payload::Values { args, kwargs } => Prepared::Borrowed(args, kwargs.as_ref()),
        Payload::Raw(r) if r.serializer == C::SERIALIZER => {
            Prepared::Raw(&r.args, r.kwargs.as_deref())
        }
        Payload::Raw(_) => match p.to_values()? {
            Payload::Values { args, kwargs } => {
                if C::SERIALIZER == Serializer::Json
                    && !(args.iter().all(finite)
                        && kwargs.iter().flat_map(|d| d.values()).all(finite))
                {
                    return Err(EncodeError::Unrepresentable {
                        serializer: Serializer::Json,
                        what: NON_FINITE,
                    });
                }
                Prepared::Owned(args, kwargs)
            }
            _ => Prepared::Empty,
        },
    })
}

const NON_FINITE: &str = "a NaN or infinite float";

/// Whether every float in `v` is finite (recursion is bounded: decoded values
/// nest at most [`MAX_DEPTH`] deep).
fn finite(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_finite(),
        Value::List(l) => l.iter().all(finite),
        Value::Dict(d) => d.values().all(finite),
        _ => true,
    }
}

/// Checks, without building values, that `payload` can be encoded for
/// `target`: the same serializer or one it transcodes into without loss.
///
/// A raw payload that decoded has passed [`Codec::check_payload`], so the only
/// failure left is a NaN or infinite float (MessagePack, CBOR) going to JSON;
/// that is found by one walk of the encoded bytes. Costs nothing when the
/// serializers agree or the target is binary.
pub fn check_transcodable(payload: &Payload, target: Serializer) -> Result<(), EncodeError> {
    let Payload::Raw(r) = payload else {
        return Ok(());
    };
    if r.serializer == target || target != Serializer::Json {
        return Ok(());
    }
    let non_finite = |bytes: &[u8]| match r.serializer {
        Serializer::Json => Ok(false),
        Serializer::MsgPack => msgpack::has_non_finite(bytes),
        Serializer::Cbor => cbor::has_non_finite(bytes),
    };
    let mut found = non_finite(&r.args)?;
    if let Some(k) = &r.kwargs {
        found = found || non_finite(k)?;
    }
    if found {
        return Err(EncodeError::Unrepresentable {
            serializer: target,
            what: NON_FINITE,
        });
    }
    Ok(())
}

/// Like [`check_transcodable`], for every serializer.
pub fn check_transcodable_everywhere(payload: &Payload) -> Result<(), EncodeError> {
    Serializer::ALL
        .into_iter()
        .try_for_each(|s| check_transcodable(payload, s))
}

/// Appends the payload's parts to `parts`.
fn push_payload<'a>(prep: &'a Prepared<'a>, parts: &mut Vec<Part<'a>>) {
    match prep {
        Prepared::Empty => {}
        Prepared::Raw(a, k) => {
            parts.push(Part::Raw(a));
            if let Some(k) = k {
                parts.push(Part::Raw(k));
            }
        }
        Prepared::Borrowed(a, k) => {
            parts.push(Part::List(a));
            if let Some(k) = k {
                parts.push(Part::Dict(k));
            }
        }
        Prepared::Owned(a, k) => {
            parts.push(Part::List(a));
            if let Some(k) = k {
                parts.push(Part::Dict(k));
            }
        }
    }
}

/// Encodes a message with codec `C`, appending to `out`.
pub fn encode_message<C: Codec>(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let code = msg.message_type().code();
    let prep = match msg.payload() {
        Some(p) => prepare::<C>(p)?,
        None => Prepared::Empty,
    };
    let mut parts: Vec<Part<'_>> = Vec::with_capacity(MAX_ELEMENTS);
    parts.push(Part::UInt(code));
    match msg {
        Message::Hello { realm, details } => parts.extend([Part::Str(realm), Part::Dict(details)]),
        Message::Welcome { session, details } => {
            parts.extend([Part::UInt(*session), Part::Dict(details)])
        }
        Message::Abort { details, reason } | Message::Goodbye { details, reason } => {
            parts.extend([Part::Dict(details), Part::Str(reason)])
        }
        Message::Challenge { auth_method, extra } => {
            parts.extend([Part::Str(auth_method), Part::Dict(extra)])
        }
        Message::Authenticate { signature, extra } => {
            parts.extend([Part::Str(signature), Part::Dict(extra)])
        }
        Message::Error {
            request_type,
            request,
            details,
            error,
            ..
        } => parts.extend([
            Part::UInt(request_type.code()),
            Part::UInt(*request),
            Part::Dict(details),
            Part::Str(error),
        ]),
        Message::Publish {
            request,
            options,
            topic,
            ..
        } => parts.extend([Part::UInt(*request), Part::Dict(options), Part::Str(topic)]),
        Message::Published {
            request,
            publication,
        } => parts.extend([Part::UInt(*request), Part::UInt(*publication)]),
        Message::Subscribe {
            request,
            options,
            topic,
        } => parts.extend([Part::UInt(*request), Part::Dict(options), Part::Str(topic)]),
        Message::Subscribed {
            request,
            subscription,
        } => parts.extend([Part::UInt(*request), Part::UInt(*subscription)]),
        Message::Unsubscribe {
            request,
            subscription,
        } => parts.extend([Part::UInt(*request), Part::UInt(*subscription)]),
        Message::Unsubscribed { request, details } | Message::Unregistered { request, details } => {
            parts.push(Part::UInt(*request));
            if let Some(d) = details {
                parts.push(Part::Dict(d));
            }
        }
        Message::Event {
            subscription,
            publication,
            details,
            ..
        } => parts.extend([
            Part::UInt(*subscription),
            Part::UInt(*publication),
            Part::Dict(details),
        ]),
        Message::Call {
            request,
            options,
            procedure,
            ..
        } => parts.extend([
            Part::UInt(*request),
            Part::Dict(options),
            Part::Str(procedure),
        ]),
        Message::Cancel { request, options } | Message::Interrupt { request, options } => {
            parts.extend([Part::UInt(*request), Part::Dict(options)])
        }
        Message::Result {
            request, details, ..
        } => parts.extend([Part::UInt(*request), Part::Dict(details)]),
        Message::Register {
            request,
            options,
            procedure,
        } => parts.extend([
            Part::UInt(*request),
            Part::Dict(options),
            Part::Str(procedure),
        ]),
        Message::Registered {
            request,
            registration,
        } => parts.extend([Part::UInt(*request), Part::UInt(*registration)]),
        Message::Unregister {
            request,
            registration,
        } => parts.extend([Part::UInt(*request), Part::UInt(*registration)]),
        Message::Invocation {
            request,
            registration,
            details,
            ..
        } => parts.extend([
            Part::UInt(*request),
            Part::UInt(*registration),
            Part::Dict(details),
        ]),
        Message::Yield {
            request, options, ..
        } => parts.extend([Part::UInt(*request), Part::Dict(options)]),
    }
    push_payload(&prep, &mut parts);
    C::write_parts(&parts, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert_eq!(Serializer::Json.subprotocol(), "wamp.2.json");
        assert_eq!(Serializer::MsgPack.subprotocol(), "wamp.2.msgpack");
        assert_eq!(Serializer::Cbor.subprotocol(), "wamp.2.cbor");
        assert_eq!(Serializer::Json.rawsocket_id(), 1);
        assert_eq!(Serializer::MsgPack.rawsocket_id(), 2);
        assert_eq!(Serializer::Cbor.rawsocket_id(), 3);
        for s in Serializer::ALL {
            assert_eq!(Serializer::from_subprotocol(s.subprotocol()), Some(s));
            assert_eq!(Serializer::from_rawsocket_id(s.rawsocket_id()), Some(s));
            assert_eq!(Serializer::from_name(s.name()), Some(s));
        }
        assert_eq!(Serializer::from_rawsocket_id(0), None);
        assert_eq!(Serializer::from_subprotocol("wamp.2.ubjson"), None);
    }

    /// A NaN or infinite float has no JSON form: transcoding it into JSON is
    /// an error (not a silent `null`), found up front without building values;
    /// the binary serializers carry it.
    #[test]
    fn non_finite_floats_do_not_transcode_to_json() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for from in [Serializer::MsgPack, Serializer::Cbor] {
                for (args, kwargs) in [
                    (vec![Value::Float(v)], None),
                    (
                        vec![],
                        Some(crate::dict! { "k" => Value::List(vec![Value::Float(v)]) }),
                    ),
                ] {
                    let m = Message::Event {
                        subscription: 1,
                        publication: 2,
                        details: Dict::new(),
                        payload: Payload::Values { args, kwargs },
                    };
                    let raw = from.decode(&Bytes::from(from.encode(&m).unwrap())).unwrap();
                    let p = raw.payload().unwrap();
                    let unrepresentable = Err(EncodeError::Unrepresentable {
                        serializer: Serializer::Json,
                        what: NON_FINITE,
                    });
                    assert_eq!(Serializer::Json.encode(&raw).map(|_| ()), unrepresentable);
                    assert_eq!(check_transcodable(p, Serializer::Json), unrepresentable);
                    assert_eq!(check_transcodable_everywhere(p), unrepresentable);
                    for to in [Serializer::MsgPack, Serializer::Cbor] {
                        assert!(to.encode(&raw).is_ok());
                        assert_eq!(check_transcodable(p, to), Ok(()));
                    }
                }
            }
        }
    }
}
