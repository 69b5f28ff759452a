//! The persons' data keys move from `person_keys` into their users' rows
//! (`scim_users.kek_id`, `scim_users.wrapped_key`): the create that makes a
//! key writes it with the user, the delete that removes the user destroys it,
//! and a create batch costs no statement of its own for its keys. Keys of
//! users no longer in the view (none are expected: a delete removed both)
//! are dropped with `person_keys`.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::{PersonKeys, ScimUsers};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Copies the keys between the two tables, both backends alike (no value
/// from outside: a fixed statement).
const KEYS_INTO_USERS: &str = "UPDATE scim_users SET \
     kek_id = (SELECT k.kek_id FROM person_keys k \
               WHERE k.org_id = scim_users.org_id AND k.user_id = scim_users.id), \
     wrapped_key = (SELECT k.wrapped_key FROM person_keys k \
                    WHERE k.org_id = scim_users.org_id AND k.user_id = scim_users.id)";

const KEYS_OUT_OF_USERS: &str = "INSERT INTO person_keys \
     (org_id, user_id, kek_id, wrapped_key, created_at) \
     SELECT org_id, id, kek_id, wrapped_key, created_at FROM scim_users \
     WHERE wrapped_key IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [ScimUsers::KekId, ScimUsers::WrappedKey] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ScimUsers::Table)
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared(KEYS_INTO_USERS).await?;
        manager
            .drop_table(Table::drop().table(PersonKeys::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The table as the migration before this one made it.
        super::m20261203_000010_person_keys::Migration
            .up(manager)
            .await?;
        manager
            .get_connection()
            .execute_unprepared(KEYS_OUT_OF_USERS)
            .await?;
        for column in [ScimUsers::WrappedKey, ScimUsers::KekId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ScimUsers::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    use sea_orm_migration::MigratorTrait;

    use super::super::Migrator;

    /// Migrations before this one: a gateway as it was with `person_keys`.
    const BEFORE: u32 = 13;

    #[tokio::test]
    async fn keys_move_into_their_users_rows() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(BEFORE)).await.unwrap();
        let org = uuid::Uuid::now_v7();
        let (kept, keyless) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO organizations (id, name, created_at, workspace_id, default_role) \
             VALUES (?, 'org', 0, ?, 'member')",
            [org.into(), uuid::Uuid::now_v7().into()],
        ))
        .await
        .unwrap();
        for user in [kept, keyless] {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO scim_users (org_id, id, user_name, user_name_key, document, \
                 version, event_version, created_at, last_modified) \
                 VALUES (?, ?, ?, ?, '{}', 1, 1, 0, 0)",
                [
                    org.into(),
                    user.into(),
                    user.to_string().into(),
                    user.to_string().into(),
                ],
            ))
            .await
            .unwrap();
        }
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO person_keys (org_id, user_id, kek_id, wrapped_key, created_at) \
             VALUES (?, ?, 'kek-1', 'wrapped', 0)",
            [org.into(), kept.into()],
        ))
        .await
        .unwrap();

        Migrator::up(&db, None).await.unwrap();

        let keys = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id, kek_id, wrapped_key FROM scim_users ORDER BY id",
            ))
            .await
            .unwrap();
        let keys: Vec<(uuid::Uuid, Option<String>, Option<String>)> = keys
            .iter()
            .map(|row| {
                (
                    row.try_get("", "id").unwrap(),
                    row.try_get("", "kek_id").unwrap(),
                    row.try_get("", "wrapped_key").unwrap(),
                )
            })
            .collect();
        let mut expected = vec![
            (kept, Some("kek-1".to_owned()), Some("wrapped".to_owned())),
            (keyless, None, None),
        ];
        expected.sort();
        assert_eq!(keys, expected);
        let tables = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT name FROM sqlite_master WHERE name = 'person_keys'",
            ))
            .await
            .unwrap();
        assert!(tables.is_empty(), "person_keys is gone");

        // Down to before this migration (the ones after it first).
        Migrator::down(&db, Some(3)).await.unwrap();
        let back = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT kek_id FROM person_keys",
            ))
            .await
            .unwrap();
        assert_eq!(back.len(), 1, "down puts the stored key back");
    }
}
