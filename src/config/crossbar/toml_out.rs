//! A TOML document with comments, written by hand-built tables: the
//! importer's output. `toml` writes values; this writes the layout (scalars
//! first, then `[tables]` and `[[arrays of tables]]`) and the comments that
//! explain what was converted, changed or left out.

/// A table: comments under its header, then its entries.
#[derive(Debug, Default, Clone)]
pub(crate) struct Table {
    /// Comment lines written right under the table's header.
    pub comments: Vec<String>,
    /// The entries, in order.
    pub entries: Vec<Entry>,
}

/// One key of a table, with the comment lines written above it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub item: Item,
    pub comments: Vec<String>,
}

/// What a key holds.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// A value written on the key's line (tables inline).
    Value(toml::Value),
    /// A `[table]`.
    Table(Table),
    /// An `[[array of tables]]`.
    Array(Vec<Table>),
}

impl Table {
    /// Adds `key = value`.
    pub fn set(&mut self, key: &str, value: toml::Value) {
        self.entries.push(Entry {
            key: key.to_owned(),
            item: Item::Value(value),
            comments: Vec::new(),
        });
    }

    /// Adds `key = value` with comment lines above it.
    pub fn set_commented(&mut self, key: &str, value: toml::Value, comments: Vec<String>) {
        self.entries.push(Entry {
            key: key.to_owned(),
            item: Item::Value(value),
            comments,
        });
    }

    /// Adds a `[key]` sub-table.
    pub fn table(&mut self, key: &str, table: Table) {
        self.entries.push(Entry {
            key: key.to_owned(),
            item: Item::Table(table),
            comments: Vec::new(),
        });
    }

    /// Adds a `[[key]]` array of tables.
    pub fn array(&mut self, key: &str, tables: Vec<Table>) {
        self.entries.push(Entry {
            key: key.to_owned(),
            item: Item::Array(tables),
            comments: Vec::new(),
        });
    }

    /// Adds a comment line (written among the table's values, in order).
    pub fn comment(&mut self, line: impl Into<String>) {
        self.comments.push(line.into());
    }

    /// Whether the table has the key.
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Renders the table as a document (it is the root).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_body(&mut out, "");
        out
    }

    fn render_body(&self, out: &mut String, path: &str) {
        for c in &self.comments {
            push_comment(out, c);
        }
        for e in &self.entries {
            if let Item::Value(v) = &e.item {
                for c in &e.comments {
                    push_comment(out, c);
                }
                out.push_str(&key(&e.key));
                out.push_str(" = ");
                out.push_str(&inline(v));
                out.push('\n');
            }
        }
        for e in &self.entries {
            let sub = if path.is_empty() {
                key(&e.key)
            } else {
                format!("{path}.{}", key(&e.key))
            };
            match &e.item {
                Item::Value(_) => {}
                Item::Table(t) => {
                    out.push('\n');
                    for c in &e.comments {
                        push_comment(out, c);
                    }
                    out.push_str(&format!("[{sub}]\n"));
                    t.render_body(out, &sub);
                }
                Item::Array(ts) => {
                    for c in &e.comments {
                        out.push('\n');
                        push_comment(out, c);
                    }
                    for t in ts {
                        out.push('\n');
                        out.push_str(&format!("[[{sub}]]\n"));
                        t.render_body(out, &sub);
                    }
                }
            }
        }
    }
}

fn push_comment(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if text.is_empty() {
        out.push_str("#\n");
    }
}

/// A key, bare when it can be, else quoted.
pub(crate) fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        toml::Value::String(k.to_owned()).to_string()
    }
}

/// A value on one line: tables as inline tables.
pub(crate) fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            if t.is_empty() {
                return "{}".to_owned();
            }
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        toml::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_values_then_tables_with_comments_and_parses_back() {
        let mut root = Table::default();
        root.comment("converted");
        let mut realm = Table::default();
        realm.set("name", toml::Value::String("realm1".into()));
        let mut role = Table::default();
        role.set_commented(
            "name",
            toml::Value::String("anon \"x\"".into()),
            vec!["a role".into()],
        );
        let mut allow = toml::Table::new();
        allow.insert("call".into(), toml::Value::Boolean(true));
        role.set("allow", toml::Value::Table(allow));
        realm.array("roles", vec![role]);
        root.array("realms", vec![realm]);
        let mut router = Table::default();
        router.set("shards", toml::Value::String("auto".into()));
        router.set("com.example", toml::Value::Integer(1));
        root.table("router", router);
        let text = root.render();
        assert!(text.starts_with("# converted\n"), "{text}");
        assert!(
            text.contains("[[realms.roles]]\n# a role\nname = "),
            "{text}"
        );
        assert!(text.contains("\"com.example\" = 1"), "{text}");
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(
            parsed["realms"][0]["roles"][0]["allow"]["call"].as_bool(),
            Some(true)
        );
        assert_eq!(
            parsed["realms"][0]["roles"][0]["name"].as_str(),
            Some("anon \"x\"")
        );
    }
}
