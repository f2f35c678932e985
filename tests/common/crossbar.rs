//! A Crossbar.io 26.10.1 node as a child process, for the link interop tests
//! (tests/links_crossbar.rs): tests/interop/setup-crossbar.sh installs it once
//! per test process into `$INTEROP_DIR/crossbar-venv` (INTEROP_DIR from the
//! environment, else `<target dir>/interop`); [`CrossbarNode::start`] writes
//! its node key and `config.json` into a fresh `.crossbar` folder, on free
//! ports it picks (and picks again when one was taken meanwhile), waits until
//! every port accepts connections, and kills the node (its whole process
//! group: the controller and its worker) on drop, removing its folder unless
//! the test failed. `CROSSBAR_LOGLEVEL` sets the node's `--loglevel`
//! (default `info`; its log is `.crossbar/node.log`).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shardwamp::wamp::cryptosign::PrivateKey;

/// The `crossbar` executable, installed by tests/interop/setup-crossbar.sh
/// once per process; panics with the script's output when it fails.
pub fn executable() -> &'static Path {
    static EXE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let res = EXE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(super::interop::repo().join("tests/interop/setup-crossbar.sh"))
            .env("INTEROP_DIR", super::interop::interop_dir())
            .output()
            .map_err(|e| format!("cannot run bash tests/interop/setup-crossbar.sh: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "tests/interop/setup-crossbar.sh failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let exe = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
        if !exe.is_file() {
            return Err(format!(
                "tests/interop/setup-crossbar.sh printed no crossbar executable: {stdout}"
            ));
        }
        Ok(exe)
    });
    match res {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// The hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `seed` as a Crossbar.io node key pair (`key.priv` mode 0600,
/// `key.pub`) into `cbdir`; the node takes it instead of making one.
pub fn write_node_key(cbdir: &Path, seed: &[u8; 32]) {
    let public = PrivateKey::from_seed(seed).public_hex();
    let common = format!(
        "creator: shardwamp-tests\ncreated-at: 2026-01-01T00:00:00.000Z\nmachine-id: shardwamp-tests\npublic-key-ed25519: {public}\n"
    );
    let priv_path = cbdir.join("key.priv");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&priv_path)
        .expect("write key.priv");
    write!(
        f,
        "Crossbar.io node private key - KEEP THIS SAFE!\n\n{common}private-key-ed25519: {}\n",
        hex(seed)
    )
    .expect("write key.priv");
    std::fs::write(
        cbdir.join("key.pub"),
        format!("Crossbar.io node public key\n\n{common}"),
    )
    .expect("write key.pub");
}

/// A free TCP port on 127.0.0.1 (bound, read, closed: another process may
/// take it before the node binds it, which [`CrossbarNode::start`] retries).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running Crossbar.io node; killed on drop.
pub struct CrossbarNode {
    child: Child,
    /// The node's `.crossbar` folder (config.json, key.priv, node.log).
    pub cbdir: PathBuf,
    /// The ports its config listens on, in the order the config asked for.
    pub ports: Vec<u16>,
}

impl CrossbarNode {
    /// Starts a node named `name` with node key `seed` and the config
    /// `config(ports)` makes from `nports` free ports; waits (at most 90 s)
    /// until each port accepts connections. A node that exits early because
    /// a port was taken is started again on new ports (three tries).
    pub fn start(
        name: &str,
        seed: &[u8; 32],
        nports: usize,
        config: impl Fn(&[u16]) -> serde_json::Value,
    ) -> CrossbarNode {
        static N: AtomicU64 = AtomicU64::new(0);
        let exe = executable();
        let mut last = String::new();
        for _try in 0..3 {
            let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "crossbar-{name}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&base);
            let cbdir = base.join(".crossbar");
            std::fs::create_dir_all(&cbdir).expect("create the node's folder");
            write_node_key(&cbdir, seed);
            let ports: Vec<u16> = (0..nports).map(|_| free_port()).collect();
            std::fs::write(
                cbdir.join("config.json"),
                serde_json::to_string_pretty(&config(&ports)).expect("config"),
            )
            .expect("write config.json");
            let log = std::fs::File::create(cbdir.join("node.log")).expect("node.log");
            let child = Command::new(exe)
                .arg("start")
                .arg("--cbdir")
                .arg(&cbdir)
                .arg("--loglevel")
                .arg(std::env::var("CROSSBAR_LOGLEVEL").unwrap_or_else(|_| "info".into()))
                .args(["--color", "false"])
                .current_dir(&base)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("node.log"))
                .stderr(log)
                // its own process group, so that drop ends the worker too
                .process_group(0)
                .spawn()
                .expect("spawn crossbar");
            let mut node = CrossbarNode {
                child,
                cbdir,
                ports,
            };
            match node.wait_ready(Duration::from_secs(90)) {
                Ok(()) => {
                    eprintln!(
                        "Crossbar.io node {name} ready: {}",
                        node.cbdir.join("node.log").display()
                    );
                    return node;
                }
                Err(e) => {
                    let log = node.log();
                    last = format!("{e}\n--- node.log\n{log}");
                    if !log.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("Crossbar.io node {name} did not start: {last}");
    }

    fn wait_ready(&mut self, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        for &port in &self.ports {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(format!("the node exited ({status})"));
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("port {port} not listening after {bound:?}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// The address of the `i`th port.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.cbdir.join("node.log")).unwrap_or_default()
    }

    /// Each Python traceback in the log so far, with the 40 log lines that
    /// follow its first line (a whole log is too long for a CI excerpt).
    pub fn tracebacks(&self) -> Vec<String> {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("Traceback"))
            .map(|(i, _)| lines[i.saturating_sub(3)..(i + 40).min(lines.len())].join("\n"))
            .collect()
    }

    /// Waits (at most `bound`) until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for CrossbarNode {
    fn drop(&mut self) {
        let pgid = self.child.id().to_string();
        // SIGTERM to the node's process group (the controller and its
        // worker), then SIGKILL to what is left after 5 s.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        // The node's folder goes, unless a test failed or KEEP_NODE is set:
        // then its log stays (the path was printed when the node started).
        if !std::thread::panicking() && std::env::var_os("KEEP_NODE").is_none() {
            if let Some(base) = self.cbdir.parent() {
                let _ = std::fs::remove_dir_all(base);
            }
        }
    }
}
