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
use std::sync::Arc;

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
}

impl KeyHolder {
    pub(super) fn new(ring: KeyRing) -> Self {
        Self {
            ring: Some(Arc::new(ring)),
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
    ring: &KeyRing,
    persons: &[(Person, i64)],
    known_new: &HashSet<Person>,
) -> Result<HashMap<Person, DataKey>, StoreError> {
    let looked_up: Vec<Person> = persons
        .iter()
        .map(|(person, _)| *person)
        .filter(|person| !known_new.contains(person))
        .collect();
    let mut keys = HashMap::with_capacity(persons.len());
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

/// The entries as the journal stores them: every open profile sealed under
/// its person's data key (made when the person has none yet). Entries
/// without an open profile are passed through untouched.
pub(super) async fn seal_entries<'e>(
    txn: &DatabaseTransaction,
    holder: &KeyHolder,
    entries: &[(OrgId, &'e Event)],
) -> Result<Vec<(OrgId, Cow<'e, Event>)>, StoreError> {
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
        return Ok(entries
            .iter()
            .map(|(org, event)| (*org, Cow::Borrowed(*event)))
            .collect());
    }
    let keys = keys_in(txn, holder.ring()?, &persons, &known_new).await?;
    entries
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
        .collect()
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
