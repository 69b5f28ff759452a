//! Request shapes Microsoft Entra ID sends.

use scim_protocol::patch::MemberChange;
use serde_json::json;

use crate::support::{
    ENT, GROUP, USER, bjensen, canonical_user, ids, patch_group, patch_user, plain_group,
    plain_user, same_except,
};

#[test]
fn replace_active_with_a_boolean_string() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    assert_eq!(out["active"], json!(false));
    same_except(&before, &out, &["active"]);

    let out = patch_user(
        out,
        json!([{"op": "Add", "path": "active", "value": "True"}]),
    );
    assert_eq!(out["active"], json!(true));
}

#[test]
fn replace_active_without_path() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "Replace", "value": {"active": false}}]),
    );
    assert_eq!(out["active"], json!(false));
    same_except(&before, &out, &["active"]);
}

#[test]
fn add_work_email_value_creates_the_email() {
    let out = patch_user(
        plain_user(),
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@b"}]),
    );
    assert_eq!(
        out,
        json!({
            "schemas": [USER],
            "userName": "plain@example.com",
            "emails": [{"value": "a@b", "type": "work"}]
        })
    );
    // A user with only a home e-mail gets a second one.
    let mut start = plain_user();
    start["emails"] = json!([{"value": "h@home", "type": "home"}]);
    let out = patch_user(
        start,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@b"}]),
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "h@home", "type": "home"}, {"value": "a@b", "type": "work"}])
    );
}

#[test]
fn add_work_email_value_updates_the_existing_one() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@b"}]),
    );
    assert_eq!(
        out["emails"],
        json!([
            {"value": "a@b", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ])
    );
    same_except(&before, &out, &["emails"]);
}

#[test]
fn add_phone_and_address_sub_attributes_by_filter() {
    let out = patch_user(
        plain_user(),
        json!([
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0199"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
            {"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"}
        ]),
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([
            {"value": "+1 555 0100", "type": "mobile"},
            {"value": "+1 555 0199", "type": "work"}
        ])
    );
    assert_eq!(
        out["addresses"],
        json!([{"locality": "Redmond", "postalCode": "98052", "type": "work"}])
    );
}

#[test]
fn replace_name_parts_with_dotted_keys_without_path() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "Replace", "value": {"name.givenName": "A", "name.familyName": "B"}}]),
    );
    assert_eq!(
        out["name"],
        json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "B", "givenName": "A"})
    );
    same_except(&before, &out, &["name"]);
    // And on a user without a name.
    let out = patch_user(
        plain_user(),
        json!([{"op": "Add", "value": {"name.givenName": "A", "name.familyName": "B"}}]),
    );
    assert_eq!(out["name"], json!({"familyName": "B", "givenName": "A"}));
}

#[test]
fn add_manager_by_id() {
    let path = format!("{ENT}:manager");
    let out = patch_user(
        plain_user(),
        json!([{"op": "Add", "path": path, "value": "mgr-2"}]),
    );
    assert_eq!(
        out,
        json!({
            "schemas": [USER, ENT],
            "userName": "plain@example.com",
            ENT: {"manager": {"value": "mgr-2"}}
        })
    );
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "Replace", "path": path, "value": "mgr-2"}]),
    );
    assert_eq!(
        out[ENT],
        json!({"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "mgr-2"}})
    );
    same_except(&before, &out, &[ENT]);
}

#[test]
fn add_manager_as_object() {
    let path = format!("{ENT}:manager");
    let out = patch_user(
        plain_user(),
        json!([{"op": "Add", "path": path, "value": {"value": "mgr-2"}}]),
    );
    assert_eq!(out[ENT], json!({"manager": {"value": "mgr-2"}}));
    assert_eq!(out["schemas"], json!([USER, ENT]));
    let out = patch_user(
        bjensen(),
        json!([{"op": "Add", "path": path, "value": {"value": "mgr-2"}}]),
    );
    assert_eq!(out[ENT]["manager"], json!({"value": "mgr-2"}));
}

#[test]
fn remove_manager() {
    let path = format!("{ENT}:manager");
    let before = canonical_user(bjensen());
    let out = patch_user(bjensen(), json!([{"op": "Remove", "path": path}]));
    assert_eq!(
        out[ENT],
        json!({"employeeNumber": "701984", "department": "Tour Operations"})
    );
    same_except(&before, &out, &[ENT]);
    // Entra sometimes names the manager it removes.
    let out = patch_user(
        bjensen(),
        json!([{"op": "Remove", "path": path, "value": [{"value": "26118915-6090-4610-87e4-49d8ca9f808d"}]}]),
    );
    assert!(out[ENT].get("manager").is_none());
}

#[test]
fn employee_number_by_urn_path() {
    let path = format!("{ENT}:employeeNumber");
    let out = patch_user(
        plain_user(),
        json!([{"op": "Add", "path": path, "value": "42"}]),
    );
    assert_eq!(out[ENT], json!({"employeeNumber": "42"}));
    let out = patch_user(
        bjensen(),
        json!([{"op": "Replace", "path": path, "value": "43"}]),
    );
    assert_eq!(out[ENT]["employeeNumber"], json!("43"));
    // Flattened URN key in a path-less value.
    let out = patch_user(
        bjensen(),
        json!([{"op": "Replace", "value": {path.clone(): "44", format!("{ENT}:costCenter"): "CC1"}}]),
    );
    assert_eq!(out[ENT]["employeeNumber"], json!("44"));
    assert_eq!(out[ENT]["costCenter"], json!("CC1"));
    assert_eq!(out[ENT]["department"], json!("Tour Operations"));
}

#[test]
fn extension_object_keyed_by_urn_without_path() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{
            "op": "Replace",
            "value": {
                "displayName": "Barbara",
                ENT: {"department": "Sales", "manager": {"value": "mgr-9"}, "costCenter": "4130"}
            }
        }]),
    );
    assert_eq!(
        out[ENT],
        json!({
            "employeeNumber": "701984",
            "costCenter": "4130",
            "department": "Sales",
            "manager": {"value": "mgr-9"}
        })
    );
    assert_eq!(out["displayName"], json!("Barbara"));
    same_except(&before, &out, &[ENT, "displayName"]);
    // The extension appears when it was absent.
    let out = patch_user(
        plain_user(),
        json!([{"op": "Add", "value": {ENT: {"department": "Sales"}}}]),
    );
    assert_eq!(out["schemas"], json!([USER, ENT]));
    assert_eq!(out[ENT], json!({"department": "Sales"}));
}

#[test]
fn typical_user_update_batch() {
    let out = patch_user(
        plain_user(),
        json!([
            {"op": "Replace", "path": "userName", "value": "Test_User_1@contoso.com"},
            {"op": "Add", "path": "displayName", "value": "Test User"},
            {"op": "Add", "path": "title", "value": "Engineer"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "t1@contoso.com"},
            {"op": "Add", "path": "name.givenName", "value": "Test"},
            {"op": "Add", "path": "name.familyName", "value": "User"},
            {"op": "Add", "path": format!("{ENT}:department"), "value": "Sales"},
            {"op": "Add", "path": format!("{ENT}:manager"), "value": "mgr-1"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "externalId", "value": "0a21f0f2"}
        ]),
    );
    assert_eq!(
        out,
        json!({
            "schemas": [USER, ENT],
            "externalId": "0a21f0f2",
            "userName": "Test_User_1@contoso.com",
            "name": {"familyName": "User", "givenName": "Test"},
            "displayName": "Test User",
            "title": "Engineer",
            "active": false,
            "emails": [{"value": "t1@contoso.com", "type": "work"}],
            ENT: {"department": "Sales", "manager": {"value": "mgr-1"}}
        })
    );
}

#[test]
fn group_rename_and_member_batches() {
    let (doc, changes) = patch_group(
        plain_group(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Renamed"},
            {"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u3"}, {"value": "u4"}]},
            {"op": "Remove", "path": "members[value eq \"u5\"]"},
            {"op": "Add", "path": "members", "value": [{"value": "u6"}]}
        ]),
    );
    assert_eq!(
        doc,
        json!({"schemas": [GROUP], "externalId": "tg", "displayName": "Renamed"})
    );
    assert_eq!(
        changes,
        vec![
            MemberChange::Add(ids(&["u1", "u2"])),
            MemberChange::Remove(ids(&["u3", "u4"])),
            MemberChange::Remove(ids(&["u5"])),
            MemberChange::Add(ids(&["u6"])),
        ]
    );
}
