//! The licensing admin API under `/admin/v1` (JSON, `Authorization: Bearer
//! <admin key>`). The one place where licensing errors become HTTP statuses.
//!
//! - `PUT /admin/v1/organizations/{org}/subscription` `{"seat_quota": 50, "scim_included": true}`
//! - `GET /admin/v1/organizations/{org}/subscription` (also `/usage`): quota, whether SCIM is
//!   included, confirmed and reserved seats
//! - `GET /admin/v1/organizations/{org}/subscription/usage?since=&until=` (RFC 3339 instants;
//!   default the last 30 days): seat usage over time, an hour a point

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use service_kit::admin_http;
use service_kit::admin_key::AdminKey;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::models::{OrgId, Subscription, Usage, UsagePeriod, UsagePoint};
use crate::domain::ports::{Clock, LicensingStore, StoreError, UsageHistory};
use crate::domain::service::{Licensing, UsageHistoryError};

pub struct AdminState<S, C> {
    pub licensing: Arc<Licensing<S, C>>,
    pub admin_key: AdminKey,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("missing or wrong admin key")]
    Unauthorized,
    #[error("organization not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            HttpError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            HttpError::Store(StoreError::Unavailable(e)) => {
                tracing::error!(error = %e, "licensing database unavailable");
                "the licensing database is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        admin_http::error_response(self.status_code(), &detail)
    }
}

impl From<UsageHistoryError> for HttpError {
    fn from(e: UsageHistoryError) -> Self {
        match e {
            UsageHistoryError::Period(e) => HttpError::BadRequest(e.to_string()),
            UsageHistoryError::Store(e) => HttpError::Store(e),
        }
    }
}

fn authorize<S, C>(req: &HttpRequest, state: &AdminState<S, C>) -> Result<(), HttpError> {
    if admin_http::authorized(req, &state.admin_key) {
        Ok(())
    } else {
        Err(HttpError::Unauthorized)
    }
}

fn org(path: &str) -> Result<OrgId, HttpError> {
    admin_http::path_id(path)
        .map(OrgId)
        .ok_or(HttpError::NotFound)
}

fn usage_json(org: OrgId, usage: &Usage) -> serde_json::Value {
    serde_json::json!({
        "org_id": org.0,
        "seat_quota": usage.quota,
        "scim_included": usage.scim_included,
        "seats": {
            "confirmed": usage.confirmed,
            "reserved": usage.reserved,
            "used": usage.confirmed + usage.reserved,
            "quota": usage.quota,
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionBody {
    seat_quota: u32,
    #[serde(default = "included")]
    scim_included: bool,
}

fn included() -> bool {
    true
}

async fn put_subscription<S: LicensingStore, C: Clock>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C>>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let org = org(&path)?;
    let body: SubscriptionBody = serde_json::from_slice(&body)
        .map_err(|e| HttpError::BadRequest(format!("invalid request body: {e}")))?;
    let usage = state
        .licensing
        .set_subscription(
            org,
            Subscription {
                seat_quota: body.seat_quota,
                scim_included: body.scim_included,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(usage_json(org, &usage)))
}

async fn get_usage<S: LicensingStore, C: Clock>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C>>,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let org = org(&path)?;
    let usage = state.licensing.usage(org).await?;
    Ok(HttpResponse::Ok().json(usage_json(org, &usage)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    since: Option<String>,
    until: Option<String>,
}

fn instant(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, HttpError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    HttpError::BadRequest(format!(
                        "{name} must be an RFC 3339 instant, e.g. 2026-12-01T00:00:00Z"
                    ))
                })
        })
        .transpose()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn history_json(org: OrgId, period: UsagePeriod, points: &[UsagePoint]) -> serde_json::Value {
    let points: Vec<_> = points
        .iter()
        .map(|p| {
            serde_json::json!({
                "hour": rfc3339(p.hour),
                "last": p.last,
                "peak": p.peak,
                "quota": p.quota,
            })
        })
        .collect();
    serde_json::json!({
        "org_id": org.0,
        "since": rfc3339(period.since()),
        "until": rfc3339(period.until()),
        "resolution": "hour",
        "points": points,
    })
}

async fn get_usage_history<S: LicensingStore + UsageHistory, C: Clock>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C>>,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let org = org(&path)?;
    let query = web::Query::<HistoryQuery>::from_query(req.query_string())
        .map_err(|e| HttpError::BadRequest(format!("invalid query: {e}")))?;
    let since = instant("since", query.since.as_deref())?;
    let until = instant("until", query.until.as_deref())?;
    let (period, points) = state.licensing.usage_history(org, since, until).await?;
    Ok(HttpResponse::Ok().json(history_json(org, period, &points)))
}

/// Mounts the licensing admin routes (full paths: in the embedded process the
/// other services mount theirs beside these).
pub fn configure<S: LicensingStore + UsageHistory, C: Clock>(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/admin/v1/organizations/{org}/subscription/usage",
        web::get().to(get_usage_history::<S, C>),
    )
    .service(
        web::resource("/admin/v1/organizations/{org}/subscription")
            .route(web::get().to(get_usage::<S, C>))
            .route(web::put().to(put_subscription::<S, C>)),
    )
    .route(
        "/admin/v1/organizations/{org}/usage",
        web::get().to(get_usage::<S, C>),
    );
}
