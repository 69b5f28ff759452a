//! What drives the gateway: the SCIM HTTP API and the outbox relay worker.

pub mod http;
pub mod relay_worker;
