//! `scimctl dead list|show|requeue SERVICE`: a service's dead letters
//! (events it could not apply after its retries) through its admin API.
//! Requeue applies them through the service's consumer once their cause is
//! fixed; those applied leave the dead letters, the others stay and are
//! reported with their new error. A letter of a person deleted since (their
//! data key gone) leaves too, reported under `erased`. A letter's profile is
//! printed as `"profile": "sealed"` or `"erased"`, never its ciphertext.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::Admin;
use crate::events::{Service, Urls, shown};

#[derive(Subcommand)]
pub enum DeadCommand {
    /// The dead letters, oldest first, with their error and attempts.
    List {
        #[arg(value_enum)]
        service: Service,
        /// At most this many dead letters (the service gives 1000 at most).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One dead letter, whole.
    Show {
        #[arg(value_enum)]
        service: Service,
        event_id: String,
    },
    /// Applies dead letters again (all, or the events named).
    Requeue {
        #[arg(value_enum)]
        service: Service,
        event_ids: Vec<String>,
    },
}

pub async fn run(admin: &Admin, urls: &Urls, command: DeadCommand) -> anyhow::Result<Value> {
    let base = |service: Service| {
        format!(
            "{}/admin/v1/services/{}/dead-letters",
            urls.of(service),
            service.name()
        )
    };
    match command {
        DeadCommand::List { service, limit } => {
            let mut listed = admin
                .send(
                    Method::GET,
                    &format!("{}?limit={limit}", base(service)),
                    None,
                )
                .await?;
            if let Some(items) = listed.get_mut("items").and_then(Value::as_array_mut) {
                for item in items.iter_mut() {
                    *item = shown(item.take());
                }
            }
            Ok(listed)
        }
        DeadCommand::Show { service, event_id } => admin
            .send(Method::GET, &format!("{}/{event_id}", base(service)), None)
            .await
            .map(shown),
        DeadCommand::Requeue { service, event_ids } => {
            let body = if event_ids.is_empty() {
                json!({})
            } else {
                json!({ "event_ids": event_ids })
            };
            admin
                .send(
                    Method::POST,
                    &format!("{}/requeue", base(service)),
                    Some(body),
                )
                .await
        }
    }
}
