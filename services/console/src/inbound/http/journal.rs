//! The journal's pages (an organization's events, one event, the replay of
//! one person's events) and the dead letters' (the list and its requeue).
//! Both forms are checked for the session's token before anything is done.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::pages::id;
use super::session::{SignedIn, signed_in};
use super::{ConsoleState, PageError, html};
use crate::domain::journal::{EventId, JournalQuery};
use crate::domain::models::OrgId;
use crate::domain::ports::{PlatformError, Ports};
use crate::domain::service::ConsoleError;
use crate::inbound::views;
use crate::inbound::views::dead_letters::DeadLettersView;
use crate::inbound::views::journal::{EventView, JournalView, ReplayedView};

#[derive(Deserialize)]
pub struct JournalParams {
    #[serde(rename = "type", default)]
    event_type: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    after_seq: Option<String>,
}

async fn journal_page<A: Ports>(
    state: &ConsoleState<A>,
    signed_in: &SignedIn,
    org: OrgId,
    query: &JournalQuery,
    after_seq: Option<i64>,
    error: Option<&str>,
    mut response: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, PageError> {
    let (organization, filter, page) = state.console.journal(org, query, after_seq).await?;
    Ok(html(
        response.take(),
        views::journal::journal(&JournalView {
            csrf: signed_in.csrf(),
            organization: &organization,
            query,
            filter: &filter,
            page: &page,
            later_page: after_seq.is_some(),
            error,
        }),
    ))
}

pub async fn journal<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    params: web::Query<JournalParams>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let org = OrgId(id(&path)?);
    let params = params.into_inner();
    let after_seq = params
        .after_seq
        .as_deref()
        .map(|s| s.parse::<i64>().map_err(|_| PageError::NotFound))
        .transpose()?;
    let query = JournalQuery {
        event_type: params.event_type,
        person: params.person,
        since: params.since,
        until: params.until,
    };
    journal_page(
        &state,
        &signed_in,
        org,
        &query,
        after_seq,
        None,
        HttpResponse::Ok(),
    )
    .await
}

pub async fn event<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let (org, event) = (OrgId(id(&path.0)?), EventId(id(&path.1)?));
    let detail = state.console.event(org, event).await?;
    Ok(html(
        HttpResponse::Ok(),
        views::journal::event(&EventView {
            csrf: signed_in.csrf(),
            detail: &detail,
            jaeger_url: state.jaeger_url.as_deref(),
        }),
    ))
}

#[derive(Deserialize)]
pub struct ReplayForm {
    csrf: Option<String>,
    #[serde(default)]
    person: String,
    #[serde(default)]
    service: String,
}

pub async fn replay<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    form: web::Form<ReplayForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    let org = OrgId(id(&path)?);
    match state
        .console
        .replay_person(org, &form.person, &form.service)
        .await
    {
        Ok((organization, service, report)) => Ok(html(
            HttpResponse::Ok(),
            views::journal::replayed(&ReplayedView {
                csrf: signed_in.csrf(),
                organization: &organization,
                person: form.person.trim(),
                service,
                report: &report,
            }),
        )),
        Err(e @ (ConsoleError::Invalid(_) | ConsoleError::Platform(PlatformError::Refused(_)))) => {
            let message = e.to_string();
            let query = JournalQuery {
                person: form.person.clone(),
                ..JournalQuery::default()
            };
            journal_page(
                &state,
                &signed_in,
                org,
                &query,
                None,
                Some(&message),
                HttpResponse::BadRequest(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn dead_letters<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let services = state.console.dead_letters().await;
    Ok(html(
        HttpResponse::Ok(),
        views::dead_letters::dead_letters(&DeadLettersView {
            csrf: signed_in.csrf(),
            services: &services,
            requeued: None,
        }),
    ))
}

#[derive(Deserialize)]
pub struct RequeueForm {
    csrf: Option<String>,
    /// One letter; absent or empty: all of the service's.
    event_id: Option<String>,
}

/// Requeues, then shows the dead letters as they are now, with what the
/// requeue did on top.
pub async fn requeue<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    form: web::Form<RequeueForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    let event = form
        .event_id
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(|v| id(v.trim()).map(EventId))
        .transpose()?;
    let (service, report) = state.console.requeue(&path, event).await?;
    let services = state.console.dead_letters().await;
    Ok(html(
        HttpResponse::Ok(),
        views::dead_letters::dead_letters(&DeadLettersView {
            csrf: signed_in.csrf(),
            services: &services,
            requeued: Some((service, &report)),
        }),
    ))
}
