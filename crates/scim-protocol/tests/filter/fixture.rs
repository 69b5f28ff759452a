//! A self-contained User/Group model (RFC 7643 §4, §8.7.1 subset plus two
//! numeric test attributes), so these tests do not depend on `schema::definitions`.

use scim_protocol::schema::{
    AttributeDef, AttributeType as T, ENTERPRISE_USER_URN, GROUP_URN, Mutability, ResourceType,
    Returned, Schema, SchemaExtension, USER_URN,
};
use scim_protocol::{ErrorKind, Filter, PatchPath};

const fn attr(name: &'static str, kind: T) -> AttributeDef {
    AttributeDef::base(name, kind)
}

const fn exact(name: &'static str, kind: T) -> AttributeDef {
    AttributeDef {
        case_exact: true,
        ..AttributeDef::base(name, kind)
    }
}

const fn multi(name: &'static str, subs: &'static [AttributeDef]) -> AttributeDef {
    AttributeDef {
        multi_valued: true,
        sub_attributes: subs,
        ..AttributeDef::base(name, T::Complex)
    }
}

const fn complex(name: &'static str, subs: &'static [AttributeDef]) -> AttributeDef {
    AttributeDef {
        sub_attributes: subs,
        ..AttributeDef::base(name, T::Complex)
    }
}

static EMAIL_SUBS: &[AttributeDef] = &[
    attr("value", T::String),
    attr("display", T::String),
    attr("type", T::String),
    attr("primary", T::Boolean),
];

static META_SUBS: &[AttributeDef] = &[
    exact("resourceType", T::String),
    attr("created", T::DateTime),
    attr("lastModified", T::DateTime),
    exact("location", T::Reference),
    exact("version", T::String),
];

static USER_ATTRS: &[AttributeDef] = &[
    AttributeDef {
        mutability: Mutability::ReadOnly,
        returned: Returned::Always,
        ..exact("id", T::String)
    },
    exact("externalId", T::String),
    complex("meta", META_SUBS),
    attr("userName", T::String),
    complex(
        "name",
        &[
            attr("formatted", T::String),
            attr("familyName", T::String),
            attr("givenName", T::String),
        ],
    ),
    attr("displayName", T::String),
    attr("nickName", T::String),
    attr("title", T::String),
    attr("userType", T::String),
    attr("active", T::Boolean),
    AttributeDef {
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        ..attr("password", T::String)
    },
    multi("emails", EMAIL_SUBS),
    multi("phoneNumbers", EMAIL_SUBS),
    multi("ims", EMAIL_SUBS),
    multi(
        "addresses",
        &[
            attr("type", T::String),
            attr("streetAddress", T::String),
            attr("locality", T::String),
            attr("country", T::String),
            attr("primary", T::Boolean),
        ],
    ),
    multi(
        "groups",
        &[
            attr("value", T::String),
            exact("$ref", T::Reference),
            attr("display", T::String),
        ],
    ),
    multi(
        "x509Certificates",
        &[attr("value", T::Binary), attr("type", T::String)],
    ),
    AttributeDef {
        multi_valued: true,
        ..attr("nicknames", T::String)
    },
    attr("loginCount", T::Integer),
    attr("score", T::Decimal),
];

static ENTERPRISE_ATTRS: &[AttributeDef] = &[
    attr("employeeNumber", T::String),
    attr("costCenter", T::String),
    attr("organization", T::String),
    attr("department", T::String),
    complex(
        "manager",
        &[
            attr("value", T::String),
            exact("$ref", T::Reference),
            attr("displayName", T::String),
        ],
    ),
];

static GROUP_ATTRS: &[AttributeDef] = &[
    exact("id", T::String),
    exact("externalId", T::String),
    complex("meta", META_SUBS),
    attr("displayName", T::String),
    multi(
        "members",
        &[
            attr("value", T::String),
            exact("$ref", T::Reference),
            attr("display", T::String),
            attr("type", T::String),
        ],
    ),
];

pub static USER_SCHEMA: Schema = Schema {
    id: USER_URN,
    name: "User",
    description: "",
    attributes: USER_ATTRS,
};

pub static ENTERPRISE_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER_URN,
    name: "EnterpriseUser",
    description: "",
    attributes: ENTERPRISE_ATTRS,
};

pub static GROUP_SCHEMA: Schema = Schema {
    id: GROUP_URN,
    name: "Group",
    description: "",
    attributes: GROUP_ATTRS,
};

pub static USER: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "",
    schema: &USER_SCHEMA,
    extensions: &[SchemaExtension {
        schema: &ENTERPRISE_SCHEMA,
        required: false,
    }],
};

pub static GROUP: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};

pub const ENT: &str = ENTERPRISE_USER_URN;

pub fn parse(s: &str) -> Filter {
    scim_protocol::filter::parse_filter(s).unwrap_or_else(|e| panic!("{s:?} must parse: {e}"))
}

pub fn path(s: &str) -> PatchPath {
    scim_protocol::filter::parse_path(s).unwrap_or_else(|e| panic!("{s:?} must parse: {e}"))
}

pub fn bound(s: &str) -> Filter {
    scim_protocol::filter::parse_bound_filter(s, &USER)
        .unwrap_or_else(|e| panic!("{s:?} must parse and bind: {e}"))
}

/// Asserts `s` fails to parse with `InvalidFilter`; returns the detail.
pub fn parse_err(s: &str) -> String {
    match scim_protocol::filter::parse_filter(s) {
        Ok(f) => panic!("{s:?} must be rejected, parsed as {f:?}"),
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::InvalidFilter, "{s:?}: {e}");
            e.detail
        }
    }
}

/// Asserts `s` parses but fails to bind against User with `InvalidFilter`.
pub fn bind_err(s: &str) -> String {
    let f = parse(s);
    match scim_protocol::filter::bind_filter(f, &USER) {
        Ok(f) => panic!("{s:?} must not bind, bound to {f:?}"),
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::InvalidFilter, "{s:?}: {e}");
            e.detail
        }
    }
}
