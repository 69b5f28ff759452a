//! End-to-end: SCIM requests through the gateway, effects read back through
//! the services' admin APIs, on the embedded process and on PostgreSQL +
//! RabbitMQ.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod identity;
mod licensing;
mod organizations;
mod support;
mod team;
