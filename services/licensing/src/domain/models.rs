//! Subscriptions and the seat ledger.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(pub Uuid);

/// What an organization's subscription grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub seat_quota: u32,
    /// Whether SCIM provisioning is part of the subscription at all.
    pub scim_included: bool,
}

/// What a reservation is for: a create (`user:h:<keyed hash>`, the
/// `seat_key` the gateway reserved with and carries in `user.provisioned`) or
/// a re-enabling (`reactivate:<scim user id>`). The same key twice is the
/// same reservation, so an IdP retrying a request never takes a second seat.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeatKey(pub String);

impl SeatKey {
    pub fn for_reactivation(scim_user_id: &str) -> Self {
        SeatKey(provisioning_events::seats::reactivation_key(scim_user_id))
    }

    /// The reservation a schema_version 1 `user.provisioned` (no `seat_key`)
    /// confirms: `user:<lowercased userName>`, as gateways before sealing
    /// reserved. Only ever looked up: the seat it confirms is kept under
    /// [`Self::held_by`], so no userName stays in the ledger.
    pub fn legacy_for_new_user(user_name: &str) -> Self {
        SeatKey(provisioning_events::seats::legacy_new_user_key(user_name))
    }

    /// What the seat of `holder` is kept under when the key it was reserved
    /// with says something personal (a legacy key), or when the event names
    /// no reservation at all.
    pub fn held_by(holder: &str) -> Self {
        SeatKey(format!("held:{holder}"))
    }
}

/// The ledger of one organization as a reservation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// `None`: the organization has no subscription of its own yet (the
    /// configured default applies).
    pub subscription: Option<Subscription>,
    /// Confirmed seats plus reservations: exactly the unexpired ones when
    /// `held_exact`, otherwise possibly expired ones too (running totals
    /// count a reservation until the sweeper removes it), so never too low.
    pub held: u32,
    pub held_exact: bool,
    /// An unexpired reservation under the same key, if any.
    pub existing: Option<Uuid>,
}

/// What the rules make of a reservation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservationDecision {
    /// The answer, and the reservation to write when one is granted anew.
    Decided {
        reservation: Reservation,
        new: Option<NewReservation>,
    },
    /// A refusal on a count that may include expired reservations: the
    /// store counts the held seats exactly and asks again.
    CountExactly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    Granted {
        reservation_id: Uuid,
        used: u32,
        quota: u32,
    },
    Denied {
        used: u32,
        quota: u32,
    },
    NotIncluded,
}

/// A seat the rules grant to a reservation request: held under `key` until
/// `expires_at` unless a `user.provisioned` / `user.reactivated` confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReservation {
    pub id: Uuid,
    pub key: SeatKey,
    pub expires_at: DateTime<Utc>,
}

/// A change the rules ask the store to make for a provisioning event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatChange {
    /// The reservation under `key` (if any) becomes the seat of `holder`;
    /// without one, `holder` gets a seat anyway: the user exists. Either way
    /// the seat is kept under `kept_as` (`key`, unless that is personal).
    Confirm {
        key: SeatKey,
        holder: String,
        kept_as: SeatKey,
    },
    /// `holder` gives its seat back.
    Release { holder: String },
}

/// What the ledger holds for a confirmation, read in the transaction that
/// writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HolderSeats {
    /// The holder holds a confirmed seat already.
    pub holds_seat: bool,
    /// The unexpired reservation under the confirmation's key, if any.
    pub live_reservation: Option<Uuid>,
}

/// How a [`SeatChange::Confirm`] changes the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The holder holds a seat already (a replayed fact): nothing changes.
    AlreadyHeld,
    /// This reservation becomes the holder's confirmed seat.
    TakeReservation(Uuid),
    /// No reservation to take: the holder gets a confirmed seat of its own,
    /// one more held seat for the organization.
    NewSeat,
}

/// Seats as stored: the subscription (if set) and the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatCounts {
    pub subscription: Option<Subscription>,
    pub confirmed: u32,
    pub reserved: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub confirmed: u32,
    pub reserved: u32,
    pub quota: u32,
    pub scim_included: bool,
}

/// One hour of an organization's seat usage as stored: written in the
/// transaction of each change of its held seats (confirmed + reserved) or
/// its quota, so an hour without a row is an hour without a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageHour {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// Seats held after the hour's last change.
    pub last: u32,
    /// The most seats held at once in the hour.
    pub peak: u32,
    /// `None`: the organization had no subscription of its own (the
    /// default quota applied).
    pub quota: Option<u32>,
}

/// [`UsageHour`] with its quota resolved, as the admin API serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsagePoint {
    pub hour: DateTime<Utc>,
    pub last: u32,
    pub peak: u32,
    pub quota: u32,
}

/// A period of usage history asked for: `since` before `until`, at most
/// [`UsagePeriod::LONGEST`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsagePeriod {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsagePeriodError {
    #[error("since must be before until")]
    Empty,
    #[error("the period is longer than {} days", UsagePeriod::LONGEST.num_days())]
    TooLong,
}

impl UsagePeriod {
    /// How long usage history is kept, and so the longest period worth
    /// asking for.
    pub const LONGEST: chrono::Duration = chrono::Duration::days(400);
    /// The period asked when none is given: the last 30 days.
    pub const DEFAULT: chrono::Duration = chrono::Duration::days(30);

    /// `since` defaults to [`Self::DEFAULT`] before `until`, `until` to `now`.
    pub fn new(
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, UsagePeriodError> {
        let until = until.unwrap_or(now);
        let since = since.unwrap_or(until - Self::DEFAULT);
        if since >= until {
            return Err(UsagePeriodError::Empty);
        }
        if until - since > Self::LONGEST {
            return Err(UsagePeriodError::TooLong);
        }
        Ok(Self { since, until })
    }

    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }
}
