//! What a gateway does at start, after its migrations, so that its data keys
//! and stored events are as crypto-shredding wants them (docs/privacy.md):
//!
//! - [`SqlScimView::rewrap_data_keys`]: every data key wrapped by a previous
//!   key-encryption key is rewrapped under the current one (a rotation's
//!   second half). A key wrapped by a KEK the gateway does not hold stops the
//!   start, naming that KEK's id and how many keys it wraps.
//! - [`SqlScimView::seal_plain_profiles`]: journal entries and the embedded
//!   process's dead letters written before sealing (plain profiles) are
//!   rewritten: sealed under the person's key while the user still exists in
//!   the view (the key made if missing), erased when it does not.
//!
//! Both work in batches, each its own transaction, and are idempotent: a
//! second run (or a second gateway starting beside the first) finds nothing
//! left to do. They log counts only.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};
use sea_orm::sea_query::{Expr, ExprTrait, IntoIden, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use uuid::Uuid;

use provisioning_events::Event;
use provisioning_events::personal::PersonalProfile;

use super::person_keys::{Person, keys_in, person_of, unwrap_row};
use super::rows::to_anyhow;
use super::tables::{DeadLetters, Journal, ScimUsers as Keys};
use super::view::SqlScimView;

/// Rows read and rewritten per transaction.
const BATCH: u64 = 500;

/// The event types that carry a profile.
const PROFILE_TYPES: [&str; 3] = ["user.provisioned", "user.updated", "user.reactivated"];

/// How sealed and erased profiles start in a stored event's JSON: rows that
/// contain either are not read. Inside a JSON string a quote is escaped, so
/// no personal value can spell these.
const SEALED_PROFILE: &str = "%\"profile\":{\"sealed\":%";
const ERASED_PROFILE: &str = "%\"profile\":{\"erased\":%";

/// What [`SqlScimView::seal_plain_profiles`] rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlainProfiles {
    /// Journal entries now sealed under their (existing) person's key.
    pub journal_sealed: u64,
    /// Journal entries of deleted persons, now erased.
    pub journal_erased: u64,
    pub dead_letters_sealed: u64,
    pub dead_letters_erased: u64,
}

/// Where stored events with profiles live.
#[derive(Clone, Copy)]
enum Stored {
    Journal,
    DeadLetters,
}

/// A stored event's row: its `seq` (journal) or id (dead letters).
#[derive(Clone, Copy)]
enum RowKey {
    Seq(i64),
    Id(Uuid),
}

impl RowKey {
    fn value(self) -> sea_orm::Value {
        match self {
            RowKey::Seq(seq) => seq.into(),
            RowKey::Id(id) => id.into(),
        }
    }
}

impl Stored {
    fn select(self, after: Option<RowKey>) -> sea_orm::sea_query::SelectStatement {
        let (table, key, event, event_type) = match self {
            Stored::Journal => (
                Journal::Table.into_iden(),
                Journal::Seq.into_iden(),
                Journal::Event.into_iden(),
                Journal::EventType.into_iden(),
            ),
            Stored::DeadLetters => (
                DeadLetters::Table.into_iden(),
                DeadLetters::Id.into_iden(),
                DeadLetters::Event.into_iden(),
                DeadLetters::EventType.into_iden(),
            ),
        };
        let mut select = Query::select();
        select
            .expr_as(Expr::col(key.clone()), "row_key")
            .expr_as(Expr::col(event.clone()), "event")
            .from(table)
            .and_where(Expr::col(event_type).is_in(PROFILE_TYPES))
            .and_where(Expr::col(event.clone()).not_like(SEALED_PROFILE))
            .and_where(Expr::col(event).not_like(ERASED_PROFILE))
            .order_by(key.clone(), Order::Asc);
        if let Some(after) = after {
            select.and_where(Expr::col(key).gt(after.value()));
        }
        select
    }

    fn row_key(self, row: &QueryResult) -> anyhow::Result<RowKey> {
        Ok(match self {
            Stored::Journal => RowKey::Seq(row.try_get("", "row_key")?),
            Stored::DeadLetters => RowKey::Id(row.try_get("", "row_key")?),
        })
    }

    fn update(self, key: RowKey, event: String) -> sea_orm::sea_query::UpdateStatement {
        match self {
            Stored::Journal => Query::update()
                .table(Journal::Table)
                .value(Journal::Event, event)
                .and_where(Expr::col(Journal::Seq).eq(key.value()))
                .to_owned(),
            Stored::DeadLetters => Query::update()
                .table(DeadLetters::Table)
                .value(DeadLetters::Event, event)
                .and_where(Expr::col(DeadLetters::Id).eq(key.value()))
                .to_owned(),
        }
    }
}

impl SqlScimView {
    /// Rewraps every data key not wrapped by the current key-encryption key
    /// under it; how many were. Refuses (before changing anything) when a key
    /// is wrapped by a KEK this gateway does not hold.
    pub async fn rewrap_data_keys(&self) -> anyhow::Result<u64> {
        let ring = self.keys.ring().map_err(to_anyhow)?;
        let current = ring.current().id().to_owned();
        let stale = Query::select()
            .column(Keys::KekId)
            .expr_as(Expr::cust("COUNT(*)"), "keys")
            .from(Keys::Table)
            .and_where(Expr::col(Keys::KekId).is_not_null())
            .and_where(Expr::col(Keys::KekId).ne(current.as_str()))
            .group_by_col(Keys::KekId)
            .to_owned();
        let mut unknown = Vec::new();
        for row in self.db.query_all(&stale).await? {
            let kek: String = row.try_get("", "kek_id")?;
            let count: i64 = row.try_get("", "keys")?;
            if ring.by_id(&kek).is_none() {
                unknown.push(format!("{count} wrapped by {kek}"));
            }
        }
        if !unknown.is_empty() {
            bail!(
                "data keys are wrapped by key-encryption keys this gateway does not hold ({}): \
                 give them in keys.previous_keys (SCIM_KEYS__PREVIOUS_KEYS) so they can be \
                 rewrapped under the current key; refusing to start",
                unknown.join(", ")
            );
        }
        let mut rewrapped = 0;
        loop {
            let txn = self.db.begin().await?;
            let batch = Query::select()
                .columns([Keys::OrgId, Keys::Id, Keys::KekId, Keys::WrappedKey])
                .from(Keys::Table)
                .and_where(Expr::col(Keys::KekId).is_not_null())
                .and_where(Expr::col(Keys::KekId).ne(current.as_str()))
                .order_by(Keys::OrgId, Order::Asc)
                .order_by(Keys::Id, Order::Asc)
                .to_owned();
            let batch = service_kit::db::limited(txn.get_database_backend(), batch, BATCH, 0);
            let rows = txn.query_all_raw(batch).await?;
            if rows.is_empty() {
                txn.rollback().await?;
                break;
            }
            let mut written = 0;
            for row in &rows {
                let person: Person = (row.try_get("", "org_id")?, row.try_get("", "id")?);
                let kek: String = row.try_get("", "kek_id")?;
                let wrapped: String = row.try_get("", "wrapped_key")?;
                let key = unwrap_row(ring, person, &kek, &wrapped).map_err(to_anyhow)?;
                let rewrapped_key = ring
                    .current()
                    .wrap(&key, person.0, &person.1.to_string())
                    .context("rewrapping a data key")?;
                let update = Query::update()
                    .table(Keys::Table)
                    .value(Keys::KekId, current.as_str())
                    .value(Keys::WrappedKey, rewrapped_key)
                    .and_where(Expr::col(Keys::OrgId).eq(person.0))
                    .and_where(Expr::col(Keys::Id).eq(person.1))
                    .and_where(Expr::col(Keys::KekId).eq(kek.as_str()))
                    .to_owned();
                written += txn.execute(&update).await?.rows_affected();
            }
            txn.commit().await?;
            if written == 0 {
                bail!("rewrapping data keys made no progress");
            }
            rewrapped += written;
        }
        if rewrapped > 0 {
            tracing::info!(
                rewrapped,
                kek_id = %current,
                "data keys rewrapped under the current key-encryption key"
            );
        }
        Ok(rewrapped)
    }

    /// Seals (or, for deleted users, erases) every plain profile left in the
    /// journal and the embedded dead letters by a gateway before sealing.
    pub async fn seal_plain_profiles(&self) -> anyhow::Result<PlainProfiles> {
        let (journal_sealed, journal_erased) = self.seal_plain_rows(Stored::Journal).await?;
        let (dead_letters_sealed, dead_letters_erased) =
            self.seal_plain_rows(Stored::DeadLetters).await?;
        let counts = PlainProfiles {
            journal_sealed,
            journal_erased,
            dead_letters_sealed,
            dead_letters_erased,
        };
        if counts != PlainProfiles::default() {
            tracing::info!(
                journal_sealed,
                journal_erased,
                dead_letters_sealed,
                dead_letters_erased,
                "plain profiles written before sealing: sealed, or erased for deleted users"
            );
        }
        Ok(counts)
    }

    /// (sealed, erased) rows of `stored`.
    async fn seal_plain_rows(&self, stored: Stored) -> anyhow::Result<(u64, u64)> {
        self.keys.ring().map_err(to_anyhow)?;
        let (mut sealed, mut erased) = (0, 0);
        let mut after = None;
        loop {
            let txn = self.db.begin().await?;
            let select = service_kit::db::limited(
                txn.get_database_backend(),
                stored.select(after),
                BATCH,
                0,
            );
            let rows = txn.query_all_raw(select).await?;
            let Some(last) = rows.last() else {
                txn.rollback().await?;
                break;
            };
            after = Some(stored.row_key(last)?);
            let mut plain = Vec::with_capacity(rows.len());
            for row in &rows {
                let text: String = row.try_get("", "event")?;
                let event: Event =
                    serde_json::from_str(&text).context("a stored event is not an event")?;
                if matches!(event.profile(), Some(PersonalProfile::Open(_))) {
                    plain.push((stored.row_key(row)?, event));
                }
            }
            let persons: Vec<Person> = plain
                .iter()
                .filter_map(|(_, event)| person_of_event(event))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            // Users still in the view get their key (made if missing); the
            // others have none, and their profiles are erased.
            let keys = keys_in(&txn, &self.keys, &persons, HashMap::new())
                .await
                .map_err(to_anyhow)?;
            for (key, mut event) in plain {
                match person_of_event(&event).and_then(|person| keys.get(&person)) {
                    Some(data_key) => {
                        event
                            .seal_with(data_key)
                            .context("sealing a stored event")?;
                        sealed += 1;
                    }
                    None => {
                        event.erase_personal();
                        erased += 1;
                    }
                }
                txn.execute(&stored.update(key, serde_json::to_string(&event)?))
                    .await?;
            }
            txn.commit().await?;
        }
        Ok((sealed, erased))
    }
}

fn person_of_event(event: &Event) -> Option<Person> {
    event.person().as_ref().and_then(person_of)
}
