//! The service kit: the adapters every service needs at its edges, written
//! once. Nothing here knows a service's domain.

pub mod admin_http;
pub mod admin_key;
pub mod auth_throttle;
pub mod batching;
pub mod catch_up;
pub mod compared_tables;
pub mod consumer_service;
pub mod data_keys;
pub mod db;
pub mod inbox;
pub mod inbox_retention;
pub mod migrations;
pub mod readiness;
pub mod relay_lease;
pub mod replay;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

use std::fmt;

use serde::Deserialize;

/// A configuration value that must never be printed (keys, tokens, URLs with
/// passwords).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
