//! Issue 21's acceptance on the embedded process: the `scim-embedded` binary
//! run as `cargo run --release` runs it (an empty folder, `./data` under it,
//! its log captured), the privacy scenario of
//! `test_support::privacy` driven over HTTP and `scimctl`; then a graceful
//! stop (SIGTERM), after which no file of the folder — the databases with
//! their `-wal`/`-shm`, the key files, the databases `scimctl rebuild` made,
//! the log — holds a marker's bytes.
//!
//! `scimctl` is run as a binary: `cargo test --workspace` builds it (alone:
//! `cargo build -p scimctl` first).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::privacy::{self, Outcome, Platform};

const ADMIN_KEY: &str = "privacy-test-admin-key";

struct Embedded {
    child: Child,
    dir: PathBuf,
    port: u16,
    http: reqwest::Client,
}

/// `scimctl`, built beside this test binary (target/<profile>/scimctl).
fn scimctl_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("scimctl"))
        .expect("target/<profile>");
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build -p scimctl` (or the whole `cargo test --workspace`) first",
        path.display()
    );
    path
}

impl Embedded {
    /// Starts the binary in `dir` with no configuration but its port and
    /// admin key: its data goes to `dir/data`, its output to
    /// `dir/embedded.log`.
    fn start(dir: PathBuf) -> Embedded {
        std::fs::create_dir_all(&dir).unwrap();
        let port = test_support::process::free_port();
        let log = std::fs::File::create(dir.join("embedded.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_scim-embedded"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SCIM_HTTP__PORT", port.to_string())
            .env("SCIM_ADMIN_KEY", ADMIN_KEY)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Embedded {
            child,
            dir,
            port,
            http: reqwest::Client::new(),
        }
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", self.url("gateway")))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                !matches!(self.child.try_wait(), Ok(Some(_))),
                "scim-embedded exited:\n{}",
                self.logs()
            );
            assert!(Instant::now() < deadline, "scim-embedded not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, and the exit (SIGKILL only after 30 s).
    fn stop(&mut self) -> ExitStatus {
        test_support::process::terminate(&mut self.child, Duration::from_secs(30));
        self.child.wait().unwrap()
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Platform for Embedded {
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
        let response = request.send().await.expect("the process answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn url(&self, _service: &str) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn admin_key(&self) -> &str {
        ADMIN_KEY
    }

    async fn scimctl(&self, args: &[&str]) -> Output {
        let url = self.url("gateway");
        Command::new(scimctl_binary())
            .env_clear()
            .env("SCIM_ADMIN_KEY", ADMIN_KEY)
            .args([
                "--gateway",
                &url,
                "--identity",
                &url,
                "--team",
                &url,
                "--licensing",
                &url,
            ])
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    async fn fresh_database(&self) -> String {
        let dir = self.dir.join("rebuilt");
        std::fs::create_dir_all(&dir).unwrap();
        let file = format!("{}.db", uuid::Uuid::new_v4().simple());
        test_support::sqlite_url(&dir, &file)
    }

    fn database(&self, service: &str) -> String {
        test_support::sqlite_url(&self.dir.join("data"), &format!("{service}.db"))
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("embedded.log")).unwrap_or_default()
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// No file under the folder holds a marker's bytes (ASCII case ignored).
fn assert_no_file_holds(dir: &Path, outcome: &Outcome) {
    let scanned = files(dir);
    let names: Vec<String> = scanned
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    for expected in [
        "data/gateway.db",
        "data/identity.db",
        "data/team.db",
        "data/licensing.db",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not among {names:?}"
        );
    }
    for file in &scanned {
        let bytes = std::fs::read(file).unwrap().to_ascii_lowercase();
        for marker in &outcome.markers {
            let at = bytes
                .windows(marker.len())
                .position(|w| w == marker.as_bytes());
            assert!(
                at.is_none(),
                "{} holds the marker {marker} at byte {at:?} (files: {names:?})",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn a_deleted_person_leaves_no_trace_in_the_embedded_process() {
    let dir = test_support::temp_dir("privacy");
    let mut embedded = Embedded::start(dir.clone());
    embedded.wait_ready().await;

    let outcome = privacy::forget_a_person(&embedded).await;

    let status = embedded.stop();
    assert!(
        status.success(),
        "the stop was not graceful: {status}\n{}",
        embedded.logs()
    );
    assert_no_file_holds(&dir, &outcome);
    for line in embedded.logs().lines() {
        outcome.assert_clean("a log line", line);
    }
}
