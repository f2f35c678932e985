//! Listening sockets: how every shard binds the same TCP address
//! (SO_REUSEPORT, SO_REUSEADDR, the configured backlog), the admin listener
//! that one shard serves alone, the check that an endpoint is free before
//! any shard binds it, and the port reservation behind port-0 endpoints.

use std::net::SocketAddr;

use super::options::EndpointSpec;

/// A bound, listening TCP socket as each shard makes one: SO_REUSEPORT
/// (every shard binds the same address), SO_REUSEADDR (a restarted router
/// binds its port at once, though the connections it closed wait in
/// TIME_WAIT for a minute; a port another socket *listens* on is still
/// refused, and `shard::start` refuses a port in use before any shard binds it)
/// and the configured backlog (the kernel caps it at `net.core.somaxconn`);
/// glommio's own `bind` always listens with 1024.
pub fn listen_socket(addr: SocketAddr, backlog: u32) -> std::io::Result<socket2::Socket> {
    socket(addr, backlog, true)
}

fn socket(addr: SocketAddr, backlog: u32, reuse_port: bool) -> std::io::Result<socket2::Socket> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_port(reuse_port)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(s)
}

/// [`listen_socket`], handed to this shard's glommio reactor.
pub(crate) fn listen_tcp(
    addr: SocketAddr,
    backlog: u32,
) -> std::io::Result<glommio::net::TcpListener> {
    into_glommio(listen_socket(addr, backlog)?)
}

/// A listener that one shard alone serves (the admin HTTP endpoint): like
/// [`listen_socket`] but without SO_REUSEPORT, so a second router cannot
/// share its port; SO_REUSEADDR lets a restart bind it at once.
pub(crate) fn listen_tcp_alone(
    addr: SocketAddr,
    backlog: u32,
) -> std::io::Result<glommio::net::TcpListener> {
    into_glommio(socket(addr, backlog, false)?)
}

fn into_glommio(s: socket2::Socket) -> std::io::Result<glommio::net::TcpListener> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the descriptor is a bound, listening TCP socket whose ownership
    // moves into the glommio listener.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(s.into_raw_fd()) })
}

/// Fails when something already listens on `endpoint`: a fixed TCP port
/// bound by another socket (the shards bind with SO_REUSEPORT, which would
/// otherwise let a second listener silently share the port and split its
/// connections), or a Unix socket path that accepts connections (the shards
/// replace a stale socket file, never a live one). Port 0 is always free.
pub fn check_free(endpoint: &EndpointSpec) -> std::io::Result<()> {
    match endpoint {
        EndpointSpec::Tcp(addr) if addr.port() != 0 => std::net::TcpListener::bind(addr).map(drop),
        EndpointSpec::Tcp(_) => Ok(()),
        EndpointSpec::Unix(path) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "a socket is listening at this path",
            )),
            Err(_) => Ok(()),
        },
    }
}

/// Reserves a port for a port-0 TCP endpoint: a bound, non-listening
/// SO_REUSEPORT socket, held until every shard has bound the same port.
pub fn reserve(addr: SocketAddr) -> std::io::Result<(SocketAddr, socket2::Socket)> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    let local = s
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("not an inet address"))?;
    Ok((local, s))
}

/// Sets the listen backlog of the listening Unix socket bound at `path`.
///
/// glommio binds Unix listeners with a fixed backlog of 128 and gives no
/// access to the descriptor; the socket is found among the process's
/// descriptors by its address (a listening `AF_UNIX` socket bound at
/// `path`), and `listen(2)` called again on it, which Linux allows to change
/// the backlog. Returns whether it was found.
pub(crate) fn set_unix_backlog(path: &std::path::Path, backlog: u32) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let want = path.as_os_str().as_bytes();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::c_int>().ok())
        else {
            continue;
        };
        // SAFETY: getsockname and getsockopt only write into the buffers
        // passed, whose sizes are given; a descriptor that is not a socket
        // (or closed meanwhile) makes them fail, which is checked.
        unsafe {
            let mut addr: libc::sockaddr_un = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_un).cast(), &mut len) != 0
                || addr.sun_family != libc::AF_UNIX as libc::sa_family_t
            {
                continue;
            }
            let bytes: Vec<u8> = addr
                .sun_path
                .iter()
                .take_while(|c| **c != 0)
                .map(|c| *c as u8)
                .collect();
            if bytes != want {
                continue;
            }
            let mut listening: libc::c_int = 0;
            let mut olen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                (&mut listening as *mut libc::c_int).cast(),
                &mut olen,
            ) != 0
                || listening == 0
            {
                continue;
            }
            let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
            return libc::listen(fd, backlog) == 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_of_a_listening_unix_socket_is_set_by_its_path() {
        let dir = std::env::temp_dir().join(format!("shardwamp-backlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.sock");
        let _ = std::fs::remove_file(&path);
        assert!(!set_unix_backlog(&path, 7), "nothing listens there yet");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(set_unix_backlog(&path, 7));
        assert!(!set_unix_backlog(&dir.join("other.sock"), 7));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
