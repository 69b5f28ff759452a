//! Dead letters of the embedded process, kept in the gateway database next to
//! the journal they came from: the in-process bus records them
//! (`DeadLetterSink`), and each service's admin API lists and requeues its
//! own (`EmbeddedDeadLetters`).

use anyhow::Context;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::person_keys::seal_with_stored_key;
use super::rows::micros;
use super::tables::DeadLetters;
use super::view::SqlScimView;

/// The embedded process keeps its dead letters in the gateway database, next
/// to the journal they came from. Like the journal, they never hold an open
/// profile: one that arrives open (a consumer's opened copy) is sealed under
/// its person's key, or erased when the person has none left.
impl messaging::DeadLetterSink for SqlScimView {
    async fn record(
        &self,
        mut letter: messaging::DeadLetter,
    ) -> Result<(), messaging::PublishError> {
        let unavailable = |e: String| messaging::PublishError::Unavailable(e);
        seal_with_stored_key(&self.db, &self.keys, &mut letter.event)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let event = serde_json::to_string(&letter.event).map_err(|e| unavailable(e.to_string()))?;
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
                micros(self.now()).into(),
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
