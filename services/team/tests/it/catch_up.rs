//! Catch-up without an operator (issue 24), on PostgreSQL and RabbitMQ: a
//! team service whose queue is declared after more than 1,000 events were
//! routed to a sibling reads what it missed from the gateway's journal (over
//! the gateway's journal server), is killed mid-way, resumes where it got
//! to, then consumes live — events written meanwhile included — and ends
//! with the same tables as the sibling that ran all along, every event
//! applied once. Started again with its queue in place, it reads nothing
//! from the journal. Two replicas starting at once on a new queue: one
//! catches up, the other waits and then consumes; an event the catch-up
//! cannot apply goes to the live queue and is applied there.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use messaging::{EventHandler, HandleError, Handled};
use messaging_rabbitmq::RabbitPublisher;
use messaging_rabbitmq::consumer::ConsumerSettings;
use provisioning_events::Event;
use scim_gateway::startup::journal_relay;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use service_kit::catch_up::{
    CatchUp, CatchUpProgress, JournalFuture, JournalSource, Outcome, RpcJournal, read_watermark,
};
use service_kit::consumer_service::ConsumingService;
use service_kit::shutdown::BackgroundTasks;
use team::inbound::consumer::{BINDINGS, TeamConsumer};
use team::outbound::clock::SystemClock;
use team::outbound::sql::SqlTeamStore;
use team::startup::TeamService;
use test_support::broker::{RunningConsumer, TestBroker};
use test_support::gateway::TestGateway;
use test_support::scenario::{Scenario, ScimClient, count};
use uuid::Uuid;

/// Journal entries routed before the late service's queue exists.
const BEFORE: i64 = 1000;
/// Entries written while it catches up and after.
const MEANWHILE: i64 = 100;

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

/// The team consumer, failing one event every time (what a poison event
/// does): the catch-up hands it, and the later versions of its aggregate, to
/// the live queue.
struct FailingOne {
    consumer: TeamConsumer<SqlTeamStore, SystemClock>,
    event: Uuid,
}

impl EventHandler for FailingOne {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        if event.id == self.event {
            return Err(HandleError::Failed("injected failure".into()));
        }
        self.consumer.handle(event).await
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

/// The gateway (relay and journal server on this test's queues) and a
/// sibling team service consuming from the start.
struct Platform {
    amqp_url: String,
    broker: TestBroker,
    gateway: TestGateway,
    journal_db: DatabaseConnection,
    journal_queue: String,
    background: BackgroundTasks,
    scenario: Scenario,
    sibling: TeamService,
    sibling_settings: ConsumerSettings,
    sibling_consumer: RunningConsumer,
    /// Journal requests of the catch-ups made by [`Platform::catch_up`].
    requests: Arc<AtomicUsize>,
}

impl Platform {
    /// None when PostgreSQL or RabbitMQ is not configured (skip).
    async fn start() -> Option<Platform> {
        let amqp_url = test_support::amqp_url()?;
        let gateway_db = test_support::postgres_database().await?;
        let sibling_db = test_support::postgres_database().await?;
        let broker = TestBroker::new(&amqp_url);
        let sibling_settings = broker.consumer_settings("team-sibling", BINDINGS);
        broker.declare(&[&sibling_settings.topology]).await;

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
            scim_gateway::inbound::journal_feed::serve(
                store,
                &url,
                &queue,
                2,
                Default::default(),
                stop.stopped(),
            )
            .await;
        });
        let sibling = TeamService::build(&sibling_db, 8).await.unwrap();
        let sibling_consumer = RunningConsumer::spawn(sibling_settings.clone(), sibling.consumer());
        Some(Platform {
            amqp_url,
            broker,
            gateway,
            journal_db,
            journal_queue,
            background,
            scenario: Scenario::new(250),
            sibling,
            sibling_settings,
            sibling_consumer,
            requests: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Writes until the journal holds `more` entries more than now.
    async fn write(&mut self, more: i64) {
        let until = count(&self.journal_db, "SELECT COUNT(*) AS n FROM journal").await + more;
        write_history(&self.gateway, &mut self.scenario, until).await;
    }

    /// The catch-up of `service` on the queue of `consumer`.
    fn catch_up(
        &self,
        service: &TeamService,
        consumer: &ConsumerSettings,
        page_size: u32,
    ) -> CatchUp<TeamConsumer<SqlTeamStore, SystemClock>> {
        self.catch_up_with(service.consumer(), service, consumer, page_size)
    }

    /// The same through `handler`.
    fn catch_up_with<H: EventHandler>(
        &self,
        handler: H,
        service: &TeamService,
        consumer: &ConsumerSettings,
        page_size: u32,
    ) -> CatchUp<H> {
        CatchUp {
            handler,
            db: service.database().clone(),
            url: self.amqp_url.clone(),
            exchanges: consumer.exchanges.clone(),
            topology: consumer.topology.clone(),
            journal: Arc::new(Counted {
                journal: RpcJournal::new(
                    &self.amqp_url,
                    self.journal_queue.clone(),
                    Duration::from_secs(10),
                ),
                requests: self.requests.clone(),
            }),
            page_size,
            now: Arc::new(|| chrono::Utc::now().timestamp_micros()),
            progress: CatchUpProgress::default(),
        }
    }

    /// Waits until `late` applied every journal entry too, and has the
    /// sibling's tables.
    async fn assert_same_as_sibling(&self, late: &TeamService) {
        wait_applied(&self.journal_db, self.sibling.database(), "the sibling").await;
        wait_applied(&self.journal_db, late.database(), "the late service").await;
        let differences = service_kit::compared_tables::diff(
            self.sibling.database(),
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
    }

    async fn stop(mut self, late: &[&ConsumerSettings]) {
        self.sibling_consumer.stop().await;
        self.background.stop(Duration::from_secs(10)).await.unwrap();
        let mut topologies = vec![&self.sibling_settings.topology];
        topologies.extend(late.iter().map(|c| &c.topology));
        self.broker
            .remove(&topologies, &[&self.journal_queue])
            .await;
    }
}

#[actix_web::test]
async fn a_team_service_started_after_a_thousand_events_catches_up_and_ends_as_its_sibling() {
    let Some(mut platform) = Platform::start().await else {
        return;
    };
    let Some(late_db) = test_support::postgres_database().await else {
        return;
    };
    platform.write(BEFORE).await;
    let journal_db = platform.journal_db.clone();
    wait_applied(&journal_db, platform.sibling.database(), "the sibling").await;

    // The late service: its queue is new. Killed once it applied a few
    // pages; its own pool, closed at the kill as a dying process's
    // connections are (which releases its advisory lock).
    let late_settings = platform.broker.consumer_settings("team-late", BINDINGS);
    let late = TeamService::build(&late_db, 8).await.unwrap();
    let doomed = TeamService::build(&late_db, 4).await.unwrap();
    let first = platform.catch_up(&doomed, &late_settings, 50);
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
    platform.write(50).await;

    // Restarted: it resumes where it got to, not from the start.
    let second = platform.catch_up(&late, &late_settings, 500);
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
    platform.write(MEANWHILE).await;
    platform.assert_same_as_sibling(&late).await;
    let sibling = platform.sibling.database();
    let teams = count(sibling, "SELECT COUNT(*) AS n FROM teams").await;
    let members = count(sibling, "SELECT COUNT(*) AS n FROM team_members").await;
    assert!(
        teams > 10 && members > 30,
        "{teams} teams, {members} members"
    );

    // Stopped and started again, its queue in place: the journal is not read.
    late_consumer.stop().await;
    platform.requests.store(0, Ordering::SeqCst);
    let third = platform.catch_up(&late, &late_settings, 500);
    assert_eq!(third.run(no_stop.signal()).await, Outcome::NotNeeded);
    assert_eq!(platform.requests.load(Ordering::SeqCst), 0);

    // The sibling's first start found its queue declared: nothing to do.
    let sibling_start = platform.catch_up(&platform.sibling, &platform.sibling_settings, 500);
    assert_eq!(
        sibling_start.run(no_stop.signal()).await,
        Outcome::NotNeeded
    );
    assert_eq!(platform.requests.load(Ordering::SeqCst), 0);

    platform.stop(&[&late_settings]).await;
}

#[actix_web::test]
async fn of_two_replicas_started_at_once_on_a_new_queue_one_catches_up_the_other_waits() {
    let Some(mut platform) = Platform::start().await else {
        return;
    };
    let Some(late_db) = test_support::postgres_database().await else {
        return;
    };
    platform.write(200).await;
    let late_settings = platform.broker.consumer_settings("team-pair", BINDINGS);
    // One event the catch-up cannot apply (whichever replica runs it).
    let poison = platform
        .journal_db
        .query_one_raw(Statement::from_string(
            platform.journal_db.get_database_backend(),
            "SELECT event_id FROM journal ORDER BY seq OFFSET 99 LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<Uuid>("", "event_id")
        .unwrap();
    // Two processes: a pool each.
    let one = TeamService::build(&late_db, 4).await.unwrap();
    let two = TeamService::build(&late_db, 4).await.unwrap();
    let failing = |service: &TeamService| FailingOne {
        consumer: service.consumer(),
        event: poison,
    };
    let (first, second) = (
        platform.catch_up_with(failing(&one), &one, &late_settings, 20),
        platform.catch_up_with(failing(&two), &two, &late_settings, 20),
    );
    let progress = [first.progress.clone(), second.progress.clone()];
    let no_stop = BackgroundTasks::new();
    let (a, b) = tokio::join!(first.run(no_stop.signal()), second.run(no_stop.signal()));
    // The poison went to the live queue, the consumers apply it there.
    let handed: u64 = progress.iter().map(|p| p.snapshot().handed_over).sum();
    assert!(handed >= 1, "nothing handed over");
    let caught_up = [&a, &b]
        .iter()
        .filter(|o| matches!(o, Outcome::CaughtUp { .. }))
        .count();
    assert_eq!(caught_up, 1, "{a:?} {b:?}");
    assert!([&a, &b].contains(&&Outcome::NotNeeded), "{a:?} {b:?}");
    // One head and the pages of one catch-up: 200 entries, 20 a page.
    let requests = platform.requests.load(Ordering::SeqCst);
    assert!((11..=13).contains(&requests), "{requests} journal requests");

    let mut consumers = [
        RunningConsumer::spawn(late_settings.clone(), one.consumer()),
        RunningConsumer::spawn(late_settings.clone(), two.consumer()),
    ];
    platform.write(40).await;
    platform.assert_same_as_sibling(&one).await;
    for consumer in &mut consumers {
        consumer.stop().await;
    }
    platform.stop(&[&late_settings]).await;
}
