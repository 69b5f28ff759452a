pub mod errors;
pub mod keys;
pub mod models;
pub mod ports;
pub mod rules;
pub mod service;
