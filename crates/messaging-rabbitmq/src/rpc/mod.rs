//! Request/reply over RabbitMQ ("RPC"), bytes in and bytes out: the caller
//! serializes its own JSON.
//!
//! Protocol:
//! - The client consumes the pseudo-queue `amq.rabbitmq.reply-to` (direct
//!   reply-to) in no-ack mode on the channel it publishes on, and publishes
//!   each request to the default exchange with routing key = the server's
//!   queue, `reply_to = amq.rabbitmq.reply-to`, a fresh `correlation_id`
//!   (UUID v4) and `expiration` = the call's timeout in milliseconds, so a
//!   request nobody picked up in time is dropped by the broker instead of being
//!   answered late. Many concurrent calls share one connection and channel;
//!   replies are matched to callers by correlation id, and a reply nobody waits
//!   for any more is dropped.
//! - Requests are published `mandatory` on a channel with publisher confirms,
//!   so a request the broker cannot route (no server queue) comes back at once.
//! - The server ([`serve`]) consumes a durable queue with prefetch =
//!   concurrency, calls the handler, publishes the reply to the default
//!   exchange with routing key = the request's `reply_to` and the same
//!   correlation id, then acks the request.
//!
//! What the caller of [`RpcClient::call`] sees:
//! - the reply's body, when a server answered in time;
//! - [`RpcError::Unavailable`] when the broker is unreachable, the connection
//!   broke before the reply, the broker refused the request, or the request was
//!   unroutable (no queue by that name): the last case returns within a round
//!   trip, not after the timeout;
//! - [`RpcError::Timeout`] when no reply arrived in time (no server consuming,
//!   handler too slow, or the broker held the request past its expiration). A
//!   timed-out request may still have been handled: make handlers idempotent
//!   where that matters.
//!
//! The client connects lazily on the first call and drops its connection on
//! any connection error, so the next call reconnects.
//!
//! The client is in `client.rs`, the server in `server.rs`, the error a call
//! ends with in `error.rs`.

mod client;
mod error;
mod server;

pub use client::RpcClient;
pub use error::RpcError;
pub use server::{serve, serve_reporting};
