//! The PATCH engine (RFC 7644 §3.5.2): parsing, applying and splitting out
//! group membership changes, tested through the gateway's whole flow
//! (normalize → parse → apply → normalize).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod custom;
mod entra;
mod errors;
mod members;
mod okta;
mod props;
mod rfc;
mod semantics;
mod support;
mod unassigned;
