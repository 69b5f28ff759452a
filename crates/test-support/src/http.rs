//! Requests to an actix app in the tests' process (`actix_web::test`), and
//! its answers read back as status, headers and JSON.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use serde_json::Value;

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Reads an app's answer: JSON, `Null` when empty, the text otherwise.
    pub async fn read<B: MessageBody>(response: ServiceResponse<B>) -> Response {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = test::read_body(response).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Response {
            status,
            headers,
            body,
        }
    }
}

/// A request of `method` (GET, POST, PUT, PATCH or DELETE) to `uri`.
pub fn request(method: &str, uri: &str) -> TestRequest {
    match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "PUT" => TestRequest::put(),
        "PATCH" => TestRequest::patch(),
        "DELETE" => TestRequest::delete(),
        other => panic!("unsupported method {other}"),
    }
    .uri(uri)
}

/// `request` with `Authorization: Bearer <key>` when a key is given and,
/// when a body is given, the body with `content_type`.
pub fn authorized(
    request: TestRequest,
    key: Option<&str>,
    content_type: &str,
    body: Option<&Value>,
) -> TestRequest {
    let request = match key {
        Some(key) => request.insert_header(("Authorization", format!("Bearer {key}"))),
        None => request,
    };
    match body {
        Some(body) => request
            .insert_header(("Content-Type", content_type.to_owned()))
            .set_payload(body.to_string()),
        None => request,
    }
}

/// A SCIM request (`uri` below `/scim/v2`) with an organization's token.
pub fn scim_request(method: &str, uri: &str, token: &str, body: Option<&Value>) -> TestRequest {
    authorized(
        request(method, &format!("/scim/v2{uri}")),
        Some(token),
        "application/scim+json",
        body,
    )
}

/// An admin API request (`path` as is) with the admin key, if any.
pub fn admin_request(
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> TestRequest {
    authorized(request(method, path), key, "application/json", body)
}
