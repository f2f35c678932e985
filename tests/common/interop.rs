//! The real clients the interop tests drive: tests/interop/setup.sh installs
//! autobahn-python (with kosoku) in a virtual environment and autobahn-js in
//! a node_modules folder under `<target dir>/interop`, once per test process
//! (the script locks itself against other processes and is quick when
//! nothing changed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$INTEROP_DIR` when set (as tests/interop/setup.sh reads it: several
/// checkouts can share one install), else `<target dir>/interop`
/// (CARGO_TARGET_TMPDIR is `<target dir>/tmp`).
pub fn interop_dir() -> PathBuf {
    match std::env::var_os("INTEROP_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR has a parent")
            .join("interop"),
    }
}

/// What tests/interop/setup.sh installed.
pub struct Installed {
    /// The virtual environment's python.
    pub python: PathBuf,
    /// autobahn-js's node_modules.
    pub node_modules: PathBuf,
    /// Node's major version.
    pub node_major: u32,
}

/// Runs tests/interop/setup.sh once per process; panics with its output
/// when it fails.
pub fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Result<Installed, String>> = OnceLock::new();
    let res = INSTALLED.get_or_init(|| {
        let dir = interop_dir();
        let out = Command::new("bash")
            .arg(repo().join("tests/interop/setup.sh"))
            .env("INTEROP_DIR", &dir)
            .output()
            .map_err(|e| format!("cannot run bash tests/interop/setup.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tests/interop/setup.sh failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let version = Command::new("node")
            .args(["-p", "process.versions.node"])
            .output()
            .map_err(|e| format!("cannot run node: {e}"))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let node_major = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| format!("cannot read node's version from {version:?}"))?;
        Ok(Installed {
            python: dir.join("venv/bin/python"),
            node_modules: dir.join("node/node_modules"),
            node_major,
        })
    });
    match res {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    }
}
