//! Sessions in this process's memory, by the hash of their key. One console
//! replica only; a restart signs everyone out (docs/console.md).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::domain::models::{Session, SessionHash};
use crate::domain::ports::{SessionStore, SessionStoreError};

#[derive(Debug, Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<SessionHash, Session>>,
}

impl MemorySessions {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<SessionHash, Session>) -> T) -> T {
        f(&mut self.sessions.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl SessionStore for MemorySessions {
    async fn insert(&self, hash: SessionHash, session: Session) -> Result<(), SessionStoreError> {
        self.with(|s| s.insert(hash, session));
        Ok(())
    }

    async fn find(&self, hash: SessionHash) -> Result<Option<Session>, SessionStoreError> {
        Ok(self.with(|s| s.get(&hash).cloned()))
    }

    async fn touch(&self, hash: SessionHash, at: DateTime<Utc>) -> Result<(), SessionStoreError> {
        self.with(|s| {
            if let Some(session) = s.get_mut(&hash) {
                session.last_seen_at = at;
            }
        });
        Ok(())
    }

    async fn remove(&self, hash: SessionHash) -> Result<(), SessionStoreError> {
        self.with(|s| s.remove(&hash));
        Ok(())
    }

    async fn remove_expired(
        &self,
        last_seen_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<(), SessionStoreError> {
        self.with(|s| {
            s.retain(|_, session| {
                session.last_seen_at >= last_seen_before && session.created_at >= created_before
            });
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use chrono::Duration;
    use service_kit::admin_key::AdminKey;

    use super::*;
    use crate::domain::models::SessionKey;
    use crate::domain::ports::{Clock, Ports};
    use crate::domain::sessions::{SessionPolicy, Sessions, SignInError};
    use crate::outbound::admin_api::AdminApis;
    use crate::outbound::secrets::RandomSecrets;

    /// A clock the test moves.
    #[derive(Clone)]
    struct TestClock(Arc<Mutex<DateTime<Utc>>>);

    impl TestClock {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    struct TestPorts;

    impl Ports for TestPorts {
        type Platform = AdminApis;
        type Sessions = MemorySessions;
        type Clock = TestClock;
        type Secrets = RandomSecrets;
    }

    fn sessions() -> (Sessions<TestPorts>, TestClock) {
        let clock = TestClock(Arc::new(Mutex::new(Utc::now())));
        let policy = SessionPolicy {
            idle: Duration::minutes(30),
            absolute: Duration::minutes(120),
        };
        let sessions = Sessions::new(
            MemorySessions::default(),
            clock.clone(),
            RandomSecrets,
            AdminKey::new("the-key"),
            policy,
        );
        (sessions, clock)
    }

    #[tokio::test]
    async fn a_session_lives_while_used_until_its_absolute_end() {
        let (sessions, clock) = sessions();
        assert!(matches!(
            sessions.sign_in("not-the-key").await,
            Err(SignInError::WrongKey)
        ));
        let (key, session) = sessions.sign_in("the-key").await.unwrap();
        assert_ne!(key.expose(), session.csrf);
        assert!(
            sessions
                .resume(&SessionKey::new("guessed".to_owned()))
                .await
                .unwrap()
                .is_none()
        );
        for _ in 0..4 {
            clock.advance(Duration::minutes(29));
            assert!(
                sessions.resume(&key).await.unwrap().is_some(),
                "used in time"
            );
        }
        clock.advance(Duration::minutes(29));
        assert!(
            sessions.resume(&key).await.unwrap().is_none(),
            "over two hours since sign-in"
        );

        let (key, _) = sessions.sign_in("the-key").await.unwrap();
        clock.advance(Duration::minutes(30));
        assert!(sessions.resume(&key).await.unwrap().is_none(), "idle");

        let (key, _) = sessions.sign_in("the-key").await.unwrap();
        sessions.sign_out(&key).await.unwrap();
        assert!(sessions.resume(&key).await.unwrap().is_none(), "signed out");
    }

    #[tokio::test]
    async fn sessions_are_kept_by_hash_and_expired_ones_forgotten_at_sign_in() {
        let (sessions, clock) = sessions();
        let (old, _) = sessions.sign_in("the-key").await.unwrap();
        clock.advance(Duration::minutes(31));
        let (new, _) = sessions.sign_in("the-key").await.unwrap();
        let store = sessions.store();
        let kept: Vec<SessionHash> = store.with(|s| s.keys().copied().collect());
        assert_eq!(kept, vec![new.hash()], "the idle one swept at sign-in");
        assert!(store.find(old.hash()).await.unwrap().is_none());
    }
}
