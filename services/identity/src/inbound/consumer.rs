//! The identity service as a consumer of provisioning events.

use std::sync::Arc;

use messaging::{EventHandler, HandleError, Handled};
use provisioning_events::Event;

use crate::domain::ports::{AccountStore, Clock, DataKeys};
use crate::domain::service::Identity;

/// The consumer's name: its queue, and its dead letters' consumer.
pub const CONSUMER: &str = "identity";

/// Every user event: the aggregate order check needs all versions of a user.
pub const BINDINGS: &[&str] = &["user.*"];

pub struct IdentityConsumer<S, C, K>(pub Arc<Identity<S, C, K>>);

impl<S: AccountStore, C: Clock, K: DataKeys> EventHandler for IdentityConsumer<S, C, K> {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        self.0.handle_event(event).await
    }

    async fn handle_batch(&self, events: &[Event]) -> Vec<Result<Handled, HandleError>> {
        self.0.handle_events(events).await
    }
}
