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
