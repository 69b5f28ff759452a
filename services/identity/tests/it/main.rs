//! Integration tests of the identity service, one binary (the shared
//! harness is `test_support`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery;
mod sealed;
