//! Migration from Crossbar.io: `shardwamp import crossbar FILE` turns the
//! router worker of a Crossbar.io node config (`config.json` or
//! `config.yaml`) into shardwamp's commented TOML, and the table of
//! Crossbar.io keys shardwamp does not take ([`known`]) explains them
//! wherever they appear, here or in a hand-written TOML file.
//!
//! The TOML maps one to one onto Crossbar.io's router worker, so most keys
//! are copied as they are. What changes is said in a comment above it
//! (`# [changed] workers[0].transports[0] (line 12): ...`), and what is left
//! out is kept as a comment with the original value and a note that names
//! the key, its line, why, and what to do
//! (`# [left out] workers[0].options.pythonpath (line 7): ...`). The same
//! notes come back as [`Note`]s for the command to print. Nothing is dropped
//! silently, and the output loads with `shardwamp check` whenever every
//! note is about a key that was left out or changed.
//!
//! What is converted and how (`docs/migrating.md` has the whole table):
//! * the router worker (by default the first; `--worker ID` picks another):
//!   its `id` becomes `[router] id`, `options.cpu_affinity` becomes
//!   `[router] cpus`; other worker options are left out, explained;
//! * realms, roles, permissions (the old flat `"call": true` form too),
//!   stores and event history as they are;
//! * `websocket` and `rawsocket` transports as they are; a `web` or
//!   `universal` transport becomes a `websocket` transport on the same
//!   endpoint, serving its first WebSocket path; its other services are left
//!   out, explained, until the web transport is built;
//! * `$NAME` and `${NAME}` values (Crossbar.io's environment references)
//!   become `${NAME}`, which shardwamp reads from its environment;
//! * Python components (`"type": "class"`) are left out, with how to run
//!   them as clients or replace them with Rust components.

mod convert;
pub mod known;
mod toml_out;
mod tree;

pub use tree::Format;

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Written, but not as it was (a comment says how).
    Changed,
    /// Not written (kept as a comment, with why and what to do).
    LeftOut,
}

/// A note about one key of the converted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The key path in the Crossbar.io file, as `workers[0].transports[1].paths.ws`.
    pub path: String,
    /// Its line in the file (0 when unknown).
    pub line: usize,
    /// Changed or left out.
    pub verdict: Verdict,
    /// Why, and what to do.
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.verdict {
            Verdict::Changed => "changed",
            Verdict::LeftOut => "left out",
        };
        if self.line > 0 {
            write!(
                f,
                "line {}: {}: {tag}: {}",
                self.line, self.path, self.message
            )
        } else {
            write!(f, "{}: {tag}: {}", self.path, self.message)
        }
    }
}

/// A converted configuration.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The TOML text, with comments.
    pub toml: String,
    /// What was changed or left out, in file order.
    pub notes: Vec<Note>,
    /// The environment variables the configuration reads.
    pub env: Vec<String>,
}

/// Why a file could not be converted at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    /// Not valid JSON or YAML.
    #[error("{0}")]
    Syntax(String),
    /// No router worker in the file.
    #[error("no router worker in this file (workers of type \"router\"); found: {0}")]
    NoRouterWorker(String),
    /// `--worker` names no router worker.
    #[error("no router worker {wanted:?} in this file; its router workers are: {found}")]
    NoSuchWorker {
        /// What was asked for.
        wanted: String,
        /// The router workers' ids (or indexes).
        found: String,
    },
}

/// Converts the router worker of a Crossbar.io node config.
///
/// `source` names the file in the header comment; `worker` picks a router
/// worker by `id` (or by its index among the workers), else the first.
pub fn import(
    text: &str,
    format: Format,
    source: &str,
    worker: Option<&str>,
) -> Result<Imported, ImportError> {
    let root = tree::parse(text, format).map_err(ImportError::Syntax)?;
    let mut cx = convert::Cx::default();
    // A node config (`workers: [...]`), or a bare router worker.
    let workers: Vec<(String, &tree::Node)> = match root.get("workers") {
        Some(ws) => ws
            .items()
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("workers[{i}]"), w))
            .collect(),
        None if root.get("realms").is_some() || root.get("transports").is_some() => {
            vec![("worker".to_owned(), &root)]
        }
        None => Vec::new(),
    };
    // In a node config each worker says its type; a bare worker is a router.
    let bare = root.get("workers").is_none();
    let is_router = |w: &tree::Node| match w.get("type").and_then(tree::Node::as_str) {
        Some("router") => true,
        None => bare,
        Some(_) => false,
    };
    let label = |i: usize, w: &tree::Node| {
        w.get("id")
            .and_then(tree::Node::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| i.to_string())
    };
    let routers: Vec<(usize, &(String, &tree::Node))> = workers
        .iter()
        .enumerate()
        .filter(|(_, (_, w))| is_router(w))
        .collect();
    if routers.is_empty() {
        let kinds: Vec<String> = workers
            .iter()
            .map(|(_, w)| match &w.value {
                tree::Value::Map(_) => w
                    .get("type")
                    .and_then(tree::Node::as_str)
                    .map(|t| format!("a {t} worker"))
                    .unwrap_or_else(|| format!("a worker without `type` (line {})", w.line)),
                _ => format!("a {} instead of a worker (line {})", w.kind(), w.line),
            })
            .collect();
        return Err(ImportError::NoRouterWorker(if kinds.is_empty() {
            "no workers".to_owned()
        } else {
            kinds.join(", ")
        }));
    }
    let chosen = match worker {
        None => routers[0],
        Some(want) => *routers
            .iter()
            .find(|(i, (_, w))| label(*i, w) == want || i.to_string() == want)
            .ok_or_else(|| ImportError::NoSuchWorker {
                wanted: want.to_owned(),
                found: routers
                    .iter()
                    .map(|(i, (_, w))| label(*i, w))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
    };
    let (chosen_index, (path, w)) = chosen;
    let mut body = convert::worker(&mut cx, w, path);

    // The rest of the file: other workers and node-level sections, explained.
    let mut tail = Vec::new();
    for (i, (wpath, other)) in workers.iter().enumerate() {
        if i == chosen_index {
            continue;
        }
        let kind = match &other.value {
            tree::Value::Map(_) => other
                .get("type")
                .and_then(tree::Node::as_str)
                .unwrap_or("untyped"),
            _ => "malformed",
        };
        let x = if kind == "router" {
            known::Explanation {
                why: "shardwamp runs one router per process.",
                todo: "Convert it with `--worker` and run a second shardwamp.",
            }
        } else {
            known::explain_worker(kind)
        };
        tail.push(Note {
            path: wpath.clone(),
            line: other.line,
            verdict: Verdict::LeftOut,
            message: format!(
                "a {kind} worker ({}): {} {}",
                label(i, other),
                x.why,
                x.todo
            ),
        });
    }
    for (key, line, _) in root.entries() {
        let message = match key.as_str() {
            "workers" => continue,
            "version" | "$schema" => continue,
            "controller" => "node-level settings (the node's id, its management uplink, its own transports) have no counterpart: shardwamp is the router alone. Its controller API is served on the management realm (`[management]`).".to_owned(),
            _ if workers.len() == 1 && path == "worker" => continue,
            other => format!("a node-level key ({other}) shardwamp has no counterpart for."),
        };
        tail.push(Note {
            path: key.clone(),
            line: *line,
            verdict: Verdict::LeftOut,
            message,
        });
    }
    for n in &tail {
        body.comments.push(format!(
            "[left out] {} (line {}): {}",
            n.path, n.line, n.message
        ));
    }
    cx.notes.extend(tail);

    let mut header = vec![
        format!("Converted by `shardwamp import crossbar` from {source}"),
        format!(
            "(the router worker {} at line {}).",
            label(chosen_index, w),
            w.line
        ),
        "Lines starting with `# [changed]` or `# [left out]` say what differs from the".to_owned(),
        "Crossbar.io file, why, and what to do.".to_owned(),
    ];
    if !cx.env.is_empty() {
        header.push(format!(
            "This configuration reads these environment variables: {}.",
            cx.env.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    header.push(String::new());
    let mut comments = header;
    comments.append(&mut body.comments);
    body.comments = comments;
    cx.notes.sort_by_key(|n| n.line);
    Ok(Imported {
        toml: body.render(),
        notes: cx.notes,
        env: cx.env.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests;
