//! Schema binding: resolves every attribute path of a parsed filter or PATCH path
//! against a [`ResourceType`], rewrites it to canonical spelling and checks that
//! each comparison fits the attribute's type.

use chrono::{DateTime, SecondsFormat, Utc};

use super::lexer::clip;
use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::error::{ErrorKind, ProtocolError, ProtocolResult};
use crate::schema::{AttributeDef, AttributeType, Mutability, ResourceType, Returned, Uniqueness};

/// `schemas` (RFC 7643 §3) is no common attribute, but `schemas eq "urn:…"` is a
/// filter RFC 7644 shows; used when the schema model does not define it.
pub(super) static SCHEMAS_ATTRIBUTE: AttributeDef = AttributeDef {
    multi_valued: true,
    required: true,
    mutability: Mutability::ReadWrite,
    returned: Returned::Always,
    uniqueness: Uniqueness::None,
    description: "The schema URIs of the resource.",
    ..AttributeDef::base("schemas", AttributeType::Reference)
};

/// Where a path lands in a resource of a given type.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target {
    pub attribute: &'static AttributeDef,
    pub sub: Option<&'static AttributeDef>,
    /// The URN key the attribute sits under, for extension attributes.
    pub extension: Option<&'static str>,
}

impl Target {
    pub fn def(&self) -> &'static AttributeDef {
        self.sub.unwrap_or(self.attribute)
    }

    fn canonical(&self) -> AttrPath {
        AttrPath {
            schema: self.extension.map(str::to_owned),
            name: self.attribute.name.to_owned(),
            sub_attr: self.sub.map(|s| s.name.to_owned()),
        }
    }
}

pub(super) fn resolve(rt: &ResourceType, path: &AttrPath) -> Option<Target> {
    if let Some(r) = rt.resolve(path) {
        return Some(Target {
            attribute: r.attribute,
            sub: r.sub_attribute,
            extension: if r.is_extension(rt) {
                r.schema.map(|s| s.id)
            } else {
                None
            },
        });
    }
    let is_schemas = path.schema.is_none()
        && path.sub_attr.is_none()
        && path.name.eq_ignore_ascii_case(SCHEMAS_ATTRIBUTE.name);
    is_schemas.then_some(Target {
        attribute: &SCHEMAS_ATTRIBUTE,
        sub: None,
        extension: None,
    })
}

pub(super) fn bind_filter(filter: Filter, rt: &ResourceType) -> ProtocolResult<Filter> {
    Binder {
        rt,
        kind: ErrorKind::InvalidFilter,
    }
    .filter(filter, None)
}

pub(super) fn bind_path(path: PatchPath, rt: &ResourceType) -> ProtocolResult<PatchPath> {
    let b = Binder {
        rt,
        kind: ErrorKind::InvalidPath,
    };
    let PatchPath {
        attr,
        value_filter,
        sub_attr,
    } = path;
    let Some(value_filter) = value_filter else {
        if sub_attr.is_some() {
            return Err(b.err(format!(
                "'{}': a trailing sub-attribute needs a value filter '[...]'",
                clip(&attr.to_string())
            )));
        }
        let target = b.resolve(&attr)?;
        return Ok(PatchPath {
            attr: target.canonical(),
            value_filter: None,
            sub_attr: None,
        });
    };
    let target = b.value_path_target(&attr)?;
    let parent = target.attribute;
    if !parent.multi_valued {
        return Err(b.err(format!(
            "'{}' is not multi-valued, so it takes no value filter '[...]'",
            parent.name
        )));
    }
    let value_filter = b.filter(value_filter, Some(parent))?;
    let sub_attr = match sub_attr {
        None => None,
        Some(sub) => Some(
            parent
                .sub_attribute(&sub)
                .ok_or_else(|| b.no_sub(parent, &sub))?
                .name
                .to_owned(),
        ),
    };
    Ok(PatchPath {
        attr: target.canonical(),
        value_filter: Some(value_filter),
        sub_attr,
    })
}

struct Binder<'a> {
    rt: &'a ResourceType,
    kind: ErrorKind,
}

impl Binder<'_> {
    fn err(&self, detail: String) -> ProtocolError {
        ProtocolError::new(self.kind, detail)
    }

    /// `parent` is the multi-valued attribute when binding inside `attr[...]`.
    fn filter(&self, f: Filter, parent: Option<&'static AttributeDef>) -> ProtocolResult<Filter> {
        // `and`/`or` chains are left-deep and may be ~1000 long: walk the left
        // spine iteratively so the recursion depth follows the nesting only.
        let mut spine = Vec::new();
        let mut node = f;
        loop {
            match node {
                Filter::And(a, b) => {
                    spine.push((true, b));
                    node = *a;
                }
                Filter::Or(a, b) => {
                    spine.push((false, b));
                    node = *a;
                }
                other => {
                    node = other;
                    break;
                }
            }
        }
        let mut acc = self.leaf(node, parent)?;
        while let Some((is_and, right)) = spine.pop() {
            let right = self.filter(*right, parent)?;
            acc = if is_and {
                Filter::and(acc, right)
            } else {
                Filter::or(acc, right)
            };
        }
        Ok(acc)
    }

    /// Binds one node; [`Self::filter`] walks `and`/`or` chains.
    fn leaf(&self, f: Filter, parent: Option<&'static AttributeDef>) -> ProtocolResult<Filter> {
        Ok(match f {
            Filter::Compare { path, op, value } => {
                let (path, def) = self.comparable(path, parent)?;
                let value = self.value(&path, def, op, value)?;
                Filter::Compare { path, op, value }
            }
            Filter::Present(path) => {
                let (path, _) = self.attr(path, parent)?;
                Filter::Present(path)
            }
            Filter::ValuePath { attr, filter } => {
                if let Some(p) = parent {
                    return Err(self.err(format!(
                        "value filters cannot nest (inside '{}[...]')",
                        p.name
                    )));
                }
                let target = self.value_path_target(&attr)?;
                let def = target.attribute;
                if !(def.multi_valued && def.kind == AttributeType::Complex) {
                    return Err(self.err(format!(
                        "'{}' is not a multi-valued complex attribute, so it takes no value filter '[...]'",
                        def.name
                    )));
                }
                self.filterable(def, def.name)?;
                Filter::ValuePath {
                    attr: target.canonical(),
                    filter: Box::new(self.filter(*filter, Some(def))?),
                }
            }
            Filter::Not(inner) => Filter::negate(self.filter(*inner, parent)?),
            chain @ (Filter::And(..) | Filter::Or(..)) => self.filter(chain, parent)?,
        })
    }

    fn value_path_target(&self, attr: &AttrPath) -> ProtocolResult<Target> {
        if attr.sub_attr.is_some() {
            return Err(self.err(format!(
                "'{}': a value filter '[...]' cannot follow a sub-attribute",
                clip(&attr.to_string())
            )));
        }
        self.resolve(attr)
    }

    /// Resolves a path (relative to `parent` inside `attr[...]`) to its canonical
    /// form and the definition it ends at.
    fn attr(
        &self,
        path: AttrPath,
        parent: Option<&'static AttributeDef>,
    ) -> ProtocolResult<(AttrPath, &'static AttributeDef)> {
        match parent {
            None => {
                let target = self.resolve(&path)?;
                self.filterable(target.attribute, target.attribute.name)?;
                let def = target.def();
                self.filterable(def, &target.canonical().to_string())?;
                Ok((target.canonical(), def))
            }
            Some(parent) => {
                if path.schema.is_some() || path.sub_attr.is_some() {
                    return Err(self.err(format!(
                        "inside '{}[...]' attribute names must be plain sub-attribute names, not '{}'",
                        parent.name,
                        clip(&path.to_string())
                    )));
                }
                let def = parent
                    .sub_attribute(&path.name)
                    .ok_or_else(|| self.no_sub(parent, &path.name))?;
                self.filterable(def, &format!("{}.{}", parent.name, def.name))?;
                Ok((AttrPath::new(def.name), def))
            }
        }
    }

    /// Like [`Self::attr`], for the left side of a comparison: a multi-valued
    /// complex attribute with a `value` sub-attribute stands for that
    /// sub-attribute (`emails co "x"` is `emails.value co "x"`).
    fn comparable(
        &self,
        path: AttrPath,
        parent: Option<&'static AttributeDef>,
    ) -> ProtocolResult<(AttrPath, &'static AttributeDef)> {
        let (path, def) = self.attr(path, parent)?;
        if def.kind != AttributeType::Complex {
            return Ok((path, def));
        }
        match def.sub_attribute("value") {
            Some(_) if def.multi_valued && path.sub_attr.is_none() && parent.is_none() => {
                let value_path = AttrPath {
                    sub_attr: Some("value".to_owned()),
                    ..path
                };
                self.attr(value_path, None)
            }
            _ => Err(self.err(format!(
                "'{}' is a complex attribute: compare one of its sub-attributes instead",
                clip(&path.to_string())
            ))),
        }
    }

    fn resolve(&self, path: &AttrPath) -> ProtocolResult<Target> {
        resolve(self.rt, path).ok_or_else(|| self.unknown(path))
    }

    /// Attributes never returned (e.g. `password`) must not be probed by filters.
    fn filterable(&self, def: &AttributeDef, shown: &str) -> ProtocolResult<()> {
        if self.kind == ErrorKind::InvalidFilter
            && (def.returned == Returned::Never || def.mutability == Mutability::WriteOnly)
        {
            return Err(self.err(format!("'{shown}' cannot be used in a filter")));
        }
        Ok(())
    }

    fn unknown(&self, path: &AttrPath) -> ProtocolError {
        if let Some(urn) = &path.schema
            && self.rt.schema_by_urn(urn).is_none()
        {
            return self.err(format!(
                "unknown schema '{}' for resource type {}",
                clip(urn),
                self.rt.name
            ));
        }
        let base = AttrPath {
            sub_attr: None,
            ..path.clone()
        };
        match (self.rt.resolve(&base), &path.sub_attr) {
            (Some(r), Some(sub)) => self.no_sub(r.attribute, sub),
            _ => {
                let hint = if path.schema.is_none() {
                    self.rt
                        .extensions
                        .iter()
                        .find(|e| e.schema.attribute(&path.name).is_some())
                        .map(|e| {
                            format!(
                                " (extension attributes need their schema URN: '{}:{}')",
                                e.schema.id,
                                clip(&path.name)
                            )
                        })
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                self.err(format!(
                    "unknown attribute '{}' for resource type {}{hint}",
                    clip(&base.to_string()),
                    self.rt.name
                ))
            }
        }
    }

    fn no_sub(&self, parent: &AttributeDef, sub: &str) -> ProtocolError {
        if parent.kind == AttributeType::Complex {
            self.err(format!(
                "'{}' has no sub-attribute '{}'",
                parent.name,
                clip(sub)
            ))
        } else {
            self.err(format!(
                "'{}' is not complex, so it has no sub-attribute '{}'",
                parent.name,
                clip(sub)
            ))
        }
    }

    /// Checks that `op value` fits the attribute's type; coerces `"true"`/`"false"`
    /// for booleans and normalizes dateTime values to UTC (`…Z`).
    fn value(
        &self,
        path: &AttrPath,
        def: &AttributeDef,
        op: CompareOp,
        value: CompValue,
    ) -> ProtocolResult<CompValue> {
        let name = clip(&path.to_string());
        let kind = def.kind.as_str();
        let ordering = matches!(
            op,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        );
        let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
        if value == CompValue::Null {
            if op == CompareOp::Eq || op == CompareOp::Ne {
                return Ok(value);
            }
            return Err(self.err(format!("'{name}': null can only be compared with eq or ne")));
        }
        let op_s = op.as_str();
        match def.kind {
            AttributeType::String | AttributeType::Reference | AttributeType::Binary => {
                if ordering && def.kind == AttributeType::Binary {
                    return Err(
                        self.err(format!("'{name}' is {kind}: '{op_s}' does not apply to it"))
                    );
                }
                match value {
                    CompValue::Str(_) => Ok(value),
                    _ => Err(self.err(format!(
                        "'{name}' is a {kind} attribute: compare it with a quoted string"
                    ))),
                }
            }
            AttributeType::Boolean => {
                if ordering || substring {
                    return Err(self.err(format!(
                        "'{name}' is boolean: only eq, ne and pr apply to it, not '{op_s}'"
                    )));
                }
                match value {
                    CompValue::Bool(_) => Ok(value),
                    CompValue::Str(s) if s.eq_ignore_ascii_case("true") => {
                        Ok(CompValue::Bool(true))
                    }
                    CompValue::Str(s) if s.eq_ignore_ascii_case("false") => {
                        Ok(CompValue::Bool(false))
                    }
                    _ => Err(self.err(format!(
                        "'{name}' is boolean: compare it with true or false"
                    ))),
                }
            }
            AttributeType::Integer | AttributeType::Decimal => {
                if substring {
                    return Err(self.err(format!(
                        "'{name}' is {kind}: '{op_s}' applies to strings only"
                    )));
                }
                match value {
                    CompValue::Number(_) => Ok(value),
                    _ => Err(self.err(format!("'{name}' is {kind}: compare it with a number"))),
                }
            }
            AttributeType::DateTime => {
                if substring {
                    return Err(self.err(format!(
                        "'{name}' is a dateTime: '{op_s}' applies to strings only"
                    )));
                }
                let normalized = match &value {
                    CompValue::Str(s) => DateTime::parse_from_rfc3339(s).ok().map(|d| {
                        d.with_timezone(&Utc)
                            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                    }),
                    _ => None,
                };
                normalized.map(CompValue::Str).ok_or_else(|| {
                    self.err(format!(
                        "'{name}' is a dateTime: compare it with an RFC 3339 timestamp such as \"2026-01-01T00:00:00Z\""
                    ))
                })
            }
            AttributeType::Complex => Err(self.err(format!(
                "'{name}' is a complex attribute: compare one of its sub-attributes instead"
            ))),
        }
    }
}
