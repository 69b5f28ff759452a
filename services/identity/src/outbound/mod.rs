pub mod clock;
pub mod data_keys;
pub mod sql;
