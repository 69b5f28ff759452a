pub mod clock;
pub mod sql;
