//! The identity admin API under `/admin/v1` (JSON, `Authorization: Bearer
//! <admin key>`). The one place where identity errors become HTTP statuses.
//!
//! - `GET  /admin/v1/organizations/{org}/accounts?status=&workspace_id=&after=&limit=`
//! - `GET  /admin/v1/organizations/{org}/accounts/{id}`
//! - `PATCH /admin/v1/organizations/{org}/accounts/{id}` `{"role", "permissions", "changed_by"}`
//! - `GET  /admin/v1/organizations/{org}/accounts/{id}/access-changes`
//! - `GET  /admin/v1/access-catalogue`

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::admin_http;
use service_kit::admin_key::AdminKey;
use uuid::Uuid;

use crate::domain::errors::AdminError;
use crate::domain::models::{
    AccessChange, Account, AccountId, AccountQuery, AccountStatus, OrgId, WorkspaceId,
};
use crate::domain::ports::{AccountStore, Clock, DataKeys, StoreError};
use crate::domain::service::{ChangeAccess, Identity};

pub struct AdminState<S, C, K> {
    pub identity: Arc<Identity<S, C, K>>,
    pub admin_key: AdminKey,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("missing or wrong admin key")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Admin(e) => match e {
                AdminError::NotFound | AdminError::Store(StoreError::NotFound) => {
                    StatusCode::NOT_FOUND
                }
                AdminError::UnknownRole(..)
                | AdminError::UnknownPermission(..)
                | AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
                AdminError::Erased | AdminError::Store(StoreError::Conflict(_)) => {
                    StatusCode::CONFLICT
                }
                AdminError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            HttpError::Admin(AdminError::Store(StoreError::Unavailable(e))) => {
                tracing::error!(error = %e, "identity database unavailable");
                "the identity database is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        admin_http::error_response(self.status_code(), &detail)
    }
}

fn authorize<S, C, K>(req: &HttpRequest, state: &AdminState<S, C, K>) -> Result<(), HttpError> {
    if admin_http::authorized(req, &state.admin_key) {
        Ok(())
    } else {
        Err(HttpError::Unauthorized)
    }
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Serialize)]
struct ProfileView<'a> {
    user_name: &'a str,
    external_id: Option<&'a str>,
    email: Option<&'a str>,
    given_name: Option<&'a str>,
    family_name: Option<&'a str>,
    display_name: Option<&'a str>,
}

pub fn account_json(account: &Account) -> serde_json::Value {
    let profile = account.profile.as_ref().map(|p| ProfileView {
        user_name: &p.user_name,
        external_id: p.external_id.as_deref(),
        email: p.email.as_deref(),
        given_name: p.given_name.as_deref(),
        family_name: p.family_name.as_deref(),
        display_name: p.display_name.as_deref(),
    });
    json!({
        "id": account.id.0,
        "org_id": account.org.0,
        "workspace_id": account.workspace.0,
        "scim_user_id": account.scim_user_id,
        "status": account.status.as_str(),
        "label": account.label,
        "role": account.access.role,
        "permissions": account.access.permissions,
        "profile": profile,
        "created_at": timestamp(account.created_at),
        "updated_at": timestamp(account.updated_at),
        "anonymized_at": account.anonymized_at.map(timestamp),
        "deleted_at": account.deleted_at.map(timestamp),
    })
}

fn change_json(change: &AccessChange) -> serde_json::Value {
    json!({
        "account_id": change.account.0,
        "changed_by": change.changed_by,
        "changed_at": timestamp(change.changed_at),
        "before": { "role": change.before.role, "permissions": change.before.permissions },
        "after": { "role": change.after.role, "permissions": change.after.permissions },
    })
}

/// An id that does not parse names nothing: 404.
fn parse_id(text: &str) -> Result<Uuid, HttpError> {
    admin_http::path_id(text).ok_or(HttpError::Admin(AdminError::NotFound))
}

fn ids(path: &(String, String)) -> Result<(Uuid, Uuid), HttpError> {
    Ok((parse_id(&path.0)?, parse_id(&path.1)?))
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    workspace_id: Option<Uuid>,
    scim_user_id: Option<String>,
    /// Text in the user name, e-mail or a name.
    q: Option<String>,
    after: Option<Uuid>,
    limit: Option<u64>,
}

async fn list_accounts<S: AccountStore, C: Clock, K: DataKeys>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, K>>,
    org: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let org = parse_id(&org)?;
    let params: ListParams = admin_http::query(&req).map_err(HttpError::BadRequest)?;
    let status = match params.status.as_deref() {
        None => None,
        Some(text) => Some(AccountStatus::parse(text).ok_or_else(|| {
            HttpError::BadRequest(format!(
                "unknown status {text:?}; use active, anonymized or deleted"
            ))
        })?),
    };
    let page = state
        .identity
        .accounts(
            OrgId(org),
            AccountQuery {
                status,
                workspace: params.workspace_id.map(WorkspaceId),
                scim_user_id: params.scim_user_id,
                search: params
                    .q
                    .map(|q| q.trim().to_owned())
                    .filter(|q| !q.is_empty()),
                after: params.after.map(AccountId),
                limit: params.limit.unwrap_or(0),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": page.accounts.iter().map(account_json).collect::<Vec<_>>(),
        "next_after": page.next_after.map(|id| id.0),
    })))
}

async fn get_account<S: AccountStore, C: Clock, K: DataKeys>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, K>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let (org, id) = ids(&path)?;
    let account = state.identity.account(OrgId(org), AccountId(id)).await?;
    Ok(HttpResponse::Ok().json(account_json(&account)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeAccessBody {
    role: Option<String>,
    permissions: Option<Vec<String>>,
    changed_by: String,
}

async fn change_access<S: AccountStore, C: Clock, K: DataKeys>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, K>>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let body: ChangeAccessBody = serde_json::from_slice(&body)
        .map_err(|e| HttpError::BadRequest(format!("invalid request body: {e}")))?;
    let (org, id) = ids(&path)?;
    let account = state
        .identity
        .change_access(
            OrgId(org),
            AccountId(id),
            ChangeAccess {
                role: body.role,
                permissions: body.permissions,
                changed_by: body.changed_by,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(account_json(&account)))
}

async fn access_changes<S: AccountStore, C: Clock, K: DataKeys>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, K>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let (org, id) = ids(&path)?;
    let changes = state
        .identity
        .access_changes(OrgId(org), AccountId(id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": changes.iter().map(change_json).collect::<Vec<_>>(),
    })))
}

async fn catalogue<S: AccountStore, C: Clock, K: DataKeys>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C, K>>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let catalogue = state.identity.catalogue();
    Ok(HttpResponse::Ok().json(json!({
        "roles": catalogue.roles,
        "permissions": catalogue.permissions,
    })))
}

/// Mounts the identity admin routes (the state is `web::Data<AdminState<S, C, K>>`).
/// Full paths rather than a `/admin/v1` scope: in the embedded process the
/// other services mount their admin routes beside these.
pub fn configure<S: AccountStore, C: Clock, K: DataKeys>(cfg: &mut web::ServiceConfig) {
    let accounts = "/admin/v1/organizations/{org}/accounts";
    cfg.route(
        "/admin/v1/access-catalogue",
        web::get().to(catalogue::<S, C, K>),
    )
    .route(accounts, web::get().to(list_accounts::<S, C, K>))
    .service(
        web::resource(format!("{accounts}/{{id}}"))
            .route(web::get().to(get_account::<S, C, K>))
            .route(web::patch().to(change_access::<S, C, K>)),
    )
    .route(
        &format!("{accounts}/{{id}}/access-changes"),
        web::get().to(access_changes::<S, C, K>),
    );
}
