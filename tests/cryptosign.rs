//! WAMP-cryptosign end to end: `shardwamp run` with cryptosign principals and
//! a node key, `shardwamp ctl --key FILE` against it (authid inferred from the
//! key, a wrong key denied), and the client stack asking the router to
//! authenticate itself, over WebSocket and RawSocket.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use shardwamp::client::auth::Cryptosign;
use shardwamp::wamp::cryptosign::PrivateKey;

const BIN: &str = env!("CARGO_BIN_EXE_shardwamp");

fn write_key(path: &Path, seed: u8, crossbar_format: bool) -> PrivateKey {
    use std::os::unix::fs::PermissionsExt;
    let key = PrivateKey::from_seed(&[seed; 32]);
    let hex = shardwamp::wamp::cryptosign::encode_hex(&[seed; 32]);
    let text = if crossbar_format {
        format!(
            "Crossbar.io node private key - KEEP THIS SAFE!\n\ncreator: test\npublic-key-ed25519: {}\nprivate-key-ed25519: {hex}\n",
            key.public_hex()
        )
    } else {
        format!("{hex}\n")
    };
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

struct Router {
    child: std::process::Child,
    ws: String,
    rs: String,
    dir: PathBuf,
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A router whose management realm takes cryptosign principal `operator`
/// (key seed 1) on a WebSocket and a RawSocket transport; node key seed 7.
fn start() -> (Router, PathBuf) {
    let dir = std::env::temp_dir().join(format!("shardwamp-cryptosign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let operator = write_key(&dir.join("operator.priv"), 1, true);
    write_key(&dir.join("node.priv"), 7, true);
    let auth = format!(
        r#"[transports.auth.cryptosign]
type = "static"
principals = {{ operator = {{ authorized_keys = ["{}"], role = "admin", realm = "shardwamp.management" }} }}
"#,
        operator.public_hex()
    );
    let config = format!(
        r#"
[router]
shards = 2
node_key = "{node}"

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
{auth}
[[transports]]
type = "rawsocket"
id = "rs"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
{auth}
[management]
realm = "shardwamp.management"
"#,
        node = dir.join("node.priv").display()
    );
    let path = dir.join("router.toml");
    std::fs::write(&path, config).unwrap();
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let node_public = PrivateKey::from_seed(&[7; 32]).public_hex();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        out.contains(&format!("node key (public): {node_public}")),
        "{out}"
    );
    assert!(!out.contains(&"07".repeat(32)), "{out}");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut ws, mut rs) = (None, None);
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("listening: ws (websocket) on ") {
            ws = Some(rest.to_owned());
        }
        if let Some(rest) = line.strip_prefix("listening: rs (rawsocket) on ") {
            rs = Some(rest.to_owned());
        }
        if ws.is_some() && rs.is_some() {
            break;
        }
    }
    let router = Router {
        child,
        ws: ws.expect("the router did not listen"),
        rs: rs.expect("the router did not listen"),
        dir: dir.clone(),
    };
    (router, dir)
}

fn ctl(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["ctl", "--url", url])
        .args(args)
        .arg("get_router_realms")
        .output()
        .unwrap()
}

#[test]
fn ctl_with_a_key_file_and_router_authentication() {
    let (router, dir) = start();
    let key = dir.join("operator.priv");
    let key = key.to_str().unwrap();
    // Authid inferred from the key, or named; over WebSocket and RawSocket.
    for url in [&router.ws, &router.rs] {
        for args in [
            vec!["--key", key],
            vec!["--key", key, "--authid", "operator"],
        ] {
            let out = ctl(url, &args);
            assert!(
                out.status.success(),
                "ctl {args:?} --url {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("shardwamp.management"));
        }
    }
    // A key nobody lists, and the right key under another authid: denied alike.
    let stranger = dir.join("stranger.priv");
    write_key(&stranger, 2, false);
    let mut errors = Vec::new();
    for args in [
        vec!["--key", stranger.to_str().unwrap()],
        vec!["--key", key, "--authid", "someone"],
    ] {
        let out = ctl(&router.ws, &args);
        assert!(!out.status.success(), "ctl {args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("wamp.error.authentication_denied"), "{err}");
        errors.push(err);
    }
    // Channel binding needs TLS: over ws:// ctl refuses before HELLO.
    let out = ctl(
        &router.ws,
        &["--key", key, "--channel-binding", "tls-exporter"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("needs a TLS connection"),
        "{err}"
    );
    // A key file that is not one: a clear error, not the file's content.
    let bad = dir.join("bad.priv");
    std::fs::write(&bad, "hunter2").unwrap();
    let out = ctl(&router.ws, &["--key", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("bad.priv") && !err.contains("hunter2"),
        "{err}"
    );

    // The client stack asks the router to authenticate with its node key.
    let operator =
        shardwamp::wamp::cryptosign::parse_private_key(&std::fs::read(key).unwrap()).unwrap();
    let node = PrivateKey::from_seed(&[7; 32]);
    for url in [&router.ws, &router.rs] {
        let auth = Cryptosign::new(operator.clone(), None).authenticate_router(node.public_key());
        let client = shardwamp::transport::blocking::connect_with(
            url,
            "shardwamp.management",
            Box::new(auth),
        )
        .unwrap_or_else(|e| panic!("{url}: {e}"));
        client.leave();
        // Expecting another router key: the client refuses the router.
        let impostor = PrivateKey::from_seed(&[8; 32]);
        let auth =
            Cryptosign::new(operator.clone(), None).authenticate_router(impostor.public_key());
        let err = shardwamp::transport::blocking::connect_with(
            url,
            "shardwamp.management",
            Box::new(auth),
        )
        .err()
        .expect("joined a router with the wrong key");
        assert!(
            err.to_string().contains("router failed cryptosign"),
            "{err}"
        );
    }
}

#[test]
fn check_refuses_a_bad_node_key_and_a_bad_authorized_key() {
    let dir =
        std::env::temp_dir().join(format!("shardwamp-cryptosign-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("router.toml");
    for (router, key, expect) in [
        (
            "node_key = \"/nonexistent/key.priv\"",
            "00".repeat(32),
            "router.node_key",
        ),
        ("", "abcd".to_owned(), "authorized_keys"),
    ] {
        std::fs::write(
            &path,
            format!(
                r#"
[router]
{router}
[[realms]]
name = "realm1"
[[realms.roles]]
name = "user"
[[transports]]
type = "websocket"
id = "ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
[transports.auth.cryptosign]
type = "static"
principals = {{ alice = {{ authorized_keys = ["{key}"], role = "user" }} }}
"#
            ),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(expect),
            "{expect}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Item 8 of issue 13: a key file its group or others may read gets a
/// warning (the router's `node_key` at `check` and `run`, `ctl --key`), and
/// no output carries the private key.
#[test]
fn key_files_readable_by_others_get_a_warning_and_keys_stay_secret() {
    use std::os::unix::fs::PermissionsExt;
    let (router, dir) = start();
    let seed_hex = |seed: u8| shardwamp::wamp::cryptosign::encode_hex(&[seed; 32]);
    // ctl --key with a world-readable key: joins, warns, never shows the seed.
    let key = dir.join("operator.priv");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = ctl(&router.ws, &["--key", key.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains(&seed_hex(1)), "{all}");
    // the running config names the node key's file, never its content
    let out = Command::new(BIN)
        .args(["ctl", "--url", &router.ws, "--key", key.to_str().unwrap()])
        .arg("get_running_config")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("node.priv"), "{text}");
    assert!(
        !text.contains(&seed_hex(7)) && !text.contains(&seed_hex(1)),
        "{text}"
    );
    drop(router);
    // node_key: check warns too.
    let dir =
        std::env::temp_dir().join(format!("shardwamp-cryptosign-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let node = dir.join("node.priv");
    write_key(&node, 9, true);
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o640)).unwrap();
    let path = dir.join("router.toml");
    std::fs::write(
        &path,
        format!(
            "[router]\nnode_key = {:?}\n[[realms]]\nname = \"realm1\"\n[[transports]]\ntype = \"websocket\"\nid = \"ws\"\nendpoint = {{ type = \"tcp\", port = 0, interface = \"127.0.0.1\" }}\n",
            node
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("chmod 600"), "{all}");
    assert!(!all.contains(&seed_hex(9)), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}
