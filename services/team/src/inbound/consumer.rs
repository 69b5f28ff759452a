//! The team service as a consumer of provisioning events.

use std::sync::Arc;

use messaging::{EventHandler, HandleError, Handled};
use provisioning_events::Event;

use crate::domain::ports::{Clock, TeamStore};
use crate::domain::service::Teams;

/// The consumer's name: its queue, and its dead letters' consumer.
pub const CONSUMER: &str = "team";

/// Group events, and user events to resolve members to their current
/// account (every type of both: the order check needs all versions).
pub const BINDINGS: &[&str] = &["group.*", "user.*"];

pub struct TeamConsumer<S, C>(pub Arc<Teams<S, C>>);

impl<S: TeamStore, C: Clock> EventHandler for TeamConsumer<S, C> {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        self.0.handle_event(event).await
    }

    async fn handle_batch(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        self.0.handle_events(events).await
    }
}
