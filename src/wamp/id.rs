//! WAMP IDs: the valid range and the generators for each ID scope.
//!
//! Per the spec (`rfc/text/basic/bp_identifiers.md`, "IDs"), IDs are integers in
//! `1..=2^53` ([`MAX_ID`]), so that every ID is exactly representable as an
//! IEEE-754 double. Each kind of ID lives in one of three scopes:
//!
//! | scope       | IDs                                                    | how they are drawn                          | here                 |
//! |-------------|--------------------------------------------------------|---------------------------------------------|----------------------|
//! | **global**  | sessions (`WELCOME.Session`), publications (`PUBLISHED.Publication`, `EVENT.Publication`) | MUST be random, uniform over `[1, 2^53]` | [`global_id`], [`GlobalIdGen`] |
//! | **router**  | subscriptions (`SUBSCRIBED`/`UNSUBSCRIBE`/`EVENT.Subscription`), registrations (`REGISTERED`/`UNREGISTER`/`INVOCATION.Registration`) | router's free choice          | [`ScopeIdGen`] (sequential)    |
//! | **session** | request ids (`*.Request`: `PUBLISH`, `SUBSCRIBE`, `CALL`, `REGISTER`, `INVOCATION`, `INTERRUPT`, ...) | MUST count up by 1 from 1, per direction | [`ScopeIdGen`] (sequential)    |
//!
//! For the session scope the router keeps one [`ScopeIdGen`] per session for the
//! requests *it* originates towards the client (`INVOCATION.Request`,
//! `INTERRUPT.Request`); client-originated request ids are the client's to choose.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The largest valid ID, `2^53` (9007199254740992). IDs are `1..=MAX_ID`.
pub const MAX_ID: u64 = 1 << 53;

/// Whether `id` is a valid WAMP ID, i.e. in `1..=2^53`.
#[inline]
pub const fn is_valid_id(id: u64) -> bool {
    id >= 1 && id <= MAX_ID
}

/// Draws a global-scope ID uniformly from `1..=2^53`.
///
/// Uses the top 53 bits of one `u64` from `rng` (uniform over `0..2^53`) plus 1,
/// so it is exactly uniform, with no rejection loop.
#[inline]
pub fn global_id<R: Rng + ?Sized>(rng: &mut R) -> u64 {
    (rng.next_u64() >> 11) + 1
}

/// Generator of global-scope IDs (sessions, publications): uniform random in `1..=2^53`.
///
/// Wraps a [`StdRng`] (a cryptographically strong PRNG, so IDs are not
/// predictable from earlier ones). Each router shard should own its own.
#[derive(Debug, Clone)]
pub struct GlobalIdGen {
    rng: StdRng,
}

impl GlobalIdGen {
    /// A generator seeded from the operating system's entropy source.
    pub fn new() -> GlobalIdGen {
        GlobalIdGen {
            rng: StdRng::from_rng(&mut rand::rng()),
        }
    }

    /// A deterministic generator: the same `seed` yields the same ID sequence
    /// (within one build of this crate). For tests and reproducible runs.
    pub fn from_seed(seed: u64) -> GlobalIdGen {
        GlobalIdGen {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The next random ID in `1..=2^53`.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        global_id(&mut self.rng)
    }
}

impl Default for GlobalIdGen {
    fn default() -> Self {
        GlobalIdGen::new()
    }
}

/// Sequential generator for router-scope IDs (subscriptions, registrations) and
/// session-scope IDs (request ids the router originates): 1, 2, 3, ...,
/// `2^53`, then back to 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeIdGen {
    next: u64,
}

impl ScopeIdGen {
    /// A generator whose first ID is 1.
    pub const fn new() -> ScopeIdGen {
        ScopeIdGen { next: 1 }
    }

    /// A generator whose first ID is `first`; an invalid `first` (0 or above
    /// `2^53`) starts at 1 instead. Useful to resume a sequence or to test wrapping.
    pub const fn starting_at(first: u64) -> ScopeIdGen {
        ScopeIdGen {
            next: if is_valid_id(first) { first } else { 1 },
        }
    }

    /// The ID the next call to [`ScopeIdGen::next`] will return.
    pub const fn peek(&self) -> u64 {
        self.next
    }

    /// The next ID: one more than the previous, wrapping from `2^53` back to 1.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let id = self.next;
        self.next = if id >= MAX_ID { 1 } else { id + 1 };
        id
    }
}

impl Default for ScopeIdGen {
    fn default() -> Self {
        ScopeIdGen::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    /// An rng that always returns the same word.
    struct ConstRng(u64);

    impl RngCore for ConstRng {
        fn next_u32(&mut self) -> u32 {
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(self.0 as u8);
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(MAX_ID, 9_007_199_254_740_992);
        assert!(!is_valid_id(0));
        assert!(is_valid_id(1));
        assert!(is_valid_id(MAX_ID));
        assert!(!is_valid_id(MAX_ID + 1));
        assert!(!is_valid_id(u64::MAX));
    }

    #[test]
    fn global_id_extremes() {
        // An all-zero rng gives the lowest ID, an all-ones rng the highest.
        assert_eq!(global_id(&mut ConstRng(0)), 1);
        assert_eq!(global_id(&mut ConstRng(u64::MAX)), MAX_ID);
        let dyn_rng: &mut dyn RngCore = &mut ConstRng(u64::MAX);
        assert_eq!(global_id(dyn_rng), MAX_ID);
    }

    #[test]
    fn global_ids_in_range_and_spread() {
        let mut g = GlobalIdGen::from_seed(7);
        let mut high = false;
        let mut low = false;
        for _ in 0..10_000 {
            let id = g.next();
            assert!(is_valid_id(id));
            high |= id > MAX_ID / 2;
            low |= id <= MAX_ID / 2;
        }
        assert!(high && low);
        let mut e = GlobalIdGen::new();
        let (a, b) = (e.next(), e.next());
        assert!(is_valid_id(a) && is_valid_id(b));
        assert_ne!(a, b);
    }

    #[test]
    fn seeded_generator_is_deterministic() {
        let mut a = GlobalIdGen::from_seed(42);
        let mut b = GlobalIdGen::from_seed(42);
        let mut c = GlobalIdGen::from_seed(43);
        let xs: Vec<u64> = (0..100).map(|_| a.next()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next()).collect();
        let zs: Vec<u64> = (0..100).map(|_| c.next()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn scope_ids_count_from_one() {
        let mut g = ScopeIdGen::new();
        assert_eq!(g.peek(), 1);
        assert_eq!(
            (0..5).map(|_| g.next()).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(ScopeIdGen::default(), ScopeIdGen::new());
    }

    #[test]
    fn scope_ids_wrap_after_max() {
        let mut g = ScopeIdGen::starting_at(MAX_ID - 1);
        assert_eq!(g.next(), MAX_ID - 1);
        assert_eq!(g.next(), MAX_ID);
        assert_eq!(g.next(), 1);
        assert_eq!(g.next(), 2);
        assert_eq!(ScopeIdGen::starting_at(0).peek(), 1);
        assert_eq!(ScopeIdGen::starting_at(MAX_ID + 1).peek(), 1);
    }
}
