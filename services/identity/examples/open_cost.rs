//! What opening one sealed profile costs identity (docs/identity.md):
//! `cargo run --release -p identity --example open_cost`. Per event, as the
//! service does it on a cache hit: a copy of the event, then AES-256-GCM
//! open and the profile's JSON; and without a key (erased). Prints figures,
//! asserts nothing.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use provisioning_events::sealing::DataKey;
use provisioning_events::{
    Aggregate, AggregateKind, Event, EventBody, SCHEMA_VERSION, UserProfile,
};
use uuid::Uuid;

fn per_event(n: u32, mut step: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        step();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    let profile = UserProfile {
        user_name: "ann.lee@example.com".into(),
        external_id: Some("00u1abcd".into()),
        email: Some("ann.lee@example.com".into()),
        given_name: Some("Ann".into()),
        family_name: Some("Lee".into()),
        display_name: Some("Ann Lee".into()),
    };
    let key = DataKey::generate().unwrap();
    let mut event = Event {
        id: Uuid::now_v7(),
        seq: 1,
        schema_version: SCHEMA_VERSION,
        org_id: Uuid::now_v7(),
        workspace_id: Uuid::now_v7(),
        aggregate: Aggregate {
            kind: AggregateKind::User,
            id: Uuid::now_v7().to_string(),
            version: 1,
        },
        occurred_at: chrono::Utc::now(),
        traceparent: None,
        body: EventBody::UserProvisioned {
            account_id: Uuid::now_v7(),
            default_role: "member".into(),
            seat_key: Some("user:h:00".into()),
            profile: profile.into(),
        },
    };
    event.seal_with(&key).unwrap();
    let n = 200_000;
    for round in 1..=3 {
        let opened = per_event(n, || {
            let mut copy = event.clone();
            copy.open_with(Some(&key)).unwrap();
            std::hint::black_box(&copy);
        });
        let erased = per_event(n, || {
            let mut copy = event.clone();
            copy.open_with(None).unwrap();
            std::hint::black_box(&copy);
        });
        println!(
            "round {round}: opened {opened:.2} µs/event, erased (no key) {erased:.2} µs/event"
        );
    }
}
