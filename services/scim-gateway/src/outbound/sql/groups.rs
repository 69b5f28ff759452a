//! `GroupStore`: the groups of the SCIM view and their memberships, which
//! live apart from the group document (`scim_group_members`), so a change
//! costs O(changed members).

use sea_orm::sea_query::{Expr, ExprTrait, IntoIden, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult, TransactionTrait};
use service_kit::db::{MAX_IN_LIST, in_list};
use uuid::Uuid;

use provisioning_events::Event;

use super::filter_targets::GroupFilterMapping;
use super::group_changes::{add_members, group_columns};
use super::journal_rows::append_journal;
use super::listing::list;
use super::rows::{
    CHUNK, db_error, delete_at_version, document_text, micros, resource_from_row, resource_select,
    unreadable,
};
use super::search_document::search_document;
use super::tables::{ScimGroupMembers, ScimGroups, ScimUsers};
use super::view::SqlScimView;
use crate::domain::models::{
    ListQuery, MemberDeletion, MemberRef, MembershipChange, MembershipEffect, OrgId, Page,
    ResourceId, ResourceKind, StoredResource,
};
use crate::domain::ports::{GroupDecision, GroupStore, GroupWrite, StoreError};
use scim_protocol::schema::GROUP_RESOURCE;

fn member_from_row(row: &QueryResult) -> Result<MemberRef, DbErr> {
    let kind: String = row.try_get("", "member_kind")?;
    Ok(MemberRef {
        id: ResourceId(row.try_get("", "member_id")?),
        kind: if kind == "group" {
            ResourceKind::Group
        } else {
            ResourceKind::User
        },
    })
}

/// Executes a member's deletion as the domain decided it (`MemberDeletion`):
/// deletes its row at the expected version, then moves the groups that
/// contain it to their next version, modified at the decided instant, in
/// one statement. O(groups of the member), by index.
pub(super) async fn delete_member<T: IntoIden>(
    txn: &DatabaseTransaction,
    table: T,
    org: OrgId,
    deletion: &MemberDeletion,
) -> Result<(), StoreError> {
    delete_at_version(txn, table, org, deletion.member, deletion.expected_version).await?;
    let containing = Query::select()
        .column(ScimGroupMembers::GroupId)
        .from(ScimGroupMembers::Table)
        .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
        .and_where(Expr::col(ScimGroupMembers::MemberId).eq(deletion.member.0))
        .to_owned();
    txn.execute(
        Query::update()
            .table(ScimGroups::Table)
            .value(ScimGroups::Version, Expr::col(ScimGroups::Version).add(1))
            .value(
                ScimGroups::LastModified,
                micros(deletion.containing_groups_modified_at),
            )
            .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
            .and_where(Expr::col(ScimGroups::Id).in_subquery(containing)),
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

impl SqlScimView {
    async fn ids_of(&self, select: &SelectStatement) -> Result<Vec<Uuid>, StoreError> {
        self.db
            .query_all(select)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| row.try_get::<Uuid>("", "id"))
            .collect::<Result<_, DbErr>>()
            .map_err(unreadable)
    }
}

impl GroupStore for SqlScimView {
    async fn insert_group(
        &self,
        org: OrgId,
        group: &StoredResource,
        members: &[MemberRef],
        events: &[Event],
    ) -> Result<(), StoreError> {
        let (display_name, key, external_id) = group_columns(&group.document);
        let txn = self.db.begin().await.map_err(db_error)?;
        txn.execute(
            Query::insert()
                .into_table(ScimGroups::Table)
                .columns([
                    ScimGroups::OrgId,
                    ScimGroups::Id,
                    ScimGroups::DisplayName,
                    ScimGroups::DisplayNameKey,
                    ScimGroups::ExternalId,
                    ScimGroups::Document,
                    ScimGroups::Version,
                    ScimGroups::EventVersion,
                    ScimGroups::CreatedAt,
                    ScimGroups::LastModified,
                    ScimGroups::UniqueNameKey,
                    ScimGroups::Search,
                ])
                .values_panic([
                    org.0.into(),
                    group.id.0.into(),
                    display_name.into(),
                    key.clone().into(),
                    external_id.into(),
                    document_text(&group.document)?.into(),
                    group.meta.version.into(),
                    group.event_version.into(),
                    micros(group.meta.created).into(),
                    micros(group.meta.last_modified).into(),
                    key.into(),
                    search_document(&group.document, &GROUP_RESOURCE).into(),
                ]),
        )
        .await
        .map_err(db_error)?;
        add_members(&txn, org, group.id, members).await?;
        append_journal(&txn, &self.keys, org, events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(())
    }

    async fn find_group(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Option<StoredResource>, StoreError> {
        let select = resource_select(ScimGroups::Table, ScimGroups::OrgId, org)
            .and_where(Expr::col((ScimGroups::Table, ScimGroups::Id)).eq(id.0))
            .to_owned();
        let row = self.reads.query_one(&select).await.map_err(db_error)?;
        row.as_ref().map(resource_from_row).transpose()
    }

    async fn group_members(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Vec<MemberRef>, StoreError> {
        let select = Query::select()
            .columns([ScimGroupMembers::MemberId, ScimGroupMembers::MemberKind])
            .from(ScimGroupMembers::Table)
            .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
            .and_where(Expr::col(ScimGroupMembers::GroupId).eq(id.0))
            .order_by(ScimGroupMembers::MemberId, Order::Asc)
            .to_owned();
        let rows = self.reads.query_all(&select).await.map_err(db_error)?;
        rows.iter()
            .map(member_from_row)
            .collect::<Result<_, DbErr>>()
            .map_err(unreadable)
    }

    async fn members_of_groups(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> Result<Vec<(ResourceId, MemberRef)>, StoreError> {
        let mut pairs = Vec::new();
        for chunk in ids.chunks(MAX_IN_LIST) {
            let select = Query::select()
                .columns([
                    ScimGroupMembers::GroupId,
                    ScimGroupMembers::MemberId,
                    ScimGroupMembers::MemberKind,
                ])
                .from(ScimGroupMembers::Table)
                .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
                .and_where(
                    Expr::col(ScimGroupMembers::GroupId)
                        .is_in(in_list(chunk).into_iter().map(|id| id.0)),
                )
                .order_by(ScimGroupMembers::GroupId, Order::Asc)
                .order_by(ScimGroupMembers::MemberId, Order::Asc)
                .to_owned();
            let rows = self.reads.query_all(&select).await.map_err(db_error)?;
            for row in &rows {
                let group = ResourceId(row.try_get("", "group_id").map_err(unreadable)?);
                pairs.push((group, member_from_row(row).map_err(unreadable)?));
            }
        }
        Ok(pairs)
    }

    async fn change_group<F, E>(
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
        self.change_group_locked(org, id, expected, membership, decide)
            .await
    }

    async fn delete_group(
        &self,
        org: OrgId,
        deletion: &MemberDeletion,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let id = deletion.member;
        let txn = self.db.begin().await.map_err(db_error)?;
        delete_member(&txn, ScimGroups::Table, org, deletion).await?;
        for column in [ScimGroupMembers::GroupId, ScimGroupMembers::MemberId] {
            txn.execute(
                Query::delete()
                    .from_table(ScimGroupMembers::Table)
                    .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
                    .and_where(Expr::col(column).eq(id.0)),
            )
            .await
            .map_err(db_error)?;
        }
        append_journal(&txn, &self.keys, org, events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(())
    }

    async fn list_groups(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> Result<Page<StoredResource>, StoreError> {
        let base = resource_select(ScimGroups::Table, ScimGroups::OrgId, org);
        list(
            &self.reads,
            base,
            &GroupFilterMapping,
            ScimGroups::Table.into_iden(),
            query,
            resource_from_row,
        )
        .await
    }

    async fn existing_members(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> Result<Vec<MemberRef>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            // Members are nearly always users: ask for groups only for the rest.
            let users = Query::select()
                .column(ScimUsers::Id)
                .from(ScimUsers::Table)
                .and_where(Expr::col(ScimUsers::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUsers::Id).is_in(chunk.iter().map(|id| id.0)))
                .to_owned();
            let found_users = self.ids_of(&users).await?;
            let rest: Vec<Uuid> = chunk
                .iter()
                .map(|id| id.0)
                .filter(|id| !found_users.contains(id))
                .collect();
            found.extend(found_users.into_iter().map(|id| MemberRef {
                id: ResourceId(id),
                kind: ResourceKind::User,
            }));
            if rest.is_empty() {
                continue;
            }
            let groups = Query::select()
                .column(ScimGroups::Id)
                .from(ScimGroups::Table)
                .and_where(Expr::col(ScimGroups::OrgId).eq(org.0))
                .and_where(Expr::col(ScimGroups::Id).is_in(rest))
                .to_owned();
            found.extend(self.ids_of(&groups).await?.into_iter().map(|id| MemberRef {
                id: ResourceId(id),
                kind: ResourceKind::Group,
            }));
        }
        Ok(found)
    }
}
