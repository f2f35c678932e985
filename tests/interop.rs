//! Real-client interop: autobahn-python (asyncio) and autobahn-js (Node) run
//! the scenarios in tests/interop/{python,js}/ against the router started
//! in-process (2 shards, WebSocket `/ws` and RawSocket on 127.0.0.1:0, every
//! serializer, `realm1` open to anonymous).
//!
//! The clients are installed by tests/interop/setup.sh under
//! `<target>/interop` (a venv and node_modules, pinned in
//! tests/interop/requirements.txt and package-lock.json); it needs python3
//! (>= 3.11), node (>= 20), npm and the PyPI and npm registries the first
//! time. Anything missing fails these tests: they never skip.
//!
//! Dynamic authentication and authorization (`python_dynamic_*`): a router
//! with a ticket transport authenticated by `com.interop.authenticate` and a
//! role `dyn` authorized by `com.interop.authorize`, both registered by an
//! autobahn-python session (tests/interop/python/dynamic.py), over WebSocket
//! × json, msgpack, cbor.
//!
//! Matrix: autobahn-python over WebSocket and RawSocket × json, msgpack, cbor;
//! autobahn-js over WebSocket × json, msgpack, cbor and RawSocket × json
//! (autobahn-js' RawSocket transport only speaks JSON:
//! lib/transport/rawsocket.js, `SERIALIZERS = { json: 1 }`).
//!
//! WAMP-cryptosign (tests/interop/{python,js}/cryptosign.*): autobahn-python
//! (`autobahn[encryption]`, PyNaCl) and autobahn-js (tweetnacl) join a router
//! whose transports take cryptosign principals, over WebSocket and RawSocket:
//! authid inferred and named, an unknown key denied, router authentication
//! (the router's signature checked by the client), and (Python) channel
//! binding asked for (autobahn-python binds with `tls-unique` only) refused
//! with `wamp.error.authentication_failed`: on a plain connection, and over
//! `wss://` and `rss://` (`python_cryptosign_wss_json`,
//! `python_cryptosign_rss_msgpack`: rustls has no `tls-unique`), where
//! cryptosign without binding joins.
//!
//! Dynamic `tls` and `cryptosign` authenticators
//! (tests/interop/python/dynamic_tls.py, `python_dynamic_tls_and_cryptosign_*`):
//! an autobahn-python session registers them; autobahn-python clients join
//! over `wss://` with a client certificate and with an Ed25519 key, welcomed
//! with the authid and role the authenticator chose, or refused with its
//! error. And autobahn-js (tests/interop/js/dynamic.js, `js_dynamic_ticket_*`):
//! a ticket checked by a dynamic authenticator an autobahn-js session
//! registered, for autobahn-js clients.
//!
//! Web and universal transports: the scenarios over a web transport's
//! WebSocket path (beside a bridge path) and over a universal transport's
//! RawSocket part (beside its WebSocket path on the same port).
//!
//! TLS: autobahn-python over `wss://` and `rss://` (a certificate made at test
//! time by rcgen and trusted through autobahn's `trust_root`) × json,
//! msgpack, cbor.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one scenario script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

use common::interop::{installed, repo};

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Python,
    Js,
}

/// Certificates made at test time (rcgen) in a directory of their own: a CA,
/// a server certificate for `localhost` it signed, and a client CA with the
/// client certificates `alice` and `mallory`.
struct Pki {
    dir: PathBuf,
    ca_file: PathBuf,
    server: shardwamp::config::TlsConfig,
    client_ca_file: PathBuf,
}

impl Pki {
    fn new(what: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "interop-{what}-{}-{:?}",
            std::process::id(),
            thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, name);
            let cert = p.self_signed(&key).unwrap();
            (cert, key)
        };
        let issue = |ca: &(rcgen::Certificate, KeyPair), stem: &str, names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(names).unwrap();
            p.distinguished_name.push(DnType::CommonName, stem);
            let cert = p.signed_by(&key, &ca.0, &ca.1).unwrap();
            let (c, k) = (
                dir.join(format!("{stem}.crt")),
                dir.join(format!("{stem}.key")),
            );
            std::fs::write(&c, cert.pem()).unwrap();
            write_private(&k, &key.serialize_pem());
            (c, k)
        };
        let server_ca = ca("interop CA");
        let ca_file = dir.join("ca.crt");
        std::fs::write(&ca_file, server_ca.0.pem()).unwrap();
        let (certificate, key) = issue(&server_ca, "server", vec!["localhost".to_owned()]);
        let client_ca = ca("interop client CA");
        let client_ca_file = dir.join("client-ca.crt");
        std::fs::write(&client_ca_file, client_ca.0.pem()).unwrap();
        issue(&client_ca, "alice", vec!["alice".to_owned()]);
        issue(&client_ca, "mallory", vec!["mallory".to_owned()]);
        let server = shardwamp::config::TlsConfig {
            key,
            certificate,
            chain_certificates: Vec::new(),
            ciphers: None,
            ca_certificates: Vec::new(),
            dhparam: None,
        };
        Pki {
            dir,
            ca_file,
            server,
            client_ca_file,
        }
    }

    /// Serves TLS on `l` with the server certificate; client certificates
    /// signed by the client CA are required when `clients`.
    fn serve(&self, l: &mut shardwamp::transport::ListenerSpec, clients: bool) {
        let mut files = self.server.clone();
        if clients {
            files.ca_certificates = vec![self.client_ca_file.clone()];
        }
        let tls = shardwamp::transport::TlsServer::load(&l.name, &files).unwrap();
        l.tls = Some(std::sync::Arc::new(tls));
    }
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A router whose `ws` and `rs` transports serve TLS with a certificate for
/// `localhost` made now; returns it with the CA file that signed it.
fn start_tls() -> (shardwamp::shard::RouterHandle, PathBuf) {
    let pki = Pki::new("tls");
    let mut listeners = vec![
        common::listener(0, "ws", true, None),
        common::listener(1, "rs", false, None),
    ];
    for l in &mut listeners {
        pki.serve(l, false);
    }
    let spec = shardwamp::shard::RouterSpec {
        shards: 2,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![common::open_realm("realm1")],
        listeners,
        seed: Some(42),
        realm_transports: Vec::new(),
        router_key: None,
    };
    (
        shardwamp::shard::start(spec).expect("router starts"),
        pki.ca_file,
    )
}

/// Starts a router and runs one client's scenarios over `transport` with
/// `serializer`; panics with the script's output unless it exits 0.
fn run(client: Client, transport: &str, serializer: &str) {
    run_with(client, transport, serializer, false)
}

/// [`run`], over TLS when `tls`.
fn run_with(client: Client, transport: &str, serializer: &str, tls: bool) {
    let (router, trust_root) = if tls {
        let (r, ca) = start_tls();
        (r, Some(ca))
    } else {
        (common::start(2), None)
    };
    run_script(
        client,
        "scenarios",
        router,
        transport,
        serializer,
        &[],
        trust_root.as_deref(),
    );
}

/// The seeds of the cryptosign interop keys: the client's (principal
/// `client`), one nobody lists, and the router's node key.
const CLIENT_SEED: [u8; 32] = [21; 32];
const STRANGER_SEED: [u8; 32] = [22; 32];
const NODE_SEED: [u8; 32] = [23; 32];

/// A router whose `ws` and `rs` transports take cryptosign principal `client`
/// (role `anonymous`), with node key [`NODE_SEED`]; over TLS when `tls` is
/// given.
fn cryptosign_router(tls: Option<&Pki>) -> shardwamp::shard::RouterHandle {
    use shardwamp::wamp::cryptosign::PrivateKey;
    let client = PrivateKey::from_seed(&CLIENT_SEED);
    let auth: shardwamp::config::auth::TransportAuth = serde_json::from_value(serde_json::json!({
        "cryptosign": {"type": "static", "principals": {
            "client": {"authorized_keys": [client.public_hex()], "role": "anonymous"}}}
    }))
    .expect("cryptosign auth");
    let mut listeners = vec![
        common::listener(0, "ws", true, None),
        common::listener(1, "rs", false, None),
    ];
    for l in &mut listeners {
        l.auth = auth.clone();
        if let Some(pki) = tls {
            pki.serve(l, false);
        }
    }
    shardwamp::shard::start(shardwamp::shard::RouterSpec {
        shards: 2,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![common::open_realm("realm1")],
        listeners,
        seed: Some(42),
        realm_transports: Vec::new(),
        router_key: Some(PrivateKey::from_seed(&NODE_SEED)),
    })
    .expect("router starts")
}

/// Runs one client's cryptosign scenarios against [`cryptosign_router`],
/// over TLS when `tls` (`wss://`, `rss://`).
fn run_cryptosign(client: Client, transport: &str, serializer: &str, tls: bool) {
    let pki = tls.then(|| Pki::new("cryptosign"));
    use shardwamp::wamp::cryptosign::{encode_hex, PrivateKey};
    let args = [
        "--privkey".to_owned(),
        encode_hex(&CLIENT_SEED),
        "--stranger".to_owned(),
        encode_hex(&STRANGER_SEED),
        "--router-pubkey".to_owned(),
        PrivateKey::from_seed(&NODE_SEED).public_hex(),
    ];
    run_script(
        client,
        "cryptosign",
        cryptosign_router(pki.as_ref()),
        transport,
        serializer,
        &args,
        pki.as_ref().map(|p| p.ca_file.as_path()),
    );
}

/// Runs tests/interop/{python,js}/`script`.{py,js} against `router`, over
/// TLS trusting the CA file `trust_root` when one is given.
fn run_script(
    client: Client,
    script: &str,
    router: shardwamp::shard::RouterHandle,
    transport: &str,
    serializer: &str,
    extra: &[String],
    trust_root: Option<&Path>,
) {
    let inst = installed();
    let tls = trust_root.is_some();
    let s = if tls { "s" } else { "" };
    let url = match transport {
        "websocket" => format!(
            "ws{s}://localhost:{}/ws",
            router.tcp_addr("ws").unwrap().port()
        ),
        "rawsocket" => format!(
            "rs{s}://localhost:{}",
            router.tcp_addr("rs").unwrap().port()
        ),
        other => panic!("unknown transport {other}"),
    };
    let mut cmd = match client {
        Client::Python => {
            let mut c = Command::new(&inst.python);
            c.arg(repo().join(format!("tests/interop/python/{script}.py")));
            c
        }
        Client::Js => {
            let mut c = Command::new("node");
            if inst.node_major < 22 {
                // autobahn-js uses the global WebSocket, unflagged from Node 22
                c.arg("--experimental-websocket");
            }
            c.arg(repo().join(format!("tests/interop/js/{script}.js")));
            c.env("NODE_PATH", &inst.node_modules);
            c
        }
    };
    if let Some(ca) = &trust_root {
        cmd.arg("--trust-root").arg(ca);
    }
    cmd.args(["--url", &url, "--transport", transport])
        .args(["--serializer", serializer, "--realm", "realm1"])
        .args(extra)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let label = format!(
        "{} {script} {transport}{}/{serializer}",
        if client == Client::Python {
            "autobahn-python"
        } else {
            "autobahn-js"
        },
        if tls { " over TLS" } else { "" }
    );
    run_command(cmd, router, &label);
}

/// Runs a scenario script against `router`, stops the router, and panics
/// with the script's output unless it exited 0 and the router stopped cleanly.
fn run_command(mut cmd: Command, router: shardwamp::shard::RouterHandle, label: &str) {
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{label}: cannot start the script: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = wait(&mut child, SCRIPT_TIMEOUT);
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let took = started.elapsed();
    router.shutdown("wamp.close.system_shutdown");
    let stopped = router.join();
    let report = format!("--- stdout\n{stdout}--- stderr\n{stderr}");
    match status {
        Some(s) if s.success() => eprintln!("{label}: passed in {took:.1?}\n{stdout}"),
        Some(s) => panic!("{label}: the scenarios failed ({s}) after {took:.1?}\n{report}"),
        None => panic!("{label}: killed after {SCRIPT_TIMEOUT:?}\n{report}"),
    }
    if let Err(e) = stopped {
        panic!("{label}: the router did not stop cleanly: {e}");
    }
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for `child` up to `limit`; kills it and returns `None` past it.
fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the script") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn python_websocket_json() {
    run(Client::Python, "websocket", "json");
}

#[test]
fn python_websocket_msgpack() {
    run(Client::Python, "websocket", "msgpack");
}

#[test]
fn python_websocket_cbor() {
    run(Client::Python, "websocket", "cbor");
}

#[test]
fn python_rawsocket_json() {
    run(Client::Python, "rawsocket", "json");
}

#[test]
fn python_rawsocket_msgpack() {
    run(Client::Python, "rawsocket", "msgpack");
}

#[test]
fn python_rawsocket_cbor() {
    run(Client::Python, "rawsocket", "cbor");
}

#[test]
fn js_websocket_json() {
    run(Client::Js, "websocket", "json");
}

#[test]
fn js_websocket_msgpack() {
    run(Client::Js, "websocket", "msgpack");
}

#[test]
fn js_websocket_cbor() {
    run(Client::Js, "websocket", "cbor");
}

#[test]
fn js_rawsocket_json() {
    run(Client::Js, "rawsocket", "json");
}

#[test]
fn python_cryptosign_websocket_msgpack() {
    run_cryptosign(Client::Python, "websocket", "msgpack", false);
}

#[test]
fn python_cryptosign_rawsocket_cbor() {
    run_cryptosign(Client::Python, "rawsocket", "cbor", false);
}

#[test]
fn js_cryptosign_websocket_json() {
    run_cryptosign(Client::Js, "websocket", "json", false);
}

#[test]
fn js_cryptosign_rawsocket_json() {
    run_cryptosign(Client::Js, "rawsocket", "json", false);
}

/// autobahn-python cryptosign over `wss://`: joins unbound; asking for
/// `tls-unique` (rustls has none, TLS 1.3 defines none) is refused with
/// `wamp.error.authentication_failed` naming it.
#[test]
fn python_cryptosign_wss_json() {
    run_cryptosign(Client::Python, "websocket", "json", true);
}

/// The same over `rss://`.
#[test]
fn python_cryptosign_rss_msgpack() {
    run_cryptosign(Client::Python, "rawsocket", "msgpack", true);
}

/// A router for the dynamic scenarios: `ws` (anonymous, role `anonymous`) and
/// `ticket` (tickets checked by `com.interop.authenticate`); `realm1` has the
/// role `dyn`, authorized by `com.interop.authorize`.
fn dynamic_router() -> shardwamp::shard::RouterHandle {
    use shardwamp::config::auth::TransportAuth;
    use shardwamp::config::role::RoleConfig;
    let mut realm = common::open_realm("realm1");
    realm.roles.push(RoleConfig {
        name: "dyn".into(),
        permissions: vec![],
        authorizer: Some("com.interop.authorize".into()),
        allow_by_default: false,
    });
    let mut ticket = common::listener(1, "ticket", true, None);
    ticket.auth = serde_json::from_value::<TransportAuth>(serde_json::json!({
        "ticket": {"type": "dynamic", "authenticator": "com.interop.authenticate"}
    }))
    .expect("dynamic ticket config");
    let spec = shardwamp::shard::RouterSpec {
        shards: 2,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![realm],
        listeners: vec![common::listener(0, "ws", true, None), ticket],
        seed: Some(42),
        realm_transports: Vec::new(),
        router_key: None,
    };
    shardwamp::shard::start(spec).expect("router starts")
}

fn run_dynamic(serializer: &str) {
    let inst = installed();
    let router = dynamic_router();
    let url = format!("ws://{}/ws", router.tcp_addr("ws").unwrap());
    let ticket_url = format!("ws://{}/ws", router.tcp_addr("ticket").unwrap());
    let mut cmd = Command::new(&inst.python);
    cmd.arg(repo().join("tests/interop/python/dynamic.py"))
        .args(["--url", &url, "--ticket-url", &ticket_url])
        .args(["--serializer", serializer])
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_command(
        cmd,
        router,
        &format!("autobahn-python dynamic auth/{serializer}"),
    );
}

#[test]
fn python_dynamic_websocket_json() {
    run_dynamic("json");
}

#[test]
fn python_dynamic_websocket_msgpack() {
    run_dynamic("msgpack");
}

#[test]
fn python_dynamic_websocket_cbor() {
    run_dynamic("cbor");
}

#[test]
fn python_wss_json() {
    run_with(Client::Python, "websocket", "json", true);
}

#[test]
fn python_wss_msgpack() {
    run_with(Client::Python, "websocket", "msgpack", true);
}

#[test]
fn python_wss_cbor() {
    run_with(Client::Python, "websocket", "cbor", true);
}

#[test]
fn python_rss_json() {
    run_with(Client::Python, "rawsocket", "json", true);
}

#[test]
fn python_rss_msgpack() {
    run_with(Client::Python, "rawsocket", "msgpack", true);
}

#[test]
fn python_rss_cbor() {
    run_with(Client::Python, "rawsocket", "cbor", true);
}

/// A router for the dynamic `tls` and `cryptosign` scenarios: `ws`
/// (anonymous, for the service session), `tls` (wss://, client certificates
/// required, `com.interop.authenticate_tls`) and `cryptosign` (wss://,
/// `com.interop.authenticate_cryptosign`); `realm1` has the role `chosen`.
fn dynamic_tls_router(pki: &Pki) -> shardwamp::shard::RouterHandle {
    use shardwamp::config::auth::TransportAuth;
    use shardwamp::config::role::RoleConfig;
    let mut realm = common::open_realm("realm1");
    realm.roles.push(RoleConfig {
        name: "chosen".into(),
        permissions: vec![],
        authorizer: None,
        allow_by_default: false,
    });
    let dynamic = |method: &str, uri: &str| {
        serde_json::from_value::<TransportAuth>(serde_json::json!({
            method: {"type": "dynamic", "authenticator": uri}
        }))
        .expect("dynamic auth config")
    };
    let mut tls = common::listener(1, "tls", true, None);
    tls.auth = dynamic("tls", "com.interop.authenticate_tls");
    pki.serve(&mut tls, true);
    let mut cryptosign = common::listener(2, "cryptosign", true, None);
    cryptosign.auth = dynamic("cryptosign", "com.interop.authenticate_cryptosign");
    pki.serve(&mut cryptosign, false);
    let spec = shardwamp::shard::RouterSpec {
        shards: 2,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![realm],
        listeners: vec![common::listener(0, "ws", true, None), tls, cryptosign],
        seed: Some(42),
        realm_transports: Vec::new(),
        router_key: None,
    };
    shardwamp::shard::start(spec).expect("router starts")
}

/// tests/interop/python/dynamic_tls.py: an autobahn-python session
/// registers dynamic `tls` and `cryptosign` authenticators; other
/// autobahn-python clients join over `wss://` with a client certificate and
/// with an Ed25519 key, and are welcomed with the role the authenticator
/// chose, or refused with its error.
fn run_dynamic_tls(serializer: &str) {
    use shardwamp::wamp::cryptosign::encode_hex;
    let inst = installed();
    let pki = Pki::new("dynamic-tls");
    let router = dynamic_tls_router(&pki);
    let url = format!("ws://{}/ws", router.tcp_addr("ws").unwrap());
    let wss = |id: &str| format!("wss://localhost:{}/ws", router.tcp_addr(id).unwrap().port());
    let mut cmd = Command::new(&inst.python);
    cmd.arg(repo().join("tests/interop/python/dynamic_tls.py"))
        .args(["--url", &url, "--tls-url", &wss("tls")])
        .args(["--cryptosign-url", &wss("cryptosign")])
        .arg("--pki")
        .arg(&pki.dir)
        .args(["--serializer", serializer])
        .args(["--privkey", &encode_hex(&CLIENT_SEED)])
        .args(["--stranger", &encode_hex(&STRANGER_SEED)])
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_command(
        cmd,
        router,
        &format!("autobahn-python dynamic tls/cryptosign over wss/{serializer}"),
    );
}

#[test]
fn python_dynamic_tls_and_cryptosign_json() {
    run_dynamic_tls("json");
}

#[test]
fn python_dynamic_tls_and_cryptosign_cbor() {
    run_dynamic_tls("cbor");
}

/// tests/interop/js/dynamic.js: an autobahn-js session registers a dynamic
/// ticket authenticator on [`dynamic_router`]; autobahn-js clients join with
/// a good ticket (the role it chose) and a bad one (ABORT with its error).
fn run_js_dynamic(serializer: &str) {
    let inst = installed();
    let router = dynamic_router();
    let url = format!("ws://{}/ws", router.tcp_addr("ws").unwrap());
    let ticket_url = format!("ws://{}/ws", router.tcp_addr("ticket").unwrap());
    let mut cmd = Command::new("node");
    if inst.node_major < 22 {
        cmd.arg("--experimental-websocket");
    }
    cmd.arg(repo().join("tests/interop/js/dynamic.js"))
        .env("NODE_PATH", &inst.node_modules)
        .args(["--url", &url, "--ticket-url", &ticket_url])
        .args(["--serializer", serializer])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_command(
        cmd,
        router,
        &format!("autobahn-js dynamic ticket/{serializer}"),
    );
}

#[test]
fn js_dynamic_ticket_json() {
    run_js_dynamic("json");
}

#[test]
fn js_dynamic_ticket_msgpack() {
    run_js_dynamic("msgpack");
}

/// A router whose `ws` is a web transport (the WebSocket at `/ws`, a bridge
/// publisher beside it at `/pub`) and whose `rs` is a universal transport
/// (RawSocket, and WebSocket at `/ws`, on one port): the scenarios run over
/// them as over plain transports.
fn web_router() -> shardwamp::shard::RouterHandle {
    use shardwamp::transport::ListenerSpec;
    let text = r#"
[[transports]]
id = "ws"
type = "web"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }
[transports.paths.ws]
type = "websocket"
[transports.paths.pub]
type = "publisher"
realm = "realm1"
role = "anonymous"

[[transports]]
id = "rs"
type = "universal"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }
rawsocket = {}
websocket = { ws = {} }
"#;
    #[derive(serde::Deserialize)]
    struct Transports {
        transports: Vec<shardwamp::config::TransportConfig>,
    }
    let config: Transports = toml::from_str(text).expect("the web router's transports");
    let listeners = config
        .transports
        .iter()
        .enumerate()
        .map(|(i, t)| ListenerSpec::from_transport(i as u32, t).expect("listener"))
        .collect();
    let spec = shardwamp::shard::RouterSpec {
        shards: 2,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![common::open_realm("realm1")],
        listeners,
        seed: Some(42),
        realm_transports: Vec::new(),
        router_key: None,
    };
    shardwamp::shard::start(spec).expect("router starts")
}

#[test]
fn python_web_websocket_cbor_and_universal_rawsocket_msgpack() {
    run_script(
        Client::Python,
        "scenarios",
        web_router(),
        "websocket",
        "cbor",
        &[],
        None,
    );
    run_script(
        Client::Python,
        "scenarios",
        web_router(),
        "rawsocket",
        "msgpack",
        &[],
        None,
    );
}

#[test]
fn js_web_websocket_json_and_universal_rawsocket_json() {
    run_script(
        Client::Js,
        "scenarios",
        web_router(),
        "websocket",
        "json",
        &[],
        None,
    );
    run_script(
        Client::Js,
        "scenarios",
        web_router(),
        "rawsocket",
        "json",
        &[],
        None,
    );
}
