//! The admin HTTP listener (off by default): `/metrics` in Prometheus text
//! format, `/health` and `/ready`. It runs on shard 0 (the listener and the
//! HTTP exchange are `transport::admin`'s) and reads the shards' counters
//! through the controller.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use super::Controller;
use crate::config::Endpoint;
use crate::router::stats::ShardStats;
use crate::shard::ControlMsg;
use crate::transport::{AdminAnswer, AdminSite};
use crate::wamp::message::MessageType;

/// One per-shard metric: name, help, type, and how to read it.
type ShardMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardStats) -> u64,
);

/// Renders per-shard counters in Prometheus text format.
pub fn render(
    stats: &[ShardStats],
    realms: &[(String, crate::router::stats::RealmStats)],
) -> String {
    let mut out = String::new();
    let metric = |out: &mut String, name: &str, help: &str, kind: &str| {
        let _ = writeln!(
            out,
            "# HELP shardwamp_{name} {help}\n# TYPE shardwamp_{name} {kind}"
        );
    };
    let per_shard: [ShardMetric; 24] = [
        ("sessions", "Sessions joined now.", "gauge", |s| s.sessions),
        (
            "connections_opened_total",
            "Connections opened.",
            "counter",
            |s| s.connections_opened,
        ),
        (
            "bytes_sent_total",
            "Bytes of frames sent.",
            "counter",
            |s| s.bytes_sent,
        ),
        (
            "bytes_received_total",
            "Bytes of frames received.",
            "counter",
            |s| s.bytes_received,
        ),
        (
            "events_dropped_total",
            "Events dropped for slow consumers.",
            "counter",
            |s| s.events_dropped,
        ),
        (
            "transport_protocol_errors_total",
            "Connections failed for breaking the WebSocket or RawSocket protocol.",
            "counter",
            |s| s.transport_protocol_errors,
        ),
        (
            "tls_handshake_failures_total",
            "Connections closed for a failed or timed-out TLS handshake.",
            "counter",
            |s| s.tls_handshake_failures,
        ),
        (
            "oversize_messages_total",
            "Connections failed for a message over the transport's size limit.",
            "counter",
            |s| s.oversize_messages,
        ),
        (
            "protocol_violations_total",
            "Sessions aborted for protocol violations.",
            "counter",
            |s| s.protocol_violations,
        ),
        (
            "transcode_failures_total",
            "Messages not sent because their payload could not be transcoded for the receiver.",
            "counter",
            |s| s.transcode_failures,
        ),
        (
            "auth_failures_total",
            "Failed session openings.",
            "counter",
            |s| s.auth_failures,
        ),
        (
            "hello_timeouts_total",
            "Connections closed for not sending HELLO within hello_timeout.",
            "counter",
            |s| s.hello_timeouts,
        ),
        (
            "auth_timeouts_total",
            "Connections closed for not answering a CHALLENGE within auth_timeout.",
            "counter",
            |s| s.auth_timeouts,
        ),
        (
            "auth_lockouts_total",
            "HELLOs refused because their address failed to authenticate too often.",
            "counter",
            |s| s.auth_lockouts,
        ),
        (
            "authenticator_calls_total",
            "Calls made to dynamic authenticators.",
            "counter",
            |s| s.authenticator_calls,
        ),
        (
            "authorizer_calls_total",
            "Calls made to dynamic authorizers.",
            "counter",
            |s| s.authorizer_calls,
        ),
        (
            "authorizer_cache_hits_total",
            "Actions decided by a cached dynamic authorizer answer.",
            "counter",
            |s| s.authorizer_cache_hits,
        ),
        (
            "authorizer_failures_total",
            "Actions refused because the dynamic authorizer failed or was absent.",
            "counter",
            |s| s.authorizer_failures,
        ),
        (
            "connections_refused_total",
            "Connections closed at accept because a transport's connection or handshake cap was reached.",
            "counter",
            |s| s.connections_refused,
        ),
        (
            "peer_messages_sent_total",
            "Messages sent to peer shards.",
            "counter",
            |s| s.peer_sent,
        ),
        (
            "queued_frames",
            "Frames waiting in outgoing queues.",
            "gauge",
            |s| s.queued_frames,
        ),
        (
            "loop_stalls_total",
            "Event loop turns late by more than 50 ms.",
            "counter",
            |s| s.loop_stalls,
        ),
        (
            "events_per_second",
            "EVENTs sent per second over the last second.",
            "gauge",
            |s| s.events_per_sec,
        ),
        (
            "calls_per_second",
            "CALLs received per second over the last second.",
            "gauge",
            |s| s.calls_per_sec,
        ),
    ];
    for (name, help, kind, get) in per_shard {
        metric(&mut out, name, help, kind);
        for (i, s) in stats.iter().enumerate() {
            let _ = writeln!(out, "shardwamp_{name}{{shard=\"{i}\"}} {}", get(s));
        }
    }
    for (dir, name) in [
        ("sent", "messages_sent_total"),
        ("received", "messages_received_total"),
    ] {
        metric(
            &mut out,
            name,
            &format!("WAMP messages {dir}, by type."),
            "counter",
        );
        for (i, s) in stats.iter().enumerate() {
            let counts = if dir == "sent" { &s.sent } else { &s.received };
            for t in MessageType::ALL {
                let n = counts[t.index()];
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "shardwamp_{name}{{shard=\"{i}\",type=\"{}\"}} {n}",
                        t.name()
                    );
                }
            }
        }
    }
    metric(
        &mut out,
        "realm_sessions",
        "Sessions joined to a realm now.",
        "gauge",
    );
    for (realm, r) in realms {
        let _ = writeln!(
            out,
            "shardwamp_realm_sessions{{realm=\"{}\"}} {}",
            realm.replace('"', "\\\""),
            r.sessions
        );
    }
    out
}

/// Renders the router links' figures in Prometheus text format: one
/// series per link (`realm`, `link` labels), the same figures as
/// `get_router_realm_link`.
pub fn render_links(links: &[(String, String, Arc<crate::link::LinkStats>)]) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    if links.is_empty() {
        return out;
    }
    let label = |realm: &str, link: &str| {
        format!(
            "realm=\"{}\",link=\"{}\"",
            realm.replace('"', "\\\""),
            link.replace('"', "\\\"")
        )
    };
    type Figure = (
        &'static str,
        &'static str,
        &'static str,
        fn(&crate::link::LinkStats) -> u64,
    );
    let figures: [Figure; 11] = [
        (
            "link_connected",
            "Whether a router link is connected (1) or not (0).",
            "gauge",
            |s| u64::from(s.state() == crate::link::LinkState::Connected),
        ),
        (
            "link_reconnects_total",
            "Times a router link connected again.",
            "counter",
            |s| s.reconnects.load(Relaxed),
        ),
        (
            "link_connect_failures_total",
            "Failed tries to connect a router link.",
            "counter",
            |s| s.connect_failures.load(Relaxed),
        ),
        (
            "link_loops_dropped_total",
            "Events and calls a router link did not relay as they had crossed it before.",
            "counter",
            |s| s.loops_dropped.load(Relaxed),
        ),
        (
            "link_subscriptions_mirrored",
            "Subscriptions a router link mirrors now.",
            "gauge",
            |s| s.subscriptions_mirrored.load(Relaxed),
        ),
        (
            "link_registrations_mirrored",
            "Registrations a router link mirrors now.",
            "gauge",
            |s| s.registrations_mirrored.load(Relaxed),
        ),
        (
            "link_events_dropped_total",
            "Events a router link dropped as the other router was too far behind.",
            "counter",
            |s| s.events_dropped.load(Relaxed),
        ),
        (
            "link_calls_dropped_total",
            "Calls a router link refused (wamp.error.unavailable) as the other router was too far behind.",
            "counter",
            |s| s.calls_dropped.load(Relaxed),
        ),
        (
            "link_queue_overflows_total",
            "Times a router link reconnected as the other router stopped reading.",
            "counter",
            |s| s.queue_overflows.load(Relaxed),
        ),
        (
            "link_queued_bytes",
            "Bytes a router link's remote leg has queued and not written.",
            "gauge",
            |s| s.queued_bytes.load(Relaxed),
        ),
        (
            "link_mirror_failures_total",
            "Mirrors the other router refused.",
            "counter",
            |s| s.mirror_failures.load(Relaxed),
        ),
    ];
    for (name, help, kind, get) in figures {
        let _ = writeln!(
            out,
            "# HELP shardwamp_{name} {help}\n# TYPE shardwamp_{name} {kind}"
        );
        for (realm, link, s) in links {
            let _ = writeln!(out, "shardwamp_{name}{{{}}} {}", label(realm, link), get(s));
        }
    }
    type Flow = (
        &'static str,
        &'static str,
        fn(&crate::link::LinkStats) -> [u64; 2],
    );
    let flows: [Flow; 2] = [
        (
            "link_events_forwarded_total",
            "Events a router link relayed, by direction.",
            |s| {
                [
                    s.events_local_to_remote.load(Relaxed),
                    s.events_remote_to_local.load(Relaxed),
                ]
            },
        ),
        (
            "link_calls_forwarded_total",
            "Calls a router link relayed, by direction.",
            |s| {
                [
                    s.calls_local_to_remote.load(Relaxed),
                    s.calls_remote_to_local.load(Relaxed),
                ]
            },
        ),
    ];
    for (name, help, get) in flows {
        let _ = writeln!(
            out,
            "# HELP shardwamp_{name} {help}\n# TYPE shardwamp_{name} counter"
        );
        for (realm, link, s) in links {
            let [out_n, in_n] = get(s);
            for (dir, n) in [("local_to_remote", out_n), ("remote_to_local", in_n)] {
                let _ = writeln!(
                    out,
                    "shardwamp_{name}{{{},direction=\"{dir}\"}} {n}",
                    label(realm, link)
                );
            }
        }
    }
    out
}

/// Renders the bridge services' figures in Prometheus text format: one
/// series per path (`transport`, `path`, `type` labels; refusals also by
/// `reason`), the same figures as `get_web_transport_service`.
pub fn render_bridges(
    bridges: &[(String, String, &'static str, crate::bridge::BridgeFigures)],
) -> String {
    let mut out = String::new();
    if bridges.is_empty() {
        return out;
    }
    let label = |transport: &str, path: &str, kind: &str| {
        format!(
            "transport=\"{}\",path=\"{}\",type=\"{kind}\"",
            transport.replace('"', "\\\""),
            path.replace('"', "\\\"")
        )
    };
    type Figure = (
        &'static str,
        &'static str,
        fn(&crate::bridge::BridgeFigures) -> u64,
    );
    let figures: [Figure; 2] = [
        (
            "bridge_requests_served_total",
            "HTTP bridge requests answered with the service's result.",
            |f| f.served,
        ),
        (
            "bridge_wamp_errors_total",
            "HTTP bridge requests answered with a WAMP error (not_authorized aside: a refusal).",
            |f| f.wamp_errors,
        ),
    ];
    for (name, help, get) in figures {
        let _ = writeln!(
            out,
            "# HELP shardwamp_{name} {help}\n# TYPE shardwamp_{name} counter"
        );
        for (t, p, k, f) in bridges {
            let _ = writeln!(out, "shardwamp_{name}{{{}}} {}", label(t, p, k), get(f));
        }
    }
    let _ = writeln!(
        out,
        "# HELP shardwamp_bridge_requests_refused_total HTTP bridge requests refused, by reason.\n\
         # TYPE shardwamp_bridge_requests_refused_total counter"
    );
    for (t, p, k, f) in bridges {
        for (reason, n) in &f.refused {
            let _ = writeln!(
                out,
                "shardwamp_bridge_requests_refused_total{{{},reason=\"{}\"}} {n}",
                label(t, p, k),
                reason.as_str()
            );
        }
    }
    out
}

/// Starts the admin listener on shard 0.
pub fn start(controller: &Arc<Controller>) -> Result<(), String> {
    let addr: SocketAddr = match &controller.base.admin.endpoint {
        Endpoint::Tcp(t) => t.socket_addr(),
        Endpoint::Unix(_) => return Err("the admin listener needs a TCP endpoint".into()),
    };
    let site = Arc::new(Site(Arc::downgrade(controller)));
    let answer = controller.handle.ask_blocking(
        0,
        |reply| ControlMsg::StartAdmin { addr, site, reply },
        std::time::Duration::from_secs(10),
    );
    match answer {
        Some(Ok(bound)) => {
            *controller.admin_addr.lock().map_err(|e| e.to_string())? = Some(bound);
            Ok(())
        }
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the admin listener did not start".into()),
    }
}

/// The admin pages, read from the controller while it runs.
struct Site(Weak<Controller>);

impl AdminSite for Site {
    fn answer(&self, method: &str, path: &str) -> Pin<Box<dyn Future<Output = AdminAnswer>>> {
        let controller = self.0.clone();
        let page = match (method, path) {
            ("GET", "/health") => Page::Health,
            ("GET", "/ready") => Page::Ready,
            ("GET", "/metrics") => Page::Metrics,
            _ => Page::NotFound,
        };
        Box::pin(async move {
            match page {
                Page::Health => ("200 OK", "ok\n".to_owned()),
                Page::Ready => match controller.upgrade() {
                    Some(_) => ("200 OK", "ready\n".to_owned()),
                    None => ("503 Service Unavailable", "stopping\n".to_owned()),
                },
                Page::Metrics => match controller.upgrade() {
                    Some(c) => {
                        let stats = c.shard_stats().await;
                        let realms = c.realm_stats_by_name().await;
                        let mut body = render(&stats, &realms);
                        body.push_str(&render_links(&c.link_stats()));
                        body.push_str(&render_bridges(&c.bridge_figures().await));
                        ("200 OK", body)
                    }
                    None => ("503 Service Unavailable", String::new()),
                },
                Page::NotFound => ("404 Not Found", "not found\n".to_owned()),
            }
        })
    }
}

/// The pages the admin listener serves.
enum Page {
    Health,
    Ready,
    Metrics,
    NotFound,
}
