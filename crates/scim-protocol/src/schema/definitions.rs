//! The core User, Group and Enterprise User schemas (RFC 7643 §4, §8.7.1) and the
//! common attributes. PLACEHOLDER — being filled in.

use super::{AttributeDef, ResourceType, Schema, SchemaExtension};

pub static COMMON_ATTRIBUTES: &[AttributeDef] = &[];

pub static USER_SCHEMA: Schema = Schema {
    id: super::USER_URN,
    name: "User",
    description: "User Account",
    attributes: &[],
};

pub static GROUP_SCHEMA: Schema = Schema {
    id: super::GROUP_URN,
    name: "Group",
    description: "Group",
    attributes: &[],
};

pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: super::ENTERPRISE_USER_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[],
};

pub static USER_RESOURCE: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER_SCHEMA,
    extensions: &[SchemaExtension {
        schema: &ENTERPRISE_USER_SCHEMA,
        required: false,
    }],
};

pub static GROUP_RESOURCE: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};
