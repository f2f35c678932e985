//! `shardwamp import crossbar` on a corpus of real Crossbar.io node configs
//! (tests/crossbar_corpus, each file's source in its SOURCES.md): each one
//! converts, every change and everything left out is explained at its line,
//! the result loads (or names the feature it waits for), and a router
//! started from it serves real clients (autobahn-python joins each realm
//! through each TCP transport).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use shardwamp::component::Registry;
use shardwamp::config::auth::AuthMethodConfig;
use shardwamp::config::crossbar::{self, Format, ImportError, Verdict};
use shardwamp::config::{Config, Endpoint, TransportConfig};
use shardwamp::control::Controller;

/// Files that are not a convertible node config, and what the error says.
const NOT_CONVERTIBLE: &[(&str, &str)] = &[(
    // A template with "COPY" placeholders and a worker without `type`.
    "crossbario__crossbar__test__cfc__.crossbar__config-tls.json",
    "no router worker in this file",
)];

/// Converted configs that use a feature not built yet, and the words of
/// the loader's error that name it. When a feature lands, its entries fail
/// this test ("loads now") and come out of the list.
const PENDING: &[(&str, &str)] = &[
    // Its transport has no `auth` (anonymous under the role `anonymous`),
    // which its realm does not define: Crossbar.io starts and refuses every
    // session at run time; shardwamp refuses the config.
    (
        "crossbario__crossbar-examples__authorization__dynamic__embedded__.crossbar__config.json",
        "is not defined in any realm",
    ),
];

fn corpus() -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crossbar_corpus");
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .expect("tests/crossbar_corpus")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml" | "yml")
            )
        })
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus has {} configs", files.len());
    files
}

fn convert(path: &Path) -> Result<crossbar::Imported, ImportError> {
    let text = std::fs::read_to_string(path).unwrap();
    crossbar::import(&text, Format::from_path(path), "config", None)
}

/// Loads a converted config, every environment variable it reads set to "0".
fn load(toml: &str) -> Result<Config, String> {
    Config::from_str_with_env(toml, |_| Some("0".to_owned())).map_err(|e| e.to_string())
}

#[test]
fn every_config_converts_with_each_change_explained_at_its_line() {
    let mut notes = 0;
    for (name, path) in corpus() {
        let result = convert(&path);
        if let Some((_, why)) = NOT_CONVERTIBLE.iter().find(|(n, _)| *n == name) {
            let err = result.expect_err(&name).to_string();
            assert!(err.contains(why), "{name}: {err}");
            continue;
        }
        let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        out.toml
            .parse::<toml::Table>()
            .unwrap_or_else(|e| panic!("{name}: not TOML: {e}\n{}", out.toml));
        for n in &out.notes {
            assert!(n.line > 0, "{name}: {n} has no line");
            assert!(n.message.len() > 20, "{name}: {n} says too little");
            assert!(
                out.toml.contains(&n.path),
                "{name}: {n} is not in the TOML's comments"
            );
            // Never "unknown field" as if the key were a typo.
            assert!(!n.message.contains("unknown field"), "{name}: {n}");
        }
        notes += out.notes.len();
    }
    assert!(notes > 100, "the corpus gave only {notes} notes");
}

#[test]
fn python_components_pythonpath_and_web_services_are_explained_and_web_transports_kept() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crossbar_corpus");
    let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
    for (name, path) in corpus() {
        if NOT_CONVERTIBLE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let out = convert(&dir.join(&name)).unwrap();
        let _ = path;
        for n in &out.notes {
            let key = n.path.rsplit('.').next().unwrap_or("");
            if n.path.contains(".components[") && n.message.contains("Rust") {
                seen.insert("python component", true);
            }
            if key == "pythonpath" {
                assert_eq!(n.verdict, Verdict::LeftOut);
                seen.insert("pythonpath", true);
            }
            if n.path.contains(".paths.") && n.message.contains("web server") {
                seen.insert("static web path", true);
            }
        }
        if out.toml.contains("type = \"web\"") {
            seen.insert("web transport", true);
        }
    }
    for what in [
        "python component",
        "pythonpath",
        "static web path",
        "web transport",
    ] {
        assert!(
            seen.contains_key(what),
            "no note for a {what} in the corpus"
        );
    }
}

#[test]
fn converted_configs_load_or_name_the_feature_they_wait_for() {
    let mut loaded = 0;
    for (name, path) in corpus() {
        if NOT_CONVERTIBLE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let out = convert(&path).unwrap();
        let result = load(&out.toml);
        match (PENDING.iter().find(|(n, _)| *n == name), result) {
            (None, Ok(_)) => loaded += 1,
            (None, Err(e)) => panic!(
                "{name}: the converted config does not load: {e}\n{}",
                out.toml
            ),
            (Some((_, why)), Err(e)) => assert!(e.contains(why), "{name}: {e}"),
            (Some(_), Ok(_)) => panic!("{name} loads now: take it out of PENDING"),
        }
    }
    assert!(loaded >= 25, "only {loaded} converted configs load");
}

/// Makes a converted config runnable here: TCP on 127.0.0.1 port 0, Unix
/// sockets in `dir`, TLS transports dropped (this test has no certificates
/// for them), no admin listener. Returns the config and whether anything
/// is left to serve.
fn localize(mut config: Config, dir: &Path) -> Config {
    config.transports.retain(|t| match t.endpoint() {
        Endpoint::Tcp(tcp) => tcp.tls.is_none(),
        Endpoint::Unix(_) => true,
    });
    for (i, t) in config.transports.iter_mut().enumerate() {
        let endpoint = match t {
            TransportConfig::Websocket(w) => &mut w.endpoint,
            TransportConfig::Rawsocket(r) => &mut r.endpoint,
            TransportConfig::Web(w) => &mut w.endpoint,
            TransportConfig::Universal(u) => &mut u.endpoint,
        };
        match endpoint {
            Endpoint::Tcp(tcp) => {
                tcp.port = 0;
                tcp.interface = Some("127.0.0.1".parse().unwrap());
                tcp.version = Default::default();
            }
            Endpoint::Unix(u) => u.path = dir.join(format!("t{i}.sock")),
        }
    }
    config.admin.enabled = false;
    config.router.shards = shardwamp::config::Shards::Count(1);
    config.router.cpus = None;
    config
}

/// A way in through transport `t`: a realm whose roles include the one the
/// credentials give, and the credentials, as join.py takes them.
fn target(
    config: &Config,
    auth: &shardwamp::config::auth::TransportAuth,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let realm_with = |role: &str| {
        config
            .realms
            .iter()
            .find(|r| r.roles.iter().any(|x| x.name == role))
            .map(|r| r.name.clone())
    };
    let mut m = serde_json::Map::new();
    if let Some(AuthMethodConfig::Static(a)) = &auth.anonymous {
        let realm = a.realm.clone().or_else(|| realm_with(&a.role))?;
        m.insert("realm".into(), realm.into());
        return Some(m);
    }
    if let Some(AuthMethodConfig::Static(s)) = &auth.ticket {
        let (authid, p) = s.principals.iter().next()?;
        m.insert("realm".into(), realm_with(&p.role)?.into());
        m.insert("authid".into(), authid.clone().into());
        m.insert("ticket".into(), p.ticket.expose().into());
        return Some(m);
    }
    if let Some(AuthMethodConfig::Static(s)) = &auth.wampcra {
        let (authid, u) = s.users.iter().find(|(_, u)| u.salt.is_none())?;
        m.insert("realm".into(), realm_with(&u.role)?.into());
        m.insert("authid".into(), authid.clone().into());
        m.insert("secret".into(), u.secret.expose().into());
        return Some(m);
    }
    None
}

/// A web transport's WebSocket paths as ways in.
fn web_ways<'a>(
    addr: &std::net::SocketAddr,
    paths: &'a std::collections::BTreeMap<String, shardwamp::config::web::WebPath>,
) -> Vec<(
    String,
    &'static str,
    &'static str,
    &'a shardwamp::config::auth::TransportAuth,
)> {
    paths
        .iter()
        .filter_map(|(p, svc)| match svc {
            shardwamp::config::web::WebPath::Websocket(w) => Some((
                format!("ws://{addr}{}", shardwamp::config::web::normalize_path(p)),
                "websocket",
                w.serializers[0].name(),
                &w.auth,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn converted_configs_serve_autobahn_python() {
    let python = common::interop::installed().python.clone();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crossbar_import");
    let _ = std::fs::remove_dir_all(&tmp);
    let mut served = 0;
    for (name, path) in corpus() {
        if NOT_CONVERTIBLE
            .iter()
            .chain(PENDING)
            .any(|(n, _)| *n == name)
        {
            continue;
        }
        let dir = tmp.join(served.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let config = localize(load(&convert(&path).unwrap().toml).unwrap(), &dir);
        let mut targets = Vec::new();
        let controller = match Controller::start(config.clone(), Registry::with_builtins()) {
            Ok(c) => c,
            Err(e) => panic!("{name}: the converted config does not start: {e}"),
        };
        let handle = controller.handle();
        for t in &config.transports {
            let Endpoint::Tcp(_) = t.endpoint() else {
                continue;
            };
            let addr = handle.tcp_addr(t.id()).expect("a TCP address");
            // Each way in: the transport, or each WebSocket path of a web one.
            let ways: Vec<(String, &str, &str, &shardwamp::config::auth::TransportAuth)> = match t {
                TransportConfig::Websocket(w) => vec![(
                    format!("ws://{addr}{}", w.url),
                    "websocket",
                    w.serializers[0].name(),
                    &w.auth,
                )],
                TransportConfig::Rawsocket(r) => {
                    vec![(
                        format!("rs://{addr}"),
                        "rawsocket",
                        r.serializers[0].name(),
                        &r.auth,
                    )]
                }
                TransportConfig::Web(w) => web_ways(&addr, &w.paths),
                TransportConfig::Universal(u) => {
                    let mut ways = u
                        .web
                        .as_ref()
                        .map(|w| web_ways(&addr, &w.paths))
                        .unwrap_or_default();
                    for (p, w) in u.websocket.iter().flatten() {
                        ways.push((
                            format!("ws://{addr}{}", shardwamp::config::web::normalize_path(p)),
                            "websocket",
                            w.serializers[0].name(),
                            &w.auth,
                        ));
                    }
                    if let Some(r) = &u.rawsocket {
                        ways.push((
                            format!("rs://{addr}"),
                            "rawsocket",
                            r.serializers[0].name(),
                            &r.auth,
                        ));
                    }
                    ways
                }
            };
            for (url, transport, serializer, auth) in ways {
                let Some(mut m) = target(&config, auth) else {
                    continue;
                };
                m.insert("label".into(), format!("{name} {} {url}", t.id()).into());
                m.insert("url".into(), url.into());
                m.insert("transport".into(), transport.into());
                m.insert("serializer".into(), serializer.into());
                targets.push(serde_json::Value::Object(m));
            }
        }
        if targets.is_empty() {
            controller.shutdown();
            let _ = controller.handle().wait_stopped();
            continue;
        }
        let mut child = Command::new(&python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/python/join.py"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python join.py");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::Value::Array(targets).to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        controller.shutdown();
        let stopped = controller.handle().wait_stopped();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{name}:\n{report}");
        assert!(stopped.is_ok(), "{name}: did not stop cleanly: {stopped:?}");
        eprint!("{report}");
        served += 1;
    }
    assert!(served >= 20, "only {served} converted configs were served");
}
