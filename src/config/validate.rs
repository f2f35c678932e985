//! [`Config::validate`]'s checks: each problem as the key path it is about and
//! a message. Messages name realms, roles, ids, URIs and `authid`s, never a
//! ticket, a secret or a component's `extra`.

use std::collections::{HashMap, HashSet};

use super::auth::{AuthConfigError, AuthMethodConfig, TransportAuth};
use super::key_path::KeyPath;
use super::realm::RealmConfig;
use super::role::{AuthzError, RoleConfig};
use super::{
    Config, Endpoint, IpVersion, Shards, TransportConfig, RAWSOCKET_MAX_MESSAGE,
    RAWSOCKET_MIN_MESSAGE,
};
use crate::wamp::uri::{validate as validate_uri, MatchPolicy};

/// A problem: the key it is about and what is wrong.
pub(crate) type Problem = (KeyPath, String);

/// Every problem in `config`, section by section.
pub(crate) fn problems(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    router(config, &mut out);
    realms(config, &mut out);
    transports(config, &mut out);
    listeners(config, &mut out);
    components(config, &mut out);
    management(config, &mut out);
    out
}

fn router(config: &Config, out: &mut Vec<Problem>) {
    let r = &config.router;
    let path = KeyPath::root("router");
    if let Some(cpus) = &r.cpus {
        if cpus.is_empty() {
            out.push((
                path.key("cpus"),
                "no CPUs listed: list at least one, or leave `cpus` out".to_owned(),
            ));
        }
        let mut seen = HashSet::new();
        for (i, cpu) in cpus.iter().enumerate() {
            if !seen.insert(cpu) {
                out.push((
                    path.key("cpus").index(i),
                    format!("CPU {cpu} is listed twice"),
                ));
            }
        }
        if let Shards::Count(n) = r.shards {
            if usize::from(n) > cpus.len() {
                out.push((
                    path.key("shards"),
                    format!(
                        "shards = {n} but only {} CPUs are listed in `cpus` (one shard per CPU)",
                        cpus.len()
                    ),
                ));
            }
        }
    }
    if r.io_memory == 0 {
        out.push((
            path.key("io_memory"),
            "io_memory must be more than 0 bytes".to_owned(),
        ));
    }
}

fn realms(config: &Config, out: &mut Vec<Problem>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, realm) in config.realms.iter().enumerate() {
        let path = KeyPath::root("realms").index(i);
        let check = realm.options.uri_check;
        if let Err(e) = super::realm::check_realm_name(&realm.name) {
            out.push((
                path.key("name"),
                format!("invalid realm name {:?}: {e}", realm.name),
            ));
        }
        if let Some(first) = names.insert(&realm.name, i) {
            names.insert(&realm.name, first);
            out.push((
                path.key("name"),
                format!(
                    "realm {:?} is defined twice (first at realms[{first}])",
                    realm.name
                ),
            ));
        }
        if realm.options.event_dispatching_chunk_size == 0 {
            out.push((
                path.key("options").key("event_dispatching_chunk_size"),
                "event_dispatching_chunk_size must be at least 1".to_owned(),
            ));
        }
        if let (Some(home), Shards::Count(n)) = (realm.home_shard, config.router.shards) {
            if home >= n {
                out.push((
                    path.key("home_shard"),
                    format!("home_shard {home} is not below shards = {n} (shards count from 0)"),
                ));
            }
        }
        roles(realm, &path, out);
        rlinks(realm, &path, out);
        if let Some(store) = &realm.store {
            let spath = path.key("store");
            if store.kind != "memory" {
                out.push((
                    spath.key("type"),
                    format!(
                        "unknown store type {:?}: only \"memory\" is supported",
                        store.kind
                    ),
                ));
            }
            let mut topics = HashSet::new();
            for (k, h) in store.event_history.iter().enumerate() {
                let hpath = spath.key("event-history").index(k);
                let policy = h.match_.unwrap_or(MatchPolicy::Exact);
                if let Err(e) = validate_uri(&h.uri, check, policy) {
                    out.push((
                        hpath.key("uri"),
                        format!("invalid {policy} topic pattern {:?}: {e}", h.uri),
                    ));
                }
                if !topics.insert((h.uri.as_str(), policy)) {
                    out.push((
                        hpath.key("uri"),
                        format!("event history for {:?} is configured twice", h.uri),
                    ));
                }
                if h.limit == Some(0) {
                    out.push((hpath.key("limit"), "limit must be at least 1".to_owned()));
                }
            }
        }
    }
}

/// A realm's links: each one's own checks, and ids unique in the realm.
fn rlinks(realm: &RealmConfig, path: &KeyPath, out: &mut Vec<Problem>) {
    let mut ids = HashMap::new();
    for (i, l) in realm.rlinks.iter().enumerate() {
        let lpath = path.key("rlinks").index(i);
        for (key, message) in l.problems() {
            let mut at = lpath.clone();
            for k in key.split('.') {
                at = at.key(k);
            }
            out.push((at, message));
        }
        let id = l.id_at(i);
        if let Some(first) = ids.insert(id.clone(), i) {
            out.push((
                lpath.key("id"),
                format!(
                    "link {id:?} is defined twice in realm {:?} (first at rlinks[{first}])",
                    realm.name
                ),
            ));
        }
    }
}

fn roles(realm: &RealmConfig, path: &KeyPath, out: &mut Vec<Problem>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (j, role) in realm.roles.iter().enumerate() {
        let rpath = path.key("roles").index(j);
        if let Some(first) = names.insert(&role.name, j) {
            names.insert(&role.name, first);
            out.push((
                rpath.key("name"),
                format!(
                    "role {:?} is defined twice in realm {:?} (first at roles[{first}])",
                    role.name, realm.name
                ),
            ));
        }
        if let Err(e) = role.check() {
            out.push((role_error_path(role, &rpath, &e), e.to_string()));
        }
    }
}

/// The key a role's build error is about.
fn role_error_path(role: &RoleConfig, path: &KeyPath, e: &AuthzError) -> KeyPath {
    let permission = |uri: &str, policy: MatchPolicy| {
        role.permissions
            .iter()
            .rposition(|p| p.effective() == (policy, uri))
            .map(|k| path.key("permissions").index(k).key("uri"))
    };
    match e {
        AuthzError::InvalidAuthorizer { .. } => path.key("authorizer"),
        AuthzError::AllowByDefaultWithPermissions { .. } => path.key("allow-by-default"),
        AuthzError::EmptyRoleName | AuthzError::DuplicateRole(_) => path.key("name"),
        AuthzError::InvalidUri { uri, policy, .. }
        | AuthzError::DuplicatePermission { uri, policy, .. } => {
            permission(uri, *policy).unwrap_or_else(|| path.key("permissions"))
        }
    }
}

fn transports(config: &Config, out: &mut Vec<Problem>) {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let all_roles: HashSet<&str> = config
        .realms
        .iter()
        .flat_map(|r| r.roles.iter().map(|role| role.name.as_str()))
        .collect();
    for (i, t) in config.transports.iter().enumerate() {
        let path = KeyPath::root("transports").index(i);
        let id = t.id();
        if id.is_empty() {
            out.push((path.key("id"), "a transport needs an id".to_owned()));
        } else if let Some(first) = ids.insert(id, i) {
            ids.insert(id, first);
            out.push((
                path.key("id"),
                format!("transport id {id:?} is used twice (first at transports[{first}])"),
            ));
        }
        let serializers = t.serializers();
        let own_serializers = matches!(
            t,
            TransportConfig::Websocket(_) | TransportConfig::Rawsocket(_)
        ) || matches!(t, TransportConfig::Universal(u) if u.rawsocket.is_some());
        if own_serializers && serializers.is_empty() {
            out.push((
                path.key("serializers"),
                "no serializers: list at least one of json, msgpack, cbor".to_owned(),
            ));
        }
        for (k, s) in serializers.iter().enumerate() {
            if serializers[..k].contains(s) {
                out.push((
                    path.key("serializers"),
                    format!("serializer \"{s}\" is listed twice"),
                ));
            }
        }
        match t {
            TransportConfig::Websocket(w) => {
                if !w.url.starts_with('/') {
                    out.push((
                        path.key("url"),
                        format!("url {:?} must be a path starting with \"/\"", w.url),
                    ));
                }
                if w.options.allowed_origins.is_empty() {
                    out.push((
                        path.key("options").key("allowed_origins"),
                        "allowed_origins is empty: list the origins clients may connect from, \
                         or [\"*\"] for any"
                            .to_owned(),
                    ));
                }
                if !w.options.validate_utf8 {
                    out.push((
                        path.key("options").key("validate_utf8"),
                        "validate_utf8 = false is not supported: shardwamp always checks that \
                         text messages are valid UTF-8 (and fails the connection with close \
                         code 1007 when not); remove the key or set it to true"
                            .to_owned(),
                    ));
                }
                if let Some(c) = &w.options.compression {
                    if c.as_bool() != Some(false) {
                        out.push((
                            path.key("options").key("compression"),
                            "compression is not supported: shardwamp does not negotiate \
                             permessage-deflate (compressing costs more CPU than WAMP's small \
                             messages save); remove the key or set it to false"
                                .to_owned(),
                        ));
                    }
                }
                if !(4..=125).contains(&w.options.auto_ping_size) {
                    out.push((
                        path.key("options").key("auto_ping_size"),
                        format!(
                            "auto_ping_size {} must be from 4 to 125 bytes",
                            w.options.auto_ping_size
                        ),
                    ));
                }
            }
            TransportConfig::Web(w) => {
                web_paths(&w.paths, &path.key("paths"), config, out);
            }
            TransportConfig::Universal(u) => {
                if u.rawsocket.is_none() && u.websocket.is_none() && u.web.is_none() {
                    out.push((
                        path.clone(),
                        "a universal transport needs at least one of rawsocket, websocket, web"
                            .to_owned(),
                    ));
                }
                if let Some(w) = &u.web {
                    web_paths(&w.paths, &path.key("web").key("paths"), config, out);
                }
                if let Some(ws) = &u.websocket {
                    let as_paths = ws
                        .iter()
                        .map(|(p, w)| {
                            (p.clone(), crate::config::web::WebPath::Websocket(w.clone()))
                        })
                        .collect();
                    web_paths(&as_paths, &path.key("websocket"), config, out);
                }
            }
            TransportConfig::Rawsocket(r) => {
                let size = r.options.max_message_size;
                if !(RAWSOCKET_MIN_MESSAGE..=RAWSOCKET_MAX_MESSAGE).contains(&size) {
                    out.push((
                        path.key("options").key("max_message_size"),
                        format!(
                            "max_message_size {size} must be from {RAWSOCKET_MIN_MESSAGE} to \
                             {RAWSOCKET_MAX_MESSAGE} bytes (what a RawSocket handshake can announce)"
                        ),
                    ));
                }
            }
        }
        endpoint(t.endpoint(), &path.key("endpoint"), out);
        for a in t.auths() {
            auth(a, &path.key("auth"), &all_roles, out);
        }
        if t.auths().iter().any(|a| a.tls.is_some())
            && t.endpoint()
                .tls()
                .is_none_or(|tls| tls.ca_certificates.is_empty())
        {
            out.push((
                path.key("auth").key("tls"),
                "the tls method needs client certificates: set endpoint.tls.ca_certificates"
                    .to_owned(),
            ));
        }
    }
}

/// A web transport's paths: [`crate::config::web::check_paths`], and each
/// bridge path's realm and role exist.
fn web_paths(
    paths: &std::collections::BTreeMap<String, crate::config::web::WebPath>,
    at: &KeyPath,
    config: &Config,
    out: &mut Vec<Problem>,
) {
    use crate::config::web::WebPath;
    for (p, why) in crate::config::web::check_paths(paths) {
        out.push((at.key(&p), why));
    }
    for (p, svc) in paths {
        if let WebPath::Publisher(b) | WebPath::Caller(b) | WebPath::Webhook(b) = svc {
            match config.realm(&b.realm) {
                None => out.push((
                    at.key(p).key("realm"),
                    format!("no realm named {:?}", b.realm),
                )),
                Some(r) if !r.roles.iter().any(|x| x.name == b.role) => out.push((
                    at.key(p).key("role"),
                    format!("realm {:?} has no role {:?}", b.realm, b.role),
                )),
                Some(_) => {}
            }
        }
    }
}

fn endpoint(ep: &Endpoint, path: &KeyPath, out: &mut Vec<Problem>) {
    match ep {
        Endpoint::Tcp(tcp) => {
            if let Some(addr) = tcp.interface {
                let (ok, v) = match tcp.version {
                    IpVersion::V4 => (addr.is_ipv4(), 4),
                    IpVersion::V6 => (addr.is_ipv6(), 6),
                };
                if !ok {
                    out.push((
                        path.key("interface"),
                        format!("interface {addr} is not an IPv{v} address (version = {v})"),
                    ));
                }
            }
        }
        Endpoint::Unix(unix) => {
            if unix.path.as_os_str().is_empty() {
                out.push((path.key("path"), "empty socket path".to_owned()));
            }
        }
    }
    if let Some(tls) = ep.tls() {
        let tpath = path.key("tls");
        if tls.key.as_os_str().is_empty() {
            out.push((tpath.key("key"), "empty key path".to_owned()));
        }
        if tls.certificate.as_os_str().is_empty() {
            out.push((
                tpath.key("certificate"),
                "empty certificate path".to_owned(),
            ));
        }
        if let Some(ciphers) = &tls.ciphers {
            if let Err(e) = super::tls::openssl_ciphers(ciphers) {
                out.push((tpath.key("ciphers"), e));
            }
        }
    }
}

fn auth(auth: &TransportAuth, path: &KeyPath, roles: &HashSet<&str>, out: &mut Vec<Problem>) {
    if let Err(e) = auth.check() {
        let at = match &e {
            AuthConfigError::InvalidDynamic { method, key, .. } => path.key(method).key(key),
            AuthConfigError::MethodNotSupported { method }
            | AuthConfigError::EmptyAuthid { method } => path.key(method),
            AuthConfigError::EmptyRole { method, authid } => match *method {
                "anonymous" => path.key(method).key("role"),
                _ => principal(path, method, authid).key("role"),
            },
            AuthConfigError::EmptySecret { method, authid } => {
                let field = if *method == "wampcra" {
                    "secret"
                } else {
                    "ticket"
                };
                principal(path, method, authid).key(field)
            }
            AuthConfigError::InvalidPbkdf2Parameter { authid, field } => {
                principal(path, "wampcra", authid).key(field)
            }
            AuthConfigError::BadAuthorizedKey { authid, index, .. } => {
                principal(path, "cryptosign", authid)
                    .key("authorized_keys")
                    .index(*index)
            }
            AuthConfigError::InvalidFingerprint { authid } => {
                principal(path, "tls", authid).key("certificate-sha1")
            }
        };
        out.push((at, e.to_string()));
    }
    // A role defined in no realm can never be joined under; with no realms
    // at all (every realm started at run time) there is nothing to check.
    if roles.is_empty() {
        return;
    }
    let mut check = |at: KeyPath, role: &str| {
        if !role.is_empty() && !roles.contains(role) {
            out.push((at, format!("role {role:?} is not defined in any realm")));
        }
    };
    if let Some(AuthMethodConfig::Static(a)) = &auth.anonymous {
        check(path.key("anonymous").key("role"), &a.role);
    }
    if let Some(AuthMethodConfig::Static(t)) = &auth.ticket {
        for (authid, p) in &t.principals {
            check(principal(path, "ticket", authid).key("role"), &p.role);
        }
    }
    if let Some(AuthMethodConfig::Static(w)) = &auth.wampcra {
        for (authid, u) in &w.users {
            check(principal(path, "wampcra", authid).key("role"), &u.role);
        }
    }
    if let Some(AuthMethodConfig::Static(c)) = &auth.cryptosign {
        for (authid, p) in &c.principals {
            check(principal(path, "cryptosign", authid).key("role"), &p.role);
        }
    }
    if let Some(AuthMethodConfig::Static(t)) = &auth.tls {
        for (authid, p) in &t.principals {
            check(principal(path, "tls", authid).key("role"), &p.role);
        }
    }
}

/// `auth.ticket.principals.AUTHID`, `auth.wampcra.users.AUTHID`, ...
fn principal(path: &KeyPath, method: &str, authid: &str) -> KeyPath {
    let table = if method == "wampcra" {
        "users"
    } else {
        "principals"
    };
    path.key(method).key(table).key(authid)
}

/// No two listeners on one address (port 0, "any free port", never clashes).
fn listeners(config: &Config, out: &mut Vec<Problem>) {
    let mut seen: Vec<(KeyPath, &str, &Endpoint)> = Vec::new();
    let admin =
        config
            .admin
            .enabled
            .then_some((KeyPath::root("admin"), "admin", &config.admin.endpoint));
    if let Some((path, _, ep)) = &admin {
        endpoint(ep, &path.key("endpoint"), out);
    }
    let all = config
        .transports
        .iter()
        .enumerate()
        .map(|(i, t)| (KeyPath::root("transports").index(i), t.id(), t.endpoint()))
        .chain(admin);
    for (path, name, ep) in all {
        if let Some((other, other_name, _)) = seen.iter().find(|(_, _, e)| clash(e, ep)) {
            let (key, what) = match ep {
                Endpoint::Tcp(t) => ("port", format!("port {}", t.port)),
                Endpoint::Unix(u) => ("path", format!("socket {}", u.path.display())),
            };
            out.push((
                path.key("endpoint").key(key),
                format!("{what} is already used by {other} ({other_name:?})"),
            ));
        }
        seen.push((path, name, ep));
    }
}

/// Whether two endpoints would listen on the same port or path (a wildcard
/// interface clashes with every interface; port 0 clashes with nothing).
pub(crate) fn clash(a: &Endpoint, b: &Endpoint) -> bool {
    match (a, b) {
        (Endpoint::Tcp(a), Endpoint::Tcp(b)) => {
            let (x, y) = (a.interface_addr(), b.interface_addr());
            a.port != 0 && a.port == b.port && (x == y || x.is_unspecified() || y.is_unspecified())
        }
        (Endpoint::Unix(a), Endpoint::Unix(b)) => a.path == b.path,
        _ => false,
    }
}

fn components(config: &Config, out: &mut Vec<Problem>) {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, c) in config.components.iter().enumerate() {
        let path = KeyPath::root("components").index(i);
        if c.id.is_empty() {
            out.push((path.key("id"), "a component needs an id".to_owned()));
        } else if let Some(first) = ids.insert(&c.id, i) {
            ids.insert(&c.id, first);
            out.push((
                path.key("id"),
                format!(
                    "component id {:?} is used twice (first at components[{first}])",
                    c.id
                ),
            ));
        }
        match config.realm(&c.realm) {
            None => out.push((
                path.key("realm"),
                format!("no realm named {:?} in [[realms]]", c.realm),
            )),
            Some(realm) => {
                if !realm.roles.iter().any(|r| r.name == c.role) {
                    out.push((
                        path.key("role"),
                        format!("realm {:?} has no role named {:?}", c.realm, c.role),
                    ));
                }
            }
        }
        if c.classname.is_empty() {
            out.push((path.key("classname"), "empty classname".to_owned()));
        }
    }
}

fn management(config: &Config, out: &mut Vec<Problem>) {
    let Some(m) = &config.management else {
        return;
    };
    let path = KeyPath::root("management");
    if config.realm(&m.realm).is_none() {
        out.push((
            path.key("realm"),
            format!(
                "no realm named {:?}: the management realm must be one of [[realms]] \
                 (its roles decide who may call the controller)",
                m.realm
            ),
        ));
    }
    if let Some(t) = &m.transport {
        if config.transport(t).is_none() {
            out.push((path.key("transport"), format!("no transport with id {t:?}")));
        }
    }
}
