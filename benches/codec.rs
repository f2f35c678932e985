//! Codec micro-benchmarks: decode (pass-through and full), encode (spliced
//! raw payload and from values) and transcode, for PUBLISH, EVENT, CALL and
//! YIELD with payloads of 64 B, 1 KiB, 16 KiB and 256 KiB in JSON,
//! MessagePack and CBOR;
//! plus a sweep of whole-value JSON decodes (serde_json vs simd-json) that
//! `json::SIMD_THRESHOLD` is chosen from.
//!
//! Run with `cargo bench --bench codec [filter]`; `filter` is a substring of the
//! case names. Each case is calibrated to run about 0.3 s (`CODEC_BENCH_MS`
//! sets another time, for a quick check of a script) and reports the best
//! of 5 samples (the least disturbed by other work on the machine).
//! MB/s is 10^6 bytes of the frame (or value) read — for encodes, written —
//! per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardwamp::codec::json::{read_value_serde, read_value_simd};
use shardwamp::codec::{DecodeError, Serializer};
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::value::{Dict, Value};

/// Time spent per case unless `CODEC_BENCH_MS` says otherwise, split into
/// this many samples.
const TARGET: Duration = Duration::from_millis(300);
const SAMPLES: u32 = 5;

/// Payload sizes (encoded JSON length of `Arguments` + `ArgumentsKw`).
const SIZES: [(usize, &str); 4] = [
    (64, "64B"),
    (1024, "1KiB"),
    (16 * 1024, "16KiB"),
    (256 * 1024, "256KiB"),
];

/// Extra sizes for the whole-value JSON decoder sweep.
const SWEEP: [(usize, &str); 9] = [
    (64, "64B"),
    (256, "256B"),
    (1024, "1KiB"),
    (4 * 1024, "4KiB"),
    (16 * 1024, "16KiB"),
    (64 * 1024, "64KiB"),
    (256 * 1024, "256KiB"),
    (1024 * 1024, "1MiB"),
    (4 * 1024 * 1024, "4MiB"),
];

const WORDS: [&str; 16] = [
    "temperature",
    "sensor",
    "ok",
    "kitchen",
    "Zürich",
    "alpha",
    "rack-42",
    "warning: threshold exceeded",
    "β",
    "user@example.com",
    "2024-05-17T12:34:56Z",
    "on",
    "北京",
    "lorem ipsum dolor sit amet",
    "x",
    "device/7/status",
];

fn json_len(v: &Value) -> usize {
    let mut out = Vec::new();
    Serializer::Json.encode_value(v, &mut out);
    out.len()
}

fn word(i: usize) -> &'static str {
    WORDS[(i * 7 + i / 16) % WORDS.len()]
}

/// The `i`th argument: a string, an int, a float or a small nested dict.
fn item(i: usize) -> Value {
    match i % 5 {
        0 => Value::from(word(i)),
        1 => Value::from((i as u64).wrapping_mul(2_654_435_761) % 1_000_000),
        2 => Value::from((i as f64) * 0.731 - 17.25),
        3 => {
            let mut d = Dict::new();
            d.insert("id".into(), Value::from(i as u64));
            d.insert("name".into(), Value::from(word(i + 3)));
            d.insert("active".into(), Value::from(i % 3 == 0));
            d.insert("score".into(), Value::from((i as f64) / 8.0));
            if i % 2 == 1 {
                d.insert("delta".into(), Value::from(-(i as i64)));
            }
            Value::Dict(d)
        }
        _ => Value::from(-(i as i64) * 31),
    }
}

/// Deterministic `Arguments` and `ArgumentsKw` whose JSON encodings add up to `size` bytes.
fn payload(size: usize) -> (Vec<Value>, Dict) {
    let mut kwargs = Dict::new();
    kwargs.insert("seq".into(), Value::from(7u64));
    let n_kw = (size / 512).min(32);
    for k in 0..n_kw {
        let v = match k % 3 {
            0 => Value::from(word(k + 5)),
            1 => Value::from((k as f64) * 1.5),
            _ => Value::List((0..4).map(|j| Value::from((k * 4 + j) as u64)).collect()),
        };
        kwargs.insert(format!("key_{k}"), v);
    }
    let kw_len = json_len(&Value::Dict(kwargs.clone()));
    (make_args(size.saturating_sub(kw_len)), kwargs)
}

/// A deterministic `Arguments` list whose JSON encoding is `budget` bytes long.
fn make_args(budget: usize) -> Vec<Value> {
    fill_list(budget, item)
}

/// The `i`th string of a text-heavy list: about 1 KiB of words.
fn text_item(i: usize) -> Value {
    let mut s = String::with_capacity(1100);
    let mut j = i;
    while s.len() < 1000 {
        s.push_str(word(j));
        s.push(' ');
        j += 1;
    }
    Value::Str(s)
}

/// A list of `item(0), item(1), ...` and a final filler string, `budget` bytes of JSON.
fn fill_list(budget: usize, item: fn(usize) -> Value) -> Vec<Value> {
    // "[]", then each item and its separating comma.
    let mut args = Vec::new();
    let mut len = 2;
    let mut i = 0;
    loop {
        let v = item(i);
        let l = json_len(&v) + usize::from(!args.is_empty());
        // Keep room for a filler string of at least `""` plus a comma.
        if len + l + 3 > budget {
            break;
        }
        len += l;
        args.push(v);
        i += 1;
    }
    // Pad exactly with a final ASCII string.
    let comma = usize::from(!args.is_empty());
    let fill = budget.saturating_sub(len + comma + 2);
    args.push(Value::Str(
        "abcdefghijklmnopqrstuvwxyz".repeat(fill / 26 + 1)[..fill].into(),
    ));
    args
}

fn publish(args: Vec<Value>, kwargs: Dict) -> Message {
    let mut options = Dict::new();
    options.insert("acknowledge".into(), Value::from(true));
    options.insert("exclude_me".into(), Value::from(false));
    Message::Publish {
        request: 239_714_735,
        options,
        topic: "com.example.sensors.reading".into(),
        payload: Payload::Values {
            args,
            kwargs: Some(kwargs),
        },
    }
}

fn event(args: Vec<Value>, kwargs: Dict) -> Message {
    let mut details = Dict::new();
    details.insert("publisher".into(), Value::from(3_335_656_392_306_176u64));
    details.insert("topic".into(), Value::from("com.example.sensors.reading"));
    Message::Event {
        subscription: 5_512_315_355,
        publication: 4_429_313_566,
        details,
        payload: Payload::Values {
            args,
            kwargs: Some(kwargs),
        },
    }
}

fn call(args: Vec<Value>, kwargs: Dict) -> Message {
    Message::Call {
        request: 239_714_735,
        options: Dict::new(),
        procedure: "com.example.sensors.read".into(),
        payload: Payload::Values {
            args,
            kwargs: Some(kwargs),
        },
    }
}

fn yield_(args: Vec<Value>, kwargs: Dict) -> Message {
    Message::Yield {
        request: 239_714_735,
        options: Dict::new(),
        payload: Payload::Values {
            args,
            kwargs: Some(kwargs),
        },
    }
}

/// Parsed command line: an optional case-name filter; `--flags` are ignored.
struct Bench {
    filter: Option<String>,
    results: Vec<(String, f64)>,
}

impl Bench {
    fn new() -> Bench {
        let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
        Bench {
            filter,
            results: Vec::new(),
        }
    }

    /// Runs `f` (which handles `bytes` bytes) if `name` passes the filter, and prints a line.
    fn case<R>(&mut self, name: &str, bytes: usize, mut f: impl FnMut() -> R) {
        if let Some(filter) = &self.filter {
            if !name.contains(filter.as_str()) {
                return;
            }
        }
        // Warm up, then find how many iterations fill a sample.
        black_box(f());
        let target = std::env::var("CODEC_BENCH_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(TARGET, Duration::from_millis);
        let per_sample = target / SAMPLES;
        let mut iters: u64 = 1;
        loop {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            let el = t.elapsed();
            if el >= per_sample / 4 {
                let scale = per_sample.as_secs_f64() / el.as_secs_f64();
                iters = ((iters as f64 * scale) as u64).max(1);
                break;
            }
            iters *= 2;
        }
        let mut best = f64::INFINITY;
        for _ in 0..SAMPLES {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            let ns = t.elapsed().as_nanos() as f64 / iters as f64;
            best = best.min(ns);
        }
        let mbs = bytes as f64 / best * 1e3;
        println!("{name:<44} {best:>14.1} {mbs:>10.1}");
        self.results.push((name.to_owned(), best));
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.results.iter().find(|(n, _)| n == name).map(|r| r.1)
    }
}

fn raw_slices(m: &Message) -> (Bytes, Option<Bytes>) {
    match m.payload() {
        Some(Payload::Raw(r)) => (r.args.clone(), r.kwargs.clone()),
        other => panic!("expected a raw payload, got {other:?}"),
    }
}

fn main() {
    let mut b = Bench::new();
    println!("{:<44} {:>14} {:>10}", "case", "ns/op", "MB/s");

    for (kind, build) in [
        ("publish", publish as fn(Vec<Value>, Dict) -> Message),
        ("event", event as fn(Vec<Value>, Dict) -> Message),
        ("call", call as fn(Vec<Value>, Dict) -> Message),
        ("yield", yield_ as fn(Vec<Value>, Dict) -> Message),
    ] {
        for (size, label) in SIZES {
            let (args, kwargs) = payload(size);
            let msg = build(args, kwargs);
            let p = format!("{kind}/{label}");

            let frames: Vec<(Serializer, Bytes)> = Serializer::ALL
                .into_iter()
                .map(|s| (s, Bytes::from(s.encode(&msg).expect("encode"))))
                .collect();
            let decoded: Vec<Message> = frames
                .iter()
                .map(|(s, f)| s.decode(f).expect("decode"))
                .collect();
            // Sanity: the payload is what was asked for and round-trips.
            let (a, k) = raw_slices(&decoded[0]);
            assert_eq!(a.len() + k.as_ref().map_or(0, |k| k.len()), size);
            for d in &decoded {
                assert_eq!(d, &msg);
            }

            for (s, f) in &frames {
                b.case(&format!("{p}/decode/{s}"), f.len(), || {
                    s.decode(f).expect("decode")
                });
            }

            let json = &frames[0].1;
            b.case(&format!("{p}/full/json-serde"), json.len(), || {
                let m = Serializer::Json.decode(json).expect("decode");
                let (a, k) = raw_slices(&m);
                let a = read_value_serde(&a).expect("args");
                let k = k.map(|k| read_value_serde(&k).expect("kwargs"));
                (m, a, k)
            });
            b.case(&format!("{p}/full/json-simd"), json.len(), || {
                let m = Serializer::Json.decode(json).expect("decode");
                let (a, k) = raw_slices(&m);
                let a = read_value_simd(&a).expect("args");
                let k = k.map(|k| read_value_simd(&k).expect("kwargs"));
                (m, a, k)
            });
            for (s, f) in &frames[1..] {
                b.case(&format!("{p}/full/{s}"), f.len(), || {
                    s.decode(f).expect("decode").with_values().expect("values")
                });
            }

            let mut out = Vec::with_capacity(json.len() * 2);
            for ((s, f), m) in frames.iter().zip(&decoded) {
                b.case(&format!("{p}/encode-raw/{s}"), f.len(), || {
                    out.clear();
                    s.encode_into(m, &mut out).expect("encode");
                    out.len()
                });
            }
            for (s, f) in &frames {
                b.case(&format!("{p}/encode-values/{s}"), f.len(), || {
                    out.clear();
                    s.encode_into(&msg, &mut out).expect("encode");
                    out.len()
                });
            }

            for (from, to) in [
                (Serializer::Json, Serializer::MsgPack),
                (Serializer::MsgPack, Serializer::Json),
                (Serializer::Json, Serializer::Cbor),
            ] {
                let f = &frames.iter().find(|(s, _)| *s == from).expect("frame").1;
                b.case(&format!("{p}/transcode/{from}->{to}"), f.len(), || {
                    out.clear();
                    let m = from.decode(f).expect("decode");
                    to.encode_into(&m, &mut out).expect("encode");
                    out.len()
                });
            }
        }
    }

    // Whole-value JSON decode, serde_json vs simd-json, by value size: what
    // `JsonCodec::read_value` (and so `SIMD_THRESHOLD`) chooses between.
    // "mixed" is the realistic argument list used above, "text" a list of
    // 1 KiB strings (simd-json's best case).
    for (shape, gen) in [("mixed", item as fn(usize) -> Value), ("text", text_item)] {
        for (size, label) in SWEEP {
            let mut text = Vec::new();
            Serializer::Json.encode_value(&Value::List(fill_list(size, gen)), &mut text);
            assert_eq!(text.len(), size);
            for (name, dec) in [
                (
                    "serde",
                    read_value_serde as fn(&[u8]) -> Result<Value, DecodeError>,
                ),
                (
                    "simd",
                    read_value_simd as fn(&[u8]) -> Result<Value, DecodeError>,
                ),
            ] {
                b.case(
                    &format!("value/{shape}/{label}/json-{name}"),
                    text.len(),
                    || dec(&text).expect("value"),
                );
            }
        }
    }

    let pass = b.get("publish/1KiB/decode/json");
    let full = b.get("publish/1KiB/full/json-serde");
    if let (Some(pass), Some(full)) = (pass, full) {
        println!(
            "publish/1KiB json: pass-through / full decode (serde_json) = {:.3} ({:.1}x faster)",
            pass / full,
            full / pass
        );
    }
}
