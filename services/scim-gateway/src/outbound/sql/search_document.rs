//! The search document: a JSON projection of a user's or group's stored
//! document, written with every write in the row's `search` column, that
//! the generic filter and sort path reads (`filter_targets.rs`).
//!
//! It is computed here, in Rust, so SQL never has to lowercase or parse:
//!
//! - keys are the attributes' canonical names lowercased; extension
//!   attributes sit at the top level under `urn:…:user:name` (lowercase);
//! - strings are folded with `str::to_lowercase` (as the evaluator and the
//!   `_key` columns fold) unless the attribute is `caseExact`;
//! - dateTimes are integer microseconds since the epoch, booleans and
//!   numbers stay JSON booleans and numbers;
//! - a single-valued complex attribute is an object of its sub-attributes,
//!   a multi-valued one an array of such objects (one per non-empty value),
//!   a multi-valued simple one an array of values;
//! - attributes never returned (`password`) are left out, and so are
//!   values whose JSON type does not fit the attribute (the write path's
//!   normalization never stores one).
//!
//! `id`, `meta`, users' `groups` and groups' `members` are not in stored
//! documents: they have columns and side tables of their own.

use chrono::DateTime;
use scim_protocol::schema::{
    AttributeDef, AttributeType, COMMON_ATTRIBUTES, Mutability, ResourceType, Returned,
};
use serde_json::{Map, Value};

/// The key of an attribute in the search document.
pub fn search_key(extension: Option<&str>, name: &str) -> String {
    match extension {
        Some(urn) => format!("{urn}:{name}").to_lowercase(),
        None => name.to_lowercase(),
    }
}

/// Whether an attribute is kept in the search document at all.
pub fn is_searchable(def: &AttributeDef) -> bool {
    def.returned != Returned::Never && def.mutability != Mutability::WriteOnly
}

/// The search document of `document` (a stored, normalized document of a
/// resource of type `rt`).
pub fn search_document(document: &Value, rt: &ResourceType) -> Value {
    let mut out = Map::new();
    // `schemas`: multi-valued, not caseExact (the binder's definition).
    if let Some(Value::Array(urns)) = member(document, "schemas") {
        let urns: Vec<Value> = urns
            .iter()
            .filter_map(Value::as_str)
            .map(|u| Value::String(u.to_lowercase()))
            .collect();
        if !urns.is_empty() {
            out.insert("schemas".to_owned(), Value::Array(urns));
        }
    }
    let common = COMMON_ATTRIBUTES.iter().filter(|d| d.name == "externalId");
    for def in common.chain(rt.schema.attributes) {
        project_attribute(document, def, None, &mut out);
    }
    for extension in rt.extensions {
        let urn = extension.schema.id;
        if let Some(container) = member(document, urn) {
            for def in extension.schema.attributes {
                project_attribute(container, def, Some(urn), &mut out);
            }
        }
    }
    Value::Object(out)
}

fn project_attribute(
    container: &Value,
    def: &'static AttributeDef,
    extension: Option<&str>,
    out: &mut Map<String, Value>,
) {
    if !is_searchable(def) {
        return;
    }
    let Some(value) = member(container, def.name) else {
        return;
    };
    if let Some(projected) = project_value(def, value) {
        out.insert(search_key(extension, def.name), projected);
    }
}

fn project_value(def: &'static AttributeDef, value: &Value) -> Option<Value> {
    if def.multi_valued {
        let items: Vec<Value> = match value {
            Value::Array(items) => items.iter().filter_map(|v| project_one(def, v)).collect(),
            other => project_one(def, other).into_iter().collect(),
        };
        return (!items.is_empty()).then_some(Value::Array(items));
    }
    project_one(def, value)
}

/// One value: a complex value as an object of its sub-attributes, kept
/// when the stored object is not empty (even if none of its members is
/// searchable: it still counts for `pr`).
fn project_one(def: &'static AttributeDef, value: &Value) -> Option<Value> {
    if def.kind != AttributeType::Complex {
        return token(def, value);
    }
    let Value::Object(members) = value else {
        return None;
    };
    if members.is_empty() {
        return None;
    }
    let mut out = Map::new();
    for sub in def.sub_attributes {
        if !is_searchable(sub) {
            continue;
        }
        if let Some(projected) = member(value, sub.name).and_then(|v| token(sub, v)) {
            out.insert(sub.name.to_lowercase(), projected);
        }
    }
    Some(Value::Object(out))
}

/// A simple value in its searchable form.
fn token(def: &AttributeDef, value: &Value) -> Option<Value> {
    match (def.kind, value) {
        (
            AttributeType::String | AttributeType::Reference | AttributeType::Binary,
            Value::String(s),
        ) => Some(Value::String(if def.case_exact {
            s.clone()
        } else {
            s.to_lowercase()
        })),
        (AttributeType::Boolean, Value::Bool(b)) => Some(Value::Bool(*b)),
        (AttributeType::Integer | AttributeType::Decimal, Value::Number(n)) => {
            Some(Value::Number(n.clone()))
        }
        (AttributeType::DateTime, Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Value::from(t.timestamp_micros())),
        _ => None,
    }
}

/// Object member lookup as the evaluator does it: exact key first, then
/// ASCII case-insensitively.
fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_protocol::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    #[test]
    fn folds_what_is_not_case_exact_and_keeps_the_rest() {
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": "EXT-1",
            "userName": "İlke@Ärzte.de",
            "password": "Secret",
            "name": {"givenName": "Ann"},
            "active": true,
            "emails": [{"value": "A@X.org", "primary": true}],
            "x509Certificates": [{"value": "TUlJ"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "E-7", "manager": {"value": "M-1"}
            }
        });
        let search = search_document(&doc, &USER_RESOURCE);
        assert_eq!(
            search,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:user"],
                "externalid": "EXT-1",
                "username": "i̇lke@ärzte.de",
                "name": {"givenname": "ann"},
                "active": true,
                "emails": [{"value": "a@x.org", "primary": true}],
                "x509certificates": [{"value": "TUlJ"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber": "e-7",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager": {"value": "m-1"}
            })
        );
    }

    #[test]
    fn groups_keep_their_own_attributes() {
        let doc = json!({"displayName": "Ärzte", "externalId": "g"});
        assert_eq!(
            search_document(&doc, &GROUP_RESOURCE),
            json!({"externalid": "g", "displayname": "ärzte"})
        );
    }
}
