//! The gateway as a consumer of licensing's `subscription.changed` events.

use std::sync::Arc;

use messaging::{EventHandler, HandleError, Handled};
use provisioning_events::Event;

use crate::domain::entitlements::Entitlements;
use crate::domain::ports::EntitlementStore;

/// The gateway's queue (and its retry and dead queues).
pub const CONSUMER: &str = "scim-gateway";
pub const BINDINGS: &[&str] = &["subscription.*"];

pub struct EntitlementConsumer<S>(pub Arc<Entitlements<S>>);

impl<S: EntitlementStore> EventHandler for EntitlementConsumer<S> {
    async fn handle(&self, event: &Event) -> Result<Handled, HandleError> {
        self.0.handle_event(event).await
    }
}
