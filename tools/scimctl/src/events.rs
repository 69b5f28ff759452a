//! `scimctl events list|show|tail`: the gateway's journal (`GET
//! /admin/v1/events`) and, for one event, what each service did with it
//! (a dry-run replay of that event to each service says whether it applied
//! it, and when). A profile is printed as `"profile": "sealed"` (its person's
//! data key exists; the ciphertext is not printed) or `"erased"` (the person
//! was deleted).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::Admin;

/// The services' base URLs (all the same for the embedded process).
pub struct Urls {
    pub gateway: String,
    pub identity: String,
    pub team: String,
    pub licensing: String,
}

impl Urls {
    pub fn of(&self, service: Service) -> &str {
        match service {
            Service::Identity => &self.identity,
            Service::Team => &self.team,
            Service::Licensing => &self.licensing,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    Identity,
    Team,
    Licensing,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Identity, Service::Team, Service::Licensing];

    pub fn name(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Team => "team",
            Service::Licensing => "licensing",
        }
    }
}

/// Which journal entries (every condition optional).
#[derive(Debug, Clone, Default, Args)]
pub struct Slice {
    /// Only this organization's events.
    #[arg(long)]
    pub org: Option<String>,
    /// An event type (`user.provisioned`) or a kind (`user.*`).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// One user or group (its SCIM id).
    #[arg(long)]
    pub aggregate: Option<String>,
    /// Entries after this seq.
    #[arg(long)]
    pub after_seq: Option<i64>,
    /// Entries up to this seq (inclusive).
    #[arg(long)]
    pub until_seq: Option<i64>,
    /// Entries that occurred at or after this instant (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Entries that occurred before this instant (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
}

impl Slice {
    /// The query string for `GET /admin/v1/events`, from `after_seq` on.
    pub fn query(&self, after_seq: Option<i64>, limit: u32) -> Vec<(&'static str, String)> {
        let mut query = vec![("limit", limit.to_string())];
        let after = match (after_seq, self.after_seq) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let pairs = [
            ("org", self.org.clone()),
            ("type", self.event_type.clone()),
            ("aggregate", self.aggregate.clone()),
            ("after_seq", after.map(|s| s.to_string())),
            ("until_seq", self.until_seq.map(|s| s.to_string())),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
        ];
        query.extend(pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        query
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns, times in UTC to the millisecond (the default on a
    /// terminal).
    Table,
    /// One JSON object a line (the default otherwise).
    Jsonl,
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Lists journal entries in seq order.
    List {
        #[command(flatten)]
        slice: Slice,
        /// At most this many entries (all when unset).
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// One event, whole, with its delivery status per service.
    Show { event_id: String },
    /// The last entries, then (with --follow) new ones as they are written.
    Tail {
        #[command(flatten)]
        slice: Slice,
        /// How many entries to show first.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: u64,
        /// Keep printing new entries as they are written, until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
        /// How often to look for new entries when following.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
}

/// One page of the journal.
pub async fn page(
    admin: &Admin,
    urls: &Urls,
    slice: &Slice,
    after_seq: Option<i64>,
    limit: u32,
) -> anyhow::Result<(Vec<Value>, Option<i64>)> {
    let query = slice.query(after_seq, limit);
    let url =
        reqwest::Url::parse_with_params(&format!("{}/admin/v1/events", urls.gateway), &query)?;
    let page = admin.send(Method::GET, url.as_str(), None).await?;
    let items = page["items"]
        .as_array()
        .cloned()
        .ok_or_else(|| anyhow!("the gateway's event page has no items"))?;
    Ok((items, page["next_after_seq"].as_i64()))
}

pub async fn run(admin: &Admin, urls: &Urls, command: EventsCommand) -> anyhow::Result<Value> {
    match command {
        EventsCommand::List {
            slice,
            limit,
            format,
        } => {
            let mut printer = Printer::new(format);
            let mut left = limit.unwrap_or(u64::MAX);
            let mut after = None;
            while left > 0 {
                let (items, next) = page(admin, urls, &slice, after, left.min(1000) as u32).await?;
                left = left.saturating_sub(items.len() as u64);
                for item in &items {
                    printer.print(&shown(item.clone()))?;
                }
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            printer.finish()?;
            Ok(Value::Null)
        }
        EventsCommand::Show { event_id } => show(admin, urls, &event_id).await,
        EventsCommand::Tail {
            slice,
            lines,
            follow,
            interval_ms,
            format,
        } => tail(admin, urls, &slice, lines, follow, interval_ms, format).await,
    }
}

async fn show(admin: &Admin, urls: &Urls, event_id: &str) -> anyhow::Result<Value> {
    let mut entry = admin
        .send(
            Method::GET,
            &format!("{}/admin/v1/events/{event_id}", urls.gateway),
            None,
        )
        .await?;
    let mut delivery = serde_json::Map::new();
    for service in Service::ALL {
        let answer = admin
            .send(
                Method::POST,
                &format!(
                    "{}/admin/v1/services/{}/replay",
                    urls.of(service),
                    service.name()
                ),
                Some(json!({"events": [entry["event"]], "dry_run": true})),
            )
            .await;
        let status = match answer {
            Ok(answer) => {
                let outcome = &answer["outcomes"][0];
                match outcome["outcome"].as_str() {
                    Some("already_applied") => {
                        json!({"status": "applied", "applied_at": outcome["detail"]})
                    }
                    Some("would_apply") => json!({"status": "not applied"}),
                    Some("not_consumed") => json!({"status": "not consumed by this service"}),
                    _ => json!({"status": "unknown", "answer": answer}),
                }
            }
            Err(e) => json!({"status": "unknown", "error": format!("{e:#}")}),
        };
        delivery.insert(service.name().into(), status);
    }
    entry["delivery"] = Value::Object(delivery);
    Ok(shown(entry))
}

/// An item with an `event` as printed: its profile, when sealed or erased,
/// as one word (see [`profile_word`]).
pub fn shown(mut item: Value) -> Value {
    let profile = item
        .get_mut("event")
        .and_then(|e| e.get_mut("payload"))
        .and_then(|p| p.get_mut("profile"));
    if let Some(profile) = profile
        && let Some(word) = profile_word(profile)
    {
        *profile = Value::String(word.to_owned());
    }
    item
}

/// `sealed` for `{"sealed": "…"}`, `erased` for `{"erased": true}`; None
/// for anything else (no profile, a plain one).
pub fn profile_word(profile: &Value) -> Option<&'static str> {
    if profile.get("sealed").is_some_and(Value::is_string) {
        Some("sealed")
    } else if profile.get("erased") == Some(&Value::Bool(true)) {
        Some("erased")
    } else {
        None
    }
}

async fn tail(
    admin: &Admin,
    urls: &Urls,
    slice: &Slice,
    lines: u64,
    follow: bool,
    interval_ms: u64,
    format: Option<Format>,
) -> anyhow::Result<Value> {
    // The last `lines` entries: walk to the end keeping a window (the
    // journal has no descending read; this is an operator's tool).
    let mut window: std::collections::VecDeque<Value> = std::collections::VecDeque::new();
    let mut after = None;
    loop {
        let (items, next) = page(admin, urls, slice, after, 1000).await?;
        if let Some(last) = items.last() {
            after = last["seq"].as_i64().or(after);
        }
        for item in items {
            window.push_back(item);
            if window.len() as u64 > lines {
                window.pop_front();
            }
        }
        if next.is_none() {
            break;
        }
    }
    let mut printer = Printer::new(format);
    for item in window {
        printer.print(&shown(item))?;
    }
    printer.flush()?;
    if !follow {
        printer.finish()?;
        return Ok(Value::Null);
    }
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => break,
            () = tokio::time::sleep(Duration::from_millis(interval_ms)) => {}
        }
        loop {
            let (items, next) = page(admin, urls, slice, after, 1000).await?;
            for item in items {
                after = item["seq"].as_i64().or(after);
                printer.print(&shown(item))?;
            }
            printer.flush()?;
            if next.is_none() {
                break;
            }
        }
    }
    printer.finish()?;
    Ok(Value::Null)
}

/// An instant for the table: RFC 3339 in UTC to the millisecond
/// (`2026-11-28T12:00:00.123Z`), whatever precision the journal keeps; `-`
/// when absent, and as given when it is not RFC 3339.
fn occurred_at(value: &Value) -> String {
    let Some(text) = value.as_str() else {
        return "-".to_owned();
    };
    chrono::DateTime::parse_from_rfc3339(text).map_or_else(
        |_| text.to_owned(),
        |instant| {
            instant
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        },
    )
}

/// Writes entries as a table or JSON lines.
struct Printer {
    format: Format,
    header_done: bool,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Printer {
    fn new(format: Option<Format>) -> Self {
        let format = format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        });
        Self {
            format,
            header_done: false,
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    fn print(&mut self, entry: &Value) -> std::io::Result<()> {
        match self.format {
            Format::Jsonl => writeln!(self.out, "{entry}"),
            Format::Table => {
                if !self.header_done {
                    self.header_done = true;
                    writeln!(
                        self.out,
                        "{:>8}  {:<24}  {:<26}  {:<36}  {:>4}  {:<36}  {:<9}  PROFILE",
                        "SEQ", "OCCURRED", "TYPE", "AGGREGATE", "VER", "EVENT ID", "PUBLISHED"
                    )?;
                }
                let event = &entry["event"];
                let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
                let profile = match &event["payload"]["profile"] {
                    Value::Null => "-",
                    Value::String(word) => word.as_str(),
                    _ => "open",
                };
                writeln!(
                    self.out,
                    "{:>8}  {:<24}  {:<26}  {:<36}  {:>4}  {:<36}  {:<9}  {}",
                    // Numbers as numbers: `Value`'s Display ignores widths.
                    entry["seq"].as_i64().unwrap_or_default(),
                    occurred_at(&event["occurred_at"]),
                    text(&event["type"]),
                    text(&event["aggregate"]["id"]),
                    event["aggregate"]["version"].as_i64().unwrap_or_default(),
                    text(&event["id"]),
                    if entry["published_at"].is_null() {
                        "no"
                    } else {
                        "yes"
                    },
                    profile
                )
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{occurred_at, shown};

    #[test]
    fn profiles_are_printed_sealed_or_erased_never_as_ciphertext() {
        let item = |profile: Value| json!({"seq": 1, "event": {"type": "user.updated", "payload": {"profile": profile}}});
        assert_eq!(
            shown(item(json!({"sealed": "c2VhbGVk"})))["event"]["payload"]["profile"],
            "sealed"
        );
        assert_eq!(
            shown(item(json!({"erased": true})))["event"]["payload"]["profile"],
            "erased"
        );
        let plain = json!({"user_name": "a@example.com"});
        assert_eq!(
            shown(item(plain.clone()))["event"]["payload"]["profile"],
            plain
        );
        let group =
            json!({"seq": 2, "event": {"type": "group.renamed", "payload": {"display_name": "x"}}});
        assert_eq!(shown(group.clone()), group);
    }

    #[test]
    fn the_table_shows_instants_to_the_millisecond_in_utc() {
        assert_eq!(
            occurred_at(&json!("2026-12-03T07:41:35.123456789Z")),
            "2026-12-03T07:41:35.123Z"
        );
        assert_eq!(
            occurred_at(&json!("2026-12-03T07:41:35Z")),
            "2026-12-03T07:41:35.000Z"
        );
        assert_eq!(
            occurred_at(&json!("2026-12-03T09:41:35.5+02:00")),
            "2026-12-03T07:41:35.500Z"
        );
        assert_eq!(occurred_at(&Value::Null), "-");
        assert_eq!(occurred_at(&json!("yesterday")), "yesterday");
    }
}
