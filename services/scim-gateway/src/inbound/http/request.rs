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
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE)
        && !is_json_media_type(content_type)
    {
        return Err(ApiError::UnsupportedMediaType);
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

/// True for `application/json`, `application/scim+json` and any other
/// `application/…+json`, with or without parameters. A value that is not
/// visible ASCII cannot be read, so it is no JSON type either.
fn is_json_media_type(value: &header::HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application") && (subtype == "json" || subtype.ends_with("+json"))
}

fn unreadable(name: &str) -> ApiError {
    ProtocolError::invalid_syntax(format!(
        "{name} must be * or a comma-separated list of entity tags such as W/\"3\""
    ))
    .into()
}

/// The entity tags of every `name` header line; `None` when there is none,
/// `Some(None)` for `*`. A value that is not ASCII or not an entity-tag list
/// is an error: a precondition that cannot be read must not be taken as
/// absent. A well-formed tag that is not one of ours (`"abc"`) matches no
/// version.
fn entity_tags(
    req: &HttpRequest,
    name: header::HeaderName,
    label: &str,
) -> Result<Option<Option<Vec<i64>>>, ApiError> {
    let mut lines = req.headers().get_all(&name).peekable();
    if lines.peek().is_none() {
        return Ok(None);
    }
    let mut versions = Vec::new();
    for line in lines {
        let text = line.to_str().map_err(|_| unreadable(label))?;
        if text.trim() == "*" {
            return Ok(Some(None));
        }
        for tag in text.split(',') {
            versions.extend(etag_version(tag).map_err(|()| unreadable(label))?);
        }
    }
    Ok(Some(Some(versions)))
}

/// The precondition of a write (RFC 9110 §13.2.2): `If-Match` — `*` or
/// absent is any version, else the listed ETags (weak or strong) — and then
/// `If-None-Match`, whose `*` no existing resource passes and whose tags
/// exclude those versions.
pub fn precondition(req: &HttpRequest) -> Result<Precondition, ApiError> {
    let if_match = entity_tags(req, header::IF_MATCH, "If-Match")?;
    let if_none_match = entity_tags(req, header::IF_NONE_MATCH, "If-None-Match")?;
    Ok(match (if_match, if_none_match) {
        (_, Some(None)) => Precondition::Versions(Vec::new()),
        (None | Some(None), None) => Precondition::Any,
        (None | Some(None), Some(Some(excluded))) => Precondition::Except(excluded),
        (Some(Some(versions)), excluded) => {
            let excluded = excluded.flatten().unwrap_or_default();
            Precondition::Versions(
                versions
                    .into_iter()
                    .filter(|v| !excluded.contains(v))
                    .collect(),
            )
        }
    })
}

/// A Bulk operation's `version` (RFC 7644 §3.7): its `If-Match`. Unreadable
/// is an error, as in the header.
pub fn version_precondition(version: Option<&str>) -> Result<Precondition, ApiError> {
    let Some(version) = version.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Precondition::Any);
    };
    if version == "*" {
        return Ok(Precondition::Any);
    }
    let mut versions = Vec::new();
    for tag in version.split(',') {
        versions.extend(etag_version(tag).map_err(|()| unreadable("a bulk operation's version"))?);
    }
    Ok(Precondition::Versions(versions))
}

/// `If-None-Match` as the client sent it: [`None`] without the header.
/// Read before the resource, so a malformed one refuses the request.
pub struct IfNoneMatch(Option<Option<Vec<i64>>>);

impl IfNoneMatch {
    pub fn read(req: &HttpRequest) -> Result<Self, ApiError> {
        entity_tags(req, header::IF_NONE_MATCH, "If-None-Match").map(Self)
    }

    /// True when it names this version (or is `*`): the client's copy is current.
    pub fn hits(&self, version: i64) -> bool {
        match &self.0 {
            None => false,
            Some(None) => true,
            Some(Some(versions)) => versions.contains(&version),
        }
    }
}

/// One entity tag (RFC 9110 §8.8.3): `W/"…"` or `"…"`, its opaque part
/// visible ASCII without `"`. Ours hold the version number; another
/// well-formed tag is `Ok(None)`, anything else `Err`.
fn etag_version(tag: &str) -> Result<Option<i64>, ()> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    let opaque = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or(())?;
    if !opaque
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b))
    {
        return Err(());
    }
    Ok(opaque.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::etag_version;

    #[test]
    fn etags_parse_weak_and_strong() {
        assert_eq!(etag_version("W/\"3\""), Ok(Some(3)));
        assert_eq!(etag_version(" \"12\" "), Ok(Some(12)));
        assert_eq!(etag_version("W/\"x\""), Ok(None));
        assert_eq!(etag_version("3"), Err(()));
        assert_eq!(etag_version("W/\"é\""), Err(()));
        assert_eq!(etag_version("\"a b\""), Err(()));
        assert_eq!(etag_version(""), Err(()));
    }
}
