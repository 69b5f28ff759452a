//! The team service: teams from the directory's groups. Consumes group events
//! (and user events, to resolve members to their current account) through the
//! consumer inbox, and serves the teams admin API. See docs/team.md.

pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;
pub mod startup;
