//! `DataKeyStore`: the persons' data keys as the consumers (over the
//! gateway's request/reply server, or directly in the embedded process) and
//! the event log read them, from the read pool, tenant-scoped.

use provisioning_events::PersonRef;
use provisioning_events::sealing::DataKey;

use super::person_keys::{Person, person_of, read_rows, unwrap_row};
use super::view::SqlScimView;
use crate::domain::ports::{DataKeyStore, StoreError};

impl SqlScimView {
    /// The data keys of `persons`, one entry per person in order: `None`
    /// when the person has no key (deleted: its values are erased; or never
    /// provisioned). Read from the read pool; tenant-scoped.
    pub async fn data_keys(
        &self,
        persons: &[PersonRef],
    ) -> Result<Vec<Option<DataKey>>, StoreError> {
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        let ring = self.keys.ring()?;
        let named: Vec<Option<Person>> = persons.iter().map(person_of).collect();
        let in_memory: Vec<Option<DataKey>> = named
            .iter()
            .map(|person| person.as_ref().and_then(|p| self.keys.handed_off(p)))
            .collect();
        let asked: Vec<Person> = named
            .iter()
            .zip(&in_memory)
            .filter(|(_, key)| key.is_none())
            .filter_map(|(person, _)| *person)
            .collect();
        let rows = if asked.is_empty() {
            Default::default()
        } else {
            read_rows(&self.reads, &asked).await?
        };
        named
            .into_iter()
            .zip(in_memory)
            .map(|(person, key)| match key {
                Some(key) => Ok(Some(key)),
                None => person
                    .and_then(|person| rows.get(&person).map(|row| (person, row)))
                    .map(|(person, (kek, wrapped))| unwrap_row(ring, person, kek, wrapped))
                    .transpose(),
            })
            .collect()
    }

    /// Whether each of `persons` has a data key, in order (nothing unwrapped).
    pub async fn has_data_keys(&self, persons: &[PersonRef]) -> Result<Vec<bool>, StoreError> {
        let named: Vec<Option<Person>> = persons.iter().map(person_of).collect();
        let asked: Vec<Person> = named.iter().flatten().copied().collect();
        let rows = read_rows(&self.reads, &asked).await?;
        Ok(named
            .into_iter()
            .map(|person| person.is_some_and(|person| rows.contains_key(&person)))
            .collect())
    }
}

impl DataKeyStore for SqlScimView {
    async fn data_keys(&self, persons: &[PersonRef]) -> Result<Vec<Option<DataKey>>, StoreError> {
        SqlScimView::data_keys(self, persons).await
    }

    async fn has_data_keys(&self, persons: &[PersonRef]) -> Result<Vec<bool>, StoreError> {
        SqlScimView::has_data_keys(self, persons).await
    }
}
