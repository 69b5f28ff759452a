//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`: what this server
//! supports, generated from the same definitions the validator uses.

use actix_web::{HttpRequest, HttpResponse, web};
use scim_protocol::{
    discovery::{resource_type_document, schema_document, schemas_list, service_provider_config},
    messages::list_response,
    schema::{GROUP_RESOURCE, USER_RESOURCE},
};

use super::ScimApi;
use super::errors::ApiError;
use super::render::{base_url, json_response};

pub async fn provider_config<S: Send + Sync + 'static, C: Send + Sync + 'static>(
    req: HttpRequest,
    api: web::Data<ScimApi<S, C>>,
) -> HttpResponse {
    let base = base_url(&req, api.public_base_url.as_deref());
    json_response(&service_provider_config(&api.features(), &base))
}

fn resource_types_json(base: &str) -> Vec<serde_json::Value> {
    [&USER_RESOURCE, &GROUP_RESOURCE]
        .into_iter()
        .map(|rt| resource_type_document(rt, base))
        .collect()
}

pub async fn resource_types(req: HttpRequest) -> HttpResponse {
    let base = base_url(&req, None);
    let items = resource_types_json(&base);
    json_response(&list_response(items.len() as u64, 1, items))
}

pub async fn resource_type(
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let base = base_url(&req, None);
    [&USER_RESOURCE, &GROUP_RESOURCE]
        .into_iter()
        .find(|rt| rt.id.eq_ignore_ascii_case(&id) || rt.name.eq_ignore_ascii_case(&id))
        .map(|rt| json_response(&resource_type_document(rt, &base)))
        .ok_or(ApiError::NoRoute)
}

pub async fn schemas(req: HttpRequest) -> HttpResponse {
    let base = base_url(&req, None);
    let items = schemas_list(&base);
    json_response(&list_response(items.len() as u64, 1, items))
}

pub async fn schema(req: HttpRequest, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let base = base_url(&req, None);
    [&USER_RESOURCE, &GROUP_RESOURCE]
        .into_iter()
        .flat_map(|rt| rt.schemas())
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .map(|s| json_response(&schema_document(s, &base)))
        .ok_or(ApiError::NoRoute)
}
