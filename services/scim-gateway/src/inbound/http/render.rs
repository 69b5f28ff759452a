//! Turning stored resources into SCIM JSON: `id`, `meta`, `groups`/`members`,
//! then `attributes`/`excludedAttributes` projection.

use actix_web::HttpRequest;
use actix_web::http::header;
use chrono::{DateTime, SecondsFormat, Utc};
use scim_protocol::{
    AttrPath,
    projection::{is_requested, parse_attribute_list, project},
    schema::ResourceType,
};
use serde_json::{Map, Value, json};

use super::errors::{ApiError, SCIM_CONTENT_TYPE};
use crate::domain::models::{GroupRef, MemberRef, ResourceKind, StoredResource};

/// Microsecond precision: what is stored, so a client filtering on
/// `meta.lastModified` with a value it read back compares exactly.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn base_url(req: &HttpRequest, configured: Option<&str>) -> String {
    match configured {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}/scim/v2", info.scheme(), info.host())
        }
    }
}

/// The `attributes` / `excludedAttributes` a request asked for.
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    pub fn parse(
        attributes: &[String],
        excluded: &[String],
        rt: &ResourceType,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            attributes: parse_list(attributes, rt)?,
            excluded: parse_list(excluded, rt)?,
        })
    }

    pub fn wants(&self, rt: &ResourceType, attribute: &str) -> bool {
        is_requested(rt, &self.attributes, &self.excluded, attribute)
    }

    pub fn is_explicit(&self) -> bool {
        !self.attributes.is_empty() || !self.excluded.is_empty()
    }

    pub fn apply(&self, resource: &Value, rt: &ResourceType) -> Value {
        project(resource, rt, &self.attributes, &self.excluded)
    }
}

fn parse_list(items: &[String], rt: &ResourceType) -> Result<Vec<AttrPath>, ApiError> {
    let mut out = Vec::new();
    for item in items {
        out.extend(parse_attribute_list(item, rt)?);
    }
    Ok(out)
}

/// The full resource, before projection.
pub fn resource_json(
    stored: &StoredResource,
    kind: ResourceKind,
    base_url: &str,
    extra: Option<(&str, Value)>,
) -> Value {
    let mut out = Map::new();
    let mut document = match &stored.document {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    if let Some(schemas) = document.remove("schemas") {
        out.insert("schemas".into(), schemas);
    }
    out.insert("id".into(), Value::String(stored.id.to_string()));
    out.extend(document);
    if let Some((key, value)) = extra {
        out.insert(key.into(), value);
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.as_str(),
            "created": timestamp(stored.meta.created),
            "lastModified": timestamp(stored.meta.last_modified),
            "location": location(base_url, kind, &stored.id.to_string()),
            "version": stored.meta.etag(),
        }),
    );
    Value::Object(out)
}

pub fn location(base_url: &str, kind: ResourceKind, id: &str) -> String {
    match kind {
        ResourceKind::User => format!("{base_url}/Users/{id}"),
        ResourceKind::Group => format!("{base_url}/Groups/{id}"),
    }
}

pub fn groups_json(groups: &[GroupRef], base_url: &str) -> Value {
    Value::Array(
        groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.id.to_string(),
                    "$ref": location(base_url, ResourceKind::Group, &g.id.to_string()),
                    "display": g.display_name,
                    "type": "direct",
                })
            })
            .collect(),
    )
}

pub fn members_json(members: &[MemberRef], base_url: &str) -> Value {
    Value::Array(
        members
            .iter()
            .map(|m| {
                json!({
                    "value": m.id.to_string(),
                    "$ref": location(base_url, m.kind, &m.id.to_string()),
                    "type": m.kind.as_str(),
                })
            })
            .collect(),
    )
}

/// A single-resource response with its ETag.
pub fn resource_response(
    status: actix_web::http::StatusCode,
    body: &Value,
    stored: &StoredResource,
    location_url: Option<String>,
) -> actix_web::HttpResponse {
    let mut response = actix_web::HttpResponse::build(status);
    response
        .insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE))
        .insert_header((header::ETAG, stored.meta.etag()));
    if let Some(url) = location_url {
        response.insert_header((header::LOCATION, url));
    }
    response.body(body.to_string())
}

pub fn json_response(body: &Value) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE))
        .body(body.to_string())
}
