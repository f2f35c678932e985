//! Property tests for the one-pass JSON splitter (`JsonCodec::split`) and
//! its check of a single value (`json::check_payload`): on any input they
//! agree with serde_json (`json::split_reference`, `json::read_value_serde`),
//! accept and reject alike, with the same elements and the same depth
//! verdict; nesting bombs, truncated frames, tricky strings (escaped quotes,
//! brackets, surrogate pairs) and raw UTF-8 are covered on purpose.

/// The fuzz targets' bodies (fuzz/src/lib.rs), run here over the seeds.
#[path = "../fuzz/src/lib.rs"]
mod fuzz_body;

use proptest::prelude::*;
use shardwamp::codec::json::{check_payload, read_value_serde, split_reference};
use shardwamp::codec::{Codec, DecodeError, Elements, JsonCodec, MAX_DEPTH};

/// Strings written by hand: escapes, brackets and quotes inside, surrogates
/// paired and lone, raw multi-byte UTF-8.
const STRINGS: &[&str] = &[
    r#""""#,
    r#""a""#,
    r#""\"""#,
    r#""\\""#,
    r#""\\\"[""#,
    r#""]}""#,
    r#""[{\"\\]}""#,
    r#""\/\b\f\n\r\t""#,
    r#""\u0041\u00e9\u0000""#,
    r#""\ud83d\ude00""#,
    r#""\uD83D\uDE00x""#,
    r#""\ud800""#,
    r#""\udc00""#,
    r#""\ud800\u0041""#,
    r#""\ud800x""#,
    r#""\x""#,
    r#""\u12g4""#,
    "\"Z\u{fc}rich \u{5317}\u{4eac} \u{1f600}\"",
    "\"tab\there\"",
    "\"a longer string of plain ascii that passes eight bytes at a time\"",
];

/// Numbers written by hand: range edges, bad grammar.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "-0.25e-3",
    "1E5",
    "1e308",
    "1e309",
    "1e400",
    "-1e400",
    "0e999",
    "0.5e309",
    "1e-999",
    "18446744073709551616",
    "123456789e300",
    "01",
    "1.",
    ".5",
    "-",
    "1e",
    "1e+",
    "+1",
];

/// Some JSON text (valid, unless a hand-written token is not), with random
/// whitespace between tokens.
fn text() -> impl Strategy<Value = String> {
    let ws = prop::sample::select(vec!["", "", "", " ", "\n", "\t ", "\r\n"]);
    let leaf = prop_oneof![
        prop::sample::select(STRINGS.to_vec()).prop_map(str::to_owned),
        prop::sample::select(NUMBERS.to_vec()).prop_map(str::to_owned),
        prop::sample::select(vec!["true", "false", "null", "tru", "nul"]).prop_map(str::to_owned),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        let ws = ws.clone();
        prop_oneof![
            (
                prop::collection::vec((inner.clone(), ws.clone()), 0..6),
                ws.clone()
            )
                .prop_map(|(items, w)| {
                    let items: Vec<String> = items
                        .into_iter()
                        .map(|(v, w)| format!("{w}{v}{w}"))
                        .collect();
                    format!("[{w}{}]", items.join(","))
                }),
            (
                prop::collection::vec(
                    (prop::sample::select(STRINGS.to_vec()), inner, ws.clone()),
                    0..6
                ),
                ws
            )
                .prop_map(|(items, w)| {
                    let items: Vec<String> = items
                        .into_iter()
                        .map(|(k, v, w)| format!("{w}{k}{w}:{w}{v}"))
                        .collect();
                    format!("{{{w}{}}}", items.join(","))
                }),
        ]
    })
}

/// `text()` wrapped in list and dict levels, around the depth limit mostly.
fn nested() -> impl Strategy<Value = String> {
    (
        text(),
        prop::collection::vec(any::<bool>(), 0..(MAX_DEPTH + 8)),
    )
        .prop_map(|(inner, levels)| {
            let mut s = String::new();
            for &dict in &levels {
                s.push_str(if dict { r#"{"[":"# } else { "[\"{\"," });
            }
            s.push_str(&inner);
            for &dict in levels.iter().rev() {
                s.push(if dict { '}' } else { ']' });
            }
            s
        })
}

/// Damages `text`: cut it, drop a byte, or put in a byte.
fn mutated(text: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    (text, 0..6u8, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(t, op, at, byte)| {
        let mut v = t.into_bytes();
        let i = at.index(v.len() + 1);
        let special = b"[]{}\",:\\e.-\x00\x80\xff\xc3\xed"[usize::from(byte) % 16];
        match op {
            0 => v.truncate(i),
            1 if i < v.len() => {
                v.remove(i);
            }
            2 => v.insert(i, special),
            3 if i < v.len() => v[i] = byte,
            _ => {}
        }
        v
    })
}

/// A frame of `[` the elements `]`.
fn frame(elements: Vec<String>) -> String {
    format!("[{}]", elements.join(", "))
}

fn syntax_valid(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// The splitter agrees with serde_json on `bytes`.
fn split_agrees(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (mut ours_els, mut ref_els) = (Elements::default(), Elements::default());
    let ours = JsonCodec::split(bytes, &mut ours_els);
    let reference = split_reference(bytes, &mut ref_els);
    let shown = String::from_utf8_lossy(bytes);
    prop_assert_eq!(
        ours.is_ok(),
        reference.is_ok(),
        "{:?} / {:?}: {}",
        ours,
        reference,
        shown
    );
    if ours.is_ok() {
        prop_assert_eq!(ours_els.as_slice(), ref_els.as_slice(), "{}", shown);
    }
    // Valid JSON of at most seven elements: the same depth verdict.
    if syntax_valid(bytes) && ref_els.as_slice().len() < 7 {
        prop_assert_eq!(
            ours == Err(DecodeError::TooDeep),
            reference == Err(DecodeError::TooDeep),
            "{:?} / {:?}: {}",
            ours,
            reference,
            shown
        );
    }
    if reference == Err(DecodeError::TooDeep) {
        prop_assert_eq!(ours, Err(DecodeError::TooDeep), "{}", shown);
    }
    Ok(())
}

/// The single-value check agrees with a full decode by serde_json.
fn value_agrees(bytes: &[u8]) -> Result<(), TestCaseError> {
    let ours = check_payload(bytes);
    let full = read_value_serde(bytes);
    let shown = String::from_utf8_lossy(bytes);
    prop_assert_eq!(
        ours.is_ok(),
        full.is_ok(),
        "{:?} / {:?}: {}",
        ours,
        full,
        shown
    );
    if syntax_valid(bytes) {
        prop_assert_eq!(
            ours == Err(DecodeError::TooDeep),
            full == Err(DecodeError::TooDeep),
            "{:?} / {:?}: {}",
            ours,
            full,
            shown
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn values_agree_with_serde_json(t in text()) {
        value_agrees(t.as_bytes())?;
    }

    #[test]
    fn nested_values_agree_with_serde_json(t in nested()) {
        value_agrees(t.as_bytes())?;
    }

    #[test]
    fn damaged_values_agree_with_serde_json(v in mutated(nested())) {
        value_agrees(&v)?;
    }

    #[test]
    fn frames_agree_with_serde_json(els in prop::collection::vec(prop_oneof![text(), nested()], 0..8)) {
        split_agrees(frame(els).as_bytes())?;
    }

    #[test]
    fn damaged_frames_agree_with_serde_json(
        v in mutated(prop::collection::vec(prop_oneof![text(), nested()], 0..7).prop_map(frame))
    ) {
        split_agrees(&v)?;
    }

    /// Every proper prefix of a frame that splits is truncated input.
    #[test]
    fn every_cut_of_a_good_frame_is_truncation(els in prop::collection::vec(text(), 1..7)) {
        let f = frame(els);
        let mut out = Elements::default();
        if JsonCodec::split(f.as_bytes(), &mut out).is_ok() {
            for cut in 0..f.len() {
                let mut out = Elements::default();
                prop_assert_eq!(
                    JsonCodec::split(&f.as_bytes()[..cut], &mut out),
                    Err(DecodeError::Truncated),
                    "{:?}",
                    &f.as_bytes()[..cut]
                );
            }
        }
    }

    /// A string's bytes are accepted exactly when they are UTF-8.
    #[test]
    fn strings_are_utf8(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let bytes: Vec<u8> = bytes
            .into_iter()
            .filter(|b| *b >= 0x20 && *b != b'"' && *b != b'\\')
            .collect();
        let mut s = vec![b'"'];
        s.extend_from_slice(&bytes);
        s.push(b'"');
        prop_assert_eq!(check_payload(&s).is_ok(), std::str::from_utf8(&bytes).is_ok());
        value_agrees(&s)?;
    }
}

/// Nesting bombs are refused as too deep, quickly and without recursion;
/// brackets inside strings do not count.
#[test]
fn nesting_bombs() {
    let n = 1_000_000;
    let bombs = [
        "[".repeat(n),
        format!("{}{}", "[".repeat(n), "]".repeat(n)),
        r#"{"a":"#.repeat(n / 5),
        r#"[{"k":"#.repeat(n / 6),
    ];
    for b in &bombs {
        let mut out = Elements::default();
        let framed = format!("[16, 1, {{}}, \"t\", {b}]");
        assert_eq!(
            JsonCodec::split(framed.as_bytes(), &mut out),
            Err(DecodeError::TooDeep)
        );
        assert_eq!(check_payload(b.as_bytes()), Err(DecodeError::TooDeep));
    }
    let at = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert_eq!(check_payload(at(MAX_DEPTH).as_bytes()), Ok(()));
    assert_eq!(
        check_payload(at(MAX_DEPTH + 1).as_bytes()),
        Err(DecodeError::TooDeep)
    );
    // The frame's own array is not an element's level.
    let mut out = Elements::default();
    let f = format!("[16, 1, {{}}, \"t\", {}]", at(MAX_DEPTH));
    assert_eq!(JsonCodec::split(f.as_bytes(), &mut out), Ok(()));
    // A bomb inside a string is text.
    let in_string = format!("[\"{}\", \"{}\"]", "[".repeat(n), "{\\\"[".repeat(1000));
    assert_eq!(check_payload(in_string.as_bytes()), Ok(()));
}

/// Hand-picked cases, each against serde_json.
#[test]
fn tricky_cases_agree() {
    let cases = [
        r#"[1, "\"]", {"]": "["}]"#,
        r#"[1, "\\", ["\\\""]]"#,
        r#"[1,]"#,
        r#"[,1]"#,
        r#"[1 2]"#,
        r#"[{"a" 1}]"#,
        r#"[{"a":1,}]"#,
        r#"[{1:1}]"#,
        r#"[[1}]"#,
        r#"[{"a":1]]"#,
        "[]",
        "[ ]",
        " [1] ",
        "[1] x",
        "[1]]",
        "[-]",
        "[--1]",
        "[1.e5]",
        "[\"a\u{1}b\"]",
        "[\"\\ud800\\udbff\"]",
        "[true, false, null, nul]",
        "[1, 2, 3, 4, 5, 6, 7, 8]",
        "[1, 2, 3, 4, 5, 6, 7, [[[",
    ];
    for c in cases {
        split_agrees(c.as_bytes()).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
}

/// The `split_json` fuzz target's body holds on its seeds, whole and cut.
#[test]
fn fuzz_body_holds_on_the_seeds() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/json");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz/seeds/json") {
        let seed = std::fs::read(entry.expect("seed").path()).expect("seed");
        for cut in 0..=seed.len() {
            fuzz_body::json_split(&seed[..cut]);
        }
        fuzz_body::run(shardwamp::codec::Serializer::Json, &seed);
        seen += 1;
    }
    assert!(seen > 0, "no seeds in {dir}");
}
