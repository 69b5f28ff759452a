//! The journal's readers: the relay (`Outbox`: unpublished entries from where
//! [`super::relay_scan`] says, and their "published" marks), the operators'
//! event log (`JournalReader`), readiness with the outbox lag
//! (`ViewHealth`), and replay's read of entries after a `seq`.

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use messaging::relay::OutboxError;
use provisioning_events::Event;

use super::journal_rows::{journal_entries, journal_entry, journal_event};
use super::rows::{CHUNK, db_error, from_micros, micros, to_anyhow, unreadable};
use super::tables::Journal;
use super::view::SqlScimView;
use crate::domain::models::OrgId;
use crate::domain::ports::{
    JournalEntry, JournalFilter, JournalReader, OutboxLag, StoreError, ViewHealth,
};

impl SqlScimView {
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
}

impl ViewHealth for SqlScimView {
    /// Answers only when the database does; reports the outbox lag.
    async fn check(&self) -> Result<OutboxLag, StoreError> {
        let select = Query::select()
            .expr_as(Expr::cust("COUNT(*)"), "unpublished")
            .expr_as(Expr::col(Journal::OccurredAt).min(), "oldest")
            .from(Journal::Table)
            .and_where(Expr::col(Journal::PublishedAt).is_null())
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(db_error)?;
        let (unpublished, oldest) = match row {
            Some(row) => (
                row.try_get::<i64>("", "unpublished").map_err(unreadable)?,
                row.try_get::<Option<i64>>("", "oldest")
                    .map_err(unreadable)?,
            ),
            None => (0, None),
        };
        Ok(OutboxLag {
            unpublished: u64::try_from(unpublished).unwrap_or(0),
            oldest_unpublished_at: oldest.map(from_micros).transpose()?,
        })
    }

    fn relay_held(&self) -> bool {
        self.relay_lease.held()
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
        let now = micros(self.now());
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
        if !filter.any_of_types.is_empty() {
            let mut any = Condition::any();
            for pattern in &filter.any_of_types {
                any = match pattern.strip_suffix(".*") {
                    Some(kind) => any.add(Expr::col(Journal::EventType).like(format!("{kind}.%"))),
                    None => any.add(Expr::col(Journal::EventType).eq(pattern.as_str())),
                };
            }
            select.cond_where(any);
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

    async fn head(&self) -> Result<i64, StoreError> {
        let select = Query::select()
            .expr_as(Expr::col(Journal::Seq).max(), "head")
            .from(Journal::Table)
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(db_error)?;
        match row {
            Some(row) => Ok(row
                .try_get::<Option<i64>>("", "head")
                .map_err(unreadable)?
                .unwrap_or(0)),
            None => Ok(0),
        }
    }
}
