use scim_protocol::filter::{matches, parse_bound_filter, parse_filter};
use serde_json::{Value, json};

use crate::fixture::{ENT, GROUP, USER, bound};

fn barbara() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Bjensen-EXT",
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34.500Z"
        },
        "userName": "bjensen@example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara", "formatted": null},
        "displayName": "Babs Jensen",
        "nickName": "Ärger",
        "title": "",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "ims": [{}],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza"}],
        "nicknames": ["Babs", "B"],
        "loginCount": 42,
        "score": 3.5,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": {"value": "26118915", "displayName": "John Smith"}
        }
    })
}

fn check(resource: &Value, cases: &[(&str, bool)]) {
    let mut failures = Vec::new();
    for (text, want) in cases {
        let f = bound(text);
        if matches(&f, resource, &USER) != *want {
            failures.push(format!("{text:?} should be {want} (bound: {f})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn semantics_table() {
    check(
        &barbara(),
        &[
            // Strings: case-insensitive unless caseExact.
            (r#"userName eq "BJENSEN@example.com""#, true),
            (r#"userName ne "BJENSEN@example.com""#, false),
            (r#"userName ne "someone""#, true),
            (r#"userName co "JENSEN""#, true),
            (r#"userName sw "BJ""#, true),
            (r#"userName ew ".COM""#, true),
            (r#"userName ew "example""#, false),
            (r#"userName co """#, true),
            (r#"nickName eq "ärger""#, true),
            (r#"nickName eq "ÄRGER""#, true),
            (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
            (r#"id sw "2819C223""#, false),
            (r#"externalId eq "Bjensen-EXT""#, true),
            (r#"externalId eq "bjensen-ext""#, false),
            (r#"meta.resourceType eq "user""#, false),
            (r#"meta.resourceType eq "User""#, true),
            // Lexicographic ordering, after case folding.
            (r#"userName gt "BJ""#, true),
            (r#"userName gt "BK""#, false),
            (r#"userName ge "bjensen@example.com""#, true),
            (r#"userName lt "C""#, true),
            (r#"userName le "a""#, false),
            (r#"id gt "2819C""#, true), // caseExact: '2819c' > '2819C'
            // Sub-attributes and extensions.
            (r#"name.familyName co "ens""#, true),
            (
                r#"name.givenName eq "barbara" and name.familyName eq "jensen""#,
                true,
            ),
            (&format!(r#"{ENT}:employeeNumber eq "701984""#), true),
            (&format!(r#"{ENT}:employeeNumber ne "701984""#), false),
            (&format!(r#"{ENT}:manager.value eq "26118915""#), true),
            (&format!(r#"{ENT}:manager.displayName sw "john""#), true),
            (&format!(r#"{ENT}:department eq "x""#), false),
            (&format!(r#"{ENT}:department ne "x""#), true),
            (&format!("{ENT}:department pr"), false),
            (&format!("{ENT}:manager pr"), true),
            // Booleans.
            ("active eq true", true),
            (r#"active eq "TRUE""#, true),
            ("active eq false", false),
            ("active ne false", true),
            ("active ne true", false),
            // Numbers.
            ("loginCount eq 42", true),
            ("loginCount eq 42.0", true),
            ("loginCount gt 41.5", true),
            ("loginCount ge 42", true),
            ("loginCount lt 42", false),
            ("loginCount le 1e2", true),
            ("score gt 3", true),
            ("score lt 3.5", false),
            ("score eq 3.5", true),
            // dateTimes compare as instants.
            (r#"meta.created eq "2010-01-23T04:56:22Z""#, true),
            (r#"meta.created eq "2010-01-23T05:56:22+01:00""#, true),
            (r#"meta.created eq "2010-01-22T23:56:22-05:00""#, true),
            (r#"meta.created eq "2010-01-23T04:56:22.000Z""#, true),
            (r#"meta.created gt "2010-01-23T05:56:21+01:00""#, true),
            (r#"meta.created lt "2010-01-23T05:56:21+01:00""#, false),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified le "2011-05-13T04:42:34.5Z""#, true),
            (r#"meta.lastModified lt "2011-05-13T04:42:34.5Z""#, false),
            // Multi-valued: any value matches.
            (r#"emails eq "babs@jensen.org""#, true),
            (r#"emails.value eq "BABS@jensen.org""#, true),
            (r#"emails co "jensen.org""#, true),
            (r#"emails.value ne "babs@jensen.org""#, false),
            (r#"emails.value ne "nobody@x""#, true),
            (r#"emails.type eq "home""#, true),
            (r#"emails.primary eq true"#, true),
            (r#"emails.primary eq false"#, false),
            (r#"nicknames eq "b""#, true),
            (r#"nicknames sw "bab""#, true),
            (r#"nicknames eq "x""#, false),
            // Value paths: one element must satisfy the whole inner filter.
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "home" and value co "@example.com"]"#,
                false,
            ),
            (
                r#"emails[type eq "home"] and emails[value co "@example.com"]"#,
                true,
            ),
            (r#"emails[primary eq true]"#, true),
            (r#"emails[not (primary eq true)]"#, true),
            (r#"emails[primary ne true]"#, true),
            (r#"emails[primary pr and type eq "home"]"#, false),
            (
                r#"emails[type eq "work"].value eq "bjensen@example.com""#,
                true,
            ),
            (
                r#"emails[type eq "home"].value eq "bjensen@example.com""#,
                false,
            ),
            (r#"phoneNumbers[type pr]"#, false),
            (r#"phoneNumbers[not (type pr)]"#, false),
            (
                r#"addresses[type eq "work" and streetAddress sw "100"]"#,
                true,
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            // Presence.
            ("userName pr", true),
            ("title pr", false),
            ("name pr", true),
            ("name.formatted pr", false),
            ("emails pr", true),
            ("emails.value pr", true),
            ("emails.primary pr", true),
            ("phoneNumbers pr", false),
            ("ims pr", false),
            ("nicknames pr", true),
            ("addresses.country pr", false),
            // Missing attributes: everything false except ne.
            (r#"nickname eq "x""#, false),
            (r#"addresses.country eq "x""#, false),
            (r#"addresses.country ne "x""#, true),
            (r#"addresses.country co "x""#, false),
            (r#"addresses.country gt "a""#, false),
            (r#"addresses.country lt "z""#, false),
            (r#"phoneNumbers.value ne "x""#, true),
            // null comparisons.
            ("name.formatted eq null", true),
            ("name.formatted ne null", false),
            ("name.familyName eq null", false),
            ("name.familyName ne null", true),
            ("phoneNumbers.value eq null", true),
            ("emails.value eq null", false),
            ("title eq null", false),
            ("title ne null", true),
            ("loginCount ne null", true),
            // Logic.
            ("not (userName pr)", false),
            ("not (title pr)", true),
            ("title pr or userName pr", true),
            ("title pr and userName pr", false),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
            ),
            // schemas (multi-valued, case-insensitive).
            (&format!(r#"schemas eq "{}""#, ENT.to_uppercase()), true),
            (r#"schemas eq "urn:x""#, false),
        ],
    );
}

#[test]
fn ne_is_not_eq() {
    let user = barbara();
    for (attr, v) in [
        ("userName", r#""bjensen@example.com""#),
        ("emails.value", r#""babs@jensen.org""#),
        ("emails.type", r#""other""#),
        ("addresses.country", r#""x""#),
        ("title", r#""""#),
        ("active", "false"),
        ("loginCount", "7"),
        ("meta.created", r#""2010-01-23T04:56:22Z""#),
        ("nickName", "null"),
    ] {
        let ne = bound(&format!("{attr} ne {v}"));
        let not_eq = bound(&format!("not ({attr} eq {v})"));
        assert_eq!(
            matches(&ne, &user, &USER),
            matches(&not_eq, &user, &USER),
            "{attr} ne {v}"
        );
    }
}

#[test]
fn keys_match_case_insensitively() {
    let user = json!({
        "USERNAME": "a",
        "Name": {"GIVENNAME": "b"},
        "EMAILS": [{"Value": "c@d", "TYPE": "work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "1"}
    });
    check(
        &user,
        &[
            (r#"userName eq "A""#, true),
            (r#"name.givenName eq "b""#, true),
            (r#"emails[type eq "work"].value eq "c@d""#, true),
            (&format!(r#"{ENT}:employeeNumber eq "1""#), true),
        ],
    );
}

#[test]
fn mistyped_stored_values_match_nothing() {
    let user = json!({
        "userName": 5,
        "active": "true",
        "loginCount": "42",
        "meta": {"created": "not a date", "lastModified": 5},
        "name": "flat"
    });
    check(
        &user,
        &[
            (r#"userName eq "5""#, false),
            (r#"userName ne "5""#, true),
            ("active eq true", false),
            ("loginCount eq 42", false),
            (r#"meta.created lt "2030-01-01T00:00:00Z""#, false),
            (r#"meta.created gt "1930-01-01T00:00:00Z""#, false),
            (r#"meta.lastModified gt "1930-01-01T00:00:00Z""#, false),
            (r#"name.givenName eq "flat""#, false),
            ("userName pr", true),
        ],
    );
}

#[test]
fn group_members() {
    let group = json!({
        "displayName": "Engineering",
        "members": [
            {"value": "2819c223", "display": "Babs", "type": "User"},
            {"value": "902c246b", "type": "Group"}
        ]
    });
    for (text, want) in [
        (r#"members[value eq "2819C223"]"#, true),
        (r#"members eq "902c246b""#, true),
        (r#"members[type eq "Group" and display pr]"#, false),
        (r#"members[type eq "User" and display pr]"#, true),
        (r#"displayName eq "engineering""#, true),
    ] {
        let f = parse_bound_filter(text, &GROUP).unwrap();
        assert_eq!(matches(&f, &group, &GROUP), want, "{text}");
    }
}

/// `matches` expects bound filters but stays total on unbound ones:
/// unknown names are looked up as written, with types taken from the value.
#[test]
fn unbound_filters_do_not_panic() {
    let user = json!({"custom": "Hello", "n": 3, "flag": true, "urn:x:y": {"z": "1"}});
    for (text, want) in [
        (r#"custom eq "hello""#, true),
        (r#"CUSTOM co "ELL""#, true),
        ("n gt 2", true),
        ("flag eq true", true),
        (r#"urn:x:y:z eq "1""#, true),
        (r#"custom eq 3"#, false),
        (r#"emails co "x""#, false),
        (r#"nosuch[x eq "1"]"#, false),
    ] {
        let f = parse_filter(text).unwrap();
        assert_eq!(matches(&f, &user, &USER), want, "{text}");
    }
}
