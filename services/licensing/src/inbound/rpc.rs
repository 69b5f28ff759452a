//! Seat reservations over request/reply: the JSON contract of
//! `provisioning_events::seats` on top of the licensing use case. Used by the
//! RabbitMQ server in the distributed deployment and called directly by the
//! embedded process.

use std::sync::Arc;

use provisioning_events::seats::{SeatReply, SeatRequest};

use crate::domain::models::{OrgId, Reservation, SeatKey};
use crate::domain::ports::{Clock, LicensingStore};
use crate::domain::service::Licensing;

/// Answers one reservation request.
pub async fn answer<S: LicensingStore, C: Clock>(
    licensing: &Licensing<S, C>,
    request: &SeatRequest,
) -> SeatReply {
    match licensing
        .reserve(OrgId(request.org_id), &SeatKey(request.key.clone()))
        .await
    {
        Ok(Reservation::Granted {
            reservation_id,
            used,
            quota,
        }) => SeatReply::Granted {
            reservation_id,
            used,
            quota,
        },
        Ok(Reservation::Denied { used, quota }) => SeatReply::Denied { used, quota },
        Ok(Reservation::NotIncluded) => SeatReply::NotIncluded,
        Err(e) => {
            tracing::error!(error = %e, "a seat reservation could not be decided");
            SeatReply::Unavailable
        }
    }
}

/// The body-to-body handler `messaging_rabbitmq::rpc::serve` runs.
pub async fn answer_bytes<S: LicensingStore, C: Clock>(
    licensing: Arc<Licensing<S, C>>,
    body: Vec<u8>,
) -> Vec<u8> {
    let reply = match serde_json::from_slice::<SeatRequest>(&body) {
        Ok(request) => answer(&licensing, &request).await,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable seat reservation request");
            SeatReply::Unavailable
        }
    };
    serde_json::to_vec(&reply).unwrap_or_default()
}
