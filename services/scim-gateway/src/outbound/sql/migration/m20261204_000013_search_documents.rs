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
