//! The identity service: owns accounts. Consumes user events (through the
//! consumer inbox: idempotent, ordered per user) and serves the accounts admin
//! API. See docs/identity.md.

pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;
pub mod startup;
