//! The seat rules. Pure.
//!
//! - A reservation is granted while held seats (confirmed + unexpired
//!   reservations) < quota; the same key again gets the same reservation back
//!   (an IdP retry), whatever the count; a subscription without SCIM grants
//!   nothing.
//! - `user.provisioned` confirms the reservation of its `seat_key` (the
//!   keyed hash the gateway reserved with), `user.reactivated` that of
//!   `reactivate:<scim id>`; either way the user holds a seat afterwards,
//!   reservation or not (the user exists). Licensing never reads a profile
//!   (it is sealed): a schema_version 1 `user.provisioned` (no `seat_key`)
//!   confirms `user:<lowercased userName>` while its profile is plain, and
//!   its seat is kept under `held:<scim id>` — no userName stays in the
//!   ledger; one whose profile the gateway has since sealed or erased
//!   confirms the holder without a reservation, under the same key, so a
//!   rebuild keeps the seat the live ledger has.
//! - `user.deactivated` and `user.deleted` release the user's seat.
//! - A confirmation takes the live reservation under its key; a holder that
//!   holds a seat already gets nothing more (a replayed fact).
//! - A refusal is only ever given on an exact count: a count that may still
//!   include expired reservations is made exact first.

use chrono::{DateTime, Duration, Utc};
use provisioning_events::{Aggregate, AggregateKind, Event, EventBody, SCHEMA_VERSION};
use uuid::Uuid;

use super::models::{
    Confirmation, HolderSeats, Ledger, NewReservation, OrgId, Reservation, ReservationDecision,
    SeatChange, SeatKey, Subscription,
};

/// The answer to a reservation request, and the reservation to write when
/// one is granted anew.
pub fn reserve(
    ledger: &Ledger,
    default: Subscription,
    key: &SeatKey,
    now: DateTime<Utc>,
    hold_for: Duration,
) -> (Reservation, Option<NewReservation>) {
    let subscription = ledger.subscription.unwrap_or(default);
    if !subscription.scim_included {
        return (Reservation::NotIncluded, None);
    }
    let quota = subscription.seat_quota;
    if let Some(existing) = ledger.existing {
        return (
            Reservation::Granted {
                reservation_id: existing,
                used: ledger.held,
                quota,
            },
            None,
        );
    }
    if ledger.held >= quota {
        return (
            Reservation::Denied {
                used: ledger.held,
                quota,
            },
            None,
        );
    }
    let id = Uuid::now_v7();
    (
        Reservation::Granted {
            reservation_id: id,
            used: ledger.held + 1,
            quota,
        },
        Some(NewReservation {
            id,
            key: key.clone(),
            expires_at: now + hold_for,
        }),
    )
}

/// [`reserve`], unless its answer would be a refusal on a count that is
/// not exact: then the store is to count exactly and ask again.
pub fn decide_reservation(
    ledger: &Ledger,
    default: Subscription,
    key: &SeatKey,
    now: DateTime<Utc>,
    hold_for: Duration,
) -> ReservationDecision {
    let (reservation, new) = reserve(ledger, default, key, now, hold_for);
    if matches!(reservation, Reservation::Denied { .. }) && !ledger.held_exact {
        return ReservationDecision::CountExactly;
    }
    ReservationDecision::Decided { reservation, new }
}

/// How a confirmation changes the ledger, from what it holds for the
/// confirmation's holder and key.
pub fn confirmation(seats: &HolderSeats) -> Confirmation {
    if seats.holds_seat {
        return Confirmation::AlreadyHeld;
    }
    match seats.live_reservation {
        Some(reservation) => Confirmation::TakeReservation(reservation),
        None => Confirmation::NewSeat,
    }
}

/// The fact the gateway keeps its entitlement copy from. Subscriptions
/// belong to no workspace: `workspace_id` is nil.
pub fn subscription_changed(
    org: OrgId,
    subscription: Subscription,
    version: i64,
    now: DateTime<Utc>,
) -> Event {
    Event {
        id: Uuid::now_v7(),
        seq: 0,
        schema_version: SCHEMA_VERSION,
        org_id: org.0,
        workspace_id: Uuid::nil(),
        aggregate: Aggregate {
            kind: AggregateKind::Subscription,
            id: org.0.to_string(),
            version,
        },
        occurred_at: now,
        body: EventBody::SubscriptionChanged {
            seat_quota: subscription.seat_quota,
            scim_included: subscription.scim_included,
        },
        traceparent: None,
    }
}

pub fn changes_for(event: &Event) -> Vec<SeatChange> {
    let holder = event.aggregate.id.clone();
    match &event.body {
        EventBody::UserProvisioned {
            seat_key, profile, ..
        } => {
            let (key, kept_as) = match (seat_key, profile.opened()) {
                (Some(key), _) => (SeatKey(key.clone()), SeatKey(key.clone())),
                (None, Some(plain)) => (
                    SeatKey::legacy_for_new_user(&plain.user_name),
                    SeatKey::held_by(&holder),
                ),
                (None, None) => (SeatKey::held_by(&holder), SeatKey::held_by(&holder)),
            };
            vec![SeatChange::Confirm {
                key,
                holder,
                kept_as,
            }]
        }
        EventBody::UserReactivated { .. } => {
            let key = SeatKey::for_reactivation(&holder);
            vec![SeatChange::Confirm {
                kept_as: key.clone(),
                key,
                holder,
            }]
        }
        EventBody::UserDeactivated {} | EventBody::UserDeleted {} => {
            vec![SeatChange::Release { holder }]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use provisioning_events::PersonalProfile;

    use super::*;

    fn ledger(held: u32, quota: u32) -> Ledger {
        Ledger {
            subscription: Some(Subscription {
                seat_quota: quota,
                scim_included: true,
            }),
            held,
            held_exact: true,
            existing: None,
        }
    }

    const DEFAULT: Subscription = Subscription {
        seat_quota: 5,
        scim_included: true,
    };

    #[test]
    fn granted_below_the_quota_denied_at_it() {
        let key = SeatKey("user:h:0a".into());
        let now = Utc::now();
        let (granted, new) = reserve(&ledger(1, 2), DEFAULT, &key, now, Duration::seconds(60));
        let Some(new) = new else {
            panic!("a granted seat is reserved");
        };
        assert_eq!(
            granted,
            Reservation::Granted {
                reservation_id: new.id,
                used: 2,
                quota: 2,
            }
        );
        assert_eq!(new.key, key);
        assert_eq!(new.expires_at, now + Duration::seconds(60));
        let (denied, new) = reserve(&ledger(2, 2), DEFAULT, &key, now, Duration::seconds(60));
        assert_eq!(denied, Reservation::Denied { used: 2, quota: 2 });
        assert_eq!(new, None);
    }

    #[test]
    fn a_retry_gets_its_reservation_back_even_when_full() {
        let id = Uuid::now_v7();
        let mut full = ledger(2, 2);
        full.existing = Some(id);
        let (again, new) = reserve(
            &full,
            DEFAULT,
            &SeatKey("user:h:0a".into()),
            Utc::now(),
            Duration::seconds(60),
        );
        assert_eq!(
            again,
            Reservation::Granted {
                reservation_id: id,
                used: 2,
                quota: 2
            }
        );
        assert_eq!(new, None, "nothing new to write");
    }

    #[test]
    fn no_scim_no_seat_and_the_default_applies_without_a_subscription() {
        let mut l = ledger(0, 10);
        l.subscription = Some(Subscription {
            seat_quota: 10,
            scim_included: false,
        });
        let key = SeatKey("user:h:0a".into());
        let (outcome, _) = reserve(&l, DEFAULT, &key, Utc::now(), Duration::seconds(1));
        assert_eq!(outcome, Reservation::NotIncluded);
        l.subscription = None;
        l.held = 5;
        let (outcome, _) = reserve(&l, DEFAULT, &key, Utc::now(), Duration::seconds(1));
        assert_eq!(outcome, Reservation::Denied { used: 5, quota: 5 });
    }

    #[test]
    fn a_refusal_on_an_inexact_count_asks_for_the_exact_count() {
        let key = SeatKey("user:h:0a".into());
        let now = Utc::now();
        let mut upper_bound = ledger(2, 2);
        upper_bound.held_exact = false;
        assert_eq!(
            decide_reservation(&upper_bound, DEFAULT, &key, now, Duration::seconds(1)),
            ReservationDecision::CountExactly
        );
        let exact = ledger(2, 2);
        assert_eq!(
            decide_reservation(&exact, DEFAULT, &key, now, Duration::seconds(1)),
            ReservationDecision::Decided {
                reservation: Reservation::Denied { used: 2, quota: 2 },
                new: None,
            }
        );
    }

    #[test]
    fn an_inexact_count_is_enough_to_grant_and_to_answer_a_retry() {
        let key = SeatKey("user:h:0a".into());
        let now = Utc::now();
        let mut below = ledger(1, 2);
        below.held_exact = false;
        let ReservationDecision::Decided {
            reservation: Reservation::Granted {
                used: 2, quota: 2, ..
            },
            new: Some(new),
        } = decide_reservation(&below, DEFAULT, &key, now, Duration::seconds(1))
        else {
            panic!("granted below the quota, exact count or not");
        };
        assert_eq!(new.key, key);
        let id = Uuid::now_v7();
        let mut retry = ledger(5, 2);
        retry.held_exact = false;
        retry.existing = Some(id);
        assert_eq!(
            decide_reservation(&retry, DEFAULT, &key, now, Duration::seconds(1)),
            ReservationDecision::Decided {
                reservation: Reservation::Granted {
                    reservation_id: id,
                    used: 5,
                    quota: 2,
                },
                new: None,
            }
        );
        let mut not_included = ledger(5, 2);
        not_included.held_exact = false;
        not_included.subscription = Some(Subscription {
            seat_quota: 2,
            scim_included: false,
        });
        assert_eq!(
            decide_reservation(&not_included, DEFAULT, &key, now, Duration::seconds(1)),
            ReservationDecision::Decided {
                reservation: Reservation::NotIncluded,
                new: None,
            }
        );
    }

    #[test]
    fn a_confirmation_takes_the_reservation_else_a_new_seat_never_a_second_one() {
        let reservation = Uuid::now_v7();
        assert_eq!(
            confirmation(&HolderSeats {
                holds_seat: false,
                live_reservation: Some(reservation),
            }),
            Confirmation::TakeReservation(reservation)
        );
        assert_eq!(
            confirmation(&HolderSeats {
                holds_seat: false,
                live_reservation: None,
            }),
            Confirmation::NewSeat,
            "the user exists: it holds a seat, reservation or not"
        );
        for live_reservation in [None, Some(reservation)] {
            assert_eq!(
                confirmation(&HolderSeats {
                    holds_seat: true,
                    live_reservation,
                }),
                Confirmation::AlreadyHeld,
                "a replayed fact adds nothing"
            );
        }
    }

    #[test]
    fn user_events_confirm_by_their_key_and_release_by_their_holder() {
        let event = |body| Event {
            id: Uuid::now_v7(),
            seq: 1,
            schema_version: SCHEMA_VERSION,
            org_id: Uuid::from_u128(1),
            workspace_id: Uuid::from_u128(2),
            aggregate: Aggregate {
                kind: AggregateKind::User,
                id: "scim-1".into(),
                version: 1,
            },
            occurred_at: Utc::now(),
            body,
            traceparent: None,
        };
        let provisioned = |seat_key: Option<&str>, profile: PersonalProfile| {
            event(EventBody::UserProvisioned {
                account_id: Uuid::now_v7(),
                default_role: "member".into(),
                seat_key: seat_key.map(str::to_owned),
                profile,
            })
        };
        assert_eq!(
            changes_for(&provisioned(
                Some("user:h:0a"),
                PersonalProfile::Sealed("AQ".into())
            )),
            vec![SeatChange::Confirm {
                key: SeatKey("user:h:0a".into()),
                holder: "scim-1".into(),
                kept_as: SeatKey("user:h:0a".into()),
            }],
            "the gateway's seat key, the profile never read"
        );
        let plain = provisioning_events::UserProfile {
            user_name: "Ann@Example.com".into(),
            ..Default::default()
        };
        assert_eq!(
            changes_for(&provisioned(None, plain.into())),
            vec![SeatChange::Confirm {
                key: SeatKey("user:ann@example.com".into()),
                holder: "scim-1".into(),
                kept_as: SeatKey("held:scim-1".into()),
            }],
            "schema_version 1: the legacy reservation, kept without the userName"
        );
        for profile in [
            PersonalProfile::Sealed("AQ".into()),
            PersonalProfile::Erased,
        ] {
            assert_eq!(
                changes_for(&provisioned(None, profile)),
                vec![SeatChange::Confirm {
                    key: SeatKey("held:scim-1".into()),
                    holder: "scim-1".into(),
                    kept_as: SeatKey("held:scim-1".into()),
                }],
                "a version 1 event sealed or erased since: the user holds a seat"
            );
        }
        let reactivated = event(EventBody::UserReactivated {
            account_id: Uuid::now_v7(),
            default_role: "member".into(),
            profile: PersonalProfile::Erased,
        });
        assert_eq!(
            changes_for(&reactivated),
            vec![SeatChange::Confirm {
                key: SeatKey("reactivate:scim-1".into()),
                holder: "scim-1".into(),
                kept_as: SeatKey("reactivate:scim-1".into()),
            }]
        );
        for body in [EventBody::UserDeactivated {}, EventBody::UserDeleted {}] {
            assert_eq!(
                changes_for(&event(body)),
                vec![SeatChange::Release {
                    holder: "scim-1".into()
                }]
            );
        }
    }
}
