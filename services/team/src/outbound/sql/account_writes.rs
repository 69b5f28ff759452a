//! The account map's writes of a transaction, held until it is about to
//! commit and then written as multi-row upserts: a batch of user events
//! costs a few statements instead of one per user.
//!
//! Two writes to one user compose as their upserts would in event order
//! (last wins per column), so each user has one row in the flush — which
//! PostgreSQL requires: an `INSERT … ON CONFLICT DO UPDATE` may not touch
//! one row twice. Reads of account states inside the transaction see the
//! held writes through [`AccountWrites::overlay`].

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{OnConflict, Query};
use uuid::Uuid;

use super::tables::UserAccounts;
use crate::domain::models::{AccountState, OrgId};
use crate::domain::ports::StoreError;

/// A user's row as the held writes leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeldAccount {
    /// `Some` once a `LinkAccount` named the account: the upsert sets it.
    /// `None`: only the state changes (a new row has no account yet).
    account_id: Option<Uuid>,
    state: AccountState,
}

/// The account-map writes held by one transaction, keyed by (organization,
/// SCIM user): in key order, so concurrent transactions upsert rows in one
/// order.
#[derive(Debug, Default)]
pub(super) struct AccountWrites {
    held: BTreeMap<(Uuid, String), HeldAccount>,
}

impl AccountWrites {
    /// Holds an upsert of `scim_user_id`'s row: its account (when given)
    /// and state, composed with what is already held for the user.
    pub(super) fn hold(
        &mut self,
        org: OrgId,
        scim_user_id: String,
        account_id: Option<Uuid>,
        state: AccountState,
    ) {
        let held = self
            .held
            .entry((org.0, scim_user_id))
            .or_insert(HeldAccount { account_id, state });
        held.state = state;
        if account_id.is_some() {
            held.account_id = account_id;
        }
    }

    /// The state a held write gives `scim_user_id`, if any: it overrides
    /// what the database still holds.
    pub(super) fn overlay(&self, org: OrgId, scim_user_id: &str) -> Option<AccountState> {
        self.held
            .get(&(org.0, scim_user_id.to_owned()))
            .map(|held| held.state)
    }

    /// Writes every held row, in chunks of at most
    /// [`service_kit::db::MAX_INSERT_ROWS`], and forgets them.
    pub(super) async fn flush<C: ConnectionTrait>(&mut self, txn: &C) -> Result<(), StoreError> {
        let held = std::mem::take(&mut self.held);
        let (linked, states): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|(_, held)| held.account_id.is_some());
        upsert(txn, &linked, true).await?;
        upsert(txn, &states, false).await
    }
}

/// One multi-row upsert per chunk of `rows`; with `set_account`, the
/// account id is written too (a `LinkAccount`), else only the state.
async fn upsert<C: ConnectionTrait>(
    txn: &C,
    rows: &[((Uuid, String), HeldAccount)],
    set_account: bool,
) -> Result<(), StoreError> {
    let updated: &[UserAccounts] = if set_account {
        &[UserAccounts::AccountId, UserAccounts::State]
    } else {
        &[UserAccounts::State]
    };
    for chunk in service_kit::db::pow2_chunks(rows) {
        let mut insert = Query::insert();
        insert
            .into_table(UserAccounts::Table)
            .columns([
                UserAccounts::OrgId,
                UserAccounts::ScimUserId,
                UserAccounts::AccountId,
                UserAccounts::State,
            ])
            .on_conflict(
                OnConflict::columns([UserAccounts::OrgId, UserAccounts::ScimUserId])
                    .update_columns(updated.iter().copied())
                    .to_owned(),
            );
        for ((org, scim_user_id), held) in chunk {
            insert.values_panic([
                (*org).into(),
                scim_user_id.clone().into(),
                held.account_id.into(),
                held.state.as_str().into(),
            ]);
        }
        txn.execute(&insert)
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ORG: OrgId = OrgId(Uuid::from_u128(1));

    fn link(writes: &mut AccountWrites, user: &str, account: u128) {
        writes.hold(
            ORG,
            user.into(),
            Some(Uuid::from_u128(account)),
            AccountState::Active,
        );
    }

    fn set(writes: &mut AccountWrites, user: &str, state: AccountState) {
        writes.hold(ORG, user.into(), None, state);
    }

    fn held(writes: &AccountWrites, user: &str) -> Option<HeldAccount> {
        writes.held.get(&(ORG.0, user.to_owned())).copied()
    }

    #[test]
    fn writes_to_one_user_compose_in_event_order() {
        let mut writes = AccountWrites::default();
        // Linked, then deactivated: the account stays, the state is the last.
        link(&mut writes, "u1", 7);
        set(&mut writes, "u1", AccountState::Anonymized);
        // Deleted before its first link is applied, then re-linked.
        set(&mut writes, "u2", AccountState::Deleted);
        link(&mut writes, "u2", 9);
        // Only states: the upsert leaves the account id alone.
        set(&mut writes, "u3", AccountState::Anonymized);
        set(&mut writes, "u3", AccountState::Deleted);
        // Linked twice (reactivated): the last account.
        link(&mut writes, "u4", 1);
        link(&mut writes, "u4", 2);
        let expect = |account_id: Option<u128>, state| {
            Some(HeldAccount {
                account_id: account_id.map(Uuid::from_u128),
                state,
            })
        };
        assert_eq!(
            held(&writes, "u1"),
            expect(Some(7), AccountState::Anonymized)
        );
        assert_eq!(held(&writes, "u2"), expect(Some(9), AccountState::Active));
        assert_eq!(held(&writes, "u3"), expect(None, AccountState::Deleted));
        assert_eq!(held(&writes, "u4"), expect(Some(2), AccountState::Active));
        assert_eq!(writes.overlay(ORG, "u3"), Some(AccountState::Deleted));
        assert_eq!(writes.overlay(ORG, "u5"), None);
        assert_eq!(writes.overlay(OrgId(Uuid::from_u128(2)), "u3"), None);
    }
}
