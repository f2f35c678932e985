//! The control plane against a running two-shard router: every operation
//! through `shardwamp ctl` (the management realm's WAMP procedures), their
//! run-time effects, the admin HTTP listener, components, and an operation on
//! one realm while another is under load.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use common::Client;
use shardwamp::codec::Serializer;
use shardwamp::component::Registry;
use shardwamp::config::Config;
use shardwamp::control::Controller;
use shardwamp::dict;
use shardwamp::wamp::message::{Message, Payload};
use shardwamp::wamp::uris;
use shardwamp::wamp::value::{Dict, Value};

const BIN: &str = env!("CARGO_BIN_EXE_shardwamp");
const TICKET: &str = "op-secret-123";

const CONFIG: &str = r#"
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

[[realms]]
name = "shardwamp.management"
[[realms.roles]]
name = "admin"
[[realms.roles.permissions]]
uri = "shardwamp.router."
match = "prefix"
allow = { call = true }
[[realms.roles]]
name = "anonymous"

[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }
options = { max_queue_messages = 100000, max_queue_bytes = 100000000 }
[transports.auth.anonymous]
type = "static"
role = "anonymous"
[transports.auth.ticket]
type = "static"
principals = { operator = { ticket = "${OP_TICKET}", role = "admin" }, worker = { ticket = "${OP_TICKET}", role = "anonymous" } }

[[components]]
id = "health"
type = "class"
realm = "realm1"
role = "anonymous"
classname = "shardwamp.health"

[admin]
enabled = true
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }

[management]
realm = "shardwamp.management"
role = "admin"
"#;

fn start() -> Arc<Controller> {
    let config =
        Config::from_str_with_env(CONFIG, |k| (k == "OP_TICKET").then(|| TICKET.to_owned()))
            .expect("config");
    Controller::start(config, Registry::with_builtins()).expect("router starts")
}

fn url(c: &Controller) -> String {
    format!("ws://{}/ws", c.transport_addr("ws").unwrap())
}

/// Runs `shardwamp ctl` and returns (success, stdout, stderr).
fn ctl(c: &Controller, args: &[&str]) -> (bool, String, String) {
    ctl_via(c, "ws", args)
}

/// Runs `shardwamp ctl` through transport `transport` (a WebSocket on `/ws`).
fn ctl_via(c: &Controller, transport: &str, args: &[&str]) -> (bool, String, String) {
    let url = format!("ws://{}/ws", c.transport_addr(transport).unwrap());
    let out = Command::new(BIN)
        .args(["ctl", "--url", &url, "--authid", "operator"])
        .args(args)
        .env("SHARDWAMP_TICKET", TICKET)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

fn ok(c: &Controller, args: &[&str]) -> serde_json::Value {
    let (success, out, err) = ctl(c, args);
    assert!(success, "ctl {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or(serde_json::Value::String(out))
}

fn join(c: &Controller, realm: &str) -> Client {
    let mut client = Client::websocket(c.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    client.join(realm);
    client
}

#[test]
fn every_operation_through_ctl() {
    let c = start();
    // realms
    assert_eq!(
        ok(&c, &["get_router_realms"]),
        serde_json::json!(["realm1", "shardwamp.management"])
    );
    assert_eq!(ok(&c, &["has_realm", "realm1"]), serde_json::json!(true));
    assert_eq!(ok(&c, &["has_realm", "nope"]), serde_json::json!(false));
    let r = ok(&c, &["get_router_realm", "realm1"]);
    assert_eq!(r["name"], "realm1");
    assert!(r["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        ok(&c, &["get_router_realm_by_name", "realm1"])["name"],
        "realm1"
    );
    let realm2 = r#"{"name": "realm2", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}"#;
    ok(&c, &["start_router_realm", "r2", realm2]);
    let mut s2 = join(&c, "realm2");
    assert_eq!(ok(&c, &["get_router_realm", "r2"])["sessions"], 1);
    // statistics in Crossbar.io's shape
    s2.send(&Message::Publish {
        request: 1,
        options: dict! { "acknowledge" => true },
        topic: "com.x".into(),
        payload: Payload::Empty,
    });
    s2.expect("PUBLISHED", |m| matches!(m, Message::Published { .. }));
    let stats = ok(&c, &["get_router_realm_stats", "r2"]);
    assert_eq!(stats["r2"]["sessions"], 1);
    assert_eq!(stats["r2"]["roles"], 1);
    assert_eq!(stats["r2"]["messages"]["received"]["PUBLISH"], 1);
    assert_eq!(stats["r2"]["messages"]["sent"]["PUBLISHED"], 1);
    let shards = ok(&c, &["get_router_shard_stats"]);
    assert_eq!(shards.as_array().unwrap().len(), 2);
    // roles
    assert_eq!(
        ok(&c, &["get_router_realm_roles", "r2"]),
        serde_json::json!(["anonymous"])
    );
    assert_eq!(
        ok(&c, &["get_router_realm_role", "r2", "anonymous"])["config"]["name"],
        "anonymous"
    );
    assert_eq!(
        ok(&c, &["has_role", "realm2", "anonymous"]),
        serde_json::json!(true)
    );
    ok(
        &c,
        &[
            "start_router_realm_role",
            "r2",
            "reader",
            r#"{"permissions": [{"uri": "com.", "match": "prefix", "allow": {"subscribe": true}}]}"#,
        ],
    );
    assert_eq!(
        ok(&c, &["has_role", "realm2", "reader"]),
        serde_json::json!(true)
    );
    // a role with a dynamic authorizer, and its cache dropped on demand
    ok(
        &c,
        &[
            "start_router_realm_role",
            "r2",
            "dyn",
            r#"{"authorizer": "com.example.authorize"}"#,
        ],
    );
    assert_eq!(
        ok(&c, &["clear_authorizer_cache", "r2", "dyn"]),
        serde_json::json!({"realm": "r2", "role": "dyn", "dropped": 0})
    );
    assert_eq!(
        ok(&c, &["clear_authorizer_cache", "r2"])["dropped"],
        serde_json::json!(0)
    );
    let (done, _, err) = ctl(&c, &["clear_authorizer_cache", "r2", "nobody"]);
    assert!(!done && err.contains("no_such_object"), "{err}");
    // stopping the anonymous role: the session's next action is refused
    ok(&c, &["stop_router_realm_role", "r2", "anonymous"]);
    s2.send(&Message::Publish {
        request: 2,
        options: dict! { "acknowledge" => true },
        topic: "com.x".into(),
        payload: Payload::Empty,
    });
    match s2.expect("ERROR", |m| matches!(m, Message::Error { .. })) {
        Message::Error { error, .. } => assert_eq!(error, uris::ERROR_NOT_AUTHORIZED),
        _ => unreachable!(),
    }
    // stopping the realm closes its sessions and refuses new ones
    ok(&c, &["stop_router_realm", "r2"]);
    match s2.recv() {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, uris::CLOSE_CLOSE_REALM),
        other => panic!("{other:?}"),
    }
    let mut late = Client::websocket(c.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    late.send(&Message::Hello {
        realm: "realm2".into(),
        details: dict! { "roles" => Value::Dict(shardwamp::sim::all_roles()) },
    });
    assert!(
        matches!(late.recv(), Some(Message::Abort { reason, .. }) if reason == uris::ERROR_NO_SUCH_REALM)
    );
    // transports
    assert_eq!(
        ok(&c, &["get_router_transports"]),
        serde_json::json!(["ws"])
    );
    let t = ok(&c, &["get_router_transport", "ws"]);
    assert_eq!(t["type"], "websocket");
    assert!(
        !t.to_string().contains(TICKET),
        "no secret in a get_* answer: {t}"
    );
    let started = ok(
        &c,
        &[
            "start_router_transport",
            "rs2",
            r#"{"type": "rawsocket", "endpoint": {"type": "tcp", "port": 0, "interface": "127.0.0.1"}}"#,
        ],
    );
    let addr: std::net::SocketAddr = started["listening"].as_str().unwrap().parse().unwrap();
    let mut on_new = Client::rawsocket(addr, Serializer::MsgPack);
    on_new.join("realm1");
    ok(&c, &["stop_router_transport", "rs2", "true"]);
    assert!(
        matches!(on_new.recv(), Some(Message::Goodbye { .. })),
        "existing sessions closed as asked"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err() || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.write_all(&[0x7f, 0xf1, 0, 0]);
            let mut b = [0u8; 4];
            !matches!(s.read(&mut b), Ok(4))
        }
    );
    // components
    assert_eq!(
        ok(&c, &["get_router_components"]),
        serde_json::json!(["health", "shardwamp.management"])
    );
    assert_eq!(
        ok(&c, &["get_router_component", "health"])["classname"],
        "shardwamp.health"
    );
    ok(
        &c,
        &[
            "start_router_component",
            "health2",
            r#"{"realm": "realm1", "role": "anonymous", "classname": "shardwamp.health", "extra": {"procedure": "com.health2"}}"#,
        ],
    );
    let mut u = join(&c, "realm1");
    // the component registers its procedure once it has joined: wait for it
    let mut request = 0;
    let status = loop {
        request += 1;
        u.send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: "com.health2".into(),
            payload: Payload::Empty,
        });
        match u.expect("RESULT", |m| {
            matches!(m, Message::Result { .. } | Message::Error { .. })
        }) {
            Message::Result { payload, .. } => {
                let Ok(Payload::Values { args, .. }) = payload.to_values() else {
                    panic!()
                };
                break args[0].as_dict().and_then(|d| d.get("status")).cloned();
            }
            Message::Error { error, .. }
                if error == uris::ERROR_NO_SUCH_PROCEDURE && request < 200 =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(status, Some(Value::from("ok")));
    ok(&c, &["stop_router_component", "health2"]);
    u.send(&Message::Call {
        request: 1000,
        options: Dict::new(),
        procedure: "com.health2".into(),
        payload: Payload::Empty,
    });
    assert!(
        matches!(u.expect("ERROR", |m| matches!(m, Message::Error { .. })), Message::Error { error, .. } if error == uris::ERROR_NO_SUCH_PROCEDURE)
    );
    // kill_by_authid across shards (sessions on both shards share an authid through ticket auth)
    let ws = c.transport_addr("ws").unwrap();
    let mut victims = Vec::new();
    for _ in 0..4 {
        let mut v = Client::websocket(ws, "/ws", Serializer::Json);
        v.send(&Message::Hello {
            realm: "realm1".into(),
            details: dict! { "roles" => Value::Dict(shardwamp::sim::all_roles()), "authmethods" => Value::List(vec!["ticket".into()]), "authid" => "worker" },
        });
        assert!(matches!(v.recv(), Some(Message::Challenge { .. })));
        v.send(&Message::Authenticate {
            signature: TICKET.into(),
            extra: Dict::new(),
        });
        assert!(matches!(v.recv(), Some(Message::Welcome { .. })));
        victims.push(v);
    }
    let killed = ok(
        &c,
        &[
            "kill_by_authid",
            "realm1",
            "worker",
            "com.example.maintenance",
            "back soon",
        ],
    );
    assert_eq!(killed.as_array().unwrap().len(), 4, "{killed}");
    for v in &mut victims {
        match v.recv() {
            Some(Message::Goodbye { reason, details }) => {
                assert_eq!(reason, "com.example.maintenance");
                assert_eq!(details.get("message"), Some(&Value::from("back soon")));
            }
            other => panic!("{other:?}"),
        }
    }
    // the running configuration as TOML, without secrets
    let (success, toml, _) = ctl(&c, &["get_running_config"]);
    assert!(success);
    assert!(
        toml.contains("realm1") && !toml.contains("realm2"),
        "{toml}"
    );
    assert!(!toml.contains(TICKET));
    Config::from_str_with_env(&toml, |_| None).expect("the running config reads back");
    // a table
    let (success, out, _) = ctl(&c, &["--table", "get_router_realm", "realm1"]);
    assert!(
        success && out.contains("name") && out.contains("realm1"),
        "{out}"
    );
    // errors name the problem
    let (success, _, err) = ctl(&c, &["get_router_realm", "nope"]);
    assert!(!success && err.contains("no_such_object"), "{err}");
    c.shutdown();
}

/// Runs an operation through [`Controller::call`] (the path the management
/// realm's procedures take) and returns its answer as JSON.
fn call(c: &Controller, op: &str, args: &[serde_json::Value]) -> Result<serde_json::Value, String> {
    let args: Vec<Value> = args.iter().map(shardwamp::control::from_json).collect();
    c.call_blocking(op, &args, &Dict::new())
        .map(|v| shardwamp::control::to_json(&v))
        .map_err(|e| e.to_string())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("test JSON")
}

#[test]
fn get_router_transport_answers_the_transport_asked_for() {
    let c = start();
    call(
        &c,
        "start_router_transport",
        &["rs2".into(), json(r#"{"type": "rawsocket", "endpoint": {"type": "tcp", "port": 0, "interface": "127.0.0.1"}}"#)],
    )
    .expect("rs2 starts");
    let rs2 = call(&c, "get_router_transport", &["rs2".into()]).expect("rs2");
    assert_eq!(rs2["id"], "rs2");
    assert_eq!(rs2["type"], "rawsocket");
    assert_eq!(rs2["config"]["id"], "rs2", "{rs2}");
    assert_eq!(rs2["config"]["type"], "rawsocket", "{rs2}");
    let ws = call(&c, "get_router_transport", &["ws".into()]).expect("ws");
    assert_eq!(ws["config"]["id"], "ws", "{ws}");
    assert_eq!(ws["config"]["url"], "/ws", "{ws}");
    assert!(
        ws["config"]["auth"]["ticket"].is_object(),
        "its own auth: {ws}"
    );
    assert!(!ws.to_string().contains(TICKET), "secrets redacted: {ws}");
    c.shutdown();
}

#[test]
fn roles_refuse_an_existing_id_and_take_the_name_given() {
    let c = start();
    let reader = r#"{"name": "reader", "permissions": [{"uri": "com.", "match": "prefix", "allow": {"subscribe": true}}]}"#;
    // An existing id is refused (Crossbar.io: already_exists), not replaced.
    let err = call(
        &c,
        "start_router_realm_role",
        &["realm1".into(), "anonymous".into(), json(reader)],
    )
    .unwrap_err();
    assert!(err.starts_with("shardwamp.error.already_exists:"), "{err}");
    let anonymous = call(
        &c,
        "get_router_realm_role",
        &["realm1".into(), "anonymous".into()],
    )
    .expect("anonymous");
    assert_eq!(anonymous["config"]["name"], "anonymous");
    assert_eq!(
        anonymous["config"]["permissions"][0]["uri"], "",
        "unchanged: {anonymous}"
    );
    // The name in role_config is the authrole; the id is the run-time id.
    let started = call(
        &c,
        "start_router_realm_role",
        &["realm1".into(), "role-1".into(), json(reader)],
    )
    .expect("role-1 starts");
    assert_eq!(started["id"], "role-1");
    assert_eq!(started["config"]["name"], "reader");
    assert!(
        started["created"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{started}"
    );
    assert_eq!(
        call(
            &c,
            "get_router_realm_role",
            &["realm1".into(), "role-1".into()]
        ),
        Ok(started.clone())
    );
    assert_eq!(
        call(&c, "has_role", &["realm1".into(), "reader".into()]),
        Ok(true.into())
    );
    assert_eq!(
        call(&c, "has_role", &["realm1".into(), "role-1".into()]),
        Ok(false.into())
    );
    assert_eq!(
        call(&c, "get_router_realm_roles", &["realm1".into()]),
        Ok(serde_json::json!(["anonymous", "role-1"]))
    );
    // A second role of the same name is refused too.
    let err = call(
        &c,
        "start_router_realm_role",
        &["realm1".into(), "role-2".into(), json(reader)],
    )
    .unwrap_err();
    assert!(err.starts_with("shardwamp.error.already_exists:"), "{err}");
    // Without a name, the id is the name.
    let unnamed = call(
        &c,
        "start_router_realm_role",
        &[
            "realm1".into(),
            "writer".into(),
            json(r#"{"permissions": []}"#),
        ],
    )
    .expect("writer starts");
    assert_eq!(unnamed["config"]["name"], "writer");
    // The management component's own role cannot be taken over.
    let err = call(
        &c,
        "start_router_realm_role",
        &[
            "shardwamp.management".into(),
            "x".into(),
            json(r#"{"name": "shardwamp.controller"}"#),
        ],
    )
    .unwrap_err();
    assert!(err.starts_with("shardwamp.error.already_exists:"), "{err}");
    // Stopping by id removes the named role and answers its detail.
    let stopped = call(
        &c,
        "stop_router_realm_role",
        &["realm1".into(), "role-1".into()],
    )
    .expect("role-1 stops");
    assert_eq!(stopped, started);
    assert_eq!(
        call(&c, "has_role", &["realm1".into(), "reader".into()]),
        Ok(false.into())
    );
    c.shutdown();
}

#[test]
fn realms_answer_in_crossbars_shapes() {
    let c = start();
    let realm2 = r#"{"name": "realm-two", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}"#;
    // start_router_realm answers the realm's detail, as get_router_realm does.
    let started = call(&c, "start_router_realm", &["r2".into(), json(realm2)]).expect("r2 starts");
    assert_eq!(
        call(&c, "get_router_realm", &["r2".into()]),
        Ok(started.clone())
    );
    assert_eq!(started["id"], "r2");
    assert_eq!(started["name"], "realm-two");
    assert_eq!(started["config"]["name"], "realm-two");
    assert_eq!(started["sessions"], 0);
    // ... with its roles, each {id, config, created}.
    let roles = started["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), 1, "{started}");
    assert_eq!(roles[0]["id"], "anonymous");
    assert_eq!(roles[0]["config"]["name"], "anonymous");
    assert_eq!(roles[0]["created"], started["created"]);
    call(
        &c,
        "start_router_realm_role",
        &["r2".into(), "role-1".into(), json(r#"{"name": "reader"}"#)],
    )
    .expect("role-1 starts");
    let r2 = call(&c, "get_router_realm", &["r2".into()]).expect("r2");
    let ids: Vec<&str> = r2["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["anonymous", "role-1"]);
    // Configured realms list their roles too.
    let realm1 = call(&c, "get_router_realm", &["realm1".into()]).expect("realm1");
    assert_eq!(realm1["roles"][0]["id"], "anonymous", "{realm1}");
    // stop_router_realm answers the sessions it detached, sorted.
    let clients: Vec<Client> = (0..3).map(|_| join(&c, "realm-two")).collect();
    let mut sessions: Vec<u64> = clients.iter().map(|s| s.session).collect();
    sessions.sort_unstable();
    let stopped = call(&c, "stop_router_realm", &["r2".into()]).expect("r2 stops");
    assert_eq!(stopped["id"], "r2");
    assert_eq!(stopped["name"], "realm-two");
    assert_eq!(
        stopped["detached_sessions"],
        serde_json::json!(sessions),
        "{stopped}"
    );
    drop(clients);
    c.shutdown();
}

#[test]
fn one_realm_name_rule_at_run_time() {
    let c = start();
    // What Crossbar.io accepts ...
    for (id, name) in [
        ("a", "realm-auth"),
        ("b", "Bad-Name"),
        ("c", "com.example@x_1"),
    ] {
        call(
            &c,
            "start_router_realm",
            &[id.into(), serde_json::json!({ "name": name })],
        )
        .unwrap_or_else(|e| panic!("{name:?} refused: {e}"));
        assert_eq!(call(&c, "has_realm", &[name.into()]), Ok(true.into()));
    }
    // ... and what it refuses, with the config's rule.
    for name in ["ab", "1realm", "realm 1", "realm*", ""] {
        let err = call(
            &c,
            "start_router_realm",
            &["x".into(), serde_json::json!({ "name": name })],
        )
        .unwrap_err();
        assert!(
            err.starts_with("shardwamp.error.invalid_configuration:")
                && err.contains("invalid realm name"),
            "{name:?}: {err}"
        );
        assert_eq!(call(&c, "has_realm", &[name.into()]), Ok(false.into()));
    }
    assert!(call(&c, "get_router_realm", &["x".into()]).is_err());
    c.shutdown();
}

#[test]
fn components_answer_id_config_created() {
    let c = start();
    let health = call(&c, "get_router_component", &["health".into()]).expect("health");
    assert_eq!(health["id"], "health");
    assert_eq!(
        health["config"]["classname"], "shardwamp.health",
        "{health}"
    );
    assert_eq!(health["config"]["realm"], "realm1");
    assert_eq!(health["config"]["role"], "anonymous");
    assert!(
        health["created"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{health}"
    );
    let started = call(
        &c,
        "start_router_component",
        &[
            "health2".into(),
            json(r#"{"realm": "realm1", "role": "anonymous", "classname": "shardwamp.health", "extra": {"procedure": "com.health2", "password": "hunter2-secret"}}"#),
        ],
    )
    .expect("health2 starts");
    assert_eq!(
        started["config"]["extra"]["procedure"], "com.health2",
        "{started}"
    );
    assert!(
        !started.to_string().contains("hunter2-secret"),
        "secrets redacted: {started}"
    );
    assert_eq!(
        call(&c, "get_router_component", &["health2".into()]),
        Ok(started)
    );
    c.shutdown();
}

#[test]
fn the_management_realm_refuses_anonymous_sessions() {
    let c = start();
    let mut a = Client::websocket(c.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    a.send(&Message::Hello {
        realm: "shardwamp.management".into(),
        details: dict! { "roles" => Value::Dict(shardwamp::sim::all_roles()) },
    });
    match a.recv() {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::ERROR_NOT_AUTHORIZED),
        other => panic!("{other:?}"),
    }
    let (success, _, err) = {
        let out = Command::new(BIN)
            .args(["ctl", "--url", &url(&c), "get_router_realms"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::new(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert!(!success && err.contains("not_authorized"), "{err}");
    c.shutdown();
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

#[test]
fn admin_http_metrics_health_ready() {
    let c = start();
    let _s = join(&c, "realm1");
    let addr = c.admin_addr().expect("admin listener");
    assert_eq!(http_get(addr, "/health").0, 200);
    assert_eq!(http_get(addr, "/ready").0, 200);
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE shardwamp_sessions gauge"), "{body}");
    assert!(
        body.contains("shardwamp_messages_received_total{shard="),
        "{body}"
    );
    assert!(
        body.contains("shardwamp_realm_sessions{realm=\"realm1\"}"),
        "{body}"
    );
    assert_eq!(http_get(addr, "/nope").0, 404);
    c.shutdown();
}

/// Operations on one realm while another realm is under load lose none of the
/// loaded realm's messages.
#[test]
fn operations_do_not_disturb_a_loaded_realm() {
    let c = start();
    let ws = c.transport_addr("ws").unwrap();
    let mut sub = Client::websocket(ws, "/ws", Serializer::MsgPack);
    sub.join("realm1");
    sub.send(&Message::Subscribe {
        request: 1,
        options: Dict::new(),
        topic: "com.load".into(),
    });
    sub.expect("SUBSCRIBED", |m| matches!(m, Message::Subscribed { .. }));
    let n = 20_000u64;
    let reader = std::thread::spawn(move || {
        let mut next = 0u64;
        while next < n {
            match sub.recv() {
                Some(Message::Event { payload, .. }) => {
                    let Ok(Payload::Values { args, .. }) = payload.to_values() else {
                        panic!()
                    };
                    assert_eq!(args[0].as_u64(), Some(next), "in order, none lost");
                    next += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        next
    });
    let publisher = std::thread::spawn(move || {
        let mut p = Client::websocket(ws, "/ws", Serializer::Json);
        p.join("realm1");
        for i in 0..n {
            p.send(&Message::Publish {
                request: i + 1,
                options: Dict::new(),
                topic: "com.load".into(),
                payload: Payload::args(vec![Value::UInt(i)]),
            });
        }
        p.send(&Message::Publish {
            request: n + 1,
            options: dict! { "acknowledge" => true },
            topic: "com.done".into(),
            payload: Payload::Empty,
        });
        p.expect("PUBLISHED", |m| matches!(m, Message::Published { .. }));
    });
    let realm = r#"{"name": "side", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true}}]}]}"#;
    for i in 0..5 {
        let id = format!("side{i}");
        ok(&c, &["start_router_realm", &id, realm]);
        ok(
            &c,
            &[
                "start_router_realm_role",
                &id,
                "extra",
                r#"{"permissions": []}"#,
            ],
        );
        ok(&c, &["get_router_realm_stats"]);
        ok(&c, &["stop_router_realm", &id]);
    }
    publisher.join().unwrap();
    assert_eq!(reader.join().unwrap(), n);
    let dropped: u64 = futures_lite::future::block_on(c.shard_stats())
        .iter()
        .map(|s| s.events_dropped)
        .sum();
    assert_eq!(dropped, 0);
    c.shutdown();
}

#[test]
fn the_example_config_parses_for_the_controller() {
    // every section of the example maps onto what the controller starts
    let text = shardwamp::config::EXAMPLE_CONFIG;
    let config = Config::from_str_with_env(text, |_| Some("x".into())).unwrap();
    assert!(config.management.is_some());
    let _ = Config::from_str(shardwamp::config::DEFAULT_CONFIG).unwrap();
}

/// `[management] transport` is enforced: an operator's valid ticket works on
/// the management transport and nowhere else (elsewhere the realm does not
/// exist); `start_router_transport` refuses an address, port or Unix path in
/// use, as the config check does; the management component cannot be stopped.
#[test]
fn the_management_realm_is_locked_to_its_transport() {
    let sock = std::env::temp_dir().join(format!("shardwamp-mgmt-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let text = CONFIG.replace(
        "[management]\nrealm = \"shardwamp.management\"\n",
        &format!(
            r#"[[transports]]
type = "rawsocket"
id = "local"
endpoint = {{ type = "unix", path = "{}" }}
[transports.auth.ticket]
type = "static"
principals = {{ operator = {{ ticket = "${{OP_TICKET}}", role = "admin" }} }}

[management]
realm = "shardwamp.management"
transport = "mgmt"
"#,
            sock.display()
        ),
    );
    let text = text.replace(
        "[[components]]",
        r#"[[transports]]
type = "websocket"
id = "mgmt"
url = "/ws"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }
[transports.auth.ticket]
type = "static"
principals = { operator = { ticket = "${OP_TICKET}", role = "admin" } }

[[components]]"#,
    );
    let config =
        Config::from_str_with_env(&text, |k| (k == "OP_TICKET").then(|| TICKET.to_owned()))
            .expect("config");
    let c = Controller::start(config, Registry::with_builtins()).expect("router starts");
    let ctl_on = |transport: &str, args: &[&str]| ctl_via(&c, transport, args);
    // the public transport: the realm does not exist, even for a valid operator
    let (success, _, err) = ctl_on("ws", &["get_router_realms"]);
    assert!(!success && err.contains("no_such_realm"), "{err}");
    let mut anon = Client::websocket(c.transport_addr("ws").unwrap(), "/ws", Serializer::Json);
    anon.send(&Message::Hello {
        realm: "shardwamp.management".into(),
        details: dict! { "roles" => Value::Dict(shardwamp::sim::all_roles()) },
    });
    match anon.recv() {
        Some(Message::Abort { reason, .. }) => assert_eq!(reason, uris::ERROR_NO_SUCH_REALM),
        other => panic!("{other:?}"),
    }
    // the management transport: it works
    let (success, out, err) = ctl_on("mgmt", &["get_router_realms"]);
    assert!(success, "{err}");
    assert!(out.contains("shardwamp.management"), "{out}");

    // start_router_transport refuses an address in use: another transport's port ...
    let ws_port = c.transport_addr("ws").unwrap().port();
    let (success, _, err) = ctl_on(
        "mgmt",
        &[
            "start_router_transport",
            "sneaky",
            &format!(
                r#"{{"type": "websocket", "endpoint": {{"type": "tcp", "port": {ws_port}, "interface": "127.0.0.1"}}}}"#
            ),
        ],
    );
    assert!(!success && err.contains("cannot listen there"), "{err}");
    // ... the same port on every interface ...
    let (success, _, err) = ctl_on(
        "mgmt",
        &[
            "start_router_transport",
            "sneaky",
            &format!(
                r#"{{"type": "rawsocket", "endpoint": {{"type": "tcp", "port": {ws_port}}}}}"#
            ),
        ],
    );
    assert!(!success, "{err}");
    // ... a port another program listens on ...
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (success, _, err) = ctl_on(
        "mgmt",
        &[
            "start_router_transport",
            "sneaky",
            &format!(
                r#"{{"type": "rawsocket", "endpoint": {{"type": "tcp", "port": {}, "interface": "127.0.0.1"}}}}"#,
                other.local_addr().unwrap().port()
            ),
        ],
    );
    assert!(!success && err.contains("cannot listen there"), "{err}");
    // ... and a Unix socket path in use
    let (success, _, err) = ctl_on(
        "mgmt",
        &[
            "start_router_transport",
            "sneaky",
            &format!(
                r#"{{"type": "rawsocket", "endpoint": {{"type": "unix", "path": "{}"}}}}"#,
                sock.display()
            ),
        ],
    );
    assert!(!success && err.contains("already used by 'local'"), "{err}");
    assert!(
        std::os::unix::net::UnixStream::connect(&sock).is_ok(),
        "the Unix socket in use still serves"
    );
    assert_eq!(
        ok_on(&ctl_on("mgmt", &["get_router_transports"])),
        serde_json::json!(["local", "mgmt", "ws"])
    );

    // the management component cannot be stopped
    let (success, _, err) = ctl_on("mgmt", &["stop_router_component", "shardwamp.management"]);
    assert!(!success && err.contains("unmanageable"), "{err}");
    let (success, _, err) = ctl_on("mgmt", &["get_router_realms"]);
    assert!(success, "{err}");

    // stopped and started again (through the Rust API), the management
    // transport still gates the realm: through it, and only through it
    futures_lite::future::block_on(c.stop_router_transport("mgmt", true)).unwrap();
    let mgmt: shardwamp::config::TransportConfig = serde_json::from_str(
        r#"{"type": "websocket", "url": "/ws", "endpoint": {"type": "tcp", "port": 0, "interface": "127.0.0.1"},
            "auth": {"ticket": {"type": "static", "principals": {"operator": {"ticket": "op-secret-123", "role": "admin"}}}}}"#,
    )
    .unwrap();
    futures_lite::future::block_on(c.start_router_transport("mgmt", mgmt)).unwrap();
    let (success, _, err) = ctl_on("mgmt", &["get_router_components"]);
    assert!(success, "{err}");
    let (success, _, err) = ctl_on("ws", &["get_router_realms"]);
    assert!(!success && err.contains("no_such_realm"), "{err}");
    c.shutdown();
    let _ = std::fs::remove_file(&sock);
}

fn ok_on(r: &(bool, String, String)) -> serde_json::Value {
    assert!(r.0, "{}", r.2);
    serde_json::from_str(&r.1).unwrap()
}

/// `ctl` reaches the management realm over every transport the router
/// serves: WebSocket and RawSocket, over TCP and Unix sockets, under every
/// URL scheme `ctl --help` names; a Unix transport stopped at run time
/// removes its socket file.
#[test]
fn ctl_reaches_every_transport_kind() {
    let dir = std::env::temp_dir().join(format!("shardwamp-ctl-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rs_sock = dir.join("rs.sock");
    let ws_sock = dir.join("ws.sock");
    let principals = r#"[transports.auth.ticket]
type = "static"
principals = { operator = { ticket = "${OP_TICKET}", role = "admin" } }
"#;
    let text = CONFIG.replace(
        "[[components]]",
        &format!(
            r#"[[transports]]
type = "rawsocket"
id = "rs"
endpoint = {{ type = "tcp", port = 0, interface = "127.0.0.1" }}
{principals}
[[transports]]
type = "rawsocket"
id = "rsu"
endpoint = {{ type = "unix", path = "{}" }}
{principals}
[[transports]]
type = "websocket"
id = "wsu"
url = "/ws"
endpoint = {{ type = "unix", path = "{}" }}
{principals}
[[components]]"#,
            rs_sock.display(),
            ws_sock.display()
        ),
    );
    let config =
        Config::from_str_with_env(&text, |k| (k == "OP_TICKET").then(|| TICKET.to_owned()))
            .expect("config");
    let c = Controller::start(config, Registry::with_builtins()).expect("router starts");
    let rs = c.transport_addr("rs").unwrap();
    let urls = [
        format!("ws://{}/ws", c.transport_addr("ws").unwrap()),
        format!("rs://{rs}"),
        format!("tcp://{rs}"),
        format!("rawsocket://{rs}"),
        format!("rs+unix://{}", rs_sock.display()),
        format!("unix://{}", rs_sock.display()),
        format!("unix:{}", rs_sock.display()),
        format!("ws+unix://{}", ws_sock.display()),
        format!("ws+unix://{}?path=/ws", ws_sock.display()),
    ];
    for url in &urls {
        let out = Command::new(BIN)
            .args([
                "ctl",
                "--url",
                url,
                "--authid",
                "operator",
                "get_router_realms",
            ])
            .env("SHARDWAMP_TICKET", TICKET)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("realm1"),
            "ctl --url {url}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // the client API as well, each transport kind
    for url in &urls[..2] {
        let creds = shardwamp::client::Credentials::Ticket("operator".into(), TICKET.into());
        let mut client =
            shardwamp::transport::blocking::connect(url, "shardwamp.management", &creds)
                .expect("joins");
        let (result, _) = client
            .call("shardwamp.router.get_router_realms", vec![], Dict::new())
            .expect("answers");
        assert!(!result.is_empty(), "{url}");
        client.leave();
    }
    // a wrong scheme and a wrong path are refused with what is accepted
    for bad in ["http://127.0.0.1:1/ws", "rs+unix://relative.sock"] {
        let (success, _, err) = {
            let out = Command::new(BIN)
                .args(["ctl", "--url", bad, "get_router_realms"])
                .output()
                .unwrap();
            (
                out.status.success(),
                (),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        assert!(!success && err.contains("rs+unix://"), "{bad}: {err}");
    }
    // a stopped Unix transport removes its socket file
    for (id, sock) in [("rsu", &rs_sock), ("wsu", &ws_sock)] {
        assert!(sock.exists(), "{}", sock.display());
        ok(&c, &["stop_router_transport", id]);
        assert!(
            !sock.exists(),
            "{} is left after stopping {id}",
            sock.display()
        );
    }
    c.shutdown();
}

/// The README's example: `ctl` reaches `init`'s config's management realm on
/// its Unix RawSocket (`local`, the only transport the realm is served on),
/// the socket path and ports moved so that the test runs anywhere; the socket
/// file is gone once the router stops.
#[test]
fn ctl_reaches_the_example_configs_management_socket() {
    let dir = std::env::temp_dir().join(format!("shardwamp-ctl-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("control.sock");
    let text = shardwamp::config::EXAMPLE_CONFIG
        .replace("/tmp/shardwamp-control.sock", &sock.display().to_string())
        .replace("port = 8080", "port = 0")
        .replace("port = 8081", "port = 0")
        .replace("port = 9090", "port = 0")
        .replace("shards = \"auto\"", "shards = 1");
    let config = Config::from_str_with_env(&text, |k| {
        Some(
            if k == "SHARDWAMP_MGMT_TICKET" {
                TICKET
            } else {
                "x"
            }
            .to_owned(),
        )
    })
    .expect("config");
    let c = Controller::start(config, Registry::with_builtins()).expect("router starts");
    let out = Command::new(BIN)
        .args(["ctl", "--url", &format!("rs+unix://{}", sock.display())])
        .args(["--authid", "operator", "get_router_realms"])
        .env("SHARDWAMP_TICKET", TICKET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("shardwamp.management"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.shutdown();
    let started = std::time::Instant::now();
    while sock.exists() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!sock.exists(), "{} is left after shutdown", sock.display());
}

#[test]
fn the_management_realm_serves_every_operation_of_the_table() {
    let c = start();
    for o in shardwamp::control::OPERATIONS {
        // through the controller: the operation is known
        if let Err(e) = call(&c, o.name, &[]) {
            assert!(
                !e.contains(uris::ERROR_NO_SUCH_PROCEDURE),
                "{}: {e}",
                o.name
            );
        }
        // through the management realm: it is registered (an operation
        // missing its arguments answers invalid_argument, not no_such_procedure)
        let (success, out, err) = ctl(&c, &[o.name]);
        assert!(
            success || err.contains("wamp.error.invalid_argument"),
            "{}: {out} {err}",
            o.name
        );
    }
    c.shutdown();
}
