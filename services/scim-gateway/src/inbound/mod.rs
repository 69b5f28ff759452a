//! What drives the gateway: the SCIM HTTP API, licensing's events (its
//! entitlement copy), and the consumers' requests for data keys.

pub mod data_keys;
pub mod entitlement_consumer;
pub mod http;
pub mod journal_feed;
