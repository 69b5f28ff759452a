//! A clock the test moves: reservations expire when the test says so, not
//! when the machine gets round to it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use licensing::domain::ports::Clock;
use licensing::domain::service::{Licensing, SeatPolicy};
use licensing::outbound::sql::SqlLicensingStore;
use licensing::startup::LicensingService;

#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        TestClock(Arc::new(Mutex::new(t)))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The service's use cases on its store, both reading `clock`.
pub fn on_clock(
    service: &LicensingService,
    clock: &TestClock,
    policy: SeatPolicy,
) -> Licensing<SqlLicensingStore, TestClock> {
    Licensing::new(
        service.store.clone().with_clock(clock.clone()),
        clock.clone(),
        policy,
    )
}
