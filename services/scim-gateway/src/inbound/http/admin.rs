//! The gateway's admin API under `/admin/v1` (JSON, `Authorization: Bearer
//! <admin key>`): organizations, their SCIM connection and tokens. The one
//! place where organization errors become HTTP statuses.
//!
//! - `POST   /admin/v1/organizations` `{"name", "workspace"?, "default_role"?}`
//! - `GET    /admin/v1/organizations?after=&limit=`: in creation order, `limit` ≤ 500 (default
//!   50), continued with `after=<next_after>`
//! - `GET    /admin/v1/organizations/{org}`
//! - `PUT    /admin/v1/organizations/{org}/connection` `{"workspace_id"?, "workspace"?, "default_role"?}`:
//!   the role must be in the access catalogue (400); the workspace is fixed at creation, so
//!   another `workspace_id` is 409
//! - `POST   /admin/v1/organizations/{org}/tokens`: the token's value, this once
//! - `GET    /admin/v1/organizations/{org}/tokens`: prefixes and dates, never values
//! - `DELETE /admin/v1/organizations/{org}/tokens/{id}`
//! - `POST   /admin/v1/organizations/{org}/connection/test` `{"token"?}`: what is wrong, in words
//! - `POST   /admin/v1/organizations/{org}/tokens/{id}/rotate` `{"overlap_seconds"?}`: a new
//!   token; the old one works until the overlap ends (default a day)
//! - `GET    /admin/v1/events?org=&type=&aggregate=&after_seq=&until_seq=&since=&until=&limit=`:
//!   the journal in `seq` order (`type` is an event type or `kind.*`; times in RFC 3339;
//!   `limit` ≤ 1000), continued with `after_seq=<next_after_seq>`; a profile is shown
//!   sealed as stored while its person's data key exists, `{"erased": true}` once it is
//!   gone — never opened
//! - `GET    /admin/v1/events/{event_id}`: one entry
//! - the organizations' request limits: `admin_limits.rs` (mounted beside these)

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;
use service_kit::admin_http;
use service_kit::admin_key::AdminKey;
use uuid::Uuid;

use crate::domain::event_log::{EventLog, EventLogError};
use crate::domain::models::BearerToken;
use crate::domain::models::{OrgId, Organization, TokenInfo};
use crate::domain::organizations::{
    ConnectionChange, NewOrganization, OrganizationError, Organizations,
};
use crate::domain::ports::{
    Clock, CredentialStore, DataKeyStore, JournalEntry, JournalFilter, JournalReader, LimitStore,
    OrganizationStore, StoreError, TokenSource, UserStore,
};

/// What the admin use cases need of the store.
pub trait AdminStore:
    OrganizationStore + CredentialStore + UserStore + JournalReader + DataKeyStore + LimitStore
{
}
impl<X: OrganizationStore + CredentialStore + UserStore + JournalReader + DataKeyStore + LimitStore>
    AdminStore for X
{
}

pub struct AdminState<S, C, T> {
    pub organizations: Arc<Organizations<S, C, T>>,
    pub events: Arc<EventLog<S>>,
    pub admin_key: AdminKey,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminApiError {
    #[error(transparent)]
    Organization(#[from] OrganizationError),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error("missing or wrong admin key")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
}

impl ResponseError for AdminApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminApiError::BadRequest(_)
            | AdminApiError::Organization(OrganizationError::Invalid(_)) => StatusCode::BAD_REQUEST,
            AdminApiError::Organization(
                OrganizationError::NotFound | OrganizationError::TokenNotFound,
            ) => StatusCode::NOT_FOUND,
            AdminApiError::Organization(
                OrganizationError::Store(StoreError::Duplicate)
                | OrganizationError::WorkspaceFixed(_),
            ) => StatusCode::CONFLICT,
            AdminApiError::Organization(OrganizationError::Store(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AdminApiError::EventLog(EventLogError::Invalid(_)) => StatusCode::BAD_REQUEST,
            AdminApiError::EventLog(EventLogError::NotFound) => StatusCode::NOT_FOUND,
            AdminApiError::EventLog(EventLogError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            AdminApiError::Organization(OrganizationError::Store(e))
            | AdminApiError::EventLog(EventLogError::Store(e)) => {
                tracing::error!(error = %e, "gateway database unavailable");
                "the gateway database is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        admin_http::error_response(self.status_code(), &detail)
    }
}

fn authorize<S, C, T>(req: &HttpRequest, state: &AdminState<S, C, T>) -> Result<(), AdminApiError> {
    if admin_http::authorized(req, &state.admin_key) {
        Ok(())
    } else {
        Err(AdminApiError::Unauthorized)
    }
}

fn org_id(text: &str) -> Result<OrgId, AdminApiError> {
    admin_http::path_id(text)
        .map(OrgId)
        .ok_or(AdminApiError::Organization(OrganizationError::NotFound))
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AdminApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AdminApiError::BadRequest(format!("invalid request body: {e}")))
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn organization_json(o: &Organization) -> serde_json::Value {
    json!({
        "org_id": o.id.0,
        "name": o.name,
        "workspace_id": o.workspace_id,
        "workspace": o.workspace_name,
        "default_role": o.default_role,
        "scim_included": o.scim_included,
        "created_at": timestamp(o.created_at),
    })
}

fn token_json(t: &TokenInfo) -> serde_json::Value {
    json!({
        "id": t.id,
        "prefix": t.prefix,
        "created_at": timestamp(t.created_at),
        "revoked_at": t.revoked_at.map(timestamp),
        "expires_at": t.expires_at.map(timestamp),
        "last_used_at": t.last_used_at.map(timestamp),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    workspace: Option<String>,
    default_role: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionBody {
    workspace_id: Option<Uuid>,
    workspace: Option<String>,
    default_role: Option<String>,
}

async fn create<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    bytes: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let request: CreateBody = body(&bytes)?;
    let organization = state
        .organizations
        .create(NewOrganization {
            name: request.name,
            workspace_name: request.workspace,
            default_role: request.default_role,
        })
        .await?;
    Ok(HttpResponse::Created().json(organization_json(&organization)))
}

async fn list<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let params: admin_http::PageParams =
        admin_http::query(&req).map_err(AdminApiError::BadRequest)?;
    let after = match params.after.as_deref() {
        Some(text) => Some(OrgId(Uuid::parse_str(text).map_err(|_| {
            AdminApiError::BadRequest(format!("after: not an organization id: {text}"))
        })?)),
        None => None,
    };
    let page = state
        .organizations
        .list(after, params.limit.unwrap_or(0))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": page.organizations.iter().map(organization_json).collect::<Vec<_>>(),
        "next_after": page.next_after.map(|id| id.0),
    })))
}

async fn get<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let organization = state.organizations.get(org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(organization_json(&organization)))
}

async fn configure_connection<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let request: ConnectionBody = body(&bytes)?;
    let organization = state
        .organizations
        .configure(
            org_id(&path)?,
            ConnectionChange {
                workspace_id: request.workspace_id,
                workspace_name: request.workspace,
                default_role: request.default_role,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(organization_json(&organization)))
}

async fn issue_token<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let issued = state.organizations.issue_token(org_id(&path)?).await?;
    let mut reply = token_json(&issued.info);
    // The only response that ever carries a token's value.
    reply["token"] = json!(issued.token.expose());
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(reply))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    overlap_seconds: Option<i64>,
}

async fn rotate_token<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let request: RotateBody = if bytes.is_empty() {
        RotateBody::default()
    } else {
        body(&bytes)?
    };
    let token = admin_http::path_id(&path.1).ok_or(AdminApiError::Organization(
        OrganizationError::TokenNotFound,
    ))?;
    // Out of chrono's range is out of the allowed range too (and must not
    // panic): the domain names the bounds.
    let overlap = request
        .overlap_seconds
        .map(|seconds| chrono::Duration::try_seconds(seconds).unwrap_or(chrono::Duration::MAX));
    let (issued, previous_ends) = state
        .organizations
        .rotate_token(org_id(&path.0)?, token, overlap)
        .await?;
    let mut reply = token_json(&issued.info);
    reply["token"] = json!(issued.token.expose());
    reply["previous"] = json!({"id": token, "expires_at": timestamp(previous_ends)});
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(reply))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestBody {
    /// A token to try, as the admin would paste it into the IdP.
    token: Option<String>,
}

async fn test_connection<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let request: TestBody = if bytes.is_empty() {
        TestBody::default()
    } else {
        body(&bytes)?
    };
    let checks = state
        .organizations
        .test_connection(org_id(&path)?, request.token.map(BearerToken::new))
        .await?;
    let ok = checks.iter().all(|c| c.ok);
    Ok(HttpResponse::Ok().json(json!({
        "ok": ok,
        "checks": checks
            .iter()
            .map(|c| json!({"check": c.check, "ok": c.ok, "detail": c.detail}))
            .collect::<Vec<_>>(),
    })))
}

async fn list_tokens<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let tokens = state.organizations.tokens(org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": tokens.iter().map(token_json).collect::<Vec<_>>(),
    })))
}

async fn revoke_token<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let token = admin_http::path_id(&path.1).ok_or(AdminApiError::Organization(
        OrganizationError::TokenNotFound,
    ))?;
    state
        .organizations
        .revoke_token(org_id(&path.0)?, token)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/v1/events` parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    org: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    aggregate: Option<String>,
    after_seq: Option<i64>,
    until_seq: Option<i64>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u64>,
}

fn instant(name: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, AdminApiError> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| AdminApiError::BadRequest(format!("{name}: not an RFC 3339 instant: {t}")))
    })
    .transpose()
}

fn entry_json(entry: &JournalEntry) -> serde_json::Value {
    json!({
        "seq": entry.event.seq,
        "published_at": entry.published_at.map(timestamp),
        "traceparent": entry.event.traceparent,
        "event": entry.event,
    })
}

async fn list_events<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let query: EventQuery = admin_http::query(&req).map_err(AdminApiError::BadRequest)?;
    let org = match query.org.as_deref() {
        Some(text) => Some(OrgId(Uuid::parse_str(text).map_err(|_| {
            AdminApiError::BadRequest(format!("org: not an organization id: {text}"))
        })?)),
        None => None,
    };
    let filter = JournalFilter {
        org,
        event_type: query.event_type,
        any_of_types: Vec::new(),
        aggregate_id: query.aggregate,
        after_seq: query.after_seq,
        until_seq: query.until_seq,
        since: instant("since", query.since.as_deref())?,
        until: instant("until", query.until.as_deref())?,
    };
    let page = state
        .events
        .list(&filter, query.limit.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": page.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "next_after_seq": page.next_after_seq,
    })))
}

async fn show_event<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, T>>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    authorize(&req, &state)?;
    let id = admin_http::path_id(&path).ok_or(AdminApiError::EventLog(EventLogError::NotFound))?;
    let entry = state.events.show(id).await?;
    Ok(HttpResponse::Ok().json(entry_json(&entry)))
}

/// Mounts the gateway's admin routes (full paths: the other services mount
/// theirs beside these in the embedded process).
pub fn configure<S: AdminStore, C: Clock, T: TokenSource>(cfg: &mut web::ServiceConfig) {
    let org = "/admin/v1/organizations/{org}";
    cfg.route("/admin/v1/events", web::get().to(list_events::<S, C, T>))
        .route(
            "/admin/v1/events/{id}",
            web::get().to(show_event::<S, C, T>),
        )
        .service(
            web::resource("/admin/v1/organizations")
                .route(web::post().to(create::<S, C, T>))
                .route(web::get().to(list::<S, C, T>)),
        )
        .route(org, web::get().to(get::<S, C, T>))
        .route(
            &format!("{org}/connection"),
            web::put().to(configure_connection::<S, C, T>),
        )
        .service(
            web::resource(format!("{org}/tokens"))
                .route(web::post().to(issue_token::<S, C, T>))
                .route(web::get().to(list_tokens::<S, C, T>)),
        )
        .route(
            &format!("{org}/tokens/{{id}}"),
            web::delete().to(revoke_token::<S, C, T>),
        )
        .route(
            &format!("{org}/tokens/{{id}}/rotate"),
            web::post().to(rotate_token::<S, C, T>),
        )
        .route(
            &format!("{org}/connection/test"),
            web::post().to(test_connection::<S, C, T>),
        );
}
