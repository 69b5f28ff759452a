//! A Bulk wave of user creates, set-based. The user creates of one bulk that
//! are ready together (nothing they refer to still waits) are checked for
//! taken userNames in one read, then ask for their seats and are written by
//! stretches of [`STRETCH`] creates (`SeatAuthority::reserve_all`,
//! `UserStore::insert_users`) — a stretch's seats decided while the stretch
//! before it is written — instead of each running `create_user` on its own
//! and meeting the others in the store's and the seat authority's batchers.
//!
//! Each operation's outcome is the one its create alone, in request order,
//! would have had: an invalid document is its own 400; a taken userName is
//! 409 before any seat is asked for it; seats go to the creates in request
//! order (403 past the quota); a uniqueness the write still meets (another
//! request took the name meanwhile) is that create's own 409. A userName that
//! comes twice in a wave (the bulk runner splits waves there, so only a
//! direct caller) has its later creates run one at a time after the wave.
//! Every operation keeps its own span, and its events carry it.

use std::collections::HashSet;

use provisioning_events::{Event, seats};
use serde_json::Value;
use tracing::{Instrument, Span};

use super::super::super::errors::ScimViewError;
use super::super::super::models::{OrgId, ResourceKind, StoredResource, Tenant};
use super::super::super::ports::{Clock, CredentialStore, GroupStore, StoreError, UserStore};
use super::super::super::rules;
use super::super::ScimView;
use super::{BulkOutcome, BulkWritten, Pending, Run, outcome_of};
use scim_protocol::bulk::BulkMethod;

/// Creates of a wave whose seats are asked for in one request and which are
/// written together: licensing's most requests a message
/// (`seats::MAX_SEAT_REQUESTS_PER_MESSAGE`), and the store's most creates a
/// transaction.
const STRETCH: usize = 256;

/// One create of a wave: its body and the span of its operation.
struct WaveCreate {
    body: Value,
    span: Span,
}

/// Where one create of the wave stands.
struct Slot {
    document: Option<Value>,
    seat_key: Option<String>,
    result: Option<Result<StoredResource, ScimViewError>>,
    span: Span,
}

impl Slot {
    fn fail(&mut self, error: ScimViewError) {
        self.document = None;
        self.result = Some(Err(error));
    }
}

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    /// The plain user creates of one wave (`POST /Users`, in request
    /// order), their references resolved, run together: their outcomes.
    pub(super) async fn run_user_wave(
        &self,
        tenant: &Tenant,
        run: &Run,
        creates: Vec<Pending>,
    ) -> Vec<BulkOutcome> {
        let mut outcomes = Vec::new();
        let mut wave = Vec::with_capacity(creates.len());
        let mut operations = Vec::with_capacity(creates.len());
        for pending in creates {
            let operation = pending.step.operation;
            let span = operation_span(pending.index, operation.method, Some(ResourceKind::User));
            if let Some(refused) = run.unresolvable(&pending.references) {
                span.record("succeeded", false);
                outcomes.push(outcome_of(&operation, pending.index, None, Err(refused)));
                continue;
            }
            let mut body = operation.data.unwrap_or(Value::Null);
            if !pending.references.is_empty() {
                scim_protocol::bulk::substitute_references(&mut body, &run.created);
            }
            wave.push(WaveCreate {
                body,
                span: span.clone(),
            });
            operations.push((pending.index, operation.bulk_id, span));
        }
        let results = self.create_user_wave(tenant, wave).await;
        for ((index, bulk_id, span), result) in operations.into_iter().zip(results) {
            span.record("succeeded", result.is_ok());
            outcomes.push(BulkOutcome {
                index,
                method: BulkMethod::Post,
                bulk_id,
                kind: Some(ResourceKind::User),
                resource_id: result.as_ref().ok().map(|user| user.id.to_string()),
                result: result.map(BulkWritten::Created).map_err(Into::into),
            });
        }
        outcomes
    }

    /// Creates these users of `tenant`'s organization together: each one's
    /// answer, in order (see the module's comment).
    async fn create_user_wave(
        &self,
        tenant: &Tenant,
        creates: Vec<WaveCreate>,
    ) -> Vec<Result<StoredResource, ScimViewError>> {
        let org = tenant.org;
        let mut slots: Vec<Slot> = creates
            .into_iter()
            .map(|create| {
                let checked = create.span.in_scope(|| self.user_to_create(create.body));
                let (document, result) = match checked {
                    Ok(document) => (Some(document), None),
                    Err(e) => (None, Some(Err(e))),
                };
                Slot {
                    document,
                    seat_key: None,
                    result,
                    span: create.span,
                }
            })
            .collect();
        let later = later_repeats(&slots);
        let runs_later: HashSet<usize> = later.iter().copied().collect();

        // Taken userNames, for the creates that would take a seat: one read.
        let active: Vec<usize> = (0..slots.len())
            .filter(|&i| !runs_later.contains(&i))
            .filter(|&i| slots[i].document.as_ref().is_some_and(rules::is_active))
            .collect();
        let names: Vec<String> = active
            .iter()
            .map(|&i| user_name(slots[i].document.as_ref()).to_owned())
            .collect();
        match self.store.user_names_taken(org, &names).await {
            Ok(taken) => {
                for (&i, taken) in active.iter().zip(taken) {
                    if taken {
                        slots[i].fail(ScimViewError::UserNameTaken);
                    }
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for &i in &active {
                    let error = StoreError::Unavailable(anyhow::anyhow!("{reason}"));
                    slots[i].fail(ScimViewError::from_store(ResourceKind::User, error));
                }
            }
        }

        // Seats and writes by stretches of the wave, in request order: a
        // stretch's seats are decided while the stretch before it is being
        // written (licensing's database and the gateway's at work at once).
        let asking: Vec<(usize, String)> = active
            .into_iter()
            .filter(|&i| slots[i].document.is_some())
            .map(|i| {
                let name = user_name(slots[i].document.as_ref());
                (i, seats::new_user_key(&self.seat_keys, org.0, name))
            })
            .collect();
        let mut asking = asking.into_iter().peekable();
        let mut writing = None;
        for start in (0..slots.len()).step_by(STRETCH) {
            let end = (start + STRETCH).min(slots.len());
            let mut stretch = Vec::new();
            while let Some(ask) = asking.next_if(|(i, _)| *i < end) {
                stretch.push(ask);
            }
            let keys: Vec<String> = stretch.iter().map(|(_, key)| key.clone()).collect();
            // The seats travel together: their message continues the first's trace.
            let first_span = stretch
                .first()
                .map_or_else(Span::current, |(i, _)| slots[*i].span.clone());
            let seats = self.reserve_seats(org, &keys).instrument(first_span);
            let previous = async {
                match writing.take() {
                    Some(write) => Some(write.await),
                    None => None,
                }
            };
            let (decisions, previous) = futures_util::join!(seats, previous);
            if let Some(done) = previous {
                record_written(&mut slots, done);
            }
            for ((i, key), decision) in stretch.into_iter().zip(decisions) {
                match decision {
                    Ok(()) => slots[i].seat_key = Some(key),
                    Err(e) => slots[i].fail(e),
                }
            }
            // Each create's events carry its operation's span.
            let mut written = Vec::new();
            let mut users = Vec::new();
            for (i, slot) in slots.iter_mut().enumerate().take(end).skip(start) {
                if runs_later.contains(&i) {
                    continue;
                }
                let Some(document) = slot.document.take() else {
                    continue;
                };
                let bodies = rules::user_created(tenant, &document, slot.seat_key.take());
                let (user, mut events) =
                    self.first_version(tenant, ResourceKind::User, document, bodies);
                let traceparent = trace_context::traceparent_of(&slot.span);
                for event in &mut events {
                    event.traceparent = traceparent.clone();
                }
                written.push(i);
                users.push((user, events));
            }
            writing = Some(self.write_stretch(org, written, users));
        }
        if let Some(write) = writing {
            record_written(&mut slots, write.await);
        }

        // A userName's later creates, each after the one before it.
        for i in later {
            if let Some(document) = slots[i].document.take() {
                let span = slots[i].span.clone();
                let result = self
                    .create_user_document(tenant, document)
                    .instrument(span)
                    .await;
                slots[i].result = Some(result);
            }
        }
        slots
            .into_iter()
            .map(|slot| {
                slot.result.unwrap_or_else(|| {
                    Err(ScimViewError::from_store(
                        ResourceKind::User,
                        StoreError::Unavailable(anyhow::anyhow!(
                            "a create of the wave was not written"
                        )),
                    ))
                })
            })
            .collect()
    }

    async fn write_stretch(
        &self,
        org: OrgId,
        written: Vec<usize>,
        users: Vec<(StoredResource, Vec<Event>)>,
    ) -> StretchWritten {
        let stored = if users.is_empty() {
            Vec::new()
        } else {
            self.store.insert_users(org, &users).await
        };
        StretchWritten {
            written,
            users: users.into_iter().map(|(user, _)| user).collect(),
            stored,
        }
    }
}

/// A stretch of a wave's creates written together.
struct StretchWritten {
    /// The slots written, in order, with their users.
    written: Vec<usize>,
    users: Vec<StoredResource>,
    stored: Vec<Result<(), StoreError>>,
}

fn record_written(slots: &mut [Slot], done: StretchWritten) {
    for ((i, user), result) in done.written.into_iter().zip(done.users).zip(done.stored) {
        slots[i].result = Some(
            result
                .map(|()| user)
                .map_err(|e| ScimViewError::from_store(ResourceKind::User, e)),
        );
    }
}

/// An operation's own span; `succeeded` is recorded once it ran.
pub(super) fn operation_span(index: usize, method: BulkMethod, kind: Option<ResourceKind>) -> Span {
    tracing::info_span!(
        "bulk operation",
        bulk.index = index,
        bulk.method = method.as_str(),
        scim.resource = kind.map(ResourceKind::as_str),
        succeeded = tracing::field::Empty,
    )
}

fn user_name(document: Option<&Value>) -> &str {
    document
        .and_then(|d| d.get("userName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The creates whose userName (case-insensitively) an earlier create of
/// the wave has: they run after the wave, one at a time.
fn later_repeats(slots: &[Slot]) -> Vec<usize> {
    let mut seen = HashSet::new();
    slots
        .iter()
        .enumerate()
        .filter(|(_, slot)| slot.document.is_some())
        .filter(|(_, slot)| !seen.insert(user_name(slot.document.as_ref()).to_lowercase()))
        .map(|(i, _)| i)
        .collect()
}
