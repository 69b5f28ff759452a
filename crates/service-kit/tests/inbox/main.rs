//! The consumer inbox against SQLite and (when configured) PostgreSQL, on
//! the migrations every service runs: claims one at a time and in batches
//! (`claims`), and retention (`retention`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod claims;
mod retention;

use provisioning_events::{AggregateKind, Event, EventBody, UserProfile};
use sea_orm::DatabaseConnection;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use service_kit::inbox::{InboxKeyMigration, InboxMigration, InboxRetentionMigration};
use test_support::consumers::event;

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(InboxMigration),
            Box::new(InboxKeyMigration),
            Box::new(InboxRetentionMigration),
        ]
    }
}

/// A migrated inbox database at `url`.
async fn database(url: &str) -> DatabaseConnection {
    let db = service_kit::db::connect(url, 2, "the test database")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

/// An update of user `id` at `version`.
fn user(id: &str, version: i64) -> Event {
    event(
        AggregateKind::User,
        id,
        version,
        EventBody::UserUpdated {
            profile: UserProfile::default().into(),
        },
    )
}
