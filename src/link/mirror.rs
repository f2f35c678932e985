//! One direction of a link's mirroring: the subscriptions and registrations
//! of the router one leg is on (the *watched* router) mirrored through the
//! other leg onto the other router (the *acting* side), and the events and
//! invocations those mirrors receive relayed back to the watched router.
//!
//! Changes are reconciled one entry at a time: a meta event, or the list
//! read when the legs join, names a subscription or registration; the
//! reconciler reads it again (`get`, then its members) and makes the mirror
//! match: present while a member is interest by the topology rule
//! ([`super::topology`]). An entry refused by the acting router, or whose
//! read went unanswered, is tried again every second; every entry is read
//! again when the links around change.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use glommio::channels::local_channel::{self, LocalSender};

use super::topology::{Side, Topology, FORWARD_FOR_KEY, PREFIX};
use super::LinkStats;
use crate::router::options::MAX_FORWARD_HOPS;
use crate::transport::dial::{CallStep, Session};
use crate::wamp::message::{Id, Payload};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

/// How a direction is set up.
pub struct Setup {
    /// The leg on the watched router.
    pub watch: Session,
    /// The leg on the other router, where mirrors are made.
    pub act: Session,
    /// Mirror subscriptions.
    pub subscriptions: bool,
    /// Mirror registrations.
    pub registrations: bool,
    /// `exclude_authid` for events relayed onto the watched router.
    pub exclude_authid: Vec<String>,
    /// The link's two legs' session ids (never counted as interest; a
    /// `forward_for` naming one has crossed this link before).
    pub own: Rc<[Id; 2]>,
    /// The link's figures.
    pub stats: Arc<LinkStats>,
    /// Whether the watched router is the local one (what flows is then
    /// remote-to-local).
    pub toward_local: bool,
    /// The link's id, for log lines.
    pub link: String,
    /// The most the watched leg may queue before events are dropped and
    /// calls refused (`queue_limit_bytes`; [`super::queue`]).
    pub queue_limit: usize,
    /// What the link knows of the links around it (the topology rule).
    pub topology: Rc<Topology>,
    /// Which of the link's routers is the watched one.
    pub watched: Side,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sub,
    Reg,
}

/// A mirror on the acting side, and the task relaying what it receives.
struct Mirrored {
    id: Id,
    _task: glommio::Task<()>,
}

struct State {
    setup: Setup,
    mirrors: RefCell<HashMap<(Kind, Id), Mirrored>>,
    /// Recent publication ids (acting side): an event that matches several
    /// mirrored subscriptions is relayed once.
    seen: RefCell<(HashSet<Id>, VecDeque<Id>)>,
    /// Open relayed calls: acting-side invocation request -> watched-side call request.
    calls: RefCell<HashMap<Id, Id>>,
    /// Every entry of the watched router seen (mirrored or not): read
    /// again when the topology changes.
    known: RefCell<HashSet<(Kind, Id)>>,
    /// Entries whose mirror the acting router refused: tried again every
    /// [`RETRY`] (a mirror of another link that is on its way out, in a
    /// mesh whose topology is still settling, say).
    refused: RefCell<HashSet<(Kind, Id)>>,
    /// Entries waiting for the reconciler (each once).
    queued: RefCell<HashSet<(Kind, Id)>>,
    /// This direction's own `forward_for` entry (the acting leg: session,
    /// link token, authid, authrole), built once: the legs do not change
    /// while the direction runs.
    leg: Value,
    /// `exclude_authid` of relayed events, built once (`None`: none).
    exclude: Option<Value>,
}

/// Queues entry `e` for the reconciler unless it is queued already.
fn enqueue(state: &State, tx: &LocalSender<(Kind, Id)>, e: (Kind, Id)) {
    if state.queued.borrow_mut().insert(e) {
        let _ = tx.try_send(e);
    }
}

/// How long a read of the meta API may take before it is tried again later
/// (an answer that never comes must not stall the reconciler).
const READ_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Calls `procedure` on `session`, failing with `wamp.error.timeout` when
/// no answer comes within [`READ_WITHIN`].
pub(super) async fn read(
    session: &Session,
    procedure: &str,
    args: Vec<Value>,
) -> Result<(Vec<Value>, Dict), crate::client::session::CallError> {
    futures_lite::future::or(session.call(procedure, args, Dict::new()), async {
        glommio::timer::sleep(READ_WITHIN).await;
        Err(crate::client::session::CallError::uri("wamp.error.timeout"))
    })
    .await
}

/// ERROR.Details key of a call refused as a loop (the caller's link tries again).
const LOOP_KEY: &str = "rlink_loop";

/// How often a link makes a call that came back refused as a loop.
const LOOP_TRIES: u32 = 4;

const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Counts and logs (once per entry) a mirror the acting router refused.
fn refused(state: &State, kind: Kind, id: Id, what: &str, uri: &str, error: &str) {
    let s = &state.setup;
    if state.refused.borrow_mut().insert((kind, id)) {
        s.stats.mirror_failures.fetch_add(1, Ordering::Relaxed);
        log::warn!("link '{}': cannot mirror {what} '{uri}': {error}", s.link);
    }
}

/// A running direction; dropping it (or [`Mirror::stop`]) stops its tasks.
pub struct Mirror {
    tasks: Vec<glommio::Task<()>>,
    state: Rc<State>,
}

const SEEN: usize = 4096;

impl Mirror {
    /// Starts watching and mirroring.
    pub fn start(setup: Setup) -> Mirror {
        let (tx, rx) = local_channel::new_unbounded::<(Kind, Id)>();
        let leg = leg_entry(&setup);
        let exclude = (!setup.exclude_authid.is_empty()).then(|| {
            Value::List(
                setup
                    .exclude_authid
                    .iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect(),
            )
        });
        let state = Rc::new(State {
            setup,
            mirrors: RefCell::new(HashMap::new()),
            seen: RefCell::new((HashSet::new(), VecDeque::new())),
            calls: RefCell::new(HashMap::new()),
            known: RefCell::new(HashSet::new()),
            refused: RefCell::new(HashSet::new()),
            queued: RefCell::new(HashSet::new()),
            leg,
            exclude,
        });
        let tx = Rc::new(tx);
        let mut tasks = Vec::new();
        // The watcher: meta events, then the existing entries.
        {
            let state = state.clone();
            let tx = tx.clone();
            tasks.push(glommio::spawn_local(async move { watch(state, tx).await }));
        }
        // Refused mirrors are tried again.
        {
            let state = state.clone();
            let tx = tx.clone();
            tasks.push(glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(RETRY).await;
                    let again: Vec<(Kind, Id)> = state.refused.borrow().iter().copied().collect();
                    for e in again {
                        enqueue(&state, &tx, e);
                    }
                }
            }));
        }
        // A change of the links around: every entry is read again.
        {
            let state = state.clone();
            let changes = state.setup.topology.listen();
            tasks.push(glommio::spawn_local(async move {
                while changes.recv().await.is_some() {
                    let all: Vec<(Kind, Id)> = state.known.borrow().iter().copied().collect();
                    for e in all {
                        enqueue(&state, &tx, e);
                    }
                }
            }));
        }
        // The reconciler: one entry at a time.
        {
            let state = state.clone();
            tasks.push(glommio::spawn_local(async move {
                while let Some((kind, id)) = rx.recv().await {
                    state.queued.borrow_mut().remove(&(kind, id));
                    reconcile(&state, kind, id).await;
                }
            }));
        }
        // INTERRUPTs of relayed calls become CANCELs of the onward call.
        {
            let state = state.clone();
            tasks.push(glommio::spawn_local(async move {
                while let Some((request, options)) = state.setup.act.next_interrupt().await {
                    let call = state.calls.borrow().get(&request).copied();
                    if let Some(call) = call {
                        let mode = options
                            .get("mode")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        let _ = state
                            .setup
                            .watch
                            .cancel(call, Some(mode.as_deref().unwrap_or("killnowait")));
                    }
                }
            }));
        }
        Mirror { tasks, state }
    }

    /// Stops the direction's tasks and forgets its mirrors (the legs
    /// closing removes them from the routers).
    pub fn stop(mut self) {
        self.tasks.clear();
        let n =
            self.state
                .mirrors
                .borrow_mut()
                .drain()
                .fold((0, 0), |(s, r), ((k, _), _)| match k {
                    Kind::Sub => (s + 1, r),
                    Kind::Reg => (s, r + 1),
                });
        let st = &self.state.setup.stats;
        st.subscriptions_mirrored.fetch_sub(n.0, Ordering::Relaxed);
        st.registrations_mirrored.fetch_sub(n.1, Ordering::Relaxed);
    }
}

fn id_of(v: Option<&Value>) -> Option<Id> {
    match v? {
        Value::UInt(u) => Some(*u),
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::Dict(d) => id_of(d.get("id")),
        _ => None,
    }
}

/// Subscribes to the watched router's meta events, then lists what exists;
/// every id seen goes to the reconciler.
async fn watch(state: Rc<State>, tx: Rc<LocalSender<(Kind, Id)>>) {
    let s = &state.setup;
    let mut meta = Vec::new();
    let mut kinds = Vec::new();
    if s.subscriptions {
        kinds.push((Kind::Sub, "wamp.subscription"));
    }
    if s.registrations {
        kinds.push((Kind::Reg, "wamp.registration"));
    }
    for (kind, base) in &kinds {
        let topics: &[&str] = match kind {
            Kind::Sub => &["on_create", "on_subscribe", "on_unsubscribe", "on_delete"],
            Kind::Reg => &["on_create", "on_register", "on_unregister", "on_delete"],
        };
        for t in topics {
            match s.watch.subscribe(&format!("{base}.{t}"), Dict::new()).await {
                Ok(sub) => meta.push((*kind, sub)),
                Err(e) => {
                    log::warn!(
                        "link '{}': cannot subscribe to {base}.{t}: {} (the link's role needs the meta API)",
                        s.link,
                        e.uri
                    );
                    return;
                }
            }
        }
    }
    // Each meta subscription feeds the reconciler.
    let mut feeders = Vec::new();
    for (kind, sub) in meta {
        let tx = tx.clone();
        let state = state.clone();
        feeders.push(glommio::spawn_local(async move {
            while let Some(ev) = sub.next().await {
                let (args, _) = crate::client::session::values_of(&ev.payload);
                if let Some(id) = id_of(args.get(1)) {
                    enqueue(&state, &tx, (kind, id));
                }
            }
        }));
    }
    // What exists already (crossbar#1909, #2079).
    for (kind, base) in &kinds {
        match s
            .watch
            .call(&format!("{base}.list"), Vec::new(), Dict::new())
            .await
        {
            Ok((args, _)) => {
                if let Some(Value::Dict(d)) = args.first() {
                    for policy in ["exact", "prefix", "wildcard"] {
                        if let Some(Value::List(ids)) = d.get(policy) {
                            for id in ids.iter().filter_map(|v| id_of(Some(v))) {
                                enqueue(&state, &tx, (*kind, id));
                            }
                        }
                    }
                }
            }
            Err(e) => log::warn!("link '{}': {base}.list failed: {}", s.link, e.uri),
        }
    }
    for f in feeders {
        f.await;
    }
}

/// What an entry of the watched router should be mirrored as: (uri,
/// options) while a member other than the link's legs exists.
async fn wanted(state: &State, kind: Kind, id: Id) -> Result<Option<(String, Dict)>, ()> {
    let s = &state.setup;
    let (get, members) = match kind {
        Kind::Sub => (
            "wamp.subscription.get",
            "wamp.subscription.list_subscribers",
        ),
        Kind::Reg => ("wamp.registration.get", "wamp.registration.list_callees"),
    };
    let args = match read(&s.watch, get, vec![Value::UInt(id)]).await {
        Ok((args, _)) => args,
        Err(e) if e.uri.starts_with("wamp.error.no_such_") => {
            // Gone: nothing to read again when the topology changes.
            state.known.borrow_mut().remove(&(kind, id));
            state.refused.borrow_mut().remove(&(kind, id));
            return Ok(None);
        }
        // Not answered now (the leg closing, say): read again later.
        Err(_) => return Err(()),
    };
    let Some(Value::Dict(d)) = args.first() else {
        return Ok(None);
    };
    let Some(uri) = d.get("uri").and_then(Value::as_str).map(str::to_owned) else {
        return Ok(None);
    };
    // The meta API's own topics stay on their router (bridge_meta_api is
    // not built), and the links' markers on theirs.
    if crate::wamp::uri::is_reserved(&uri) || uri.starts_with(PREFIX) {
        state.known.borrow_mut().remove(&(kind, id));
        return Ok(None);
    }
    let args = match read(&s.watch, members, vec![Value::UInt(id)]).await {
        Ok((args, _)) => args,
        Err(e) if e.uri.starts_with("wamp.error.no_such_") => return Ok(None),
        Err(_) => return Err(()),
    };
    let Some(Value::List(sessions)) = args.first() else {
        return Ok(None);
    };
    let foreign = sessions
        .iter()
        .filter_map(|v| id_of(Some(v)))
        .any(|sid| !s.own.contains(&sid) && s.topology.is_interest(s.watched, sid));
    if !foreign {
        return Ok(None);
    }
    let mut options = Dict::new();
    if let Some(m) = d.get("match") {
        options.insert("match".into(), m.clone());
    }
    if kind == Kind::Reg {
        if let Some(i) = d.get("invoke") {
            options.insert("invoke".into(), i.clone());
        }
    }
    Ok(Some((uri, options)))
}

/// Makes the mirror of entry `id` match the watched router.
async fn reconcile(state: &Rc<State>, kind: Kind, id: Id) {
    state.known.borrow_mut().insert((kind, id));
    let Ok(want) = wanted(state, kind, id).await else {
        // Tried again with the refused ones (not counted as a failure).
        state.refused.borrow_mut().insert((kind, id));
        return;
    };
    if want.is_none() {
        state.refused.borrow_mut().remove(&(kind, id));
    }
    let have = state.mirrors.borrow().contains_key(&(kind, id));
    if have {
        state.refused.borrow_mut().remove(&(kind, id));
    }
    let s = &state.setup;
    match (want, have) {
        (Some((uri, options)), false) => {
            let task = match kind {
                Kind::Sub => match s.act.subscribe(&uri, options).await {
                    Ok(sub) => {
                        let act_id = sub.id;
                        let st = state.clone();
                        let fallback = uri.clone();
                        let task = glommio::spawn_local(async move {
                            while let Some(ev) = sub.next().await {
                                relay_event(&st, &fallback, ev.publication, ev.details, ev.payload)
                                    .await;
                            }
                        });
                        s.stats
                            .subscriptions_mirrored
                            .fetch_add(1, Ordering::Relaxed);
                        Some((act_id, task))
                    }
                    Err(e) => {
                        refused(state, kind, id, "subscription", &uri, &e.uri);
                        None
                    }
                },
                Kind::Reg => match s.act.register(&uri, options).await {
                    Ok(reg) => {
                        let act_id = reg.id;
                        let st = state.clone();
                        let fallback = uri.clone();
                        let task = glommio::spawn_local(async move {
                            while let Some(inv) = reg.next().await {
                                let st = st.clone();
                                let fallback = fallback.clone();
                                glommio::spawn_local(async move {
                                    relay_call(
                                        &st,
                                        &fallback,
                                        inv.request,
                                        inv.details,
                                        inv.payload,
                                    )
                                    .await
                                })
                                .detach();
                            }
                        });
                        s.stats
                            .registrations_mirrored
                            .fetch_add(1, Ordering::Relaxed);
                        Some((act_id, task))
                    }
                    Err(e) => {
                        refused(state, kind, id, "registration", &uri, &e.uri);
                        None
                    }
                },
            };
            if let Some((act_id, task)) = task {
                state.refused.borrow_mut().remove(&(kind, id));
                state.mirrors.borrow_mut().insert(
                    (kind, id),
                    Mirrored {
                        id: act_id,
                        _task: task,
                    },
                );
            }
        }
        (None, true) => {
            let m = state.mirrors.borrow_mut().remove(&(kind, id));
            if let Some(m) = m {
                match kind {
                    Kind::Sub => {
                        s.stats
                            .subscriptions_mirrored
                            .fetch_sub(1, Ordering::Relaxed);
                        let _ = s.act.unsubscribe(m.id).await;
                    }
                    Kind::Reg => {
                        s.stats
                            .registrations_mirrored
                            .fetch_sub(1, Ordering::Relaxed);
                        let _ = s.act.unregister(m.id).await;
                    }
                }
            }
        }
        _ => {}
    }
}

/// `forward_for` of a relayed event or invocation, extended by the acting
/// leg: `None` when it has crossed this link before or is too long (a loop).
fn extend_forward_for(state: &State, details: &Dict, origin: &[&str; 3]) -> Option<Vec<Value>> {
    let s = &state.setup;
    let mut ff: Vec<Value> = match details.get("forward_for") {
        Some(Value::List(l)) => l.clone(),
        _ => Vec::new(),
    };
    let crossed = ff.iter().any(|e| match e {
        Value::Dict(d) => id_of(d.get("session")).is_some_and(|sid| s.own.contains(&sid)),
        _ => false,
    });
    if crossed || ff.len() + 2 > MAX_FORWARD_HOPS {
        s.stats.loops_dropped.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    // The original publisher or caller first, when disclosed (Crossbar.io
    // reports forward_for[0] as such).
    if ff.is_empty() {
        if let Some(session) = details.get(origin[0]) {
            let mut e = Dict::new();
            e.insert("session".into(), session.clone());
            for (from, to) in [(origin[1], "authid"), (origin[2], "authrole")] {
                if let Some(v) = details.get(from) {
                    e.insert(to.into(), v.clone());
                }
            }
            ff.push(Value::Dict(e));
        }
    }
    ff.push(state.leg.clone());
    Some(ff)
}

/// The acting leg's `forward_for` entry: its session, the link's token and
/// the leg's authid and authrole from its WELCOME.
fn leg_entry(s: &Setup) -> Value {
    let welcome = s.act.welcome_details();
    let mut e = Dict::new();
    e.insert("session".into(), Value::UInt(s.act.id()));
    e.insert(FORWARD_FOR_KEY.into(), Value::UInt(s.topology.token));
    for k in ["authid", "authrole"] {
        if let Some(v) = welcome.get(k) {
            e.insert(k.into(), v.clone());
        }
    }
    Value::Dict(e)
}

/// Relays an event a mirror received onto the watched router.
async fn relay_event(state: &State, uri: &str, publication: Id, details: Dict, payload: Payload) {
    {
        let mut seen = state.seen.borrow_mut();
        if !seen.0.insert(publication) {
            return;
        }
        seen.1.push_back(publication);
        if seen.1.len() > SEEN {
            if let Some(old) = seen.1.pop_front() {
                seen.0.remove(&old);
            }
        }
    }
    let s = &state.setup;
    // The router it came from hears of the watched router directly.
    if let Some(Value::List(ff)) = details.get("forward_for") {
        if !s.topology.relays(s.watched.other(), ff) {
            return;
        }
    }
    let Some(ff) = extend_forward_for(
        state,
        &details,
        &["publisher", "publisher_authid", "publisher_authrole"],
    ) else {
        return;
    };
    let s = &state.setup;
    if !super::queue::has_room(&s.watch, s.queue_limit) {
        s.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let topic = details
        .get("topic")
        .and_then(Value::as_str)
        .unwrap_or(uri)
        .to_owned();
    let mut options = Dict::new();
    options.insert("exclude_me".into(), Value::Bool(true));
    options.insert("forward_for".into(), Value::List(ff));
    if details.contains_key("publisher") {
        options.insert("disclose_me".into(), Value::Bool(true));
    }
    if let Some(exclude) = &state.exclude {
        options.insert("exclude_authid".into(), exclude.clone());
    }
    if s.watch
        .publish_with(&topic, options, payload, false)
        .await
        .is_ok()
    {
        let c = if s.toward_local {
            &s.stats.events_remote_to_local
        } else {
            &s.stats.events_local_to_remote
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Relays an invocation a mirrored registration received as a call on the
/// watched router, and its answers back: progressive results, the result,
/// or the callee's error as an error.
async fn relay_call(state: &State, uri: &str, request: Id, details: Dict, payload: Payload) {
    let s = &state.setup;
    let Some(ff) = extend_forward_for(
        state,
        &details,
        &["caller", "caller_authid", "caller_authrole"],
    ) else {
        let _ = s.act.invocation_error_with(
            request,
            uris::ERROR_NO_SUCH_PROCEDURE,
            crate::dict! { LOOP_KEY => true },
            Payload::args(vec![Value::from(
                "the call has crossed this router link before (a loop): not relayed",
            )]),
        );
        return;
    };
    if !super::queue::has_room(&s.watch, s.queue_limit) {
        let queued = s.watch.backlog_bytes();
        return super::queue::refuse_call(&s.act, request, &s.link, queued, &s.stats);
    }
    let procedure = details
        .get("procedure")
        .and_then(Value::as_str)
        .unwrap_or(uri)
        .to_owned();
    let progress = matches!(details.get("receive_progress"), Some(Value::Bool(true)));
    let mut options = Dict::new();
    options.insert("forward_for".into(), Value::List(ff));
    if progress {
        options.insert("receive_progress".into(), Value::Bool(true));
    }
    if details.contains_key("caller") {
        options.insert("disclose_me".into(), Value::Bool(true));
    }
    // The caller's timeout goes on: the next router runs it too (this
    // router's dealer runs it already, and INTERRUPTs this leg when it fires).
    if let Some(t) = details.get("timeout").and_then(Value::as_u64) {
        if t > 0 {
            options.insert("timeout".into(), Value::UInt(t));
        }
    }
    let c = if s.toward_local {
        &s.stats.calls_remote_to_local
    } else {
        &s.stats.calls_local_to_remote
    };
    c.fetch_add(1, Ordering::Relaxed);
    // A shared registration (roundrobin, random, ...) may hold another
    // link's mirror beside the local callees: when the router picks that
    // one and the call would cross a link twice, the link there refuses it
    // as a loop, and the call is made again (the policy picks another).
    let mut tries = 0;
    'tries: loop {
        tries += 1;
        let call = match s
            .watch
            .call_with(&procedure, options.clone(), payload.clone())
        {
            Ok(c) => c,
            Err(e) => {
                let _ = s.act.invocation_error(request, &e);
                break;
            }
        };
        state.calls.borrow_mut().insert(request, call.request);
        let mut answered = false;
        loop {
            match call.next().await {
                Ok(CallStep::Progress(_, p)) => {
                    answered = true;
                    if s.act.yield_result(request, p, true).is_err() {
                        break 'tries;
                    }
                }
                Ok(CallStep::Done(_, p)) => {
                    let _ = s.act.yield_result(request, p, false);
                    break 'tries;
                }
                Err(e) => {
                    let looped = e.details.get(LOOP_KEY) == Some(&Value::Bool(true));
                    if looped && !answered && tries < LOOP_TRIES {
                        continue 'tries;
                    }
                    let _ = s.act.invocation_error(request, &e);
                    break 'tries;
                }
            }
        }
    }
    state.calls.borrow_mut().remove(&request);
}
