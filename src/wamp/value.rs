//! The dynamic value model shared by every codec: what a WAMP `Details|dict`,
//! `Options|dict`, `Arguments|list` or `ArgumentsKw|dict` holds once decoded.
//!
//! Integers are normalised on decode: a non-negative integer is always
//! [`Value::UInt`], a negative one [`Value::Int`]; equality compares numerically
//! so values built by hand with either variant compare as a codec would.
//! Binary values are [`Value::Bytes`]; the JSON codec maps them to the spec's
//! `"\0" + base64` strings (see `rfc/text/basic/bp_binary_conversion_of_json.md`).

use std::collections::BTreeMap;

/// A WAMP dictionary: string keys, any values, in key order.
pub type Dict = BTreeMap<String, Value>;

/// A decoded WAMP value.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// `null` / nil.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A negative integer (decoders put every non-negative integer in [`Value::UInt`]).
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A floating point number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A dictionary.
    Dict(Dict),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (UInt(a), UInt(b)) => a == b,
            (Int(a), UInt(b)) | (UInt(b), Int(a)) => *a >= 0 && *a as u64 == *b,
            (Float(a), Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Dict(a), Dict(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// The value as an unsigned integer, when it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::UInt(u) => Some(u),
            Value::Int(i) if i >= 0 => Some(i as u64),
            _ => None,
        }
    }

    /// The value as a signed integer, when it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// The value as a string slice, when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as a list, when it is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The value as a dictionary, when it is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        Value::UInt(u)
    }
}
impl From<u32> for Value {
    fn from(u: u32) -> Self {
        Value::UInt(u.into())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        if i >= 0 {
            Value::UInt(i as u64)
        } else {
            Value::Int(i)
        }
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}
impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}
impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}

/// Builds a [`Dict`] from `key => value` pairs.
///
/// ```
/// use shardwamp::dict;
/// let d = dict! { "acknowledge" => true, "retain" => false };
/// assert_eq!(d.len(), 2);
/// ```
#[macro_export]
macro_rules! dict {
    () => { $crate::wamp::value::Dict::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut d = $crate::wamp::value::Dict::new();
        $( d.insert(::std::string::String::from($k), $crate::wamp::value::Value::from($v)); )+
        d
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_compare_numerically() {
        assert_eq!(Value::Int(5), Value::UInt(5));
        assert_ne!(Value::Int(-5), Value::UInt(5));
        assert_eq!(Value::from(-3i64), Value::Int(-3));
        assert_eq!(Value::from(3i64), Value::UInt(3));
        assert_ne!(Value::UInt(1), Value::Float(1.0));
    }

    #[test]
    fn accessors() {
        let d = dict! { "a" => 1u64, "b" => "x" };
        let v = Value::Dict(d);
        assert_eq!(
            v.as_dict().and_then(|d| d.get("a")).and_then(Value::as_u64),
            Some(1)
        );
        assert_eq!(v.type_name(), "dict");
        assert_eq!(Value::Int(-1).as_u64(), None);
        assert_eq!(Value::UInt(u64::MAX).as_i64(), None);
    }
}
