//! Differential test against `scim_v2` (an independent LALRPOP-generated
//! parser): on a corpus both must accept they must build the same tree (modulo
//! `scim_v2`'s n-ary `and`/`or`), and on a corpus both must reject they must
//! both reject. Deliberate disagreements are listed, with the reason, in
//! [`we_accept_they_reject`] and [`they_accept_we_reject`].

use scim_protocol::filter::{parse_filter, parse_path};
use scim_protocol::{CompValue, Filter, PatchPath};
use scim_v2::filter as theirs;

/// Shape both ASTs map to: n-ary, flattened `and`/`or`, paths and values as text.
#[derive(Debug, PartialEq)]
enum N {
    Cmp(String, String, String),
    Pr(String),
    Not(Box<N>),
    And(Vec<N>),
    Or(Vec<N>),
    ValuePath(String, Box<N>),
}

fn join(and: bool, a: N, b: N) -> N {
    let mut items = Vec::new();
    for n in [a, b] {
        match (and, n) {
            (true, N::And(more)) | (false, N::Or(more)) => items.extend(more),
            (_, other) => items.push(other),
        }
    }
    if and { N::And(items) } else { N::Or(items) }
}

fn value_text(v: &CompValue) -> String {
    match v {
        CompValue::Null => "null".into(),
        CompValue::Bool(b) => b.to_string(),
        CompValue::Number(n) => n.to_string(),
        CompValue::Str(s) => serde_json::to_string(s).unwrap(),
    }
}

fn ours(f: &Filter) -> N {
    match f {
        Filter::Compare { path, op, value } => {
            N::Cmp(path.to_string(), op.as_str().into(), value_text(value))
        }
        Filter::Present(p) => N::Pr(p.to_string()),
        Filter::Not(inner) => N::Not(Box::new(ours(inner))),
        Filter::And(a, b) => join(true, ours(a), ours(b)),
        Filter::Or(a, b) => join(false, ours(a), ours(b)),
        Filter::ValuePath { attr, filter } => {
            N::ValuePath(attr.to_string(), Box::new(ours(filter)))
        }
    }
}

fn their_exp(e: &theirs::AttrExp) -> N {
    match e {
        theirs::AttrExp::Present(p) => N::Pr(p.to_string()),
        theirs::AttrExp::Comparison(p, op, v) => {
            N::Cmp(p.to_string(), op.to_string(), v.to_string())
        }
    }
}

fn their_val(f: &theirs::ValFilter) -> N {
    match f {
        theirs::ValFilter::Attr(e) => their_exp(e),
        theirs::ValFilter::Not(inner) => N::Not(Box::new(their_val(inner))),
        theirs::ValFilter::And(items) => items
            .iter()
            .map(their_val)
            .reduce(|a, b| join(true, a, b))
            .unwrap(),
        theirs::ValFilter::Or(items) => items
            .iter()
            .map(their_val)
            .reduce(|a, b| join(false, a, b))
            .unwrap(),
    }
}

fn their(f: &theirs::Filter) -> N {
    match f {
        theirs::Filter::Attr(e) => their_exp(e),
        theirs::Filter::ValuePath(vp) => {
            N::ValuePath(vp.attr.to_string(), Box::new(their_val(&vp.filter)))
        }
        theirs::Filter::Not(inner) => N::Not(Box::new(their(inner))),
        theirs::Filter::And(items) => items
            .iter()
            .map(their)
            .reduce(|a, b| join(true, a, b))
            .unwrap(),
        theirs::Filter::Or(items) => items
            .iter()
            .map(their)
            .reduce(|a, b| join(false, a, b))
            .unwrap(),
    }
}

fn ours_path(p: &PatchPath) -> (String, Option<N>, Option<String>) {
    (
        p.attr.to_string(),
        p.value_filter.as_ref().map(ours),
        p.sub_attr.clone(),
    )
}

fn their_path(p: &theirs::PatchPath) -> (String, Option<N>, Option<String>) {
    match p {
        theirs::PatchPath::Attr(a) => (a.to_string(), None, None),
        theirs::PatchPath::Value(v) => (
            v.attr.to_string(),
            Some(their_val(&v.filter)),
            v.sub_attr.clone(),
        ),
    }
}

const VALID: &[&str] = &[
    // RFC 7644 §3.4.2.2, Figure 2 and text.
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
    r#"userName Eq "john""#,
    r#"Username eq "john""#,
    // Case, whitespace, literals.
    r#"USERNAME EQ "x""#,
    "title PR",
    r#"a eq "1" AND b eq "2""#,
    r#"a eq "1" Or b eq "2""#,
    "NOT (a pr)",
    r#"userName    eq     "x""#,
    "userName\teq\t\"x\"",
    "  title pr  ",
    "age gt -1",
    "score eq 1.5",
    "n eq 1e3",
    "n eq 1.5e-3",
    "n ge 0",
    "userName eq null",
    "active eq true",
    "active eq false",
    r#"x eq "q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00""#,
    r#"x eq """#,
    // Names.
    r#"x509Certificates.value eq "abc""#,
    r#"my-attr eq "x""#,
    r#"my_attr eq "x""#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
    // Structure.
    "emails[primary pr]",
    r#"not (emails[type eq "work"])"#,
    r#"emails[not (type eq "work")]"#,
    r#"emails[type eq "work" or type eq "home"]"#,
    r#"emails[(type eq "work" or type eq "home") and primary eq true]"#,
    "not (not (title pr))",
    "a pr or b pr and c pr",
    "(a pr or b pr) and c pr",
    "a pr and (b pr or not (c pr)) or d pr",
    r#"id eq "1" or id eq "2" or id eq "3" or id eq "4" or id eq "5""#,
    r#"meta.created ge "2026-01-01T00:00:00Z" and meta.created lt "2026-02-01T00:00:00+01:00""#,
];

const INVALID: &[&str] = &[
    "",
    "   ",
    r#"1abc eq "x""#,
    r#"_abc eq "x""#,
    "userName eq bjensen",
    r#"title pr "x""#,
    "userName eq",
    "userName",
    r#"(userName eq "x""#,
    r#"userName eq "x")"#,
    r#"userName eq "x" garbage"#,
    r#"userName eq "x"#,
    r#"emails[type eq "work"][primary eq true]"#,
    r#"emails[ims[type eq "x"]]"#,
    "not title pr",
    r#"userName xx "a""#,
    r#"userName == "a""#,
    r#"name.given.family eq "x""#,
    "name. pr",
    "title pr and",
    "or title pr",
    "()",
    "x eq 'single'",
    r#"x eq "\x""#,
    r#"x eq "\u12""#,
    r#"x eq "\ud83d""#,
    "x eq 01",
    "x eq 1.",
    "x eq .5",
    "x eq +1",
    "x eq 1e",
    "x eq -",
    "title pr;",
    "title pr ]",
];

/// Filters we accept and `scim_v2` rejects, on purpose.
const WE_ACCEPT_THEY_REJECT: &[(&str, &str)] = &[
    (
        "active eq TRUE",
        "true/false/null are case-insensitive here (as keywords are); scim_v2 follows JSON's lowercase literals",
    ),
    ("active eq Null", "same"),
    (
        "not(title pr)",
        "the ABNF `\"not\" \"(\" FILTER \")\"` has no SP after not; scim_v2 requires one",
    ),
    (
        r#"userName eq"x""#,
        "we need no whitespace where tokens delimit themselves; scim_v2 requires SP around operators",
    ),
    ("(a pr)and(b pr)", "same"),
    (
        r#"emails[type eq "work"].value eq "x@y""#,
        "the form Entra ID sends, read as emails[type eq \"work\" and value eq \"x@y\"]",
    ),
    (
        r#"members[$ref eq "x"]"#,
        "$ref is an attribute name (RFC 7643 §2.1) though not an ABNF ATTRNAME",
    ),
];

/// Filters `scim_v2` accepts and we reject, on purpose.
const THEY_ACCEPT_WE_REJECT: &[(&str, &str)] = &[(
    "title\u{a0}pr",
    "we only treat ASCII space/tab/CR/LF as whitespace; scim_v2's \\s is Unicode",
)];

#[test]
fn both_accept_with_the_same_tree() {
    assert!(VALID.len() >= 40);
    for text in VALID {
        let mine = parse_filter(text).unwrap_or_else(|e| panic!("we reject {text:?}: {e}"));
        let other: theirs::Filter = text
            .parse()
            .unwrap_or_else(|e| panic!("scim_v2 rejects {text:?}: {e}"));
        assert_eq!(ours(&mine), their(&other), "{text:?}");
        // Our canonical text is valid input for scim_v2 too.
        let printed = mine.to_string();
        let reparsed: theirs::Filter = printed
            .parse()
            .unwrap_or_else(|e| panic!("scim_v2 rejects our {printed:?}: {e}"));
        assert_eq!(ours(&mine), their(&reparsed), "{printed:?}");
    }
}

#[test]
fn both_reject() {
    for text in INVALID {
        assert!(parse_filter(text).is_err(), "we accept {text:?}");
        assert!(
            text.parse::<theirs::Filter>().is_err(),
            "scim_v2 accepts {text:?}"
        );
    }
    let deep = format!("{}title pr{}", "(".repeat(70), ")".repeat(70));
    assert!(parse_filter(&deep).is_err());
    assert!(deep.parse::<theirs::Filter>().is_err());
}

#[test]
fn we_accept_they_reject() {
    for (text, why) in WE_ACCEPT_THEY_REJECT {
        assert!(parse_filter(text).is_ok(), "{text:?} ({why})");
        assert!(text.parse::<theirs::Filter>().is_err(), "{text:?} ({why})");
    }
}

#[test]
fn they_accept_we_reject() {
    for (text, why) in THEY_ACCEPT_WE_REJECT {
        assert!(parse_filter(text).is_err(), "{text:?} ({why})");
        assert!(text.parse::<theirs::Filter>().is_ok(), "{text:?} ({why})");
    }
    // Nesting: our limit is 50 levels, scim_v2's 64.
    let deep = format!("{}title pr{}", "(".repeat(60), ")".repeat(60));
    assert!(parse_filter(&deep).is_err());
    assert!(deep.parse::<theirs::Filter>().is_ok());
}

#[test]
fn patch_paths_agree() {
    for text in [
        "members",
        "name.familyName",
        r#"addresses[type eq "work"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName"#,
        r#"emails[type eq "work" and primary eq true].value"#,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ] {
        let mine = parse_path(text).unwrap_or_else(|e| panic!("we reject {text:?}: {e}"));
        let other: theirs::PatchPath = text
            .parse()
            .unwrap_or_else(|e| panic!("scim_v2 rejects {text:?}: {e}"));
        assert_eq!(ours_path(&mine), their_path(&other), "{text:?}");
    }
    for text in [
        "",
        r#"emails[type eq "work"][primary eq true]"#,
        "members[",
        "name.given.family",
        r#"members[value eq "x"]."#,
        r#"userName eq "x""#,
        r#"emails[type eq "work"].value.x"#,
    ] {
        assert!(parse_path(text).is_err(), "we accept {text:?}");
        assert!(
            text.parse::<theirs::PatchPath>().is_err(),
            "scim_v2 accepts {text:?}"
        );
    }
}
