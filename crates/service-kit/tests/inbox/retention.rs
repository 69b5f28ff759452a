//! Inbox retention against SQLite and (when configured) PostgreSQL: pruning
//! deletes only `inbox_events` rows applied before the horizon, a bounded
//! batch at a time; afterwards a redelivered pruned event is stale (not
//! applied again), newer versions still apply in order, and `applied` still
//! counts the pruned event as applied. The pruner task prunes every interval
//! and stops on the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use messaging::Admission;
use provisioning_events::Event;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use service_kit::inbox::{self, Applied};
use service_kit::inbox_retention::{Inbox, InboxPruner, InboxSettings};
use service_kit::shutdown::BackgroundTasks;
use uuid::Uuid;

use super::{database, user};

async fn claim_at(db: &DatabaseConnection, event: &Event, at: DateTime<Utc>) -> Admission {
    let txn = db.begin().await.unwrap();
    let admission = inbox::claim(&txn, event, at).await.unwrap();
    txn.commit().await.unwrap();
    admission
}

/// The ids of `inbox_events`, sorted.
async fn recorded_ids(db: &DatabaseConnection) -> Vec<Uuid> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT event_id FROM inbox_events",
        ))
        .await
        .unwrap();
    let mut ids: Vec<Uuid> = rows
        .iter()
        .map(|r| r.try_get("", "event_id").unwrap())
        .collect();
    ids.sort();
    ids
}

async fn aggregate_version(db: &DatabaseConnection, id: &str) -> Option<i64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT version FROM inbox_aggregates WHERE aggregate_kind = 'user' AND aggregate_id = $1"
                }
                _ => {
                    "SELECT version FROM inbox_aggregates WHERE aggregate_kind = 'user' AND aggregate_id = ?"
                }
            },
            [id.into()],
        ))
        .await
        .unwrap()?;
    Some(row.try_get("", "version").unwrap())
}

async fn pruning_keeps_ordering_and_idempotency(db: DatabaseConnection) {
    let now = Utc::now();
    let old = now - chrono::Duration::days(40);
    let horizon = now - chrono::Duration::days(30);
    let (a1, a2, a3, a4) = (user("a", 1), user("a", 2), user("a", 3), user("a", 4));
    let b1 = user("b", 1);
    for e in [&a1, &a2, &a3, &b1] {
        assert_eq!(claim_at(&db, e, old).await, Admission::Apply);
    }
    // Applied at the horizon itself and after it: kept.
    let c1 = user("c", 1);
    assert_eq!(claim_at(&db, &c1, horizon).await, Admission::Apply);
    assert_eq!(
        claim_at(&db, &a4, now - chrono::Duration::days(1)).await,
        Admission::Apply
    );

    // Bounded batches: 4 rows beyond the horizon, 3 at a time.
    assert_eq!(inbox::prune(&db, horizon, 3).await.unwrap(), 3);
    assert_eq!(inbox::prune(&db, horizon, 3).await.unwrap(), 1);
    assert_eq!(inbox::prune(&db, horizon, 3).await.unwrap(), 0);
    let mut kept = vec![a4.id, c1.id];
    kept.sort();
    assert_eq!(recorded_ids(&db).await, kept);
    // The version per aggregate is untouched.
    assert_eq!(aggregate_version(&db, "a").await, Some(4));
    assert_eq!(aggregate_version(&db, "b").await, Some(1));

    // A redelivered pruned event is stale: not applied again.
    assert_eq!(claim_at(&db, &a2, now).await, Admission::Stale);
    assert_eq!(claim_at(&db, &b1, now).await, Admission::Stale);
    // A kept one is still a duplicate.
    assert_eq!(claim_at(&db, &a4, now).await, Admission::Duplicate);
    assert_eq!(aggregate_version(&db, "a").await, Some(4));
    // Newer versions still apply, in order only.
    let (a5, a6, a7) = (user("a", 5), user("a", 6), user("a", 7));
    assert_eq!(
        claim_at(&db, &a6, now).await,
        Admission::OutOfOrder { expected: 5 }
    );
    assert_eq!(claim_at(&db, &a5, now).await, Admission::Apply);
    // The batch claim agrees.
    let txn = db.begin().await.unwrap();
    let admissions = inbox::claim_batch(&txn, &[a1.clone(), b1.clone(), a6.clone()], now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        admissions,
        [Admission::Stale, Admission::Stale, Admission::Apply]
    );

    // `applied` still counts the pruned events as applied.
    let answer = inbox::applied(&db, &[a1.clone(), a4.clone(), b1.clone(), a7.clone()])
        .await
        .unwrap();
    let of = |id: Uuid| answer.iter().find(|(e, _)| *e == id).map(|(_, a)| *a);
    assert_eq!(of(a1.id), Some(Applied::AppliedOrSuperseded));
    assert_eq!(of(b1.id), Some(Applied::AppliedOrSuperseded));
    assert_eq!(
        of(a4.id),
        Some(Applied::Recorded {
            at_micros: (now - chrono::Duration::days(1)).timestamp_micros()
        })
    );
    assert_eq!(of(a7.id), None, "version 7 was never applied");
    assert_eq!(answer.len(), 3);
}

#[tokio::test]
async fn pruning_on_sqlite() {
    let dir = test_support::temp_dir("inbox-retention");
    let db = database(&test_support::sqlite_url(&dir, "inbox.db")).await;
    pruning_keeps_ordering_and_idempotency(db).await;
}

#[tokio::test]
async fn pruning_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    pruning_keeps_ordering_and_idempotency(database(&url).await).await;
}

/// Waits up to 10 s for the inbox to hold exactly `ids`.
async fn until_recorded(db: &DatabaseConnection, ids: &[Uuid]) {
    let mut ids = ids.to_vec();
    ids.sort();
    for _ in 0..100 {
        if recorded_ids(db).await == ids {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the inbox never held {ids:?}: {:?}", recorded_ids(db).await);
}

#[tokio::test]
async fn the_pruner_prunes_every_interval_and_stops_on_shutdown() {
    let dir = test_support::temp_dir("inbox-pruner");
    let db = database(&test_support::sqlite_url(&dir, "inbox.db")).await;
    // The service's clock, fixed: the horizon is what it says, not the
    // machine's time.
    let now = Utc::now() - chrono::Duration::days(365);
    let (old, recent) = (user("a", 1), user("a", 2));
    claim_at(&db, &old, now - chrono::Duration::days(31)).await;
    claim_at(&db, &recent, now - chrono::Duration::days(29)).await;
    let settings = InboxSettings {
        retention_days: 30,
        prune_interval_secs: 1,
    };
    let inbox = Inbox {
        service: "test",
        db: db.clone(),
        now: Arc::new(move || now),
    };
    let pruner = InboxPruner::new(&settings, vec![inbox]).expect("a retention");
    let mut tasks = BackgroundTasks::new();
    tasks.spawn("inbox pruner", |stop| pruner.run(stop));
    until_recorded(&db, &[recent.id]).await;
    // An old row recorded later goes at the next interval.
    let late = user("b", 1);
    claim_at(&db, &late, now - chrono::Duration::days(60)).await;
    until_recorded(&db, &[recent.id]).await;
    tasks
        .stop(Duration::from_secs(2))
        .await
        .expect("the pruner stops on the signal");
}

#[test]
fn zero_days_keep_the_rows_forever() {
    let forever = InboxSettings {
        retention_days: 0,
        prune_interval_secs: 3600,
    };
    assert_eq!(forever.retention(), None);
    let defaults = InboxSettings::default();
    assert_eq!(defaults.retention(), Some(chrono::Duration::days(30)));
    assert_eq!(defaults.interval(), Duration::from_secs(3600));
}
