use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngExt;

use crate::domain::ports::Clock;

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn pause(&self, up_to: Duration) {
        let micros = u64::try_from(up_to.as_micros()).unwrap_or(u64::MAX);
        let wait = rand::rng().random_range(0..=micros);
        tokio::time::sleep(Duration::from_micros(wait)).await;
    }
}
