//! The schema model: attribute characteristics, schemas, resource types, the
//! protocol's URNs, and resolving an attribute path against a resource type.

use crate::ast::AttrPath;

pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttributeType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Decimal => "decimal",
            AttributeType::Integer => "integer",
            AttributeType::DateTime => "dateTime",
            AttributeType::Binary => "binary",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition with its characteristics (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy)]
pub struct AttributeDef {
    pub name: &'static str,
    pub kind: AttributeType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttributeDef],
}

impl AttributeDef {
    /// A single-valued, optional, readWrite, default-returned, non-unique,
    /// case-insensitive attribute: the most common shape. Adjust with struct update syntax.
    pub const fn base(name: &'static str, kind: AttributeType) -> Self {
        Self {
            name,
            kind,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            description: "",
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
        }
    }

    /// Case-insensitive lookup of a sub-attribute.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttributeDef],
}

impl Schema {
    /// Case-insensitive lookup of a top-level attribute.
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug)]
pub struct SchemaExtension {
    pub schema: &'static Schema,
    pub required: bool,
}

/// A resource type (RFC 7643 §6): its core schema, its extensions, and the
/// common attributes (`id`, `externalId`, `meta`) every resource carries.
#[derive(Debug)]
pub struct ResourceType {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    pub extensions: &'static [SchemaExtension],
}

/// Where a resolved attribute lives, with its canonical definition.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttribute {
    /// `None` for the common attributes, which belong to no schema.
    pub schema: Option<&'static Schema>,
    pub attribute: &'static AttributeDef,
    pub sub_attribute: Option<&'static AttributeDef>,
}

impl ResolvedAttribute {
    /// The definition the path ends at: the sub-attribute when there is one.
    pub fn target(&self) -> &'static AttributeDef {
        self.sub_attribute.unwrap_or(self.attribute)
    }

    /// True when the attribute lives in an extension schema (its JSON sits under the URN key).
    pub fn is_extension(&self, resource: &ResourceType) -> bool {
        self.schema
            .is_some_and(|s| !std::ptr::eq(s, resource.schema))
    }

    /// The path with canonical spelling: names as the schema writes them, the URN
    /// kept only for extension attributes.
    pub fn canonical_path(&self, resource: &ResourceType) -> AttrPath {
        AttrPath {
            schema: if self.is_extension(resource) {
                self.schema.map(|s| s.id.to_owned())
            } else {
                None
            },
            name: self.attribute.name.to_owned(),
            sub_attr: self.sub_attribute.map(|s| s.name.to_owned()),
        }
    }
}

impl ResourceType {
    /// Every schema of this resource type, core first.
    pub fn schemas(&self) -> impl Iterator<Item = &'static Schema> + '_ {
        std::iter::once(self.schema).chain(self.extensions.iter().map(|e| e.schema))
    }

    /// The schema with this URN (case-insensitive), core or extension.
    pub fn schema_by_urn(&self, urn: &str) -> Option<&'static Schema> {
        self.schemas().find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}
