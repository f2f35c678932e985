//! Property tests for the RawSocket transport (`transport::rawsocket`):
//! framing round-trips under any chunking, handshakes never panic and
//! round-trip, and arbitrary byte streams never panic the decoder or make it
//! wait for more than `HEADER_LEN + max_len` octets.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use shardwamp::codec::Serializer;
use shardwamp::transport::rawsocket::{
    client_handshake, decode_header, encode_frame, encode_header, negotiate,
    parse_client_handshake, parse_server_handshake, Frame, FrameDecoder, FrameError, FrameKind,
    HandshakeError, HEADER_LEN, MAGIC, MAX_FRAME_LEN,
};

fn kind() -> impl Strategy<Value = FrameKind> {
    prop_oneof![
        Just(FrameKind::Message),
        Just(FrameKind::Ping),
        Just(FrameKind::Pong)
    ]
}

/// A maximum and frames whose payloads all fit it.
fn frames() -> impl Strategy<Value = (usize, Vec<Frame>)> {
    (0usize..700).prop_flat_map(|max| {
        let frame = (kind(), prop::collection::vec(any::<u8>(), 0..=max))
            .prop_map(|(k, p)| Frame::new(k, Bytes::from(p)));
        (Just(max), prop::collection::vec(frame, 0..12))
    })
}

/// Chunk lengths to cut a stream into (cycled).
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 1..16)
}

/// Byte streams: pure noise, or well-formed frames (up to 700 octets, so some
/// exceed small maximums) spliced with noise.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        (kind(), prop::collection::vec(any::<u8>(), 0..700)).prop_map(|(k, p)| {
            let mut out = BytesMut::new();
            encode_frame(k, &p, MAX_FRAME_LEN, &mut out).unwrap();
            out.to_vec()
        }),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        prop::collection::vec(segment, 0..8).prop_map(|s| s.concat()),
    ]
}

/// Feeds `wire` to a decoder in chunks, checking the decoder's demand after
/// every call. Returns the frames and the error, if one ended the stream.
fn feed(max_len: usize, wire: &[u8], chunks: &[usize]) -> (Vec<Frame>, Option<FrameError>) {
    let mut dec = FrameDecoder::new(max_len);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut sizes = chunks.iter().cycle();
    loop {
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => {
                    assert!(f.payload().len() <= max_len);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => {
                    // Errors are final and leave the buffer as it was.
                    let len = buf.len();
                    assert_eq!(dec.decode(&mut buf), Err(e));
                    assert_eq!(dec.missing(&buf), Err(e));
                    assert_eq!(buf.len(), len);
                    return (frames, Some(e));
                }
            }
        }
        // Only an incomplete frame is held, and the decoder never waits for
        // more than one frame's worth of octets.
        let missing = dec.missing(&buf).map_err(|e| e.to_string());
        let missing = match missing {
            Ok(m) => m,
            Err(e) => panic!("missing() errs where decode() did not: {e}"),
        };
        assert!(missing > 0);
        assert!(buf.len() < HEADER_LEN + max_len.min(MAX_FRAME_LEN));
        assert!(buf.len() + missing <= HEADER_LEN + max_len.min(MAX_FRAME_LEN));
        if rest.is_empty() {
            return (frames, None);
        }
        let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frames_round_trip_under_any_chunking((max, frames) in frames(), chunks in chunking()) {
        let mut wire = BytesMut::new();
        for f in &frames {
            encode_frame(f.kind(), f.payload(), max, &mut wire).unwrap();
        }
        let expected_len: usize = frames.iter().map(|f| HEADER_LEN + f.payload().len()).sum();
        prop_assert_eq!(wire.len(), expected_len);
        let (got, err) = feed(max, &wire, &chunks);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn handshakes_never_panic_and_round_trip(bytes in any::<[u8; 4]>(), our_max in any::<usize>()) {
        let parsed = parse_client_handshake(bytes);
        prop_assert_eq!(
            matches!(parsed, Err(HandshakeError::BadMagic(_))),
            bytes[0] != MAGIC
        );
        match parsed {
            Ok(h) => {
                prop_assert!((9..=24).contains(&h.max_len_exp));
                prop_assert_eq!(h.to_bytes(), bytes);
                prop_assert_eq!(client_handshake(h.max_len_exp, h.serializer), bytes);
            }
            Err(e) => prop_assert_eq!(e.reply().is_none(), bytes[0] != MAGIC),
        }
        match negotiate(bytes, &Serializer::ALL, our_max) {
            Ok(n) => {
                let h = parsed.unwrap();
                prop_assert_eq!(n.serializer, h.serializer);
                prop_assert_eq!(n.peer_max_len, h.max_len());
                prop_assert!(n.our_max_len() <= our_max.max(512));
                prop_assert!(n.our_max_len() > our_max / 2 || n.our_max_len() == 1 << 24);
                let back = parse_server_handshake(n.reply, h.serializer).unwrap();
                prop_assert_eq!(back.max_len_exp, n.our_max_len_exp);
                prop_assert_eq!(back.serializer, h.serializer);
            }
            Err(r) => {
                prop_assert_eq!(Err(r.error), parsed);
                prop_assert_eq!(r.reply, r.error.reply());
                if let Some(reply) = r.reply {
                    let code = r.error.reply_code().unwrap();
                    prop_assert_eq!(
                        parse_server_handshake(reply, Serializer::Json),
                        Err(HandshakeError::Refused(code))
                    );
                }
            }
        }
        // Whatever a router answers, a client's parse never panics.
        for s in Serializer::ALL {
            let _ = parse_server_handshake(bytes, s);
        }
    }

    #[test]
    fn random_streams_never_panic_or_overreach(
        wire in stream(),
        max in prop_oneof![0usize..1024, Just(MAX_FRAME_LEN), Just(usize::MAX)],
        chunks in chunking(),
    ) {
        let (chunked, err) = feed(max, &wire, &chunks);
        // The same stream in one piece decodes the same.
        let (whole, whole_err) = feed(max, &wire, &[usize::MAX]);
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(err, whole_err);
        // The prefix is canonical: what decoded re-encodes to the same octets.
        let mut again = BytesMut::new();
        for f in &chunked {
            encode_frame(f.kind(), f.payload(), max, &mut again).unwrap();
        }
        prop_assert_eq!(&again[..], &wire[..again.len()]);
    }

    #[test]
    fn headers_round_trip(k in kind(), len in 0usize..=MAX_FRAME_LEN) {
        let h = encode_header(k, len).unwrap();
        prop_assert_eq!(decode_header(h), Ok((k, len)));
    }

    #[test]
    fn header_decoding_is_total(h in any::<[u8; 4]>()) {
        if let Ok((k, len)) = decode_header(h) {
            prop_assert!(len <= MAX_FRAME_LEN);
            prop_assert_eq!(encode_header(k, len), Ok(h));
        }
    }
}
