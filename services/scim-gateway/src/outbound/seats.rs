//! Seat authorities the gateway can be wired with.
//!
//! - [`RpcSeats`]: licensing over RabbitMQ request/reply (the distributed
//!   deployment): a reservation not answered within the timeout is
//!   `Unavailable` (the IdP gets 503 with `Retry-After`).
//! - [`UnmeteredSeats`]: a gateway run on its own, without any licensing
//!   service (development and protocol conformance runs): every seat is
//!   granted, and startup says so in the log.

use std::time::Duration;

use messaging_rabbitmq::rpc::{RpcClient, RpcError};
use provisioning_events::seats::{SeatReply, SeatRequest};

use crate::domain::models::OrgId;
use crate::domain::ports::{SeatAuthority, SeatDecision, SeatError, SeatFuture};

pub struct RpcSeats {
    client: RpcClient,
    queue: String,
    timeout: Duration,
}

impl RpcSeats {
    pub fn new(url: &str, queue: impl Into<String>, timeout: Duration) -> Self {
        Self {
            client: RpcClient::new(url),
            queue: queue.into(),
            timeout,
        }
    }
}

/// Licensing's reply as the gateway's decision.
pub fn decision(reply: SeatReply) -> Result<SeatDecision, SeatError> {
    match reply {
        SeatReply::Granted { .. } => Ok(SeatDecision::Granted),
        SeatReply::Denied { used, quota } => Ok(SeatDecision::Denied { used, quota }),
        SeatReply::NotIncluded => Ok(SeatDecision::NotIncluded),
        SeatReply::Unavailable => Err(SeatError::Unavailable("licensing could not decide".into())),
    }
}

impl SeatAuthority for RpcSeats {
    fn reserve<'a>(&'a self, org: OrgId, key: &'a str) -> SeatFuture<'a> {
        Box::pin(async move {
            let request = SeatRequest {
                org_id: org.0,
                key: key.to_owned(),
            };
            let body =
                serde_json::to_vec(&request).map_err(|e| SeatError::Unavailable(e.to_string()))?;
            let reply = self
                .client
                .call_traced(&self.queue, &body, self.timeout)
                .await
                .map_err(|e| match e {
                    RpcError::Timeout => SeatError::Unavailable("no answer in time".into()),
                    other => SeatError::Unavailable(other.to_string()),
                })?;
            let reply: SeatReply = serde_json::from_slice(&reply)
                .map_err(|e| SeatError::Unavailable(format!("unreadable reply: {e}")))?;
            decision(reply)
        })
    }
}

pub struct UnmeteredSeats;

impl SeatAuthority for UnmeteredSeats {
    fn reserve<'a>(&'a self, _org: OrgId, _key: &'a str) -> SeatFuture<'a> {
        Box::pin(async { Ok(SeatDecision::Granted) })
    }
}
