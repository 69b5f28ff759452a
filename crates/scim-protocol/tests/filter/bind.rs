use scim_protocol::filter::{bind_filter, bind_path, parse_bound_filter};
use scim_protocol::{AttrPath, CompValue, CompareOp, ErrorKind, Filter, PatchPath};

use crate::fixture::{ENT, GROUP, USER, bind_err, bound, parse, path};

fn cmp(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare { path, op, value }
}

fn s(v: &str) -> CompValue {
    CompValue::Str(v.to_owned())
}

#[test]
fn names_become_canonical() {
    let cases = [
        (r#"USERNAME eq "a""#, r#"userName eq "a""#),
        (r#"username eq "a""#, r#"userName eq "a""#),
        (r#"NAME.FAMILYNAME eq "a""#, r#"name.familyName eq "a""#),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#,
            r#"userName eq "a""#,
        ),
        (
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.givenname eq "a""#,
            r#"name.givenName eq "a""#,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:EMPLOYEENUMBER eq "1""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Manager.Value eq "1""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1""#,
        ),
        (
            r#"META.lastmodified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        ),
        (r#"Emails[TYPE eq "work"]"#, r#"emails[type eq "work"]"#),
        (
            r#"emails[type eq "work"].VALUE eq "x""#,
            r#"emails[type eq "work" and value eq "x"]"#,
        ),
        (r#"groups[$REF eq "x"]"#, r#"groups[$ref eq "x"]"#),
        (r#"SCHEMAS eq "urn:x""#, r#"schemas eq "urn:x""#),
        ("ID pr", "id pr"),
        (
            "not (Title pr) or Active eq TRUE",
            "not (title pr) or active eq true",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(bound(input).to_string(), want, "{input}");
    }
    assert_eq!(
        bound(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#
        ),
        cmp(
            AttrPath::new("employeeNumber").in_schema(ENT),
            CompareOp::Eq,
            s("1")
        )
    );
}

#[test]
fn multi_valued_complex_comparisons_target_value() {
    assert_eq!(
        bound(r#"emails eq "x""#),
        cmp(AttrPath::with_sub("emails", "value"), CompareOp::Eq, s("x"))
    );
    assert_eq!(
        bound(r#"Emails co "x""#).to_string(),
        r#"emails.value co "x""#
    );
    assert_eq!(
        bound(r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#)
            .to_string(),
        r#"userType eq "Employee" and (emails.value co "example.com" or emails.value co "example.org")"#
    );
    // `pr` on a complex attribute stays as written.
    assert_eq!(bound("emails pr").to_string(), "emails pr");
    assert_eq!(bound("name pr").to_string(), "name pr");
    // No `value` sub-attribute, or single-valued: an error.
    assert!(bind_err(r#"addresses eq "x""#).contains("'addresses' is a complex attribute"));
    assert!(bind_err(r#"name eq "x""#).contains("'name' is a complex attribute"));
    assert!(bind_err(&format!(r#"{ENT}:manager eq "x""#)).contains("complex"));
}

#[test]
fn value_coercion_and_normalization() {
    let value = |text: &str| match bound(text) {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(value(r#"active eq "true""#), CompValue::Bool(true));
    assert_eq!(value(r#"active eq "FALSE""#), CompValue::Bool(false));
    assert_eq!(value("active ne true"), CompValue::Bool(true));
    assert_eq!(value("active eq null"), CompValue::Null);
    assert_eq!(value("loginCount gt 3"), CompValue::Number(3.into()));
    assert_eq!(
        value("loginCount gt 3.5"),
        CompValue::Number(serde_json::Number::from_f64(3.5).unwrap())
    );
    assert_eq!(
        value("score le -1e2"),
        CompValue::Number(serde_json::Number::from_f64(-100.0).unwrap())
    );
    assert_eq!(
        value(r#"meta.created gt "2026-01-01T01:00:00+01:00""#),
        s("2026-01-01T00:00:00Z")
    );
    assert_eq!(
        value(r#"meta.created gt "2026-01-01T00:00:00.250-02:30""#),
        s("2026-01-01T02:30:00.250Z")
    );
    assert_eq!(value(r#"meta.created eq null"#), CompValue::Null);
    assert_eq!(value(r#"userName gt "m""#), s("m"));
}

#[test]
fn binding_errors_name_the_attribute() {
    let cases = [
        (r#"nosuch eq "x""#, "unknown attribute 'nosuch'"),
        (
            r#"name.nosuch eq "x""#,
            "'name' has no sub-attribute 'nosuch'",
        ),
        (r#"userName.first eq "x""#, "'userName' is not complex"),
        (
            r#"urn:example:nosuch:User:userName eq "x""#,
            "unknown schema 'urn:example:nosuch:User'",
        ),
        (
            r#"employeeNumber eq "1""#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        ),
        (&format!(r#"{ENT}:userName eq "x""#), "unknown attribute"),
        (
            r#"emails[nosuch eq "x"]"#,
            "'emails' has no sub-attribute 'nosuch'",
        ),
        (
            r#"userName[value eq "x"]"#,
            "'userName' is not a multi-valued complex attribute",
        ),
        (
            r#"name[givenName eq "x"]"#,
            "'name' is not a multi-valued complex attribute",
        ),
        (
            r#"nicknames[value eq "x"]"#,
            "'nicknames' is not a multi-valued complex attribute",
        ),
        ("active gt true", "'active' is boolean"),
        ("active le false", "'active' is boolean"),
        (r#"active co "t""#, "'active' is boolean"),
        (
            r#"active eq "yes""#,
            "'active' is boolean: compare it with true or false",
        ),
        ("active eq 1", "'active' is boolean"),
        (r#"emails[primary ge true]"#, "'primary' is boolean"),
        (r#"name gt "x""#, "'name' is a complex attribute"),
        (r#"addresses ge "x""#, "'addresses' is a complex attribute"),
        ("userName eq 1", "'userName' is a string attribute"),
        ("userName eq true", "'userName' is a string attribute"),
        (
            r#"loginCount eq "3""#,
            "'loginCount' is integer: compare it with a number",
        ),
        (r#"score eq true"#, "'score' is decimal"),
        ("loginCount co 3", "'loginCount' is integer"),
        (
            r#"meta.created gt "yesterday""#,
            "'meta.created' is a dateTime",
        ),
        (r#"meta.created gt "2026-01-01""#, "RFC 3339"),
        ("meta.created gt 5", "'meta.created' is a dateTime"),
        (r#"meta.created sw "2026""#, "'meta.created' is a dateTime"),
        (
            r#"x509Certificates.value gt "x""#,
            "'x509Certificates.value' is binary",
        ),
        (
            "userName gt null",
            "null can only be compared with eq or ne",
        ),
        (
            "userName co null",
            "null can only be compared with eq or ne",
        ),
        (
            r#"password eq "x""#,
            "'password' cannot be used in a filter",
        ),
        ("password pr", "'password' cannot be used in a filter"),
    ];
    for (text, needle) in cases {
        let detail = bind_err(text);
        assert!(
            detail.contains(needle),
            "{text}: {detail:?} lacks {needle:?}"
        );
    }
}

#[test]
fn hand_built_filters_are_checked_too() {
    let nested = Filter::ValuePath {
        attr: AttrPath::new("emails"),
        filter: Box::new(Filter::ValuePath {
            attr: AttrPath::new("ims"),
            filter: Box::new(Filter::Present(AttrPath::new("value"))),
        }),
    };
    let e = bind_filter(nested, &USER).unwrap_err();
    assert!(e.detail.contains("cannot nest"), "{e}");
    let qualified_inner = Filter::ValuePath {
        attr: AttrPath::new("emails"),
        filter: Box::new(Filter::Present(AttrPath::with_sub("emails", "value"))),
    };
    let e = bind_filter(qualified_inner, &USER).unwrap_err();
    assert!(e.detail.contains("plain sub-attribute"), "{e}");
    let sub_value_path = Filter::ValuePath {
        attr: AttrPath::with_sub("name", "givenName"),
        filter: Box::new(Filter::Present(AttrPath::new("value"))),
    };
    assert_eq!(
        bind_filter(sub_value_path, &USER).unwrap_err().kind,
        ErrorKind::InvalidFilter
    );
}

#[test]
fn group_resource_type() {
    assert_eq!(
        parse_bound_filter(r#"Members[Value eq "1"] and DISPLAYNAME sw "eng""#, &GROUP)
            .unwrap()
            .to_string(),
        r#"members[value eq "1"] and displayName sw "eng""#
    );
    assert_eq!(
        parse_bound_filter(r#"members eq "1""#, &GROUP)
            .unwrap()
            .to_string(),
        r#"members.value eq "1""#
    );
    let e = parse_bound_filter(r#"userName eq "x""#, &GROUP).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidFilter);
    assert!(e.detail.contains("resource type Group"), "{e}");
    // Syntax errors surface through parse_bound_filter as well.
    assert_eq!(
        parse_bound_filter("(", &GROUP).unwrap_err().kind,
        ErrorKind::InvalidFilter
    );
}

fn bound_path(text: &str) -> PatchPath {
    bind_path(path(text), &USER).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn patch_path_binding() {
    let cases = [
        ("USERNAME", "userName"),
        ("name.GIVENNAME", "name.givenName"),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            "name.givenName",
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:MANAGER.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        ),
        (
            r#"EMAILS[TYPE eq "work"].VALUE"#,
            r#"emails[type eq "work"].value"#,
        ),
        (
            r#"emails[type eq "work" and primary eq "true"]"#,
            r#"emails[type eq "work" and primary eq true]"#,
        ),
        ("emails", "emails"),
        ("password", "password"),
    ];
    for (input, want) in cases {
        assert_eq!(bound_path(input).to_string(), want, "{input}");
    }
    let p = bound_path(r#"emails[type eq "work"].value"#);
    assert_eq!(p.attr, AttrPath::new("emails"));
    assert_eq!(p.sub_attr.as_deref(), Some("value"));
    let members = bind_path(path(r#"members[value eq "2819c223"]"#), &GROUP).unwrap();
    assert_eq!(members.to_string(), r#"members[value eq "2819c223"]"#);
}

#[test]
fn patch_path_binding_errors_are_invalid_path() {
    let cases = [
        ("nosuch", "unknown attribute 'nosuch'"),
        ("name.nosuch", "'name' has no sub-attribute 'nosuch'"),
        ("userName.x", "'userName' is not complex"),
        (
            r#"userName[value eq "x"]"#,
            "'userName' is not multi-valued",
        ),
        (r#"name[givenName eq "x"]"#, "'name' is not multi-valued"),
        (
            r#"emails[type eq "work"].nosuch"#,
            "'emails' has no sub-attribute 'nosuch'",
        ),
        (
            r#"emails[nosuch eq "work"]"#,
            "'emails' has no sub-attribute 'nosuch'",
        ),
        (r#"emails[primary eq "maybe"]"#, "'primary' is boolean"),
        (r#"emails[primary gt true]"#, "'primary' is boolean"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "unknown schema",
        ),
    ];
    for (text, needle) in cases {
        let e = bind_path(path(text), &USER).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidPath, "{text}: {e}");
        assert!(
            e.detail.contains(needle),
            "{text}: {:?} lacks {needle:?}",
            e.detail
        );
    }
    let trailing_without_filter = PatchPath {
        attr: AttrPath::new("emails"),
        value_filter: None,
        sub_attr: Some("value".into()),
    };
    assert_eq!(
        bind_path(trailing_without_filter, &USER).unwrap_err().kind,
        ErrorKind::InvalidPath
    );
    let _ = parse; // keep the helper import used in both modules
}
