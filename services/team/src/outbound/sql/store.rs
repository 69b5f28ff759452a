//! `SqlTeamStore`: the team ports on sea-orm. Statements are built with
//! sea-query (parameterized) and scoped by `org_id`. Membership changes touch
//! only the named members (chunked), never the whole team.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use messaging::Admission;
use provisioning_events::Event;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr, Statement,
    TransactionTrait,
};
use service_kit::inbox::{self, InboxError};
use uuid::Uuid;

use super::account_writes::AccountWrites;
use super::tables::{TeamMembers, Teams, UserAccounts};
use crate::domain::models::{
    AccountState, AccountStates, EventReads, Member, OrgId, Page, Paged, Team, TeamChange, TeamId,
};
use crate::domain::ports::{StoreError, TeamStore};

/// Rows per statement when adding or removing many members.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct SqlTeamStore {
    db: DatabaseConnection,
}

impl SqlTeamStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(db_error)
    }

    /// One attempt of [`TeamStore::apply_events`].
    async fn apply_events_once<F>(
        &self,
        events: &[Event],
        reads: &[EventReads],
        applied_at: DateTime<Utc>,
        decide: &F,
    ) -> Result<Vec<Admission>, StoreError>
    where
        F: Fn(&Event, Option<&Team>, &AccountStates) -> Vec<TeamChange> + Send + Sync,
    {
        let txn = self.db.begin().await.map_err(db_error)?;
        let admissions = inbox::claim_batch(&txn, events, applied_at)
            .await
            .map_err(inbox_error)?;
        let applied: Vec<(&Event, &EventReads)> = (events.iter().zip(reads).zip(&admissions))
            .filter_map(|(pair, admission)| (*admission == Admission::Apply).then_some(pair))
            .collect();
        lock_users(&txn, applied.iter().map(|(e, r)| (OrgId(e.org_id), *r))).await?;
        let mut held = AccountWrites::default();
        for (event, reads) in applied {
            let org = OrgId(event.org_id);
            let (current, accounts) = load_reads(&txn, org, reads, &held).await?;
            for change in decide(event, current.as_ref(), &accounts) {
                write_change(&txn, org, change, &mut held).await?;
            }
        }
        held.flush(&txn).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(admissions)
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

fn team_from(row: &QueryResult) -> Result<Team, StoreError> {
    Ok(Team {
        id: TeamId(row.try_get("", "id").map_err(db_error)?),
        org: OrgId(row.try_get("", "org_id").map_err(db_error)?),
        workspace: row.try_get("", "workspace_id").map_err(db_error)?,
        group_id: row.try_get("", "group_id").map_err(db_error)?,
        name: row.try_get("", "name").map_err(db_error)?,
        created_at: from_micros(row.try_get("", "created_at").map_err(db_error)?)?,
        updated_at: from_micros(row.try_get("", "updated_at").map_err(db_error)?)?,
    })
}

fn select_teams() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .columns([
            Teams::Id,
            Teams::OrgId,
            Teams::WorkspaceId,
            Teams::GroupId,
            Teams::Name,
            Teams::CreatedAt,
            Teams::UpdatedAt,
        ])
        .from(Teams::Table)
        .to_owned()
}

async fn load_team<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    id: TeamId,
) -> Result<Option<Team>, StoreError> {
    let row = db
        .query_one(
            &select_teams()
                .and_where(Expr::col(Teams::OrgId).eq(org.0))
                .and_where(Expr::col(Teams::Id).eq(id.0))
                .to_owned(),
        )
        .await
        .map_err(db_error)?;
    row.as_ref().map(team_from).transpose()
}

/// The account states of `users` (those the map knows, or a held write
/// gives), `CHUNK` users per statement.
async fn load_account_states<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    users: &[String],
    held: &AccountWrites,
) -> Result<AccountStates, StoreError> {
    let mut states = Vec::new();
    for chunk in users.chunks(CHUNK) {
        let rows = db
            .query_all(
                &Query::select()
                    .columns([UserAccounts::ScimUserId, UserAccounts::State])
                    .from(UserAccounts::Table)
                    .and_where(Expr::col(UserAccounts::OrgId).eq(org.0))
                    .and_where(Expr::col(UserAccounts::ScimUserId).is_in(chunk.iter().cloned()))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        for row in rows {
            let state: String = row.try_get("", "state").map_err(db_error)?;
            if let Some(state) = AccountState::parse(&state) {
                states.push((row.try_get("", "scim_user_id").map_err(db_error)?, state));
            }
        }
    }
    // Collected in order: a held write's state replaces the stored one.
    let held_states = users
        .iter()
        .filter_map(|user| Some((user.clone(), held.overlay(org, user)?)));
    Ok(states.into_iter().chain(held_states).collect())
}

/// The user locks: users hash onto this many (a transaction holds at most
/// that many, whatever the group's size; PostgreSQL's lock table is small).
const USER_LOCKS: u64 = 64;

/// The lock of a user: stable across builds (UUIDv5), beside no other.
fn user_lock_key(org: OrgId, user: &str) -> i64 {
    let (high, _) = Uuid::new_v5(&org.0, format!("team-user-lock:{user}").as_bytes()).as_u64_pair();
    0x7465_616d_0000 + i64::try_from(high % USER_LOCKS).unwrap_or_default()
}

/// On PostgreSQL, user locks held until the transaction ends: shared on the
/// users whose states an add reads, exclusive on the user a `user.deleted`
/// deletes. A deletion and an add naming the user never overlap — the add
/// reads the state after the deletion committed, or the deletion removes
/// what the add committed — where READ COMMITTED alone lets the add insert
/// a member whose deletion found nothing to remove yet. All of a batch's
/// locks at its start, in key order: no waiting in a circle for them.
/// SQLite has one writer at a time (the inbox claim writes first).
async fn lock_users<'a, C: ConnectionTrait>(
    db: &C,
    reads: impl Iterator<Item = (OrgId, &'a EventReads)>,
) -> Result<(), StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let mut locks = BTreeMap::<i64, bool>::new();
    for (org, reads) in reads {
        for user in &reads.account_states_of {
            locks.entry(user_lock_key(org, user)).or_insert(false);
        }
        if let Some(user) = &reads.deletes_user {
            locks.insert(user_lock_key(org, user), true);
        }
    }
    let locks: Vec<(i64, bool)> = locks.into_iter().collect();
    for chunk in service_kit::db::pow2_chunks(&locks) {
        // A VALUES list is scanned in order: the locks are taken in key order.
        let rows: Vec<_> = (1..=chunk.len())
            .map(|i| format!("(${}::bigint, ${}::boolean)", 2 * i - 1, 2 * i))
            .collect();
        let sql = format!(
            "SELECT CASE WHEN l.x THEN pg_advisory_xact_lock(l.k) ELSE \
             pg_advisory_xact_lock_shared(l.k) END FROM (VALUES {}) AS l(k, x)",
            rows.join(", ")
        );
        let values = chunk.iter().flat_map(|&(k, x)| [k.into(), x.into()]);
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// Whether PostgreSQL ended the transaction as a deadlock's victim (40P01):
/// it was rolled back, so trying it again is safe.
fn is_deadlock(error: &StoreError) -> bool {
    let StoreError::Unavailable(error) = error else {
        return false;
    };
    error
        .chain()
        .any(|cause| match cause.downcast_ref::<DbErr>() {
            Some(
                DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)),
            ) => e
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "40P01"),
            _ => false,
        })
}

/// Attempts of a batch ended by a deadlock (a group's removals and a user's
/// deletion still meet on team_members rows, in any order).
const DEADLOCK_ATTEMPTS: usize = 4;

/// Reads what `reads` names, in the applying transaction (with the account
/// writes it still holds).
async fn load_reads<C: ConnectionTrait>(
    db: &C,
    org: OrgId,
    reads: &EventReads,
    held: &AccountWrites,
) -> Result<(Option<Team>, AccountStates), StoreError> {
    let team = match reads.team {
        Some(id) => load_team(db, org, id).await?,
        None => None,
    };
    let accounts = if reads.account_states_of.is_empty() {
        AccountStates::default()
    } else {
        load_account_states(db, org, &reads.account_states_of, held).await?
    };
    Ok((team, accounts))
}

/// Writes `change`, or holds it when it is an account-map write (written
/// by `held`'s flush before the commit).
async fn write_change<C: ConnectionTrait>(
    txn: &C,
    org: OrgId,
    change: TeamChange,
    held: &mut AccountWrites,
) -> Result<(), StoreError> {
    match change {
        TeamChange::Create(team) => {
            txn.execute(
                &Query::insert()
                    .into_table(Teams::Table)
                    .columns([
                        Teams::Id,
                        Teams::OrgId,
                        Teams::WorkspaceId,
                        Teams::GroupId,
                        Teams::Name,
                        Teams::CreatedAt,
                        Teams::UpdatedAt,
                    ])
                    .values_panic([
                        team.id.0.into(),
                        team.org.0.into(),
                        team.workspace.into(),
                        team.group_id.into(),
                        team.name.into(),
                        micros(team.created_at).into(),
                        micros(team.updated_at).into(),
                    ])
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        }
        TeamChange::Rename { id, name, at } => {
            txn.execute(
                &Query::update()
                    .table(Teams::Table)
                    .value(Teams::Name, name)
                    .value(Teams::UpdatedAt, micros(at))
                    .and_where(Expr::col(Teams::OrgId).eq(org.0))
                    .and_where(Expr::col(Teams::Id).eq(id.0))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        }
        TeamChange::AddMembers { id, users } => {
            for chunk in users.chunks(CHUNK) {
                let mut insert = Query::insert();
                insert
                    .into_table(TeamMembers::Table)
                    .columns([
                        TeamMembers::TeamId,
                        TeamMembers::OrgId,
                        TeamMembers::ScimUserId,
                    ])
                    .on_conflict(
                        OnConflict::columns([TeamMembers::TeamId, TeamMembers::ScimUserId])
                            .do_nothing()
                            .to_owned(),
                    );
                for user in chunk {
                    insert.values_panic([id.0.into(), org.0.into(), user.clone().into()]);
                }
                txn.execute(&insert).await.map_err(db_error)?;
            }
        }
        TeamChange::RemoveMembers { id, users } => {
            for chunk in users.chunks(CHUNK) {
                txn.execute(
                    &Query::delete()
                        .from_table(TeamMembers::Table)
                        .and_where(Expr::col(TeamMembers::TeamId).eq(id.0))
                        .and_where(Expr::col(TeamMembers::ScimUserId).is_in(chunk.iter().cloned()))
                        .to_owned(),
                )
                .await
                .map_err(db_error)?;
            }
        }
        TeamChange::Delete { id } => {
            txn.execute(
                &Query::delete()
                    .from_table(TeamMembers::Table)
                    .and_where(Expr::col(TeamMembers::TeamId).eq(id.0))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
            txn.execute(
                &Query::delete()
                    .from_table(Teams::Table)
                    .and_where(Expr::col(Teams::OrgId).eq(org.0))
                    .and_where(Expr::col(Teams::Id).eq(id.0))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        }
        TeamChange::LinkAccount {
            org,
            scim_user_id,
            account_id,
            state,
        } => held.hold(org, scim_user_id, Some(account_id), state),
        TeamChange::SetAccountState {
            org,
            scim_user_id,
            state,
        } => held.hold(org, scim_user_id, None, state),
        TeamChange::LeaveAllTeams { org, scim_user_id } => {
            txn.execute(
                &Query::delete()
                    .from_table(TeamMembers::Table)
                    .and_where(Expr::col(TeamMembers::OrgId).eq(org.0))
                    .and_where(Expr::col(TeamMembers::ScimUserId).eq(scim_user_id))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        }
    }
    Ok(())
}

fn after_uuid(page: &Page) -> Option<Uuid> {
    page.after.as_deref().and_then(|a| Uuid::parse_str(a).ok())
}

impl TeamStore for SqlTeamStore {
    async fn apply_event<F>(
        &self,
        event: &Event,
        reads: &EventReads,
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> Result<Admission, StoreError>
    where
        F: FnOnce(Option<&Team>, &AccountStates) -> Vec<TeamChange> + Send,
    {
        let org = OrgId(event.org_id);
        let txn = self.db.begin().await.map_err(db_error)?;
        let admission = inbox::claim(&txn, event, applied_at)
            .await
            .map_err(inbox_error)?;
        if admission != Admission::Apply {
            txn.rollback().await.map_err(db_error)?;
            return Ok(admission);
        }
        lock_users(&txn, std::iter::once((org, reads))).await?;
        let mut held = AccountWrites::default();
        let (current, accounts) = load_reads(&txn, org, reads, &held).await?;
        for change in decide(current.as_ref(), &accounts) {
            write_change(&txn, org, change, &mut held).await?;
        }
        held.flush(&txn).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(Admission::Apply)
    }

    async fn apply_events<F>(
        &self,
        events: &[Event],
        reads: &[EventReads],
        applied_at: DateTime<Utc>,
        decide: F,
    ) -> Result<Vec<Admission>, StoreError>
    where
        F: Fn(&Event, Option<&Team>, &AccountStates) -> Vec<TeamChange> + Send + Sync,
    {
        let mut attempt = 1;
        loop {
            match self
                .apply_events_once(events, reads, applied_at, &decide)
                .await
            {
                Err(e) if attempt < DEADLOCK_ATTEMPTS && is_deadlock(&e) => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    async fn team(&self, org: OrgId, id: TeamId) -> Result<Option<Team>, StoreError> {
        load_team(&self.db, org, id).await
    }

    async fn teams(&self, org: OrgId, page: &Page) -> Result<Paged<Team>, StoreError> {
        let mut select = select_teams();
        select.and_where(Expr::col(Teams::OrgId).eq(org.0));
        if let Some(after) = after_uuid(page) {
            select.and_where(Expr::col(Teams::Id).gt(after));
        }
        select.order_by(Teams::Id, Order::Asc);
        let statement = service_kit::db::limited(
            self.db.get_database_backend(),
            select,
            page.limit.saturating_add(1),
            0,
        );
        let rows = self.db.query_all_raw(statement).await.map_err(db_error)?;
        let mut items = rows.iter().map(team_from).collect::<Result<Vec<_>, _>>()?;
        let more = items.len() as u64 > page.limit;
        items.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
        let next_after = more
            .then(|| items.last().map(|t| t.id.0.to_string()))
            .flatten();
        Ok(Paged { items, next_after })
    }

    async fn members(
        &self,
        org: OrgId,
        id: TeamId,
        page: &Page,
    ) -> Result<Paged<Member>, StoreError> {
        let mut select = Query::select();
        select
            .column((TeamMembers::Table, TeamMembers::ScimUserId))
            .column((UserAccounts::Table, UserAccounts::AccountId))
            .column((UserAccounts::Table, UserAccounts::State))
            .from(TeamMembers::Table)
            .left_join(
                UserAccounts::Table,
                Expr::col((UserAccounts::Table, UserAccounts::OrgId))
                    .equals((TeamMembers::Table, TeamMembers::OrgId))
                    .and(
                        Expr::col((UserAccounts::Table, UserAccounts::ScimUserId))
                            .equals((TeamMembers::Table, TeamMembers::ScimUserId)),
                    ),
            )
            .and_where(Expr::col((TeamMembers::Table, TeamMembers::OrgId)).eq(org.0))
            .and_where(Expr::col((TeamMembers::Table, TeamMembers::TeamId)).eq(id.0));
        if let Some(after) = &page.after {
            select.and_where(
                Expr::col((TeamMembers::Table, TeamMembers::ScimUserId)).gt(after.as_str()),
            );
        }
        select.order_by((TeamMembers::Table, TeamMembers::ScimUserId), Order::Asc);
        let statement = service_kit::db::limited(
            self.db.get_database_backend(),
            select,
            page.limit.saturating_add(1),
            0,
        );
        let rows = self.db.query_all_raw(statement).await.map_err(db_error)?;
        let mut items = rows
            .iter()
            .map(|row| {
                let state: Option<String> = row.try_get("", "state").map_err(db_error)?;
                Ok(Member {
                    scim_user_id: row.try_get("", "scim_user_id").map_err(db_error)?,
                    account_id: row.try_get("", "account_id").map_err(db_error)?,
                    account_state: state.as_deref().and_then(AccountState::parse),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let more = items.len() as u64 > page.limit;
        items.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
        let next_after = more
            .then(|| items.last().map(|m| m.scim_user_id.clone()))
            .flatten();
        Ok(Paged { items, next_after })
    }

    async fn member_count(&self, org: OrgId, id: TeamId) -> Result<u64, StoreError> {
        let row = self
            .db
            .query_one(
                &Query::select()
                    .expr_as(Expr::col(TeamMembers::ScimUserId).count(), "n")
                    .from(TeamMembers::Table)
                    .and_where(Expr::col(TeamMembers::OrgId).eq(org.0))
                    .and_where(Expr::col(TeamMembers::TeamId).eq(id.0))
                    .to_owned(),
            )
            .await
            .map_err(db_error)?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n").map_err(db_error)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
