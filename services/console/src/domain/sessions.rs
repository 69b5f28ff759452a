//! Signing in with the admin key, sessions with an idle and an absolute
//! expiry, and the synchronizer token (CSRF) each session's forms carry.
//! A session is found by the hash of its key; the key itself is only ever
//! in the browser's cookie.

use chrono::{DateTime, Duration, Utc};
use service_kit::admin_key::AdminKey;
use sha2::{Digest, Sha256};

use super::models::{Session, SessionKey};
use super::ports::{Clock, Ports, Secrets, SessionStore, SessionStoreError};

/// How long a session lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Unused for this long, a session ends.
    pub idle: Duration,
    /// However used, a session ends this long after sign-in.
    pub absolute: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("that is not the admin key")]
    WrongKey,
    #[error(transparent)]
    Store(#[from] SessionStoreError),
}

pub struct Sessions<A: Ports> {
    store: A::Sessions,
    clock: A::Clock,
    secrets: A::Secrets,
    admin_key: AdminKey,
    policy: SessionPolicy,
}

/// Whether two secrets are equal, in time independent of where they differ
/// (and of their lengths: their digests are compared).
pub fn secrets_match(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl<A: Ports> Sessions<A> {
    pub fn new(
        store: A::Sessions,
        clock: A::Clock,
        secrets: A::Secrets,
        admin_key: AdminKey,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            store,
            clock,
            secrets,
            admin_key,
            policy,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> &A::Sessions {
        &self.store
    }

    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// A new session when `presented` is the admin key; nothing is stored
    /// otherwise.
    pub async fn sign_in(&self, presented: &str) -> Result<(SessionKey, Session), SignInError> {
        if !self.admin_key.accepts(presented) {
            return Err(SignInError::WrongKey);
        }
        let now = self.clock.now();
        self.store
            .remove_expired(now - self.policy.idle, now - self.policy.absolute)
            .await?;
        let key = SessionKey::new(self.secrets.new_secret());
        let session = Session {
            csrf: self.secrets.new_secret(),
            created_at: now,
            last_seen_at: now,
        };
        self.store.insert(key.hash(), session.clone()).await?;
        Ok((key, session))
    }

    /// The session of `key` when it exists and has not expired; it is seen
    /// now. An expired session is removed.
    pub async fn resume(&self, key: &SessionKey) -> Result<Option<Session>, SessionStoreError> {
        let hash = key.hash();
        let Some(session) = self.store.find(hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if expired(&session, now, self.policy) {
            self.store.remove(hash).await?;
            return Ok(None);
        }
        self.store.touch(hash, now).await?;
        Ok(Some(Session {
            last_seen_at: now,
            ..session
        }))
    }

    /// Ends the session: its key is refused from now on.
    pub async fn sign_out(&self, key: &SessionKey) -> Result<(), SessionStoreError> {
        self.store.remove(key.hash()).await
    }

    /// A fresh unguessable value (the sign-in form's own CSRF token).
    pub fn new_secret(&self) -> String {
        self.secrets.new_secret()
    }
}

/// Whether the session is over at `now`: idle too long, or too old.
pub fn expired(session: &Session, now: DateTime<Utc>, policy: SessionPolicy) -> bool {
    now - session.last_seen_at >= policy.idle || now - session.created_at >= policy.absolute
}

/// Whether a form's token is the session's synchronizer token.
pub fn csrf_matches(session: &Session, presented: Option<&str>) -> bool {
    presented.is_some_and(|token| secrets_match(&session.csrf, token))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn session(created: i64, seen: i64) -> Session {
        let at = |minutes| DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes);
        Session {
            csrf: "token".to_owned(),
            created_at: at(created),
            last_seen_at: at(seen),
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let policy = SessionPolicy {
            idle: Duration::minutes(30),
            absolute: Duration::minutes(480),
        };
        let at = |minutes| DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes);
        assert!(!expired(&session(0, 0), at(29), policy));
        assert!(expired(&session(0, 0), at(30), policy));
        assert!(!expired(&session(0, 470), at(479), policy));
        assert!(expired(&session(0, 470), at(480), policy), "absolute");
    }

    #[test]
    fn only_the_sessions_own_token_matches() {
        let s = session(0, 0);
        assert!(csrf_matches(&s, Some("token")));
        assert!(!csrf_matches(&s, Some("token2")));
        assert!(!csrf_matches(&s, Some("")));
        assert!(!csrf_matches(&s, None));
    }
}
