//! Integration tests of the embedded process and of the platform end to
//! end, one binary:
//!
//! - `identity`, `licensing`, `organizations`, `team`, `concurrent_members`
//!   (issue 22: concurrent PATCHes reach team and identity), `bulk` (issue
//!   23: a Bulk request's users and group reach identity and team): SCIM requests through
//!   the gateway, effects read back through the services' admin APIs, on
//!   the embedded process and on PostgreSQL + RabbitMQ (`support`'s stacks);
//! - `replicas` (issue 24): three replicas each of identity, team and
//!   licensing on one database and one queue apply a shuffled journal with
//!   copies exactly once, in order, as one instance does;
//! - `seat_messages`: the gateway's seat reservations travel to licensing
//!   together over RabbitMQ request/reply and are decided exactly;
//! - `tracing`: one trace from the request to every consumer (each test
//!   alone in its own process of this binary: it installs the global
//!   tracing subscriber);
//! - `console`: the operator console on a real embedded process (docs/console.md);
//!   `console_browser`: the same walked in chromium through chromedriver;
//!   `console_pages`: its accounts, teams and seats pages; `console_journal`:
//!   its event journal, delivery status, replay and dead letters;
//! - `delivery`, `first_start`, `logs` (no personal value in a log line),
//!   `privacy` (issue 21's acceptance): the `scim-embedded` binary as a
//!   child process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bulk;
mod concurrent_members;
mod console;
mod console_browser;
mod console_health;
mod console_journal;
mod console_pages;
mod delivery;
mod first_start;
mod identity;
mod licensing;
mod logs;
mod organizations;
mod privacy;
mod replicas;
mod seat_messages;
mod support;
mod team;
mod tracing;
