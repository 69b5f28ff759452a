use scim_protocol::ErrorKind;
use scim_protocol::resource::{check_immutable, normalize_for_write, value_is_empty};
use scim_protocol::schema::{
    ENTERPRISE_USER_URN, GROUP_RESOURCE, GROUP_URN, USER_RESOURCE, USER_URN,
};
use serde_json::{Value, json};

use crate::fixture::{CORE, DEVICE, EXT, keys};

fn user(body: Value) -> Value {
    normalize_for_write(body, &USER_RESOURCE).unwrap_or_else(|e| panic!("{e}"))
}

fn user_err(body: Value) -> scim_protocol::ProtocolError {
    normalize_for_write(body, &USER_RESOURCE).expect_err("should be rejected")
}

fn device_err(body: Value) -> scim_protocol::ProtocolError {
    normalize_for_write(body, &DEVICE).expect_err("should be rejected")
}

#[test]
fn entra_user() {
    let body = json!({
        "schemas": [USER_URN, ENTERPRISE_USER_URN],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee@contoso.com",
        "active": "False",
        "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "title": "",
        ENTERPRISE_USER_URN: {
            "employeeNumber": "1234",
            "department": "Sales",
            "manager": {"value": "mgr-1", "displayName": "ignored"}
        }
    });
    let out = user(body);
    assert_eq!(
        out,
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@contoso.com",
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "displayName": "Test User",
            "title": "",
            "active": false,
            "emails": [{"value": "Test_User_fd0ea19b@contoso.com", "type": "work", "primary": true}],
            ENTERPRISE_USER_URN: {
                "employeeNumber": "1234",
                "department": "Sales",
                "manager": {"value": "mgr-1"}
            }
        })
    );
    // Schema-definition order, extension last.
    assert_eq!(
        keys(&out),
        [
            "schemas",
            "externalId",
            "userName",
            "name",
            "displayName",
            "title",
            "active",
            "emails",
            ENTERPRISE_USER_URN
        ]
    );
    assert_eq!(
        keys(&out["emails"][0]),
        ["value", "type", "primary"],
        "sub-attributes in definition order"
    );
}

#[test]
fn entra_booleans_and_flattened_extension_attributes() {
    let out = user(json!({
        "schemas": [USER_URN],
        "userName": "a",
        "active": "TRUE",
        "emails": [{"value": "a@x", "primary": "true"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "mgr-2",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.$REF": "../Users/mgr-2",
        "urn:ietf:params:scim:schemas:core:2.0:User:nickName": "Al"
    }));
    assert_eq!(out["active"], json!(true));
    assert_eq!(out["emails"], json!([{"value": "a@x", "primary": true}]));
    assert_eq!(out["nickName"], json!("Al"));
    assert_eq!(
        out[ENTERPRISE_USER_URN],
        json!({"employeeNumber": "7", "manager": {"value": "mgr-2", "$ref": "../Users/mgr-2"}})
    );
    assert_eq!(out["schemas"], json!([USER_URN, ENTERPRISE_USER_URN]));
}

#[test]
fn okta_user() {
    let out = user(json!({
        "schemas": [USER_URN],
        "userName": "isaac.brock@example.com",
        "name": {"givenName": "Isaac", "familyName": "Brock"},
        "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
        "displayName": "Isaac Brock",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    }));
    assert_eq!(
        out,
        json!({
            "schemas": [USER_URN],
            "externalId": "00ujl29u0le5T6Aj10h7",
            "userName": "isaac.brock@example.com",
            "name": {"familyName": "Brock", "givenName": "Isaac"},
            "displayName": "Isaac Brock",
            "locale": "en-US",
            "active": true,
            "password": "1mz050nq",
            "emails": [{"value": "isaac.brock@example.com", "type": "work", "primary": true}]
        })
    );
}

#[test]
fn group_with_members() {
    let out = normalize_for_write(
        json!({
            "schemas": [GROUP_URN],
            "id": "g1",
            "displayName": "Engineering",
            "members": [
                {"value": "u1", "display": "Alice", "type": "user", "$ref": "https://x/Users/u1"},
                {"value": "g2", "type": "Group"},
                null
            ],
            "meta": {"created": "2020-01-01T00:00:00Z"}
        }),
        &GROUP_RESOURCE,
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "schemas": [GROUP_URN],
            "displayName": "Engineering",
            "members": [
                {"value": "u1", "$ref": "https://x/Users/u1", "type": "User"},
                {"value": "g2", "type": "Group"}
            ]
        })
    );
    let e = normalize_for_write(
        json!({"schemas": [GROUP_URN], "members": []}),
        &GROUP_RESOURCE,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert!(e.detail.contains("displayName"), "{}", e.detail);
}

#[test]
fn read_only_attributes_are_dropped() {
    let out = user(json!({
        "schemas": [USER_URN, ENTERPRISE_USER_URN],
        "id": "client-chosen",
        "userName": "a",
        "meta": {"version": "W/\"1\""},
        "groups": [{"value": "g1"}],
        ENTERPRISE_USER_URN: {"manager": {"displayName": "Boss"}}
    }));
    assert_eq!(out, json!({"schemas": [USER_URN], "userName": "a"}));
}

#[test]
fn keys_are_case_insensitive() {
    let out = user(json!({
        "SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],
        "USERNAME": "a",
        "Name": {"GIVENNAME": "A", "familyname": "B"},
        "EMAILS": [{"VALUE": "a@x", "Type": "WORK"}],
        "externalid": "e",
        "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user": {"COSTCENTER": "42"}
    }));
    assert_eq!(
        out,
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "externalId": "e",
            "userName": "a",
            "name": {"familyName": "B", "givenName": "A"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE_USER_URN: {"costCenter": "42"}
        })
    );
}

#[test]
fn unknown_unassigned_and_wrapping() {
    let out = user(json!({
        "schemas": [USER_URN, ENTERPRISE_USER_URN, "urn:example:custom:1.0:User"],
        "userName": "a",
        "favouriteColour": "blue",
        "urn:example:custom:1.0:User": {"x": 1},
        "urn:example:custom:1.0:User:y": 2,
        "name": {"givenName": null, "nonsense": "z"},
        "displayName": null,
        "phoneNumbers": [{"value": "+1 555", "type": "mobile"}],
        "ims": [],
        "photos": [null, {}],
        ENTERPRISE_USER_URN: {"department": null}
    }));
    assert_eq!(
        out,
        json!({
            "schemas": [USER_URN],
            "userName": "a",
            "phoneNumbers": [{"value": "+1 555", "type": "mobile"}]
        })
    );
}

#[test]
fn later_duplicate_wins_and_flattened_merges() {
    let out = user(json!({
        "schemas": [USER_URN],
        "userName": "first",
        "USERNAME": "second",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.$ref": "r"
    }));
    assert_eq!(out["userName"], json!("second"));
    assert_eq!(
        out[ENTERPRISE_USER_URN]["manager"],
        json!({"value": "m", "$ref": "r"})
    );
}

#[test]
fn type_errors_name_the_attribute_not_the_value() {
    let cases = [
        (json!({"userName": 12345}), "userName"),
        (json!({"userName": "a", "active": "yes-please"}), "active"),
        (json!({"userName": "a", "active": 1}), "active"),
        (json!({"userName": "a", "name": "Secret Name"}), "name"),
        (
            json!({"userName": "a", "name": {"givenName": 7}}),
            "name.givenName",
        ),
        (
            json!({"userName": "a", "emails": [["nested-secret"]]}),
            "emails",
        ),
        (
            json!({"userName": "a", "emails": [{"value": true}]}),
            "emails.value",
        ),
        (
            json!({"userName": "a", "emails": [{"value": "x", "primary": "maybe"}]}),
            "emails.primary",
        ),
        (
            json!({"userName": "a", "displayName": ["one", "two"]}),
            "displayName",
        ),
        (
            json!({"userName": "a", "profileUrl": {"href": "x"}}),
            "profileUrl",
        ),
        (
            json!({"userName": "a", "x509Certificates": [{"value": 99}]}),
            "x509Certificates.value",
        ),
        (
            json!({"userName": "a", ENTERPRISE_USER_URN: {"manager": 4242}}),
            "manager.value",
        ),
        (
            json!({"userName": "a", ENTERPRISE_USER_URN: "secret-ext"}),
            ENTERPRISE_USER_URN,
        ),
    ];
    for (mut body, attr) in cases {
        body["schemas"] = json!([USER_URN]);
        let e = user_err(body.clone());
        assert_eq!(e.kind, ErrorKind::InvalidValue, "{body}");
        assert!(e.detail.contains(attr), "{body}: {}", e.detail);
        for secret in [
            "12345",
            "yes-please",
            "Secret",
            "nested-secret",
            "4242",
            "secret-ext",
            "99",
        ] {
            assert!(!e.detail.contains(secret), "{} echoes a value", e.detail);
        }
    }
}

#[test]
fn numbers_and_date_times() {
    let out = normalize_for_write(
        json!({
            "schemas": [CORE],
            "label": "d",
            "count": 3.0,
            "ratio": 1,
            "seen": "2026-03-01T12:00:00.250+02:00",
            "port": 8080,
            "tags": ["solo"],
            EXT: {"owner": "o"}
        }),
        &DEVICE,
    )
    .unwrap();
    assert_eq!(out["count"], json!(3));
    assert_eq!(out["ratio"], json!(1));
    assert_eq!(out["seen"], json!("2026-03-01T10:00:00.250Z"));
    assert_eq!(out["port"], json!({"value": 8080}));
    assert_eq!(out["tags"], json!(["solo"]));
    assert_eq!(out["schemas"], json!([CORE, EXT]));

    for (attr, value) in [
        ("count", json!(2.5)),
        ("count", json!("3")),
        ("ratio", json!("1.5")),
        ("seen", json!("yesterday")),
        ("seen", json!("2026-03-01")),
        ("seen", json!(1_700_000_000)),
    ] {
        let mut body = json!({"schemas": [CORE], "label": "d", EXT: {"owner": "o"}});
        body[attr] = value;
        let e = device_err(body);
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert!(e.detail.contains(attr), "{}", e.detail);
    }
}

#[test]
fn required_attributes_and_extensions() {
    for body in [
        json!({"schemas": [USER_URN]}),
        json!({"schemas": [USER_URN], "userName": ""}),
        json!({"schemas": [USER_URN], "userName": null}),
        json!({"schemas": [USER_URN], "userName": []}),
    ] {
        let e = user_err(body);
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert!(e.detail.contains("userName"));
    }
    let e = device_err(json!({"schemas": [CORE], "label": "d"}));
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert!(e.detail.contains(EXT), "{}", e.detail);
    let e = device_err(json!({"schemas": [CORE], "label": "d", EXT: {"owner": ""}}));
    assert!(e.detail.contains("owner"), "{}", e.detail);
}

#[test]
fn at_most_one_primary() {
    let e = user_err(json!({
        "schemas": [USER_URN],
        "userName": "a",
        "emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": "True"}]
    }));
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert!(e.detail.contains("emails"));
    user(json!({
        "schemas": [USER_URN],
        "userName": "a",
        "emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": false}]
    }));
}

#[test]
fn schemas_and_body_shape() {
    let e = normalize_for_write(json!(["not", "an", "object"]), &USER_RESOURCE).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidSyntax);
    let e = user_err(json!({"userName": "a"}));
    assert_eq!(e.kind, ErrorKind::InvalidSyntax);
    let e = user_err(json!({"schemas": USER_URN, "userName": "a"}));
    assert_eq!(e.kind, ErrorKind::InvalidSyntax);
    let e = user_err(json!({"schemas": [USER_URN, 3], "userName": "a"}));
    assert_eq!(e.kind, ErrorKind::InvalidSyntax);
    let e = user_err(json!({"schemas": [GROUP_URN], "userName": "a"}));
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    let e = user_err(json!({"schemas": [ENTERPRISE_USER_URN], "userName": "a"}));
    assert_eq!(e.kind, ErrorKind::InvalidValue);
}

#[test]
fn normalizing_twice_changes_nothing() {
    let once = user(json!({
        "schemas": [USER_URN, ENTERPRISE_USER_URN],
        "userName": "a",
        "active": "true",
        "addresses": [{"streetAddress": "1 Main St", "type": "Work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m"
    }));
    assert_eq!(user(once.clone()), once);
    // A stored document with server-set attributes re-validates (PATCH re-check).
    let mut stored = once.clone();
    stored["id"] = json!("u1");
    stored["meta"] = json!({"resourceType": "User", "version": "W/\"3\""});
    stored["groups"] = json!([{"value": "g1", "display": "G"}]);
    assert_eq!(user(stored), once);
}

#[test]
fn immutable_attributes() {
    let existing = json!({
        "schemas": [CORE], "label": "d", "hardwareId": "HW-1",
        "port": {"value": 1, "serial": "S1"},
        EXT: {"owner": "o"}
    });
    // Same value (case-insensitively, as the attribute is not caseExact): fine.
    let mut same = existing.clone();
    same["HARDWAREID"] = json!("hw-1");
    same.as_object_mut().unwrap().remove("hardwareId");
    same["label"] = json!("renamed");
    check_immutable(&existing, &same, &DEVICE).unwrap();

    let mut changed = existing.clone();
    changed["hardwareId"] = json!("HW-2");
    let e = check_immutable(&existing, &changed, &DEVICE).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Mutability);
    assert!(e.detail.contains("hardwareId"));

    let mut removed = existing.clone();
    removed.as_object_mut().unwrap().remove("hardwareId");
    assert!(check_immutable(&existing, &removed, &DEVICE).is_err());

    let mut sub_changed = existing.clone();
    sub_changed["port"]["serial"] = json!("S2");
    let e = check_immutable(&existing, &sub_changed, &DEVICE).unwrap_err();
    assert!(e.detail.contains("port.serial"));

    // Unset before: may be set now.
    let mut unset = existing.clone();
    unset.as_object_mut().unwrap().remove("hardwareId");
    check_immutable(&unset, &existing, &DEVICE).unwrap();

    // Group members come and go whole.
    let g1 = json!({"schemas": [GROUP_URN], "displayName": "G", "members": [{"value": "u1"}]});
    let g2 = json!({"schemas": [GROUP_URN], "displayName": "G", "members": [{"value": "u2"}]});
    check_immutable(&g1, &g2, &GROUP_RESOURCE).unwrap();
}

#[test]
fn emptiness() {
    for v in [
        json!(null),
        json!(""),
        json!([]),
        json!({}),
        json!([null, ""]),
        json!({"a": null}),
    ] {
        assert!(value_is_empty(&v), "{v}");
    }
    for v in [
        json!(false),
        json!(0),
        json!(" "),
        json!([0]),
        json!({"a": false}),
    ] {
        assert!(!value_is_empty(&v), "{v}");
    }
}

#[test]
fn a_multi_valued_attribute_takes_only_an_array_of_its_values() {
    for (attr, value) in [
        ("emails", json!("not-an-email")),
        ("phoneNumbers", json!("123")),
        ("roles", json!("x")),
        ("emails", json!({"value": "a@example.com"})),
        ("emails", json!(["a@example.com"])),
        ("addresses", json!([["nested"]])),
        ("groups", json!(null)),
    ] {
        let body = json!({"schemas": [USER_URN], "userName": "a", attr: value});
        if attr == "groups" {
            // Read-only: ignored whatever its shape.
            user(body);
            continue;
        }
        let e = user_err(body);
        assert_eq!(
            e.kind,
            scim_protocol::ErrorKind::InvalidValue,
            "{attr}: {}",
            e.detail
        );
        assert!(e.detail.contains(attr), "{}", e.detail);
        assert!(!e.detail.contains("a@example.com") && !e.detail.contains("123"));
    }
    // A single-valued complex attribute must be an object, except that a lone
    // value is taken as the `value` of one that has it (Entra's `manager`).
    let e = user_err(json!({"schemas": [USER_URN], "userName": "a", "name": "Ann"}));
    assert_eq!(e.kind, scim_protocol::ErrorKind::InvalidValue);
    let out = user(
        json!({"schemas": [USER_URN, ENTERPRISE_USER_URN], "userName": "a",
        ENTERPRISE_USER_URN: {"manager": "m"}}),
    );
    assert_eq!(out[ENTERPRISE_USER_URN]["manager"], json!({"value": "m"}));
    let e = user_err(
        json!({"schemas": [USER_URN, ENTERPRISE_USER_URN], "userName": "a",
        ENTERPRISE_USER_URN: {"manager": ["m"]}}),
    );
    assert_eq!(e.kind, scim_protocol::ErrorKind::InvalidValue);
    // Group members: an array of objects.
    for members in [json!({"value": "u1"}), json!("u1"), json!(["u1"])] {
        let e = normalize_for_write(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G", "members": members}),
            &scim_protocol::schema::GROUP_RESOURCE,
        )
        .unwrap_err();
        assert_eq!(
            e.kind,
            scim_protocol::ErrorKind::InvalidValue,
            "{}",
            e.detail
        );
    }
}
