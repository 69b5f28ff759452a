//! Filter and PATCH-path parsing, binding and evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bind;
mod differential;
mod eval;
mod fixture;
mod parse;
mod props;
mod real_schema;
