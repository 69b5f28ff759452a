//! The seat reservation contract between the gateway and licensing,
//! carried by request/reply (JSON bodies).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The queue licensing serves reservations on.
pub const SEAT_RESERVATION_QUEUE: &str = "licensing.seat-reservations";

/// What the gateway asks before it creates a user (`user:<lowercased
/// userName>`) or re-enables one (`reactivate:<scim user id>`). The same key
/// again is the same reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatRequest {
    pub org_id: Uuid,
    pub key: String,
}

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

pub fn new_user_key(user_name: &str) -> String {
    format!("user:{}", user_name.to_lowercase())
}

pub fn reactivation_key(scim_user_id: &str) -> String {
    format!("reactivate:{scim_user_id}")
}
