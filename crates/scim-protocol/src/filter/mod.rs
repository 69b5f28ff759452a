//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsing, schema
//! binding and in-memory evaluation.
//!
//! A filter goes through three steps:
//!
//! 1. [`parse_filter`] / [`parse_path`] turn text into the [`crate::ast`] types.
//! 2. [`bind_filter`] / [`bind_path`] resolve every attribute against a
//!    [`ResourceType`] and rewrite it to canonical form (see below).
//!    [`parse_bound_filter`] does both.
//! 3. [`matches()`] evaluates a bound filter against a resource's JSON. The
//!    gateway's SQL translator implements the same semantics (listed below).
//!
//! # Syntax accepted
//!
//! The full RFC 7644 grammar: `eq ne co sw ew gt ge lt le pr`, `and`, `or`,
//! `not (…)`, grouping, value paths `emails[type eq "work"]`, sub-attributes,
//! schema-qualified names (the URN is everything before the last `:`). Keywords,
//! operators and `true`/`false`/`null` are case-insensitive; values are JSON
//! strings and numbers. Precedence is `not` > `and` > `or`, both binary
//! operators left-associative. Whitespace (space, tab, CR, LF) between tokens
//! is free-form. Beyond the RFC:
//!
//! - `emails[type eq "work"].value eq "x"` (sent by Entra ID) is read as
//!   `emails[type eq "work" and value eq "x"]`.
//! - `$ref` is accepted as an attribute name (RFC 7643 §2.1).
//!
//! Rejected: `not` without parentheses, nested value paths, qualified or dotted
//! names inside `[…]`, input over [`MAX_FILTER_LEN`] bytes, nesting (`(`,
//! `not (`, `[`) deeper than [`MAX_FILTER_DEPTH`]. Error details give a 0-based
//! character position and never quote string values.
//!
//! Tree shape: `a or b or c` is `Or(Or(a, b), c)`. Such chains are bounded only
//! by the length limit (about 1000 links), so code that recurses over a parsed
//! filter must keep its frames small or walk `and`/`or` chains iteratively, as
//! binding does. Parenthesized nesting is at most [`MAX_FILTER_DEPTH`] deep.
//!
//! # Binding
//!
//! - Names resolve case-insensitively ([`ResourceType::resolve`]; `schemas` is
//!   known even when the schema model lacks it, as a multi-valued,
//!   case-insensitive reference). They are rewritten to the schema's spelling;
//!   extension attributes keep their URN, core and common ones lose it.
//!   Inside `attr[…]` names are sub-attributes of `attr`.
//! - A comparison on a multi-valued complex attribute with a `value`
//!   sub-attribute targets that sub-attribute: `emails co "x"` becomes
//!   `emails.value co "x"`. Other comparisons on complex attributes are errors.
//! - Type checks: strings/references/binaries take strings; booleans take
//!   `true`/`false` (or the strings `"true"`/`"false"`, rewritten to booleans);
//!   integers and decimals take numbers; dateTimes take RFC 3339 strings,
//!   rewritten to UTC (`2026-01-01T00:00:00Z`, fractional seconds kept).
//!   `null` only with `eq`/`ne`. `gt ge lt le` are rejected on booleans,
//!   binaries and complex attributes; `co sw ew` on anything but
//!   strings/references/binaries.
//! - Filters may not mention attributes that are `returned: never` or
//!   `writeOnly` (e.g. `password`): that would let clients probe their values.
//! - PATCH paths: `[…]` only on multi-valued attributes; a trailing `.sub`
//!   must be a sub-attribute of it.
//!
//! # Evaluation semantics (mirrored by the SQL translator)
//!
//! Values of a path: the attribute is looked up in the resource JSON (core and
//! common attributes at the top level, extension attributes under their URN
//! key; keys matched exactly, else ASCII case-insensitively). For `a.b`, `b` is
//! taken from `a`, or from each element when `a` is an array. Arrays are
//! flattened one level and JSON `null`s dropped. The result is a list of
//! values, empty when the attribute is missing.
//!
//! - **Any-match**: `path op v` is true iff *some* value in the list satisfies
//!   it (`emails.value eq "x"`: any email's value).
//! - **`ne`** is exactly `not eq`: true iff *no* value equals `v`, so it is true
//!   when the attribute is missing.
//! - **`eq null`** is true iff the list is empty (missing, `null`, `[]`, or all
//!   elements lacking the sub-attribute); **`ne null`** iff it is not empty
//!   (so `""` is `ne null` but not `pr`).
//! - **`pr`**: some value is non-empty: not `""`, not `[]`, not `{}` (an
//!   object with only `null` members counts as non-empty).
//! - Missing attribute: every other comparison is false.
//! - **Strings** (string, reference, binary): compared after lowercasing both
//!   sides with Rust's `str::to_lowercase` (full Unicode lowercase mapping)
//!   unless the attribute is `caseExact`. `co`/`sw`/`ew` are substring,
//!   prefix, suffix tests (an empty operand always matches); `gt ge lt le`
//!   compare by Unicode code point (byte-wise UTF-8, like `COLLATE "C"`).
//! - **Numbers** (integer, decimal): numeric comparison (`1 eq 1.0`).
//! - **dateTime**: both sides parsed as RFC 3339 and compared as instants
//!   (`2026-01-01T00:00:00Z` equals `2026-01-01T01:00:00+01:00`); an unparsable
//!   stored value matches nothing.
//! - **Booleans**: only `eq` (and so `ne`) can be true.
//! - A stored value whose JSON type does not fit the attribute type (a number
//!   in a string attribute, …) satisfies no comparison; `co sw ew` on
//!   non-strings are false.
//! - **`not`**: plain boolean negation; `and`/`or` as usual.
//! - **`attr[f]`**: true iff some element of `attr` satisfies `f`, with `f`'s
//!   paths read inside that element (a lone object counts as one element).

mod bind;
mod eval;
mod lexer;
mod parser;

pub use parser::{MAX_FILTER_DEPTH, MAX_FILTER_LEN};

use std::fmt;

use crate::ast::{CompValue, Filter, PatchPath};
use crate::error::ProtocolResult;
use crate::schema::ResourceType;

/// Parses a filter expression. Errors are [`ErrorKind::InvalidFilter`](crate::ErrorKind::InvalidFilter).
pub fn parse_filter(input: &str) -> ProtocolResult<Filter> {
    parser::parse_filter(input)
}

/// Parses a PATCH operation path. Errors are [`ErrorKind::InvalidPath`](crate::ErrorKind::InvalidPath).
pub fn parse_path(input: &str) -> ProtocolResult<PatchPath> {
    parser::parse_path(input)
}

/// Resolves and type-checks a parsed filter against `rt`, returning it in
/// canonical form. Errors are [`ErrorKind::InvalidFilter`](crate::ErrorKind::InvalidFilter).
pub fn bind_filter(filter: Filter, rt: &ResourceType) -> ProtocolResult<Filter> {
    bind::bind_filter(filter, rt)
}

/// Resolves a parsed PATCH path against `rt`, returning it in canonical form.
/// Errors are [`ErrorKind::InvalidPath`](crate::ErrorKind::InvalidPath).
pub fn bind_path(path: PatchPath, rt: &ResourceType) -> ProtocolResult<PatchPath> {
    bind::bind_path(path, rt)
}

/// [`parse_filter`] then [`bind_filter`].
pub fn parse_bound_filter(input: &str, rt: &ResourceType) -> ProtocolResult<Filter> {
    bind_filter(parse_filter(input)?, rt)
}

/// Whether `resource` (canonical resource JSON) satisfies a bound `filter`.
pub fn matches(filter: &Filter, resource: &serde_json::Value, rt: &ResourceType) -> bool {
    eval::matches(filter, resource, rt)
}

/// Canonical text that [`parse_filter`] reads back to the same tree: lowercase
/// keywords, single spaces, parentheses only where the tree's shape needs them.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => {
                write!(f, "{path} {} ", op.as_str())?;
                write_value(f, value)
            }
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Or(a, b) => {
                write!(f, "{a} or ")?;
                write_grouped(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::And(a, b) => {
                write_grouped(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_grouped(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

fn write_grouped(f: &mut fmt::Formatter<'_>, filter: &Filter, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({filter})")
    } else {
        write!(f, "{filter}")
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &CompValue) -> fmt::Result {
    match value {
        CompValue::Null => f.write_str("null"),
        CompValue::Bool(b) => write!(f, "{b}"),
        CompValue::Number(n) => write!(f, "{n}"),
        CompValue::Str(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
    }
}

/// Canonical text that [`parse_path`] reads back to the same path.
impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.value_filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}
