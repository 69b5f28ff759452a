//! The console's event journal and dead letters (docs/console.md) on the
//! embedded platform served on a port of its own, with the journal
//! delivered when the test says so (`Stack::settle`): the journal filtered
//! by type, person and time; one event and its delivery status per
//! service ("applied", "not applied yet", "does not consume it"); one
//! person's events replayed to identity (already applied, counted); a dead
//! letter listed and requeued, in words. Every form is refused without the
//! session's token; no page shows a personal value or a token.

use std::net::TcpListener;

use actix_web::{App, HttpServer};
use messaging::EventPublisher;
use provisioning_events::{AggregateKind, EventBody};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::console::field_value;
use crate::support::{ADMIN_KEY, Mode, Stack, quick_retry, user};

const JAEGER: &str = "http://jaeger.test:16686";

/// The platform of `stack` and its console, served over HTTP.
struct Served {
    stack: Stack,
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
    server: actix_web::dev::ServerHandle,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Answer {
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The console's security headers, and no inline script or style.
    fn assert_secure(&self, what: &str) {
        let csp = self.header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(self.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(self.header("cache-control"), "no-store", "{what}");
        assert!(!self.body.contains("<script>"), "{what}");
        assert!(!self.body.contains(" style="), "{what}");
    }
}

impl Served {
    async fn start() -> Served {
        let stack = Stack::start(Mode::Embedded).await.expect("embedded stack");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let settings = console::config::ConsoleSettings {
            gateway_url: base.clone(),
            identity_url: base.clone(),
            team_url: base.clone(),
            licensing_url: base.clone(),
            jaeger_url: Some(format!("{JAEGER}/")),
            ..console::config::ConsoleSettings::default()
        };
        let console = console::startup::configure(
            console::startup::build(&settings, ADMIN_KEY).expect("the console"),
        );
        let platform = stack.platform.configure();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    scim_gateway::inbound::http::request_span,
                ))
                .configure(console.clone())
                .configure(platform.clone())
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut served = Served {
            stack,
            base,
            http,
            cookie: String::new(),
            csrf: String::new(),
            server: handle,
        };
        served.sign_in().await;
        served
    }

    async fn sign_in(&mut self) {
        let form = self.get("/console/sign-in").await;
        let set = form.header("set-cookie").to_owned();
        let cookie = set.split(';').next().unwrap().to_owned();
        let token = field_value(&form.body, "name=\"csrf\"").unwrap();
        let answer = self
            .http
            .post(format!("{}/console/sign-in", self.base))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("csrf", token.as_str()),
                ("admin_key", ADMIN_KEY),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let session = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("console_session="))
            .expect("a session")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        self.cookie = session;
        let page = self.get("/console/organizations").await;
        self.csrf = field_value(&page.body, "name=\"csrf\"").unwrap();
    }

    async fn get(&self, path: &str) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if !self.cookie.is_empty() {
            request = request.header("cookie", &self.cookie);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(form));
        Answer::read(request.send().await.unwrap()).await
    }

    /// A SCIM request over HTTP.
    async fn scim(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let answer = self
            .http
            .request(method, format!("{}/scim/v2{path}", self.base))
            .bearer_auth(&self.stack.token)
            .header("content-type", "application/scim+json")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.json().await.unwrap()
    }

    async fn admin(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn org(&self) -> String {
        self.stack.org.0.to_string()
    }

    /// The journal's events of the organization, as the admin API lists them.
    async fn events(&self, query: &str) -> Vec<Value> {
        let listed = self
            .admin(&format!("/admin/v1/events?org={}&{query}", self.org()))
            .await;
        listed["items"].as_array().cloned().unwrap_or_default()
    }

    async fn stop(self) {
        self.server.stop(true).await;
        self.stack.stop().await;
    }
}

fn form_body(form: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    form.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What no page may show: the people's values and the SCIM token.
fn assert_private(served: &Served, what: &str, body: &str) {
    for secret in [
        "ann.lee@example.com",
        "Ann Lee",
        "Lee",
        "bo.ek@example.com",
        "Ghost",
        served.stack.token.as_str(),
    ] {
        assert!(!body.contains(secret), "{what} shows {secret:?}");
    }
}

#[actix_web::test]
async fn the_journal_is_filtered_an_event_shows_its_delivery_and_a_person_is_replayed() {
    let served = Served::start().await;
    let org = served.org();
    let journal = format!("/console/organizations/{org}/journal");

    let empty = served.get(&journal).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("No events yet"), "{}", empty.body);
    empty.assert_secure("journal");

    let ann = served
        .scim(
            reqwest::Method::POST,
            "/Users",
            user("ann.lee@example.com", "Ann", "Lee", "ann.lee@example.com"),
        )
        .await;
    let ann_id = ann["id"].as_str().unwrap().to_owned();
    served
        .scim(
            reqwest::Method::POST,
            "/Users",
            user("bo.ek@example.com", "Bo", "Ek", "bo.ek@example.com"),
        )
        .await;
    served
        .scim(
            reqwest::Method::PATCH,
            &format!("/Users/{ann_id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Ann L."}]
            }),
        )
        .await;
    served
        .scim(
            reqwest::Method::POST,
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "R&D <core>",
                "members": [{"value": ann_id}]
            }),
        )
        .await;
    served.stack.settle().await;

    // Every event, oldest first, and never a personal value.
    let all = served.get(&journal).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_private(&served, "the journal", &all.body);
    let at = |text: &str| all.body.find(text).unwrap_or_else(|| panic!("{text}"));
    assert!(at("user.provisioned") < at("user.updated"));
    assert!(at("user.updated") < at("group.provisioned"));
    assert!(all.body.contains(&format!("?person={ann_id}")));

    // Filters: by type, by kind, by person, by time (UTC); refusals in words.
    let groups = served
        .get(&format!("{journal}?type=group.provisioned"))
        .await;
    assert!(groups.body.contains("<td>group.provisioned</td>"));
    assert!(!groups.body.contains("<td>user.provisioned</td>"));
    assert!(
        groups
            .body
            .contains("<option value=\"group.provisioned\" selected")
    );
    let users = served.get(&format!("{journal}?type=user.*")).await;
    assert_eq!(crate::console::occurrences(&users.body, "<td>user."), 3);
    let hers = served.get(&format!("{journal}?person={ann_id}")).await;
    assert_eq!(crate::console::occurrences(&hers.body, "<td>user."), 2);
    assert!(!hers.body.contains("<td>group."));
    assert!(
        hers.body.contains("Replay this person&#39;s events")
            || hers.body.contains("Replay this person's events")
    );
    let future = served
        .get(&format!("{journal}?since=2999-01-01T00%3A00"))
        .await;
    assert!(future.body.contains("No event matches."), "{}", future.body);
    assert!(future.body.contains("value=\"2999-01-01T00:00\""));
    let past = served
        .get(&format!(
            "{journal}?until=2000-01-01T00%3A00&since=1999-01-01T00%3A00"
        ))
        .await;
    assert!(past.body.contains("No event matches."));
    let bad = served.get(&format!("{journal}?since=yesterday")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("From: enter a date and time"),
        "{}",
        bad.body
    );
    let unknown = served.get(&format!("{journal}?type=user.exploded")).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    // One event: its fields, its trace linked to Jaeger, applied by the
    // services that consume it, not consumed by the others.
    let provisioned = served
        .events(&format!("aggregate={ann_id}&type=user.provisioned"))
        .await;
    let event_id = provisioned[0]["event"]["id"].as_str().unwrap().to_owned();
    let page = served.get(&format!("{journal}/{event_id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.assert_secure("event");
    assert_private(&served, "the event", &page.body);
    assert!(
        page.body.contains("Sealed under the person"),
        "{}",
        page.body
    );
    // No trace exporter in this process, so no trace context is recorded
    // (the link to Jaeger is the view's own test, `views::journal`).
    assert!(page.body.contains("No trace recorded"), "{}", page.body);
    assert!(!page.body.contains(JAEGER));
    let delivery = |service: &str| -> String {
        let row = page
            .body
            .find(&format!("<tr><td>{service}</td><td>"))
            .unwrap_or_else(|| panic!("{service}: {}", page.body));
        page.body[row..].split("</tr>").next().unwrap().to_owned()
    };
    for service in ["identity", "team", "licensing"] {
        assert!(
            delivery(service).contains("Applied at "),
            "{}",
            delivery(service)
        );
    }
    let group_event = served.events("type=group.provisioned").await[0]["event"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group_page = served.get(&format!("{journal}/{group_event}")).await;
    assert!(
        group_page.body.contains("R&amp;D &lt;core&gt;"),
        "{}",
        group_page.body
    );
    assert!(
        group_page
            .body
            .contains("<tr><td>identity</td><td>This service does not consume it</td></tr>"),
        "{}",
        group_page.body
    );

    // An event not delivered yet.
    let cy = served
        .scim(
            reqwest::Method::POST,
            "/Users",
            user("cy@example.com", "Cy", "Po", "cy@example.com"),
        )
        .await;
    let cy_event = served
        .events(&format!("aggregate={}", cy["id"].as_str().unwrap()))
        .await[0]["event"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = served.get(&format!("{journal}/{cy_event}")).await;
    assert!(
        waiting
            .body
            .contains("<tr><td>identity</td><td>Not applied yet</td></tr>"),
        "{}",
        waiting.body
    );

    // Another organization's event is not found under this one; nor is
    // an unknown event.
    let other = served
        .http
        .post(format!("{}/admin/v1/organizations", served.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "Other"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = served
        .get(&format!(
            "/console/organizations/{other}/journal/{event_id}"
        ))
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    let nothing = served
        .get(&format!("{journal}/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(nothing.status, StatusCode::NOT_FOUND);

    // The replay form: refused without the session's token or with a
    // wrong one, refused in words without a service, and with it Ann's
    // two events reach identity again, both already applied.
    let replay = format!("{journal}/replay");
    for csrf in [None, Some("not-the-token")] {
        let mut form = vec![("person", ann_id.as_str()), ("service", "identity")];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let refused = served.post(&replay, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    let no_service = served
        .post(
            &replay,
            &[
                ("csrf", &served.csrf),
                ("person", &ann_id),
                ("service", "mail"),
            ],
        )
        .await;
    assert_eq!(no_service.status, StatusCode::BAD_REQUEST);
    assert!(
        no_service.body.contains("Choose the service to replay to"),
        "{}",
        no_service.body
    );
    let replayed = served
        .post(
            &replay,
            &[
                ("csrf", &served.csrf),
                ("person", &ann_id),
                ("service", "identity"),
            ],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    replayed.assert_secure("replayed");
    assert!(
        replayed.body.contains("2 events of SCIM user"),
        "{}",
        replayed.body
    );
    assert!(
        replayed
            .body
            .contains("<strong>2</strong> already applied (skipped)"),
        "{}",
        replayed.body
    );
    assert!(!replayed.body.contains("applied now"));
    assert_private(&served, "the replay", &replayed.body);
    served.stop().await;
}

#[actix_web::test]
async fn a_dead_letter_is_listed_and_requeued_through_the_console() {
    let served = Served::start().await;
    let created = served
        .scim(
            reqwest::Method::POST,
            "/Users",
            user("ghost@example.com", "Ghost", "Lee", "ghost@example.com"),
        )
        .await;
    let ghost = created["id"].as_str().unwrap().to_owned();
    served.stack.settle().await;
    let empty = served.get("/console/dead-letters").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    empty.assert_secure("dead letters");
    assert_eq!(
        crate::console::occurrences(&empty.body, "No dead letters."),
        3
    );

    // Version 3 of a user at version 1: identity cannot apply it before
    // version 2, and gives up after its retries.
    let poison = test_support::consumers::event_in(
        served.stack.org.0,
        AggregateKind::User,
        &ghost,
        3,
        EventBody::UserDeactivated {},
    );
    served
        .stack
        .platform
        .bus(quick_retry())
        .publish(std::slice::from_ref(&poison))
        .await
        .unwrap();
    let poison_id = poison.id.to_string();
    let listed = served.get("/console/dead-letters").await;
    assert_private(&served, "the dead letters", &listed.body);
    let identity = listed.body.split("id=\"dead-identity\"").nth(1).unwrap();
    let identity = identity.split("<section").next().unwrap();
    assert!(identity.contains(&poison_id), "{}", listed.body);
    assert!(identity.contains("<td>user.deactivated</td>"));
    assert!(identity.contains("before version 2"), "{identity}");
    assert!(identity.contains("<td>3</td>"), "attempts: {identity}");

    // Refused without the session's token: the letter stays.
    let requeue = "/console/dead-letters/identity/requeue";
    for csrf in [None, Some("not-the-token")] {
        let mut form = vec![("event_id", poison_id.as_str())];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let refused = served.post(requeue, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    let kept = served
        .admin("/admin/v1/services/identity/dead-letters")
        .await;
    assert_eq!(kept["items"].as_array().unwrap().len(), 1);

    // Requeued before its cause is fixed: still failing, said so.
    let early = served
        .post(requeue, &[("csrf", &served.csrf), ("event_id", &poison_id)])
        .await;
    assert_eq!(early.status, StatusCode::OK, "{}", early.body);
    early.assert_secure("requeued");
    assert!(
        early.body.contains(
            "Requeued to identity: 0 letters applied, 0 already applied, 1 still failing"
        ),
        "{}",
        early.body
    );
    assert!(early.body.contains(&poison_id));

    // Version 2 arrives; requeuing all of identity's letters applies it.
    served
        .scim(
            reqwest::Method::PATCH,
            &format!("/Users/{ghost}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "G. L."}]
            }),
        )
        .await;
    served.stack.settle().await;
    let all = served.post(requeue, &[("csrf", &served.csrf)]).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(
        all.body.contains(
            "Requeued to identity: 1 letter applied, 0 already applied, 0 still failing."
        ),
        "{}",
        all.body
    );
    let identity = all.body.split("id=\"dead-identity\"").nth(1).unwrap();
    let identity = identity.split("<section").next().unwrap();
    assert!(identity.contains("No dead letters."), "{identity}");
    let unknown = served
        .post(
            "/console/dead-letters/mail/requeue",
            &[("csrf", &served.csrf)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    served.stop().await;
}

#[actix_web::test]
async fn the_journal_is_paged_and_a_page_keeps_its_filter() {
    let served = Served::start().await;
    let journal = format!("/console/organizations/{}/journal", served.org());
    for n in 0..51 {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("Team {n:02}"),
        });
        served.scim(reqwest::Method::POST, "/Groups", body).await;
    }
    served
        .scim(
            reqwest::Method::POST,
            "/Users",
            user("pat@example.com", "Pat", "Ro", "pat@example.com"),
        )
        .await;
    let first = served
        .get(&format!("{journal}?type=group.provisioned"))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let rows = crate::console::occurrences(&first.body, "<td>group.provisioned</td>");
    assert_eq!(rows, 50);
    assert!(!first.body.contains("First page"));
    let next_at = first
        .body
        .find("?type=group.provisioned&amp;after_seq=")
        .expect("a next page");
    let next: String = first.body[next_at..]
        .chars()
        .take_while(|c| *c != '"')
        .collect::<String>()
        .replace("&amp;", "&");
    let second = served.get(&format!("{journal}{next}")).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(
        crate::console::occurrences(&second.body, "<td>group.provisioned</td>"),
        1
    );
    assert!(
        !second.body.contains("<td>user.provisioned</td>"),
        "the filter is kept"
    );
    assert!(!second.body.contains("rel=\"next\""));
    assert!(second.body.contains("First page"));
    let beyond = served.get(&format!("{journal}?after_seq=999999")).await;
    assert!(beyond.body.contains("No more events."), "{}", beyond.body);
    let garbage = served.get(&format!("{journal}?after_seq=x")).await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
    served.stop().await;
}
