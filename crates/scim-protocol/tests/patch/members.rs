//! `split_members`: every shape of membership change, and the ones refused.

use scim_protocol::ErrorKind;
use scim_protocol::patch::{
    MemberChange, PatchOp, PatchOperation, PatchRequest, PatchTarget, split_members,
};
use scim_protocol::schema::GROUP_RESOURCE;
use serde_json::{Value, json};

use crate::support::{GROUP, body, ids, patch_group, patch_group_err, plain_group};

fn split(ops: Value) -> (Vec<PatchOperation>, Vec<MemberChange>) {
    let req = PatchRequest::parse(body(ops), &GROUP_RESOURCE).unwrap();
    split_members(req.operations).unwrap()
}

fn changes(ops: Value) -> Vec<MemberChange> {
    let (rest, changes) = split(ops);
    assert!(rest.is_empty(), "only member operations expected: {rest:?}");
    changes
}

fn split_err(ops: Value) -> ErrorKind {
    let req = PatchRequest::parse(body(ops), &GROUP_RESOURCE).unwrap();
    split_members(req.operations)
        .expect_err("should be refused")
        .kind
}

#[test]
fn add() {
    assert_eq!(
        changes(
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b", "display": "B", "$ref": "../Users/b"}]}])
        ),
        vec![MemberChange::Add(ids(&["a", "b"]))]
    );
    // A lone object, not in an array: refused, never guessed at.
    for op in ["add", "replace", "remove"] {
        let e = PatchRequest::parse(
            body(json!([{"op": op, "path": "members", "value": {"value": "a"}}])),
            &GROUP_RESOURCE,
        )
        .and_then(|req| split_members(req.operations))
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue, "{op}: {}", e.detail);
    }
    let e = PatchRequest::parse(
        body(json!([{"op": "add", "value": {"members": "a"}}])),
        &GROUP_RESOURCE,
    )
    .and_then(|req| split_members(req.operations))
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    // Path-less.
    assert_eq!(
        changes(json!([{"op": "add", "value": {"members": [{"value": "a"}]}}])),
        vec![MemberChange::Add(ids(&["a"]))]
    );
    // Empty: nothing to add.
    assert_eq!(
        changes(json!([{"op": "add", "path": "members", "value": []}])),
        vec![MemberChange::Add(vec![])]
    );
}

#[test]
fn remove_by_filter() {
    assert_eq!(
        changes(json!([{"op": "remove", "path": "members[value eq \"a\"]"}])),
        vec![MemberChange::Remove(ids(&["a"]))]
    );
    assert_eq!(
        changes(
            json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\" or value eq \"c\"]"}])
        ),
        vec![MemberChange::Remove(ids(&["a", "b", "c"]))]
    );
    assert_eq!(
        changes(
            json!([{"op": "remove", "path": "members[value eq \"a\" or (value eq \"b\" or value eq \"c\")]"}])
        ),
        vec![MemberChange::Remove(ids(&["a", "b", "c"]))]
    );
    // Names are case-insensitive; ids are kept as sent.
    assert_eq!(
        changes(json!([{"op": "Remove", "path": "MEMBERS[VALUE EQ \"AbC\"]"}])),
        vec![MemberChange::Remove(ids(&["AbC"]))]
    );
}

#[test]
fn long_or_chain_is_walked_without_recursion() {
    let ids_in: Vec<String> = (0..400).map(|i| format!("u{i}")).collect();
    let filter = ids_in
        .iter()
        .map(|id| format!("value eq \"{id}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    assert_eq!(
        changes(json!([{"op": "remove", "path": format!("members[{filter}]")}])),
        vec![MemberChange::Remove(ids_in)]
    );
}

#[test]
fn remove_by_value_array() {
    assert_eq!(
        changes(
            json!([{"op": "remove", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}])
        ),
        vec![MemberChange::Remove(ids(&["a", "b"]))]
    );
}

#[test]
fn remove_all() {
    assert_eq!(
        changes(json!([{"op": "remove", "path": "members"}])),
        vec![MemberChange::RemoveAll]
    );
    assert_eq!(
        changes(json!([{"op": "remove", "path": "members", "value": null}])),
        vec![MemberChange::RemoveAll]
    );
}

#[test]
fn replace() {
    assert_eq!(
        changes(
            json!([{"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}])
        ),
        vec![MemberChange::Replace(ids(&["a", "b"]))]
    );
    assert_eq!(
        changes(json!([{"op": "replace", "path": "members", "value": []}])),
        vec![MemberChange::Replace(vec![])]
    );
    assert_eq!(
        changes(json!([{"op": "replace", "value": {"members": [{"value": "a"}]}}])),
        vec![MemberChange::Replace(ids(&["a"]))]
    );
    assert_eq!(
        changes(json!([{"op": "replace", "value": {"Members": []}}])),
        vec![MemberChange::Replace(vec![])]
    );
}

#[test]
fn urn_qualified_members() {
    let qualified = format!("{GROUP}:members");
    assert_eq!(
        changes(json!([{"op": "add", "path": qualified, "value": [{"value": "a"}]}])),
        vec![MemberChange::Add(ids(&["a"]))]
    );
    let (rest, changes) = split(json!([{
        "op": "replace",
        "value": {qualified.clone(): [{"value": "a"}], "displayName": "X"}
    }]));
    assert_eq!(changes, vec![MemberChange::Replace(ids(&["a"]))]);
    assert_eq!(
        rest,
        vec![PatchOperation {
            op: PatchOp::Replace,
            target: PatchTarget::Resource,
            value: Some(json!({"displayName": "X"})),
        }]
    );
}

#[test]
fn member_ids_with_other_key_spelling() {
    // Attribute names are case-insensitive (RFC 7643 §2.1), `value` included.
    assert_eq!(
        changes(
            json!([{"op": "add", "path": "members", "value": [{"Value": "a"}, {"VALUE": "b"}]}])
        ),
        vec![MemberChange::Add(ids(&["a", "b"]))]
    );
}

#[test]
fn mixed_path_less_op_is_split_in_two() {
    let (rest, changes) = split(json!([
        {"op": "replace", "path": "externalId", "value": "e1"},
        {"op": "replace", "value": {"displayName": "New", "members": [{"value": "a"}]}},
        {"op": "add", "path": "members", "value": [{"value": "b"}]}
    ]));
    assert_eq!(
        changes,
        vec![
            MemberChange::Replace(ids(&["a"])),
            MemberChange::Add(ids(&["b"]))
        ]
    );
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].op, PatchOp::Replace);
    assert!(matches!(&rest[0].target, PatchTarget::Path(p) if p.to_string() == "externalId"));
    assert_eq!(
        rest[1],
        PatchOperation {
            op: PatchOp::Replace,
            target: PatchTarget::Resource,
            value: Some(json!({"displayName": "New"})),
        }
    );
    // Through the flow.
    let (doc, _) = patch_group(
        plain_group(),
        json!([{"op": "replace", "value": {"displayName": "New", "members": [{"value": "a"}]}}]),
    );
    assert_eq!(
        doc,
        json!({"schemas": [GROUP], "externalId": "tg", "displayName": "New"})
    );
}

#[test]
fn other_operations_pass_through_in_order() {
    let (rest, changes) = split(json!([
        {"op": "replace", "path": "displayName", "value": "A"},
        {"op": "remove", "path": "externalId"},
        {"op": "add", "value": {"displayName": "B"}}
    ]));
    assert!(changes.is_empty());
    let shown: Vec<String> = rest
        .iter()
        .map(|op| match &op.target {
            PatchTarget::Path(p) => format!("{:?} {p}", op.op),
            other => format!("{:?} {other:?}", op.op),
        })
        .collect();
    assert_eq!(
        shown,
        vec!["Replace displayName", "Remove externalId", "Add Resource"]
    );
}

#[test]
fn unsupported_member_filters() {
    for path in [
        "members[value eq \"a\" and type eq \"User\"]",
        "members[display eq \"Babs\"]",
        "members[type eq \"User\"]",
        "members[value ne \"a\"]",
        "members[value sw \"a\"]",
        "members[value pr]",
        "members[not (value eq \"a\")]",
        "members[value eq \"a\" or type eq \"User\"]",
        "members[value eq null]",
    ] {
        assert_eq!(
            split_err(json!([{"op": "remove", "path": path}])),
            ErrorKind::InvalidFilter,
            "{path}"
        );
    }
}

#[test]
fn unsupported_member_paths() {
    for (op, path) in [
        ("add", "members[value eq \"a\"]"),
        ("replace", "members[value eq \"a\"]"),
        ("add", "members[value eq \"a\"].type"),
        ("add", "members.value"),
    ] {
        assert_eq!(
            split_err(json!([{"op": op, "path": path, "value": "x"}])),
            ErrorKind::InvalidPath,
            "{op} {path}"
        );
    }
    // `value`, `$ref` and `type` of a member are immutable: refused at parse.
    for (op, path) in [
        ("replace", "members[value eq \"a\"].value"),
        ("remove", "members[value eq \"a\"].type"),
        ("remove", "members.value"),
        ("replace", "members.type"),
        ("replace", "members.$ref"),
    ] {
        assert_eq!(
            PatchRequest::parse(
                body(json!([{"op": op, "path": path, "value": "x"}])),
                &GROUP_RESOURCE
            )
            .expect_err(path)
            .kind,
            ErrorKind::Mutability,
            "{op} {path}"
        );
    }
}

#[test]
fn members_need_string_values() {
    for value in [
        json!([{"value": 1}]),
        json!([{"display": "no value"}]),
        json!(["bare-id"]),
        json!([{"value": null}]),
        json!([{"value": "a"}, 7]),
    ] {
        assert_eq!(
            split_err(json!([{"op": "add", "path": "members", "value": value}])),
            ErrorKind::InvalidValue,
            "{value}"
        );
    }
    assert_eq!(
        split_err(json!([{"op": "replace", "value": {"members": [{"value": true}]}}])),
        ErrorKind::InvalidValue
    );
}

#[test]
fn read_only_member_display_is_refused_at_parse() {
    assert_eq!(
        patch_group_err(
            plain_group(),
            json!([{"op": "replace", "path": "members[value eq \"a\"].display", "value": "x"}])
        ),
        ErrorKind::Mutability
    );
}

#[test]
fn keys_naming_members_in_different_cases_make_one_change() {
    // Found by the property test: `Members` and `members` in one value are
    // one attribute, so one change with both lists.
    assert_eq!(
        changes(
            json!([{"op": "replace", "value": {"Members": [{"value": "a"}], "members": [{"value": "b"}, {"value": "a"}]}}])
        ),
        vec![MemberChange::Replace(ids(&["a", "b"]))]
    );
    assert_eq!(
        changes(json!([{"op": "replace", "value": {"Members": [], "members": []}}])),
        vec![MemberChange::Replace(Vec::new())]
    );
}
