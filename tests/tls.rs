//! TLS on the listening transports, against a running two-shard router with
//! certificates made at test time (rcgen): WebSocket and RawSocket over TLS,
//! what authentication learns (the `tls` method, session details), clients a
//! router must refuse (untrusted, expired, wrong host, no client
//! certificate), hostile input (garbage instead of a ClientHello, a handshake
//! that stops halfway) and reloading the certificate (the control operation
//! and SIGHUP).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use shardwamp::client::auth::{Anonymous, ClientAuthenticator, Cryptosign, TlsCertificate};
use shardwamp::component::Registry;
use shardwamp::config::Config;
use shardwamp::control::Controller;
use shardwamp::transport::blocking::connect_tls;
use shardwamp::transport::TlsClientOptions;
use shardwamp::wamp::cryptosign::PrivateKey;
use shardwamp::wamp::value::{Dict, Value};

const BIN: &str = env!("CARGO_BIN_EXE_shardwamp");

/// A certificate authority that signs the test's certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A certificate for `names`, written as `stem.crt` and `stem.key` in
    /// `dir`; `expired` dates it in the past.
    fn issue(&self, dir: &Path, stem: &str, names: &[&str], expired: bool) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, stem);
        if expired {
            p.not_before = rcgen::date_time_ymd(2000, 1, 1);
            p.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let (c, k) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        set_mode(&k, 0o600);
        (c, k)
    }

    fn write(&self, dir: &Path, stem: &str) -> PathBuf {
        let p = dir.join(format!("{stem}.crt"));
        std::fs::write(&p, self.cert.pem()).unwrap();
        p
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shardwamp-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// SHA-1 of a PEM certificate file, as the router writes fingerprints.
fn fingerprint(pem: &Path) -> String {
    let der = shardwamp::config::tls::read_certificates(pem).unwrap();
    shardwamp::transport::tls::sha1_fingerprint(&der[0])
}

/// The test's files: a server CA and certificate, a client CA and two
/// client certificates (one a principal, one not).
struct Pki {
    dir: PathBuf,
    server_ca: Ca,
    server_ca_file: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_ca_file: PathBuf,
    alice: (PathBuf, PathBuf),
    mallory: (PathBuf, PathBuf),
}

fn pki(name: &str) -> Pki {
    let dir = tempdir(name);
    let server_ca = Ca::new("server CA");
    let server_ca_file = server_ca.write(&dir, "server-ca");
    let (server_cert, server_key) =
        server_ca.issue(&dir, "server", &["localhost", "127.0.0.1"], false);
    let client_ca = Ca::new("client CA");
    let client_ca_file = client_ca.write(&dir, "client-ca");
    let alice = client_ca.issue(&dir, "alice", &["alice"], false);
    let mallory = client_ca.issue(&dir, "mallory", &["mallory"], false);
    Pki {
        dir,
        server_ca,
        server_ca_file,
        server_cert,
        server_key,
        client_ca_file,
        alice,
        mallory,
    }
}

fn config_text(p: &Pki) -> String {
    let tls = |ca: bool| {
        format!(
            "{{ key = {:?}, certificate = {:?}{} }}",
            p.server_key,
            p.server_cert,
            if ca {
                format!(", ca_certificates = [{:?}]", p.client_ca_file)
            } else {
                String::new()
            }
        )
    };
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
[[realms.roles]]
name = "backend"
[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = {{ call = true, register = true, publish = true, subscribe = true }}

[[transports]]
type = "websocket"
id = "wss"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {wss} }}

[[transports]]
type = "websocket"
id = "wss-capped"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {wss} }}
options = {{ max_handshakes = 1 }}

[[transports]]
type = "websocket"
id = "wss-short"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {wss} }}
options = {{ open_handshake_timeout = 1500 }}

[[transports]]
type = "rawsocket"
id = "rss"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {rss} }}
serializers = ["json", "msgpack", "cbor"]

[[transports]]
type = "websocket"
id = "mtls"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {mtls} }}
[transports.auth.tls]
type = "static"
principals = {{ alice = {{ "certificate-sha1" = "{alice}", role = "backend" }} }}
[transports.auth.anonymous]
type = "static"
role = "anonymous"

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}

[[transports]]
type = "rawsocket"
id = "unix"
endpoint = {{ type = "unix", path = {sock:?}, tls = {rss} }}

[[transports]]
type = "websocket"
id = "cs-wss"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {wss} }}
{cryptosign}
[[transports]]
type = "rawsocket"
id = "cs-rss"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {rss} }}
{cryptosign}
[[transports]]
type = "websocket"
id = "cs-ws"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
{cryptosign}
"#,
        cryptosign = format!(
            "[transports.auth.cryptosign]\ntype = \"static\"\nprincipals = {{ carol = {{ authorized_keys = [\"{}\"], role = \"backend\" }} }}\n",
            carol().public_hex()
        ),
        sock = p.dir.join("r.sock"),
        wss = tls(false),
        rss = tls(false),
        mtls = tls(true),
        alice = fingerprint(&p.alice.0),
    )
}

/// The cryptosign principal `carol` of the `cs-*` transports.
fn carol() -> PrivateKey {
    PrivateKey::from_seed(&[0xca; 32])
}

fn start(p: &Pki) -> Arc<Controller> {
    let config = Config::from_str_with_env(&config_text(p), |_| None).expect("config");
    Controller::start(config, Registry::with_builtins()).expect("router starts")
}

fn trust(p: &Pki) -> TlsClientOptions {
    TlsClientOptions {
        ca_certificates: vec![p.server_ca_file.clone()],
        ..Default::default()
    }
}

fn anonymous() -> Box<dyn ClientAuthenticator> {
    Box::new(Anonymous::default())
}

/// This session's details as the meta API reports them.
fn own_details(c: &mut shardwamp::client::Client) -> Dict {
    let id = c.session_id();
    let (args, _) = c
        .call("wamp.session.get", vec![Value::UInt(id)], Dict::new())
        .expect("wamp.session.get");
    match args.into_iter().next() {
        Some(Value::Dict(d)) => d,
        other => panic!("{other:?}"),
    }
}

fn tls_failures(c: &Controller) -> u64 {
    match c
        .call_blocking("get_router_shard_stats", &[], &Dict::new())
        .unwrap()
    {
        Value::List(shards) => shards
            .iter()
            .map(|s| match s {
                Value::Dict(d) => d
                    .get("tls_handshake_failures")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                _ => 0,
            })
            .sum(),
        other => panic!("{other:?}"),
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn websocket_and_rawsocket_over_tls_join_and_say_so() {
    let p = pki("join");
    let c = start(&p);
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("wss").unwrap().port()
    );
    let rss = format!(
        "rss://127.0.0.1:{}",
        c.transport_addr("rss").unwrap().port()
    );
    for url in [&wss, &rss] {
        let mut client = connect_tls(url, "realm1", anonymous(), &trust(&p)).expect(url);
        let d = own_details(&mut client);
        let Some(Value::Dict(t)) = d.get("transport") else {
            panic!("{d:?}")
        };
        assert_eq!(t.get("is_secure"), Some(&Value::Bool(true)), "{url}: {t:?}");
        assert_eq!(t.get("channel_type"), Some(&Value::from("tls")), "{url}");
        assert_eq!(t.get("tls_version"), Some(&Value::from("TLSv1.3")), "{url}");
        client.leave();
    }
    // over a Unix socket, the name checked is localhost
    let unix = format!("rss+unix://{}", p.dir.join("r.sock").display());
    let mut client = connect_tls(&unix, "realm1", anonymous(), &trust(&p)).expect(&unix);
    own_details(&mut client);
    client.leave();
    // by the name in the certificate, too
    let by_name = TlsClientOptions {
        hostname: Some("localhost".into()),
        ..trust(&p)
    };
    connect_tls(&wss, "realm1", anonymous(), &by_name)
        .expect("localhost")
        .leave();
    c.shutdown();
}

#[test]
fn clients_that_must_be_refused_are() {
    let p = pki("refused");
    let c = start(&p);
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("wss").unwrap().port()
    );
    let before = tls_failures(&c);
    // an untrusted (self-signed, from the client's view) certificate
    let e = connect_tls(&wss, "realm1", anonymous(), &TlsClientOptions::default())
        .err()
        .expect("untrusted");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    // a name the certificate does not carry
    let wrong = TlsClientOptions {
        hostname: Some("wrong.example".into()),
        ..trust(&p)
    };
    let e = connect_tls(&wss, "realm1", anonymous(), &wrong)
        .err()
        .expect("wrong host");
    assert!(e.to_string().contains("not valid for name"), "{e}");
    // the router counts the handshakes the clients gave up on
    wait_for("two failed handshakes", || tls_failures(&c) >= before + 2);
    c.shutdown();

    // an expired certificate
    let expired = pki("expired");
    let (cert, key) = expired
        .server_ca
        .issue(&expired.dir, "old", &["127.0.0.1"], true);
    std::fs::copy(&cert, &expired.server_cert).unwrap();
    std::fs::copy(&key, &expired.server_key).unwrap();
    let c = start(&expired);
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("wss").unwrap().port()
    );
    let e = connect_tls(&wss, "realm1", anonymous(), &trust(&expired))
        .err()
        .expect("expired");
    assert!(e.to_string().to_lowercase().contains("expired"), "{e}");
    c.shutdown();
}

#[test]
fn client_certificates_are_required_and_authenticate() {
    let p = pki("mtls");
    let c = start(&p);
    let url = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("mtls").unwrap().port()
    );
    let as_ = |who: &(PathBuf, PathBuf)| TlsClientOptions {
        certificate: Some(who.0.clone()),
        key: Some(who.1.clone()),
        ..trust(&p)
    };
    // no client certificate: refused in the handshake
    assert!(connect_tls(&url, "realm1", anonymous(), &trust(&p)).is_err());
    // alice's certificate is a principal's: welcomed as alice, no challenge
    let mut alice = connect_tls(
        &url,
        "realm1",
        Box::new(TlsCertificate::default()),
        &as_(&p.alice),
    )
    .expect("alice");
    let d = own_details(&mut alice);
    assert_eq!(d.get("authid"), Some(&Value::from("alice")), "{d:?}");
    assert_eq!(d.get("authrole"), Some(&Value::from("backend")));
    assert_eq!(d.get("authmethod"), Some(&Value::from("tls")));
    alice.leave();
    // naming another authid is denied
    let e = connect_tls(
        &url,
        "realm1",
        Box::new(TlsCertificate {
            authid: Some("bob".into()),
        }),
        &as_(&p.alice),
    )
    .err()
    .expect("bob");
    assert!(e.to_string().contains("authentication_denied"), "{e}");
    // mallory's certificate is trusted but no principal's: denied; she may
    // still join anonymously
    let e = connect_tls(
        &url,
        "realm1",
        Box::new(TlsCertificate::default()),
        &as_(&p.mallory),
    )
    .err()
    .expect("mallory");
    assert!(e.to_string().contains("authentication_denied"), "{e}");
    connect_tls(&url, "realm1", anonymous(), &as_(&p.mallory))
        .expect("anonymous")
        .leave();
    // the tls method on a plain transport: no certificate, denied
    let plain = format!("ws://{}/ws", c.transport_addr("ws").unwrap());
    assert!(connect_tls(
        &plain,
        "realm1",
        Box::new(TlsCertificate::default()),
        &trust(&p)
    )
    .is_err());
    c.shutdown();
}

#[test]
fn hostile_handshakes_cost_a_counter_not_the_shard() {
    let p = pki("hostile");
    let c = start(&p);
    // The hostile connections go to a transport with a short handshake
    // timeout; the clients served meanwhile to one with the default, so that
    // a busy test host cannot time them out.
    let addr: SocketAddr = c.transport_addr("wss-short").unwrap();
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("wss").unwrap().port()
    );
    let before = tls_failures(&c);
    // garbage instead of a ClientHello: closed at once
    let mut g = TcpStream::connect(addr).unwrap();
    g.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    g.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    while let Ok(n @ 1..) = g.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    // at most a TLS alert record, never an HTTP answer
    assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    // a handshake that stops halfway: a record header promising more than comes
    let mut stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
                .unwrap();
            s
        })
        .collect();
    // meanwhile every shard serves others
    for _ in 0..6 {
        let mut client = connect_tls(&wss, "realm1", anonymous(), &trust(&p)).expect("served");
        own_details(&mut client);
        client.leave();
    }
    // the stalled ones are closed after the handshake timeout (1.5 s)
    let t0 = Instant::now();
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 16];
        while let Ok(1..) = s.read(&mut b) {}
    }
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    wait_for("five failed handshakes", || tls_failures(&c) >= before + 5);
    c.shutdown();
}

#[test]
fn a_reload_serves_new_connections_the_new_certificate() {
    let p = pki("reload");
    let c = start(&p);
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("wss").unwrap().port()
    );
    let old = fingerprint(&p.server_cert);
    assert_eq!(
        served_fingerprint(&p, c.transport_addr("wss").unwrap()),
        old
    );
    // an open session survives the reload
    let mut kept = connect_tls(&wss, "realm1", anonymous(), &trust(&p)).unwrap();
    let (cert, key) = p
        .server_ca
        .issue(&p.dir, "server2", &["localhost", "127.0.0.1"], false);
    std::fs::copy(&cert, &p.server_cert).unwrap();
    std::fs::copy(&key, &p.server_key).unwrap();
    let new = fingerprint(&p.server_cert);
    assert_ne!(old, new);
    let answer = c
        .call_blocking(
            "reload_router_transport_tls",
            &[Value::from("wss")],
            &Dict::new(),
        )
        .unwrap();
    let Value::List(items) = answer else {
        panic!("{answer:?}")
    };
    let Value::Dict(d) = &items[0] else { panic!() };
    assert_eq!(d.get("certificate_sha1"), Some(&Value::from(new.as_str())));
    assert_eq!(
        served_fingerprint(&p, c.transport_addr("wss").unwrap()),
        new
    );
    let detail = c
        .call_blocking("get_router_transport", &[Value::from("wss")], &Dict::new())
        .unwrap();
    let Value::Dict(detail) = detail else {
        panic!()
    };
    let Some(Value::Dict(tls)) = detail.get("tls") else {
        panic!("{detail:?}")
    };
    assert_eq!(
        tls.get("certificate_sha1"),
        Some(&Value::from(new.as_str()))
    );
    own_details(&mut kept);
    kept.leave();
    // every TLS transport at once; a plain one is not a TLS transport
    let all = c
        .call_blocking("reload_router_transport_tls", &[], &Dict::new())
        .unwrap();
    // every TLS transport: wss, wss-capped, wss-short, rss, mtls, unix, cs-wss, cs-rss
    assert!(matches!(&all, Value::List(l) if l.len() == 8), "{all:?}");
    assert!(c
        .call_blocking(
            "reload_router_transport_tls",
            &[Value::from("ws")],
            &Dict::new()
        )
        .is_err());
    // a broken file: the error names the key, the running certificate stays
    std::fs::write(&p.server_cert, "not a certificate").unwrap();
    let e = c
        .call_blocking(
            "reload_router_transport_tls",
            &[Value::from("wss")],
            &Dict::new(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("tls.certificate"), "{e}");
    assert_eq!(
        served_fingerprint(&p, c.transport_addr("wss").unwrap()),
        new
    );
    c.shutdown();
}

/// The fingerprint of the certificate the router serves at `addr`.
fn served_fingerprint(p: &Pki, addr: SocketAddr) -> String {
    let config = trust(p).client_config().unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    let der = conn.peer_certificates().unwrap()[0].clone();
    shardwamp::transport::tls::sha1_fingerprint(&der)
}

#[test]
fn sighup_reloads_the_certificate() {
    let p = pki("sighup");
    let text = format!(
        r#"
[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"

[[transports]]
type = "websocket"
id = "wss"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {{ key = {:?}, certificate = {:?}, dhparam = "dh.pem" }} }}
"#,
        p.server_key, p.server_cert
    );
    let file = p.dir.join("router.toml");
    std::fs::write(&file, text).unwrap();
    set_mode(&p.server_key, 0o644);
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(at) = line
            .split(" on ")
            .nth(1)
            .filter(|_| line.starts_with("listening"))
        {
            url = Some(at.to_owned());
            break;
        }
    }
    let url = url.expect("the router prints where it listens");
    assert!(url.starts_with("wss://"), "{url}");
    let addr: SocketAddr = url
        .trim_start_matches("wss://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    assert_eq!(served_fingerprint(&p, addr), fingerprint(&p.server_cert));
    let (cert, key) = p.server_ca.issue(&p.dir, "server2", &["127.0.0.1"], false);
    std::fs::copy(&cert, &p.server_cert).unwrap();
    std::fs::copy(&key, &p.server_key).unwrap();
    let new = fingerprint(&p.server_cert);
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    wait_for("the new certificate", || {
        served_fingerprint(&p, addr) == new
    });
    // SAFETY: as above.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("dhparam is ignored"), "{log}");
    assert!(log.contains("can be read by anyone"), "{log}");
    assert!(log.contains("TLS certificate and key reloaded"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}

#[test]
fn check_names_the_key_and_line_of_a_bad_tls_file() {
    let p = pki("check");
    let text = format!(
        "[[realms]]\nname = \"realm1\"\n\n[[transports]]\ntype = \"websocket\"\nid = \"wss\"\nurl = \"/ws\"\n[transports.endpoint]\ntype = \"tcp\"\nport = 0\n[transports.endpoint.tls]\nkey = {:?}\ncertificate = {:?}\n",
        p.dir.join("missing.key"),
        p.server_cert
    );
    let file = p.dir.join("bad.toml");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("transports[0].endpoint.tls.key"), "{err}");
    assert!(err.contains("line 12"), "{err}");
    // ciphers rustls has none of
    let text = text.replace(
        "[transports.endpoint.tls]\n",
        "[transports.endpoint.tls]\nciphers = \"DHE-RSA-AES128-SHA:RC4-MD5\"\n",
    );
    let text = text.replace(
        &format!("{:?}", p.dir.join("missing.key")),
        &format!("{:?}", p.server_key),
    );
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("tls.ciphers"), "{err}");
}

#[test]
fn the_load_generator_dials_tls() {
    use shardwamp::loadgen::{self, Options, Scenario};
    let p = pki("loadgen");
    let c = start(&p);
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("wss").unwrap().port()
    );
    let rss = format!(
        "rss://127.0.0.1:{}",
        c.transport_addr("rss").unwrap().port()
    );
    for (scenario, url) in [(Scenario::Fanout, &wss), (Scenario::Rpc, &rss)] {
        let mut o = Options::new(scenario, url).expect("options");
        o.target.tls.as_mut().expect("a TLS target").ca_certificates =
            vec![p.server_ca_file.clone()];
        o.duration = Duration::from_millis(600);
        o.warmup = Duration::from_millis(200);
        o.fanout.subscribers = 10;
        o.fanout.publishers = 1;
        o.fanout.topics = 1;
        o.rpc.callers = 2;
        o.rpc.callees = 1;
        let r = loadgen::run(&o).expect(url);
        assert!(r.passed, "{url}: {}", r.summary());
        assert_eq!(r.errors, 0, "{url}: {}", r.summary());
        assert!(r.throughput > 0.0, "{url}: {}", r.summary());
    }
    // Sessions authenticated with cryptosign bound to the TLS channel.
    let cs_wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("cs-wss").unwrap().port()
    );
    let mut o = Options::new(Scenario::Sessions, &cs_wss).expect("options");
    o.target.tls.as_mut().expect("a TLS target").ca_certificates = vec![p.server_ca_file.clone()];
    o.auth = loadgen::Auth::CryptosignBound(carol());
    o.sessions.sessions = 20;
    o.sessions.rate = 200.0;
    o.sessions.hold = Duration::from_millis(100);
    let r = loadgen::run(&o).expect(&cs_wss);
    assert!(r.passed, "bound sessions: {}", r.summary());
    assert_eq!(r.errors, 0, "bound sessions: {}", r.summary());
    c.shutdown();
}

#[test]
fn cryptosign_binds_to_the_tls_channel() {
    let p = pki("binding");
    let c = start(&p);
    let port = |id: &str| c.transport_addr(id).unwrap().port();
    let wss = format!("wss://127.0.0.1:{}/ws", port("cs-wss"));
    let rss = format!("rss://127.0.0.1:{}", port("cs-rss"));
    let ws = format!("ws://127.0.0.1:{}/ws", port("cs-ws"));
    let bound = || Box::new(Cryptosign::new(carol(), None).bind_to_tls("tls-exporter"));
    // tls-exporter over wss:// and rss://: welcomed as carol.
    for url in [&wss, &rss] {
        let mut client = connect_tls(url, "realm1", bound(), &trust(&p)).expect(url);
        let d = own_details(&mut client);
        assert_eq!(d.get("authid"), Some(&Value::from("carol")), "{url}: {d:?}");
        assert_eq!(d.get("authmethod"), Some(&Value::from("cryptosign")));
        client.leave();
        // and unbound, too
        let unbound = Box::new(Cryptosign::new(carol(), None));
        connect_tls(url, "realm1", unbound, &trust(&p))
            .expect(url)
            .leave();
    }
    // The client stack will not ask for a binding a plain connection lacks.
    let e = connect_tls(&ws, "realm1", bound(), &trust(&p))
        .err()
        .expect("bound over ws://");
    assert!(e.to_string().contains("needs a TLS connection"), "{e}");
    // A client claiming a binding over plain ws:// is refused by the router.
    let claims = Cryptosign::new(carol(), None).channel_binding("tls-exporter", [7; 32]);
    let e = connect_tls(&ws, "realm1", Box::new(claims), &trust(&p))
        .err()
        .expect("claimed binding over ws://");
    let e = e.to_string();
    assert!(e.contains("wamp.error.authentication_failed"), "{e}");
    assert!(e.contains("tls-exporter"), "{e}");
    // Signing with another channel id than the connection's: denied.
    let wrong = Cryptosign::new(carol(), None).channel_binding("tls-exporter", [7; 32]);
    let e = connect_tls(&wss, "realm1", Box::new(wrong), &trust(&p))
        .err()
        .expect("wrong channel id");
    assert!(
        e.to_string().contains("wamp.error.authentication_denied"),
        "{e}"
    );
    // tls-unique (what autobahn-python asks for): rustls has none, and
    // TLS 1.3 defines none; a clear refusal naming it, not an unbound session.
    let unique = Cryptosign::new(carol(), None).channel_binding("tls-unique", [7; 32]);
    let e = connect_tls(&wss, "realm1", Box::new(unique), &trust(&p))
        .err()
        .expect("tls-unique");
    let e = e.to_string();
    assert!(e.contains("wamp.error.authentication_failed"), "{e}");
    assert!(
        e.contains("tls-unique") && e.contains("tls-exporter"),
        "{e}"
    );
    // and the client stack says so before dialing further
    let unique = Box::new(Cryptosign::new(carol(), None).bind_to_tls("tls-unique"));
    let e = connect_tls(&wss, "realm1", unique, &trust(&p))
        .err()
        .expect("tls-unique from the dialer");
    assert!(
        e.to_string().contains("no \"tls-unique\" channel binding"),
        "{e}"
    );
    c.shutdown();
}

/// Item 8 of issue 13: no private key in `get_router_transport` or the
/// running config (the key's path only), and no channel binding in what the
/// meta API tells of a session bound to its TLS channel.
#[test]
fn no_private_key_or_channel_binding_is_shown() {
    let p = pki("secrets");
    let c = start(&p);
    let pem = std::fs::read_to_string(&p.server_key).unwrap();
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .collect();
    assert!(!body.is_empty());
    let leaks = |what: &str, text: &str| {
        assert!(!text.contains("PRIVATE KEY"), "{what}: {text}");
        for line in &body {
            assert!(!text.contains(line), "{what} shows the key: {text}");
        }
    };
    for id in ["wss", "rss", "mtls", "cs-wss"] {
        let t = c
            .call_blocking("get_router_transport", &[Value::from(id)], &Dict::new())
            .unwrap();
        let text = format!("{t:?}");
        leaks(id, &text);
        assert!(
            text.contains(&p.server_key.display().to_string()),
            "{id}: {text}"
        );
    }
    let running = c
        .call_blocking("get_running_config", &[], &Dict::new())
        .unwrap();
    leaks("get_running_config", &format!("{running:?}"));
    // a session bound with tls-exporter: its details name TLS, not the binding
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("cs-wss").unwrap().port()
    );
    let bound = Box::new(Cryptosign::new(carol(), None).bind_to_tls("tls-exporter"));
    let mut client = connect_tls(&wss, "realm1", bound, &trust(&p)).expect("bound");
    let details = format!("{:?}", own_details(&mut client));
    assert!(details.contains("TLSv1.3"), "{details}");
    for word in ["exporter", "channel_id", "tls_unique"] {
        assert!(!details.contains(word), "{details}");
    }
    client.leave();
    c.shutdown();
}

/// A TLS handshake holds its place among the transport's `max_handshakes`
/// until the WebSocket handshake is done: with a cap of one, a client stalled
/// halfway through its ClientHello makes the next connection be refused at
/// once (not queued), and once it leaves, clients are served again.
#[test]
fn a_tls_handshake_counts_against_the_handshake_cap() {
    let p = pki("capped");
    let c = start(&p);
    let addr = c.transport_addr("wss-capped").unwrap();
    let wss = format!("wss://127.0.0.1:{}/ws", addr.port());
    // nobody stalled: served
    connect_tls(&wss, "realm1", anonymous(), &trust(&p))
        .expect("served")
        .leave();
    // Half a ClientHello. The shards accept from their own sockets, so a
    // client may take the one place before the stalled connection is
    // accepted, which is then refused itself: such a stalled connection is
    // made again.
    let stall = || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
            .unwrap();
        s
    };
    let open = |s: &TcpStream| {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let open = matches!(s.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();
        open
    };
    let mut stalled = stall();
    // the stalled connection holds the place: the next one is refused
    wait_for("a refusal while one handshake is stalled", || {
        if !open(&stalled) {
            stalled = stall();
        }
        connect_tls(&wss, "realm1", anonymous(), &trust(&p)).is_err() && open(&stalled)
    });
    drop(stalled);
    // its place is free again once it closes
    wait_for("a client served after the stalled one left", || {
        connect_tls(&wss, "realm1", anonymous(), &trust(&p))
            .map(|client| client.leave())
            .is_ok()
    });
    c.shutdown();
}

/// `shardwamp ctl --key FILE --channel-binding tls-exporter` over `wss://`:
/// the operator's cryptosign signature bound to the TLS channel is accepted
/// by the management realm; asking `tls-unique`, which the connection does
/// not have, fails in the client stack before HELLO, naming it.
#[test]
fn ctl_binds_cryptosign_to_the_tls_channel() {
    let p = pki("ctl-binding");
    let operator = p.dir.join("operator.key");
    std::fs::write(
        &operator,
        shardwamp::wamp::cryptosign::encode_hex(&[0xcb; 32]),
    )
    .unwrap();
    set_mode(&operator, 0o600);
    let public = PrivateKey::from_seed(&[0xcb; 32]).public_hex();
    let text = format!(
        r#"
[router]
shards = 1

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
id = "wss"
url = "/ws"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1", tls = {{ key = {key:?}, certificate = {cert:?} }} }}
[transports.auth.cryptosign]
type = "static"
principals = {{ operator = {{ authorized_keys = ["{public}"], role = "admin" }} }}

[management]
realm = "shardwamp.management"
"#,
        key = p.server_key,
        cert = p.server_cert,
    );
    let config = Config::from_str_with_env(&text, |_| None).expect("config");
    let c = Controller::start(config, Registry::with_builtins()).expect("router starts");
    let wss = format!(
        "wss://127.0.0.1:{}/ws",
        c.transport_addr("wss").unwrap().port()
    );
    let ctl = |binding: &str| {
        Command::new(BIN)
            .args(["ctl", "--url", &wss, "--tls-ca"])
            .arg(&p.server_ca_file)
            .arg("--key")
            .arg(&operator)
            .args(["--channel-binding", binding, "get_router_realms"])
            .output()
            .unwrap()
    };
    let out = ctl("tls-exporter");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("shardwamp.management"));
    let out = ctl("tls-unique");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "tls-unique joined");
    assert!(err.contains("tls-unique"), "{err}");
    c.shutdown();
}
