//! The MessagePack codec (`wamp.2.msgpack`, RawSocket id 2).
//!
//! Markers come from the `rmp` crate and values are written with `rmp::encode`;
//! the reader here walks a borrowed slice so that splitting a frame and
//! skipping a payload allocate nothing, and every length prefix is checked
//! against the bytes that remain before anything is reserved.

use rmp::Marker;

use super::{Codec, DecodeError, Element, Elements, Kind, Part, Serializer, MAX_DEPTH};
use crate::wamp::value::{Dict, Value};

/// The MessagePack codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPackCodec;

fn syntax(detail: &str) -> DecodeError {
    DecodeError::Syntax {
        format: "MessagePack",
        detail: detail.to_owned(),
    }
}

/// A cursor over a borrowed MessagePack buffer.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Whether [`Reader::skip`] has passed a NaN or infinite float.
    non_finite: bool,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            non_finite: false,
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u16(&mut self) -> Result<usize, DecodeError> {
        Ok(u16::from_be_bytes(self.be()?) as usize)
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_be_bytes(self.be()?) as usize)
    }

    fn marker(&mut self) -> Result<Marker, DecodeError> {
        Ok(Marker::from_u8(self.u8()?))
    }

    /// The length that follows a str/bin/array/map marker, if it is one.
    fn len_of(&mut self, m: Marker) -> Result<Option<usize>, DecodeError> {
        Ok(Some(match m {
            Marker::FixStr(n) | Marker::FixArray(n) | Marker::FixMap(n) => n as usize,
            Marker::Str8 | Marker::Bin8 => self.u8()? as usize,
            Marker::Str16 | Marker::Bin16 | Marker::Array16 | Marker::Map16 => self.u16()?,
            Marker::Str32 | Marker::Bin32 | Marker::Array32 | Marker::Map32 => self.u32()?,
            _ => return Ok(None),
        }))
    }

    /// Skips one complete value, checking its structure.
    fn skip(&mut self, depth: usize) -> Result<Kind, DecodeError> {
        let m = self.marker()?;
        let kind = kind_of(m)?;
        match m {
            Marker::Null | Marker::True | Marker::False | Marker::FixPos(_) | Marker::FixNeg(_) => {
            }
            Marker::U8 | Marker::I8 => {
                self.take(1)?;
            }
            Marker::U16 | Marker::I16 => {
                self.take(2)?;
            }
            Marker::U32 | Marker::I32 => {
                self.take(4)?;
            }
            Marker::U64 | Marker::I64 => {
                self.take(8)?;
            }
            Marker::F32 => {
                self.non_finite |= !f32::from_be_bytes(self.be()?).is_finite();
            }
            Marker::F64 => {
                self.non_finite |= !f64::from_be_bytes(self.be()?).is_finite();
            }
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let n = self.len_of(m)?.unwrap_or(0);
                std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Utf8)?;
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let n = self.len_of(m)?.unwrap_or(0);
                self.take(n)?;
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                let n = self.len_of(m)?.unwrap_or(0);
                for _ in 0..n {
                    self.skip(depth + 1)?;
                }
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                let n = self.len_of(m)?.unwrap_or(0);
                for _ in 0..n {
                    if self.skip(depth + 1)? != Kind::Str {
                        return Err(DecodeError::NonStringKey);
                    }
                    self.skip(depth + 1)?;
                }
            }
            _ => return Err(DecodeError::Unsupported("MessagePack extension type")),
        }
        Ok(kind)
    }

    fn str(&mut self, m: Marker) -> Result<&'a str, DecodeError> {
        let n = self.len_of(m)?.unwrap_or(0);
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Utf8)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let m = self.marker()?;
        Ok(match m {
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(n) => Value::UInt(n.into()),
            Marker::FixNeg(n) => Value::Int(n.into()),
            Marker::U8 => Value::UInt(self.u8()?.into()),
            Marker::U16 => Value::UInt(u16::from_be_bytes(self.be()?).into()),
            Marker::U32 => Value::UInt(u32::from_be_bytes(self.be()?).into()),
            Marker::U64 => Value::UInt(u64::from_be_bytes(self.be()?)),
            Marker::I8 => Value::from(i64::from(i8::from_be_bytes(self.be()?))),
            Marker::I16 => Value::from(i64::from(i16::from_be_bytes(self.be()?))),
            Marker::I32 => Value::from(i64::from(i32::from_be_bytes(self.be()?))),
            Marker::I64 => Value::from(i64::from_be_bytes(self.be()?)),
            Marker::F32 => Value::Float(f32::from_be_bytes(self.be()?).into()),
            Marker::F64 => Value::Float(f64::from_be_bytes(self.be()?)),
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                Value::Str(self.str(m)?.to_owned())
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let n = self.len_of(m)?.unwrap_or(0);
                Value::Bytes(self.take(n)?.to_vec())
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                let n = self.len_of(m)?.unwrap_or(0);
                // Every element takes at least one byte: never reserve more than remains.
                let mut list = Vec::with_capacity(n.min(self.remaining()));
                for _ in 0..n {
                    list.push(self.value(depth + 1)?);
                }
                Value::List(list)
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                let n = self.len_of(m)?.unwrap_or(0);
                let mut dict = Dict::new();
                for _ in 0..n {
                    let km = self.marker()?;
                    if !matches!(
                        km,
                        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32
                    ) {
                        return Err(DecodeError::NonStringKey);
                    }
                    let k = self.str(km)?.to_owned();
                    let v = self.value(depth + 1)?;
                    dict.insert(k, v);
                }
                Value::Dict(dict)
            }
            _ => return Err(DecodeError::Unsupported("MessagePack extension type")),
        })
    }
}

fn kind_of(m: Marker) -> Result<Kind, DecodeError> {
    Ok(match m {
        Marker::Null => Kind::Null,
        Marker::True | Marker::False => Kind::Bool,
        Marker::FixPos(_) | Marker::U8 | Marker::U16 | Marker::U32 | Marker::U64 => Kind::UInt,
        // Signed markers may still hold non-negative values; the envelope reader accepts those.
        Marker::FixNeg(_) => Kind::NegInt,
        Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64 => Kind::UInt,
        Marker::F32 | Marker::F64 => Kind::Float,
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => Kind::Str,
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => Kind::Bytes,
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => Kind::List,
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => Kind::Dict,
        Marker::Reserved => return Err(syntax("reserved marker 0xc1")),
        _ => return Err(DecodeError::Unsupported("MessagePack extension type")),
    })
}

/// Whether one complete value holds a NaN or infinite float (walked as
/// [`MsgPackCodec::split`] walks it, building nothing).
pub fn has_non_finite(bytes: &[u8]) -> Result<bool, DecodeError> {
    let mut r = Reader::new(bytes);
    r.skip(0)?;
    Ok(r.non_finite)
}

fn write_list(l: &[Value], out: &mut Vec<u8>) {
    let _ = rmp::encode::write_array_len(out, l.len() as u32);
    for v in l {
        MsgPackCodec::write_value(v, out);
    }
}

fn write_dict(d: &Dict, out: &mut Vec<u8>) {
    let _ = rmp::encode::write_map_len(out, d.len() as u32);
    for (k, v) in d {
        let _ = rmp::encode::write_str(out, k);
        MsgPackCodec::write_value(v, out);
    }
}

impl Codec for MsgPackCodec {
    const SERIALIZER: Serializer = Serializer::MsgPack;
    const FORMAT: &'static str = "MessagePack";

    fn split(frame: &[u8], out: &mut Elements) -> Result<(), DecodeError> {
        let mut r = Reader::new(frame);
        let m = r.marker()?;
        let n = match m {
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => r.len_of(m)?.unwrap_or(0),
            other => return Err(DecodeError::NotAnArray(kind_of(other)?.name())),
        };
        for _ in 0..n {
            let start = r.pos;
            let mut kind = r.skip(0)?;
            if kind == Kind::UInt
                && matches!(
                    Marker::from_u8(frame[start]),
                    Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64
                )
            {
                // A signed marker: the sign decides the kind.
                kind = match Reader::new(&frame[start..r.pos]).value(0)? {
                    Value::Int(_) => Kind::NegInt,
                    _ => Kind::UInt,
                };
            }
            out.push(Element {
                kind,
                start,
                end: r.pos,
            })?;
        }
        if r.remaining() != 0 {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(())
    }

    fn read_uint(bytes: &[u8]) -> Result<u64, DecodeError> {
        Reader::new(bytes)
            .value(0)?
            .as_u64()
            .ok_or_else(|| syntax("not an unsigned integer"))
    }

    fn read_str(bytes: &[u8]) -> Result<String, DecodeError> {
        let mut r = Reader::new(bytes);
        let m = r.marker()?;
        Ok(r.str(m)?.to_owned())
    }

    fn read_value(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.value(0)?;
        if r.remaining() != 0 {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(v)
    }

    /// Nothing to do: [`MsgPackCodec::split`] has walked every element with
    /// the checks of [`MsgPackCodec::read_value`] (nesting, UTF-8, string keys,
    /// no extension types).
    fn check_payload(_bytes: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }

    fn write_value(value: &Value, out: &mut Vec<u8>) {
        // Writes into a Vec cannot fail.
        match value {
            Value::Null => {
                let _ = rmp::encode::write_nil(out);
            }
            Value::Bool(b) => {
                let _ = rmp::encode::write_bool(out, *b);
            }
            Value::Int(i) => {
                let _ = rmp::encode::write_sint(out, *i);
            }
            Value::UInt(u) => {
                let _ = rmp::encode::write_uint(out, *u);
            }
            Value::Float(f) => {
                let _ = rmp::encode::write_f64(out, *f);
            }
            Value::Str(s) => {
                let _ = rmp::encode::write_str(out, s);
            }
            Value::Bytes(b) => {
                let _ = rmp::encode::write_bin(out, b);
            }
            Value::List(l) => write_list(l, out),
            Value::Dict(d) => write_dict(d, out),
        }
    }

    fn write_parts(parts: &[Part<'_>], out: &mut Vec<u8>) {
        let _ = rmp::encode::write_array_len(out, parts.len() as u32);
        for p in parts {
            match p {
                Part::UInt(u) => {
                    let _ = rmp::encode::write_uint(out, *u);
                }
                Part::Str(s) => {
                    let _ = rmp::encode::write_str(out, s);
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
    fn decodes_a_hand_made_frame() {
        // [32, 1, {}, "a"] with a signed marker for the request id
        let frame = Bytes::from_static(&[0x94, 0x20, 0xd0, 0x01, 0x80, 0xa1, b'a']);
        let m = Serializer::MsgPack.decode(&frame).unwrap();
        assert_eq!(
            m,
            Message::Subscribe {
                request: 1,
                options: Dict::new(),
                topic: "a".into()
            }
        );
    }

    #[test]
    fn huge_length_prefix_is_truncation_not_allocation() {
        // array32 claiming 2^32-1 elements, then nothing
        let frame = Bytes::from_static(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            Serializer::MsgPack.decode(&frame),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            MsgPackCodec::read_value(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            MsgPackCodec::read_value(&[0xdb, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            Serializer::MsgPack.decode(&Bytes::from_static(&[0x80])),
            Err(DecodeError::NotAnArray("dict"))
        );
        assert_eq!(
            MsgPackCodec::read_value(&[0x81, 0x01, 0x01]),
            Err(DecodeError::NonStringKey)
        );
        assert!(MsgPackCodec::read_value(&[0xc1]).is_err());
        assert!(MsgPackCodec::read_value(&[0xd4, 0x01, 0x02]).is_err());
        let deep = vec![0x91u8; 10_000];
        assert_eq!(
            Serializer::MsgPack.decode(&Bytes::from(deep)),
            Err(DecodeError::TooDeep)
        );
    }

    fn publish(args: &[u8]) -> Result<Message, DecodeError> {
        // [16, 1, {}, "t", args]
        let mut f = vec![0x95, 0x10, 0x01, 0x80, 0xa1, b't'];
        f.extend_from_slice(args);
        Serializer::MsgPack.decode(&Bytes::from(f))
    }

    #[test]
    fn payload_nesting_is_capped_at_max_depth() {
        let nested = |n: usize| {
            let mut v = vec![0x91u8; n - 1];
            v.push(0x90);
            v
        };
        assert!(publish(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(publish(&nested(MAX_DEPTH + 1)), Err(DecodeError::TooDeep));
        assert_eq!(publish(&nested(100_000)), Err(DecodeError::TooDeep));
        // maps: [{"k": {"k": ... 1}}]
        let maps = |n: usize| {
            let mut v = vec![0x91u8];
            for _ in 0..n {
                v.extend_from_slice(&[0x81, 0xa1, b'k']);
            }
            v.push(0x01);
            v
        };
        assert!(publish(&maps(MAX_DEPTH - 1)).is_ok());
        assert_eq!(publish(&maps(MAX_DEPTH)), Err(DecodeError::TooDeep));
        // An extension type anywhere in a payload is refused (no value for it).
        assert!(publish(&[0x91, 0xd4, 0x01, 0x02]).is_err());
    }

    #[test]
    fn non_finite_floats_are_found() {
        let mut nan = vec![0x91, 0xcb];
        nan.extend_from_slice(&f64::NAN.to_be_bytes());
        assert_eq!(has_non_finite(&nan), Ok(true));
        let mut inf = vec![0x81, 0xa1, b'k', 0xca];
        inf.extend_from_slice(&f32::NEG_INFINITY.to_be_bytes());
        assert_eq!(has_non_finite(&inf), Ok(true));
        let mut one = vec![0x91, 0xcb];
        one.extend_from_slice(&1.5f64.to_be_bytes());
        assert_eq!(has_non_finite(&one), Ok(false));
    }
}
