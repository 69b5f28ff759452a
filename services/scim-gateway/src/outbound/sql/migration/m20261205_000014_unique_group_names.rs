//! Group `displayName` unique per organization, case-insensitively
//! (`scim_groups.unique_name_key` under a unique index). Groups that already
//! share a name keep working: the oldest of each name (by creation, then id)
//! takes the key, the others keep a null key — outside the index — until
//! they are renamed to a free name. Nothing is renamed or deleted: the names
//! are the IdP's, and a rename here would be undone by its next sync.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::ScimGroups;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "scim_groups_unique_name";

/// The oldest group of each (organization, folded name) takes the key; a
/// fixed statement, both backends alike.
const KEY_THE_OLDEST: &str = "UPDATE scim_groups SET unique_name_key = display_name_key \
     WHERE NOT EXISTS (SELECT 1 FROM scim_groups older \
       WHERE older.org_id = scim_groups.org_id \
         AND older.display_name_key = scim_groups.display_name_key \
         AND (older.created_at < scim_groups.created_at \
              OR (older.created_at = scim_groups.created_at AND older.id < scim_groups.id)))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ScimGroups::Table)
                    .add_column(ColumnDef::new(ScimGroups::UniqueNameKey).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(KEY_THE_OLDEST)
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ScimGroups::Table)
                    .col(ScimGroups::OrgId)
                    .col(ScimGroups::UniqueNameKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(ScimGroups::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ScimGroups::Table)
                    .drop_column(ScimGroups::UniqueNameKey)
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    use sea_orm_migration::MigratorTrait;

    use super::super::Migrator;
    use super::Migration;

    #[tokio::test]
    async fn the_oldest_of_a_shared_name_takes_the_key_and_the_others_keep_working() {
        let (db, org) = super::super::test_support::just_before(&Migration).await;
        let groups: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
        // Two named "eng" (created 2 then 1: the second is the oldest), one "ops".
        for (id, key, created) in [
            (groups[0], "eng", 2),
            (groups[1], "eng", 1),
            (groups[2], "ops", 5),
        ] {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO scim_groups (org_id, id, display_name, display_name_key, document, \
                 version, event_version, created_at, last_modified) \
                 VALUES (?, ?, ?, ?, '{}', 1, 1, ?, 0)",
                [
                    org.into(),
                    id.into(),
                    key.into(),
                    key.into(),
                    created.into(),
                ],
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, Some(1)).await.unwrap();
        let keys = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id, unique_name_key FROM scim_groups",
            ))
            .await
            .unwrap();
        let key_of = |id: uuid::Uuid| -> Option<String> {
            keys.iter()
                .find(|row| row.try_get::<uuid::Uuid>("", "id").unwrap() == id)
                .map(|row| row.try_get("", "unique_name_key").unwrap())
                .unwrap()
        };
        assert_eq!(key_of(groups[0]), None);
        assert_eq!(key_of(groups[1]).as_deref(), Some("eng"));
        assert_eq!(key_of(groups[2]).as_deref(), Some("ops"));

        // The index refuses a second keyed "eng" and takes any number of nulls.
        let insert = |id: uuid::Uuid, key: Option<&str>| {
            Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO scim_groups (org_id, id, display_name, display_name_key, document, \
                 version, event_version, created_at, last_modified, unique_name_key) \
                 VALUES (?, ?, 'eng', 'eng', '{}', 1, 1, 9, 0, ?)",
                [org.into(), id.into(), key.map(str::to_owned).into()],
            )
        };
        assert!(
            db.execute_raw(insert(uuid::Uuid::now_v7(), Some("eng")))
                .await
                .is_err()
        );
        db.execute_raw(insert(uuid::Uuid::now_v7(), None))
            .await
            .unwrap();

        Migrator::down(&db, Some(1)).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
    }
}
