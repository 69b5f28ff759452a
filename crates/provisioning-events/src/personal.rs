//! Personal values in events: a user event's profile travels sealed under
//! its person's data key (see [`crate::sealing`]), and opens as erased once
//! that key has been destroyed.
//!
//! Wire forms of `payload.profile`:
//! - sealed (schema_version 2, what the gateway writes): `{"sealed": "<base64>"}`
//! - a plain profile object (schema_version 1 journals written before
//!   sealing): read as [`PersonalProfile::Open`];
//! - erased (what opening gives without a key, and what the event log shows):
//!   `{"erased": true}`.
//!
//! Also the request/reply contract consumers fetch data keys with
//! ([`DATA_KEY_QUEUE`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::sealing::{DataKey, SealContext, SealError};
use crate::{AggregateKind, Event, EventBody, UserProfile};

/// Where a sealed profile lives, in its associated data.
const PROFILE_PURPOSE: &str = "event-profile";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonalProfile {
    /// Readable: in the gateway before sealing, in a consumer after opening,
    /// or a schema_version 1 event.
    Open(UserProfile),
    /// Sealed under the person's data key (base64 blob).
    Sealed(String),
    /// The person's data key is gone: the values are unrecoverable.
    Erased,
}

impl PersonalProfile {
    pub fn opened(&self) -> Option<&UserProfile> {
        match self {
            PersonalProfile::Open(profile) => Some(profile),
            PersonalProfile::Sealed(_) | PersonalProfile::Erased => None,
        }
    }
}

impl Default for PersonalProfile {
    fn default() -> Self {
        PersonalProfile::Open(UserProfile::default())
    }
}

impl From<UserProfile> for PersonalProfile {
    fn from(profile: UserProfile) -> Self {
        PersonalProfile::Open(profile)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ProfileWire {
    Sealed { sealed: String },
    Erased { erased: bool },
    Open(UserProfile),
}

impl Serialize for PersonalProfile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PersonalProfile::Open(profile) => profile.serialize(serializer),
            PersonalProfile::Sealed(sealed) => ProfileWire::Sealed {
                sealed: sealed.clone(),
            }
            .serialize(serializer),
            PersonalProfile::Erased => ProfileWire::Erased { erased: true }.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for PersonalProfile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match ProfileWire::deserialize(deserializer)? {
            ProfileWire::Sealed { sealed } => PersonalProfile::Sealed(sealed),
            ProfileWire::Erased { .. } => PersonalProfile::Erased,
            ProfileWire::Open(profile) => PersonalProfile::Open(profile),
        })
    }
}

/// Whose personal values an event carries: the organization and SCIM user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PersonRef {
    pub org_id: Uuid,
    pub user_id: String,
}

impl Event {
    pub fn profile(&self) -> Option<&PersonalProfile> {
        match &self.body {
            EventBody::UserProvisioned { profile, .. }
            | EventBody::UserReactivated { profile, .. }
            | EventBody::UserUpdated { profile } => Some(profile),
            _ => None,
        }
    }

    fn profile_mut(&mut self) -> Option<&mut PersonalProfile> {
        match &mut self.body {
            EventBody::UserProvisioned { profile, .. }
            | EventBody::UserReactivated { profile, .. }
            | EventBody::UserUpdated { profile } => Some(profile),
            _ => None,
        }
    }

    /// The person whose data key seals this event's personal values, if it
    /// carries any.
    pub fn person(&self) -> Option<PersonRef> {
        (self.aggregate.kind == AggregateKind::User && self.profile().is_some()).then(|| {
            PersonRef {
                org_id: self.org_id,
                user_id: self.aggregate.id.clone(),
            }
        })
    }

    /// Whether the event carries a sealed value (one that needs a data key).
    pub fn is_sealed(&self) -> bool {
        matches!(self.profile(), Some(PersonalProfile::Sealed(_)))
    }

    fn seal_context(&self) -> SealContext<'_> {
        SealContext {
            org_id: self.org_id,
            person: &self.aggregate.id,
            purpose: PROFILE_PURPOSE,
        }
    }

    /// Seals an open profile under `key` (the person's data key).
    pub fn seal_with(&mut self, key: &DataKey) -> Result<(), SealError> {
        let Some(PersonalProfile::Open(profile)) = self.profile() else {
            return Ok(());
        };
        let plain = serde_json::to_vec(profile).map_err(|_| SealError::DoesNotOpen)?;
        let sealed = key.seal(&self.seal_context(), &plain)?;
        if let Some(slot) = self.profile_mut() {
            *slot = PersonalProfile::Sealed(sealed);
        }
        Ok(())
    }

    /// Opens a sealed profile with the person's data key; without one (the
    /// key was destroyed) the profile becomes [`PersonalProfile::Erased`].
    /// A blob that does not open with the key given is an error: corrupt or
    /// foreign data, never silently erased.
    pub fn open_with(&mut self, key: Option<&DataKey>) -> Result<(), SealError> {
        let Some(PersonalProfile::Sealed(sealed)) = self.profile() else {
            return Ok(());
        };
        let opened = match key {
            Some(key) => {
                let plain = key.open(&self.seal_context(), sealed)?;
                let profile: UserProfile =
                    serde_json::from_slice(&plain).map_err(|_| SealError::DoesNotOpen)?;
                PersonalProfile::Open(profile)
            }
            None => PersonalProfile::Erased,
        };
        if let Some(slot) = self.profile_mut() {
            *slot = opened;
        }
        Ok(())
    }

    /// Replaces the profile by [`PersonalProfile::Erased`] (what the event
    /// log shows of a person whose key is gone, and of a plain profile of a
    /// deleted person).
    pub fn erase_personal(&mut self) {
        if let Some(slot) = self.profile_mut() {
            *slot = PersonalProfile::Erased;
        }
    }
}

/// The queue the gateway answers data-key requests on (distributed
/// deployment; the embedded process asks the gateway's key table directly).
pub const DATA_KEY_QUEUE: &str = "gateway.data-keys";

/// A consumer asks for the data keys of these persons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataKeyRequest {
    pub persons: Vec<PersonRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DataKeyReply {
    /// One entry per requested person, in order: the data key in base64, or
    /// `null` when the person's key is gone (erased) or was never made.
    Keys { keys: Vec<Option<String>> },
    /// The gateway could not read its key table: retry later.
    Unavailable,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::{Aggregate, SCHEMA_VERSION};

    fn provisioned(profile: UserProfile) -> Event {
        Event {
            id: Uuid::now_v7(),
            seq: 0,
            schema_version: SCHEMA_VERSION,
            org_id: Uuid::from_u128(3),
            workspace_id: Uuid::from_u128(4),
            aggregate: Aggregate {
                kind: AggregateKind::User,
                id: "u-9".into(),
                version: 1,
            },
            occurred_at: Utc::now(),
            body: EventBody::UserProvisioned {
                account_id: Uuid::nil(),
                default_role: "member".into(),
                seat_key: Some("user:h:abc".into()),
                profile: profile.into(),
            },
            traceparent: None,
        }
    }

    fn ann() -> UserProfile {
        UserProfile {
            user_name: "marker-ann@example.com".into(),
            given_name: Some("Marker".into()),
            ..UserProfile::default()
        }
    }

    #[test]
    fn sealed_on_the_wire_open_with_the_key_erased_without() {
        let key = DataKey::generate().unwrap();
        let mut event = provisioned(ann());
        event.seal_with(&key).unwrap();
        let wire = serde_json::to_string(&event).unwrap();
        assert!(!wire.contains("marker"), "{wire}");
        assert!(wire.contains("\"sealed\""));
        let read: Event = serde_json::from_str(&wire).unwrap();
        assert!(read.is_sealed());
        assert_eq!(
            read.person(),
            Some(PersonRef {
                org_id: Uuid::from_u128(3),
                user_id: "u-9".into()
            })
        );

        let mut opened = read.clone();
        opened.open_with(Some(&key)).unwrap();
        assert_eq!(opened.profile(), Some(&PersonalProfile::Open(ann())));

        let mut erased = read.clone();
        erased.open_with(None).unwrap();
        assert_eq!(erased.profile(), Some(&PersonalProfile::Erased));
        assert_eq!(
            serde_json::to_value(&erased).unwrap()["payload"]["profile"],
            json!({"erased": true})
        );

        let mut wrong = read;
        assert_eq!(
            wrong.open_with(Some(&DataKey::generate().unwrap())),
            Err(SealError::DoesNotOpen)
        );
    }

    #[test]
    fn a_sealed_profile_does_not_open_in_another_event_of_another_person() {
        let key = DataKey::generate().unwrap();
        let mut event = provisioned(ann());
        event.seal_with(&key).unwrap();
        let mut moved = provisioned(UserProfile::default());
        moved.aggregate.id = "u-10".into();
        if let (Some(PersonalProfile::Sealed(blob)), EventBody::UserProvisioned { profile, .. }) =
            (event.profile().cloned(), &mut moved.body)
        {
            *profile = PersonalProfile::Sealed(blob);
        }
        assert!(moved.open_with(Some(&key)).is_err());
    }

    #[test]
    fn a_plain_profile_of_schema_version_1_still_reads() {
        let wire = json!({
            "id": Uuid::nil(), "seq": 1, "type": "user.updated", "schema_version": 1,
            "org_id": Uuid::nil(), "workspace_id": Uuid::nil(),
            "aggregate": {"kind": "user", "id": "u", "version": 2},
            "occurred_at": "2026-11-28T12:00:00Z",
            "payload": {"profile": {"user_name": "old@example.com"}}
        });
        let event: Event = serde_json::from_value(wire).unwrap();
        assert!(!event.is_sealed());
        assert_eq!(
            event
                .profile()
                .and_then(PersonalProfile::opened)
                .map(|p| p.user_name.as_str()),
            Some("old@example.com")
        );
    }
}
