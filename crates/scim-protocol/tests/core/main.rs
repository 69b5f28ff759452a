//! Resource normalization, projection, protocol messages and discovery documents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod discovery;
mod fixture;
mod messages;
mod projection;
mod props;
mod resource;
