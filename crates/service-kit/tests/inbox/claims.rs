//! The inbox's batch claim against SQLite and (when configured) PostgreSQL:
//! the same admissions as claiming one event at a time — duplicates, stale
//! and out-of-order versions, several versions of one aggregate inside the
//! batch — and what it records is what `claim` then sees; a batch that
//! races another for one event fails as contended (PostgreSQL).

use chrono::Utc;
use messaging::Admission;
use provisioning_events::Event;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use service_kit::inbox;
use test_support::consumers::renamed;

use super::{database, user};

fn group(id: &str, version: i64) -> Event {
    renamed(id, version, "x")
}

async fn batch_claims_like_one_at_a_time(db: DatabaseConnection) {
    // Recorded before the batch: user a at version 1, user b at version 2.
    let a1 = user("a", 1);
    let (b1, b2) = (user("b", 1), user("b", 2));
    for e in [&a1, &b1, &b2] {
        let txn = db.begin().await.unwrap();
        assert_eq!(
            inbox::claim(&txn, e, Utc::now()).await.unwrap(),
            Admission::Apply
        );
        txn.commit().await.unwrap();
    }
    let (a2, a3) = (user("a", 2), user("a", 3));
    let c5 = user("c", 5);
    // A group may share its id with a user: the kind is part of the key.
    let g1 = group("a", 1);
    let batch = vec![
        a1.clone(),   // applied before: duplicate
        a2.clone(),   // next version: apply
        a3.clone(),   // next after that, in the same batch: apply
        b1.clone(),   // applied before: duplicate
        user("b", 1), // a new id at an old version: stale
        c5.clone(),   // version 5 of an unknown aggregate: out of order
        g1.clone(),   // the group "a": its own version 1
        a3.clone(),   // twice in the batch: duplicate the second time
    ];
    let txn = db.begin().await.unwrap();
    let admissions = inbox::claim_batch(&txn, &batch, Utc::now()).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        admissions,
        [
            Admission::Duplicate,
            Admission::Apply,
            Admission::Apply,
            Admission::Duplicate,
            Admission::Stale,
            Admission::OutOfOrder { expected: 1 },
            Admission::Apply,
            Admission::Duplicate,
        ]
    );
    // What the batch recorded is what a later claim sees.
    let txn = db.begin().await.unwrap();
    assert_eq!(
        inbox::claim(&txn, &a3, Utc::now()).await.unwrap(),
        Admission::Duplicate
    );
    assert_eq!(
        inbox::claim(&txn, &user("a", 4), Utc::now()).await.unwrap(),
        Admission::Apply
    );
    assert_eq!(
        inbox::claim(&txn, &group("a", 2), Utc::now())
            .await
            .unwrap(),
        Admission::Apply
    );
    assert_eq!(
        inbox::claim(&txn, &user("c", 1), Utc::now()).await.unwrap(),
        Admission::Apply
    );
    txn.rollback().await.unwrap();
    let applied = inbox::applied(&db, &[a2.clone(), a3.clone(), c5.clone(), g1.clone()])
        .await
        .unwrap();
    let mut ids: Vec<_> = applied.iter().map(|(id, _)| *id).collect();
    ids.sort();
    let mut expected = vec![a2.id, a3.id, g1.id];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn batch_claim_on_sqlite() {
    let dir = test_support::temp_dir("inbox");
    let db = database(&test_support::sqlite_url(&dir, "inbox.db")).await;
    batch_claims_like_one_at_a_time(db).await;
}

#[tokio::test]
async fn batch_claim_on_postgres() {
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    batch_claims_like_one_at_a_time(database(&url).await).await;
}

#[test]
fn a_large_batch_is_claimed_across_statement_chunks() {
    // 1,000 events of 1,000 users: more than one IN list and insert chunk.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = test_support::temp_dir("inbox-large");
        let db = database(&test_support::sqlite_url(&dir, "inbox.db")).await;
        let batch: Vec<Event> = (0..1000).map(|i| user(&format!("u{i}"), 1)).collect();
        let txn = db.begin().await.unwrap();
        let admissions = inbox::claim_batch(&txn, &batch, Utc::now()).await.unwrap();
        txn.commit().await.unwrap();
        assert!(admissions.iter().all(|a| *a == Admission::Apply));
        let txn = db.begin().await.unwrap();
        let again = inbox::claim_batch(&txn, &batch, Utc::now()).await.unwrap();
        assert!(again.iter().all(|a| *a == Admission::Duplicate));
        txn.rollback().await.unwrap();
    });
}

#[tokio::test]
async fn a_batch_racing_another_for_one_event_fails_as_contended_on_postgres() {
    // Two replicas claim the same event in batches at once: the second's
    // insert waits for the first to commit, then meets its row.
    let Some(url) = test_support::postgres_database().await else {
        return;
    };
    let db = database(&url).await;
    let batch = vec![user("raced", 1)];
    let first = db.begin().await.unwrap();
    assert_eq!(
        inbox::claim_batch(&first, &batch, Utc::now())
            .await
            .unwrap(),
        [Admission::Apply]
    );
    let second = {
        let (db, batch) = (db.clone(), batch.clone());
        tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            inbox::claim_batch(&txn, &batch, Utc::now()).await
        })
    };
    // Once the second has read (nothing recorded yet) and waits on its
    // insert for the first's row lock, the first commits.
    let watcher = service_kit::db::connect(&url, 1, "the watching connection")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting = watcher
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS waiting FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "waiting")
            .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second batch never waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    first.commit().await.unwrap();
    let raced = second.await.unwrap();
    assert!(
        matches!(raced, Err(inbox::InboxError::BatchContended)),
        "{raced:?}"
    );
    // Claimed again, one at a time: a duplicate.
    let txn = db.begin().await.unwrap();
    assert_eq!(
        inbox::claim(&txn, &batch[0], Utc::now()).await.unwrap(),
        Admission::Duplicate
    );
}
