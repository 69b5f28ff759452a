//! Slows down guessing: a client address whose requests keep failing
//! authentication gets 429 (with `Retry-After`) instead of 401 once it has
//! used up its budget of failures for the window. Requests that do
//! authenticate are never refused, so a valid IdP behind the same address is
//! unaffected. The gateway's SCIM authentication and the console's sign-in
//! both count their failures here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct AuthThrottle {
    max_failures: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, Window>>,
}

struct Window {
    started: Instant,
    failures: u32,
}

/// Tracked addresses before expired windows are swept.
const SWEEP_ABOVE: usize = 10_000;

impl AuthThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// How long `client` must still wait when it is over its budget, without
    /// counting anything: for sign-ins, which are refused unchecked while
    /// the address waits (a right guess must not tell itself apart).
    pub fn waiting(&self, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let window = clients.get(&client)?;
        let elapsed = now.duration_since(window.started);
        (window.failures > self.max_failures && elapsed < self.window)
            .then(|| self.window.saturating_sub(elapsed))
    }

    /// Records a failed authentication from `client`; `Some(retry_after)`
    /// when the client is over its budget.
    pub fn failed(&self, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() > SWEEP_ABOVE {
            clients.retain(|_, w| now.duration_since(w.started) < self.window);
        }
        let window = clients.entry(client).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(window.started) >= self.window {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        (window.failures > self.max_failures).then(|| {
            self.window
                .saturating_sub(now.duration_since(window.started))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_budget_a_client_is_told_to_wait_and_others_are_not() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let guesser: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert_eq!(throttle.failed(guesser), None);
        }
        let wait = throttle.failed(guesser);
        assert!(wait.is_some_and(|w| w <= Duration::from_secs(60)));
        assert_eq!(throttle.failed(other), None);
        assert!(throttle.waiting(guesser).is_some());
        assert_eq!(throttle.waiting(other), None);
    }

    #[test]
    fn the_budget_comes_back_with_a_new_window() {
        let throttle = AuthThrottle::new(1, Duration::from_millis(30));
        let client: IpAddr = [10, 0, 0, 3].into();
        assert_eq!(throttle.failed(client), None);
        assert!(throttle.failed(client).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(throttle.failed(client), None);
    }
}
