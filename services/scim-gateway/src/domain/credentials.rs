//! Authentication by bearer token: the token's grant as stored, whether it
//! authenticates at the clock's instant (not revoked, before a rotated
//! token's overlap ends), and its use recorded.

use chrono::{DateTime, Utc};

use super::models::{BearerToken, Tenant};
use super::ports::{CredentialStore, StoreError};

/// The tenant `token` authenticates at `now`; `None` when the token is
/// unknown, revoked or expired.
pub async fn authenticated_tenant<S: CredentialStore>(
    store: &S,
    token: &BearerToken,
    now: DateTime<Utc>,
) -> Result<Option<Tenant>, StoreError> {
    let Some(grant) = store.token_grant(&token.hash()).await? else {
        return Ok(None);
    };
    if !grant.authenticates_at(now) {
        return Ok(None);
    }
    store.record_token_use(grant.token_id, now).await;
    Ok(Some(grant.tenant))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    use super::*;
    use crate::domain::models::{OrgId, TokenGrant, TokenHash};

    fn grant(revoked_at: Option<DateTime<Utc>>, expires_at: Option<DateTime<Utc>>) -> TokenGrant {
        TokenGrant {
            token_id: Uuid::now_v7(),
            tenant: Tenant {
                org: OrgId(Uuid::now_v7()),
                workspace: Uuid::nil(),
                default_role: "member".into(),
                scim_included: true,
                limits: Default::default(),
            },
            revoked_at,
            expires_at,
        }
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_token_authenticates_until_revoked_or_its_overlap_ends() {
        let now = noon();
        let second = Duration::seconds(1);
        assert!(grant(None, None).authenticates_at(now), "never rotated");
        assert!(
            grant(None, Some(now + second)).authenticates_at(now),
            "rotated, still within its overlap"
        );
        assert!(
            !grant(None, Some(now)).authenticates_at(now),
            "refused from the instant its overlap ends"
        );
        assert!(!grant(None, Some(now - second)).authenticates_at(now));
        assert!(
            !grant(Some(now - second), None).authenticates_at(now),
            "revoked"
        );
        assert!(
            !grant(Some(now + second), Some(now + second)).authenticates_at(now),
            "a revoked token is refused whatever its time stamps"
        );
    }

    /// Each recorded use: the token and the instant.
    type Uses = Arc<Mutex<Vec<(Uuid, DateTime<Utc>)>>>;

    /// One stored token, and the uses recorded.
    #[derive(Clone)]
    struct OneToken {
        grant: TokenGrant,
        hash: TokenHash,
        uses: Uses,
    }

    impl CredentialStore for OneToken {
        async fn token_grant(&self, token: &TokenHash) -> Result<Option<TokenGrant>, StoreError> {
            Ok((*token == self.hash).then(|| self.grant.clone()))
        }

        async fn record_token_use(&self, token: Uuid, at: DateTime<Utc>) {
            self.uses.lock().unwrap().push((token, at));
        }
    }

    #[tokio::test]
    async fn only_a_token_that_authenticates_names_its_tenant_and_has_its_use_recorded() {
        let now = noon();
        let token = BearerToken::new("scim_0123");
        let store = |grant: TokenGrant| OneToken {
            grant,
            hash: token.hash(),
            uses: Arc::default(),
        };

        let usable = store(grant(None, Some(now + Duration::hours(1))));
        let tenant = authenticated_tenant(&usable, &token, now).await.unwrap();
        assert_eq!(tenant.as_ref(), Some(&usable.grant.tenant));
        assert_eq!(*usable.uses.lock().unwrap(), [(usable.grant.token_id, now)]);

        let expired = store(grant(None, Some(now)));
        assert_eq!(
            authenticated_tenant(&expired, &token, now).await.unwrap(),
            None
        );
        let revoked = store(grant(Some(now), None));
        assert_eq!(
            authenticated_tenant(&revoked, &token, now).await.unwrap(),
            None
        );
        assert!(expired.uses.lock().unwrap().is_empty() && revoked.uses.lock().unwrap().is_empty());

        let other = BearerToken::new("scim_other");
        assert_eq!(
            authenticated_tenant(&usable, &other, now).await.unwrap(),
            None
        );
    }
}
