//! Schema migrations of the team database (PostgreSQL and SQLite alike).

use sea_orm_migration::{MigrationTrait, MigratorTrait};
use service_kit::inbox::InboxMigration;

mod m20261129_000002_teams;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(InboxMigration),
            Box::new(m20261129_000002_teams::Migration),
            Box::new(service_kit::inbox::InboxKeyMigration),
            Box::new(service_kit::inbox::InboxRetentionMigration),
            Box::new(service_kit::catch_up::CatchUpMigration),
        ]
    }
}
