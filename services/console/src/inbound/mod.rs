//! The console's inbound side: the HTTP routes and the pages they render.

pub mod http;
pub mod views;
