//! `SqlAccountStore`: the identity ports on sea-orm. Statements are built
//! with sea-query (parameterized) and scoped by `org_id`.

use chrono::{DateTime, Utc};
use messaging::Admission;
use provisioning_events::Event;
use sea_orm::sea_query::{
    Cond, Expr, ExprTrait, Func, LikeExpr, Order, Query, SelectStatement, UpdateStatement,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult, TransactionTrait};
use service_kit::inbox::{self, InboxError};
use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::tables::{AccessChanges, Accounts};
use crate::domain::models::{
    Access, AccessChange, Account, AccountChange, AccountId, AccountPage, AccountQuery,
    AccountStatus, OrgId, Profile, WorkspaceId,
};
use crate::domain::ports::{AccountStore, StoreError};

#[derive(Clone)]
pub struct SqlAccountStore {
    db: DatabaseConnection,
}

impl SqlAccountStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(db_error)
    }
}

fn db_error(e: DbErr) -> StoreError {
    StoreError::Unavailable(e.into())
}

fn inbox_error(e: InboxError) -> StoreError {
    match e {
        InboxError::Contended(what) => StoreError::Conflict(what),
        e @ InboxError::BatchContended => StoreError::Conflict(e.to_string()),
        InboxError::Database(e) => db_error(e),
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::Unavailable(anyhow::anyhow!("timestamp out of range: {v}")))
}

fn permissions_text(permissions: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(permissions).map_err(|e| StoreError::Unavailable(e.into()))
}

fn select_accounts() -> SelectStatement {
    Query::select()
        .columns([
            Accounts::Id,
            Accounts::OrgId,
            Accounts::WorkspaceId,
            Accounts::ScimUserId,
            Accounts::Status,
            Accounts::Label,
            Accounts::UserName,
            Accounts::ExternalId,
            Accounts::Email,
            Accounts::GivenName,
            Accounts::FamilyName,
            Accounts::DisplayName,
            Accounts::Role,
            Accounts::Permissions,
            Accounts::CreatedAt,
            Accounts::UpdatedAt,
            Accounts::AnonymizedAt,
            Accounts::DeletedAt,
        ])
        .from(Accounts::Table)
        .to_owned()
}

/// Any profile column containing `text`, case-insensitively: a bound
/// `LOWER(column) LIKE '%text%'` with the pattern's own `%`, `_` and `!`
/// escaped (`!` is the escape character on both databases).
fn contains_text(text: &str) -> Cond {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            escaped.push('!');
        }
        escaped.push(c);
    }
    let pattern = format!("%{escaped}%");
    [
        Accounts::UserName,
        Accounts::Email,
        Accounts::DisplayName,
        Accounts::GivenName,
        Accounts::FamilyName,
    ]
    .into_iter()
    .fold(Cond::any(), |any, column| {
        any.add(
            Expr::expr(Func::lower(Expr::col(column)))
                .like(LikeExpr::new(pattern.clone()).escape('!')),
        )
    })
}

fn account_from(row: &QueryResult) -> Result<Account, StoreError> {
    let get_err = |e: DbErr| db_error(e);
    let text = |column: &str| row.try_get::<Option<String>>("", column).map_err(get_err);
    let status: String = row.try_get("", "status").map_err(get_err)?;
    let status = AccountStatus::parse(&status).ok_or_else(|| {
        StoreError::Unavailable(anyhow::anyhow!("unknown account status {status:?}"))
    })?;
    let profile = match text("user_name")? {
        Some(user_name) if status == AccountStatus::Active => Some(Profile {
            user_name,
            external_id: text("external_id")?,
            email: text("email")?,
            given_name: text("given_name")?,
            family_name: text("family_name")?,
            display_name: text("display_name")?,
        }),
        _ => None,
    };
    let permissions: String = row.try_get("", "permissions").map_err(get_err)?;
    let permissions: Vec<String> = serde_json::from_str(&permissions)
        .map_err(|e| StoreError::Unavailable(anyhow::anyhow!("permissions column: {e}")))?;
    let optional_time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>>("", column)
            .map_err(get_err)?
            .map(from_micros)
            .transpose()
    };
    Ok(Account {
        id: AccountId(row.try_get("", "id").map_err(get_err)?),
        org: OrgId(row.try_get("", "org_id").map_err(get_err)?),
        workspace: WorkspaceId(row.try_get("", "workspace_id").map_err(get_err)?),
        scim_user_id: row.try_get("", "scim_user_id").map_err(get_err)?,
        status,
        profile,
        label: row.try_get("", "label").map_err(get_err)?,
        access: Access {
            role: row.try_get("", "role").map_err(get_err)?,
            permissions,
        },
        created_at: from_micros(row.try_get("", "created_at").map_err(get_err)?)?,
        updated_at: from_micros(row.try_get("", "updated_at").map_err(get_err)?)?,
        anonymized_at: optional_time("anonymized_at")?,
        deleted_at: optional_time("deleted_at")?,
    })
}

/// New accounts, in one multi-row INSERT.
async fn insert_accounts<C: ConnectionTrait>(
    txn: &C,
    accounts: &[Account],
) -> Result<(), StoreError> {
    for chunk in service_kit::db::pow2_chunks(accounts) {
        insert_account_rows(txn, chunk).await?;
    }
    Ok(())
}

async fn insert_account_rows<C: ConnectionTrait>(
    txn: &C,
    accounts: &[Account],
) -> Result<(), StoreError> {
    let mut insert = Query::insert();
    insert.into_table(Accounts::Table).columns([
        Accounts::Id,
        Accounts::OrgId,
        Accounts::WorkspaceId,
        Accounts::ScimUserId,
        Accounts::Status,
        Accounts::Label,
        Accounts::UserName,
        Accounts::ExternalId,
        Accounts::Email,
        Accounts::GivenName,
        Accounts::FamilyName,
        Accounts::DisplayName,
        Accounts::Role,
        Accounts::Permissions,
        Accounts::CreatedAt,
        Accounts::UpdatedAt,
    ]);
    for account in accounts {
        // Without a profile (created from an erased one) every column of it
        // is NULL, as after an erasure.
        let user_name = account.profile.as_ref().map(|p| p.user_name.clone());
        let profile = account.profile.clone().unwrap_or_default();
        insert.values_panic([
            account.id.0.into(),
            account.org.0.into(),
            account.workspace.0.into(),
            account.scim_user_id.clone().into(),
            account.status.as_str().into(),
            account.label.clone().into(),
            user_name.into(),
            profile.external_id.into(),
            profile.email.into(),
            profile.given_name.into(),
            profile.family_name.into(),
            profile.display_name.into(),
            account.access.role.clone().into(),
            permissions_text(&account.access.permissions)?.into(),
            micros(account.created_at).into(),
            micros(account.updated_at).into(),
        ]);
    }
    txn.execute(&insert).await.map_err(db_error)?;
    Ok(())
}

/// The accounts of `users` in `org`. No ORDER BY: a plan cached while the
/// table was small may walk the primary key for it; a user has few accounts,
/// sorted by the caller.
async fn read_accounts<C: ConnectionTrait>(
    txn: &C,
    org: Uuid,
    users: &[String],
) -> Result<Vec<Account>, StoreError> {
    let rows = txn
        .query_all(
            &select_accounts()
                .and_where(Expr::col(Accounts::OrgId).eq(org))
                .and_where(Expr::col(Accounts::ScimUserId).is_in(service_kit::db::in_list(users)))
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(account_from).collect()
}

/// Sets the profile columns of `update` to `profile`: all of them empty
/// when there is none.
fn set_profile(update: &mut UpdateStatement, profile: Option<Profile>) {
    let user_name = profile.as_ref().map(|p| p.user_name.clone());
    let profile = profile.unwrap_or_default();
    update
        .value(Accounts::UserName, user_name)
        .value(Accounts::ExternalId, profile.external_id)
        .value(Accounts::Email, profile.email)
        .value(Accounts::GivenName, profile.given_name)
        .value(Accounts::FamilyName, profile.family_name)
        .value(Accounts::DisplayName, profile.display_name);
}

/// Writes a change exactly as the rules decided it.
async fn write_change<C: ConnectionTrait>(
    txn: &C,
    change: AccountChange,
) -> Result<(), StoreError> {
    match change {
        AccountChange::Create(account) => {
            return insert_accounts(txn, std::slice::from_ref(&account)).await;
        }
        AccountChange::UpdateProfile {
            id,
            profile,
            label,
            at,
        } => {
            let mut update = Query::update();
            update.table(Accounts::Table).value(Accounts::Label, label);
            set_profile(&mut update, Some(profile));
            update
                .value(Accounts::UpdatedAt, micros(at))
                .and_where(Expr::col(Accounts::Id).eq(id.0))
                .and_where(Expr::col(Accounts::Status).eq(AccountStatus::Active.as_str()));
            txn.execute(&update).await
        }
        AccountChange::Erase(erasure) => {
            let mut update = Query::update();
            update
                .table(Accounts::Table)
                .value(Accounts::Status, erasure.status.as_str())
                .value(Accounts::Label, erasure.label);
            set_profile(&mut update, None);
            update
                .value(Accounts::UpdatedAt, micros(erasure.updated_at))
                .value(Accounts::AnonymizedAt, micros(erasure.anonymized_at))
                .value(Accounts::DeletedAt, erasure.deleted_at.map(micros))
                .and_where(Expr::col(Accounts::Id).eq(erasure.id.0));
            txn.execute(&update).await
        }
    }
    .map_err(db_error)?;
    Ok(())
}

impl AccountStore for SqlAccountStore {
    async fn apply_event<F>(
        &self,
        event: &Event,
        scim_user_id: &str,
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> Result<Admission, StoreError>
    where
        F: FnOnce(&[Account]) -> Vec<AccountChange> + Send,
    {
        let txn = self.db.begin().await.map_err(db_error)?;
        let admission = inbox::claim(&txn, event, applied_at)
            .await
            .map_err(inbox_error)?;
        if admission != Admission::Apply {
            txn.rollback().await.map_err(db_error)?;
            return Ok(admission);
        }
        let mut accounts = read_accounts(
            &txn,
            event.org_id,
            std::slice::from_ref(&scim_user_id.to_owned()),
        )
        .await?;
        accounts.sort_by_key(|a| a.id.0);
        for change in decide(&accounts) {
            write_change(&txn, change).await?;
        }
        txn.commit().await.map_err(db_error)?;
        Ok(Admission::Apply)
    }

    async fn apply_events<F>(
        &self,
        events: &[Event],
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> Result<Vec<Admission>, StoreError>
    where
        F: Fn(&Event, &[Account]) -> Vec<AccountChange> + Send + Sync,
    {
        let txn = self.db.begin().await.map_err(db_error)?;
        let admissions = inbox::claim_batch(&txn, events, applied_at)
            .await
            .map_err(inbox_error)?;
        let admitted: Vec<&Event> = events
            .iter()
            .zip(&admissions)
            .filter(|(_, a)| **a == Admission::Apply)
            .map(|(e, _)| e)
            .collect();
        let mut users: HashMap<Uuid, Vec<String>> = HashMap::new();
        for event in &admitted {
            users
                .entry(event.org_id)
                .or_default()
                .push(event.aggregate.id.clone());
        }
        let mut accounts: HashMap<(Uuid, String), Vec<Account>> = HashMap::new();
        for (org, ids) in users {
            for chunk in ids.chunks(service_kit::db::MAX_IN_LIST) {
                for account in read_accounts(&txn, org, chunk).await? {
                    accounts
                        .entry((org, account.scim_user_id.clone()))
                        .or_default()
                        .push(account);
                }
            }
        }
        // Users written in this batch are read again before their next event;
        // new accounts wait in `created` for one multi-row INSERT, written
        // before anything that could read or update them.
        let mut written: HashSet<(Uuid, String)> = HashSet::new();
        let mut created: Vec<Account> = Vec::new();
        for event in admitted {
            let key = (event.org_id, event.aggregate.id.clone());
            if written.remove(&key) {
                insert_accounts(&txn, &created).await?;
                created.clear();
                let fresh = read_accounts(&txn, event.org_id, std::slice::from_ref(&key.1)).await?;
                accounts.insert(key.clone(), fresh);
            }
            let mine = accounts.entry(key.clone()).or_default();
            mine.sort_by_key(|a| a.id.0);
            let changes = decide(event, mine);
            if !changes.is_empty() {
                written.insert(key);
            }
            for change in changes {
                match change {
                    AccountChange::Create(account) => {
                        created.push(account);
                        if created.len() >= 500 {
                            insert_accounts(&txn, &created).await?;
                            created.clear();
                        }
                    }
                    other => {
                        insert_accounts(&txn, &created).await?;
                        created.clear();
                        write_change(&txn, other).await?;
                    }
                }
            }
        }
        insert_accounts(&txn, &created).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(admissions)
    }

    async fn account(&self, org: OrgId, id: AccountId) -> Result<Option<Account>, StoreError> {
        let row = self
            .db
            .query_one(
                &select_accounts()
                    .and_where(Expr::col(Accounts::OrgId).eq(org.0))
                    .and_where(Expr::col(Accounts::Id).eq(id.0))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        row.as_ref().map(account_from).transpose()
    }

    async fn accounts(&self, org: OrgId, query: &AccountQuery) -> Result<AccountPage, StoreError> {
        let mut select = select_accounts();
        select.and_where(Expr::col(Accounts::OrgId).eq(org.0));
        if let Some(status) = query.status {
            select.and_where(Expr::col(Accounts::Status).eq(status.as_str()));
        }
        if let Some(workspace) = query.workspace {
            select.and_where(Expr::col(Accounts::WorkspaceId).eq(workspace.0));
        }
        if let Some(scim_user_id) = &query.scim_user_id {
            select.and_where(Expr::col(Accounts::ScimUserId).eq(scim_user_id.as_str()));
        }
        if let Some(search) = &query.search {
            select.cond_where(contains_text(search));
        }
        if let Some(after) = query.after {
            select.and_where(Expr::col(Accounts::Id).gt(after.0));
        }
        select.order_by(Accounts::Id, Order::Asc);
        let page = service_kit::db::limited(
            self.db.get_database_backend(),
            select,
            query.limit.saturating_add(1),
            0,
        );
        let rows = self.db.query_all_raw(page).await.map_err(db_error)?;
        let mut accounts = rows
            .iter()
            .map(account_from)
            .collect::<Result<Vec<_>, _>>()?;
        let more = accounts.len() as u64 > query.limit;
        accounts.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let next_after = if more {
            accounts.last().map(|a| a.id)
        } else {
            None
        };
        Ok(AccountPage {
            accounts,
            next_after,
        })
    }

    async fn change_access(&self, org: OrgId, change: &AccessChange) -> Result<(), StoreError> {
        let before = permissions_text(&change.before.permissions)?;
        let after = permissions_text(&change.after.permissions)?;
        let txn = self.db.begin().await.map_err(db_error)?;
        let updated = txn
            .execute(
                &Query::update()
                    .table(Accounts::Table)
                    .value(Accounts::Role, change.after.role.as_str())
                    .value(Accounts::Permissions, after.as_str())
                    .value(Accounts::UpdatedAt, micros(change.changed_at))
                    .and_where(Expr::col(Accounts::OrgId).eq(org.0))
                    .and_where(Expr::col(Accounts::Id).eq(change.account.0))
                    .and_where(Expr::col(Accounts::Status).eq(AccountStatus::Active.as_str()))
                    .and_where(Expr::col(Accounts::Role).eq(change.before.role.as_str()))
                    .and_where(Expr::col(Accounts::Permissions).eq(before.as_str()))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        if updated.rows_affected() != 1 {
            txn.rollback().await.map_err(db_error)?;
            return Err(StoreError::Conflict(
                "the account changed since it was read".into(),
            ));
        }
        txn.execute(
            &Query::insert()
                .into_table(AccessChanges::Table)
                .columns([
                    AccessChanges::Id,
                    AccessChanges::OrgId,
                    AccessChanges::AccountId,
                    AccessChanges::ChangedBy,
                    AccessChanges::ChangedAt,
                    AccessChanges::RoleBefore,
                    AccessChanges::RoleAfter,
                    AccessChanges::PermissionsBefore,
                    AccessChanges::PermissionsAfter,
                ])
                .values_panic([
                    Uuid::now_v7().into(),
                    org.0.into(),
                    change.account.0.into(),
                    change.changed_by.clone().into(),
                    micros(change.changed_at).into(),
                    change.before.role.clone().into(),
                    change.after.role.clone().into(),
                    before.into(),
                    after.into(),
                ])
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }

    async fn access_changes(
        &self,
        org: OrgId,
        id: AccountId,
    ) -> Result<Vec<AccessChange>, StoreError> {
        let rows = self
            .db
            .query_all(
                &Query::select()
                    .columns([
                        AccessChanges::ChangedBy,
                        AccessChanges::ChangedAt,
                        AccessChanges::RoleBefore,
                        AccessChanges::RoleAfter,
                        AccessChanges::PermissionsBefore,
                        AccessChanges::PermissionsAfter,
                    ])
                    .from(AccessChanges::Table)
                    .and_where(Expr::col(AccessChanges::OrgId).eq(org.0))
                    .and_where(Expr::col(AccessChanges::AccountId).eq(id.0))
                    .order_by(AccessChanges::ChangedAt, Order::Asc)
                    .order_by(AccessChanges::Id, Order::Asc)
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let permissions = |column: &str| -> Result<Vec<String>, StoreError> {
                    let text: String = row.try_get("", column).map_err(db_error)?;
                    serde_json::from_str(&text).map_err(|e| StoreError::Unavailable(e.into()))
                };
                Ok(AccessChange {
                    account: id,
                    changed_by: row.try_get("", "changed_by").map_err(db_error)?,
                    changed_at: from_micros(row.try_get("", "changed_at").map_err(db_error)?)?,
                    before: Access {
                        role: row.try_get("", "role_before").map_err(db_error)?,
                        permissions: permissions("permissions_before")?,
                    },
                    after: Access {
                        role: row.try_get("", "role_after").map_err(db_error)?,
                        permissions: permissions("permissions_after")?,
                    },
                })
            })
            .collect()
    }
}
