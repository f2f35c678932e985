//! A bounded, seeded fuzz run of every decoder on random and mutated input,
//! so the test command meets bad input every time (the open-ended runs are the
//! cargo-fuzz targets under fuzz/). A counting allocator checks that no decode
//! makes an allocation larger than its input warrants, and that routing-path
//! decodes build no value tree of the payload.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shardwamp::codec::{EncodeError, Serializer};
use shardwamp::dict;
use shardwamp::wamp::message::{Message, MessageType, Payload};
use shardwamp::wamp::value::{Dict, Value};

struct Counting;

thread_local! {
    static TRACK: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = TRACK.try_with(|t| {
        if t.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns (largest single allocation, number of allocations) it made.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    LARGEST.with(|l| l.set(0));
    COUNT.with(|c| c.set(0));
    TRACK.with(|t| t.set(true));
    let out = f();
    TRACK.with(|t| t.set(false));
    (out, LARGEST.with(|l| l.get()), COUNT.with(|c| c.get()))
}

/// What a decode of `len` input bytes may allocate at once: a value tree node
/// per input byte at most, plus a constant.
fn allowance(len: usize) -> usize {
    1024 + len * 64
}

fn samples() -> Vec<Message> {
    let details = dict! { "acknowledge" => true, "exclude" => Value::List(vec![Value::UInt(7)]) };
    let payload = Payload::Values {
        args: vec![
            Value::from("hello"),
            Value::UInt(42),
            Value::Float(1.5),
            Value::Bytes(vec![0, 1, 2]),
        ],
        kwargs: Some(dict! { "k" => Value::List(vec![Value::Null, Value::Bool(false)]) }),
    };
    vec![
        Message::Hello {
            realm: "realm1".into(),
            details: dict! { "roles" => Value::Dict(dict! { "caller" => Value::Dict(Dict::new()) }) },
        },
        Message::Welcome {
            session: 123,
            details: details.clone(),
        },
        Message::Abort {
            details: Dict::new(),
            reason: "wamp.error.no_such_realm".into(),
        },
        Message::Publish {
            request: 1,
            options: details.clone(),
            topic: "com.example.topic".into(),
            payload: payload.clone(),
        },
        Message::Event {
            subscription: 5,
            publication: 6,
            details: details.clone(),
            payload: payload.clone(),
        },
        Message::Call {
            request: 2,
            options: Dict::new(),
            procedure: "com.example.add".into(),
            payload: payload.clone(),
        },
        Message::Error {
            request_type: MessageType::Call,
            request: 2,
            details: Dict::new(),
            error: "wamp.error.invalid_argument".into(),
            payload,
        },
        Message::Subscribe {
            request: 3,
            options: dict! { "match" => "prefix" },
            topic: "com.".into(),
        },
        Message::Unregistered {
            request: 0,
            details: Some(dict! { "reason" => "x" }),
        },
    ]
}

fn mutate(rng: &mut SmallRng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            1 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            2 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v.truncate(i);
            }
            3 => {
                let i = rng.random_range(0..=v.len());
                let b = [
                    0x00, 0xff, 0x7f, 0x80, 0xdd, 0xdf, 0x9b, 0xbf, b'[', b'{', b'"', b'\\',
                ][rng.random_range(0..12)];
                v.insert(i, b);
            }
            4 if !v.is_empty() => {
                // duplicate a slice
                let a = rng.random_range(0..v.len());
                let b = rng.random_range(a..v.len());
                let chunk = v[a..=b].to_vec();
                let at = rng.random_range(0..=v.len());
                v.splice(at..at, chunk);
            }
            _ if v.len() > 1 => {
                let i = rng.random_range(0..v.len() - 1);
                v.swap(i, i + 1);
            }
            _ => {}
        }
    }
    v
}

fn check(s: Serializer, input: &[u8]) {
    let frame = Bytes::copy_from_slice(input);
    let (res, largest, _) = measure(|| s.decode(&frame).and_then(|m| m.with_values()));
    assert!(
        largest <= allowance(input.len()),
        "{s}: allocation of {largest} B for {} B of input: {input:02x?}",
        input.len()
    );
    if let Ok(m) = res {
        // Whatever decodes must encode again in every codec.
        for t in Serializer::ALL {
            let out = t
                .encode(&m)
                .unwrap_or_else(|e| panic!("{s}->{t}: {e} for {input:02x?}"));
            if t == Serializer::Json {
                // JSON frames go out as WebSocket text without another check.
                assert!(
                    std::str::from_utf8(&out).is_ok(),
                    "{s}->json gave invalid UTF-8 for {input:02x?}"
                );
            }
        }
    }
    // What decodes with its payload raw can be transcoded as it is into every
    // serializer (the decode checked the payload as a full decode would), but
    // for a NaN or infinite float into JSON, which `check_transcodable` finds
    // up front without building values.
    if let Ok(m) = s.decode(&frame) {
        assert!(
            m.clone().with_values().is_ok(),
            "{s}: decodes, but its payload does not: {input:02x?}"
        );
        for t in Serializer::ALL {
            let encoded = t.encode(&m).map(|_| ());
            let checked = m
                .payload()
                .map_or(Ok(()), |p| shardwamp::codec::check_transcodable(p, t));
            assert_eq!(encoded, checked, "{s}->{t} for {input:02x?}");
            if let Err(e) = encoded {
                assert!(
                    matches!(e, EncodeError::Unrepresentable { .. }) && t == Serializer::Json,
                    "{s}->{t}: {e} for {input:02x?}"
                );
            }
        }
    }
    let (_, largest, _) = measure(|| s.decode_value(input));
    assert!(
        largest <= allowance(input.len()),
        "{s}: value allocation of {largest} B for {} B",
        input.len()
    );
}

#[test]
fn random_and_mutated_input_never_panics() {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0001);
    let iterations: usize = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    eprintln!("codec fuzz: seed {seed}, {iterations} iterations per codec (FUZZ_SEED / FUZZ_ITERATIONS to change)");
    let mut rng = SmallRng::seed_from_u64(seed);
    for s in Serializer::ALL {
        let corpus: Vec<Vec<u8>> = samples().iter().map(|m| s.encode(m).unwrap()).collect();
        for i in 0..iterations {
            let input = if i % 4 == 0 {
                let len = rng.random_range(0..64);
                (0..len).map(|_| rng.random()).collect()
            } else {
                let base = &corpus[rng.random_range(0..corpus.len())];
                mutate(&mut rng, base)
            };
            check(s, &input);
        }
    }
}

#[test]
fn hostile_length_prefixes_allocate_nothing_big() {
    let cases: &[(Serializer, &[u8])] = &[
        (Serializer::MsgPack, &[0xdd, 0xff, 0xff, 0xff, 0xff]),
        (
            Serializer::MsgPack,
            &[0x93, 0x10, 0xdb, 0xff, 0xff, 0xff, 0xff],
        ),
        (Serializer::MsgPack, &[0x91, 0xdf, 0xff, 0xff, 0xff, 0xff]),
        (
            Serializer::MsgPack,
            &[0x94, 0x10, 0x01, 0x80, 0xc6, 0x7f, 0xff, 0xff, 0xff],
        ),
        (
            Serializer::Cbor,
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            Serializer::Cbor,
            &[
                0x82, 0x10, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ),
        (
            Serializer::Cbor,
            &[0x81, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];
    for (s, input) in cases {
        check(*s, input);
        assert!(
            s.decode(&Bytes::copy_from_slice(input)).is_err(),
            "{s} {input:02x?}"
        );
    }
    // Syntactically valid, but out of range once decoded: routed as is, refused on transcode.
    check(Serializer::Json, b"[16, 1, {}, \"a\", [1e999999999]]");
}

/// The routing path decodes the envelope only: a 10 000-element payload costs
/// no more allocations than a 10-element one.
#[test]
fn pass_through_builds_no_value_tree() {
    let args: Vec<Value> = (0..10_000u64)
        .map(|i| Value::List(vec![Value::UInt(i), Value::from("x")]))
        .collect();
    let big = Message::Publish {
        request: 1,
        options: dict! { "acknowledge" => true },
        topic: "t".into(),
        payload: Payload::args(args),
    };
    let args_small: Vec<Value> = (0..10u64)
        .map(|i| Value::List(vec![Value::UInt(i), Value::from("x")]))
        .collect();
    let small = Message::Publish {
        request: 1,
        options: dict! { "acknowledge" => true },
        topic: "t".into(),
        payload: Payload::args(args_small),
    };
    for s in Serializer::ALL {
        let big_frame = Bytes::from(s.encode(&big).unwrap());
        let small_frame = Bytes::from(s.encode(&small).unwrap());
        let (m, _, big_allocs) = measure(|| s.decode(&big_frame).unwrap());
        let (_, _, small_allocs) = measure(|| s.decode(&small_frame).unwrap());
        assert_eq!(
            big_allocs, small_allocs,
            "{s}: payload size changed the allocation count"
        );
        assert!(
            big_allocs <= 8,
            "{s}: {big_allocs} allocations to decode an envelope"
        );
        // and splicing it back out is one buffer
        let (_, _, enc_allocs) = measure(|| s.encode(&m).unwrap());
        assert!(
            enc_allocs <= 2,
            "{s}: {enc_allocs} allocations to encode a pass-through message"
        );
    }
}

/// The cargo-fuzz seed corpus (fuzz/seeds/) holds frames that decode.
/// `REGENERATE_SEEDS=1 cargo test --test codec_fuzz fuzz_seeds` rewrites it.
#[test]
fn fuzz_seeds_decode() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for s in Serializer::ALL {
        let dir = root.join(s.name());
        if std::env::var_os("REGENERATE_SEEDS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            for (i, m) in samples().iter().enumerate() {
                std::fs::write(
                    dir.join(format!("{i:02}-{}", m.message_type().name().to_lowercase())),
                    s.encode(m).unwrap(),
                )
                .unwrap();
            }
        }
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            s.decode(&Bytes::from(bytes)).unwrap();
            n += 1;
        }
        assert!(n >= 5, "{}: only {n} seeds", dir.display());
    }
}
