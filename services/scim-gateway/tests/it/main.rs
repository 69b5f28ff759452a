//! Integration tests of the SCIM gateway through its HTTP API, on SQLite and
//! (when configured) PostgreSQL. One binary: see `support` for the harness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod bulk;
mod bulk_waves;
mod concurrency;
mod connection;
mod cursors;
mod discovery;
mod errors;
mod fairness;
mod filters;
mod group_names;
mod groups;
mod inputs;
mod isolation;
mod journal;
mod limits;
mod page_size;
mod patch_decisions;
mod relay;
mod replicas_start;
mod robustness;
mod sealing;
mod search;
mod stored_events;
mod users;
