//! `CredentialStore`: a bearer token's hash to its grant (the token's row and
//! its organization's tenant, with the organization's own request limits)
//! through the tenant cache, and the token's last use written at most once a
//! minute.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::limits::{override_columns, override_from};
use super::rows::{db_error, from_micros, micros, unreadable};
use super::tables::{ApiTokens, OrganizationLimits, Organizations};
use super::view::SqlScimView;
use crate::domain::models::{OrgId, Tenant, TokenGrant, TokenHash};
use crate::domain::ports::{CredentialStore, StoreError};

/// How stale a token's `last_used_at` may be.
const TOKEN_USE_RESOLUTION: Duration = Duration::from_secs(60);

impl CredentialStore for SqlScimView {
    async fn token_grant(&self, token: &TokenHash) -> Result<Option<TokenGrant>, StoreError> {
        if let Some(cached) = self.tenants.get(token, self.now()) {
            return Ok(Some(cached));
        }
        let generation = self.tenants.generation();
        let mut select = Query::select();
        override_columns(&mut select);
        let row = self
            .reads
            .query_one(
                select
                    .column((ApiTokens::Table, ApiTokens::OrgId))
                    .expr_as(Expr::col((ApiTokens::Table, ApiTokens::Id)), "token_id")
                    .column((ApiTokens::Table, ApiTokens::RevokedAt))
                    .column((ApiTokens::Table, ApiTokens::ExpiresAt))
                    .column((Organizations::Table, Organizations::WorkspaceId))
                    .column((Organizations::Table, Organizations::DefaultRole))
                    .column((Organizations::Table, Organizations::ScimIncluded))
                    .from(ApiTokens::Table)
                    .inner_join(
                        Organizations::Table,
                        Expr::col((Organizations::Table, Organizations::Id))
                            .equals((ApiTokens::Table, ApiTokens::OrgId)),
                    )
                    .left_join(
                        OrganizationLimits::Table,
                        Expr::col((OrganizationLimits::Table, OrganizationLimits::OrgId))
                            .equals((ApiTokens::Table, ApiTokens::OrgId)),
                    )
                    .and_where(
                        Expr::col((ApiTokens::Table, ApiTokens::TokenHash)).eq(token.to_hex()),
                    ),
            )
            .await
            .map_err(db_error)?;
        let Some(r) = row else {
            return Ok(None);
        };
        let read = || -> Result<(Uuid, Option<i64>, Option<i64>, Tenant), DbErr> {
            Ok((
                r.try_get("", "token_id")?,
                r.try_get("", "revoked_at")?,
                r.try_get("", "expires_at")?,
                Tenant {
                    org: OrgId(r.try_get("", "org_id")?),
                    workspace: r.try_get("", "workspace_id")?,
                    default_role: r.try_get("", "default_role")?,
                    scim_included: r.try_get("", "scim_included")?,
                    limits: override_from(&r)?,
                },
            ))
        };
        let (token_id, revoked_at, expires_at, tenant) = read().map_err(unreadable)?;
        let grant = TokenGrant {
            token_id,
            tenant,
            revoked_at: revoked_at.map(from_micros).transpose()?,
            expires_at: expires_at.map(from_micros).transpose()?,
        };
        self.tenants.put(*token, grant.clone(), generation);
        Ok(Some(grant))
    }

    /// Written unless that was done within the last minute; a failure is
    /// logged.
    async fn record_token_use(&self, token: Uuid, at: DateTime<Utc>) {
        let now = Instant::now();
        {
            let mut uses = self
                .token_uses
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if uses
                .get(&token)
                .is_some_and(|last| now.duration_since(*last) < TOKEN_USE_RESOLUTION)
            {
                return;
            }
            uses.insert(token, now);
        }
        let written = self
            .db
            .execute(
                Query::update()
                    .table(ApiTokens::Table)
                    .value(ApiTokens::LastUsedAt, micros(at))
                    .and_where(Expr::col(ApiTokens::Id).eq(token)),
            )
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "recording a token's last use failed");
        }
    }
}
