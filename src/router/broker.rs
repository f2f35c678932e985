//! The broker: SUBSCRIBE/UNSUBSCRIBE through the realm's home shard, and
//! PUBLISH routed once to each shard with subscribers, where EVENT is encoded
//! once per (subscription, serializer) and shared between subscribers.
//! It owns the fan-out scratch list ([`Broker`]); the subscriptions, retained
//! events and history it reads and changes are the realm's, owned by
//! `subscriptions.rs` (`Subscriptions`, `HomeSubscriptions`) and changed
//! only through their methods.

use std::sync::Arc;

use bytes::Bytes;

use super::authz::{decide, Action, Granted};
use super::book::Entry;
use super::limits::ERROR_LIMIT_EXCEEDED;
use super::options::{flag, forward_for, match_policy};
use super::peer::{Filters, PeerMsg, Publication, ReplicaOp, SubscribeDone};
use super::realm::Continuation;
use super::subscriptions::HomeSub;
use super::{ConnId, ConnState, RealmId, RouterCore, SessionId, ShardId, SubId};
use crate::codec::Serializer;
use crate::wamp::message::{Id, Message, MessageType, Payload};
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

/// The broker's state on one shard that is not per realm: the scratch list
/// a publication's routing fills (kept to reuse its allocation). The
/// subscriptions are per realm, owned by `subscriptions.rs`'s types.
#[derive(Default)]
pub(crate) struct Broker {
    /// (shard, subscription) pairs a publication goes to.
    targets: Vec<(ShardId, SubId)>,
}

/// Reads a list of ids from PUBLISH.Options.
fn id_list(options: &Dict, key: &str) -> Result<Option<Vec<SessionId>>, String> {
    match options.get(key) {
        None => Ok(None),
        Some(Value::List(l)) => l
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| format!("{key} must be a list of session ids"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{key} must be a list of session ids")),
    }
}

/// Reads a list of strings from PUBLISH.Options.
fn str_list(options: &Dict, key: &str) -> Result<Option<Vec<String>>, String> {
    match options.get(key) {
        None => Ok(None),
        Some(Value::List(l)) => l
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{key} must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{key} must be a list of strings")),
    }
}

/// Parses the receiver filters of PUBLISH.Options.
fn filters(options: &Dict) -> Result<Option<Box<Filters>>, String> {
    let f = Filters {
        exclude: id_list(options, "exclude")?.unwrap_or_default(),
        exclude_authid: str_list(options, "exclude_authid")?.unwrap_or_default(),
        exclude_authrole: str_list(options, "exclude_authrole")?.unwrap_or_default(),
        eligible: id_list(options, "eligible")?,
        eligible_authid: str_list(options, "eligible_authid")?,
        eligible_authrole: str_list(options, "eligible_authrole")?,
    };
    Ok((f != Filters::default()).then(|| Box::new(f)))
}

impl RouterCore {
    // ---- subscribe ------------------------------------------------------------

    pub(crate) fn on_subscribe(
        &mut self,
        conn: ConnId,
        request: Id,
        options: &Dict,
        topic: String,
        granted: Option<&Granted>,
    ) {
        const T: MessageType = MessageType::Subscribe;
        let Some(s) = self.session(conn) else { return };
        let (realm_id, session, role) = (s.realm, s.info.session, s.info.authrole.clone());
        let held = s.subs.len();
        let existing = s
            .subs
            .iter()
            .find(|(_, (u, _))| *u == topic)
            .map(|(id, (_, p))| (*id, *p));
        let policy = match match_policy(options) {
            Ok(p) => p,
            Err(m) => return self.error(conn, T, request, uris::ERROR_INVALID_ARGUMENT, Some(&m)),
        };
        let get_retained = match flag(options, "get_retained") {
            Ok(b) => b.unwrap_or(false),
            Err(m) => return self.error(conn, T, request, uris::ERROR_INVALID_ARGUMENT, Some(&m)),
        };
        let Some(realm) = self.realm(realm_id) else {
            return;
        };
        if let Some((error, message)) =
            RouterCore::refusal(realm, &role, &topic, policy, Action::Subscribe, granted)
        {
            return self.error(conn, T, request, error, Some(&message));
        }
        if let Some((id, p)) = existing {
            if p == policy {
                // Subscribing again answers with the subscription held.
                return self.send(
                    conn,
                    &Message::Subscribed {
                        request,
                        subscription: id,
                    },
                );
            }
        }
        let max = realm.config.limits.max_subscriptions_per_session;
        if max > 0 && held >= max {
            return self.error(
                conn,
                T,
                request,
                ERROR_LIMIT_EXCEEDED,
                Some(&format!("a session may hold {max} subscriptions")),
            );
        }
        let home = realm.home;
        self.send_peer(
            home,
            PeerMsg::Subscribe {
                realm: realm_id,
                conn,
                session,
                request,
                uri: topic,
                policy,
                get_retained,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn home_subscribe(
        &mut self,
        from: ShardId,
        realm_id: RealmId,
        conn: ConnId,
        session: SessionId,
        request: Id,
        uri: String,
        policy: MatchPolicy,
        get_retained: bool,
    ) {
        let now = self.now_iso();
        let Some(realm) = self.realm_mut(realm_id) else {
            return;
        };
        let max = realm.config.limits.max_subscriptions_per_session;
        let Some(h) = realm.home_state.as_mut() else {
            return;
        };
        let Some(rec) = h.sessions.get(&session) else {
            // The session left meanwhile.
            return;
        };
        let mut done = SubscribeDone {
            shard: from,
            conn,
            session,
            request,
            result: Ok(0),
            uri: uri.clone(),
            policy,
            retained: Vec::new(),
        };
        if max > 0 && rec.subs.len() >= max {
            done.result = Err(ERROR_LIMIT_EXCEEDED);
            self.send_peer(from, PeerMsg::Subscribed(done));
            return;
        }
        let added = h
            .subs
            .add_subscriber(&mut h.ids, &uri, policy, now, session, from);
        let sub = added.sub;
        done.result = Ok(sub);
        if get_retained {
            h.subs.retained_matching(&uri, policy, &mut done.retained);
        }
        if added.already {
            // Already subscribed (a repeated SUBSCRIBE raced the first).
            self.home_after(realm_id, added.pending, Continuation::Subscribed(done));
            return;
        }
        if let Some(rec) = h.sessions.get_mut(&session) {
            rec.subs.push(sub);
        }
        if let Some(details) = added.created {
            self.meta_event(
                realm_id,
                HomeSub::ON_CREATE,
                vec![Value::UInt(session), Value::Dict(details)],
            );
        }
        if added.first_on_shard {
            let op = ReplicaOp::SubAddShard {
                sub,
                uri,
                policy,
                shard: from,
            };
            let seq = self.home_update(
                realm_id,
                op,
                vec![Continuation::Subscribed(done)],
                Some((sub, from)),
            );
            if let Some(h) = self.realm_mut(realm_id).and_then(|r| r.home_state.as_mut()) {
                h.subs.mark_pending(sub, from, seq);
            }
        } else {
            self.home_after(realm_id, added.pending, Continuation::Subscribed(done));
        }
    }

    /// The home shard answered a SUBSCRIBE from this shard.
    pub(crate) fn on_subscribed(&mut self, done: SubscribeDone) {
        const T: MessageType = MessageType::Subscribe;
        let conn = done.conn;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let serializer = c.serializer;
        let ConnState::Joined(s) = &mut c.state else {
            return;
        };
        if s.info.session != done.session {
            return;
        }
        let sub = match done.result {
            Ok(sub) => sub,
            Err(e) => return self.error(conn, T, done.request, e, None),
        };
        let realm_id = s.realm;
        s.subs.insert(sub, (done.uri.clone(), done.policy));
        let session = s.info.session;
        if let Some(realm) = self.realm_mut(realm_id) {
            realm
                .subs
                .add_local(sub, done.policy, conn, serializer, session);
        }
        self.send(
            conn,
            &Message::Subscribed {
                request: done.request,
                subscription: sub,
            },
        );
        for p in &done.retained {
            self.deliver_to(conn, sub, done.policy, p, true);
        }
    }

    // ---- unsubscribe ----------------------------------------------------------

    pub(crate) fn on_unsubscribe(&mut self, conn: ConnId, request: Id, sub: SubId) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let realm_id = s.realm;
        let session = s.info.session;
        if s.subs.remove(&sub).is_none() {
            return self.error(
                conn,
                MessageType::Unsubscribe,
                request,
                uris::ERROR_NO_SUCH_SUBSCRIPTION,
                None,
            );
        }
        let Some(realm) = self.realm_mut(realm_id) else {
            return;
        };
        realm.subs.remove_local(&sub, conn);
        let home = realm.home;
        self.send_peer(
            home,
            PeerMsg::Unsubscribe {
                realm: realm_id,
                session,
                sub,
            },
        );
        // No event reaches the session after this: its local subscriber entry is gone.
        self.send(
            conn,
            &Message::Unsubscribed {
                request,
                details: None,
            },
        );
    }

    pub(crate) fn home_unsubscribe(&mut self, realm_id: RealmId, session: SessionId, sub: SubId) {
        let Some(h) = self.realm_mut(realm_id).and_then(|r| r.home_state.as_mut()) else {
            return;
        };
        let Some(rec) = h.sessions.get_mut(&session) else {
            return;
        };
        let shard = rec.shard;
        rec.subs.retain(|s| *s != sub);
        self.home_drop_subscriber(realm_id, session, shard, sub);
    }

    /// Removes a subscriber from the authoritative table; updates replicas and
    /// publishes the meta events.
    pub(crate) fn home_drop_subscriber(
        &mut self,
        realm_id: RealmId,
        session: SessionId,
        shard: ShardId,
        sub: SubId,
    ) {
        let Some(h) = self.realm_mut(realm_id).and_then(|r| r.home_state.as_mut()) else {
            return;
        };
        let Some((last_on_shard, deleted)) = h.subs.remove_subscriber(sub, session, shard) else {
            return;
        };
        if last_on_shard {
            self.home_update(
                realm_id,
                ReplicaOp::SubRemoveShard { sub, shard },
                Vec::new(),
                None,
            );
        }
        self.member_removed::<HomeSub>(realm_id, session, sub, deleted);
    }

    // ---- publish --------------------------------------------------------------

    pub(crate) fn on_publish(
        &mut self,
        conn: ConnId,
        request: Id,
        options: Dict,
        topic: String,
        payload: Payload,
        granted: Option<&Granted>,
    ) {
        const T: MessageType = MessageType::Publish;
        let Some(s) = self.session(conn) else { return };
        let (realm_id, info) = (s.realm, s.info.clone());
        let session = info.session;
        let ack = matches!(options.get("acknowledge"), Some(Value::Bool(true)));
        let Some(realm) = self.realm(realm_id) else {
            return;
        };
        // Errors reach the publisher only when it asked for acknowledgement (spec).
        macro_rules! fail {
            ($uri:expr, $msg:expr) => {{
                if ack {
                    let m: String = $msg;
                    self.error(conn, T, request, $uri, Some(&m));
                }
                return;
            }};
        }
        if let Err(e) = uri::validate(&topic, realm.config.options.uri_check, MatchPolicy::Exact) {
            fail!(
                uris::ERROR_INVALID_URI,
                format!("invalid topic '{topic}': {e}")
            );
        }
        if uri::is_reserved(&topic) {
            fail!(
                uris::ERROR_INVALID_URI,
                format!("'{topic}' is reserved for the router")
            );
        }
        let decision = match decide(
            &realm.roles,
            &info.authrole,
            &topic,
            Action::Publish,
            granted,
        ) {
            Ok(d) => d,
            Err((error, message)) => fail!(error, message),
        };
        let max = realm.config.limits.max_payload_size;
        if max > 0 && payload.raw_len().unwrap_or(0) > max {
            fail!(
                uris::ERROR_PAYLOAD_SIZE_EXCEEDED,
                format!("payload larger than {max} bytes")
            );
        }
        if ack {
            // Subscribers anywhere may use any serializer: an acknowledged
            // publication that some could not receive is refused before anyone
            // gets it. Costs a walk of binary payloads only (see codec docs).
            if let Err(e) = crate::codec::check_transcodable_everywhere(&payload) {
                fail!(
                    uris::ERROR_INVALID_ARGUMENT,
                    format!("not published, as not every subscriber could receive it: {e}")
                );
            }
        }
        let relays = self.may_relay(conn, &info);
        let parsed = (|| -> Result<_, String> {
            Ok((
                flag(&options, "exclude_me")?.unwrap_or(true),
                flag(&options, "disclose_me")?.unwrap_or(false),
                flag(&options, "retain")?.unwrap_or(false),
                filters(&options)?,
                if relays { forward_for(&options)? } else { None },
            ))
        })();
        let (exclude_me, disclose_me, retain, filters, forward_for) = match parsed {
            Ok(p) => p,
            Err(m) => fail!(uris::ERROR_INVALID_ARGUMENT, m),
        };
        if disclose_me && !realm.config.options.allow_disclose_me {
            fail!(
                uris::ERROR_OPTION_DISALLOWED_DISCLOSE_ME,
                "this realm does not allow publisher disclosure".into()
            );
        }
        let history = realm.config.history_slot(&topic).is_some();
        let home = realm.home;
        let publication = Arc::new(Publication {
            realm: realm_id,
            id: crate::wamp::id::global_id(&mut self.rng),
            topic,
            publisher: Some(info),
            disclose: disclose_me || decision.disclose,
            exclude_me,
            filters,
            retained: false,
            forward_for,
            payload,
        });
        let id = publication.id;
        self.route(&publication);
        let stored = retain || history;
        if stored {
            let ack = ack.then_some(super::peer::StoreAck {
                conn,
                session,
                request,
            });
            self.send_peer(
                home,
                PeerMsg::Store {
                    publication,
                    retain,
                    ack,
                },
            );
        }
        if ack && !stored {
            self.send(
                conn,
                &Message::Published {
                    request,
                    publication: id,
                },
            );
        }
    }

    /// Routes a publication from this shard: once to each shard with subscribers.
    pub(crate) fn route(&mut self, publication: &Arc<Publication>) {
        let mut targets = std::mem::take(&mut self.broker.targets);
        targets.clear();
        if let Some(realm) = self.realm(publication.realm) {
            realm
                .subs
                .for_each_target(&publication.topic, |shard, sub| targets.push((shard, sub)));
        }
        targets.sort_unstable();
        let mut local: Vec<SubId> = Vec::new();
        let mut i = 0;
        while i < targets.len() {
            let shard = targets[i].0;
            let mut j = i;
            while j < targets.len() && targets[j].0 == shard {
                j += 1;
            }
            let subs: Vec<SubId> = targets[i..j].iter().map(|t| t.1).collect();
            if shard == self.shard {
                local = subs;
            } else {
                self.send_peer(
                    shard,
                    PeerMsg::Publish {
                        publication: publication.clone(),
                        subs,
                    },
                );
            }
            i = j;
        }
        self.broker.targets = targets;
        if !local.is_empty() {
            self.deliver(publication, &local);
        }
    }

    /// The EVENT details for one subscription.
    fn event_details(policy: MatchPolicy, p: &Publication, retained: bool) -> Dict {
        let mut details = Dict::new();
        if policy != MatchPolicy::Exact {
            details.insert("topic".into(), Value::from(p.topic.as_str()));
        }
        if p.disclose {
            // A relayed event discloses its original publisher, the first
            // entry of `forward_for` (as Crossbar.io), not the link's session.
            let origin = p.forward_for.as_ref().and_then(|f| match f.first() {
                Some(Value::Dict(d)) => Some(d),
                _ => None,
            });
            if let Some(o) = origin {
                for (from, to) in [
                    ("session", "publisher"),
                    ("authid", "publisher_authid"),
                    ("authrole", "publisher_authrole"),
                ] {
                    if let Some(v) = o.get(from) {
                        details.insert(to.into(), v.clone());
                    }
                }
            } else if let Some(info) = &p.publisher {
                details.insert("publisher".into(), Value::UInt(info.session));
                details.insert("publisher_authid".into(), Value::from(info.authid.as_str()));
                details.insert(
                    "publisher_authrole".into(),
                    Value::from(info.authrole.as_str()),
                );
            }
        }
        if let Some(f) = &p.forward_for {
            details.insert("forward_for".into(), Value::List(f.clone()));
        }
        if retained {
            details.insert("retained".into(), Value::Bool(true));
        }
        details
    }

    /// Delivers a publication to this shard's subscribers of `subs`.
    pub(crate) fn deliver(&mut self, p: &Publication, subs: &[SubId]) {
        let RouterCore {
            realms,
            conns,
            out,
            stats,
            realm_stats,
            ..
        } = self;
        let Some(realm) = realms.get(p.realm as usize).and_then(Option::as_ref) else {
            return;
        };
        let publisher = p.publisher.as_ref().map(|i| i.session);
        let mut sent = 0u64;
        let mut failed = 0u64;
        let mut failure = None;
        for sub in subs {
            let Some(local) = realm.subs.local(sub) else {
                continue;
            };
            // One encoding per serializer, tried once: a failure is not retried per subscriber.
            let mut frames: [Option<Result<Bytes, ()>>; 3] = [None, None, None];
            for &(conn, serializer, session) in local.conns() {
                if p.exclude_me && publisher == Some(session) {
                    continue;
                }
                if let Some(f) = &p.filters {
                    let admitted = match conns.get(&conn).map(|c| &c.state) {
                        Some(ConnState::Joined(s)) => {
                            f.admits(session, &s.info.authid, &s.info.authrole)
                        }
                        _ => false,
                    };
                    if !admitted {
                        continue;
                    }
                }
                let slot = &mut frames[serializer_index(serializer)];
                if slot.is_none() {
                    let msg = Message::Event {
                        subscription: *sub,
                        publication: p.id,
                        details: Self::event_details(local.policy(), p, p.retained),
                        payload: p.payload.clone(),
                    };
                    *slot = Some(match serializer.encode(&msg) {
                        Ok(f) => Ok(Bytes::from(f)),
                        Err(e) => {
                            failure.get_or_insert((serializer, e));
                            Err(())
                        }
                    });
                }
                if let Some(Err(())) = slot {
                    failed += 1;
                }
                if let Some(Ok(frame)) = slot {
                    stats.bytes_sent += frame.len() as u64;
                    out.push(super::Output::Send {
                        conn,
                        frame: frame.clone(),
                        ty: MessageType::Event,
                    });
                    sent += 1;
                }
            }
        }
        let idx = MessageType::Event.index();
        stats.sent[idx] += sent;
        if let Some(rs) = realm_stats.get_mut(p.realm as usize) {
            rs.sent[idx] += sent;
        }
        if let Some((serializer, e)) = failure {
            self.transcode_failed(
                failed,
                format_args!(
                    "EVENT of publication {} to {failed} subscriber(s) ({serializer}: {e})",
                    p.id
                ),
            );
        }
    }

    /// Delivers one publication to one connection (retained events on subscribe).
    fn deliver_to(
        &mut self,
        conn: ConnId,
        sub: SubId,
        policy: MatchPolicy,
        p: &Publication,
        retained: bool,
    ) {
        let msg = Message::Event {
            subscription: sub,
            publication: p.id,
            details: Self::event_details(policy, p, retained),
            payload: p.payload.clone(),
        };
        self.send(conn, &msg);
    }

    /// Publishes an event from the router itself (meta events, testaments are published as their session).
    pub(crate) fn publish_from_router(
        &mut self,
        realm: RealmId,
        topic: &str,
        args: Vec<Value>,
        kwargs: Option<Dict>,
    ) {
        let publication = Arc::new(Publication {
            realm,
            id: crate::wamp::id::global_id(&mut self.rng),
            topic: topic.to_owned(),
            publisher: None,
            disclose: false,
            exclude_me: false,
            filters: None,
            retained: false,
            forward_for: None,
            payload: Payload::Values { args, kwargs },
        });
        self.route(&publication);
    }

    /// Home shard: keep a publication as retained and/or in the topic's history.
    pub(crate) fn home_store(&mut self, p: Arc<Publication>, retain: bool) {
        let Some(realm) = self.realm_mut(p.realm) else {
            return;
        };
        let limit = realm.config.history_slot(&p.topic);
        if let Some(h) = realm.home_state.as_mut() {
            h.subs.store(p, retain, limit);
        }
    }
}

fn serializer_index(s: Serializer) -> usize {
    match s {
        Serializer::Json => 0,
        Serializer::MsgPack => 1,
        Serializer::Cbor => 2,
    }
}
