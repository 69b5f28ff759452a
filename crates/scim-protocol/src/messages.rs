//! Protocol messages (RFC 7644 §3.4.2, §3.4.3, §3.12): error bodies, list
//! responses, search requests, and the paging rules.

use serde_json::{Map, Value, json};

use crate::error::{ErrorKind, ProtocolError, ProtocolResult};
use crate::schema::{ERROR_URN, LIST_RESPONSE_URN, SEARCH_REQUEST_URN};

/// An error response body (§3.12). `status` is a string, as the RFC writes it;
/// `scimType` is present only with a `kind`.
pub fn error_body(status: u16, kind: Option<ErrorKind>, detail: &str) -> Value {
    let mut body = Map::new();
    body.insert("schemas".to_owned(), json!([ERROR_URN]));
    if let Some(kind) = kind {
        body.insert("scimType".to_owned(), json!(kind.scim_type()));
    }
    body.insert("detail".to_owned(), json!(detail));
    body.insert("status".to_owned(), json!(status.to_string()));
    Value::Object(body)
}

/// A `ListResponse` (§3.4.2). `itemsPerPage` is the number of resources given.
pub fn list_response(total_results: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total_results,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// A `ListResponse` of a cursor-paged query (RFC 9865 §2): no `startIndex`;
/// `nextCursor` on every page but the last, `previousCursor` where there is
/// a page before.
pub fn cursor_list_response(
    total_results: u64,
    resources: Vec<Value>,
    next_cursor: Option<&str>,
    previous_cursor: Option<&str>,
) -> Value {
    let mut body = Map::new();
    body.insert("schemas".to_owned(), json!([LIST_RESPONSE_URN]));
    body.insert("totalResults".to_owned(), json!(total_results));
    body.insert("itemsPerPage".to_owned(), json!(resources.len()));
    if let Some(next) = next_cursor {
        body.insert("nextCursor".to_owned(), json!(next));
    }
    if let Some(previous) = previous_cursor {
        body.insert("previousCursor".to_owned(), json!(previous));
    }
    body.insert("Resources".to_owned(), Value::Array(resources));
    Value::Object(body)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

impl SortOrder {
    /// `ascending` / `descending`, case-insensitively; `invalidValue` otherwise.
    pub fn parse(input: &str) -> ProtocolResult<SortOrder> {
        let input = input.trim();
        if input.eq_ignore_ascii_case("ascending") {
            Ok(SortOrder::Ascending)
        } else if input.eq_ignore_ascii_case("descending") {
            Ok(SortOrder::Descending)
        } else {
            Err(ProtocolError::invalid_value(
                "'sortOrder' must be \"ascending\" or \"descending\"",
            ))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Ascending => "ascending",
            SortOrder::Descending => "descending",
        }
    }
}

/// The query of a list or search request (§3.4.2, §3.4.3), from the query string
/// or a `POST /.search` body. Values are as given: filters and attribute names
/// are parsed later against the resource type; paging goes through
/// [`effective_paging`]. Empty values count as absent, except `cursor`:
/// an empty `cursor` asks for the first page of cursor paging (RFC 9865 §2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<SortOrder>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    /// `Some("")`: the first page of a cursor-paged query; `Some(cursor)`:
    /// the page a `nextCursor` / `previousCursor` names; `None`: index paging.
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// From a `POST /.search` body: a JSON object whose `schemas` contains the
    /// SearchRequest URN. Member names are case-insensitive; unknown members are
    /// ignored; `null` means absent. `attributes` / `excludedAttributes` are
    /// arrays of strings or comma-separated strings; `startIndex` / `count` are
    /// integers or numeric strings (out-of-range values saturate).
    pub fn from_json(body: Value) -> ProtocolResult<SearchRequest> {
        let Value::Object(body) = body else {
            return Err(ProtocolError::invalid_syntax(
                "the request body must be a JSON object",
            ));
        };
        let schemas = body
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
            .map(|(_, v)| v);
        match schemas {
            None | Some(Value::Null) => {
                return Err(ProtocolError::invalid_syntax("'schemas' is required"));
            }
            Some(Value::Array(urns)) => {
                if !urns.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST_URN))
                }) {
                    return Err(ProtocolError::invalid_value(format!(
                        "'schemas' must contain {SEARCH_REQUEST_URN}"
                    )));
                }
            }
            Some(_) => {
                return Err(ProtocolError::invalid_syntax(
                    "'schemas' must be an array of strings",
                ));
            }
        }
        let mut request = SearchRequest::default();
        for (key, value) in body {
            let Some(param) = Param::from_name(&key) else {
                continue;
            };
            match value {
                Value::Null => {}
                Value::String(s) => request.set(param, &s)?,
                Value::Array(items) if param.is_list() => {
                    for item in items {
                        match item {
                            Value::String(s) => request.set(param, &s)?,
                            Value::Null => {}
                            _ => return Err(type_error(param)),
                        }
                    }
                }
                Value::Number(n) if param.is_integer() => {
                    let v = if let Some(v) = n.as_i64() {
                        v
                    } else if n.is_u64() {
                        i64::MAX
                    } else {
                        match n.as_f64() {
                            Some(f) if f.fract() == 0.0 => saturate(f),
                            _ => return Err(type_error(param)),
                        }
                    };
                    request.set_integer(param, v);
                }
                _ => return Err(type_error(param)),
            }
        }
        Ok(request)
    }

    /// From query parameters. Names are case-insensitive; unknown parameters are
    /// ignored. `attributes` / `excludedAttributes` may repeat (values are
    /// joined); any other parameter given twice is `invalidValue`.
    pub fn from_query_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> ProtocolResult<SearchRequest> {
        let mut request = SearchRequest::default();
        let mut seen: Vec<Param> = Vec::new();
        for (key, value) in pairs {
            let Some(param) = Param::from_name(&key) else {
                continue;
            };
            if !param.is_list() {
                if seen.contains(&param) {
                    return Err(ProtocolError::invalid_value(format!(
                        "query parameter '{}' is given more than once",
                        param.name()
                    )));
                }
                seen.push(param);
            }
            request.set(param, &value)?;
        }
        Ok(request)
    }

    fn set(&mut self, param: Param, raw: &str) -> ProtocolResult<()> {
        let trimmed = raw.trim();
        let non_empty = (!trimmed.is_empty()).then(|| raw.to_owned());
        match param {
            Param::Attributes => extend_list(&mut self.attributes, raw),
            Param::ExcludedAttributes => extend_list(&mut self.excluded_attributes, raw),
            Param::Filter => self.filter = non_empty,
            Param::SortBy => self.sort_by = non_empty.map(|s| s.trim().to_owned()),
            Param::SortOrder => {
                self.sort_order = if trimmed.is_empty() {
                    None
                } else {
                    Some(SortOrder::parse(trimmed)?)
                }
            }
            Param::Cursor => self.cursor = Some(trimmed.to_owned()),
            Param::StartIndex | Param::Count => {
                if trimmed.is_empty() {
                    return Ok(());
                }
                let v = parse_integer(trimmed).ok_or_else(|| type_error(param))?;
                self.set_integer(param, v);
            }
        }
        Ok(())
    }

    fn set_integer(&mut self, param: Param, v: i64) {
        match param {
            Param::StartIndex => self.start_index = Some(v),
            Param::Count => self.count = Some(v),
            _ => {}
        }
    }
}

/// Paging per §3.4.2.4: returns the 1-based start index and the count to use.
/// A missing or < 1 `startIndex` is 1; a missing `count` is `default_count`; a
/// negative one is 0; both are capped at `max_count`.
pub fn effective_paging(
    start_index: Option<i64>,
    count: Option<i64>,
    default_count: u64,
    max_count: u64,
) -> (u64, u64) {
    let start = start_index
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(1)
        .max(1);
    let count = match count {
        None => default_count,
        Some(c) => u64::try_from(c).unwrap_or(0),
    };
    (start, count.min(max_count))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Attributes,
    ExcludedAttributes,
    Filter,
    SortBy,
    SortOrder,
    StartIndex,
    Count,
    Cursor,
}

impl Param {
    const ALL: [Param; 8] = [
        Param::Attributes,
        Param::ExcludedAttributes,
        Param::Filter,
        Param::SortBy,
        Param::SortOrder,
        Param::StartIndex,
        Param::Count,
        Param::Cursor,
    ];

    fn name(self) -> &'static str {
        match self {
            Param::Attributes => "attributes",
            Param::ExcludedAttributes => "excludedAttributes",
            Param::Filter => "filter",
            Param::SortBy => "sortBy",
            Param::SortOrder => "sortOrder",
            Param::StartIndex => "startIndex",
            Param::Count => "count",
            Param::Cursor => "cursor",
        }
    }

    fn from_name(name: &str) -> Option<Param> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    fn is_list(self) -> bool {
        matches!(self, Param::Attributes | Param::ExcludedAttributes)
    }

    fn is_integer(self) -> bool {
        matches!(self, Param::StartIndex | Param::Count)
    }
}

fn type_error(param: Param) -> ProtocolError {
    let expected = match param {
        Param::Attributes | Param::ExcludedAttributes => {
            "an array of strings or a comma-separated string"
        }
        Param::StartIndex | Param::Count => "an integer",
        Param::Filter | Param::SortBy | Param::SortOrder | Param::Cursor => "a string",
    };
    ProtocolError::invalid_value(format!("'{}' must be {expected}", param.name()))
}

fn extend_list(list: &mut Vec<String>, raw: &str) {
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !list.iter().any(|l| l == item) {
            list.push(item.to_owned());
        }
    }
}

/// An optionally signed decimal integer; values beyond `i64` saturate.
fn parse_integer(s: &str) -> Option<i64> {
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if negative { i64::MIN } else { i64::MAX })
}

fn saturate(f: f64) -> i64 {
    // `as` saturates at the bounds (and maps NaN to 0, excluded by the caller's
    // `fract() == 0.0` check).
    #[allow(clippy::cast_possible_truncation)]
    let v = f as i64;
    v
}
