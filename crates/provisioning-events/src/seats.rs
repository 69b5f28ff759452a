//! The seat reservation contract between the gateway and licensing,
//! carried by request/reply (JSON bodies).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::sealing::HashSecret;

/// The queue licensing serves reservations on.
pub const SEAT_RESERVATION_QUEUE: &str = "licensing.seat-reservations";

/// What the gateway asks before it creates a user ([`new_user_key`]) or
/// re-enables one (`reactivate:<scim user id>`). The same key again is the
/// same reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatRequest {
    pub org_id: Uuid,
    pub key: String,
}

/// Most requests one message may carry. A message's body is either one
/// [`SeatRequest`] (answered by one [`SeatReply`]) or a JSON array of up to
/// this many (answered by an array of replies, in the same order, each
/// decided as if asked alone, one after the other): a gateway creating many
/// users at once pays a round trip per array instead of one per user.
pub const MAX_SEAT_REQUESTS_PER_MESSAGE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SeatReply {
    Granted {
        reservation_id: Uuid,
        used: u32,
        quota: u32,
    },
    Denied {
        used: u32,
        quota: u32,
    },
    /// The subscription does not include SCIM provisioning.
    NotIncluded,
    /// Licensing could not decide (its database is down): retry later.
    Unavailable,
}

/// The label the gateway derives its seat-key secret from its key-encryption
/// key with ([`crate::sealing::KeyEncryptionKey::derived_secret`]).
pub const SEAT_KEY_SECRET_LABEL: &str = "seat-reservation-key/v1";

/// The reservation key of a new user: `user:h:<hex HMAC-SHA-256 of the
/// organization and the lowercased userName>` under a secret of the
/// gateway's, so that an IdP retrying a create asks for the same seat again
/// while licensing never stores the userName. `user.provisioned` carries it
/// (`seat_key`) for licensing to confirm.
pub fn new_user_key(secret: &HashSecret, org_id: Uuid, user_name: &str) -> String {
    let hash = secret.keyed_hash(&[org_id.as_bytes(), user_name.to_lowercase().as_bytes()]);
    format!("user:h:{hash}")
}

/// The key version 1 events imply (`user.provisioned` without `seat_key`):
/// the lowercased userName in clear, as journals before sealing reserved.
pub fn legacy_new_user_key(user_name: &str) -> String {
    format!("user:{}", user_name.to_lowercase())
}

pub fn reactivation_key(scim_user_id: &str) -> String {
    format!("reactivate:{scim_user_id}")
}
