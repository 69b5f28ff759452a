//! `GroupStore::change_group`: one change of a group in one transaction. The
//! group's row is locked first, by moving its version on (`UPDATE … SET
//! version = version + 1 … RETURNING`): a concurrent change of the same
//! group — from this process or another — waits here instead of failing.
//! Membership changes are set operations that report what they did
//! (`INSERT … ON CONFLICT DO NOTHING RETURNING`, `DELETE … RETURNING`), so
//! adding a present member or removing an absent one is no change; each
//! touches only the members it names. The domain then decides on the group
//! as locked; nothing to write rolls everything back, the version included.

use std::collections::HashSet;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, IntoIden, LockType, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use super::journal_rows::append_journal;
use super::rows::{CHUNK, db_error, document_text, micros, resource_from_row, text, unreadable};
use super::search_document::search_document;
use super::tables::{ScimGroupMembers, ScimGroups, ScimUsers};
use super::view::SqlScimView;
use crate::domain::models::{
    MemberRef, MembershipChange, MembershipEffect, OrgId, ResourceId, ResourceKind, StoredResource,
};
use crate::domain::ports::{GroupDecision, GroupWrite, StoreError};
use scim_protocol::schema::GROUP_RESOURCE;

pub(super) fn member_kind(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "user",
        ResourceKind::Group => "group",
    }
}

/// (displayName, its lowercased key, externalId) of a group document.
pub(super) fn group_columns(doc: &Value) -> (String, String, Option<String>) {
    let display_name = text(doc, "displayName").unwrap_or_default().to_owned();
    let key = display_name.to_lowercase();
    (
        display_name,
        key,
        text(doc, "externalId").map(str::to_owned),
    )
}

/// Adds the members that are not members yet; returns those. A member
/// deleted concurrently is left out (see [`still_existing`]).
pub(super) async fn add_members(
    txn: &DatabaseTransaction,
    org: OrgId,
    group: ResourceId,
    members: &[MemberRef],
) -> Result<Vec<MemberRef>, StoreError> {
    let mut added = Vec::new();
    for chunk in members.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(ScimGroupMembers::Table)
            .columns([
                ScimGroupMembers::OrgId,
                ScimGroupMembers::GroupId,
                ScimGroupMembers::MemberId,
                ScimGroupMembers::MemberKind,
            ])
            .on_conflict(
                OnConflict::columns([
                    ScimGroupMembers::OrgId,
                    ScimGroupMembers::GroupId,
                    ScimGroupMembers::MemberId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .returning_col(ScimGroupMembers::MemberId);
        for m in chunk {
            insert.values_panic([
                org.0.into(),
                group.0.into(),
                m.id.0.into(),
                member_kind(m.kind).into(),
            ]);
        }
        let inserted: HashSet<Uuid> = member_ids_of(txn.query_all(&insert).await)?
            .into_iter()
            .collect();
        let inserted: Vec<MemberRef> = chunk
            .iter()
            .filter(|m| inserted.contains(&m.id.0))
            .copied()
            .collect();
        let existing = still_existing(txn, org, &inserted).await?;
        let gone: Vec<ResourceId> = inserted
            .iter()
            .filter(|m| !existing.contains(&m.id.0))
            .map(|m| m.id)
            .collect();
        if !gone.is_empty() {
            remove_members(txn, org, group, Some(&gone)).await?;
        }
        added.extend(inserted.into_iter().filter(|m| existing.contains(&m.id.0)));
    }
    Ok(added)
}

/// Which of the members just inserted into a group still exist, their rows
/// key-share locked until the transaction ends (PostgreSQL; SQLite writes
/// one transaction at a time). A member's deletion cleans its memberships
/// up in its own transaction, which cannot see an uncommitted insert: one
/// deleting now makes this wait and then finds the member gone (the
/// caller takes the row out again); one starting later waits for this
/// commit and then sees the membership it has to remove. No membership of
/// a deleted member is left behind. (The deletion never waits for this
/// group's row: the group did not contain the member, so no deadlock.)
async fn still_existing(
    txn: &DatabaseTransaction,
    org: OrgId,
    members: &[MemberRef],
) -> Result<HashSet<Uuid>, StoreError> {
    let mut existing = HashSet::with_capacity(members.len());
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let ids: Vec<Uuid> = members
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.id.0)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let table = match kind {
            ResourceKind::User => ScimUsers::Table.into_iden(),
            ResourceKind::Group => ScimGroups::Table.into_iden(),
        };
        // Users and groups share these column names.
        let column = |name: &str| Expr::col(Alias::new(name));
        let select = Query::select()
            .expr_as(column("id"), "member_id")
            .from(table)
            .and_where(column("org_id").eq(org.0))
            .and_where(column("id").is_in(ids))
            .lock(LockType::KeyShare)
            .to_owned();
        existing.extend(member_ids_of(txn.query_all(&select).await)?);
    }
    Ok(existing)
}

/// Removes these members (every member when `ids` is None); returns the
/// ids that were members.
async fn remove_members(
    txn: &DatabaseTransaction,
    org: OrgId,
    group: ResourceId,
    ids: Option<&[ResourceId]>,
) -> Result<Vec<ResourceId>, StoreError> {
    let delete = |chunk: Option<&[ResourceId]>| {
        let mut delete = Query::delete();
        delete
            .from_table(ScimGroupMembers::Table)
            .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
            .and_where(Expr::col(ScimGroupMembers::GroupId).eq(group.0))
            .returning_col(ScimGroupMembers::MemberId);
        if let Some(chunk) = chunk {
            delete.and_where(
                Expr::col(ScimGroupMembers::MemberId).is_in(chunk.iter().map(|id| id.0)),
            );
        }
        delete
    };
    let mut removed = Vec::new();
    match ids {
        None => removed.extend(member_ids_of(txn.query_all(&delete(None)).await)?),
        Some(ids) => {
            for chunk in ids.chunks(CHUNK) {
                removed.extend(member_ids_of(txn.query_all(&delete(Some(chunk))).await)?);
            }
        }
    }
    Ok(removed.into_iter().map(ResourceId).collect())
}

fn member_ids_of(rows: Result<Vec<sea_orm::QueryResult>, DbErr>) -> Result<Vec<Uuid>, StoreError> {
    rows.map_err(db_error)?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "member_id"))
        .collect::<Result<_, DbErr>>()
        .map_err(unreadable)
}

/// Makes the membership exactly `wanted`: what differs is written.
async fn set_members(
    txn: &DatabaseTransaction,
    org: OrgId,
    group: ResourceId,
    wanted: &[MemberRef],
) -> Result<[MembershipEffect; 2], StoreError> {
    let select = Query::select()
        .column(ScimGroupMembers::MemberId)
        .from(ScimGroupMembers::Table)
        .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
        .and_where(Expr::col(ScimGroupMembers::GroupId).eq(group.0))
        .to_owned();
    let existing: HashSet<Uuid> = member_ids_of(txn.query_all(&select).await)?
        .into_iter()
        .collect();
    let wanted_ids: HashSet<Uuid> = wanted.iter().map(|m| m.id.0).collect();
    let gone: Vec<ResourceId> = existing
        .iter()
        .filter(|id| !wanted_ids.contains(id))
        .map(|id| ResourceId(*id))
        .collect();
    let new: Vec<MemberRef> = wanted
        .iter()
        .filter(|m| !existing.contains(&m.id.0))
        .copied()
        .collect();
    Ok([
        MembershipEffect::Removed(remove_members(txn, org, group, Some(&gone)).await?),
        MembershipEffect::Added(add_members(txn, org, group, &new).await?),
    ])
}

async fn apply_membership(
    txn: &DatabaseTransaction,
    org: OrgId,
    group: ResourceId,
    membership: &[MembershipChange],
) -> Result<Vec<MembershipEffect>, StoreError> {
    let mut effects = Vec::with_capacity(membership.len());
    for change in membership {
        match change {
            MembershipChange::Add(members) => effects.push(MembershipEffect::Added(
                add_members(txn, org, group, members).await?,
            )),
            MembershipChange::Remove(ids) => effects.push(MembershipEffect::Removed(
                remove_members(txn, org, group, Some(ids)).await?,
            )),
            MembershipChange::RemoveAll => effects.push(MembershipEffect::Removed(
                remove_members(txn, org, group, None).await?,
            )),
            MembershipChange::Exactly(wanted) => {
                effects.extend(set_members(txn, org, group, wanted).await?);
            }
        }
    }
    Ok(effects)
}

/// Locks the group's row by moving its version on (at one of `expected`
/// when given) and returns the group as it was; `VersionConflict` when it
/// is at another version, `NotFound` when there is no such group.
async fn lock_group(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: ResourceId,
    expected: Option<&[i64]>,
) -> Result<StoredResource, StoreError> {
    let mut lock = Query::update();
    lock.table(ScimGroups::Table)
        .value(ScimGroups::Version, Expr::col(ScimGroups::Version).add(1))
        .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
        .and_where(Expr::col(ScimGroups::Id).eq(id.0))
        .returning(Query::returning().columns([
            ScimGroups::Id,
            ScimGroups::Document,
            ScimGroups::Version,
            ScimGroups::EventVersion,
            ScimGroups::CreatedAt,
            ScimGroups::LastModified,
        ]));
    if let Some(versions) = expected {
        lock.and_where(Expr::col(ScimGroups::Version).is_in(versions.iter().copied()));
    }
    if let Some(row) = txn.query_one(&lock).await.map_err(db_error)? {
        let mut current = resource_from_row(&row)?;
        current.meta.version -= 1;
        return Ok(current);
    }
    let exists = Query::select()
        .column(ScimGroups::Id)
        .from(ScimGroups::Table)
        .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
        .and_where(Expr::col(ScimGroups::Id).eq(id.0))
        .to_owned();
    match txn.query_one(&exists).await.map_err(db_error)? {
        Some(_) => Err(StoreError::VersionConflict),
        None => Err(StoreError::NotFound),
    }
}

/// Writes the group's decided version over the locked row.
async fn write_group(
    txn: &DatabaseTransaction,
    org: OrgId,
    current: &StoredResource,
    group: &StoredResource,
) -> Result<(), StoreError> {
    let mut update = Query::update();
    update
        .table(ScimGroups::Table)
        .values([
            (ScimGroups::Version, group.meta.version.into()),
            (ScimGroups::EventVersion, group.event_version.into()),
            (
                ScimGroups::LastModified,
                micros(group.meta.last_modified).into(),
            ),
        ])
        .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
        .and_where(Expr::col(ScimGroups::Id).eq(group.id.0));
    if group.document != current.document {
        let (display_name, key, external_id) = group_columns(&group.document);
        // A rename takes the new name's unique key; a group that kept its
        // name keeps its key (null for groups that shared a name before
        // uniqueness, which must not start failing on member changes).
        if key != group_columns(&current.document).1 {
            update.value(ScimGroups::UniqueNameKey, key.clone());
        }
        update.values([
            (ScimGroups::DisplayName, display_name.into()),
            (ScimGroups::DisplayNameKey, key.into()),
            (ScimGroups::ExternalId, external_id.into()),
            (ScimGroups::Document, document_text(&group.document)?.into()),
            (
                ScimGroups::Search,
                search_document(&group.document, &GROUP_RESOURCE).into(),
            ),
        ]);
    }
    txn.execute(&update).await.map_err(db_error)?;
    Ok(())
}

impl SqlScimView {
    pub(super) async fn change_group_locked<F, E>(
        &self,
        org: OrgId,
        id: ResourceId,
        expected: Option<&[i64]>,
        membership: &[MembershipChange],
        decide: F,
    ) -> Result<Result<GroupWrite, E>, StoreError>
    where
        F: FnOnce(&StoredResource, &[MembershipEffect]) -> GroupDecision<E> + Send,
        E: Send,
    {
        let txn = self.db.begin().await.map_err(db_error)?;
        let current = lock_group(&txn, org, id, expected).await?;
        let effects = apply_membership(&txn, org, id, membership).await?;
        let (group, events) = match decide(&current, &effects) {
            Ok(Some(decided)) => decided,
            unchanged_or_refused => {
                txn.rollback().await.map_err(db_error)?;
                return Ok(unchanged_or_refused.map(|_| GroupWrite::Unchanged(current)));
            }
        };
        write_group(&txn, org, &current, &group).await?;
        append_journal(&txn, &self.keys, org, &events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(Ok(GroupWrite::Written(group)))
    }
}
