//! A group's `members` taken out of a PATCH request as changes by member id.

use serde_json::{Map, Value};

use super::operation::{MemberChange, PatchOp, PatchOperation, PatchTarget};
use super::values::value_member;
use crate::ast::{CompValue, CompareOp, Filter, PatchPath};
use crate::error::{ProtocolError, ProtocolResult};
use crate::schema::GROUP_URN;

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
        _ => Err(ProtocolError::invalid_value(
            "'members' is multi-valued: its value must be an array",
        )),
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
