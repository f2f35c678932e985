//! The state a shard keeps for a realm (whose configuration,
//! [`RealmConfig`], `crate::config::realm` owns): the routing replica every shard holds, the local sessions
//! and subscribers, and — on the realm's home shard only — the authoritative
//! session directory, subscriptions, registrations, retained events and
//! event history.

use super::HashMap;
use std::collections::VecDeque;

use std::sync::Arc;

use super::authz::Roles;
use super::book::{Book, Entry, Replica, ReplicaEntry};
use super::options::InvokePolicy;
use super::peer::{CalleeRef, Publication, ReplicaOp};
use super::{ConnId, RegId, SessionId, ShardId, SubId, TransportId};
use crate::config::realm::RealmConfig;
use crate::dict;
use crate::wamp::id::ScopeIdGen;
use crate::wamp::uri::MatchPolicy;
use crate::wamp::value::Dict;

/// A subscription as a shard's replica knows it: which shards have subscribers.
#[derive(Debug, Clone)]
pub(crate) struct SubReplica {
    pub id: SubId,
    pub shards: Vec<ShardId>,
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

/// A registration as a shard's replica knows it.
#[derive(Debug, Clone)]
pub(crate) struct RegReplica {
    pub id: RegId,
    pub invoke: InvokePolicy,
    pub callees: Vec<CalleeRef>,
    /// This shard's round-robin position (each shard rotates independently).
    pub next: std::cell::Cell<usize>,
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

/// A local subscription: the sessions on this shard that hold it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalSub {
    pub policy: MatchPolicy,
    /// Subscribers: connection, its serializer and its session id.
    pub conns: Vec<(ConnId, crate::codec::Serializer, SessionId)>,
}

/// A session in the home shard's directory.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub shard: ShardId,
    pub info: Arc<super::SessionInfo>,
    pub subs: Vec<SubId>,
    pub regs: Vec<RegId>,
}

/// A subscription in the home shard's authoritative table.
#[derive(Debug, Clone)]
pub(crate) struct HomeSub {
    pub uri: String,
    pub policy: MatchPolicy,
    pub created: String,
    pub subscribers: Vec<(SessionId, ShardId)>,
    /// Per shard: how many subscribers, and the replica update still being acknowledged.
    pub shards: HashMap<ShardId, ShardPresence>,
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

/// A shard's presence in a subscription or registration.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardPresence {
    pub count: usize,
    pub pending: Option<u64>,
}

/// A registration in the home shard's authoritative table.
#[derive(Debug, Clone)]
pub(crate) struct HomeReg {
    pub uri: String,
    pub policy: MatchPolicy,
    pub invoke: InvokePolicy,
    pub created: String,
    pub callees: Vec<(SessionId, ShardId)>,
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

/// What to do once every shard has acknowledged a replica update.
#[derive(Debug)]
pub(crate) enum Continuation {
    /// Tell the subscriber's shard its SUBSCRIBE is done.
    Subscribed(super::peer::SubscribeDone),
    /// Tell the callee's shard its REGISTER is done.
    Registered(super::peer::RegisterDone),
    /// Tell a shard its UNREGISTER is done.
    Unregistered {
        shard: ShardId,
        conn: ConnId,
        session: super::SessionId,
        request: u64,
    },
}

/// A replica update waiting for acknowledgements.
#[derive(Debug)]
pub(crate) struct PendingUpdate {
    pub acks_left: u16,
    pub then: Vec<Continuation>,
    /// The (subscription, shard) presence this update is adding, to unmark when done.
    pub mark: Option<(SubId, ShardId)>,
}

/// The authoritative state of a realm, on its home shard.
#[derive(Debug, Default)]
pub(crate) struct HomeRealm {
    pub sessions: HashMap<SessionId, SessionRecord>,
    pub subs: Book<HomeSub>,
    pub regs: Book<HomeReg>,
    pub ids: ScopeIdGen,
    pub next_seq: u64,
    pub pending: HashMap<u64, PendingUpdate>,
    pub retained: HashMap<String, Arc<Publication>>,
    pub history: HashMap<String, VecDeque<Arc<Publication>>>,
}

/// What one shard holds for one realm.
pub(crate) struct Realm {
    pub config: RealmConfig,
    pub roles: Roles,
    pub home: ShardId,
    /// Replica: subscriptions by pattern, with the shards that have subscribers.
    pub subs: Replica<SubReplica>,
    /// Replica: registrations by pattern, with their callees.
    pub regs: Replica<RegReplica>,
    /// Local subscribers by subscription.
    pub local_subs: HashMap<SubId, LocalSub>,
    /// Local sessions of this realm.
    pub local_sessions: HashMap<SessionId, ConnId>,
    /// Authoritative state, on the home shard only.
    pub home_state: Option<Box<HomeRealm>>,
    /// Closed to new sessions (being stopped).
    pub stopping: bool,
    /// When set, sessions may join only through these transports (and
    /// components' internal ones): through any other the realm does not exist.
    pub only_through: Option<Vec<TransportId>>,
}

impl Realm {
    pub fn new(config: RealmConfig, roles: Roles, shard: ShardId, shards: u16) -> Realm {
        let home = config.home(shards);
        Realm {
            config,
            roles,
            home,
            subs: Replica::default(),
            regs: Replica::default(),
            local_subs: HashMap::default(),
            local_sessions: HashMap::default(),
            home_state: (home == shard).then(|| {
                Box::new(HomeRealm {
                    ids: ScopeIdGen::new(),
                    ..HomeRealm::default()
                })
            }),
            stopping: false,
            only_through: None,
        }
    }

    /// Applies a replica update from the home shard.
    pub fn apply(&mut self, op: &ReplicaOp) {
        match op {
            ReplicaOp::SubAddShard {
                sub,
                uri,
                policy,
                shard,
            } => self.subs.add(*sub, uri, *policy, *shard, || SubReplica {
                id: *sub,
                shards: Vec::new(),
            }),
            ReplicaOp::SubRemoveShard { sub, shard } => self.subs.remove(*sub, shard),
            ReplicaOp::RegAddCallee {
                reg,
                uri,
                policy,
                invoke,
                callee,
            } => self.regs.add(*reg, uri, *policy, *callee, || RegReplica {
                id: *reg,
                invoke: *invoke,
                callees: Vec::new(),
                next: Default::default(),
            }),
            ReplicaOp::RegRemoveCallee { reg, callee } => self.regs.remove(*reg, callee),
        }
    }
}
