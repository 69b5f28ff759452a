//! No personal value in a log line: the `scim-embedded` binary, logging at
//! debug level in JSON lines to a file, is driven like a careless IdP would
//! — a marker in userNames, names and e-mails, in filters (valid, malformed,
//! naming unknown attributes), in bodies that are not JSON or not a user, in
//! PATCH paths and values, in admin query strings — and the marker is in no
//! line it wrote, from its start to its stop (SIGTERM).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_KEY: &str = "logs-test-admin-key";

struct Embedded {
    child: Child,
    base: String,
    http: reqwest::Client,
    token: String,
    org: String,
}

impl Embedded {
    fn start(dir: &Path) -> Embedded {
        let port = test_support::process::free_port();
        let log = std::fs::File::create(dir.join("embedded.log")).unwrap();
        let data = dir.join("data");
        let child = Command::new(env!("CARGO_BIN_EXE_scim-embedded"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SCIM_HTTP__PORT", port.to_string())
            .env("SCIM_ADMIN_KEY", ADMIN_KEY)
            .env("SCIM_BOOTSTRAP__DATA_DIR", data.display().to_string())
            .env(
                "SCIM_DATABASE__URL",
                test_support::sqlite_url(&data, "gateway.db"),
            )
            .env("SCIM_LOG__FORMAT", "json")
            .env("RUST_LOG", "debug")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Embedded {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            token: String::new(),
            org: String::new(),
        }
    }

    /// Ready, and the demo organization and its token read from what it
    /// printed.
    async fn wait_ready(&mut self, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.http.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                !matches!(self.child.try_wait(), Ok(Some(_))),
                "scim-embedded exited"
            );
            assert!(Instant::now() < deadline, "scim-embedded not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let printed = std::fs::read_to_string(log).unwrap();
        let value = |label: &str| {
            printed
                .lines()
                .find_map(|l| l.strip_prefix(label))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, value)| value.trim().to_owned())
                .unwrap_or_else(|| panic!("{label} is printed"))
        };
        self.token = value("Bearer token");
        self.org = value("Organization");
    }

    /// A request with a raw body; the status and the answer's JSON.
    async fn send(&self, method: Method, path: &str, body: Option<String>) -> (u16, Value) {
        let bearer = if path.starts_with("/admin") {
            ADMIN_KEY
        } else {
            &self.token
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn scim(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        self.send(method, &format!("/scim/v2{path}"), Some(body.to_string()))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user(marker: &str, user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("ext-{marker}"),
        "name": {"givenName": format!("{marker}given"), "familyName": format!("{marker}family")},
        "displayName": format!("{marker} display"),
        "emails": [{"value": format!("{marker}@mail.example.com"), "type": "work", "primary": true}],
        "phoneNumbers": [{"value": format!("+1 555 {marker}"), "type": "work"}],
        "active": true
    })
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// The query string of `filter`, encoded.
fn filtered(path: &str, filter: &str) -> String {
    let url = reqwest::Url::parse_with_params("http://x", [("filter", filter)]).unwrap();
    format!("{path}?{}", url.query().unwrap())
}

#[actix_web::test]
async fn no_request_of_an_idp_puts_a_personal_value_in_a_log_line() {
    let dir = test_support::temp_dir("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("embedded.log");
    let mut embedded = Embedded::start(&dir);
    embedded.wait_ready(&log).await;
    let marker = test_support::privacy::new_marker();
    let user_name = format!("{marker}.user@example.com");

    // Accepted: a create, lookups by filter (GET and /.search), a rename.
    let (status, created) = embedded
        .scim(Method::POST, "/Users", user(&marker, &user_name))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let found = embedded
        .get(&filtered(
            "/scim/v2/Users",
            &format!("userName eq \"{user_name}\""),
        ))
        .await;
    assert_eq!(found.1["totalResults"], 1, "{found:?}");
    let (status, _) = embedded
        .get(&filtered(
            "/scim/v2/Users",
            &format!("emails[type eq \"work\"].value eq \"{marker}@mail.example.com\""),
        ))
        .await;
    assert_eq!(status, 200);
    let (status, _) = embedded
        .scim(
            Method::POST,
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": format!("name.familyName co \"{marker}\"")}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, renamed) = embedded
        .scim(
            Method::PATCH,
            &format!("/Users/{id}"),
            patch(json!([{"op": "replace", "path": "name.givenName", "value": format!("{marker}renamed")}])),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    let (status, _) = embedded
        .get(&filtered(
            "/scim/v2/Groups",
            &format!("displayName eq \"{marker}\""),
        ))
        .await;
    assert_eq!(status, 200);

    // Refused, each with an error naming what is wrong.
    let refusals: Vec<(Method, String, Option<String>)> = vec![
        // The userName is taken.
        (Method::POST, "/scim/v2/Users".into(), Some(user(&marker, &user_name).to_string())),
        // Malformed and unknown filters.
        (Method::GET, filtered("/scim/v2/Users", &format!("userName eq \"{marker}")), None),
        (Method::GET, filtered("/scim/v2/Users", &format!("{marker} eq \"x\"")), None),
        (Method::GET, filtered("/scim/v2/Users", &format!("userName zz \"{marker}\"")), None),
        // Not JSON; not a user; a value of the wrong type.
        (Method::POST, "/scim/v2/Users".into(), Some(format!("{{\"userName\": \"{marker}"))),
        (Method::POST, "/scim/v2/Users".into(), Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "displayName": marker}).to_string())),
        (Method::POST, "/scim/v2/Users".into(), Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{marker}.typed@example.com"), "active": marker}).to_string())),
        (Method::PUT, format!("/scim/v2/Users/{id}"), Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 42, "displayName": marker}).to_string())),
        // PATCH paths and values that do not apply.
        (Method::PATCH, format!("/scim/v2/Users/{id}"), Some(patch(json!([{"op": "replace", "path": format!("name.{marker}"), "value": "x"}])).to_string())),
        (Method::PATCH, format!("/scim/v2/Users/{id}"), Some(patch(json!([{"op": "replace", "path": format!("emails[value eq \"{marker}\""), "value": "x"}])).to_string())),
        (Method::PATCH, format!("/scim/v2/Users/{id}"), Some(patch(json!([{"op": marker, "path": "displayName", "value": "x"}])).to_string())),
        (Method::PATCH, format!("/scim/v2/Users/{id}"), Some(patch(json!([{"op": "replace", "path": "active", "value": marker}])).to_string())),
        // A search body that is not one.
        (Method::POST, "/scim/v2/.search".into(), Some(json!({"filter": format!("userName eq \"{marker}"), "count": marker}).to_string())),
        // A value where an id belongs (the request line logs the route, not the path).
        (Method::GET, format!("/scim/v2/Users/{marker}"), None),
        (Method::GET, format!("/scim/v2/{marker}"), None),
        // Admin query strings and bodies.
        (Method::GET, format!("/admin/v1/events?aggregate={marker}&type={marker}"), None),
        (Method::GET, format!("/admin/v1/events?since={marker}"), None),
        (Method::POST, "/admin/v1/services/identity/replay".into(), Some(format!("{{\"events\": [{{\"id\": \"{marker}\"}}]}}"))),
        (Method::POST, "/admin/v1/organizations".into(), Some(json!({"name": 7, "workspace": marker}).to_string())),
    ];
    let mut echoed = 0;
    for (method, path, body) in refusals {
        let (status, answer) = embedded.send(method.clone(), &path, body).await;
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        echoed += usize::from(answer.to_string().contains(&marker));
    }
    // The values were there to be logged: errors quote some back to the
    // client (which sent them), never to the log.
    assert!(
        echoed > 0,
        "no answer quotes the marker: the test sends nothing personal"
    );

    let (status, _) = embedded
        .send(Method::DELETE, &format!("/scim/v2/Users/{id}"), None)
        .await;
    assert_eq!(status, 204);
    // Identity applied the deletion before the stop.
    let accounts = format!(
        "/admin/v1/organizations/{}/accounts?limit=200",
        embedded.org
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = embedded.get(&accounts).await;
        let deleted = page["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|a| a["scim_user_id"] == id.as_str() && a["status"] == "deleted")
        });
        if deleted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "identity did not apply the delete: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    test_support::process::terminate(&mut embedded.child, Duration::from_secs(30));

    let text = std::fs::read_to_string(&log).unwrap();
    let requests = text.lines().filter(|l| l.contains("\"url.path\"")).count();
    assert!(requests >= 25, "{requests} request lines logged:\n{text}");
    let leaks: Vec<&str> = text.lines().filter(|l| l.contains(&marker)).collect();
    assert!(
        leaks.is_empty(),
        "the marker is logged:\n{}",
        leaks.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
