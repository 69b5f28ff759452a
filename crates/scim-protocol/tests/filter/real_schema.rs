//! The same pipeline against the crate's own User and Group definitions.

use scim_protocol::ErrorKind;
use scim_protocol::filter::{bind_path, matches, parse_bound_filter, parse_path};
use scim_protocol::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::json;

const RFC_EXAMPLES: &[&str] = &[
    r#"userName eq "bjensen""#,
    r#"name.familyName co "O'Malley""#,
    r#"userName sw "J""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
    "title pr",
    r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
    r#"title pr and userType eq "Employee""#,
    r#"title pr or userType eq "Intern""#,
    r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType eq "Employee" and (emails.type eq "work")"#,
    r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
    r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
];

#[test]
fn rfc_examples_bind_against_user() {
    for text in RFC_EXAMPLES {
        if let Err(e) = parse_bound_filter(text, &USER_RESOURCE) {
            panic!("{text}: {e}");
        }
    }
}

#[test]
fn user_semantics() {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Bjensen",
        "userName": "bjensen@example.com",
        "emails": [{"value": "bjensen@example.com", "type": "work"}],
        "meta": {"created": "2026-01-01T00:00:00Z", "resourceType": "User"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"}
    });
    for (text, want) in [
        (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
        (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
        (r#"externalId eq "bjensen""#, false),
        (r#"externalId eq "Bjensen""#, true),
        (r#"USERNAME eq "BJensen@Example.com""#, true),
        (
            r#"emails[type eq "work"].value eq "BJENSEN@example.com""#,
            true,
        ),
        (r#"meta.created eq "2026-01-01T01:00:00+01:00""#, true),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
            true,
        ),
        (
            r#"schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER""#,
            true,
        ),
    ] {
        let f = parse_bound_filter(text, &USER_RESOURCE).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            matches(&f, &user, &USER_RESOURCE),
            want,
            "{text} (bound: {f})"
        );
    }
    let e = parse_bound_filter(r#"password eq "x""#, &USER_RESOURCE).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidFilter);
}

#[test]
fn group_and_paths() {
    let group = json!({"displayName": "Eng", "members": [{"value": "2819c223", "type": "User"}]});
    let f = parse_bound_filter(r#"members[value eq "2819c223"]"#, &GROUP_RESOURCE).unwrap();
    assert!(matches(&f, &group, &GROUP_RESOURCE));
    let p = bind_path(
        parse_path(r#"members[value eq "2819c223"]"#).unwrap(),
        &GROUP_RESOURCE,
    )
    .unwrap();
    assert_eq!(p.to_string(), r#"members[value eq "2819c223"]"#);
    let p = bind_path(
        parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
            .unwrap(),
        &USER_RESOURCE,
    )
    .unwrap();
    assert_eq!(
        p.to_string(),
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
    );
}
