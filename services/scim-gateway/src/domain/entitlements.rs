//! Keeping the entitlement copy: licensing announces subscription changes;
//! the gateway records whether SCIM is included, so that every request of an
//! organization without it is refused without asking licensing each time.

use messaging::{Admission, HandleError, Handled};
use provisioning_events::{Event, EventBody};

use super::ports::EntitlementStore;

pub struct Entitlements<S> {
    store: S,
}

impl<S: EntitlementStore> Entitlements<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub async fn handle_event(&self, event: &Event) -> Result<Handled, HandleError> {
        let EventBody::SubscriptionChanged { scim_included, .. } = &event.body else {
            // Not an entitlement: nothing to keep (the binding is
            // `subscription.*`, so this is a newer type of that family).
            return Ok(Handled::Stale);
        };
        let admission = self
            .store
            .set_scim_included(event, *scim_included)
            .await
            .map_err(|e| HandleError::Failed(e.to_string()))?;
        match admission {
            Admission::Apply => Ok(Handled::Applied),
            Admission::Duplicate => Ok(Handled::Duplicate),
            Admission::Stale => Ok(Handled::Stale),
            Admission::OutOfOrder { expected } => Err(HandleError::OutOfOrder {
                expected,
                got: event.aggregate.version,
            }),
        }
    }
}
