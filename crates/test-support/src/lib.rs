//! Helpers for integration tests. SQLite is always there; PostgreSQL and
//! RabbitMQ are used when `SCIM_TEST_DATABASE_URL` / `SCIM_TEST_AMQP_URL` are
//! set, and their absence fails the test instead of skipping it when
//! `SCIM_TEST_REQUIRE_INFRA=1` (as `.ci/run` sets it).
//!
//! Every service keeps one integration-test binary (`tests/it/main.rs`)
//! built on these pieces: [`gateway::TestGateway`] (a gateway on a fresh
//! database with an organization and its token), [`http`] (requests to an
//! actix app and its answers), [`broker::TestBroker`] (a test's own
//! exchange and queues, consumers in the background), [`process`] (service
//! binaries as child processes, a test alone in its own process),
//! [`consumers`] (events made to order) and [`scenario`] (the delivery
//! scenario and its check).

// A test-only crate: a failed step panics, as in a test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

pub fn require_infra() -> bool {
    std::env::var("SCIM_TEST_REQUIRE_INFRA")
        .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn configured(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            if require_infra() {
                panic!("SCIM_TEST_REQUIRE_INFRA=1 but {variable} is not set");
            }
            eprintln!("skipping: {variable} is not set");
            None
        }
    }
}

/// The broker's URL, or None (skip) when it is not configured.
pub fn amqp_url() -> Option<String> {
    configured("SCIM_TEST_AMQP_URL")
}

/// A new, empty PostgreSQL database (named `scim_test_<uuid>`), or None
/// (skip) when PostgreSQL is not configured.
pub async fn postgres_database() -> Option<String> {
    let admin_url = configured("SCIM_TEST_DATABASE_URL")?;
    let name = format!("scim_test_{}", Uuid::new_v4().simple());
    let admin = match Database::connect(&admin_url).await {
        Ok(admin) => admin,
        Err(e) => panic!("PostgreSQL at SCIM_TEST_DATABASE_URL is unreachable: {e}"),
    };
    if let Err(e) = admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
    {
        panic!("creating test database {name}: {e}");
    }
    let _ = admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url)
        .to_owned();
    Some(format!("{base}/{name}"))
}

/// A fresh folder under the system's temp dir.
pub fn temp_dir(purpose: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("scim-{purpose}-{}", Uuid::new_v4().simple()))
}

/// A SQLite URL for a new database file in `dir`.
pub fn sqlite_url(dir: &std::path::Path, file: &str) -> String {
    format!("sqlite://{}/{file}", dir.display())
}

pub mod broker;
pub mod consumers;
pub mod gateway;
pub mod http;
pub mod privacy;
pub mod process;
pub mod proxy;
pub mod scenario;

/// `url` with its `host:port` replaced by `127.0.0.1:<port>` (to route a
/// client through a [`proxy::TcpProxy`]), and the original address.
pub fn reroute(url: &str, port: u16) -> Option<(String, std::net::SocketAddr)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .ok()?
        .next()?;
    let credentials = credentials.map(|c| format!("{c}@")).unwrap_or_default();
    Some((
        format!("{scheme}://{credentials}127.0.0.1:{port}/{path}"),
        upstream,
    ))
}
