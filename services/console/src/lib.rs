//! The operator console: server-rendered pages at `/console` over the
//! platform's admin APIs (docs/console.md). Mounted by the embedded process
//! on its one port; its own service (`console`, port 8084) in the
//! distributed deployment.

pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;
pub mod startup;
