//! The console's browser walk (`tests/console-walk`, the same one the
//! embedded suite runs) on the distributed services: the four service
//! binaries with docker-compose.yml's environment on PostgreSQL and
//! RabbitMQ, and the `console` binary with its compose environment, pointed
//! at them. Every page is checked by axe-core; screenshots go to the test's
//! target dir (`console-screenshots-distributed/`). Skipped with a message
//! without chromedriver, PostgreSQL or RabbitMQ, unless
//! `SCIM_TEST_REQUIRE_INFRA=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use console_walk::{Browser, WalkTarget};
use futures_util::FutureExt;
use system_tests::OtlpReceiver;
use system_tests::deployment::{ADMIN_KEY, start, start_console};

#[actix_web::test]
async fn an_admin_walks_the_console_of_the_distributed_services() {
    let screenshots =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots-distributed");
    let Some(browser) = Browser::start(&screenshots).await else {
        return;
    };
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let (_otlp, otlp_endpoint) = OtlpReceiver::start().unwrap();
    let Some(mut deployment) = start(amqp_url, &otlp_endpoint).await else {
        return;
    };
    start_console(&mut deployment).await;
    let target = WalkTarget {
        console_url: deployment.url("console").to_owned(),
        scim_url: format!("{}/scim/v2", deployment.url("scim-gateway")),
        admin_key: ADMIN_KEY.to_owned(),
    };
    let walked = AssertUnwindSafe(console_walk::walk(&browser, &target))
        .catch_unwind()
        .await;
    browser.close().await;
    deployment.clean_broker().await;
    if let Err(failed) = walked {
        eprintln!("{}", deployment.logs());
        std::panic::resume_unwind(failed);
    }
}
