pub mod consumer;
pub mod http;
