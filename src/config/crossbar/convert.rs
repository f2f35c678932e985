//! The conversion itself: a Crossbar.io router worker (as a [`Node`] tree)
//! becomes a commented TOML [`Table`], key by key. Every key of the worker
//! is either written (as is, or changed, with a comment saying how) or left
//! out with a comment and a [`Note`] that name the key, its line, why, and
//! what to do; nothing is dropped silently.

use std::collections::BTreeSet;

use super::toml_out::Table;
use super::tree::{Node, Value};
use super::{known, Note, Verdict};

/// What a conversion collects besides the tables.
#[derive(Default)]
pub(super) struct Cx {
    pub notes: Vec<Note>,
    /// Environment variables the converted strings read.
    pub env: BTreeSet<String>,
}

impl Cx {
    fn note(&mut self, verdict: Verdict, path: &str, line: usize, message: String) -> String {
        let at = if line > 0 {
            format!("{path} (line {line})")
        } else {
            path.to_owned()
        };
        self.notes.push(Note {
            path: path.to_owned(),
            line,
            verdict,
            message: message.clone(),
        });
        let tag = match verdict {
            Verdict::Changed => "changed",
            Verdict::LeftOut => "left out",
        };
        format!("[{tag}] {at}: {message}")
    }

    /// Leaves `key` out of `table`, with a comment holding the original value.
    fn leave_out(&mut self, table: &mut Table, path: &str, line: usize, node: &Node, why: String) {
        let comment = self.note(Verdict::LeftOut, path, line, why);
        table.comment(comment);
        if let Some(text) = original(node) {
            let key = path.rsplit('.').next().unwrap_or(path);
            table.comment(format!("  {key} = {text}"));
        }
    }

    /// Leaves out a key the table has no place for: explained when it is a
    /// key Crossbar.io knows, else reported as unknown.
    fn unknown(&mut self, table: &mut Table, path: &str, key: &str, line: usize, node: &Node) {
        let why = match known::explain(key) {
            Some(k) => format!("{} {}", k.why, k.todo),
            None => format!(
                "not a key shardwamp knows here (nor one Crossbar.io documents in this place); check it against Crossbar.io's docs and {}",
                known::DOCS
            ),
        };
        self.leave_out(table, &format!("{path}.{key}"), line, node, why);
    }

    /// A string value: `$NAME` and `${NAME}` (Crossbar.io reads both from the
    /// environment) become `${NAME}`; other `${` are escaped as `$${`.
    fn string(&mut self, s: &str) -> toml::Value {
        if let Some(name) = env_name(s) {
            self.env.insert(name.to_owned());
            return toml::Value::String(format!("${{{name}}}"));
        }
        toml::Value::String(s.replace("${", "$${"))
    }

    /// Any value as TOML (nulls inside lists and tables are dropped).
    fn value(&mut self, node: &Node) -> Option<toml::Value> {
        Some(match &node.value {
            Value::Null => return None,
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Int(i) => toml::Value::Integer(*i),
            Value::Float(f) => toml::Value::Float(*f),
            Value::Str(s) => self.string(s),
            Value::List(l) => toml::Value::Array(l.iter().filter_map(|n| self.value(n)).collect()),
            Value::Map(m) => {
                let mut t = toml::Table::new();
                for (k, _, v) in m {
                    if let Some(v) = self.value(v) {
                        t.insert(k.clone(), v);
                    }
                }
                toml::Value::Table(t)
            }
        })
    }

    /// Copies `key` into `table` as it is.
    fn copy(&mut self, table: &mut Table, key: &str, node: &Node) {
        if let Some(v) = self.value(node) {
            table.set(key, v);
        }
    }
}

/// `$NAME` or `${NAME}` as a whole string: the variable's name.
fn env_name(s: &str) -> Option<&str> {
    let name = s
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| s.strip_prefix('$'))?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some(name)
}

/// A short rendering of a value left out, for the comment under the note.
fn original(node: &Node) -> Option<String> {
    let text = match &node.value {
        Value::Map(_) | Value::List(_) => serde_json::to_string(&to_json(node)).ok()?,
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => serde_json::to_string(s).ok()?,
    };
    (text.len() <= 200).then_some(text)
}

fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Value::from(*f),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, _, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

// ---------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------

/// Converts router worker `w` (at `path`) into the document's root table.
pub(super) fn worker(cx: &mut Cx, w: &Node, path: &str) -> Table {
    let mut root = Table::default();
    let mut router = Table::default();
    router.set("shards", toml::Value::String("auto".into()));
    let mut realms = Vec::new();
    let mut transports = Vec::new();
    let mut components = Vec::new();
    for (key, line, node) in w.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "type" => {}
            "id" => match node.as_str() {
                Some(id) => router.set_commented(
                    "id",
                    toml::Value::String(id.to_owned()),
                    vec![format!("the router worker's id ({at}, line {line})")],
                ),
                None => cx.leave_out(&mut router, &at, *line, node, "must be a string".into()),
            },
            "options" => worker_options(cx, node, &at, &mut router),
            "realms" => {
                for (i, r) in node.items().iter().enumerate() {
                    realms.push(realm(cx, r, &format!("{at}[{i}]")));
                }
            }
            "transports" => {
                for (i, t) in node.items().iter().enumerate() {
                    if let Some(t) = transport(cx, t, &format!("{at}[{i}]"), &mut root) {
                        transports.push(t);
                    }
                }
            }
            "components" => {
                for (i, c) in node.items().iter().enumerate() {
                    if let Some(c) = component(cx, c, &format!("{at}[{i}]"), &mut root) {
                        components.push(c);
                    }
                }
            }
            _ => cx.unknown(&mut root, path, key, *line, node),
        }
    }
    root.table("router", router);
    root.array("realms", realms);
    if !transports.is_empty() {
        root.array("transports", transports);
    } else {
        root.comment(
            "No transport was converted: the router serves no client until one is added (see `shardwamp init`).",
        );
    }
    if !components.is_empty() {
        root.array("components", components);
    }
    root
}

fn worker_options(cx: &mut Cx, options: &Node, path: &str, router: &mut Table) {
    for (key, line, node) in options.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "cpu_affinity" => {
                router.set_commented(
                    "cpus",
                    cx.value(node).unwrap_or(toml::Value::Array(Vec::new())),
                    vec![format!("from {at} (line {line}): one shard per listed CPU")],
                );
            }
            _ => match known::explain(key) {
                Some(k) => {
                    let why = format!("{} {}", k.why, k.todo);
                    cx.leave_out(router, &at, *line, node, why)
                }
                None => cx.unknown(router, path, key, *line, node),
            },
        }
    }
}

// ---------------------------------------------------------------------------
// Realms, roles, permissions, stores
// ---------------------------------------------------------------------------

fn realm(cx: &mut Cx, r: &Node, path: &str) -> Table {
    let mut t = Table::default();
    let mut roles = Vec::new();
    let mut rlinks = Vec::new();
    for (key, line, node) in r.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "name" => cx.copy(&mut t, "name", node),
            "options" => {
                let mut o = Table::default();
                for (k, l, n) in node.entries() {
                    match k.as_str() {
                        "enable_meta_api"
                        | "bridge_meta_api"
                        | "event_dispatching_chunk_size"
                        | "uri_check" => cx.copy(&mut o, k, n),
                        _ => cx.unknown(&mut o, &at, k, *l, n),
                    }
                }
                t.table("options", o);
            }
            "roles" => {
                for (i, role_node) in node.items().iter().enumerate() {
                    roles.push(role(cx, role_node, &format!("{at}[{i}]")));
                }
            }
            "store" => {
                let s = store(cx, node, &at);
                t.table("store", s);
            }
            "rlinks" => {
                for (i, l) in node.items().iter().enumerate() {
                    rlinks.push(rlink(cx, l, &format!("{at}[{i}]")));
                }
            }
            _ => cx.unknown(&mut t, path, key, *line, node),
        }
    }
    if !roles.is_empty() {
        t.array("roles", roles);
    }
    if !rlinks.is_empty() {
        t.array("rlinks", rlinks);
    }
    t
}

/// A router-to-router link: Crossbar.io's keys as they are (its transport's
/// connecting `tls` too), and a note says that Crossbar.io's links
/// authenticate with the node's cryptosign key, which the file does not
/// name (docs/links.md).
fn rlink(cx: &mut Cx, l: &Node, path: &str) -> Table {
    let mut t = Table::default();
    for (key, line, node) in l.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "id"
            | "realm"
            | "authid"
            | "exclude_authid"
            | "forward_local_events"
            | "forward_remote_events"
            | "forward_local_invocations"
            | "forward_remote_invocations" => cx.copy(&mut t, key, node),
            "transport" => {
                let mut tt = Table::default();
                for (k, kl, n) in node.entries() {
                    match k.as_str() {
                        "type" | "url" | "serializers" | "serializer" => cx.copy(&mut tt, k, n),
                        "endpoint" => {
                            let mut e = Table::default();
                            for (ek, el, en) in n.entries() {
                                match ek.as_str() {
                                    "type" | "host" | "port" | "path" | "version" | "timeout" => {
                                        cx.copy(&mut e, ek, en)
                                    }
                                    "tls" => {
                                        // Crossbar.io's connecting TLS keys, as they are.
                                        let mut tls = Table::default();
                                        for (tk, tl, tn) in en.entries() {
                                            match tk.as_str() {
                                                "hostname" | "ca_certificates" | "certificate"
                                                | "key" => cx.copy(&mut tls, tk, tn),
                                                _ => cx.unknown(
                                                    &mut tls,
                                                    &format!("{at}.endpoint.tls"),
                                                    tk,
                                                    *tl,
                                                    tn,
                                                ),
                                            }
                                        }
                                        e.table("tls", tls);
                                    }
                                    _ => cx.unknown(&mut e, &format!("{at}.endpoint"), ek, *el, en),
                                }
                            }
                            tt.table("endpoint", e);
                        }
                        _ => cx.unknown(&mut tt, &at, k, *kl, n),
                    }
                }
                t.table("transport", tt);
            }
            _ => cx.unknown(&mut t, path, key, *line, node),
        }
    }
    let c = cx.note(
        Verdict::Changed,
        path,
        l.line,
        "Crossbar.io's links authenticate with cryptosign and the node's key (.crossbar/key.priv), which this file does not name. The link is written to join anonymously: to sign as Crossbar.io does, add `authentication = { key = \"PATH/.crossbar/key.priv\" }` and list the key's public half under the other router's cryptosign principals (role `rlink`); or give `authid` and a `ticket` or WAMP-CRA `secret` (docs/links.md).".into(),
    );
    t.comment(c);
    t
}

fn role(cx: &mut Cx, r: &Node, path: &str) -> Table {
    let mut t = Table::default();
    let has_permissions = r.get("permissions").is_some_and(|p| !p.items().is_empty());
    // (uri, effective match) of each permission, to find the ones a later one replaces.
    let mut permissions: Vec<(Option<(String, String)>, Table)> = Vec::new();
    for (key, line, node) in r.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "allow-by-default" if has_permissions => cx.leave_out(
                &mut t,
                &at,
                *line,
                node,
                "Crossbar.io ignores allow-by-default on a role with permissions (they deny what they do not match), so it is left out to keep the role as it was. To allow by default, add a permission {uri = \"\", match = \"prefix\", allow = {...}}.".into(),
            ),
            "name" | "authorizer" | "allow-by-default" => cx.copy(&mut t, key, node),
            "permissions" => {
                for (i, p) in node.items().iter().enumerate() {
                    permissions.push((pattern_of(p), permission(cx, p, &format!("{at}[{i}]"))));
                }
            }
            _ => cx.unknown(&mut t, path, key, *line, node),
        }
    }
    // Crossbar.io keeps the last permission for a pattern (a trie
    // assignment); shardwamp refuses two, so the earlier ones are left out.
    let permissions_node = r.get("permissions");
    let mut kept = Vec::new();
    for (i, (pattern, table)) in permissions.iter().enumerate() {
        let replaced = pattern.is_some()
            && permissions[i + 1..]
                .iter()
                .any(|(later, _)| later == pattern);
        if replaced {
            let node = permissions_node.map(|n| &n.items()[i]);
            let line = node.map(|n| n.line).unwrap_or(0);
            let why = "a later permission has the same URI and match; Crossbar.io applies only the last one, so this one is left out.".to_owned();
            if let Some(n) = node {
                cx.leave_out(&mut t, &format!("{path}.permissions[{i}]"), line, n, why);
            }
        } else {
            kept.push(table.clone());
        }
    }
    if !kept.is_empty() {
        t.array("permissions", kept);
    }
    t
}

/// A permission's pattern as Crossbar.io keys it: the URI (a trailing `*`
/// without `match` meaning a prefix) and the match policy.
fn pattern_of(p: &Node) -> Option<(String, String)> {
    let uri = p.get("uri")?.as_str()?;
    Some(match p.get("match").and_then(Node::as_str) {
        Some(m) => (uri.to_owned(), m.to_owned()),
        None => match uri.strip_suffix('*') {
            Some(prefix) => (prefix.to_owned(), "prefix".to_owned()),
            None => (uri.to_owned(), "exact".to_owned()),
        },
    })
}

/// The actions of a permission; Crossbar.io's old flat form (`"call": true`
/// beside `uri`) becomes `allow`.
const ACTIONS: [&str; 4] = ["call", "register", "publish", "subscribe"];

fn permission(cx: &mut Cx, p: &Node, path: &str) -> Table {
    let mut t = Table::default();
    let mut flat = toml::Table::new();
    let mut flat_line = 0;
    for (key, line, node) in p.entries() {
        match key.as_str() {
            "uri" | "match" | "allow" | "cache" => cx.copy(&mut t, key, node),
            "disclose" => match &node.value {
                // Old form: one flag for both.
                Value::Bool(b) => {
                    let mut d = toml::Table::new();
                    d.insert("caller".into(), toml::Value::Boolean(*b));
                    d.insert("publisher".into(), toml::Value::Boolean(*b));
                    let c = cx.note(
                        Verdict::Changed,
                        &format!("{path}.disclose"),
                        *line,
                        "a boolean `disclose` is written as { caller, publisher }".into(),
                    );
                    t.set_commented("disclose", toml::Value::Table(d), vec![c]);
                }
                _ => cx.copy(&mut t, key, node),
            },
            a if ACTIONS.contains(&a) => {
                if let Some(v) = cx.value(node) {
                    flat.insert(a.to_owned(), v);
                    flat_line = *line;
                }
            }
            _ => cx.unknown(&mut t, path, key, *line, node),
        }
    }
    if !flat.is_empty() {
        let c = cx.note(
            Verdict::Changed,
            path,
            flat_line,
            "the old flat actions (`\"call\": true` beside `uri`) are written as `allow`".into(),
        );
        t.set_commented("allow", toml::Value::Table(flat), vec![c]);
    }
    t
}

fn store(cx: &mut Cx, s: &Node, path: &str) -> Table {
    let mut t = Table::default();
    let mut history = Vec::new();
    for (key, line, node) in s.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "type" => match node.as_str() {
                Some("memory") => cx.copy(&mut t, "type", node),
                _ => {
                    let c = cx.note(
                        Verdict::Changed,
                        &at,
                        *line,
                        format!(
                            "shardwamp keeps event history in memory only (the type was {}): history is lost on restart",
                            original(node).unwrap_or_default()
                        ),
                    );
                    t.set_commented("type", toml::Value::String("memory".into()), vec![c]);
                }
            },
            "limit" => cx.copy(&mut t, "limit", node),
            "path" | "maxsize" | "buffer-flush" => cx.leave_out(
                &mut t,
                &at,
                *line,
                node,
                "a database store's setting (Crossbar.io's cfxdb/LMDB store); shardwamp keeps event history in memory.".into(),
            ),
            "event-history" => {
                for (i, h) in node.items().iter().enumerate() {
                    let mut e = Table::default();
                    let hp = format!("{at}[{i}]");
                    for (k, l, n) in h.entries() {
                        match k.as_str() {
                            "uri" | "match" | "limit" => cx.copy(&mut e, k, n),
                            _ => cx.unknown(&mut e, &hp, k, *l, n),
                        }
                    }
                    history.push(e);
                }
            }
            _ => cx.unknown(&mut t, path, key, *line, node),
        }
    }
    if !history.is_empty() {
        t.array("event-history", history);
    }
    t
}

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

/// A listening transport; `None` when it was left out (with its notes on `root`).
fn transport(cx: &mut Cx, t: &Node, path: &str, root: &mut Table) -> Option<Table> {
    let kind = t.get("type").and_then(Node::as_str).unwrap_or("");
    match kind {
        "websocket" | "rawsocket" => Some(listening(cx, t, path, kind, None)),
        "web" => web(cx, t, path, root),
        "universal" => universal(cx, t, path, root),
        other => {
            let why = match known::explain_transport(other) {
                Some(k) => format!("{} {}", k.why, k.todo),
                None if t.get("type").is_none() => {
                    "a transport without `type` (Crossbar.io refuses it too); give it one."
                        .to_owned()
                }
                None => format!(
                    "unknown transport type {}; shardwamp serves \"websocket\", \"rawsocket\", \"web\" and \"universal\"",
                    original(t.get("type").unwrap_or(t)).unwrap_or_default()
                ),
            };
            cx.leave_out(root, path, t.line, t, why);
            None
        }
    }
}

/// A WebSocket or RawSocket transport. `ws` is a WebSocket service taken
/// from a web or universal transport: its keys (`serializers`, `options`,
/// `auth`, ...) and its `url`, over the outer transport's `id` and `endpoint`.
fn listening(
    cx: &mut Cx,
    t: &Node,
    path: &str,
    kind: &str,
    ws: Option<(&Node, &str, String)>,
) -> Table {
    let mut out = Table::default();
    out.set("type", toml::Value::String(kind.to_owned()));
    // The outer transport's id and endpoint.
    for (key, line, node) in t.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "type" => {}
            "id" => cx.copy(&mut out, "id", node),
            "endpoint" => {
                let e = endpoint(cx, node, &at);
                out.table("endpoint", e);
            }
            _ if ws.is_some() => {} // the web/universal transport's own keys are handled by its caller
            _ => service_key(cx, &mut out, path, key, *line, node, kind, false),
        }
    }
    if let Some((service, url, service_path)) = ws {
        out.set("url", toml::Value::String(url.to_owned()));
        for (key, line, node) in service.entries() {
            match key.as_str() {
                "type" => {}
                _ => service_key(cx, &mut out, &service_path, key, *line, node, kind, true),
            }
        }
    }
    move_max_message_size(&mut out);
    out
}

/// Where `service_key` parks a RawSocket's `max_message_size` until
/// `listening` moves it under `options`.
const MOVED_MAX_MESSAGE_SIZE: &str = "\u{0}max_message_size";

/// Moves a parked RawSocket `max_message_size` under `options`.
fn move_max_message_size(out: &mut Table) {
    use super::toml_out::Item;
    let Some(i) = out
        .entries
        .iter()
        .position(|e| e.key == MOVED_MAX_MESSAGE_SIZE)
    else {
        return;
    };
    let entry = out.entries.remove(i);
    let Item::Value(v) = entry.item else { return };
    match out.entries.iter_mut().find(|e| e.key == "options") {
        Some(e) => {
            if let Item::Table(t) = &mut e.item {
                if !t.has("max_message_size") {
                    t.set("max_message_size", v);
                }
            }
        }
        None => {
            let mut t = Table::default();
            t.set("max_message_size", v);
            out.table("options", t);
        }
    }
}

/// One key of a WebSocket or RawSocket service; `in_paths` when the service
/// is a web or universal transport's path (whose key gave the URL path).
#[allow(clippy::too_many_arguments)]
fn service_key(
    cx: &mut Cx,
    out: &mut Table,
    path: &str,
    key: &str,
    line: usize,
    node: &Node,
    kind: &str,
    in_paths: bool,
) {
    let at = format!("{path}.{key}");
    match key {
        "url" if kind == "websocket" && in_paths => cx.leave_out(
            out,
            &at,
            line,
            node,
            "the service's public URL, which Crossbar.io only reports; the path it is served on is its key in `paths`.".into(),
        ),
        "url" if kind == "websocket" => match node.as_str() {
            Some(u) if u.starts_with('/') => cx.copy(out, "url", node),
            Some(u) => {
                // Crossbar.io takes the server's whole URL here; shardwamp the path it serves.
                let after_scheme = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
                let path_part = after_scheme
                    .find('/')
                    .map(|i| &after_scheme[i..])
                    .unwrap_or("/");
                let path_part = path_part.split(['?', '#']).next().unwrap_or("/");
                let c = cx.note(
                    Verdict::Changed,
                    &at,
                    line,
                    format!("Crossbar.io's server URL {u:?}: shardwamp takes the path it serves, {path_part:?}"),
                );
                out.set_commented("url", cx.string(path_part), vec![c]);
            }
            None => cx.leave_out(out, &at, line, node, "must be a string".into()),
        },
        "serializers" => {
            let mut kept = Vec::new();
            for s in node.items() {
                match s.as_str() {
                    Some("json" | "msgpack" | "cbor") => kept.push(toml::Value::String(s.as_str().unwrap_or("").to_owned())),
                    Some(other) => {
                        let why = match known::explain_serializer(other) {
                            Some(k) => format!("{} {}", k.why, k.todo),
                            None => format!("unknown serializer {other:?}; shardwamp speaks json, msgpack and cbor"),
                        };
                        let c = cx.note(Verdict::LeftOut, &at, s.line.max(line), why);
                        out.comment(c);
                    }
                    None => {}
                }
            }
            if kept.is_empty() {
                let c = cx.note(
                    Verdict::Changed,
                    &at,
                    line,
                    "no serializer shardwamp speaks was listed: json, msgpack and cbor are offered".into(),
                );
                out.comment(c);
            } else {
                out.set("serializers", toml::Value::Array(kept));
            }
        }
        "options" => {
            let o = options(cx, node, &at, kind);
            out.table("options", o);
        }
        "max_message_size" if kind == "rawsocket" => {
            // Crossbar.io's RawSocket takes it beside `serializers`; shardwamp under `options`.
            let c = cx.note(
                Verdict::Changed,
                &at,
                line,
                "written as options.max_message_size".into(),
            );
            out.comment(c);
            if let Some(v) = cx.value(node) {
                out.set(MOVED_MAX_MESSAGE_SIZE, v);
            }
        }
        "auth" => {
            let a = auth(cx, node, &at);
            out.table("auth", a);
        }
        "debug" | "debug_traffic" | "debug_codecs" => {
            let why = known::explain(key).map(|k| format!("{} {}", k.why, k.todo)).unwrap_or_default();
            cx.leave_out(out, &at, line, node, why);
        }
        _ => cx.unknown(out, path, key, line, node),
    }
}

fn options(cx: &mut Cx, o: &Node, path: &str, kind: &str) -> Table {
    let mut t = Table::default();
    for (key, line, node) in o.entries() {
        let at = format!("{path}.{key}");
        let accepted = known::takes_option(kind, key);
        if key == "compression" && !matches!(node.value, Value::Bool(false) | Value::Null) {
            cx.leave_out(
                &mut t,
                &at,
                *line,
                node,
                "shardwamp does not negotiate permessage-deflate (compressing costs more CPU than WAMP's small messages save); clients fall back to uncompressed frames.".into(),
            );
        } else if accepted {
            cx.copy(&mut t, key, node);
        } else if let Some(k) = known::explain(key) {
            let why = format!("{} {}", k.why, k.todo);
            cx.leave_out(&mut t, &at, *line, node, why);
        } else {
            cx.unknown(&mut t, path, key, *line, node);
        }
    }
    t
}

fn endpoint(cx: &mut Cx, e: &Node, path: &str) -> Table {
    let mut t = Table::default();
    let kind = e.get("type").and_then(Node::as_str).unwrap_or("tcp");
    for (key, line, node) in e.entries() {
        let ok = match kind {
            "unix" => matches!(key.as_str(), "type" | "path" | "backlog"),
            _ => matches!(
                key.as_str(),
                "type" | "port" | "interface" | "version" | "backlog" | "shared"
            ),
        };
        if ok {
            cx.copy(&mut t, key, node);
        } else if key == "tls" {
            let mut tls = Table::default();
            for (k, l, n) in node.entries() {
                match k.as_str() {
                    "key" | "certificate" | "chain_certificates" | "ca_certificates"
                    | "ciphers" | "dhparam" => cx.copy(&mut tls, k, n),
                    _ => cx.unknown(&mut tls, &format!("{path}.tls"), k, *l, n),
                }
            }
            t.table("tls", tls);
        } else {
            cx.unknown(&mut t, path, key, *line, node);
        }
    }
    if kind == "tcp" && !t.has("type") {
        t.set("type", toml::Value::String("tcp".into()));
    }
    t
}

fn auth(cx: &mut Cx, a: &Node, path: &str) -> Table {
    let mut t = Table::default();
    for (method, line, node) in a.entries() {
        let at = format!("{path}.{method}");
        match method.as_str() {
            "anonymous" | "ticket" | "wampcra" | "cryptosign" | "tls"
                if node.get("type").and_then(Node::as_str) == Some("function") =>
            {
                cx.leave_out(
                    &mut t,
                    &at,
                    *line,
                    node,
                    "a `function` authenticator is a Python function Crossbar.io calls in its router process; shardwamp runs no Python. Register the function as a WAMP procedure from a client and use `type = \"dynamic\"` with `authenticator` set to its URI.".into(),
                );
            }
            "anonymous" | "ticket" | "wampcra" | "cryptosign" | "tls" => {
                let mut m = Table::default();
                for (k, _, n) in node.entries() {
                    match k.as_str() {
                        "principals" | "users" => {
                            let mut ps = Table::default();
                            for (id, pl, p) in n.entries() {
                                let mut pt = Table::default();
                                for (pk, _pkl, pv) in p.entries() {
                                    cx.copy(&mut pt, pk, pv);
                                }
                                let _ = pl;
                                ps.table(id, pt);
                            }
                            m.table(k, ps);
                        }
                        _ => cx.copy(&mut m, k, n),
                    }
                }
                t.table(method, m);
            }
            _ => match known::explain_authmethod(method) {
                Some(k) => {
                    let why = format!("{} {}", k.why, k.todo);
                    cx.leave_out(&mut t, &at, *line, node, why)
                }
                None => cx.unknown(&mut t, path, method, *line, node),
            },
        }
    }
    t
}

/// A web transport: `type = "web"` with its `paths` (WebSocket paths and the
/// HTTP bridge's services; other HTTP services left out, explained) and its
/// HTTP `options`.
fn web(cx: &mut Cx, t: &Node, path: &str, root: &mut Table) -> Option<Table> {
    let _ = root;
    let mut out = Table::default();
    out.set("type", toml::Value::String("web".into()));
    for (key, line, node) in t.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "type" => {}
            "id" => cx.copy(&mut out, "id", node),
            "endpoint" => {
                let e = endpoint(cx, node, &at);
                out.table("endpoint", e);
            }
            "paths" => {
                let paths = web_paths(cx, node, &at);
                out.table("paths", paths);
            }
            "options" => {
                let o = web_options(cx, node, &at);
                out.table("options", o);
            }
            _ => {
                let why = known::explain(key)
                    .map(|k| format!("{} {}", k.why, k.todo))
                    .unwrap_or_else(|| "a web transport key shardwamp does not take".into());
                cx.leave_out(&mut out, &at, *line, node, why);
            }
        }
    }
    Some(out)
}

/// A web transport's `paths`: each WebSocket, publisher, caller or webhook
/// service converted; any other service type left out with why and what to do.
fn web_paths(cx: &mut Cx, paths: &Node, at: &str) -> Table {
    let mut out = Table::default();
    for (p, line, service) in paths.entries() {
        let sp = format!("{at}.{p}");
        let ty = service.get("type").and_then(Node::as_str).unwrap_or("");
        match ty {
            "websocket" => {
                let mut t = Table::default();
                t.set("type", toml::Value::String("websocket".into()));
                for (key, kl, node) in service.entries() {
                    if key != "type" {
                        service_key(cx, &mut t, &sp, key, *kl, node, "websocket", true);
                    }
                }
                out.table(p, t);
            }
            "publisher" | "caller" | "webhook" => {
                let t = bridge_path(cx, service, &sp, ty);
                out.table(p, t);
            }
            _ => {
                let why = match known::explain_web_service(ty) {
                    Some(k) => format!("{} {}", k.why, k.todo),
                    None => format!("unknown web service type {ty:?}"),
                };
                cx.leave_out(&mut out, &sp, *line, service, why);
            }
        }
    }
    out
}

/// A bridge service: `type`, `realm`, `role` and the options shardwamp takes.
fn bridge_path(cx: &mut Cx, service: &Node, at: &str, ty: &str) -> Table {
    let mut t = Table::default();
    t.set("type", toml::Value::String(ty.into()));
    for (key, line, node) in service.entries() {
        match key.as_str() {
            "type" => {}
            "realm" | "role" => cx.copy(&mut t, key, node),
            "options" => {
                let mut o = Table::default();
                let oat = format!("{at}.options");
                for (k, l, n) in node.entries() {
                    match k.as_str() {
                        "key"
                        | "secret"
                        | "post_body_limit"
                        | "timestamp_delta_limit"
                        | "require_ip"
                        | "require_tls"
                        | "debug"
                        | "topic"
                        | "success_response"
                        | "error_response"
                        | "github_secret" => cx.copy(&mut o, k, n),
                        _ => cx.unknown(&mut o, &oat, k, *l, n),
                    }
                }
                t.table("options", o);
            }
            _ => cx.unknown(&mut t, at, key, *line, node),
        }
    }
    t
}

/// A web transport's HTTP `options`: Crossbar.io's keys shardwamp takes.
fn web_options(cx: &mut Cx, o: &Node, at: &str) -> Table {
    let mut t = Table::default();
    for (key, line, node) in o.entries() {
        match key.as_str() {
            "access_log" | "display_tracebacks" | "hsts" | "hsts_max_age" => {
                cx.copy(&mut t, key, node)
            }
            "client_timeout" => cx.leave_out(
                &mut t,
                &format!("{at}.{key}"),
                *line,
                node,
                "Crossbar.io's idle timeout for HTTP connections, in seconds; shardwamp's is `keepalive_timeout`, in ms (default 30000).".into(),
            ),
            _ => cx.unknown(&mut t, at, key, *line, node),
        }
    }
    t
}

/// A universal transport: `type = "universal"` with its `rawsocket`,
/// `websocket` (path → settings) and `web` parts; `mqtt` left out.
fn universal(cx: &mut Cx, t: &Node, path: &str, root: &mut Table) -> Option<Table> {
    let _ = root;
    let mut out = Table::default();
    out.set("type", toml::Value::String("universal".into()));
    for (key, line, node) in t.entries() {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "type" => {}
            "id" => cx.copy(&mut out, "id", node),
            "endpoint" => {
                let e = endpoint(cx, node, &at);
                out.table("endpoint", e);
            }
            "rawsocket" => {
                let mut r = Table::default();
                for (k, l, n) in node.entries() {
                    service_key(cx, &mut r, &at, k, *l, n, "rawsocket", true);
                }
                move_max_message_size(&mut r);
                out.table("rawsocket", r);
            }
            "websocket" => {
                let mut ws = Table::default();
                for (p, _, service) in node.entries() {
                    let sp = format!("{at}.{p}");
                    let mut w = Table::default();
                    for (k, l, n) in service.entries() {
                        if k != "type" {
                            service_key(cx, &mut w, &sp, k, *l, n, "websocket", true);
                        }
                    }
                    ws.table(p, w);
                }
                out.table("websocket", ws);
            }
            "web" => {
                let mut w = Table::default();
                for (k, l, n) in node.entries() {
                    let wat = format!("{at}.{k}");
                    match k.as_str() {
                        "paths" => {
                            let paths = web_paths(cx, n, &wat);
                            w.table("paths", paths);
                        }
                        "options" => {
                            let o = web_options(cx, n, &wat);
                            w.table("options", o);
                        }
                        _ => cx.unknown(&mut w, &at, k, *l, n),
                    }
                }
                out.table("web", w);
            }
            "mqtt" => {
                let why = known::explain_transport("mqtt")
                    .map(|k| format!("{} {}", k.why, k.todo))
                    .unwrap_or_default();
                cx.leave_out(&mut out, &at, *line, node, why);
            }
            _ => cx.unknown(&mut out, path, key, *line, node),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Components
// ---------------------------------------------------------------------------

fn component(cx: &mut Cx, c: &Node, path: &str, root: &mut Table) -> Option<Table> {
    let kind = c.get("type").and_then(Node::as_str).unwrap_or("");
    let classname = c.get("classname").and_then(Node::as_str).unwrap_or("");
    if known::BUILTIN_COMPONENTS.contains(&classname) {
        let mut t = Table::default();
        for (key, line, node) in c.entries() {
            match key.as_str() {
                "type" | "id" | "realm" | "role" | "classname" | "extra" => {
                    cx.copy(&mut t, key, node)
                }
                _ => cx.unknown(&mut t, path, key, *line, node),
            }
        }
        return Some(t);
    }
    let why = match kind {
        "class" => format!(
            "the Python component {classname:?} ran inside Crossbar.io's router process; shardwamp runs no Python. Run it as an ordinary WAMP client (autobahn's ApplicationRunner or `python -m`, connecting to one of the transports below with realm {} and a role that allows what it does), or write it in Rust as a `shardwamp::component::Component` registered under a class name (docs/components.md).",
            c.get("realm").and_then(Node::as_str).map(|r| format!("{r:?}")).unwrap_or_else(|| "(its realm)".into())
        ),
        _ => format!(
            "a component of type {kind:?}: shardwamp runs Rust components registered in its component registry (docs/components.md); run this one as an ordinary WAMP client."
        ),
    };
    cx.leave_out(root, path, c.line, c, why);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_in_both_forms() {
        assert_eq!(env_name("$MY_TICKET"), Some("MY_TICKET"));
        assert_eq!(env_name("${MY_TICKET}"), Some("MY_TICKET"));
        assert_eq!(env_name("$"), None);
        assert_eq!(env_name("a$B"), None);
        assert_eq!(env_name("$1A"), None);
        let mut cx = Cx::default();
        assert_eq!(cx.string("x${Y}"), toml::Value::String("x$${Y}".into()));
        assert_eq!(cx.string("$T"), toml::Value::String("${T}".into()));
        assert!(cx.env.contains("T"));
    }
}
