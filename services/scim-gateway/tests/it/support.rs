//! Test harness: a gateway on a fresh database per test, SQLite always and
//! PostgreSQL when `SCIM_TEST_DATABASE_URL` is set. With
//! `SCIM_TEST_REQUIRE_INFRA=1` a missing PostgreSQL fails the test instead of
//! skipping it.

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{App, test, web};
use scim_gateway::config::{Secret, Settings};
use scim_gateway::domain::models::BearerToken;
use scim_gateway::startup::{
    GatewayApi, build_api, configure_app, ensure_organization_with_token, generate_token,
};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub api: web::Data<GatewayApi>,
    pub store: scim_gateway::outbound::sql::SqlScimView,
    pub token: String,
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

fn require_infra() -> bool {
    std::env::var("SCIM_TEST_REQUIRE_INFRA")
        .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// A fresh PostgreSQL database named by a UUID, or None when PostgreSQL is
/// not configured (and not required).
pub async fn postgres_url() -> Option<String> {
    let Ok(admin_url) = std::env::var("SCIM_TEST_DATABASE_URL") else {
        assert!(
            !require_infra(),
            "SCIM_TEST_REQUIRE_INFRA=1 but SCIM_TEST_DATABASE_URL is not set"
        );
        eprintln!("skipping: SCIM_TEST_DATABASE_URL is not set");
        return None;
    };
    let name = format!("scim_test_{}", Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at SCIM_TEST_DATABASE_URL is unreachable: {e}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    let _ = admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url)
        .to_owned();
    Some(format!("{base}/{name}"))
}

impl TestApp {
    /// None when the backend is not available here (PostgreSQL not configured).
    pub async fn start(backend: Backend) -> Option<TestApp> {
        let url = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("scim-gateway-test-{}", Uuid::new_v4().simple()));
                format!("sqlite://{}/gateway.db", dir.display())
            }
            Backend::Postgres => postgres_url().await?,
        };
        let mut settings = Settings::from_sources(None, false).expect("default settings");
        settings.database.url = Secret::new(url);
        settings.database.max_connections = 8;
        settings.http.public_base_url = Some("http://scim.test/scim/v2".into());
        settings.http.max_body_bytes = 64 * 1024;
        settings.scim.max_results = 50;
        let (api, store) = build_api(&settings).await.expect("gateway starts");
        let mut app = TestApp {
            api,
            store,
            token: String::new(),
        };
        app.token = app.new_organization("Test org").await;
        Some(app)
    }

    /// Creates another organization and returns its bearer token.
    pub async fn new_organization(&self, name: &str) -> String {
        let token = generate_token();
        let bearer = BearerToken::new(token.clone());
        ensure_organization_with_token(&self.store, name, &bearer)
            .await
            .expect("organization created");
        token
    }

    pub async fn send(&self, request: test::TestRequest) -> Response {
        let app = test::init_service(
            App::new()
                .app_data(self.api.clone())
                .configure(configure_app),
        )
        .await;
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = test::read_body(response).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Response {
            status,
            headers,
            body,
        }
    }

    fn authed(&self, request: test::TestRequest, token: &str) -> test::TestRequest {
        request.insert_header(("Authorization", format!("Bearer {token}")))
    }

    pub async fn get(&self, uri: &str) -> Response {
        self.get_as(uri, &self.token).await
    }

    pub async fn get_as(&self, uri: &str, token: &str) -> Response {
        self.send(self.authed(test::TestRequest::get().uri(uri), token))
            .await
    }

    pub async fn delete(&self, uri: &str) -> Response {
        self.send(self.authed(test::TestRequest::delete().uri(uri), &self.token))
            .await
    }

    pub async fn with_body(&self, method: &str, uri: &str, body: &Value) -> Response {
        self.with_body_as(method, uri, body, &self.token).await
    }

    pub async fn with_body_as(
        &self,
        method: &str,
        uri: &str,
        body: &Value,
        token: &str,
    ) -> Response {
        let request = match method {
            "POST" => test::TestRequest::post(),
            "PUT" => test::TestRequest::put(),
            "PATCH" => test::TestRequest::patch(),
            other => panic!("unsupported method {other}"),
        };
        let request = request
            .uri(uri)
            .insert_header(("Content-Type", "application/scim+json"))
            .set_payload(body.to_string());
        self.send(self.authed(request, token)).await
    }

    pub async fn post(&self, uri: &str, body: &Value) -> Response {
        self.with_body("POST", uri, body).await
    }

    pub async fn put(&self, uri: &str, body: &Value) -> Response {
        self.with_body("PUT", uri, body).await
    }

    pub async fn patch(&self, uri: &str, body: &Value) -> Response {
        self.with_body("PATCH", uri, body).await
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let response = self
            .post(
                "/scim/v2/Users",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "name": { "givenName": "Given", "familyName": user_name },
                    "emails": [{ "value": user_name, "type": "work", "primary": true }],
                    "active": true
                }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn create_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({ "value": m }))
            .collect();
        let response = self
            .post(
                "/scim/v2/Groups",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": display_name,
                    "members": members
                }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response.body["id"].as_str().expect("id").to_owned()
    }
}

/// Declares one async test per backend: `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::support::TestApp) $body

                #[actix_web::test]
                async fn sqlite() {
                    let app = $crate::support::TestApp::start($crate::support::Backend::Sqlite).await.expect("sqlite");
                    scenario(app).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    if let Some(app) = $crate::support::TestApp::start($crate::support::Backend::Postgres).await {
                        scenario(app).await;
                    }
                }
            }
        )*
    };
}
