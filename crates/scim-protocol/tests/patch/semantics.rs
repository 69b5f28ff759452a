//! The engine's own rules: atomicity, tidying, idempotent adds, `primary`,
//! targets, case-insensitivity, order.

use scim_protocol::ErrorKind;
use scim_protocol::patch::{PatchOp, PatchRequest, PatchTarget, apply};
use scim_protocol::resource::normalize_for_write;
use scim_protocol::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::{Value, json};

use crate::support::{
    ENT, USER, bjensen, body, canonical_user, patch_user, plain_user, same_except, tour_guides,
};

/// parse + apply only, on a canonical user: the raw document apply produced.
fn apply_only(doc: Value, ops: Value) -> Result<Value, (ErrorKind, Value)> {
    let mut doc = canonical_user(doc);
    let req = PatchRequest::parse(body(ops), &USER_RESOURCE).unwrap();
    match apply(&mut doc, &req.operations, &USER_RESOURCE) {
        Ok(()) => Ok(doc),
        Err(e) => Err((e.kind, doc)),
    }
}

#[test]
fn a_failing_operation_leaves_the_document_unchanged() {
    let before = canonical_user(bjensen());
    for failing in [
        json!({"op": "replace", "path": "emails[type eq \"other\"]", "value": {"value": "x@y"}}),
        json!({"op": "add", "path": "emails[type eq \"a\" or type eq \"b\"].value", "value": "x@y"}),
        json!({"op": "replace", "path": ENT, "value": "not an object"}),
        json!({"op": "add", "value": {ENT: 3}}),
    ] {
        let ops = json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "remove", "path": "emails"},
            {"op": "add", "path": format!("{ENT}:department"), "value": "Changed"},
            {"op": "remove", "path": format!("{ENT}:manager")},
            failing,
            {"op": "replace", "path": "nickName", "value": "never"}
        ]);
        match apply_only(bjensen(), ops) {
            Ok(doc) => panic!("should fail: {doc:#}"),
            Err((_, doc)) => assert_eq!(doc, before, "{failing}"),
        }
    }
}

#[test]
fn a_failing_operation_leaves_a_non_canonical_document_unchanged() {
    let mut doc = json!({"userName": "x", "Emails": [{"Value": "a@b", "Type": "Work"}]});
    let before = doc.clone();
    let req = PatchRequest::parse(
        body(json!([
            {"op": "add", "path": "nickName", "value": "n"},
            {"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@b"}}
        ])),
        &USER_RESOURCE,
    )
    .unwrap();
    let err = apply(&mut doc, &req.operations, &USER_RESOURCE).expect_err("no home e-mail");
    assert_eq!(err.kind, ErrorKind::NoTarget);
    assert_eq!(doc, before);
}

#[test]
fn removing_the_last_value_drops_the_attribute() {
    let mut start = plain_user();
    start["emails"] = json!([{"value": "only@x", "type": "work", "primary": true}]);
    for path in [
        "emails[value eq \"only@x\"]",
        "emails[type eq \"work\"]",
        "emails",
    ] {
        let doc = apply_only(start.clone(), json!([{"op": "remove", "path": path}])).unwrap();
        assert!(doc.get("emails").is_none(), "{path}: {doc}");
    }
    // Removing by value.
    let doc = apply_only(
        start.clone(),
        json!([{"op": "remove", "path": "emails", "value": [{"value": "only@x"}]}]),
    )
    .unwrap();
    assert!(doc.get("emails").is_none(), "{doc}");
    // Replacing with nothing.
    let out = patch_user(
        start,
        json!([{"op": "replace", "path": "emails", "value": []}]),
    );
    assert!(out.get("emails").is_none());
}

#[test]
fn removing_the_last_sub_attribute_drops_the_complex_value() {
    let mut start = plain_user();
    start["name"] = json!({"givenName": "A"});
    let doc = apply_only(start, json!([{"op": "remove", "path": "name.givenName"}])).unwrap();
    assert!(doc.get("name").is_none(), "{doc}");
}

#[test]
fn an_emptied_extension_is_removed() {
    let mut start = plain_user();
    start["schemas"] = json!([USER, ENT]);
    start[ENT] = json!({"employeeNumber": "1"});
    let doc = apply_only(
        start.clone(),
        json!([{"op": "remove", "path": format!("{ENT}:employeeNumber")}]),
    )
    .unwrap();
    assert!(doc.get(ENT).is_none(), "{doc}");
    let out = normalize_for_write(doc, &USER_RESOURCE).unwrap();
    assert_eq!(
        out,
        json!({"schemas": [USER], "userName": "plain@example.com"})
    );

    // Through the manager's last sub-attribute.
    start[ENT] = json!({"manager": {"value": "m"}});
    let doc = apply_only(
        start.clone(),
        json!([{"op": "remove", "path": format!("{ENT}:manager.value")}]),
    )
    .unwrap();
    assert!(doc.get(ENT).is_none(), "{doc}");

    // By replacing with null.
    let doc = apply_only(
        start.clone(),
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": null}]),
    )
    .unwrap();
    assert!(doc.get(ENT).is_none(), "{doc}");

    // The whole extension by its URN.
    let out = patch_user(bjensen(), json!([{"op": "remove", "path": ENT}]));
    assert!(out.get(ENT).is_none());
    assert_eq!(out["schemas"], json!([USER]));
}

#[test]
fn removing_from_an_absent_extension_is_a_no_op() {
    let before = canonical_user(plain_user());
    for path in [
        format!("{ENT}:manager"),
        format!("{ENT}:manager.value"),
        ENT.to_owned(),
    ] {
        let doc = apply_only(plain_user(), json!([{"op": "remove", "path": path}])).unwrap();
        assert_eq!(doc, before, "{path}");
    }
}

#[test]
fn remove_with_a_filter_matching_nothing_is_a_no_op() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([
            {"op": "remove", "path": "emails[type eq \"other\"]"},
            {"op": "remove", "path": "phoneNumbers[type eq \"work\"]"},
            {"op": "remove", "path": "emails[type eq \"other\"].value"}
        ]),
    );
    assert_eq!(out, before);
}

#[test]
fn adding_existing_values_does_not_duplicate() {
    let before = canonical_user(bjensen());
    let ops = json!([
        {"op": "add", "path": "emails", "value": [{"value": "bjensen@example.com", "type": "work", "primary": true}]},
        {"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]},
        {"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}]}},
        {"op": "add", "path": "addresses", "value": [before["addresses"][1].clone()]},
        // `value` is matched whatever its spelling.
        {"op": "add", "path": "emails", "value": [{"Value": "babs@jensen.org", "TYPE": "home"}]}
    ]);
    let out = patch_user(bjensen(), ops.clone());
    assert_eq!(out, before);
    // Applying the same request twice changes nothing the second time.
    let once = patch_user(
        plain_user(),
        json!([{"op": "add", "path": "roles", "value": [{"value": "admin"}, {"value": "admin"}, {"value": "dev"}]}]),
    );
    assert_eq!(once["roles"], json!([{"value": "admin"}, {"value": "dev"}]));
    let twice = patch_user(
        once.clone(),
        json!([{"op": "add", "path": "roles", "value": [{"value": "admin"}, {"value": "dev"}]}]),
    );
    assert_eq!(twice, once);
}

#[test]
fn setting_primary_demotes_the_other_values() {
    // RFC 7644 §3.5.2: setting `primary` to true on one value sets it to false
    // on the others.
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "new@x", "type": "other", "primary": true}]}]),
    );
    assert_eq!(
        out["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": false},
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "new@x", "type": "other", "primary": true}
        ])
    );
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    );
    assert_eq!(
        out["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": false},
            {"value": "babs@jensen.org", "type": "home", "primary": true}
        ])
    );
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"primary": "True"}}]),
    );
    assert_eq!(out["emails"][0]["primary"], json!(false));
    assert_eq!(out["emails"][1]["primary"], json!(true));
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "addresses[type eq \"other\"]", "value": {"locality": "Paris", "primary": true}}]),
    );
    assert_eq!(out["addresses"][0]["primary"], json!(false));
    assert_eq!(
        out["addresses"][2],
        json!({"locality": "Paris", "type": "other", "primary": true})
    );
    // Setting it to false touches nothing else.
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": false}]),
    );
    assert_eq!(out["emails"][0], before["emails"][0]);
    assert_eq!(out["emails"][1]["primary"], json!(false));
}

#[test]
fn add_to_a_single_valued_attribute_sets_it() {
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "displayName", "value": "Barbara"}]),
    );
    assert_eq!(out["displayName"], json!("Barbara"));
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "name", "value": {"middleName": "Jane"}}]),
    );
    assert_eq!(
        out["name"],
        json!({
            "formatted": "Ms. Barbara J Jensen III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane"
        })
    );
}

#[test]
fn replace_of_a_multi_valued_attribute_replaces_every_value() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "only@x"}]}]),
    );
    assert_eq!(out["emails"], json!([{"value": "only@x"}]));
    same_except(&before, &out, &["emails"]);
    // A lone value, a string for a complex value, a filtered value that is
    // not an object: each refused (`invalidValue`), by path or without one.
    for ops in [
        json!([{"op": "replace", "path": "emails", "value": {"value": "only@x"}}]),
        json!([{"op": "add", "path": "emails", "value": "only@x"}]),
        json!([{"op": "add", "path": "emails", "value": ["only@x"]}]),
        json!([{"op": "replace", "value": {"phoneNumbers": "123"}}]),
        json!([{"op": "add", "value": {"roles": "x"}}]),
        json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": "w@x"}]),
        json!([{"op": "add", "path": "emails[type eq \"other\"]", "value": "w@x"}]),
        json!([{"op": "replace", "path": "name", "value": "Ann"}]),
    ] {
        let e = crate::support::run(bjensen(), ops.clone(), &USER_RESOURCE).unwrap_err();
        assert_eq!(
            e.kind,
            scim_protocol::ErrorKind::InvalidValue,
            "{ops}: {}",
            e.detail
        );
        assert!(
            !e.detail.contains("only@x") && !e.detail.contains("w@x"),
            "{}",
            e.detail
        );
    }
}

#[test]
fn filtered_add_merges_and_filtered_replace_overwrites() {
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "emails[type eq \"work\"]", "value": {"display": "Work"}}]),
    );
    assert_eq!(
        out["emails"][0],
        json!({"value": "bjensen@example.com", "display": "Work", "type": "work", "primary": true})
    );
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "w@x", "type": "work"}}]),
    );
    assert_eq!(out["emails"][0], json!({"value": "w@x", "type": "work"}));
    // No match: add creates the value from the filter's terms.
    let out = patch_user(
        plain_user(),
        json!([{"op": "add", "path": "emails[type eq \"work\" and primary eq true]", "value": {"value": "w@x"}}]),
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "w@x", "type": "work", "primary": true}])
    );
}

#[test]
fn filter_with_several_eq_terms_builds_the_new_value() {
    let out = patch_user(
        plain_user(),
        json!([{"op": "add", "path": "emails[type eq \"other\" and primary eq false].value", "value": "o@x"}]),
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "o@x", "type": "other", "primary": false}])
    );
}

#[test]
fn filters_see_booleans_and_ignore_case() {
    let out = patch_user(
        bjensen(),
        json!([
            {"op": "replace", "path": "emails[primary eq true].display", "value": "Main"},
            {"op": "replace", "path": "EMAILS[TYPE EQ \"HOME\"].VALUE", "value": "h@x"}
        ]),
    );
    assert_eq!(
        out["emails"],
        json!([
            {"value": "bjensen@example.com", "display": "Main", "type": "work", "primary": true},
            {"value": "h@x", "type": "home"}
        ])
    );
}

#[test]
fn remove_a_sub_attribute_of_matching_values() {
    let out = patch_user(
        bjensen(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
    );
    assert_eq!(
        out["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work"},
            {"value": "babs@jensen.org", "type": "home"}
        ])
    );
}

#[test]
fn names_and_ops_are_case_insensitive() {
    let out = patch_user(
        bjensen(),
        json!([
            {"OP": "REPLACE", "PATH": "NAME.GIVENNAME", "VALUE": "B"},
            {"Op": "Add", "Path": "NickName", "Value": "Babs"},
            {"op": "add", "value": {"DISPLAYNAME": "BJ", "Title": "Guide"}},
            {"op": "replace", "path": format!("{}:DEPARTMENT", ENT.to_uppercase()), "value": "D"}
        ]),
    );
    assert_eq!(out["name"]["givenName"], json!("B"));
    assert_eq!(out["nickName"], json!("Babs"));
    assert_eq!(out["displayName"], json!("BJ"));
    assert_eq!(out["title"], json!("Guide"));
    assert_eq!(out[ENT]["department"], json!("D"));
}

#[test]
fn core_urn_qualified_paths() {
    let out = patch_user(
        plain_user(),
        json!([
            {"op": "add", "path": format!("{USER}:nickName"), "value": "N"},
            {"op": "add", "path": format!("{USER}:name.givenName"), "value": "G"},
            {"op": "add", "value": {format!("{USER}:title"): "T"}}
        ]),
    );
    assert_eq!(
        out,
        json!({
            "schemas": [USER],
            "userName": "plain@example.com",
            "name": {"givenName": "G"},
            "nickName": "N",
            "title": "T"
        })
    );
}

#[test]
fn parsed_targets() {
    let req = PatchRequest::parse(
        body(json!([
            {"op": "add", "value": {"nickName": "x"}},
            {"op": "add", "path": null, "value": {"nickName": "x"}},
            {"op": "add", "path": "  ", "value": {"nickName": "x"}},
            {"op": "remove", "path": ENT.to_lowercase()},
            {"op": "replace", "path": " emails[TYPE eq \"work\"].VALUE ", "value": "x"},
            {"op": "replace", "path": format!("{USER}:NAME.givenname"), "value": "x"},
            {"op": "add", "path": format!("{ENT}:Manager"), "value": "m"}
        ])),
        &USER_RESOURCE,
    )
    .unwrap();
    let ops = &req.operations;
    assert_eq!(ops[0].target, PatchTarget::Resource);
    assert_eq!(ops[1].target, PatchTarget::Resource);
    assert_eq!(ops[2].target, PatchTarget::Resource);
    assert_eq!(ops[3].target, PatchTarget::Extension(ENT));
    assert_eq!(ops[3].op, PatchOp::Remove);
    let shown: Vec<String> = ops[4..]
        .iter()
        .map(|op| match &op.target {
            PatchTarget::Path(p) => p.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            "emails[type eq \"work\"].value".to_owned(),
            "name.givenName".to_owned(),
            format!("{ENT}:manager"),
        ]
    );
    assert_eq!(ops[4].value, Some(json!("x")));
}

#[test]
fn remove_ignores_a_null_value() {
    let req = PatchRequest::parse(
        body(json!([{"op": "remove", "path": "nickName", "value": null}])),
        &USER_RESOURCE,
    )
    .unwrap();
    assert_eq!(req.operations[0].value, None);
}

#[test]
fn operations_apply_in_order() {
    let out = patch_user(
        plain_user(),
        json!([
            {"op": "add", "path": "nickName", "value": "a"},
            {"op": "replace", "path": "nickName", "value": "b"},
            {"op": "add", "path": "title", "value": "t"},
            {"op": "remove", "path": "title"},
            {"op": "add", "path": "emails[type eq \"work\"].value", "value": "1@x"},
            {"op": "add", "path": "emails[type eq \"work\"].value", "value": "2@x"}
        ]),
    );
    assert_eq!(
        out,
        json!({
            "schemas": [USER],
            "userName": "plain@example.com",
            "nickName": "b",
            "emails": [{"value": "2@x", "type": "work"}]
        })
    );
}

#[test]
fn the_result_is_canonicalized() {
    let out = patch_user(
        plain_user(),
        json!([
            {"op": "add", "path": "emails", "value": [{"VALUE": "a@x", "Type": "WORK", "primary": "true"}]},
            {"op": "add", "path": "active", "value": "TRUE"}
        ]),
    );
    assert_eq!(
        out,
        json!({
            "schemas": [USER],
            "userName": "plain@example.com",
            "active": true,
            "emails": [{"value": "a@x", "type": "work", "primary": true}]
        })
    );
}

#[test]
fn null_values_unassign() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([
            {"op": "replace", "path": "displayName", "value": null},
            {"op": "replace", "value": {"name": {"formatted": null}}}
        ]),
    );
    assert!(out.get("displayName").is_none());
    assert_eq!(
        out["name"],
        json!({"familyName": "Jensen", "givenName": "Barbara"})
    );
    same_except(&before, &out, &["displayName", "name"]);
}

#[test]
fn password_is_writable() {
    let out = patch_user(
        plain_user(),
        json!([{"op": "replace", "path": "password", "value": "s3cret"}]),
    );
    assert_eq!(out["password"], json!("s3cret"));
}

#[test]
fn unknown_names_in_a_path_less_value_are_ignored() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "value": {
            "nope": 1,
            "name.nope": "x",
            "urn:example:ext:Thing:attr": "x",
            "emails[": "x",
            "employeeNumber": "unqualified",
            "": 2
        }}]),
    );
    assert_eq!(out, before);
}

#[test]
fn adding_an_existing_value_updates_it() {
    // Same `value`: the given sub-attributes are written into the value
    // already there instead of adding a second one.
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "primary": true}]}]),
    );
    assert_eq!(
        out["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": false},
            {"value": "babs@jensen.org", "type": "home", "primary": true}
        ])
    );
}

#[test]
fn null_on_a_multi_valued_attribute() {
    let before = canonical_user(bjensen());
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "emails", "value": null}]),
    );
    assert_eq!(out, before);
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": "emails", "value": null}]),
    );
    assert!(out.get("emails").is_none());
    same_except(&before, &out, &["emails"]);
}

#[test]
fn immutable_member_sub_attributes() {
    // The engine on a group's member list (the gateway splits members out
    // first): a member's `value`, `$ref` and `type` are immutable.
    const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
    let rt = &GROUP_RESOURCE;
    let doc = normalize_for_write(tour_guides(), rt).unwrap();
    let run = |ops: Value| {
        let req = PatchRequest::parse(body(ops), rt).unwrap();
        let mut out = doc.clone();
        apply(&mut out, &req.operations, rt).map(|()| out)
    };
    // A sub-attribute without a value may be given one ...
    let out = run(json!([{"op": "add", "path": format!("members[value eq \"{BABS}\"].type"), "value": "User"}]))
        .unwrap();
    assert_eq!(out["members"][0]["type"], json!("User"));
    // ... once.
    let mut set = out.clone();
    let req = PatchRequest::parse(
        body(json!([{"op": "add", "path": format!("members[value eq \"{BABS}\"].type"), "value": "Group"}])),
        rt,
    )
    .unwrap();
    let err = apply(&mut set, &req.operations, rt).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Mutability);
    assert_eq!(set, out, "unchanged on error");
    let req = PatchRequest::parse(
        body(
            json!([{"op": "add", "path": "members", "value": [{"value": BABS, "type": "Group"}]}]),
        ),
        rt,
    )
    .unwrap();
    assert_eq!(
        apply(&mut set, &req.operations, rt).unwrap_err().kind,
        ErrorKind::Mutability
    );
    let req = PatchRequest::parse(
        body(json!([{"op": "add", "path": "members", "value": [{"value": BABS, "type": "user"}]}])),
        rt,
    )
    .unwrap();
    apply(&mut set, &req.operations, rt).unwrap();
    assert_eq!(set, out, "same value, any case: no change");
}

#[test]
fn re_adding_a_value_in_another_case_is_the_same_value() {
    // emails.value is caseExact: false, so these name one address.
    let doc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bjensen",
        "emails": [{"value": "bjensen@example.com", "type": "work"}]
    });
    let patched = apply_only(
        doc,
        json!([{"op": "add", "path": "emails", "value": [{"value": "BJENSEN@example.com", "type": "work"}]}]),
    )
    .expect("applies");
    assert_eq!(
        patched["emails"].as_array().map(Vec::len),
        Some(1),
        "{patched}"
    );
    let removed = apply_only(
        patched,
        json!([{"op": "remove", "path": "emails", "value": [{"value": "BJensen@Example.com"}]}]),
    )
    .expect("applies");
    assert!(removed.get("emails").is_none(), "{removed}");
}
