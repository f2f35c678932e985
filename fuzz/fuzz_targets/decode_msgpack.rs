//! Fuzz target: the msgpack decoder (`cargo fuzz run decode_msgpack fuzz/seeds/msgpack`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shardwamp_fuzz::run(shardwamp::codec::Serializer::MsgPack, data));
