//! The userName checks of concurrent creates, read together: what arrives
//! while a check runs is answered by the next one statement instead of one
//! statement each (on SQLite every statement is a hop to the one connection's
//! thread and back). A check is a read; what it answers is what one
//! statement per create would have answered at that moment.

use std::collections::HashSet;

use sea_orm::sea_query::{Cond, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use service_kit::batching::Batcher;
use uuid::Uuid;

use super::group_commit::batches_at_once;
use super::rows::db_error;
use super::tables::ScimUsers;
use crate::domain::models::OrgId;
use crate::domain::ports::StoreError;

/// Checks answered by one statement at most.
const MAX_BATCH: usize = 64;

pub(super) struct UserNameChecks {
    batcher: Batcher<(OrgId, String), Result<bool, StoreError>>,
    db: DatabaseConnection,
}

impl UserNameChecks {
    pub(super) fn new(db: DatabaseConnection) -> Self {
        let readers = batches_at_once(&db, 4);
        let reader = db.clone();
        let batcher = Batcher::new(MAX_BATCH, readers, move |batch| {
            let db = reader.clone();
            async move { taken_names(&db, batch).await }
        });
        Self { batcher, db }
    }

    /// Whether a user of `org` has this userName (compared case-insensitively).
    pub(super) async fn taken(&self, org: OrgId, user_name: &str) -> Result<bool, StoreError> {
        self.batcher
            .submit((org, user_name.to_lowercase()))
            .await
            .unwrap_or_else(|| {
                Err(StoreError::Unavailable(anyhow::anyhow!(
                    "the user-name reader stopped"
                )))
            })
    }
}

impl UserNameChecks {
    /// For each userName of `org`, whether it is taken: one statement per
    /// `MAX_IN_LIST` names, outside the batcher (a Bulk wave is already a
    /// batch).
    pub(super) async fn taken_all(
        &self,
        org: OrgId,
        user_names: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        let batch: Vec<(OrgId, String)> = user_names
            .iter()
            .map(|name| (org, name.to_lowercase()))
            .collect();
        let taken = read_taken(&self.db, &batch).await?;
        Ok(batch
            .iter()
            .map(|(org, key)| taken.contains(&(org.0, key.clone())))
            .collect())
    }
}

/// One answer per (organization, folded userName), in order.
async fn taken_names(
    db: &DatabaseConnection,
    batch: Vec<(OrgId, String)>,
) -> Vec<Result<bool, StoreError>> {
    match read_taken(db, &batch).await {
        Ok(taken) => batch
            .iter()
            .map(|(org, key)| Ok(taken.contains(&(org.0, key.clone()))))
            .collect(),
        Err(e) => {
            let reason = e.to_string();
            batch
                .iter()
                .map(|_| Err(StoreError::Unavailable(anyhow::anyhow!("{reason}"))))
                .collect()
        }
    }
}

async fn read_taken(
    db: &DatabaseConnection,
    batch: &[(OrgId, String)],
) -> Result<HashSet<(Uuid, String)>, StoreError> {
    let mut taken = HashSet::new();
    for chunk in batch.chunks(service_kit::db::MAX_IN_LIST) {
        // (org, key) pairs as OR'ed equalities: each one a probe of the
        // unique (org_id, user_name_key) index, on PostgreSQL and SQLite alike.
        let mut any = Cond::any();
        for (org, key) in service_kit::db::in_list(chunk) {
            any = any.add(
                Cond::all()
                    .add(Expr::col(ScimUsers::OrgId).eq(org.0))
                    .add(Expr::col(ScimUsers::UserNameKey).eq(key)),
            );
        }
        let select = Query::select()
            .columns([ScimUsers::OrgId, ScimUsers::UserNameKey])
            .from(ScimUsers::Table)
            .cond_where(any)
            .to_owned();
        for row in db.query_all(&select).await.map_err(db_error)? {
            let org: Uuid = row.try_get("", "org_id").map_err(db_error)?;
            let key: String = row.try_get("", "user_name_key").map_err(db_error)?;
            taken.insert((org, key));
        }
    }
    Ok(taken)
}
