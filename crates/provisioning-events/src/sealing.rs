//! Crypto-shredding: every personal value that leaves the gateway's SCIM view
//! is sealed with AES-256-GCM under a data key of its person (one per SCIM
//! user). The data keys live only in the gateway's key table, wrapped by a
//! key-encryption key; deleting the user destroys the data key, and with it
//! every sealed copy wherever it is (journal, bus, dead letters, backups).
//!
//! Sealed blob: `0x01 ‖ nonce (12 bytes, random) ‖ ciphertext ‖ tag (16 bytes)`,
//! written as unpadded URL-safe base64. The associated data binds a blob to
//! its organization, person and purpose, so a blob moved to another person or
//! another place does not open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;

/// The one blob format written today (AES-256-GCM, random 96-bit nonce).
const FORMAT_V1: u8 = 1;
const KEY_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not a blob this code wrote, or altered, or sealed for another person
    /// or purpose, or under another key.
    #[error("the sealed value does not open with this key")]
    DoesNotOpen,
    #[error("a key must be {KEY_LEN} bytes, base64-encoded")]
    BadKey,
    #[error("the system's random source failed")]
    NoRandomness,
}

/// What a sealed blob belongs to: checked when it is opened.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub org_id: Uuid,
    /// The SCIM user id.
    pub person: &'a str,
    /// Where the value lives, e.g. `"event-profile"`, `"data-key"`.
    pub purpose: &'a str,
}

impl SealContext<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(64 + self.person.len() + self.purpose.len());
        aad.extend_from_slice(b"scim-personal-v1\0");
        aad.extend_from_slice(self.org_id.as_bytes());
        aad.extend_from_slice(self.purpose.as_bytes());
        aad.push(0);
        aad.extend_from_slice(self.person.as_bytes());
        aad
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SealError::NoRandomness)?;
    Ok(bytes)
}

fn aead_key(bytes: &[u8; KEY_LEN]) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| SealError::BadKey)
}

fn seal_bytes(
    key: &[u8; KEY_LEN],
    context: &SealContext<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let nonce: [u8; NONCE_LEN] = random_bytes()?;
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
    sealed.push(FORMAT_V1);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(plaintext);
    let mut body = sealed.split_off(1 + NONCE_LEN);
    aead_key(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.associated_data()),
            &mut body,
        )
        .map_err(|_| SealError::DoesNotOpen)?;
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

fn open_bytes(
    key: &[u8; KEY_LEN],
    context: &SealContext<'_>,
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
        return Err(SealError::DoesNotOpen);
    };
    if rest.len() < NONCE_LEN {
        return Err(SealError::DoesNotOpen);
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::DoesNotOpen)?;
    let mut body = body.to_vec();
    let plain = aead_key(key)?
        .open_in_place(nonce, Aad::from(context.associated_data()), &mut body)
        .map_err(|_| SealError::DoesNotOpen)?;
    Ok(plain.to_vec())
}

fn key_from_base64(text: &str) -> Result<[u8; KEY_LEN], SealError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text.trim()))
        .map_err(|_| SealError::BadKey)?;
    bytes.try_into().map_err(|_| SealError::BadKey)
}

/// One person's data key. Never logged: `Debug` prints no key material.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; KEY_LEN]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    pub fn generate() -> Result<Self, SealError> {
        random_bytes().map(Self)
    }

    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        key_from_base64(text).map(Self)
    }

    /// For the request/reply answer to a consumer; never for a log.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn seal(&self, context: &SealContext<'_>, plaintext: &[u8]) -> Result<String, SealError> {
        seal_bytes(&self.0, context, plaintext).map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn open(&self, context: &SealContext<'_>, sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| SealError::DoesNotOpen)?;
        open_bytes(&self.0, context, &bytes)
    }
}

/// The key-encryption key (KEK) that wraps every data key in the gateway's
/// key table. Its id (the first 8 bytes of its HMAC over a fixed label, in
/// hex) is stored beside each wrapped key, so a rotation can tell which rows
/// still need rewrapping.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    key: [u8; KEY_LEN],
    id: String,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEncryptionKey({})", self.id)
    }
}

const DATA_KEY_PURPOSE: &str = "data-key";

impl KeyEncryptionKey {
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), b"kek-id");
        let id = hex(&tag.as_ref()[..8]);
        Self { key, id }
    }

    /// 32 bytes in base64 (standard or URL-safe), as in a `SCIM_…` variable or
    /// a key file.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        key_from_base64(text).map(Self::from_bytes)
    }

    pub fn generate() -> Result<Self, SealError> {
        random_bytes().map(Self::from_bytes)
    }

    /// The text a key file holds.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `data_key` sealed under this KEK for `org_id`/`person`.
    pub fn wrap(
        &self,
        data_key: &DataKey,
        org_id: Uuid,
        person: &str,
    ) -> Result<String, SealError> {
        let context = SealContext {
            org_id,
            person,
            purpose: DATA_KEY_PURPOSE,
        };
        seal_bytes(&self.key, &context, &data_key.0).map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn unwrap(&self, wrapped: &str, org_id: Uuid, person: &str) -> Result<DataKey, SealError> {
        let context = SealContext {
            org_id,
            person,
            purpose: DATA_KEY_PURPOSE,
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(wrapped)
            .map_err(|_| SealError::DoesNotOpen)?;
        let plain = open_bytes(&self.key, &context, &bytes)?;
        plain
            .try_into()
            .map(DataKey)
            .map_err(|_| SealError::DoesNotOpen)
    }

    /// A secret derived from this KEK for keyed hashes (the seat reservation
    /// key of a new user). It changes when the KEK is rotated.
    pub fn derived_secret(&self, label: &str) -> HashSecret {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.key),
            label.as_bytes(),
        );
        HashSecret(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }

    /// An AES-256-GCM key derived from this KEK (HMAC-SHA-256 of `label`),
    /// for sealing what is no person's and lives briefly (the gateway's list
    /// cursors). It changes when the KEK is rotated.
    pub fn derived_key(&self, label: &str) -> DataKey {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.key),
            label.as_bytes(),
        );
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(tag.as_ref());
        DataKey(key)
    }
}

/// The key-encryption keys a gateway holds: the current one wraps every new
/// data key; previous ones (during a rotation) only unwrap, until every data
/// key has been rewrapped under the current one.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: KeyEncryptionKey,
    previous: Vec<KeyEncryptionKey>,
}

impl KeyRing {
    pub fn new(current: KeyEncryptionKey, previous: Vec<KeyEncryptionKey>) -> Self {
        let previous = previous
            .into_iter()
            .filter(|kek| kek.id() != current.id())
            .collect();
        Self { current, previous }
    }

    pub fn current(&self) -> &KeyEncryptionKey {
        &self.current
    }

    /// The key with this id, current or previous.
    pub fn by_id(&self, id: &str) -> Option<&KeyEncryptionKey> {
        self.all().find(|kek| kek.id() == id)
    }

    /// Every key held: the current one first, then the previous ones.
    pub fn all(&self) -> impl Iterator<Item = &KeyEncryptionKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

/// A key for keyed hashes of personal values (HMAC-SHA-256): the hash names a
/// value without holding it, and cannot be recomputed without the secret.
#[derive(Clone)]
pub struct HashSecret(hmac::Key);

impl std::fmt::Debug for HashSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashSecret(…)")
    }
}

impl HashSecret {
    pub fn from_bytes(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// Hex of HMAC-SHA-256 over the parts, each followed by a 0 byte.
    pub fn keyed_hash(&self, parts: &[&[u8]]) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        for part in parts {
            context.update(part);
            context.update(&[0]);
        }
        hex(context.sign().as_ref())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn context<'a>(person: &'a str) -> SealContext<'a> {
        SealContext {
            org_id: Uuid::from_u128(7),
            person,
            purpose: "event-profile",
        }
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(&context("u-1"), b"ann@example.com").unwrap();
        assert!(!sealed.contains("ann"));
        assert_eq!(
            key.open(&context("u-1"), &sealed).unwrap(),
            b"ann@example.com"
        );
        assert_eq!(
            key.open(&context("u-2"), &sealed),
            Err(SealError::DoesNotOpen),
            "bound to its person"
        );
        let other = DataKey::generate().unwrap();
        assert_eq!(
            other.open(&context("u-1"), &sealed),
            Err(SealError::DoesNotOpen)
        );
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            key.open(&context("u-1"), &tampered),
            Err(SealError::DoesNotOpen)
        );
        assert_ne!(
            sealed,
            key.seal(&context("u-1"), b"ann@example.com").unwrap(),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn a_wrapped_data_key_unwraps_under_its_kek_for_its_person() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let again = KeyEncryptionKey::from_base64(&kek.to_base64()).unwrap();
        assert_eq!(kek.id(), again.id());
        let org = Uuid::from_u128(1);
        let key = DataKey::generate().unwrap();
        let wrapped = kek.wrap(&key, org, "u-1").unwrap();
        assert_eq!(again.unwrap(&wrapped, org, "u-1").unwrap(), key);
        assert!(kek.unwrap(&wrapped, org, "u-2").is_err());
        let other = KeyEncryptionKey::generate().unwrap();
        assert_ne!(other.id(), kek.id());
        assert!(other.unwrap(&wrapped, org, "u-1").is_err());
    }

    #[test]
    fn keys_are_read_from_base64_and_must_be_32_bytes() {
        assert_eq!(
            KeyEncryptionKey::from_base64("c2hvcnQ").unwrap_err(),
            SealError::BadKey
        );
        let standard = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert!(KeyEncryptionKey::from_base64(&standard).is_ok());
        assert!(format!("{:?}", DataKey::generate().unwrap()).contains('…'));
    }

    #[test]
    fn keyed_hashes_depend_on_the_secret() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let a = kek.derived_secret("seat").keyed_hash(&[b"x"]);
        assert_eq!(a, kek.derived_secret("seat").keyed_hash(&[b"x"]));
        assert_ne!(a, kek.derived_secret("other").keyed_hash(&[b"x"]));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn derived_keys_depend_on_the_kek_and_the_label() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let context = SealContext {
            org_id: Uuid::now_v7(),
            person: "",
            purpose: "cursor",
        };
        let sealed = kek.derived_key("a").seal(&context, b"x").unwrap();
        assert_eq!(kek.derived_key("a").open(&context, &sealed).unwrap(), b"x");
        assert!(kek.derived_key("b").open(&context, &sealed).is_err());
        let other = KeyEncryptionKey::generate().unwrap();
        assert!(other.derived_key("a").open(&context, &sealed).is_err());
    }
}
