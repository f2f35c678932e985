use std::net::{IpAddr, Ipv4Addr};

use super::auth::{AnonymousStatic, TicketPrincipal, TicketStatic};
use super::*;

/// The example's variables.
fn example_env(name: &str) -> Option<String> {
    match name {
        "SHARDWAMP_TICKET_BACKEND" => Some("backend-ticket-123".into()),
        "SHARDWAMP_CRA_ALICE" => Some("alice-secret-456".into()),
        "SHARDWAMP_CRA_BOB" => Some("bob-derived-key-789".into()),
        "SHARDWAMP_MGMT_TICKET" => Some("mgmt-ticket-000".into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_with_env(text, |_| None)
}

fn err(text: &str) -> ConfigError {
    match load(text) {
        Ok(c) => panic!("expected an error, got {c:#?}"),
        Err(e) => e,
    }
}

/// Asserts the error's line, path and that its text contains `needle`.
#[track_caller]
fn assert_err(text: &str, line: usize, path: &str, needle: &str) -> ConfigError {
    let e = err(text);
    let shown = e.to_string();
    assert_eq!(e.line(), Some(line), "{shown}");
    assert_eq!(e.path(), Some(path), "{shown}");
    assert!(shown.contains(needle), "{shown:?} lacks {needle:?}");
    assert!(
        shown.starts_with(&format!("line {line}, column ")),
        "{shown}"
    );
    e
}

const REALM: &str = r#"
[[realms]]
name = "realm1"

[[realms.roles]]
name = "anonymous"
permissions = [{ uri = "", match = "prefix", allow = { call = true } }]
"#;

#[test]
fn default_config_text_is_default_embedded() {
    let parsed = load(DEFAULT_CONFIG).unwrap();
    assert_eq!(parsed, Config::default_embedded());
    assert_eq!(Config::default(), parsed);
    Config::default_embedded().validate().unwrap();

    let c = &parsed;
    assert_eq!(c.realms.len(), 1);
    assert_eq!(c.realms[0].name, "realm1");
    assert_eq!(c.realms[0].roles[0].name, "anonymous");
    assert_eq!(c.realms[0].roles[0].permissions[0].allow, Allow::ALL);
    let ws = c.transport("ws").unwrap();
    assert_eq!(ws.kind(), "websocket");
    assert_eq!(
        ws.endpoint(),
        &Endpoint::Tcp(TcpEndpoint {
            interface: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ..TcpEndpoint::new(8080)
        })
    );
    let TransportConfig::Websocket(w) = ws else {
        panic!()
    };
    assert_eq!(w.url, "/ws");
    assert_eq!(ws.serializers(), &Serializer::ALL);
    assert_eq!(ws.auth(), &default_transport_auth());
    let rs = c.transport("rawsocket").unwrap();
    assert_eq!(rs.endpoint().to_string(), "tcp:127.0.0.1:8081");
    assert!(!c.admin.enabled);
    assert!(c.management.is_none());
}

#[test]
fn example_parses_and_covers_every_section() {
    let c = Config::from_str_with_env(EXAMPLE_CONFIG, example_env).unwrap();
    assert_eq!(c.router.shards, Shards::Auto);
    assert_eq!(c.router.io_memory, 2 * MIB);
    assert_eq!(c.router.log_level, LogLevel::Info);
    assert_eq!(c.realms.len(), 2);
    let realm1 = c.realm("realm1").unwrap();
    assert_eq!(realm1.roles.len(), 3);
    assert_eq!(realm1.history_slot("com.example.news"), Some((0, 100)));
    assert_eq!(realm1.limits.max_payload_size, 1_048_576);
    assert_eq!(c.transports.len(), 3);

    let ws = c.transport("ws").unwrap();
    let TransportConfig::Websocket(w) = ws else {
        panic!()
    };
    assert_eq!(w.options.auto_ping_interval, 10_000);
    assert_eq!(w.options.compression, Some(toml::Value::Boolean(false)));
    let Some(AuthMethodConfig::Static(t)) = &w.auth.ticket else {
        panic!()
    };
    assert_eq!(
        t.principals["backend1"].ticket.expose(),
        "backend-ticket-123"
    );
    let Some(AuthMethodConfig::Static(cra)) = &w.auth.wampcra else {
        panic!()
    };
    assert_eq!(cra.users["alice"].secret.expose(), "alice-secret-456");
    assert_eq!(cra.users["bob"].secret.expose(), "bob-derived-key-789");
    assert_eq!(cra.users["bob"].iterations, Some(1000));

    let TransportConfig::Rawsocket(r) = c.transport("rawsocket").unwrap() else {
        panic!()
    };
    assert_eq!(r.options.length_exponent(), 11);
    assert_eq!(r.options.queue().slow_consumer, SlowConsumer::Disconnect);
    assert_eq!(r.serializers[0], Serializer::MsgPack);
    assert!(matches!(
        c.transport("local").unwrap().endpoint(),
        Endpoint::Unix(_)
    ));

    let comp = &c.components[0];
    assert_eq!(comp.kind, ComponentKind::Class);
    let extra = comp.extra_dict();
    assert_eq!(extra["interval_ms"], Value::UInt(1000));
    assert_eq!(extra["topic"], Value::Str("com.example.stats".into()));

    assert!(c.admin.enabled);
    assert_eq!(
        c.management,
        Some(ManagementConfig {
            realm: "shardwamp.management".into(),
            transport: Some("local".into()),
            allow_anonymous: false,
            role: None,
        })
    );
    // Secrets stay out of Debug output.
    let debug = format!("{c:?}");
    for secret in [
        "backend-ticket-123",
        "alice-secret-456",
        "bob-derived-key-789",
    ] {
        assert!(!debug.contains(secret));
    }
}

#[test]
fn missing_variable_names_variable_and_key_never_a_value() {
    let only_some = |name: &str| match name {
        "SHARDWAMP_TICKET_BACKEND" => Some("backend-ticket-123".to_owned()),
        _ => None,
    };
    let e = Config::from_str_with_env(EXAMPLE_CONFIG, only_some).unwrap_err();
    let shown = e.to_string();
    assert!(matches!(&e, ConfigError::MissingEnv { var, .. } if var == "SHARDWAMP_CRA_ALICE"));
    assert_eq!(
        e.path(),
        Some("transports[0].auth.wampcra.users.alice.secret")
    );
    let line = EXAMPLE_CONFIG
        .lines()
        .position(|l| l.contains("${SHARDWAMP_CRA_ALICE}"))
        .unwrap()
        + 1;
    assert_eq!(e.line(), Some(line));
    assert!(shown.contains("SHARDWAMP_CRA_ALICE"), "{shown}");
    assert!(!shown.contains("backend-ticket-123"), "{shown}");
}

#[test]
fn substitution_in_every_string_and_escape() {
    let text = format!(
        r#"{REALM}
[[transports]]
type = "websocket"
id = "${{ID}}"
url = "/${{PATH}}/$${{NOT_A_VAR}}"
endpoint = {{ type = "unix", path = "${{DIR}}/sock" }}
serializers = ["${{SER}}"]
"#
    );
    let env = |n: &str| {
        Some(
            match n {
                "ID" => "main",
                "PATH" => "ws",
                "DIR" => "/run",
                "SER" => "cbor",
                _ => return None,
            }
            .to_owned(),
        )
    };
    let c = Config::from_str_with_env(&text, env).unwrap();
    let TransportConfig::Websocket(w) = &c.transports[0] else {
        panic!()
    };
    assert_eq!(w.id, "main");
    assert_eq!(w.url, "/ws/${NOT_A_VAR}");
    assert_eq!(
        w.endpoint,
        Endpoint::Unix(UnixEndpoint {
            path: "/run/sock".into(),
            backlog: 1024,
            tls: None,
        })
    );
    assert_eq!(w.serializers, vec![Serializer::Cbor]);
}

#[test]
fn substituted_values_never_appear_in_errors() {
    let secret = "hunter2-very-secret";
    let env = |_: &str| Some(secret.to_owned());
    // A substituted value of the wrong type: serde would echo it.
    let text = format!(
        "{REALM}\n[[transports]]\ntype = \"rawsocket\"\nendpoint = {{ type = \"tcp\", port = \"${{PORT}}\" }}\n"
    );
    let e = Config::from_str_with_env(&text, env).unwrap_err();
    let shown = e.to_string();
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains(REDACTED), "{shown}");
    assert_eq!(e.path(), Some("transports[0].endpoint.port"));
    assert_eq!(e.line(), Some(11));
    // An unknown serializer from the environment.
    let text = format!(
        "{REALM}\n[[transports]]\ntype = \"rawsocket\"\nserializers = [\"${{S}}\"]\nendpoint = {{ type = \"tcp\", port = 1 }}\n"
    );
    let shown = Config::from_str_with_env(&text, env)
        .unwrap_err()
        .to_string();
    assert!(!shown.contains(secret), "{shown}");
    // Malformed references.
    let e = err(&format!(
        "{REALM}\n[[transports]]\ntype = \"rawsocket\"\nid = \"${{oops\"\nendpoint = {{ type = \"tcp\", port = 1 }}\n"
    ));
    assert!(matches!(e, ConfigError::Substitution { .. }), "{e}");
    assert_eq!(e.path(), Some("transports[0].id"));
    assert_eq!(e.line(), Some(11));
}

#[test]
fn syntax_error_has_line() {
    let e = err("[router]\nshards = \"auto\"\nlog_level = \n");
    assert!(matches!(e, ConfigError::Syntax { .. }));
    assert_eq!(e.line(), Some(3));
    assert!(e.to_string().starts_with("line 3, column "), "{e}");
}

#[test]
fn schema_errors_point_at_the_key() {
    // An unknown serializer, inside a tagged transport (refined).
    let text = format!(
        "{REALM}
[[transports]]
type = \"websocket\"
id = \"a\"
endpoint = {{ type = \"tcp\", port = 1 }}

[[transports]]
type = \"rawsocket\"
id = \"b\"
serializers = [\"json\", \"xml\"]
endpoint = {{ type = \"tcp\", port = 2 }}
"
    );
    let e = assert_err(
        &text,
        17,
        "transports[1].serializers",
        r#"unknown serializer "xml""#,
    );
    assert!(matches!(e, ConfigError::Schema { .. }));

    // Unknown option key.
    let text = format!(
        "{REALM}
[[transports]]
type = \"websocket\"
endpoint = {{ type = \"tcp\", port = 1 }}

[transports.options]
auto_ping_interval = 100
auto_pong = 3
"
    );
    assert_err(
        &text,
        15,
        "transports[0].options.auto_pong",
        "unknown field `auto_pong`",
    );

    // A bad value in a nested tagged table (endpoint inside transport).
    let text = format!(
        "{REALM}
[[transports]]
type = \"websocket\"

[transports.endpoint]
type = \"tcp\"
port = 70000
"
    );
    assert_err(&text, 14, "transports[0].endpoint.port", "70000");

    // An unknown tag.
    let text = format!(
        "{REALM}\n[[transports]]\ntype = \"http\"\nendpoint = {{ type = \"tcp\", port = 1 }}\n"
    );
    assert_err(
        &text,
        10,
        "transports[0].type",
        "unknown variant `http`, expected one of `websocket`, `rawsocket`, `web`, `universal`",
    );
    let text = format!("{REALM}\n[[transports]]\ntype = \"rawsocket\"\nendpoint = {{ type = \"udp\", port = 1 }}\n");
    assert_err(
        &text,
        11,
        "transports[0].endpoint.type",
        "unknown variant `udp`, expected `tcp` or `unix`",
    );

    // Inside an auth method (tagged twice over).
    let text = format!(
        "{REALM}
[[transports]]
type = \"rawsocket\"
endpoint = {{ type = \"tcp\", port = 1 }}

[transports.auth.ticket]
type = \"static\"

[transports.auth.ticket.principals.joe]
tiket = \"x\"
role = \"anonymous\"
"
    );
    assert_err(
        &text,
        17,
        "transports[0].auth.ticket.principals.joe.tiket",
        "unknown field `tiket`",
    );

    // Missing required key: at the table.
    let text = format!("{REALM}\n[[transports]]\ntype = \"rawsocket\"\nid = \"x\"\n");
    assert_err(&text, 9, "transports[0]", "missing field `endpoint`");

    // In a realm (not tagged).
    let text = "[[realms]]\nname = \"rlm\"\n\n[realms.options]\nuri_check = \"sloppy\"\n";
    assert_err(
        text,
        5,
        "realms[0].options.uri_check",
        "unknown variant `sloppy`",
    );

    // A top-level typo.
    assert_err(
        "[[realm]]\nname = \"x\"\n",
        1,
        "realm",
        "unknown field `realm`",
    );

    // Shards.
    assert_err(
        "[router]\nshards = 0\n",
        2,
        "router.shards",
        "\"auto\" or a shard count",
    );
    assert_err(
        "[router]\nshards = \"all\"\n",
        2,
        "router.shards",
        "\"auto\" or a shard count",
    );
    assert_err(
        "[router]\nlog_level = \"loud\"\n",
        2,
        "router.log_level",
        "loud",
    );
}

#[test]
fn validation_errors_have_lines() {
    // Duplicate realm names.
    let text = format!("{REALM}{REALM}");
    assert_err(
        &text,
        10,
        "realms[1].name",
        r#"realm "realm1" is defined twice (first at realms[0])"#,
    );

    // Duplicate role names.
    let text = "[[realms]]\nname = \"rlm\"\n\n[[realms.roles]]\nname = \"a\"\n\n[[realms.roles]]\nname = \"a\"\n";
    assert_err(
        text,
        8,
        "realms[0].roles[1].name",
        r#"role "a" is defined twice"#,
    );

    // An invalid permission URI.
    let text = "[[realms]]\nname = \"rlm\"\n\n[[realms.roles]]\nname = \"a\"\npermissions = [\n  { uri = \"a\" },\n  { uri = \"a..b\" },\n]\n";
    assert_err(
        text,
        8,
        "realms[0].roles[0].permissions[1].uri",
        "invalid exact permission URI",
    );

    // Event history.
    let text = "[[realms]]\nname = \"rlm\"\n\n[realms.store]\ntype = \"memory\"\nevent-history = [{ uri = \"a.b\", limit = 0 }]\n";
    assert_err(
        text,
        6,
        "realms[0].store.event-history[0].limit",
        "at least 1",
    );

    // home_shard beyond the shard count.
    let realm = "[[realms]]\nname = \"rlm\"\nhome_shard = 4\n";
    let text = format!("[router]\nshards = 4\n\n{realm}");
    assert_err(
        &text,
        6,
        "realms[0].home_shard",
        "home_shard 4 is not below shards = 4",
    );
    // ... fine when "auto".
    load(realm).unwrap();

    // Duplicate transport ids.
    let text = format!(
        "{REALM}
[[transports]]
type = \"websocket\"
id = \"t\"
endpoint = {{ type = \"tcp\", port = 1 }}

[[transports]]
type = \"rawsocket\"
id = \"t\"
endpoint = {{ type = \"tcp\", port = 2 }}
"
    );
    assert_err(
        &text,
        16,
        "transports[1].id",
        r#"transport id "t" is used twice"#,
    );

    // Empty serializers.
    let text = format!(
        "{REALM}\n[[transports]]\ntype = \"rawsocket\"\nendpoint = {{ type = \"tcp\", port = 1 }}\nserializers = []\n"
    );
    assert_err(&text, 12, "transports[0].serializers", "no serializers");

    // Two listeners on one port.
    let text = format!(
        "{REALM}
[[transports]]
type = \"websocket\"
endpoint = {{ type = \"tcp\", port = 8080 }}

[[transports]]
type = \"rawsocket\"
endpoint = {{ type = \"tcp\", port = 8080, interface = \"127.0.0.1\" }}
"
    );
    assert_err(
        &text,
        15,
        "transports[1].endpoint.port",
        "port 8080 is already used by transports[0]",
    );
    // Port 0 is "any free port": never a clash.
    let text = text.replace("8080", "0");
    load(&text).unwrap();

    // An empty allowed_origins list is ambiguous.
    let text = format!(
        "{REALM}\n[[transports]]\ntype = \"websocket\"\nendpoint = {{ type = \"tcp\", port = 1 }}\noptions = {{ allowed_origins = [] }}\n"
    );
    assert_err(
        &text,
        12,
        "transports[0].options.allowed_origins",
        "allowed_origins is empty",
    );

    // RawSocket message size.
    let text = format!(
        "{REALM}\n[[transports]]\ntype = \"rawsocket\"\nendpoint = {{ type = \"tcp\", port = 1 }}\noptions = {{ max_message_size = 100 }}\n"
    );
    assert_err(
        &text,
        12,
        "transports[0].options.max_message_size",
        "from 512",
    );

    // Interface of the wrong IP version.
    let text = format!(
        "{REALM}\n[[transports]]\ntype = \"rawsocket\"\nendpoint = {{ type = \"tcp\", port = 1, version = 6, interface = \"127.0.0.1\" }}\n"
    );
    assert_err(
        &text,
        11,
        "transports[0].endpoint.interface",
        "not an IPv6 address",
    );

    // A principal's role defined nowhere.
    let text = format!(
        "{REALM}
[[transports]]
type = \"rawsocket\"
endpoint = {{ type = \"tcp\", port = 1 }}

[transports.auth.ticket]
type = \"static\"
principals = {{ joe = {{ ticket = \"t\", role = \"ghost\" }} }}
"
    );
    assert_err(
        &text,
        15,
        "transports[0].auth.ticket.principals.joe.role",
        r#"role "ghost" is not defined in any realm"#,
    );

    // An auth table the authenticator refuses (empty secret).
    let text = format!(
        "{REALM}
[[transports]]
type = \"rawsocket\"
endpoint = {{ type = \"tcp\", port = 1 }}

[transports.auth.wampcra]
type = \"static\"

[transports.auth.wampcra.users.ann]
secret = \"\"
role = \"anonymous\"
"
    );
    assert_err(
        &text,
        17,
        "transports[0].auth.wampcra.users.ann.secret",
        "empty secret",
    );

    // Components: unknown realm, unknown role.
    let component = |realm: &str, role: &str| {
        format!(
            "{REALM}\n[[components]]\ntype = \"class\"\nrealm = \"{realm}\"\nrole = \"{role}\"\nclassname = \"c\"\n"
        )
    };
    assert_err(
        &component("nowhere", "anonymous"),
        11,
        "components[0].realm",
        r#"no realm named "nowhere""#,
    );
    assert_err(
        &component("realm1", "ghost"),
        12,
        "components[0].role",
        r#"realm "realm1" has no role named "ghost""#,
    );
    load(&component("realm1", "anonymous")).unwrap();

    // The management realm must exist, and its transport.
    let text = format!("{REALM}\n[management]\nrealm = \"shardwamp.management\"\n");
    assert_err(
        &text,
        10,
        "management.realm",
        r#"no realm named "shardwamp.management""#,
    );
    let text = format!("{REALM}\n[management]\nrealm = \"realm1\"\ntransport = \"nope\"\n");
    assert_err(
        &text,
        11,
        "management.transport",
        r#"no transport with id "nope""#,
    );

    // CPUs.
    let text = "[router]\nshards = 3\ncpus = [0, 1]\n";
    assert_err(text, 2, "router.shards", "only 2 CPUs");
    let text = "[router]\ncpus = [0, 1, 1]\n";
    assert_err(text, 2, "router.cpus[2]", "CPU 1 is listed twice");
}

#[test]
fn realm_names_follow_crossbars_rule() {
    // Crossbar.io accepts these (its `^[A-Za-z][A-Za-z0-9_\-@\.]{2,254}$`).
    for name in [
        "realm1",
        "realm-auth",
        "Bad-Name",
        "com.example@home",
        "a_b",
    ] {
        load(&format!("[[realms]]\nname = {name:?}\n"))
            .unwrap_or_else(|e| panic!("{name:?} refused: {e}"));
        assert_eq!(realm::check_realm_name(name), Ok(()), "{name:?}");
    }
    let long = format!("r{}", "x".repeat(254));
    assert_eq!(realm::check_realm_name(&long), Ok(()));
    // ... and refuses these.
    let too_long = format!("r{}", "x".repeat(255));
    for name in [
        "r", "ab", "1realm", "_realm", "realm 1", "realm*", "réalm", "", &too_long,
    ] {
        assert!(realm::check_realm_name(name).is_err(), "{name:?}");
        assert_err(
            &format!("[[realms]]\nname = {name:?}\n"),
            2,
            "realms[0].name",
            "invalid realm name",
        );
    }
}

#[test]
fn problems_lists_every_problem_without_lines() {
    let mut c = Config::default_embedded();
    c.realms.push(c.realms[0].clone());
    if let TransportConfig::Websocket(w) = &mut c.transports[0] {
        w.serializers.clear();
    }
    let problems = c.problems();
    let paths: Vec<_> = problems.iter().filter_map(|e| e.path()).collect();
    assert_eq!(paths, ["realms[1].name", "transports[0].serializers"]);
    assert!(problems.iter().all(|e| e.line().is_none()));
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        r#"realms[1].name: realm "realm1" is defined twice (first at realms[0])"#
    );
}

#[test]
fn auth_defaults_only_without_an_auth_table() {
    let base = format!("{REALM}\n[[transports]]\ntype = \"websocket\"\nendpoint = {{ type = \"tcp\", port = 1 }}\n");
    let c = load(&base).unwrap();
    assert_eq!(
        c.transports[0].auth(),
        &TransportAuth::anonymous_only("anonymous")
    );
    // An empty auth table: no method at all.
    let c = load(&format!("{base}auth = {{}}\n")).unwrap();
    assert_eq!(c.transports[0].auth(), &TransportAuth::default());
    // Ticket only: no implicit anonymous.
    let c = load(&format!(
        "{base}\n[transports.auth.ticket]\ntype = \"static\"\nprincipals = {{ joe = {{ ticket = \"t\", role = \"anonymous\" }} }}\n"
    ))
    .unwrap();
    let auth = c.transports[0].auth();
    assert!(auth.anonymous.is_none());
    assert!(auth.ticket.is_some());
}

#[test]
fn defaults_and_ids() {
    let text = format!(
        "{REALM}
[[transports]]
type = \"websocket\"
endpoint = {{ type = \"tcp\", port = 1 }}

[[transports]]
type = \"rawsocket\"
endpoint = {{ type = \"tcp\", port = 2, version = 6 }}

[[components]]
type = \"class\"
realm = \"realm1\"
role = \"anonymous\"
classname = \"x\"
"
    );
    let c = load(&text).unwrap();
    assert_eq!(c.transports[0].id(), "transport001");
    assert_eq!(c.transports[1].id(), "transport002");
    assert_eq!(c.components[0].id, "component001");
    let TransportConfig::Websocket(w) = &c.transports[0] else {
        panic!()
    };
    assert_eq!(w.url, "/");
    assert_eq!(w.serializers, Serializer::ALL.to_vec());
    assert_eq!(w.options, WebSocketOptions::default());
    assert_eq!(w.endpoint.to_string(), "tcp:0.0.0.0:1");
    assert_eq!(c.transports[1].endpoint().to_string(), "tcp:[::]:2");
    assert_eq!(c.transports[1].queue().max_messages, 10_000);
    assert_eq!(c.router, RouterConfig::default());
    assert_eq!(c.admin.endpoint.to_string(), "tcp:127.0.0.1:9090");
}

#[test]
fn shards_and_log_levels() {
    let c = load("[router]\nshards = 6\nlog_level = \"warning\"\n").unwrap();
    assert_eq!(c.router.shards, Shards::Count(6));
    assert_eq!(c.router.shard_count(), 6);
    assert_eq!(c.router.log_level, LogLevel::Warn);
    assert_eq!(c.router.log_level.to_level_filter(), log::LevelFilter::Warn);
    let c = load("[router]\ncpus = [2, 3, 5]\n").unwrap();
    assert_eq!(c.router.shard_count(), 3);
    assert!(load("[router]\n").unwrap().router.shard_count() >= 1);
}

#[test]
fn rawsocket_length_exponent() {
    let exp = |size| {
        let o = RawSocketOptions {
            max_message_size: size,
            ..RawSocketOptions::default()
        };
        (o.length_exponent(), o.effective_max_message_size())
    };
    assert_eq!(exp(512), (0, 512));
    assert_eq!(exp(1023), (0, 512));
    assert_eq!(exp(1024), (1, 1024));
    assert_eq!(exp(16 * MIB), (15, 16 * MIB));
    assert_eq!(exp(usize::MAX), (15, 16 * MIB));
    assert_eq!(exp(0), (0, 512));
}

#[test]
fn round_trip_through_toml() {
    let c = Config::default_embedded();
    let text = c.to_toml_string().unwrap();
    assert_eq!(load(&text).unwrap(), c, "{text}");

    // The example, secrets redacted: equal to the redacted config.
    let example = Config::from_str_with_env(EXAMPLE_CONFIG, example_env).unwrap();
    let text = example.to_toml_string().unwrap();
    for (_, secret) in [
        ("", "backend-ticket-123"),
        ("", "alice-secret-456"),
        ("", "bob-derived-key-789"),
        ("", "mgmt-ticket-000"),
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains(REDACTED));
    assert_eq!(load(&text).unwrap(), example.redacted());
}

#[test]
fn round_trip_everything_without_secrets() {
    let mut c = Config::default_embedded();
    c.router = RouterConfig {
        id: Some("worker001".into()),
        shards: Shards::Count(2),
        cpus: Some(vec![0, 1]),
        io_memory: 4 * MIB,
        log_level: LogLevel::Debug,
        node_key: Some("key.priv".into()),
    };
    c.realms[0].home_shard = Some(1);
    c.realms[0].store = Some(super::realm::StoreConfig {
        kind: "memory".into(),
        limit: Some(50),
        event_history: vec![super::realm::EventHistoryConfig {
            uri: "a.b".into(),
            match_: Some(MatchPolicy::Prefix),
            limit: Some(3),
        }],
    });
    if let TransportConfig::Websocket(w) = &mut c.transports[0] {
        w.options.compression = Some(toml::Value::Boolean(false));
        w.options.slow_consumer = SlowConsumer::Disconnect;
        w.auth = TransportAuth {
            anonymous: Some(AuthMethodConfig::Static(AnonymousStatic {
                role: "anonymous".into(),
                authid: Some("guest".into()),
                realm: None,
            })),
            ..TransportAuth::default()
        };
        w.endpoint = Endpoint::Tcp(TcpEndpoint {
            tls: Some(TlsConfig {
                key: "k.pem".into(),
                certificate: "c.pem".into(),
                chain_certificates: vec!["chain.pem".into()],
                ciphers: None,
                ca_certificates: Vec::new(),
                dhparam: None,
            }),
            version: IpVersion::V6,
            ..TcpEndpoint::new(0)
        });
    }
    let mut extra = toml::Table::new();
    extra.insert("n".into(), toml::Value::Integer(-3));
    extra.insert(
        "list".into(),
        toml::Value::Array(vec![toml::Value::Float(1.5)]),
    );
    c.components.push(ComponentConfig {
        id: "c1".into(),
        kind: ComponentKind::Class,
        realm: "realm1".into(),
        role: "anonymous".into(),
        classname: "echo".into(),
        extra,
    });
    c.admin.enabled = true;
    c.management = Some(ManagementConfig {
        realm: "realm1".into(),
        transport: None,
        allow_anonymous: false,
        role: None,
    });
    c.validate().unwrap();
    let text = c.to_toml_string().unwrap();
    assert_eq!(load(&text).unwrap(), c, "{text}");
}

#[test]
fn redaction_replaces_secrets_only() {
    let mut c = Config::default_embedded();
    if let TransportConfig::Rawsocket(r) = &mut c.transports[1] {
        let mut principals = std::collections::BTreeMap::new();
        principals.insert(
            "joe".to_owned(),
            TicketPrincipal {
                ticket: "top-secret".into(),
                role: "anonymous".into(),
            },
        );
        r.auth.ticket = Some(AuthMethodConfig::Static(TicketStatic { principals }));
    }
    let mut extra = toml::Table::new();
    extra.insert("API_Key".into(), toml::Value::String("k-123456".into()));
    let mut nested = toml::Table::new();
    nested.insert(
        "passwords".into(),
        toml::Value::Array(vec![toml::Value::String("p-654321".into())]),
    );
    nested.insert("keylen".into(), toml::Value::Integer(32));
    nested.insert("user".into(), toml::Value::String("svc".into()));
    extra.insert("db".into(), toml::Value::Table(nested));
    c.components.push(ComponentConfig {
        id: "c".into(),
        kind: ComponentKind::Class,
        realm: "realm1".into(),
        role: "anonymous".into(),
        classname: "x".into(),
        extra,
    });
    let text = c.to_toml_string().unwrap();
    for secret in ["top-secret", "k-123456", "p-654321"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("<redacted>"));
    assert!(text.contains("joe"));
    assert!(text.contains("keylen = 32"), "{text}");
    assert!(text.contains("user = \"svc\""), "{text}");
}

#[test]
fn websocket_options_that_cannot_be_honoured_are_refused() {
    let base = format!(
        "{REALM}\n[[transports]]\ntype = \"websocket\"\nendpoint = {{ type = \"tcp\", port = 1 }}\n[transports.options]\n"
    );
    let line = base.lines().count() + 1;
    let e = assert_err(
        &format!("{base}validate_utf8 = false\n"),
        line,
        "transports[0].options.validate_utf8",
        "shardwamp always checks that text messages are valid UTF-8",
    );
    assert!(
        e.to_string().contains("remove the key or set it to true"),
        "{e}"
    );
    for ask in [
        "true",
        "{ deflate = { request_no_context_takeover = false } }",
    ] {
        let e = assert_err(
            &format!("{base}compression = {ask}\n"),
            line,
            "transports[0].options.compression",
            "compression is not supported",
        );
        assert!(e.to_string().contains("set it to false"), "{e}");
    }
    // What can be honoured is accepted.
    load(&format!(
        "{base}validate_utf8 = true\ncompression = false\n"
    ))
    .unwrap();
    load(&base).unwrap();
}

#[test]
fn dynamic_authentication_and_authorizers_load() {
    let text = r#"
[[realms]]
name = "realm1"

[[realms.roles]]
name = "anonymous"
permissions = [{ uri = "", match = "prefix", allow = { call = true, register = true } }]

[[realms.roles]]
name = "user"
authorizer = "com.example.authorize"

[[transports]]
type = "websocket"
id = "ws"
endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }

[transports.auth.ticket]
type = "dynamic"
authenticator = "com.example.authenticate"
authenticator-realm = "realm1"
authenticator-role = "anonymous"
timeout = 2000

[transports.auth.wampcra]
type = "dynamic"
authenticator = "com.example.authenticate"
"#;
    let c = load(text).unwrap();
    assert_eq!(
        c.realms[0].roles[1].authorizer.as_deref(),
        Some("com.example.authorize")
    );
    // A role with both an authorizer and permissions is refused at the key.
    let both = text.replace(
        "authorizer = \"com.example.authorize\"",
        "authorizer = \"com.example.authorize\"\npermissions = [{ uri = \"a\", allow = { call = true } }]",
    );
    let e = err(&both);
    assert_eq!(e.path(), Some("realms[0].roles[1].authorizer"), "{e}");
    assert!(e.to_string().contains("not both"), "{e}");
    // A zero timeout is refused at the key.
    let e = err(&text.replace("timeout = 2000", "timeout = 0"));
    assert_eq!(e.path(), Some("transports[0].auth.ticket.timeout"), "{e}");
}
