//! Seat reservations over request/reply: the JSON contract of
//! `provisioning_events::seats` on top of the licensing use case. Used by the
//! RabbitMQ server in the distributed deployment and called directly by the
//! embedded process.
//!
//! Requests go through a [`ReservationDesk`]: whatever arrived while the
//! previous decision was being committed is decided together, in one
//! transaction. A burst of creates then costs a commit per batch instead of
//! one per user, and one organization's reservations no longer queue one
//! commit at a time behind its lock. An array of requests (a bulk's
//! creates, sent together) is decided together, in one transaction of its
//! own, in its order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use provisioning_events::seats::{MAX_SEAT_REQUESTS_PER_MESSAGE, SeatReply, SeatRequest};
use service_kit::batching::Batcher;

use crate::domain::models::{OrgId, Reservation, SeatKey};
use crate::domain::ports::{Clock, LicensingStore};
use crate::domain::service::Licensing;

/// Takes reservation requests from any number of tasks and decides them in
/// batches of up to `max_batch`, one batch at a time.
#[derive(Clone)]
pub struct ReservationDesk {
    batcher: Arc<Batcher<SeatRequest, SeatReply>>,
    decide_together: Arc<DecideTogether>,
}

type DecideTogether =
    dyn Fn(Vec<SeatRequest>) -> Pin<Box<dyn Future<Output = Vec<SeatReply>> + Send>> + Send + Sync;

impl ReservationDesk {
    pub fn start<S: LicensingStore, C: Clock>(
        licensing: Arc<Licensing<S, C>>,
        max_batch: usize,
    ) -> Self {
        let for_batches = Arc::clone(&licensing);
        let batcher = Batcher::new(max_batch, 1, move |batch: Vec<SeatRequest>| {
            let licensing = Arc::clone(&for_batches);
            async move { decide(&licensing, batch).await }
        });
        let decide_together: Arc<DecideTogether> = Arc::new(move |requests| {
            let licensing = Arc::clone(&licensing);
            Box::pin(async move { decide(&licensing, requests).await })
        });
        Self {
            batcher: Arc::new(batcher),
            decide_together,
        }
    }

    /// Licensing's answers to requests that arrived together (a bulk's
    /// creates), in their order, each decided as if asked alone, one after
    /// the other: in one transaction, beside the desk's batches rather than
    /// split among them. At most [`MAX_SEAT_REQUESTS_PER_MESSAGE`] requests.
    pub async fn answer_all(&self, requests: Vec<SeatRequest>) -> Vec<SeatReply> {
        if requests.len() > MAX_SEAT_REQUESTS_PER_MESSAGE {
            return vec![SeatReply::Unavailable; requests.len()];
        }
        (self.decide_together)(requests).await
    }

    /// Licensing's answer to one request; `Unavailable` when it could not
    /// be decided.
    pub async fn answer(&self, request: SeatRequest) -> SeatReply {
        self.batcher
            .submit(request)
            .await
            .unwrap_or(SeatReply::Unavailable)
    }

    /// The body-to-body handler `messaging_rabbitmq::rpc::serve` runs: one
    /// request (through the desk), or an array of them (decided together,
    /// [`Self::answer_all`]), answered in kind.
    pub async fn answer_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        let encoded = match serde_json::from_slice::<SeatMessage>(&body) {
            Ok(SeatMessage::One(request)) => serde_json::to_vec(&self.answer(request).await),
            Ok(SeatMessage::Many(requests)) if requests.len() <= MAX_SEAT_REQUESTS_PER_MESSAGE => {
                serde_json::to_vec(&self.answer_all(requests).await)
            }
            Ok(SeatMessage::Many(requests)) => {
                tracing::warn!(
                    requests = requests.len(),
                    most = MAX_SEAT_REQUESTS_PER_MESSAGE,
                    "too many seat reservation requests in one message"
                );
                serde_json::to_vec(&vec![SeatReply::Unavailable; requests.len()])
            }
            Err(e) => {
                // Where, not what: a serde message may quote the value.
                tracing::warn!(
                    kind = ?e.classify(),
                    line = e.line(),
                    column = e.column(),
                    "unreadable seat reservation request"
                );
                serde_json::to_vec(&SeatReply::Unavailable)
            }
        };
        encoded.unwrap_or_default()
    }
}

/// A request message's body: one request, or an array of them.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum SeatMessage {
    One(SeatRequest),
    Many(Vec<SeatRequest>),
}

async fn decide<S: LicensingStore, C: Clock>(
    licensing: &Licensing<S, C>,
    batch: Vec<SeatRequest>,
) -> Vec<SeatReply> {
    let requests: Vec<(OrgId, SeatKey)> = batch
        .into_iter()
        .map(|request| (OrgId(request.org_id), SeatKey(request.key)))
        .collect();
    match licensing.reserve_all(&requests).await {
        Ok(decided) => decided.into_iter().map(reply).collect(),
        Err(e) => {
            tracing::error!(
                error = %e,
                requests = requests.len(),
                "seat reservations could not be decided"
            );
            vec![SeatReply::Unavailable; requests.len()]
        }
    }
}

fn reply(reservation: Reservation) -> SeatReply {
    match reservation {
        Reservation::Granted {
            reservation_id,
            used,
            quota,
        } => SeatReply::Granted {
            reservation_id,
            used,
            quota,
        },
        Reservation::Denied { used, quota } => SeatReply::Denied { used, quota },
        Reservation::NotIncluded => SeatReply::NotIncluded,
    }
}
