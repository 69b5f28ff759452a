//! One filter corpus, answered twice: by the gateway's SQL translation (through
//! the HTTP API) and by the protocol crate's in-memory evaluator over the same
//! resources. The two must agree on every filter, on every backend.

use actix_web::http::StatusCode;
use scim_protocol::filter::{matches, parse_bound_filter};
use scim_protocol::schema::USER_RESOURCE;
use serde_json::{Value, json};

use crate::backend_tests;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn ids(resources: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = resources
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

const CORPUS: &[&str] = &[
    "userName eq \"ann@example.com\"",
    "userName eq \"ANN@EXAMPLE.COM\"",
    "userName ne \"ann@example.com\"",
    "userName co \"EXAMPLE\"",
    "userName sw \"b\"",
    "userName ew \".org\"",
    "userName co \"%\"",
    "userName co \"_\"",
    "userName co \"50%_off\"",
    "userName gt \"c\"",
    "userName le \"bob@example.org\"",
    "externalId eq \"EXT-1\"",
    "externalId eq \"ext-1\"",
    "externalId pr",
    "not (externalId pr)",
    "externalId ne \"EXT-1\"",
    "displayName pr",
    "displayName eq \"Ann A\"",
    "displayName ne \"Ann A\"",
    "not (displayName eq \"Ann A\")",
    "name.givenName sw \"an\"",
    "name.familyName eq \"Zed\"",
    "active eq true",
    "active eq false",
    "active ne true",
    "active pr",
    "emails pr",
    "not (emails pr)",
    "emails.value co \"@work\"",
    "emails co \"@home\"",
    "emails.type eq \"work\"",
    "emails.primary eq true",
    "emails[type eq \"work\"]",
    "emails[type eq \"work\" and value ew \".org\"]",
    "emails[type eq \"work\"].value eq \"bob@work.org\"",
    "emails[not (type eq \"work\")]",
    "emails.value ne \"bob@work.org\"",
    "meta.created gt \"2000-01-01T00:00:00Z\"",
    "meta.created lt \"2000-01-01T00:00:00+01:00\"",
    "meta.lastModified ge \"1999-12-31T23:00:00-01:00\"",
    "userName sw \"a\" or userName sw \"b\" and active eq true",
    "(userName sw \"a\" or userName sw \"b\") and active eq true",
    "not (userName sw \"a\" or emails pr) or displayName pr",
    "USERNAME Eq \"ann@example.com\" AND NOT (Active eq false)",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"c\"",
];

backend_tests! {
    async fn sql_and_evaluator_agree_on_the_corpus(app: TestApp) {
        let users = [
            json!({"schemas": [USER], "userName": "ann@example.com", "externalId": "EXT-1", "displayName": "Ann A",
                   "name": {"givenName": "Anna", "familyName": "Zed"}, "active": true,
                   "emails": [{"value": "ann@work.com", "type": "work", "primary": true}, {"value": "ann@home.net", "type": "home"}]}),
            json!({"schemas": [USER], "userName": "bob@example.org", "active": false,
                   "emails": [{"value": "Bob@Work.org", "type": "work"}]}),
            json!({"schemas": [USER], "userName": "carl_50%_off@example.com", "externalId": "ext-1", "displayName": "",
                   "name": {"givenName": "Carl"}}),
            json!({"schemas": [USER], "userName": "BETTY@example.com", "active": true, "displayName": "Betty",
                   "emails": [{"value": "betty@home.org", "type": "home"}]}),
            json!({"schemas": [USER], "userName": "dora@example.org", "externalId": "ext-2", "active": true}),
        ];
        for user in &users {
            let created = app.post("/scim/v2/Users", user).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        }
        let all = app.get("/scim/v2/Users?count=50").await;
        let resources = all.body["Resources"].as_array().expect("resources").clone();
        assert_eq!(resources.len(), users.len());

        let mut disagreements = Vec::new();
        for filter in CORPUS {
            let bound = parse_bound_filter(filter, &USER_RESOURCE).unwrap_or_else(|e| panic!("{filter}: {e}"));
            let expected: Vec<Value> = resources.iter().filter(|r| matches(&bound, r, &USER_RESOURCE)).cloned().collect();
            let response = app.get(&format!("/scim/v2/Users?count=50&filter={}", encode(filter))).await;
            assert_eq!(response.status, StatusCode::OK, "{filter}: {}", response.body);
            let got = response.body["Resources"].as_array().cloned().unwrap_or_default();
            assert_eq!(response.body["totalResults"].as_u64(), Some(got.len() as u64), "{filter}");
            if ids(&got) != ids(&expected) {
                disagreements.push(format!("{filter}: sql {} vs evaluator {}", got.len(), expected.len()));
            }
        }
        assert!(disagreements.is_empty(), "SQL and evaluator disagree:\n{}", disagreements.join("\n"));
    }

    async fn unknown_and_hidden_attributes_are_refused_not_ignored(app: TestApp) {
        app.create_user("who@example.com").await;
        for filter in ["nope eq \"CTO\"", "password eq \"secret\"", "emails.nope pr"] {
            let response = app.get(&format!("/scim/v2/Users?filter={}", encode(filter))).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{filter}: {}", response.body);
            assert_eq!(response.body["scimType"], "invalidFilter");
        }
    }
}

// ---------------------------------------------------------------------------
// Every attribute of /Schemas: filters and sortBy generated from the schema
// definitions, over a fixture with varied values, SQL against the evaluator
// (filters) and against an in-memory RFC 7644 §3.4.2.3 sort (sortBy).

use scim_protocol::schema::{
    AttributeDef, AttributeType, COMMON_ATTRIBUTES, GROUP_RESOURCE, ResourceType, Returned,
};
use std::cmp::Ordering;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn fixture_users() -> Vec<Value> {
    vec![
        json!({"schemas": [USER, ENTERPRISE], "userName": "ann@example.com", "externalId": "EXT-1",
               "name": {"formatted": "Ann Zed", "familyName": "Zed", "givenName": "Anna", "middleName": "Ärzte",
                        "honorificPrefix": "Dr.", "honorificSuffix": "III"},
               "displayName": "Ann A", "nickName": "Annie", "profileUrl": "https://example.com/Ann",
               "title": "Vice President", "userType": "Employee", "preferredLanguage": "en-US",
               "locale": "en-US", "timezone": "America/Los_Angeles", "active": true, "password": "Secret1!",
               "emails": [{"value": "ann@work.com", "type": "work", "primary": true, "display": "Ann Work"},
                          {"value": "ann@home.net", "type": "home"}],
               "phoneNumbers": [{"value": "+1 555 0100", "type": "work", "primary": true}, {"value": "+1 555 0199", "type": "mobile"}],
               "ims": [{"value": "ann_im", "type": "xmpp"}],
               "photos": [{"value": "https://photos.example.com/ann.jpg", "type": "photo"}],
               "addresses": [{"formatted": "1 Main St", "streetAddress": "1 Main St", "locality": "Springfield", "region": "IL",
                              "postalCode": "62701", "country": "US", "type": "work", "primary": true},
                             {"postalCode": "10115", "locality": "Berlin", "country": "DE", "type": "home"}],
               "entitlements": [{"value": "Admin"}],
               "roles": [{"value": "Reader", "primary": true, "type": "x", "display": "R"}],
               "x509Certificates": [{"value": "TUlJQ0FB"}],
               ENTERPRISE: {"employeeNumber": "701", "costCenter": "CC-1", "organization": "Acme", "division": "R&D",
                            "department": "Ärzte", "manager": {"value": "M-1", "$ref": "https://x.example/Users/M-1"}}}),
        json!({"schemas": [USER, ENTERPRISE], "userName": "bob@example.org", "active": false, "title": "vice PRESIDENT",
               "nickName": "İlke", "name": {"givenName": "bob", "honorificPrefix": "dr."},
               "emails": [{"value": "Bob@Work.org", "type": "work"}],
               "phoneNumbers": [{"value": "+49 30 1234", "type": "work"}],
               "addresses": [{"postalCode": "62701", "type": "home", "region": "il"}],
               "entitlements": [{"value": "admin", "primary": true}, {"value": "User"}],
               "roles": [{"value": "reader"}],
               "x509Certificates": [{"value": "tUlJQ0FB", "primary": true}, {"value": "QUJD"}],
               ENTERPRISE: {"employeeNumber": "702", "department": "ärzte", "manager": {"value": "m-1"}}}),
        json!({"schemas": [USER, ENTERPRISE], "userName": "carl_50%_off@example.com", "externalId": "ext-1", "displayName": "",
               "name": {"givenName": "Carl"}, "title": "", "nickName": "i̇lke", "profileUrl": "https://EXAMPLE.com/carl",
               "locale": "de-DE", "timezone": "Europe/Berlin", "userType": "Contractor",
               ENTERPRISE: {"employeeNumber": "", "costCenter": "cc-2"}}),
        json!({"schemas": [USER, ENTERPRISE], "userName": "BETTY@example.com", "active": true, "displayName": "Betty",
               "emails": [{"value": "betty@home.org", "type": "home"}],
               "photos": [{"value": "https://photos.example.com/Betty.png", "type": "thumbnail", "primary": true}],
               "ims": [{"value": "Betty", "type": "skype"}, {"value": "betty2", "type": "icq", "primary": true}],
               ENTERPRISE: {"costCenter": "cc-1", "organization": "ACME", "division": "r&d"}}),
        json!({"schemas": [USER], "userName": "dora@example.org", "externalId": "ext-2", "active": true}),
        json!({"schemas": [USER], "userName": "İda@example.com", "preferredLanguage": "de",
               "addresses": [{"formatted": "Straße 1\nBerlin", "type": "other"}],
               "phoneNumbers": [{"value": "+1 555 0100", "display": "main"}]}),
    ]
}

/// A path's leaf values in a rendered resource, as the evaluator finds them
/// (canonical names, so exact keys).
fn values_at<'v>(resource: &'v Value, path: &Leaf) -> Vec<&'v Value> {
    let container = match path.extension {
        Some(urn) => resource.get(urn),
        None => Some(resource),
    };
    let Some(top) = container.and_then(|c| c.get(path.attr.name)) else {
        return Vec::new();
    };
    let flat = |v: &'v Value| -> Vec<&'v Value> {
        match v {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            other => vec![other],
        }
    };
    match path.sub {
        None => flat(top),
        Some(sub) => flat(top)
            .into_iter()
            .filter_map(|e| e.get(sub.name))
            .collect(),
    }
}

/// One attribute or sub-attribute of a resource type.
struct Leaf {
    extension: Option<&'static str>,
    attr: &'static AttributeDef,
    sub: Option<&'static AttributeDef>,
}

impl Leaf {
    fn def(&self) -> &'static AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    fn path(&self) -> String {
        let mut out = String::new();
        if let Some(urn) = self.extension {
            out.push_str(urn);
            out.push(':');
        }
        out.push_str(self.attr.name);
        if let Some(sub) = self.sub {
            out.push('.');
            out.push_str(sub.name);
        }
        out
    }
}

/// Every attribute, and every sub-attribute of the complex ones.
fn leaves(rt: &'static ResourceType) -> Vec<Leaf> {
    let mut out = Vec::new();
    let mut add = |extension: Option<&'static str>, attrs: &'static [AttributeDef]| {
        for attr in attrs {
            if attr.returned == Returned::Never {
                continue;
            }
            out.push(Leaf {
                extension,
                attr,
                sub: None,
            });
            for sub in attr.sub_attributes {
                out.push(Leaf {
                    extension,
                    attr,
                    sub: Some(sub),
                });
            }
        }
    };
    add(None, COMMON_ATTRIBUTES);
    add(None, rt.schema.attributes);
    for e in rt.extensions {
        add(Some(e.schema.id), e.schema.attributes);
    }
    out
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Filters for one leaf with each operator that applies, operands taken
/// from the fixture (as stored, case-swapped, parts of them) and non-ASCII.
fn filters_for(leaf: &Leaf, resources: &[Value]) -> Vec<String> {
    let path = leaf.path();
    let def = leaf.def();
    let mut out = vec![format!("{path} pr"), format!("not ({path} pr)")];
    if def.kind == AttributeType::Complex {
        return out;
    }
    out.push(format!("{path} eq null"));
    out.push(format!("{path} ne null"));
    let mut seen: Vec<String> = Vec::new();
    for r in resources {
        for v in values_at(r, leaf) {
            if let Some(s) = v.as_str()
                && !seen.iter().any(|x| x == s)
            {
                seen.push(s.to_owned());
            }
        }
    }
    match def.kind {
        AttributeType::Boolean => {
            for op in ["eq true", "eq false", "ne true", "ne false"] {
                out.push(format!("{path} {op}"));
            }
        }
        AttributeType::DateTime => {
            for s in seen.iter().take(2) {
                let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
                let shifted = t
                    .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap())
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
                for op in ["eq", "ne", "gt", "ge", "lt", "le"] {
                    out.push(format!("{path} {op} {}", quoted(&shifted)));
                }
            }
        }
        _ => {
            let mut operands: Vec<String> = seen.iter().take(3).cloned().collect();
            operands.extend(seen.iter().take(2).map(|s| s.to_uppercase()));
            operands.extend(["Ärzte", "ärzte", "İ", "i̇", "", "m"].map(str::to_owned));
            let ordering = def.kind != AttributeType::Binary;
            for v in &operands {
                for op in ["eq", "ne", "co", "sw", "ew"] {
                    out.push(format!("{path} {op} {}", quoted(v)));
                }
                if ordering {
                    for op in ["gt", "ge", "lt", "le"] {
                        out.push(format!("{path} {op} {}", quoted(v)));
                    }
                }
            }
            for s in seen.iter().take(2) {
                let chars: Vec<char> = s.chars().collect();
                let n = chars.len();
                if n >= 3 {
                    let prefix: String = chars[..2].iter().collect();
                    let middle: String = chars[1..n - 1].iter().collect();
                    let suffix: String = chars[n - 2..].iter().collect();
                    out.push(format!("{path} sw {}", quoted(&prefix.to_uppercase())));
                    out.push(format!("{path} co {}", quoted(&middle)));
                    out.push(format!("{path} ew {}", quoted(&suffix)));
                }
            }
        }
    }
    // A value filter over the attribute's element with this sub-attribute.
    if leaf.attr.multi_valued
        && leaf.attr.kind == AttributeType::Complex
        && let Some(sub) = leaf.sub
    {
        let attr = match leaf.extension {
            Some(urn) => format!("{urn}:{}", leaf.attr.name),
            None => leaf.attr.name.to_owned(),
        };
        out.push(format!("{attr}[{} pr]", sub.name));
        out.push(format!("{attr}[not ({} pr)]", sub.name));
        if let Some(s) = seen.first() {
            out.push(format!(
                "{attr}[{} eq {}]",
                sub.name,
                quoted(&s.to_uppercase())
            ));
            out.push(format!("{attr}[{} ne {}]", sub.name, quoted(s)));
            if leaf.attr.sub_attribute("type").is_some() {
                out.push(format!(
                    "{attr}[type eq \"work\" and {} co {}]",
                    sub.name,
                    quoted(s)
                ));
                out.push(format!(
                    "{attr}[type eq \"work\"].{} eq {}",
                    sub.name,
                    quoted(s)
                ));
            }
        }
        if leaf.attr.sub_attribute("primary").is_some() {
            out.push(format!("{attr}[primary eq true and {} pr]", sub.name));
            out.push(format!("{attr}[not (primary eq true)]"));
        }
    }
    out
}

/// RFC 7644 §3.4.2.3's sort value of a resource: the value (for a
/// multi-valued attribute, of the primary element, else the first), folded
/// unless caseExact; `None` when missing.
fn sort_key(resource: &Value, leaf: &Leaf) -> Option<SortKey> {
    let container = match leaf.extension {
        Some(urn) => resource.get(urn)?,
        None => resource,
    };
    let top = container.get(leaf.attr.name)?;
    let element = match top {
        Value::Array(items) => items
            .iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?,
        other => other,
    };
    let (value, def) = match leaf.sub {
        Some(sub) => (element.get(sub.name)?, sub),
        None if leaf.attr.kind == AttributeType::Complex => {
            match leaf.attr.sub_attribute("value") {
                Some(v) if leaf.attr.multi_valued => (element.get("value")?, v),
                _ => return None,
            }
        }
        None => (element, leaf.attr),
    };
    Some(match (def.kind, value) {
        (AttributeType::Boolean, Value::Bool(b)) => SortKey::Bool(*b),
        (AttributeType::DateTime, Value::String(s)) => SortKey::Instant(
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros(),
        ),
        (_, Value::String(s)) if def.case_exact => SortKey::Text(s.clone()),
        (_, Value::String(s)) => SortKey::Text(s.to_lowercase()),
        _ => return None,
    })
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
enum SortKey {
    Bool(bool),
    Instant(i64),
    Text(String),
}

fn sorted_ids(resources: &[Value], leaf: &Leaf, descending: bool) -> Vec<String> {
    let mut keyed: Vec<(Option<SortKey>, String)> = resources
        .iter()
        .map(|r| (sort_key(r, leaf), r["id"].as_str().unwrap().to_owned()))
        .collect();
    keyed.sort_by(|(a, ida), (b, idb)| {
        let by_value = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) if descending => b.cmp(a),
            (Some(a), Some(b)) => a.cmp(b),
        };
        by_value.then_with(|| ida.cmp(idb))
    });
    keyed.into_iter().map(|(_, id)| id).collect()
}

/// Runs every generated filter and sort of `rt` over `endpoint`'s listing.
async fn every_attribute(
    app: &crate::support::TestApp,
    rt: &'static ResourceType,
    endpoint: &str,
) -> (usize, Vec<String>) {
    let all = app.get(&format!("{endpoint}?count=50")).await;
    let resources = all.body["Resources"].as_array().expect("resources").clone();
    let mut disagreements = Vec::new();
    let mut checked = 0;
    for leaf in leaves(rt) {
        let path = leaf.path();
        for filter in filters_for(&leaf, &resources) {
            let bound = parse_bound_filter(&filter, rt).unwrap_or_else(|e| panic!("{filter}: {e}"));
            let expected: Vec<Value> = resources
                .iter()
                .filter(|r| matches(&bound, r, rt))
                .cloned()
                .collect();
            let response = app
                .get(&format!("{endpoint}?count=50&filter={}", encode(&filter)))
                .await;
            checked += 1;
            if response.status != StatusCode::OK {
                disagreements.push(format!("{filter}: {} {}", response.status, response.body));
                continue;
            }
            let got = response.body["Resources"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if ids(&got) != ids(&expected) {
                disagreements.push(format!(
                    "{filter}: sql {} vs evaluator {}",
                    got.len(),
                    expected.len()
                ));
            }
        }
        for (order, descending) in [("ascending", false), ("descending", true)] {
            let response = app
                .get(&format!(
                    "{endpoint}?count=50&sortBy={}&sortOrder={order}",
                    encode(&path)
                ))
                .await;
            checked += 1;
            if response.status != StatusCode::OK {
                disagreements.push(format!(
                    "sortBy={path} {order}: {} {}",
                    response.status, response.body
                ));
                continue;
            }
            let got: Vec<String> = response.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect();
            if got != sorted_ids(&resources, &leaf, descending) {
                disagreements.push(format!("sortBy={path} {order}: order differs"));
            }
        }
    }
    (checked, disagreements)
}

backend_tests! {
    async fn sql_agrees_with_the_evaluator_on_every_attribute(app: TestApp) {
        let mut user_ids = Vec::new();
        for user in fixture_users() {
            let created = app.post("/scim/v2/Users", &user).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            user_ids.push(created.body["id"].as_str().unwrap().to_owned());
        }
        let doctors = app.create_group("Ärzte", &[&user_ids[0], &user_ids[1]]).await;
        app.create_group("admins", &[&user_ids[0], &doctors]).await;
        app.create_group("Empty", &[]).await;
        let external = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "İdari", "externalId": "G-1",
                              "members": [{"value": user_ids[5]}]});
        assert_eq!(app.post("/scim/v2/Groups", &external).await.status, StatusCode::CREATED);

        let (users_checked, mut disagreements) = every_attribute(&app, &USER_RESOURCE, "/scim/v2/Users").await;
        let (groups_checked, group_disagreements) = every_attribute(&app, &GROUP_RESOURCE, "/scim/v2/Groups").await;
        disagreements.extend(group_disagreements);
        eprintln!("checked {users_checked} user and {groups_checked} group filters and sorts");
        assert!(users_checked > 2000 && groups_checked > 100, "{users_checked} {groups_checked}");
        assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    }
}
