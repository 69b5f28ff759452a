//! The SCIM 2.0 HTTP API (RFC 7644) on actix-web. Handlers translate HTTP into
//! use-case calls and results into SCIM JSON; every decision is in the domain.

pub mod admin;
pub mod admin_limits;
mod bulk;
mod discovery;
pub mod errors;
mod limits;
mod render;
mod request;
mod resources;

use actix_web::{HttpResponse, web};
use messaging_rabbitmq::consumer::ConsumerHealth;
use scim_protocol::discovery::{PaginationFeatures, ServiceProviderFeatures};
use service_kit::readiness::ReadinessPart;

use crate::domain::ports::{Clock, CredentialStore, GroupStore, UserStore, ViewHealth};
use crate::domain::service::ScimView;
use errors::ApiError;

/// Everything the handlers share.
pub struct ScimApi<S, C> {
    pub view: ScimView<S, C>,
    pub health: S,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest accepted Bulk request body (`bulk.maxPayloadSize`).
    pub bulk_max_body_bytes: usize,
    /// Public base URL (`https://host/scim/v2`) for `meta.location`; when unset
    /// it is derived from the request's Host.
    pub public_base_url: Option<String>,
    /// Repeated failed authentication from one address answers 429.
    pub auth_throttle: service_kit::auth_throttle::AuthThrottle,
    /// Each organization's requests in flight and rate (429 over them).
    pub fairness: std::sync::Arc<crate::domain::limits::Fairness<S>>,
    /// What this process serves on the broker, reported by `/readyz`; none
    /// without a broker (the embedded process, a gateway on its own).
    pub broker: Option<BrokerHealth>,
}

/// The gateway's parts on the broker: the consumer of licensing's events,
/// the data-key server and the journal server. `/readyz` reports each; none
/// of them makes the gateway unready — SCIM requests are served without
/// them (their events wait in the journal, consumers' key and journal
/// requests in their queues, served by any replica), and taking replicas
/// out of service would not bring the broker back: they are for alerts.
#[derive(Clone, Default)]
pub struct BrokerHealth {
    pub entitlement_consumer: ConsumerHealth,
    pub data_key_server: ConsumerHealth,
    pub data_key_queue: String,
    pub journal_server: ConsumerHealth,
    pub journal_queue: String,
}

impl BrokerHealth {
    /// Each part under its `/readyz` name (the events consumer as `queue`,
    /// as in the consuming services' reports).
    fn parts(&self) -> [(&'static str, ReadinessPart); 3] {
        [
            (
                "queue",
                ReadinessPart::EventConsumer {
                    health: self.entitlement_consumer.clone(),
                    catch_up: None,
                },
            ),
            (
                "data_key_server",
                ReadinessPart::RequestServer {
                    queue: self.data_key_queue.clone(),
                    health: self.data_key_server.clone(),
                },
            ),
            (
                "journal_server",
                ReadinessPart::RequestServer {
                    queue: self.journal_queue.clone(),
                    health: self.journal_server.clone(),
                },
            ),
        ]
    }
}

impl<S, C> ScimApi<S, C> {
    fn features(&self) -> ServiceProviderFeatures {
        ServiceProviderFeatures {
            max_results: self.view.limits().max_results,
            max_payload_bytes: self.max_body_bytes as u64,
            bulk_max_operations: self.view.limits().bulk_max_operations as u64,
            bulk_max_payload_bytes: self.bulk_max_body_bytes as u64,
            documentation_uri: None,
            pagination: PaginationFeatures {
                default_page_size: self
                    .view
                    .limits()
                    .default_count
                    .min(self.view.limits().max_results),
                max_page_size: self.view.limits().max_results,
                cursor_timeout_secs: self.view.limits().cursor_timeout.as_secs(),
            },
        }
    }
}

/// Mounts `/scim/v2`, `/healthz` and `/readyz`.
pub fn configure<S, C>(cfg: &mut web::ServiceConfig)
where
    S: UserStore + GroupStore + CredentialStore + ViewHealth,
    C: Clock,
{
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz::<S, C>))
        .service(
            web::scope("/scim/v2")
                .service(
                    web::resource("/Users")
                        .route(web::get().to(resources::list_users::<S, C>))
                        .route(web::post().to(resources::create_user::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Users/.search")
                        .route(web::post().to(resources::search_users::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Users/{id}")
                        .route(web::get().to(resources::get_user::<S, C>))
                        .route(web::put().to(resources::replace_user::<S, C>))
                        .route(web::patch().to(resources::patch_user::<S, C>))
                        .route(web::delete().to(resources::delete_user::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Groups")
                        .route(web::get().to(resources::list_groups::<S, C>))
                        .route(web::post().to(resources::create_group::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Groups/.search")
                        .route(web::post().to(resources::search_groups::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Groups/{id}")
                        .route(web::get().to(resources::get_group::<S, C>))
                        .route(web::put().to(resources::replace_group::<S, C>))
                        .route(web::patch().to(resources::patch_group::<S, C>))
                        .route(web::delete().to(resources::delete_group::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Bulk")
                        .route(web::post().to(bulk::bulk::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/.search")
                        .route(web::post().to(resources::search_root::<S, C>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(read_only(
                    "/ServiceProviderConfig",
                    discovery::provider_config::<S, C>,
                ))
                .service(read_only(
                    "/ResourceTypes",
                    discovery::resource_types::<S, C>,
                ))
                .service(read_only(
                    "/ResourceTypes/{id}",
                    discovery::resource_type::<S, C>,
                ))
                .service(read_only("/Schemas", discovery::schemas::<S, C>))
                .service(read_only("/Schemas/{id}", discovery::schema::<S, C>))
                .default_service(web::to(no_route)),
        );
}

/// A GET-only discovery resource: other methods get 405, as RFC 7644 §4 asks.
fn read_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz<S, C>(api: web::Data<ScimApi<S, C>>) -> HttpResponse
where
    S: ViewHealth,
    C: Send + Sync + 'static,
{
    match api.health.check().await {
        Ok(lag) => {
            let mut body = serde_json::json!({
                "status": "ready",
                "database": "ok",
                "journal": {
                    "unpublished": lag.unpublished,
                    "oldest_unpublished_at": lag.oldest_unpublished_at.map(|t| t.to_rfc3339()),
                    "relay_held": api.health.relay_held(),
                }
            });
            let mut problems = Vec::new();
            for (name, part) in api.broker.iter().flat_map(BrokerHealth::parts) {
                let (report, problem) = part.report();
                body[name] = report;
                problems.extend(problem.map(|p| format!("{name}: {p}")));
            }
            if !problems.is_empty() {
                body["detail"] = serde_json::json!(problems.join("; "));
            }
            HttpResponse::Ok().json(body)
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}

pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// One span per request and one log line when it is answered: the method and
/// the path as its route, never the request's own text — query strings carry
/// filters with user names and e-mails, and a path segment can carry anything a
/// client sends ([`logged_path`]).
/// Continues the caller's `traceparent` when it sends one; its own trace
/// context is what the journal records with the request's events.
/// The route a request matched, with `{id}` filled in when the id is a UUID
/// (ours are): `/scim/v2/Users/0190…`, `/scim/v2/Users/{id}` for any other
/// id, `unmatched` for a path no route serves.
fn logged_path(request: &actix_web::HttpRequest) -> String {
    let Some(pattern) = request.match_pattern() else {
        return "unmatched".to_owned();
    };
    match request.match_info().get("id") {
        Some(id) if uuid::Uuid::parse_str(id).is_ok() => pattern.replace("{id}", id),
        _ => pattern,
    }
}

pub async fn request_span(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let span = tracing::info_span!(
        "http request",
        http.method = %req.method(),
        url.path = tracing::field::Empty,
        http.status_code = tracing::field::Empty,
        // Set once the token named the organization (`limits::admit`).
        org.id = tracing::field::Empty,
        org.in_flight = tracing::field::Empty,
        throttled = tracing::field::Empty,
    );
    let incoming = req
        .headers()
        .get(trace_context::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    trace_context::continue_trace(&span, incoming);
    let started = std::time::Instant::now();
    let response = tracing::Instrument::instrument(next.call(req), span.clone()).await?;
    let status = response.status().as_u16();
    span.record("http.status_code", status);
    span.record("url.path", logged_path(response.request()));
    // The request line, inside the span so that it carries the trace id.
    span.in_scope(|| {
        tracing::info!(
            target: "scim_gateway::http",
            status,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
    Ok(response)
}
