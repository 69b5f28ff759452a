//! Refused requests and their error kinds (RFC 7644 §3.12).

use scim_protocol::ErrorKind;
use scim_protocol::patch::{MAX_OPERATIONS, PatchRequest};
use scim_protocol::schema::{GROUP_RESOURCE, PATCH_OP_URN, USER_RESOURCE};
use serde_json::{Value, json};

use crate::support::{ENT, bjensen, body, parse_user_err, patch_user_err, plain_user};

fn body_err(body: Value) -> ErrorKind {
    PatchRequest::parse(body, &USER_RESOURCE)
        .expect_err("should be refused")
        .kind
}

#[test]
fn envelope() {
    assert_eq!(body_err(json!([])), ErrorKind::InvalidSyntax);
    assert_eq!(body_err(json!("x")), ErrorKind::InvalidSyntax);
    // schemas missing, wrong, or not an array
    assert_eq!(
        body_err(json!({"Operations": [{"op": "remove", "path": "nickName"}]})),
        ErrorKind::InvalidSyntax
    );
    assert_eq!(
        body_err(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "Operations": [{"op": "remove", "path": "nickName"}]
        })),
        ErrorKind::InvalidSyntax
    );
    assert_eq!(
        body_err(
            json!({"schemas": PATCH_OP_URN, "Operations": [{"op": "remove", "path": "nickName"}]})
        ),
        ErrorKind::InvalidSyntax
    );
    // Operations missing, not an array, empty
    assert_eq!(
        body_err(json!({"schemas": [PATCH_OP_URN]})),
        ErrorKind::InvalidSyntax
    );
    assert_eq!(
        body_err(
            json!({"schemas": [PATCH_OP_URN], "Operations": {"op": "remove", "path": "nickName"}})
        ),
        ErrorKind::InvalidSyntax
    );
    assert_eq!(body_err(body(json!([]))), ErrorKind::InvalidSyntax);
    // an operation that is not an object
    assert_eq!(parse_user_err(json!(["remove"])), ErrorKind::InvalidSyntax);
}

#[test]
fn envelope_names_are_case_insensitive() {
    let req = PatchRequest::parse(
        json!({
            "Schemas": [PATCH_OP_URN.to_uppercase()],
            "operations": [{"OP": "REMOVE", "PATH": "nickName"}]
        }),
        &USER_RESOURCE,
    )
    .unwrap();
    assert_eq!(req.operations.len(), 1);
}

#[test]
fn bad_op() {
    for op in [
        json!("move"),
        json!("copy"),
        json!(""),
        json!(1),
        json!(null),
    ] {
        assert_eq!(
            parse_user_err(json!([{"op": op, "path": "nickName", "value": "x"}])),
            ErrorKind::InvalidSyntax,
            "{op}"
        );
    }
    assert_eq!(
        parse_user_err(json!([{"path": "nickName", "value": "x"}])),
        ErrorKind::InvalidSyntax
    );
}

#[test]
fn missing_value() {
    for op in ["add", "replace", "Add", "Replace"] {
        assert_eq!(
            parse_user_err(json!([{"op": op, "path": "nickName"}])),
            ErrorKind::InvalidSyntax,
            "{op}"
        );
        assert_eq!(
            parse_user_err(json!([{"op": op}])),
            ErrorKind::InvalidSyntax,
            "{op}"
        );
    }
}

#[test]
fn path_less_value_must_be_an_object() {
    for value in [
        json!("x"),
        json!([{"nickName": "x"}]),
        json!(true),
        json!(null),
        json!(1),
    ] {
        assert_eq!(
            parse_user_err(json!([{"op": "replace", "value": value}])),
            ErrorKind::InvalidSyntax,
            "{value}"
        );
        assert_eq!(
            parse_user_err(json!([{"op": "add", "path": "", "value": value}])),
            ErrorKind::InvalidSyntax,
            "{value}"
        );
    }
}

#[test]
fn unknown_or_malformed_path() {
    for path in [
        "nope",
        "name.nope",
        "emails[nope eq \"x\"]",
        "emails[type eq \"work\"].nope",
        "nickName[value eq \"x\"]",
        "emails[type eq ]",
        "emails[type eq \"work\"",
        "name.givenName.x",
        "urn:example:unknown:2.0:User:thing",
        "employeeNumber",
        "schemas",
        "members",
        "emails.value[type eq \"work\"]",
        "emails[type eq \"work\"][value eq \"x\"]",
    ] {
        assert_eq!(
            parse_user_err(json!([{"op": "replace", "path": path, "value": "x"}])),
            ErrorKind::InvalidPath,
            "{path}"
        );
    }
    assert_eq!(
        parse_user_err(json!([{"op": "replace", "path": 7, "value": "x"}])),
        ErrorKind::InvalidPath
    );
    // A user attribute is unknown to groups.
    assert_eq!(
        PatchRequest::parse(
            body(json!([{"op": "replace", "path": "userName", "value": "x"}])),
            &GROUP_RESOURCE
        )
        .expect_err("groups have no userName")
        .kind,
        ErrorKind::InvalidPath
    );
}

#[test]
fn remove_needs_a_path() {
    assert_eq!(
        parse_user_err(json!([{"op": "remove"}])),
        ErrorKind::NoTarget
    );
    assert_eq!(
        parse_user_err(json!([{"op": "remove", "path": ""}])),
        ErrorKind::NoTarget
    );
    assert_eq!(
        parse_user_err(json!([{"op": "remove", "path": null, "value": {"nickName": "x"}}])),
        ErrorKind::NoTarget
    );
}

#[test]
fn read_only_paths() {
    for path in [
        "id",
        "meta",
        "meta.created",
        "meta.lastModified",
        "groups",
        "groups[value eq \"g\"]",
        "groups[value eq \"g\"].display",
        &format!("{ENT}:manager.displayName"),
    ] {
        for op in ["add", "replace", "remove"] {
            assert_eq!(
                parse_user_err(json!([{"op": op, "path": path, "value": "x"}])),
                ErrorKind::Mutability,
                "{op} {path}"
            );
        }
    }
}

#[test]
fn replace_with_filter_matching_nothing() {
    assert_eq!(
        patch_user_err(
            bjensen(),
            json!([{"op": "replace", "path": "emails[type eq \"other\"]", "value": {"value": "o@x"}}])
        ),
        ErrorKind::NoTarget
    );
    assert_eq!(
        patch_user_err(
            plain_user(),
            json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {"locality": "X"}}])
        ),
        ErrorKind::NoTarget
    );
}

#[test]
fn filter_matching_nothing_that_pins_no_value() {
    // A new element can only be built from `eq` terms joined by `and`.
    for path in [
        "emails[type eq \"work\" or type eq \"home\"].value",
        "emails[value co \"example.org\"].type",
        "emails[not (type eq \"work\")].value",
        "emails[type pr].value",
        "emails[type eq null].value",
    ] {
        for op in ["add", "replace"] {
            assert_eq!(
                patch_user_err(
                    plain_user(),
                    json!([{"op": op, "path": path, "value": "x"}])
                ),
                ErrorKind::NoTarget,
                "{op} {path}"
            );
        }
    }
}

#[test]
fn too_many_operations() {
    let op = json!({"op": "replace", "path": "nickName", "value": "x"});
    let ops = Value::Array(vec![op.clone(); MAX_OPERATIONS + 1]);
    assert_eq!(parse_user_err(ops), ErrorKind::TooMany);
    let ops = Value::Array(vec![op; MAX_OPERATIONS]);
    let req = PatchRequest::parse(body(ops), &USER_RESOURCE).unwrap();
    assert_eq!(req.operations.len(), MAX_OPERATIONS);
}

#[test]
fn extension_path_takes_an_object() {
    for value in [json!("x"), json!(["x"]), json!(1)] {
        assert_eq!(
            patch_user_err(
                bjensen(),
                json!([{"op": "replace", "path": ENT, "value": value}])
            ),
            ErrorKind::InvalidValue,
            "{value}"
        );
        assert_eq!(
            patch_user_err(bjensen(), json!([{"op": "add", "value": {ENT: value}}])),
            ErrorKind::InvalidValue,
            "{value}"
        );
    }
}

#[test]
fn the_result_is_validated() {
    // Removing a required attribute, a type mismatch, two primaries.
    assert_eq!(
        patch_user_err(bjensen(), json!([{"op": "remove", "path": "userName"}])),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        patch_user_err(
            bjensen(),
            json!([{"op": "replace", "path": "active", "value": "maybe"}])
        ),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        patch_user_err(
            bjensen(),
            json!([{"op": "replace", "path": "nickName", "value": ["a", "b"]}])
        ),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        patch_user_err(
            plain_user(),
            json!([{"op": "add", "path": "emails", "value": [
                {"value": "a@x", "primary": true},
                {"value": "b@x", "primary": true}
            ]}])
        ),
        ErrorKind::InvalidValue
    );
}
