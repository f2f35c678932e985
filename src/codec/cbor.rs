//! The CBOR codec (`wamp.2.cbor`, RawSocket id 3), on the `minicbor` crate.
//!
//! Definite and indefinite lengths are both accepted; tags are read through
//! (their content is the value); simple values other than booleans, null and
//! undefined are refused. Nesting (tags included) is capped at [`MAX_DEPTH`].

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use super::{Codec, DecodeError, Element, Elements, Kind, Part, Serializer, MAX_DEPTH};
use crate::wamp::value::{Dict, Value};

/// The CBOR codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct CborCodec;

fn err(e: minicbor::decode::Error) -> DecodeError {
    if e.is_end_of_input() {
        DecodeError::Truncated
    } else {
        DecodeError::Syntax {
            format: "CBOR",
            detail: e.to_string(),
        }
    }
}

fn kind_of(t: Type) -> Result<Kind, DecodeError> {
    Ok(match t {
        Type::Bool => Kind::Bool,
        Type::Null | Type::Undefined => Kind::Null,
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Kind::UInt,
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => Kind::NegInt,
        Type::F16 | Type::F32 | Type::F64 => Kind::Float,
        Type::Bytes | Type::BytesIndef => Kind::Bytes,
        Type::String | Type::StringIndef => Kind::Str,
        Type::Array | Type::ArrayIndef => Kind::List,
        Type::Map | Type::MapIndef => Kind::Dict,
        Type::Simple => return Err(DecodeError::Unsupported("CBOR simple value")),
        Type::Tag => Kind::Null, // replaced by the tagged content's kind
        Type::Break => {
            return Err(DecodeError::Syntax {
                format: "CBOR",
                detail: "unexpected break".into(),
            })
        }
        Type::Unknown(b) => {
            return Err(DecodeError::Syntax {
                format: "CBOR",
                detail: format!("unknown initial byte {b:#04x}"),
            })
        }
    })
}

/// Consumes the break byte that ends an indefinite-length item.
fn take_break(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    if d.datatype().map_err(err)? == Type::Break {
        d.set_position(d.position() + 1);
        Ok(true)
    } else {
        Ok(false)
    }
}

/// Skips one complete item, checking it as [`value`] would, and returns its
/// kind; sets `non_finite` when it passes a NaN or infinite float.
fn skip(d: &mut Decoder<'_>, depth: usize, non_finite: &mut bool) -> Result<Kind, DecodeError> {
    let t = d.datatype().map_err(err)?;
    let kind = kind_of(t)?;
    match t {
        Type::Array | Type::ArrayIndef | Type::Map | Type::MapIndef | Type::Tag
            if depth >= MAX_DEPTH =>
        {
            return Err(DecodeError::TooDeep)
        }
        Type::Tag => {
            d.tag().map_err(err)?;
            return skip(d, depth + 1, non_finite);
        }
        Type::Array | Type::ArrayIndef => match d.array().map_err(err)? {
            Some(n) => {
                for _ in 0..n {
                    skip(d, depth + 1, non_finite)?;
                }
            }
            None => {
                while !take_break(d)? {
                    skip(d, depth + 1, non_finite)?;
                }
            }
        },
        Type::Map | Type::MapIndef => {
            let mut entry = |d: &mut Decoder<'_>| -> Result<(), DecodeError> {
                if skip(d, depth + 1, non_finite)? != Kind::Str {
                    return Err(DecodeError::NonStringKey);
                }
                skip(d, depth + 1, non_finite).map(|_| ())
            };
            match d.map().map_err(err)? {
                Some(n) => {
                    for _ in 0..n {
                        entry(d)?;
                    }
                }
                None => {
                    while !take_break(d)? {
                        entry(d)?;
                    }
                }
            }
        }
        Type::String => {
            d.str().map_err(err)?;
        }
        Type::StringIndef => {
            for chunk in d.str_iter().map_err(err)? {
                chunk.map_err(err)?;
            }
        }
        // The value model has no place for it (see `value`): refused here too,
        // so that a payload kept raw can always be transcoded.
        Type::Int => return Err(DecodeError::Unsupported("integer below -2^63")),
        Type::F16 => *non_finite |= !d.f16().map_err(err)?.is_finite(),
        Type::F32 => *non_finite |= !d.f32().map_err(err)?.is_finite(),
        Type::F64 => *non_finite |= !d.f64().map_err(err)?.is_finite(),
        _ => d.skip().map_err(err)?,
    }
    Ok(kind)
}

fn value(d: &mut Decoder<'_>, depth: usize) -> Result<Value, DecodeError> {
    let t = d.datatype().map_err(err)?;
    Ok(match t {
        Type::Bool => Value::Bool(d.bool().map_err(err)?),
        Type::Null => {
            d.null().map_err(err)?;
            Value::Null
        }
        Type::Undefined => {
            d.undefined().map_err(err)?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::UInt(d.u64().map_err(err)?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => Value::from(
            d.i64()
                .map_err(|_| DecodeError::Unsupported("integer below -2^63"))?,
        ),
        Type::Int => return Err(DecodeError::Unsupported("integer below -2^63")),
        Type::F16 => Value::Float(d.f16().map_err(err)?.into()),
        Type::F32 => Value::Float(d.f32().map_err(err)?.into()),
        Type::F64 => Value::Float(d.f64().map_err(err)?),
        Type::Bytes => Value::Bytes(d.bytes().map_err(err)?.to_vec()),
        Type::BytesIndef => {
            let mut b = Vec::new();
            for chunk in d.bytes_iter().map_err(err)? {
                b.extend_from_slice(chunk.map_err(err)?);
            }
            Value::Bytes(b)
        }
        Type::String => Value::Str(d.str().map_err(err)?.to_owned()),
        Type::StringIndef => {
            let mut s = String::new();
            for chunk in d.str_iter().map_err(err)? {
                s.push_str(chunk.map_err(err)?);
            }
            Value::Str(s)
        }
        Type::Array | Type::ArrayIndef | Type::Map | Type::MapIndef | Type::Tag
            if depth >= MAX_DEPTH =>
        {
            return Err(DecodeError::TooDeep)
        }
        Type::Tag => {
            d.tag().map_err(err)?;
            return value(d, depth + 1);
        }
        Type::Array | Type::ArrayIndef => {
            let mut list = Vec::new();
            match d.array().map_err(err)? {
                Some(n) => {
                    // Every item takes at least one byte: never reserve more than remains.
                    let left = d.input().len().saturating_sub(d.position());
                    list.reserve(usize::try_from(n).unwrap_or(usize::MAX).min(left));
                    for _ in 0..n {
                        list.push(value(d, depth + 1)?);
                    }
                }
                None => {
                    while !take_break(d)? {
                        list.push(value(d, depth + 1)?);
                    }
                }
            }
            Value::List(list)
        }
        Type::Map | Type::MapIndef => {
            let mut dict = Dict::new();
            let entry = |d: &mut Decoder<'_>, dict: &mut Dict| -> Result<(), DecodeError> {
                let k = match value(d, depth + 1)? {
                    Value::Str(s) => s,
                    _ => return Err(DecodeError::NonStringKey),
                };
                let v = value(d, depth + 1)?;
                dict.insert(k, v);
                Ok(())
            };
            match d.map().map_err(err)? {
                Some(n) => {
                    for _ in 0..n {
                        entry(d, &mut dict)?;
                    }
                }
                None => {
                    while !take_break(d)? {
                        entry(d, &mut dict)?;
                    }
                }
            }
            Value::Dict(dict)
        }
        other => {
            kind_of(other)?;
            return Err(DecodeError::Unsupported("CBOR item"));
        }
    })
}

/// Whether one complete item holds a NaN or infinite float (walked as
/// [`CborCodec::split`] walks it, building nothing).
pub fn has_non_finite(bytes: &[u8]) -> Result<bool, DecodeError> {
    let mut found = false;
    skip(&mut Decoder::new(bytes), 0, &mut found)?;
    Ok(found)
}

// Writes into a Vec cannot fail: the encoder results are discarded below.

fn write_list(l: &[Value], out: &mut Vec<u8>) {
    let _ = Encoder::new(&mut *out).array(l.len() as u64);
    for v in l {
        CborCodec::write_value(v, out);
    }
}

fn write_dict(d: &Dict, out: &mut Vec<u8>) {
    let _ = Encoder::new(&mut *out).map(d.len() as u64);
    for (k, v) in d {
        let _ = Encoder::new(&mut *out).str(k);
        CborCodec::write_value(v, out);
    }
}

impl Codec for CborCodec {
    const SERIALIZER: Serializer = Serializer::Cbor;
    const FORMAT: &'static str = "CBOR";

    fn split(frame: &[u8], out: &mut Elements) -> Result<(), DecodeError> {
        let mut d = Decoder::new(frame);
        let t = d.datatype().map_err(err)?;
        let mut element = |d: &mut Decoder<'_>| -> Result<(), DecodeError> {
            let start = d.position();
            let mut kind = skip(d, 0, &mut false)?;
            if kind == Kind::Null && d.input().get(start).is_some_and(|b| b >> 5 == 6) {
                // A tagged item: its kind is the content's.
                let mut inner = Decoder::new(&frame[start..d.position()]);
                while inner.datatype().map_err(err)? == Type::Tag {
                    inner.tag().map_err(err)?;
                }
                kind = kind_of(inner.datatype().map_err(err)?)?;
            }
            out.push(Element {
                kind,
                start,
                end: d.position(),
            })
        };
        match t {
            Type::Array => {
                let n = d.array().map_err(err)?.unwrap_or(0);
                for _ in 0..n {
                    element(&mut d)?;
                }
            }
            Type::ArrayIndef => {
                d.array().map_err(err)?;
                while !take_break(&mut d)? {
                    element(&mut d)?;
                }
            }
            other => return Err(DecodeError::NotAnArray(kind_of(other)?.name())),
        }
        if d.position() != frame.len() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(())
    }

    fn read_uint(bytes: &[u8]) -> Result<u64, DecodeError> {
        let mut d = Decoder::new(bytes);
        while d.datatype().map_err(err)? == Type::Tag {
            d.tag().map_err(err)?;
        }
        d.u64().map_err(err)
    }

    fn read_str(bytes: &[u8]) -> Result<String, DecodeError> {
        match Self::read_value(bytes)? {
            Value::Str(s) => Ok(s),
            other => Err(DecodeError::WrongType {
                message: "value",
                field: "string",
                expected: "string",
                found: other.type_name(),
            }),
        }
    }

    fn read_value(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut d = Decoder::new(bytes);
        let v = value(&mut d, 0)?;
        if d.position() != bytes.len() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(v)
    }

    /// Nothing to do: [`CborCodec::split`] has walked every element with the
    /// checks of [`CborCodec::read_value`] (nesting with tags and indefinite
    /// lengths, UTF-8, string keys, integer range, no simple values).
    fn check_payload(_bytes: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }

    fn write_value(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Null => {
                let _ = Encoder::new(&mut *out).null();
            }
            Value::Bool(b) => {
                let _ = Encoder::new(&mut *out).bool(*b);
            }
            Value::Int(i) => {
                let _ = Encoder::new(&mut *out).i64(*i);
            }
            Value::UInt(u) => {
                let _ = Encoder::new(&mut *out).u64(*u);
            }
            Value::Float(f) => {
                let _ = Encoder::new(&mut *out).f64(*f);
            }
            Value::Str(s) => {
                let _ = Encoder::new(&mut *out).str(s);
            }
            Value::Bytes(b) => {
                let _ = Encoder::new(&mut *out).bytes(b);
            }
            Value::List(l) => write_list(l, out),
            Value::Dict(d) => write_dict(d, out),
        }
    }

    fn write_parts(parts: &[Part<'_>], out: &mut Vec<u8>) {
        let _ = Encoder::new(&mut *out).array(parts.len() as u64);
        for p in parts {
            match p {
                Part::UInt(u) => {
                    let _ = Encoder::new(&mut *out).u64(*u);
                }
                Part::Str(s) => {
                    let _ = Encoder::new(&mut *out).str(s);
                }
                Part::Dict(d) => write_dict(d, out),
                Part::List(l) => write_list(l, out),
                Part::Raw(r) => out.extend_from_slice(r),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wamp::message::Message;
    use bytes::Bytes;

    #[test]
    fn indefinite_lengths_and_tags() {
        // [_ 32, 1(2), {_ }, "a" ]  -- indefinite outer array, tagged request id, indefinite map
        let frame =
            Bytes::from_static(&[0x9f, 0x18, 0x20, 0xc1, 0x02, 0xbf, 0xff, 0x61, b'a', 0xff]);
        let m = Serializer::Cbor.decode(&frame).unwrap();
        assert_eq!(
            m,
            Message::Subscribe {
                request: 2,
                options: Dict::new(),
                topic: "a".into()
            }
        );
    }

    #[test]
    fn bad_input() {
        assert_eq!(
            Serializer::Cbor.decode(&Bytes::from_static(&[0xa0])),
            Err(DecodeError::NotAnArray("dict"))
        );
        // array claiming 2^64-1 items
        assert_eq!(
            CborCodec::read_value(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            CborCodec::read_value(&[0xa1, 0x01, 0x01]),
            Err(DecodeError::NonStringKey)
        );
        assert!(CborCodec::read_value(&[0xff]).is_err());
        let deep = vec![0x81u8; 10_000];
        assert_eq!(
            Serializer::Cbor.decode(&Bytes::from(deep)),
            Err(DecodeError::TooDeep)
        );
        let tags = vec![0xc1u8; 10_000];
        assert_eq!(CborCodec::read_value(&tags), Err(DecodeError::TooDeep));
    }

    fn publish(args: &[u8]) -> Result<Message, DecodeError> {
        // [16, 1, {}, "t", args]
        let mut f = vec![0x85, 0x10, 0x01, 0xa0, 0x61, b't'];
        f.extend_from_slice(args);
        Serializer::Cbor.decode(&Bytes::from(f))
    }

    /// Payloads are held to the limit however they nest: definite and
    /// indefinite lengths, maps and tags (a tag counts as a level).
    #[test]
    fn payload_nesting_is_capped_with_indefinite_lengths_and_tags() {
        let nest = |open: &[u8], close: &[u8], n: usize| {
            let mut v = open.repeat(n);
            v.extend_from_slice(&close.repeat(n));
            v
        };
        // [[...[]...]] with definite lengths: n-1 one-item arrays around an empty one.
        let definite = |n: usize| {
            let mut v = vec![0x81u8; n - 1];
            v.push(0x80);
            v
        };
        assert!(publish(&definite(MAX_DEPTH)).is_ok());
        assert_eq!(publish(&definite(MAX_DEPTH + 1)), Err(DecodeError::TooDeep));
        assert_eq!(publish(&definite(100_000)), Err(DecodeError::TooDeep));
        assert!(publish(&nest(&[0x9f], &[0xff], MAX_DEPTH)).is_ok());
        assert_eq!(
            publish(&nest(&[0x9f], &[0xff], MAX_DEPTH + 1)),
            Err(DecodeError::TooDeep)
        );
        assert_eq!(
            publish(&nest(&[0x9f], &[0xff], 100_000)),
            Err(DecodeError::TooDeep)
        );
        // tag 1 around the args list: 64 levels with 63 arrays inside, 65 with 64.
        let mut tagged = vec![0xc1];
        tagged.extend(definite(MAX_DEPTH - 1));
        assert!(publish(&tagged).is_ok());
        let mut tagged = vec![0xc1];
        tagged.extend(definite(MAX_DEPTH));
        assert_eq!(publish(&tagged), Err(DecodeError::TooDeep));
        // indefinite maps {_ "k": {_ ... } }
        let map = |n: usize| {
            let mut v = Vec::new();
            v.push(0x81); // the args list
            for _ in 0..n {
                v.extend_from_slice(&[0xbf, 0x61, b'k']);
            }
            v.push(0x01);
            v.extend(std::iter::repeat_n(0xff, n));
            v
        };
        assert!(publish(&map(MAX_DEPTH - 1)).is_ok());
        assert_eq!(publish(&map(MAX_DEPTH)), Err(DecodeError::TooDeep));
    }

    /// An integer below -2^63 has no place in the value model: refused at
    /// decode, not only when a payload is transcoded.
    #[test]
    fn integers_below_i64_are_refused_at_decode() {
        // [-2^64] : 0x3b + 8 bytes of 0xff
        let args = [0x81, 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(publish(&args).is_err());
        // [-2^63] fits
        let args = [0x81, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(publish(&args).is_ok());
    }

    #[test]
    fn non_finite_floats_are_found() {
        assert_eq!(has_non_finite(&[0x81, 0xf9, 0x7e, 0x00]), Ok(true)); // [NaN] f16
        assert_eq!(has_non_finite(&[0x81, 0xfa, 0x7f, 0x80, 0, 0]), Ok(true)); // [inf] f32
        assert_eq!(
            has_non_finite(&[0xa1, 0x61, b'k', 0xc1, 0xfb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0]),
            Ok(true)
        );
        assert_eq!(
            has_non_finite(&[0x81, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
            Ok(false)
        );
    }
}
