//! The licensing admin API under `/admin/v1` (JSON, `Authorization: Bearer
//! <admin key>`). The one place where licensing errors become HTTP statuses.
//!
//! - `PUT /admin/v1/organizations/{org}/subscription` `{"seat_quota": 50, "scim_included": true}`
//! - `GET /admin/v1/organizations/{org}/subscription` (also `/usage`): quota, whether SCIM is
//!   included, confirmed and reserved seats

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use service_kit::admin_http;
use service_kit::admin_key::AdminKey;

use crate::domain::models::{OrgId, Subscription, Usage};
use crate::domain::ports::{Clock, LicensingStore, StoreError};
use crate::domain::service::Licensing;

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

/// Mounts the licensing admin routes (full paths: in the embedded process the
/// other services mount theirs beside these).
pub fn configure<S: LicensingStore, C: Clock>(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/v1/organizations/{org}/subscription")
            .route(web::get().to(get_usage::<S, C>))
            .route(web::put().to(put_subscription::<S, C>)),
    )
    .route(
        "/admin/v1/organizations/{org}/usage",
        web::get().to(get_usage::<S, C>),
    );
}
