//! PATCH (RFC 7644 §3.5.2): parsing a PatchOp request and applying it to a
//! resource document, plus pulling group membership changes out of it.
//!
//! [`apply`] works on the canonical document (as produced by
//! [`crate::resource::normalize_for_write`]) and is all-or-nothing: on error the
//! document is untouched. It does not type-check deeply: the caller runs
//! `normalize_for_write` on the result, which validates and canonicalizes it
//! (and fixes `schemas` for extensions that appeared or disappeared).
//!
//! Choices where the RFC is silent or identity providers deviate from it:
//! - `op` is case-insensitive (Entra sends `"Replace"`, `"Add"`, `"Remove"`).
//! - `add` on a single-valued attribute sets it, like `replace` (Entra sends
//!   `Add` for `active`, `title`, …).
//! - `add` or `replace` on `attr[filter].sub` when no element matches creates
//!   one from the filter's `eq` terms plus the value: Entra adds a work e-mail
//!   with `emails[type eq "work"].value` on a user that has none. A filter that
//!   is not a conjunction of `eq` terms gives `noTarget` instead.
//! - `replace` of a single-valued complex attribute (or path-less with an object
//!   for it) replaces the sub-attributes given and keeps the others (§3.5.2.3).
//! - `remove` of `attr` with a `value` array removes just those values (Entra's
//!   member removal); `remove` with a filter that matches nothing is a no-op.
//! - `add` of a value a multi-valued attribute already holds (same `value`
//!   sub-attribute, or equal whole when it has none) adds no second value: the
//!   sub-attributes given are written into the one there (so re-adding an
//!   e-mail with `primary: true` makes it primary). `add` of `null` to a
//!   multi-valued attribute changes nothing; `replace` with `null` unassigns it.
//! - Immutable attributes (a member's `value`, `$ref`, `type`): `replace` or
//!   `remove` with a path naming one is a `mutability` error at parse; `add`
//!   may give one a value only where it has none or the same one (RFC 7644
//!   §3.5.2), else `mutability` from [`apply`].
//! - Removing a required attribute (`userName`, a group's `displayName`) is not
//!   refused here: the caller's `normalize_for_write` rejects the result
//!   (`invalidValue`), as it would a PUT without it.
//! - Setting `primary` to true on a value of a multi-valued attribute (by
//!   `add`, or by a value filter) sets it to false on the values that had it
//!   (§3.5.2).
//! - In a path-less value object, read-only attributes (`id`, `meta`, which Okta
//!   sends back), immutable ones being replaced, and unknown attributes are
//!   ignored; a path naming a read-only attribute is a `mutability` error, an
//!   unknown one `invalidPath`.
//! - A path that is an extension schema URN targets that extension's object.
//! - At most [`MAX_OPERATIONS`] operations per request (`tooMany`).

use serde_json::{Map, Value};

use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::error::{ProtocolError, ProtocolResult};
use crate::filter::{bind_path, matches, parse_path};
use crate::schema::{
    AttributeDef, AttributeType, GROUP_URN, Mutability, PATCH_OP_URN, ResourceType,
};

/// Most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Remove,
    Replace,
}

/// What an operation's `path` designates.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchTarget {
    /// No `path`: the value is an object of attributes.
    Resource,
    /// An attribute path, bound to the resource type (canonical names).
    Path(PatchPath),
    /// A path that is only an extension schema URN: that extension's object.
    Extension(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub target: PatchTarget,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// A change to a group's `members`, in member ids as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

impl PatchRequest {
    pub fn parse(body: Value, rt: &ResourceType) -> ProtocolResult<PatchRequest> {
        let Value::Object(body) = body else {
            return Err(ProtocolError::invalid_syntax(
                "a PATCH body must be a JSON object",
            ));
        };
        let has_urn = get_ci(&body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_URN))
                })
            });
        if !has_urn {
            return Err(ProtocolError::invalid_syntax(format!(
                "a PATCH body's schemas must contain {PATCH_OP_URN}"
            )));
        }
        let Some(Value::Array(raw_ops)) = get_ci(&body, "Operations") else {
            return Err(ProtocolError::invalid_syntax("Operations must be an array"));
        };
        if raw_ops.is_empty() {
            return Err(ProtocolError::invalid_syntax("Operations is empty"));
        }
        if raw_ops.len() > MAX_OPERATIONS {
            return Err(ProtocolError::too_many(format!(
                "at most {MAX_OPERATIONS} operations per PATCH request"
            )));
        }
        let operations = raw_ops
            .iter()
            .enumerate()
            .map(|(i, raw)| parse_operation(i, raw, rt))
            .collect::<ProtocolResult<_>>()?;
        Ok(PatchRequest { operations })
    }
}

fn parse_operation(index: usize, raw: &Value, rt: &ResourceType) -> ProtocolResult<PatchOperation> {
    let Value::Object(raw) = raw else {
        return Err(ProtocolError::invalid_syntax(format!(
            "operation {index} is not an object"
        )));
    };
    let op = match get_ci(raw, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => PatchOp::Add,
        Some("remove") => PatchOp::Remove,
        Some("replace") => PatchOp::Replace,
        _ => {
            return Err(ProtocolError::invalid_syntax(format!(
                "operation {index}: op must be add, remove or replace"
            )));
        }
    };
    let value = get_ci(raw, "value")
        .cloned()
        .filter(|v| !v.is_null() || op != PatchOp::Remove);
    let target = match get_ci(raw, "path") {
        None | Some(Value::Null) => PatchTarget::Resource,
        Some(Value::String(p)) if p.trim().is_empty() => PatchTarget::Resource,
        Some(Value::String(p)) => parse_target(p.trim(), op, rt)?,
        Some(_) => {
            return Err(ProtocolError::invalid_path(format!(
                "operation {index}: path must be a string"
            )));
        }
    };
    match (op, &target, &value) {
        (PatchOp::Remove, PatchTarget::Resource, _) => Err(ProtocolError::no_target(format!(
            "operation {index}: remove needs a path"
        ))),
        (PatchOp::Add | PatchOp::Replace, _, None) => Err(ProtocolError::invalid_syntax(format!(
            "operation {index}: {} needs a value",
            if op == PatchOp::Add { "add" } else { "replace" }
        ))),
        (PatchOp::Add | PatchOp::Replace, PatchTarget::Resource, Some(v)) if !v.is_object() => {
            Err(ProtocolError::invalid_syntax(format!(
                "operation {index}: without a path the value must be an object of attributes"
            )))
        }
        _ => Ok(PatchOperation { op, target, value }),
    }
}

fn parse_target(raw: &str, op: PatchOp, rt: &ResourceType) -> ProtocolResult<PatchTarget> {
    if let Some(ext) = rt
        .extensions
        .iter()
        .find(|e| e.schema.id.eq_ignore_ascii_case(raw))
    {
        return Ok(PatchTarget::Extension(ext.schema.id));
    }
    let path = bind_path(parse_path(raw)?, rt)?;
    check_writable(&path, op, rt)?;
    Ok(PatchTarget::Path(path))
}

fn check_writable(path: &PatchPath, op: PatchOp, rt: &ResourceType) -> ProtocolResult<()> {
    let top = AttrPath {
        sub_attr: None,
        ..path.attr.clone()
    };
    let Some(resolved) = rt.resolve(&top) else {
        return Err(ProtocolError::invalid_path(format!(
            "'{}' is not an attribute",
            path.attr
        )));
    };
    let sub_name = path.attr.sub_attr.as_deref().or(path.sub_attr.as_deref());
    let sub = sub_name.and_then(|s| resolved.attribute.sub_attribute(s));
    let read_only = resolved.attribute.mutability == Mutability::ReadOnly
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly);
    if read_only {
        return Err(ProtocolError::mutability(format!(
            "'{}' is read-only",
            path.attr
        )));
    }
    // An immutable attribute may only be given a value it does not have yet
    // (RFC 7644 §3.5.2): `add` is checked against the document by `apply`.
    let target = sub.unwrap_or(resolved.attribute);
    if target.mutability == Mutability::Immutable && op != PatchOp::Add {
        return Err(ProtocolError::mutability(format!(
            "'{}' is immutable",
            target.name
        )));
    }
    Ok(())
}

/// Applies the operations in order. All or nothing.
pub fn apply(
    resource: &mut Value,
    ops: &[PatchOperation],
    rt: &ResourceType,
) -> ProtocolResult<()> {
    let mut doc = match resource {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for op in ops {
        apply_one(&mut doc, op, rt)?;
    }
    *resource = Value::Object(doc);
    Ok(())
}

fn apply_one(
    doc: &mut Map<String, Value>,
    op: &PatchOperation,
    rt: &ResourceType,
) -> ProtocolResult<()> {
    match &op.target {
        PatchTarget::Resource => {
            let Some(Value::Object(values)) = &op.value else {
                return Err(ProtocolError::invalid_syntax(
                    "without a path the value must be an object",
                ));
            };
            for (key, value) in values {
                apply_keyed(doc, op.op, key, value, rt)?;
            }
            Ok(())
        }
        PatchTarget::Extension(urn) => match op.op {
            PatchOp::Remove => {
                remove_key(doc, urn);
                Ok(())
            }
            _ => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ProtocolError::invalid_value(format!(
                        "'{urn}' takes an object"
                    )));
                };
                for (key, value) in values {
                    apply_keyed(doc, op.op, &format!("{urn}:{key}"), value, rt)?;
                }
                Ok(())
            }
        },
        PatchTarget::Path(path) => apply_path(doc, op.op, path, op.value.as_ref(), rt),
    }
}

/// One member of a path-less value object: `userName`, `name.givenName`
/// (Entra), a URN-qualified name, or an extension URN with an object.
fn apply_keyed(
    doc: &mut Map<String, Value>,
    op: PatchOp,
    key: &str,
    value: &Value,
    rt: &ResourceType,
) -> ProtocolResult<()> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    if let Some(ext) = rt
        .extensions
        .iter()
        .find(|e| e.schema.id.eq_ignore_ascii_case(key))
    {
        let Value::Object(values) = value else {
            return Err(ProtocolError::invalid_value(format!(
                "'{}' takes an object",
                ext.schema.id
            )));
        };
        for (k, v) in values {
            apply_keyed(doc, op, &format!("{}:{k}", ext.schema.id), v, rt)?;
        }
        return Ok(());
    }
    let Some(path) = parse_path(key).ok().and_then(|p| bind_path(p, rt).ok()) else {
        // Unknown names in a value object are ignored, as on POST and PUT.
        return Ok(());
    };
    if check_writable(&path, op, rt).is_err() {
        return Ok(());
    }
    apply_path(doc, op, &path, Some(value), rt)
}

/// The object holding the attribute: the document, or its extension object.
fn container<'a>(
    doc: &'a mut Map<String, Value>,
    attr: &AttrPath,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let Some(urn) = &attr.schema else {
        return Some(doc);
    };
    let key = existing_key(doc, urn).unwrap_or_else(|| urn.clone());
    if !doc.contains_key(&key) {
        if !create {
            return None;
        }
        doc.insert(key.clone(), Value::Object(Map::new()));
    }
    match doc.get_mut(&key) {
        Some(Value::Object(map)) => Some(map),
        Some(other) if create => {
            *other = Value::Object(Map::new());
            other.as_object_mut()
        }
        _ => None,
    }
}

fn existing_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn remove_key(map: &mut Map<String, Value>, name: &str) {
    if let Some(key) = existing_key(map, name) {
        map.remove(&key);
    }
}

fn as_values(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// Two values of a multi-valued attribute are the same value when their
/// `value` sub-attributes are equal, or when they are equal whole; strings
/// compare case-insensitively unless the schema says `caseExact`.
fn same_value(a: &Value, b: &Value, def: &AttributeDef) -> bool {
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
fn value_member(item: &Value) -> Option<&Value> {
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
fn is_primary(item: &Value) -> bool {
    item.as_object()
        .and_then(|obj| get_ci(obj, "primary"))
        .is_some_and(is_true)
}

/// Sets `primary` to false on the values of `items` that have it, except the
/// ones at the indices `keep` says to keep (RFC 7644 §3.5.2).
fn demote_primaries(items: &mut [Value], keep: impl Fn(usize) -> bool) {
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
fn check_immutable(
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
fn merge_into(target: &mut Value, value: &Value, def: &AttributeDef) -> ProtocolResult<()> {
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
fn set_sub(
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

fn apply_path(
    doc: &mut Map<String, Value>,
    op: PatchOp,
    path: &PatchPath,
    value: Option<&Value>,
    rt: &ResourceType,
) -> ProtocolResult<()> {
    let top = AttrPath {
        sub_attr: None,
        ..path.attr.clone()
    };
    let def = rt
        .resolve(&top)
        .ok_or_else(|| ProtocolError::invalid_path(format!("'{}' is not an attribute", path.attr)))?
        .attribute;
    let name = def.name;
    let create = op != PatchOp::Remove;
    let Some(holder) = container(doc, &top, create) else {
        return Ok(()); // removing from an extension that is not there
    };
    let key = existing_key(holder, name).unwrap_or_else(|| name.to_owned());

    if let Some(filter) = &path.value_filter {
        apply_filtered(
            holder,
            &key,
            def,
            op,
            &top,
            filter,
            path.sub_attr.as_deref(),
            value,
            rt,
        )?;
    } else if let Some(sub) = path.attr.sub_attr.as_deref().or(path.sub_attr.as_deref()) {
        apply_sub(holder, &key, def, op, sub, value)?;
    } else {
        apply_whole(holder, &key, def, op, value)?;
    }
    tidy(holder, &key);
    if let Some(urn) = &top.schema
        && let Some(ext_key) = existing_key(doc, urn)
        && doc
            .get(&ext_key)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        doc.remove(&ext_key);
    }
    Ok(())
}

fn apply_whole(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    op: PatchOp,
    value: Option<&Value>,
) -> ProtocolResult<()> {
    let value = match value {
        Some(Value::Null) if op == PatchOp::Add && def.multi_valued => return Ok(()),
        Some(Value::Null) if op == PatchOp::Replace && def.multi_valued => None,
        _ => value,
    };
    let Some(value) = value else {
        if !def.multi_valued {
            check_immutable(def, holder.get(key), None)?;
        }
        holder.remove(key);
        return Ok(());
    };
    match (op, def.multi_valued) {
        (PatchOp::Add, true) => {
            let mut items = match holder.remove(key) {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(single) => vec![single],
            };
            let had_values = !items.is_empty();
            // The indices of the values this add wrote to: new ones, and
            // existing ones with the same `value` that take the given sub-attributes.
            let mut written = Vec::new();
            for v in as_values(value) {
                match items
                    .iter()
                    .position(|existing| same_value(existing, &v, def))
                {
                    Some(i) => {
                        if let Some(item) = items.get_mut(i)
                            && item.is_object()
                            && v.is_object()
                        {
                            merge_into(item, &v, def)?;
                        }
                        written.push(i);
                    }
                    None => {
                        if had_values && def.mutability == Mutability::Immutable {
                            return Err(ProtocolError::mutability(format!(
                                "'{}' is immutable",
                                def.name
                            )));
                        }
                        items.push(v);
                        written.push(items.len().saturating_sub(1));
                    }
                }
            }
            if written
                .iter()
                .any(|&i| items.get(i).is_some_and(is_primary))
            {
                demote_primaries(&mut items, |i| written.contains(&i));
            }
            holder.insert(key.to_owned(), Value::Array(items));
        }
        (PatchOp::Replace, true) => {
            holder.insert(key.to_owned(), Value::Array(as_values(value)));
        }
        (PatchOp::Remove, true) => {
            // Entra removes members by listing their values.
            let doomed = as_values(value);
            if let Some(Value::Array(items)) = holder.get_mut(key) {
                items.retain(|item| !doomed.iter().any(|d| same_value(item, d, def)));
            }
        }
        (PatchOp::Add | PatchOp::Replace, false) => match holder.get_mut(key) {
            Some(existing)
                if def.kind == AttributeType::Complex
                    && existing.is_object()
                    && value.is_object() =>
            {
                merge_into(existing, value, def)?;
            }
            existing => {
                if !check_immutable(def, existing.map(|e| &*e), Some(value))? {
                    holder.insert(key.to_owned(), value.clone());
                }
            }
        },
        (PatchOp::Remove, false) => {
            check_immutable(def, holder.get(key), None)?;
            holder.remove(key);
        }
    }
    Ok(())
}

fn apply_sub(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    op: PatchOp,
    sub: &str,
    value: Option<&Value>,
) -> ProtocolResult<()> {
    let sub_def = def.sub_attribute(sub);
    let value = value.filter(|_| op != PatchOp::Remove);
    if def.multi_valued {
        if let Some(Value::Array(items)) = holder.get_mut(key) {
            for item in items {
                set_sub(item, sub, sub_def, value)?;
            }
        }
        return Ok(());
    }
    if op != PatchOp::Remove && !holder.get(key).is_some_and(Value::is_object) {
        holder.insert(key.to_owned(), Value::Object(Map::new()));
    }
    match holder.get_mut(key) {
        Some(element) => set_sub(element, sub, sub_def, value),
        None => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_filtered(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    op: PatchOp,
    attr: &AttrPath,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
    rt: &ResourceType,
) -> ProtocolResult<()> {
    let mut items = match holder.remove(key) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(single) => vec![single],
    };
    let probe = Filter::ValuePath {
        attr: attr.clone(),
        filter: Box::new(filter.clone()),
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, element)| matches(&probe, &single_element_resource(attr, element), rt))
        .map(|(i, _)| i)
        .collect();
    // The indices of the values an add or replace wrote to.
    let result = (|| -> ProtocolResult<Vec<usize>> {
        match (op, sub) {
            (PatchOp::Remove, None) => {
                let mut index = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&index);
                    index += 1;
                    keep
                });
                Ok(Vec::new())
            }
            (PatchOp::Remove, Some(sub)) => {
                for &i in &matched {
                    if let Some(item) = items.get_mut(i) {
                        set_sub(item, sub, def.sub_attribute(sub), None)?;
                    }
                }
                Ok(Vec::new())
            }
            (_, Some(sub)) => {
                let value = value.cloned().unwrap_or(Value::Null);
                if matched.is_empty() {
                    let mut element = element_from_filter(filter).ok_or_else(|| {
                        ProtocolError::no_target(format!("no value of '{attr}' matches the filter"))
                    })?;
                    element.insert(sub.to_owned(), value);
                    items.push(Value::Object(element));
                    return Ok(vec![items.len().saturating_sub(1)]);
                }
                for &i in &matched {
                    if let Some(item) = items.get_mut(i) {
                        set_sub(item, sub, def.sub_attribute(sub), Some(&value))?;
                    }
                }
                Ok(matched.clone())
            }
            (_, None) => {
                let value = value.cloned().unwrap_or(Value::Null);
                if matched.is_empty() {
                    if op == PatchOp::Replace {
                        return Err(ProtocolError::no_target(format!(
                            "no value of '{attr}' matches the filter"
                        )));
                    }
                    let mut element = element_from_filter(filter).unwrap_or_default();
                    if let Value::Object(v) = &value {
                        element.extend(v.clone());
                        items.push(Value::Object(element));
                    } else {
                        items.push(value);
                    }
                    return Ok(vec![items.len().saturating_sub(1)]);
                }
                for &i in &matched {
                    if let Some(item) = items.get_mut(i) {
                        if op == PatchOp::Add {
                            merge_into(item, &value, def)?;
                        } else {
                            *item = value.clone();
                        }
                    }
                }
                Ok(matched.clone())
            }
        }
    })();
    // A value written primary (by the value, the sub-attribute, or the
    // filter's terms for a new value) takes it from the others.
    let result = result.map(|written| {
        if written
            .iter()
            .any(|&i| items.get(i).is_some_and(is_primary))
        {
            demote_primaries(&mut items, |i| written.contains(&i));
        }
    });
    holder.insert(key.to_owned(), Value::Array(items));
    result
}

/// A document holding just this one value of `attr`, for the evaluator.
fn single_element_resource(attr: &AttrPath, element: &Value) -> Value {
    let mut inner = Map::new();
    inner.insert(attr.name.clone(), Value::Array(vec![element.clone()]));
    match &attr.schema {
        None => Value::Object(inner),
        Some(urn) => {
            let mut outer = Map::new();
            outer.insert(urn.clone(), Value::Object(inner));
            Value::Object(outer)
        }
    }
}

/// The sub-attribute values a conjunction of `eq` terms pins down
/// (`type eq "work" and primary eq true`), or None for any other filter.
fn element_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.sub_attr.is_none() => {
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return None,
                };
                out.insert(path.name.clone(), v);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Drops an attribute left empty by the operation (RFC 7643 §2.5: unassigned).
fn tidy(holder: &mut Map<String, Value>, key: &str) {
    let empty = match holder.get(key) {
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(obj)) => obj.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        holder.remove(key);
    }
}

/// Pulls every operation on `members` out of a Group PATCH: memberships live in
/// their own table and are changed by id, never by rewriting a member list.
/// A path-less operation loses its `members` key (plain or qualified with the
/// Group URN); what else it sets stays. The remaining operations come back in
/// order.
pub fn split_members(
    ops: Vec<PatchOperation>,
) -> ProtocolResult<(Vec<PatchOperation>, Vec<MemberChange>)> {
    let mut rest = Vec::with_capacity(ops.len());
    let mut changes = Vec::new();
    for op in ops {
        match &op.target {
            PatchTarget::Path(path)
                if path.attr.schema.is_none() && path.attr.name.eq_ignore_ascii_case("members") =>
            {
                changes.push(member_change(op.op, path, op.value.as_ref())?);
            }
            PatchTarget::Resource => {
                let Some(Value::Object(values)) = &op.value else {
                    rest.push(op);
                    continue;
                };
                let mut others = Map::new();
                // Keys differing only in case (`members`, `Members`, the
                // URN-qualified name) name one attribute: their ids make one
                // change.
                let mut members: Option<Vec<String>> = None;
                for (key, value) in values {
                    if !is_members_key(key) {
                        others.insert(key.clone(), value.clone());
                        continue;
                    }
                    let ids = member_ids(value)?;
                    let all = members.get_or_insert_with(Vec::new);
                    for id in ids {
                        if !all.contains(&id) {
                            all.push(id);
                        }
                    }
                }
                if let Some(ids) = members {
                    changes.push(match op.op {
                        PatchOp::Add => MemberChange::Add(ids),
                        _ => MemberChange::Replace(ids),
                    });
                }
                if !others.is_empty() {
                    rest.push(PatchOperation {
                        op: op.op,
                        target: PatchTarget::Resource,
                        value: Some(Value::Object(others)),
                    });
                }
            }
            _ => rest.push(op),
        }
    }
    Ok((rest, changes))
}

/// `members`, or `urn:…:core:2.0:Group:members`, in any case: a key of a
/// path-less value that names the members.
fn is_members_key(key: &str) -> bool {
    let name = match key.rsplit_once(':') {
        Some((urn, name)) if urn.eq_ignore_ascii_case(GROUP_URN) => name,
        Some(_) => return false,
        None => key,
    };
    name.eq_ignore_ascii_case("members")
}

fn member_change(
    op: PatchOp,
    path: &PatchPath,
    value: Option<&Value>,
) -> ProtocolResult<MemberChange> {
    let unsupported = || {
        ProtocolError::invalid_path(
            "members are added, replaced or removed whole, or removed with members[value eq \"id\"]",
        )
    };
    if path.attr.sub_attr.is_some() || path.sub_attr.is_some() {
        return Err(unsupported());
    }
    match (op, &path.value_filter) {
        (PatchOp::Add, None) => Ok(MemberChange::Add(member_ids(
            value.unwrap_or(&Value::Null),
        )?)),
        (PatchOp::Replace, None) => Ok(MemberChange::Replace(member_ids(
            value.unwrap_or(&Value::Null),
        )?)),
        (PatchOp::Remove, None) => match value {
            Some(v) if !v.is_null() => Ok(MemberChange::Remove(member_ids(v)?)),
            _ => Ok(MemberChange::RemoveAll),
        },
        (PatchOp::Remove, Some(filter)) => {
            let mut ids = Vec::new();
            let mut stack = vec![filter];
            while let Some(f) = stack.pop() {
                match f {
                    Filter::Or(a, b) => {
                        stack.push(b);
                        stack.push(a);
                    }
                    Filter::Compare {
                        path,
                        op: CompareOp::Eq,
                        value: CompValue::Str(id),
                    } if path.name.eq_ignore_ascii_case("value") && path.sub_attr.is_none() => {
                        ids.push(id.clone());
                    }
                    _ => {
                        return Err(ProtocolError::invalid_filter(
                            "members can be removed by filter only with value eq \"id\" terms joined by or",
                        ));
                    }
                }
            }
            Ok(MemberChange::Remove(ids))
        }
        _ => Err(unsupported()),
    }
}

fn member_ids(value: &Value) -> ProtocolResult<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(member_id).collect(),
        single => Ok(vec![member_id(single)?]),
    }
}

fn member_id(member: &Value) -> ProtocolResult<String> {
    match value_member(member) {
        Some(Value::String(id)) => Ok(id.clone()),
        _ => Err(ProtocolError::invalid_value(
            "every member needs a string value",
        )),
    }
}
