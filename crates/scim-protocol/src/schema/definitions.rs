//! The core User, Group and Enterprise User schemas (RFC 7643 §4, §8.7.1) and the
//! common attributes (§3.1), with the characteristics of the RFC's schema
//! representation.
//!
//! Deviations from §8.7.1, all deliberate:
//! - `Group.displayName` is required (the RFC's §8.7.1 says optional; every
//!   provisioning client sends it and the gateway needs it to render members).
//! - `password` is `caseExact` (§8.7.1 says false; passwords are case-sensitive).
//! - `addresses` has `primary` (§4.1.2 lists it; §8.7.1 omits it).
//! - `members` has a readOnly `display` (server-computed; §4.2 mentions it, §8.7.1 omits it).

use super::model::{
    AttributeDef, AttributeType, ENTERPRISE_USER_URN, GROUP_URN, Mutability, ResourceType,
    Returned, Schema, SchemaExtension, USER_URN, Uniqueness,
};

const fn string(name: &'static str) -> AttributeDef {
    AttributeDef::base(name, AttributeType::String)
}

const fn boolean(name: &'static str) -> AttributeDef {
    AttributeDef::base(name, AttributeType::Boolean)
}

const fn reference(name: &'static str, types: &'static [&'static str]) -> AttributeDef {
    let mut a = AttributeDef::base(name, AttributeType::Reference);
    a.reference_types = types;
    a
}

const fn complex(name: &'static str, subs: &'static [AttributeDef]) -> AttributeDef {
    let mut a = AttributeDef::base(name, AttributeType::Complex);
    a.sub_attributes = subs;
    a
}

const fn multi(mut a: AttributeDef) -> AttributeDef {
    a.multi_valued = true;
    a
}

const fn read_only(mut a: AttributeDef) -> AttributeDef {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn immutable(mut a: AttributeDef) -> AttributeDef {
    a.mutability = Mutability::Immutable;
    a
}

const fn case_exact(mut a: AttributeDef) -> AttributeDef {
    a.case_exact = true;
    a
}

const fn canonical(mut a: AttributeDef, values: &'static [&'static str]) -> AttributeDef {
    a.canonical_values = values;
    a
}

const fn described(mut a: AttributeDef, description: &'static str) -> AttributeDef {
    a.description = description;
    a
}

// ---------------------------------------------------------------------------
// Common attributes (§3.1)

const META_SUBS: &[AttributeDef] = &[
    described(
        read_only(case_exact(string("resourceType"))),
        "The name of the resource type of the resource.",
    ),
    described(
        read_only(AttributeDef::base("created", AttributeType::DateTime)),
        "The DateTime that the resource was added to the service provider.",
    ),
    described(
        read_only(AttributeDef::base("lastModified", AttributeType::DateTime)),
        "The most recent DateTime that the details of this resource were updated at the service provider.",
    ),
    described(
        read_only(case_exact(reference("location", &["uri"]))),
        "The URI of the resource being returned.",
    ),
    described(
        read_only(case_exact(string("version"))),
        "The version of the resource being returned (an entity tag).",
    ),
];

/// `id`, `externalId` and `meta`, carried by every resource and owned by no schema.
pub static COMMON_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef {
        mutability: Mutability::ReadOnly,
        returned: Returned::Always,
        uniqueness: Uniqueness::Server,
        case_exact: true,
        description: "A unique identifier for a SCIM resource as defined by the service provider.",
        ..string("id")
    },
    described(
        case_exact(string("externalId")),
        "A String that is an identifier for the resource as defined by the provisioning client.",
    ),
    described(
        read_only(complex("meta", META_SUBS)),
        "A complex attribute containing resource metadata.",
    ),
];

// ---------------------------------------------------------------------------
// User (§4.1, §8.7.1)

const NAME_SUBS: &[AttributeDef] = &[
    described(
        string("formatted"),
        "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display.",
    ),
    described(
        string("familyName"),
        "The family name of the User, or last name in most Western languages.",
    ),
    described(
        string("givenName"),
        "The given name of the User, or first name in most Western languages.",
    ),
    described(string("middleName"), "The middle name(s) of the User."),
    described(
        string("honorificPrefix"),
        "The honorific prefix(es) of the User, or title in most Western languages.",
    ),
    described(
        string("honorificSuffix"),
        "The honorific suffix(es) of the User, or suffix in most Western languages.",
    ),
];

/// `value`, `display`, `type` (with the given canonical values), `primary`.
macro_rules! plural_subs {
    ($value:expr, $value_desc:expr, $types:expr) => {
        &[
            described($value, $value_desc),
            described(
                string("display"),
                "A human-readable name, primarily used for display purposes.",
            ),
            described(
                canonical(string("type"), $types),
                "A label indicating the attribute's function.",
            ),
            described(
                boolean("primary"),
                "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.",
            ),
        ]
    };
}

const EMAIL_SUBS: &[AttributeDef] = plural_subs!(
    string("value"),
    "Email address for the User.",
    &["work", "home", "other"]
);

const PHONE_SUBS: &[AttributeDef] = plural_subs!(
    string("value"),
    "Phone number of the User.",
    &["work", "home", "mobile", "fax", "pager", "other"]
);

const IM_SUBS: &[AttributeDef] = plural_subs!(
    string("value"),
    "Instant messaging address for the User.",
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
);

const PHOTO_SUBS: &[AttributeDef] = plural_subs!(
    reference("value", &["external"]),
    "URL of a photo of the User.",
    &["photo", "thumbnail"]
);

const ENTITLEMENT_SUBS: &[AttributeDef] =
    plural_subs!(string("value"), "The value of an entitlement.", &[]);

const ROLE_SUBS: &[AttributeDef] = plural_subs!(string("value"), "The value of a role.", &[]);

const X509_SUBS: &[AttributeDef] = plural_subs!(
    case_exact(AttributeDef::base("value", AttributeType::Binary)),
    "The value of an X.509 certificate.",
    &[]
);

const ADDRESS_SUBS: &[AttributeDef] = &[
    described(
        string("formatted"),
        "The full mailing address, formatted for display or use with a mailing label.",
    ),
    described(
        string("streetAddress"),
        "The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information.",
    ),
    described(string("locality"), "The city or locality component."),
    described(string("region"), "The state or region component."),
    described(
        string("postalCode"),
        "The zip code or postal code component.",
    ),
    described(string("country"), "The country name component."),
    described(
        canonical(string("type"), &["work", "home", "other"]),
        "A label indicating the attribute's function.",
    ),
    described(
        boolean("primary"),
        "A Boolean value indicating the 'primary' or preferred address.",
    ),
];

const USER_GROUP_SUBS: &[AttributeDef] = &[
    described(
        read_only(string("value")),
        "The identifier of the User's group.",
    ),
    described(
        read_only(case_exact(reference("$ref", &["User", "Group"]))),
        "The URI of the corresponding 'Group' resource to which the user belongs.",
    ),
    described(
        read_only(string("display")),
        "A human-readable name, primarily used for display purposes.",
    ),
    described(
        read_only(canonical(string("type"), &["direct", "indirect"])),
        "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.",
    ),
];

const USER_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef {
        required: true,
        uniqueness: Uniqueness::Server,
        description: "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.",
        ..string("userName")
    },
    described(
        complex("name", NAME_SUBS),
        "The components of the user's real name.",
    ),
    described(
        string("displayName"),
        "The name of the User, suitable for display to end-users.",
    ),
    described(
        string("nickName"),
        "The casual way to address the user in real life.",
    ),
    described(
        reference("profileUrl", &["external"]),
        "A fully qualified URL pointing to a page representing the User's online profile.",
    ),
    described(
        string("title"),
        "The user's title, such as \"Vice President\".",
    ),
    described(
        string("userType"),
        "Used to identify the relationship between the organization and the user.",
    ),
    described(
        string("preferredLanguage"),
        "Indicates the User's preferred written or spoken language.",
    ),
    described(
        string("locale"),
        "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations.",
    ),
    described(
        string("timezone"),
        "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'.",
    ),
    described(
        boolean("active"),
        "A Boolean value indicating the User's administrative status.",
    ),
    AttributeDef {
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        case_exact: true,
        description: "The User's cleartext password.",
        ..string("password")
    },
    described(
        multi(complex("emails", EMAIL_SUBS)),
        "Email addresses for the user.",
    ),
    described(
        multi(complex("phoneNumbers", PHONE_SUBS)),
        "Phone numbers for the User.",
    ),
    described(
        multi(complex("ims", IM_SUBS)),
        "Instant messaging addresses for the User.",
    ),
    described(
        multi(complex("photos", PHOTO_SUBS)),
        "URLs of photos of the User.",
    ),
    described(
        multi(complex("addresses", ADDRESS_SUBS)),
        "A physical mailing address for this User.",
    ),
    described(
        read_only(multi(complex("groups", USER_GROUP_SUBS))),
        "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.",
    ),
    described(
        multi(complex("entitlements", ENTITLEMENT_SUBS)),
        "A list of entitlements for the User that represent a thing the User has.",
    ),
    described(
        multi(complex("roles", ROLE_SUBS)),
        "A list of roles for the User that collectively represent who the User is.",
    ),
    described(
        multi(complex("x509Certificates", X509_SUBS)),
        "A list of certificates issued to the User.",
    ),
];

/// `urn:ietf:params:scim:schemas:core:2.0:User`.
pub static USER_SCHEMA: Schema = Schema {
    id: USER_URN,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

// ---------------------------------------------------------------------------
// Group (§4.2, §8.7.1)

const MEMBER_SUBS: &[AttributeDef] = &[
    described(
        immutable(string("value")),
        "Identifier of the member of this Group.",
    ),
    described(
        immutable(case_exact(reference("$ref", &["User", "Group"]))),
        "The URI corresponding to a SCIM resource that is a member of this Group.",
    ),
    described(
        read_only(string("display")),
        "A human-readable name, primarily used for display purposes.",
    ),
    described(
        immutable(canonical(string("type"), &["User", "Group"])),
        "A label indicating the type of resource, e.g., 'User' or 'Group'.",
    ),
];

const GROUP_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef {
        required: true,
        // Unique per organization, case-insensitively (docs/scim.md).
        uniqueness: Uniqueness::Server,
        description: "A human-readable name for the Group.",
        ..string("displayName")
    },
    described(
        multi(complex("members", MEMBER_SUBS)),
        "A list of members of the Group.",
    ),
];

/// `urn:ietf:params:scim:schemas:core:2.0:Group`.
pub static GROUP_SCHEMA: Schema = Schema {
    id: GROUP_URN,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

// ---------------------------------------------------------------------------
// Enterprise User extension (§4.3, §8.7.1)

const MANAGER_SUBS: &[AttributeDef] = &[
    described(
        string("value"),
        "The id of the SCIM resource representing the User's manager.",
    ),
    described(
        case_exact(reference("$ref", &["User"])),
        "The URI of the SCIM resource representing the User's manager.",
    ),
    described(
        read_only(string("displayName")),
        "The displayName of the User's manager.",
    ),
];

const ENTERPRISE_ATTRIBUTES: &[AttributeDef] = &[
    described(
        string("employeeNumber"),
        "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.",
    ),
    described(
        string("costCenter"),
        "Identifies the name of a cost center.",
    ),
    described(
        string("organization"),
        "Identifies the name of an organization.",
    ),
    described(string("division"), "Identifies the name of a division."),
    described(string("department"), "Identifies the name of a department."),
    described(complex("manager", MANAGER_SUBS), "The User's manager."),
];

/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

// ---------------------------------------------------------------------------
// Resource types (§6)

/// `/Users`: core User schema plus the optional Enterprise User extension.
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

/// `/Groups`: core Group schema, no extensions.
pub static GROUP_RESOURCE: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::AttrPath;
    use crate::schema::ENTERPRISE_USER_URN;

    fn resolve(rt: &ResourceType, path: AttrPath) -> crate::schema::ResolvedAttribute {
        match rt.resolve(&path) {
            Some(r) => r,
            None => unreachable!("{path} should resolve"),
        }
    }

    #[test]
    fn resolves_core_attributes_case_insensitively() {
        let r = resolve(&USER_RESOURCE, AttrPath::new("USERNAME"));
        assert_eq!(r.target().name, "userName");
        assert!(r.target().required);
        assert_eq!(r.target().uniqueness, Uniqueness::Server);

        let r = resolve(&USER_RESOURCE, AttrPath::with_sub("NAME", "givenname"));
        assert_eq!(r.attribute.name, "name");
        assert_eq!(r.target().name, "givenName");
        assert_eq!(
            r.canonical_path(&USER_RESOURCE).to_string(),
            "name.givenName"
        );

        let r = resolve(&USER_RESOURCE, AttrPath::with_sub("emails", "value"));
        assert!(r.attribute.multi_valued);
        assert_eq!(r.target().kind, AttributeType::String);
    }

    #[test]
    fn resolves_extension_and_common_attributes() {
        let r = resolve(
            &USER_RESOURCE,
            AttrPath::with_sub("manager", "value").in_schema(ENTERPRISE_USER_URN),
        );
        assert!(r.is_extension(&USER_RESOURCE));
        assert_eq!(
            r.canonical_path(&USER_RESOURCE).to_string(),
            format!("{ENTERPRISE_USER_URN}:manager.value")
        );

        let r = resolve(&USER_RESOURCE, AttrPath::with_sub("meta", "lastModified"));
        assert!(r.schema.is_none());
        assert_eq!(r.target().kind, AttributeType::DateTime);
        assert_eq!(r.target().mutability, Mutability::ReadOnly);

        let r = resolve(&USER_RESOURCE, AttrPath::new("id"));
        assert_eq!(r.target().returned, Returned::Always);
        assert!(r.target().case_exact);
        assert!(USER_RESOURCE.resolve(&AttrPath::new("nope")).is_none());
    }

    #[test]
    fn group_members_and_characteristics() {
        let r = resolve(&GROUP_RESOURCE, AttrPath::with_sub("members", "value"));
        assert_eq!(r.target().mutability, Mutability::Immutable);
        let r = resolve(&GROUP_RESOURCE, AttrPath::with_sub("members", "TYPE"));
        assert_eq!(r.target().canonical_values, &["User", "Group"]);
        assert!(
            resolve(&GROUP_RESOURCE, AttrPath::new("displayName"))
                .target()
                .required
        );
        let pw = resolve(&USER_RESOURCE, AttrPath::new("password"));
        assert_eq!(pw.target().returned, Returned::Never);
        assert_eq!(pw.target().mutability, Mutability::WriteOnly);
        let x = resolve(
            &USER_RESOURCE,
            AttrPath::with_sub("x509Certificates", "value"),
        );
        assert_eq!(x.target().kind, AttributeType::Binary);
        assert!(x.target().case_exact);
    }

    #[test]
    fn every_complex_attribute_has_sub_attributes() {
        fn check(attrs: &[AttributeDef]) {
            for a in attrs {
                assert_eq!(
                    a.kind == AttributeType::Complex,
                    !a.sub_attributes.is_empty(),
                    "{}",
                    a.name
                );
                assert!(!a.description.is_empty(), "{} lacks a description", a.name);
                check(a.sub_attributes);
            }
        }
        check(COMMON_ATTRIBUTES);
        for s in [&USER_SCHEMA, &GROUP_SCHEMA, &ENTERPRISE_USER_SCHEMA] {
            check(s.attributes);
        }
    }
}
