//! Translates bound SCIM filters into parameterized SQL conditions.
//!
//! The semantics are those of `scim_protocol::filter::matches` (the in-memory
//! evaluator), and the filter corpus test runs both and requires the same
//! answers. Every leaf is written to be NULL-safe (`col IS NOT NULL AND …`,
//! `col IS NULL OR …`), so SQL's three-valued logic never leaks: `not` and `ne`
//! around missing values behave as in the evaluator.
//!
//! Only attributes with a column or side table are filterable; anything else is
//! a 400 `invalidFilter` that names the attribute, never a silent full scan.

use chrono::DateTime;
use scim_protocol::{AttrPath, CompValue, CompareOp, Filter, ProtocolError};
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, LikeExpr, Query, SelectStatement};
use uuid::Uuid;

use super::tables::{ScimGroupMembers, ScimGroups, ScimUserEmails, ScimUsers};

/// How a column's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Lowercased string (`caseExact: false` attributes).
    FoldedText,
    /// String compared as stored (`caseExact: true`).
    ExactText,
    Boolean,
    /// Microseconds since the epoch (`dateTime` attributes).
    Instant,
    /// The resource id (a UUID).
    Id,
}

#[derive(Debug, Clone)]
pub struct ScalarColumn {
    pub column: (sea_orm::sea_query::DynIden, sea_orm::sea_query::DynIden),
    pub kind: ColumnKind,
}

/// A multi-valued attribute kept in a side table, one row per value.
#[derive(Debug, Clone, Copy)]
pub struct ValueTable {
    /// Builds `SELECT 1 FROM side WHERE side belongs to the outer row`.
    pub rows_of_outer: fn() -> SelectStatement,
    /// Sub-attribute name (canonical, lowercase compare) → column.
    pub sub_column: fn(&str) -> Option<ScalarColumn>,
    /// The sub-attribute a bare comparison on the attribute means (`value`).
    pub default_sub: &'static str,
}

pub enum Target {
    Scalar(ScalarColumn),
    Values(ValueTable, Option<String>),
}

/// What a resource type's filterable attributes map to.
pub trait FilterMapping: Sync {
    fn target(&self, path: &AttrPath) -> Option<Target>;
    fn supported(&self) -> &'static str;
}

fn col<T: sea_orm::sea_query::IntoIden, C: sea_orm::sea_query::IntoIden>(
    table: T,
    column: C,
    kind: ColumnKind,
) -> ScalarColumn {
    ScalarColumn {
        column: (table.into_iden(), column.into_iden()),
        kind,
    }
}

fn is(path: &AttrPath, name: &str, sub: Option<&str>) -> bool {
    path.schema.is_none()
        && path.name.eq_ignore_ascii_case(name)
        && match (&path.sub_attr, sub) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
}

pub struct UserFilterMapping;

impl FilterMapping for UserFilterMapping {
    fn target(&self, path: &AttrPath) -> Option<Target> {
        use ColumnKind::*;
        let t = ScimUsers::Table;
        let scalar = |c, k| Some(Target::Scalar(col(t, c, k)));
        if is(path, "id", None) {
            scalar(ScimUsers::Id, Id)
        } else if is(path, "userName", None) {
            scalar(ScimUsers::UserNameKey, FoldedText)
        } else if is(path, "externalId", None) {
            scalar(ScimUsers::ExternalId, ExactText)
        } else if is(path, "displayName", None) {
            scalar(ScimUsers::DisplayNameKey, FoldedText)
        } else if is(path, "name", Some("givenName")) {
            scalar(ScimUsers::GivenNameKey, FoldedText)
        } else if is(path, "name", Some("familyName")) {
            scalar(ScimUsers::FamilyNameKey, FoldedText)
        } else if is(path, "active", None) {
            scalar(ScimUsers::Active, Boolean)
        } else if is(path, "meta", Some("created")) {
            scalar(ScimUsers::CreatedAt, Instant)
        } else if is(path, "meta", Some("lastModified")) {
            scalar(ScimUsers::LastModified, Instant)
        } else if path.schema.is_none() && path.name.eq_ignore_ascii_case("emails") {
            Some(Target::Values(EMAILS, path.sub_attr.clone()))
        } else {
            None
        }
    }

    fn supported(&self) -> &'static str {
        "id, userName, externalId, displayName, name.givenName, name.familyName, active, \
         emails (value, type, primary), meta.created, meta.lastModified"
    }
}

const EMAILS: ValueTable = ValueTable {
    rows_of_outer: || {
        Query::select()
            .expr(Expr::val(1))
            .from(ScimUserEmails::Table)
            .and_where(
                Expr::col((ScimUserEmails::Table, ScimUserEmails::OrgId))
                    .equals((ScimUsers::Table, ScimUsers::OrgId)),
            )
            .and_where(
                Expr::col((ScimUserEmails::Table, ScimUserEmails::UserId))
                    .equals((ScimUsers::Table, ScimUsers::Id)),
            )
            .to_owned()
    },
    sub_column: |sub| {
        let t = ScimUserEmails::Table;
        match sub.to_ascii_lowercase().as_str() {
            "value" => Some(col(t, ScimUserEmails::ValueKey, ColumnKind::FoldedText)),
            "type" => Some(col(t, ScimUserEmails::TypeKey, ColumnKind::FoldedText)),
            "primary" => Some(col(t, ScimUserEmails::IsPrimary, ColumnKind::Boolean)),
            _ => None,
        }
    },
    default_sub: "value",
};

pub struct GroupFilterMapping;

impl FilterMapping for GroupFilterMapping {
    fn target(&self, path: &AttrPath) -> Option<Target> {
        use ColumnKind::*;
        let t = ScimGroups::Table;
        let scalar = |c, k| Some(Target::Scalar(col(t, c, k)));
        if is(path, "id", None) {
            scalar(ScimGroups::Id, Id)
        } else if is(path, "displayName", None) {
            scalar(ScimGroups::DisplayNameKey, FoldedText)
        } else if is(path, "externalId", None) {
            scalar(ScimGroups::ExternalId, ExactText)
        } else if is(path, "meta", Some("created")) {
            scalar(ScimGroups::CreatedAt, Instant)
        } else if is(path, "meta", Some("lastModified")) {
            scalar(ScimGroups::LastModified, Instant)
        } else if path.schema.is_none() && path.name.eq_ignore_ascii_case("members") {
            Some(Target::Values(MEMBERS, path.sub_attr.clone()))
        } else {
            None
        }
    }

    fn supported(&self) -> &'static str {
        "id, displayName, externalId, members (value, type), meta.created, meta.lastModified"
    }
}

const MEMBERS: ValueTable = ValueTable {
    rows_of_outer: || {
        Query::select()
            .expr(Expr::val(1))
            .from(ScimGroupMembers::Table)
            .and_where(
                Expr::col((ScimGroupMembers::Table, ScimGroupMembers::OrgId))
                    .equals((ScimGroups::Table, ScimGroups::OrgId)),
            )
            .and_where(
                Expr::col((ScimGroupMembers::Table, ScimGroupMembers::GroupId))
                    .equals((ScimGroups::Table, ScimGroups::Id)),
            )
            .to_owned()
    },
    sub_column: |sub| {
        let t = ScimGroupMembers::Table;
        match sub.to_ascii_lowercase().as_str() {
            "value" => Some(col(t, ScimGroupMembers::MemberId, ColumnKind::Id)),
            // Stored lowercased ("user"/"group"); `type` is caseExact: false.
            "type" => Some(col(t, ScimGroupMembers::MemberKind, ColumnKind::FoldedText)),
            _ => None,
        }
    },
    default_sub: "value",
};

fn never() -> Expr {
    Expr::cust("1 = 0")
}

fn always() -> Expr {
    Expr::cust("1 = 1")
}

/// Most comparisons one filter may hold. IdPs send a handful; thousands would
/// make a deep expression tree and a query plan nobody wants to run.
pub const MAX_FILTER_TERMS: usize = 100;

fn count_terms(filter: &Filter) -> usize {
    // Iterative: `a or b or …` chains are left-deep.
    let mut stack = vec![filter];
    let mut terms = 0;
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            Filter::Not(inner) => stack.push(inner),
            Filter::ValuePath { filter, .. } => stack.push(filter),
            Filter::Compare { .. } | Filter::Present(_) => terms += 1,
        }
    }
    terms
}

/// Translates a bound filter. Errors are `invalidFilter` naming what is unsupported.
pub fn translate(filter: &Filter, mapping: &dyn FilterMapping) -> Result<Expr, ProtocolError> {
    let terms = count_terms(filter);
    if terms > MAX_FILTER_TERMS {
        return Err(ProtocolError::invalid_filter(format!(
            "the filter has {terms} comparisons; at most {MAX_FILTER_TERMS} are supported"
        )));
    }
    translate_node(filter, mapping)
}

fn translate_node(filter: &Filter, mapping: &dyn FilterMapping) -> Result<Expr, ProtocolError> {
    match filter {
        Filter::And(a, b) => Ok(translate_node(a, mapping)?.and(translate_node(b, mapping)?)),
        Filter::Or(a, b) => Ok(translate_node(a, mapping)?.or(translate_node(b, mapping)?)),
        Filter::Not(inner) => Ok(translate_node(inner, mapping)?.not()),
        Filter::Present(path) => match target(path, mapping)? {
            Target::Scalar(c) => Ok(present(&c)),
            Target::Values(table, None) => Ok(Expr::exists((table.rows_of_outer)())),
            Target::Values(table, Some(sub)) => {
                let c = sub_column(&table, &sub, path, mapping)?;
                Ok(Expr::exists(
                    (table.rows_of_outer)().and_where(present(&c)).to_owned(),
                ))
            }
        },
        Filter::Compare { path, op, value } => match target(path, mapping)? {
            Target::Scalar(c) => compare(&c, *op, value, path),
            Target::Values(table, sub) => {
                let sub = sub.unwrap_or_else(|| table.default_sub.to_owned());
                let c = sub_column(&table, &sub, path, mapping)?;
                let rows_where =
                    |leaf: Expr| Expr::exists((table.rows_of_outer)().and_where(leaf).to_owned());
                // Any-match over the values; `ne` is `not eq` and `ne null` is
                // "some value present", exactly as in the evaluator.
                Ok(match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => {
                        rows_where(column_expr(&c).is_not_null()).not()
                    }
                    (CompareOp::Ne, CompValue::Null) => rows_where(column_expr(&c).is_not_null()),
                    (CompareOp::Ne, _) => {
                        rows_where(compare(&c, CompareOp::Eq, value, path)?).not()
                    }
                    _ => rows_where(compare(&c, *op, value, path)?),
                })
            }
        },
        Filter::ValuePath { attr, filter } => match target(attr, mapping)? {
            Target::Values(table, None) => {
                let inner = translate_inner(filter, &table, attr, mapping)?;
                Ok(Expr::exists(
                    (table.rows_of_outer)().and_where(inner).to_owned(),
                ))
            }
            _ => Err(ProtocolError::invalid_filter(format!(
                "'{attr}' is not a multi-valued attribute with a value filter"
            ))),
        },
    }
}

/// A value filter's inner expression: paths name sub-attributes of one row.
fn translate_inner(
    filter: &Filter,
    table: &ValueTable,
    attr: &AttrPath,
    mapping: &dyn FilterMapping,
) -> Result<Expr, ProtocolError> {
    match filter {
        Filter::And(a, b) => Ok(translate_inner(a, table, attr, mapping)?
            .and(translate_inner(b, table, attr, mapping)?)),
        Filter::Or(a, b) => {
            Ok(translate_inner(a, table, attr, mapping)?
                .or(translate_inner(b, table, attr, mapping)?))
        }
        Filter::Not(inner) => Ok(translate_inner(inner, table, attr, mapping)?.not()),
        Filter::Present(path) => Ok(present(&sub_column(table, &path.name, attr, mapping)?)),
        Filter::Compare { path, op, value } => compare(
            &sub_column(table, &path.name, attr, mapping)?,
            *op,
            value,
            path,
        ),
        Filter::ValuePath { .. } => Err(ProtocolError::invalid_filter(
            "value filters cannot be nested",
        )),
    }
}

fn target(path: &AttrPath, mapping: &dyn FilterMapping) -> Result<Target, ProtocolError> {
    mapping.target(path).ok_or_else(|| {
        ProtocolError::invalid_filter(format!(
            "filtering on '{path}' is not supported; filterable attributes: {}",
            mapping.supported()
        ))
    })
}

fn sub_column(
    table: &ValueTable,
    sub: &str,
    attr: &AttrPath,
    mapping: &dyn FilterMapping,
) -> Result<ScalarColumn, ProtocolError> {
    (table.sub_column)(sub).ok_or_else(|| {
        ProtocolError::invalid_filter(format!(
            "filtering on '{}.{sub}' is not supported; filterable attributes: {}",
            attr.name,
            mapping.supported()
        ))
    })
}

fn column_expr(c: &ScalarColumn) -> Expr {
    Expr::col(c.column.clone().into_column_ref())
}

fn present(c: &ScalarColumn) -> Expr {
    let e = column_expr(c);
    match c.kind {
        ColumnKind::FoldedText | ColumnKind::ExactText => e.clone().is_not_null().and(e.ne("")),
        _ => e.is_not_null(),
    }
}

/// `\`-escapes the LIKE metacharacters so `co "50%"` means the text "50%".
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn compare(
    c: &ScalarColumn,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> Result<Expr, ProtocolError> {
    let e = column_expr(c);
    if let CompValue::Null = value {
        return Ok(match op {
            CompareOp::Eq => e.is_null(),
            CompareOp::Ne => e.is_not_null(),
            _ => never(),
        });
    }
    let operand: Expr = match (c.kind, value) {
        (ColumnKind::FoldedText, CompValue::Str(s)) => Expr::val(s.to_lowercase()),
        (ColumnKind::ExactText, CompValue::Str(s)) => Expr::val(s.clone()),
        (ColumnKind::Boolean, CompValue::Bool(b)) => Expr::val(*b),
        (ColumnKind::Instant, CompValue::Str(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Expr::val(t.timestamp_micros()),
            Err(_) => {
                return Err(ProtocolError::invalid_filter(format!(
                    "'{path}' compares with an RFC 3339 date-time"
                )));
            }
        },
        (ColumnKind::Id, CompValue::Str(s)) => {
            let Ok(id) = Uuid::try_parse(s) else {
                // No resource has a non-UUID id.
                return Ok(match op {
                    CompareOp::Ne => always(),
                    CompareOp::Eq => never(),
                    _ => id_op_unsupported(op, path)?,
                });
            };
            Expr::val(id)
        }
        // Any other type pairing can never be equal (the binder rejects most).
        _ => {
            return Ok(if op == CompareOp::Ne {
                always()
            } else {
                never()
            });
        }
    };
    let text = matches!(c.kind, ColumnKind::FoldedText | ColumnKind::ExactText);
    if c.kind == ColumnKind::Id && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return id_op_unsupported(op, path);
    }
    if c.kind == ColumnKind::Boolean && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Ok(never());
    }
    let like = |pattern: String| -> Result<Expr, ProtocolError> {
        if !text {
            return Err(ProtocolError::invalid_filter(format!(
                "'{}' is not a string attribute: '{path}' cannot use it",
                op.as_str()
            )));
        }
        Ok(e.clone()
            .is_not_null()
            .and(e.clone().like(LikeExpr::new(pattern).escape('\\'))))
    };
    let raw = match value {
        CompValue::Str(s) if c.kind == ColumnKind::FoldedText => like_escape(&s.to_lowercase()),
        CompValue::Str(s) => like_escape(s),
        _ => String::new(),
    };
    let present = e.clone().is_not_null();
    Ok(match op {
        CompareOp::Eq => present.and(e.eq(operand)),
        CompareOp::Ne => e.clone().is_null().or(e.ne(operand)),
        CompareOp::Gt => present.and(e.gt(operand)),
        CompareOp::Ge => present.and(e.gte(operand)),
        CompareOp::Lt => present.and(e.lt(operand)),
        CompareOp::Le => present.and(e.lte(operand)),
        CompareOp::Co => like(format!("%{raw}%"))?,
        CompareOp::Sw => like(format!("{raw}%"))?,
        CompareOp::Ew => like(format!("%{raw}"))?,
    })
}

fn id_op_unsupported(op: CompareOp, path: &AttrPath) -> Result<Expr, ProtocolError> {
    Err(ProtocolError::invalid_filter(format!(
        "'{path}' supports eq, ne and pr, not {}",
        op.as_str()
    )))
}

/// The column a `sortBy` path sorts on, if it has one.
pub fn sort_column(path: &AttrPath, mapping: &dyn FilterMapping) -> Option<Expr> {
    match mapping.target(path)? {
        Target::Scalar(c) => Some(column_expr(&c)),
        Target::Values(..) => None,
    }
}
