//! Bulk messages (RFC 7644 §3.7): the BulkRequest as a client sends it,
//! `bulkId` references and their substitution, and the BulkResponse.
//!
//! What is checked here is the message's shape: a request that breaks it is
//! refused whole (nothing runs). What each operation's `data` means is the
//! business of the use case it runs through, and a failure there is that
//! operation's own status.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::error::{ProtocolError, ProtocolResult};

pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// What marks a reference to another operation's new resource (§3.7.2).
pub const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    /// `POST`, `PUT`, `PATCH`, `DELETE`, case-insensitively.
    pub fn parse(raw: &str) -> Option<BulkMethod> {
        [
            BulkMethod::Post,
            BulkMethod::Put,
            BulkMethod::Patch,
            BulkMethod::Delete,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(raw.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// One operation of a bulk request, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: BulkMethod,
    /// Required with POST (the RFC's rule), optional otherwise.
    pub bulk_id: Option<String>,
    /// The ETag the client read (`If-Match`), unparsed.
    pub version: Option<String>,
    /// `/Users`, `/Groups/{id}`, `/Users/bulkId:u1`…
    pub path: String,
    /// Present for POST, PUT and PATCH; ignored for DELETE.
    pub data: Option<Value>,
}

impl BulkOperation {
    /// Every `bulkId` this operation refers to, in its path or anywhere in
    /// its data, each once, in the order they appear.
    pub fn references(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Some(id) = bulk_id_reference(&self.path) {
            found.push(id.to_owned());
        }
        if let Some(data) = &self.data {
            collect_references(data, false, &mut found);
        }
        let mut seen = HashSet::new();
        found.retain(|id| seen.insert(id.clone()));
        found
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Errors accepted before the rest is abandoned; `None`: run everything.
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// From the request body. Member names are case-insensitive (as in every
    /// SCIM message). Refused with `invalidSyntax` when the message's shape is
    /// wrong (no BulkRequest URN, `Operations` missing or not an array of
    /// objects, an operation without a method or path, POST without
    /// `bulkId`, POST/PUT/PATCH without `data`), with `invalidValue` when a
    /// `bulkId` is given twice or `failOnErrors` is not a positive integer.
    pub fn from_json(body: Value) -> ProtocolResult<BulkRequest> {
        let Value::Object(body) = body else {
            return Err(ProtocolError::invalid_syntax(
                "the request body must be a JSON object",
            ));
        };
        let schemas = member(&body, "schemas").and_then(Value::as_array);
        if !schemas.is_some_and(|urns| {
            urns.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(BULK_REQUEST_URN))
            })
        }) {
            return Err(ProtocolError::invalid_syntax(format!(
                "'schemas' must contain {BULK_REQUEST_URN}"
            )));
        }
        let fail_on_errors = match member(&body, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v >= 1 => Some(usize::try_from(v).unwrap_or(usize::MAX)),
                _ => {
                    return Err(ProtocolError::invalid_value(
                        "'failOnErrors' must be an integer of at least 1",
                    ));
                }
            },
            Some(_) => {
                return Err(ProtocolError::invalid_value(
                    "'failOnErrors' must be an integer of at least 1",
                ));
            }
        };
        let Some(Value::Array(raw_operations)) = member(&body, "Operations") else {
            return Err(ProtocolError::invalid_syntax(
                "'Operations' is required and must be an array",
            ));
        };
        let mut operations = Vec::with_capacity(raw_operations.len());
        let mut bulk_ids = HashSet::new();
        for (index, raw) in raw_operations.iter().enumerate() {
            let operation = operation(index, raw)?;
            if let Some(id) = &operation.bulk_id
                && !bulk_ids.insert(id.clone())
            {
                return Err(ProtocolError::invalid_value(format!(
                    "operation {index}: its bulkId is already used by an earlier operation; bulkIds must be unique within a request"
                )));
            }
            operations.push(operation);
        }
        Ok(BulkRequest {
            fail_on_errors,
            operations,
        })
    }

    /// How many operations the body holds, without reading them: the
    /// `maxOperations` check, before anything else is looked at.
    pub fn operation_count(body: &Value) -> usize {
        body.as_object()
            .and_then(|o| member(o, "Operations"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }
}

fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn operation(index: usize, raw: &Value) -> ProtocolResult<BulkOperation> {
    let syntax = |what: &str| ProtocolError::invalid_syntax(format!("operation {index}: {what}"));
    let Value::Object(raw) = raw else {
        return Err(syntax("must be a JSON object"));
    };
    let method = member(raw, "method")
        .and_then(Value::as_str)
        .ok_or_else(|| syntax("'method' is required"))?;
    let method = BulkMethod::parse(method)
        .ok_or_else(|| syntax("'method' must be POST, PUT, PATCH or DELETE"))?;
    let path = member(raw, "path")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| syntax("'path' is required"))?
        .trim()
        .to_owned();
    let bulk_id = match member(raw, "bulkId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(_) => return Err(syntax("'bulkId' must be a non-empty string")),
    };
    if method == BulkMethod::Post && bulk_id.is_none() {
        return Err(syntax("'bulkId' is required with POST"));
    }
    let version = match member(raw, "version") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => return Err(syntax("'version' must be a string (an ETag)")),
    };
    let data = match member(raw, "data") {
        None | Some(Value::Null) => None,
        Some(data) => Some(data.clone()),
    };
    if method != BulkMethod::Delete && data.is_none() {
        return Err(syntax("'data' is required with POST, PUT and PATCH"));
    }
    Ok(BulkOperation {
        method,
        bulk_id,
        version,
        path,
        data,
    })
}

/// The `bulkId` a value refers to: `bulkId:u1` → `u1`, or the last path
/// segment of `/Users/bulkId:u1`.
pub fn bulk_id_reference(value: &str) -> Option<&str> {
    let last = value.rsplit('/').next().unwrap_or(value);
    last.strip_prefix(BULK_ID_PREFIX)
        .filter(|id| !id.is_empty())
}

/// Every reference in a PATCH path's filter: `members[value eq "bulkId:g1"]`.
fn quoted_references(path: &str, found: &mut Vec<String>) {
    let marker = format!("\"{BULK_ID_PREFIX}");
    let mut rest = path;
    while let Some(start) = rest.find(&marker) {
        let after = &rest[start + marker.len()..];
        let Some(end) = after.find('"') else { break };
        if end > 0 {
            found.push(after[..end].to_owned());
        }
        rest = &after[end..];
    }
}

fn collect_references(value: &Value, is_path: bool, found: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX).filter(|id| !id.is_empty()) {
                found.push(id.to_owned());
            } else if is_path {
                quoted_references(s, found);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_references(v, false, found)),
        Value::Object(members) => {
            for (key, member) in members {
                collect_references(member, key.eq_ignore_ascii_case("path"), found);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `value` with each reference whose `bulkId` is in `ids` replaced by the
/// id of the resource that operation created: whole string values
/// (`"bulkId:u1"`) and quoted ones inside PATCH paths.
pub fn substitute_references(value: &mut Value, ids: &HashMap<String, String>) {
    substitute(value, false, ids);
}

fn substitute(value: &mut Value, is_path: bool, ids: &HashMap<String, String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX)
                && let Some(resolved) = ids.get(id)
            {
                *s = resolved.clone();
            } else if is_path && s.contains(BULK_ID_PREFIX) {
                for (bulk_id, resolved) in ids {
                    let quoted = format!("\"{BULK_ID_PREFIX}{bulk_id}\"");
                    if s.contains(&quoted) {
                        *s = s.replace(&quoted, &format!("\"{resolved}\""));
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, false, ids)),
        Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                let is_path = key.eq_ignore_ascii_case("path");
                substitute(member, is_path, ids);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `path` with a trailing `bulkId:x` segment replaced by the id it resolved to.
pub fn substitute_path(path: &str, ids: &HashMap<String, String>) -> String {
    match bulk_id_reference(path).and_then(|id| ids.get(id)) {
        Some(resolved) => {
            let cut = path.rfind('/').map_or(0, |i| i + 1);
            format!("{}{resolved}", &path[..cut])
        }
        None => path.to_owned(),
    }
}

/// One entry of a BulkResponse's `Operations` (§3.7.3). `status` is the
/// HTTP status code as a string; `response` the SCIM error of a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperationResponse {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    pub location: Option<String>,
    pub version: Option<String>,
    pub status: u16,
    pub response: Option<Value>,
}

impl BulkOperationResponse {
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("method".to_owned(), json!(self.method.as_str()));
        if let Some(id) = &self.bulk_id {
            out.insert("bulkId".to_owned(), json!(id));
        }
        if let Some(location) = &self.location {
            out.insert("location".to_owned(), json!(location));
        }
        if let Some(version) = &self.version {
            out.insert("version".to_owned(), json!(version));
        }
        out.insert("status".to_owned(), json!(self.status.to_string()));
        if let Some(response) = &self.response {
            out.insert("response".to_owned(), response.clone());
        }
        Value::Object(out)
    }
}

/// A BulkResponse with these operations' results, in the order given.
pub fn bulk_response(operations: &[BulkOperationResponse]) -> Value {
    json!({
        "schemas": [BULK_RESPONSE_URN],
        "Operations": operations.iter().map(BulkOperationResponse::to_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn request(operations: Value) -> Value {
        json!({"schemas": [BULK_REQUEST_URN], "Operations": operations})
    }

    #[test]
    fn a_request_is_read_with_its_operations_in_order() {
        let parsed = BulkRequest::from_json(json!({
            "schemas": [BULK_REQUEST_URN],
            "failOnErrors": 2,
            "Operations": [
                {"method": "post", "path": "/Users", "bulkId": "u1", "data": {"userName": "a"}},
                {"method": "DELETE", "path": "/Users/abc", "version": "W/\"3\""},
            ],
        }))
        .unwrap();
        assert_eq!(parsed.fail_on_errors, Some(2));
        assert_eq!(parsed.operations.len(), 2);
        assert_eq!(parsed.operations[0].method, BulkMethod::Post);
        assert_eq!(parsed.operations[0].bulk_id.as_deref(), Some("u1"));
        assert_eq!(parsed.operations[1].version.as_deref(), Some("W/\"3\""));
        assert_eq!(parsed.operations[1].data, None);
    }

    #[test]
    fn a_malformed_request_is_refused_whole() {
        use crate::error::ErrorKind;
        let syntax = [
            json!([]),
            json!({"Operations": []}),
            json!({"schemas": [BULK_REQUEST_URN]}),
            request(json!({"method": "POST"})),
            request(json!(["x"])),
            request(json!([{"path": "/Users", "bulkId": "a", "data": {}}])),
            request(json!([{"method": "GET", "path": "/Users"}])),
            request(json!([{"method": "POST", "path": "/Users", "data": {}}])),
            request(json!([{"method": "PUT", "path": "/Users/x"}])),
            request(json!([{"method": "DELETE"}])),
        ];
        for body in syntax {
            let e = BulkRequest::from_json(body.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSyntax, "{body}: {e}");
        }
        let duplicate = request(json!([
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {}},
        ]));
        let e = BulkRequest::from_json(duplicate).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        let zero = json!({"schemas": [BULK_REQUEST_URN], "failOnErrors": 0, "Operations": []});
        assert_eq!(
            BulkRequest::from_json(zero).unwrap_err().kind,
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn references_are_found_in_paths_values_and_patch_paths() {
        let op = BulkOperation {
            method: BulkMethod::Patch,
            bulk_id: None,
            version: None,
            path: "/Groups/bulkId:g1".into(),
            data: Some(json!({"Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]},
                {"op": "remove", "path": "members[value eq \"bulkId:u3\"]"},
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}]},
            ]})),
        };
        assert_eq!(op.references(), ["g1", "u1", "u2", "u3"]);
        let ids: HashMap<String, String> = [("u1", "id-1"), ("u3", "id-3"), ("g1", "gid")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut data = op.data.clone().unwrap();
        substitute_references(&mut data, &ids);
        assert_eq!(data["Operations"][0]["value"][0]["value"], "id-1");
        assert_eq!(data["Operations"][0]["value"][1]["value"], "bulkId:u2");
        assert_eq!(data["Operations"][1]["path"], "members[value eq \"id-3\"]");
        assert_eq!(substitute_path(&op.path, &ids), "/Groups/gid");
        assert_eq!(substitute_path("/Users/abc", &ids), "/Users/abc");
    }

    #[test]
    fn a_response_carries_status_as_a_string() {
        let body = bulk_response(&[BulkOperationResponse {
            method: BulkMethod::Post,
            bulk_id: Some("u1".into()),
            location: Some("https://x/Users/1".into()),
            version: Some("W/\"1\"".into()),
            status: 201,
            response: None,
        }]);
        assert_eq!(body["schemas"][0], BULK_RESPONSE_URN);
        assert_eq!(body["Operations"][0]["status"], "201");
        assert_eq!(body["Operations"][0]["bulkId"], "u1");
        assert!(body["Operations"][0].get("response").is_none());
    }
}
