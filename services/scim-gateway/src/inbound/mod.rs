//! What drives the gateway: the SCIM HTTP API.

pub mod http;
