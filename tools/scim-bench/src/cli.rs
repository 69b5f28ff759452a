//! The command line: the gateway and admin URLs, the load shape, and one
//! subcommand per scenario.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::load::Load;

#[derive(Parser)]
#[command(about = "Load tool for the SCIM gateway")]
pub(crate) struct Cli {
    /// SCIM base URL. Several (comma-separated: gateway replicas) take the
    /// requests in turn, as an HTTP load balancer spreads them; the first is
    /// also the admin API's.
    #[arg(
        long,
        global = true,
        env = "SCIM_BENCH_URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080/scim/v2"
    )]
    pub(crate) base_url: Vec<String>,
    /// Bearer token of an organization (repeat for several). Scenarios that
    /// need more organizations than given create them with the admin key.
    #[arg(
        long = "token",
        global = true,
        env = "SCIM_BENCH_TOKEN",
        value_delimiter = ','
    )]
    pub(crate) tokens: Vec<String>,
    /// Admin key: lets the tool create organizations (with seats) and read
    /// the journal and identity's inbox.
    #[arg(long, global = true, env = "SCIM_ADMIN_KEY", hide_env_values = true)]
    pub(crate) admin_key: Option<String>,
    /// The gateway's admin API [default: the base URL without /scim/v2].
    #[arg(long, global = true)]
    pub(crate) gateway_url: Option<String>,
    /// Licensing's admin API [default: the gateway's, as in the embedded process].
    #[arg(long, global = true)]
    pub(crate) licensing_url: Option<String>,
    /// Identity's admin API [default: the gateway's].
    #[arg(long, global = true)]
    pub(crate) identity_url: Option<String>,
    /// Samples this process's resident memory during the run and reports its peak.
    #[arg(long, global = true)]
    pub(crate) watch_pid: Option<u32>,
    /// One JSON object per report instead of a line of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args, Clone, Copy)]
pub(crate) struct LoadArgs {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Seconds to run (the default when neither is given: 10).
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Requests to send.
    #[arg(long)]
    pub(crate) requests: Option<usize>,
}

impl LoadArgs {
    pub(crate) fn load(self) -> Load {
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
pub(crate) enum Command {
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
