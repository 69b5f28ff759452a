//! The SCIM view: what the IdP has pushed, validated by the protocol crate.
//! No I/O here: storage, credentials and time come through `ports`.

pub mod credentials;
pub mod cursor;
pub mod entitlements;
pub mod errors;
pub mod event_log;
pub mod journal_feed;
pub mod limits;
pub mod models;
pub mod organizations;
pub mod ports;
pub mod resource_locks;
pub mod rules;
pub mod service;
