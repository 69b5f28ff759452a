//! `scim-bench`: drives a running SCIM gateway over HTTP the way identity
//! providers do and reports throughput and latency percentiles. Every answer
//! is checked; a wrong answer counts as an error, not as a fast request.
//! Scenarios and how the figures in docs/benchmarks.md were made: that file.

mod bulk;
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
use clap::{Args, Parser, Subcommand};
use rand::RngExt;

use client::{Admin, Scim};
use load::Load;
use report::Report;

#[derive(Parser)]
#[command(about = "Load tool for the SCIM gateway")]
struct Cli {
    /// SCIM base URL.
    #[arg(
        long,
        global = true,
        env = "SCIM_BENCH_URL",
        default_value = "http://127.0.0.1:8080/scim/v2"
    )]
    base_url: String,
    /// Bearer token of an organization (repeat for several). Scenarios that
    /// need more organizations than given create them with the admin key.
    #[arg(
        long = "token",
        global = true,
        env = "SCIM_BENCH_TOKEN",
        value_delimiter = ','
    )]
    tokens: Vec<String>,
    /// Admin key: lets the tool create organizations (with seats) and read
    /// the journal and identity's inbox.
    #[arg(long, global = true, env = "SCIM_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// The gateway's admin API [default: the base URL without /scim/v2].
    #[arg(long, global = true)]
    gateway_url: Option<String>,
    /// Licensing's admin API [default: the gateway's, as in the embedded process].
    #[arg(long, global = true)]
    licensing_url: Option<String>,
    /// Identity's admin API [default: the gateway's].
    #[arg(long, global = true)]
    identity_url: Option<String>,
    /// Samples this process's resident memory during the run and reports its peak.
    #[arg(long, global = true)]
    watch_pid: Option<u32>,
    /// One JSON object per report instead of a line of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Copy)]
struct LoadArgs {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds to run (the default when neither is given: 10).
    #[arg(long)]
    duration: Option<f64>,
    /// Requests to send.
    #[arg(long)]
    requests: Option<usize>,
}

impl LoadArgs {
    fn load(self) -> Load {
        let duration = match (self.duration, self.requests) {
            (None, None) => Some(10.0),
            (duration, _) => duration,
        };
        Load {
            concurrency: self.concurrency,
            duration: duration.map(Duration::from_secs_f64),
            requests: self.requests,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Creates an organization with `seats` seats and prints its SCIM token
    /// (for seed and the scenarios that use --token).
    Organization {
        #[arg(long)]
        name: String,
        #[arg(long)]
        seats: u64,
    },
    /// Creates users bench-user-<i>@example.com in the first organization
    /// (the ones that exist are skipped): the data of filter, get, patch and group-add.
    Seed {
        #[arg(long)]
        users: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// POST /Users of new users, spread over organizations.
    Create {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, default_value_t = 1)]
        orgs: usize,
    },
    /// Per new user: filter userName eq (nothing found), then POST.
    InitialSync {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, default_value_t = 1)]
        orgs: usize,
    },
    /// GET /Users?filter=userName eq "…" of random seeded users.
    Filter {
        #[command(flatten)]
        load: LoadArgs,
        /// How many users were seeded (lookups pick among them).
        #[arg(long)]
        users: usize,
    },
    /// Writes `users` users straight into the gateway's PostgreSQL tables
    /// (one organization; see seed_rows.rs): the data of
    /// filter-employee-number at a million users.
    SeedRows {
        /// The gateway's database.
        #[arg(long, env = "SCIM_DATABASE__URL")]
        database_url: String,
        /// The organization [default: the database's only one].
        #[arg(long)]
        org: Option<String>,
        /// The first user's number.
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        users: u64,
    },
    /// GET /Users?filter=<enterprise>:employeeNumber eq "…" of random users
    /// written by seed-rows.
    FilterEmployeeNumber {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        users: u64,
        /// Looks the same users up by userName instead (a dedicated column).
        #[arg(long)]
        by_user_name: bool,
    },
    /// GET /Users/{id} of random seeded users.
    Get {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long)]
        users: usize,
        /// How many seeded users' ids to look up first and pick from.
        #[arg(long, default_value_t = 5000)]
        sample: usize,
    },
    /// PATCH /Users/{id}: replace name.familyName of random seeded users.
    Patch {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long)]
        users: usize,
        #[arg(long, default_value_t = 5000)]
        sample: usize,
    },
    /// Fills a group with `members` seeded users, then adds one member per
    /// request (needs members + requests seeded users).
    GroupAdd {
        #[arg(long)]
        members: usize,
        #[arg(long, default_value_t = 500)]
        requests: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// A new organization of `seats` seats gets seats + extra creates: exactly
    /// `seats` must succeed, the rest be refused, and licensing count `seats`.
    Quota {
        #[arg(long, default_value_t = 5000)]
        seats: usize,
        #[arg(long, default_value_t = 500)]
        extra: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Two new organizations under the gateway's default limits: B at a
    /// steady rate (GETs, a create every 4th request) alone, then beside A
    /// creating users on `a-connections` connections. B must see no error,
    /// A only 201 or 429 with an integer Retry-After.
    Fairness {
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, default_value_t = 16)]
        a_connections: usize,
        #[arg(long, default_value_t = 20.0)]
        b_rate: f64,
        #[arg(long, default_value_t = 50)]
        b_users: usize,
        /// A sends its next request at once after a 429 (a client that does
        /// not back off) instead of waiting its Retry-After.
        #[arg(long)]
        ignore_retry_after: bool,
    },
    /// Creates at a steady rate in a new organization; reports the time from
    /// each 201 to identity applying the user's event.
    Propagation {
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
    },
    /// Issue 23: an initial sync of `users` new users through single creates
    /// and through Bulk (`per-request` a request), each in a new
    /// organization, alternating `rounds` times; the Bulk-to-single ratio
    /// of users a second.
    Bulk {
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        #[arg(long, default_value_t = 1000)]
        per_request: usize,
        /// Connections of the single creates.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Bulk requests in flight at once.
        #[arg(long, default_value_t = 1)]
        bulk_concurrency: usize,
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
    /// Large users in a new organization, then `concurrency` clients at once
    /// reading the largest page of them, `rounds` times: the server's
    /// resident memory before, at its peak and 1, 5 and 10 s after (needs
    /// --watch-pid).
    Memory {
        #[arg(long, default_value_t = 60)]
        users: usize,
        /// Characters of each user's strings, in all.
        #[arg(long, default_value_t = 60_000)]
        user_chars: usize,
        /// The longest string the gateway accepts (scim.max_string_length).
        #[arg(long, default_value_t = 4096)]
        max_string: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

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
            let base = self.cli.base_url.trim_end_matches('/');
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
    async fn organizations_named(&self, label: &str, count: usize) -> anyhow::Result<Vec<Scim>> {
        let admin = self.admin()?;
        let mut orgs = Vec::with_capacity(count);
        for i in 0..count {
            let name = format!("bench-{label}-{}-{i}", self.run);
            let org = admin.create_organization(&name, UNLIMITED_SEATS).await?;
            orgs.push(self.scim(&org.token));
        }
        Ok(orgs)
    }

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
            for round in 0..*rounds {
                let orgs = bench
                    .organizations_named(&format!("bulk{round}"), 2)
                    .await?;
                let tag = format!("{}-{round}", bench.run);
                let single = bulk::singles(orgs[0].clone(), tag.clone(), run).await;
                let bulked = bulk::bulks(orgs[1].clone(), tag, run).await;
                let (single_rate, bulk_rate) =
                    (single.rate(), bulk::users_per_second(&bulked, run));
                bench.print(&single);
                bench.print(&bulked);
                println!(
                    "round {round}: single {single_rate:.0} users/s, bulk {bulk_rate:.0} users/s: {:.2}×",
                    bulk_rate / single_rate.max(1e-9)
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
