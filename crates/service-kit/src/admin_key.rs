//! The admin key that guards every `/admin/v1` API. Kept only as a SHA-256
//! hash in memory; a presented key is hashed and compared in constant time.

use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct AdminKey {
    hash: [u8; 32],
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(<redacted>)")
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl AdminKey {
    pub fn new(secret: &str) -> Self {
        Self {
            hash: digest(secret),
        }
    }

    /// Whether an `Authorization` header value carries this key as a bearer token.
    pub fn accepts_header(&self, authorization: Option<&str>) -> bool {
        authorization
            .and_then(bearer_token)
            .is_some_and(|presented| self.accepts(presented))
    }

    /// Whether `presented` is this key (compared as hashes, in constant time).
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        presented
            .iter()
            .zip(self.hash.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_its_own_key() {
        let key = AdminKey::new("s3cret");
        assert!(key.accepts_header(Some("Bearer s3cret")));
        assert!(key.accepts_header(Some("bearer  s3cret ")));
        assert!(!key.accepts_header(Some("Bearer s3cret2")));
        assert!(!key.accepts_header(Some("Basic s3cret")));
        assert!(!key.accepts_header(Some("Bearer")));
        assert!(!key.accepts_header(None));
        assert!(!format!("{key:?}").contains("s3cret"));
    }
}
