//! Shared body of the decoder fuzz targets: decode, decode the payload, and
//! whatever decoded must encode again in every codec.
use bytes::Bytes;
use shardwamp::codec::Serializer;

/// Feeds `data` to the decoder of `s` and checks the invariants.
pub fn run(s: Serializer, data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    if let Ok(m) = s.decode(&frame) {
        for t in Serializer::ALL {
            // A raw payload whose values cannot be represented may fail to
            // transcode; it must never panic.
            let _ = t.encode(&m);
        }
        if let Ok(m) = m.with_values() {
            for t in Serializer::ALL {
                let out = t.encode(&m).expect("value payloads always encode");
                let back = t.decode(&Bytes::from(out)).expect("what we encode decodes");
                assert_eq!(back.message_type(), m.message_type());
            }
        }
    }
    let _ = s.decode_value(data);
}
