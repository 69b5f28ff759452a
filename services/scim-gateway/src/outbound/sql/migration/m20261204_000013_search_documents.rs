//! The `search` column of `scim_users` and `scim_groups` (issue 23): each
//! row's search document (`search_document.rs`), which the generic filter
//! and sort path reads. Existing rows are filled here, in Rust, from their
//! stored documents, a batch at a time; then the expression index IdPs'
//! lookups need: the enterprise `employeeNumber` per organization.
//! (jsonb on PostgreSQL, JSON text on SQLite.)

use sea_orm::{DbBackend, Statement, Value as DbValue};
use sea_orm_migration::prelude::*;
use serde_json::Value;

use crate::outbound::sql::search_document::search_document;
use crate::outbound::sql::search_sql::{EMPLOYEE_NUMBER_INDEX, employee_number_index};
use crate::outbound::sql::tables::{ScimGroups, ScimUsers};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows filled per statement batch.
const BATCH: u64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for table in ["scim_users", "scim_groups"] {
            let mut column = ColumnDef::new(Alias::new("search"));
            match backend {
                DbBackend::Postgres => column.json_binary(),
                _ => column.text(),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(column.null())
                        .to_owned(),
                )
                .await?;
            backfill(manager, backend, table).await?;
        }
        manager
            .get_connection()
            .execute_unprepared(&employee_number_index(backend))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(EMPLOYEE_NUMBER_INDEX)
                    .table(ScimUsers::Table)
                    .to_owned(),
            )
            .await?;
        for table in [ScimUsers::Table.to_string(), ScimGroups::Table.to_string()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new("search"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Fills `search` of the rows that have none, `BATCH` rows a round.
async fn backfill(
    manager: &SchemaManager<'_>,
    backend: DbBackend,
    table: &str,
) -> Result<(), DbErr> {
    let rt = if table == "scim_users" {
        &scim_protocol::schema::USER_RESOURCE
    } else {
        &scim_protocol::schema::GROUP_RESOURCE
    };
    let db = manager.get_connection();
    let placeholder = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let cast = if backend == DbBackend::Postgres {
        "::jsonb"
    } else {
        ""
    };
    loop {
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT org_id, id, document FROM {table} WHERE search IS NULL LIMIT {BATCH}"
                ),
            ))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in rows {
            let org: uuid::Uuid = row.try_get("", "org_id")?;
            let id: uuid::Uuid = row.try_get("", "id")?;
            let document: String = row.try_get("", "document")?;
            // A document that is not JSON (never written so) searches as empty.
            let document: Value = serde_json::from_str(&document).unwrap_or(Value::Null);
            let search = search_document(&document, rt).to_string();
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE {table} SET search = {}{cast} WHERE org_id = {} AND id = {}",
                    placeholder(1),
                    placeholder(2),
                    placeholder(3)
                ),
                [DbValue::from(search), org.into(), id.into()],
            ))
            .await?;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    use sea_orm_migration::MigratorTrait;

    use super::super::Migrator;

    /// Migrations before this one.
    const BEFORE: u32 = 15;

    #[tokio::test]
    async fn existing_rows_get_their_search_documents() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(BEFORE)).await.unwrap();
        let org = uuid::Uuid::now_v7();
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO organizations (id, name, created_at, workspace_id, default_role) \
             VALUES (?, 'org', 0, ?, 'member')",
            [org.into(), uuid::Uuid::now_v7().into()],
        ))
        .await
        .unwrap();
        let document = r#"{"schemas":[],"userName":"Ann","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"E-1"}}"#;
        // More rows than a batch.
        for _ in 0..(super::BATCH + 3) {
            let user = uuid::Uuid::now_v7();
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO scim_users (org_id, id, user_name, user_name_key, document, \
                 version, event_version, created_at, last_modified) \
                 VALUES (?, ?, ?, ?, ?, 1, 1, 0, 0)",
                [
                    org.into(),
                    user.into(),
                    user.to_string().into(),
                    user.to_string().into(),
                    document.into(),
                ],
            ))
            .await
            .unwrap();
        }

        Migrator::up(&db, None).await.unwrap();

        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT search FROM scim_users",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len() as u64, super::BATCH + 3);
        for row in rows {
            let search: String = row.try_get("", "search").unwrap();
            let search: serde_json::Value = serde_json::from_str(&search).unwrap();
            assert_eq!(search["username"], "ann");
            assert_eq!(
                search["urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber"],
                "e-1"
            );
        }
        let plan = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!(
                    "EXPLAIN QUERY PLAN SELECT id FROM scim_users WHERE org_id = X'00' AND {} = 'e-1'",
                    crate::outbound::sql::search_sql::member(
                        DbBackend::Sqlite,
                        "\"scim_users\".\"search\"",
                        crate::outbound::sql::search_sql::EMPLOYEE_NUMBER_KEY,
                        crate::outbound::sql::filter_sql::ColumnKind::ExactText,
                    )
                ),
            ))
            .await
            .unwrap();
        let detail: String = plan[0].try_get("", "detail").unwrap();
        assert!(detail.contains(super::EMPLOYEE_NUMBER_INDEX), "{detail}");

        Migrator::down(&db, Some(1)).await.unwrap();
    }
}
