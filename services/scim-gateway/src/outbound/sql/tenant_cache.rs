//! Tenants of recently used tokens: most requests then authenticate without
//! a database round trip. An entry is used for at most `ttl` after it was
//! read, never past its token's expiry, and the whole cache is emptied when
//! this process revokes or expires a token or changes an organization's
//! connection or entitlement. Another gateway replica's change reaches this
//! one's cache within `ttl` (docs/operations.md). Failed lookups are not
//! kept: refusals go to the database every time (and are throttled).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::models::{Tenant, TokenHash};

/// Tokens kept at most; a full cache drops what is stale, or everything.
const MAX_ENTRIES: usize = 10_000;

pub struct TenantCache {
    ttl: Duration,
    entries: Mutex<HashMap<TokenHash, Cached>>,
}

#[derive(Clone)]
pub struct Cached {
    pub token_id: Uuid,
    pub tenant: Tenant,
    pub expires_at: Option<DateTime<Utc>>,
    read_at: Instant,
}

impl TenantCache {
    /// A cache keeping entries for `ttl`; zero keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, token: &TokenHash, now: DateTime<Utc>) -> Option<Cached> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = entries.get(token)?;
        let fresh = cached.read_at.elapsed() < self.ttl;
        let valid = cached.expires_at.is_none_or(|at| at > now);
        (fresh && valid).then(|| cached.clone())
    }

    pub fn put(
        &self,
        token: TokenHash,
        token_id: Uuid,
        tenant: Tenant,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, cached| cached.read_at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            token,
            Cached {
                token_id,
                tenant,
                expires_at,
                read_at: Instant::now(),
            },
        );
    }

    /// Forgets every entry: called after a change to tokens, connections or
    /// entitlements, so the next request reads the database.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::models::OrgId;

    fn tenant() -> Tenant {
        Tenant {
            org: OrgId(Uuid::now_v7()),
            workspace: Uuid::now_v7(),
            default_role: "member".into(),
            scim_included: true,
        }
    }

    #[test]
    fn an_entry_lives_for_the_ttl_and_never_past_its_token() {
        let cache = TenantCache::new(Duration::from_millis(50));
        let now = Utc::now();
        let (a, b) = (TokenHash([1; 32]), TokenHash([2; 32]));
        cache.put(a, Uuid::nil(), tenant(), None);
        cache.put(
            b,
            Uuid::nil(),
            tenant(),
            Some(now + chrono::Duration::seconds(1)),
        );
        assert!(cache.get(&a, now).is_some());
        assert!(cache.get(&b, now).is_some());
        assert!(
            cache.get(&b, now + chrono::Duration::seconds(2)).is_none(),
            "the token expired"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&a, now).is_none(), "stale after the ttl");
    }

    #[test]
    fn clear_forgets_everything_and_zero_keeps_nothing() {
        let cache = TenantCache::new(Duration::from_secs(60));
        let token = TokenHash([3; 32]);
        cache.put(token, Uuid::nil(), tenant(), None);
        cache.clear();
        assert!(cache.get(&token, Utc::now()).is_none());
        let off = TenantCache::new(Duration::ZERO);
        off.put(token, Uuid::nil(), tenant(), None);
        assert!(off.get(&token, Utc::now()).is_none());
    }
}
