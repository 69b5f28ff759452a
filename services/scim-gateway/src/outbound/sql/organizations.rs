//! Organizations and their tokens (`OrganizationStore`: the admin API's and
//! the startup bootstrap's), and the entitlement copy (`EntitlementStore`).
//! A change to tokens, connections or entitlements brackets the tenant cache
//! (`TenantCache::change`).

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use uuid::Uuid;

use provisioning_events::Event;

use super::rows::{db_error, from_micros, micros, unreadable};
use super::tables::{ApiTokens, Organizations};
use super::view::SqlScimView;
use crate::domain::models::{OrgId, Organization, TokenHash, TokenInfo};
use crate::domain::ports::{EntitlementStore, OrganizationStore, StoreError};

impl EntitlementStore for SqlScimView {
    async fn set_scim_included(
        &self,
        event: &Event,
        included: bool,
    ) -> Result<messaging::Admission, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let txn = self.db.begin().await.map_err(db_error)?;
        let admission = service_kit::inbox::claim(&txn, event, self.now())
            .await
            .map_err(|e| StoreError::Unavailable(anyhow!(e)))?;
        if admission != messaging::Admission::Apply {
            txn.rollback().await.map_err(db_error)?;
            return Ok(admission);
        }
        txn.execute(
            Query::update()
                .table(Organizations::Table)
                .value(Organizations::ScimIncluded, included)
                .and_where(Expr::col(Organizations::Id).eq(event.org_id)),
        )
        .await
        .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(admission)
    }
}

fn organization_from(row: &QueryResult) -> Result<Organization, StoreError> {
    let get = unreadable;
    Ok(Organization {
        id: OrgId(row.try_get("", "id").map_err(get)?),
        name: row.try_get("", "name").map_err(get)?,
        workspace_id: row.try_get("", "workspace_id").map_err(get)?,
        workspace_name: row.try_get("", "workspace_name").map_err(get)?,
        default_role: row.try_get("", "default_role").map_err(get)?,
        scim_included: row.try_get("", "scim_included").map_err(get)?,
        created_at: from_micros(row.try_get("", "created_at").map_err(get)?)?,
    })
}

fn select_organizations() -> SelectStatement {
    Query::select()
        .columns([
            Organizations::Id,
            Organizations::Name,
            Organizations::CreatedAt,
            Organizations::WorkspaceId,
            Organizations::WorkspaceName,
            Organizations::DefaultRole,
            Organizations::ScimIncluded,
        ])
        .from(Organizations::Table)
        .to_owned()
}

fn insert_organization(organization: &Organization) -> InsertStatement {
    Query::insert()
        .into_table(Organizations::Table)
        .columns([
            Organizations::Id,
            Organizations::Name,
            Organizations::CreatedAt,
            Organizations::WorkspaceId,
            Organizations::WorkspaceName,
            Organizations::DefaultRole,
            Organizations::ScimIncluded,
        ])
        .values_panic([
            organization.id.0.into(),
            organization.name.clone().into(),
            micros(organization.created_at).into(),
            organization.workspace_id.into(),
            organization.workspace_name.clone().into(),
            organization.default_role.clone().into(),
            organization.scim_included.into(),
        ])
        .to_owned()
}

fn insert_token(org: OrgId, token: &TokenInfo, hash: &TokenHash) -> InsertStatement {
    Query::insert()
        .into_table(ApiTokens::Table)
        .columns([
            ApiTokens::Id,
            ApiTokens::OrgId,
            ApiTokens::TokenHash,
            ApiTokens::Prefix,
            ApiTokens::CreatedAt,
        ])
        .values_panic([
            token.id.into(),
            org.0.into(),
            hash.to_hex().into(),
            token.prefix.clone().into(),
            micros(token.created_at).into(),
        ])
        .to_owned()
}

impl OrganizationStore for SqlScimView {
    async fn create_organization(&self, organization: &Organization) -> Result<(), StoreError> {
        self.db
            .execute(&insert_organization(organization))
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn create_organization_with_token(
        &self,
        organization: &Organization,
        token: &TokenInfo,
        hash: &TokenHash,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        txn.execute(&insert_organization(organization))
            .await
            .map_err(db_error)?;
        txn.execute(&insert_token(organization.id, token, hash))
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }

    async fn has_organizations(&self) -> Result<bool, StoreError> {
        let any = Query::select()
            .expr(Expr::val(1))
            .from(Organizations::Table)
            .to_owned();
        let any = service_kit::db::limited(self.db.get_database_backend(), any, 1, 0);
        let row = self.db.query_one_raw(any).await.map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn organization(&self, org: OrgId) -> Result<Option<Organization>, StoreError> {
        let row = self
            .db
            .query_one(select_organizations().and_where(Expr::col(Organizations::Id).eq(org.0)))
            .await
            .map_err(db_error)?;
        row.as_ref().map(organization_from).transpose()
    }

    async fn organizations(
        &self,
        after: Option<OrgId>,
        limit: u64,
    ) -> Result<Vec<Organization>, StoreError> {
        let mut select = select_organizations();
        if let Some(after) = after {
            select.and_where(Expr::col(Organizations::Id).gt(after.0));
        }
        select.order_by(Organizations::Id, Order::Asc);
        let page = service_kit::db::limited(self.db.get_database_backend(), select, limit, 0);
        let rows = self.db.query_all_raw(page).await.map_err(db_error)?;
        rows.iter().map(organization_from).collect()
    }

    async fn update_connection(&self, organization: &Organization) -> Result<bool, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let updated = self
            .db
            .execute(
                Query::update()
                    .table(Organizations::Table)
                    .value(Organizations::WorkspaceId, organization.workspace_id)
                    .value(
                        Organizations::WorkspaceName,
                        organization.workspace_name.clone(),
                    )
                    .value(
                        Organizations::DefaultRole,
                        organization.default_role.clone(),
                    )
                    .and_where(Expr::col(Organizations::Id).eq(organization.id.0)),
            )
            .await
            .map_err(db_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn add_token(
        &self,
        org: OrgId,
        token: &TokenInfo,
        hash: &TokenHash,
    ) -> Result<(), StoreError> {
        self.db
            .execute(&insert_token(org, token, hash))
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn tokens(&self, org: OrgId) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = self
            .db
            .query_all(
                Query::select()
                    .columns([
                        ApiTokens::Id,
                        ApiTokens::Prefix,
                        ApiTokens::CreatedAt,
                        ApiTokens::RevokedAt,
                        ApiTokens::ExpiresAt,
                        ApiTokens::LastUsedAt,
                    ])
                    .from(ApiTokens::Table)
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .order_by(ApiTokens::CreatedAt, Order::Asc)
                    .order_by(ApiTokens::Id, Order::Asc),
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let get = unreadable;
                let revoked: Option<i64> = row.try_get("", "revoked_at").map_err(get)?;
                let expires: Option<i64> = row.try_get("", "expires_at").map_err(get)?;
                let used: Option<i64> = row.try_get("", "last_used_at").map_err(get)?;
                Ok(TokenInfo {
                    id: row.try_get("", "id").map_err(get)?,
                    prefix: row.try_get("", "prefix").map_err(get)?,
                    created_at: from_micros(row.try_get("", "created_at").map_err(get)?)?,
                    revoked_at: revoked.map(from_micros).transpose()?,
                    expires_at: expires.map(from_micros).transpose()?,
                    last_used_at: used.map(from_micros).transpose()?,
                })
            })
            .collect()
    }

    async fn expire_token(
        &self,
        org: OrgId,
        token: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let updated = self
            .db
            .execute(
                Query::update()
                    .table(ApiTokens::Table)
                    .value(ApiTokens::ExpiresAt, micros(at))
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .and_where(Expr::col(ApiTokens::Id).eq(token)),
            )
            .await
            .map_err(db_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn revoke_token(
        &self,
        org: OrgId,
        token: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Held until this function returns, after its commit.
        let _change = self.tenants.change();
        let found = self
            .db
            .query_one(
                Query::select()
                    .column(ApiTokens::Id)
                    .from(ApiTokens::Table)
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .and_where(Expr::col(ApiTokens::Id).eq(token)),
            )
            .await
            .map_err(db_error)?
            .is_some();
        if !found {
            return Ok(false);
        }
        // Revoking twice keeps the first time.
        self.db
            .execute(
                Query::update()
                    .table(ApiTokens::Table)
                    .value(ApiTokens::RevokedAt, micros(at))
                    .and_where(Expr::col(ApiTokens::OrgId).eq(org.0))
                    .and_where(Expr::col(ApiTokens::Id).eq(token))
                    .and_where(Expr::col(ApiTokens::RevokedAt).is_null()),
            )
            .await
            .map_err(db_error)?;
        Ok(true)
    }
}
