//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`: what this server
//! supports, generated from the same definitions the validator uses.

use actix_web::{HttpRequest, HttpResponse, web};
use scim_protocol::{
    discovery::{
        find_resource_type, find_schema, resource_type_document, resource_types_list,
        schema_document, schemas_list, service_provider_config,
    },
    messages::list_response,
};

use super::ScimApi;
use super::errors::ApiError;
use super::render::{base_url, json_response};

type Api<S, C> = web::Data<ScimApi<S, C>>;

fn base<S, C>(req: &HttpRequest, api: &ScimApi<S, C>) -> String {
    base_url(req, api.public_base_url.as_deref())
}

pub async fn provider_config<S: Send + Sync + 'static, C: Send + Sync + 'static>(
    req: HttpRequest,
    api: Api<S, C>,
) -> HttpResponse {
    json_response(&service_provider_config(&api.features(), &base(&req, &api)))
}

pub async fn resource_types<S: Send + Sync + 'static, C: Send + Sync + 'static>(
    req: HttpRequest,
    api: Api<S, C>,
) -> HttpResponse {
    let items = resource_types_list(&base(&req, &api));
    json_response(&list_response(items.len() as u64, 1, items))
}

pub async fn resource_type<S: Send + Sync + 'static, C: Send + Sync + 'static>(
    req: HttpRequest,
    id: web::Path<String>,
    api: Api<S, C>,
) -> Result<HttpResponse, ApiError> {
    let rt = find_resource_type(&id).ok_or(ApiError::NoRoute)?;
    Ok(json_response(&resource_type_document(
        rt,
        &base(&req, &api),
    )))
}

pub async fn schemas<S: Send + Sync + 'static, C: Send + Sync + 'static>(
    req: HttpRequest,
    api: Api<S, C>,
) -> HttpResponse {
    let items = schemas_list(&base(&req, &api));
    json_response(&list_response(items.len() as u64, 1, items))
}

pub async fn schema<S: Send + Sync + 'static, C: Send + Sync + 'static>(
    req: HttpRequest,
    id: web::Path<String>,
    api: Api<S, C>,
) -> Result<HttpResponse, ApiError> {
    let schema = find_schema(&id).ok_or(ApiError::NoRoute)?;
    Ok(json_response(&schema_document(schema, &base(&req, &api))))
}
