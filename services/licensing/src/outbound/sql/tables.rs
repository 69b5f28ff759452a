//! Table and column names of the licensing database.

use sea_orm::DeriveIden;

#[derive(DeriveIden, Clone, Copy)]
pub enum Subscriptions {
    Table,
    OrgId,
    SeatQuota,
    ScimIncluded,
    UpdatedAt,
}

/// The seat ledger: reservations (with an expiry) and confirmed seats (with
/// their holder, the SCIM user id).
#[derive(DeriveIden, Clone, Copy)]
pub enum Seats {
    Table,
    Id,
    OrgId,
    SeatKey,
    Status,
    Holder,
    ExpiresAt,
    CreatedAt,
}

/// Running totals per organization: the counts of its `seats` rows by
/// status (`reserved` counts expired ones until they are swept), changed in
/// the transaction that changes those rows.
#[derive(DeriveIden, Clone, Copy)]
pub enum SeatTotals {
    Table,
    OrgId,
    Confirmed,
    Reserved,
}

/// Events licensing publishes (`subscription.changed`), written in the
/// transaction of the change and relayed like the gateway's journal.
#[derive(DeriveIden, Clone, Copy)]
pub enum Outbox {
    Table,
    Seq,
    EventId,
    Event,
    PublishedAt,
}

/// The version column of `subscriptions`: the aggregate version of its events.
#[derive(DeriveIden, Clone, Copy)]
pub enum SubscriptionVersion {
    Version,
}

/// Seat usage over time: one row per organization per hour in which its
/// held seats or its quota changed — the seats held after the hour's last
/// change, the most held at once in the hour, and the quota (NULL: the
/// organization had no subscription of its own, the default applied).
/// Upserted in the transaction of the change; `hour` is the hour's start in
/// microseconds.
#[derive(DeriveIden, Clone, Copy)]
pub enum SeatUsage {
    Table,
    OrgId,
    Hour,
    LastUsed,
    PeakUsed,
    Quota,
}
