use scim_protocol::AttrPath;
use scim_protocol::ErrorKind;
use scim_protocol::projection::{is_requested, parse_attribute_list, project};
use scim_protocol::schema::{
    ENTERPRISE_USER_URN, GROUP_RESOURCE, GROUP_URN, USER_RESOURCE, USER_URN,
};
use serde_json::{Value, json};

use crate::fixture::{CORE, DEVICE, EXT};

fn list(input: &str) -> Vec<AttrPath> {
    parse_attribute_list(input, &USER_RESOURCE).unwrap()
}

fn stored_user() -> Value {
    json!({
        "schemas": [USER_URN, ENTERPRISE_USER_URN],
        "id": "u1",
        "externalId": "e1",
        "userName": "alice",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "password": "hunter2",
        "emails": [
            {"value": "a@x", "type": "work", "primary": true},
            {"value": "b@x", "type": "home"}
        ],
        "groups": [{"value": "g1", "display": "G"}],
        "unknownThing": 1,
        ENTERPRISE_USER_URN: {"department": "D", "manager": {"value": "m", "displayName": "Bob"}},
        "meta": {"resourceType": "User", "version": "W/\"1\"", "location": "https://x/Users/u1"}
    })
}

fn user_view(attributes: &str, excluded: &str) -> Value {
    project(
        &stored_user(),
        &USER_RESOURCE,
        &list(attributes),
        &list(excluded),
    )
}

#[test]
fn parses_attribute_lists_canonically() {
    assert_eq!(
        list(" userName, NAME.givenname,,unknown , emails.VALUE,username, name.nope"),
        vec![
            AttrPath::new("userName"),
            AttrPath::with_sub("name", "givenName"),
            AttrPath::with_sub("emails", "value"),
        ]
    );
    assert_eq!(
        list("urn:ietf:params:scim:schemas:core:2.0:User:displayName,meta.LASTMODIFIED"),
        vec![
            AttrPath::new("displayName"),
            AttrPath::with_sub("meta", "lastModified")
        ]
    );
    assert_eq!(
        list("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:MANAGER.value"),
        vec![AttrPath::with_sub("manager", "value").in_schema(ENTERPRISE_USER_URN)]
    );
    // A bare extension URN stands for all its attributes.
    let all = list(ENTERPRISE_USER_URN);
    assert_eq!(all.len(), 6);
    assert!(
        all.iter()
            .all(|p| p.schema.as_deref() == Some(ENTERPRISE_USER_URN))
    );
    assert!(list("").is_empty());
    assert!(list(" , ,").is_empty());
    assert!(list("groups.$ref").contains(&AttrPath::with_sub("groups", "$ref")));

    for bad in [
        "emails[type eq \"work\"]",
        "name.givenName.x",
        "user name",
        "name.",
        ".x",
        "urn:",
        "1abc",
        "é",
    ] {
        let e = parse_attribute_list(bad, &USER_RESOURCE).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue, "{bad}");
        assert!(!e.detail.contains(bad), "{}", e.detail);
    }
}

#[test]
fn default_view() {
    let out = user_view("", "");
    let mut expected = stored_user();
    let o = expected.as_object_mut().unwrap();
    o.remove("password");
    o.remove("unknownThing");
    assert_eq!(out, expected);
}

#[test]
fn attributes_select_only_those_plus_always() {
    assert_eq!(
        user_view("userName", ""),
        json!({"schemas": [USER_URN, ENTERPRISE_USER_URN], "id": "u1", "userName": "alice"})
    );
    assert_eq!(
        user_view("name.givenName,emails.value", ""),
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "id": "u1",
            "name": {"givenName": "Alice"},
            "emails": [{"value": "a@x"}, {"value": "b@x"}]
        })
    );
    assert_eq!(
        user_view("name,meta.version", "")["name"],
        json!({"givenName": "Alice", "familyName": "Liddell"})
    );
    assert_eq!(
        user_view("meta.version", "")["meta"],
        json!({"version": "W/\"1\""})
    );
    // `never` even when asked; `always` even when not.
    let out = user_view("password,id", "");
    assert_eq!(
        out,
        json!({"schemas": [USER_URN, ENTERPRISE_USER_URN], "id": "u1"})
    );
    // Extension attributes sit under their URN.
    assert_eq!(
        user_view(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            ""
        ),
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "id": "u1",
            ENTERPRISE_USER_URN: {"manager": {"value": "m"}}
        })
    );
    // Only unknown names: nothing but the always-returned ones.
    let out = project(
        &stored_user(),
        &USER_RESOURCE,
        &[AttrPath::new("bogus")],
        &[],
    );
    assert_eq!(out, user_view("", ""), "unresolvable paths are ignored");
}

#[test]
fn excluded_attributes_remove_defaults_only() {
    let out = user_view("", "emails,meta.version,id,name.familyName,schemas");
    assert_eq!(out["id"], json!("u1"));
    assert!(out.get("schemas").is_some());
    assert!(out.get("emails").is_none());
    assert_eq!(
        out["meta"],
        json!({"resourceType": "User", "location": "https://x/Users/u1"})
    );
    assert_eq!(out["name"], json!({"givenName": "Alice"}));
    assert_eq!(out["userName"], json!("alice"));

    let out = user_view("", &format!("{ENTERPRISE_USER_URN},groups,meta"));
    assert!(out.get(ENTERPRISE_USER_URN).is_none());
    assert!(out.get("groups").is_none());
    assert!(out.get("meta").is_none());

    // Removing the only sub-attribute removes the complex value.
    let out = user_view("", "name.givenName,name.familyName");
    assert!(out.get("name").is_none());

    // With `attributes` given, `excludedAttributes` is ignored.
    assert_eq!(
        user_view("userName", "userName")["userName"],
        json!("alice")
    );
}

#[test]
fn returned_request_attributes() {
    let stored = json!({
        "schemas": [CORE, EXT],
        "id": "d1",
        "label": "L",
        "notes": "N",
        "port": {"value": 1, "serial": "S", "secret": "X"},
        EXT: {"owner": "o"}
    });
    let parse = |s: &str| parse_attribute_list(s, &DEVICE).unwrap();
    let out = project(&stored, &DEVICE, &[], &[]);
    assert!(out.get("notes").is_none());
    assert_eq!(out["port"], json!({"value": 1, "serial": "S"}));
    let out = project(&stored, &DEVICE, &parse("notes,port"), &[]);
    assert_eq!(out["notes"], json!("N"));
    assert_eq!(
        out["port"],
        json!({"value": 1, "serial": "S", "secret": "X"})
    );
    assert!(out.get("label").is_none());
    let out = project(&stored, &DEVICE, &parse("port.secret"), &[]);
    assert_eq!(out["port"], json!({"secret": "X"}));
    assert!(is_requested(&DEVICE, &parse("notes"), &[], "notes"));
    assert!(!is_requested(&DEVICE, &[], &[], "notes"));
}

#[test]
fn is_requested_for_expensive_attributes() {
    let g = |s: &str| parse_attribute_list(s, &GROUP_RESOURCE).unwrap();
    assert!(is_requested(&GROUP_RESOURCE, &[], &[], "members"));
    assert!(is_requested(&GROUP_RESOURCE, &[], &[], "MEMBERS"));
    assert!(!is_requested(
        &GROUP_RESOURCE,
        &g("displayName"),
        &[],
        "members"
    ));
    assert!(is_requested(
        &GROUP_RESOURCE,
        &g("members.value"),
        &[],
        "members"
    ));
    assert!(!is_requested(
        &GROUP_RESOURCE,
        &[],
        &g("members"),
        "members"
    ));
    assert!(is_requested(
        &GROUP_RESOURCE,
        &[],
        &g("members.display"),
        "members"
    ));
    assert!(is_requested(&GROUP_RESOURCE, &g("displayName"), &[], "id"));
    assert!(is_requested(
        &GROUP_RESOURCE,
        &g("displayName"),
        &[],
        "schemas"
    ));
    assert!(!is_requested(&GROUP_RESOURCE, &[], &[], "bogus"));
    assert!(!is_requested(&GROUP_RESOURCE, &[], &[], "not an attribute"));

    assert!(is_requested(&USER_RESOURCE, &[], &[], "groups"));
    assert!(!is_requested(
        &USER_RESOURCE,
        &list("userName"),
        &[],
        "groups"
    ));
    assert!(!is_requested(&USER_RESOURCE, &[], &[], "password"));
    let manager = format!("{ENTERPRISE_USER_URN}:manager");
    assert!(is_requested(&USER_RESOURCE, &[], &[], &manager));
    assert!(!is_requested(
        &USER_RESOURCE,
        &[],
        &list(ENTERPRISE_USER_URN),
        &manager
    ));
}

#[test]
fn group_projection() {
    let stored = json!({
        "schemas": [GROUP_URN],
        "id": "g1",
        "displayName": "G",
        "members": [{"value": "u1", "display": "Alice", "type": "User"}],
        "meta": {"resourceType": "Group"}
    });
    let attrs = parse_attribute_list("members.value", &GROUP_RESOURCE).unwrap();
    assert_eq!(
        project(&stored, &GROUP_RESOURCE, &attrs, &[]),
        json!({"schemas": [GROUP_URN], "id": "g1", "members": [{"value": "u1"}]})
    );
    let excl = parse_attribute_list("members.display, meta", &GROUP_RESOURCE).unwrap();
    assert_eq!(
        project(&stored, &GROUP_RESOURCE, &[], &excl),
        json!({"schemas": [GROUP_URN], "id": "g1", "displayName": "G", "members": [{"value": "u1", "type": "User"}]})
    );
    // Not an object: returned as is.
    assert_eq!(project(&json!(3), &GROUP_RESOURCE, &[], &[]), json!(3));
}
