//! Accept loops: a listener on this shard accepts connections, admits each
//! under the transport's caps ([`super::admission`]) and hands the connected
//! stream to the serving code ([`super::serve`]). TCP and Unix sockets share
//! one loop; each kind only says how it accepts and names the peer. This is
//! where a TLS acceptor will wrap the stream.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite};

use super::admission::{Admission, Gate};
use super::host::Host;
use super::options::{EndpointSpec, ListenError, ListenerKind, ListenerSpec};
use super::socket::listen_tcp;

/// A listening socket of some kind: how it accepts a connection.
trait Acceptor: 'static {
    /// The connected stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;

    /// The next connection and how its peer is named in logs and session details.
    async fn accept(&self) -> std::io::Result<(Self::Stream, String)>;
}

/// A TCP listener and the TCP_NODELAY its connections get.
struct Tcp {
    listener: glommio::net::TcpListener,
    nodelay: bool,
}

impl Acceptor for Tcp {
    type Stream = glommio::net::TcpStream;

    async fn accept(&self) -> std::io::Result<(Self::Stream, String)> {
        let stream = self.listener.accept().await?;
        let _ = stream.set_nodelay(self.nodelay);
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        Ok((stream, peer))
    }
}

/// A Unix-socket listener.
struct Unix(glommio::net::UnixListener);

impl Acceptor for Unix {
    type Stream = glommio::net::UnixStream;

    async fn accept(&self) -> std::io::Result<(Self::Stream, String)> {
        Ok((self.0.accept().await?, "unix".into()))
    }
}

/// A listener accepting on this shard: dropping it stops accepting and, for
/// a Unix socket, removes the socket file it bound (when its transport is
/// stopped and when the router shuts down).
pub struct Listening {
    _task: glommio::Task<()>,
    unix_path: Option<PathBuf>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(path) = &self.unix_path {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    log::warn!("removing the socket file {}: {e}", path.display());
                }
            }
        }
    }
}

/// Starts accepting on a listener on the host's shard (`None` when the
/// listener is not for this shard: pinned elsewhere, or a Unix socket on a
/// shard other than 0).
pub fn spawn_listener<H: Host>(
    host: &Rc<H>,
    l: &ListenerSpec,
) -> Result<Option<Listening>, ListenError> {
    let id = usize::from(host.shard());
    if let Some(only) = &l.shards {
        if !only.contains(&id) {
            return Ok(None);
        }
    }
    let bind_error = |e: &dyn std::fmt::Display| ListenError::Bind {
        name: l.name.clone(),
        endpoint: l.endpoint.display(),
        error: e.to_string(),
    };
    match &l.endpoint {
        EndpointSpec::Tcp(addr) => {
            let listener = listen_tcp(*addr, l.backlog).map_err(|e| bind_error(&e))?;
            let nodelay = match &l.kind {
                ListenerKind::WebSocket(o) => o.tcp_nodelay,
                ListenerKind::RawSocket(_) => true,
                ListenerKind::Web(w) => w.http.tcp_nodelay,
                ListenerKind::Universal(u) => u.web.http.tcp_nodelay,
            };
            Ok(Some(Listening {
                _task: accept_loop(host, l, Tcp { listener, nodelay }),
                unix_path: None,
            }))
        }
        EndpointSpec::Unix(path) => {
            if id != 0 {
                return Ok(None);
            }
            let _ = std::fs::remove_file(path);
            let listener = glommio::net::UnixListener::bind(path).map_err(|e| bind_error(&e))?;
            if !super::socket::set_unix_backlog(path, l.backlog) {
                log::warn!(
                    "'{}': could not set the listen backlog of {} to {}; it is 128",
                    l.name,
                    path.display(),
                    l.backlog
                );
            }
            Ok(Some(Listening {
                _task: accept_loop(host, l, Unix(listener)),
                unix_path: Some(path.clone()),
            }))
        }
    }
}

/// Accepts connections until the task is dropped; each admitted one is served.
fn accept_loop<H: Host, A: Acceptor>(
    host: &Rc<H>,
    l: &ListenerSpec,
    acceptor: A,
) -> glommio::Task<()> {
    let host = host.clone();
    let l = Rc::new(l.clone());
    let gate = Gate::new(l.limits, l.gauge.clone());
    glommio::spawn_local(async move {
        loop {
            match acceptor.accept().await {
                Ok((stream, peer)) => {
                    if let Some(admission) = admit(&*host, &l, &gate) {
                        super::serve::serve(host.clone(), l.clone(), stream, peer, admission);
                    }
                }
                Err(e) => {
                    log::warn!("shard {}: accept on '{}': {e}", host.shard(), l.name);
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// Admits an accepted connection under the transport's caps, or counts and
/// logs (at most every few seconds per listener) that it was refused.
fn admit<H: Host>(host: &H, l: &ListenerSpec, gate: &Gate) -> Option<Admission> {
    match gate.admit() {
        Ok(a) => Some(a),
        Err(refused) => {
            host.note_connection_refused();
            if let Some(suppressed) = gate.may_log(Instant::now()) {
                log::warn!(
                    "shard {}: transport '{}': connection refused: {refused}{}",
                    host.shard(),
                    l.name,
                    if suppressed > 0 {
                        format!(" ({suppressed} more refused since the last report)")
                    } else {
                        String::new()
                    }
                );
            }
            None
        }
    }
}
