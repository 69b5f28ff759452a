//! What the gateway drives: its database.

pub mod clock;
pub mod sql;
