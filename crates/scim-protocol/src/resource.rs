//! Validation and canonicalization of resource documents for writes: POST and PUT
//! bodies, and the result of applying a PATCH (RFC 7643 §2, RFC 7644 §3.3, §3.5.1).
//!
//! [`normalize_for_write`] turns what a client sent into the canonical stored
//! form:
//!
//! - Names match case-insensitively and are rewritten to the schema's spelling.
//!   Extension attributes go under their schema URN key; they may also arrive
//!   flattened (`"urn:…:enterprise:2.0:User:employeeNumber": "1"`, or
//!   `"urn:…:User:manager.value"`); core attributes may be URN-qualified, and
//!   sub-attributes given as dotted keys (`"name.givenName"`).
//! - Dropped silently: `readOnly` attributes and sub-attributes (`id`, `meta`,
//!   `groups`, `manager.displayName`, `members.display`; §2.2 says clients' values
//!   for them SHALL be ignored), unknown attributes, unknown extension URNs,
//!   `null` and `[]` (unassigned, §2.5), complex values left with no sub-attribute.
//! - Coerced: `"true"`/`"false"` (any case) for booleans; a primitive given
//!   for a single-valued complex attribute with a `value` sub-attribute
//!   becomes `{"value": …}` (Entra sends `manager` this way); integral decimals (`3.0`) for integers;
//!   dateTimes are rewritten to UTC (`2026-01-01T00:00:00Z`, fractional seconds
//!   kept), as the filter binder does; strings equal to a canonical value up to
//!   case take its spelling when the attribute is not `caseExact`.
//! - Errors (`invalidValue` naming the attribute, never its value): type
//!   mismatches, an array for a single-valued attribute, anything but an
//!   array for a multi-valued one, a value of a multi-valued complex
//!   attribute that is not an object, more than one
//!   `primary: true`, a missing or empty required attribute (required attributes
//!   of an extension are checked only when the extension is present; a required
//!   extension must be present).
//! - When the same attribute is given twice (different spellings, or nested and
//!   flattened), the later key wins; flattened sub-attributes merge into the
//!   complex value.
//!
//! The output holds `schemas` (the core URN, then the URNs of the extensions
//! present), `externalId`, the core attributes and the extension objects, each in
//! schema-definition order. It never holds `id` or `meta`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::error::{ProtocolError, ProtocolResult};
use crate::schema::{AttributeDef, AttributeType, COMMON_ATTRIBUTES, Mutability, ResourceType};

/// True for values equivalent to "unassigned" (RFC 7643 §2.5) or empty: `null`,
/// `""`, arrays whose elements are all empty (so `[]`), objects whose members are
/// all empty (so `{}`).
pub fn value_is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(value_is_empty),
        Value::Object(members) => members.values().all(value_is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Validates and canonicalizes a resource document for a write (see the module
/// docs). Use it on POST and PUT bodies and on the document a PATCH produced.
pub fn normalize_for_write(body: Value, rt: &ResourceType) -> ProtocolResult<Value> {
    let Value::Object(body) = body else {
        return Err(ProtocolError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    check_schemas(&body, rt)?;

    let mut slots = Slots::new(rt);
    for (key, value) in body {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some((ext, schema_id)) = extension_index(rt, &key) {
            match value {
                Value::Null => {}
                Value::Object(members) => {
                    for (name, member) in members {
                        let (attr, sub) = split_sub(&name);
                        slots.put(Slot::Extension(ext), attr, sub, member);
                    }
                }
                _ => {
                    return Err(ProtocolError::invalid_value(format!(
                        "'{schema_id}' must be a JSON object"
                    )));
                }
            }
            continue;
        }
        let Some((slot, rest)) = locate(rt, &key) else {
            continue;
        };
        let (attr, sub) = split_sub(rest);
        slots.put(slot, attr, sub, value);
    }
    slots.finish(rt)
}

/// Rejects a replacement (PUT, or the result of a PATCH) that would change an
/// immutable attribute that is set on `existing` (RFC 7643 §2.2, RFC 7644
/// §3.5.1): `mutability` error. Both documents are expected in canonical form;
/// names are matched case-insensitively anyway.
///
/// Immutable sub-attributes of multi-valued attributes (`members.value`) are not
/// checked: their values are added and removed whole, never changed in place.
pub fn check_immutable(
    existing: &Value,
    replacement: &Value,
    rt: &ResourceType,
) -> ProtocolResult<()> {
    let mut scopes: Vec<(Option<&str>, &'static [AttributeDef])> =
        vec![(None, COMMON_ATTRIBUTES), (None, rt.schema.attributes)];
    scopes.extend(
        rt.extensions
            .iter()
            .map(|e| (Some(e.schema.id), e.schema.attributes)),
    );
    for (urn, attributes) in scopes {
        let old_scope = scope(existing, urn);
        let new_scope = scope(replacement, urn);
        for def in attributes {
            let old = old_scope.and_then(|o| member(o, def.name));
            let new = new_scope.and_then(|o| member(o, def.name));
            if def.mutability == Mutability::Immutable {
                if old.is_some_and(|o| !value_is_empty(o)) && !same_value(def, old, new) {
                    return Err(immutable_error(def.name));
                }
                continue;
            }
            if def.kind != AttributeType::Complex || def.multi_valued {
                continue;
            }
            let (Some(Value::Object(old)), new) = (old, new) else {
                continue;
            };
            let new = match new {
                Some(Value::Object(n)) => Some(n),
                _ => None,
            };
            for sub in def.sub_attributes {
                if sub.mutability != Mutability::Immutable {
                    continue;
                }
                let old_sub = member(old, sub.name);
                let new_sub = new.and_then(|n| member(n, sub.name));
                if old_sub.is_some_and(|o| !value_is_empty(o)) && !same_value(sub, old_sub, new_sub)
                {
                    return Err(immutable_error(&format!("{}.{}", def.name, sub.name)));
                }
            }
        }
    }
    Ok(())
}

fn immutable_error(name: &str) -> ProtocolError {
    ProtocolError::mutability(format!("attribute '{name}' is immutable and already set"))
}

fn scope<'a>(doc: &'a Value, urn: Option<&str>) -> Option<&'a Map<String, Value>> {
    let Value::Object(doc) = doc else {
        return None;
    };
    match urn {
        None => Some(doc),
        Some(urn) => match member(doc, urn) {
            Some(Value::Object(ext)) => Some(ext),
            _ => None,
        },
    }
}

/// Case-insensitive member lookup; an exact match wins.
fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn same_value(def: &AttributeDef, old: Option<&Value>, new: Option<&Value>) -> bool {
    match (old, new) {
        (Some(Value::String(a)), Some(Value::String(b))) if !def.case_exact => {
            a.to_lowercase() == b.to_lowercase()
        }
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        _ => false,
    }
}

fn check_schemas(body: &Map<String, Value>, rt: &ResourceType) -> ProtocolResult<()> {
    let Some(schemas) = member(body, "schemas") else {
        return Err(ProtocolError::invalid_syntax("'schemas' is required"));
    };
    let Value::Array(schemas) = schemas else {
        return Err(ProtocolError::invalid_syntax(
            "'schemas' must be an array of strings",
        ));
    };
    let mut has_core = false;
    for urn in schemas {
        let Value::String(urn) = urn else {
            return Err(ProtocolError::invalid_syntax(
                "'schemas' must be an array of strings",
            ));
        };
        has_core |= urn.eq_ignore_ascii_case(rt.schema.id);
    }
    if has_core {
        Ok(())
    } else {
        Err(ProtocolError::invalid_value(format!(
            "'schemas' must contain {}",
            rt.schema.id
        )))
    }
}

/// The index and URN of the extension whose URN is `key`.
fn extension_index(rt: &ResourceType, key: &str) -> Option<(usize, &'static str)> {
    rt.extensions
        .iter()
        .enumerate()
        .find(|(_, e)| e.schema.id.eq_ignore_ascii_case(key))
        .map(|(i, e)| (i, e.schema.id))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Common attributes first, then the core schema (as `ResourceType::resolve`).
    Core,
    /// Core schema only (the name was qualified with the core URN).
    CoreQualified,
    Extension(usize),
}

/// Which schema a top-level key addresses, and the rest of the key.
fn locate<'k>(rt: &ResourceType, key: &'k str) -> Option<(Slot, &'k str)> {
    if !key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return Some((Slot::Core, key));
    }
    let (urn, rest) = key.rsplit_once(':')?;
    if urn.eq_ignore_ascii_case(rt.schema.id) {
        return Some((Slot::CoreQualified, rest));
    }
    extension_index(rt, urn).map(|(i, _)| (Slot::Extension(i), rest))
}

fn split_sub(name: &str) -> (&str, Option<&str>) {
    match name.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (name, None),
    }
}

/// Raw (not yet validated) values per attribute, in definition order. Group 0
/// is the common attributes, 1 the core schema, `2 + i` extension `i`.
struct Slots {
    groups: Vec<(&'static [AttributeDef], Vec<Option<Value>>)>,
}

impl Slots {
    fn new(rt: &ResourceType) -> Self {
        let mut groups = vec![
            (COMMON_ATTRIBUTES, vec![None; COMMON_ATTRIBUTES.len()]),
            (rt.schema.attributes, vec![None; rt.schema.attributes.len()]),
        ];
        groups.extend(
            rt.extensions
                .iter()
                .map(|e| (e.schema.attributes, vec![None; e.schema.attributes.len()])),
        );
        Self { groups }
    }

    fn put(&mut self, slot: Slot, attr: &str, sub: Option<&str>, value: Value) {
        let Some((def, cell)) = self.cell(slot, attr) else {
            return;
        };
        let Some(sub) = sub else {
            *cell = Some(value);
            return;
        };
        // A flattened sub-attribute (`manager.value`): merge into the complex value.
        if def.kind != AttributeType::Complex || def.multi_valued {
            return;
        }
        let Some(sub_def) = def.sub_attribute(sub) else {
            return;
        };
        if let Some(primitive) =
            cell.take_if(|v| !matches!(v, Value::Object(_) | Value::Array(_) | Value::Null))
        {
            // `manager: "id"` then `manager.$ref: …`: keep the id as `value`.
            if let Some(value_def) = def.sub_attribute("value") {
                let mut members = Map::new();
                members.insert(value_def.name.to_owned(), primitive);
                *cell = Some(Value::Object(members));
            }
        }
        match cell {
            Some(Value::Object(members)) => {
                members.retain(|k, _| !k.eq_ignore_ascii_case(sub_def.name));
                members.insert(sub_def.name.to_owned(), value);
            }
            _ => {
                let mut members = Map::new();
                members.insert(sub_def.name.to_owned(), value);
                *cell = Some(Value::Object(members));
            }
        }
    }

    fn cell(
        &mut self,
        slot: Slot,
        attr: &str,
    ) -> Option<(&'static AttributeDef, &mut Option<Value>)> {
        let candidates = match slot {
            Slot::Core => [Some(0), Some(1)],
            Slot::CoreQualified => [Some(1), None],
            Slot::Extension(i) => [Some(2 + i), None],
        };
        let (group, index) = candidates.into_iter().flatten().find_map(|g| {
            self.groups.get(g).and_then(|(defs, _)| {
                defs.iter()
                    .position(|d| d.name.eq_ignore_ascii_case(attr))
                    .map(|i| (g, i))
            })
        })?;
        let (defs, values) = self.groups.get_mut(group)?;
        Some((defs.get(index)?, values.get_mut(index)?))
    }

    fn finish(self, rt: &ResourceType) -> ProtocolResult<Value> {
        let mut out = Map::new();
        let mut schemas = vec![Value::String(rt.schema.id.to_owned())];
        let mut extensions = Vec::new();
        for (g, (defs, values)) in self.groups.into_iter().enumerate() {
            let members = normalize_members(defs, values, "")?;
            match g.checked_sub(2).and_then(|i| rt.extensions.get(i)) {
                None => {
                    check_required(defs, &members, "")?;
                    out.extend(members);
                }
                Some(ext) => {
                    if members.is_empty() {
                        if ext.required {
                            return Err(ProtocolError::invalid_value(format!(
                                "extension '{}' is required",
                                ext.schema.id
                            )));
                        }
                    } else {
                        check_required(defs, &members, "")?;
                        schemas.push(Value::String(ext.schema.id.to_owned()));
                        extensions.push((ext.schema.id, members));
                    }
                }
            }
        }
        for (urn, members) in extensions {
            out.insert(urn.to_owned(), Value::Object(members));
        }
        let mut doc = Map::with_capacity(out.len() + 1);
        doc.insert("schemas".to_owned(), Value::Array(schemas));
        doc.extend(out);
        Ok(Value::Object(doc))
    }
}

/// Normalizes the raw values of a list of sibling definitions (top-level
/// attributes of one schema, or the sub-attributes of one complex value).
/// `prefix` is `""` or `"parent."`, for messages.
fn normalize_members(
    defs: &'static [AttributeDef],
    values: Vec<Option<Value>>,
    prefix: &str,
) -> ProtocolResult<Map<String, Value>> {
    let mut out = Map::new();
    for (def, raw) in defs.iter().zip(values) {
        if let Some(raw) = raw
            && let Some(v) = normalize_attribute(def, raw, prefix)?
        {
            out.insert(def.name.to_owned(), v);
        }
    }
    Ok(out)
}

/// Rejects a missing or empty required (client-writable) attribute.
fn check_required(
    defs: &'static [AttributeDef],
    members: &Map<String, Value>,
    prefix: &str,
) -> ProtocolResult<()> {
    match defs.iter().find(|d| {
        d.required
            && d.mutability != Mutability::ReadOnly
            && members.get(d.name).is_none_or(value_is_empty)
    }) {
        Some(def) => Err(required_error(def, prefix)),
        None => Ok(()),
    }
}

fn required_error(def: &AttributeDef, prefix: &str) -> ProtocolError {
    ProtocolError::invalid_value(format!(
        "attribute '{prefix}{}' is required and may not be empty",
        def.name
    ))
}

/// One attribute's value: `None` when it ends up unassigned.
fn normalize_attribute(
    def: &'static AttributeDef,
    raw: Value,
    prefix: &str,
) -> ProtocolResult<Option<Value>> {
    if def.mutability == Mutability::ReadOnly {
        return Ok(None);
    }
    if !def.multi_valued {
        return match raw {
            Value::Array(items) if items.is_empty() => Ok(None),
            Value::Array(_) => Err(ProtocolError::invalid_value(format!(
                "attribute '{prefix}{}' is single-valued",
                def.name
            ))),
            raw => normalize_single(def, raw, prefix),
        };
    }
    let items = match raw {
        Value::Array(items) => items,
        Value::Null => return Ok(None),
        _ => return Err(not_an_array(def, prefix)),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if matches!(item, Value::Array(_)) {
            return Err(type_error(def, prefix));
        }
        if let Some(v) = normalize_single(def, item, prefix)? {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ProtocolError::invalid_value(format!(
            "attribute '{prefix}{}' has more than one primary value",
            def.name
        )));
    }
    Ok(Some(Value::Array(out)))
}

fn not_an_array(def: &AttributeDef, prefix: &str) -> ProtocolError {
    ProtocolError::invalid_value(format!(
        "attribute '{prefix}{}' is multi-valued and must be an array",
        def.name
    ))
}

fn type_error(def: &AttributeDef, prefix: &str) -> ProtocolError {
    let expected = match def.kind {
        AttributeType::String => "a string",
        AttributeType::Boolean => "a boolean",
        AttributeType::Decimal => "a number",
        AttributeType::Integer => "an integer",
        AttributeType::DateTime => "an RFC 3339 date-time string",
        AttributeType::Binary => "a base64 string",
        AttributeType::Reference => "a reference string",
        AttributeType::Complex => "a JSON object",
    };
    ProtocolError::invalid_value(format!(
        "attribute '{prefix}{}' must be {expected}",
        def.name
    ))
}

/// One value of an attribute (the attribute itself when single-valued).
fn normalize_single(
    def: &'static AttributeDef,
    raw: Value,
    prefix: &str,
) -> ProtocolResult<Option<Value>> {
    if raw.is_null() {
        return Ok(None);
    }
    let value = match (def.kind, raw) {
        (AttributeType::Complex, raw) => return normalize_complex(def, raw, prefix),
        (AttributeType::String, Value::String(s)) => Value::String(canonical_spelling(def, s)),
        (AttributeType::Reference | AttributeType::Binary, Value::String(s)) => Value::String(s),
        (AttributeType::Boolean, Value::Bool(b)) => Value::Bool(b),
        (AttributeType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Value::Bool(true)
        }
        (AttributeType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Value::Bool(false)
        }
        (AttributeType::Decimal, Value::Number(n)) => Value::Number(n),
        (AttributeType::Integer, Value::Number(n)) => {
            if n.is_i64() || n.is_u64() {
                Value::Number(n)
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                        // Exact: |f| < 2^53, so the cast neither truncates nor saturates.
                        #[allow(clippy::cast_possible_truncation)]
                        Value::from(f as i64)
                    }
                    _ => return Err(type_error(def, prefix)),
                }
            }
        }
        (AttributeType::DateTime, Value::String(s)) => match DateTime::parse_from_rfc3339(&s) {
            Ok(dt) => Value::String(
                dt.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
            Err(_) => return Err(type_error(def, prefix)),
        },
        _ => return Err(type_error(def, prefix)),
    };
    Ok(Some(value))
}

fn canonical_spelling(def: &AttributeDef, s: String) -> String {
    if def.case_exact {
        return s;
    }
    match def
        .canonical_values
        .iter()
        .find(|c| c.eq_ignore_ascii_case(&s))
    {
        Some(c) => (*c).to_owned(),
        None => s,
    }
}

fn normalize_complex(
    def: &'static AttributeDef,
    raw: Value,
    prefix: &str,
) -> ProtocolResult<Option<Value>> {
    let members = match raw {
        Value::Object(members) => members,
        Value::Array(_) => return Err(type_error(def, prefix)),
        // The one lone value accepted: a single-valued complex attribute
        // with a `value` (Entra's `manager`); a value of a multi-valued one
        // must be an object.
        _ if def.multi_valued => return Err(type_error(def, prefix)),
        primitive => match def.sub_attribute("value") {
            Some(value) => {
                let mut members = Map::new();
                members.insert(value.name.to_owned(), primitive);
                members
            }
            None => return Err(type_error(def, prefix)),
        },
    };
    let mut values: Vec<Option<Value>> = vec![None; def.sub_attributes.len()];
    for (key, value) in members {
        if let Some(i) = def
            .sub_attributes
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(&key))
            && let Some(cell) = values.get_mut(i)
        {
            *cell = Some(value);
        }
    }
    let prefix = format!("{prefix}{}.", def.name);
    let out = normalize_members(def.sub_attributes, values, &prefix)?;
    if out.is_empty() {
        return Ok(None);
    }
    check_required(def.sub_attributes, &out, &prefix)?;
    Ok(Some(Value::Object(out)))
}
