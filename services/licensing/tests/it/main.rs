//! Integration tests of the licensing service, one binary (the shared
//! harness is `test_support`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod clock;
mod replicas;
mod seat_keys;
mod seat_messages;
mod seats;
mod usage;
