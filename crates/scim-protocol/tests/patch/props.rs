//! Property tests: parsing and applying arbitrary operation lists never
//! panics; a failed apply leaves the document as it was; a successful one
//! never touches `id` or `meta` and yields a document the normalizer handles.

use proptest::prelude::*;
use scim_protocol::patch::{PatchRequest, apply, split_members};
use scim_protocol::resource::normalize_for_write;
use scim_protocol::schema::{
    ENTERPRISE_USER_URN, GROUP_RESOURCE, GROUP_URN, PATCH_OP_URN, ResourceType, USER_RESOURCE,
    USER_URN,
};
use serde_json::{Map, Value, json};

use crate::support::{bjensen, tour_guides};

const USER_PATHS: &[&str] = &[
    "userName",
    "name",
    "name.givenName",
    "NAME.familyName",
    "displayName",
    "nickName",
    "active",
    "title",
    "password",
    "externalId",
    "emails",
    "emails.value",
    "emails[type eq \"work\"]",
    "emails[type eq \"work\"].value",
    "emails[type eq \"home\" and primary eq true].primary",
    "emails[type eq \"work\" or type eq \"home\"].value",
    "emails[value ew \"example.com\"]",
    "emails[not (type eq \"work\")].display",
    "emails[primary eq true]",
    "emails[type eq \"work\"].primary",
    "phoneNumbers[type eq \"mobile\"].value",
    "addresses",
    "addresses[type eq \"work\"]",
    "addresses[type eq \"work\"].streetAddress",
    "addresses[type eq null].locality",
    "roles",
    "x509Certificates[value eq \"AA==\"]",
    ENTERPRISE_USER_URN,
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:core:2.0:User:nickName",
];

/// Refused: read-only, unknown or malformed.
const USER_BAD_PATHS: &[&str] = &[
    "id",
    "meta.created",
    "groups",
    "schemas",
    "members",
    "emails[",
    "urn:",
];

const GROUP_PATHS: &[&str] = &[
    "displayName",
    "externalId",
    "members",
    "members[value eq \"a\"]",
    "members[value eq \"a\" or value eq \"b\"]",
    "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]",
    "members[type eq \"User\"]",
    "members[value eq \"a\"].type",
    "members.value",
    "urn:ietf:params:scim:schemas:core:2.0:Group:members",
    "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
];

const GROUP_BAD_PATHS: &[&str] = &[
    "id",
    "members[value eq \"a\"].display",
    "userName",
    "emails[type eq \"work\"].",
];

const KEYS: &[&str] = &[
    "value",
    "Value",
    "type",
    "primary",
    "display",
    "$ref",
    "givenName",
    "familyName",
    "name.givenName",
    "userName",
    "displayName",
    "nickName",
    "active",
    "emails",
    "addresses",
    "streetAddress",
    "members",
    "Members",
    "id",
    "meta",
    "schemas",
    "groups",
    "manager",
    "employeeNumber",
    "department",
    "password",
    ENTERPRISE_USER_URN,
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:core:2.0:Group:members",
    "urn:ietf:params:scim:schemas:core:2.0:User:title",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,10}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "true",
            "False",
            "",
            "work",
            "home",
            "User",
            "a",
            "b",
            "x@example.com",
            "2026-01-01T00:00:00+05:30",
            USER_URN,
            GROUP_URN,
            ENTERPRISE_USER_URN,
            "2819c223-7f76-453a-919d-413861904646",
        ])
        .prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn op_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        20 => prop::sample::select(vec!["add", "remove", "replace", "Add", "Remove", "Replace"])
            .prop_map(Value::from),
        1 => prop::sample::select(vec!["ADD", "move", ""]).prop_map(Value::from),
        1 => leaf(),
    ]
}

type Paths = (&'static [&'static str], &'static [&'static str]);

const USER: Paths = (USER_PATHS, USER_BAD_PATHS);
const GROUP: Paths = (GROUP_PATHS, GROUP_BAD_PATHS);

fn path((good, bad): Paths) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        16 => prop::sample::select(good).prop_map(|p| Some(Value::from(p))),
        1 => prop::sample::select(bad).prop_map(|p| Some(Value::from(p))),
        4 => Just(None),
        1 => ".{0,16}".prop_map(|p| Some(Value::String(p))),
        1 => leaf().prop_map(Some),
    ]
}

/// Member lists and values of the shapes the schemas take, so that applied
/// documents often normalize.
fn op_value() -> impl Strategy<Value = Value> {
    let id = prop::sample::select(vec!["a", "b", "2819c223-7f76-453a-919d-413861904646"]);
    let member = (id, prop::option::of(".{0,4}")).prop_map(|(id, display)| {
        let mut m = Map::new();
        m.insert("value".to_owned(), Value::from(id));
        if let Some(d) = display {
            m.insert("display".to_owned(), Value::String(d));
        }
        Value::Object(m)
    });
    let typed = (
        prop::sample::select(vec!["work", "home", "other", "mobile"]),
        prop::sample::select(vec!["x@example.com", "y@example.org", "1 Main St"]),
        any::<bool>(),
    )
        .prop_map(|(t, v, primary)| json!({"type": t, "value": v, "primary": primary}));
    prop_oneof![
        3 => json_value(),
        2 => prop::collection::vec(member.clone(), 0..3).prop_map(Value::Array),
        1 => member,
        2 => prop::collection::vec(typed.clone(), 0..3).prop_map(Value::Array),
        1 => typed,
        2 => prop::sample::select(vec!["x", "True", "false", "a@b", ""]).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
    ]
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), op_value()), 0..5)
        .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>()))
}

/// One operation: usually well-formed, with its members sometimes missing.
fn operation(paths: Paths) -> impl Strategy<Value = Value> {
    prop_oneof![
        20 => (
            prop::option::weighted(0.98, op_name()),
            path(paths),
            prop::option::weighted(0.95, op_value()),
            object(),
            prop::bool::weighted(0.95),
        )
            .prop_map(|(op, path, value, object, use_object)| {
                let mut m = Map::new();
                if let Some(op) = op {
                    m.insert("op".to_owned(), op);
                }
                match path {
                    Some(path) => {
                        m.insert("path".to_owned(), path);
                        if let Some(value) = value {
                            m.insert("value".to_owned(), value);
                        }
                    }
                    // Path-less: the value is nearly always an object.
                    None => {
                        let value = match value {
                            Some(v) if !use_object => v,
                            _ => object,
                        };
                        m.insert("value".to_owned(), value);
                    }
                }
                Value::Object(m)
            }),
        1 => json_value(),
    ]
}

/// A PatchOp body, or (rarely) anything at all.
fn patch_body(paths: Paths) -> impl Strategy<Value = Value> {
    prop_oneof![
        20 => prop::collection::vec(operation(paths), 1..5)
            .prop_map(|ops| json!({"schemas": [PATCH_OP_URN], "Operations": ops})),
        1 => json_value(),
    ]
}

/// A canonical document plus the read-only data a stored one carries.
fn stored(doc: Value, rt: &ResourceType) -> Value {
    let mut doc = normalize_for_write(doc, rt).unwrap();
    doc["id"] = json!("2819c223-7f76-453a-919d-413861904646");
    doc["meta"] = json!({"resourceType": rt.name, "created": "2010-01-23T04:56:22Z"});
    doc
}

fn check_apply(doc: &Value, req: &PatchRequest, rt: &ResourceType) {
    check_ops(doc, &req.operations, rt);
}

fn check_ops(doc: &Value, ops: &[scim_protocol::patch::PatchOperation], rt: &ResourceType) {
    let mut patched = doc.clone();
    match apply(&mut patched, ops, rt) {
        Err(_) => assert_eq!(
            &patched, doc,
            "a failed apply must leave the document as it was"
        ),
        Ok(()) => {
            assert_eq!(patched.get("id"), doc.get("id"), "id is read-only");
            assert_eq!(patched.get("meta"), doc.get("meta"), "meta is read-only");
            if let Ok(out) = normalize_for_write(patched, rt) {
                assert_eq!(
                    normalize_for_write(out.clone(), rt).as_ref(),
                    Ok(&out),
                    "normalization must be idempotent"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn user_patches_never_panic(body in patch_body(USER)) {
        let doc = stored(bjensen(), &USER_RESOURCE);
        if let Ok(req) = PatchRequest::parse(body, &USER_RESOURCE) {
            check_apply(&doc, &req, &USER_RESOURCE);
        }
    }

    #[test]
    fn group_patches_never_panic(body in patch_body(GROUP)) {
        let rt = &GROUP_RESOURCE;
        let doc = stored(tour_guides(), rt);
        if let Ok(req) = PatchRequest::parse(body, rt) {
            // Straight onto the member list…
            check_apply(&doc, &req, rt);
            // …and the gateway's way, members split off.
            if let Ok((rest, changes)) = split_members(req.operations.clone()) {
                assert!(rest.len() <= req.operations.len());
                assert!(changes.len() <= req.operations.len());
                check_ops(&doc, &rest, rt);
                // Nothing left addresses members.
                let mut patched = doc.clone();
                patched.as_object_mut().unwrap().remove("members");
                if apply(&mut patched, &rest, rt).is_ok() {
                    prop_assert!(patched.get("members").is_none());
                }
            }
        }
    }

    #[test]
    fn patches_on_arbitrary_documents_never_panic(doc in json_value(), body in patch_body(USER), gbody in patch_body(GROUP)) {
        for (rt, body) in [(&USER_RESOURCE, body), (&GROUP_RESOURCE, gbody)] {
            if let Ok(req) = PatchRequest::parse(body, rt) {
                let mut patched = doc.clone();
                if apply(&mut patched, &req.operations, rt).is_err() {
                    prop_assert_eq!(&patched, &doc);
                } else {
                    let _ = normalize_for_write(patched, rt);
                }
            }
        }
    }
}
