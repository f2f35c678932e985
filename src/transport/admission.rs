//! Admission of accepted connections under a transport's caps
//! (`max_connections`, `max_handshakes` and their `_per_shard` twins): the
//! counts a shard keeps for one listener, the counts all shards share, and
//! the place a connection holds until it closes.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ConnectionLimits;

/// One transport's connections, all shards together.
#[derive(Debug, Default)]
pub struct ConnGauge {
    open: AtomicUsize,
    handshaking: AtomicUsize,
}

impl ConnGauge {
    /// Connections open now (handshaking ones included).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections still in the transport's opening handshake.
    pub fn handshaking(&self) -> usize {
        self.handshaking.load(Ordering::Relaxed)
    }
}

/// One listener's counts on this shard.
#[derive(Debug, Default)]
struct Local {
    open: Cell<usize>,
    handshaking: Cell<usize>,
}

/// How often a listener reports refused connections.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// A listener's admission on one shard.
pub(crate) struct Gate {
    limits: ConnectionLimits,
    global: Arc<ConnGauge>,
    local: Rc<Local>,
    last_report: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

/// Takes one place in `n` under `cap` (0: no cap), or none.
fn take(n: &AtomicUsize, cap: usize) -> bool {
    let before = n.fetch_add(1, Ordering::AcqRel);
    if cap != 0 && before >= cap {
        n.fetch_sub(1, Ordering::AcqRel);
        return false;
    }
    true
}

impl Gate {
    /// The gate of a listener with `limits`, sharing `global` with its copies on other shards.
    pub fn new(limits: ConnectionLimits, global: Arc<ConnGauge>) -> Gate {
        Gate {
            limits,
            global,
            local: Rc::default(),
            last_report: Cell::new(None),
            suppressed: Cell::new(0),
        }
    }

    /// A place for a connection just accepted (open and handshaking), or
    /// which cap refused it.
    pub fn admit(&self) -> Result<Admission, &'static str> {
        let l = &self.limits;
        let cap = |c: usize, n: usize| c != 0 && n >= c;
        if cap(l.max_connections_per_shard, self.local.open.get()) {
            return Err("max_connections_per_shard reached");
        }
        if cap(l.max_handshakes_per_shard, self.local.handshaking.get()) {
            return Err("max_handshakes_per_shard reached");
        }
        if !take(&self.global.open, l.max_connections) {
            return Err("max_connections reached");
        }
        if !take(&self.global.handshaking, l.max_handshakes) {
            self.global.open.fetch_sub(1, Ordering::AcqRel);
            return Err("max_handshakes reached");
        }
        self.local.open.set(self.local.open.get() + 1);
        self.local.handshaking.set(self.local.handshaking.get() + 1);
        Ok(Admission {
            local: self.local.clone(),
            global: self.global.clone(),
            handshaking: true,
        })
    }

    /// Whether a refusal may be logged now; `Some(n)` with the refusals
    /// not logged since the last report (logs at most every 10 s).
    pub fn may_log(&self, now: Instant) -> Option<u64> {
        match self.last_report.get() {
            Some(at) if now.duration_since(at) < REPORT_EVERY => {
                self.suppressed.set(self.suppressed.get() + 1);
                None
            }
            _ => {
                self.last_report.set(Some(now));
                Some(self.suppressed.replace(0))
            }
        }
    }
}

/// A connection's place under its transport's caps, held until it closes.
pub(crate) struct Admission {
    local: Rc<Local>,
    global: Arc<ConnGauge>,
    handshaking: bool,
}

impl Admission {
    /// The transport's opening handshake is over: the connection leaves the
    /// handshake count (it stays in the open count).
    pub fn handshake_done(&mut self) {
        if std::mem::replace(&mut self.handshaking, false) {
            self.local
                .handshaking
                .set(self.local.handshaking.get().saturating_sub(1));
            self.global.handshaking.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.handshake_done();
        self.local.open.set(self.local.open.get().saturating_sub(1));
        self.global.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(f: impl FnOnce(&mut ConnectionLimits)) -> ConnectionLimits {
        let mut l = ConnectionLimits::default();
        f(&mut l);
        l
    }

    #[test]
    fn per_shard_and_total_caps_hold_and_places_are_given_back() {
        let global = Arc::new(ConnGauge::default());
        let a = Gate::new(
            limits(|l| {
                l.max_connections = 3;
                l.max_connections_per_shard = 2;
            }),
            global.clone(),
        );
        let b = Gate::new(a.limits, global.clone());
        let a1 = a.admit().unwrap();
        let _a2 = a.admit().unwrap();
        assert_eq!(a.admit().err(), Some("max_connections_per_shard reached"));
        let _b1 = b.admit().unwrap();
        assert_eq!(b.admit().err(), Some("max_connections reached"));
        assert_eq!(global.open(), 3);
        drop(a1);
        assert_eq!(global.open(), 2);
        assert!(b.admit().is_ok());
    }

    #[test]
    fn handshake_caps_count_only_connections_in_the_handshake() {
        let global = Arc::new(ConnGauge::default());
        let g = Gate::new(
            limits(|l| {
                l.max_handshakes = 2;
                l.max_handshakes_per_shard = 2;
            }),
            global.clone(),
        );
        let mut x = g.admit().unwrap();
        let _y = g.admit().unwrap();
        assert_eq!(g.admit().err(), Some("max_handshakes_per_shard reached"));
        x.handshake_done();
        x.handshake_done();
        assert_eq!(global.handshaking(), 1);
        assert_eq!(global.open(), 2);
        let _z = g.admit().unwrap();
        assert_eq!(global.handshaking(), 2);
        drop(x);
        assert_eq!((global.open(), global.handshaking()), (2, 2));
    }

    #[test]
    fn refusals_are_reported_at_most_every_ten_seconds() {
        let g = Gate::new(ConnectionLimits::default(), Arc::default());
        let t = Instant::now();
        assert_eq!(g.may_log(t), Some(0));
        assert_eq!(g.may_log(t + Duration::from_secs(1)), None);
        assert_eq!(g.may_log(t + Duration::from_secs(2)), None);
        assert_eq!(g.may_log(t + Duration::from_secs(11)), Some(2));
    }
}
