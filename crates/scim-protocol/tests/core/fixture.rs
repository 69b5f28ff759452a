//! A resource type exercising what the RFC schemas lack: integer, decimal and
//! dateTime attributes, an immutable attribute, a `returned: request` attribute,
//! a required extension.

use scim_protocol::schema::{
    AttributeDef, AttributeType, Mutability, ResourceType, Returned, Schema, SchemaExtension,
};

pub const CORE: &str = "urn:example:params:scim:schemas:core:1.0:Device";
pub const EXT: &str = "urn:example:params:scim:schemas:extension:1.0:Device";

const PORT_SUBS: &[AttributeDef] = &[
    AttributeDef::base("value", AttributeType::Integer),
    AttributeDef {
        mutability: Mutability::Immutable,
        ..AttributeDef::base("serial", AttributeType::String)
    },
    AttributeDef {
        returned: Returned::Request,
        ..AttributeDef::base("secret", AttributeType::String)
    },
];

pub static DEVICE_SCHEMA: Schema = Schema {
    id: CORE,
    name: "Device",
    description: "Device",
    attributes: &[
        AttributeDef {
            required: true,
            ..AttributeDef::base("label", AttributeType::String)
        },
        AttributeDef::base("count", AttributeType::Integer),
        AttributeDef::base("ratio", AttributeType::Decimal),
        AttributeDef::base("seen", AttributeType::DateTime),
        AttributeDef {
            mutability: Mutability::Immutable,
            case_exact: false,
            ..AttributeDef::base("hardwareId", AttributeType::String)
        },
        AttributeDef {
            returned: Returned::Request,
            ..AttributeDef::base("notes", AttributeType::String)
        },
        AttributeDef {
            sub_attributes: PORT_SUBS,
            ..AttributeDef::base("port", AttributeType::Complex)
        },
        AttributeDef {
            multi_valued: true,
            ..AttributeDef::base("tags", AttributeType::String)
        },
    ],
};

pub static DEVICE_EXT: Schema = Schema {
    id: EXT,
    name: "DeviceExtension",
    description: "Device extension",
    attributes: &[AttributeDef {
        required: true,
        ..AttributeDef::base("owner", AttributeType::String)
    }],
};

pub static DEVICE: ResourceType = ResourceType {
    id: "Device",
    name: "Device",
    endpoint: "/Devices",
    description: "Device",
    schema: &DEVICE_SCHEMA,
    extensions: &[SchemaExtension {
        schema: &DEVICE_EXT,
        required: true,
    }],
};

/// Top-level keys of a JSON object, in order.
pub fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}
