//! `/Users`, `/Groups` and `/.search` handlers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use scim_protocol::{
    messages::{SearchRequest, cursor_list_response, list_response},
    schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE},
};
use serde_json::Value;

use super::ScimApi;
use super::errors::ApiError;
use super::render::{
    Projection, base_url, groups_json, json_response, location, members_json, resource_json,
    resource_response,
};
use super::request::{IfNoneMatch, bearer_token, json_body, precondition, search_from_query};
use crate::domain::errors::AuthError;
use crate::domain::models::{GroupRef, OrgId, ResourceKind, StoredResource, Tenant};
use crate::domain::ports::{Clock, CredentialStore, GroupStore, UserStore, ViewHealth};
use crate::domain::service::query::{Listed, ReadAlong, resource_type};

type Api<S, C> = web::Data<ScimApi<S, C>>;
type Reply = Result<HttpResponse, ApiError>;

pub trait Store: UserStore + GroupStore + CredentialStore + ViewHealth {}
impl<T: UserStore + GroupStore + CredentialStore + ViewHealth> Store for T {}

/// The token's tenant, admitted under its organization's limits (429 over
/// them) before any work is done for the request.
pub(super) async fn authenticate<S: Store, C: Clock>(
    req: &HttpRequest,
    api: &ScimApi<S, C>,
) -> Result<Tenant, ApiError> {
    match api.view.authenticate(bearer_token(req).as_ref()).await {
        Ok(tenant) => {
            super::limits::admit(req, api, &tenant)?;
            Ok(tenant)
        }
        Err(e @ (AuthError::MissingToken | AuthError::InvalidToken)) => {
            // The socket's address, not a header a client could forge.
            if let Some(wait) = req
                .peer_addr()
                .and_then(|peer| api.auth_throttle.failed(peer.ip()))
            {
                return Err(ApiError::TooManyFailedAuthentications(wait));
            }
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

fn projection_from_query(req: &HttpRequest, rt: &ResourceType) -> Result<Projection, ApiError> {
    let search = search_from_query(req)?;
    Projection::parse(&search.attributes, &search.excluded_attributes, rt)
}

// ----- users -----------------------------------------------------------------

/// A user as the client asked for it; `groups` None when they were not read
/// (not asked for, or a user just created).
fn render_user(
    user: &StoredResource,
    groups: Option<&[GroupRef]>,
    base: &str,
    projection: &Projection,
) -> Value {
    let extra = groups
        .filter(|g| !g.is_empty())
        .map(|g| ("groups", groups_json(g, base)));
    projection.apply(
        &resource_json(user, ResourceKind::User, base, extra),
        &USER_RESOURCE,
    )
}

/// A user just written, with its groups when the reply returns them. A user
/// created a moment ago is in no group (a member must exist when it is
/// added, and only this reply tells its id), so they are not looked up.
async fn render_written_user<S: Store, C: Clock>(
    api: &ScimApi<S, C>,
    org: OrgId,
    user: &StoredResource,
    created: bool,
    base: &str,
    projection: &Projection,
) -> Result<Value, ApiError> {
    let groups = if !created && projection.wants(&USER_RESOURCE, "groups") {
        api.view
            .groups_of_users(org, std::slice::from_ref(&user.id))
            .await?
            .remove(&user.id)
    } else {
        None
    };
    Ok(render_user(user, groups.as_deref(), base, projection))
}

/// A single user as a response body with its ETag (and `Location` on create).
async fn user_reply<S: Store, C: Clock>(
    req: &HttpRequest,
    api: &ScimApi<S, C>,
    org: OrgId,
    user: &StoredResource,
    projection: &Projection,
    status: StatusCode,
) -> Reply {
    let base = base_url(req, api.public_base_url.as_deref());
    let created = status == StatusCode::CREATED;
    let json = render_written_user(api, org, user, created, &base, projection).await?;
    let created = created.then(|| location(&base, ResourceKind::User, &user.id.to_string()));
    Ok(resource_response(status, &json, user, created))
}

pub async fn create_user<S: Store, C: Clock>(
    req: HttpRequest,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let projection = projection_from_query(&req, &USER_RESOURCE)?;
    let body = json_body(&req, payload, api.max_body_bytes).await?;
    let user = api.view.create_user(&tenant, body).await?;
    user_reply(&req, &api, org, &user, &projection, StatusCode::CREATED).await
}

pub async fn get_user<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let projection = projection_from_query(&req, &USER_RESOURCE)?;
    let if_none_match = IfNoneMatch::read(&req)?;
    let (user, groups) = if projection.wants(&USER_RESOURCE, "groups") {
        let found = api.view.get_user_with_groups(org, &id).await?;
        (found.user, Some(found.groups))
    } else {
        (api.view.get_user(org, &id).await?, None)
    };
    if if_none_match.hits(user.meta.version) {
        return Ok(HttpResponse::NotModified()
            .insert_header(("ETag", user.meta.etag()))
            .finish());
    }
    let base = base_url(&req, api.public_base_url.as_deref());
    let json = render_user(&user, groups.as_deref(), &base, &projection);
    Ok(resource_response(StatusCode::OK, &json, &user, None))
}

pub async fn replace_user<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let projection = projection_from_query(&req, &USER_RESOURCE)?;
    let body = json_body(&req, payload, api.max_body_bytes).await?;
    let user = api
        .view
        .replace_user(&tenant, &id, body, &precondition(&req)?)
        .await?;
    user_reply(&req, &api, org, &user, &projection, StatusCode::OK).await
}

pub async fn patch_user<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let projection = projection_from_query(&req, &USER_RESOURCE)?;
    let body = json_body(&req, payload, api.max_body_bytes).await?;
    let user = api
        .view
        .patch_user(&tenant, &id, body, &precondition(&req)?)
        .await?;
    user_reply(&req, &api, org, &user, &projection, StatusCode::OK).await
}

pub async fn delete_user<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    api.view
        .delete_user(&tenant, &id, &precondition(&req)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_users<S: Store, C: Clock>(req: HttpRequest, api: Api<S, C>) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let search = search_from_query(&req)?;
    search_response(&req, &api, org, search, &[ResourceKind::User]).await
}

pub async fn search_users<S: Store, C: Clock>(
    req: HttpRequest,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let search = SearchRequest::from_json(json_body(&req, payload, api.max_body_bytes).await?)?;
    search_response(&req, &api, org, search, &[ResourceKind::User]).await
}

// ----- groups ----------------------------------------------------------------

fn render_group(
    group: &StoredResource,
    members: Option<&[crate::domain::models::MemberRef]>,
    base: &str,
    projection: &Projection,
) -> Value {
    let members = members
        .filter(|m| !m.is_empty())
        .map(|m| ("members", members_json(m, base)));
    projection.apply(
        &resource_json(group, ResourceKind::Group, base, members),
        &GROUP_RESOURCE,
    )
}

pub async fn create_group<S: Store, C: Clock>(
    req: HttpRequest,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let projection = projection_from_query(&req, &GROUP_RESOURCE)?;
    let body = json_body(&req, payload, api.max_body_bytes).await?;
    let created = api.view.create_group(&tenant, body).await?;
    let base = base_url(&req, api.public_base_url.as_deref());
    let json = render_group(
        &created.group,
        created.members.as_deref(),
        &base,
        &projection,
    );
    let url = location(&base, ResourceKind::Group, &created.group.id.to_string());
    Ok(resource_response(
        StatusCode::CREATED,
        &json,
        &created.group,
        Some(url),
    ))
}

pub async fn get_group<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let projection = projection_from_query(&req, &GROUP_RESOURCE)?;
    let if_none_match = IfNoneMatch::read(&req)?;
    let with_members = projection.wants(&GROUP_RESOURCE, "members");
    let found = api.view.get_group(org, &id, with_members).await?;
    if if_none_match.hits(found.group.meta.version) {
        return Ok(HttpResponse::NotModified()
            .insert_header(("ETag", found.group.meta.etag()))
            .finish());
    }
    let base = base_url(&req, api.public_base_url.as_deref());
    let json = render_group(&found.group, found.members.as_deref(), &base, &projection);
    Ok(resource_response(StatusCode::OK, &json, &found.group, None))
}

/// The group as a response body, loading members only when they are returned.
async fn group_reply<S: Store, C: Clock>(
    req: &HttpRequest,
    api: &ScimApi<S, C>,
    org: OrgId,
    group: &StoredResource,
    projection: &Projection,
) -> Reply {
    let members = if projection.wants(&GROUP_RESOURCE, "members") {
        Some(api.view.members_of(org, group.id).await?)
    } else {
        None
    };
    let base = base_url(req, api.public_base_url.as_deref());
    let json = render_group(group, members.as_deref(), &base, projection);
    Ok(resource_response(StatusCode::OK, &json, group, None))
}

pub async fn replace_group<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let projection = projection_from_query(&req, &GROUP_RESOURCE)?;
    let body = json_body(&req, payload, api.max_body_bytes).await?;
    let group = api
        .view
        .replace_group(&tenant, &id, body, &precondition(&req)?)
        .await?;
    group_reply(&req, &api, org, &group, &projection).await
}

/// 204 unless the client asked for attributes back: Entra expects 204, and a
/// large group's member list must not be echoed on every membership change.
pub async fn patch_group<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let projection = projection_from_query(&req, &GROUP_RESOURCE)?;
    let body = json_body(&req, payload, api.max_body_bytes).await?;
    let group = api
        .view
        .patch_group(&tenant, &id, body, &precondition(&req)?)
        .await?;
    if projection.is_explicit() {
        group_reply(&req, &api, org, &group, &projection).await
    } else {
        Ok(HttpResponse::NoContent()
            .insert_header(("ETag", group.meta.etag()))
            .finish())
    }
}

pub async fn delete_group<S: Store, C: Clock>(
    req: HttpRequest,
    id: web::Path<String>,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    api.view
        .delete_group(&tenant, &id, &precondition(&req)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_groups<S: Store, C: Clock>(req: HttpRequest, api: Api<S, C>) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let search = search_from_query(&req)?;
    search_response(&req, &api, org, search, &[ResourceKind::Group]).await
}

pub async fn search_groups<S: Store, C: Clock>(
    req: HttpRequest,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let search = SearchRequest::from_json(json_body(&req, payload, api.max_body_bytes).await?)?;
    search_response(&req, &api, org, search, &[ResourceKind::Group]).await
}

// ----- search ------------------------------------------------------------------

/// `POST /.search`: users, then groups, as one result set. A filter that
/// names attributes of only one resource type searches only that type.
pub async fn search_root<S: Store, C: Clock>(
    req: HttpRequest,
    payload: web::Payload,
    api: Api<S, C>,
) -> Reply {
    let tenant = authenticate(&req, &api).await?;
    let org = tenant.org;
    let search = SearchRequest::from_json(json_body(&req, payload, api.max_body_bytes).await?)?;
    search_response(
        &req,
        &api,
        org,
        search,
        &[ResourceKind::User, ResourceKind::Group],
    )
    .await
}

/// A list or search: the request parsed, the view's search use case (index
/// or, with a `cursor` parameter, cursor paging), each resource rendered
/// with its type's attribute projection.
async fn search_response<S: Store, C: Clock>(
    req: &HttpRequest,
    api: &ScimApi<S, C>,
    org: OrgId,
    search: SearchRequest,
    kinds: &[ResourceKind],
) -> Reply {
    let base = base_url(req, api.public_base_url.as_deref());
    let mut user_projection = None;
    let mut group_projection = None;
    for &kind in kinds {
        let rt = resource_type(kind);
        let projection = Projection::parse(&search.attributes, &search.excluded_attributes, rt)?;
        match kind {
            ResourceKind::User => user_projection = Some(projection),
            ResourceKind::Group => group_projection = Some(projection),
        }
    }
    let read_along = ReadAlong {
        user_groups: user_projection
            .as_ref()
            .is_some_and(|p| p.wants(&USER_RESOURCE, "groups")),
        group_members: group_projection
            .as_ref()
            .is_some_and(|p| p.wants(&GROUP_RESOURCE, "members")),
    };
    // The view lists only the kinds it was asked for, each with its projection.
    let render = |listed: &[Listed]| -> Vec<Value> {
        listed
            .iter()
            .filter_map(|listed| match listed {
                Listed::User { user, groups } => user_projection
                    .as_ref()
                    .map(|projection| render_user(user, groups.as_deref(), &base, projection)),
                Listed::Group(found) => group_projection.as_ref().map(|projection| {
                    render_group(&found.group, found.members.as_deref(), &base, projection)
                }),
            })
            .collect()
    };
    if search.cursor.is_some() {
        let results = api
            .view
            .search_by_cursor(org, &search, kinds, read_along, &base)
            .await?;
        return Ok(json_response(&cursor_list_response(
            results.total_results,
            render(&results.resources),
            results.next_cursor.as_deref(),
            results.previous_cursor.as_deref(),
        )));
    }
    let results = api
        .view
        .search(org, &search, kinds, read_along, &base)
        .await?;
    Ok(json_response(&list_response(
        results.total_results,
        results.start_index,
        render(&results.resources),
    )))
}
