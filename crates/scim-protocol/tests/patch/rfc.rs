//! Every PATCH example of RFC 7644 §3.5.2.1–3.5.2.3.

use scim_protocol::patch::{MemberChange, PatchRequest, apply};
use scim_protocol::resource::normalize_for_write;
use scim_protocol::schema::GROUP_RESOURCE;
use serde_json::{Value, json};

use crate::support::{
    GROUP, USER, bjensen, body, canonical_user, ids, patch_group, patch_user, same_except,
    tour_guides,
};

const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
const MANDY: &str = "902c246b-6245-4190-8e05-00816be7344a";
const JAMES: &str = "08e1d05d-121c-4561-8b96-473d93df9210";

/// The group engine applied to the member list itself (no split): what a
/// server keeping members in the document would get.
fn group_direct(ops: Value) -> Value {
    let rt = &GROUP_RESOURCE;
    let mut doc = normalize_for_write(tour_guides(), rt).unwrap();
    let req = PatchRequest::parse(body(ops), rt).unwrap();
    apply(&mut doc, &req.operations, rt).unwrap();
    normalize_for_write(doc, rt).unwrap()
}

fn members(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|id| json!({"value": id})).collect())
}

// §3.5.2.1 ---------------------------------------------------------------

#[test]
fn add_member_to_group() {
    let ops = json!([{
        "op": "add",
        "path": "members",
        "value": [{
            "display": "Babs Jensen",
            "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
            "value": BABS
        }]
    }]);
    let (doc, changes) = patch_group(tour_guides(), ops.clone());
    assert_eq!(changes, vec![MemberChange::Add(ids(&[BABS]))]);
    assert_eq!(
        doc,
        json!({"schemas": [GROUP], "displayName": "Tour Guides", "members": members(&[BABS, MANDY])})
    );
    // Applied to the member list: Babs is already there, so she is not added
    // again; the `$ref` she lacked is filled in (`display` is read-only).
    assert_eq!(
        group_direct(ops),
        json!({"schemas": [GROUP], "displayName": "Tour Guides", "members": [
            {"value": BABS, "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
            {"value": MANDY}
        ]})
    );
    let added = group_direct(json!([{
        "op": "add",
        "path": "members",
        "value": [{"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210", "value": JAMES}]
    }]));
    assert_eq!(
        added["members"],
        json!([
            {"value": BABS},
            {"value": MANDY},
            {"value": JAMES, "$ref": "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210"}
        ])
    );
}

#[test]
fn add_emails_and_nickname_without_path() {
    let ops = json!([{
        "op": "add",
        "value": {
            "emails": [{"value": "babs@jensen.org", "type": "home"}],
            "nickname": "Babs"
        }
    }]);
    let mut start = bjensen();
    start["emails"] = json!([{"value": "bjensen@example.com", "type": "work", "primary": true}]);
    let before = canonical_user(start.clone());
    let out = patch_user(start, ops.clone());
    assert_eq!(
        out["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ])
    );
    assert_eq!(out["nickName"], json!("Babs"));
    same_except(&before, &out, &["emails", "nickName"]);

    // On the full Babs the home e-mail exists already: it is not added twice.
    let before = canonical_user(bjensen());
    let out = patch_user(bjensen(), ops);
    assert_eq!(out["emails"], before["emails"]);
    same_except(&before, &out, &["nickName"]);
}

// §3.5.2.2 ---------------------------------------------------------------

#[test]
fn remove_all_members() {
    let ops = json!([{"op": "remove", "path": "members"}]);
    let (doc, changes) = patch_group(tour_guides(), ops.clone());
    assert_eq!(changes, vec![MemberChange::RemoveAll]);
    assert_eq!(
        doc["members"],
        members(&[BABS, MANDY]),
        "split: the document is not touched"
    );
    assert_eq!(
        group_direct(ops),
        json!({"schemas": [GROUP], "displayName": "Tour Guides"})
    );
}

#[test]
fn remove_one_member_by_filter() {
    let ops = json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}]);
    let (_, changes) = patch_group(tour_guides(), ops.clone());
    assert_eq!(changes, vec![MemberChange::Remove(ids(&[BABS]))]);
    assert_eq!(group_direct(ops)["members"], members(&[MANDY]));
}

#[test]
fn remove_emails_by_complex_filter() {
    let ops = json!([{
        "op": "remove",
        "path": "emails[type eq \"work\" and value ew \"example.com\"]"
    }]);
    let before = canonical_user(bjensen());
    let out = patch_user(bjensen(), ops);
    assert_eq!(
        out["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
    same_except(&before, &out, &["emails"]);
}

#[test]
fn remove_then_add_members_replaces_one() {
    let ops = json!([
        {"op": "remove", "path": format!("members[value eq \"{BABS}\"]")},
        {
            "op": "add",
            "path": "members",
            "value": [{
                "display": "James Smith",
                "$ref": "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210",
                "value": JAMES
            }]
        }
    ]);
    let (_, changes) = patch_group(tour_guides(), ops.clone());
    assert_eq!(
        changes,
        vec![
            MemberChange::Remove(ids(&[BABS])),
            MemberChange::Add(ids(&[JAMES]))
        ]
    );
    let out = group_direct(ops);
    let got: Vec<&str> = out["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![MANDY, JAMES]);
}

#[test]
fn remove_single_valued_and_sub_attributes() {
    let before = canonical_user(bjensen());
    let out = patch_user(bjensen(), json!([{"op": "remove", "path": "displayName"}]));
    assert!(out.get("displayName").is_none());
    same_except(&before, &out, &["displayName"]);

    let out = patch_user(
        bjensen(),
        json!([{"op": "remove", "path": "name.formatted"}]),
    );
    assert_eq!(
        out["name"],
        json!({"familyName": "Jensen", "givenName": "Barbara"})
    );
    same_except(&before, &out, &["name"]);
}

#[test]
fn remove_a_multi_valued_attribute_whole() {
    let before = canonical_user(bjensen());
    let out = patch_user(bjensen(), json!([{"op": "remove", "path": "addresses"}]));
    assert!(out.get("addresses").is_none());
    same_except(&before, &out, &["addresses"]);
}

// §3.5.2.3 ---------------------------------------------------------------

#[test]
fn replace_all_members() {
    let ops = json!([{
        "op": "replace",
        "path": "members",
        "value": [
            {"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646", "value": BABS},
            {"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210", "value": JAMES}
        ]
    }]);
    let (_, changes) = patch_group(tour_guides(), ops.clone());
    assert_eq!(changes, vec![MemberChange::Replace(ids(&[BABS, JAMES]))]);
    assert_eq!(
        group_direct(ops)["members"],
        json!([
            {"value": BABS, "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
            {"value": JAMES, "$ref": "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210"}
        ])
    );
}

#[test]
fn replace_work_address_by_filter() {
    let ops = json!([{
        "op": "replace",
        "path": "addresses[type eq \"work\"]",
        "value": {
            "type": "work",
            "streetAddress": "911 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "US",
            "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
            "primary": true
        }
    }]);
    let before = canonical_user(bjensen());
    let out = patch_user(bjensen(), ops);
    assert_eq!(
        out["addresses"],
        json!([
            {
                "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
                "streetAddress": "911 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "US",
                "type": "work",
                "primary": true
            },
            before["addresses"][1].clone()
        ])
    );
    same_except(&before, &out, &["addresses"]);
}

#[test]
fn replace_work_street_address() {
    let ops = json!([{
        "op": "replace",
        "path": "addresses[type eq \"work\"].streetAddress",
        "value": "1010 Broadway Ave"
    }]);
    let before = canonical_user(bjensen());
    let out = patch_user(bjensen(), ops);
    let mut expected = before.clone();
    expected["addresses"][0]["streetAddress"] = json!("1010 Broadway Ave");
    assert_eq!(out, expected);
}

#[test]
fn replace_emails_and_nickname_without_path() {
    let ops = json!([{
        "op": "replace",
        "value": {
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "nickname": "Babs"
        }
    }]);
    let mut start = bjensen();
    start["emails"] = json!([{"value": "old@example.com", "type": "other"}]);
    let before = canonical_user(start.clone());
    let out = patch_user(start, ops);
    assert_eq!(
        out["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ])
    );
    assert_eq!(out["nickName"], json!("Babs"));
    same_except(&before, &out, &["emails", "nickName"]);
}

#[test]
fn replace_a_complex_attribute_keeps_unnamed_sub_attributes() {
    // §3.5.2.3: "Sub-attributes that are not specified in the value parameter
    // are left unchanged."
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]),
    );
    assert_eq!(
        out["name"],
        json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Babs"})
    );
}

#[test]
fn replace_of_a_missing_attribute_adds_it() {
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": "title", "value": "Tour Guide"}]),
    );
    assert_eq!(out["title"], json!("Tour Guide"));
    assert_eq!(out["schemas"], json!([USER, crate::support::ENT]));
}
