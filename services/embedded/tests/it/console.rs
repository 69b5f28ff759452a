//! The operator console (`/console`, docs/console.md) on a real embedded
//! process bound to a port of its own, over HTTP as a browser sends it:
//! sign-in with the admin key, the session cookie's attributes, CSRF on
//! every form, sign-out, the security headers, the sign-in throttle, and the
//! SCIM connection walk (create an organization, generate a token shown
//! once, provision a user with it, test the connection, revoke, test again).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};
use scim_embedded::{EmbeddedApp, EmbeddedSettings};
use scim_gateway::config::{Secret, Settings as GatewaySettings};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const ADMIN_KEY: &str = "console-test-admin-key";

pub struct Console {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    dir: std::path::PathBuf,
}

/// A browser's answer: status, headers, body.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` header that sets `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the first `name="csrf"` field of the page.
    pub(crate) fn csrf(&self) -> String {
        field_value(&self.body, "name=\"csrf\"").expect("a form token on the page")
    }
}

/// The `value` attribute of the first element whose tag contains `marker`.
pub(crate) fn field_value(body: &str, marker: &str) -> Option<String> {
    let at = body.find(marker)?;
    let tag_start = body[..at].rfind('<')?;
    let tag_end = at + body[at..].find('>')?;
    let tag = &body[tag_start..tag_end];
    let value = tag.split("value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_owned())
}

/// `name=value` of a `Set-Cookie` header, as a `Cookie` header sends it.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_owned()
}

/// A signed-in browser: its session cookie and the session's form token.
pub(crate) struct Browser {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

impl Console {
    pub async fn start() -> Console {
        let dir = test_support::temp_dir("console");
        let mut gateway = GatewaySettings::from_sources(None, false).expect("default settings");
        gateway.database.url = Secret::new(test_support::sqlite_url(&dir, "gateway.db"));
        gateway.http.port = 0;
        gateway.http.host = "127.0.0.1".to_owned();
        gateway.bootstrap.data_dir = dir.display().to_string();
        gateway.admin_key = Some(Secret::new(ADMIN_KEY));
        let settings = EmbeddedSettings::defaults(gateway);
        let app = EmbeddedApp::build(&settings)
            .await
            .expect("the process starts");
        let base = format!("http://127.0.0.1:{}", app.serving.port());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(app.serving.run_until(async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Console {
            base,
            http,
            stop: Some(stop),
            served: Some(served),
            dir,
        }
    }

    /// The same helpers against another console at `base` (one a test
    /// serves itself beside this process).
    pub(crate) fn other(&self, base: String) -> Console {
        Console {
            base,
            http: self.http.clone(),
            stop: None,
            served: None,
            dir: test_support::temp_dir("console-other"),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), served).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Self::read(request.send().await.unwrap()).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Page {
        self.post_with(path, cookie, form, &[]).await
    }

    async fn post_with(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.unwrap()).await
    }

    /// The admin API, as an operator's script would call it.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let text = response.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The sign-in form's cookie and token, then the answer to posting `key`.
    async fn try_sign_in(&self, key: &str, headers: &[(&str, &str)]) -> Page {
        let form = self.get("/console/sign-in", None).await;
        assert_eq!(form.status, StatusCode::OK);
        let cookie = cookie_pair(&form.set_cookie("console_sign_in").expect("form cookie"));
        self.post_with(
            "/console/sign-in",
            Some(&cookie),
            &[("csrf", &form.csrf()), ("admin_key", key)],
            headers,
        )
        .await
    }

    pub(crate) async fn sign_in(&self) -> Browser {
        let answer = self.try_sign_in(ADMIN_KEY, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location(), "/console/organizations");
        let cookie = cookie_pair(&answer.set_cookie("console_session").expect("a session"));
        let page = self.get("/console/organizations", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        Browser {
            csrf: page.csrf(),
            cookie,
        }
    }

    async fn organization_count(&self) -> usize {
        let listed = self
            .admin(
                reqwest::Method::GET,
                "/admin/v1/organizations?limit=500",
                None,
            )
            .await;
        listed["items"].as_array().map(Vec::len).unwrap_or(0)
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[actix_web::test]
async fn a_wrong_admin_key_never_creates_a_session() {
    let console = Console::start().await;
    let refused = console.try_sign_in("not-the-key", &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.set_cookie("console_session").is_none());
    assert!(refused.body.contains("That is not the admin key."));
    assert!(
        !refused.body.contains("not-the-key"),
        "the key typed is not echoed"
    );

    // The right key without the sign-in form's own token: refused too.
    let no_token = console
        .post("/console/sign-in", None, &[("admin_key", ADMIN_KEY)])
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.set_cookie("console_session").is_none());

    // Pages without a session send the browser to the sign-in page.
    for path in [
        "/console/organizations",
        "/console",
        "/console/organizations/0196a0a0-0000-7000-8000-000000000000",
    ] {
        let page = console.get(path, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/console/sign-in", "{path}");
    }
    let forged = console
        .get("/console/organizations", Some("console_session=made-up"))
        .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);
    console.stop().await;
}

#[actix_web::test]
async fn the_session_cookie_is_http_only_strict_scoped_and_expires() {
    let console = Console::start().await;
    let answer = console.try_sign_in(ADMIN_KEY, &[]).await;
    let cookie = answer.set_cookie("console_session").expect("a session");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for wanted in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain HTTP: {cookie}");
    let value = cookie_pair(&cookie);
    assert!(
        value.len() > "console_session=".len() + 40,
        "a long random key"
    );

    // Behind a TLS proxy the cookie is Secure.
    let over_tls = console
        .try_sign_in(ADMIN_KEY, &[("x-forwarded-proto", "https")])
        .await;
    let cookie = over_tls.set_cookie("console_session").expect("a session");
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    assert_ne!(
        cookie_pair(&cookie),
        value,
        "every sign-in is a new session"
    );
    console.stop().await;
}

#[actix_web::test]
async fn a_form_without_the_sessions_token_changes_nothing() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let other = console.sign_in().await;
    let before = console.organization_count().await;
    let create = |csrf: Option<&str>| {
        let mut form = vec![
            ("name", "Forged"),
            ("seats", "5"),
            ("default_role", "member"),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        form.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };
    for csrf in [None, Some("wrong"), Some(""), Some(other.csrf.as_str())] {
        let form = create(csrf);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let refused = console
            .post("/console/organizations", Some(&browser.cookie), &form)
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    assert_eq!(
        console.organization_count().await,
        before,
        "nothing created"
    );

    // Token forms and the sign-out form are checked alike.
    let org = console
        .admin(
            reqwest::Method::POST,
            "/admin/v1/organizations",
            Some(json!({"name": "Acme"})),
        )
        .await["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = console
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/organizations/{org}/tokens"),
            None,
        )
        .await;
    let token_id = issued["id"].as_str().unwrap();
    let paths = [
        format!("/console/organizations/{org}/tokens"),
        format!("/console/organizations/{org}/tokens/{token_id}/revoke"),
        format!("/console/organizations/{org}/tokens/{token_id}/rotate"),
        format!("/console/organizations/{org}/default-role"),
        "/console/sign-out".to_owned(),
    ];
    for path in &paths {
        let refused = console
            .post(
                path,
                Some(&browser.cookie),
                &[("csrf", &other.csrf), ("default_role", "viewer")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    let tokens = console
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/organizations/{org}/tokens"),
            None,
        )
        .await;
    let tokens = tokens["items"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "no token generated or rotated");
    assert!(tokens[0]["revoked_at"].is_null(), "not revoked");
    let organization = console
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/organizations/{org}"),
            None,
        )
        .await;
    assert_eq!(organization["default_role"], "member", "role unchanged");
    let still = console
        .get("/console/organizations", Some(&browser.cookie))
        .await;
    assert_eq!(still.status, StatusCode::OK, "still signed in");

    // With the session's own token the same form works.
    let form = create(Some(&browser.csrf));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let created = console
        .post("/console/organizations", Some(&browser.cookie), &form)
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(console.organization_count().await, before + 2);
    console.stop().await;
}

#[actix_web::test]
async fn after_sign_out_the_old_cookie_is_refused() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let out = console
        .post(
            "/console/sign-out",
            Some(&browser.cookie),
            &[("csrf", &browser.csrf)],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/console/sign-in");
    let cleared = out
        .set_cookie("console_session")
        .expect("the cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let page = console
        .get("/console/organizations", Some(&browser.cookie))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/console/sign-in");
    let before = console.organization_count().await;
    let replayed = console
        .post(
            "/console/organizations",
            Some(&browser.cookie),
            &[
                ("csrf", &browser.csrf),
                ("name", "Late"),
                ("seats", "1"),
                ("default_role", "member"),
            ],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    assert_eq!(replayed.location(), "/console/sign-in");
    assert_eq!(console.organization_count().await, before);
    console.stop().await;
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let org = console
        .admin(
            reqwest::Method::POST,
            "/admin/v1/organizations",
            Some(json!({"name": "Acme"})),
        )
        .await["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    console
        .admin(
            reqwest::Method::PUT,
            &format!("/admin/v1/organizations/{org}/subscription"),
            Some(json!({"seat_quota": 3})),
        )
        .await;
    let mut answers = vec![
        ("sign-in", console.get("/console/sign-in", None).await),
        (
            "health",
            console.get("/console/health", Some(&browser.cookie)).await,
        ),
        (
            "seats",
            console
                .get(
                    &format!("/console/organizations/{org}/seats"),
                    Some(&browser.cookie),
                )
                .await,
        ),
        (
            "list",
            console
                .get("/console/organizations", Some(&browser.cookie))
                .await,
        ),
        (
            "connection",
            console
                .get(
                    &format!("/console/organizations/{org}"),
                    Some(&browser.cookie),
                )
                .await,
        ),
        (
            "journal",
            console
                .get(
                    &format!("/console/organizations/{org}/journal"),
                    Some(&browser.cookie),
                )
                .await,
        ),
        (
            "dead letters",
            console
                .get("/console/dead-letters", Some(&browser.cookie))
                .await,
        ),
        (
            "missing",
            console
                .get("/console/nothing-here", Some(&browser.cookie))
                .await,
        ),
        (
            "refused",
            console
                .post("/console/organizations", Some(&browser.cookie), &[])
                .await,
        ),
        (
            "redirect",
            console.get("/console/organizations", None).await,
        ),
    ];
    let stylesheet = field_value(&answers[0].1.body, "rel=\"stylesheet\"");
    assert!(stylesheet.is_none(), "a link has href, not value");
    let css_at = answers[0]
        .1
        .body
        .find("/console/assets/console.css?v=")
        .expect("stylesheet link");
    let css_url: String = answers[0].1.body[css_at..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    answers.push(("asset", console.get(&css_url, None).await));
    for (what, answer) in &answers {
        let csp = answer.header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(answer.header("referrer-policy"), "no-referrer", "{what}");
        if *what != "asset" {
            assert_eq!(answer.header("cache-control"), "no-store", "{what}");
        }
        // No inline script or style in any page.
        assert!(!answer.body.contains("<script>"), "{what}");
        assert!(
            answer
                .body
                .match_indices("<script")
                .all(|(at, _)| answer.body[at..].starts_with("<script src=\"/console/assets/")),
            "{what}"
        );
        assert!(!answer.body.contains(" style="), "{what}");
        assert!(!answer.body.contains("<style"), "{what}");
    }
    let asset = &answers.last().unwrap().1;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(asset.header("cache-control").contains("max-age=31536000"));
    assert!(asset.header("content-type").starts_with("text/css"));
    let answer = |name: &str| &answers.iter().find(|(what, _)| *what == name).unwrap().1;
    for page in ["health", "seats", "journal", "dead letters"] {
        assert_eq!(answer(page).status, StatusCode::OK, "{page}");
    }
    assert_eq!(answer("missing").status, StatusCode::NOT_FOUND);
    // The seats page drew its chart (the quota set above is a point), so an
    // SVG is among what carries no inline style.
    assert!(
        answer("seats").body.contains("<svg"),
        "{}",
        answer("seats").body
    );
    console.stop().await;
}

#[actix_web::test]
async fn an_address_that_keeps_failing_is_refused_even_with_the_right_key() {
    let console = Console::start().await;
    // The default budget: 20 failures per 60 s.
    for _ in 0..20 {
        let refused = console.try_sign_in("guess", &[]).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    let throttled = console.try_sign_in("guess", &[]).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.header("retry-after").parse::<u64>().is_ok());
    let right = console.try_sign_in(ADMIN_KEY, &[]).await;
    assert_eq!(
        right.status,
        StatusCode::TOO_MANY_REQUESTS,
        "not checked while waiting"
    );
    assert!(right.set_cookie("console_session").is_none());
    console.stop().await;
}

/// A count of `needle` in `haystack`.
pub(crate) fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[actix_web::test]
async fn an_admin_connects_an_identity_provider_through_the_console() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let cookie = Some(browser.cookie.as_str());

    // The list, first with the demo organization only.
    let list = console.get("/console/organizations", cookie).await;
    assert!(list.body.contains("Create an organization"));
    for role in ["owner", "admin", "member", "viewer"] {
        assert!(
            list.body.contains(&format!("<option value=\"{role}\"")),
            "{role}"
        );
    }

    // A refused form keeps what was typed and says why.
    let refused = console
        .post(
            "/console/organizations",
            cookie,
            &[
                ("csrf", &browser.csrf),
                ("name", "Acme Corp"),
                ("seats", "lots"),
                ("default_role", "viewer"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("Seats must be a whole number"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"Acme Corp\""));

    let created = console
        .post(
            "/console/organizations",
            cookie,
            &[
                ("csrf", &browser.csrf),
                ("name", "Acme <Corp>"),
                ("seats", "3"),
                ("default_role", "viewer"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let org_page = created.location().split('?').next().unwrap().to_owned();
    let org = org_page.rsplit('/').next().unwrap().to_owned();
    let page = console.get(created.location(), cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Acme &lt;Corp&gt;"), "escaped");
    assert!(!page.body.contains("Acme <Corp>"));
    assert!(page.body.contains("Organization created."));
    assert!(page.body.contains("0 used of 3"), "seats set in licensing");
    assert!(page.body.contains("<option value=\"viewer\" selected"));
    assert_eq!(
        field_value(&page.body, "id=\"tenant-url\"").as_deref(),
        Some(format!("{}/scim/v2", console.base).as_str())
    );
    assert!(page.body.contains("No tokens yet."));

    // Generate: the value on this answer only.
    let issued = console
        .post(
            &format!("{org_page}/tokens"),
            cookie,
            &[("csrf", &browser.csrf)],
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK);
    assert_eq!(issued.header("cache-control"), "no-store");
    let token = field_value(&issued.body, "id=\"new-token\"").expect("the token shown");
    assert!(token.starts_with("scim_"), "{token}");
    assert_eq!(occurrences(&issued.body, &token), 1);
    assert!(issued.body.contains("shown only this once"));
    for path in [
        org_page.clone(),
        "/console/organizations".to_owned(),
        format!("{org_page}/test"),
    ] {
        let again = console.get(&path, cookie).await;
        assert_eq!(again.status, StatusCode::OK, "{path}");
        assert!(!again.body.contains(&token), "{path} shows no token value");
        assert!(
            !again.body.contains(&token[12..]),
            "{path}: nor its secret part"
        );
    }
    assert!(
        console
            .get(&org_page, cookie)
            .await
            .body
            .contains(&format!("{}…", &token[..12])),
        "its prefix"
    );

    // The identity provider provisions a user with it.
    let user = console
        .http
        .post(format!("{}/scim/v2/Users", console.base))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@example.com", "active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::CREATED);

    let tested = console.get(&format!("{org_page}/test"), cookie).await;
    assert_eq!(tested.status, StatusCode::OK);
    assert!(
        tested.body.contains("All checks passed."),
        "{}",
        tested.body
    );
    assert!(tested.body.contains("1 usable token(s)"));

    // Rotate with an hour's overlap: a new value, shown once, and the old
    // token's end.
    let token_id = console
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/organizations/{org}/tokens"),
            None,
        )
        .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = console
        .post(
            &format!("{org_page}/tokens/{token_id}/rotate"),
            cookie,
            &[("csrf", &browser.csrf), ("overlap_seconds", "3600")],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let successor = field_value(&rotated.body, "id=\"new-token\"").expect("the new token shown");
    assert_ne!(successor, token);
    assert!(rotated.body.contains("keeps working until"));
    assert!(
        console
            .get(&org_page, cookie)
            .await
            .body
            .contains("Works until")
    );

    // Revoke both: the test names the problem.
    let tokens = console
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/organizations/{org}/tokens"),
            None,
        )
        .await;
    for t in tokens["items"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let revoked = console
            .post(
                &format!("{org_page}/tokens/{id}/revoke"),
                cookie,
                &[("csrf", &browser.csrf)],
            )
            .await;
        assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    }
    let page = console
        .get(&format!("{org_page}?done=revoked"), cookie)
        .await;
    assert!(page.body.contains("Token revoked"));
    assert!(page.body.contains("Revoked "));
    let tested = console.get(&format!("{org_page}/test"), cookie).await;
    assert!(
        tested.body.contains("Some checks failed"),
        "{}",
        tested.body
    );
    assert!(tested.body.contains("Failed: tokens"));
    assert!(tested.body.contains("no usable token"));
    let refused = console
        .http
        .get(format!("{}/scim/v2/Users", console.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // The default role.
    let saved = console
        .post(
            &format!("{org_page}/default-role"),
            cookie,
            &[("csrf", &browser.csrf), ("default_role", "admin")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert!(
        console
            .get(saved.location(), cookie)
            .await
            .body
            .contains("<option value=\"admin\" selected")
    );
    let unknown = console
        .get(
            "/console/organizations/0196a0a0-0000-7000-8000-000000000000",
            cookie,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown
            .body
            .contains("There is no such page or organization.")
    );
    console.stop().await;
}

#[actix_web::test]
async fn organizations_are_listed_a_page_at_a_time() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    for n in 0..30 {
        console
            .admin(
                reqwest::Method::POST,
                "/admin/v1/organizations",
                Some(json!({"name": format!("Org {n:02}")})),
            )
            .await;
    }
    let first = console
        .get("/console/organizations", Some(&browser.cookie))
        .await;
    assert_eq!(
        occurrences(&first.body, "<tr><td><a href=\"/console/organizations/"),
        25
    );
    let next_at = first
        .body
        .find("/console/organizations?after=")
        .expect("a next page");
    let next: String = first.body[next_at..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let second = console.get(&next, Some(&browser.cookie)).await;
    // 31 in all: the demo organization and these 30.
    assert_eq!(
        occurrences(&second.body, "<tr><td><a href=\"/console/organizations/"),
        6
    );
    assert!(second.body.contains("Org 29"));
    assert!(!second.body.contains("rel=\"next\""));
    assert!(second.body.contains("First page"));
    console.stop().await;
}
