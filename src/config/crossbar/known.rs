//! Crossbar.io's keys that shardwamp does not take, each with why and what
//! to do instead: one table, read by the importer (for its notes) and by the
//! TOML loader (so that such a key is explained, never reported as a typo).

/// Why a Crossbar.io key is not taken, and what to do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    /// Why shardwamp does not take it.
    pub why: &'static str,
    /// What to do instead.
    pub todo: &'static str,
}

const fn e(why: &'static str, todo: &'static str) -> Explanation {
    Explanation { why, todo }
}

/// Where shardwamp's configuration is documented.
pub const DOCS: &str = "shardwamp's configuration (`shardwamp init` prints every key)";

/// Options both transport kinds take (shardwamp's limits and timeouts).
const COMMON_OPTIONS: &[&str] = &[
    "max_message_size",
    "open_handshake_timeout",
    "read_buffer_size",
    "max_queue_messages",
    "max_queue_bytes",
    "hello_timeout",
    "auth_timeout",
    "max_auth_failures_per_address",
    "auth_failure_window",
    "max_connections",
    "max_connections_per_shard",
    "max_handshakes",
    "max_handshakes_per_shard",
    "slow_consumer",
];

/// Options only WebSocket transports take, Crossbar.io's (autobahn's) names.
const WEBSOCKET_ONLY_OPTIONS: &[&str] = &[
    "allowed_origins",
    "allow_null_origin",
    "close_handshake_timeout",
    "validate_utf8",
    "max_frame_size",
    "auto_fragment_size",
    "auto_ping_interval",
    "auto_ping_timeout",
    "auto_ping_size",
    "tcp_nodelay",
    "compression",
    "enable_webstatus",
    "fail_by_drop",
    "echo_close_codereason",
];

/// Whether a `kind` transport's `options` take `key`.
pub fn takes_option(kind: &str, key: &str) -> bool {
    COMMON_OPTIONS.contains(&key) || (kind == "websocket" && WEBSOCKET_ONLY_OPTIONS.contains(&key))
}

/// Component classes built into shardwamp (kept by the importer).
pub const BUILTIN_COMPONENTS: &[&str] = &["shardwamp.stats"];

const LOGGING: &str =
    "Set `[router] log_level = \"debug\"` (or \"trace\") for shardwamp's own debug log.";

/// The explanation for a key Crossbar.io knows and shardwamp's TOML does not take.
pub fn explain(key: &str) -> Option<Explanation> {
    Some(match key {
        // Worker options.
        "pythonpath" => e(
            "options.pythonpath adds import paths for the Python components Crossbar.io's worker runs; shardwamp runs no Python.",
            "Leave it out; run those components as WAMP clients with that PYTHONPATH.",
        ),
        "env" => e(
            "options.env sets the environment of Crossbar.io's worker process, for its Python components; shardwamp has no worker process.",
            "Set the variables where you start shardwamp: `${NAME}` in any string value reads them.",
        ),
        "title" => e(
            "options.title names Crossbar.io's worker process; shardwamp is one process.",
            "Leave it out; `[router] id` names the router in its log.",
        ),
        "reactor" => e(
            "options.reactor picks Twisted's event loop; shardwamp runs on io_uring, one executor per shard.",
            "Leave it out; `[router] shards` and `cpus` set how it runs.",
        ),
        "expose_controller" | "expose_shared" => e(
            "these let Crossbar.io's in-process Python components reach the worker's controller;",
            "the controller API is served on the management realm (`[management]`, docs/operations.md).",
        ),
        "shutdown" | "restart" | "auto_restart" => e(
            "Crossbar.io's worker restart and shutdown policies are the node's;",
            "run shardwamp under a service manager (systemd's Restart=) for the same.",
        ),
        "disabled" | "enabled" => e(
            "Crossbar.io's switch to skip a worker or transport at start;",
            "remove the section to disable it.",
        ),
        "timeout" => e(
            "Crossbar.io's worker start-up timeout; shardwamp starts its shards at once and says when it cannot.",
            "Leave it out.",
        ),
        // Transport keys.
        "debug" | "debug_traffic" | "debug_codecs" | "debug_wamp" => e(
            "Crossbar.io's per-transport debug logging.",
            LOGGING,
        ),
        "cookie" => e(
            "cookie authentication and the cookie store (browsers tracked across connections by an HTTP cookie) are not built.",
            "Leave it out; browsers authenticate with the transport's other methods (ticket, wampcra, cryptosign).",
        ),
        "maxsize" | "buffer-flush" => e(
            "a database store's setting (Crossbar.io's cfxdb/LMDB store); shardwamp keeps event history in memory.",
            "Leave it out.",
        ),
        "call-queue" => e(
            "Crossbar.io's queued calls for busy callees are not built; a call with no free callee fails at once.",
            "Leave it out; add callees, or raise the callee's concurrency.",
        ),
        "require_websocket_subprotocol" | "show_server_version" | "external_port"
        | "enable_hybi10" | "enable_rfc6455" | "mask_server_frames"
        | "require_masked_client_frames" | "apply_mask" | "utf8validate_incoming"
        | "trust_x_forwarded_for" | "tcp_keepalive" | "flash_policy" => e(
            "an autobahn WebSocket option shardwamp does not have: it always requires a WAMP subprotocol, masks as RFC 6455 says, and shows no server version.",
            "Leave it out.",
        ),
        _ => return None,
    })
}

/// Why a transport type is not served, for the types Crossbar.io has.
pub fn explain_transport(kind: &str) -> Option<Explanation> {
    Some(match kind {
        "mqtt" => e(
            "shardwamp has no MQTT bridge.",
            "Leave it out; MQTT clients need a broker of their own.",
        ),
        "flashpolicy" => e("Flash is gone from browsers.", "Leave it out."),
        "websocket.testee" | "stream.testee" => e(
            "Crossbar.io's protocol test transports.",
            "Leave them out; shardwamp's WebSocket conformance is tested with the Autobahn test suite.",
        ),
        _ => return None,
    })
}

/// Why a serializer is not offered.
pub fn explain_serializer(name: &str) -> Option<Explanation> {
    Some(match name {
        "ubjson" => e(
            "shardwamp does not speak UBJSON (few clients do; autobahn clients that offer it also offer json, msgpack and cbor, which are negotiated instead).",
            "Remove \"ubjson\" from `serializers`.",
        ),
        "flatbuffers" => e(
            "shardwamp does not speak FlatBuffers (an experimental autobahn serializer).",
            "Remove \"flatbuffers\" from `serializers`.",
        ),
        n if n.ends_with(".batched") => e(
            "batched serializers are not offered (WAMP over WebSocket sends one message per frame).",
            "List the plain serializer instead (\"json\", \"msgpack\" or \"cbor\").",
        ),
        _ => return None,
    })
}

/// Why an authentication method is not offered.
pub fn explain_authmethod(method: &str) -> Option<Explanation> {
    Some(match method {
        "cookie" => explain("cookie")?,
        "scram" => e(
            "WAMP-SCRAM is not built (Crossbar.io marks it experimental).",
            "Use wampcra (salted) or cryptosign instead.",
        ),
        "anonymous-proxy" | "cryptosign-proxy" => e(
            "these are Crossbar.io's methods between its proxy workers and router workers; shardwamp has no proxy workers.",
            "Leave them out; clients connect to shardwamp directly.",
        ),
        _ => return None,
    })
}

/// Why a web service (a web transport's path) is not served.
pub fn explain_web_service(kind: &str) -> Option<Explanation> {
    Some(match kind {
        "static" | "wsgi" | "resource" | "redirect" | "reverseproxy" | "json" | "cgi"
        | "upload" | "fileupload" | "archive" | "path" | "nodeinfo" | "schemadoc" => e(
            "shardwamp's web transport serves WebSocket paths and the HTTP bridge (publisher, caller, webhook) only: files, Python (WSGI), CGI, proxies and the other HTTP services are a web server's job, which shardwamp is not.",
            "Serve them with a web server (nginx, caddy) in front, which passes the WebSocket and bridge paths on to shardwamp (docs/web.md).",
        ),
        "longpoll" => e(
            "WAMP long-poll is not served (every current browser speaks WebSocket).",
            "Leave it out.",
        ),
        _ => return None,
    })
}

/// Why a worker type is not converted.
pub fn explain_worker(kind: &str) -> Explanation {
    match kind {
        "container" => e(
            "a container worker runs Python components; shardwamp runs no Python.",
            "Run those components as ordinary WAMP clients (autobahn's ApplicationRunner) connecting to the router, under a service manager.",
        ),
        "guest" => e(
            "a guest worker is a program Crossbar.io starts and watches.",
            "Start it with a service manager (systemd, supervisord) beside shardwamp.",
        ),
        "proxy" => e(
            "proxy workers spread WebSocket termination over processes; shardwamp does that with shards (one per core).",
            "Leave it out; set `[router] shards`.",
        ),
        "untyped" => e(
            "a worker without `type`, which Crossbar.io refuses too.",
            "Give it a `type`.",
        ),
        "malformed" => e(
            "not a worker (an object with `type`), which Crossbar.io refuses too.",
            "Remove it.",
        ),
        _ => e(
            "shardwamp converts router workers only.",
            "Run what this worker ran beside shardwamp.",
        ),
    }
}

/// A loader's message about a key or value Crossbar.io has, rewritten to
/// say why shardwamp does not take it and what to do; `None` for anything
/// else (a typo stays a typo).
pub fn explain_message(message: &str) -> Option<String> {
    let quoted = |prefix: &str, open: char, close: char| -> Option<String> {
        let rest = message.strip_prefix(prefix)?;
        let rest = rest.strip_prefix(open)?;
        let end = rest.find(close)?;
        Some(rest[..end].to_owned())
    };
    if let Some(key) = quoted("unknown field ", '`', '`') {
        let x = explain(&key).or_else(|| explain_authmethod(&key))?;
        return Some(format!(
            "`{key}` is a Crossbar.io key shardwamp does not take: {} {}",
            x.why, x.todo
        ));
    }
    if let Some(kind) = quoted("unknown variant ", '`', '`') {
        if let Some(x) = explain_transport(&kind) {
            return Some(format!("transport type {kind:?}: {} {}", x.why, x.todo));
        }
        if let Some(x) = explain_web_service(&kind) {
            return Some(format!("web service type {kind:?}: {} {}", x.why, x.todo));
        }
        let x = explain_authmethod(&kind)?;
        return Some(format!("{kind:?}: {} {}", x.why, x.todo));
    }
    if let Some(kind) = quoted("unknown web service type ", '"', '"') {
        let x = explain_web_service(&kind)?;
        return Some(format!("web service type {kind:?}: {} {}", x.why, x.todo));
    }
    if let Some(kind) = quoted("unknown transport type ", '"', '"') {
        let x = explain_transport(&kind)?;
        return Some(format!("transport type {kind:?}: {} {}", x.why, x.todo));
    }
    if let Some(name) = quoted("unknown serializer ", '"', '"') {
        let x = explain_serializer(&name)?;
        return Some(format!("serializer {name:?}: {} {}", x.why, x.todo));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_explanation_says_why_and_what_to_do() {
        for key in ["pythonpath", "env", "cookie", "debug", "reactor"] {
            let x = explain(key).expect(key);
            assert!(!x.why.is_empty() && !x.todo.is_empty(), "{key}");
        }
        assert!(explain_serializer("ubjson").is_some());
        assert!(explain_transport("mqtt").is_some());
        assert!(explain_transport("web").is_none(), "web is served");
        assert!(explain_authmethod("scram").is_some());
        assert!(explain_web_service("static").is_some());
        assert!(explain("no_such_thing").is_none());
    }

    #[test]
    fn loader_messages_are_explained_and_typos_are_not() {
        let m = explain_message("unknown field `pythonpath`, expected one of `shards`").unwrap();
        assert!(m.starts_with("`pythonpath` is a Crossbar.io key"), "{m}");
        let m = explain_message(r#"unknown transport type "mqtt", expected "websocket""#).unwrap();
        assert!(m.contains("MQTT"), "{m}");
        let m =
            explain_message(r#"unknown web service type "static", expected "websocket""#).unwrap();
        assert!(m.contains("nginx"), "{m}");
        let m = explain_message(r#"unknown serializer "ubjson", expected one of json"#).unwrap();
        assert!(m.contains("Remove"), "{m}");
        assert_eq!(
            explain_message("unknown field `shardz`, expected `shards`"),
            None
        );
    }
}
