//! Replay to one service, through its admin API: journal events an operator
//! sends (`scimctl replay`) are handled by the service's own consumer — the
//! same use cases and the same inbox as events from the bus — so an event the
//! service applied before is skipped and counted, never applied twice, and no
//! other service sees anything.
//!
//! - `POST /admin/v1/services/{service}/replay` `{"events": [...], "dry_run"?}`
//!   (at most 1,000 events, applied in the order given) →
//!   `{"service", "dry_run", "counts": {…}, "outcomes": [{"event_id", "seq", "outcome", "detail"?}]}`
//!   with outcomes `applied`, `already_applied`, `stale` (its version or a
//!   later one of its aggregate was applied: also the answer for an applied
//!   event whose inbox row was pruned), `out_of_order` (an earlier version is
//!   missing), `failed`, `not_consumed` (an event type the service does not
//!   consume), and for a dry run `would_apply` (`already_applied` then gives
//!   when, in `detail`, unless the inbox row was pruned: applied or
//!   superseded, no time kept).
//! - `GET /admin/v1/services/{service}/dead-letters?limit=` and
//!   `…/dead-letters/{event_id}`: the letters with their error and attempts;
//!   a letter's personal values are shown as kept (sealed) while its
//!   person's data key exists and as `{"erased": true}` once it is gone —
//!   never opened. `POST …/dead-letters/requeue` `{"event_ids"?}` (all when
//!   absent) applies them through the consumer — once their cause is fixed —
//!   and removes those applied (or applied already); the rest stay, reported
//!   with their error. A letter whose person's key is gone (the person was
//!   deleted) is handed to the consumer erased and leaves the dead letters
//!   whatever the consumer answers: it is reported under `erased`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use messaging::{DeadLetter, DeadLetterBox, EventHandler, HandleError, Handled, topic_matches};
use provisioning_events::personal::PersonalProfile;
use provisioning_events::{Event, PersonRef};
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::admin_http::{authorized, error_response};
use crate::admin_key::AdminKey;
use crate::data_keys::{DataKeyError, DataKeySource};
use crate::inbox;

/// Largest batch of events or ids in one request.
pub const MAX_BATCH: usize = 1000;
/// Largest request body (room for a full batch of large events).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub struct ReplayState<H> {
    pub service: &'static str,
    /// Where the service's dead letters are kept (RabbitMQ's dead queue, or
    /// the embedded process's table).
    pub dead_letters: Arc<dyn DeadLetterBox>,
    /// Whose data keys still exist: a letter of a person whose key is gone
    /// is shown and requeued erased.
    pub data_keys: Arc<dyn DataKeySource>,
    /// The event types (AMQP binding patterns) the service consumes.
    pub bindings: &'static [&'static str],
    pub handler: H,
    /// The service's database (its inbox).
    pub db: DatabaseConnection,
    pub admin_key: AdminKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    events: Vec<Event>,
    #[serde(default)]
    dry_run: bool,
}

/// Mounts the replay routes of `state.service` (the state must be in the
/// app data as `web::Data<ReplayState<H>>`).
pub fn configure<H: EventHandler>(cfg: &mut web::ServiceConfig, service: &str) {
    let base = format!("/admin/v1/services/{service}");
    // A full batch of events is about a megabyte; the default limit is 256 KiB.
    let body_limit = || web::PayloadConfig::new(MAX_BODY_BYTES);
    cfg.route(
        &format!("{base}/dead-letters"),
        web::get().to(list_dead::<H>),
    )
    .route(
        &format!("{base}/dead-letters/{{event_id}}"),
        web::get().to(show_dead::<H>),
    )
    .service(
        web::resource(format!("{base}/dead-letters/requeue"))
            .app_data(body_limit())
            .route(web::post().to(requeue_dead::<H>)),
    )
    .service(
        web::resource(format!("{base}/replay"))
            .app_data(body_limit())
            .route(web::post().to(replay::<H>)),
    );
}

fn bad_request(detail: &str) -> HttpResponse {
    error_response(StatusCode::BAD_REQUEST, detail)
}

/// The request's body once the admin key checks out and it parses with at
/// most [`MAX_BATCH`] items (`len` counts them), or the answer to give.
fn admitted<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    key: &AdminKey,
    body: &[u8],
    len: impl Fn(&T) -> usize,
) -> Result<T, Box<HttpResponse>> {
    if !authorized(req, key) {
        let detail = "missing or wrong admin key";
        return Err(Box::new(error_response(StatusCode::UNAUTHORIZED, detail)));
    }
    let request: T = serde_json::from_slice(body)
        .map_err(|e| Box::new(bad_request(&format!("unreadable body: {e}"))))?;
    if len(&request) > MAX_BATCH {
        let detail = format!("at most {MAX_BATCH} items per request");
        return Err(Box::new(bad_request(&detail)));
    }
    Ok(request)
}

async fn replay<H: EventHandler>(
    req: HttpRequest,
    state: web::Data<ReplayState<H>>,
    body: web::Bytes,
) -> HttpResponse {
    let request = match admitted(&req, &state.admin_key, &body, |r: &ReplayRequest| {
        r.events.len()
    }) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let already: HashMap<Uuid, inbox::Applied> = if request.dry_run {
        match inbox::applied(&state.db, &request.events).await {
            Ok(found) => found.into_iter().collect(),
            Err(e) => return unavailable(state.service, &e.to_string()),
        }
    } else {
        HashMap::new()
    };
    let mut counts: HashMap<&'static str, u64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(request.events.len());
    for event in &request.events {
        let consumed = state
            .bindings
            .iter()
            .any(|pattern| topic_matches(pattern, event.routing_key()));
        let (outcome, detail) = if !consumed {
            ("not_consumed", None)
        } else if request.dry_run {
            match already.get(&event.id) {
                Some(inbox::Applied::Recorded { at_micros }) => {
                    ("already_applied", micros(*at_micros))
                }
                Some(inbox::Applied::AppliedOrSuperseded) => ("already_applied", None),
                None => ("would_apply", None),
            }
        } else {
            let span = tracing::info_span!(
                "replay",
                service = state.service,
                event_id = %event.id,
                event_type = event.routing_key(),
                aggregate_id = %event.aggregate.id,
                version = event.aggregate.version,
            );
            match tracing::Instrument::instrument(state.handler.handle(event), span).await {
                Ok(Handled::Applied) => ("applied", None),
                Ok(Handled::Duplicate) => ("already_applied", None),
                Ok(Handled::Stale) => ("stale", None),
                Err(e @ HandleError::OutOfOrder { .. }) => ("out_of_order", Some(e.to_string())),
                Err(e) => ("failed", Some(e.to_string())),
            }
        };
        *counts.entry(outcome).or_default() += 1;
        let mut line = json!({"event_id": event.id, "seq": event.seq, "outcome": outcome});
        if let Some(detail) = detail {
            line["detail"] = Value::String(detail);
        }
        outcomes.push(line);
    }
    if !request.dry_run {
        tracing::info!(
            service = state.service,
            events = request.events.len(),
            applied = counts.get("applied").copied().unwrap_or(0),
            "replay batch handled"
        );
    }
    HttpResponse::Ok().json(json!({
        "service": state.service,
        "dry_run": request.dry_run,
        "counts": counts,
        "outcomes": outcomes,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RequeueRequest {
    /// The letters to requeue; all when absent.
    event_ids: Option<Vec<Uuid>>,
}

#[derive(Deserialize)]
struct DeadQuery {
    limit: Option<usize>,
}

/// Which persons' data keys are gone, among the persons of `events` whose
/// personal values are still there (sealed, or plain in a schema_version 1
/// event): asked in one call.
async fn erased_persons<'a>(
    keys: &dyn DataKeySource,
    events: impl Iterator<Item = &'a Event>,
) -> Result<HashSet<PersonRef>, DataKeyError> {
    let mut persons: Vec<PersonRef> = events
        .filter(|e| !matches!(e.profile(), Some(PersonalProfile::Erased)))
        .filter_map(Event::person)
        .collect();
    persons.sort();
    persons.dedup();
    if persons.is_empty() {
        return Ok(HashSet::new());
    }
    let found = keys.data_keys(&persons).await?;
    Ok(persons
        .into_iter()
        .zip(found)
        .filter_map(|(person, key)| key.is_none().then_some(person))
        .collect())
}

/// Whether `event`'s personal values are gone: its profile is erased
/// already, or its person's key is in `erased`.
fn is_erased(event: &Event, erased: &HashSet<PersonRef>) -> bool {
    matches!(event.profile(), Some(PersonalProfile::Erased))
        || event.person().is_some_and(|p| erased.contains(&p))
}

/// A letter's event as the admin API shows it: a sealed profile as sealed,
/// an erased person's as `{"erased": true}`. When it is not known whose
/// keys are gone (`erased` is `None`: the key source did not answer), a
/// plain profile is not shown at all.
fn shown(event: &Event, erased: Option<&HashSet<PersonRef>>) -> Event {
    let mut shown = event.clone();
    let hide = match erased {
        Some(erased) => is_erased(event, erased),
        None => matches!(event.profile(), Some(PersonalProfile::Open(_))),
    };
    if hide {
        shown.erase_personal();
    }
    shown
}

fn letter_json(letter: &DeadLetter, erased: Option<&HashSet<PersonRef>>) -> Value {
    json!({
        "event_id": letter.event.id,
        "seq": letter.event.seq,
        "type": letter.event.routing_key(),
        "aggregate_id": letter.event.aggregate.id,
        "version": letter.event.aggregate.version,
        "error": letter.error,
        "attempts": letter.attempts,
        "event": shown(&letter.event, erased),
    })
}

/// The letters as shown: whose keys are gone is asked once for all.
async fn letters_json<H>(state: &ReplayState<H>, letters: &[&DeadLetter]) -> Vec<Value> {
    let erased = match erased_persons(&*state.data_keys, letters.iter().map(|l| &l.event)).await {
        Ok(erased) => Some(erased),
        Err(e) => {
            tracing::warn!(service = state.service, error = %e, "dead letters shown without knowing whose data keys are gone");
            None
        }
    };
    letters
        .iter()
        .map(|letter| letter_json(letter, erased.as_ref()))
        .collect()
}

async fn list_dead<H: EventHandler>(
    req: HttpRequest,
    state: web::Data<ReplayState<H>>,
) -> HttpResponse {
    if !authorized(&req, &state.admin_key) {
        return error_response(StatusCode::UNAUTHORIZED, "missing or wrong admin key");
    }
    let limit = crate::admin_http::query::<DeadQuery>(&req)
        .ok()
        .and_then(|q| q.limit)
        .unwrap_or(100)
        .clamp(1, MAX_BATCH);
    match state.dead_letters.list(limit).await {
        Ok(letters) => {
            let letters: Vec<&DeadLetter> = letters.iter().collect();
            HttpResponse::Ok().json(json!({
                "service": state.service,
                "items": letters_json(&state, &letters).await,
            }))
        }
        Err(e) => unavailable(state.service, &e.to_string()),
    }
}

async fn show_dead<H: EventHandler>(
    req: HttpRequest,
    state: web::Data<ReplayState<H>>,
    path: web::Path<String>,
) -> HttpResponse {
    if !authorized(&req, &state.admin_key) {
        return error_response(StatusCode::UNAUTHORIZED, "missing or wrong admin key");
    }
    let not_found = || error_response(StatusCode::NOT_FOUND, "no dead letter has this event id");
    let Some(id) = crate::admin_http::path_id(&path) else {
        return not_found();
    };
    match state.dead_letters.list(MAX_BATCH).await {
        Ok(letters) => match letters.iter().find(|l| l.event.id == id) {
            Some(letter) => {
                let mut shown = letters_json(&state, &[letter]).await;
                HttpResponse::Ok().json(shown.pop())
            }
            None => not_found(),
        },
        Err(e) => unavailable(state.service, &e.to_string()),
    }
}

/// Applies dead letters through the consumer (their cause fixed) and takes
/// those that applied — or that turn out applied already — out of the dead
/// letters; the others stay, with the new error reported.
async fn requeue_dead<H: EventHandler>(
    req: HttpRequest,
    state: web::Data<ReplayState<H>>,
    body: web::Bytes,
) -> HttpResponse {
    let parsed = if body.is_empty() {
        authorized(&req, &state.admin_key)
            .then(RequeueRequest::default)
            .ok_or_else(|| {
                Box::new(error_response(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong admin key",
                ))
            })
    } else {
        admitted(&req, &state.admin_key, &body, |r: &RequeueRequest| {
            r.event_ids.as_ref().map_or(0, Vec::len)
        })
    };
    let request = match parsed {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let letters = match state.dead_letters.list(MAX_BATCH).await {
        Ok(letters) => letters,
        Err(e) => return unavailable(state.service, &e.to_string()),
    };
    let chosen: Vec<&DeadLetter> = letters
        .iter()
        .filter(|l| {
            request
                .event_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&l.event.id))
        })
        .collect();
    // Whose keys are gone; unknown (the key source did not answer) leaves
    // every letter to the consumer as it is.
    let erased = erased_persons(&*state.data_keys, chosen.iter().map(|l| &l.event))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(service = state.service, error = %e, "dead letters requeued without knowing whose data keys are gone");
            HashSet::new()
        });
    let (mut applied, mut already, mut failing) = (0u64, 0u64, Vec::new());
    let mut gone = Vec::new();
    for letter in chosen {
        if is_erased(&letter.event, &erased) {
            // Its person was deleted: the consumer gets it without its
            // personal values, and it leaves the dead letters even when the
            // consumer fails on it again — its content is unrecoverable, the
            // journal keeps the event (erased) for a replay, and the person's
            // user.deleted supersedes it.
            let mut event = letter.event.clone();
            event.erase_personal();
            if let Err(e) = state.handler.handle(&event).await {
                tracing::warn!(
                    service = state.service,
                    event_id = %event.id,
                    error = %e,
                    "the dead letter of an erased person failed again; removed"
                );
            }
            gone.push(letter.event.id);
        } else {
            match state.handler.handle(&letter.event).await {
                Ok(Handled::Applied) => applied += 1,
                Ok(Handled::Duplicate | Handled::Stale) => already += 1,
                Err(e) => {
                    failing.push(json!({"event_id": letter.event.id, "error": e.to_string()}));
                    continue;
                }
            }
        }
        if let Err(e) = state.dead_letters.remove(letter.event.id).await {
            return unavailable(state.service, &e.to_string());
        }
    }
    tracing::info!(
        service = state.service,
        applied,
        already,
        erased = gone.len(),
        failing = failing.len(),
        "dead letters requeued"
    );
    HttpResponse::Ok().json(json!({
        "service": state.service,
        "applied": applied,
        "already_applied": already,
        "erased": gone,
        "still_failing": failing,
    }))
}

fn unavailable(service: &str, error: &str) -> HttpResponse {
    tracing::error!(service, error, "inbox unavailable");
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("the {service} database is unavailable; retry later"),
    )
}

fn micros(at: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_micros(at)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}
