//! `SqlScimView`: the SCIM view's ports on sea-orm. Every statement is built
//! with sea-query (parameterized) and scoped by `org_id`.

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Cond, Expr, ExprTrait, IntoIden, NullOrdering, OnConflict, Order, Query, SelectStatement,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult,
    SqlErr, TransactionTrait,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::filter_sql::{
    FilterMapping, GroupFilterMapping, UserFilterMapping, sort_column, translate,
};
use super::tables::{
    ApiTokens, DeadLetters, Journal, Organizations, ScimGroupMembers, ScimGroups, ScimUserEmails,
    ScimUsers,
};
use super::tenant_cache::TenantCache;
use super::user_inserts::UserInserts;
use super::user_name_checks::UserNameChecks;
use super::user_updates::UserUpdates;
use messaging::relay::{OutboxError, Wakeup};
use provisioning_events::{AggregateKind, Event};

use crate::domain::models::{
    GroupRef, ListQuery, MemberRef, MembershipChange, OrgId, Page, ResourceId, ResourceKind,
    ResourceMeta, StoredResource, Tenant, TokenHash, UserWithGroups,
};
use crate::domain::ports::{
    CredentialStore, GroupStore, JournalEntry, JournalFilter, JournalReader, OutboxLag, StoreError,
    UserStore,
};
use scim_protocol::messages::SortOrder;

/// Rows per multi-row INSERT / ids per `IN (…)`: well under SQLite's and
/// PostgreSQL's bound-parameter limits.
const CHUNK: usize = 1000;

#[derive(Clone)]
pub struct SqlScimView {
    db: DatabaseConnection,
    /// Told after each commit that appended to the journal: the relay
    /// publishes at once instead of at its next poll.
    journal_written: Wakeup,
    tenants: Arc<TenantCache>,
    relay_scan: Arc<RelayScan>,
    /// When each token's last use was last written: at most once a minute per
    /// token, so authentication stays a read.
    token_uses: Arc<Mutex<HashMap<Uuid, Instant>>>,
    user_inserts: Arc<UserInserts>,
    user_name_checks: Arc<UserNameChecks>,
    user_updates: Arc<UserUpdates>,
    /// Where the relay's "published" marks are written (the main pool, or
    /// one whose commits do not wait for the disk).
    publication_marks: DatabaseConnection,
    /// Where reads outside a transaction go (the main pool, or read-only
    /// connections beside a SQLite file's one writer).
    reads: DatabaseConnection,
}

/// How long a token's tenant is used without reading it again, unless
/// configured (`http.tenant_cache_ms`).
const DEFAULT_TENANT_CACHE_TTL: Duration = Duration::from_secs(1);

/// Where the relay's next read of unpublished entries starts.
///
/// Publishing updates `published_at`, and until PostgreSQL vacuums the
/// journal every published entry leaves a dead entry in the unpublished
/// index: reading "unpublished, lowest seq first" from the start walks them
/// all, a cost that grows with the journal (measured: docs/benchmarks.md).
/// So reads start a margin below the lowest unpublished seq last seen: an
/// entry committed late with a lower seq (its transaction began earlier) is
/// still found when it is within the margin, and a full read every
/// [`FULL_SCAN_EVERY`] finds any other.
#[derive(Default)]
struct RelayScan {
    state: Mutex<RelayScanState>,
}

#[derive(Default)]
struct RelayScanState {
    lowest_seen: Option<i64>,
    last_full_scan: Option<Instant>,
}

/// Seqs below the lowest unpublished one that the relay still reads: the
/// entries allocated while a late transaction was in flight. Each read walks
/// the margin's dead index entries (10,000 cost 0.9 ms a read, the gateway's
/// most expensive statement under load); an entry committed later than that
/// waits for the next full read.
const LATE_COMMIT_MARGIN: i64 = 1_000;
const FULL_SCAN_EVERY: Duration = Duration::from_secs(10);

impl RelayScan {
    /// The seq to read from; `None`: read everything.
    fn start_seq(&self) -> Option<i64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let due = state
            .last_full_scan
            .is_none_or(|at| at.elapsed() >= FULL_SCAN_EVERY);
        match state.lowest_seen {
            Some(lowest) if !due => Some(lowest.saturating_sub(LATE_COMMIT_MARGIN)),
            _ => None,
        }
    }

    /// Records a read's lowest unpublished seq (`None`: nothing unpublished).
    fn saw(&self, lowest: Option<i64>, full_scan: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if full_scan {
            state.last_full_scan = Some(Instant::now());
        }
        if let Some(lowest) = lowest {
            state.lowest_seen = Some(lowest);
        }
    }
}

/// How stale a token's `last_used_at` may be.
const TOKEN_USE_RESOLUTION: Duration = Duration::from_secs(60);

impl SqlScimView {
    pub fn new(db: DatabaseConnection) -> Self {
        let journal_written = Wakeup::default();
        Self {
            user_inserts: Arc::new(UserInserts::new(db.clone(), journal_written.clone())),
            user_name_checks: Arc::new(UserNameChecks::new(db.clone())),
            user_updates: Arc::new(UserUpdates::new(db.clone(), journal_written.clone())),
            publication_marks: db.clone(),
            reads: db.clone(),
            db,
            journal_written,
            tenants: Arc::new(TenantCache::new(DEFAULT_TENANT_CACHE_TTL)),
            relay_scan: Arc::new(RelayScan::default()),
            token_uses: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Writes the relay's "published" marks through `db`
    /// ([`super::connect_publication_marks`]).
    pub fn with_publication_marks(mut self, db: DatabaseConnection) -> Self {
        self.publication_marks = db;
        self
    }

    /// Reads resources and tokens through `db` ([`super::connect_reads`]).
    /// Every write that such a read precedes checks the version it read, so
    /// reading from another connection than the one writing changes nothing
    /// but where the read waits.
    pub fn with_reads(mut self, db: DatabaseConnection) -> Self {
        self.reads = db;
        self
    }

    /// Keeps the tenant of a used token for `ttl` (zero: never).
    pub fn with_tenant_cache(mut self, ttl: Duration) -> Self {
        self.tenants = Arc::new(TenantCache::new(ttl));
        self
    }

    /// What this store signals when it appended to the journal (the relay
    /// waits on it between polls).
    pub fn journal_written(&self) -> Wakeup {
        self.journal_written.clone()
    }

    /// Records that `token` was used, unless that was done within the last
    /// minute. A failure to record is logged, never fails the request.
    async fn note_token_use(&self, token: Uuid) {
        let now = Instant::now();
        {
            let mut uses = self
                .token_uses
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if uses
                .get(&token)
                .is_some_and(|last| now.duration_since(*last) < TOKEN_USE_RESOLUTION)
            {
                return;
            }
            uses.insert(token, now);
        }
        let written = self
            .db
            .execute(
                Query::update()
                    .table(ApiTokens::Table)
                    .value(ApiTokens::LastUsedAt, micros(Utc::now()))
                    .and_where(Expr::col(ApiTokens::Id).eq(token)),
            )
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "recording a token's last use failed");
        }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates an organization with one API token (given by its hash), unless
    /// a token with that hash exists already. Returns the token's organization.
    /// Used to seed a token from configuration until the admin API exists.
    pub async fn ensure_organization_with_token(
        &self,
        name: &str,
        token: &TokenHash,
        prefix: &str,
    ) -> anyhow::Result<OrgId> {
        if let Some(tenant) = self.tenant_for_token(token).await.map_err(to_anyhow)? {
            return Ok(tenant.org);
        }
        let org = OrgId(Uuid::now_v7());
        let now = Utc::now().timestamp_micros();
        let txn = self.db.begin().await?;
        txn.execute(
            Query::insert()
                .into_table(Organizations::Table)
                .columns([
                    Organizations::Id,
                    Organizations::Name,
                    Organizations::CreatedAt,
                    Organizations::WorkspaceId,
                ])
                .values_panic([org.0.into(), name.into(), now.into(), Uuid::now_v7().into()]),
        )
        .await?;
        txn.execute(
            Query::insert()
                .into_table(ApiTokens::Table)
                .columns([
                    ApiTokens::Id,
                    ApiTokens::OrgId,
                    ApiTokens::TokenHash,
                    ApiTokens::Prefix,
                    ApiTokens::CreatedAt,
                ])
                .values_panic([
                    Uuid::now_v7().into(),
                    org.0.into(),
                    token.to_hex().into(),
                    prefix.into(),
                    now.into(),
                ]),
        )
        .await?;
        txn.commit().await?;
        Ok(org)
    }

    async fn ids_of(&self, select: &SelectStatement) -> Result<Vec<Uuid>, StoreError> {
        self.db
            .query_all(select)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| row.try_get::<Uuid>("", "id"))
            .collect::<Result<_, DbErr>>()
            .map_err(|e| StoreError::Unavailable(anyhow!(e)))
    }

    /// Journal entries after `after_seq` in `seq` order (all organizations, or
    /// one), each with its `seq` filled in. The relay and replay read this.
    pub async fn journal(
        &self,
        org: Option<OrgId>,
        after_seq: i64,
        limit: u64,
    ) -> anyhow::Result<Vec<Event>> {
        let mut select = Query::select();
        select
            .columns([Journal::Seq, Journal::Event, Journal::Traceparent])
            .from(Journal::Table)
            .and_where(Expr::col(Journal::Seq).gt(after_seq))
            .order_by(Journal::Seq, Order::Asc);
        if let Some(org) = org {
            select.and_where(Expr::col(Journal::OrgId).eq(org.0));
        }
        let select = service_kit::db::limited(self.db.get_database_backend(), select, limit, 0);
        let rows = self.db.query_all_raw(select).await?;
        rows.iter()
            .map(|row| journal_event(row).map_err(to_anyhow))
            .collect()
    }

    /// True when at least one organization exists.
    pub async fn has_organizations(&self) -> anyhow::Result<bool> {
        let any = Query::select()
            .expr(Expr::val(1))
            .from(Organizations::Table)
            .to_owned();
        let any = service_kit::db::limited(self.db.get_database_backend(), any, 1, 0);
        let row = self.db.query_one_raw(any).await?;
        Ok(row.is_some())
    }
}

// ----- row mapping -----------------------------------------------------------

/// A journal row (`seq`, `event`, `traceparent`) as the event it records.
fn journal_event(row: &QueryResult) -> Result<Event, StoreError> {
    let unavailable = |e: DbErr| StoreError::Unavailable(anyhow!(e));
    let seq: i64 = row.try_get("", "seq").map_err(unavailable)?;
    let text: String = row.try_get("", "event").map_err(unavailable)?;
    let mut event: Event = serde_json::from_str(&text)
        .with_context(|| format!("journal entry {seq} is not an event"))?;
    event.seq = seq;
    event.traceparent = row.try_get("", "traceparent").map_err(unavailable)?;
    Ok(event)
}

fn to_anyhow(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Unavailable(e) => e,
        other => anyhow!(other),
    }
}

pub(super) fn db_error(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate,
        _ => StoreError::Unavailable(anyhow!(e)),
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::Unavailable(anyhow!("timestamp out of range: {v}")))
}

fn resource_from_row(row: &QueryResult) -> Result<StoredResource, StoreError> {
    let get = |e: DbErr| StoreError::Unavailable(anyhow!(e));
    let id: Uuid = row.try_get("", "id").map_err(get)?;
    let document: String = row.try_get("", "document").map_err(get)?;
    let document: Value = serde_json::from_str(&document)
        .with_context(|| format!("stored document of {id} is not JSON"))?;
    Ok(StoredResource {
        id: ResourceId(id),
        document,
        meta: ResourceMeta {
            created: from_micros(row.try_get("", "created_at").map_err(get)?)?,
            last_modified: from_micros(row.try_get("", "last_modified").map_err(get)?)?,
            version: row.try_get("", "version").map_err(get)?,
        },
        event_version: row.try_get("", "event_version").map_err(get)?,
    })
}

/// The groups a `scim_users` row is a direct member of, as JSON text
/// `[[id, displayName], …]` sorted by display name (NULL or `[]` when none):
/// read in the statement that reads the user instead of a second round trip.
/// SQLite keeps UUIDs as blobs, written here as 32 hex digits.
fn groups_of_user_row(backend: DbBackend) -> Expr {
    Expr::cust(match backend {
        DbBackend::Sqlite => {
            "(SELECT json_group_array(json_array(lower(hex(g.id)), g.display_name) \
              ORDER BY g.display_name_key) \
              FROM scim_group_members m JOIN scim_groups g \
              ON g.org_id = m.org_id AND g.id = m.group_id \
              WHERE m.org_id = scim_users.org_id AND m.member_id = scim_users.id)"
        }
        _ => {
            "(SELECT json_agg(json_build_array(g.id, g.display_name) \
              ORDER BY g.display_name_key)::text \
              FROM scim_group_members m JOIN scim_groups g \
              ON g.org_id = m.org_id AND g.id = m.group_id \
              WHERE m.org_id = scim_users.org_id AND m.member_id = scim_users.id)"
        }
    })
}

fn user_with_groups_from_row(row: &QueryResult) -> Result<UserWithGroups, StoreError> {
    let user = resource_from_row(row)?;
    let groups: Option<String> = row
        .try_get("", "groups")
        .map_err(|e| StoreError::Unavailable(anyhow!(e)))?;
    let groups = match groups {
        None => Vec::new(),
        Some(json) => serde_json::from_str::<Vec<(String, String)>>(&json)
            .with_context(|| format!("groups of user {} read as {json}", user.id.0))?
            .into_iter()
            .map(|(id, display_name)| {
                let id = Uuid::parse_str(&id)
                    .with_context(|| format!("group id {id} of user {}", user.id.0))?;
                Ok(GroupRef {
                    id: ResourceId(id),
                    display_name,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(UserWithGroups { user, groups })
}

fn text<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}

fn folded(value: Option<&str>) -> Option<String> {
    value.map(str::to_lowercase)
}

/// The indexed columns of a user, derived from its canonical document.
pub(super) struct UserColumns {
    user_name: String,
    user_name_key: String,
    external_id: Option<String>,
    display_name_key: Option<String>,
    given_name_key: Option<String>,
    family_name_key: Option<String>,
    active: Option<bool>,
    emails: Vec<(Option<String>, Option<String>, bool)>,
}

impl UserColumns {
    pub(super) fn of(doc: &Value) -> Self {
        let user_name = text(doc, "userName").unwrap_or_default().to_owned();
        let name = doc.get("name");
        let emails = email_rows(doc);
        Self {
            user_name_key: user_name.to_lowercase(),
            user_name,
            external_id: text(doc, "externalId").map(str::to_owned),
            display_name_key: folded(text(doc, "displayName")),
            given_name_key: folded(name.and_then(|n| text(n, "givenName"))),
            family_name_key: folded(name.and_then(|n| text(n, "familyName"))),
            active: doc.get("active").and_then(Value::as_bool),
            emails,
        }
    }
}

/// The `scim_user_emails` rows of a user document: (type, value, primary).
fn email_rows(doc: &Value) -> Vec<(Option<String>, Option<String>, bool)> {
    doc.get("emails")
        .and_then(Value::as_array)
        .map(|emails| {
            emails
                .iter()
                .map(|e| {
                    (
                        folded(text(e, "type")),
                        folded(text(e, "value")),
                        e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn write_emails(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: ResourceId,
    columns: &UserColumns,
) -> Result<(), StoreError> {
    write_emails_of(txn, &[(org, user, columns)]).await
}

/// The e-mail rows of several users, in multi-row INSERTs.
pub(super) async fn write_emails_of(
    txn: &DatabaseTransaction,
    users: &[(OrgId, ResourceId, &UserColumns)],
) -> Result<(), StoreError> {
    let rows: Vec<_> = users
        .iter()
        .flat_map(|(org, user, columns)| {
            columns
                .emails
                .iter()
                .enumerate()
                .map(move |(position, email)| (*org, *user, position, email))
        })
        .collect();
    for chunk in service_kit::db::pow2_chunks(&rows) {
        let mut insert = Query::insert();
        insert.into_table(ScimUserEmails::Table).columns([
            ScimUserEmails::OrgId,
            ScimUserEmails::UserId,
            ScimUserEmails::Position,
            ScimUserEmails::TypeKey,
            ScimUserEmails::ValueKey,
            ScimUserEmails::IsPrimary,
        ]);
        for (org, user, position, (kind, value, primary)) in chunk {
            insert.values_panic([
                org.0.into(),
                user.0.into(),
                (*position as i32).into(),
                kind.clone().into(),
                value.clone().into(),
                (*primary).into(),
            ]);
        }
        txn.execute(&insert).await.map_err(db_error)?;
    }
    Ok(())
}

/// New users of any organizations, in multi-row INSERTs.
pub(super) async fn insert_user_rows(
    txn: &DatabaseTransaction,
    users: &[(OrgId, &StoredResource, &UserColumns)],
) -> Result<(), StoreError> {
    for chunk in service_kit::db::pow2_chunks(users) {
        let mut insert = Query::insert();
        insert.into_table(ScimUsers::Table).columns([
            ScimUsers::OrgId,
            ScimUsers::Id,
            ScimUsers::UserName,
            ScimUsers::UserNameKey,
            ScimUsers::ExternalId,
            ScimUsers::DisplayNameKey,
            ScimUsers::GivenNameKey,
            ScimUsers::FamilyNameKey,
            ScimUsers::Active,
            ScimUsers::Document,
            ScimUsers::Version,
            ScimUsers::EventVersion,
            ScimUsers::CreatedAt,
            ScimUsers::LastModified,
        ]);
        for (org, user, columns) in chunk {
            insert.values_panic([
                org.0.into(),
                user.id.0.into(),
                columns.user_name.clone().into(),
                columns.user_name_key.clone().into(),
                columns.external_id.clone().into(),
                columns.display_name_key.clone().into(),
                columns.given_name_key.clone().into(),
                columns.family_name_key.clone().into(),
                columns.active.into(),
                document_text(&user.document)?.into(),
                user.meta.version.into(),
                user.event_version.into(),
                micros(user.meta.created).into(),
                micros(user.meta.last_modified).into(),
            ]);
        }
        txn.execute(&insert).await.map_err(db_error)?;
    }
    Ok(())
}

/// Deletes a user or group row at the version the use case read. Done first
/// in its transaction: a lost race rolls back before anything else changed.
async fn delete_at_version<T: IntoIden>(
    txn: &DatabaseTransaction,
    table: T,
    org: OrgId,
    id: ResourceId,
    expected_version: i64,
) -> Result<(), StoreError> {
    // Users and groups share these column names.
    let column = |name: &str| Expr::col(sea_orm::sea_query::Alias::new(name));
    let deleted = txn
        .execute(
            Query::delete()
                .from_table(table)
                .and_where(column("org_id").eq(org.0))
                .and_where(column("id").eq(id.0))
                .and_where(column("version").eq(expected_version)),
        )
        .await
        .map_err(db_error)?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::VersionConflict);
    }
    Ok(())
}

/// A member is leaving (deleted): the groups it belonged to change, so their
/// version (ETag) and lastModified move. O(groups of the member), by index.
async fn touch_groups_containing(
    txn: &DatabaseTransaction,
    org: OrgId,
    member: ResourceId,
) -> Result<(), StoreError> {
    let containing = Query::select()
        .column(ScimGroupMembers::GroupId)
        .from(ScimGroupMembers::Table)
        .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
        .and_where(Expr::col(ScimGroupMembers::MemberId).eq(member.0))
        .to_owned();
    txn.execute(
        Query::update()
            .table(ScimGroups::Table)
            .value(ScimGroups::Version, Expr::col(ScimGroups::Version).add(1))
            .value(ScimGroups::LastModified, micros(Utc::now()))
            .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
            .and_where(Expr::col(ScimGroups::Id).in_subquery(containing)),
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Appends events to the journal inside the caller's transaction: the events
/// commit with the change they describe, or not at all.
async fn append_journal(
    txn: &DatabaseTransaction,
    org: OrgId,
    events: &[Event],
) -> Result<(), StoreError> {
    let entries: Vec<_> = events.iter().map(|event| (org, event)).collect();
    append_journal_entries(txn, &entries).await
}

/// Appends events of any organizations, in order, in multi-row INSERTs. An
/// event without a `traceparent` gets the current span's.
pub(super) async fn append_journal_entries(
    txn: &DatabaseTransaction,
    entries: &[(OrgId, &Event)],
) -> Result<(), StoreError> {
    for chunk in service_kit::db::pow2_chunks(entries) {
        let mut insert = Query::insert();
        insert.into_table(Journal::Table).columns([
            Journal::EventId,
            Journal::OrgId,
            Journal::EventType,
            Journal::AggregateKind,
            Journal::AggregateId,
            Journal::AggregateVersion,
            Journal::OccurredAt,
            Journal::Event,
            Journal::Traceparent,
        ]);
        for (org, event) in chunk {
            let kind = match event.aggregate.kind {
                AggregateKind::User => "user",
                AggregateKind::Group => "group",
                AggregateKind::Subscription => "subscription",
            };
            insert.values_panic([
                event.id.into(),
                org.0.into(),
                event.routing_key().into(),
                kind.into(),
                event.aggregate.id.clone().into(),
                event.aggregate.version.into(),
                micros(event.occurred_at).into(),
                serde_json::to_string(event)
                    .map_err(|e| StoreError::Unavailable(anyhow!(e)))?
                    .into(),
                // The request's trace goes with its events to every consumer.
                event
                    .traceparent
                    .clone()
                    .or_else(trace_context::current_traceparent)
                    .into(),
            ]);
        }
        txn.execute(&insert).await.map_err(db_error)?;
    }
    Ok(())
}

/// Writes `user` over the row at `expected_version` (false: the row has
/// another version, or is gone) and, when they changed, its e-mail rows.
pub(super) async fn update_user_row(
    txn: &DatabaseTransaction,
    org: OrgId,
    expected_version: i64,
    user: &StoredResource,
    columns: &UserColumns,
    emails_changed: bool,
) -> Result<bool, StoreError> {
    let result = txn
        .execute(
            Query::update()
                .table(ScimUsers::Table)
                .values([
                    (ScimUsers::UserName, columns.user_name.clone().into()),
                    (ScimUsers::UserNameKey, columns.user_name_key.clone().into()),
                    (ScimUsers::ExternalId, columns.external_id.clone().into()),
                    (
                        ScimUsers::DisplayNameKey,
                        columns.display_name_key.clone().into(),
                    ),
                    (
                        ScimUsers::GivenNameKey,
                        columns.given_name_key.clone().into(),
                    ),
                    (
                        ScimUsers::FamilyNameKey,
                        columns.family_name_key.clone().into(),
                    ),
                    (ScimUsers::Active, columns.active.into()),
                    (ScimUsers::Document, document_text(&user.document)?.into()),
                    (ScimUsers::Version, user.meta.version.into()),
                    (ScimUsers::EventVersion, user.event_version.into()),
                    (
                        ScimUsers::LastModified,
                        micros(user.meta.last_modified).into(),
                    ),
                ])
                .and_where(Expr::col(ScimUsers::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUsers::Id).eq(user.id.0))
                .and_where(Expr::col(ScimUsers::Version).eq(expected_version)),
        )
        .await
        .map_err(db_error)?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    // The e-mail rows index the document; the version check above makes the
    // document the caller read the one they were written from.
    if emails_changed {
        txn.execute(
            Query::delete()
                .from_table(ScimUserEmails::Table)
                .and_where(Expr::col(ScimUserEmails::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUserEmails::UserId).eq(user.id.0)),
        )
        .await
        .map_err(db_error)?;
        write_emails(txn, org, user.id, columns).await?;
    }
    Ok(true)
}

/// Whether the e-mail rows of `before` differ from those of `after`.
pub(super) fn emails_changed(before: &Value, after: &UserColumns) -> bool {
    after.emails != email_rows(before)
}

fn document_text(doc: &Value) -> Result<String, StoreError> {
    serde_json::to_string(doc).map_err(|e| StoreError::Unavailable(anyhow!(e)))
}

async fn list<T>(
    db: &DatabaseConnection,
    base: SelectStatement,
    mapping: &dyn FilterMapping,
    id_column: (ScimTable, &'static str),
    query: &ListQuery,
    item_from_row: impl Fn(&QueryResult) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let mut filtered = base;
    if let Some(filter) = &query.filter {
        let condition = translate(filter, mapping).map_err(StoreError::UnsupportedQuery)?;
        filtered.and_where(condition);
    }
    let mut count = filtered.clone();
    let mut page = filtered;
    if let Some(sort) = &query.sort
        && let Some(column) = sort_column(&sort.path, mapping)
    {
        let order = match sort.order {
            SortOrder::Ascending => Order::Asc,
            SortOrder::Descending => Order::Desc,
        };
        page.order_by_expr_with_nulls(column, order, NullOrdering::Last);
    }
    page.order_by(
        (id_column.0, sea_orm::sea_query::Alias::new(id_column.1)),
        Order::Asc,
    );
    // No OFFSET on the first page (every IdP lookup): with an OFFSET
    // parameter PostgreSQL costs its generic plan above a custom one and so
    // plans every execution (measured with pg_prepared_statements: 0 generic
    // of 12; without it, generic from the sixth on).
    let page = service_kit::db::limited(
        db.get_database_backend(),
        page,
        query.count,
        query.start_index.saturating_sub(1),
    );
    let rows = if query.count == 0 {
        Vec::new()
    } else {
        db.query_all_raw(page).await.map_err(db_error)?
    };
    let fetched = rows.len() as u64;
    // A short page that starts at the beginning, or holds rows, ends the result
    // set: its size gives the total without a COUNT (the usual IdP lookup).
    let total = if fetched < query.count && (fetched > 0 || query.start_index == 1) {
        query.start_index - 1 + fetched
    } else {
        count.clear_selects();
        count.expr_as(Expr::cust("COUNT(*)"), "total");
        let total: i64 = db
            .query_one(&count)
            .await
            .map_err(db_error)?
            .map(|row| row.try_get("", "total"))
            .transpose()
            .map_err(|e| StoreError::Unavailable(anyhow!(e)))?
            .unwrap_or(0);
        u64::try_from(total).unwrap_or(0)
    };
    Ok(Page {
        total_results: total,
        items: rows.iter().map(item_from_row).collect::<Result<_, _>>()?,
    })
}

/// A page of `scim_users` rows of `base` matching the query's filter.
async fn list_user_rows<T>(
    db: &DatabaseConnection,
    base: SelectStatement,
    query: &ListQuery,
    item_from_row: impl Fn(&QueryResult) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let id_column = (
        sea_orm::sea_query::IntoIden::into_iden(ScimUsers::Table),
        "id",
    );
    list(
        db,
        base,
        &UserFilterMapping,
        id_column,
        query,
        item_from_row,
    )
    .await
}

type ScimTable = sea_orm::sea_query::DynIden;

fn resource_select<T, C>(table: T, org_col: C, org: OrgId) -> SelectStatement
where
    T: sea_orm::sea_query::IntoIden + Copy + 'static,
    C: sea_orm::sea_query::IntoIden + Copy + 'static,
{
    Query::select()
        .columns(
            [
                "id",
                "document",
                "version",
                "event_version",
                "created_at",
                "last_modified",
            ]
            .map(|c| {
                (
                    table.into_iden(),
                    sea_orm::sea_query::Alias::new(c).into_iden(),
                )
            }),
        )
        .from(table)
        .and_where(Expr::col((table, org_col)).eq(org.0))
        .to_owned()
}

// ----- credentials -----------------------------------------------------------

impl CredentialStore for SqlScimView {
    async fn tenant_for_token(&self, token: &TokenHash) -> Result<Option<Tenant>, StoreError> {
        let now = Utc::now();
        if let Some(cached) = self.tenants.get(token, now) {
            self.note_token_use(cached.token_id).await;
            return Ok(Some(cached.tenant));
        }
        let generation = self.tenants.generation();
        let row = self
            .reads
            .query_one(
                Query::select()
                    .column((ApiTokens::Table, ApiTokens::OrgId))
                    .expr_as(Expr::col((ApiTokens::Table, ApiTokens::Id)), "token_id")
                    .column((ApiTokens::Table, ApiTokens::ExpiresAt))
                    .column((Organizations::Table, Organizations::WorkspaceId))
                    .column((Organizations::Table, Organizations::DefaultRole))
                    .column((Organizations::Table, Organizations::ScimIncluded))
                    .from(ApiTokens::Table)
                    .inner_join(
                        Organizations::Table,
                        Expr::col((Organizations::Table, Organizations::Id))
                            .equals((ApiTokens::Table, ApiTokens::OrgId)),
                    )
                    .and_where(
                        Expr::col((ApiTokens::Table, ApiTokens::TokenHash)).eq(token.to_hex()),
                    )
                    .and_where(Expr::col((ApiTokens::Table, ApiTokens::RevokedAt)).is_null())
                    .cond_where(
                        Cond::any()
                            .add(Expr::col((ApiTokens::Table, ApiTokens::ExpiresAt)).is_null())
                            .add(
                                Expr::col((ApiTokens::Table, ApiTokens::ExpiresAt)).gt(micros(now)),
                            ),
                    ),
            )
            .await
            .map_err(db_error)?;
        let Some(r) = row else {
            return Ok(None);
        };
        let read = || -> Result<(Uuid, Option<i64>, Tenant), DbErr> {
            Ok((
                r.try_get("", "token_id")?,
                r.try_get("", "expires_at")?,
                Tenant {
                    org: OrgId(r.try_get("", "org_id")?),
                    workspace: r.try_get("", "workspace_id")?,
                    default_role: r.try_get("", "default_role")?,
                    scim_included: r.try_get("", "scim_included")?,
                },
            ))
        };
        let (token_id, expires_at, tenant) =
            read().map_err(|e| StoreError::Unavailable(anyhow!(e)))?;
        let expires_at = expires_at.map(from_micros).transpose()?;
        self.tenants
            .put(*token, token_id, tenant.clone(), expires_at, generation);
        self.note_token_use(token_id).await;
        Ok(Some(tenant))
    }
}

// ----- users -----------------------------------------------------------------

impl UserStore for SqlScimView {
    async fn user_name_taken(&self, org: OrgId, user_name: &str) -> Result<bool, StoreError> {
        self.user_name_checks.taken(org, user_name).await
    }

    async fn insert_user(
        &self,
        org: OrgId,
        user: &StoredResource,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.user_inserts.insert(org, user, events).await
    }

    async fn find_user(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Option<StoredResource>, StoreError> {
        let select = resource_select(ScimUsers::Table, ScimUsers::OrgId, org)
            .and_where(Expr::col((ScimUsers::Table, ScimUsers::Id)).eq(id.0))
            .to_owned();
        let row = self.reads.query_one(&select).await.map_err(db_error)?;
        row.as_ref().map(resource_from_row).transpose()
    }

    async fn find_user_with_groups(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Option<UserWithGroups>, StoreError> {
        let select = resource_select(ScimUsers::Table, ScimUsers::OrgId, org)
            .expr_as(
                groups_of_user_row(self.reads.get_database_backend()),
                "groups",
            )
            .and_where(Expr::col((ScimUsers::Table, ScimUsers::Id)).eq(id.0))
            .to_owned();
        let row = self.reads.query_one(&select).await.map_err(db_error)?;
        row.as_ref().map(user_with_groups_from_row).transpose()
    }

    async fn update_user(
        &self,
        org: OrgId,
        current: &StoredResource,
        user: &StoredResource,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.user_updates.update(org, current, user, events).await
    }

    async fn delete_user(
        &self,
        org: OrgId,
        id: ResourceId,
        expected_version: i64,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        delete_at_version(&txn, ScimUsers::Table, org, id, expected_version).await?;
        touch_groups_containing(&txn, org, id).await?;
        for statement in [
            Query::delete()
                .from_table(ScimGroupMembers::Table)
                .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
                .and_where(Expr::col(ScimGroupMembers::MemberId).eq(id.0))
                .to_owned(),
            Query::delete()
                .from_table(ScimUserEmails::Table)
                .and_where(Expr::col(ScimUserEmails::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUserEmails::UserId).eq(id.0))
                .to_owned(),
        ] {
            txn.execute(&statement).await.map_err(db_error)?;
        }
        append_journal(&txn, org, events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(())
    }

    async fn list_users(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> Result<Page<StoredResource>, StoreError> {
        let base = resource_select(ScimUsers::Table, ScimUsers::OrgId, org);
        list_user_rows(&self.reads, base, query, resource_from_row).await
    }

    async fn list_users_with_groups(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> Result<Page<UserWithGroups>, StoreError> {
        let mut base = resource_select(ScimUsers::Table, ScimUsers::OrgId, org);
        base.expr_as(
            groups_of_user_row(self.reads.get_database_backend()),
            "groups",
        );
        list_user_rows(&self.reads, base, query, user_with_groups_from_row).await
    }

    async fn groups_of_users(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> Result<Vec<(ResourceId, GroupRef)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select = Query::select()
            .column((ScimGroupMembers::Table, ScimGroupMembers::MemberId))
            .column((ScimGroups::Table, ScimGroups::Id))
            .column((ScimGroups::Table, ScimGroups::DisplayName))
            .from(ScimGroupMembers::Table)
            .inner_join(
                ScimGroups::Table,
                Expr::col((ScimGroups::Table, ScimGroups::OrgId))
                    .equals((ScimGroupMembers::Table, ScimGroupMembers::OrgId))
                    .and(
                        Expr::col((ScimGroups::Table, ScimGroups::Id))
                            .equals((ScimGroupMembers::Table, ScimGroupMembers::GroupId)),
                    ),
            )
            .and_where(Expr::col((ScimGroupMembers::Table, ScimGroupMembers::OrgId)).eq(org.0))
            .and_where(
                Expr::col((ScimGroupMembers::Table, ScimGroupMembers::MemberId))
                    .is_in(ids.iter().map(|id| id.0)),
            )
            .order_by((ScimGroups::Table, ScimGroups::DisplayNameKey), Order::Asc)
            .to_owned();
        let rows = self.reads.query_all(&select).await.map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    ResourceId(r.try_get("", "member_id")?),
                    GroupRef {
                        id: ResourceId(r.try_get("", "id")?),
                        display_name: r.try_get("", "display_name")?,
                    },
                ))
            })
            .collect::<Result<_, DbErr>>()
            .map_err(|e| StoreError::Unavailable(anyhow!(e)))
    }
}

// ----- groups ----------------------------------------------------------------

fn member_kind(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "user",
        ResourceKind::Group => "group",
    }
}

async fn add_members(
    txn: &DatabaseTransaction,
    org: OrgId,
    group: ResourceId,
    members: &[MemberRef],
) -> Result<(), StoreError> {
    for chunk in members.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(ScimGroupMembers::Table)
            .columns([
                ScimGroupMembers::OrgId,
                ScimGroupMembers::GroupId,
                ScimGroupMembers::MemberId,
                ScimGroupMembers::MemberKind,
            ])
            .on_conflict(
                OnConflict::columns([
                    ScimGroupMembers::OrgId,
                    ScimGroupMembers::GroupId,
                    ScimGroupMembers::MemberId,
                ])
                .do_nothing()
                .to_owned(),
            );
        for m in chunk {
            insert.values_panic([
                org.0.into(),
                group.0.into(),
                m.id.0.into(),
                member_kind(m.kind).into(),
            ]);
        }
        txn.execute(&insert).await.map_err(db_error)?;
    }
    Ok(())
}

fn group_columns(doc: &Value) -> (String, String, Option<String>) {
    let display_name = text(doc, "displayName").unwrap_or_default().to_owned();
    let key = display_name.to_lowercase();
    (
        display_name,
        key,
        text(doc, "externalId").map(str::to_owned),
    )
}

impl GroupStore for SqlScimView {
    async fn insert_group(
        &self,
        org: OrgId,
        group: &StoredResource,
        members: &[MemberRef],
        events: &[Event],
    ) -> Result<(), StoreError> {
        let (display_name, key, external_id) = group_columns(&group.document);
        let txn = self.db.begin().await.map_err(db_error)?;
        txn.execute(
            Query::insert()
                .into_table(ScimGroups::Table)
                .columns([
                    ScimGroups::OrgId,
                    ScimGroups::Id,
                    ScimGroups::DisplayName,
                    ScimGroups::DisplayNameKey,
                    ScimGroups::ExternalId,
                    ScimGroups::Document,
                    ScimGroups::Version,
                    ScimGroups::EventVersion,
                    ScimGroups::CreatedAt,
                    ScimGroups::LastModified,
                ])
                .values_panic([
                    org.0.into(),
                    group.id.0.into(),
                    display_name.into(),
                    key.into(),
                    external_id.into(),
                    document_text(&group.document)?.into(),
                    group.meta.version.into(),
                    group.event_version.into(),
                    micros(group.meta.created).into(),
                    micros(group.meta.last_modified).into(),
                ]),
        )
        .await
        .map_err(db_error)?;
        add_members(&txn, org, group.id, members).await?;
        append_journal(&txn, org, events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(())
    }

    async fn find_group(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Option<StoredResource>, StoreError> {
        let select = resource_select(ScimGroups::Table, ScimGroups::OrgId, org)
            .and_where(Expr::col((ScimGroups::Table, ScimGroups::Id)).eq(id.0))
            .to_owned();
        let row = self.reads.query_one(&select).await.map_err(db_error)?;
        row.as_ref().map(resource_from_row).transpose()
    }

    async fn group_members(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Vec<MemberRef>, StoreError> {
        let select = Query::select()
            .columns([ScimGroupMembers::MemberId, ScimGroupMembers::MemberKind])
            .from(ScimGroupMembers::Table)
            .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
            .and_where(Expr::col(ScimGroupMembers::GroupId).eq(id.0))
            .order_by(ScimGroupMembers::MemberId, Order::Asc)
            .to_owned();
        let rows = self.reads.query_all(&select).await.map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("", "member_kind")?;
                Ok(MemberRef {
                    id: ResourceId(r.try_get("", "member_id")?),
                    kind: if kind == "group" {
                        ResourceKind::Group
                    } else {
                        ResourceKind::User
                    },
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(|e| StoreError::Unavailable(anyhow!(e)))
    }

    async fn update_group(
        &self,
        org: OrgId,
        group: &StoredResource,
        expected_version: i64,
        document_changed: bool,
        membership: &[MembershipChange],
        events: &[Event],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let mut update = Query::update();
        update
            .table(ScimGroups::Table)
            .values([
                (ScimGroups::Version, group.meta.version.into()),
                (ScimGroups::EventVersion, group.event_version.into()),
                (
                    ScimGroups::LastModified,
                    micros(group.meta.last_modified).into(),
                ),
            ])
            .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
            .and_where(Expr::col(ScimGroups::Id).eq(group.id.0))
            .and_where(Expr::col(ScimGroups::Version).eq(expected_version));
        if document_changed {
            let (display_name, key, external_id) = group_columns(&group.document);
            update.values([
                (ScimGroups::DisplayName, display_name.into()),
                (ScimGroups::DisplayNameKey, key.into()),
                (ScimGroups::ExternalId, external_id.into()),
                (ScimGroups::Document, document_text(&group.document)?.into()),
            ]);
        }
        if txn
            .execute(&update)
            .await
            .map_err(db_error)?
            .rows_affected()
            == 0
        {
            return Err(StoreError::VersionConflict);
        }
        for change in membership {
            match change {
                MembershipChange::Add(members) => add_members(&txn, org, group.id, members).await?,
                MembershipChange::Remove(ids) => {
                    for chunk in ids.chunks(CHUNK) {
                        txn.execute(
                            Query::delete()
                                .from_table(ScimGroupMembers::Table)
                                .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
                                .and_where(Expr::col(ScimGroupMembers::GroupId).eq(group.id.0))
                                .and_where(
                                    Expr::col(ScimGroupMembers::MemberId)
                                        .is_in(chunk.iter().map(|id| id.0)),
                                ),
                        )
                        .await
                        .map_err(db_error)?;
                    }
                }
                MembershipChange::RemoveAll => {
                    txn.execute(
                        Query::delete()
                            .from_table(ScimGroupMembers::Table)
                            .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
                            .and_where(Expr::col(ScimGroupMembers::GroupId).eq(group.id.0)),
                    )
                    .await
                    .map_err(db_error)?;
                }
            }
        }
        append_journal(&txn, org, events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(())
    }

    async fn delete_group(
        &self,
        org: OrgId,
        id: ResourceId,
        expected_version: i64,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        delete_at_version(&txn, ScimGroups::Table, org, id, expected_version).await?;
        touch_groups_containing(&txn, org, id).await?;
        for column in [ScimGroupMembers::GroupId, ScimGroupMembers::MemberId] {
            txn.execute(
                Query::delete()
                    .from_table(ScimGroupMembers::Table)
                    .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
                    .and_where(Expr::col(column).eq(id.0)),
            )
            .await
            .map_err(db_error)?;
        }
        append_journal(&txn, org, events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(())
    }

    async fn list_groups(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> Result<Page<StoredResource>, StoreError> {
        let base = resource_select(ScimGroups::Table, ScimGroups::OrgId, org);
        list(
            &self.reads,
            base,
            &GroupFilterMapping,
            (
                sea_orm::sea_query::IntoIden::into_iden(ScimGroups::Table),
                "id",
            ),
            query,
            resource_from_row,
        )
        .await
    }

    async fn existing_members(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> Result<Vec<MemberRef>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            // Members are nearly always users: ask for groups only for the rest.
            let users = Query::select()
                .column(ScimUsers::Id)
                .from(ScimUsers::Table)
                .and_where(Expr::col(ScimUsers::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUsers::Id).is_in(chunk.iter().map(|id| id.0)))
                .to_owned();
            let found_users = self.ids_of(&users).await?;
            let rest: Vec<Uuid> = chunk
                .iter()
                .map(|id| id.0)
                .filter(|id| !found_users.contains(id))
                .collect();
            found.extend(found_users.into_iter().map(|id| MemberRef {
                id: ResourceId(id),
                kind: ResourceKind::User,
            }));
            if rest.is_empty() {
                continue;
            }
            let groups = Query::select()
                .column(ScimGroups::Id)
                .from(ScimGroups::Table)
                .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
                .and_where(Expr::col(ScimGroups::Id).is_in(rest))
                .to_owned();
            found.extend(self.ids_of(&groups).await?.into_iter().map(|id| MemberRef {
                id: ResourceId(id),
                kind: ResourceKind::Group,
            }));
        }
        Ok(found)
    }
}

impl crate::domain::ports::ViewHealth for SqlScimView {
    /// Answers only when the database does; reports the outbox lag.
    async fn check(&self) -> Result<OutboxLag, StoreError> {
        let select = Query::select()
            .expr_as(Expr::cust("COUNT(*)"), "unpublished")
            .expr_as(Expr::col(Journal::OccurredAt).min(), "oldest")
            .from(Journal::Table)
            .and_where(Expr::col(Journal::PublishedAt).is_null())
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(db_error)?;
        let get = |e: DbErr| StoreError::Unavailable(anyhow!(e));
        let (unpublished, oldest) = match row {
            Some(row) => (
                row.try_get::<i64>("", "unpublished").map_err(get)?,
                row.try_get::<Option<i64>>("", "oldest").map_err(get)?,
            ),
            None => (0, None),
        };
        Ok(OutboxLag {
            unpublished: u64::try_from(unpublished).unwrap_or(0),
            oldest_unpublished_at: oldest.map(from_micros).transpose()?,
        })
    }
}

fn outbox_error(e: DbErr) -> OutboxError {
    OutboxError(e.to_string())
}

/// The journal is the gateway's outbox.
impl messaging::relay::Outbox for SqlScimView {
    async fn unpublished(&self, limit: u64) -> Result<Vec<Event>, OutboxError> {
        let from_seq = self.relay_scan.start_seq();
        let mut select = Query::select()
            .columns([Journal::Seq, Journal::Event, Journal::Traceparent])
            .from(Journal::Table)
            .and_where(Expr::col(Journal::PublishedAt).is_null())
            .order_by(Journal::Seq, Order::Asc)
            .to_owned();
        if let Some(from_seq) = from_seq {
            select.and_where(Expr::col(Journal::Seq).gte(from_seq));
        }
        let select = service_kit::db::limited(self.db.get_database_backend(), select, limit, 0);
        let rows = self.db.query_all_raw(select).await.map_err(outbox_error)?;
        let events = rows
            .iter()
            .map(|row| journal_event(row).map_err(|e| OutboxError(e.to_string())))
            .collect::<Result<Vec<Event>, OutboxError>>()?;
        self.relay_scan
            .saw(events.first().map(|e| e.seq), from_seq.is_none());
        Ok(events)
    }

    async fn mark_published(&self, seqs: &[i64]) -> Result<(), OutboxError> {
        let now = micros(Utc::now());
        for chunk in seqs.chunks(CHUNK) {
            self.publication_marks
                .execute(
                    Query::update()
                        .table(Journal::Table)
                        .value(Journal::PublishedAt, now)
                        .and_where(Expr::col(Journal::Seq).is_in(chunk.iter().copied())),
                )
                .await
                .map_err(outbox_error)?;
        }
        Ok(())
    }
}

/// The journal as the operators' event log.
impl JournalReader for SqlScimView {
    async fn entries(
        &self,
        filter: &JournalFilter,
        limit: u64,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let mut select = journal_entries()
            .order_by(Journal::Seq, Order::Asc)
            .to_owned();
        if let Some(org) = filter.org {
            select.and_where(Expr::col(Journal::OrgId).eq(org.0));
        }
        match filter
            .event_type
            .as_deref()
            .map(|t| (t, t.strip_suffix(".*")))
        {
            // The domain admits lowercase words only: nothing to escape.
            Some((_, Some(kind))) => {
                select.and_where(Expr::col(Journal::EventType).like(format!("{kind}.%")));
            }
            Some((exact, None)) => {
                select.and_where(Expr::col(Journal::EventType).eq(exact));
            }
            None => {}
        }
        if let Some(aggregate) = &filter.aggregate_id {
            select.and_where(Expr::col(Journal::AggregateId).eq(aggregate.as_str()));
        }
        if let Some(after) = filter.after_seq {
            select.and_where(Expr::col(Journal::Seq).gt(after));
        }
        if let Some(until) = filter.until_seq {
            select.and_where(Expr::col(Journal::Seq).lte(until));
        }
        if let Some(since) = filter.since {
            select.and_where(Expr::col(Journal::OccurredAt).gte(micros(since)));
        }
        if let Some(until) = filter.until {
            select.and_where(Expr::col(Journal::OccurredAt).lt(micros(until)));
        }
        let select = service_kit::db::limited(self.db.get_database_backend(), select, limit, 0);
        let rows = self.db.query_all_raw(select).await.map_err(db_error)?;
        rows.iter().map(journal_entry).collect()
    }

    async fn entry(&self, event_id: Uuid) -> Result<Option<JournalEntry>, StoreError> {
        let select = journal_entries()
            .and_where(Expr::col(Journal::EventId).eq(event_id))
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(db_error)?;
        row.as_ref().map(journal_entry).transpose()
    }
}

/// The columns [`journal_entry`] reads.
fn journal_entries() -> SelectStatement {
    Query::select()
        .columns([
            Journal::Seq,
            Journal::Event,
            Journal::Traceparent,
            Journal::PublishedAt,
        ])
        .from(Journal::Table)
        .to_owned()
}

fn journal_entry(row: &QueryResult) -> Result<JournalEntry, StoreError> {
    let published_at: Option<i64> = row
        .try_get("", "published_at")
        .map_err(|e| StoreError::Unavailable(anyhow!(e)))?;
    Ok(JournalEntry {
        event: journal_event(row)?,
        published_at: published_at.map(from_micros).transpose()?,
    })
}

/// The embedded process keeps its dead letters in the gateway database, next
/// to the journal they came from.
impl messaging::DeadLetterSink for SqlScimView {
    async fn record(&self, letter: messaging::DeadLetter) -> Result<(), messaging::PublishError> {
        let event = serde_json::to_string(&letter.event)
            .map_err(|e| messaging::PublishError::Unavailable(e.to_string()))?;
        let insert = Query::insert()
            .into_table(DeadLetters::Table)
            .columns([
                DeadLetters::Id,
                DeadLetters::Consumer,
                DeadLetters::EventId,
                DeadLetters::Seq,
                DeadLetters::EventType,
                DeadLetters::Error,
                DeadLetters::Attempts,
                DeadLetters::Event,
                DeadLetters::RecordedAt,
            ])
            .values_panic([
                Uuid::now_v7().into(),
                letter.consumer.clone().into(),
                letter.event.id.into(),
                letter.event.seq.into(),
                letter.event.routing_key().into(),
                letter.error.clone().into(),
                i64::from(letter.attempts).into(),
                event.into(),
                micros(Utc::now()).into(),
            ])
            .to_owned();
        self.db
            .execute(&insert)
            .await
            .map_err(|e| messaging::PublishError::Unavailable(e.to_string()))?;
        Ok(())
    }
}

impl SqlScimView {
    /// Dead letters of the embedded process, oldest first (all consumers, or one).
    pub async fn dead_letters(
        &self,
        consumer: Option<&str>,
        limit: u64,
    ) -> anyhow::Result<Vec<messaging::DeadLetter>> {
        let mut select = Query::select();
        select
            .columns([
                DeadLetters::Consumer,
                DeadLetters::Error,
                DeadLetters::Attempts,
                DeadLetters::Event,
            ])
            .from(DeadLetters::Table)
            .order_by(DeadLetters::RecordedAt, Order::Asc)
            .order_by(DeadLetters::Id, Order::Asc);
        if let Some(consumer) = consumer {
            select.and_where(Expr::col(DeadLetters::Consumer).eq(consumer));
        }
        let select = service_kit::db::limited(self.db.get_database_backend(), select, limit, 0);
        let rows = self.db.query_all_raw(select).await?;
        rows.iter()
            .map(|row| {
                let event: String = row.try_get("", "event")?;
                let attempts: i32 = row.try_get("", "attempts")?;
                Ok(messaging::DeadLetter {
                    consumer: row.try_get("", "consumer")?,
                    error: row.try_get("", "error")?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    event: serde_json::from_str(&event).context("dead letter is not an event")?,
                })
            })
            .collect()
    }
}

impl SqlScimView {
    /// Removes `consumer`'s dead letter of `event_id`; whether there was one.
    pub async fn remove_dead_letter(&self, consumer: &str, event_id: Uuid) -> Result<bool, DbErr> {
        let removed = self
            .db
            .execute(
                Query::delete()
                    .from_table(DeadLetters::Table)
                    .and_where(Expr::col(DeadLetters::Consumer).eq(consumer))
                    .and_where(Expr::col(DeadLetters::EventId).eq(event_id)),
            )
            .await?;
        Ok(removed.rows_affected() > 0)
    }
}

/// One service's dead letters in the embedded process (the gateway
/// database's `dead_letters`, where the in-process bus records them).
pub struct EmbeddedDeadLetters {
    pub store: SqlScimView,
    pub consumer: &'static str,
}

impl messaging::DeadLetterBox for EmbeddedDeadLetters {
    fn list(
        &self,
        limit: usize,
    ) -> messaging::BoxFuture<'_, Result<Vec<messaging::DeadLetter>, messaging::PublishError>> {
        Box::pin(async move {
            self.store
                .dead_letters(Some(self.consumer), limit as u64)
                .await
                .map_err(|e| messaging::PublishError::Unavailable(e.to_string()))
        })
    }

    fn remove(
        &self,
        event_id: Uuid,
    ) -> messaging::BoxFuture<'_, Result<bool, messaging::PublishError>> {
        Box::pin(async move {
            self.store
                .remove_dead_letter(self.consumer, event_id)
                .await
                .map_err(|e| messaging::PublishError::Unavailable(e.to_string()))
        })
    }
}

impl crate::domain::ports::EntitlementStore for SqlScimView {
    async fn set_scim_included(
        &self,
        event: &Event,
        included: bool,
    ) -> Result<messaging::Admission, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let txn = self.db.begin().await.map_err(db_error)?;
        let admission = service_kit::inbox::claim(&txn, event)
            .await
            .map_err(|e| StoreError::Unavailable(anyhow!(e)))?;
        if admission != messaging::Admission::Apply {
            txn.rollback().await.map_err(db_error)?;
            return Ok(admission);
        }
        txn.execute(
            Query::update()
                .table(Organizations::Table)
                .value(Organizations::ScimIncluded, included)
                .and_where(Expr::col(Organizations::Id).eq(event.org_id)),
        )
        .await
        .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(admission)
    }
}

// ----- organizations and tokens (admin API) ----------------------------------

fn organization_from(
    row: &QueryResult,
) -> Result<crate::domain::organizations::Organization, StoreError> {
    let get = |e: DbErr| StoreError::Unavailable(anyhow!(e));
    Ok(crate::domain::organizations::Organization {
        id: OrgId(row.try_get("", "id").map_err(get)?),
        name: row.try_get("", "name").map_err(get)?,
        workspace_id: row.try_get("", "workspace_id").map_err(get)?,
        workspace_name: row.try_get("", "workspace_name").map_err(get)?,
        default_role: row.try_get("", "default_role").map_err(get)?,
        scim_included: row.try_get("", "scim_included").map_err(get)?,
        created_at: from_micros(row.try_get("", "created_at").map_err(get)?)?,
    })
}

impl crate::domain::ports::OrganizationStore for SqlScimView {
    async fn create_organization(
        &self,
        organization: &crate::domain::organizations::Organization,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                Query::insert()
                    .into_table(Organizations::Table)
                    .columns([
                        Organizations::Id,
                        Organizations::Name,
                        Organizations::CreatedAt,
                        Organizations::WorkspaceId,
                        Organizations::WorkspaceName,
                        Organizations::DefaultRole,
                        Organizations::ScimIncluded,
                    ])
                    .values_panic([
                        organization.id.0.into(),
                        organization.name.clone().into(),
                        micros(organization.created_at).into(),
                        organization.workspace_id.into(),
                        organization.workspace_name.clone().into(),
                        organization.default_role.clone().into(),
                        organization.scim_included.into(),
                    ]),
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn organization(
        &self,
        org: OrgId,
    ) -> Result<Option<crate::domain::organizations::Organization>, StoreError> {
        let row = self
            .db
            .query_one(
                Query::select()
                    .columns([
                        Organizations::Id,
                        Organizations::Name,
                        Organizations::CreatedAt,
                        Organizations::WorkspaceId,
                        Organizations::WorkspaceName,
                        Organizations::DefaultRole,
                        Organizations::ScimIncluded,
                    ])
                    .from(Organizations::Table)
                    .and_where(Expr::col(Organizations::Id).eq(org.0)),
            )
            .await
            .map_err(db_error)?;
        row.as_ref().map(organization_from).transpose()
    }

    async fn update_connection(
        &self,
        organization: &crate::domain::organizations::Organization,
    ) -> Result<bool, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let updated = self
            .db
            .execute(
                Query::update()
                    .table(Organizations::Table)
                    .value(Organizations::WorkspaceId, organization.workspace_id)
                    .value(
                        Organizations::WorkspaceName,
                        organization.workspace_name.clone(),
                    )
                    .value(
                        Organizations::DefaultRole,
                        organization.default_role.clone(),
                    )
                    .and_where(Expr::col(Organizations::Id).eq(organization.id.0)),
            )
            .await
            .map_err(db_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn add_token(
        &self,
        org: OrgId,
        token: &crate::domain::organizations::TokenInfo,
        hash: &TokenHash,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                Query::insert()
                    .into_table(ApiTokens::Table)
                    .columns([
                        ApiTokens::Id,
                        ApiTokens::OrgId,
                        ApiTokens::TokenHash,
                        ApiTokens::Prefix,
                        ApiTokens::CreatedAt,
                    ])
                    .values_panic([
                        token.id.into(),
                        org.0.into(),
                        hash.to_hex().into(),
                        token.prefix.clone().into(),
                        micros(token.created_at).into(),
                    ]),
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn tokens(
        &self,
        org: OrgId,
    ) -> Result<Vec<crate::domain::organizations::TokenInfo>, StoreError> {
        let rows = self
            .db
            .query_all(
                Query::select()
                    .columns([
                        ApiTokens::Id,
                        ApiTokens::Prefix,
                        ApiTokens::CreatedAt,
                        ApiTokens::RevokedAt,
                        ApiTokens::ExpiresAt,
                        ApiTokens::LastUsedAt,
                    ])
                    .from(ApiTokens::Table)
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .order_by(ApiTokens::CreatedAt, Order::Asc)
                    .order_by(ApiTokens::Id, Order::Asc),
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let get = |e: DbErr| StoreError::Unavailable(anyhow!(e));
                let revoked: Option<i64> = row.try_get("", "revoked_at").map_err(get)?;
                let expires: Option<i64> = row.try_get("", "expires_at").map_err(get)?;
                let used: Option<i64> = row.try_get("", "last_used_at").map_err(get)?;
                Ok(crate::domain::organizations::TokenInfo {
                    id: row.try_get("", "id").map_err(get)?,
                    prefix: row.try_get("", "prefix").map_err(get)?,
                    created_at: from_micros(row.try_get("", "created_at").map_err(get)?)?,
                    revoked_at: revoked.map(from_micros).transpose()?,
                    expires_at: expires.map(from_micros).transpose()?,
                    last_used_at: used.map(from_micros).transpose()?,
                })
            })
            .collect()
    }

    async fn expire_token(
        &self,
        org: OrgId,
        token: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let updated = self
            .db
            .execute(
                Query::update()
                    .table(ApiTokens::Table)
                    .value(ApiTokens::ExpiresAt, micros(at))
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .and_where(Expr::col(ApiTokens::Id).eq(token)),
            )
            .await
            .map_err(db_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn revoke_token(
        &self,
        org: OrgId,
        token: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let found = self
            .db
            .query_one(
                Query::select()
                    .column(ApiTokens::Id)
                    .from(ApiTokens::Table)
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .and_where(Expr::col(ApiTokens::Id).eq(token)),
            )
            .await
            .map_err(db_error)?
            .is_some();
        if !found {
            return Ok(false);
        }
        // Revoking twice keeps the first time.
        self.db
            .execute(
                Query::update()
                    .table(ApiTokens::Table)
                    .value(ApiTokens::RevokedAt, micros(at))
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .and_where(Expr::col(ApiTokens::Id).eq(token))
                    .and_where(Expr::col(ApiTokens::RevokedAt).is_null()),
            )
            .await
            .map_err(db_error)?;
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod relay_scan_tests {
    use super::*;

    #[test]
    fn reads_start_a_margin_below_the_lowest_unpublished_seq_between_full_reads() {
        let scan = RelayScan::default();
        assert_eq!(scan.start_seq(), None, "the first read is a full one");
        scan.saw(Some(50_000), true);
        assert_eq!(scan.start_seq(), Some(50_000 - LATE_COMMIT_MARGIN));
        // Drained: the start stays where it was.
        scan.saw(None, false);
        assert_eq!(scan.start_seq(), Some(50_000 - LATE_COMMIT_MARGIN));
        scan.saw(Some(70_000), false);
        assert_eq!(scan.start_seq(), Some(70_000 - LATE_COMMIT_MARGIN));
        // A full read is due again after a while.
        scan.state.lock().unwrap().last_full_scan =
            Some(Instant::now() - FULL_SCAN_EVERY - Duration::from_millis(1));
        assert_eq!(scan.start_seq(), None);
    }
}
