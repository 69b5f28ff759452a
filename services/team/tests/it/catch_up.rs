//! Catch-up without an operator (issue 24), on PostgreSQL and RabbitMQ: a
//! team service whose queue is declared after more than 1,000 events were
//! routed to a sibling reads what it missed from the gateway's journal (over
//! the gateway's journal server), is killed mid-way, resumes where it got
//! to, then consumes live — events written meanwhile included — and ends
//! with the same tables as the sibling that ran all along, every event
//! applied once. Started again with its queue in place, it reads nothing
//! from the journal.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use messaging_rabbitmq::RabbitPublisher;
use provisioning_events::Event;
use scim_gateway::startup::journal_relay;
use sea_orm::DatabaseConnection;
use serde_json::json;
use service_kit::catch_up::{
    CatchUp, CatchUpProgress, JournalFuture, JournalSource, Outcome, RpcJournal, read_watermark,
};
use service_kit::consumer_service::ConsumingService;
use service_kit::shutdown::BackgroundTasks;
use team::inbound::consumer::BINDINGS;
use team::startup::TeamService;
use test_support::broker::{RunningConsumer, TestBroker};
use test_support::gateway::TestGateway;
use test_support::scenario::{Scenario, ScimClient, count};

/// Journal entries routed before the late service's queue exists.
const BEFORE: i64 = 1000;
/// Entries written while it catches up and after.
const MEANWHILE: usize = 100;

/// The gateway's journal over request/reply, counting the requests.
struct Counted {
    journal: RpcJournal,
    requests: Arc<AtomicUsize>,
}

impl JournalSource for Counted {
    fn head(&self) -> JournalFuture<'_, i64> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.journal.head()
    }

    fn page<'a>(
        &'a self,
        after_seq: i64,
        until_seq: i64,
        types: &'a [String],
        limit: u32,
    ) -> JournalFuture<'a, Vec<Event>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.journal.page(after_seq, until_seq, types, limit)
    }
}

fn patch(operations: serde_json::Value) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Users created, renamed, disabled, re-enabled and deleted, and groups
/// made of them, renamed, their members changed, until the journal holds
/// `until` entries.
async fn write_history(gateway: &TestGateway, scenario: &mut Scenario, until: i64) {
    let journal = gateway.store.connection().clone();
    let mut groups: Vec<String> = Vec::new();
    let mut step = 0usize;
    while count(&journal, "SELECT COUNT(*) AS n FROM journal").await < until {
        step += 1;
        let (status, body) = scenario.act(gateway).await;
        assert!((200..300).contains(&status), "{status} {body}");
        let live: Vec<String> = scenario
            .expected
            .iter()
            .filter(|u| !u.deleted)
            .map(|u| u.scim_id.clone())
            .collect();
        if step.is_multiple_of(10) && live.len() >= 3 {
            let members: Vec<&str> = live.iter().rev().take(3).map(String::as_str).collect();
            let id = gateway
                .create_group(&format!("Group {}", uuid::Uuid::now_v7()), &members)
                .await;
            groups.push(id);
        } else if step.is_multiple_of(5) && !groups.is_empty() {
            let group = &groups[step % groups.len()];
            let member = &live[step % live.len()];
            let operations = if step.is_multiple_of(3) {
                json!([{"op": "replace", "path": "displayName", "value": format!("Renamed {}", uuid::Uuid::now_v7())}])
            } else {
                json!([{"op": "add", "path": "members", "value": [{"value": member}]}])
            };
            let uri = format!("/Groups/{group}");
            let (status, body) =
                ScimClient::send(gateway, "PATCH", &uri, Some(patch(operations))).await;
            assert!((200..300).contains(&status), "{status} {body}");
        }
    }
}

/// Waits until `db`'s inbox holds every journal entry (team follows every
/// user and group event), each once.
async fn wait_applied(journal: &DatabaseConnection, db: &DatabaseConnection, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let expected = count(journal, "SELECT COUNT(*) AS n FROM journal").await;
        let unpublished = count(
            journal,
            "SELECT COUNT(*) AS n FROM journal WHERE published_at IS NULL",
        )
        .await;
        let applied = count(db, "SELECT COUNT(*) AS n FROM inbox_events").await;
        if unpublished == 0 && applied == expected {
            return;
        }
        assert!(
            applied <= expected,
            "{who}: {applied} events applied, the journal has {expected}"
        );
        assert!(
            Instant::now() < deadline,
            "{who}: {applied} of {expected} events applied after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_team_service_started_after_a_thousand_events_catches_up_and_ends_as_its_sibling() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let (Some(gateway_db), Some(sibling_db), Some(late_db)) = (
        test_support::postgres_database().await,
        test_support::postgres_database().await,
        test_support::postgres_database().await,
    ) else {
        return;
    };
    let broker = TestBroker::new(&amqp_url);
    let sibling_settings = broker.consumer_settings("team-sibling", BINDINGS);
    let late_settings = broker.consumer_settings("team-late", BINDINGS);
    broker.declare(&[&sibling_settings.topology]).await;

    // The gateway: its relay and its journal server on queues of this test.
    let mut settings = test_support::gateway::settings(gateway_db);
    settings.amqp.relay_idle_poll_ms = 50;
    let gateway = TestGateway::spawn(&settings, "Catch-up org").await;
    let journal_db = gateway.store.connection().clone();
    let mut background = BackgroundTasks::new();
    let publisher = RabbitPublisher::new(&amqp_url, &broker.exchanges.events);
    background.spawn("journal relay", |stop| {
        journal_relay(&gateway.store, publisher, &settings, stop)
    });
    let journal_queue = format!("journal-{}", broker.suffix);
    let (store, url, queue) = (
        gateway.store.clone(),
        amqp_url.clone(),
        journal_queue.clone(),
    );
    background.spawn("journal server", move |stop| async move {
        scim_gateway::inbound::journal_feed::serve(store, &url, &queue, 2, stop.stopped()).await;
    });

    // The sibling consumes from the start.
    let sibling = TeamService::build(&sibling_db, 8).await.unwrap();
    let mut sibling_consumer = RunningConsumer::spawn(sibling_settings.clone(), sibling.consumer());
    let mut scenario = Scenario::new(250);
    write_history(&gateway, &mut scenario, BEFORE).await;
    wait_applied(&journal_db, sibling.database(), "the sibling").await;

    // The late service: its queue is new. Killed once it applied a few pages.
    let late = TeamService::build(&late_db, 8).await.unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let catch_up = |service: &TeamService, page_size: u32| CatchUp {
        handler: service.consumer(),
        db: service.database().clone(),
        url: amqp_url.clone(),
        exchanges: late_settings.exchanges.clone(),
        topology: late_settings.topology.clone(),
        journal: Arc::new(Counted {
            journal: RpcJournal::new(&amqp_url, journal_queue.clone(), Duration::from_secs(10)),
            requests: requests.clone(),
        }),
        page_size,
        now: Arc::new(|| chrono::Utc::now().timestamp_micros()),
        progress: CatchUpProgress::default(),
    };
    // Its own pool, closed at the kill as a dying process's connections
    // are (which releases its advisory lock).
    let doomed = TeamService::build(&late_db, 4).await.unwrap();
    let first = catch_up(&doomed, 50);
    let progress = first.progress.clone();
    // Never announced: only the kill stops it.
    let no_stop = BackgroundTasks::new();
    let signal = no_stop.signal();
    let killed = tokio::spawn(async move { first.run(signal).await });
    let deadline = Instant::now() + Duration::from_secs(60);
    let reached = loop {
        let through = read_watermark(late.database(), &late_settings.topology.service)
            .await
            .unwrap()
            .map(|w| w.through_seq)
            .unwrap_or(0);
        if through >= 300 {
            // What `/readyz` shows meanwhile (200, "catching_up").
            assert!(progress.is_catching_up());
            let shown = progress.snapshot();
            assert_eq!(shown.state, "applying");
            assert!(shown.target_seq >= Some(BEFORE), "{shown:?}");
            break through;
        }
        if killed.is_finished() {
            panic!("the catch-up ended before 300: {:?}", killed.await);
        }
        assert!(Instant::now() < deadline, "the catch-up did not get to 300");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    killed.abort();
    let _ = killed.await;
    doomed.database().clone().close().await.unwrap();
    let head_before = count(&journal_db, "SELECT MAX(seq) AS n FROM journal").await;
    assert!(
        reached < head_before,
        "killed before the end of the journal"
    );

    // Written while the late service is down: its queue keeps them.
    let more = count(&journal_db, "SELECT COUNT(*) AS n FROM journal").await + 50;
    write_history(&gateway, &mut scenario, more).await;

    // Restarted: it resumes where it got to, not from the start.
    let second = catch_up(&late, 500);
    let outcome = second.run(no_stop.signal()).await;
    let Outcome::CaughtUp {
        from_seq,
        through_seq,
    } = outcome
    else {
        panic!("the restart did not catch up: {outcome:?}");
    };
    assert!(
        from_seq >= reached,
        "resumed from {from_seq}, had got to {reached}"
    );
    assert!(through_seq >= head_before, "caught up to {through_seq}");
    let progress = second.progress.snapshot();
    assert_eq!(progress.state, "done");
    assert_eq!(progress.handed_over, 0);

    // Then live: what was routed meanwhile, and what comes next.
    let mut late_consumer = RunningConsumer::spawn(late_settings.clone(), late.consumer());
    let more = count(&journal_db, "SELECT COUNT(*) AS n FROM journal").await + MEANWHILE as i64;
    write_history(&gateway, &mut scenario, more).await;
    wait_applied(&journal_db, sibling.database(), "the sibling").await;
    wait_applied(&journal_db, late.database(), "the late service").await;

    let differences = service_kit::compared_tables::diff(
        sibling.database(),
        late.database(),
        team::outbound::sql::COMPARED_TABLES,
        None,
    )
    .await
    .unwrap();
    let shown: Vec<_> = differences.iter().take(5).map(|d| d.to_json()).collect();
    assert!(
        differences.is_empty(),
        "{} rows differ: {shown:?}",
        differences.len()
    );
    let teams = count(sibling.database(), "SELECT COUNT(*) AS n FROM teams").await;
    let members = count(sibling.database(), "SELECT COUNT(*) AS n FROM team_members").await;
    assert!(
        teams > 10 && members > 30,
        "{teams} teams, {members} members"
    );

    // Stopped and started again, its queue in place: the journal is not read.
    late_consumer.stop().await;
    requests.store(0, Ordering::SeqCst);
    let third = catch_up(&late, 500);
    let outcome = third.run(no_stop.signal()).await;
    assert_eq!(outcome, Outcome::NotNeeded);
    assert_eq!(requests.load(Ordering::SeqCst), 0);

    // The sibling's own first start found its queue declared: nothing to do.
    let sibling_watermark = CatchUp {
        handler: sibling.consumer(),
        db: sibling.database().clone(),
        url: amqp_url.clone(),
        exchanges: sibling_settings.exchanges.clone(),
        topology: sibling_settings.topology.clone(),
        journal: Arc::new(Counted {
            journal: RpcJournal::new(&amqp_url, journal_queue.clone(), Duration::from_secs(10)),
            requests: requests.clone(),
        }),
        page_size: 500,
        now: Arc::new(|| chrono::Utc::now().timestamp_micros()),
        progress: CatchUpProgress::default(),
    };
    assert_eq!(
        sibling_watermark.run(no_stop.signal()).await,
        Outcome::NotNeeded
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0);

    sibling_consumer.stop().await;
    background.stop(Duration::from_secs(10)).await.unwrap();
    broker
        .remove(
            &[&sibling_settings.topology, &late_settings.topology],
            &[&journal_queue],
        )
        .await;
}
