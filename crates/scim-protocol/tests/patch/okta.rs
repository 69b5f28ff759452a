//! Request shapes Okta sends: path-less replaces that echo `id`, `meta` and
//! `schemas` back, which must be ignored.

use scim_protocol::patch::{MemberChange, PatchOp, PatchRequest, PatchTarget};
use scim_protocol::schema::USER_RESOURCE;
use serde_json::json;

use crate::support::{
    ENT, GROUP, USER, bjensen, body, canonical_user, ids, patch_group, patch_user, plain_group,
    same_except, tour_guides,
};

#[test]
fn deactivate_ignores_id() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{
            "op": "replace",
            "value": {"id": "2819c223-7f76-453a-919d-413861904646", "active": false}
        }]),
    );
    assert_eq!(out["active"], json!(false));
    assert!(out.get("id").is_none());
    same_except(&before, &out, &["active"]);

    // A different id is ignored just the same: ids are not writable.
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "value": {"id": "someone-else", "active": false}}]),
    );
    same_except(&before, &out, &["active"]);
}

#[test]
fn id_is_ignored_by_apply_itself() {
    // Not just by the final normalization: the engine never writes `id`.
    let req = PatchRequest::parse(
        body(json!([{"op": "replace", "value": {"id": "new-id", "meta": {"version": "W/\"x\""}, "active": false}}])),
        &USER_RESOURCE,
    )
    .unwrap();
    assert_eq!(req.operations.len(), 1);
    assert_eq!(req.operations[0].op, PatchOp::Replace);
    assert_eq!(req.operations[0].target, PatchTarget::Resource);
    let mut doc = bjensen();
    scim_protocol::patch::apply(&mut doc, &req.operations, &USER_RESOURCE).unwrap();
    assert_eq!(doc["id"], json!("2819c223-7f76-453a-919d-413861904646"));
    assert_eq!(
        doc["meta"],
        json!({"resourceType": "User", "created": "2010-01-23T04:56:22Z"})
    );
    assert_eq!(doc["active"], json!(false));
}

#[test]
fn full_profile_replace_echoing_read_only_data() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{
            "op": "replace",
            "value": {
                "schemas": [USER],
                "id": "2819c223-7f76-453a-919d-413861904646",
                "meta": {"resourceType": "User", "created": "2030-01-01T00:00:00Z"},
                "groups": [{"value": "g1", "display": "G"}],
                "userName": "barbara@example.com",
                "name": {"givenName": "Barbara", "familyName": "Jensen-Smith"},
                "active": true,
                "unknownAttribute": "dropped",
                "password": "t1meMa$heen"
            }
        }]),
    );
    assert_eq!(out["userName"], json!("barbara@example.com"));
    assert_eq!(
        out["name"],
        json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen-Smith", "givenName": "Barbara"})
    );
    assert_eq!(out["password"], json!("t1meMa$heen"));
    // `schemas` in the value does not drop the extension.
    assert_eq!(out["schemas"], json!([USER, ENT]));
    same_except(&before, &out, &["userName", "name", "password"]);
}

#[test]
fn group_rename_ignores_id() {
    let (doc, changes) = patch_group(
        plain_group(),
        json!([{"op": "replace", "value": {"id": "abc", "displayName": "Renamed"}}]),
    );
    assert!(changes.is_empty());
    assert_eq!(
        doc,
        json!({"schemas": [GROUP], "externalId": "tg", "displayName": "Renamed"})
    );
}

#[test]
fn member_add_and_remove() {
    let (doc, changes) = patch_group(
        tour_guides(),
        json!([
            {"op": "add", "path": "members", "value": [{"value": "00u1", "display": "user1@example.com"}]},
            {"op": "remove", "path": "members[value eq \"00u2\"]"}
        ]),
    );
    assert_eq!(
        changes,
        vec![
            MemberChange::Add(ids(&["00u1"])),
            MemberChange::Remove(ids(&["00u2"]))
        ]
    );
    assert_eq!(doc["displayName"], json!("Tour Guides"));
}

#[test]
fn replace_members_and_name_in_one_op() {
    let (doc, changes) = patch_group(
        plain_group(),
        json!([{
            "op": "replace",
            "value": {
                "id": "abc",
                "displayName": "New name",
                "members": [{"value": "00u1", "display": "a"}, {"value": "00u2", "display": "b"}]
            }
        }]),
    );
    assert_eq!(changes, vec![MemberChange::Replace(ids(&["00u1", "00u2"]))]);
    assert_eq!(doc["displayName"], json!("New name"));
    assert!(doc.get("members").is_none());
}
