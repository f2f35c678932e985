//! The dealer's routing state for one realm, with one owner for each piece:
//! [`Registrations`] on every shard (the replica of the registrations, by
//! pattern, with their callees and this shard's round-robin position) and
//! [`HomeRegistrations`] on the realm's home shard (the authoritative book of
//! registrations with their callees). Both are mutated only through their
//! methods; `dealer.rs` speaks the protocol around them (and owns the open
//! calls and invocations, `Dealer`).

use super::book::{Book, Entry, Replica, ReplicaEntry};
use super::options::InvokePolicy;
use super::peer::CalleeRef;
use super::{RegId, SessionId, ShardId};
use crate::dict;
use crate::wamp::id::ScopeIdGen;
use crate::wamp::uri::MatchPolicy;
use crate::wamp::uris;
use crate::wamp::value::Dict;

/// A registration as a shard's replica knows it.
#[derive(Debug, Clone)]
pub(crate) struct RegReplica {
    id: RegId,
    invoke: InvokePolicy,
    callees: Vec<CalleeRef>,
    /// This shard's round-robin position (each shard rotates independently).
    next: std::cell::Cell<usize>,
}

impl RegReplica {
    /// The registration's id (the home shard's).
    #[inline]
    pub fn id(&self) -> RegId {
        self.id
    }

    /// The invocation policy.
    #[inline]
    pub fn invoke(&self) -> InvokePolicy {
        self.invoke
    }

    /// The callees, in the order they registered.
    #[inline]
    pub fn callees(&self) -> &[CalleeRef] {
        &self.callees
    }

    /// This shard's round-robin position, moved on by one.
    #[inline]
    pub fn rotate(&self) -> usize {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        n
    }
}

impl ReplicaEntry for RegReplica {
    type Member = CalleeRef;

    fn id(&self) -> u64 {
        self.id
    }
    fn members_mut(&mut self) -> &mut Vec<CalleeRef> {
        &mut self.callees
    }
    /// Keeps this shard's round-robin position, as a stale entry did.
    fn renew(&mut self, fresh: RegReplica) {
        self.id = fresh.id;
        self.invoke = fresh.invoke;
        self.callees.clear();
    }
}

/// What every shard holds of a realm's registrations: the replica, for
/// routing calls.
#[derive(Default)]
pub(crate) struct Registrations {
    replica: Replica<RegReplica>,
}

impl Registrations {
    /// Replica update: `callee` registered `reg` (`uri`, `policy`, `invoke`).
    pub fn add_callee(
        &mut self,
        reg: RegId,
        uri: &str,
        policy: MatchPolicy,
        invoke: InvokePolicy,
        callee: CalleeRef,
    ) {
        self.replica.add(reg, uri, policy, callee, || RegReplica {
            id: reg,
            invoke,
            callees: Vec::new(),
            next: Default::default(),
        })
    }

    /// Replica update: `callee` no longer holds `reg`.
    pub fn remove_callee(&mut self, reg: RegId, callee: &CalleeRef) {
        self.replica.remove(reg, callee)
    }

    /// The registration that routes `procedure`: the most specific match (call).
    #[inline]
    pub fn best_match<'a>(
        &'a self,
        procedure: &str,
    ) -> Option<(&'a str, MatchPolicy, &'a RegReplica)> {
        self.replica.best_match(procedure)
    }

    /// How many registrations the replica holds.
    pub fn len(&self) -> usize {
        self.replica.len()
    }

    /// Whether the replica is empty (the leak check).
    pub fn is_empty(&self) -> bool {
        self.replica.is_empty()
    }
}

/// A registration in the home shard's authoritative table.
#[derive(Debug, Clone)]
pub(crate) struct HomeReg {
    uri: String,
    policy: MatchPolicy,
    invoke: InvokePolicy,
    created: String,
    callees: Vec<(SessionId, ShardId)>,
}

impl Entry for HomeReg {
    const ON_CREATE: &'static str = "wamp.registration.on_create";
    const ON_REMOVE: &'static str = "wamp.registration.on_unregister";
    const ON_DELETE: &'static str = "wamp.registration.on_delete";

    fn pattern(&self) -> (&str, MatchPolicy) {
        (&self.uri, self.policy)
    }
    fn members(&self) -> &[(SessionId, ShardId)] {
        &self.callees
    }
    fn members_mut(&mut self) -> &mut Vec<(SessionId, ShardId)> {
        &mut self.callees
    }
    fn details(&self, id: u64) -> Dict {
        dict! {
            "id" => id, "created" => self.created.as_str(), "uri" => self.uri.as_str(), "match" => self.policy.as_str(), "invoke" => self.invoke.as_str()
        }
    }
}

/// What the realm's home shard holds of its registrations: the book.
#[derive(Debug, Default)]
pub(crate) struct HomeRegistrations {
    book: Book<HomeReg>,
}

impl HomeRegistrations {
    /// The book, to read (the meta API, the leak check).
    pub fn book(&self) -> &Book<HomeReg> {
        &self.book
    }

    /// Adds `session` (on `shard`) as a callee of (`uri`, `policy`) with
    /// `invoke`, the registration created (with an id from `ids`) if there is
    /// none. The registration, and its details when this created it (for
    /// `on_create`); or the error URI: another invocation policy, or the
    /// procedure is taken (single) or held by the session already.
    #[allow(clippy::too_many_arguments)]
    pub fn add_callee(
        &mut self,
        ids: &mut ScopeIdGen,
        uri: &str,
        policy: MatchPolicy,
        invoke: InvokePolicy,
        now: &str,
        session: SessionId,
        shard: ShardId,
    ) -> Result<(RegId, Option<Dict>), &'static str> {
        let (id, created) = match self.book.find(&(uri.to_owned(), policy)) {
            Some(id) => {
                let reg = self.book.get(&id).ok_or(uris::ERROR_NO_SUCH_REGISTRATION)?;
                if reg.invoke != invoke {
                    return Err(uris::ERROR_PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY);
                }
                if invoke == InvokePolicy::Single || reg.callees.iter().any(|(s, _)| *s == session)
                {
                    return Err(uris::ERROR_PROCEDURE_ALREADY_EXISTS);
                }
                (id, false)
            }
            None => {
                let id = ids.next();
                self.book.insert(
                    id,
                    HomeReg {
                        uri: uri.to_owned(),
                        policy,
                        invoke,
                        created: now.to_owned(),
                        callees: Vec::new(),
                    },
                );
                (id, true)
            }
        };
        let mut details = None;
        if let Some(reg) = self.book.get_mut(&id) {
            reg.callees.push((session, shard));
            details = created.then(|| reg.details(id));
        }
        Ok((id, details))
    }

    /// Removes `session` from `reg`'s callees. `None` when it was not one;
    /// else whether the registration was deleted with it.
    pub fn remove_callee(&mut self, reg: RegId, session: SessionId) -> Option<bool> {
        self.book
            .remove_member(reg, session, |_| ())
            .map(|((), deleted)| deleted)
    }
}
