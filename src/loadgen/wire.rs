//! The subscriber's fast path: the four integers of the generator's own
//! EVENT `Arguments` (`[publisher, seq, sent_ns, measured]`), read straight
//! from the frame by a minimal scanner per serializer, without building the
//! message or checking the rest of the frame. At a million events a second
//! the full decode is most of a subscriber's cost, and a subscriber must cost
//! less than the router's delivery for one generator core to keep up with one
//! router core.
//!
//! Anything the scanner does not expect (another message, indefinite CBOR
//! lengths, a float where an integer should be) gives `None`, and the caller
//! decodes the frame in full; subscribers also decode a sample of frames in
//! full and compare, so a router sending malformed EVENTs is still caught.

use crate::codec::Serializer;

/// EVENT's message code.
const EVENT: u64 = 36;
/// Deepest nesting skipped.
const MAX_DEPTH: usize = 32;

/// The four integers, or `None` when the frame is not an EVENT carrying them.
pub(crate) fn event_args(serializer: Serializer, frame: &[u8]) -> Option<[u64; 4]> {
    let mut r = Cursor { b: frame, p: 0 };
    match serializer {
        Serializer::MsgPack => msgpack::event(&mut r),
        Serializer::Cbor => cbor::event(&mut r),
        Serializer::Json => json::event(&mut r),
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    p: usize,
}

impl Cursor<'_> {
    #[inline]
    fn byte(&mut self) -> Option<u8> {
        let c = *self.b.get(self.p)?;
        self.p += 1;
        Some(c)
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.p).copied()
    }

    #[inline]
    fn skip(&mut self, n: u64) -> Option<()> {
        let n = usize::try_from(n).ok()?;
        if n > self.b.len() - self.p {
            return None;
        }
        self.p += n;
        Some(())
    }

    /// A big-endian unsigned integer of `n` bytes.
    #[inline]
    fn be(&mut self, n: usize) -> Option<u64> {
        let s = self.b.get(self.p..self.p + n)?;
        self.p += n;
        Some(s.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
    }
}

mod msgpack {
    use super::{Cursor, EVENT, MAX_DEPTH};

    fn array(r: &mut Cursor<'_>) -> Option<u64> {
        match r.byte()? {
            m @ 0x90..=0x9f => Some(u64::from(m & 0x0f)),
            0xdc => r.be(2),
            0xdd => r.be(4),
            _ => None,
        }
    }

    fn uint(r: &mut Cursor<'_>) -> Option<u64> {
        match r.byte()? {
            m @ 0x00..=0x7f => Some(u64::from(m)),
            0xcc => r.be(1),
            0xcd => r.be(2),
            0xce => r.be(4),
            0xcf => r.be(8),
            _ => None,
        }
    }

    fn skip(r: &mut Cursor<'_>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let m = r.byte()?;
        let items = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => return Some(()),
            0x80..=0x8f => 2 * u64::from(m & 0x0f),
            0x90..=0x9f => u64::from(m & 0x0f),
            0xa0..=0xbf => return r.skip(u64::from(m & 0x1f)),
            0xc4 | 0xd9 => {
                let n = r.be(1)?;
                return r.skip(n);
            }
            0xc5 | 0xda => {
                let n = r.be(2)?;
                return r.skip(n);
            }
            0xc6 | 0xdb => {
                let n = r.be(4)?;
                return r.skip(n);
            }
            0xc7 => {
                let n = r.be(1)?;
                return r.skip(n + 1);
            }
            0xc8 => {
                let n = r.be(2)?;
                return r.skip(n + 1);
            }
            0xc9 => {
                let n = r.be(4)?;
                return r.skip(n + 1);
            }
            0xcc | 0xd0 => return r.skip(1),
            0xcd | 0xd1 => return r.skip(2),
            0xca | 0xce | 0xd2 => return r.skip(4),
            0xcb | 0xcf | 0xd3 => return r.skip(8),
            0xd4 => return r.skip(2),
            0xd5 => return r.skip(3),
            0xd6 => return r.skip(5),
            0xd7 => return r.skip(9),
            0xd8 => return r.skip(17),
            0xdc => r.be(2)?,
            0xdd => r.be(4)?,
            0xde => 2 * r.be(2)?,
            0xdf => 2 * r.be(4)?,
            _ => return None,
        };
        for _ in 0..items {
            skip(r, depth + 1)?;
        }
        Some(())
    }

    pub(super) fn event(r: &mut Cursor<'_>) -> Option<[u64; 4]> {
        if array(r)? < 5 || uint(r)? != EVENT {
            return None;
        }
        for _ in 0..3 {
            skip(r, 0)?;
        }
        if array(r)? < 4 {
            return None;
        }
        Some([uint(r)?, uint(r)?, uint(r)?, uint(r)?])
    }
}

mod cbor {
    use super::{Cursor, EVENT, MAX_DEPTH};

    /// A data item's major type and argument; indefinite lengths are refused.
    fn head(r: &mut Cursor<'_>) -> Option<(u8, u64)> {
        let ib = r.byte()?;
        let arg = match ib & 0x1f {
            ai @ 0..=23 => u64::from(ai),
            24 => r.be(1)?,
            25 => r.be(2)?,
            26 => r.be(4)?,
            27 => r.be(8)?,
            _ => return None,
        };
        Some((ib >> 5, arg))
    }

    fn skip(r: &mut Cursor<'_>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (major, arg) = head(r)?;
        let items = match major {
            0 | 1 | 7 => return Some(()),
            2 | 3 => return r.skip(arg),
            4 => arg,
            5 => arg.checked_mul(2)?,
            6 => 1,
            _ => return None,
        };
        for _ in 0..items {
            skip(r, depth + 1)?;
        }
        Some(())
    }

    fn uint(r: &mut Cursor<'_>) -> Option<u64> {
        match head(r)? {
            (0, v) => Some(v),
            _ => None,
        }
    }

    fn array(r: &mut Cursor<'_>) -> Option<u64> {
        match head(r)? {
            (4, n) => Some(n),
            _ => None,
        }
    }

    pub(super) fn event(r: &mut Cursor<'_>) -> Option<[u64; 4]> {
        if array(r)? < 5 || uint(r)? != EVENT {
            return None;
        }
        for _ in 0..3 {
            skip(r, 0)?;
        }
        if array(r)? < 4 {
            return None;
        }
        Some([uint(r)?, uint(r)?, uint(r)?, uint(r)?])
    }
}

mod json {
    use super::{Cursor, EVENT, MAX_DEPTH};

    fn ws(r: &mut Cursor<'_>) {
        while matches!(r.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            r.p += 1;
        }
    }

    fn expect(r: &mut Cursor<'_>, c: u8) -> Option<()> {
        ws(r);
        (r.byte()? == c).then_some(())
    }

    fn uint(r: &mut Cursor<'_>) -> Option<u64> {
        ws(r);
        let start = r.p;
        let mut v: u64 = 0;
        while let Some(d @ b'0'..=b'9') = r.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            r.p += 1;
        }
        // A fraction or exponent: not an integer this scanner reads.
        if r.p == start || matches!(r.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(v)
    }

    fn string(r: &mut Cursor<'_>) -> Option<()> {
        loop {
            match r.byte()? {
                b'"' => return Some(()),
                b'\\' => {
                    r.byte()?;
                }
                _ => {}
            }
        }
    }

    fn skip(r: &mut Cursor<'_>) -> Option<()> {
        ws(r);
        match r.peek()? {
            b'"' => {
                r.p += 1;
                string(r)
            }
            b'[' | b'{' => {
                let mut depth = 0usize;
                loop {
                    match r.byte()? {
                        b'"' => string(r)?,
                        b'[' | b'{' => {
                            depth += 1;
                            if depth > MAX_DEPTH {
                                return None;
                            }
                        }
                        b']' | b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                let start = r.p;
                while !matches!(
                    r.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    r.p += 1;
                }
                (r.p > start).then_some(())
            }
        }
    }

    pub(super) fn event(r: &mut Cursor<'_>) -> Option<[u64; 4]> {
        expect(r, b'[')?;
        if uint(r)? != EVENT {
            return None;
        }
        for _ in 0..3 {
            expect(r, b',')?;
            skip(r)?;
        }
        expect(r, b',')?;
        expect(r, b'[')?;
        let mut out = [0u64; 4];
        for (i, o) in out.iter_mut().enumerate() {
            if i > 0 {
                expect(r, b',')?;
            }
            *o = uint(r)?;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;
    use crate::wamp::message::{Message, Payload};
    use crate::wamp::value::Value;

    #[test]
    fn reads_what_every_codec_writes() {
        let details = dict! {
            "topic" => "a.\"b\"]}",
            "publisher" => 12345u64,
            "nested" => Value::List(vec![Value::Dict(dict! { "x" => -1i64 }), Value::Float(1.5), Value::Null, Value::Bytes(vec![1, 2, 3])]),
        };
        for ser in Serializer::ALL {
            for n in [
                0u64,
                23,
                24,
                255,
                256,
                65_535,
                65_536,
                1 << 40,
                u64::MAX >> 11,
            ] {
                let args = vec![
                    Value::UInt(n),
                    Value::UInt(n + 1),
                    Value::UInt(7),
                    Value::UInt(1),
                    Value::from("rest"),
                ];
                let ev = Message::Event {
                    subscription: 1 << 50,
                    publication: 3,
                    details: details.clone(),
                    payload: Payload::Values {
                        args,
                        kwargs: Some(dict! { "pad" => "x".repeat(300) }),
                    },
                };
                let frame = ser.encode(&ev).unwrap();
                assert_eq!(event_args(ser, &frame), Some([n, n + 1, 7, 1]), "{ser} {n}");
                // truncated frames are refused, never read past the end
                for cut in 0..frame.len().min(120) {
                    let _ = event_args(ser, &frame[..cut]);
                }
            }
            let other = ser
                .encode(&Message::Published {
                    request: 1,
                    publication: 2,
                })
                .unwrap();
            assert_eq!(event_args(ser, &other), None, "{ser}");
            let short = ser
                .encode(&Message::Event {
                    subscription: 1,
                    publication: 2,
                    details: dict! {},
                    payload: Payload::args(vec![Value::UInt(1), Value::from("x")]),
                })
                .unwrap();
            assert_eq!(event_args(ser, &short), None, "{ser}");
        }
        assert_eq!(
            event_args(
                Serializer::Json,
                b" [ 36 , 1,2 , {\"a\":[1,{}]} , [ 5,6,7,8 ] ] "
            ),
            Some([5, 6, 7, 8])
        );
        assert_eq!(
            event_args(Serializer::Json, b"[36,1,2,{},[5,6.0,7,8]]"),
            None
        );
    }
}
