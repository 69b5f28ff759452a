//! Schema migrations of the licensing database (PostgreSQL and SQLite alike).

use sea_orm_migration::{MigrationTrait, MigratorTrait};
use service_kit::inbox::InboxMigration;

mod m20261129_000002_seats;
mod m20261129_000003_outbox;
mod m20261129_000004_seat_totals;
mod m20261202_000005_seat_indexes;
mod m20261203_000006_legacy_seat_keys;
mod m20261205_000007_seat_usage;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(InboxMigration),
            Box::new(m20261129_000002_seats::Migration),
            Box::new(m20261129_000003_outbox::Migration),
            Box::new(m20261129_000004_seat_totals::Migration),
            Box::new(m20261202_000005_seat_indexes::Migration),
            Box::new(service_kit::inbox::InboxKeyMigration),
            Box::new(service_kit::inbox::InboxRetentionMigration),
            Box::new(service_kit::catch_up::CatchUpMigration),
            Box::new(m20261203_000006_legacy_seat_keys::Migration),
            Box::new(m20261205_000007_seat_usage::Migration),
        ]
    }
}
