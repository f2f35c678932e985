//! The realm's home shard: its session directory (join, leave) and the
//! replica updates it sends every shard, with the continuations
//! (SUBSCRIBED, REGISTERED, UNREGISTERED) that wait for every shard's
//! acknowledgement.

use std::sync::Arc;

use super::peer::{self, PeerMsg};
use super::realm::{self};
use super::ERROR_LIMIT_EXCEEDED;
use super::{ConnId, RealmId, RouterCore, SessionId, SessionInfo, ShardId, SubId};
use crate::wamp::uris;
use crate::wamp::value::Value;

impl RouterCore {
    pub(crate) fn home_join(
        &mut self,
        from: ShardId,
        realm_id: RealmId,
        conn: ConnId,
        info: Arc<SessionInfo>,
    ) {
        let session = info.session;
        let result = match self.realm_mut(realm_id) {
            None => Err((uris::ERROR_NO_SUCH_REALM, "realm stopped".to_string())),
            Some(r) if r.stopping => {
                Err((uris::ERROR_NO_SUCH_REALM, "realm is stopping".to_string()))
            }
            Some(r) => {
                let max = r.config.limits.max_sessions;
                match r.home_state.as_mut() {
                    None => Err((
                        uris::ERROR_NO_SUCH_REALM,
                        "not the realm's home shard".to_string(),
                    )),
                    Some(h) if max > 0 && h.sessions.len() >= max => Err((
                        ERROR_LIMIT_EXCEEDED,
                        format!("the realm holds its maximum of {max} sessions"),
                    )),
                    Some(h) if h.sessions.contains_key(&session) => Err((
                        uris::ERROR_AUTHENTICATION_FAILED,
                        "session id collision".to_string(),
                    )),
                    Some(h) => {
                        h.sessions.insert(
                            session,
                            realm::SessionRecord {
                                shard: from,
                                info: info.clone(),
                                subs: Vec::new(),
                                regs: Vec::new(),
                            },
                        );
                        Ok(())
                    }
                }
            }
        };
        let ok = result.is_ok();
        self.send_peer(
            from,
            PeerMsg::JoinDone {
                realm: realm_id,
                conn,
                session,
                result,
            },
        );
        if ok {
            self.meta_event(
                realm_id,
                "wamp.session.on_join",
                vec![Value::Dict(info.to_dict())],
            );
        }
    }

    pub(crate) fn home_leave(&mut self, realm_id: RealmId, session: SessionId) {
        let Some(rec) = self
            .realm_mut(realm_id)
            .and_then(|r| r.home_state.as_mut())
            .and_then(|h| h.sessions.remove(&session))
        else {
            return;
        };
        for sub in &rec.subs {
            self.home_drop_subscriber(realm_id, session, rec.shard, *sub);
        }
        for reg in &rec.regs {
            self.home_drop_callee(realm_id, session, rec.shard, *reg, None);
        }
        self.meta_event(
            realm_id,
            "wamp.session.on_leave",
            vec![
                Value::UInt(session),
                Value::from(rec.info.authid.as_str()),
                Value::from(rec.info.authrole.as_str()),
            ],
        );
    }

    /// Starts a replica update on every shard; `then` runs once all have applied it.
    pub(crate) fn home_update(
        &mut self,
        realm_id: RealmId,
        op: peer::ReplicaOp,
        then: Vec<realm::Continuation>,
        mark: Option<(SubId, ShardId)>,
    ) -> Option<u64> {
        let shards = self.shards;
        let h = self.realm_mut(realm_id)?.home_state.as_mut()?;
        let seq = h.next_seq;
        h.next_seq += 1;
        h.pending.insert(
            seq,
            realm::PendingUpdate {
                acks_left: shards,
                then,
                mark,
            },
        );
        self.broadcast(|| PeerMsg::Replica {
            realm: realm_id,
            seq,
            op: op.clone(),
        });
        Some(seq)
    }

    /// Adds a continuation to a pending replica update (or runs it now if none is pending).
    pub(crate) fn home_after(
        &mut self,
        realm_id: RealmId,
        seq: Option<u64>,
        then: realm::Continuation,
    ) {
        if let Some(seq) = seq {
            if let Some(p) = self
                .realm_mut(realm_id)
                .and_then(|r| r.home_state.as_mut())
                .and_then(|h| h.pending.get_mut(&seq))
            {
                p.then.push(then);
                return;
            }
        }
        self.run_continuation(realm_id, then);
    }

    pub(crate) fn home_ack(&mut self, realm_id: RealmId, seq: u64) {
        let Some(h) = self.realm_mut(realm_id).and_then(|r| r.home_state.as_mut()) else {
            return;
        };
        let done = match h.pending.get_mut(&seq) {
            Some(p) => {
                p.acks_left = p.acks_left.saturating_sub(1);
                p.acks_left == 0
            }
            None => false,
        };
        if done {
            if let Some(p) = h.pending.remove(&seq) {
                if let Some((sub, shard)) = p.mark {
                    h.subs.unmark_pending(sub, shard, seq);
                }
                for then in p.then {
                    self.run_continuation(realm_id, then);
                }
            }
        }
    }

    pub(crate) fn run_continuation(&mut self, realm_id: RealmId, then: realm::Continuation) {
        match then {
            realm::Continuation::Subscribed(done) => {
                let shard = done.shard;
                if let Ok(sub) = done.result {
                    // on_subscribe once the subscription is routable everywhere
                    self.meta_event(
                        realm_id,
                        "wamp.subscription.on_subscribe",
                        vec![Value::UInt(done.session), Value::UInt(sub)],
                    );
                }
                self.send_peer(shard, PeerMsg::Subscribed(done));
            }
            realm::Continuation::Registered(done) => {
                let shard = done.shard;
                self.send_peer(shard, PeerMsg::Registered(done));
            }
            realm::Continuation::Unregistered {
                shard,
                conn,
                session,
                request,
            } => {
                self.send_peer(
                    shard,
                    PeerMsg::Unregistered {
                        conn,
                        session,
                        request,
                    },
                );
            }
        }
    }
}
