//! The gateway's PATCH flow, and sample resources.

use scim_protocol::patch::{MemberChange, PatchRequest, apply, split_members};
use scim_protocol::resource::normalize_for_write;
use scim_protocol::schema::{
    ENTERPRISE_USER_URN, GROUP_RESOURCE, GROUP_URN, PATCH_OP_URN, ResourceType, USER_RESOURCE,
    USER_URN,
};
use scim_protocol::{ErrorKind, ProtocolResult};
use serde_json::{Value, json};

pub const ENT: &str = ENTERPRISE_USER_URN;
pub const USER: &str = USER_URN;
pub const GROUP: &str = GROUP_URN;

/// A PatchOp request body carrying `ops`.
pub fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": ops})
}

/// normalize → parse → apply → normalize, as the gateway does for users.
pub fn run(doc: Value, ops: Value, rt: &ResourceType) -> ProtocolResult<Value> {
    let mut doc = normalize_for_write(doc, rt)?;
    let req = PatchRequest::parse(body(ops), rt)?;
    apply(&mut doc, &req.operations, rt)?;
    normalize_for_write(doc, rt)
}

/// [`run`] on a user, which must succeed.
pub fn patch_user(doc: Value, ops: Value) -> Value {
    run(doc, ops, &USER_RESOURCE).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

/// [`run`] on a user, which must fail: the error kind.
pub fn patch_user_err(doc: Value, ops: Value) -> ErrorKind {
    match run(doc, ops, &USER_RESOURCE) {
        Ok(out) => panic!("patch should fail, produced {out:#}"),
        Err(e) => e.kind,
    }
}

/// The group flow: normalize → parse → split members → apply the rest → normalize.
pub fn run_group(doc: Value, ops: Value) -> ProtocolResult<(Value, Vec<MemberChange>)> {
    let rt = &GROUP_RESOURCE;
    let mut doc = normalize_for_write(doc, rt)?;
    let req = PatchRequest::parse(body(ops), rt)?;
    let (rest, changes) = split_members(req.operations)?;
    apply(&mut doc, &rest, rt)?;
    Ok((normalize_for_write(doc, rt)?, changes))
}

pub fn patch_group(doc: Value, ops: Value) -> (Value, Vec<MemberChange>) {
    run_group(doc, ops).unwrap_or_else(|e| panic!("group patch failed: {e}"))
}

pub fn patch_group_err(doc: Value, ops: Value) -> ErrorKind {
    match run_group(doc, ops) {
        Ok(out) => panic!("group patch should fail, produced {out:?}"),
        Err(e) => e.kind,
    }
}

/// Only the parse step, on a user: its error kind.
pub fn parse_user_err(ops: Value) -> ErrorKind {
    match PatchRequest::parse(body(ops), &USER_RESOURCE) {
        Ok(req) => panic!("parse should fail, produced {req:?}"),
        Err(e) => e.kind,
    }
}

pub fn canonical_user(doc: Value) -> Value {
    normalize_for_write(doc, &USER_RESOURCE).unwrap_or_else(|e| panic!("{e}"))
}

pub fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// The RFC's Barbara Jensen, trimmed (RFC 7643 §8.2), with the enterprise extension.
pub fn bjensen() -> Value {
    json!({
        "schemas": [USER, ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                "primary": true
            },
            {
                "type": "home",
                "streetAddress": "456 Hollywood Blvd",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA"
            }
        ],
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z"},
        ENT: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

/// A minimal user: only what is required.
pub fn plain_user() -> Value {
    json!({"schemas": [USER], "userName": "plain@example.com"})
}

/// The RFC's Tour Guides group, with two members.
pub fn tour_guides() -> Value {
    json!({
        "schemas": [GROUP],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
            {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}
        ]
    })
}

/// A group without members (the gateway keeps memberships apart).
pub fn plain_group() -> Value {
    json!({"schemas": [GROUP], "displayName": "Tour Guides", "externalId": "tg"})
}

/// Asserts that `after` equals `before` but for the given top-level keys.
pub fn same_except(before: &Value, after: &Value, keys: &[&str]) {
    let strip = |v: &Value| {
        let mut m = v.as_object().expect("an object").clone();
        m.retain(|k, _| !keys.contains(&k.as_str()));
        Value::Object(m)
    };
    assert_eq!(strip(before), strip(after), "only {keys:?} may differ");
}
