//! Property tests: normalization, projection and search-request parsing are
//! total on arbitrary JSON, and normalization is idempotent.

use proptest::prelude::*;
use scim_protocol::messages::SearchRequest;
use scim_protocol::projection::{parse_attribute_list, project};
use scim_protocol::resource::normalize_for_write;
use scim_protocol::schema::{
    ENTERPRISE_USER_URN, GROUP_RESOURCE, GROUP_URN, ResourceType, USER_RESOURCE, USER_URN,
};
use serde_json::{Map, Value};

use crate::fixture::{CORE, DEVICE, EXT};

/// Member names biased towards ones the schemas know, so that generated
/// documents reach deep into the normalizer.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "schemas", "userName", "USERNAME", "name", "givenName", "emails", "value",
            "type", "primary", "display", "active", "password", "id", "meta", "groups",
            "members", "displayName", "$ref", "manager", "employeeNumber", "addresses",
            "x509Certificates", "externalId", "label", "count", "ratio", "seen", "port",
            "serial", "tags", "owner", "hardwareId", "lastModified",
            ENTERPRISE_USER_URN, CORE, EXT,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:core:2.0:User:nickName", "urn:", "urn:x:",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
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
            "USER",
            "2026-01-01T00:00:00+05:30",
            "x@y",
            USER_URN,
            GROUP_URN,
            ENTERPRISE_USER_URN,
            CORE,
            EXT,
        ])
        .prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object that usually passes the `schemas` check, so validation goes deeper.
fn document(urn: &'static str) -> impl Strategy<Value = Value> {
    (json_value(), any::<bool>()).prop_map(move |(v, add_schemas)| match v {
        Value::Object(mut members) if add_schemas => {
            members.insert(
                "schemas".to_owned(),
                Value::Array(vec![urn.into(), ENTERPRISE_USER_URN.into(), EXT.into()]),
            );
            Value::Object(members)
        }
        other => other,
    })
}

fn check(doc: Value, rt: &ResourceType) {
    if let Ok(out) = normalize_for_write(doc.clone(), rt) {
        assert_eq!(
            normalize_for_write(out.clone(), rt).as_ref(),
            Ok(&out),
            "normalization must be idempotent"
        );
        assert!(out.get("id").is_none() && out.get("meta").is_none());
    }
    let attrs =
        parse_attribute_list("userName,name.givenName,members,port.secret", rt).unwrap_or_default();
    let _ = project(&doc, rt, &attrs, &[]);
    let _ = project(&doc, rt, &[], &attrs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn normalize_never_panics_user(doc in document(USER_URN)) {
        check(doc, &USER_RESOURCE);
    }

    #[test]
    fn normalize_never_panics_group(doc in document(GROUP_URN)) {
        check(doc, &GROUP_RESOURCE);
    }

    #[test]
    fn normalize_never_panics_device(doc in document(CORE)) {
        check(doc, &DEVICE);
    }

    #[test]
    fn search_request_parsing_is_total(body in json_value(), pairs in prop::collection::vec((key(), ".{0,10}"), 0..6)) {
        let _ = SearchRequest::from_json(body);
        let _ = SearchRequest::from_query_pairs(pairs);
    }

    #[test]
    fn attribute_list_parsing_is_total(input in ".{0,40}") {
        let _ = parse_attribute_list(&input, &USER_RESOURCE);
    }
}
