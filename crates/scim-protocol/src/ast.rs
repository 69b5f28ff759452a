//! The parsed forms of SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2).
//! Parsers produce these; schema binding canonicalizes their attribute names;
//! the in-memory evaluator and the gateway's SQL translator consume them.

use std::fmt;

/// `[schemaURN ":"] attrName ["." subAttr]`.
///
/// Inside a value filter (`emails[type eq "work"]`), paths are relative to one
/// value of the multi-valued attribute: `name` is the sub-attribute (`type`),
/// `schema` and `sub_attr` are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// Schema URN, when the name was qualified (`urn:…:enterprise:2.0:User:employeeNumber`).
    pub schema: Option<String>,
    pub name: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            schema: None,
            name: name.into(),
            sub_attr: None,
        }
    }

    pub fn with_sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        Self {
            schema: None,
            name: name.into(),
            sub_attr: Some(sub.into()),
        }
    }

    pub fn in_schema(mut self, urn: impl Into<String>) -> Self {
        self.schema = Some(urn.into());
        self
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.schema {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// `compValue` of the grammar: `false / null / true / number / string`.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`: present and not empty (not null, not "", not []).
    Present(AttrPath),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    /// `attr[valFilter]`: true when at least one value of the multi-valued `attr`
    /// matches `filter`, whose paths are relative to that value.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    pub fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }
    pub fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }
    pub fn negate(f: Filter) -> Filter {
        Filter::Not(Box::new(f))
    }
}

/// A PATCH `path` (RFC 7644 §3.5.2): `attrPath / valuePath ["." subAttr]`.
///
/// `emails[type eq "work"].value` is `attr = emails`, `value_filter = type eq "work"`,
/// `sub_attr = value`. `name.givenName` is `attr = name.givenName` with neither.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub value_filter: Option<Filter>,
    pub sub_attr: Option<String>,
}
