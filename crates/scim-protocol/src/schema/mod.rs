//! Schema model (RFC 7643 §2, §7) and attribute resolution.
//!
//! Definitions are `'static` data (see `definitions`), so resolving an attribute
//! name allocates nothing and every component shares one copy. The types and the
//! message URNs are in `model.rs`, resolving a path in `resolve.rs`.

mod definitions;
mod model;
mod resolve;

pub use definitions::{
    COMMON_ATTRIBUTES, ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, GROUP_SCHEMA, USER_RESOURCE,
    USER_SCHEMA,
};
pub use model::{
    AttributeDef, AttributeType, ENTERPRISE_USER_URN, ERROR_URN, GROUP_URN, LIST_RESPONSE_URN,
    Mutability, PATCH_OP_URN, ResolvedAttribute, ResourceType, Returned, SEARCH_REQUEST_URN,
    Schema, SchemaExtension, USER_URN, Uniqueness,
};
