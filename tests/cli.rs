//! The `shardwamp` binary: `init`, `check`, and `run` serving WAMP until
//! SIGTERM, then exiting 0 after GOODBYE.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use shardwamp::codec::Serializer;
use shardwamp::wamp::message::Message;
use shardwamp::wamp::uris;

const BIN: &str = env!("CARGO_BIN_EXE_shardwamp");

#[test]
fn init_prints_a_config_that_checks_and_runs() {
    let out = Command::new(BIN).arg("init").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("\"${"),
        "init's output needs an environment variable"
    );
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("init.toml");
    std::fs::write(&path, &text).unwrap();
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(stdout.contains("ok"));
    // each transport as the URL `ctl --url` takes (the README's example)
    let url = "rs+unix:///tmp/shardwamp-control.sock";
    assert!(
        stdout.contains(&format!("transport 'local': rawsocket on {url}")),
        "{stdout}"
    );
    // the operator's ticket, as a newcomer reads it off the printed config
    let ticket = text
        .split("[transports.auth.ticket.principals.operator]")
        .nth(1)
        .and_then(|s| s.split('"').nth(1))
        .unwrap()
        .to_owned();
    // run it as printed
    let log = dir.join("run.log");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .env_clear()
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let printed = std::fs::read_to_string(&log).unwrap_or_default();
        if printed.contains("admin: ") {
            assert!(printed.contains(&format!("on {url}")), "{printed}");
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("run exited ({status}) on init's config: {printed} {err}");
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{printed}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ctl = Command::new(BIN)
        .args([
            "ctl",
            "--url",
            url,
            "--authid",
            "operator",
            "get_router_components",
        ])
        .env("SHARDWAMP_TICKET", &ticket)
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&ctl.stdout);
    let pid = child.id() as i32;
    // SAFETY: signals our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = wait_exit(&mut child);
    assert!(
        ctl.status.success() && answer.contains("stats"),
        "{answer} {}",
        String::from_utf8_lossy(&ctl.stderr)
    );
    assert!(status.success(), "{status:?}");
}

/// `check` refuses what `run` would: a component class that is not
/// registered, naming the key and the line (and the classes there are); a
/// Unix socket in a directory that does not exist.
#[test]
fn check_refuses_an_unknown_component_class_and_a_missing_socket_directory() {
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-class-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("class.toml");
    std::fs::write(
        &path,
        "[[realms]]\nname = \"realm1\"\n\n[[realms.roles]]\nname = \"anonymous\"\n\n\
         [[transports]]\ntype = \"websocket\"\nendpoint = { type = \"tcp\", port = 0 }\n\n\
         [[components]]\nid = \"beat\"\ntype = \"class\"\nrealm = \"realm1\"\n\
         role = \"anonymous\"\nclassname = \"heartbeat\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 16"), "{err}");
    assert!(err.contains("components[0].classname"), "{err}");
    assert!(err.contains("no component class 'heartbeat'"), "{err}");
    assert!(err.contains("shardwamp.health"), "{err}");

    let path = dir.join("socket.toml");
    std::fs::write(
        &path,
        "[[realms]]\nname = \"realm1\"\n[[realms.roles]]\nname = \"anonymous\"\n\n\
         [[transports]]\ntype = \"rawsocket\"\n\
         endpoint = { type = \"unix\", path = \"/nonexistent-shardwamp/control.sock\" }\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 8"), "{err}");
    assert!(err.contains("transports[0].endpoint"), "{err}");
    assert!(
        err.contains("/nonexistent-shardwamp does not exist"),
        "{err}"
    );
}

#[test]
fn check_reports_the_line_of_an_error() {
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[[realms]]\nname = \"rlm\"\n\n[[transports]]\ntype = \"websocket\"\nid = \"ws\"\nserializers = [\"ubjson\"]\nendpoint = { type = \"tcp\", port = 0 }\n").unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 7"), "{err}");
    assert!(err.contains("ubjson"), "{err}");
}

#[test]
fn run_serves_until_sigterm_and_exits_zero() {
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.toml");
    std::fs::write(
        &path,
        r#"
[router]
shards = 2

[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }
"#,
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("listening: ws (websocket) on ws://") {
            url = Some(rest.to_owned());
            break;
        }
    }
    let url = url.expect("the router prints where it listens");
    let (addr, path) = url.split_once('/').unwrap();
    let mut c = Client::websocket(addr.parse().unwrap(), &format!("/{path}"), Serializer::Json);
    c.join("realm1");
    let started = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    match c.recv() {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, uris::CLOSE_SYSTEM_SHUTDOWN),
        other => panic!("{other:?}"),
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the router did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// Starts `shardwamp run --config path` and returns it with the address its
/// `ws` transport listens on; `None` when it exits before listening (and the
/// stderr it printed).
fn run_router(path: &std::path::Path) -> Result<(std::process::Child, String), String> {
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("listening: ws (websocket) on ws://") {
            return Ok((child, rest.to_owned()));
        }
    }
    let out = child.wait_with_output().unwrap();
    Err(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the router did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `systemctl restart`: a router that served clients on a fixed port starts
/// again on it at once, after SIGTERM, SIGKILL or SIGINT (Ctrl-C; SIGTERM
/// and SIGINT say GOODBYE to every session first) (the kernel keeps the
/// closed connections in TIME_WAIT for a minute: listeners set SO_REUSEADDR),
/// while a second router beside a running one is still refused.
#[test]
fn restarts_at_once_on_its_fixed_port() {
    // Fixed ports below the kernel's ephemeral range (32768-60999 by default):
    // a port picked by binding port 0 could meanwhile become the local port
    // of another test's outgoing connection, and then no listener may bind it.
    let mut next = 20_000 + (std::process::id() as u16 % 1000) * 12;
    let mut free = || loop {
        next += 1;
        if next >= 32_000 {
            next = 20_000;
        }
        if std::net::TcpListener::bind(("127.0.0.1", next)).is_ok() {
            return next;
        }
    };
    let (port, admin) = (free(), free());
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[router]
shards = 2

[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = {{ call = true, register = true, publish = true, subscribe = true }}

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = {{ type = "tcp", port = {port}, interface = "127.0.0.1" }}

[admin]
enabled = true
endpoint = {{ type = "tcp", port = {admin}, interface = "127.0.0.1" }}
"#
        ),
    )
    .unwrap();
    for signal in [libc::SIGTERM, libc::SIGKILL, libc::SIGINT] {
        let (mut child, url) = run_router(&path).unwrap_or_else(|stderr| {
            panic!("the router did not start again on port {port}: {stderr}")
        });
        // a second router on the same port is refused while this one runs
        let second = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!second.status.success());
        assert!(
            String::from_utf8_lossy(&second.stderr).contains("in use"),
            "{}",
            String::from_utf8_lossy(&second.stderr)
        );
        let (addr, ws_path) = url.split_once('/').unwrap();
        // the admin endpoint served a client too
        let mut http = std::net::TcpStream::connect(("127.0.0.1", admin)).unwrap();
        std::io::Write::write_all(&mut http, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = [0u8; 12];
        std::io::Read::read_exact(&mut http, &mut reply).unwrap();
        assert_eq!(&reply, b"HTTP/1.1 200");
        let mut clients: Vec<Client> = (0..4)
            .map(|_| {
                let mut c = Client::websocket(
                    addr.parse().unwrap(),
                    &format!("/{ws_path}"),
                    Serializer::Json,
                );
                c.join("realm1");
                c
            })
            .collect();
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        if signal != libc::SIGKILL {
            for c in &mut clients {
                assert!(matches!(c.recv(), Some(Message::Goodbye { .. })));
            }
        }
        wait_exit(&mut child);
        // the router closed first: its side of each connection waits in TIME_WAIT
        drop(clients);
        drop(http);
    }
}

/// At `-v trace`, nothing a client sends as a secret reaches the log: the
/// ticket of AUTHENTICATE, a WAMP-CRA signature (and the secret behind it),
/// an operator's ticket, and the secrets in a transport config given to
/// `start_router_transport` at run time.
#[test]
fn a_trace_log_holds_no_secret() {
    use shardwamp::dict;
    use shardwamp::wamp::value::{Dict, Value};
    const TICKET: &str = "tkt-SECRET-4b1d";
    const CRA: &str = "cra-SECRET-9f3e";
    const OPERATOR: &str = "op-SECRET-77aa";
    const RUNTIME: &str = "rt-SECRET-c0de";
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[realms]]
name = "realm1"
[[realms.roles]]
name = "user"
[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = {{ call = true, register = true, publish = true, subscribe = true }}

[[realms]]
name = "shardwamp.management"
[[realms.roles]]
name = "admin"
[[realms.roles.permissions]]
uri = "shardwamp.router."
match = "prefix"
allow = {{ call = true }}

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.auth.ticket]
type = "static"
principals = {{ joe = {{ ticket = "{TICKET}", role = "user" }}, operator = {{ ticket = "{OPERATOR}", role = "admin" }} }}
[transports.auth.wampcra]
type = "static"
users = {{ alice = {{ secret = "{CRA}", role = "user" }} }}

[management]
realm = "shardwamp.management"
"#
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["-v", "trace", "run", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .find_map(|l| {
            l.unwrap()
                .strip_prefix("listening: ws (websocket) on ws://")
                .map(str::to_owned)
        })
        .expect("the router prints where it listens");
    let addr: std::net::SocketAddr = url.split_once('/').unwrap().0.parse().unwrap();
    let roles = || Value::Dict(shardwamp::sim::all_roles());
    // ticket
    let mut c = Client::websocket(addr, "/ws", Serializer::Json);
    c.send(&Message::Hello {
        realm: "realm1".into(),
        details: dict! { "roles" => roles(), "authid" => "joe", "authmethods" => Value::List(vec![Value::from("ticket")]) },
    });
    assert!(matches!(c.recv(), Some(Message::Challenge { .. })));
    c.send(&Message::Authenticate {
        signature: TICKET.into(),
        extra: Dict::new(),
    });
    assert!(matches!(c.recv(), Some(Message::Welcome { .. })));
    // WAMP-CRA
    let mut c = Client::websocket(addr, "/ws", Serializer::Json);
    c.send(&Message::Hello {
        realm: "realm1".into(),
        details: dict! { "roles" => roles(), "authid" => "alice", "authmethods" => Value::List(vec![Value::from("wampcra")]) },
    });
    let challenge = match c.recv() {
        Some(Message::Challenge { extra, .. }) => extra
            .get("challenge")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned(),
        other => panic!("{other:?}"),
    };
    let signature = shardwamp::wamp::cra::sign(CRA.as_bytes(), &challenge);
    c.send(&Message::Authenticate {
        signature: signature.clone(),
        extra: Dict::new(),
    });
    assert!(matches!(c.recv(), Some(Message::Welcome { .. })));
    // a transport started at run time, its config holding a ticket
    let out = Command::new(BIN)
        .args(["ctl", "--url", &format!("ws://{url}"), "--authid", "operator"])
        .arg("start_router_transport")
        .arg("rt")
        .arg(format!(
            r#"{{"type": "rawsocket", "endpoint": {{"type": "tcp", "port": 0, "interface": "127.0.0.1"}},
                "auth": {{"ticket": {{"type": "static", "principals": {{"svc": {{"ticket": "{RUNTIME}", "role": "user"}}}}}}}}}}"#
        ))
        .env("SHARDWAMP_TICKET", OPERATOR)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("DEBUG") || log.contains("TRACE"),
        "the log is not verbose: {log}"
    );
    for secret in [TICKET, CRA, OPERATOR, RUNTIME, signature.as_str()] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}

/// `ctl` leaves with GOODBYE and closes its connection cleanly, so the router
/// logs no "Connection reset without closing handshake"; it reaches a
/// RawSocket on a Unix socket as `run` prints it; and the socket file is gone
/// once the router exits on SIGTERM.
#[test]
fn ctl_closes_cleanly_and_sigterm_removes_the_socket_file() {
    const OPERATOR: &str = "op-ticket-5e1f";
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("control.sock");
    let _ = std::fs::remove_file(&sock);
    let path = dir.join("run.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[realms]]
name = "shardwamp.management"
[[realms.roles]]
name = "admin"
[[realms.roles.permissions]]
uri = "shardwamp.router."
match = "prefix"
allow = {{ call = true }}

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.auth.ticket]
type = "static"
principals = {{ operator = {{ ticket = "{OPERATOR}", role = "admin" }} }}

[[transports]]
type = "rawsocket"
id = "local"
endpoint = {{ type = "unix", path = "{}" }}
[transports.auth.ticket]
type = "static"
principals = {{ operator = {{ ticket = "{OPERATOR}", role = "admin" }} }}

[management]
realm = "shardwamp.management"
"#,
            sock.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["-v", "debug", "run", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut ws, mut unix) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("listening: ws (websocket) on ") {
            ws = Some(rest.to_owned());
        }
        if let Some(rest) = line.strip_prefix("listening: local (rawsocket) on ") {
            unix = Some(rest.to_owned());
        }
        if ws.is_some() && unix.is_some() {
            break;
        }
    }
    let (ws, unix) = (ws.unwrap(), unix.unwrap());
    assert_eq!(unix, format!("rs+unix://{}", sock.display()));
    for url in [&ws, &unix, &ws] {
        let out = Command::new(BIN)
            .args([
                "ctl",
                "--url",
                url,
                "--authid",
                "operator",
                "get_router_realms",
            ])
            .env("SHARDWAMP_TICKET", OPERATOR)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ctl --url {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // a failed operation and a refused ticket end cleanly too
    for (ticket, op) in [
        (OPERATOR, "get_router_realm"),
        ("wrong", "get_router_realms"),
    ] {
        let out = Command::new(BIN)
            .args(["ctl", "--url", &ws, "--authid", "operator", op, "no-such"])
            .env("SHARDWAMP_TICKET", ticket)
            .output()
            .unwrap();
        assert!(!out.status.success(), "ctl {op} with {ticket} succeeded");
    }
    assert!(sock.exists());
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("DEBUG"), "the log is not verbose: {log}");
    assert!(
        !log.contains("without closing handshake"),
        "ctl left without closing:\n{log}"
    );
    assert!(
        !sock.exists(),
        "{} is left after the router exited",
        sock.display()
    );
}

/// The operations' names in `ctl --help`'s list (after its "Operations" line).
fn help_operations(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Operations"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn ctl_help_and_docs_list_the_operations_the_controller_serves() {
    let served: Vec<String> = shardwamp::control::OPERATIONS
        .iter()
        .map(|o| o.name.to_owned())
        .collect();
    let out = Command::new(BIN).args(["ctl", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(help_operations(&help), served, "{help}");
    // each with its arguments
    for o in shardwamp::control::OPERATIONS {
        let sig = std::iter::once(o.name)
            .chain(o.args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(&sig)),
            "{sig}: {help}"
        );
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let headings: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_owned())
        .collect();
    assert_eq!(headings, served);
    // each documented argument is the table's
    for o in shardwamp::control::OPERATIONS {
        let section = doc
            .split(&format!("## {}\n", o.name))
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap();
        for a in o.args {
            let a = a.trim_matches(['[', ']']);
            assert!(section.contains(&format!("- `{a}`")), "{}: {a}", o.name);
        }
        assert!(section.contains("Answer:"), "{}", o.name);
        assert!(section.contains("Crossbar.io:"), "{}", o.name);
    }
}

#[test]
fn ctl_an_unknown_operation_lists_the_valid_ones() {
    let out = Command::new(BIN)
        .args(["ctl", "get_router_realmz"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no operation 'get_router_realmz'"), "{err}");
    for o in shardwamp::control::OPERATIONS {
        assert!(err.contains(o.name), "{}: {err}", o.name);
    }
}

/// `run` and `check` given a Crossbar.io config say to import it.
#[test]
fn a_crossbar_config_given_to_run_says_to_import_it() {
    let dir = std::env::temp_dir().join(format!("shardwamp-cli-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["config.json", "config.yaml"] {
        let path = dir.join(name);
        std::fs::write(&path, "{\"version\": 2, \"workers\": []}\n").unwrap();
        for cmd in ["run", "check"] {
            let out = Command::new(BIN)
                .args([cmd, "--config"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("shardwamp import crossbar") && !err.contains("invalid TOML"),
                "{cmd} {name}: {err}"
            );
        }
    }
    // import writes TOML that check accepts, and says what it left out
    let crossbar = dir.join("node.json");
    std::fs::write(
        &crossbar,
        r#"{"version": 2, "workers": [{"type": "router", "options": {"pythonpath": [".."]},
            "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "allow-by-default": true}]}],
            "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 0}}]}]}"#,
    )
    .unwrap();
    let toml = dir.join("out.toml");
    let out = Command::new(BIN)
        .args(["import", "crossbar"])
        .arg(&crossbar)
        .arg("-o")
        .arg(&toml)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1: workers[0].options.pythonpath: left out"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&toml)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
