//! The broker's state for one realm, with one owner for each piece:
//! [`Subscriptions`] on every shard (the replica of the subscriptions, by
//! pattern, with the shards that have subscribers; this shard's subscribers
//! by subscription) and [`HomeSubscriptions`] on the realm's home shard (the
//! authoritative book of subscriptions with their subscribers and shards,
//! the retained events and the event history). Both are mutated only through
//! their methods; `broker.rs` speaks the protocol around them.

use std::collections::VecDeque;
use std::sync::Arc;

use super::book::{Book, Entry, Replica, ReplicaEntry};
use super::peer::Publication;
use super::{ConnId, HashMap, SessionId, ShardId, SubId};
use crate::codec::Serializer;
use crate::dict;
use crate::wamp::id::ScopeIdGen;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::value::Dict;

/// A subscription as a shard's replica knows it: which shards have subscribers.
#[derive(Debug, Clone)]
pub(crate) struct SubReplica {
    id: SubId,
    shards: Vec<ShardId>,
}

impl ReplicaEntry for SubReplica {
    type Member = ShardId;

    fn id(&self) -> u64 {
        self.id
    }
    fn members_mut(&mut self) -> &mut Vec<ShardId> {
        &mut self.shards
    }
    fn renew(&mut self, fresh: SubReplica) {
        self.id = fresh.id;
        self.shards.clear();
    }
}

/// A local subscription: the sessions on this shard that hold it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalSub {
    policy: MatchPolicy,
    /// Subscribers: connection, its serializer and its session id.
    conns: Vec<(ConnId, Serializer, SessionId)>,
}

impl LocalSub {
    /// The subscription's match policy.
    #[inline]
    pub fn policy(&self) -> MatchPolicy {
        self.policy
    }

    /// The subscribers: connection, its serializer and its session id.
    #[inline]
    pub fn conns(&self) -> &[(ConnId, Serializer, SessionId)] {
        &self.conns
    }
}

/// What every shard holds of a realm's subscriptions: the replica (for
/// routing a publication to the shards with subscribers) and this shard's
/// subscribers (for delivering it).
#[derive(Default)]
pub(crate) struct Subscriptions {
    /// Replica: subscriptions by pattern, with the shards that have subscribers.
    replica: Replica<SubReplica>,
    /// Local subscribers by subscription.
    local: HashMap<SubId, LocalSub>,
}

impl Subscriptions {
    /// Replica update: `shard` has subscribers of `sub` (`uri`, `policy`).
    pub fn add_shard(&mut self, sub: SubId, uri: &str, policy: MatchPolicy, shard: ShardId) {
        self.replica.add(sub, uri, policy, shard, || SubReplica {
            id: sub,
            shards: Vec::new(),
        })
    }

    /// Replica update: `shard` has no subscribers of `sub` any more.
    pub fn remove_shard(&mut self, sub: SubId, shard: ShardId) {
        self.replica.remove(sub, &shard)
    }

    /// Calls `f` with (shard, subscription) for every shard with subscribers
    /// of every subscription matching `topic` (publish).
    #[inline]
    pub fn for_each_target(&self, topic: &str, mut f: impl FnMut(ShardId, SubId)) {
        self.replica.for_each_match(topic, |_, _, e| {
            for shard in &e.shards {
                f(*shard, e.id);
            }
        });
    }

    /// This shard's subscribers of `sub`.
    #[inline]
    pub fn local(&self, sub: &SubId) -> Option<&LocalSub> {
        self.local.get(sub)
    }

    /// Adds a subscriber on this shard (once per connection).
    pub fn add_local(
        &mut self,
        sub: SubId,
        policy: MatchPolicy,
        conn: ConnId,
        serializer: Serializer,
        session: SessionId,
    ) {
        let local = self.local.entry(sub).or_insert_with(|| LocalSub {
            policy,
            conns: Vec::new(),
        });
        if !local.conns.iter().any(|(c, _, _)| *c == conn) {
            local.conns.push((conn, serializer, session));
        }
    }

    /// Removes a subscriber on this shard; the subscription goes with its last one.
    pub fn remove_local(&mut self, sub: &SubId, conn: ConnId) {
        if let Some(l) = self.local.get_mut(sub) {
            l.conns.retain(|(c, _, _)| *c != conn);
            if l.conns.is_empty() {
                self.local.remove(sub);
            }
        }
    }

    /// How many subscriptions have subscribers on this shard (the leak check).
    pub fn local_len(&self) -> usize {
        self.local.len()
    }

    /// How many subscriptions the replica holds.
    pub fn replica_len(&self) -> usize {
        self.replica.len()
    }

    /// Whether the replica is empty (the leak check).
    pub fn replica_is_empty(&self) -> bool {
        self.replica.is_empty()
    }
}

/// A subscription in the home shard's authoritative table.
#[derive(Debug, Clone)]
pub(crate) struct HomeSub {
    uri: String,
    policy: MatchPolicy,
    created: String,
    subscribers: Vec<(SessionId, ShardId)>,
    /// Per shard: how many subscribers, and the replica update still being acknowledged.
    shards: HashMap<ShardId, ShardPresence>,
}

impl Entry for HomeSub {
    const ON_CREATE: &'static str = "wamp.subscription.on_create";
    const ON_REMOVE: &'static str = "wamp.subscription.on_unsubscribe";
    const ON_DELETE: &'static str = "wamp.subscription.on_delete";

    fn pattern(&self) -> (&str, MatchPolicy) {
        (&self.uri, self.policy)
    }
    fn members(&self) -> &[(SessionId, ShardId)] {
        &self.subscribers
    }
    fn members_mut(&mut self) -> &mut Vec<(SessionId, ShardId)> {
        &mut self.subscribers
    }
    fn details(&self, id: u64) -> Dict {
        dict! { "id" => id, "created" => self.created.as_str(), "uri" => self.uri.as_str(), "match" => self.policy.as_str() }
    }
}

/// A shard's presence in a subscription.
#[derive(Debug, Clone, Default)]
struct ShardPresence {
    count: usize,
    pending: Option<u64>,
}

/// What [`HomeSubscriptions::add_subscriber`] did.
pub(crate) struct Subscribed {
    /// The subscription.
    pub sub: SubId,
    /// The session was a subscriber already (a repeated SUBSCRIBE raced the first).
    pub already: bool,
    /// The session is its shard's first subscriber: the replicas need the shard.
    pub first_on_shard: bool,
    /// The replica update adding the shard still being acknowledged, if any.
    pub pending: Option<u64>,
    /// The new subscription's details, when this created it (for `on_create`).
    pub created: Option<Dict>,
}

/// What the realm's home shard holds of its subscriptions: the book
/// (subscriptions with their subscribers and, per shard, how many and the
/// replica update in flight), the retained events and the event history.
#[derive(Debug, Default)]
pub(crate) struct HomeSubscriptions {
    book: Book<HomeSub>,
    /// The last retained event per topic.
    retained: HashMap<String, Arc<Publication>>,
    /// The kept events per topic, oldest first.
    history: HashMap<usize, VecDeque<Arc<Publication>>>,
}

impl HomeSubscriptions {
    /// The book, to read (the meta API, the leak check).
    pub fn book(&self) -> &Book<HomeSub> {
        &self.book
    }

    /// Adds `session` (on `shard`) as a subscriber of (`uri`, `policy`), the
    /// subscription created (with an id from `ids`) if there is none.
    pub fn add_subscriber(
        &mut self,
        ids: &mut ScopeIdGen,
        uri: &str,
        policy: MatchPolicy,
        now: String,
        session: SessionId,
        shard: ShardId,
    ) -> Subscribed {
        let (sub, created) = match self.book.find(&(uri.to_owned(), policy)) {
            Some(id) => (id, false),
            None => {
                let id = ids.next();
                self.book.insert(
                    id,
                    HomeSub {
                        uri: uri.to_owned(),
                        policy,
                        created: now,
                        subscribers: Vec::new(),
                        shards: Default::default(),
                    },
                );
                (id, true)
            }
        };
        let mut done = Subscribed {
            sub,
            already: false,
            first_on_shard: false,
            pending: None,
            created: None,
        };
        let Some(entry) = self.book.get_mut(&sub) else {
            return done;
        };
        if entry.subscribers.iter().any(|(s, _)| *s == session) {
            done.already = true;
            done.pending = entry.shards.get(&shard).and_then(|p| p.pending);
            return done;
        }
        entry.subscribers.push((session, shard));
        let presence = entry.shards.entry(shard).or_default();
        presence.count += 1;
        done.first_on_shard = presence.count == 1;
        done.pending = presence.pending;
        done.created = created.then(|| entry.details(sub));
        done
    }

    /// Notes `seq` as the replica update adding `shard` to `sub` (unless a
    /// later one is noted, or the shard has no subscribers any more).
    pub fn mark_pending(&mut self, sub: SubId, shard: ShardId, seq: Option<u64>) {
        if let Some(p) = self
            .book
            .get_mut(&sub)
            .and_then(|e| e.shards.get_mut(&shard))
        {
            if p.count > 0 && seq.is_some_and(|s| p.pending.is_none_or(|q| q < s)) {
                p.pending = seq;
            }
        }
    }

    /// Every shard acknowledged replica update `seq`, which added `shard` to `sub`.
    pub fn unmark_pending(&mut self, sub: SubId, shard: ShardId, seq: u64) {
        if let Some(presence) = self
            .book
            .get_mut(&sub)
            .and_then(|s| s.shards.get_mut(&shard))
        {
            if presence.pending == Some(seq) {
                presence.pending = None;
            }
        }
    }

    /// Removes `session` (on `shard`) from `sub`'s subscribers. `None` when
    /// it was not one; else whether it was its shard's last subscriber and
    /// whether the subscription was deleted with it.
    pub fn remove_subscriber(
        &mut self,
        sub: SubId,
        session: SessionId,
        shard: ShardId,
    ) -> Option<(bool, bool)> {
        self.book.remove_member(sub, session, |entry| {
            let Some(p) = entry.shards.get_mut(&shard) else {
                return false;
            };
            p.count = p.count.saturating_sub(1);
            if p.count == 0 {
                entry.shards.remove(&shard);
                return true;
            }
            false
        })
    }

    /// Keeps a publication as its topic's retained event and/or in the
    /// event history `history` names: the realm's `event-history` entry
    /// and how many events it keeps (one history per entry, shared by
    /// the topics it matches).
    pub fn store(&mut self, p: Arc<Publication>, retain: bool, history: Option<(usize, usize)>) {
        if let Some((slot, limit)) = history {
            let q = self.history.entry(slot).or_default();
            q.push_back(p.clone());
            while q.len() > limit {
                q.pop_front();
            }
        }
        if retain {
            self.retained.insert(p.topic.clone(), p);
        }
    }

    /// Appends to `out` the retained events whose topic (`uri`, `policy`) matches.
    pub fn retained_matching(
        &self,
        uri: &str,
        policy: MatchPolicy,
        out: &mut Vec<Arc<Publication>>,
    ) {
        for (topic, p) in &self.retained {
            if uri::matches(uri, policy, topic) {
                out.push(p.clone());
            }
        }
    }

    /// The kept events of the topics subscription `sub` matches, in no
    /// particular order; `None` when there is no such subscription.
    pub fn history_of(&self, sub: SubId) -> Option<Vec<Arc<Publication>>> {
        let s = self.book.get(&sub)?;
        let mut events = Vec::new();
        for q in self.history.values() {
            for p in q {
                if uri::matches(&s.uri, s.policy, &p.topic) {
                    events.push(p.clone());
                }
            }
        }
        Some(events)
    }
}
