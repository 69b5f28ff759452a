//! In-memory evaluation of a bound filter against a resource's JSON. The
//! semantics are specified in the module docs of [`super`].

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::DateTime;
use serde_json::{Number, Value};

use super::bind;
use crate::ast::{AttrPath, CompValue, CompareOp, Filter};
use crate::schema::{AttributeDef, AttributeType, ResourceType};

#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(&'a ResourceType),
    /// Inside `attr[...]`: paths name sub-attributes of this (multi-valued) attribute.
    Element(Option<&'static AttributeDef>),
}

pub(super) fn matches(filter: &Filter, resource: &Value, rt: &ResourceType) -> bool {
    eval(filter, resource, Scope::Resource(rt))
}

fn eval(f: &Filter, ctx: &Value, scope: Scope<'_>) -> bool {
    match f {
        Filter::Compare { path, op, value } => {
            let (def, values) = locate(path, ctx, scope);
            compare_any(def, &values, *op, value)
        }
        Filter::Present(path) => locate(path, ctx, scope).1.iter().any(|v| !is_empty(v)),
        Filter::Not(inner) => !eval(inner, ctx, scope),
        Filter::And(a, b) => eval(a, ctx, scope) && eval(b, ctx, scope),
        Filter::Or(a, b) => eval(a, ctx, scope) || eval(b, ctx, scope),
        Filter::ValuePath { attr, filter } => {
            let (def, elements) = locate(attr, ctx, scope);
            let inner = Scope::Element(def);
            elements.iter().any(|e| eval(filter, e, inner))
        }
    }
}

/// The definition a path ends at (when known) and its non-null values, with
/// multi-valued attributes flattened into one list.
fn locate<'v>(
    path: &AttrPath,
    ctx: &'v Value,
    scope: Scope<'_>,
) -> (Option<&'static AttributeDef>, Vec<&'v Value>) {
    let (def, container, name, sub): (_, _, &str, Option<&str>) = match scope {
        Scope::Resource(rt) => match bind::resolve(rt, path) {
            Some(t) => {
                let container = match t.extension {
                    Some(urn) => get_ci(ctx, urn),
                    None => Some(ctx),
                };
                (
                    Some(t.def()),
                    container,
                    t.attribute.name,
                    t.sub.map(|s| s.name),
                )
            }
            // Unbound and unknown: look it up as written.
            None => {
                let container = match &path.schema {
                    Some(urn) => get_ci(ctx, urn),
                    None => Some(ctx),
                };
                (None, container, &path.name, path.sub_attr.as_deref())
            }
        },
        Scope::Element(parent) => (
            parent.and_then(|p| p.sub_attribute(&path.name)),
            Some(ctx),
            &path.name,
            path.sub_attr.as_deref(),
        ),
    };
    let mut out = Vec::new();
    let Some(top) = container.and_then(|c| get_ci(c, name)) else {
        return (def, out);
    };
    match sub {
        None => push_flat(top, &mut out),
        Some(sub) => match top {
            Value::Array(items) => {
                for item in items {
                    if let Some(v) = get_ci(item, sub) {
                        push_flat(v, &mut out);
                    }
                }
            }
            _ => {
                if let Some(v) = get_ci(top, sub) {
                    push_flat(v, &mut out);
                }
            }
        },
    }
    (def, out)
}

fn push_flat<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|x| !x.is_null())),
        _ => out.push(v),
    }
}

/// Object member lookup: exact key first, then ASCII case-insensitive.
fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn compare_any(
    def: Option<&AttributeDef>,
    values: &[&Value],
    op: CompareOp,
    value: &CompValue,
) -> bool {
    match (op, value) {
        (CompareOp::Eq, CompValue::Null) => values.is_empty(),
        (CompareOp::Ne, CompValue::Null) => !values.is_empty(),
        (_, CompValue::Null) => false,
        (CompareOp::Ne, _) => !values.iter().any(|v| compare(def, v, CompareOp::Eq, value)),
        _ => values.iter().any(|v| compare(def, v, op, value)),
    }
}

/// One stored value against the filter value; `op` is never `ne` here.
fn compare(def: Option<&AttributeDef>, stored: &Value, op: CompareOp, value: &CompValue) -> bool {
    let kind = match def {
        Some(d) => d.kind,
        None => match value {
            CompValue::Bool(_) => AttributeType::Boolean,
            CompValue::Number(_) => AttributeType::Decimal,
            CompValue::Str(_) | CompValue::Null => AttributeType::String,
        },
    };
    match (kind, stored, value) {
        (
            AttributeType::String | AttributeType::Reference | AttributeType::Binary,
            Value::String(a),
            CompValue::Str(b),
        ) => compare_str(a, b, def.is_some_and(|d| d.case_exact), op),
        (AttributeType::Boolean, Value::Bool(a), CompValue::Bool(b)) => {
            op == CompareOp::Eq && a == b
        }
        (
            AttributeType::Integer | AttributeType::Decimal,
            Value::Number(a),
            CompValue::Number(b),
        ) => ordered(op, compare_numbers(a, b)),
        (AttributeType::DateTime, Value::String(a), CompValue::Str(b)) => {
            match (
                DateTime::parse_from_rfc3339(a),
                DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(a), Ok(b)) => ordered(op, Some(a.cmp(&b))),
                _ => false,
            }
        }
        _ => false,
    }
}

fn compare_str(a: &str, b: &str, case_exact: bool, op: CompareOp) -> bool {
    let (a, b): (Cow<'_, str>, Cow<'_, str>) = if case_exact {
        (a.into(), b.into())
    } else {
        (a.to_lowercase().into(), b.to_lowercase().into())
    };
    match op {
        CompareOp::Co => a.contains(b.as_ref()),
        CompareOp::Sw => a.starts_with(b.as_ref()),
        CompareOp::Ew => a.ends_with(b.as_ref()),
        _ => ordered(op, Some(a.cmp(&b))),
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn ordered(op: CompareOp, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
