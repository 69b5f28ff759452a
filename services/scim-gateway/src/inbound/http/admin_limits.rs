//! `/admin/v1` routes of the organizations' request limits (fairness; the
//! same admin key, error body and statuses as `admin.rs`):
//!
//! - `GET    /admin/v1/organizations/{org}/limits`: the limits in force, the
//!   organization's own (`override`, null fields follow the default), the
//!   defaults, and this process's counts (in flight, admitted, throttled)
//! - `PUT    /admin/v1/organizations/{org}/limits` `{"max_in_flight"?,
//!   "rate_per_second"?, "burst"?}`: a field given sets the organization's
//!   own value (0: no limit, for the first two), `null` puts it back to the
//!   default, a field left out stays
//! - `DELETE /admin/v1/organizations/{org}/limits`: back to the defaults
//! - `GET    /admin/v1/limits`: every organization with its own limits or
//!   seen by this process, with its counts (what `scimctl status` shows)
//!
//! The limiter is the SCIM API's (`ScimApi::fairness`), so these routes are
//! mounted (`startup::configure_admin`) on an app that serves both.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Map, Value, json};
use service_kit::admin_http;

use super::ScimApi;
use super::admin::{AdminState, AdminStore};
use crate::domain::limits::{LimitChange, LimitsError, OrgLimits};
use crate::domain::models::{LimitOverride, OrgId, RequestLimits};
use crate::domain::ports::{Clock, TokenSource};

#[derive(Debug, thiserror::Error)]
pub enum LimitsApiError {
    #[error(transparent)]
    Limits(#[from] LimitsError),
    #[error("missing or wrong admin key")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
}

impl ResponseError for LimitsApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            LimitsApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            LimitsApiError::BadRequest(_) | LimitsApiError::Limits(LimitsError::Invalid(_)) => {
                StatusCode::BAD_REQUEST
            }
            LimitsApiError::Limits(LimitsError::NotFound) => StatusCode::NOT_FOUND,
            LimitsApiError::Limits(LimitsError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            LimitsApiError::Limits(LimitsError::Store(e)) => {
                tracing::error!(error = %e, "gateway database unavailable");
                "the gateway database is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        admin_http::error_response(self.status_code(), &detail)
    }
}

type Admin<S, C, T> = web::Data<AdminState<S, C, T>>;
type Api<S, C> = web::Data<ScimApi<S, C>>;

fn authorize<S, C, T>(
    req: &HttpRequest,
    state: &AdminState<S, C, T>,
) -> Result<(), LimitsApiError> {
    if admin_http::authorized(req, &state.admin_key) {
        Ok(())
    } else {
        Err(LimitsApiError::Unauthorized)
    }
}

fn org_id(text: &str) -> Result<OrgId, LimitsApiError> {
    admin_http::path_id(text)
        .map(OrgId)
        .ok_or(LimitsApiError::Limits(LimitsError::NotFound))
}

fn limits_json(limits: &RequestLimits) -> Value {
    json!({
        "max_in_flight": limits.max_in_flight,
        "rate_per_second": limits.rate_per_second,
        "burst": limits.burst,
    })
}

fn override_json(limits: &LimitOverride) -> Value {
    json!({
        "max_in_flight": limits.max_in_flight,
        "rate_per_second": limits.rate_per_second,
        "burst": limits.burst,
    })
}

fn org_limits_json(shown: &OrgLimits) -> Value {
    let usage = &shown.usage;
    json!({
        "org_id": shown.org.0,
        "limits": limits_json(&shown.effective),
        "override": override_json(&shown.overridden),
        "usage": {
            "in_flight": usage.in_flight,
            "admitted": usage.admitted,
            "throttled": {
                "in_flight": usage.refused_in_flight,
                "rate": usage.refused_rate,
                "total": usage.refused_in_flight + usage.refused_rate,
            },
        },
    })
}

/// One field of a PUT body: absent (None), null (`Some(None)`) or a value.
fn field<T>(
    body: &Map<String, Value>,
    name: &str,
    read: impl Fn(&Value) -> Option<T>,
    expected: &str,
) -> Result<Option<Option<T>>, LimitsApiError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => read(value).map(|v| Some(Some(v))).ok_or_else(|| {
            LimitsApiError::BadRequest(format!("{name} must be {expected} or null"))
        }),
    }
}

fn change_from(bytes: &[u8]) -> Result<LimitChange, LimitsApiError> {
    let body: Map<String, Value> = serde_json::from_slice(bytes).map_err(|_| {
        LimitsApiError::BadRequest("invalid request body: expected a JSON object".into())
    })?;
    const FIELDS: [&str; 3] = ["max_in_flight", "rate_per_second", "burst"];
    if body.keys().any(|k| !FIELDS.contains(&k.as_str())) {
        return Err(LimitsApiError::BadRequest(format!(
            "unknown field: the fields are {}",
            FIELDS.join(", ")
        )));
    }
    let count = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    Ok(LimitChange {
        max_in_flight: field(&body, "max_in_flight", count, "a whole number ≥ 0")?,
        rate_per_second: field(&body, "rate_per_second", Value::as_f64, "a number ≥ 0")?,
        burst: field(&body, "burst", count, "a whole number ≥ 1")?,
    })
}

async fn show<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: Admin<S, C, T>,
    api: Api<S, C>,
    path: web::Path<String>,
) -> Result<HttpResponse, LimitsApiError> {
    authorize(&req, &state)?;
    let shown = api.fairness.get(org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(with_defaults(&api, &shown)))
}

fn with_defaults<S, C>(api: &ScimApi<S, C>, shown: &OrgLimits) -> Value {
    let mut reply = org_limits_json(shown);
    reply["defaults"] = limits_json(&api.fairness.limiter().defaults());
    reply
}

async fn change<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: Admin<S, C, T>,
    api: Api<S, C>,
    path: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, LimitsApiError> {
    authorize(&req, &state)?;
    let change = change_from(&bytes)?;
    let shown = api.fairness.change(org_id(&path)?, change).await?;
    Ok(HttpResponse::Ok().json(with_defaults(&api, &shown)))
}

async fn reset<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: Admin<S, C, T>,
    api: Api<S, C>,
    path: web::Path<String>,
) -> Result<HttpResponse, LimitsApiError> {
    authorize(&req, &state)?;
    let everything = LimitChange {
        max_in_flight: Some(None),
        rate_per_second: Some(None),
        burst: Some(None),
    };
    let shown = api.fairness.change(org_id(&path)?, everything).await?;
    Ok(HttpResponse::Ok().json(with_defaults(&api, &shown)))
}

async fn list<S: AdminStore, C: Clock, T: TokenSource>(
    req: HttpRequest,
    state: Admin<S, C, T>,
    api: Api<S, C>,
) -> Result<HttpResponse, LimitsApiError> {
    authorize(&req, &state)?;
    let all = api.fairness.all().await?;
    let throttled: u64 = all
        .iter()
        .map(|o| o.usage.refused_in_flight + o.usage.refused_rate)
        .sum();
    Ok(HttpResponse::Ok().json(json!({
        "defaults": limits_json(&api.fairness.limiter().defaults()),
        "throttled": throttled,
        "organizations": all.iter().map(org_limits_json).collect::<Vec<_>>(),
    })))
}

/// Mounts the limits routes (beside `admin::configure`'s).
pub fn configure<S: AdminStore, C: Clock, T: TokenSource>(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/v1/limits", web::get().to(list::<S, C, T>))
        .service(
            web::resource("/admin/v1/organizations/{org}/limits")
                .route(web::get().to(show::<S, C, T>))
                .route(web::put().to(change::<S, C, T>))
                .route(web::delete().to(reset::<S, C, T>)),
        );
}
