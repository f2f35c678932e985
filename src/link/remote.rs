//! Dialing the other router: a link's remote leg. This module owns the
//! connecting side of a link — the TCP or Unix connection, TLS over it
//! when `transport.endpoint.tls` is set (through
//! [`crate::transport::dial::TlsDialer`]: `wss://` and RawSocket over TLS),
//! and the leg's authentication (anonymous, ticket, WAMP-CRA, or cryptosign
//! with the link's key, optionally bound to the TLS channel with
//! `tls-exporter` and asking the other router to prove its key).
//!
//! A key file is read at each try, so a replaced key is used from the next
//! connect on. Errors name files and causes, never a key, ticket, secret
//! or channel binding value.

use crate::client::auth::{Anonymous, ClientAuthenticator, Cryptosign, Ticket, WampCra};
use crate::config::rlink::{ConnectEndpoint, RLinkConfig, RLinkTls, RLinkTransportKind};
use crate::transport::dial::{self, DialOptions, Session, TlsDialer};
use crate::transport::TlsClientOptions;
use crate::wamp::cryptosign::{self as cs, BINDING_TLS_EXPORTER};
use crate::wamp::serializer::Serializer;

/// The client TLS options a link's `tls` table describes.
pub fn tls_options(tls: &RLinkTls) -> TlsClientOptions {
    TlsClientOptions {
        hostname: tls.hostname.clone(),
        ca_certificates: tls.ca_certificates.clone(),
        certificate: tls.certificate.clone(),
        key: tls.key.clone(),
    }
}

/// The remote leg's authentication. `exporter` is the TLS connection's
/// `tls-exporter` value when the link dialed TLS.
pub fn authenticator(
    c: &RLinkConfig,
    exporter: Option<&[u8; 32]>,
) -> Result<Box<dyn ClientAuthenticator>, String> {
    let a = &c.authentication;
    if let Some(path) = &a.key {
        let (key, _warning) =
            crate::config::keyfile::read_key_file(path).map_err(|e| e.to_string())?;
        let mut signer = Cryptosign::new(key, c.authid.clone());
        if let Some(binding) = &a.channel_binding {
            if binding != BINDING_TLS_EXPORTER {
                return Err(format!("unsupported channel binding {binding:?}"));
            }
            let id = cs::channel_id(BINDING_TLS_EXPORTER, exporter, None).ok_or_else(|| {
                "channel binding tls-exporter asked for, but the connection has no TLS exporter value (is transport.endpoint.tls set?)".to_owned()
            })?;
            signer = signer.channel_binding(BINDING_TLS_EXPORTER, id);
        }
        if let Some(router) = &a.router_key {
            let key = cs::parse_public_key(router)
                .map_err(|e| format!("authentication.router_key: {e}"))?;
            signer = signer.authenticate_router(key);
        }
        return Ok(Box::new(signer));
    }
    Ok(match (&a.ticket, &a.secret, &c.authid) {
        (Some(t), _, Some(authid)) => Box::new(Ticket {
            authid: authid.clone(),
            ticket: t.expose().to_owned(),
        }),
        (None, Some(s), Some(authid)) => Box::new(WampCra {
            authid: authid.clone(),
            secret: s.expose().to_owned(),
        }),
        _ => Box::new(Anonymous {
            authid: c.authid.clone(),
        }),
    })
}

/// The WebSocket URL to request: the configured one, else
/// `ws://host:port/` (`wss://` over TLS).
fn websocket_url(c: &RLinkConfig) -> String {
    let t = &c.transport;
    if let Some(url) = &t.url {
        return url.clone();
    }
    match &t.endpoint {
        ConnectEndpoint::Tcp {
            host, port, tls, ..
        } => {
            let scheme = if tls.is_some() { "wss" } else { "ws" };
            format!("{scheme}://{host}:{port}/")
        }
        ConnectEndpoint::Unix { .. } => "ws://localhost/".to_owned(),
    }
}

/// The serializer the link asks the other router for: the first of its
/// transport's `serializers` (JSON when none is named).
pub fn serializer(c: &RLinkConfig) -> Serializer {
    c.transport
        .serializer_names()
        .ok()
        .and_then(|names| names.first().and_then(|n| Serializer::from_name(n)))
        .unwrap_or(Serializer::Json)
}

/// Dials the other router and joins its realm.
pub async fn dial(c: &RLinkConfig) -> Result<Session, String> {
    let t = &c.transport;
    t.serializer_names()?;
    let serializer = serializer(c);
    let transport = match t.kind {
        RLinkTransportKind::Websocket => dial::Transport::WebSocket {
            url: websocket_url(c),
        },
        RLinkTransportKind::Rawsocket => dial::Transport::RawSocket,
    };
    let options = DialOptions::new(transport, serializer);
    let e = |e: dial::DialError| e.to_string();
    match &t.endpoint {
        ConnectEndpoint::Tcp {
            host, port, tls, ..
        } => {
            // The TLS config is built before dialing: a bad CA file fails
            // the try without a connection.
            let tls = match tls {
                Some(tls) => Some(TlsDialer::new(&tls_options(tls), host).map_err(e)?),
                None => None,
            };
            let addr = resolve(host, *port)?;
            let stream = dial::connect_tcp(addr, None).await.map_err(e)?;
            match tls {
                Some(dialer) => {
                    let stream = dialer.connect(stream).await.map_err(e)?;
                    let exporter = dial::tls_info(&stream).tls_exporter;
                    let auth = authenticator(c, exporter.as_ref())?;
                    Session::join(stream, &options, &c.realm, auth)
                        .await
                        .map_err(e)
                }
                None => {
                    let auth = authenticator(c, None)?;
                    Session::join(stream, &options, &c.realm, auth)
                        .await
                        .map_err(e)
                }
            }
        }
        ConnectEndpoint::Unix { path } => {
            let auth = authenticator(c, None)?;
            let stream = dial::connect_unix(path).await.map_err(e)?;
            Session::join(stream, &options, &c.realm, auth)
                .await
                .map_err(e)
        }
    }
}

/// The address of `host:port`: an IP address as is, a name through the
/// system's resolver (which blocks the shard for the lookup: link hosts
/// are best written as addresses).
fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, port));
    }
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(text: &str) -> RLinkConfig {
        toml::from_str(text).expect("link")
    }

    #[test]
    fn the_default_url_says_wss_over_tls() {
        let plain = link(
            r#"realm = "r"
               transport = { type = "websocket", endpoint = { type = "tcp", host = "10.0.0.2", port = 8080 } }"#,
        );
        assert_eq!(websocket_url(&plain), "ws://10.0.0.2:8080/");
        let tls = link(
            r#"realm = "r"
               transport = { type = "websocket", endpoint = { type = "tcp", host = "node2", port = 8443, tls = { hostname = "node2" } } }"#,
        );
        assert_eq!(websocket_url(&tls), "wss://node2:8443/");
    }

    #[test]
    fn a_binding_without_tls_is_refused_without_naming_the_key() {
        let dir =
            std::env::temp_dir().join(format!("shardwamp-link-remote-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("key.priv");
        std::fs::write(&path, format!("{}\n", "11".repeat(32))).expect("key");
        let l = link(&format!(
            r#"realm = "r"
               authentication = {{ key = "{}", channel_binding = "tls-exporter" }}
               transport = {{ type = "rawsocket", endpoint = {{ type = "tcp", host = "h", port = 1 }} }}"#,
            path.display()
        ));
        let e = authenticator(&l, None).err().expect("refused");
        assert!(e.contains("tls-exporter"), "{e}");
        assert!(!e.contains(&"11".repeat(32)), "{e}");
        let auth = authenticator(&l, Some(&[7; 32])).expect("bound");
        let extra = auth.authextra();
        assert_eq!(
            extra.get("channel_binding").and_then(|v| v.as_str()),
            Some("tls-exporter")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
