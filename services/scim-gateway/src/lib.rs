//! The SCIM gateway: the only component identity providers talk to. It
//! authenticates the bearer token to an organization, validates requests with
//! the protocol crate, and keeps the SCIM view (users, groups, memberships).

pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;
pub mod startup;
