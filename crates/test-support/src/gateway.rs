//! A gateway on a fresh database, the way an integration test wants it
//! (`spawn_app` style): migrated, with an organization and its bearer token,
//! driven through its HTTP routes inside the test's process.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use scim_gateway::config::{Secret, Settings};
use scim_gateway::domain::models::{BearerToken, OrgId};
use scim_gateway::outbound::sql::SqlScimView;
use scim_gateway::startup::{
    GatewayApi, build_api, configure_app, ensure_organization_with_token, generate_token,
};
use serde_json::{Value, json};

use crate::http::{Response, scim_request};
use crate::scenario::ScimClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A new, empty database: a SQLite `file` in a fresh folder, or a
    /// PostgreSQL database of its own; None (skip) when PostgreSQL is not
    /// configured.
    pub async fn fresh_database(self, file: &str) -> Option<String> {
        match self {
            Backend::Sqlite => Some(crate::sqlite_url(&crate::temp_dir("gateway-test"), file)),
            Backend::Postgres => crate::postgres_database().await,
        }
    }
}

/// The gateway's default settings on `database_url`, with a small pool, a
/// key-encryption key of its own (so that no test reads or writes the
/// default key file under `./data`) and no per-organization request limits.
pub fn settings(database_url: String) -> Settings {
    let mut settings = Settings::from_sources(None, false).expect("default settings");
    settings.database.url = Secret::new(database_url);
    settings.database.max_connections = 8;
    settings.keys.key_encryption_key = Some(Secret::new(test_key_encryption_key()));
    // Tests send bursts of concurrent requests on purpose; the tests of the
    // per-organization limits set their own.
    settings.limits.max_in_flight = 0;
    settings.limits.rate_per_second = 0.0;
    settings
}

/// A new key-encryption key in base64, as `SCIM_KEYS__KEY_ENCRYPTION_KEY`
/// takes it.
pub fn test_key_encryption_key() -> String {
    provisioning_events::sealing::KeyEncryptionKey::generate()
        .expect("a random key")
        .to_base64()
}

pub struct TestGateway {
    pub api: web::Data<GatewayApi>,
    pub store: SqlScimView,
    /// The bearer token of the organization the gateway was spawned with.
    pub token: String,
    pub org: OrgId,
}

impl TestGateway {
    /// Builds the gateway from `settings` (its database migrated) and
    /// creates the organization `organization` with a new token.
    pub async fn spawn(settings: &Settings, organization: &str) -> TestGateway {
        let (api, store) = build_api(settings).await.expect("gateway starts");
        let token = generate_token();
        let org =
            ensure_organization_with_token(&store, organization, &BearerToken::new(token.clone()))
                .await
                .expect("organization created");
        TestGateway {
            api,
            store,
            token,
            org,
        }
    }

    /// Creates another organization and returns its bearer token.
    pub async fn new_organization(&self, name: &str) -> String {
        let token = generate_token();
        ensure_organization_with_token(&self.store, name, &BearerToken::new(token.clone()))
            .await
            .expect("organization created");
        token
    }

    /// Sends `request` through the gateway's routes.
    pub async fn send(&self, request: TestRequest) -> Response {
        let app = test::init_service(
            App::new()
                .app_data(self.api.clone())
                .configure(configure_app),
        )
        .await;
        Response::read(test::call_service(&app, request.to_request()).await).await
    }

    fn authed(&self, request: TestRequest, token: &str) -> TestRequest {
        request.insert_header(("Authorization", format!("Bearer {token}")))
    }

    pub async fn get(&self, uri: &str) -> Response {
        self.get_as(uri, &self.token).await
    }

    pub async fn get_as(&self, uri: &str, token: &str) -> Response {
        self.send(self.authed(TestRequest::get().uri(uri), token))
            .await
    }

    pub async fn delete(&self, uri: &str) -> Response {
        self.send(self.authed(TestRequest::delete().uri(uri), &self.token))
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
            "POST" => TestRequest::post(),
            "PUT" => TestRequest::put(),
            "PATCH" => TestRequest::patch(),
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
                &json!({
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

    /// Creates a group with `members` (user ids) and returns its id.
    pub async fn create_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
        let response = self
            .post(
                "/scim/v2/Groups",
                &json!({
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

impl ScimClient for TestGateway {
    async fn send(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let response =
            TestGateway::send(self, scim_request(method, uri, &self.token, body.as_ref())).await;
        (response.status.as_u16(), response.body)
    }
}
