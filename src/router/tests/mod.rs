//! Tests of the router core's features, driven through the deterministic
//! simulator with sessions placed on different shards: this file holds the
//! shared helpers, each feature has a file. The simulator comes in through
//! one `use` line, below.

mod auth;
mod dynamic;
mod limits;
mod meta;
mod pubsub;
mod rpc;
mod session;
mod transcode;

use super::iso8601;
use super::ERROR_LIMIT_EXCEEDED;
use crate::codec::Serializer;
use crate::config::realm::{EventHistoryConfig, RealmConfig, StoreConfig};
use crate::config::role::{Allow, Disclose, Permission, RoleConfig};
use crate::dict;
use crate::sim::{Sim, TRANSPORT};
use crate::wamp::message::{Message, MessageType, Payload};
use crate::wamp::uri::MatchPolicy;
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

const JSON: Serializer = Serializer::Json;
const MP: Serializer = Serializer::MsgPack;
const CBOR: Serializer = Serializer::Cbor;

fn allow_all() -> Allow {
    Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    }
}

fn role(name: &str, perms: Vec<Permission>) -> RoleConfig {
    RoleConfig {
        name: name.into(),
        permissions: perms,
        authorizer: None,
        allow_by_default: false,
    }
}

fn perm(uri: &str, policy: Option<MatchPolicy>, allow: Allow) -> Permission {
    Permission {
        uri: uri.into(),
        match_: policy,
        allow,
        disclose: Disclose::default(),
        cache: false,
    }
}

fn open_realm(name: &str) -> RealmConfig {
    let mut r = RealmConfig::new(
        name,
        vec![role(
            "anonymous",
            vec![perm("", Some(MatchPolicy::Prefix), allow_all())],
        )],
    );
    r.home_shard = Some(0);
    r
}

/// A simulator of `shards` shards with `realm1` (anonymous allowed everything, home on shard 0).
fn sim(shards: u16) -> Sim {
    let mut s = Sim::new(shards, 7);
    s.start_realm(0, open_realm("realm1"));
    s
}

fn args(p: &Payload) -> Vec<Value> {
    match p.to_values() {
        Ok(Payload::Values { args, .. }) => args,
        _ => vec![],
    }
}

fn subscribe(s: &mut Sim, c: usize, topic: &str, options: Dict) -> u64 {
    s.send(
        c,
        &Message::Subscribe {
            request: 1,
            options,
            topic: topic.into(),
        },
    );
    s.run();
    // Keep whatever else arrived (meta events) for the test to read.
    let got = s.take(c);
    let mut id = None;
    for m in got {
        match m {
            Message::Subscribed { subscription, .. } if id.is_none() => id = Some(subscription),
            other => s.clients[c].inbox.push_back(other),
        }
    }
    id.unwrap_or_else(|| panic!("expected SUBSCRIBED, got {:?}", s.clients[c].inbox))
}

fn register(s: &mut Sim, c: usize, procedure: &str, options: Dict) -> u64 {
    s.send(
        c,
        &Message::Register {
            request: 1,
            options,
            procedure: procedure.into(),
        },
    );
    s.run();
    match s.take(c).as_slice() {
        [Message::Registered { registration, .. }] => *registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    }
}

fn publish(s: &mut Sim, c: usize, request: u64, topic: &str, options: Dict, a: Vec<Value>) {
    s.send(
        c,
        &Message::Publish {
            request,
            options,
            topic: topic.into(),
            payload: Payload::args(a),
        },
    );
    s.run();
}

fn call(s: &mut Sim, c: usize, request: u64, procedure: &str, options: Dict, a: Vec<Value>) {
    s.send(
        c,
        &Message::Call {
            request,
            options,
            procedure: procedure.into(),
            payload: Payload::args(a),
        },
    );
    s.run();
}

fn events(msgs: &[Message]) -> Vec<(u64, Dict, Vec<Value>)> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Event {
                subscription,
                details,
                payload,
                ..
            } => Some((*subscription, details.clone(), args(payload))),
            _ => None,
        })
        .collect()
}

fn error_of(msgs: &[Message]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        Message::Error { error, .. } => Some(error.clone()),
        _ => None,
    })
}

fn abort_reason(msgs: &[Message]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        Message::Abort { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// The INVOCATION a callee received: (request, registration, details, args).
fn invocation(msgs: &[Message]) -> (u64, u64, Dict, Vec<Value>) {
    msgs.iter()
        .find_map(|m| match m {
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => Some((*request, *registration, details.clone(), args(payload))),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no INVOCATION in {msgs:?}"))
}

fn goodbye(s: &mut Sim, c: usize) {
    s.send(
        c,
        &Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_NORMAL.into(),
        },
    );
    s.run();
    match s.take(c).as_slice() {
        [Message::Goodbye { reason, .. }] => assert_eq!(reason, uris::CLOSE_GOODBYE_AND_OUT),
        other => panic!("{other:?}"),
    }
}

fn welcome_session(got: &[Message]) -> u64 {
    match got {
        [Message::Welcome { session, .. }] => *session,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[test]
fn iso8601_formats() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(1_795_995_249_123), "2026-11-29T23:34:09.123Z");
    assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
}
