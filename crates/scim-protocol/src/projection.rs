//! Attribute projection: the `attributes` and `excludedAttributes` parameters
//! (RFC 7644 §3.4.2.5, §3.9) combined with each attribute's `returned`
//! characteristic (RFC 7643 §2.4).
//!
//! Rules applied by [`project`]:
//!
//! - `schemas` and `returned: always` attributes (`id`) are always present;
//!   `returned: never` ones (`password`) never are.
//! - With a non-empty `attributes` list, only the listed attributes (and the
//!   `always` ones) are returned; `name.givenName` keeps only that sub-attribute,
//!   `name` the whole value. `returned: request` attributes appear only when
//!   listed. `excludedAttributes` is then ignored (the RFC makes the two
//!   alternatives).
//! - Otherwise every `default` attribute is returned except the excluded ones;
//!   an excluded sub-attribute (`meta.version`) removes only that sub-attribute.
//! - `meta` is an ordinary complex attribute (returned by default).
//! - Attributes the schema does not know are dropped; complex values and
//!   arrays left empty are removed.

use serde_json::{Map, Value};

use crate::ast::AttrPath;
use crate::error::{ProtocolError, ProtocolResult};
use crate::schema::{
    AttributeDef, AttributeType, ResolvedAttribute, ResourceType, Returned, Schema,
};

/// Parses a comma-separated `attributes` / `excludedAttributes` value into
/// canonical paths (see [`ResolvedAttribute::canonical_path`]).
///
/// Items are trimmed; empty items and names the resource type does not know are
/// skipped; duplicates are removed. A bare schema URN stands for every attribute
/// of that schema. An item that is not `[URN:]name[.subName]` (e.g. a filter,
/// `emails[type eq "work"]`) is an `invalidValue` error.
pub fn parse_attribute_list(input: &str, rt: &ResourceType) -> ProtocolResult<Vec<AttrPath>> {
    let mut out: Vec<AttrPath> = Vec::new();
    let mut push = |path: AttrPath| {
        if !out.contains(&path) {
            out.push(path);
        }
    };
    for (index, item) in input.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if let Some(schema) = rt.schema_by_urn(item) {
            for attribute in schema.attributes {
                let path = AttrPath::new(attribute.name).in_schema(schema.id);
                if let Some(resolved) = rt.resolve(&path) {
                    push(resolved.canonical_path(rt));
                }
            }
            continue;
        }
        let path = parse_item(item).ok_or_else(|| {
            ProtocolError::invalid_value(format!(
                "item {} of the attribute list is not an attribute name",
                index + 1
            ))
        })?;
        if let Some(resolved) = rt.resolve(&path) {
            push(resolved.canonical_path(rt));
        }
    }
    Ok(out)
}

/// `[URN ":"] attrName ["." subAttr]`; the URN is everything before the last `:`.
fn parse_item(item: &str) -> Option<AttrPath> {
    let (schema, rest) = if item
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        let (urn, rest) = item.rsplit_once(':')?;
        (Some(urn), rest)
    } else {
        (None, item)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return None;
    }
    Some(AttrPath {
        schema: schema.map(str::to_owned),
        name: name.to_owned(),
        sub_attr: sub.map(str::to_owned),
    })
}

/// `ALPHA *(nameChar)` with `nameChar = "-" / "_" / DIGIT / ALPHA`, or `$ref`.
fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Returns the representation of `resource` to send, given the (canonical or
/// not: they are resolved against `rt`) requested and excluded paths.
pub fn project(
    resource: &Value,
    rt: &ResourceType,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Value {
    let Value::Object(resource) = resource else {
        return resource.clone();
    };
    let selection = Selection::new(rt, attributes, excluded);
    let mut out = Map::new();
    for (key, value) in resource {
        if key.eq_ignore_ascii_case("schemas") {
            out.insert("schemas".to_owned(), value.clone());
            continue;
        }
        if let Some(ext) = rt
            .schema_by_urn(key)
            .filter(|s| !std::ptr::eq(*s, rt.schema))
        {
            let Value::Object(members) = value else {
                continue;
            };
            let mut projected = Map::new();
            for (name, value) in members {
                if let Some(def) = ext.attribute(name)
                    && let Some(v) = selection.project_attribute(Some(ext), def, value)
                {
                    projected.insert(def.name.to_owned(), v);
                }
            }
            if !projected.is_empty() {
                out.insert(ext.id.to_owned(), Value::Object(projected));
            }
            continue;
        }
        if let Some(resolved) = rt.resolve(&AttrPath::new(key.as_str()))
            && let Some(v) = selection.project_attribute(resolved.schema, resolved.attribute, value)
        {
            out.insert(resolved.attribute.name.to_owned(), v);
        }
    }
    Value::Object(out)
}

/// Whether the top-level attribute `attr` (`members`, `groups`,
/// `urn:…:enterprise:2.0:User:manager`; a sub-attribute path is judged by its
/// parent) can appear in [`project`]'s output for these parameters. Lets the
/// caller skip loading what will not be returned. `schemas` is always requested;
/// unknown names never are.
pub fn is_requested(
    rt: &ResourceType,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
    attr: &str,
) -> bool {
    if attr.eq_ignore_ascii_case("schemas") {
        return true;
    }
    let Some(path) = parse_item(attr.trim()) else {
        return false;
    };
    let Some(resolved) = rt.resolve(&AttrPath {
        sub_attr: None,
        ..path
    }) else {
        return false;
    };
    Selection::new(rt, attributes, excluded)
        .inclusion(resolved.schema, resolved.attribute)
        .is_some()
}

struct Selection {
    attributes: Vec<ResolvedAttribute>,
    excluded: Vec<ResolvedAttribute>,
}

/// How much of one top-level attribute to return.
struct Inclusion {
    /// Listed explicitly (whole or by sub-attribute) in `attributes`.
    requested: bool,
    /// `Some`: only these sub-attributes (plus `always` ones).
    only: Option<Vec<&'static str>>,
    /// Sub-attributes to drop.
    excluded: Vec<&'static str>,
}

impl Selection {
    fn new(rt: &ResourceType, attributes: &[AttrPath], excluded: &[AttrPath]) -> Self {
        let resolve = |paths: &[AttrPath]| paths.iter().filter_map(|p| rt.resolve(p)).collect();
        Self {
            attributes: resolve(attributes),
            excluded: resolve(excluded),
        }
    }

    fn inclusion(&self, schema: Option<&'static Schema>, def: &AttributeDef) -> Option<Inclusion> {
        let same = |r: &&ResolvedAttribute| {
            r.attribute.name == def.name
                && match (r.schema, schema) {
                    (None, None) => true,
                    (Some(a), Some(b)) => std::ptr::eq(a, b),
                    _ => false,
                }
        };
        let subs = |list: &[ResolvedAttribute]| -> Vec<&'static str> {
            list.iter()
                .filter(same)
                .filter_map(|r| r.sub_attribute.map(|s| s.name))
                .collect()
        };
        match def.returned {
            Returned::Never => None,
            Returned::Always => Some(Inclusion {
                requested: true,
                only: None,
                excluded: Vec::new(),
            }),
            Returned::Default | Returned::Request if !self.attributes.is_empty() => {
                if self
                    .attributes
                    .iter()
                    .filter(same)
                    .any(|r| r.sub_attribute.is_none())
                {
                    return Some(Inclusion {
                        requested: true,
                        only: None,
                        excluded: Vec::new(),
                    });
                }
                let only = subs(&self.attributes);
                (!only.is_empty()).then_some(Inclusion {
                    requested: true,
                    only: Some(only),
                    excluded: Vec::new(),
                })
            }
            Returned::Request => None,
            Returned::Default => {
                if self
                    .excluded
                    .iter()
                    .filter(same)
                    .any(|r| r.sub_attribute.is_none())
                {
                    return None;
                }
                Some(Inclusion {
                    requested: false,
                    only: None,
                    excluded: subs(&self.excluded),
                })
            }
        }
    }

    fn project_attribute(
        &self,
        schema: Option<&'static Schema>,
        def: &'static AttributeDef,
        value: &Value,
    ) -> Option<Value> {
        let inclusion = self.inclusion(schema, def)?;
        if def.kind != AttributeType::Complex {
            return Some(value.clone());
        }
        match value {
            Value::Array(items) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter_map(|item| project_complex(def, &inclusion, item))
                    .collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            }
            other => project_complex(def, &inclusion, other),
        }
    }
}

fn project_complex(def: &AttributeDef, inclusion: &Inclusion, value: &Value) -> Option<Value> {
    let Value::Object(members) = value else {
        // Not what the schema says; pass it through only when nothing is filtered.
        return (inclusion.only.is_none() && inclusion.excluded.is_empty()).then(|| value.clone());
    };
    let mut out = Map::new();
    for (name, value) in members {
        let Some(sub) = def.sub_attribute(name) else {
            continue;
        };
        let keep = match sub.returned {
            Returned::Never => false,
            Returned::Always => true,
            Returned::Default | Returned::Request => match &inclusion.only {
                Some(only) => only.contains(&sub.name),
                None => {
                    (sub.returned == Returned::Default || inclusion.requested)
                        && !inclusion.excluded.contains(&sub.name)
                }
            },
        };
        if keep {
            out.insert(sub.name.to_owned(), value.clone());
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}
