//! Seat authorities the gateway can be wired with.
//!
//! - [`RpcSeats`]: licensing over RabbitMQ request/reply (the distributed
//!   deployment): a reservation not answered within the timeout is
//!   `Unavailable` (the IdP gets 503 with `Retry-After`).
//! - [`UnmeteredSeats`]: a gateway run on its own, without any licensing
//!   service (development and protocol conformance runs): every seat is
//!   granted, and startup says so in the log.

use std::sync::Arc;
use std::time::Duration;

use messaging_rabbitmq::rpc::{RpcClient, RpcError};
use provisioning_events::seats::{MAX_SEAT_REQUESTS_PER_MESSAGE, SeatReply, SeatRequest};
use service_kit::batching::Batcher;

use crate::domain::models::OrgId;
use crate::domain::ports::{SeatAuthority, SeatDecision, SeatError, SeatFuture, SeatsFuture};

/// Most reservations one message to licensing carries (licensing takes up
/// to `provisioning_events::seats::MAX_SEAT_REQUESTS_PER_MESSAGE`).
const RESERVATIONS_PER_MESSAGE: usize = 64;
/// Messages awaiting licensing's answer at once: a reservation asked while
/// they are all out waits and leaves with the next message.
const MESSAGES_IN_FLIGHT: usize = 4;

/// A reservation on its way, with the trace it belongs to.
struct Asked {
    request: SeatRequest,
    traceparent: Option<String>,
}

type Decided = Result<SeatDecision, SeatError>;

/// Licensing over request/reply. Reservations asked at the same time (a
/// bulk's creates, concurrent requests) travel together: one message
/// carries up to [`RESERVATIONS_PER_MESSAGE`] of them, a round trip per
/// message instead of one per user. Licensing decides each as if asked
/// alone; a message of one is the single-request shape.
pub struct RpcSeats {
    batcher: Batcher<Asked, Decided>,
    link: Arc<Link>,
    timeout: Duration,
}

impl RpcSeats {
    pub fn new(url: &str, queue: impl Into<String>, timeout: Duration) -> Self {
        let link = Arc::new(Link {
            client: RpcClient::new(url),
            queue: queue.into(),
            timeout,
        });
        let for_batches = Arc::clone(&link);
        let batcher = Batcher::new(
            RESERVATIONS_PER_MESSAGE,
            MESSAGES_IN_FLIGHT,
            move |batch: Vec<Asked>| {
                let link = Arc::clone(&for_batches);
                async move { link.ask(batch).await }
            },
        );
        Self {
            batcher,
            link,
            timeout,
        }
    }
}

struct Link {
    client: RpcClient,
    queue: String,
    timeout: Duration,
}

impl Link {
    /// One message for `batch`, one decision per reservation, in order.
    async fn ask(&self, batch: Vec<Asked>) -> Vec<Decided> {
        let count = batch.len();
        match self.send(batch).await {
            Ok(replies) => replies.into_iter().map(decision).collect(),
            Err(SeatError::Unavailable(why)) => (0..count)
                .map(|_| Err(SeatError::Unavailable(why.clone())))
                .collect(),
        }
    }

    /// One message for `batch`: licensing's replies, in order, or why none
    /// came.
    async fn send(&self, batch: Vec<Asked>) -> Result<Vec<SeatReply>, SeatError> {
        let count = batch.len();
        // The message continues the first reservation's trace.
        let traceparent = batch.first().and_then(|a| a.traceparent.clone());
        let requests: Vec<SeatRequest> = batch.into_iter().map(|a| a.request).collect();
        let body = match requests.as_slice() {
            [one] => serde_json::to_vec(one),
            many => serde_json::to_vec(many),
        };
        match body {
            Ok(body) => self.call(&body, traceparent.as_deref(), count).await,
            Err(e) => Err(SeatError::Unavailable(e.to_string())),
        }
    }

    async fn call(
        &self,
        body: &[u8],
        traceparent: Option<&str>,
        count: usize,
    ) -> Result<Vec<SeatReply>, SeatError> {
        let headers: Vec<(&str, &str)> = traceparent
            .map(|t| vec![(trace_context::TRACEPARENT, t)])
            .unwrap_or_default();
        let reply = self
            .client
            .call(&self.queue, body, &headers, self.timeout)
            .await
            .map_err(|e| match e {
                RpcError::Timeout => SeatError::Unavailable("no answer in time".into()),
                other => SeatError::Unavailable(other.to_string()),
            })?;
        let unreadable =
            |e: serde_json::Error| SeatError::Unavailable(format!("unreadable reply: {e}"));
        let replies = if count == 1 {
            vec![serde_json::from_slice::<SeatReply>(&reply).map_err(unreadable)?]
        } else {
            serde_json::from_slice::<Vec<SeatReply>>(&reply).map_err(unreadable)?
        };
        if replies.len() != count {
            return Err(SeatError::Unavailable(format!(
                "{} replies to {count} reservations",
                replies.len()
            )));
        }
        Ok(replies)
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
            let asked = Asked {
                request: SeatRequest {
                    org_id: org.0,
                    key: key.to_owned(),
                },
                traceparent: trace_context::current_traceparent(),
            };
            // Waiting for a message to leave counts against the timeout too.
            match tokio::time::timeout(self.timeout, self.batcher.submit(asked)).await {
                Ok(Some(decided)) => decided,
                Ok(None) => Err(SeatError::Unavailable("the seat requests stopped".into())),
                Err(_elapsed) => Err(SeatError::Unavailable("no answer in time".into())),
            }
        })
    }

    /// Messages of up to [`MAX_SEAT_REQUESTS_PER_MESSAGE`] reservations,
    /// each decided by licensing in one transaction, sent one after the
    /// other so that the keys are decided in their order. A message licensing
    /// does not answer (in time, or at all) stops the rest: they are
    /// `Unavailable` without being sent, rather than each waiting as long.
    fn reserve_all<'a>(&'a self, org: OrgId, keys: &'a [String]) -> SeatsFuture<'a> {
        Box::pin(async move {
            let traceparent = trace_context::current_traceparent();
            let mut decisions = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(MAX_SEAT_REQUESTS_PER_MESSAGE) {
                let asked = chunk
                    .iter()
                    .map(|key| Asked {
                        request: SeatRequest {
                            org_id: org.0,
                            key: key.clone(),
                        },
                        traceparent: traceparent.clone(),
                    })
                    .collect();
                match self.link.send(asked).await {
                    Ok(replies) => decisions.extend(replies.into_iter().map(decision)),
                    Err(SeatError::Unavailable(why)) => {
                        decisions
                            .resize_with(keys.len(), || Err(SeatError::Unavailable(why.clone())));
                        break;
                    }
                }
            }
            decisions
        })
    }
}

pub struct UnmeteredSeats;

impl SeatAuthority for UnmeteredSeats {
    fn reserve<'a>(&'a self, _org: OrgId, _key: &'a str) -> SeatFuture<'a> {
        Box::pin(async { Ok(SeatDecision::Granted) })
    }
}
