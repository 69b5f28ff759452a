//! The scenarios. Each checks every answer: a lookup must find exactly the
//! user asked for, a create must answer 201, and so on; anything else is an
//! error, counted apart from the successful requests' latencies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rand::RngExt;
use serde_json::{Value, json};

use crate::client::{Admin, GROUP_SCHEMA, PATCH_SCHEMA, Scim, encode, user_document};
use crate::load::{self, Load};
use crate::report::{Report, percentile};

/// Name of the `i`th seeded user (`seed`); lookups pick among these.
pub fn seeded_user_name(i: usize) -> String {
    format!("bench-user-{i}@example.com")
}

pub async fn seed(scim: Scim, users: usize, load: Load) -> Report {
    let load = Load {
        requests: Some(users),
        duration: None,
        ..load
    };
    load::closed_loop(
        "seed (POST /Users, existing ones skipped)",
        load,
        move |i| {
            let scim = scim.clone();
            async move {
                let name = seeded_user_name(i);
                let body = user_document(&name, &format!("bench-ext-{i}"), &format!("User {i}"));
                match scim.post("/Users", &body).await? {
                    answer if answer.status == 409 => Ok(()),
                    answer => answer.expect(201).map(drop),
                }
            }
        },
    )
    .await
}

/// New users, request `i` in organization `i mod n`.
pub async fn create(orgs: Vec<Scim>, run: &str, load: Load) -> Report {
    let name = format!("create (POST /Users, {} organizations)", orgs.len());
    let run = run.to_owned();
    load::closed_loop(&name, load, move |i| {
        let scim = orgs[i % orgs.len()].clone();
        let user_name = format!("bench-{run}-{i}@example.com");
        let external_id = format!("{run}-{i}");
        async move {
            let body = user_document(&user_name, &external_id, "Created");
            scim.post("/Users", &body).await?.expect(201).map(drop)
        }
    })
    .await
}

/// An IdP's initial sync: for each user, look it up by userName (not there),
/// then create it. One request of the report is the pair.
pub async fn initial_sync(orgs: Vec<Scim>, run: &str, load: Load) -> Report {
    let name = format!(
        "initial sync (filter userName eq, then POST; {} organizations)",
        orgs.len()
    );
    let run = run.to_owned();
    load::closed_loop(&name, load, move |i| {
        let scim = orgs[i % orgs.len()].clone();
        let user_name = format!("bench-sync-{run}-{i}@example.com");
        let external_id = format!("sync-{run}-{i}");
        async move {
            if scim.find_user(&user_name).await?.is_some() {
                return Err("the new user already exists".to_owned());
            }
            let body = user_document(&user_name, &external_id, "Synced");
            scim.post("/Users", &body).await?.expect(201).map(drop)
        }
    })
    .await
}

pub async fn filter(scim: Scim, users: usize, load: Load) -> Report {
    load::closed_loop("filter userName eq", load, move |_| {
        let scim = scim.clone();
        let name = seeded_user_name(rand::rng().random_range(0..users));
        async move {
            let filter = format!("userName eq \"{name}\"");
            let body = scim
                .get(&format!("/Users?filter={}", encode(&filter)))
                .await?
                .expect(200)?;
            if body["totalResults"] == 1 && body["Resources"][0]["userName"] == name.as_str() {
                Ok(())
            } else {
                Err(format!("expected exactly {name}"))
            }
        }
    })
    .await
}

/// GET /Users?filter=<enterprise>:employeeNumber eq "…" of random users
/// written by `seed-rows` (with `by_user_name`: `userName eq "…"`, the
/// same lookup on a dedicated column, as a yardstick).
pub async fn filter_employee_number(
    scim: Scim,
    from: u64,
    users: u64,
    by_user_name: bool,
    load: Load,
) -> Report {
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let name = if by_user_name {
        "filter userName eq (seed-rows)"
    } else {
        "filter employeeNumber eq"
    };
    load::closed_loop(name, load, move |_| {
        let scim = scim.clone();
        let n = rand::rng().random_range(from..from + users);
        let number = crate::seed_rows::employee_number(n);
        let filter = if by_user_name {
            format!("userName eq \"{}\"", crate::seed_rows::user_name(n))
        } else {
            format!("{ENTERPRISE}:employeeNumber eq \"{number}\"")
        };
        async move {
            let body = scim
                .get(&format!("/Users?filter={}", encode(&filter)))
                .await?
                .expect(200)?;
            let found = &body["Resources"][0][ENTERPRISE]["employeeNumber"];
            if body["totalResults"] == 1 && found == number.as_str() {
                Ok(())
            } else {
                Err(format!("expected exactly employee {number}"))
            }
        }
    })
    .await
}

pub async fn get(scim: Scim, ids: Arc<Vec<String>>, load: Load) -> Report {
    load::closed_loop("GET /Users/{id}", load, move |_| {
        let scim = scim.clone();
        let id = ids[rand::rng().random_range(0..ids.len())].clone();
        async move {
            let body = scim.get(&format!("/Users/{id}")).await?.expect(200)?;
            if body["id"] == id.as_str() {
                Ok(())
            } else {
                Err("another user came back".to_owned())
            }
        }
    })
    .await
}

pub async fn patch(scim: Scim, ids: Arc<Vec<String>>, load: Load) -> Report {
    load::closed_loop(
        "PATCH /Users/{id} (replace name.familyName)",
        load,
        move |i| {
            let scim = scim.clone();
            let id = ids[rand::rng().random_range(0..ids.len())].clone();
            async move {
                let family_name = format!("Patched {i}");
                let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "replace", "path": "name.familyName", "value": family_name}]});
                let user = scim
                    .patch(&format!("/Users/{id}"), &body)
                    .await?
                    .expect(200)?;
                if user["name"]["familyName"] == family_name.as_str() {
                    Ok(())
                } else {
                    Err("the change is not in the answer".to_owned())
                }
            }
        },
    )
    .await
}

/// Ids of `count` random seeded users (among the first `users`).
pub async fn sample_ids(scim: &Scim, users: usize, count: usize) -> anyhow::Result<Vec<String>> {
    let picks: Vec<usize> = (0..count.min(users))
        .map(|_| rand::rng().random_range(0..users))
        .collect();
    ids_of(scim, picks).await
}

async fn ids_of(scim: &Scim, indexes: Vec<usize>) -> anyhow::Result<Vec<String>> {
    let found: Vec<anyhow::Result<String>> = futures_util::stream::iter(indexes)
        .map(|i| async move {
            match scim.find_user(&seeded_user_name(i)).await {
                Ok(Some(id)) => Ok(id),
                Ok(None) => bail!("user {i} is not seeded (run `seed` with enough users)"),
                Err(e) => bail!("looking up seeded user {i}: {e}"),
            }
        })
        .buffered(16)
        .collect()
        .await;
    found.into_iter().collect()
}

/// Fills a group with `members` seeded users, then adds one more member per
/// request (seeded users after the first `members`).
pub async fn group_add(scim: Scim, members: usize, load: Load) -> anyhow::Result<Report> {
    let samples = load.requests.context("group-add needs --requests")?;
    let ids = ids_of(&scim, (0..members + samples).collect()).await?;
    let group = json!({"schemas": [GROUP_SCHEMA],
        "displayName": format!("bench-group-{:016x}", rand::rng().random::<u64>())});
    let created = scim
        .post("/Groups", &group)
        .await
        .and_then(|a| a.expect(201))
        .map_err(|e| anyhow::anyhow!("creating the group: {e}"))?;
    let group_path = format!("/Groups/{}", created["id"].as_str().context("group id")?);
    let fill = Instant::now();
    for chunk in ids[..members].chunks(1000) {
        let value: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let patch = json!({"schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "add", "path": "members", "value": value}]});
        scim.patch(&group_path, &patch)
            .await
            .and_then(|a| a.expect(204))
            .map_err(|e| anyhow::anyhow!("filling the group: {e}"))?;
    }
    eprintln!(
        "filled a group with {members} members in {:.1}s",
        fill.elapsed().as_secs_f64()
    );
    let extra = Arc::new(ids[members..].to_vec());
    let name = format!("add 1 member to a {members}-member group");
    Ok(load::closed_loop(&name, load, move |k| {
        let scim = scim.clone();
        let (id, path) = (extra[k].clone(), group_path.clone());
        async move {
            let patch = json!({"schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
            scim.patch(&path, &patch).await?.expect(204).map(drop)
        }
    })
    .await)
}

/// Creates `seats + extra` users in an organization of `seats` seats: exactly
/// `seats` must be created and every other refused with 403, and licensing
/// must count exactly `seats` — at once (reservations) and once every
/// event is through (confirmed).
pub async fn quota(
    admin: &Admin,
    scim: Scim,
    org: &str,
    seats: usize,
    extra: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let load = Load {
        concurrency,
        duration: None,
        requests: Some(seats + extra),
    };
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = created.clone();
    let name = format!("create past the quota ({seats} seats, {extra} more users)");
    let report = load::closed_loop(&name, load, move |i| {
        let (scim, created) = (scim.clone(), counter.clone());
        async move {
            let body = user_document(
                &format!("bench-quota-{i}@example.com"),
                &format!("quota-{i}"),
                "Quota",
            );
            let answer = scim.post("/Users", &body).await?;
            match answer.status {
                201 => {
                    created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(())
                }
                403 => Ok(()),
                _ => answer.expect(201).map(drop),
            }
        }
    })
    .await;
    let created = created.load(std::sync::atomic::Ordering::Relaxed);
    let (used, _) = admin.seats(org).await?;
    let confirmed = eventually_confirmed(admin, org, seats as u64).await?;
    println!(
        "quota: {created} created, {} refused, licensing used {used}, confirmed {confirmed} of {seats}",
        report.ok() - created,
    );
    if created != seats || used != seats as u64 || confirmed != seats as u64 {
        bail!(
            "the quota is not exact: {created} created, {used} used, {confirmed} confirmed, quota {seats}"
        );
    }
    Ok(report)
}

async fn eventually_confirmed(admin: &Admin, org: &str, expected: u64) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, confirmed) = admin.seats(org).await?;
        if confirmed >= expected || Instant::now() >= deadline {
            return Ok(confirmed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates users at a steady `rate` for `duration`, then reads from
/// identity's inbox when each one's account was made, and reports the time
/// from the gateway's 201 to then.
pub async fn propagation(
    admin: &Admin,
    scim: Scim,
    org: &str,
    run: &str,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<(Report, Report)> {
    let answered: Arc<Mutex<HashMap<String, SystemTime>>> = Arc::default();
    let record = answered.clone();
    let run = run.to_owned();
    let creates = load::paced(
        &format!("paced creates at {rate:.0}/s"),
        rate,
        duration,
        512,
        move |i| {
            let (scim, record) = (scim.clone(), record.clone());
            let user_name = format!("bench-prop-{run}-{i}@example.com");
            async move {
                let body = user_document(&user_name, &user_name, "Propagated");
                let user = scim.post("/Users", &body).await?.expect(201)?;
                let at = SystemTime::now();
                let id = user["id"].as_str().ok_or("no id in the answer")?.to_owned();
                record
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, at);
                Ok(())
            }
        },
    )
    .await;
    let answered = std::mem::take(&mut *answered.lock().unwrap_or_else(PoisonError::into_inner));
    let started = Instant::now();
    let (delays, missing) = loop {
        let (delays, missing) = applied_delays(admin, org, &answered).await?;
        if missing == 0 || started.elapsed() > Duration::from_secs(120) {
            break (delays, missing);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut errors = std::collections::BTreeMap::new();
    if missing > 0 {
        errors.insert("not applied by identity within 2 min".to_owned(), missing);
    }
    let mut sorted = delays.clone();
    sorted.sort_unstable();
    let spread = percentile(&sorted, 1.0);
    let name = "propagation (201 → identity's account)";
    Ok((
        creates,
        Report::new(name, delays, errors, duration.max(spread)),
    ))
}

/// For each created user (scim id → when the 201 arrived), how long after
/// the 201 identity applied its `user.provisioned`; and how many it has not
/// applied yet. An event applied before the 201 reached the load tool counts
/// as zero.
async fn applied_delays(
    admin: &Admin,
    org: &str,
    answered: &HashMap<String, SystemTime>,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut delays = Vec::with_capacity(answered.len());
    let mut after = None;
    loop {
        let (events, next) = admin.journal_page(org, "user.provisioned", after).await?;
        if events.is_empty() {
            break;
        }
        let applied = admin.identity_applied_at(&events).await?;
        for (event, applied_at) in events.iter().zip(applied) {
            let Some(answered_at) = event["aggregate"]["id"]
                .as_str()
                .and_then(|id| answered.get(id))
            else {
                continue;
            };
            if let Some(at) = applied_at {
                let at: DateTime<Utc> = at.parse().context("identity's applied_at")?;
                let at = SystemTime::from(at);
                delays.push(at.duration_since(*answered_at).unwrap_or(Duration::ZERO));
            }
        }
        match next {
            Some(seq) => after = Some(seq),
            None => break,
        }
    }
    let missing = answered.len() - delays.len();
    Ok((delays, missing))
}
