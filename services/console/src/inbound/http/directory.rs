//! An organization's accounts (and the form that changes one's access), its
//! teams and their members, its seats; the platform's health. The access form is checked for the
//! session's token before anything is done.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::pages::{id, see_other};
use super::session::{SignedIn, signed_in};
use super::{ConsoleState, PageError, html};
use crate::domain::models::{AccountFilter, AccountId, OrgId, TeamId};
use crate::domain::ports::{PlatformError, Ports};
use crate::domain::service::ConsoleError;
use crate::inbound::views;
use crate::inbound::views::accounts::{AccountView, AccountsView};
use crate::inbound::views::teams::{TeamView, TeamsView};

#[derive(Deserialize)]
pub struct AccountsQuery {
    q: Option<String>,
    status: Option<String>,
    person: Option<String>,
    after: Option<String>,
}

pub async fn accounts<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    query: web::Query<AccountsQuery>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let org = OrgId(id(&path)?);
    let after = query.after.as_deref().map(id).transpose()?.map(AccountId);
    // An empty field (the status's "Any") filters nothing.
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let filter = AccountFilter {
        search: given(&query.q),
        status: given(&query.status),
        scim_user_id: given(&query.person),
    };
    let (organization, page) = state.console.accounts(org, &filter, after).await?;
    Ok(html(
        HttpResponse::Ok(),
        views::accounts::accounts(&AccountsView {
            csrf: signed_in.csrf(),
            organization: &organization,
            page: &page,
            filter: &filter,
            later_page: after.is_some(),
        }),
    ))
}

#[derive(Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

async fn account_page<A: Ports>(
    state: &ConsoleState<A>,
    signed_in: &SignedIn,
    org: OrgId,
    account: AccountId,
    notice: Option<&str>,
    error: Option<&str>,
    mut response: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, PageError> {
    let detail = state.console.account(org, account).await?;
    Ok(html(
        response.take(),
        views::accounts::account(&AccountView {
            csrf: signed_in.csrf(),
            detail: &detail,
            notice,
            error,
        }),
    ))
}

pub async fn account<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<(String, String)>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let (org, account) = (OrgId(id(&path.0)?), AccountId(id(&path.1)?));
    let notice = match query.done.as_deref() {
        Some("access") => Some("Access saved. The history below records the change."),
        _ => None,
    };
    account_page(
        &state,
        &signed_in,
        org,
        account,
        notice,
        None,
        HttpResponse::Ok(),
    )
    .await
}

/// The access form: `csrf`, `role` and any number of `permissions` (a
/// checkbox each), hence pairs rather than a struct.
pub async fn change_access<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    signed_in.check_form(field("csrf"))?;
    let (org, account) = (OrgId(id(&path.0)?), AccountId(id(&path.1)?));
    let role = field("role").unwrap_or_default();
    let permissions = form
        .iter()
        .filter(|(k, _)| k == "permissions")
        .map(|(_, v)| v.clone())
        .collect();
    match state
        .console
        .change_access(org, account, role, permissions)
        .await
    {
        Ok(_) => Ok(see_other(format!(
            "/console/organizations/{}/accounts/{}?done=access",
            org.0, account.0
        ))),
        Err(e @ (ConsoleError::Invalid(_) | ConsoleError::Platform(PlatformError::Refused(_)))) => {
            let message = e.to_string();
            account_page(
                &state,
                &signed_in,
                org,
                account,
                None,
                Some(&message),
                HttpResponse::BadRequest(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct PagedQuery {
    after: Option<String>,
}

pub async fn teams<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
    query: web::Query<PagedQuery>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let org = OrgId(id(&path)?);
    let after = query.after.as_deref();
    let (organization, page) = state.console.teams(org, after).await?;
    Ok(html(
        HttpResponse::Ok(),
        views::teams::teams(&TeamsView {
            csrf: signed_in.csrf(),
            organization: &organization,
            page: &page,
            later_page: after.is_some(),
        }),
    ))
}

pub async fn team<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<(String, String)>,
    query: web::Query<PagedQuery>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let (org, team) = (OrgId(id(&path.0)?), TeamId(id(&path.1)?));
    let after = query.after.as_deref();
    let (organization, found, members) = state.console.team(org, team, after).await?;
    Ok(html(
        HttpResponse::Ok(),
        views::teams::team(&TeamView {
            csrf: signed_in.csrf(),
            organization: &organization,
            team: &found,
            members: &members,
            later_page: after.is_some(),
        }),
    ))
}

pub async fn seats<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let org = OrgId(id(&path)?);
    let (organization, overview) = state.console.seats(org).await?;
    Ok(html(
        HttpResponse::Ok(),
        views::seats::seats(signed_in.csrf(), &organization, &overview),
    ))
}

pub async fn health<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    let services = state.console.health().await;
    Ok(html(
        HttpResponse::Ok(),
        views::health::health(signed_in.csrf(), &services),
    ))
}
