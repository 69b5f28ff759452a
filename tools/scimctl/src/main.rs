//! `scimctl`: the operator CLI. It talks to the services' admin APIs, so it
//! works the same against the embedded process (one port, the default
//! `http://127.0.0.1:8080`) and the distributed services (`--gateway`,
//! `--identity`, `--team`, `--licensing` or their `SCIM_*_URL` variables).
//! The admin key comes from `--admin-key`, `SCIM_ADMIN_KEY`, or
//! `./data/admin-key` (where the embedded process keeps the one it
//! generated). Output is JSON on stdout (`events list` and `events tail`:
//! a table or JSON lines); an error is one line on stderr, each cause said
//! once, and exit 1 (`status` exits 2 when a service is not ready, `diff` 3
//! when rows differ).

use std::process::ExitCode;

mod admin;
mod dead;
mod events;
mod keys;
mod limits;
mod rebuild;
mod replay;

use admin::Admin;
use anyhow::anyhow;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "scimctl",
    version,
    about = "Operate the SCIM provisioning platform"
)]
struct Cli {
    /// The gateway (SCIM and organization admin API).
    #[arg(
        long,
        env = "SCIM_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    gateway: String,
    /// The identity service; the gateway's URL when unset (embedded process).
    #[arg(long, env = "SCIM_IDENTITY_URL", global = true)]
    identity: Option<String>,
    /// The team service; the gateway's URL when unset.
    #[arg(long, env = "SCIM_TEAM_URL", global = true)]
    team: Option<String>,
    /// The licensing service; the gateway's URL when unset.
    #[arg(long, env = "SCIM_LICENSING_URL", global = true)]
    licensing: Option<String>,
    /// The admin key; else `SCIM_ADMIN_KEY`, else `./data/admin-key`.
    #[arg(long, env = "SCIM_ADMIN_KEY", hide_env_values = true, global = true)]
    admin_key: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Bearer tokens of an organization.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Seat quotas.
    Seats {
        #[command(subcommand)]
        command: SeatsCommand,
    },
    /// Health and readiness of every service, the journal's lag, the queue
    /// depths (exit 2 when a service is not ready; needs no admin key), and
    /// with the admin key each organization's request limits and 429 counts.
    Status,
    /// The journal: what the IdPs' requests caused, in order.
    Events {
        #[command(subcommand)]
        command: events::EventsCommand,
    },
    /// Re-delivers a slice of the journal to one service (only that one);
    /// events it applied before are skipped and counted.
    Replay(replay::ReplayArgs),
    /// Applies the journal (all, or one organization) to an empty database
    /// of a service through the service's own consumer. A PostgreSQL database
    /// must exist already: rebuild migrates it but does not create it.
    Rebuild(rebuild::RebuildArgs),
    /// Compares a service's live database with a rebuilt one; prints the
    /// rows that differ (exit 3 when some do; needs no admin key).
    Diff(rebuild::DiffArgs),
    /// A service's dead letters: list, show, requeue.
    Dead {
        #[command(subcommand)]
        command: dead::DeadCommand,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Creates an organization, its SCIM connection, its subscription and a
    /// first token; prints `org_id`, `workspace_id` and `token` (shown once).
    Create {
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// The seat quota of its subscription (licensing).
        #[arg(long)]
        seats: u32,
        /// The name of the one workspace SCIM synchronizes into.
        #[arg(long)]
        workspace: Option<String>,
        /// The role new accounts get (default `member`).
        #[arg(long)]
        default_role: Option<String>,
    },
    /// Shows an organization.
    Show {
        /// The organization's id.
        org: String,
    },
    /// Shows an organization's request limits and 429 counts; with flags,
    /// sets its own values (over the gateway's defaults).
    Limits(limits::LimitsArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issues a token (its value is printed this once).
    Issue {
        /// The organization's id.
        org: String,
    },
    /// Lists tokens: prefixes and dates, never values.
    List {
        /// The organization's id.
        org: String,
    },
    /// Revokes a token: refused from the next request on.
    Revoke {
        /// The organization's id.
        org: String,
        /// The token's id (from `token list`).
        token_id: String,
    },
    /// Issues a successor; the old token keeps working for the overlap.
    Rotate {
        /// The organization's id.
        org: String,
        /// The token's id (from `token list`).
        token_id: String,
        /// How long the old token keeps working (default: a day; at most 30
        /// days).
        #[arg(long)]
        overlap_seconds: Option<i64>,
    },
}

#[derive(Subcommand)]
enum SeatsCommand {
    /// Sets an organization's seat quota (takes effect at once).
    Set {
        /// The organization's id.
        org: String,
        /// The new quota.
        seats: u32,
    },
    /// Shows seats used (confirmed and reserved) and the quota.
    Show {
        /// The organization's id.
        org: String,
    },
}

fn base(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

async fn run(cli: Cli) -> anyhow::Result<Value> {
    use reqwest::Method;
    let gateway = base(&cli.gateway);
    let identity = cli
        .identity
        .as_deref()
        .map(base)
        .unwrap_or_else(|| gateway.clone());
    let team = cli
        .team
        .as_deref()
        .map(base)
        .unwrap_or_else(|| gateway.clone());
    let licensing = cli
        .licensing
        .as_deref()
        .map(base)
        .unwrap_or_else(|| gateway.clone());
    let urls = events::Urls {
        gateway: gateway.clone(),
        identity: identity.clone(),
        team: team.clone(),
        licensing: licensing.clone(),
    };
    if let Command::Diff(args) = cli.command {
        return rebuild::diff(args).await;
    }
    if let Command::Status = cli.command {
        let mut report = status(&[
            ("gateway", &gateway),
            ("identity", &identity),
            ("team", &team),
            ("licensing", &licensing),
        ])
        .await?;
        // Readiness needs no admin key; the organizations' limits do.
        let admin = Admin::new(cli.admin_key).ok();
        report["limits"] = limits::of_all(admin.as_ref(), &gateway).await;
        return Ok(report);
    }
    let admin = Admin::new(cli.admin_key)?;
    let orgs = format!("{gateway}/admin/v1/organizations");
    match cli.command {
        Command::Org {
            command:
                OrgCommand::Create {
                    name,
                    seats,
                    workspace,
                    default_role,
                },
        } => {
            let org = admin
                .send(
                    Method::POST,
                    &orgs,
                    Some(
                        json!({"name": name, "workspace": workspace, "default_role": default_role}),
                    ),
                )
                .await?;
            let id = org["org_id"]
                .as_str()
                .ok_or_else(|| anyhow!("the gateway returned no org_id"))?
                .to_owned();
            admin
                .send(
                    Method::PUT,
                    &format!("{licensing}/admin/v1/organizations/{id}/subscription"),
                    Some(json!({"seat_quota": seats})),
                )
                .await?;
            let token = admin
                .send(Method::POST, &format!("{orgs}/{id}/tokens"), None)
                .await?;
            Ok(json!({
                "org_id": id,
                "name": org["name"],
                "workspace_id": org["workspace_id"],
                "workspace": org["workspace"],
                "default_role": org["default_role"],
                "seats": seats,
                "token": token["token"],
                "token_id": token["id"],
                "scim_base_url": format!("{gateway}/scim/v2"),
            }))
        }
        Command::Org {
            command: OrgCommand::Show { org },
        } => {
            admin
                .send(Method::GET, &format!("{orgs}/{org}"), None)
                .await
        }
        Command::Org {
            command: OrgCommand::Limits(args),
        } => limits::run(&admin, &gateway, args).await,
        Command::Token {
            command: TokenCommand::Issue { org },
        } => {
            admin
                .send(Method::POST, &format!("{orgs}/{org}/tokens"), None)
                .await
        }
        Command::Token {
            command: TokenCommand::List { org },
        } => {
            admin
                .send(Method::GET, &format!("{orgs}/{org}/tokens"), None)
                .await
        }
        Command::Token {
            command: TokenCommand::Revoke { org, token_id },
        } => {
            admin
                .send(
                    Method::DELETE,
                    &format!("{orgs}/{org}/tokens/{token_id}"),
                    None,
                )
                .await?;
            Ok(json!({"revoked": token_id}))
        }
        Command::Token {
            command:
                TokenCommand::Rotate {
                    org,
                    token_id,
                    overlap_seconds,
                },
        } => {
            let body =
                overlap_seconds.map_or_else(|| json!({}), |s| json!({ "overlap_seconds": s }));
            admin
                .send(
                    Method::POST,
                    &format!("{orgs}/{org}/tokens/{token_id}/rotate"),
                    Some(body),
                )
                .await
        }
        Command::Seats {
            command: SeatsCommand::Set { org, seats },
        } => {
            admin
                .send(
                    Method::PUT,
                    &format!("{licensing}/admin/v1/organizations/{org}/subscription"),
                    Some(json!({"seat_quota": seats})),
                )
                .await
        }
        Command::Seats {
            command: SeatsCommand::Show { org },
        } => {
            admin
                .send(
                    Method::GET,
                    &format!("{licensing}/admin/v1/organizations/{org}/usage"),
                    None,
                )
                .await
        }
        Command::Status => unreachable!("answered above"),
        Command::Events { command } => events::run(&admin, &urls, command).await,
        Command::Replay(args) => replay::run(&admin, &urls, args).await,
        Command::Rebuild(args) => rebuild::rebuild(&admin, &urls, args).await,
        Command::Diff(_) => unreachable!("answered above"),
        Command::Dead { command } => dead::run(&admin, &urls, command).await,
    }
}

/// `/healthz` and `/readyz` of each service, the journal's lag (the
/// gateway's readiness) and each consumer's queue depths (its readiness).
async fn status(services: &[(&str, &String)]) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let mut report = serde_json::Map::new();
    let mut all_ready = true;
    let mut queues = serde_json::Map::new();
    for (name, url) in services {
        let probe = |path: &'static str| {
            let http = http.clone();
            let url = format!("{url}{path}");
            async move {
                match http.get(&url).send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        (ok, body)
                    }
                    Err(e) => (false, json!({"error": e.to_string()})),
                }
            }
        };
        let (alive, _) = probe("/healthz").await;
        let (ready, detail) = probe("/readyz").await;
        all_ready &= alive && ready;
        if let Some(queue) = detail.get("queue").filter(|q| q.is_object()) {
            queues.insert((*name).to_owned(), queue.clone());
        }
        if let Some(journal) = detail.get("journal") {
            report.insert("journal".into(), journal.clone());
        }
        report.insert(
            (*name).to_owned(),
            json!({"url": url, "alive": alive, "ready": ready, "readiness": detail}),
        );
    }
    // Sampled by each consumer every few seconds; the embedded process has
    // no broker queues (its bus delivers in the process).
    report.insert("queues".into(), Value::Object(queues));
    report.insert("all_ready".into(), json!(all_ready));
    Ok(Value::Object(report))
}

/// The error and its causes on one line, each said once: a cause whose text
/// the error before it already includes (database drivers repeat their
/// source in their own message) is left out.
fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let status_command = matches!(cli.command, Command::Status);
    let diff_command = matches!(cli.command, Command::Diff(_));
    match run(cli).await {
        // Null: the command printed its own output (lines, a table).
        Ok(Value::Null) => ExitCode::SUCCESS,
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            if status_command && value["all_ready"] != json!(true) {
                return ExitCode::from(2);
            }
            if diff_command && value["differences"] != json!(0) {
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scimctl: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
