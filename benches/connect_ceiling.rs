//! The ceiling of the `sessions` scenario on this host, without WebSocket or
//! WAMP: how many TCP connections per second one core can open to a server
//! on another core that accepts and holds them. A WAMP join is this plus an
//! HTTP upgrade and HELLO/WELCOME, so no router's joins/s measured with a
//! one-core generator can exceed it.
//!
//! The server thread (pinned to `CEILING_SERVER_CPU`, default 0) accepts with
//! blocking `accept` and keeps every socket; the client thread (pinned to
//! `CEILING_CLIENT_CPU`, default 1) connects with blocking `connect` from
//! 127.0.0.2-9 (IP_BIND_ADDRESS_NO_PORT, as shardwamp-bench does), so on
//! loopback the whole three-way handshake runs inside the client's
//! `connect`. `CEILING_CONNECTIONS` (default 9,000: both ends live in this
//! process, two descriptors a connection, under this sandbox's nofile limit
//! of 20,000) sets the count.
//!
//! Prints connections/s and the CPU time each side spent per connection.
//! Loopback only, bounded, and it stops by itself.
//!
//! `cargo bench --bench connect_ceiling`

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("connect_ceiling: could not pin to CPU {cpu}; running unpinned");
        }
    }
}

/// This thread's CPU time (user + system), seconds.
fn thread_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut u);
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would too: only
    // run when asked to benchmark.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env("CEILING_CONNECTIONS", 9_000);
    let (server_cpu, client_cpu) = (env("CEILING_SERVER_CPU", 0), env("CEILING_CLIENT_CPU", 1));
    let listener = match socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .and_then(|s| {
        s.bind(
            &"127.0.0.1:0"
                .parse::<SocketAddr>()
                .map_err(std::io::Error::other)?
                .into(),
        )?;
        s.listen(4096)?;
        Ok(TcpListener::from(s))
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("connect_ceiling: cannot listen: {e}");
            return;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("connect_ceiling: {e}");
            return;
        }
    };
    let server = std::thread::spawn(move || {
        pin(server_cpu);
        let cpu0 = thread_cpu();
        let mut held = Vec::with_capacity(n);
        while held.len() < n {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(e) => {
                    eprintln!("connect_ceiling: accept: {e}");
                    break;
                }
            }
        }
        (thread_cpu() - cpu0, held.len())
    });
    pin(client_cpu);
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let s = match socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        ) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("connect_ceiling: socket: {e}");
                break;
            }
        };
        let one: libc::c_int = 1;
        // SAFETY: IP_BIND_ADDRESS_NO_PORT takes an int option value.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let src: SocketAddr = ([127, 0, 0, 2 + (i % 8) as u8], 0).into();
        if let Err(e) = s.bind(&src.into()).and_then(|_| s.connect(&addr.into())) {
            eprintln!("connect_ceiling: connect {i}: {e}");
            break;
        }
        held.push(s);
    }
    let secs = t0.elapsed().as_secs_f64();
    let client_cpu_s = thread_cpu() - cpu0;
    let opened = held.len();
    // Unblock the server if the client stopped early.
    for _ in opened..n {
        if std::net::TcpStream::connect(addr).is_err() {
            break;
        }
    }
    let (server_cpu_s, accepted) = server.join().unwrap_or((0.0, 0));
    println!(
        "connect_ceiling: {opened} connections in {secs:.3} s = {:.0} connections/s (client CPU {client_cpu}, server CPU {server_cpu})",
        opened as f64 / secs
    );
    println!(
        "connect_ceiling: client {:.1} µs CPU/connection, server {:.1} µs CPU/accept ({accepted} accepted)",
        client_cpu_s * 1e6 / opened.max(1) as f64,
        server_cpu_s * 1e6 / accepted.max(1) as f64
    );
}
