//! The `echo` scenario: bare WebSocket round trips, no WAMP, against the
//! echo server of `benches/matrix/echo` (glommio + async-tungstenite, the
//! router's I/O stack). At the rpc scenario's rate and message size it shows
//! the floor under a call's latency that this host's wake-ups and loopback
//! set, without any router work (issue 16: rpc p99 at 50 k calls/s).
//!
//! Each of `callers` connections (client `i` on generator shard
//! `i % shards`) sends text messages of `payload` bytes (at least the 29-byte
//! head: the connection's index in 8 digits, when the message was due in 20
//! digits of nanoseconds since the run's epoch, and `1` when it was sent in
//! the measured interval, else `0`), at its share of `rate` (open loop: each
//! round trip is timed from when it was due, so a stall shows as latency,
//! not as fewer messages; sends that fell due together go out in one flush,
//! with at least `tick` between flushes) or keeping `outstanding` in flight.
//!
//! With `callees > 0` a message takes a call's shape, two hops: callers
//! connect to `/relay/caller/I`, callees to `/relay/callee/J`; the server
//! passes each caller's message to a callee (in turn), the callee sends it
//! back, and the server returns it to the caller its head names.
//!
//! Figures go in the report's rpc part (a round trip counts as a call, its
//! echo as the result); the report's unit is "round trips".

use std::rc::Rc;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::WebSocketStream;
use futures_util::{SinkExt, StreamExt};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use glommio::Task;

use super::state::{Local, Phase};
use super::stats::{Part, C};
use crate::transport::dial;

/// The head of every message: index (8 digits), due time (20), measured (1).
pub(crate) const HEAD: usize = 29;

/// Receive buffer of an echo connection.
const READ_BUF: usize = 64 * 1024;

type Ws = WebSocketStream<TcpStream>;

/// The indices of `count` clients that live on this shard.
fn mine(l: &Local, count: usize) -> Vec<usize> {
    let n = l.shared.opts.shards;
    (0..count).filter(|i| i % n == l.idx).collect()
}

fn disconnected(l: &Local, who: &str) {
    if l.phase() < Phase::Stop {
        l.counters().add(C::Disconnects, 1);
        l.shared
            .note_error(|| format!("an echo {who} lost its connection during the run"));
    }
}

/// Connects to the echo server: `--url` as given, or its host with `path`.
async fn connect(l: &Local, path: Option<String>) -> Result<Ws, String> {
    let target = &l.shared.opts.target;
    let url = match path {
        Some(p) => format!("ws://{}{p}", target.addr),
        None => target.url.clone(),
    };
    let tcp = dial::connect_tcp(target.addr, None)
        .await
        .map_err(|e| e.to_string())?;
    let cfg = WebSocketConfig::default().read_buffer_size(READ_BUF);
    let (ws, _) = async_tungstenite::client_async_with_config(url.as_str(), tcp, Some(cfg))
        .await
        .map_err(|e| format!("WebSocket handshake with {url}: {e}"))?;
    Ok(ws)
}

/// Connects this shard's callees (two hops) and callers, and starts their
/// tasks; the callers wait for the warm-up before sending.
pub(crate) async fn setup(l: &Rc<Local>, tasks: &mut Vec<Task<()>>) -> Result<(), String> {
    let o = l.shared.opts.clone();
    let relay = o.rpc.callees > 0;
    if relay {
        for j in mine(l, o.rpc.callees) {
            let ws = connect(l, Some(format!("/relay/callee/{j}"))).await?;
            tasks.push(glommio::spawn_local(callee(l.clone(), ws)));
        }
    }
    for i in mine(l, o.rpc.callers) {
        let ws = connect(l, relay.then(|| format!("/relay/caller/{i}"))).await?;
        tasks.push(glommio::spawn_local(caller(l.clone(), i, ws)));
    }
    Ok(())
}

/// A message's head: `(index, due_ns, measured)`.
pub(crate) fn head(index: usize, due_ns: u64, measured: bool) -> String {
    format!("{index:08}{due_ns:020}{}", u8::from(measured))
}

/// Reads a message's head; `None` when it is not one.
pub(crate) fn parse_head(b: &[u8]) -> Option<(usize, u64, bool)> {
    let digits = |s: &[u8]| {
        s.iter().try_fold(0u64, |acc, &d| {
            d.is_ascii_digit()
                .then(|| acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0')))
        })
    };
    let index = digits(b.get(..8)?)?;
    let due = digits(b.get(8..28)?)?;
    let measured = match b.get(28)? {
        b'1' => true,
        b'0' => false,
        _ => return None,
    };
    Some((usize::try_from(index).ok()?, due, measured))
}

/// A callee of the two-hop shape: sends back every message it receives,
/// each ready batch in one flush.
async fn callee(l: Rc<Local>, ws: Ws) {
    let c = l.counters();
    let (mut sink, stream) = ws.split();
    let mut stream = stream.ready_chunks(256);
    while let Some(batch) = stream.next().await {
        for m in batch {
            match m {
                Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_))) => {
                    if sink.feed(m).await.is_err() {
                        disconnected(&l, "callee");
                        return;
                    }
                    c.add(C::Invocations, 1);
                }
                Ok(WsMessage::Close(_)) | Err(_) => {
                    disconnected(&l, "callee");
                    return;
                }
                Ok(_) => {}
            }
        }
        if sink.flush().await.is_err() {
            disconnected(&l, "callee");
            return;
        }
    }
    disconnected(&l, "callee");
}

/// A caller connection: sends at its share of the rate (or keeps
/// `outstanding` in flight) and times each message's return.
async fn caller(l: Rc<Local>, index: usize, ws: Ws) {
    let o = &l.shared.opts;
    let r = &o.rpc;
    let pad = "x".repeat(r.payload.saturating_sub(HEAD));
    let c = l.counters();
    let (mut sink, mut stream) = ws.split();
    let window = r
        .rate
        .is_none()
        .then(|| Rc::new(Semaphore::new(r.outstanding as u64)));
    let receive = async {
        loop {
            let text = match stream.next().await {
                Some(Ok(WsMessage::Text(t))) => t,
                Some(Ok(WsMessage::Binary(_) | WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                    continue
                }
                Some(Ok(_)) | Some(Err(_)) | None => {
                    disconnected(&l, "caller");
                    return;
                }
            };
            let now = l.shared.now_ns();
            match parse_head(text.as_bytes()) {
                Some((i, due, measured)) if i == index => {
                    c.add(C::ResultsAll, 1);
                    if l.phase() == Phase::Measure {
                        c.add(C::ResultsInWindow, 1);
                    }
                    if measured {
                        c.add(C::Results, 1);
                    }
                    l.record(Part::Rpc, now.saturating_sub(due), measured);
                }
                _ => {
                    c.add(C::Protocol, 1);
                    l.shared
                        .note_error(|| "an echo that is not this connection's message".into());
                }
            }
            if let Some(w) = &window {
                w.signal(1);
            }
        }
    };
    let send = async {
        l.until(Phase::Warmup).await;
        // One message due at `due`; `None` once the run stops.
        let message = |due: u64| -> Option<WsMessage> {
            let phase = l.phase();
            if phase >= Phase::Stop {
                return None;
            }
            let measured = phase == Phase::Measure;
            if measured {
                c.add(C::Calls, 1);
            }
            let mut text = head(index, due, measured);
            text.push_str(&pad);
            Some(WsMessage::text(text))
        };
        match (&window, r.rate) {
            (Some(w), _) => loop {
                if w.acquire(1).await.is_err() {
                    return;
                }
                let Some(m) = message(l.shared.now_ns()) else {
                    return;
                };
                if sink.feed(m).await.is_err() {
                    return;
                }
                while w.try_acquire(1).unwrap_or(false) {
                    let Some(m) = message(l.shared.now_ns()) else {
                        // What this turn fed was counted as sent: it goes out.
                        let _ = sink.flush().await;
                        return;
                    };
                    if sink.feed(m).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            },
            (None, Some(total)) => {
                let per_s = total / r.callers as f64;
                let tick = o.tick.as_nanos().min(10_000_000) as u64;
                let start = l.shared.now_ns();
                let due = |i: u64| start + (i as f64 * 1e9 / per_s) as u64;
                let mut sent: u64 = 0;
                loop {
                    let now = l.shared.now_ns();
                    let mut burst = 0;
                    while due(sent) <= now && burst < 10_000 {
                        let Some(m) = message(due(sent)) else {
                            let _ = sink.flush().await;
                            return;
                        };
                        if sink.feed(m).await.is_err() {
                            return;
                        }
                        sent += 1;
                        burst += 1;
                    }
                    if burst > 0 && sink.flush().await.is_err() {
                        return;
                    }
                    if l.phase() >= Phase::Stop {
                        return;
                    }
                    // As the fixed-rate caller: sleep until the next message
                    // is due, or at least a tick (both count as latency).
                    let wait = due(sent).saturating_sub(l.shared.now_ns());
                    glommio::timer::sleep(Duration::from_nanos(wait.clamp(tick, 10_000_000))).await;
                }
            }
            (None, None) => {}
        }
    };
    // The receive loop ends with the connection; sending ends at Stop.
    futures_lite::future::zip(receive, send).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_read_back() {
        let h = head(7, 123_456_789_012, true);
        assert_eq!(h.len(), HEAD);
        assert_eq!(parse_head(h.as_bytes()), Some((7, 123_456_789_012, true)));
        let mut padded = head(12_345_678, u64::MAX / 2, false);
        padded.push_str("xxxx");
        assert_eq!(
            parse_head(padded.as_bytes()),
            Some((12_345_678, u64::MAX / 2, false))
        );
        assert_eq!(parse_head(b"0000000x000000000000000000001"), None);
        assert_eq!(parse_head(b"00000001000000000000000000002"), None);
        assert_eq!(parse_head(b"short"), None);
    }
}
