//! Fuzz target: the one-pass JSON splitter against serde_json
//! (`cargo fuzz run split_json fuzz/seeds/json`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shardwamp_fuzz::json_split(data));
