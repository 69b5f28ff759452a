//! Child processes of integration tests.

use std::process::{Child, Command};
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
