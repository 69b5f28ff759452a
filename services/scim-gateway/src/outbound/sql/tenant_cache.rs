//! Grants (token and tenant) of recently used tokens: most requests then
//! authenticate without a database round trip. An entry is used for at most
//! `ttl` after it was read, never past its token's expiry, and the whole
//! cache is emptied when this process revokes or expires a token or changes
//! an organization's connection or entitlement. Another gateway replica's
//! change reaches this one's cache within `ttl` (docs/operations.md).
//! Unknown tokens are not kept: those refusals go to the database every
//! time (and are throttled). Whether a grant authenticates is the domain's
//! decision, from the cached grant as from a read one.
//!
//! A change in this process is bracketed by [`TenantCache::change`]: while
//! it runs nothing is served from the cache, and nothing read before it ends
//! is kept, so no request after its commit sees what it changed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::models::{TokenGrant, TokenHash};

/// Tokens kept at most; a full cache drops what is stale, or everything.
const MAX_ENTRIES: usize = 10_000;

pub struct TenantCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<TokenHash, Cached>,
    /// Moves at every change: a read that began under another generation
    /// may have read what the change replaced, and is not kept.
    generation: u64,
    /// Changes under way: the cache serves nothing meanwhile.
    changing: u32,
}

/// A change to tokens, connections or entitlements under way; dropping it
/// (after the commit, or on failure) empties the cache again.
pub struct Change<'a>(&'a TenantCache);

impl Drop for Change<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.changing = state.changing.saturating_sub(1);
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
    }
}

struct Cached {
    grant: TokenGrant,
    read_at: Instant,
}

impl TenantCache {
    /// A cache keeping entries for `ttl`; zero keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// To be read before the database is: handed back to [`Self::put`].
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn get(&self, token: &TokenHash, now: DateTime<Utc>) -> Option<TokenGrant> {
        let state = self.lock();
        if state.changing > 0 {
            return None;
        }
        let cached = state.entries.get(token)?;
        let fresh = cached.read_at.elapsed() < self.ttl;
        let valid = cached.grant.expires_at.is_none_or(|at| at > now);
        (fresh && valid).then(|| cached.grant.clone())
    }

    pub fn put(&self, token: TokenHash, grant: TokenGrant, read_at_generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut state = self.lock();
        if state.changing > 0 || state.generation != read_at_generation {
            return;
        }
        let entries = &mut state.entries;
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, cached| cached.read_at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            token,
            Cached {
                grant,
                read_at: Instant::now(),
            },
        );
    }

    /// Brackets a change to tokens, connections or entitlements: from now
    /// until the returned guard is dropped (after the commit) requests read
    /// the database, and what they read is not kept.
    pub fn change(&self) -> Change<'_> {
        let mut state = self.lock();
        state.changing += 1;
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
        Change(self)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::models::{OrgId, Tenant};

    fn grant(expires_at: Option<DateTime<Utc>>) -> TokenGrant {
        TokenGrant {
            token_id: Uuid::nil(),
            tenant: Tenant {
                org: OrgId(Uuid::now_v7()),
                workspace: Uuid::now_v7(),
                default_role: "member".into(),
                scim_included: true,
                limits: Default::default(),
            },
            revoked_at: None,
            expires_at,
        }
    }

    #[test]
    fn an_entry_lives_for_the_ttl_and_never_past_its_token() {
        let cache = TenantCache::new(Duration::from_millis(50));
        let now = Utc::now();
        let (a, b) = (TokenHash([1; 32]), TokenHash([2; 32]));
        let generation = cache.generation();
        cache.put(a, grant(None), generation);
        cache.put(
            b,
            grant(Some(now + chrono::Duration::seconds(1))),
            generation,
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
    fn a_change_forgets_everything_serves_nothing_and_keeps_nothing_read_before_it_ended() {
        let cache = TenantCache::new(Duration::from_secs(60));
        let token = TokenHash([3; 32]);
        cache.put(token, grant(None), cache.generation());
        assert!(cache.get(&token, Utc::now()).is_some());

        let read_before = cache.generation();
        let change = cache.change();
        assert!(cache.get(&token, Utc::now()).is_none(), "emptied");
        // A read during the change is neither served nor kept.
        cache.put(token, grant(None), cache.generation());
        assert!(cache.get(&token, Utc::now()).is_none());
        drop(change);
        // A read that began before the change ended may hold the old state.
        cache.put(token, grant(None), read_before);
        assert!(
            cache.get(&token, Utc::now()).is_none(),
            "read before the change"
        );
        cache.put(token, grant(None), cache.generation());
        assert!(cache.get(&token, Utc::now()).is_some(), "read after it");

        let off = TenantCache::new(Duration::ZERO);
        off.put(token, grant(None), off.generation());
        assert!(off.get(&token, Utc::now()).is_none());
    }
}
