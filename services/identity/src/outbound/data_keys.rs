//! The domain's [`DataKeys`] over a [`DataKeySource`]: the gateway over
//! request/reply in the distributed deployment (`RpcDataKeys`), its key table
//! directly in the embedded process.

use std::sync::Arc;

use provisioning_events::PersonRef;
use provisioning_events::sealing::DataKey;
use service_kit::data_keys::DataKeySource;

use crate::domain::ports::{DataKeys, KeysUnavailable};

#[derive(Clone)]
pub struct SourcedDataKeys(pub Arc<dyn DataKeySource>);

impl DataKeys for SourcedDataKeys {
    async fn data_keys(
        &self,
        persons: &[PersonRef],
    ) -> Result<Vec<Option<DataKey>>, KeysUnavailable> {
        let keys = self
            .0
            .data_keys(persons)
            .await
            .map_err(|e| KeysUnavailable(e.to_string()))?;
        tracing::debug!(
            persons = persons.len(),
            erased = keys.iter().filter(|k| k.is_none()).count(),
            "data keys fetched"
        );
        Ok(keys)
    }
}
