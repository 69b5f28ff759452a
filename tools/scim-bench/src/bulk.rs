//! Issue 23's initial sync through Bulk: `users` new users created with
//! single `POST /Users` (on `concurrency` connections) and through
//! `POST /Bulk` (`per_request` creates a request, `bulk_concurrency` bulks
//! in flight), each in a new organization of its own, alternating, `rounds`
//! times on the same server. Every answer is checked: a bulk counts as
//! failed unless every one of its operations answered 201.

use serde_json::{Value, json};

use crate::client::{Scim, user_document};
use crate::load::{self, Load};
use crate::report::Report;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

#[derive(Debug, Clone, Copy)]
pub struct BulkRun {
    pub users: usize,
    pub per_request: usize,
    pub concurrency: usize,
    pub bulk_concurrency: usize,
}

/// Single creates of `run.users` users in `scim`'s organization.
pub async fn singles(scim: Scim, tag: String, run: BulkRun) -> Report {
    let name = format!(
        "initial sync, single POST /Users ({} users, {} connections)",
        run.users, run.concurrency
    );
    let load = Load {
        concurrency: run.concurrency,
        duration: None,
        requests: Some(run.users),
    };
    load::closed_loop(&name, load, move |i| {
        let scim = scim.clone();
        let user_name = format!("bench-single-{tag}-{i}@example.com");
        let external_id = format!("single-{tag}-{i}");
        async move {
            let body = user_document(&user_name, &external_id, "Single");
            scim.post("/Users", &body).await?.expect(201).map(drop)
        }
    })
    .await
}

/// The same users through Bulk: request `i` creates users
/// `i * per_request ..`. Its report counts requests; [`users_per_second`]
/// turns its rate into users.
pub async fn bulks(scim: Scim, tag: String, run: BulkRun) -> Report {
    let requests = run.users.div_ceil(run.per_request.max(1));
    let name = format!(
        "initial sync, POST /Bulk ({} users, {} per request, {} in flight)",
        run.users, run.per_request, run.bulk_concurrency
    );
    let load = Load {
        concurrency: run.bulk_concurrency,
        duration: None,
        requests: Some(requests),
    };
    load::closed_loop(&name, load, move |i| {
        let scim = scim.clone();
        let first = i * run.per_request;
        let last = (first + run.per_request).min(run.users);
        let operations: Vec<Value> = (first..last)
            .map(|n| {
                let user_name = format!("bench-bulk-{tag}-{n}@example.com");
                json!({
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": format!("u{n}"),
                    "data": user_document(&user_name, &format!("bulk-{tag}-{n}"), "Bulk"),
                })
            })
            .collect();
        let expected = operations.len();
        let body = json!({"schemas": [BULK_REQUEST], "Operations": operations});
        async move {
            let answer = scim.post("/Bulk", &body).await?.expect(200)?;
            let results = answer["Operations"]
                .as_array()
                .ok_or("a bulk response without Operations")?;
            let created = results.iter().filter(|o| o["status"] == "201").count();
            if created != expected {
                let other = results
                    .iter()
                    .find(|o| o["status"] != "201")
                    .map_or_else(|| "missing".to_owned(), |o| o["status"].to_string());
                return Err(format!(
                    "{created} of {expected} operations created (another status: {other})"
                ));
            }
            Ok(())
        }
    })
    .await
}

/// Users a second of a bulk report: its requests' rate times their size.
pub fn users_per_second(report: &Report, run: BulkRun) -> f64 {
    report.rate() * run.per_request as f64
}

/// Waits until licensing has confirmed `users` seats in `org` (every
/// user's event went through the pipeline), at most two minutes.
pub async fn settled(admin: &crate::client::Admin, org: &str, users: usize) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, confirmed) = admin.seats(org).await?;
        if confirmed >= users as u64 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("licensing confirmed {confirmed} of {users} seats after two minutes");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
