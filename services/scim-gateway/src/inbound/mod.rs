//! What drives the gateway: the SCIM HTTP API, and licensing's events (its
//! entitlement copy).

pub mod entitlement_consumer;
pub mod http;
