//! The `console` binary as the distributed deployment runs it: it serves
//! `/healthz`, `/readyz` and the sign-in page with its security headers
//! from its environment alone, and refuses to start without an admin key.
//! (Being an integration test also makes `cargo test --workspace` build the
//! binary that tests/system starts.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::process::{free_port, terminate};

fn console(port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_console"));
    command
        .env_clear()
        .env("SCIM_HTTP__HOST", "127.0.0.1")
        .env("SCIM_HTTP__PORT", port.to_string())
        // Nothing listens there: the console serves its own pages anyway.
        .env(
            "SCIM_CONSOLE__GATEWAY_URL",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[actix_web::test]
async fn the_binary_serves_the_console_from_its_environment() {
    let port = free_port();
    let mut child = console(port)
        .env("SCIM_ADMIN_KEY", "binary-test-admin-key")
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let healthz = loop {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await {
            break response;
        }
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "the console exited before serving"
        );
        assert!(Instant::now() < deadline, "the console never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(healthz.status(), 200);
    let readyz = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 200);
    let sign_in = http
        .get(format!("{base}/console/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 200);
    let csp = sign_in.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(sign_in.text().await.unwrap().contains("id=\"admin-key\""));
    terminate(&mut child, Duration::from_secs(10));
}

#[test]
fn the_binary_refuses_to_start_without_an_admin_key() {
    let output = console(free_port()).output().unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("SCIM_ADMIN_KEY is not set"), "{said}");
}
