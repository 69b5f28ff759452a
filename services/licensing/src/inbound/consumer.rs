//! The licensing service as a consumer of provisioning events.

use std::sync::Arc;

use messaging::{EventHandler, HandleError, Handled};
use provisioning_events::Event;

use crate::domain::ports::{Clock, LicensingStore};
use crate::domain::service::Licensing;

/// The consumer's name: its queue, and its dead letters' consumer.
pub const CONSUMER: &str = "licensing";

/// Every user event: seats are confirmed and released by them (and the order
/// check needs all versions of a user).
pub const BINDINGS: &[&str] = &["user.*"];

pub struct LicensingConsumer<S, C>(pub Arc<Licensing<S, C>>);

impl<S: LicensingStore, C: Clock> EventHandler for LicensingConsumer<S, C> {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        self.0.handle_event(event).await
    }

    async fn handle_batch(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        self.0.handle_events(events).await
    }
}
