//! What every `/admin/v1` API shares: the admin key check, the error body
//! (`{"status": …, "detail": "…"}`), ids in paths, keyset page parameters.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::admin_key::AdminKey;

/// Whether the request carries the admin key.
pub fn authorized(req: &HttpRequest, key: &AdminKey) -> bool {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    key.accepts_header(header)
}

/// The admin APIs' error body; 401 carries `WWW-Authenticate`.
pub fn error_response(status: StatusCode, detail: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header(("WWW-Authenticate", "Bearer realm=\"admin\""));
    }
    response.json(json!({ "status": status.as_u16(), "detail": detail }))
}

/// An id path segment; `None` when it is not a UUID (which names nothing: 404).
pub fn path_id(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text).ok()
}

/// `?after=…&limit=…` of keyset-paged lists.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub after: Option<String>,
    pub limit: Option<u64>,
}

/// The query string's parameters, or the parse error's text (for a 400).
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, String> {
    actix_web::web::Query::<T>::from_query(req.query_string())
        .map(actix_web::web::Query::into_inner)
        .map_err(|e| e.to_string())
}
