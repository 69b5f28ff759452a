//! `POST /Bulk` (RFC 7644 §3.7): the body read under Bulk's own size limit,
//! the request bounded and parsed, the job run by the domain, and each
//! operation's outcome answered as the same request alone would have been
//! (`status`, `location`, `version`, and the SCIM error as `response`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use scim_protocol::bulk::{BulkMethod, BulkOperationResponse, bulk_response};

use super::ScimApi;
use super::errors::ApiError;
use super::render::{base_url, json_response, location};
use super::request::{json_body, version_precondition};
use super::resources::{Store, authenticate};
use crate::domain::models::ResourceKind;
use crate::domain::ports::Clock;
use crate::domain::service::bulk::{BulkJob, BulkOutcome, BulkStep, BulkWritten};

pub async fn bulk<S: Store, C: Clock>(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ScimApi<S, C>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = authenticate(&req, &api).await?;
    // The payload limit is checked while reading, before any parsing.
    let body = json_body(&req, payload, api.bulk_max_body_bytes)
        .await
        .map_err(|e| match e {
            ApiError::PayloadTooLarge(limit) => ApiError::BulkPayloadTooLarge(limit),
            other => other,
        })?;
    let request = api.view.bulk_request(body)?;
    super::limits::charge_bulk(&api, &tenant, request.operations.len());
    let steps = request
        .operations
        .into_iter()
        .map(|operation| {
            let precondition = version_precondition(operation.version.as_deref())?;
            Ok(BulkStep {
                operation,
                precondition,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let job = BulkJob {
        fail_on_errors: request.fail_on_errors,
        steps,
    };
    let outcomes = api.view.run_bulk(&tenant, job).await;
    let base = base_url(&req, api.public_base_url.as_deref());
    let operations: Vec<BulkOperationResponse> = outcomes
        .into_iter()
        .map(|outcome| operation_response(outcome, &base))
        .collect();
    Ok(json_response(&bulk_response(&operations)))
}

/// One operation's entry: the status its single request answers with.
fn operation_response(outcome: BulkOutcome, base: &str) -> BulkOperationResponse {
    let url = match (outcome.kind, &outcome.resource_id) {
        (Some(kind), Some(id)) => Some(location(base, kind, id)),
        _ => None,
    };
    let mut response = BulkOperationResponse {
        method: outcome.method,
        bulk_id: outcome.bulk_id,
        location: None,
        version: None,
        status: 0,
        response: None,
    };
    match outcome.result {
        Ok(written) => {
            let (status, version) = match written {
                BulkWritten::Created(resource) => (StatusCode::CREATED, Some(resource.meta.etag())),
                // A group PATCH alone answers 204 (Entra expects it).
                BulkWritten::Patched(resource)
                    if outcome.kind == Some(ResourceKind::Group)
                        && outcome.method == BulkMethod::Patch =>
                {
                    (StatusCode::NO_CONTENT, Some(resource.meta.etag()))
                }
                BulkWritten::Replaced(resource) | BulkWritten::Patched(resource) => {
                    (StatusCode::OK, Some(resource.meta.etag()))
                }
                BulkWritten::Deleted => (StatusCode::NO_CONTENT, None),
            };
            response.status = status.as_u16();
            response.location = url;
            response.version = version;
        }
        Err(error) => {
            let (status, body) = ApiError::from(error).status_and_body();
            response.status = status.as_u16();
            response.response = Some(body);
        }
    }
    response
}
