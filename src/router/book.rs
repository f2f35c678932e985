//! The home shard's bookkeeping of subscriptions and registrations, written
//! once for both: a table of entries by id with its index by pattern, kept
//! consistent; members (sessions, with their shards) added and removed; an
//! entry deleted with its last member. [`Entry`] says what differs: the
//! members' name and the meta events (`wamp.subscription.on_*`,
//! `wamp.registration.on_*`) that the changes publish. The replica every
//! shard keeps of them is written once too: [`Replica`], over [`ReplicaEntry`].

use super::matcher::PatternTable;
use super::{HashMap, SessionId, ShardId};
use crate::wamp::uri::MatchPolicy;
use crate::wamp::value::Dict;

/// A pattern as the index keys it: URI and match policy.
pub(crate) type Pattern = (String, MatchPolicy);

/// A subscription or a registration as the home shard's [`Book`] keeps it.
pub(crate) trait Entry {
    /// The meta event published when an entry is created.
    const ON_CREATE: &'static str;
    /// The meta event published when a member leaves an entry.
    const ON_REMOVE: &'static str;
    /// The meta event published when an entry is deleted with its last member.
    const ON_DELETE: &'static str;

    /// The entry's URI and match policy.
    fn pattern(&self) -> (&str, MatchPolicy);
    /// The members: each session with its shard, in the order they came.
    fn members(&self) -> &[(SessionId, ShardId)];
    /// The members, to change.
    fn members_mut(&mut self) -> &mut Vec<(SessionId, ShardId)>;
    /// The entry as the meta API describes it (`on_create`, `get`).
    fn details(&self, id: u64) -> Dict;
}

/// Entries by id, and their index by pattern.
#[derive(Debug)]
pub(crate) struct Book<E> {
    entries: HashMap<u64, E>,
    index: HashMap<Pattern, u64>,
}

impl<E> Default for Book<E> {
    fn default() -> Self {
        Book {
            entries: HashMap::default(),
            index: HashMap::default(),
        }
    }
}

impl<E: Entry> Book<E> {
    /// The entry `id`.
    pub fn get(&self, id: &u64) -> Option<&E> {
        self.entries.get(id)
    }

    /// The entry `id`, to change.
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut E> {
        self.entries.get_mut(id)
    }

    /// The id of the entry for `pattern`.
    pub fn find(&self, pattern: &Pattern) -> Option<u64> {
        self.index.get(pattern).copied()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &E)> + '_ {
        self.entries.iter()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many patterns the index holds (the same as [`Book::len`] unless
    /// the two went out of step: the leak check reports it).
    pub fn index_len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a new entry `id` (with no members yet) for its pattern.
    pub fn insert(&mut self, id: u64, entry: E) {
        let (uri, policy) = entry.pattern();
        self.index.insert((uri.to_owned(), policy), id);
        self.entries.insert(id, entry);
    }

    /// Removes `session` from entry `id`'s members; `then` sees the entry
    /// after the removal (before it is deleted, if it was the last member).
    /// `None` when `session` was not a member; else what `then` returned and
    /// whether the entry was deleted.
    pub fn remove_member<R>(
        &mut self,
        id: u64,
        session: SessionId,
        then: impl FnOnce(&mut E) -> R,
    ) -> Option<(R, bool)> {
        let entry = self.entries.get_mut(&id)?;
        let members = entry.members_mut();
        let before = members.len();
        members.retain(|(s, _)| *s != session);
        if members.len() == before {
            return None;
        }
        let r = then(entry);
        let deleted = entry.members().is_empty();
        if deleted {
            if let Some(e) = self.entries.remove(&id) {
                let (uri, policy) = e.pattern();
                self.index.remove(&(uri.to_owned(), policy));
            }
        }
        Some((r, deleted))
    }
}

/// A subscription or a registration as every shard's [`Replica`] keeps it.
pub(crate) trait ReplicaEntry {
    /// Who the entry routes to: shards (subscriptions), callees (registrations).
    type Member: Copy + PartialEq;

    /// The entry's id (the home shard's).
    fn id(&self) -> u64;
    /// The members.
    fn members_mut(&mut self) -> &mut Vec<Self::Member>;
    /// Takes over `fresh`'s id (and settings) with no members: the entry was
    /// stale, left by a deleted subscription or registration of the same pattern.
    fn renew(&mut self, fresh: Self);
}

/// What routing needs on every shard: entries by pattern (for matching) and
/// each id's pattern, updated by the realm's home shard.
pub(crate) struct Replica<E> {
    table: PatternTable<E>,
    keys: HashMap<u64, Pattern>,
}

impl<E> Default for Replica<E> {
    fn default() -> Self {
        Replica {
            table: PatternTable::new(),
            keys: HashMap::default(),
        }
    }
}

impl<E: ReplicaEntry> Replica<E> {
    /// Adds `member` to entry `id` of pattern (`uri`, `policy`); `fresh` builds
    /// the entry (with no members) where there is none, or where a stale one
    /// holds another id.
    pub fn add(
        &mut self,
        id: u64,
        uri: &str,
        policy: MatchPolicy,
        member: E::Member,
        fresh: impl FnOnce() -> E,
    ) {
        if let Some(e) = self.table.get_mut(uri, policy) {
            if e.id() != id {
                self.keys.remove(&e.id());
                e.renew(fresh());
            }
            let members = e.members_mut();
            if !members.contains(&member) {
                members.push(member);
            }
        } else {
            let mut e = fresh();
            e.members_mut().push(member);
            let _ = self.table.insert(uri, policy, e);
        }
        self.keys.insert(id, (uri.to_owned(), policy));
    }

    /// Removes `member` from entry `id`; the entry goes with its last member.
    pub fn remove(&mut self, id: u64, member: &E::Member) {
        let Some((uri, policy)) = self.keys.get(&id).cloned() else {
            return;
        };
        let empty = match self.table.get_mut(&uri, policy) {
            Some(e) => {
                let members = e.members_mut();
                members.retain(|m| m != member);
                members.is_empty()
            }
            None => true,
        };
        if empty {
            self.table.remove(&uri, policy);
            self.keys.remove(&id);
        }
    }

    /// Calls `f` for every entry whose pattern matches `uri` (publish).
    #[inline]
    pub fn for_each_match<'a>(&'a self, uri: &str, f: impl FnMut(&'a str, MatchPolicy, &'a E)) {
        self.table.for_each_match(uri, f)
    }

    /// The entry that routes `uri`: the most specific match (call).
    #[inline]
    pub fn best_match<'a>(&'a self, uri: &str) -> Option<(&'a str, MatchPolicy, &'a E)> {
        self.table.best_match(uri)
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are no entries and no ids (the leak check).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty() && self.keys.is_empty()
    }
}
