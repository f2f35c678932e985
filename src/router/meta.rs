//! The meta API, realm-wide across shards: `wamp.session.*`,
//! `wamp.subscription.*` and `wamp.registration.*` procedures, answered by the
//! realm's home shard from its authoritative tables; their meta events; and
//! testaments (`wamp.session.add_testament` / `flush_testaments`), kept on
//! the session's own shard and published when the session leaves.

use std::sync::Arc;

use super::book::Entry;
use super::dealer::CallerCall;
use super::peer::{CallFailure, PeerMsg, Publication};
use super::{ConnId, RealmId, RouterCore, Session, SessionId, SessionInfo};
use crate::dict;
use crate::wamp::message::{Id, Message, MessageType, Payload};
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

/// A testament: an event to publish when its session goes away.
#[derive(Debug, Clone)]
pub(crate) struct Testament {
    pub topic: String,
    pub payload: Payload,
    pub options: Dict,
}

/// A session's testaments, by scope.
#[derive(Debug, Clone, Default)]
pub(crate) struct Testaments {
    pub destroyed: Vec<Testament>,
    pub detached: Vec<Testament>,
}

fn arg_u64(args: &[Value], i: usize, name: &str) -> Result<u64, CallFailure> {
    args.get(i).and_then(Value::as_u64).ok_or_else(|| {
        CallFailure::message(
            uris::ERROR_INVALID_ARGUMENT,
            format!("argument {i} ({name}) must be an id"),
        )
    })
}

fn arg_str<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a str, CallFailure> {
    args.get(i).and_then(Value::as_str).ok_or_else(|| {
        CallFailure::message(
            uris::ERROR_INVALID_ARGUMENT,
            format!("argument {i} ({name}) must be a string"),
        )
    })
}

fn ok(args: Vec<Value>) -> Result<Payload, CallFailure> {
    Ok(Payload::args(args))
}

/// Reads `options.match` of lookup calls.
fn lookup_policy(args: &[Value]) -> Result<MatchPolicy, CallFailure> {
    match args
        .get(1)
        .and_then(Value::as_dict)
        .and_then(|d| d.get("match"))
    {
        None | Some(Value::Null) => Ok(MatchPolicy::Exact),
        Some(Value::Str(s)) => MatchPolicy::from_option(Some(s))
            .map_err(|e| CallFailure::message(uris::ERROR_INVALID_ARGUMENT, e.to_string())),
        Some(_) => Err(CallFailure::message(
            uris::ERROR_INVALID_ARGUMENT,
            "match must be a string",
        )),
    }
}

/// Reads the optional authrole filter of wamp.session.count/list.
fn role_filter(args: &[Value]) -> Option<Vec<String>> {
    args.first().and_then(Value::as_list).map(|l| {
        l.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

impl RouterCore {
    /// Publishes a meta event from the realm's home shard, if the realm offers the meta API.
    /// Publishes the meta events of `session` leaving entry `id`
    /// (`on_unsubscribe` / `on_unregister`), and of the entry's deletion with
    /// its last member (`on_delete`).
    pub(crate) fn member_removed<E: Entry>(
        &mut self,
        realm: RealmId,
        session: SessionId,
        id: u64,
        deleted: bool,
    ) {
        self.meta_event(
            realm,
            E::ON_REMOVE,
            vec![Value::UInt(session), Value::UInt(id)],
        );
        if deleted {
            self.meta_event(
                realm,
                E::ON_DELETE,
                vec![Value::UInt(session), Value::UInt(id)],
            );
        }
    }

    pub(crate) fn meta_event(&mut self, realm: RealmId, topic: &str, args: Vec<Value>) {
        if self
            .realm(realm)
            .is_some_and(|r| r.config.options.enable_meta_api)
        {
            self.publish_from_router(realm, topic, args, None);
        }
    }

    /// A CALL of a `wamp.*` procedure on the caller's shard.
    pub(crate) fn on_meta_call(
        &mut self,
        conn: ConnId,
        request: Id,
        realm_id: RealmId,
        procedure: String,
        payload: Payload,
        _info: &Arc<SessionInfo>,
    ) {
        const T: MessageType = MessageType::Call;
        let (args, kwargs) = match payload.to_values() {
            Ok(Payload::Values { args, kwargs }) => (args, kwargs.unwrap_or_default()),
            Ok(_) => (Vec::new(), Dict::new()),
            Err(e) => {
                return self.error(
                    conn,
                    T,
                    request,
                    uris::ERROR_INVALID_ARGUMENT,
                    Some(&e.to_string()),
                )
            }
        };
        match procedure.as_str() {
            "wamp.session.add_testament" => {
                let r = self.add_testament(conn, &args, &kwargs);
                return self.answer(conn, request, r);
            }
            "wamp.session.flush_testaments" => {
                let r = self.flush_testaments(conn, &args, &kwargs);
                return self.answer(conn, request, r);
            }
            _ => {}
        }
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let caller = s.info.session;
        let call = self.dealer.open_call(CallerCall {
            conn,
            request,
            realm: realm_id,
            procedure: procedure.clone(),
            callee: None,
            tried: Vec::new(),
            receive_progress: false,
            timeout: 0,
            timer: None,
            caller: None,
            forward_for: None,
            progressive: false,
            payload: Payload::Empty,
            internal: None,
        });
        if let Some(s) = self.session_mut(conn) {
            s.extra().calls.insert(request, call);
        }
        let Some(home) = self.realm(realm_id).map(|r| r.home) else {
            return;
        };
        self.send_peer(
            home,
            PeerMsg::MetaCall {
                realm: realm_id,
                call,
                caller_shard: self.shard,
                caller,
                procedure,
                args,
                kwargs,
            },
        );
    }

    fn answer(&mut self, conn: ConnId, request: Id, result: Result<Payload, CallFailure>) {
        match result {
            Ok(payload) => self.send(
                conn,
                &Message::Result {
                    request,
                    details: Dict::new(),
                    payload,
                },
            ),
            Err(f) => self.error_from(conn, MessageType::Call, request, f),
        }
    }

    pub(crate) fn on_meta_result(
        &mut self,
        call: super::CallId,
        result: Result<Payload, CallFailure>,
    ) {
        self.finish_call(call, result);
    }

    fn add_testament(
        &mut self,
        conn: ConnId,
        args: &[Value],
        kwargs: &Dict,
    ) -> Result<Payload, CallFailure> {
        let topic = arg_str(args, 0, "topic")?.to_owned();
        let t_args = args
            .get(1)
            .and_then(Value::as_list)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let t_kwargs = args.get(2).and_then(Value::as_dict).cloned();
        let publish_options = kwargs
            .get("publish_options")
            .and_then(Value::as_dict)
            .cloned()
            .unwrap_or_default();
        let scope = kwargs
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("destroyed");
        let realm_check = self
            .session(conn)
            .and_then(|s| self.realm(s.realm))
            .map(|r| r.config.options.uri_check);
        if let Some(check) = realm_check {
            uri::validate(&topic, check, MatchPolicy::Exact)
                .map_err(|e| CallFailure::message(uris::ERROR_INVALID_URI, e.to_string()))?;
        }
        let Some(s) = self.session_mut(conn) else {
            return ok(vec![]);
        };
        let t = Testament {
            topic,
            payload: Payload::Values {
                args: t_args,
                kwargs: t_kwargs,
            },
            options: publish_options,
        };
        match scope {
            "destroyed" => s.extra().testaments.destroyed.push(t),
            "detached" => s.extra().testaments.detached.push(t),
            other => {
                return Err(CallFailure::message(
                    uris::ERROR_INVALID_ARGUMENT,
                    format!("scope must be 'destroyed' or 'detached', not '{other}'"),
                ))
            }
        }
        ok(vec![])
    }

    fn flush_testaments(
        &mut self,
        conn: ConnId,
        _args: &[Value],
        kwargs: &Dict,
    ) -> Result<Payload, CallFailure> {
        let scope = kwargs
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("destroyed");
        let Some(s) = self.session_mut(conn) else {
            return ok(vec![]);
        };
        let n = match scope {
            "destroyed" => s
                .extra_mut()
                .map_or(0, |x| std::mem::take(&mut x.testaments.destroyed).len()),
            "detached" => s
                .extra_mut()
                .map_or(0, |x| std::mem::take(&mut x.testaments.detached).len()),
            other => {
                return Err(CallFailure::message(
                    uris::ERROR_INVALID_ARGUMENT,
                    format!("scope must be 'destroyed' or 'detached', not '{other}'"),
                ))
            }
        };
        ok(vec![Value::UInt(n as u64)])
    }

    /// Publishes a leaving session's testaments (detached, then destroyed: it will not come back).
    pub(crate) fn publish_testaments(&mut self, session: &Session) {
        let realm = session.realm;
        let authorized = |core: &RouterCore, topic: &str| {
            core.testament_allowed(realm, &session.info.authrole, topic)
        };
        let Some(testaments) = session.extra_ref().map(|x| &x.testaments) else {
            return;
        };
        for t in testaments
            .detached
            .iter()
            .chain(testaments.destroyed.iter())
        {
            if !authorized(self, &t.topic) {
                continue;
            }
            let retain = matches!(t.options.get("retain"), Some(Value::Bool(true)));
            let publication = Arc::new(Publication {
                realm,
                id: crate::wamp::id::global_id(&mut self.rng),
                topic: t.topic.clone(),
                publisher: Some(session.info.clone()),
                disclose: matches!(t.options.get("disclose_me"), Some(Value::Bool(true))),
                exclude_me: true,
                filters: None,
                retained: false,
                forward_for: None,
                payload: t.payload.clone(),
            });
            self.route(&publication);
            let history = self
                .realm(realm)
                .is_some_and(|r| r.config.history_slot(&t.topic).is_some());
            if retain || history {
                if let Some(home) = self.realm(realm).map(|r| r.home) {
                    self.send_peer(
                        home,
                        PeerMsg::Store {
                            publication,
                            retain,
                            ack: None,
                        },
                    );
                }
            }
        }
    }

    /// Answers a meta procedure on the realm's home shard.
    pub(crate) fn home_meta(
        &mut self,
        realm_id: RealmId,
        caller: SessionId,
        procedure: &str,
        args: &[Value],
        kwargs: &Dict,
    ) -> Result<Payload, CallFailure> {
        let Some(realm) = self.realm(realm_id) else {
            return Err(CallFailure::uri(uris::ERROR_NO_SUCH_REALM));
        };
        let Some(h) = realm.home_state.as_ref() else {
            return Err(CallFailure::uri(uris::ERROR_NO_SUCH_REALM));
        };
        match procedure {
            "wamp.session.count" => {
                let filter = role_filter(args);
                let n = h
                    .sessions
                    .values()
                    .filter(|r| filter.as_ref().is_none_or(|f| f.contains(&r.info.authrole)))
                    .count();
                ok(vec![Value::UInt(n as u64)])
            }
            "wamp.session.list" => {
                let filter = role_filter(args);
                let mut ids: Vec<u64> = h
                    .sessions
                    .iter()
                    .filter(|(_, r)| filter.as_ref().is_none_or(|f| f.contains(&r.info.authrole)))
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort_unstable();
                ok(vec![Value::List(
                    ids.into_iter().map(Value::UInt).collect(),
                )])
            }
            "wamp.session.get" => {
                let id = arg_u64(args, 0, "session")?;
                let r = h
                    .sessions
                    .get(&id)
                    .ok_or_else(|| CallFailure::uri(uris::ERROR_NO_SUCH_SESSION))?;
                ok(vec![Value::Dict(r.info.to_dict())])
            }
            "wamp.session.kill" => {
                let id = arg_u64(args, 0, "session")?;
                if id == caller {
                    return Err(CallFailure::message(
                        uris::ERROR_INVALID_ARGUMENT,
                        "a session cannot kill itself",
                    ));
                }
                let r = h
                    .sessions
                    .get(&id)
                    .ok_or_else(|| CallFailure::uri(uris::ERROR_NO_SUCH_SESSION))?;
                let shard = r.shard;
                let (reason, message) = kill_reason(kwargs)?;
                self.send_peer(
                    shard,
                    PeerMsg::Kill {
                        realm: realm_id,
                        session: id,
                        reason,
                        message,
                    },
                );
                ok(vec![])
            }
            "wamp.session.kill_by_authid" | "wamp.session.kill_by_authrole" => {
                let by_id = procedure.ends_with("authid");
                let key = arg_str(args, 0, if by_id { "authid" } else { "authrole" })?.to_owned();
                let (reason, message) = kill_reason(kwargs)?;
                let mut targets: Vec<(SessionId, super::ShardId)> = h
                    .sessions
                    .iter()
                    .filter(|(id, r)| {
                        **id != caller
                            && if by_id {
                                r.info.authid == key
                            } else {
                                r.info.authrole == key
                            }
                    })
                    .map(|(id, r)| (*id, r.shard))
                    .collect();
                targets.sort_unstable();
                for (session, shard) in &targets {
                    self.send_peer(
                        *shard,
                        PeerMsg::Kill {
                            realm: realm_id,
                            session: *session,
                            reason: reason.clone(),
                            message: message.clone(),
                        },
                    );
                }
                ok(vec![Value::List(
                    targets.into_iter().map(|(s, _)| Value::UInt(s)).collect(),
                )])
            }
            "wamp.subscription.list" | "wamp.registration.list" => {
                let subs = procedure.starts_with("wamp.subscription");
                let mut by: [Vec<u64>; 3] = Default::default();
                let entries: Vec<(u64, MatchPolicy)> = if subs {
                    h.subs
                        .book()
                        .iter()
                        .map(|(id, s)| (*id, s.pattern().1))
                        .collect()
                } else {
                    h.regs
                        .book()
                        .iter()
                        .map(|(id, r)| (*id, r.pattern().1))
                        .collect()
                };
                for (id, p) in entries {
                    by[policy_index(p)].push(id);
                }
                let mut d = Dict::new();
                for (i, name) in ["exact", "prefix", "wildcard"].iter().enumerate() {
                    by[i].sort_unstable();
                    d.insert(
                        (*name).into(),
                        Value::List(by[i].iter().map(|v| Value::UInt(*v)).collect()),
                    );
                }
                ok(vec![Value::Dict(d)])
            }
            "wamp.subscription.lookup" | "wamp.registration.lookup" => {
                let uri = arg_str(args, 0, "uri")?.to_owned();
                let policy = lookup_policy(args)?;
                let found = if procedure.starts_with("wamp.subscription") {
                    h.subs.book().find(&(uri, policy))
                } else {
                    h.regs.book().find(&(uri, policy))
                };
                ok(vec![found.map_or(Value::Null, Value::UInt)])
            }
            "wamp.subscription.match" => {
                let uri = arg_str(args, 0, "topic")?;
                let mut ids: Vec<u64> = h
                    .subs
                    .book()
                    .iter()
                    .filter(|(_, s)| {
                        let (pattern, policy) = s.pattern();
                        uri::matches(pattern, policy, uri)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort_unstable();
                ok(vec![if ids.is_empty() {
                    Value::Null
                } else {
                    Value::List(ids.into_iter().map(Value::UInt).collect())
                }])
            }
            "wamp.registration.match" => {
                let uri = arg_str(args, 0, "procedure")?;
                ok(vec![realm
                    .regs
                    .best_match(uri)
                    .map_or(Value::Null, |(_, _, e)| Value::UInt(e.id()))])
            }
            "wamp.subscription.get" => {
                let id = arg_u64(args, 0, "subscription")?;
                let s = h
                    .subs
                    .book()
                    .get(&id)
                    .ok_or_else(|| CallFailure::uri(uris::ERROR_NO_SUCH_SUBSCRIPTION))?;
                ok(vec![Value::Dict(s.details(id))])
            }
            "wamp.registration.get" => {
                let id = arg_u64(args, 0, "registration")?;
                let r = h
                    .regs
                    .book()
                    .get(&id)
                    .ok_or_else(|| CallFailure::uri(uris::ERROR_NO_SUCH_REGISTRATION))?;
                ok(vec![Value::Dict(r.details(id))])
            }
            "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
                let id = arg_u64(args, 0, "subscription")?;
                let s = h
                    .subs
                    .book()
                    .get(&id)
                    .ok_or_else(|| CallFailure::uri(uris::ERROR_NO_SUCH_SUBSCRIPTION))?;
                if procedure.ends_with("count_subscribers") {
                    ok(vec![Value::UInt(s.members().len() as u64)])
                } else {
                    let mut ids: Vec<u64> = s.members().iter().map(|(s, _)| *s).collect();
                    ids.sort_unstable();
                    ok(vec![Value::List(
                        ids.into_iter().map(Value::UInt).collect(),
                    )])
                }
            }
            "wamp.registration.list_callees" | "wamp.registration.count_callees" => {
                let id = arg_u64(args, 0, "registration")?;
                let r = h
                    .regs
                    .book()
                    .get(&id)
                    .ok_or_else(|| CallFailure::uri(uris::ERROR_NO_SUCH_REGISTRATION))?;
                if procedure.ends_with("count_callees") {
                    ok(vec![Value::UInt(r.members().len() as u64)])
                } else {
                    ok(vec![Value::List(
                        r.members().iter().map(|(s, _)| Value::UInt(*s)).collect(),
                    )])
                }
            }
            "wamp.subscription.get_events" => {
                let id = arg_u64(args, 0, "subscription")?;
                let limit = args
                    .get(1)
                    .and_then(Value::as_u64)
                    .map_or(usize::MAX, |l| l as usize);
                let mut events = h
                    .subs
                    .history_of(id)
                    .ok_or_else(|| CallFailure::uri(uris::ERROR_NO_SUCH_SUBSCRIPTION))?;
                // newest first, as Crossbar.io
                events.sort_by_key(|p| std::cmp::Reverse(p.id));
                let mut out = Vec::new();
                for p in events.into_iter().take(limit) {
                    let values = match p.payload.to_values() {
                        Ok(Payload::Values { args, kwargs }) => (args, kwargs),
                        _ => (Vec::new(), None),
                    };
                    let mut d = dict! { "timestamp" => "", "subscription" => id, "publication" => p.id, "topic" => p.topic.as_str() };
                    d.insert("args".into(), Value::List(values.0));
                    d.insert("kwargs".into(), Value::Dict(values.1.unwrap_or_default()));
                    out.push(Value::Dict(d));
                }
                ok(vec![Value::List(out)])
            }
            _ => Err(CallFailure::message(
                uris::ERROR_NO_SUCH_PROCEDURE,
                format!("no meta procedure '{procedure}'"),
            )),
        }
    }
}

fn policy_index(p: MatchPolicy) -> usize {
    match p {
        MatchPolicy::Exact => 0,
        MatchPolicy::Prefix => 1,
        MatchPolicy::Wildcard => 2,
    }
}

/// The `reason` and `message` keyword arguments of the kill procedures.
fn kill_reason(kwargs: &Dict) -> Result<(String, Option<String>), CallFailure> {
    let reason = match kwargs.get("reason") {
        None | Some(Value::Null) => uris::CLOSE_KILLED.to_owned(),
        Some(Value::Str(r)) => {
            uri::validate(r, uri::UriCheck::Loose, MatchPolicy::Exact)
                .map_err(|e| CallFailure::message(uris::ERROR_INVALID_URI, e.to_string()))?;
            r.clone()
        }
        Some(_) => {
            return Err(CallFailure::message(
                uris::ERROR_INVALID_ARGUMENT,
                "reason must be a URI",
            ))
        }
    };
    let message = kwargs
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((reason, message))
}
