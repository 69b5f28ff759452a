//! Test harness: a gateway on a fresh database per test (the shared
//! `test_support::gateway`), SQLite always and PostgreSQL when
//! `SCIM_TEST_DATABASE_URL` is set. With `SCIM_TEST_REQUIRE_INFRA=1` a missing
//! PostgreSQL fails the test instead of skipping it. What is the gateway
//! suite's own: its settings and the macro running a test on both backends.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use scim_gateway::domain::models::{BearerToken, OrgId};
use scim_gateway::domain::ports::{SeatAuthority, SeatDecision, SeatFuture};
use scim_gateway::startup;

pub use test_support::gateway::{Backend, TestGateway as TestApp};
pub use test_support::http::Response;

/// A gateway with the suite's limits (50 results a page, 64 KiB bodies) and
/// base URL, on a fresh database of `backend`, with the organization
/// "Test org"; None when the backend is not available here (PostgreSQL not
/// configured).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let url = backend.fresh_database("gateway.db").await?;
    Some(TestApp::spawn(&suite_settings(url), "Test org").await)
}

/// Licensing with an exact quota, deciding in the order it is asked: the
/// first `quota` distinct keys get seats.
#[derive(Clone)]
struct QuotaSeats {
    quota: u32,
    granted: Arc<Mutex<HashSet<String>>>,
}

impl SeatAuthority for QuotaSeats {
    fn reserve<'a>(&'a self, _org: OrgId, key: &'a str) -> SeatFuture<'a> {
        Box::pin(async move {
            let mut granted = self.granted.lock().expect("lock");
            let used = u32::try_from(granted.len()).expect("small");
            if granted.contains(key) || used < self.quota {
                granted.insert(key.to_owned());
                Ok(SeatDecision::Granted)
            } else {
                Ok(SeatDecision::Denied {
                    used,
                    quota: self.quota,
                })
            }
        })
    }
}

/// [`spawn_app`] whose licensing grants exactly `quota` seats.
pub async fn spawn_app_with_seat_quota(backend: Backend, quota: u32) -> Option<TestApp> {
    let url = backend.fresh_database("gateway.db").await?;
    let seats = QuotaSeats {
        quota,
        granted: Arc::default(),
    };
    let (api, store) = startup::build_api_with(&suite_settings(url), Arc::new(seats))
        .await
        .expect("gateway");
    let token = startup::generate_token();
    let org = startup::ensure_organization_with_token(
        &store,
        "Test org",
        &BearerToken::new(token.clone()),
    )
    .await
    .expect("organization");
    Some(TestApp {
        api,
        store,
        token,
        org,
    })
}

/// The suite's settings on `database_url`, with a key-encryption key of its
/// own (no key file written into the source tree).
pub fn suite_settings(database_url: String) -> scim_gateway::config::Settings {
    let mut settings = test_support::gateway::settings(database_url);
    settings.http.public_base_url = Some("http://scim.test/scim/v2".into());
    settings.http.max_body_bytes = 64 * 1024;
    settings.scim.max_results = 50;
    settings.keys.key_encryption_key = Some(new_kek());
    settings
}

/// A new key-encryption key, as `keys.key_encryption_key` takes it.
pub fn new_kek() -> scim_gateway::config::Secret {
    let kek = provisioning_events::sealing::KeyEncryptionKey::generate().expect("randomness");
    scim_gateway::config::Secret::new(kek.to_base64())
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
                    let app = $crate::support::spawn_app($crate::support::Backend::Sqlite).await.expect("sqlite");
                    scenario(app).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    if let Some(app) = $crate::support::spawn_app($crate::support::Backend::Postgres).await {
                        scenario(app).await;
                    }
                }
            }
        )*
    };
}

/// One test per backend (`NAME::sqlite`, `NAME::postgres`) of each
/// `async fn NAME(backend: Backend)` named, for tests that build their own
/// gateway.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// The ids of a group's `members`, sorted.
pub fn member_ids(group: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}
