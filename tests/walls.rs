//! The walls between the crate's modules (docs/ARCHITECTURE.md, "Walls"),
//! checked from the source text: which top-level module may import which,
//! no import cycle between top-level modules, and none between the files of
//! any one module (`src/router/`, `src/config/`, `src/shard/`, ...).
//!
//! It reads every `crate::module` path in `src/**/*.rs` outside test code (a
//! file's `#[cfg(test)]` tail and files declared `#[cfg(test)] mod x;`), and
//! `super::x` paths inside each module. Run it alone with
//! `cargo nextest run --test walls` (or `cargo test --test walls`); a failure
//! names the file, the line and the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Who may import whom: for each top-level module, the modules it may use.
/// Together they form a ladder, so no cycle is possible between allowed
/// imports; the check below still looks for cycles, to catch a rule written
/// wrongly here.
const ALLOWED: &[(&str, &[&str])] = &[
    ("wamp", &[]),
    ("codec", &["wamp"]),
    ("config", &["wamp", "codec"]),
    ("router", &["wamp", "codec", "config"]),
    ("client", &["wamp", "codec"]),
    ("sim", &["wamp", "codec", "config", "router", "client"]),
    (
        "transport",
        &["wamp", "codec", "config", "client", "router"],
    ),
    (
        "component",
        &["wamp", "codec", "config", "router", "client", "transport"],
    ),
    (
        "link",
        &[
            "wamp",
            "codec",
            "config",
            "router",
            "client",
            "transport",
            "component",
        ],
    ),
    (
        "bridge",
        &[
            "wamp",
            "codec",
            "config",
            "router",
            "client",
            "transport",
            "component",
        ],
    ),
    (
        "shard",
        &[
            "wamp",
            "codec",
            "config",
            "router",
            "transport",
            "component",
            "link",
            "bridge",
        ],
    ),
    (
        "control",
        &[
            "wamp",
            "codec",
            "config",
            "router",
            "client",
            "transport",
            "component",
            "link",
            "bridge",
            "shard",
        ],
    ),
    (
        "loadgen",
        &["wamp", "codec", "config", "client", "transport", "shard"],
    ),
];

/// Imports allowed only for some names: transports may know the router's
/// plain id types (shard, connection, transport) and what a TLS connection
/// tells authentication (`TlsInfo`), nothing of its machinery
/// (no broker, dealer or core). The load generator shares the runtime's host set-up (locked memory, ring
/// depth), nothing else of the shards.
const ONLY: &[(&str, &str, &[&str])] = &[
    (
        "transport",
        "router",
        &["ConnId", "ShardId", "TlsInfo", "TransportId"],
    ),
    ("link", "router", &["TransportId", "options"]),
    (
        "loadgen",
        "shard",
        &[
            "os",
            "raise_memlock",
            "raise_nofile",
            "probe_io_uring",
            "RING_DEPTH",
        ],
    ),
];

/// Macros exported at the crate root, by the module that defines them.
const MACROS: &[(&str, &str)] = &[("dict", "wamp")];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/router/auth/ticket.rs` -> ["router", "auth", "ticket"]; `mod.rs` is
/// its folder.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// Modules declared `#[cfg(test)] mod name;` in a file.
fn test_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cfg_test = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("#[cfg(test)]") {
            cfg_test = true;
            continue;
        }
        if cfg_test {
            if let Some(rest) = t
                .strip_prefix("mod ")
                .or_else(|| t.strip_prefix("pub mod "))
            {
                if let Some(name) = rest.strip_suffix(';') {
                    out.push(name.trim().to_owned());
                }
            }
        }
        if !t.starts_with("#[") {
            cfg_test = false;
        }
    }
    out
}

/// The file's code before its first `#[cfg(test)]` item with a body (the
/// tests module at the end of a file).
fn production_part(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if t.starts_with("#[cfg(test)]") {
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
            if next.ends_with(';') {
                // `#[cfg(test)] mod x;` or a test-only `use`: skip that item.
                i += 2;
                continue;
            }
            if lines[i].starts_with("#[cfg(test)]") {
                break; // a top-level test item: the rest of the file is tests
            }
        }
        out.push((i + 1, lines[i]));
        i += 1;
    }
    out
}

/// Strips `//` comments and string literals (roughly) so doc text and
/// strings are not read as paths.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            if c == '\\' {
                chars.next();
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            break;
        }
        out.push(c);
    }
    out
}

/// The text inside the braces that open at `s[0]`, and what follows them.
fn braced(s: &str) -> (&str, &str) {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (&s[1..i], &s[i + 1..]);
                }
            }
            _ => {}
        }
    }
    (s.get(1..).unwrap_or(""), "")
}

/// `a, b::{c, d}, e` split at the commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn ident(s: &str) -> &str {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// One path below the prefix, `name` then `::item` or `::{items}`.
fn path_of(s: &str) -> Option<(String, Vec<String>)> {
    let name = ident(s);
    if name.is_empty() {
        return None;
    }
    let after = s.trim_start()[name.len()..].trim_start();
    let mut items = Vec::new();
    if let Some(tail) = after.strip_prefix("::") {
        let tail = tail.trim_start();
        if tail.starts_with('{') {
            for part in split_top(braced(tail).0) {
                let first = ident(part);
                if !first.is_empty() {
                    items.push(first.to_owned());
                }
            }
        } else if !ident(tail).is_empty() {
            items.push(ident(tail).to_owned());
        }
    }
    Some((name.to_owned(), items))
}

/// Every `prefix::name` in `code` (which may span lines), with its byte
/// offset and the names right after it (one level of `{a, b}` or a single
/// identifier); `prefix::{a::x, b}` gives one path per member.
fn paths_at(code: &str, prefix: &str) -> Vec<(usize, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(prefix) {
        let at = from + found;
        from = at + prefix.len();
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[from..];
        if rest.starts_with('{') {
            for part in split_top(braced(rest).0) {
                if let Some((name, items)) = path_of(part) {
                    out.push((at, name, items));
                }
            }
        } else if let Some((name, items)) = path_of(rest) {
            out.push((at, name, items));
        }
    }
    out
}

/// [`paths_at`] without the offsets.
fn paths_after(code: &str, prefix: &str) -> Vec<(String, Vec<String>)> {
    paths_at(code, prefix)
        .into_iter()
        .map(|(_, n, i)| (n, i))
        .collect()
}

struct Import {
    from: Vec<String>,
    to: String,
    items: Vec<String>,
    file: PathBuf,
    line: usize,
}

fn imports() -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    // Files that are test code as a whole.
    let mut test_only: BTreeSet<Vec<String>> = BTreeSet::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap_or_default();
        let here = module_path(f);
        for m in test_modules(&text) {
            let mut p = here.clone();
            p.push(m);
            test_only.insert(p);
        }
    }
    let mut out = Vec::new();
    for f in &files {
        let here = module_path(f);
        if here.len() < 2 && !f.ends_with("mod.rs") {
            continue; // lib.rs, main.rs: the crate root may name every module
        }
        if here.first().is_some_and(|m| m == "bin") {
            continue;
        }
        if (1..=here.len()).any(|n| test_only.contains(&here[..n])) {
            continue;
        }
        let text = fs::read_to_string(f).unwrap_or_default();
        // The production code as one text (comments and strings blanked),
        // and the line each byte offset falls on.
        let mut code = String::new();
        let mut lines = Vec::new();
        for (line, l) in production_part(&text) {
            let c = code_of(l);
            lines.extend(std::iter::repeat_n(line, c.len() + 1));
            code.push_str(&c);
            code.push('\n');
        }
        let line_at = |at: usize| lines.get(at).copied().unwrap_or(0);
        for (at, name, items) in paths_at(&code, "crate::") {
            let to = MACROS
                .iter()
                .find(|(m, _)| *m == name)
                .map(|(_, owner)| owner.to_string())
                .unwrap_or(name);
            out.push(Import {
                from: here.clone(),
                to,
                items,
                file: f.clone(),
                line: line_at(at),
            });
        }
        // Inside a module's folder: sibling files by `super::x`.
        if here.len() >= 2 {
            for (at, name, items) in paths_at(&code, "super::") {
                let mut target = here[..here.len() - 1].to_vec();
                target.push(name);
                out.push(Import {
                    from: here.clone(),
                    to: format!("super:{}", target.join("::")),
                    items,
                    file: f.clone(),
                    line: line_at(at),
                });
            }
        }
    }
    out
}

fn allowed(from: &str) -> Option<&'static [&'static str]> {
    ALLOWED.iter().find(|(m, _)| *m == from).map(|(_, a)| *a)
}

fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan-free: a node is on a cycle when it reaches itself; report each
    // strongly connected group once.
    let nodes: BTreeSet<&String> = edges.keys().chain(edges.values().flatten()).collect();
    let reach = |start: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for n in &nodes {
        let r = reach(n);
        if r.contains(*n) {
            let mut g: Vec<String> = r
                .iter()
                .filter(|m| reach(m).contains(*n))
                .cloned()
                .collect();
            g.sort();
            groups.insert(g);
        }
    }
    groups.into_iter().collect()
}

#[test]
fn top_level_modules_import_only_what_the_walls_allow() {
    let mut broken = Vec::new();
    for i in imports() {
        let from = &i.from[0];
        if i.to.starts_with("super:") || &i.to == from {
            continue;
        }
        let Some(ok) = allowed(from) else {
            broken.push(format!(
                "{}:{}: module `{from}` has no row in ALLOWED (tests/walls.rs); add one and say where it sits in docs/ARCHITECTURE.md",
                i.file.display(),
                i.line
            ));
            continue;
        };
        if !ok.contains(&i.to.as_str()) {
            broken.push(format!(
                "{}:{}: `{from}` imports `{}`, which it may not (allowed: {ok:?})",
                i.file.display(),
                i.line,
                i.to
            ));
            continue;
        }
        if let Some((_, _, names)) = ONLY.iter().find(|(f, t, _)| f == from && *t == i.to) {
            for item in &i.items {
                if !names.contains(&item.as_str()) {
                    broken.push(format!(
                        "{}:{}: `{from}` may take only {names:?} from `{}`, not `{item}`",
                        i.file.display(),
                        i.line,
                        i.to
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "walls broken:\n{}", broken.join("\n"));
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in imports() {
        if i.to.starts_with("super:") || i.to == i.from[0] {
            continue;
        }
        edges.entry(i.from[0].clone()).or_default().insert(i.to);
    }
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles between modules: {found:?}");
}

/// The import graph between the files (and folders) right below
/// `src/<module>/`: `super::x` names one of them or an item of its
/// `mod.rs`, `crate::<module>::x` too.
fn file_edges(module: &str) -> BTreeMap<String, BTreeSet<String>> {
    let children: BTreeSet<String> = fs::read_dir(src().join(module))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|n| n != "mod")
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in imports() {
        if i.from[0] != module || i.from.len() < 2 {
            continue;
        }
        let to: Vec<String> = if let Some(t) = i.to.strip_prefix("super:") {
            t.split("::").map(str::to_owned).collect()
        } else if i.to == module {
            let mut p = vec![module.to_owned()];
            p.extend(i.items.first().cloned());
            p
        } else {
            continue;
        };
        // Compare files of the module by their first level below it.
        let (Some(a), Some(b)) = (i.from.get(1), to.get(1)) else {
            continue;
        };
        if a != b && children.contains(b) {
            edges.entry(a.clone()).or_default().insert(b.clone());
        }
    }
    edges
}

/// File cycles inside a module that exist and are yet to be broken: the
/// check refuses any other, and these once they are gone (remove the row).
const KNOWN_FILE_CYCLES: &[(&str, &[&str])] = &[
    ("config", &["realm", "rlink"]),
    ("link", &["mirror", "topology"]),
    ("transport", &["host", "options", "serve", "web"]),
];

#[test]
fn no_import_cycle_between_the_files_of_a_module() {
    // Every top-level module that is a folder: its files import each other
    // one way only (a shared item lives in the file that owns its concept).
    let mut found = Vec::new();
    let mut known: Vec<(&str, Vec<String>)> = Vec::new();
    for (module, _) in ALLOWED {
        if !src().join(module).is_dir() {
            continue;
        }
        for cycle in cycles(&file_edges(module)) {
            let listed = KNOWN_FILE_CYCLES.iter().any(|(m, c)| {
                m == module && c.iter().copied().eq(cycle.iter().map(String::as_str))
            });
            if listed {
                known.push((module, cycle));
            } else {
                found.push(format!("src/{module}: {cycle:?}"));
            }
        }
    }
    for (m, c) in KNOWN_FILE_CYCLES {
        if !known
            .iter()
            .any(|(km, kc)| km == m && kc.iter().map(String::as_str).eq(c.iter().copied()))
        {
            found.push(format!(
                "src/{m}: {c:?} is no longer a cycle: remove it from KNOWN_FILE_CYCLES"
            ));
        }
    }
    assert!(
        found.is_empty(),
        "import cycles between the files of a module:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_file_check_sees_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges
        .entry("run".into())
        .or_default()
        .insert("components".into());
    assert!(cycles(&edges).is_empty());
    edges
        .entry("components".into())
        .or_default()
        .insert("run".into());
    assert_eq!(
        cycles(&edges),
        vec![vec!["components".to_owned(), "run".to_owned()]]
    );
}

#[test]
fn the_checker_reads_paths() {
    let found = paths_after(
        "use crate::router::{ConnId, TransportId}; x = crate::dict!{}; notcrate::x",
        "crate::",
    );
    assert_eq!(
        found,
        vec![
            (
                "router".to_owned(),
                vec!["ConnId".to_owned(), "TransportId".to_owned()]
            ),
            ("dict".to_owned(), vec![]),
        ]
    );
    assert_eq!(code_of(r#"let a = "crate::x"; // crate::y"#), "let a = ; ");
    // grouped and multi-line imports
    let found = paths_after(
        "use crate::{\n    router::{\n        ConnId,\n        RouterCore,\n    },\n    shard::Shard,\n    wamp,\n};",
        "crate::",
    );
    assert_eq!(
        found,
        vec![
            (
                "router".to_owned(),
                vec!["ConnId".to_owned(), "RouterCore".to_owned()]
            ),
            ("shard".to_owned(), vec!["Shard".to_owned()]),
            ("wamp".to_owned(), vec![]),
        ]
    );
}
