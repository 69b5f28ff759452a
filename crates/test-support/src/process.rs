//! Child processes of integration tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Stops `child` as an operator would: SIGTERM, then waits for it to exit;
/// SIGKILL once `grace` is over. The signal goes through `/bin/sh`'s `kill`
/// builtin: a bare machine need not have procps' `kill` binary.
pub fn terminate(child: &mut Child, grace: Duration) {
    let _ = Command::new("sh")
        .args(["-c", "kill -TERM \"$1\"", "sh", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A service binary run as its own process, its output appended to `log`;
/// killed (SIGKILL) when dropped.
pub struct ServiceProcess {
    program: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl ServiceProcess {
    /// Nothing runs until [`ServiceProcess::start`].
    pub fn new(program: impl Into<PathBuf>, env: Vec<(String, String)>, log: PathBuf) -> Self {
        ServiceProcess {
            program: program.into(),
            env,
            log,
            child: None,
        }
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let output = log.try_clone().expect("the log file's handle");
        let child = Command::new(&self.program)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", self.program.display()));
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no acks, no commit in flight.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

const ALONE: &str = "SCIM_TEST_ALONE";

/// For a test that changes process-wide state (a global tracing subscriber,
/// say): true in a process of this test binary running only the test `name`
/// (its full path, e.g. `tracing::one_trace`), where it does its work.
/// Elsewhere it runs that process, checks that the test ran there and
/// passed, and returns false.
pub fn in_own_process(name: &str) -> bool {
    if std::env::var(ALONE).is_ok_and(|alone| alone == name) {
        return true;
    }
    let binary = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(binary)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, name)
        .output()
        .unwrap_or_else(|e| panic!("running {name} in its own process: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in its own process: {}\n{stdout}\n{stderr}",
        output.status
    );
    false
}
