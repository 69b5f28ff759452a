//! Seat reservations over request/reply: the JSON contract of
//! `provisioning_events::seats` on top of the licensing use case. Used by the
//! RabbitMQ server in the distributed deployment and called directly by the
//! embedded process.
//!
//! Requests go through a [`ReservationDesk`]: whatever arrived while the
//! previous decision was being committed is decided together, in one
//! transaction. A burst of creates then costs a commit per batch instead of
//! one per user, and one organization's reservations no longer queue one
//! commit at a time behind its lock. An array of requests (reservations a
//! gateway sent together, a stretch of a bulk's creates) goes through the
//! desk whole: decided in one transaction, in its order, with whatever else
//! waited.

use std::sync::Arc;

use provisioning_events::seats::{MAX_SEAT_REQUESTS_PER_MESSAGE, SeatReply, SeatRequest};
use service_kit::batching::Batcher;

use crate::domain::models::{OrgId, Reservation, SeatKey};
use crate::domain::ports::{Clock, LicensingStore};
use crate::domain::service::Licensing;

/// Takes reservation requests from any number of tasks — one request, or an
/// array that arrived together — and decides what waits, up to `max_batch`
/// requests and arrays, one batch at a time: in transactions of up to
/// [`MAX_SEAT_REQUESTS_PER_MESSAGE`] requests, an array never split.
#[derive(Clone)]
pub struct ReservationDesk {
    batcher: Arc<Batcher<Vec<SeatRequest>, Vec<SeatReply>>>,
}

impl ReservationDesk {
    pub fn start<S: LicensingStore, C: Clock>(
        licensing: Arc<Licensing<S, C>>,
        max_batch: usize,
    ) -> Self {
        let batcher = Batcher::new(max_batch, 1, move |arrays: Vec<Vec<SeatRequest>>| {
            let licensing = Arc::clone(&licensing);
            async move { decide_arrays(&licensing, arrays).await }
        });
        Self {
            batcher: Arc::new(batcher),
        }
    }

    /// Licensing's answers to requests that arrived together (a bulk's
    /// creates), in their order, each decided as if asked alone, one after
    /// the other, in one transaction with whatever else waits. At most
    /// [`MAX_SEAT_REQUESTS_PER_MESSAGE`] requests; more are each
    /// `Unavailable`, nothing reserved.
    pub async fn answer_all(&self, requests: Vec<SeatRequest>) -> Vec<SeatReply> {
        let count = requests.len();
        if count > MAX_SEAT_REQUESTS_PER_MESSAGE {
            return vec![SeatReply::Unavailable; count];
        }
        match self.batcher.submit(requests).await {
            Some(replies) if replies.len() == count => replies,
            _ => vec![SeatReply::Unavailable; count],
        }
    }

    /// Licensing's answer to one request; `Unavailable` when it could not
    /// be decided.
    pub async fn answer(&self, request: SeatRequest) -> SeatReply {
        self.answer_all(vec![request])
            .await
            .pop()
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

/// The arrays of one batch, in order, in transactions of up to
/// [`MAX_SEAT_REQUESTS_PER_MESSAGE`] requests (an array is never split):
/// each array's replies.
async fn decide_arrays<S: LicensingStore, C: Clock>(
    licensing: &Licensing<S, C>,
    arrays: Vec<Vec<SeatRequest>>,
) -> Vec<Vec<SeatReply>> {
    let mut answered = Vec::with_capacity(arrays.len());
    let mut arrays = arrays.into_iter().peekable();
    while let Some(first) = arrays.next() {
        let mut sizes = vec![first.len()];
        let mut together = first;
        while let Some(next) =
            arrays.next_if(|next| together.len() + next.len() <= MAX_SEAT_REQUESTS_PER_MESSAGE)
        {
            sizes.push(next.len());
            together.extend(next);
        }
        let mut replies = decide(licensing, together).await.into_iter();
        for size in sizes {
            answered.push(replies.by_ref().take(size).collect());
        }
    }
    answered
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
