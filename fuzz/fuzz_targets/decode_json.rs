//! Fuzz target: the json decoder (`cargo fuzz run decode_json fuzz/seeds/json`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shardwamp_fuzz::run(shardwamp::codec::Serializer::Json, data));
