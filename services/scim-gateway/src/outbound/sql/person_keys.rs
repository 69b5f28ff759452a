//! The persons' data keys: each SCIM user's key, wrapped by the
//! key-encryption key, in its `scim_users` row (`kek_id`, `wrapped_key`;
//! crypto-shredding, docs/privacy.md). A create writes the key with the user
//! ([`new_user_key`]); a write's events have their profiles sealed under
//! their person's key as they are appended to the journal, inside the
//! write's transaction ([`seal_entries`]); deleting the user's row destroys
//! its key in the delete's transaction; consumers read the keys through
//! `data_keys` (the `DataKeyStore` port).
//! Every statement is scoped by organization and parameterized. No key
//! material is ever logged.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};
use uuid::Uuid;

use provisioning_events::personal::PersonalProfile;
use provisioning_events::sealing::{DataKey, KeyRing};
use provisioning_events::{Event, PersonRef};

use super::rows::{db_error, unreadable};
use super::tables::ScimUsers as Users;
use crate::domain::models::OrgId;
use crate::domain::ports::StoreError;

/// The key-encryption keys a store wraps and unwraps data keys with; none in
/// a store built without `SqlScimView::with_key_ring`, which then refuses
/// to write a profile (never in clear) and to hand out keys.
#[derive(Clone, Default)]
pub(super) struct KeyHolder {
    ring: Option<Arc<KeyRing>>,
    /// With one gateway process (the embedded one): the keys of this
    /// process's committed writes, so that sealing an update and answering a
    /// consumer about a person just written need no read of its key.
    /// Only committed keys enter, a deleted person's key leaves before its
    /// delete commits and again after; bounded (cleared when full). Never
    /// with several gateway replicas: another replica's delete would not
    /// reach it.
    handed_off: Option<Arc<Mutex<HandedOff>>>,
}

/// Keys kept in memory with one gateway process, at most.
const HANDED_OFF_KEYS: usize = 20_000;
/// Deleted persons remembered, at most: a write that committed before a
/// delete but hands its keys off after it must not bring the key back.
const FORGOTTEN_PERSONS: usize = 100_000;

#[derive(Default)]
pub(super) struct HandedOff {
    keys: HashMap<Person, DataKey>,
    forgotten: HashSet<Person>,
}

impl KeyHolder {
    pub(super) fn new(ring: KeyRing) -> Self {
        Self {
            ring: Some(Arc::new(ring)),
            handed_off: None,
        }
    }

    pub(super) fn with_hand_off(mut self) -> Self {
        self.handed_off = Some(Arc::default());
        self
    }

    /// Remembers the keys a write committed (call after its commit only).
    pub(super) fn hand_off(&self, keys: HashMap<Person, DataKey>) {
        let Some(handed_off) = &self.handed_off else {
            return;
        };
        let mut handed_off = handed_off.lock().unwrap_or_else(|e| e.into_inner());
        if handed_off.keys.len() + keys.len() > HANDED_OFF_KEYS {
            handed_off.keys.clear();
        }
        for (person, key) in keys {
            if !handed_off.forgotten.contains(&person) {
                handed_off.keys.insert(person, key);
            }
        }
    }

    pub(super) fn handed_off(&self, person: &Person) -> Option<DataKey> {
        let handed_off = self.handed_off.as_ref()?;
        let handed_off = handed_off.lock().unwrap_or_else(|e| e.into_inner());
        handed_off.keys.get(person).cloned()
    }

    /// Forgets a person's key for good (their delete).
    pub(super) fn forget(&self, person: &Person) {
        if let Some(handed_off) = &self.handed_off {
            let mut handed_off = handed_off.lock().unwrap_or_else(|e| e.into_inner());
            handed_off.keys.remove(person);
            if handed_off.forgotten.len() >= FORGOTTEN_PERSONS {
                handed_off.forgotten.clear();
            }
            handed_off.forgotten.insert(*person);
        }
    }

    pub(super) fn ring(&self) -> Result<&KeyRing, StoreError> {
        self.ring.as_deref().ok_or_else(|| {
            StoreError::Unavailable(anyhow!(
                "the gateway store has no key ring: personal values cannot be sealed or opened"
            ))
        })
    }
}

/// A person as its key row names it: organization and SCIM user id.
pub(super) type Person = (Uuid, Uuid);

pub(super) fn person_of(person: &PersonRef) -> Option<Person> {
    Uuid::parse_str(&person.user_id)
        .ok()
        .map(|user| (person.org_id, user))
}

/// A data key as its user's row stores it: the id of the key-encryption key
/// that wraps it, and the wrapped key.
pub(super) type StoredKey = (String, String);

/// The stored keys of these persons, read through `conn` (a write's
/// transaction, or the read pool): one entry per user still in the view,
/// `None` for a user whose row holds no key yet (written before keys).
pub(super) async fn read_user_keys<C: ConnectionTrait>(
    conn: &C,
    persons: &[Person],
) -> Result<HashMap<Person, Option<StoredKey>>, StoreError> {
    let mut by_org: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (org, user) in persons {
        by_org.entry(*org).or_default().push(*user);
    }
    let mut rows = HashMap::with_capacity(persons.len());
    for (org, users) in by_org {
        for chunk in users.chunks(service_kit::db::MAX_IN_LIST) {
            let select = Query::select()
                .columns([Users::Id, Users::KekId, Users::WrappedKey])
                .from(Users::Table)
                .and_where(Expr::col(Users::OrgId).eq(org))
                .and_where(Expr::col(Users::Id).is_in(service_kit::db::in_list(chunk)))
                .to_owned();
            for row in conn.query_all(&select).await.map_err(db_error)? {
                rows.insert(
                    (org, row.try_get("", "id").map_err(unreadable)?),
                    stored_key(&row)?,
                );
            }
        }
    }
    Ok(rows)
}

/// The stored keys of these persons that have one.
pub(super) async fn read_rows<C: ConnectionTrait>(
    conn: &C,
    persons: &[Person],
) -> Result<HashMap<Person, StoredKey>, StoreError> {
    Ok(read_user_keys(conn, persons)
        .await?
        .into_iter()
        .filter_map(|(person, key)| key.map(|key| (person, key)))
        .collect())
}

/// The (`kek_id`, `wrapped_key`) columns of a user row, when it has a key.
pub(super) fn stored_key(row: &QueryResult) -> Result<Option<StoredKey>, StoreError> {
    let kek: Option<String> = row.try_get("", "kek_id").map_err(unreadable)?;
    let wrapped: Option<String> = row.try_get("", "wrapped_key").map_err(unreadable)?;
    Ok(kek.zip(wrapped))
}

/// A stored row's data key, unwrapped with the ring's key of its `kek_id`.
pub(super) fn unwrap_row(
    ring: &KeyRing,
    person: Person,
    kek_id: &str,
    wrapped: &str,
) -> Result<DataKey, StoreError> {
    let kek = ring.by_id(kek_id).ok_or_else(|| {
        StoreError::Unavailable(anyhow!(
            "a data key is wrapped by key-encryption key {kek_id}, which this gateway does not hold"
        ))
    })?;
    kek.unwrap(wrapped, person.0, &person.1.to_string())
        .map_err(|e| {
            StoreError::Unavailable(anyhow!(
                "a data key does not unwrap with key-encryption key {kek_id}: {e}"
            ))
        })
}

/// A new data key for a user about to be inserted, and the columns that
/// store it (wrapped with the ring's current key-encryption key).
pub(super) fn new_user_key(
    holder: &KeyHolder,
    person: Person,
) -> Result<(DataKey, StoredKey), StoreError> {
    let current = holder.ring()?.current();
    let key = DataKey::generate().map_err(sealing_failed)?;
    let wrapped = current
        .wrap(&key, person.0, &person.1.to_string())
        .map_err(sealing_failed)?;
    Ok((key, (current.id().to_owned(), wrapped)))
}

/// The data keys of `persons` inside `txn`, for those still in the view: the
/// ones already known to the write (`known`: made for its inserts, read back
/// by its updates), the ones kept in memory, the stored ones, and new ones
/// for users whose row has none yet (written before keys; stored in the row
/// only where it still has none, so a key another transaction stored first
/// wins). A person without a user row gets no key: its values are erased.
pub(super) async fn keys_in(
    txn: &DatabaseTransaction,
    holder: &KeyHolder,
    persons: &[Person],
    known: HashMap<Person, DataKey>,
) -> Result<HashMap<Person, DataKey>, StoreError> {
    let ring = holder.ring()?;
    let mut keys = known;
    for person in persons {
        if !keys.contains_key(person)
            && let Some(key) = holder.handed_off(person)
        {
            keys.insert(*person, key);
        }
    }
    let looked_up: Vec<Person> = persons
        .iter()
        .filter(|person| !keys.contains_key(person))
        .copied()
        .collect();
    if looked_up.is_empty() {
        return Ok(keys);
    }
    let mut keyless = Vec::new();
    for (person, stored) in read_user_keys(txn, &looked_up).await? {
        match stored {
            Some((kek, wrapped)) => {
                keys.insert(person, unwrap_row(ring, person, &kek, &wrapped)?);
            }
            None => keyless.push(person),
        }
    }
    let mut lost = Vec::new();
    for person in keyless {
        let (key, (kek, wrapped)) = new_user_key(holder, person)?;
        let stored = txn
            .execute(
                Query::update()
                    .table(Users::Table)
                    .value(Users::KekId, kek)
                    .value(Users::WrappedKey, wrapped)
                    .and_where(Expr::col(Users::OrgId).eq(person.0))
                    .and_where(Expr::col(Users::Id).eq(person.1))
                    .and_where(Expr::col(Users::WrappedKey).is_null()),
            )
            .await
            .map_err(db_error)?
            .rows_affected();
        if stored == 1 {
            keys.insert(person, key);
        } else {
            lost.push(person);
        }
    }
    // Another writer stored these keys first (or deleted the user): theirs
    // are the keys, if any.
    for (person, (kek, wrapped)) in read_rows(txn, &lost).await? {
        keys.insert(person, unwrap_row(ring, person, &kek, &wrapped)?);
    }
    Ok(keys)
}

fn sealing_failed(e: provisioning_events::sealing::SealError) -> StoreError {
    StoreError::Unavailable(anyhow!("sealing failed: {e}"))
}

/// The entries sealed, and the keys they were sealed with (to hand off
/// once the write commits).
pub(super) type Sealed<'e> = (Vec<(OrgId, Cow<'e, Event>)>, HashMap<Person, DataKey>);

/// The entries as the journal stores them: every open profile sealed under
/// its person's data key (`known` to the write, or looked up — made for a
/// user whose row has none yet). The profile of a person no longer in the
/// view is erased, never written open. Entries without an open profile are
/// passed through untouched.
pub(super) async fn seal_entries<'e>(
    txn: &DatabaseTransaction,
    holder: &KeyHolder,
    entries: &[(OrgId, &'e Event)],
    known: HashMap<Person, DataKey>,
) -> Result<Sealed<'e>, StoreError> {
    let mut persons: Vec<Person> = Vec::new();
    let mut seen = HashSet::new();
    for (_, event) in entries {
        if !matches!(event.profile(), Some(PersonalProfile::Open(_))) {
            continue;
        }
        let person = event.person().as_ref().and_then(person_of).ok_or_else(|| {
            StoreError::Unavailable(anyhow!("a user event names no SCIM user id to seal for"))
        })?;
        if seen.insert(person) {
            persons.push(person);
        }
    }
    if persons.is_empty() {
        let entries = entries
            .iter()
            .map(|(org, event)| (*org, Cow::Borrowed(*event)))
            .collect();
        return Ok((entries, HashMap::new()));
    }
    let keys = keys_in(txn, holder, &persons, known).await?;
    let sealed = entries
        .iter()
        .map(|(org, event)| {
            if !matches!(event.profile(), Some(PersonalProfile::Open(_))) {
                return Ok((*org, Cow::Borrowed(*event)));
            }
            let mut sealed = (*event).clone();
            match event
                .person()
                .as_ref()
                .and_then(person_of)
                .and_then(|person| keys.get(&person))
            {
                Some(key) => sealed.seal_with(key).map_err(sealing_failed)?,
                None => sealed.erase_personal(),
            }
            Ok((*org, Cow::Owned(sealed)))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((sealed, keys))
}

/// Seals `event`'s open profile, if any, under its person's stored key; with
/// no key stored (the person was deleted) the profile is erased. Never makes
/// a key: for values that arrive after the journal (a consumer's dead
/// letter), whose person may be gone.
pub(super) async fn seal_with_stored_key<C: ConnectionTrait>(
    conn: &C,
    holder: &KeyHolder,
    event: &mut Event,
) -> Result<(), StoreError> {
    if !matches!(event.profile(), Some(PersonalProfile::Open(_))) {
        return Ok(());
    }
    let Some(person) = event.person().as_ref().and_then(person_of) else {
        event.erase_personal();
        return Ok(());
    };
    match read_rows(conn, &[person]).await?.get(&person) {
        Some((kek, wrapped)) => {
            let key = unwrap_row(holder.ring()?, person, kek, wrapped)?;
            event.seal_with(&key).map_err(sealing_failed)
        }
        None => {
            event.erase_personal();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn holder() -> KeyHolder {
        let kek = provisioning_events::sealing::KeyEncryptionKey::generate().unwrap();
        KeyHolder::new(KeyRing::new(kek, Vec::new())).with_hand_off()
    }

    #[test]
    fn a_forgotten_person_is_never_handed_off_again() {
        let holder = holder();
        let person = (Uuid::now_v7(), Uuid::now_v7());
        let key = DataKey::generate().unwrap();
        holder.hand_off(HashMap::from([(person, key.clone())]));
        assert_eq!(holder.handed_off(&person), Some(key.clone()));
        holder.forget(&person);
        assert_eq!(holder.handed_off(&person), None);
        // A write committed before the delete, handing its keys off after it.
        holder.hand_off(HashMap::from([(person, key)]));
        assert_eq!(holder.handed_off(&person), None);
    }

    #[test]
    fn without_hand_off_nothing_is_kept() {
        let kek = provisioning_events::sealing::KeyEncryptionKey::generate().unwrap();
        let holder = KeyHolder::new(KeyRing::new(kek, Vec::new()));
        let person = (Uuid::now_v7(), Uuid::now_v7());
        holder.hand_off(HashMap::from([(person, DataKey::generate().unwrap())]));
        assert_eq!(holder.handed_off(&person), None);
    }
}
