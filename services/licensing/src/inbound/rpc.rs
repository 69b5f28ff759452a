//! Seat reservations over request/reply: the JSON contract of
//! `provisioning_events::seats` on top of the licensing use case. Used by the
//! RabbitMQ server in the distributed deployment and called directly by the
//! embedded process.
//!
//! Requests go through a [`ReservationDesk`]: whatever arrived while the
//! previous decision was being committed is decided together, in one
//! transaction. A burst of creates then costs a commit per batch instead of
//! one per user, and one organization's reservations no longer queue one
//! commit at a time behind its lock.

use std::sync::Arc;

use provisioning_events::seats::{SeatReply, SeatRequest};
use tokio::sync::{mpsc, oneshot};

use crate::domain::models::{OrgId, Reservation, SeatKey};
use crate::domain::ports::{Clock, LicensingStore};
use crate::domain::service::Licensing;

struct Pending {
    request: SeatRequest,
    reply: oneshot::Sender<SeatReply>,
}

/// Takes reservation requests from any number of tasks and decides them in
/// batches of up to `max_batch`, one batch at a time.
#[derive(Clone)]
pub struct ReservationDesk {
    requests: mpsc::Sender<Pending>,
}

impl ReservationDesk {
    /// Starts the task that decides the requests; it ends when the last
    /// clone of the desk is dropped. Needs a Tokio runtime.
    pub fn start<S: LicensingStore, C: Clock>(
        licensing: Arc<Licensing<S, C>>,
        max_batch: usize,
    ) -> Self {
        let max_batch = max_batch.max(1);
        let (requests, mut incoming) = mpsc::channel::<Pending>(max_batch * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while incoming.recv_many(&mut batch, max_batch).await > 0 {
                decide(&licensing, std::mem::take(&mut batch)).await;
            }
        });
        Self { requests }
    }

    /// Licensing's answer to one request; `Unavailable` when it could not
    /// be decided.
    pub async fn answer(&self, request: SeatRequest) -> SeatReply {
        let (reply, answer) = oneshot::channel();
        if self
            .requests
            .send(Pending { request, reply })
            .await
            .is_err()
        {
            return SeatReply::Unavailable;
        }
        answer.await.unwrap_or(SeatReply::Unavailable)
    }

    /// The body-to-body handler `messaging_rabbitmq::rpc::serve` runs.
    pub async fn answer_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        let reply = match serde_json::from_slice::<SeatRequest>(&body) {
            Ok(request) => self.answer(request).await,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable seat reservation request");
                SeatReply::Unavailable
            }
        };
        serde_json::to_vec(&reply).unwrap_or_default()
    }
}

async fn decide<S: LicensingStore, C: Clock>(licensing: &Licensing<S, C>, batch: Vec<Pending>) {
    let requests: Vec<(OrgId, SeatKey)> = batch
        .iter()
        .map(|p| (OrgId(p.request.org_id), SeatKey(p.request.key.clone())))
        .collect();
    match licensing.reserve_all(&requests).await {
        Ok(decided) => {
            for (pending, reservation) in batch.into_iter().zip(decided) {
                // A caller that gave up no longer listens: nothing to do.
                let _ = pending.reply.send(reply(reservation));
            }
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                requests = batch.len(),
                "seat reservations could not be decided"
            );
            for pending in batch {
                let _ = pending.reply.send(SeatReply::Unavailable);
            }
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
