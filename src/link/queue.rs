//! A link's queues toward a slow or stalled router: this module owns the
//! bounds and what happens past them. A leg's queue is what it has sent and
//! the connection has not written yet ([`Session::backlog_bytes`]); the
//! bound is the link's `queue_limit_bytes` (default
//! [`crate::config::rlink::DEFAULT_QUEUE_LIMIT_BYTES`], 8 MiB):
//!
//! * an **event** that finds the queue over the bound is dropped and counted
//!   (`events_dropped`);
//! * a **call** that finds it over the bound is not relayed: the caller is
//!   answered at once with [`ERROR_LINK_BEHIND`] (`wamp.error.unavailable`)
//!   and it is counted (`calls_dropped`);
//! * anything else (results and errors going back, mirrors, meta calls)
//!   is queued, up to **twice** the bound: past that the other router has
//!   stopped reading, and the link closes both legs (`queue_overflows`; the
//!   mirrors are withdrawn, calls in flight fail) and dials again after the
//!   backoff. [`overflow`] watches for it.
//!
//! So a stalled router costs a link at most twice its bound (and one
//! message), and the shard serves everything else meanwhile.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::LinkStats;
use crate::transport::dial::Session;
use crate::wamp::message::Payload;
use crate::wamp::value::{Dict, Value};

/// The error a call gets when the link cannot queue it: the spec's
/// "the callee is unable to handle the invocation" (a link that is too far
/// behind is, for now).
pub const ERROR_LINK_BEHIND: &str = crate::wamp::uris::ERROR_UNAVAILABLE;

/// How often [`overflow`] looks at the remote leg's queue.
pub const CHECK_EVERY: Duration = Duration::from_millis(20);

/// Whether `leg` has room for an event or a call under `limit` bytes.
pub fn has_room(leg: &Session, limit: usize) -> bool {
    leg.backlog_bytes() <= limit
}

/// Answers invocation `request` on `act` with [`ERROR_LINK_BEHIND`]: the
/// call was not relayed as the other router is too far behind.
pub fn refuse_call(act: &Session, request: u64, link: &str, queued: usize, stats: &LinkStats) {
    stats.calls_dropped.fetch_add(1, Ordering::Relaxed);
    let _ = act.invocation_error_with(
        request,
        ERROR_LINK_BEHIND,
        Dict::new(),
        Payload::args(vec![Value::from(format!(
            "router link '{link}': the other router is too far behind ({queued} bytes queued), the call was not relayed"
        ))]),
    );
}

/// Resolves when `leg`'s queue passes twice `limit` (the other router has
/// stopped reading), with the reason; meanwhile keeps `queued_bytes` in
/// `stats` current.
pub async fn overflow(leg: &Session, limit: usize, stats: &Arc<LinkStats>) -> String {
    let hard = limit.saturating_mul(2);
    loop {
        let queued = leg.backlog_bytes();
        stats.queued_bytes.store(queued as u64, Ordering::Relaxed);
        if queued > hard {
            stats.queue_overflows.fetch_add(1, Ordering::Relaxed);
            return format!(
                "the other router stopped reading: {queued} bytes queued, over twice queue_limit_bytes ({limit})"
            );
        }
        glommio::timer::sleep(CHECK_EVERY).await;
    }
}
