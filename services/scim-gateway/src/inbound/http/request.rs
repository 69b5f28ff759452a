//! Reading what the client sent: credentials, bodies, query parameters, ETags.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use scim_protocol::{ProtocolError, messages::SearchRequest};
use serde_json::Value;

use super::errors::ApiError;
use crate::domain::models::BearerToken;
use crate::domain::service::Precondition;

/// The bearer token of `Authorization: Bearer …` (scheme case-insensitive).
pub fn bearer_token(req: &HttpRequest) -> Option<BearerToken> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| BearerToken::new(token))
}

/// Reads the body up to `limit` bytes and parses it as JSON. The limit is
/// enforced while streaming, so an oversized body is never buffered whole.
pub async fn json_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Value, ApiError> {
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let content_type = content_type
            .to_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !(essence.is_empty() || essence.ends_with("/json") || essence.ends_with("+json")) {
            return Err(ApiError::UnsupportedMediaType(essence.to_owned()));
        }
    }
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > limit
    {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BodyUnreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        ProtocolError::invalid_syntax(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
        .into()
    })
}

/// `filter`, `attributes`, paging… from the query string.
pub fn search_from_query(req: &HttpRequest) -> Result<SearchRequest, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| ProtocolError::invalid_syntax("the query string is malformed"))?;
    Ok(SearchRequest::from_query_pairs(pairs.into_inner())?)
}

/// `If-Match` as a precondition: `*` or absent is any version; otherwise the
/// listed ETags (weak or strong). An unparsable tag matches no version.
pub fn if_match(req: &HttpRequest) -> Precondition {
    match req
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        None => Precondition::Any,
        Some(v) if v.trim() == "*" => Precondition::Any,
        Some(v) => Precondition::Versions(v.split(',').filter_map(etag_version).collect()),
    }
}

/// True when `If-None-Match` names this ETag (or `*`): the client's copy is current.
pub fn if_none_match_hits(req: &HttpRequest, version: i64) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim() == "*" || v.split(',').filter_map(etag_version).any(|e| e == version)
        })
}

fn etag_version(tag: &str) -> Option<i64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::etag_version;

    #[test]
    fn etags_parse_weak_and_strong() {
        assert_eq!(etag_version("W/\"3\""), Some(3));
        assert_eq!(etag_version(" \"12\" "), Some(12));
        assert_eq!(etag_version("3"), None);
        assert_eq!(etag_version("W/\"x\""), None);
    }
}
