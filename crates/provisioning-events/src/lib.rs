//! The provisioning event contract shared by the gateway (which writes events
//! to its journal) and the identity, team and licensing services (which apply
//! them). An event is a self-contained fact: replaying it later gives the same
//! result, so it carries what consumers need (profile snapshot, default role,
//! workspace), never a reference back into the gateway's tables.
//!
//! Wire form (JSON):
//!
//! ```json
//! { "id": "<uuid v7>", "seq": 1234, "type": "user.provisioned", "schema_version": 1,
//!   "org_id": "<uuid>", "workspace_id": "<uuid>",
//!   "aggregate": { "kind": "user", "id": "<scim id>", "version": 3 },
//!   "occurred_at": "2026-11-28T12:00:00Z",
//!   "payload": { … } }
//! ```
//!
//! A published type never changes shape: a new shape gets a new
//! `schema_version` (and readers keep accepting the old one). Version 2
//! seals the profile of `user.provisioned`, `user.updated` and
//! `user.reactivated` (see [`personal`]) and adds `seat_key` to
//! `user.provisioned`; version 1 events (plain profiles) still read.

pub mod access;
pub mod catch_up;
pub mod personal;
pub mod sealing;
pub mod seats;

pub use personal::{PersonRef, PersonalProfile};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The schema version every event type is written with today.
pub const SCHEMA_VERSION: u16 = 2;

/// The AMQP topic exchange events are published to; the routing key is the type.
pub const EXCHANGE: &str = "provisioning";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggregateKind {
    User,
    Group,
    Subscription,
}

/// What the event is about, and that thing's version after the event.
/// Consumers apply events of one aggregate in version order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    pub kind: AggregateKind,
    pub id: String,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    /// Position in the gateway's journal; 0 until the journal assigns it.
    pub seq: i64,
    pub schema_version: u16,
    pub org_id: Uuid,
    pub workspace_id: Uuid,
    pub aggregate: Aggregate,
    pub occurred_at: DateTime<Utc>,
    #[serde(flatten)]
    pub body: EventBody,
    /// W3C trace context of the request that caused the event. Transport
    /// metadata, not part of the event: it travels in the journal's column and
    /// the AMQP `traceparent` header, never in the JSON body.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl Event {
    /// The AMQP routing key: the event type.
    pub fn routing_key(&self) -> &'static str {
        self.body.event_type()
    }
}

/// The profile fields the product maps from SCIM. Everything else stays in the
/// gateway's SCIM view.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserProfile {
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    User,
    Group,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub kind: MemberKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum EventBody {
    /// A new user: an account in the workspace with the default role.
    /// `account_id` is chosen by the gateway so that every service (and every
    /// replay) names the same account.
    #[serde(rename = "user.provisioned")]
    UserProvisioned {
        account_id: Uuid,
        default_role: String,
        /// The seat reservation this account confirms (a keyed hash of the
        /// userName, see [`seats::new_user_key`]); absent in version 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seat_key: Option<String>,
        profile: PersonalProfile,
    },
    /// The profile changed (never the role: roles are managed locally).
    #[serde(rename = "user.updated")]
    UserUpdated { profile: PersonalProfile },
    /// `active` became false: anonymize the account, release its seat.
    #[serde(rename = "user.deactivated")]
    UserDeactivated {},
    /// `active` became true again: a new account (a new `account_id`), the
    /// old one stays anonymized.
    #[serde(rename = "user.reactivated")]
    UserReactivated {
        account_id: Uuid,
        default_role: String,
        profile: PersonalProfile,
    },
    /// The user was deleted: anonymize fully, keep the row and its relationships.
    #[serde(rename = "user.deleted")]
    UserDeleted {},
    #[serde(rename = "group.provisioned")]
    GroupProvisioned {
        display_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        members: Vec<Member>,
    },
    #[serde(rename = "group.renamed")]
    GroupRenamed { display_name: String },
    #[serde(rename = "group.members_added")]
    GroupMembersAdded { members: Vec<Member> },
    #[serde(rename = "group.members_removed")]
    GroupMembersRemoved { members: Vec<String> },
    /// The group (and so the team) is gone; its members are untouched.
    #[serde(rename = "group.deleted")]
    GroupDeleted {},
    /// From licensing: the organization's subscription changed.
    #[serde(rename = "subscription.changed")]
    SubscriptionChanged {
        seat_quota: u32,
        scim_included: bool,
    },
}

impl EventBody {
    pub fn event_type(&self) -> &'static str {
        match self {
            EventBody::UserProvisioned { .. } => "user.provisioned",
            EventBody::UserUpdated { .. } => "user.updated",
            EventBody::UserDeactivated {} => "user.deactivated",
            EventBody::UserReactivated { .. } => "user.reactivated",
            EventBody::UserDeleted {} => "user.deleted",
            EventBody::GroupProvisioned { .. } => "group.provisioned",
            EventBody::GroupRenamed { .. } => "group.renamed",
            EventBody::GroupMembersAdded { .. } => "group.members_added",
            EventBody::GroupMembersRemoved { .. } => "group.members_removed",
            EventBody::GroupDeleted {} => "group.deleted",
            EventBody::SubscriptionChanged { .. } => "subscription.changed",
        }
    }

    /// Every event type, for binding queues and for documentation.
    pub const TYPES: [&'static str; 11] = [
        "user.provisioned",
        "user.updated",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
        "group.provisioned",
        "group.renamed",
        "group.members_added",
        "group.members_removed",
        "group.deleted",
        "subscription.changed",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(body: EventBody) -> Event {
        Event {
            id: Uuid::now_v7(),
            seq: 7,
            schema_version: SCHEMA_VERSION,
            org_id: Uuid::now_v7(),
            workspace_id: Uuid::now_v7(),
            aggregate: Aggregate {
                kind: AggregateKind::User,
                id: "u-1".into(),
                version: 3,
            },
            occurred_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            body,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        }
    }

    fn profile() -> UserProfile {
        UserProfile {
            user_name: "ann@example.com".into(),
            email: Some("ann@example.com".into()),
            given_name: Some("Ann".into()),
            ..UserProfile::default()
        }
    }

    fn every_body() -> Vec<EventBody> {
        vec![
            EventBody::UserProvisioned {
                account_id: Uuid::nil(),
                default_role: "member".into(),
                seat_key: None,
                profile: profile().into(),
            },
            EventBody::UserUpdated {
                profile: profile().into(),
            },
            EventBody::UserDeactivated {},
            EventBody::UserReactivated {
                account_id: Uuid::nil(),
                default_role: "member".into(),
                profile: profile().into(),
            },
            EventBody::UserDeleted {},
            EventBody::GroupProvisioned {
                display_name: "Eng".into(),
                external_id: None,
                members: vec![Member {
                    id: "u-1".into(),
                    kind: MemberKind::User,
                }],
            },
            EventBody::GroupRenamed {
                display_name: "Platform".into(),
            },
            EventBody::GroupMembersAdded {
                members: vec![Member {
                    id: "u-2".into(),
                    kind: MemberKind::User,
                }],
            },
            EventBody::GroupMembersRemoved {
                members: vec!["u-2".into()],
            },
            EventBody::GroupDeleted {},
            EventBody::SubscriptionChanged {
                seat_quota: 10,
                scim_included: true,
            },
        ]
    }

    #[test]
    fn every_type_round_trips_and_names_its_routing_key() {
        let bodies = every_body();
        assert_eq!(bodies.len(), EventBody::TYPES.len());
        for (body, expected_type) in bodies.into_iter().zip(EventBody::TYPES) {
            let event = sample(body);
            let json = serde_json::to_value(&event).expect("serializes");
            assert_eq!(json["type"], expected_type);
            assert_eq!(event.routing_key(), expected_type);
            assert!(
                json.get("traceparent").is_none(),
                "transport metadata stays out of the body"
            );
            let back: Event = serde_json::from_value(json).expect("deserializes");
            assert_eq!(
                back,
                Event {
                    traceparent: None,
                    ..event
                }
            );
        }
    }

    #[test]
    fn wire_form_matches_the_contract() {
        let event = sample(EventBody::UserProvisioned {
            account_id: Uuid::nil(),
            default_role: "member".into(),
            seat_key: None,
            profile: profile().into(),
        });
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["schema_version"], 2);
        assert_eq!(
            json["aggregate"],
            json!({"kind": "user", "id": "u-1", "version": 3})
        );
        assert_eq!(json["occurred_at"], "2027-01-15T08:00:00Z");
        assert_eq!(
            json["payload"],
            json!({"account_id": "00000000-0000-0000-0000-000000000000", "default_role": "member", "profile": {"user_name": "ann@example.com", "email": "ann@example.com", "given_name": "Ann"}})
        );
        let keys: Vec<&str> = json
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for key in [
            "id",
            "seq",
            "type",
            "schema_version",
            "org_id",
            "workspace_id",
            "aggregate",
            "occurred_at",
            "payload",
        ] {
            assert!(keys.contains(&key), "missing {key}");
        }
    }

    #[test]
    fn unknown_types_are_rejected() {
        let mut json = serde_json::to_value(sample(EventBody::UserDeleted {})).expect("serializes");
        json["type"] = json!("user.exploded");
        assert!(serde_json::from_value::<Event>(json).is_err());
    }
}
