//! Where each attribute of users and groups is read from, for filters and
//! `sortBy`:
//!
//! - dedicated columns (`id`, `userName`, `externalId`, `displayName`,
//!   `name.givenName`, `name.familyName`, `active`, `meta.created`,
//!   `meta.lastModified`; groups' `id`, `displayName`, `externalId`, `meta`),
//!   indexed for what IdPs look up;
//! - side tables: users' `emails` (value, type, primary), users' `groups`
//!   (the memberships), groups' `members`;
//! - everything else from the row's search document (`search_sql.rs`).
//!
//! `meta.resourceType` and `meta.version` are expressions of the row, and
//! so are the URLs (`meta.location`, users' `groups.$ref`, groups'
//! `members.$ref`): the request's base URL (a bound parameter) and the id.
//! Sorting on a URL sorts by the id it ends with, which is the same order.

use scim_protocol::schema::{
    AttributeDef, AttributeType, GROUP_RESOURCE, ResourceType, USER_RESOURCE,
};
use scim_protocol::{AttrPath, ProtocolError};
use sea_orm::DbBackend;
use sea_orm::sea_query::{BinOper, Expr, ExprTrait, IntoColumnRef, IntoIden, Query};

use super::filter_sql::{ColumnKind, Context, FilterMapping, Leaf, LeafOfRow, Target, Values};
use super::search_document::{is_searchable, search_key};
use super::search_sql::{element, elements, first_element, member, uuid_text};
use super::tables::{ScimGroupMembers, ScimGroups, ScimUserEmails, ScimUsers};

fn col<T: IntoIden, C: IntoIden>(table: T, column: C) -> Expr {
    Expr::col((table.into_iden(), column.into_iden()).into_column_ref())
}

fn is(path: &AttrPath, name: &str, sub: Option<&str>) -> bool {
    path.schema.is_none()
        && path.name.eq_ignore_ascii_case(name)
        && match (&path.sub_attr, sub) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
}

fn kind_of(def: &AttributeDef) -> ColumnKind {
    match def.kind {
        AttributeType::Boolean => ColumnKind::Boolean,
        AttributeType::Integer | AttributeType::Decimal => ColumnKind::Number,
        AttributeType::DateTime => ColumnKind::Instant,
        _ if def.case_exact => ColumnKind::ExactText,
        _ => ColumnKind::FoldedText,
    }
}

/// A URL: `base` (bound) followed by `rest` (SQL text of the row), caseExact.
fn url(base: &str, rest: String) -> Leaf {
    Leaf::new(
        Expr::val(base.to_owned()).binary(BinOper::Custom("||"), Expr::cust(rest)),
        ColumnKind::ExactText,
    )
}

/// A resource type's table, as the SQL names it.
struct Table {
    name: &'static str,
    rt: &'static ResourceType,
    resource_type: &'static str,
}

impl Table {
    fn search(&self) -> String {
        format!("\"{}\".\"search\"", self.name)
    }

    fn column(&self, column: &str) -> String {
        format!("\"{}\".\"{column}\"", self.name)
    }

    /// `meta.resourceType`, `meta.version` (`W/"<version>"`) and
    /// `meta.location` (with `base_url`), and `meta` itself (always present).
    fn meta(&self, path: &AttrPath, backend: DbBackend, base_url: Option<&str>) -> Option<Leaf> {
        if is(path, "meta", Some("location")) {
            let id = uuid_text(backend, &self.column("id"));
            return base_url
                .map(|base| url(base, format!("('/{}s/' || {id})", self.resource_type)));
        }
        if is(path, "meta", Some("resourceType")) || is(path, "meta", None) {
            return Some(Leaf::sql(
                // A CAST: PostgreSQL refuses a bare literal in ORDER BY.
                format!("CAST('{}' AS TEXT)", self.resource_type),
                ColumnKind::ExactText,
            ));
        }
        if is(path, "meta", Some("version")) {
            let version = match backend {
                DbBackend::Postgres => format!("CAST({} AS text)", self.column("version")),
                _ => self.column("version"),
            };
            let collate = if backend == DbBackend::Postgres {
                " COLLATE \"C\""
            } else {
                ""
            };
            return Some(Leaf::sql(
                format!("(('W/\"' || {version} || '\"'){collate})"),
                ColumnKind::ExactText,
            ));
        }
        None
    }

    /// The id column, compared as a UUID or as text.
    fn id(&self, backend: DbBackend) -> Leaf {
        Leaf {
            expr: Expr::cust(self.column("id")),
            kind: ColumnKind::Id { case_exact: true },
            text: Some(Expr::cust(uuid_text(backend, &self.column("id")))),
        }
    }

    /// An attribute of the search document.
    fn searched(&self, path: &AttrPath, backend: DbBackend) -> Result<Target, ProtocolError> {
        let unknown = || ProtocolError::invalid_filter(format!("unknown attribute '{path}'"));
        let (def, key) = self.definition(path).ok_or_else(unknown)?;
        let search = self.search();
        let sub = match &path.sub_attr {
            Some(name) => Some(def.sub_attribute(name).ok_or_else(unknown)?),
            None => None,
        };
        if !def.multi_valued {
            return Ok(Target::Scalar(match sub {
                None => Leaf::sql(member(backend, &search, &key, kind_of(def)), kind_of(def)),
                Some(sub) => {
                    let container = match backend {
                        DbBackend::Postgres => format!("({search} -> '{key}')"),
                        _ => format!("json_extract({search}, '$.\"{key}\"')"),
                    };
                    let name = sub.name.to_lowercase();
                    Leaf::sql(
                        member(backend, &container, &name, kind_of(sub)),
                        kind_of(sub),
                    )
                }
            }));
        }
        let values = Values {
            rows: elements(backend, &search, &key),
            leaf: element_leaf(def, backend),
            default_sub: def.sub_attribute("value").map(|v| v.name),
        };
        Ok(Target::Values(
            Box::new(values),
            sub.map(|s| s.name.to_owned()),
        ))
    }

    /// The definition and search key of `path`'s attribute.
    fn definition(&self, path: &AttrPath) -> Option<(&'static AttributeDef, String)> {
        if path.schema.is_none() && path.name.eq_ignore_ascii_case("schemas") {
            return Some((&SCHEMAS, "schemas".to_owned()));
        }
        let resolved = self.rt.resolve(path)?;
        let extension = resolved
            .is_extension(self.rt)
            .then(|| resolved.schema.map(|s| s.id))
            .flatten();
        is_searchable(resolved.attribute).then(|| {
            (
                resolved.attribute,
                search_key(extension, resolved.attribute.name),
            )
        })
    }

    /// The sort expression of an attribute of the search document.
    fn searched_sort(&self, path: &AttrPath, backend: DbBackend) -> Expr {
        let Some((def, key)) = self.definition(path) else {
            return null_text();
        };
        let search = self.search();
        let sub = path.sub_attr.as_deref().and_then(|s| def.sub_attribute(s));
        if !def.multi_valued {
            return match self.searched(path, backend) {
                Ok(Target::Scalar(leaf)) if def.kind != AttributeType::Complex || sub.is_some() => {
                    leaf.expr
                }
                _ => null_text(),
            };
        }
        // RFC 7644 §3.4.2.3: the primary value, else the first.
        let sub = sub.or_else(|| def.sub_attribute("value"));
        let by_primary = def.sub_attribute("primary").is_some();
        let read = match sub {
            Some(sub) => member(
                backend,
                "\"e\".\"value\"",
                &sub.name.to_lowercase(),
                kind_of(sub),
            ),
            None if def.kind == AttributeType::Complex => return null_text(),
            None => element(backend, kind_of(def)),
        };
        Expr::cust(first_element(backend, &search, &key, &read, by_primary))
    }
}

/// `schemas`, as the binder defines it: multi-valued, not caseExact.
static SCHEMAS: AttributeDef = AttributeDef {
    multi_valued: true,
    ..AttributeDef::base("schemas", AttributeType::Reference)
};

fn null_text() -> Expr {
    Expr::cust("CAST(NULL AS TEXT)")
}

/// A sub-attribute of one element of a multi-valued attribute of the
/// search document (`None`: a simple attribute's element itself).
fn element_leaf(def: &'static AttributeDef, backend: DbBackend) -> LeafOfRow {
    Box::new(move |sub| match sub {
        None if def.kind != AttributeType::Complex => {
            Some(Leaf::sql(element(backend, kind_of(def)), kind_of(def)))
        }
        None => None,
        Some(name) => {
            let sub = def.sub_attribute(name).filter(|s| is_searchable(s))?;
            let key = sub.name.to_lowercase();
            Some(Leaf::sql(
                member(backend, "\"e\".\"value\"", &key, kind_of(sub)),
                kind_of(sub),
            ))
        }
    })
}

const USERS: Table = Table {
    name: "scim_users",
    rt: &USER_RESOURCE,
    resource_type: "User",
};

const GROUPS: Table = Table {
    name: "scim_groups",
    rt: &GROUP_RESOURCE,
    resource_type: "Group",
};

pub struct UserFilterMapping;

impl UserFilterMapping {
    /// A column or an expression of the row (`None` as `base_url`: no URL).
    fn column(path: &AttrPath, backend: DbBackend, base_url: Option<&str>) -> Option<Leaf> {
        use ColumnKind::*;
        let t = ScimUsers::Table;
        let leaf = |c, k| Some(Leaf::new(col(t, c), k));
        if is(path, "id", None) {
            Some(USERS.id(backend))
        } else if is(path, "userName", None) {
            leaf(ScimUsers::UserNameKey, FoldedText)
        } else if is(path, "externalId", None) {
            leaf(ScimUsers::ExternalId, ExactText)
        } else if is(path, "displayName", None) {
            leaf(ScimUsers::DisplayNameKey, FoldedText)
        } else if is(path, "name", Some("givenName")) {
            leaf(ScimUsers::GivenNameKey, FoldedText)
        } else if is(path, "name", Some("familyName")) {
            leaf(ScimUsers::FamilyNameKey, FoldedText)
        } else if is(path, "active", None) {
            leaf(ScimUsers::Active, Boolean)
        } else if is(path, "meta", Some("created")) {
            leaf(ScimUsers::CreatedAt, Instant)
        } else if is(path, "meta", Some("lastModified")) {
            leaf(ScimUsers::LastModified, Instant)
        } else {
            USERS.meta(path, backend, base_url)
        }
    }
}

impl FilterMapping for UserFilterMapping {
    fn target(
        &self,
        path: &AttrPath,
        subs: &[&str],
        context: Context<'_>,
    ) -> Result<Target, ProtocolError> {
        let backend = context.backend;
        if let Some(leaf) = Self::column(path, backend, Some(context.base_url)) {
            return Ok(Target::Scalar(leaf));
        }
        let plain = path.schema.is_none();
        if plain
            && path.name.eq_ignore_ascii_case("emails")
            && subs.iter().all(|s| email_column(s).is_some())
        {
            return Ok(Target::Values(Box::new(emails()), path.sub_attr.clone()));
        }
        if plain && path.name.eq_ignore_ascii_case("groups") {
            return Ok(Target::Values(
                Box::new(user_groups(backend, context.base_url)),
                path.sub_attr.clone(),
            ));
        }
        USERS.searched(path, backend)
    }

    fn sort(&self, path: &AttrPath, backend: DbBackend) -> Expr {
        if is(path, "meta", Some("location")) {
            return USERS.id(backend).expr;
        }
        if let Some(leaf) = Self::column(path, backend, None) {
            return leaf.expr;
        }
        if path.schema.is_none() && path.name.eq_ignore_ascii_case("groups") {
            return user_groups_sort(path, backend);
        }
        USERS.searched_sort(path, backend)
    }
}

fn email_column(sub: &str) -> Option<Leaf> {
    let t = ScimUserEmails::Table;
    let (column, kind) = match sub.to_ascii_lowercase().as_str() {
        "value" => (ScimUserEmails::ValueKey, ColumnKind::FoldedText),
        "type" => (ScimUserEmails::TypeKey, ColumnKind::FoldedText),
        // Not `primary`: its column says false where the e-mail has none,
        // which the search document tells apart.
        _ => return None,
    };
    Some(Leaf::new(col(t, column), kind))
}

/// `scim_user_emails`: one row per e-mail (value and type), so Entra's
/// `emails[type eq "work"].value eq "…"` is an index probe.
fn emails() -> Values {
    Values {
        rows: Query::select()
            .expr(Expr::cust("1"))
            .from(ScimUserEmails::Table)
            .and_where(
                col(ScimUserEmails::Table, ScimUserEmails::OrgId)
                    .equals((ScimUsers::Table, ScimUsers::OrgId)),
            )
            .and_where(
                col(ScimUserEmails::Table, ScimUserEmails::UserId)
                    .equals((ScimUsers::Table, ScimUsers::Id)),
            )
            .to_owned(),
        leaf: Box::new(|sub| email_column(sub?)),
        default_sub: Some("value"),
    }
}

/// The rows of a user's groups: memberships joined to their groups.
const USER_GROUP_ROWS: &str = "FROM \"scim_group_members\" \
     JOIN \"scim_groups\" ON \"scim_groups\".\"org_id\" = \"scim_group_members\".\"org_id\" \
     AND \"scim_groups\".\"id\" = \"scim_group_members\".\"group_id\" \
     WHERE \"scim_group_members\".\"org_id\" = \"scim_users\".\"org_id\" \
     AND \"scim_group_members\".\"member_id\" = \"scim_users\".\"id\"";

fn user_groups(backend: DbBackend, base_url: &str) -> Values {
    let rows = Query::select()
        .expr(Expr::cust("1"))
        .from(ScimGroupMembers::Table)
        .inner_join(
            ScimGroups::Table,
            col(ScimGroups::Table, ScimGroups::OrgId)
                .equals((ScimGroupMembers::Table, ScimGroupMembers::OrgId))
                .and(
                    col(ScimGroups::Table, ScimGroups::Id)
                        .equals((ScimGroupMembers::Table, ScimGroupMembers::GroupId)),
                ),
        )
        .and_where(
            col(ScimGroupMembers::Table, ScimGroupMembers::OrgId)
                .equals((ScimUsers::Table, ScimUsers::OrgId)),
        )
        .and_where(
            col(ScimGroupMembers::Table, ScimGroupMembers::MemberId)
                .equals((ScimUsers::Table, ScimUsers::Id)),
        )
        .to_owned();
    Values {
        rows,
        leaf: {
            let base_url = base_url.to_owned();
            Box::new(move |sub| user_group_leaf(sub?, backend, &base_url))
        },
        default_sub: Some("value"),
    }
}

fn user_group_leaf(sub: &str, backend: DbBackend, base_url: &str) -> Option<Leaf> {
    let group_id = || uuid_text(backend, "\"scim_group_members\".\"group_id\"");
    match sub.to_ascii_lowercase().as_str() {
        "$ref" => Some(url(base_url, format!("('/Groups/' || {})", group_id()))),
        "value" => Some(Leaf {
            expr: col(ScimGroupMembers::Table, ScimGroupMembers::GroupId),
            kind: ColumnKind::Id { case_exact: false },
            text: Some(Expr::cust(uuid_text(
                backend,
                "\"scim_group_members\".\"group_id\"",
            ))),
        }),
        "display" => Some(Leaf::new(
            col(ScimGroups::Table, ScimGroups::DisplayNameKey),
            ColumnKind::FoldedText,
        )),
        // Every membership is direct (no nested groups are expanded).
        "type" => Some(Leaf::sql("'direct'".to_owned(), ColumnKind::FoldedText)),
        _ => None,
    }
}

/// A user's first group as rendered (by display name) read by `sub`.
fn user_groups_sort(path: &AttrPath, backend: DbBackend) -> Expr {
    let read = match path
        .sub_attr
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("value") | Some("$ref") => {
            uuid_text(backend, "\"scim_group_members\".\"group_id\"")
        }
        Some("display") => "\"scim_groups\".\"display_name_key\"".to_owned(),
        Some("type") => "'direct'".to_owned(),
        _ => return null_text(),
    };
    Expr::cust(format!(
        "(SELECT {read} {USER_GROUP_ROWS} ORDER BY \"scim_groups\".\"display_name_key\", \
         \"scim_groups\".\"id\" LIMIT 1)"
    ))
}

pub struct GroupFilterMapping;

impl GroupFilterMapping {
    /// A column or an expression of the row (`None` as `base_url`: no URL).
    fn column(path: &AttrPath, backend: DbBackend, base_url: Option<&str>) -> Option<Leaf> {
        use ColumnKind::*;
        let t = ScimGroups::Table;
        let leaf = |c, k| Some(Leaf::new(col(t, c), k));
        if is(path, "id", None) {
            Some(GROUPS.id(backend))
        } else if is(path, "displayName", None) {
            leaf(ScimGroups::DisplayNameKey, FoldedText)
        } else if is(path, "externalId", None) {
            leaf(ScimGroups::ExternalId, ExactText)
        } else if is(path, "meta", Some("created")) {
            leaf(ScimGroups::CreatedAt, Instant)
        } else if is(path, "meta", Some("lastModified")) {
            leaf(ScimGroups::LastModified, Instant)
        } else {
            GROUPS.meta(path, backend, base_url)
        }
    }
}

impl FilterMapping for GroupFilterMapping {
    fn target(
        &self,
        path: &AttrPath,
        _subs: &[&str],
        context: Context<'_>,
    ) -> Result<Target, ProtocolError> {
        let backend = context.backend;
        if let Some(leaf) = Self::column(path, backend, Some(context.base_url)) {
            return Ok(Target::Scalar(leaf));
        }
        if path.schema.is_none() && path.name.eq_ignore_ascii_case("members") {
            return Ok(Target::Values(
                Box::new(members(backend, context.base_url)),
                path.sub_attr.clone(),
            ));
        }
        GROUPS.searched(path, backend)
    }

    fn sort(&self, path: &AttrPath, backend: DbBackend) -> Expr {
        if is(path, "meta", Some("location")) {
            return GROUPS.id(backend).expr;
        }
        if let Some(leaf) = Self::column(path, backend, None) {
            return leaf.expr;
        }
        if path.schema.is_none() && path.name.eq_ignore_ascii_case("members") {
            return members_sort(path, backend);
        }
        GROUPS.searched_sort(path, backend)
    }
}

fn members(backend: DbBackend, base_url: &str) -> Values {
    let rows = Query::select()
        .expr(Expr::cust("1"))
        .from(ScimGroupMembers::Table)
        .and_where(
            col(ScimGroupMembers::Table, ScimGroupMembers::OrgId)
                .equals((ScimGroups::Table, ScimGroups::OrgId)),
        )
        .and_where(
            col(ScimGroupMembers::Table, ScimGroupMembers::GroupId)
                .equals((ScimGroups::Table, ScimGroups::Id)),
        )
        .to_owned();
    Values {
        rows,
        leaf: {
            let base_url = base_url.to_owned();
            Box::new(move |sub| member_leaf(sub?, backend, &base_url))
        },
        default_sub: Some("value"),
    }
}

fn member_leaf(sub: &str, backend: DbBackend, base_url: &str) -> Option<Leaf> {
    let t = ScimGroupMembers::Table;
    match sub.to_ascii_lowercase().as_str() {
        "$ref" => Some(url(
            base_url,
            format!(
                "(CASE \"scim_group_members\".\"member_kind\" WHEN 'group' THEN '/Groups/' \
                 ELSE '/Users/' END || {})",
                uuid_text(backend, "\"scim_group_members\".\"member_id\"")
            ),
        )),
        "value" => Some(Leaf {
            expr: col(t, ScimGroupMembers::MemberId),
            kind: ColumnKind::Id { case_exact: false },
            text: Some(Expr::cust(uuid_text(
                backend,
                "\"scim_group_members\".\"member_id\"",
            ))),
        }),
        // Stored lowercased ("user"/"group"); `type` is caseExact: false.
        "type" => Some(Leaf::new(
            col(t, ScimGroupMembers::MemberKind),
            ColumnKind::FoldedText,
        )),
        // Not rendered: never present.
        "display" => Some(Leaf::new(null_text(), ColumnKind::FoldedText)),
        _ => None,
    }
}

/// A group's first member as rendered (by id) read by `sub`.
fn members_sort(path: &AttrPath, backend: DbBackend) -> Expr {
    let id = uuid_text(backend, "\"m\".\"member_id\"");
    let read = match path
        .sub_attr
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("value") => id,
        Some("type") => "\"m\".\"member_kind\"".to_owned(),
        // `…/Groups/<id>` before `…/Users/<id>`.
        Some("$ref") => format!("(\"m\".\"member_kind\" || '/' || {id})"),
        _ => return null_text(),
    };
    Expr::cust(format!(
        "(SELECT {read} FROM \"scim_group_members\" AS \"m\" \
         WHERE \"m\".\"org_id\" = \"scim_groups\".\"org_id\" AND \"m\".\"group_id\" = \"scim_groups\".\"id\" \
         ORDER BY \"m\".\"member_id\" LIMIT 1)"
    ))
}
