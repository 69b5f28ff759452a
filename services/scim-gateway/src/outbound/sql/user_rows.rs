//! The `scim_users` and `scim_user_emails` rows: the indexed columns derived
//! from a user's canonical document, multi-row inserts, the update at a read
//! version, and a user's groups read in the statement that reads the user.

use anyhow::Context;
use scim_protocol::schema::USER_RESOURCE;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, QueryResult};
use serde_json::Value;
use uuid::Uuid;

use super::person_keys::{StoredKey, stored_key};
use super::rows::{db_error, document_text, folded, micros, resource_from_row, text, unreadable};
use super::search_document::search_document;
use super::tables::{ScimUserEmails, ScimUsers};
use crate::domain::models::{GroupRef, OrgId, ResourceId, StoredResource, UserWithGroups};
use crate::domain::ports::StoreError;

/// The indexed columns of a user, derived from its canonical document.
pub(super) struct UserColumns {
    user_name: String,
    user_name_key: String,
    external_id: Option<String>,
    display_name_key: Option<String>,
    given_name_key: Option<String>,
    family_name_key: Option<String>,
    active: Option<bool>,
    emails: Vec<(Option<String>, Option<String>, bool)>,
    /// The search document (`search_document.rs`).
    search: Value,
}

impl UserColumns {
    pub(super) fn of(doc: &Value) -> Self {
        let user_name = text(doc, "userName").unwrap_or_default().to_owned();
        let name = doc.get("name");
        let emails = email_rows(doc);
        Self {
            user_name_key: user_name.to_lowercase(),
            user_name,
            external_id: text(doc, "externalId").map(str::to_owned),
            display_name_key: folded(text(doc, "displayName")),
            given_name_key: folded(name.and_then(|n| text(n, "givenName"))),
            family_name_key: folded(name.and_then(|n| text(n, "familyName"))),
            active: doc.get("active").and_then(Value::as_bool),
            emails,
            search: search_document(doc, &USER_RESOURCE),
        }
    }
}

/// The `scim_user_emails` rows of a user document: (type, value, primary).
fn email_rows(doc: &Value) -> Vec<(Option<String>, Option<String>, bool)> {
    doc.get("emails")
        .and_then(Value::as_array)
        .map(|emails| {
            emails
                .iter()
                .map(|e| {
                    (
                        folded(text(e, "type")),
                        folded(text(e, "value")),
                        e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the e-mail rows of `before` differ from those of `after`.
pub(super) fn emails_changed(before: &Value, after: &UserColumns) -> bool {
    after.emails != email_rows(before)
}

async fn write_emails(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: ResourceId,
    columns: &UserColumns,
) -> Result<(), StoreError> {
    write_emails_of(txn, &[(org, user, columns)]).await
}

/// The e-mail rows of several users, in multi-row INSERTs.
pub(super) async fn write_emails_of(
    txn: &DatabaseTransaction,
    users: &[(OrgId, ResourceId, &UserColumns)],
) -> Result<(), StoreError> {
    let rows: Vec<_> = users
        .iter()
        .flat_map(|(org, user, columns)| {
            columns
                .emails
                .iter()
                .enumerate()
                .map(move |(position, email)| (*org, *user, position, email))
        })
        .collect();
    for chunk in service_kit::db::pow2_chunks(&rows) {
        let mut insert = Query::insert();
        insert.into_table(ScimUserEmails::Table).columns([
            ScimUserEmails::OrgId,
            ScimUserEmails::UserId,
            ScimUserEmails::Position,
            ScimUserEmails::TypeKey,
            ScimUserEmails::ValueKey,
            ScimUserEmails::IsPrimary,
        ]);
        for (org, user, position, (kind, value, primary)) in chunk {
            insert.values_panic([
                org.0.into(),
                user.0.into(),
                (*position as i32).into(),
                kind.clone().into(),
                value.clone().into(),
                (*primary).into(),
            ]);
        }
        txn.execute(&insert).await.map_err(db_error)?;
    }
    Ok(())
}

/// New users of any organizations with their wrapped data keys, in
/// multi-row INSERTs.
pub(super) async fn insert_user_rows(
    txn: &DatabaseTransaction,
    users: &[(OrgId, &StoredResource, &UserColumns, &StoredKey)],
) -> Result<(), StoreError> {
    for chunk in service_kit::db::pow2_chunks(users) {
        let mut insert = Query::insert();
        insert.into_table(ScimUsers::Table).columns([
            ScimUsers::OrgId,
            ScimUsers::Id,
            ScimUsers::UserName,
            ScimUsers::UserNameKey,
            ScimUsers::ExternalId,
            ScimUsers::DisplayNameKey,
            ScimUsers::GivenNameKey,
            ScimUsers::FamilyNameKey,
            ScimUsers::Active,
            ScimUsers::Document,
            ScimUsers::Version,
            ScimUsers::EventVersion,
            ScimUsers::CreatedAt,
            ScimUsers::LastModified,
            ScimUsers::KekId,
            ScimUsers::WrappedKey,
            ScimUsers::Search,
        ]);
        for (org, user, columns, (kek_id, wrapped_key)) in chunk {
            insert.values_panic([
                org.0.into(),
                user.id.0.into(),
                columns.user_name.clone().into(),
                columns.user_name_key.clone().into(),
                columns.external_id.clone().into(),
                columns.display_name_key.clone().into(),
                columns.given_name_key.clone().into(),
                columns.family_name_key.clone().into(),
                columns.active.into(),
                document_text(&user.document)?.into(),
                user.meta.version.into(),
                user.event_version.into(),
                micros(user.meta.created).into(),
                micros(user.meta.last_modified).into(),
                kek_id.as_str().into(),
                wrapped_key.as_str().into(),
                columns.search.clone().into(),
            ]);
        }
        txn.execute(&insert).await.map_err(db_error)?;
    }
    Ok(())
}

/// Writes `user` over the row at `expected_version` and, when they changed,
/// its e-mail rows: `None` when the row has another version or is gone, else
/// the data key the row stores (read back by the same statement, for
/// sealing the write's events).
pub(super) async fn update_user_row(
    txn: &DatabaseTransaction,
    org: OrgId,
    expected_version: i64,
    user: &StoredResource,
    columns: &UserColumns,
    emails_changed: bool,
) -> Result<Option<Option<StoredKey>>, StoreError> {
    let written = txn
        .query_one(
            Query::update()
                .table(ScimUsers::Table)
                .values([
                    (ScimUsers::UserName, columns.user_name.clone().into()),
                    (ScimUsers::UserNameKey, columns.user_name_key.clone().into()),
                    (ScimUsers::ExternalId, columns.external_id.clone().into()),
                    (
                        ScimUsers::DisplayNameKey,
                        columns.display_name_key.clone().into(),
                    ),
                    (
                        ScimUsers::GivenNameKey,
                        columns.given_name_key.clone().into(),
                    ),
                    (
                        ScimUsers::FamilyNameKey,
                        columns.family_name_key.clone().into(),
                    ),
                    (ScimUsers::Active, columns.active.into()),
                    (ScimUsers::Document, document_text(&user.document)?.into()),
                    (ScimUsers::Search, columns.search.clone().into()),
                    (ScimUsers::Version, user.meta.version.into()),
                    (ScimUsers::EventVersion, user.event_version.into()),
                    (
                        ScimUsers::LastModified,
                        micros(user.meta.last_modified).into(),
                    ),
                ])
                .and_where(Expr::col(ScimUsers::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUsers::Id).eq(user.id.0))
                .and_where(Expr::col(ScimUsers::Version).eq(expected_version))
                .returning(Query::returning().columns([ScimUsers::KekId, ScimUsers::WrappedKey])),
        )
        .await
        .map_err(db_error)?;
    let Some(written) = written else {
        return Ok(None);
    };
    // The e-mail rows index the document; the version check above makes the
    // document the caller read the one they were written from.
    if emails_changed {
        txn.execute(
            Query::delete()
                .from_table(ScimUserEmails::Table)
                .and_where(Expr::col(ScimUserEmails::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUserEmails::UserId).eq(user.id.0)),
        )
        .await
        .map_err(db_error)?;
        write_emails(txn, org, user.id, columns).await?;
    }
    stored_key(&written).map(Some)
}

/// The groups a `scim_users` row is a direct member of, as JSON text
/// `[[id, displayName], …]` sorted by display name (NULL or `[]` when none):
/// read in the statement that reads the user instead of a second round trip.
/// SQLite keeps UUIDs as blobs, written here as 32 hex digits.
pub(super) fn groups_of_user_row(backend: DbBackend) -> Expr {
    Expr::cust(match backend {
        DbBackend::Sqlite => {
            "(SELECT json_group_array(json_array(lower(hex(g.id)), g.display_name) \
              ORDER BY g.display_name_key) \
              FROM scim_group_members m JOIN scim_groups g \
              ON g.org_id = m.org_id AND g.id = m.group_id \
              WHERE m.org_id = scim_users.org_id AND m.member_id = scim_users.id)"
        }
        _ => {
            "(SELECT json_agg(json_build_array(g.id, g.display_name) \
              ORDER BY g.display_name_key)::text \
              FROM scim_group_members m JOIN scim_groups g \
              ON g.org_id = m.org_id AND g.id = m.group_id \
              WHERE m.org_id = scim_users.org_id AND m.member_id = scim_users.id)"
        }
    })
}

/// A user row read with [`groups_of_user_row`] as `groups`.
pub(super) fn user_with_groups_from_row(row: &QueryResult) -> Result<UserWithGroups, StoreError> {
    let user = resource_from_row(row)?;
    let groups: Option<String> = row.try_get("", "groups").map_err(unreadable)?;
    let groups = match groups {
        None => Vec::new(),
        Some(json) => serde_json::from_str::<Vec<(String, String)>>(&json)
            .map_err(|e| super::rows::unquoted(&e))
            .with_context(|| format!("groups of user {} unreadable", user.id.0))?
            .into_iter()
            .map(|(id, display_name)| {
                let id = Uuid::parse_str(&id)
                    .with_context(|| format!("group id {id} of user {}", user.id.0))?;
                Ok(GroupRef {
                    id: ResourceId(id),
                    display_name,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(UserWithGroups { user, groups })
}
