//! The team admin API under `/admin/v1` (JSON, `Authorization: Bearer <admin
//! key>`). The one place where team errors become HTTP statuses.
//!
//! - `GET /admin/v1/organizations/{org}/teams?after=&limit=`
//! - `GET /admin/v1/organizations/{org}/teams/{id}`
//! - `GET /admin/v1/organizations/{org}/teams/{id}/members?after=&limit=`

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use service_kit::admin_http::{self, PageParams};
use service_kit::admin_key::AdminKey;

use crate::domain::models::{Member, OrgId, Page, Team, TeamId};
use crate::domain::ports::{Clock, StoreError, TeamStore};
use crate::domain::service::{AdminError, Teams};

pub struct AdminState<S, C> {
    pub teams: Arc<Teams<S, C>>,
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
            HttpError::Admin(AdminError::NotFound) => StatusCode::NOT_FOUND,
            HttpError::Admin(AdminError::Store(StoreError::Conflict(_))) => StatusCode::CONFLICT,
            HttpError::Admin(AdminError::Store(StoreError::Unavailable(_))) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            HttpError::Admin(AdminError::Store(StoreError::Unavailable(e))) => {
                tracing::error!(error = %e, "team database unavailable");
                "the team database is unavailable; retry later".to_owned()
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

fn ids(org: &str, team: Option<&str>) -> Result<(OrgId, Option<TeamId>), HttpError> {
    let not_found = || HttpError::Admin(AdminError::NotFound);
    let org = admin_http::path_id(org).ok_or_else(not_found)?;
    let team = match team {
        Some(t) => Some(TeamId(admin_http::path_id(t).ok_or_else(not_found)?)),
        None => None,
    };
    Ok((OrgId(org), team))
}

fn page(req: &HttpRequest) -> Result<Page, HttpError> {
    let params: PageParams = admin_http::query(req).map_err(HttpError::BadRequest)?;
    Ok(Page {
        after: params.after,
        limit: params.limit.unwrap_or(0),
    })
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn team_json(team: &Team) -> serde_json::Value {
    json!({
        "id": team.id.0,
        "org_id": team.org.0,
        "workspace_id": team.workspace,
        "group_id": team.group_id,
        "name": team.name,
        "created_at": timestamp(team.created_at),
        "updated_at": timestamp(team.updated_at),
    })
}

fn member_json(member: &Member) -> serde_json::Value {
    json!({
        "scim_user_id": member.scim_user_id,
        "account_id": member.account_id,
        "account_status": member.account_state.map(|s| s.as_str()),
    })
}

async fn list_teams<S: TeamStore, C: Clock>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C>>,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let (org, _) = ids(&path, None)?;
    let page = state.teams.teams(org, page(&req)?).await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": page.items.iter().map(team_json).collect::<Vec<_>>(),
        "next_after": page.next_after,
    })))
}

async fn get_team<S: TeamStore, C: Clock>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let (org, team) = ids(&path.0, Some(&path.1))?;
    let team = team.ok_or(HttpError::Admin(AdminError::NotFound))?;
    let (team, member_count) = state.teams.team(org, team).await?;
    let mut body = team_json(&team);
    body["member_count"] = json!(member_count);
    Ok(HttpResponse::Ok().json(body))
}

async fn list_members<S: TeamStore, C: Clock>(
    req: HttpRequest,
    state: web::Data<AdminState<S, C>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HttpError> {
    authorize(&req, &state)?;
    let (org, team) = ids(&path.0, Some(&path.1))?;
    let team = team.ok_or(HttpError::Admin(AdminError::NotFound))?;
    let page = state.teams.members(org, team, page(&req)?).await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": page.items.iter().map(member_json).collect::<Vec<_>>(),
        "next_after": page.next_after,
    })))
}

/// Mounts the team admin routes (full paths: in the embedded process the
/// other services mount theirs beside these).
pub fn configure<S: TeamStore, C: Clock>(cfg: &mut web::ServiceConfig) {
    let teams = "/admin/v1/organizations/{org}/teams";
    cfg.route(teams, web::get().to(list_teams::<S, C>))
        .route(&format!("{teams}/{{id}}"), web::get().to(get_team::<S, C>))
        .route(
            &format!("{teams}/{{id}}/members"),
            web::get().to(list_members::<S, C>),
        );
}
