//! Reading a PatchOp request: operations, their `op`, `path` and `value`, and
//! whether the path may be written.

use serde_json::Value;

use super::operation::{MAX_OPERATIONS, PatchOp, PatchOperation, PatchRequest, PatchTarget};
use super::values::get_ci;
use crate::ast::{AttrPath, PatchPath};
use crate::error::{ProtocolError, ProtocolResult};
use crate::filter::{bind_path, parse_path};
use crate::schema::{Mutability, PATCH_OP_URN, ResourceType};

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

pub(super) fn check_writable(
    path: &PatchPath,
    op: PatchOp,
    rt: &ResourceType,
) -> ProtocolResult<()> {
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
