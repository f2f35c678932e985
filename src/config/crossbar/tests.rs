use super::*;
use crate::config::Config;

fn load(toml: &str) -> Config {
    Config::from_str_with_env(toml, |_| Some("x".into()))
        .unwrap_or_else(|e| panic!("{e}\n---\n{toml}"))
}

const HELLO: &str = r#"{
    "version": 2,
    "controller": {},
    "workers": [
        {
            "type": "router",
            "id": "worker001",
            "options": {
                "pythonpath": [".."],
                "env": {"inherit": true}
            },
            "realms": [
                {
                    "name": "realm1",
                    "roles": [
                        {
                            "name": "anonymous",
                            "permissions": [
                                {
                                    "uri": "",
                                    "match": "prefix",
                                    "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                                    "disclose": {"caller": false, "publisher": false},
                                    "cache": true
                                }
                            ]
                        }
                    ]
                }
            ],
            "transports": [
                {
                    "type": "web",
                    "endpoint": {"type": "tcp", "port": 8080},
                    "paths": {
                        "/": {"type": "static", "directory": "../web"},
                        "ws": {"type": "websocket", "serializers": ["json", "ubjson"]}
                    }
                }
            ],
            "components": [
                {"type": "class", "classname": "hello.backend.Backend", "realm": "realm1", "role": "anonymous"}
            ]
        },
        {"type": "guest", "executable": "node", "arguments": ["backend.js"]}
    ]
}"#;

#[test]
fn a_web_transport_converts_with_its_paths_and_every_refusal_is_explained() {
    let out = import(HELLO, Format::Json, "config.json", None).unwrap();
    let config = load(&out.toml);
    assert_eq!(config.transports.len(), 1);
    assert_eq!(config.transports[0].kind(), "web");
    let crate::config::TransportConfig::Web(web) = &config.transports[0] else {
        unreachable!()
    };
    // The static root is left out; the WebSocket path is served, with the
    // serializers shardwamp speaks.
    assert_eq!(web.paths.len(), 1);
    let Some(crate::config::web::WebPath::Websocket(ws)) = web.paths.get("ws") else {
        panic!("{:?}", web.paths)
    };
    assert_eq!(ws.serializers.len(), 1);
    assert_eq!(config.router.id.as_deref(), Some("worker001"));
    assert!(config.components.is_empty());
    let left_out: Vec<&str> = out
        .notes
        .iter()
        .filter(|n| n.verdict == Verdict::LeftOut)
        .map(|n| n.path.as_str())
        .collect();
    for path in [
        "workers[0].options.pythonpath",
        "workers[0].options.env",
        "workers[0].transports[0].paths./",
        "workers[0].transports[0].paths.ws.serializers",
        "workers[0].components[0]",
        "workers[1]",
        "controller",
    ] {
        assert!(left_out.contains(&path), "{path} not in {left_out:?}");
    }
    for n in &out.notes {
        assert!(n.line > 0, "{n}");
        assert!(out.toml.contains(&n.path), "{n} not in the TOML");
    }
    let py = out
        .notes
        .iter()
        .find(|n| n.path == "workers[0].components[0]")
        .unwrap();
    assert!(py.message.contains("Rust"), "{py}");
    assert_eq!(py.line, 42);
}

#[test]
fn yaml_and_json_convert_alike() {
    let yaml = r#"
version: 2
workers:
  - type: router
    realms:
      - name: realm1
        roles:
          - name: backend
            permissions:
              - uri: com.example.
                match: prefix
                allow: {call: true, register: true, publish: true, subscribe: true}
    transports:
      - type: rawsocket
        endpoint: {type: unix, path: /tmp/x.sock, backlog: 64}
        serializers: [msgpack]
        max_message_size: 1048576
        auth:
          ticket:
            type: static
            principals:
              joe: {ticket: $JOE_TICKET, role: backend}
"#;
    let out = import(yaml, Format::Yaml, "config.yaml", None).unwrap();
    assert_eq!(out.env, vec!["JOE_TICKET".to_owned()]);
    let config = load(&out.toml);
    let crate::config::TransportConfig::Rawsocket(rs) = &config.transports[0] else {
        panic!("{}", out.toml)
    };
    assert_eq!(rs.options.max_message_size, 1_048_576);
    let crate::config::Endpoint::Unix(u) = &rs.endpoint else {
        panic!()
    };
    assert_eq!(u.backlog, 64);
}

#[test]
fn picks_a_worker_and_says_which_exist() {
    let two = r#"{"workers": [{"type": "router", "id": "a"}, {"type": "router", "id": "b"}]}"#;
    let out = import(two, Format::Json, "c.json", Some("b")).unwrap();
    assert!(out.toml.contains("id = \"b\""), "{}", out.toml);
    assert!(out.notes.iter().any(|n| n.path == "workers[0]"));
    let err = import(two, Format::Json, "c.json", Some("z")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no router worker \"z\" in this file; its router workers are: a, b"
    );
    let none = r#"{"workers": [{"type": "container"}]}"#;
    assert!(matches!(
        import(none, Format::Json, "c.json", None),
        Err(ImportError::NoRouterWorker(_))
    ));
    assert!(matches!(
        import("{", Format::Json, "c.json", None),
        Err(ImportError::Syntax(_))
    ));
}

/// A hand-written TOML file with Crossbar.io keys shardwamp does not take
/// gets why and what to do, at the key's line, never "unknown field".
#[test]
fn the_toml_loader_explains_crossbar_keys_it_does_not_take() {
    let cases = [
        ("[router]\npythonpath = [\"..\"]\n", 2, "runs no Python"),
        (
            "[[transports]]\ntype = \"mqtt\"\nendpoint = { type = \"tcp\", port = 1 }\n",
            2,
            "MQTT",
        ),
        (
            "[[transports]]\ntype = \"web\"\nendpoint = { type = \"tcp\", port = 1 }\n[transports.paths.static]\ntype = \"static\"\ndirectory = \"..\"\n",
            5,
            "nginx",
        ),
        (
            "[[transports]]\ntype = \"websocket\"\nserializers = [\"json\", \"ubjson\"]\nendpoint = { type = \"tcp\", port = 1 }\n",
            3,
            "Remove \"ubjson\"",
        ),
        (
            "[[transports]]\ntype = \"websocket\"\nendpoint = { type = \"tcp\", port = 1 }\n[transports.auth.cookie]\n",
            4,
            "cookie",
        ),
    ];
    for (text, line, words) in cases {
        let err = Config::from_str_with_env(text, |_| None).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.line(), Some(line), "{msg}");
        assert!(msg.contains(words), "{msg}");
        assert!(!msg.contains("unknown field"), "{msg}");
    }
    // A typo is still a typo.
    let err = Config::from_str_with_env("[router]\nshardz = 2\n", |_| None).unwrap_err();
    assert!(err.to_string().contains("unknown field `shardz`"), "{err}");
}

#[test]
fn keys_that_work_now_load_from_toml() {
    let text = r#"
[router]
id = "worker001"

[[realms]]
name = "realm1"
store = { type = "memory", limit = 50, event-history = [{ uri = "com.x.", match = "prefix" }] }
[[realms.roles]]
name = "anonymous"
allow-by-default = true

[[realms.rlinks]]
id = "rlink_2_1"
realm = "realm1"
forward_local_events = false
transport = { type = "websocket", url = "ws://localhost:8001/ws", endpoint = { type = "tcp", host = "localhost", port = 8001 } }

[[transports]]
type = "websocket"
endpoint = { type = "tcp", port = "${PORT}" }
options = { allow_null_origin = true, enable_webstatus = false, fail_by_drop = true, echo_close_codereason = true }
auth = { anonymous = { type = "static", role = "anonymous", realm = "realm1" } }

[[transports]]
type = "rawsocket"
endpoint = { type = "unix", path = "/tmp/x.sock", backlog = 32 }
"#;
    let c = Config::from_str_with_env(text, |_| Some("9000".into())).unwrap();
    assert_eq!(c.router.id.as_deref(), Some("worker001"));
    assert_eq!(c.realms[0].history_slot("com.x.y"), Some((0, 50)));
    assert!(c.realms[0].roles[0].allow_by_default);
    assert_eq!(c.realms[0].rlinks[0].id_at(0), "rlink_2_1");
    assert!(!c.realms[0].rlinks[0].forward_local_events);
    assert!(c.realms[0].rlinks[0].forward_remote_events);
    assert_eq!(c.transports[0].endpoint().to_string(), "tcp:0.0.0.0:9000");
    let crate::config::Endpoint::Unix(u) = c.transports[1].endpoint() else {
        panic!()
    };
    assert_eq!(u.backlog, 32);
}

#[test]
fn rlinks_convert_with_the_node_key_noted_and_load() {
    let json = r#"{"workers": [{"type": "router", "realms": [{"name": "realm1", "roles": [],
        "rlinks": [{"id": "l1", "realm": "realm1", "forward_local_events": true,
          "transport": {"type": "rawsocket", "serializer": "cbor",
            "endpoint": {"type": "tcp", "host": "node1", "port": 8001, "tls": {"hostname": "node1"}}}}]}]}]}"#;
    let out = super::import(json, super::Format::Json, "config", None).unwrap();
    assert!(out.toml.contains("[[realms.rlinks]]"), "{}", out.toml);
    assert!(
        out.notes.iter().any(|n| n.message.contains("node's key")),
        "{:?}",
        out.notes
    );
    // The connecting TLS is converted now, not left out.
    assert!(
        !out.notes.iter().any(|n| n.path.ends_with("endpoint.tls")),
        "{:?}",
        out.notes
    );
    let c = Config::from_str_with_env(&out.toml, |_| None).unwrap();
    let l = &c.realms[0].rlinks[0];
    assert_eq!(l.id_at(0), "l1");
    match &l.transport.endpoint {
        crate::config::rlink::ConnectEndpoint::Tcp { tls: Some(t), .. } => {
            assert_eq!(t.hostname.as_deref(), Some("node1"))
        }
        other => panic!("no tls: {other:?}"),
    }
    assert_eq!(
        l.transport.serializer_names().unwrap(),
        vec!["cbor".to_owned()]
    );
}

#[test]
fn a_bad_rlink_is_reported_at_its_key_and_line() {
    let text = "[[realms]]\nname = \"realm1\"\n[[realms.rlinks]]\nrealm = \"realm1\"\nauthentication = { ticket = \"t0p-s3cret\" }\ntransport = { type = \"websocket\", endpoint = { type = \"tcp\", host = \"h\", port = 0 } }\n";
    let err = Config::from_str_with_env(text, |_| None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("realms[0].rlinks[0]."), "{msg}");
    assert!(err.line().is_some(), "{msg}");
    assert!(!msg.contains("t0p-s3cret"), "{msg}");
}

#[test]
fn bridge_services_and_universal_transports_convert_and_load() {
    let json = r#"{
    "version": 2,
    "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": []}]}],
        "transports": [
            {
                "type": "web",
                "id": "web1",
                "endpoint": {"type": "tcp", "port": 8080},
                "options": {"hsts": true, "client_timeout": 30},
                "paths": {
                    "ws": {"type": "websocket", "serializers": ["cbor"]},
                    "pub": {"type": "publisher", "realm": "realm1", "role": "anonymous",
                            "options": {"key": "k", "secret": "s", "post_body_limit": 8192}},
                    "call": {"type": "caller", "realm": "realm1", "role": "anonymous"},
                    "hook": {"type": "webhook", "realm": "realm1", "role": "anonymous",
                             "options": {"topic": "com.hook", "github_secret": "g"}},
                    "info": {"type": "nodeinfo"},
                    "lp": {"type": "longpoll"}
                }
            },
            {
                "type": "universal",
                "id": "uni",
                "endpoint": {"type": "tcp", "port": 8081},
                "rawsocket": {"serializers": ["msgpack"], "max_message_size": 65536},
                "websocket": {"ws": {"serializers": ["json"]}},
                "web": {"paths": {"/": {"type": "static", "directory": "."},
                                  "pub": {"type": "publisher", "realm": "realm1", "role": "anonymous"}}},
                "mqtt": {"options": {}}
            }
        ]
    }]
}"#;
    let out = import(json, Format::Json, "config.json", None).unwrap();
    let config = load(&out.toml);
    let crate::config::TransportConfig::Web(web) = &config.transports[0] else {
        panic!("{}", out.toml)
    };
    let kinds: Vec<(&str, &str)> = web
        .paths
        .iter()
        .map(|(p, s)| (p.as_str(), s.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("call", "caller"),
            ("hook", "webhook"),
            ("pub", "publisher"),
            ("ws", "websocket")
        ]
    );
    assert!(web.options.hsts);
    let crate::config::TransportConfig::Universal(u) = &config.transports[1] else {
        panic!("{}", out.toml)
    };
    assert_eq!(
        u.rawsocket.as_ref().map(|r| r.options.max_message_size),
        Some(65536)
    );
    assert_eq!(u.all_paths().len(), 2, "{:?}", u.all_paths());
    let left_out: Vec<&str> = out
        .notes
        .iter()
        .filter(|n| n.verdict == Verdict::LeftOut)
        .map(|n| n.path.as_str())
        .collect();
    for path in [
        "workers[0].transports[0].paths.info",
        "workers[0].transports[0].paths.lp",
        "workers[0].transports[0].options.client_timeout",
        "workers[0].transports[1].web.paths./",
        "workers[0].transports[1].mqtt",
    ] {
        assert!(left_out.contains(&path), "{path} not in {left_out:?}");
    }
}
