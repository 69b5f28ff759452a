//! Passwords written before the view stopped keeping them are removed from
//! the stored users (`domain::rules::storable`): a password an IdP synced
//! stays nowhere at rest. Only rows whose text names a `password` are read,
//! a batch at a time in key order; the search documents never held one.

use sea_orm::{DbBackend, Statement, Value as DbValue};
use sea_orm_migration::prelude::*;
use serde_json::Value;

use crate::domain::rules::storable;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BATCH: u64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        let p = |n: usize| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        };
        let mut after = (uuid::Uuid::nil(), uuid::Uuid::nil());
        loop {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "SELECT org_id, id, document FROM scim_users \
                         WHERE document LIKE '%\"password\"%' AND (org_id, id) > ({}, {}) \
                         ORDER BY org_id, id LIMIT {BATCH}",
                        p(1),
                        p(2)
                    ),
                    [after.0.into(), after.1.into()],
                ))
                .await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = (last.try_get("", "org_id")?, last.try_get("", "id")?);
            for row in rows {
                let org: uuid::Uuid = row.try_get("", "org_id")?;
                let id: uuid::Uuid = row.try_get("", "id")?;
                let text: String = row.try_get("", "document")?;
                let Ok(document) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let kept = storable(document.clone(), &scim_protocol::schema::USER_RESOURCE);
                if kept == document {
                    continue;
                }
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "UPDATE scim_users SET document = {} WHERE org_id = {} AND id = {}",
                        p(1),
                        p(2),
                        p(3)
                    ),
                    [DbValue::from(kept.to_string()), org.into(), id.into()],
                ))
                .await?;
            }
        }
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // What was removed is not to be put back.
        Ok(())
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
    async fn stored_passwords_are_removed_and_nothing_else_changes() {
        let (db, org) = super::super::test_support::just_before(&Migration).await;
        let with = r#"{"userName":"a","password":"s3cret","nickName":"password"}"#;
        let without = r#"{"userName":"b","title":"the \"password\" keeper"}"#;
        let ids = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
        for (id, document) in ids.iter().zip([with, without]) {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO scim_users (org_id, id, user_name, user_name_key, document, \
                 version, event_version, created_at, last_modified) \
                 VALUES (?, ?, ?, ?, ?, 1, 1, 0, 0)",
                [
                    org.into(),
                    (*id).into(),
                    id.to_string().into(),
                    id.to_string().into(),
                    document.into(),
                ],
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, Some(1)).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id, document FROM scim_users",
            ))
            .await
            .unwrap();
        let document_of = |id: uuid::Uuid| -> serde_json::Value {
            let row = rows
                .iter()
                .find(|r| r.try_get::<uuid::Uuid>("", "id").unwrap() == id)
                .unwrap();
            serde_json::from_str(&row.try_get::<String>("", "document").unwrap()).unwrap()
        };
        assert_eq!(
            document_of(ids[0]),
            serde_json::json!({"userName": "a", "nickName": "password"})
        );
        assert_eq!(
            document_of(ids[1]),
            serde_json::from_str::<serde_json::Value>(without).unwrap()
        );
    }
}
