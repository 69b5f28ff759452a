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

    async fn unknown_and_url_attributes_are_refused_not_ignored(app: TestApp) {
        app.create_user("who@example.com").await;
        for filter in ["nope eq \"CTO\"", "meta.location eq \"http://scim.test/scim/v2/Users/x\""] {
            let response = app.get(&format!("/scim/v2/Users?filter={}", encode(filter))).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{filter}: {}", response.body);
            assert_eq!(response.body["scimType"], "invalidFilter");
        }
    }
}
