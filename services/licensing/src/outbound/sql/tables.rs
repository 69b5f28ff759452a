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
