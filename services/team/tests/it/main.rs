//! Integration tests of the team service, one binary (the shared harness
//! is `test_support`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_batch;
mod catch_up;
mod concurrent_delete;
mod deleted_users;
mod large;
