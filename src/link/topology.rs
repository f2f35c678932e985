//! What one link knows of the links around it, and the rule that makes any
//! tree of full meshes exactly-once (docs/links.md, "Topology and loop
//! prevention").
//!
//! Each connection of a link draws a random **token**. Its two legs
//! announce it on their routers with a marker registration
//! `shardwamp.rlink.link.<token>.` (prefix match: Crossbar.io mirrors only
//! exact registrations, so a Crossbar.io peer never copies a marker), and
//! each leg announces the tokens present on the *other* router, one
//! `shardwamp.rlink.far.<token>.<far token>.` each. Reading a router's
//! markers (the meta API) so tells, for every link leg there, which link it
//! belongs to and which links touch the router at its far end; two routers
//! are linked when they share a token.
//!
//! The rule, for a link between routers W and A, with S the router at the
//! far end of another link k2 that touches W (or A):
//!
//! - **Interest**: a subscription or registration of W is mirrored onto A
//!   while it has a member that is a client, or a leg of a link k2 whose far
//!   router S is neither A nor linked to A (A then hears of S's interest
//!   from S itself).
//! - **Events**: an event that came onto A over link k2 (the last
//!   `forward_for` entry names k2's token as `rlink`) is relayed onto W only
//!   when S is neither W nor linked to W (W then hears it from S itself).
//!
//! In a tree every link counts; in a full mesh only clients count; in a
//! tree of full meshes (a triangle with a tail) each event and each
//! interest crosses every mesh once and every tree link once.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;

use glommio::channels::local_channel::{self, LocalSender};

use crate::transport::dial::Session;
use crate::wamp::message::Id;
use crate::wamp::value::{Dict, Value};

/// Every marker URI starts so; such URIs are never mirrored.
pub const PREFIX: &str = "shardwamp.rlink.";

/// The key a link adds to its `forward_for` entry: its connection's token.
pub const FORWARD_FOR_KEY: &str = "rlink";

/// Which of a link's two routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The router the link runs on.
    Local = 0,
    /// The router the link dialed.
    Remote = 1,
}

impl Side {
    /// The other router.
    pub fn other(self) -> Side {
        match self {
            Side::Local => Side::Remote,
            Side::Remote => Side::Local,
        }
    }
}

/// A marker, read from its URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `shardwamp.rlink.link.<token>.`: a leg of link `token` is here.
    Link(u64),
    /// `shardwamp.rlink.far.<token>.<far>.`: link `token`'s other router
    /// has link `far`.
    Far(u64, u64),
}

impl Marker {
    /// The marker's URI (registered with `match = "prefix"`).
    pub fn uri(self) -> String {
        match self {
            Marker::Link(t) => format!("{PREFIX}link.{t}."),
            Marker::Far(t, f) => format!("{PREFIX}far.{t}.{f}."),
        }
    }

    /// The marker a URI names, if any.
    pub fn parse(uri: &str) -> Option<Marker> {
        let rest = uri.strip_prefix(PREFIX)?;
        let mut parts = rest.split('.');
        let kind = parts.next()?;
        let a = parts.next()?.parse().ok()?;
        match kind {
            "link" => {
                (parts.next() == Some("") && parts.next().is_none()).then_some(Marker::Link(a))
            }
            "far" => {
                let b = parts.next()?.parse().ok()?;
                (parts.next() == Some("") && parts.next().is_none()).then_some(Marker::Far(a, b))
            }
            _ => None,
        }
    }
}

/// The markers of one router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// The link tokens present on the router, with the leg session of each.
    pub legs: BTreeMap<u64, Id>,
    /// For each link token, the tokens at its far end, as it announced them here.
    pub far: BTreeMap<u64, BTreeSet<u64>>,
}

impl View {
    /// The tokens present.
    pub fn tokens(&self) -> BTreeSet<u64> {
        self.legs.keys().copied().collect()
    }

    /// The link whose leg `session` is, if it is one.
    pub fn token_of(&self, session: Id) -> Option<u64> {
        self.legs
            .iter()
            .find_map(|(t, s)| (*s == session).then_some(*t))
    }

    /// Whether the router at the far end of link `k2` (read from this
    /// router's markers) is `other` (whose tokens are `other_tokens`) or is
    /// linked to it; `None` while `k2` has announced nothing.
    fn far_touches(&self, k2: u64, other_tokens: &BTreeSet<u64>) -> Option<bool> {
        self.far.get(&k2).map(|f| !f.is_disjoint(other_tokens))
    }
}

/// A link connection's view of both its routers.
pub struct Topology {
    /// This connection's token.
    pub token: u64,
    views: [RefCell<View>; 2],
    marker_ids: [RefCell<HashSet<Id>>; 2],
    legs: [Session; 2],
    /// Far markers this connection holds on each side: far token -> registration id.
    announced: [RefCell<BTreeMap<u64, Id>>; 2],
    listeners: RefCell<Vec<LocalSender<()>>>,
    /// A read of a side's markers is asked for and has not begun.
    pending: [Cell<bool>; 2],
    tasks: RefCell<Vec<glommio::Task<()>>>,
}

/// A fresh token: random, within WAMP's id range (JSON and JavaScript safe).
pub fn new_token() -> u64 {
    (rand::random::<u64>() & ((1 << 53) - 1)).max(1)
}

impl Topology {
    /// Announces the connection on both routers, reads both routers'
    /// markers, announces each side's tokens on the other, and keeps all of
    /// it current until [`Topology::stop`] (or the legs end).
    pub async fn start(local: Session, remote: Session, link: &str) -> Rc<Topology> {
        let t = Rc::new(Topology {
            token: new_token(),
            views: Default::default(),
            marker_ids: Default::default(),
            legs: [local, remote],
            announced: Default::default(),
            listeners: RefCell::new(Vec::new()),
            pending: Default::default(),
            tasks: RefCell::new(Vec::new()),
        });
        for side in [Side::Local, Side::Remote] {
            let leg = &t.legs[side as usize];
            if let Err(e) = leg.register(&Marker::Link(t.token).uri(), prefix()).await {
                log::warn!(
                    "link '{link}': cannot announce itself on the {} router: {} (its role needs to register {PREFIX}*; topology rules fall back to a tree)",
                    side_name(side),
                    e.uri
                );
            }
        }
        for side in [Side::Local, Side::Remote] {
            let (tx, rx) = local_channel::new_unbounded::<()>();
            let leg = t.legs[side as usize].clone();
            match leg.subscribe("wamp.registration.on_", prefix()).await {
                Ok(sub) => {
                    let me = t.clone();
                    t.tasks.borrow_mut().push(glommio::spawn_local(async move {
                        while let Some(ev) = sub.next().await {
                            if me.concerns_markers(side, &ev.details, &ev.payload)
                                && !me.pending[side as usize].replace(true)
                            {
                                let _ = tx.try_send(());
                            }
                        }
                    }));
                }
                Err(e) => log::warn!(
                    "link '{link}': cannot watch the {} router's registrations: {}",
                    side_name(side),
                    e.uri
                ),
            }
            t.rebuild(side).await;
            let me = t.clone();
            t.tasks.borrow_mut().push(glommio::spawn_local(async move {
                while rx.recv().await.is_some() {
                    // A burst of changes is one read.
                    me.pending[side as usize].set(false);
                    if me.rebuild(side).await {
                        me.announce(side.other()).await;
                        me.changed();
                    }
                }
            }));
        }
        t.announce(Side::Local).await;
        t.announce(Side::Remote).await;
        t
    }

    /// A channel that receives `()` each time either view changes.
    pub fn listen(&self) -> local_channel::LocalReceiver<()> {
        let (tx, rx) = local_channel::new_unbounded();
        self.listeners.borrow_mut().push(tx);
        rx
    }

    /// Stops watching (the legs closing removes the markers).
    pub fn stop(&self) {
        self.tasks.borrow_mut().clear();
        self.listeners.borrow_mut().clear();
    }

    fn changed(&self) {
        for l in self.listeners.borrow().iter() {
            let _ = l.try_send(());
        }
    }

    /// The view of one side (a copy).
    pub fn view(&self, side: Side) -> View {
        self.views[side as usize].borrow().clone()
    }

    /// Whether `member`, a member of a subscription or registration on
    /// `watched`, is interest to mirror onto the other router: a client, or
    /// a leg of a link whose far router is neither that router nor linked
    /// to it.
    pub fn is_interest(&self, watched: Side, member: Id) -> bool {
        let w = self.views[watched as usize].borrow();
        match w.token_of(member) {
            None => true,
            Some(k2) if k2 == self.token => false,
            Some(k2) => {
                let other = self.views[watched.other() as usize].borrow().tokens();
                w.far_touches(k2, &other) == Some(false)
            }
        }
    }

    /// Whether an event that arrived on `arrived` with `forward_for` is to
    /// be relayed onto the other router: not when the link that brought it
    /// there connects a router that is the other router or linked to it.
    pub fn relays(&self, arrived: Side, forward_for: &[Value]) -> bool {
        let Some(k2) = forward_for
            .last()
            .and_then(|e| match e {
                Value::Dict(d) => d.get(FORWARD_FOR_KEY),
                _ => None,
            })
            .and_then(Value::as_u64)
        else {
            return true;
        };
        if k2 == self.token {
            return false;
        }
        let a = self.views[arrived as usize].borrow();
        let other = self.views[arrived.other() as usize].borrow().tokens();
        a.far_touches(k2, &other) != Some(true)
    }

    /// Whether a registration meta event may change the markers of `side`.
    fn concerns_markers(
        &self,
        side: Side,
        details: &Dict,
        payload: &crate::wamp::message::Payload,
    ) -> bool {
        let (args, _) = crate::client::session::values_of(payload);
        let topic = details.get("topic").and_then(Value::as_str).unwrap_or("");
        match args.get(1) {
            Some(Value::Dict(d)) if topic.ends_with("on_create") => d
                .get("uri")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with(PREFIX)),
            Some(v) => v
                .as_u64()
                .is_some_and(|id| self.marker_ids[side as usize].borrow().contains(&id)),
            None => false,
        }
    }

    /// Reads the markers of `side` again; whether they changed.
    async fn rebuild(&self, side: Side) -> bool {
        let leg = &self.legs[side as usize];
        let mut view = View::default();
        let mut ids = HashSet::new();
        // Unanswered: the view stays as it was (the next change reads again).
        let Ok((args, _)) = super::mirror::read(leg, "wamp.registration.list", Vec::new()).await
        else {
            return false;
        };
        {
            let prefixed: Vec<Id> = match args.first() {
                Some(Value::Dict(d)) => match d.get("prefix") {
                    Some(Value::List(l)) => l.iter().filter_map(Value::as_u64).collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            for id in prefixed {
                let Ok((args, _)) =
                    super::mirror::read(leg, "wamp.registration.get", vec![Value::UInt(id)]).await
                else {
                    continue;
                };
                let Some(marker) = args
                    .first()
                    .and_then(Value::as_dict)
                    .and_then(|d| d.get("uri"))
                    .and_then(Value::as_str)
                    .and_then(Marker::parse)
                else {
                    continue;
                };
                ids.insert(id);
                match marker {
                    Marker::Link(t) => {
                        if let Ok((args, _)) = super::mirror::read(
                            leg,
                            "wamp.registration.list_callees",
                            vec![Value::UInt(id)],
                        )
                        .await
                        {
                            if let Some(s) = args
                                .first()
                                .and_then(|l| match l {
                                    Value::List(l) => l.first(),
                                    _ => None,
                                })
                                .and_then(Value::as_u64)
                            {
                                view.legs.insert(t, s);
                            }
                        }
                    }
                    Marker::Far(t, f) => {
                        view.far.entry(t).or_default().insert(f);
                    }
                }
            }
        }
        *self.marker_ids[side as usize].borrow_mut() = ids;
        let mut v = self.views[side as usize].borrow_mut();
        let changed = *v != view;
        *v = view;
        changed
    }

    /// Makes this connection's far markers on `side` name the tokens of the
    /// other side.
    async fn announce(&self, side: Side) {
        let want = self.views[side.other() as usize].borrow().tokens();
        let leg = &self.legs[side as usize];
        let have: BTreeSet<u64> = self.announced[side as usize]
            .borrow()
            .keys()
            .copied()
            .collect();
        for f in want.difference(&have) {
            if let Ok(r) = leg
                .register(&Marker::Far(self.token, *f).uri(), prefix())
                .await
            {
                self.announced[side as usize].borrow_mut().insert(*f, r.id);
            }
        }
        for f in have.difference(&want) {
            let id = self.announced[side as usize].borrow_mut().remove(f);
            if let Some(id) = id {
                let _ = leg.unregister(id).await;
            }
        }
    }
}

fn prefix() -> Dict {
    crate::dict! { "match" => "prefix" }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Local => "local",
        Side::Remote => "remote",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_nothing_else_parses() {
        for m in [Marker::Link(7), Marker::Far(7, 9)] {
            assert_eq!(Marker::parse(&m.uri()), Some(m));
        }
        for u in [
            "shardwamp.rlink.link.7",
            "shardwamp.rlink.link.x.",
            "shardwamp.rlink.far.7.",
            "shardwamp.rlink.far.7.9.1.",
            "com.example.link.7.",
        ] {
            assert_eq!(Marker::parse(u), None, "{u}");
        }
    }

    /// Router `r`'s view in a graph given as links (token, a, b).
    fn view(r: u8, links: &[(u64, u8, u8)]) -> View {
        let tokens_of = |x: u8| -> BTreeSet<u64> {
            links
                .iter()
                .filter(|(_, a, b)| *a == x || *b == x)
                .map(|(t, _, _)| *t)
                .collect()
        };
        let mut v = View::default();
        for (t, a, b) in links {
            let far = if *a == r {
                *b
            } else if *b == r {
                *a
            } else {
                continue;
            };
            v.legs.insert(*t, 1000 + *t);
            v.far.insert(*t, tokens_of(far));
        }
        v
    }

    #[test]
    fn the_far_rule_in_a_triangle_with_a_tail() {
        // A=1, B=2, C=3 a triangle; D=4 linked to C.
        let links = [(12, 1, 2), (23, 2, 3), (13, 1, 3), (34, 3, 4)];
        let (b, c, d, a) = (
            view(2, &links),
            view(3, &links),
            view(4, &links),
            view(1, &links),
        );
        // On C, the leg of link 2-3 (far router B) is no interest toward A
        // (B is linked to A) but is toward D.
        assert_eq!(c.far_touches(23, &a.tokens()), Some(true));
        assert_eq!(c.far_touches(23, &d.tokens()), Some(false));
        // On C, an event that came over 3-4 (from D) goes on to A and B.
        assert_eq!(c.far_touches(34, &a.tokens()), Some(false));
        assert_eq!(c.far_touches(34, &b.tokens()), Some(false));
        // On B, an event that came over 1-2 (from A) does not go on to C.
        assert_eq!(b.far_touches(12, &c.tokens()), Some(true));
        assert_eq!(b.token_of(1012), Some(12));
        assert_eq!(b.far_touches(99, &c.tokens()), None);
    }
}
