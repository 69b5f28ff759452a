//! The only place the console's adapters read the time.

use chrono::{DateTime, Utc};

use crate::domain::ports::Clock;

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
