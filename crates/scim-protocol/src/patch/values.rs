//! One value of an attribute: names matched case-insensitively, when two values
//! of a multi-valued attribute are the same, `primary`, immutability, merging.

use serde_json::{Map, Value};

use crate::error::{ProtocolError, ProtocolResult};
use crate::schema::{AttributeDef, Mutability};

/// The member `key` of an object, its name matched case-insensitively.
pub(super) fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

pub(super) fn existing_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

pub(super) fn remove_key(map: &mut Map<String, Value>, name: &str) {
    if let Some(key) = existing_key(map, name) {
        map.remove(&key);
    }
}

pub(super) fn as_values(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// Two values of a multi-valued attribute are the same value when their
/// `value` sub-attributes are equal, or when they are equal whole; strings
/// compare case-insensitively unless the schema says `caseExact`.
pub(super) fn same_value(a: &Value, b: &Value, def: &AttributeDef) -> bool {
    match (value_member(a), value_member(b)) {
        (Some(x), Some(y)) => {
            let case_exact = def.sub_attribute("value").is_none_or(|v| v.case_exact);
            same_scalar(x, y, case_exact)
        }
        _ => same_scalar(a, b, def.case_exact),
    }
}

fn same_scalar(a: &Value, b: &Value, case_exact: bool) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if !case_exact => x.to_lowercase() == y.to_lowercase(),
        _ => a == b,
    }
}

/// The `value` sub-attribute of a multi-valued attribute's value, its name
/// matched case-insensitively (RFC 7643 §2.1).
pub(super) fn value_member(item: &Value) -> Option<&Value> {
    item.as_object().and_then(|obj| get_ci(obj, "value"))
}

/// `true`, or the string `"true"` (any case) that normalization turns into it.
fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Whether a value of a multi-valued attribute is marked primary.
pub(super) fn is_primary(item: &Value) -> bool {
    item.as_object()
        .and_then(|obj| get_ci(obj, "primary"))
        .is_some_and(is_true)
}

/// Sets `primary` to false on the values of `items` that have it, except the
/// ones at the indices `keep` says to keep (RFC 7644 §3.5.2).
pub(super) fn demote_primaries(items: &mut [Value], keep: impl Fn(usize) -> bool) {
    for (i, item) in items.iter_mut().enumerate() {
        if keep(i) || !is_primary(item) {
            continue;
        }
        if let Value::Object(obj) = item
            && let Some(key) = existing_key(obj, "primary")
        {
            obj.insert(key, Value::Bool(false));
        }
    }
}

/// Refuses to change the value an immutable attribute already has: a client
/// may only give one a value when it has none (RFC 7644 §3.5.2). `new` is
/// `None` for a removal. True when the attribute is immutable and already
/// holds `new`, which must then not be written (it may differ in case).
pub(super) fn check_immutable(
    def: &AttributeDef,
    old: Option<&Value>,
    new: Option<&Value>,
) -> ProtocolResult<bool> {
    if def.mutability != Mutability::Immutable {
        return Ok(false);
    }
    match (old, new) {
        (None | Some(Value::Null), _) => Ok(false),
        (Some(Value::String(a)), Some(Value::String(b)))
            if !def.case_exact && a.eq_ignore_ascii_case(b) =>
        {
            Ok(true)
        }
        (Some(a), Some(b)) if a == b => Ok(true),
        _ => Err(ProtocolError::mutability(format!(
            "'{}' is immutable",
            def.name
        ))),
    }
}

/// Writes the sub-attributes of `value` into `target`, a value of the complex
/// attribute `def` (or `value` over it when either is not an object).
pub(super) fn merge_into(
    target: &mut Value,
    value: &Value,
    def: &AttributeDef,
) -> ProtocolResult<()> {
    match (target, value) {
        (Value::Object(t), Value::Object(v)) => {
            for (k, v) in v {
                let key = existing_key(t, k).unwrap_or_else(|| k.clone());
                if let Some(sub) = def.sub_attribute(k)
                    && check_immutable(sub, t.get(&key), Some(v))?
                {
                    continue;
                }
                t.insert(key, v.clone());
            }
        }
        (t, v) => *t = v.clone(),
    }
    Ok(())
}

/// Sets (`Some`) or removes (`None`) the sub-attribute `sub` of one value.
pub(super) fn set_sub(
    element: &mut Value,
    sub: &str,
    sub_def: Option<&AttributeDef>,
    value: Option<&Value>,
) -> ProtocolResult<()> {
    if let Value::Object(obj) = element {
        let sub_key = existing_key(obj, sub).unwrap_or_else(|| sub.to_owned());
        if let Some(def) = sub_def
            && check_immutable(def, obj.get(&sub_key), value)?
        {
            return Ok(());
        }
        match value {
            None => {
                obj.remove(&sub_key);
            }
            Some(v) => {
                obj.insert(sub_key, v.clone());
            }
        }
    }
    Ok(())
}

/// Whether a value of a multi-valued attribute is left without what makes it
/// a value: its `value` where the attribute has one (an e-mail without its
/// address), or every sub-attribute. The other sub-attributes only describe
/// the value (RFC 7643 §2.4), so such a husk is removed with it.
pub(super) fn is_hollow(item: &Value, def: &AttributeDef) -> bool {
    match item {
        Value::Object(obj) => {
            obj.is_empty()
                || (def.sub_attribute("value").is_some()
                    && get_ci(obj, "value").is_none_or(Value::is_null))
        }
        Value::Null => true,
        _ => false,
    }
}
