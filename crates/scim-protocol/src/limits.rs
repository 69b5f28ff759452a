//! Bounds on what one write may make the service hold: the length of a
//! string value, the size of a stored resource document, the values of one
//! PATCH operation. A request over a bound is refused whole with
//! [`LimitExceeded`] (HTTP 413: RFC 7644 §3.12, "one or more of the limits
//! for this operation have been exceeded"); its detail names the attribute
//! and the bound, never the value.

use serde_json::Value;

use crate::patch::{PatchRequest, PatchTarget};

/// The bounds; the defaults are what [`WriteLimits::default`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// Longest string value, in characters (Unicode scalar values).
    pub max_string_chars: usize,
    /// Largest resource document as stored (its compact JSON), in bytes. A
    /// group's members are kept apart and do not count.
    pub max_resource_bytes: usize,
    /// Most values one PATCH operation may carry (members added or removed
    /// in one operation, e-mails replaced…).
    pub max_operation_values: usize,
}

impl Default for WriteLimits {
    /// 4096 characters: the longest attribute the common identity providers
    /// send is far shorter (Entra ID's user properties hold at most 1024
    /// characters, most 64–256), and a base64 X.509 certificate of ordinary
    /// size (2–3 KB of DER) fits. 64 KiB per
    /// resource: about ten times a fully populated Entra ID or Okta user.
    /// 1000 values per operation: room for large membership batches while
    /// bounding what one operation resolves and journals at once.
    fn default() -> Self {
        Self {
            max_string_chars: 4096,
            max_resource_bytes: 64 * 1024,
            max_operation_values: 1000,
        }
    }
}

/// A write over one of the [`WriteLimits`]. The detail is safe to show: it
/// names attributes and bounds only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct LimitExceeded {
    pub detail: String,
}

impl WriteLimits {
    /// Checks a canonical resource document (as stored): every string and
    /// the whole document's size.
    pub fn check_document(&self, document: &Value) -> Result<(), LimitExceeded> {
        self.check_strings(document, &mut Vec::new())?;
        let size = serialized_len(document);
        if size > self.max_resource_bytes {
            return Err(LimitExceeded {
                detail: format!(
                    "the resource is larger than {} bytes (the most this service keeps per resource)",
                    self.max_resource_bytes
                ),
            });
        }
        Ok(())
    }

    /// Checks the values of each operation of a PATCH request: how many
    /// there are, and the strings among them. Strings that end up in the
    /// document are checked again there; this also bounds the ones that do
    /// not (member ids).
    pub fn check_patch(&self, request: &PatchRequest) -> Result<(), LimitExceeded> {
        for (index, op) in request.operations.iter().enumerate() {
            let Some(value) = &op.value else { continue };
            let count = match (&op.target, value) {
                // Path-less: the largest array among the attributes set.
                (PatchTarget::Resource, Value::Object(members)) => members
                    .values()
                    .map(|v| v.as_array().map_or(1, Vec::len))
                    .max()
                    .unwrap_or(0),
                (_, Value::Array(items)) => items.len(),
                _ => 1,
            };
            if count > self.max_operation_values {
                return Err(LimitExceeded {
                    detail: format!(
                        "operation {index} carries more than {} values; split it into several operations or requests",
                        self.max_operation_values
                    ),
                });
            }
            if self.check_strings(value, &mut Vec::new()).is_err() {
                return Err(LimitExceeded {
                    detail: format!(
                        "operation {index} has a string value longer than {} characters",
                        self.max_string_chars
                    ),
                });
            }
        }
        Ok(())
    }

    /// `path` holds the object keys from the document's root: the
    /// attribute named in the error.
    fn check_strings<'a>(
        &self,
        value: &'a Value,
        path: &mut Vec<&'a str>,
    ) -> Result<(), LimitExceeded> {
        match value {
            Value::String(s) => {
                if s.len() > self.max_string_chars && s.chars().count() > self.max_string_chars {
                    return Err(LimitExceeded {
                        detail: format!(
                            "attribute '{}' is longer than {} characters",
                            attribute_name(path),
                            self.max_string_chars
                        ),
                    });
                }
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(|v| self.check_strings(v, path)),
            Value::Object(members) => {
                for (key, member) in members {
                    path.push(key);
                    self.check_strings(member, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }
}

/// `name.givenName`, `emails.value`, `urn:…:User:manager.value`.
fn attribute_name(path: &[&str]) -> String {
    let mut out = String::new();
    for (i, key) in path.iter().enumerate() {
        if i > 0 {
            out.push(if path[i - 1].starts_with("urn:") {
                ':'
            } else {
                '.'
            });
        }
        out.push_str(key);
    }
    out
}

/// The length of `value`'s compact JSON, without building it.
fn serialized_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn small() -> WriteLimits {
        WriteLimits {
            max_string_chars: 8,
            max_resource_bytes: 200,
            max_operation_values: 2,
        }
    }

    #[test]
    fn a_long_string_is_named_by_its_attribute_never_shown() {
        let doc = json!({"name": {"givenName": "abcdefghi"}});
        let e = small().check_document(&doc).unwrap_err();
        assert_eq!(
            e.detail,
            "attribute 'name.givenName' is longer than 8 characters"
        );
        let doc = json!({"urn:x:User": {"manager": {"value": "abcdefghij"}}});
        let e = small().check_document(&doc).unwrap_err();
        assert!(
            e.detail.contains("'urn:x:User:manager.value'"),
            "{}",
            e.detail
        );
        assert!(!e.detail.contains("abcdefghij"));
    }

    #[test]
    fn characters_not_bytes_are_counted() {
        // Eight two-byte characters: 16 bytes, within 8 characters.
        assert!(
            small()
                .check_document(&json!({"displayName": "éééééééé"}))
                .is_ok()
        );
        assert!(
            small()
                .check_document(&json!({"displayName": "ééééééééé"}))
                .is_err()
        );
    }

    #[test]
    fn patch_operations_are_bounded_in_values_and_strings() {
        use crate::schema::GROUP_RESOURCE;
        let patch = |ops: Value| {
            PatchRequest::parse(
                json!({"schemas": [crate::schema::PATCH_OP_URN], "Operations": ops}),
                &GROUP_RESOURCE,
            )
            .unwrap()
        };
        let two = patch(
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}]),
        );
        assert!(small().check_patch(&two).is_ok());
        let three = patch(
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}]),
        );
        let e = small().check_patch(&three).unwrap_err();
        assert!(e.detail.contains("more than 2 values"), "{}", e.detail);
        let path_less = patch(
            json!([{"op": "add", "value": {"members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}}]),
        );
        assert!(small().check_patch(&path_less).is_err());
        let long_id =
            patch(json!([{"op": "add", "path": "members", "value": [{"value": "abcdefghijk"}]}]));
        let e = small().check_patch(&long_id).unwrap_err();
        assert!(!e.detail.contains("abcdefghijk"));
    }

    #[test]
    fn the_document_size_is_its_compact_json() {
        let doc = json!({"a": "1234", "b": ["1234", "1234"]});
        let len = serde_json::to_vec(&doc).unwrap().len();
        assert_eq!(serialized_len(&doc), len);
        let limits = WriteLimits {
            max_resource_bytes: len,
            ..small()
        };
        assert!(limits.check_document(&doc).is_ok());
        let limits = WriteLimits {
            max_resource_bytes: len - 1,
            ..small()
        };
        assert!(limits.check_document(&doc).is_err());
    }
}
