//! Fuzz target: the cbor decoder (`cargo fuzz run decode_cbor fuzz/seeds/cbor`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shardwamp_fuzz::run(shardwamp::codec::Serializer::Cbor, data));
