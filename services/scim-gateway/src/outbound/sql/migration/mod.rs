//! Schema migrations of the gateway database (PostgreSQL and SQLite alike).

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261128_000001_create_scim_view;
mod m20261128_000002_journal;
mod m20261129_000003_dead_letters;
mod m20261129_000004_journal_traceparent;
mod m20261129_000005_entitlement;
mod m20261129_000006_workspace_name;
mod m20261129_000007_token_expiry;
mod m20261129_000008_token_last_used;
mod m20261202_000009_member_groups_index;
mod m20261203_000010_person_keys;
mod m20261204_000011_keys_in_users;
mod m20261204_000012_organization_limits;
mod m20261204_000013_search_documents;
mod m20261205_000014_unique_group_names;
mod m20261205_000015_forget_passwords;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_scim_view::Migration),
            Box::new(m20261128_000002_journal::Migration),
            Box::new(m20261129_000003_dead_letters::Migration),
            Box::new(m20261129_000004_journal_traceparent::Migration),
            Box::new(m20261129_000005_entitlement::Migration),
            // The inbox of the gateway's own consumer (subscription.changed).
            Box::new(service_kit::inbox::InboxMigration),
            Box::new(m20261129_000006_workspace_name::Migration),
            Box::new(m20261129_000007_token_expiry::Migration),
            Box::new(m20261129_000008_token_last_used::Migration),
            Box::new(service_kit::inbox::InboxKeyMigration),
            Box::new(m20261202_000009_member_groups_index::Migration),
            Box::new(service_kit::inbox::InboxRetentionMigration),
            Box::new(m20261203_000010_person_keys::Migration),
            Box::new(m20261204_000011_keys_in_users::Migration),
            Box::new(m20261204_000012_organization_limits::Migration),
            Box::new(m20261204_000013_search_documents::Migration),
            Box::new(m20261205_000014_unique_group_names::Migration),
            Box::new(m20261205_000015_forget_passwords::Migration),
        ]
    }
}

/// What the migrations' own tests share: a SQLite database migrated up to
/// just before a given migration, with one organization in it.
#[cfg(test)]
mod test_support {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
    use sea_orm_migration::{MigrationName, MigratorTrait};

    use super::Migrator;

    /// An in-memory database with every migration before `migration`
    /// applied, and the id of an organization it holds.
    pub(super) async fn just_before(
        migration: &dyn MigrationName,
    ) -> (DatabaseConnection, uuid::Uuid) {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let before = Migrator::migrations()
            .iter()
            .position(|m| m.name() == migration.name())
            .unwrap();
        Migrator::up(&db, Some(u32::try_from(before).unwrap()))
            .await
            .unwrap();
        let org = uuid::Uuid::now_v7();
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO organizations (id, name, created_at, workspace_id, default_role) \
             VALUES (?, 'org', 0, ?, 'member')",
            [org.into(), uuid::Uuid::now_v7().into()],
        ))
        .await
        .unwrap();
        (db, org)
    }
}
