pub mod consumer;
pub mod http;
pub mod rpc;
