//! The configuration through its public API: the shipped example and the
//! embedded default load, errors carry the key and the line, `${VAR}`
//! substitution never leaks a value, and the effective config round-trips.

use shardwamp::codec::Serializer;
use shardwamp::config::auth::AuthMethodConfig;
use shardwamp::config::{
    Config, ConfigError, Endpoint, Shards, TransportConfig, DEFAULT_CONFIG, EXAMPLE_CONFIG,
    REDACTED,
};

const SECRETS: [(&str, &str); 4] = [
    ("SHARDWAMP_TICKET_BACKEND", "tkt-backend-7f3a9c"),
    ("SHARDWAMP_CRA_ALICE", "cra-alice-51be02"),
    ("SHARDWAMP_CRA_BOB", "cra-bob-derived-d41d8c"),
    ("SHARDWAMP_MGMT_TICKET", "tkt-mgmt-0c9e11"),
];

fn env(name: &str) -> Option<String> {
    SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| (*v).to_owned())
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn example_file_is_the_embedded_example() {
    let on_disk = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shardwamp.toml"),
    )
    .unwrap();
    assert_eq!(on_disk, EXAMPLE_CONFIG);
}

#[test]
fn example_loads_and_validates() {
    let config = Config::from_str_with_env(EXAMPLE_CONFIG, env).unwrap();
    config.validate().unwrap();
    assert!(config.problems().is_empty());
    assert_eq!(config.realms.len(), 2);
    assert_eq!(config.transports.len(), 3);
    assert_eq!(config.components.len(), 1);
    assert!(config.admin.enabled);
    let management = config.management.as_ref().unwrap();
    assert!(config.realm(&management.realm).is_some());
    assert!(config
        .transport(management.transport.as_deref().unwrap())
        .is_some());
    // Every section has something in it.
    let realm1 = config.realm("realm1").unwrap();
    assert!(realm1.store.is_some());
    assert!(realm1.roles.len() >= 2);
    let auth = config.transport("ws").unwrap().auth();
    assert!(matches!(auth.ticket, Some(AuthMethodConfig::Static(_))));
    assert!(matches!(auth.wampcra, Some(AuthMethodConfig::Static(_))));
    assert!(matches!(
        config.transport("local").unwrap().endpoint(),
        Endpoint::Unix(_)
    ));
}

#[test]
fn default_loads_and_matches_default_embedded() {
    let config = Config::from_str_with_env(DEFAULT_CONFIG, no_env).unwrap();
    assert_eq!(config, Config::default_embedded());
    assert_eq!(config.router.shards, Shards::Auto);
    assert_eq!(config.realms[0].name, "realm1");
    let ws = config.transport("ws").unwrap();
    assert_eq!(ws.endpoint().to_string(), "tcp:127.0.0.1:8080");
    assert_eq!(ws.serializers(), &Serializer::ALL);
    let TransportConfig::Websocket(w) = ws else {
        panic!("not a websocket")
    };
    assert_eq!(w.url, "/ws");
    let rs = config.transport("rawsocket").unwrap();
    assert_eq!(rs.endpoint().to_string(), "tcp:127.0.0.1:8081");
}

#[test]
fn from_file_reads_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("shardwamp-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("default.toml");
    std::fs::write(&file, DEFAULT_CONFIG).unwrap();
    assert_eq!(
        Config::from_file(&file).unwrap(),
        Config::default_embedded()
    );
    let missing = dir.join("missing.toml");
    let e = Config::from_file(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().contains("missing.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The error, its line and key path, and its text.
fn error(text: &str) -> (Option<usize>, String, String) {
    let e = Config::from_str_with_env(text, no_env).unwrap_err();
    (e.line(), e.path().unwrap_or("").to_owned(), e.to_string())
}

const ONE_REALM: &str = "[[realms]]
name = \"realm1\"

[[realms.roles]]
name = \"anonymous\"
permissions = [{ uri = \"\", match = \"prefix\", allow = { subscribe = true } }]
";

#[test]
fn errors_name_the_key_and_the_line() {
    let text = format!(
        "{ONE_REALM}
[[transports]]
type = \"websocket\"
id = \"ws\"
endpoint = {{ type = \"tcp\", port = 8080 }}

[[transports]]
type = \"rawsocket\"
id = \"rs\"
endpoint = {{ type = \"tcp\", port = 8081 }}
serializers = [\"json\", \"xml\"]
"
    );
    let (line, path, shown) = error(&text);
    assert_eq!(line, Some(17));
    assert_eq!(path, "transports[1].serializers");
    assert!(
        shown.starts_with(
            "line 17, column 15: transports[1].serializers: unknown serializer \"xml\""
        ),
        "{shown}"
    );

    // Validation errors too.
    let text = format!(
        "{ONE_REALM}
[[components]]
type = \"class\"
realm = \"realm1\"
role = \"operator\"
classname = \"x\"
"
    );
    let (line, path, shown) = error(&text);
    assert_eq!((line, path.as_str()), (Some(11), "components[0].role"));
    assert_eq!(
        shown,
        "line 11, column 1: components[0].role: realm \"realm1\" has no role named \"operator\""
    );

    let (line, path, _) = error(&format!("{ONE_REALM}\n{ONE_REALM}"));
    assert_eq!((line, path.as_str()), (Some(9), "realms[1].name"));

    let (line, path, _) = error(&format!(
        "{ONE_REALM}\n[management]\nrealm = \"shardwamp.management\"\n"
    ));
    assert_eq!((line, path.as_str()), (Some(9), "management.realm"));
}

#[test]
fn substitution_and_missing_variables() {
    let text = format!(
        "{ONE_REALM}
[[transports]]
type = \"rawsocket\"
id = \"rs\"
endpoint = {{ type = \"tcp\", port = 8081 }}

[transports.auth.ticket]
type = \"static\"

[transports.auth.ticket.principals.joe]
ticket = \"${{JOE_TICKET}}\"
role = \"anonymous\"

[transports.auth.ticket.principals.ann]
ticket = \"$${{NOT_SUBSTITUTED}}\"
role = \"anonymous\"
"
    );
    let joe = "joe-9a8b7c6d5e";
    let config =
        Config::from_str_with_env(&text, |n| (n == "JOE_TICKET").then(|| joe.to_owned())).unwrap();
    let Some(AuthMethodConfig::Static(tickets)) = &config.transports[0].auth().ticket else {
        panic!("no ticket auth")
    };
    assert_eq!(tickets.principals["joe"].ticket.expose(), joe);
    assert_eq!(
        tickets.principals["ann"].ticket.expose(),
        "${NOT_SUBSTITUTED}"
    );

    let e = Config::from_str_with_env(&text, no_env).unwrap_err();
    assert!(matches!(&e, ConfigError::MissingEnv { var, .. } if var == "JOE_TICKET"));
    assert_eq!(e.line(), Some(17));
    assert_eq!(
        e.to_string(),
        "line 17, column 10: transports[0].auth.ticket.principals.joe.ticket: \
         environment variable JOE_TICKET is not set"
    );

    // A missing variable in the example: the error holds none of the other values.
    let partial = |name: &str| {
        if name == "SHARDWAMP_MGMT_TICKET" {
            None
        } else {
            env(name)
        }
    };
    let e = Config::from_str_with_env(EXAMPLE_CONFIG, partial).unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("SHARDWAMP_MGMT_TICKET"));
    assert_eq!(
        e.path(),
        Some("transports[2].auth.ticket.principals.operator.ticket")
    );
    for (_, secret) in SECRETS {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn a_substituted_value_in_a_bad_place_is_not_shown() {
    let secret = "pa55-w0rd-in-the-wrong-key";
    let text = format!(
        "{ONE_REALM}
[[transports]]
type = \"websocket\"
endpoint = {{ type = \"tcp\", port = 1 }}
url = \"/ws\"
serializers = [\"${{SECRET}}\"]
"
    );
    let e = Config::from_str_with_env(&text, |_| Some(secret.to_owned())).unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert_eq!(e.path(), Some("transports[0].serializers"));
    assert_eq!(e.line(), Some(12));
}

#[test]
fn effective_config_round_trips() {
    let config = Config::default_embedded();
    let text = config.to_toml_string().unwrap();
    assert_eq!(Config::from_str_with_env(&text, no_env).unwrap(), config);

    let example = Config::from_str_with_env(EXAMPLE_CONFIG, env).unwrap();
    let text = example.to_toml_string().unwrap();
    for (_, secret) in SECRETS {
        assert!(!text.contains(secret));
    }
    assert!(text.contains(REDACTED));
    let back = Config::from_str_with_env(&text, no_env).unwrap();
    assert_eq!(back, example.redacted());
    assert_eq!(back.to_toml_string().unwrap(), text);
}
