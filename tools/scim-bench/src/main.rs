//! `scim-bench`: drives a running SCIM gateway over HTTP the way identity
//! providers do and reports throughput and latency percentiles. Every answer
//! is checked; a wrong answer counts as an error, not as a fast request.
//! Scenarios and how the figures in docs/benchmarks.md were made: that file.

mod bulk;
mod cli;
mod client;
mod fairness;
mod load;
mod memory;
mod report;
mod scenarios;
mod seed_rows;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use rand::RngExt;

use cli::{Cli, Command};
use client::{Admin, Scim};
use load::Load;
use report::Report;

/// Seats of the organizations the tool creates for create scenarios: enough
/// never to be the limit.
const UNLIMITED_SEATS: u64 = 1_000_000_000;

struct Bench {
    cli: Cli,
    http: reqwest::Client,
    run: String,
}

impl Bench {
    fn gateway_url(&self) -> String {
        self.cli.gateway_url.clone().unwrap_or_else(|| {
            let base = self.cli.base_url[0].trim_end_matches('/');
            base.strip_suffix("/scim/v2").unwrap_or(base).to_owned()
        })
    }

    fn admin(&self) -> anyhow::Result<Admin> {
        let key = self
            .cli
            .admin_key
            .clone()
            .context("this needs the admin key (--admin-key or SCIM_ADMIN_KEY)")?;
        let gateway = self.gateway_url();
        let or_gateway = |url: &Option<String>| url.clone().unwrap_or_else(|| gateway.clone());
        Ok(Admin::new(
            self.http.clone(),
            key,
            gateway.clone(),
            or_gateway(&self.cli.licensing_url),
            or_gateway(&self.cli.identity_url),
        ))
    }

    fn scim(&self, token: &str) -> Scim {
        Scim::new(self.http.clone(), &self.cli.base_url, token)
    }

    fn first_organization(&self) -> anyhow::Result<Scim> {
        let token = self
            .cli
            .tokens
            .first()
            .context("this needs an organization's token (--token or SCIM_BENCH_TOKEN)")?;
        Ok(self.scim(token))
    }

    /// `count` organizations: the given tokens, then new ones.
    async fn organizations(&self, count: usize) -> anyhow::Result<Vec<Scim>> {
        let mut orgs: Vec<Scim> = self
            .cli
            .tokens
            .iter()
            .take(count)
            .map(|t| self.scim(t))
            .collect();
        if orgs.len() < count {
            let admin = self.admin()?;
            for i in orgs.len()..count {
                let org = admin
                    .create_organization(&format!("bench-{}-{i}", self.run), UNLIMITED_SEATS)
                    .await?;
                orgs.push(self.scim(&org.token));
            }
        }
        Ok(orgs)
    }

    /// `count` new organizations (never the given tokens): each scenario
    /// round in an empty one.
    fn print(&self, report: &Report) {
        if self.cli.json {
            println!("{}", report.json());
        } else {
            println!("{}", report.line());
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let http = client::http_pool(64)?;
    let bench = Bench {
        cli,
        http,
        run: format!("{:08x}", rand::rng().random::<u32>()),
    };
    let peak_rss = bench.cli.watch_pid.map(watch_resident_memory);
    let reports = run(&bench).await?;
    let mut failed = false;
    for report in &reports {
        bench.print(report);
        failed |= report.error_count() > 0;
    }
    if let (Some(peak), Some(pid)) = (peak_rss, bench.cli.watch_pid) {
        let mib = peak.load(Ordering::Relaxed) as f64 / 1024.0;
        if bench.cli.json {
            println!(
                "{}",
                serde_json::json!({"process": pid, "peak_rss_mib": (mib * 10.0).round() / 10.0})
            );
        } else {
            println!("process {pid}: peak resident memory {mib:.1} MiB");
        }
    }
    if failed {
        bail!("some requests failed or were answered wrongly");
    }
    Ok(())
}

async fn run(bench: &Bench) -> anyhow::Result<Vec<Report>> {
    Ok(match &bench.cli.command {
        Command::Organization { name, seats } => {
            let org = bench.admin()?.create_organization(name, *seats).await?;
            println!("{}", org.token);
            vec![]
        }
        Command::Seed { users, concurrency } => {
            let load = Load {
                concurrency: *concurrency,
                duration: None,
                requests: None,
            };
            vec![scenarios::seed(bench.first_organization()?, *users, load).await]
        }
        Command::Create { load, orgs } => {
            let orgs = bench.organizations(*orgs).await?;
            vec![scenarios::create(orgs, &bench.run, load.load()).await]
        }
        Command::InitialSync { load, orgs } => {
            let orgs = bench.organizations(*orgs).await?;
            vec![scenarios::initial_sync(orgs, &bench.run, load.load()).await]
        }
        Command::Filter { load, users } => {
            vec![scenarios::filter(bench.first_organization()?, *users, load.load()).await]
        }
        Command::SeedRows {
            database_url,
            org,
            from,
            users,
        } => {
            let org = org.as_deref().map(uuid::Uuid::parse_str).transpose()?;
            let org = seed_rows::seed_rows(database_url, org, *from, *users).await?;
            println!("{org}");
            vec![]
        }
        Command::FilterEmployeeNumber {
            load,
            from,
            users,
            by_user_name,
        } => {
            let scim = bench.first_organization()?;
            let (from, users, by_user_name) = (*from, *users, *by_user_name);
            vec![
                scenarios::filter_employee_number(scim, from, users, by_user_name, load.load())
                    .await,
            ]
        }
        Command::Get {
            load,
            users,
            sample,
        } => {
            let (scim, ids) = sampled_users(bench, *users, *sample).await?;
            vec![scenarios::get(scim, ids, load.load()).await]
        }
        Command::Patch {
            load,
            users,
            sample,
        } => {
            let (scim, ids) = sampled_users(bench, *users, *sample).await?;
            vec![scenarios::patch(scim, ids, load.load()).await]
        }
        Command::GroupAdd {
            members,
            requests,
            concurrency,
        } => {
            let load = Load {
                concurrency: *concurrency,
                duration: None,
                requests: Some(*requests),
            };
            vec![scenarios::group_add(bench.first_organization()?, *members, load).await?]
        }
        Command::Quota {
            seats,
            extra,
            concurrency,
        } => {
            let admin = bench.admin()?;
            let org = admin
                .create_organization(&format!("bench-quota-{}", bench.run), *seats as u64)
                .await?;
            let scim = bench.scim(&org.token);
            vec![scenarios::quota(&admin, scim, &org.id, *seats, *extra, *concurrency).await?]
        }
        Command::Fairness {
            duration,
            a_connections,
            b_rate,
            b_users,
            ignore_retry_after,
        } => {
            let admin = bench.admin()?;
            let mut orgs = Vec::new();
            for which in ["a", "b"] {
                let name = format!("bench-fair-{which}-{}", bench.run);
                let org = admin
                    .create_limited_organization(&name, UNLIMITED_SEATS)
                    .await?;
                orgs.push(bench.scim(&org.token));
            }
            let (b, a) = (orgs.pop().context("b")?, orgs.pop().context("a")?);
            let outcome = fairness::Fairness {
                a,
                b,
                run: bench.run.clone(),
                duration: Duration::from_secs_f64(*duration),
                a_connections: *a_connections,
                b_rate: *b_rate,
                b_users: *b_users,
                honour_retry_after: !ignore_retry_after,
            }
            .run()
            .await?;
            println!("{}", outcome.a_line());
            let limits = admin.limits().await?;
            println!("gateway's limits and 429 counts: {limits}");
            if outcome.a_misbehaved() {
                eprintln!("organization A got an answer other than 201 or 429 with Retry-After");
            }
            vec![outcome.b_alone, outcome.b_beside_a, outcome.a_created]
        }
        Command::Propagation { rate, duration } => {
            let admin = bench.admin()?;
            let org = admin
                .create_organization(&format!("bench-prop-{}", bench.run), UNLIMITED_SEATS)
                .await?;
            let scim = bench.scim(&org.token);
            let duration = Duration::from_secs_f64(*duration);
            let (creates, propagation) =
                scenarios::propagation(&admin, scim, &org.id, &bench.run, *rate, duration).await?;
            vec![creates, propagation]
        }
        Command::Bulk {
            users,
            per_request,
            concurrency,
            bulk_concurrency,
            rounds,
        } => {
            let run = bulk::BulkRun {
                users: *users,
                per_request: *per_request,
                concurrency: *concurrency,
                bulk_concurrency: *bulk_concurrency,
            };
            let mut reports = Vec::new();
            let admin = bench.admin()?;
            for round in 0..*rounds {
                let mut orgs = Vec::new();
                for mode in ["single", "bulk"] {
                    let name = format!("bench-bulk{round}-{mode}-{}", bench.run);
                    orgs.push(admin.create_organization(&name, UNLIMITED_SEATS).await?);
                }
                let tag = format!("{}-{round}", bench.run);
                // Each phase starts on a settled pipeline and is timed until
                // licensing confirmed its last seat: a backlog left by one
                // phase never slows the next.
                let started = std::time::Instant::now();
                let single = bulk::singles(bench.scim(&orgs[0].token), tag.clone(), run).await;
                bulk::settled(&admin, &orgs[0].id, run.users).await?;
                let single_end_to_end = run.users as f64 / started.elapsed().as_secs_f64();
                let started = std::time::Instant::now();
                let bulked = bulk::bulks(bench.scim(&orgs[1].token), tag, run).await;
                bulk::settled(&admin, &orgs[1].id, run.users).await?;
                let bulk_end_to_end = run.users as f64 / started.elapsed().as_secs_f64();
                let (single_rate, bulk_rate) =
                    (single.rate(), bulk::users_per_second(&bulked, run));
                bench.print(&single);
                bench.print(&bulked);
                println!(
                    "round {round}: answered: single {single_rate:.0} users/s, bulk {bulk_rate:.0} users/s: {:.2}×; \
                     until licensing confirmed every seat: single {single_end_to_end:.0} users/s, bulk {bulk_end_to_end:.0} users/s: {:.2}×",
                    bulk_rate / single_rate.max(1e-9),
                    bulk_end_to_end / single_end_to_end.max(1e-9)
                );
                failed_reports(&mut reports, [single, bulked]);
            }
            reports
        }
        Command::Memory {
            users,
            user_chars,
            max_string,
            concurrency,
            rounds,
        } => {
            let pid = bench
                .cli
                .watch_pid
                .context("the memory scenario reads the server's memory: give --watch-pid")?;
            let org = bench
                .admin()?
                .create_organization(&format!("bench-memory-{}", bench.run), UNLIMITED_SEATS)
                .await?;
            let plan = memory::MemoryRun {
                users: *users,
                user_chars: *user_chars,
                max_string: *max_string,
                concurrency: *concurrency,
                rounds: *rounds,
            };
            let (report, figures) =
                memory::memory(bench.scim(&org.token), &bench.run, pid, plan).await?;
            if bench.cli.json {
                println!("{}", figures.json());
            } else {
                println!("{}", figures.line());
            }
            vec![report]
        }
    })
}

/// Keeps the reports with errors (printed again at the end, failing the
/// run); the others were printed as they came.
fn failed_reports(kept: &mut Vec<Report>, reports: impl IntoIterator<Item = Report>) {
    kept.extend(reports.into_iter().filter(|r| r.error_count() > 0));
}

/// The first organization and the ids of `sample` of its seeded users.
async fn sampled_users(
    bench: &Bench,
    users: usize,
    sample: usize,
) -> anyhow::Result<(Scim, Arc<Vec<String>>)> {
    let scim = bench.first_organization()?;
    let ids = scenarios::sample_ids(&scim, users, sample).await?;
    Ok((scim, Arc::new(ids)))
}

/// Samples `/proc/<pid>/status` every 100 ms; the peak VmRSS in KiB.
fn watch_resident_memory(pid: u32) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let seen = peak.clone();
    tokio::spawn(async move {
        let path = format!("/proc/{pid}/status");
        loop {
            if let Ok(status) = std::fs::read_to_string(&path) {
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
                if let Some(kib) = rss {
                    seen.fetch_max(kib, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    peak
}
