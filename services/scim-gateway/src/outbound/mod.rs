//! What the gateway drives: its database.

pub mod clock;
pub mod cursor_seal;
pub mod seats;
pub mod sql;
pub mod tokens;
