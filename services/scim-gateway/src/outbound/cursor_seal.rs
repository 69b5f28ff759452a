//! List cursors sealed with AES-256-GCM (`provisioning_events::sealing`)
//! under a key derived from the key-encryption key — its own key, not a
//! person's, so it works the same in the embedded process and on every
//! replica that holds the KEK. The associated data binds a cursor to its
//! organization and query: one used elsewhere does not open. Cursors sealed
//! under a previous KEK of a rotation still open until it is dropped.

use provisioning_events::sealing::{DataKey, KeyRing, SealContext};

use crate::domain::models::OrgId;
use crate::domain::ports::CursorSeal;

/// What the cursor key is derived with from a KEK.
const CURSOR_KEY_LABEL: &str = "scim-gateway list cursor key v1";
const PURPOSE: &str = "list-cursor";
const MAX_CURSOR_CHARS: usize = 256 * 1024;

pub struct KeyedCursorSeal {
    /// The current KEK's cursor key first.
    keys: Vec<DataKey>,
}

impl KeyedCursorSeal {
    pub fn new(ring: &KeyRing) -> Self {
        Self {
            keys: ring
                .all()
                .map(|kek| kek.derived_key(CURSOR_KEY_LABEL))
                .collect(),
        }
    }
}

fn context(org: OrgId, binding: &str) -> SealContext<'_> {
    SealContext {
        org_id: org.0,
        // Not a person here: what the cursor is for (the query's digest).
        person: binding,
        purpose: PURPOSE,
    }
}

impl CursorSeal for KeyedCursorSeal {
    fn seal(&self, org: OrgId, binding: &str, plain: &[u8]) -> Result<String, anyhow::Error> {
        let key = self
            .keys
            .first()
            .ok_or_else(|| anyhow::anyhow!("no cursor key"))?;
        Ok(key.seal(&context(org, binding), plain)?)
    }

    fn open(&self, org: OrgId, binding: &str, sealed: &str) -> Option<Vec<u8>> {
        // Far above any cursor we issue (a text sort value is at most
        // `scim.max_string_chars` characters): no work for absurd input.
        if sealed.len() > MAX_CURSOR_CHARS {
            return None;
        }
        self.keys
            .iter()
            .find_map(|key| key.open(&context(org, binding), sealed).ok())
    }
}

#[cfg(test)]
mod tests {
    use provisioning_events::sealing::KeyEncryptionKey;
    use uuid::Uuid;

    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(KeyEncryptionKey::generate().unwrap(), Vec::new())
    }

    #[test]
    fn a_cursor_opens_only_for_its_organization_query_and_key() {
        let ring = ring();
        let seal = KeyedCursorSeal::new(&ring);
        let org = OrgId(Uuid::now_v7());
        let sealed = seal.seal(org, "q1", b"position").unwrap();
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "unreserved characters only: {sealed}"
        );
        assert_eq!(seal.open(org, "q1", &sealed).unwrap(), b"position");
        assert_eq!(seal.open(org, "q2", &sealed), None, "another query");
        assert_eq!(seal.open(OrgId(Uuid::now_v7()), "q1", &sealed), None);
        assert_eq!(
            KeyedCursorSeal::new(&self::ring()).open(org, "q1", &sealed),
            None
        );
        for garbage in [
            "",
            "x",
            "%%%",
            "AAAA",
            &"A".repeat(10_000),
            &"A".repeat(300_000),
        ] {
            assert_eq!(seal.open(org, "q1", garbage), None, "{garbage}");
        }
        let mut altered = sealed.clone().into_bytes();
        let middle = altered.len() / 2;
        altered[middle] = if altered[middle] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(seal.open(org, "q1", &altered), None, "altered");
    }

    #[test]
    fn cursors_of_a_previous_kek_open_after_a_rotation() {
        let old = KeyEncryptionKey::generate().unwrap();
        let org = OrgId(Uuid::now_v7());
        let before = KeyedCursorSeal::new(&KeyRing::new(old.clone(), Vec::new()));
        let sealed = before.seal(org, "q", b"p").unwrap();
        let rotated = KeyRing::new(KeyEncryptionKey::generate().unwrap(), vec![old]);
        let after = KeyedCursorSeal::new(&rotated);
        assert_eq!(after.open(org, "q", &sealed).unwrap(), b"p");
        let resealed = after.seal(org, "q", b"p").unwrap();
        assert_eq!(
            before.open(org, "q", &resealed),
            None,
            "sealed under the new key"
        );
    }
}
