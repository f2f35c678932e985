//! The Autobahn WebSocket test cases that apply to a WAMP router, run by
//! kosoku's fuzzing client (tests/autobahn/run_cases.py) against a router
//! started in-process (1 shard, WebSocket `/ws` on 127.0.0.1:0).
//!
//! kosoku is installed with the interop clients by tests/interop/setup.sh
//! under `<target>/interop` (pinned in tests/interop/requirements.txt);
//! anything missing fails this test: it never skips.
//!
//! Which cases apply: the suite expects an echo server, and shardwamp answers
//! a text or binary message that is not WAMP with ABORT. A case applies when
//! none of the outcomes it accepts has the server send a message back
//! (kosoku reports the accepted outcomes with each result): then its verdict
//! is about pings and pongs, failing the connection with the right close
//! code, and the closing handshake, which a router must get right. Groups 2
//! to 7 are run; 1 (echo of messages), 9 (echo performance), 10 (echo of a
//! fragmented message), 12 and 13 (compression, not negotiated) have no
//! applicable case. See docs/ARCHITECTURE.md, "Autobahn test cases".
//!
//! A case passes, as in kosoku's own `CaseResult.passed`, when both its
//! verdicts (the messages exchanged, and the closing) are OK, NON-STRICT
//! (conformant, diverging from a SHOULD) or INFORMATIONAL (behaviour the RFC
//! leaves open).

mod common;

use common::interop::repo;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use shardwamp::shard::{self, RouterSpec};

/// How long the whole kosoku run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The case groups run.
const GROUPS: [&str; 6] = ["2.*", "3.*", "4.*", "5.*", "6.*", "7.*"];

/// Per group: cases kosoku 0.1.0 runs, and how many of them apply. A change
/// (another kosoku, another rule) fails the test rather than shrinking it.
const EXPECTED: [(&str, usize, usize); 6] = [
    ("2", 11, 11),
    ("3", 7, 4),
    ("4", 10, 4),
    ("5", 20, 11),
    ("6", 145, 75),
    ("7", 37, 35),
];

/// The interop virtual environment's python (tests/interop/setup.sh).
fn python() -> PathBuf {
    common::interop::installed().python.clone()
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

#[test]
fn autobahn_cases_that_apply_to_a_wamp_router_pass() {
    let python = python();
    let router = shard::start(RouterSpec {
        shards: 1,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![common::open_realm("realm1")],
        listeners: vec![common::listener(0, "ws", true, None)],
        seed: Some(3),
        realm_transports: Vec::new(),
        router_key: None,
    })
    .expect("router starts");
    let addr = router.tcp_addr("ws").unwrap();
    let started = Instant::now();
    let mut child = Command::new(&python)
        .arg(repo().join("tests/autobahn/run_cases.py"))
        .arg(addr.to_string())
        .arg("/ws")
        .args(GROUPS)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start tests/autobahn/run_cases.py: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for kosoku") {
            break Some(s);
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    router.shutdown("wamp.close.system_shutdown");
    router.join().expect("the router stops cleanly");
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("kosoku's run failed ({s}):\n--- stdout\n{stdout}--- stderr\n{stderr}"),
        None => panic!("kosoku's run was killed after {RUN_TIMEOUT:?}:\n--- stderr\n{stderr}"),
    }

    let acceptable = ["OK", "NON-STRICT", "INFORMATIONAL"];
    // group -> (cases, applicable, passed)
    let mut groups: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut errors = Vec::new();
    for line in stdout.lines() {
        let r: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("kosoku output line {line:?}: {e}"));
        let field = |k: &str| r[k].as_str().unwrap_or("?").to_owned();
        let case = field("case");
        let group = case.split('.').next().unwrap_or("?").to_owned();
        let g = groups.entry(group).or_default();
        g.0 += 1;
        if field("behavior") == "ERROR" {
            // The case could not run to a verdict: the router did not serve it.
            errors.push(format!("{case}: {}", field("result")));
        }
        if r["expects_echo"].as_bool() != Some(false) {
            continue;
        }
        g.1 += 1;
        let (b, c) = (field("behavior"), field("behavior_close"));
        if acceptable.contains(&b.as_str()) && acceptable.contains(&c.as_str()) {
            g.2 += 1;
        } else {
            failures.push(format!(
                "{case}: behavior {b}, close {c} ({}; close code {} where {} was expected)",
                field("result_close"),
                r["remote_close_code"],
                r["expected_close_codes"]
            ));
        }
    }
    let summary: Vec<String> = groups
        .iter()
        .map(|(g, (n, a, p))| format!("group {g}: {n} cases, {a} apply, {p} passed"))
        .collect();
    eprintln!(
        "kosoku in {:.1?}:\n{}",
        started.elapsed(),
        summary.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} applicable Autobahn cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        errors.is_empty(),
        "cases that did not run to a verdict:\n{}",
        errors.join("\n")
    );
    for (g, cases, applicable) in EXPECTED {
        let got = groups.get(g).map(|t| (t.0, t.1));
        assert_eq!(
            got,
            Some((cases, applicable)),
            "group {g}: (cases run, cases that apply)"
        );
    }
}
