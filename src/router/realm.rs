//! The state a shard keeps for a realm (whose configuration,
//! [`RealmConfig`], `crate::config::realm` owns): its roles, home shard and
//! local sessions, and — on the realm's home shard only — the authoritative
//! session directory, the scope ids and the replica updates waiting for
//! acknowledgements. It composes the broker's and the dealer's per-realm
//! state, which their own types own: `Subscriptions` and
//! `HomeSubscriptions` (`subscriptions.rs`: replica, local subscribers,
//! book, retained events, history), `Registrations` and
//! `HomeRegistrations` (`registrations.rs`: replica, book).

use super::HashMap;

use std::sync::Arc;

use super::authz::Roles;
use super::peer::ReplicaOp;
use super::registrations::{HomeRegistrations, Registrations};
use super::subscriptions::{HomeSubscriptions, Subscriptions};
use super::{ConnId, RegId, SessionId, ShardId, SubId, TransportId};
use crate::config::realm::RealmConfig;
use crate::wamp::id::ScopeIdGen;

/// A session in the home shard's directory.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub shard: ShardId,
    pub info: Arc<super::SessionInfo>,
    pub subs: Vec<SubId>,
    pub regs: Vec<RegId>,
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
    /// Subscriptions, retained events and event history (the broker's).
    pub subs: HomeSubscriptions,
    /// Registrations (the dealer's).
    pub regs: HomeRegistrations,
    pub ids: ScopeIdGen,
    pub next_seq: u64,
    pub pending: HashMap<u64, PendingUpdate>,
}

/// What one shard holds for one realm.
pub(crate) struct Realm {
    pub config: RealmConfig,
    pub roles: Roles,
    pub home: ShardId,
    /// Subscriptions: the replica and this shard's subscribers (the broker's).
    pub subs: Subscriptions,
    /// Registrations: the replica (the dealer's).
    pub regs: Registrations,
    /// Local sessions of this realm.
    pub local_sessions: HashMap<SessionId, ConnId>,
    /// Dynamic authorizers' answers that said `cache` (`authorizer.rs`).
    pub authz_cache: super::authz::AuthzCache,
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
            subs: Subscriptions::default(),
            regs: Registrations::default(),
            local_sessions: HashMap::default(),
            home_state: (home == shard).then(|| {
                Box::new(HomeRealm {
                    ids: ScopeIdGen::new(),
                    ..HomeRealm::default()
                })
            }),
            stopping: false,
            only_through: None,
            authz_cache: super::authz::AuthzCache::default(),
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
            } => self.subs.add_shard(*sub, uri, *policy, *shard),
            ReplicaOp::SubRemoveShard { sub, shard } => self.subs.remove_shard(*sub, *shard),
            ReplicaOp::RegAddCallee {
                reg,
                uri,
                policy,
                invoke,
                callee,
            } => self.regs.add_callee(*reg, uri, *policy, *invoke, *callee),
            ReplicaOp::RegRemoveCallee { reg, callee } => self.regs.remove_callee(*reg, callee),
        }
    }
}
