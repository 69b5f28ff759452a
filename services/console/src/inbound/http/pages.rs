//! The organizations page and one organization's SCIM connection page, and
//! their forms. Every form is checked for the session's token before
//! anything is done; a generated token's value is only ever in the answer
//! to the form that generated it.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

use super::session::{SignedIn, signed_in};
use super::{ConsoleState, PageError, html};
use crate::domain::models::{ConnectionCheck, IssuedToken, OrgId, TokenId};
use crate::domain::ports::{PlatformError, Ports};
use crate::domain::service::{ConsoleError, OrganizationForm};
use crate::inbound::views;
use crate::inbound::views::connection::ConnectionView;
use crate::inbound::views::organizations::OrganizationsView;

pub(super) fn id(text: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(text).map_err(|_| PageError::NotFound)
}

pub(super) fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

pub async fn home<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
) -> Result<HttpResponse, PageError> {
    signed_in(&req, &state).await?;
    Ok(see_other("/console/organizations".to_owned()))
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
}

async fn organizations_page<A: Ports>(
    state: &ConsoleState<A>,
    signed_in: &SignedIn,
    after: Option<OrgId>,
    form: &OrganizationForm,
    error: Option<&str>,
    mut response: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, PageError> {
    let page = state.console.organizations(after).await?;
    let roles = state.console.roles().await?;
    Ok(html(
        response.take(),
        views::organizations::organizations(&OrganizationsView {
            csrf: signed_in.csrf(),
            page: &page,
            later_page: after.is_some(),
            roles: &roles,
            form,
            error,
        }),
    ))
}

pub async fn organizations<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let after = query.after.as_deref().map(id).transpose()?.map(OrgId);
    let form = OrganizationForm::default();
    organizations_page(&state, &signed_in, after, &form, None, HttpResponse::Ok()).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    seats: String,
    #[serde(default)]
    default_role: String,
}

pub async fn create_organization<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    let form = form.into_inner();
    let typed = OrganizationForm {
        name: form.name,
        seats: form.seats,
        default_role: form.default_role,
    };
    match state.console.create_organization(&typed).await {
        Ok(organization) => Ok(see_other(format!(
            "/console/organizations/{}?done=created",
            organization.id.0
        ))),
        Err(e @ (ConsoleError::Invalid(_) | ConsoleError::Platform(PlatformError::Refused(_)))) => {
            let message = e.to_string();
            organizations_page(
                &state,
                &signed_in,
                None,
                &typed,
                Some(&message),
                HttpResponse::BadRequest(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ConnectionQuery {
    done: Option<String>,
}

/// What a page just told the operator after a form (Post/Redirect/Get).
fn done_notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "created" => Some("Organization created. Generate a token for its identity provider."),
        "revoked" => Some("Token revoked: identity providers using it are refused from now on."),
        "role" => Some("Default role saved. Accounts provisioned from now on get it."),
        _ => None,
    }
}

struct Extras<'a> {
    issued: Option<&'a IssuedToken>,
    checks: Option<&'a [ConnectionCheck]>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

async fn connection_page<A: Ports>(
    req: &HttpRequest,
    state: &ConsoleState<A>,
    signed_in: &SignedIn,
    org: OrgId,
    extras: Extras<'_>,
    mut response: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, PageError> {
    let connection = state.console.connection(org).await?;
    let tenant_url = match &state.scim_base_url {
        Some(url) => url.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}/scim/v2", info.scheme(), info.host())
        }
    };
    Ok(html(
        response.take(),
        views::connection::connection(&ConnectionView {
            csrf: signed_in.csrf(),
            connection: &connection,
            tenant_url: &tenant_url,
            now: state.sessions.now(),
            issued: extras.issued,
            checks: extras.checks,
            notice: extras.notice,
            error: extras.error,
        }),
    ))
}

pub async fn connection<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    query: web::Query<ConnectionQuery>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let org = OrgId(id(&path)?);
    let extras = Extras {
        issued: None,
        checks: None,
        notice: done_notice(query.done.as_deref()),
        error: None,
    };
    connection_page(&req, &state, &signed_in, org, extras, HttpResponse::Ok()).await
}

pub async fn test<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let org = OrgId(id(&path)?);
    let checks = state.console.test_connection(org).await?;
    let extras = Extras {
        issued: None,
        checks: Some(&checks),
        notice: None,
        error: None,
    };
    connection_page(&req, &state, &signed_in, org, extras, HttpResponse::Ok()).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: Option<String>,
    overlap_seconds: Option<i64>,
}

/// The page that shows a new token's value, this once (never stored, never
/// cached).
async fn issued_page<A: Ports>(
    req: &HttpRequest,
    state: &ConsoleState<A>,
    signed_in: &SignedIn,
    org: OrgId,
    issued: &IssuedToken,
) -> Result<HttpResponse, PageError> {
    let extras = Extras {
        issued: Some(issued),
        checks: None,
        notice: None,
        error: None,
    };
    connection_page(req, state, signed_in, org, extras, HttpResponse::Ok()).await
}

pub async fn issue<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    let org = OrgId(id(&path)?);
    let issued = state.console.issue_token(org).await?;
    issued_page(&req, &state, &signed_in, org, &issued).await
}

pub async fn rotate<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<(String, String)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    let (org, token) = (OrgId(id(&path.0)?), TokenId(id(&path.1)?));
    let overlap = form.overlap_seconds.unwrap_or(0);
    match state.console.rotate_token(org, token, overlap).await {
        Ok(issued) => issued_page(&req, &state, &signed_in, org, &issued).await,
        Err(e @ ConsoleError::Invalid(_)) => {
            let message = e.to_string();
            let extras = Extras {
                issued: None,
                checks: None,
                notice: None,
                error: Some(&message),
            };
            connection_page(
                &req,
                &state,
                &signed_in,
                org,
                extras,
                HttpResponse::BadRequest(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<(String, String)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    let (org, token) = (OrgId(id(&path.0)?), TokenId(id(&path.1)?));
    state.console.revoke_token(org, token).await?;
    Ok(see_other(format!(
        "/console/organizations/{}?done=revoked",
        org.0
    )))
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf: Option<String>,
    #[serde(default)]
    default_role: String,
}

pub async fn default_role<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    let org = OrgId(id(&path)?);
    state
        .console
        .set_default_role(org, &form.default_role)
        .await?;
    Ok(see_other(format!(
        "/console/organizations/{}?done=role",
        org.0
    )))
}
