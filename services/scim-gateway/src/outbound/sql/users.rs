//! `UserStore`: the users of the SCIM view. Creates and updates go through
//! the group-commit writers (`user_inserts`, `user_updates`), userName checks
//! through their batcher (`user_name_checks`); reads go to the read pool.

use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};

use provisioning_events::Event;

use super::groups::delete_member;
use super::journal_rows::append_journal;
use super::listing::list_user_rows;
use super::rows::{db_error, resource_from_row, resource_select, unreadable};
use super::tables::{ScimGroupMembers, ScimGroups, ScimUserEmails, ScimUsers};
use super::user_rows::{groups_of_user_row, user_with_groups_from_row};
use super::view::SqlScimView;
use crate::domain::models::{
    GroupRef, ListQuery, MemberDeletion, OrgId, Page, ResourceId, StoredResource, UserWithGroups,
};
use crate::domain::ports::{StoreError, UserStore};

impl UserStore for SqlScimView {
    async fn user_name_taken(&self, org: OrgId, user_name: &str) -> Result<bool, StoreError> {
        self.user_name_checks.taken(org, user_name).await
    }

    async fn user_names_taken(
        &self,
        org: OrgId,
        user_names: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        self.user_name_checks.taken_all(org, user_names).await
    }

    async fn insert_users(
        &self,
        org: OrgId,
        users: &[(StoredResource, Vec<Event>)],
    ) -> Vec<Result<(), StoreError>> {
        self.user_inserts.insert_all(org, users).await
    }

    async fn insert_user(
        &self,
        org: OrgId,
        user: &StoredResource,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.user_inserts.insert(org, user, events).await
    }

    async fn find_user(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Option<StoredResource>, StoreError> {
        let select = resource_select(ScimUsers::Table, ScimUsers::OrgId, org)
            .and_where(Expr::col((ScimUsers::Table, ScimUsers::Id)).eq(id.0))
            .to_owned();
        let row = self.reads.query_one(&select).await.map_err(db_error)?;
        row.as_ref().map(resource_from_row).transpose()
    }

    async fn find_user_with_groups(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Option<UserWithGroups>, StoreError> {
        let select = resource_select(ScimUsers::Table, ScimUsers::OrgId, org)
            .expr_as(
                groups_of_user_row(self.reads.get_database_backend()),
                "groups",
            )
            .and_where(Expr::col((ScimUsers::Table, ScimUsers::Id)).eq(id.0))
            .to_owned();
        let row = self.reads.query_one(&select).await.map_err(db_error)?;
        row.as_ref().map(user_with_groups_from_row).transpose()
    }

    async fn update_user(
        &self,
        org: OrgId,
        current: &StoredResource,
        user: &StoredResource,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.user_updates.update(org, current, user, events).await
    }

    async fn delete_user(
        &self,
        org: OrgId,
        deletion: &MemberDeletion,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let id = deletion.member;
        // Out of memory before the delete can commit, and for good.
        self.keys.forget(&(org.0, id.0));
        let txn = self.db.begin().await.map_err(db_error)?;
        // The person's data key is in the user's row: deleting the row
        // erases every sealed copy of its profile, in this transaction or not
        // at all.
        delete_member(&txn, ScimUsers::Table, org, deletion).await?;
        for statement in [
            Query::delete()
                .from_table(ScimGroupMembers::Table)
                .and_where(Expr::col(ScimGroupMembers::OrgId).eq(org.0))
                .and_where(Expr::col(ScimGroupMembers::MemberId).eq(id.0))
                .to_owned(),
            Query::delete()
                .from_table(ScimUserEmails::Table)
                .and_where(Expr::col(ScimUserEmails::OrgId).eq(org.0))
                .and_where(Expr::col(ScimUserEmails::UserId).eq(id.0))
                .to_owned(),
        ] {
            txn.execute(&statement).await.map_err(db_error)?;
        }
        append_journal(&txn, &self.keys, org, events).await?;
        txn.commit().await.map_err(db_error)?;
        self.journal_written.notify();
        Ok(())
    }

    async fn list_users(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> Result<Page<StoredResource>, StoreError> {
        let base = resource_select(ScimUsers::Table, ScimUsers::OrgId, org);
        list_user_rows(&self.reads, base, query, resource_from_row).await
    }

    async fn list_users_with_groups(
        &self,
        org: OrgId,
        query: &ListQuery,
    ) -> Result<Page<UserWithGroups>, StoreError> {
        let mut base = resource_select(ScimUsers::Table, ScimUsers::OrgId, org);
        base.expr_as(
            groups_of_user_row(self.reads.get_database_backend()),
            "groups",
        );
        list_user_rows(&self.reads, base, query, user_with_groups_from_row).await
    }

    async fn groups_of_users(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> Result<Vec<(ResourceId, GroupRef)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select = Query::select()
            .column((ScimGroupMembers::Table, ScimGroupMembers::MemberId))
            .column((ScimGroups::Table, ScimGroups::Id))
            .column((ScimGroups::Table, ScimGroups::DisplayName))
            .from(ScimGroupMembers::Table)
            .inner_join(
                ScimGroups::Table,
                Expr::col((ScimGroups::Table, ScimGroups::OrgId))
                    .equals((ScimGroupMembers::Table, ScimGroupMembers::OrgId))
                    .and(
                        Expr::col((ScimGroups::Table, ScimGroups::Id))
                            .equals((ScimGroupMembers::Table, ScimGroupMembers::GroupId)),
                    ),
            )
            .and_where(Expr::col((ScimGroupMembers::Table, ScimGroupMembers::OrgId)).eq(org.0))
            .and_where(
                Expr::col((ScimGroupMembers::Table, ScimGroupMembers::MemberId))
                    .is_in(ids.iter().map(|id| id.0)),
            )
            .order_by((ScimGroups::Table, ScimGroups::DisplayNameKey), Order::Asc)
            .to_owned();
        let rows = self.reads.query_all(&select).await.map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    ResourceId(r.try_get("", "member_id")?),
                    GroupRef {
                        id: ResourceId(r.try_get("", "id")?),
                        display_name: r.try_get("", "display_name")?,
                    },
                ))
            })
            .collect::<Result<_, DbErr>>()
            .map_err(unreadable)
    }
}
