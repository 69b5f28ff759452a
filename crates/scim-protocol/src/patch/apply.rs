//! Applying parsed operations to a canonical document: path-less value objects,
//! extension objects, whole attributes, sub-attributes and value filters.

use serde_json::{Map, Value};

use super::operation::{PatchOp, PatchOperation, PatchTarget};
use super::parse::check_writable;
use super::values::{
    as_values, check_immutable, demote_primaries, existing_key, is_hollow, is_primary, merge_into,
    remove_key, same_value, set_sub,
};
use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::error::{ProtocolError, ProtocolResult};
use crate::filter::{bind_path, matches, parse_path};
use crate::schema::{AttributeDef, AttributeType, Mutability, ResourceType};

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
        PatchTarget::Extension(urn) => match (op.op, &op.value) {
            (PatchOp::Remove, _) | (PatchOp::Replace, Some(Value::Null)) => {
                remove_key(doc, urn);
                Ok(())
            }
            (PatchOp::Add, Some(Value::Null)) => Ok(()),
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
        // Null is "unassigned" (RFC 7643 §2.5), as on POST and PUT: adding
        // it adds nothing, replacing with it clears the extension.
        match (op, value) {
            (PatchOp::Add, Value::Null) => return Ok(()),
            (PatchOp::Replace, Value::Null) => {
                remove_key(doc, ext.schema.id);
                return Ok(());
            }
            _ => {}
        }
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
    if def.multi_valued && !value.is_array() {
        return Err(ProtocolError::invalid_value(format!(
            "'{}' is multi-valued: its value must be an array",
            def.name
        )));
    }
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
        let mut items = match holder.remove(key) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(single) => vec![single],
        };
        // `add` to `emails.value` with no e-mail makes one: a silent no-op
        // would lose the change. A sub-attribute that only describes a value
        // (`emails.type`) has nothing to describe.
        let assigned = value.filter(|v| !v.is_null());
        let created = items.is_empty() && assigned.is_some();
        if created {
            items.push(Value::Object(Map::new()));
        }
        for item in items.iter_mut() {
            set_sub(item, sub, sub_def, value)?;
        }
        if created && items.iter().any(|item| is_hollow(item, def)) {
            return Err(ProtocolError::no_target(format!(
                "'{}' has no value for '{sub}' to describe",
                def.name
            )));
        }
        if op == PatchOp::Remove {
            items.retain(|item| !is_hollow(item, def));
        }
        holder.insert(key.to_owned(), Value::Array(items));
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
                // Removing `emails[type eq "work"].value` removes the work
                // e-mail (Entra's way of clearing it), not just its address.
                let mut index = 0;
                items.retain(|item| {
                    let keep = !(matched.contains(&index) && is_hollow(item, def));
                    index += 1;
                    keep
                });
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
