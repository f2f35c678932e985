//! Reading the options of SUBSCRIBE, REGISTER, PUBLISH and CALL that both
//! the broker and the dealer understand: boolean flags, the match policy,
//! and a registration's invocation policy.

use serde::{Deserialize, Serialize};

use crate::wamp::uri::MatchPolicy;
use crate::wamp::value::{Dict, Value};

/// Reads an optional boolean option.
pub(crate) fn flag(options: &Dict, key: &str) -> Result<Option<bool>, String> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("option '{key}' must be a boolean")),
    }
}

/// The longest `forward_for` accepted: a path through more routers than
/// this is refused (a loop that escaped the links' own checks ends here).
pub const MAX_FORWARD_HOPS: usize = 32;

/// Reads PUBLISH/CALL `forward_for` (the routers' links that relayed the
/// message, a list of `{session, authid, authrole}` dicts, wamp-proto issue
/// 399): `Ok(None)` when absent. Only sessions that may relay (a link's
/// session) set it; the caller checks that.
pub(crate) fn forward_for(options: &Dict) -> Result<Option<Vec<Value>>, String> {
    match options.get("forward_for") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::List(l)) => {
            if l.len() > MAX_FORWARD_HOPS {
                return Err(format!(
                    "option 'forward_for' lists {} hops, more than {MAX_FORWARD_HOPS}",
                    l.len()
                ));
            }
            if !l.iter().all(|e| matches!(e, Value::Dict(_))) {
                return Err("option 'forward_for' must be a list of dicts".into());
            }
            Ok(Some(l.clone()))
        }
        Some(_) => Err("option 'forward_for' must be a list".into()),
    }
}

/// The match policy of SUBSCRIBE/REGISTER options.
pub(crate) fn match_policy(options: &Dict) -> Result<MatchPolicy, String> {
    match options.get("match") {
        None | Some(Value::Null) => Ok(MatchPolicy::Exact),
        Some(Value::Str(s)) => MatchPolicy::from_option(Some(s)).map_err(|e| e.to_string()),
        Some(_) => Err("option 'match' must be a string".into()),
    }
}

/// How a registration picks among its callees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvokePolicy {
    /// One callee only (the default).
    Single,
    /// The callees in turn.
    Roundrobin,
    /// A callee at random.
    Random,
    /// The callee that registered first.
    First,
    /// The callee that registered last.
    Last,
}

impl InvokePolicy {
    /// Parses REGISTER.Options.invoke.
    pub fn from_option(s: Option<&str>) -> Option<InvokePolicy> {
        Some(match s {
            None | Some("single") => InvokePolicy::Single,
            Some("roundrobin") => InvokePolicy::Roundrobin,
            Some("random") => InvokePolicy::Random,
            Some("first") => InvokePolicy::First,
            Some("last") => InvokePolicy::Last,
            Some(_) => return None,
        })
    }

    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::Roundrobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_policies() {
        assert_eq!(InvokePolicy::from_option(None), Some(InvokePolicy::Single));
        assert_eq!(
            InvokePolicy::from_option(Some("roundrobin")),
            Some(InvokePolicy::Roundrobin)
        );
        assert_eq!(InvokePolicy::from_option(Some("bogus")), None);
        for p in [
            InvokePolicy::Single,
            InvokePolicy::Roundrobin,
            InvokePolicy::Random,
            InvokePolicy::First,
            InvokePolicy::Last,
        ] {
            assert_eq!(InvokePolicy::from_option(Some(p.as_str())), Some(p));
        }
    }
}
