//! `person_keys`: each SCIM user's data key, wrapped by the key-encryption
//! key (crypto-shredding, docs/privacy.md). A write's events have their
//! profiles sealed under their person's key as they are appended to the
//! journal, inside the write's transaction ([`seal_entries`]); deleting the
//! user deletes its key in the delete's transaction ([`delete_person_key`]);
//! consumers read the keys through `data_keys` (the `DataKeyStore` port).
//! Every statement is scoped by organization and parameterized. No key
//! material is ever logged.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use provisioning_events::personal::PersonalProfile;
use provisioning_events::sealing::{DataKey, KeyRing};
use provisioning_events::{Event, EventBody, PersonRef};

use super::rows::{db_error, micros, unreadable};
use super::tables::PersonKeys as Keys;
use crate::domain::models::{OrgId, ResourceId};
use crate::domain::ports::StoreError;

/// The key-encryption keys a store wraps and unwraps data keys with; none in
/// a store built without `SqlScimView::with_key_ring`, which then refuses
/// to write a profile (never in clear) and to hand out keys.
#[derive(Clone, Default)]
pub(super) struct KeyHolder {
    ring: Option<Arc<KeyRing>>,
    /// With one gateway process (the embedded one): the keys of this
    /// process's committed writes, so that sealing an update and answering a
    /// consumer about a person just written need no read of `person_keys`.
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

/// The stored rows (`kek_id`, `wrapped_key`) of these persons, read through
/// `conn` (a write's transaction, or the read pool).
pub(super) async fn read_rows<C: ConnectionTrait>(
    conn: &C,
    persons: &[Person],
) -> Result<HashMap<Person, (String, String)>, StoreError> {
    let mut by_org: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (org, user) in persons {
        by_org.entry(*org).or_default().push(*user);
    }
    let mut rows = HashMap::with_capacity(persons.len());
    for (org, users) in by_org {
        for chunk in users.chunks(service_kit::db::MAX_IN_LIST) {
            let select = Query::select()
                .columns([Keys::UserId, Keys::KekId, Keys::WrappedKey])
                .from(Keys::Table)
                .and_where(Expr::col(Keys::OrgId).eq(org))
                .and_where(Expr::col(Keys::UserId).is_in(service_kit::db::in_list(chunk)))
                .to_owned();
            for row in conn.query_all(&select).await.map_err(db_error)? {
                let user: Uuid = row.try_get("", "user_id").map_err(unreadable)?;
                let kek: String = row.try_get("", "kek_id").map_err(unreadable)?;
                let wrapped: String = row.try_get("", "wrapped_key").map_err(unreadable)?;
                rows.insert((org, user), (kek, wrapped));
            }
        }
    }
    Ok(rows)
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

/// The data keys of `persons` inside `txn`: the stored ones, and new ones
/// (generated, wrapped with the ring's current key, inserted) for those
/// without. `known_new` are persons created in this transaction: no key can
/// exist for them, so they are not looked up first. Race-safe: a key another
/// transaction inserted first wins (`ON CONFLICT DO NOTHING`, then read).
pub(super) async fn keys_in(
    txn: &DatabaseTransaction,
    holder: &KeyHolder,
    persons: &[(Person, i64)],
    known_new: &HashSet<Person>,
) -> Result<HashMap<Person, DataKey>, StoreError> {
    let ring = holder.ring()?;
    let mut keys = HashMap::with_capacity(persons.len());
    for (person, _) in persons {
        if let Some(key) = holder.handed_off(person) {
            keys.insert(*person, key);
        }
    }
    let looked_up: Vec<Person> = persons
        .iter()
        .map(|(person, _)| *person)
        .filter(|person| !known_new.contains(person) && !keys.contains_key(person))
        .collect();
    for (person, (kek, wrapped)) in read_rows(txn, &looked_up).await? {
        keys.insert(person, unwrap_row(ring, person, &kek, &wrapped)?);
    }
    let missing: Vec<(Person, i64, DataKey)> = persons
        .iter()
        .filter(|(person, _)| !keys.contains_key(person))
        .map(|(person, at)| Ok((*person, *at, DataKey::generate().map_err(sealing_failed)?)))
        .collect::<Result<_, StoreError>>()?;
    let current = ring.current();
    let mut inserted = 0;
    for chunk in service_kit::db::pow2_chunks(&missing) {
        let mut insert = Query::insert();
        insert
            .into_table(Keys::Table)
            .columns([
                Keys::OrgId,
                Keys::UserId,
                Keys::KekId,
                Keys::WrappedKey,
                Keys::CreatedAt,
            ])
            .on_conflict(
                OnConflict::columns([Keys::OrgId, Keys::UserId])
                    .do_nothing()
                    .to_owned(),
            );
        for ((org, user), at, key) in chunk {
            let wrapped = current
                .wrap(key, *org, &user.to_string())
                .map_err(sealing_failed)?;
            insert.values_panic([
                (*org).into(),
                (*user).into(),
                current.id().into(),
                wrapped.into(),
                (*at).into(),
            ]);
        }
        inserted += txn
            .execute(&insert)
            .await
            .map_err(db_error)?
            .rows_affected();
    }
    if inserted < missing.len() as u64 {
        // Another writer made some of these keys first: theirs are the keys.
        let lost: Vec<Person> = missing.iter().map(|(person, _, _)| *person).collect();
        let stored = read_rows(txn, &lost).await?;
        for (person, _, key) in missing {
            let key = match stored.get(&person) {
                Some((kek, wrapped)) => unwrap_row(ring, person, kek, wrapped)?,
                None => key,
            };
            keys.insert(person, key);
        }
    } else {
        keys.extend(missing.into_iter().map(|(person, _, key)| (person, key)));
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
/// its person's data key (made when the person has none yet). Entries
/// without an open profile are passed through untouched.
pub(super) async fn seal_entries<'e>(
    txn: &DatabaseTransaction,
    holder: &KeyHolder,
    entries: &[(OrgId, &'e Event)],
) -> Result<Sealed<'e>, StoreError> {
    let mut persons: Vec<(Person, i64)> = Vec::new();
    let mut seen = HashSet::new();
    let mut known_new = HashSet::new();
    for (_, event) in entries {
        if !matches!(event.profile(), Some(PersonalProfile::Open(_))) {
            continue;
        }
        let person = event.person().as_ref().and_then(person_of).ok_or_else(|| {
            StoreError::Unavailable(anyhow!("a user event names no SCIM user id to seal for"))
        })?;
        if matches!(event.body, EventBody::UserProvisioned { .. }) {
            known_new.insert(person);
        }
        if seen.insert(person) {
            persons.push((person, micros(event.occurred_at)));
        }
    }
    if persons.is_empty() {
        let entries = entries
            .iter()
            .map(|(org, event)| (*org, Cow::Borrowed(*event)))
            .collect();
        return Ok((entries, HashMap::new()));
    }
    let keys = keys_in(txn, holder, &persons, &known_new).await?;
    let sealed = entries
        .iter()
        .map(|(org, event)| {
            let Some(key) = event
                .person()
                .as_ref()
                .and_then(person_of)
                .and_then(|person| keys.get(&person))
                .filter(|_| matches!(event.profile(), Some(PersonalProfile::Open(_))))
            else {
                return Ok((*org, Cow::Borrowed(*event)));
            };
            let mut sealed = (*event).clone();
            sealed.seal_with(key).map_err(sealing_failed)?;
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

/// Deletes the user's data key inside the delete's transaction: every
/// sealed copy of its values (journal, bus, dead letters, backups taken
/// later) is erased with it.
pub(super) async fn delete_person_key(
    txn: &DatabaseTransaction,
    org: OrgId,
    user: ResourceId,
) -> Result<(), StoreError> {
    txn.execute(
        Query::delete()
            .from_table(Keys::Table)
            .and_where(Expr::col(Keys::OrgId).eq(org.0))
            .and_where(Expr::col(Keys::UserId).eq(user.0)),
    )
    .await
    .map_err(db_error)?;
    Ok(())
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
