//! The bare WebSocket echo ceiling: how many 64 B WebSocket round trips per
//! second one core of server does with the same I/O stack as shardwamp
//! (glommio + async-tungstenite), without any WAMP work. The server echoes
//! every message, feeding a batch of ready messages and flushing once (as
//! shardwamp flushes once per batch); the client keeps `--inflight` messages
//! in flight on each of `--conns` connections and times each round trip.
//!
//! ```text
//! ws-echo-ceiling server --addr 127.0.0.1:18095 --cpu 0 [--read-buffer BYTES]
//! ws-echo-ceiling client --url ws://127.0.0.1:18095/ --cpu 1 --conns 4 --inflight 64 \
//!     --duration 5 --warmup 1 [--server-pid PID]
//! ```
//!
//! The client prints one JSON line shaped like shardwamp-bench's (scenario
//! "echo", throughput in round trips/s, latency percentiles in µs, the
//! server's CPU and peak RSS when `--server-pid` is given).
//!
//! The server also relays, for a call's shape with two hops (`shardwamp-bench
//! echo --callees N`, issue 16): a connection to `/relay/callee/J` is a
//! callee, one to `/relay/caller/I` a caller. Each caller's message goes to
//! a callee (in turn), and a callee's message back to the caller whose index
//! its first 8 bytes give (decimal digits); a message with no callee or
//! caller to go to is dropped and counted (printed at the end of each
//! connection). Any other path echoes. The open-loop client at a fixed rate
//! is `shardwamp-bench echo` (src/loadgen/echo.rs).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use futures_util::{SinkExt, StreamExt};
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cpu: usize = num(&args, "--cpu", 0);
    let ex = LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .name("echo")
        .io_memory(1 << 20);
    match args.get(1).map(String::as_str) {
        Some("server") => {
            let addr = arg(&args, "--addr").unwrap_or_else(|| "127.0.0.1:18095".into());
            let rbuf: usize = num(&args, "--read-buffer", 0);
            ex.spawn(move || server(addr, rbuf))
                .expect("executor")
                .join()
                .expect("server");
        }
        Some("client") => {
            let out = ex
                .spawn(move || client(args))
                .expect("executor")
                .join()
                .expect("client");
            println!("{out}");
        }
        _ => {
            eprintln!("usage: ws-echo-ceiling server|client [options] (see the source)");
            std::process::exit(2);
        }
    }
}

fn ws_config(read_buffer: usize) -> WebSocketConfig {
    let c = WebSocketConfig::default();
    if read_buffer > 0 {
        c.read_buffer_size(read_buffer)
    } else {
        c
    }
}

/// The relay's connections: each one's outgoing queue, by role and index.
#[derive(Default)]
struct Relay {
    callers: HashMap<u64, LocalSender<Message>>,
    callees: Vec<(u64, LocalSender<Message>)>,
    next_callee: usize,
    dropped: u64,
}

/// A connection's role, from its request path.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Echo,
    Caller(u64),
    Callee(u64),
}

fn role(path: &str) -> Role {
    let mut parts = path.trim_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next().map(str::parse)) {
        (Some("relay"), Some("caller"), Some(Ok(i))) => Role::Caller(i),
        (Some("relay"), Some("callee"), Some(Ok(j))) => Role::Callee(j),
        _ => Role::Echo,
    }
}

/// The caller index a callee's answer names (its first 8 bytes).
fn caller_of(m: &Message) -> Option<u64> {
    let b = match m {
        Message::Text(t) => t.as_bytes(),
        Message::Binary(b) => b,
        _ => return None,
    };
    std::str::from_utf8(b.get(..8)?).ok()?.parse().ok()
}

async fn server(addr: String, read_buffer: usize) {
    let listener = TcpListener::bind(&addr).expect("bind");
    eprintln!("echo server on {addr}");
    let relay = Rc::new(RefCell::new(Relay::default()));
    loop {
        let Ok(stream) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let relay = relay.clone();
        glommio::spawn_local(async move {
            let mut path = String::new();
            let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                path = req.uri().path().to_owned();
                Ok(resp)
            };
            let Ok(ws) = async_tungstenite::accept_hdr_async_with_config(
                stream,
                callback,
                Some(ws_config(read_buffer)),
            )
            .await
            else {
                return;
            };
            let role = role(&path);
            if role != Role::Echo {
                relay_conn(ws, role, relay).await;
                return;
            }
            let (mut tx, rx) = ws.split();
            let mut rx = rx.ready_chunks(256);
            while let Some(batch) = rx.next().await {
                for m in batch {
                    match m {
                        Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                            if tx.feed(m).await.is_err() {
                                return;
                            }
                        }
                        Ok(Message::Close(_)) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
                if tx.flush().await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
}

/// One relay connection: a writer task drains its queue (each ready batch
/// in one flush) while this task passes what it reads on.
async fn relay_conn(
    ws: async_tungstenite::WebSocketStream<TcpStream>,
    role: Role,
    relay: Rc<RefCell<Relay>>,
) {
    let (mut tx, rx) = ws.split();
    let (queue, out) = local_channel::new_unbounded::<Message>();
    match role {
        Role::Caller(i) => {
            relay.borrow_mut().callers.insert(i, queue);
        }
        Role::Callee(j) => relay.borrow_mut().callees.push((j, queue)),
        Role::Echo => return,
    }
    let writer = glommio::spawn_local(async move {
        let mut out = out.stream().ready_chunks(256);
        while let Some(batch) = out.next().await {
            for m in batch {
                if tx.feed(m).await.is_err() {
                    return;
                }
            }
            if tx.flush().await.is_err() {
                return;
            }
        }
    });
    let mut rx = rx.ready_chunks(256);
    while let Some(batch) = rx.next().await {
        let mut r = relay.borrow_mut();
        for m in batch {
            let m = match m {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => m,
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let to = match role {
                Role::Caller(_) if !r.callees.is_empty() => {
                    let k = r.next_callee % r.callees.len();
                    r.next_callee = r.next_callee.wrapping_add(1);
                    Some(&r.callees[k].1)
                }
                Role::Callee(_) => caller_of(&m).and_then(|i| r.callers.get(&i)),
                _ => None,
            };
            if to.is_none_or(|q| q.try_send(m).is_err()) {
                r.dropped += 1;
            }
        }
    }
    let mut r = relay.borrow_mut();
    match role {
        Role::Caller(i) => {
            r.callers.remove(&i);
        }
        Role::Callee(j) => r.callees.retain(|(k, _)| *k != j),
        Role::Echo => {}
    }
    if r.dropped > 0 {
        eprintln!(
            "relay: {} message(s) dropped so far (no peer to go to)",
            r.dropped
        );
    }
    drop(r);
    drop(writer);
}

/// utime + stime (seconds) and VmHWM (bytes) of a process.
fn sample(pid: u32) -> Option<(f64, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    Some((ticks / tck, kb("VmHWM:")?, kb("VmRSS:")?))
}

fn self_cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

async fn client(args: Vec<String>) -> String {
    let url = arg(&args, "--url").unwrap_or_else(|| "ws://127.0.0.1:18095/".into());
    let conns: usize = num(&args, "--conns", 4);
    let inflight: usize = num(&args, "--inflight", 64);
    let size: usize = num(&args, "--size", 64);
    let duration = Duration::from_secs_f64(num(&args, "--duration", 5.0));
    let warmup = Duration::from_secs_f64(num(&args, "--warmup", 1.0));
    let server_pid: Option<u32> = arg(&args, "--server-pid").and_then(|v| v.parse().ok());
    let hostport = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();

    let epoch = Instant::now();
    let measuring = Rc::new(Cell::new(false));
    let stop = Rc::new(Cell::new(false));
    let count = Rc::new(Cell::new(0u64));
    let hist = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram"),
    ));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let stream = TcpStream::connect(hostport.as_str())
            .await
            .expect("connect");
        let _ = stream.set_nodelay(true);
        let (ws, _) = async_tungstenite::client_async(url.as_str(), stream)
            .await
            .expect("handshake");
        let (mut tx, rx) = ws.split();
        let (measuring, stop, count, hist) =
            (measuring.clone(), stop.clone(), count.clone(), hist.clone());
        let msg = move || {
            // The send time in ns since the epoch, padded to `size` bytes.
            let t = epoch.elapsed().as_nanos() as u64;
            let mut s = format!("{t:020}");
            s.push_str(&"x".repeat(size.saturating_sub(20)));
            Message::text(s)
        };
        tasks.push(glommio::spawn_local(async move {
            for _ in 0..inflight {
                tx.feed(msg()).await.expect("send");
            }
            tx.flush().await.expect("flush");
            let mut rx = rx.ready_chunks(256);
            while let Some(batch) = rx.next().await {
                let now = epoch.elapsed().as_nanos() as u64;
                let n = batch.len();
                for m in batch {
                    if let Ok(Message::Text(t)) = m {
                        if measuring.get() {
                            let sent: u64 = t.as_str()[..20].parse().unwrap_or(now);
                            let _ = hist.borrow_mut().record(now.saturating_sub(sent).max(1));
                            count.set(count.get() + 1);
                        }
                    }
                }
                if stop.get() {
                    return;
                }
                for _ in 0..n {
                    if tx.feed(msg()).await.is_err() {
                        return;
                    }
                }
                if tx.flush().await.is_err() {
                    return;
                }
            }
        }));
    }
    glommio::timer::sleep(warmup).await;
    let before = server_pid.and_then(sample);
    let gen_before = self_cpu();
    measuring.set(true);
    let t0 = Instant::now();
    glommio::timer::sleep(duration).await;
    measuring.set(false);
    let secs = t0.elapsed().as_secs_f64();
    let after = server_pid.and_then(sample);
    let gen_cpu = self_cpu() - gen_before;
    stop.set(true);
    let n = count.get();
    let h = hist.borrow();
    let q = |x: f64| h.value_at_quantile(x) as f64 / 1000.0;
    let router = match (server_pid, before, after) {
        (Some(pid), Some(b), Some(a)) => format!(
            r#"{{"pid":{pid},"cpu_s":{:.3},"cpu_pct":{:.1},"peak_rss_bytes":{},"rss_bytes":{}}}"#,
            a.0 - b.0,
            100.0 * (a.0 - b.0) / secs,
            a.1,
            a.2
        ),
        _ => "null".into(),
    };
    let latency = format!(
        r#"{{"count":{},"min_us":{:.3},"mean_us":{:.3},"p50_us":{:.3},"p90_us":{:.3},"p99_us":{:.3},"p999_us":{:.3},"max_us":{:.3}}}"#,
        h.len(),
        h.min() as f64 / 1000.0,
        h.mean() / 1000.0,
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        h.max() as f64 / 1000.0
    );
    drop(h);
    drop(tasks);
    format!(
        r#"{{"scenario":"echo","passed":{},"failure":null,"duration_s":{secs:.3},"throughput":{:.1},"throughput_unit":"round trips","latency":{latency},"delivery_ratio":1.0,"errors":0,"router":{router},"generator_cpu_pct":{:.1},"params":{{"url":"{url}","conns":{conns},"inflight":{inflight},"size":{size},"warmup":{},"duration":{}}}}}"#,
        n > 0,
        n as f64 / secs,
        100.0 * gen_cpu / secs,
        warmup.as_secs_f64(),
        duration.as_secs_f64()
    )
}
