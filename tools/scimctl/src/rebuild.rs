//! `scimctl rebuild SERVICE --into URL` and `scimctl diff SERVICE --against
//! URL --live URL`.
//!
//! Rebuild: migrates an empty database of the service (a PostgreSQL one must
//! exist already: it is not created here) and applies the journal
//! (all, or one organization) to it through the service's own consumer —
//! the same use cases and inbox as in production — reading the journal from
//! the gateway a page at a time. Events are spread over `--parallel` workers
//! by aggregate, so each user's and group's events stay in order (the
//! services' tables do not depend on the order across aggregates). Identity
//! opens the journal's sealed profiles with the persons' data keys
//! (`--data-keys`, see `keys.rs`); a deleted person's open as erased. A
//! rebuilt SQLite file ends with a TRUNCATE checkpoint and is closed, so no
//! write-ahead log is left beside it.
//!
//! Diff: compares the tables the service builds from events (its
//! `COMPARED_TABLES`) in the live database and the rebuilt one and prints the
//! rows that differ. This is how a bug in applying events shows: the rebuilt
//! copy is what the events say; the live one is what happened.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use messaging::{EventHandler, Handled, topic_matches};
use provisioning_events::Event;
use serde_json::{Value, json};
use service_kit::compared_tables::{self, ComparedTable};
use tokio::sync::mpsc;

use crate::admin::Admin;
use crate::events::{Service, Slice, Urls};
use crate::keys::{self, KeyArgs};

#[derive(Debug, Args)]
pub struct RebuildArgs {
    #[arg(value_enum)]
    pub service: Service,
    /// An empty database for the service, which rebuild migrates: on
    /// PostgreSQL it must exist already (`createdb NAME`; rebuild does not
    /// create it); a SQLite file is created when missing. The service's
    /// tables in it must hold no rows.
    #[arg(long)]
    pub into: String,
    /// Only this organization's events.
    #[arg(long)]
    pub org: Option<String>,
    /// Workers applying events at once (by aggregate); default 8 on
    /// PostgreSQL, 1 on SQLite (one writer).
    #[arg(long)]
    pub parallel: Option<usize>,
    /// The persons' data keys (identity only).
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[arg(value_enum)]
    pub service: Service,
    /// The rebuilt database.
    #[arg(long)]
    pub against: String,
    /// The service's live database.
    #[arg(long, env = "SCIM_LIVE_DATABASE_URL", hide_env_values = true)]
    pub live: String,
    /// Only this organization's rows.
    #[arg(long)]
    pub org: Option<String>,
}

/// A page of `GET /admin/v1/events`, typed.
#[derive(serde::Deserialize)]
struct JournalPage {
    items: Vec<JournalItem>,
    next_after_seq: Option<i64>,
}

#[derive(serde::Deserialize)]
struct JournalItem {
    seq: i64,
    event: Event,
}

/// Events handed to a service at once.
const BATCH: usize = 500;

fn tables(service: Service) -> &'static [ComparedTable] {
    match service {
        Service::Identity => identity::outbound::sql::COMPARED_TABLES,
        Service::Team => team::outbound::sql::COMPARED_TABLES,
        Service::Licensing => licensing::outbound::sql::COMPARED_TABLES,
    }
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Counts shared by the workers.
#[derive(Default)]
struct Tally {
    applied: AtomicU64,
    already_applied: AtomicU64,
    stale: AtomicU64,
    not_consumed: AtomicU64,
    problems: Mutex<Vec<Value>>,
}

impl Tally {
    fn handled(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
            + self.already_applied.load(Ordering::Relaxed)
            + self.stale.load(Ordering::Relaxed)
            + self.not_consumed.load(Ordering::Relaxed)
            + self.problems.lock().map(|p| p.len() as u64).unwrap_or(0)
    }

    fn json(&self) -> Value {
        json!({
            "applied": self.applied.load(Ordering::Relaxed),
            "already_applied": self.already_applied.load(Ordering::Relaxed),
            "stale": self.stale.load(Ordering::Relaxed),
            "not_consumed": self.not_consumed.load(Ordering::Relaxed),
            "failed": self.problems.lock().map(|p| p.len()).unwrap_or(0),
        })
    }
}

/// PostgreSQL: while the rebuild runs, commits on the fresh database do not
/// wait for the disk (a crash means starting over anyway); set back when
/// it is done, before the database could serve.
async fn relax_durability(url: &str, relaxed: bool) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    if is_sqlite(url) {
        return Ok(());
    }
    let db = service_kit::db::connect(url, 1, "the rebuilt database").await?;
    let statement = if relaxed {
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$"
    } else {
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET synchronous_commit', current_database()); END $$"
    };
    db.execute_unprepared(statement).await?;
    let _ = db.close().await;
    Ok(())
}

pub async fn rebuild(admin: &Admin, urls: &Urls, args: RebuildArgs) -> anyhow::Result<Value> {
    if let Err(e) = relax_durability(&args.into, true).await {
        if is_missing_database(&e) {
            bail!(
                "{} does not exist: create it first (createdb {}); rebuild migrates a database but does not create one",
                redact(&args.into),
                database_name(&args.into)
            );
        }
        return Err(e);
    }
    let outcome = rebuild_relaxed(admin, urls, &args).await;
    relax_durability(&args.into, false).await?;
    outcome
}

async fn rebuild_relaxed(admin: &Admin, urls: &Urls, args: &RebuildArgs) -> anyhow::Result<Value> {
    let parallel = args
        .parallel
        .unwrap_or(if is_sqlite(&args.into) { 1 } else { 8 })
        .clamp(1, 64);
    let connections = parallel as u32 + 1;
    let run = Run {
        admin,
        urls,
        args,
        parallel,
    };
    match args.service {
        Service::Identity => {
            let settings = identity::config::Settings::from_sources(false)?;
            let keys = keys::open(&args.keys).await?;
            let service = identity::startup::IdentityService::build(
                &args.into,
                connections,
                identity::startup::catalogue(&settings),
                keys.source.clone(),
            )
            .await?;
            let outcome = run
                .drive(
                    service.store.connection(),
                    identity::inbound::consumer::BINDINGS,
                    service.consumer(),
                )
                .await;
            keys.close().await;
            finish(service.store.connection(), outcome).await
        }
        Service::Team => {
            let service = team::startup::TeamService::build(&args.into, connections).await?;
            let outcome = run
                .drive(
                    service.store.connection(),
                    team::inbound::consumer::BINDINGS,
                    service.consumer(),
                )
                .await;
            finish(service.store.connection(), outcome).await
        }
        Service::Licensing => {
            let settings = licensing::config::Settings::from_sources(false)?;
            let service = licensing::startup::LicensingService::build(
                &args.into,
                connections,
                licensing::startup::policy(&settings),
            )
            .await?;
            let outcome = run
                .drive(
                    service.store.connection(),
                    licensing::inbound::consumer::BINDINGS,
                    service.consumer(),
                )
                .await;
            finish(service.store.connection(), outcome).await
        }
    }
}

/// The rebuilt database's last checkpoint (SQLite: TRUNCATE, so nothing
/// stays in a `-wal` file beside it) and close, whatever the outcome.
async fn finish(
    db: &sea_orm::DatabaseConnection,
    outcome: anyhow::Result<Value>,
) -> anyhow::Result<Value> {
    let closed = service_kit::db::checkpoint_and_close(db).await;
    let summary = outcome?;
    closed.context("closing the rebuilt database")?;
    Ok(summary)
}

/// One rebuild: where the journal comes from, where it goes, how wide.
struct Run<'a> {
    admin: &'a Admin,
    urls: &'a Urls,
    args: &'a RebuildArgs,
    parallel: usize,
}

impl Run<'_> {
    async fn drive<H: EventHandler>(
        &self,
        db: &sea_orm::DatabaseConnection,
        bindings: &'static [&'static str],
        handler: H,
    ) -> anyhow::Result<Value> {
        let Run {
            admin,
            urls,
            args,
            parallel,
        } = *self;
        if let Some((table, rows)) =
            compared_tables::first_non_empty(db, tables(args.service)).await?
        {
            bail!(
                "{} is not a fresh database: {table} has {rows} rows",
                redact(&args.into)
            );
        }
        let handler = Arc::new(handler);
        let tally = Arc::new(Tally::default());
        let mut senders = Vec::with_capacity(parallel);
        let mut workers = Vec::with_capacity(parallel);
        for _ in 0..parallel {
            let (tx, mut rx) = mpsc::channel::<Event>(2048);
            senders.push(tx);
            let (handler, tally) = (handler.clone(), tally.clone());
            workers.push(tokio::spawn(async move {
                // What has arrived, up to a batch: the service may apply it in
                // one transaction.
                let mut batch = Vec::with_capacity(BATCH);
                while rx.recv_many(&mut batch, BATCH).await > 0 {
                    let outcomes = handler.handle_batch(&batch).await;
                    for (event, outcome) in batch.iter().zip(outcomes) {
                        match outcome {
                            Ok(Handled::Applied) => tally.applied.fetch_add(1, Ordering::Relaxed),
                            Ok(Handled::Duplicate) => {
                                tally.already_applied.fetch_add(1, Ordering::Relaxed)
                            }
                            Ok(Handled::Stale) => tally.stale.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                if let Ok(mut problems) = tally.problems.lock() {
                                    problems.push(json!({
                                        "event_id": event.id,
                                        "seq": event.seq,
                                        "error": e.to_string(),
                                    }));
                                }
                                0
                            }
                        };
                    }
                    batch.clear();
                }
            }));
        }

        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        // PostgreSQL plans the batch reads from the tables' statistics; a fresh
        // database has none until autovacuum comes round (never, where it is
        // off), and the plans made for empty tables scan them in full. Keep the
        // statistics current while the tables fill.
        let analyzer = (!is_sqlite(&args.into)).then(|| {
            let db = db.clone();
            tokio::spawn(async move {
                use sea_orm::ConnectionTrait;
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let _ = db.execute_unprepared("ANALYZE").await;
                }
            })
        });
        let progress = Progress::start(tally.clone());
        let slice = Slice {
            org: args.org.clone(),
            ..Slice::default()
        };
        let started = Instant::now();
        let (mut read, mut after) = (0u64, None::<i64>);
        while !interrupted.load(Ordering::SeqCst) {
            let url = reqwest::Url::parse_with_params(
                &format!("{}/admin/v1/events", urls.gateway),
                &slice.query(after, 1000),
            )?;
            let page: JournalPage = admin.get(url.as_str()).await?;
            let (items, next) = (page.items, page.next_after_seq);
            let last = items.last().map(|i| i.seq);
            for item in items {
                let event = item.event;
                read += 1;
                if !bindings
                    .iter()
                    .any(|p| topic_matches(p, event.routing_key()))
                {
                    tally.not_consumed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let mut hasher = DefaultHasher::new();
                event.aggregate.id.hash(&mut hasher);
                let worker = (hasher.finish() % parallel as u64) as usize;
                senders[worker]
                    .send(event)
                    .await
                    .context("a rebuild worker stopped")?;
            }
            after = last.or(after);
            if next.is_none() {
                break;
            }
        }
        drop(senders);
        for worker in workers {
            worker.await.context("a rebuild worker panicked")?;
        }
        progress.finish();
        if let Some(analyzer) = analyzer {
            analyzer.abort();
        }
        let seconds = started.elapsed().as_secs_f64();
        let handled = tally.handled();
        let mut summary = json!({
            "service": args.service.name(),
            "into": redact(&args.into),
            "events": read,
            "counts": tally.json(),
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "events_per_second": if seconds > 0.0 { (handled as f64 / seconds).round() } else { 0.0 },
            "parallel": parallel,
            "last_seq": after,
            "problems": tally.problems.lock().map(|p| p.clone()).unwrap_or_default(),
        });
        if interrupted.load(Ordering::SeqCst) {
            summary["interrupted"] = json!(true);
            println!("{}", serde_json::to_string_pretty(&summary)?);
            bail!("interrupted: the rebuilt database is incomplete (drop it and start again)");
        }
        Ok(summary)
    }
}

pub async fn diff(args: DiffArgs) -> anyhow::Result<Value> {
    if is_sqlite(&args.live) != is_sqlite(&args.against) {
        bail!(
            "compare like with like: the live and the rebuilt database must both be PostgreSQL or both SQLite"
        );
    }
    let org = args
        .org
        .as_deref()
        .map(uuid::Uuid::parse_str)
        .transpose()
        .context("--org is not an organization id")?;
    let live = connect_existing(&args.live, "the live database").await?;
    let rebuilt = connect_existing(&args.against, "the rebuilt database").await?;
    let differences = compared_tables::diff(&live, &rebuilt, tables(args.service), org).await?;
    Ok(json!({
        "service": args.service.name(),
        "tables": tables(args.service).iter().map(|t| t.name).collect::<Vec<_>>(),
        "differences": differences.len(),
        "rows": differences.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
    }))
}

/// A connection to a database that must exist, its absence said plainly.
async fn connect_existing(url: &str, purpose: &str) -> anyhow::Result<sea_orm::DatabaseConnection> {
    match service_kit::db::connect(url, 2, purpose).await {
        Err(e) if is_missing_database(&e) => bail!("{purpose} {} does not exist", redact(url)),
        connected => connected,
    }
}

/// Whether connecting failed because the PostgreSQL database does not exist
/// (SQLSTATE 3D000, `invalid_catalog_name`).
fn is_missing_database(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let sqlx = match cause.downcast_ref::<sea_orm::DbErr>() {
            Some(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))) => Some(&**e),
            _ => cause.downcast_ref::<sea_orm::SqlxError>(),
        };
        sqlx.and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .is_some_and(|code| code == "3D000")
    })
}

/// The database name of a PostgreSQL URL (its path, without the query).
fn database_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// A database URL without its password, for output.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// A spinner with the applied count on a terminal, a line every few seconds
/// otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(tally: Arc<Tally>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {pos} events  {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(200));
            let mut lines = Instant::now();
            loop {
                every.tick().await;
                let handled = tally.handled();
                match &shown {
                    Some(bar) => bar.set_position(handled),
                    None if lines.elapsed() >= Duration::from_secs(2) => {
                        lines = Instant::now();
                        eprintln!("rebuild: {handled} events");
                    }
                    None => {}
                }
            }
        });
        Self { bar, ticker }
    }

    fn finish(self) {
        self.ticker.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{database_name, redact};

    #[test]
    fn the_database_name_is_the_urls_path() {
        assert_eq!(
            database_name("postgres://scim:s3cret@db:5432/identity_rebuilt?sslmode=disable"),
            "identity_rebuilt"
        );
        assert_eq!(database_name("postgres://db/team"), "team");
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact("postgres://scim:s3cret@db:5432/identity"),
            "postgres://scim@db:5432/identity"
        );
        assert_eq!(
            redact("postgres://postgres@db/identity"),
            "postgres://postgres@db/identity"
        );
        assert_eq!(
            redact("sqlite://./data/identity.db"),
            "sqlite://./data/identity.db"
        );
    }
}
