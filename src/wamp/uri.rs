//! WAMP URIs: validation, reserved-namespace checks and pattern matching.
//!
//! This module owns everything the router needs to know about the *shape* of a
//! URI (realm, topic, procedure, error or close reason):
//!
//! * [`validate`] checks a URI against the spec's rules (`rfc/text/basic/bp_identifiers.md`,
//!   "Relaxed/Loose URIs" and "Strict URIs"), with the empty-component rules that
//!   Crossbar.io applies per [`MatchPolicy`]:
//!
//!   | policy     | strict regex (spec / Crossbar)          | loose regex                         |
//!   |------------|-----------------------------------------|-------------------------------------|
//!   | `exact`    | `^([0-9a-z_]+\.)*([0-9a-z_]+)$`         | `^([^\s\.#]+\.)*([^\s\.#]+)$`       |
//!   | `prefix`   | `^([0-9a-z_]+\.)*([0-9a-z_]*)$`         | `^([^\s\.#]+\.)*([^\s\.#]*)$`       |
//!   | `wildcard` | `^(([0-9a-z_]+\.)\|\.)*([0-9a-z_]+)?$`  | `^(([^\s\.#]+\.)\|\.)*([^\s\.#]+)?$`|
//!
//!   So an exact URI has only non-empty components; a prefix pattern may have an
//!   empty *last* component (`com.myapp.`, or even the empty string, which
//!   prefix-matches everything); a wildcard pattern may have any component empty
//!   (`com..update`, `.a`, `a.`, and the empty string too).
//!   The checks are hand-written byte scans: no regex engine and no allocation.
//!   `\s` is Python's Unicode whitespace (what Crossbar's `re` patterns use), which
//!   is Rust's [`char::is_whitespace`] plus the ASCII separators `\x1c`..=`\x1f`.
//!   One deliberate difference from Python: Python's `$` also matches before a
//!   final `\n`, so Crossbar accepts `"com.foo\n"`; we reject it as whitespace.
//! * [`is_reserved`] tells whether a URI lies in the `wamp` namespace, which
//!   application URIs MUST NOT use.
//! * [`matches()`] and [`WildcardPattern`] implement the Advanced Profile's
//!   pattern-based subscriptions and registrations
//!   (`ap_25_pubsub_pattern_based_subscription.md`, `ap_16_rpc_pattern_based_registration.md`):
//!   *prefix* is a plain string prefix (`com.myapp.topic.emergency` matches
//!   `com.myapp.topic.emergency-low`), *wildcard* needs the same number of
//!   components, an empty pattern component matching any one component.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which character rules a URI is checked against (Crossbar's router option `uri_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UriCheck {
    /// Components contain only `0-9`, `a-z` and `_` (the spec's recommendation, Crossbar's default).
    #[default]
    Strict,
    /// Components contain anything but `.`, `#` and whitespace (the spec's MUST).
    Loose,
}

impl UriCheck {
    /// The name used in configuration: `"strict"` or `"loose"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            UriCheck::Strict => "strict",
            UriCheck::Loose => "loose",
        }
    }
}

impl fmt::Display for UriCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a subscription's topic or a registration's procedure is matched
/// (`SUBSCRIBE.Options.match` / `REGISTER.Options.match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchPolicy {
    /// The URI must equal the pattern (the default when `match` is absent).
    #[default]
    Exact,
    /// The pattern is a plain string prefix of the URI.
    Prefix,
    /// Same number of components; an empty pattern component matches any one component.
    Wildcard,
}

impl MatchPolicy {
    /// Parses the `match` option: absent or `"exact"`, `"prefix"`, `"wildcard"`.
    ///
    /// Any other value is [`UriError::UnknownMatchPolicy`].
    pub fn from_option(s: Option<&str>) -> Result<MatchPolicy, UriError> {
        match s {
            None | Some("exact") => Ok(MatchPolicy::Exact),
            Some("prefix") => Ok(MatchPolicy::Prefix),
            Some("wildcard") => Ok(MatchPolicy::Wildcard),
            Some(other) => Err(UriError::UnknownMatchPolicy(other.to_owned())),
        }
    }

    /// The wire name: `"exact"`, `"prefix"` or `"wildcard"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
}

impl fmt::Display for MatchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a URI (or a `match` option) was rejected. Positions are byte offsets into the URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The URI is the empty string, which only prefix and wildcard patterns may be.
    #[error("URI is empty")]
    Empty,
    /// A component is empty (leading, trailing or doubled `.`) where the policy forbids it.
    #[error("URI has an empty component at byte {position}")]
    EmptyComponent {
        /// Byte offset where the empty component starts.
        position: usize,
    },
    /// The URI contains a whitespace character (never allowed).
    #[error("URI contains whitespace {ch:?} at byte {position}")]
    Whitespace {
        /// The whitespace character.
        ch: char,
        /// Its byte offset.
        position: usize,
    },
    /// The URI contains `#`, which is reserved for internal use by routers (never allowed).
    #[error("URI contains the reserved character '#' at byte {position}")]
    ReservedChar {
        /// Byte offset of the `#`.
        position: usize,
    },
    /// Under [`UriCheck::Strict`], a character other than `0-9`, `a-z`, `_` and `.`.
    #[error("URI contains {ch:?} at byte {position}; strict URIs allow only 0-9, a-z, _ and .")]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        position: usize,
    },
    /// The `match` option is not `"exact"`, `"prefix"` or `"wildcard"`.
    #[error("unknown match policy {0:?}; expected \"exact\", \"prefix\" or \"wildcard\"")]
    UnknownMatchPolicy(String),
}

// Byte classes for the validation scan.
const C_STRICT: u8 = 0; // 0-9 a-z _
const C_LOOSE: u8 = 1; // other ASCII allowed by the loose check only
const C_DOT: u8 = 2;
const C_HASH: u8 = 3;
const C_SPACE: u8 = 4; // ASCII whitespace as Python's `\s` sees it
const C_HIGH: u8 = 5; // a byte of a non-ASCII character

static CLASS: [u8; 256] = build_class_table();

const fn build_class_table() -> [u8; 256] {
    let mut t = [C_HIGH; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = match b {
            b'0'..=b'9' | b'a'..=b'z' | b'_' => C_STRICT,
            b'.' => C_DOT,
            b'#' => C_HASH,
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ' => C_SPACE,
            _ => C_LOOSE,
        };
        i += 1;
    }
    t
}

/// Python's `str.isspace()` / `re` `\s` for non-ASCII characters.
#[inline]
fn is_unicode_space(c: char) -> bool {
    matches!(
        c,
        '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// The character starting at byte `i`, which must be a char boundary.
#[inline]
fn char_at(uri: &str, i: usize) -> char {
    uri.get(i..)
        .and_then(|s| s.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Checks `uri` against the spec's rules for `check`, with the empty-component
/// rules of `policy` (see the module docs for the exact regular expressions).
///
/// Runs in one pass over the bytes, allocates nothing, and reports the first
/// offending position.
pub fn validate(uri: &str, check: UriCheck, policy: MatchPolicy) -> Result<(), UriError> {
    let bytes = uri.as_bytes();
    if bytes.is_empty() {
        return match policy {
            MatchPolicy::Exact => Err(UriError::Empty),
            MatchPolicy::Prefix | MatchPolicy::Wildcard => Ok(()),
        };
    }
    let strict = check == UriCheck::Strict;
    let inner_empty_ok = policy == MatchPolicy::Wildcard;
    let mut comp_start = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        match CLASS[b as usize] {
            C_STRICT => {}
            C_DOT => {
                if i == comp_start && !inner_empty_ok {
                    return Err(UriError::EmptyComponent { position: i });
                }
                comp_start = i + 1;
            }
            C_LOOSE => {
                if strict {
                    return Err(UriError::InvalidChar {
                        ch: b as char,
                        position: i,
                    });
                }
            }
            C_HASH => return Err(UriError::ReservedChar { position: i }),
            C_SPACE => {
                return Err(UriError::Whitespace {
                    ch: b as char,
                    position: i,
                })
            }
            _ => {
                // Non-ASCII. Under strict the first such byte seen is a lead byte
                // (we stop at it), so decoding there is on a char boundary. Under
                // loose only characters whose UTF-8 lead byte is C2, E1, E2 or E3
                // can be whitespace; continuation bytes (80..=BF) never match those.
                if strict {
                    return Err(UriError::InvalidChar {
                        ch: char_at(uri, i),
                        position: i,
                    });
                }
                if matches!(b, 0xc2 | 0xe1 | 0xe2 | 0xe3) {
                    let ch = char_at(uri, i);
                    if is_unicode_space(ch) {
                        return Err(UriError::Whitespace { ch, position: i });
                    }
                }
            }
        }
    }
    if comp_start == bytes.len() && policy == MatchPolicy::Exact {
        return Err(UriError::EmptyComponent {
            position: bytes.len(),
        });
    }
    Ok(())
}

/// Whether `uri` is in the reserved `wamp` namespace (its first component is `wamp`).
///
/// Application URIs MUST NOT use `wamp` as their first component: clients must
/// not register, publish, or raise errors under `wamp.`.
#[inline]
pub fn is_reserved(uri: &str) -> bool {
    match uri.strip_prefix("wamp") {
        Some(rest) => rest.is_empty() || rest.starts_with('.'),
        None => false,
    }
}

/// Whether `uri` (a concrete topic or procedure) matches `pattern` under `policy`.
///
/// * [`MatchPolicy::Exact`]: `uri == pattern`.
/// * [`MatchPolicy::Prefix`]: `pattern` is a plain string prefix of `uri`.
/// * [`MatchPolicy::Wildcard`]: same number of `.`-separated components, and each
///   non-empty pattern component equals the uri's component at that position.
///
/// For matching many URIs against one wildcard pattern, prefer [`WildcardPattern`].
#[inline]
pub fn matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => wildcard_matches(pattern.as_bytes(), uri.as_bytes()),
    }
}

fn wildcard_matches(pattern: &[u8], uri: &[u8]) -> bool {
    let mut p = pattern.split(|&b| b == b'.');
    let mut u = uri.split(|&b| b == b'.');
    loop {
        match (p.next(), u.next()) {
            (None, None) => return true,
            (Some(pc), Some(uc)) => {
                if !pc.is_empty() && pc != uc {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A wildcard pattern split into components once, for fast repeated matching.
///
/// Matching walks the uri's components once and compares each against the
/// pre-computed literal component (or skips it for a wildcard), stopping at the
/// first mismatch; it allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WildcardPattern {
    pattern: Box<str>,
    /// Byte range of each component in `pattern`; an empty range is a wildcard.
    components: Box<[(u32, u32)]>,
}

impl WildcardPattern {
    /// Splits `pattern` (e.g. `com.myapp..userevent`) into its components.
    ///
    /// No validation is done here; call [`validate`] with [`MatchPolicy::Wildcard`] first.
    pub fn new(pattern: &str) -> WildcardPattern {
        let mut components = Vec::with_capacity(pattern.len() / 4 + 1);
        let mut start = 0usize;
        for (i, b) in pattern.bytes().enumerate() {
            if b == b'.' {
                components.push((to_u32(start), to_u32(i)));
                start = i + 1;
            }
        }
        components.push((to_u32(start), to_u32(pattern.len())));
        WildcardPattern {
            pattern: pattern.into(),
            components: components.into_boxed_slice(),
        }
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Number of components (a URI must have exactly this many to match).
    pub fn component_count(&self) -> usize {
        self.components.len()
    }

    /// The pattern's components in order: `Some(literal)` or `None` for a wildcard.
    pub fn components(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        self.components.iter().map(move |&(s, e)| {
            if s == e {
                None
            } else {
                self.pattern.get(s as usize..e as usize)
            }
        })
    }

    /// Whether the concrete `uri` matches this pattern.
    #[inline]
    pub fn matches(&self, uri: &str) -> bool {
        let pat = self.pattern.as_bytes();
        let mut comps = self.components.iter();
        for uc in uri.as_bytes().split(|&b| b == b'.') {
            let Some(&(s, e)) = comps.next() else {
                return false;
            };
            if s != e && pat.get(s as usize..e as usize) != Some(uc) {
                return false;
            }
        }
        comps.next().is_none()
    }

    /// Lengths of the runs of literal components before each wildcard, and of the
    /// trailing run after the last one: `a1.b2..d4.e5..g7` gives `[2, 2, 1]`.
    pub fn literal_runs(&self) -> impl Iterator<Item = usize> + '_ {
        let mut comps = self.components.iter().peekable();
        std::iter::from_fn(move || {
            comps.peek()?;
            let mut run = 0;
            for &(s, e) in comps.by_ref() {
                if s == e {
                    return Some(run);
                }
                run += 1;
            }
            Some(run)
        })
    }

    /// Orders two patterns by the spec's rule for choosing among wildcard
    /// registrations that match the same call: the one with "the longest portion
    /// of URI components matched before each wildcard" wins, i.e. the
    /// lexicographic comparison of [`WildcardPattern::literal_runs`].
    /// `Ordering::Greater` means `self` is the better (more specific) match.
    pub fn specificity_cmp(&self, other: &WildcardPattern) -> Ordering {
        self.literal_runs().cmp(other.literal_runs())
    }
}

impl fmt::Display for WildcardPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

#[inline]
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use MatchPolicy::{Exact, Prefix, Wildcard};
    use UriCheck::{Loose, Strict};

    fn ok(uri: &str, check: UriCheck, policy: MatchPolicy) -> bool {
        validate(uri, check, policy).is_ok()
    }

    #[test]
    fn spec_examples_are_valid() {
        for uri in [
            "com.myapp.mytopic1",
            "com.myapp.myprocedure1",
            "com.myapp.myerror1",
            "wamp.error.not_authorized",
            "wamp.error.procedure_already_exists",
            "a",
            "a_b.c_9",
        ] {
            for check in [Strict, Loose] {
                for policy in [Exact, Prefix, Wildcard] {
                    assert!(ok(uri, check, policy), "{uri} {check} {policy}");
                }
            }
        }
    }

    #[test]
    fn exact_rejects_empty_components() {
        assert_eq!(validate("", Strict, Exact), Err(UriError::Empty));
        assert_eq!(validate("", Loose, Exact), Err(UriError::Empty));
        assert_eq!(
            validate(".a", Strict, Exact),
            Err(UriError::EmptyComponent { position: 0 })
        );
        assert_eq!(
            validate("a.", Loose, Exact),
            Err(UriError::EmptyComponent { position: 2 })
        );
        assert_eq!(
            validate("com..update", Strict, Exact),
            Err(UriError::EmptyComponent { position: 4 })
        );
        assert_eq!(
            validate(".", Strict, Exact),
            Err(UriError::EmptyComponent { position: 0 })
        );
    }

    #[test]
    fn prefix_allows_only_last_component_empty() {
        for check in [Strict, Loose] {
            assert!(ok("", check, Prefix));
            assert!(ok("com.myapp.", check, Prefix));
            assert!(ok("com.myapp.topic.emergency", check, Prefix));
            assert_eq!(
                validate("com..x", check, Prefix),
                Err(UriError::EmptyComponent { position: 4 })
            );
            assert_eq!(
                validate(".com", check, Prefix),
                Err(UriError::EmptyComponent { position: 0 })
            );
            assert_eq!(
                validate("com..", check, Prefix),
                Err(UriError::EmptyComponent { position: 4 })
            );
            assert_eq!(
                validate(".", check, Prefix),
                Err(UriError::EmptyComponent { position: 0 })
            );
        }
    }

    #[test]
    fn wildcard_allows_any_empty_component() {
        for check in [Strict, Loose] {
            for uri in [
                "",
                ".",
                "..",
                ".a",
                "a.",
                "com..update",
                "com.myapp..userevent",
                "a1.b2..d4..f6.g7",
            ] {
                assert!(ok(uri, check, Wildcard), "{uri:?}");
            }
        }
    }

    #[test]
    fn strict_charset() {
        assert_eq!(
            validate("com.MyApp", Strict, Exact),
            Err(UriError::InvalidChar {
                ch: 'M',
                position: 4
            })
        );
        assert_eq!(
            validate("com.my-app", Strict, Exact),
            Err(UriError::InvalidChar {
                ch: '-',
                position: 6
            })
        );
        assert_eq!(
            validate("com.caf\u{e9}", Strict, Exact),
            Err(UriError::InvalidChar {
                ch: '\u{e9}',
                position: 7
            })
        );
        assert!(ok("com.MyApp", Loose, Exact));
        assert!(ok("com.my-app", Loose, Exact));
        assert!(ok("com.caf\u{e9}.\u{1f600}", Loose, Exact));
        assert!(ok("com.myapp.topic.emergency-low", Loose, Exact));
    }

    #[test]
    fn hash_and_whitespace_rejected_everywhere() {
        for check in [Strict, Loose] {
            for policy in [Exact, Prefix, Wildcard] {
                assert_eq!(
                    validate("com.a#b", check, policy),
                    Err(UriError::ReservedChar { position: 5 })
                );
                assert_eq!(
                    validate("com.a b", check, policy),
                    Err(UriError::Whitespace {
                        ch: ' ',
                        position: 5
                    })
                );
                assert_eq!(
                    validate("com.a\n", check, policy),
                    Err(UriError::Whitespace {
                        ch: '\n',
                        position: 5
                    })
                );
            }
        }
        // Python's `\s` also covers the ASCII separators and Unicode spaces.
        for (uri, ch) in [
            ("a\u{1f}b", '\u{1f}'),
            ("a\u{a0}b", '\u{a0}'),
            ("a\u{85}b", '\u{85}'),
            ("a\u{2003}b", '\u{2003}'),
            ("a\u{3000}b", '\u{3000}'),
            ("a\u{205f}b", '\u{205f}'),
        ] {
            assert_eq!(
                validate(uri, Loose, Exact),
                Err(UriError::Whitespace { ch, position: 1 })
            );
        }
        // Non-space characters sharing those lead bytes are fine under loose.
        assert!(ok("a\u{a9}\u{2013}\u{3042}\u{1681}", Loose, Exact));
        assert!(ok("a\u{0}b", Loose, Exact));
    }

    #[test]
    fn match_policy_option() {
        assert_eq!(MatchPolicy::from_option(None), Ok(Exact));
        assert_eq!(MatchPolicy::from_option(Some("exact")), Ok(Exact));
        assert_eq!(MatchPolicy::from_option(Some("prefix")), Ok(Prefix));
        assert_eq!(MatchPolicy::from_option(Some("wildcard")), Ok(Wildcard));
        assert_eq!(
            MatchPolicy::from_option(Some("Prefix")),
            Err(UriError::UnknownMatchPolicy("Prefix".into()))
        );
        for p in [Exact, Prefix, Wildcard] {
            assert_eq!(MatchPolicy::from_option(Some(p.as_str())), Ok(p));
        }
        assert_eq!(UriCheck::default(), Strict);
        assert_eq!(Loose.as_str(), "loose");
    }

    #[test]
    fn error_display() {
        assert_eq!(UriError::Empty.to_string(), "URI is empty");
        assert_eq!(
            UriError::InvalidChar {
                ch: 'A',
                position: 3
            }
            .to_string(),
            "URI contains 'A' at byte 3; strict URIs allow only 0-9, a-z, _ and ."
        );
        assert_eq!(
            UriError::EmptyComponent { position: 4 }.to_string(),
            "URI has an empty component at byte 4"
        );
    }

    #[test]
    fn reserved() {
        assert!(is_reserved("wamp"));
        assert!(is_reserved("wamp.session.count"));
        assert!(is_reserved("wamp."));
        assert!(!is_reserved("wampx.foo"));
        assert!(!is_reserved("com.wamp.foo"));
        assert!(!is_reserved("wam"));
        assert!(!is_reserved(""));
    }

    #[test]
    fn spec_prefix_subscription_examples() {
        let p = "com.myapp.topic.emergency";
        for uri in [
            "com.myapp.topic.emergency.11",
            "com.myapp.topic.emergency-low",
            "com.myapp.topic.emergency.category.severe",
            "com.myapp.topic.emergency",
        ] {
            assert!(matches(p, Prefix, uri), "{uri}");
        }
        assert!(!matches(p, Prefix, "com.myapp.topic.emerge"));
    }

    #[test]
    fn spec_prefix_registration_examples() {
        let p = "com.myapp.myobject1";
        for uri in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject1-mysubobject1",
            "com.myapp.myobject1.mysubobject1.myprocedure1",
            "com.myapp.myobject1",
        ] {
            assert!(matches(p, Prefix, uri), "{uri}");
        }
        for uri in ["com.myapp.myobject2", "com.myapp.myobject"] {
            assert!(!matches(p, Prefix, uri), "{uri}");
        }
    }

    #[test]
    fn spec_wildcard_subscription_examples() {
        let p = "com.myapp..userevent";
        let wp = WildcardPattern::new(p);
        for uri in [
            "com.myapp.foo.userevent",
            "com.myapp.bar.userevent",
            "com.myapp.a12.userevent",
        ] {
            assert!(matches(p, Wildcard, uri), "{uri}");
            assert!(wp.matches(uri), "{uri}");
        }
        for uri in [
            "com.myapp.foo.userevent.bar",
            "com.myapp.foo.user",
            "com.myapp2.foo.userevent",
        ] {
            assert!(!matches(p, Wildcard, uri), "{uri}");
            assert!(!wp.matches(uri), "{uri}");
        }
    }

    #[test]
    fn spec_wildcard_registration_examples() {
        let p = "com.myapp..myprocedure1";
        let wp = WildcardPattern::new(p);
        for uri in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject2.myprocedure1",
        ] {
            assert!(wp.matches(uri), "{uri}");
        }
        for uri in [
            "com.myapp.myobject1.myprocedure1.mysubprocedure1",
            "com.myapp.myobject1.myprocedure2",
            "com.myapp2.myobject1.myprocedure1",
        ] {
            assert!(!wp.matches(uri), "{uri}");
        }
    }

    #[test]
    fn spec_wildcard_priority_examples() {
        let r4 = WildcardPattern::new("a1.b2..d4.e5");
        let r5 = WildcardPattern::new("a1.b2.c33..e5");
        let r6 = WildcardPattern::new("a1.b2..d4.e5..g7");
        let r7 = WildcardPattern::new("a1.b2..d4..f6.g7");
        assert!(r4.matches("a1.b2.c55.d4.e5"));
        assert!(!r5.matches("a1.b2.c55.d4.e5"));
        assert!(r4.matches("a1.b2.c33.d4.e5") && r5.matches("a1.b2.c33.d4.e5"));
        assert_eq!(r5.specificity_cmp(&r4), Ordering::Greater);
        let call = "a1.b2.c88.d4.e5.f6.g7";
        assert!(r6.matches(call) && r7.matches(call));
        assert_eq!(r6.specificity_cmp(&r7), Ordering::Greater);
        assert_eq!(r6.literal_runs().collect::<Vec<_>>(), vec![2, 2, 1]);
        assert_eq!(r7.literal_runs().collect::<Vec<_>>(), vec![2, 1, 2]);
        assert_eq!(
            WildcardPattern::new("..")
                .literal_runs()
                .collect::<Vec<_>>(),
            vec![0, 0, 0]
        );
        assert!(!r4.matches("a2.b2.c2.d2.e2"));
    }

    #[test]
    fn wildcard_pattern_accessors() {
        let wp = WildcardPattern::new("a..c");
        assert_eq!(wp.as_str(), "a..c");
        assert_eq!(wp.to_string(), "a..c");
        assert_eq!(wp.component_count(), 3);
        assert_eq!(
            wp.components().collect::<Vec<_>>(),
            vec![Some("a"), None, Some("c")]
        );
        let all = WildcardPattern::new("");
        assert_eq!(all.component_count(), 1);
        assert!(all.matches("x"));
        assert!(!all.matches("x.y"));
    }

    fn strict_uri() -> impl Strategy<Value = String> {
        "[0-9a-z_]{1,6}(\\.[0-9a-z_]{1,6}){0,5}"
    }

    fn any_uri() -> impl Strategy<Value = String> {
        "[a-c.#_ A\u{e9}\u{a0}\u{2003}]{0,12}"
    }

    /// Reference implementation of the spec's regexes, by splitting.
    fn reference(uri: &str, check: UriCheck, policy: MatchPolicy) -> bool {
        let comp_ok = |c: &str| match check {
            Strict => c
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_'),
            Loose => c.chars().all(|ch| {
                ch != '.'
                    && ch != '#'
                    && !ch.is_whitespace()
                    && !('\u{1c}'..='\u{1f}').contains(&ch)
            }),
        };
        let comps: Vec<&str> = uri.split('.').collect();
        let n = comps.len();
        comps.iter().enumerate().all(|(i, c)| {
            comp_ok(c)
                && (!c.is_empty()
                    || match policy {
                        Exact => false,
                        Prefix => i == n - 1,
                        Wildcard => true,
                    })
        })
    }

    proptest! {
        #[test]
        fn strict_valid_is_loose_valid(uri in any_uri(), p in 0..3usize) {
            let policy = [Exact, Prefix, Wildcard][p];
            if ok(&uri, Strict, policy) {
                prop_assert!(ok(&uri, Loose, policy));
            }
        }

        #[test]
        fn exact_valid_is_valid_for_all_policies(uri in any_uri(), strict in any::<bool>()) {
            let check = if strict { Strict } else { Loose };
            if ok(&uri, check, Exact) {
                prop_assert!(ok(&uri, check, Prefix));
                prop_assert!(ok(&uri, check, Wildcard));
            }
            if ok(&uri, check, Prefix) {
                prop_assert!(ok(&uri, check, Wildcard));
            }
        }

        #[test]
        fn validate_agrees_with_reference(uri in any_uri(), strict in any::<bool>(), p in 0..3usize) {
            let check = if strict { Strict } else { Loose };
            let policy = [Exact, Prefix, Wildcard][p];
            prop_assert_eq!(ok(&uri, check, policy), reference(&uri, check, policy));
        }

        #[test]
        fn generated_strict_uris_are_valid(uri in strict_uri()) {
            prop_assert!(ok(&uri, Strict, Exact));
        }

        #[test]
        fn exact_match_iff_equal(a in strict_uri(), b in strict_uri()) {
            prop_assert_eq!(matches(&a, Exact, &b), a == b);
            prop_assert!(matches(&a, Exact, &a));
        }

        #[test]
        fn uri_prefix_matches_itself(uri in strict_uri(), n in 0..40usize) {
            prop_assert!(matches(&uri, Prefix, &uri));
            let cut = n.min(uri.len());
            prop_assert!(matches(&uri[..cut], Prefix, &uri));
            prop_assert!(WildcardPattern::new(&uri).matches(&uri));
        }

        #[test]
        fn all_wildcards_match_same_component_count(uri in strict_uri(), extra in 0..3usize) {
            let n = uri.split('.').count();
            let pattern = ".".repeat(n - 1);
            prop_assert!(matches(&pattern, Wildcard, &uri));
            prop_assert!(WildcardPattern::new(&pattern).matches(&uri));
            let longer = ".".repeat(n + extra);
            prop_assert!(!matches(&longer, Wildcard, &uri));
            prop_assert!(!WildcardPattern::new(&longer).matches(&uri));
        }

        #[test]
        fn wildcard_pattern_agrees_with_matches(pattern in "[ab.]{0,8}", uri in "[ab.]{0,8}") {
            prop_assert_eq!(
                WildcardPattern::new(&pattern).matches(&uri),
                matches(&pattern, Wildcard, &uri)
            );
        }

        #[test]
        fn blanking_components_keeps_wildcard_match(uri in strict_uri(), mask in any::<u8>()) {
            let pattern: Vec<&str> = uri
                .split('.')
                .enumerate()
                .map(|(i, c)| if mask & (1 << (i % 8)) != 0 { "" } else { c })
                .collect();
            let pattern = pattern.join(".");
            prop_assert!(ok(&pattern, Strict, Wildcard));
            prop_assert!(WildcardPattern::new(&pattern).matches(&uri));
        }
    }
}
