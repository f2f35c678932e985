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

/// The one-pass JSON splitter and its single-value check agree with
/// serde_json on `data`: both accept or both refuse, with the same elements,
/// and too deep for one is too deep for the other.
pub fn json_split(data: &[u8]) {
    use shardwamp::codec::json::{check_payload, read_value_serde, split_reference};
    use shardwamp::codec::{Codec, DecodeError, Elements, JsonCodec};
    let (mut ours_els, mut ref_els) = (Elements::default(), Elements::default());
    let ours = JsonCodec::split(data, &mut ours_els);
    let reference = split_reference(data, &mut ref_els);
    assert_eq!(ours.is_ok(), reference.is_ok(), "{ours:?} / {reference:?}");
    if ours.is_ok() {
        assert_eq!(ours_els.as_slice(), ref_els.as_slice());
    }
    if reference == Err(DecodeError::TooDeep) {
        assert_eq!(ours, Err(DecodeError::TooDeep));
    }
    let ours = check_payload(data);
    let full = read_value_serde(data);
    assert_eq!(ours.is_ok(), full.is_ok(), "{ours:?} / {full:?}");
}
