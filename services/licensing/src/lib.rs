//! The licensing service: subscriptions (seat quota, whether SCIM is
//! included) and the seat ledger. Answers seat reservations atomically over
//! request/reply, confirms and releases seats from user events. See
//! docs/licensing.md.

pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;
pub mod startup;
