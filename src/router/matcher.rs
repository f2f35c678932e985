//! The pattern table behind the broker's subscriptions and the dealer's
//! registrations: [`PatternTable`] maps a `(uri pattern, MatchPolicy)` pair to
//! an entry and answers the two hot-path questions of the Advanced Profile's
//! pattern-based subscriptions and registrations
//! (`ap_25_pubsub_pattern_based_subscription.md`, `ap_16_rpc_pattern_based_registration.md`):
//!
//! * the broker's "which subscriptions does this topic match?" —
//!   [`PatternTable::for_each_match`], every matching entry, allocation-free;
//! * the dealer's "which single registration does this call go to?" —
//!   [`PatternTable::best_match`], by the spec's priority rules.
//!
//! The layout follows nats-server's sublist (a token trie) with one index per
//! policy, so that a lookup costs about one pass over the URI whatever the
//! number of entries:
//!
//! * **exact** entries live in a hash map keyed by the URI;
//! * **prefix** entries live in a compressed byte trie (a radix tree) walked
//!   along the URI's bytes: every node passed on the way that holds an entry is
//!   a string prefix of the URI (the spec's prefix matching is a plain string
//!   prefix, so `com.myapp` matches `com.myapp2`);
//! * **wildcard** entries are grouped by component count, each group a trie by
//!   component whose nodes live in one arena; literal components are interned
//!   to integer ids and every literal edge is one entry of a map keyed by
//!   `(node, id)`. Matching walks the URI's components depth-first, following
//!   the literal edge (when the component is non-empty) before the wildcard
//!   child, which visits matches from the most to the least specific.
//!
//! Lookups neither allocate nor recurse (the wildcard walk keeps its pending
//! branches in a small inline stack, spilling to the heap only past
//! [`INLINE_BRANCHES`] levels that have both a literal and a wildcard child on
//! the path), and the wildcard tries do not nest (dropping or cloning them
//! never recurses), so a pattern or URI with very many components cannot
//! exhaust the stack. The radix tree does nest, but only one level per stored
//! prefix entry on a path, so its depth is at most the square root of twice
//! the total length of the stored prefix patterns.
//!
//! There is no match-result cache: queries take `&self` and must not
//! allocate, while a cache filled on a miss would need interior mutability
//! and an allocation per new URI; the uncached figures in
//! `benches/matcher.rs` stay within a few hundred nanoseconds at 100 000
//! entries.

use std::collections::HashMap;

use crate::wamp::uri::MatchPolicy;

/// The hasher of the table's maps: foldhash (hashbrown's default), randomly
/// seeded per map since patterns and URIs are chosen by clients. It made the
/// lookups about a third faster than std's SipHash in `benches/matcher.rs`.
type Hasher = foldhash::fast::RandomState;
type Map<K, V> = HashMap<K, V, Hasher>;

/// How many pending wildcard branches a lookup keeps on the stack before it
/// spills to a heap-allocated vector.
pub const INLINE_BRANCHES: usize = 16;

/// An entry with the pattern it was inserted under.
#[derive(Debug, Clone)]
struct Leaf<T> {
    pattern: Box<str>,
    value: T,
}

/// A map from `(uri pattern, MatchPolicy)` to `T` (a subscription or a
/// registration) that finds the entries matching a concrete URI.
///
/// Every `(pattern, policy)` pair holds at most one entry; the same pattern
/// under different policies makes different entries. The table does not
/// validate patterns (call [`crate::wamp::uri::validate`] first); matching
/// follows [`crate::wamp::uri::matches`] for any strings.
///
/// ```
/// use shardwamp::router::matcher::PatternTable;
/// use shardwamp::wamp::uri::MatchPolicy;
///
/// let mut subs = PatternTable::new();
/// subs.insert("com.myapp.topic.emergency", MatchPolicy::Prefix, 1).unwrap();
/// subs.insert("com.myapp..userevent", MatchPolicy::Wildcard, 2).unwrap();
/// subs.insert("com.myapp.foo.userevent", MatchPolicy::Exact, 3).unwrap();
///
/// let mut hit = Vec::new();
/// subs.for_each_match("com.myapp.foo.userevent", |_, _, id| hit.push(*id));
/// assert_eq!(hit, [3, 2]);
/// assert_eq!(
///     subs.best_match("com.myapp.topic.emergency-low"),
///     Some(("com.myapp.topic.emergency", MatchPolicy::Prefix, &1))
/// );
/// ```
#[derive(Debug, Clone)]
pub struct PatternTable<T> {
    exact: Map<Box<str>, T>,
    /// Root of the radix tree (its label is always empty).
    prefix: RadixNode<T>,
    prefix_len: usize,
    wildcard: WildTrie<T>,
}

impl<T> Default for PatternTable<T> {
    fn default() -> Self {
        PatternTable::new()
    }
}

impl<T> PatternTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        PatternTable {
            exact: Map::default(),
            prefix: RadixNode::new(Box::default()),
            prefix_len: 0,
            wildcard: WildTrie::new(),
        }
    }

    /// Number of entries, all policies together.
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefix_len + self.wildcard.len
    }

    /// Whether the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        *self = PatternTable::new();
    }

    /// Adds `value` under `(pattern, policy)`.
    ///
    /// If that exact pair already holds an entry, the table is left as it was
    /// and `value` comes back as `Err(value)`.
    pub fn insert(&mut self, pattern: &str, policy: MatchPolicy, value: T) -> Result<(), T> {
        match policy {
            MatchPolicy::Exact => {
                if self.exact.contains_key(pattern) {
                    return Err(value);
                }
                self.exact.insert(pattern.into(), value);
            }
            MatchPolicy::Prefix => {
                let leaf = Leaf {
                    pattern: pattern.into(),
                    value,
                };
                self.prefix
                    .insert(pattern.as_bytes(), leaf)
                    .map_err(|leaf| leaf.value)?;
                self.prefix_len += 1;
            }
            MatchPolicy::Wildcard => {
                let leaf = Leaf {
                    pattern: pattern.into(),
                    value,
                };
                self.wildcard
                    .insert(pattern, leaf)
                    .map_err(|leaf| leaf.value)?;
            }
        }
        Ok(())
    }

    /// The entry under `(pattern, policy)`, if any.
    pub fn get(&self, pattern: &str, policy: MatchPolicy) -> Option<&T> {
        match policy {
            MatchPolicy::Exact => self.exact.get(pattern),
            MatchPolicy::Prefix => self.prefix.get(pattern.as_bytes()).map(|l| &l.value),
            MatchPolicy::Wildcard => self.wildcard.get(pattern).map(|l| &l.value),
        }
    }

    /// The entry under `(pattern, policy)`, mutably, if any.
    pub fn get_mut(&mut self, pattern: &str, policy: MatchPolicy) -> Option<&mut T> {
        match policy {
            MatchPolicy::Exact => self.exact.get_mut(pattern),
            MatchPolicy::Prefix => self
                .prefix
                .get_mut(pattern.as_bytes())
                .map(|l| &mut l.value),
            MatchPolicy::Wildcard => self.wildcard.get_mut(pattern).map(|l| &mut l.value),
        }
    }

    /// Removes and returns the entry under `(pattern, policy)`, if any.
    ///
    /// Trie nodes left without entries below them are freed.
    pub fn remove(&mut self, pattern: &str, policy: MatchPolicy) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(pattern),
            MatchPolicy::Prefix => {
                let leaf = self.prefix.remove(pattern.as_bytes())?;
                self.prefix_len -= 1;
                Some(leaf.value)
            }
            MatchPolicy::Wildcard => self.wildcard.remove(pattern).map(|l| l.value),
        }
    }

    /// Every entry as `(pattern, policy, &value)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MatchPolicy, &T)> + '_ {
        let exact = self
            .exact
            .iter()
            .map(|(k, v)| (&**k, MatchPolicy::Exact, v));
        let mut radix = vec![&self.prefix];
        let prefix = std::iter::from_fn(move || {
            while let Some(node) = radix.pop() {
                radix.extend(node.children.iter());
                if let Some(l) = &node.leaf {
                    return Some((&*l.pattern, MatchPolicy::Prefix, &l.value));
                }
            }
            None
        });
        let wildcard = self
            .wildcard
            .nodes
            .iter()
            .filter_map(|n| n.leaf.as_ref())
            .map(|l| (&*l.pattern, MatchPolicy::Wildcard, &l.value));
        exact.chain(prefix).chain(wildcard)
    }

    /// Calls `f(pattern, policy, &value)` for every entry that matches the
    /// concrete `uri` (the broker's question: who gets this event?).
    ///
    /// An entry matches as [`crate::wamp::uri::matches`] says: an exact entry
    /// equal to `uri`; every prefix entry that is a string prefix of `uri`
    /// (`com.myapp` matches `com.myapp.foo` and `com.myapp2`; the empty prefix
    /// matches everything); every wildcard entry with as many components as
    /// `uri` whose non-empty components equal `uri`'s at the same positions.
    ///
    /// Order: the exact entry first, then prefix entries from the shortest to
    /// the longest, then wildcard entries from the most to the least specific
    /// (as [`crate::wamp::uri::WildcardPattern::specificity_cmp`] orders them),
    /// so the first entry of each policy is the one [`PatternTable::best_match`]
    /// would pick for it.
    ///
    /// Allocates nothing (unless more than [`INLINE_BRANCHES`] wildcard
    /// branches are pending at once) and does not recurse.
    pub fn for_each_match<'a>(&'a self, uri: &str, mut f: impl FnMut(&'a str, MatchPolicy, &'a T)) {
        if let Some((k, v)) = self.exact.get_key_value(uri) {
            f(k, MatchPolicy::Exact, v);
        }
        if self.prefix_len != 0 {
            self.prefix.for_each_prefix(uri.as_bytes(), |l| {
                f(&l.pattern, MatchPolicy::Prefix, &l.value)
            });
        }
        if self.wildcard.len != 0 {
            self.wildcard.walk(uri, |l| {
                f(&l.pattern, MatchPolicy::Wildcard, &l.value);
                false
            });
        }
    }

    /// Every entry matching `uri` as `(pattern, policy, &value)`, in the order
    /// of [`PatternTable::for_each_match`] (for the meta API's
    /// `wamp.subscription.match` / `wamp.registration.match`; allocates).
    pub fn matches<'a>(&'a self, uri: &str) -> Vec<(&'a str, MatchPolicy, &'a T)> {
        let mut out = Vec::new();
        self.for_each_match(uri, |p, m, v| out.push((p, m, v)));
        out
    }

    /// The single entry a call to `uri` is routed to, by the algorithm of
    /// `ap_16_rpc_pattern_based_registration.md` ("Calls matching multiple
    /// registrations"), or `None` (the dealer's `wamp.error.no_such_procedure`):
    ///
    /// 1. the exact entry equal to `uri`, if any;
    /// 2. else the longest prefix entry that is a string prefix of `uri`. Among
    ///    prefixes of one URI, more matched components means a longer string,
    ///    so this is the spec's "more URI components matched"; between two
    ///    prefixes that cover the same whole components (`a1.b2.` and `a1.b2.c`
    ///    for `a1.b2.c3`) the longer string wins, as in Crossbar.io's string
    ///    trie. Two distinct prefixes of one URI never have the same length,
    ///    so there are no ties. (The spec's example table says the call
    ///    `a1.b2.c33.d4.e5` has "no prefix match" against `a1.b2.c3`; by its own
    ///    plain-string-prefix rule it has one, and this table, like Crossbar.io,
    ///    routes it to `a1.b2.c3`.);
    /// 3. else the most specific matching wildcard entry: the one with the
    ///    longest run of literal components before the first wildcard, then
    ///    before the second, and so on
    ///    ([`crate::wamp::uri::WildcardPattern::specificity_cmp`]; for
    ///    `a1.b2.c88.d4.e5.f6.g7`, `a1.b2..d4.e5..g7` beats `a1.b2..d4..f6.g7`).
    ///    Two different wildcard patterns matching the same URI always differ
    ///    in specificity (equal literal runs over the same component count put
    ///    the wildcards at the same positions, and the literals must equal the
    ///    URI's), so there are no ties either.
    ///
    /// Allocates nothing (up to [`INLINE_BRANCHES`] pending wildcard branches)
    /// and does not recurse.
    pub fn best_match<'a>(&'a self, uri: &str) -> Option<(&'a str, MatchPolicy, &'a T)> {
        if let Some((k, v)) = self.exact.get_key_value(uri) {
            return Some((k, MatchPolicy::Exact, v));
        }
        if self.prefix_len != 0 {
            let mut longest = None;
            self.prefix
                .for_each_prefix(uri.as_bytes(), |l| longest = Some(l));
            if let Some(l) = longest {
                return Some((&l.pattern, MatchPolicy::Prefix, &l.value));
            }
        }
        if self.wildcard.len != 0 {
            let mut best = None;
            self.wildcard.walk(uri, |l| {
                best = Some(l);
                true
            });
            if let Some(l) = best {
                return Some((&l.pattern, MatchPolicy::Wildcard, &l.value));
            }
        }
        None
    }
}

/// Number of `.`-separated components (the empty string has one).
#[inline]
fn component_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'.').count() + 1
}

/// Splits off the first component: `"a.b.c"` gives `("a", Some("b.c"))`,
/// `"a"` gives `("a", None)`.
#[inline]
fn split_first(s: &str) -> (&str, Option<&str>) {
    match s.as_bytes().iter().position(|&b| b == b'.') {
        Some(i) => (s.get(..i).unwrap_or_default(), s.get(i + 1..)),
        None => (s, None),
    }
}

// ---------------------------------------------------------------------------
// Prefix entries: a radix tree over the pattern's bytes.

/// A radix tree node: the edge `label` leading to it from its parent, the
/// entry whose pattern ends here, and the children sorted by the first byte of
/// their label (kept apart in `first` for a compact binary search).
///
/// Invariants: sibling labels start with distinct bytes; every non-root label
/// is non-empty; a non-root node without a leaf has at least two children.
#[derive(Debug, Clone)]
struct RadixNode<T> {
    label: Box<[u8]>,
    leaf: Option<Leaf<T>>,
    first: Vec<u8>,
    children: Vec<RadixNode<T>>,
}

impl<T> RadixNode<T> {
    fn new(label: Box<[u8]>) -> Self {
        RadixNode {
            label,
            leaf: None,
            first: Vec::new(),
            children: Vec::new(),
        }
    }

    #[inline]
    fn child(&self, b: u8) -> Option<&RadixNode<T>> {
        let i = self.first.binary_search(&b).ok()?;
        self.children.get(i)
    }

    fn insert(&mut self, key: &[u8], leaf: Leaf<T>) -> Result<(), Leaf<T>> {
        let mut node = self;
        let mut key = key;
        loop {
            let Some(&b) = key.first() else {
                if node.leaf.is_some() {
                    return Err(leaf);
                }
                node.leaf = Some(leaf);
                return Ok(());
            };
            let i = match node.first.binary_search(&b) {
                Ok(i) => i,
                Err(i) => {
                    let mut child = RadixNode::new(key.into());
                    child.leaf = Some(leaf);
                    node.first.insert(i, b);
                    node.children.insert(i, child);
                    return Ok(());
                }
            };
            let Some(child) = node.children.get_mut(i) else {
                return Err(leaf);
            };
            let common = child
                .label
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count();
            if common < child.label.len() {
                // Split the edge: `child` becomes the shared head, and the old
                // node hangs below it under the rest of its label.
                let head = RadixNode::new(child.label.get(..common).unwrap_or_default().into());
                let mut old = std::mem::replace(child, head);
                old.label = old.label.get(common..).unwrap_or_default().into();
                if let Some(&fb) = old.label.first() {
                    child.first.push(fb);
                    child.children.push(old);
                }
            }
            key = key.get(common..).unwrap_or_default();
            node = child;
        }
    }

    fn get(&self, key: &[u8]) -> Option<&Leaf<T>> {
        let mut node = self;
        let mut key = key;
        while let Some(&b) = key.first() {
            node = node.child(b)?;
            key = key.strip_prefix(&*node.label)?;
        }
        node.leaf.as_ref()
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut Leaf<T>> {
        let mut node = self;
        let mut key = key;
        while let Some(&b) = key.first() {
            let i = node.first.binary_search(&b).ok()?;
            node = node.children.get_mut(i)?;
            key = key.strip_prefix(&*node.label)?;
        }
        node.leaf.as_mut()
    }

    /// Removes the entry at `key` (called on the root), merging or dropping
    /// the nodes that no longer need to exist.
    fn remove(&mut self, key: &[u8]) -> Option<Leaf<T>> {
        if key.is_empty() {
            return self.leaf.take();
        }
        let mut node = self;
        let mut key = key;
        let mut is_root = true;
        loop {
            let i = node.first.binary_search(key.first()?).ok()?;
            let rest = key.strip_prefix(&*node.children.get(i)?.label)?;
            if rest.is_empty() {
                let child = node.children.get_mut(i)?;
                let leaf = child.leaf.take()?;
                if child.children.is_empty() {
                    node.children.remove(i);
                    node.first.remove(i);
                    if !is_root {
                        node.compact();
                    }
                } else {
                    child.compact();
                }
                return Some(leaf);
            }
            key = rest;
            is_root = false;
            node = node.children.get_mut(i)?;
        }
    }

    /// Merges a (non-root) node that has no entry and a single child with
    /// that child.
    fn compact(&mut self) {
        if self.leaf.is_some() || self.children.len() != 1 {
            return;
        }
        if let Some(only) = self.children.pop() {
            let mut label = Vec::with_capacity(self.label.len() + only.label.len());
            label.extend_from_slice(&self.label);
            label.extend_from_slice(&only.label);
            self.label = label.into_boxed_slice();
            self.leaf = only.leaf;
            self.first = only.first;
            self.children = only.children;
        }
    }

    /// Calls `f` for the entry of every node whose path is a prefix of `uri`,
    /// shortest first (called on the root).
    #[inline]
    fn for_each_prefix<'a>(&'a self, uri: &[u8], mut f: impl FnMut(&'a Leaf<T>)) {
        let mut node = self;
        let mut rest = uri;
        loop {
            if let Some(l) = &node.leaf {
                f(l);
            }
            let Some(&b) = rest.first() else { return };
            let Some(child) = node.child(b) else { return };
            let Some(r) = rest.strip_prefix(&*child.label) else {
                return;
            };
            node = child;
            rest = r;
        }
    }
}

// ---------------------------------------------------------------------------
// Wildcard entries: per component count, a trie by component.

/// "No node" as a node index, and "no such literal" as a component id.
const NONE: u32 = u32::MAX;
/// A slot of a lookup's component-id cache not filled yet.
const UNKNOWN: u32 = u32::MAX - 1;
/// How many leading URI components a lookup remembers the interned id of;
/// deeper ones are looked up again at each trie node that needs them.
const ID_CACHE: usize = 32;

/// The wildcard entries: one trie per component count, its nodes in an arena.
///
/// Literal components are interned to dense ids, so that a lookup hashes each
/// URI component at most once (then remembers its id per level), and the
/// literal edges of all nodes live in one hash map keyed by `(node, id)`, so
/// that every trie step is one probe with an integer key. No structure nests,
/// so dropping, cloning or walking a pattern of any length never recurses.
#[derive(Debug, Clone)]
struct WildTrie<T> {
    /// Literal component → (id, how many components of stored patterns use it).
    ids: Map<Box<str>, (u32, u32)>,
    free_ids: Vec<u32>,
    next_id: u32,
    /// Literal edges: `edge_key(node, id)` → child node.
    edges: Map<u64, u32>,
    nodes: Vec<WildNode<T>>,
    free_nodes: Vec<u32>,
    /// (component count, root node), sorted by count.
    groups: Vec<(usize, u32)>,
    len: usize,
}

/// A wildcard trie node: how many literal children it has (they are in
/// [`WildTrie::edges`]), the child for an empty (wildcard) component, and the
/// entry whose pattern ends here (only at the depth equal to the group's
/// component count).
#[derive(Debug, Clone)]
struct WildNode<T> {
    literals: u32,
    /// The child for a wildcard component, or [`NONE`].
    wild: u32,
    leaf: Option<Leaf<T>>,
}

impl<T> WildNode<T> {
    fn empty() -> Self {
        WildNode {
            literals: 0,
            wild: NONE,
            leaf: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.literals == 0 && self.wild == NONE && self.leaf.is_none()
    }
}

/// The key of the literal edge from `node` labelled with literal id `id`.
#[inline]
fn edge_key(node: u32, id: u32) -> u64 {
    (u64::from(node) << 32) | u64::from(id)
}

impl<T> WildTrie<T> {
    fn new() -> Self {
        WildTrie {
            ids: Map::default(),
            free_ids: Vec::new(),
            next_id: 0,
            edges: Map::default(),
            nodes: Vec::new(),
            free_nodes: Vec::new(),
            groups: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn node(&self, i: u32) -> Option<&WildNode<T>> {
        self.nodes.get(i as usize)
    }

    #[inline]
    fn node_mut(&mut self, i: u32) -> Option<&mut WildNode<T>> {
        self.nodes.get_mut(i as usize)
    }

    fn alloc(&mut self) -> u32 {
        match self.free_nodes.pop() {
            Some(i) => i,
            None => {
                self.nodes.push(WildNode::empty());
                to_u32(self.nodes.len() - 1)
            }
        }
    }

    fn free(&mut self, i: u32) {
        if let Some(n) = self.node_mut(i) {
            *n = WildNode::empty();
            self.free_nodes.push(i);
        }
    }

    /// The root of the trie for patterns of `count` components, or [`NONE`].
    #[inline]
    fn group(&self, count: usize) -> u32 {
        match self.groups.binary_search_by_key(&count, |g| g.0) {
            Ok(i) => self.groups.get(i).map_or(NONE, |g| g.1),
            Err(_) => NONE,
        }
    }

    /// The child of `node` for literal id `id`, or [`NONE`].
    #[inline]
    fn literal(&self, node: u32, id: u32) -> u32 {
        if id == NONE {
            return NONE;
        }
        self.edges.get(&edge_key(node, id)).copied().unwrap_or(NONE)
    }

    /// The id of literal component `comp`, or [`NONE`] if no pattern has it.
    #[inline]
    fn id_of(&self, comp: &str) -> u32 {
        if comp.is_empty() || self.ids.is_empty() {
            return NONE;
        }
        self.ids.get(comp).map_or(NONE, |e| e.0)
    }

    /// Takes one more use of literal `comp`, giving it an id if it has none.
    fn intern(&mut self, comp: &str) -> u32 {
        if let Some(e) = self.ids.get_mut(comp) {
            e.1 += 1;
            return e.0;
        }
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                id
            }
        };
        self.ids.insert(comp.into(), (id, 1));
        id
    }

    /// Gives back one use of literal `comp`, freeing its id after the last.
    fn release(&mut self, comp: &str) {
        if let Some(e) = self.ids.get_mut(comp) {
            e.1 -= 1;
            if e.1 == 0 {
                let id = e.0;
                self.ids.remove(comp);
                self.free_ids.push(id);
            }
        }
    }

    /// The node `pattern` leads to, or [`NONE`].
    fn find(&self, pattern: &str) -> u32 {
        let mut node = self.group(component_count(pattern));
        for comp in pattern.split('.') {
            let Some(n) = self.node(node) else {
                return NONE;
            };
            node = if comp.is_empty() {
                n.wild
            } else {
                self.literal(node, self.id_of(comp))
            };
        }
        node
    }

    fn get(&self, pattern: &str) -> Option<&Leaf<T>> {
        self.node(self.find(pattern))?.leaf.as_ref()
    }

    fn get_mut(&mut self, pattern: &str) -> Option<&mut Leaf<T>> {
        let i = self.find(pattern);
        self.node_mut(i)?.leaf.as_mut()
    }

    fn insert(&mut self, pattern: &str, leaf: Leaf<T>) -> Result<(), Leaf<T>> {
        if self.get(pattern).is_some() {
            return Err(leaf);
        }
        let count = component_count(pattern);
        let mut node = match self.groups.binary_search_by_key(&count, |g| g.0) {
            Ok(i) => self.groups.get(i).map_or(NONE, |g| g.1),
            Err(i) => {
                let root = self.alloc();
                self.groups.insert(i, (count, root));
                root
            }
        };
        for comp in pattern.split('.') {
            let id = if comp.is_empty() {
                NONE
            } else {
                self.intern(comp)
            };
            let next = match self.node(node) {
                Some(n) if id == NONE => n.wild,
                Some(_) => self.literal(node, id),
                None => NONE,
            };
            node = if next != NONE {
                next
            } else {
                let child = self.alloc();
                if id != NONE {
                    self.edges.insert(edge_key(node, id), child);
                }
                if let Some(n) = self.node_mut(node) {
                    if id == NONE {
                        n.wild = child;
                    } else {
                        n.literals += 1;
                    }
                }
                child
            };
        }
        match self.node_mut(node) {
            Some(n) => n.leaf = Some(leaf),
            None => return Err(leaf),
        }
        self.len += 1;
        Ok(())
    }

    /// Removes `pattern`'s entry, then frees the nodes left with nothing below
    /// them and the ids of literals no pattern uses any more.
    fn remove(&mut self, pattern: &str) -> Option<Leaf<T>> {
        let count = component_count(pattern);
        let gi = self.groups.binary_search_by_key(&count, |g| g.0).ok()?;
        let root = self.groups.get(gi)?.1;
        // (node, id of the edge taken from it: a literal id or NONE for the wildcard)
        let mut path = Vec::with_capacity(count);
        let mut node = root;
        for comp in pattern.split('.') {
            let n = self.node(node)?;
            let (id, next) = if comp.is_empty() {
                (NONE, n.wild)
            } else {
                let id = self.id_of(comp);
                (id, self.literal(node, id))
            };
            if next == NONE {
                return None;
            }
            path.push((node, id));
            node = next;
        }
        let leaf = self.node_mut(node)?.leaf.take()?;
        let mut child = node;
        for &(parent, id) in path.iter().rev() {
            if !self.node(child).is_some_and(WildNode::is_empty) {
                break;
            }
            self.free(child);
            if id != NONE {
                self.edges.remove(&edge_key(parent, id));
            }
            if let Some(p) = self.node_mut(parent) {
                if id == NONE {
                    p.wild = NONE;
                } else {
                    p.literals -= 1;
                }
            }
            child = parent;
        }
        if child == root && self.node(root).is_some_and(WildNode::is_empty) {
            self.free(root);
            self.groups.remove(gi);
        }
        for comp in pattern.split('.').filter(|c| !c.is_empty()) {
            self.release(comp);
        }
        self.len -= 1;
        if self.len == 0 {
            // Give the arena back once the last entry is gone.
            *self = WildTrie::new();
        }
        Some(leaf)
    }

    /// Depth-first walk of the trie for `uri`'s component count, literal child
    /// before wildcard child, calling `visit` for each entry reached; stops
    /// early when `visit` returns `true`.
    ///
    /// Preferring the literal child yields the entries from the most to the
    /// least specific: at the first component where two matching patterns
    /// differ, one is literal and the other a wildcard, and the literal one
    /// has the longer literal run there (with equal runs before).
    #[inline]
    fn walk<'a>(&'a self, uri: &str, mut visit: impl FnMut(&'a Leaf<T>) -> bool) {
        let root = self.group(component_count(uri));
        if root == NONE {
            return;
        }
        let mut ids = [UNKNOWN; ID_CACHE];
        let mut pending = Pending::new();
        let mut cur = Some((root, 0usize, Some(uri)));
        while let Some((mut node, mut level, mut rest)) = cur.take().or_else(|| pending.pop()) {
            // Descend along one path, remembering the wildcard branches not taken.
            while let Some(n) = self.node(node) {
                let Some(r) = rest else {
                    if let Some(l) = &n.leaf {
                        if visit(l) {
                            return;
                        }
                    }
                    break;
                };
                let (comp, next) = split_first(r);
                let lit = if n.literals == 0 || comp.is_empty() {
                    NONE
                } else {
                    let id = match ids.get_mut(level) {
                        Some(slot) => {
                            if *slot == UNKNOWN {
                                *slot = self.id_of(comp);
                            }
                            *slot
                        }
                        None => self.id_of(comp),
                    };
                    self.literal(node, id)
                };
                level += 1;
                rest = next;
                node = match (lit, n.wild) {
                    (NONE, NONE) => break,
                    (NONE, w) => w,
                    (l, NONE) => l,
                    (l, w) => {
                        pending.push((w, level, next));
                        l
                    }
                };
            }
        }
    }
}

/// A stack of pending branches: inline up to [`INLINE_BRANCHES`], then on
/// the heap.
struct Pending<I> {
    inline: [Option<I>; INLINE_BRANCHES],
    len: usize,
    spill: Vec<I>,
}

impl<I: Copy> Pending<I> {
    #[inline]
    fn new() -> Self {
        Pending {
            inline: [None; INLINE_BRANCHES],
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, item: I) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(item);
                self.len += 1;
            }
            None => self.spill.push(item),
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<I> {
        if let Some(item) = self.spill.pop() {
            return Some(item);
        }
        let i = self.len.checked_sub(1)?;
        self.len = i;
        self.inline.get_mut(i).and_then(Option::take)
    }
}

#[inline]
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(NONE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wamp::uri::{matches as uri_matches, WildcardPattern};
    use proptest::prelude::*;
    use std::cmp::Ordering;
    use std::collections::BTreeMap;

    use MatchPolicy::{Exact, Prefix, Wildcard};

    fn hits(t: &PatternTable<u32>, uri: &str) -> Vec<u32> {
        let mut v = Vec::new();
        t.for_each_match(uri, |_, _, x| v.push(*x));
        v
    }

    fn sorted(mut v: Vec<u32>) -> Vec<u32> {
        v.sort_unstable();
        v
    }

    fn best(t: &PatternTable<u32>, uri: &str) -> Option<u32> {
        t.best_match(uri).map(|(_, _, v)| *v)
    }

    #[test]
    fn empty_table() {
        let t: PatternTable<u32> = PatternTable::default();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert!(hits(&t, "a.b").is_empty());
        assert_eq!(t.best_match("a.b"), None);
        assert_eq!(t.iter().count(), 0);
        assert!(t.matches("").is_empty());
    }

    #[test]
    fn insert_get_remove_each_policy() {
        let mut t = PatternTable::new();
        for (i, p) in [Exact, Prefix, Wildcard].into_iter().enumerate() {
            let i = i as u32;
            assert_eq!(t.insert("com.myapp", p, i), Ok(()));
            assert_eq!(t.insert("com.myapp", p, 99), Err(99));
            assert_eq!(t.get("com.myapp", p), Some(&i));
        }
        assert_eq!(t.len(), 3);
        assert!(!t.is_empty());
        // Same pattern under the three policies: three entries.
        assert_eq!(sorted(hits(&t, "com.myapp")), [0, 1, 2]);
        for p in [Exact, Prefix, Wildcard] {
            *t.get_mut("com.myapp", p).unwrap() += 10;
        }
        assert_eq!(t.get("com.myapp", Exact), Some(&10));
        assert_eq!(t.get("com.myap", Prefix), None);
        assert_eq!(t.get("com.myapp.x", Prefix), None);
        assert_eq!(t.get("com.", Wildcard), None);
        assert_eq!(t.get("com.x", Wildcard), None);
        assert_eq!(t.get_mut("com.myap", Prefix), None);
        assert_eq!(t.get_mut("x.y.z", Wildcard), None);
        assert_eq!(t.remove("com.myapp", Prefix), Some(11));
        assert_eq!(t.remove("com.myapp", Prefix), None);
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove("com.myapp", Wildcard), Some(12));
        assert_eq!(t.remove("com.myapp", Exact), Some(10));
        assert!(t.is_empty());
        assert!(t.wildcard.groups.is_empty());
        assert!(t.prefix.children.is_empty());
        // Gone entries can come back.
        assert_eq!(t.insert("com.myapp", Wildcard, 5), Ok(()));
        assert_eq!(t.get("com.myapp", Wildcard), Some(&5));
        t.clear();
        assert!(t.is_empty());
    }

    #[test]
    fn spec_prefix_subscription_examples() {
        let mut t = PatternTable::new();
        t.insert("com.myapp.topic.emergency", Prefix, 1).unwrap();
        for uri in [
            "com.myapp.topic.emergency.11",
            "com.myapp.topic.emergency-low",
            "com.myapp.topic.emergency.category.severe",
            "com.myapp.topic.emergency",
        ] {
            assert_eq!(hits(&t, uri), [1], "{uri}");
        }
        assert!(hits(&t, "com.myapp.topic.emerge").is_empty());
    }

    #[test]
    fn prefix_is_a_plain_string_prefix() {
        let mut t = PatternTable::new();
        t.insert("com.myapp", Prefix, 1).unwrap();
        t.insert("com.myapp.", Prefix, 2).unwrap();
        t.insert("", Prefix, 0).unwrap();
        assert_eq!(hits(&t, "com.myapp.foo"), [0, 1, 2]);
        assert_eq!(hits(&t, "com.myapp2"), [0, 1]);
        assert_eq!(hits(&t, "com.my"), [0]);
        assert_eq!(hits(&t, ""), [0]);
        assert_eq!(best(&t, "com.myapp.foo"), Some(2));
        assert_eq!(best(&t, "com.myapp2"), Some(1));
        assert_eq!(best(&t, "org"), Some(0));
    }

    #[test]
    fn radix_splits_and_merges() {
        let mut t = PatternTable::new();
        let pats = ["com.myapp", "com.myapp2", "com.my", "com.mz", "com", "c"];
        for (i, p) in pats.iter().enumerate() {
            t.insert(p, Prefix, i as u32).unwrap();
        }
        assert_eq!(hits(&t, "com.myapp2.x"), [5, 4, 2, 0, 1]);
        assert_eq!(hits(&t, "com.mz"), [5, 4, 3]);
        // Remove in an order that exercises drop, merge-up and merge-down.
        for (k, p) in [2, 0, 5, 3, 1, 4].map(|k| (k, pats[k])) {
            assert_eq!(t.remove(p, Prefix), Some(k as u32), "{p}");
            assert_eq!(t.get(p, Prefix), None);
            for (j, q) in pats.iter().enumerate() {
                if t.get(q, Prefix).is_some() {
                    assert_eq!(t.get(q, Prefix), Some(&(j as u32)));
                    assert!(hits(&t, q).contains(&(j as u32)));
                }
            }
        }
        assert!(t.is_empty());
        assert!(t.prefix.children.is_empty());
        // An internal branching point that holds no entry is not an entry.
        t.insert("ab", Prefix, 1).unwrap();
        t.insert("ac", Prefix, 2).unwrap();
        assert_eq!(t.get("a", Prefix), None);
        assert_eq!(t.remove("a", Prefix), None);
        assert_eq!(t.remove("abc", Prefix), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn spec_wildcard_subscription_examples() {
        let mut t = PatternTable::new();
        t.insert("com.myapp..userevent", Wildcard, 1).unwrap();
        for uri in [
            "com.myapp.foo.userevent",
            "com.myapp.bar.userevent",
            "com.myapp.a12.userevent",
        ] {
            assert_eq!(hits(&t, uri), [1], "{uri}");
        }
        for uri in [
            "com.myapp.foo.userevent.bar",
            "com.myapp.foo.user",
            "com.myapp2.foo.userevent",
        ] {
            assert!(hits(&t, uri).is_empty(), "{uri}");
        }
    }

    #[test]
    fn spec_prefix_and_wildcard_registration_examples() {
        let mut t = PatternTable::new();
        t.insert("com.myapp.myobject1", Prefix, 1).unwrap();
        for uri in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject1-mysubobject1",
            "com.myapp.myobject1.mysubobject1.myprocedure1",
            "com.myapp.myobject1",
        ] {
            assert_eq!(best(&t, uri), Some(1), "{uri}");
        }
        for uri in ["com.myapp.myobject2", "com.myapp.myobject"] {
            assert_eq!(best(&t, uri), None, "{uri}");
        }
        let mut t = PatternTable::new();
        t.insert("com.myapp..myprocedure1", Wildcard, 2).unwrap();
        for uri in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject2.myprocedure1",
        ] {
            assert_eq!(best(&t, uri), Some(2), "{uri}");
        }
        for uri in [
            "com.myapp.myobject1.myprocedure1.mysubprocedure1",
            "com.myapp.myobject1.myprocedure2",
            "com.myapp2.myobject1.myprocedure1",
        ] {
            assert_eq!(best(&t, uri), None, "{uri}");
        }
    }

    #[test]
    fn spec_best_match_table() {
        let mut t = PatternTable::new();
        t.insert("a1.b2.c3.d4.e55", Exact, 1).unwrap();
        t.insert("a1.b2.c3", Prefix, 2).unwrap();
        t.insert("a1.b2.c3.d4", Prefix, 3).unwrap();
        t.insert("a1.b2..d4.e5", Wildcard, 4).unwrap();
        t.insert("a1.b2.c33..e5", Wildcard, 5).unwrap();
        t.insert("a1.b2..d4.e5..g7", Wildcard, 6).unwrap();
        t.insert("a1.b2..d4..f6.g7", Wildcard, 7).unwrap();
        assert_eq!(best(&t, "a1.b2.c3.d4.e55"), Some(1));
        assert_eq!(best(&t, "a1.b2.c3.d98.e74"), Some(2));
        assert_eq!(best(&t, "a1.b2.c3.d4.e325"), Some(3));
        assert_eq!(best(&t, "a1.b2.c55.d4.e5"), Some(4));
        // The spec says "no prefix match" here and picks RPC 5, but `a1.b2.c3`
        // *is* a string prefix of `a1.b2.c33.d4.e5`, and the spec's own prefix
        // rule ("com.myapp.myobject1" matches "com.myapp.myobject1-mysubobject1")
        // makes it one: the prefix entry wins. Without it, RPC 5 wins as listed.
        assert_eq!(best(&t, "a1.b2.c33.d4.e5"), Some(2));
        assert_eq!(best(&t, "a1.b2.c88.d4.e5.f6.g7"), Some(6));
        assert_eq!(best(&t, "a2.b2.c2.d2.e2"), None);
        // The full match lists, in the documented order.
        assert_eq!(hits(&t, "a1.b2.c3.d4.e55"), [1, 2, 3]);
        assert_eq!(hits(&t, "a1.b2.c33.d4.e5"), [2, 5, 4]);
        assert_eq!(hits(&t, "a1.b2.c88.d4.e5.f6.g7"), [6, 7]);
        assert_eq!(
            t.matches("a1.b2.c3.d4.e5"),
            vec![
                ("a1.b2.c3", Prefix, &2),
                ("a1.b2.c3.d4", Prefix, &3),
                ("a1.b2..d4.e5", Wildcard, &4),
            ]
        );
        assert_eq!(t.remove("a1.b2.c3", Prefix), Some(2));
        assert_eq!(
            t.best_match("a1.b2.c33.d4.e5"),
            Some(("a1.b2.c33..e5", Wildcard, &5))
        );
        assert_eq!(hits(&t, "a1.b2.c33.d4.e5"), [5, 4]);
        assert_eq!(best(&t, "a1.b2.c3.d98.e74"), None);
        assert_eq!(best(&t, "a1.b2.c3.d4.e325"), Some(3));
    }

    #[test]
    fn spec_components_example() {
        // "for call URI a1.b2.c3.d4 registration a1.b2.c3 has higher priority
        // than registration a1.b2", and "a1.b2..d4 ... than a1...d4".
        let mut t = PatternTable::new();
        t.insert("a1.b2", Prefix, 1).unwrap();
        t.insert("a1.b2.c3", Prefix, 2).unwrap();
        assert_eq!(best(&t, "a1.b2.c3.d4"), Some(2));
        let mut t = PatternTable::new();
        t.insert("a1...d4", Wildcard, 1).unwrap();
        t.insert("a1.b2..d4", Wildcard, 2).unwrap();
        assert_eq!(best(&t, "a1.b2.c3.d4"), Some(2));
        assert_eq!(hits(&t, "a1.b2.c3.d4"), [2, 1]);
        assert_eq!(best(&t, "a1.b3.c3.d4"), Some(1));
    }

    #[test]
    fn exact_beats_prefix_beats_wildcard() {
        let mut t = PatternTable::new();
        t.insert("a.b", Wildcard, 3).unwrap();
        assert_eq!(best(&t, "a.b"), Some(3));
        t.insert("a.b.c", Prefix, 2).unwrap();
        assert_eq!(best(&t, "a.b"), Some(3));
        t.insert("a", Prefix, 2).unwrap();
        assert_eq!(best(&t, "a.b"), Some(2));
        t.insert("a.b", Exact, 1).unwrap();
        assert_eq!(best(&t, "a.b"), Some(1));
        assert_eq!(hits(&t, "a.b"), [1, 2, 3]);
    }

    #[test]
    fn wildcard_edge_patterns() {
        let mut t = PatternTable::new();
        t.insert("", Wildcard, 1).unwrap(); // one component, any
        t.insert(".", Wildcard, 2).unwrap(); // two components, any
        t.insert("a.", Wildcard, 3).unwrap();
        t.insert(".b", Wildcard, 4).unwrap();
        t.insert("a.b", Wildcard, 5).unwrap();
        assert_eq!(hits(&t, "x"), [1]);
        assert_eq!(hits(&t, ""), [1]);
        assert_eq!(hits(&t, "a.b"), [5, 3, 4, 2]);
        assert_eq!(hits(&t, "x.b"), [4, 2]);
        assert_eq!(hits(&t, "a.x"), [3, 2]);
        // Empty URI components only match wildcards.
        assert_eq!(hits(&t, "a."), [3, 2]);
        assert_eq!(hits(&t, "."), [2]);
        assert!(hits(&t, "a.b.c").is_empty());
        assert_eq!(best(&t, "a.b"), Some(5));
        assert_eq!(t.remove(".", Wildcard), Some(2));
        assert_eq!(t.remove("a.b", Wildcard), Some(5));
        assert_eq!(hits(&t, "a.b"), [3, 4]);
        assert_eq!(t.remove("a.", Wildcard), Some(3));
        assert_eq!(t.remove(".b", Wildcard), Some(4));
        assert_eq!(t.wildcard.groups.len(), 1);
        assert_eq!(t.remove("", Wildcard), Some(1));
        assert!(t.wildcard.groups.is_empty());
    }

    /// The wildcard trie's bookkeeping matches its entries: literal use counts,
    /// one edge per literal child, no empty live node, no leaked node.
    fn check_wildcard_invariants(t: &PatternTable<u32>) {
        let w = &t.wildcard;
        let mut uses: BTreeMap<&str, u32> = BTreeMap::new();
        for (p, m, _) in t.iter() {
            if m == Wildcard {
                for c in p.split('.').filter(|c| !c.is_empty()) {
                    *uses.entry(c).or_default() += 1;
                }
            }
        }
        let got: BTreeMap<&str, u32> = w.ids.iter().map(|(k, v)| (&**k, v.1)).collect();
        assert_eq!(got, uses);
        let free: std::collections::BTreeSet<u32> = w.free_nodes.iter().copied().collect();
        assert_eq!(free.len(), w.free_nodes.len());
        let mut literals = 0;
        for (i, n) in w.nodes.iter().enumerate() {
            if free.contains(&(i as u32)) {
                assert!(n.is_empty());
            } else {
                assert!(!n.is_empty(), "live node {i} is empty");
                literals += n.literals as usize;
            }
        }
        assert_eq!(literals, w.edges.len());
        assert_eq!(w.len, t.iter().filter(|e| e.1 == Wildcard).count());
    }

    #[test]
    fn wildcard_ids_and_nodes_are_recycled() {
        let mut t = PatternTable::new();
        t.insert("a..b", Wildcard, 1).unwrap();
        t.insert("a.c.", Wildcard, 2).unwrap();
        t.insert("a.c.b", Wildcard, 3).unwrap();
        check_wildcard_invariants(&t);
        assert_eq!(t.wildcard.ids.len(), 3);
        assert_eq!(t.remove("a..b", Wildcard), Some(1));
        check_wildcard_invariants(&t);
        assert_eq!(t.wildcard.ids.get("a").map(|e| e.1), Some(2));
        assert_eq!(hits(&t, "a.c.b"), [3, 2]);
        assert_eq!(t.remove("a.c.b", Wildcard), Some(3));
        check_wildcard_invariants(&t);
        assert!(!t.wildcard.ids.contains_key("b"));
        // Freed ids and nodes are reused.
        let nodes = t.wildcard.nodes.len();
        t.insert("x.y.z", Wildcard, 4).unwrap();
        check_wildcard_invariants(&t);
        assert_eq!(t.wildcard.nodes.len(), nodes);
        assert_eq!(hits(&t, "x.y.z"), [4]);
        assert_eq!(hits(&t, "a.c.z"), [2]);
        assert_eq!(t.remove("a.c.", Wildcard), Some(2));
        assert_eq!(t.remove("x.y.z", Wildcard), Some(4));
        assert!(t.wildcard.nodes.is_empty() && t.wildcard.ids.is_empty());
        assert!(t.wildcard.edges.is_empty());
    }

    #[test]
    fn long_patterns_do_not_recurse() {
        // 200 000 components: a nested trie would overflow the stack on drop.
        let n = 200_000;
        let all_wild = ".".repeat(n - 1);
        let uri = vec!["x"; n].join(".");
        let mut t = PatternTable::new();
        t.insert(&all_wild, Wildcard, 1).unwrap();
        t.insert(&uri, Wildcard, 2).unwrap();
        t.insert(&uri, Prefix, 3).unwrap();
        assert_eq!(hits(&t, &uri), [3, 2, 1]);
        assert_eq!(best(&t, &uri), Some(3));
        let copy = t.clone();
        assert_eq!(t.remove(&uri, Wildcard), Some(2));
        drop(t);
        assert_eq!(copy.len(), 3);
    }

    #[test]
    fn many_pending_branches_spill() {
        // 40 levels each with a literal and a wildcard child: the walk keeps
        // more pending branches than fit inline.
        let n = 40;
        let uri = vec!["x"; n].join(".");
        let mut t = PatternTable::new();
        let mut expect = Vec::new();
        for k in 0..n {
            let mut comps = vec!["x"; n];
            comps[k] = "";
            t.insert(&comps.join("."), Wildcard, k as u32).unwrap();
            expect.push(k as u32);
        }
        t.insert(&".".repeat(n - 1), Wildcard, 100).unwrap();
        t.insert(&uri, Wildcard, 200).unwrap();
        let got = hits(&t, &uri);
        // Most specific first: the literal pattern, then the wildcard moving
        // towards the front, then all wildcards.
        let mut want = vec![200];
        want.extend(expect.iter().rev());
        want.push(100);
        assert_eq!(got, want);
        assert_eq!(best(&t, &uri), Some(200));
    }

    #[test]
    fn iter_visits_every_entry() {
        let mut t = PatternTable::new();
        let entries = [
            ("a.b", Exact, 1),
            ("a", Exact, 2),
            ("a", Prefix, 3),
            ("ab", Prefix, 4),
            ("", Prefix, 5),
            ("a..c", Wildcard, 6),
            ("a.b.c", Wildcard, 7),
            ("", Wildcard, 8),
        ];
        for (p, m, v) in entries {
            t.insert(p, m, v).unwrap();
        }
        let mut got: Vec<(String, MatchPolicy, u32)> =
            t.iter().map(|(p, m, v)| (p.to_owned(), m, *v)).collect();
        got.sort_by_key(|e| e.2);
        let want: Vec<(String, MatchPolicy, u32)> = entries
            .iter()
            .map(|&(p, m, v)| (p.to_owned(), m, v))
            .collect();
        assert_eq!(got, want);
        assert_eq!(t.len(), entries.len());
    }

    // --- property tests against a naive reference ------------------------

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, MatchPolicy),
        Remove(String, MatchPolicy),
    }

    fn policy() -> impl Strategy<Value = MatchPolicy> {
        prop_oneof![Just(Exact), Just(Prefix), Just(Wildcard)]
    }

    fn small() -> impl Strategy<Value = String> {
        "[ab.]{0,7}"
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (small(), policy()).prop_map(|(p, m)| Op::Insert(p, m)),
            1 => (small(), policy()).prop_map(|(p, m)| Op::Remove(p, m)),
        ]
    }

    type Model = BTreeMap<(String, u8), u32>;

    fn key(p: &str, m: MatchPolicy) -> (String, u8) {
        (p.to_owned(), m as u8)
    }

    fn policy_of(k: u8) -> MatchPolicy {
        [Exact, Prefix, Wildcard][k as usize]
    }

    fn build(ops: &[Op]) -> (PatternTable<u32>, Model) {
        let mut t = PatternTable::new();
        let mut model = Model::new();
        for (i, op) in ops.iter().enumerate() {
            let i = i as u32;
            match op {
                Op::Insert(p, m) => {
                    let r = t.insert(p, *m, i);
                    match model.entry(key(p, *m)) {
                        std::collections::btree_map::Entry::Occupied(_) => assert_eq!(r, Err(i)),
                        std::collections::btree_map::Entry::Vacant(e) => {
                            assert_eq!(r, Ok(()));
                            e.insert(i);
                        }
                    }
                }
                Op::Remove(p, m) => {
                    assert_eq!(t.remove(p, *m), model.remove(&key(p, *m)));
                }
            }
        }
        (t, model)
    }

    fn reference_matches(model: &Model, uri: &str) -> Vec<u32> {
        let mut v: Vec<u32> = model
            .iter()
            .filter(|((p, m), _)| uri_matches(p, policy_of(*m), uri))
            .map(|(_, v)| *v)
            .collect();
        v.sort_unstable();
        v
    }

    fn reference_best(model: &Model, uri: &str) -> Option<u32> {
        let matching: Vec<(&str, MatchPolicy, u32)> = model
            .iter()
            .map(|((p, m), v)| (p.as_str(), policy_of(*m), *v))
            .filter(|(p, m, _)| uri_matches(p, *m, uri))
            .collect();
        if let Some(e) = matching.iter().find(|e| e.1 == Exact) {
            return Some(e.2);
        }
        if let Some(e) = matching
            .iter()
            .filter(|e| e.1 == Prefix)
            .max_by_key(|e| e.0.len())
        {
            return Some(e.2);
        }
        let wild: Vec<(WildcardPattern, u32)> = matching
            .iter()
            .filter(|e| e.1 == Wildcard)
            .map(|e| (WildcardPattern::new(e.0), e.2))
            .collect();
        let top = wild
            .iter()
            .max_by(|a, b| a.0.specificity_cmp(&b.0))
            .map(|e| (e.0.clone(), e.1))?;
        // No ties: only the top entry has the top specificity.
        let ties = wild
            .iter()
            .filter(|e| e.0.specificity_cmp(&top.0) == Ordering::Equal)
            .count();
        assert_eq!(ties, 1, "tie at {top:?}");
        Some(top.1)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn agrees_with_reference(ops in proptest::collection::vec(op(), 0..60),
                                 uris in proptest::collection::vec(small(), 1..20)) {
            let (t, model) = build(&ops);
            check_wildcard_invariants(&t);
            prop_assert_eq!(t.len(), model.len());
            prop_assert_eq!(t.is_empty(), model.is_empty());
            for ((p, m), v) in &model {
                prop_assert_eq!(t.get(p, policy_of(*m)), Some(v));
            }
            let mut all: Vec<(String, u8, u32)> =
                t.iter().map(|(p, m, v)| (p.to_owned(), m as u8, *v)).collect();
            all.sort();
            let want: Vec<(String, u8, u32)> =
                model.iter().map(|((p, m), v)| (p.clone(), *m, *v)).collect();
            prop_assert_eq!(all, want);
            // Query the table's own patterns too, so that matches happen.
            let own: Vec<String> = model.keys().map(|k| k.0.clone()).collect();
            for uri in uris.iter().chain(&own) {
                let mut got = Vec::new();
                let mut order = Vec::new();
                t.for_each_match(uri, |p, m, v| {
                    got.push(*v);
                    order.push((p.to_owned(), m));
                });
                // Every reported entry is what the table holds under that key.
                for (p, m) in &order {
                    prop_assert!(uri_matches(p, *m, uri));
                }
                // The documented order: exact, prefix by length, wildcard by specificity.
                for w in order.windows(2) {
                    let (a, b) = (&w[0], &w[1]);
                    prop_assert!(a.1 as u8 <= b.1 as u8, "{:?}", order);
                    if a.1 == b.1 && a.1 == Prefix {
                        prop_assert!(a.0.len() < b.0.len());
                    }
                    if a.1 == b.1 && a.1 == Wildcard {
                        prop_assert_eq!(
                            WildcardPattern::new(&a.0).specificity_cmp(&WildcardPattern::new(&b.0)),
                            Ordering::Greater
                        );
                    }
                }
                prop_assert_eq!(sorted(got.clone()), reference_matches(&model, uri));
                prop_assert_eq!(sorted(t.matches(uri).iter().map(|e| *e.2).collect()), sorted(got));
                prop_assert_eq!(best(&t, uri), reference_best(&model, uri), "uri {:?}", uri);
            }
        }

        #[test]
        fn get_mut_and_remove_follow_the_model(ops in proptest::collection::vec(op(), 0..60)) {
            let (mut t, model) = build(&ops);
            for ((p, m), v) in &model {
                let m = policy_of(*m);
                *t.get_mut(p, m).unwrap() += 1000;
                prop_assert_eq!(t.get(p, m), Some(&(v + 1000)));
            }
            for ((p, m), v) in &model {
                prop_assert_eq!(t.remove(p, policy_of(*m)), Some(v + 1000));
                prop_assert_eq!(t.get(p, policy_of(*m)), None);
            }
            prop_assert!(t.is_empty());
            prop_assert!(t.wildcard.groups.is_empty());
            prop_assert!(t.wildcard.nodes.is_empty() && t.wildcard.ids.is_empty());
            prop_assert!(t.wildcard.edges.is_empty());
            prop_assert!(t.prefix.children.is_empty() && t.prefix.leaf.is_none());
        }
    }
}
