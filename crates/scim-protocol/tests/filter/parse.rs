use scim_protocol::filter::{MAX_FILTER_DEPTH, MAX_FILTER_LEN, parse_path};
use scim_protocol::{AttrPath, CompValue, CompareOp, ErrorKind, Filter, PatchPath};

use crate::fixture::{ENT, parse, parse_err, path};

fn cmp(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare { path, op, value }
}

fn s(v: &str) -> CompValue {
    CompValue::Str(v.to_owned())
}

fn a(name: &str) -> AttrPath {
    AttrPath::new(name)
}

fn pr(name: &str) -> Filter {
    Filter::Present(a(name))
}

fn eq(name: &str, v: &str) -> Filter {
    cmp(a(name), CompareOp::Eq, s(v))
}

fn num(n: i64) -> CompValue {
    CompValue::Number(n.into())
}

fn vp(name: &str, f: Filter) -> Filter {
    Filter::ValuePath {
        attr: a(name),
        filter: Box::new(f),
    }
}

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Every example of RFC 7644 §3.4.2.2 (Figure 2 and the text around it).
#[test]
fn rfc7644_examples() {
    let lm = || AttrPath::with_sub("meta", "lastModified");
    let ts = || s("2011-05-13T04:42:34Z");
    let cases: Vec<(&str, Filter)> = vec![
        (r#"userName Eq "john""#, eq("userName", "john")),
        (r#"Username eq "john""#, eq("Username", "john")),
        (r#"userName eq "bjensen""#, eq("userName", "bjensen")),
        (
            r#"name.familyName co "O'Malley""#,
            cmp(
                AttrPath::with_sub("name", "familyName"),
                CompareOp::Co,
                s("O'Malley"),
            ),
        ),
        (
            r#"userName sw "J""#,
            cmp(a("userName"), CompareOp::Sw, s("J")),
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            cmp(a("userName").in_schema(USER_URN), CompareOp::Sw, s("J")),
        ),
        ("title pr", pr("title")),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            cmp(lm(), CompareOp::Gt, ts()),
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            cmp(lm(), CompareOp::Ge, ts()),
        ),
        (
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            cmp(lm(), CompareOp::Lt, ts()),
        ),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            cmp(lm(), CompareOp::Le, ts()),
        ),
        (
            r#"title pr and userType eq "Employee""#,
            Filter::and(pr("title"), eq("userType", "Employee")),
        ),
        (
            r#"title pr or userType eq "Intern""#,
            Filter::or(pr("title"), eq("userType", "Intern")),
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            eq("schemas", ENT),
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            Filter::and(
                eq("userType", "Employee"),
                Filter::or(
                    cmp(a("emails"), CompareOp::Co, s("example.com")),
                    cmp(
                        AttrPath::with_sub("emails", "value"),
                        CompareOp::Co,
                        s("example.org"),
                    ),
                ),
            ),
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            Filter::and(
                cmp(a("userType"), CompareOp::Ne, s("Employee")),
                Filter::negate(Filter::or(
                    cmp(a("emails"), CompareOp::Co, s("example.com")),
                    cmp(
                        AttrPath::with_sub("emails", "value"),
                        CompareOp::Co,
                        s("example.org"),
                    ),
                )),
            ),
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            Filter::and(
                eq("userType", "Employee"),
                cmp(
                    AttrPath::with_sub("emails", "type"),
                    CompareOp::Eq,
                    s("work"),
                ),
            ),
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            Filter::and(
                eq("userType", "Employee"),
                vp(
                    "emails",
                    Filter::and(
                        eq("type", "work"),
                        cmp(a("value"), CompareOp::Co, s("@example.com")),
                    ),
                ),
            ),
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            Filter::or(
                vp(
                    "emails",
                    Filter::and(
                        eq("type", "work"),
                        cmp(a("value"), CompareOp::Co, s("@example.com")),
                    ),
                ),
                vp(
                    "ims",
                    Filter::and(
                        eq("type", "xmpp"),
                        cmp(a("value"), CompareOp::Co, s("@foo.com")),
                    ),
                ),
            ),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), want, "{text}");
        // Display is canonical and re-parses to the same tree.
        assert_eq!(parse(&parse(text).to_string()), want, "{text}");
    }
}

#[test]
fn precedence_and_associativity() {
    let (fa, fb, fc) = (|| pr("a"), || pr("b"), || pr("c"));
    assert_eq!(
        parse("a eq 1 or b eq 2 and c eq 3"),
        Filter::or(
            cmp(a("a"), CompareOp::Eq, num(1)),
            Filter::and(
                cmp(a("b"), CompareOp::Eq, num(2)),
                cmp(a("c"), CompareOp::Eq, num(3))
            )
        )
    );
    assert_eq!(
        parse("a pr and b pr or c pr"),
        Filter::or(Filter::and(fa(), fb()), fc())
    );
    assert_eq!(
        parse("not (a pr) and b pr"),
        Filter::and(Filter::negate(fa()), fb())
    );
    assert_eq!(
        parse("a pr or b pr or c pr"),
        Filter::or(Filter::or(fa(), fb()), fc())
    );
    assert_eq!(
        parse("a pr and b pr and c pr"),
        Filter::and(Filter::and(fa(), fb()), fc())
    );
    assert_eq!(
        parse("a pr and (b pr or c pr)"),
        Filter::and(fa(), Filter::or(fb(), fc()))
    );
    assert_eq!(
        parse("a pr or (b pr or c pr)"),
        Filter::or(fa(), Filter::or(fb(), fc()))
    );
    assert_eq!(parse("((a pr))"), fa());
    assert_eq!(parse("not(a pr)"), Filter::negate(fa()));
    assert_eq!(parse("NOT (a pr)"), Filter::negate(fa()));
    assert_eq!(
        parse("not (not (a pr))"),
        Filter::negate(Filter::negate(fa()))
    );
    assert_eq!(
        parse("a pr AND b pr Or c pr"),
        Filter::or(Filter::and(fa(), fb()), fc())
    );
}

#[test]
fn display_keeps_shape() {
    for text in [
        "a pr and (b pr or c pr)",
        "a pr or (b pr or c pr)",
        "a pr and (b pr and c pr)",
        "(a pr or b pr) and c pr",
        "not (a pr or b pr) and c pr",
        r#"emails[(type eq "work" or type eq "home") and primary eq true]"#,
    ] {
        let f = parse(text);
        assert_eq!(f.to_string(), text);
        assert_eq!(parse(&f.to_string()), f);
    }
    assert_eq!(parse("((a pr))   OR  b PR").to_string(), "a pr or b pr");
    assert_eq!(
        parse(r#"x eq "a\"b\\c\nd" and y eq TRUE and z eq Null"#).to_string(),
        r#"x eq "a\"b\\c\nd" and y eq true and z eq null"#
    );
}

#[test]
fn value_paths_and_urns() {
    assert_eq!(
        parse(r#"emails[type eq "work"]"#),
        vp("emails", eq("type", "work"))
    );
    assert_eq!(
        parse(r#"emails[not (type eq "work")]"#),
        vp("emails", Filter::negate(eq("type", "work")))
    );
    assert_eq!(parse("emails[primary pr]"), vp("emails", pr("primary")));
    assert_eq!(
        parse(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#
        ),
        cmp(a("employeeNumber").in_schema(ENT), CompareOp::Eq, s("1"))
    );
    assert_eq!(
        parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "B""#),
        cmp(
            AttrPath::with_sub("name", "givenName").in_schema(USER_URN),
            CompareOp::Eq,
            s("B")
        )
    );
    assert_eq!(
        parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#),
        cmp(
            AttrPath::with_sub("manager", "value").in_schema(ENT),
            CompareOp::Eq,
            s("x")
        )
    );
    assert_eq!(
        parse(r#"members[$ref eq "x"]"#),
        vp("members", eq("$ref", "x"))
    );
    assert_eq!(
        parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]"#),
        Filter::ValuePath {
            attr: a("emails").in_schema(USER_URN),
            filter: Box::new(eq("type", "work")),
        }
    );
}

#[test]
fn entra_value_path_sub_attribute_form() {
    assert_eq!(
        parse(r#"emails[type eq "work"].value eq "x@y""#),
        vp(
            "emails",
            Filter::and(eq("type", "work"), eq("value", "x@y"))
        )
    );
    assert_eq!(
        parse(r#"emails[type eq "work" or type eq "home"].value pr and active eq true"#),
        Filter::and(
            vp(
                "emails",
                Filter::and(
                    Filter::or(eq("type", "work"), eq("type", "home")),
                    pr("value")
                )
            ),
            cmp(a("active"), CompareOp::Eq, CompValue::Bool(true))
        )
    );
    assert!(parse_err(r#"emails[type eq "work"].value"#).contains("expected an operator"));
    parse_err(r#"emails[type eq "work"].value.x eq "1""#);
    parse_err(r#"emails[type eq "work"]."value" eq "1""#);
}

#[test]
fn literals() {
    let value = |text: &str| match parse(&format!("x eq {text}")) {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(value("true"), CompValue::Bool(true));
    assert_eq!(value("False"), CompValue::Bool(false));
    assert_eq!(value("NULL"), CompValue::Null);
    assert_eq!(value("42"), num(42));
    assert_eq!(value("-7"), num(-7));
    assert_eq!(value("0"), num(0));
    assert_eq!(
        value("18446744073709551615"),
        CompValue::Number(u64::MAX.into())
    );
    let float = |f: f64| CompValue::Number(serde_json::Number::from_f64(f).unwrap());
    assert_eq!(value("1.5"), float(1.5));
    assert_eq!(value("-1.5e3"), float(-1500.0));
    assert_eq!(value("2E-2"), float(0.02));
    assert_eq!(value("1e+2"), float(100.0));
    assert_eq!(value(r#""""#), s(""));
    assert_eq!(
        value(r#""q\" b\\ s\/ \b\f\n\r\t""#),
        s("q\" b\\ s/ \u{8}\u{c}\n\r\t")
    );
    assert_eq!(value(r#""\u00e9\u00E9""#), s("éé"));
    assert_eq!(value(r#""\ud83d\ude00""#), s("😀"));
    assert_eq!(value(r#""héllo 😀""#), s("héllo 😀"));
    assert_eq!(value(r#""a and b or not (c)""#), s("a and b or not (c)"));
    for bad in [
        r#""\x""#,
        r#""\u12""#,
        r#""\u12g4""#,
        r#""\ud83d""#,
        r#""\ud83d\u0041""#,
        r#""\ude00""#,
        "\"a\u{1}b\"",
        "\"tab\there\"",
        r#""unterminated"#,
        r#""ends in backslash\"#,
        "01",
        "1.",
        ".5",
        "1e",
        "--1",
        "+1",
        "1e999",
        "bjensen",
        "'single'",
    ] {
        parse_err(&format!("x eq {bad}"));
    }
}

#[test]
fn whitespace_and_case() {
    let want = eq("userName", "x");
    for text in [
        r#"userName    eq     "x""#,
        "userName\teq\t\"x\"",
        "  userName eq \"x\"  ",
        "\nuserName\r\neq \"x\"\n",
        r#"userName EQ "x""#,
    ] {
        assert_eq!(parse(text), want, "{text:?}");
    }
    assert_eq!(parse("title PR"), pr("title"));
    assert_eq!(parse("( title pr )"), pr("title"));
}

#[test]
fn bad_inputs_are_invalid_filter() {
    let cases = [
        ("", "end of the input"),
        ("   ", "end of the input"),
        ("(title pr", "')'"),
        ("title pr)", "')'"),
        ("((title pr)", "')'"),
        (r#"emails[type eq "work""#, "']'"),
        (r#"emails type eq "work"]"#, "operator"),
        ("userName eq", "a value"),
        ("userName eq and", "a value"),
        (r#"userName xx "a""#, "unknown operator 'xx'"),
        (r#"userName === "a""#, "unexpected character '='"),
        (r#"userName eq "a" garbage"#, "'garbage'"),
        (r#"userName eq "a" "b""#, "a string"),
        ("not title pr", "'not' must be followed by '('"),
        ("title pr and not title pr", "'not' must be followed by '('"),
        (r#"title pr "x""#, "a string"),
        ("userName", "operator"),
        ("and title pr", "operator"),
        ("title pr and", "an attribute name"),
        ("title pr or or b pr", "operator"),
        ("()", "an attribute name"),
        ("1abc pr", "an attribute name"),
        ("_abc pr", "unexpected character '_'"),
        ("name.given.family pr", "more than one sub-attribute"),
        ("name. pr", "not a valid attribute path"),
        ("urn:x: pr", "not a valid"),
        (r#"emails[type eq "work"][primary eq true]"#, "'['"),
        (r#"emails[ims[type eq "x"]]"#, "cannot nest"),
        (r#"emails[emails.type eq "x"]"#, "plain sub-attribute names"),
        (r#"emails[urn:x:type eq "x"]"#, "plain sub-attribute names"),
        (
            r#"name.givenName[value eq "x"]"#,
            "cannot follow a sub-attribute",
        ),
        ("title pr ]", "']'"),
        ("title pr;", "unexpected character ';'"),
        ("userName eq \"x\" \u{0}", "U+0000"),
    ];
    for (text, needle) in cases {
        let detail = parse_err(text);
        assert!(
            detail.contains(needle),
            "{text:?}: {detail:?} lacks {needle:?}"
        );
        assert!(detail.contains("position"), "{text:?}: {detail:?}");
    }
}

#[test]
fn error_positions_are_character_offsets() {
    let detail = parse_err(r#"name.familyName eq "Ω" and xx yy "a""#);
    assert!(detail.contains("position 30"), "{detail}");
    assert!(detail.contains("unknown operator 'yy'"), "{detail}");
}

#[test]
fn error_details_do_not_echo_values_or_long_input() {
    let detail = parse_err(r#"userName eq "secret-value" "another-secret""#);
    assert!(!detail.contains("secret"), "{detail}");
    let long_name = "a".repeat(500);
    let detail = parse_err(&format!("{long_name} xx 1"));
    assert!(detail.len() < 200, "{detail}");
    let detail = parse_err(&format!("title pr {long_name}"));
    assert!(detail.len() < 200, "{detail}");
}

fn nested(depth: usize) -> String {
    format!("{}title pr{}", "(".repeat(depth), ")".repeat(depth))
}

#[test]
fn nesting_limit() {
    assert_eq!(parse(&nested(MAX_FILTER_DEPTH)), pr("title"));
    let detail = parse_err(&nested(MAX_FILTER_DEPTH + 1));
    assert!(
        detail.contains("nesting is deeper than the maximum of 50"),
        "{detail}"
    );
    // `not (` and `[` count too.
    let nots = format!(
        "{}title pr{}",
        "not (".repeat(MAX_FILTER_DEPTH + 1),
        ")".repeat(MAX_FILTER_DEPTH + 1)
    );
    assert!(parse_err(&nots).contains("nesting"));
    let in_value = format!(
        "{}emails[{}type pr{}]{}",
        "(".repeat(25),
        "(".repeat(25),
        ")".repeat(25),
        ")".repeat(25)
    );
    assert!(parse_err(&in_value).contains("nesting"));
    // Huge unbalanced nesting fails fast and without a stack overflow.
    assert!(parse_err(&"(".repeat(MAX_FILTER_LEN)).contains("nesting"));
    assert!(parse_err(&"not (".repeat(1000)).contains("nesting"));
}

#[test]
fn length_limit() {
    let pad = MAX_FILTER_LEN - "title pr".len();
    let ok = format!("{}title pr", " ".repeat(pad));
    assert_eq!(ok.len(), MAX_FILTER_LEN);
    assert_eq!(parse(&ok), pr("title"));
    let detail = parse_err(&format!(" {ok}"));
    assert!(detail.contains("8193 bytes"), "{detail}");
    assert!(detail.contains("8192"), "{detail}");
    let e = parse_path(&"a".repeat(MAX_FILTER_LEN + 1)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidPath);
}

/// The longest flat chain the length limit allows parses, prints, binds and
/// evaluates without exhausting a test thread's stack.
#[test]
fn longest_chain_is_stack_safe() {
    let unit = "title pr or ";
    let n = MAX_FILTER_LEN / unit.len();
    let text = format!("{}title pr", unit.repeat(n - 1));
    assert!(text.len() <= MAX_FILTER_LEN);
    let f = parse(&text);
    assert_eq!(parse(&f.to_string()), f);
    let f = scim_protocol::filter::bind_filter(f, &crate::fixture::USER).unwrap();
    let user = serde_json::json!({"title": "x"});
    assert!(scim_protocol::filter::matches(
        &f,
        &user,
        &crate::fixture::USER
    ));
    let chain = format!(
        "{}title pr",
        "title pr and ".repeat(MAX_FILTER_LEN / 13 - 1)
    );
    assert!(!scim_protocol::filter::matches(
        &crate::fixture::bound(&chain),
        &serde_json::json!({}),
        &crate::fixture::USER
    ));
}

#[test]
fn patch_paths() {
    assert_eq!(
        path("members"),
        PatchPath {
            attr: a("members"),
            value_filter: None,
            sub_attr: None
        }
    );
    assert_eq!(
        path("name.familyName"),
        PatchPath {
            attr: AttrPath::with_sub("name", "familyName"),
            value_filter: None,
            sub_attr: None
        }
    );
    assert_eq!(
        path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#),
        PatchPath {
            attr: a("members"),
            value_filter: Some(eq("value", "2819c223-7f76-453a-919d-413861904646")),
            sub_attr: None
        }
    );
    assert_eq!(
        path(r#"emails[type eq "work"].value"#),
        PatchPath {
            attr: a("emails"),
            value_filter: Some(eq("type", "work")),
            sub_attr: Some("value".into())
        }
    );
    assert_eq!(
        path(r#"addresses[type eq "work" and primary eq true].streetAddress"#),
        PatchPath {
            attr: a("addresses"),
            value_filter: Some(Filter::and(
                eq("type", "work"),
                cmp(a("primary"), CompareOp::Eq, CompValue::Bool(true))
            )),
            sub_attr: Some("streetAddress".into())
        }
    );
    assert_eq!(
        path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
        PatchPath {
            attr: AttrPath::with_sub("manager", "value").in_schema(ENT),
            value_filter: None,
            sub_attr: None
        }
    );
    assert_eq!(
        path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
        PatchPath {
            attr: a("employeeNumber").in_schema(ENT),
            value_filter: None,
            sub_attr: None
        }
    );
    for text in [
        "members",
        "name.familyName",
        r#"emails[type eq "work"].value"#,
        r#"emails[type eq "work" or not (primary eq true)]"#,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    ] {
        assert_eq!(path(text).to_string(), text);
    }
}

#[test]
fn bad_patch_paths_are_invalid_path() {
    for text in [
        "",
        "   ",
        "members[",
        r#"members[value eq "x""#,
        r#"members[value eq "x"]."#,
        r#"members[value eq "x"].value.x"#,
        r#"members[value eq "x"].value eq "y""#,
        r#"members[value eq "x"][type eq "y"]"#,
        r#"members value"#,
        r#"name.givenName[value eq "x"]"#,
        r#"emails[emails[type eq "x"]]"#,
        "name.given.family",
        "1abc",
        r#""userName""#,
        "userName eq \"x\"",
        "not (userName pr)",
    ] {
        let e = parse_path(text).expect_err(text);
        assert_eq!(e.kind, ErrorKind::InvalidPath, "{text:?}: {e}");
    }
}
