//! Dispatch: a joined session's messages to the broker, the dealer and the
//! meta API, and peer shards' messages to their handlers.

use super::peer::PeerMsg;
use super::ConnState;
use super::{ConnId, RouterCore, ShardId};
use crate::wamp::message::{Message, MessageType};
use crate::wamp::uris;
use crate::wamp::value::Dict;

impl RouterCore {
    pub(crate) fn on_session_message(&mut self, conn: ConnId, msg: Message) {
        // A role with a dynamic authorizer: the message may wait for it.
        if let Some((msg, granted)) = self.authorize_gate(conn, msg) {
            self.dispatch_session(conn, msg, granted);
        }
    }

    /// Handles a joined session's message; `granted` is what the role's
    /// dynamic authorizer decided about it (none: the role's permissions decide).
    pub(crate) fn dispatch_session(
        &mut self,
        conn: ConnId,
        msg: Message,
        granted: Option<super::authz::Granted>,
    ) {
        let granted = granted.as_ref();
        match msg {
            Message::Goodbye { .. } => {
                self.send(
                    conn,
                    &Message::Goodbye {
                        details: Dict::new(),
                        reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
                    },
                );
                // The transport outlives the session: back to waiting for
                // HELLO (spec statechart: CLOSED, then HELLO again).
                self.leave(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = ConnState::Fresh;
                }
                self.arm_deadline(conn, false);
            }
            Message::Abort { .. } => self.drop_conn(conn),
            Message::Hello { .. } => self.protocol_violation(conn, "HELLO on a joined session"),
            Message::Authenticate { .. } => {
                self.protocol_violation(conn, "AUTHENTICATE on a joined session")
            }
            Message::Publish {
                request,
                options,
                topic,
                payload,
            } => self.on_publish(conn, request, options, topic, payload, granted),
            Message::Subscribe {
                request,
                options,
                topic,
            } => self.on_subscribe(conn, request, &options, topic, granted),
            Message::Unsubscribe {
                request,
                subscription,
            } => self.on_unsubscribe(conn, request, subscription),
            Message::Call {
                request,
                options,
                procedure,
                payload,
            } => self.on_call(conn, request, options, procedure, payload, granted),
            Message::Cancel { request, options } => self.on_cancel(conn, request, &options),
            Message::Register {
                request,
                options,
                procedure,
            } => self.on_register(conn, request, &options, procedure, granted),
            Message::Unregister {
                request,
                registration,
            } => self.on_unregister(conn, request, registration),
            Message::Yield {
                request,
                options,
                payload,
            } => self.on_yield(conn, request, &options, payload),
            Message::Error {
                request_type,
                request,
                details,
                error,
                payload,
            } => {
                if request_type == MessageType::Invocation {
                    self.on_invocation_error(conn, request, details, error, payload);
                } else {
                    self.protocol_violation(
                        conn,
                        &format!("ERROR for {} from a client", request_type.name()),
                    );
                }
            }
            other => self
                .protocol_violation(conn, &format!("unexpected {}", other.message_type().name())),
        }
    }

    pub(crate) fn on_peer(&mut self, from: ShardId, msg: PeerMsg) {
        self.stats.peer_received += 1;
        match msg {
            PeerMsg::Join { realm, conn, info } => self.home_join(from, realm, conn, info),
            PeerMsg::JoinDone {
                realm,
                conn,
                session,
                result,
            } => self.on_join_done(realm, conn, session, result),
            PeerMsg::Leave { realm, session } => self.home_leave(realm, session),
            PeerMsg::Subscribe {
                realm,
                conn,
                session,
                request,
                uri,
                policy,
                get_retained,
            } => self.home_subscribe(
                from,
                realm,
                conn,
                session,
                request,
                uri,
                policy,
                get_retained,
            ),
            PeerMsg::Subscribed(done) => self.on_subscribed(done),
            PeerMsg::Unsubscribe {
                realm,
                session,
                sub,
            } => self.home_unsubscribe(realm, session, sub),
            PeerMsg::Publish { publication, subs } => self.deliver(&publication, &subs),
            PeerMsg::Store {
                publication,
                retain,
                ack,
            } => {
                let id = publication.id;
                self.home_store(publication, retain);
                if let Some(ack) = ack {
                    self.send_peer(
                        from,
                        PeerMsg::Stored {
                            ack,
                            publication: id,
                        },
                    );
                }
            }
            PeerMsg::Stored { ack, publication } => {
                if self
                    .session(ack.conn)
                    .is_some_and(|s| s.info.session == ack.session)
                {
                    self.send(
                        ack.conn,
                        &Message::Published {
                            request: ack.request,
                            publication,
                        },
                    );
                }
            }
            PeerMsg::Register {
                realm,
                conn,
                session,
                request,
                uri,
                policy,
                invoke,
            } => self.home_register(from, realm, conn, session, request, uri, policy, invoke),
            PeerMsg::Registered(done) => self.on_registered(done),
            PeerMsg::Unregister {
                realm,
                conn,
                session,
                reg,
                request,
            } => self.home_unregister(from, realm, conn, session, reg, request),
            PeerMsg::Unregistered {
                conn,
                session,
                request,
            } => {
                if self
                    .session(conn)
                    .is_some_and(|s| s.info.session == session)
                {
                    self.send(
                        conn,
                        &Message::Unregistered {
                            request,
                            details: None,
                        },
                    );
                }
            }
            PeerMsg::Invoke(inv) => self.on_invoke(*inv),
            PeerMsg::InvokeMore {
                call,
                caller_shard,
                callee,
                progress,
                payload,
            } => self.on_invoke_more(caller_shard, call, callee, progress, payload),
            PeerMsg::Bounce {
                call,
                callee,
                failure,
            } => self.on_bounce(call, callee, failure),
            PeerMsg::Yield {
                call,
                progress,
                payload,
            } => self.on_result(call, progress, payload),
            PeerMsg::CallError { call, failure } => self.on_call_error(call, failure),
            PeerMsg::Cancel {
                call,
                caller_shard,
                callee,
                mode,
            } => self.on_interrupt(caller_shard, call, callee, mode),
            PeerMsg::CancelSkipped { call } => self.on_cancel_skipped(call),
            PeerMsg::Replica { realm, seq, op } => {
                if let Some(r) = self.realm_mut(realm) {
                    r.apply(&op);
                    let home = r.home;
                    self.send_peer(home, PeerMsg::ReplicaAck { realm, seq });
                }
            }
            PeerMsg::ReplicaAck { realm, seq } => self.home_ack(realm, seq),
            PeerMsg::MetaCall {
                realm,
                call,
                caller_shard,
                caller,
                procedure,
                args,
                kwargs,
            } => {
                let result = self.home_meta(realm, caller, &procedure, &args, &kwargs);
                self.send_peer(caller_shard, PeerMsg::MetaResult { call, result });
            }
            PeerMsg::MetaResult { call, result } => self.on_meta_result(call, result),
            PeerMsg::Kill {
                realm,
                session,
                reason,
                message,
            } => {
                let conn = self
                    .realm(realm)
                    .and_then(|r| r.local_sessions.get(&session).copied());
                if let Some(conn) = conn {
                    self.goodbye_and_close(conn, &reason, message);
                }
            }
        }
    }
}
