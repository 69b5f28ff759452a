//! Issue 21's acceptance on the distributed deployment: the four service
//! processes on PostgreSQL (a database each) and RabbitMQ, started as compose
//! starts them, run the privacy scenario of `test_support::privacy` (a
//! person with a marker in every personal value provisioned, renamed, put in
//! a group, disabled, re-enabled, deleted; a second one's rename a dead
//! letter before their delete). Afterwards no row of any table of the four
//! databases nor of the rebuilt ones, no admin answer, no log line of any
//! process (before and after their stop) and no span exported over OTLP
//! holds a marker; rebuild, diff and replay work; the team follows its
//! group.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use system_tests::OtlpReceiver;
use system_tests::deployment::{ADMIN_KEY, Deployment, scimctl_command, start_with};
use test_support::privacy::{self, Platform};

struct Distributed {
    deployment: Deployment,
    http: reqwest::Client,
}

impl Platform for Distributed {
    async fn http(
        &self,
        method: &str,
        url: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, url).bearer_auth(bearer);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn url(&self, service: &str) -> String {
        let name = if service == "gateway" {
            "scim-gateway"
        } else {
            service
        };
        self.deployment.url(name).to_owned()
    }

    fn admin_key(&self) -> &str {
        ADMIN_KEY
    }

    /// `scimctl` as `deployment::scimctl` runs it: its rebuild of identity
    /// asks the gateway for data keys on the test's broker and queue.
    async fn scimctl(&self, args: &[&str]) -> Output {
        let mut command = scimctl_command(&self.deployment);
        command.args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    async fn fresh_database(&self) -> String {
        test_support::postgres_database().await.expect("PostgreSQL")
    }

    fn database(&self, service: &str) -> String {
        self.deployment.databases[service].clone()
    }

    fn logs(&self) -> String {
        self.deployment
            .processes
            .values()
            .map(|p| p.output())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[actix_web::test]
async fn a_deleted_person_leaves_no_trace_in_the_distributed_deployment() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let (otlp, otlp_endpoint) = OtlpReceiver::start().unwrap();
    // Identity gives up on an event quickly, so that the poisoned person's
    // rename reaches its dead queue within the test.
    let quick_dead = [
        ("identity", "SCIM_AMQP__MAX_ATTEMPTS", "2"),
        ("identity", "SCIM_AMQP__RETRY_DELAY_MS", "100"),
    ];
    let Some(deployment) = start_with(amqp_url, &otlp_endpoint, &quick_dead).await else {
        return;
    };
    let mut platform = Distributed {
        deployment,
        http: reqwest::Client::new(),
    };

    let outcome = privacy::forget_a_person(&platform).await;

    for process in platform.deployment.processes.values_mut() {
        process.stop(Duration::from_secs(15));
    }
    for line in platform.logs().lines() {
        outcome.assert_clean("a log line", line);
    }
    let spans = otlp.spans();
    assert!(!spans.is_empty(), "no span exported");
    for span in spans {
        let attributes = format!("{} {:?}", span.name, span.attributes);
        outcome.assert_clean(&format!("a span of {}", span.service), &attributes);
    }
    platform.deployment.clean_broker().await;
}
