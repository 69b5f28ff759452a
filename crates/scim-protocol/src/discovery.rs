//! Discovery documents (RFC 7643 §5, §6, §7; RFC 7644 §4): `/Schemas`,
//! `/ResourceTypes`, `/ServiceProviderConfig`.
//!
//! `base_url` is the SCIM base (`https://host/scim/v2`); a trailing `/` is
//! ignored. Locations are `{base}/Schemas/{urn}`, `{base}/ResourceTypes/{id}`,
//! `{base}/ServiceProviderConfig`.

use serde_json::{Map, Value, json};

use crate::schema::{
    AttributeDef, AttributeType, ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, GROUP_SCHEMA,
    ResourceType, Schema, USER_RESOURCE, USER_SCHEMA,
};

pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SERVICE_PROVIDER_CONFIG_URN: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// The schemas this service publishes, in `/Schemas` order.
pub static SCHEMAS: [&Schema; 3] = [&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &GROUP_SCHEMA];

/// The resource types this service serves, in `/ResourceTypes` order.
pub static RESOURCE_TYPES: [&ResourceType; 2] = [&USER_RESOURCE, &GROUP_RESOURCE];

/// The published schema with this URN (case-insensitive).
pub fn find_schema(id: &str) -> Option<&'static Schema> {
    SCHEMAS
        .iter()
        .copied()
        .find(|s| s.id.eq_ignore_ascii_case(id))
}

/// The resource type with this id (`User`, `Group`; case-insensitive).
pub fn find_resource_type(id: &str) -> Option<&'static ResourceType> {
    RESOURCE_TYPES
        .iter()
        .copied()
        .find(|rt| rt.id.eq_ignore_ascii_case(id))
}

fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// A schema's representation (RFC 7643 §7). Every attribute carries `name`,
/// `type`, `multiValued`, `description`, `required`, `mutability`, `returned`
/// and `uniqueness`; non-complex ones `caseExact`; complex ones `subAttributes`
/// (recursively); references `referenceTypes`; `canonicalValues` when defined.
pub fn schema_document(schema: &Schema, base_url: &str) -> Value {
    json!({
        "schemas": [SCHEMA_URN],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute_document).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{}/Schemas/{}", base(base_url), schema.id),
        },
    })
}

fn attribute_document(def: &AttributeDef) -> Value {
    let mut doc = Map::new();
    doc.insert("name".to_owned(), json!(def.name));
    doc.insert("type".to_owned(), json!(def.kind.as_str()));
    if def.kind == AttributeType::Complex {
        doc.insert(
            "subAttributes".to_owned(),
            Value::Array(def.sub_attributes.iter().map(attribute_document).collect()),
        );
    }
    doc.insert("multiValued".to_owned(), json!(def.multi_valued));
    doc.insert("description".to_owned(), json!(def.description));
    doc.insert("required".to_owned(), json!(def.required));
    if !def.canonical_values.is_empty() {
        doc.insert("canonicalValues".to_owned(), json!(def.canonical_values));
    }
    if def.kind != AttributeType::Complex {
        doc.insert("caseExact".to_owned(), json!(def.case_exact));
    }
    doc.insert("mutability".to_owned(), json!(def.mutability.as_str()));
    doc.insert("returned".to_owned(), json!(def.returned.as_str()));
    doc.insert("uniqueness".to_owned(), json!(def.uniqueness.as_str()));
    if def.kind == AttributeType::Reference {
        doc.insert("referenceTypes".to_owned(), json!(def.reference_types));
    }
    Value::Object(doc)
}

/// The `/Schemas` resources: User, EnterpriseUser, Group.
pub fn schemas_list(base_url: &str) -> Vec<Value> {
    SCHEMAS
        .iter()
        .map(|s| schema_document(s, base_url))
        .collect()
}

/// A resource type's representation (RFC 7643 §6). `schemaExtensions` is
/// omitted when there are none, as in the RFC's Group example.
pub fn resource_type_document(rt: &ResourceType, base_url: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".to_owned(), json!([RESOURCE_TYPE_URN]));
    doc.insert("id".to_owned(), json!(rt.id));
    doc.insert("name".to_owned(), json!(rt.name));
    doc.insert("endpoint".to_owned(), json!(rt.endpoint));
    doc.insert("description".to_owned(), json!(rt.description));
    doc.insert("schema".to_owned(), json!(rt.schema.id));
    if !rt.extensions.is_empty() {
        let extensions: Vec<Value> = rt
            .extensions
            .iter()
            .map(|e| json!({ "schema": e.schema.id, "required": e.required }))
            .collect();
        doc.insert("schemaExtensions".to_owned(), Value::Array(extensions));
    }
    doc.insert(
        "meta".to_owned(),
        json!({
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{}", base(base_url), rt.id),
        }),
    );
    Value::Object(doc)
}

/// The `/ResourceTypes` resources: User, Group.
pub fn resource_types_list(base_url: &str) -> Vec<Value> {
    RESOURCE_TYPES
        .iter()
        .map(|rt| resource_type_document(rt, base_url))
        .collect()
}

/// What the deployment supports, for [`service_provider_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderFeatures {
    /// Largest page a list or search returns (`filter.maxResults`).
    pub max_results: u64,
    /// Largest request body accepted outside Bulk. Not published: the only
    /// standard field (`bulk.maxPayloadSize`) is about Bulk.
    pub max_payload_bytes: u64,
    /// Most operations one Bulk request may carry (`bulk.maxOperations`).
    pub bulk_max_operations: u64,
    /// Largest Bulk request body (`bulk.maxPayloadSize`), in bytes.
    pub bulk_max_payload_bytes: u64,
    pub documentation_uri: Option<String>,
    /// Index and cursor paging (RFC 9865 §4).
    pub pagination: PaginationFeatures,
}

/// The `pagination` block of the service provider configuration (RFC 9865
/// §4): both methods, index the default (what clients expect when they ask
/// for neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaginationFeatures {
    /// Page size when a request gives no `count`.
    pub default_page_size: u64,
    /// Largest page, whatever `count` asks (a page may also end early by
    /// size).
    pub max_page_size: u64,
    /// How long a cursor stays valid after it was issued, in seconds.
    pub cursor_timeout_secs: u64,
}

/// The service provider configuration (RFC 7643 §5): PATCH, Bulk, filtering,
/// sorting and ETags supported; password change not; OAuth bearer tokens;
/// index and cursor paging (RFC 9865 §4).
pub fn service_provider_config(features: &ServiceProviderFeatures, base_url: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".to_owned(), json!([SERVICE_PROVIDER_CONFIG_URN]));
    if let Some(uri) = &features.documentation_uri {
        doc.insert("documentationUri".to_owned(), json!(uri));
    }
    let rest = json!({
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": features.bulk_max_operations,
            "maxPayloadSize": features.bulk_max_payload_bytes,
        },
        "filter": { "supported": true, "maxResults": features.max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": features.pagination.default_page_size,
            "maxPageSize": features.pagination.max_page_size,
            "cursorTimeout": features.pagination.cursor_timeout_secs,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", base(base_url)),
        },
    });
    if let Value::Object(rest) = rest {
        doc.extend(rest);
    }
    Value::Object(doc)
}
