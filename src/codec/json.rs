//! The JSON codec (`wamp.2.json`, RawSocket id 1).
//!
//! Splitting is one pass of a small scanner over the frame (`Scanner`): it
//! records where each top-level element lies, builds no values, and checks in
//! the same pass everything a full decode would refuse (grammar, UTF-8, lone
//! surrogates in `\u` escapes, nesting beyond [`MAX_DEPTH`], numbers beyond
//! the range of a 64-bit float), so a payload kept raw is forwarded as it is
//! and can always be transcoded. [`split_reference`] is the same split built
//! on serde_json, the oracle the property tests and the fuzz target compare
//! the scanner with. Binary values follow the spec's convention
//! (`rfc/text/basic/bp_binary_conversion_of_json.md`): a byte string travels as
//! a JSON string holding `"\0"` followed by its standard base64 encoding.
//!
//! Full decodes of whole values (needed only when a payload is transcoded)
//! can also use simd-json ([`read_value_simd`]); `benches/codec.rs` measures
//! both and [`JsonCodec::read_value`] picks the winner by size (see
//! docs/benchmarks.md).

use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer, Serialize};
use serde_json::value::RawValue;

use super::{Codec, DecodeError, Element, Elements, Kind, Part, Serializer, MAX_DEPTH};
use crate::wamp::value::{Dict, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Payloads at least this large are fully decoded with simd-json rather than
/// serde_json (measured in `benches/codec.rs`; see docs/benchmarks.md).
///
/// Set so that serde_json is always used: no slice is longer than
/// `isize::MAX` bytes (`usize::MAX` would say the same, but clippy rejects
/// `len >= usize::MAX` as an absurd comparison). For realistic argument lists
/// (strings, ints, floats and small dicts) [`read_value_simd`] was slower at
/// every size from 64 B to 4 MiB: 1.2-1.3x slower from 4 KiB up, 1.9x at
/// 64 B. It pays for a private copy of the input and for building simd-json's
/// tree before converting it into a [`Value`]. simd-json won only on values
/// made almost entirely of long strings (2-21% faster from 4 KiB up). A
/// size-only threshold cannot pick those out, so it would slow down the
/// common case.
pub const SIMD_THRESHOLD: usize = isize::MAX as usize;

/// The JSON codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

fn syntax(e: impl fmt::Display) -> DecodeError {
    DecodeError::Syntax {
        format: "JSON",
        detail: e.to_string(),
    }
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The kind of an encoded JSON value, from its text.
fn kind_of(raw: &[u8]) -> Kind {
    match raw.first().copied() {
        Some(b'[') => Kind::List,
        Some(b'{') => Kind::Dict,
        Some(b'"') => Kind::Str,
        Some(b't') | Some(b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        Some(b'-') if !raw.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) => Kind::NegInt,
        _ if raw.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) => Kind::Float,
        _ => Kind::UInt,
    }
}

/// Collects the top-level elements of the frame's array.
struct SplitVisitor<'a> {
    base: usize,
    out: &'a mut Elements,
    overflow: &'a mut bool,
}

impl<'de> Visitor<'de> for SplitVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP message array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            let text = raw.get();
            let start = text.as_ptr() as usize - self.base;
            let e = Element {
                kind: kind_of(text.as_bytes()),
                start,
                end: start + text.len(),
            };
            if self.out.push(e).is_err() {
                *self.overflow = true;
                return Err(de::Error::custom("too many elements"));
            }
        }
        Ok(())
    }
}

/// Builds a [`Value`] from any serde deserializer, enforcing [`MAX_DEPTH`] and
/// turning `"\0"`-prefixed strings into bytes.
#[derive(Clone, Copy)]
struct ValueSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

fn string_value(s: &str) -> Value {
    if let Some(b64) = s.strip_prefix('\0') {
        if let Ok(bytes) = B64.decode(b64) {
            return Value::Bytes(bytes);
        }
    }
    Value::Str(s.to_owned())
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::from(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::UInt(u))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(string_value(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        let inner = ValueSeed {
            depth: self.depth + 1,
        };
        let mut list = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            list.push(v);
        }
        Ok(Value::List(list))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        let inner = ValueSeed {
            depth: self.depth + 1,
        };
        let mut dict = Dict::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(inner)?;
            dict.insert(k, v);
        }
        Ok(Value::Dict(dict))
    }
}

/// Serializes a [`Value`] as JSON with the spec's binary convention.
struct JsonOut<'a>(&'a Value);

impl Serialize for JsonOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(st) => s.serialize_str(st),
            Value::Bytes(b) => {
                let mut text = String::with_capacity(1 + b.len().div_ceil(3) * 4);
                text.push('\0');
                B64.encode_string(b, &mut text);
                s.serialize_str(&text)
            }
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(&JsonOut(v))?;
                }
                seq.end()
            }
            Value::Dict(d) => DictOut(d).serialize(s),
        }
    }
}

struct DictOut<'a>(&'a Dict);

impl Serialize for DictOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, &JsonOut(v))?;
        }
        map.end()
    }
}

struct ListOut<'a>(&'a [Value]);

impl Serialize for ListOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&JsonOut(v))?;
        }
        seq.end()
    }
}

/// Decodes one whole JSON value with simd-json (which parses a private copy in place).
pub fn read_value_simd(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut buf = bytes.to_vec();
    let v = simd_json::to_borrowed_value(&mut buf).map_err(syntax)?;
    from_simd(&v, 0)
}

fn from_simd(v: &simd_json::BorrowedValue<'_>, depth: usize) -> Result<Value, DecodeError> {
    use simd_json::{BorrowedValue as B, StaticNode as N};
    Ok(match v {
        B::Static(N::Null) => Value::Null,
        B::Static(N::Bool(b)) => Value::Bool(*b),
        B::Static(N::I64(i)) => Value::from(*i),
        B::Static(N::U64(u)) => Value::UInt(*u),
        B::Static(N::F64(f)) => Value::Float(*f),
        B::String(s) => string_value(s),
        B::Array(a) => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            Value::List(
                a.iter()
                    .map(|v| from_simd(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        B::Object(o) => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            let mut d = Dict::new();
            for (k, v) in o.iter() {
                d.insert(k.to_string(), from_simd(v, depth + 1)?);
            }
            Value::Dict(d)
        }
    })
}

/// Decodes one whole JSON value with serde_json.
pub fn read_value_serde(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = ValueSeed { depth: 0 }.deserialize(&mut de).map_err(|e| {
        if e.to_string().contains("nesting too deep") {
            DecodeError::TooDeep
        } else {
            syntax(e)
        }
    })?;
    de.end().map_err(|_| DecodeError::TrailingBytes)?;
    Ok(v)
}

/// Checks one whole JSON value (a payload element, say) for everything a
/// full decode ([`JsonCodec::read_value`]) would refuse: the JSON grammar,
/// UTF-8, a `\u` escape that is half of a UTF-16 surrogate pair without the
/// other half, lists and dicts nested deeper than [`MAX_DEPTH`], and a number
/// beyond the range of a 64-bit float (`1e400`). One pass that builds nothing;
/// [`JsonCodec::split`] runs the same scanner over a whole frame. Safe on any
/// input (it never panics and never reads out of bounds).
pub fn check_payload(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut s = Scanner::new(bytes);
    s.value(true)?;
    if s.at_end() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes)
    }
}

/// The one-pass JSON scanner behind [`JsonCodec::split`] and [`check_payload`].
///
/// It walks the bytes once, by index, and builds nothing: it checks the JSON
/// grammar (RFC 8259), UTF-8 inside strings (outside them only ASCII is
/// valid), `\u` escapes that form valid UTF-16, the nesting depth (at most
/// [`MAX_DEPTH`] levels of lists and dicts inside an element, as a full decode
/// allows) and, inside a list or dict, that no number lies beyond the range of
/// a 64-bit float. Each of these is what a full decode with serde_json
/// ([`read_value_serde`]) would refuse, so a payload it accepts can always be
/// decoded and transcoded later. Running out of input anywhere is
/// [`DecodeError::Truncated`]. It never panics and never reads out of
/// bounds: every byte is read with `get`.
struct Scanner<'a> {
    bytes: &'a [u8],
    i: usize,
}

/// Bytes a string holds as they are: printable ASCII but `"` and `\`.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x80 {
        t[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    t
};

/// Whether none of the 8 bytes in `x` ends or escapes a string, is a control
/// character or is part of a multi-byte UTF-8 sequence (SWAR: each test sets
/// the high bit of a byte that matches, and a false match can only follow a
/// true one, so "any" is exact).
fn plain8(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let quote = zero(x ^ (ONES * u64::from(b'"')));
    let backslash = zero(x ^ (ONES * u64::from(b'\\')));
    let control = x.wrapping_sub(ONES * 0x20) & !x;
    (quote | backslash | control | x) & HIGH == 0
}

impl<'a> Scanner<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Scanner { bytes, i: 0 }
    }

    /// The next byte that is not whitespace, without consuming it.
    fn peek(&mut self) -> Result<u8, DecodeError> {
        while let Some(&b) = self.bytes.get(self.i) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Ok(b);
            }
            self.i += 1;
        }
        Err(DecodeError::Truncated)
    }

    /// The byte at the cursor, whitespace or not.
    fn byte(&self) -> Result<u8, DecodeError> {
        self.bytes
            .get(self.i)
            .copied()
            .ok_or(DecodeError::Truncated)
    }

    /// Whether only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.peek().is_err()
    }

    /// One value at the cursor (after whitespace); returns its kind and its
    /// start. A number at the top is range-checked only when `top_range`.
    fn value(&mut self, top_range: bool) -> Result<(Kind, usize), DecodeError> {
        let b = self.peek()?;
        let start = self.i;
        let kind = match b {
            b'[' | b'{' => self.container()?,
            _ => self.scalar(b, top_range)?,
        };
        Ok((kind, start))
    }

    /// A string, `true`, `false`, `null` or a number whose first byte is `b`.
    fn scalar(&mut self, b: u8, check_range: bool) -> Result<Kind, DecodeError> {
        match b {
            b'"' => {
                self.i += 1;
                self.string()?;
                Ok(Kind::Str)
            }
            b'-' | b'0'..=b'9' => self.number(check_range),
            b't' => self.literal(b"true", Kind::Bool),
            b'f' => self.literal(b"false", Kind::Bool),
            b'n' => self.literal(b"null", Kind::Null),
            _ => Err(syntax("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Result<Kind, DecodeError> {
        let rest = self.bytes.get(self.i..).unwrap_or_default();
        if rest.starts_with(word) {
            self.i += word.len();
            Ok(kind)
        } else if word.starts_with(rest) {
            Err(DecodeError::Truncated)
        } else {
            Err(syntax("expected a value"))
        }
    }

    /// A list or dict whose opening bracket is at the cursor, nested lists
    /// and dicts included, without recursion: bit `k` of `dicts` says
    /// whether the container `k` levels up from the innermost is a dict.
    fn container(&mut self) -> Result<Kind, DecodeError> {
        let kind = if self.byte()? == b'[' {
            Kind::List
        } else {
            Kind::Dict
        };
        let mut depth = 0usize;
        let mut dicts: u128 = 0;
        let mut b = self.byte()?;
        loop {
            // A value is expected at the cursor; its first byte is `b`.
            if b == b'[' || b == b'{' {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                let dict = b == b'{';
                dicts = (dicts << 1) | u128::from(dict);
                self.i += 1;
                let next = self.peek()?;
                if next != if dict { b'}' } else { b']' } {
                    if dict {
                        self.key()?;
                    }
                    b = self.peek()?;
                    continue;
                }
                // An empty list or dict: closed below.
            } else {
                self.scalar(b, true)?;
            }
            // After a value inside the innermost container (or its closing
            // bracket, not consumed yet, when it is empty).
            loop {
                let next = self.peek()?;
                let dict = dicts & 1 == 1;
                if next == b',' {
                    self.i += 1;
                    if dict {
                        self.key()?;
                    }
                    break;
                }
                if next == if dict { b'}' } else { b']' } {
                    self.i += 1;
                    depth -= 1;
                    dicts >>= 1;
                    if depth == 0 {
                        return Ok(kind);
                    }
                    continue;
                }
                return Err(syntax("expected `,` or a closing bracket"));
            }
            b = self.peek()?;
        }
    }

    /// A dict's key and its colon (the cursor at or before the key's quote).
    fn key(&mut self) -> Result<(), DecodeError> {
        if self.peek()? != b'"' {
            return Err(syntax("expected a string key"));
        }
        self.i += 1;
        self.string()?;
        if self.peek()? != b':' {
            return Err(syntax("expected `:`"));
        }
        self.i += 1;
        Ok(())
    }

    /// The rest of a string whose opening quote is behind the cursor.
    fn string(&mut self) -> Result<(), DecodeError> {
        loop {
            // Eight plain bytes at a time, then one byte at a time.
            while let Some(chunk) = self.bytes.get(self.i..).and_then(<[u8]>::first_chunk) {
                if !plain8(u64::from_le_bytes(*chunk)) {
                    break;
                }
                self.i += 8;
            }
            while self
                .bytes
                .get(self.i)
                .is_some_and(|&b| PLAIN[usize::from(b)])
            {
                self.i += 1;
            }
            let b = self.byte()?;
            match b {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => self.escape()?,
                0x80..=0xff => self.utf8(b)?,
                _ => return Err(syntax("control character in a string")),
            }
        }
    }

    /// An escape whose backslash is at the cursor: `\u` escapes must form
    /// valid UTF-16 (no lone surrogate).
    fn escape(&mut self) -> Result<(), DecodeError> {
        self.i += 1;
        match self.byte()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 1;
                Ok(())
            }
            b'u' => {
                self.i += 1;
                let n = self.hex4()?;
                if (0xDC00..=0xDFFF).contains(&n) {
                    return Err(syntax("lone trailing surrogate in a \\u escape"));
                }
                if (0xD800..=0xDBFF).contains(&n) {
                    let lone = || syntax("lone leading surrogate in a \\u escape");
                    if self.byte()? != b'\\' {
                        return Err(lone());
                    }
                    self.i += 1;
                    if self.byte()? != b'u' {
                        return Err(lone());
                    }
                    self.i += 1;
                    if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                        return Err(lone());
                    }
                }
                Ok(())
            }
            _ => Err(syntax("invalid escape in a string")),
        }
    }

    /// The four hex digits of a `\u` escape at the cursor.
    fn hex4(&mut self) -> Result<u32, DecodeError> {
        let mut n = 0u32;
        for _ in 0..4 {
            let v = (self.byte()? as char)
                .to_digit(16)
                .ok_or_else(|| syntax("invalid \\u escape"))?;
            n = n * 16 + v;
            self.i += 1;
        }
        Ok(n)
    }

    /// One UTF-8 sequence of two to four bytes whose lead byte `b` is at the
    /// cursor (Unicode table 3-7: no overlong form, no surrogate, nothing
    /// past U+10FFFF).
    fn utf8(&mut self, b: u8) -> Result<(), DecodeError> {
        let (len, lo, hi) = match b {
            0xC2..=0xDF => (2, 0x80, 0xBF),
            0xE0 => (3, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
            0xED => (3, 0x80, 0x9F),
            0xF0 => (4, 0x90, 0xBF),
            0xF1..=0xF3 => (4, 0x80, 0xBF),
            0xF4 => (4, 0x80, 0x8F),
            _ => return Err(DecodeError::Utf8),
        };
        self.i += 1;
        for k in 1..len {
            let c = self.byte()?;
            let (lo, hi) = if k == 1 { (lo, hi) } else { (0x80, 0xBF) };
            if !(lo..=hi).contains(&c) {
                return Err(DecodeError::Utf8);
            }
            self.i += 1;
        }
        Ok(())
    }

    /// The digits at the cursor (none is a syntax error); returns how many.
    fn digits(&mut self) -> Result<usize, DecodeError> {
        let start = self.i;
        if !self.byte()?.is_ascii_digit() {
            return Err(syntax("expected a digit"));
        }
        while self.bytes.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        Ok(self.i - start)
    }

    /// A number at the cursor; with `check_range`, one beyond the range of a
    /// 64-bit float is refused, as a full decode would refuse it.
    fn number(&mut self, check_range: bool) -> Result<Kind, DecodeError> {
        let start = self.i;
        let negative = self.byte()? == b'-';
        if negative {
            self.i += 1;
        }
        let int_digits = if self.byte()? == b'0' {
            self.i += 1;
            1
        } else {
            self.digits()?
        };
        let mut float = false;
        if self.bytes.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.digits()?;
            float = true;
        }
        let mut exp: i64 = 0;
        if matches!(self.bytes.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            float = true;
            let sign = self.byte()?;
            if matches!(sign, b'-' | b'+') {
                self.i += 1;
            }
            let from = self.i;
            self.digits()?;
            for &d in self.bytes.get(from..self.i).unwrap_or_default() {
                exp = exp.saturating_mul(10).saturating_add(i64::from(d - b'0'));
            }
            if sign == b'-' {
                exp = -exp;
            }
        }
        // The value is below 10^(int_digits + exp); f64 reaches 1.797e308.
        // Only a number that may be larger is parsed, by the parser the full
        // decode uses.
        let magnitude = i64::try_from(int_digits)
            .unwrap_or(i64::MAX)
            .saturating_add(exp);
        if check_range && magnitude > 308 {
            let text = self.bytes.get(start..self.i).unwrap_or_default();
            serde_json::from_slice::<f64>(text).map_err(|_| {
                DecodeError::Unsupported("number beyond the range of a 64-bit float")
            })?;
        }
        Ok(match (float, negative) {
            (true, _) => Kind::Float,
            (false, true) => Kind::NegInt,
            (false, false) => Kind::UInt,
        })
    }
}

/// The split as serde_json does it, kept as the oracle that the one-pass
/// [`JsonCodec::split`] is tested against (tests/json_split.rs, the
/// `split_json` fuzz target); not used on the routing path, where it costs a
/// second pass over every list and dict.
///
/// serde_json's borrowed `RawValue` checks the grammar and UTF-8 and records
/// each element, with no depth limit; each list and dict is then decoded
/// whole ([`read_value_serde`]), which refuses deep nesting, lone surrogates
/// and out-of-range numbers, and each string is decoded (lone surrogates).
pub fn split_reference(frame: &[u8], out: &mut Elements) -> Result<(), DecodeError> {
    match first_byte(frame) {
        None => return Err(DecodeError::Truncated),
        Some(b'[') => {}
        Some(_) => {
            let trimmed = frame.trim_ascii_start();
            return Err(DecodeError::NotAnArray(kind_of(trimmed).name()));
        }
    }
    let mut overflow = false;
    let mut de = serde_json::Deserializer::from_slice(frame);
    let visitor = SplitVisitor {
        base: frame.as_ptr() as usize,
        out: &mut *out,
        overflow: &mut overflow,
    };
    let res = de.deserialize_seq(visitor);
    if overflow {
        return Err(DecodeError::WrongLength {
            message: "message",
            min: 1,
            max: super::MAX_ELEMENTS,
            found: super::MAX_ELEMENTS + 1,
        });
    }
    res.map_err(|e| {
        if e.is_eof() {
            DecodeError::Truncated
        } else {
            syntax(e)
        }
    })?;
    de.end().map_err(|_| DecodeError::TrailingBytes)?;
    for e in out.as_slice() {
        let text = frame.get(e.start..e.end).unwrap_or_default();
        match e.kind {
            Kind::List | Kind::Dict => {
                read_value_serde(text)?;
            }
            // `RawValue` lets a lone surrogate pass; decoding the string does not.
            Kind::Str => {
                serde_json::from_slice::<String>(text).map_err(syntax)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn write_uint(u: u64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(u).as_bytes());
}

impl Codec for JsonCodec {
    const SERIALIZER: Serializer = Serializer::Json;
    const FORMAT: &'static str = "JSON";

    /// One pass of the scanner: the frame's grammar, UTF-8, escapes, the
    /// depth of each element and the range of the numbers inside them are
    /// all checked here, so [`Codec::check_payload`] has nothing left to do.
    fn split(frame: &[u8], out: &mut Elements) -> Result<(), DecodeError> {
        let mut s = Scanner::new(frame);
        match s.peek() {
            Err(_) => return Err(DecodeError::Truncated),
            Ok(b'[') => s.i += 1,
            Ok(_) => {
                let trimmed = frame.trim_ascii_start();
                return Err(DecodeError::NotAnArray(kind_of(trimmed).name()));
            }
        }
        if s.peek()? == b']' {
            s.i += 1;
        } else {
            loop {
                // A number at the top (a code or an id) is read by
                // `read_uint`, which refuses what is out of its range.
                let (kind, start) = s.value(false)?;
                out.push(Element {
                    kind,
                    start,
                    end: s.i,
                })?;
                match s.peek()? {
                    b',' => s.i += 1,
                    b']' => {
                        s.i += 1;
                        break;
                    }
                    _ => return Err(syntax("expected `,` or `]`")),
                }
            }
        }
        if s.at_end() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    fn read_uint(bytes: &[u8]) -> Result<u64, DecodeError> {
        let mut acc: u64 = 0;
        if bytes.is_empty() {
            return Err(syntax("empty number"));
        }
        for &b in bytes {
            if !b.is_ascii_digit() {
                return Err(syntax("not an unsigned integer"));
            }
            acc = acc
                .checked_mul(10)
                .and_then(|a| a.checked_add(u64::from(b - b'0')))
                .ok_or_else(|| syntax("integer out of range"))?;
        }
        Ok(acc)
    }

    fn read_str(bytes: &[u8]) -> Result<String, DecodeError> {
        // Most strings (URIs) hold no escape: their text is the string.
        if let Some(inner) = bytes
            .strip_prefix(b"\"")
            .and_then(|b| b.strip_suffix(b"\""))
        {
            if !inner.iter().any(|&b| b == b'\\' || b == b'"' || b < 0x20) {
                return std::str::from_utf8(inner)
                    .map(str::to_owned)
                    .map_err(|_| DecodeError::Utf8);
            }
        }
        serde_json::from_slice::<String>(bytes).map_err(syntax)
    }

    /// Nothing to do: [`JsonCodec::split`] has checked every element
    /// ([`check_payload`] is the same check for one value on its own).
    fn check_payload(_bytes: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }

    fn read_value(bytes: &[u8]) -> Result<Value, DecodeError> {
        // The empty dict, the most common options and details.
        if bytes == b"{}" {
            return Ok(Value::Dict(Dict::new()));
        }
        if bytes.len() >= SIMD_THRESHOLD {
            read_value_simd(bytes)
        } else {
            read_value_serde(bytes)
        }
    }

    fn write_value(value: &Value, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail and every Value serializes.
        let _ = serde_json::to_writer(&mut *out, &JsonOut(value));
    }

    fn write_parts(parts: &[Part<'_>], out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match p {
                Part::UInt(u) => write_uint(*u, out),
                Part::Str(s) => {
                    let _ = serde_json::to_writer(&mut *out, s);
                }
                Part::Dict(d) => {
                    let _ = serde_json::to_writer(&mut *out, &DictOut(d));
                }
                Part::List(l) => {
                    let _ = serde_json::to_writer(&mut *out, &ListOut(l));
                }
                Part::Raw(r) => out.extend_from_slice(r),
            }
        }
        out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wamp::message::{Message, Payload};
    use bytes::Bytes;

    fn decode(s: &str) -> Result<Message, DecodeError> {
        Serializer::Json.decode(&Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn publish_keeps_payload_raw() {
        let m = decode(
            r#" [16, 7, {"acknowledge": true}, "com.a", [1, "x", {"y": [2]}], {"k": null}] "#,
        )
        .unwrap();
        match &m {
            Message::Publish {
                request,
                options,
                topic,
                payload: Payload::Raw(raw),
            } => {
                assert_eq!(*request, 7);
                assert_eq!(options.get("acknowledge"), Some(&Value::Bool(true)));
                assert_eq!(topic, "com.a");
                assert_eq!(&raw.args[..], br#"[1, "x", {"y": [2]}]"#);
                assert_eq!(raw.kwargs.as_deref(), Some(&br#"{"k": null}"#[..]));
            }
            other => panic!("{other:?}"),
        }
        let out = Serializer::Json.encode(&m).unwrap();
        assert_eq!(
            out,
            br#"[16,7,{"acknowledge":true},"com.a",[1, "x", {"y": [2]}],{"k": null}]"#
        );
    }

    #[test]
    fn binary_convention() {
        let v = Value::List(vec![Value::Bytes(vec![0, 1, 2, 255])]);
        let mut out = Vec::new();
        JsonCodec::write_value(&v, &mut out);
        assert_eq!(out, br#"["\u0000AAEC/w=="]"#);
        assert_eq!(JsonCodec::read_value(&out).unwrap(), v);
        assert_eq!(read_value_simd(&out).unwrap(), v);
    }

    #[test]
    fn precise_errors() {
        assert_eq!(decode("{}"), Err(DecodeError::NotAnArray("dict")));
        assert_eq!(decode("[]"), Err(DecodeError::Empty));
        assert_eq!(decode("[99]"), Err(DecodeError::UnknownMessageType(99)));
        assert_eq!(
            decode("[1, \"realm1\"]"),
            Err(DecodeError::WrongLength {
                message: "HELLO",
                min: 3,
                max: 3,
                found: 2
            })
        );
        assert_eq!(
            decode("[1, 5, {}]"),
            Err(DecodeError::WrongType {
                message: "HELLO",
                field: "Realm",
                expected: "string",
                found: "integer"
            })
        );
        assert_eq!(
            decode("[32, 9007199254740993, {}, \"a\"]"),
            Err(DecodeError::InvalidId {
                message: "SUBSCRIBE",
                field: "Request",
                value: 9007199254740993
            })
        );
        assert_eq!(decode("[1, \"a\", {}] x"), Err(DecodeError::TrailingBytes));
        assert_eq!(decode("[1, \"a\", {"), Err(DecodeError::Truncated));
        assert!(matches!(
            decode("[1,2,3,4,5,6,7,8]"),
            Err(DecodeError::WrongLength { .. })
        ));
        assert_eq!(
            decode("[16, 1, {}, \"a\", {}]"),
            Err(DecodeError::WrongType {
                message: "PUBLISH",
                field: "Arguments",
                expected: "list",
                found: "dict"
            })
        );
        assert_eq!(
            decode("[-1]").unwrap_err().to_string(),
            "message.type must be of type integer, found negative integer"
        );
    }

    /// The WebSocket writer sends JSON frames as text without checking them
    /// again: invalid UTF-8 anywhere in a frame, payload included, must be
    /// refused here.
    #[test]
    fn invalid_utf8_in_a_raw_payload_is_refused() {
        let mut frame = br#"[16, 1, {}, "a", ["ok", "x"], {"k": "y"}]"#.to_vec();
        let at = frame.iter().position(|b| *b == b'x').unwrap();
        frame[at] = 0xff;
        assert!(Serializer::Json
            .decode(&Bytes::from(frame.clone()))
            .is_err());
        let at = frame.iter().position(|b| *b == b'y').unwrap();
        frame[at] = 0xc3;
        assert!(Serializer::Json.decode(&Bytes::from(frame)).is_err());
    }

    /// What only a full decode used to refuse is refused at decode, so a
    /// payload kept raw can always be transcoded.
    #[test]
    fn payloads_are_checked_as_a_full_decode_would() {
        let publish = |args: &str| decode(&format!(r#"[16, 1, {{}}, "t", {args}]"#));
        let refused = [
            r#"["\ud800"]"#,
            r#"["\udc00"]"#,
            r#"["\ud800\u0041"]"#,
            r#"["\ud800x"]"#,
            r#"[{"\ud800": 1}]"#,
            "[1e400]",
            "[-1e400]",
            "[0.5e309]",
            "[123456789e301]",
        ];
        for args in refused {
            assert!(publish(args).is_err(), "{args} must be refused");
            assert!(JsonCodec::read_value(args.as_bytes()).is_err(), "{args}");
        }
        let big = format!("[1{}]", "0".repeat(400));
        assert!(publish(&big).is_err());
        let accepted = [
            r#"["\ud83d\ude00", "\\ud800", "\"[{", "\u0041"]"#,
            "[1e308, 123456789e300, -1.7976931348623157e308, 0e999, 1e-999, 0.000001e300, 18446744073709551616]",
            r#"[{"a]": "}", "[": ["]"]}]"#,
        ];
        for args in accepted {
            assert!(publish(args).is_ok(), "{args} must be accepted");
            assert!(JsonCodec::read_value(args.as_bytes()).is_ok(), "{args}");
        }
        // The kwargs are checked too.
        assert!(decode(r#"[16, 1, {}, "t", [], {"k": 1e999}]"#).is_err());
    }

    /// The scan is safe on any bytes, not only on what split has validated.
    #[test]
    fn check_payload_never_panics() {
        for s in [
            "\"",
            "\"\\",
            "\"\\u12",
            "\"\\ud800\\u",
            "-",
            "1e",
            "1e-",
            "[[[",
            "]]]",
            "1.2.3e5",
            ".e",
            "e",
            "\"\\\\\\",
        ] {
            let _ = check_payload(s.as_bytes());
        }
        // Random strings of the bytes the scan looks at.
        let alphabet = b"[]{}\"\\ue0123456789.-+E, dD";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut v = Vec::new();
            for _ in 0..(x % 48) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let _ = check_payload(&v);
        }
    }

    /// Long numbers are found between structural bytes as well as by their exponent.
    #[test]
    fn long_numbers_are_checked_wherever_they_are() {
        let publish = |args: &str| decode(&format!(r#"[16, 1, {{}}, "t", {args}]"#));
        let nines = |n: usize| "9".repeat(n);
        assert!(publish(&format!("[{}]", nines(308))).is_ok());
        assert!(publish(&format!("[{}]", nines(309))).is_err());
        assert!(publish(&format!("[true, -{}, 1]", nines(309))).is_err());
        assert!(publish(&format!("[\"x\",{}{}]", " ".repeat(400), nines(5))).is_ok());
        assert!(publish(&format!("[1{}e10]", "0".repeat(300))).is_err());
        assert!(publish(&format!("[1{}e-10]", "0".repeat(300))).is_ok());
        assert!(publish(&format!("[{{\"k\": 0.{}e309}}]", nines(400))).is_err());
    }

    /// The shortcuts for escape-free strings and the empty dict read what
    /// serde_json reads.
    #[test]
    fn shortcuts_agree_with_serde_json() {
        for s in [
            r#""""#,
            r#""com.example.add""#,
            "\"Z\u{fc}rich\"",
            r#""a\"b""#,
            r#""\u00e9\n""#,
            r#""\\""#,
            "\"\u{1}\"",
            r#""a"b""#,
            r#"""#,
            "x",
        ] {
            assert_eq!(
                JsonCodec::read_str(s.as_bytes()).ok(),
                serde_json::from_slice::<String>(s.as_bytes()).ok(),
                "{s}"
            );
        }
        assert_eq!(JsonCodec::read_str(b"\"\xff\""), Err(DecodeError::Utf8));
        assert_eq!(JsonCodec::read_value(b"{}"), read_value_serde(b"{}"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(decode(&deep).is_err());
        let v = format!("{}{}", "[".repeat(70), "]".repeat(70));
        assert_eq!(
            JsonCodec::read_value(v.as_bytes()),
            Err(DecodeError::TooDeep)
        );
        assert_eq!(read_value_simd(v.as_bytes()), Err(DecodeError::TooDeep));
    }

    /// serde_json's split skips elements without a depth limit: the payload
    /// scan holds the limit, brackets inside strings not counted.
    #[test]
    fn payload_nesting_is_capped_at_max_depth() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let publish = |args: &str| decode(&format!(r#"[16, 1, {{}}, "t", {args}]"#));
        assert!(publish(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(publish(&nested(MAX_DEPTH + 1)), Err(DecodeError::TooDeep));
        assert_eq!(publish(&nested(100_000)), Err(DecodeError::TooDeep));
        let kw = |n: usize| format!("{}1{}", r#"{"k":"#.repeat(n), "}".repeat(n));
        assert!(decode(&format!(r#"[16, 1, {{}}, "t", [], {}]"#, kw(MAX_DEPTH))).is_ok());
        assert_eq!(
            decode(&format!(r#"[16, 1, {{}}, "t", [], {}]"#, kw(MAX_DEPTH + 1))),
            Err(DecodeError::TooDeep)
        );
        let strings = format!(r#"["[[[[\"{{", {}]"#, nested(MAX_DEPTH - 1));
        assert!(publish(&strings).is_ok());
    }
}
