//! Bulk (RFC 7644 §3.7): many operations in one request, each run through
//! the same use case as the single request it stands for (so seats, the
//! journal's entry and event per write, the turns on a resource and the
//! write limits all hold per operation).
//!
//! Order: an operation runs once every `bulkId` it refers to has been
//! settled (created, or failed); otherwise in request order. Consecutive
//! creates that are ready together form a wave: its user creates run
//! set-based (`creates`), its group creates concurrently (at most
//! `bulk_concurrency` at once); every other operation runs alone, in
//! order, and with `failOnErrors` all run one at a time, so that nothing
//! after the error that stops the request has been applied.
//!
//! Circular references (§3.7.1): when nothing is ready and a group create
//! waits only for members, it is created without them and the members are
//! added by a PATCH once their operations settled. Anything else still
//! waiting fails with 409.

mod creates;

use creates::operation_span;
use std::collections::{HashMap, HashSet};

use futures_util::stream::{self, StreamExt};
use scim_protocol::bulk::{BULK_ID_PREFIX, BulkMethod, BulkOperation, BulkRequest};
use scim_protocol::schema::PATCH_OP_URN;
use serde_json::{Value, json};
use tracing::Instrument;

use super::super::errors::{BulkError, BulkOperationError};
use super::super::models::{ResourceKind, StoredResource, Tenant};
use super::super::ports::{Clock, CredentialStore, GroupStore, UserStore};
use super::{Precondition, ScimView};

/// One operation with its precondition (`version` read by the adapter).
#[derive(Debug, Clone)]
pub struct BulkStep {
    pub operation: BulkOperation,
    pub precondition: Precondition,
}

#[derive(Debug, Clone)]
pub struct BulkJob {
    pub fail_on_errors: Option<usize>,
    pub steps: Vec<BulkStep>,
}

/// What an operation wrote.
#[derive(Debug, Clone)]
pub enum BulkWritten {
    Created(StoredResource),
    Replaced(StoredResource),
    Patched(StoredResource),
    Deleted,
}

/// The result of one attempted operation, by its index in the request.
#[derive(Debug)]
pub struct BulkOutcome {
    pub index: usize,
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// The resource type its path names, when it names one.
    pub kind: Option<ResourceKind>,
    /// The resource's id (after `bulkId` resolution), when the path names one.
    pub resource_id: Option<String>,
    pub result: Result<BulkWritten, BulkOperationError>,
}

/// `/Users`, `/Groups/{id}`: what an operation's path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Collection(ResourceKind),
    Resource(ResourceKind, String),
}

fn target(path: &str) -> Option<Target> {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let kind = match segments.next()? {
        "Users" => ResourceKind::User,
        "Groups" => ResourceKind::Group,
        _ => return None,
    };
    match (segments.next(), segments.next()) {
        (None, _) => Some(Target::Collection(kind)),
        (Some(id), None) if !id.is_empty() => Some(Target::Resource(kind, id.to_owned())),
        _ => None,
    }
}

/// An operation waiting for its turn.
struct Pending {
    index: usize,
    step: BulkStep,
    references: Vec<String>,
    /// A group created without the members it waited for: they are added
    /// by a PATCH once settled; the group as created meanwhile.
    deferred: Option<DeferredMembers>,
}

struct DeferredMembers {
    group: StoredResource,
    member_bulk_ids: Vec<String>,
}

/// The bookkeeping of one bulk request's run.
struct Run {
    /// bulkId → the id of the resource its operation created.
    created: HashMap<String, String>,
    failed: HashSet<String>,
    defined: HashSet<String>,
    outcomes: Vec<BulkOutcome>,
    errors: usize,
    fail_on_errors: Option<usize>,
}

impl Run {
    fn stopped(&self) -> bool {
        self.fail_on_errors.is_some_and(|n| self.errors >= n)
    }

    /// Not settled yet: defined by an operation that has not run.
    fn waits_for(&self, bulk_id: &str) -> bool {
        self.defined.contains(bulk_id)
            && !self.created.contains_key(bulk_id)
            && !self.failed.contains(bulk_id)
    }

    fn ready(&self, pending: &Pending) -> bool {
        let references = match &pending.deferred {
            Some(deferred) => &deferred.member_bulk_ids,
            None => &pending.references,
        };
        !references.iter().any(|id| self.waits_for(id))
    }

    fn record(&mut self, outcome: BulkOutcome) {
        match (&outcome.result, &outcome.bulk_id) {
            (Ok(BulkWritten::Created(resource)), Some(id)) => {
                self.created.insert(id.clone(), resource.id.to_string());
            }
            (Err(_), Some(id)) => {
                self.failed.insert(id.clone());
            }
            _ => {}
        }
        if outcome.result.is_err() {
            self.errors += 1;
        }
        self.outcomes.push(outcome);
    }

    /// Why an operation cannot run with these references, if it cannot.
    fn unresolvable(&self, references: &[String]) -> Option<BulkOperationError> {
        if references.iter().any(|id| !self.defined.contains(id)) {
            return Some(BulkOperationError::UnknownBulkId);
        }
        if references.iter().any(|id| self.failed.contains(id)) {
            return Some(BulkOperationError::FailedBulkId);
        }
        None
    }
}

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    /// The request, read and bounded: more operations than
    /// `bulk_max_operations` is refused before they are looked at.
    pub fn bulk_request(&self, body: Value) -> Result<BulkRequest, BulkError> {
        let max = self.limits.bulk_max_operations;
        if BulkRequest::operation_count(&body) > max {
            return Err(BulkError::TooManyOperations { max });
        }
        Ok(BulkRequest::from_json(body)?)
    }

    /// Runs a bulk job; the outcomes of the operations attempted, in
    /// request order. After `fail_on_errors` failures nothing more runs.
    pub async fn run_bulk(&self, tenant: &Tenant, job: BulkJob) -> Vec<BulkOutcome> {
        let defined = job
            .steps
            .iter()
            .filter_map(|s| s.operation.bulk_id.clone())
            .collect();
        let mut run = Run {
            created: HashMap::new(),
            failed: HashSet::new(),
            defined,
            outcomes: Vec::with_capacity(job.steps.len()),
            errors: 0,
            fail_on_errors: job.fail_on_errors,
        };
        let mut pending: Vec<Pending> = job
            .steps
            .into_iter()
            .enumerate()
            .map(|(index, step)| Pending {
                index,
                references: step.operation.references(),
                step,
                deferred: None,
            })
            .collect();
        while !pending.is_empty() && !run.stopped() {
            let before = pending.len();
            pending = self.run_ready(tenant, &mut run, pending).await;
            if pending.len() < before || run.stopped() {
                continue;
            }
            // Nothing could run: every operation left waits for another.
            match pending.iter().position(|p| can_defer_members(p, &run)) {
                Some(at) => {
                    let mut group = pending.remove(at);
                    if let Some(outcome) =
                        self.create_without_members(tenant, &run, &mut group).await
                    {
                        run.record(outcome);
                    } else {
                        if let (Some(id), Some(deferred)) =
                            (&group.step.operation.bulk_id, &group.deferred)
                        {
                            run.created
                                .insert(id.clone(), deferred.group.id.to_string());
                        }
                        pending.insert(at, group);
                    }
                }
                None => {
                    for left in std::mem::take(&mut pending) {
                        if run.stopped() {
                            pending.push(left);
                        } else {
                            run.record(unrun(left, BulkOperationError::CircularReference));
                        }
                    }
                }
            }
        }
        // A group created without its members and stopped before they were
        // added was written: it is reported as created.
        for left in pending {
            if let Some(deferred) = left.deferred {
                run.record(outcome_of(
                    &left.step.operation,
                    left.index,
                    Some(deferred.group.id.to_string()),
                    Ok(BulkWritten::Created(deferred.group)),
                ));
            }
        }
        run.outcomes.sort_by_key(|o| o.index);
        run.outcomes
    }

    /// One pass over the waiting operations in request order: each ready one
    /// runs (consecutive ready creates together, when no `failOnErrors`
    /// asks for one at a time). Returns those still waiting.
    async fn run_ready(
        &self,
        tenant: &Tenant,
        run: &mut Run,
        pending: Vec<Pending>,
    ) -> Vec<Pending> {
        let mut waiting = Vec::new();
        let mut creates: Vec<Pending> = Vec::new();
        let mut names = HashSet::new();
        let one_at_a_time = run.fail_on_errors.is_some();
        for next in pending {
            if run.stopped() {
                waiting.push(next);
                continue;
            }
            if !run.ready(&next) {
                waiting.push(next);
                continue;
            }
            let concurrent = !one_at_a_time
                && next.deferred.is_none()
                && next.step.operation.method == BulkMethod::Post;
            if concurrent {
                // Two creates of one name keep their order: the first wins.
                if let Some(name) = unique_name(&next.step.operation)
                    && !names.insert(name.clone())
                {
                    self.run_creates(tenant, run, std::mem::take(&mut creates))
                        .await;
                    names.clear();
                    names.insert(name);
                }
                creates.push(next);
                continue;
            }
            self.run_creates(tenant, run, std::mem::take(&mut creates))
                .await;
            names.clear();
            if run.stopped() {
                waiting.push(next);
                continue;
            }
            let outcome = self.run_one(tenant, run, next).await;
            run.record(outcome);
        }
        self.run_creates(tenant, run, creates).await;
        waiting
    }

    async fn run_creates(&self, tenant: &Tenant, run: &mut Run, creates: Vec<Pending>) {
        if creates.is_empty() {
            return;
        }
        // User creates run set-based (`creates`), the others each through
        // its use case, `bulk_concurrency` at once.
        let (users, others): (Vec<Pending>, Vec<Pending>) = creates.into_iter().partition(|p| {
            target(&p.step.operation.path) == Some(Target::Collection(ResourceKind::User))
        });
        let shared: &Run = run;
        let one_by_one = stream::iter(others)
            .map(|p| self.run_one(tenant, shared, p))
            .buffer_unordered(self.limits.bulk_concurrency.max(1))
            .collect::<Vec<BulkOutcome>>();
        let (mut outcomes, wave) =
            futures_util::join!(one_by_one, self.run_user_wave(tenant, shared, users));
        outcomes.extend(wave);
        for outcome in outcomes {
            run.record(outcome);
        }
    }

    /// One operation, its references resolved, in its own span.
    async fn run_one(&self, tenant: &Tenant, run: &Run, pending: Pending) -> BulkOutcome {
        let Pending {
            index,
            step,
            references,
            deferred,
        } = pending;
        let BulkStep {
            operation,
            precondition,
        } = step;
        let BulkOperation {
            method,
            bulk_id,
            path,
            data,
            ..
        } = operation;
        let target = target(&scim_protocol::bulk::substitute_path(&path, &run.created));
        let (kind, resource_id) = match &target {
            Some(Target::Collection(kind)) => (Some(*kind), None),
            Some(Target::Resource(kind, id)) => (Some(*kind), Some(id.clone())),
            None => (None, None),
        };
        let span = operation_span(index, method, kind);
        let result = async {
            if let Some(deferred) = deferred {
                return self.add_deferred_members(tenant, run, deferred).await;
            }
            if let Some(refused) = run.unresolvable(&references) {
                return Err(refused);
            }
            let mut data = data.unwrap_or(Value::Null);
            if !references.is_empty() {
                scim_protocol::bulk::substitute_references(&mut data, &run.created);
            }
            self.write(tenant, method, target, data, &precondition)
                .await
        }
        .instrument(span.clone())
        .await;
        span.record("succeeded", result.is_ok());
        let resource_id = match &result {
            Ok(BulkWritten::Created(created)) => Some(created.id.to_string()),
            _ => resource_id,
        };
        BulkOutcome {
            index,
            method,
            bulk_id,
            kind,
            resource_id,
            result,
        }
    }

    /// The single request's use case for this method and path.
    async fn write(
        &self,
        tenant: &Tenant,
        method: BulkMethod,
        target: Option<Target>,
        data: Value,
        precondition: &Precondition,
    ) -> Result<BulkWritten, BulkOperationError> {
        use BulkMethod::{Delete, Patch, Post, Put};
        use ResourceKind::{Group, User};
        let Some(target) = target else {
            return Err(BulkOperationError::NoRoute);
        };
        Ok(match (method, target) {
            (Post, Target::Collection(User)) => {
                BulkWritten::Created(self.create_user(tenant, data).await?)
            }
            (Post, Target::Collection(Group)) => {
                BulkWritten::Created(self.create_group(tenant, data).await?.group)
            }
            (Put, Target::Resource(User, id)) => {
                BulkWritten::Replaced(self.replace_user(tenant, &id, data, precondition).await?)
            }
            (Put, Target::Resource(Group, id)) => {
                BulkWritten::Replaced(self.replace_group(tenant, &id, data, precondition).await?)
            }
            (Patch, Target::Resource(User, id)) => {
                BulkWritten::Patched(self.patch_user(tenant, &id, data, precondition).await?)
            }
            (Patch, Target::Resource(Group, id)) => {
                BulkWritten::Patched(self.patch_group(tenant, &id, data, precondition).await?)
            }
            (Delete, Target::Resource(User, id)) => {
                self.delete_user(tenant, &id, precondition).await?;
                BulkWritten::Deleted
            }
            (Delete, Target::Resource(Group, id)) => {
                self.delete_group(tenant, &id, precondition).await?;
                BulkWritten::Deleted
            }
            _ => return Err(BulkOperationError::MethodNotAllowed),
        })
    }

    /// Breaks a cycle: the group created with the members that are already
    /// known, the others deferred. `None` when created (the deferral is in
    /// `group.deferred`), else the failed outcome.
    async fn create_without_members(
        &self,
        tenant: &Tenant,
        run: &Run,
        group: &mut Pending,
    ) -> Option<BulkOutcome> {
        let mut data = group.step.operation.data.clone().unwrap_or(Value::Null);
        let waiting: Vec<String> = group
            .references
            .iter()
            .filter(|id| run.waits_for(id))
            .cloned()
            .collect();
        if let Some(members) = data.get_mut("members").and_then(Value::as_array_mut) {
            members.retain(|m| {
                !m.get("value")
                    .and_then(Value::as_str)
                    .and_then(|v| v.strip_prefix(BULK_ID_PREFIX))
                    .is_some_and(|id| waiting.iter().any(|w| w == id))
            });
        }
        let placeholder = Pending {
            index: group.index,
            step: BulkStep {
                operation: BulkOperation {
                    data: Some(data),
                    ..group.step.operation.clone()
                },
                precondition: Precondition::Any,
            },
            references: group
                .references
                .iter()
                .filter(|id| !waiting.contains(id))
                .cloned()
                .collect(),
            deferred: None,
        };
        let outcome = self.run_one(tenant, run, placeholder).await;
        match outcome.result {
            Ok(BulkWritten::Created(created)) => {
                group.deferred = Some(DeferredMembers {
                    group: created,
                    member_bulk_ids: waiting,
                });
                None
            }
            _ => Some(outcome),
        }
    }

    /// The members a group was created without, added once their creates
    /// settled; the group's outcome is this PATCH's.
    async fn add_deferred_members(
        &self,
        tenant: &Tenant,
        run: &Run,
        deferred: DeferredMembers,
    ) -> Result<BulkWritten, BulkOperationError> {
        if let Some(refused) = run.unresolvable(&deferred.member_bulk_ids) {
            return Err(refused);
        }
        let members: Vec<Value> = deferred
            .member_bulk_ids
            .iter()
            .filter_map(|id| run.created.get(id))
            .map(|id| json!({ "value": id }))
            .collect();
        let patch = json!({
            "schemas": [PATCH_OP_URN],
            "Operations": [{"op": "add", "path": "members", "value": members}],
        });
        let id = deferred.group.id.to_string();
        let group = self
            .patch_group(tenant, &id, patch, &Precondition::Any)
            .await?;
        Ok(BulkWritten::Created(group))
    }
}

/// A group create whose every waiting reference is one of its members (so
/// it can be created without them and have them added later).
fn can_defer_members(pending: &Pending, run: &Run) -> bool {
    let operation = &pending.step.operation;
    if pending.deferred.is_some()
        || operation.method != BulkMethod::Post
        || target(&operation.path) != Some(Target::Collection(ResourceKind::Group))
    {
        return false;
    }
    let Some(data) = &operation.data else {
        return false;
    };
    let mut member_references = HashSet::new();
    if let Some(members) = data.get("members").and_then(Value::as_array) {
        for member in members {
            if let Some(id) = member
                .get("value")
                .and_then(Value::as_str)
                .and_then(|v| v.strip_prefix(BULK_ID_PREFIX))
            {
                member_references.insert(id);
            }
        }
    }
    let mut waiting = pending.references.iter().filter(|id| run.waits_for(id));
    let mut any = false;
    let only_members = waiting.all(|id| {
        any = true;
        member_references.contains(id.as_str())
    });
    any && only_members
}

/// What a create must not share with another one running beside it: the
/// user's `userName`, the group's `displayName` (case-insensitively).
fn unique_name(operation: &BulkOperation) -> Option<(ResourceKind, String)> {
    let (kind, attribute) = match target(&operation.path)? {
        Target::Collection(ResourceKind::User) => (ResourceKind::User, "userName"),
        Target::Collection(ResourceKind::Group) => (ResourceKind::Group, "displayName"),
        Target::Resource(..) => return None,
    };
    let name = operation
        .data
        .as_ref()?
        .as_object()?
        .iter()
        .find_map(|(k, v)| {
            k.eq_ignore_ascii_case(attribute)
                .then(|| v.as_str())
                .flatten()
        })?;
    Some((kind, name.to_lowercase()))
}

fn unrun(pending: Pending, error: BulkOperationError) -> BulkOutcome {
    outcome_of(&pending.step.operation, pending.index, None, Err(error))
}

fn outcome_of(
    operation: &BulkOperation,
    index: usize,
    resource_id: Option<String>,
    result: Result<BulkWritten, BulkOperationError>,
) -> BulkOutcome {
    let kind = match target(&operation.path) {
        Some(Target::Collection(kind) | Target::Resource(kind, _)) => Some(kind),
        None => None,
    };
    BulkOutcome {
        index,
        method: operation.method,
        bulk_id: operation.bulk_id.clone(),
        kind,
        resource_id,
        result,
    }
}
