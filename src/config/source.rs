//! From text to a validated [`Config`]: parsing with spans, `${NAME}`
//! substitution, deserialization with errors pointed at the offending key,
//! and validation errors located in the text.
//!
//! Serde's internally tagged enums (`type = "websocket"`, `type = "tcp"`,
//! `type = "static"`) buffer their table before dispatching on the tag, which
//! loses the positions inside it: an error anywhere in a transport is reported
//! at the transport's `[[transports]]` header. When that happens, the table is
//! deserialized again as the variant its `type` names, which points at the
//! offending key; this repeats for tagged tables nested inside.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::auth::{AnonymousStatic, CryptosignStatic, DynamicAuth, TicketStatic, WampCraStatic};
use super::key_path::{KeyPath, Seg};
use super::{
    validate, Config, ConfigError, Location, Place, RawSocketTransport, TcpEndpoint, UnixEndpoint,
    WebSocketTransport, REDACTED,
};

// ---------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------

/// Byte offsets to lines and columns.
struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> LineIndex<'t> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = match self.text.get(start..offset) {
            Some(s) => s.chars().count() + 1,
            None => offset - start + 1,
        };
        Location { line, column }
    }
}

/// Every key and value of the document with its span.
struct SpanIndex {
    /// (span, path) of every key and every value.
    spans: Vec<(Range<usize>, KeyPath)>,
    /// Where each path starts: its key, or for array elements the element.
    starts: HashMap<KeyPath, usize>,
}

impl SpanIndex {
    fn build(root: &DeTable<'_>) -> SpanIndex {
        let mut index = SpanIndex {
            spans: Vec::new(),
            starts: HashMap::new(),
        };
        index.table(root, &KeyPath::default());
        index
    }

    fn table(&mut self, table: &DeTable<'_>, path: &KeyPath) {
        for (k, v) in table.iter() {
            let p = path.key(k.get_ref());
            self.spans.push((k.span(), p.clone()));
            self.starts.entry(p.clone()).or_insert(k.span().start);
            self.value(v, p);
        }
    }

    fn value(&mut self, v: &Spanned<DeValue<'_>>, path: KeyPath) {
        self.starts.entry(path.clone()).or_insert(v.span().start);
        match v.get_ref() {
            DeValue::Table(t) => self.table(t, &path),
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    self.value(e, path.index(i));
                }
            }
            _ => {}
        }
        self.spans.push((v.span(), path));
    }

    /// The innermost key or value whose span contains `span` (the deepest on ties).
    fn path_at(&self, span: &Range<usize>) -> KeyPath {
        self.spans
            .iter()
            .filter(|(s, _)| s.start <= span.start && span.end <= s.end)
            .min_by_key(|(s, p)| (s.len(), usize::MAX - p.0.len()))
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    }

    /// Where `path` (or its nearest ancestor present in the text) starts.
    fn locate(&self, path: &KeyPath, lines: &LineIndex<'_>) -> Option<Location> {
        let mut p = Some(path.clone());
        while let Some(q) = p {
            if let Some(&offset) = self.starts.get(&q) {
                return Some(lines.location(offset));
            }
            p = q.parent();
        }
        None
    }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Parses, substitutes, deserializes, assigns ids and validates.
pub(super) fn load(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let lines = LineIndex::new(text);
    let mut root = DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        at: Place::new(String::new(), e.span().map(|s| lines.location(s.start))),
        message: e.message().trim_end().to_owned(),
    })?;
    let mut subst = Substitution {
        env,
        lines: &lines,
        values: Vec::new(),
    };
    subst.table(root.get_mut(), &KeyPath::default())?;
    let values = subst.values;
    let index = SpanIndex::build(root.get_ref());
    let mut config = Config::deserialize(toml::de::Deserializer::from(root.clone()))
        .map_err(|e| schema_error(&e, &root, &index, &lines, &values))?;
    config.assign_ids();
    // Validation messages name realms, roles, ids and URIs, never a ticket,
    // secret or `extra` value, so they are not redacted.
    match validate::problems(&config).into_iter().next() {
        None => Ok(config),
        Some((path, message)) => Err(ConfigError::Invalid {
            at: Place::new(path.to_string(), index.locate(&path, &lines)),
            message,
        }),
    }
}

/// Where `path` is in `text` (a configuration that loads), for checks made
/// after loading ([`super::Config::check_file`]).
pub(super) fn locate(text: &str, path: &KeyPath) -> Option<Location> {
    let lines = LineIndex::new(text);
    let root = DeTable::parse(text).ok()?;
    SpanIndex::build(root.get_ref()).locate(path, &lines)
}

// ---------------------------------------------------------------------------
// ${NAME} substitution
// ---------------------------------------------------------------------------

struct Substitution<'a, 't> {
    env: &'a dyn Fn(&str) -> Option<String>,
    lines: &'a LineIndex<'t>,
    /// Every value substituted, to keep out of error messages.
    values: Vec<String>,
}

enum SubstError {
    Missing(String),
    Unterminated,
    BadName(String),
}

impl Substitution<'_, '_> {
    fn table(&mut self, table: &mut DeTable<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        for (k, v) in table.iter_mut() {
            let p = path.key(k.get_ref());
            self.value(v, &p)?;
        }
        Ok(())
    }

    fn value(&mut self, v: &mut Spanned<DeValue<'_>>, path: &KeyPath) -> Result<(), ConfigError> {
        let span = v.span();
        match v.get_mut() {
            DeValue::String(s) if s.contains('$') => match self.expand(s) {
                Ok(new) => *s = Cow::Owned(new),
                Err(e) => {
                    let at = Place::new(path.to_string(), Some(self.lines.location(span.start)));
                    return Err(match e {
                        SubstError::Missing(var) => ConfigError::MissingEnv { at, var },
                        SubstError::Unterminated => ConfigError::Substitution {
                            at,
                            message: "unterminated \"${\" (write \"$${\" for a literal \"${\")"
                                .to_owned(),
                        },
                        SubstError::BadName(name) => ConfigError::Substitution {
                            at,
                            message: format!(
                                "invalid environment variable name {name:?} in \"${{...}}\" \
                                 (letters, digits and _, not starting with a digit)"
                            ),
                        },
                    });
                }
            },
            DeValue::Table(t) => self.table(t, path)?,
            DeValue::Array(a) => {
                for (i, e) in a.iter_mut().enumerate() {
                    self.value(e, &path.index(i))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `${NAME}` → the variable, `$${` → `${`, any other `$` as is.
    fn expand(&mut self, s: &str) -> Result<String, SubstError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                let end = after.find('}').ok_or(SubstError::Unterminated)?;
                let name = &after[..end];
                if !is_var_name(name) {
                    return Err(SubstError::BadName(name.to_owned()));
                }
                let value = (self.env)(name).ok_or_else(|| SubstError::Missing(name.to_owned()))?;
                out.push_str(&value);
                self.values.push(value);
                rest = &after[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `message` with every substituted value replaced by [`REDACTED`].
fn redact(message: &str, values: &[String]) -> String {
    let mut values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = message.to_owned();
    for v in values {
        // Serde quotes strings Debug-style; toml names variants in backticks.
        out = out.replace(&format!("{v:?}"), &format!("{REDACTED:?}"));
        out = out.replace(&format!("`{v}`"), &format!("`{REDACTED}`"));
        if v.chars().count() >= 4 {
            out = out.replace(v.as_str(), REDACTED);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Deserialization errors
// ---------------------------------------------------------------------------

/// An error's span and message.
#[derive(PartialEq)]
struct Found {
    span: Option<Range<usize>>,
    message: String,
}

impl Found {
    fn from_toml(e: &toml::de::Error) -> Found {
        Found {
            span: e.span(),
            message: e.message().trim_end().to_owned(),
        }
    }
}

fn schema_error(
    e: &toml::de::Error,
    root: &Spanned<DeTable<'_>>,
    index: &SpanIndex,
    lines: &LineIndex<'_>,
    values: &[String],
) -> ConfigError {
    let mut found = Found::from_toml(e);
    // Each round descends one tagged table; the nesting is at most three deep.
    for _ in 0..8 {
        let Some(span) = &found.span else { break };
        let path = index.path_at(span);
        match refine(root, &path) {
            Some(better) if better != found => {
                found = Found {
                    span: better.span.or(found.span),
                    message: better.message,
                }
            }
            _ => break,
        }
    }
    let (path, location) = match &found.span {
        Some(span) => (index.path_at(span), Some(lines.location(span.start))),
        None => (KeyPath::default(), None),
    };
    // A Crossbar.io key shardwamp does not take is explained, never
    // reported as if it were a typo.
    let message = super::crossbar::known::explain_message(&found.message)
        .unwrap_or_else(|| found.message.clone());
    ConfigError::Schema {
        at: Place::new(path.to_string(), location),
        message: redact(&message, values),
    }
}

/// The value at `path`.
fn lookup<'r, 'i>(
    root: &'r Spanned<DeTable<'i>>,
    path: &KeyPath,
) -> Option<&'r Spanned<DeValue<'i>>> {
    let mut segs = path.0.iter();
    let Some(Seg::Key(first)) = segs.next() else {
        return None;
    };
    let mut node = root.get_ref().get(first.as_str())?;
    for seg in segs {
        node = match (seg, node.get_ref()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str())?,
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Which tagged enum a table at some path is.
enum Tagged<'p> {
    Transport,
    /// A web transport's path (`transports[i].paths.<path>`).
    WebPath,
    Endpoint,
    Auth(&'p str),
}

fn is_key(seg: &Seg, name: &str) -> bool {
    matches!(seg, Seg::Key(k) if k == name)
}

/// For a tagged table whose error lost its position, the error found by
/// deserializing the table as the variant its `type` names.
///
/// An error inside an element of `transports` is reported at the array (the
/// first element's header), whichever element it is in: each element is
/// tried in turn, and the first that fails is the one serde failed on.
fn refine(root: &Spanned<DeTable<'_>>, path: &KeyPath) -> Option<Found> {
    match path.0.as_slice() {
        [t] | [t, Seg::Index(_)] if is_key(t, "transports") => {
            let transports = KeyPath::root("transports");
            let Some(DeValue::Array(all)) = lookup(root, &transports).map(|v| v.get_ref()) else {
                return None;
            };
            (0..all.len()).find_map(|i| refine_tagged(root, &transports.index(i)))
        }
        _ => refine_tagged(root, path),
    }
}

/// [`refine`] for one table.
fn refine_tagged(root: &Spanned<DeTable<'_>>, path: &KeyPath) -> Option<Found> {
    let key = is_key;
    let tagged = match path.0.as_slice() {
        [t, Seg::Index(_)] if key(t, "transports") => Tagged::Transport,
        [t, Seg::Index(_), p, Seg::Key(_)] if key(t, "transports") && key(p, "paths") => {
            Tagged::WebPath
        }
        [t, Seg::Index(_), w, p, Seg::Key(_)]
            if key(t, "transports") && key(w, "web") && key(p, "paths") =>
        {
            Tagged::WebPath
        }
        [t, Seg::Index(_), e] if key(t, "transports") && key(e, "endpoint") => Tagged::Endpoint,
        [a, e] if key(a, "admin") && key(e, "endpoint") => Tagged::Endpoint,
        [t, Seg::Index(_), a, Seg::Key(method)] if key(t, "transports") && key(a, "auth") => {
            Tagged::Auth(method)
        }
        _ => return None,
    };
    let node = lookup(root, path)?;
    if let Tagged::Auth(method) = tagged {
        if let Some(x) = super::crossbar::known::explain_authmethod(method) {
            return Some(Found {
                span: Some(node.span()),
                message: format!(
                    "authentication method {method:?} is a Crossbar.io method shardwamp does not offer: {} {}",
                    x.why, x.todo
                ),
            });
        }
    }
    let DeValue::Table(table) = node.get_ref() else {
        return None;
    };
    let Some(tag) = table.get("type") else {
        return Some(Found {
            span: Some(node.span()),
            message: "missing field `type`".to_owned(),
        });
    };
    let DeValue::String(name) = tag.get_ref() else {
        return Some(Found {
            span: Some(tag.span()),
            message: format!("expected a string, found {}", tag.get_ref().type_str()),
        });
    };
    let mut rest = table.clone();
    rest.remove("type");
    let rest = Spanned::new(node.span(), rest);
    let unknown = |what: &str, expected: &str| Found {
        span: Some(tag.span()),
        message: format!(
            "unknown {what} type {:?}, expected {expected}",
            name.as_ref()
        ),
    };
    match (tagged, name.as_ref()) {
        (Tagged::Transport, "websocket") => check::<WebSocketTransport>(rest),
        (Tagged::Transport, "rawsocket") => check::<RawSocketTransport>(rest),
        (Tagged::Transport, "web") => check::<crate::config::web::WebTransport>(rest),
        (Tagged::Transport, "universal") => check::<crate::config::web::UniversalTransport>(rest),
        (Tagged::Transport, _) => Some(unknown(
            "transport",
            "\"websocket\", \"rawsocket\", \"web\" or \"universal\"",
        )),
        (Tagged::WebPath, "websocket") => check::<crate::config::web::WebSocketPath>(rest),
        (Tagged::WebPath, "publisher" | "caller" | "webhook") => {
            check::<crate::config::web::BridgePath>(rest)
        }
        (Tagged::WebPath, _) => Some(unknown(
            "web service",
            "\"websocket\", \"publisher\", \"caller\" or \"webhook\"",
        )),
        (Tagged::Endpoint, "tcp") => check::<TcpEndpoint>(rest),
        (Tagged::Endpoint, "unix") => check::<UnixEndpoint>(rest),
        (Tagged::Endpoint, _) => Some(unknown("endpoint", "\"tcp\" or \"unix\"")),
        (Tagged::Auth(_), "dynamic") => check::<DynamicAuth>(rest),
        (Tagged::Auth("anonymous"), "static") => check::<AnonymousStatic>(rest),
        (Tagged::Auth("ticket"), "static") => check::<TicketStatic>(rest),
        (Tagged::Auth("wampcra"), "static") => check::<WampCraStatic>(rest),
        (Tagged::Auth("cryptosign"), "static") => check::<CryptosignStatic>(rest),
        (Tagged::Auth(_), "static") => None,
        (Tagged::Auth(_), _) => Some(unknown("auth", "\"static\" or \"dynamic\"")),
    }
}

/// The error deserializing `table` as a `T` gives, if any.
fn check<T: DeserializeOwned>(table: Spanned<DeTable<'_>>) -> Option<Found> {
    T::deserialize(toml::de::Deserializer::from(table))
        .err()
        .map(|e| Found::from_toml(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(s: &str) -> Result<String, SubstError> {
        let lines = LineIndex::new("");
        let env = |n: &str| match n {
            "A" => Some("alpha".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let mut sub = Substitution {
            env: &env,
            lines: &lines,
            values: Vec::new(),
        };
        sub.expand(s)
    }

    #[test]
    fn expands_variables_and_escapes() {
        let ok = |s: &str| match expand(s) {
            Ok(v) => v,
            Err(_) => panic!("{s} failed"),
        };
        assert_eq!(ok("${A}"), "alpha");
        assert_eq!(ok("x-${A}-${A}-y"), "x-alpha-alpha-y");
        assert_eq!(ok("$${A}"), "${A}");
        assert_eq!(ok("$$${A}"), "$${A}");
        assert_eq!(ok("$A $ $$ ${EMPTY}."), "$A $ $$ .");
        assert!(matches!(expand("${B}"), Err(SubstError::Missing(n)) if n == "B"));
        assert!(matches!(expand("${A"), Err(SubstError::Unterminated)));
        assert!(matches!(expand("${}"), Err(SubstError::BadName(_))));
        assert!(matches!(expand("${1X}"), Err(SubstError::BadName(_))));
        assert!(matches!(expand("${A-B}"), Err(SubstError::BadName(_))));
    }

    #[test]
    fn lines_and_columns() {
        let lines = LineIndex::new("ab\ncdé\n\nx");
        assert_eq!(lines.location(0), Location { line: 1, column: 1 });
        assert_eq!(lines.location(2), Location { line: 1, column: 3 });
        assert_eq!(lines.location(3), Location { line: 2, column: 1 });
        // 'é' is two bytes but one column.
        assert_eq!(lines.location(7), Location { line: 2, column: 4 });
        assert_eq!(lines.location(8), Location { line: 3, column: 1 });
        assert_eq!(lines.location(9), Location { line: 4, column: 1 });
        assert_eq!(lines.location(99), Location { line: 4, column: 2 });
    }

    #[test]
    fn paths_display_like_toml_keys() {
        let p = KeyPath::root("transports")
            .index(0)
            .key("auth")
            .key("ticket")
            .key("principals")
            .key("joe@example.com")
            .key("ticket");
        assert_eq!(
            p.to_string(),
            r#"transports[0].auth.ticket.principals."joe@example.com".ticket"#
        );
        assert_eq!(KeyPath::default().to_string(), "");
    }

    #[test]
    fn redaction() {
        let values = vec!["s3cr3t".to_owned(), "ab".to_owned()];
        let m = redact(
            r#"invalid type: string "s3cr3t", expected u32; `ab` and cab s3cr3t"#,
            &values,
        );
        assert!(!m.contains("s3cr3t"));
        assert!(!m.contains("`ab`"));
        assert!(m.contains("cab"));
    }
}
