//! Property tests: every message type round-trips through every codec and
//! through every pair of codecs (decode in one, transcode into the other).

use bytes::Bytes;
use proptest::prelude::*;
use shardwamp::codec::{DecodeError, Serializer, MAX_DEPTH};
use shardwamp::wamp::message::{Message, MessageType, Payload, RawPayload};
use shardwamp::wamp::value::{Dict, Value};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::UInt),
        (i64::MIN..0i64).prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        // JSON reserves strings that begin with NUL for binary values (spec).
        "[^\u{0}][\\PC\u{0}]{0,12}|".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6).prop_map(Value::Dict),
        ]
    })
}

fn dict() -> impl Strategy<Value = Dict> {
    prop::collection::btree_map("[a-z_]{1,10}", value(), 0..4)
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(1u64), Just(1u64 << 53), 0..=(1u64 << 53)]
}

fn uri() -> impl Strategy<Value = String> {
    "[a-z0-9_]{1,6}(\\.[a-z0-9_]{0,6}){0,4}"
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        Just(Payload::Empty),
        (
            prop::collection::vec(value(), 0..5),
            prop::option::of(dict())
        )
            .prop_map(|(args, kwargs)| Payload::Values { args, kwargs }),
    ]
}

fn message_type() -> impl Strategy<Value = MessageType> {
    prop::sample::select(MessageType::ALL.to_vec())
}

fn message() -> impl Strategy<Value = Message> {
    (
        message_type(),
        id(),
        id(),
        id(),
        dict(),
        uri(),
        payload(),
        prop::option::of(dict()),
        message_type(),
    )
        .prop_map(|(t, a, b, _c, d, u, p, od, rt)| {
            use MessageType as T;
            match t {
                T::Hello => Message::Hello {
                    realm: u,
                    details: d,
                },
                T::Welcome => Message::Welcome {
                    session: a,
                    details: d,
                },
                T::Abort => Message::Abort {
                    details: d,
                    reason: u,
                },
                T::Challenge => Message::Challenge {
                    auth_method: u,
                    extra: d,
                },
                T::Authenticate => Message::Authenticate {
                    signature: u,
                    extra: d,
                },
                T::Goodbye => Message::Goodbye {
                    details: d,
                    reason: u,
                },
                T::Error => Message::Error {
                    request_type: rt,
                    request: a,
                    details: d,
                    error: u,
                    payload: p,
                },
                T::Publish => Message::Publish {
                    request: a,
                    options: d,
                    topic: u,
                    payload: p,
                },
                T::Published => Message::Published {
                    request: a,
                    publication: b,
                },
                T::Subscribe => Message::Subscribe {
                    request: a,
                    options: d,
                    topic: u,
                },
                T::Subscribed => Message::Subscribed {
                    request: a,
                    subscription: b,
                },
                T::Unsubscribe => Message::Unsubscribe {
                    request: a,
                    subscription: b,
                },
                T::Unsubscribed => Message::Unsubscribed {
                    request: a,
                    details: od,
                },
                T::Event => Message::Event {
                    subscription: a,
                    publication: b,
                    details: d,
                    payload: p,
                },
                T::Call => Message::Call {
                    request: a,
                    options: d,
                    procedure: u,
                    payload: p,
                },
                T::Cancel => Message::Cancel {
                    request: a,
                    options: d,
                },
                T::Result => Message::Result {
                    request: a,
                    details: d,
                    payload: p,
                },
                T::Register => Message::Register {
                    request: a,
                    options: d,
                    procedure: u,
                },
                T::Registered => Message::Registered {
                    request: a,
                    registration: b,
                },
                T::Unregister => Message::Unregister {
                    request: a,
                    registration: b,
                },
                T::Unregistered => Message::Unregistered {
                    request: a,
                    details: od,
                },
                T::Invocation => Message::Invocation {
                    request: a,
                    registration: b,
                    details: d,
                    payload: p,
                },
                T::Interrupt => Message::Interrupt {
                    request: a,
                    options: d,
                },
                T::Yield => Message::Yield {
                    request: a,
                    options: d,
                    payload: p,
                },
            }
        })
}

fn serializer() -> impl Strategy<Value = Serializer> {
    prop::sample::select(Serializer::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Encode, decode (payload stays raw), compare by value; re-encoding the
    /// decoded message splices the payload and gives the same bytes.
    #[test]
    fn round_trip_every_codec(m in message(), s in serializer()) {
        let frame = Bytes::from(s.encode(&m).unwrap());
        let decoded = s.decode(&frame).unwrap();
        prop_assert_eq!(decoded.message_type(), m.message_type());
        if let Some(p) = decoded.payload() {
            prop_assert!(matches!(p, Payload::Raw(_) | Payload::Empty), "payload must stay encoded");
        }
        prop_assert_eq!(&decoded.clone().with_values().unwrap(), &m);
        let again = s.encode(&decoded).unwrap();
        prop_assert_eq!(&again[..], &frame[..]);
    }

    /// Decode in one codec, transcode into another, decode there: the same message.
    #[test]
    fn transcode_every_pair(m in message(), from in serializer(), to in serializer()) {
        let frame = Bytes::from(from.encode(&m).unwrap());
        let in_from = from.decode(&frame).unwrap();
        let frame2 = Bytes::from(to.encode(&in_from).unwrap());
        let in_to = to.decode(&frame2).unwrap();
        prop_assert_eq!(&in_to.clone().with_values().unwrap(), &m);
        // and back again, unchanged
        let frame3 = Bytes::from(from.encode(&in_to).unwrap());
        prop_assert_eq!(&from.decode(&frame3).unwrap().with_values().unwrap(), &m);
    }

    /// simd-json and serde_json decode JSON to the same values, floats included.
    #[test]
    fn simd_json_agrees_with_serde_json(v in value()) {
        let mut out = Vec::new();
        Serializer::Json.encode_value(&v, &mut out);
        prop_assert_eq!(shardwamp::codec::json::read_value_simd(&out).unwrap(), v.clone());
        prop_assert_eq!(shardwamp::codec::json::read_value_serde(&out).unwrap(), v);
    }

    /// Values on their own round-trip through every codec.
    #[test]
    fn values_round_trip(v in value(), s in serializer()) {
        let mut out = Vec::new();
        s.encode_value(&v, &mut out);
        prop_assert_eq!(s.decode_value(&out).unwrap(), v);
    }
}

/// Bytes a MessagePack publisher sends reach a JSON subscriber as the spec's
/// `"\0" + base64` string and come back to CBOR and MessagePack unchanged.
#[test]
fn binary_crosses_json_unchanged() {
    let blob: Vec<u8> = (0..=255u8).collect();
    let publish = Message::Publish {
        request: 1,
        options: Dict::new(),
        topic: "com.example.blob".into(),
        payload: Payload::args(vec![Value::Bytes(blob.clone())]),
    };
    let mp = Bytes::from(Serializer::MsgPack.encode(&publish).unwrap());
    let from_mp = Serializer::MsgPack.decode(&mp).unwrap();
    let json = Serializer::Json.encode(&from_mp).unwrap();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains(r#"["\u0000AAECAwQFBgcICQoLDA0OD"#), "{text}");
    let from_json = Serializer::Json.decode(&Bytes::from(json)).unwrap();
    for s in [Serializer::Cbor, Serializer::MsgPack] {
        let back = s
            .decode(&Bytes::from(s.encode(&from_json).unwrap()))
            .unwrap()
            .with_values()
            .unwrap();
        match back {
            Message::Publish {
                payload: Payload::Values { args, .. },
                ..
            } => assert_eq!(args, vec![Value::Bytes(blob.clone())]),
            other => panic!("{other:?}"),
        }
    }
}

// ---- one nesting limit, pass-through payloads included ----------------------

/// One level of nesting, as it is written on the wire.
#[derive(Debug, Clone, Copy)]
enum Level {
    List,
    Dict,
    /// CBOR only: an indefinite-length array.
    IndefList,
    /// CBOR only: an indefinite-length map.
    IndefDict,
    /// CBOR only: a tag (counts as a level).
    Tag,
}

/// Strings that must not count as brackets, nor end a JSON string early.
const TRICKY: &str = "[{\"\\]}\u{e9}\u{1f600}";

/// Writes `levels` nested around an integer, with a tricky string beside each level.
fn nest(s: Serializer, levels: &[Level], out: &mut Vec<u8>) {
    let Some((first, rest)) = levels.split_first() else {
        s.encode_value(&Value::UInt(1), out);
        return;
    };
    let tricky = |out: &mut Vec<u8>| s.encode_value(&Value::from(TRICKY), out);
    match (s, first) {
        (Serializer::Json, Level::Dict) => {
            out.push(b'{');
            tricky(out);
            out.push(b':');
            nest(s, rest, out);
            out.push(b'}');
        }
        (Serializer::Json, _) => {
            out.push(b'[');
            tricky(out);
            out.push(b',');
            nest(s, rest, out);
            out.push(b']');
        }
        (Serializer::MsgPack, Level::Dict) => {
            out.push(0x81);
            tricky(out);
            nest(s, rest, out);
        }
        (Serializer::MsgPack, _) => {
            out.push(0x92);
            tricky(out);
            nest(s, rest, out);
        }
        (Serializer::Cbor, level) => {
            match level {
                Level::List => out.push(0x82),
                Level::Dict => out.push(0xa1),
                Level::IndefList => out.push(0x9f),
                Level::IndefDict => out.push(0xbf),
                Level::Tag => {
                    out.push(0xc1);
                    return nest(s, rest, out);
                }
            }
            tricky(out);
            nest(s, rest, out);
            if matches!(level, Level::IndefList | Level::IndefDict) {
                out.push(0xff);
            }
        }
    }
}

fn levels() -> impl Strategy<Value = Vec<Level>> {
    let level = prop_oneof![
        Just(Level::List),
        Just(Level::Dict),
        Just(Level::IndefList),
        Just(Level::IndefDict),
        Just(Level::Tag),
    ];
    // Around the limit mostly, far below and far above sometimes.
    prop_oneof![
        prop::collection::vec(level.clone(), 58..72),
        prop::collection::vec(level, 0..200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    /// The check a pass-through payload gets at decode agrees with a full
    /// decode of it: a PUBLISH decodes exactly when its arguments (and kwargs)
    /// would decode as values, and that is when they nest at most
    /// `MAX_DEPTH` deep (a CBOR tag counting as a level).
    #[test]
    fn pass_through_check_agrees_with_full_decode(
        levels in levels(),
        s in serializer(),
        in_kwargs in any::<bool>(),
    ) {
        let levels: Vec<Level> = match s {
            Serializer::Cbor => levels,
            _ => levels.into_iter().filter(|l| matches!(l, Level::List | Level::Dict)).collect(),
        };
        // The args list (or kwargs dict) is the first level.
        let mut element = Vec::new();
        let wrapped: Vec<Level> = std::iter::once(if in_kwargs { Level::Dict } else { Level::List })
            .chain(levels.iter().copied())
            .collect();
        // A tag may not wrap the args element itself in this test: the first level is a container.
        nest(s, &wrapped, &mut element);
        let depth = wrapped.len();
        let (args, kwargs) = if in_kwargs {
            let mut empty = Vec::new();
            s.encode_value(&Value::List(vec![]), &mut empty);
            (Bytes::from(empty), Some(Bytes::from(element.clone())))
        } else {
            (Bytes::from(element.clone()), None)
        };
        let msg = Message::Publish {
            request: 1,
            options: Dict::new(),
            topic: "com.t".into(),
            payload: Payload::Raw(RawPayload { serializer: s, args, kwargs }),
        };
        let frame = Bytes::from(s.encode(&msg).unwrap());
        let decoded = s.decode(&frame);
        let full = s.decode_value(&element);
        prop_assert_eq!(decoded.is_ok(), full.is_ok(), "{:?} / {:?}", decoded, full);
        prop_assert_eq!(decoded.is_ok(), depth <= MAX_DEPTH, "depth {}: {:?}", depth, decoded);
        if let Err(e) = &decoded {
            prop_assert_eq!(e, &DecodeError::TooDeep);
        }
        if let Ok(m) = decoded {
            // and then it transcodes into every serializer.
            for to in Serializer::ALL {
                prop_assert!(to.encode(&m).is_ok());
            }
        }
    }
}
