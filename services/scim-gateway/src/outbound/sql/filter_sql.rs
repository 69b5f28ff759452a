//! Translates bound SCIM filters into parameterized SQL conditions.
//!
//! The semantics are those of `scim_protocol::filter::matches` (the in-memory
//! evaluator), and the differential test (tests/it/filters.rs) runs both over
//! every attribute of `/Schemas` and requires the same answers. Every leaf is
//! written to be NULL-safe (`x IS NOT NULL AND …`, `x IS NULL OR …`), so
//! SQL's three-valued logic never leaks: `not` and `ne` around missing values
//! behave as in the evaluator.
//!
//! What a path reads — a dedicated column, a side table, or the row's search
//! document — is the mapping's choice (`filter_targets.rs`); this module only
//! knows leaves (an expression and how its values compare) and sets of rows
//! (a multi-valued attribute's values).

use chrono::DateTime;
use scim_protocol::{AttrPath, CompValue, CompareOp, Filter, ProtocolError};
use sea_orm::DbBackend;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, SelectStatement};
use uuid::Uuid;

/// How a leaf's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Lowercased string (`caseExact: false` attributes).
    FoldedText,
    /// String compared as stored (`caseExact: true`).
    ExactText,
    Boolean,
    /// Microseconds since the epoch (`dateTime` attributes).
    Instant,
    /// A JSON number (`integer` and `decimal` attributes).
    Number,
    /// A UUID column (resource ids): `eq`/`ne` on the column, other
    /// operators on its text ([`Leaf::text`]).
    Id {
        case_exact: bool,
    },
}

/// One value to compare: an SQL expression and how it compares.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub expr: Expr,
    pub kind: ColumnKind,
    /// For [`ColumnKind::Id`]: the id as canonical text.
    pub text: Option<Expr>,
}

impl Leaf {
    pub fn new(expr: Expr, kind: ColumnKind) -> Self {
        Self {
            expr,
            kind,
            text: None,
        }
    }

    pub fn sql(sql: String, kind: ColumnKind) -> Self {
        Self::new(Expr::cust(sql), kind)
    }

    fn as_text(&self) -> Option<Leaf> {
        let ColumnKind::Id { case_exact } = self.kind else {
            return None;
        };
        let kind = if case_exact {
            ColumnKind::ExactText
        } else {
            ColumnKind::FoldedText
        };
        self.text.clone().map(|text| Leaf::new(text, kind))
    }
}

/// A sub-attribute of one row of [`Values`] (`None`: the row's value
/// itself), when the rows have it.
pub type LeafOfRow = Box<dyn Fn(Option<&str>) -> Option<Leaf>>;

/// The values of a multi-valued attribute: rows, one per value.
pub struct Values {
    /// `SELECT 1 FROM … WHERE` the rows belong to the outer row.
    pub rows: SelectStatement,
    pub leaf: LeafOfRow,
    /// The sub-attribute a bare comparison means (`value`), if any.
    pub default_sub: Option<&'static str>,
}

pub enum Target {
    Scalar(Leaf),
    Values(Box<Values>, Option<String>),
}

/// What a translation depends on besides the filter.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub backend: DbBackend,
    /// The URL the request came in on: what `meta.location` and `$ref`
    /// values start with (bound as a parameter, never written into SQL).
    pub base_url: &'a str,
}

/// Where a resource type's attributes are read from.
pub trait FilterMapping: Sync {
    /// The target of `path`; for a multi-valued attribute, `subs` are the
    /// sub-attributes the filter reads of one value (a value filter's may
    /// be several), so a side table serves only what it has.
    fn target(
        &self,
        path: &AttrPath,
        subs: &[&str],
        context: Context<'_>,
    ) -> Result<Target, ProtocolError>;

    /// The sort expression of `path` (see `filter_targets.rs`).
    fn sort(&self, path: &AttrPath, backend: DbBackend) -> Expr;
}

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

/// Translates a bound filter. Errors are `invalidFilter`.
pub fn translate(
    filter: &Filter,
    mapping: &dyn FilterMapping,
    context: Context<'_>,
) -> Result<Expr, ProtocolError> {
    let terms = count_terms(filter);
    if terms > MAX_FILTER_TERMS {
        return Err(ProtocolError::invalid_filter(format!(
            "the filter has {terms} comparisons; at most {MAX_FILTER_TERMS} are supported"
        )));
    }
    Translator { mapping, context }.node(filter)
}

struct Translator<'a> {
    mapping: &'a dyn FilterMapping,
    context: Context<'a>,
}

impl Translator<'_> {
    fn node(&self, filter: &Filter) -> Result<Expr, ProtocolError> {
        match filter {
            Filter::And(a, b) => Ok(self.node(a)?.and(self.node(b)?)),
            Filter::Or(a, b) => Ok(self.node(a)?.or(self.node(b)?)),
            Filter::Not(inner) => Ok(self.node(inner)?.not()),
            Filter::Present(path) => {
                let subs: Vec<&str> = path.sub_attr.as_deref().into_iter().collect();
                match self.mapping.target(path, &subs, self.context)? {
                    Target::Scalar(leaf) => Ok(present(&leaf)),
                    Target::Values(values, None) => Ok(Expr::exists(values.rows)),
                    Target::Values(values, Some(sub)) => {
                        let leaf = leaf_of(&values, Some(&sub), path)?;
                        Ok(Expr::exists(
                            values.rows.clone().and_where(present(&leaf)).to_owned(),
                        ))
                    }
                }
            }
            Filter::Compare { path, op, value } => {
                let subs: Vec<&str> = path.sub_attr.as_deref().into_iter().collect();
                match self.mapping.target(path, &subs, self.context)? {
                    Target::Scalar(leaf) => compare(&leaf, *op, value, path),
                    Target::Values(values, sub) => {
                        let sub = sub.as_deref().or(values.default_sub);
                        let leaf = leaf_of(&values, sub, path)?;
                        let rows_where = |leaf: Expr| {
                            Expr::exists(values.rows.clone().and_where(leaf).to_owned())
                        };
                        // Any-match over the values; `ne` is `not eq` and `ne null` is
                        // "some value present", exactly as in the evaluator.
                        Ok(match (op, value) {
                            (CompareOp::Eq, CompValue::Null) => {
                                rows_where(leaf.expr.clone().is_not_null()).not()
                            }
                            (CompareOp::Ne, CompValue::Null) => {
                                rows_where(leaf.expr.clone().is_not_null())
                            }
                            (CompareOp::Ne, _) => {
                                rows_where(compare(&leaf, CompareOp::Eq, value, path)?).not()
                            }
                            _ => rows_where(compare(&leaf, *op, value, path)?),
                        })
                    }
                }
            }
            Filter::ValuePath { attr, filter } => {
                let mut subs = Vec::new();
                inner_subs(filter, &mut subs);
                match self.mapping.target(attr, &subs, self.context)? {
                    Target::Values(values, None) => {
                        let inner = inner(filter, &values, attr)?;
                        Ok(Expr::exists(
                            values.rows.clone().and_where(inner).to_owned(),
                        ))
                    }
                    _ => Err(ProtocolError::invalid_filter(format!(
                        "'{attr}' is not a multi-valued attribute with a value filter"
                    ))),
                }
            }
        }
    }
}

/// The sub-attribute names a value filter reads.
fn inner_subs<'f>(filter: &'f Filter, out: &mut Vec<&'f str>) {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            inner_subs(a, out);
            inner_subs(b, out);
        }
        Filter::Not(f) => inner_subs(f, out),
        Filter::Present(path) | Filter::Compare { path, .. } => out.push(&path.name),
        Filter::ValuePath { .. } => {}
    }
}

/// A value filter's inner expression: paths name sub-attributes of one row.
fn inner(filter: &Filter, values: &Values, attr: &AttrPath) -> Result<Expr, ProtocolError> {
    match filter {
        Filter::And(a, b) => Ok(inner(a, values, attr)?.and(inner(b, values, attr)?)),
        Filter::Or(a, b) => Ok(inner(a, values, attr)?.or(inner(b, values, attr)?)),
        Filter::Not(f) => Ok(inner(f, values, attr)?.not()),
        Filter::Present(path) => Ok(present(&leaf_of(values, Some(&path.name), attr)?)),
        Filter::Compare { path, op, value } => {
            let leaf = leaf_of(values, Some(&path.name), attr)?;
            Ok(match (op, value) {
                // One value per row: `ne` is `not eq`, NULL-safe.
                (CompareOp::Ne, CompValue::Null) => leaf.expr.is_not_null(),
                (CompareOp::Ne, _) => compare(&leaf, CompareOp::Eq, value, path)?.not(),
                _ => compare(&leaf, *op, value, path)?,
            })
        }
        Filter::ValuePath { .. } => Err(ProtocolError::invalid_filter(
            "value filters cannot be nested",
        )),
    }
}

fn leaf_of(values: &Values, sub: Option<&str>, attr: &AttrPath) -> Result<Leaf, ProtocolError> {
    (values.leaf)(sub).ok_or_else(|| {
        ProtocolError::invalid_filter(format!(
            "filtering on '{}.{}' is not supported",
            attr.name,
            sub.unwrap_or_default()
        ))
    })
}

fn present(leaf: &Leaf) -> Expr {
    let e = leaf.expr.clone();
    match leaf.kind {
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
    leaf: &Leaf,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> Result<Expr, ProtocolError> {
    let e = leaf.expr.clone();
    if let CompValue::Null = value {
        return Ok(match op {
            CompareOp::Eq => e.is_null(),
            CompareOp::Ne => e.is_not_null(),
            _ => never(),
        });
    }
    if let ColumnKind::Id { case_exact } = leaf.kind {
        if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            let Some(text) = leaf.as_text() else {
                return Ok(never());
            };
            return compare(&text, op, value, path);
        }
        let CompValue::Str(s) = value else {
            return Ok(if op == CompareOp::Ne {
                always()
            } else {
                never()
            });
        };
        let wanted = if case_exact {
            s.clone()
        } else {
            s.to_lowercase()
        };
        // Only the canonical text of a UUID equals an id.
        return Ok(match Uuid::try_parse(&wanted) {
            Ok(id) if id.hyphenated().to_string() == wanted => match op {
                CompareOp::Eq => e.clone().is_not_null().and(e.eq(id)),
                _ => e.clone().is_null().or(e.ne(id)),
            },
            _ if op == CompareOp::Ne => always(),
            _ => never(),
        });
    }
    let operand: Expr = match (leaf.kind, value) {
        (ColumnKind::FoldedText, CompValue::Str(s)) => Expr::val(s.to_lowercase()),
        (ColumnKind::ExactText, CompValue::Str(s)) => Expr::val(s.clone()),
        (ColumnKind::Boolean, CompValue::Bool(b)) => Expr::val(*b),
        (ColumnKind::Number, CompValue::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Expr::val(i),
            (None, Some(f)) => Expr::val(f),
            _ => return Ok(never()),
        },
        (ColumnKind::Instant, CompValue::Str(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Expr::val(t.timestamp_micros()),
            Err(_) => {
                return Err(ProtocolError::invalid_filter(format!(
                    "'{path}' compares with an RFC 3339 date-time"
                )));
            }
        },
        // Any other type pairing can never be equal (the binder rejects most).
        _ => {
            return Ok(if op == CompareOp::Ne {
                always()
            } else {
                never()
            });
        }
    };
    let text = matches!(leaf.kind, ColumnKind::FoldedText | ColumnKind::ExactText);
    if leaf.kind == ColumnKind::Boolean && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
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
        CompValue::Str(s) if leaf.kind == ColumnKind::FoldedText => like_escape(&s.to_lowercase()),
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

/// The expression a `sortBy` path sorts on, for every attribute of the
/// resource type: one expression (a column, a JSON read or a scalar
/// subquery of the row) that can also be SELECTed, e.g. for keyset paging
/// over `(sort expression, id)`. NULL where the attribute is missing;
/// multi-valued attributes sort by their primary value, else their first
/// (RFC 7644 §3.4.2.3).
pub fn sort_column(path: &AttrPath, mapping: &dyn FilterMapping, backend: DbBackend) -> Expr {
    mapping.sort(path, backend)
}
