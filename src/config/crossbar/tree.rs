//! A Crossbar.io config file (JSON or YAML) as a tree whose every key and
//! value knows its line, so that what the importer says about a key can
//! point at it.
//!
//! YAML is parsed with yaml-rust2's event parser, which also reads JSON (a
//! subset of YAML 1.2) once serde_json has said it is valid JSON; JSON
//! that the YAML parser refuses (a tab used as indentation, say) is read
//! with serde_json instead, without lines.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// A value and the line it starts on (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// The line the value starts on, 0 when unknown.
    pub line: usize,
    /// The value.
    pub value: Value,
}

/// A JSON-like value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    /// Keys in file order, each with the line it is on.
    Map(Vec<(String, usize, Node)>),
}

impl Node {
    /// The entries of a map (empty for anything else).
    pub fn entries(&self) -> &[(String, usize, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }

    /// The value under `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, n)| n)
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a list (empty for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::List(l) => l,
            _ => &[],
        }
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "object",
        }
    }
}

/// Which syntax a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `config.json`.
    Json,
    /// `config.yaml`.
    Yaml,
}

impl Format {
    /// The format a file name says (`.yaml`/`.yml` → YAML, else JSON).
    pub fn from_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml") => {
                Format::Yaml
            }
            _ => Format::Json,
        }
    }
}

/// Parses `text`; the error says where the syntax is wrong.
pub(crate) fn parse(text: &str, format: Format) -> Result<Node, String> {
    match format {
        Format::Yaml => parse_yaml(text),
        Format::Json => {
            // JSON's own parser decides what is valid JSON (YAML would take
            // more); the YAML parser then gives the lines.
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                format!(
                    "line {}, column {}: invalid JSON: {e}",
                    e.line(),
                    e.column()
                )
            })?;
            match parse_yaml(text) {
                Ok(node) => Ok(node),
                Err(_) => Ok(from_json(json)),
            }
        }
    }
}

fn from_json(v: serde_json::Value) -> Node {
    let value = match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.into_iter().map(|(k, v)| (k, 0, from_json(v))).collect())
        }
    };
    Node { line: 0, value }
}

/// A collection being built.
enum Open {
    List(usize, usize, Vec<Node>),
    /// Anchor, line, entries, and the key waiting for its value.
    Map(
        usize,
        usize,
        Vec<(String, usize, Node)>,
        Option<(String, usize)>,
    ),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<String>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::List(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, pending)) => match pending.take() {
                None => match node.value {
                    Value::Str(s) => *pending = Some((s, node.line)),
                    Value::Int(i) => *pending = Some((i.to_string(), node.line)),
                    Value::Bool(b) => *pending = Some((b.to_string(), node.line)),
                    Value::Null => *pending = Some(("null".into(), node.line)),
                    _ => {
                        self.error.get_or_insert_with(|| {
                            format!(
                                "line {}: a key must be a string, found a {}",
                                node.line,
                                node.kind()
                            )
                        });
                        *pending = Some((String::new(), node.line));
                    }
                },
                Some((key, line)) => entries.push((key, line, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain {
                    match Yaml::from_str(&text) {
                        Yaml::Integer(i) => Value::Int(i),
                        Yaml::Real(r) => match r.parse::<f64>() {
                            Ok(f) => Value::Float(f),
                            Err(_) => Value::Str(text),
                        },
                        Yaml::Boolean(b) => Value::Bool(b),
                        Yaml::Null => Value::Null,
                        _ => Value::Str(text),
                    }
                } else {
                    Value::Str(text)
                };
                self.push(Node { line, value }, anchor);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => n.clone(),
                    None => Node {
                        line,
                        value: Value::Null,
                    },
                };
                self.push(node, 0);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Open::List(anchor, line, Vec::new()))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(anchor, line, Vec::new(), None))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, node) = match self.stack.pop() {
                    Some(Open::List(anchor, line, items)) => (
                        anchor,
                        Node {
                            line,
                            value: Value::List(items),
                        },
                    ),
                    Some(Open::Map(anchor, line, entries, _)) => (
                        anchor,
                        Node {
                            line,
                            value: Value::Map(entries),
                        },
                    ),
                    None => return,
                };
                self.push(node, anchor);
            }
            _ => {}
        }
    }
}

fn parse_yaml(text: &str) -> Result<Node, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| {
        format!(
            "line {}, column {}: invalid YAML: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        )
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    builder.root.ok_or_else(|| "the file is empty".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_give_the_same_tree_with_lines() {
        let json = "{\n  \"version\": 2,\n  \"workers\": [\n    {\"type\": \"router\", \"ratio\": 1.5, \"on\": true, \"x\": null}\n  ]\n}\n";
        let yaml =
            "version: 2\nworkers:\n  - type: router\n    ratio: 1.5\n    on: true\n    x: null\n";
        let j = parse(json, Format::Json).unwrap();
        let y = parse(yaml, Format::Yaml).unwrap();
        let jw = &j.get("workers").unwrap().items()[0];
        let yw = &y.get("workers").unwrap().items()[0];
        assert_eq!(jw.get("type").unwrap().as_str(), Some("router"));
        assert_eq!(yw.get("ratio").unwrap().value, Value::Float(1.5));
        assert_eq!(jw.get("on").unwrap().value, Value::Bool(true));
        assert_eq!(yw.get("x").unwrap().value, Value::Null);
        assert_eq!(j.get("version").unwrap().value, Value::Int(2));
        // Lines point at the keys.
        assert_eq!(j.entries()[1].1, 3);
        assert_eq!(yw.entries()[1].1, 4);
        assert_eq!(jw.line, 4);
    }

    #[test]
    fn quoted_yaml_scalars_stay_strings() {
        let y = parse("a: '8080'\nb: 8080\n", Format::Yaml).unwrap();
        assert_eq!(y.get("a").unwrap().value, Value::Str("8080".into()));
        assert_eq!(y.get("b").unwrap().value, Value::Int(8080));
    }

    #[test]
    fn json_the_yaml_parser_refuses_is_read_without_lines() {
        let json = "{\n\t\"a\": 1,\n\t\"b\": [1, 2]\n}";
        let j = parse(json, Format::Json).unwrap();
        assert_eq!(j.get("b").unwrap().items().len(), 2);
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = parse("{\"a\": }", Format::Json).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("a: [1, 2\nb: 3\n", Format::Yaml).unwrap_err();
        assert!(e.contains("invalid YAML"), "{e}");
    }

    #[test]
    fn anchors_and_aliases_are_resolved() {
        let y = parse("a: &x {k: 1}\nb: *x\n", Format::Yaml).unwrap();
        assert_eq!(y.get("b").unwrap().get("k").unwrap().value, Value::Int(1));
    }
}
