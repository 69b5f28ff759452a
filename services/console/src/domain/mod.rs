//! What the console does, free of HTTP and I/O: its models, the ports it
//! needs from the platform and for sessions, the session rules and the use
//! cases.

pub mod health;
pub mod journal;
pub mod journal_service;
pub mod models;
pub mod ports;
pub mod service;
pub mod sessions;
