//! Fuzz target: the RawSocket handshake and framing
//! (`cargo fuzz run rawsocket_handshake fuzz/seeds/rawsocket`).
//!
//! The first 4 octets are a client's handshake; the rest is the stream that
//! follows, decoded with the limit the client asked for, in one piece and in
//! chunks. Nothing may panic, accepted handshakes round-trip, both decodings
//! agree, and decoded frames re-encode to the octets they came from.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use shardwamp::codec::Serializer;
use shardwamp::transport::rawsocket::{
    encode_frame, negotiate, parse_client_handshake, parse_server_handshake, Frame, FrameDecoder,
    FrameError, HEADER_LEN, MAGIC,
};

/// Decodes `wire` fed `chunk` octets at a time, until it ends or errs.
fn decode_all(max_len: usize, wire: &[u8], chunk: usize) -> (Vec<Frame>, Option<FrameError>) {
    let mut dec = FrameDecoder::new(max_len);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
        let missing = dec.missing(&buf).expect("decode() would have erred");
        assert!(buf.len() + missing <= HEADER_LEN + dec.max_len());
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((hs, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let hs = *hs;
    let parsed = parse_client_handshake(hs);
    match parsed {
        Ok(h) => assert_eq!(h.to_bytes(), hs),
        Err(e) => assert_eq!(e.reply().is_none(), hs[0] != MAGIC),
    }
    // Our limit: what the client asked for, or 512 if it asked nothing valid.
    let max_len = parsed.map_or(512, |h| h.max_len());
    match negotiate(hs, &Serializer::ALL, max_len) {
        Ok(n) => {
            let back = parse_server_handshake(n.reply, n.serializer).expect("our reply parses");
            assert_eq!(back.max_len(), n.our_max_len());
        }
        Err(r) => assert_eq!(r.reply, r.error.reply()),
    }

    let chunk = rest.first().map_or(1, |&b| usize::from(b % 32) + 1);
    let (whole, err) = decode_all(max_len, rest, rest.len());
    let (chunked, chunked_err) = decode_all(max_len, rest, chunk);
    assert_eq!(whole, chunked);
    assert_eq!(err, chunked_err);
    let mut again = BytesMut::new();
    for f in &whole {
        encode_frame(f.kind(), f.payload(), max_len, &mut again).expect("decoded frames fit");
    }
    assert_eq!(&again[..], &rest[..again.len()]);
});
