//! Property tests: the parsers are total (never panic) on any input, and the
//! canonical `Display` form re-parses to the same tree.

use proptest::prelude::*;
use scim_protocol::filter::{bind_filter, bind_path, matches, parse_filter, parse_path};
use scim_protocol::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use serde_json::{Number, json};

use crate::fixture::{ENT, USER};

/// Runs everything downstream of a successful parse, which must not panic either.
fn exercise(f: Filter) {
    let printed = f.to_string();
    assert_eq!(
        parse_filter(&printed).as_ref(),
        Ok(&f),
        "canonical form {printed:?} must re-parse"
    );
    if let Ok(bound) = bind_filter(f, &USER) {
        let resource = json!({
            "userName": "a", "active": true, "loginCount": 3,
            "emails": [{"value": "x@y", "type": "work"}, null, 5],
            "meta": {"created": "2026-01-01T00:00:00Z"},
            ENT: {"employeeNumber": "1"}
        });
        let _ = matches(&bound, &resource, &USER);
        assert_eq!(parse_filter(&bound.to_string()).as_ref(), Ok(&bound));
    }
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ".",
    "not",
    "NOT",
    "and",
    "or",
    "Or",
    "eq",
    "ne",
    "co",
    "sw",
    "ew",
    "gt",
    "ge",
    "lt",
    "le",
    "pr",
    "EQ",
    "true",
    "false",
    "null",
    "\"x\"",
    "\"\\u00e9\"",
    "\"\\ud83d\"",
    "\"a\\\"b\"",
    "1",
    "-2.5e3",
    "0.0",
    "emails",
    "type",
    "value",
    "userName",
    "name.givenName",
    "name.",
    "meta.created",
    "\"2026-01-01T00:00:00Z\"",
    "active",
    "primary",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:core:2.0:User:emails",
    "$ref",
    "\"",
    "\\",
    "é",
    ":",
    "-",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(TOKENS),
            prop::sample::select(&[" ", "", "  ", "\t"][..]),
        ),
        0..24,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(t, sep)| format!("{t}{sep}"))
            .collect()
    })
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,6}",
        Just("$ref".to_owned()),
        prop::sample::select(
            &[
                "emails", "value", "type", "userName", "and", "or", "pr", "eq", "true"
            ][..]
        )
        .prop_map(str::to_owned),
    ]
    .prop_filter("`not` starts a negation", |n| {
        !n.eq_ignore_ascii_case("not")
    })
}

fn urn() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(
            &[
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "urn:example:x-1.0",
            ][..],
        )
        .prop_map(str::to_owned),
    )
}

fn top_path() -> impl Strategy<Value = AttrPath> {
    (urn(), name(), prop::option::of(name())).prop_map(|(schema, name, sub_attr)| AttrPath {
        schema,
        name,
        sub_attr,
    })
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(
        &[
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ][..],
    )
}

fn value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(CompValue::Number),
        any::<String>().prop_map(CompValue::Str),
    ]
}

fn tree(
    leaf: impl Strategy<Value = Filter> + Clone + 'static,
) -> impl Strategy<Value = Filter> + Clone {
    leaf.prop_recursive(5, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Filter::negate),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
            (inner.clone(), inner).prop_map(|(a, b)| Filter::or(a, b)),
        ]
    })
}

/// A filter inside `[...]`: plain names, no nested value paths.
fn value_filter() -> impl Strategy<Value = Filter> + Clone {
    let leaf = prop_oneof![
        (name(), op(), value()).prop_map(|(n, op, value)| Filter::Compare {
            path: AttrPath::new(n),
            op,
            value
        }),
        name().prop_map(|n| Filter::Present(AttrPath::new(n))),
    ];
    tree(leaf)
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        3 => (top_path(), op(), value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => top_path().prop_map(Filter::Present),
        1 => (urn(), name(), value_filter()).prop_map(|(schema, name, f)| Filter::ValuePath {
            attr: AttrPath { schema, name, sub_attr: None },
            filter: Box::new(f),
        }),
    ];
    tree(leaf)
}

fn patch_path() -> impl Strategy<Value = PatchPath> {
    prop_oneof![
        top_path().prop_map(|attr| PatchPath {
            attr,
            value_filter: None,
            sub_attr: None
        }),
        (urn(), name(), value_filter(), prop::option::of(name())).prop_map(
            |(schema, name, f, sub_attr)| PatchPath {
                attr: AttrPath {
                    schema,
                    name,
                    sub_attr: None
                },
                value_filter: Some(f),
                sub_attr,
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsers_are_total_on_arbitrary_text(s in any::<String>()) {
        if let Ok(f) = parse_filter(&s) {
            exercise(f);
        }
        if let Ok(p) = parse_path(&s) {
            let _ = bind_path(p, &USER);
        }
    }

    #[test]
    fn parsers_are_total_on_token_soup(s in token_soup()) {
        if let Ok(f) = parse_filter(&s) {
            exercise(f);
        }
        if let Ok(p) = parse_path(&s) {
            prop_assert_eq!(parse_path(&p.to_string()), Ok(p.clone()));
            let _ = bind_path(p, &USER);
        }
    }

    #[test]
    fn display_round_trips(f in filter()) {
        let printed = f.to_string();
        prop_assert_eq!(parse_filter(&printed), Ok(f), "printed as {:?}", printed);
    }

    #[test]
    fn path_display_round_trips(p in patch_path()) {
        let printed = p.to_string();
        prop_assert_eq!(parse_path(&printed), Ok(p), "printed as {:?}", printed);
    }

    /// `ne` is `not eq` on any resource, bound or not.
    #[test]
    fn ne_is_not_eq(name in prop::sample::select(&["userName", "emails.value", "title", "loginCount", "active"][..]),
                    v in value()) {
        let resource = json!({"userName": "a", "emails": [{"value": "a"}, {"value": "B"}], "loginCount": 1, "active": false});
        let path = parse_filter(&format!("{name} pr")).map(|f| match f {
            Filter::Present(p) => p,
            _ => AttrPath::new(name),
        }).unwrap();
        let eq = Filter::Compare { path: path.clone(), op: CompareOp::Eq, value: v.clone() };
        let ne = Filter::Compare { path, op: CompareOp::Ne, value: v };
        prop_assert_eq!(matches(&ne, &resource, &USER), !matches(&eq, &resource, &USER));
    }
}
