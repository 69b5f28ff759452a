//! Bounded random inputs through the whole HTTP stack: malformed filters,
//! paths, bodies and headers must get a SCIM error (4xx), never a 5xx or a
//! panic. Deterministic (fixed seed) so a failure reproduces.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::backend_tests;

/// xorshift64*: enough randomness for input generation, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TOKENS: &[&str] = &[
    "userName",
    "emails",
    "name",
    ".",
    "givenName",
    "[",
    "]",
    "(",
    ")",
    " ",
    "eq",
    "ne",
    "co",
    "sw",
    "pr",
    "gt",
    "le",
    "and",
    "or",
    "not",
    "\"x\"",
    "\"",
    "true",
    "null",
    "12",
    "-1e999",
    "value",
    "type",
    "members",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
    "manager",
    "meta.created",
    "\"2026-01-01T00:00:00Z\"",
    "\\",
    "%",
    "\u{0}",
    "é",
    "$ref",
    "id",
    "active",
];

fn soup(rng: &mut Rng, max: usize) -> String {
    let n = 1 + rng.below(max);
    (0..n)
        .map(|_| rng.pick(TOKENS))
        .collect::<Vec<_>>()
        .join(if rng.below(3) == 0 { "" } else { " " })
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(soup(rng, 3)),
        4 => json!("False"),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                map.insert(rng.pick(TOKENS).to_owned(), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

fn encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn assert_client_error(what: &str, response: &crate::support::Response) {
    assert!(
        !response.status.is_server_error(),
        "{what}: {} {}",
        response.status,
        response.body
    );
    if response.status.is_client_error() && response.status != StatusCode::NOT_FOUND {
        assert_eq!(
            response.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{what}: {}",
            response.body
        );
    }
}

backend_tests! {
    async fn random_inputs_never_cause_server_errors(app: TestApp) {
        let mut rng = Rng(0x5EED_1234_ABCD_0001);
        let user = app.create_user("robust@example.com").await;
        let group = app.create_group("Robust", &[&user]).await;
        let cases = std::env::var("SCIM_ROBUSTNESS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
        for _ in 0..cases {
            let filter = soup(&mut rng, 8);
            let listed = app.get(&format!("/scim/v2/Users?filter={}&sortBy={}&attributes={}", encode(&filter), encode(&soup(&mut rng, 2)), encode(&soup(&mut rng, 2)))).await;
            assert_client_error(&format!("filter {filter:?}"), &listed);

            let op = json!({"op": rng.pick(&["add", "Replace", "remove", "bogus"]), "path": soup(&mut rng, 5), "value": random_value(&mut rng, 0)});
            let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]});
            let target = if rng.below(2) == 0 { format!("/scim/v2/Users/{user}") } else { format!("/scim/v2/Groups/{group}") };
            let patched = app.patch(&target, &patch).await;
            assert_client_error(&format!("patch {patch}"), &patched);

            let pathless = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": random_value(&mut rng, 0)}]});
            let patched = app.patch(&format!("/scim/v2/Users/{user}"), &pathless).await;
            assert_client_error(&format!("patch {pathless}"), &patched);

            let mut body = random_value(&mut rng, 0);
            if let Value::Object(map) = &mut body {
                map.insert("schemas".into(), json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
            }
            let created = app.post("/scim/v2/Users", &body).await;
            assert_client_error(&format!("post {body}"), &created);

            let headers = TestRequest::put()
                .uri(&format!("/scim/v2/Users/{user}"))
                .insert_header(("Authorization", if rng.below(4) == 0 { format!("bearer  {}", app.token) } else { format!("Bearer {}", app.token) }))
                // Header values must be visible ASCII to be sent at all.
                .insert_header(("If-Match", soup(&mut rng, 2).replace(|c: char| !c.is_ascii_graphic() && c != ' ', "?")))
                .insert_header(("Content-Type", rng.pick(&["application/scim+json", "application/json; charset=utf-8", "text/plain", "", "application/scim+json;;"])))
                .set_payload(soup(&mut rng, 6));
            let replaced = app.send(headers).await;
            assert_client_error("headers", &replaced);
        }
        // The user and group are still readable and consistent afterwards.
        assert_eq!(app.get(&format!("/scim/v2/Users/{user}")).await.status, StatusCode::OK);
        assert_eq!(app.get(&format!("/scim/v2/Groups/{group}")).await.status, StatusCode::OK);
    }
}
